/*
 * test_db_commit.c: the group-commit writer against a real PostgreSQL:
 * writes of one loop turn share one transaction, the batch cap splits
 * them, callers hear only after COMMIT, one bad write fails alone, a lost
 * connection reports "outcome unknown", and refusals are immediate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "db_commit.h"
#include "metrics.h"
#include "support.h"

#define INSERT "INSERT INTO t (id, v) VALUES ($1::int, $2)"

static struct sb_pg pg;

static int
group_setup(void **st)
{
	(void)st;
	if (sb_pg_setup(&pg) != 0)
		return -1;
	return sb_pg_exec(&pg, "CREATE TABLE t (id int PRIMARY KEY, v text)");
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	return 0;
}

static int
is_ready(void *arg)
{
	return db_ready(arg);
}

struct fixture {
	uv_loop_t loop;
	struct db *db;
	struct db_commit *w;
};

static void
fixture_open(struct fixture *f, unsigned batch_max, unsigned queue_max)
{
	struct db_options o;

	memset(&o, 0, sizeof(o));
	o.conninfo = pg.conninfo;
	o.connect_timeout_ms = 2000;
	o.query_timeout_ms = 10000;
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 300;
	uv_loop_init(&f->loop);
	f->db = db_new(&f->loop, &o);
	f->w = db_commit_new(&f->loop, f->db, batch_max, queue_max);
	db_start(f->db);
	assert_true(sb_run_until(&f->loop, is_ready, f->db, 5000));
	assert_int_equal(sb_pg_exec(&pg, "TRUNCATE t"), 0);
}

static void
fixture_close(struct fixture *f)
{
	db_close(f->db, NULL, NULL);
	db_commit_free(f->w);
	assert_int_equal(sb_loop_finish(&f->loop), 0);
}

struct outcome {
	int done;
	int ok;
	int id;
	long visible; /* rows with this id seen by another session */
	char err[256];
	char returned[32];
};

static void
on_commit(void *arg, int ok, const PGresult *res, const char *err)
{
	struct outcome *o = arg;
	char sql[128];

	o->done = 1;
	o->ok = ok;
	if (err != NULL)
		snprintf(o->err, sizeof(o->err), "%s", err);
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1)
		snprintf(o->returned, sizeof(o->returned), "%s",
		         PQgetvalue(res, 0, 0));
	if (ok) {
		/* Told only after COMMIT: another session must see it. */
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM t WHERE id = %d", o->id);
		o->visible = sb_pg_value(&pg, sql);
	}
}

struct all {
	struct outcome *o;
	int n;
};

static int
all_done(void *arg)
{
	struct all *a = arg;
	int i;

	for (i = 0; i < a->n; i++)
		if (!a->o[i].done)
			return 0;
	return 1;
}

static void
submit_range(struct fixture *f, struct outcome *o, int first, int n,
             const char *sql)
{
	const char *reason = NULL;
	char id[16];
	const char *params[2];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%d", first + i);
		params[0] = id;
		params[1] = "value";
		o[i].id = first + i;
		assert_int_equal(db_commit_submit(f->w, sql, 2, params,
		                                  on_commit, &o[i], &reason),
		                 0);
	}
}

static void
test_one_turn_one_transaction(void **st)
{
	struct outcome o[100];
	struct all a = {o, 100};
	struct fixture f;
	int i;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 256, 0);
	submit_range(&f, o, 1, 100, INSERT);
	assert_int_equal(db_commit_backlog(f.w), 100);
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	for (i = 0; i < 100; i++) {
		assert_int_equal(o[i].ok, 1);
		assert_int_equal(o[i].visible, 1);
	}
	assert_int_equal(db_commit_transactions(f.w), 1);
	assert_int_equal(db_commit_backlog(f.w), 0);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM t"), 100);
	fixture_close(&f);
}

