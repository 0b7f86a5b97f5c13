/*
 * test_ingest.c: the ingest path against a real PostgreSQL and Redis:
 * identity resolution (new, matched, ambiguous, none), thread keys (found,
 * re-opened, followed), a case reference, the customer's open conversation
 * on a channel, an explicit conversation, idempotency (twice in two
 * batches, twice in one batch, a retry after the connection dropped
 * mid-commit), a new sender's identity committed by another transaction
 * in the middle of a batch, bad queues, the database down, the router handed
 * only conversations opened now, the delivery hook, and callbacks only after
 * COMMIT: every result reported stored is looked up from another session
 * inside its callback. Ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "db.h"
#include "db_commit.h"
#include "ingest.h"
#include "kv.h"
#include "metrics.h"
#include "migrate.h"
#include "route.h"
#include "support.h"

static struct sb_pg pg;
static struct sb_redis redis;

struct fx {
	uv_loop_t loop;
	struct db *db, *wdb;
	struct db_commit *w;
	struct kv *kv, *sub;
	struct route *r;
	struct ingest *in;
	char seen[128][48]; /* routing events: "kind:conv" */
	int nseen;
	int delivered;
	int deliver_after_cb; /* every delivery came after its callback */
	unsigned long long last_delivered_seq;
	int last_delivered_repeat;
};

/* What a callback was told, copied. */
struct got {
	int done;
	enum ingest_status status;
	char code[64];
	unsigned long long conv, seq, customer, queue;
	char reference[32];
	enum ingest_match match;
	unsigned long long cand[8];
	size_t ncand;
	enum ingest_opened opened;
	int repeated, routed;
	char channel[16];
	char body[256];
	char metadata[512];
	/* metadata_obj: 0 none, 1 the same JSON as metadata, -1 another */
	int metadata_obj;
	char hook[128]; /* the hook's answer, "" when none */
	long visible;   /* the message seen from another session, in the cb */
};

static struct fx *cur_fx;

static int
group_setup(void **st)
{
	char err[512];

	(void)st;
	if (sb_pg_setup(&pg) != 0 || sb_redis_setup(&redis) != 0)
		return -1;
	if (db_migrate_run(pg.conninfo, err, sizeof(err)) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return -1;
	}
	return sb_pg_exec(
	        &pg, "INSERT INTO staff_users (id, login, display_name,"
	             " password_hash, role) VALUES (101, 'a1', 'A One', 'x',"
	             " 'advisor');"
	             "INSERT INTO queues (id, slug, name) VALUES"
	             " (11, 'tax', 'Council tax'), (12, 'old', 'Old'),"
	             " (13, 'chatonly', 'Chat only');"
	             "UPDATE queues SET active = false WHERE id = 12;"
	             "INSERT INTO queue_channels (queue_id, channel,"
	             " answer_target_s) VALUES (11, 'chat', 60),"
	             " (11, 'email', 3600), (11, 'sms', 3600),"
	             " (12, 'sms', 3600), (13, 'chat', 60);"
	             "INSERT INTO queue_members (staff_id, queue_id) VALUES"
	             " (101, 11)");
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	sb_redis_teardown(&redis);
	return 0;
}

static void
on_kv(void *arg, int up)
{
	struct fx *f = arg;

	route_kv_state(f->r, up);
}

static void
on_events(void *arg, const struct route_event *ev, size_t n)
{
	struct fx *f = arg;
	size_t i;

	for (i = 0; i < n && f->nseen < 128; i++)
		snprintf(f->seen[f->nseen++], sizeof(f->seen[0]), "%s:%s",
		         ev[i].kind, ev[i].conv);
}

static void
on_deliver(void *arg, const struct ingest_result *res)
{
	struct fx *f = arg;
	char sql[128];

	f->delivered++;
	f->last_delivered_seq = res->seq;
	f->last_delivered_repeat = res->repeated;
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM messages WHERE id = %llu",
	         (unsigned long long)res->seq);
	if (sb_pg_value(&pg, sql) != 1)
		f->deliver_after_cb = 0;
}

static int
ready(void *arg)
{
	struct fx *f = arg;

	return route_ready(f->r) && db_ready(f->db) && db_ready(f->wdb);
}

static void
fx_open(struct fx *f, int with_router)
{
	struct db_options d;
	struct kv_options k;
	struct route_options o;

	memset(f, 0, sizeof(*f));
	cur_fx = f;
	f->deliver_after_cb = 1;
	uv_loop_init(&f->loop);
	memset(&d, 0, sizeof(d));
	d.conninfo = pg.conninfo;
	d.connect_timeout_ms = 2000;
	d.query_timeout_ms = 10000;
	d.backoff_min_ms = 50;
	d.backoff_max_ms = 300;
	f->db = db_new(&f->loop, &d);
	/* As the daemon's writers run (server.c). */
	d.session_sql = "SELECT set_config('plan_cache_mode',"
	                " 'force_generic_plan', false),"
	                " set_config('enable_seqscan', 'off', false)";
	f->wdb = db_new(&f->loop, &d);
	f->w = db_commit_new(&f->loop, f->wdb, 256, 0);
	memset(&k, 0, sizeof(k));
	k.address = "127.0.0.1";
	k.port = redis.port;
	k.timeout_ms = 2000;
	k.ping_interval_ms = 500;
	f->kv = kv_new(&f->loop, &k);
	k.ping_interval_ms = 0;
	f->sub = kv_new(&f->loop, &k);
	memset(&o, 0, sizeof(o));
	o.instance = "ingest-test";
	o.grace_ms = 30000;
	o.sweep_ms = 50;
	o.presence_ms = 1000;
	f->r = route_new(&f->loop, f->kv, f->sub, f->db, &f->w, 1, &o);
	route_set_callbacks(f->r, on_events, NULL, f);
	kv_set_state_cb(f->kv, on_kv, f);
	f->in = ingest_new(&f->loop, f->w, with_router ? f->r : NULL);
	ingest_set_deliver(f->in, on_deliver, f);
	db_start(f->db);
	db_start(f->wdb);
	kv_start(f->kv);
	kv_start(f->sub);
	assert_true(sb_run_until(&f->loop, ready, f, 10000));
}

static void
fx_close(struct fx *f)
{
	ingest_free(f->in);
	kv_close(f->kv, NULL, NULL);
	kv_close(f->sub, NULL, NULL);
	route_kv_state(f->r, 0);
	db_close(f->db, NULL, NULL);
	db_close(f->wdb, NULL, NULL);
	route_free(f->r);
	db_commit_free(f->w);
	assert_int_equal(sb_loop_finish(&f->loop), 0);
	cur_fx = NULL;
}

/* 0: no metadata object; 1: one equal to the metadata text; -1: other. */
static int
obj_matches(const struct ingest_result *res)
{
	json_t *t;
	int eq;

	if (res->metadata_obj == NULL)
		return 0;
	t = json_loads(res->metadata, 0, NULL);
	eq = t != NULL && json_equal(t, res->metadata_obj);
	json_decref(t);
	return eq ? 1 : -1;
}

static void
on_result(void *arg, const struct ingest_result *res)
{
	struct got *g = arg;
	char sql[160];
	size_t i;

	g->done = 1;
	g->status = res->status;
	snprintf(g->code, sizeof(g->code), "%s", res->code);
	if (res->status != INGEST_OK)
		return;
	g->conv = res->conversation;
	g->seq = res->seq;
	g->customer = res->customer;
	g->queue = res->queue;
	snprintf(g->reference, sizeof(g->reference), "%s", res->reference);
	g->match = res->match;
	g->ncand = res->ncandidates < 8 ? res->ncandidates : 8;
	for (i = 0; i < g->ncand; i++)
		g->cand[i] = res->candidates[i];
	g->opened = res->opened;
	g->repeated = res->repeated;
	g->routed = res->routed;
	snprintf(g->channel, sizeof(g->channel), "%s", res->channel);
	snprintf(g->body, sizeof(g->body), "%s", res->body);
	snprintf(g->metadata, sizeof(g->metadata), "%s", res->metadata);
	g->metadata_obj = obj_matches(res);
	/* Every new message's comes as an object too; a repeat's never. */
	if (res->status == INGEST_OK)
		assert_int_equal(g->metadata_obj, res->repeated ? 0 : 1);
	snprintf(g->hook, sizeof(g->hook), "%s",
	         res->hook != NULL ? res->hook : "");
	/* Told only after COMMIT: another session sees it already. */
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM messages m JOIN conversations c"
	         " ON c.id = m.conversation_id WHERE m.id = %llu"
	         " AND c.id = %llu",
	         g->seq, g->conv);
	g->visible = sb_pg_value(&pg, sql);
	/* The delivery hook comes after this callback, never before. */
	if (cur_fx != NULL && cur_fx->last_delivered_seq == g->seq &&
	    !g->repeated)
		cur_fx->deliver_after_cb = 0;
}

static int
got_done(void *arg)
{
	return ((struct got *)arg)->done;
}

struct gots {
	struct got *g;
	int n;
};

static int
all_done(void *arg)
{
	struct gots *a = arg;
	int i;

	for (i = 0; i < a->n; i++)
		if (!a->g[i].done)
			return 0;
	return 1;
}

/* A message as most tests send it: an SMS-like one on queue "tax". */
static void
msg_init(struct ingest_msg *m, const char *channel, const char *ext)
{
	memset(m, 0, sizeof(*m));
	m->channel = channel;
	m->source = "test";
	m->external_id = ext;
	m->name = "Resident";
	m->queue = "tax";
	m->subject = "A question";
	m->body = "hello";
}

