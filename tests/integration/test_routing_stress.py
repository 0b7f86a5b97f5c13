"""Routing under churn, checked afterwards from PostgreSQL.

Three daemons share one Redis and one PostgreSQL. 50 advisors with mixed
chat capacities serve 4 queues from desks on random instances; 1,000
residents start chats on random instances as the widget does
(switchboard.chat.v1 with a client_id; after a drop they resume with their
token elsewhere, or send the same start again when chat.started never
came). Advisors accept, reject or ignore offers at random, release what
they took after a while, and some drop their desk and come back (before
or after the grace period). Meanwhile Redis is flushed (FLUSHALL), then
restarted, then one daemon is killed with SIGKILL; its desks and residents
reconnect elsewhere.

Afterwards every routing event is replayed from conversation_events in
version order (versions order all decisions of an epoch, and epochs
order rebuilds), with no exception for lost history, checking that no
conversation was ever offered or assigned to two advisors at once, that
no advisor ever held more than their capacity, that no conversation
waited while an advisor was free for it (refusals hold only for the
cool-down), and that every conversation was answered."""

import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ADVISORS = 50
QUEUES = 4
CONVERSATIONS = int(os.environ.get("STRESS_CONVERSATIONS", "1000"))
START_SECONDS = 40
GRACE = 2
OFFER_TIMEOUT = 5
DEADLINE = int(os.environ.get("STRESS_DEADLINE", "240"))
COOLDOWN = 8  # queue_channels.refusal_cooldown_s
WRAP_UP = 1   # queue_channels.wrap_up_s
WIDGET = "https://www.council.example"


class Stop(Exception):
    pass


class Advisor(threading.Thread):
    def __init__(self, run, login, password):
        super().__init__(daemon=True)
        self.run_ = run
        self.login = login
        self.password = password
        self.rng = random.Random(hash(login))
        self.ws = None
        self.held = {}  # conversation -> release time
        self.status_due = None  # when to (re)send desk.status
        self.errors = []
        self.reconnects = 0

    def connect(self):
        while not self.run_.stopping:
            sb = self.rng.choice(self.run_.alive())
            try:
                r = sb.request("POST", "/api/session", headers={
                    "Content-Type": "application/json"},
                    body=json.dumps({"login": self.login,
                                     "password": self.password}).encode())
                if r.status != 200:
                    time.sleep(0.5)
                    continue
                cookie = r.headers["set-cookie"].split(";", 1)[0]
                self.ws = sb.websocket(headers={"Cookie": cookie},
                                       timeout=10)
                # A desk speaks once its session is checked (desk.ready);
                # desk.conversations follows, handled by step().
                while True:
                    op, payload = self.ws.recv_message(10)
                    if op == 8:
                        raise EOFError("closed by server")
                    if json.loads(payload).get("type") == "desk.ready":
                        break
                self.status_due = time.monotonic()
                return
            except (OSError, harness.WebSocketError, EOFError):
                time.sleep(0.3)

    def send(self, **msg):
        self.ws.send_text(json.dumps(msg))

    def step(self):
        rs, _, _ = selectors.select.select([self.ws.sock], [], [], 0.1) \
            if not self.ws.buf else ([1], None, None)
        now = time.monotonic()
        if self.status_due is not None and self.status_due <= now:
            self.status_due = None
            self.send(type="desk.status", status="available", id="status")
        for conv, at in list(self.held.items()):
            if at <= now:
                self.send(type="conversation.release", conversation=conv,
                          why="closed")
                del self.held[conv]
        if not rs:
            return
        op, payload = self.ws.recv_message(10)
        if op == 8:
            raise EOFError("closed by server")
        m = json.loads(payload)
        t = m.get("type")
        if t == "offer":
            self.answer(m["conversation"])
        elif t == "desk.conversations":
            # What this advisor holds now: on opening the desk, and after
            # a rebuild (which may have changed it).
            for c in m["conversations"]:
                if c["state"] == "offered":
                    self.answer(c["conversation"])
                elif c["conversation"] not in self.held:
                    self.held[c["conversation"]] = now + \
                        self.rng.uniform(0.2, 1.5)
        elif t == "conversation.assigned":
            self.held[m["conversation"]] = now + self.rng.uniform(0.2, 1.5)
        elif t == "error" and m.get("id") == "status":
            # Routing unavailable (a rebuild): announce again shortly.
            self.status_due = now + 0.3
        elif t == "conversation.removed":
            self.held.pop(m["conversation"], None)
        elif t == "desk.status" and m.get("status") in ("away", "offline"):
            self.send(type="desk.status", status="available")
        elif t == "error" and m.get("code") not in (
                "not_offered", "forbidden", "unavailable", "not_ready"):
            self.errors.append(m)

    def answer(self, conv):
        roll = self.rng.random()
        if roll < 0.75:
            self.send(type="offer.accept", conversation=conv)
        elif roll < 0.90:
            self.send(type="offer.reject", conversation=conv)
        # else: ignore it; it times out

    def run(self):
        self.connect()
        while not self.run_.stopping:
            try:
                if self.rng.random() < 0.002:  # about once in 50 s
                    self.ws.close()
                    self.held.clear()
                    time.sleep(self.rng.uniform(0.5, GRACE + 1.5))
                    self.reconnects += 1
                    self.connect()
                    continue
                self.step()
            except (OSError, EOFError, ValueError, harness.WebSocketError):
                self.held.clear()
                try:
                    self.ws.close()
                except OSError:
                    pass
                time.sleep(0.2)
                self.reconnects += 1
                self.connect()
        # Done: let go of everything still held.
        try:
            for conv in list(self.held):
                self.send(type="conversation.release", conversation=conv,
                          why="closed")
            time.sleep(0.5)
            self.ws.close()
        except OSError:
            pass