static void
test_batch_cap(void **st)
{
	struct outcome o[100];
	struct all a = {o, 100};
	struct fixture f;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 10, 0);
	submit_range(&f, o, 1, 100, INSERT);
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	assert_int_equal(db_commit_transactions(f.w), 10);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM t"), 100);
	fixture_close(&f);
}

static void
test_later_writes_gather(void **st)
{
	struct outcome o[40];
	struct all a = {o, 40};
	struct fixture f;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 256, 0);
	/* Four turns of ten writes: at most four transactions, at least 1. */
	submit_range(&f, o, 1, 10, INSERT);
	uv_run(&f.loop, UV_RUN_NOWAIT);
	submit_range(&f, o + 10, 11, 10, INSERT);
	uv_run(&f.loop, UV_RUN_NOWAIT);
	submit_range(&f, o + 20, 21, 10, INSERT);
	uv_run(&f.loop, UV_RUN_NOWAIT);
	submit_range(&f, o + 30, 31, 10, INSERT);
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	assert_true(db_commit_transactions(f.w) >= 1);
	assert_true(db_commit_transactions(f.w) <= 4);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM t"), 40);
	fixture_close(&f);
}

/*
 * With a linger, writes of several loop turns within it share one
 * transaction, none is committed before its batch's oldest write is that
 * old, and a full batch does not wait.
 */
static void
test_linger_gathers(void **st)
{
	struct outcome o[30];
	struct all first = {o, 5}, full = {o + 20, 10};
	struct fixture f;
	uint64_t t0;
	int i;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 10, 0);
	db_commit_set_linger(f.w, 2000);
	t0 = uv_now(&f.loop);
	for (i = 0; i < 5; i++) {
		submit_range(&f, o + i, 1 + i, 1, INSERT);
		sb_run_for(&f.loop, 20);
	}
	assert_int_equal(db_commit_transactions(f.w), 0);
	assert_int_equal(o[0].done, 0);
	assert_true(sb_run_until(&f.loop, all_done, &first, 5000));
	uv_update_time(&f.loop);
	assert_true(uv_now(&f.loop) - t0 >= 1990);
	assert_int_equal(db_commit_transactions(f.w), 1);
	/* A full batch (10) goes at once. */
	t0 = uv_now(&f.loop);
	submit_range(&f, o + 20, 21, 10, INSERT);
	assert_true(sb_run_until(&f.loop, all_done, &full, 5000));
	uv_update_time(&f.loop);
	assert_true(uv_now(&f.loop) - t0 < 1500);
	assert_int_equal(db_commit_transactions(f.w), 2);
	for (i = 0; i < 5; i++)
		assert_int_equal(o[i].ok, 1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM t"), 15);
	fixture_close(&f);
}

static void
test_bad_write_fails_alone(void **st)
{
	struct outcome o[10], pre = {0};
	struct all a = {o, 10}, p = {&pre, 1};
	struct fixture f;
	int i;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 256, 0);
	submit_range(&f, &pre, 5, 1, INSERT);
	assert_true(sb_run_until(&f.loop, all_done, &p, 5000));
	assert_int_equal(pre.ok, 1);
	/* Ids 1..10 in one turn: 5 already exists. */
	submit_range(&f, o, 1, 10, INSERT);
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	for (i = 0; i < 10; i++) {
		if (o[i].id == 5) {
			assert_int_equal(o[i].ok, 0);
			assert_non_null(strstr(o[i].err, "duplicate key"));
		} else {
			if (!o[i].ok)
				print_message("id %d: %s\n", o[i].id, o[i].err);
			assert_int_equal(o[i].ok, 1);

			assert_int_equal(o[i].visible, 1);
		}
	}
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM t"), 10);
	fixture_close(&f);
}

/*
 * An ordered writer: a batch that fails is tried again row by row before
 * anything submitted after it is sent, so every write runs in the order
 * it was submitted (o.at, a sequence taken as each row is inserted). With
 * two transactions in flight the second batch, already sent, would run
 * before the first one's retries.
 */