static struct identity ids_buf[4];

/* ids "email:a@b.org", "phone:+447700900123", normalised as given. */
static void
msg_ids(struct ingest_msg *m, const char *a, const char *b)
{
	const char *v[2] = {a, b};
	size_t i, n = 0;

	for (i = 0; i < 2; i++) {
		const char *colon;
		char kind[16];

		if (v[i] == NULL)
			continue;
		colon = strchr(v[i], ':');
		snprintf(kind, sizeof(kind), "%.*s", (int)(colon - v[i]), v[i]);
		assert_int_equal(
		        identity_parse(kind, colon + 1, &ids_buf[n], NULL), 0);
		n++;
	}
	m->ids = ids_buf;
	m->nids = n;
}

/* Submits m and runs the loop until its callback; asserts it is stored. */
static void
ingest_ok(struct fx *f, const struct ingest_msg *m, struct got *g)
{
	const char *why = NULL;

	memset(g, 0, sizeof(*g));
	if (ingest_submit(f->in, m, on_result, g, &why) != INGEST_OK)
		fail_msg("submit refused: %s", why);
	assert_true(sb_run_until(&f->loop, got_done, g, 10000));
	if (g->status != INGEST_OK)
		fail_msg("not stored: %s", g->code);
	assert_int_equal(g->visible, 1);
}

static void
ingest_refused(struct fx *f, const struct ingest_msg *m, const char *code)
{
	const char *why = NULL;
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(ingest_submit(f->in, m, on_result, &g, &why),
	                 INGEST_OK);
	assert_true(sb_run_until(&f->loop, got_done, &g, 10000));
	assert_int_equal(g.status, INGEST_REFUSED);
	assert_string_equal(g.code, code);
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

/*
 * Rows ingest writes: customers, conversations, messages, identities,
 * thread keys and its own events (the router's, written as it routes, are
 * not ingest's).
 */
static long
rows_total(void)
{
	return pg_long("SELECT (SELECT count(*) FROM customers)"
	               " + (SELECT count(*) FROM conversations)"
	               " + (SELECT count(*) FROM messages)"
	               " + (SELECT count(*) FROM customer_identities)"
	               " + (SELECT count(*) FROM conversation_threads)"
	               " + (SELECT count(*) FROM conversation_events"
	               "    WHERE kind NOT LIKE 'route.%%')");
}

/* ------------------------------------------------------------ identity */

static void
test_identity_resolution(void **st)
{
	struct ingest_msg m;
	struct got g1, g2, g3, g4;
	struct fx f;
	long a, b;

	(void)st;
	fx_open(&f, 1);
	/* new: a new customer holds both, unverified. */
	msg_init(&m, "email", "id-1");
	msg_ids(&m, "email:Ann@Example.org", "phone:07700 900101");
	ingest_ok(&f, &m, &g1);
	assert_int_equal(g1.match, INGEST_MATCH_NEW);
	assert_int_equal(g1.opened, INGEST_NEW);
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"
	                         " WHERE customer_id = %llu AND NOT verified"
	                         " AND value IN ('ann@example.org',"
	                         " '+447700900101')",
	                         g1.customer),
	                 2);
	assert_int_equal(pg_long("SELECT count(*) FROM customers WHERE id ="
	                         " %llu AND display_name = 'Resident'",
	                         g1.customer),
	                 1);

	/* matched: the same email, another phone: nothing added. */
	msg_init(&m, "email", "id-2");
	msg_ids(&m, "email:ann@example.org", "phone:07700 900102");
	ingest_ok(&f, &m, &g2);
	assert_int_equal(g2.match, INGEST_MATCH_MATCHED);
	assert_int_equal(g2.customer, g1.customer);
	assert_int_equal(g2.opened, INGEST_NEW);
	assert_true(g2.conv != g1.conv);
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"
	                         " WHERE customer_id = %llu",
	                         g1.customer),
	                 2);
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"
	                         " WHERE value = '+447700900102'"),
	                 0);

	/* ambiguous: the email is one customer's, the phone another's. */
	assert_int_equal(sb_pg_exec(&pg, "INSERT INTO customers (id,"
	                                 " display_name) VALUES (9001, 'B');"
	                                 "INSERT INTO customer_identities"
	                                 " (customer_id, kind, value) VALUES"
	                                 " (9001, 'phone', '+447700900199')"),
	                 0);
	msg_init(&m, "sms", "id-3");
	msg_ids(&m, "email:ann@example.org", "phone:+447700900199");
	a = pg_long("SELECT count(*) FROM customer_identities");
	ingest_ok(&f, &m, &g3);
	assert_int_equal(g3.match, INGEST_MATCH_AMBIGUOUS);
	assert_true(g3.customer != g1.customer && g3.customer != 9001);
	assert_int_equal(g3.ncand, 2);
	assert_int_equal(g3.cand[0], g1.customer < 9001 ? g1.customer : 9001);
	assert_int_equal(g3.cand[1], g1.customer < 9001 ? 9001 : g1.customer);
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"),
	                 a);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events"
	                         " WHERE conversation_id = %llu AND kind ="
	                         " 'conversation.new' AND detail->>'match' ="
	                         " 'ambiguous' AND jsonb_array_length("
	                         "detail->'candidates') = 2",
	                         g3.conv),
	                 1);

	/* none: no identity. */
	msg_init(&m, "email", "id-4");
	b = pg_long("SELECT count(*) FROM customers");
	ingest_ok(&f, &m, &g4);
	assert_int_equal(g4.match, INGEST_MATCH_NONE);
	assert_int_equal(pg_long("SELECT count(*) FROM customers"), b + 1);
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"
	                         " WHERE customer_id = %llu",
	                         g4.customer),
	                 0);
	fx_close(&f);
}

/* ------------------------------------------------------------ threads */

static void
test_thread_keys(void **st)
{
	const char *k1[] = {"m1@example.org"}, *k2[] = {"m2@example.org"};
	const char *find12[] = {"unknown@x", "m1@example.org"};
	const char *find2[] = {"m2@example.org"};
	struct ingest_msg m;
	struct got a, b, c, d, e, x;
	struct fx f;

	(void)st;
	fx_open(&f, 1);
	msg_init(&m, "email", "th-1");
	msg_ids(&m, "email:thread@example.org", NULL);
	m.thread_add = k1;
	m.nthread_add = 1;
	ingest_ok(&f, &m, &a);
	assert_int_equal(a.opened, INGEST_NEW);
	assert_int_equal(pg_long("SELECT conversation_id FROM"
	                         " conversation_threads WHERE channel ="
	                         " 'email' AND key = 'm1@example.org'"),
	                 (long)a.conv);

	/* A reply: found by its second key, records its own. */
	msg_init(&m, "email", "th-2");
	msg_ids(&m, "email:someone.else@example.org", NULL);
	m.thread_find = find12;
	m.nthread_find = 2;
	m.thread_add = k2;
	m.nthread_add = 1;
	ingest_ok(&f, &m, &b);
	assert_int_equal(b.conv, a.conv);
	assert_int_equal(b.opened, INGEST_EXISTING);
	assert_int_equal(b.match, INGEST_MATCH_CONVERSATION);
	assert_int_equal(b.customer, a.customer);
	assert_false(b.routed);
	/* The other sender's address was not added to anybody. */
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"
	                         " WHERE value = 'someone.else@example.org'"),
	                 0);

	/* The same key on another channel is another key. */
	msg_init(&m, "sms", "th-3");
	m.thread_find = find2;
	m.nthread_find = 1;
	ingest_ok(&f, &m, &x);
	assert_true(x.conv != a.conv);

	/* Closed, on this channel: re-opened, same reference, routed. */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE conversations SET status ="
	                                 " 'closed' WHERE id IN (SELECT"
	                                 " conversation_id FROM"
	                                 " conversation_threads WHERE key ="
	                                 " 'm2@example.org')"),
	                 0);
	msg_init(&m, "email", "th-4");
	m.thread_find = find2;
	m.nthread_find = 1;
	ingest_ok(&f, &m, &c);
	assert_int_equal(c.conv, a.conv);
	assert_int_equal(c.opened, INGEST_REOPENED);
	assert_string_equal(c.reference, a.reference);
	assert_true(c.routed);
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE id"
	                         " = %llu AND status = 'waiting' AND"
	                         " closed_at IS NULL AND queue_id = 11",
	                         c.conv),
	                 1);

	/* In wrap-up with its advisor: a new conversation follows it. */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE conversations SET status ="
	                                 " 'wrap_up', assigned_staff_id = 101"
	                                 " WHERE id IN (SELECT conversation_id"
	                                 " FROM conversation_threads WHERE key"
	                                 " = 'm1@example.org')"),
	                 0);
	msg_init(&m, "email", "th-5");
	m.subject = NULL;
	m.thread_find = find2;
	m.nthread_find = 1;
	ingest_ok(&f, &m, &d);
	assert_true(d.conv != a.conv);
	assert_int_equal(d.opened, INGEST_FOLLOWED);
	assert_int_equal(d.customer, a.customer);
	assert_true(d.routed);
	assert_int_equal(pg_long("SELECT (detail->>'follows')::bigint FROM"
	                         " conversation_events WHERE conversation_id"
	                         " = %llu AND kind = 'conversation.followed'",
	                         d.conv),
	                 (long)a.conv);
	/* It keeps the subject, and the thread moved to it. */
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE id"
	                         " = %llu AND subject = 'A question'",
	                         d.conv),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_threads"
	                         " WHERE conversation_id = %llu AND channel ="
	                         " 'email'",
	                         d.conv),
	                 2);
	msg_init(&m, "email", "th-6");
	m.thread_find = k1;
	m.nthread_find = 1;
	ingest_ok(&f, &m, &e);
	assert_int_equal(e.conv, d.conv);
	assert_int_equal(e.opened, INGEST_EXISTING);
	fx_close(&f);
}

