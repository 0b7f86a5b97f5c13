"""/healthz, /metrics and the static folders /widget/ and /desk/.

One daemon (with real PostgreSQL and Redis) serves every test in this file;
the static folders are temporary ones made here, with a file beside them that
no request may reach."""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SECRET = "secret-outside-the-served-folders-7f3a"

METRICS = (
    "switchboard_connections_open",
    "switchboard_messages_total",
    "switchboard_pg_roundtrip_seconds_bucket",
    "switchboard_redis_roundtrip_seconds_bucket",
    "switchboard_commit_batch_size_bucket",
    "switchboard_errors_total",
)

# A sample line of the Prometheus text format 0.0.4.
SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*'
    r'(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?'
    r' (-?[0-9.eE+-]+|NaN|[+-]Inf)( -?[0-9]+)?$')


def make_site(root, name):
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "sub"))
    with open(os.path.join(d, "index.html"), "w") as f:
        f.write("<!doctype html><title>%s</title><p>%s index</p>\n"
                % (name, name))
    with open(os.path.join(d, "sub", "page.html"), "w") as f:
        f.write("<!doctype html><p>%s sub page</p>\n" % name)
    with open(os.path.join(d, "app.js"), "w") as f:
        f.write("export const x = 1;\n")
    return d


class HealthTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.pg.createdb("switchboard")
        cls.redis = harness.Redis()
        root = harness.tempdir("static")
        with open(os.path.join(root, "secret.txt"), "w") as f:
            f.write(SECRET + "\n")
        cls.widget = make_site(root, "widget")
        cls.desk = make_site(root, "desk")
        cls.sb = harness.Switchboard(cls.pg, cls.redis, {
            "widget_dir": cls.widget,
            "desk_dir": cls.desk,
        })
        cls.sb.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()

    def test_healthz(self):
        r = self.sb.get("/healthz")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("content-type", "")
                        .startswith("application/json"), r.headers)
        self.assertEqual(r.json(), {"status": "ok"})

    def test_metrics(self):
        r = self.sb.get("/metrics")
        self.assertEqual(r.status, 200)
        ctype = r.headers.get("content-type", "")
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn("version=0.0.4", ctype)
        text = r.body.decode("utf-8")
        names = set()
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            self.assertRegex(line, SAMPLE)
            names.add(re.match(r"[a-zA-Z0-9_:]+", line).group(0))
        for m in METRICS:
            self.assertIn(m, names, "metric %s missing" % m)
        # A histogram ends with its +Inf bucket, _sum and _count.
        for h in ("switchboard_pg_roundtrip_seconds",
                  "switchboard_redis_roundtrip_seconds",
                  "switchboard_commit_batch_size"):
            self.assertIn('%s_bucket{le="+Inf"}' % h, text)
            self.assertIn("%s_sum" % h, names)
            self.assertIn("%s_count" % h, names)

    def check_page(self, path, marker):
        r = self.sb.get(path)
        self.assertEqual(r.status, 200, path)
        self.assertTrue(r.headers.get("content-type", "")
                        .startswith("text/html"), r.headers)
        self.assertIn(marker.encode(), r.body)
        csp = r.headers.get("content-security-policy", "")
        self.assertIn("default-src 'self'", csp)
        self.assertIn("object-src 'none'", csp)
        self.assertIn("frame-ancestors", csp)
        self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")
        self.assertEqual(r.headers.get("referrer-policy"), "same-origin")
        return r

    def test_widget_index(self):
        self.check_page("/widget/", "widget index")

    def test_desk_index(self):
        self.check_page("/desk/", "desk index")

    def test_subfolder_and_other_types(self):
        self.check_page("/widget/sub/page.html", "widget sub page")
        r = self.sb.get("/desk/app.js")
        self.assertEqual(r.status, 200)
        self.assertRegex(r.headers.get("content-type", ""),
                         r"^(text|application)/javascript")
        self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")

    def test_missing_file_is_404(self):
        for path in ("/widget/no-such-file.html", "/desk/nope/",
                     "/no-such-mount/index.html"):
            r = self.sb.get(path)
            self.assertEqual(r.status, 404, path)

    def test_path_traversal(self):
        paths = (
            "/widget/../secret.txt",
            "/widget/../../secret.txt",
            "/desk/../secret.txt",
            "/widget/sub/../../secret.txt",
            "/widget/%2e%2e/secret.txt",
            "/widget/%2E%2E/secret.txt",
            "/widget/..%2fsecret.txt",
            "/widget/..%2Fsecret.txt",
            "/widget/%2e%2e%2fsecret.txt",
            "/widget/..%5csecret.txt",
            "/widget/....//secret.txt",
            "/widget//../secret.txt",
            "/widget/%252e%252e/secret.txt",
            "/desk/..%00/secret.txt",
        )
        for path in paths:
            try:
                r = self.sb.get(path)
            except OSError:
                continue  # the server hung up: nothing escaped
            self.assertNotIn(SECRET.encode(), r.body, path)
            self.assertGreaterEqual(r.status, 300, path)
        # The daemon is still serving afterwards.
        self.assertEqual(self.sb.get("/healthz").status, 200)


if __name__ == "__main__":
    harness.main()
