/*
 * test_db.c: the PostgreSQL connection when the server is down, when it
 * starts later, when it restarts, with pipelined statements and errors,
 * and with a query that outlives its timeout. Every test ends with
 * uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "support.h"

static struct sb_pg pg;

static int
group_setup(void **st)
{
	(void)st;
	return sb_pg_setup(&pg);
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	return 0;
}

struct state_log {
	int ups, downs;
};

static void
on_state(void *arg, int up)
{
	struct state_log *s = arg;

	if (up)
		s->ups++;
	else
		s->downs++;
}

static int
is_ready(void *arg)
{
	return db_ready(arg);
}

static int
is_down(void *arg)
{
	return !db_ready(arg);
}

static struct db *
make_db(uv_loop_t *loop, const char *conninfo, int query_timeout_ms)
{
	struct db_options o;

	memset(&o, 0, sizeof(o));
	o.conninfo = conninfo;
	o.connect_timeout_ms = 2000;
	o.query_timeout_ms = query_timeout_ms;
	o.probe_interval_ms = 200;
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 300;
	return db_new(loop, &o);
}

struct result {
	int called;
	int status;
	int null_res;
	char value[64];
	char err[256];
};

static void
on_result(void *arg, PGresult *res, const char *err)
{
	struct result *r = arg;

	r->called++;
	if (res == NULL) {
		r->null_res = 1;
		snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
		return;
	}
	r->status = PQresultStatus(res);
	if (r->status == PGRES_TUPLES_OK && PQntuples(res) > 0)
		snprintf(r->value, sizeof(r->value), "%s",
		         PQgetvalue(res, 0, 0));
	if (r->status == PGRES_FATAL_ERROR)
		snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
}

struct sync {
	int called, ok;
};

static void
on_sync(void *arg, int ok, const char *err)
{
	struct sync *s = arg;

	(void)err;
	s->called++;
	s->ok = ok;
}

static int
result_done(void *arg)
{
	return ((struct result *)arg)->called > 0;
}

static int
sync_done(void *arg)
{
	return ((struct sync *)arg)->called > 0;
}

static void
test_server_down(void **st)
{
	char conninfo[128];
	uv_loop_t loop;
	struct db *db;

	(void)st;
	snprintf(conninfo, sizeof(conninfo),
	         "hostaddr=127.0.0.1 port=%d dbname=x user=x", sb_free_port());
	uv_loop_init(&loop);
	db = make_db(&loop, conninfo, 1000);
	db_start(db);
	sb_run_for(&loop, 400);
	assert_false(db_ready(db));
	assert_non_null(strstr(db_status(db), "refused"));
	assert_int_equal(db_schema_version(db), -1);
	assert_int_equal(db_query(db, "SELECT 1", 0, NULL, on_result, NULL),
	                 -1);
	db_close(db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

static void
test_query_and_probe(void **st)
{
	struct result r = {0};
	const char *params[1] = {"41"};
	uv_loop_t loop;
	struct db *db;

	(void)st;
	uv_loop_init(&loop);
	db = make_db(&loop, pg.conninfo, 5000);
	db_start(db);
	assert_true(sb_run_until(&loop, is_ready, db, 5000));
	assert_int_equal(
	        db_query(db, "SELECT $1::int + 1", 1, params, on_result, &r),
	        0);
	assert_true(sb_run_until(&loop, result_done, &r, 3000));
	assert_int_equal(r.status, PGRES_TUPLES_OK);
	assert_string_equal(r.value, "42");
	/* No schema_migrations table yet: the probe reports version 0. */
	sb_run_for(&loop, 400);
	assert_int_equal(db_schema_version(db), 0);
	db_close(db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

static void
test_pipeline_error_isolated(void **st)
{
	struct result a = {0}, b = {0}, c = {0}, d = {0};
	struct sync s1 = {0};
	uv_loop_t loop;
	struct db *db;

	(void)st;
	uv_loop_init(&loop);
	db = make_db(&loop, pg.conninfo, 5000);
	db_start(db);
	assert_true(sb_run_until(&loop, is_ready, db, 5000));
	assert_int_equal(db_send(db, "SELECT 1", 0, NULL, on_result, &a), 0);
	assert_int_equal(db_send(db, "SELECT 1/0", 0, NULL, on_result, &b), 0);
	assert_int_equal(db_send(db, "SELECT 3", 0, NULL, on_result, &c), 0);
	assert_int_equal(db_sync(db, on_sync, &s1), 0);
	/* The next segment is unaffected by the failed one. */
	assert_int_equal(db_query(db, "SELECT 4", 0, NULL, on_result, &d), 0);
	assert_true(sb_run_until(&loop, result_done, &d, 3000));
	assert_int_equal(a.status, PGRES_TUPLES_OK);
	assert_int_equal(b.status, PGRES_FATAL_ERROR);
	assert_non_null(strstr(b.err, "division by zero"));
	assert_int_equal(c.status, PGRES_PIPELINE_ABORTED);
	assert_int_equal(s1.called, 1);
	assert_int_equal(s1.ok, 0);
	assert_string_equal(d.value, "4");
	assert_int_equal(db_pending(db), 0);
	db_close(db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

static void
test_restart(void **st)
{
	struct state_log log = {0, 0};
	struct result r = {0};
	uv_loop_t loop;
	struct db *db;

	(void)st;
	uv_loop_init(&loop);
	db = make_db(&loop, pg.conninfo, 5000);
	db_set_state_cb(db, on_state, &log);
	db_start(db);
	assert_true(sb_run_until(&loop, is_ready, db, 5000));
	assert_int_equal(log.ups, 1);

	assert_int_equal(sb_pg_stop(&pg, "fast"), 0);
	assert_true(sb_run_until(&loop, is_down, db, 5000));
	assert_int_equal(log.downs, 1);
	assert_int_equal(db_query(db, "SELECT 1", 0, NULL, on_result, &r), -1);
	sb_run_for(&loop, 300);
	assert_false(db_ready(db));

	assert_int_equal(sb_pg_start(&pg), 0);
	assert_true(sb_run_until(&loop, is_ready, db, 10000));
	assert_int_equal(log.ups, 2);
	assert_int_equal(db_query(db, "SELECT 7", 0, NULL, on_result, &r), 0);
	assert_true(sb_run_until(&loop, result_done, &r, 3000));
	assert_string_equal(r.value, "7");
	db_close(db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

/*
 * Prepared statements: prepared once per connection and reused; after the
 * connection is lost (the server's prepared statements with it) prepared
 * again; a statement whose prepare failed is prepared again next time.
 */
static const char PREP_SQL[] = "SELECT $1::int * 2";
static const char PREP_BAD[] = "SELECT $1::int * 2 FROM no_such_table_yet";

static void
prepared_once(uv_loop_t *loop, struct db *db, const char *sql, const char *arg,
              struct result *r)
{
	const char *v[1] = {arg};

	memset(r, 0, sizeof(*r));
	assert_int_equal(db_send_prepared(db, sql, 1, v, on_result, r), 0);
	assert_int_equal(db_sync(db, NULL, NULL), 0);
	assert_true(sb_run_until(loop, result_done, r, 5000));
}

static void
test_prepared(void **st)
{
	struct result r;
	uv_loop_t loop;
	struct db *db;
	int i;

	(void)st;
	uv_loop_init(&loop);
	db = make_db(&loop, pg.conninfo, 5000);
	db_start(db);
	assert_true(sb_run_until(&loop, is_ready, db, 5000));
	for (i = 0; i < 3; i++) {
		prepared_once(&loop, db, PREP_SQL, "21", &r);
		assert_int_equal(r.status, PGRES_TUPLES_OK);
		assert_string_equal(r.value, "42");
	}
	/* A failed prepare: the statement fails, and is prepared again. */
	prepared_once(&loop, db, PREP_BAD, "1", &r);
	assert_int_equal(r.status,
	                 PGRES_PIPELINE_ABORTED); /* after the prepare */
	assert_int_equal(sb_pg_exec(&pg, "CREATE TABLE no_such_table_yet ()"),
	                 0);
	prepared_once(&loop, db, PREP_BAD, "1", &r);
	assert_int_equal(r.status, PGRES_TUPLES_OK);
	assert_int_equal(sb_pg_exec(&pg, "DROP TABLE no_such_table_yet"), 0);
	/* The server forgets prepared statements with the connection. */
	assert_int_equal(sb_pg_stop(&pg, "fast"), 0);
	assert_true(sb_run_until(&loop, is_down, db, 5000));
	assert_int_equal(sb_pg_start(&pg), 0);
	assert_true(sb_run_until(&loop, is_ready, db, 10000));
	prepared_once(&loop, db, PREP_SQL, "50", &r);
	assert_int_equal(r.status, PGRES_TUPLES_OK);
	assert_string_equal(r.value, "100");
	db_close(db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

static void
test_killed_midquery(void **st)
{
	struct result r = {0};
	struct sync s = {0};
	uv_loop_t loop;
	struct db *db;

	(void)st;
	uv_loop_init(&loop);
	db = make_db(&loop, pg.conninfo, 10000);
	db_start(db);
	assert_true(sb_run_until(&loop, is_ready, db, 5000));
	assert_int_equal(
	        db_send(db, "SELECT pg_sleep(5)", 0, NULL, on_result, &r), 0);
	assert_int_equal(db_sync(db, on_sync, &s), 0);
	sb_run_for(&loop, 200);
	assert_int_equal(sb_pg_stop(&pg, "immediate"), 0);
	assert_true(sb_run_until(&loop, sync_done, &s, 5000));
	assert_int_equal(r.null_res, 1);
	assert_int_equal(s.ok, 0);
	assert_false(db_ready(db));
	assert_int_equal(sb_pg_start(&pg), 0);
	assert_true(sb_run_until(&loop, is_ready, db, 10000));
	db_close(db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

static void
test_query_timeout(void **st)
{
	struct result r = {0};
	uv_loop_t loop;
	struct db *db;

	(void)st;
	uv_loop_init(&loop);
	db = make_db(&loop, pg.conninfo, 500);
	db_start(db);
	assert_true(sb_run_until(&loop, is_ready, db, 5000));
	assert_int_equal(
	        db_query(db, "SELECT pg_sleep(3)", 0, NULL, on_result, &r), 0);
	assert_true(sb_run_until(&loop, result_done, &r, 2000));
	assert_int_equal(r.null_res, 1);
	assert_non_null(strstr(r.err, "timed out"));
	/* It reconnects by itself. */
	assert_true(sb_run_until(&loop, is_ready, db, 5000));
	db_close(db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

static void
test_close_fails_pending(void **st)
{
	struct result r = {0};
	uv_loop_t loop;
	struct db *db;

	(void)st;
	uv_loop_init(&loop);
	db = make_db(&loop, pg.conninfo, 5000);
	db_start(db);
	assert_true(sb_run_until(&loop, is_ready, db, 5000));
	assert_int_equal(
	        db_query(db, "SELECT pg_sleep(2)", 0, NULL, on_result, &r), 0);
	db_close(db, NULL, NULL);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.null_res, 1);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_server_down),
	        cmocka_unit_test(test_query_and_probe),
	        cmocka_unit_test(test_pipeline_error_isolated),
	        cmocka_unit_test(test_restart),
	        cmocka_unit_test(test_prepared),
	        cmocka_unit_test(test_killed_midquery),
	        cmocka_unit_test(test_query_timeout),
	        cmocka_unit_test(test_close_fails_pending),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
