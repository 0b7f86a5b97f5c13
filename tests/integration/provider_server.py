#!/usr/bin/python3
"""A contract server standing in for GOV.UK Notify's and Twilio's REST APIs,
for the SMS channel's tests. It checks every outbound request exactly, the
way the providers do, and answers as they would.

  provider_server.py DIR PORT

DIR holds server.pem and server.key (contrib/lib.sh sb_test_ca DIR) and
config.json:

  {"notify": [{"service_id": "<uuid>", "secret": "<uuid>"}],
   "twilio": [{"account_sid": "AC...", "auth_token": "..."}],
   "notify_templates": {"<uuid>": "Council: ((body))"}}   (optional)

A template not named in notify_templates has the body "((body))".
Listens on 127.0.0.1:PORT, prints "ready" on stdout once it does, and stops
on SIGTERM. Standard library only (Debian 12's python3).

The provider APIs are HTTPS only. The control API (/_control/...) answers
over TLS or plain HTTP on the same port (the first byte tells them apart),
without authentication:

  POST /_control/behave    {"to": "+447700900111", "respond": [step, ...]}
                           the next well-formed requests sending to that
                           number (either provider; compared in E.164) take
                           the steps in order, then behave normally. Steps:
                           {"status": 500|429|400|403|503}  answered with the
                             provider's documented error body, nothing kept;
                           {"delay_ms": N}  wait, then answer (with "status"
                             or "accept" too: wait, then do that);
                           {"accept": true, "status": 500}  kept (found by
                             reference) yet answered 500;
                           {"accept": true, "hang": true}  kept, then no
                             answer at all until the client closes.
                           A request refused by a check takes no step.
  POST /_control/status    {"id": "<notification id>", "status": "delivered"}
                           changes the status a Notify lookup shows.
  GET  /_control/requests  every request so far, oldest first:
                           {"at", "method", "path", "query", "headers" (names
                           lower-cased), "body" (text), "status" (null while
                           hanging or unanswered), "verdict" ("ok", or the
                           rule that failed), "provider" ("notify", "twilio"
                           or null), "step" (the scripted step taken, or
                           null), "tls"}. "at" is Unix time in seconds.
  GET  /_control/messages  the messages accepted, oldest first: {"provider",
                           "id", "to" (E.164), "body", "reference" (Notify),
                           "from" (Twilio, or "messaging_service_sid"),
                           "status_callback" (Twilio, if given), "at"}.
  POST /_control/reset     forgets requests, messages and scripted steps.

Control requests are not recorded.
"""
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
CLOCK_SKEW = 30           # Notify: iat within 30 s of our clock
NOTIFY_SMS_MAX = 918      # Notify: characters after the template is filled
TWILIO_BODY_MAX = 1600
HANG_MAX = 300.0          # a hanging answer gives up after this long

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
ALNUM_SENDER_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MG_RE = re.compile(r"^MG[0-9a-f]{32}$")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE_LIKE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{8,}[0-9]$")
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")
PLACEHOLDER_RE = re.compile(r"\(\(([^()]+)\)\)")

NOTIFY_KEYS = {"phone_number", "template_id", "personalisation", "reference",
               "sms_sender_id"}
TWILIO_FIELDS = {"To", "From", "MessagingServiceSid", "Body",
                 "StatusCallback"}

