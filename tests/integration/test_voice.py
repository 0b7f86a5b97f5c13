"""Calls from the council's phone system (docs/voice.md) with two daemons on
one Redis and one PostgreSQL: the generic CTI webhook signed by our scheme
(missing, bad, stale and future timestamps refused, a replay no second
effect) and Twilio's voice status callbacks (X-Twilio-Signature, by
SequenceNumber); a call's lifecycle applied in order, duplicates and
late events ignored, terminal states never re-opened; the screen pop on
the desk of the advisor whose extension rings; the answered call counting
against the advisor's voice capacity (a live call blocks chats) until its
wrap-up ends; missed calls as callback work with a deadline, offered, and
their outcome recorded with another attempt; withheld numbers matching
nobody; the same event to both instances at once; PostgreSQL down."""

import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_routing import Desk  # noqa: E402
from test_sms import twilio_signature  # noqa: E402

SECRET = "cti-secret-0123456789abcdef-0123"
OLD_SECRET = "cti-previous-0123456789abcdef-01"
PUBLIC = "https://contact.council.example"
TWILIO_TOKEN = "twilio-voice-token-0123456789abcd"


def cti_headers(body, secret=SECRET, ts=None):
    ts = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body,
                   hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json",
            "X-Switchboard-Timestamp": ts,
            "X-Switchboard-Signature": "sha256=" + mac}


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % int((t % 1) * 1000)


class VoiceTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.over = {
            "router": {"grace_period": 30, "sweep_interval_ms": 100},
            "voice": {"queue": "phones", "callback_queue": "callbacks",
                      "callback_within": 120, "cti_secret": SECRET,
                      "cti_secret_previous": OLD_SECRET,
                      "public_url": PUBLIC,
                      "twilio_auth_token": TWILIO_TOKEN}}
        cls.sbs = [harness.Switchboard(cls.pg, cls.redis, cls.over,
                                       dbname=cls.db, start=False)
                   for _ in range(2)]
        r = harness.run_switchboard(["-c", cls.sbs[0].conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (71, 'phones',"
            " 'Phones'), (72, 'callbacks', 'Callbacks'), (73, 'chats',"
            " 'Chats');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s, wrap_up_s) VALUES (71, 'voice', 20, 30, 0),"
            " (72, 'voice', 3600, 30, 0), (73, 'chat', 60, 30, 0);",
            dbname=cls.db)
        cls.passwords = {}
        for login, ext in (("emma", "2001"), ("finn", "2002")):
            r = harness.run_switchboard(
                ["-c", cls.sbs[0].conf, "user", "add", "--role", "advisor",
                 "--name", login.title() + " Advisor", login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
            cls.pg.psql(
                "UPDATE staff_users SET phone_extension = '%s' WHERE login"
                " = '%s'; INSERT INTO queue_members (staff_id, queue_id)"
                " SELECT id, q FROM staff_users, unnest(ARRAY[71, 72, 73])"
                " q WHERE login = '%s'" % (ext, login, login), dbname=cls.db)
        for sb in cls.sbs:
            sb.start()
        for sb in cls.sbs:
            sb.wait_ready()

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def desk(self, login, sb=None):
        sb = sb or self.sbs[0]
        r = sb.request("POST", "/api/session",
                       headers={"Content-Type": "application/json"},
                       body=json.dumps({"login": login, "password":
                                        self.passwords[login]}).encode())
        self.assertEqual(r.status, 200, r.body)
        d = Desk(self, sb, r.headers["set-cookie"].split(";", 1)[0])
        d.status("available")
        self.addCleanup(d.ws.close)
        return d

    def cti(self, sb=None, secret=SECRET, ts=None, headers=None, **ev):
        body = json.dumps(ev).encode()
        return (sb or self.sbs[0]).request(
            "POST", "/hooks/cti", body=body,
            headers=headers if headers is not None else
            cti_headers(body, secret, ts))

    def event(self, call, event, at, **kw):
        ev = {"event": event, "call_id": call, "direction": "inbound",
              "from": kw.pop("frm", "07700 900321"), "to": "01632 960000",
              "at": iso(at)}
        ev.update(kw)
        r = self.cti(**ev)
        self.assertEqual(r.status, 200, r.body)
        return r

    def call_row(self, call, cols):
        return self.sql("SELECT %s FROM voice_calls WHERE call_key ="
                        " 'cti:%s'" % (cols, call))

    def conv_of(self, call):
        return self.call_row(call, "conversation_id")

    def lines(self, conv):
        return self.sql("SELECT string_agg(body, ' | ' ORDER BY id) FROM"
                        " messages WHERE conversation_id = %s" % conv)

    # ------------------------------------------------------------------

    def test_signature_checked(self):
        call = "sig-" + uuid.uuid4().hex
        ev = {"event": "ringing", "call_id": call, "direction": "inbound",
              "from": "07700900322", "to": "01632960000",
              "at": iso(time.time())}
        body = json.dumps(ev).encode()
        now = int(time.time())
        cases = [({}, "missing"),
                 (cti_headers(body, "x" * 32), "mismatch"),
                 (cti_headers(body, ts=now - 400), "stale"),
                 (cti_headers(body, ts=now + 400), "stale"),
                 (cti_headers(body + b" "), "mismatch")]
        for headers, reason in cases:
            r = self.sbs[0].request("POST", "/hooks/cti", body=body,
                                    headers=headers)
            self.assertEqual(r.status, 401, (reason, r.body))
            self.assertEqual(r.json()["error"], "signature")
        self.assertEqual(self.sql("SELECT count(*) FROM voice_calls WHERE"
                                  " call_key = 'cti:%s'" % call), "0")
        # The previous secret while rotating; then a replay of the same
        # request (inside the 300 s window): no second effect.
        headers = cti_headers(body, OLD_SECRET)
        for _ in range(2):
            r = self.sbs[0].request("POST", "/hooks/cti", body=body,
                                    headers=headers)
            self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM messages m JOIN voice_calls v ON"
            " v.conversation_id = m.conversation_id WHERE v.call_key ="
            " 'cti:%s'" % call), "1")
        m = self.sbs[0].get("/metrics").body.decode()
        self.assertRegex(m, r'switchboard_voice_events_total\{hook="cti",'
                            r'result="repeated"\} [1-9]')
        self.assertRegex(m, r'switchboard_voice_events_total\{hook="cti",'
                            r'result="unauthorized"\} [1-9]')

    def test_malformed(self):
        for ev, code in (({"event": "ringing"}, None),
                         ({"event": "dialling", "call_id": "x",
                           "direction": "inbound", "from": "1", "to": "2",
                           "at": iso(time.time())}, "event"),
                         ({"event": "answer", "call_id": "x",
                           "direction": "inbound", "from": "1", "to": "2",
                           "at": iso(time.time()), "cause": "busy"},
                          "cause")):
            r = self.cti(**ev)
            self.assertEqual(r.status, 400, r.body)
            if code:
                self.assertEqual(r.json()["error"], code, r.body)
            self.assertTrue(r.json().get("reason"))

    def test_answered_call_pops_counts_and_blocks_chats(self):
        emma = self.desk("emma")
        call = "c-" + uuid.uuid4().hex
        t = time.time()
        self.event(call, "newCall", t)
        self.event(call, "ringing", t + 1, agent_extension="2001",
                   queue="Council Tax")
        pop = emma.wait_for("voice.ringing")
        self.assertEqual(pop["caller_display"], "07700 900321")
        self.assertEqual(pop["caller"], "+447700900321")
        self.assertIn(pop["match"], ("new", "matched"))
        self.assertEqual(pop["phone_queue"], "Council Tax")
        conv = pop["conversation"]
        self.assertEqual(conv, self.conv_of(call))
        self.event(call, "answer", t + 5, agent_extension="2001")
        a = emma.wait_for("conversation.assigned", conversation=conv)
        self.assertTrue(a.get("seized"))
        emma.wait_for("voice.answered", conversation=conv)
        harness.wait_for(lambda: self.sql(
            "SELECT status || '|' || assigned_staff_id FROM conversations"
            " WHERE id = %s" % conv) == "assigned|" + emma.staff, 10,
            what="the call assigned to emma")
        # A live call blocks chats: a chat waiting is not offered to her.
        from test_routing import chat_resident
        r = chat_resident(self, self.sbs[1], origin=None)
        r.start(queue="chats", name="Cara")
        time.sleep(1)
        self.assertEqual([m for m in emma.pending
                          if m.get("type") == "offer"], [])
        # Hang up: wrap-up (0 s here): the chat is offered at once.
        self.event(call, "hangup", t + 65, cause="normalClearing",
                   recording_url="https://pbx.example/rec/1.mp3")
        emma.wait_for("offer", conversation=r.conv)
        self.assertEqual(
            self.call_row(call, "state || '|' || duration_s || '|' ||"
                          " recording_url"),
            "ended|60|https://pbx.example/rec/1.mp3")
        self.assertEqual(self.lines(conv),
                         "Incoming call from 07700 900321 |"
                         " Answered by Emma Advisor | Call ended after 1 min"
                         " 0 s. Recording: https://pbx.example/rec/1.mp3")
        self.assertIn(self.sql("SELECT status FROM conversations WHERE id ="
                               " %s" % conv), ("wrap_up", "closed"))
        # Late and repeated events change nothing.
        self.event(call, "answer", t + 70, agent_extension="2002")
        self.event(call, "ringing", t + 1, agent_extension="2001",
                   queue="Council Tax")
        self.assertEqual(self.call_row(call, "state || '|' || answered_by"),
                         "ended|" + emma.staff)

    def test_missed_call_becomes_callback_with_outcome(self):
        finn = self.desk("finn")
        call = "m-" + uuid.uuid4().hex
        t = time.time()
        self.event(call, "ringing", t, frm="+447700900331",
                   agent_extension="2002")
        finn.wait_for("voice.ringing")
        self.event(call, "hangup", t + 20, frm="+447700900331",
                   cause="noAnswer")
        finn.wait_for("voice.ended")
        conv = self.conv_of(call)
        row = self.sql("SELECT status IN ('waiting', 'offered', 'assigned')"
                       " || '|' || queue_id || '|' || (due_at > now() +"
                       " interval '119 minutes' AND due_at < now() + interval"
                       " '121 minutes') || '|' || subject FROM conversations"
                       " WHERE id = %s" % conv)
        self.assertEqual(row, "true|72|true|Missed call from 07700 900331")
        # Offered like any conversation; taken; the outcome recorded with
        # another attempt two seconds on.
        finn.wait_for("offer", conversation=conv)
        finn.send(type="offer.accept", conversation=conv, id="acc")
        finn.wait_for("offer.accepted", id="acc")
        retry = int(time.time() * 1000) + 2000
        finn.send(type="voice.callback", conversation=conv,
                  outcome="no_answer", note="Rang twice", retry_at=retry,
                  id="cb")
        m = finn.wait_for("voice.callback.recorded", id="cb")
        self.assertEqual(m["attempt"], 1)
        harness.wait_for(lambda: self.sql(
            "SELECT status FROM conversations WHERE id = %s" % conv) in
            ("wrap_up", "closed"), 10, what="wrap-up")
        finn.send(type="conversation.wrap_up", conversation=conv, id="wu")
        finn.wait_for("conversation.wrapped_up", id="wu")
        # Due again: queued and offered again (the sweep runs every 5 s).
        finn.wait_for("offer", conversation=conv, timeout=20)
        self.assertEqual(self.sql(
            "SELECT string_agg(attempt || ':' || status || ':' ||"
            " coalesce(outcome, '-'), ',' ORDER BY attempt) FROM"
            " voice_callbacks WHERE conversation_id = %s" % conv),
            "1:done:no_answer,2:queued:-")
        finn.send(type="offer.accept", conversation=conv, id="acc2")
        finn.wait_for("offer.accepted", id="acc2")
        finn.send(type="voice.callback", conversation=conv,
                  outcome="reached", id="cb2")
        self.assertEqual(finn.wait_for("voice.callback.recorded",
                                       id="cb2")["attempt"], 2)
        self.assertIn("Callback attempt 1 by Finn Advisor: no answer. Rang"
                      " twice. Next attempt from", self.lines(conv))
        self.assertIn("Callback attempt 2 by Finn Advisor: reached the"
                      " resident", self.lines(conv))
        # Someone else's callback, and a bad outcome, are refused.
        finn.send(type="voice.callback", conversation=conv,
                  outcome="maybe", id="bad")
        self.assertEqual(finn.wait_for("error", id="bad")["code"],
                         "bad_message")

    def test_withheld_number_matches_nobody(self):
        call = "w-" + uuid.uuid4().hex
        t = time.time()
        self.event(call, "ringing", t, frm="anonymous")
        self.event(call, "hangup", t + 10, frm="anonymous", cause="cancel")
        self.assertEqual(self.call_row(call, "withheld || '|' ||"
                                       " coalesce(caller, '-')"), "true|-")
        conv = self.conv_of(call)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM customer_identities i JOIN conversations c"
            " ON c.customer_id = i.customer_id WHERE c.id = %s" % conv), "0")
        self.assertEqual(self.sql("SELECT status FROM conversations WHERE"
                                  " id = %s" % conv), "closed")
        self.assertIn("The number is withheld: no callback is possible",
                      self.lines(conv))

    def test_known_caller_pops_their_record(self):
        # A resident who texted before has a record with their number.
        cust = self.sql(
            "WITH c AS (INSERT INTO customers (display_name) VALUES ('Dee"
            " Resident') RETURNING id), i AS (INSERT INTO"
            " customer_identities (customer_id, kind, value) SELECT id,"
            " 'phone', '+447700900341' FROM c), v AS (INSERT INTO"
            " conversations (customer_id, channel, queue_id, status,"
            " subject) SELECT id, 'chat', 73, 'closed', 'Old chat' FROM c),"
            " o AS (INSERT INTO conversations (customer_id, channel,"
            " queue_id, status, subject) SELECT id, 'sms', 73, 'waiting',"
            " 'Bins' FROM c) SELECT id FROM c").splitlines()[0]
        emma = self.desk("emma", sb=self.sbs[1])
        call = "k-" + uuid.uuid4().hex
        self.event(call, "ringing", time.time(), frm="07700 900341",
                   agent_extension="2001")
        pop = emma.wait_for("voice.ringing")
        self.assertEqual(pop["match"], "matched")
        self.assertEqual(pop["customer"]["id"], int(cust))
        self.assertEqual(pop["customer"]["name"], "Dee Resident")
        self.assertEqual([o["subject"] for o in pop["open"]], ["Bins"])
        self.event(call, "hangup", time.time() + 3, frm="07700 900341",
                   cause="cancel")

    def test_twilio_status_callbacks_in_sequence(self):
        emma = self.desk("emma")
        parent, child = "CA" + uuid.uuid4().hex, "CA" + uuid.uuid4().hex
        stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())

        def post(sid, seq, status, direction="inbound",
                 to="+441632960000", **extra):
            p = [("CallSid", sid), ("AccountSid", "AC" + "0" * 32),
                 ("From", "+447700900351"), ("To", to),
                 ("CallStatus", status), ("Direction", direction),
                 ("Timestamp", stamp), ("SequenceNumber", str(seq)),
                 ("ApiVersion", "2010-04-01")] + list(extra.items())
            body = urllib.parse.urlencode(p).encode()
            sig = twilio_signature(TWILIO_TOKEN,
                                   PUBLIC + "/hooks/twilio/voice", p)
            return self.sbs[0].request(
                "POST", "/hooks/twilio/voice", body=body,
                headers={"X-Twilio-Signature": sig})

        # The caller's leg rings Twilio (its IVR answers: no advisor yet).
        self.assertEqual(post(parent, 0, "ringing").status, 200)
        self.assertEqual(post(parent, 1, "in-progress").status, 200)
        key = "twilio:" + parent
        self.assertEqual(self.sql("SELECT state FROM voice_calls WHERE"
                                  " call_key = '%s'" % key), "ringing")
        # <Dial> to Emma's SIP phone: the child leg rings her extension.
        emma_leg = "sip:2001@pbx.council.example"
        r = post(child, 0, "ringing", "outbound-dial", to=emma_leg,
                 ParentCallSid=parent)
        self.assertEqual(r.status, 200, r.body)
        pop = emma.wait_for("voice.ringing")
        self.assertEqual(pop["caller_display"], "07700 900351")
        conv = pop["conversation"]
        # Not signed: refused, nothing applied.
        r = self.sbs[0].request("POST", "/hooks/twilio/voice",
                                body=b"CallSid=x",
                                headers={"X-Twilio-Signature": "nope"})
        self.assertEqual(r.status, 403)
        r = post(child, 1, "in-progress", "outbound-dial", to=emma_leg,
                 ParentCallSid=parent)
        self.assertEqual(r.status, 200)
        self.assertTrue(emma.wait_for("conversation.assigned",
                                      conversation=conv).get("seized"))
        # The child's ringing again (sequence 0: a duplicate): no effect.
        post(child, 0, "ringing", "outbound-dial", to=emma_leg,
             ParentCallSid=parent)
        self.assertEqual(self.sql("SELECT count(*) FROM voice_legs WHERE"
                                  " call_id = (SELECT id FROM voice_calls"
                                  " WHERE call_key = '%s')" % key), "2")
        self.assertEqual(post(parent, 2, "completed",
                              CallDuration="42").status, 200)
        self.assertEqual(self.sql("SELECT state || '|' || duration_s || '|'"
                                  " || answered_by FROM voice_calls WHERE"
                                  " call_key = '%s'" % key),
                         "ended|42|" + emma.staff)
        emma.wait_for("conversation.ended", conversation=conv)
        # A late in-progress of the parent: never re-opened.
        post(parent, 3, "in-progress")
        self.assertEqual(self.sql("SELECT state FROM voice_calls WHERE"
                                  " call_key = '%s'" % key), "ended")

    def test_same_event_to_both_instances_at_once(self):
        out = []
        calls = ["p-" + uuid.uuid4().hex for _ in range(10)]
        t = time.time()

        def send(sb, call):
            ev = {"event": "ringing", "call_id": call,
                  "direction": "inbound", "from": "07700900361",
                  "to": "01632960000", "at": iso(t)}
            out.append(self.cti(sb=sb, **ev).status)
        threads = [threading.Thread(target=send, args=(sb, c))
                   for c in calls for sb in self.sbs]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(sorted(set(out)), [200])
        for c in calls:
            self.assertEqual(self.sql(
                "SELECT count(*) FROM voice_calls WHERE call_key = 'cti:%s'"
                % c), "1")
            self.assertEqual(self.sql(
                "SELECT count(*) FROM messages m JOIN voice_calls v ON"
                " v.conversation_id = m.conversation_id WHERE v.call_key ="
                " 'cti:%s'" % c), "1")

    def test_zz_database_down(self):
        call = "d-" + uuid.uuid4().hex
        ev = {"event": "ringing", "call_id": call, "direction": "inbound",
              "from": "07700900371", "to": "01632960000",
              "at": iso(time.time())}
        self.pg.stop()
        try:
            r = self.cti(**ev)
            self.assertEqual(r.status, 503, r.body)
            self.assertTrue(r.headers.get("retry-after"))
        finally:
            self.pg.start()
        for sb in self.sbs:
            sb.wait_ready(timeout=60)
        harness.wait_for(lambda: self.cti(**ev).status == 200, 30,
                         what="the retry applied")
        self.assertEqual(self.sql("SELECT count(*) FROM voice_calls WHERE"
                                  " call_key = 'cti:%s'" % call), "1")


if __name__ == "__main__":
    harness.main()
