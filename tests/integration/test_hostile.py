"""Hostile input on the daemon's outside surfaces (issue 13 items 16, 17,
18): every method with empty, short, malformed, oversized and chunked
bodies, with and without Content-Length, to every route (each answered,
well formed, within ANSWER_WITHIN, and the daemon lives); the session
cookie among 7 KiB of other cookies before and after it, on REST and on
/ws; WebSocket frames RFC 6455 refuses."""

import json
import os
import re
import socket
import struct
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_chat import WIDGET, Resident  # noqa: E402
from test_routing import Desk  # noqa: E402

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# The daemon under test is built with ASan; none of these waits for
# anything but itself and PostgreSQL.
ANSWER_WITHIN = 1.0
BODY_MAX = 4096
COOKIE = "__Host-sb_session"


def api_routes():
    """Every REST route the docs name, {id} filled in."""
    found = set()
    for name in ("api.md", "http-api.md"):
        with open(os.path.join(harness.SRC, "docs", name)) as f:
            for m in re.finditer(r"`(?:GET|POST|PUT|PATCH|DELETE) "
                                 r"(/api/[^` ?]*)", f.read()):
                found.add(m.group(1).replace("{id}", "999999"))
    return sorted(found)


OTHER_ROUTES = ("/", "/healthz", "/readyz", "/metrics", "/widget/",
                "/desk/", "/desk/index.html", "/ws", "/nope", "/api/",
                "/api/nope", "/api/session/extra", "/widget/topics.json",
                "/api/chat/transcript", "/api/chat/transcript/x")


def bodies():
    """(name, extra header lines, body bytes) of each kind of body."""
    big = BODY_MAX + 1
    return (
        ("none", [], b""),
        ("empty", ["Content-Length: 0"], b""),
        ("short", ["Content-Length: 2", "Content-Type: application/json"],
         b"{}"),
        ("json", ["Content-Length: 27", "Content-Type: application/json"],
         b'{"login":"x","password":""}'),
        ("malformed", ["Content-Length: 5",
                       "Content-Type: application/json"], b'{"a":'),
        ("binary", ["Content-Length: 4"], b"\xff\x00{\x80"),
        # Announced, never sent in full: refused before it is read.
        ("oversized", ["Content-Length: %d" % big,
                       "Content-Type: application/json"], b"{" * 100),
        ("bad_length", ["Content-Length: 2, 2"], b"{}"),
        ("negative_length", ["Content-Length: -1"], b""),
        ("chunked", ["Transfer-Encoding: chunked",
                     "Content-Type: application/json"],
         b"2\r\n{}\r\n0\r\n\r\n"),
    )


