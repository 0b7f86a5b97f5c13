/*
 * route.c: calls the routing scripts, records and publishes their events,
 * runs the offer/presence sweep and the desk heartbeat. See route.h.
 * Loop thread only. Replies find their call through a heap `struct call`
 * that also carries the router generation, so a reply arriving after
 * Redis went away is dropped harmlessly.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "route-int.h"
#include "xmalloc.h"

#define ROUTE_CHANNEL  "sb:route"
#define CALL_ARGS_MAX  300
#define PRESENCE_CHUNK 256
/* Queue settings changed in PostgreSQL take effect within this. */
#define SETTINGS_MS 5000

/*
 * Routing events in PostgreSQL, many per statement (a db_commit row set):
 * each conversation moves to the status of its newest event unless a newer
 * decision (higher route_version) is already there, it was closed (a
 * closing event wins over later ones of the same batch, as it would one
 * at a time), or the event's epoch is older than router_state's (a
 * rebuild has begun: what it reads must not change under it), and each
 * event is appended to its history once (retries add
 * nothing). The rows are locked in id order, so two instances' batches
 * cannot deadlock on each other. One result row per event: its position,
 * the recorded kind (NULL when it was recorded before), whether it
 * changed the conversation, the epoch of its version, and whether the
 * conversation exists.
 */
static const struct db_rows EVENT_ROWS = {
        "WITH ev AS (SELECT * FROM unnest($1::bigint[], $2::text[],"
        "  $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],"
        "  $7::bigint[], $8::jsonb[], $9::text[]) WITH ORDINALITY"
        "  AS e(conv, kind, status, assign, queue, version, staff, detail,"
        "   instance, n)),"
        /*
         * No lock: a rebuild, once its epoch increment committed, waits
         * for every transaction then open (it may have read the old
         * epoch) to end before it reads; statements after the increment
         * see the new epoch. So the fence is exact (route_rebuild.c).
         */
        " ep AS (SELECT epoch FROM router_state WHERE id = 1),"
        /*
         * FOR NO KEY UPDATE, the lock the UPDATE below takes anyway: it
         * does not wait for the key-share locks channels' inserts of
         * messages and events take on their conversation.
         */
        " cur AS (SELECT c.id, c.route_version, c.status"
        "  FROM conversations c WHERE c.id IN (SELECT conv FROM ev)"
        "  ORDER BY c.id FOR NO KEY UPDATE),"
        /* the first closing event of each conversation in the batch */
        " cl AS (SELECT conv, min(version) AS version FROM ev"
        "  WHERE status = 'closed' GROUP BY conv),"
        " fin AS (SELECT DISTINCT ON (conv) conv, status, assign, queue,"
        "  version FROM ev WHERE status IS NOT NULL"
        "   AND version >> 32 >= coalesce((SELECT epoch FROM ep), 0)"
        "  ORDER BY conv, status = 'closed' DESC, version DESC),"
        " upd AS (UPDATE conversations c SET"
        "  status = f.status,"
        "  assigned_staff_id = CASE WHEN f.status IN ('waiting', 'offered')"
        "   THEN NULL WHEN f.status = 'assigned' THEN f.assign"
        "   ELSE c.assigned_staff_id END,"
        "  queue_id = coalesce(f.queue, c.queue_id),"
        "  queued_at = CASE WHEN f.status = 'waiting'"
        "   THEN coalesce(c.queued_at, now()) ELSE c.queued_at END,"
        "  route_version = f.version,"
        /* both set here: the touch trigger is then not called */
        "  closed_at = CASE WHEN f.status = 'closed'"
        "   THEN coalesce(c.closed_at, now()) END,"
        "  updated_at = now()"
        "  FROM fin f JOIN cur ON cur.id = f.conv"
        "  WHERE c.id = f.conv AND cur.route_version < f.version"
        "   AND cur.status <> 'closed'"
        "  RETURNING c.id),"
        " ins AS (INSERT INTO conversation_events"
        "  (conversation_id, kind, staff_id, queue_id, route_version, detail)"
        "  SELECT e.conv, 'route.' || e.kind, e.staff, e.queue, e.version,"
        "   e.detail || jsonb_build_object('applied', CASE WHEN e.status"
        "    IS NULL THEN NULL ELSE cur.route_version < e.version"
        "    AND cur.status <> 'closed'"
        "    AND e.version >> 32 >= coalesce((SELECT epoch FROM ep), 0)"
        "    AND (cl.version IS NULL OR cl.version >= e.version) END,"
        "    'instance', e.instance)"
        "  FROM ev e JOIN cur ON cur.id = e.conv"
        "  LEFT JOIN cl ON cl.conv = e.conv ORDER BY e.n"
        "  ON CONFLICT (conversation_id, kind, route_version)"
        "   WHERE route_version IS NOT NULL DO NOTHING"
        "  RETURNING conversation_id, kind, route_version,"
        "   detail->>'applied' AS applied)"
        " SELECT e.n, i.kind, i.applied, i.route_version >> 32,"
        "  cur.id IS NOT NULL, (SELECT epoch FROM ep)"
        " FROM ev e LEFT JOIN cur ON cur.id = e.conv"
        " LEFT JOIN ins i ON i.conversation_id = e.conv"
        "  AND i.kind = 'route.' || e.kind AND i.route_version = e.version",
        9};

/*
 * Advisor status changes (row set): appended to staff_status_events in the
 * same version sequence as the conversation events. A retry adds nothing.
 * Result: n, whether the advisor exists.
 */
static const struct db_rows STATUS_ROWS = {
        "WITH ev AS (SELECT * FROM unnest($1::bigint[], $2::text[],"
        "  $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY"
        "  AS e(staff, status, reason, version, instance, n)),"
        " ins AS (INSERT INTO staff_status_events"
        "  (staff_id, status, reason, route_version, instance)"
        "  SELECT e.staff, e.status, left(e.reason, 64), e.version,"
        "   e.instance FROM ev e JOIN staff_users u ON u.id = e.staff"
        "  ORDER BY e.n"
        "  ON CONFLICT (staff_id, route_version) DO NOTHING)"
        " SELECT e.n, EXISTS (SELECT 1 FROM staff_users u"
        "  WHERE u.id = e.staff) FROM ev e",
        5};

static const char ADVISOR_SQL[] =
        "SELECT (SELECT string_agg(cs.channel || '=' ||"
        "   coalesce(sc.capacity, cs.default_capacity), ',')"
        "  FROM channel_settings cs LEFT JOIN staff_capacity sc"
        "   ON sc.channel = cs.channel AND sc.staff_id = $1::bigint),"
        " (SELECT coalesce(string_agg(queue_id || ':' || proficiency, ','), '')"
        "  FROM queue_members WHERE staff_id = $1::bigint),"
        " (SELECT disabled FROM staff_users WHERE id = $1::bigint)";

/* Owned copy of a reply's events. */
struct events {
	struct route_event *ev;
	size_t n;
	char **strs;
	size_t nstrs;
	const char *entry; /* the decision's sb:events entry id, or NULL */
};

enum call_kind {
	CALL_EVENTS = 0,
	CALL_POSITION,
	CALL_READ,   /* events that only describe state: not published, not
	                recorded */
	CALL_VIEW,   /* the queue view */
	CALL_SERVED, /* whether anyone serves a queue */
};

struct call {
	struct route *r;
	unsigned gen;
	enum call_kind kind;
	int script;
	int argc;
	char **argv;
	size_t *argvlen;
	int retried;
	route_reply_cb cb;
	route_positions_cb pcb;
	route_view_cb vcb;
	route_served_cb scb;
	void *arg;
	struct events events;
	struct route_entry *entry; /* its stream entry, once recorded */
	unsigned writes_pending;
	int write_failed;
	int publish_late; /* publish the events once their rows are committed */
	char err[256];
};

static void call_send(struct call *c);
static void on_hold_tick(uv_timer_t *t);
static void view_reply(struct call *c, const redisReply *reply);
static void check_counter(struct route *r, const struct events *e);

