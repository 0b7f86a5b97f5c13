/*
 * test_email_intake_sql.c: migration 0024's rows for email intake, through
 * ingest as the channel will call it (the email.import hook) against a
 * real PostgreSQL: a mailbox's cursor created at 0; messages, their IMAP
 * identity and raw source committed together; the cursor moving only
 * along the chain of UIDs fetched, so a message whose commit failed holds
 * it back and a later UID committed first is found stored when fetched
 * again (no duplicate, the cursor moves then); the cursor never moving
 * back; a UIDVALIDITY change restarting the cursor and finding the mail
 * imported before by its hash and Message-ID; mail that becomes no
 * message recorded once. Ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "db.h"
#include "db_commit.h"
#include "ingest.h"
#include "support.h"

static struct sb_pg pg;

struct fx {
	uv_loop_t loop;
	struct db *wdb;
	struct db_commit *w;
	struct ingest *in;
};

struct got {
	int done;
	enum ingest_status status;
	int repeated;
	unsigned long long seq;
	char hook[128];
};

static int
group_setup(void **st)
{
	(void)st;
	if (sodium_init() < 0 || sb_pg_setup_migrated(&pg) != 0)
		return -1;
	return sb_pg_exec(&pg, "INSERT INTO queues (id, slug, name) VALUES"
	                       " (21, 'mail', 'Mail');"
	                       "INSERT INTO queue_channels (queue_id, channel,"
	                       " answer_target_s) VALUES (21, 'email', 86400)");
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	return 0;
}

static int
ready(void *arg)
{
	return db_ready(((struct fx *)arg)->wdb);
}

static void
fx_open(struct fx *f)
{
	struct db_options d;

	memset(f, 0, sizeof(*f));
	uv_loop_init(&f->loop);
	memset(&d, 0, sizeof(d));
	d.conninfo = pg.conninfo;
	d.connect_timeout_ms = 2000;
	d.query_timeout_ms = 10000;
	d.backoff_min_ms = 50;
	d.backoff_max_ms = 300;
	f->wdb = db_new(&f->loop, &d);
	f->w = db_commit_new(&f->loop, f->wdb, 256, 0);
	f->in = ingest_new(&f->loop, f->w, NULL);
	db_start(f->wdb);
	assert_true(sb_run_until(&f->loop, ready, f, 10000));
}

static void
fx_close(struct fx *f)
{
	ingest_free(f->in);
	db_close(f->wdb, NULL, NULL);
	db_commit_free(f->w);
	assert_int_equal(sb_loop_finish(&f->loop), 0);
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

static void
on_result(void *arg, const struct ingest_result *res)
{
	struct got *g = arg;

	g->done = 1;
	g->status = res->status;
	if (res->status != INGEST_OK)
		return;
	g->repeated = res->repeated;
	g->seq = res->seq;
	snprintf(g->hook, sizeof(g->hook), "%s",
	         res->hook != NULL ? res->hook : "");
}

static int
all_done(void *arg)
{
	struct got *g = arg;
	int i;

	for (i = 0; g[i].done >= 0; i++)
		if (!g[i].done)
			return 0;
	return 1;
}

/* A raw message for UID uid, and the hook data that carries it. */
static char *
hook_data(const char *mailbox, unsigned uidvalidity, unsigned uid,
          unsigned prev, const char *raw, const char *message_id,
          const char *extra)
{
	unsigned char sha[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1], *b64, *out;
	size_t len = strlen(raw), b64len, outlen;

	crypto_hash_sha256(sha, (const unsigned char *)raw, len);
	sodium_bin2hex(hex, sizeof(hex), sha, sizeof(sha));
	b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	b64 = malloc(b64len);
	assert_non_null(b64);
	sodium_bin2base64(b64, b64len, (const unsigned char *)raw, len,
	                  sodium_base64_VARIANT_ORIGINAL);
	outlen = b64len + 512;
	out = malloc(outlen);
	assert_non_null(out);
	snprintf(out, outlen,
	         "{\"mailbox\":\"%s\",\"uidvalidity\":%u,\"uid\":%u,"
	         "\"prev_uid\":%u,\"raw\":\"%s\",\"sha256\":\"%s\","
	         "\"message_id\":%s%s%s,\"flags\":0%s}",
	         mailbox, uidvalidity, uid, prev, b64, hex,
	         message_id ? "\"" : "", message_id ? message_id : "null",
	         message_id ? "\"" : "", extra != NULL ? extra : "");
	free(b64);
	return out;
}

