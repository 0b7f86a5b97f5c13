"""Staff accounts from the command line, and what revoking a session does
to the desk sockets opened with it, with two daemons on one Redis and one
PostgreSQL: `user passwd` (old password refused, new one accepted, every
session revoked, open desk sockets closed 4003), `user disable` (sign-in
refused like a wrong password, sockets closed within seconds, live work
back to the queues at once), `user enable`, `user list`, the audit rows,
and a logout through the API closing the desk sockets of that session on
both instances."""

import json
import os
import re
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_routing import Desk as RoutingDesk  # noqa: E402
from test_routing import chat_resident  # noqa: E402

# Long: a conversation back in the queue within seconds of a disable was
# put there by the logout, not by the grace-period sweep.
GRACE = 60
# The daemons re-check desk sessions every 2 s; allow for a loaded host.
CLOSE_WITHIN = 10


class Desk(RoutingDesk):
    def closed(self, timeout=CLOSE_WITHIN):
        """(code, reason, seconds) of the server's close frame."""
        t0 = time.monotonic()
        code, reason = self.ws.recv_close(timeout)
        return code, reason, time.monotonic() - t0


class Hammer:
    """A desk socket sending a desk operation as fast as it is answered,
    from a thread: for each message, when it was sent and what came back.
    The operation is queue.unwatch, which touches neither PostgreSQL nor
    Redis: only the revocation can refuse it (desk.status or queue.view
    would be refused by their own reads of a disabled user's profile)."""

    def __init__(self, sb, cookie):
        self.ws = sb.websocket(headers={"Cookie": cookie})
        assert json.loads(self.ws.recv_message()[1])["type"] == "hello"
        m = json.loads(self.ws.recv_message()[1])
        assert m["type"] == "desk.ready", m
        self.sent = {}     # id -> monotonic time it was sent
        self.answers = {}  # id -> "ok" or the error code
        self.closed = None  # (code, time) of the server's close
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        try:
            while not self.stop:
                n += 1
                self.sent[n] = time.monotonic()
                self.ws.send_text(json.dumps({
                    "type": "queue.unwatch", "id": n, "queue": "21"}))
                while True:
                    op, payload = self.ws.recv_message(20)
                    if op == 8:
                        self.closed = (struct.unpack("!H", payload[:2])[0]
                                       if len(payload) >= 2 else None,
                                       time.monotonic())
                        return
                    m = json.loads(payload)
                    if m.get("id") == n:
                        self.answers[n] = ("ok" if m["type"] ==
                                           "queue.unwatched" else m["code"])
                        break
        except (OSError, EOFError):
            if self.closed is None:
                self.closed = (None, time.monotonic())

    def accepted_after(self, t):
        """Ids sent after t that were accepted."""
        return [i for i, at in self.sent.items()
                if at > t and self.answers.get(i) == "ok"]

    def finish(self):
        self.stop = True
        self.thread.join(30)
        self.ws.close()


class AccountsTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        over = {"router": {"grace_period": GRACE, "sweep_interval_ms": 100},
                # The revocation races send without pause.
                "limits": dict(harness.default_config(None, None, 0)[
                    "limits"], ws_messages_per_minute=600000)}
        cls.sbs = [harness.Switchboard(cls.pg, cls.redis, over,
                                       dbname=cls.db, start=False)
                   for _ in range(2)]
        r = cls.cli("migrate")
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (21, 'tax', 'Tax');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (21, 'chat', 60, 30);"
            # eve's own queue: no other test's advisor takes its chats.
            "INSERT INTO queues (id, slug, name) VALUES (22, 'eve', 'Eve');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (22, 'chat', 60, 30);", dbname=cls.db)
        cls.passwords = {}
        for login in ("ada", "bob", "cat", "dan", "eve", "gus", "hal"):
            cls.passwords[login] = cls.add_user(login)
        r = cls.cli("user", "add", "--role", "admin", "root")
        assert r.returncode == 0, r.stderr
        cls.passwords["root"] = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql("INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, CASE login WHEN 'eve' THEN 22 ELSE 21 END "
                    "FROM staff_users", dbname=cls.db)
        for sb in cls.sbs:
            sb.start()
        for sb in cls.sbs:
            sb.wait_ready()

    @classmethod
    def cli(cls, *args, stdin=None):
        return subprocess.run(
            [harness.switchboard_bin(), "-c", cls.sbs[0].conf] + list(args),
            input=stdin, capture_output=True, text=True, timeout=120,
            env=harness.clean_env())

    @classmethod
    def add_user(cls, login):
        r = cls.cli("user", "add", "--role", "advisor", "--name",
                    login.title(), login)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip().split("=", 1)[1]

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def login(self, sb, login, password=None):
        return sb.request("POST", "/api/session",
                          headers={"Content-Type": "application/json"},
                          body=json.dumps({"login": login, "password":
                                           password or self.passwords[login]}
                                          ).encode())

    def cookie(self, sb, login, password=None):
        r = self.login(sb, login, password)
        self.assertEqual(r.status, 200, r.body)
        return r.headers["set-cookie"].split(";", 1)[0]

    def live_sessions(self, login):
        return int(self.sql(
            "SELECT count(*) FROM staff_sessions s JOIN staff_users u ON "
            "u.id = s.staff_id WHERE u.login = '%s' AND s.revoked_at IS NULL"
            % login))

    def audit(self, login, action):
        return self.sql(
            "SELECT a.actor || ',' || a.object_kind || ',' || "
            "(a.object_id = u.id::text) || ',' || (a.detail->>'login') "
            "FROM audit_log a, staff_users u WHERE u.login = '%s' AND "
            "a.action = '%s' AND a.object_id = u.id::text ORDER BY a.id"
            % (login, action))

    def session_refused(self, sb, cookie):
        r = sb.request("GET", "/api/session", headers={"Cookie": cookie})
        self.assertEqual(r.status, 401, r.body)

    def resident(self, sb, queue="tax"):
        """A chat waiting in queue, its resident on switchboard.chat.v1."""
        r = chat_resident(self, sb, origin=None)
        r.start(queue=queue, name="Ann")
        return r, r.conv

    # ------------------------------------------------------------------

    def test_passwd_random(self):
        sb = self.sbs[0]
        cookie = self.cookie(sb, "ada")
        desk = Desk(self, sb, cookie)
        desk.status("away")
        other = Desk(self, self.sbs[1], self.cookie(self.sbs[1], "ada"))
        self.assertEqual(self.live_sessions("ada"), 2)
        r = self.cli("user", "passwd", "ada")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("password="), r.stdout)
        new = lines[0].split("=", 1)[1]
        self.assertEqual(len(new), 20)
        self.assertEqual(lines[1], "sessions_revoked=2")
        self.assertNotIn(new, r.stderr)
        # Both sockets, on both instances, are told and closed.
        for d in (desk, other):
            code, reason, _ = d.closed()
            self.assertEqual((code, reason), (4003, "signed out"))
        self.session_refused(sb, cookie)
        self.assertEqual(self.live_sessions("ada"), 0)
        r = self.login(sb, "ada", self.passwords["ada"])
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid login or password")
        self.cookie(sb, "ada", new)
        self.passwords["ada"] = new
        self.assertEqual(self.audit("ada", "staff.password_reset"),
                         "cli,staff,true,ada")
        self.assertNotIn(new, self.sql("SELECT string_agg(detail::text, '')"
                                       " FROM audit_log"))

    def test_passwd_stdin(self):
        sb = self.sbs[1]
        cookie = self.cookie(sb, "bob")
        desk = Desk(self, sb, cookie)
        new = "correct horse battery staple \u00e9"
        r = self.cli("user", "passwd", "--stdin", "bob", stdin=new + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "sessions_revoked=1\n")
        code, reason, _ = desk.closed()
        self.assertEqual((code, reason), (4003, "signed out"))
        self.assertEqual(self.login(sb, "bob").status, 401)
        self.cookie(sb, "bob", new)
        self.passwords["bob"] = new
        # Refused: empty, over 1,024 bytes, unknown login, bad usage.
        r = self.cli("user", "passwd", "--stdin", "bob", stdin="\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("empty", r.stderr)
        r = self.cli("user", "passwd", "--stdin", "bob",
                     stdin="x" * 1025 + "\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("1024", r.stderr)
        r = self.cli("user", "passwd", "nobody")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no user with login "nobody"', r.stderr)
        self.assertEqual(r.stdout, "")
        r = self.cli("user", "passwd")
        self.assertEqual(r.returncode, 2)
        self.assertIn("user passwd", r.stderr)
        self.cookie(sb, "bob", new)  # none of that changed it
        self.assertEqual(len(self.audit("bob", "staff.password_reset")
                             .splitlines()), 1)

    def test_disable_and_enable(self):
        sb, sb2 = self.sbs
        desk = Desk(self, sb, self.cookie(sb, "cat"))
        desk.status("available")
        helper = Desk(self, sb2, self.cookie(sb2, "dan"))
        ws, conv = self.resident(sb2)
        desk.wait_for("offer", conversation=conv)
        desk.send(type="offer.accept", conversation=conv, id="a1")
        desk.wait_for("offer.accepted", id="a1")
        helper.status("available")

        r = self.cli("user", "disable", "cat")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "sessions_revoked=1\n")
        code, reason, took = desk.closed()
        self.assertEqual((code, reason), (4003, "signed out"))
        self.assertLess(took, CLOSE_WITHIN)
        # Logged out, not merely gone: the chat goes to dan now, long
        # before the grace period ends.
        helper.wait_for("offer", timeout=CLOSE_WITHIN, conversation=conv)
        # Refused exactly as a wrong password is, with the right one.
        r = self.login(sb, "cat")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid login or password")
        self.assertEqual(self.audit("cat", "staff.disable"),
                         "cli,staff,true,cat")
        listing = self.cli("user", "list")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn("cat\tCat\tadvisor\tdisabled", listing.stdout)
        self.assertIn("dan\tDan\tadvisor\tenabled", listing.stdout)

        r = self.cli("user", "enable", "cat")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        Desk(self, sb2, self.cookie(sb2, "cat"))
        self.assertEqual(self.audit("cat", "staff.enable"),
                         "cli,staff,true,cat")
        r = self.cli("user", "disable", "nobody")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no user with login "nobody"', r.stderr)

    def test_logout_closes_sockets_everywhere(self):
        sb, sb2 = self.sbs
        cookie = self.cookie(sb, "eve")
        here = Desk(self, sb, cookie)
        there = Desk(self, sb2, cookie)
        # Another session of eve's (another browser) stays signed in.
        other_cookie = self.cookie(sb2, "eve")
        other = Desk(self, sb2, other_cookie)
        here.status("available")
        ws, conv = self.resident(sb2, "eve")
        here.wait_for("offer", conversation=conv)
        here.send(type="offer.accept", conversation=conv, id="a1")
        here.wait_for("offer.accepted", id="a1")
        here.status("away")
        r = sb.request("DELETE", "/api/session",
                       headers={"Cookie": cookie,
                                "X-Requested-With": "XMLHttpRequest"})
        self.assertEqual(r.status, 200, r.body)
        for d in (here, there):
            code, reason, _ = d.closed()
            self.assertEqual((code, reason), (4003, "signed out"))
        self.session_refused(sb2, cookie)
        # Still working, several re-checks later, and eve, signed in on
        # the other desk, was not logged out of routing: the chat is
        # still hers.
        time.sleep(3)
        other.status("away")
        self.assertEqual(self.sql(
            "SELECT c.status || ',' || u.login FROM conversations c JOIN "
            "staff_users u ON u.id = c.assigned_staff_id WHERE c.id = %s"
            % conv), "assigned,eve")
        r = sb2.request("GET", "/api/session",
                        headers={"Cookie": other_cookie})
        self.assertEqual(r.status, 200, r.body)
        # A socket opened with the ended session is not a desk.
        ws = sb.websocket(headers={"Cookie": cookie})
        self.addCleanup(ws.close)
        self.assertEqual(json.loads(ws.recv_message()[1])["type"], "hello")
        time.sleep(1)  # its session check answered (not_ready before)
        ws.send_text(json.dumps({"type": "desk.status", "status": "away",
                                 "id": 1}))
        m = json.loads(ws.recv_message()[1])
        self.assertEqual(m["type"], "error", m)
        self.assertEqual(m["code"], "unauthorised", m)

    # ---------------------------------------------- revocation races
    # Revocation takes effect on every instance before the revoking
    # request is answered (issue 13 item 19): desks on two instances send
    # desk operations without pause while their user is disabled through
    # the admin REST API, or signs out; of what is sent after the answer
    # arrived, nothing is accepted.

    def hammer_during(self, cookies, revoke):
        """Desks on both instances (one cookie each) going without pause
        while revoke() runs; revoke returns when its answer arrived."""
        desks = [Hammer(sb, c) for sb, c in zip(self.sbs, cookies)]
        try:
            time.sleep(0.5)  # both going
            for d in desks:
                self.assertGreater(len(d.answers), 0)
            answered = revoke()
            time.sleep(1)  # well short of the 2 s re-check
        finally:
            for d in desks:
                d.finish()
        for d in desks:
            self.assertEqual(d.accepted_after(answered), [], d.answers)
            # Closed 4003, signed out.
            self.assertIsNotNone(d.closed)
            self.assertIn(d.closed[0], (4003, None))

    def revoking(self, sb, method, path, cookie, body=None):
        """revoke() for hammer_during: the request, answered 200."""
        def revoke():
            r = sb.request(method, path,
                           headers={"Cookie": cookie,
                                    "Content-Type": "application/json",
                                    "X-Requested-With": "t"}, body=body)
            t = time.monotonic()
            self.assertEqual(r.status, 200, r.body)
            return t
        return revoke

    def test_disable_through_the_api(self):
        sb, sb2 = self.sbs
        gus = self.sql("SELECT id FROM staff_users WHERE login = 'gus'")
        self.hammer_during(
            (self.cookie(sb, "gus"), self.cookie(sb2, "gus")),
            self.revoking(sb, "POST", "/api/staff/%s/disable" % gus,
                          self.cookie(sb, "root"), b"{}"))
        self.assertEqual(self.live_sessions("gus"), 0)

    def test_sign_out_everywhere(self):
        sb, sb2 = self.sbs
        cookie = self.cookie(sb2, "hal")
        other = Desk(self, sb, self.cookie(sb, "hal"))
        # Both desks opened with one session; signing it out leaves the
        # user's other session (and its desk) alone.
        self.hammer_during((cookie, cookie),
                           self.revoking(sb, "DELETE", "/api/session",
                                         cookie))
        other.status("away")


DELAY_MS, DELAY_MAX_MS = 200, 400


class ThrottleTest(harness.TestCase):
    """Sign-in throttling slows guessing without handing out lock-outs
    (issue 13 item 15), behind a trusted proxy (127.0.0.1: every request
    of this test comes from there) that forwards the client's address in
    X-Forwarded-For: each address is judged on its own, and the audit
    records it. A second daemon trusts no proxy: there the header is the
    client's own claim and changes nothing."""

    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        throttle = {"sessions": {"throttle_delay_ms": DELAY_MS,
                                 "throttle_delay_max_ms": DELAY_MAX_MS}}
        cls.sb = harness.Switchboard(
            cls.pg, cls.redis,
            dict(throttle, trusted_proxies=["127.0.0.1"]), dbname=cls.db,
            start=False)
        cls.direct = harness.Switchboard(cls.pg, cls.redis, throttle,
                                         dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.passwords = {}
        for login, role in (("ada", "advisor"), ("bob", "advisor"),
                            ("cy", "advisor"), ("root", "admin")):
            r = harness.run_switchboard(["-c", cls.sb.conf, "user", "add",
                                         "--role", role, login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        for sb in (cls.sb, cls.direct):
            sb.start()
            sb.wait_ready()

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def login(self, login, client, password=None, sb=None):
        """(status, seconds) of a sign-in forwarded for client."""
        t0 = time.monotonic()
        r = (sb or self.sb).request(
            "POST", "/api/session",
            headers={"Content-Type": "application/json",
                     # What a client may claim, then what the proxy saw.
                     "X-Forwarded-For": "10.9.9.9, " + client},
            body=json.dumps({"login": login, "password": password or
                             self.passwords[login]}).encode(), timeout=30)
        return r.status, time.monotonic() - t0, r

    def test_failing_address_is_refused_others_are_not(self):
        for _ in range(5):
            self.assertEqual(self.login("ada", "198.51.100.1", "wrong")[0],
                             401)
        # The attacker's address: refused, even the right password.
        self.assertEqual(self.login("ada", "198.51.100.1")[0], 429)
        # The advisor at her own desk: let in.
        status, took, r = self.login("ada", "198.51.100.2")
        self.assertEqual(status, 200, r.body)
        self.assertGreaterEqual(took, DELAY_MS / 1000)
        # Recorded with the forwarded address, not the proxy's.
        self.assertEqual(self.sql(
            "SELECT s.ip FROM staff_sessions s JOIN staff_users u ON"
            " u.id = s.staff_id WHERE u.login = 'ada'"), "198.51.100.2")
        self.assertEqual(self.sql(
            "SELECT count(*) FROM login_attempts WHERE login = 'ada' AND"
            " ip = '127.0.0.1'"), "0")
        self.assertIn('staff.login staff_id=', self.sb.log_text())
        self.assertRegex(self.sb.log_text(),
                         r"staff\.login staff_id=\d+ ip=198\.51\.100\.2")
        self.assertRegex(self.sb.log_text(),
                         r"staff\.login_throttled staff_id=\d+ "
                         r"ip=198\.51\.100\.1 limit=login_address")

    def test_rotating_addresses_cannot_lock_out(self):
        """20 wrong guesses from 20 forwarded clients locked out a 21st
        client's right password, and the audit said 127.0.0.1."""
        slow = 0
        for i in range(1, 21):
            status, took, _ = self.login("bob", "203.0.113.%d" % i,
                                         "guess%d" % i)
            self.assertEqual(status, 401, i)
            if i > 5:
                self.assertGreaterEqual(took, DELAY_MS / 1000)
                slow += 1
        self.assertEqual(slow, 15)
        status, took, r = self.login("bob", "203.0.113.21")
        self.assertEqual(status, 200, r.body)
        self.assertGreaterEqual(took, DELAY_MAX_MS / 1000)
        self.assertEqual(self.sql(
            "SELECT string_agg(DISTINCT host(ip), ',') FROM login_attempts"
            " WHERE login = 'bob' AND ok"), "203.0.113.21")
        metrics = self.sb.get("/metrics").body.decode()
        m = re.search(r"^switchboard_logins_delayed_total (\d+)$", metrics,
                      re.M)
        self.assertIsNotNone(m, metrics)
        self.assertGreaterEqual(int(m.group(1)), 16)

    def test_one_address_many_logins(self):
        # 20 failures from one address, over many logins (most unknown).
        for i in range(20):
            self.assertEqual(self.login("user%d" % i, "192.0.2.77",
                                        "x")[0], 401)
        self.assertEqual(self.login("cy", "192.0.2.77")[0], 429)
        self.assertEqual(self.login("cy", "192.0.2.78")[0], 200)
        metrics = self.sb.get("/metrics").body.decode()
        self.assertRegex(metrics, r'switchboard_logins_throttled_total'
                         r'\{limit="address"\} [1-9]')

    def test_audit_has_the_forwarded_address(self):
        status, _, r = self.login("root", "198.51.100.50")
        self.assertEqual(status, 200, r.body)
        cookie = r.headers["set-cookie"].split(";", 1)[0]
        cy = self.sql("SELECT id FROM staff_users WHERE login = 'cy'")
        r = self.sb.request(
            "PATCH", "/api/staff/" + cy,
            headers={"Cookie": cookie, "Content-Type": "application/json",
                     "X-Requested-With": "t",
                     "X-Forwarded-For": "10.1.1.1, 198.51.100.50"},
            body=json.dumps({"name": "Cy"}).encode())
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.sql(
            "SELECT host(ip) FROM audit_log WHERE action = 'staff.edit'"
            " ORDER BY id DESC LIMIT 1"), "198.51.100.50")

    def test_untrusted_peer_cannot_claim_an_address(self):
        # The same header to a daemon that trusts no proxy: 127.0.0.1 is
        # the client, whatever it says.
        status, _, r = self.login("cy", "198.51.100.99", sb=self.direct)
        self.assertEqual(status, 200, r.body)
        self.assertEqual(self.sql(
            "SELECT host(ip) FROM login_attempts WHERE login = 'cy'"
            " ORDER BY id DESC LIMIT 1"), "127.0.0.1")


class HelpTest(harness.TestCase):
    """-h and --help print the usage on stdout and exit 0, wherever they
    are, before any configuration file is read (issue 13 item 23)."""

    def test_help_needs_no_configuration(self):
        missing = "/nonexistent/switchboard.conf"
        for args in (["--help"], ["-h"], ["user", "--help"],
                     ["user", "-h"], ["-c", missing, "user", "--help"],
                     ["-c", missing, "user", "passwd", "--help"],
                     ["-c", missing, "migrate", "-h"], ["-c", missing,
                                                        "--help"]):
            r = harness.run_switchboard(args, timeout=30)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            self.assertTrue(r.stdout.startswith("usage: switchboard"),
                            (args, r.stdout))
            self.assertIn("user add --role ROLE", r.stdout)
            self.assertEqual(r.stderr, "", args)
        # Without it, a missing file is still an error.
        r = harness.run_switchboard(["-c", missing, "user", "list"])
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    harness.main()