static void
test_ordered_retry(void **st)
{
	struct outcome pre = {0}, o[9];
	struct all p = {&pre, 1}, a = {o, 9};
	struct fixture f;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 256, 0);
	db_commit_set_ordered(f.w);
	assert_int_equal(sb_pg_exec(&pg,
	                            "CREATE SEQUENCE IF NOT EXISTS t_at;"
	                            "ALTER TABLE t ADD COLUMN IF NOT EXISTS at"
	                            " bigint DEFAULT nextval('t_at')"),
	                 0);
	submit_range(&f, &pre, 5, 1, INSERT);
	assert_true(sb_run_until(&f.loop, all_done, &p, 5000));
	/* Ids 1..6 in one turn (5 exists: the batch fails), then 101..103. */
	submit_range(&f, o, 1, 6, INSERT);
	uv_run(&f.loop, UV_RUN_NOWAIT);
	submit_range(&f, o + 6, 101, 3, INSERT);
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	assert_int_equal(o[4].ok, 0);
	assert_int_equal(o[6].ok, 1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM t"), 9);
	/* Every retried row of the first batch ran before the second. */
	assert_int_equal(sb_pg_value(&pg,
	                             "SELECT count(*) FROM t WHERE id < 100"
	                             " AND id <> 5 AND at > (SELECT min(at)"
	                             " FROM t WHERE id > 100)"),
	                 0);
	assert_int_equal(sb_pg_exec(&pg, "ALTER TABLE t DROP COLUMN at"), 0);
	fixture_close(&f);
}

static void
test_returning(void **st)
{
	struct outcome o = {0};
	struct all a = {&o, 1};
	struct fixture f;

	(void)st;
	fixture_open(&f, 256, 0);
	submit_range(&f, &o, 77, 1, INSERT " RETURNING id * 2");
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	assert_int_equal(o.ok, 1);
	assert_string_equal(o.returned, "154");
	fixture_close(&f);
}

/* ---------------------------------------------------------- row sets */

static const struct db_rows ROWS = {
        "WITH r AS (SELECT * FROM unnest($1::int[], $2::text[])"
        "  WITH ORDINALITY AS r(id, v, n)),"
        " ins AS (INSERT INTO t (id, v) SELECT id, v FROM r ORDER BY n"
        "  ON CONFLICT (id) DO NOTHING RETURNING id, v)"
        " SELECT min(r.n), ins.v FROM ins JOIN r ON r.id = ins.id"
        " GROUP BY ins.id, ins.v",
        2};

static void
on_row(void *arg, int ok, const PGresult *res, int row, const char *err)
{
	struct outcome *o = arg;
	char sql[128];

	o->done = 1;
	o->ok = ok;
	if (err != NULL)
		snprintf(o->err, sizeof(o->err), "%s", err);
	if (res != NULL && row >= 0)
		snprintf(o->returned, sizeof(o->returned), "%s",
		         PQgetvalue(res, row, 1));
	else
		snprintf(o->returned, sizeof(o->returned), "(none)");
	if (ok) {
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM t WHERE id = %d", o->id);
		o->visible = sb_pg_value(&pg, sql);
	}
}

static void
submit_rows(struct fixture *f, struct outcome *o, int first, int n,
            const char *value)
{
	const char *reason = NULL, *params[2];
	char id[16];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%d", first + i);
		params[0] = id;
		params[1] = value;
		o[i].id = first + i;
		assert_int_equal(db_commit_submit_row(f->w, &ROWS, params,
		                                      on_row, &o[i], &reason),
		                 0);
	}
}

static struct db_commit *tx_writer;
static unsigned long tx_of[128]; /* by id: the transaction it was in */

static void
on_row_tx(void *arg, int ok, const PGresult *res, int row, const char *err)
{
	struct outcome *o = arg;

	on_row(arg, ok, res, row, err);
	tx_of[o->id] = db_commit_transactions(tx_writer);
}

