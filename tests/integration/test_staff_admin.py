"""The admin REST API for staff accounts (gateway/api/api_staff.c,
docs/api.md "Staff accounts"): every endpoint refused 403 to advisors,
supervisors and feedback officers and served to admins; the CSRF header
and JSON content type required on changes; validation answered 400 with
the field; a created account signs in with its one-time password; a
password reset and a disable revoke every session (the open desk socket
is closed 4003, REST calls get 401); the last enabled admin cannot be
disabled or demoted, nor an admin disable themselves; every change
writes its audit row. A new role or queue list reaches an open desk: it is
closed 4005 and, connecting again, served under the new rules (wallboard,
offers); a change of name alone leaves it open."""

import json
import os
import socket
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_accounts import Desk, CLOSE_WITHIN  # noqa: E402
from test_chat import Resident, WIDGET  # noqa: E402

ROLES = {"ada": "admin", "sue": "supervisor", "fay": "feedback_officer",
         "al": "advisor"}


class StaffAdminTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cls.db = cls.pg.createdb()
        cls.sb = harness.Switchboard(cls.pg, cls.redis,
                                     {"widget_origins": [WIDGET]},
                                     dbname=cls.db, start=False)
        r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
        assert r.returncode == 0, r.stderr
        cls.pg.psql(
            "INSERT INTO queues (id, slug, name) VALUES (31, 'tax', 'Tax'),"
            " (32, 'bins', 'Bins');"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " offer_timeout_s) VALUES (31, 'chat', 60, 30);",
            dbname=cls.db)
        cls.passwords = {}
        for login, role in ROLES.items():
            r = harness.run_switchboard(
                ["-c", cls.sb.conf, "user", "add", "--role", role,
                 "--name", login.title(), login])
            assert r.returncode == 0, r.stderr
            cls.passwords[login] = r.stdout.strip().split("=", 1)[1]
        cls.sb.start()
        cls.sb.wait_ready()
        cls.cookies = {}

    def sql(self, q):
        return self.pg.psql(q, dbname=self.db).strip()

    def login(self, login, password=None):
        return self.sb.request(
            "POST", "/api/session",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"login": login, "password":
                             password or self.passwords[login]}).encode())

    def cookie(self, login, fresh=False):
        if fresh or login not in self.cookies:
            r = self.login(login)
            self.assertEqual(r.status, 200, r.body)
            self.cookies[login] = r.headers["set-cookie"].split(";", 1)[0]
        return self.cookies[login]

    def call(self, login, method, path, obj=None, csrf=True,
             ctype="application/json", cookie=None):
        headers = {"Cookie": cookie or self.cookie(login)}
        if method != "GET":
            headers["Content-Type"] = ctype
            if csrf:
                headers["X-Requested-With"] = "admin"
        body = json.dumps(obj).encode() if obj is not None else None
        r = self.sb.request(method, path, headers=headers, body=body,
                            timeout=20)
        return r.status, json.loads(r.body)

    def staff_id(self, login):
        return int(self.sql("SELECT id FROM staff_users WHERE login = '%s'"
                            % login))

    def audits(self, action, object_login):
        return self.sql(
            "SELECT a.actor || ',' || (a.actor_staff_id = (SELECT id FROM"
            " staff_users WHERE login = 'ada')) || ',' || (a.ip IS NOT NULL)"
            " FROM audit_log a JOIN staff_users u ON a.object_id ="
            " u.id::text WHERE a.object_kind = 'staff' AND a.action = '%s'"
            " AND u.login = '%s' ORDER BY a.id" % (action, object_login))

    def create(self, login, **fields):
        body = {"login": login, "name": login.title(), "role": "advisor"}
        body.update(fields)
        status, r = self.call("ada", "POST", "/api/staff", body)
        self.assertEqual(status, 201, r)
        return r

    # ------------------------------------------------------------------

    def test_only_admins(self):
        ada = self.staff_id("ada")
        # GET /api/queues is every signed-in staff member's (test_desk_api).
        calls = [("GET", "/api/staff", None), ("GET", "/api/channels", None),
                 ("POST", "/api/staff", {"login": "x1", "role": "advisor"}),
                 ("PATCH", "/api/staff/%d" % ada, {"name": "X"}),
                 ("POST", "/api/staff/%d/password" % ada, {}),
                 ("POST", "/api/staff/%d/disable" % ada, {}),
                 ("POST", "/api/staff/%d/enable" % ada, {})]
        for login in ("al", "sue", "fay"):
            for method, path, body in calls:
                status, r = self.call(login, method, path, body)
                self.assertEqual(status, 403, (login, method, path, r))
                self.assertEqual(r["error"], "only admins manage accounts")
        self.assertEqual(self.sql("SELECT count(*) FROM staff_users WHERE"
                                  " login = 'x1'"), "0")
        self.assertEqual(self.sql("SELECT display_name FROM staff_users"
                                  " WHERE login = 'ada'"), "Ada")
        # Not signed in: 401, as for every signed-in endpoint.
        r = self.sb.request("GET", "/api/staff")
        self.assertEqual(r.status, 401)
        # An admin is served.
        status, staff = self.call("ada", "GET", "/api/staff")
        self.assertEqual(status, 200, staff)
        by = {s["login"]: s for s in staff}
        self.assertEqual(by["sue"]["role"], "supervisor")
        self.assertEqual(by["fay"]["role"], "feedback_officer")
        self.assertFalse(by["al"]["disabled"])
        self.assertIsInstance(by["ada"]["last_sign_in"], int)
        self.assertEqual(set(by["ada"]) >= {"id", "login", "name", "role",
                                            "disabled", "queues",
                                            "last_sign_in"}, True)
        status, queues = self.call("ada", "GET", "/api/queues")
        self.assertEqual(status, 200)
        self.assertEqual([(q["id"], q["slug"]) for q in queues],
                         [(32, "bins"), (31, "tax")])

    def test_changes_need_csrf_and_json(self):
        ada = self.staff_id("ada")
        for method, path in (("POST", "/api/staff"),
                             ("PATCH", "/api/staff/%d" % ada),
                             ("POST", "/api/staff/%d/password" % ada),
                             ("POST", "/api/staff/%d/disable" % ada),
                             ("POST", "/api/staff/%d/enable" % ada)):
            status, r = self.call("ada", method, path, {}, csrf=False)
            self.assertEqual(status, 403, (path, r))
            self.assertIn("X-Requested-With", r["error"])
            status, r = self.call("ada", method, path, {},
                                  ctype="text/plain")
            self.assertEqual(status, 415, (path, r))
        status, r = self.call("ada", "DELETE", "/api/staff/%d" % ada)
        self.assertEqual(status, 405)
        status, r = self.call("ada", "GET", "/api/staff/%d/nope" % ada)
        self.assertEqual(status, 404)

    def test_validation(self):
        bad = [({"role": "advisor"}, "login"),
               ({"login": "has space", "role": "advisor"}, "login"),
               ({"login": "x" * 129, "role": "advisor"}, "login"),
               ({"login": "v1", "role": "boss"}, "role"),
               ({"login": "v1", "role": "advisor", "name": ""}, "name"),
               ({"login": "v1", "role": "advisor", "name": "a\nb"}, "name"),
               ({"login": "v1", "role": "advisor", "queues": "tax"},
                "queues"),
               ({"login": "v1", "role": "advisor", "queues": [31, 31]},
                "queues"),
               ({"login": "v1", "role": "advisor", "queues": [99]},
                "queues"),
               ({"login": "v1", "role": "advisor", "password": "short"},
                "password"),
               ({"login": "v1", "role": "advisor", "password": 12},
                "password"),
               ({"login": "v1longlogin1", "role": "advisor",
                 "password": "V1LONGLOGIN1"}, "password"),
               ({"login": "v1", "role": "advisor", "extra": 1}, "extra")]
        for body, field in bad:
            status, r = self.call("ada", "POST", "/api/staff", body)
            self.assertEqual((status, r.get("field")), (400, field),
                             (body, r))
        self.assertEqual(self.sql("SELECT count(*) FROM staff_users WHERE"
                                  " login LIKE 'v1%'"), "0")
        self.create("v2")
        status, r = self.call("ada", "POST", "/api/staff",
                              {"login": "v2", "role": "advisor"})
        self.assertEqual((status, r["field"]), (409, "login"))
        v2 = self.staff_id("v2")
        for body, field in (({}, None), ({"role": "king"}, "role"),
                            ({"name": 5}, "name"),
                            ({"queues": [0]}, "queues"),
                            ({"queues": [77]}, "queues"),
                            ({"login": "new"}, "login"),
                            ({"capacity": 3}, "capacity"),
                            ({"capacity": {}}, "capacity"),
                            ({"capacity": {"chat": 51}}, "capacity"),
                            ({"capacity": {"chat": -1}}, "capacity"),
                            ({"capacity": {"chat": 1.5}}, "capacity"),
                            ({"capacity": {"chat": "2"}}, "capacity"),
                            # Checked by PostgreSQL: nothing is kept.
                            ({"capacity": {"chat": 2, "fax": 1}},
                             "capacity"),
                            ({"capacity": {"chat": 2}, "queues": [77]},
                             "queues")):
            status, r = self.call("ada", "PATCH", "/api/staff/%d" % v2, body)
            self.assertEqual((status, r.get("field")), (400, field),
                             (body, r))
        self.assertEqual(self.sql("SELECT count(*) FROM staff_capacity"
                                  " WHERE staff_id = %d" % v2), "0")
        status, r = self.call("ada", "PATCH", "/api/staff/999999",
                              {"name": "Nobody"})
        self.assertEqual(status, 404)
        for action in ("password", "disable", "enable"):
            status, r = self.call("ada", "POST",
                                  "/api/staff/999999/" + action, {})
            self.assertEqual(status, 404, action)
        status, r = self.call("ada", "POST", "/api/staff/%d/password" % v2,
                              {"password": "too short"})
        self.assertEqual((status, r["field"]), (400, "password"))
        status, r = self.call("ada", "POST", "/api/staff/%d/disable" % v2,
                              {"why": "x"})
        self.assertEqual(status, 400)

    def test_create_edit_reset_with_audit(self):
        made = self.create("cid", queues=[31])
        self.assertEqual(len(made["password"]), 20)
        self.assertEqual(self.audits("staff.create", "cid"), "ada,true,true")
        detail = json.loads(self.sql(
            "SELECT detail FROM audit_log WHERE action = 'staff.create' AND"
            " object_id = '%d'" % made["id"]))
        self.assertEqual(detail, {"login": "cid", "role": "advisor",
                                  "queues": [31], "password": "generated"})
        self.assertNotIn(made["password"], self.sql(
            "SELECT string_agg(detail::text, ' ') FROM audit_log"))
        r = self.login("cid", made["password"])
        self.assertEqual(r.status, 200, r.body)
        # A chosen password meeting the policy; not returned.
        chosen = self.create("cho", password="a long enough phrase",
                             role="supervisor")
        self.assertNotIn("password", chosen)
        self.assertEqual(self.login("cho", "a long enough phrase").status,
                         200)

        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"name": "Cid Two", "role": "supervisor",
                               "queues": [32, 31]})
        self.assertEqual(status, 200, r)
        self.assertEqual((r["name"], r["role"], r["queues"]),
                         ("Cid Two", "supervisor", [31, 32]))
        self.assertEqual(self.sql(
            "SELECT string_agg(queue_id::text, ',' ORDER BY queue_id) FROM"
            " queue_members WHERE staff_id = %d" % made["id"]), "31,32")
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"queues": []})
        self.assertEqual((status, r["queues"], r["name"]),
                         (200, [], "Cid Two"))
        edits = json.loads(self.sql(
            "SELECT json_agg(detail ORDER BY id) FROM audit_log WHERE"
            " action = 'staff.edit' AND object_id = '%d'" % made["id"]))
        self.assertEqual(edits[0]["before"], {"name": "Cid", "role":
                                              "advisor", "queues": [31],
                                              "capacity": {}})
        self.assertEqual(edits[1]["changes"], {"queues": []})
        self.assertEqual(self.audits("staff.edit", "cid"),
                         "ada,true,true\nada,true,true")

        # Capacities of their own: set, changed, back to the default.
        status, chans = self.call("ada", "GET", "/api/channels")
        self.assertEqual(status, 200, chans)
        self.assertEqual([(c["channel"], c["default_capacity"])
                          for c in chans],
                         [("chat", 3), ("email", 5), ("sms", 5),
                          ("visit", 1), ("voice", 1), ("web", 5)])
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"capacity": {"chat": 2, "email": 0}})
        self.assertEqual((status, r["capacity"]),
                         (200, {"chat": 2, "email": 0}), r)
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"capacity": {"chat": None, "sms": 4}})
        self.assertEqual((status, r["capacity"], r["queues"]),
                         (200, {"email": 0, "sms": 4}, []), r)
        self.assertEqual(self.sql(
            "SELECT string_agg(channel || '=' || capacity, ',' ORDER BY"
            " channel) FROM staff_capacity WHERE staff_id = %d"
            % made["id"]), "email=0,sms=4")
        status, staff = self.call("ada", "GET", "/api/staff")
        self.assertEqual({s["login"]: s["capacity"] for s in staff}["cid"],
                         {"email": 0, "sms": 4})
        edits = json.loads(self.sql(
            "SELECT json_agg(detail ORDER BY id) FROM audit_log WHERE"
            " action = 'staff.edit' AND object_id = '%d'" % made["id"]))
        self.assertEqual((edits[-1]["before"]["capacity"],
                          edits[-1]["changes"]),
                         ({"chat": 2, "email": 0},
                          {"capacity": {"chat": None, "sms": 4}}))

        # A phone extension (screen pop): set, taken by another, cleared.
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"extension": "2001"})
        self.assertEqual((status, r["extension"]), (200, "2001"), r)
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % chosen["id"],
                              {"extension": "2001"})
        self.assertEqual((status, r["field"]), (409, "extension"), r)
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % chosen["id"],
                              {"extension": "20 01"})
        self.assertEqual((status, r["field"]), (400, "extension"), r)
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"extension": None})
        self.assertEqual((status, r["extension"]), (200, None), r)
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % chosen["id"],
                              {"extension": "sip-2001@pbx"})
        self.assertEqual((status, r["extension"]), (200, "sip-2001@pbx"), r)

        # Reset: the old password and every session end.
        cookie = self.login("cid", made["password"]).headers[
            "set-cookie"].split(";", 1)[0]
        status, r = self.call("ada", "POST",
                              "/api/staff/%d/password" % made["id"], {})
        self.assertEqual(status, 200, r)
        self.assertEqual(r["sessions_revoked"], 2)
        self.assertEqual(self.login("cid", made["password"]).status, 401)
        self.assertEqual(self.login("cid", r["password"]).status, 200)
        self.assertEqual(self.sb.request("GET", "/api/session", headers={
            "Cookie": cookie}).status, 401)
        status, r = self.call("ada", "POST",
                              "/api/staff/%d/password" % made["id"],
                              {"password": "another good phrase"})
        self.assertEqual((status, "password" in r), (200, False))
        self.assertEqual(self.login("cid", "another good phrase").status,
                         200)
        self.assertEqual(len(self.audits("staff.password_reset", "cid")
                             .splitlines()), 2)

    def test_disable_closes_desk_and_refuses_rest(self):
        made = self.create("dis", queues=[31], role="supervisor")
        self.passwords["dis"] = made["password"]
        cookie = self.cookie("dis")
        desk = Desk(self, self.sb, cookie)
        self.assertEqual(self.sb.request("GET", "/api/customers?q=a",
                                         headers={"Cookie": cookie}).status,
                         200)
        status, r = self.call("ada", "POST",
                              "/api/staff/%d/disable" % made["id"], {})
        self.assertEqual(status, 200, r)
        self.assertEqual((r["disabled"], r["sessions_revoked"]), (True, 1))
        code, reason, took = desk.closed()
        self.assertEqual((code, reason), (4003, "signed out"))
        self.assertLess(took, CLOSE_WITHIN)
        r = self.sb.request("GET", "/api/customers?q=a",
                            headers={"Cookie": cookie})
        self.assertEqual(r.status, 401)
        self.assertEqual(self.login("dis").status, 401)
        status, listing = self.call("ada", "GET", "/api/staff")
        self.assertTrue([s for s in listing if s["login"] == "dis"][0]
                        ["disabled"])
        self.assertEqual(self.audits("staff.disable", "dis"),
                         "ada,true,true")
        status, r = self.call("ada", "POST",
                              "/api/staff/%d/enable" % made["id"], {})
        self.assertEqual((status, r["disabled"]), (200, False))
        self.assertEqual(self.login("dis").status, 200)
        self.assertEqual(self.audits("staff.enable", "dis"), "ada,true,true")

    def test_access_change_reaches_the_open_desk(self):
        made = self.create("chg", queues=[31], role="supervisor")
        self.passwords["chg"] = made["password"]
        cookie = self.cookie("chg")
        desk = Desk(self, self.sb, cookie)
        desk.send(type="wallboard.watch", id="w")
        desk.wait_for("wallboard.watching", id="w")
        # A new name is not new access: the desk stays open.
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"name": "Chg Renamed"})
        self.assertEqual(status, 200, r)
        with self.assertRaises(socket.timeout):
            desk.ws.recv_close(3)
        # Supervisor to advisor, and no queues.
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"role": "advisor", "queues": []})
        self.assertEqual(status, 200, r)
        code, reason, took = desk.closed()
        self.assertEqual((code, reason), (4005, "access changed"))
        self.assertLess(took, CLOSE_WITHIN)
        # The same session goes on, under the new rules.
        desk = Desk(self, self.sb, cookie)
        desk.send(type="wallboard.watch", id="w2")
        self.assertEqual(desk.wait_for("error", id="w2")["code"],
                         "forbidden")
        desk.status("available")
        # A chat in tax (which al serves, busy) is no longer offered to them.
        self.sql("INSERT INTO queue_members (staff_id, queue_id) VALUES"
                 " (%d, 31) ON CONFLICT DO NOTHING" % self.staff_id("al"))
        al = Desk(self, self.sb, self.cookie("al"))
        al.status("busy")
        res = Resident(self, self.sb)
        res.start(queue="tax")
        with self.assertRaises(AssertionError):
            desk.wait_for("offer", timeout=3, conversation=res.conv)
        # Tax again: closed, and the waiting chat is offered once back.
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"queues": [31]})
        self.assertEqual(status, 200, r)
        code, reason, _ = desk.closed()
        self.assertEqual(code, 4005)
        desk = Desk(self, self.sb, cookie)
        self.assertEqual(
            self.sb.request("GET", "/api/session",
                            headers={"Cookie": cookie}).status, 200)
        desk.status("available")
        desk.wait_for("offer", conversation=res.conv)
        res.send(type="chat.end", id="end")
        res.wait_for("chat.ended")
        # A capacity of their own: the desk reconnects, and routing uses
        # the new capacity from its next status.
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % made["id"],
                              {"capacity": {"chat": 1, "voice": 0}})
        self.assertEqual(status, 200, r)
        code, reason, _ = desk.closed()
        self.assertEqual((code, reason), (4005, "access changed"))
        desk = Desk(self, self.sb, cookie)
        desk.send(type="desk.status", status="available", id="st2")
        ok = desk.wait_for("desk.status.ok", id="st2")
        self.assertEqual((ok["capacity"].get("chat"),
                          ok["capacity"].get("voice")), (1, None), ok)
        desk.status("offline")
        al.status("offline")

    def test_last_admin_and_self(self):
        ada = self.staff_id("ada")
        status, r = self.call("ada", "POST", "/api/staff/%d/disable" % ada,
                              {})
        self.assertEqual(status, 409, r)
        self.assertIn("your own", r["error"])
        status, r = self.call("ada", "PATCH", "/api/staff/%d" % ada,
                              {"role": "advisor"})
        self.assertEqual((status, r["field"]), (409, "role"))
        # Another admin may not take ada's role while she is the last.
        other = self.create("adm2", role="admin")
        self.passwords["adm2"] = other["password"]
        status, r = self.call("adm2", "POST",
                              "/api/staff/%d/disable" % other["id"], {})
        self.assertEqual(status, 409)
        # Two admins: adm2 may demote ada; then ada is not one any more
        # and adm2, the last, cannot be disabled (by the CLI either).
        status, r = self.call("adm2", "PATCH", "/api/staff/%d" % ada,
                              {"role": "supervisor"})
        self.assertEqual(status, 200, r)
        try:
            status, r = self.call("ada", "GET", "/api/staff")
            self.assertEqual(status, 403)
            r = harness.run_switchboard(["-c", self.sb.conf, "user",
                                         "disable", "adm2"])
            self.assertEqual(r.returncode, 1)
            self.assertIn("last enabled admin", r.stderr)
            status, r = self.call("adm2", "PATCH",
                                  "/api/staff/%d" % other["id"],
                                  {"name": "Still Admin"})
            self.assertEqual(status, 200, r)
            self.assertEqual(self.sql(
                "SELECT count(*) FROM staff_users WHERE role = 'admin' AND"
                " NOT disabled"), "1")
        finally:
            status, r = self.call("adm2", "PATCH", "/api/staff/%d" % ada,
                                  {"role": "admin"})
            self.assertEqual(status, 200, r)

    def test_cli_shares_the_password_policy(self):
        self.create("pol")
        r = subprocess.run(
            [harness.switchboard_bin(), "-c", self.sb.conf, "user",
             "passwd", "--stdin", "pol"], input="short\n",
            capture_output=True, text=True, timeout=60,
            env=harness.clean_env())
        self.assertEqual(r.returncode, 1)
        self.assertIn("at least 12 characters", r.stderr)


if __name__ == "__main__":
    harness.main()