static void
test_reference(void **st)
{
	struct ingest_msg m;
	struct got a, b, c;
	struct fx f;
	char lower[32];
	size_t i;

	(void)st;
	fx_open(&f, 1);
	msg_init(&m, "email", "ref-1");
	msg_ids(&m, "email:ref.owner@example.org", NULL);
	ingest_ok(&f, &m, &a);
	/* The owner quoting it (in any case): the same conversation. */
	for (i = 0; a.reference[i] != '\0' && i < sizeof(lower) - 1; i++)
		lower[i] = (char)(a.reference[i] >= 'A' && a.reference[i] <= 'Z'
		                          ? a.reference[i] - 'A' + 'a'
		                          : a.reference[i]);
	lower[i] = '\0';
	msg_init(&m, "email", "ref-2");
	msg_ids(&m, "email:REF.owner@example.org", NULL);
	m.reference = lower;
	ingest_ok(&f, &m, &b);
	assert_int_equal(b.conv, a.conv);
	assert_int_equal(b.opened, INGEST_EXISTING);
	/* Somebody else quoting it: a conversation of their own. */
	msg_init(&m, "email", "ref-3");
	msg_ids(&m, "email:stranger@example.org", NULL);
	m.reference = a.reference;
	ingest_ok(&f, &m, &c);
	assert_true(c.conv != a.conv);
	assert_true(c.customer != a.customer);
	assert_int_equal(c.opened, INGEST_NEW);
	fx_close(&f);
}

/* ------------------------------------------------------ open on channel */

static void
test_open_conversation_per_channel(void **st)
{
	struct ingest_msg m;
	struct got a, b, c, d, e;
	struct fx f;

	(void)st;
	fx_open(&f, 1);
	msg_init(&m, "sms", "sms-1");
	msg_ids(&m, "phone:07700 900201", NULL);
	m.flags = INGEST_FIND_OPEN;
	ingest_ok(&f, &m, &a);
	assert_int_equal(a.opened, INGEST_NEW);
	assert_true(a.routed);
	msg_init(&m, "sms", "sms-2");
	msg_ids(&m, "phone:+44 7700 900201", NULL);
	m.flags = INGEST_FIND_OPEN;
	ingest_ok(&f, &m, &b);
	assert_int_equal(b.conv, a.conv);
	assert_int_equal(b.opened, INGEST_EXISTING);
	assert_int_equal(b.match, INGEST_MATCH_MATCHED);
	assert_false(b.routed);
	/* Not asked: a new conversation for the same customer. */
	msg_init(&m, "sms", "sms-3");
	msg_ids(&m, "phone:07700900201", NULL);
	ingest_ok(&f, &m, &c);
	assert_true(c.conv != a.conv);
	assert_int_equal(c.customer, a.customer);
	/* Asked again: the newest live one. */
	msg_init(&m, "sms", "sms-4");
	msg_ids(&m, "phone:07700900201", NULL);
	m.flags = INGEST_FIND_OPEN;
	ingest_ok(&f, &m, &d);
	assert_int_equal(d.conv, c.conv);
	/* Once they are closed (or in wrap-up), a new one opens. */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE conversations SET status ="
	                                 " 'closed' WHERE customer_id = (SELECT"
	                                 " customer_id FROM customer_identities"
	                                 " WHERE value = '+447700900201')"),
	                 0);
	msg_init(&m, "sms", "sms-5");
	msg_ids(&m, "phone:07700900201", NULL);
	m.flags = INGEST_FIND_OPEN;
	ingest_ok(&f, &m, &e);
	assert_true(e.conv != a.conv && e.conv != c.conv);
	assert_int_equal(e.opened, INGEST_NEW);
	assert_int_equal(e.customer, a.customer);
	/* Another channel's open conversation is not this one's. */
	msg_init(&m, "email", "sms-6");
	msg_ids(&m, "phone:07700900201", NULL);
	m.flags = INGEST_FIND_OPEN;
	ingest_ok(&f, &m, &a);
	assert_true(a.conv != e.conv);
	fx_close(&f);
}

/* --------------------------------------------------- explicit conversation */

static void
test_explicit_conversation(void **st)
{
	struct ingest_msg m;
	struct got a, b;
	struct fx f;
	long before;

	(void)st;
	fx_open(&f, 1);
	msg_init(&m, "chat", "ex-1");
	ingest_ok(&f, &m, &a);
	msg_init(&m, "chat", "ex-2");
	m.conversation = a.conv;
	m.queue = NULL;
	ingest_ok(&f, &m, &b);
	assert_int_equal(b.conv, a.conv);
	assert_int_equal(b.match, INGEST_MATCH_CONVERSATION);
	assert_int_equal(b.opened, INGEST_EXISTING);
	assert_false(b.routed);
	before = rows_total();
	/* Not on this channel, unknown, ended: refused, nothing written. */
	msg_init(&m, "sms", "ex-3");
	m.conversation = a.conv;
	ingest_refused(&f, &m, "conversation_channel");
	msg_init(&m, "chat", "ex-4");
	m.conversation = 999999;
	ingest_refused(&f, &m, "no_conversation");
	assert_int_equal(sb_pg_exec(&pg, "UPDATE conversations SET status ="
	                                 " 'closed' WHERE id IN (SELECT"
	                                 " conversation_id FROM messages WHERE"
	                                 " external_id = 'ex-1')"),
	                 0);
	msg_init(&m, "chat", "ex-5");
	m.conversation = a.conv;
	ingest_refused(&f, &m, "ended");
	assert_int_equal(rows_total(), before);
	fx_close(&f);
}

/* ------------------------------------------------------------ queues */

static void
test_bad_queue(void **st)
{
	struct ingest_msg m;
	struct fx f;
	long before;

	(void)st;
	fx_open(&f, 1);
	before = rows_total();
	msg_init(&m, "sms", "q-1");
	msg_ids(&m, "phone:07700 900301", NULL);
	m.queue = "nowhere";
	ingest_refused(&f, &m, "unknown_queue");
	m.queue = "old";
	ingest_refused(&f, &m, "queue_inactive");
	m.queue = "12";
	ingest_refused(&f, &m, "queue_inactive");
	m.queue = "chatonly";
	ingest_refused(&f, &m, "queue_channel");
	m.queue = NULL;
	ingest_refused(&f, &m, "no_queue");
	/* Nothing half-written: no customer, identity or conversation. */
	assert_int_equal(rows_total(), before);
	/* By id, it works. */
	{
		struct got g;

		m.queue = "11";
		ingest_ok(&f, &m, &g);
		assert_int_equal(g.queue, 11);
	}
	fx_close(&f);
}

/* ------------------------------------------------------------ repeats */

static void
test_idempotent_across_batches(void **st)
{
	struct ingest_msg m;
	struct got a, b;
	struct fx f;
	long before;

	(void)st;
	fx_open(&f, 1);
	msg_init(&m, "email", "dup-1");
	msg_ids(&m, "email:dup@example.org", NULL);
	m.body = "the first";
	m.metadata = "{\"x\": 1}";
	ingest_ok(&f, &m, &a);
	assert_false(a.repeated);
	before = rows_total();
	m.body = "a retry that says something else";
	m.metadata = "{\"x\": 2}";
	ingest_ok(&f, &m, &b);
	assert_true(b.repeated);
	assert_int_equal(b.seq, a.seq);
	assert_int_equal(b.conv, a.conv);
	assert_int_equal(b.customer, a.customer);
	assert_string_equal(b.reference, a.reference);
	assert_string_equal(b.body, "the first");
	assert_string_equal(b.metadata, "{\"x\": 1}");
	/* The new one came with its object; a repeat's is only text. */
	assert_int_equal(a.metadata_obj, 1);
	assert_int_equal(b.metadata_obj, 0);
	/* The message opened a conversation still waiting: routed again. */
	assert_int_equal(b.opened, INGEST_EXISTING);
	assert_int_equal(b.match, INGEST_MATCH_NEW);
	assert_true(b.routed);
	assert_int_equal(rows_total(), before);
	/* A repeat of a later message of the thread is not routed. */
	msg_init(&m, "email", "dup-2");
	m.conversation = a.conv;
	ingest_ok(&f, &m, &a);
	ingest_ok(&f, &m, &b);
	assert_true(b.repeated);
	assert_false(b.routed);
	assert_int_equal(b.match, INGEST_MATCH_CONVERSATION);
	fx_close(&f);
}