/* ---------------------------------------------------------------- util */

static int
is_id(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 19)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int
route_script_index(const char *name)
{
	unsigned i;

	for (i = 0; i < route_scripts_count && i < ROUTE_MAX_SCRIPTS; i++)
		if (strcmp(route_scripts[i].name, name) == 0)
			return (int)i;
	fatalx("routing script %s is not embedded", name);
}

static void
events_free(struct events *e)
{
	size_t i;

	for (i = 0; i < e->nstrs; i++)
		free(e->strs[i]);
	free(e->strs);
	free(e->ev);
	memset(e, 0, sizeof(*e));
}

static const char *
events_str(struct events *e, const char *s, size_t len)
{
	char *copy = xstrndup(s ? s : "", s ? len : 0);

	e->strs = xrealloc(e->strs, (e->nstrs + 1) * sizeof(char *));
	e->strs[e->nstrs++] = copy;
	return copy;
}

static const char *
reply_str(struct events *e, const redisReply *r)
{
	char num[32];

	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		return events_str(e, r->str, r->len);
	if (r->type == REDIS_REPLY_INTEGER) {
		snprintf(num, sizeof(num), "%lld", r->integer);
		return events_str(e, num, strlen(num));
	}
	return events_str(e, "", 0);
}

/* Copies the script's reply: an array of [kind, conv, adv, inst, v, ...]. */
static int
events_from_reply(struct events *e, const redisReply *reply)
{
	size_t i, k;

	if (reply->type != REDIS_REPLY_ARRAY)
		return -1;
	e->ev = xcalloc(reply->elements + 1, sizeof(struct route_event));
	for (i = 0; i < reply->elements; i++) {
		const redisReply *a = reply->element[i];
		struct route_event *ev = &e->ev[e->n];

		/* A decision's last element: its stream entry (emit). */
		if (a->type == REDIS_REPLY_STRING && i == reply->elements - 1) {
			e->entry = reply_str(e, a);
			continue;
		}
		if (a->type != REDIS_REPLY_ARRAY || a->elements < 5)
			continue;
		ev->kind = reply_str(e, a->element[0]);
		ev->conv = reply_str(e, a->element[1]);
		ev->advisor = reply_str(e, a->element[2]);
		ev->instance = reply_str(e, a->element[3]);
		ev->version = a->element[4]->type == REDIS_REPLY_INTEGER
		                      ? a->element[4]->integer
		                      : atoll(reply_str(e, a->element[4]));
		for (k = 5; k < a->elements && ev->nextra < ROUTE_EVENT_EXTRA;
		     k++)
			ev->extra[ev->nextra++] = reply_str(e, a->element[k]);
		e->n++;
	}
	return 0;
}

static json_t *
events_to_json(const struct route_event *ev, size_t n)
{
	json_t *arr = json_array(), *one;
	size_t i, k;

	for (i = 0; i < n; i++) {
		one = json_pack("[s,s,s,s,I]", ev[i].kind, ev[i].conv,
		                ev[i].advisor, ev[i].instance,
		                (json_int_t)ev[i].version);
		for (k = 0; k < ev[i].nextra; k++)
			json_array_append_new(one, json_string(ev[i].extra[k]));
		json_array_append_new(arr, one);
	}
	return arr;
}

/* ---------------------------------------------------------------- calls */

static struct call *
call_new(struct route *r, const char *script, route_reply_cb cb, void *arg)
{
	struct call *c = xcalloc(1, sizeof(*c));

	c->r = r;
	c->gen = r->gen;
	c->script = route_script_index(script);
	c->cb = cb;
	c->arg = arg;
	c->argv = xcalloc(CALL_ARGS_MAX, sizeof(char *));
	c->argvlen = xcalloc(CALL_ARGS_MAX, sizeof(size_t));
	/* EVALSHA sha 0 epoch ... : sha and epoch filled at send time. */
	c->argv[0] = xstrdup("EVALSHA");
	c->argv[1] = xstrdup("");
	c->argv[2] = xstrdup("0");
	c->argv[3] = xstrdup("");
	c->argc = 4;
	return c;
}

static void
call_arg(struct call *c, const char *s)
{
	if (c->argc >= CALL_ARGS_MAX)
		fatalx("routing call with too many arguments");
	c->argv[c->argc++] = xstrdup(s ? s : "");
}

static void
call_argf(struct call *c, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	call_arg(c, num);
}

static void
call_free(struct call *c)
{
	int i;

	for (i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c->argvlen);
	/* The call's own hold: the entry goes once every write is done. */
	route_entry_done(c->entry, 1);
	events_free(&c->events);
	free(c);
}

static void
call_finish(struct call *c, int ok, const char *err)
{
	if (c->kind == CALL_VIEW) {
		if (c->vcb != NULL)
			c->vcb(c->arg, 0, err, NULL);
	} else if (c->kind == CALL_SERVED) {
		if (c->scb != NULL)
			c->scb(c->arg, -1);
	} else if (c->kind == CALL_POSITION) {
		if (c->pcb != NULL)
			c->pcb(c->arg, 0, NULL, 0, 0, 0);
	} else if (c->cb != NULL) {
		c->cb(c->arg, ok, ok ? NULL : err, c->events.ev,
		      ok ? c->events.n : 0);
	}
	call_free(c);
}

static void
ignore_reply(void *arg, redisReply *reply)
{
	(void)arg;
	(void)reply;
}

/* The conversation status an event moves it to; NULL: unchanged. */
static const char *
status_for(const char *kind, const struct route_event *ev)
{
	if (strcmp(kind, "released") == 0) {
		/* Out of routing: a rebuild must not count it any more. */
		if (ev->nextra > 2 && strcmp(ev->extra[2], "wrapped") == 0)
			return "wrap_up";
		return "closed";
	}
	/*
	 * An offer, and its rejection or timeout, leave the conversation
	 * waiting in PostgreSQL: an offer lives in Redis (a rebuild makes it
	 * again), so only the event is recorded, and the conversation row
	 * (with its many indexes) is not rewritten twice per offer.
	 */
	if (strcmp(kind, "accepted") == 0)
		return "assigned";
	/*
	 * After-contact work: still the advisor's until wrapped up (the
	 * end of its hold, acw_expired, changes nothing here).
	 */
	if (strcmp(kind, "ended") == 0)
		return "wrap_up";
	if (strcmp(kind, "queued") == 0 || strcmp(kind, "requeued") == 0 ||
	    strcmp(kind, "transferred") == 0)
		return "waiting";
	return NULL;
}

/*
 * Whether a recorded event does not stand: an acceptance recorded after a
 * newer decision, or any decision of an epoch older than PostgreSQL's
 * (routing was rebuilt meanwhile from a state that did not include it).
 * Its caller must not be told it does; a desk learns what it holds in the
 * rebuilt state from the snapshot every desk is sent after a rebuild.
 */
static const char *
superseded(const PGresult *res, int row)
{
	int accepted;

	if (PQgetisnull(res, row, 1) ||
	    strcmp(PQgetvalue(res, row, 2), "false") != 0)
		return NULL;
	if (strtoull(PQgetvalue(res, row, 3), NULL, 10) <
	    strtoull(PQgetvalue(res, row, 5), NULL, 10))
		return "routing was rebuilt meanwhile";
	accepted = strcmp(PQgetvalue(res, row, 1), "route.accepted") == 0;
	return accepted ? "a newer routing decision was recorded" : NULL;
}

static void publish_events(struct route *r, const struct events *e);

/* Whether a decision assigned a conversation (accepted or picked). */
static int
has_assignment(const struct events *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->ev[i].kind, "accepted") == 0)
			return 1;
	return 0;
}

/*
 * Publishes a call's events once its rows are committed: an assignment
 * only when it stands (a superseded or unrecorded one never reaches a
 * desk: PostgreSQL does not give the advisor the conversation; the
 * drainer publishes it if it is recorded later).
 */
