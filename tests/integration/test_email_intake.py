"""Email intake (channels/email/email_intake.c, docs/email.md, "Intake") in
the daemon, against a real Dovecot (IMAP over implicit TLS, a test CA),
PostgreSQL, Redis and a real SMTP server (aiosmtpd) for the
acknowledgements:

* a new mail opens a conversation in the mailbox's queue, its raw source
  kept byte for byte, \\Seen set after COMMIT, acknowledged once with the
  empty envelope sender, Auto-Submitted and the threading headers;
* replies thread: by In-Reply-To to the resident's mail, by In-Reply-To to
  our acknowledgement (an Outlook reply whose subject lost the reference),
  and by the reference alone;
* no loops: an out-of-office, mail from our own address and a second
  new mail from the same sender within 7 days are not acknowledged; a
  delivery report opens nothing and is recorded;
* SIGKILL between fetch and COMMIT, and between COMMIT and the \\Seen
  store: each message exists once afterwards; mail arriving while the
  daemon is down, some read by another client meanwhile: all imported;
* a UIDVALIDITY change: the folder is rescanned, nothing imported twice,
  the operator alerted;
* a mailbox that cannot sign in: a clear error on /readyz and in the log,
  switchboard_email_mailbox_up 0, the instance still ready;
* two instances: one holds the lease (in /metrics), the other takes over
  when the holder is killed."""

import base64
import email
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_chat  # noqa: E402
from test_routing import Desk  # noqa: E402

SMTP_USER = "relay"
SMTP_PASSWORD = "pw-for-intake-tests"
OURS = "contact@example.gov.uk"


