"""Routing over /ws with three daemons on one Redis and one PostgreSQL:
staff sign in (POST /api/session) and open their desk socket
(switchboard.v1) on one instance, residents start chats on others (on
switchboard.chat.v1, the widget's protocol: switchboard.v1 is the staff
protocol only); offers reach the right desk through sb:route,
accept/reject/timeout behave, residents see their queue position,
authorisation is per message, and a desk that vanishes has its chats
re-queued after the grace period."""

import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WIDGET_ORIGIN = "https://www.council.example"
GRACE = 2  # router.grace_period used here (seconds)


class Desk(harness.JsonSocket):
    def __init__(self, test, sb, cookie):
        super().__init__(test, sb.websocket(headers={"Cookie": cookie}))
        hello = self.next()
        test.assertEqual(hello["type"], "hello")
        ready = self.next()
        test.assertEqual(ready["type"], "desk.ready", ready)
        self.staff = str(ready["staff"])

    def status(self, status):
        self.send(type="desk.status", status=status, id="st")
        self.wait_for("desk.status.ok", id="st")

    def next_of(self, types, id_, timeout=10):
        """The answer with this id, whichever of types it is."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.pending):
                if m.get("type") in types and m.get("id") == id_:
                    return self.pending.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no answer %s to %s" % (types, id_))
            op, payload = self.ws.recv_message(left)
            self.test.assertEqual(op, 1, payload)
            self.pending.append(json.loads(payload))

    def release(self, conv):
        self.send(type="conversation.release", conversation=conv,
                  why="closed", id="rel")
        self.wait_for("conversation.released", id="rel")


def chat_resident(test, sb, origin=WIDGET_ORIGIN):
    """A resident on switchboard.chat.v1 (test_chat.Resident; imported
    here, when called, because test_chat imports this module). Its chat is
    ended when the test ends, as closing a switchboard.v1 resident's socket
    abandoned its chat: a chat left waiting would stand in the queue of the
    next test for the detached grace (2 minutes)."""
    from test_chat import Resident

    r = Resident(test, sb, origin=origin)

    def end():
        try:
            r.send(type="chat.end")
        except OSError:
            pass
    test.addCleanup(end)
    return r


def next_place(test, r, old, timeout=10):
    """The resident's next place in the queue other than old (the same
    place may be told twice: by the chat channel, and by the positions
    pushed to waiting residents)."""
    deadline = time.monotonic() + timeout
    while True:
        m = r.wait_for("chat.queued", timeout=max(0.1, deadline -
                                                  time.monotonic()))
        if m["position"] != old:
            return m["position"]


class RoutingTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        over = {"router": {"grace_period": GRACE, "sweep_interval_ms": 100},
                "widget_origins": [WIDGET_ORIGIN]}
        cls.sbs = [harness.Switchboard(cls.pg, cls.redis, over,
                                       dbname=cls.db, start=False)
                   for _ in range(3)]
        r = harness.run_switchboard(["-c", cls.sbs[0].conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (21, 'tax', 'Tax');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (21, 'chat', 60, 5);"
            # Closed today (a closure day), each with its own rule.
            "INSERT INTO queues (id, slug, name, out_of_hours_message,"
            " overflow_queue_id, overflow_after_s) VALUES"
            " (22, 'shut', 'Shut', 'Closed for training today.', NULL, NULL),"
            " (23, 'msg', 'Msg', 'Leave us a message.', NULL, NULL),"
            " (24, 'over', 'Over', '', 21, 60);"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " out_of_hours) VALUES (22, 'chat', 60, 'closed'),"
            " (23, 'chat', 60, 'leave_message'), (24, 'chat', 60, 'overflow');"
            "INSERT INTO queue_hours (queue_id, weekday, opens_at, closes_at)"
            " SELECT q, d, '00:00', '24:00' FROM generate_series(22, 24) q,"
            " generate_series(1, 7) d;"
            "INSERT INTO closure_days (queue_id, day, name) SELECT q,"
            " (now() AT TIME ZONE 'Europe/London')::date, 'Training'"
            " FROM generate_series(22, 24) q;"
            # Complaints: advisors pick chats from the queue view.
            "INSERT INTO queues (id, slug, name) VALUES (25, 'fb', 'Fb');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " routing_mode) VALUES (25, 'chat', 60, 'pull');", dbname=cls.db)
        cls.passwords = {}
        for login in ("ada", "bob", "sue", "cat", "kim"):
            role = "supervisor" if login == "sue" else "advisor"
            r = harness.run_switchboard(
                ["-c", cls.sbs[0].conf, "user", "add", "--role", role,
                 "--name", login.title(), login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        cls.pg.psql("INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, 21 FROM staff_users WHERE login IN "
                    "('ada', 'bob');"
                    "INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, 25 FROM staff_users WHERE login IN "
                    "('ada', 'bob');"
                    # Only cat serves 'solo'.
                    "INSERT INTO queues (id, slug, name) VALUES"
                    " (26, 'solo', 'Solo');"
                    "INSERT INTO queue_channels (queue_id, channel,"
                    " answer_target_s) VALUES (26, 'chat', 60);"
                    "INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, 26 FROM staff_users WHERE login = 'cat';"
                    # kim serves tax and fb: present (away), a chat queues
                    # there although nobody takes it.
                    "INSERT INTO queue_members (staff_id, queue_id) "
                    "SELECT id, q FROM staff_users, (VALUES (21), (25))"
                    " v(q) WHERE login = 'kim'",
                    dbname=cls.db)
        for sb in cls.sbs:
            sb.start()
        for sb in cls.sbs:
            sb.wait_ready()

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def login(self, sb, login, password=None):
        r = sb.request("POST", "/api/session",
                       headers={"Content-Type": "application/json"},
                       body=json.dumps({"login": login, "password":
                                        password or self.passwords[login]}
                                       ).encode())
        return r

    def cookie(self, sb, login):
        r = self.login(sb, login)
        self.assertEqual(r.status, 200, r.body)
        set_cookie = r.headers["set-cookie"]
        self.assertIn("HttpOnly", set_cookie)
        self.assertIn("Secure", set_cookie)
        self.assertIn("SameSite=Strict", set_cookie)
        self.assertTrue(set_cookie.startswith("__Host-sb_session="))
        return set_cookie.split(";", 1)[0]

    def resident(self, sb, name="Ann", queue="tax"):
        """A resident whose chat waits in queue (once chat.started: it is
        committed as waiting)."""
        r = chat_resident(self, sb)
        r.start(queue=queue, name=name)
        return r, r.conv

    def present(self, sb=None):
        """kim's desk, away: the queue has a member present, so a chat
        starts (an unserved queue answers chat.closed) and waits."""
        sb = sb or self.sbs[0]
        kim = Desk(self, sb, self.cookie(sb, "kim"))
        kim.status("away")
        return kim

    def leave(self, r):
        """The resident ends the chat (abandoned while it waits)."""
        r.send(type="chat.end", id="end")
        r.wait_for("chat.ended", by="resident")

    def kinds(self, conv):
        """The conversation's routing events in the order of their
        decisions (route_version: a history row may be written after a
        later decision's), comma-separated. The chat channel's own
        (chat.started) are not routing's."""
        return self.sql("SELECT string_agg(kind, ',' ORDER BY route_version,"
                        " id) FROM conversation_events WHERE "
                        "conversation_id = %s AND kind LIKE 'route.%%'"
                        % conv)

    def recv_type(self, ws, type_, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = json.loads(ws.recv_message(deadline - time.monotonic())[1])
            if m["type"] == type_:
                return m
        self.fail("no %s" % type_)

    # ------------------------------------------------------------------

    def test_out_of_hours(self):
        time.sleep(1.5)  # the daemons' first reading of opening hours
        self.present()  # tax, the overflow queue, is served
        ws, m = self.widget_start(self.sbs[0], "shut", "Out of hours")
        self.assertEqual(m["type"], "chat.closed", m)
        self.assertEqual(m["message"], "Closed for training today.")
        self.assertFalse(m["leave_message"])
        # Open again tomorrow at midnight, local time.
        self.assertGreater(m["next_open_ms"], time.time() * 1000)
        self.assertLess(m["next_open_ms"], (time.time() + 2 * 86400) * 1000)
        self.assertEqual(m["queue"], "shut")
        ws, m = self.widget_start(self.sbs[1], "msg", "Out of hours")
        self.assertEqual(m["type"], "chat.closed", m)
        self.assertTrue(m["leave_message"])
        ws, m = self.widget_start(self.sbs[2], "over", "Out of hours")
        self.assertEqual(m["type"], "chat.started", m)
        self.assertEqual(self.sql("SELECT queue_id FROM conversations WHERE "
                                  "id = %s" % m["conversation"]), "21")
        ws.send_text(json.dumps({"type": "chat.end", "id": 6}))
        self.recv_type(ws, "chat.ended")
        self.assertEqual(self.sql("SELECT count(*) FROM conversations c "
                                  "JOIN queues q ON q.id = c.queue_id "
                                  "WHERE q.slug IN ('shut', 'msg')"), "0")

    def test_login_errors(self):
        sb = self.sbs[0]
        r = self.login(sb, "ada", "wrong password")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid login or password")
        r = self.login(sb, "nobody", "x")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid login or password")
        r = sb.request("POST", "/api/session",
                       headers={"Content-Type": "text/plain"}, body=b"{}")
        self.assertEqual(r.status, 415)
        r = sb.request("POST", "/api/session",
                       headers={"Content-Type": "application/json"},
                       body=b"{not json")
        self.assertEqual(r.status, 400)

    def test_offer_accept_across_instances(self):
        desk = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "ada"))
        desk.status("available")
        r, conv = self.resident(self.sbs[1])
        offer = desk.wait_for("offer", conversation=conv)
        self.assertEqual(offer["channel"], "chat")
        desk.send(type="offer.accept", conversation=conv, id="a1")
        desk.wait_for("offer.accepted", id="a1")
        r.wait_for("chat.assigned")
        self.assertEqual(self.sql(
            "SELECT status || ':' || assigned_staff_id FROM conversations "
            "WHERE id = %s" % conv), "assigned:%s" % desk.staff)
        # Accepting it twice, or someone else's, is refused.
        desk.send(type="offer.accept", conversation=conv, id="a2")
        err = desk.wait_for("error", id="a2")
        self.assertEqual(err["code"], "not_offered")
        desk.release(conv)
        desk.status("away")

    def test_widget_origin_is_never_a_desk(self):
        # A page of a site embedding the widget, whose browser holds a
        # staff session cookie (same site as the desk), opens a socket:
        # it is a resident's; the cookie is not read.
        sb = self.sbs[1]
        ws = sb.websocket(origin=WIDGET_ORIGIN,
                          headers={"Cookie": self.cookie(sb, "ada")})
        self.addCleanup(ws.close)
        self.assertEqual(json.loads(ws.recv_message()[1])["type"], "hello")
        ws.send_text(json.dumps({"type": "desk.status",
                                 "status": "available", "id": 3}))
        m = self.recv_type(ws, "error")
        self.assertEqual(m["code"], "unauthorised")
        # Residents do not chat on switchboard.v1 (the staff protocol)...
        ws.send_text(json.dumps({"type": "chat.start", "queue": "tax",
                                 "name": "Widget", "id": 4}))
        m = self.recv_type(ws, "error")
        self.assertEqual((m["code"], m["id"]), ("wrong_protocol", 4), m)
        self.assertIn("switchboard.chat.v1", m["message"])
        # ... but on switchboard.chat.v1, which never reads the cookie.
        self.present()
        r = chat_resident(self, sb)
        r.start(name="Widget")
        self.leave(r)
        # Another origin, in neither list, is refused at the handshake.
        with self.assertRaises(harness.WebSocketError):
            sb.websocket(origin="https://evil.example").close()

    def board_of(self, desk, pred, timeout=15):
        """The next wallboard pushed to desk for which pred holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = desk.wait_for("wallboard", timeout=deadline -
                              time.monotonic())
            if pred(m["board"]):
                return m["board"]
        self.fail("no wallboard as expected")

    def test_wallboard_for_supervisors_live(self):
        def tax(board):
            return [q for q in board["queues"] if q["slug"] == "tax"][0]

        ada = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "ada"))
        ada.send(type="wallboard.watch", id="w")
        self.assertEqual(ada.wait_for("error", id="w")["code"], "forbidden")
        sue = Desk(self, self.sbs[1], self.cookie(self.sbs[1], "sue"))
        sue.send(type="wallboard.watch", id="w")
        sue.wait_for("wallboard.watching", id="w")
        first = sue.wait_for("wallboard")["board"]
        answered = tax(first)["answered"]
        # A chat waits: seen on the board within its 2 s period.
        self.present()
        r, conv = self.resident(self.sbs[2])
        b = self.board_of(sue, lambda b: tax(b)["waiting"] >= 1)
        self.assertLessEqual(tax(b)["oldest_since_ms"], time.time() * 1000)
        # ada takes it: answered within target, ada busy with one chat.
        ada.status("available")
        ada.wait_for("offer", conversation=conv)
        ada.send(type="offer.accept", conversation=conv, id="a")
        ada.wait_for("offer.accepted", id="a")
        # Today's figures are read every 10 s.
        b = self.board_of(sue, lambda b: tax(b)["answered"] > answered
                          and any(str(a["staff"]) == ada.staff and
                                  a["load"].get("chat") == 1
                                  for a in b["advisors"]), timeout=30)
        self.assertEqual(tax(b)["answered_in_target"] -
                         tax(first)["answered_in_target"],
                         tax(b)["answered"] - answered)
        me = [a for a in b["advisors"] if str(a["staff"]) == ada.staff]
        self.assertEqual(len(me), 1, b["advisors"])
        self.assertEqual(me[0]["status"], "available")
        self.assertEqual(me[0]["load"].get("chat"), 1)
        self.assertIn("chat", me[0]["capacity"])
        ada.release(conv)
        ada.status("away")
        sue.send(type="wallboard.unwatch", id="u")
        sue.wait_for("wallboard.unwatched", id="u")

    def test_wrap_up_then_close(self):
        desk = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "bob"))
        desk.status("available")
        r, conv = self.resident(self.sbs[1])
        desk.wait_for("offer", conversation=conv)
        desk.send(type="offer.accept", conversation=conv, id="a")
        desk.wait_for("offer.accepted", id="a")
        desk.send(type="conversation.release", conversation=conv,
                  why="wrapped", id="w")
        desk.wait_for("conversation.released", id="w")
        self.assertEqual(self.sql("SELECT status FROM conversations WHERE"
                                  " id = %s" % conv), "wrap_up")
        # Out of routing now; closing it closes the row, once.
        desk.release(conv)
        self.assertEqual(self.sql("SELECT status FROM conversations WHERE"
                                  " id = %s" % conv), "closed")
        desk.send(type="conversation.release", conversation=conv,
                  why="closed", id="again")
        self.assertEqual(desk.wait_for("error", id="again")["code"],
                         "not_found")
        desk.status("away")

    def test_resident_cannot_act_as_staff(self):
        self.present()
        r, conv = self.resident(self.sbs[2], "Mallory")
        # A switchboard.v1 socket without a staff session...
        ws = self.sbs[2].websocket()
        self.addCleanup(ws.close)
        self.recv_type(ws, "hello")
        ws.send_text(json.dumps({"type": "offer.accept",
                                 "conversation": conv, "id": 9}))
        m = self.recv_type(ws, "error")
        self.assertEqual(m["code"], "unauthorised")
        # ... nor the resident's own socket.
        r.send(type="offer.accept", conversation=conv, id=9)
        self.assertEqual(r.wait_for("error", id=9)["code"], "unknown_type")
        self.assertEqual(self.sql("SELECT status FROM conversations WHERE "
                                  "id = %s" % conv), "waiting")
        self.leave(r)
        # The resident is told before routing's events are committed.
        released = ("SELECT count(*) FROM conversation_events WHERE "
                    "conversation_id = %s AND kind = 'route.released'" % conv)
        harness.wait_for(lambda: self.sql(released) != "0", 10,
                         what="route.released recorded")
        self.assertEqual(self.sql(released), "1")

    def test_reject_goes_to_other_advisor_and_position(self):
        ada = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "ada"))
        bob = Desk(self, self.sbs[2], self.cookie(self.sbs[2], "bob"))
        self.present()
        r, conv = self.resident(self.sbs[1], "Queue")
        m = r.wait_for("chat.queued")
        self.assertEqual(m["position"], 1)
        ada.send(type="desk.status", status="available", id="s")
        offer = ada.wait_for("offer", conversation=conv)
        self.assertTrue(offer)
        bob.status("available")
        ada.send(type="offer.reject", conversation=conv, id="x")
        ada.wait_for("offer.rejected", id="x")
        bob.wait_for("offer", conversation=conv)
        bob.send(type="offer.accept", conversation=conv, id="y")
        bob.wait_for("offer.accepted", id="y")
        r.wait_for("chat.assigned")
        self.assertEqual(self.kinds(conv),
                         "route.queued,route.offered,route.rejected,"
                         "route.offered,route.accepted")
        for d in (ada, bob):
            d.status("away")
        bob.release(conv)

    def test_desk_reopened_in_grace_sees_what_it_holds(self):
        ada = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "ada"))
        snap = ada.wait_for("desk.conversations")
        self.assertEqual(snap["conversations"], [])
        ada.status("available")
        r, conv = self.resident(self.sbs[1], "Kept")
        ada.wait_for("offer", conversation=conv)
        ada.send(type="offer.accept", conversation=conv, id="a")
        ada.wait_for("offer.accepted", id="a")
        r2, conv2 = self.resident(self.sbs[2], "Offered")
        ada.wait_for("offer", conversation=conv2)
        ada.ws.close()
        # Back within the grace period, on another instance: the new desk
        # is told what it still holds, with no message lost meanwhile.
        ada = Desk(self, self.sbs[2], self.cookie(self.sbs[2], "ada"))
        snap = ada.wait_for("desk.conversations")
        held = {c["conversation"]: c for c in snap["conversations"]}
        self.assertEqual(sorted(held), sorted([conv, conv2]))
        self.assertEqual(held[conv]["state"], "assigned")
        self.assertEqual(held[conv]["channel"], "chat")
        self.assertEqual(held[conv2]["state"], "offered")
        self.assertGreater(held[conv2]["deadline_ms"],
                           int(time.time() * 1000))
        # Going away withdraws the open offer at once (not after its
        # time-out); the assignment stays.
        ada.status("away")
        m = ada.wait_for("conversation.removed", conversation=conv2)
        self.assertEqual(m["reason"], "withdrawn")
        harness.wait_for(lambda: "route.withdrawn" in self.kinds(conv2), 10,
                         what="route.withdrawn recorded")
        ada.release(conv)
        self.leave(r2)

    def widget_start(self, sb, queue, name):
        """A switchboard.chat.v1 resident starts a chat: its first answer
        (chat.started or chat.closed)."""
        ws = sb.websocket(origin=WIDGET_ORIGIN,
                          protocol="switchboard.chat.v1")
        self.addCleanup(ws.close)
        self.assertEqual(json.loads(ws.recv_message()[1])["type"], "hello")
        ws.send_text(json.dumps({"type": "chat.start", "queue": queue,
                                 "name": name, "id": 1}))
        while True:
            m = json.loads(ws.recv_message()[1])
            if m["type"] in ("chat.started", "chat.closed", "error"):
                return ws, m

    def test_unserved_from_live_presence(self):
        # Cat's desk is on an instance that is killed without signing
        # out, and the routing state is lost before the grace period
        # ends: PostgreSQL's last status of cat says "available" for ever.
        over = {"router": {"grace_period": GRACE, "sweep_interval_ms": 100},
                "widget_origins": [WIDGET_ORIGIN]}
        doomed = harness.Switchboard(self.pg, self.redis, over,
                                     dbname=self.db)
        self.addCleanup(doomed.kill)
        doomed.wait_ready()
        cat = Desk(self, doomed, self.cookie(doomed, "cat"))
        cat.status("available")
        ws, m = self.widget_start(self.sbs[0], "solo", "Served")
        self.assertEqual(m["type"], "chat.started", m)
        ws.send_text(json.dumps({"type": "chat.end", "id": 2}))
        epoch = self.redis.cli("GET", "sb:epoch").strip()
        doomed.kill()
        self.redis.cli("FLUSHALL")
        harness.wait_for(lambda: self.redis.cli("GET", "sb:epoch").strip()
                         not in ("", epoch), 30, what="routing rebuilt")
        self.sbs[0].wait_ready()
        self.assertEqual(self.sql(
            "SELECT status FROM staff_status_events e JOIN staff_users u ON"
            " u.id = e.staff_id WHERE u.login = 'cat' ORDER BY"
            " route_version DESC LIMIT 1"), "available")
        # Nobody is there: once the grace period after the rebuild is
        # over (live desks announce themselves again within it, and until
        # then a chat queues), the resident is offered to leave a message.
        def unserved():
            ws, m = self.widget_start(self.sbs[0], "solo", "Unserved")
            if m["type"] == "chat.started":
                ws.send_text(json.dumps({"type": "chat.end", "id": 2}))
                return None
            return m
        m = harness.wait_for(unserved, 30, interval=0.5,
                             what="chat.closed unserved")
        self.assertEqual(m["type"], "chat.closed", m)
        self.assertEqual(m["reason"], "unserved")
        self.assertTrue(m["leave_message"])
        # Cat signs in again elsewhere: chats queue for cat.
        cat = Desk(self, self.sbs[1], self.cookie(self.sbs[1], "cat"))
        cat.status("available")
        ws, m = self.widget_start(self.sbs[2], "solo", "Served again")
        self.assertEqual(m["type"], "chat.started", m)
        ws.send_text(json.dumps({"type": "chat.end", "id": 2}))
        cat.status("away")

    def test_history_right_after_an_accept_is_never_refused(self):
        # Desks hear of an assignment only once PostgreSQL has it, so
        # conversation.history asked the moment a desk hears of it is answered:
        # on the accepting desk (offer.accepted), on another desk of the
        # same advisor on another instance (conversation.assigned), and on
        # a desk opened while the acceptance is on its way (its
        # desk.conversations snapshot).
        ada = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "ada"))
        ada2 = Desk(self, self.sbs[1], self.cookie(self.sbs[1], "ada"))
        ada.status("available")
        refused = []

        def history(desk, conv, tag):
            desk.send(type="conversation.history", conversation=conv, id=tag)
            m = desk.next_of(("conversation.history", "error"), tag)
            if m["type"] != "conversation.history":
                refused.append((tag, m))

        for i in range(15):
            ws, m = self.widget_start(self.sbs[2], "tax", "History %d" % i)
            self.assertEqual(m["type"], "chat.started", m)
            conv = m["conversation"]
            ada.wait_for("offer", conversation=conv)
            ada.send(type="offer.accept", conversation=conv, id="acc")
            late = Desk(self, self.sbs[2], self.cookie(self.sbs[2], "ada"))
            ada.wait_for("offer.accepted", id="acc")
            history(ada, conv, "h0-%d" % i)
            ada2.wait_for("conversation.assigned", conversation=conv)
            history(ada2, conv, "h1-%d" % i)
            snap = late.wait_for("desk.conversations")
            held = [c["conversation"] for c in snap["conversations"]
                    if c["state"] == "assigned"]
            if conv in held:
                history(late, conv, "h2-%d" % i)
            else:
                late.wait_for("conversation.assigned", conversation=conv)
                history(late, conv, "h2-%d" % i)
            late.ws.close()
            ada.release(conv)
        self.assertEqual(refused, [])
        ada.status("away")

    def test_only_advisor_gets_a_rejected_chat_again(self):
        # A refusal holds only while someone else could take the chat:
        # alone on shift, the advisor who rejected it is offered it again
        # at once, and the resident is not stranded.
        ada = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "ada"))
        ada.status("available")
        r, conv = self.resident(self.sbs[1], "Alone")
        ada.wait_for("offer", conversation=conv)
        ada.send(type="offer.reject", conversation=conv, id="x")
        ada.wait_for("offer.rejected", id="x")
        ada.wait_for("offer", conversation=conv)
        ada.send(type="offer.accept", conversation=conv, id="y")
        ada.wait_for("offer.accepted", id="y")
        r.wait_for("chat.assigned")
        ada.status("away")
        ada.release(conv)

    def test_position_pushed_when_it_changes(self):
        # Nobody is available: three residents wait, on three instances.
        self.present()
        r1, c1 = self.resident(self.sbs[0], "First")
        self.assertEqual(r1.wait_for("chat.queued")["position"], 1)
        r2, c2 = self.resident(self.sbs[1], "Second")
        self.assertEqual(r2.wait_for("chat.queued")["position"], 2)
        r3, c3 = self.resident(self.sbs[2], "Third")
        self.assertEqual(r3.wait_for("chat.queued")["position"], 3)
        # The first leaves: the others move up at once, pushed by the
        # instances holding their sockets (well before the 10 s re-check).
        t0 = time.monotonic()
        self.leave(r1)
        self.assertEqual(next_place(self, r2, 2, timeout=5), 1)
        self.assertEqual(next_place(self, r3, 3, timeout=5), 2)
        self.assertLess(time.monotonic() - t0, 5)
        for r in (r2, r3):
            self.leave(r)

    def test_pull_queue_view_and_pick(self):
        ada = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "ada"))
        bob = Desk(self, self.sbs[1], self.cookie(self.sbs[1], "bob"))
        sue = Desk(self, self.sbs[2], self.cookie(self.sbs[2], "sue"))
        for d in (ada, bob):
            d.status("available")
        ada.send(type="queue.view", queue="fb", id="v")
        view = ada.wait_for("queue.view", id="v")
        self.assertEqual((view["queue"], view["pulled"],
                          view["conversations"]), (25, 0, []))
        # A supervisor may follow any queue; an advisor only their own.
        sue.send(type="queue.view", queue="25", id="v")
        sue.wait_for("queue.view", id="v")
        sue.send(type="queue.view", queue="21", id="v2")
        sue.wait_for("queue.view", id="v2")
        bob.send(type="queue.view", queue="22", id="v")
        self.assertEqual(bob.wait_for("error", id="v")["code"], "forbidden")
        bob.send(type="queue.view", queue="no-such-queue", id="v3")
        self.assertEqual(bob.wait_for("error", id="v3")["code"],
                         "bad_message")
        for bad in ("x1", "", None, "1" * 30):
            bob.send(type="conversation.pick", conversation=bad, id="p0")
            self.assertEqual(bob.wait_for("error", id="p0")["code"],
                             "bad_message", bad)
        r, conv = self.resident(self.sbs[2], "Complainant", queue="fb")
        self.assertEqual(r.wait_for("chat.queued")["position"], 1)
        # Never offered; the followers' views show it at once.
        for d in (ada, sue):
            m = d.wait_for("queue.view", pulled=1)
            self.assertEqual(m["conversations"][0]["conversation"], conv)
            self.assertEqual(m["conversations"][0]["mode"], "pull")
            self.assertTrue(0 <= m["conversations"][0]["waited_ms"] < 30000)
        bob.send(type="conversation.pick", conversation=conv, id="p")
        bob.wait_for("conversation.picked", id="p")
        r.wait_for("chat.assigned")
        ada.send(type="conversation.pick", conversation=conv, id="p")
        self.assertEqual(ada.wait_for("error", id="p")["code"], "taken")
        ada.wait_for("queue.view", pulled=0)
        self.assertEqual(self.sql(
            "SELECT status || ':' || assigned_staff_id || ':' || (SELECT "
            "string_agg(kind || coalesce(detail->>'picked', ''), ',' ORDER "
            "BY id) FROM conversation_events WHERE conversation_id = c.id"
            " AND kind LIKE 'route.%%')"
            " FROM conversations c WHERE id = %s" % conv),
            "assigned:%s:route.queued,route.acceptedtrue" % bob.staff)
        for d in (ada, bob):
            d.status("away")
        bob.release(conv)
        sue.send(type="queue.unwatch", queue="25", id="u")
        sue.wait_for("queue.unwatched", id="u")

    def test_transfer_to_named_advisor_with_note(self):
        ada = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "ada"))
        bob = Desk(self, self.sbs[1], self.cookie(self.sbs[1], "bob"))
        ada.status("available")
        r, conv = self.resident(self.sbs[2], "Moved")
        ada.wait_for("offer", conversation=conv)
        ada.send(type="offer.accept", conversation=conv, id="a")
        ada.wait_for("offer.accepted", id="a")
        bob.status("available")
        ada.send(type="conversation.transfer", conversation=conv,
                 advisor=bob.staff, note="x" * 4001, id="t0")
        self.assertEqual(ada.wait_for("error", id="t0")["code"],
                         "bad_message")
        # bob may not move ada's conversation
        bob.send(type="conversation.transfer", conversation=conv,
                 queue="21", id="t1")
        self.assertEqual(bob.wait_for("error", id="t1")["code"],
                         "forbidden")
        ada.send(type="conversation.transfer", conversation=conv,
                 advisor=bob.staff, note="Arrears: call back after 3pm",
                 id="t")
        m = ada.wait_for("conversation.transferred", id="t")
        self.assertTrue(m["note_saved"])
        ada.wait_for("conversation.removed", conversation=conv)
        r.wait_for("chat.requeued")
        bob.wait_for("offer", conversation=conv)
        bob.send(type="offer.accept", conversation=conv, id="b")
        bob.wait_for("offer.accepted", id="b")
        self.assertEqual(self.sql(
            "SELECT body || '|' || author_staff_id || '|' || (metadata->>"
            "'kind') || '|' || (metadata->>'advisor') FROM messages WHERE "
            "conversation_id = %s AND direction = 'internal'" % conv),
            "Arrears: call back after 3pm|%s|transfer_note|%s" % (
                ada.staff, bob.staff))
        self.assertEqual(self.kinds(conv),
                         "route.queued,route.offered,route.accepted,"
                         "route.transferred,route.offered,route.accepted")
        for d in (ada, bob):
            d.status("away")
        bob.release(conv)

    def test_vanished_desk_requeued_after_grace(self):
        ada = Desk(self, self.sbs[0], self.cookie(self.sbs[0], "ada"))
        ada.status("available")
        r, conv = self.resident(self.sbs[1], "Lost")
        ada.wait_for("offer", conversation=conv)
        ada.send(type="offer.accept", conversation=conv, id="a")
        ada.wait_for("offer.accepted", id="a")
        r.wait_for("chat.assigned")
        ada.ws.close()
        m = r.wait_for("chat.requeued", timeout=GRACE + 10)
        self.assertEqual(m["reason"], "requeued")
        self.assertEqual(self.sql("SELECT status FROM conversations WHERE "
                                  "id = %s" % conv), "waiting")
        self.leave(r)


if __name__ == "__main__":
    harness.main()
