/*
 * test_waiting.c: the waiting core (gateway/core/waiting.c) against a real
 * PostgreSQL (every migration applied) and a real redis-server, with the
 * real router and queue list: the gate (open, served or not, closed with
 * its message, overflow, unknown and hostile queue names), positions once
 * and for a follower, routing news in order to the channel that owns the
 * conversation, channel registration, and gates answered by waiting_free.
 * Every test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "db_commit.h"
#include "kv.h"
#include "migrate.h"
#include "route.h"
#include "route_queues.h"
#include "support.h"
#include "waiting.h"

static struct sb_pg pg;
static struct sb_redis redis;

#define SEEN_MAX 64

/* What a test channel was told. */
struct heard {
	int n;
	char what[SEEN_MAX][96];
	uint64_t hold_only; /* holds: only this conversation (0: every one) */
};

struct fx {
	uv_loop_t loop;
	struct db *db;
	struct db_commit *w;
	struct kv *kv, *sub;
	struct route *r;
	struct route_queues *qs;
	struct waiting *wt;
	struct heard chat, sms;
};

struct gate_seen {
	int calls;
	enum waiting_verdict verdict;
	int served, leave_message;
	char queue[256], slug[96], message[96];
	long long next_open;
};

struct reply {
	int done, ok;
	char kinds[256];
};

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
	/*
	 * 11 tax: always open (no hours). 12 closed: leave a message, closed
	 * today (and the days either side, whatever the time zone). 13 night:
	 * closed, overflows to 11. 14 shut: closed, refused.
	 */
	return sb_pg_exec(
	        &pg,
	        "INSERT INTO staff_users (id, login, display_name, "
	        " password_hash, role) VALUES "
	        " (101, 'a1', 'Ann Advisor', 'x', 'advisor'),"
	        " (102, 'a2', 'Bo', 'x', 'advisor');"
	        "INSERT INTO queues (id, slug, name, out_of_hours_message) "
	        " VALUES (11, 'tax', 'Council tax', ''),"
	        " (12, 'closed', 'Closed', 'We open at nine'),"
	        " (14, 'shut', 'Shut', 'Call 101');"
	        "INSERT INTO queues (id, slug, name, overflow_queue_id, "
	        " overflow_after_s) VALUES (13, 'night', 'Night', 11, 60);"
	        "INSERT INTO queue_channels (queue_id, channel, "
	        " answer_target_s, out_of_hours) VALUES "
	        " (11, 'chat', 60, 'queue'), (11, 'sms', 600, 'queue'),"
	        " (12, 'chat', 60, 'leave_message'),"
	        " (13, 'chat', 60, 'overflow'), (14, 'chat', 60, 'closed');"
	        "INSERT INTO queue_hours (queue_id, weekday, opens_at, "
	        " closes_at) SELECT q, d, '09:00', '17:00' FROM "
	        " generate_series(12, 14) q, generate_series(1, 7) d;"
	        "INSERT INTO closure_days (queue_id, day, name) SELECT q, "
	        " current_date + o, 'Test' FROM generate_series(12, 14) q,"
	        " generate_series(-1, 1) o;"
	        "INSERT INTO queue_members (staff_id, queue_id) VALUES "
	        " (101, 11), (102, 11);"
	        "INSERT INTO staff_capacity VALUES (101, 'chat', 1),"
	        " (102, 'chat', 1);"
	        "INSERT INTO customers (id, display_name) VALUES "
	        " (1, 'Resident');"
	        "INSERT INTO conversations (id, customer_id, channel) "
	        " SELECT g, 1, 'chat' FROM generate_series(1, 20) g;"
	        "INSERT INTO conversations (id, customer_id, channel) "
	        " SELECT g, 1, 'sms' FROM generate_series(21, 22) g");
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	sb_redis_teardown(&redis);
	return 0;
}

/* ---------------------------------------------------------------- channels */