def frames(buf):
    """The complete frames at the head of buf (a server's frames are not
    masked): ([(opcode, payload), ...], the rest of buf)."""
    out = []
    while len(buf) >= 2:
        n, i = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, i = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, i = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < i + n:
            break
        out.append((buf[0] & 0x0F, buf[i:i + n]))
        buf = buf[i + n:]
    return out, buf


class Residents(threading.Thread):
    """Residents chat as the widget does (switchboard.chat.v1).

    Each sends chat.start with a client_id once the server said hello.
    When its socket drops, it connects again to another instance after
    0.5 s doubling (with jitter, as web-chat-widget/conn.js does): with its
    resume token it sends chat.resume (the chat goes on there); without
    one (chat.started never came: the instance died before or after it
    committed the start) it sends the same chat.start, same client_id,
    which is answered with the same conversation if there was one. It
    answers pings, reads every message, and stops when the chat ends."""

    def __init__(self, run):
        super().__init__(daemon=True)
        self.run_ = run
        self.sel = selectors.DefaultSelector()
        self.rng = random.Random(7)
        self.started = 0   # residents who sent chat.start (once each)
        self.confirmed = 0  # residents who got chat.started
        self.ended = 0     # residents told chat.ended
        self.retried = []  # (resident, port) dropped before chat.started
        self.resumed = []  # (resident, port) dropped after it, resumed
        self.closed = []   # residents told the chat is closed (unserved)
        self.errors = []   # error answers other than "try again"
        self.due = []      # (when, resident, "open" or "hello")
        self.unavailable = 0  # answers "try again", tried again
        self.socks = []

    def open(self, r):
        """Connects resident r to a random live instance."""
        while not self.run_.stopping:
            sb = self.rng.choice(self.run_.alive())
            try:
                ws = sb.websocket(origin=WIDGET,
                                  protocol="switchboard.chat.v1", timeout=10)
            except (OSError, harness.WebSocketError):
                time.sleep(0.05)
                continue
            ws.sock.setblocking(False)
            r["ws"], r["port"], r["buf"] = ws, sb.port, b""
            self.sel.register(ws.sock, selectors.EVENT_READ, r)
            self.socks.append(ws)
            # Frames that came with the handshake's answer (the hello).
            self.received(r, ws.buf)
            ws.buf = b""
            return

    def send(self, r, **msg):
        try:
            r["ws"].sock.setblocking(True)
            r["ws"].send_text(json.dumps(msg))
            r["ws"].sock.setblocking(False)
        except OSError:
            pass  # it dropped: found when reading

    def dropped(self, r):
        self.sel.unregister(r["ws"].sock)
        r["ws"].close()
        if r["done"]:
            return
        (self.resumed if r["token"] else self.retried).append(
            (r["name"], r["port"]))
        base = min(15.0, 0.5 * 2 ** r["drops"])
        r["drops"] += 1
        self.due.append((time.monotonic() + base / 2 +
                         self.rng.random() * base / 2, r, "open"))

    def handle(self, r, m):
        t = m.get("type")
        if t == "hello" or t == "again":
            if r["token"]:
                self.send(r, type="chat.resume", token=r["token"],
                          after=0)
            else:
                self.send(r, type="chat.start", id=1, queue=r["queue"],
                          name=r["name"], client_id=r["client_id"])
        elif t == "chat.started":
            r["token"], r["conv"], r["drops"] = m["token"], \
                m["conversation"], 0
            if not r["started"]:
                r["started"] = True
                self.confirmed += 1
        elif t == "chat.resumed":
            r["drops"] = 0
            if m.get("state") == "ended":
                self.finish(r)
        elif t == "chat.ended":
            self.finish(r)
        elif t == "chat.closed":
            self.closed.append(r["name"])
            r["done"] = True
        elif t == "error":
            if m.get("code") == "unavailable":
                # The start or resume could not be done now: again soon.
                self.unavailable += 1
                self.due.append((time.monotonic() + 1, r, "hello"))
            else:
                self.errors.append((r["name"], m))

    def received(self, r, data):
        got, r["buf"] = frames(r["buf"] + data)
        for op, payload in got:
            if op == 0x9:
                self.pong(r, payload)
            elif op == 0x8:
                self.dropped(r)
                break
            elif op == 0x1:
                self.handle(r, json.loads(payload))

    def pong(self, r, payload):
        try:
            r["ws"].sock.setblocking(True)
            r["ws"].send_frame(0xA, payload)
            r["ws"].sock.setblocking(False)
        except OSError:
            pass

    def finish(self, r):
        if not r["done"]:
            r["done"] = True
            self.ended += 1

    def run(self):
        t0 = time.monotonic()
        while not self.run_.stopping:
            due = min(CONVERSATIONS,
                      int((time.monotonic() - t0) / START_SECONDS *
                          CONVERSATIONS) + 1)
            while self.started < due and not self.run_.stopping:
                r = {"queue": "q%d" % self.rng.randint(1, QUEUES),
                     "name": "Resident %d" % self.started,
                     "client_id": str(uuid.UUID(
                         int=self.rng.getrandbits(128), version=4)),
                     "token": None, "conv": None, "started": False,
                     "done": False, "drops": 0}
                self.open(r)
                self.started += 1
            now = time.monotonic()
            for d in [d for d in self.due if d[0] <= now]:
                self.due.remove(d)
                if d[2] == "open":
                    self.open(d[1])
                elif not d[1]["done"]:
                    self.handle(d[1], {"type": "again"})
            for key, _ in self.sel.select(0.05):
                r = key.data
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.dropped(r)
                    continue
                self.received(r, data)
        for ws in self.socks:
            ws.close()


