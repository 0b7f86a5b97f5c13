/*
 * wallboard.c: the supervisors' wallboard over the desk protocol
 * (docs/routing-protocol.md, "Wallboard"). Desks of supervisors and admins
 * send wallboard.watch; while any desk of this instance watches, the live
 * part is read from PostgreSQL in one statement every WALLBOARD_EVERY_MS
 * and today's figures in another every WALLBOARD_TODAY_MS, and the board
 * is sent to the watchers when it changed (and at once to a desk that
 * starts watching). Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "idmap.h"
#include "log.h"
#include "wallboard.h"
#include "xmalloc.h"

#define WALLBOARD_EVERY_MS 2000
#define WALLBOARD_TODAY_MS 10000

/*
 * What changes every second, read every WALLBOARD_EVERY_MS while anyone
 * watches. Per queue: waiting now, and since when the oldest waits (a
 * time, so the board does not change by itself: the desk counts the
 * wait). Per advisor signed in (latest status not offline): status and
 * since when, live conversations and capacity per channel.
 */
static const char LIVE_SQL[] =
        "WITH live AS (SELECT queue_id, count(*) AS waiting,"
        "  (extract(epoch FROM min(queued_at)) * 1000)::bigint AS oldest"
        "  FROM conversations WHERE status IN ('waiting', 'offered')"
        "  GROUP BY queue_id),"
        " st AS (SELECT u.id, u.display_name, s.status, s.reason, s.at"
        "  FROM staff_users u JOIN LATERAL (SELECT e.status, e.reason, e.at"
        "   FROM staff_status_events e WHERE e.staff_id = u.id"
        "   ORDER BY e.route_version DESC LIMIT 1) s ON true"
        "  WHERE NOT u.disabled AND s.status <> 'offline'),"
        " load AS (SELECT id, json_object_agg(channel, n) AS j"
        "  FROM (SELECT assigned_staff_id AS id, channel, count(*) AS n"
        "   FROM conversations WHERE status IN ('assigned', 'wrap_up')"
        "   AND assigned_staff_id IS NOT NULL GROUP BY 1, 2) x GROUP BY id),"
        " cap AS (SELECT st.id, json_object_agg(cs.channel,"
        "   coalesce(sc.capacity, cs.default_capacity)) AS j"
        "  FROM st CROSS JOIN channel_settings cs LEFT JOIN staff_capacity sc"
        "   ON sc.staff_id = st.id AND sc.channel = cs.channel"
        "  GROUP BY st.id)"
        " SELECT json_build_object("
        "  'queues', (SELECT coalesce(json_agg(json_build_object("
        "   'queue', q.id::text, 'slug', q.slug, 'name', q.name,"
        "   'waiting', coalesce(live.waiting, 0),"
        "   'oldest_since_ms', live.oldest)"
        "   ORDER BY q.priority DESC, q.name), '[]')"
        "   FROM queues q LEFT JOIN live ON live.queue_id = q.id"
        "   WHERE q.active),"
        "  'advisors', (SELECT coalesce(json_agg(json_build_object("
        "   'staff', st.id, 'name', st.display_name, 'status', st.status,"
        "   'reason', st.reason, 'since_ms',"
        "   (extract(epoch FROM st.at) * 1000)::bigint,"
        "   'load', coalesce(load.j, '{}'), 'capacity', cap.j)"
        "   ORDER BY st.display_name, st.id), '[]') FROM st"
        "   LEFT JOIN load ON load.id = st.id"
        "   LEFT JOIN cap ON cap.id = st.id))::text";

/*
 * Today's figures per queue (since midnight in the council's zone):
 * answered (accepted events) and how many within the queue's answer
 * target for their channel, abandoned (released while waiting). They
 * scan the day's routing history, so they are read every
 * WALLBOARD_TODAY_MS only. One JSON object: queue id -> figures.
 */
