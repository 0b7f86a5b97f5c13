/*
 * test_conversation.c: desk operations on any conversation against a real
 * PostgreSQL (every migration applied) and a real redis-server, with two
 * daemons in one process (each its own bus on its own two Redis
 * connections, and its own conversation module) sharing one database.
 * Desk sockets are fake_desks.h's: what each connection id was sent. Every
 * test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "conversation.h"
#include "db.h"
#include "db_commit.h"
#include "fake_desks.h"
#include "ingest.h"
#include "kv.h"
#include "migrate.h"
#include "route.h"
#include "support.h"

#define ANN 101 /* advisor: holds 11 (chat), 12 (web), 14 (email) */
#define BOB 102 /* advisor: holds 13 (web) */
#define SUE 103 /* supervisor */

#define UUID1 "11111111-2222-3333-4444-555555555555"
#define UUID2 "11111111-2222-3333-4444-666666666666"
#define UUID3 "11111111-2222-3333-4444-777777777777"

struct hooked {
	int calls;
	char body[128];
};

struct daemon {
	struct kv *pub, *sub;
	struct bus *bus;
	struct conversation *cv;
	struct fake_desks desk;
	struct hooked hook;
};

static struct sb_pg pg;
static struct sb_redis redis;

struct world {
	uv_loop_t loop;
	struct db *db, *wdb;
	struct db_commit *w;
	struct daemon a, b;
};

/* What the test channels' ops saw. */
static int reply_calls, reply_repeated, end_calls, end_now;
static char end_by[16];

static void
on_hook(void *arg, const struct bus_event *ev)
{
	struct hooked *h = arg;

	h->calls++;
	snprintf(h->body, sizeof(h->body), "%s", ev->body);
}

/* "email" stands for a channel that delivers replies and ends itself. */
static char *
email_reply(void *arg, const struct conversation_reply *r)
{
	(void)arg;
	reply_calls++;
	reply_repeated = r->repeated;
	return strdup(r->text);
}

static void
email_end(void *arg, const struct conversation_end *e,
          conversation_end_done done, void *done_arg)
{
	(void)arg;
	end_calls++;
	end_now = e->now;
	snprintf(end_by, sizeof(end_by), "%s", e->by);
	done(done_arg, "ended for the channel", NULL);
}

static const struct conversation_channel_ops EMAIL_OPS = {.reply = email_reply,
                                                          .end = email_end};
static const struct conversation_channel_ops WEB_OPS = {
        .no_reply = "this channel cannot send replies yet"};

static struct db *
make_db(uv_loop_t *loop)
{
	struct db_options o;

	memset(&o, 0, sizeof(o));
	o.conninfo = pg.conninfo;
	o.connect_timeout_ms = 2000;
	o.query_timeout_ms = 10000;
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 300;
	return db_new(loop, &o);
}

static int
await(struct world *w, struct fake_desk *k, size_t n)
{
	return fake_desks_await(&w->loop, k, n, 5000);
}

static int
all_ready(void *arg)
{
	struct world *w = arg;

	return db_ready(w->db) && db_ready(w->wdb) && kv_ready(w->a.pub) &&
	       kv_ready(w->a.sub) && kv_ready(w->b.pub) && kv_ready(w->b.sub);
}

static void
daemon_start(struct world *w, struct daemon *d, const char *name)
{
	d->bus = fake_desks_bus(&w->loop, redis.port, name, &d->desk, &d->pub,
	                        &d->sub);
	d->cv = conversation_new(&w->loop, w->db, w->w, d->bus, NULL,
	                         fake_desks_send, &d->desk);
	assert_int_equal(
	        conversation_channel_register(d->cv, "email", &EMAIL_OPS), 0);
	assert_int_equal(conversation_channel_register(d->cv, "web", &WEB_OPS),
	                 0);
	assert_int_equal(
	        bus_set_channel_hook(d->bus, "email", on_hook, &d->hook), 0);
}

static const char SEED[] =
        "TRUNCATE conversation_reads, messages, conversation_events,"
        " conversations, customer_identities, customers CASCADE;"
        "INSERT INTO customers (id, display_name) VALUES"
        " (1, 'Rita Resident'), (2, 'Other Person');"
        "INSERT INTO customer_identities (customer_id, kind, value) VALUES"
        " (1, 'email', 'rita@example.org'), (1, 'phone', '+447700900123');"
        "INSERT INTO conversations (id, customer_id, channel, status,"
        " assigned_staff_id, subject) VALUES"
        " (11, 1, 'chat', 'assigned', 101, ''),"
        " (12, 1, 'web', 'assigned', 101, 'Missed bin collection'),"
        " (13, 2, 'web', 'assigned', 102, 'Noise complaint'),"
        " (14, 1, 'email', 'assigned', 101, 'Council tax');"
        "INSERT INTO messages (conversation_id, direction, author_kind,"
        " body, metadata, source, external_id) VALUES"
        " (12, 'in', 'customer', 'Missed bin collection',"
        "  '{\"fields\": [{\"name\": \"street\", \"label\": \"Street\","
        "   \"value\": \"1 High Street\"}]}', 'form:bins', 'sub-1'),"
        " (13, 'in', 'customer', 'Too loud', '{}', 'form:noise', 'sub-2');"
        "INSERT INTO conversation_events (conversation_id, kind, detail)"
        " VALUES (12, 'conversation.new', '{\"match\": \"matched\"}');";

static int
setup(void **st)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	assert_int_equal(sb_pg_exec(&pg, SEED), 0);
	reply_calls = reply_repeated = end_calls = end_now = 0;
	uv_loop_init(&w->loop);
	w->db = make_db(&w->loop);
	w->wdb = make_db(&w->loop);
	w->w = db_commit_new(&w->loop, w->wdb, 64, 0);
	db_start(w->db);
	db_start(w->wdb);
	daemon_start(w, &w->a, "gw-a");
	daemon_start(w, &w->b, "gw-b");
	assert_true(sb_run_until(&w->loop, all_ready, w, 5000));
	fake_desks_link(&w->loop, w->a.bus, w->b.bus, &w->b.desk);
	fake_desks_link(&w->loop, w->b.bus, w->a.bus, &w->a.desk);
	fake_desks_reset(&w->a.desk);
	fake_desks_reset(&w->b.desk);
	*st = w;
	return 0;
}

static int
teardown(void **st)
{
	struct world *w = *st;

	conversation_free(w->a.cv);
	conversation_free(w->b.cv);
	kv_close(w->a.pub, NULL, NULL);
	kv_close(w->a.sub, NULL, NULL);
	kv_close(w->b.pub, NULL, NULL);
	kv_close(w->b.sub, NULL, NULL);
	bus_free(w->a.bus);
	bus_free(w->b.bus);
	db_close(w->db, NULL, NULL);
	db_close(w->wdb, NULL, NULL);
	db_commit_free(w->w);
	assert_int_equal(sb_loop_finish(&w->loop), 0);
	fake_desks_reset(&w->a.desk);
	fake_desks_reset(&w->b.desk);
	free(w);
	return 0;
}

