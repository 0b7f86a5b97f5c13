"""Canned responses and wrap-up dispositions (docs/api.md,
docs/routing-protocol.md): canned responses read per queue and written by
supervisors and admins only (CSRF header, validation with reasons,
audited); disposition codes per queue managed by admins; and
conversation.wrap_up on the desk protocol: codes checked against the
conversation's queue, only its advisor (or a supervisor) may wrap it up,
the disposition stored, the conversation closed and the capacity freed."""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_routing import Desk, chat_resident  # noqa: E402

HOSTILE = "<script>alert(1)</script>"


class CannedWrapUpTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.sb = harness.Switchboard(cls.pg, cls.redis, dbname=cls.db,
                                     start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.passwords = {}
        for login, role in (("ada", "advisor"), ("bob", "advisor"),
                            ("sue", "supervisor"), ("root", "admin")):
            r = harness.run_switchboard(
                ["-c", cls.sb.conf, "user", "add", "--role", role,
                 "--name", login.title(), login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql(
            "INSERT INTO councils (slug, name) VALUES ('demo', 'Demo"
            " District Council');"
            "INSERT INTO queues (id, slug, name) VALUES (31, 'tax', 'Tax'),"
            " (32, 'bins', 'Bins'), (33, 'free', 'Free');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (31, 'chat', 60, 30),"
            " (32, 'chat', 60, 30), (33, 'chat', 60, 30);"
            "INSERT INTO queue_members (staff_id, queue_id) SELECT id, q"
            " FROM staff_users, (VALUES (31), (33)) v(q) WHERE login = 'ada';"
            "INSERT INTO queue_members (staff_id, queue_id) SELECT id, 32"
            " FROM staff_users WHERE login = 'bob';"
            # ada takes one chat at a time: a freed capacity shows.
            "INSERT INTO staff_capacity (staff_id, channel, capacity)"
            " SELECT id, 'chat', 1 FROM staff_users WHERE login = 'ada';"
            "INSERT INTO canned_responses (title, body, shortcut, queue_id,"
            " active) VALUES ('Hello', 'Hello {resident.first_name}',"
            " 'hello', NULL, true), ('Tax ref', 'Ref {reference}', 'taxref',"
            " 31, true), ('Bins day', 'Bins go out on {day}', 'binday', 32,"
            " true), ('Old', 'Old text', NULL, NULL, false);"
            "INSERT INTO disposition_codes (queue_id, kind, code, label,"
            " position, active) VALUES"
            " (31, 'reason', 'bill', 'Question about a bill', 10, true),"
            " (31, 'reason', 'moving', 'Moving home', 20, true),"
            " (31, 'reason', 'retired', 'Retired reason', 30, false),"
            " (31, 'outcome', 'resolved', 'Resolved', 10, true),"
            " (31, 'outcome', 'follow-up', 'Follow-up needed', 20, true),"
            " (32, 'reason', 'missed', 'Missed bin', 10, true),"
            " (32, 'outcome', 'done', 'Done', 10, true);",
            dbname=cls.db)
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

    def titles(self, login, query=""):
        status, body = self.call(login, "GET", "/api/canned" + query)
        self.assertEqual(status, 200, body)
        return sorted(c["title"] for c in body["responses"])

    # ------------------------------------------------------------ canned

    def test_advisors_of_a_queue_for_transfers(self):
        status, body = self.call("bob", "GET", "/api/queues/31/advisors")
        self.assertEqual(status, 200, body)
        self.assertEqual([a["name"] for a in body["advisors"]], ["Ada"])
        status, body = self.call("ada", "GET", "/api/queues/32/advisors")
        self.assertEqual([a["name"] for a in body["advisors"]], ["Bob"])
        status, body = self.call("ada", "GET", "/api/queues/999/advisors")
        self.assertEqual(status, 404, body)
        status, body = self.call(None, "GET", "/api/queues/31/advisors")
        self.assertEqual(status, 401, body)

    def test_canned_signed_in_only(self):
        status, body = self.call(None, "GET", "/api/canned")
        self.assertEqual(status, 401)
        status, body = self.call(None, "GET", "/api/queues/31/dispositions")
        self.assertEqual(status, 401)

    def test_canned_read_by_queue(self):
        status, body = self.call("ada", "GET", "/api/canned")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["council"], "Demo District Council")
        self.assertEqual([q["id"] for q in body["queues"]], [31, 33])
        hello = [c for c in body["responses"] if c["title"] == "Hello"][0]
        self.assertEqual(hello["body"], "Hello {resident.first_name}")
        self.assertEqual(hello["shortcut"], "hello")
        self.assertIsNone(hello["queue"])
        # ada: global ones and her queues' (not bins', not inactive).
        self.assertNotIn("Bins day", self.titles("ada"))
        self.assertIn("Tax ref", self.titles("ada"))
        self.assertNotIn("Old", self.titles("ada"))
        self.assertNotIn("Old", self.titles("ada", "?all=1"))
        self.assertIn("Bins day", self.titles("bob"))
        self.assertNotIn("Tax ref", self.titles("bob"))
        # Narrowed to a queue: that queue's and the global ones.
        self.assertNotIn("Tax ref", self.titles("ada", "?queue=33"))
        self.assertIn("Hello", self.titles("ada", "?queue=33"))
        status, body = self.call("ada", "GET", "/api/canned?queue=x")
        self.assertEqual(status, 400)
        status, body = self.call("ada", "GET", "/api/canned?queue=31x")
        self.assertEqual(status, 400)
        # Supervisors see every queue's; inactive ones when asked.
        self.assertIn("Bins day", self.titles("sue"))
        self.assertNotIn("Old", self.titles("sue"))
        self.assertIn("Old", self.titles("sue", "?all=1"))

    def test_canned_write_roles_and_csrf(self):
        new = {"title": "Opening hours", "body": "We are open 9 to 5,"
               " {resident.first_name}.", "shortcut": "hours"}
        status, body = self.call("ada", "POST", "/api/canned", new)
        self.assertEqual(status, 403, body)
        status, body = self.call("sue", "POST", "/api/canned", new,
                                 csrf=False)
        self.assertEqual(status, 403, body)
        self.assertIn("X-Requested-With", body["error"])
        status, body = self.call("sue", "POST", "/api/canned", new,
                                 ctype="text/plain")
        self.assertEqual(status, 415, body)
        self.assertEqual(self.sql("SELECT count(*) FROM canned_responses"
                                  " WHERE shortcut = 'hours'"), "0")
        status, body = self.call("sue", "POST", "/api/canned", new)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["title"], "Opening hours")
        self.assertEqual(body["updated_by"], "Sue")
        self.assertTrue(body["active"])
        cid = body["id"]
        self.assertEqual(self.sql(
            "SELECT count(*) FROM audit_log WHERE action = 'canned.create'"
            " AND actor = 'sue' AND object_id = '%s'" % cid), "1")
        self.assertIn("Opening hours", self.titles("ada"))
        # The same active shortcut again: a conflict.
        status, body = self.call("root", "POST", "/api/canned",
                                 dict(new, title="Hours again"))
        self.assertEqual(status, 409, body)
        # Edits: advisors may not; a supervisor deactivates it.
        status, body = self.call("ada", "PATCH", "/api/canned/%s" % cid,
                                 {"active": False})
        self.assertEqual(status, 403, body)
        status, body = self.call("sue", "PATCH", "/api/canned/%s" % cid,
                                 {"active": False}, csrf=False)
        self.assertEqual(status, 403, body)
        status, body = self.call("sue", "PATCH", "/api/canned/%s" % cid,
                                 {"active": False, "queue": 31})
        self.assertEqual(status, 200, body)
        self.assertFalse(body["active"])
        self.assertEqual(body["queue"], 31)
        self.assertNotIn("Opening hours", self.titles("ada"))
        self.assertEqual(self.sql(
            "SELECT count(*) FROM audit_log WHERE action = 'canned.edit'"
            " AND actor = 'sue'"), "1")
        # Its shortcut is free again for an active one; an admin writes.
        status, body = self.call("root", "POST", "/api/canned",
                                 dict(new, title="Hours (new)",
                                      body=HOSTILE))
        self.assertEqual(status, 201, body)
        self.assertEqual(body["body"], HOSTILE)
        status, body = self.call("sue", "PATCH", "/api/canned/999999",
                                 {"active": False})
        self.assertEqual(status, 404, body)
        status, body = self.call("sue", "DELETE", "/api/canned/%s" % cid)
        self.assertEqual(status, 405, body)

    def test_canned_validation(self):
        status, body = self.call("sue", "POST", "/api/canned", {
            "body": "x" * 4001, "shortcut": "Not Valid", "queue": "tax",
            "colour": "red", "active": "yes"})
        self.assertEqual(status, 400, body)
        self.assertEqual(sorted(body["fields"]), ["active", "body", "colour",
                                                  "queue", "shortcut",
                                                  "title"])
        self.assertIn("title is required", body["error"])
        status, body = self.call("sue", "POST", "/api/canned",
                                 {"title": "   ", "body": "x"})
        self.assertEqual(status, 400, body)
        self.assertEqual(list(body["fields"]), ["title"])
        status, body = self.call("sue", "POST", "/api/canned",
                                 {"title": "t", "body": "x", "queue": 999})
        self.assertEqual(status, 400, body)
        self.assertIn("queue", body["error"])
        status, body = self.call("sue", "PATCH", "/api/canned/1", {})
        self.assertEqual(status, 400, body)
        r = self.sb.request("POST", "/api/canned", headers={
            "Cookie": self.cookie("sue"), "X-Requested-With": "t",
            "Content-Type": "application/json"}, body=b"{not json")
        self.assertEqual(r.status, 400)

    # ------------------------------------------------------------ codes

    def test_codes_rest(self):
        status, body = self.call("ada", "GET", "/api/queues/31/dispositions")
        self.assertEqual(status, 200, body)
        self.assertEqual([c["code"] for c in body["reason"]],
                         ["bill", "moving"])
        self.assertEqual([c["code"] for c in body["outcome"]],
                         ["resolved", "follow-up"])
        self.assertEqual(body["outcome"][0]["label"], "Resolved")
        status, body = self.call("root", "GET",
                                 "/api/queues/31/dispositions?all=1")
        self.assertIn("retired", [c["code"] for c in body["reason"]])
        status, body = self.call("ada", "GET",
                                 "/api/queues/999/dispositions")
        self.assertEqual(status, 404, body)
        new = {"kind": "outcome", "code": "callback", "label": "Callback"
               " booked", "position": 30}
        for who in ("ada", "sue"):
            status, body = self.call(who, "POST",
                                     "/api/queues/33/dispositions", new)
            self.assertEqual(status, 403, body)
        status, body = self.call("root", "POST",
                                 "/api/queues/33/dispositions", new,
                                 csrf=False)
        self.assertEqual(status, 403, body)
        status, body = self.call("root", "POST",
                                 "/api/queues/33/dispositions",
                                 {"kind": "mood", "code": "Bad Code!"})
        self.assertEqual(status, 400, body)
        self.assertEqual(sorted(body["fields"]), ["code", "kind", "label"])
        status, body = self.call("root", "POST",
                                 "/api/queues/999/dispositions", new)
        self.assertEqual(status, 400, body)
        status, body = self.call("root", "POST",
                                 "/api/queues/33/dispositions", new)
        self.assertEqual(status, 201, body)
        code = body["id"]
        status, body = self.call("root", "POST",
                                 "/api/queues/33/dispositions", new)
        self.assertEqual(status, 409, body)
        status, body = self.call("ada", "GET", "/api/queues/33/dispositions")
        self.assertEqual([c["code"] for c in body["outcome"]], ["callback"])
        status, body = self.call("root", "PATCH", "/api/dispositions/%s"
                                 % code, {"code": "other"})
        self.assertEqual(status, 400, body)
        status, body = self.call("root", "PATCH", "/api/dispositions/%s"
                                 % code, {"active": False, "label": "Old"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["label"], "Old")
        status, body = self.call("ada", "GET", "/api/queues/33/dispositions")
        self.assertEqual(body["outcome"], [])
        self.assertEqual(self.sql(
            "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log"
            " WHERE object_kind = 'disposition_code'"),
            "disposition_code.create,disposition_code.edit")

    # ------------------------------------------------------------ wrap-up

    def resident(self, queue="tax", name="Ann Example"):
        """A chat waiting in queue, its resident on switchboard.chat.v1."""
        r = chat_resident(self, self.sb, origin=None)
        r.start(queue=queue, name=name)
        return r, r.conv

    def accepted(self, desk, queue="tax"):
        ws, conv = self.resident(queue)
        desk.wait_for("offer", conversation=conv)
        desk.send(type="offer.accept", conversation=conv, id="acc")
        desk.wait_for("offer.accepted", id="acc")
        harness.wait_for(lambda: self.sql(
            "SELECT status FROM conversations WHERE id = %s" % conv)
            == "assigned", 10, what="assigned in PostgreSQL")
        return ws, conv

    def wrap(self, desk, conv, rid, **fields):
        desk.send(type="conversation.wrap_up", conversation=conv, id=rid,
                  **fields)
        skipped = []
        m = desk.next()
        while m.get("id") != rid:
            skipped.append(m)
            m = desk.next()
        desk.pending = skipped + desk.pending
        return m

    def test_wrap_up(self):
        ada = Desk(self, self.sb, self.cookie("ada"))
        ada.status("available")
        bob = Desk(self, self.sb, self.cookie("bob"))
        ws, conv = self.accepted(ada)
        # Codes must be active codes of the conversation's queue.
        m = self.wrap(ada, conv, "w1", reason="nope", outcome="resolved")
        self.assertEqual((m["type"], m["code"], m["field"]),
                         ("error", "bad_message", "reason"), m)
        m = self.wrap(ada, conv, "w2", reason="missed", outcome="resolved")
        self.assertEqual((m["code"], m["field"]), ("bad_message", "reason"))
        m = self.wrap(ada, conv, "w3", reason="retired", outcome="resolved")
        self.assertEqual((m["code"], m["field"]), ("bad_message", "reason"))
        m = self.wrap(ada, conv, "w4", reason="bill", outcome="done")
        self.assertEqual((m["code"], m["field"]), ("bad_message", "outcome"))
        m = self.wrap(ada, conv, "w5", reason="bill")
        self.assertEqual((m["code"], m["field"]), ("bad_message", "outcome"))
        m = self.wrap(ada, conv, "w6", reason="bill", outcome="resolved",
                      note="x" * 4001)
        self.assertEqual(m["code"], "bad_message")
        m = self.wrap(ada, conv, "w7", reason=3, outcome="resolved")
        self.assertEqual(m["code"], "bad_message")
        # Someone else's conversation: an advisor of another queue.
        m = self.wrap(bob, conv, "w8", reason="bill", outcome="resolved")
        self.assertEqual(m["code"], "forbidden", m)
        self.assertEqual(self.sql("SELECT count(*) FROM"
                                  " conversation_dispositions WHERE"
                                  " conversation_id = %s" % conv), "0")
        # A second resident waits: ada has room for one chat only.
        ws2, conv2 = self.resident()
        m = self.wrap(ada, conv, "w9", reason="moving", outcome="follow-up",
                      note="Moving on 1 May; " + HOSTILE)
        self.assertEqual(m, {"type": "conversation.wrapped_up",
                             "conversation": conv, "id": "w9"})
        ada.wait_for("conversation.removed", conversation=conv,
                     reason="released")
        self.assertEqual(self.sql(
            "SELECT r.code || ':' || o.code || ':' || d.note || ':' ||"
            " s.login || ':' || d.queue_id FROM conversation_dispositions d"
            " JOIN disposition_codes r ON r.id = d.reason_id"
            " JOIN disposition_codes o ON o.id = d.outcome_id"
            " JOIN staff_users s ON s.id = d.staff_id"
            " WHERE d.conversation_id = %s" % conv),
            "moving:follow-up:Moving on 1 May; %s:ada:31" % HOSTILE)
        harness.wait_for(lambda: self.sql(
            "SELECT status FROM conversations WHERE id = %s" % conv)
            == "closed", 10, what="closed")
        self.assertEqual(self.sql(
            "SELECT count(*) FROM conversation_events WHERE"
            " conversation_id = %s AND kind = 'wrapped_up'" % conv), "1")
        # Capacity freed: the waiting chat is offered to ada at once.
        ada.wait_for("offer", conversation=conv2)
        # Wrapped up and closed: not again.
        m = self.wrap(ada, conv, "w10", reason="bill", outcome="resolved")
        self.assertEqual(m["code"], "not_found", m)
        self.check_wrap_up_readable(conv, conv2)
        ada.send(type="offer.accept", conversation=conv2, id="acc2")
        ada.wait_for("offer.accepted", id="acc2")
        ada.release(conv2)
        ada.status("away")

    def check_wrap_up_readable(self, conv, open_conv):
        """The stored wrap-up is read back on the customer's timeline, in
        the thread and in the export: codes, labels, note (as text), who
        and when; null while a conversation is not wrapped up."""
        cust = self.sql(
            "INSERT INTO customers (display_name) VALUES ('Ann Example')"
            " RETURNING id")
        self.sql("UPDATE conversations SET customer_id = %s WHERE id IN"
                 " (%s, %s)" % (cust, conv, open_conv))
        at = int(self.sql(
            "SELECT (extract(epoch FROM created_at) * 1000)::bigint FROM"
            " conversation_dispositions WHERE conversation_id = %s" % conv))
        want = {"reason": "moving", "reason_label": "Moving home",
                "outcome": "follow-up", "outcome_label": "Follow-up needed",
                "note": "Moving on 1 May; " + HOSTILE, "by": "Ada",
                "at": at}
        status, items = self.call("ada", "GET",
                                  "/api/customers/%s/timeline" % cust)
        self.assertEqual(status, 200, items)
        got = {t["conversation"]: t["wrap_up"] for t in items}
        self.assertEqual(got, {conv: want, open_conv: None})
        status, thread = self.call(
            "ada", "GET", "/api/conversations/%s/messages" % conv)
        self.assertEqual((status, thread["wrap_up"]), (200, want))
        status, thread = self.call(
            "ada", "GET", "/api/conversations/%s/messages" % open_conv)
        self.assertEqual((status, thread["wrap_up"]), (200, None))
        status, doc = self.call("sue", "GET",
                                "/api/customers/%s/export" % cust)
        self.assertEqual(status, 200, doc)
        got = {c["conversation"]: c["wrap_up"] for c in doc["conversations"]}
        self.assertEqual(got, {conv: want, open_conv: None})
        # Another queue's advisor sees neither the contact nor its wrap-up.
        status, items = self.call("bob", "GET",
                                  "/api/customers/%s/timeline" % cust)
        self.assertEqual((status, items), (200, []))

    def test_disposition_report(self):
        """Counts per queue, reason and outcome over the council's local
        days (Europe/London: a wrap-up at 23:30 UTC on 30 June is 1 July),
        for supervisors and admins; dates checked."""
        self.sql(
            "INSERT INTO queues (id, slug, name) VALUES (34, 'rep',"
            " 'Report queue');"
            "INSERT INTO disposition_codes (queue_id, kind, code, label,"
            " active) VALUES (34, 'reason', 'r-a', 'Reason A', true),"
            " (34, 'reason', 'r-b', 'Reason B', false),"
            " (34, 'outcome', 'o-a', 'Outcome A', true);"
            "WITH c AS (INSERT INTO customers (display_name) VALUES"
            " ('Report Person') RETURNING id)"
            " INSERT INTO conversations (customer_id, channel, queue_id,"
            " status) SELECT c.id, 'chat', 34, 'closed' FROM c,"
            " generate_series(1, 5);"
            "WITH v AS (SELECT id, row_number() OVER (ORDER BY id) n FROM"
            " conversations WHERE queue_id = 34)"
            " INSERT INTO conversation_dispositions (conversation_id,"
            " queue_id, reason_id, outcome_id, created_at)"
            " SELECT v.id, 34, CASE WHEN v.n <= 2 THEN (SELECT id FROM"
            " disposition_codes WHERE code = 'r-a') WHEN v.n = 3 THEN"
            " (SELECT id FROM disposition_codes WHERE code = 'r-b') END,"
            " CASE WHEN v.n <> 4 THEN (SELECT id FROM disposition_codes"
            " WHERE code = 'o-a') END, CASE v.n"
            " WHEN 1 THEN '2026-06-30 23:30+00'::timestamptz"
            " WHEN 2 THEN '2026-07-01 12:00+00' WHEN 3 THEN"
            " '2026-07-01 22:59+00' WHEN 4 THEN '2026-07-02 10:00+00'"
            " ELSE '2026-06-30 22:59+00' END FROM v")
        status, r = self.call("sue", "GET", "/api/reports/dispositions"
                              "?from=2026-07-01&to=2026-07-02&queue=34")
        self.assertEqual(status, 200, r)
        self.assertEqual((r["from"], r["to"], r["queue"], r["wrapped_up"],
                          r["timezone"]),
                         ("2026-07-01", "2026-07-02", 34, 4,
                          "Europe/London"))
        q, = r["queues"]
        self.assertEqual((q["id"], q["name"], q["wrapped_up"]),
                         (34, "Report queue", 4))
        self.assertEqual([(x["code"], x["label"], x["active"], x["count"])
                          for x in q["reasons"]],
                         [("r-a", "Reason A", True, 2),
                          ("r-b", "Reason B", False, 1),
                          (None, None, None, 1)])
        self.assertEqual([(x["code"], x["count"]) for x in q["outcomes"]],
                         [("o-a", 3), (None, 1)])
        # One day: 1 July only (23:30 UTC on 30 June is 00:30 in London).
        status, r = self.call("root", "GET", "/api/reports/dispositions"
                              "?from=2026-07-01&to=2026-07-01")
        self.assertEqual(status, 200, r)
        got = {q["id"]: q["wrapped_up"] for q in r["queues"]}
        self.assertEqual(got.get(34), 3, r)
        # The last 7 days by default; other queues' wrap-ups count too.
        status, r = self.call("sue", "GET", "/api/reports/dispositions")
        self.assertEqual(status, 200, r)
        self.assertNotIn(34, [q["id"] for q in r["queues"]])
        # Only supervisors and admins; bad dates and queues are refused.
        status, r = self.call("ada", "GET", "/api/reports/dispositions")
        self.assertEqual((status, r["error"]),
                         (403, "reports are for supervisors and admins"))
        for q in ("from=2026-07-01", "from=2026-7-1&to=2026-07-02",
                  "from=2026-02-29&to=2026-03-01",
                  "from=2026-07-02&to=2026-07-01",
                  "from=2025-06-30&to=2026-07-01",
                  "from=2026-07-01&to=2026-07-02&queue=x"):
            status, r = self.call("sue", "GET",
                                  "/api/reports/dispositions?" + q)
            self.assertEqual(status, 400, (q, r))
        status, r = self.call("sue", "GET", "/api/reports/dispositions"
                              "?from=2025-07-01&to=2026-07-01")
        self.assertEqual(status, 200, r)  # 366 days, both ends: allowed
        status, r = self.call("sue", "POST", "/api/reports/dispositions",
                              {})
        self.assertEqual(status, 405)

    def test_wrap_up_by_supervisor(self):
        ada = Desk(self, self.sb, self.cookie("ada"))
        ada.status("available")
        sue = Desk(self, self.sb, self.cookie("sue"))
        ws, conv = self.accepted(ada)
        m = self.wrap(sue, conv, "s1", reason="bill", outcome="resolved")
        self.assertEqual(m["type"], "conversation.wrapped_up", m)
        ada.wait_for("conversation.removed", conversation=conv)
        self.assertEqual(self.sql(
            "SELECT s.login FROM conversation_dispositions d JOIN"
            " staff_users s ON s.id = d.staff_id WHERE"
            " d.conversation_id = %s" % conv), "sue")
        harness.wait_for(lambda: self.sql(
            "SELECT status FROM conversations WHERE id = %s" % conv)
            == "closed", 10, what="closed")
        ada.status("away")

    def test_wrap_up_after_release_and_without_codes(self):
        ada = Desk(self, self.sb, self.cookie("ada"))
        ada.status("available")
        # Released for wrap-up first (why: wrapped), then wrapped up.
        ws, conv = self.accepted(ada)
        ada.send(type="conversation.release", conversation=conv,
                 why="wrapped", id="r1")
        ada.wait_for("conversation.released", id="r1")
        harness.wait_for(lambda: self.sql(
            "SELECT status FROM conversations WHERE id = %s" % conv)
            == "wrap_up", 10, what="wrap_up")
        m = self.wrap(ada, conv, "x1", reason="bill", outcome="resolved")
        self.assertEqual(m["type"], "conversation.wrapped_up", m)
        self.assertEqual(self.sql("SELECT status FROM conversations WHERE"
                                  " id = %s" % conv), "closed")
        # A queue without codes: wrapped up with a note only; a code
        # given there is unknown.
        ws, conv = self.accepted(ada, "free")
        m = self.wrap(ada, conv, "x2", reason="bill")
        self.assertEqual((m["code"], m["field"]), ("bad_message", "reason"))
        m = self.wrap(ada, conv, "x3", note="Just a question")
        self.assertEqual(m["type"], "conversation.wrapped_up", m)
        self.assertEqual(self.sql(
            "SELECT coalesce(reason_id::text, '-') || ':' || note FROM"
            " conversation_dispositions WHERE conversation_id = %s" % conv),
            "-:Just a question")
        m = self.wrap(ada, "12x", "x4")
        self.assertEqual(m["code"], "bad_message")
        m = self.wrap(ada, "999999", "x5")
        self.assertEqual(m["code"], "not_found")
        ada.status("away")


if __name__ == "__main__":
    harness.main()
