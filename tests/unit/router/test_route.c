/*
 * test_route.c: the router's C side against a real redis-server and
 * PostgreSQL: routing decisions are recorded in conversations and
 * conversation_events, published on sb:route, fenced by route_version, and
 * the Redis state is rebuilt from PostgreSQL after FLUSHALL with no
 * conversation lost or assigned twice. Ends with uv_loop_close() == 0.
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
#include "kv.h"
#include "migrate.h"
#include "route.h"
#include "support.h"

static struct sb_pg pg;
static struct sb_redis redis;

struct fx {
	uv_loop_t loop;
	struct db *db;
	struct db_commit *w;
	struct kv *kv, *sub;
	struct route *r;
	int kv_up;
	unsigned long long epochs_seen;
	char seen[64][48]; /* "kind:conv:advisor" received on sb:route */
	int nseen;
};

struct reply {
	int done, ok;
	char err[256];
	char kinds[256];
	char pairs[256]; /* "kind:conversation " per event */
	char first_advisor[32];
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
	return sb_pg_exec(
	        &pg, "INSERT INTO staff_users (id, login, display_name, "
	             " password_hash, role) VALUES "
	             " (101, 'a1', 'A One', 'x', 'advisor'),"
	             " (102, 'a2', 'A Two', 'x', 'advisor'),"
	             " (103, 'off', 'Disabled', 'x', 'advisor'),"
	             " (104, 'a4', 'A Four', 'x', 'advisor');"
	             "UPDATE staff_users SET disabled = true WHERE id = 103;"
	             "INSERT INTO queues (id, slug, name) VALUES "
	             " (11, 'tax', 'Council tax');"
	             "INSERT INTO queue_channels (queue_id, channel, "
	             " answer_target_s, offer_timeout_s) VALUES "
	             " (11, 'chat', 60, 5), (11, 'email', 3600, 30);"
	             "INSERT INTO queue_members (staff_id, queue_id, "
	             " proficiency) VALUES (101, 11, 5), (102, 11, 5),"
	             " (104, 11, 5);"
	             "INSERT INTO staff_capacity VALUES (101, 'chat', 1),"
	             " (104, 'chat', 50);"
	             "INSERT INTO customers (id, display_name) VALUES "
	             " (1, 'Resident');"
	             "INSERT INTO conversations (id, customer_id, channel) "
	             " SELECT g, 1, 'chat' FROM generate_series(1, 20) g");
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

	f->kv_up = up;
	route_kv_state(f->r, up);
}

static void
on_events(void *arg, const struct route_event *ev, size_t n)
{
	struct fx *f = arg;
	size_t i;

	for (i = 0; i < n && f->nseen < 64; i++)
		snprintf(f->seen[f->nseen++], sizeof(f->seen[0]), "%s:%s:%s",
		         ev[i].kind, ev[i].conv, ev[i].advisor);
}

static void
on_epoch(void *arg, unsigned long long epoch)
{
	struct fx *f = arg;

	f->epochs_seen = epoch;
}

static int
route_is_ready(void *arg)
{
	struct fx *f = arg;

	return route_ready(f->r) && db_ready(f->db);
}

static void
fx_open(struct fx *f)
{
	struct db_options d;
	struct kv_options k;
	struct route_options o;

	memset(f, 0, sizeof(*f));
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
	o.max_missed = 3;
	o.sweep_ms = 50;
	o.presence_ms = 1000;
	f->r = route_new(&f->loop, f->kv, f->sub, f->db, &f->w, 1, &o);
	route_set_callbacks(f->r, on_events, on_epoch, f);
	kv_set_state_cb(f->kv, on_kv, f);
	db_start(f->db);
	kv_start(f->kv);
	kv_start(f->sub);
	assert_true(sb_run_until(&f->loop, route_is_ready, f, 10000));
}

static void
fx_close(struct fx *f)
{
	kv_close(f->kv, NULL, NULL);
	kv_close(f->sub, NULL, NULL);
	route_kv_state(f->r, 0);
	db_close(f->db, NULL, NULL);
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

	r->done = 1;
	r->ok = ok;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	r->kinds[0] = '\0';
	r->pairs[0] = '\0';
	for (i = 0; i < n; i++) {
		strncat(r->kinds, ev[i].kind,
		        sizeof(r->kinds) - strlen(r->kinds) - 2);
		strcat(r->kinds, " ");
		snprintf(r->pairs + strlen(r->pairs),
		         sizeof(r->pairs) - strlen(r->pairs), "%s:%s ",
		         ev[i].kind, ev[i].conv);
		if (strcmp(ev[i].kind, "offered") == 0 &&
		    r->first_advisor[0] == '\0')
			snprintf(r->first_advisor, sizeof(r->first_advisor),
			         "%s", ev[i].advisor);
	}
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
}

static long
pg_long(const char *sql)
{
	return sb_pg_value(&pg, sql);
}

static int
seen(struct fx *f, const char *what)
{
	int i;

	for (i = 0; i < f->nseen; i++)
		if (strcmp(f->seen[i], what) == 0)
			return 1;
	return 0;
}