static void
publish_committed(struct call *c)
{
	struct events e = c->events;
	struct route_event *kept;
	size_t i, n = 0;

	if (!c->write_failed) {
		publish_events(c->r, &c->events);
		return;
	}
	kept = xcalloc(c->events.n + 1, sizeof(*kept));
	for (i = 0; i < c->events.n; i++)
		if (strcmp(c->events.ev[i].kind, "accepted") != 0)
			kept[n++] = c->events.ev[i];
	e.ev = kept;
	e.n = n;
	publish_events(c->r, &e);
	free(kept);
}

static void
on_event_written(void *arg, int ok, const PGresult *res, int row,
                 const char *err)
{
	struct call *c = arg;
	const char *why;

	route_entry_done(c->entry, ok);
	if (!ok) {
		c->write_failed = 1;
		snprintf(c->err, sizeof(c->err), "not recorded: %s", err);
		gw_error("route.record_failed", "reason=\"%s\"", err);
	} else if (res == NULL || row < 0 ||
	           strcmp(PQgetvalue(res, row, 4), "t") != 0) {
		c->write_failed = 1;
		snprintf(c->err, sizeof(c->err),
		         "not recorded: no such conversation");
		gw_error("route.record_failed",
		         "reason=\"no such conversation\"");
	} else if ((why = superseded(res, row)) != NULL) {
		c->write_failed = 1;
		snprintf(c->err, sizeof(c->err), "SUPERSEDED %s", why);
		gw_warn("route.superseded", "instance=%s kind=%s reason=\"%s\"",
		        c->r->instance, PQgetvalue(res, row, 1), why);
	}
	if (--c->writes_pending == 0) {
		if (c->publish_late)
			publish_committed(c);
		call_finish(c, !c->write_failed, c->err);
	}
}

/*
 * A history-only event (an offer, a rejection, a time-out: no row moves)
 * that was not recorded: logged (its stream entry stays for the drainer).
 * Nobody waits for these.
 */
static void
on_history_written(void *arg, int ok, const PGresult *res, int row,
                   const char *err)
{
	route_entry_done(arg, ok);
	if (!ok)
		gw_error("route.history_unrecorded", "reason=\"%s\"", err);
	else if (res == NULL || row < 0 ||
	         strcmp(PQgetvalue(res, row, 4), "t") != 0)
		gw_warn("route.history_unrecorded",
		        "reason=\"no such conversation\"");
}

/* The writer of a conversation's (or an advisor's) events. */
static struct db_commit *
writer_for(const struct route *r, const char *id)
{
	return r->w[strtoull(id, NULL, 10) % r->nw];
}

static void
on_status_written(void *arg, int ok, const PGresult *res, int row,
                  const char *err)
{
	struct call *c = arg;

	route_entry_done(c->entry, ok);
	if (!ok) {
		c->write_failed = 1;
		snprintf(c->err, sizeof(c->err), "not recorded: %s", err);
		gw_error("route.record_failed", "reason=\"%s\"", err);
	} else if (res == NULL || row < 0 ||
	           strcmp(PQgetvalue(res, row, 1), "t") != 0) {
		/* History of an advisor that does not exist: nothing to keep.
		 */
		gw_warn("route.status_unrecorded",
		        "reason=\"no such advisor\"");
	}
	if (--c->writes_pending == 0) {
		if (c->publish_late)
			publish_committed(c);
		call_finish(c, !c->write_failed, c->err);
	}
}

/* The detail column of a conversation event (JSON text, to free). */
static char *
event_detail(const struct route_event *ev, int drained)
{
	json_t *d;
	char *text;

	d = json_pack("{s:s, s:s}", "queue", ev->nextra > 0 ? ev->extra[0] : "",
	              "channel", ev->nextra > 1 ? ev->extra[1] : "");
	if (strcmp(ev->kind, "offered") == 0 && ev->nextra > 3)
		json_object_set_new(d, "waited_ms",
		                    json_integer(atoll(ev->extra[3])));
	if (strcmp(ev->kind, "accepted") == 0 && ev->nextra > 2)
		json_object_set_new(d, "waited_ms",
		                    json_integer(atoll(ev->extra[2])));
	/* Taken from the queue view rather than offered. */
	if (strcmp(ev->kind, "accepted") == 0 && ev->nextra > 3 &&
	    strcmp(ev->extra[3], "picked") == 0)
		json_object_set_new(d, "picked", json_true());
	/* An answered call (route_seize): the phone system gave it. */
	if (strcmp(ev->kind, "accepted") == 0 && ev->nextra > 3 &&
	    strcmp(ev->extra[3], "seized") == 0)
		json_object_set_new(d, "seized", json_true());
	if (strcmp(ev->kind, "overflowed") == 0 && ev->nextra > 2)
		json_object_set_new(d, "overflow_queue",
		                    json_string(ev->extra[2]));
	if ((strcmp(ev->kind, "released") == 0 ||
	     strcmp(ev->kind, "ended") == 0) &&
	    ev->nextra > 2)
		json_object_set_new(d, "why", json_string(ev->extra[2]));
	/* The status the advisor left 'available' for. */
	if (strcmp(ev->kind, "withdrawn") == 0 && ev->nextra > 2)
		json_object_set_new(d, "status", json_string(ev->extra[2]));
	if (strcmp(ev->kind, "ended") == 0 && ev->nextra > 3)
		json_object_set_new(d, "deadline_ms",
		                    json_integer(atoll(ev->extra[3])));
	/* Recorded from the stream by another instance (route_stream.c). */
	if (drained)
		json_object_set_new(d, "drained", json_true());
	text = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return text;
}

int
route_submit_event(struct route *r, const struct route_event *ev, int drained,
                   db_commit_row_cb cb, void *arg, db_commit_row_cb history_cb,
                   void *history_arg, const char **reason)
{
	const char *params[9], *st;
	char version[32], *detail;
	int rc;

	snprintf(version, sizeof(version), "%lld", ev->version);
	if (strcmp(ev->kind, "status") == 0) {
		if (!is_id(ev->advisor) || ev->version <= 0)
			return 0;
		params[0] = ev->advisor;
		params[1] = ev->nextra > 0 ? ev->extra[0] : "";
		params[2] = ev->nextra > 1 ? ev->extra[1] : "";
		params[3] = version;
		params[4] = r->instance;
		rc = db_commit_submit_row(writer_for(r, ev->advisor),
		                          &STATUS_ROWS, params, cb, arg,
		                          reason);
		return rc == 0 ? 1 : -1;
	}
	if (!is_id(ev->conv))
		return 0;
	st = status_for(ev->kind, ev);
	detail = event_detail(ev, drained);
	params[0] = ev->conv;
	params[1] = ev->kind;
	params[2] = st;
	params[3] =
	        st != NULL && strcmp(st, "assigned") == 0 && is_id(ev->advisor)
	                ? ev->advisor
	                : NULL;
	params[4] = ev->nextra > 0 && is_id(ev->extra[0]) ? ev->extra[0] : NULL;
	params[5] = version;
	params[6] = is_id(ev->advisor) ? ev->advisor : NULL;
	params[7] = detail;
	params[8] = r->instance;
	/*
	 * History only: the caller is not held for it, and it goes behind the
	 * decisions callers wait for (a burst of offers when many desks go
	 * available must not delay acceptances). Its version keeps its place
	 * in the history.
	 */
	if (st == NULL)
		rc = db_commit_submit_row_later(writer_for(r, ev->conv),
		                                &EVENT_ROWS, params, history_cb,
		                                history_arg, reason);
	else
		rc = db_commit_submit_row(writer_for(r, ev->conv), &EVENT_ROWS,
		                          params, cb, arg, reason);
	free(detail);
	if (rc != 0)
		return -1;
	return st == NULL ? 2 : 1;
}

/*
 * Records each event of a call: the caller waits for the rows that move a
 * conversation (and for status changes); history-only rows are written
 * behind. Each write holds the call's stream entry, deleted once all of
 * them are committed (route_stream.c). Returns how many writes the caller
 * waits for.
 */
