/*
 * route_rebuild.c: makes a new routing epoch from PostgreSQL when Redis
 * has no routing state (restarted empty, flushed, or a fresh install).
 *
 * One instance wins the lock (SET sb:rebuild NX PX), bumps
 * router_state.epoch in PostgreSQL, loads queue settings, blending rules
 * and every conversation still in routing into keys of the new epoch with
 * the restore script, then publishes the epoch. The others wait for
 * sb:epoch to appear. Advisors then announce themselves again (the epoch
 * callback), which offers the waiting work. Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route-int.h"
#include "xmalloc.h"

/*
 * The rebuild lock lapses this long after its holder stopped renewing it
 * (it renews it every REBUILD_RENEW_MS while it rebuilds): an instance
 * killed while rebuilding holds routing up for at most that long, then a
 * waiting instance rebuilds instead.
 */
#define REBUILD_LOCK_MS  15000
#define REBUILD_RENEW_MS 5000
#define WAIT_POLL_MS     200
#define FENCE_POLL_MS    50
#define FENCE_MAX_MS     60000

static const char CONFIG_SQL[] =
        "SELECT"
        " (SELECT coalesce(string_agg(qc.queue_id || ':' || qc.channel || ':'"
        "   || qc.offer_timeout_s * 1000 || ':' || qc.routing_mode"
        "   || ':' || q.priority"
        "   || ':' || coalesce(q.overflow_queue_id::text, '')"
        "   || ':' || coalesce((q.overflow_after_s * 1000)::text, '')"
        "   || ':' || qc.refusal_cooldown_s * 1000"
        "   || ':' || qc.wrap_up_s * 1000,"
        "   ','), '')"
        "  FROM queue_channels qc JOIN queues q ON q.id = qc.queue_id"
        "  WHERE q.active),"
        " (SELECT coalesce(string_agg(busy_channel || '=' || blocked, ';'), '')"
        "  FROM (SELECT busy_channel, string_agg(blocked_channel, '|') AS "
        "blocked"
        "   FROM blending_rules GROUP BY busy_channel) b),"
        " (SELECT coalesce(string_agg(channel, ','), '')"
        "  FROM channel_settings WHERE live)";

/*
 * Versions restart above every earlier epoch's: max(stored, epoch << 32).
 * A vulnerable customer's conversation is raised 10 priority points.
 * A conversation in after-contact work (wrap_up, its route.ended deadline
 * still ahead) is loaded with that deadline, so a lost Redis does not free
 * its advisor's capacity early. wrap_up_s is at most an hour, and
 * route.ended set updated_at, so older wrap_up rows are not looked at.
 */
static const char CONVS_SQL[] =
        "SELECT c.id, c.queue_id, c.channel,"
        " least(100, c.priority + CASE WHEN cu.vulnerable THEN 10 ELSE 0 END),"
        " (extract(epoch FROM coalesce(c.queued_at, c.created_at)) * 1000)"
        "  ::bigint,"
        " c.status, coalesce(c.assigned_staff_id::text, ''),"
        " greatest(c.route_version, $1::bigint << 32),"
        " coalesce(acw.deadline::text, '')"
        " FROM conversations c JOIN customers cu ON cu.id = c.customer_id"
        " LEFT JOIN LATERAL (SELECT (e.detail->>'deadline_ms')::bigint"
        "   AS deadline FROM conversation_events e"
        "  WHERE e.conversation_id = c.id AND e.kind = 'route.ended'"
        "   AND e.route_version IS NOT NULL"
        "   AND (e.detail->>'applied')::boolean IS NOT FALSE"
        "  ORDER BY e.route_version DESC LIMIT 1) acw"
        "  ON c.status = 'wrap_up'"
        " WHERE c.queue_id IS NOT NULL"
        " AND (c.status IN ('waiting', 'offered', 'assigned')"
        "  OR (c.status = 'wrap_up' AND c.assigned_staff_id IS NOT NULL"
        "   AND c.updated_at > now() - interval '1 hour 1 minute'"
        "   AND acw.deadline > extract(epoch FROM now()) * 1000))";

static void rebuild_fail(struct route *r, const char *why);