struct seen_arg {
	struct fx *f;
	const char *what;
};

static int
seen_cond(void *arg)
{
	struct seen_arg *s = arg;

	return seen(s->f, s->what);
}

static void
test_route_flow(void **st)
{
	struct reply r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0}, r5 = {0};
	struct seen_arg sa;
	struct fx f;

	(void)st;
	fx_open(&f);
	assert_true(route_epoch(f.r) >= 1);
	assert_int_equal(pg_long("SELECT epoch FROM router_state"),
	                 (long)route_epoch(f.r));

	/* Waiting, with nobody to take it. */
	assert_int_equal(
	        route_enqueue(f.r, "1", "11", "chat", 0, 0, "", on_reply, &r1),
	        0);
	wait_reply(&f, &r1);
	assert_int_equal(r1.ok, 1);
	assert_string_equal(r1.kinds, "queued ");
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 1 AND status = 'waiting' AND "
	                         "queue_id = 11"),
	                 1);

	/* A disabled advisor cannot log in; a1 can and is offered at once. */
	assert_int_equal(
	        route_advisor_login(f.r, "103", "available", "", on_reply, &r2),
	        0);
	wait_reply(&f, &r2);
	assert_int_equal(r2.ok, 0);
	assert_int_equal(
	        route_advisor_login(f.r, "101", "available", "", on_reply, &r3),
	        0);
	wait_reply(&f, &r3);
	assert_int_equal(r3.ok, 1);
	assert_string_equal(r3.kinds, "status offered ");
	assert_string_equal(r3.first_advisor, "101");
	/* Status changes are history too, in the same version sequence. */
	assert_int_equal(pg_long("SELECT count(*) FROM staff_status_events "
	                         "WHERE staff_id = 101 AND status = "
	                         "'available' AND instance = 'test-1' AND "
	                         "route_version < (SELECT route_version FROM "
	                         "conversation_events WHERE conversation_id "
	                         "= 1 AND kind = 'route.offered')"),
	                 1);
	/* An offer is an event only: the row stays waiting (see router.md). */
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 1 AND status = 'waiting'"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events "
	                         "WHERE conversation_id = 1 AND kind = "
	                         "'route.offered' AND staff_id = 101 AND "
	                         "detail->'applied' = 'null'::jsonb"),
	                 1);
	sa.f = &f;
	sa.what = "offered:1:101";
	assert_true(sb_run_until(&f.loop, seen_cond, &sa, 3000));

	/* Someone else cannot accept it; a1 can. */
	assert_int_equal(route_accept(f.r, "1", "102", on_reply, &r4), 0);
	wait_reply(&f, &r4);
	assert_int_equal(r4.ok, 0);
	assert_non_null(strstr(r4.err, "NOTOFFERED"));
	assert_int_equal(route_accept(f.r, "1", "101", on_reply, &r5), 0);
	wait_reply(&f, &r5);
	assert_int_equal(r5.ok, 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 1 AND status = 'assigned' AND "
	                         "assigned_staff_id = 101"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events "
	                         "WHERE conversation_id = 1 AND kind IN "
	                         "('route.queued', 'route.offered', "
	                         "'route.accepted')"),
	                 3);
	fx_close(&f);
}

static void
test_capacity_reject_and_rebuild(void **st)
{
	struct reply a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, g = {0};
	char cmd[128];
	struct fx f;

	(void)st;
	fx_open(&f);
	/* a1 (chat capacity 1) holds conversation 1 from the last test once
	 * logged in again; conversation 2 must wait for a2. */
	assert_int_equal(
	        route_advisor_login(f.r, "101", "available", "", on_reply, &a),
	        0);
	wait_reply(&f, &a);
	assert_int_equal(
	        route_enqueue(f.r, "2", "11", "chat", 0, 0, "", on_reply, &b),
	        0);
	wait_reply(&f, &b);
	assert_string_equal(b.kinds, "queued ");
	assert_int_equal(
	        route_advisor_login(f.r, "102", "available", "", on_reply, &c),
	        0);
	wait_reply(&f, &c);
	assert_string_equal(c.first_advisor, "102");
	/*
	 * a2 refuses: a1 is full, so a2 is the only advisor who could take
	 * it, and the refusal does not hold (router.md, "Refusals").
	 */
	assert_int_equal(route_reject(f.r, "2", "102", on_reply, &d), 0);
	wait_reply(&f, &d);
	assert_int_equal(d.ok, 1);
	assert_string_equal(d.kinds, "rejected offered ");
	assert_string_equal(d.first_advisor, "102");
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 2 AND status = 'waiting'"),
	                 1);

	/* Redis loses everything: the next call triggers a rebuild. */
	snprintf(cmd, sizeof(cmd), "redis-cli -p %d FLUSHALL >/dev/null",
	         redis.port);
	assert_int_equal(system(cmd), 0);
	sb_run_for(&f.loop, 300);
	assert_true(sb_run_until(&f.loop, route_is_ready, &f, 10000));
	assert_int_equal(route_epoch(f.r), (unsigned long long)f.epochs_seen);
	assert_int_equal(pg_long("SELECT epoch FROM router_state"),
	                 (long)route_epoch(f.r));
	/* Advisors announce themselves again (the desks would do this). */
	assert_int_equal(
	        route_advisor_login(f.r, "101", "available", "", on_reply, &e),
	        0);
	wait_reply(&f, &e);
	/* a1 still holds conversation 1 (restored load): no offer for 2. */
	assert_string_equal(e.kinds, "status ");
	assert_int_equal(route_release(f.r, "1", "closed", on_reply, &g), 0);
	wait_reply(&f, &g);
	/* Capacity freed: conversation 2 goes to a1 at once. */
	assert_string_equal(g.kinds, "released offered ");
	assert_string_equal(g.first_advisor, "101");
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 2 AND status = 'waiting'"),
	                 1);
	/* Every decision carries a version above the previous epoch's. */
	assert_true(pg_long("SELECT min(route_version) >> 32 FROM "
	                    "conversation_events WHERE conversation_id = 2 "
	                    "AND at > now() - interval '1 minute' AND kind = "
	                    "'route.offered'") >= 1);
	fx_close(&f);
}