static unsigned
record_events(struct call *c)
{
	const struct route_event *ev;
	const char *reason = NULL;
	unsigned queued = 0;
	size_t i;
	int rc;

	for (i = 0; i < c->events.n; i++) {
		ev = &c->events.ev[i];
		route_entry_hold(c->entry);
		rc = route_submit_event(
		        c->r, ev, 0,
		        strcmp(ev->kind, "status") == 0 ? on_status_written
		                                        : on_event_written,
		        c, on_history_written, c->entry, &reason);
		if (rc == 1) {
			queued++;
			c->writes_pending++;
		} else if (rc != 2) {
			route_entry_done(c->entry, rc == 0);
		}
		if (rc < 0) {
			c->write_failed = 1;
			snprintf(c->err, sizeof(c->err), "not recorded: %s",
			         reason);
			gw_error("route.record_failed",
			         "conv=%s kind=%s reason=\"%s\"", ev->conv,
			         ev->kind, reason);
		}
	}
	return queued;
}

static void
publish_events(struct route *r, const struct events *e)
{
	json_t *msg;
	char *text;

	if (e->n == 0)
		return;
	msg = json_pack("{s:I, s:s, s:o}", "epoch", (json_int_t)r->epoch,
	                "from", r->origin, "events",
	                events_to_json(e->ev, e->n));
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (text != NULL &&
	    kv_command(r->kv, ignore_reply, NULL, "PUBLISH %s %s",
	               ROUTE_CHANNEL, text) != 0)
		gw_warn("route.publish_failed", "events=%zu", e->n);
	free(text);
	/*
	 * This instance's own sockets hear of its decisions at once, not a
	 * Redis round trip later: its own messages on sb:route are skipped.
	 */
	if (r->event_cb != NULL)
		r->event_cb(r->cb_arg, e->ev, e->n);
}

void
route_publish(struct route *r, const struct route_event *ev, size_t n)
{
	struct events e;

	memset(&e, 0, sizeof(e));
	e.ev = (struct route_event *)ev;
	e.n = n;
	publish_events(r, &e);
}

static void
on_script_loaded(void *arg, redisReply *reply)
{
	struct call *c = arg;
	struct route *r = c->r;

	if (c->gen != r->gen || reply == NULL ||
	    reply->type != REDIS_REPLY_STRING) {
		call_finish(c, 0, "redis unavailable");
		return;
	}
	snprintf(r->sha[c->script], sizeof(r->sha[c->script]), "%s",
	         reply->str);
	call_send(c);
}

static void
on_call_reply(void *arg, redisReply *reply)
{
	struct call *c = arg;
	struct route *r = c->r;
	unsigned long long e;

	if (reply == NULL || c->gen != r->gen) {
		call_finish(c, 0, "redis unavailable");
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (strncmp(reply->str, "NOSCRIPT", 8) == 0 && !c->retried) {
			c->retried = 1;
			if (kv_command(r->kv, on_script_loaded, c,
			               "SCRIPT LOAD %s",
			               route_scripts[c->script].source) != 0)
				call_finish(c, 0, "redis unavailable");
			return;
		}
		if (strncmp(reply->str, "EPOCH ", 6) == 0 && !c->retried) {
			e = strtoull(reply->str + 6, NULL, 10);
			c->retried = 1;
			if (e > r->epoch) {
				route_set_ready(r, e);
				call_send(c);
				return;
			}
		}
		if (strncmp(reply->str, "NOEPOCH", 7) == 0) {
			route_rebuild_start(r);
			call_finish(c, 0, "routing state is being rebuilt");
			return;
		}
		call_finish(c, 0, reply->str);
		return;
	}
	if (c->kind == CALL_VIEW) {
		view_reply(c, reply);
		return;
	}
	if (c->kind == CALL_SERVED) {
		if (c->scb != NULL)
			c->scb(c->arg,
			       reply->type != REDIS_REPLY_INTEGER
			               ? -1
			               : (int)(reply->integer > 0) -
			                         (int)(reply->integer < 0));
		c->scb = NULL;
		call_free(c);
		return;
	}
	if (c->kind == CALL_POSITION) {
		size_t i, n = reply->type == REDIS_REPLY_ARRAY &&
		                              reply->elements >= 2
		                      ? reply->elements - 2
		                      : 0;
		long *pos = xcalloc(n + 1, sizeof(long));

		for (i = 0; i < n; i++)
			pos[i] = (long)reply->element[i + 2]->integer;
		if (c->pcb != NULL && n == (size_t)c->argc - 5)
			c->pcb(c->arg, 1, pos, n, reply->element[0]->integer,
			       (long)reply->element[1]->integer);
		else if (c->pcb != NULL)
			c->pcb(c->arg, 0, NULL, 0, 0, 0);
		c->pcb = NULL;
		free(pos);
		call_free(c);
		return;
	}
	if (events_from_reply(&c->events, reply) != 0) {
		call_finish(c, 0, "unexpected reply from routing script");
		return;
	}
	if (c->kind == CALL_READ) {
		call_finish(c, 1, NULL);
		return;
	}
	check_counter(r, &c->events);
	/*
	 * An assignment reaches desks (here and, through Redis, everywhere)
	 * once PostgreSQL has it: a desk told "assigned" at once reads the
	 * conversation as its own (chat.history, wrap-up), which PostgreSQL
	 * decides. Every other decision is published at once: an offer must
	 * not wait for a commit (routing latency), and nothing a desk does
	 * with it reads PostgreSQL first.
	 */
	c->publish_late = has_assignment(&c->events);
	if (!c->publish_late)
		publish_events(r, &c->events);
	c->entry = route_entry_new(r, c->events.entry);
	if (record_events(c) == 0) {
		if (c->publish_late)
			publish_committed(c);
		call_finish(c, !c->write_failed, c->err);
	}
}

static const char *
reply_text(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS
	               ? r->str
	               : "";
}

static long long
reply_ll(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	return r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
}

/* The waiting script's answer, to the view callback. */
static void
view_reply(struct call *c, const redisReply *reply)
{
	struct route_view v;
	struct route_view_item *items;
	const redisReply *e;
	size_t i, n = 0;

	memset(&v, 0, sizeof(v));
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
		call_finish(c, 0, "unexpected reply from routing script");
		return;
	}
	v.pulled = reply_ll(reply->element[0]);
	v.pushed = reply_ll(reply->element[1]);
	items = xcalloc(reply->elements, sizeof(*items));
	for (i = 2; i < reply->elements; i++) {
		e = reply->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 5)
			continue;
		items[n].conv = reply_text(e->element[0]);
		items[n].channel = reply_text(e->element[1]);
		items[n].waited_ms = reply_ll(e->element[2]);
		items[n].priority = (int)reply_ll(e->element[3]);
		items[n].mode = reply_text(e->element[4]);
		n++;
	}
	v.items = items;
	v.n = n;
	if (c->vcb != NULL)
		c->vcb(c->arg, 1, NULL, &v);
	c->vcb = NULL;
	free(items);
	call_free(c);
}

/* See route.max_seq: a decision counter going backwards. */
static void
check_counter(struct route *r, const struct events *e)
{
	unsigned long long v, seq;
	size_t i;

	for (i = 0; i < e->n; i++) {
		if (e->ev[i].version <= 0)
			continue;
		v = (unsigned long long)e->ev[i].version;
		if ((v >> 32) != r->epoch)
			continue;
		seq = v & 0xffffffffULL;
		if (seq > r->max_seq) {
			r->max_seq = seq;
			continue;
		}
		gw_error("route.lost_writes",
		         "epoch=%llu counter=%llu seen=%llu reason=\"Redis "
		         "answered with an older decision counter than it "
		         "already had; rebuilding from PostgreSQL\"",
		         r->epoch, seq, r->max_seq);
		r->max_seq = 0;
		route_rebuild_start(r);
		return;
	}
}