/*
 * Whether a rebuild step's one-row answer can be used: the rebuild is
 * still on, and the query answered one row (else the rebuild fails).
 */
static int
rebuild_row(struct route *r, const PGresult *res, const char *err)
{
	if (r->state != ROUTE_REBUILDING)
		return 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		rebuild_fail(r, err ? err : "database unavailable");
		return 0;
	}
	return 1;
}

static void
on_settings_applied(void *arg, int ok, const char *err,
                    const struct route_event *ev, size_t n)
{
	struct route *r = arg;

	(void)ev;
	(void)n;
	if (!ok) {
		gw_warn("route.settings_failed", "reason=\"%s\"", err);
		return;
	}
	free(r->settings_applied);
	r->settings_applied = r->settings_sending;
	r->settings_sending = NULL;
	r->settings_epoch = r->epoch;
}

static void
on_settings(void *arg, PGresult *res, const char *err)
{
	struct route *r = arg;
	char maxm[16], grace[16], *key;
	int changed;

	r->settings_inflight = 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		gw_debug("route.settings_failed", "reason=\"%s\"",
		         err ? err : "?");
		return;
	}
	snprintf(maxm, sizeof(maxm), "%d", r->opt.max_missed);
	snprintf(grace, sizeof(grace), "%d", r->opt.grace_ms);
	key = xasprintf("%s\n%s\n%s\n%s\n%s", PQgetvalue(res, 0, 0),
	                PQgetvalue(res, 0, 1), maxm, grace,
	                PQgetvalue(res, 0, 2));
	changed = r->settings_applied == NULL ||
	          r->settings_epoch != r->epoch ||
	          strcmp(key, r->settings_applied) != 0;
	free(r->settings_sending);
	r->settings_sending = key;
	route_apply_settings(r, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
	                     maxm, grace, PQgetvalue(res, 0, 2), changed,
	                     on_settings_applied, r);
}

void
route_settings_refresh(struct route *r)
{
	if (r->state != ROUTE_READY || r->settings_inflight)
		return;
	if (db_query(r->db, CONFIG_SQL, 0, NULL, on_settings, r) == 0)
		r->settings_inflight = 1;
}

static int
restore(struct route *r, kv_reply_cb cb, int argc, const char **argv)
{
	size_t len[16];
	const char *full[16];
	char epoch[32];
	int i;

	snprintf(epoch, sizeof(epoch), "%llu", r->rebuild_epoch);
	full[0] = "EVALSHA";
	full[1] = r->sha[route_script_index("restore")];
	full[2] = "0";
	full[3] = epoch;
	full[4] = r->instance;
	for (i = 0; i < argc && i < 11; i++)
		full[5 + i] = argv[i];
	for (i = 0; i < 5 + argc; i++)
		len[i] = strlen(full[i]);
	return kv_command_argv(r->kv, cb, r, 5 + argc, full, len);
}

/*
 * Keys of older epochs are never read again: the instance that made the
 * new epoch deletes them in the background, SCAN by SCAN, so a rebuild
 * after a stale state (keys still there) leaves no garbage behind.
 */
static void gc_step(struct route *r, const char *cursor);

static void
on_gc_scan(void *arg, redisReply *reply)
{
	struct route *r = arg;
	const redisReply *keys;
	const char **argv;
	size_t i, n = 0, *lens;
	unsigned long long e;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 || r->state != ROUTE_READY)
		return;
	keys = reply->element[1];
	argv = xcalloc(keys->elements + 1, sizeof(char *));
	lens = xcalloc(keys->elements + 1, sizeof(size_t));
	argv[n] = "UNLINK";
	lens[n++] = 6;
	for (i = 0; i < keys->elements; i++) {
		const char *k = keys->element[i]->str;

		/* sb:<epoch>:... of an epoch older than ours */
		e = strtoull(k + 3, NULL, 10);
		if (e < r->epoch) {
			argv[n] = k;
			lens[n++] = keys->element[i]->len;
		}
	}
	if (n > 1) {
		kv_command_argv(r->kv, NULL, NULL, (int)n, argv, lens);
		r->gc_deleted += n - 1;
	}
	free(argv);
	free(lens);
	if (strcmp(reply->element[0]->str, "0") != 0)
		gc_step(r, reply->element[0]->str);
	else if (r->gc_deleted > 0)
		gw_info("route.gc", "epoch=%llu keys_deleted=%zu", r->epoch,
		        r->gc_deleted);
}

