"""The WebSocket endpoint's base protocol and its limits: every hostile
input closes (or errors) that one socket with the documented code while
other sessions carry on, and /metrics counts open sockets."""

import json
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MAX = 4096  # limits.ws_message_max used here


class WebSocketTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.sb = harness.Switchboard(
            cls.pg, cls.redis, dbname=cls.pg.createdb(), overrides=
            {"limits": {"ws_message_max": MAX,
                        # the rate limit is LimitsTest's
                        "ws_messages_per_minute": 10000000,
                        # and the idle timeout too
                        "ws_idle_timeout": 3600},
             "allowed_origins": ["https://www.demo.gov.uk"]})
        cls.sb.wait_ready()
        cls.origin = "https://www.demo.gov.uk"

    def open(self):
        ws = self.sb.websocket(origin=self.origin)
        self.addCleanup(ws.close)
        op, hello = ws.recv_message()
        self.assertEqual(op, 1)
        msg = json.loads(hello)
        self.assertEqual(msg["type"], "hello")
        self.assertEqual(msg["protocol"], "switchboard.v1")
        return ws

    def request(self, ws, obj_or_text):
        ws.send_text(obj_or_text if isinstance(obj_or_text, str)
                     else json.dumps(obj_or_text))
        op, payload = ws.recv_message()
        self.assertEqual(op, 1, payload)
        return json.loads(payload)

    def assert_still_works(self, ws):
        self.assertEqual(self.request(ws, {"type": "ping", "id": "alive"}),
                         {"type": "pong", "id": "alive"})

    def test_ping_pong(self):
        ws = self.open()
        self.assertEqual(self.request(ws, {"type": "ping", "id": 7}),
                         {"type": "pong", "id": 7})
        self.assertEqual(self.request(ws, {"type": "ping"}),
                         {"type": "pong"})
        self.assertEqual(ws.protocol, "switchboard.v1")

    def test_errors_keep_the_socket(self):
        ws = self.open()
        for text, code in (("garbage", "bad_json"),
                           ("[1, 2]", "bad_json"),
                           ('{"type": 5}', "bad_message"),
                           ('{"no": "type"}', "bad_message"),
                           ('{"type": "ping", "type": "x"}', "bad_json"),
                           ('{"type": "teleport"}', "unknown_type"),
                           ("[" * 5000, None)):
            if code is None:
                break  # oversize: tested on its own below
            reply = self.request(ws, text)
            self.assertEqual(reply["type"], "error", text)
            self.assertEqual(reply["code"], code, text)
            self.assertTrue(reply["message"])
        self.assert_still_works(ws)

    # A client that does not read what it is sent is closed 1008 with its
    # neighbours untouched: test_hostile.py, NonReaderTest (pongs no longer
    # fill a queue: their ids are at most 128 bytes).

    def test_oversize_closes_1009(self):
        bystander = self.open()
        ws = self.open()
        ws.send_text('{"type":"ping","pad":"%s"}' % ("x" * (MAX + 10)))
        code, _ = ws.recv_close()
        self.assertEqual(code, 1009)
        self.assert_still_works(bystander)

    def test_oversize_in_fragments_closes_1009(self):
        ws = self.open()
        chunk = b"x" * 1024
        ws.send_frame(0x1, b'{"type":"ping","pad":"' + chunk, fin=False)
        for _ in range(MAX // 1024 + 1):
            ws.send_frame(0x0, chunk, fin=False)
        code, _ = ws.recv_close()
        self.assertEqual(code, 1009)

    def test_fragmented_message_within_limit(self):
        ws = self.open()
        ws.send_frame(0x1, b'{"type":"pi', fin=False)
        ws.send_frame(0x0, b'ng","id"', fin=False)
        ws.send_frame(0x0, b':3}', fin=True)
        op, payload = ws.recv_message()
        self.assertEqual(json.loads(payload), {"type": "pong", "id": 3})

    def test_invalid_utf8_closes_1007(self):
        bystander = self.open()
        ws = self.open()
        ws.send_frame(0x1, b'{"type":"ping","id":"\xc3\x28"}')
        code, _ = ws.recv_close()
        self.assertEqual(code, 1007)
        self.assert_still_works(bystander)

    def test_binary_closes_1003(self):
        ws = self.open()
        ws.send_frame(0x2, b"\x00\x01\x02")
        code, _ = ws.recv_close()
        self.assertEqual(code, 1003)

    def test_wrong_origin_refused(self):
        for origin in ("https://evil.example",
                       "https://www.demo.gov.uk.evil.example",
                       "https://www.demo.gov.uk/",
                       "http://www.demo.gov.uk",
                       ""):
            with self.assertRaises((harness.WebSocketError, EOFError,
                                    ConnectionError), msg=origin):
                ws = self.sb.websocket(origin=origin)
                ws.recv_message(timeout=2)

    def test_wrong_path_refused(self):
        with self.assertRaises((harness.WebSocketError, EOFError,
                                ConnectionError)):
            ws = self.sb.websocket(path="/elsewhere", origin=self.origin)
            ws.recv_message(timeout=2)

    def test_metrics_count_sockets(self):
        def open_sockets():
            for line in self.sb.get("/metrics").body.decode().splitlines():
                if line.startswith(
                        'switchboard_connections_open{kind="websocket"}'):
                    return int(line.split()[-1])
            self.fail("no websocket gauge")
        base = open_sockets()
        socks = [self.open() for _ in range(3)]
        self.assertEqual(open_sockets(), base + 3)
        for ws in socks:
            ws.send_close()
            ws.recv_close()
            ws.close()
        harness.wait_for(lambda: open_sockets() == base, 5,
                         what="websocket gauge back to %d" % base)


REFUSED = (harness.WebSocketError, OSError, EOFError)


def cap_refused_then_freed(test, open_, cap):
    """Opens cap sockets with open_(); one more is refused while the open
    ones keep working; once one closes, a new one gets in."""
    held = [open_() for _ in range(cap)]
    try:
        with test.assertRaises(REFUSED):
            extra = open_()
            extra.close()
        for ws in held:
            ws.send_text(json.dumps({"type": "ping", "id": 1}))
            op, text = ws.recv_message()
            test.assertEqual(json.loads(text)["type"], "pong")
        held.pop().close()

        def slot_free():
            try:
                ws = open_()
            except REFUSED:
                return False
            held.append(ws)
            return True
        harness.wait_for(slot_free, 10, what="a freed slot")
    finally:
        for ws in held:
            ws.close()


class DaemonWithLimits(harness.TestCase):
    """A daemon started with the class's LIMITS (and CONFIG, more top-level
    settings); open() gives a socket past its hello."""

    LIMITS = {}
    CONFIG = {}

    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        overrides = {"limits": cls.LIMITS,
                     "allowed_origins": ["https://www.demo.gov.uk"]}
        overrides.update(cls.CONFIG)
        cls.sb = harness.Switchboard(
            cls.pg, cls.redis, dbname=cls.pg.createdb(), overrides=overrides)
        cls.sb.wait_ready()

    def open(self):
        ws = self.sb.websocket(origin="https://www.demo.gov.uk")
        op, hello = ws.recv_message()
        self.assertEqual(json.loads(hello)["type"], "hello")
        return ws


class ConnectionCapTest(DaemonWithLimits):
    """limits.max_connections: one connection over the cap is closed at
    once, the open ones keep working, and a slot freed is usable again."""

    CAP = 4
    LIMITS = {"max_connections": CAP}

    def test_over_cap_refused_then_freed(self):
        cap_refused_then_freed(self, self.open, self.CAP)


class LimitsTest(DaemonWithLimits):
    """Per-address socket cap, per-socket message rate and idle timeout:
    each costs only the socket (or the address) that went over it."""

    PER_IP = 3
    PER_MINUTE = 60  # bursts of 10
    IDLE = 2  # seconds: pinged after 2 s, closed 2 s later
    LIMITS = {"ws_per_ip": PER_IP, "ws_messages_per_minute": PER_MINUTE,
              "ws_idle_timeout": IDLE}

    def ping(self, ws, i):
        ws.send_text(json.dumps({"type": "ping", "id": i}))
        op, text = ws.recv_message()
        return json.loads(text)

    def test_per_address_cap(self):
        cap_refused_then_freed(self, self.open, self.PER_IP)

    def test_rate_limited_then_closed(self):
        ws = self.open()
        self.addCleanup(ws.close)
        other = self.open()
        self.addCleanup(other.close)
        # A burst of 10 is taken; the 11th is refused, the socket stays.
        answers = [self.ping(ws, i) for i in range(11)]
        self.assertTrue(all(a["type"] == "pong" for a in answers[:10]),
                        answers)
        self.assertEqual(answers[10]["type"], "error")
        self.assertEqual(answers[10]["code"], "rate_limited")
        # Going on regardless: closed with 1008, the other socket is not.
        for i in range(12):
            try:
                ws.send_text(json.dumps({"type": "ping", "id": i}))
            except OSError:
                break
        code, reason = ws.recv_close()
        self.assertEqual(code, 1008)
        self.assertEqual(self.ping(other, "x")["type"], "pong")

    def test_idle_pinged_answered_kept_silent_closed(self):
        answering = self.open()
        self.addCleanup(answering.close)
        silent = self.open()
        self.addCleanup(silent.close)
        # The server pings a silent socket after the idle timeout.
        fin, opcode, payload = silent.recv_frame(timeout=self.IDLE + 6)
        self.assertEqual(opcode, 0x9)
        # One that answers (recv_message answers pings) stays open past
        # timeout + grace; one that does not is closed with 1001.
        deadline = time.monotonic() + 2 * self.IDLE + 4
        while time.monotonic() < deadline:
            try:
                answering.recv_message(timeout=0.5)
            except socket.timeout:
                pass
        self.assertEqual(self.ping(answering, "still")["type"], "pong")
        while True:
            fin, opcode, payload = silent.recv_frame(timeout=2 * self.IDLE + 6)
            if opcode == 0x8:
                break
        self.assertEqual(struct.unpack("!H", payload[:2])[0], 1001)


class SmallReceiveBufferTest(DaemonWithLimits):
    """limits.ws_rx_buffer: libwebsockets hands a message over in pieces of
    that many bytes. A far larger message, up to ws_message_max, still
    arrives whole: sent as one frame or in fragments, on either
    subprotocol, with characters cut in two between pieces."""

    RX = 128  # the smallest allowed: the most pieces
    MAX = 65536
    WIDGET = "https://www.council.example"
    LIMITS = {"ws_rx_buffer": RX, "ws_message_max": MAX}
    CONFIG = {"widget_origins": [WIDGET]}

    @staticmethod
    def ping(size):
        """A ping of exactly size bytes of UTF-8, its bulk in "pad": an
        object of many short members whose values mix one-, two- and
        three-byte characters, so that a piece lost, doubled or cut wrong
        makes it unreadable (bad syntax, or duplicate keys, which are
        refused). Returns (bytes, id): the pong echoes only the id."""
        ident = size % 100000
        head = '{"type":"ping","id":%d,"pad":{' % ident
        tail = '}}'
        parts, used, i = [], len(head) + len(tail), 0
        while True:
            member = '%s"k%05d":"%s"' % ("," if parts else "", i,
                                         "a\u00e9\u20ac" * 10)
            if used + len(member.encode()) + 20 > size:
                break
            parts.append(member)
            used += len(member.encode())
            i += 1
        last = '%s"end":"' % ("," if parts else "")
        fill = size - used - len(last.encode()) - 1
        parts.append(last + "x" * fill + '"')
        data = (head + "".join(parts) + tail).encode()
        assert len(data) == size, (len(data), size)
        return data, ident

    def open_chat(self):
        ws = self.sb.websocket(origin=self.WIDGET,
                               protocol="switchboard.chat.v1")
        op, hello = ws.recv_message()
        self.assertEqual(json.loads(hello)["protocol"],
                         "switchboard.chat.v1")
        return ws

    def assert_pong(self, ws, ident):
        op, text = ws.recv_message(30)
        self.assertEqual(op, 1, text[:200])
        self.assertEqual(json.loads(text), {"type": "pong", "id": ident})

    def test_60kib_in_one_frame(self):
        for open_ in (self.open, self.open_chat):
            ws = open_()
            self.addCleanup(ws.close)
            data, ident = self.ping(60 * 1024)
            ws.send_frame(0x1, data)
            self.assert_pong(ws, ident)
            # The socket goes on as before: small messages, then another
            # large one.
            ws.send_text('{"type":"ping","id":1}')
            self.assert_pong(ws, 1)
            data, ident = self.ping(40 * 1024 + 7)
            ws.send_frame(0x1, data)
            self.assert_pong(ws, ident)

    def test_60kib_in_fragments(self):
        ws = self.open_chat()
        self.addCleanup(ws.close)
        data, ident = self.ping(60 * 1024)
        # Cut at odd places: inside characters, not on piece boundaries.
        cuts = [0, 1, 1000, 20001, 20002, 45678, len(data)]
        for i in range(len(cuts) - 1):
            ws.send_frame(0x1 if i == 0 else 0x0, data[cuts[i]:cuts[i + 1]],
                          fin=i == len(cuts) - 2)
        self.assert_pong(ws, ident)

    def test_exactly_the_maximum_then_one_byte_more(self):
        ws = self.open()
        self.addCleanup(ws.close)
        data, ident = self.ping(self.MAX)
        ws.send_frame(0x1, data)
        self.assert_pong(ws, ident)
        data, _ = self.ping(self.MAX + 1)
        ws.send_frame(0x1, data)
        code, _ = ws.recv_close()
        self.assertEqual(code, 1009)


if __name__ == "__main__":
    harness.main()