static void
test_stale_decision_not_applied(void **st)
{
	struct reply a = {0};
	struct fx f;

	(void)st;
	fx_open(&f);
	/* A newer decision is already recorded for conversation 3. */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE conversations SET "
	                                 "route_version = 9223372036854775000, "
	                                 "status = 'closed' WHERE id = 3"),
	                 0);
	assert_int_equal(
	        route_enqueue(f.r, "3", "11", "chat", 0, 0, "", on_reply, &a),
	        0);
	wait_reply(&f, &a);
	assert_int_equal(a.ok, 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 3 AND status = 'closed'"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events "
	                         "WHERE conversation_id = 3 AND "
	                         "detail->>'applied' = 'false'"),
	                 1);
	fx_close(&f);
}

static long
redis_long(const char *args)
{
	char cmd[256], out[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "redis-cli -p %d %s", redis.port, args);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	if (fgets(out, sizeof(out), p) == NULL)
		out[0] = '\0';
	pclose(p);
	return atol(out);
}

static long
redis_count(const char *pattern)
{
	char args[160];

	snprintf(args, sizeof(args), "--scan --pattern '%s' | wc -l", pattern);
	return redis_long(args);
}

static void
test_old_epoch_keys_collected(void **st)
{
	struct reply a = {0};
	char cmd[128], pattern[64];
	unsigned long long old;
	struct fx f;

	(void)st;
	fx_open(&f);
	old = route_epoch(f.r);
	assert_int_equal(
	        route_enqueue(f.r, "4", "11", "chat", 0, 0, "", on_reply, &a),
	        0);
	wait_reply(&f, &a);
	snprintf(pattern, sizeof(pattern), "sb:%llu:*", old);
	assert_true(redis_count(pattern) > 0);
	/* The epoch marker goes, its keys stay: a stale state. */
	snprintf(cmd, sizeof(cmd), "redis-cli -p %d DEL sb:epoch >/dev/null",
	         redis.port);
	assert_int_equal(system(cmd), 0);
	sb_run_for(&f.loop, 500);
	assert_true(sb_run_until(&f.loop, route_is_ready, &f, 10000));
	assert_true(route_epoch(f.r) > old);
	sb_run_for(&f.loop, 500);
	assert_int_equal(redis_count(pattern), 0);
	fx_close(&f);
}

static void
test_bad_ids_refused(void **st)
{
	struct fx f;

	(void)st;
	fx_open(&f);
	assert_int_equal(route_enqueue(f.r, "x1", "11", "chat", 0, 0, "",
	                               on_reply, NULL),
	                 -1);
	assert_int_equal(route_accept(f.r, "1", "1; DROP", on_reply, NULL), -1);
	assert_int_equal(route_transfer(f.r, "1", "q", "", on_reply, NULL), -1);
	fx_close(&f);
}

/*
 * Once a rebuild has bumped the epoch in PostgreSQL, a decision of the
 * old epoch reaching PostgreSQL changes nothing (what the rebuild reads
 * stays as it was), and the advisor is told SUPERSEDED.
 */
struct newer {
	struct fx *f;
	unsigned long long than;
};

static int
newer_epoch_ready(void *arg)
{
	struct newer *n = arg;

	return route_ready(n->f->r) && route_epoch(n->f->r) > n->than;
}

struct places {
	int done, ok;
	long pos[4];
};

static void
on_places(void *arg, int ok, const long *pos, size_t n, long long span,
          long intervals)
{
	struct places *p = arg;
	size_t i;

	(void)span;
	(void)intervals;
	p->done = 1;
	p->ok = ok;
	for (i = 0; i < n && i < 4; i++)
		p->pos[i] = pos[i];
}

static int
places_done(void *arg)
{
	return ((struct places *)arg)->done;
}

