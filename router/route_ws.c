/*
 * route_ws.c: routing over /ws. See route_ws.h and docs/routing-protocol.md.
 *
 * Every socket that speaks routing is a peer, found by its connection id.
 * Asynchronous answers (session checks, routing calls, database writes)
 * carry the connection id, never a pointer to the peer, so an answer for a
 * socket that has closed meanwhile is dropped. Loop thread only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hours.h"
#include "http_hdr.h"
#include "idmap.h"
#include "log.h"
#include "route_ws.h"
#include "wallboard.h"
#include "xmalloc.h"

#define SESSION_COOKIE   "__Host-sb_session"
#define POSITION_TICK_MS 1000
#define NAME_MAX_LEN     200
/* Opening hours and out-of-hours rules are re-read this often (ticks). */
#define QUEUES_EVERY_TICKS 30
/* Queue views one desk may follow at once. */
#define WATCH_MAX 8
/* Conversations a queue view shows. */
#define VIEW_LIMIT 50
/*
 * Positions: pushed this long after a queue changes (changes coalesce),
 * and not more often than every POSITION_GAP_MS: a queue draining at
 * thousands a second costs one message per waiting resident per gap.
 */
#define POSITION_FLUSH_MS 500
#define POSITION_GAP_MS   2000
#define DESK_TOUCH_MS     30000
/* ... and all of them re-checked this often, whatever happened. */
#define POSITIONS_ALL_EVERY_TICKS 10
/*
 * The sessions of the open desk sockets are re-checked this often (ticks):
 * one statement for all of them. A socket whose session was revoked
 * (logout, `user passwd`, `user disable`, on any instance or from the
 * CLI), reached its absolute timeout, or whose user was disabled, is
 * closed with DESK_REVOKED_CODE. One whose user's role or queue memberships
 * changed (the access digest, gw_session_info.access) is closed with
 * DESK_CHANGED_CODE: the desk connects again at once and is served under
 * the new rules (its role, and the queues routing offers it).
 */
#define SESSIONS_EVERY_TICKS 2
#define DESK_REVOKED_CODE    4003
#define DESK_REVOKED_REASON  "signed out"
#define DESK_CHANGED_CODE    4005
#define DESK_CHANGED_REASON  "access changed"
/*
 * Revocations announced (route_ws_revoke) are remembered this long, for
 * desks whose session check was asked before and answers after: the
 * periodic re-check covers anything later.
 */
#define REVOKED_KEEP_MS 10000

enum peer_kind {
	PEER_NEW = 0,
	PEER_AUTHENTICATING,
	PEER_STAFF,
	PEER_RESIDENT,
};

struct peer {
	unsigned long conn;
	enum peer_kind kind;
	/* staff */
	uint64_t staff;
	long long session; /* staff_sessions.id it was opened with */
	/* Being closed: 1 its session ended, 2 its user's access changed. */
	int revoked;
	unsigned asked;   /* sessions_gen of the last question about it */
	uint64_t touched; /* uv_now of the last activity sent to its session */
	uint64_t opened;  /* uv_now when its session check was asked */
	char role[24];
	char access[GW_SESSION_ACCESS_LEN + 1]; /* the digest it opened with */
	char name[201];
	char status[16];
	char reason[64];
	struct peer *next_desk;    /* other sockets of the same advisor here */
	uint64_t watch[WATCH_MAX]; /* queues whose view this desk follows */
	int nwatch;
	/* resident */
	uint64_t conv;
	uint64_t queue; /* the queue it waits in */
	int waiting;
	int chat_v1; /* a switchboard.chat.v1 socket (channels/chat) */
	long last_pos;
	long long last_ewt;
};

/*
 * What a chat.start needs to know about a queue before it is let in, and
 * the widget's topic list (route_topics.c, through route_ws_each_queue).
 */
struct qinfo {
	uint64_t id;
	char slug[64];
	struct route_hours *hours;
	char out_of_hours[16]; /* queue_channels.out_of_hours for chat */
	char *message;         /* queues.out_of_hours_message */
	uint64_t overflow;     /* queues.overflow_queue_id, 0 for none */
	char *name;            /* queues.name */
	int chat;              /* it takes chat (a queue_channels row) */
};

struct route_ws {
	uv_loop_t *loop;
	struct db *db;
	struct idmap *queues; /* queue id -> qinfo */
	unsigned ticks;
	int queues_inflight;
	int queues_loaded; /* rw->queues was read at least once */
	struct gw_http *http;
	struct route *r;
	struct db_commit *w;
	struct gw_session_store *sessions;
	struct idmap *peers;     /* conn -> peer */
	struct idmap *desks;     /* staff id -> first peer */
	struct idmap *residents; /* conversation id -> peer */
	struct idmap *dirty;     /* queue id -> itself: positions changed */
	int sessions_inflight;
	unsigned sessions_gen; /* questions asked about desk sessions */
	struct idmap *revoked; /* staff id -> struct revoked_at, recent */
	uv_timer_t positions;
	uv_timer_t flush;    /* pushes the positions of the dirty queues */
	uint64_t flushed_at; /* loop time of the last flush */
	int closing;
	struct route_ws_chat chat;
	struct wallboard *wallboard;
};

/* An answer on its way back to a socket. */
struct pending {
	struct route_ws *rw;
	unsigned long conn;
	json_t *id; /* the request's "id", echoed */
	char conv[24];
	char reply[32]; /* type of a desk operation's answer */
	char staff[24]; /* who acts ("" a supervisor) */
};

/*
 * chat.start, many per statement (a db_commit row set): a customer and a
 * waiting conversation on the named queue, if it is active and takes chat.
 * Customer ids are drawn first so each conversation finds its own.
 */
static const struct db_rows START_ROWS = {
        "WITH r AS (SELECT r.n, r.name, q.id AS queue,"
        "   nextval('customers_id_seq') AS cid"
        "  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY"
        "   AS r(queue, name, n)"
        "  JOIN LATERAL (SELECT q.id FROM queues q JOIN queue_channels qc"
        "   ON qc.queue_id = q.id AND qc.channel = 'chat'"
        "   WHERE q.active AND (q.slug = r.queue OR q.id::text = r.queue)"
        "   ORDER BY q.id LIMIT 1) q ON true),"
        " cu AS (INSERT INTO customers (id, display_name)"
        "  SELECT cid, name FROM r ORDER BY n),"
        " cv AS (INSERT INTO conversations (customer_id, channel, queue_id,"
        "   status, queued_at)"
        "  SELECT cid, 'chat', queue, 'waiting', now() FROM r ORDER BY n"
        "  RETURNING id, customer_id, reference, queue_id, queued_at)"
        " SELECT r.n, cv.id, cv.reference, cv.queue_id,"
        "  (extract(epoch FROM cv.queued_at) * 1000)::bigint"
        " FROM r JOIN cv ON cv.customer_id = r.cid",
        2};

/* ---------------------------------------------------------------- util */

static struct peer *
peer_get(struct route_ws *rw, unsigned long conn)
{
	return idmap_get(rw->peers, conn);
}

static struct pending *
pending_new(struct route_ws *rw, unsigned long conn, json_t *msg)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->rw = rw;
	p->conn = conn;
	p->id = msg != NULL ? json_incref(json_object_get(msg, "id")) : NULL;
	return p;
}

static void
pending_free(struct pending *p)
{
	json_decref(p->id);
	free(p);
}

/* Sends obj (stolen) to conn, echoing the request id when there is one. */
static void
send_to(struct route_ws *rw, unsigned long conn, json_t *id, json_t *obj)
{
	if (id != NULL)
		json_object_set(obj, "id", id);
	gw_http_ws_send(rw->http, conn, obj);
}

static void
send_error(struct route_ws *rw, unsigned long conn, json_t *id,
           const char *code, const char *message)
{
	send_to(rw, conn, id,
	        json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
	                  "message", message));
}

static const char *
str_field(json_t *msg, const char *name)
{
	json_t *v = json_object_get(msg, name);

	if (json_is_string(v))
		return json_string_value(v);
	return NULL;
}

/* "123" -> 123; 0 for anything that is not a positive decimal id. */
static uint64_t
parse_id(const char *s)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 18)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v;
}

/* The error code a routing refusal maps to. */
static const char *
route_error_code(const char *err)
{
	if (err == NULL)
		return "failed";
	if (strncmp(err, "NOTOFFERED", 10) == 0 ||
	    strncmp(err, "SUPERSEDED", 10) == 0)
		return "not_offered";
	if (strncmp(err, "NOTYOURS", 8) == 0)
		return "forbidden";
	if (strncmp(err, "NOTWAITING", 10) == 0)
		return "taken";
	if (strncmp(err, "FULL", 4) == 0)
		return "at_capacity";
	if (strncmp(err, "OFFLINE", 7) == 0)
		return "not_available";
	if (strncmp(err, "NOQUEUE", 7) == 0 || strncmp(err, "NOCONV", 6) == 0)
		return "not_found";
	if (strncmp(err, "BADSTATUS", 9) == 0)
		return "bad_message";
	return "unavailable";
}

/* ---------------------------------------------------------------- desks */

static void on_routed(void *arg, int ok, const char *err,
                      const struct route_event *ev, size_t n);

/* An internal note left with a transfer, at most this long (bytes). */
#define NOTE_MAX_LEN 4000

/* The note is written once the transfer stands (channel writer). */
static const char NOTE_SQL[] =
        "INSERT INTO messages (conversation_id, direction, author_kind,"
        " author_staff_id, body, metadata, source)"
        " VALUES ($1::bigint, 'internal', 'staff', $2::bigint, $3,"
        " jsonb_build_object('kind', 'transfer_note', 'queue', $4::text,"
        "  'advisor', $5::text), 'desk')";

struct transfer_pending {
	struct pending *p;
	char conv[24], staff[24], queue[24], advisor[24];
	char *note;
};

static void
on_note_saved(void *arg, int ok, const PGresult *res, const char *err)
{
	struct transfer_pending *t = arg;
	struct pending *p = t->p;

	(void)res;
	if (!ok)
		gw_warn("route_ws.note_failed", "conv=%s reason=\"%s\"",
		        t->conv, err);
	if (peer_get(p->rw, p->conn) != NULL)
		send_to(p->rw, p->conn, p->id,
		        json_pack("{s:s, s:b}", "type",
		                  "conversation.transferred", "note_saved",
		                  ok));
	pending_free(p);
	free(t->note);
	free(t);
}

