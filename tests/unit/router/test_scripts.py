"""The routing scripts (router/scripts/*.lua) against a real redis-server:
eligibility, ordering, capacity, blending, fairness, offers that are
rejected or time out, auto-away, re-queue at the front, transfers, queue
position and estimated wait, and epoch fencing. Each script is loaded the
way the daemon loads it: common.lua followed by the operation's file."""

import json
import os
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

SCRIPTS = os.path.join(ROOT, "router", "scripts")


class RedisError(Exception):
    pass


class Resp:
    """Just enough RESP2 to call scripts."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.buf = b""

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._read()

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError("bad reply %r" % line)


def script(name):
    with open(os.path.join(SCRIPTS, "common.lua")) as f:
        common = f.read()
    with open(os.path.join(SCRIPTS, name + ".lua")) as f:
        return common + "\n" + f.read()


class Router:
    """Calls the scripts as an instance would."""

    OPS = ("enqueue", "accept", "reject", "sweep", "advisor", "release",
           "requeue", "transfer", "positions", "presence", "restore",
           "holding", "pick", "waiting", "settings", "finish", "drain", "served",
           "seize")

    def __init__(self, r, epoch="1"):
        self.r = r
        self.epoch = epoch
        self.sha = {op: r.call("SCRIPT", "LOAD", script(op))
                    for op in self.OPS}

    def run(self, op, *args):
        out = self.r.call("EVALSHA", self.sha[op], 0, *args)
        # A decision's events end with its sb:events entry id (emit).
        self.entry = None
        if isinstance(out, list) and out and isinstance(out[-1], str):
            self.entry = out.pop()
        return out

    def op(self, op, *args):
        return self.run(op, self.epoch, *args)

    def enqueue(self, conv, q, ch="chat", pr=0, since=None, only=""):
        since = since if since is not None else int(time.time() * 1000)
        return self.op("enqueue", conv, q, ch, pr, since, 0, only)

    def advisor(self, aid, st="available", caps="chat=3,email=5,voice=1",
                queues="q1:5", inst="i1", reason=""):
        return self.op("advisor", aid, st, reason, inst, caps, queues)

    def conv(self, cid):
        flat = self.r.call("HGETALL", "sb:%s:c:%s" % (self.epoch, cid))
        return dict(zip(flat[::2], flat[1::2]))


def kinds(events):
    return [e[0] for e in events]


def offers(events):
    return [(e[1], e[2]) for e in events if e[0] == "offered"]


class ScriptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = harness.Redis()

    def setUp(self):
        self.r = Resp(self.redis.port)
        self.r.call("FLUSHALL")
        self.r.call("SET", "sb:epoch", "1")
        self.r.call("HSET", "sb:1:qc:q1", "to:chat", 30000, "to:email", 60000,
                    "to:voice", 20000)
        self.r.call("HSET", "sb:1:qc:q2", "to:chat", 30000)
        self.r.call("HSET", "sb:1:blend", "voice", "chat")
        self.rt = Router(self.r)

    def tearDown(self):
        self.r.sock.close()

    # -------------------------------------------------------- eligibility

    def test_no_advisor_waits(self):
        ev = self.rt.enqueue("c1", "q1")
        self.assertEqual(kinds(ev), ["queued"])
        self.assertEqual(self.rt.conv("c1")["st"], "waiting")

    def test_offer_on_enqueue_to_ready_advisor(self):
        self.rt.advisor("a1")
        ev = self.rt.enqueue("c1", "q1")
        self.assertEqual(kinds(ev), ["queued", "offered"])
        self.assertEqual(offers(ev), [("c1", "a1")])
        c = self.rt.conv("c1")
        self.assertEqual((c["st"], c["adv"]), ("offered", "a1"))

    def test_advisor_must_serve_queue_and_channel(self):
        self.rt.advisor("a1", queues="q2:5")
        ev = self.rt.enqueue("c1", "q1")
        self.assertEqual(offers(ev), [])
        # q2 does not take email at all
        with self.assertRaises(RedisError):
            self.rt.enqueue("c2", "q2", ch="email")

    def test_not_available_statuses_get_nothing(self):
        for st in ("busy", "away", "wrap_up", "offline"):
            self.rt.advisor("a_" + st, st=st)
        ev = self.rt.enqueue("c1", "q1")
        self.assertEqual(offers(ev), [])

    def test_becoming_available_offers_at_once(self):
        self.rt.advisor("a1", st="away")
        self.rt.enqueue("c1", "q1")
        ev = self.rt.advisor("a1", st="available")
        self.assertEqual(offers(ev), [("c1", "a1")])

    def test_new_advisor_login_gets_waiting_work(self):
        self.rt.enqueue("c1", "q1")
        ev = self.rt.advisor("a9")
        self.assertEqual(offers(ev), [("c1", "a9")])

    # -------------------------------------------------------- ordering

    def test_priority_then_wait_time(self):
        t = int(time.time() * 1000)
        self.rt.enqueue("old", "q1", since=t - 5000)
        self.rt.enqueue("new", "q1", since=t - 1000)
        self.rt.enqueue("urgent", "q1", pr=10, since=t)
        order = self.r.call("ZRANGE", "sb:1:q:q1:w", 0, -1)
        self.assertEqual(order, ["urgent", "old", "new"])
        ev = self.rt.advisor("a1", caps="chat=1")
        self.assertEqual(offers(ev), [("urgent", "a1")])

    def test_millisecond_order_kept(self):
        t = int(time.time() * 1000)
        for i in range(5):
            self.rt.enqueue("c%d" % i, "q1", since=t + (4 - i))
        self.assertEqual(self.r.call("ZRANGE", "sb:1:q:q1:w", 0, -1),
                         ["c4", "c3", "c2", "c1", "c0"])

    def test_fairness_longest_idle_first(self):
        self.rt.advisor("a1")
        time.sleep(0.01)
        self.rt.advisor("a2")
        ev = self.rt.enqueue("c1", "q1")
        self.assertEqual(offers(ev), [("c1", "a1")])
        time.sleep(0.01)
        self.rt.op("accept", "c1", "a1")
        # a1 just took work: a2 is now idle longest

        ev = self.rt.enqueue("c2", "q1")
        self.assertEqual(offers(ev), [("c2", "a2")])

    def test_proficiency_breaks_ties(self):
        self.rt.advisor("lo", queues="q1:2")
        self.rt.advisor("hi", queues="q1:9")
        # same idle time: force it
        for a in ("lo", "hi"):
            self.r.call("HSET", "sb:1:a:" + a, "idle", 1000)
        self.rt.advisor("lo", queues="-")
        self.rt.advisor("hi", queues="-")
        ev = self.rt.enqueue("c1", "q1")
        self.assertEqual(offers(ev), [("c1", "hi")])

    # -------------------------------------------------------- capacity

    def test_capacity_never_exceeded(self):
        self.rt.advisor("a1", caps="chat=2")
        ev = []
        for i in range(5):
            ev += self.rt.enqueue("c%d" % i, "q1")
        self.assertEqual(len(offers(ev)), 2)
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:chat"), "2")
        self.assertEqual(self.r.call("ZCARD", "sb:1:q:q1:w"), 3)

    def test_release_frees_capacity_and_offers_next(self):
        self.rt.advisor("a1", caps="chat=1")
        self.rt.enqueue("c1", "q1")
        self.rt.enqueue("c2", "q1")
        self.rt.op("accept", "c1", "a1")
        ev = self.rt.op("release", "c1", "closed")
        self.assertEqual(kinds(ev)[0], "released")
        self.assertEqual(offers(ev), [("c2", "a1")])

    def test_capacity_per_channel(self):
        self.rt.advisor("a1", caps="chat=1,email=2")
        ev = self.rt.enqueue("c1", "q1")
        ev += self.rt.enqueue("e1", "q1", ch="email")
        ev += self.rt.enqueue("e2", "q1", ch="email")
        ev += self.rt.enqueue("c2", "q1")
        self.assertEqual(sorted(offers(ev)),
                         [("c1", "a1"), ("e1", "a1"), ("e2", "a1")])

    def test_blending_live_call_blocks_chat(self):
        self.rt.advisor("a1", caps="chat=3,voice=1")
        self.rt.enqueue("v1", "q1", ch="voice")
        self.rt.op("accept", "v1", "a1")
        ev = self.rt.enqueue("c1", "q1")
        self.assertEqual(offers(ev), [])
        ev = self.rt.op("release", "v1", "closed")
        self.assertEqual(offers(ev), [("c1", "a1")])

    # -------------------------------------------------------- offers

    def test_never_offered_twice(self):
        self.rt.advisor("a1", caps="chat=1")
        self.rt.advisor("a2", caps="chat=1")
        self.rt.enqueue("c1", "q1")
        with self.assertRaises(RedisError) as e:
            self.rt.op("accept", "c1", "a2" if self.rt.conv("c1")["adv"]
                       == "a1" else "a1")
        self.assertIn("NOTOFFERED", str(e.exception))
        # enqueueing again while offered is refused
        with self.assertRaises(RedisError):
            self.rt.enqueue("c1", "q1")

    def test_reject_goes_to_next_not_back_during_cool_down(self):
        self.r.call("HSET", "sb:1:qc:q1", "cool:chat", 300)
        self.rt.advisor("a1")
        time.sleep(0.005)
        self.rt.advisor("a2")
        self.rt.enqueue("c1", "q1")
        ev = self.rt.op("reject", "c1", "a1")
        self.assertEqual(kinds(ev)[:1], ["rejected"])
        self.assertEqual(offers(ev), [("c1", "a2")])
        ev = self.rt.op("reject", "c1", "a2")
        # both refused it and both are eligible: each waits for the other
        self.assertEqual(offers(ev), [])
        self.assertEqual(self.rt.conv("c1")["st"], "waiting")
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:chat"), "0")
        self.assertEqual(kinds(self.rt.op("sweep", 100)), [])
        # a1's cool-down ends first: the sweep offers it to a1 at once
        time.sleep(0.32)
        ev = self.rt.op("sweep", 100)
        self.assertEqual(offers(ev), [("c1", "a1")])
        # accepted: refusals and their wake-up are forgotten
        self.rt.op("accept", "c1", "a1")
        self.assertEqual(self.r.call("EXISTS", "sb:1:c:c1:refused"), 0)
        self.assertEqual(self.r.call("ZCARD", "sb:1:cool"), 0)

    def test_refusal_holds_only_while_another_advisor_is_eligible(self):
        # the default cool-down (60 s) is running
        self.r.call("HSET", "sb:1:qc:q1", "to:chat", 200)
        self.rt.advisor("a1", caps="chat=1")
        self.rt.enqueue("c1", "q1")
        # the only advisor on shift rejects: offered to them again at once
        ev = self.rt.op("reject", "c1", "a1")
        self.assertEqual(kinds(ev), ["rejected", "offered"])
        self.assertEqual(offers(ev), [("c1", "a1")])
        # with a second advisor the refusal holds: a2 gets it
        self.rt.advisor("a2", caps="chat=1")
        ev = self.rt.op("reject", "c1", "a1")
        self.assertEqual(offers(ev), [("c1", "a2")])
        # a2 lets it time out while a1 is busy with other work: a2 is the
        # only eligible advisor, so it comes straight back to a2
        self.rt.enqueue("c2", "q1")
        self.assertEqual(self.rt.conv("c2")["adv"], "a1")
        self.rt.op("accept", "c2", "a1")
        time.sleep(0.25)
        ev = self.rt.op("sweep", 100)
        self.assertEqual(kinds(ev)[:2], ["timed_out", "offered"])
        self.assertEqual(offers(ev), [("c1", "a2")])
        # a1 frees up, a2 rejects: both refused it, so neither is offered
        # it until a cool-down ends
        self.assertEqual(offers(self.rt.op("release", "c2", "closed")), [])
        ev = self.rt.op("reject", "c1", "a2")
        self.assertEqual(offers(ev), [])
        self.assertEqual(self.rt.conv("c1")["st"], "waiting")
        self.assertIsNotNone(self.r.call("ZSCORE", "sb:1:cool", "c1"))

    def test_leaving_available_withdraws_open_offers(self):
        for st in ("away", "busy", "wrap_up", "offline"):
            self.tearDown()
            self.setUp()
            self.rt.advisor("a1", caps="chat=2")
            self.rt.enqueue("c1", "q1")
            self.rt.enqueue("c2", "q1")
            self.rt.op("accept", "c2", "a1")
            self.rt.advisor("a2", caps="chat=1")
            self.assertEqual(self.rt.conv("c1")["adv"], "a1")
            ev = self.rt.advisor("a1", st=st, reason="lunch")
            self.assertEqual(kinds(ev), ["status", "withdrawn", "offered"],
                             st)
            self.assertEqual(ev[1][1:3], ["c1", "a1"])
            self.assertEqual(ev[1][7], st)
            self.assertEqual(offers(ev), [("c1", "a2")])
            # not a refusal, and the assignment stays
            self.assertEqual(self.r.call("EXISTS", "sb:1:c:c1:refused"), 0)
            self.assertEqual(self.rt.conv("c2")["adv"], "a1")
            self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:chat"),
                             "1")
            self.assertEqual(self.r.call("ZSCORE", "sb:1:offers", "c2"),
                             None)
        # with nobody else, the offer waits in the queue
        self.tearDown()
        self.setUp()
        self.rt.advisor("a1")
        self.rt.enqueue("c1", "q1")
        ev = self.rt.advisor("a1", st="away")
        self.assertEqual(kinds(ev), ["status", "withdrawn"])
        self.assertEqual(self.r.call("ZRANGE", "sb:1:q:q1:w", 0, -1), ["c1"])

    def test_timeout_reoffers_and_auto_away(self):
        self.r.call("HSET", "sb:1:qc:q1", "to:chat", 30)
        self.r.call("HSET", "sb:1:cfg", "max_missed", 2)
        self.rt.advisor("a1")
        self.rt.enqueue("c1", "q1")
        self.rt.enqueue("c2", "q1")
        time.sleep(0.06)
        ev = self.rt.op("sweep", 100)
        self.assertEqual(kinds(ev).count("timed_out"), 2)
        self.assertIn("status", kinds(ev))
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "st"), "away")
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "reason"),
                         "missed_offers")
        self.assertEqual(self.r.call("ZCARD", "sb:1:q:q1:w"), 2)
        self.assertEqual(self.r.call("ZCARD", "sb:1:offers"), 0)

    def test_sweep_is_idempotent(self):
        self.assertEqual(self.rt.op("sweep", 100), [])

    def test_accept_records_answer_and_position_estimate(self):
        self.rt.advisor("a1", caps="chat=10")
        for i in range(4):
            self.rt.enqueue("c%d" % i, "q1")
            self.rt.op("accept", "c%d" % i, "a1")
            time.sleep(0.02)
        self.rt.advisor("a1", st="away")
        self.rt.enqueue("w1", "q1")
        self.rt.enqueue("w2", "q1")
        span, intervals, p1, p2, gone = self.rt.op("positions", "q1", "w1",
                                                   "w2", "c0")
        self.assertEqual((p1, p2, gone), (1, 2, 0))
        self.assertEqual(intervals, 3)  # four answers
        self.assertGreater(span, 0)
        # another queue's conversations are not waiting in this one
        self.assertEqual(self.rt.op("positions", "q2", "w1")[2:], [0])
        with self.assertRaises(RedisError):
            self.rt.run("positions", "7", "q1", "w1")

    # -------------------------------------------------------- disconnects

    def test_requeue_live_at_front_keeps_email(self):
        t = int(time.time() * 1000)
        self.rt.advisor("a1", caps="chat=2,email=2")
        self.rt.enqueue("c1", "q1", since=t - 60000)
        self.rt.enqueue("e1", "q1", ch="email")
        self.rt.op("accept", "c1", "a1")
        self.rt.op("accept", "e1", "a1")
        self.rt.advisor("a1", st="away")
        self.rt.enqueue("urgent", "q1", pr=50)
        ev = self.rt.op("requeue", "a1", "chat,voice")
        self.assertEqual([e[1] for e in ev if e[0] == "requeued"], ["c1"])
        self.assertEqual(self.r.call("ZRANGE", "sb:1:q:q1:w", 0, -1),
                         ["c1", "urgent"])
        self.assertEqual(self.rt.conv("c1")["since"], str(t - 60000))
        self.assertEqual(self.rt.conv("e1")["st"], "assigned")
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "st"), "offline")

    def test_silent_desk_requeued_after_grace(self):
        self.r.call("HSET", "sb:1:cfg", "grace_ms", 50, "live", "chat")
        self.rt.advisor("a1", caps="chat=2,email=1")
        self.rt.advisor("a2", st="away")
        self.rt.enqueue("c1", "q1")
        self.rt.enqueue("e1", "q1", ch="email")
        self.rt.op("accept", "c1", "a1")
        self.rt.op("accept", "e1", "a1")
        self.assertEqual(self.rt.op("presence", "a1", "a2", "ghost"), 3)
        self.assertEqual(self.r.call("ZCARD", "sb:1:presence"), 2)
        self.assertEqual(self.rt.op("sweep", 100), [])  # within grace
        time.sleep(0.03)
        self.rt.op("presence", "a2")  # a2 keeps beating
        time.sleep(0.03)
        ev = self.rt.op("sweep", 100)
        self.assertEqual([(e[1], e[2]) for e in ev if e[0] == "requeued"],
                         [("c1", "a1")])
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "st"), "offline")
        self.assertEqual(self.r.call("HGET", "sb:1:a:a2", "st"), "away")
        self.assertEqual(self.rt.conv("e1")["st"], "assigned")
        self.assertEqual(self.rt.op("sweep", 100), [])

    def test_restore_needs_lock_and_publishes_epoch(self):
        new = Router(self.r, epoch="2")
        with self.assertRaises(RedisError) as e:
            new.op("restore", "i1", "finish")
        self.assertIn("NOLOCK", str(e.exception))
        self.assertEqual(self.r.call("SET", "sb:rebuild", "i1", "NX", "PX",
                                     10000), "OK")
        new.op("restore", "i1", "config", "q1:chat:30000,q1:voice:20000",
               "voice=chat|visit", 3, 30000, "chat,voice")
        t = int(time.time() * 1000)
        new.op("restore", "i1", "conv", "c1", "q1", "chat", 0, t - 500,
               "offered", "", (2 << 32) + 1)
        new.op("restore", "i1", "conv", "c2", "q1", "chat", 0, t - 900,
               "waiting", "", (2 << 32) + 1)
        new.op("restore", "i1", "conv", "v1", "q1", "voice", 0, t,
               "assigned", "a7", (2 << 32) + 1)
        # not yet current: routing calls in epoch 2 are still refused
        with self.assertRaises(RedisError):
            new.enqueue("c3", "q1")
        new.op("restore", "i1", "finish")
        self.assertEqual(self.r.call("GET", "sb:epoch"), "2")
        self.assertIsNone(self.r.call("GET", "sb:rebuild"))
        self.assertEqual(self.r.call("HGET", "sb:2:blend", "voice"),
                         "chat,visit")
        self.assertEqual(self.r.call("ZRANGE", "sb:2:q:q1:w", 0, -1),
                         ["c2", "c1"])
        self.assertEqual(self.r.call("HGET", "sb:2:a:a7", "load:voice"), "1")
        self.assertEqual(self.r.call("HGET", "sb:2:a:a7", "st"), "offline")
        # a7 logs back in: on a live call, so no chat; another advisor is
        ev = new.advisor("a7", caps="chat=3,voice=1")
        self.assertEqual(offers(ev), [])
        ev = new.advisor("a8", caps="chat=3,voice=1")
        self.assertEqual(offers(ev), [("c2", "a8"), ("c1", "a8")])

    # -------------------------------------------------------- transfer

    def test_transfer_to_queue_keeps_wait_time(self):
        t = int(time.time() * 1000) - 9000
        self.rt.advisor("a1")
        self.rt.enqueue("c1", "q1", since=t)
        self.rt.op("accept", "c1", "a1")
        self.rt.advisor("b1", queues="q2:5")
        ev = self.rt.op("transfer", "c1", "q2", "")
        self.assertEqual(kinds(ev)[0], "transferred")
        self.assertEqual(offers(ev), [("c1", "b1")])
        self.assertEqual(self.rt.conv("c1")["since"], str(t))
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:chat"), "0")

    def test_transfer_pinned_to_named_advisor(self):
        self.rt.advisor("a1")
        self.rt.advisor("a2", st="away")
        self.rt.enqueue("c1", "q1")
        self.rt.op("accept", "c1", "a1")
        ev = self.rt.op("transfer", "c1", "", "a2")
        self.assertEqual(offers(ev), [])  # a2 not available, a1 not eligible
        ev = self.rt.advisor("a2")
        self.assertEqual(offers(ev), [("c1", "a2")])

    # -------------------------------------------------------- fencing

    def test_wrong_or_missing_epoch_refused(self):
        stale = Router(self.r, epoch="0")
        with self.assertRaises(RedisError) as e:
            stale.enqueue("c1", "q1")
        self.assertTrue(str(e.exception).startswith("EPOCH 1"))
        self.r.call("DEL", "sb:epoch")
        with self.assertRaises(RedisError) as e:
            self.rt.enqueue("c1", "q1")
        self.assertTrue(str(e.exception).startswith("NOEPOCH"))

    def test_versions_order_all_decisions(self):
        base = 1 << 32
        ev1 = self.rt.op("enqueue", "c1", "q1", "chat", 0, 1, base, "")
        ev2 = self.rt.enqueue("c2", "q1")
        ev3 = self.rt.advisor("a1")
        # status changes are decisions too (staff_status_events)
        versions = [e[4] for e in ev1 + ev2 + ev3]
        self.assertEqual(kinds(ev3), ["status", "offered", "offered"])
        self.assertEqual(len(versions), 5)
        self.assertEqual(versions, sorted(versions))
        self.assertEqual(len(set(versions)), len(versions))
        self.assertTrue(all(v >> 32 == 1 for v in versions))
        # never below what the conversation had (restored from PostgreSQL)
        ev = self.rt.op("enqueue", "c9", "q1", "chat", 0, 1, base + 1000, "")
        self.assertGreater(ev[0][4], base + 1000)

    def test_holding_lists_offers_and_assignments(self):
        # nothing held; the status, last, is offline when unknown, with
        # no capacities
        self.assertEqual(self.rt.op("holding", "a1"),
                         [["status", "", "a1", "", 0, "offline", "", ""]])
        self.rt.advisor("a1")
        self.rt.enqueue("c1", "q1")
        self.rt.enqueue("c2", "q1")
        self.rt.op("accept", "c1", "a1")
        self.rt.enqueue("c3", "q2")  # a1 does not serve q2
        before = self.r.call("GET", "sb:1:seq")
        events = self.rt.op("holding", "a1")
        self.assertEqual(events[-1][0], "status")
        self.assertEqual(events[-1][5], "available")
        # the capacities the advisor announced, in channel order
        self.assertEqual(events[-1][7], "chat=3,email=5,voice=1")
        held = {e[1]: e for e in events[:-1]}
        self.assertEqual(sorted(held), ["c1", "c2"])
        self.assertEqual(held["c1"][0], "accepted")
        self.assertEqual(held["c2"][0], "offered")
        self.assertEqual(held["c2"][5:7], ["q1", "chat"])
        self.assertEqual(held["c2"][7], self.rt.conv("c2")["dl"])
        self.assertEqual(held["c1"][4], int(self.rt.conv("c1")["v"]))
        # read-only: no decision taken, nothing changed
        self.assertEqual(self.r.call("GET", "sb:1:seq"), before)
        self.assertEqual(self.rt.conv("c2")["st"], "offered")
        self.rt.op("release", "c1", "closed")
        self.assertEqual(kinds(self.rt.op("holding", "a1")),
                         ["offered", "status"])
        with self.assertRaises(RedisError):
            self.rt.run("holding", "7", "a1")

    def test_queue_priority_then_longest_waiting(self):
        self.r.call("HSET", "sb:1:qc:q1", "pr", 20)
        self.r.call("HSET", "sb:1:qc:q2", "pr", 80)
        self.rt.enqueue("old", "q1", since=1000)
        self.rt.enqueue("new", "q2", since=5000)
        ev = self.rt.advisor("a1", caps="chat=1", queues="q1:5,q2:5")
        self.assertEqual(offers(ev), [("new", "a1")])
        # equal priorities: the conversation that waited longest
        # (a1 is full with "new": "old" waits in q1 since 1000)
        self.r.call("HSET", "sb:1:qc:q2", "pr", 20)
        self.rt.enqueue("older", "q2", since=500)
        ev = self.rt.advisor("a2", caps="chat=1", queues="q1:5,q2:5")
        self.assertEqual(offers(ev), [("older", "a2")])
        # the settings string carries the queue priority
        self.rt.op("settings", "q1:chat:30000:push:10,q2:chat:30000:pull:90",
                   "", "3", "30000", "chat", "1")
        self.assertEqual(self.r.call("HGET", "sb:1:qc:q1", "pr"), "10")
        self.assertEqual(self.r.call("HGET", "sb:1:qc:q2", "pull:chat"), "1")

    def test_overflow_after_waiting_too_long(self):
        # q1 overflows to q2 after 2 s; a2 serves only q2
        self.rt.op("settings", "q1:chat:30000:push:50:q2:2000,"
                   "q2:chat:30000:push:50", "", "3", "30000", "chat", "1")
        self.rt.advisor("a2", caps="chat=3", queues="q2:5")
        now = int(time.time() * 1000)
        self.rt.enqueue("young", "q1", since=now)
        self.rt.enqueue("old", "q1", since=now - 5000)
        ev = self.rt.op("sweep", 100)
        self.assertEqual([(e[0], e[1]) for e in ev],
                         [("overflowed", "old"), ("offered", "old")])
        self.assertEqual(ev[0][5:8], ["q1", "chat", "q2"])
        self.assertEqual(ev[1][2], "a2")
        self.assertEqual(self.rt.op("sweep", 100), [])  # once only
        # refused by q2's advisor: back in both lists, q1's advisors first
        self.rt.op("reject", "old", "a2")
        self.assertEqual(self.r.call("ZRANGE", "sb:1:q:q2:o", 0, -1),
                         ["old"])
        ev = self.rt.advisor("a1", caps="chat=3", queues="q1:5")
        self.assertEqual(offers(ev), [("old", "a1"), ("young", "a1")])
        self.assertEqual(self.r.call("ZRANGE", "sb:1:q:q2:o", 0, -1), [])
        self.rt.op("accept", "old", "a1")
        self.assertEqual(self.rt.conv("old")["st"], "assigned")

    # -------------------------------------------------------- pull mode

    def pull_settings(self, email_mode=":pull"):
        # q1 pushes chat and pulls email (or pushes both)
        return self.rt.op("settings", "q1:chat:30000,q1:email:60000%s,"
                          "q2:chat:30000" % email_mode, "voice=chat", "3",
                          "30000", "chat", "1")

    def test_pulled_channel_waits_for_a_pick(self):
        self.pull_settings()
        self.rt.advisor("a1", queues="q1:5")
        self.rt.advisor("a2", queues="q2:5")
        ev = self.rt.enqueue("e1", "q1", ch="email", since=1000)
        self.assertEqual(kinds(ev), ["queued"])  # never offered
        self.rt.enqueue("e2", "q1", ch="email", since=2000)
        ev = self.rt.enqueue("c1", "q1", ch="chat")
        self.assertEqual(offers(ev), [("c1", "a1")])  # chat still pushed
        view = self.rt.op("waiting", "q1", "a1", 10)
        self.assertEqual(view[:2], [2, 0])
        self.assertEqual([(v[0], v[1], v[4]) for v in view[2:]],
                         [("e1", "email", "pull"), ("e2", "email", "pull")])
        self.assertEqual(self.rt.op("positions", "q1", "e2")[2:], [2])
        # only advisors serving the queue see it and may pick from it
        with self.assertRaises(RedisError) as e:
            self.rt.op("waiting", "q1", "a2", 10)
        self.assertTrue(str(e.exception).startswith("NOTYOURS"))
        view = self.rt.op("waiting", "q1", "", 1)
        self.assertEqual(len(view), 3)  # the limit holds
        self.assertEqual(view[:2], [2, 0])
        item = view[2]
        self.assertEqual([item[0], item[1], item[3], item[4]],
                         ["e1", "email", "0", "pull"])
        # waited since 1000 ms after the epoch (as enqueued)
        self.assertAlmostEqual(int(item[2]), time.time() * 1000 - 1000,
                               delta=5000)
        with self.assertRaises(RedisError) as e:
            self.rt.op("pick", "e2", "a2")
        self.assertTrue(str(e.exception).startswith("NOTYOURS"))
        ev = self.rt.op("pick", "e2", "a1")
        self.assertEqual(ev[0][:3], ["accepted", "e2", "a1"])
        self.assertEqual(ev[0][8], "picked")
        self.assertEqual(self.rt.conv("e2")["st"], "assigned")
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:email"), "1")
        # the first pick wins
        with self.assertRaises(RedisError) as e:
            self.rt.op("pick", "e2", "a1")
        self.assertTrue(str(e.exception).startswith("NOTWAITING"))
        # pushed conversations cannot be picked (withdrawn: waiting)
        self.rt.op("advisor", "a1", "away", "", "i1", "", "-")
        with self.assertRaises(RedisError) as e:
            self.rt.op("pick", "c1", "a1")
        self.assertTrue(str(e.exception).startswith("NOTWAITING"))
        self.assertEqual(self.rt.op("waiting", "q1", "a1", 10)[:2], [1, 1])

    def test_pick_respects_capacity_and_status(self):
        self.pull_settings()
        self.rt.advisor("a1", caps="chat=3,email=1", queues="q1:5")
        for i in range(2):
            self.rt.enqueue("e%d" % i, "q1", ch="email")
        self.rt.op("pick", "e0", "a1")
        with self.assertRaises(RedisError) as e:
            self.rt.op("pick", "e1", "a1")
        self.assertTrue(str(e.exception).startswith("FULL"))
        self.rt.op("release", "e0", "closed")
        self.rt.advisor("a1", st="offline", caps="email=1", queues="q1:5")
        with self.assertRaises(RedisError) as e:
            self.rt.op("pick", "e1", "a1")
        self.assertTrue(str(e.exception).startswith("OFFLINE"))
        # away or busy advisors may still pick
        self.rt.advisor("a1", st="away", caps="email=1", queues="q1:5")
        self.assertEqual(kinds(self.rt.op("pick", "e1", "a1")),
                         ["accepted"])

    def test_mode_change_moves_waiting_conversations(self):
        self.pull_settings()
        self.rt.enqueue("e1", "q1", ch="email")
        self.assertEqual(self.r.call("ZRANGE", "sb:1:q:q1:p", 0, -1), ["e1"])
        self.rt.advisor("a1", caps="email=5", queues="q1:5")
        # switched to push: moved to the offered list and offered at once
        ev = self.pull_settings("")
        self.assertEqual(self.r.call("ZRANGE", "sb:1:q:q1:p", 0, -1), [])
        self.assertEqual(offers(ev), [("e1", "a1")])
        self.rt.op("advisor", "a1", "away", "", "i1", "", "-")
        self.pull_settings()
        self.assertEqual(self.r.call("ZRANGE", "sb:1:q:q1:p", 0, -1), ["e1"])
        self.assertEqual(self.r.call("ZRANGE", "sb:1:q:q1:r:email", 0, -1),
                         [])


    # -------------------------------------------------------- answered calls

    def seize(self, cid, aid="a1", q="q1", since=None):
        since = since if since is not None else int(time.time() * 1000)
        return self.rt.op("seize", cid, q, "voice", since, aid)

    def test_seize_assigns_a_call_and_blocks_chats(self):
        self.rt.advisor("a1")
        ev = self.seize("v1")
        self.assertEqual(kinds(ev), ["queued", "accepted"])
        self.assertEqual(ev[1][2], "a1")
        self.assertEqual(ev[1][-1], "seized")
        c = self.rt.conv("v1")
        self.assertEqual((c["st"], c["adv"], c["ch"]),
                         ("assigned", "a1", "voice"))
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:voice"), "1")
        # A live call: no chat is offered (blending voice -> chat).
        ev = self.rt.enqueue("c1", "q1")
        self.assertEqual(offers(ev), [])
        # A retry changes nothing.
        self.assertEqual(self.seize("v1"), [])
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:voice"), "1")
        # The call ends (no wrap-up time): the chat is offered.
        ev = self.rt.op("finish", "v1", "closed")
        self.assertIn(("c1", "a1"), offers(ev))

    def test_seize_is_never_refused_for_capacity(self):
        self.rt.advisor("a1", caps="chat=3,voice=1")
        self.seize("v1")
        ev = self.seize("v2")
        self.assertEqual(kinds(ev), ["queued", "accepted"])
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:voice"), "2")

    def test_seize_refusals(self):
        with self.assertRaises(RedisError) as e:
            self.seize("v1")
        self.assertTrue(str(e.exception).startswith("OFFLINE"))
        self.rt.advisor("a1")
        self.rt.advisor("a2")
        with self.assertRaises(RedisError) as e:
            self.seize("v1", q="q2")
        self.assertTrue(str(e.exception).startswith("NOQUEUE"))
        self.seize("v1")
        with self.assertRaises(RedisError) as e:
            self.seize("v1", aid="a2")
        self.assertTrue(str(e.exception).startswith("BUSY"))

    def test_seize_takes_a_callback_being_offered(self):
        self.rt.advisor("a2", caps="voice=1")
        ev = self.rt.enqueue("v1", "q1", ch="voice")
        self.assertEqual(offers(ev), [("v1", "a2")])
        self.rt.advisor("a1")
        ev = self.seize("v1")
        self.assertEqual(kinds(ev), ["accepted"])
        self.assertEqual(self.r.call("HGET", "sb:1:a:a2", "load:voice"), "0")
        self.assertEqual(self.r.call("SMEMBERS", "sb:1:a:a2:c"), [])
        self.assertEqual(self.r.call("ZSCORE", "sb:1:offers", "v1"), None)

    # -------------------------------------------------------- after-contact work

    def acw(self, ms):
        self.r.call("HSET", "sb:1:qc:q1", "acw:chat", ms)

    def assigned(self, cid, aid="a1"):
        self.rt.enqueue(cid, "q1")
        self.assertEqual(kinds(self.rt.op("accept", cid, aid)), ["accepted"])

    def test_finish_holds_capacity_until_wrap_up_deadline(self):
        self.acw(300)
        self.rt.advisor("a1", caps="chat=1")
        self.assigned("c1")
        self.rt.enqueue("c2", "q1")
        t = int(time.time() * 1000)
        ev = self.rt.op("finish", "c1", "closed")
        self.assertEqual(kinds(ev), ["ended"])
        self.assertEqual(ev[0][2], "a1")
        self.assertEqual(ev[0][7], "closed")
        self.assertGreaterEqual(int(ev[0][8]), t + 300)
        c = self.rt.conv("c1")
        self.assertEqual((c["st"], c["adv"]), ("ended", "a1"))
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:chat"), "1")
        # the desk that opens now lists it as ended, with its deadline
        held = self.rt.op("holding", "a1")
        self.assertEqual([h[:2] for h in held[:-1]], [["ended", "c1"]])
        self.assertEqual(held[0][7], ev[0][8])
        # before the deadline the sweep frees nothing
        self.assertEqual(kinds(self.rt.op("sweep", 100)), [])
        # finishing again does nothing
        self.assertEqual(self.rt.op("finish", "c1", "closed"), [])
        time.sleep(0.35)
        ev = self.rt.op("sweep", 100)
        self.assertEqual(kinds(ev), ["acw_expired", "offered"])
        self.assertEqual(offers(ev), [("c2", "a1")])
        self.assertEqual(self.rt.conv("c1"), {})
        self.assertEqual(self.r.call("ZCARD", "sb:1:acw"), 0)

    def test_wrap_up_ends_after_contact_work_early(self):
        self.acw(60000)
        self.rt.advisor("a1", caps="chat=1")
        self.rt.advisor("a2", st="away", caps="chat=1")
        self.assigned("c1", "a1")
        self.rt.op("finish", "c1", "closed")
        self.assertEqual(offers(self.rt.enqueue("c2", "q1")), [])
        # someone else's wrap-up is refused
        with self.assertRaises(RedisError) as e:
            self.rt.op("release", "c1", "closed", "a2")
        self.assertIn("NOTYOURS", str(e.exception))
        ev = self.rt.op("release", "c1", "closed", "a1")
        self.assertEqual(kinds(ev), ["released", "offered"])
        self.assertEqual(ev[0][7:9], ["closed", "ended"])
        self.assertEqual(offers(ev), [("c2", "a1")])
        self.assertEqual(self.r.call("ZCARD", "sb:1:acw"), 0)

    def test_finish_without_wrap_up_time_frees_at_once(self):
        self.rt.advisor("a1", caps="chat=1")
        self.assigned("c1")
        self.rt.enqueue("c2", "q1")
        ev = self.rt.op("finish", "c1", "closed")
        self.assertEqual(kinds(ev), ["ended", "acw_expired", "offered"])
        self.assertEqual(offers(ev), [("c2", "a1")])

    def test_finish_unassigned_is_released(self):
        self.acw(60000)
        self.rt.enqueue("c1", "q1")
        ev = self.rt.op("finish", "c1", "abandoned")
        self.assertEqual(kinds(ev), ["released"])
        self.assertEqual(ev[0][7:9], ["abandoned", "waiting"])
        self.rt.advisor("a1", caps="chat=1")
        self.rt.enqueue("c2", "q1")
        ev = self.rt.op("finish", "c2", "abandoned")
        self.assertEqual(ev[0][7:9], ["abandoned", "offered"])
        self.assertEqual(self.r.call("HGET", "sb:1:a:a1", "load:chat"), "0")
        self.assertEqual(self.rt.op("finish", "nope", "closed"), [])

    def test_ended_is_neither_queued_again_nor_transferred(self):
        self.acw(60000)
        self.rt.advisor("a1", caps="chat=2")
        self.assigned("c1")
        self.rt.op("finish", "c1", "closed")
        with self.assertRaises(RedisError) as e:
            self.rt.enqueue("c1", "q1")
        self.assertIn("BUSY", str(e.exception))
        with self.assertRaises(RedisError) as e:
            self.rt.op("transfer", "c1", "q2", "", "a1")
        self.assertIn("NOCONV", str(e.exception))
        # a lost desk does not re-queue an ended conversation
        ev = self.rt.op("requeue", "a1", "")
        self.assertNotIn("requeued", kinds(ev))
        self.assertEqual(self.rt.conv("c1")["st"], "ended")

    def test_restore_ended_conversation_keeps_capacity_held(self):
        new = Router(self.r, epoch="2")
        self.r.call("SET", "sb:rebuild", "i1", "NX", "PX", 10000)
        new.op("restore", "i1", "config",
               "q1:chat:30000:push:50:::60000:300", "", 3, 30000, "chat")
        t = int(time.time() * 1000)
        new.op("restore", "i1", "conv", "c1", "q1", "chat", 0, t - 900,
               "wrap_up", "a7", (2 << 32) + 1, t + 300)
        new.op("restore", "i1", "conv", "c2", "q1", "chat", 0, t - 500,
               "waiting", "", (2 << 32) + 1, "")
        # wrap_up without a deadline ahead: not in routing
        new.op("restore", "i1", "conv", "c3", "q1", "chat", 0, t - 500,
               "wrap_up", "a7", (2 << 32) + 1, "")
        new.op("restore", "i1", "finish")
        self.assertEqual(self.r.call("HGET", "sb:2:qc:q1", "acw:chat"), "300")
        self.assertEqual(self.r.call("HGET", "sb:2:qc:q1", "cool:chat"),
                         "60000")
        self.assertEqual(new.conv("c1")["st"], "ended")
        self.assertEqual(new.conv("c3"), {})
        ev = new.advisor("a7", caps="chat=1")
        self.assertEqual(offers(ev), [])
        time.sleep(0.35)
        ev = new.op("sweep", 100)
        self.assertEqual(kinds(ev), ["acw_expired", "offered"])
        self.assertEqual(offers(ev), [("c2", "a7")])


    # -------------------------------------------------------- event stream

    def stream(self):
        return [(i, json.loads(dict(zip(f[::2], f[1::2]))["e"]))
                for i, f in self.r.call("XRANGE", "sb:events", "-", "+")]

    def test_every_decision_appends_its_events_to_the_stream(self):
        self.rt.advisor("a1", caps="chat=1")
        ev = self.rt.enqueue("c1", "q1")
        entry = self.rt.entry
        self.assertIsNotNone(entry)
        ev2 = self.rt.op("accept", "c1", "a1")
        ev3 = self.rt.op("finish", "c1", "closed")
        s = self.stream()
        self.assertEqual(len(s), 4)  # advisor, enqueue, accept, finish
        self.assertEqual(s[1][0], entry)
        # the same events, versions as strings (exact at any size)
        self.assertEqual(s[1][1], [[str(x) for x in e] for e in ev])
        self.assertEqual([e[0] for e in s[2][1]], kinds(ev2))
        self.assertEqual(s[3][1][0][4], str(ev3[0][4]))
        # decisions with no events and read-only scripts add nothing
        self.assertEqual(self.rt.op("release", "nope", "closed"), [])
        self.assertIsNone(self.rt.entry)
        self.rt.op("holding", "a1")
        self.rt.op("positions", "q1", "c1")
        self.assertEqual(len(self.stream()), 4)
        # outside the epoch: a new epoch's decisions go to the same stream
        self.assertEqual(self.r.call("TYPE", "sb:events"), "stream")
        # bounded: trimmed to about STREAM_MAX entries
        self.assertIn("XADD', STREAM, 'MAXLEN', '~'", script("enqueue"))

    def test_drain_reads_old_entries_under_one_lease(self):
        self.rt.advisor("a1")
        self.rt.enqueue("c1", "q1")
        # nothing is old enough yet
        self.assertEqual(self.rt.op("drain", "i1", 5000, 5000, 10, "-"), [])
        time.sleep(0.05)
        got = self.rt.op("drain", "i1", 5000, 20, 10, "-")
        self.assertEqual([g[0] for g in got], [i for i, _ in self.stream()])
        # another instance gets nothing while i1 holds the lease
        self.assertEqual(self.rt.op("drain", "i2", 5000, 20, 10, "-"), [])
        # a pass goes on after the last id it had
        more = self.rt.op("drain", "i1", 5000, 20, 1, "-")
        self.assertEqual(len(more), 1)
        rest = self.rt.op("drain", "i1", 5000, 20, 10, "(" + more[0][0])
        self.assertEqual(len(rest), len(got) - 1)
        # it works in any epoch (the stream outlives a rebuild)
        self.assertEqual(len(self.rt.run("drain", "99", "i1", 5000, 20, 10,
                                         "-")), len(got))
        self.r.call("DEL", "sb:drain")
        self.assertEqual(len(self.rt.op("drain", "i2", 5000, 20, 10, "-")),
                         len(got))


    # -------------------------------------------------------- served

    def test_served_from_live_presence(self):
        served = lambda q: self.rt.op("served", q)  # noqa: E731
        self.assertEqual(served("q1"), 0)
        # a member away (present) serves; offline or gone does not
        self.rt.advisor("a1", st="away", queues="q1:5")
        self.assertEqual(served("q1"), 1)
        self.assertEqual(served("q2"), 0)
        self.rt.advisor("a1", st="offline", queues="q1:5")
        self.assertEqual(served("q1"), 0)
        # available and full: not in the ready set, still serving
        self.rt.advisor("a1", caps="chat=1", queues="q1:5")
        self.rt.enqueue("c1", "q1")
        self.rt.op("accept", "c1", "a1")
        self.assertEqual(self.r.call("ZCARD", "sb:1:q:q1:r:chat"), 0)
        self.assertEqual(served("q1"), 1)
        # its desk went silent past the grace period: the sweep takes it
        # out of presence (and sets it offline)
        self.r.call("HSET", "sb:1:cfg", "grace_ms", 50)
        time.sleep(0.08)
        self.rt.op("sweep", 100)
        self.assertEqual(served("q1"), 0)
        # a desk killed without signing out, whose state was then lost,
        # is simply not there: not a member in this epoch at all
        self.r.call("ZADD", "sb:1:presence", int(time.time() * 1000), "a9")
        self.assertEqual(served("q1"), 0)
        # leaving the queue: no longer a member
        self.rt.advisor("a2", st="busy", queues="q1:5")
        self.assertEqual(served("q1"), 1)
        self.rt.advisor("a2", st="busy", queues="q2:5")
        self.assertEqual(served("q1"), 0)
        self.assertEqual(served("q2"), 1)
        # just after a rebuild, desks have yet to announce themselves:
        # "cannot tell" (the chat queues) until a grace period passed
        self.r.call("SET", "sb:1:born", int(time.time() * 1000))
        self.assertEqual(served("q1"), -1)
        self.assertEqual(served("q2"), 1)
        time.sleep(0.06)
        self.assertEqual(served("q1"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