static const char TODAY_SQL[] =
        "WITH t AS (SELECT (date_trunc('day', now() AT TIME ZONE z.tz)"
        "   AT TIME ZONE z.tz) AS t0"
        "  FROM (SELECT coalesce((SELECT timezone FROM councils"
        "   WHERE id = 1), 'Europe/London') AS tz) z),"
        " ans AS (SELECT e.queue_id, count(*) AS answered,"
        "  count(*) FILTER (WHERE (e.detail->>'waited_ms')::bigint"
        "   <= qc.answer_target_s * 1000::bigint) AS in_target"
        "  FROM conversation_events e JOIN queue_channels qc"
        "   ON qc.queue_id = e.queue_id AND qc.channel = e.detail->>'channel'"
        "  WHERE e.kind = 'route.accepted' AND e.at >= (SELECT t0 FROM t)"
        "  GROUP BY e.queue_id),"
        " ab AS (SELECT queue_id, count(*) AS abandoned"
        "  FROM conversation_events WHERE kind = 'route.released'"
        "  AND detail->>'why' = 'abandoned' AND at >= (SELECT t0 FROM t)"
        "  GROUP BY queue_id)"
        " SELECT coalesce(json_object_agg(q.id, json_build_object("
        "  'answered', coalesce(ans.answered, 0),"
        "  'answered_in_target', coalesce(ans.in_target, 0),"
        "  'service_level_pct', CASE WHEN ans.answered > 0 THEN"
        "   round(100.0 * ans.in_target / ans.answered, 1) END,"
        "  'abandoned', coalesce(ab.abandoned, 0))), '{}')::text"
        " FROM queues q LEFT JOIN ans ON ans.queue_id = q.id"
        " LEFT JOIN ab ON ab.queue_id = q.id WHERE q.active";

struct wallboard {
	uv_loop_t *loop;
	struct gw_http *http;
	struct db *db;
	struct idmap *watchers; /* conn -> itself */
	char *last;             /* the last wallboard sent (its JSON) */
	json_t *today;          /* today's figures per queue, last read */
	uint64_t today_at;      /* loop ms they were read (0: never) */
	int today_inflight;
	uint64_t today_started; /* hrtime µs the today read was sent */
	uv_timer_t tick;
	int inflight;
	int fresh; /* a new watcher waits for a read */
	unsigned long reads;
	uint64_t read_us; /* time spent waiting for reads, total */
	uint64_t started;
};

struct send_pass {
	struct wallboard *wb;
	const char *text;
};

static void
send_one(void *arg, uint64_t conn, void *value)
{
	struct send_pass *sp = arg;

	(void)value;
	gw_http_ws_send_text(sp->wb->http, (unsigned long)conn, sp->text);
}

/* Today's figures into each queue of board (a JSON object). */
static void
merge_today(struct wallboard *wb, json_t *board)
{
	json_t *queues = json_object_get(board, "queues"), *q, *t, *zero;
	size_t i;

	zero = json_pack("{s:i, s:i, s:n, s:i}", "answered", 0,
	                 "answered_in_target", 0, "service_level_pct",
	                 "abandoned", 0);
	json_array_foreach(queues, i, q)
	{
		t = wb->today != NULL
		            ? json_object_get(wb->today,
		                              json_string_value(json_object_get(
		                                      q, "queue")))
		            : NULL;
		json_object_update(q, t != NULL ? t : zero);
	}
	json_decref(zero);
}

static void
on_today(void *arg, PGresult *res, const char *err)
{
	struct wallboard *wb = arg;
	json_t *t;

	wb->today_inflight = 0;
	gw_debug("wallboard.today", "us=%llu",
	         (unsigned long long)(uv_hrtime() / 1000 - wb->today_started));
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1 ||
	    (t = json_loads(PQgetvalue(res, 0, 0), 0, NULL)) == NULL) {
		gw_warn("wallboard.today_failed", "reason=\"%s\"",
		        err ? err : "?");
		return;
	}
	json_decref(wb->today);
	wb->today = t;
}