static void
test_lost_writes_rebuilt(void **st)
{
	struct reply a = {0}, b = {0};
	struct places pl = {0};
	const char *convs[2] = {"7", "8"};
	struct newer n;
	char cmd[256];
	struct fx f;

	(void)st;
	fx_open(&f);
	n.f = &f;
	n.than = route_epoch(f.r);
	assert_int_equal(
	        route_enqueue(f.r, "7", "11", "chat", 0, 0, "", on_reply, &a),
	        0);
	wait_reply(&f, &a);
	assert_int_equal(a.ok, 1);
	/*
	 * Redis fails over to a replica that missed the last writes: the
	 * epoch is there, the decision counter and conversation 7 are not.
	 */
	snprintf(cmd, sizeof(cmd),
	         "redis-cli -p %d EVAL \"redis.call('SET', KEYS[1], '0') "
	         "redis.call('DEL', KEYS[2]) redis.call('ZREM', KEYS[3], "
	         "'7')\" 3 sb:%llu:seq sb:%llu:c:7 sb:%llu:q:11:w >/dev/null",
	         redis.port, n.than, n.than, n.than);
	assert_int_equal(system(cmd), 0);
	/* The next decision shows it; routing is rebuilt from PostgreSQL. */
	assert_int_equal(
	        route_enqueue(f.r, "8", "11", "chat", 0, 0, "", on_reply, &b),
	        0);
	wait_reply(&f, &b);
	assert_true(sb_run_until(&f.loop, newer_epoch_ready, &n, 15000));
	assert_int_equal(pg_long("SELECT epoch FROM router_state"),
	                 (long)route_epoch(f.r));
	/* Both wait again in the rebuilt state: 7 was lost, 8 was stale. */
	assert_int_equal(route_positions(f.r, "11", convs, 2, on_places, &pl),
	                 0);
	assert_true(sb_run_until(&f.loop, places_done, &pl, 5000));
	assert_int_equal(pl.ok, 1);
	assert_true(pl.pos[0] > 0);
	assert_true(pl.pos[1] > 0);
	fx_close(&f);
}

static void
test_old_epoch_fenced_after_bump(void **st)
{
	struct reply a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, h = {0};
	struct reply g = {0};
	struct seen_arg sa;
	struct fx f;

	(void)st;
	fx_open(&f);
	assert_int_equal(
	        route_enqueue(f.r, "5", "11", "chat", 0, 0, "", on_reply, &a),
	        0);
	wait_reply(&f, &a);
	assert_int_equal(
	        route_enqueue(f.r, "6", "11", "chat", 0, 0, "", on_reply, &g),
	        0);
	wait_reply(&f, &g);
	assert_int_equal(
	        route_advisor_login(f.r, "102", "available", "", on_reply, &b),
	        0);
	wait_reply(&f, &b);
	sa.f = &f;
	sa.what = "offered:5:102";
	assert_true(sb_run_until(&f.loop, seen_cond, &sa, 3000));
	assert_int_equal(route_accept(f.r, "6", "102", on_reply, &d), 0);
	wait_reply(&f, &d);
	assert_int_equal(d.ok, 1);
	/* What the desk holds: one offer, one assignment. */
	assert_int_equal(route_holding(f.r, "102", on_reply, &h), 0);
	wait_reply(&f, &h);
	assert_int_equal(h.ok, 1);
	/* (earlier tests may have left it more: look for these two) */
	assert_non_null(strstr(h.pairs, "offered:5 "));
	assert_non_null(strstr(h.pairs, "accepted:6 "));
	/* and, last, the advisor's status */
	assert_non_null(strstr(h.pairs, "status: "));
	assert_int_equal(route_holding(f.r, "x", on_reply, &h), -1);
	/* Another instance starts a rebuild. */
	assert_int_equal(sb_pg_exec(&pg, "UPDATE router_state SET epoch = "
	                                 "epoch + 1"),
	                 0);
	assert_int_equal(route_accept(f.r, "5", "102", on_reply, &c), 0);
	wait_reply(&f, &c);
	assert_int_equal(c.ok, 0);
	assert_non_null(strstr(c.err, "SUPERSEDED"));
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 5 AND status = 'waiting' AND "
	                         "assigned_staff_id IS NULL"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events "
	                         "WHERE conversation_id = 5 AND kind = "
	                         "'route.accepted' AND "
	                         "detail->>'applied' = 'false'"),
	                 1);
	/*
	 * A release of the old epoch does not stand either: the rebuild
	 * restores the conversation as assigned, so the advisor must not be
	 * told it was released (the desk's snapshot after the rebuild shows
	 * it still theirs).
	 */
	assert_int_equal(route_release(f.r, "6", "closed", on_reply, &e), 0);
	wait_reply(&f, &e);
	assert_int_equal(e.ok, 0);
	assert_non_null(strstr(e.err, "SUPERSEDED routing was rebuilt"));
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 6 AND status = 'assigned' AND "
	                         "assigned_staff_id = 102"),
	                 1);
	assert_int_equal(sb_pg_exec(&pg, "UPDATE router_state SET epoch = "
	                                 "epoch - 1"),
	                 0);
	fx_close(&f);
}

