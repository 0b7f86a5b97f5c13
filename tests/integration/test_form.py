"""The web-form channel (POST /hooks/forms/{form}, docs/integrations.md)
with two daemons on one Redis and one PostgreSQL: a signed submission is
stored once with its fields and answered 2xx only after COMMIT; our
signing scheme through HTTP (missing, bad, stale either way, rotated
secrets); the same submission sent to both instances at once; malformed
and oversized bodies; unknown forms and methods; the per-address limit;
routing to an advisor with web capacity; PostgreSQL stopped (503 with
Retry-After) and started again (the retry stored once)."""

import hashlib
import hmac
import json
import re
import os
import subprocess
import sys
import threading
import unittest
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_routing import Desk  # noqa: E402

SECRET = "missed-bin-secret-0123456789abcdef"
OLD_SECRET = "missed-bin-previous-0123456789abc"
THIRD_SECRET = "nobody-holds-this-one-0123456789"
FORM = "missed-bin"


def signed(body, secret=SECRET, ts=None, sig=None):
    """The headers of a submission signed as docs/integrations.md says."""
    ts = str(int(time.time()) if ts is None else ts)
    if sig is None:
        mac = hmac.new(secret.encode(), ts.encode() + b"." + body,
                       hashlib.sha256).hexdigest()
        sig = "sha256=" + mac
    return {"Content-Type": "application/json",
            "X-Switchboard-Timestamp": ts,
            "X-Switchboard-Signature": sig}


def submission(sid=None, **extra):
    d = {"submission_id": sid or str(uuid.uuid4()),
         "form": "Report a missed bin",
         "name": "Ann Resident",
         "email": "Ann.Form@Example.org",
         "fields": [{"label": "Street", "value": "1 High St"},
                    {"label": "Bin", "value": "Green"},
                    {"label": "Notes", "value": "Missed twice\nthis month"}]}
    d.update(extra)
    return json.dumps(d).encode()


def forms_config(**over):
    c = {"requests_per_address": 100000, "window": 60,
         'form "missed-bin"': {"secret": SECRET,
                               "secret_previous": OLD_SECRET,
                               "queue": "bins",
                               "subject": "Missed bin collection"},
         'form "closed"': {"secret": SECRET, "queue": "nowhere"},
         # Only test_routed_to_advisor_with_web_capacity sends here, so
         # its offer is not behind the other tests' waiting submissions.
         'form "routed"': {"secret": SECRET, "queue": "routed"}}
    c.update(over)
    return c


class FormTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.over = {"router": {"grace_period": 30, "sweep_interval_ms": 100},
                    "forms": forms_config()}
        cls.sbs = [harness.Switchboard(cls.pg, cls.redis, cls.over,
                                       dbname=cls.db, start=False)
                   for _ in range(2)]
        r = harness.run_switchboard(["-c", cls.sbs[0].conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (41, 'bins',"
            " 'Bins and recycling'), (42, 'routed', 'Routed');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s, wrap_up_s) VALUES (41, 'web', 3600, 30, 0),"
            " (42, 'web', 3600, 30, 0);",
            dbname=cls.db)
        r = harness.run_switchboard(
            ["-c", cls.sbs[0].conf, "user", "add", "--role", "advisor",
             "--name", "Ada Advisor", "ada"])
        assert r.returncode == 0, r.stderr
        cls.password = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql("INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, 42 FROM staff_users WHERE login = 'ada'",
                    dbname=cls.db)
        for sb in cls.sbs:
            sb.start()
        for sb in cls.sbs:
            sb.wait_ready()

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def post(self, body, headers=None, sb=None, form=FORM, path=None,
             timeout=5):
        sb = sb or self.sbs[0]
        return sb.request("POST", path or "/hooks/forms/" + form,
                          headers=signed(body) if headers is None else headers,
                          body=body, timeout=timeout)

    def stored(self, sid):
        return int(self.sql("SELECT count(*) FROM messages WHERE source ="
                            " 'form:missed-bin' AND external_id = '%s'"
                            % sid))

    def refused(self, r, status, error, **fields):
        self.assertEqual(r.status, status, r.body)
        j = r.json()
        self.assertEqual(j["error"], error, j)
        for k, v in fields.items():
            self.assertEqual(j.get(k), v, j)
        return j

    # ------------------------------------------------------------------

    def test_submission_stored_once_with_fields(self):
        sid = "good-" + str(uuid.uuid4())
        # A person not seen before (a matched customer gets nothing added).
        email = "Good.%s@Example.org" % sid[5:13]
        body = submission(sid, phone="07700 900456", email=email,
                          submitted_at="2026-12-07T09:30:00Z")
        r = self.post(body)
        self.assertEqual(r.status, 201, r.body)
        j = r.json()
        self.assertRegex(j["reference"], r"^SB[0-9]+$")
        conv = j["conversation"]
        row = self.sql(
            "SELECT c.channel || '|' || c.subject || '|' || q.slug || '|'"
            " || m.direction || '|' || m.body"
            " FROM messages m JOIN conversations c ON c.id ="
            " m.conversation_id JOIN queues q ON q.id = c.queue_id"
            " WHERE m.source = 'form:missed-bin' AND m.external_id = '%s'"
            % sid)
        self.assertEqual(
            row, "web|Missed bin collection|bins|in|Report a missed bin"
            "\n\nStreet: 1 High St\nBin: Green\nNotes: Missed twice\nthis"
            " month")
        meta = json.loads(self.sql(
            "SELECT metadata FROM messages WHERE external_id = '%s'" % sid))
        self.assertEqual(meta["form"], FORM)
        self.assertEqual(meta["title"], "Report a missed bin")
        self.assertEqual(meta["submitted_at"], "2026-12-07T09:30:00.000Z")
        self.assertEqual(meta["fields"], [
            {"label": "Street", "value": "1 High St"},
            {"label": "Bin", "value": "Green"},
            {"label": "Notes", "value": "Missed twice\nthis month"}])
        # The person, normalised, on a customer of the conversation.
        ids = self.sql(
            "SELECT string_agg(ci.kind || '=' || ci.value, ',' ORDER BY"
            " ci.kind) FROM customer_identities ci JOIN conversations c ON"
            " c.customer_id = ci.customer_id WHERE c.id = %s" % conv)
        self.assertIn("email=" + email.lower(), ids)
        self.assertIn("+447700900456", ids)
        # The same submission again (another signature, later): a 200
        # with the same conversation, nothing written.
        r = self.post(body, headers=signed(body, ts=int(time.time()) - 10))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["conversation"], conv)
        self.assertEqual(r.json()["reference"], j["reference"])
        self.assertEqual(self.stored(sid), 1)
        self.assertEqual(self.sql("SELECT count(*) FROM messages WHERE"
                                  " conversation_id = %s" % conv), "1")
        log = self.sbs[0].log_text()
        self.assertIn("form.accepted", log)
        self.assertNotIn(SECRET, log)
        m = self.sbs[0].get("/metrics").body.decode()
        self.assertRegex(m, r'switchboard_form_submissions_total\{form='
                            r'"missed-bin",result="created"\} [1-9]')
        self.assertRegex(m, r'switchboard_form_submissions_total\{form='
                            r'"missed-bin",result="repeated"\} [1-9]')
        self.assertRegex(m, r'switchboard_messages_total\{channel="web",'
                            r'direction="in"\} [1-9]')

    def test_contrib_form_post(self):
        """The sender's script of docs/integrations.md signs as we check
        (openssl dgst, computed apart from signed_hook.c)."""
        d = harness.tempdir("form")
        path = os.path.join(d, "secret")
        with open(path, "w") as f:
            f.write(OLD_SECRET + "\n")
        out = subprocess.run(
            [os.path.join(harness.SRC, "contrib", "form-post"),
             self.sbs[1].public_url + "/hooks/forms/" + FORM, path],
            capture_output=True, text=True, timeout=30,
            env=harness.clean_env())
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"^HTTP/1.1 201")
        self.assertIn('"reference":"SB', out.stdout)

    def test_signatures(self):
        now = int(time.time())
        cases = [
            ({"Content-Type": "application/json"}, "missing"),
            (lambda b: signed(b, ts=""), "missing"),
            (lambda b: signed(b, sig=""), "missing"),
            (lambda b: signed(b, secret=THIRD_SECRET), "mismatch"),
            (lambda b: signed(b, sig="sha256=" + "0" * 64), "mismatch"),
            (lambda b: signed(b, sig="sha256=xyz"), "malformed"),
            (lambda b: signed(b, ts="12ab"), "malformed"),
            (lambda b: signed(b, ts=now - 360), "stale"),
            (lambda b: signed(b, ts=now + 360), "stale"),
        ]
        for hdrs, reason in cases:
            sid = "sig-" + str(uuid.uuid4())
            body = submission(sid)
            h = hdrs(body) if callable(hdrs) else hdrs
            r = self.post(body, headers=h)
            self.refused(r, 401, "signature", reason=reason)
            self.assertEqual(self.stored(sid), 0)
        # A body changed after signing does not pass.
        body = submission("sig-changed")
        h = signed(body)
        r = self.post(body.replace(b"Green", b"Brown"), headers=h)
        self.refused(r, 401, "signature", reason="mismatch")
        # Rotation: the new and the previous secret both pass; several
        # values in one header (a sender signing with both) pass.
        for secret in (SECRET, OLD_SECRET):
            sid = "rot-" + str(uuid.uuid4())
            body = submission(sid)
            r = self.post(body, headers=signed(body, secret=secret))
            self.assertEqual(r.status, 201, r.body)
            self.assertEqual(self.stored(sid), 1)
        sid = "both-" + str(uuid.uuid4())
        body = submission(sid)
        a = signed(body, secret=THIRD_SECRET)["X-Switchboard-Signature"]
        h = signed(body)
        h["X-Switchboard-Signature"] = a + ", " + \
            h["X-Switchboard-Signature"].upper().replace("SHA256=", "sha256=")
        r = self.post(body, headers=h)
        self.assertEqual(r.status, 201, r.body)
        self.assertIn("form.refused", self.sbs[0].log_text())

    def test_malformed_bodies(self):
        cases = [
            (b"not json", "not_json", None),
            (b"[1, 2]", "not_json", None),
            (json.dumps({"fields": []}).encode(), "missing",
             "submission_id"),
            (json.dumps({"submission_id": 7, "fields": []}).encode(),
             "wrong_type", "submission_id"),
            (json.dumps({"submission_id": "bad-a"}).encode(), "missing",
             "fields"),
            (json.dumps({"submission_id": "bad-b", "fields": "x"}).encode(),
             "wrong_type", "fields"),
            (json.dumps({"submission_id": "bad-c", "fields": [],
                         "email": "not an address"}).encode(), "invalid",
             "email"),
            (json.dumps({"submission_id": "bad-d", "fields": [],
                         "phone": "call me"}).encode(), "invalid", "phone"),
        ]
        before = self.sql("SELECT count(*) FROM messages")
        for body, code, field in cases:
            r = self.post(body)
            j = self.refused(r, 400, code)
            self.assertEqual(j.get("field"), field, j)
            self.assertTrue(j["reason"], j)
        r = self.post(json.dumps(
            {"submission_id": "bad-e",
             "fields": [{"label": "A", "value": "1"}, {"label": "B"}]}
        ).encode())
        self.refused(r, 400, "missing", field="fields", index=1)
        # Over the body limit (256 KiB): 413 from the route table.
        big = submission("big", fields=[{"label": "x",
                                         "value": "y" * 300000}])
        r = self.post(big)
        self.assertEqual(r.status, 413, r.body)
        self.assertEqual(self.sql("SELECT count(*) FROM messages"), before)

    def test_largest_submission_stored(self):
        """Fields at the caps, every character one JSON escapes: stored
        (the metadata stays within ingest's limit)."""
        sid = "large-" + str(uuid.uuid4())
        fields = [{"label": "L%d" % i, "value": '"\\' * 1480}
                  for i in range(10)]
        fields.append({"label": "x" * 200, "value": ""})
        total = sum(len((f["label"] + f["value"]).encode()) for f in fields)
        fields[-1]["value"] = "\n" * (30000 - total)  # 30,000 in all
        body = submission(sid, fields=fields, form='"' * 200)
        self.assertLess(len(body), 262144)
        r = self.post(body)
        self.assertEqual(r.status, 201, r.body)
        meta = json.loads(self.sql(
            "SELECT metadata FROM messages WHERE external_id = '%s'" % sid))
        self.assertEqual(meta["fields"], fields)
        # One byte more than the total: refused, naming the field.
        fields[-1]["value"] += "\n"
        r = self.post(submission(fields=fields))
        self.refused(r, 400, "too_long", field="fields", index=10)

    def test_config_checked(self):
        """switchboard -t reports a broken form as FILE:LINE, never
        quoting a secret."""
        d = harness.tempdir("formconf")
        short = os.path.join(d, "short")
        with open(short, "w") as f:
            f.write("tooshort\n")
        cases = [
            ({'form "Bad_Name"': {"secret": SECRET, "queue": "bins"}},
             "a form's name is its URL"),
            ({'form "nosecret"': {"queue": "bins"}}, "no secret"),
            ({'form "both"': {"secret": SECRET, "secret_file": short,
                              "queue": "bins"}}, "not both"),
            ({'form "short"': {"secret_file": short, "queue": "bins"}},
             "at least 16 bytes"),
            ({'form "gone"': {"secret_file": os.path.join(d, "none"),
                              "queue": "bins"}}, "does not exist"),
            ({'form "noqueue"': {"secret": SECRET}}, "queue"),
            ({"window": 0}, "window"),
            ({"body_max": 10}, "body_max"),
        ]
        for forms, why in cases:
            over = dict(self.over)
            over["forms"] = dict(forms_config(), **forms)
            sb = harness.Switchboard(self.pg, self.redis, over,
                                     dbname=self.db, start=False)
            r = harness.run_switchboard(["-t", "-c", sb.conf])
            self.assertNotEqual(r.returncode, 0, forms)
            out = r.stdout + r.stderr
            self.assertRegex(out, re.escape(sb.conf) + r":\d+: ", out)
            self.assertIn(why, out)
            self.assertNotIn(SECRET, out)

    def test_unknown_form_and_method(self):
        body = submission()
        for path in ("/hooks/forms/nope", "/hooks/forms/",
                     "/hooks/forms/missed-bin/x", "/hooks/forms/MISSED-BIN"):
            r = self.post(body, path=path)
            self.refused(r, 404, "unknown_form")
        r = self.sbs[0].request("GET", "/hooks/forms/missed-bin")
        self.assertEqual(r.status, 405)
        self.assertIn("POST", r.headers.get("allow", ""))
        # A form whose queue does not exist: refused, not stored.
        sid = "closed-" + str(uuid.uuid4())
        body = submission(sid)
        r = self.post(body, form="closed")
        self.refused(r, 422, "unknown_queue")
        self.assertEqual(self.sql("SELECT count(*) FROM messages WHERE"
                                  " external_id = '%s'" % sid), "0")

    def test_same_submission_to_two_instances_at_once(self):
        """Both answered 2xx, one conversation holding one message. (When
        the other instance commits the same submission_id at the same
        moment, sb_ingest fails that batch; the channel submits once more
        and finds the stored one: form.retry in the log.)"""
        for _ in range(8):
            sid = "twice-" + str(uuid.uuid4())
            body = submission(sid)
            results = [None, None]
            go = threading.Barrier(2)

            def send(i):
                h = signed(body)
                go.wait()
                results[i] = self.post(body, headers=h, sb=self.sbs[i])

            ts = [threading.Thread(target=send, args=(i,)) for i in (0, 1)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            codes = sorted(r.status for r in results)
            self.assertIn(codes, ([200, 201], [201, 201]),
                          [r.body for r in results])
            self.assertEqual(results[0].json()["conversation"],
                             results[1].json()["conversation"])
            self.assertEqual(self.stored(sid), 1)
            self.assertEqual(self.sql(
                "SELECT count(*) FROM messages WHERE conversation_id = %s"
                % results[0].json()["conversation"]), "1")
        retried = sum(sb.log_text().count("event=form.retry")
                      for sb in self.sbs)
        print("\n  same submission on two instances: %d retried inside"
              % retried, file=sys.stderr)

    def test_rate_limit_per_address(self):
        over = dict(self.over)
        over["forms"] = forms_config(requests_per_address=3, window=60)
        sb = harness.Switchboard(self.pg, self.redis, over, dbname=self.db)
        sb.wait_ready()
        try:
            codes = []
            for i in range(5):
                body = submission("rate-%d-%s" % (i, uuid.uuid4()))
                codes.append(self.post(body, sb=sb))
            self.assertEqual([r.status for r in codes],
                             [201, 201, 201, 429, 429])
            self.assertEqual(codes[3].json()["error"], "rate_limited")
            self.assertIn(int(codes[3].headers["retry-after"]),
                          range(1, 61))
            # Unknown forms and unsigned requests count too.
            r = self.post(submission(), sb=sb, form="nope")
            self.assertEqual(r.status, 429, r.body)
            r = self.post(submission(), sb=sb,
                          headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, 429, r.body)
            # Other instances count their own.
            self.assertEqual(self.post(submission()).status, 201)
            m = sb.get("/metrics").body.decode()
            self.assertIn('switchboard_form_submissions_total{form='
                          '"missed-bin",result="rate_limited"} 3', m)
        finally:
            sb.stop()

    def test_routed_to_advisor_with_web_capacity(self):
        r = self.sbs[0].request(
            "POST", "/api/session",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"login": "ada",
                             "password": self.password}).encode())
        self.assertEqual(r.status, 200, r.body)
        cookie = r.headers["set-cookie"].split(";", 1)[0]
        desk = Desk(self, self.sbs[1], cookie)
        desk.status("available")
        try:
            r = self.post(submission("routed-" + str(uuid.uuid4())),
                          form="routed")
            self.assertEqual(r.status, 201, r.body)
            conv = r.json()["conversation"]
            o = desk.wait_for("offer", conversation=conv, timeout=10)
            self.assertEqual(o.get("channel"), "web", o)
            self.assertEqual(o.get("queue"), "42", o)
        finally:
            desk.status("away")

    def test_zz_postgres_down_then_retried(self):
        """Last: stops and starts PostgreSQL."""
        sid = "pgdown-" + str(uuid.uuid4())
        body = submission(sid)
        self.pg.stop()
        try:
            r = harness.wait_for(
                lambda: (lambda r: r if r.status == 503 else None)(
                    self.post(body, timeout=20)),
                30, interval=0.5, what="a 503 with PostgreSQL down")
        except Exception:
            self.pg.start()
            raise
        self.assertEqual(r.json()["error"], "unavailable")
        self.assertTrue(r.headers.get("retry-after"))
        self.pg.start()
        for sb in self.sbs:
            sb.wait_ready()
        r = self.post(body)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(self.stored(sid), 1)
        r = self.post(body)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.stored(sid), 1)


if __name__ == "__main__":
    harness.main()