static void
on_transferred(void *arg, int ok, const char *err, const struct route_event *ev,
               size_t n)
{
	struct transfer_pending *t = arg;
	const char *params[5] = {t->conv, t->staff, t->note, t->queue,
	                         t->advisor};
	const char *reason = NULL;

	(void)ev;
	(void)n;
	if (ok && t->note != NULL &&
	    db_commit_submit(t->p->rw->w, NOTE_SQL, 5, params, on_note_saved, t,
	                     &reason) == 0)
		return;
	if (ok && t->note != NULL) {
		on_note_saved(t, 0, NULL, reason);
		return;
	}
	on_routed(t->p, ok, err, NULL, 0);
	free(t->note);
	free(t);
}

static struct qinfo *queue_find(struct route_ws *rw, const char *slug_or_id);

static int
is_supervisor(const struct peer *p)
{
	return strcmp(p->role, "supervisor") == 0 ||
	       strcmp(p->role, "admin") == 0;
}

struct view_pending {
	struct route_ws *rw;
	unsigned long conn;
	json_t *id;
	uint64_t queue;
};

static void
on_view(void *arg, int ok, const char *err, const struct route_view *v)
{
	struct view_pending *vp = arg;
	struct peer *peer = peer_get(vp->rw, vp->conn);
	json_t *list;
	size_t i;
	int k;

	if (peer == NULL) {
		/* the desk is gone */
	} else if (!ok) {
		/* Not this desk's to see (or routing failed): not followed. */
		for (k = 0; k < peer->nwatch; k++)
			if (peer->watch[k] == vp->queue)
				peer->watch[k--] = peer->watch[--peer->nwatch];
		send_error(vp->rw, vp->conn, vp->id, route_error_code(err),
		           err);
	} else {
		list = json_array();
		for (i = 0; i < v->n; i++)
			json_array_append_new(
			        list,
			        json_pack("{s:s, s:s, s:s, s:I, s:i}",
			                  "conversation", v->items[i].conv,
			                  "channel", v->items[i].channel,
			                  "mode", v->items[i].mode, "waited_ms",
			                  (json_int_t)v->items[i].waited_ms,
			                  "priority", v->items[i].priority));
		send_to(vp->rw, vp->conn, vp->id,
		        json_pack("{s:s, s:I, s:I, s:I, s:o}", "type",
		                  "queue.view", "queue", (json_int_t)vp->queue,
		                  "pulled", (json_int_t)v->pulled, "pushed",
		                  (json_int_t)v->pushed, "conversations",
		                  list));
	}
	json_decref(vp->id);
	free(vp);
}

/* Sends a desk the view of a queue; -1 when routing is unavailable. */
static int
send_view(struct route_ws *rw, const struct peer *peer, uint64_t queue,
          json_t *id)
{
	struct view_pending *vp = xcalloc(1, sizeof(*vp));
	char q[24], staff[24];

	vp->rw = rw;
	vp->conn = peer->conn;
	vp->id = id != NULL ? json_incref(id) : NULL;
	vp->queue = queue;
	snprintf(q, sizeof(q), "%llu", (unsigned long long)queue);
	snprintf(staff, sizeof(staff), "%llu", (unsigned long long)peer->staff);
	if (route_waiting(rw->r, q, is_supervisor(peer) ? NULL : staff,
	                  VIEW_LIMIT, on_view, vp) != 0) {
		json_decref(vp->id);
		free(vp);
		return -1;
	}
	return 0;
}

/* queue.view (follow a queue) and queue.unwatch. */
static void
desk_watch(struct route_ws *rw, struct peer *peer, const char *type,
           json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	const char *qs = str_field(msg, "queue");
	struct qinfo *qi = qs != NULL ? queue_find(rw, qs) : NULL;
	uint64_t queue = qi != NULL ? qi->id : parse_id(qs);
	int i;

	if (queue == 0) {
		send_error(
		        rw, peer->conn, id, "bad_message",
		        "a queue id (or the slug of a chat queue) is needed");
		return;
	}
	for (i = 0; i < peer->nwatch && peer->watch[i] != queue; i++)
		;
	if (strcmp(type, "queue.unwatch") == 0) {
		if (i < peer->nwatch)
			peer->watch[i] = peer->watch[--peer->nwatch];
		send_to(rw, peer->conn, id,
		        json_pack("{s:s, s:I}", "type", "queue.unwatched",
		                  "queue", (json_int_t)queue));
		return;
	}
	if (i == peer->nwatch && peer->nwatch == WATCH_MAX) {
		send_error(rw, peer->conn, id, "bad_message",
		           "a desk follows at most 8 queues");
		return;
	}
	if (send_view(rw, peer, queue, id) != 0) {
		send_error(rw, peer->conn, id, "unavailable",
		           "routing is unavailable");
		return;
	}
	/* Followed from now on (an error answer, say forbidden, ends it). */
	if (i == peer->nwatch)
		peer->watch[peer->nwatch++] = queue;
}

static void
desk_link(struct route_ws *rw, struct peer *p)
{
	p->next_desk = idmap_get(rw->desks, p->staff);
	idmap_put(rw->desks, p->staff, p);
}

/* Unlinks p; returns 1 if it was the advisor's last desk here. */
static int
desk_unlink(struct route_ws *rw, struct peer *p)
{
	struct peer *head = idmap_get(rw->desks, p->staff), **pp = &head;

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next_desk;
	if (*pp == p)
		*pp = p->next_desk;
	if (head == NULL) {
		idmap_del(rw->desks, p->staff);
		return 1;
	}
	idmap_put(rw->desks, p->staff, head);
	return 0;
}

/* "chat=3,email=5" (a status event's capacities) as {"chat": 3, ...}. */
static json_t *
caps_json(const char *s)
{
	json_t *o = json_object();
	char ch[16];
	long cap;
	int used;

	while (s != NULL && sscanf(s, "%15[a-z]=%ld%n", ch, &cap, &used) == 2) {
		json_object_set_new(o, ch, json_integer(cap));
		s += used;
		s = *s == ',' ? s + 1 : NULL;
	}
	return o;
}

/* The capacities a routing answer's status event carries, or NULL. */
static json_t *
status_caps(const struct route_event *ev, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(ev[i].kind, "status") == 0 && ev[i].nextra > 2)
			return caps_json(ev[i].extra[2]);
	return NULL;
}

static void
on_routed(void *arg, int ok, const char *err, const struct route_event *ev,
          size_t n)
{
	struct pending *p = arg;
	const char *type = p->reply[0] != '\0' ? p->reply : "ok";
	json_t *m, *caps;

	if (peer_get(p->rw, p->conn) != NULL) {
		if (ok) {
			m = json_pack("{s:s}", "type", type);
			/* desk.status.ok: what the advisor may take now. */
			caps = strcmp(type, "desk.status.ok") == 0
			               ? status_caps(ev, n)
			               : NULL;
			if (caps != NULL)
				json_object_set_new(m, "capacity", caps);
			send_to(p->rw, p->conn, p->id, m);
		} else
			send_error(p->rw, p->conn, p->id, route_error_code(err),
			           err);
	}
	pending_free(p);
}

/*
 * Closing a conversation in wrap-up: it left routing when it was wrapped,
 * so the router has nothing to release; its row is closed here (by its
 * advisor, or anyone's by a supervisor: $2 '').
 */
static const char CLOSE_WRAPPED_SQL[] =
        "WITH c AS (UPDATE conversations SET status = 'closed'"
        "  WHERE id = $1::bigint AND status = 'wrap_up'"
        "  AND ($2::text = '' OR assigned_staff_id::text = $2::text)"
        "  RETURNING id, queue_id, assigned_staff_id),"
        " e AS (INSERT INTO conversation_events (conversation_id, kind,"
        "   staff_id, queue_id, detail)"
        "  SELECT id, 'closed', assigned_staff_id, queue_id,"
        "   jsonb_build_object('from', 'wrap_up') FROM c)"
        " SELECT count(*) FROM c";

static void
on_wrapped_closed(void *arg, int ok, const PGresult *res, const char *err)
{
	struct pending *p = arg;

	if (!ok || res == NULL)
		on_routed(p, 0, err, NULL, 0);
	else if (strcmp(PQgetvalue(res, 0, 0), "1") != 0)
		on_routed(p, 0, "NOCONV not live, or not yours", NULL, 0);
	else
		on_routed(p, 1, NULL, NULL, 0);
}

static void
on_released(void *arg, int ok, const char *err, const struct route_event *ev,
            size_t n)
{
	struct pending *p = arg;
	const char *params[2] = {p->conv, p->staff}, *reason = NULL;

	/* Not in routing (wrapped up, or never routed): closed in the row. */
	if (ok && n == 0) {
		if (db_commit_submit(p->rw->w, CLOSE_WRAPPED_SQL, 2, params,
		                     on_wrapped_closed, p, &reason) != 0)
			on_routed(p, 0, reason, NULL, 0);
		return;
	}
	on_routed(p, ok, err, ev, n);
}

/* ---------------------------------------------------------------- wrap-up */

/*
 * conversation.wrap_up: the disposition is checked and stored (one
 * statement on the writer), then the conversation leaves routing as
 * closed, which frees the advisor's capacity. $1 conversation, $2 who
 * must hold it ('' a supervisor), $3 reason code ('' none), $4 outcome
 * code ('' none), $5 note, $6 the acting staff id. The codes must be
 * active codes of the conversation's queue; a kind the queue has codes
 * of must be given. A live conversation (assigned or wrap_up) may be
 * wrapped up again (it replaces the disposition); a closed one (the chat
 * ended first) once. One column: "ok" or what is wrong.
 */
