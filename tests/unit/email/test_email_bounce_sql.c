/*
 * test_email_bounce_sql.c: delivery reports recorded against the message
 * they answer (migration 0030, sb_email_bounce) against a real
 * PostgreSQL: a permanent failure marks the outbox row bounced and the
 * address bouncing; a delay, and a failure with a 4.x.x status, are only
 * recorded; forged reports (a Message-ID we never sent with, a recipient
 * the row was not sent to, a row of another channel) change nothing but
 * their own record; a repeat of the same IMAP identity has no second
 * effect; the cursor moves by the chain rule; an overlong diagnostic is
 * capped; the outbox lookup uses its index.
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

/* The Message-IDs the claim stored (0028's form, without <>). */
#define MID_R   "sb.1.0123456789abcdef0123456789abcdef@council.example"
#define MID_S   "sb.2.00000000000000000000000000000002@council.example"
#define MID_T   "sb.3.00000000000000000000000000000003@council.example"
#define MID_SMS "sb.4.00000000000000000000000000000004@council.example"

static int
group_setup(void **st)
{
	(void)st;
	if (sb_pg_setup_migrated(&pg) != 0)
		return -1;
	return sb_pg_exec(
	        &pg,
	        "INSERT INTO customers (id, display_name) VALUES"
	        " (1, 'R'), (2, 'S'), (3, 'Victim'), (4, 'T');"
	        "INSERT INTO customer_identities (customer_id, kind, value)"
	        " VALUES (1, 'email', 'r@example.org'),"
	        " (2, 'email', 's@example.org'),"
	        " (3, 'email', 'victim@example.org'),"
	        " (4, 'email', 't@example.org'),"
	        " (1, 'phone', '+447700900001');"
	        "INSERT INTO outbox (id, channel, destination, payload,"
	        " status, sent_at)"
	        " SELECT id, ch, dest, jsonb_build_object('message_id', mid),"
	        " 'sent', now() FROM (VALUES"
	        " (1, 'email', 'r@example.org', '" MID_R "'),"
	        " (2, 'email', 's@example.org', '" MID_S "'),"
	        " (3, 'email', 't@example.org', '" MID_T "'),"
	        " (4, 'sms', '+447700900001', '" MID_SMS "'))"
	        " AS v(id, ch, dest, mid);"
	        "SELECT setval('outbox_id_seq', 100);"
	        "SELECT sb_email_mailbox('council', 9)");
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	return 0;
}