/*
 * The rebuild reads PostgreSQL only once every transaction open when its
 * epoch increment committed has ended: one of them may hold an event
 * statement that read the old epoch and has yet to commit.
 */
static void
test_rebuild_waits_for_open_transactions(void **st)
{
	char cmd[128];
	PGconn *other;
	PGresult *res;
	struct fx f;

	(void)st;
	fx_open(&f);
	assert_true(sb_run_until(&f.loop, route_is_ready, &f, 10000));
	other = PQconnectdb(pg.conninfo);
	assert_int_equal(PQstatus(other), CONNECTION_OK);
	res = PQexec(other, "BEGIN; SELECT epoch FROM router_state");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	snprintf(cmd, sizeof(cmd), "redis-cli -p %d FLUSHALL >/dev/null",
	         redis.port);
	assert_int_equal(system(cmd), 0);
	/* Still waiting for that transaction. */
	sb_run_for(&f.loop, 1500);
	assert_false(route_ready(f.r));
	assert_true(pg_long("SELECT epoch FROM router_state") >
	            (long)route_epoch(f.r));
	res = PQexec(other, "COMMIT");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(other);
	assert_true(sb_run_until(&f.loop, route_is_ready, &f, 5000));
	assert_int_equal(pg_long("SELECT epoch FROM router_state"),
	                 (long)route_epoch(f.r));
	fx_close(&f);
}

/* ------------------------------------------------------------ the stream */

static int
stream_empty(void *arg)
{
	(void)arg;
	return redis_long("XLEN sb:events") == 0;
}

struct raw {
	int done;
	char err[128];
};

static void
on_raw(void *arg, redisReply *reply)
{
	struct raw *w = arg;

	w->done = 1;
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		snprintf(w->err, sizeof(w->err), "%s", reply->str);
}

static int
raw_done(void *arg)
{
	return ((struct raw *)arg)->done;
}

/*
 * Starts from an empty routing state (a rebuild): no advisor announced,
 * so a test's offers go to the advisor it logs in.
 */
static void
fresh_epoch(struct fx *f)
{
	struct places pl = {0};
	const char *convs[1] = {"1"};
	struct newer n;
	char cmd[128];

	n.f = f;
	n.than = route_epoch(f->r);
	snprintf(cmd, sizeof(cmd), "redis-cli -p %d FLUSHALL >/dev/null",
	         redis.port);
	assert_int_equal(system(cmd), 0);
	/* The next call finds no state and starts the rebuild. */
	route_positions(f->r, "11", convs, 1, on_places, &pl);
	assert_true(sb_run_until(&f->loop, newer_epoch_ready, &n, 15000));
}

/*
 * From an empty routing state, advisor 104 (capacity 50) is available and
 * conversation conv is offered to them.
 */
static void
offered_to_104(struct fx *f, const char *conv)
{
	struct reply a = {0}, b = {0};
	struct seen_arg sa;
	char what[48];

	fresh_epoch(f);
	assert_int_equal(
	        route_advisor_login(f->r, "104", "available", "", on_reply, &a),
	        0);
	wait_reply(f, &a);
	assert_int_equal(
	        route_enqueue(f->r, conv, "11", "chat", 0, 0, "", on_reply, &b),
	        0);
	wait_reply(f, &b);
	snprintf(what, sizeof(what), "offered:%s:104", conv);
	sa.f = f;
	sa.what = what;
	assert_true(sb_run_until(&f->loop, seen_cond, &sa, 3000));
}

/*
 * A routing script run by an instance that dies before it records
 * anything: the decision stands in Redis, nobody answers, nobody writes.
 */
static void
dead_instance(struct fx *f, const char *script, const char *a1, const char *a2,
              const char *a3)
{
	const char *argv[16];
	size_t lens[16];
	char epoch[32];
	struct raw w = {0};
	unsigned i;
	int n = 0;

	for (i = 0; i < route_scripts_count; i++)
		if (strcmp(route_scripts[i].name, script) == 0)
			break;
	assert_true(i < route_scripts_count);
	snprintf(epoch, sizeof(epoch), "%llu", route_epoch(f->r));
	argv[n++] = "EVAL";
	argv[n++] = route_scripts[i].source;
	argv[n++] = "0";
	argv[n++] = epoch;
	argv[n++] = a1;
	argv[n++] = a2;
	if (a3 != NULL)
		argv[n++] = a3;
	if (strcmp(script, "enqueue") == 0) {
		/* conv, queue, channel, priority, since, version, only */
		argv[n++] = "0";
		argv[n++] = "0";
		argv[n++] = "0";
		argv[n++] = "";
	}
	for (i = 0; i < (unsigned)n; i++)
		lens[i] = strlen(argv[i]);
	assert_int_equal(kv_command_argv(f->kv, on_raw, &w, n, argv, lens), 0);
	assert_true(sb_run_until(&f->loop, raw_done, &w, 5000));
	assert_string_equal(w.err, "");
}