static int
group_setup(void **st)
{
	char err[512];

	(void)st;
	if (sb_redis_setup(&redis) != 0 || sb_pg_setup(&pg) != 0)
		return -1;
	if (db_migrate_run(pg.conninfo, err, sizeof(err)) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return -1;
	}
	return sb_pg_exec(&pg,
	                  "INSERT INTO staff_users (id, login, display_name,"
	                  " password_hash, role) VALUES"
	                  " (101, 'ann', 'Ann Advisor', 'x', 'advisor'),"
	                  " (102, 'bob', 'Bob Advisor', 'x', 'advisor'),"
	                  " (103, 'sue', 'Sue Supervisor', 'x', 'supervisor')");
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	sb_redis_teardown(&redis);
	return 0;
}

/*
 * "chat" here stands for a channel like the chat: it delivers replies,
 * read marks and typing as text for its hook, adds its own history parts
 * (from SQL and from memory) and ends itself.
 */
static char *
talk_reply(void *arg, const struct conversation_reply *r)
{
	(void)arg;
	reply_calls++;
	return strdup(r->text);
}

static char *
talk_read(void *arg, uint64_t conv, uint64_t seq)
{
	char buf[64];

	(void)arg;
	snprintf(buf, sizeof(buf), "read:%llu:%llu", (unsigned long long)conv,
	         (unsigned long long)seq);
	return strdup(buf);
}

static char *
talk_typing(void *arg, uint64_t conv, int state)
{
	char buf[64];

	(void)arg;
	snprintf(buf, sizeof(buf), "typing:%llu:%d", (unsigned long long)conv,
	         state);
	return strdup(buf);
}

static void
talk_history(void *arg, uint64_t conv, json_t *answer)
{
	(void)arg;
	(void)conv;
	json_object_set_new(answer, "online", json_true());
}

/* Tries to overwrite the core's own members too: it must not. */
static const char TALK_HISTORY_SQL[] =
        "SELECT json_build_object('page', json_build_object('url',"
        " 'https://www.council.example/tax'), 'resident_read', 3,"
        " 'type', 'x', 'conversation', 'y', 'messages', 'z',"
        " 'customer', json_build_object('match', 'new',"
        " 'email', 'typed@example.org'))::text WHERE $1::bigint = 11";

static const struct conversation_channel_ops TALK_OPS = {
        .reply = talk_reply,
        .end = email_end,
        .read = talk_read,
        .typing = talk_typing,
        .history_sql = TALK_HISTORY_SQL,
        .history = talk_history,
};

/* What conversation_end_by answered. */
struct ended {
	int calls, ok, now;
	char status[16];
	char why[128];
};

static void
on_end_by(void *arg, int ok, int now, const char *status, const char *why)
{
	struct ended *e = arg;

	e->calls++;
	e->ok = ok;
	e->now = now;
	snprintf(e->status, sizeof(e->status), "%s", status ? status : "");
	snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
}

static int
end_answered(void *arg)
{
	return ((struct ended *)arg)->calls > 0;
}

/* ---------------------------------------------------------------- helpers */

static void
desk_msg(struct daemon *d, unsigned long conn, uint64_t staff, const char *role,
         const char *json)
{
	struct conversation_desk k = {conn, staff, role, "Ann Advisor"};
	json_t *m = json_loads(json, JSON_ALLOW_NUL, NULL);

	assert_non_null(m);
	if (staff == BOB)
		k.name = "Bob Advisor";
	else if (staff == SUE)
		k.name = "Sue Supervisor";
	conversation_desk_message(
	        d->cv, &k, json_string_value(json_object_get(m, "type")), m);
	json_decref(m);
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* Sends json from desk conn and returns its answer (the next thing). */
static json_t *
ask(struct world *w, struct daemon *d, unsigned long conn, uint64_t staff,
    const char *role, const char *json)
{
	size_t n = d->desk.at[conn].n;

	desk_msg(d, conn, staff, role, json);
	assert_true(await(w, &d->desk.at[conn], n + 1));
	return fake_desks_sent(&d->desk.at[conn], n);
}

/*
 * Sends json from desk conn and returns the answer of type `type` (or an
 * error) among what it is sent next: a desk following the conversation
 * may get the event before its answer.
 */
static json_t *
ask_for(struct world *w, struct daemon *d, unsigned long conn, uint64_t staff,
        const char *role, const char *json, const char *type)
{
	struct fake_desk *k = &d->desk.at[conn];
	size_t i = k->n;
	json_t *m;

	desk_msg(d, conn, staff, role, json);
	for (;;) {
		assert_true(await(w, k, i + 1));
		m = fake_desks_sent(k, i++);
		if (strcmp(str(m, "type"), type) == 0 ||
		    strcmp(str(m, "type"), "error") == 0)
			return m;
		json_decref(m);
	}
}

static void
assert_error(json_t *m, const char *code)
{
	assert_string_equal(str(m, "type"), "error");
	assert_string_equal(str(m, "code"), code);
	json_decref(m);
}

static long
count(const char *sql)
{
	return sb_pg_value(&pg, sql);
}

static int
hooked(void *arg)
{
	return ((struct hooked *)arg)->calls > 0;
}

/* ---------------------------------------------------------------- tests */

/* A web-form conversation's history: thread, metadata, panel, channel. */
static void
test_history_web(void **st)
{
	struct world *w = *st;
	json_t *m, *msgs, *row, *fields;

	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"id\": 5,"
	        " \"conversation\": \"12\"}");
	assert_string_equal(str(m, "type"), "conversation.history");
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 5);
	assert_string_equal(str(m, "conversation"), "12");
	assert_string_equal(str(m, "channel"), "web");
	assert_string_equal(str(m, "subject"), "Missed bin collection");
	assert_string_equal(str(m, "status"), "assigned");
	assert_true(json_is_false(json_object_get(m, "can_reply")));
	assert_string_equal(str(m, "cannot_reply"),
	                    "this channel cannot send replies yet");
	assert_string_equal(str(json_object_get(m, "customer"), "name"),
	                    "Rita Resident");
	assert_string_equal(str(json_object_get(m, "customer"), "email"),
	                    "rita@example.org");
	assert_string_equal(str(json_object_get(m, "customer"), "mobile"),
	                    "+447700900123");
	assert_string_equal(str(json_object_get(m, "customer"), "match"),
	                    "matched");
	msgs = json_object_get(m, "messages");
	assert_int_equal(json_array_size(msgs), 1);
	row = json_array_get(msgs, 0);
	assert_string_equal(str(row, "from"), "resident");
	assert_string_equal(str(row, "text"), "Missed bin collection");
	fields = json_object_get(json_object_get(row, "metadata"), "fields");
	assert_int_equal(json_array_size(fields), 1);
	assert_string_equal(str(json_array_get(fields, 0), "value"),
	                    "1 High Street");
	assert_null(json_object_get(m, "more"));
	json_decref(m);

	/* Any channel answers: a chat too (registered nothing here). */
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"11\"}");
	assert_string_equal(str(m, "channel"), "chat");
	assert_int_equal(json_array_size(json_object_get(m, "messages")), 0);
	json_decref(m);

	/* after: only what follows. */
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"12\", \"after\": 999999999}");
	assert_int_equal(json_array_size(json_object_get(m, "messages")), 0);
	json_decref(m);
}

