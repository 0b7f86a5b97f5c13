"""The SMS channel (docs/sms.md) with two daemons on one Redis and one
PostgreSQL: GOV.UK Notify's and Twilio's webhooks (inbound texts, delivery
receipts) verified, stored once and answered only after COMMIT; bad tokens
and signatures refused with nothing stored; malformed bodies answered 400
with a reason; STOP/START on the customer record; receipts applied only
forwards; the same callback to both instances at once stored once;
PostgreSQL down (503) and back (the retry stored once); texts sent from the
outbox to the provider contract server (tests/integration/provider_server.py),
which checks every request exactly, with retries, Notify's lookup by
reference after an ambiguous failure, opt-outs and the length cap."""

import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import unittest
import urllib.parse
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PUBLIC = "https://contact.council.example"
NOTIFY_TOKEN = "notify-callback-token-0123456789abcdef"
NOTIFY_OLD = "notify-callback-previous-0123456789ab"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
TWILIO_OLD = "twilio-secondary-token-0123456789ab"
NOTIFY_NUMBER = "07700900001"   # ours (Ofcom's drama range)
TWILIO_NUMBER = "+447700900002"


def twilio_signature(token, url, params):
    """Twilio's X-Twilio-Signature (providers.md), computed apart from
    channels/sms/sms_sig.c."""
    s = url
    for name in sorted({n for n, _ in params}):
        for v in sorted(v for n, v in params if n == name):
            s += name + v
    mac = hmac.new(token.encode(), s.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def notify_inbound(mid=None, source="447700900123", text="Hello council",
                   to=NOTIFY_NUMBER):
    return json.dumps({
        "id": mid or str(uuid.uuid4()), "source_number": source,
        "destination_number": to, "message": text,
        "date_received": "2026-12-07T09:15:30.000000Z",
        "unknown_new_field": [1, 2]}).encode()


def twilio_form(params):
    return urllib.parse.urlencode(params).encode()


def twilio_inbound(sid=None, frm="+447700900124", body="Hi from Twilio",
                   extra=()):
    return [("MessageSid", sid or "SM" + uuid.uuid4().hex),
            ("SmsSid", "SM0"), ("AccountSid", TWILIO_SID),
            ("From", frm), ("To", TWILIO_NUMBER), ("Body", body),
            ("NumMedia", "0"), ("NumSegments", "1"),
            ("FromCountry", "GB"), ("ApiVersion", "2010-04-01")] + list(extra)


def sms_config(provider_url="https://127.0.0.1:1", ca=""):
    return {
        "public_url": PUBLIC,
        "timeout": 3,
        "poll_ms": 100,
        "lease": 5,
        'sender "council"': {
            "provider": "notify", "number": NOTIFY_NUMBER,
            "queue": "texts", "max_length": 160,
            "base_url": provider_url, "ca_file": ca,
            "api_key": "switchboard_test-%s-%s" % (
                "26785a09-ab16-4eb0-8407-a37497a57506",
                "3d844edf-8d35-48ac-975b-e847b4f122b0"),
            "template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a",
            "callback_token": NOTIFY_TOKEN,
            "callback_token_previous": NOTIFY_OLD},
        'sender "twilio"': {
            "provider": "twilio", "number": TWILIO_NUMBER,
            "queue": "texts", "max_length": 320,
            "base_url": provider_url, "ca_file": ca,
            "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN,
            "auth_token_previous": TWILIO_OLD},
    }


class SmsWebhookTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.over = {"router": {"grace_period": 30, "sweep_interval_ms": 100},
                    "sms": sms_config()}
        cls.sbs = [harness.Switchboard(cls.pg, cls.redis, cls.over,
                                       dbname=cls.db, start=False)
                   for _ in range(2)]
        r = harness.run_switchboard(["-c", cls.sbs[0].conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (51, 'texts',"
            " 'Text messages');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s, wrap_up_s) VALUES (51, 'sms', 3600, 30, 0);",
            dbname=cls.db)
        for sb in cls.sbs:
            sb.start()
        for sb in cls.sbs:
            sb.wait_ready()

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def notify(self, body, path="/hooks/notify/inbound-sms",
               token=NOTIFY_TOKEN, sb=None):
        sb = sb or self.sbs[0]
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        return sb.request("POST", path, headers=h, body=body)

    def twilio(self, params, path="/hooks/twilio/sms", token=TWILIO_TOKEN,
               url=None, sb=None, sig=None):
        sb = sb or self.sbs[0]
        body = twilio_form(params)
        if sig is None:
            sig = twilio_signature(token, url or PUBLIC + path, params)
        return sb.request("POST", path, body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sig})

    def stored(self, external_id):
        return int(self.sql("SELECT count(*) FROM messages WHERE"
                            " external_id = '%s'" % external_id))

    # ------------------------------------------------------------------

    def test_notify_inbound_stored_once(self):
        mid = str(uuid.uuid4())
        r = self.notify(notify_inbound(mid, source="447700900123",
                                       text="My bin was missed"))
        self.assertEqual(r.status, 200, r.body)
        row = self.sql(
            "SELECT c.channel || '|' || q.slug || '|' || m.body || '|' ||"
            " m.source || '|' || (m.metadata->'sms'->>'from') || '|' ||"
            " (m.metadata->'sms'->>'to') || '|' ||"
            " (m.metadata->'sms'->>'sender') || '|' || c.status"
            " FROM messages m JOIN conversations c ON c.id ="
            " m.conversation_id JOIN queues q ON q.id = c.queue_id"
            " WHERE m.external_id = '%s'" % mid)
        self.assertEqual(row, "sms|texts|My bin was missed|sms:notify|"
                              "+447700900123|+447700900001|council|waiting")
        self.assertEqual(self.sql(
            "SELECT ci.value FROM customer_identities ci JOIN conversations"
            " c ON c.customer_id = ci.customer_id JOIN messages m ON"
            " m.conversation_id = c.id WHERE m.external_id = '%s'" % mid),
            "+447700900123")
        # The provider's retry (and a replay, to the other instance): a
        # 200, nothing written again.
        for sb in self.sbs:
            r = self.notify(notify_inbound(mid, source="447700900123",
                                           text="My bin was missed"), sb=sb)
            self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.stored(mid), 1)
        # A second text from the number joins the live conversation.
        mid2 = str(uuid.uuid4())
        r = self.notify(notify_inbound(mid2, source="447700900123",
                                       text="It is the green bin"))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.sql(
            "SELECT count(DISTINCT conversation_id) FROM messages WHERE"
            " external_id IN ('%s', '%s')" % (mid, mid2)), "1")
        m = self.sbs[0].get("/metrics").body.decode()
        self.assertRegex(m, r'switchboard_sms_webhooks_total\{hook='
                            r'"notify_inbound",result="stored"\} [1-9]')
        self.assertRegex(m, r'switchboard_sms_webhooks_total\{hook='
                            r'"notify_inbound",result="repeated"\} [1-9]')
        self.assertNotIn(NOTIFY_TOKEN, self.sbs[0].log_text())

    def test_notify_token_checked_and_rotated(self):
        for token in (None, "wrong-token-0123456789abcdef", NOTIFY_TOKEN[:-1],
                      NOTIFY_TOKEN + "x"):
            mid = str(uuid.uuid4())
            r = self.notify(notify_inbound(mid), token=token)
            self.assertEqual(r.status, 401, (token, r.body))
            self.assertEqual(r.json()["error"], "token")
            self.assertEqual(self.stored(mid), 0)
        r = self.sbs[0].request("POST", "/hooks/notify/inbound-sms",
                                headers={"Authorization": "Basic " +
                                         NOTIFY_TOKEN},
                                body=notify_inbound())
        self.assertEqual(r.status, 401)
        mid = str(uuid.uuid4())
        r = self.notify(notify_inbound(mid), token=NOTIFY_OLD)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.stored(mid), 1)

    def test_twilio_inbound_signed(self):
        sid = "SM" + uuid.uuid4().hex
        params = twilio_inbound(sid, body="Is the tip open on Sunday?")
        r = self.twilio(params)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers.get("content-type"), "text/xml")
        self.assertIn(b"<Response/>", r.body)
        self.assertEqual(self.sql(
            "SELECT m.body || '|' || c.channel || '|' ||"
            " (m.metadata->'sms'->>'sender') FROM messages m JOIN"
            " conversations c ON c.id = m.conversation_id WHERE"
            " m.external_id = '%s'" % sid),
            "Is the tip open on Sunday?|sms|twilio")
        # Signed over the URL with :443, as Twilio may: accepted; by the
        # secondary token while rotating: accepted; a repeat: 200.
        sid2 = "SM" + uuid.uuid4().hex
        r = self.twilio(twilio_inbound(sid2),
                        url="https://contact.council.example:443"
                            "/hooks/twilio/sms")
        self.assertEqual(r.status, 200, r.body)
        sid3 = "SM" + uuid.uuid4().hex
        r = self.twilio(twilio_inbound(sid3), token=TWILIO_OLD)
        self.assertEqual(r.status, 200, r.body)
        r = self.twilio(params)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.stored(sid), 1)
        self.assertEqual(self.stored(sid3), 1)

    def test_twilio_bad_signatures_refused(self):
        sid = "SM" + uuid.uuid4().hex
        params = twilio_inbound(sid)
        good = twilio_signature(TWILIO_TOKEN, PUBLIC + "/hooks/twilio/sms",
                                params)
        cases = [
            ("missing", ""),
            ("wrong token", twilio_signature("nope" * 8, PUBLIC +
                                             "/hooks/twilio/sms", params)),
            ("other URL", twilio_signature(
                TWILIO_TOKEN, "https://evil.example/hooks/twilio/sms",
                params)),
            ("changed byte", good[:-2] + ("A" if good[-2] != "A" else "B")
             + good[-1]),
        ]
        for what, sig in cases:
            r = self.twilio(params, sig=sig)
            self.assertEqual(r.status, 403, (what, r.body))
            self.assertEqual(r.json()["error"], "signature")
        # The body changed after signing (the signature of the original).
        tampered = [(n, "Send me the tip code" if n == "Body" else v)
                    for n, v in params]
        r = self.twilio(tampered, sig=good)
        self.assertEqual(r.status, 403)
        self.assertEqual(self.stored(sid), 0)
        self.assertEqual(int(self.sql(
            "SELECT count(*) FROM messages WHERE body = 'Send me the tip"
            " code'")), 0)

    def test_malformed_answered_400(self):
        cases = [
            (b"not json", "json", None),
            (b"[]", "json", None),
            (json.dumps({"source_number": "447700900123",
                         "destination_number": NOTIFY_NUMBER,
                         "message": "x"}).encode(), "field", "id"),
            (json.dumps({"id": "a", "source_number": "447700900123",
                         "destination_number": NOTIFY_NUMBER,
                         "message": 5}).encode(), "type", "message"),
            (json.dumps({"id": "a", "source_number": "447700900123",
                         "destination_number": NOTIFY_NUMBER,
                         "message": "x", "date_received": "yesterday"}
                        ).encode(), "field", "date_received"),
            (json.dumps({"id": "a", "source_number": "447700900123",
                         "destination_number": NOTIFY_NUMBER,
                         "message": "a\u0007b"}).encode(), "utf8", "message"),
        ]
        for body, code, field in cases:
            r = self.notify(body)
            self.assertEqual(r.status, 400, (body, r.body))
            j = r.json()
            self.assertEqual(j["error"], code, j)
            self.assertEqual(j.get("field"), field, j)
            self.assertTrue(j.get("reason"), j)
        # Twilio: a form with a bad escape, and one without From.
        for params, raw, code in (
                (None, b"MessageSid=SM1&From=%zz", "form"),
                ([p for p in twilio_inbound() if p[0] != "From"], None,
                 "field")):
            if raw is not None:
                sig = twilio_signature(TWILIO_TOKEN, PUBLIC +
                                       "/hooks/twilio/sms",
                                       [("MessageSid", "SM1"),
                                        ("From", "%zz")])
                r = self.sbs[0].request(
                    "POST", "/hooks/twilio/sms", body=raw,
                    headers={"X-Twilio-Signature": sig})
            else:
                r = self.twilio(params)
            self.assertEqual(r.status, 400, r.body)
            self.assertEqual(r.json()["error"], code)

    def test_stop_and_start_recorded_on_the_record(self):
        number = "+447700900777"
        src = number[1:]
        r = self.notify(notify_inbound(source=src, text="Hello"))
        self.assertEqual(r.status, 200, r.body)
        cust = self.sql("SELECT customer_id FROM customer_identities WHERE"
                        " kind = 'phone' AND value = '%s'" % number)
        mid = str(uuid.uuid4())
        r = self.notify(notify_inbound(mid, source=src, text=" stop "))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.sql(
            "SELECT sms_opted_out_at IS NOT NULL, sms_opt_keyword FROM"
            " customer_identities WHERE value = '%s'" % number), "t|STOP")
        # Its retry records nothing more.
        r = self.notify(notify_inbound(mid, source=src, text=" stop "))
        self.assertEqual(r.status, 200)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM sms_consent_events WHERE phone = '%s'"
            % number), "1")
        # "Stop the bins" is a message, not a keyword.
        r = self.notify(notify_inbound(source=src, text="Stop the bins"))
        self.assertEqual(self.sql(
            "SELECT count(*) FROM sms_consent_events WHERE phone = '%s'"
            % number), "1")
        r = self.notify(notify_inbound(source=src, text="START"))
        self.assertEqual(r.status, 200)
        self.assertEqual(self.sql(
            "SELECT sms_opted_out_at IS NULL FROM customer_identities WHERE"
            " value = '%s'" % number), "t")
        self.assertEqual(self.sql(
            "SELECT string_agg(keyword || ':' || opted_out, ',' ORDER BY id)"
            " || '|' || min(customer_id) FROM sms_consent_events WHERE"
            " phone = '%s'" % number), "STOP:true,START:false|" + cust)

    def outbox_row(self, destination="+447700900500", sent_as=None):
        """An outbox row as if sent (provider id sent_as), id returned."""
        return self.sql(
            "INSERT INTO outbox (channel, destination, status, sent_at,"
            " provider_id, attempts) VALUES ('sms', '%s', 'sent', now(),"
            " %s, 1) RETURNING id" % (
                destination, "'%s'" % sent_as if sent_as else "NULL")
        ).splitlines()[0]

    def test_receipts_only_move_forwards(self):
        nid = str(uuid.uuid4())
        oid = self.outbox_row(sent_as=nid)
        status = {"id": nid, "reference": "sb-" + oid, "to": "07700900500",
                  "status": "delivered", "created_at": "x",
                  "completed_at": "y", "sent_at": "z",
                  "notification_type": "sms", "template_id": "t",
                  "template_version": 1}
        r = self.notify(json.dumps(status).encode(),
                        path="/hooks/notify/status")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.sql("SELECT receipt FROM outbox WHERE id = %s"
                                  % oid), "delivered")
        # A late failure, and the same receipt again: no change.
        status["status"] = "temporary-failure"
        r = self.notify(json.dumps(status).encode(),
                        path="/hooks/notify/status")
        self.assertEqual(r.status, 200)
        status["status"] = "delivered"
        r = self.notify(json.dumps(status).encode(),
                        path="/hooks/notify/status", sb=self.sbs[1])
        self.assertEqual(r.status, 200)
        self.assertEqual(self.sql("SELECT receipt FROM outbox WHERE id = %s"
                                  % oid), "delivered")
        # Twilio, out of order: delivered, then a late sent and queued.
        sid = "SM" + uuid.uuid4().hex
        oid = self.outbox_row(sent_as=sid)
        for st in ("delivered", "sent", "queued"):
            r = self.twilio([("MessageSid", sid), ("MessageStatus", st),
                             ("AccountSid", TWILIO_SID),
                             ("To", "+447700900500")],
                            path="/hooks/twilio/sms-status")
            self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.sql("SELECT receipt FROM outbox WHERE id = %s"
                                  % oid), "delivered")
        # A failure with Twilio's code, on another message.
        sid = "SM" + uuid.uuid4().hex
        oid = self.outbox_row(sent_as=sid)
        for st, code in (("sent", None), ("undelivered", "30003")):
            p = [("MessageSid", sid), ("MessageStatus", st),
                 ("AccountSid", TWILIO_SID)]
            if code:
                p.append(("ErrorCode", code))
            r = self.twilio(p, path="/hooks/twilio/sms-status")
            self.assertEqual(r.status, 200)
        self.assertEqual(self.sql(
            "SELECT receipt || '|' || receipt_detail FROM outbox WHERE id ="
            " %s" % oid), "failed|Twilio error 30003")
        # A receipt before the send is recorded waits for it.
        sid = "SM" + uuid.uuid4().hex
        r = self.twilio([("MessageSid", sid), ("MessageStatus", "delivered"),
                         ("AccountSid", TWILIO_SID)],
                        path="/hooks/twilio/sms-status")
        self.assertEqual(r.status, 200)
        oid = self.sql(
            "INSERT INTO outbox (channel, destination, status, attempts,"
            " next_attempt_at) VALUES ('sms', '+447700900501', 'sending',"
            " 1, now() + interval '1 hour') RETURNING id").splitlines()[0]
        self.assertEqual(self.sql(
            "SELECT sb_sms_sent(%s, 1, 'twilio', '%s')" % (oid, sid)), "t")
        self.assertEqual(self.sql("SELECT receipt FROM outbox WHERE id = %s"
                                  % oid), "delivered")

    def test_same_callback_to_both_instances_at_once(self):
        bodies = [notify_inbound(str(uuid.uuid4()), source="4477009003%02d"
                                 % i) for i in range(20)]
        out = []

        def send(sb, body):
            out.append(self.notify(body, sb=sb).status)

        threads = [threading.Thread(target=send, args=(sb, b))
                   for b in bodies for sb in self.sbs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(out, [200] * 40)
        for b in bodies:
            self.assertEqual(self.stored(json.loads(b)["id"]), 1)

    def test_database_down_then_retry_stored_once(self):
        mid = str(uuid.uuid4())
        body = notify_inbound(mid, source="447700900901")
        self.pg.stop()
        try:
            r = self.notify(body)
            self.assertEqual(r.status, 503, r.body)
            self.assertTrue(r.headers.get("retry-after"))
            sid = "SM" + uuid.uuid4().hex
            r = self.twilio([("MessageSid", sid),
                             ("MessageStatus", "delivered"),
                             ("AccountSid", TWILIO_SID)],
                            path="/hooks/twilio/sms-status")
            self.assertEqual(r.status, 503, r.body)
        finally:
            self.pg.start()
        for sb in self.sbs:
            sb.wait_ready(timeout=60)

        def stored():
            r = self.notify(body)
            return r.status == 200
        harness.wait_for(stored, 30, what="the retry stored")
        self.notify(body, sb=self.sbs[1])
        self.assertEqual(self.stored(mid), 1)


class SmsSendTest(harness.TestCase):
    """Texts out: the outbox sender against the contract server."""

    @classmethod
    def setUpClass(cls):
        cls.prov = harness.ProviderServer(harness.tempdir("providers"))
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        sms = sms_config(cls.prov.url, cls.prov.ca)
        sms['sender "council"']["api_key"] = cls.prov.notify_api_key
        sms['sender "twilio"']["account_sid"] = cls.prov.twilio_sid
        sms['sender "twilio"']["auth_token"] = cls.prov.twilio_token
        sms['sender "twilio"']["auth_token_previous"] = ""
        # The contract server's certificate checked against the system's
        # CAs only: it must be refused.
        sms['sender "untrusted"'] = dict(
            sms['sender "council"'], number="07700900003", ca_file="",
            callback_token="untrusted-callback-token-0123456789",
            callback_token_previous="")
        cls.over = {"sms": sms}
        cls.sb = harness.Switchboard(cls.pg, cls.redis, cls.over,
                                     dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (51, 'texts',"
            " 'Text messages');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s, wrap_up_s) VALUES (51, 'sms', 3600, 30, 0);",
            dbname=cls.db)
        r = harness.run_switchboard(
            ["-c", cls.sb.conf, "user", "add", "--role", "advisor",
             "--name", "Sam Advisor", "sam"])
        assert r.returncode == 0, r.stderr
        cls.sb.start()
        cls.sb.wait_ready()
        cls.staff = cls.pg.psql("SELECT id FROM staff_users WHERE login ="
                                " 'sam'", dbname=cls.db).strip()

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def inbound(self, number, text="Hello", provider="notify"):
        """A text from number; its conversation's id."""
        if provider == "notify":
            mid = str(uuid.uuid4())
            r = self.sb.request(
                "POST", "/hooks/notify/inbound-sms",
                headers={"Authorization": "Bearer " + NOTIFY_TOKEN},
                body=notify_inbound(mid, source=number[1:], text=text))
        else:
            mid = "SM" + uuid.uuid4().hex
            params = [("MessageSid", mid), ("AccountSid", self.prov.twilio_sid),
                      ("From", number), ("To", TWILIO_NUMBER),
                      ("Body", text)]
            r = self.sb.request(
                "POST", "/hooks/twilio/sms", body=twilio_form(params),
                headers={"X-Twilio-Signature": twilio_signature(
                    self.prov.twilio_token, PUBLIC + "/hooks/twilio/sms",
                    params)})
        self.assertEqual(r.status, 200, r.body)
        return self.sql("SELECT conversation_id FROM messages WHERE"
                        " external_id = '%s'" % mid)

    def reply(self, conv, text):
        """An advisor's reply as the core writes it; its outbox row id."""
        seq = self.sql(
            "INSERT INTO messages (conversation_id, direction, author_kind,"
            " author_staff_id, body, source, external_id) VALUES (%s, 'out',"
            " 'staff', %s, '%s', 'desk', '%s') RETURNING id" % (
                conv, self.staff, text.replace("'", "''"),
                uuid.uuid4())).splitlines()[0]
        return self.sql("SELECT id FROM outbox WHERE message_id = %s" % seq)

    def row(self, oid, cols="status"):
        return self.sql("SELECT %s FROM outbox WHERE id = %s" % (cols, oid))

    def wait_row(self, oid, status, hurry=False):
        def done():
            if hurry:
                self.sql("UPDATE outbox SET next_attempt_at = now() WHERE"
                         " id = %s AND status = 'pending'" % oid)
            return self.row(oid) == status
        harness.wait_for(done, 30, what="outbox %s %s" % (oid, status))

    def sent_to(self, number):
        return [m for m in self.prov.messages() if m["to"] == number]

    def assert_all_well_formed(self):
        bad = [r for r in self.prov.requests()
               if r["provider"] and r["verdict"] != "ok"]
        self.assertEqual(bad, [])

    # ------------------------------------------------------------------

    def test_notify_reply_sent_and_delivered(self):
        number = "+447700900601"
        conv = self.inbound(number, "When is my bin day?")
        oid = self.reply(conv, "Your bin day is Tuesday.")
        self.wait_row(oid, "sent")
        [m] = self.sent_to(number)
        self.assertEqual(m["provider"], "notify")
        self.assertEqual(m["body"], "Your bin day is Tuesday.")
        self.assertEqual(m["reference"], "sb-" + oid)
        self.assertEqual(m["template_id"],
                         "f33517ff-2a88-4f6e-b855-c550268ce08a")
        self.assertEqual(self.row(oid, "provider_id || '|' || receipt"),
                         m["id"] + "|queued")
        self.assert_all_well_formed()
        # Notify's receipt: delivered, shown on the row.
        r = self.sb.request(
            "POST", "/hooks/notify/status",
            headers={"Authorization": "Bearer " + NOTIFY_TOKEN},
            body=json.dumps({"id": m["id"], "reference": "sb-" + oid,
                             "to": "07700900601", "status": "delivered",
                             "notification_type": "sms"}).encode())
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.row(oid, "receipt"), "delivered")
        self.assertNotIn("Your bin day", self.sb.log_text())
        self.assertNotIn(number, self.sb.log_text())

    def test_twilio_reply_sent_with_status_callback(self):
        number = "+447700900602"
        conv = self.inbound(number, "Hi", provider="twilio")
        oid = self.reply(conv, "Hello from the council")
        self.wait_row(oid, "sent")
        [m] = self.sent_to(number)
        self.assertEqual(m["provider"], "twilio")
        self.assertEqual(m["from"], TWILIO_NUMBER)
        self.assertEqual(m["status_callback"],
                         PUBLIC + "/hooks/twilio/sms-status")
        self.assertEqual(self.row(oid, "provider_id"), m["id"])
        self.assert_all_well_formed()

    def test_ambiguous_failure_looked_up_never_sent_twice(self):
        number = "+447700900603"
        conv = self.inbound(number)
        # Notify takes it, then answers 500: the retry asks by reference
        # and records it sent without sending it again.
        self.prov.behave(number, [{"accept": True, "status": 500}])
        oid = self.reply(conv, "About your council tax")
        harness.wait_for(lambda: self.row(oid, "attempts") == "1" and
                         self.row(oid) == "pending", 30,
                         what="the first try failed")
        self.assertIn("500", self.row(oid, "last_error"))
        self.wait_row(oid, "sent", hurry=True)
        msgs = self.sent_to(number)
        self.assertEqual(len(msgs), 1, msgs)
        self.assertEqual(self.row(oid, "provider_id"), msgs[0]["id"])
        lookups = [r for r in self.prov.requests() if r["method"] == "GET"
                   and "reference=sb-" + oid in (r["query"] or "")]
        self.assertEqual(len(lookups), 1)
        # No answer at all (held until our timeout): the same.
        number = "+447700900604"
        conv = self.inbound(number)
        self.prov.behave(number, [{"accept": True, "hang": True}])
        oid = self.reply(conv, "About your parking permit")
        harness.wait_for(lambda: self.row(oid, "attempts") == "1" and
                         self.row(oid) == "pending", 30,
                         what="the first try timed out")
        self.wait_row(oid, "sent", hurry=True)
        self.assertEqual(len(self.sent_to(number)), 1)
        # Rate limited, then a 500 not taken: sent on the third try.
        number = "+447700900605"
        conv = self.inbound(number)
        self.prov.behave(number, [{"status": 429}, {"status": 500}])
        oid = self.reply(conv, "Third time lucky")
        self.wait_row(oid, "sent", hurry=True)
        self.assertEqual(self.row(oid, "attempts"), "3")
        self.assertEqual(len(self.sent_to(number)), 1)
        self.assert_all_well_formed()

    def test_refused_for_good(self):
        number = "+447700900606"
        conv = self.inbound(number)
        self.prov.behave(number, [{"status": 400}])
        oid = self.reply(conv, "This will be refused")
        self.wait_row(oid, "failed")
        self.assertRegex(self.row(oid, "last_error"),
                         r"^GOV.UK Notify answered 400: .+")
        self.assertEqual(self.sent_to(number), [])
        # Over the sender's cap (160 characters, counted as characters).
        oid = self.reply(conv, "é" * 161)
        self.wait_row(oid, "failed")
        self.assertEqual(self.row(oid, "last_error"),
                         "not sent: 161 characters, over the limit of 160"
                         " for texts from council")
        oid = self.reply(conv, "é" * 160)
        self.wait_row(oid, "sent")

    def test_opted_out_number_not_texted(self):
        number = "+447700900607"
        conv = self.inbound(number, "Hello")
        self.inbound(number, "STOP")
        oid = self.reply(conv, "Are you still there?")
        self.assertEqual(self.row(oid), "failed")
        self.assertRegex(self.row(oid, "last_error"),
                         r"^not sent: the resident opted out of texts "
                         r"\(they sent STOP on .+\)$")
        time.sleep(0.5)
        self.assertEqual(self.sent_to(number), [])
        self.inbound(number, "start")
        oid = self.reply(conv, "Welcome back")
        self.wait_row(oid, "sent")

    def test_at_most_20_texts_an_hour_to_a_number(self):
        number = "+447700900609"
        conv = self.inbound(number)
        self.sql("INSERT INTO outbox (channel, destination, status, sent_at,"
                 " attempts) SELECT 'sms', '%s', 'sent', now(), 1 FROM"
                 " generate_series(1, 19)" % number)
        oid = self.reply(conv, "The twentieth")
        self.wait_row(oid, "sent")
        oid = self.reply(conv, "The twenty-first")
        self.assertEqual(self.row(oid), "failed")
        self.assertRegex(self.row(oid, "last_error"),
                         r"^not sent: 20 texts have gone to this number in"
                         r" the last hour")
        # Another number is not held back.
        other = self.inbound("+447700900610")
        self.wait_row(self.reply(other, "Hello"), "sent")
        self.assertEqual(len(self.sent_to(number)), 1)

    def test_certificate_verified(self):
        number = "+447700900611"
        mid = str(uuid.uuid4())
        r = self.sb.request(
            "POST", "/hooks/notify/inbound-sms",
            headers={"Authorization": "Bearer untrusted-callback-token-"
                                      "0123456789"},
            body=notify_inbound(mid, source=number[1:], to="07700900003"))
        self.assertEqual(r.status, 200, r.body)
        conv = self.sql("SELECT conversation_id FROM messages WHERE"
                        " external_id = '%s'" % mid)
        oid = self.reply(conv, "Not to an unverified server")
        harness.wait_for(lambda: self.row(oid, "attempts") == "1" and
                         self.row(oid) == "pending", 30,
                         what="the try refused")
        self.assertRegex(self.row(oid, "last_error"),
                         r"(?i)certificate|ssl|issuer")
        self.assertEqual(self.sent_to(number), [])

    def test_left_chat_message_answered_by_text(self):
        number = "+447700900608"
        conv = self.sql(
            "WITH c AS (INSERT INTO customers DEFAULT VALUES RETURNING id),"
            " v AS (INSERT INTO conversations (customer_id, channel,"
            " queue_id, status) SELECT id, 'chat', 51, 'waiting' FROM c"
            " RETURNING id), m AS (INSERT INTO messages (conversation_id,"
            " direction, author_kind, body, metadata, source, external_id)"
            " SELECT id, 'in', 'customer', 'Please text me back',"
            " '{\"kind\": \"left_message\", \"reply_by\": \"sms\","
            " \"mobile\": \"%s\"}', 'chat', 'leave:' || id FROM v)"
            " SELECT id FROM v" % number).splitlines()[0]
        oid = self.reply(conv, "Thanks for your message")
        self.wait_row(oid, "sent")
        [m] = self.sent_to(number)
        self.assertEqual(m["body"], "Thanks for your message")
        self.assertEqual(m["provider"], "notify")


if __name__ == "__main__":
    harness.main()