/* The first column of the one row sql answers, as text ("" for NULL). */
static void
pg_text(const char *sql, char *out, size_t len)
{
	PGconn *c = PQconnectdb(pg.conninfo);
	PGresult *r;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	snprintf(out, len, "%s",
	         PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
}

/*
 * sb_email_bounce for UID uid of mailbox 'council' (UIDVALIDITY 9), after
 * prev, with report (JSON written with ' for ", or NULL for SQL NULL);
 * its answer's field key in out, as JSON text with ' for ".
 */
static void
bounce(long uid, long prev, const char *report, const char *key, char *out,
       size_t len)
{
	char *sql, *rep = NULL, *p;
	size_t n = 512 + (report != NULL ? strlen(report) : 0);
	int w;

	sql = malloc(n);
	assert_non_null(sql);
	if (report != NULL) {
		rep = strdup(report);
		assert_non_null(rep);
		for (p = rep; *p != '\0'; p++)
			if (*p == '\'')
				*p = '"';
	}
	w = snprintf(sql, n,
	             "SELECT (sb_email_bounce('council', 9, %ld, %ld,"
	             " 'dsn%ld@mx', sha256('raw %ld'::bytea), 'raw %ld'::bytea,"
	             " 0, %s%s%s))->'%s'",
	             uid, prev, uid, uid, uid, rep != NULL ? "$j$" : "",
	             rep != NULL ? rep : "NULL",
	             rep != NULL ? "$j$::jsonb" : "", key);
	assert_true(w > 0 && (size_t)w < n);
	pg_text(sql, out, len);
	for (p = out; *p != '\0'; p++)
		if (*p == '"')
			*p = '\'';
	free(rep);
	free(sql);
}

static void
expect(long uid, long prev, const char *report, const char *key,
       const char *want)
{
	char got[256];

	bounce(uid, prev, report, key, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("uid %ld %s: %s, not %s", uid, key, got, want);
}

/* A report of one recipient (diag NULL: no Diagnostic-Code). */
static const char *
one(const char *mid, const char *rcpt, const char *action, const char *status,
    const char *diag)
{
	static char buf[1024];
	int w;

	w = snprintf(buf, sizeof(buf),
	             "{'original_message_id': '%s', 'recipients': ["
	             "{'final_recipient': '%s', 'action': '%s', 'status': '%s'"
	             "%s%s%s}]}",
	             mid, rcpt, action, status,
	             diag != NULL ? ", 'diagnostic_code': '" : "",
	             diag != NULL ? diag : "", diag != NULL ? "'" : "");
	assert_true(w > 0 && (size_t)w < sizeof(buf));
	return buf;
}

static long
marked_identities(void)
{
	return sb_pg_value(&pg, "SELECT count(*) FROM customer_identities"
	                        " WHERE bouncing_since IS NOT NULL");
}

static long
bounced_rows(void)
{
	return sb_pg_value(&pg, "SELECT count(*) FROM outbox"
	                        " WHERE bounced_at IS NOT NULL");
}

/* Clears every mark (an advisor's job; not built). */
static void
clear_marks(void)
{
	assert_int_equal(
	        sb_pg_exec(&pg, "UPDATE outbox SET bounced_at = NULL,"
	                        " bounce_status = NULL, bounce_reason = NULL;"
	                        "UPDATE customer_identities SET"
	                        " bouncing_since = NULL, bounce_reason = NULL"),
	        0);
}

static void
test_permanent_failure_marks(void **st)
{
	char got[600];

	(void)st;
	/* The id as a DSN quotes it, with <>; the recipient in another case,
	 * with its type; another recipient of the report ignored. */
	bounce(1, 0,
	       "{'original_message_id': '<" MID_R ">', 'recipients': ["
	       " {'final_recipient': 'other@example.net', 'action': 'failed',"
	       "  'status': '5.1.1'},"
	       " {'final_recipient': 'rfc822; R@Example.ORG',"
	       "  'action': 'failed', 'status': '5.1.1 (bad mailbox)',"
	       "  'diagnostic_code': 'smtp; 550 5.1.1 <r@x>: no such user'}]}",
	       "bouncing", got, sizeof(got));
	assert_string_equal(got, "['r@example.org']");
	assert_int_equal(
	        sb_pg_valuef(&pg,
	                     "SELECT count(*) FROM outbox WHERE id = 1"
	                     " AND bounced_at IS NOT NULL"
	                     " AND bounce_status = '5.1.1' AND bounce_reason ="
	                     " 'smtp; 550 5.1.1 <r@x>: no such user'"
	                     " AND status = 'sent'"),
	        1);
	pg_text("SELECT bounce_reason FROM customer_identities"
	        " WHERE value = 'r@example.org' AND bouncing_since IS NOT NULL",
	        got, sizeof(got));
	assert_string_equal(got, "5.1.1: smtp; 550 5.1.1 <r@x>: no such user");
	/* Only that row and that address. */
	assert_int_equal(bounced_rows(), 1);
	assert_int_equal(marked_identities(), 1);
	/* The report is recorded once, linked to the row it answers. */
	assert_int_equal(
	        sb_pg_valuef(&pg,
	                     "SELECT count(*) FROM email_messages WHERE"
	                     " uid = 1 AND kind = 'bounce' AND outbox_id = 1"
	                     " AND rfc_message_id = 'dsn1@mx'"),
	        1);
	clear_marks();
}

static void
test_answer(void **st)
{
	char got[256];

	(void)st;
	/* The whole answer of a matched permanent failure. */
	pg_text("SELECT sb_email_bounce('council', 9, 2, 1, NULL,"
	        " sha256('2'::bytea), '2'::bytea, NULL, "
	        "'{\"original_message_id\": \"" MID_S "\","
	        " \"recipients\": [{\"final_recipient\": \"s@example.org\","
	        " \"action\": \"failed\", \"status\": \"5.2.1\"}]}')::text",
	        got, sizeof(got));
	assert_string_equal(got,
	                    "{\"repeat\": false, \"matched\": 2, \"bouncing\":"
	                    " [\"s@example.org\"], \"last_uid\": 2}");
	/* Without a Diagnostic-Code the row has no reason, the address its
	 * status. */
	assert_int_equal(sb_pg_valuef(&pg,
	                              "SELECT count(*) FROM outbox WHERE id = 2"
	                              " AND bounce_reason IS NULL"),
	                 1);
	assert_int_equal(sb_pg_valuef(&pg,
	                              "SELECT count(*) FROM customer_identities"
	                              " WHERE value = 's@example.org'"
	                              " AND bounce_reason = '5.2.1'"),
	                 1);
	clear_marks();
}

static void
test_delayed_only_recorded(void **st)
{
	(void)st;
	/* Delayed: linked to its row, nothing marked. */
	expect(3, 2,
	       one(MID_S, "s@example.org", "delayed", "4.4.1",
	           "smtp; 421 try later"),
	       "matched", "2");
	/* Failed, but a 4.x.x status (gave up retrying): the same. */
	expect(4, 3, one(MID_S, "s@example.org", "failed", "4.4.7", NULL),
	       "bouncing", "[]");
	/* Delivered, and a relay's 5.x.x: the same. */
	expect(5, 4,
	       "{'original_message_id': '" MID_S "', 'recipients': ["
	       " {'final_recipient': 's@example.org', 'action': 'delivered',"
	       "  'status': '2.0.0'},"
	       " {'final_recipient': 's@example.org', 'action': 'relayed',"
	       "  'status': '5.0.0'}]}",
	       "bouncing", "[]");
	assert_int_equal(bounced_rows(), 0);
	assert_int_equal(marked_identities(), 0);
	assert_int_equal(
	        sb_pg_valuef(&pg, "SELECT count(*) FROM email_messages WHERE"
	                          " uid BETWEEN 3 AND 5 AND kind = 'bounce'"
	                          " AND outbox_id = 2"),
	        3);
}

static void
test_forged_changes_nothing(void **st)
{
	(void)st;
	/* A Message-ID we never sent with, naming a resident's address. */
	expect(6, 5,
	       one("sb.1.ffffffffffffffffffffffffffffffff@council.example",
	           "victim@example.org", "failed", "5.1.1", NULL),
	       "matched", "null");
	/* One we did send with, but to someone else: the victim is not the
	 * row's destination. */
	expect(7, 6, one(MID_T, "victim@example.org", "failed", "5.1.1", NULL),
	       "matched", "null");
	/* A row of another channel carrying the id. */
	expect(8, 7, one(MID_SMS, "+447700900001", "failed", "5.1.1", NULL),
	       "matched", "null");
	/* No Message-ID, or a malformed report: recorded only. */
	expect(9, 8,
	       "{'original_message_id': null, 'recipients': ["
	       " {'final_recipient': 't@example.org', 'action': 'failed',"
	       "  'status': '5.1.1'}]}",
	       "matched", "null");
	expect(10, 9, "[1, 2]", "matched", "null");
	expect(11, 10,
	       "{'original_message_id': '" MID_T "',"
	       " 'recipients': 't@example.org'}",
	       "matched", "null");
	expect(12, 11,
	       "{'original_message_id': '" MID_T "',"
	       " 'recipients': [7, null, {'final_recipient': 5}]}",
	       "matched", "null");
	expect(13, 12, NULL, "last_uid", "13");
	assert_int_equal(bounced_rows(), 0);
	assert_int_equal(marked_identities(), 0);
	assert_int_equal(
	        sb_pg_valuef(&pg, "SELECT count(*) FROM email_messages WHERE"
	                          " uid BETWEEN 6 AND 13 AND kind = 'bounce'"
	                          " AND outbox_id IS NULL"),
	        8);
}

static void
test_repeat_no_second_effect(void **st)
{
	char rep[1024];

	(void)st;
	snprintf(rep, sizeof(rep), "%s",
	         one(MID_T, "t@example.org", "failed", "5.7.1", "blocked"));
	expect(14, 13, rep, "bouncing", "['t@example.org']");
	/* An advisor clears the mark; the same mail fetched again (a crash
	 * before \Seen) marks nothing again. */
	clear_marks();
	expect(14, 13, rep, "bouncing", "[]");
	expect(14, 13, rep, "repeat", "true");
	expect(14, 13, rep, "matched", "3");
	assert_int_equal(bounced_rows(), 0);
	assert_int_equal(marked_identities(), 0);
	assert_int_equal(sb_pg_valuef(&pg, "SELECT count(*) FROM email_messages"
	                                   " WHERE uid = 14"),
	                 1);
	/* The same report under another UID (copied into the folder again) is
	 * a new mail, and marks again. */
	expect(15, 14, rep, "bouncing", "['t@example.org']");
	clear_marks();
}

static void
test_cursor_chain(void **st)
{
	char rep[1024];

	(void)st;
	snprintf(rep, sizeof(rep), "%s",
	         one(MID_R, "r@example.org", "failed", "5.1.1", NULL));
	assert_int_equal(sb_pg_valuef(&pg,
	                              "SELECT last_uid FROM email_mailboxes"
	                              " WHERE name = 'council'"),
	                 15);
	/* 17 (after 16) commits before 16: the cursor waits at 15. */
	expect(17, 16, rep, "last_uid", "15");
	expect(16, 15, rep, "last_uid", "16");
	/* 17 fetched again: found recorded, and the cursor moves then. */
	expect(17, 16, rep, "last_uid", "17");
	expect(17, 16, rep, "repeat", "true");
	/* Never back. */
	expect(5, 4, rep, "last_uid", "17");
	/* Each mail linked once, whatever order they came in. */
	assert_int_equal(
	        sb_pg_valuef(&pg, "SELECT count(*) FROM email_messages"
	                          " WHERE uid IN (16, 17) AND outbox_id = 1"),
	        2);
	clear_marks();
}

static void
test_overlong_diagnostic(void **st)
{
	char *rep, got[32];
	size_t n = 12000, i, off;

	(void)st;
	rep = malloc(n);
	assert_non_null(rep);
	/* A control character and a line break ending in a header. */
	off = (size_t)snprintf(rep, n, "%s",
	                       one(MID_R, "r@example.org", "Failed", "5.0.0",
	                           "x\\r\\nBcc: y\\u0007"));
	off -= strlen("'}]}");
	for (i = 0; i < 6000; i++)
		rep[off++] = 'z';
	snprintf(rep + off, n - off, "'}]}");
	bounce(18, 17, rep, "bouncing", got, sizeof(got));
	free(rep);
	assert_string_equal(got, "['r@example.org']");
	assert_int_equal(sb_pg_valuef(&pg,
	                              "SELECT length(bounce_reason) FROM outbox"
	                              " WHERE id = 1"),
	                 500);
	assert_int_equal(
	        sb_pg_valuef(&pg, "SELECT count(*) FROM outbox WHERE id = 1"
	                          " AND bounce_reason LIKE 'x Bcc: y zzz%%'"),
	        1);
	assert_int_equal(
	        sb_pg_valuef(
	                &pg,
	                "SELECT length(bounce_reason) FROM customer_identities"
	                " WHERE value = 'r@example.org'"),
	        500);
	assert_int_equal(sb_pg_valuef(&pg,
	                              "SELECT count(*) FROM customer_identities"
	                              " WHERE bounce_reason ~ '[[:cntrl:]]'"),
	                 0);
	clear_marks();
}

static void
test_lookup_uses_index(void **st)
{
	char plan[4096], *cond;

	(void)st;
	/* The function's lookup, planned with sequential scans off: it must
	 * find an index to use (a sequential scan is still chosen without). */
	pg_text("SET enable_seqscan = off; EXPLAIN (FORMAT JSON) SELECT o.id"
	        " FROM outbox o WHERE o.channel = 'email'"
	        " AND o.payload->>'message_id' = '" MID_R "'",
	        plan, sizeof(plan));
	cond = strstr(plan, "\"Index Cond\"");
	if (strstr(plan, "outbox_email_message_id_idx") == NULL ||
	    cond == NULL || strchr(cond, '\n') == NULL ||
	    strstr(cond, "message_id") == NULL ||
	    strstr(cond, "message_id") > strchr(cond, '\n'))
		fail_msg("not by the index: %s", plan);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_permanent_failure_marks),
	        cmocka_unit_test(test_answer),
	        cmocka_unit_test(test_delayed_only_recorded),
	        cmocka_unit_test(test_forged_changes_nothing),
	        cmocka_unit_test(test_repeat_no_second_effect),
	        cmocka_unit_test(test_cursor_chain),
	        cmocka_unit_test(test_overlong_diagnostic),
	        cmocka_unit_test(test_lookup_uses_index),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