static void
gc_step(struct route *r, const char *cursor)
{
	kv_command(r->kv, on_gc_scan, r, "SCAN %s MATCH sb:[0-9]*:* COUNT 1000",
	           cursor);
}

static void
on_finished(void *arg, redisReply *reply)
{
	struct route *r = arg;
	char msg[64];

	if (r->state != ROUTE_REBUILDING)
		return;
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		rebuild_fail(r, reply ? reply->str : "redis unavailable");
		return;
	}
	gw_notice("route.rebuilt", "epoch=%llu", r->rebuild_epoch);
	uv_timer_stop(&r->lease);
	route_set_ready(r, r->rebuild_epoch);
	snprintf(msg, sizeof(msg), "{\"epoch\":%llu}", r->rebuild_epoch);
	kv_command(r->kv, NULL, NULL, "PUBLISH sb:route %s", msg);
	r->gc_deleted = 0;
	gc_step(r, "0");
}

/* One restore step done; the last one publishes the epoch. */
static void
rebuild_step_done(struct route *r)
{
	const char *argv[1] = {"finish"};

	if (--r->rebuild_pending == 0 && !r->rebuild_failed &&
	    restore(r, on_finished, 1, argv) != 0)
		rebuild_fail(r, "redis unavailable");
}

static void
on_restored(void *arg, redisReply *reply)
{
	struct route *r = arg;

	if (r->state != ROUTE_REBUILDING)
		return;
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		if (!r->rebuild_failed)
			rebuild_fail(r,
			             reply ? reply->str : "redis unavailable");
		r->rebuild_failed = 1;
		return;
	}
	rebuild_step_done(r);
}

static void
on_convs(void *arg, PGresult *res, const char *err)
{
	struct route *r = arg;
	const char *argv[10];
	int i, n;

	if (r->state != ROUTE_REBUILDING)
		return;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		rebuild_fail(r, err ? err : "database unavailable");
		return;
	}
	n = PQntuples(res);
	argv[0] = "conv";
	for (i = 0; i < n; i++) {
		argv[1] = PQgetvalue(res, i, 0);
		argv[2] = PQgetvalue(res, i, 1);
		argv[3] = PQgetvalue(res, i, 2);
		argv[4] = PQgetvalue(res, i, 3);
		argv[5] = PQgetvalue(res, i, 4);
		argv[6] = PQgetvalue(res, i, 5);
		argv[7] = PQgetvalue(res, i, 6);
		argv[8] = PQgetvalue(res, i, 7);
		argv[9] = PQgetvalue(res, i, 8);
		if (restore(r, on_restored, 10, argv) != 0) {
			rebuild_fail(r, "redis unavailable");
			return;
		}
		r->rebuild_pending++;
	}
	gw_info("route.rebuild_load", "epoch=%llu conversations=%d",
	        r->rebuild_epoch, n);
	/* Releases the guard step taken in on_config. */
	rebuild_step_done(r);
}

static void
on_config(void *arg, PGresult *res, const char *err)
{
	struct route *r = arg;
	char maxm[16], grace[16], epoch[32];
	const char *argv[6], *params[1] = {epoch};

	if (!rebuild_row(r, res, err))
		return;
	snprintf(maxm, sizeof(maxm), "%d", r->opt.max_missed);
	snprintf(grace, sizeof(grace), "%d", r->opt.grace_ms);
	argv[0] = "config";
	argv[1] = PQgetvalue(res, 0, 0);
	argv[2] = PQgetvalue(res, 0, 1);
	argv[3] = maxm;
	argv[4] = grace;
	argv[5] = PQgetvalue(res, 0, 2);
	/* One step for this restore, one guard until the list is sent. */
	r->rebuild_pending = 2;
	r->rebuild_failed = 0;
	if (restore(r, on_restored, 6, argv) != 0) {
		rebuild_fail(r, "redis unavailable");
		return;
	}
	snprintf(epoch, sizeof(epoch), "%llu", r->rebuild_epoch);
	if (db_query(r->db, CONVS_SQL, 1, params, on_convs, r) != 0)
		rebuild_fail(r, "database unavailable");
}

