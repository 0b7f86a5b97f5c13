#!/usr/bin/python3
"""A real SMTP server (aiosmtpd, Debian's python3-aiosmtpd) for the email
tests, on loopback ports, recording what it accepts:

  smtp_server.py OUTDIR CERT KEY USER PASSWORD TOKEN PORT_SMTPS PORT_STARTTLS PORT_PLAIN

  PORT_SMTPS     implicit TLS; AUTH PLAIN, LOGIN and XOAUTH2 (USER with
                 PASSWORD, or with the bearer TOKEN) required
  PORT_STARTTLS  STARTTLS required before anything else; the same AUTH
  PORT_PLAIN     no TLS, no AUTH: a local relay
  RCPT reject@... is refused for good (550 5.1.1), later@... for now
  (451 4.3.0). Each message taken is written to OUTDIR/N.json:
  {"port", "mail_from", "rcpt_tos", "login", "data"}.

Prints "ready" once every port listens; stops on SIGTERM. Loopback only.
Runs with Debian's /usr/bin/python3, where python3-aiosmtpd is installed.
"""
import base64
import itertools
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

OUT, CERT, KEY, USER, PASSWORD, TOKEN = sys.argv[1:7]
P_SMTPS, P_STARTTLS, P_PLAIN = (int(x) for x in sys.argv[7:10])
counter = itertools.count(1)
lock = threading.Lock()


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and \
        auth_data.login == USER.encode() and \
        auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, auth_data=auth_data)


class Handler:
    def __init__(self, port):
        self.port = port

    async def auth_XOAUTH2(self, server, args):
        if len(args) >= 2:
            try:
                raw = base64.b64decode(args[1], validate=True).decode()
            except Exception:
                return AuthResult(success=False, handled=False)
        else:
            got = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(got, bytes):
                return AuthResult(success=False, handled=False)
            raw = got.decode("utf-8", "replace")
        fields = dict(p.split("=", 1) for p in raw.split("\x01") if "=" in p)
        ok = fields.get("user") == USER and \
            fields.get("auth") == "Bearer " + TOKEN
        return AuthResult(success=ok, handled=False,
                          auth_data=LoginPassword(USER.encode(), b"token"))

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("reject@"):
            return "550 5.1.1 no such user here"
        if address.startswith("later@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        rec = {"port": self.port, "mail_from": envelope.mail_from,
               "rcpt_tos": envelope.rcpt_tos,
               "login": login.decode() if isinstance(login, bytes) else login,
               "data": envelope.original_content.decode("utf-8", "replace")}
        with lock:
            tmp = os.path.join(OUT, "%d.tmp" % n)
            with open(tmp, "w") as f:
                json.dump(rec, f)
            os.rename(tmp, os.path.join(OUT, "%d.json" % n))
        return "250 2.0.0 Ok: queued as %d" % n


tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(CERT, KEY)
common = dict(hostname="127.0.0.1", authenticator=authenticator)
servers = [
    Controller(Handler(P_SMTPS), port=P_SMTPS, ssl_context=tls,
               auth_required=True, auth_require_tls=False, **common),
    Controller(Handler(P_STARTTLS), port=P_STARTTLS, tls_context=tls,
               require_starttls=True, auth_required=True, **common),
    Controller(Handler(P_PLAIN), port=P_PLAIN, hostname="127.0.0.1"),
]
for s in servers:
    s.start()
print("ready", flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
stop.wait()
for s in servers:
    s.stop()