/* Submits UID uid of "council" under uidvalidity 7 (prev: its chain). */
static void
submit_extra(struct fx *f, unsigned uidvalidity, unsigned uid, unsigned prev,
             struct got *g, char **keep, const char *extra)
{
	char ext[32], raw[256], mid[64];
	struct ingest_msg m;
	struct identity id;
	const char *why = NULL;

	snprintf(ext, sizeof(ext), "%u:%u", uidvalidity, uid);
	snprintf(mid, sizeof(mid), "m%u@example.org", uid);
	snprintf(raw, sizeof(raw),
	         "From: r%u@example.org\r\nMessage-ID: <%s>\r\n"
	         "Subject: letter %u\r\n\r\nBody \xff %u\r\n",
	         uid, mid, uid, uid);
	memset(&m, 0, sizeof(m));
	m.channel = "email";
	m.source = "email:council";
	m.external_id = ext;
	m.name = "Resident";
	assert_int_equal(
	        identity_parse("email", "resident@example.org", &id, NULL), 0);
	m.ids = &id;
	m.nids = 1;
	m.queue = "mail";
	m.subject = "letter";
	m.body = "Body";
	m.hook = "email.import";
	*keep = hook_data("council", uidvalidity, uid, prev, raw, mid, extra);
	m.hook_data = *keep;
	memset(g, 0, sizeof(*g));
	assert_int_equal(ingest_submit(f->in, &m, on_result, g, &why),
	                 INGEST_OK);
}

static void
submit(struct fx *f, unsigned uidvalidity, unsigned uid, unsigned prev,
       struct got *g, char **keep)
{
	submit_extra(f, uidvalidity, uid, prev, g, keep, NULL);
}

static long
cursor(void)
{
	return pg_long("SELECT last_uid FROM email_mailboxes WHERE name ="
	               " 'council'");
}

static void
test_cursor_chain(void **st)
{
	struct got g[4];
	char *keep[3];
	struct fx f;
	int i;

	(void)st;
	fx_open(&f);
	/* SELECT found it: a cursor at 0. */
	assert_int_equal(pg_long("SELECT last_uid FROM"
	                         " sb_email_mailbox('council', 7)"),
	                 0);
	assert_int_equal(pg_long("SELECT count(*) FROM"
	                         " sb_email_mailbox('council', 7) WHERE NOT"
	                         " changed"),
	                 1);
	/* Three in one batch, in chain: stored with their sources. */
	g[3].done = -1;
	for (i = 0; i < 3; i++)
		submit(&f, 7, (unsigned)i + 1, (unsigned)i, &g[i], &keep[i]);
	assert_true(sb_run_until(&f.loop, all_done, g, 10000));
	for (i = 0; i < 3; i++) {
		assert_int_equal(g[i].status, INGEST_OK);
		assert_false(g[i].repeated);
		free(keep[i]);
	}
	assert_string_equal(g[2].hook,
	                    "{\"ack\": \"not_asked\", \"last_uid\": 3}");
	assert_int_equal(cursor(), 3);
	assert_int_equal(pg_long("SELECT count(*) FROM email_messages e JOIN"
	                         " messages m ON m.id = e.message_id WHERE"
	                         " e.mailbox = 'council' AND e.kind ="
	                         " 'message' AND m.external_id ="
	                         " e.uidvalidity || ':' || e.uid"),
	                 3);
	/* The raw source byte for byte (the 0xff kept), and its hash. */
	assert_int_equal(pg_long("SELECT count(*) FROM email_messages WHERE"
	                         " uid = 2 AND position('\\xff'::bytea IN raw)"
	                         " > 0 AND raw_sha256 = sha256(raw) AND"
	                         " rfc_message_id = 'm2@example.org'"),
	                 1);

	/* UID 5 commits before 4 (whose commit failed): the cursor waits. */
	submit(&f, 7, 5, 4, &g[0], &keep[0]);
	g[1].done = -1;
	assert_true(sb_run_until(&f.loop, all_done, g, 10000));
	free(keep[0]);
	assert_int_equal(g[0].status, INGEST_OK);
	assert_int_equal(cursor(), 3);
	submit(&f, 7, 4, 3, &g[0], &keep[0]);
	assert_true(sb_run_until(&f.loop, all_done, g, 10000));
	free(keep[0]);
	assert_int_equal(cursor(), 4);
	/* Fetched again after the cursor: found stored, the cursor moves. */
	submit(&f, 7, 5, 4, &g[0], &keep[0]);
	assert_true(sb_run_until(&f.loop, all_done, g, 10000));
	free(keep[0]);
	assert_true(g[0].repeated);
	assert_int_equal(cursor(), 5);
	assert_int_equal(pg_long("SELECT count(*) FROM messages WHERE"
	                         " source = 'email:council' AND external_id ="
	                         " '7:5'"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM email_messages WHERE"
	                         " uid = 5"),
	                 1);
	/* Never back, never sideways. */
	assert_int_equal(pg_long("SELECT sb_email_advance('council', 7, 5, 2)"),
	                 5);
	assert_int_equal(pg_long("SELECT sb_email_advance('council', 7, 3, 9)"),
	                 5);
	assert_int_equal(pg_long("SELECT sb_email_advance('council', 8, 5, 9)"),
	                 5);
	fx_close(&f);
}