static void
test_idempotent_in_one_batch(void **st)
{
	struct ingest_msg m;
	struct got g[4];
	struct gots all = {g, 4};
	const char *why = NULL;
	unsigned long tx;
	struct fx f;
	int i;

	(void)st;
	fx_open(&f, 1);
	memset(g, 0, sizeof(g));
	tx = db_commit_transactions(f.w);
	/* One loop turn: one statement, one transaction. */
	for (i = 0; i < 4; i++) {
		msg_init(&m, "sms", i < 2 ? "batch-1" : "batch-2");
		msg_ids(&m, "phone:07700 900401", NULL);
		m.flags = INGEST_FIND_OPEN;
		m.body = i == 0 ? "one" : "other";
		assert_int_equal(
		        ingest_submit(f.in, &m, on_result, &g[i], &why),
		        INGEST_OK);
	}
	assert_true(sb_run_until(&f.loop, all_done, &all, 10000));
	assert_int_equal(db_commit_transactions(f.w) - tx, 1);
	for (i = 0; i < 4; i++) {
		assert_int_equal(g[i].status, INGEST_OK);
		assert_int_equal(g[i].visible, 1);
	}
	assert_false(g[0].repeated);
	assert_true(g[1].repeated);
	assert_int_equal(g[1].seq, g[0].seq);
	assert_string_equal(g[1].body, "one");
	assert_false(g[2].repeated);
	assert_true(g[3].repeated);
	/* One new sender, one customer, one conversation (found open). */
	assert_int_equal(g[2].conv, g[0].conv);
	assert_int_equal(g[2].opened, INGEST_EXISTING);
	assert_int_equal(pg_long("SELECT count(*) FROM messages WHERE source"
	                         " = 'test' AND external_id LIKE 'batch-%%'"),
	                 2);
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"
	                         " WHERE value = '+447700900401'"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM customers c WHERE"
	                         " EXISTS (SELECT 1 FROM conversations v WHERE"
	                         " v.customer_id = c.id AND v.id = %llu)",
	                         g[0].conv),
	                 1);
	fx_close(&f);
}

/*
 * The connection dies while a batch commits: every message is told
 * RETRY, none is in PostgreSQL (nothing reported done that is not
 * there), and the retries after the restart are stored once each.
 */
static void
test_lost_connection_then_retry(void **st)
{
	char ext[8][16];
	struct ingest_msg m;
	struct got g[8];
	struct gots all = {g, 8};
	const char *why = NULL;
	struct fx f;
	long before;
	int i, round;

	(void)st;
	assert_int_equal(
	        sb_pg_exec(&pg, "CREATE FUNCTION slow_msg() RETURNS trigger"
	                        " LANGUAGE plpgsql AS $$ BEGIN IF NEW.body ="
	                        " 'slow' THEN PERFORM pg_sleep(5); END IF;"
	                        " RETURN NEW; END $$;"
	                        "CREATE TRIGGER slow_msg BEFORE INSERT ON"
	                        " messages FOR EACH ROW EXECUTE FUNCTION"
	                        " slow_msg()"),
	        0);
	fx_open(&f, 1);
	before = rows_total();
	for (round = 0; round < 2; round++) {
		memset(g, 0, sizeof(g));
		for (i = 0; i < 8; i++) {
			snprintf(ext[i], sizeof(ext[i]), "lost-%d", i);
			msg_init(&m, "email", ext[i]);
			msg_ids(&m, i % 2 ? "email:lost@example.org" : NULL,
			        NULL);
			m.body = i == 7 && round == 0 ? "slow" : "fine";
			assert_int_equal(
			        ingest_submit(f.in, &m, on_result, &g[i], &why),
			        INGEST_OK);
		}
		if (round == 0) {
			sb_run_for(&f.loop, 400);
			assert_int_equal(sb_pg_stop(&pg, "immediate"), 0);
			assert_true(
			        sb_run_until(&f.loop, all_done, &all, 10000));
			for (i = 0; i < 8; i++) {
				assert_int_equal(g[i].status, INGEST_RETRY);
				assert_string_equal(g[i].code, "unavailable");
			}
			assert_int_equal(sb_pg_start(&pg), 0);
			assert_true(sb_run_until(&f.loop, ready, &f, 15000));
			assert_int_equal(rows_total(), before);
			continue;
		}
		assert_true(sb_run_until(&f.loop, all_done, &all, 10000));
		for (i = 0; i < 8; i++) {
			assert_int_equal(g[i].status, INGEST_OK);
			assert_false(g[i].repeated);
			assert_int_equal(g[i].visible, 1);
		}
	}
	/* Sent once more: all repeats, nothing added. */
	before = rows_total();
	memset(g, 0, sizeof(g));
	for (i = 0; i < 8; i++) {
		msg_init(&m, "email", ext[i]);
		assert_int_equal(
		        ingest_submit(f.in, &m, on_result, &g[i], &why),
		        INGEST_OK);
	}
	assert_true(sb_run_until(&f.loop, all_done, &all, 10000));
	for (i = 0; i < 8; i++)
		assert_true(g[i].repeated);
	assert_int_equal(rows_total(), before);
	assert_int_equal(pg_long("SELECT count(*) FROM messages WHERE"
	                         " external_id LIKE 'lost-%%'"),
	                 8);
	fx_close(&f);
	assert_int_equal(sb_pg_exec(&pg, "DROP TRIGGER slow_msg ON messages;"
	                                 "DROP FUNCTION slow_msg()"),
	                 0);
}

/* The database is down: refused at once, retryable, nothing written. */
static void
test_database_down(void **st)
{
	struct ingest_msg m;
	const char *why = NULL;
	struct got g;
	struct fx f;
	long before;

	(void)st;
	fx_open(&f, 1);
	before = rows_total();
	assert_int_equal(sb_pg_stop(&pg, "fast"), 0);
	sb_run_for(&f.loop, 500);
	memset(&g, 0, sizeof(g));
	msg_init(&m, "sms", "down-1");
	msg_ids(&m, "phone:07700 900501", NULL);
	assert_int_equal(ingest_submit(f.in, &m, on_result, &g, &why),
	                 INGEST_RETRY);
	assert_string_equal(why, "database unavailable");
	assert_int_equal(ingest_pending(f.in), 0);
	sb_run_for(&f.loop, 100);
	assert_int_equal(g.done, 0);
	assert_int_equal(sb_pg_start(&pg), 0);
	assert_true(sb_run_until(&f.loop, ready, &f, 15000));
	assert_int_equal(rows_total(), before);
	/* The source's retry is stored. */
	ingest_ok(&f, &m, &g);
	assert_false(g.repeated);
	fx_close(&f);
}

/* ------------------------------------------------------------ routing */

static int
seen(struct fx *f, const char *kind, unsigned long long conv)
{
	char want[48];
	int i, n = 0;

	snprintf(want, sizeof(want), "%s:%llu", kind, conv);
	for (i = 0; i < f->nseen; i++)
		n += strcmp(f->seen[i], want) == 0;
	return n;
}

struct seen_arg {
	struct fx *f;
	unsigned long long conv;
};

static int
seen_queued(void *arg)
{
	struct seen_arg *s = arg;

	return seen(s->f, "queued", s->conv) > 0;
}

/* The router has recorded the queueing in PostgreSQL (after Redis). */
static int
recorded_queued(void *arg)
{
	struct seen_arg *s = arg;

	return pg_long("SELECT count(*) FROM conversation_events WHERE"
	               " conversation_id = %llu AND kind = 'route.queued'",
	               s->conv) > 0;
}

/*
 * ingest_ok of a message that opens a conversation, then until the
 * router has recorded it: the writer's next transaction is the test's.
 */
static void
ingest_ok_recorded(struct fx *f, const struct ingest_msg *m, struct got *g)
{
	struct seen_arg sa;

	ingest_ok(f, m, g);
	sa.f = f;
	sa.conv = g->conv;
	assert_true(sb_run_until(&f->loop, recorded_queued, &sa, 5000));
}

static void
test_router_gets_only_new_conversations(void **st)
{
	struct ingest_msg m;
	struct got a, b, c;
	struct seen_arg sa;
	struct fx f;

	(void)st;
	fx_open(&f, 1);
	msg_init(&m, "sms", "rt-1");
	msg_ids(&m, "phone:07700 900601", NULL);
	m.flags = INGEST_FIND_OPEN;
	ingest_ok(&f, &m, &a);
	assert_true(a.routed);
	sa.f = &f;
	sa.conv = a.conv;
	assert_true(sb_run_until(&f.loop, seen_queued, &sa, 5000));
	/* Recorded by the router, once (its record follows Redis's). */
	assert_true(sb_run_until(&f.loop, recorded_queued, &sa, 5000));
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events"
	                         " WHERE conversation_id = %llu AND kind ="
	                         " 'route.queued'",
	                         a.conv),
	                 1);
	/* Messages into it, and a repeat of one: no more routing. */
	msg_init(&m, "sms", "rt-2");
	msg_ids(&m, "phone:07700 900601", NULL);
	m.flags = INGEST_FIND_OPEN;
	ingest_ok(&f, &m, &b);
	assert_false(b.routed);
	ingest_ok(&f, &m, &c);
	assert_true(c.repeated);
	assert_false(c.routed);
	sb_run_for(&f.loop, 300);
	assert_int_equal(seen(&f, "queued", a.conv), 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events"
	                         " WHERE conversation_id = %llu AND kind LIKE"
	                         " 'route.%%'",
	                         a.conv),
	                 1);
	fx_close(&f);

	/* With no router, nothing is routed; the row waits for the
	 * reconciler. */
	fx_open(&f, 0);
	msg_init(&m, "sms", "rt-3");
	ingest_ok(&f, &m, &a);
	assert_false(a.routed);
	sb_run_for(&f.loop, 300);
	assert_int_equal(seen(&f, "queued", a.conv), 0);
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE id"
	                         " = %llu AND status = 'waiting'",
	                         a.conv),
	                 1);
	fx_close(&f);
}

