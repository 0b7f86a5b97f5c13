#!/usr/bin/python3
"""Helpers of tests/bench/run-email (the email benchmark, docs/email.md
"Benchmark"). Debian's /usr/bin/python3, standard library only.

  bench_email.py mails DIR N TAG
      N realistic mails written straight into the Maildir DIR (DIR/new,
      unique names as Maildir requires): a few KB each; 60% plain text,
      25% multipart/alternative (text and HTML), 15% multipart/mixed with
      a small PDF attachment; ~0.6 N distinct senders (new customers and
      conversations, and some existing ones); 20% replies with In-Reply-To
      and References to an earlier mail of the same sender. Message-IDs
      are <TAG.I@...>. Prints "mails n=N bytes=B".
  bench_email.py smtp HOST PORT TLS SECONDS CONCURRENCY [CA USER PASSWORD]
      the SMTP sink's ceiling: CONCURRENCY client processes each send one
      message per connection (connect, EHLO, [AUTH], MAIL, RCPT, DATA,
      QUIT), as the daemon's sender does, for SECONDS. TLS is plain or
      smtps. Prints "smtp tls=.. sent=.. per_s=.. client_cpu=.." (client
      CPU in % of one core).
  bench_email.py cpu NAME=PID...
      one snapshot: "wall SECONDS", "machine TICKS" (busy, all cores) and
      "NAME TICKS" for each process with all its descendants (PID 0: 0).
  bench_email.py cpudiff BEFORE AFTER
      "name=PCT ..." CPU of each between two snapshots in % of one core,
      with machine= (everything, so others = machine - the rest) and
      capacity= (nproc * 100).
  bench_email.py sinkcheck SINKDIR ROWS
      ROWS: "id|message_id|status" lines of outbox rows (psql -tA). Each
      'sent' row's Message-ID must be at the sink exactly once, and none
      twice. Prints "sink rows_sent=.. once=.. missing=.. twice=.. other=..";
      exits 1 on a breach.
  bench_email.py seen DIR
      Maildir DIR's messages and how many lack \\Seen: "seen total=.. unseen=..".
"""

import json
import multiprocessing
import os
import random
import re
import resource
import smtplib
import ssl
import sys
import time

FIRST = ["Alice", "Bilal", "Chloe", "Dev", "Eilidh", "Femi", "Grace", "Harry",
         "Imran", "Jane", "Kofi", "Lucy", "Mohammed", "Niamh", "Oliver",
         "Priya", "Rhys", "Siobhan", "Tom", "Zainab"]
LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Khan", "Patel",
        "Evans", "Thomas", "Roberts", "Walker", "O'Neill", "Murray", "Hughes"]
DOMAINS = ["example.org", "example.net", "mail.example.com", "example.co.uk",
           "residents.example"]
TOPICS = [("Missed bin collection", "my green bin was not collected on Monday"),
          ("Council tax direct debit", "I would like to change the date of "
           "my council tax direct debit"),
          ("Pothole on Station Road", "there is a deep pothole outside "
           "number 42 which has damaged my tyre"),
          ("Housing repair", "the boiler in my flat has stopped working and "
           "we have no hot water"),
          ("Parking permit renewal", "my residents' parking permit runs out "
           "at the end of the month"),
          ("Freedom of information request", "please send me the number of "
           "fly-tipping reports in the last year, by ward"),
          ("Noise complaint", "the neighbours have played loud music every "
           "night this week until 3 am")]
FILLER = ("I have tried to call the contact centre twice this week but could "
          "not get through, so I am writing instead. Please let me know what "
          "happens next and when I can expect to hear back. I am at home most "
          "days, and I can send photographs if that would help. ")


def body_text(rng, topic, name):
    para = [("Dear Sir or Madam,"), "",
            "I am writing because %s." % topic[1], ""]
    for _ in range(rng.randint(3, 8)):
        para.append(FILLER)
        para.append("")
    para += ["Kind regards,", name, "%d %s Street" % (
        rng.randint(1, 200), rng.choice(LAST))]
    return "\r\n".join(para)