struct pg_cond {
	const char *sql;
	long want;
};

static int
pg_is(void *arg)
{
	struct pg_cond *c = arg;

	return pg_long(c->sql) == c->want;
}

/* When the snapshot came, PostgreSQL already had the assignment. */
struct held {
	struct reply r;
	long committed;
};

static void
on_held_reply(void *arg, int ok, const char *err, const struct route_event *ev,
              size_t n)
{
	struct held *h = arg;

	h->committed = pg_long("SELECT count(*) FROM conversations WHERE id = "
	                       "12 AND status = 'assigned' AND "
	                       "assigned_staff_id = 104");
	on_reply(&h->r, ok, err, ev, n);
}

static void
test_stream_entry_deleted_once_recorded(void **st)
{
	struct reply a = {0};
	struct fx f;

	(void)st;
	fx_open(&f);
	assert_true(sb_run_until(&f.loop, stream_empty, NULL, 10000));
	assert_int_equal(
	        route_enqueue(f.r, "10", "11", "chat", 0, 0, "", on_reply, &a),
	        0);
	wait_reply(&f, &a);
	assert_int_equal(a.ok, 1);
	/* Recorded by the caller at once, its entry deleted after COMMIT. */
	assert_true(sb_run_until(&f.loop, stream_empty, NULL, 3000));
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events "
	                         "WHERE conversation_id = 10 AND kind = "
	                         "'route.queued' AND detail->>'drained' IS "
	                         "NULL"),
	                 1);
	fx_close(&f);
}

/*
 * An instance dies between its decisions and their COMMIT: the drainer of
 * a live instance records them from the stream (item 4), and a desk that
 * opens meanwhile is told of the assignment only once it is committed
 * (item 7).
 */
static void
test_drainer_records_a_dead_instances_decisions(void **st)
{
	struct reply a = {0};
	struct held h = {0};
	struct seen_arg sa;
	struct pg_cond pc;
	struct fx f;

	(void)st;
	fx_open(&f);
	fresh_epoch(&f);
	assert_int_equal(
	        route_advisor_login(f.r, "104", "available", "", on_reply, &a),
	        0);
	wait_reply(&f, &a);
	assert_int_equal(a.ok, 1);
	/* queued and offered to 104, then accepted: nothing recorded. */
	dead_instance(&f, "enqueue", "12", "11", "chat");
	dead_instance(&f, "accept", "12", "104", NULL);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events "
	                         "WHERE conversation_id = 12"),
	                 0);
	/* The desk of 104 opens now: its snapshot waits for the commit. */
	assert_int_equal(route_holding(f.r, "104", on_held_reply, &h), 0);
	pc.sql = "SELECT count(*) FROM conversation_events WHERE "
	         "conversation_id = 12 AND kind IN ('route.queued', "
	         "'route.offered', 'route.accepted') AND detail->>'drained' = "
	         "'true'";
	pc.want = 3;
	assert_true(sb_run_until(&f.loop, pg_is, &pc, 15000));
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 12 AND status = 'assigned' AND "
	                         "assigned_staff_id = 104"),
	                 1);
	/* Desks hear of the assignment now that it is committed. */
	sa.f = &f;
	sa.what = "accepted:12:104";
	assert_true(sb_run_until(&f.loop, seen_cond, &sa, 3000));
	assert_true(sb_run_until(&f.loop, reply_done, &h.r, 5000));
	assert_int_equal(h.r.ok, 1);
	assert_non_null(strstr(h.r.pairs, "accepted:12 "));
	assert_int_equal(h.committed, 1);
	assert_true(sb_run_until(&f.loop, stream_empty, NULL, 3000));
	/* Drained again (another drainer, a retry): nothing is added. */
	dead_instance(&f, "release", "12", "closed", "");
	pc.sql = "SELECT count(*) FROM conversations WHERE id = 12 AND "
	         "status = 'closed'";
	pc.want = 1;
	assert_true(sb_run_until(&f.loop, pg_is, &pc, 15000));
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events "
	                         "WHERE conversation_id = 12"),
	                 4);
	fx_close(&f);
}

/*
 * The rebuild reads PostgreSQL without a settling time (item 5): an
 * acceptance decided in the old state but held back in its writer reaches
 * PostgreSQL only after the rebuild read it, and is refused there.
 */
