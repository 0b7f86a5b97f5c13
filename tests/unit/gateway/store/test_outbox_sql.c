/*
 * test_outbox_sql.c: claiming outbox rows (migration 0026) against a real
 * PostgreSQL: due rows claimed with a lease, a conversation's rows in
 * order, two senders at once never claiming the same row, sent and failed
 * (permanent, or retried after a backoff), too many attempts, a lease that
 * ran out claimed again, and an outdated attempt unable to overwrite the
 * newer one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	/* Two conversations: A (rows a1, a2), B (b1); and n1 with none. */
	return sb_pg_exec(
	        &pg,
	        "INSERT INTO customers (id, display_name) VALUES (1, 'R');"
	        "INSERT INTO conversations (id, customer_id, channel) VALUES"
	        " (1, 1, 'email'), (2, 1, 'email');"
	        "INSERT INTO outbox (id, conversation_id, channel, destination)"
	        " VALUES (1, 1, 'email', 'a1@example.org'),"
	        " (2, 2, 'email', 'b1@example.org'),"
	        " (3, 1, 'email', 'a2@example.org'),"
	        " (4, NULL, 'email', 'n1@example.org'),"
	        " (5, NULL, 'sms', '+447700900123')");
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	return 0;
}

__attribute__((format(printf, 1, 2))) static long
pg_long(const char *fmt, ...)
{
	char sql[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return sb_pg_value(&pg, sql);
}

/* The ids a claim on c gave, as one number: 1, 2, 4 -> 124. */
static long
claim(PGconn *c, int limit, const char *lease)
{
	char sql[256];
	PGresult *r;
	long ids = 0;
	int i;

	snprintf(
	        sql, sizeof(sql),
	        "SELECT id FROM sb_outbox_claim('email', %d, '%s') ORDER BY id",
	        limit, lease);
	r = PQexec(c, sql);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	for (i = 0; i < PQntuples(r); i++)
		ids = ids * 10 + strtol(PQgetvalue(r, i, 0), NULL, 10);
	PQclear(r);
	return ids;
}

static void
exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
}

static void
test_claim_in_order_and_apart(void **st)
{
	PGconn *a = PQconnectdb(pg.conninfo), *b = PQconnectdb(pg.conninfo);

	(void)st;
	assert_int_equal(PQstatus(a), CONNECTION_OK);
	assert_int_equal(PQstatus(b), CONNECTION_OK);
	/* a claims the oldest and has not committed; b claims what is left. */
	exec_ok(a, "BEGIN");
	assert_int_equal(claim(a, 1, "2 minutes"), 1);
	/* Row 3 waits for row 1 (same conversation); 5 is another channel. */
	assert_int_equal(claim(b, 10, "2 minutes"), 24);
	exec_ok(a, "COMMIT");
	/* Nothing more is due: claimed rows hold their lease. */
	assert_int_equal(claim(b, 10, "2 minutes"), 0);
	assert_int_equal(pg_long("SELECT count(*) FROM outbox WHERE status ="
	                         " 'sending' AND attempts = 1"),
	                 3);
	/* 1 sent: 3, its conversation's next, comes due. */
	assert_int_equal(pg_long("SELECT sb_outbox_sent(1, 1, 'prov-1')::int"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM outbox WHERE id = 1 AND"
	                         " status = 'sent' AND sent_at IS NOT NULL AND"
	                         " provider_id = 'prov-1'"),
	                 1);
	assert_int_equal(claim(b, 10, "2 minutes"), 3);
	/* Twice is refused: the row is no longer 'sending'. */
	assert_int_equal(pg_long("SELECT sb_outbox_sent(1, 1, NULL)::int"), 0);
	PQfinish(a);
	PQfinish(b);
}

static void
test_failures(void **st)
{
	(void)st;
	/* After test_claim_in_order_and_apart: 2 and 4 sending (attempt 1). */
	/* Transient: back to pending, due in 30 to 33 s. */
	assert_int_equal(pg_long("SELECT count(*) FROM sb_outbox_failed(2, 1,"
	                         " '451 4.3.0 try later', false) s WHERE s ="
	                         " 'pending'"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM outbox WHERE id = 2 AND"
	                         " next_attempt_at BETWEEN now() + '29 s' AND"
	                         " now() + '34 s' AND last_error LIKE '451%%'"),
	                 1);
	/* Permanent: failed, with the reason for the advisor. */
	assert_int_equal(pg_long("SELECT count(*) FROM sb_outbox_failed(4, 1,"
	                         " '550 5.1.1 no such user', true) s WHERE s ="
	                         " 'failed'"),
	                 1);
	/* An outdated attempt changes nothing. */
	assert_int_equal(pg_long("SELECT count(*) FROM sb_outbox_failed(3, 9,"
	                         " 'x', true)"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM outbox WHERE id = 3 AND"
	                         " status = 'sending'"),
	                 1);
	/* Too many attempts: failed even when transient. */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE outbox SET attempts = 12 WHERE"
	                                 " id = 3"),
	                 0);
	assert_int_equal(pg_long("SELECT count(*) FROM sb_outbox_failed(3, 12,"
	                         " '421 busy', false) s WHERE s = 'failed'"),
	                 1);
	/* The backoff doubles, and stops at an hour (and a tenth). */
	assert_int_equal(pg_long("SELECT count(*) FROM generate_series(1, 50) g"
	                         " WHERE sb_outbox_backoff(1) NOT BETWEEN"
	                         " '30 s' AND '33 s'"),
	                 0);
	assert_int_equal(pg_long("SELECT count(*) FROM generate_series(1, 50) g"
	                         " WHERE sb_outbox_backoff(3) NOT BETWEEN"
	                         " '120 s' AND '132 s'"),
	                 0);
	assert_int_equal(pg_long("SELECT count(*) FROM generate_series(1, 50) g"
	                         " WHERE sb_outbox_backoff(40) NOT BETWEEN"
	                         " '3600 s' AND '3960 s'"),
	                 0);
}

static void
test_lease_runs_out(void **st)
{
	PGconn *c = PQconnectdb(pg.conninfo);

	(void)st;
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_int_equal(sb_pg_exec(&pg, "INSERT INTO outbox (id, channel,"
	                                 " destination) VALUES (9, 'email',"
	                                 " 'l@example.org')"),
	                 0);
	/* A sender claims 9 and dies: its lease (here none) runs out. */
	assert_int_equal(claim(c, 10, "0 seconds"), 9);
	assert_int_equal(claim(c, 10, "2 minutes"), 9);
	assert_int_equal(pg_long("SELECT attempts FROM outbox WHERE id = 9"),
	                 2);
	/* The dead sender's late word is refused; the new one's counts. */
	assert_int_equal(pg_long("SELECT sb_outbox_sent(9, 1, NULL)::int"), 0);
	assert_int_equal(pg_long("SELECT sb_outbox_sent(9, 2, NULL)::int"), 1);
	PQfinish(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_claim_in_order_and_apart),
	        cmocka_unit_test(test_failures),
	        cmocka_unit_test(test_lease_runs_out),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
