"""The web chat channel (switchboard.chat.v1, docs/chat-protocol.md) with
two daemons on one Redis and one PostgreSQL: residents start, chat, resume
after a dropped socket (on the other instance) without losing or doubling
a word, end, rate and ask a transcript; advisors use the chat messages of
the desk protocol; identities match customers without silent merges;
left messages, closed and unserved queues, idle time-outs; hostile input
costs only its own socket."""

import json
import os
import sys
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_routing import Desk  # noqa: E402

WIDGET = "https://www.council.example"
PROTO = "switchboard.chat.v1"
IDLE = 40  # chat.idle_timeout here: warned at 20 s, ended at 40 s


class Resident(harness.JsonSocket):
    def __init__(self, test, sb, origin=WIDGET, rcvbuf=None):
        super().__init__(test, sb.websocket(origin=origin, protocol=PROTO,
                                            rcvbuf=rcvbuf))
        hello = self.next()
        test.assertEqual(hello["type"], "hello", hello)
        test.assertEqual(hello["protocol"], PROTO)
        test.assertEqual(hello["limits"]["text_max"], 4000)
        self.token = None

    def start(self, queue="tax", name="Ann Resident", **extra):
        self.send(type="chat.start", id="s", queue=queue, name=name,
                  page={"url": "https://www.council.example/council-tax",
                        "title": "Council Tax"}, **extra)
        m = self.wait_for("chat.started", id="s")
        self.token = m["token"]
        self.conv = m["conversation"]
        self.test.assertRegex(m["reference"], r"^SB[0-9]+$")
        self.test.assertEqual(len(self.token), 43)
        return m

    def say(self, text, client_id=None):
        cid = client_id or str(uuid.uuid4())
        self.send(type="message.send", id=cid, client_id=cid, text=text)
        return cid

    def ack(self, cid):
        m = self.wait_for("message.ack", client_id=cid)
        return m["seq"]


class ChatTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        over = {"router": {"grace_period": 30, "sweep_interval_ms": 100},
                "widget_origins": [WIDGET],
                "chat": {"idle_timeout": IDLE}}
        cls.sbs = [harness.Switchboard(cls.pg, cls.redis, over,
                                       dbname=cls.db, start=False)
                   for _ in range(2)]
        r = harness.run_switchboard(["-c", cls.sbs[0].conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO councils (slug, name) VALUES ('demo', 'Demo"
            " Council') ON CONFLICT DO NOTHING;"
            "INSERT INTO queues (id, slug, name) VALUES (31, 'tax', 'Tax'),"
            " (32, 'bins', 'Bins'), (33, 'msg', 'Msg');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (31, 'chat', 60, 30),"
            " (32, 'chat', 60, 30);"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " out_of_hours) VALUES (33, 'chat', 60, 'leave_message');"
            "INSERT INTO queue_hours (queue_id, weekday, opens_at, closes_at)"
            " SELECT 33, d, '00:00', '24:00' FROM generate_series(1, 7) d;"
            "INSERT INTO closure_days (queue_id, day, name) VALUES (33,"
            " (now() AT TIME ZONE 'Europe/London')::date, 'Training');"
            # No after-contact hold: each test's advisor takes the next
            # chat at once (the hold itself is the router's, tested there),
            # but in acw, whose 3 s hold the desk is told of.
            "UPDATE queue_channels SET wrap_up_s = 0;"
            "INSERT INTO queues (id, slug, name) VALUES (34, 'acw', 'Acw');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s, wrap_up_s) VALUES (34, 'chat', 60, 30, 3);",
            dbname=cls.db)
        cls.passwords = {}
        for login, role in (("ada", "advisor"), ("sue", "supervisor")):
            r = harness.run_switchboard(
                ["-c", cls.sbs[0].conf, "user", "add", "--role", role,
                 "--name", login.title() + " Advisor", login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        # ada serves tax, msg and acw; nobody serves bins.
        cls.pg.psql("INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, q FROM staff_users, (VALUES (31), (33), (34))"
                    " v(q)"
                    " WHERE login = 'ada'", dbname=cls.db)
        for sb in cls.sbs:
            sb.start()
        for sb in cls.sbs:
            sb.wait_ready()
        cls.desk_cookie = {}

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def cookie(self, sb, login):
        r = sb.request("POST", "/api/session",
                       headers={"Content-Type": "application/json"},
                       body=json.dumps({"login": login, "password":
                                        self.passwords[login]}).encode())
        self.assertEqual(r.status, 200, r.body)
        return r.headers["set-cookie"].split(";", 1)[0]

    def desk(self, sb, login="ada", status="available"):
        d = Desk(self, sb, self.cookie(sb, login))
        if status:
            d.status(status)
        return d

    def assigned_chat(self, desk, rsb, **start):
        """A resident on rsb whose chat desk accepted and follows."""
        r = Resident(self, rsb)
        r.start(**start)
        desk.wait_for("offer", conversation=r.conv)
        desk.send(type="offer.accept", conversation=r.conv, id="acc")
        desk.wait_for("offer.accepted", id="acc")
        a = r.wait_for("chat.assigned")
        self.assertEqual(a["advisor"]["name"], "Ada Advisor")
        desk.send(type="conversation.history", conversation=r.conv, id="h")
        h = desk.wait_for("conversation.history", id="h")
        return r, h

    # ------------------------------------------------------------------

    def test_chat_both_ways_across_instances(self):
        desk = self.desk(self.sbs[0])
        r, h = self.assigned_chat(desk, self.sbs[1],
                                  email="Ann@Example.org",
                                  mobile="07700 900123")
        self.assertEqual(h["page"]["url"],
                         "https://www.council.example/council-tax")
        self.assertEqual(h["customer"]["email"], "ann@example.org")
        self.assertEqual(h["customer"]["mobile"], "+447700900123")
        self.assertEqual(h["customer"]["match"], "new")
        # Known where the resident's socket is (the other instance here).
        self.assertIn(h.get("online"), (True, None))
        # Resident -> advisor: committed, acknowledged, shown, delivered.
        cid = r.say("Hello, my bill is wrong")
        seq = r.ack(cid)
        self.assertEqual(self.sql(
            "SELECT body || '|' || source || '|' || external_id FROM messages"
            " WHERE id = %d" % seq),
            "Hello, my bill is wrong|chat|%s:%s" % (r.conv, cid))
        m = desk.wait_for("conversation.message", conversation=r.conv)
        self.assertEqual((m["seq"], m["from"], m["text"]),
                         (seq, "resident", "Hello, my bill is wrong"))
        r.wait_for("message.status", seq=seq, state="delivered")
        # The same client id again: the same seq, nothing stored twice.
        r.say("Hello, my bill is wrong", client_id=cid)
        self.assertEqual(r.ack(cid), seq)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM messages WHERE conversation_id = %s"
            % r.conv), "1")
        # Advisor -> resident, with the advisor's name.
        acid = str(uuid.uuid4())
        desk.send(type="conversation.reply", conversation=r.conv, client_id=acid,
                  text="Let me look: https://www.council.example/pay",
                  id="send")
        sent = desk.wait_for("conversation.replied", id="send")
        self.assertGreater(sent["seq"], seq)
        m = r.wait_for("message", seq=sent["seq"])
        self.assertEqual((m["from"], m["name"]), ("advisor", "Ada Advisor"))
        self.assertIsNotNone(self.sql(
            "SELECT first_response_at FROM conversations WHERE id = %s"
            % r.conv))
        # Read receipts, typing and the page, both ways.
        r.send(type="message.read", seq=sent["seq"])
        desk.wait_for("chat.read", conversation=r.conv, seq=sent["seq"])
        desk.send(type="conversation.read", conversation=r.conv, seq=seq, id="rd")
        r.wait_for("message.status", seq=seq, state="read")
        r.send(type="typing", state=True)
        desk.wait_for("conversation.typing", conversation=r.conv, state=True)
        desk.send(type="conversation.typing", conversation=r.conv, state=True)
        r.wait_for("typing", state=True)
        r.send(type="page", url="https://www.council.example/discounts",
               title="Discounts")
        p = desk.wait_for("chat.page", conversation=r.conv)
        self.assertEqual(p["title"], "Discounts")
        self.assertEqual(self.sql(
            "SELECT s.page_title || '|' || r.advisor_read FROM chat_sessions s"
            " JOIN conversation_reads r USING (conversation_id)"
            " WHERE conversation_id = %s" % r.conv), "Discounts|%d" % seq)
        # An internal note: the desks see it, the resident never does.
        ncid = str(uuid.uuid4())
        desk.send(type="conversation.note", conversation=r.conv, client_id=ncid,
                  text="Resident seemed upset", id="note")
        noted = desk.wait_for("conversation.noted", id="note")
        m = desk.wait_for("conversation.message", seq=noted["seq"])
        self.assertEqual((m["from"], m["text"]),
                         ("note", "Resident seemed upset"))
        vcid = str(uuid.uuid4())
        desk.send(type="conversation.reply", conversation=r.conv, client_id=vcid,
                  text="after the note", id="after")
        after = desk.wait_for("conversation.replied", id="after")["seq"]
        nxt = r.wait_for("message")
        self.assertEqual((nxt["seq"], nxt["text"]), (after,
                                                      "after the note"))
        self.assertEqual(self.sql(
            "SELECT direction || '|' || author_kind FROM messages WHERE id"
            " = %d" % noted["seq"]), "internal|staff")
        desk.send(type="conversation.history", conversation=r.conv, id="h2")
        h2 = desk.wait_for("conversation.history", id="h2")
        self.assertIn(("note", "Resident seemed upset"),
                      [(x["from"], x["text"]) for x in h2["messages"]])
        # Rating is for an ended chat only.
        r.send(type="rating", score=5, id="early")
        self.assertEqual(r.wait_for("error", id="early")["code"],
                         "bad_message")
        # The resident ends it: both sides told, conversation closed.
        r.send(type="chat.end", id="end")
        self.assertEqual(r.wait_for("chat.ended")["by"], "resident")
        desk.wait_for("conversation.finished", conversation=r.conv, by="resident")
        # Still the advisor's, waiting for its wrap-up.
        self.assertEqual(self.sql(
            "SELECT status || '|' || assigned_staff_id FROM conversations"
            " WHERE id = %s" % r.conv), "wrap_up|%s" % desk.staff)
        r.say("after the end")
        self.assertEqual(r.wait_for("error")["code"], "ended")
        r.send(type="rating", score=4, comment="Quick, thanks", id="rate")
        r.wait_for("rating.saved", id="rate")
        # The address was only typed: confirmed by a link first (once).
        r.send(type="transcript.request", id="tr")
        r.wait_for("transcript.confirm", id="tr")
        r.send(type="transcript.request", id="tr2")
        r.wait_for("transcript.confirm", id="tr2")
        self.assertEqual(self.sql(
            "SELECT score || '|' || comment FROM conversation_ratings "
            "WHERE conversation_id = %s" % r.conv), "4|Quick, thanks")
        link = self.sql("SELECT payload->>'text' FROM outbox WHERE "
                        "conversation_id = %s AND payload->>'kind' = "
                        "'chat.transcript.confirm'" % r.conv)
        token = link.split("transcript/?token=", 1)[1][:43]
        self.assertEqual(self.sbs[1].get("/api/chat/transcript?token=" +
                                         token).status, 200)
        out = self.sql("SELECT destination || '|' || (payload->>'text') "
                       "FROM outbox WHERE conversation_id = %s AND "
                       "payload->>'kind' = 'chat.transcript'" % r.conv)
        self.assertIn("ann@example.org|", out)  # once: de-duplicated
        self.assertIn("You: Hello, my bill is wrong", out)
        self.assertIn("Ada Advisor: Let me look", out)
        desk.status("away")

    def test_resume_after_drop_no_loss_no_duplicates(self):
        desk = self.desk(self.sbs[0])
        r, _ = self.assigned_chat(desk, self.sbs[0])
        first = r.say("one")
        s1 = r.ack(first)
        desk.wait_for("conversation.message", seq=s1)
        # Typed while the connection was going: sent, never acknowledged.
        lost = r.say("two")
        r.ws.sock.close()  # the network goes; no close frame
        # The advisor writes twice meanwhile.
        adv = []
        for text in ("are you there?", "I have found it"):
            cid = str(uuid.uuid4())
            desk.send(type="conversation.reply", conversation=r.conv, client_id=cid,
                      text=text, id=cid)
            adv.append(desk.wait_for("conversation.replied", id=cid)["seq"])
        presence = desk.wait_for("chat.presence", conversation=r.conv)
        self.assertFalse(presence["online"])
        # Back, on the other instance, with "two" still in the outbox.
        r2 = Resident(self, self.sbs[1])
        r2.send(type="chat.resume", token=r.token, after=s1, id="res")
        m = r2.wait_for("chat.resumed", id="res")
        self.assertEqual(m["state"], "assigned")
        self.assertEqual(m["advisor"]["name"], "Ada Advisor")
        r2.say("two", client_id=lost)
        r2.say("three")
        got = []
        acks = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
                len(acks) < 2 or not set(adv) <= set(got)):
            x = r2.next()
            if x["type"] == "message":
                got.append(x["seq"])
            elif x["type"] == "message.ack":
                acks[x["client_id"]] = x["seq"]
        # Each advisor message exactly once, in order; "two" once.
        self.assertEqual([s for s in got if s in adv], adv)
        self.assertEqual(len(got), len(set(got)))
        self.assertEqual(self.sql(
            "SELECT string_agg(body, ',' ORDER BY id) FROM messages WHERE "
            "conversation_id = %s AND direction = 'in'" % r.conv),
            "one,two,three")
        # The desk saw each resident message once.
        seen = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(seen) < 2:
            x = desk.next(deadline - time.monotonic())
            if x.get("type") == "conversation.message" and x["from"] == "resident":
                self.assertNotIn(x["seq"], seen)
                seen.add(x["seq"])
        self.assertEqual(seen, set(acks.values()))
        # Replaying everything gives the whole chat in order, with the
        # resident's own client ids.
        r3 = Resident(self, self.sbs[0])
        r3.send(type="chat.resume", token=r.token, after=0, id="all")
        r3.wait_for("chat.resumed", id="all")
        texts = []
        while len(texts) < 5:
            x = r3.next()
            if x["type"] == "message":
                texts.append(x["text"])
                if x["text"] == "one":
                    self.assertEqual(x["client_id"], first)
        self.assertEqual(",".join(texts), self.sql(
            "SELECT string_agg(body, ',' ORDER BY id) FROM messages WHERE "
            "conversation_id = %s" % r.conv))
        # The older socket on the other instance was told to go.
        code, _ = r2.ws.recv_close()
        self.assertEqual(code, 4001)
        desk.send(type="conversation.end", conversation=r.conv, id="e")
        desk.wait_for("conversation.end.ok", id="e")
        self.assertEqual(r3.wait_for("chat.ended")["by"], "advisor")
        desk.status("away")

    def test_long_replay_to_a_slow_reader(self):
        """A resume replays a long chat (700 KB, more than a page) to a
        client on a slow link: the replay goes out as fast as the socket
        drains, within the send-queue bound, never closed 1008, every
        message once and in order."""
        desk = self.desk(self.sbs[0])
        r, _ = self.assigned_chat(desk, self.sbs[0])
        self.sql(
            "INSERT INTO messages (conversation_id, direction, author_kind,"
            " body, source, external_id) SELECT %s, 'in', 'customer',"
            " i || ':' || repeat('x', 280), 'chat', '%s:bulk-' || i"
            " FROM generate_series(1, 2500) i" % (r.conv, r.conv))
        want = [int(x) for x in self.sql(
            "SELECT id FROM messages WHERE conversation_id = %s"
            " ORDER BY id" % r.conv).split()]
        self.assertGreater(len(want), 2000)  # more than one page
        r.ws.sock.close()
        slow = Resident(self, self.sbs[1], rcvbuf=4096)
        slow.send(type="chat.resume", token=r.token, after=0, id="res")
        time.sleep(2)  # not reading: the daemon can only queue
        slow.wait_for("chat.resumed", id="res", timeout=20)
        got = []
        deadline = time.monotonic() + 60
        while len(got) < len(want) and time.monotonic() < deadline:
            x = slow.next(deadline - time.monotonic())
            if x["type"] == "message":
                got.append(x["seq"])
        self.assertEqual(got, want)
        # Still open: it answers a ping.
        slow.send(type="ping", id="p")
        slow.wait_for("pong", id="p")
        desk.send(type="conversation.end", conversation=r.conv, id="e")
        desk.wait_for("conversation.end.ok", id="e")
        desk.status("away")

    def test_resume_while_the_advisor_writes(self):
        """A resume racing the advisor's messages: one committed just
        before the replay read the table, whose copy through Redis comes
        during or after the replay, reaches the resident once."""
        desk = self.desk(self.sbs[0])
        r, _ = self.assigned_chat(desk, self.sbs[0])
        after = r.ack(r.say("hello"))
        token, sock, n = r.token, r, 0
        for rnd in range(6):
            cids = [str(uuid.uuid4()) for _ in range(8)]
            for i, cid in enumerate(cids):
                desk.send(type="conversation.reply", conversation=r.conv,
                          client_id=cid, text="round %d #%d" % (rnd, i),
                          id=cid)
                if i == 3:
                    # Half-way through the burst, the resident is back on
                    # the other instance.
                    sock = Resident(self, self.sbs[(rnd + 1) % 2])
                    sock.send(type="chat.resume", token=token, after=after,
                              id="res")
            sent = [desk.wait_for("conversation.replied", id=cid)["seq"]
                    for cid in cids]
            sock.wait_for("chat.resumed", id="res")
            got = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not set(sent) <= set(got):
                x = sock.next(deadline - time.monotonic())
                if x["type"] == "message":
                    got.append(x["seq"])
            self.assertEqual(len(got), len(set(got)), got)
            self.assertLessEqual(set(sent), set(got))
            self.assertEqual(sorted(s for s in got if s in sent), sent)
            after = max(got)
            n += len(got)
        self.assertEqual(n, 48)
        sock.send(type="chat.end", id="end")
        sock.wait_for("chat.ended")
        desk.status("away")

    def test_identity_matching_never_merges(self):
        self.sql("INSERT INTO customers (id, display_name) VALUES "
                 "(9001, 'Known Email'), (9002, 'Known Phone');"
                 "INSERT INTO customer_identities (customer_id, kind, value)"
                 " VALUES (9001, 'email', 'known@example.org'),"
                 " (9002, 'phone', '+447700900999')")
        desk = self.desk(self.sbs[0], status="busy")
        cases = [({"email": "KNOWN@example.org"}, "matched", "9001"),
                 ({"mobile": "+44 7700 900999"}, "matched", "9002"),
                 ({"email": "known@example.org", "mobile": "07700900999"},
                  "ambiguous", None),
                 ({}, "none", None)]
        for extra, match, customer in cases:
            r = Resident(self, self.sbs[1])
            m = r.start(**extra)
            self.assertEqual(m["match"], match, extra)
            cust = self.sql("SELECT customer_id FROM conversations WHERE "
                            "id = %s" % r.conv)
            if customer:
                self.assertEqual(cust, customer)
            else:
                self.assertNotIn(cust, ("9001", "9002"))
            if match == "ambiguous":
                self.assertEqual(self.sql(
                    "SELECT match_candidates::text FROM chat_sessions "
                    "WHERE conversation_id = %s" % r.conv), "{9001,9002}")
                # Neither identity moved to the new customer.
                self.assertEqual(self.sql(
                    "SELECT count(*) FROM customer_identities WHERE "
                    "customer_id = %s" % cust), "0")
            r.send(type="chat.end", id="e")
            r.wait_for("chat.ended")
        # A matched customer gets no identity added from the form.
        self.assertEqual(self.sql(
            "SELECT count(*) FROM customer_identities WHERE customer_id ="
            " 9001"), "1")
        desk.status("away")

    def test_leave_message_closed_and_unserved(self):
        time.sleep(1.2)  # the daemons' first reading of opening hours
        desk = self.desk(self.sbs[0], status="busy")
        r = Resident(self, self.sbs[1])
        r.send(type="chat.start", queue="msg", name="Late", id="c")
        m = r.wait_for("chat.closed", id="c")
        self.assertTrue(m["leave_message"])
        cid = str(uuid.uuid4())
        leave = dict(type="message.leave", queue="msg", name="Late Lou",
                     email="lou@example.org", text="Please call me back",
                     client_id=cid)
        r.send(id="l1", **leave)
        ref = r.wait_for("message.left", id="l1")["reference"]
        r.send(id="l2", **leave)  # the answer was lost: sent again
        self.assertEqual(r.wait_for("message.left", id="l2")["reference"],
                         ref)
        self.assertEqual(self.sql(
            "SELECT c.status || '|' || c.channel || '|' || m.body FROM "
            "conversations c JOIN messages m ON m.conversation_id = c.id "
            "WHERE c.reference = '%s'" % ref),
            "waiting|chat|Please call me back")
        ack = self.sql("SELECT destination || '|' || (payload->>'subject') "
                       "FROM outbox o JOIN conversations c ON c.id = "
                       "o.conversation_id WHERE c.reference = '%s'" % ref)
        self.assertEqual(ack, "lou@example.org|We have your message – "
                         "reference %s" % ref)
        # Neither email nor mobile: refused, with the reason.
        bad = dict(leave, email=None, client_id=str(uuid.uuid4()))
        r.send(id="l3", **bad)
        self.assertEqual(r.wait_for("error", id="l3")["code"],
                         "bad_message")
        # Open, but nobody who serves it is signed in.
        r.send(type="chat.start", queue="bins", name="Bin", id="b")
        m = r.wait_for("chat.closed", id="b")
        self.assertEqual(m["reason"], "unserved")
        self.assertTrue(m["leave_message"])
        desk.status("away")

    def test_left_message_read_and_worked_at_the_desk(self):
        """Item 12: a message left (no chat session) is offered, and once
        accepted its text, sender and contact show in conversation.history, marked
        as a left message; the resident asked for a reply by email, so a
        reply is stored and queued as an email to the address given
        (issue 15; its sending is test_email_intake's); one left asking for
        a text message is refused plainly (cannot_reply), and stays open for
        notes and wrap-up."""
        time.sleep(1.2)  # the daemons' first reading of opening hours
        desk = self.desk(self.sbs[0])
        r = Resident(self, self.sbs[1])
        cid = str(uuid.uuid4())
        r.send(type="message.leave", id="l", queue="msg", name="Lou Left",
               email="Lou.Left@Example.org", mobile="07700 900555",
               text="My bin was not collected", client_id=cid)
        left = r.wait_for("message.left", id="l")
        conv = left["conversation"]
        desk.wait_for("offer", conversation=conv)
        desk.send(type="offer.accept", conversation=conv, id="acc")
        desk.wait_for("conversation.assigned", conversation=conv)
        desk.send(type="conversation.history", conversation=conv, id="h")
        h = desk.wait_for("conversation.history", id="h")
        self.assertTrue(h["left_message"])
        self.assertEqual(h["reply_by"], "email")
        self.assertEqual(h["reference"], left["reference"])
        self.assertEqual((h["customer"]["name"], h["customer"]["email"],
                          h["customer"]["mobile"]),
                         ("Lou Left", "lou.left@example.org", "+447700900555"))
        self.assertEqual([(x["from"], x["text"]) for x in h["messages"]],
                         [("resident", "My bin was not collected")])
        # Where a reply goes: the address given with the message.
        self.assertIs(h["can_reply"], True)
        self.assertEqual(h["email"]["address"], "lou.left@example.org")
        self.assertIn(left["reference"], h["email"]["subject"])
        desk.send(type="conversation.reply", conversation=conv,
                  client_id=str(uuid.uuid4()), text="Sorry!", id="s")
        desk.wait_for("conversation.replied", id="s")
        self.assertEqual(self.sql(
            "SELECT destination || '|' || (payload->>'kind') || '|' ||"
            " (payload->>'text') FROM outbox WHERE conversation_id = %s"
            " AND payload->>'kind' = 'email.reply'" % conv),
            "lou.left@example.org|email.reply|Sorry!")
        # Left asking for a text message, with no SMS sender configured:
        # a reply would go nowhere (docs/sms.md).
        r.send(type="message.leave", id="l2", queue="msg", name="Sam Sms",
               mobile="07700 900556", text="Call me",
               client_id=str(uuid.uuid4()))
        conv2 = r.wait_for("message.left", id="l2")["conversation"]
        desk.wait_for("offer", conversation=conv2)
        desk.send(type="offer.accept", conversation=conv2, id="acc2")
        desk.wait_for("conversation.assigned", conversation=conv2)
        desk.send(type="conversation.history", conversation=conv2, id="h2")
        h2 = desk.wait_for("conversation.history", id="h2")
        self.assertIs(h2["can_reply"], False)
        self.assertEqual(h2["reply_by"], "sms")
        desk.send(type="conversation.reply", conversation=conv2,
                  client_id=str(uuid.uuid4()), text="Sorry!", id="s2")
        self.assertEqual(desk.wait_for("error", id="s2")["code"],
                         "cannot_reply")
        self.assertEqual(self.sql(
            "SELECT count(*) FROM messages WHERE conversation_id = %s"
            " AND direction = 'out'" % conv2), "0")
        desk.send(type="conversation.wrap_up", conversation=conv2,
                  note="Called", id="w2")
        desk.wait_for("conversation.wrapped_up", id="w2")
        # Follow-up: a note, then the wrap-up closes it.
        desk.send(type="conversation.note", conversation=conv,
                  client_id=str(uuid.uuid4()), text="Rang them back",
                  id="n")
        desk.wait_for("conversation.noted", id="n")
        desk.send(type="conversation.wrap_up", conversation=conv,
                  note="Called", id="w")
        desk.wait_for("conversation.wrapped_up", id="w")
        harness.wait_for(lambda: self.sql(
            "SELECT status FROM conversations WHERE id = %s" % conv) ==
            "closed", 10, what="left message closed")
        desk.status("away")

    def test_ended_chat_waits_for_its_wrap_up(self):
        """Item 11: a chat the resident ends stays the advisor's (wrap_up)
        and is listed by conversation.wrap_ups on a desk that opens later, until
        it is wrapped up."""
        desk = self.desk(self.sbs[0])
        r, _ = self.assigned_chat(desk, self.sbs[1])
        r.send(type="chat.end")
        r.wait_for("chat.ended")
        desk.wait_for("conversation.finished", conversation=r.conv, by="resident")
        # A desk opened afterwards (a reload) is told of it.
        other = self.desk(self.sbs[1], status=None)
        other.send(type="conversation.wrap_ups", id="w")
        w = other.wait_for("conversation.wrap_ups", id="w")
        mine = [x for x in w["conversations"] if x["conversation"] == r.conv]
        self.assertEqual(len(mine), 1, w)
        self.assertEqual((mine[0]["ended_by"], mine[0]["queue"],
                          mine[0]["channel"], mine[0]["name"],
                          mine[0]["left_message"]),
                         ("resident", "31", "chat", "Ann Resident", False))
        # Its history still opens; the resident cannot write into it.
        other.send(type="conversation.history", conversation=r.conv, id="h")
        self.assertEqual(other.wait_for("conversation.history", id="h")["status"],
                         "wrap_up")
        other.send(type="conversation.wrap_up", conversation=r.conv,
                   note="Done", id="wu")
        other.wait_for("conversation.wrapped_up", id="wu")
        self.assertEqual(self.sql(
            "SELECT status FROM conversations WHERE id = %s" % r.conv),
            "closed")
        other.send(type="conversation.wrap_ups", id="w2")
        w = other.wait_for("conversation.wrap_ups", id="w2")
        self.assertNotIn(r.conv, [x["conversation"]
                                  for x in w["conversations"]])
        desk.status("away")

    def test_after_contact_work_is_told_to_the_desk(self):
        """A chat that ends holds its advisor's capacity for the queue's
        wrap-up time: the desk is told until when (conversation.ended),
        and told again (0) when that time is over."""
        desk = self.desk(self.sbs[0])
        r, _ = self.assigned_chat(desk, self.sbs[1], queue="acw")
        before = time.time() * 1000
        r.send(type="chat.end")
        r.wait_for("chat.ended")
        held = desk.wait_for("conversation.ended", conversation=r.conv)
        self.assertGreaterEqual(held["wrap_up_until_ms"], before + 2500)
        self.assertLessEqual(held["wrap_up_until_ms"],
                             time.time() * 1000 + 3500)
        over = desk.wait_for("conversation.ended", conversation=r.conv,
                             timeout=15)
        self.assertEqual(over["wrap_up_until_ms"], 0)
        self.assertGreaterEqual(time.time() * 1000,
                                held["wrap_up_until_ms"] - 50)
        desk.send(type="conversation.wrap_up", conversation=r.conv, id="wu")
        desk.wait_for("conversation.wrapped_up", id="wu")
        desk.status("away")

    def test_transfer_tells_the_resident_where_it_goes(self):
        """Item 13: chat.requeued says transferred, and to whom."""
        desk = self.desk(self.sbs[0])
        r, _ = self.assigned_chat(desk, self.sbs[1])
        desk.send(type="conversation.transfer", conversation=r.conv,
                  queue="31", id="t1")
        desk.wait_for("conversation.transferred", id="t1")
        m = r.wait_for("chat.requeued")
        self.assertEqual((m["reason"], m["to"]), ("transferred", "queue"))
        desk.wait_for("offer", conversation=r.conv)
        desk.send(type="offer.accept", conversation=r.conv, id="a2")
        desk.wait_for("offer.accepted", id="a2")
        r.wait_for("chat.assigned")
        desk.send(type="conversation.transfer", conversation=r.conv,
                  advisor=desk.staff, id="t2")
        desk.wait_for("conversation.transferred", id="t2")
        m = r.wait_for("chat.requeued")
        self.assertEqual((m["reason"], m["to"]), ("transferred", "advisor"))
        r.send(type="chat.end")
        r.wait_for("chat.ended")
        desk.status("away")

    def test_expired_and_not_started(self):
        r = Resident(self, self.sbs[0])
        r.say("hello?")
        self.assertEqual(r.wait_for("error")["code"], "not_started")
        r.send(type="chat.resume", token="A" * 43, after=0, id="x")
        self.assertEqual(r.wait_for("error", id="x")["code"], "expired")
        # A token past its lifetime.
        desk = self.desk(self.sbs[0], status="busy")
        r.start()
        self.sql("UPDATE chat_sessions SET expires_at = now() - interval "
                 "'1 second' WHERE conversation_id = %s" % r.conv)
        r2 = Resident(self, self.sbs[1])
        r2.send(type="chat.resume", token=r.token, after=0, id="y")
        self.assertEqual(r2.wait_for("error", id="y")["code"], "expired")
        r.send(type="chat.end")
        r.wait_for("chat.ended")
        desk.status("away")

    def test_start_retry_is_the_same_chat(self):
        desk = self.desk(self.sbs[0], status="busy")
        cid = str(uuid.uuid4())
        a = Resident(self, self.sbs[0])
        first = a.start(client_id=cid)
        a.ws.sock.close()  # the answer is lost with the connection
        b = Resident(self, self.sbs[1])
        again = b.start(client_id=cid)
        self.assertEqual(again["conversation"], first["conversation"])
        self.assertNotEqual(again["token"], first["token"])
        # Only the newest token resumes it.
        c = Resident(self, self.sbs[1])
        c.send(type="chat.resume", token=first["token"], after=0, id="old")
        self.assertEqual(c.wait_for("error", id="old")["code"], "expired")
        b.send(type="chat.end")
        b.wait_for("chat.ended")
        desk.status("away")

    def test_hostile_input_costs_only_its_socket(self):
        desk = self.desk(self.sbs[0])
        good, _ = self.assigned_chat(desk, self.sbs[1])
        sb = self.sbs[1]
        # Garbage JSON, unknown types, bad fields: an error, socket kept.
        r = Resident(self, sb)
        r.ws.send_text("{not json")
        self.assertEqual(r.wait_for("error")["code"], "bad_json")
        r.send(type="launch.missiles", id=1)
        self.assertEqual(r.wait_for("error", id=1)["code"], "unknown_type")
        r.send(type="chat.start", queue="tax", name="", id=2)
        self.assertEqual(r.wait_for("error", id=2)["code"], "bad_message")
        r.send(type="chat.start", queue="tax", name="X",
               email="not an email", id=3)
        self.assertEqual(r.wait_for("error", id=3)["code"], "bad_message")
        r.send(type="chat.start", queue="tax", name="X", mobile="call me",
               id=4)
        self.assertEqual(r.wait_for("error", id=4)["code"], "bad_message")
        good.send(type="message.send", client_id="not-a-uuid", text="x",
                  id=5)
        self.assertEqual(good.wait_for("error", id=5)["code"],
                         "bad_message")
        cid = str(uuid.uuid4())
        good.send(type="message.send", client_id=cid, text="é" * 4001,
                  id=cid)
        self.assertEqual(good.wait_for("error", id=cid)["code"], "too_long")
        # NUL inside a string: not taken as JSON at all.
        good.send(type="message.send", client_id=cid, text="a\u0000b")
        self.assertEqual(good.wait_for("error")["code"], "bad_json")
        # Oversize: 1009. Invalid UTF-8: 1007. A flood: rate_limited, 1008.
        big = Resident(self, sb)
        big.ws.send_text(json.dumps({"type": "typing", "x": "a" * 70000}))
        self.assertEqual(big.ws.recv_close()[0], 1009)
        bad = Resident(self, sb)
        bad.ws.send_frame(0x1, b'{"type":"typing","state":\xff}')
        self.assertEqual(bad.ws.recv_close()[0], 1007)
        flood = Resident(self, sb)
        # 600 a minute in bursts of 100: the 101st is refused, and going
        # on for another burst's worth closes the socket. Each message is
        # answered once (not_started before a chat, or rate_limited) until
        # the close; from the 150th on, each is sent only once every one
        # before it was answered, so that the server never closes with
        # unread data (a reset would lose the close frame), however slow
        # the machine.
        codes = set()
        sent = answered = 0
        closed = False
        for i in range(400):
            flood.ws.send_text('{"type":"typing","state":true}')
            sent += 1
            while i >= 150 and answered < sent and not closed:
                op, payload = flood.ws.recv_message(10)
                if op == 8:
                    codes.add(int.from_bytes(payload[:2], "big"))
                    closed = True
                else:
                    codes.add(json.loads(payload).get("code"))
                    answered += 1
            if closed:
                break
        self.assertIn("rate_limited", codes)
        self.assertIn(1008, codes)
        # A page of another site, or no subprotocol: refused.
        with self.assertRaises(harness.WebSocketError):
            sb.websocket(origin="https://evil.example",
                         protocol=PROTO).close()
        # Meanwhile the good chat carries on, both ways.
        cid = good.say("still here")
        seq = good.ack(cid)
        desk.wait_for("conversation.message", seq=seq)
        good.send(type="chat.end")
        good.wait_for("chat.ended")
        desk.status("away")

    def test_idle_chat_warned_extended_then_ended(self):
        desk = self.desk(self.sbs[0])
        r, _ = self.assigned_chat(desk, self.sbs[1])
        t0 = time.monotonic()
        w = r.wait_for("session.expiring", timeout=IDLE)
        warned_after = time.monotonic() - t0
        self.assertGreaterEqual(warned_after, IDLE / 2 - 3)
        # At least 20 s of warning.
        self.assertGreaterEqual(w["expires_ms"] - time.time() * 1000,
                                19000)
        r.send(type="session.extend", id="ext")
        ext = r.wait_for("session.extended", id="ext")
        self.assertGreater(ext["expires_ms"], w["expires_ms"])
        r.wait_for("session.expiring", timeout=IDLE)
        m = r.wait_for("chat.ended", timeout=IDLE)
        self.assertEqual(m["by"], "system")
        desk.wait_for("conversation.finished", conversation=r.conv, by="system")
        self.assertEqual(self.sql(
            "SELECT s.ended_by || '|' || c.status FROM chat_sessions s JOIN"
            " conversations c ON c.id = s.conversation_id WHERE c.id = %s"
            % r.conv), "system|wrap_up")
        desk.status("away")


if __name__ == "__main__":
    harness.main()