static void
test_uidvalidity_change(void **st)
{
	(void)st;
	/* After test_cursor_chain: council at UIDVALIDITY 7, cursor 5. */
	assert_int_equal(pg_long("SELECT count(*) FROM"
	                         " sb_email_mailbox('council', 9) WHERE changed"
	                         " AND last_uid = 0 AND old_uidvalidity = 7"),
	                 1);
	assert_int_equal(pg_long("SELECT uidvalidity FROM email_mailboxes"
	                         " WHERE name = 'council'"),
	                 9);
	/*
	 * The same mail under its new UID is found (hash and Message-ID);
	 * the same bytes with another Message-ID, or another mailbox, not.
	 */
	assert_int_equal(
	        pg_long("SELECT string_agg(n::text, ',')::bigint FROM"
	                " sb_email_seen('council', ARRAY[(SELECT raw_sha256"
	                " FROM email_messages WHERE uid = 2), (SELECT"
	                " raw_sha256 FROM email_messages WHERE uid = 3)],"
	                " ARRAY['m2@example.org', 'other@example.org']) n"),
	        1);
	assert_int_equal(pg_long("SELECT count(*) FROM sb_email_seen('other',"
	                         " ARRAY[(SELECT raw_sha256 FROM email_messages"
	                         " WHERE uid = 2)], ARRAY['m2@example.org'])"),
	                 0);
	/*
	 * sb_email_dupes (0029), which intake asks for every batch: the same
	 * mail under a new identity is a duplicate; another Message-ID, or
	 * the very identity it was stored under (a refetch: ingest's
	 * repeat), is not.
	 */
	assert_int_equal(
	        pg_long("SELECT string_agg(u::text, ',')::bigint FROM"
	                " sb_email_dupes('council', 9, jsonb_build_array("
	                " jsonb_build_object('uid', 1, 'sha256', (SELECT"
	                " encode(raw_sha256, 'hex') FROM email_messages WHERE"
	                " uid = 2), 'message_id', 'm2@example.org'),"
	                " jsonb_build_object('uid', 4, 'sha256', (SELECT"
	                " encode(raw_sha256, 'hex') FROM email_messages WHERE"
	                " uid = 3), 'message_id', 'other@example.org'))) u"),
	        1);
	assert_int_equal(
	        pg_long("SELECT count(*) FROM sb_email_dupes('council',"
	                " 7, jsonb_build_array(jsonb_build_object("
	                "'uid', 2, 'sha256', (SELECT encode(raw_sha256,"
	                " 'hex') FROM email_messages WHERE uid = 2),"
	                " 'message_id', 'm2@example.org')))"),
	        0);
	/* Marking: what is committed and unmarked, lowest first, once. */
	assert_int_equal(pg_long("SELECT count(*) FROM sb_email_unmarked("
	                         "'council', 7, 100)"),
	                 pg_long("SELECT count(*) FROM email_messages WHERE"
	                         " mailbox = 'council' AND uidvalidity = 7"));
	assert_int_equal(pg_long("SELECT sb_email_unmarked('council', 7, 1)"),
	                 pg_long("SELECT min(uid) FROM email_messages WHERE"
	                         " mailbox = 'council' AND uidvalidity = 7"));
	assert_int_equal(pg_long("SELECT sb_email_marked('council', 7,"
	                         " '[2, 3, 99]')"),
	                 2);
	assert_int_equal(pg_long("SELECT sb_email_marked('council', 7,"
	                         " '[2, 3]')"),
	                 0);
	assert_int_equal(pg_long("SELECT count(*) FROM sb_email_unmarked("
	                         "'council', 7, 100) u WHERE u IN (2, 3)"),
	                 0);
	/* Recorded as a duplicate under the new identity, once. */
	assert_int_equal(pg_long("SELECT sb_email_record('council', 9, 1, 0,"
	                         " 'duplicate', 'm2@example.org', (SELECT"
	                         " raw_sha256 FROM email_messages WHERE uid = 2"
	                         " AND uidvalidity = 7), '\\x00'::bytea, 0)"),
	                 1);
	assert_int_equal(pg_long("SELECT sb_email_record('council', 9, 1, 0,"
	                         " 'duplicate', 'm2@example.org', (SELECT"
	                         " raw_sha256 FROM email_messages WHERE uid = 2"
	                         " AND uidvalidity = 7), '\\x00'::bytea, 0)"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM email_messages WHERE"
	                         " uidvalidity = 9 AND kind = 'duplicate' AND"
	                         " message_id IS NULL"),
	                 1);
	/* A non-message kind cannot carry a message. */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE email_messages SET message_id"
	                                 " = (SELECT min(id) FROM messages)"
	                                 " WHERE kind = 'duplicate'"),
	                 -1);
}