/* Another advisor's conversation: forbidden for everything; not for a
 * supervisor. */
static void
test_forbidden(void **st)
{
	struct world *w = *st;
	json_t *m;

	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.history\","
	                 " \"conversation\": \"13\"}"),
	             "forbidden");
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.note\", \"conversation\":"
	                 " \"13\", \"client_id\": \"" UUID1 "\","
	                 " \"text\": \"hello\"}"),
	             "forbidden");
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.reply\", \"conversation\":"
	                 " \"13\", \"client_id\": \"" UUID1 "\","
	                 " \"text\": \"hello\"}"),
	             "forbidden");
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.read\", \"conversation\":"
	                 " \"13\", \"seq\": 1}"),
	             "forbidden");
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.end\", \"conversation\":"
	                 " \"13\"}"),
	             "forbidden");
	/* A conversation that does not exist looks the same. */
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.history\","
	                 " \"conversation\": \"424242\"}"),
	             "forbidden");
	assert_int_equal(count("SELECT count(*) FROM messages WHERE"
	                       " conversation_id = 13"),
	                 1);
	assert_int_equal(count("SELECT count(*) FROM conversations WHERE"
	                       " id = 13 AND status = 'assigned'"),
	                 1);
	/* The history asked and refused left nothing followed. */
	assert_int_equal(conversation_publish_inbound(w->a.cv, 13, 5000, 1,
	                                              "web", "x", NULL),
	                 0);

	m = ask(w, &w->a, 2, SUE, "supervisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"13\"}");
	assert_string_equal(str(m, "type"), "conversation.history");
	assert_string_equal(str(m, "subject"), "Noise complaint");
	json_decref(m);
	/* A supervisor cannot reply on someone else's conversation. */
	assert_error(ask(w, &w->a, 2, SUE, "supervisor",
	                 "{\"type\": \"conversation.reply\", \"conversation\":"
	                 " \"14\", \"client_id\": \"" UUID1 "\","
	                 " \"text\": \"hello\"}"),
	             "forbidden");
}

/* A reply on web: cannot_reply, the reason given, nothing stored or sent. */
static void
test_reply_web_refused(void **st)
{
	struct world *w = *st;
	json_t *m;

	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"12\"}");
	json_decref(m);
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.reply\", \"id\": \"r1\","
	        " \"conversation\": \"12\", \"client_id\": \"" UUID1 "\","
	        " \"text\": \"We will collect it tomorrow\"}");
	assert_string_equal(str(m, "type"), "error");
	assert_string_equal(str(m, "code"), "cannot_reply");
	assert_string_equal(str(m, "message"),
	                    "this channel cannot send replies yet");
	assert_string_equal(str(m, "id"), "r1");
	json_decref(m);
	assert_int_equal(count("SELECT count(*) FROM messages WHERE"
	                       " conversation_id = 12 AND source = 'desk'"),
	                 0);
	assert_int_equal(count("SELECT count(*) FROM conversations WHERE"
	                       " id = 12 AND first_response_at IS NOT NULL"),
	                 0);
	/* Nothing reached the desk following it, nor any channel hook. */
	sb_run_for(&w->loop, 100);
	assert_int_equal(w->a.desk.at[1].n, 2);
	assert_int_equal(w->a.hook.calls + w->b.hook.calls, 0);
	/* A channel that registered nothing is refused the same way. */
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.reply\", \"conversation\":"
	                 " \"11\", \"client_id\": \"" UUID1 "\","
	                 " \"text\": \"hi\"}"),
	             "cannot_reply");
	assert_int_equal(count("SELECT count(*) FROM messages WHERE"
	                       " source = 'desk'"),
	                 0);
}

/* A note is stored once per client_id; a repeat answers the same seq. */
static void
test_note_once(void **st)
{
	struct world *w = *st;
	json_t *m, *ev;
	long long seq;
	size_t before;

	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"12\"}");
	json_decref(m);
	before = w->a.desk.at[1].n;
	desk_msg(&w->a, 1, ANN, "advisor",
	         "{\"type\": \"conversation.note\", \"id\": 1,"
	         " \"conversation\": \"12\", \"client_id\": \"" UUID1 "\","
	         " \"text\": \"Called the crew\"}");
	/* The live event and the answer, in either order. */
	assert_true(await(w, &w->a.desk.at[1], before + 2));
	ev = fake_desks_sent(&w->a.desk.at[1], before);
	m = fake_desks_sent(&w->a.desk.at[1], before + 1);
	if (strcmp(str(ev, "type"), "conversation.noted") == 0) {
		json_t *t = ev;

		ev = m;
		m = t;
	}
	assert_string_equal(str(m, "type"), "conversation.noted");
	assert_string_equal(str(m, "client_id"), UUID1);
	assert_true(json_is_false(json_object_get(m, "repeated")));
	seq = json_integer_value(json_object_get(m, "seq"));
	assert_true(seq > 0);
	assert_string_equal(str(ev, "type"), "conversation.message");
	assert_string_equal(str(ev, "from"), "note");
	assert_string_equal(str(ev, "name"), "Ann Advisor");
	assert_string_equal(str(ev, "text"), "Called the crew");
	assert_int_equal(json_integer_value(json_object_get(ev, "seq")), seq);
	json_decref(m);
	json_decref(ev);

	/* Again: the same seq, repeated, and no second live event. */
	before = w->a.desk.at[1].n;
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.note\", \"id\": 2,"
	        " \"conversation\": \"12\", \"client_id\": \"" UUID1 "\","
	        " \"text\": \"Called the crew\"}");
	assert_string_equal(str(m, "type"), "conversation.noted");
	assert_int_equal(json_integer_value(json_object_get(m, "seq")), seq);
	assert_true(json_is_true(json_object_get(m, "repeated")));
	json_decref(m);
	sb_run_for(&w->loop, 100);
	assert_int_equal(w->a.desk.at[1].n, before + 1);
	assert_int_equal(count("SELECT count(*) FROM messages WHERE"
	                       " conversation_id = 12 AND direction ="
	                       " 'internal' AND body = 'Called the crew'"),
	                 1);
	/* The note is in the history, as a note. */
	m = ask(w, &w->a, 3, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"12\"}");
	ev = json_array_get(json_object_get(m, "messages"), 1);
	assert_string_equal(str(ev, "from"), "note");
	assert_string_equal(str(ev, "name"), "Ann Advisor");
	json_decref(m);
	/* A note's client id cannot become a reply. */
	json_decref(ask(w, &w->a, 1, ANN, "advisor",
	                "{\"type\": \"conversation.note\", \"conversation\":"
	                " \"14\", \"client_id\": \"" UUID2 "\","
	                " \"text\": \"n\"}"));
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.reply\", \"conversation\":"
	                 " \"14\", \"client_id\": \"" UUID2 "\","
	                 " \"text\": \"x\"}"),
	             "bad_message");
	assert_int_equal(reply_calls, 0);
}