def wrap76(b64):
    return "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))


def mails(d, n, tag):
    import base64
    rng = random.Random(tag)
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    nsenders = max(1, int(n * 0.6))
    senders = []
    for i in range(nsenders):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        dom = rng.choice(DOMAINS)
        local = "%s.%s.%s%d" % (first.lower(), re.sub(r"\W", "", last.lower()),
                                tag.replace("_", "-"), i)
        senders.append(("%s %s" % (first, last), "%s@%s" % (local, dom)))
    sent_by = {}  # sender index -> [(msgid, subject)]
    total = 0
    now = int(time.time())
    pdf = bytes(rng.getrandbits(8) for _ in range(3000))
    for i in range(n):
        si = rng.randrange(nsenders)
        name, addr = senders[si]
        msgid = "%s.%d@%s" % (tag, i, addr.split("@")[1])
        topic = rng.choice(TOPICS)
        subject = topic[0]
        head = ['Return-Path: <%s>' % addr,
                'From: "%s" <%s>' % (name, addr),
                "To: Example Council <contact@example.gov.uk>",
                "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                          time.gmtime(now - n + i)),
                "Message-ID: <%s>" % msgid]
        prev = sent_by.get(si)
        if prev and rng.random() < 0.5:
            pid, psubj = prev[-1]
            subject = "Re: " + psubj
            head += ["In-Reply-To: <%s>" % pid, "References: <%s>" % pid]
        head += ["Subject: %s" % subject, "MIME-Version: 1.0"]
        text = body_text(rng, topic, name)
        kind = rng.random()
        if kind < 0.60:
            head += ["Content-Type: text/plain; charset=utf-8",
                     "Content-Transfer-Encoding: 8bit"]
            body = text
        elif kind < 0.85:
            b = "alt-%s-%d" % (tag, i)
            html = "<html><body>%s</body></html>" % "".join(
                "<p>%s</p>" % p for p in text.split("\r\n\r\n"))
            head.append('Content-Type: multipart/alternative; boundary="%s"' % b)
            body = "\r\n".join([
                "--" + b, "Content-Type: text/plain; charset=utf-8", "",
                text, "--" + b, "Content-Type: text/html; charset=utf-8", "",
                html, "--" + b + "--", ""])
        else:
            b = "mix-%s-%d" % (tag, i)
            head.append('Content-Type: multipart/mixed; boundary="%s"' % b)
            body = "\r\n".join([
                "--" + b, "Content-Type: text/plain; charset=utf-8", "",
                text, "--" + b,
                'Content-Type: application/pdf; name="photo-%d.pdf"' % i,
                'Content-Disposition: attachment; filename="photo-%d.pdf"' % i,
                "Content-Transfer-Encoding: base64", "",
                wrap76(base64.b64encode(pdf[:rng.randint(1000, 3000)])
                       .decode()),
                "--" + b + "--", ""])
        raw = ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()
        sent_by.setdefault(si, []).append((msgid, topic[0]))
        # Maildir: time.unique.host, written in tmp/ then moved to new/.
        fname = "%d.M%06dP%d.bench" % (now, i, os.getpid())
        tmp = os.path.join(d, "tmp", fname)
        with open(tmp, "wb") as f:
            f.write(raw)
        os.rename(tmp, os.path.join(d, "new", fname))
        total += len(raw)
    print("mails n=%d bytes=%d" % (n, total))


def smtp_worker(args):
    host, port, tls, deadline, ca, user, password, w = args
    ctx = None
    if tls == "smtps":
        ctx = ssl.create_default_context(cafile=ca)
    msg = ("From: contact@example.gov.uk\r\nTo: r@example.org\r\n"
           "Subject: ceiling\r\nMessage-ID: <ceiling.%d.%%d@example.gov.uk>"
           "\r\n\r\n%s\r\n" % (w, FILLER * 3))
    n = 0
    while time.monotonic() < deadline:
        if ctx is not None:
            s = smtplib.SMTP_SSL(host, port, context=ctx, timeout=10)
            s.login(user, password)
        else:
            s = smtplib.SMTP(host, port, timeout=10)
        s.sendmail("", ["resident%d@example.org" % w], msg % n)
        s.quit()
        n += 1
    return n


