#!/usr/bin/env python3
"""test_no_router_in_channels.py: channels call into the core, never into
the router (issue 14: arrows point channels -> core -> store/router). A
channel asks the waiting core (gateway/core/waiting.h) about a contact in
a queue, ingest to route a new conversation, the conversation core to end
one. Fails on any file under channels/ that includes a header of router/
or names a router type or function (route_*, struct route) outside its
comments and strings, save the exceptions listed below with their
reasons. An exception that no longer matches fails too, so that it is
removed once its reason is gone.
"""
import os
import re
import sys

SRC = os.environ.get("SWITCHBOARD_SRC",
                     os.path.join(os.path.dirname(__file__), "..", "..", ".."))
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
# route_anything, or struct route itself; not gw_http_route_add.
NAME = re.compile(r"(?<![A-Za-z0-9_])(route_[A-Za-z0-9_]*|struct\s+route\b)")
# (file, what) -> why. `what` is a header ("route.h") or a name. Empty:
# since chat's ends and desk side moved into the conversation core, no
# channel needs one.
ALLOWED = {}


def code_only(text):
    """text with its comments and string literals blanked out."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def router_headers():
    return {f for f in os.listdir(os.path.join(SRC, "router"))
            if f.endswith(".h")}


def offences(path, text, headers):
    """[(what, line number, line)] of one file."""
    found = []
    for m in INCLUDE.finditer(text):
        if os.path.basename(m.group(1)) in headers:
            no = text.count("\n", 0, m.start()) + 1
            found.append((os.path.basename(m.group(1)), no,
                          m.group(0).strip()))
    code = code_only(text)
    lines = text.splitlines()
    for no, line in enumerate(code.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for m in NAME.finditer(line):
            what = re.sub(r"\s+", " ", m.group(1))
            found.append((what, no, lines[no - 1].strip()))
    return found


def main():
    headers = router_headers()
    bad, used = [], set()
    for root, _, files in os.walk(os.path.join(SRC, "channels")):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            full = os.path.join(root, f)
            rel = os.path.relpath(full, SRC).replace(os.sep, "/")
            with open(full, encoding="utf-8") as fh:
                for what, no, line in offences(rel, fh.read(), headers):
                    if (rel, what) in ALLOWED:
                        used.add((rel, what))
                    else:
                        bad.append("%s:%d: %s (%s)" % (rel, no, line, what))
    # The checker itself must catch what it is for, and only that.
    hs = {"route.h", "route_policy.h"}
    assert offences("x.c", '#include "route_policy.h"\n', hs)
    assert offences("x.c", "n = route_positions(r, q);\n", hs)
    assert offences("x.c", "struct route *r;\n", hs)
    assert not offences("x.c", "gw_http_route_add(h, &r);\n", hs)
    assert not offences("x.c", "/* route_end is the core's */\n", hs)
    assert not offences("x.c", 'log("chat.route_end_later");\n', hs)
    assert not offences("x.c", '#include "waiting.h"\nstruct routes;\n', hs)
    for b in bad:
        print(b)
    stale = sorted(set(ALLOWED) - used)
    for s in stale:
        print("stale exception (remove it from ALLOWED): %s %s" % s)
    if bad:
        print("channels call the router: ask the core (waiting.h, "
              "ingest.h, conversation.h) instead")
    if bad or stale:
        return 1
    print("ok: channels/ include no router header and call no route_*")
    return 0


if __name__ == "__main__":
    sys.exit(main())