/*
 * Writes submitted "later" go behind the others: in the first batch only
 * where there is room, then in later ones, even when they were queued
 * first; and rows of both kinds of one batch share its statement.
 */
static void
test_later_rows_go_behind(void **st)
{
	const char *reason = NULL, *params[2];
	struct outcome o[25];
	struct all a = {o, 25};
	struct fixture f;
	char id[16];
	int i, in_first = 0;

	(void)st;
	memset(o, 0, sizeof(o));
	memset(tx_of, 0, sizeof(tx_of));
	fixture_open(&f, 10, 0);
	tx_writer = f.w;
	for (i = 0; i < 25; i++) {
		o[i].id = i < 20 ? 1 + i : 81 + i; /* later 1..20, then 101.. */
		snprintf(id, sizeof(id), "%d", o[i].id);
		params[0] = id;
		params[1] = "v";
		if (i < 20)
			assert_int_equal(db_commit_submit_row_later(
			                         f.w, &ROWS, params, on_row_tx,
			                         &o[i], &reason),
			                 0);
		else
			assert_int_equal(db_commit_submit_row(f.w, &ROWS,
			                                      params, on_row_tx,
			                                      &o[i], &reason),
			                 0);
	}
	assert_int_equal(db_commit_backlog(f.w), 25);
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	for (i = 0; i < 25; i++)
		assert_int_equal(o[i].ok, 1);
	/* The five queued the usual way went first, */
	for (i = 101; i <= 105; i++)
		assert_int_equal(tx_of[i], 1);
	/* with the five oldest of the others, in order; then the rest. */
	for (i = 1; i <= 20; i++) {
		assert_int_equal(tx_of[i], i <= 5 ? 1 : i <= 15 ? 2 : 3);
		in_first += tx_of[i] == 1;
	}
	assert_int_equal(in_first, 5);
	assert_int_equal(db_commit_transactions(f.w), 3);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM t"), 25);
	fixture_close(&f);
}

/* Rows of one turn go out as one statement; each hears its own row. */
static void
test_rows_one_statement(void **st)
{
	static const char *values[] = {"plain", "with \"quotes\" and \\ and ,",
	                               "{braces}", "", "caf\xc3\xa9 NULL"};
	struct outcome o[50];
	struct all a = {o, 50};
	struct fixture f;
	unsigned long s0;
	int i;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 256, 0);
	s0 = db_commit_statements(f.w);
	for (i = 0; i < 50; i++)
		submit_rows(&f, &o[i], i + 1, 1, values[i % 5]);
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	assert_int_equal(db_commit_statements(f.w) - s0, 1);
	assert_int_equal(db_commit_transactions(f.w), 1);
	for (i = 0; i < 50; i++) {
		assert_int_equal(o[i].ok, 1);
		assert_int_equal(o[i].visible, 1);
		assert_string_equal(o[i].returned, values[i % 5]);
	}
	/* A SQL NULL element stays NULL, not the text "NULL". */
	{
		struct outcome n = {0};
		struct all an = {&n, 1};
		const char *reason = NULL, *params[2] = {"999", NULL};

		n.id = 999;
		assert_int_equal(db_commit_submit_row(f.w, &ROWS, params,
		                                      on_row, &n, &reason),
		                 0);
		assert_true(sb_run_until(&f.loop, all_done, &an, 5000));
		assert_int_equal(n.ok, 1);
		assert_int_equal(
		        sb_pg_value(&pg, "SELECT count(*) FROM t WHERE id = 999"
		                         " AND v IS NULL"),
		        1);
	}
	fixture_close(&f);
}