static const char WRAP_SQL[] =
        "WITH v AS (SELECT id, queue_id, assigned_staff_id, status"
        "  FROM conversations WHERE id = $1::bigint),"
        " r AS (SELECT d.id FROM disposition_codes d JOIN v"
        "  ON d.queue_id = v.queue_id WHERE d.kind = 'reason'"
        "  AND d.code = $3 AND d.active),"
        " o AS (SELECT d.id FROM disposition_codes d JOIN v"
        "  ON d.queue_id = v.queue_id WHERE d.kind = 'outcome'"
        "  AND d.code = $4 AND d.active),"
        " has AS (SELECT coalesce(bool_or(d.kind = 'reason'), false) AS r,"
        "  coalesce(bool_or(d.kind = 'outcome'), false) AS o"
        "  FROM disposition_codes d JOIN v ON d.queue_id = v.queue_id"
        "  WHERE d.active),"
        " chk AS (SELECT CASE"
        "  WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'"
        "  WHEN $2::text <> '' AND (SELECT assigned_staff_id FROM v)"
        "   IS DISTINCT FROM nullif($2::text, '')::bigint THEN 'forbidden'"
        "  WHEN (SELECT status FROM v) NOT IN ('assigned', 'wrap_up',"
        "   'closed') OR ((SELECT status FROM v) = 'closed' AND EXISTS"
        "   (SELECT 1 FROM conversation_dispositions"
        "    WHERE conversation_id = $1::bigint)) THEN 'not_live'"
        "  WHEN $3 = '' AND (SELECT r FROM has) THEN 'reason_required'"
        "  WHEN $3 <> '' AND NOT EXISTS (SELECT 1 FROM r)"
        "   THEN 'reason_unknown'"
        "  WHEN $4 = '' AND (SELECT o FROM has) THEN 'outcome_required'"
        "  WHEN $4 <> '' AND NOT EXISTS (SELECT 1 FROM o)"
        "   THEN 'outcome_unknown'"
        "  ELSE 'ok' END AS s),"
        " ins AS (INSERT INTO conversation_dispositions (conversation_id,"
        "   queue_id, reason_id, outcome_id, note, staff_id)"
        "  SELECT v.id, v.queue_id, (SELECT id FROM r), (SELECT id FROM o),"
        "   $5, $6::bigint FROM v, chk WHERE chk.s = 'ok'"
        "  ON CONFLICT (conversation_id) DO UPDATE SET"
        "   queue_id = EXCLUDED.queue_id, reason_id = EXCLUDED.reason_id,"
        "   outcome_id = EXCLUDED.outcome_id, note = EXCLUDED.note,"
        "   staff_id = EXCLUDED.staff_id, created_at = now()"
        "  RETURNING conversation_id, queue_id),"
        " e AS (INSERT INTO conversation_events (conversation_id, kind,"
        "   staff_id, queue_id, detail)"
        "  SELECT conversation_id, 'wrapped_up', $6::bigint, queue_id,"
        "   jsonb_build_object('reason', $3::text, 'outcome', $4::text)"
        "  FROM ins)"
        " SELECT s FROM chk";

/*
 * After the release: a conversation that was not in routing any more
 * (in wrap_up, or closed when the chat ended) is closed here. Columns:
 * closed now, closed already.
 */
static const char WRAP_CLOSE_SQL[] =
        "WITH c AS (UPDATE conversations SET status = 'closed'"
        "  WHERE id = $1::bigint AND status = 'wrap_up'"
        "  AND ($2::text = '' OR assigned_staff_id::text = $2::text)"
        "  RETURNING id, queue_id, assigned_staff_id),"
        " e AS (INSERT INTO conversation_events (conversation_id, kind,"
        "   staff_id, queue_id, detail)"
        "  SELECT id, 'closed', assigned_staff_id, queue_id,"
        "   jsonb_build_object('from', 'wrap_up') FROM c)"
        " SELECT (SELECT count(*) FROM c), (SELECT count(*)"
        "  FROM conversations WHERE id = $1::bigint AND status = 'closed')";

/* Wrap-up refusals: the error code and message for each. */
static const struct {
	const char *s, *code, *message;
} WRAP_REFUSALS[] = {
        {"not_found", "not_found", "no such conversation"},
        {"forbidden", "forbidden", "the conversation is not yours"},
        {"not_live", "not_found",
         "the conversation is not live, or was wrapped up already"},
        {"reason_required", "bad_message",
         "reason: choose a reason (this queue has reason codes)"},
        {"reason_unknown", "bad_message",
         "reason: not an active reason code of the conversation's queue"},
        {"outcome_required", "bad_message",
         "outcome: choose an outcome (this queue has outcome codes)"},
        {"outcome_unknown", "bad_message",
         "outcome: not an active outcome code of the conversation's queue"},
};

struct wrap_pending {
	struct pending *p;
	char field[16]; /* the field a refusal is about, for the desk */
};

static void
wrap_answer(struct wrap_pending *w, const char *code, const char *message)
{
	struct pending *p = w->p;
	json_t *o;

	if (peer_get(p->rw, p->conn) != NULL) {
		if (code == NULL) {
			o = json_pack("{s:s, s:s}", "type",
			              "conversation.wrapped_up", "conversation",
			              p->conv);
		} else {
			o = json_pack("{s:s, s:s, s:s}", "type", "error",
			              "code", code, "message", message);
			if (w->field[0] != '\0')
				json_object_set_new(o, "field",
				                    json_string(w->field));
		}
		send_to(p->rw, p->conn, p->id, o);
	}
	pending_free(p);
	free(w);
}

static void
on_wrap_closed(void *arg, int ok, const PGresult *res, const char *err)
{
	struct wrap_pending *w = arg;

	if (!ok || res == NULL)
		wrap_answer(w, "unavailable", err ? err : "database error");
	else if (strcmp(PQgetvalue(res, 0, 0), "1") != 0 &&
	         strcmp(PQgetvalue(res, 0, 1), "1") != 0)
		wrap_answer(w, "not_found", "the conversation is not live");
	else
		wrap_answer(w, NULL, NULL);
}

static void
on_wrap_released(void *arg, int ok, const char *err,
                 const struct route_event *ev, size_t n)
{
	struct wrap_pending *w = arg;
	const char *params[2] = {w->p->conv, w->p->staff}, *reason = NULL;

	(void)ev;
	if (!ok) {
		wrap_answer(w, route_error_code(err), err ? err : "refused");
	} else if (n > 0) {
		wrap_answer(w, NULL, NULL);
	} else if (db_commit_submit(w->p->rw->w, WRAP_CLOSE_SQL, 2, params,
	                            on_wrap_closed, w, &reason) != 0) {
		wrap_answer(w, "unavailable", reason);
	}
}

static void
on_wrap_stored(void *arg, int ok, const PGresult *res, const char *err)
{
	struct wrap_pending *w = arg;
	const char *s = ok && res != NULL ? PQgetvalue(res, 0, 0) : NULL;
	size_t i;

	if (s == NULL) {
		wrap_answer(w, "unavailable", err ? err : "database error");
		return;
	}
	if (strcmp(s, "ok") == 0) {
		gw_info("route_ws.wrap_up", "conv=%s by=%s", w->p->conv,
		        w->p->staff[0] != '\0' ? w->p->staff : "supervisor");
		if (route_release_by(w->p->rw->r, w->p->conv, "closed",
		                     w->p->staff, on_wrap_released, w) != 0)
			wrap_answer(w, "unavailable", "routing is unavailable");
		return;
	}
	for (i = 0; i < sizeof(WRAP_REFUSALS) / sizeof(WRAP_REFUSALS[0]); i++)
		if (strcmp(s, WRAP_REFUSALS[i].s) == 0)
			break;
	if (i == sizeof(WRAP_REFUSALS) / sizeof(WRAP_REFUSALS[0])) {
		wrap_answer(w, "unavailable", s);
		return;
	}
	if (strncmp(s, "reason", 6) == 0 || strncmp(s, "outcome", 7) == 0)
		snprintf(w->field, sizeof(w->field), "%.*s",
		         (int)strcspn(s, "_"), s);
	wrap_answer(w, WRAP_REFUSALS[i].code, WRAP_REFUSALS[i].message);
}

/* An optional string field: 0 and *out set (NULL when absent), or -1. */
static int
opt_string(json_t *msg, const char *name, size_t max, const char **out)
{
	json_t *v = json_object_get(msg, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) > max)
		return -1;
	*out = json_string_value(v);
	return 0;
}

/* conversation.wrap_up {conversation, reason?, outcome?, note?}. */
static void
desk_wrap_up(struct route_ws *rw, struct peer *peer, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	const char *conv = str_field(msg, "conversation");
	const char *reason, *outcome, *note, *params[6], *why = NULL;
	struct wrap_pending *w;
	char staff[24];

	if (opt_string(msg, "reason", 64, &reason) != 0)
		why = "reason must be a code (a string)";
	else if (opt_string(msg, "outcome", 64, &outcome) != 0)
		why = "outcome must be a code (a string)";
	else if (opt_string(msg, "note", NOTE_MAX_LEN, &note) != 0)
		why = "note must be a string of at most 4000 bytes";
	if (why != NULL) {
		send_error(rw, peer->conn, id, "bad_message", why);
		return;
	}
	snprintf(staff, sizeof(staff), "%llu", (unsigned long long)peer->staff);
	w = xcalloc(1, sizeof(*w));
	w->p = pending_new(rw, peer->conn, msg);
	snprintf(w->p->conv, sizeof(w->p->conv), "%s", conv);
	/* An advisor wraps up their own; supervisors and admins anyone's. */
	snprintf(w->p->staff, sizeof(w->p->staff), "%s",
	         is_supervisor(peer) ? "" : staff);
	params[0] = conv;
	params[1] = w->p->staff;
	params[2] = reason ? reason : "";
	params[3] = outcome ? outcome : "";
	params[4] = note ? note : "";
	params[5] = staff;
	if (db_commit_submit(rw->w, WRAP_SQL, 6, params, on_wrap_stored, w,
	                     &why) != 0)
		wrap_answer(w, "unavailable",
		            why ? why : "database unavailable");
}

static struct qinfo *queue_find(struct route_ws *rw, const char *slug_or_id);

/*
 * conversation.transfer's arguments: queue (an id, or the slug of an
 * active queue, resolved into qid), advisor (a staff id), at least one of
 * them, and an optional note. NULL, or why the message is malformed:
 * every argument is checked here, so that a refusal of the router can
 * only mean that routing is unavailable.
 */
