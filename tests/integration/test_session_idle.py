"""The staff session's inactivity timeout on open desk sockets, and the
advisor's status told to a desk that opens (desk.conversations).

With sessions.idle_timeout = 4 s: what a desk sends keeps its session in
use (REST with the same cookie still works after twice the timeout), read
receipts do not, and a desk that sends nothing is closed 4003 once the
timeout has passed and the cookie is refused; so is one that only pings
(WebSocket or JSON pings are no use). With absolute_timeout = 8 s, a desk
in constant use is closed 4003 at the absolute timeout (issue 13 item 9:
both were in place before the issue's fix round; these tests keep them)."""

import json
import os
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_routing import Desk  # noqa: E402

IDLE = 4
# The daemon re-checks desk sessions every 2 s; allow for a loaded host.
SLACK = 8


def close_code_soon(ws, wait=0.5):
    """The code of a close frame among what arrives within wait seconds
    (other messages are read and dropped), or None."""
    try:
        while True:
            op, payload = ws.recv_message(wait)
            if op == 8:
                return struct.unpack("!H", payload[:2])[0]
    except socket.timeout:
        return None


class SessionIdleTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.sb = harness.Switchboard(
            cls.pg, cls.redis, {"sessions": {"idle_timeout": IDLE}},
            dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (21, 'tax', 'Tax');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (21, 'chat', 60, 30);", dbname=cls.db)
        cls.passwords = {}
        for login in ("ada", "bob", "cat"):
            r = subprocess.run(
                [harness.switchboard_bin(), "-c", cls.sb.conf, "user", "add",
                 "--role", "advisor", "--name", login.title(), login],
                capture_output=True, text=True, timeout=120,
                env=harness.clean_env())
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql("INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, 21 FROM staff_users", dbname=cls.db)
        cls.sb.start()
        cls.sb.wait_ready()

    def cookie(self, login):
        r = self.sb.request(
            "POST", "/api/session",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"login": login,
                             "password": self.passwords[login]}).encode())
        self.assertEqual(r.status, 200, r.body)
        return r.headers["set-cookie"].split(";", 1)[0]

    def session_status(self, cookie):
        return self.sb.request("GET", "/api/session",
                               headers={"Cookie": cookie}).status

    def open_desk(self, cookie):
        ws = self.sb.websocket(headers={"Cookie": cookie})
        d = harness.JsonSocket(self, ws)
        self.assertEqual(d.next()["type"], "hello")
        ready = d.next()
        self.assertEqual(ready["type"], "desk.ready", ready)
        return d, ready

    def test_ready_tells_the_timeout(self):
        d, ready = self.open_desk(self.cookie("ada"))
        self.assertEqual(ready["idle_timeout_s"], IDLE)

    def test_desk_messages_keep_the_session(self):
        cookie = self.cookie("ada")
        d, _ = self.open_desk(cookie)
        end = time.monotonic() + 2 * IDLE + 2
        n = 0
        while time.monotonic() < end:
            n += 1
            d.send(type="desk.status", status="away", reason="admin",
                   id="s%d" % n)
            d.wait_for("desk.status.ok", id="s%d" % n)
            time.sleep(0.5)
        # Twice the timeout without a REST call: the socket kept it alive.
        self.assertEqual(self.session_status(cookie), 200)
        d.send(type="desk.status", status="offline", id="end")
        d.wait_for("desk.status.ok", id="end")

    def test_quiet_desk_is_closed(self):
        cookie = self.cookie("bob")
        d, _ = self.open_desk(cookie)
        t0 = time.monotonic()
        # Read receipts are sent by the desk on its own: they are no use.
        stop = t0 + IDLE + 1
        while time.monotonic() < stop:
            d.send(type="conversation.read", conversation="1", seq=1)
            time.sleep(0.5)
        code, reason = d.ws.recv_close(IDLE + SLACK)
        self.assertEqual((code, reason), (4003, "signed out"))
        self.assertLess(time.monotonic() - t0, IDLE + SLACK)
        self.assertEqual(self.session_status(cookie), 401)
        # Signing in again works, and gives a new, live session.
        self.assertEqual(self.session_status(self.cookie("bob")), 200)

    def test_pings_are_not_use(self):
        """A desk whose user does nothing: its socket answers the server's
        WebSocket pings and sends JSON pings of its own (a heartbeat), and
        is closed at the idle timeout all the same (issue 13 item 9)."""
        cookie = self.cookie("ada")
        d, _ = self.open_desk(cookie)
        t0 = time.monotonic()
        stop = t0 + IDLE + SLACK
        code = None
        while time.monotonic() < stop and code is None:
            d.ws.send_frame(0x9, b"hb")  # a WebSocket ping of its own
            d.send(type="ping", id="hb")
            code = close_code_soon(d.ws)
        self.assertEqual(code, 4003)
        self.assertGreaterEqual(time.monotonic() - t0, IDLE - 1)
        self.assertEqual(self.session_status(cookie), 401)

    def test_new_desk_learns_the_status(self):
        cookie = self.cookie("cat")
        first, _ = self.open_desk(cookie)
        snap = first.wait_for("desk.conversations")
        self.assertEqual(snap["status"], "offline", snap)
        first.send(type="desk.status", status="away", reason="lunch",
                   id="st")
        first.wait_for("desk.status.ok", id="st")
        second, _ = self.open_desk(cookie)
        snap = second.wait_for("desk.conversations")
        self.assertEqual((snap["status"], snap["reason"]), ("away", "lunch"))
        # and what it may hold: the default chat capacity at least
        self.assertGreater(snap["capacity"]["chat"], 0)
        first.send(type="desk.status", status="available", id="av")
        ok = first.wait_for("desk.status.ok", id="av")
        self.assertEqual(ok["capacity"], snap["capacity"])
        pushed = second.wait_for("desk.status", status="available")
        self.assertEqual(pushed["capacity"], snap["capacity"])
        first.send(type="desk.status", status="offline", id="off")
        first.wait_for("desk.status.ok", id="off")