def read_answer(sock, head_only, deadline):
    """One HTTP/1.1 answer: (status, headers, body). Raises AssertionError
    if it is not well formed or not complete by the deadline."""
    buf = b""

    def more():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no complete answer in time: %r" % buf)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError("no complete answer in time: %r" % buf)
        except ConnectionResetError:
            chunk = b""
        return chunk

    while b"\r\n\r\n" not in buf:
        chunk = more()
        if not chunk:
            raise AssertionError("connection closed before an answer: %r"
                                 % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
    if not m:
        raise AssertionError("bad status line %r" % lines[0])
    headers = {}
    for ln in lines[1:]:
        k, sep, v = ln.partition(":")
        if not sep or not k or k != k.strip():
            raise AssertionError("bad header line %r" % ln)
        headers[k.lower()] = v.strip()
    status = int(m.group(1))
    if head_only or status in (204, 304):
        return status, headers, b""
    if "content-length" not in headers:
        raise AssertionError("no Content-Length in %r" % lines)
    want = int(headers["content-length"])
    while len(rest) < want:
        chunk = more()
        if not chunk:
            raise AssertionError("body cut at %d of %d bytes" %
                                 (len(rest), want))
        rest += chunk
    return status, headers, rest[:want]


class HostileHttpTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.sb = harness.Switchboard(
            cls.pg, cls.redis, {"limits": {"http_body_max": BODY_MAX}},
            dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        r = harness.run_switchboard(["-c", cls.sb.conf, "user", "add",
                                     "--role", "admin", "root"])
        assert r.returncode == 0, r.stderr
        cls.password = r.stdout.strip().split("=", 1)[1]
        cls.sb.start()
        cls.sb.wait_ready()

    def login(self):
        r = self.sb.request(
            "POST", "/api/session",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"login": "root",
                             "password": self.password}).encode())
        self.assertEqual(r.status, 200, r.body)
        return r.headers["set-cookie"].split(";", 1)[0]

    def send(self, method, path, extra, body, cookie=None):
        """(status, seconds) of one request on a connection of its own."""
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1",
                 "X-Requested-With: test"] + list(extra)
        if cookie:
            lines.append("Cookie: " + cookie)
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.sb.port), 5) as s:
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            status, _, _ = read_answer(s, method == "HEAD",
                                       t0 + ANSWER_WITHIN)
        return status, time.monotonic() - t0

    def matrix(self, routes, cookie=None):
        seen = {}
        for path in routes:
            for method in METHODS:
                for name, extra, body in bodies():
                    what = "%s %s %s%s" % (method, path, name,
                                           " (signed in)" if cookie else "")
                    try:
                        status, _ = self.send(method, path, extra, body,
                                              cookie)
                    except (AssertionError, OSError) as e:
                        self.sb.assert_alive()
                        self.fail("%s: %s" % (what, e))
                    self.assertLess(status, 600, what)
                    seen[status] = seen.get(status, 0) + 1
                    if name == "oversized" and path.startswith("/api/"):
                        self.assertEqual(status, 413, what)
                    if name == "chunked" and path.startswith("/api/"):
                        self.assertEqual(status, 411, what)
            self.sb.assert_alive()
        self.assertEqual(self.sb.get("/healthz").status, 200)
        return seen

    def test_every_method_every_body_every_route(self):
        routes = api_routes()
        self.assertIn("/api/session", routes)
        self.assertGreater(len(routes), 20)
        seen = self.matrix(list(OTHER_ROUTES) + routes)
        # Unauthenticated: 401s, and refusals of the bodies themselves.
        self.assertIn(401, seen)
        # The sign-in itself is never the one to fall (was: UB, abort).
        for method in METHODS:
            status, _ = self.send(method, "/api/session",
                                  ["Content-Length: 0"], b"")
            self.assertNotEqual(status, 500, method)

    def test_every_method_signed_in(self):
        cookie = self.login()
        # Ids that do not exist: nothing is changed; /api/session is
        # left out (DELETE would sign this session out).
        routes = [r for r in api_routes() if r != "/api/session"]
        seen = self.matrix(routes, cookie)
        self.assertNotIn(401, seen)
        # Still signed in: nothing above signed the session out.
        r = self.sb.request("GET", "/api/session", headers={"Cookie": cookie})
        self.assertEqual(r.status, 200, r.body)

    def test_empty_bodies(self):
        """Item 17 as reported: POST /api/session with Content-Length: 0
        (undefined behaviour, the sanitizer build aborted) and GET/DELETE
        on /api/* with Content-Length: 0 (never answered)."""
        status, _ = self.send("POST", "/api/session",
                              ["Content-Length: 0",
                               "Content-Type: application/json"], b"")
        self.assertEqual(status, 400)
        status, _ = self.send("GET", "/api/session", ["Content-Length: 0"],
                              b"")
        self.assertEqual(status, 401)
        status, _ = self.send("DELETE", "/api/session",
                              ["Content-Length: 0"], b"")
        self.assertEqual(status, 401)
        status, _ = self.send("GET", "/api/customers", ["Content-Length: 0"],
                              b"")
        self.assertEqual(status, 401)
        # No length on a method that has a body: an empty body.
        status, _ = self.send("POST", "/api/session",
                              ["Content-Type: application/json"], b"")
        self.assertEqual(status, 400)
        self.sb.assert_alive()

    def test_keep_alive_after_empty_body(self):
        """A connection goes on to its next request after an empty one."""
        req = ("GET /api/session HTTP/1.1\r\nHost: x\r\n"
               "Content-Length: 0\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", self.sb.port), 5) as s:
            for _ in range(3):
                s.sendall(req)
                status, _, _ = read_answer(s, False,
                                           time.monotonic() + ANSWER_WITHIN)
                self.assertEqual(status, 401)

    def exchange(self, raw):
        """(status, headers, closed) of one raw request on a connection of
        its own; closed: the daemon closed the connection after it."""
        with socket.create_connection(("127.0.0.1", self.sb.port), 5) as s:
            s.sendall(raw)
            status, headers, _ = read_answer(
                s, raw.startswith(b"HEAD "), time.monotonic() + ANSWER_WITHIN)
            s.settimeout(ANSWER_WITHIN)
            try:
                closed = s.recv(1) == b""
            except socket.timeout:
                closed = False
            except ConnectionResetError:
                closed = True
        return status, headers, closed

    def test_routes_with_a_small_body_limit(self):
        """Routes registered with a body limit of 0 (the probes, the
        topics, the chat's confirmation link): a body announced is refused
        before it is read (413, connection closed), in the table's order:
        411, 400, 413 over limits.http_body_max, 405 with Allow, 413 over
        the route's own limit. The REST API takes up to
        limits.http_body_max."""
        for path in ("/healthz", "/widget/topics.json",
                     "/api/chat/transcript?token=x"):
            what = "GET %s" % path
            req = ("GET %s HTTP/1.1\r\nHost: x\r\n" % path).encode()
            status, _, closed = self.exchange(
                req + b"Content-Length: 1\r\n\r\n{")
            self.assertEqual(status, 413, what)
            self.assertTrue(closed, what)
            # Announced, never sent: refused at once all the same.
            status, _, closed = self.exchange(
                req + b"Content-Length: 100\r\n\r\n")
            self.assertEqual(status, 413, what)
            self.assertTrue(closed, what)
            # No body: served, and the connection stays.
            status, _, closed = self.exchange(
                req + b"Content-Length: 0\r\n\r\n")
            self.assertNotIn(status, (405, 411, 413), what)
            self.assertFalse(closed, what)
            status, _, _ = self.exchange(
                req + b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n0\r\n\r\n")
            self.assertEqual(status, 411, what)
            status, _, _ = self.exchange(
                req + b"Content-Length: 1, 1\r\n\r\n{")
            self.assertEqual(status, 400, what)
        # A method the route does not take: 405 with Allow, before its
        # own limit; over limits.http_body_max: 413 before that.
        status, headers, closed = self.exchange(
            b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 1\r\n\r\n{")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET, HEAD")
        self.assertTrue(closed)
        status, headers, _ = self.exchange(
            b"POST /api/chat/transcript HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET")
        status, _, _ = self.exchange(
            b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n" % (BODY_MAX + 1))
        self.assertEqual(status, 413)
        # The REST API: a body of exactly limits.http_body_max is read.
        body = b"{" + b" " * (BODY_MAX - 2) + b"}"
        status, _, _ = self.exchange(
            b"POST /api/session HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nX-Requested-With: t\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertNotIn(status, (411, 413, 500))
        self.sb.assert_alive()

    # ------------------------------------------------ cookies (item 16)

    def test_session_among_many_cookies(self):
        cookie = self.login()
        token = cookie.split("=", 1)[1]
        before = "; ".join("intranet_%d=%s" % (i, "x" * 40)
                           for i in range(140))
        after = "; ".join("tracker%d=%s" % (i, "y" * 40)
                          for i in range(140))
        self.assertGreaterEqual(len(before), 7 * 1024)
        self.assertGreaterEqual(len(after), 7 * 1024)
        for header in ("%s; %s=%s" % (before, COOKIE, token),
                       "%s=%s; %s" % (COOKIE, token, after),
                       "%s; %s=%s; %s" % (before, COOKIE, token, after)):
            r = self.sb.request("GET", "/api/session",
                                headers={"Cookie": header})
            self.assertEqual(r.status, 200, (len(header), r.body))
            ws = self.sb.websocket(headers={"Cookie": header})
            d = harness.JsonSocket(self, ws)
            self.assertEqual(d.next()["type"], "hello")
            self.assertEqual(d.next()["type"], "desk.ready")
            ws.close()
        # Over limits.http_header_max (16 KiB) in all: closed unanswered,
        # and nothing else is the worse for it.
        with socket.create_connection(("127.0.0.1", self.sb.port), 5) as s:
            s.sendall(("GET /api/session HTTP/1.1\r\nHost: x\r\n"
                       "Cookie: %s; %s; %s=%s\r\n\r\n"
                       % (before, before + before, COOKIE, token)).encode())
            s.settimeout(10)
            try:
                self.assertEqual(s.recv(4096), b"")
            except ConnectionResetError:
                pass
        self.assertEqual(self.sb.get("/healthz").status, 200)
        # In a second Cookie header line of its own (HTTP/2 style).
        status, _ = self.send("GET", "/api/session",
                              ["Cookie: " + before,
                               "Cookie: %s=%s" % (COOKIE, token)], b"")
        self.assertEqual(status, 200)
        # Not a prefix match: a longer name holding it is not it.
        status, _ = self.send("GET", "/api/session",
                              ["Cookie: x%s=%s" % (COOKIE, token)], b"")
        self.assertEqual(status, 401)

def masked(opcode, payload, length=None, fin=True):
    """A client frame; length (announced) defaults to len(payload)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


SEND_QUEUE = 1024


class HostileWebSocketTest(harness.TestCase):
    """RFC 6455 framing the server must refuse, and clients that do not
    read (item 18). Each refusal costs only its own socket."""

    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.sb = harness.Switchboard(
            cls.pg, cls.redis,
            {"limits": {"ws_send_queue": SEND_QUEUE,
                        "ws_messages_per_minute": 600000,
                        # Bystanders sit unread through the longest test.
                        "ws_idle_timeout": 600}},
            dbname=cls.db)
        cls.sb.wait_ready()

    def socket(self):
        ws = self.sb.websocket()
        self.addCleanup(ws.close)
        op, payload = ws.recv_message()
        self.assertEqual(json.loads(payload)["type"], "hello")
        return ws

    def alive(self, ws):
        ws.send_text(json.dumps({"type": "ping", "id": 7}))
        while True:
            op, payload = ws.recv_message()
            self.assertEqual(op, 1, payload)
            m = json.loads(payload)
            if m["type"] == "pong":
                self.assertEqual(m["id"], 7)
                return

    def refused(self, code, send):
        bystander = self.socket()
        ws = self.socket()
        send(ws)
        got, reason = ws.recv_close(10)
        self.assertEqual(got, code, reason)
        self.alive(bystander)
        self.sb.assert_alive()

    def test_huge_announced_payload_is_refused_at_once(self):
        # 2^62 bytes announced; 1 KiB of it sent.
        self.refused(1009, lambda ws: ws.sock.sendall(
            masked(0x1, b"x" * 1024, length=1 << 62)))
        # A fragment that announces more than the rest may hold.
        self.refused(1009, lambda ws: ws.sock.sendall(
            masked(0x1, b"[" * 1024, fin=False) +
            masked(0x0, b"[" * 1024, length=65536)))

    def test_close_frame_of_one_byte(self):
        self.refused(1002, lambda ws: ws.sock.sendall(masked(0x8, b"\x03")))

    def test_close_frames_that_are_fine(self):
        ws = self.socket()
        ws.send_close(1000, b"bye")
        self.assertEqual(ws.recv_close(10)[0], 1000)
        ws = self.socket()
        ws.send_frame(0x8, b"")
        self.assertIn(ws.recv_close(10)[0], (None, 1000))

    @unittest.expectedFailure
    def test_unmasked_frame(self):
        """RFC 6455 5.1: a server must close on an unmasked client frame.
        libwebsockets 4.1.6 (Debian 12) takes it as if masked, and tells
        its user nothing of the mask: this cannot be refused from our
        callbacks (fixed upstream in lws commit cae06c63a). Browsers
        always mask; see docs/http-api.md, "Close codes"."""
        data = b'{"type":"ping","id":1}'
        self.refused(1002, lambda ws: ws.sock.sendall(
            bytes([0x81, len(data)]) + data))

    def test_large_ids_are_not_echoed(self):
        ws = self.socket()
        ws.send_text(json.dumps({"type": "ping", "id": "x" * 60000}))
        m = json.loads(ws.recv_message()[1])
        self.assertEqual((m["type"], m["code"]), ("error", "bad_message"), m)
        self.assertNotIn("id", m)
        self.assertLess(len(json.dumps(m)), 200)
        ws.send_text(json.dumps({"type": "ping", "id": ["y"] * 100}))
        m = json.loads(ws.recv_message()[1])
        self.assertEqual(m["code"], "bad_message", m)
        # Nor long types (unknown_type says which).
        ws.send_text(json.dumps({"type": "t" * 60000}))
        m = json.loads(ws.recv_message()[1])
        self.assertEqual(m["code"], "bad_message", m)
        self.assertLess(len(json.dumps(m)), 200)
        # 128 bytes of JSON are fine.
        ws.send_text(json.dumps({"type": "ping", "id": "z" * 126}))
        m = json.loads(ws.recv_message()[1])
        self.assertEqual((m["type"], m["id"]), ("pong", "z" * 126))

    def test_requests_of_a_client_that_does_not_read(self):
        """Pings from a client that never reads its pongs: the server
        stops reading its requests once it cannot write (lws), and never
        holds more than the send queue for it."""
        bystander = self.socket()
        ws = self.socket()
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ping = masked(0x1, json.dumps({"type": "ping",
                                       "id": "p" * 120}).encode())
        ws.sock.settimeout(3)
        try:
            for _ in range(20000):
                ws.sock.sendall(ping * 50)
        except socket.timeout:
            pass  # the server has stopped reading it
        self.alive(bystander)
        ws.close()
        self.sb.assert_alive()


class NonReaderTest(harness.TestCase):
    """A resident whose advisor writes to it while it reads nothing: once
    more than ws_send_queue bytes wait behind the message being written,
    it is closed 1008; the advisor's desk and other sockets go on."""

    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.sb = harness.Switchboard(
            cls.pg, cls.redis,
            {"widget_origins": [WIDGET],
             "limits": {"ws_send_queue": 16384,
                        "ws_messages_per_minute": 600000,
                        "ws_idle_timeout": 600}},
            dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (31, 'tax', 'Tax');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (31, 'chat', 60, 30);", dbname=cls.db)
        r = harness.run_switchboard(["-c", cls.sb.conf, "user", "add",
                                     "--role", "advisor", "ada"])
        assert r.returncode == 0, r.stderr
        password = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql("INSERT INTO queue_members (staff_id, queue_id) SELECT"
                    " id, 31 FROM staff_users", dbname=cls.db)
        cls.sb.start()
        cls.sb.wait_ready()
        r = cls.sb.request(
            "POST", "/api/session",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"login": "ada", "password": password}).encode())
        assert r.status == 200, r.body
        cls.cookie = r.headers["set-cookie"].split(";", 1)[0]

    def test_resident_that_does_not_read_is_closed(self):
        desk = Desk(self, self.sb, self.cookie)
        desk.status("available")
        r = Resident(self, self.sb)
        r.start()
        desk.wait_for("offer", conversation=r.conv)
        desk.send(type="offer.accept", conversation=r.conv, id="acc")
        desk.wait_for("offer.accepted", id="acc")
        r.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        text = "x" * 4000
        start = len(self.sb.log_text())
        n = 0
        deadline = time.monotonic() + 120
        while "send queue full" not in self.sb.log_text()[start:]:
            self.assertLess(time.monotonic(), deadline,
                            "never refused after %d messages" % n)
            for _ in range(100):
                n += 1
                desk.send(type="conversation.reply", conversation=r.conv,
                          client_id=str(uuid.uuid4()), text=text,
                          id="m%d" % n)
            desk.wait_for("conversation.replied", id="m%d" % n, timeout=30)
        # The resident's socket: what was written, then 1008.
        # (a window of 4 KiB reads slowly: open it)
        r.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        chunks = []
        r.ws.sock.settimeout(30)
        while True:
            chunk = r.ws.sock.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        close = b"\x03\xf0send queue full"
        self.assertTrue(data.endswith(bytes([0x88, len(close)]) + close),
                        data[-40:])
        # What the daemon held for it when it gave up: the queue's bound,
        # and the message being written, no more.
        held = re.search(r"ws\.slow_reader conn=\d+ queued_bytes=(\d+)",
                         self.sb.log_text()[start:])
        self.assertIsNotNone(held)
        self.assertLessEqual(int(held.group(1)), 16384 + 4200)
        # The desk is untouched.
        desk.send(type="desk.status", status="away", id="st")
        desk.wait_for("desk.status.ok", id="st")
        metrics = self.sb.get("/metrics").body.decode()
        self.assertRegex(metrics, r'switchboard_websockets_refused_total'
                         r'\{reason="send_queue"\} [1-9]')

if __name__ == "__main__":
    harness.main()