/*
 * Messages into a known conversation take the set-based fast path: many
 * in one statement, in order, the same answers as sb_ingest's (a repeat
 * in the batch or from before, even once the conversation has ended; an
 * ended or unknown conversation refused), beside the per-row path in the
 * same transaction.
 */
static void
test_known_conversation_batch(void **st)
{
	static const char *const ext[5] = {"kb-1", "kb-1", "kb-2", "kb-new",
	                                   "kb-3"};
	struct ingest_msg m;
	struct got a, g[5], r;
	struct gots all = {g, 5};
	const char *why = NULL;
	unsigned long tx, stmts;
	struct fx f;
	int i;

	(void)st;
	fx_open(&f, 1);
	msg_init(&m, "sms", "kb-0");
	msg_ids(&m, "phone:07700 900701", NULL);
	ingest_ok_recorded(&f, &m, &a);
	memset(g, 0, sizeof(g));
	tx = db_commit_transactions(f.w);
	stmts = db_commit_statements(f.w);
	for (i = 0; i < 5; i++) {
		msg_init(&m, "sms", ext[i]);
		m.body = i == 1 ? "a retry" : ext[i];
		if (i == 3)
			msg_ids(&m, "phone:07700 900702", NULL);
		else
			m.conversation = a.conv;
		if (i == 4)
			m.conversation = 999999;
		assert_int_equal(
		        ingest_submit(f.in, &m, on_result, &g[i], &why),
		        INGEST_OK);
	}
	assert_true(sb_run_until(&f.loop, all_done, &all, 10000));
	/* One transaction, one statement per path. */
	assert_int_equal(db_commit_transactions(f.w) - tx, 1);
	assert_int_equal(db_commit_statements(f.w) - stmts, 2);
	assert_int_equal(g[0].status, INGEST_OK);
	assert_false(g[0].repeated);
	assert_int_equal(g[0].conv, a.conv);
	assert_string_equal(g[0].reference, a.reference);
	assert_int_equal(g[0].customer, a.customer);
	assert_int_equal(g[0].match, INGEST_MATCH_CONVERSATION);
	assert_int_equal(g[0].opened, INGEST_EXISTING);
	assert_false(g[0].routed);
	assert_string_equal(g[0].channel, "sms");
	assert_true(g[1].repeated);
	assert_int_equal(g[1].seq, g[0].seq);
	assert_string_equal(g[1].body, "kb-1");
	assert_false(g[2].repeated);
	assert_true(g[2].seq > g[0].seq);
	assert_int_equal(g[3].status, INGEST_OK);
	assert_int_equal(g[3].opened, INGEST_NEW);
	assert_true(g[3].routed);
	assert_int_equal(g[4].status, INGEST_REFUSED);
	assert_string_equal(g[4].code, "no_conversation");
	assert_int_equal(pg_long("SELECT count(*) FROM messages WHERE source"
	                         " = 'test' AND external_id LIKE 'kb-%%'"),
	                 4);
	/* Ended: a repeat is still the stored message; a new one refused. */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE conversations SET status ="
	                                 " 'closed' WHERE id IN (SELECT"
	                                 " conversation_id FROM messages WHERE"
	                                 " external_id = 'kb-0')"),
	                 0);
	msg_init(&m, "sms", "kb-2");
	m.conversation = a.conv;
	m.body = "again";
	ingest_ok(&f, &m, &r);
	assert_true(r.repeated);
	assert_int_equal(r.seq, g[2].seq);
	assert_string_equal(r.body, "kb-2");
	msg_init(&m, "sms", "kb-4");
	m.conversation = a.conv;
	ingest_refused(&f, &m, "ended");
	/*
	 * One external id twice in a batch, the first into no conversation:
	 * that one refused, the second stored (not taken for a repeat of it).
	 */
	msg_init(&m, "sms", "kb-once");
	msg_ids(&m, "phone:07700 900703", NULL);
	ingest_ok_recorded(&f, &m, &a);
	memset(g, 0, sizeof(g));
	for (i = 0; i < 2; i++) {
		msg_init(&m, "sms", "kb-5");
		m.conversation = i == 0 ? 999999 : a.conv;
		assert_int_equal(
		        ingest_submit(f.in, &m, on_result, &g[i], &why),
		        INGEST_OK);
	}
	all.n = 2;
	assert_true(sb_run_until(&f.loop, all_done, &all, 10000));
	assert_int_equal(g[0].status, INGEST_REFUSED);
	assert_string_equal(g[0].code, "no_conversation");
	assert_int_equal(g[1].status, INGEST_OK);
	assert_false(g[1].repeated);
	assert_int_equal(g[1].conv, a.conv);
	fx_close(&f);
}

/*
 * New contacts in one batch take sb_ingest_new's set-based path when they
 * share nothing, and sb_ingest otherwise, with the same answers: a new
 * customer holding the identity, the one customer who holds it (nothing
 * added), no identity, two rows sharing a new identity (one customer), a
 * repeat of a stored message, a thread key to record, an unknown queue.
 */
static void
test_new_contacts_batch(void **st)
{
	static const char *const phones[6] = {"phone:07700 900801",
	                                      "phone:07700 900802",
	                                      NULL,
	                                      "phone:07700 900803",
	                                      "phone:07700 900803",
	                                      "phone:07700 900804"};
	static const char *const key[] = {"<thread-801@example.org>"};
	char ext[12][16];
	struct ingest_msg m;
	struct got old, g[12];
	struct gots all = {g, 12};
	const char *why = NULL;
	unsigned long tx;
	struct fx f;
	int i;

	(void)st;
	fx_open(&f, 1);
	/* A customer who already holds 900802, and a stored message. */
	msg_init(&m, "sms", "nc-old");
	msg_ids(&m, "phone:07700 900802", NULL);
	ingest_ok_recorded(&f, &m, &old);
	memset(g, 0, sizeof(g));
	tx = db_commit_transactions(f.w);
	for (i = 0; i < 12; i++) {
		snprintf(ext[i], sizeof(ext[i]), "nc-%d", i);
		msg_init(&m, "sms", ext[i]);
		if (i < 6 && phones[i] != NULL)
			msg_ids(&m, phones[i], NULL);
		if (i == 6)
			m.external_id = "nc-old"; /* a repeat */
		if (i == 7) {
			m.thread_add = key;
			m.nthread_add = 1;
		}
		if (i == 8)
			m.queue = "nowhere";
		assert_int_equal(
		        ingest_submit(f.in, &m, on_result, &g[i], &why),
		        INGEST_OK);
	}
	assert_true(sb_run_until(&f.loop, all_done, &all, 10000));
	assert_int_equal(db_commit_transactions(f.w) - tx, 1);
	/* A new sender: a new customer holding the number, routed. */
	assert_int_equal(g[0].status, INGEST_OK);
	assert_int_equal(g[0].match, INGEST_MATCH_NEW);
	assert_int_equal(g[0].opened, INGEST_NEW);
	assert_true(g[0].routed);
	assert_false(g[0].repeated);
	assert_int_equal(g[0].queue, 11);
	assert_string_equal(g[0].channel, "sms");
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"
	                         " WHERE value = '+447700900801' AND"
	                         " customer_id = %llu",
	                         g[0].customer),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events"
	                         " WHERE conversation_id = %llu AND kind ="
	                         " 'conversation.new' AND detail->>'message' ="
	                         " '%llu' AND detail->>'match' = 'new'",
	                         g[0].conv, g[0].seq),
	                 1);
	/* The customer who holds it, nothing added; a new conversation. */
	assert_int_equal(g[1].match, INGEST_MATCH_MATCHED);
	assert_int_equal(g[1].customer, old.customer);
	assert_int_equal(g[1].opened, INGEST_NEW);
	assert_true(g[1].conv != old.conv);
	/* No identity: a customer of its own. */
	assert_int_equal(g[2].match, INGEST_MATCH_NONE);
	assert_true(g[2].customer != g[0].customer);
	/* Two rows with one new number: one customer. */
	assert_int_equal(g[3].match, INGEST_MATCH_NEW);
	assert_int_equal(g[4].match, INGEST_MATCH_MATCHED);
	assert_int_equal(g[4].customer, g[3].customer);
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"
	                         " WHERE value = '+447700900803'"),
	                 1);
	assert_int_equal(g[5].match, INGEST_MATCH_NEW);
	/* The repeat: the stored message, nothing new. */
	assert_true(g[6].repeated);
	assert_int_equal(g[6].seq, old.seq);
	assert_int_equal(g[6].conv, old.conv);
	/* The thread key recorded; the unknown queue refused. */
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_threads"
	                         " WHERE key = '<thread-801@example.org>' AND"
	                         " conversation_id = %llu",
	                         g[7].conv),
	                 1);
	assert_int_equal(g[8].status, INGEST_REFUSED);
	assert_string_equal(g[8].code, "unknown_queue");
	for (i = 9; i < 12; i++) {
		assert_int_equal(g[i].status, INGEST_OK);
		assert_int_equal(g[i].match, INGEST_MATCH_NONE);
		assert_int_equal(g[i].opened, INGEST_NEW);
	}
	/* Every message once; references all different. */
	assert_int_equal(pg_long("SELECT count(*) FROM messages WHERE source"
	                         " = 'test' AND external_id LIKE 'nc-%%'"),
	                 12 - 1 - 1 + 1);
	assert_int_equal(pg_long("SELECT count(DISTINCT reference) FROM"
	                         " conversations c JOIN messages m ON"
	                         " m.conversation_id = c.id WHERE m.source ="
	                         " 'test' AND m.external_id LIKE 'nc-%%'"),
	                 12 - 1 - 1 + 1);
	fx_close(&f);
}