static void
test_late_old_epoch_acceptance_refused(void **st)
{
	struct reply c = {0}, d = {0};
	struct places pl = {0};
	const char *convs[1] = {"13"};
	struct newer n;
	uint64_t t0, took;
	char cmd[128];
	struct fx f;

	(void)st;
	fx_open(&f);
	offered_to_104(&f, "13");
	/* The acceptance is decided, its statement held back 6 s. */
	db_commit_set_linger(f.w, 6000);
	assert_int_equal(route_accept(f.r, "13", "104", on_reply, &c), 0);
	sb_run_for(&f.loop, 100);
	assert_false(c.done);
	/* Redis loses its state meanwhile: routing is rebuilt. */
	n.f = &f;
	n.than = route_epoch(f.r);
	snprintf(cmd, sizeof(cmd), "redis-cli -p %d FLUSHALL >/dev/null",
	         redis.port);
	assert_int_equal(system(cmd), 0);
	t0 = uv_now(&f.loop);
	assert_int_equal(
	        route_enqueue(f.r, "14", "11", "chat", 0, 0, "", on_reply, &d),
	        0);
	assert_true(sb_run_until(&f.loop, newer_epoch_ready, &n, 15000));
	took = uv_now(&f.loop) - t0;
	/* Read without waiting for it (it had not landed yet) ... */
	assert_false(c.done);
	assert_true(took < 2500);
	/* ... and it lands refused: the rebuilt state never had it. */
	assert_true(sb_run_until(&f.loop, reply_done, &c, 15000));
	db_commit_set_linger(f.w, 0);
	assert_int_equal(c.ok, 0);
	assert_non_null(strstr(c.err, "SUPERSEDED routing was rebuilt"));
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events "
	                         "WHERE conversation_id = 13 AND kind = "
	                         "'route.accepted' AND "
	                         "detail->>'applied' = 'false'"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 13 AND status = 'waiting'"),
	                 1);
	assert_int_equal(route_positions(f.r, "11", convs, 1, on_places, &pl),
	                 0);
	assert_true(sb_run_until(&f.loop, places_done, &pl, 5000));
	assert_true(pl.pos[0] > 0);
	fx_close(&f);
}

/*
 * After-contact work (item 11): an assigned conversation that ends stays
 * counted against its advisor (route.ended moves the row to wrap_up) until
 * the sweep frees it at its deadline (route.acw_expired, the row stays
 * wrap_up), survives a rebuild from PostgreSQL meanwhile, and is freed at
 * once by the advisor's wrap-up.
 */
static void
test_after_contact_work(void **st)
{
	struct reply c = {0}, d = {0}, e = {0}, g = {0}, h = {0}, k = {0};
	struct reply m = {0};
	struct pg_cond pc;
	struct fx f;

	(void)st;
	assert_int_equal(sb_pg_exec(&pg, "UPDATE queue_channels SET wrap_up_s "
	                                 "= 4 WHERE queue_id = 11 AND channel "
	                                 "= 'chat'"),
	                 0);
	fx_open(&f);
	offered_to_104(&f, "15");
	assert_int_equal(route_accept(f.r, "15", "104", on_reply, &c), 0);
	wait_reply(&f, &c);
	assert_int_equal(c.ok, 1);
	assert_int_equal(route_end(f.r, "15", "later", on_reply, &d), -1);
	assert_int_equal(route_end(f.r, "15", "closed", on_reply, &d), 0);
	wait_reply(&f, &d);
	assert_int_equal(d.ok, 1);
	assert_string_equal(d.kinds, "ended ");
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 15 AND status = 'wrap_up' AND "
	                         "assigned_staff_id = 104"),
	                 1);
	assert_int_equal(pg_long("SELECT count(*) FROM conversation_events "
	                         "WHERE conversation_id = 15 AND kind = "
	                         "'route.ended' AND detail->>'why' = 'closed' "
	                         "AND (detail->>'deadline_ms')::bigint > "
	                         "extract(epoch FROM now()) * 1000"),
	                 1);
	/* Ending it again does nothing. */
	assert_int_equal(route_end(f.r, "15", "closed", on_reply, &e), 0);
	wait_reply(&f, &e);
	assert_int_equal(e.ok, 1);
	assert_string_equal(e.kinds, "");
	/* Redis loses its state: the hold is restored from PostgreSQL. */
	fresh_epoch(&f);
	assert_int_equal(
	        route_advisor_login(f.r, "104", "available", "", on_reply, &g),
	        0);
	wait_reply(&f, &g);
	assert_int_equal(route_holding(f.r, "104", on_reply, &h), 0);
	wait_reply(&f, &h);
	assert_non_null(strstr(h.pairs, "ended:15 "));
	/* At its deadline the sweep frees it; the row stays wrap_up. */
	pc.sql = "SELECT count(*) FROM conversation_events WHERE "
	         "conversation_id = 15 AND kind = 'route.acw_expired'";
	pc.want = 1;
	assert_true(sb_run_until(&f.loop, pg_is, &pc, 15000));
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 15 AND status = 'wrap_up' AND "
	                         "assigned_staff_id = 104"),
	                 1);
	/* A wrap-up ends the hold at once and closes the row. */
	assert_int_equal(
	        route_enqueue(f.r, "16", "11", "chat", 0, 0, "", on_reply, &k),
	        0);
	wait_reply(&f, &k);
	memset(&c, 0, sizeof(c));
	assert_int_equal(route_accept(f.r, "16", "104", on_reply, &c), 0);
	wait_reply(&f, &c);
	memset(&d, 0, sizeof(d));
	assert_int_equal(route_end(f.r, "16", "closed", on_reply, &d), 0);
	wait_reply(&f, &d);
	assert_string_equal(d.kinds, "ended ");
	assert_int_equal(
	        route_release_by(f.r, "16", "closed", "104", on_reply, &m), 0);
	wait_reply(&f, &m);
	assert_int_equal(m.ok, 1);
	assert_string_equal(m.kinds, "released ");
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 16 AND status = 'closed'"),
	                 1);
	/* Never assigned: released as before. */
	memset(&k, 0, sizeof(k));
	assert_int_equal(
	        route_advisor_status(f.r, "104", "away", "", on_reply, &k), 0);
	wait_reply(&f, &k);
	memset(&k, 0, sizeof(k));
	assert_int_equal(
	        route_enqueue(f.r, "17", "11", "chat", 0, 0, "", on_reply, &k),
	        0);
	wait_reply(&f, &k);
	memset(&d, 0, sizeof(d));
	assert_int_equal(route_end(f.r, "17", "abandoned", on_reply, &d), 0);
	wait_reply(&f, &d);
	assert_string_equal(d.kinds, "released ");
	assert_int_equal(pg_long("SELECT count(*) FROM conversations WHERE "
	                         "id = 17 AND status = 'closed'"),
	                 1);
	assert_int_equal(sb_pg_exec(&pg, "UPDATE queue_channels SET wrap_up_s "
	                                 "= 60 WHERE queue_id = 11"),
	                 0);
	fx_close(&f);
}

