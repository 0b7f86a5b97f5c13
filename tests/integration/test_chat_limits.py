"""The web chat cannot be turned into a mail relay (issue 13 item 14,
docs/chat-protocol.md "Mail the resident can cause"): leave-a-message and
transcript requests are limited per socket, per client address and per
destination, each limit attacked the way it would be; refusals are logged
and counted in /metrics; nothing a resident typed goes into mail to an
address nobody verified (an acknowledgement carries the reference, a
transcript waits for a single-use confirmation link)."""

import json
import os
import re
import socket
import sys
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_chat import PROTO, WIDGET  # noqa: E402
from test_routing import Desk  # noqa: E402

PER_SOCKET, PER_CLIENT, PER_DEST = 3, 5, 3
PHISH = "URGENT: your council tax is overdue, pay now at http://pay.example"


def connect_from(client, sb, **kw):
    """sb.websocket(**kw) from the loopback address `client` (127.x.y.z:
    every one of them is this machine's)."""
    orig = socket.create_connection

    def bound(address, timeout=None, *args, **kwargs):
        kwargs["source_address"] = (client, 0)
        return orig(address, timeout, *args, **kwargs)
    socket.create_connection = bound
    try:
        return sb.websocket(**kw)
    finally:
        socket.create_connection = orig


class Widget(harness.JsonSocket):
    """A resident's socket from client address `client`."""

    def __init__(self, test, sb, client):
        super().__init__(test, connect_from(client, sb, origin=WIDGET,
                                            protocol=PROTO))
        self.test.assertEqual(self.next()["type"], "hello")
        self.n = 0

    def leave(self, email, text="Please call me back"):
        self.n += 1
        rid = "l%d" % self.n
        self.send(type="message.leave", id=rid, queue="tax", name="Lee",
                  email=email, text=text, client_id=str(uuid.uuid4()))
        m = self.next(10)
        while m.get("id") != rid:
            m = self.next(10)
        return m


class ChatLimitsTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        over = {"widget_origins": [WIDGET],
                "chat": {"requests_per_socket": PER_SOCKET,
                         "requests_per_client": PER_CLIENT,
                         "requests_per_destination": PER_DEST}}
        cls.sb = harness.Switchboard(cls.pg, cls.redis, over, dbname=cls.db,
                                     start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO councils (slug, name) VALUES ('demo', 'Demo"
            " Council') ON CONFLICT DO NOTHING;"
            "INSERT INTO queues (id, slug, name) VALUES (51, 'tax', 'Tax');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s)"
            " VALUES (51, 'chat', 60);", dbname=cls.db)
        r = harness.run_switchboard(
            ["-c", cls.sb.conf, "user", "add", "--role", "advisor",
             "--name", "Ada", "ada"])
        assert r.returncode == 0, r.stderr
        cls.password = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql("INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, 51 FROM staff_users WHERE login = 'ada'",
                    dbname=cls.db)
        cls.sb.start()
        cls.sb.wait_ready()

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def refused(self):
        text = self.sb.get("/metrics").body.decode()
        return {k: int(v) for k, v in re.findall(
            r'^switchboard_chat_refused_total\{limit="(\w+)"\} (\d+)$',
            text, re.M)}

    def assert_refused(self, m, limit, before):
        self.assertEqual(m.get("code"), "too_many_requests", m)
        self.assertEqual(self.refused()[limit], before[limit] + 1)

    def outbox_to(self, email):
        return int(self.sql("SELECT count(*) FROM outbox WHERE destination"
                            " = '%s'" % email))

    # ------------------------------------------------------------------

    def test_one_socket_many_addresses(self):
        w = Widget(self, self.sb, "127.0.2.1")
        for i in range(PER_SOCKET):
            m = w.leave("one%d@example.org" % i)
            self.assertEqual(m["type"], "message.left", m)
        before = self.refused()
        m = w.leave("one-more@example.org")
        self.assert_refused(m, "socket", before)
        self.assertEqual(self.outbox_to("one-more@example.org"), 0)
        self.sb.wait_log(r"chat\.refused kind=leave limit=socket")
        # Another socket of the same client may go on (up to its limit).
        w2 = Widget(self, self.sb, "127.0.2.1")
        self.assertEqual(w2.leave("one-more@example.org")["type"],
                         "message.left")

    def test_many_sockets_from_one_address(self):
        client = "127.0.3.7"
        for i in range(PER_CLIENT):
            w = Widget(self, self.sb, client)
            self.assertEqual(w.leave("many%d@example.org" % i)["type"],
                             "message.left")
        before = self.refused()
        for i in range(3):
            w = Widget(self, self.sb, client)
            m = w.leave("many-more%d@example.org" % i)
            self.assertEqual(m.get("code"), "too_many_requests", m)
        self.assertEqual(self.refused()["client"], before["client"] + 3)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM outbox WHERE destination LIKE"
            " 'many-more%'"), "0")
        # Another address is not held up by this one.
        w = Widget(self, self.sb, "127.0.3.8")
        self.assertEqual(w.leave("many-other@example.org")["type"],
                         "message.left")

    def test_many_sockets_to_one_address(self):
        victim = "victim@example.org"
        for i in range(PER_DEST):
            w = Widget(self, self.sb, "127.0.4.%d" % (i + 1))
            self.assertEqual(w.leave(victim)["type"], "message.left")
        before = self.refused()
        w = Widget(self, self.sb, "127.0.4.200")
        self.assert_refused(w.leave(victim.upper()), "destination", before)
        self.assertEqual(self.outbox_to(victim), PER_DEST)
        # A transcript to it is refused the same way.
        desk = Desk(self, self.sb, self.cookie())
        desk.status("busy")
        r = Widget(self, self.sb, "127.0.4.201")
        r.send(type="chat.start", id="s", queue="tax", name="Tess")
        r.wait_for("chat.started", id="s")
        r.send(type="chat.end")
        r.wait_for("chat.ended")
        before = self.refused()
        r.send(type="transcript.request", email=victim, id="t")
        self.assert_refused(r.wait_for("error", id="t"), "destination",
                            before)
        self.assertEqual(self.outbox_to(victim), PER_DEST)
        desk.status("away")

    def cookie(self):
        r = self.sb.request("POST", "/api/session",
                            headers={"Content-Type": "application/json"},
                            body=json.dumps({"login": "ada", "password":
                                             self.password}).encode())
        self.assertEqual(r.status, 200, r.body)
        return r.headers["set-cookie"].split(";", 1)[0]

    def test_no_resident_text_to_unverified_addresses(self):
        w = Widget(self, self.sb, "127.0.2.50")
        ref = w.leave("typed@example.org", text=PHISH)["reference"]
        ack = json.loads(self.sql(
            "SELECT payload FROM outbox WHERE destination ="
            " 'typed@example.org'"))
        self.assertEqual(ack["kind"], "chat.left_message.ack")
        self.assertIn(ref, ack["text"])
        self.assertNotIn("pay now", ack["text"])
        self.assertNotIn("http://", ack["text"])
        # A transcript to an address only typed: a link to confirm it
        # first, which carries nothing the resident wrote.
        desk = Desk(self, self.sb, self.cookie())
        desk.status("busy")
        r = Widget(self, self.sb, "127.0.2.51")
        r.send(type="chat.start", id="s", queue="tax", name="Pat",
               email="Pat@Example.org")
        conv = r.wait_for("chat.started", id="s")["conversation"]
        cid = str(uuid.uuid4())
        r.send(type="message.send", id=cid, client_id=cid, text=PHISH)
        r.wait_for("message.ack", client_id=cid)
        r.send(type="chat.end")
        r.wait_for("chat.ended")
        r.send(type="transcript.request", id="t")
        r.wait_for("transcript.confirm", id="t")
        r.send(type="transcript.request", id="t2")  # asked again
        r.wait_for("transcript.confirm", id="t2")
        rows = self.sql("SELECT payload FROM outbox WHERE conversation_id ="
                        " %s" % conv).splitlines()
        self.assertEqual(len(rows), 1, rows)
        link = json.loads(rows[0])
        self.assertEqual(link["kind"], "chat.transcript.confirm")
        self.assertNotIn("pay now", link["text"])
        self.assertNotIn("Pat", link["text"])
        token = re.search(r"/widget/transcript/\?token=([A-Za-z0-9_-]+)",
                          link["text"]).group(1)
        self.assertEqual(len(token), 43)
        # The page the link opens is served; its script confirms.
        self.assertEqual(self.sb.get("/widget/transcript/").status, 200)
        self.assertEqual(self.sb.get(
            "/api/chat/transcript?token=" + "A" * 43).status, 404)
        self.assertEqual(self.sb.get("/api/chat/transcript?token=x").status,
                         400)
        r1 = self.sb.get("/api/chat/transcript?token=" + token)
        self.assertEqual(r1.status, 200, r1.body)
        self.assertEqual(r1.json(), {"status": "queued",
                                     "reference": link["reference"]})
        out = self.sql("SELECT destination || '|' || (payload->>'text') FROM"
                       " outbox WHERE conversation_id = %s AND"
                       " payload->>'kind' = 'chat.transcript'" % conv)
        self.assertTrue(out.startswith("pat@example.org|"), out)
        self.assertIn("pay now", out)  # now that the address is confirmed
        # Single use.
        r2 = self.sb.get("/api/chat/transcript?token=" + token)
        self.assertEqual((r2.status, r2.json()["status"]), (410, "used"))
        # An address verified for the chat's customer gets it at once.
        self.sql("UPDATE customer_identities SET verified = true WHERE"
                 " kind = 'email' AND value = 'pat@example.org'")
        r = Widget(self, self.sb, "127.0.2.52")
        r.send(type="chat.start", id="s", queue="tax", name="Pat",
               email="pat@example.org")
        conv2 = r.wait_for("chat.started", id="s")["conversation"]
        r.send(type="chat.end")
        r.wait_for("chat.ended")
        r.send(type="transcript.request", id="t")
        r.wait_for("transcript.queued", id="t")
        self.assertEqual(self.sql(
            "SELECT string_agg(payload->>'kind', ',') FROM outbox WHERE"
            " conversation_id = %s" % conv2), "chat.transcript")
        desk.status("away")


if __name__ == "__main__":
    harness.main()