static void
on_read(void *arg, PGresult *res, const char *err)
{
	struct wallboard *wb = arg;
	struct send_pass sp = {wb, NULL};
	uint64_t us = uv_hrtime() / 1000 - wb->started;
	json_t *board;
	char *text, *btext;
	uv_timeval64_t tv;

	wb->inflight = 0;
	wb->reads++;
	wb->read_us += us;
	gw_debug("wallboard.read", "us=%llu bytes=%d watchers=%zu",
	         (unsigned long long)us,
	         res != NULL && PQntuples(res) == 1 ? PQgetlength(res, 0, 0)
	                                            : 0,
	         idmap_count(wb->watchers));
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1 ||
	    (board = json_loads(PQgetvalue(res, 0, 0), 0, NULL)) == NULL) {
		gw_warn("wallboard.read_failed", "reason=\"%s\"",
		        err ? err : "?");
		return;
	}
	merge_today(wb, board);
	btext = json_dumps(board, JSON_COMPACT);
	json_decref(board);
	if (btext == NULL)
		return;
	/* Unix ms, like oldest_since_ms and since_ms (uv_now is not). */
	if (uv_gettimeofday(&tv) != 0)
		tv.tv_sec = tv.tv_usec = 0;
	text = xasprintf("{\"type\":\"wallboard\",\"at\":%lld,\"board\":%s}",
	                 (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000,
	                 btext);
	free(btext);
	/* Unchanged since the last push (its time aside): not sent again. */
	if (!wb->fresh && wb->last != NULL &&
	    strcmp(strstr(wb->last, "\"board\""), strstr(text, "\"board\"")) ==
	            0) {
		free(text);
		return;
	}
	wb->fresh = 0;
	free(wb->last);
	wb->last = text;
	sp.text = text;
	idmap_each(wb->watchers, send_one, &sp);
}

static void
read_now(struct wallboard *wb)
{
	uint64_t now = uv_now(wb->loop);

	if (idmap_count(wb->watchers) == 0 || !db_ready(wb->db))
		return;
	/* Sent first: the live read that follows uses its answer. */
	if (!wb->today_inflight &&
	    (wb->today_at == 0 || now - wb->today_at >= WALLBOARD_TODAY_MS) &&
	    db_query(wb->db, TODAY_SQL, 0, NULL, on_today, wb) == 0) {
		wb->today_inflight = 1;
		wb->today_at = now;
		wb->today_started = uv_hrtime() / 1000;
	}
	if (wb->inflight)
		return;
	wb->started = uv_hrtime() / 1000;
	if (db_query(wb->db, LIVE_SQL, 0, NULL, on_read, wb) == 0)
		wb->inflight = 1;
}

static void
on_tick(uv_timer_t *t)
{
	read_now(t->data);
}

struct wallboard *
wallboard_new(uv_loop_t *loop, struct gw_http *http, struct db *db)
{
	struct wallboard *wb = xcalloc(1, sizeof(*wb));

	wb->loop = loop;
	wb->http = http;
	wb->db = db;
	wb->watchers = idmap_new();
	uv_timer_init(loop, &wb->tick);
	wb->tick.data = wb;
	uv_timer_start(&wb->tick, on_tick, WALLBOARD_EVERY_MS,
	               WALLBOARD_EVERY_MS);
	return wb;
}

void
wallboard_watch(struct wallboard *wb, unsigned long conn, int on)
{
	if (!on) {
		idmap_del(wb->watchers, conn);
		return;
	}
	idmap_put(wb->watchers, conn, wb);
	/* The newcomer gets the board now: the last one read, else a read. */
	if (wb->last != NULL) {
		gw_http_ws_send_text(wb->http, conn, wb->last);
	} else {
		wb->fresh = 1;
		read_now(wb);
	}
}

void
wallboard_stats(const struct wallboard *wb, unsigned long *reads,
                uint64_t *read_us)
{
	*reads = wb->reads;
	*read_us = wb->read_us;
}

static void
wallboard_closed(uv_handle_t *h)
{
	struct wallboard *wb = h->data;

	idmap_free(wb->watchers);
	free(wb->last);
	json_decref(wb->today);
	free(wb);
}

void
wallboard_free(struct wallboard *wb)
{
	if (wb != NULL)
		uv_close((uv_handle_t *)&wb->tick, wallboard_closed);
}