/* Two instances: a note written on A reaches a desk following on B. */
static void
test_two_instances(void **st)
{
	struct world *w = *st;
	json_t *m;
	size_t n;

	m = ask(w, &w->b, 2, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"12\"}");
	assert_string_equal(str(m, "type"), "conversation.history");
	json_decref(m);
	n = w->b.desk.at[2].n;
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.note\", \"conversation\": \"12\","
	        " \"client_id\": \"" UUID2 "\", \"text\": \"From A\"}");
	assert_string_equal(str(m, "type"), "conversation.noted");
	json_decref(m);
	assert_true(await(w, &w->b.desk.at[2], n + 1));
	m = fake_desks_sent(&w->b.desk.at[2], n);
	assert_string_equal(str(m, "type"), "conversation.message");
	assert_string_equal(str(m, "conversation"), "12");
	assert_string_equal(str(m, "from"), "note");
	assert_string_equal(str(m, "text"), "From A");
	assert_string_equal(str(m, "client_id"), UUID2);
	json_decref(m);
	/* An inbound message published on A reaches B's desk too. */
	n = w->b.desk.at[2].n;
	conversation_publish_inbound(w->a.cv, 12, 777777, 1000, "web",
	                             "Another form",
	                             "{\"fields\": [{\"label\": \"A\","
	                             " \"value\": \"b\"}]}");
	assert_true(await(w, &w->b.desk.at[2], n + 1));
	m = fake_desks_sent(&w->b.desk.at[2], n);
	assert_string_equal(str(m, "from"), "resident");
	assert_true(json_is_null(json_object_get(m, "name")));
	assert_int_equal(json_array_size(json_object_get(
	                         json_object_get(m, "metadata"), "fields")),
	                 1);
	json_decref(m);
	/* The desk on B closes: it follows nothing any more. */
	conversation_desk_close(w->b.cv, 2);
	assert_int_equal(conversation_publish_inbound(w->b.cv, 12, 777778, 1,
	                                              "web", "x", NULL),
	                 0);
}

/*
 * ingest's delivery hook on A: an accepted message (new or a repeat)
 * reaches the desk following on B; a refused or retried one nothing.
 */
static void
test_deliver(void **st)
{
	struct world *w = *st;
	struct ingest_result res;
	json_t *m;
	size_t n;

	m = ask(w, &w->b, 2, SUE, "supervisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"12\"}");
	assert_string_equal(str(m, "type"), "conversation.history");
	json_decref(m);
	n = w->b.desk.at[2].n;
	memset(&res, 0, sizeof(res));
	res.status = INGEST_REFUSED;
	res.code = "ended";
	res.why = "x";
	conversation_deliver(w->a.cv, &res);
	res.status = INGEST_RETRY;
	res.code = "unavailable";
	conversation_deliver(w->a.cv, &res);
	memset(&res, 0, sizeof(res));
	res.status = INGEST_OK;
	res.conversation = 12;
	res.seq = 888888;
	res.at_ms = 1765090000000LL;
	res.channel = "web";
	res.body = "A second form";
	res.metadata = "{\"fields\": [{\"label\": \"Street\","
	               " \"value\": \"2 Low Road\"}]}";
	res.repeated = 1;
	conversation_deliver(w->a.cv, &res);
	assert_true(await(w, &w->b.desk.at[2], n + 1));
	m = fake_desks_sent(&w->b.desk.at[2], n);
	assert_string_equal(str(m, "type"), "conversation.message");
	assert_string_equal(str(m, "conversation"), "12");
	assert_string_equal(str(m, "from"), "resident");
	assert_string_equal(str(m, "text"), "A second form");
	assert_int_equal(json_integer_value(json_object_get(m, "seq")), 888888);
	assert_string_equal(
	        json_string_value(json_object_get(
	                json_array_get(
	                        json_object_get(json_object_get(m, "metadata"),
	                                        "fields"),
	                        0),
	                "value")),
	        "2 Low Road");
	json_decref(m);
	/*
	 * The first thing B's desk got is the accepted one: the refused and
	 * retried ones, delivered before it in order, published nothing.
	 */
	/* A new one: ingest's object is sent, its text not parsed again. */
	res.seq = 888889;
	res.repeated = 0;
	res.metadata = "not parsed";
	res.metadata_obj = json_pack("{s:s}", "street", "3 Mill Lane");
	conversation_deliver(w->a.cv, &res);
	assert_int_equal(res.metadata_obj->refcount, 1);
	assert_true(await(w, &w->b.desk.at[2], n + 2));
	m = fake_desks_sent(&w->b.desk.at[2], n + 1);
	assert_int_equal(json_integer_value(json_object_get(m, "seq")), 888889);
	assert_true(
	        json_equal(json_object_get(m, "metadata"), res.metadata_obj));
	json_decref(m);
	json_decref(res.metadata_obj);
}

/*
 * Routing events: one that takes the conversation from its desk
 * (released, transferred, requeued) ends the following here; others
 * (accepted, ended, another conversation's, malformed) do not.
 */
static void
test_route_events(void **st)
{
	struct world *w = *st;
	struct route_event ev[5];
	const char *kinds[] = {"released", "transferred", "requeued"};
	json_t *m;
	size_t i;

	for (i = 0; i < 3; i++) {
		m = ask(w, &w->b, 2, SUE, "supervisor",
		        "{\"type\": \"conversation.history\","
		        " \"conversation\": \"12\"}");
		assert_string_equal(str(m, "type"), "conversation.history");
		json_decref(m);
		memset(ev, 0, sizeof(ev));
		ev[0].kind = "accepted";
		ev[0].conv = "12";
		ev[1].kind = "ended";
		ev[1].conv = "12";
		ev[2].kind = kinds[i];
		ev[2].conv = "13";
		ev[3].kind = kinds[i];
		ev[3].conv = "12x";
		ev[4].kind = NULL;
		ev[4].conv = "12";
		conversation_route_events(w->b.cv, ev, 5);
		assert_int_equal(conversation_publish_inbound(w->b.cv, 12,
		                                              900000 + i, 1,
		                                              "web", "x", NULL),
		                 1);
		ev[0].kind = kinds[i];
		conversation_route_events(w->b.cv, ev, 1);
		assert_int_equal(conversation_publish_inbound(w->b.cv, 12,
		                                              910000 + i, 1,
		                                              "web", "x", NULL),
		                 0);
	}
}