static const char *
transfer_args(struct route_ws *rw, json_t *msg, char *qid, size_t len,
              const char **queue, const char **to, const char **note)
{
	struct qinfo *q;

	if (opt_string(msg, "queue", 64, queue) != 0)
		return "queue must be a queue id or slug (a string)";
	if (opt_string(msg, "advisor", 24, to) != 0 ||
	    (*to != NULL && parse_id(*to) == 0))
		return "advisor must be a staff id (decimal, as a string)";
	if (opt_string(msg, "note", NOTE_MAX_LEN, note) != 0)
		return "note must be a string of at most 4000 bytes";
	if (*queue != NULL && parse_id(*queue) == 0) {
		q = queue_find(rw, *queue);
		/* Not read yet (just started): no answer on slugs yet. */
		if (q == NULL && !rw->queues_loaded)
			return NULL;
		if (q == NULL)
			return "queue must be the id or slug of an active "
			       "queue";
		snprintf(qid, len, "%llu", (unsigned long long)q->id);
		*queue = qid;
	}
	if (*queue == NULL && *to == NULL)
		return "a transfer needs a queue or an advisor";
	return NULL;
}

static void queues_reload(struct route_ws *rw);

/* The statuses an advisor may take (router/scripts/advisor.lua). */
static int
desk_status_valid(const char *st)
{
	static const char *const valid[] = {"available", "busy", "away",
	                                    "wrap_up", "offline"};
	unsigned i;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		if (strcmp(st, valid[i]) == 0)
			return 1;
	return 0;
}

/* The reply type rides in pending.conv for desk operations. */
static struct pending *
op_pending(struct route_ws *rw, unsigned long conn, json_t *msg,
           const char *reply_type)
{
	struct pending *p = pending_new(rw, conn, msg);

	snprintf(p->reply, sizeof(p->reply), "%s", reply_type);
	return p;
}

static void
desk_message(struct route_ws *rw, struct peer *peer, const char *type,
             json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	const char *conv = str_field(msg, "conversation");
	char staff[24];
	struct pending *p;
	int rc = -1;

	snprintf(staff, sizeof(staff), "%llu", (unsigned long long)peer->staff);
	if ((strncmp(type, "offer.", 6) == 0 ||
	     strncmp(type, "conversation.", 13) == 0) &&
	    parse_id(conv) == 0) {
		send_error(rw, peer->conn, id, "bad_message",
		           "conversation must be a conversation id (decimal)");
		return;
	}
	if (strcmp(type, "desk.status") == 0) {
		const char *st = str_field(msg, "status");
		const char *reason;

		if (st == NULL || !desk_status_valid(st) ||
		    opt_string(msg, "reason", sizeof(peer->reason) - 1,
		               &reason) != 0) {
			send_error(rw, peer->conn, id, "bad_message",
			           "desk.status needs a status (available, "
			           "busy, away, wrap_up or offline) and an "
			           "optional reason of at most 63 bytes");
			return;
		}
		snprintf(peer->status, sizeof(peer->status), "%s", st);
		snprintf(peer->reason, sizeof(peer->reason), "%s",
		         reason ? reason : "");
		p = op_pending(rw, peer->conn, msg, "desk.status.ok");
		rc = route_advisor_login(rw->r, staff, st, reason, on_routed,
		                         p);
	} else if (strcmp(type, "offer.accept") == 0 ||
	           strcmp(type, "offer.reject") == 0) {
		int accept = type[6] == 'a';

		p = op_pending(rw, peer->conn, msg,
		               accept ? "offer.accepted" : "offer.rejected");
		rc = accept ? route_accept(rw->r, conv, staff, on_routed, p)
		            : route_reject(rw->r, conv, staff, on_routed, p);
	} else if (strcmp(type, "conversation.release") == 0) {
		const char *why = str_field(msg, "why");

		if (why == NULL || (strcmp(why, "closed") != 0 &&
		                    strcmp(why, "wrapped") != 0)) {
			send_error(rw, peer->conn, id, "bad_message",
			           "why must be closed or wrapped");
			return;
		}
		p = op_pending(rw, peer->conn, msg, "conversation.released");
		snprintf(p->conv, sizeof(p->conv), "%s", conv);
		/* A closing advisor acts for themself; supervisors for anyone.
		 */
		snprintf(p->staff, sizeof(p->staff), "%s",
		         is_supervisor(peer) ? "" : staff);
		rc = route_release_by(
		        rw->r, conv, why, is_supervisor(peer) ? "" : staff,
		        strcmp(why, "closed") == 0 ? on_released : on_routed,
		        p);
	} else if (strcmp(type, "conversation.wrap_up") == 0) {
		desk_wrap_up(rw, peer, msg);
		return;
	} else if (strcmp(type, "conversation.transfer") == 0) {
		const char *queue, *to, *note, *why;
		/* Supervisors may move anyone's conversation. */
		const char *by = is_supervisor(peer) ? "" : staff;
		struct transfer_pending *t;
		char qid[24];

		why = transfer_args(rw, msg, qid, sizeof(qid), &queue, &to,
		                    &note);
		if (why != NULL) {
			send_error(rw, peer->conn, id, "bad_message", why);
			return;
		}
		if (queue != NULL && parse_id(queue) == 0) {
			/* A slug before the queues were first read. */
			send_error(
			        rw, peer->conn, id, "unavailable",
			        "the queues are still being read: try again");
			queues_reload(rw);
			return;
		}
		p = op_pending(rw, peer->conn, msg, "conversation.transferred");
		t = xcalloc(1, sizeof(*t));
		t->p = p;
		t->note =
		        note != NULL && note[0] != '\0' ? xstrdup(note) : NULL;
		snprintf(t->conv, sizeof(t->conv), "%s", conv ? conv : "");
		snprintf(t->staff, sizeof(t->staff), "%s", staff);
		snprintf(t->queue, sizeof(t->queue), "%s", queue ? queue : "");
		snprintf(t->advisor, sizeof(t->advisor), "%s", to ? to : "");
		rc = route_transfer_by(rw->r, conv, queue, to, by,
		                       on_transferred, t);
		if (rc != 0) {
			free(t->note);
			free(t);
		}
	} else if (strcmp(type, "conversation.pick") == 0) {
		p = op_pending(rw, peer->conn, msg, "conversation.picked");
		rc = route_pick(rw->r, conv, staff, on_routed, p);
	} else if (strcmp(type, "queue.view") == 0 ||
	           strcmp(type, "queue.unwatch") == 0) {
		desk_watch(rw, peer, type, msg);
		return;
	} else if (strcmp(type, "desk.logout") == 0) {
		p = op_pending(rw, peer->conn, msg, "desk.logged_out");
		peer->status[0] = '\0';
		rc = route_advisor_logout(rw->r, staff, on_routed, p);
	} else if (strcmp(type, "wallboard.watch") == 0 ||
	           strcmp(type, "wallboard.unwatch") == 0) {
		int on = type[10] == 'w';

		if (on && !is_supervisor(peer)) {
			send_error(rw, peer->conn, id, "forbidden",
			           "the wallboard is for supervisors");
			return;
		}
		send_to(rw, peer->conn, id,
		        json_pack("{s:s}", "type",
		                  on ? "wallboard.watching"
		                     : "wallboard.unwatched"));
		wallboard_watch(rw->wallboard, peer->conn, on);
		return;
	} else if (strncmp(type, "chat.", 5) == 0 &&
	           rw->chat.desk_msg != NULL) {
		struct route_ws_desk d = {peer->conn, peer->staff, peer->role,
		                          peer->name};

		rw->chat.desk_msg(rw->chat.arg, &d, type, msg);
		return;
	} else {
		send_error(rw, peer->conn, id, "unknown_type", type);
		return;
	}
	if (rc != 0) {
		send_error(rw, peer->conn, id, "unavailable",
		           "routing is unavailable, or an id is not valid");
		pending_free(p);
	}
}

/* ---------------------------------------------------------------- queues */

static const char QUEUES_SQL[] =
        "SELECT q.id, q.slug, coalesce(qc.out_of_hours, ''),"
        " q.out_of_hours_message, coalesce(q.overflow_queue_id::text, ''),"
        " (SELECT coalesce(string_agg(h.weekday || ':' ||"
        "   (extract(epoch FROM h.opens_at) / 60)::int || ':' ||"
        "   (extract(epoch FROM h.closes_at) / 60)::int, ','), '')"
        "  FROM queue_hours h WHERE h.queue_id = q.id),"
        " (SELECT coalesce(string_agg(to_char(d.day, 'YYYY-MM-DD'), ','), '')"
        "  FROM closure_days d WHERE (d.queue_id = q.id OR d.queue_id IS NULL)"
        "  AND d.day >= current_date - 1),"
        " q.name, qc.queue_id IS NOT NULL"
        " FROM queues q LEFT JOIN queue_channels qc"
        "  ON qc.queue_id = q.id AND qc.channel = 'chat'"
        " WHERE q.active";

static void
qinfo_free(void *arg, uint64_t key, void *value)
{
	struct qinfo *q = value;

	(void)arg;
	(void)key;
	route_hours_free(q->hours);
	free(q->message);
	free(q->name);
	free(q);
}

static struct qinfo *
qinfo_from_row(const PGresult *res, int i)
{
	struct qinfo *q = xcalloc(1, sizeof(*q));
	const char *p;
	int wd, o, c, y, m, d, n, nint = 0;

	q->id = parse_id(PQgetvalue(res, i, 0));
	snprintf(q->slug, sizeof(q->slug), "%s", PQgetvalue(res, i, 1));
	snprintf(q->out_of_hours, sizeof(q->out_of_hours), "%s",
	         PQgetvalue(res, i, 2));
	q->message = xstrdup(PQgetvalue(res, i, 3));
	q->overflow = parse_id(PQgetvalue(res, i, 4));
	q->name = xstrdup(PQgetvalue(res, i, 7));
	q->chat = strcmp(PQgetvalue(res, i, 8), "t") == 0;
	q->hours = route_hours_new();
	for (p = PQgetvalue(res, i, 5);
	     sscanf(p, "%d:%d:%d%n", &wd, &o, &c, &n) == 3; p += n) {
		route_hours_add_interval(q->hours, wd, o, c);
		nint++;
		if (p[n] == ',')
			p++;
	}
	/* No opening hours recorded: the queue is always open. */
	if (nint == 0)
		route_hours_set_always_open(q->hours, 1);
	for (p = PQgetvalue(res, i, 6);
	     sscanf(p, "%d-%d-%d%n", &y, &m, &d, &n) == 3; p += n) {
		route_hours_add_closure(q->hours, y, m, d);
		if (p[n] == ',')
			p++;
	}
	return q;
}

