"""The web chat channel when an instance dies (SIGKILL): the chats it was
timing out are timed out by a survivor, and every message a resident was
told is stored reaches every desk that shows the chat, exactly once, even
for desks that open while the resident writes (docs/chat-protocol.md,
"Across instances" and "Time-outs")."""

import os
import random
import select
import sys
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_chat  # noqa: E402
from test_chat import WIDGET, Resident  # noqa: E402
from test_routing import Desk  # noqa: E402

IDLE = 40  # chat.idle_timeout: also the detached grace here
DEAD = 5   # an instance silent this long is dead (DEAD_MS in chat.c)


def ready(js):
    """Whether a message can be read from js without waiting."""
    return bool(js.pending or js.ws.buf or
                select.select([js.ws.sock], [], [], 0)[0])


class Observer:
    """A desk that shows one chat, on one socket after another: counts
    each resident message it is sent on each socket, and keeps what it
    has over all of them (as the desk does, by seq)."""

    def __init__(self, test, sb, cookie, conv):
        self.test, self.cookie, self.conv = test, cookie, conv
        self.seen = set()  # over every socket
        self.twice = set()  # sent twice on one socket
        self.sockets = 0
        self.open(sb)

    def open(self, sb):
        self.desk = Desk(self.test, sb, self.cookie)
        self.sockets += 1
        self.here = set()  # on this socket
        msg = dict(type="conversation.history", conversation=self.conv, id="h")
        if self.seen:
            msg["after"] = max(self.seen)  # a desk that reconnects
        self.desk.send(**msg)
        self.loaded = False

    def take(self, m):
        if m.get("type") == "conversation.history" and m.get("id") == "h":
            self.test.assertFalse(self.loaded, m)
            self.loaded = True
            for x in m["messages"]:
                if x["from"] == "resident":
                    self.count(x["seq"])
        elif m.get("type") == "conversation.message" and \
                m.get("conversation") == self.conv:
            # Nothing live before the history: it follows it.
            self.test.assertTrue(self.loaded, m)
            if m["from"] == "resident":
                self.count(m["seq"])
        elif m.get("type") == "error":
            self.test.fail("desk error %r" % m)

    def count(self, seq):
        if seq in self.here:
            self.twice.add(seq)
        self.here.add(seq)
        self.seen.add(seq)

    def drain(self):
        """Reads what has come; False when the socket has gone."""
        try:
            while ready(self.desk):
                self.take(self.desk.next(10))
        except (EOFError, ConnectionError, OSError):
            return False
        return True

    def settle(self, want, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not want <= self.seen:
            try:
                self.take(self.desk.next(max(0.1,
                                             deadline - time.monotonic())))
            except OSError:
                break
        # And nothing more comes for a moment (no late copies).
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            if ready(self.desk):
                self.take(self.desk.next(10))
            else:
                time.sleep(0.05)


class ChatFailoverTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.over = {"router": {"grace_period": 30, "sweep_interval_ms": 100},
                    "widget_origins": [WIDGET],
                    "chat": {"idle_timeout": IDLE},
                    # The burst below is not rate limited.
                    "limits": {"ws_messages_per_minute": 60000}}
        first = harness.Switchboard(cls.pg, cls.redis, cls.over,
                                    dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", first.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO councils (slug, name) VALUES ('demo', 'Demo"
            " Council') ON CONFLICT DO NOTHING;"
            "INSERT INTO queues (id, slug, name) VALUES (41, 'tax', 'Tax');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (41, 'chat', 60, 30);",
            dbname=cls.db)
        cls.passwords = {}
        for login, role in (("ada", "advisor"), ("sue", "supervisor")):
            r = harness.run_switchboard(
                ["-c", first.conf, "user", "add", "--role", role,
                 "--name", login.title() + " Advisor", login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql("INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, 41 FROM staff_users WHERE login = 'ada';"
                    # Capacity for every chat of these tests.
                    "UPDATE channel_settings SET default_capacity = 10"
                    " WHERE channel = 'chat'",
                    dbname=cls.db)

    def daemons(self, n):
        sbs = [harness.Switchboard(self.pg, self.redis, self.over,
                                   dbname=self.db, start=False)
               for _ in range(n)]
        for sb in sbs:
            sb.start()
            self.addCleanup(sb.kill)
        for sb in sbs:
            sb.wait_ready()
        return sbs

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    # Signs login in on sb; the session cookie.
    cookie = test_chat.ChatTest.cookie

    def advisor(self, sb):
        d = Desk(self, sb, self.cookie(sb, "ada"))
        d.status("available")
        return d

    def accept(self, desk, r):
        desk.wait_for("offer", conversation=r.conv)
        desk.send(type="offer.accept", conversation=r.conv, id="acc")
        desk.wait_for("offer.accepted", id="acc")
        r.wait_for("chat.assigned")

    # ------------------------------------------------------------------

    def test_a_survivor_times_out_the_chats_of_a_dead_instance(self):
        """Item 6: the instance holding a waiting and an assigned chat is
        killed; a survivor ends both once their detached grace (counted
        from the death) is over. A third chat, resumed elsewhere, goes on."""
        live, doomed = self.daemons(2)
        desk = self.advisor(live)
        assigned = Resident(self, doomed)
        assigned.start()
        self.accept(desk, assigned)
        desk.send(type="conversation.history", conversation=assigned.conv, id="h")
        desk.wait_for("conversation.history", id="h")
        resumed = Resident(self, doomed)
        resumed.start()
        self.accept(desk, resumed)
        desk.status("busy")  # the next one waits
        waiting = Resident(self, doomed)
        waiting.start()
        waiting.wait_for("chat.queued")
        killed = time.monotonic()
        doomed.kill()
        # The widget of one of them comes back on the survivor at once.
        back = Resident(self, live)
        back.send(type="chat.resume", token=resumed.token, after=0,
                  id="res")
        self.assertEqual(back.wait_for("chat.resumed", id="res")["state"],
                         "assigned")
        # The survivor takes the other two over...
        live.wait_log(r"chat\.adopted.*chats=2", timeout=DEAD + 10)
        back.ack(back.say("hello again"))  # not idle
        ended = "SELECT coalesce(s.ended_by, '') || '|' || c.status FROM" \
                " chat_sessions s JOIN conversations c ON c.id =" \
                " s.conversation_id WHERE c.id = %s"
        self.assertEqual(self.sql(ended % assigned.conv), "|assigned")
        # ... and ends them once the grace since the death is over.
        desk.wait_for("chat.presence", conversation=assigned.conv,
                      online=False)
        desk.wait_for("conversation.finished", conversation=assigned.conv, by="system",
                      timeout=IDLE + DEAD + 15)
        back.ack(back.say("and again"))
        harness.wait_for(lambda: self.sql(ended % waiting.conv) ==
                         "system|closed", 15, what="waiting chat ended")
        took = time.monotonic() - killed
        self.assertGreaterEqual(took, IDLE - 3)
        self.assertEqual(self.sql(ended % assigned.conv), "system|wrap_up")
        # Out of routing: not offered to anyone any more.
        self.assertEqual(self.sql(
            "SELECT count(*) FROM conversation_events WHERE"
            " conversation_id = %s AND kind = 'route.released'"
            % waiting.conv), "1")
        # The resumed one is not the survivor's to give up: still open
        # (it writes, so it is not idle either).
        self.assertEqual(self.sql(ended % resumed.conv), "|assigned")
        back.send(type="chat.end", id="e")
        back.wait_for("chat.ended")

    def test_an_instance_taken_for_dead_takes_its_chats_back(self):
        """Item 6: an instance that only looked dead (its beat stopped
        reaching Redis) gets back the chats whose resident it holds, so
        the instance that took them over does not time them out."""
        a, b = self.daemons(2)
        desk = self.advisor(b)
        r = Resident(self, a)
        r.start()
        self.accept(desk, r)
        desk.status("away")
        holder = self.redis.cli("HGET", "sb:chat:held", r.conv)
        self.assertTrue(holder, "registered")
        # a's beat looks just too old (until b's beat comes before a's
        # next one): b takes its chats over, as detached since then, with
        # the detached grace (IDLE) still to run: time for a to take its
        # chat back. (A beat made to look decades old had b end the chat
        # at its next sweep, before a could: the test raced.)
        def taken_over():
            secs, usecs = self.redis.cli("TIME").split()
            just_dead = int(secs) * 1000 + int(usecs) // 1000 \
                - (DEAD + 1) * 1000
            self.redis.cli("ZADD", "sb:chat:alive", str(just_dead), holder)
            return "chat.adopted chats=1" in b.log_text()
        harness.wait_for(taken_over, 30, interval=0.2,
                         what="b taking a's chat over")
        # a hears of it on its next beat and takes the chat back.
        a.wait_log(r"chat\.registry_renewed", timeout=DEAD + 10)
        harness.wait_for(lambda: self.redis.cli(
            "HGET", "sb:chat:held", r.conv) == holder, 10,
            what="the chat registered to a again")
        r.ack(r.say("still here"))
        r.send(type="chat.end")
        r.wait_for("chat.ended")
        harness.wait_for(lambda: self.redis.cli(
            "HEXISTS", "sb:chat:held", r.conv) == "0", 10,
            what="the ended chat unregistered")

    def die_unpublished(self, sb, conv, during, before):
        """Kills sb while what it committed last is not yet published:
        Redis takes no writes (PUBLISH included) for a moment, the
        messages in flight commit, sb dies, and Redis drops the commands
        its clients had sent meanwhile (CLIENT KILL of every normal
        client: the survivor's reconnect). The moment a busy instance can
        die in, between its commit and its publication, made certain."""
        self.redis.cli("CLIENT", "PAUSE", "10000", "WRITE")
        try:
            during()  # messages sent now are committed, not published
            last, same = None, 0
            deadline = time.monotonic() + 5
            while same < 3 and time.monotonic() < deadline:
                n = self.sql("SELECT count(*) FROM messages WHERE"
                             " conversation_id = %s" % conv)
                same = same + 1 if n == last else 0
                last = n
                time.sleep(0.1)
            before()
            sb.kill()
            self.redis.cli("CLIENT", "KILL", "TYPE", "normal")
        finally:
            self.redis.cli("CLIENT", "UNPAUSE")

    def test_desks_get_every_acknowledged_message_once(self):
        """Item 10: a resident writes a burst on an instance that is
        killed half-way through, between committing messages and
        publishing them (die_unpublished); desks open on both instances
        at random
        moments (those on the killed one open again on the survivor, from
        the last message they hold). Every acknowledged message reaches
        every desk, and no socket gets one twice. (A desk that reconnects
        may be sent again what it had from the dead instance, when the
        resident sends it again: it keeps each once by seq.)"""
        rng = random.Random(os.environ.get("SB_TEST_SEED", "chat"))
        live, doomed = self.daemons(2)
        desk = self.advisor(live)
        r = Resident(self, doomed)
        r.start()
        self.accept(desk, r)
        desk.status("busy")
        sue = self.cookie(live, "sue")
        observers = [Observer(self, live, sue, r.conv)]
        token, conv = r.token, r.conv
        total, window, kill_at = 400, 32, rng.randint(150, 250)
        opens = set(rng.sample(range(total), 24))
        cids = [str(uuid.uuid4()) for _ in range(total)]
        acked = {}
        inflight = []
        sent = 0
        killed = False
        def take(m):
            if m.get("type") == "message.ack":
                acked[m["client_id"]] = m["seq"]
                if m["client_id"] in inflight:
                    inflight.remove(m["client_id"])
            elif m.get("type") == "error":
                # unavailable: not passed on; sent again.
                self.assertEqual(m["code"], "unavailable", m)
                r.send(type="message.send", id=m["id"], client_id=m["id"],
                       text="burst %d" % cids.index(m["id"]))

        deadline = time.monotonic() + 120
        def send_more(most):
            nonlocal sent
            while len(inflight) < most and sent < total:
                cid = cids[sent]
                inflight.append(cid)
                try:
                    r.send(type="message.send", id=cid, client_id=cid,
                           text="burst %d" % sent)
                except OSError:
                    pass  # its instance died: sent again after the resume
                if sent in opens:
                    sb = live if rng.random() < 0.5 or killed else doomed
                    observers.append(Observer(self, sb, sue, r.conv))
                sent += 1

        def read_acks():  # what the widget had before the end
            while ready(r):
                take(r.next(10))

        while len(acked) < total and time.monotonic() < deadline:
            if not killed and sent >= kill_at:
                read_acks()
                self.die_unpublished(doomed, r.conv,
                                     lambda: send_more(len(inflight) + 8),
                                     read_acks)
                killed = True
            send_more(window)
            try:
                # What came, each taken as it is read: an ack read just
                # before the socket died counts.
                take(r.next(10))
                while ready(r):
                    take(r.next(10))
            except (EOFError, ConnectionError, OSError):
                # The instance died: back on the survivor, the messages
                # not acknowledged sent again with the same client ids.
                self.assertTrue(killed)
                r = Resident(self, live)
                r.token, r.conv = token, conv
                r.send(type="chat.resume", token=token, after=0, id="res")
                r.wait_for("chat.resumed", id="res")
                for cid in inflight:
                    r.send(type="message.send", id=cid, client_id=cid,
                           text="burst %d" % cids.index(cid))
                continue
            for o in observers:
                if not o.drain():
                    o.open(live)  # its instance died: reconnect
        self.assertTrue(killed)
        self.assertEqual(len(acked), total)
        want = set(acked.values())
        # Stored once each.
        self.assertEqual(self.sql(
            "SELECT count(*) FROM messages WHERE conversation_id = %s"
            % r.conv), str(total))
        for o in observers:
            if not o.drain():
                o.open(live)
            o.settle(want)
            missing = sorted(want - o.seen)
            self.assertEqual((missing, sorted(o.twice)), ([], []),
                             "a desk (%d sockets) missed %d, and %d came "
                             "twice on one socket"
                             % (o.sockets, len(missing), len(o.twice)))
        r.send(type="chat.end", id="e")
        r.wait_for("chat.ended")


if __name__ == "__main__":
    harness.main()
