#!/usr/bin/env python3
"""A local OAuth 2.0 token endpoint for the email tests: the contract of a
client-credentials grant (RFC 6749 section 4.4) as Microsoft's identity
platform takes it, and token introspection (RFC 7662) as Dovecot's oauth2
passdb asks it (introspection_mode = post).

  oauth_server.py PORT CLIENT_ID CLIENT_SECRET LIFETIME_S USER

  POST /token       form: grant_type=client_credentials, client_id,
                    client_secret, scope (all required, nothing else
                    needed); answers {"access_token", "token_type":
                    "Bearer", "expires_in"} or an RFC 6749 error (400/401)
  POST /introspect  form: token; {"active": true, "username": USER} while
                    the token is issued, unexpired and not revoked
  POST /control/revoke   revokes every token issued so far
  POST /control/life/N   tokens issued from now on last N seconds
  GET  /control/stats    {"issued", "introspected", "refused"}

Prints "ready" on standard output once it listens on 127.0.0.1:PORT.
Loopback only; stops on SIGTERM.
"""
import json
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

PORT, CLIENT, SECRET, USER = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[5]
life = [int(sys.argv[4])]
lock = threading.Lock()
tokens = {}  # token -> expiry (monotonic)
stats = {"issued": 0, "introspected": 0, "refused": 0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def form(self):
        if self.headers.get("Content-Type", "").split(";")[0].strip() != \
                "application/x-www-form-urlencoded":
            return None
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n).decode("ascii", "replace")
        try:
            f = parse_qs(raw, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            return None
        if any(len(v) != 1 for v in f.values()):
            return None
        return {k: v[0] for k, v in f.items()}

    def refuse(self, code, error, why):
        with lock:
            stats["refused"] += 1
        self.answer(code, {"error": error, "error_description": why})

    def do_POST(self):
        if self.path == "/token":
            f = self.form()
            if f is None:
                return self.refuse(400, "invalid_request",
                                   "a form body is required")
            if f.get("grant_type") != "client_credentials":
                return self.refuse(400, "unsupported_grant_type",
                                   "only client_credentials")
            if f.get("client_id") != CLIENT or \
                    f.get("client_secret") != SECRET:
                return self.refuse(401, "invalid_client",
                                   "client authentication failed")
            if not f.get("scope"):
                return self.refuse(400, "invalid_scope", "scope is required")
            tok = "tok-" + secrets.token_urlsafe(24)
            with lock:
                tokens[tok] = time.monotonic() + life[0]
                stats["issued"] += 1
                secs = life[0]
            return self.answer(200, {"access_token": tok,
                                     "token_type": "Bearer",
                                     "expires_in": secs})
        if self.path == "/introspect":
            f = self.form() or {}
            with lock:
                stats["introspected"] += 1
                exp = tokens.get(f.get("token", ""))
                active = exp is not None and exp > time.monotonic()
            if active:
                return self.answer(200, {"active": True, "username": USER})
            return self.answer(200, {"active": False})
        if self.path.startswith("/control/life/"):
            with lock:
                life[0] = int(self.path.rsplit("/", 1)[1])
            return self.answer(200, {})
        if self.path == "/control/revoke":
            with lock:
                tokens.clear()
            return self.answer(200, {})
        self.answer(404, {"error": "not_found"})

    def do_GET(self):
        if self.path == "/control/stats":
            with lock:
                return self.answer(200, dict(stats))
        self.answer(404, {"error": "not_found"})


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(
    target=server.shutdown).start())
print("ready", flush=True)
server.serve_forever()