static void
call_send(struct call *c)
{
	struct route *r = c->r;
	char epoch[32];
	int i;

	free(c->argv[1]);
	c->argv[1] = xstrdup(r->sha[c->script]);
	snprintf(epoch, sizeof(epoch), "%llu", r->epoch);
	free(c->argv[3]);
	c->argv[3] = xstrdup(epoch);
	for (i = 0; i < c->argc; i++)
		c->argvlen[i] = strlen(c->argv[i]);
	if (kv_command_argv(r->kv, on_call_reply, c, c->argc,
	                    (const char **)c->argv, c->argvlen) != 0)
		call_finish(c, 0, "redis unavailable");
}

/* Sends a prepared call; -1 (and c freed, no callback) when not ready. */
static int
call_start(struct call *c)
{
	if (c->r->state != ROUTE_READY) {
		c->cb = NULL;
		c->pcb = NULL;
		c->vcb = NULL;
		c->scb = NULL;
		call_free(c);
		return -1;
	}
	call_send(c);
	return 0;
}

/* ---------------------------------------------------------------- ops */

int
route_enqueue(struct route *r, const char *conv, const char *queue,
              const char *channel, int priority, long long since_ms,
              const char *only, route_reply_cb cb, void *arg)
{
	struct call *c;

	if (!is_id(conv) || !is_id(queue) || (only && *only && !is_id(only)))
		return -1;
	c = call_new(r, "enqueue", cb, arg);
	call_arg(c, conv);
	call_arg(c, queue);
	call_arg(c, channel);
	call_argf(c, priority);
	call_argf(c, since_ms);
	call_argf(c, (long long)(r->epoch << 32));
	call_arg(c, only ? only : "");
	return call_start(c);
}

int
route_seize(struct route *r, const char *conv, const char *queue,
            const char *channel, long long since_ms, const char *advisor,
            route_reply_cb cb, void *arg)
{
	struct call *c;

	if (!is_id(conv) || !is_id(queue) || !is_id(advisor))
		return -1;
	c = call_new(r, "seize", cb, arg);
	call_arg(c, conv);
	call_arg(c, queue);
	call_arg(c, channel);
	call_argf(c, since_ms);
	call_arg(c, advisor);
	return call_start(c);
}

static int
conv_adv_op(struct route *r, const char *script, const char *conv,
            const char *advisor, route_reply_cb cb, void *arg)
{
	struct call *c;

	if (!is_id(conv) || !is_id(advisor))
		return -1;
	c = call_new(r, script, cb, arg);
	call_arg(c, conv);
	call_arg(c, advisor);
	return call_start(c);
}

int
route_accept(struct route *r, const char *conv, const char *advisor,
             route_reply_cb cb, void *arg)
{
	return conv_adv_op(r, "accept", conv, advisor, cb, arg);
}

int
route_pick(struct route *r, const char *conv, const char *advisor,
           route_reply_cb cb, void *arg)
{
	return conv_adv_op(r, "pick", conv, advisor, cb, arg);
}

int
route_waiting(struct route *r, const char *queue, const char *advisor,
              int limit, route_view_cb cb, void *arg)
{
	struct call *c;

	if (!is_id(queue) || (advisor != NULL && !is_id(advisor)))
		return -1;
	c = call_new(r, "waiting", NULL, arg);
	c->kind = CALL_VIEW;
	c->vcb = cb;
	call_arg(c, queue);
	call_arg(c, advisor != NULL ? advisor : "");
	call_argf(c, limit);
	return call_start(c);
}

int
route_reject(struct route *r, const char *conv, const char *advisor,
             route_reply_cb cb, void *arg)
{
	return conv_adv_op(r, "reject", conv, advisor, cb, arg);
}

int
route_release_by(struct route *r, const char *conv, const char *why,
                 const char *by, route_reply_cb cb, void *arg)
{
	struct call *c;

	if (!is_id(conv) || (by && *by && !is_id(by)))
		return -1;
	c = call_new(r, "release", cb, arg);
	call_arg(c, conv);
	call_arg(c, why);
	call_arg(c, by ? by : "");
	return call_start(c);
}

int
route_release(struct route *r, const char *conv, const char *why,
              route_reply_cb cb, void *arg)
{
	return route_release_by(r, conv, why, "", cb, arg);
}

int
route_end(struct route *r, const char *conv, const char *why, route_reply_cb cb,
          void *arg)
{
	struct call *c;

	if (!is_id(conv) || why == NULL ||
	    (strcmp(why, "closed") != 0 && strcmp(why, "abandoned") != 0))
		return -1;
	c = call_new(r, "finish", cb, arg);
	call_arg(c, conv);
	call_arg(c, why);
	return call_start(c);
}

int
route_transfer_by(struct route *r, const char *conv, const char *queue,
                  const char *advisor, const char *by, route_reply_cb cb,
                  void *arg)
{
	struct call *c;

	if (!is_id(conv) || (queue && *queue && !is_id(queue)) ||
	    (advisor && *advisor && !is_id(advisor)) ||
	    (by && *by && !is_id(by)))
		return -1;
	c = call_new(r, "transfer", cb, arg);
	call_arg(c, conv);
	call_arg(c, queue ? queue : "");
	call_arg(c, advisor ? advisor : "");
	call_arg(c, by ? by : "");
	return call_start(c);
}

int
route_transfer(struct route *r, const char *conv, const char *queue,
               const char *advisor, route_reply_cb cb, void *arg)
{
	return route_transfer_by(r, conv, queue, advisor, "", cb, arg);
}

int
route_positions(struct route *r, const char *queue, const char *const *convs,
                size_t n, route_positions_cb cb, void *arg)
{
	struct call *c;
	size_t i;

	if (!is_id(queue) || n == 0 || n > ROUTE_POSITIONS_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!is_id(convs[i]))
			return -1;
	c = call_new(r, "positions", NULL, arg);
	c->kind = CALL_POSITION;
	c->pcb = cb;
	call_arg(c, queue);
	for (i = 0; i < n; i++)
		call_arg(c, convs[i]);
	return call_start(c);
}

/*
 * What an advisor holds, told to a desk only once PostgreSQL has it: an
 * assignment still on its way (its caller's commit, or the drainer's when
 * its instance died) would let the desk ask chat.history of a
 * conversation PostgreSQL does not give the advisor yet. Such a snapshot
 * waits, the holding script asked again every HOLD_POLL_MS, until every
 * assignment in it is committed; after HOLD_MAX_MS (longer than the
 * drainer takes) the ones still missing are left out, and reach the desk
 * as conversation.assigned once committed, if ever.
 */
#define HOLD_POLL_MS 100
#define HOLD_MAX_MS  10000

/*
 * Which of the listed assignments ($1 ids, $2 versions) PostgreSQL has
 * for advisor $3: the row is theirs at that version or a later one (or a
 * rebuild restored it: counter 0, from PostgreSQL itself).
 */
static const char HELD_SQL[] =
        "SELECT h.id::text FROM unnest($1::bigint[], $2::bigint[]) AS h(id, v)"
        " JOIN conversations c ON c.id = h.id"
        " WHERE c.assigned_staff_id = $3::bigint"
        "  AND c.status IN ('assigned', 'wrap_up')"
        "  AND (c.route_version >= h.v OR h.v & 4294967295 = 0)";

struct hold {
	struct route *r;
	struct hold *next;
	char advisor[24];
	route_reply_cb cb;
	void *arg;
	uint64_t started;
	int waiting; /* for the poll timer */
	struct events events;
	/* Assignments PostgreSQL was found to have (decimal ids). */
	char **committed;
	size_t ncommitted;
};

static void hold_run(struct hold *h);

