#!/usr/bin/env python3
"""Desk REST latency against a running daemon (tests/bench/run-timeline
starts everything): a customer's timeline (first page, every page in
turn), as a supervisor (every conversation) and as an advisor (their
queues'), and a conversation's thread. One client, one request at a time,
on one kept-alive connection (a new one when the server closes it); the
latency is the client's, from writing the request to the whole answer.

    bench_timeline.py URL CUSTOMER CONVERSATION N  (logins and passwords on
    stdin: "sup PASSWORD" then "adv PASSWORD")
Prints one line per measure: name n p50 p99 p99.9 max (ms)."""

import http.client
import json
import sys
import time
import urllib.parse


class Client:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None
        self.cookie = ""

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=10)
            h = {"Cookie": self.cookie} if self.cookie else {}
            h.update(headers or {})
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def sign_in(self, login, password):
        r, body = self.request(
            "POST", "/api/session",
            body=json.dumps({"login": login, "password": password}),
            headers={"Content-Type": "application/json"})
        if r.status != 200:
            sys.exit("sign-in as %s answered %d %s" % (login, r.status, body))
        self.cookie = r.getheader("set-cookie").split(";", 1)[0]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def timed(client, path, n, check):
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        r, body = client.request("GET", path)
        lat.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            sys.exit("%s answered %d %s" % (path, r.status, body[:200]))
        check(json.loads(body))
    return lat


def report(name, lat):
    print("%s %d %.2f %.2f %.2f %.2f" % (name, len(lat), pct(lat, 0.5),
                                        pct(lat, 0.99), pct(lat, 0.999),
                                        max(lat)), flush=True)


def main():
    url, customer, conv, n = sys.argv[1], sys.argv[2], sys.argv[3], \
        int(sys.argv[4])
    creds = [line.split() for line in sys.stdin.read().splitlines()]
    sup, adv = Client(url), Client(url)
    sup.sign_in(*creds[0])
    adv.sign_in(*creds[1])
    first = "/api/customers/%s/timeline?limit=20" % customer

    def page_of_20(items):
        if len(items) != 20:
            sys.exit("a first page of %d items" % len(items))
        if any(not (t["wrap_up"] or {}).get("outcome_label")
               for t in items):
            sys.exit("a contact without its wrap-up")

    timed(sup, first, 200, page_of_20)  # warm-up
    report("timeline_first_page_supervisor", timed(sup, first, n,
                                                   page_of_20))
    report("timeline_first_page_advisor", timed(adv, first, n, page_of_20))
    # Every page in turn, as a desk scrolling back through the history.
    lat, pages, total = [], 0, 0
    while len(lat) < n:
        before = None
        while True:
            path = first + ("&before=%s" % before if before else "")
            t0 = time.perf_counter()
            r, body = sup.request("GET", path)
            lat.append((time.perf_counter() - t0) * 1000)
            items = json.loads(body)
            if r.status != 200:
                sys.exit("%s answered %d" % (path, r.status))
            pages += 1
            total += len(items)
            if len(items) < 20:
                break
            before = items[-1]["conversation"]
    report("timeline_every_page", lat)
    print("pages %d items %d" % (pages, total), flush=True)
    report("thread_20_messages", timed(
        sup, "/api/conversations/%s/messages" % conv, n,
        lambda t: len(t["messages"]) == 20 or sys.exit("not 20 messages")))
    report("customer_record", timed(
        sup, "/api/customers/%s" % customer, n,
        lambda c: c["conversations"] == 500 or sys.exit("not 500")))


if __name__ == "__main__":
    main()