static void
heard(struct heard *h, const char *fmt, ...)
{
	va_list ap;

	if (h->n == SEEN_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(h->what[h->n++], sizeof(h->what[0]), fmt, ap);
	va_end(ap);
}

static int
ch_holds(void *arg, uint64_t conv)
{
	struct heard *h = arg;

	return h->hold_only == 0 || h->hold_only == conv;
}

static void
ch_position(void *arg, uint64_t conv, uint64_t handle, long pos, long long ewt)
{
	heard(arg, "position %llu %llu %ld %lld", (unsigned long long)conv,
	      (unsigned long long)handle, pos, ewt);
}

static void
ch_assigned(void *arg, uint64_t conv, uint64_t advisor, const char *name)
{
	heard(arg, "assigned %llu %llu '%s'", (unsigned long long)conv,
	      (unsigned long long)advisor, name);
}

static void
ch_requeued(void *arg, uint64_t conv, const struct waiting_requeue *rq)
{
	heard(arg, "requeued %llu %s '%s' %llu", (unsigned long long)conv,
	      rq->why, rq->to, (unsigned long long)rq->queue);
}

static void
ch_released(void *arg, uint64_t conv)
{
	heard(arg, "released %llu", (unsigned long long)conv);
}

static int
heard_has(const struct heard *h, const char *what)
{
	int i;

	for (i = 0; i < h->n; i++)
		if (strcmp(h->what[i], what) == 0)
			return i + 1;
	return 0;
}

static int
heard_prefix(const struct heard *h, const char *prefix)
{
	int i, n = 0;

	for (i = 0; i < h->n; i++)
		if (strncmp(h->what[i], prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

struct heard_arg {
	const struct heard *h;
	const char *what;
};

static int
heard_cond(void *arg)
{
	struct heard_arg *a = arg;

	return heard_has(a->h, a->what);
}

static void
wait_heard(struct fx *f, const struct heard *h, const char *what)
{
	struct heard_arg a = {h, what};

	if (!sb_run_until(&f->loop, heard_cond, &a, 8000)) {
		int i;

		for (i = 0; i < h->n; i++)
			fprintf(stderr, "heard: %s\n", h->what[i]);
		fail_msg("never heard \"%s\"", what);
	}
}

struct count_arg {
	const struct heard *h;
	const char *prefix;
	int n;
};

static int
count_cond(void *arg)
{
	struct count_arg *a = arg;

	return heard_prefix(a->h, a->prefix) >= a->n;
}

static void
wait_count(struct fx *f, const struct heard *h, const char *prefix, int n)
{
	struct count_arg a = {h, prefix, n};

	assert_true(sb_run_until(&f->loop, count_cond, &a, 8000));
}

/* ---------------------------------------------------------------- fixture */

static void
on_kv(void *arg, int up)
{
	route_kv_state(((struct fx *)arg)->r, up);
}

static int
ready(void *arg)
{
	struct fx *f = arg;

	return route_ready(f->r) && db_ready(f->db) &&
	       route_queues_find(f->qs, "shut") != NULL;
}

static void
fx_open(struct fx *f)
{
	struct db_options d;
	struct kv_options k;
	struct route_options o;
	struct waiting_channel_ops chat = {ch_holds,    ch_position,
	                                   ch_assigned, ch_requeued,
	                                   ch_released, &f->chat};
	struct waiting_channel_ops sms = {NULL,        NULL,        ch_assigned,
	                                  ch_requeued, ch_released, &f->sms};

	char cmd[96];

	/* Each test starts from empty routing state. */
	memset(f, 0, sizeof(*f));
	sb_pg_exec(&pg, "UPDATE conversations SET status = 'open', "
	                " queue_id = NULL, assigned_staff_id = NULL");
	snprintf(cmd, sizeof(cmd), "redis-cli -p %d FLUSHALL >/dev/null",
	         redis.port);
	assert_int_equal(system(cmd), 0);
	uv_loop_init(&f->loop);
	memset(&d, 0, sizeof(d));
	d.conninfo = pg.conninfo;
	f->db = db_new(&f->loop, &d);
	f->w = db_commit_new(&f->loop, f->db, 64, 0);
	memset(&k, 0, sizeof(k));
	k.address = "127.0.0.1";
	k.port = redis.port;
	k.timeout_ms = 2000;
	k.ping_interval_ms = 500;
	f->kv = kv_new(&f->loop, &k);
	k.ping_interval_ms = 0;
	f->sub = kv_new(&f->loop, &k);
	memset(&o, 0, sizeof(o));
	o.instance = "test-1";
	o.grace_ms = 30000;
	o.max_missed = 0;
	o.sweep_ms = 50;
	o.presence_ms = 1000;
	f->r = route_new(&f->loop, f->kv, f->sub, f->db, &f->w, 1, &o);
	f->qs = route_queues_new(&f->loop, f->db);
	f->wt = waiting_new(&f->loop, f->r, f->qs, f->db);
	/* Real routing events, as route_ws hands them to its hooks. */
	route_set_callbacks(f->r, waiting_route_events, NULL, f->wt);
	assert_int_equal(waiting_channel_register(f->wt, "chat", &chat), 0);
	assert_int_equal(waiting_channel_register(f->wt, "sms", &sms), 0);
	kv_set_state_cb(f->kv, on_kv, f);
	db_start(f->db);
	kv_start(f->kv);
	kv_start(f->sub);
	assert_true(sb_run_until(&f->loop, ready, f, 10000));
}

static void
fx_close(struct fx *f)
{
	route_set_callbacks(f->r, NULL, NULL, NULL);
	kv_close(f->kv, NULL, NULL);
	kv_close(f->sub, NULL, NULL);
	route_kv_state(f->r, 0);
	db_close(f->db, NULL, NULL);
	waiting_free(f->wt);
	route_queues_free(f->qs);
	route_free(f->r);
	db_commit_free(f->w);
	assert_int_equal(sb_loop_finish(&f->loop), 0);
}

static void
on_reply(void *arg, int ok, const char *err, const struct route_event *ev,
         size_t n)
{
	struct reply *r = arg;
	size_t i;

	(void)err;
	r->done = 1;
	r->ok = ok;
	for (i = 0; i < n; i++)
		snprintf(r->kinds + strlen(r->kinds),
		         sizeof(r->kinds) - strlen(r->kinds), "%s ",
		         ev[i].kind);
}

static int
reply_done(void *arg)
{
	return ((struct reply *)arg)->done;
}

static void
wait_reply(struct fx *f, struct reply *r)
{
	assert_true(sb_run_until(&f->loop, reply_done, r, 5000));
	assert_int_equal(r->ok, 1);
}

static void
enqueue(struct fx *f, const char *conv, const char *channel)
{
	struct reply r = {0};

	assert_int_equal(route_enqueue(f->r, conv, "11", channel, 0, 0, "",
	                               on_reply, &r),
	                 0);
	wait_reply(f, &r);
}

/* ---------------------------------------------------------------- gate */

static void
on_gate(void *arg, const struct waiting_gate *g)
{
	struct gate_seen *s = arg;

	s->calls++;
	s->verdict = g->verdict;
	s->served = g->served;
	s->leave_message = g->leave_message;
	s->next_open = (long long)g->next_open;
	snprintf(s->queue, sizeof(s->queue), "%s", g->queue ? g->queue : "-");
	snprintf(s->slug, sizeof(s->slug), "%s", g->slug);
	snprintf(s->message, sizeof(s->message), "%s", g->message);
}

static int
gate_done(void *arg)
{
	return ((struct gate_seen *)arg)->calls > 0;
}

/* Asks the gate; checks it answered later, once. */
static void
ask(struct fx *f, const char *queue, const char *channel, struct gate_seen *s)
{
	memset(s, 0, sizeof(*s));
	waiting_gate(f->wt, queue, channel, time(NULL), on_gate, s);
	assert_int_equal(s->calls, 0); /* never from within the call */
	assert_true(sb_run_until(&f->loop, gate_done, s, 5000));
	sb_run_for(&f->loop, 20);
	assert_int_equal(s->calls, 1);
}

/* The gate said verdict, queue (NULL: not checked) and served. */
static void
expect(const struct gate_seen *s, enum waiting_verdict verdict,
       const char *queue, int served)
{
	assert_int_equal(s->verdict, verdict);
	if (queue != NULL)
		assert_string_equal(s->queue, queue);
	assert_int_equal(s->served, served);
}

/*
 * Routing answers "could not say" for a moment after a rebuild (every
 * fixture starts with one): asks until it can, as a resident would.
 */
static void
ask_known(struct fx *f, const char *queue, struct gate_seen *s)
{
	int i;

	for (i = 0; i < 100; i++) {
		ask(f, queue, "chat", s);
		if (s->served != -1)
			return;
		sb_run_for(&f->loop, 100);
	}
	fail_msg("routing never said whether %s is served", queue);
}

static void
test_gate(void **st)
{
	static const char *const hostile[] = {
	        "",
	        "no-such-queue",
	        "99999999999999999999999",
	        "-1",
	        "0",
	        "tax\n",
	        "../tax",
	        "TAX",
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	        "aa"
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct gate_seen s;
	struct reply r = {0};
	struct fx f;
	size_t i;

	(void)st;
	fx_open(&f);

	/* Open, nobody signed in: nobody serves it. */
	ask_known(&f, "tax", &s);
	expect(&s, WAITING_OPEN, "tax", 0);
	/* By id too. */
	ask(&f, "11", "chat", &s);
	expect(&s, WAITING_OPEN, "11", 0);

	/* An advisor signs in: served. */
	assert_int_equal(
	        route_advisor_login(f.r, "101", "available", "", on_reply, &r),
	        0);
	wait_reply(&f, &r);
	ask(&f, "tax", "chat", &s);
	expect(&s, WAITING_OPEN, "tax", 1);

	/* Closed, a message may be left; told when it opens. */
	ask(&f, "closed", "chat", &s);
	expect(&s, WAITING_CLOSED, NULL, -1);
	assert_string_equal(s.slug, "closed");
	assert_string_equal(s.message, "We open at nine");
	assert_int_equal(s.leave_message, 1);
	assert_true(s.next_open > (long long)time(NULL));

	/* Closed and refused. */
	ask(&f, "shut", "chat", &s);
	assert_int_equal(s.verdict, WAITING_CLOSED);
	assert_string_equal(s.message, "Call 101");
	assert_int_equal(s.leave_message, 0);

	/* Closed, overflows to tax (11), where Ann serves. */
	ask(&f, "night", "chat", &s);
	expect(&s, WAITING_OVERFLOW, "11", 1);

	/* A channel the queue does not take: closed, no message to leave. */
	ask(&f, "closed", "email", &s);
	assert_int_equal(s.verdict, WAITING_CLOSED);
	assert_int_equal(s.leave_message, 0);

	/* Unknown or hostile names: open as asked, routing not asked. */
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		ask(&f, hostile[i], "chat", &s);
		expect(&s, WAITING_OPEN, hostile[i], -1);
	}
	ask(&f, NULL, NULL, &s);
	expect(&s, WAITING_OPEN, "", -1);
	fx_close(&f);
}

/* Routing down: the contact queues (served -1), never refused. */
static void
test_gate_routing_down(void **st)
{
	struct gate_seen s;
	struct fx f;

	(void)st;
	fx_open(&f);
	kv_close(f.kv, NULL, NULL);
	route_kv_state(f.r, 0);
	f.kv = NULL;
	ask(&f, "tax", "chat", &s);
	expect(&s, WAITING_OPEN, "tax", -1);
	/* waiting_free answers a gate not answered yet, once. */
	memset(&s, 0, sizeof(s));
	waiting_gate(f.wt, "tax", "chat", time(NULL), on_gate, &s);
	route_set_callbacks(f.r, NULL, NULL, NULL);
	kv_close(f.sub, NULL, NULL);
	db_close(f.db, NULL, NULL);
	waiting_free(f.wt);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.served, -1);
	route_queues_free(f.qs);
	route_free(f.r);
	db_commit_free(f.w);
	assert_int_equal(sb_loop_finish(&f.loop), 0);
	assert_int_equal(s.calls, 1);
}

/* ---------------------------------------------------------------- places */

static void
test_positions(void **st)
{
	struct fx f;

	(void)st;
	fx_open(&f);
	enqueue(&f, "1", "chat");
	enqueue(&f, "2", "chat");
	enqueue(&f, "3", "chat");

	/* Once: handle 0; estimated wait unknown with no answers yet. */
	assert_int_equal(waiting_position(f.wt, "chat", 2, 11), 0);
	wait_heard(&f, &f.chat, "position 2 0 2 -1");
	/* Refused at once: no queue, no channel, a channel without it. */
	assert_int_equal(waiting_position(f.wt, "chat", 2, 0), -1);
	assert_int_equal(waiting_position(f.wt, "voice", 2, 11), -1);
	assert_int_equal(waiting_position(f.wt, "sms", 21, 11), -1);
	assert_int_equal(waiting_position(f.wt, NULL, 2, 11), -1);
	/* Not waiting there: nothing is said. */
	assert_int_equal(waiting_position(f.wt, "chat", 9, 11), 0);

	/* A follower: its place now, then each change. */
	assert_int_equal(waiting_follow(f.wt, "chat", 77, 3, 11, 1), 0);
	assert_int_equal(waiting_follow(f.wt, "chat", 0, 3, 11, 1), -1);
	assert_int_equal(waiting_follow(f.wt, "chat", 78, 0, 11, 1), -1);
	assert_int_equal(waiting_follow(f.wt, "nope", 78, 3, 11, 1), -1);
	wait_heard(&f, &f.chat, "position 3 77 3 -1");
	assert_int_equal(heard_has(&f.chat, "position 9 0 0 -1"), 0);
	{
		struct reply r = {0};

		assert_int_equal(
		        route_release(f.r, "1", "abandoned", on_reply, &r), 0);
		wait_reply(&f, &r);
	}
	wait_heard(&f, &f.chat, "position 3 77 2 -1");
	/* Told once per change, not once per flush. */
	sb_run_for(&f.loop, 2600);
	assert_int_equal(heard_prefix(&f.chat, "position 3 77 "), 2);

	/* Gone: no more. */
	waiting_unfollow(f.wt, "chat", 77);
	waiting_unfollow(f.wt, "chat", 12345); /* never followed: no-op */
	{
		struct reply r = {0};

		assert_int_equal(
		        route_release(f.r, "2", "abandoned", on_reply, &r), 0);
		wait_reply(&f, &r);
	}
	sb_run_for(&f.loop, 2600);
	assert_int_equal(heard_prefix(&f.chat, "position 3 77 "), 2);

	/* A newer follower of the same conversation takes it over. */
	assert_int_equal(waiting_follow(f.wt, "chat", 80, 3, 11, 1), 0);
	assert_int_equal(waiting_follow(f.wt, "chat", 81, 3, 11, 1), 0);
	wait_heard(&f, &f.chat, "position 3 81 1 -1");
	sb_run_for(&f.loop, 700);
	assert_int_equal(heard_prefix(&f.chat, "position 3 80 "), 0);
	fx_close(&f);
}

/* ---------------------------------------------------------------- news */

static void
test_news(void **st)
{
	struct reply r = {0}, a = {0}, t = {0}, x = {0};
	struct fx f;
	int i1, i2;

	(void)st;
	fx_open(&f);
	assert_int_equal(waiting_follow(f.wt, "chat", 90, 4, 11, 1), 0);
	enqueue(&f, "4", "chat");
	wait_heard(&f, &f.chat, "position 4 90 1 -1");
	enqueue(&f, "21", "sms");

	/* Ann takes 4: the channel hears her name, read by the core. */
	assert_int_equal(
	        route_advisor_login(f.r, "101", "available", "", on_reply, &r),
	        0);
	wait_reply(&f, &r);
	assert_int_equal(route_accept(f.r, "4", "101", on_reply, &a), 0);
	wait_reply(&f, &a);
	wait_heard(&f, &f.chat, "assigned 4 101 'Ann Advisor'");
	/* Assigned: its follower is no longer told its place. */
	enqueue(&f, "5", "chat");
	sb_run_for(&f.loop, 2600);
	assert_int_equal(heard_prefix(&f.chat, "position 4 90 "), 1);

	/* Ann steps away; 4 is transferred to the queue: its place follows. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(
	        route_advisor_status(f.r, "101", "away", "", on_reply, &r), 0);
	wait_reply(&f, &r);
	assert_int_equal(route_transfer(f.r, "4", "11", "", on_reply, &t), 0);
	wait_reply(&f, &t);
	wait_heard(&f, &f.chat, "requeued 4 transferred 'queue' 11");
	wait_count(&f, &f.chat, "position 4 90 ", 2);

	/* Released, then told in order after any name being read. */
	assert_int_equal(route_release(f.r, "4", "closed", on_reply, &x), 0);
	wait_reply(&f, &x);
	wait_heard(&f, &f.chat, "released 4");
	i1 = heard_has(&f.chat, "assigned 4 101 'Ann Advisor'");
	i2 = heard_has(&f.chat, "released 4");
	assert_true(i1 > 0 && i1 < i2);

	/* An SMS conversation's news goes to sms, never to chat. */
	memset(&x, 0, sizeof(x));
	assert_int_equal(route_release(f.r, "21", "closed", on_reply, &x), 0);
	wait_reply(&f, &x);
	wait_heard(&f, &f.sms, "released 21");
	assert_int_equal(heard_prefix(&f.chat, "released 21"), 0);

	/* A conversation the channel does not hold here: nothing. */
	f.chat.hold_only = 6;
	enqueue(&f, "7", "chat");
	memset(&x, 0, sizeof(x));
	assert_int_equal(route_release(f.r, "7", "closed", on_reply, &x), 0);
	wait_reply(&f, &x);
	sb_run_for(&f.loop, 200);
	assert_int_equal(heard_prefix(&f.chat, "released 7"), 0);

	/* Unregistered: nothing more, and its followers are gone. */
	f.chat.hold_only = 0;
	assert_int_equal(waiting_channel_register(f.wt, "chat", NULL), 0);
	enqueue(&f, "8", "chat");
	memset(&x, 0, sizeof(x));
	assert_int_equal(route_release(f.r, "8", "closed", on_reply, &x), 0);
	wait_reply(&f, &x);
	sb_run_for(&f.loop, 200);
	assert_int_equal(heard_prefix(&f.chat, "released 8"), 0);
	assert_int_equal(waiting_follow(f.wt, "chat", 90, 4, 11, 1), -1);
	fx_close(&f);
}

/* Events no router would send, and some it would, straight in. */
static void
test_odd_events(void **st)
{
	static const char long_name[] =
	        "chatchatchatchatchatchatchatchatchatchatchatchatchat";
	struct route_event ev[] = {
	        {"accepted", "", "101", "i", 1, {"11", "chat"}, 2},
	        {"accepted", "abc", "101", "i", 1, {"11", "chat"}, 2},
	        {"accepted", "-1", "101", "i", 1, {"11", "chat"}, 2},
	        {"accepted",
	         "99999999999999999999",
	         "101",
	         "i",
	         1,
	         {"11", "chat"},
	         2},
	        {"accepted", "31", "101", "i", 1, {"11"}, 1}, /* no channel */
	        {"accepted", "32", "101", "i", 1, {NULL}, 0},
	        {"accepted", "33", "101", "i", 1, {"11", long_name}, 2},
	        {"accepted", "34", "101", "i", 1, {"11", "voice"}, 2},
	        {"teleported", "35", "101", "i", 1, {"11", "chat"}, 2},
	        {"status", "", "101", "i", 1, {"available", ""}, 2},
	        /* Odd advisor: no name is read, the news still comes. */
	        {"accepted", "36", "x", "i", 1, {"11", "chat"}, 2},
	        {"transferred", "37", "", "i", 1, {"junk", "chat", ""}, 3},
	        {"transferred", "38", "", "i", 1, {"12", "chat", "102"}, 3},
	        {"released", "39", "", "i", 1, {"11", "chat"}, 2},
	};
	struct route_event later[] = {
	        {"accepted", "42", "101", "i", 1, {"11", "chat"}, 2},
	        {"released", "41", "", "i", 1, {"11", "chat"}, 2},
	        {"released", "42", "", "i", 1, {"11", "chat"}, 2},
	};
	struct fx f;

	(void)st;
	fx_open(&f);
	waiting_route_events(f.wt, ev, sizeof(ev) / sizeof(ev[0]));
	waiting_route_events(f.wt, ev, 0);
	wait_heard(&f, &f.chat, "released 39");
	assert_int_equal(f.chat.n, 4);
	assert_string_equal(f.chat.what[0], "assigned 36 0 ''");
	assert_string_equal(f.chat.what[1],
	                    "requeued 37 transferred 'queue' 0");
	assert_string_equal(f.chat.what[2],
	                    "requeued 38 transferred 'advisor' 12");
	assert_string_equal(f.chat.what[3], "released 39");
	assert_int_equal(f.sms.n, 0);

	/*
	 * A name being read holds back the later news of its conversation
	 * (42), not another's (41).
	 */
	f.chat.n = 0;
	waiting_route_events(f.wt, later, sizeof(later) / sizeof(later[0]));
	assert_int_equal(f.chat.n, 1);
	assert_string_equal(f.chat.what[0], "released 41");
	wait_heard(&f, &f.chat, "released 42");
	assert_int_equal(f.chat.n, 3);
	assert_string_equal(f.chat.what[1], "assigned 42 101 'Ann Advisor'");
	assert_string_equal(f.chat.what[2], "released 42");
	fx_close(&f);
}

/* Names checked; a full table refused; NULL unregisters. */
static void
test_register(void **st)
{
	static const char *const bad[] = {
	        "",
	        "Chat",
	        "chat!",
	        "sixteen-chars-xx",
	        "a b",
	        "\xc3\xa9",
	        "abcdefghijklmnop",
	};
	struct waiting_channel_ops none;
	struct fx f;
	char name[16];
	size_t i;

	(void)st;
	fx_open(&f);
	memset(&none, 0, sizeof(none));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(waiting_channel_register(f.wt, bad[i], &none),
		                 -1);
	assert_int_equal(waiting_channel_register(f.wt, NULL, &none), -1);
	/* chat and sms hold two slots already. */
	for (i = 2; i < WAITING_CHANNELS_MAX; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		assert_int_equal(waiting_channel_register(f.wt, name, &none),
		                 0);
	}
	assert_int_equal(waiting_channel_register(f.wt, "visit", &none), -1);
	/* Re-registering takes no new slot; unregistering frees one. */
	assert_int_equal(waiting_channel_register(f.wt, "sms", &none), 0);
	assert_int_equal(waiting_channel_register(f.wt, "c2", NULL), 0);
	assert_int_equal(waiting_channel_register(f.wt, "c2", NULL), 0);
	assert_int_equal(waiting_channel_register(f.wt, "visit", &none), 0);
	fx_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_gate),
	        cmocka_unit_test(test_gate_routing_down),
	        cmocka_unit_test(test_positions),
	        cmocka_unit_test(test_news),
	        cmocka_unit_test(test_odd_events),
	        cmocka_unit_test(test_register),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