/* A row with no result row (conflict) hears row -1, still committed. */
static void
test_rows_without_result(void **st)
{
	struct outcome o[3];
	struct all a = {o, 3};
	struct fixture f;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 256, 0);
	submit_rows(&f, &o[0], 1, 1, "a");
	submit_rows(&f, &o[1], 1, 1, "b"); /* same id: nothing returned */
	submit_rows(&f, &o[2], 2, 1, "c");
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	assert_int_equal(o[0].ok, 1);
	assert_string_equal(o[0].returned, "a");
	assert_int_equal(o[1].ok, 1);
	assert_string_equal(o[1].returned, "(none)");
	assert_int_equal(o[2].ok, 1);
	assert_string_equal(o[2].returned, "c");
	fixture_close(&f);
}

/*
 * A bad row aborts the shared statement; every row is retried alone and
 * only the bad one fails. Plain writes in the same batch are unaffected.
 */
static void
test_rows_bad_row_fails_alone(void **st)
{
	struct outcome o[10], plain = {0};
	struct all a = {o, 10}, p = {&plain, 1};
	const char *reason = NULL, *params[2];
	struct fixture f;
	int i;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 256, 0);
	submit_rows(&f, o, 1, 5, "ok");
	params[0] = "not a number";
	params[1] = "bad";
	o[5].id = -1;
	assert_int_equal(db_commit_submit_row(f.w, &ROWS, params, on_row, &o[5],
	                                      &reason),
	                 0);
	submit_range(&f, &plain, 100, 1, INSERT);
	submit_rows(&f, &o[6], 6, 4, "ok");
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	assert_true(sb_run_until(&f.loop, all_done, &p, 5000));
	for (i = 0; i < 10; i++) {
		if (i == 5) {
			assert_int_equal(o[i].ok, 0);
			assert_non_null(strstr(o[i].err, "invalid input"));
			continue;
		}
		assert_int_equal(o[i].ok, 1);
		assert_int_equal(o[i].visible, 1);
	}
	assert_int_equal(plain.ok, 1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM t"), 10);
	fixture_close(&f);
}

/*
 * A write that fails alone with serialization_failure (a concurrent
 * writer won) is tried again alone, and succeeds; one that keeps failing
 * so is reported after DB_COMMIT_SERIAL_RETRIES tries. A sequence counts
 * the attempts: it is not rolled back with them.
 */
static void
test_serialization_failure_retried(void **st)
{
	static const char *const fn =
	        "CREATE OR REPLACE FUNCTION t_flaky(p int, fails int)"
	        " RETURNS int LANGUAGE plpgsql AS $$ BEGIN"
	        " IF nextval('t_tries') <= fails THEN RAISE EXCEPTION"
	        " 'concurrent' USING ERRCODE = 'serialization_failure';"
	        " END IF; INSERT INTO t (id, v) VALUES (p, 'x'); RETURN p;"
	        " END $$";
	const char *reason = NULL, *params[2];
	struct outcome o[2];
	struct all a = {o, 1}, b = {&o[1], 1};
	struct fixture f;

	(void)st;
	memset(o, 0, sizeof(o));
	assert_int_equal(sb_pg_exec(&pg, "CREATE SEQUENCE t_tries"), 0);
	assert_int_equal(sb_pg_exec(&pg, fn), 0);
	fixture_open(&f, 256, 0);
	params[0] = "7";
	params[1] = "1"; /* fails once */
	o[0].id = 7;
	assert_int_equal(db_commit_submit(f.w,
	                                  "SELECT t_flaky($1::int,"
	                                  " $2::int)",
	                                  2, params, on_commit, &o[0], &reason),
	                 0);
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	assert_int_equal(o[0].ok, 1);
	assert_int_equal(o[0].visible, 1);
	assert_int_equal(sb_pg_value(&pg, "SELECT last_value FROM t_tries"), 2);
	/* Always failing: 1 + DB_COMMIT_SERIAL_RETRIES tries, then reported. */
	assert_int_equal(sb_pg_exec(&pg, "SELECT setval('t_tries', 1, false)"),
	                 0);
	params[0] = "8";
	params[1] = "1000";
	o[1].id = 8;
	assert_int_equal(db_commit_submit(f.w,
	                                  "SELECT t_flaky($1::int,"
	                                  " $2::int)",
	                                  2, params, on_commit, &o[1], &reason),
	                 0);
	assert_true(sb_run_until(&f.loop, all_done, &b, 5000));
	assert_int_equal(o[1].ok, 0);
	assert_non_null(strstr(o[1].err, "concurrent"));
	assert_int_equal(sb_pg_value(&pg, "SELECT last_value FROM t_tries"),
	                 1 + DB_COMMIT_SERIAL_RETRIES);
	fixture_close(&f);
	assert_int_equal(sb_pg_exec(&pg, "DROP FUNCTION t_flaky(int, int);"
	                                 " DROP SEQUENCE t_tries"),
	                 0);
}