/*
 * The fence. Event statements read router_state.epoch without a lock and
 * apply nothing of an older epoch; a statement that read the old one
 * belongs to a transaction that was open when the increment committed.
 * Those are listed once it has (their virtual transaction ids, excluding
 * this connection's), and the rebuild reads nothing until all of them
 * ended: from then on nothing of the old epoch can change a conversation.
 * (A row lock on router_state in every event statement did the same, at
 * about 0.17 ms a statement: WAL and a dirtied page each time.)
 */
static const char FENCE_SQL[] =
        "SELECT coalesce(array_agg(virtualxid), '{}')::text FROM pg_locks"
        " WHERE locktype = 'virtualxid' AND granted"
        "  AND pid <> pg_backend_pid()";
static const char FENCE_OPEN_SQL[] =
        "SELECT count(*) FROM pg_locks WHERE locktype = 'virtualxid'"
        " AND granted AND virtualxid = ANY($1::text[])";

static void on_settled(uv_timer_t *t);

static void
on_fence_open(void *arg, PGresult *res, const char *err)
{
	struct route *r = arg;

	if (!rebuild_row(r, res, err))
		return;
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
		/*
		 * Some are still open: look again shortly. Not for ever: an
		 * event statement runs in a transaction of its own that ends
		 * within the query timeout (the connection is reset then),
		 * so one open this long is somebody's session left idle in a
		 * transaction, and it cannot write routing events.
		 */
		if (uv_now(r->loop) - r->rebuild_fence_at < FENCE_MAX_MS) {
			uv_timer_start(&r->wait, on_settled, FENCE_POLL_MS, 0);
			return;
		}
		gw_warn("route.rebuild_fence",
		        "open_transactions=%s waited_ms=%d reason=\"still "
		        "open; going on\"",
		        PQgetvalue(res, 0, 0), FENCE_MAX_MS);
	}
	if (db_query(r->db, CONFIG_SQL, 0, NULL, on_config, r) != 0)
		rebuild_fail(r, "database unavailable");
}

static void
on_settled(uv_timer_t *t)
{
	struct route *r = t->data;
	const char *params[1];

	if (r->state != ROUTE_REBUILDING)
		return;
	params[0] = r->rebuild_fence;
	if (db_query(r->db, FENCE_OPEN_SQL, 1, params, on_fence_open, r) != 0)
		rebuild_fail(r, "database unavailable");
}

static void
on_fence(void *arg, PGresult *res, const char *err)
{
	struct route *r = arg;

	if (!rebuild_row(r, res, err))
		return;
	free(r->rebuild_fence);
	r->rebuild_fence = xstrdup(PQgetvalue(res, 0, 0));
	r->rebuild_fence_at = uv_now(r->loop);
	/*
	 * No settling time: a decision of the old state that reaches
	 * PostgreSQL from now on (from any instance, however late) reads the
	 * new epoch and is recorded as not applied, so it cannot change what
	 * the rebuild reads; only those already running may, and they are
	 * the transactions just listed.
	 */
	on_settled(&r->wait);
}

static void
on_new_epoch(void *arg, PGresult *res, const char *err)
{
	struct route *r = arg;

	if (!rebuild_row(r, res, err))
		return;
	r->rebuild_epoch = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	gw_notice("route.rebuild", "epoch=%llu instance=%s", r->rebuild_epoch,
	          r->instance);
	if (db_query(r->db, FENCE_SQL, 0, NULL, on_fence, r) != 0)
		rebuild_fail(r, "database unavailable");
}

/* The epoch and whether a rebuild lock is held, read at once. */
static const char WAITED_LUA[] = "return {redis.call('GET', 'sb:epoch') or '',"
                                 " redis.call('EXISTS', 'sb:rebuild')}";

