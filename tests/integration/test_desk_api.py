"""What the desk asks about an advisor's own work (docs/api.md): the queues
by name (GET /api/queues), the summary of an offer (GET
/api/conversations/{id}/offer: the resident's name, the queue's name, the
first message as text, whether it is a left message; only for the advisor
it is offered to or assigned to, or a supervisor, whose read is audited)
and the advisor's preferences (GET/PATCH /api/me/preferences: off by
default, kept per advisor). Every endpoint refuses a request without a
session (401)."""

import json
import os
import sys
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_chat import Resident, WIDGET  # noqa: E402
from test_routing import Desk  # noqa: E402


class DeskApiTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.sb = harness.Switchboard(
            cls.pg, cls.redis, {"widget_origins": [WIDGET],
                                "router": {"sweep_interval_ms": 100}},
            dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.passwords = {}
        for login, role in (("ada", "advisor"), ("bob", "advisor"),
                            ("sue", "supervisor")):
            r = harness.run_switchboard(
                ["-c", cls.sb.conf, "user", "add", "--role", role,
                 "--name", login.title() + " Staff", login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql(
            "INSERT INTO councils (slug, name) VALUES ('demo', 'Demo');"
            "INSERT INTO queues (id, slug, name) VALUES"
            " (41, 'council-tax', 'Council Tax'),"
            " (42, 'bins', 'Bins and recycling');"
            "INSERT INTO queues (id, slug, name, active) VALUES"
            " (43, 'old', 'Old queue', false);"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (41, 'chat', 60, 60),"
            " (42, 'chat', 60, 60), (42, 'email', 3600, 60);"
            # ada and bob both serve council tax; only ada serves bins.
            "INSERT INTO queue_members (staff_id, queue_id) SELECT id, q"
            " FROM staff_users, (VALUES (41), (42)) v(q) WHERE login = 'ada';"
            "INSERT INTO queue_members (staff_id, queue_id) SELECT id, 41"
            " FROM staff_users WHERE login = 'bob';", dbname=cls.db)
        cls.sb.start()
        cls.sb.wait_ready()
        cls.cookies = {}

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

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

    def call(self, login, method, path, body=None, csrf=True,
             ctype="application/json"):
        headers = {"Cookie": self.cookie(login)} if login else {}
        if csrf:
            headers["X-Requested-With"] = "test"
        if body is not None:
            headers["Content-Type"] = ctype
            body = json.dumps(body).encode()
        r = self.sb.request(method, path, headers=headers, body=body)
        return r.status, json.loads(r.body) if r.body else None

    def desk(self, login, status="available"):
        d = Desk(self, self.sb, self.cookie(login))
        d.status(status)
        return d

    def audits(self, conv):
        return self.sql("SELECT string_agg(actor || ':' || action || ':' ||"
                        " (detail->>'via'), ',' ORDER BY id) FROM audit_log"
                        " WHERE object_kind = 'conversation' AND object_id ="
                        " '%s'" % conv)

    # ------------------------------------------------------------ routes

    def test_routes_404_and_405_come_from_the_tables(self):
        """A path no route's pattern holds is 404; a method its routes do
        not take is 405 with Allow; both before the session is looked at.
        A route found still needs its session, role and header."""
        ck = self.cookie("ada")
        wrong_method = [
            ("DELETE", "/api/customers/7", "GET, PATCH"),
            ("POST", "/api/queues/31/advisors", "GET"),
            ("HEAD", "/api/queues", "GET"),
            ("PUT", "/api/session", "GET, POST, DELETE"),
            ("GET", "/api/staff/5/password", "POST"),
            ("DELETE", "/api/canned", "GET, POST"),
            ("OPTIONS", "/api/me/preferences", "GET, PATCH"),
        ]
        no_route = ["/api/customers/0", "/api/customers/007",
                    "/api/customers/9007199254740992",
                    "/api/customers/99999999999999999999", "/api/queues/",
                    "/api/customers/7/", "/api/nothing", "/api/",
                    "/api/customers/7/timeline/x"]
        for headers in ({}, {"Cookie": ck}):
            for method, path, allow in wrong_method:
                r = self.sb.request(method, path, headers=headers)
                what = (headers, method, path)
                self.assertEqual(r.status, 405, what)
                self.assertEqual(r.headers.get("allow"), allow, what)
                if method != "HEAD":
                    self.assertEqual(json.loads(r.body),
                                     {"error": "method not allowed"}, what)
            for path in no_route:
                r = self.sb.request("GET", path, headers=headers)
                self.assertEqual(r.status, 404, (headers, path))
                self.assertEqual(json.loads(r.body), {"error": "not found"})
        # libwebsockets decodes and folds a path before any route sees it.
        for path in ("/api//queues", "/api/x/../queues",
                     "/api/me%2Fpreferences"):
            r = self.sb.request("GET", path, headers={"Cookie": ck})
            self.assertEqual(r.status, 200, path)
        # The largest id is an id (no such customer: the handler's 404).
        status, body = self.call("ada", "GET",
                                 "/api/customers/9007199254740991")
        self.assertEqual((status, body), (404, {"error": "no such customer"}))
        status, body = self.call(None, "GET", "/api/customers/7")
        self.assertEqual(status, 401, body)
        status, body = self.call("ada", "GET", "/api/staff")
        self.assertEqual((status, body),
                         (403, {"error": "only admins manage accounts"}))
        status, body = self.call("ada", "PATCH", "/api/me/preferences",
                                 {"offer_sound": True}, csrf=False)
        self.assertEqual((status, body),
                         (403, {"error": "X-Requested-With header required"}))

    # ------------------------------------------------------------ queues

    def test_queues_by_name(self):
        status, body = self.call("bob", "GET", "/api/queues")
        self.assertEqual(status, 200, body)
        qs = {q["id"]: q for q in body}
        self.assertEqual(sorted(qs), [41, 42, 43])
        self.assertEqual(qs[41]["name"], "Council Tax")
        self.assertEqual(qs[41]["slug"], "council-tax")
        self.assertEqual(qs[42]["channels"], ["chat", "email"])
        self.assertTrue(qs[41]["serves"])
        self.assertFalse(qs[42]["serves"], "bob does not serve bins")
        self.assertFalse(qs[43]["active"])
        # By name, for the desk's lists.
        self.assertEqual([q["name"] for q in body],
                         ["Bins and recycling", "Council Tax", "Old queue"])
        status, body = self.call("ada", "GET", "/api/queues")
        self.assertTrue(all(q["serves"] for q in body if q["id"] != 43))
        # A supervisor's too (the admin page's membership picker uses it).
        status, body = self.call("sue", "GET", "/api/queues")
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body), 3)
        status, body = self.call(None, "GET", "/api/queues")
        self.assertEqual(status, 401, body)
        status, body = self.call("ada", "POST", "/api/queues", {})
        self.assertEqual(status, 405, body)

    # ------------------------------------------------------------ offers

    def test_offer_summary_only_to_whom_it_is_offered(self):
        ada = self.desk("ada", "busy")
        res = Resident(self, self.sb)
        res.start(queue="council-tax", name="  Sam   Taylor ",
                  email="sam.taylor@example.com")
        conv = res.conv
        cid = res.say("  My   council tax\n\nbill is <b>wrong</b>  ")
        res.ack(cid)
        res.say("A second message")
        ada.status("available")
        ada.wait_for("offer", conversation=conv)

        status, body = self.call("ada", "GET",
                                 "/api/conversations/%s/offer" % conv)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["conversation"], str(conv))
        self.assertEqual(body["name"], "Sam   Taylor")
        self.assertEqual(body["queue"], 41)
        self.assertEqual(body["queue_name"], "Council Tax")
        self.assertEqual(body["channel"], "chat")
        self.assertFalse(body["left_message"])
        # The first message, white space folded, as text (never HTML).
        self.assertEqual(body["first_message"],
                         "My council tax bill is <b>wrong</b>")
        self.assertRegex(body["reference"], r"^SB[0-9]+$")
        # The advisor it is offered to reads it unaudited (as conversation.history).
        self.assertEqual(self.audits(conv), "")

        # Another advisor of the same queue: as if it did not exist.
        status, body = self.call("bob", "GET",
                                 "/api/conversations/%s/offer" % conv)
        self.assertEqual(status, 404, body)
        self.assertNotIn("Sam", json.dumps(body))
        status, body = self.call(None, "GET",
                                 "/api/conversations/%s/offer" % conv)
        self.assertEqual(status, 401, body)
        status, body = self.call("bob", "GET",
                                 "/api/conversations/99999999/offer")
        self.assertEqual(status, 404, body)
        status, body = self.call("ada", "DELETE",
                                 "/api/conversations/%s/offer" % conv)
        self.assertEqual(status, 405, body)

        # A supervisor may, and that read is audited.
        status, body = self.call("sue", "GET",
                                 "/api/conversations/%s/offer" % conv)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["name"], "Sam   Taylor")
        self.assertEqual(self.audits(conv), "sue:conversation.view:offer")

        # Accepted: still ada's (assigned), still not bob's.
        ada.send(type="offer.accept", conversation=conv, id="acc")
        ada.wait_for("offer.accepted", id="acc")
        harness.wait_for(lambda: self.sql(
            "SELECT status FROM conversations WHERE id = %s" % conv)
            == "assigned", 10, what="assigned in PostgreSQL")
        status, body = self.call("ada", "GET",
                                 "/api/conversations/%s/offer" % conv)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "assigned")
        status, body = self.call("bob", "GET",
                                 "/api/conversations/%s/offer" % conv)
        self.assertEqual(status, 404, body)
        ada.release(conv)
        ada.status("busy")

    def test_offer_of_a_left_message(self):
        ada = self.desk("ada", "busy")
        # A left message: offered like a chat, its text is the message.
        res = Resident(self, self.sb)
        long_text = "Bin not collected. " + "x" * 400
        res.send(type="message.leave", id="l", queue="bins", name="Lou Late",
                 email="lou@example.org", text=long_text,
                 client_id=str(uuid.uuid4()))
        conv = res.wait_for("message.left", id="l")["conversation"]
        ada.status("available")
        ada.wait_for("offer", conversation=conv)
        status, body = self.call("ada", "GET",
                                 "/api/conversations/%s/offer" % conv)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["left_message"])
        self.assertEqual(body["name"], "Lou Late")
        self.assertEqual(body["queue_name"], "Bins and recycling")
        # Cut to 200 characters, marked with an ellipsis.
        self.assertEqual(len(body["first_message"]), 200)
        self.assertTrue(body["first_message"].startswith("Bin not collected"))
        self.assertTrue(body["first_message"].endswith("\u2026"))
        ada.send(type="offer.reject", conversation=conv, id="rej")
        ada.wait_for("offer.rejected", id="rej")
        # Ada is the only advisor on shift, so the refusal does not hold
        # and it is offered to her again (router.md, "Refusals"); going
        # busy withdraws it: then it is no longer ada's to read.
        ada.wait_for("offer", conversation=conv)
        ada.status("busy")
        ada.wait_for("conversation.removed", conversation=conv)
        status, body = self.call("ada", "GET",
                                 "/api/conversations/%s/offer" % conv)
        self.assertEqual(status, 404, body)

    def test_offer_before_the_resident_wrote(self):
        ada = self.desk("ada", "busy")
        res = Resident(self, self.sb)
        res.start(queue="bins", name="Nat Quiet")
        ada.status("available")
        ada.wait_for("offer", conversation=res.conv)
        status, body = self.call("ada", "GET",
                                 "/api/conversations/%s/offer" % res.conv)
        self.assertEqual(status, 200, body)
        self.assertIsNone(body["first_message"])
        self.assertFalse(body["left_message"])
        ada.send(type="offer.reject", conversation=res.conv, id="rej")
        ada.wait_for("offer.rejected", id="rej")
        ada.status("busy")

    # ------------------------------------------------------------ prefs

    def test_preferences_off_by_default_kept_per_advisor(self):
        status, body = self.call("bob", "GET", "/api/me/preferences")
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"offer_sound": False,
                                "offer_notification": False})
        status, body = self.call("bob", "PATCH", "/api/me/preferences",
                                 {"offer_sound": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"offer_sound": True,
                                "offer_notification": False})
        status, body = self.call("bob", "PATCH", "/api/me/preferences",
                                 {"offer_notification": True})
        self.assertEqual(body, {"offer_sound": True,
                                "offer_notification": True})
        # A new session (another machine) reads the same.
        self.cookies.pop("bob")
        status, body = self.call("bob", "GET", "/api/me/preferences")
        self.assertEqual(body, {"offer_sound": True,
                                "offer_notification": True})
        # Someone else's are their own.
        status, body = self.call("sue", "GET", "/api/me/preferences")
        self.assertEqual(body, {"offer_sound": False,
                                "offer_notification": False})
        status, body = self.call("bob", "PATCH", "/api/me/preferences",
                                 {"offer_sound": False})
        self.assertEqual(body, {"offer_sound": False,
                                "offer_notification": True})

    def test_preferences_refused(self):
        for bad in ({}, {"offer_sound": "yes"}, {"offer_sound": 1},
                    {"volume": 3}, {"offer_sound": True, "x": False}):
            status, body = self.call("ada", "PATCH", "/api/me/preferences",
                                     bad)
            self.assertEqual(status, 400, (bad, body))
        status, body = self.call("ada", "PATCH", "/api/me/preferences",
                                 {"offer_sound": True}, csrf=False)
        self.assertEqual(status, 403, body)
        status, body = self.call("ada", "PATCH", "/api/me/preferences",
                                 {"offer_sound": True}, ctype="text/plain")
        self.assertEqual(status, 415, body)
        status, body = self.call(None, "PATCH", "/api/me/preferences",
                                 {"offer_sound": True})
        self.assertEqual(status, 401, body)
        status, body = self.call(None, "GET", "/api/me/preferences")
        self.assertEqual(status, 401, body)
        status, body = self.call("ada", "POST", "/api/me/preferences",
                                 {"offer_sound": True})
        self.assertEqual(status, 405, body)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM staff_preferences p JOIN staff_users u"
            " ON u.id = p.staff_id WHERE u.login = 'ada'"), "0")


if __name__ == "__main__":
    harness.main()