/*
 * A new sender whose identity another transaction commits while the batch
 * runs (another instance took a message from the same resident at the same
 * moment): the batch found nobody holding it, then its insert of the
 * identity waited for the other transaction and skipped it. Before
 * migration 0023 that left a second customer without the identity; now
 * the batch is undone and tried again alone, and the message goes to the
 * customer that won. flags 0: the set path (sb_ingest_set);
 * INGEST_FIND_OPEN: one row at a time (sb_ingest, sb_customer_resolve).
 */
static void
race_once(struct fx *f, const char *addr, const char *ext, unsigned flags)
{
	char sql[256], id[80];
	struct ingest_msg m;
	const char *why = NULL;
	long other, before;
	struct got g;
	PGconn *c;
	PGresult *r;
	int i;

	before = pg_long("SELECT count(*) FROM customers");
	c = PQconnectdb(pg.conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, "BEGIN");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	r = PQexec(c, "INSERT INTO customers (display_name) VALUES"
	              " ('Other instance') RETURNING id");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	other = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO customer_identities (customer_id, kind, value)"
	         " VALUES (%ld, 'email', '%s')",
	         other, addr);
	r = PQexec(c, sql);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);

	msg_init(&m, "email", ext);
	snprintf(id, sizeof(id), "email:%s", addr);
	msg_ids(&m, id, NULL);
	m.flags = flags;
	memset(&g, 0, sizeof(g));
	assert_int_equal(ingest_submit(f->in, &m, on_result, &g, &why),
	                 INGEST_OK);
	/* The batch waits on the other transaction's identity... */
	for (i = 0; i < 500 && pg_long("SELECT count(*) FROM pg_locks WHERE"
	                               " NOT granted") != 1;
	     i++)
		sb_run_for(&f->loop, 20);
	assert_int_equal(pg_long("SELECT count(*) FROM pg_locks WHERE NOT"
	                         " granted"),
	                 1);
	assert_false(g.done);
	/* ...which commits. */
	r = PQexec(c, "COMMIT");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(c);
	assert_true(sb_run_until(&f->loop, got_done, &g, 10000));
	assert_int_equal(g.status, INGEST_OK);
	assert_int_equal(g.visible, 1);
	/* The customer that holds the address, and no second one. */
	assert_int_equal(g.match, INGEST_MATCH_MATCHED);
	assert_int_equal(g.customer, other);
	assert_int_equal(pg_long("SELECT count(*) FROM customers"), before + 1);
	assert_int_equal(pg_long("SELECT count(*) FROM messages m JOIN"
	                         " conversations v ON v.id = m.conversation_id"
	                         " WHERE m.external_id = '%s' AND"
	                         " v.customer_id = %ld",
	                         ext, other),
	                 1);
}

static void
test_identity_race(void **st)
{
	struct fx f;

	(void)st;
	fx_open(&f, 1);
	race_once(&f, "race@example.org", "race-1", 0);
	race_once(&f, "race2@example.org", "race-2", INGEST_FIND_OPEN);
	fx_close(&f);
}

/* ------------------------------------------------------- delivery hook */

static void
test_delivery_hook(void **st)
{
	struct ingest_msg m;
	struct got a, b;
	struct fx f;

	(void)st;
	fx_open(&f, 1);
	msg_init(&m, "email", "dl-1");
	m.body = "deliver me";
	ingest_ok(&f, &m, &a);
	assert_int_equal(f.delivered, 1);
	assert_int_equal(f.last_delivered_seq, a.seq);
	assert_false(f.last_delivered_repeat);
	/* A repeat is passed on again (receivers drop it by seq). */
	ingest_ok(&f, &m, &b);
	assert_int_equal(f.delivered, 2);
	assert_int_equal(f.last_delivered_seq, a.seq);
	assert_true(f.last_delivered_repeat);
	/* A channel that shows it to the desks itself: not delivered. */
	msg_init(&m, "email", "dl-3");
	m.flags = INGEST_OWN_DELIVERY;
	ingest_ok(&f, &m, &b);
	assert_int_equal(f.delivered, 2);
	/* A refusal is not delivered. */
	msg_init(&m, "email", "dl-2");
	m.queue = "nowhere";
	ingest_refused(&f, &m, "unknown_queue");
	assert_int_equal(f.delivered, 2);
	assert_true(f.deliver_after_cb);
	fx_close(&f);
}

/* ------------------------------------------------ refused by ingest_submit */