static void
hold_unlink(struct hold *h)
{
	struct hold **p;

	for (p = &h->r->holds; *p != NULL; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
}

static void
hold_free(struct hold *h)
{
	size_t i;

	for (i = 0; i < h->ncommitted; i++)
		free(h->committed[i]);
	free(h->committed);
	events_free(&h->events);
	free(h);
}

static void
hold_finish(struct hold *h, int ok, const char *err, const struct events *e)
{
	hold_unlink(h);
	if (h->cb != NULL)
		h->cb(h->arg, ok, err, ok ? e->ev : NULL, ok ? e->n : 0);
	hold_free(h);
}

static int
hold_committed(const struct hold *h, const char *conv)
{
	size_t i;

	for (i = 0; i < h->ncommitted; i++)
		if (strcmp(h->committed[i], conv) == 0)
			return 1;
	return 0;
}

/* Whether event i is an assignment PostgreSQL is not known to have. */
static int
hold_pending(const struct hold *h, size_t i)
{
	return strcmp(h->events.ev[i].kind, "accepted") == 0 &&
	       !hold_committed(h, h->events.ev[i].conv);
}

/*
 * Delivers the snapshot without the assignments PostgreSQL does not have
 * (HOLD_MAX_MS passed, or the advisor's desk opens while routing has an
 * acceptance that never stands).
 */
static void
hold_give_up(struct hold *h)
{
	struct events out = h->events;
	struct route_event *kept;
	size_t i, n = 0;

	kept = xcalloc(h->events.n + 1, sizeof(*kept));
	for (i = 0; i < h->events.n; i++)
		if (!hold_pending(h, i))
			kept[n++] = h->events.ev[i];
		else
			gw_warn("route.holding_uncommitted",
			        "advisor=%s conv=%s reason=\"not in PostgreSQL "
			        "yet; left out of the snapshot\"",
			        h->advisor, h->events.ev[i].conv);
	out.ev = kept;
	out.n = n;
	hold_finish(h, 1, NULL, &out);
	free(kept);
}

/*
 * PostgreSQL's answer: the listed assignments it has. When it has them
 * all, the holding script is asked once more and that answer delivered
 * (a snapshot then reaches the desk in the order of this instance's
 * other routing replies, not after events that followed it); the rest
 * are polled for.
 */
static void
on_held_checked(void *arg, PGresult *res, const char *err)
{
	struct hold *h = arg;
	struct route *r = h->r;
	size_t i;
	int k, missing = 0;

	(void)err;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* PostgreSQL cannot say: the desk gets what routing holds. */
		hold_finish(h, 1, NULL, &h->events);
		return;
	}
	for (k = 0; k < PQntuples(res); k++) {
		h->committed = xrealloc(h->committed,
		                        (h->ncommitted + 1) * sizeof(char *));
		h->committed[h->ncommitted++] = xstrdup(PQgetvalue(res, k, 0));
	}
	for (i = 0; i < h->events.n; i++)
		missing += hold_pending(h, i);
	if (missing == 0) {
		hold_run(h);
		return;
	}
	if (uv_now(r->loop) - h->started >= HOLD_MAX_MS ||
	    r->state != ROUTE_READY) {
		hold_give_up(h);
		return;
	}
	h->waiting = 1;
	if (!uv_is_active((uv_handle_t *)&r->hold_timer))
		uv_timer_start(&r->hold_timer, on_hold_tick, HOLD_POLL_MS, 0);
}

static void
on_held(void *arg, int ok, const char *err, const struct route_event *ev,
        size_t n)
{
	struct hold *h = arg;
	struct route *r = h->r;
	char *ids = NULL, *vers = NULL, *tmp, num[32];
	const char *params[3];
	size_t i;

	if (!ok) {
		hold_finish(h, 0, err, NULL);
		return;
	}
	events_free(&h->events);
	h->events.ev = xcalloc(n + 1, sizeof(struct route_event));
	for (i = 0; i < n; i++) {
		struct route_event *e = &h->events.ev[i];
		unsigned k;

		*e = ev[i];
		e->kind =
		        events_str(&h->events, ev[i].kind, strlen(ev[i].kind));
		e->conv =
		        events_str(&h->events, ev[i].conv, strlen(ev[i].conv));
		e->advisor = events_str(&h->events, ev[i].advisor,
		                        strlen(ev[i].advisor));
		e->instance = events_str(&h->events, ev[i].instance,
		                         strlen(ev[i].instance));
		for (k = 0; k < ev[i].nextra; k++)
			e->extra[k] = events_str(&h->events, ev[i].extra[k],
			                         strlen(ev[i].extra[k]));
	}
	h->events.n = n;
	for (i = 0; i < n; i++) {
		if (!hold_pending(h, i) || !is_id(ev[i].conv))
			continue;
		snprintf(num, sizeof(num), "%lld", ev[i].version);
		tmp = xasprintf("%s%s%s", ids ? ids : "{", ids ? "," : "",
		                ev[i].conv);
		free(ids);
		ids = tmp;
		tmp = xasprintf("%s%s%s", vers ? vers : "{", vers ? "," : "",
		                num);
		free(vers);
		vers = tmp;
	}
	/* Straight from routing's answer: nothing left to wait for. */
	if (ids == NULL) {
		hold_finish(h, 1, NULL, &h->events);
		return;
	}
	tmp = xasprintf("%s}", ids);
	free(ids);
	ids = tmp;
	tmp = xasprintf("%s}", vers);
	free(vers);
	vers = tmp;
	params[0] = ids;
	params[1] = vers;
	params[2] = h->advisor;
	if (db_query(r->db, HELD_SQL, 3, params, on_held_checked, h) != 0)
		hold_finish(h, 1, NULL, &h->events);
	free(ids);
	free(vers);
}

static void
hold_run(struct hold *h)
{
	struct call *c = call_new(h->r, "holding", on_held, h);

	h->waiting = 0;
	c->kind = CALL_READ;
	call_arg(c, h->advisor);
	if (call_start(c) != 0)
		hold_finish(h, 0, "routing unavailable", NULL);
}

static void
on_hold_tick(uv_timer_t *t)
{
	struct route *r = t->data;
	struct hold *h, *next;

	for (h = r->holds; h != NULL; h = next) {
		next = h->next;
		if (h->waiting)
			hold_run(h);
	}
}

int
route_holding(struct route *r, const char *advisor, route_reply_cb cb,
              void *arg)
{
	struct hold *h;

	if (!is_id(advisor) || r->state != ROUTE_READY)
		return -1;
	h = xcalloc(1, sizeof(*h));
	h->r = r;
	snprintf(h->advisor, sizeof(h->advisor), "%s", advisor);
	h->cb = cb;
	h->arg = arg;
	h->started = uv_now(r->loop);
	h->next = r->holds;
	r->holds = h;
	hold_run(h);
	return 0;
}

int
route_served(struct route *r, const char *queue, route_served_cb cb, void *arg)
{
	struct call *c;

	if (!is_id(queue))
		return -1;
	c = call_new(r, "served", NULL, arg);
	c->kind = CALL_SERVED;
	c->scb = cb;
	call_arg(c, queue);
	return call_start(c);
}

int
route_apply_settings(struct route *r, const char *qc, const char *blend,
                     const char *max_missed, const char *grace_ms,
                     const char *live, int changed, route_reply_cb cb,
                     void *arg)
{
	struct call *c = call_new(r, "settings", cb, arg);

	call_arg(c, qc);
	call_arg(c, blend);
	call_arg(c, max_missed);
	call_arg(c, grace_ms);
	call_arg(c, live);
	call_arg(c, changed ? "1" : "0");
	return call_start(c);
}

/* ---------------------------------------------------------------- desks */

static int
desk_index(const struct route *r, const char *advisor)
{
	size_t i;

	for (i = 0; i < r->ndesks; i++)
		if (strcmp(r->desks[i], advisor) == 0)
			return (int)i;
	return -1;
}

static void
desk_add(struct route *r, const char *advisor)
{
	if (desk_index(r, advisor) >= 0)
		return;
	if (r->ndesks == r->capdesks) {
		r->capdesks = r->capdesks ? r->capdesks * 2 : 16;
		r->desks = xrealloc(r->desks, r->capdesks * sizeof(char *));
	}
	r->desks[r->ndesks++] = xstrdup(advisor);
}