static void
on_waited_epoch(void *arg, redisReply *reply)
{
	struct route *r = arg;
	const redisReply *e;

	if (r->state != ROUTE_WAITING || reply == NULL ||
	    reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
		return;
	e = reply->element[0];
	/*
	 * A newer epoch than ours: when the rebuild follows a stale state
	 * (lost writes), sb:epoch still names the old one meanwhile.
	 */
	if (e->type == REDIS_REPLY_STRING && e->len > 0 &&
	    strtoull(e->str, NULL, 10) > r->epoch) {
		route_set_ready(r, strtoull(e->str, NULL, 10));
		return;
	}
	/*
	 * No new epoch and nobody holds the lock: the instance that was
	 * rebuilding died (or gave up). This one rebuilds instead.
	 */
	if (reply->element[1]->type == REDIS_REPLY_INTEGER &&
	    reply->element[1]->integer == 0) {
		gw_warn("route.rebuild_abandoned",
		        "reason=\"the rebuilding instance let its lock lapse; "
		        "rebuilding here\"");
		r->state = ROUTE_IDLE;
		route_rebuild_start(r);
	}
}

/* Keeps the rebuild lock while this instance holds it and rebuilds. */
static const char RENEW_LUA[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then"
        " return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

static void
on_lease_tick(uv_timer_t *t)
{
	struct route *r = t->data;
	char px[16];

	if (r->state != ROUTE_REBUILDING) {
		uv_timer_stop(&r->lease);
		return;
	}
	snprintf(px, sizeof(px), "%d", REBUILD_LOCK_MS);
	kv_command(r->kv, NULL, NULL, "EVAL %s 1 sb:rebuild %s %s", RENEW_LUA,
	           r->instance, px);
}

static void
on_wait_tick(uv_timer_t *t)
{
	struct route *r = t->data;

	if (r->state == ROUTE_WAITING)
		kv_command(r->kv, on_waited_epoch, r, "EVAL %s 0", WAITED_LUA);
	else if (r->state == ROUTE_IDLE && r->status != NULL &&
	         strncmp(r->status, "rebuild failed", 14) == 0)
		route_rebuild_start(r);
}

static void
on_lock(void *arg, redisReply *reply)
{
	struct route *r = arg;

	if (r->state != ROUTE_REBUILDING && r->state != ROUTE_WAITING)
		return;
	if (reply == NULL) {
		route_fail_state(r, "redis unavailable");
		return;
	}
	if (reply->type != REDIS_REPLY_STATUS) {
		/* Someone else rebuilds: wait for their epoch. */
		r->state = ROUTE_WAITING;
		r->status = "waiting for another instance to rebuild routing";
		uv_timer_start(&r->wait, on_wait_tick, WAIT_POLL_MS,
		               WAIT_POLL_MS);
		return;
	}
	uv_timer_start(&r->lease, on_lease_tick, REBUILD_RENEW_MS,
	               REBUILD_RENEW_MS);
	if (db_query(
	            r->db,
	            "UPDATE router_state SET epoch = epoch + 1 RETURNING epoch",
	            0, NULL, on_new_epoch, r) != 0)
		rebuild_fail(r, "database unavailable");
}

static void
rebuild_fail(struct route *r, const char *why)
{
	gw_error("route.rebuild_failed", "reason=\"%s\"", why);
	uv_timer_stop(&r->lease);
	kv_command(r->kv, NULL, NULL, "DEL sb:rebuild");
	route_fail_state(r, "rebuild failed; retrying");
	/* Retried from the wait timer. */
	uv_timer_start(&r->wait, on_wait_tick, 1000, 1000);
}

void
route_rebuild_start(struct route *r)
{
	char px[16];

	if (r->state == ROUTE_REBUILDING || r->state == ROUTE_WAITING)
		return;
	r->state = ROUTE_REBUILDING;
	r->status = "rebuilding routing state";
	uv_timer_stop(&r->wait);
	snprintf(px, sizeof(px), "%d", REBUILD_LOCK_MS);
	if (kv_command(r->kv, on_lock, r, "SET sb:rebuild %s NX PX %s",
	               r->instance, px) != 0)
		route_fail_state(r, "redis unavailable");
}