static void
test_refused_before_the_database(void **st)
{
	static const struct ingest_attachment att = {
	        "report.pdf", "application/pdf", 12345, NULL, "imap:INBOX/7/2"};
	struct identity bad = {IDENTITY_EMAIL, "Not@Normalised.org"};
	const char *keys[] = {""};
	struct ingest_msg m;
	const char *why;
	struct got g;
	struct fx f;

	(void)st;
	fx_open(&f, 1);
	memset(&g, 0, sizeof(g));
#define REFUSE(setup)                                                          \
	do {                                                                   \
		msg_init(&m, "email", "ref-x");                                \
		setup;                                                         \
		why = NULL;                                                    \
		assert_int_equal(ingest_submit(f.in, &m, on_result, &g, &why), \
		                 INGEST_REFUSED);                              \
		assert_non_null(why);                                          \
	} while (0)
	REFUSE(m.channel = "fax");
	REFUSE(m.channel = NULL);
	REFUSE(m.source = NULL);
	REFUSE(m.source = "");
	REFUSE(m.external_id = NULL);
	REFUSE(m.external_id = "");
	REFUSE(m.body = "caf\xc3");
	REFUSE(m.body = "\xed\xa0\x80"); /* a surrogate */
	REFUSE(m.subject = "\xff");
	REFUSE(m.metadata = "[1, 2]");
	REFUSE(m.metadata = "{\"a\": ");
	REFUSE(m.metadata = "{\"a\": \"\\u0000\"}");
	REFUSE((m.ids = &bad, m.nids = 1));
	REFUSE((m.thread_find = keys, m.nthread_find = 1));
	REFUSE(m.nids = 3); /* no array */
	REFUSE(m.nattachments = 1);
	REFUSE(m.hook_data = "{}"); /* without a hook */
	REFUSE(m.hook = "");
	REFUSE(m.hook = "Bad");
	REFUSE(m.hook = "x;drop table messages");
	REFUSE((m.hook = "test.hook", m.hook_data = "[1]"));
	REFUSE((m.hook = "test.hook", m.hook_data = "{\"a\": "));
#undef REFUSE
	assert_int_equal(ingest_pending(f.in), 0);
	sb_run_for(&f.loop, 100);
	assert_int_equal(g.done, 0);

	/* Long names and subjects are cut, not refused; attachments'
	 * metadata is kept in the message's, marked not stored. */
	{
		char name[600], subject[2100];

		memset(name, 'n', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		memset(subject, 's', sizeof(subject) - 1);
		subject[sizeof(subject) - 1] = '\0';
		msg_init(&m, "email", "long-1");
		m.name = name;
		m.subject = subject;
		m.metadata = "{\"from\": \"x\"}";
		m.attachments = &att;
		m.nattachments = 1;
		ingest_ok(&f, &m, &g);
		assert_int_equal(pg_long("SELECT length(display_name) FROM"
		                         " customers WHERE id = %llu",
		                         g.customer),
		                 200);
		assert_int_equal(pg_long("SELECT length(subject) FROM"
		                         " conversations WHERE id = %llu",
		                         g.conv),
		                 998);
		assert_int_equal(
		        pg_long("SELECT count(*) FROM messages WHERE id ="
		                " %llu AND metadata->>'from' = 'x' AND"
		                " metadata->'attachments'->0->>"
		                "'filename' = 'report.pdf' AND"
		                " (metadata->'attachments'->0->>'size')"
		                "::int = 12345 AND NOT (metadata->"
		                "'attachments'->0->>'stored')::boolean",
		                g.seq),
		        1);
		assert_int_equal(pg_long("SELECT count(*) FROM attachments"),
		                 0);
	}
	fx_close(&f);
}

/* ------------------------------------------------------------ hooks */

/*
 * A channel's rows in ingest's transaction: the hook sees the result and
 * its data, answers, may refuse (nothing of the message written), and is
 * called for a repeat too; an unregistered name is refused.
 */
/*
 * The test hook (and its table): records each call, refuses tag "no"
 * (test_limit), answers the tag and what was opened.
 */
static void
test_hook_create(void)
{
	assert_int_equal(
	        sb_pg_exec(&pg,
	                   "CREATE TABLE IF NOT EXISTS test_hook_rows"
	                   " (conv bigint, seq bigint, repeated boolean,"
	                   " tag text);"
	                   "CREATE OR REPLACE FUNCTION test_hook(r jsonb,"
	                   " d jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$"
	                   "BEGIN"
	                   " INSERT INTO test_hook_rows VALUES"
	                   "  ((r->>'conversation_id')::bigint,"
	                   "   (r->>'seq')::bigint,"
	                   "   (r->>'repeated')::boolean, d->>'tag');"
	                   " IF d->>'tag' = 'no' THEN RAISE EXCEPTION USING"
	                   "  ERRCODE = 'SB001', MESSAGE = 'test_limit';"
	                   " END IF;"
	                   " RETURN jsonb_build_object('tag', d->>'tag',"
	                   "  'opened', r->>'opened');"
	                   "END $$;"),
	        0);
}

static void
test_hooks(void **st)
{
	struct ingest_msg m;
	struct got g, g2;
	struct fx f;
	long before;

	(void)st;
	test_hook_create();
	assert_int_equal(
	        sb_pg_exec(&pg, "INSERT INTO ingest_hooks VALUES ('test.hook',"
	                        " 'test_hook') ON CONFLICT DO NOTHING"),
	        0);
	fx_open(&f, 1);

	/* Called with the result, in the same transaction; its answer. */
	msg_init(&m, "sms", "hook-1");
	msg_ids(&m, "phone:07700 900801", NULL);
	m.hook = "test.hook";
	m.hook_data = "{\"tag\": \"yes\"}";
	ingest_ok(&f, &m, &g);
	assert_int_equal(g.opened, INGEST_NEW);
	assert_string_equal(g.hook, "{\"tag\": \"yes\", \"opened\": \"new\"}");
	assert_int_equal(pg_long("SELECT count(*) FROM test_hook_rows WHERE"
	                         " conv = %llu AND seq = %llu AND NOT"
	                         " repeated AND tag = 'yes'",
	                         g.conv, g.seq),
	                 1);

	/* A repeat: the hook is told it is one. */
	ingest_ok(&f, &m, &g2);
	assert_true(g2.repeated);
	assert_int_equal(g2.seq, g.seq);
	assert_int_equal(pg_long("SELECT count(*) FROM test_hook_rows WHERE"
	                         " seq = %llu AND repeated",
	                         g.seq),
	                 1);

	/* Refused by the hook: nothing of the message is written. */
	before = rows_total();
	msg_init(&m, "sms", "hook-2");
	msg_ids(&m, "phone:07700 900802", NULL);
	m.hook = "test.hook";
	m.hook_data = "{\"tag\": \"no\"}";
	ingest_refused(&f, &m, "test_limit");
	assert_int_equal(rows_total(), before);
	assert_int_equal(
	        pg_long("SELECT count(*) FROM test_hook_rows WHERE tag = 'no'"),
	        0);
	/* Not refused by ingest: the hook is not called. */
	m.hook_data = "{\"tag\": \"never\"}";
	m.queue = "nowhere";
	ingest_refused(&f, &m, "unknown_queue");
	assert_int_equal(pg_long("SELECT count(*) FROM test_hook_rows WHERE"
	                         " tag = 'never'"),
	                 0);
	/* A name nobody registered. */
	m.queue = "tax";
	m.hook = "no.such.hook";
	m.hook_data = NULL;
	ingest_refused(&f, &m, "unknown_hook");
	assert_int_equal(rows_total(), before);
	/* Without a hook, the answer has none. */
	m.hook = NULL;
	ingest_ok(&f, &m, &g);
	assert_string_equal(g.hook, "");
	fx_close(&f);
}

/*
 * A hook with a set form (migration 0022): a batch's new contacts that name
 * it (with thread keys, with or without a message) are written in one
 * statement and the set form is called once for them; the rest of the
 * batch (a key recorded already, two rows sharing a key, one sent with
 * INGEST_MAY_REFUSE) takes the per-row hook, with the same answers.
 */
static void
test_set_hook(void **st)
{
	static const char *const k_old[] = {"set:old"};
	static const char *const k0[] = {"set:k0"};
	static const char *const k1[] = {"set:k1"};
	static const char *const k4[] = {"set:k4"};
	static const char *const tags[6] = {"a", "b", "c", "no", "d", "e"};
	char ext[6][16], data[6][48];
	struct ingest_msg m;
	struct got old, g[6];
	struct gots all = {g, 6};
	const char *why = NULL;
	struct fx f;
	int i;

	(void)st;
	test_hook_create();
	assert_int_equal(
	        sb_pg_exec(&pg,
	                   "CREATE TABLE IF NOT EXISTS test_set_calls"
	                   " (rows integer);"
	                   "CREATE OR REPLACE FUNCTION test_set_hook(p jsonb)"
	                   " RETURNS TABLE (n bigint, hook jsonb)"
	                   " LANGUAGE plpgsql AS $$"
	                   "BEGIN"
	                   " INSERT INTO test_set_calls"
	                   "  VALUES (jsonb_array_length(p));"
	                   " INSERT INTO test_hook_rows"
	                   "  SELECT (e->>'conversation_id')::bigint,"
	                   "   (e->>'seq')::bigint, (e->>'repeated')::boolean,"
	                   "   'set:' || (e->'data'->>'tag')"
	                   "  FROM jsonb_array_elements(p) e;"
	                   " RETURN QUERY SELECT (e->>'n')::bigint,"
	                   "  jsonb_build_object('tag', e->'data'->>'tag',"
	                   "   'opened', e->>'opened')"
	                   "  FROM jsonb_array_elements(p) e;"
	                   "END $$;"
	                   "INSERT INTO ingest_hooks VALUES ('test.sethook',"
	                   " 'test_hook', 'test_set_hook')"
	                   " ON CONFLICT DO NOTHING"),
	        0);
	fx_open(&f, 1);
	/* A conversation holding thread key set:old already. */
	msg_init(&m, "sms", "set-old");
	m.thread_add = k_old;
	m.nthread_add = 1;
	ingest_ok_recorded(&f, &m, &old);

	memset(g, 0, sizeof(g));
	for (i = 0; i < 6; i++) {
		snprintf(ext[i], sizeof(ext[i]), "set-%d", i);
		snprintf(data[i], sizeof(data[i]), "{\"tag\": \"%s\"}",
		         tags[i]);
		msg_init(&m, "sms", ext[i]);
		m.hook = "test.sethook";
		m.hook_data = data[i];
		switch (i) {
		case 0: /* new, a key to record, no message: the set */
			m.thread_find = m.thread_add = k0;
			m.nthread_find = m.nthread_add = 1;
			m.body = NULL;
			m.subject = NULL;
			m.flags = INGEST_NO_MESSAGE;
			msg_ids(&m, "phone:07700 900811", NULL);
			break;
		case 1: /* new, a key, a message: the set */
			m.thread_add = k1;
			m.nthread_add = 1;
			break;
		case 2: /* its key is recorded: per row, the old one */
			m.thread_find = k_old;
			m.nthread_find = 1;
			break;
		case 3: /* may be refused: per row, refused */
			m.flags = INGEST_MAY_REFUSE;
			break;
		default: /* 4 and 5 share a key: per row, one conversation */
			m.thread_find = m.thread_add = k4;
			m.nthread_find = m.nthread_add = 1;
			break;
		}
		assert_int_equal(
		        ingest_submit(f.in, &m, on_result, &g[i], &why),
		        INGEST_OK);
	}
	assert_true(sb_run_until(&f.loop, all_done, &all, 10000));
	/*
	 * One transaction (the router's own records may follow it): one
	 * now() (xmin differs: a row with a hook runs in a subtransaction).
	 */
	assert_int_equal(pg_long("SELECT count(DISTINCT created_at) FROM"
	                         " conversations WHERE id IN"
	                         " (%llu, %llu, %llu)",
	                         g[0].conv, g[1].conv, g[4].conv),
	                 1);
	/* The set form, once, for rows 0 and 1. */
	assert_int_equal(pg_long("SELECT count(*) FROM test_set_calls"), 1);
	assert_int_equal(pg_long("SELECT sum(rows) FROM test_set_calls"), 2);
	assert_int_equal(g[0].status, INGEST_OK);
	assert_int_equal(g[0].opened, INGEST_NEW);
	assert_int_equal(g[0].match, INGEST_MATCH_NEW);
	assert_int_equal(g[0].seq, 0);
	assert_true(g[0].routed);
	assert_string_equal(g[0].hook, "{\"tag\": \"a\", \"opened\": \"new\"}");
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_threads"
	                         " WHERE key = 'set:k0' AND conversation_id ="
	                         " %llu",
	                         g[0].conv),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events"
	                         " WHERE conversation_id = %llu AND kind ="
	                         " 'conversation.new' AND detail->'message'"
	                         " = 'null' AND detail->>'match' = 'new'",
	                         g[0].conv),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM customer_identities"
	                         " WHERE value = '+447700900811' AND"
	                         " customer_id = %llu",
	                         g[0].customer),
	                 1);
	assert_int_equal(g[1].opened, INGEST_NEW);
	assert_int_not_equal(g[1].seq, 0);
	assert_string_equal(g[1].hook, "{\"tag\": \"b\", \"opened\": \"new\"}");
	assert_int_equal(pg_long("SELECT count(*) FROM test_hook_rows WHERE"
	                         " tag IN ('set:a', 'set:b')"),
	                 2);
	/* Per row: found by the recorded key, the per-row hook's answer. */
	assert_int_equal(g[2].status, INGEST_OK);
	assert_int_equal(g[2].conv, old.conv);
	assert_int_equal(g[2].opened, INGEST_EXISTING);
	assert_string_equal(g[2].hook, "{\"tag\": \"c\", \"opened\": \"\"}");
	assert_int_equal(g[3].status, INGEST_REFUSED);
	assert_string_equal(g[3].code, "test_limit");
	assert_int_equal(pg_long("SELECT count(*) FROM messages WHERE"
	                         " external_id = 'set-3'"),
	                 0);
	assert_int_equal(g[4].opened, INGEST_NEW);
	assert_int_equal(g[5].opened, INGEST_EXISTING);
	assert_int_equal(g[5].conv, g[4].conv);
	assert_int_equal(pg_long("SELECT count(*) FROM test_hook_rows WHERE"
	                         " tag IN ('c', 'd', 'e')"),
	                 3);
	fx_close(&f);
}