/* A channel that delivers: stored once, its hook runs on every instance. */
static void
test_reply_delivered(void **st)
{
	struct world *w = *st;
	json_t *m;
	long long seq;

	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.reply\", \"conversation\": \"14\","
	        " \"client_id\": \"" UUID1 "\", \"text\": \"Paid, thanks\"}");
	assert_string_equal(str(m, "type"), "conversation.replied");
	seq = json_integer_value(json_object_get(m, "seq"));
	json_decref(m);
	assert_int_equal(reply_calls, 1);
	assert_int_equal(reply_repeated, 0);
	assert_int_equal(w->a.hook.calls, 1);
	assert_string_equal(w->a.hook.body, "Paid, thanks");
	assert_true(sb_run_until(&w->loop, hooked, &w->b.hook, 5000));
	assert_string_equal(w->b.hook.body, "Paid, thanks");
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.reply\", \"conversation\": \"14\","
	        " \"client_id\": \"" UUID1 "\", \"text\": \"Paid, thanks\"}");
	assert_int_equal(json_integer_value(json_object_get(m, "seq")), seq);
	assert_true(json_is_true(json_object_get(m, "repeated")));
	json_decref(m);
	assert_int_equal(reply_repeated, 1);
	assert_int_equal(count("SELECT count(*) FROM messages WHERE"
	                       " conversation_id = 14 AND direction = 'out'"
	                       " AND author_staff_id = 101"),
	                 1);
	assert_int_equal(count("SELECT count(*) FROM conversations WHERE"
	                       " id = 14 AND first_response_at IS NOT NULL"),
	                 1);
	/* The history shows it from the advisor. */
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"14\"}");
	assert_true(json_is_true(json_object_get(m, "can_reply")));
	assert_null(json_object_get(m, "cannot_reply"));
	assert_string_equal(
	        str(json_array_get(json_object_get(m, "messages"), 0), "from"),
	        "advisor");
	json_decref(m);
}

/* Read marks move forward only; the desks following are told. */
static void
test_read(void **st)
{
	struct world *w = *st;
	json_t *m;

	json_decref(ask(w, &w->b, 3, ANN, "advisor",
	                "{\"type\": \"conversation.history\","
	                " \"conversation\": \"12\"}"));
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.read\", \"conversation\": \"12\","
	        " \"seq\": 20}");
	assert_string_equal(str(m, "type"), "conversation.read.ok");
	assert_int_equal(json_integer_value(json_object_get(m, "seq")), 20);
	json_decref(m);
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.read\", \"conversation\": \"12\","
	        " \"seq\": 10}");
	assert_int_equal(json_integer_value(json_object_get(m, "seq")), 20);
	json_decref(m);
	assert_int_equal(count("SELECT advisor_read FROM conversation_reads"
	                       " WHERE conversation_id = 12"),
	                 20);
	assert_true(await(w, &w->b.desk.at[3], 2));
	m = fake_desks_sent(&w->b.desk.at[3], 1);
	assert_string_equal(str(m, "type"), "conversation.read");
	assert_int_equal(json_integer_value(json_object_get(m, "seq")), 20);
	json_decref(m);
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"12\"}");
	assert_int_equal(json_integer_value(json_object_get(m, "advisor_read")),
	                 20);
	json_decref(m);
	/* A mark past the newest message stops at it: later ones stay unread.
	 */
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.read\", \"conversation\": \"12\","
	        " \"seq\": 900000000000}");
	assert_int_equal(json_integer_value(json_object_get(m, "seq")),
	                 count("SELECT max(id) FROM messages"
	                       " WHERE conversation_id = 12"));
	assert_true(json_integer_value(json_object_get(m, "seq")) < 1000);
	json_decref(m);
}

/* End: wrap_up for an assigned one, the channel's part, once. */
static void
test_end(void **st)
{
	struct world *w = *st;
	json_t *m;

	json_decref(ask(w, &w->b, 4, SUE, "supervisor",
	                "{\"type\": \"conversation.history\","
	                " \"conversation\": \"12\"}"));
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.end\", \"conversation\": \"12\"}");
	assert_string_equal(str(m, "type"), "conversation.end.ok");
	assert_string_equal(str(m, "status"), "wrap_up");
	json_decref(m);
	assert_int_equal(count("SELECT count(*) FROM conversations WHERE"
	                       " id = 12 AND status = 'wrap_up'"),
	                 1);
	assert_int_equal(count("SELECT count(*) FROM conversation_events"
	                       " WHERE conversation_id = 12 AND kind ="
	                       " 'conversation.ended' AND staff_id = 101"),
	                 1);
	assert_true(await(w, &w->b.desk.at[4], 2));
	m = fake_desks_sent(&w->b.desk.at[4], 1);
	assert_string_equal(str(m, "type"), "conversation.finished");
	assert_string_equal(str(m, "status"), "wrap_up");
	json_decref(m);
	/* Again: answered, nothing written, nothing published. */
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.end\", \"conversation\": \"12\"}");
	assert_string_equal(str(m, "type"), "conversation.end.ok");
	json_decref(m);
	sb_run_for(&w->loop, 100);
	assert_int_equal(w->b.desk.at[4].n, 2);
	assert_int_equal(count("SELECT count(*) FROM conversation_events"
	                       " WHERE conversation_id = 12 AND kind ="
	                       " 'conversation.ended'"),
	                 1);
	/* In wrap-up a reply is refused; a note still works. */
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.reply\", \"conversation\":"
	                 " \"12\", \"client_id\": \"" UUID1 "\","
	                 " \"text\": \"x\"}"),
	             "forbidden");
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.note\", \"conversation\": \"12\","
	        " \"client_id\": \"" UUID1 "\", \"text\": \"after\"}");
	assert_string_equal(str(m, "type"), "conversation.noted");
	json_decref(m);

	/* A channel with an end op: called with now, then again without. */
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.end\", \"conversation\": \"14\"}");
	assert_string_equal(str(m, "type"), "conversation.end.ok");
	json_decref(m);
	assert_int_equal(end_calls, 1);
	assert_int_equal(end_now, 1);
	assert_true(sb_run_until(&w->loop, hooked, &w->b.hook, 5000));
	assert_string_equal(w->b.hook.body, "ended for the channel");
	json_decref(ask(w, &w->a, 1, ANN, "advisor",
	                "{\"type\": \"conversation.end\","
	                " \"conversation\": \"14\"}"));
	assert_int_equal(end_calls, 2);
	assert_int_equal(end_now, 0);
}

