#!/usr/bin/env python3
"""test_no_channel_names.py: the HTTP server and the configuration loader
name no channel (issue 14, item 6). Channels register their routes,
WebSocket subprotocols and configuration sections (gateway/http/http.h,
gateway/base/config.h); a channel's name in these files means a channel
was wired in by hand. Fails on any line naming one, words such as
"format" aside, save the exceptions listed below with their reasons.
"""
import os
import re
import sys

SRC = os.environ.get("SWITCHBOARD_SRC",
                     os.path.join(os.path.dirname(__file__), "..", "..", ".."))
FILES = ["gateway/http/http.c", "gateway/base/config.c"]
NAMES = re.compile(r"chat|e-?mail|sms|voice|form|twilio|webhook", re.I)
# Words that hold a name without meaning a channel.
WORDS = re.compile(r"format|malformed|inform|platform|transform|uniform|"
                   r"perform", re.I)
# Exact fragments allowed, each with its reason.
ALLOWED = {
    # The CSP directive of every response (RFC: form-action), not a channel.
    "form-action": "gateway/http/http.c",
    # The default of widget_dir: the repository folder of the residents'
    # static client (served at /widget/ by http_files.c), not a channel.
    '"web-chat-widget"': "gateway/base/config.c",
}


def offending(path, text):
    bad = []
    for no, line in enumerate(text.splitlines(), 1):
        rest = line
        for frag, where in ALLOWED.items():
            if path == where:
                rest = rest.replace(frag, "")
        rest = WORDS.sub("", rest)
        if NAMES.search(rest):
            bad.append("%s:%d: %s" % (path, no, line.strip()))
    return bad


def main():
    bad = []
    for f in FILES:
        with open(os.path.join(SRC, f), encoding="utf-8") as fh:
            bad += offending(f, fh.read())
    # The checker itself must catch a name.
    assert offending("gateway/http/http.c", "x = chat_handler;\n")
    assert offending("gateway/base/config.c", 'CFG_SEC("sms", o, 0)\n')
    assert not offending("gateway/base/config.c", "log_format\n")
    for b in bad:
        print(b)
    if bad:
        print("channel names in core files: register them instead")
        return 1
    print("ok: %s name no channel" % ", ".join(FILES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
