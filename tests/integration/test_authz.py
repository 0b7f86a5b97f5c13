"""Authorisation for every staff role, on REST and on every kind of desk
socket message (docs/api.md, docs/routing-protocol.md, docs/chat-protocol.md):
ada (advisor, queue tax) holds a chat; bob (advisor of another queue),
fay (feedback officer, no queue), sue (supervisor) and al (admin) try
each thing on it. A resident's socket tries staff messages. Each refusal
leaves the conversation as it was."""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_chat import WIDGET, Resident  # noqa: E402
from test_routing import Desk  # noqa: E402

ROLES = (("ada", "advisor"), ("bob", "advisor"), ("fay", "feedback_officer"),
         ("sue", "supervisor"), ("al", "admin"))


class AuthzTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        over = {"router": {"grace_period": 30, "sweep_interval_ms": 100},
                "widget_origins": [WIDGET]}
        cls.sb = harness.Switchboard(cls.pg, cls.redis, over, dbname=cls.db,
                                     start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (51, 'tax', 'Tax'),"
            " (52, 'bins', 'Bins');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (51, 'chat', 60, 30),"
            " (52, 'chat', 60, 30);", dbname=cls.db)
        cls.passwords = {}
        for login, role in ROLES:
            r = harness.run_switchboard(
                ["-c", cls.sb.conf, "user", "add", "--role", role,
                 "--name", login.title(), login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql("INSERT INTO queue_members (staff_id, queue_id) SELECT"
                    " id, CASE login WHEN 'ada' THEN 51 ELSE 52 END FROM"
                    " staff_users WHERE login IN ('ada', 'bob')",
                    dbname=cls.db)
        cls.sb.start()
        cls.sb.wait_ready()
        # The daemon has read its queues (slugs are known) once its topics
        # are served.
        harness.wait_for(
            lambda: cls.sb.request("GET", "/widget/topics.json").status == 200,
            10, what="the queues read")
        cls.cookies = {}

    def cookie(self, login):
        if login not in self.cookies:
            r = self.sb.request(
                "POST", "/api/session",
                headers={"Content-Type": "application/json"},
                body=json.dumps({"login": login, "password":
                                 self.passwords[login]}).encode())
            self.assertEqual(r.status, 200, r.body)
            self.cookies[login] = r.headers["set-cookie"].split(";", 1)[0]
        return self.cookies[login]

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def answer(self, desk, msg_id, **msg):
        """The answer to one message: its type, or error:<code>."""
        desk.send(id=msg_id, **msg)
        while True:
            m = desk.next()
            if m.get("id") == msg_id:
                return m["type"] if m["type"] != "error" else \
                    "error:" + m["code"]

    def held_chat(self):
        """A resident's chat in tax, accepted by ada; (resident, ada)."""
        ada = Desk(self, self.sb, self.cookie("ada"))
        ada.status("available")
        r = Resident(self, self.sb)
        r.start(queue="tax")
        ada.wait_for("offer", conversation=r.conv)
        self.assertEqual(self.answer(ada, "acc", type="offer.accept",
                                     conversation=r.conv), "offer.accepted")
        r.wait_for("chat.assigned")
        return r, ada

    def test_socket_messages_per_role(self):
        r, ada = self.held_chat()
        conv = r.conv
        desks = {login: Desk(self, self.sb, self.cookie(login))
                 for login in ("bob", "fay", "sue", "al")}
        expect = {
            # (message, fields): answer for bob, fay, sue, al
            ("conversation.history", ()): ("error:forbidden", "error:forbidden",
                                   "conversation.history", "conversation.history"),
            ("conversation.reply", (("client_id", "6f1c1d2e-6a4b-4c1d-9e2f-0a1b2c3d4e5f"), ("text", "hi"))):
                ("error:forbidden", "error:forbidden", None, None),
            ("conversation.note", (("client_id", "7f1c1d2e-6a4b-4c1d-9e2f-0a1b2c3d4e5f"),
                           ("text", "a note"))):
                ("error:forbidden", "error:forbidden", None, None),
            # typing is taken only on a chat the desk follows (its history
            # asked, which they were refused)
            ("conversation.typing", (("state", True),)):
                ("error:bad_message", "error:bad_message", None, None),
            ("conversation.end", ()): ("error:forbidden", "error:forbidden", None,
                               None),
            ("offer.accept", ()): ("error:not_offered", "error:not_offered",
                                   "error:not_offered", "error:not_offered"),
            ("conversation.release", (("why", "closed"),)):
                ("error:forbidden", "error:forbidden", None, None),
            ("conversation.transfer", (("queue", "52"),)):
                ("error:forbidden", "error:forbidden", None, None),
        }
        for (mtype, fields), answers in expect.items():
            for login, want in zip(("bob", "fay", "sue", "al"), answers):
                if want is None:
                    continue  # allowed, and would change the chat
                got = self.answer(desks[login], "x", type=mtype,
                                  conversation=conv, **dict(fields))
                self.assertEqual(got, want, (login, mtype))
        # nothing of that reached the resident or changed the chat
        self.assertEqual(self.sql(
            "SELECT status || ':' || assigned_staff_id FROM conversations"
            " WHERE id = %s" % conv),
            "assigned:" + ada.staff)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM messages WHERE conversation_id = %s"
            " AND author_kind = 'staff'" % conv), "0")
        # queues and the wallboard
        for login, want in (("bob", "error:forbidden"),
                            ("fay", "error:forbidden"),
                            ("sue", "queue.view"), ("al", "queue.view")):
            self.assertEqual(self.answer(desks[login], "q", type="queue.view",
                                         queue="51"), want, login)
        self.assertEqual(self.answer(ada, "q", type="queue.view",
                                     queue="51"), "queue.view")
        for login, want in (("bob", "error:forbidden"),
                            ("fay", "error:forbidden"),
                            ("sue", "wallboard.watching"),
                            ("al", "wallboard.watching")):
            self.assertEqual(self.answer(desks[login], "w",
                                         type="wallboard.watch"), want, login)
        self.assertEqual(self.answer(ada, "w", type="wallboard.watch"),
                         "error:forbidden")
        # the supervisor may act on it: a note, then closing it
        self.assertEqual(self.answer(desks["sue"], "n", type="conversation.note",
                                     conversation=conv, text="checked",
                                     client_id="8f1c1d2e-6a4b-4c1d-9e2f-"
                                               "0a1b2c3d4e5f"),
                         "conversation.noted")
        self.assertEqual(self.answer(desks["sue"], "rel",
                                     type="conversation.release",
                                     conversation=conv, why="closed"),
                         "conversation.released")

    def test_resident_socket_cannot_act_as_staff(self):
        r, ada = self.held_chat()
        other = Resident(self, self.sb)
        for mtype in ("conversation.history", "conversation.reply", "conversation.note",
                      "conversation.release", "conversation.transfer",
                      "offer.accept", "queue.view", "wallboard.watch",
                      "desk.status"):
            other.send(type=mtype, id="x", conversation=r.conv, text="x",
                       client_id="c", queue="51", why="closed",
                       status="available")
            m = other.wait_for("error", id="x")
            self.assertIn(m["code"], ("unauthorised", "bad_message",
                                      "unknown_type", "not_started"),
                          (mtype, m))
        self.assertEqual(self.sql(
            "SELECT status FROM conversations WHERE id = %s" % r.conv),
            "assigned")
        self.assertEqual(self.answer(ada, "rel", type="conversation.release",
                                     conversation=r.conv, why="closed"),
                         "conversation.released")

    def test_rest_per_role(self):
        r, ada = self.held_chat()
        conv = r.conv
        cust = self.sql("SELECT customer_id FROM conversations WHERE id = %s"
                        % conv)
        want = {
            "/api/conversations/%s/messages" % conv:
                {"ada": 200, "bob": 404, "fay": 200, "sue": 200, "al": 200},
            "/api/customers/%s" % cust:
                {"ada": 200, "bob": 200, "fay": 200, "sue": 200, "al": 200},
            "/api/customers/%s/export" % cust:
                {"ada": 403, "bob": 403, "fay": 200, "sue": 200, "al": 200},
            "/api/audit":
                {"ada": 403, "bob": 403, "fay": 403, "sue": 403, "al": 200},
        }
        for path, per in want.items():
            for login, status in per.items():
                got = self.sb.request("GET", path,
                                      headers={"Cookie": self.cookie(login)})
                self.assertEqual(got.status, status, (login, path, got.body))
        # bob's timeline of the customer leaves out ada's conversation
        got = self.sb.request("GET", "/api/customers/%s/timeline" % cust,
                              headers={"Cookie": self.cookie("bob")})
        self.assertEqual(json.loads(got.body), [])
        # moving someone else's conversation to another customer
        got = self.sb.request(
            "POST", "/api/conversations/%s/customer" % conv,
            headers={"Cookie": self.cookie("bob"),
                     "Content-Type": "application/json",
                     "X-Requested-With": "t"},
            body=json.dumps({"customer": int(cust)}).encode())
        self.assertEqual(got.status, 404, got.body)
        self.assertEqual(self.answer(ada, "rel", type="conversation.release",
                                     conversation=conv, why="closed"),
                         "conversation.released")

    def test_malformed_desk_messages_are_bad_message(self):
        """A malformed desk operation is refused bad_message, never
        "unavailable" (which tells a client to try again, for ever); a
        queue slug is a queue (issue 13 item 17)."""
        r, ada = self.held_chat()
        conv = r.conv
        sue = Desk(self, self.sb, self.cookie("sue"))
        bad = (
            ("conversation.transfer", {"queue": "no-such-queue"}),
            ("conversation.transfer", {"queue": 52}),
            ("conversation.transfer", {"queue": ["52"]}),
            ("conversation.transfer", {"advisor": "ada"}),
            ("conversation.transfer", {"advisor": 3}),
            ("conversation.transfer", {}),
            ("conversation.transfer", {"queue": "52", "note": 7}),
            ("conversation.transfer", {"queue": "52", "note": "x" * 4001}),
            ("desk.status", {"status": "sleeping"}),
            ("desk.status", {"status": "away", "reason": 5}),
            ("desk.status", {"status": "away", "reason": "r" * 64}),
            ("desk.status", {}),
            ("offer.accept", {"conversation": "tax"}),
            ("offer.reject", {"conversation": 12}),
            ("conversation.pick", {"conversation": ""}),
            ("conversation.release", {"why": "bored"}),
            ("conversation.release", {"conversation": "x", "why": "closed"}),
            ("queue.view", {"queue": "nope"}),
            ("queue.unwatch", {}),
        )
        for mtype, fields in bad:
            msg = dict(fields)
            if mtype.startswith(("conversation.", "offer.")):
                msg.setdefault("conversation", conv)
            for desk in (ada, sue):
                self.assertEqual(self.answer(desk, "m", type=mtype, **msg),
                                 "error:bad_message", (mtype, fields))
        # Nothing moved.
        self.assertEqual(self.sql(
            "SELECT status || ':' || queue_id FROM conversations"
            " WHERE id = %s" % conv), "assigned:51")
        # The slug of a queue names it, as queue.view's does.
        self.assertEqual(self.answer(ada, "t", type="conversation.transfer",
                                     conversation=conv, queue="bins"),
                         "conversation.transferred")
        self.assertEqual(self.sql(
            "SELECT queue_id FROM conversations WHERE id = %s" % conv), "52")
        self.assertEqual(self.answer(sue, "rel", type="conversation.release",
                                     conversation=conv, why="closed"),
                         "conversation.released")


if __name__ == "__main__":
    harness.main()