/* ------------------------------------------------- no message, routed */

struct routed_got {
	int n, ok;
	unsigned long long conv, queue;
};

static void
on_routed_told(void *arg, uint64_t conv, uint64_t queue, int ok)
{
	struct routed_got *r = arg;

	r->n++;
	r->ok = ok;
	r->conv = conv;
	r->queue = queue;
}

static int
routed_told(void *arg)
{
	return ((struct routed_got *)arg)->n > 0;
}

/*
 * A contact with no message: a conversation and customer, no message, no
 * delivery; found again by its thread key (no second conversation, not
 * routed again); the channel told once routing has it.
 */
static void
test_no_message(void **st)
{
	const char *key[] = {"start:9a3e2d1c-0000-4000-8000-000000000001"};
	struct routed_got rg;
	struct ingest_msg m;
	struct got a, b;
	struct fx f;
	const char *why;
	long msgs;

	(void)st;
	fx_open(&f, 1);
	msgs = pg_long("SELECT count(*) FROM messages");
	msg_init(&m, "chat", "start:1");
	msg_ids(&m, "email:start@example.org", NULL);
	m.body = NULL;
	m.subject = NULL;
	m.flags = INGEST_NO_MESSAGE;
	m.thread_find = key;
	m.nthread_find = 1;
	m.thread_add = key;
	m.nthread_add = 1;
	m.queue = "chatonly";
	memset(&rg, 0, sizeof(rg));
	m.routed = on_routed_told;
	m.routed_arg = &rg;
	memset(&a, 0, sizeof(a));
	assert_int_equal(ingest_submit(f.in, &m, on_result, &a, &why),
	                 INGEST_OK);
	assert_true(sb_run_until(&f.loop, got_done, &a, 10000));
	assert_int_equal(a.status, INGEST_OK);
	assert_int_equal(a.opened, INGEST_NEW);
	assert_int_equal(a.match, INGEST_MATCH_NEW);
	assert_int_equal(a.seq, 0);
	assert_string_equal(a.body, "");
	assert_true(a.routed);
	assert_int_not_equal(a.conv, 0);
	assert_int_equal(pg_long("SELECT count(*) FROM messages"), msgs);
	assert_int_equal(f.delivered, 0);
	/* Told once the router has it, after the callback. */
	assert_true(sb_run_until(&f.loop, routed_told, &rg, 5000));
	assert_int_equal(rg.n, 1);
	assert_true(rg.ok);
	assert_int_equal(rg.conv, a.conv);
	assert_int_equal(rg.queue, a.queue);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events"
	                         " WHERE conversation_id = %llu AND kind ="
	                         " 'conversation.new' AND detail->'message'"
	                         " = 'null'",
	                         a.conv),
	                 1);

	/* The same contact again: found by its key, nothing new. */
	memset(&b, 0, sizeof(b));
	assert_int_equal(ingest_submit(f.in, &m, on_result, &b, &why),
	                 INGEST_OK);
	assert_true(sb_run_until(&f.loop, got_done, &b, 10000));
	assert_int_equal(b.status, INGEST_OK);
	assert_int_equal(b.conv, a.conv);
	assert_int_equal(b.opened, INGEST_EXISTING);
	assert_int_equal(b.match, INGEST_MATCH_CONVERSATION);
	assert_false(b.routed);
	assert_int_equal(b.seq, 0);
	sb_run_for(&f.loop, 200);
	assert_int_equal(rg.n, 1);
	assert_int_equal(pg_long("SELECT count(*) FROM messages"), msgs);
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE"
	                         " id IN (SELECT conversation_id FROM"
	                         " conversation_threads WHERE key = '%s')",
	                         key[0]),
	                 1);

	/* A body with the flag is refused before the database. */
	m.body = "hello";
	why = NULL;
	assert_int_equal(ingest_submit(f.in, &m, on_result, &b, &why),
	                 INGEST_REFUSED);
	assert_non_null(why);
	fx_close(&f);
}

/* --------------------------------------------- the chat's SQL still works */

static void
test_chat_functions_still_answer(void **st)
{
	(void)st;
	assert_int_equal(sb_pg_exec(&pg,
	                            "INSERT INTO customers (id,"
	                            " display_name) VALUES (9101, 'E'),"
	                            " (9102, 'P');"
	                            "INSERT INTO customer_identities"
	                            " (customer_id, kind, value) VALUES"
	                            " (9101, 'email', 'e9101@example.org'),"
	                            " (9102, 'phone', '+447700909102')"),
	                 0);
	/* sb_chat_customer: matched by either, ambiguous, new, none. */
	assert_int_equal(sb_pg_value(&pg, "SELECT customer_id FROM"
	                                  " sb_chat_customer('x',"
	                                  " 'E9101@example.org', NULL)"),
	                 9101);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM"
	                                  " sb_chat_customer('x',"
	                                  " 'e9101@example.org',"
	                                  " '+447700909102') WHERE match ="
	                                  " 'ambiguous' AND candidates ="
	                                  " '{9101,9102}'"),
	                 1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM"
	                                  " sb_chat_customer('x',"
	                                  " 'Fresh9103@example.org', NULL)"
	                                  " WHERE match = 'new'"),
	                 1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM"
	                                  " customer_identities WHERE value ="
	                                  " 'fresh9103@example.org' AND NOT"
	                                  " verified"),
	                 1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM"
	                                  " sb_chat_customer('x', NULL, NULL)"
	                                  " WHERE match = 'none'"),
	                 1);
	/*
	 * sb_chat_start and sb_chat_leave_limited: as before. (A statement
	 * does not see what a function it calls wrote: each is looked at by
	 * the next statement.)
	 */
	assert_int_equal(
	        sb_pg_value(&pg, "SELECT count(*) FROM sb_chat_start('tax',"
	                         " 'R', NULL, '+447700909102', '\\x"
	                         "0101010101010101010101010101010101010101010"
	                         "101010101010101010101'::bytea, NULL, NULL,"
	                         " NULL, 3600, true) WHERE match = 'matched'"
	                         " AND NOT repeated AND NOT unserved"),
	        1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM chat_sessions s"
	                                  " JOIN conversations c ON c.id ="
	                                  " s.conversation_id WHERE"
	                                  " c.customer_id = 9102 AND c.status ="
	                                  " 'waiting' AND c.queue_id = 11 AND"
	                                  " s.customer_match = 'matched'"),
	                 1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM"
	                                  " sb_chat_start('old', 'R', NULL,"
	                                  " NULL, '\\x02'::bytea, NULL, NULL,"
	                                  " NULL, 3600, true) WHERE"
	                                  " conversation_id IS NULL"),
	                 1);
	assert_int_equal(
	        sb_pg_value(&pg, "SELECT count(*) FROM sb_chat_leave_limited("
	                         "'tax', 'L', 'e9101@example.org', NULL, 'hi',"
	                         " '6f1c0a52-6a4b-4c55-9c1e-2b9d1c3e4f50',"
	                         " '192.0.2.1', 10, 10) WHERE NOT repeated AND"
	                         " refused IS NULL"),
	        1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM conversations c"
	                                  " JOIN messages m ON"
	                                  " m.conversation_id = c.id WHERE"
	                                  " c.customer_id = 9101 AND c.subject"
	                                  " = 'Message left: Council tax' AND"
	                                  " m.external_id = 'leave:6f1c0a52-"
	                                  "6a4b-4c55-9c1e-2b9d1c3e4f50'"),
	                 1);
	assert_int_equal(
	        sb_pg_value(&pg, "SELECT count(*) FROM sb_chat_leave_limited("
	                         "'tax', 'L', 'e9101@example.org', NULL, 'hi',"
	                         " '6f1c0a52-6a4b-4c55-9c1e-2b9d1c3e4f50',"
	                         " '192.0.2.1', 10, 10) WHERE repeated"),
	        1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM outbox WHERE"
	                                  " payload->>'kind' ="
	                                  " 'chat.left_message.ack' AND"
	                                  " destination = 'e9101@example.org'"),
	                 1);
	assert_int_equal(sb_pg_value(&pg, "SELECT count(*) FROM messages WHERE"
	                                  " source = 'chat' AND external_id ="
	                                  " 'leave:6f1c0a52-6a4b-4c55-9c1e-"
	                                  "2b9d1c3e4f50' AND metadata->>'kind'"
	                                  " = 'left_message'"),
	                 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_identity_resolution),
	        cmocka_unit_test(test_thread_keys),
	        cmocka_unit_test(test_reference),
	        cmocka_unit_test(test_open_conversation_per_channel),
	        cmocka_unit_test(test_explicit_conversation),
	        cmocka_unit_test(test_known_conversation_batch),
	        cmocka_unit_test(test_new_contacts_batch),
	        cmocka_unit_test(test_identity_race),
	        cmocka_unit_test(test_bad_queue),
	        cmocka_unit_test(test_idempotent_across_batches),
	        cmocka_unit_test(test_idempotent_in_one_batch),
	        cmocka_unit_test(test_lost_connection_then_retry),
	        cmocka_unit_test(test_database_down),
	        cmocka_unit_test(test_router_gets_only_new_conversations),
	        cmocka_unit_test(test_delivery_hook),
	        cmocka_unit_test(test_refused_before_the_database),
	        cmocka_unit_test(test_hooks),
	        cmocka_unit_test(test_set_hook),
	        cmocka_unit_test(test_no_message),
	        cmocka_unit_test(test_chat_functions_still_answer),
	};

	gw_metrics_reset();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
