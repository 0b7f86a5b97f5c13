/*
 * test_email_ack_sql.c: the limits on email acknowledgements (migration
 * 0025) against a real PostgreSQL: once per address per mailbox in the
 * window (whatever the case of the address), per mailbox per hour, per
 * destination domain per hour, bad addresses; two instances asking at
 * once get one yes; a rolled-back decision leaves no trace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "support.h"

static struct sb_pg pg;

static int
group_setup(void **st)
{
	(void)st;
	if (sb_pg_setup_migrated(&pg) != 0)
		return -1;
	return 0;
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	return 0;
}

/* The verdict on c: "" for allowed, else the reason. */
static void
verdict(PGconn *c, const char *sql, char *out, size_t len)
{
	PGresult *r = PQexec(c, sql);

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	snprintf(out, len, "%s",
	         PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void
ask(const char *args, const char *expect)
{
	char sql[512], got[64];
	PGconn *c = PQconnectdb(pg.conninfo);

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	snprintf(sql, sizeof(sql), "SELECT sb_email_ack_allowed(%s)", args);
	verdict(c, sql, got, sizeof(got));
	PQfinish(c);
	if (strcmp(got, expect) != 0)
		fail_msg("%s: %s, not %s", args, got[0] ? got : "allowed",
		         expect[0] ? expect : "allowed");
}

static void
exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
}

static void
test_once_per_address(void **st)
{
	(void)st;
	ask("'council', 'r@example.org'", "");
	ask("'council', 'r@example.org'", "recent");
	ask("'council', 'R@Example.ORG'", "recent");
	/* Another mailbox has its own. */
	ask("'foi', 'r@example.org'", "");
	/* Past the window (here none): again. */
	ask("'council', 'r@example.org', '0 seconds'", "");
	ask("'council', 'not an address'", "bad_address");
	ask("'council', 'a@b@c'", "bad_address");
}

static void
test_rates(void **st)
{
	char args[160];
	int i;

	(void)st;
	/* Per domain per hour: 3 to one domain, then no; others still yes. */
	for (i = 0; i < 3; i++) {
		snprintf(args, sizeof(args),
		         "'rates', 'p%d@victim.example', '7 days', 100, 3", i);
		ask(args, "");
	}
	ask("'rates', 'p9@victim.example', '7 days', 100, 3", "domain_rate");
	ask("'rates', 'p9@other.example', '7 days', 100, 3", "");
	/* Per mailbox per hour: 5 in all (4 so far), then no. */
	ask("'rates', 'q1@third.example', '7 days', 5, 3", "");
	ask("'rates', 'q2@fourth.example', '7 days', 5, 3", "mailbox_rate");
	/* Pruning keeps what the windows need. */
	assert_int_equal(sb_pg_value(&pg, "SELECT sb_email_acks_prune()"), 0);
}

/* 1 once a session waits on an advisory lock (within 10 s), else 0. */
static int
advisory_waiter(void)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (sb_pg_value(&pg,
		                "SELECT count(*) FROM pg_locks WHERE"
		                " locktype = 'advisory' AND NOT granted") == 1)
			return 1;
		usleep(20 * 1000);
	}
	return 0;
}

static void
test_two_instances_at_once(void **st)
{
	PGconn *a = PQconnectdb(pg.conninfo), *b = PQconnectdb(pg.conninfo);
	char got[64];
	PGresult *r;

	(void)st;
	assert_int_equal(PQstatus(a), CONNECTION_OK);
	assert_int_equal(PQstatus(b), CONNECTION_OK);
	exec_ok(a, "BEGIN");
	verdict(a, "SELECT sb_email_ack_allowed('race', 'x@example.org')", got,
	        sizeof(got));
	assert_string_equal(got, "");
	/* b asks while a has not committed: it waits for a's decision. */
	assert_int_equal(PQsendQuery(b, "SELECT sb_email_ack_allowed('race',"
	                                " 'x@example.org')"),
	                 1);
	assert_true(advisory_waiter());
	exec_ok(a, "COMMIT");
	r = PQgetResult(b);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_false(PQgetisnull(r, 0, 0));
	assert_string_equal(PQgetvalue(r, 0, 0), "recent");
	PQclear(r);
	assert_null(PQgetResult(b));
	/* A decision rolled back (its outbox row with it) leaves no trace. */
	exec_ok(a, "BEGIN");
	verdict(a, "SELECT sb_email_ack_allowed('race', 'y@example.org')", got,
	        sizeof(got));
	assert_string_equal(got, "");
	exec_ok(a, "ROLLBACK");
	ask("'race', 'y@example.org'", "");
	PQfinish(a);
	PQfinish(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_once_per_address),
	        cmocka_unit_test(test_rates),
	        cmocka_unit_test(test_two_instances_at_once),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