#define ASK_ACK                                                                \
	",\"ack\":true,\"from\":\"resident@example.org\",\"subject\":"         \
	"\"letter\\r\\nBcc: x@y\",\"ack_name\":\"Denbighshire County "         \
	"Council\""

static long
acks(void)
{
	return pg_long("SELECT count(*) FROM outbox WHERE payload->>'kind' ="
	               " 'email.ack'");
}

static void
test_acknowledgement(void **st)
{
	struct got g[2];
	char *keep;
	struct fx f;

	(void)st;
	fx_open(&f);
	g[1].done = -1;
	/* After the tests above: council at UIDVALIDITY 9, cursor 1. */
	submit_extra(&f, 9, 20, 19, &g[0], &keep, ASK_ACK);
	assert_true(sb_run_until(&f.loop, all_done, g, 10000));
	free(keep);
	assert_int_equal(g[0].status, INGEST_OK);
	assert_non_null(strstr(g[0].hook, "\"ack\": \"queued\""));
	assert_int_equal(acks(), 1);
	/* Ours alone: the reference, no sender's text; no header from the
	 * subject; to the sender, threaded to the mail, automatic. */
	assert_int_equal(
	        pg_long("SELECT count(*) FROM outbox o JOIN conversations c ON"
	                " c.id = o.conversation_id WHERE o.destination ="
	                " 'resident@example.org' AND o.payload->>'text' LIKE"
	                " '%%' || c.reference || '%%' AND o.payload->>'subject'"
	                " = 'Re: letter  Bcc: x@y [' || c.reference || ']' AND"
	                " o.payload->>'in_reply_to' = 'm20@example.org' AND"
	                " o.payload->>'auto_submitted' = 'auto-replied' AND"
	                " o.payload->>'envelope_from' = '' AND "
	                "o.payload->>'text'"
	                " NOT LIKE '%%Body%%' AND o.status = 'pending'"),
	        1);
	/* Fetched again: a repeat, never acknowledged twice. */
	submit_extra(&f, 9, 20, 19, &g[0], &keep, ASK_ACK);
	assert_true(sb_run_until(&f.loop, all_done, g, 10000));
	free(keep);
	assert_true(g[0].repeated);
	assert_non_null(strstr(g[0].hook, "\"ack\": \"not_new\""));
	/* A second new mail from the sender within the week: not again. */
	submit_extra(&f, 9, 21, 20, &g[0], &keep, ASK_ACK);
	assert_true(sb_run_until(&f.loop, all_done, g, 10000));
	free(keep);
	assert_non_null(strstr(g[0].hook, "\"ack\": \"recent\""));
	/* Not asked (an automatic mail, by RFC 3834): none. */
	submit(&f, 9, 22, 21, &g[0], &keep);
	assert_true(sb_run_until(&f.loop, all_done, g, 10000));
	free(keep);
	assert_non_null(strstr(g[0].hook, "\"ack\": \"not_asked\""));
	assert_int_equal(acks(), 1);
	fx_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cursor_chain),
	        cmocka_unit_test(test_uidvalidity_change),
	        cmocka_unit_test(test_acknowledgement),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