static void
on_queues(void *arg, PGresult *res, const char *err)
{
	struct route_ws *rw = arg;
	struct idmap *fresh;
	int i, n;

	rw->queues_inflight = 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		gw_warn("route_ws.queues_failed", "reason=\"%s\"",
		        err ? err : "?");
		return;
	}
	fresh = idmap_new();
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		struct qinfo *q = qinfo_from_row(res, i);

		idmap_put(fresh, q->id, q);
	}
	idmap_each(rw->queues, qinfo_free, NULL);
	idmap_free(rw->queues);
	rw->queues = fresh;
	rw->queues_loaded = 1;
}

static void
queues_reload(struct route_ws *rw)
{
	if (!rw->queues_inflight && db_ready(rw->db) &&
	    db_query(rw->db, QUEUES_SQL, 0, NULL, on_queues, rw) == 0)
		rw->queues_inflight = 1;
}

struct find_slug {
	const char *slug;
	struct qinfo *found;
};

static void
match_slug(void *arg, uint64_t key, void *value)
{
	struct find_slug *f = arg;
	struct qinfo *q = value;

	(void)key;
	if (strcmp(q->slug, f->slug) == 0)
		f->found = q;
}

static struct qinfo *
queue_find(struct route_ws *rw, const char *slug_or_id)
{
	struct find_slug f = {slug_or_id, NULL};
	uint64_t id = parse_id(slug_or_id);

	if (id != 0)
		return idmap_get(rw->queues, id);
	idmap_each(rw->queues, match_slug, &f);
	return f.found;
}

/*
 * A chat for a closed queue: refused with the queue's message and when it
 * opens again, offered to leave a message, or sent to the overflow queue.
 * Returns the queue to start the chat in, or NULL when it was answered.
 */
static const char *
gate_queue(struct route_ws *rw, unsigned long conn, json_t *id,
           const char *asked, char *buf, size_t len)
{
	struct qinfo *q = queue_find(rw, asked);
	time_t now = time(NULL), next;
	json_t *m;

	if (q == NULL || route_hours_is_open(q->hours, now) ||
	    strcmp(q->out_of_hours, "queue") == 0)
		return asked;
	if (strcmp(q->out_of_hours, "overflow") == 0 && q->overflow != 0) {
		snprintf(buf, len, "%llu", (unsigned long long)q->overflow);
		return buf;
	}
	next = route_hours_next_open(q->hours, now);
	m = json_pack("{s:s, s:s, s:s, s:b}", "type", "chat.closed", "queue",
	              q->slug, "message", q->message, "leave_message",
	              strcmp(q->out_of_hours, "leave_message") == 0);
	if (next > 0)
		json_object_set_new(m, "next_open_ms",
		                    json_integer((json_int_t)next * 1000));
	send_to(rw, conn, id, m);
	return NULL;
}

/* ---------------------------------------------------------------- residents */

static void
on_enqueued(void *arg, int ok, const char *err, const struct route_event *ev,
            size_t n)
{
	struct pending *p = arg;

	(void)ev;
	(void)n;
	/*
	 * Committed as waiting already: if Redis refused it just now, the
	 * reconciler queues it within seconds.
	 */
	if (!ok)
		gw_warn("route_ws.enqueue_later", "conv=%s reason=\"%s\"",
		        p->conv, err);
	pending_free(p);
}

static void
on_started(void *arg, int ok, const PGresult *res, int row, const char *err)
{
	struct pending *p = arg;
	struct route_ws *rw = p->rw;
	struct peer *peer = peer_get(rw, p->conn);
	const char *conv, *queue;

	if (peer == NULL || peer->kind != PEER_RESIDENT || peer->conv != 0) {
		/* Gone meanwhile: the row stays 'open', never routed. */
		pending_free(p);
		return;
	}
	if (!ok || res == NULL || row < 0) {
		send_error(rw, p->conn, p->id, ok ? "not_found" : "unavailable",
		           ok ? "no such queue takes chat" : err);
		pending_free(p);
		return;
	}
	conv = PQgetvalue(res, row, 1);
	queue = PQgetvalue(res, row, 3);
	peer->conv = parse_id(conv);
	peer->queue = parse_id(queue);
	peer->waiting = 1;
	peer->last_pos = -1;
	idmap_put(rw->residents, peer->conv, peer);
	/*
	 * Durably waiting now. Told at once, before any offer can be made;
	 * a later chat.leave (or closing the socket) releases it on the same
	 * Redis connection as this enqueue, so after it.
	 */
	send_to(rw, p->conn, p->id,
	        json_pack("{s:s, s:s, s:s}", "type", "chat.queued",
	                  "conversation", conv, "reference",
	                  PQgetvalue(res, row, 2)));
	snprintf(p->conv, sizeof(p->conv), "%s", conv);
	if (route_enqueue(rw->r, conv, queue, "chat", 0,
	                  atoll(PQgetvalue(res, row, 4)), "", on_enqueued,
	                  p) != 0)
		on_enqueued(p, 0, "routing unavailable", NULL, 0);
}

static void
resident_message(struct route_ws *rw, struct peer *peer, const char *type,
                 json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	const char *params[2], *reason = NULL;
	char conv[24], qbuf[24];
	struct pending *p;

	if (strcmp(type, "chat.start") == 0) {
		params[0] = str_field(msg, "queue");
		params[1] = str_field(msg, "name");
		if (peer->conv != 0) {
			send_error(rw, peer->conn, id, "bad_message",
			           "this socket already has a conversation");
			return;
		}
		if (params[0] == NULL || params[1] == NULL ||
		    strlen(params[1]) > NAME_MAX_LEN) {
			send_error(rw, peer->conn, id, "bad_message",
			           "chat.start needs queue and name (at most "
			           "200 bytes)");
			return;
		}
		params[0] = gate_queue(rw, peer->conn, id, params[0], qbuf,
		                       sizeof(qbuf));
		if (params[0] == NULL)
			return;
		p = pending_new(rw, peer->conn, msg);
		if (db_commit_submit_row(rw->w, &START_ROWS, params, on_started,
		                         p, &reason) != 0) {
			send_error(rw, peer->conn, id, "unavailable", reason);
			pending_free(p);
		}
	} else if (strcmp(type, "chat.leave") == 0 && peer->conv != 0) {
		snprintf(conv, sizeof(conv), "%llu",
		         (unsigned long long)peer->conv);
		peer->waiting = 0;
		p = op_pending(rw, peer->conn, msg, "chat.left");
		if (route_release(rw->r, conv, "abandoned", on_routed, p) !=
		    0) {
			send_error(rw, peer->conn, id, "unavailable",
			           "routing is unavailable");
			pending_free(p);
		}
	} else {
		send_error(rw, peer->conn, id, "unknown_type", type);
	}
}

/* ---------------------------------------------------------------- events */

static void
push_to_desks(struct route_ws *rw, const struct route_event *ev)
{
	struct peer *d = idmap_get(rw->desks, parse_id(ev->advisor));
	json_t *m = NULL;

	for (; d != NULL; d = d->next_desk) {
		if (strcmp(ev->kind, "offered") == 0)
			m = json_pack(
			        "{s:s, s:s, s:s, s:s, s:I, s:I}", "type",
			        "offer", "conversation", ev->conv, "queue",
			        ev->nextra > 0 ? ev->extra[0] : "", "channel",
			        ev->nextra > 1 ? ev->extra[1] : "",
			        "deadline_ms",
			        (json_int_t)atoll(ev->nextra > 2 ? ev->extra[2]
			                                         : "0"),
			        "waited_ms",
			        (json_int_t)atoll(ev->nextra > 3 ? ev->extra[3]
			                                         : "0"));
		else if (strcmp(ev->kind, "accepted") == 0)
			m = json_pack("{s:s, s:s}", "type",
			              "conversation.assigned", "conversation",
			              ev->conv);
		/*
		 * After-contact work: the capacity is held until then (0
		 * once it is over); the conversation stays theirs.
		 */
		else if (strcmp(ev->kind, "ended") == 0 ||
		         strcmp(ev->kind, "acw_expired") == 0)
			m = json_pack(
			        "{s:s, s:s, s:I}", "type", "conversation.ended",
			        "conversation", ev->conv, "wrap_up_until_ms",
			        (json_int_t)(ev->kind[0] == 'e' &&
			                                     ev->nextra > 3
			                             ? atoll(ev->extra[3])
			                             : 0));
		else if (strcmp(ev->kind, "timed_out") == 0 ||
		         strcmp(ev->kind, "requeued") == 0 ||
		         strcmp(ev->kind, "transferred") == 0 ||
		         strcmp(ev->kind, "released") == 0 ||
		         strcmp(ev->kind, "rejected") == 0 ||
		         strcmp(ev->kind, "withdrawn") == 0)
			m = json_pack("{s:s, s:s, s:s}", "type",
			              "conversation.removed", "conversation",
			              ev->conv, "reason", ev->kind);
		else if (strcmp(ev->kind, "status") == 0) {
			m = json_pack(
			        "{s:s, s:s, s:s}", "type", "desk.status",
			        "status", ev->nextra > 0 ? ev->extra[0] : "",
			        "reason", ev->nextra > 1 ? ev->extra[1] : "");
			if (ev->nextra > 2)
				json_object_set_new(m, "capacity",
				                    caps_json(ev->extra[2]));
		} else
			return;
		gw_http_ws_send(rw->http, d->conn, m);
	}
}

