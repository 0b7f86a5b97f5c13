#!/usr/bin/env python3
"""A supervisor watching the wallboard for a while (tests/bench/run-wallboard
starts everything): signs in, opens the desk socket, sends wallboard.watch
and counts the wallboards pushed and their size, while the daemon's and
PostgreSQL's CPU time is read from /proc before and after.

    bench_wallboard.py URL SECONDS DAEMON_PID   (login and password on stdin)
Prints key=value lines."""

import http.client
import json
import os
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402


def cpu_of(pids):
    """CPU seconds used so far by each process, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                parts = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(parts[11]) + int(parts[12])) / tick
        except OSError:
            pass
    return out


def cpu_s(pids):
    return cpu_of(pids)


def used(a, b):
    """CPU seconds between two readings, over the processes in both."""
    return sum(b[p] - a[p] for p in a if p in b)


def postgres_pids():
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/comm" % d) as f:
                    if f.read().strip() in ("postgres", "postmaster"):
                        out.append(int(d))
            except OSError:
                pass
    return out


def main():
    url, secs, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    login, password = sys.stdin.read().split()
    port = urllib.parse.urlsplit(url).port
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/api/session",
              body=json.dumps({"login": login, "password": password}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("sign-in answered %d" % r.status)
    cookie = r.getheader("set-cookie").split(";", 1)[0]
    c.close()
    ws = harness.WebSocket(port, "/ws", url, "switchboard.v1", 10,
                           {"Cookie": cookie})
    pg = postgres_pids()
    # Idle first: what the daemon and PostgreSQL cost with nobody watching.
    c0, p0, t0 = cpu_s([pid]), cpu_s(pg), time.monotonic()
    time.sleep(secs / 2)
    c1, p1, t1 = cpu_s([pid]), cpu_s(pg), time.monotonic()
    ws.send_text(json.dumps({"type": "wallboard.watch", "id": 1}))
    pushes, sizes, first = 0, [], None
    start = time.monotonic()
    while time.monotonic() - start < secs:
        try:
            op, payload = ws.recv_message(
                max(0.1, secs - (time.monotonic() - start)))
        except TimeoutError:
            continue  # unchanged boards are not pushed again
        m = json.loads(payload)
        if m.get("type") == "wallboard":
            pushes += 1
            sizes.append(len(payload))
            if first is None:
                first = time.monotonic() - start
                board = m["board"]
    c2, p2, t2 = cpu_s([pid]), cpu_s(pg), time.monotonic()
    ws.close()
    print("idle_daemon_cpu_pct=%.2f" % (100 * used(c0, c1) / (t1 - t0)))
    print("idle_pg_cpu_pct=%.2f" % (100 * used(p0, p1) / (t1 - t0)))
    print("watch_daemon_cpu_pct=%.2f" % (100 * used(c1, c2) / (t2 - t1)))
    print("watch_pg_cpu_pct=%.2f" % (100 * used(p1, p2) / (t2 - t1)))
    print("pushes=%d" % pushes)
    print("first_push_ms=%.0f" % (1000 * (first or 0)))
    print("push_bytes=%d" % (max(sizes) if sizes else 0))
    print("advisors_on_board=%d" % len(board["advisors"]))
    print("queues_on_board=%d" % len(board["queues"]))


if __name__ == "__main__":
    main()