ABSOLUTE = 8


class SessionAbsoluteTest(harness.TestCase):
    """A desk in constant use is still closed 4003 when its session
    reaches sessions.absolute_timeout, within the re-check interval."""

    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.sb = harness.Switchboard(
            cls.pg, cls.redis,
            {"sessions": {"idle_timeout": IDLE,
                          "absolute_timeout": ABSOLUTE}},
            dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        r = harness.run_switchboard(["-c", cls.sb.conf, "user", "add",
                                     "--role", "advisor", "ada"])
        assert r.returncode == 0, r.stderr
        cls.password = r.stdout.strip().split("=", 1)[1]
        cls.sb.start()
        cls.sb.wait_ready()

    def test_busy_desk_closed_at_absolute_timeout(self):
        r = self.sb.request(
            "POST", "/api/session",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"login": "ada",
                             "password": self.password}).encode())
        self.assertEqual(r.status, 200, r.body)
        signed_in = time.monotonic()
        cookie = r.headers["set-cookie"].split(";", 1)[0]
        ws = self.sb.websocket(headers={"Cookie": cookie})
        d = harness.JsonSocket(self, ws)
        self.assertEqual(d.next()["type"], "hello")
        self.assertEqual(d.next()["type"], "desk.ready")
        n, code = 0, None
        while code is None:
            self.assertLess(time.monotonic() - signed_in, ABSOLUTE + SLACK)
            n += 1
            d.send(type="desk.status", status="away", reason="admin",
                   id="s%d" % n)
            code = close_code_soon(ws)
        self.assertEqual(code, 4003)
        # In use to the end: closed by the absolute timeout, not idleness.
        self.assertGreaterEqual(time.monotonic() - signed_in, ABSOLUTE - 1)
        r = self.sb.request("GET", "/api/session",
                            headers={"Cookie": cookie})
        self.assertEqual(r.status, 401)


if __name__ == "__main__":
    harness.main()