static void
push_to_resident(struct route_ws *rw, const struct route_event *ev)
{
	struct peer *r = idmap_get(rw->residents, parse_id(ev->conv));

	if (r == NULL)
		return;
	/* switchboard.chat.v1 residents are told by the chat channel. */
	if (strcmp(ev->kind, "accepted") == 0) {
		r->waiting = 0;
		if (!r->chat_v1)
			gw_http_ws_send(rw->http, r->conn,
			                json_pack("{s:s, s:s}", "type",
			                          "chat.assigned",
			                          "conversation", ev->conv));
	} else if (strcmp(ev->kind, "requeued") == 0 ||
	           strcmp(ev->kind, "transferred") == 0) {
		/* Back in a queue: its position follows with the queue's. */
		r->waiting = 1;
		r->last_pos = -1;
		if (ev->nextra > 0 && parse_id(ev->extra[0]) != 0)
			r->queue = parse_id(ev->extra[0]);
		if (!r->chat_v1)
			gw_http_ws_send(rw->http, r->conn,
			                json_pack("{s:s, s:s, s:s}", "type",
			                          "chat.requeued",
			                          "conversation", ev->conv,
			                          "reason", ev->kind));
	} else if (strcmp(ev->kind, "released") == 0) {
		r->waiting = 0;
	}
}

static void mark_dirty(struct route_ws *rw, uint64_t queue);

static void
on_route_events(void *arg, const struct route_event *ev, size_t n)
{
	struct route_ws *rw = arg;
	size_t i;

	for (i = 0; i < n; i++) {
		/*
		 * Any decision on a conversation of a queue (one joined, one
		 * was offered, answered, left) moves the places behind it or
		 * the estimated wait: the queue's waiting residents here are
		 * told their new place shortly.
		 */
		if (ev[i].conv[0] != '\0' && ev[i].nextra > 0)
			mark_dirty(rw, parse_id(ev[i].extra[0]));
		if (ev[i].advisor[0] != '\0')
			push_to_desks(rw, &ev[i]);
		if (ev[i].conv[0] != '\0')
			push_to_resident(rw, &ev[i]);
	}
	if (rw->chat.events != NULL)
		rw->chat.events(rw->chat.arg, ev, n);
}

static void
on_holding(void *arg, int ok, const char *err, const struct route_event *ev,
           size_t n)
{
	struct pending *p = arg;
	const char *status = "offline", *reason = "", *caps = "";
	json_t *list, *c;
	size_t i;

	(void)err;
	if (!ok || peer_get(p->rw, p->conn) == NULL) {
		pending_free(p);
		return;
	}
	list = json_array();
	for (i = 0; i < n; i++) {
		/* offers and ended ones carry a deadline, then the wait */
		int ended = strcmp(ev[i].kind, "ended") == 0;
		int offered = strcmp(ev[i].kind, "offered") == 0 || ended;

		if (strcmp(ev[i].kind, "status") == 0) {
			status = ev[i].nextra > 0 ? ev[i].extra[0] : status;
			reason = ev[i].nextra > 1 ? ev[i].extra[1] : reason;
			caps = ev[i].nextra > 2 ? ev[i].extra[2] : caps;
			continue;
		}

		c = json_pack("{s:s, s:s, s:s, s:s}", "conversation",
		              ev[i].conv, "state",
		              ended     ? "ended"
		              : offered ? "offered"
		                        : "assigned",
		              "queue", ev[i].nextra > 0 ? ev[i].extra[0] : "",
		              "channel",
		              ev[i].nextra > 1 ? ev[i].extra[1] : "");
		if (offered)
			json_object_set_new(
			        c, "deadline_ms",
			        json_integer(atoll(ev[i].nextra > 2
			                                   ? ev[i].extra[2]
			                                   : "0")));
		json_object_set_new(
		        c, "waited_ms",
		        json_integer(
		                atoll(ev[i].nextra > (offered ? 3u : 2u)
		                              ? ev[i].extra[offered ? 3 : 2]
		                              : "0")));
		json_array_append_new(list, c);
	}
	send_to(p->rw, p->conn, NULL,
	        json_pack("{s:s, s:o, s:s, s:s, s:o}", "type",
	                  "desk.conversations", "conversations", list, "status",
	                  status, "reason", reason, "capacity",
	                  caps_json(caps)));
	pending_free(p);
}

/*
 * Tells one desk what its advisor holds now (open offers, assigned
 * conversations): when it opens, and after a rebuild, when what it held
 * may have changed under it. Skipped while routing is unavailable: the
 * rebuild that ends it sends the snapshot again.
 */
static void
send_holding(struct route_ws *rw, const struct peer *d)
{
	struct pending *p = pending_new(rw, d->conn, NULL);
	char id[24];

	snprintf(id, sizeof(id), "%llu", (unsigned long long)d->staff);
	if (route_holding(rw->r, id, on_holding, p) != 0)
		pending_free(p);
}

static void
announce_desk(void *arg, uint64_t staff, void *value)
{
	struct route_ws *rw = arg;
	struct peer *d = value, *x;
	char id[24];

	for (x = d; x != NULL; x = x->next_desk)
		send_holding(rw, x);
	if (d->status[0] == '\0')
		return;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)staff);
	route_advisor_login(rw->r, id, d->status, d->reason, NULL, NULL);
}

static void
on_route_epoch(void *arg, unsigned long long epoch)
{
	struct route_ws *rw = arg;

	(void)epoch;
	/* Routing state was rebuilt: our desks announce themselves again. */
	idmap_each(rw->desks, announce_desk, rw);
}

/* ---------------------------------------------------------------- positions */

/* One positions call: up to ROUTE_POSITIONS_MAX residents of one queue. */
struct pos_batch {
	struct route_ws *rw;
	size_t n;
	unsigned long conn[ROUTE_POSITIONS_MAX];
	uint64_t conv[ROUTE_POSITIONS_MAX];
	char queue[24];
};

static void
on_batch(void *arg, int ok, const long *pos, size_t n, long long span,
         long intervals)
{
	struct pos_batch *b = arg;
	struct peer *peer;
	long long ewt;
	size_t i;

	for (i = 0; ok && i < n && i < b->n; i++) {
		peer = peer_get(b->rw, b->conn[i]);
		if (peer == NULL || !peer->waiting ||
		    peer->conv != b->conv[i] || pos[i] <= 0)
			continue;
		ewt = intervals > 0 && span > 0 ? pos[i] * span / intervals
		                                : -1;
		if (pos[i] == peer->last_pos && ewt == peer->last_ewt)
			continue;
		peer->last_pos = pos[i];
		peer->last_ewt = ewt;
		gw_http_ws_send(b->rw->http, peer->conn,
		                json_pack("{s:s, s:I, s:I}", "type",
		                          peer->chat_v1 ? "chat.queued"
		                                        : "queue.position",
		                          "position", (json_int_t)pos[i],
		                          "estimated_wait_ms",
		                          (json_int_t)ewt));
	}
	free(b);
}

static void
batch_send(struct pos_batch *b)
{
	char text[ROUTE_POSITIONS_MAX][24];
	const char *ids[ROUTE_POSITIONS_MAX];
	size_t i;

	for (i = 0; i < b->n; i++) {
		snprintf(text[i], sizeof(text[i]), "%llu",
		         (unsigned long long)b->conv[i]);
		ids[i] = text[i];
	}
	if (route_positions(b->rw->r, b->queue, ids, b->n, on_batch, b) != 0)
		free(b);
}

struct flush_pass {
	struct route_ws *rw;
	struct idmap *batches; /* queue id -> batch being filled */
};

static void
batch_add(void *arg, uint64_t conv, void *value)
{
	struct flush_pass *fp = arg;
	struct peer *peer = value;
	struct pos_batch *b;

	if (!peer->waiting || peer->queue == 0 ||
	    idmap_get(fp->rw->dirty, peer->queue) == NULL)
		return;
	b = idmap_get(fp->batches, peer->queue);
	if (b == NULL) {
		b = xcalloc(1, sizeof(*b));
		b->rw = fp->rw;
		snprintf(b->queue, sizeof(b->queue), "%llu",
		         (unsigned long long)peer->queue);
		idmap_put(fp->batches, peer->queue, b);
	}
	b->conn[b->n] = peer->conn;
	b->conv[b->n] = conv;
	if (++b->n == ROUTE_POSITIONS_MAX) {
		idmap_del(fp->batches, peer->queue);
		batch_send(b);
	}
}

static void
batch_flush(void *arg, uint64_t queue, void *value)
{
	(void)arg;
	(void)queue;
	batch_send(value);
}

/* A desk following a queue that changed gets its new view. */
static void
view_push(void *arg, uint64_t conn, void *value)
{
	struct route_ws *rw = arg;
	struct peer *peer = value;
	int i;

	(void)conn;
	if (peer->kind != PEER_STAFF)
		return;
	for (i = 0; i < peer->nwatch; i++)
		if (idmap_get(rw->dirty, peer->watch[i]) != NULL)
			send_view(rw, peer, peer->watch[i], NULL);
}

/*
 * Asks the places of every waiting resident here in a dirty queue, and
 * sends the desks following a dirty queue its view.
 */
static void
on_flush(uv_timer_t *t)
{
	struct route_ws *rw = t->data;
	struct flush_pass fp = {rw, idmap_new()};

	idmap_each(rw->peers, view_push, rw);
	idmap_each(rw->residents, batch_add, &fp);
	idmap_each(fp.batches, batch_flush, NULL);
	idmap_free(fp.batches);
	idmap_free(rw->dirty);
	rw->dirty = idmap_new();
	rw->flushed_at = uv_now(rw->loop);
}

static void
mark_dirty(struct route_ws *rw, uint64_t queue)
{
	if (queue == 0 || rw->closing)
		return;
	idmap_put(rw->dirty, queue, rw);
	if (!uv_is_active((uv_handle_t *)&rw->flush)) {
		uint64_t now = uv_now(rw->loop), due = now + POSITION_FLUSH_MS;

		if (rw->flushed_at + POSITION_GAP_MS > due)
			due = rw->flushed_at + POSITION_GAP_MS;
		uv_timer_start(&rw->flush, on_flush, due - now, 0);
	}
}

static void
mark_waiting_dirty(void *arg, uint64_t conv, void *value)
{
	struct peer *peer = value;

	(void)conv;
	if (peer->waiting)
		mark_dirty(arg, peer->queue);
}

/* ---------------------------------------------------------------- sessions */

struct session_ids {
	unsigned gen;
	long long *ids;
	size_t n, cap;
};

static void
collect_session(void *arg, uint64_t staff, void *value)
{
	struct session_ids *s = arg;
	struct peer *d;

	(void)staff;
	for (d = value; d != NULL; d = d->next_desk) {
		if (d->revoked || s->n == s->cap)
			continue;
		d->asked = s->gen;
		s->ids[s->n++] = d->session;
	}
}