class RoutingStressTest(harness.TestCase):
    def alive(self):
        return [sb for sb in self.sbs if sb.running()]

    def test_churn(self):
        self.pg = harness.Postgres()
        self.redis = harness.Redis()
        self.db = self.pg.createdb()
        self.stopping = False
        over = {"router": {"grace_period": GRACE, "sweep_interval_ms": 100,
                           "max_missed_offers": 3},
                "log_level": "notice", "widget_origins": [WIDGET]}
        self.sbs = [harness.Switchboard(self.pg, self.redis, over,
                                        dbname=self.db, start=False)
                    for _ in range(3)]
        r = harness.run_switchboard(["-c", self.sbs[0].conf, "migrate"])
        self.assertEqual(r.returncode, 0, r.stderr)
        rng = random.Random(1)
        sql = []
        for q in range(1, QUEUES + 1):
            sql.append("INSERT INTO queues (id, slug, name) VALUES "
                       "(%d, 'q%d', 'Queue %d');" % (q, q, q))
            sql.append("INSERT INTO queue_channels (queue_id, channel, "
                       "answer_target_s, offer_timeout_s, "
                       "refusal_cooldown_s, wrap_up_s) VALUES "
                       "(%d, 'chat', 60, %d, %d, %d);" % (
                           q, OFFER_TIMEOUT, COOLDOWN, WRAP_UP))
        self.pg.psql("".join(sql), dbname=self.db)
        r = harness.run_switchboard(["-c", self.sbs[0].conf, "user", "add",
                                     "--role", "advisor", "adv0"])
        self.assertEqual(r.returncode, 0, r.stderr)
        password = r.stdout.strip().split("=", 1)[1]
        sql = ["INSERT INTO staff_users (login, display_name, password_hash,"
               " role) SELECT 'adv' || g, 'Adv ' || g, (SELECT password_hash"
               " FROM staff_users WHERE login = 'adv0'), 'advisor' FROM "
               "generate_series(1, %d) g;" % (ADVISORS - 1)]
        for a in range(ADVISORS):
            for q in rng.sample(range(1, QUEUES + 1), rng.randint(1, 3)):
                sql.append("INSERT INTO queue_members (staff_id, queue_id, "
                           "proficiency) SELECT id, %d, %d FROM staff_users "
                           "WHERE login = 'adv%d';" % (q, rng.randint(1, 10),
                                                       a))
            sql.append("INSERT INTO staff_capacity (staff_id, channel, "
                       "capacity) SELECT id, 'chat', %d FROM staff_users "
                       "WHERE login = 'adv%d';" % (rng.randint(1, 3), a))
        self.pg.psql("".join(sql), dbname=self.db)
        for sb in self.sbs:
            sb.start()
        for sb in self.sbs:
            sb.wait_ready()

        advisors = [Advisor(self, "adv%d" % a, password)
                    for a in range(ADVISORS)]
        for a in advisors:
            a.start()
        # Residents come once the advisors are signed in, as when a
        # council opens.
        harness.wait_for(lambda: self.pg.psql(
            "SELECT count(DISTINCT staff_id) FROM staff_status_events "
            "WHERE status = 'available'", dbname=self.db).strip() ==
            str(ADVISORS), 60, what="every advisor available")
        residents = Residents(self)
        residents.start()

        t0 = time.monotonic()
        chaos = [(12, "flushall"), (24, "restart redis"), (36, "kill")]
        while chaos:
            at, what = chaos[0]
            if time.monotonic() - t0 < at:
                time.sleep(0.2)
                continue
            chaos.pop(0)
            if what == "flushall":
                self.redis.cli("FLUSHALL")
            elif what == "restart redis":
                self.redis.stop()
                time.sleep(1)
                self.redis.start()
            else:
                self.sbs[2].kill()

        def settled():
            if residents.confirmed < CONVERSATIONS:
                return False
            left = self.pg.psql(
                "SELECT count(*) FROM conversations WHERE status IN "
                "('open', 'waiting', 'offered')", dbname=self.db).strip()
            return left == "0"
        try:
            harness.wait_for(settled, DEADLINE - (time.monotonic() - t0),
                             interval=1, what="every conversation answered")
        finally:
            sys.stderr.write("residents started %d confirmed %d ended %d "
                             "unavailable %d; dropped before chat.started "
                             "%r; resumed %d (%r)\n" % (
                                 residents.started, residents.confirmed,
                                 residents.ended, residents.unavailable,
                                 residents.retried, len(residents.resumed),
                                 sorted(set(p for _, p in
                                            residents.resumed))))
            sys.stderr.write(self.pg.psql(
                "SELECT status, count(*) FROM conversations GROUP BY 1",
                dbname=self.db))
            for sb in self.sbs:
                sys.stderr.write("daemon %d: exit %r\n%s\n" % (
                    sb.port, sb.proc.poll(), sb.log_tail(15)))
            if not settled():
                self.dump_unanswered()
        self.stopping = True
        for a in advisors:
            a.join(10)
        residents.join(10)

        errors = [e for a in advisors for e in a.errors]
        self.assertEqual(errors, [])
        self.assertEqual(residents.errors, [])
        self.assertEqual(residents.closed, [])
        # Only the killed instance may drop a resident's socket (who then
        # starts again with the same client_id, or resumes elsewhere).
        self.assertEqual([r for r in residents.retried + residents.resumed
                          if r[1] != self.sbs[2].port], [])
        self.check_invariants()
        for sb in self.sbs[:2]:
            sb.assert_alive()

    def dump_unanswered(self):
        """What PostgreSQL and Redis say about conversations still
        waiting: their events, their Redis hash and queue, and the state
        of every advisor serving that queue."""
        epoch = self.redis.cli("GET", "sb:epoch")
        p = "sb:%s:" % epoch
        sys.stderr.write("redis epoch %s\n" % epoch)
        for line in self.pg.psql(
                "SELECT id, queue_id, status FROM conversations WHERE "
                "status IN ('open', 'waiting', 'offered') ORDER BY id "
                "LIMIT 5", dbname=self.db).split("\n"):
            if not line.strip():
                continue
            conv, q, st = line.split("|")
            sys.stderr.write("--- conversation %s queue %s status %s\n%s\n"
                             % (conv, q, st, self.pg.psql(
                                 "SELECT id, kind, staff_id, route_version "
                                 ">> 32, route_version & 4294967295, "
                                 "detail, at FROM "
                                 "conversation_events WHERE "
                                 "conversation_id = %s ORDER BY id" % conv,
                                 dbname=self.db)))
            for key in ("c:%s" % conv, "c:%s:x" % conv):
                sys.stderr.write("%s%s: %s\n" % (p, key, self.redis.cli(
                    "--no-raw", "EVAL", "local t = redis.call('TYPE', "
                    "KEYS[1]).ok if t == 'hash' then return redis.call("
                    "'HGETALL', KEYS[1]) elseif t == 'set' then return "
                    "redis.call('SMEMBERS', KEYS[1]) end return t", "1",
                    p + key)))
            for key in ("q:%s:w" % q, "q:%s:r:chat" % q):
                sys.stderr.write("%s%s: %s\n" % (p, key, self.redis.cli(
                    "ZRANGE", p + key, "0", "-1", "WITHSCORES")))
            sys.stderr.write("offers: %s\n" % self.redis.cli(
                "ZRANGE", p + "offers", "0", "-1", "WITHSCORES"))
            for sid in self.pg.psql(
                    "SELECT staff_id FROM queue_members WHERE queue_id = %s"
                    % q, dbname=self.db).split():
                sys.stderr.write("advisor %s: %s | %s\n" % (
                    sid, self.redis.cli("HGETALL", "%sa:%s" % (p, sid)),
                    self.redis.cli("SMEMBERS", "%sa:%s:c" % (p, sid))))

    def check_invariants(self):
        caps = {}
        for line in self.pg.psql(
                "SELECT u.id, coalesce(c.capacity, 3) FROM staff_users u "
                "LEFT JOIN staff_capacity c ON c.staff_id = u.id AND "
                "c.channel = 'chat'", dbname=self.db).split("\n"):
            if line.strip():
                sid, cap = line.split("|")
                caps[sid] = int(cap)
        serves = {}
        for line in self.pg.psql(
                "SELECT queue_id, staff_id FROM queue_members",
                dbname=self.db).split("\n"):
            if line.strip():
                q, sid = line.split("|")
                serves.setdefault(q, set()).add(sid)
        # Conversation events and advisor status changes share one version
        # sequence, so together they replay every decision in order. Every
        # decision is there: each script appended its events to a Redis
        # stream in the same atomic act, and whoever did not record them
        # (the killed daemon) left them to another instance's drainer.
        rows = self.pg.psql(
            "SELECT conversation_id::text, kind, coalesce(staff_id::text, "
            "''), route_version, coalesce(queue_id::text, ''), "
            "(extract(epoch FROM at) * 1000)::bigint, id, "
            "coalesce(detail->>'deadline_ms', '') "
            "FROM conversation_events WHERE route_version IS "
            # An acceptance recorded as not applied was answered
            # SUPERSEDED: the advisor never had the conversation.
            "NOT NULL AND NOT (kind = 'route.accepted' AND "
            "detail->>'applied' = 'false') "
            "UNION ALL SELECT '', 'route.status:' || status, staff_id::text,"
            " route_version, '', (extract(epoch FROM at) * 1000)::bigint, id,"
            " '' FROM staff_status_events "
            "ORDER BY 4, 7", dbname=self.db)
        state, load, problems = {}, {}, []
        answered = set()
        epoch = None
        status = {}     # advisor -> routing status
        queue_of = {}   # conversation -> queue
        refused = {}    # conversation -> {advisor: end of its cool-down}
        acw_end = {}    # ended conversation -> end of its wrap-up time
        since = {}      # waiting conversation -> when an advisor was free
        since_any = {}  # the same, counting advisors in their cool-down
        slow = {}       # conversation -> longest such wait (ms)
        longest = [0, 0]  # longest waits with an advisor free
        nstatus = 0
        timeout_ms = OFFER_TIMEOUT * 1000
        cool_ms = COOLDOWN * 1000

        def check_waiting(now):
            """A waiting conversation must not stay waiting longer than
            the offer timeout while an advisor who serves its queue is
            available with free capacity and has not refused it within
            the cool-down; nor longer than the offer timeout plus the
            cool-down while any such advisor is (issue 13, item 1: a
            refusal holds only for the cool-down, and not at all while no
            other advisor could take it)."""
            free = {}
            for c, (st, _) in state.items():
                if st != "waiting":
                    since.pop(c, None)
                    since_any.pop(c, None)
                    continue
                q = queue_of.get(c, "")
                if q not in free:
                    free[q] = [a for a in serves.get(q, ())
                               if status.get(a) == "available" and
                               load.get(a, 0) < caps.get(a, 0)]
                if free[q]:
                    t0 = since_any.setdefault(c, now)
                    longest[1] = max(longest[1], now - t0)
                    if now - t0 > timeout_ms + cool_ms:
                        slow[c] = max(slow.get(c, 0), now - t0)
                else:
                    since_any.pop(c, None)
                cooling = refused.get(c, {})
                if any(cooling.get(a, 0) <= now for a in free[q]):
                    t0 = since.setdefault(c, now)
                    longest[0] = max(longest[0], now - t0)
                    if now - t0 > timeout_ms:
                        slow[c] = max(slow.get(c, 0), now - t0)
                else:
                    since.pop(c, None)

        for line in rows.split("\n"):
            if not line.strip():
                continue
            conv, kind, staff, version, q, at, _, deadline = \
                line.split("|")
            at = int(at)
            e = int(version) >> 32
            if e != epoch:
                # A rebuild re-queues offers in flight; assignments stay,
                # and ended conversations whose wrap-up time is still
                # running. Advisors announce themselves again in the new
                # epoch, and who refused what is forgotten.
                for c, (st, adv) in list(state.items()):
                    if st == "offered" or (st == "ended" and
                                           acw_end.get(c, 0) <= at):
                        state[c] = ("waiting" if st == "offered" else
                                    "gone", "")
                        load[adv] -= 1
                status.clear()
                refused.clear()
                since.clear()
                since_any.clear()
                epoch = e
            kind = kind[len("route."):]
            if kind.startswith("status:"):
                status[staff] = kind[len("status:"):]
                nstatus += 1
                check_waiting(at)
                continue
            if q:
                queue_of[conv] = q
            # "new": never seen, perhaps queued by a rebuild's restore
            # (which records no event); "gone": released.
            st, adv = state.get(conv, ("new", ""))
            if kind == "queued":
                if st in ("offered", "assigned", "ended"):
                    problems.append("%s queued while %s" % (conv, st))
                state[conv] = ("waiting", "")
            elif kind == "offered":
                if st not in ("waiting", "new"):
                    problems.append("%s offered while %s" % (conv, st))
                state[conv] = ("offered", staff)
                load[staff] = load.get(staff, 0) + 1
                if load[staff] > caps.get(staff, 0):
                    problems.append("advisor %s over capacity (%d > %d)" %
                                    (staff, load[staff], caps[staff]))
            elif kind == "accepted":
                if st != "offered" or adv != staff:
                    problems.append("%s accepted by %s while %s to %s" %
                                    (conv, staff, st, adv))
                state[conv] = ("assigned", staff)
                refused.pop(conv, None)
                answered.add(conv)
            elif kind in ("rejected", "timed_out", "withdrawn",
                          "requeued"):
                if st not in ("offered", "assigned") or adv != staff or \
                        (kind != "requeued" and st != "offered"):
                    problems.append("%s %s by %s while %s to %s" %
                                    (conv, kind, staff, st, adv))
                else:
                    load[adv] -= 1
                if kind in ("rejected", "timed_out"):
                    refused.setdefault(conv, {})[staff] = at + cool_ms
                state[conv] = ("waiting", "")
            elif kind == "ended":
                if st != "assigned" or adv != staff:
                    problems.append("%s ended by %s while %s to %s" %
                                    (conv, staff, st, adv))
                state[conv] = ("ended", adv)
                acw_end[conv] = int(deadline or 0)
            elif kind == "acw_expired":
                if st == "ended":
                    load[adv] -= 1
                state[conv] = ("gone", "")
            elif kind == "released":
                if st in ("offered", "assigned", "ended"):
                    load[adv] -= 1
                state[conv] = ("gone", "")
            check_waiting(at)
        for c, ms in sorted(slow.items()):
            problems.append("%s waited %d ms while an advisor was free" %
                            (c, ms))
        if problems:
            sys.stderr.write("problems:\n%s\n" % "\n".join(problems[:60]))
            conv = next((p.split()[0] for p in problems
                         if p.split()[0].isdigit()), "0")
            sys.stderr.write(self.pg.psql(
                "SELECT id, kind, staff_id, route_version >> 32, "
                "route_version & 4294967295, detail->>'applied', "
                "detail->>'instance', detail->>'drained', at FROM "
                "conversation_events WHERE conversation_id = %s ORDER BY "
                "route_version" % conv, dbname=self.db))
        self.assertEqual(problems[:20], [])
        total = int(self.pg.psql("SELECT count(*) FROM conversations",
                                 dbname=self.db))
        # A start sent again (same client_id) is the same conversation.
        self.assertEqual(total, CONVERSATIONS)
        if len(answered) != total:
            for line in self.pg.psql(
                    "SELECT id FROM conversations ORDER BY id",
                    dbname=self.db).split():
                if line not in answered:
                    sys.stderr.write("--- never answered: %s\n%s\n" % (
                        line, self.pg.psql(
                            "SELECT id, kind, staff_id, route_version >> 32,"
                            " route_version & 4294967295, detail, at FROM"
                            " conversation_events WHERE conversation_id = %s"
                            " ORDER BY id" % line, dbname=self.db)))
        self.assertEqual(len(answered), total)
        drained = self.pg.psql(
            "SELECT count(*) FROM conversation_events WHERE "
            "detail->>'drained' = 'true'", dbname=self.db).strip()
        sys.stderr.write("stress: %d events checked (%d status changes, %s "
                         "recorded by a drainer), %d epochs seen; longest "
                         "wait while an advisor who had not refused it was "
                         "free: %d ms; while any was: %d ms\n" % (
                             len(rows.split("\n")), nstatus, drained,
                             epoch or 0, longest[0], longest[1]))

if __name__ == "__main__":
    harness.main()