/* A chat-like channel: history parts, reply, read and typing by its ops. */
static void
test_chat_like_ops(void **st)
{
	struct world *w = *st;
	json_t *m, *cu;

	assert_int_equal(
	        conversation_channel_register(w->a.cv, "chat", &TALK_OPS), 0);
	assert_int_equal(
	        conversation_channel_register(w->b.cv, "chat", &TALK_OPS), 0);
	assert_int_equal(
	        bus_set_channel_hook(w->b.bus, "chat", on_hook, &w->b.hook), 0);
	/* Typing before the desk was shown the conversation: refused. */
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.typing\","
	                 " \"conversation\": \"11\", \"state\": true}"),
	             "bad_message");
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"11\"}");
	assert_string_equal(str(m, "type"), "conversation.history");
	assert_string_equal(str(m, "conversation"), "11");
	assert_true(json_is_array(json_object_get(m, "messages")));
	assert_string_equal(str(json_object_get(m, "page"), "url"),
	                    "https://www.council.example/tax");
	assert_int_equal(
	        json_integer_value(json_object_get(m, "resident_read")), 3);
	assert_true(json_is_true(json_object_get(m, "online")));
	assert_true(json_is_true(json_object_get(m, "can_reply")));
	cu = json_object_get(m, "customer");
	/* Merged member by member: the core's name stays. */
	assert_string_equal(str(cu, "name"), "Rita Resident");
	assert_string_equal(str(cu, "match"), "new");
	assert_string_equal(str(cu, "email"), "typed@example.org");
	assert_string_equal(str(cu, "mobile"), "+447700900123");
	json_decref(m);
	/* Typing: answered, the hook gets the op's text, no desk is told. */
	json_decref(ask(w, &w->b, 2, SUE, "supervisor",
	                "{\"type\": \"conversation.history\","
	                " \"conversation\": \"11\"}"));
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.typing\", \"conversation\": \"11\","
	        " \"state\": true}");
	assert_string_equal(str(m, "type"), "conversation.typing.ok");
	json_decref(m);
	assert_true(sb_run_until(&w->loop, hooked, &w->b.hook, 5000));
	assert_string_equal(w->b.hook.body, "typing:11:1");
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.typing\","
	                 " \"conversation\": \"11\", \"state\": 1}"),
	             "bad_message");
	/* A reply: stored, the hook gets the op's text on every instance. */
	w->b.hook.calls = 0;
	m = ask_for(w, &w->a, 1, ANN, "advisor",
	            "{\"type\": \"conversation.reply\", \"conversation\":"
	            " \"11\", \"client_id\": \"" UUID1 "\","
	            " \"text\": \"Hello Rita\"}",
	            "conversation.replied");
	assert_string_equal(str(m, "type"), "conversation.replied");
	json_decref(m);
	assert_int_equal(reply_calls, 1);
	assert_true(sb_run_until(&w->loop, hooked, &w->b.hook, 5000));
	assert_string_equal(w->b.hook.body, "Hello Rita");
	/* The customer's typing reaches the desks following it. */
	conversation_publish_typing(w->a.cv, 11, "chat", 1);
	assert_true(await(w, &w->b.desk.at[2], 3));
	m = fake_desks_sent(&w->b.desk.at[2], w->b.desk.at[2].n - 1);
	assert_string_equal(str(m, "type"), "conversation.typing");
	assert_string_equal(str(m, "from"), "resident");
	assert_true(json_is_true(json_object_get(m, "state")));
	json_decref(m);
	sb_run_for(&w->loop, 100);
	conversation_channel_register(w->a.cv, "chat", NULL);
	conversation_channel_register(w->b.cv, "chat", NULL);
	bus_set_channel_hook(w->b.bus, "chat", NULL, NULL);
}

/* A channel with no typing op: typing is answered and goes nowhere. */
static void
test_typing_no_op(void **st)
{
	struct world *w = *st;
	json_t *m;

	json_decref(ask(w, &w->a, 1, ANN, "advisor",
	                "{\"type\": \"conversation.history\","
	                " \"conversation\": \"14\"}"));
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.typing\", \"conversation\": \"14\","
	        " \"state\": false, \"id\": \"t\"}");
	assert_string_equal(str(m, "type"), "conversation.typing.ok");
	assert_string_equal(str(m, "id"), "t");
	json_decref(m);
	sb_run_for(&w->loop, 100);
	assert_int_equal(w->b.hook.calls, 0);
	/* Once the conversation left the desks, typing is refused again. */
	conversation_left(w->a.cv, 14);
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.typing\","
	                 " \"conversation\": \"14\", \"state\": true}"),
	             "bad_message");
}

/* The advisor's conversations waiting for wrap-up, any channel. */
static void
test_wrap_ups(void **st)
{
	struct world *w = *st;
	json_t *m, *list, *x;

	assert_int_equal(
	        sb_pg_exec(&pg,
	                   "UPDATE conversations SET status = 'wrap_up'"
	                   " WHERE id IN (12, 13, 14);"
	                   "INSERT INTO conversation_events (conversation_id,"
	                   " kind, detail) VALUES (14, 'conversation.ended',"
	                   " '{\"by\": \"advisor\"}'), (14,"
	                   " 'conversation.ended', '{\"by\": \"resident\"}')"),
	        0);
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.wrap_ups\", \"id\": 9}");
	assert_string_equal(str(m, "type"), "conversation.wrap_ups");
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 9);
	list = json_object_get(m, "conversations");
	assert_int_equal(json_array_size(list), 2);
	x = json_array_get(list, 0);
	assert_string_equal(str(x, "conversation"), "12");
	assert_string_equal(str(x, "channel"), "web");
	assert_string_equal(str(x, "ended_by"), "");
	x = json_array_get(list, 1);
	assert_string_equal(str(x, "conversation"), "14");
	assert_string_equal(str(x, "channel"), "email");
	assert_string_equal(str(x, "ended_by"), "resident");
	assert_string_equal(str(x, "name"), "Rita Resident");
	assert_true(json_is_false(json_object_get(x, "left_message")));
	json_decref(m);
	/* Bob's own only; a supervisor's own (none), not everyone's. */
	m = ask(w, &w->a, 1, BOB, "advisor",
	        "{\"type\": \"conversation.wrap_ups\"}");
	list = json_object_get(m, "conversations");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(str(json_array_get(list, 0), "conversation"), "13");
	json_decref(m);
	m = ask(w, &w->a, 1, SUE, "supervisor",
	        "{\"type\": \"conversation.wrap_ups\"}");
	assert_int_equal(json_array_size(json_object_get(m, "conversations")),
	                 0);
	json_decref(m);
}

