"""The outbox's email sender (channels/email/email_outbox.c, docs/email.md,
"The outbox sender") in the daemon, against PostgreSQL and a real SMTP
server (aiosmtpd, tests/unit/email/smtp_server.py) over implicit TLS with
a test CA: acknowledgements and chat mail sent once each, with the
Message-ID stored in the row before the first attempt and the empty
envelope sender where the row asks for it; a row that cannot be composed
and a recipient refused for good marked failed with the reason; a
recipient refused for now retried; the SMTP server down, then back: sent
once; a row left 'sending' by a sender that died: sent again with the same
Message-ID."""

import json
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

USER = "council"
PASSWORD = "pw-for-outbox-tests"


class EmailOutboxTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.tmp = harness.tempdir("smtp")
        harness.lib_sh("sb_test_ca", cls.tmp)
        cls.smtp = harness.SmtpServer(cls.tmp, USER, PASSWORD)
        cls.smtp.start()
        over = {"email": {"smtp": {
            "host": "127.0.0.1", "port": cls.smtp.ports[0], "tls": "smtps",
            "ca_file": os.path.join(cls.tmp, "ca.pem"), "user": USER,
            "password": PASSWORD, "from": "contact@example.gov.uk",
            "from_name": "Example Council", "poll_ms": 100, "lease": 10,
            "timeout": 5}}}
        cls.sb = harness.Switchboard(cls.pg, cls.redis, over, dbname=cls.db,
                                     start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO customers (id, display_name) VALUES (1, 'R');"
            "INSERT INTO conversations (id, customer_id, channel, reference)"
            " VALUES (1, 1, 'email', 'SB100057'), (2, 1, 'chat', 'SB12344'),"
            " (3, 1, 'email', 'SB422');", dbname=cls.db)
        cls.sb.start()
        cls.sb.wait_ready()

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def add(self, conv, dest, payload):
        return int(self.sql(
            "INSERT INTO outbox (conversation_id, channel, destination,"
            " payload) VALUES (%s, 'email', '%s', '%s'::jsonb) RETURNING id"
            % ("NULL" if conv is None else conv, dest,
               json.dumps(payload).replace("'", "''"))))

    def status(self, row):
        return self.sql("SELECT status FROM outbox WHERE id = %d" % row)

    def wait_status(self, row, want, timeout=20):
        try:
            harness.wait_for(lambda: self.status(row) == want, timeout, 0.1,
                             "outbox row %d %s" % (row, want))
        except AssertionError as e:
            raise AssertionError("%s: %s\n--- log ---\n%s" % (
                e, self.sql("SELECT status, attempts, last_error FROM outbox"
                            " WHERE id = %d" % row), harness.tail(self.sb.log, 120)))

    def message_for(self, row):
        mid = self.sql("SELECT payload->>'message_id' FROM outbox"
                       " WHERE id = %d" % row)
        got = [m for m in self.smtp.taken()
               if "Message-ID: <%s>" % mid in m["data"]]
        return mid, got

    def test_sent_once_with_stored_id(self):
        ack = self.add(1, "resident@example.org", {
            "kind": "email.ack", "subject": "Re: bins [SB100057]",
            "text": "Thank you. Your reference is SB100057.",
            "in_reply_to": "orig@example.org",
            "auto_submitted": "auto-replied", "envelope_from": ""})
        chat = self.add(2, "chat@example.org", {
            "kind": "chat.left_message.ack",
            "subject": "We have your message - reference SB12344",
            "text": "Thank you for your message.", "reference": "SB12344"})
        self.wait_status(ack, "sent")
        self.wait_status(chat, "sent")
        mid, got = self.message_for(ack)
        self.assertRegex(mid, r"^sb\.%d\.[0-9a-f]{32}@example\.gov\.uk$" % ack)
        self.assertEqual(len(got), 1)
        m = got[0]
        self.assertEqual(m["mail_from"], "<>")  # aiosmtpd's null path
        self.assertEqual(m["rcpt_tos"], ["resident@example.org"])
        self.assertIn("Auto-Submitted: auto-replied\r\n", m["data"])
        self.assertIn("In-Reply-To: <orig@example.org>\r\n", m["data"])
        self.assertIn("Subject: Re: bins [SB100057]\r\n", m["data"])
        self.assertIn('From: "Example Council"', m["data"])
        mid, got = self.message_for(chat)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["mail_from"], "contact@example.gov.uk")
        self.assertIn("Auto-Submitted: auto-generated\r\n", got[0]["data"])
        # Sent is final: nothing goes twice.
        time.sleep(1)
        self.assertEqual(len(self.message_for(ack)[1]), 1)

    def test_failures(self):
        bad = self.add(3, "resident@example.org", {"kind": "email.ack",
                                                     "subject": "x"})
        gone = self.add(None, "reject@example.org", {
            "kind": "email.ack", "subject": "s", "text": "t"})
        later = self.add(None, "later@example.org", {
            "kind": "email.ack", "subject": "s", "text": "t"})
        self.wait_status(bad, "failed")
        self.assertIn("no text", self.sql(
            "SELECT last_error FROM outbox WHERE id = %d" % bad))
        self.wait_status(gone, "failed")
        self.assertIn("550", self.sql(
            "SELECT last_error FROM outbox WHERE id = %d" % gone))
        harness.wait_for(lambda: self.sql(
            "SELECT attempts FROM outbox WHERE id = %d" % later) == "1"
            and self.status(later) == "pending", 20, 0.1, "451 retried")
        self.assertIn("451", self.sql(
            "SELECT last_error FROM outbox WHERE id = %d" % later))
        self.assertTrue(self.sql(
            "SELECT next_attempt_at > now() FROM outbox WHERE id = %d"
            % later) == "t")

    def test_server_down_then_back_and_a_dead_sender(self):
        self.smtp.stop()
        try:
            row = self.add(None, "down@example.org", {
                "kind": "email.ack", "subject": "s", "text": "while down"})
            harness.wait_for(lambda: self.sql(
                "SELECT attempts FROM outbox WHERE id = %d" % row) == "1"
                and self.status(row) == "pending", 20, 0.1, "tried once")
            mid = self.sql("SELECT payload->>'message_id' FROM outbox"
                           " WHERE id = %d" % row)
            # A sender died after the server's 250: 'sending', lease over.
            dead = self.add(None, "dead@example.org", {
                "kind": "email.ack", "subject": "s", "text": "again",
                "message_id": "sb.dead.1@example.gov.uk"})
            self.sql("UPDATE outbox SET status = 'sending', attempts = 1,"
                     " next_attempt_at = now() + '1 hour' WHERE id = %d"
                     % dead)
        finally:
            self.smtp.start()
        # Back: due now (rather than after the backoff), sent once, with
        # the id it was given before the first attempt.
        self.sql("UPDATE outbox SET next_attempt_at = now() WHERE id IN"
                 " (%d, %d)" % (row, dead))
        self.wait_status(row, "sent")
        self.wait_status(dead, "sent")
        self.assertEqual(len(self.message_for(row)[1]), 1)
        self.assertEqual(self.message_for(row)[0], mid)
        _, got = self.message_for(dead)
        self.assertEqual(len(got), 1)
        self.assertIn("Message-ID: <sb.dead.1@example.gov.uk>", got[0]["data"])

    def test_z_stops_cleanly(self):
        """Last (by name): a send in flight at SIGTERM; exit 0, no leak."""
        self.add(None, "last@example.org", {
            "kind": "email.ack", "subject": "s", "text": "at shutdown"})
        time.sleep(0.2)
        self.assertEqual(self.sb.stop(), 0, harness.tail(self.sb.log, 60))
        with open(self.sb.log, errors="replace") as f:
            log = f.read()
        self.assertNotIn("Sanitizer", log)


if __name__ == "__main__":
    unittest.main()