static void
desk_remove(struct route *r, const char *advisor)
{
	int i = desk_index(r, advisor);

	if (i < 0)
		return;
	free(r->desks[i]);
	r->desks[i] = r->desks[--r->ndesks];
}

static int
advisor_call(struct route *r, const char *advisor, const char *status,
             const char *reason, const char *caps, const char *queues,
             route_reply_cb cb, void *arg)
{
	struct call *c = call_new(r, "advisor", cb, arg);

	call_arg(c, advisor);
	call_arg(c, status);
	call_arg(c, reason ? reason : "");
	call_arg(c, r->instance);
	call_arg(c, caps);
	call_arg(c, queues);
	return call_start(c);
}

struct login {
	struct route *r;
	unsigned gen;
	char *advisor, *status, *reason;
	route_reply_cb cb;
	void *arg;
};

static void
login_free(struct login *l)
{
	free(l->advisor);
	free(l->status);
	free(l->reason);
	free(l);
}

static void
on_login_profile(void *arg, PGresult *res, const char *err)
{
	struct login *l = arg;
	struct route *r = l->r;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		if (l->cb)
			l->cb(l->arg, 0, err ? err : "database unavailable",
			      NULL, 0);
		login_free(l);
		return;
	}
	if (PQgetisnull(res, 0, 2) || strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
		if (l->cb)
			l->cb(l->arg, 0, "no such advisor, or disabled", NULL,
			      0);
		login_free(l);
		return;
	}
	desk_add(r, l->advisor);
	if (advisor_call(r, l->advisor, l->status, l->reason,
	                 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), l->cb,
	                 l->arg) != 0 &&
	    l->cb)
		l->cb(l->arg, 0, "routing unavailable", NULL, 0);
	login_free(l);
}

int
route_advisor_login(struct route *r, const char *advisor, const char *status,
                    const char *reason, route_reply_cb cb, void *arg)
{
	const char *params[1] = {advisor};
	struct login *l;

	if (!is_id(advisor) || r->state != ROUTE_READY)
		return -1;
	l = xcalloc(1, sizeof(*l));
	l->r = r;
	l->advisor = xstrdup(advisor);
	l->status = xstrdup(status);
	l->reason = xstrdup(reason ? reason : "");
	l->cb = cb;
	l->arg = arg;
	if (db_query(r->db, ADVISOR_SQL, 1, params, on_login_profile, l) != 0) {
		login_free(l);
		return -1;
	}
	return 0;
}

int
route_advisor_status(struct route *r, const char *advisor, const char *status,
                     const char *reason, route_reply_cb cb, void *arg)
{
	if (!is_id(advisor))
		return -1;
	return advisor_call(r, advisor, status, reason, "", "-", cb, arg);
}

void
route_advisor_gone(struct route *r, const char *advisor)
{
	/* No more beats: sweep re-queues after the grace period. */
	desk_remove(r, advisor);
}

int
route_advisor_logout(struct route *r, const char *advisor, route_reply_cb cb,
                     void *arg)
{
	struct call *c;

	if (!is_id(advisor))
		return -1;
	desk_remove(r, advisor);
	c = call_new(r, "requeue", cb, arg);
	call_arg(c, advisor);
	call_arg(c, "");
	return call_start(c);
}

/* ---------------------------------------------------------------- timers */

static void
on_sweep_done(void *arg, int ok, const char *err, const struct route_event *ev,
              size_t n)
{
	struct route *r = arg;

	(void)ev;
	r->sweep_inflight = 0;
	if (!ok)
		gw_debug("route.sweep_failed", "reason=\"%s\"", err);
	else if (n > 0)
		gw_debug("route.sweep", "events=%zu", n);
}

static void
on_sweep(uv_timer_t *t)
{
	struct route *r = t->data;
	struct call *c;

	if (r->state != ROUTE_READY || r->sweep_inflight)
		return;
	c = call_new(r, "sweep", on_sweep_done, r);
	call_arg(c, "200");
	r->sweep_inflight = 1;
	if (call_start(c) != 0)
		r->sweep_inflight = 0;
}

static void
on_presence(uv_timer_t *t)
{
	struct route *r = t->data;
	struct call *c = NULL;
	size_t i;

	if (r->state != ROUTE_READY)
		return;
	for (i = 0; i < r->ndesks; i++) {
		if (c == NULL)
			c = call_new(r, "presence", NULL, NULL);
		call_arg(c, r->desks[i]);
		if (c->argc >= 4 + PRESENCE_CHUNK) {
			call_start(c);
			c = NULL;
		}
	}
	if (c != NULL)
		call_start(c);
}

/*
 * PostgreSQL is the truth: a conversation recorded as waiting that routing
 * has not touched for a while (Redis refused it, or lost it between a
 * rebuild and its commit) is queued again. Queueing is idempotent: one
 * already waiting keeps its place, one offered or assigned is refused.
 */
static const char STRAYS_SQL[] =
        "SELECT c.id, c.queue_id, c.channel,"
        " least(100, c.priority + CASE WHEN cu.vulnerable THEN 10 ELSE 0 END),"
        " (extract(epoch FROM coalesce(c.queued_at, c.created_at)) * 1000)"
        "  ::bigint"
        " FROM conversations c JOIN customers cu ON cu.id = c.customer_id"
        " WHERE c.status = 'waiting' AND c.queue_id IS NOT NULL"
        " AND c.updated_at < now() - interval '5 seconds'"
        " ORDER BY c.updated_at LIMIT 1000";

static void
on_strays(void *arg, PGresult *res, const char *err)
{
	struct route *r = arg;
	int i, n;

	(void)err;
	r->strays_inflight = 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return;
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		route_enqueue(r, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		              PQgetvalue(res, i, 2),
		              atoi(PQgetvalue(res, i, 3)),
		              atoll(PQgetvalue(res, i, 4)), "", NULL, NULL);
}

static void
on_settings_tick(uv_timer_t *t)
{
	struct route *r = t->data;

	route_settings_refresh(r);
	if (r->state == ROUTE_READY && !r->strays_inflight &&
	    db_query(r->db, STRAYS_SQL, 0, NULL, on_strays, r) == 0)
		r->strays_inflight = 1;
}

/* ---------------------------------------------------------------- state */

void
route_set_ready(struct route *r, unsigned long long epoch)
{
	int changed = epoch != r->epoch;

	if (changed)
		r->max_seq = 0;
	r->epoch = epoch;
	r->state = ROUTE_READY;
	r->status = "ok";
	uv_timer_stop(&r->wait);
	if (changed) {
		gw_notice("route.epoch", "epoch=%llu", epoch);
		if (r->epoch_cb != NULL)
			r->epoch_cb(r->cb_arg, epoch);
	}
}

void
route_fail_state(struct route *r, const char *why)
{
	r->state = ROUTE_IDLE;
	r->status = why;
}

static void
on_epoch(void *arg, redisReply *reply)
{
	struct route *r = arg;

	if (reply == NULL || r->state != ROUTE_LOADING)
		return;
	if (reply->type == REDIS_REPLY_STRING)
		route_set_ready(r, strtoull(reply->str, NULL, 10));
	else
		route_rebuild_start(r);
}

