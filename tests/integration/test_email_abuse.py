"""The council cannot be made to mail a stranger (issue 15, "Sending";
docs/chat-protocol.md "Mail the resident can cause"), counted where it
matters: at a real SMTP server (aiosmtpd). Two instances share PostgreSQL
and Redis and both send the outbox's email. An attacker opens widget
sockets on both, from many client addresses, leaving messages and asking
for transcripts that name one victim's address, with a phishing text. At
the SMTP server: at most chat.requests_per_destination mails reach the
victim in the hour, whichever instance took the requests and sent them;
none carries anything the attacker typed; and a transcript goes to the
address only through its confirmation link, which carries nothing typed
either."""

import email
import os
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_chat import WIDGET  # noqa: E402
from test_chat_limits import Widget  # noqa: E402

PER_DEST = 3
SMTP_USER, SMTP_PASSWORD = "relay", "pw-for-abuse-tests"
PHISH = "URGENT: your council tax is overdue, pay now at http://pay.example"
VICTIM = "victim@example.org"


class EmailAbuseTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.tmp = harness.tempdir("smtp")
        harness.lib_sh("sb_test_ca", cls.tmp)
        cls.smtp = harness.SmtpServer(cls.tmp, SMTP_USER, SMTP_PASSWORD)
        cls.smtp.start()
        over = {"widget_origins": [WIDGET],
                "chat": {"requests_per_socket": 3, "requests_per_client": 5,
                         "requests_per_destination": PER_DEST},
                "email": {"smtp": {
                    "host": "127.0.0.1", "port": cls.smtp.ports[0],
                    "tls": "smtps", "ca_file": os.path.join(cls.tmp, "ca.pem"),
                    "user": SMTP_USER, "password": SMTP_PASSWORD,
                    "from": "contact@example.gov.uk", "poll_ms": 100,
                    "batch": 4, "timeout": 5, "lease": 10}}}
        cls.sbs = [harness.Switchboard(cls.pg, cls.redis, over,
                                       dbname=cls.db, start=False)
                   for _ in range(2)]
        r = harness.run_switchboard(["-c", cls.sbs[0].conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO councils (slug, name) VALUES ('demo', 'Demo"
            " Council') ON CONFLICT DO NOTHING;"
            "INSERT INTO queues (id, slug, name) VALUES (51, 'tax', 'Tax');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s)"
            " VALUES (51, 'chat', 60);", dbname=cls.db)
        for sb in cls.sbs:
            sb.start()
        for sb in cls.sbs:
            sb.wait_ready()

    @classmethod
    def tearDownClass(cls):
        for sb in cls.sbs:
            rc = sb.stop()
            assert rc == 0, "exit %s\n%s" % (rc, sb.log_tail(80))

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def at_smtp(self, rcpt):
        return [m for m in self.smtp.taken() if rcpt in m["rcpt_tos"]]

    def settled(self):
        """Every email row sent or failed: nothing more will reach the
        server from what was queued."""
        return self.sql("SELECT count(*) FROM outbox WHERE channel ="
                        " 'email' AND status IN ('pending', 'sending')") \
            == "0"

    def test_a_stranger_gets_at_most_the_cap_and_nothing_typed(self):
        answers = []
        # Left messages naming the victim, from 8 client addresses, over
        # both instances, each socket to its own limit.
        for i in range(8):
            sb = self.sbs[i % 2]
            w = Widget(self, sb, "127.0.9.%d" % (i + 1))
            for k in range(3):
                answers.append(w.leave(VICTIM.upper() if k else VICTIM,
                                       text=PHISH)["type"])
        self.assertEqual(answers.count("message.left"), PER_DEST, answers)
        # Chats whose resident asks for the transcript at the victim's
        # address, on both instances.
        for i, sb in enumerate(self.sbs):
            r = Widget(self, sb, "127.0.10.%d" % (i + 1))
            r.send(type="chat.start", id="s", queue="tax", name="Mal")
            r.wait_for("chat.started", id="s")
            cid = str(uuid.uuid4())
            r.send(type="message.send", id=cid, client_id=cid, text=PHISH)
            r.wait_for("message.ack", client_id=cid)
            r.send(type="chat.end")
            r.wait_for("chat.ended")
            r.send(type="transcript.request", email=VICTIM, id="t")
            m = r.next(10)
            while m.get("id") != "t":
                m = r.next(10)
            self.assertEqual(m.get("code"), "too_many_requests", m)
        harness.wait_for(self.settled, 30, 0.1, "the outbox settled")
        # Sent by the instances, and counted at the SMTP server.
        got = harness.wait_for(
            lambda: len(self.at_smtp(VICTIM)) >= PER_DEST and
            self.at_smtp(VICTIM), 30, 0.1, "the mails at the server")
        time.sleep(1)  # a later, wrongly sent mail would show here
        got = self.at_smtp(VICTIM)
        self.assertEqual(len(got), PER_DEST,
                         [m["data"][:200] for m in got])
        for m in got:
            self.assertNotIn("pay now", m["data"])
            self.assertNotIn("pay.example", m["data"])
            self.assertIn("Auto-Submitted: auto-generated", m["data"])

    def test_transcript_only_through_the_link(self):
        addr = "typed.%s@example.org" % uuid.uuid4().hex[:8]
        r = Widget(self, self.sbs[1], "127.0.11.1")
        r.send(type="chat.start", id="s", queue="tax", name="Pat",
               email=addr)
        conv = r.wait_for("chat.started", id="s")["conversation"]
        cid = str(uuid.uuid4())
        r.send(type="message.send", id=cid, client_id=cid, text=PHISH)
        r.wait_for("message.ack", client_id=cid)
        r.send(type="chat.end")
        r.wait_for("chat.ended")
        r.send(type="transcript.request", id="t")
        r.wait_for("transcript.confirm", id="t")
        got = harness.wait_for(lambda: self.at_smtp(addr), 30, 0.1,
                               "the confirmation at the server")
        self.assertEqual(len(got), 1)
        self.assertNotIn("pay now", got[0]["data"])
        self.assertNotIn("Pat", got[0]["data"])
        body = email.message_from_string(got[0]["data"]).get_payload(
            decode=True).decode()
        link = self.sql("SELECT payload->>'text' FROM outbox WHERE"
                        " conversation_id = %s" % conv)
        tok = harness.re.search(r"token=([A-Za-z0-9_-]{43})", link).group(1)
        self.assertIn("/widget/transcript/?token=" + tok, body)
        # The link is opened (on the other instance): the transcript goes.
        self.assertEqual(self.sbs[0].get(
            "/api/chat/transcript?token=" + tok).status, 200)
        got = harness.wait_for(lambda: len(self.at_smtp(addr)) == 2 and
                               self.at_smtp(addr), 30, 0.1,
                               "the transcript at the server")
        self.assertTrue(any("pay now" in email.message_from_string(
            m["data"]).get_payload(decode=True).decode() for m in got))


if __name__ == "__main__":
    unittest.main()