/*
 * The instance holding the rebuild lock dies mid-rebuild: once its lock
 * lapses (it is no longer renewed), a waiting instance rebuilds instead
 * of waiting for an epoch that never comes.
 */
static void
test_rebuild_taken_over_when_its_instance_dies(void **st)
{
	struct places pl = {0};
	const char *convs[1] = {"1"};
	struct newer n;
	char cmd[160];
	struct fx f;

	(void)st;
	fx_open(&f);
	n.f = &f;
	n.than = route_epoch(f.r);
	snprintf(cmd, sizeof(cmd),
	         "redis-cli -p %d FLUSHALL >/dev/null && redis-cli -p %d SET "
	         "sb:rebuild ghost PX 1500 >/dev/null",
	         redis.port, redis.port);
	assert_int_equal(system(cmd), 0);
	route_positions(f.r, "11", convs, 1, on_places, &pl);
	sb_run_for(&f.loop, 500);
	assert_false(route_ready(f.r));
	assert_true(sb_run_until(&f.loop, newer_epoch_ready, &n, 10000));
	fx_close(&f);
}

/* An entry of many events (a sweep, a settings change) is drained whole. */
static void
test_drainer_records_a_large_entry(void **st)
{
	char cmd[8192], *p;
	unsigned long long v;
	struct pg_cond pc;
	size_t len;
	struct fx f;
	int i;

	(void)st;
	fx_open(&f);
	fresh_epoch(&f);
	v = (route_epoch(f.r) << 32) + 100000;
	len = (size_t)snprintf(cmd, sizeof(cmd),
	                       "redis-cli -p %d XADD sb:events 1-1 e '[",
	                       redis.port);
	for (i = 0; i < 100; i++) {
		p = cmd + len;
		len += (size_t)snprintf(
		        p, sizeof(cmd) - len,
		        "%s[\"status\",\"\",\"104\",\"test-9\",\"%llu\","
		        "\"away\",\"drain%d\"]",
		        i ? "," : "", v + (unsigned long long)i, i);
	}
	snprintf(cmd + len, sizeof(cmd) - len, "]' >/dev/null");
	assert_int_equal(system(cmd), 0);
	pc.sql = "SELECT count(*) FROM staff_status_events WHERE staff_id = "
	         "104 AND reason LIKE 'drain%'";
	pc.want = 100;
	assert_true(sb_run_until(&f.loop, pg_is, &pc, 15000));
	assert_true(sb_run_until(&f.loop, stream_empty, NULL, 3000));
	fx_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_route_flow),
	        cmocka_unit_test(test_capacity_reject_and_rebuild),
	        cmocka_unit_test(test_stale_decision_not_applied),
	        cmocka_unit_test(test_old_epoch_keys_collected),
	        cmocka_unit_test(test_bad_ids_refused),
	        cmocka_unit_test(test_lost_writes_rebuilt),
	        cmocka_unit_test(test_old_epoch_fenced_after_bump),
	        cmocka_unit_test(test_rebuild_waits_for_open_transactions),
	        cmocka_unit_test(test_stream_entry_deleted_once_recorded),
	        cmocka_unit_test(
	                test_drainer_records_a_dead_instances_decisions),
	        cmocka_unit_test(test_late_old_epoch_acceptance_refused),
	        cmocka_unit_test(test_after_contact_work),
	        cmocka_unit_test(
	                test_rebuild_taken_over_when_its_instance_dies),
	        cmocka_unit_test(test_drainer_records_a_large_entry),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
