"""What a council page's browser gets from the daemon for the widget, and the
desk's browser for the desk: the static files (gzip only when accepted, with
Vary; an ETag per representation and 304 on a match; Cache-Control no-cache;
the widget's readable from any origin), and the widget's topics
(GET /widget/topics.json: the active queues that take chat, open or closed
now by their hours and closure days).

One daemon (with real PostgreSQL and Redis) serves every test in this file.
The static folders are temporary copies of web-chat-widget/ and
advisor-desk/, so that a test may change a file on disk."""

import datetime
import gzip
import http.client
import os
import re
import shutil
import subprocess
import sys
import time
import zoneinfo

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SRC = os.environ.get("SWITCHBOARD_SRC",
                     os.path.join(os.path.dirname(__file__), "..", ".."))


class WidgetFilesTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.pg.createdb("switchboard")
        cls.redis = harness.Redis()
        root = harness.tempdir("widget")
        cls.widget = os.path.join(root, "widget")
        cls.desk = os.path.join(root, "desk")
        shutil.copytree(os.path.join(SRC, "web-chat-widget"), cls.widget)
        shutil.copytree(os.path.join(SRC, "advisor-desk"), cls.desk)
        cls.sb = harness.Switchboard(cls.pg, cls.redis, {
            "widget_dir": cls.widget,
            "desk_dir": cls.desk,
        })
        cls.sb.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()

    def raw(self, path):
        with open(os.path.join(self.widget, path), "rb") as f:
            return f.read()

    def test_gzip_only_when_accepted(self):
        plain = self.raw("chat.js")
        for ae in ("gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.5",
                   "*"):
            r = self.sb.get("/widget/chat.js", {"Accept-Encoding": ae})
            self.assertEqual(r.status, 200, ae)
            self.assertEqual(r.headers.get("content-encoding"), "gzip", ae)
            self.assertEqual(gzip.decompress(r.body), plain, ae)
            self.assertLess(len(r.body), len(plain) / 2, ae)
            self.assertEqual(int(r.headers["content-length"]), len(r.body))
            self.assertIn("Accept-Encoding", r.headers.get("vary", ""))
        for ae in (None, "identity", "br", "gzip;q=0", "gzip;q=0, *",
                   "deflate, br, zstd"):
            r = self.sb.get("/widget/chat.js",
                            {"Accept-Encoding": ae} if ae else {})
            self.assertEqual(r.status, 200, ae)
            self.assertNotIn("content-encoding", r.headers, ae)
            self.assertEqual(r.body, plain, ae)
            self.assertIn("Accept-Encoding", r.headers.get("vary", ""))
        # The right type and the security headers stay.
        self.assertEqual(r.headers["content-type"],
                         "text/javascript; charset=utf-8")
        self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")
        self.assertIn("default-src 'self'",
                      r.headers.get("content-security-policy", ""))

    def test_etag_and_304(self):
        gz = {"Accept-Encoding": "gzip"}
        r = self.sb.get("/widget/widget.js", gz)
        tag_gz = r.headers["etag"]
        self.assertRegex(tag_gz, r'^"[0-9a-f]{32}-gz"$')
        self.assertEqual(r.headers.get("cache-control"), "no-cache")
        r = self.sb.get("/widget/widget.js")
        tag = r.headers["etag"]
        self.assertRegex(tag, r'^"[0-9a-f]{32}"$')
        # A matching tag: 304, headers only, the same validators.
        for inm, hdrs, want in ((tag_gz, gz, tag_gz), (tag, {}, tag),
                                ('W/' + tag_gz, gz, tag_gz),
                                ('"x", ' + tag_gz, gz, tag_gz),
                                ("*", gz, tag_gz)):
            r = self.sb.get("/widget/widget.js",
                            dict(hdrs, **{"If-None-Match": inm}))
            self.assertEqual(r.status, 304, inm)
            self.assertEqual(r.body, b"", inm)
            self.assertEqual(r.headers.get("etag"), want, inm)
            self.assertEqual(r.headers.get("cache-control"), "no-cache")
            self.assertIn("Accept-Encoding", r.headers.get("vary", ""))
            self.assertEqual(r.headers.get("access-control-allow-origin"),
                             "*")
        # Another representation's tag, an old tag, garbage: the file.
        for inm, hdrs in ((tag, gz), (tag_gz, {}), ('"0123"', gz),
                          ("garbage", gz), ('"' + "a" * 300 + '"', gz)):
            r = self.sb.get("/widget/widget.js",
                            dict(hdrs, **{"If-None-Match": inm}))
            self.assertEqual(r.status, 200, inm)
            self.assertGreater(len(r.body), 0)

    def test_keep_alive_200_304_200(self):
        """Several answers on one connection, as a browser reuses it."""
        c = http.client.HTTPConnection("127.0.0.1", self.sb.port, timeout=5)
        try:
            seen = []
            tag = None
            for path, inm in (("/widget/chat.js", None),
                              ("/widget/chat.js", "tag"),
                              ("/widget/conn.js", None),
                              ("/healthz", None),
                              ("/widget/chat.js", "tag")):
                c.putrequest("GET", path, skip_accept_encoding=True)
                c.putheader("Accept-Encoding", "gzip")
                if inm:
                    c.putheader("If-None-Match", tag)
                c.endheaders()
                r = c.getresponse()
                body = r.read()
                if path == "/widget/chat.js" and not inm:
                    tag = r.getheader("etag")
                seen.append((path, r.status, len(body) > 0))
        finally:
            c.close()
        self.assertEqual(seen, [("/widget/chat.js", 200, True),
                                ("/widget/chat.js", 304, False),
                                ("/widget/conn.js", 200, True),
                                ("/healthz", 200, True),
                                ("/widget/chat.js", 304, False)])

    def test_head(self):
        r = self.sb.request("HEAD", "/widget/chat.js",
                            {"Accept-Encoding": "gzip"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        full = self.sb.get("/widget/chat.js", {"Accept-Encoding": "gzip"})
        self.assertEqual(r.headers["content-length"],
                         full.headers["content-length"])
        self.assertEqual(r.headers["etag"], full.headers["etag"])

    def test_other_methods(self):
        for m in ("POST", "PUT", "DELETE", "PATCH"):
            r = self.sb.request(m, "/widget/chat.js", body=b"x")
            self.assertEqual(r.status, 405, m)
            self.assertEqual(r.headers.get("allow"), "GET, HEAD", m)

    def test_cors_widget_only(self):
        r = self.sb.get("/widget/chat.js",
                        {"Origin": "https://www.council.example"})
        self.assertEqual(r.headers.get("access-control-allow-origin"), "*")
        r = self.sb.get("/desk/desk.js",
                        {"Origin": "https://www.council.example"})
        self.assertEqual(r.status, 200)
        self.assertNotIn("access-control-allow-origin", r.headers)

    def test_desk_compressed_and_validated(self):
        r = self.sb.get("/desk/desk.js", {"Accept-Encoding": "gzip"})
        self.assertEqual(r.headers.get("content-encoding"), "gzip")
        self.assertEqual(r.headers.get("cache-control"), "no-cache")
        with open(os.path.join(self.desk, "desk.js"), "rb") as f:
            self.assertEqual(gzip.decompress(r.body), f.read())
        r2 = self.sb.get("/desk/desk.js", {
            "Accept-Encoding": "gzip", "If-None-Match": r.headers["etag"]})
        self.assertEqual(r2.status, 304)
        r = self.sb.get("/desk/")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/html"))

    def test_folders_redirect_to_their_slash(self):
        for path, to in (("/widget", "/widget/"),
                         ("/widget/demo", "/widget/demo/"),
                         ("/desk", "/desk/")):
            r = self.sb.get(path)
            self.assertIn(r.status, (301, 308), path)
            self.assertTrue(r.headers.get("location", "").endswith(to),
                            (path, r.headers.get("location")))
        r = self.sb.get("/widget/demo/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"Demo District Council", r.body)

    def test_not_served(self):
        for path in ("/widget/README.md", "/widget/no-such.js",
                     "/widget/.git/config", "/widget/chat.js/",
                     "/widget/demo/../../secret"):
            r = self.sb.get(path)
            self.assertEqual(r.status, 404, path)

    def test_every_module_asked_for_at_once(self):
        """No round trip per level of imports: each page preloads every
        module its script imports (transitively), and widget.js lists
        every module of the widget."""
        def imports(folder, name, seen):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                for dep in re.findall(r"""from ['"]\./([\w-]+\.js)['"]""", f.read()):
                    if dep not in seen:
                        seen.add(dep)
                        imports(folder, dep, seen)
            return seen

        for page in sorted(os.listdir(self.desk)):
            if not page.endswith(".html"):
                continue
            with open(os.path.join(self.desk, page), encoding="utf-8") as f:
                html = f.read()
            for main in re.findall(r'<script type="module" src="([\w-]+\.js)"',
                                   html):
                want = imports(self.desk, main, set())
                have = set(re.findall(
                    r'<link rel="modulepreload" href="([\w-]+\.js)">', html))
                self.assertEqual(want - have, set(), page)
        want = imports(self.widget, "chat.js", {"chat.js"})
        with open(os.path.join(self.widget, "widget.js"),
                  encoding="utf-8") as f:
            listed = re.search(r"FILES = \[([^\]]*)\]", f.read()).group(1)
        self.assertEqual(set(re.findall(r"'([\w-]+\.js)'", listed)), want)

    def test_new_version_on_disk(self):
        """A deployment replaces a file: the next request gets it, with a
        new ETag, and the old ETag no longer answers 304."""
        path = os.path.join(self.widget, "strings.js")
        r1 = self.sb.get("/widget/strings.js", {"Accept-Encoding": "gzip"})
        old = r1.headers["etag"]
        with open(path, "ab") as f:
            f.write(b"\n// a new version\n")
        # A deployment is at least one mtime tick later on any file system.
        os.utime(path, (time.time() + 2, time.time() + 2))
        r2 = self.sb.get("/widget/strings.js", {
            "Accept-Encoding": "gzip", "If-None-Match": old})
        self.assertEqual(r2.status, 200)
        self.assertNotEqual(r2.headers["etag"], old)
        self.assertTrue(gzip.decompress(r2.body).endswith(
            b"// a new version\n"))


class OverHttp2Test(harness.TestCase):
    """Browsers speak HTTP/2 to a daemon serving TLS: a 304 (no body, no
    Content-Length) must end its stream, not leave the browser waiting."""

    @classmethod
    def setUpClass(cls):
        from test_tls import make_cert
        cls.pg = harness.Postgres()
        cls.redis = harness.Redis()
        cert, key = make_cert(harness.tempdir("sb-h2"), "127.0.0.1")
        cls.sb = harness.Switchboard(cls.pg, cls.redis, {
            "tls": {"certificate": cert, "key": key}},
            dbname=cls.pg.createdb(), wait=False)
        cls.url = "https://127.0.0.1:%d" % cls.sb.port
        harness.wait_for(lambda: cls.curl("/readyz")[0] == "200", 30, 0.2,
                         "the daemon to be ready over TLS")

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()

    @classmethod
    def curl(cls, path, *args):
        """status, HTTP version, headers (lower-case) of one request."""
        r = subprocess.run(
            ["curl", "-sk", "--http2", "-m", "10", "-o", "/dev/null",
             "-D", "-", "-w", "\n%{http_code} %{http_version}",
             *args, cls.url + path], capture_output=True, text=True)
        lines = r.stdout.strip().splitlines()
        code, version = (lines[-1].split() + ["", ""])[:2] \
            if r.returncode == 0 else ("curl exit %d" % r.returncode, "")
        hdrs = dict(x.split(":", 1) for x in lines[:-1] if ":" in x)
        return code, version, {k.strip().lower(): v.strip()
                               for k, v in hdrs.items()}

    def test_200_304_and_head(self):
        code, version, h = self.curl("/widget/chat.js", "-H",
                                     "Accept-Encoding: gzip")
        self.assertEqual((code, version), ("200", "2"))
        self.assertEqual(h.get("content-encoding"), "gzip")
        for args in (("-H", "Accept-Encoding: gzip",
                      "-H", "If-None-Match: " + h["etag"]), ("-I",)):
            code, version, _ = self.curl("/widget/chat.js", *args)
            self.assertEqual((code, version),
                             ("304" if "-I" not in args else "200", "2"),
                             args)
        code, version, h = self.curl("/widget/topics.json")
        self.assertEqual((code, version), ("200", "2"))


LONDON = zoneinfo.ZoneInfo("Europe/London")


def start_migrated(cls, sql=None, sql_file=None):
    """cls gets pg, redis, db and sb: a daemon on a database of its own,
    migrated and loaded with sql (or sql_file) before it starts, so that its
    first read of the queues sees them."""
    cls.pg = harness.Postgres()
    cls.redis = harness.Redis()
    cls.db = cls.pg.createdb()
    cls.sb = harness.Switchboard(cls.pg, cls.redis, {}, dbname=cls.db,
                                 start=False)
    r = harness.run_switchboard(["-c", cls.sb.conf, "migrate"])
    assert r.returncode == 0, r.stderr
    if sql:
        cls.pg.psql(sql, dbname=cls.db)
    if sql_file:
        cls.pg.psql_file(sql_file, dbname=cls.db)
    cls.sb.start()
    cls.sb.wait_ready()


def topics_of(sb):
    """topics.json once the daemon has read the queues (its first read is a
    second or so after it starts)."""
    def ready():
        r = sb.get("/widget/topics.json")
        return r if r.status == 200 else None
    return harness.wait_for(ready, 20, 0.1, "topics.json to answer 200")


def london_midnight_ms(day):
    """Unix ms of 00:00 Europe/London on day (a date)."""
    return int(datetime.datetime(day.year, day.month, day.day,
                                 tzinfo=LONDON).timestamp()) * 1000


class TopicsTest(harness.TestCase):
    """GET /widget/topics.json from queues in the database: which are
    listed, in what order, open or closed now and until when."""

    @classmethod
    def setUpClass(cls):
        # Closure days are whole London days: not across a midnight.
        now = datetime.datetime.now(LONDON)
        if now.hour == 23 and now.minute >= 58:
            time.sleep((60 - now.minute) * 60 - now.second + 60)
        cls.today = datetime.datetime.now(LONDON).date()
        start_migrated(
            cls,
            "INSERT INTO queues (id, slug, name, out_of_hours_message,"
            " active) VALUES"
            " (1, 'tax', 'Council Tax', '', true),"
            " (2, 'bins', 'Bins & \"Recycling\" <b>', 'Back tomorrow.', true),"
            " (3, 'repairs', 'a repairs line', '', true),"
            " (4, 'old', 'Old queue', '', false),"
            " (5, 'mail', 'Email only', '', true),"
            " (6, 'night', 'Night line', 'Closed today.', true);"
            "INSERT INTO queue_channels (queue_id, channel, answer_target_s,"
            " out_of_hours) VALUES (1, 'chat', 60, 'leave_message'),"
            " (2, 'chat', 60, 'leave_message'), (3, 'chat', 60, 'queue'),"
            " (4, 'chat', 60, 'leave_message'), (5, 'email', 60, 'queue'),"
            " (6, 'chat', 60, 'closed');"
            # bins, repairs and night: 00:00-24:00 every day; bins and
            # night closed today, repairs tomorrow; tax has no hours
            # (always open).
            "INSERT INTO queue_hours (queue_id, weekday, opens_at, closes_at)"
            " SELECT q, d, '00:00', '24:00' FROM generate_series(1, 7) d,"
            " (VALUES (2), (3), (6)) v(q);"
            "INSERT INTO closure_days (queue_id, day, name) VALUES"
            " (2, '%s', 'Training'), (6, '%s', 'Training'),"
            " (3, '%s', 'Training');"
            % (cls.today, cls.today, cls.today + datetime.timedelta(days=1)))

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()

    def test_listed_in_order_with_their_state(self):
        r = topics_of(self.sb)
        doc = r.json()
        t = {x["queue"]: x for x in doc["topics"]}
        # Active queues that take chat, by name (case-insensitive).
        self.assertEqual([x["queue"] for x in doc["topics"]],
                         ["repairs", "bins", "tax", "night"])
        tomorrow = london_midnight_ms(self.today + datetime.timedelta(days=1))
        self.assertEqual(t["tax"], {"queue": "tax", "name": "Council Tax",
                                    "open": True,
                                    "out_of_hours": "leave_message"})
        self.assertEqual(t["bins"], {
            "queue": "bins", "name": 'Bins & "Recycling" <b>',
            "open": False, "out_of_hours": "leave_message",
            "next_open_ms": tomorrow, "message": "Back tomorrow."})
        self.assertEqual(t["repairs"], {
            "queue": "repairs", "name": "a repairs line", "open": True,
            "out_of_hours": "queue", "closes_ms": tomorrow})
        self.assertEqual(t["night"]["open"], False)
        self.assertEqual(t["night"]["out_of_hours"], "closed")
        self.assertEqual(t["night"]["message"], "Closed today.")
        self.assertLess(abs(doc["now_ms"] - time.time() * 1000), 60000)

    def test_headers(self):
        r = topics_of(self.sb)
        self.assertEqual(r.headers.get("content-type"), "application/json")
        self.assertEqual(r.headers.get("cache-control"), "public, max-age=10")
        self.assertEqual(r.headers.get("access-control-allow-origin"), "*")
        self.assertNotIn("set-cookie", r.headers)
        # No cookie is read: a staff session changes nothing.
        r2 = self.sb.get("/widget/topics.json",
                         {"Cookie": "__Host-sb_session=x" * 50,
                          "Origin": "https://www.council.example"})
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.json()["topics"], r.json()["topics"])
        h = self.sb.request("HEAD", "/widget/topics.json")
        self.assertEqual(h.status, 200)
        self.assertEqual(h.body, b"")
        for m in ("POST", "PUT", "DELETE"):
            r = self.sb.request(m, "/widget/topics.json", body=b"{}")
            self.assertEqual(r.status, 405, m)
        # A query string changes nothing; another path is a file (none).
        self.assertEqual(self.sb.get("/widget/topics.json?x=1").status, 200)
        self.assertEqual(self.sb.get("/widget/topics.jsonx").status, 404)


class DemoSeedTest(harness.TestCase):
    """config/demo-seed.sql as published to the widget: every demo queue
    that takes chat is a topic, open Monday to Friday 08:30 to 17:00 London
    time (not on bank holidays), as the demo page says."""

    @classmethod
    def setUpClass(cls):
        start_migrated(cls, sql_file=os.path.join(SRC, "config",
                                                  "demo-seed.sql"))
        cls.holidays = set(cls.pg.psql(
            "SELECT day FROM closure_days WHERE queue_id IS NULL",
            dbname=cls.db).split())

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()

    def test_every_chat_queue_with_its_hours(self):
        topics = topics_of(self.sb).json()["topics"]
        self.assertEqual([(t["queue"], t["name"]) for t in topics], [
            ("complaints", "Complaints and Compliments"),
            ("council-tax", "Council Tax"),
            ("housing-repairs", "Housing Repairs"),
            ("waste-recycling", "Waste and Recycling")])
        for t in topics:
            self.assertEqual(t["out_of_hours"], "leave_message")
            if t["open"]:
                at = datetime.datetime.fromtimestamp(t["closes_ms"] / 1000,
                                                     LONDON)
                self.assertEqual((at.hour, at.minute), (17, 0), t)
            else:
                at = datetime.datetime.fromtimestamp(
                    t["next_open_ms"] / 1000, LONDON)
                self.assertEqual((at.hour, at.minute), (8, 30), t)
                self.assertLess(at.isoweekday(), 6, t)
                self.assertNotIn(at.date().isoformat(), self.holidays, t)
                self.assertIn("8:30am to 5pm", t["message"])
        # Open now exactly when London is in a weekday's 08:30-17:00.
        now = datetime.datetime.now(LONDON)
        hm = (now.hour, now.minute)
        expect = (now.isoweekday() < 6 and (8, 30) <= hm < (17, 0) and
                  now.date().isoformat() not in self.holidays)
        if hm not in ((8, 29), (8, 30), (16, 59), (17, 0)):
            self.assertEqual({t["open"] for t in topics}, {expect})

    def test_demo_page_says_the_same_hours(self):
        r = self.sb.get("/widget/demo/")
        self.assertEqual(r.status, 200)
        text = r.body.decode("utf-8")
        self.assertIn("8:30am to 5pm", text)
        self.assertNotIn("9am", text)


if __name__ == "__main__":
    harness.main()
