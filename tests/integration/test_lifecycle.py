"""Process lifecycle: SIGTERM drains and exits 0, SIGHUP reloads, open
WebSockets are closed with 1001 (going away), `switchboard migrate` is
idempotent, and two daemons racing on a fresh database both get ready."""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SHUTDOWN_TIMEOUT = 3  # limits.shutdown_timeout used here
SHUTDOWN_LINE = r"(shutdown|shutting down|stopping|exiting|drain)"


class LifecycleTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()

    def setUp(self):
        if not self.pg.running():
            self.pg.start()
        self.db = self.pg.createdb()
        self.redis = harness.Redis()

    def start(self, overrides=None, **kw):
        o = harness.merge({"limits": {"shutdown_timeout": SHUTDOWN_TIMEOUT}},
                          overrides)
        return harness.Switchboard(self.pg, self.redis, o, dbname=self.db,
                                   **kw)

    def test_sigterm_exits_zero(self):
        sb = self.start()
        sb.wait_ready()
        t0 = time.monotonic()
        sb.signal(signal.SIGTERM)
        rc = sb.wait(SHUTDOWN_TIMEOUT + 10)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, sb.log_tail())
        self.assertLess(took, SHUTDOWN_TIMEOUT + 10)
        self.assertRegex(sb.log_text().lower(), SHUTDOWN_LINE)

    def test_sigterm_while_dependencies_down(self):
        # Shutdown must not wait on a PostgreSQL or Redis that is not there.
        sb = self.start()
        sb.wait_ready()
        self.redis.stop()
        self.pg.stop("immediate")
        sb.wait_status("/readyz", 503)
        sb.signal(signal.SIGTERM)
        self.assertEqual(sb.wait(SHUTDOWN_TIMEOUT + 10), 0, sb.log_tail())

    def test_sighup_reloads(self):
        sb = self.start({"log_level": "info"})
        sb.wait_ready()
        mark = len(sb.log_text())
        sb.write_config({"log_level": "debug"})
        sb.signal(signal.SIGHUP)
        m = sb.wait_log(r"reload", start=mark)
        self.assertTrue(m)
        # Still serving, and still serving after a second reload.
        self.assertEqual(sb.get("/healthz").status, 200)
        sb.assert_alive()
        mark = len(sb.log_text())
        sb.write_config({"log_level": "info"})
        sb.signal(signal.SIGHUP)
        sb.wait_log(r"reload", start=mark)
        self.assertEqual(sb.get("/healthz").status, 200)
        sb.wait_ready()
        self.assertEqual(sb.stop(), 0)

    def test_sighup_with_bad_config_keeps_running(self):
        sb = self.start()
        sb.wait_ready()
        mark = len(sb.log_text())
        with open(sb.conf, "a") as f:
            f.write("no_such_directive = 1\n")
        sb.signal(signal.SIGHUP)
        sb.wait_log(r"reload", start=mark)
        self.assertEqual(sb.get("/healthz").status, 200)
        sb.wait_ready()
        self.assertEqual(sb.stop(), 0)

    def test_websocket_closed_1001_on_sigterm(self):
        sb = self.start()
        sb.wait_ready()
        ws = sb.websocket("/ws")
        try:
            self.assertEqual(ws.protocol, "switchboard.v1")
            sb.signal(signal.SIGTERM)
            code, reason = ws.recv_close(SHUTDOWN_TIMEOUT + 10)
            self.assertEqual(code, 1001, reason)
        finally:
            ws.close()
        self.assertEqual(sb.wait(SHUTDOWN_TIMEOUT + 10), 0, sb.log_tail())

    def test_websocket_foreign_origin_refused(self):
        sb = self.start()
        sb.wait_ready()
        with self.assertRaises(harness.WebSocketError):
            ws = sb.websocket("/ws", origin="http://evil.example")
            ws.close()
        self.assertEqual(sb.get("/healthz").status, 200)
        self.assertEqual(sb.stop(), 0)

    def test_migrate_twice_is_idempotent(self):
        sb = self.start(start=False)
        r = harness.run_switchboard(["-c", sb.conf, "migrate"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        first = self.pg.tables(self.db)
        self.assertIn("messages", first)
        r = harness.run_switchboard(["-c", sb.conf, "migrate"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.pg.tables(self.db), first)
        # A daemon that does not migrate finds the schema current.
        sb.write_config({"postgresql": {"migrate_on_start": False}})
        sb.start()
        sb.wait_ready()
        self.assertEqual(sb.stop(), 0)

    def test_two_daemons_migrate_fresh_database(self):
        a = self.start(start=False)
        b = self.start(start=False)
        a.start(wait=False)
        b.start(wait=False)
        a.wait_healthy()
        b.wait_healthy()
        a.wait_ready()
        b.wait_ready()
        self.assertIn("messages", self.pg.tables(self.db))
        self.assertEqual(a.stop(), 0)
        self.assertEqual(b.stop(), 0)


if __name__ == "__main__":
    harness.main()