def smtp(host, port, tls, seconds, conc, ca=None, user=None, password=None):
    deadline = time.monotonic() + float(seconds)
    t0 = time.monotonic()
    with multiprocessing.Pool(int(conc)) as pool:
        counts = pool.map(smtp_worker, [
            (host, int(port), tls, deadline, ca, user, password, w)
            for w in range(int(conc))])
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime + me.ru_utime + me.ru_stime
    print("smtp tls=%s sent=%d per_s=%.0f client_cpu=%.0f" % (
        tls, sum(counts), sum(counts) / wall, 100 * cpu / wall))


def proc_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return 0
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def children():
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(p))
    return kids


def cpu(pairs):
    kids = children()
    print("wall %.3f" % time.monotonic())
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    print("machine %d" % (sum(v) - v[3] - v[4]))  # less idle and iowait
    for pair in pairs:
        name, pid = pair.split("=")
        stack, tot = [int(pid)] if int(pid) > 0 else [], 0
        while stack:
            p = stack.pop()
            tot += proc_ticks(p)
            stack += kids.get(p, [])
        print("%s %d" % (name, tot))


def cpudiff(a, b):
    def load(fn):
        with open(fn) as f:
            return dict((ln.split()[0], float(ln.split()[1])) for ln in f
                        if ln.strip())
    x, y = load(a), load(b)
    hz = os.sysconf("SC_CLK_TCK")
    wall = y["wall"] - x["wall"]
    out = []
    for k in y:
        if k == "wall":
            continue
        out.append("%s=%.0f" % (k, 100 * (y[k] - x.get(k, 0)) / hz / wall))
    out.append("capacity=%d" % (100 * os.cpu_count()))
    print(" ".join(out))


def sinkcheck(sinkdir, rows):
    got = {}
    for fn in os.listdir(sinkdir):
        if not fn.endswith(".json"):
            continue
        with open(os.path.join(sinkdir, fn)) as f:
            data = json.load(f)["data"]
        m = re.search(r"^Message-ID: <([^>]*)>", data, re.M | re.I)
        key = m.group(1) if m else ""
        got[key] = got.get(key, 0) + 1
    sent = once = missing = twice = 0
    ours = set()
    with open(rows) as f:
        for ln in f:
            ln = ln.strip()
            if not ln:
                continue
            _, mid, status = ln.split("|")
            ours.add(mid)
            if got.get(mid, 0) > 1:
                twice += 1
            if status != "sent":
                continue
            sent += 1
            if got.get(mid, 0) == 1:
                once += 1
            elif got.get(mid, 0) == 0:
                missing += 1
    other = sum(c for k, c in got.items() if k not in ours)
    print("sink rows_sent=%d once=%d missing=%d twice=%d other=%d" % (
        sent, once, missing, twice, other))
    return 1 if missing or twice else 0


def seen(d):
    total = unseen = 0
    for sub in ("new", "cur"):
        for fn in os.listdir(os.path.join(d, sub)):
            total += 1
            info = fn.split(":2,", 1)
            if sub == "new" or len(info) < 2 or "S" not in info[1]:
                unseen += 1
    print("seen total=%d unseen=%d" % (total, unseen))


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "mails" and len(argv) == 5:
        mails(argv[2], int(argv[3]), argv[4])
    elif cmd == "smtp" and len(argv) in (7, 10):
        smtp(*argv[2:])
    elif cmd == "cpu":
        cpu(argv[2:])
    elif cmd == "cpudiff" and len(argv) == 4:
        cpudiff(argv[2], argv[3])
    elif cmd == "sinkcheck" and len(argv) == 4:
        return sinkcheck(argv[2], argv[3])
    elif cmd == "seen" and len(argv) == 3:
        seen(argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