/* Ended by the customer or the system: the core's end, then the channel's. */
static void
test_end_by(void **st)
{
	struct world *w = *st;
	struct ended e, e2[2];
	json_t *m;

	json_decref(ask(w, &w->b, 4, SUE, "supervisor",
	                "{\"type\": \"conversation.history\","
	                " \"conversation\": \"14\"}"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(
	        conversation_end_by(w->a.cv, 14, "resident", on_end_by, &e), 0);
	assert_int_equal(e.calls, 0); /* never from within the call */
	assert_true(sb_run_until(&w->loop, end_answered, &e, 5000));
	assert_true(e.ok);
	assert_true(e.now);
	assert_string_equal(e.status, "wrap_up");
	assert_int_equal(end_calls, 1);
	assert_int_equal(end_now, 1);
	assert_string_equal(end_by, "resident");
	assert_int_equal(count("SELECT count(*) FROM conversation_events"
	                       " WHERE conversation_id = 14 AND kind ="
	                       " 'conversation.ended' AND staff_id IS NULL"
	                       " AND detail->>'by' = 'resident'"),
	                 1);
	assert_true(await(w, &w->b.desk.at[4], 2));
	m = fake_desks_sent(&w->b.desk.at[4], 1);
	assert_string_equal(str(m, "type"), "conversation.finished");
	assert_string_equal(str(m, "by"), "resident");
	assert_string_equal(str(m, "status"), "wrap_up");
	json_decref(m);
	assert_true(sb_run_until(&w->loop, hooked, &w->b.hook, 5000));
	assert_string_equal(w->b.hook.body, "ended for the channel");
	/* Again: answered, not now, the channel's part called again. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(
	        conversation_end_by(w->a.cv, 14, "system", on_end_by, &e), 0);
	assert_true(sb_run_until(&w->loop, end_answered, &e, 5000));
	assert_true(e.ok);
	assert_false(e.now);
	assert_int_equal(end_calls, 2);
	assert_int_equal(end_now, 0);
	assert_string_equal(end_by, "system");
	/* A waiting one (no advisor) is closed. */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE conversations SET status ="
	                                 " 'open', assigned_staff_id = NULL"
	                                 " WHERE id = 13"),
	                 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(
	        conversation_end_by(w->b.cv, 13, "system", on_end_by, &e), 0);
	assert_true(sb_run_until(&w->loop, end_answered, &e, 5000));
	assert_true(e.ok && e.now);
	assert_string_equal(e.status, "closed");
	/* No such conversation: not ok, with why. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(
	        conversation_end_by(w->a.cv, 424242, "resident", on_end_by, &e),
	        0);
	assert_true(sb_run_until(&w->loop, end_answered, &e, 5000));
	assert_false(e.ok);
	assert_string_equal(e.why, "no such conversation");
	assert_int_equal(
	        conversation_end_by(w->a.cv, 0, "resident", NULL, NULL), -1);
	/* No answer wanted: it ends all the same. */
	assert_int_equal(conversation_end_by(w->a.cv, 11, "system", NULL, NULL),
	                 0);
	sb_run_for(&w->loop, 300);
	assert_int_equal(count("SELECT count(*) FROM conversations WHERE"
	                       " id = 11 AND status = 'wrap_up'"),
	                 1);
	/*
	 * Two ends of one conversation in one batch (the resident's and the
	 * system's at once): as one after the other, the first ends it, the
	 * second finds it ended; one event.
	 */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE conversations SET status ="
	                                 " 'assigned', assigned_staff_id = 101"
	                                 " WHERE id = 13"),
	                 0);
	memset(e2, 0, sizeof(e2));
	assert_int_equal(
	        conversation_end_by(w->a.cv, 13, "resident", on_end_by, &e2[0]),
	        0);
	assert_int_equal(
	        conversation_end_by(w->a.cv, 13, "system", on_end_by, &e2[1]),
	        0);
	assert_true(sb_run_until(&w->loop, end_answered, &e2[1], 5000));
	assert_true(sb_run_until(&w->loop, end_answered, &e2[0], 5000));
	assert_true(e2[0].ok && e2[0].now);
	assert_true(e2[1].ok && !e2[1].now);
	assert_string_equal(e2[0].status, "wrap_up");
	assert_string_equal(e2[1].status, "wrap_up");
	assert_int_equal(count("SELECT count(*) FROM conversation_events"
	                       " WHERE conversation_id = 13 AND kind ="
	                       " 'conversation.ended' AND detail->>'by' ="
	                       " 'resident'"),
	                 1);
	assert_int_equal(count("SELECT count(*) FROM conversation_events"
	                       " WHERE conversation_id = 13 AND kind ="
	                       " 'conversation.ended' AND detail->>'by' ="
	                       " 'system'"),
	                 1); /* the earlier end of 13, above */
}

/* A message left for the council: no reply on any channel, said so. */
static void
test_left_message(void **st)
{
	struct world *w = *st;
	json_t *m;

	assert_int_equal(
	        conversation_channel_register(w->a.cv, "chat", &TALK_OPS), 0);
	assert_int_equal(
	        sb_pg_exec(&pg,
	                   "INSERT INTO messages (conversation_id, direction,"
	                   " author_kind, body, metadata, source, external_id)"
	                   " VALUES (11, 'in', 'customer', 'My bin',"
	                   " '{\"kind\": \"left_message\", \"reply_by\":"
	                   " \"sms\"}', 'chat', 'leave:1')"),
	        0);
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"11\"}");
	assert_true(json_is_true(json_object_get(m, "left_message")));
	assert_string_equal(str(m, "reply_by"), "sms");
	assert_true(json_is_false(json_object_get(m, "can_reply")));
	assert_string_equal(str(m, "cannot_reply"),
	                    "this is a message left for the council: a reply "
	                    "the way the resident asked cannot be sent yet");
	json_decref(m);
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.reply\", \"conversation\":"
	                 " \"11\", \"client_id\": \"" UUID1 "\","
	                 " \"text\": \"Sorry\"}"),
	             "cannot_reply");
	assert_int_equal(reply_calls, 0);
	assert_int_equal(count("SELECT count(*) FROM messages WHERE"
	                       " conversation_id = 11 AND direction = 'out'"),
	                 0);
	/* A note still works. */
	m = ask_for(w, &w->a, 1, ANN, "advisor",
	            "{\"type\": \"conversation.note\", \"conversation\":"
	            " \"11\", \"client_id\": \"" UUID2 "\","
	            " \"text\": \"rang them\"}",
	            "conversation.noted");
	assert_string_equal(str(m, "type"), "conversation.noted");
	json_decref(m);
	/*
	 * Once the channel the resident asked for can reply (sms here), the
	 * reply goes through, by that channel's reply op.
	 */
	conversation_channel_register(w->a.cv, "chat", NULL);
	assert_int_equal(
	        conversation_channel_register(w->a.cv, "sms", &TALK_OPS), 0);
	m = ask(w, &w->a, 1, ANN, "advisor",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"11\"}");
	assert_true(json_is_true(json_object_get(m, "can_reply")));
	assert_null(json_object_get(m, "cannot_reply"));
	json_decref(m);
	m = ask_for(w, &w->a, 1, ANN, "advisor",
	            "{\"type\": \"conversation.reply\", \"conversation\":"
	            " \"11\", \"client_id\": \"" UUID3 "\","
	            " \"text\": \"We will call\"}",
	            "conversation.replied");
	json_decref(m);
	assert_int_equal(reply_calls, 1);
	assert_int_equal(count("SELECT count(*) FROM messages WHERE"
	                       " conversation_id = 11 AND direction = 'out'"),
	                 1);
	conversation_channel_register(w->a.cv, "sms", NULL);
}