def mail(frm, subject, body, msgid=None, extra=()):
    """A plain-text RFC 5322 message (bytes)."""
    lines = ["From: %s" % frm, "To: Council <%s>" % OURS,
             "Subject: %s" % subject,
             "Date: Mon, 07 Dec 2026 10:00:00 +0000"]
    if msgid:
        lines.append("Message-ID: <%s>" % msgid)
    lines += list(extra)
    lines += ["MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


def dsn_for(msgid, rcpt, own_id):
    """A delivery report (RFC 3464) saying the mail msgid could not be
    delivered to rcpt, for good."""
    return "\r\n".join([
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>",
        "To: %s" % OURS, "Subject: Undelivered Mail Returned to Sender",
        "Message-ID: <%s>" % own_id, "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;"
        " boundary=\"b\"", "", "--b",
        "Content-Type: text/plain", "", "Delivery failed.", "--b",
        "Content-Type: message/delivery-status", "",
        "Reporting-MTA: dns; mx.example.org", "",
        "Final-Recipient: rfc822; %s" % rcpt, "Action: failed",
        "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 no such user",
        "", "--b", "Content-Type: text/rfc822-headers", "",
        "Message-ID: <%s>" % msgid, "Subject: Re: something", "",
        "--b--", ""]).encode()


class EmailIntakeTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.dove = harness.Dovecot(starttls=True)
        cls.tmp = harness.tempdir("smtp")
        harness.lib_sh("sb_test_ca", cls.tmp)
        cls.smtp = harness.SmtpServer(cls.tmp, SMTP_USER, SMTP_PASSWORD)
        cls.smtp.start()
        cls.ack_file = os.path.join(cls.tmp, "ack.txt")
        with open(cls.ack_file, "w") as f:
            f.write("Thank you for writing to {name}.\n\nYour reference is"
                    " {reference}: we answer within 10 working days.\n")
        cls.over = {"email": {
            "smtp": {
                "host": "127.0.0.1", "port": cls.smtp.ports[0],
                "tls": "smtps", "ca_file": os.path.join(cls.tmp, "ca.pem"),
                "user": SMTP_USER, "password": SMTP_PASSWORD, "from": OURS,
                "from_name": "Example Council", "poll_ms": 100,
                "lease": 10, "timeout": 5},
            "mailbox council": {
                "host": "127.0.0.1", "port": cls.dove.port,
                "ca_file": cls.dove.ca, "user": cls.dove.user,
                "password": cls.dove.password, "queue": "contact",
                "addresses": [OURS], "name": "Example Council",
                "acknowledgement_file": cls.ack_file,
                "sweep": 2, "timeout": 5, "lease": 3},
            # Plain IMAP upgraded by STARTTLS (port 143's way).
            "mailbox plain": {
                "host": "127.0.0.1", "port": cls.dove.starttls_port,
                "tls": "starttls", "ca_file": cls.dove.ca,
                "user": cls.dove.user, "password": cls.dove.password,
                "queue": "contact", "folder": "Plain", "addresses": [OURS],
                "acknowledge": False, "sweep": 2, "timeout": 5,
                "lease": 3},
            # The desk's test reads its own folder into its own queue.
            "mailbox desk": {
                "host": "127.0.0.1", "port": cls.dove.port,
                "ca_file": cls.dove.ca, "user": cls.dove.user,
                "password": cls.dove.password, "queue": "deskq",
                "folder": "Desk", "addresses": [OURS, "tax@example.gov.uk"],
                "after_import": "move:Done", "acknowledge": False,
                "from": "tax@example.gov.uk", "from_name": "Council Tax",
                "reply_to": "tax.replies@example.gov.uk",
                "signature": "Council Tax team\nExample Council",
                "sweep": 2, "timeout": 5, "lease": 3}}}
        cls.sb = harness.Switchboard(cls.pg, cls.redis, cls.over,
                                     dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.dove.doveadm("mailbox", "create", "-u", cls.dove.user, "Desk",
                         "Done", "Plain")
        cls.passwords = {}
        for login, role in (("ann", "advisor"), ("bob", "advisor"),
                            ("sue", "supervisor")):
            r = harness.run_switchboard(
                ["-c", cls.sb.conf, "user", "add", "--role", role,
                 "--name", login.title() + " Staff", login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql("INSERT INTO queues (id, slug, name) VALUES"
                    " (61, 'contact', 'Contact centre'),"
                    " (62, 'deskq', 'Desk replies');"
                    "INSERT INTO queue_channels (queue_id, channel,"
                    " answer_target_s, offer_timeout_s, wrap_up_s) VALUES"
                    " (61, 'email', 86400, 30, 0), (62, 'email', 86400, 30,"
                    " 0);"
                    "INSERT INTO queue_members (staff_id, queue_id) SELECT"
                    " id, 62 FROM staff_users WHERE login = 'ann'",
                    dbname=cls.db)
        cls.sb.start()
        cls.sb.wait_ready()

    @classmethod
    def tearDownClass(cls):
        # A clean exit: leases given back, threads joined, and nothing the
        # sanitizers object to (they make the exit status non-zero).
        if cls.sb.running():
            rc = cls.sb.stop()
            assert rc == 0, "exit %s\n%s" % (rc, cls.sb.log_tail(80))

    def stopped(self, sb):
        rc = sb.stop()
        self.assertEqual(rc, 0, sb.log_tail(80))

    def setUp(self):
        if not self.sb.running():
            self.sb.start()
            self.sb.wait_ready()

    # -------------------------------------------------------- helpers

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def fail_with_log(self, e):
        raise AssertionError("%s\n--- log ---\n%s" % (
            e, self.sb.log_tail(80)))

    def wait(self, pred, what, timeout=30):
        try:
            return harness.wait_for(pred, timeout, 0.1, what)
        except AssertionError as e:
            self.fail_with_log(e)

    def imported(self, msgid):
        """(conversation id, messages.id) rows of the mail whose
        Message-ID is msgid, imported as a message."""
        out = self.sql(
            "SELECT m.conversation_id || ' ' || m.id FROM email_messages e"
            " JOIN messages m ON m.id = e.message_id"
            " WHERE e.rfc_message_id = '%s' AND e.kind = 'message'"
            " ORDER BY e.id" % msgid)
        return [tuple(int(x) for x in line.split())
                for line in out.splitlines() if line]

    def wait_imported(self, msgid, timeout=30):
        self.wait(lambda: self.imported(msgid), "mail <%s> imported" % msgid,
                  timeout)
        rows = self.imported(msgid)
        self.assertEqual(len(rows), 1, rows)
        return rows[0][0]

    def acks_to(self, addr):
        return [m for m in self.smtp.taken()
                if addr in m["rcpt_tos"] and
                "Auto-Submitted: auto-replied" in m["data"]]

    def seen(self, msgid):
        return self.dove.count("mailbox INBOX SEEN header Message-ID %s"
                               % msgid)

    def restart(self):
        self.sb.kill()
        self.sb.start()
        self.sb.wait_ready()

    cookie = test_chat.ChatTest.cookie

    # -------------------------------------------------------- tests

    def test_desk_reply_by_email_threads_back(self):
        """An email offered to an advisor, answered from the desk: the
        composer's target in the history, the reply at the SMTP server
        with In-Reply-To, References and the reference, its state followed
        live to "sent", and the resident's answer to it back in the same
        conversation; the mail moved to the processed folder."""
        ann = Desk(self, self.sb, self.cookie(self.sb, "ann"))
        ann.status("available")
        self.addCleanup(lambda: ann.status("away"))
        self.dove.deliver(mail("Jo Resident <jo@example.org>",
                               "Council tax band", "Why is my band D?",
                               "j1@example.org",
                               ["Reply-To: someone.else@example.net"]),
                          folder="Desk")
        conv = str(self.wait_imported("j1@example.org"))
        ann.wait_for("offer", conversation=conv, timeout=30)
        ann.send(type="offer.accept", conversation=conv, id="acc")
        ann.wait_for("offer.accepted", id="acc")
        ann.send(type="conversation.history", conversation=conv, id="h")
        h = ann.next_of(("conversation.history", "error"), "h")
        self.assertEqual(h["type"], "conversation.history", h)
        self.assertIs(h["can_reply"], True)
        ref = h["reference"]
        # Replies go to the From address, never a Reply-To it named.
        self.assertEqual(h["email"]["address"], "jo@example.org")
        self.assertEqual(h["email"]["reply_to_ignored"],
                         "someone.else@example.net")
        self.assertEqual(h["email"]["subject"],
                         "Re: Council tax band [%s]" % ref)
        ann.send(type="conversation.reply", conversation=conv,
                 client_id=str(uuid.uuid4()), text="Band D is set by the VOA.",
                 id="r")
        rep = ann.next_of(("conversation.replied", "error"), "r")
        self.assertEqual(rep["type"], "conversation.replied", rep)
        d = ann.wait_for("conversation.delivery", conversation=conv,
                         timeout=30)
        self.assertEqual((d["seq"], d["delivery"]["status"],
                          d["delivery"]["to"]),
                         (rep["seq"], "sent", "jo@example.org"))
        got = [m for m in self.smtp.taken() if "jo@example.org" in
               m["rcpt_tos"]]
        self.assertEqual(len(got), 1, got)
        data = got[0]["data"]
        self.assertIn("In-Reply-To: <j1@example.org>", data)
        self.assertRegex(data, r"References: <j1@example\.org>")
        self.assertIn("Subject: Re: Council tax band [%s]" % ref, data)
        self.assertIn("Band D is set by the VOA.", data)
        self.assertNotIn("Auto-Submitted", data)
        self.assertNotIn("someone.else@example.net", got[0]["rcpt_tos"])
        # Sent as the mailbox, with its signature; bounces come back to it.
        self.assertRegex(data, r'From: "Council Tax"\s+<tax@example\.gov\.uk>')
        self.assertIn("Reply-To: <tax.replies@example.gov.uk>", data)
        # the signature's "-- " line, quoted-printable
        self.assertIn("--=20\r\nCouncil Tax team\r\nExample Council", data)
        self.assertEqual(got[0]["mail_from"], "tax@example.gov.uk")
        ours = re.search(r"Message-ID: <([^>]+)>", data).group(1)
        # The history shows it sent.
        ann.send(type="conversation.history", conversation=conv, id="h2")
        h = ann.next_of(("conversation.history",), "h2")
        mine = [m for m in h["messages"] if m["seq"] == rep["seq"]][0]
        self.assertEqual(mine["delivery"]["status"], "sent")
        # The resident answers the reply (a new subject, In-Reply-To ours).
        self.dove.deliver(mail("Jo Resident <jo@example.org>", "Thanks",
                               "Understood.", "j2@example.org",
                               ["In-Reply-To: <%s>" % ours,
                                "References: <j1@example.org> <%s>" % ours]),
                          folder="Desk")
        self.assertEqual(str(self.wait_imported("j2@example.org")), conv)
        ann.wait_for("conversation.message", conversation=conv,
                     text="Understood.", timeout=30)
        # The reply bounces: the report names our Message-ID and Jo's
        # address; the desk sees it on the reply, the record marks Jo's
        # address bouncing.
        self.dove.deliver(dsn_for(ours, "jo@example.org", "d2@mx.example.org"))
        d = ann.wait_for("conversation.delivery", conversation=conv,
                         timeout=30)
        self.assertEqual((d["seq"], d["delivery"]["bounced"]),
                         (rep["seq"], True))
        self.assertIn("no such user", d["delivery"]["bounce_reason"])
        self.assertEqual(self.sql(
            "SELECT bouncing_since IS NOT NULL FROM customer_identities"
            " WHERE value = 'jo@example.org'"), "t")
        # The record panel's API says so.
        cust = self.sql("SELECT customer_id FROM conversations WHERE id = %s"
                        % conv)
        r = self.sb.request("GET", "/api/customers/%s" % cust, headers={
            "Cookie": self.cookie(self.sb, "ann"),
            "X-Requested-With": "switchboard"})
        self.assertEqual(r.status, 200, r.body)
        jo = [i for i in r.json()["identities"]
              if i["value"] == "jo@example.org"][0]
        self.assertIsInstance(jo["bouncing_since"], int)
        self.assertIn("no such user", jo["bounce_reason"])
        ann.send(type="conversation.history", conversation=conv, id="h3")
        h = ann.next_of(("conversation.history",), "h3")
        mine = [m for m in h["messages"] if m["seq"] == rep["seq"]][0]
        self.assertIs(mine["delivery"]["bounced"], True)
        # Moved after import: nothing left in Desk, both in Done.
        self.wait(lambda: self.dove.count("mailbox Done header Message-ID"
                                          " @example.org") >= 2, "moved")
        self.assertEqual(self.dove.count("mailbox Desk all"), 0)


    def test_starttls_mailbox(self):
        """A mailbox on plain IMAP (143's way): STARTTLS before signing
        in, the certificate verified, then mail as over implicit TLS."""
        self.dove.deliver(mail("Pat <pat@example.org>", "Over STARTTLS",
                               "Body.", "p1@example.org"), folder="Plain")
        self.wait_imported("p1@example.org")
        self.assertEqual(harness.json.loads(self.sb.get("/readyz").body)
                         ["email"]["plain"], "ok")
        self.assertRegex(self.sb.log_text(), r"email\.mailbox_started "
                         r"mailbox=plain host=127\.0\.0\.1 port=\d+ "
                         r"tls=starttls")
        # Every sign-in Dovecot saw was over TLS (it refuses plain ones
        # anyway: disable_plaintext_auth).
        with open(os.path.join(self.dove.dir, "dovecot.log")) as f:
            logins = [x for x in f if "Login: user=<council>" in x]
        self.assertTrue(logins)
        self.assertTrue(all(", TLS," in x for x in logins), logins)

    def test_starttls_never_downgraded(self):
        """A server that offers no STARTTLS, and one that slips a line in
        after its OK before TLS (the injection libetpan's own STARTTLS let
        through): both refused with the reason, before any sign-in."""
        got = {"nostarttls": [], "inject": []}
        servers = []

        def serve(name, lines_after_ok):
            srv = socket.socket()
            srv.bind(("127.0.0.1", 0))
            srv.listen(5)
            servers.append(srv)

            def run():
                while True:
                    try:
                        conn, _ = srv.accept()
                    except OSError:
                        return
                    with conn:
                        caps = "IMAP4rev1 LOGINDISABLED" + (
                            " STARTTLS" if lines_after_ok is not None else "")
                        conn.sendall(b"* OK [CAPABILITY %s] fake\r\n"
                                     % caps.encode())
                        f = conn.makefile("rb")
                        for line in f:
                            got[name].append(line)
                            tag = line.split(b" ", 1)[0]
                            if b"STARTTLS" in line.upper():
                                conn.sendall(tag + b" OK Begin TLS\r\n" +
                                             (lines_after_ok or b""))
                            elif b"CAPABILITY" in line.upper():
                                conn.sendall(b"* CAPABILITY %s\r\n%s OK\r\n"
                                             % (caps.encode(), tag))
                            else:
                                conn.sendall(tag + b" BAD no\r\n")
            threading.Thread(target=run, daemon=True).start()
            return srv.getsockname()[1]
        ports = {"nostarttls": serve("nostarttls", None),
                 "inject": serve("inject", b"* OK [ALERT] injected\r\n")}
        over = {"email": {"mailbox %s" % k: {
            "host": "127.0.0.1", "port": ports[k], "tls": "starttls",
            "ca_file": self.dove.ca, "user": "council", "password": "pw",
            "queue": "contact", "addresses": [OURS], "sweep": 2,
            "timeout": 5, "lease": 3} for k in ports}}
        sb = harness.Switchboard(self.pg, self.redis, over, dbname=self.db,
                                 start=False)
        try:
            sb.start()
            sb.wait_ready()

            def states():
                e = harness.json.loads(sb.get("/readyz").body)["email"]
                return (e["nostarttls"].startswith("error: ") and
                        e["inject"].startswith("error: ") and e)
            e = self.wait(states, "both mailboxes in error")
            self.assertIn("offers no STARTTLS", e["nostarttls"])
            self.assertIn("data sent before TLS", e["inject"])
            for k in got:
                self.assertFalse([x for x in got[k] if b"LOGIN" in
                                  x.upper() or b"AUTHENTICATE" in x.upper()],
                                 got[k])
        finally:
            self.stopped(sb)
            for srv in servers:
                srv.close()

    def test_attachments_downloaded_from_the_desk(self):
        """GET /api/messages/{id}/attachments/{n}: the bytes as a download
        (a name in UTF-8 kept, a hostile one harmless), for the advisor
        holding the conversation or a supervisor only; one over the size
        kept is 410, the original mail kept whole."""
        ann = Desk(self, self.sb, self.cookie(self.sb, "ann"))
        ann.status("available")
        self.addCleanup(lambda: ann.status("away"))
        pdf = b"%PDF-1.4 council tax bill \x00\xff"
        big = os.urandom(11 << 20)
        hostile = base64.b64encode(
            'x"\r\nSet-Cookie: a=1; b.html'.encode()).decode()

        def part(ctype, disp, data):
            return ["--b1", "Content-Type: " + ctype,
                    "Content-Disposition: attachment; " + disp,
                    "Content-Transfer-Encoding: base64", "",
                    base64.encodebytes(data).decode().replace("\n", "\r\n")]
        lines = ["From: Mo <mo@example.org>", "To: %s" % OURS,
                 "Subject: My bill", "Message-ID: <m1@example.org>",
                 "MIME-Version: 1.0",
                 'Content-Type: multipart/mixed; boundary="b1"', "",
                 "--b1", "Content-Type: text/plain; charset=utf-8", "",
                 "Bill attached."]
        lines += part("application/pdf",
                      "filename*=UTF-8''Bill%20%E2%80%93%20%C2%A32026.pdf",
                      pdf)
        lines += part("text/html",
                      'filename="=?utf-8?b?%s?="' % hostile, b"<script>1</script>")
        lines += part("application/octet-stream", 'filename="scan.tif"', big)
        lines += ["--b1--", ""]
        self.dove.deliver("\r\n".join(lines).encode(), folder="Desk")
        conv = str(self.wait_imported("m1@example.org", timeout=60))
        ann.wait_for("offer", conversation=conv, timeout=30)
        ann.send(type="offer.accept", conversation=conv, id="acc")
        ann.wait_for("offer.accepted", id="acc")
        seq = self.sql("SELECT id FROM messages WHERE conversation_id = %s"
                       " AND direction = 'in'" % conv)

        def get(login, n):
            h = {"X-Requested-With": "switchboard"}
            if login:
                h["Cookie"] = self.cookie(self.sb, login)
            return self.sb.request(
                "GET", "/api/messages/%s/attachments/%d" % (seq, n),
                headers=h, timeout=30)
        r = get("ann", 1)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, pdf)
        self.assertEqual(r.headers["content-type"],
                         "application/octet-stream")
        self.assertIn("attachment;", r.headers["content-disposition"])
        self.assertIn("filename*=UTF-8''Bill%20%E2%80%93%20%C2%A32026.pdf",
                      r.headers["content-disposition"])
        self.assertEqual(r.headers["x-content-type-options"], "nosniff")
        self.assertIn("sandbox", r.headers["content-security-policy"])
        r = get("ann", 2)
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn("set-cookie", r.headers)
        self.assertNotIn("\r", r.headers["content-disposition"])
        self.assertEqual(r.headers["content-type"],
                         "application/octet-stream")
        # Over the size kept: said so; the original is whole in the store.
        r = get("ann", 3)
        self.assertEqual(r.status, 410, r.body)
        self.assertEqual(self.sql(
            "SELECT length(raw) > %d FROM email_messages WHERE"
            " rfc_message_id = 'm1@example.org'" % (11 << 20)), "t")
        self.assertEqual(get("ann", 4).status, 404)
        # Not held: as if there were none. A supervisor may.
        self.assertEqual(get("bob", 1).status, 404)
        self.assertEqual(get("sue", 1).status, 200)
        self.assertEqual(get(None, 1).status, 401)

    def test_desk_replies_while_smtp_is_down(self):
        """Replies written while the SMTP server is down: the desk sees
        each tried and waiting (with the reason); once it is back they go
        out once each, in the order written, the second's References
        holding the first's Message-ID."""
        ann = Desk(self, self.sb, self.cookie(self.sb, "ann"))
        ann.status("available")
        self.addCleanup(lambda: ann.status("away"))
        self.dove.deliver(mail("Lou <lou@example.org>", "Garden waste",
                               "When is the next collection?",
                               "l1@example.org"), folder="Desk")
        conv = str(self.wait_imported("l1@example.org"))
        ann.wait_for("offer", conversation=conv, timeout=30)
        ann.send(type="offer.accept", conversation=conv, id="acc")
        ann.wait_for("offer.accepted", id="acc")
        # Opened, as the desk does: it follows the conversation from here.
        ann.send(type="conversation.history", conversation=conv, id="h")
        ann.next_of(("conversation.history",), "h")
        self.smtp.stop()
        try:
            seqs = []
            for i, text in enumerate(("Next Tuesday.", "Put it out by 7am.")):
                ann.send(type="conversation.reply", conversation=conv,
                         client_id=str(uuid.uuid4()), text=text,
                         id="r%d" % i)
                seqs.append(ann.next_of(("conversation.replied",),
                                        "r%d" % i)["seq"])
            d = ann.wait_for("conversation.delivery", conversation=conv,
                             timeout=30)
            self.assertEqual((d["seq"], d["delivery"]["status"]),
                             (seqs[0], "pending"))
            self.assertTrue(d["delivery"]["error"])
        finally:
            self.smtp.start()
        # Back: due now rather than after the back-off (30 s and more).
        self.sql("UPDATE outbox SET next_attempt_at = now() WHERE"
                 " conversation_id = %s" % conv)
        sent = []
        while len(sent) < 2:
            d = ann.wait_for("conversation.delivery", conversation=conv,
                             timeout=60)
            if d["delivery"]["status"] == "sent":
                sent.append(d["seq"])
        self.assertEqual(sent, seqs)
        got = [m for m in self.smtp.taken() if "lou@example.org" in
               m["rcpt_tos"]]
        self.assertEqual(len(got), 2, [m["data"][:300] for m in got])
        first = re.search(r"Message-ID: <([^>]+)>", got[0]["data"]).group(1)
        self.assertIn("Next Tuesday.", got[0]["data"])
        self.assertIn("Put it out by 7am.", got[1]["data"])
        self.assertRegex(got[1]["data"],
                         r"References: <l1@example\.org>\s+<%s>"
                         % re.escape(first))

    def test_new_mail_opens_conversation_and_is_acknowledged(self):
        raw = mail("Ann Resident <ann@example.org>", "Missed bin on Elm Road",
                   "The bin was not collected.\r\nThanks, Ann", "a1@example.org")
        self.dove.deliver(raw)
        conv = self.wait_imported("a1@example.org")
        row = self.sql(
            "SELECT c.channel || '|' || q.slug || '|' || c.subject || '|' ||"
            " c.reference FROM conversations c JOIN queues q ON"
            " q.id = c.queue_id WHERE c.id = %d" % conv).split("|")
        self.assertEqual(row[:3], ["email", "contact", "Missed bin on Elm Road"])
        ref = row[3]
        body = self.sql("SELECT body FROM messages WHERE conversation_id = %d"
                        % conv)
        self.assertIn("The bin was not collected.", body)
        # The raw source, byte for byte, and the identity it came from.
        stored = self.sql("SELECT encode(raw, 'hex') || ' ' || mailbox ||"
                          " ' ' || uid FROM email_messages WHERE"
                          " rfc_message_id = 'a1@example.org'").split()
        self.assertEqual(bytes.fromhex(stored[0]), raw)
        self.assertEqual(stored[1], "council")
        self.assertEqual(self.sql(
            "SELECT value FROM customer_identities i JOIN conversations c"
            " ON c.customer_id = i.customer_id WHERE c.id = %d" % conv),
            "ann@example.org")
        # \Seen only after COMMIT: it is set.
        self.wait(lambda: self.seen("a1@example.org") == 1, "\\Seen set")
        # Acknowledged once, as an automatic reply.
        acks = self.wait(lambda: self.acks_to("ann@example.org"),
                         "acknowledgement sent")
        self.assertEqual(len(acks), 1)
        data = acks[0]["data"]
        self.assertEqual(acks[0]["mail_from"], "<>")
        self.assertIn("In-Reply-To: <a1@example.org>", data)
        self.assertIn(ref, data)
        self.assertRegex(data, r"Subject: Re: Missed bin on Elm Road \[%s\]"
                         % ref)
        # The mailbox's own text, its placeholders filled in.
        text = email.message_from_string(data).get_payload(
            decode=True).decode()
        self.assertEqual(text.replace("\r\n", "\n"),
                         "Thank you for writing to Example Council.\n\nYour"
                         " reference is %s: we answer within 10 working"
                         " days.\n" % ref)
        # Seen from outside.
        m = self.sb.get("/metrics").body.decode()
        self.assertRegex(m, r'switchboard_email_mailbox_up\{mailbox="council"\} 1')
        self.assertRegex(m, r'switchboard_email_mailbox_lease\{mailbox='
                         r'"council",holder="[^"]+"\} 1')
        self.assertRegex(m, r'switchboard_email_imported_total\{mailbox='
                         r'"council",kind="message"\} [1-9]')
        ready = json.loads(self.sb.get("/readyz").body)
        self.assertEqual(ready["email"]["council"], "ok")

    def test_replies_thread(self):
        self.dove.deliver(mail("Bo <bo@example.org>", "Noise complaint",
                               "Loud music every night.", "b1@example.org"))
        conv = self.wait_imported("b1@example.org")
        ref = self.sql("SELECT reference FROM conversations WHERE id = %d"
                       % conv)
        ack = self.wait(lambda: self.acks_to("bo@example.org"), "ack")[0]
        ack_id = re.search(r"Message-ID: <([^>]+)>", ack["data"]).group(1)
        # 1. Gmail-style: a new subject, In-Reply-To the resident's mail.
        self.dove.deliver(mail("Bo <bo@example.org>", "More about the noise",
                               "It happened again.", "b2@example.org",
                               ["In-Reply-To: <b1@example.org>",
                                "References: <b1@example.org>"]))
        self.assertEqual(self.wait_imported("b2@example.org"), conv)
        # 2. Outlook's reply to the acknowledgement, the reference cut from
        #    the subject: In-Reply-To our acknowledgement's Message-ID.
        self.dove.deliver(mail("Bo <bo@example.org>", "RE: Noise complaint",
                               "Any news?", "b3@example.org",
                               ["In-Reply-To: <%s>" % ack_id,
                                "References: <b1@example.org> <%s>" % ack_id,
                                "Thread-Index: AdbKq3Yx1mQ0Zz9bS0aH8g=="]))
        self.assertEqual(self.wait_imported("b3@example.org"), conv)
        # 3. The reference alone, from another address of the resident.
        self.dove.deliver(mail("Bo <bo.work@example.com>",
                               "Still waiting [%s]" % ref, "Hello?",
                               "b4@example.com"))
        self.wait_imported("b4@example.com")
        # (a reference quoted by another sender threads only into that
        # sender's own conversations: ingest's rule)
        # One acknowledgement only: replies are never acknowledged.
        time.sleep(0.5)
        self.assertEqual(len(self.acks_to("bo@example.org")), 1)

    def test_no_loops(self):
        # An out-of-office from another system.
        self.dove.deliver(mail("Away <away@example.net>",
                               "Automatic reply: Your enquiry",
                               "I am out of the office.", "c1@example.net",
                               ["Auto-Submitted: auto-replied"]))
        self.wait_imported("c1@example.net")
        # Mail from our own address (another deployment's copy, a loop).
        self.dove.deliver(mail("Council <%s>" % OURS, "Re: your enquiry",
                               "Thank you for contacting us.",
                               "c2@example.gov.uk"))
        self.wait_imported("c2@example.gov.uk")
        # Two new mails from the same sender: one acknowledgement (7 days).
        self.dove.deliver(mail("Cy <cy@example.org>", "Pothole",
                               "A pothole on Oak Lane.", "c3@example.org"))
        self.wait_imported("c3@example.org")
        self.dove.deliver(mail("Cy <cy@example.org>", "Streetlight",
                               "A light is out.", "c4@example.org"))
        c4 = self.wait_imported("c4@example.org")
        c3 = self.imported("c3@example.org")[0][0]
        self.assertNotEqual(c3, c4)
        self.wait(lambda: self.acks_to("cy@example.org"), "ack to cy")
        answers = self.sql(
            "SELECT dedupe_key FROM outbox WHERE payload->>'kind' ="
            " 'email.ack' AND destination IN ('away@example.net', '%s',"
            " 'cy@example.org')" % OURS).splitlines()
        self.assertEqual(len(answers), 1, answers)
        time.sleep(0.5)
        self.assertEqual(len(self.acks_to("cy@example.org")), 1)
        self.assertEqual(self.acks_to("away@example.net"), [])
        self.assertEqual(self.acks_to(OURS), [])

    def test_delivery_report_opens_nothing(self):
        before = self.sql("SELECT count(*) FROM conversations")
        # A report for a message we never sent: recorded, nothing else.
        dsn = dsn_for("never-sent@example.gov.uk", "gone@example.org",
                      "d1@mx.example.org")
        self.dove.deliver(dsn)
        self.wait(lambda: self.sql(
            "SELECT kind FROM email_messages WHERE rfc_message_id ="
            " 'd1@mx.example.org'") == "bounce", "the report recorded")
        self.assertEqual(self.sql("SELECT count(*) FROM conversations"),
                         before)
        self.assertEqual(self.sql(
            "SELECT outbox_id IS NULL FROM email_messages WHERE"
            " rfc_message_id = 'd1@mx.example.org'"), "t")
        self.assertEqual(self.acks_to("mailer-daemon@mx.example.org"), [])
        self.wait(lambda: self.seen("d1@mx.example.org") == 1, "\\Seen")

    def test_down_while_mail_arrives_some_read_elsewhere(self):
        self.stopped(self.sb)
        ids = ["e%d@example.org" % i for i in range(6)]
        for i, mid in enumerate(ids):
            self.dove.deliver(mail("Dee <dee%d@example.org>" % i,
                                   "Outage %d" % i, "Sent while down.", mid))
        # Read by another client (a person in the shared mailbox).
        self.dove.doveadm("flags", "add", "\\Seen", "-u", self.dove.user,
                          "mailbox", "INBOX", "header", "Message-ID",
                          ids[1])
        self.dove.doveadm("flags", "add", "\\Seen", "-u", self.dove.user,
                          "mailbox", "INBOX", "header", "Message-ID",
                          ids[4])
        self.sb.start()
        self.sb.wait_ready()
        for mid in ids:
            self.wait_imported(mid)

    def lock_holder(self):
        """A psql session holding email_messages locked: intake's COMMIT
        waits behind it. Returns the process; its backend's pid is
        terminated to let the commit through."""
        p = subprocess.Popen(
            [os.path.join(self.pg.bindir, "psql"), "-X", "-q", "-h",
             "127.0.0.1", "-p", str(self.pg.port), "-U", "switchboard",
             "-d", self.db, "-c",
             "BEGIN; LOCK TABLE email_messages IN EXCLUSIVE MODE;"
             " SELECT pg_sleep(120);"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        harness.at_exit(p.kill)
        self.wait(lambda: self.sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON"
            " c.oid = l.relation WHERE c.relname = 'email_messages' AND"
            " l.mode = 'ExclusiveLock' AND l.granted") == "1",
            "the lock taken")
        return p

    def release(self, p):
        self.sql("SELECT pg_terminate_backend(pid) FROM pg_locks l JOIN"
                 " pg_class c ON c.oid = l.relation WHERE c.relname ="
                 " 'email_messages' AND l.mode = 'ExclusiveLock' AND"
                 " l.granted")
        p.wait(10)

    def waiting_on_lock(self):
        return int(self.sql("SELECT count(*) FROM pg_stat_activity WHERE"
                            " wait_event_type = 'Lock' AND datname = '%s'"
                            % self.db)) > 0

    def imap_children(self):
        """The pids of this Dovecot's imap processes (the daemon's
        session)."""
        with open(os.path.join(self.dove.dir, "run", "master.pid")) as f:
            master = f.read().strip()
        out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", master],
                             capture_output=True, text=True).stdout
        return [int(x.split()[0]) for x in out.splitlines()
                if x.split()[1] == "imap"]

    def test_sigkill_between_fetch_and_commit(self):
        p = self.lock_holder()
        try:
            self.dove.deliver(mail("Fi <fi@example.org>", "Killed before COMMIT",
                                   "Body.", "f1@example.org"))
            # Fetched and parsed; its COMMIT waits for the lock.
            self.wait(self.waiting_on_lock, "intake's commit waiting")
            self.sb.kill()
            # The crash ended the transaction before its COMMIT: its
            # server process goes with it (PostgreSQL would notice the
            # closed connection only when it next writes to it).
            self.sql("SELECT pg_terminate_backend(pid) FROM"
                     " pg_stat_activity WHERE wait_event_type = 'Lock'"
                     " AND datname = '%s'" % self.db)
        finally:
            self.release(p)
        self.assertEqual(self.imported("f1@example.org"), [])
        self.assertEqual(self.seen("f1@example.org"), 0)
        self.sb.start()
        self.sb.wait_ready()
        self.wait_imported("f1@example.org")
        self.wait(lambda: self.seen("f1@example.org") == 1, "\\Seen")

    def test_sigkill_between_commit_and_seen(self):
        p = self.lock_holder()
        stopped = []
        try:
            self.dove.deliver(mail("Gil <gil@example.org>", "Killed after COMMIT",
                                   "Body.", "g1@example.org"))
            self.wait(self.waiting_on_lock, "intake's commit waiting")
            # The IMAP server stops answering: the \Seen store will hang.
            stopped = self.imap_children()
            self.assertTrue(stopped)
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            self.release(p)
            p = None
            self.wait(lambda: self.imported("g1@example.org"), "committed")
            self.sb.kill()
        finally:
            if p is not None:
                self.release(p)
            # The store never reaches the server: its session dies with
            # the daemon (a stopped process would run it when continued).
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.assertEqual(self.seen("g1@example.org"), 0)
        self.assertEqual(self.sql(
            "SELECT marked FROM email_messages WHERE rfc_message_id ="
            " 'g1@example.org'"), "f")
        self.sb.start()
        self.sb.wait_ready()
        # Marked at the first sweep, never imported again.
        self.wait(lambda: self.seen("g1@example.org") == 1, "\\Seen set")
        self.dove.deliver(mail("Gil <gil@example.org>", "After", "Body.",
                               "g2@example.org"))
        self.wait_imported("g2@example.org")
        self.assertEqual(len(self.imported("g1@example.org")), 1)

    def test_uidvalidity_change_imports_nothing_twice(self):
        self.dove.deliver(mail("Hal <hal@example.org>", "Before renumbering",
                               "Body.", "h1@example.org"))
        self.wait_imported("h1@example.org")
        convs = self.sql("SELECT count(*) FROM conversations")
        start = len(self.sb.log_text())
        old = self.sql("SELECT uidvalidity FROM email_mailboxes"
                       " WHERE name = 'council'")
        self.dove.doveadm("mailbox", "update", "--uid-validity",
                          str(int(old) + 1000), "-u", self.dove.user, "INBOX")
        self.sb.wait_log(r"email\.uidvalidity_changed mailbox=council",
                         timeout=30, start=start)
        self.dove.deliver(mail("Hal <hal@example.org>", "After renumbering",
                               "Body.", "h2@example.org"))
        self.wait_imported("h2@example.org")
        self.assertEqual(len(self.imported("h1@example.org")), 1)
        self.assertEqual(int(self.sql("SELECT count(*) FROM conversations")),
                         int(convs) + 1)
        dups = int(self.sql("SELECT count(*) FROM email_messages WHERE"
                            " kind = 'duplicate' AND uidvalidity = %d"
                            % (int(old) + 1000)))
        self.assertGreaterEqual(dups, 1)

    def test_bad_credentials_reported(self):
        over = harness.merge(self.over, {"email": {
            "mailbox council": {"password": "wrong"}}})
        sb = harness.Switchboard(self.pg, self.redis, over, dbname=self.db,
                                 start=False)
        # Not the holder while the main instance holds the lease: stop it.
        self.stopped(self.sb)
        try:
            sb.start()
            sb.wait_ready()
            sb.wait_log(r"email\.mailbox_error mailbox=council reason=\"LOGIN"
                        r" failed", timeout=30)
            ready = json.loads(sb.get("/readyz").body)
            self.assertEqual(ready["status"], "ok")
            self.assertRegex(ready["email"]["council"],
                             r"^error: LOGIN failed .*(?i:authentication)")
            self.assertRegex(sb.get("/metrics").body.decode(),
                             r'switchboard_email_mailbox_up\{mailbox='
                             r'"council"\} 0')
        finally:
            self.stopped(sb)

    def test_two_instances_one_holder(self):
        sb2 = harness.Switchboard(self.pg, self.redis, self.over,
                                  dbname=self.db, start=False)
        sb2.start()
        sb2.wait_ready()
        try:
            def lease(s):
                m = re.search(r'switchboard_email_mailbox_lease\{mailbox='
                              r'"council",holder="([^"]*)"\} ([01])',
                              s.get("/metrics").body.decode())
                return (m.group(1), int(m.group(2))) if m else None
            self.wait(lambda: lease(self.sb) and lease(sb2) and
                      lease(self.sb)[1] + lease(sb2)[1] == 1,
                      "exactly one holder")
            holder, other = ((self.sb, sb2) if lease(self.sb)[1]
                             else (sb2, self.sb))
            holder.kill()
            self.wait(lambda: lease(other)[1] == 1, "the other takes over",
                      timeout=20)
            other.wait_log(r"email\.mailbox_state mailbox=council state=ok",
                           timeout=20)
            self.dove.deliver(mail("Ivy <ivy@example.org>", "Takeover",
                                   "Body.", "i1@example.org"))
            self.wait_imported("i1@example.org")
        finally:
            self.stopped(sb2)


class EmailOAuthTest(harness.TestCase):
    """A mailbox signed in with SASL XOAUTH2 and a client-credentials
    token (tests/unit/email/oauth_server.py), which Dovecot checks by
    introspection: a revoked token is a clear mailbox error on /readyz and
    in the log, then a new token is fetched and the mail that came
    meanwhile imported; an expired one is fetched again before use."""

    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.oport = harness.free_port()
        cls.oauth = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(
                harness.SRC, "tests/unit/email/oauth_server.py"),
             str(cls.oport), "switchboard-app", "app-secret", "3600",
             "council"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        harness.at_exit(cls.oauth.kill)
        assert cls.oauth.stdout.readline().startswith(b"ready")
        base = "http://127.0.0.1:%d" % cls.oport
        cls.dove = harness.Dovecot(introspect=base + "/introspect")
        d = harness.tempdir("oauth")
        secret = os.path.join(d, "secret")
        with open(secret, "w") as f:
            f.write("app-secret\n")
        over = {"email": {"mailbox council": {
            "host": "127.0.0.1", "port": cls.dove.port,
            "ca_file": cls.dove.ca, "user": cls.dove.user,
            "oauth_token_url": base + "/token",
            "oauth_client_id": "switchboard-app",
            "oauth_client_secret_file": secret,
            "oauth_scope": "https://outlook.office365.com/.default",
            "queue": "contact", "addresses": [OURS], "acknowledge": False,
            "sweep": 2, "timeout": 5, "lease": 3}}}
        cls.sb = harness.Switchboard(cls.pg, cls.redis, over, dbname=cls.db,
                                     start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql("INSERT INTO queues (id, slug, name) VALUES"
                    " (61, 'contact', 'Contact centre');"
                    "INSERT INTO queue_channels (queue_id, channel,"
                    " answer_target_s) VALUES (61, 'email', 86400);",
                    dbname=cls.db)
        cls.sb.start()
        cls.sb.wait_ready()

    @classmethod
    def tearDownClass(cls):
        rc = cls.sb.stop()
        assert rc == 0, "exit %s\n%s" % (rc, cls.sb.log_tail(80))

    sql = EmailIntakeTest.sql
    wait = EmailIntakeTest.wait
    fail_with_log = EmailIntakeTest.fail_with_log
    imported = EmailIntakeTest.imported
    wait_imported = EmailIntakeTest.wait_imported
    imap_children = EmailIntakeTest.imap_children

    def control(self, path):
        c = harness.http.client.HTTPConnection("127.0.0.1", self.oport,
                                               timeout=5)
        try:
            c.request("POST" if path != "stats" else "GET",
                      "/control/" + path)
            return harness.json.loads(c.getresponse().read() or b"{}")
        finally:
            c.close()

    def cut_session(self):
        """The daemon's IMAP session dies: it must sign in again."""
        for pid in self.imap_children():
            os.kill(pid, signal.SIGKILL)

    def mailbox_state(self):
        return harness.json.loads(self.sb.get("/readyz").body)["email"][
            "council"]

    def test_revoked_then_expired(self):
        self.dove.deliver(mail("Kim <kim@example.org>", "Signed in by OAuth",
                               "Body.", "k1@example.org"))
        self.wait_imported("k1@example.org")
        issued = self.control("stats")["issued"]
        # Revoked: the next sign-in is refused, said on /readyz and in
        # the log; the instance stays ready. (Tokens issued from now last
        # 8 s, for the expiry below.)
        self.control("life/8")
        self.control("revoke")
        start = len(self.sb.log_text())
        self.cut_session()
        self.dove.deliver(mail("Kim <kim@example.org>", "During the error",
                               "Body.", "k2@example.org"))
        self.wait(lambda: self.mailbox_state().startswith(
            "error: XOAUTH2 sign-in failed"), "the error on /readyz")
        self.sb.wait_log(r"email\.mailbox_error mailbox=council reason="
                         r"\"XOAUTH2 sign-in failed", start=start)
        self.assertEqual(harness.json.loads(self.sb.get("/readyz").body)
                         ["status"], "ok")
        # A new token (the refused one was dropped), and nothing lost.
        self.wait_imported("k2@example.org")
        self.wait(lambda: self.mailbox_state() == "ok", "ok again")
        self.assertGreater(self.control("stats")["issued"], issued)
        # Expired: the token it has now lasts 8 s. Left to expire, the
        # next sign-in fetches a new one first: Dovecot refuses nothing.
        time.sleep(8.5)  # the token's life: not an assertion
        stats = self.control("stats")
        start = len(self.sb.log_text())
        self.cut_session()
        self.dove.deliver(mail("Kim <kim@example.org>", "After expiry",
                               "Body.", "k3@example.org"))
        self.wait_imported("k3@example.org")
        after = self.control("stats")
        self.assertGreater(after["issued"], stats["issued"])
        self.assertEqual(after["refused"], stats["refused"])
        self.assertNotIn("email.mailbox_error",
                         self.sb.log_text()[start:])


class EmailLoopTest(harness.TestCase):
    """Two deployments (two councils' Switchboards, each with its own
    PostgreSQL database and Redis) whose mailboxes mail each other, the
    test standing in for the mail system between them: whatever one sends
    to the other's address is delivered into that one's folder. Their
    acknowledgements stop: at once when the headers arrive intact
    (Auto-Submitted), and within one round when a relay strips them
    (threading and the one-acknowledgement-per-sender rule)."""

    ADDR = {"a": "contact@council-a.example", "b": "contact@council-b.example"}

    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.dove = harness.Dovecot()
        cls.dove.doveadm("mailbox", "create", "-u", cls.dove.user, "A", "B")
        cls.tmp = harness.tempdir("smtp")
        harness.lib_sh("sb_test_ca", cls.tmp)
        cls.smtp = harness.SmtpServer(cls.tmp, SMTP_USER, SMTP_PASSWORD)
        cls.smtp.start()
        cls.sbs = {}
        for k in ("a", "b"):
            db = cls.pg.createdb()
            over = {"email": {
                "smtp": {
                    "host": "127.0.0.1", "port": cls.smtp.ports[0],
                    "tls": "smtps", "ca_file": os.path.join(cls.tmp, "ca.pem"),
                    "user": SMTP_USER, "password": SMTP_PASSWORD,
                    "from": cls.ADDR[k], "poll_ms": 100, "lease": 10,
                    "timeout": 5},
                "mailbox " + k: {
                    "host": "127.0.0.1", "port": cls.dove.port,
                    "ca_file": cls.dove.ca, "user": cls.dove.user,
                    "password": cls.dove.password, "queue": "contact",
                    "folder": k.upper(), "addresses": [cls.ADDR[k]],
                    "name": "Council " + k.upper(), "sweep": 1,
                    "timeout": 5, "lease": 3}}}
            sb = harness.Switchboard(cls.pg, harness.Redis(), over,
                                     dbname=db, start=False)
            r = harness.run_switchboard(["-c", sb.conf, "migrate"])
            assert r.returncode == 0, r.stderr
            cls.pg.psql("INSERT INTO queues (id, slug, name) VALUES"
                        " (61, 'contact', 'Contact centre');"
                        "INSERT INTO queue_channels (queue_id, channel,"
                        " answer_target_s) VALUES (61, 'email', 86400);",
                        dbname=db)
            sb.start()
            cls.sbs[k] = sb
        for sb in cls.sbs.values():
            sb.wait_ready()
        cls.relayed = set()

    @classmethod
    def tearDownClass(cls):
        for sb in cls.sbs.values():
            rc = sb.stop()
            assert rc == 0, "exit %s\n%s" % (rc, sb.log_tail(80))

    def relay(self, strip):
        """Delivers what the SMTP server took for either council into its
        folder (strip: as a relay that drops the automatic-reply headers
        would). Returns how many it delivered now."""
        n = 0
        for name in sorted(os.listdir(self.smtp.out)):
            if not name.endswith(".json") or name in self.relayed:
                continue
            self.relayed.add(name)
            with open(os.path.join(self.smtp.out, name)) as f:
                m = harness.json.load(f)
            for k, addr in self.ADDR.items():
                if addr in m["rcpt_tos"]:
                    data = m["data"]
                    if strip:
                        data = re.sub(r"(?mi)^(Auto-Submitted|Precedence|"
                                      r"X-Auto-Response-Suppress):.*\r?\n",
                                      "", data)
                    self.dove.deliver(data.encode(), folder=k.upper())
                    n += 1
        return n

    def exchange(self, strip, quiet_s=8, limit_s=60):
        """Relays until nothing has been sent for quiet_s seconds; the
        number of mails relayed."""
        total, last = 0, time.monotonic()
        deadline = last + limit_s
        while time.monotonic() - last < quiet_s:
            self.assertLess(time.monotonic(), deadline,
                            "the councils are still mailing each other")
            n = self.relay(strip)
            if n:
                total += n
                last = time.monotonic()
            time.sleep(0.2)
        return total

    def test_headers_intact_one_acknowledgement(self):
        # Council B's officer writes to council A.
        self.dove.deliver(mail("Officer B <%s>" % self.ADDR["b"],
                               "Shared service question", "Hello A.",
                               "loop1@council-b.example"), folder="A")
        self.assertEqual(self.exchange(strip=False), 1)

    def test_headers_stripped_loop_still_stops(self):
        self.dove.deliver(mail("Officer A <%s>" % self.ADDR["a"],
                               "Data sharing agreement", "Hello B.",
                               "loop2@council-a.example"), folder="B")
        n = self.exchange(strip=True)
        self.assertGreaterEqual(n, 1)
        self.assertLessEqual(n, 2)


if __name__ == "__main__":
    unittest.main()
