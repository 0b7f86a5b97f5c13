"""Desk operations on any conversation (conversation.history, .note,
.reply, .read, .end on switchboard.v1; docs/desk-protocol.md) over two
real daemons sharing PostgreSQL and Redis.

Most conversations are made by SQL in the set-up (web conversations
assigned to an advisor, with a form's fields in their first message's
metadata); test_form_submission_to_desk takes the whole path instead: a
signed submission to the web-form channel, ingest, routing's offer, and
ingest's delivery hook to a desk on the other instance."""

import os
import sys
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_chat  # noqa: E402
import test_form  # noqa: E402
from test_routing import Desk  # noqa: E402

FIELDS = [{"name": "street", "label": "Street", "value": "1 High Street"},
          {"name": "bin", "label": "Which bin", "value": "Green"}]


class DeskOpsTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        over = {"forms": {"requests_per_address": 100000, "window": 60,
                          'form "desk-form"': {"secret": test_form.SECRET,
                                               "queue": "deskform"}}}
        cls.sbs = [harness.Switchboard(cls.pg, cls.redis, over,
                                       dbname=cls.db, start=False)
                   for _ in range(2)]
        r = harness.run_switchboard(["-c", cls.sbs[0].conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.passwords = {}
        for login, role in (("ann", "advisor"), ("bob", "advisor"),
                            ("sue", "supervisor")):
            r = harness.run_switchboard(
                ["-c", cls.sbs[0].conf, "user", "add", "--role", role,
                 "--name", login.title() + " Person", login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        # The web-form channel's queue: only test_form_submission_to_desk
        # posts there, and only its desk is available.
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (42, 'deskform',"
            " 'Desk forms');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s, wrap_up_s) VALUES (42, 'web', 3600, 30, 0);"
            "INSERT INTO queue_members (staff_id, queue_id) SELECT id, 42"
            " FROM staff_users WHERE login = 'ann'", dbname=cls.db)
        staff = {login: cls.pg.psql(
            "SELECT id FROM staff_users WHERE login = '%s'" % login,
            dbname=cls.db).strip() for login in ("ann", "bob")}
        md = harness.json.dumps({"fields": FIELDS}).replace("'", "''")
        cls.pg.psql(
            "INSERT INTO customers (id, display_name) VALUES"
            " (1, 'Rita Resident'), (2, 'Other Person');"
            "INSERT INTO customer_identities (customer_id, kind, value)"
            " VALUES (1, 'email', 'rita@example.org');"
            "INSERT INTO conversations (id, customer_id, channel, status,"
            " assigned_staff_id, subject) VALUES"
            " (12, 1, 'web', 'assigned', %(ann)s, 'Missed bin collection'),"
            " (13, 2, 'web', 'assigned', %(bob)s, 'Noise complaint'),"
            " (14, 1, 'web', 'assigned', %(ann)s, 'Pothole'),"
            " (15, 1, 'web', 'assigned', %(ann)s, 'Fly-tipping');"
            "INSERT INTO messages (conversation_id, direction, author_kind,"
            " body, metadata, source, external_id) VALUES"
            " (12, 'in', 'customer', 'Missed bin collection', '%(md)s',"
            "  'form:bins', 'sub-1'),"
            " (13, 'in', 'customer', 'Too loud', '{}', 'form:noise',"
            "  'sub-2'),"
            " (14, 'in', 'customer', 'Hole in the road', '{}',"
            "  'form:roads', 'sub-3'),"
            " (15, 'in', 'customer', 'Sofa in the lane', '{}',"
            "  'form:tip', 'sub-4');"
            # Ids given above: new rows (the form channel's) after them.
            "SELECT setval(pg_get_serial_sequence('customers', 'id'), 100);"
            "SELECT setval(pg_get_serial_sequence('conversations', 'id'),"
            " 100);" % dict(staff, md=md),
            dbname=cls.db)
        for sb in cls.sbs:
            sb.start()
        for sb in cls.sbs:
            sb.wait_ready()

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    # Signs login in on sb; the session cookie.
    cookie = test_chat.ChatTest.cookie

    def desk(self, sb, login):
        return Desk(self, sb, self.cookie(sb, login))

    def history(self, desk, conv, id_="h"):
        desk.send(type="conversation.history", conversation=conv, id=id_)
        m = desk.next_of(("conversation.history", "error"), id_)
        self.assertEqual(m["type"], "conversation.history", m)
        return m

    def stored(self, conv, client_id):
        return int(self.sql(
            "SELECT count(*) FROM messages WHERE source = 'desk' AND"
            " external_id = '%s:%s'" % (conv, client_id)))

    # ------------------------------------------------------------------

    def test_web_history(self):
        """The thread of a web-form conversation: channel, subject, the
        form's fields in the message's metadata, and why it cannot be
        replied to."""
        ann = self.desk(self.sbs[0], "ann")
        h = self.history(ann, "12")
        self.assertEqual(h["channel"], "web")
        self.assertEqual(h["subject"], "Missed bin collection")
        self.assertEqual(h["status"], "assigned")
        self.assertEqual(h["customer"]["name"], "Rita Resident")
        self.assertIs(h["can_reply"], False)
        self.assertEqual(h["cannot_reply"],
                         "this channel cannot send replies yet")
        first = h["messages"][0]
        self.assertEqual(first["from"], "resident")
        self.assertEqual(first["text"], "Missed bin collection")
        self.assertEqual(first["metadata"]["fields"], FIELDS)

    def test_form_submission_to_desk(self):
        """The whole path on two instances: a signed submission posted to
        A is offered to Ann on B; accepted, its history has the form's
        fields and why it cannot be replied to; the same submission
        posted again to B (a repeat: nothing written) is passed on by
        ingest's delivery hook to a desk following it on A that did not
        have it yet."""
        ann = self.desk(self.sbs[1], "ann")
        ann.status("available")
        self.addCleanup(lambda: ann.status("away"))
        sue = self.desk(self.sbs[0], "sue")
        sid = "desk-" + str(uuid.uuid4())
        body = test_form.submission(sid)
        r = self.sbs[0].request("POST", "/hooks/forms/desk-form",
                                headers=test_form.signed(body), body=body)
        self.assertEqual(r.status, 201, r.body)
        conv = str(r.json()["conversation"])
        ann.wait_for("offer", conversation=conv)
        ann.send(type="offer.accept", conversation=conv, id="acc")
        ann.wait_for("offer.accepted", id="acc")
        h = self.history(ann, conv)
        self.assertEqual(h["channel"], "web")
        self.assertIs(h["can_reply"], False)
        self.assertEqual(h["cannot_reply"],
                         "this channel cannot send replies yet")
        first = h["messages"][0]
        self.assertEqual(first["from"], "resident")
        self.assertEqual([(f["label"], f["value"])
                          for f in first["metadata"]["fields"]],
                         [("Street", "1 High St"), ("Bin", "Green"),
                          ("Notes", "Missed twice\nthis month")])
        # A supervisor on A follows it from after that message.
        sue.send(type="conversation.history", conversation=conv,
                 after=first["seq"], id="h")
        self.assertEqual(sue.next_of(("conversation.history",), "h")
                         ["messages"], [])
        r = self.sbs[1].request("POST", "/hooks/forms/desk-form",
                                headers=test_form.signed(body), body=body)
        self.assertEqual(r.status, 200, r.body)
        m = sue.wait_for("conversation.message", conversation=conv)
        self.assertEqual((m["seq"], m["from"]), (first["seq"], "resident"))
        self.assertEqual(m["metadata"]["fields"],
                         first["metadata"]["fields"])
        self.assertEqual(self.sql(
            "SELECT count(*) FROM messages WHERE external_id = '%s'" % sid),
            "1")

    def test_note_on_one_instance_reaches_a_desk_on_the_other(self):
        """A note written by the advisor on A reaches a supervisor's desk
        following the conversation on B, once; a retry with the same
        client_id is a repeat, stored once."""
        ann = self.desk(self.sbs[0], "ann")
        sue = self.desk(self.sbs[1], "sue")
        self.history(ann, "14")
        self.history(sue, "14")
        cid = str(uuid.uuid4())
        ann.send(type="conversation.note", conversation="14",
                 client_id=cid, text="Crew called", id="n1")
        noted = ann.next_of(("conversation.noted", "error"), "n1")
        self.assertEqual(noted["type"], "conversation.noted", noted)
        self.assertIs(noted["repeated"], False)
        m = sue.wait_for("conversation.message", conversation="14")
        self.assertEqual(m["seq"], noted["seq"])
        self.assertEqual(m["from"], "note")
        self.assertEqual(m["text"], "Crew called")
        self.assertEqual(m["name"], "Ann Person")
        ann.send(type="conversation.note", conversation="14",
                 client_id=cid, text="Crew called", id="n2")
        again = ann.next_of(("conversation.noted", "error"), "n2")
        self.assertIs(again["repeated"], True, again)
        self.assertEqual(again["seq"], noted["seq"])
        self.assertEqual(self.stored(14, cid), 1)
        # The supervisor's desk sees it in the thread it asks again.
        h = self.history(sue, "14", "h2")
        self.assertEqual([x["seq"] for x in h["messages"]
                          if x["from"] == "note"], [noted["seq"]])

    def test_reply_on_web_refused_nothing_stored(self):
        """A reply on a web-form conversation is refused with cannot_reply
        and its reason; nothing is stored and no desk is sent it (the next
        event a follower gets is the note written after it)."""
        ann = self.desk(self.sbs[0], "ann")
        sue = self.desk(self.sbs[1], "sue")
        self.history(ann, "12")
        self.history(sue, "12")
        before = self.sql("SELECT count(*) FROM messages WHERE"
                          " conversation_id = 12")
        cid = str(uuid.uuid4())
        ann.send(type="conversation.reply", conversation="12",
                 client_id=cid, text="We will come tomorrow", id="r")
        err = ann.next_of(("conversation.replied", "error"), "r")
        self.assertEqual(err["type"], "error", err)
        self.assertEqual(err["code"], "cannot_reply")
        self.assertEqual(err["message"],
                         "this channel cannot send replies yet")
        self.assertEqual(self.stored(12, cid), 0)
        self.assertEqual(self.sql("SELECT count(*) FROM messages WHERE"
                                  " conversation_id = 12"), before)
        ncid = str(uuid.uuid4())
        ann.send(type="conversation.note", conversation="12",
                 client_id=ncid, text="Refused above", id="n")
        ann.next_of(("conversation.noted",), "n")
        m = sue.wait_for("conversation.message", conversation="12")
        self.assertEqual(m["text"], "Refused above", m)
        self.assertEqual(m["from"], "note")

    def test_read_and_end_reach_the_other_instance(self):
        """A read mark and the end, made on A, reach a desk following the
        conversation on B; the end puts the advisor's conversation in
        wrap-up, and ending it again writes nothing."""
        ann = self.desk(self.sbs[0], "ann")
        sue = self.desk(self.sbs[1], "sue")
        seq = self.history(ann, "15")["messages"][0]["seq"]
        self.history(sue, "15")
        ann.send(type="conversation.read", conversation="15", seq=seq,
                 id="rd")
        ok = ann.next_of(("conversation.read.ok", "error"), "rd")
        self.assertEqual(ok.get("seq"), seq, ok)
        self.assertEqual(sue.wait_for("conversation.read",
                                      conversation="15")["seq"], seq)
        self.assertEqual(self.sql("SELECT advisor_read FROM"
                                  " conversation_reads WHERE"
                                  " conversation_id = 15"), str(seq))
        ann.send(type="conversation.end", conversation="15", id="e")
        end = ann.next_of(("conversation.end.ok", "error"), "e")
        self.assertEqual(end.get("status"), "wrap_up", end)
        fin = sue.wait_for("conversation.finished", conversation="15")
        self.assertEqual((fin["by"], fin["status"]), ("advisor", "wrap_up"))
        self.assertEqual(self.sql("SELECT status FROM conversations WHERE"
                                  " id = 15"), "wrap_up")
        events = self.sql("SELECT count(*) FROM conversation_events WHERE"
                          " conversation_id = 15")
        ann.send(type="conversation.end", conversation="15", id="e2")
        again = ann.next_of(("conversation.end.ok", "error"), "e2")
        self.assertEqual(again.get("type"), "conversation.end.ok", again)
        self.assertEqual(self.sql("SELECT count(*) FROM conversation_events"
                                  " WHERE conversation_id = 15"), events)

    def test_another_advisors_conversation_forbidden(self):
        """Ann may not read or write on Bob's conversation, and cannot tell
        it from one that does not exist; nothing is written."""
        ann = self.desk(self.sbs[1], "ann")
        answers = []
        for i, (typ, conv) in enumerate((
                ("conversation.history", "13"),
                ("conversation.note", "13"),
                ("conversation.reply", "13"),
                ("conversation.read", "13"),
                ("conversation.end", "13"),
                ("conversation.history", "999999"))):
            cid = str(uuid.uuid4())
            ann.send(type=typ, conversation=conv, client_id=cid,
                     text="x", seq=1, id="f%d" % i)
            m = ann.next_of(("error", typ, "conversation.noted",
                             "conversation.replied", "conversation.read.ok",
                             "conversation.end.ok"), "f%d" % i)
            self.assertEqual((m["type"], m.get("code")),
                             ("error", "forbidden"), (typ, m))
            answers.append(m["message"])
        # The same words for Bob's and for none.
        self.assertEqual(answers[0], answers[-1])
        self.assertEqual(self.sql("SELECT count(*) FROM messages WHERE"
                                  " conversation_id = 13"), "1")
        self.assertEqual(self.sql("SELECT status FROM conversations WHERE"
                                  " id = 13"), "assigned")
        # Bob's own desk reads it.
        bob = self.desk(self.sbs[0], "bob")
        self.assertEqual(self.history(bob, "13")["subject"],
                         "Noise complaint")

    def test_hostile_and_routing_messages_kept_apart(self):
        """Bad fields are bad_message, an unknown conversation.* type is
        unknown_type, and routing's own conversation.* messages still
        reach routing (not the desk operations)."""
        ann = self.desk(self.sbs[0], "ann")
        for i, msg in enumerate((
                dict(type="conversation.history", conversation="12x"),
                dict(type="conversation.history", conversation=12),
                dict(type="conversation.history"),
                dict(type="conversation.note", conversation="12",
                     client_id="not-a-uuid", text="x"),
                dict(type="conversation.note", conversation="12",
                     client_id=str(uuid.uuid4()), text=""),
                dict(type="conversation.note", conversation="12",
                     client_id=str(uuid.uuid4()), text="x" * 4001),
                dict(type="conversation.read", conversation="12",
                     seq="1"))):
            ann.send(id="b%d" % i, **msg)
            m = ann.next_of(("error",), "b%d" % i)
            self.assertEqual(m["code"], "bad_message", (msg, m))
        ann.send(type="conversation.frobnicate", conversation="12", id="u")
        self.assertEqual(ann.next_of(("error",), "u")["code"],
                         "unknown_type")
        ann.send(type="conversation.release", conversation="12",
                 why="closed", id="rel")
        m = ann.next_of(("error", "conversation.released"), "rel")
        self.assertNotEqual(m.get("code"), "unknown_type", m)
        # A socket without a staff session: every one of them refused,
        # nothing read or written.
        anon = harness.JsonSocket(self, self.sbs[1].websocket())
        self.assertEqual(anon.next()["type"], "hello")
        for i, typ in enumerate(("conversation.history", "conversation.note",
                                 "conversation.reply", "conversation.read",
                                 "conversation.end")):
            anon.send(type=typ, conversation="12", client_id=str(uuid.uuid4()),
                      text="x", seq=1, id="a%d" % i)
            m = anon.wait_for("error", id="a%d" % i)
            self.assertEqual(m["code"], "unauthorised", (typ, m))
        self.assertEqual(self.sql("SELECT count(*) FROM messages WHERE"
                                  " conversation_id = 12 AND source = 'desk'"
                                  " AND body = 'x'"), "0")


if __name__ == "__main__":
    harness.main()