static void
test_refusals(void **st)
{
	struct outcome o[3];
	struct all a = {o, 2};
	const char *reason = NULL;
	const char *params[2] = {"1", "x"};
	struct fixture f;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 256, 2);
	submit_range(&f, o, 1, 2, INSERT);
	assert_int_equal(db_commit_submit(f.w, INSERT, 2, params, on_commit,
	                                  &o[2], &reason),
	                 -1);
	assert_string_equal(reason, "write queue full");
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));

	assert_int_equal(sb_pg_stop(&pg, "fast"), 0);
	sb_run_for(&f.loop, 500);
	assert_false(db_ready(f.db));
	reason = NULL;
	assert_int_equal(db_commit_submit(f.w, INSERT, 2, params, on_commit,
	                                  &o[2], &reason),
	                 -1);
	assert_string_equal(reason, "database unavailable");
	assert_int_equal(o[2].done, 0);
	assert_int_equal(sb_pg_start(&pg), 0);
	assert_true(sb_run_until(&f.loop, is_ready, f.db, 10000));
	fixture_close(&f);
}

static void
test_lost_connection_outcome_unknown(void **st)
{
	struct outcome o[3];
	struct all a = {o, 3};
	struct fixture f;
	int i;

	(void)st;
	memset(o, 0, sizeof(o));
	fixture_open(&f, 256, 0);
	submit_range(&f, o, 1, 2, INSERT);
	/* A slow write keeps the transaction open while we kill the server. */
	submit_range(&f, o + 2, 3, 1,
	             "INSERT INTO t (id, v) SELECT $1::int, $2 FROM "
	             "pg_sleep(5)");
	sb_run_for(&f.loop, 300);
	assert_int_equal(sb_pg_stop(&pg, "immediate"), 0);
	assert_true(sb_run_until(&f.loop, all_done, &a, 5000));
	for (i = 0; i < 3; i++) {
		assert_int_equal(o[i].ok, 0);
		assert_string_equal(o[i].err,
		                    "connection lost; outcome unknown");
	}
	assert_int_equal(sb_pg_start(&pg), 0);
	assert_true(sb_run_until(&f.loop, is_ready, f.db, 10000));
	/* Nothing of the aborted transaction was committed. */
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM t"), 0);
	fixture_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_one_turn_one_transaction),
	        cmocka_unit_test(test_batch_cap),
	        cmocka_unit_test(test_later_writes_gather),
	        cmocka_unit_test(test_linger_gathers),
	        cmocka_unit_test(test_later_rows_go_behind),
	        cmocka_unit_test(test_bad_write_fails_alone),
	        cmocka_unit_test(test_ordered_retry),
	        cmocka_unit_test(test_returning),
	        cmocka_unit_test(test_rows_one_statement),
	        cmocka_unit_test(test_rows_without_result),
	        cmocka_unit_test(test_rows_bad_row_fails_alone),
	        cmocka_unit_test(test_serialization_failure_retried),
	        cmocka_unit_test(test_refusals),
	        cmocka_unit_test(test_lost_connection_outcome_unknown),
	};

	gw_metrics_reset();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