/* Hostile and malformed messages: refused, nothing written. */
static void
test_bad_messages(void **st)
{
	struct world *w = *st;
	static const char *const bad[] = {
	        "{\"type\": \"conversation.history\"}",
	        "{\"type\": \"conversation.history\", \"conversation\": 12}",
	        "{\"type\": \"conversation.history\", \"conversation\": \"0\"}",
	        "{\"type\": \"conversation.history\", \"conversation\": "
	        "\"12a\"}",
	        "{\"type\": \"conversation.history\", \"conversation\":"
	        " \"-12\"}",
	        "{\"type\": \"conversation.history\", \"conversation\":"
	        " \"99999999999999999999\"}",
	        "{\"type\": \"conversation.history\", \"conversation\": \"12\","
	        " \"after\": -1}",
	        "{\"type\": \"conversation.history\", \"conversation\": \"12\","
	        " \"after\": \"5\"}",
	        "{\"type\": \"conversation.note\", \"conversation\": \"12\","
	        " \"client_id\": \"nope\", \"text\": \"x\"}",
	        "{\"type\": \"conversation.note\", \"conversation\": \"12\","
	        " \"client_id\": \"" UUID1 "\", \"text\": \"\"}",
	        "{\"type\": \"conversation.note\", \"conversation\": \"12\","
	        " \"client_id\": \"" UUID1 "\", \"text\": 5}",
	        "{\"type\": \"conversation.note\", \"conversation\": \"12\","
	        " \"client_id\": \"" UUID1 "\", \"text\": \"a\\u0000b\"}",
	        "{\"type\": \"conversation.reply\", \"conversation\": \"14\","
	        " \"client_id\": \"11111111-2222-3333-4444-55555555555g\","
	        " \"text\": \"x\"}",
	        "{\"type\": \"conversation.read\", \"conversation\": \"12\"}",
	        "{\"type\": \"conversation.read\", \"conversation\": \"12\","
	        " \"seq\": 0}",
	        "{\"type\": \"conversation.read\", \"conversation\": \"12\","
	        " \"seq\": \"4\"}",
	};
	char big[4100 * 3 + 200], *p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_error(ask(w, &w->a, 1, ANN, "advisor", bad[i]),
		             "bad_message");
	assert_error(ask(w, &w->a, 1, ANN, "advisor",
	                 "{\"type\": \"conversation.bogus\", \"conversation\":"
	                 " \"12\"}"),
	             "unknown_type");
	/* 4001 characters (each 2 bytes): too long; 4000: fine. */
	p = big + snprintf(big, sizeof(big),
	                   "{\"type\": \"conversation.note\", \"conversation\":"
	                   " \"12\", \"client_id\": \"" UUID2 "\","
	                   " \"text\": \"");
	for (i = 0; i < 4001; i++) {
		*p++ = (char)0xc3;
		*p++ = (char)0xa9;
	}
	snprintf(p, 3, "\"}");
	assert_error(ask(w, &w->a, 1, ANN, "advisor", big), "bad_message");
	p -= 2;
	snprintf(p, 3, "\"}");
	json_decref(ask(w, &w->a, 1, ANN, "advisor", big));
	assert_int_equal(count("SELECT count(*) FROM messages WHERE"
	                       " source = 'desk'"),
	                 1);
	assert_int_equal(count("SELECT count(*) FROM conversation_reads"), 0);
}

/* Registration: names checked, the table bounded, removal. */
static void
test_register(void **st)
{
	struct world *w = *st;
	char name[16];
	int i, ok = 0;

	assert_int_equal(conversation_channel_register(w->a.cv, "Web", NULL),
	                 -1);
	assert_int_equal(conversation_channel_register(w->a.cv, "", NULL), -1);
	assert_int_equal(conversation_channel_register(
	                         w->a.cv, "a_very_long_name_", &WEB_OPS),
	                 -1);
	assert_true(conversation_channel_can_reply(w->a.cv, "email"));
	assert_false(conversation_channel_can_reply(w->a.cv, "web"));
	assert_false(conversation_channel_can_reply(w->a.cv, "sms"));
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "ch%d", i);
		if (conversation_channel_register(w->a.cv, name, &WEB_OPS) == 0)
			ok++;
	}
	assert_int_equal(ok, CONVERSATION_CHANNELS_MAX - 2);
	assert_int_equal(conversation_channel_register(w->a.cv, "email", NULL),
	                 0);
	assert_false(conversation_channel_can_reply(w->a.cv, "email"));
}

/* Freed with reads and writes in flight: they end harmlessly. */
static void
test_free_in_flight(void **st)
{
	struct world *w = *st;
	struct ended e;

	desk_msg(&w->a, 1, ANN, "advisor",
	         "{\"type\": \"conversation.history\", \"conversation\":"
	         " \"12\"}");
	desk_msg(&w->a, 1, ANN, "advisor",
	         "{\"type\": \"conversation.note\", \"conversation\": \"12\","
	         " \"client_id\": \"" UUID1 "\", \"text\": \"x\"}");
	memset(&e, 0, sizeof(e));
	assert_int_equal(
	        conversation_end_by(w->a.cv, 14, "system", on_end_by, &e), 0);
	conversation_free(w->a.cv);
	w->a.cv = NULL;
	/* An end in flight is answered once, at once, so that its caller
	 * can free what it passed. */
	assert_int_equal(e.calls, 1);
	assert_false(e.ok);
	assert_string_equal(e.why, "shutting down");
	sb_run_for(&w->loop, 300);
	assert_int_equal(w->a.desk.at[1].n, 0);
	assert_int_equal(e.calls, 1);
	assert_int_equal(end_calls, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_history_web, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_forbidden, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_reply_web_refused, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_note_once, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_two_instances, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_route_events, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_reply_delivered, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_read, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_end, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chat_like_ops, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_typing_no_op, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_wrap_ups, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_end_by, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_left_message, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_bad_messages, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_register, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_in_flight, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
