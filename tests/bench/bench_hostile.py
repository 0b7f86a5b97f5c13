#!/usr/bin/env python3
"""What 1,000 hostile widget sockets that never read can make one daemon
hold (tests/bench/run-hostile starts everything; docs/operations.md,
"Hostile clients"). A benchmark: it reports, it does not pass or fail.

    bench_hostile.py URL ORIGIN DAEMON_PID CONNECTIONS MESSAGE_MAX [BIG]

Every socket is a resident's widget (switchboard.chat.v1 from ORIGIN) with
a 4 KiB receive buffer, and after its hello it reads nothing more. In turn:
  1. floor: CONNECTIONS idle sockets; the daemon's VmRSS before and after;
     then closed, and the daemon's WebSocket gauge awaited back at 0;
  2. hostile: CONNECTIONS sockets, each sending, without reading a byte:
     BIG (90) pings whose id is 60 KB (the pongs once echoed it: 3.2 MiB
     a socket), 5 with the longest id still echoed (128 bytes of JSON),
     all within the rate limit's burst, then a message of MESSAGE_MAX - 1
     bytes announced and not finished (the daemon gathers it), written as
     far as the daemon reads them;
     the daemon's VmRSS after, which sockets it closed and why (/metrics);
  3. all closed: VmRSS once more.
Prints key=value lines."""

import base64
import hashlib
import json
import os
import re
import selectors
import socket
import sys
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from test_hostile import masked as frame  # noqa: E402

PROTO = "switchboard.chat.v1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metrics(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        return r.read().decode()


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\d+)$" % (re.escape(name), re.escape(labels)),
                  text, re.M)
    return int(m.group(1)) if m else 0


def ws_open(host, port, origin):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connecting, so that the window it advertises is small.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16))
    s.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\nOrigin: %s\r\n"
               "Sec-WebSocket-Protocol: %s\r\n\r\n"
               % (host, port, key.decode(), origin, PROTO)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("closed in the handshake")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    want = base64.b64encode(hashlib.sha1(key + GUID).digest())
    if b" 101 " not in head.split(b"\r\n")[0] or want not in head:
        raise OSError("handshake refused: %r" % head[:80])
    # The hello: one text frame.
    while len(rest) < 2 or len(rest) < 2 + (rest[1] & 0x7f):
        rest += s.recv(4096)
    if b'"hello"' not in rest:
        raise OSError("no hello: %r" % rest[:80])
    s.setblocking(False)
    return s


def pump(socks, data, stall_s=10.0):
    """Writes data to every socket, as far as each takes it: until all is
    written, or nothing more goes anywhere for stall_s (the daemon stops
    reading a socket it cannot write to, or closed it). Returns
    (bytes written, sockets the daemon closed)."""
    left = {s.fileno(): [s, memoryview(data)] for s in socks}
    sel = selectors.DefaultSelector()
    for fd, (s, _) in left.items():
        sel.register(s, selectors.EVENT_WRITE)
    written, closed = 0, 0
    last = time.monotonic()
    while left and time.monotonic() - last < stall_s:
        for key, _ in sel.select(timeout=0.2):
            s, buf = left[key.fd]
            try:
                n = s.send(buf[:1 << 20])
            except BlockingIOError:
                continue
            except OSError:
                n, closed = -1, closed + 1
            if n > 0:
                written += n
                last = time.monotonic()
                left[key.fd][1] = buf = buf[n:]
            if n < 0 or len(buf) == 0:
                sel.unregister(s)
                del left[key.fd]
    sel.close()
    return written, closed


def open_many(host, port, origin, n):
    socks, refused = [], 0
    for _ in range(n):
        try:
            socks.append(ws_open(host, port, origin))
        except OSError:
            refused += 1
    return socks, refused


def wait_gauge(url, value, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        g = metric(metrics(url), "switchboard_connections_open",
                   '{kind="websocket"}')
        if g == value:
            return True
        time.sleep(0.2)
    return False


def main():
    url, origin, pid, n, message_max = sys.argv[1:6]
    pid, n, message_max = int(pid), int(n), int(message_max)
    big_pings = int(sys.argv[6]) if len(sys.argv) > 6 else 90
    u = urllib.parse.urlparse(url)
    host, port = u.hostname, u.port

    # Warm-up: one-time allocations are not counted.
    warm, _ = open_many(host, port, origin, 100)
    for s in warm:
        s.close()
    wait_gauge(url, 0)
    time.sleep(1)

    # 1. The floor: idle sockets.
    before = rss_kib(pid)
    t0 = time.monotonic()
    idle, refused = open_many(host, port, origin, n)
    time.sleep(3)
    after = rss_kib(pid)
    print("floor sockets=%d refused=%d open_s=%.1f rss_before_kib=%d "
          "rss_after_kib=%d bytes_per_socket=%.0f"
          % (len(idle), refused, time.monotonic() - t0, before, after,
             (after - before) * 1024 / max(1, len(idle))))
    for s in idle:
        s.close()
    wait_gauge(url, 0)
    time.sleep(2)

    # 2. Hostile sockets.
    m0 = metrics(url)
    before = rss_kib(pid)
    t0 = time.monotonic()
    socks, refused = open_many(host, port, origin, n)
    big = frame(0x1, json.dumps({"type": "ping",
                                 "id": "x" * 60000}).encode())
    small = frame(0x1, json.dumps({"type": "ping",
                                   "id": "y" * 126}).encode())
    # A message announced and left unfinished: the daemon gathers it.
    partial = frame(0x1, b'{"type":"ping","id":"' +
                    b"z" * (message_max - 40), length=message_max - 1)
    # Within the rate limit's burst (100 messages by default): 90 pings
    # whose pongs once echoed 60 KB each, 5 small ones, the partial one.
    sent, gone = pump(socks, big * big_pings + small * 5 + partial)
    time.sleep(5)
    after = rss_kib(pid)
    m1 = metrics(url)
    still = metric(m1, "switchboard_connections_open", '{kind="websocket"}')

    def delta(labels):
        return (metric(m1, "switchboard_websockets_refused_total", labels) -
                metric(m0, "switchboard_websockets_refused_total", labels))
    print("hostile sockets=%d refused=%d send_s=%.1f sent_mib=%.1f "
          "write_refused=%d "
          "rss_before_kib=%d rss_after_kib=%d bytes_per_socket=%.0f "
          "still_open=%d closed_send_queue=%d closed_too_big=%d "
          "closed_protocol=%d closed_rate_limit=%d"
          % (len(socks), refused, time.monotonic() - t0, sent / 1048576,
             gone, before, after, (after - before) * 1024 / max(1, len(socks)),
             still, delta('{reason="send_queue"}'),
             delta('{reason="too_big"}'), delta('{reason="protocol"}'),
             delta('{reason="rate_limit"}')))
    for s in socks:
        s.close()
    wait_gauge(url, 0)
    time.sleep(2)
    print("closed rss_kib=%d" % rss_kib(pid))


if __name__ == "__main__":
    main()