static int
state_cmp(const void *a, const void *b)
{
	long long x = ((const struct gw_session_state *)a)->session_id;
	long long y = ((const struct gw_session_state *)b)->session_id;

	return (x > y) - (x < y);
}

/*
 * A desk to close, and whether its user is signed out everywhere, or
 * (changed) still signed in with another access digest.
 */
struct revoked {
	unsigned long conn;
	int logout;
	int changed;
};

struct revoke_scan {
	unsigned gen;
	const struct gw_session_state *states; /* sorted by session id */
	size_t nstates;
	/* Desks to close: the map cannot change while it is walked. */
	struct revoked *found;
	size_t n, cap;
};

static void
find_revoked(void *arg, uint64_t staff, void *value)
{
	struct revoke_scan *sc = arg;
	struct gw_session_state key;
	const struct gw_session_state *st;
	struct peer *d;

	(void)staff;
	for (d = value; d != NULL; d = d->next_desk) {
		/* Opened after the question: not asked about, not judged. */
		if (d->revoked || d->asked != sc->gen || sc->n == sc->cap)
			continue;
		memset(&key, 0, sizeof(key));
		key.session_id = d->session;
		/* bsearch must not be given NULL, even for no elements. */
		st = sc->nstates == 0 ? NULL
		                      : bsearch(&key, sc->states, sc->nstates,
		                                sizeof(key), state_cmp);
		if (st != NULL && st->live &&
		    strcmp(st->access, d->access) == 0)
			continue;
		sc->found[sc->n].conn = d->conn;
		sc->found[sc->n].changed = st != NULL && st->live;
		/* A deleted session ended long ago: nothing says otherwise. */
		sc->found[sc->n].logout = st == NULL || !st->staff_live;
		sc->n++;
	}
}

/*
 * The desk's session ended: refuse its messages from now on and close it.
 * When its user has no live session left and this was the instance's
 * last desk of the advisor, log them out of routing: their live work goes
 * back to the queues now, not after the grace period. Otherwise (signed
 * in elsewhere) the close is an ordinary one: route_advisor_gone.
 */
static void
desk_revoke(struct route_ws *rw, unsigned long conn, int logout)
{
	struct peer *peer = peer_get(rw, conn), *d;
	int others = 0;
	char id[24];

	if (peer == NULL || peer->kind != PEER_STAFF || peer->revoked)
		return;
	peer->revoked = 1;
	for (d = idmap_get(rw->desks, peer->staff); d != NULL; d = d->next_desk)
		if (!d->revoked)
			others = 1;
	gw_info("route_ws.desk_revoked", "conn=%lu staff=%llu logout=%d", conn,
	        (unsigned long long)peer->staff, logout && !others);
	if (logout && !others) {
		snprintf(id, sizeof(id), "%llu",
		         (unsigned long long)peer->staff);
		route_advisor_logout(rw->r, id, NULL, NULL);
	}
	gw_http_ws_close(rw->http, conn, DESK_REVOKED_CODE,
	                 DESK_REVOKED_REASON);
}

/*
 * The desk's user got another role or other queues: it is closed, and
 * connects again under the new rules. An ordinary close for routing (the
 * grace period covers the reconnection); its messages are refused until
 * then.
 */
static void
desk_changed(struct route_ws *rw, unsigned long conn)
{
	struct peer *peer = peer_get(rw, conn);

	if (peer == NULL || peer->kind != PEER_STAFF || peer->revoked)
		return;
	peer->revoked = 2;
	gw_info("route_ws.desk_access_changed", "conn=%lu staff=%llu", conn,
	        (unsigned long long)peer->staff);
	gw_http_ws_close(rw->http, conn, DESK_CHANGED_CODE,
	                 DESK_CHANGED_REASON);
}

static void
on_sessions_live(void *arg, enum gw_session_status status, const char *err,
                 const struct gw_session_state *states, size_t n)
{
	struct route_ws *rw = arg;
	struct gw_session_state *sorted = NULL;
	struct revoke_scan sc;
	size_t i;

	rw->sessions_inflight = 0;
	if (status != GW_SESSION_OK) {
		/* Unknown is not revoked: the desks stay until we know. */
		gw_warn("route_ws.sessions_failed", "reason=\"%s\"",
		        err ? err : "?");
		return;
	}
	if (n > 0) {
		sorted = xcalloc(n, sizeof(*sorted));
		memcpy(sorted, states, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), state_cmp);
	}
	memset(&sc, 0, sizeof(sc));
	sc.gen = rw->sessions_gen;
	sc.states = sorted;
	sc.nstates = n;
	sc.cap = idmap_count(rw->peers);
	sc.found = xcalloc(sc.cap + 1, sizeof(*sc.found));
	idmap_each(rw->desks, find_revoked, &sc);
	for (i = 0; i < sc.n; i++)
		if (sc.found[i].changed)
			desk_changed(rw, sc.found[i].conn);
		else
			desk_revoke(rw, sc.found[i].conn, sc.found[i].logout);
	free(sc.found);
	free(sorted);
}

/* A revocation announced, kept REVOKED_KEEP_MS (route_ws_revoke). */
struct revoked_at {
	uint64_t at;
	long long session; /* 0: every session of the staff member */
	int logout;
};

void
route_ws_revoke(struct route_ws *rw, long long staff, long long session,
                int logout)
{
	struct revoked_at *ra;
	struct peer *d;
	unsigned long conns[64];
	int i, n = 0;

	if (rw == NULL || staff <= 0)
		return;
	ra = idmap_get(rw->revoked, (uint64_t)staff);
	if (ra == NULL) {
		ra = xcalloc(1, sizeof(*ra));
		idmap_put(rw->revoked, (uint64_t)staff, ra);
		ra->session = session;
	} else if (ra->session != session) {
		ra->session = 0; /* two sessions: judge every one */
	}
	ra->at = uv_now(rw->loop);
	ra->logout = logout;
	/* desk_revoke does not change the list: collect, then act. */
	do {
		n = 0;
		for (d = idmap_get(rw->desks, (uint64_t)staff);
		     d != NULL && n < 64; d = d->next_desk)
			if (!d->revoked &&
			    (session == 0 || d->session == session))
				conns[n++] = d->conn;
		for (i = 0; i < n; i++)
			desk_revoke(rw, conns[i], logout);
	} while (n == 64);
}

/*
 * A desk whose session check answered: revoked meanwhile (announced after
 * the check was asked)? The database's answer may predate the revocation.
 */
static int
revoked_since(struct route_ws *rw, const struct peer *peer)
{
	const struct revoked_at *ra = idmap_get(rw->revoked, peer->staff);

	return ra != NULL && ra->at >= peer->opened &&
	       (ra->session == 0 || ra->session == peer->session);
}

static void
forget_revoked(void *arg, uint64_t staff, void *value)
{
	struct route_ws *rw = arg;
	struct revoked_at *ra = value;

	(void)staff;
	if (uv_now(rw->loop) - ra->at > REVOKED_KEEP_MS)
		ra->at = 0; /* freed below: the map cannot change in a walk */
}

struct stale {
	uint64_t ids[64];
	int n;
};

static void
collect_stale(void *arg, uint64_t staff, void *value)
{
	struct stale *st = arg;

	if (((struct revoked_at *)value)->at == 0 && st->n < 64)
		st->ids[st->n++] = staff;
}

static void
prune_revoked(struct route_ws *rw)
{
	struct stale st;
	int i;

	if (idmap_count(rw->revoked) == 0)
		return;
	idmap_each(rw->revoked, forget_revoked, rw);
	st.n = 0;
	idmap_each(rw->revoked, collect_stale, &st);
	for (i = 0; i < st.n; i++)
		free(idmap_del(rw->revoked, st.ids[i]));
}

static void
sessions_recheck(struct route_ws *rw)
{
	struct session_ids s;

	if (rw->sessions_inflight || idmap_count(rw->desks) == 0)
		return;
	memset(&s, 0, sizeof(s));
	s.gen = ++rw->sessions_gen;
	s.cap = idmap_count(rw->peers);
	s.ids = xcalloc(s.cap + 1, sizeof(*s.ids));
	idmap_each(rw->desks, collect_session, &s);
	if (s.n > 0 && gw_session_live(rw->sessions, s.ids, s.n,
	                               on_sessions_live, rw) == GW_SESSION_OK)
		rw->sessions_inflight = 1;
	free(s.ids);
}

static void
on_positions(uv_timer_t *t)
{
	struct route_ws *rw = t->data;

	/* Every tick until the first read succeeds (the database was down). */
	if (rw->ticks % QUEUES_EVERY_TICKS == 0 || !rw->queues_loaded)
		queues_reload(rw);
	/*
	 * A safety net: a change whose event this instance missed (Redis
	 * reconnecting) is pushed within this period anyway.
	 */
	if (rw->ticks % POSITIONS_ALL_EVERY_TICKS == 0)
		idmap_each(rw->residents, mark_waiting_dirty, rw);
	if (rw->ticks % SESSIONS_EVERY_TICKS == 0) {
		sessions_recheck(rw);
		prune_revoked(rw);
	}
	rw->ticks++;
}

/* ---------------------------------------------------------------- sockets */

static void
on_session(void *arg, enum gw_session_status status, const char *err,
           const struct gw_session_info *info)
{
	struct pending *p = arg;
	struct peer *peer = peer_get(p->rw, p->conn);

	if (peer == NULL || peer->kind != PEER_AUTHENTICATING) {
		pending_free(p);
		return;
	}
	if (status != GW_SESSION_OK) {
		/* Not signed in: this socket can only be a resident's. */
		gw_debug("route_ws.no_session", "conn=%lu reason=\"%s\"",
		         p->conn, err ? err : "");
		peer->kind = PEER_RESIDENT;
		pending_free(p);
		return;
	}
	peer->kind = PEER_STAFF;
	peer->staff = (uint64_t)info->staff_id;
	peer->session = info->session_id;
	peer->touched = uv_now(p->rw->loop); /* the check just touched it */
	snprintf(peer->role, sizeof(peer->role), "%s", info->role);
	snprintf(peer->access, sizeof(peer->access), "%s",
	         info->access ? info->access : "");
	snprintf(peer->name, sizeof(peer->name), "%s", info->display_name);
	desk_link(p->rw, peer);
	gw_info("route_ws.desk", "conn=%lu staff=%lld role=%s", p->conn,
	        info->staff_id, info->role);
	send_to(p->rw, p->conn, NULL,
	        json_pack("{s:s, s:I, s:s, s:s, s:i}", "type", "desk.ready",
	                  "staff", (json_int_t)info->staff_id, "role",
	                  info->role, "name", info->display_name,
	                  "idle_timeout_s",
	                  gw_session_idle_timeout(p->rw->sessions)));
	send_holding(p->rw, peer);
	/* Revoked while its check was on its way: closed at once. */
	if (revoked_since(p->rw, peer))
		desk_revoke(p->rw, p->conn,
		            ((struct revoked_at *)idmap_get(p->rw->revoked,
		                                            peer->staff))
		                    ->logout);
	pending_free(p);
}