# The providers' documented error bodies for scripted statuses.
NOTIFY_SCRIPTED = {
    400: ("BadRequestError",
          "Can't send to this recipient using a team-only API key"),
    403: ("AuthError", "Invalid token: signature, api token not found"),
    429: ("RateLimitError", "Exceeded rate limit for key type LIVE of 3000 "
          "requests per 60 seconds"),
    500: ("Exception", "Internal server error"),
    503: ("Exception", "Service temporarily unavailable"),
}
TWILIO_SCRIPTED = {
    400: (21610, "Attempt to send to unsubscribed recipient"),
    403: (20403, "Forbidden"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


class Refused(Exception):
    """A request that broke a rule: the provider's answer and the rule."""

    def __init__(self, status, body, verdict, headers=None):
        super().__init__(verdict)
        self.status = status
        self.body = body
        self.verdict = verdict
        self.headers = headers or {}


def notify_error(status, error, message, verdict):
    return Refused(status, {"status_code": status,
                            "errors": [{"error": error,
                                        "message": message}]}, verdict)


def twilio_error(status, code, message, verdict, headers=None):
    return Refused(status, {"code": code, "message": message,
                            "more_info": "https://www.twilio.com/docs/"
                            "errors/%d" % code, "status": status},
                   verdict, headers)


def uk_mobile(raw):
    """Notify's reading of a UK mobile number: E.164, or a Refused."""
    s = re.sub(r"[\s().-]", "", raw)
    if s.startswith("+"):
        s = s[1:]
    if not s.isdigit():
        raise notify_error(400, "ValidationError", "phone_number Must not "
                           "contain letters or symbols", "notify.phone_number")
    for prefix in ("0044", "44", "0"):
        if s.startswith(prefix):
            s = s[len(prefix):]
            break
    if s.startswith("0"):       # +44 (0)7700 ...
        s = s[1:]
    if not s.startswith("7"):
        raise notify_error(400, "ValidationError", "phone_number Not a UK "
                           "mobile number", "notify.phone_number")
    if len(s) > 10:
        raise notify_error(400, "ValidationError", "phone_number Too many "
                           "digits", "notify.phone_number")
    if len(s) < 10:
        raise notify_error(400, "ValidationError", "phone_number Not enough "
                           "digits", "notify.phone_number")
    return "+44" + s


def e164(number):
    """`number` in E.164 for matching scripted steps (UK national forms
    read as +44), or the input unchanged."""
    if not isinstance(number, str):
        return number
    try:
        return uk_mobile(number)
    except Refused:
        s = re.sub(r"[\s().-]", "", number)
        if s.startswith("00"):
            s = "+" + s[2:]
        return s


def b64url_decode(part):
    if not B64URL_RE.match(part) or len(part) % 4 == 1:
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class State:
    def __init__(self, config):
        self.lock = threading.Lock()
        self.notify = {s["service_id"]: s["secret"]
                       for s in config.get("notify", [])}
        self.twilio = {a["account_sid"]: a["auth_token"]
                       for a in config.get("twilio", [])}
        self.templates = dict(config.get("notify_templates", {}))
        self.generation = 0
        self.reset()

    def reset(self):
        with self.lock:
            self.generation += 1      # requests from before keep nothing
            self.requests = []
            self.messages = []
            self.notifications = {}   # id -> Notify notification object
            self.scripts = {}         # E.164 -> [step, ...]

    def keep(self, generation, fn):
        """Runs fn() (which stores a message) under the lock unless a reset
        came since the request arrived; True if it ran."""
        with self.lock:
            if generation != self.generation:
                return False
            fn()
            return True

    def take_step(self, to):
        with self.lock:
            steps = self.scripts.get(e164(to))
            if not steps:
                return None
            step = steps.pop(0)
            if not steps:
                del self.scripts[e164(to)]
            return step


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "provider-contract-server"
    timeout = 60

    def log_message(self, fmt, *args):
        pass

    # ------------------------------------------------------------ plumbing

    @property
    def state(self):
        return self.server.state

    def base(self):
        return "https://127.0.0.1:%d" % self.server.server_address[1]

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                line = self.rfile.readline(1024)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline(16)
                if len(out) > MAX_BODY:
                    raise ValueError("body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def answer(self, status, obj, headers=None, ctype="application/json"):
        data = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:             # the client gave up first
            self.close_connection = True

    def hang(self):
        """No answer: hold the connection until the client closes it."""
        self.close_connection = True
        sock = self.connection
        deadline = time.monotonic() + HANG_MAX
        while time.monotonic() < deadline and not self.server.stopping:
            sock.settimeout(0.5)
            try:
                if not sock.recv(4096):
                    return
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:
                return

    # ------------------------------------------------------------ dispatch

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            self.answer(413, {"error": "body too large"})
            return
        if url.path.startswith("/_control/"):
            self.control(method, url, body)
            return
        rec = {"at": time.time(), "method": method, "path": url.path,
               "query": url.query,
               "headers": {}, "body": body.decode("utf-8", "replace"),
               "status": None, "verdict": None, "provider": None,
               "step": None, "tls": isinstance(self.connection, ssl.SSLSocket)}
        for k, v in self.headers.items():
            k = k.lower()
            rec["headers"][k] = (rec["headers"][k] + ", " + v
                                 if k in rec["headers"] else v)
        with self.state.lock:
            self.state.requests.append(rec)
            self.generation = self.state.generation
        route = self.route(method, url.path)
        if route is None:
            rec["verdict"] = "not_found"
            self.finish_record(rec, 404, {"error": "not found",
                                          "path": url.path})
            return
        rec["provider"], fn, args = route
        if not rec["tls"]:
            rec["verdict"] = "tls.required"
            self.finish_record(rec, 400, {"error": "plain HTTP: this API "
                                          "is HTTPS only"})
            return
        try:
            fn(rec, url, body, *args)
        except Refused as r:
            rec["verdict"] = r.verdict
            self.finish_record(rec, r.status, r.body, r.headers)

    def finish_record(self, rec, status, obj, headers=None):
        with self.state.lock:
            rec["status"] = status
        self.answer(status, obj, headers)

    def route(self, method, path):
        if method == "POST" and path == "/v2/notifications/sms":
            return "notify", self.notify_send, ()
        if method == "GET" and path == "/v2/notifications":
            return "notify", self.notify_list, ()
        m = re.match(r"^/v2/notifications/([^/]+)$", path)
        if method == "GET" and m:
            return "notify", self.notify_get, (m.group(1),)
        m = re.match(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$", path)
        if method == "POST" and m:
            return "twilio", self.twilio_send, (m.group(1),)
        return None

    # ------------------------------------------------------------ steps

    def scripted(self, rec, to, keep, refuse):
        """Applies the next scripted step for `to`. keep() stores the
        message and returns the 201 body; refuse(status) the provider's
        error body. Returns after answering."""
        step = self.state.take_step(to)
        rec["step"] = step
        rec["verdict"] = "ok"
        if step is None:
            self.finish_record(rec, 201, keep())
            return
        if step.get("delay_ms"):
            time.sleep(min(float(step["delay_ms"]), 600000.0) / 1000.0)
        if step.get("accept"):
            obj = keep()
            if step.get("hang"):
                self.hang()
                return
            status = int(step.get("status", 201))
            self.finish_record(rec, status,
                               obj if status < 300 else refuse(status))
            return
        status = step.get("status")
        if status is None:
            self.finish_record(rec, 201, keep())
            return
        self.finish_record(rec, int(status), refuse(int(status)))

    # ------------------------------------------------------------ Notify

    def notify_auth(self):
        """The service id of a valid Notify bearer JWT, or a Refused."""
        auth = self.headers.get("Authorization")
        if not auth:
            raise notify_error(401, "AuthError", "Unauthorized: "
                               "authentication token must be provided",
                               "notify.auth.missing")
        if auth[:7].title() != "Bearer ":
            raise notify_error(401, "AuthError", "Unauthorized: "
                               "authentication bearer scheme must be used",
                               "notify.auth.scheme")
        token = auth[7:]
        bad = ("Invalid token: signature, api token not found")
        parts = token.split(".")
        if len(parts) != 3:
            raise notify_error(403, "AuthError", bad, "notify.jwt.format")
        try:
            header = json.loads(b64url_decode(parts[0]))
            payload = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise notify_error(403, "AuthError", bad, "notify.jwt.format")
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise notify_error(403, "AuthError", bad, "notify.jwt.format")
        if header.get("alg") != "HS256":
            raise notify_error(403, "AuthError", "Invalid token: algorithm "
                               "used is not HS256", "notify.jwt.alg")
        if header != {"typ": "JWT", "alg": "HS256"}:
            raise notify_error(403, "AuthError", bad, "notify.jwt.header")
        iss = payload.get("iss")
        if not isinstance(iss, str):
            raise notify_error(403, "AuthError", "Invalid token: iss field "
                               "not provided", "notify.jwt.iss")
        secret = self.state.notify.get(iss)
        if secret is None:
            raise notify_error(403, "AuthError", "Invalid token: service "
                               "not found", "notify.jwt.iss")
        want = hmac.new(secret.encode(), (parts[0] + "." + parts[1]).encode(),
                        hashlib.sha256).digest()
        if not hmac.compare_digest(want, sig):
            raise notify_error(403, "AuthError", bad, "notify.jwt.signature")
        iat = payload.get("iat")
        if type(iat) is not int:
            raise notify_error(403, "AuthError", "Invalid token: iat field "
                               "not provided", "notify.jwt.iat")
        if abs(time.time() - iat) > CLOCK_SKEW:
            raise notify_error(403, "AuthError", "Error: Your system clock "
                               "must be accurate to within 30 seconds",
                               "notify.jwt.iat")
        return iss

    def notify_send(self, rec, url, body):
        service = self.notify_auth()
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise notify_error(400, "BadRequestError", "Invalid JSON "
                               "supplied in POST data", "notify.content_type")
        try:
            req = json.loads(body)
        except ValueError:
            raise notify_error(400, "BadRequestError", "Invalid JSON "
                               "supplied in POST data", "notify.json")
        if not isinstance(req, dict):
            raise notify_error(400, "ValidationError", "%s is not of type "
                               "object" % json.dumps(req), "notify.json")
        extra = sorted(set(req) - NOTIFY_KEYS)
        if extra:
            raise notify_error(400, "ValidationError", "Additional "
                               "properties are not allowed (%s %s unexpected)"
                               % (", ".join(extra),
                                  "was" if len(extra) == 1 else "were"),
                               "notify.extra_key")
        for key in ("phone_number", "template_id", "personalisation",
                    "reference"):
            if key not in req:
                raise notify_error(400, "ValidationError", "%s is a required "
                                   "property" % key, "notify.%s" % key)
        for key in ("phone_number", "template_id", "reference"):
            if not isinstance(req[key], str):
                raise notify_error(400, "ValidationError", "%s %s is not of "
                                   "type string" % (key, json.dumps(req[key])),
                                   "notify.%s" % key)
        to = uk_mobile(req["phone_number"])
        if not UUID_RE.match(req["template_id"]):
            raise notify_error(400, "ValidationError", "template_id is not "
                               "a valid UUID", "notify.template_id")
        pers = req["personalisation"]
        if not isinstance(pers, dict) or \
                not all(isinstance(v, str) for v in pers.values()):
            raise notify_error(400, "ValidationError", "personalisation "
                               "must be an object of strings",
                               "notify.personalisation")
        ref = req["reference"]
        if len(ref) > 1000:
            raise notify_error(400, "ValidationError", "reference is too "
                               "long (1000 characters at most)",
                               "notify.reference")
        if EMAIL_RE.search(ref) or PHONE_LIKE_RE.match(ref.strip()):
            raise notify_error(400, "ValidationError", "reference must not "
                               "contain personal data (a phone number or an "
                               "email address)",
                               "notify.reference.personal_data")
        if "sms_sender_id" in req and (
                not isinstance(req["sms_sender_id"], str) or
                not UUID_RE.match(req["sms_sender_id"])):
            raise notify_error(400, "ValidationError", "sms_sender_id is not "
                               "a valid UUID", "notify.sms_sender_id")
        template = self.state.templates.get(req["template_id"], "((body))")
        missing = [n for n in PLACEHOLDER_RE.findall(template)
                   if n not in pers]
        if missing:
            raise notify_error(400, "BadRequestError", "Missing "
                               "personalisation: %s" % ", ".join(missing),
                               "notify.personalisation")
        text = PLACEHOLDER_RE.sub(lambda m: pers[m.group(1)], template)
        if len(text) > NOTIFY_SMS_MAX:
            raise notify_error(400, "BadRequestError", "Your message is too "
                               "long. Text messages cannot be longer than "
                               "%d characters. Your message is %d characters "
                               "long." % (NOTIFY_SMS_MAX, len(text)),
                               "notify.too_long")

        def keep():
            nid = str(uuid.uuid4())
            now = time.time()
            turi = "%s/v2/template/%s" % (self.base(), req["template_id"])
            note = {"id": nid, "reference": ref, "phone_number":
                    req["phone_number"], "email_address": None,
                    "type": "sms", "status": "sending",
                    "template": {"id": req["template_id"], "version": 1,
                                 "uri": turi},
                    "body": text, "subject": None,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                                                time.gmtime(now)),
                    "created_by_name": None, "sent_at": None,
                    "completed_at": None, "scheduled_for": None,
                    "postage": None, "one_click_unsubscribe_url": None}

            def store():
                self.state.notifications[nid] = (service, note)
                self.state.messages.append(
                    {"provider": "notify", "id": nid, "to": to, "body": text,
                     "reference": ref, "template_id": req["template_id"],
                     "at": now})
            self.state.keep(self.generation, store)
            return {"id": nid, "reference": ref,
                    "content": {"body": text, "from_number": "GOVUK"},
                    "uri": "%s/v2/notifications/%s" % (self.base(), nid),
                    "template": {"id": req["template_id"], "version": 1,
                                 "uri": turi}}

        def refuse(status):
            error, message = NOTIFY_SCRIPTED.get(
                status, ("Exception", "Internal server error"))
            return {"status_code": status,
                    "errors": [{"error": error, "message": message}]}

        self.scripted(rec, to, keep, refuse)

    def notify_list(self, rec, url, body):
        service = self.notify_auth()
        q = urllib.parse.parse_qs(url.query)
        ref = q.get("reference", [None])[0]
        with self.state.lock:
            found = [dict(n) for s, n in self.state.notifications.values()
                     if s == service and (ref is None or
                                          n["reference"] == ref)]
        found.reverse()     # newest first, as Notify lists them
        rec["verdict"] = "ok"
        self.finish_record(rec, 200, {
            "notifications": found,
            "links": {"current": "%s/v2/notifications%s" % (
                self.base(), "?" + url.query if url.query else "")}})

    def notify_get(self, rec, url, body, nid):
        service = self.notify_auth()
        if not UUID_RE.match(nid):
            raise notify_error(400, "ValidationError", "notification_id is "
                               "not a valid UUID", "notify.notification_id")
        with self.state.lock:
            got = self.state.notifications.get(nid)
            got = dict(got[1]) if got and got[0] == service else None
        if got is None:
            raise notify_error(404, "NoResultFound", "No result found",
                               "notify.not_found")
        rec["verdict"] = "ok"
        self.finish_record(rec, 200, got)

    # ------------------------------------------------------------ Twilio

    def twilio_send(self, rec, url, body, account):
        auth = self.headers.get("Authorization", "")
        sid = token = None
        if auth[:6].lower() == "basic ":
            try:
                sid, _, token = base64.b64decode(
                    auth[6:].strip(), validate=True).decode().partition(":")
            except (ValueError, binascii.Error, UnicodeDecodeError):
                sid = None
        want = self.state.twilio.get(account)
        if sid != account or want is None or token is None or \
                not hmac.compare_digest(want.encode(), token.encode()):
            raise twilio_error(401, 20003, "Authenticate", "twilio.auth",
                               {"WWW-Authenticate":
                                'Basic realm="Twilio API"'})
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != \
                "application/x-www-form-urlencoded":
            raise twilio_error(400, 21604, "A 'To' phone number is "
                               "required.", "twilio.content_type")
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"),
                                           keep_blank_values=True,
                                           strict_parsing=bool(body))
        except (ValueError, UnicodeDecodeError):
            raise twilio_error(400, 21604, "A 'To' phone number is "
                               "required.", "twilio.form")
        names = [n for n, _ in pairs]
        unknown = sorted(set(names) - TWILIO_FIELDS)
        if unknown:
            raise twilio_error(400, 20001, "Unknown parameter: %s"
                               % ", ".join(unknown), "twilio.unknown_field")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise twilio_error(400, 20001, "Parameter given twice: %s"
                               % ", ".join(twice), "twilio.duplicate_field")
        f = dict(pairs)
        if "To" not in f:
            raise twilio_error(400, 21604, "A 'To' phone number is "
                               "required.", "twilio.to")
        if not E164_RE.match(f["To"]):
            raise twilio_error(400, 21211, "The 'To' number %s is not a "
                               "valid phone number." % f["To"], "twilio.to")
        if ("From" in f) == ("MessagingServiceSid" in f):
            raise twilio_error(400, 21603, "A 'From' or "
                               "'MessagingServiceSid' parameter is required "
                               "to send a message (exactly one of them).",
                               "twilio.from")
        if "From" in f and not (E164_RE.match(f["From"]) or
                                ALNUM_SENDER_RE.match(f["From"])):
            raise twilio_error(400, 21212, "The 'From' number %s is not a "
                               "valid phone number, shortcode, or "
                               "alphanumeric sender ID." % f["From"],
                               "twilio.from")
        if "MessagingServiceSid" in f and \
                not MG_RE.match(f["MessagingServiceSid"]):
            raise twilio_error(400, 21701, "The Messaging Service Sid %s is "
                               "invalid." % f["MessagingServiceSid"],
                               "twilio.from")
        text = f.get("Body", "")
        if not text:
            raise twilio_error(400, 21602, "Message body is required.",
                               "twilio.body")
        if len(text) > TWILIO_BODY_MAX:
            raise twilio_error(400, 21617, "The concatenated message body "
                               "exceeds the 1600 character limit.",
                               "twilio.body")
        cb = f.get("StatusCallback")
        if cb is not None:
            u = urllib.parse.urlsplit(cb)
            if u.scheme not in ("http", "https") or not u.hostname:
                raise twilio_error(400, 21609, "The StatusCallback URL %s is "
                                   "not a valid URL." % cb,
                                   "twilio.status_callback")

        def keep():
            msid = "SM" + secrets.token_hex(16)
            now = time.time()
            date = time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                 time.gmtime(now))
            msg = {"provider": "twilio", "id": msid, "to": f["To"],
                   "body": text, "at": now}
            if "From" in f:
                msg["from"] = f["From"]
            else:
                msg["messaging_service_sid"] = f["MessagingServiceSid"]
            if cb is not None:
                msg["status_callback"] = cb
            self.state.keep(self.generation,
                            lambda: self.state.messages.append(msg))
            return {"sid": msid, "account_sid": account, "to": f["To"],
                    "from": f.get("From"),
                    "messaging_service_sid": f.get("MessagingServiceSid"),
                    "body": text, "status": "queued", "num_segments": "1",
                    "num_media": "0", "direction": "outbound-api",
                    "api_version": "2010-04-01", "price": None,
                    "price_unit": "USD", "error_code": None,
                    "error_message": None, "date_created": date,
                    "date_updated": date, "date_sent": None,
                    "uri": "/2010-04-01/Accounts/%s/Messages/%s.json"
                    % (account, msid),
                    "subresource_uris": {
                        "media": "/2010-04-01/Accounts/%s/Messages/%s/"
                        "Media.json" % (account, msid)}}

        def refuse(status):
            code, message = TWILIO_SCRIPTED.get(
                status, (20500, "Internal Server Error"))
            return {"code": code, "message": message,
                    "more_info": "https://www.twilio.com/docs/errors/%d"
                    % code, "status": status}

        self.scripted(rec, f["To"], keep, refuse)

    # ------------------------------------------------------------ control

    def control(self, method, url, body):
        st = self.state
        path = url.path
        if method == "GET" and path == "/_control/requests":
            with st.lock:
                out = json.loads(json.dumps(st.requests))
            self.answer(200, out)
        elif method == "GET" and path == "/_control/messages":
            with st.lock:
                out = json.loads(json.dumps(st.messages))
            self.answer(200, out)
        elif method == "POST" and path == "/_control/reset":
            st.reset()
            self.answer(200, {"ok": True})
        elif method == "POST" and path == "/_control/behave":
            try:
                req = json.loads(body)
                to, steps = req["to"], req["respond"]
                if not isinstance(to, str) or not isinstance(steps, list) or \
                        not all(isinstance(s, dict) for s in steps):
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                self.answer(400, {"error": "want {\"to\": \"+44...\", "
                                  "\"respond\": [step, ...]}"})
                return
            with st.lock:
                st.scripts.setdefault(e164(to), []).extend(steps)
            self.answer(200, {"ok": True})
        elif method == "POST" and path == "/_control/status":
            try:
                req = json.loads(body)
                nid, status = req["id"], req["status"]
            except (ValueError, KeyError, TypeError):
                self.answer(400, {"error": "want {\"id\", \"status\"}"})
                return
            with st.lock:
                got = st.notifications.get(nid)
                if got is not None:
                    got[1]["status"] = status
            self.answer(200 if got else 404, {"ok": got is not None})
        else:
            self.answer(404, {"error": "no such control"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    stopping = False

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # not a client gone
            super().handle_error(request, client_address)

    def finish_request(self, request, client_address):
        """TLS when the client's first byte is a handshake record, plain
        HTTP otherwise (for the control API)."""
        request.settimeout(30)
        try:
            first = request.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first == b"\x16":
            try:
                request = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            try:
                self.RequestHandlerClass(request, client_address, self)
            finally:
                try:
                    request.close()
                except OSError:
                    pass
            return
        self.RequestHandlerClass(request, client_address, self)


def main():
    d, port = sys.argv[1], int(sys.argv[2])
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(d, "server.pem"),
                        os.path.join(d, "server.key"))
    srv = Server(("127.0.0.1", port), Handler)
    srv.ctx = ctx
    srv.state = State(config)

    def stop(signum, frame):
        srv.stopping = True
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()


if __name__ == "__main__":
    main()
