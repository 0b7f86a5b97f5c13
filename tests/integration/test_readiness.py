"""/readyz follows PostgreSQL and Redis going away and coming back.

While a dependency is down the daemon stays up, /healthz stays 200 and
/readyz answers 503 with a JSON body naming what is wrong; once the
dependency is back on the same port /readyz returns to 200 by itself.
Every wait is a poll against a deadline."""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DOWN_TIMEOUT = 20.0  # seconds for the daemon to notice a loss
UP_TIMEOUT = 30.0    # seconds to reconnect (includes back-off)


class ReadinessTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()

    def setUp(self):
        if not self.pg.running():
            self.pg.start()
        self.db = self.pg.createdb()
        self.redis = harness.Redis()

    def start(self, **kw):
        return harness.Switchboard(self.pg, self.redis, dbname=self.db, **kw)

    def assert_unready(self, sb, *components, ok=(), timeout=DOWN_TIMEOUT):
        """Waits for /readyz to answer 503 with every named component not
        "ok" and those in `ok` "ok"; checks the body and that the daemon
        is otherwise fine."""
        last = []

        def unready():
            sb.assert_alive()
            r = sb.get("/readyz", timeout=3)
            last[:] = [r]
            if r.status != 503:
                return None
            body = r.json()
            if all(body.get(c) != "ok" for c in components) and \
                    all(body.get(c) == "ok" for c in ok):
                return r
            return None
        try:
            r = harness.wait_for(unready, timeout, 0.1,
                                 "/readyz 503 naming %s" % ", ".join(components))
        except AssertionError as e:
            raise AssertionError("%s (last: %r)\n--- log ---\n%s"
                                 % (e, last, sb.log_tail()))
        self.assertTrue(r.headers.get("content-type", "")
                        .startswith("application/json"), r.headers)
        body = r.json()
        self.assertEqual(body.get("status"), "unavailable", body)
        for key in ("postgresql", "redis", "migrations"):
            self.assertIn(key, body)
            self.assertIsInstance(body[key], str, body)
        # Liveness is not readiness: the process is fine.
        self.assertEqual(sb.get("/healthz").status, 200)
        sb.assert_alive()
        return body

    def assert_ready(self, sb, timeout=UP_TIMEOUT):
        r = sb.wait_ready(timeout)
        sb.assert_alive()
        return r

    def test_all_up(self):
        sb = self.start()
        r = self.assert_ready(sb)
        self.assertTrue(r.headers.get("content-type", "")
                        .startswith("application/json"), r.headers)
        self.assertNotEqual(r.json().get("status"), "unavailable")
        self.assertEqual(sb.get("/healthz").status, 200)
        self.assertEqual(sb.stop(), 0)

    def test_redis_stop_and_restart(self):
        sb = self.start()
        self.assert_ready(sb)
        self.redis.stop()
        self.assert_unready(sb, "redis", ok=("postgresql",))
        self.redis.start()
        self.assert_ready(sb)
        self.assertEqual(sb.stop(), 0)

    def test_redis_killed_and_restarted(self):
        sb = self.start()
        self.assert_ready(sb)
        self.redis.kill()
        self.assert_unready(sb, "redis")
        self.redis.start()
        self.assert_ready(sb)
        self.assertEqual(sb.stop(), 0)

    def check_pg_loss(self, mode):
        sb = self.start()
        self.assert_ready(sb)
        self.pg.stop(mode)
        self.assert_unready(sb, "postgresql", ok=("redis",))
        # It stays unready while PostgreSQL is down (no flapping).
        for _ in range(10):
            self.assertEqual(sb.get("/readyz").status, 503)
            time.sleep(0.2)
        self.pg.start()
        self.assert_ready(sb)
        self.assertEqual(sb.stop(), 0)

    def test_postgresql_immediate_stop_and_restart(self):
        self.check_pg_loss("immediate")

    def test_postgresql_fast_stop_and_restart(self):
        self.check_pg_loss("fast")

    def test_both_down_then_back(self):
        sb = self.start()
        self.assert_ready(sb)
        self.redis.stop()
        self.pg.stop("immediate")
        self.assert_unready(sb, "postgresql", "redis")
        self.redis.start()
        self.pg.start()
        self.assert_ready(sb)
        self.assertEqual(sb.stop(), 0)

    def test_start_while_postgresql_down(self):
        # A fresh database: the daemon applies migrations once it connects.
        self.pg.stop("fast")
        sb = self.start()  # waits for /healthz only
        self.assert_unready(sb, "postgresql")
        self.pg.start()
        self.assert_ready(sb)
        tables = self.pg.tables(self.db)
        self.assertIn("messages", tables)
        self.assertEqual(sb.stop(), 0)

    def test_start_while_redis_down(self):
        self.redis.stop()
        sb = self.start()
        self.assert_unready(sb, "redis")
        self.redis.start()
        self.assert_ready(sb)
        self.assertEqual(sb.stop(), 0)

    def test_migrations_pending_is_unready(self):
        # migrate_on_start off and an empty database: PostgreSQL and Redis
        # are reachable, but the schema is not current.
        sb = self.start(overrides={"postgresql": {"migrate_on_start": False}})
        self.assert_unready(sb, "migrations", ok=("postgresql", "redis"))
        self.assertEqual(sb.stop(), 0)
        r = harness.run_switchboard(["-c", sb.conf, "migrate"])
        self.assertEqual(r.returncode, 0, r.stderr)
        sb.start()
        self.assert_ready(sb)
        self.assertEqual(sb.stop(), 0)


if __name__ == "__main__":
    harness.main()