/*
 * A message from a desk is activity: it keeps the session from going idle
 * (written at most every DESK_TOUCH_MS, or a quarter of the idle
 * timeout when that is shorter; sessions_recheck closes the desks
 * of sessions that went idle all the same).
 */
static void
desk_touch(struct route_ws *rw, struct peer *peer)
{
	uint64_t now = uv_now(rw->loop);
	uint64_t every = (uint64_t)gw_session_idle_timeout(rw->sessions) * 250;

	if (every > DESK_TOUCH_MS)
		every = DESK_TOUCH_MS;
	if (now - peer->touched < every)
		return;
	peer->touched = now;
	gw_session_touch(rw->sessions, peer->session, NULL, NULL);
}

/* The session token among a handshake's cookies, or NULL. */
static const char *
session_token(const char *cookie, char *buf, size_t len)
{
	return http_hdr_cookie(cookie, SESSION_COOKIE, buf, len) > 0 ? buf
	                                                             : NULL;
}

static void
on_open(void *arg, unsigned long conn, const char *cookie, const char *peer_ip)
{
	struct route_ws *rw = arg;
	struct peer *peer = xcalloc(1, sizeof(*peer));
	char token[256];
	struct pending *p;

	(void)peer_ip;
	peer->conn = conn;
	peer->kind = PEER_RESIDENT;
	idmap_put(rw->peers, conn, peer);
	if (session_token(cookie, token, sizeof(token)) == NULL)
		return;
	peer->kind = PEER_AUTHENTICATING;
	peer->opened = uv_now(rw->loop);
	p = pending_new(rw, conn, NULL);
	if (gw_session_check(rw->sessions, token, on_session, p) !=
	    GW_SESSION_OK) {
		peer->kind = PEER_RESIDENT;
		pending_free(p);
	}
}

static void
on_message(void *arg, unsigned long conn, const char *type, json_t *msg)
{
	struct route_ws *rw = arg;
	struct peer *peer = peer_get(rw, conn);
	json_t *id = json_object_get(msg, "id");

	if (peer == NULL)
		return;
	if (peer->kind == PEER_AUTHENTICATING) {
		send_error(rw, conn, id, "not_ready",
		           "the session is still being checked");
	} else if (peer->kind == PEER_STAFF && peer->revoked == 2) {
		send_error(rw, conn, id, "unauthorised",
		           "access changed: connect again");
	} else if (peer->kind == PEER_STAFF && peer->revoked) {
		send_error(rw, conn, id, "unauthorised",
		           "signed out: sign in again");
	} else if (peer->kind == PEER_STAFF) {
		/* Read receipts go out on their own when a message shows. */
		if (strcmp(type, "chat.read") != 0)
			desk_touch(rw, peer);
		desk_message(rw, peer, type, msg);
	} else if (strncmp(type, "desk.", 5) == 0 ||
	           strncmp(type, "offer.", 6) == 0 ||
	           strncmp(type, "conversation.", 13) == 0) {
		/* Authorised per message, not per connection. */
		send_error(rw, conn, id, "unauthorised",
		           "staff messages need a signed-in staff session");
	} else {
		resident_message(rw, peer, type, msg);
	}
}

static void
on_close(void *arg, unsigned long conn)
{
	struct route_ws *rw = arg;
	struct peer *peer = idmap_del(rw->peers, conn);
	char id[24];

	if (peer == NULL)
		return;
	if (peer->kind == PEER_STAFF)
		wallboard_watch(rw->wallboard, conn, 0);
	if (peer->kind == PEER_STAFF && rw->chat.desk_close != NULL)
		rw->chat.desk_close(rw->chat.arg, conn);
	if (peer->kind == PEER_STAFF && desk_unlink(rw, peer)) {
		snprintf(id, sizeof(id), "%llu",
		         (unsigned long long)peer->staff);
		/* Kept for the grace period, then re-queued by the sweep. */
		route_advisor_gone(rw->r, id);
	}
	if (peer->conv != 0) {
		idmap_del(rw->residents, peer->conv);
		if (peer->waiting) {
			snprintf(id, sizeof(id), "%llu",
			         (unsigned long long)peer->conv);
			route_release(rw->r, id, "abandoned", NULL, NULL);
		}
	}
	free(peer);
}

struct route_ws *
route_ws_new(uv_loop_t *loop, struct gw_http *http, struct route *r,
             struct db *db, struct db_commit *w,
             struct gw_session_store *sessions)
{
	struct route_ws *rw = xcalloc(1, sizeof(*rw));
	/* Desks (the staff cookie) and residents' test clients. */
	struct gw_ws_protocol p = {"switchboard.v1",
	                           GW_WS_STAFF_ORIGINS | GW_WS_RESIDENT_ORIGINS,
	                           1,
	                           NULL,
	                           {on_open, on_message, on_close, rw, NULL}};

	rw->loop = loop;
	rw->db = db;
	rw->queues = idmap_new();
	rw->http = http;
	rw->r = r;
	rw->w = w;
	rw->sessions = sessions;
	rw->peers = idmap_new();
	rw->desks = idmap_new();
	rw->residents = idmap_new();
	rw->dirty = idmap_new();
	rw->revoked = idmap_new();
	rw->wallboard = wallboard_new(loop, http, db);
	gw_http_ws_register(http, &p);
	route_set_callbacks(r, on_route_events, on_route_epoch, rw);
	uv_timer_init(loop, &rw->positions);
	rw->positions.data = rw;
	uv_timer_start(&rw->positions, on_positions, POSITION_TICK_MS,
	               POSITION_TICK_MS);
	uv_timer_init(loop, &rw->flush);
	rw->flush.data = rw;
	return rw;
}

void
route_ws_set_chat(struct route_ws *rw, const struct route_ws_chat *c)
{
	rw->chat = *c;
}

void
route_ws_resident_add(struct route_ws *rw, unsigned long conn, uint64_t conv,
                      uint64_t queue, int waiting)
{
	struct peer *peer = peer_get(rw, conn);

	if (peer == NULL) {
		peer = xcalloc(1, sizeof(*peer));
		peer->conn = conn;
		peer->kind = PEER_RESIDENT;
		peer->chat_v1 = 1;
		idmap_put(rw->peers, conn, peer);
	}
	peer->conv = conv;
	peer->queue = queue;
	peer->waiting = waiting;
	peer->last_pos = -1;
	idmap_put(rw->residents, conv, peer);
	if (waiting)
		mark_dirty(rw, queue);
}

void
route_ws_resident_remove(struct route_ws *rw, unsigned long conn)
{
	struct peer *peer = idmap_del(rw->peers, conn);

	if (peer == NULL)
		return;
	if (peer->conv != 0 && idmap_get(rw->residents, peer->conv) == peer)
		idmap_del(rw->residents, peer->conv);
	free(peer);
}

const char *
route_ws_gate(struct route_ws *rw, unsigned long conn, json_t *id,
              const char *queue, char *buf, size_t len)
{
	return gate_queue(rw, conn, id, queue, buf, len);
}

uint64_t
route_ws_queue_id(struct route_ws *rw, const char *queue)
{
	struct qinfo *q = queue_find(rw, queue);

	return q != NULL ? q->id : 0;
}

int
route_ws_queue_open(struct route_ws *rw, const char *queue)
{
	struct qinfo *q = queue_find(rw, queue);

	return q == NULL || route_hours_is_open(q->hours, time(NULL));
}

struct each_queue {
	void (*fn)(void *arg, const struct route_queue_view *q);
	void *arg;
};

static void
each_queue(void *arg, uint64_t key, void *value)
{
	struct each_queue *e = arg;
	const struct qinfo *q = value;
	struct route_queue_view v = {
	        .slug = q->slug,
	        .name = q->name,
	        .out_of_hours = q->out_of_hours,
	        .message = q->message,
	        .hours = q->hours,
	        .chat = q->chat,
	};

	(void)key;
	e->fn(e->arg, &v);
}

int
route_ws_each_queue(struct route_ws *rw,
                    void (*fn)(void *arg, const struct route_queue_view *q),
                    void *arg)
{
	struct each_queue e = {fn, arg};

	if (!rw->queues_loaded)
		return -1;
	idmap_each(rw->queues, each_queue, &e);
	return 0;
}

static void
free_peer(void *arg, uint64_t key, void *value)
{
	(void)arg;
	(void)key;
	free(value);
}

static void
route_ws_closed(uv_handle_t *h)
{
	struct route_ws *rw = h->data;

	if (--rw->closing > 0)
		return;
	idmap_each(rw->peers, free_peer, NULL);
	idmap_free(rw->peers);
	idmap_free(rw->desks);
	idmap_free(rw->residents);
	idmap_free(rw->dirty);
	idmap_each(rw->revoked, free_peer, NULL);
	idmap_free(rw->revoked);
	idmap_each(rw->queues, qinfo_free, NULL);
	idmap_free(rw->queues);
	free(rw);
}

void
route_ws_free(struct route_ws *rw)
{
	if (rw == NULL)
		return;
	gw_http_ws_unregister(rw->http, "switchboard.v1");
	route_set_callbacks(rw->r, NULL, NULL, NULL);
	rw->closing = 2;
	wallboard_free(rw->wallboard);
	uv_close((uv_handle_t *)&rw->positions, route_ws_closed);
	uv_close((uv_handle_t *)&rw->flush, route_ws_closed);
}
