"""The contract server that stands in for GOV.UK Notify and Twilio
(tests/integration/provider_server.py, harness.ProviderServer): it must
accept what the providers accept and refuse, one rule at a time, what they
refuse, with their status, their error body and a verdict naming the rule;
its scripted answers (errors, delays, accepted-yet-500, hanging) must do
what they say. Also the signing helpers against Twilio's own SDK vectors
and openssl. No Switchboard needed."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
TO = "+447700900111"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(service_id, secret, iat=None, header=None, payload=None, sign=True):
    """A Notify bearer token: HS256 over the given or usual claims."""
    h = b64url(json.dumps(header or {"typ": "JWT", "alg": "HS256"})
               .encode())
    claims = {"iss": service_id,
              "iat": int(time.time()) if iat is None else iat}
    if payload is not None:
        claims = payload
    p = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), (h + "." + p).encode(),
                   hashlib.sha256).digest() if sign else b""
    return h + "." + p + "." + b64url(sig)


class ProviderServerTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("provider")
        cls.ps = harness.ProviderServer(cls.tmp)
        cls.ctx = ssl.create_default_context(cafile=cls.ps.ca)

    def setUp(self):
        self.ps.reset()

    # ------------------------------------------------------------ clients

    def call(self, method, path, body=None, headers=None, timeout=10,
             tls=True):
        if tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.ps.port,
                                               timeout=timeout,
                                               context=self.ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.ps.port,
                                              timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            try:
                obj = json.loads(data) if data else None
            except ValueError:
                obj = data
            return r.status, obj
        finally:
            conn.close()

    def notify_token(self, **kw):
        return jwt(self.ps.notify_service_id, self.ps.notify_secret, **kw)

    def notify(self, obj=None, token=None, ctype="application/json",
               raw=None, **over):
        if obj is None:
            obj = {"phone_number": TO, "template_id": TEMPLATE,
                   "personalisation": {"body": "Your bin is collected"},
                   "reference": "outbox-42"}
            obj.update(over)
            obj = {k: v for k, v in obj.items() if v is not None}
        headers = {"Content-Type": ctype}
        if token is not False:
            headers["Authorization"] = "Bearer " + (
                token if token is not None else self.notify_token())
        body = raw if raw is not None else json.dumps(obj).encode()
        return self.call("POST", "/v2/notifications/sms", body, headers)

    def notify_get(self, path, token=None):
        return self.call("GET", path, headers={
            "Authorization": "Bearer " + (token or self.notify_token())})

    def twilio(self, fields=None, sid=None, token=None,
               ctype="application/x-www-form-urlencoded", path_sid=None,
               timeout=10):
        if fields is None:
            fields = [("To", TO), ("From", "+447700900222"),
                      ("Body", "Your bin is collected")]
        sid = sid or self.ps.twilio_sid
        cred = base64.b64encode(("%s:%s" % (
            sid, token or self.ps.twilio_token)).encode()).decode()
        return self.call(
            "POST", "/2010-04-01/Accounts/%s/Messages.json" % (
                path_sid or self.ps.twilio_sid),
            urllib.parse.urlencode(fields).encode(),
            {"Authorization": "Basic " + cred, "Content-Type": ctype},
            timeout=timeout)

    def last(self):
        return self.ps.requests()[-1]

    def assert_notify_refused(self, got, status, error, message, verdict):
        st, body = got
        self.assertEqual(st, status, body)
        self.assertEqual(body, {"status_code": status, "errors": [
            {"error": error, "message": message}]})
        rec = self.last()
        self.assertEqual((rec["status"], rec["verdict"], rec["provider"]),
                         (status, verdict, "notify"))
        self.assertEqual(self.ps.messages(), [])

    def assert_twilio_refused(self, got, status, code, verdict, message=None):
        st, body = got
        self.assertEqual(st, status, body)
        self.assertEqual(body["code"], code)
        self.assertEqual(body["status"], status)
        self.assertEqual(body["more_info"],
                         "https://www.twilio.com/docs/errors/%d" % code)
        if message is not None:
            self.assertEqual(body["message"], message)
        rec = self.last()
        self.assertEqual((rec["status"], rec["verdict"], rec["provider"]),
                         (status, verdict, "twilio"))
        self.assertEqual(self.ps.messages(), [])

    # ------------------------------------------------------------ Notify

    def test_notify_accepts(self):
        st, body = self.notify()
        self.assertEqual(st, 201, body)
        uuid.UUID(body["id"], version=4)
        self.assertEqual(body["reference"], "outbox-42")
        self.assertEqual(body["content"], {"body": "Your bin is collected",
                                           "from_number": "GOVUK"})
        self.assertEqual(body["uri"], "%s/v2/notifications/%s" % (
            self.ps.url, body["id"]))
        self.assertEqual(body["template"]["id"], TEMPLATE)
        self.assertEqual(body["template"]["version"], 1)
        rec = self.last()
        self.assertEqual((rec["status"], rec["verdict"], rec["provider"],
                          rec["tls"], rec["method"], rec["path"]),
                         (201, "ok", "notify", True, "POST",
                          "/v2/notifications/sms"))
        self.assertTrue(rec["headers"]["authorization"].startswith("Bearer "))
        self.assertEqual(json.loads(rec["body"])["reference"], "outbox-42")
        msgs = self.ps.messages()
        self.assertEqual(len(msgs), 1)
        self.assertEqual({k: msgs[0][k] for k in ("provider", "id", "to",
                                                  "body", "reference")},
                         {"provider": "notify", "id": body["id"], "to": TO,
                          "body": "Your bin is collected",
                          "reference": "outbox-42"})
        # UK mobiles as Notify reads them; an optional sender id; a token
        # 20 s old or ahead; a charset on the content type.
        for number in ("07700 900111", "447700900111", "+44 (0)7700 900111"):
            self.assertEqual(self.notify(phone_number=number)[0], 201, number)
        self.assertEqual(self.notify(sms_sender_id=str(uuid.uuid4()))[0], 201)
        for skew in (-20, 20):
            self.assertEqual(self.notify(token=self.notify_token(
                iat=int(time.time()) + skew))[0], 201)
        self.assertEqual(self.notify(
            ctype="application/json; charset=utf-8")[0], 201)
        self.assertEqual([m["to"] for m in self.ps.messages()], [TO] * 8)
        self.assertEqual({r["verdict"] for r in self.ps.requests()}, {"ok"})

    def test_notify_token_rules(self):
        clock = "Error: Your system clock must be accurate to within 30 " \
            "seconds"
        bad = "Invalid token: signature, api token not found"
        now = int(time.time())
        self.assert_notify_refused(
            self.notify(token=self.notify_token(iat=now - 40)),
            403, "AuthError", clock, "notify.jwt.iat")
        self.assert_notify_refused(
            self.notify(token=self.notify_token(iat=now + 40)),
            403, "AuthError", clock, "notify.jwt.iat")
        self.assert_notify_refused(
            self.notify(token=self.notify_token(iat=float(now))),
            403, "AuthError", "Invalid token: iat field not provided",
            "notify.jwt.iat")
        self.assert_notify_refused(
            self.notify(token=jwt(self.ps.notify_service_id,
                                  str(uuid.uuid4()))),
            403, "AuthError", bad, "notify.jwt.signature")
        self.assert_notify_refused(
            self.notify(token=jwt(str(uuid.uuid4()), self.ps.notify_secret)),
            403, "AuthError", "Invalid token: service not found",
            "notify.jwt.iss")
        self.assert_notify_refused(
            self.notify(token=self.notify_token(payload={"iat": now})),
            403, "AuthError", "Invalid token: iss field not provided",
            "notify.jwt.iss")
        self.assert_notify_refused(
            self.notify(token=self.notify_token(
                header={"typ": "JWT", "alg": "none"}, sign=False)),
            403, "AuthError", "Invalid token: algorithm used is not HS256",
            "notify.jwt.alg")
        self.assert_notify_refused(
            self.notify(token=self.notify_token(
                header={"typ": "JWT", "alg": "HS256", "kid": "x"})),
            403, "AuthError", bad, "notify.jwt.header")
        good = self.notify_token()
        self.assert_notify_refused(
            self.notify(token=good + "="), 403, "AuthError", bad,
            "notify.jwt.format")
        self.assert_notify_refused(
            self.notify(token=good.rsplit(".", 1)[0]), 403, "AuthError", bad,
            "notify.jwt.format")
        self.assert_notify_refused(
            self.notify(token=False), 401, "AuthError",
            "Unauthorized: authentication token must be provided",
            "notify.auth.missing")
        st, _ = self.call("POST", "/v2/notifications/sms", b"{}", {
            "Authorization": "Basic " + self.ps.notify_api_key,
            "Content-Type": "application/json"})
        self.assertEqual((st, self.last()["verdict"]),
                         (401, "notify.auth.scheme"))

    def test_notify_body_rules(self):
        self.assert_notify_refused(
            self.notify(colour="blue"), 400, "ValidationError",
            "Additional properties are not allowed (colour was unexpected)",
            "notify.extra_key")
        self.assert_notify_refused(
            self.notify(reference=None), 400, "ValidationError",
            "reference is a required property", "notify.reference")
        for number, why in (("+12025550123", "Not a UK mobile number"),
                            ("01632 960001", "Not a UK mobile number"),
                            ("077009001112", "Too many digits"),
                            ("0770090011", "Not enough digits"),
                            ("07700 9OO111", "Must not contain letters or "
                             "symbols")):
            self.assert_notify_refused(
                self.notify(phone_number=number), 400, "ValidationError",
                "phone_number " + why, "notify.phone_number")
        self.assert_notify_refused(
            self.notify(template_id="bin-template"), 400, "ValidationError",
            "template_id is not a valid UUID", "notify.template_id")
        self.assert_notify_refused(
            self.notify(personalisation={"body": 5}), 400, "ValidationError",
            "personalisation must be an object of strings",
            "notify.personalisation")
        self.assert_notify_refused(
            self.notify(personalisation={}), 400, "BadRequestError",
            "Missing personalisation: body", "notify.personalisation")
        self.assert_notify_refused(
            self.notify(reference="x" * 1001), 400, "ValidationError",
            "reference is too long (1000 characters at most)",
            "notify.reference")
        pd = "reference must not contain personal data (a phone number or " \
            "an email address)"
        for ref in ("07700 900111", "+447700900111", "ann@example.org"):
            self.assert_notify_refused(
                self.notify(reference=ref), 400, "ValidationError", pd,
                "notify.reference.personal_data")
        self.assert_notify_refused(
            self.notify(sms_sender_id="GOVUK"), 400, "ValidationError",
            "sms_sender_id is not a valid UUID", "notify.sms_sender_id")
        self.assert_notify_refused(
            self.notify(personalisation={"body": "é" * 919}), 400,
            "BadRequestError", "Your message is too long. Text messages "
            "cannot be longer than 918 characters. Your message is 919 "
            "characters long.", "notify.too_long")
        self.assert_notify_refused(
            self.notify(ctype="text/plain"), 400, "BadRequestError",
            "Invalid JSON supplied in POST data", "notify.content_type")
        self.assert_notify_refused(
            self.notify(raw=b"{\"phone_number\":"), 400, "BadRequestError",
            "Invalid JSON supplied in POST data", "notify.json")
        # 918 characters are fine.
        self.assertEqual(self.notify(
            personalisation={"body": "é" * 918})[0], 201)

    def test_notify_lookups(self):
        ids = [self.notify(reference="outbox-7")[1]["id"] for _ in range(2)]
        self.notify(reference="outbox-8")
        st, body = self.notify_get("/v2/notifications?reference=outbox-7")
        self.assertEqual(st, 200, body)
        self.assertEqual([n["id"] for n in body["notifications"]],
                         list(reversed(ids)))
        n = body["notifications"][0]
        self.assertEqual((n["reference"], n["type"], n["status"], n["body"],
                          n["phone_number"]),
                         ("outbox-7", "sms", "sending",
                          "Your bin is collected", TO))
        self.assertIn("created_at", n)
        self.assertEqual(body["links"]["current"],
                         self.ps.url + "/v2/notifications?reference=outbox-7")
        st, body = self.notify_get("/v2/notifications?reference=none-such")
        self.assertEqual((st, body["notifications"]), (200, []))
        self.ps.set_status(ids[0], "delivered")
        st, body = self.notify_get("/v2/notifications/" + ids[0])
        self.assertEqual((st, body["id"], body["status"]),
                         (200, ids[0], "delivered"))
        self.assertEqual(self.last()["verdict"], "ok")
        st, body = self.notify_get("/v2/notifications/" + str(uuid.uuid4()))
        self.assertEqual((st, body), (404, {"status_code": 404, "errors": [
            {"error": "NoResultFound", "message": "No result found"}]}))
        self.assertEqual(self.last()["verdict"], "notify.not_found")
        # Lookups check the token as sending does.
        st, body = self.notify_get(
            "/v2/notifications?reference=outbox-7",
            token=self.notify_token(iat=int(time.time()) - 40))
        self.assertEqual((st, self.last()["verdict"]),
                         (403, "notify.jwt.iat"))

    # ------------------------------------------------------------ Twilio

    def test_twilio_accepts(self):
        st, body = self.twilio(
            [("To", TO), ("From", "+447700900222"), ("Body", "Hello & bye"),
             ("StatusCallback", "https://council.example/hooks/twilio/"
              "sms-status")])
        self.assertEqual(st, 201, body)
        self.assertRegex(body["sid"], r"^SM[0-9a-f]{32}$")
        self.assertEqual({k: body[k] for k in (
            "account_sid", "to", "from", "body", "status", "num_segments",
            "direction")}, {
            "account_sid": self.ps.twilio_sid, "to": TO,
            "from": "+447700900222", "body": "Hello & bye",
            "status": "queued", "num_segments": "1",
            "direction": "outbound-api"})
        self.assertEqual(body["uri"], "/2010-04-01/Accounts/%s/Messages/%s"
                         ".json" % (self.ps.twilio_sid, body["sid"]))
        self.assertIn("date_created", body)
        rec = self.last()
        self.assertEqual((rec["status"], rec["verdict"], rec["provider"]),
                         (201, "ok", "twilio"))
        self.assertEqual(rec["headers"]["content-type"],
                         "application/x-www-form-urlencoded")
        msgs = self.ps.messages()
        self.assertEqual(msgs[0]["id"], body["sid"])
        self.assertEqual((msgs[0]["to"], msgs[0]["from"], msgs[0]["body"],
                          msgs[0]["status_callback"]),
                         (TO, "+447700900222", "Hello & bye",
                          "https://council.example/hooks/twilio/sms-status"))
        mg = "MG" + "0" * 32
        st, body = self.twilio([("To", TO), ("MessagingServiceSid", mg),
                                ("Body", "x" * 1600)])
        self.assertEqual(st, 201, body)
        self.assertEqual(self.ps.messages()[1]["messaging_service_sid"], mg)
        self.assertEqual(self.twilio([("To", TO), ("From", "CouncilTax"),
                                      ("Body", "x")])[0], 201)

    def test_twilio_rules(self):
        body = ("Body", "hi")
        frm = ("From", "+447700900222")
        self.assert_twilio_refused(
            self.twilio(token="0" * 32), 401, 20003, "twilio.auth",
            "Authenticate")
        self.assert_twilio_refused(
            self.twilio(path_sid="AC" + "1" * 32), 401, 20003, "twilio.auth")
        self.assert_twilio_refused(
            self.twilio([("To", TO), frm, ("MessagingServiceSid",
                                           "MG" + "0" * 32), body]),
            400, 21603, "twilio.from")
        self.assert_twilio_refused(
            self.twilio([("To", TO), body]), 400, 21603, "twilio.from")
        self.assert_twilio_refused(
            self.twilio([("To", TO), frm, body, ("ProvideFeedback", "true")]),
            400, 20001, "twilio.unknown_field")
        self.assert_twilio_refused(
            self.twilio([("To", TO), frm, body, body]), 400, 20001,
            "twilio.duplicate_field")
        self.assert_twilio_refused(
            self.twilio([("To", TO), frm, ("Body", "x" * 1601)]), 400, 21617,
            "twilio.body",
            "The concatenated message body exceeds the 1600 character limit.")
        self.assert_twilio_refused(
            self.twilio([("To", TO), frm, ("Body", "")]), 400, 21602,
            "twilio.body", "Message body is required.")
        self.assert_twilio_refused(
            self.twilio([("To", "07700900111"), frm, body]), 400, 21211,
            "twilio.to", "The 'To' number 07700900111 is not a valid phone "
            "number.")
        self.assert_twilio_refused(
            self.twilio([frm, body]), 400, 21604, "twilio.to")
        self.assert_twilio_refused(
            self.twilio([("To", TO), ("From", "not a number!"), body]), 400,
            21212, "twilio.from")
        self.assert_twilio_refused(
            self.twilio([("To", TO), frm, body,
                         ("StatusCallback", "/hooks/twilio/sms-status")]),
            400, 21609, "twilio.status_callback")
        self.assert_twilio_refused(
            self.twilio(ctype="application/json"), 400, 21604,
            "twilio.content_type")
        st, _ = self.call("POST", "/2010-04-01/Accounts/%s/Messages.json"
                          % self.ps.twilio_sid, b"To=x")
        self.assertEqual((st, self.last()["verdict"]), (401, "twilio.auth"))

    # ------------------------------------------------------------ others

    def test_unknown_paths_and_plain_http(self):
        st, _ = self.call("GET", "/v1/notifications")
        rec = self.last()
        self.assertEqual((st, rec["status"], rec["verdict"], rec["provider"]),
                         (404, 404, "not_found", None))
        st, _ = self.call("POST", "/2010-04-01/Accounts/%s/Calls.json"
                          % self.ps.twilio_sid, b"")
        self.assertEqual((st, self.last()["verdict"]), (404, "not_found"))
        # The providers are HTTPS only; the control API is not.
        st, _ = self.call("POST", "/v2/notifications/sms", b"{}", {
            "Authorization": "Bearer " + self.notify_token(),
            "Content-Type": "application/json"}, tls=False)
        rec = self.last()
        self.assertEqual((st, rec["verdict"], rec["tls"]),
                         (400, "tls.required", False))
        st, got = self.call("GET", "/_control/requests", tls=False)
        self.assertEqual((st, len(got)), (200, 3))
        self.assertEqual(self.call("POST", "/_control/behave", b"[]")[0], 400)

    # ------------------------------------------------------------ scripting

    def test_scripted_statuses(self):
        notify = {400: "BadRequestError", 403: "AuthError",
                  429: "RateLimitError", 500: "Exception", 503: "Exception"}
        twilio = {400: 21610, 403: 20403, 429: 20429, 500: 20500,
                  503: 20503}
        self.ps.behave("07700 900111", [{"status": s} for s in notify])
        for s, error in notify.items():
            st, body = self.notify()
            self.assertEqual((st, body["status_code"],
                              body["errors"][0]["error"]), (s, s, error))
            rec = self.last()
            self.assertEqual((rec["status"], rec["verdict"], rec["step"]),
                             (s, "ok", {"status": s}))
        self.ps.behave(TO, [{"status": s} for s in twilio])
        for s, code in twilio.items():
            st, body = self.twilio()
            self.assertEqual((st, body["code"], body["status"]),
                             (s, code, s))
        self.assertEqual(self.ps.messages(), [])
        # Steps used up: normal again, for both.
        self.assertEqual(self.notify()[0], 201)
        self.assertEqual(self.twilio()[0], 201)
        # Only that number is scripted, and a refused request takes no step.
        self.ps.behave(TO, [{"status": 500}])
        self.assertEqual(self.notify(phone_number="07700900999")[0], 201)
        self.assertEqual(self.notify(token=self.notify_token(
            iat=int(time.time()) - 40))[0], 403)
        self.assertEqual(self.twilio()[0], 500)
        self.assertEqual(self.twilio()[0], 201)

    def test_scripted_delay(self):
        self.ps.behave(TO, [{"delay_ms": 700},
                            {"delay_ms": 700, "status": 503}])
        t0 = time.monotonic()
        st, body = self.notify()
        self.assertGreaterEqual(time.monotonic() - t0, 0.7)
        self.assertEqual(st, 201, body)
        t0 = time.monotonic()
        st, body = self.twilio()
        self.assertGreaterEqual(time.monotonic() - t0, 0.7)
        self.assertEqual((st, body["code"]), (503, 20503))
        self.assertEqual(len(self.ps.messages()), 1)
        # A client that gives up first sees a timeout.
        self.ps.behave(TO, [{"delay_ms": 3000}])
        with self.assertRaises(socket.timeout):
            self.notify_timeout(0.5)

    def notify_timeout(self, timeout):
        conn = http.client.HTTPSConnection("127.0.0.1", self.ps.port,
                                           timeout=timeout, context=self.ctx)
        try:
            conn.request("POST", "/v2/notifications/sms", json.dumps({
                "phone_number": TO, "template_id": TEMPLATE,
                "personalisation": {"body": "hi"},
                "reference": "outbox-9"}).encode(), {
                "Authorization": "Bearer " + self.notify_token(),
                "Content-Type": "application/json"})
            conn.getresponse().read()
        finally:
            conn.close()

    def test_accepted_yet_500(self):
        """Notify's ambiguous failure: the answer says 500, yet the text
        went, and the lookup by reference finds it."""
        self.ps.behave(TO, [{"accept": True, "status": 500}])
        st, body = self.notify(reference="outbox-77")
        self.assertEqual((st, body), (500, {"status_code": 500, "errors": [
            {"error": "Exception", "message": "Internal server error"}]}))
        st, found = self.notify_get("/v2/notifications?reference=outbox-77")
        self.assertEqual(len(found["notifications"]), 1)
        msgs = self.ps.messages()
        self.assertEqual((len(msgs), msgs[0]["id"], msgs[0]["reference"]),
                         (1, found["notifications"][0]["id"], "outbox-77"))
        self.ps.behave(TO, [{"accept": True, "status": 500}])
        st, body = self.twilio()
        self.assertEqual((st, body["code"]), (500, 20500))
        self.assertEqual(len(self.ps.messages()), 2)

    def test_accepted_then_hang(self):
        self.ps.behave(TO, [{"accept": True, "hang": True}])
        with self.assertRaises(socket.timeout):
            self.notify_timeout(1.0)
        msgs = self.ps.wait_messages(1, 5)
        self.assertEqual(msgs[0]["reference"], "outbox-9")
        rec = self.last()
        self.assertEqual((rec["status"], rec["verdict"], rec["step"]),
                         (None, "ok", {"accept": True, "hang": True}))
        st, found = self.notify_get("/v2/notifications?reference=outbox-9")
        self.assertEqual([n["id"] for n in found["notifications"]],
                         [msgs[0]["id"]])
        self.assertEqual(self.notify()[0], 201)

    # ------------------------------------------------------------ signing

    def test_twilio_signature_vectors(self):
        """twilio-python, tests/unit/test_request_validator.py."""
        url = "https://mycompany.com/myapp.php?foo=1&bar=2"
        params = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"),
                  ("From", "+14158675309"), ("To", "+18005551212"),
                  ("Caller", "+14158675309")]
        sig = harness.twilio_signature
        self.assertEqual(sig("12345", url, params),
                         "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        self.assertEqual(sig("12345", url, list(reversed(params))),
                         "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        self.assertNotEqual(sig("12346", url, params),
                            "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        dup = [("Sid", "CA123"), ("SidAccount", "AC123"),
               ("Digits", "5678"), ("Digits", "1234")]
        self.assertEqual(sig("12345", url, dup),
                         "IK+Dwps556ElfBT0I3Rgjkr1wJU=")
        self.assertEqual(sig("12345", url.replace(".com", ".com:443"),
                             params), "kvajT1Ptam85bY51eRf/AJRuM3w=")
        self.assertEqual(sig("12345", url.replace("https", "http").replace(
            ".com", ".com:80"), params), "0ZXoZLH/DfblKGATFgpif+LLRf4=")
        self.assertEqual(sig("12345", url.replace("https", "http").replace(
            ".com", ".com:1234"), params), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")
        body_hash = hashlib.sha256(
            b"{\"property\": \"value\", \"boolean\": true}").hexdigest()
        self.assertEqual(body_hash, "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b2"
                         "83a80c7cf19632632f96e6620")
        self.assertEqual(sig("12345", url + "&bodySHA256=" + body_hash, []),
                         "a9nBmqA0ju/hNViExpshrM61xv4=")

    def test_switchboard_signature(self):
        """Against openssl's HMAC, over "<ts>.<body>"."""
        body = b"{\"event\":\"ringing\",\"call_id\":\"c1\"}"
        out = subprocess.run(
            ["openssl", "dgst", "-sha256", "-hmac", "cti-secret", "-r"],
            input=b"1700000000." + body, stdout=subprocess.PIPE,
            check=True).stdout.split()[0].decode()
        self.assertEqual(harness.switchboard_signature(
            "cti-secret", 1700000000, body), "sha256=" + out)
        self.assertEqual(harness.switchboard_signature(
            b"cti-secret", "1700000000", body.decode()), "sha256=" + out)
        self.assertNotEqual(harness.switchboard_signature(
            "cti-secret", 1700000001, body), "sha256=" + out)


if __name__ == "__main__":
    harness.main()