static void
on_load(void *arg, redisReply *reply)
{
	struct route *r = arg;
	unsigned i;

	if (reply == NULL || r->state != ROUTE_LOADING)
		return;
	if (reply->type != REDIS_REPLY_STRING) {
		gw_error("route.script_load_failed", "reason=\"%s\"",
		         reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
		route_fail_state(r, "cannot load routing scripts");
		return;
	}
	/* Replies come in order: the n-th reply is the n-th script. */
	i = r->loading++;
	snprintf(r->sha[i], sizeof(r->sha[i]), "%s", reply->str);
	if (r->loading == route_scripts_count &&
	    kv_command(r->kv, on_epoch, r, "GET sb:epoch") != 0)
		route_fail_state(r, "redis unavailable");
}

void
route_kv_state(struct route *r, int up)
{
	struct hold *h, *next;
	unsigned i;

	r->gen++;
	if (!up) {
		route_fail_state(r, "redis unavailable");
		/* Snapshots waiting for a commit are answered now. */
		for (h = r->holds; h != NULL; h = next) {
			next = h->next;
			if (h->waiting)
				hold_finish(h, 0, "redis unavailable", NULL);
		}
		return;
	}
	r->state = ROUTE_LOADING;
	r->status = "loading scripts";
	r->loading = 0;
	for (i = 0; i < route_scripts_count; i++)
		if (kv_command(r->kv, on_load, r, "SCRIPT LOAD %s",
		               route_scripts[i].source) != 0) {
			route_fail_state(r, "redis unavailable");
			return;
		}
}

/* Whether tag (n bytes) occurs in the first len bytes of s. */
static int
has_tag(const char *s, size_t len, const char *tag, size_t n)
{
	size_t i;

	for (i = 0; n > 0 && i + n <= len; i++)
		if (s[i] == tag[0] && memcmp(s + i, tag, n) == 0)
			return 1;
	return 0;
}

static void
on_route_message(void *arg, const char *payload, size_t len)
{
	struct route *r = arg;
	struct route_event ev[64];
	json_error_t jerr;
	json_t *msg, *events, *e, *x;
	size_t i, k, n = 0;
	json_int_t epoch = 0;

	/*
	 * Ours: delivered here when the decision was taken. Found before
	 * parsing: "from" is the second key of every message we publish.
	 */
	if (has_tag(payload, len < 96 ? len : 96, r->origin_tag,
	            r->origin_tag_len))
		return;
	msg = json_loadb(payload, len, 0, &jerr);
	if (msg == NULL)
		return;
	if (json_unpack(msg, "{s:I}", "epoch", &epoch) == 0 &&
	    (unsigned long long)epoch > r->epoch && r->state != ROUTE_IDLE &&
	    r->state != ROUTE_REBUILDING)
		route_set_ready(r, (unsigned long long)epoch);
	events = json_object_get(msg, "events");
	json_array_foreach(events, i, e)
	{
		if (!json_is_array(e) || json_array_size(e) < 5)
			continue;
		memset(&ev[n], 0, sizeof(ev[n]));
		ev[n].kind = json_string_value(json_array_get(e, 0));
		ev[n].conv = json_string_value(json_array_get(e, 1));
		ev[n].advisor = json_string_value(json_array_get(e, 2));
		ev[n].instance = json_string_value(json_array_get(e, 3));
		ev[n].version = json_integer_value(json_array_get(e, 4));
		for (k = 5; k < json_array_size(e) && k - 5 < ROUTE_EVENT_EXTRA;
		     k++) {
			x = json_array_get(e, k);
			ev[n].extra[ev[n].nextra++] =
			        json_is_string(x) ? json_string_value(x) : "";
		}
		if (ev[n].kind == NULL || ev[n].conv == NULL ||
		    ev[n].advisor == NULL || ev[n].instance == NULL)
			continue;
		if (++n == sizeof(ev) / sizeof(ev[0])) {
			if (r->event_cb != NULL)
				r->event_cb(r->cb_arg, ev, n);
			n = 0;
		}
	}
	if (n > 0 && r->event_cb != NULL)
		r->event_cb(r->cb_arg, ev, n);
	json_decref(msg);
}

/* ---------------------------------------------------------------- API */

struct route *
route_new(uv_loop_t *loop, struct kv *kv, struct kv *sub, struct db *db,
          struct db_commit *const *w, size_t nw,
          const struct route_options *opt)
{
	struct route *r = xcalloc(1, sizeof(*r));

	if (route_scripts_count > ROUTE_MAX_SCRIPTS)
		fatalx("too many routing scripts");
	r->loop = loop;
	r->kv = kv;
	r->sub = sub;
	r->db = db;
	if (nw == 0)
		fatalx("routing needs a PostgreSQL writer");
	r->w = xcalloc(nw, sizeof(*r->w));
	memcpy(r->w, w, nw * sizeof(*r->w));
	r->nw = nw;
	r->opt = *opt;
	r->instance = xstrdup(opt->instance);
	/* Unique per process even if two share an instance name by mistake. */
	snprintf(r->origin, sizeof(r->origin), "%d-%llx", (int)getpid(),
	         (unsigned long long)uv_hrtime());
	r->origin_tag_len =
	        (size_t)snprintf(r->origin_tag, sizeof(r->origin_tag),
	                         "\"from\":\"%s\"", r->origin);
	r->opt.instance = r->instance;
	if (r->opt.sweep_ms <= 0)
		r->opt.sweep_ms = 250;
	if (r->opt.presence_ms <= 0)
		r->opt.presence_ms = 5000;
	/*
	 * A desk is gone after grace_ms without a beat: beat at least three
	 * times per grace period, so one late beat does not drop every desk.
	 */
	if (r->opt.grace_ms > 0 && r->opt.presence_ms > r->opt.grace_ms / 3)
		r->opt.presence_ms =
		        r->opt.grace_ms / 3 > 100 ? r->opt.grace_ms / 3 : 100;
	r->status = "redis unavailable";
	uv_timer_init(loop, &r->sweep);
	uv_timer_init(loop, &r->presence);
	uv_timer_init(loop, &r->wait);
	uv_timer_init(loop, &r->settings);
	uv_timer_init(loop, &r->hold_timer);
	uv_timer_init(loop, &r->lease);
	r->lease.data = r;
	r->sweep.data = r->presence.data = r->wait.data = r->settings.data = r;
	r->hold_timer.data = r;
	uv_timer_start(&r->settings, on_settings_tick, SETTINGS_MS,
	               SETTINGS_MS);
	uv_timer_start(&r->sweep, on_sweep, (uint64_t)r->opt.sweep_ms,
	               (uint64_t)r->opt.sweep_ms);
	uv_timer_start(&r->presence, on_presence, (uint64_t)r->opt.presence_ms,
	               (uint64_t)r->opt.presence_ms);
	if (sub != NULL)
		kv_subscribe(sub, ROUTE_CHANNEL, on_route_message, r);
	r->stream = route_stream_new(r);
	return r;
}

void
route_set_callbacks(struct route *r, route_event_cb ev, route_epoch_cb epoch,
                    void *arg)
{
	r->event_cb = ev;
	r->epoch_cb = epoch;
	r->cb_arg = arg;
}

int
route_ready(const struct route *r)
{
	return r->state == ROUTE_READY;
}

const char *
route_status(const struct route *r)
{
	return r->status;
}

unsigned long long
route_epoch(const struct route *r)
{
	return r->epoch;
}

static void
route_timer_closed(uv_handle_t *h)
{
	struct route *r = h->data;

	if (--r->handles_open > 0)
		return;
	while (r->ndesks > 0)
		free(r->desks[--r->ndesks]);
	free(r->desks);
	free(r->instance);
	free(r->rebuild_fence);
	free(r->w);
	free(r->settings_applied);
	free(r->settings_sending);
	free(r);
}

void
route_free(struct route *r)
{
	if (r == NULL)
		return;
	r->gen++;
	r->state = ROUTE_IDLE;
	route_stream_free(r->stream);
	r->stream = NULL;
	/*
	 * Snapshots still waiting for a commit were answered when Redis went
	 * (route_kv_state); any left have owners that are gone.
	 */
	while (r->holds != NULL) {
		struct hold *h = r->holds;

		r->holds = h->next;
		hold_free(h);
	}
	r->handles_open = 6;
	uv_close((uv_handle_t *)&r->hold_timer, route_timer_closed);
	uv_close((uv_handle_t *)&r->lease, route_timer_closed);
	uv_close((uv_handle_t *)&r->settings, route_timer_closed);
	uv_close((uv_handle_t *)&r->sweep, route_timer_closed);
	uv_close((uv_handle_t *)&r->presence, route_timer_closed);
	uv_close((uv_handle_t *)&r->wait, route_timer_closed);
}
