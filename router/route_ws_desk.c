/*
 * route_ws_desk.c: the desk messages of switchboard.v1 and what routing
 * pushes to desks, each by a table (docs/routing-protocol.md, "Staff ->
 * server" and "Server -> staff"). A desk message is looked up in DESK_OPS;
 * a type that is none of route_ws's own goes to the hook of its prefix
 * (the chat channel's chat.*), else it is answered unknown_type. Routing
 * events reach the advisor's desks here through PUSHES. Loop thread only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route_ws-int.h"
#include "wallboard.h"
#include "xmalloc.h"

/* An internal note left with a transfer, at most this long (bytes). */
#define NOTE_MAX_LEN 4000
/* Conversations a queue view shows. */
#define VIEW_LIMIT 50

/* One desk message being handled. */
struct desk_req {
	struct route_ws *rw;
	struct peer *peer;
	const struct desk_op *op;
	const char *type;
	json_t *msg;
	json_t *id;
	const char *conv; /* a checked decimal id when op->conv */
	char staff[24];   /* the advisor's id in decimal */
	/* Who must hold the conversation: the advisor, "" a supervisor. */
	const char *by;
};

struct desk_op {
	const char *type;
	void (*fn)(struct desk_req *q);
	const char *reply; /* the answer's type, for routing's answers */
	int conv;          /* needs "conversation", a decimal id */
};

/* ---------------------------------------------------------------- util */

static struct pending *
req_pending(struct desk_req *q)
{
	return route_ws_pending_new(q->rw, q->peer->conn, q->msg, q->op->reply);
}

static void
req_error(struct desk_req *q, const char *code, const char *message)
{
	route_ws_error(q->rw, q->peer->conn, q->id, code, message);
}

/* rc of a routing call that answers p: a refusal now is answered here. */
static void
req_routed(struct desk_req *q, int rc, struct pending *p)
{
	if (rc == 0)
		return;
	req_error(q, "unavailable",
	          "routing is unavailable, or an id is not valid");
	route_ws_pending_free(p);
}

/* ---------------------------------------------------------------- status */

/* The statuses an advisor may take (router/scripts/advisor.lua). */
static int
status_valid(const char *st)
{
	static const char *const valid[] = {"available", "busy", "away",
	                                    "wrap_up", "offline"};
	unsigned i;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		if (strcmp(st, valid[i]) == 0)
			return 1;
	return 0;
}

static void
op_status(struct desk_req *q)
{
	struct peer *peer = q->peer;
	const char *st = route_ws_str(q->msg, "status");
	const char *reason;
	struct pending *p;

	if (st == NULL || !status_valid(st) ||
	    route_ws_opt_string(q->msg, "reason", sizeof(peer->reason) - 1,
	                        &reason) != 0) {
		req_error(q, "bad_message",
		          "desk.status needs a status (available, busy, away, "
		          "wrap_up or offline) and an optional reason of at "
		          "most 63 bytes");
		return;
	}
	snprintf(peer->status, sizeof(peer->status), "%s", st);
	snprintf(peer->reason, sizeof(peer->reason), "%s",
	         reason ? reason : "");
	p = req_pending(q);
	req_routed(q,
	           route_advisor_login(q->rw->r, q->staff, st, reason,
	                               route_ws_on_routed, p),
	           p);
}

static void
op_logout(struct desk_req *q)
{
	struct pending *p = req_pending(q);

	q->peer->status[0] = '\0';
	req_routed(
	        q,
	        route_advisor_logout(q->rw->r, q->staff, route_ws_on_routed, p),
	        p);
}

/* ---------------------------------------------------------------- offers */

static void
op_accept(struct desk_req *q)
{
	struct pending *p = req_pending(q);

	req_routed(q,
	           route_accept(q->rw->r, q->conv, q->staff, route_ws_on_routed,
	                        p),
	           p);
}

static void
op_reject(struct desk_req *q)
{
	struct pending *p = req_pending(q);

	req_routed(q,
	           route_reject(q->rw->r, q->conv, q->staff, route_ws_on_routed,
	                        p),
	           p);
}

static void
op_pick(struct desk_req *q)
{
	struct pending *p = req_pending(q);

	req_routed(
	        q,
	        route_pick(q->rw->r, q->conv, q->staff, route_ws_on_routed, p),
	        p);
}

/* ---------------------------------------------------------------- release */

static void
on_released(void *arg, int ok, const char *err, const struct route_event *ev,
            size_t n)
{
	/* Not in routing (wrapped up, or never routed): closed in the row. */
	if (ok && n == 0)
		route_ws_wrap_close(arg);
	else
		route_ws_on_routed(arg, ok, err, ev, n);
}

static void
op_release(struct desk_req *q)
{
	const char *why = route_ws_str(q->msg, "why");
	struct pending *p;
	int closed;

	if (why == NULL ||
	    (strcmp(why, "closed") != 0 && strcmp(why, "wrapped") != 0)) {
		req_error(q, "bad_message", "why must be closed or wrapped");
		return;
	}
	closed = strcmp(why, "closed") == 0;
	p = req_pending(q);
	snprintf(p->conv, sizeof(p->conv), "%s", q->conv);
	snprintf(p->staff, sizeof(p->staff), "%s", q->by);
	req_routed(q,
	           route_release_by(q->rw->r, q->conv, why, q->by,
	                            closed ? on_released : route_ws_on_routed,
	                            p),
	           p);
}

static void
op_wrap_up(struct desk_req *q)
{
	route_ws_wrap_up(q->rw, q->peer, q->msg);
}

/* ---------------------------------------------------------------- transfer */

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
	if (route_ws_peer(p->rw, p->conn) != NULL)
		route_ws_send(p->rw, p->conn, p->id,
		              json_pack("{s:s, s:b}", "type",
		                        "conversation.transferred",
		                        "note_saved", ok));
	route_ws_pending_free(p);
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
	route_ws_on_routed(t->p, ok, err, NULL, 0);
	free(t->note);
	free(t);
}

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
	const struct route_queue *q;

	if (route_ws_opt_string(msg, "queue", 64, queue) != 0)
		return "queue must be a queue id or slug (a string)";
	if (route_ws_opt_string(msg, "advisor", 24, to) != 0 ||
	    (*to != NULL && route_id_parse(*to) == 0))
		return "advisor must be a staff id (decimal, as a string)";
	if (route_ws_opt_string(msg, "note", NOTE_MAX_LEN, note) != 0)
		return "note must be a string of at most 4000 bytes";
	if (*queue != NULL && route_id_parse(*queue) == 0) {
		q = route_queues_find(rw->queues, *queue);
		/* Not read yet (just started): no answer on slugs yet. */
		if (q == NULL && !route_queues_loaded(rw->queues))
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

static void
op_transfer(struct desk_req *q)
{
	const char *queue, *to, *note, *why;
	struct transfer_pending *t;
	char qid[24];
	int rc;

	why = transfer_args(q->rw, q->msg, qid, sizeof(qid), &queue, &to,
	                    &note);
	if (why != NULL) {
		req_error(q, "bad_message", why);
		return;
	}
	if (queue != NULL && route_id_parse(queue) == 0) {
		/* A slug before the queues were first read. */
		req_error(q, "unavailable",
		          "the queues are still being read: try again");
		route_queues_reload(q->rw->queues);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->p = req_pending(q);
	t->note = note != NULL && note[0] != '\0' ? xstrdup(note) : NULL;
	snprintf(t->conv, sizeof(t->conv), "%s", q->conv);
	snprintf(t->staff, sizeof(t->staff), "%s", q->staff);
	snprintf(t->queue, sizeof(t->queue), "%s", queue ? queue : "");
	snprintf(t->advisor, sizeof(t->advisor), "%s", to ? to : "");
	/* Supervisors may move anyone's conversation. */
	rc = route_transfer_by(q->rw->r, q->conv, queue, to, q->by,
	                       on_transferred, t);
	if (rc != 0) {
		req_routed(q, rc, t->p);
		free(t->note);
		free(t);
	}
}

/* ---------------------------------------------------------------- views */

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
	struct peer *peer = route_ws_peer(vp->rw, vp->conn);
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
		route_ws_error(vp->rw, vp->conn, vp->id,
		               route_ws_error_code(err), err);
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
		route_ws_send(vp->rw, vp->conn, vp->id,
		              json_pack("{s:s, s:I, s:I, s:I, s:o}", "type",
		                        "queue.view", "queue",
		                        (json_int_t)vp->queue, "pulled",
		                        (json_int_t)v->pulled, "pushed",
		                        (json_int_t)v->pushed, "conversations",
		                        list));
	}
	json_decref(vp->id);
	free(vp);
}

int
route_ws_desk_view(struct route_ws *rw, const struct peer *peer, uint64_t queue,
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
	if (route_waiting(rw->r, q, route_ws_is_supervisor(peer) ? NULL : staff,
	                  VIEW_LIMIT, on_view, vp) != 0) {
		json_decref(vp->id);
		free(vp);
		return -1;
	}
	return 0;
}

/* The queue a queue.view or queue.unwatch names, or 0 (answered). */
static uint64_t
watched_queue(struct desk_req *q, int *slot)
{
	const char *qs = route_ws_str(q->msg, "queue");
	const struct route_queue *qi =
	        qs != NULL ? route_queues_find(q->rw->queues, qs) : NULL;
	uint64_t queue = qi != NULL ? qi->id : route_id_parse(qs);
	struct peer *peer = q->peer;
	int i;

	if (queue == 0) {
		req_error(q, "bad_message",
		          "a queue id (or the slug of a chat queue) is needed");
		return 0;
	}
	for (i = 0; i < peer->nwatch && peer->watch[i] != queue; i++)
		;
	*slot = i;
	return queue;
}

/* queue.view: the view now, then pushed as it changes. */
static void
op_view(struct desk_req *q)
{
	struct peer *peer = q->peer;
	int i;
	uint64_t queue = watched_queue(q, &i);

	if (queue == 0)
		return;
	if (i == peer->nwatch && peer->nwatch == ROUTE_WS_WATCH_MAX) {
		req_error(q, "bad_message", "a desk follows at most 8 queues");
		return;
	}
	if (route_ws_desk_view(q->rw, peer, queue, q->id) != 0) {
		req_error(q, "unavailable", "routing is unavailable");
		return;
	}
	/* Followed from now on (an error answer, say forbidden, ends it). */
	if (i == peer->nwatch)
		peer->watch[peer->nwatch++] = queue;
}

static void
op_unwatch(struct desk_req *q)
{
	struct peer *peer = q->peer;
	int i;
	uint64_t queue = watched_queue(q, &i);

	if (queue == 0)
		return;
	if (i < peer->nwatch)
		peer->watch[i] = peer->watch[--peer->nwatch];
	route_ws_send(q->rw, peer->conn, q->id,
	              json_pack("{s:s, s:I}", "type", "queue.unwatched",
	                        "queue", (json_int_t)queue));
}

/* ---------------------------------------------------------------- wallboard */

static void
op_wallboard(struct desk_req *q)
{
	int on = strcmp(q->type, "wallboard.watch") == 0;

	if (on && !route_ws_is_supervisor(q->peer)) {
		req_error(q, "forbidden", "the wallboard is for supervisors");
		return;
	}
	route_ws_send(q->rw, q->peer->conn, q->id,
	              json_pack("{s:s}", "type", q->op->reply));
	wallboard_watch(q->rw->wallboard, q->peer->conn, on);
}

/* ---------------------------------------------------------------- table */

static const struct desk_op DESK_OPS[] = {
        {"desk.status", op_status, "desk.status.ok", 0},
        {"desk.logout", op_logout, "desk.logged_out", 0},
        {"offer.accept", op_accept, "offer.accepted", 1},
        {"offer.reject", op_reject, "offer.rejected", 1},
        {"conversation.release", op_release, "conversation.released", 1},
        {"conversation.wrap_up", op_wrap_up, "conversation.wrapped_up", 1},
        {"conversation.transfer", op_transfer, "conversation.transferred", 1},
        {"conversation.pick", op_pick, "conversation.picked", 1},
        {"queue.view", op_view, "queue.view", 0},
        {"queue.unwatch", op_unwatch, "queue.unwatched", 0},
        {"wallboard.watch", op_wallboard, "wallboard.watching", 0},
        {"wallboard.unwatch", op_wallboard, "wallboard.unwatched", 0},
};

static const struct desk_op *
desk_op(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(DESK_OPS) / sizeof(DESK_OPS[0]); i++)
		if (strcmp(DESK_OPS[i].type, type) == 0)
			return &DESK_OPS[i];
	return NULL;
}

const char *
route_ws_desk_reply(const char *type)
{
	const struct desk_op *op = desk_op(type);

	return op != NULL ? op->reply : NULL;
}

int
route_ws_desk_takes(const struct route_ws *rw, const char *type)
{
	return desk_op(type) != NULL || route_ws_hook(rw, type) != NULL;
}

void
route_ws_desk_message(struct route_ws *rw, struct peer *peer, const char *type,
                      json_t *msg)
{
	struct desk_req q;
	const struct route_ws_chat *hook;
	struct route_ws_desk d;

	memset(&q, 0, sizeof(q));
	q.rw = rw;
	q.peer = peer;
	q.type = type;
	q.msg = msg;
	q.id = json_object_get(msg, "id");
	q.op = desk_op(type);
	if (q.op == NULL) {
		hook = route_ws_hook(rw, type);
		if (hook == NULL || hook->desk_msg == NULL) {
			req_error(&q, "unknown_type", type);
			return;
		}
		d.conn = peer->conn;
		d.staff = peer->staff;
		d.role = peer->role;
		d.name = peer->name;
		hook->desk_msg(hook->arg, &d, type, msg);
		return;
	}
	q.conv = route_ws_str(msg, "conversation");
	if (q.op->conv && route_id_parse(q.conv) == 0) {
		req_error(&q, "bad_message",
		          "conversation must be a conversation id (decimal)");
		return;
	}
	snprintf(q.staff, sizeof(q.staff), "%llu",
	         (unsigned long long)peer->staff);
	/* An advisor acts on their own; supervisors and admins on anyone's. */
	q.by = route_ws_is_supervisor(peer) ? "" : q.staff;
	q.op->fn(&q);
}

/* ---------------------------------------------------------------- pushes */

static const char *
extra(const struct route_event *ev, size_t i)
{
	return ev->nextra > i ? ev->extra[i] : "";
}

static json_int_t
extra_int(const struct route_event *ev, size_t i)
{
	return ev->nextra > i ? (json_int_t)strtoll(ev->extra[i], NULL, 10) : 0;
}

static json_t *
push_offer(const struct route_event *ev)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "type", "offer",
	                 "conversation", ev->conv, "queue", extra(ev, 0),
	                 "channel", extra(ev, 1), "deadline_ms",
	                 extra_int(ev, 2), "waited_ms", extra_int(ev, 3));
}

static json_t *
push_assigned(const struct route_event *ev)
{
	json_t *m = json_pack("{s:s, s:s}", "type", "conversation.assigned",
	                      "conversation", ev->conv);

	/* A call the advisor answered on their phone (route_seize). */
	if (ev->nextra > 3 && strcmp(ev->extra[3], "seized") == 0) {
		json_object_set_new(m, "seized", json_true());
		json_object_set_new(m, "channel", json_string(extra(ev, 1)));
	}
	return m;
}

/*
 * After-contact work: the capacity is held until then (0 once it is
 * over); the conversation stays theirs.
 */
static json_t *
push_ended(const struct route_event *ev)
{
	return json_pack("{s:s, s:s, s:I}", "type", "conversation.ended",
	                 "conversation", ev->conv, "wrap_up_until_ms",
	                 strcmp(ev->kind, "ended") == 0 ? extra_int(ev, 3)
	                                                : (json_int_t)0);
}

static json_t *
push_removed(const struct route_event *ev)
{
	return json_pack("{s:s, s:s, s:s}", "type", "conversation.removed",
	                 "conversation", ev->conv, "reason", ev->kind);
}

static json_t *
push_status(const struct route_event *ev)
{
	json_t *m = json_pack("{s:s, s:s, s:s}", "type", "desk.status",
	                      "status", extra(ev, 0), "reason", extra(ev, 1));

	if (ev->nextra > 2)
		json_object_set_new(m, "capacity", route_ws_caps(ev->extra[2]));
	return m;
}

/* Routing events (router.md, "Events") and what the advisor's desks get. */
static const struct {
	const char *kind;
	json_t *(*build)(const struct route_event *ev);
} PUSHES[] = {
        {"offered", push_offer},       {"accepted", push_assigned},
        {"ended", push_ended},         {"acw_expired", push_ended},
        {"timed_out", push_removed},   {"requeued", push_removed},
        {"transferred", push_removed}, {"released", push_removed},
        {"rejected", push_removed},    {"withdrawn", push_removed},
        {"status", push_status},
};

json_t *
route_ws_desk_push(const struct route_event *ev)
{
	size_t i;

	for (i = 0; i < sizeof(PUSHES) / sizeof(PUSHES[0]); i++)
		if (strcmp(PUSHES[i].kind, ev->kind) == 0)
			return PUSHES[i].build(ev);
	return NULL; /* queued, overflowed: nothing for a desk */
}

void
route_ws_desk_event(struct route_ws *rw, const struct route_event *ev)
{
	struct peer *d = idmap_get(rw->desks, route_id_parse(ev->advisor));
	json_t *m;

	if (d == NULL || (m = route_ws_desk_push(ev)) == NULL)
		return;
	for (; d != NULL; d = d->next_desk)
		gw_http_ws_send(rw->http, d->conn,
		                d->next_desk != NULL ? json_deep_copy(m) : m);
}

size_t
route_ws_send_staff(struct route_ws *rw, uint64_t staff, json_t *obj)
{
	struct peer *d = idmap_get(rw->desks, staff);
	size_t n = 0;

	if (d == NULL) {
		json_decref(obj);
		return 0;
	}
	for (; d != NULL; d = d->next_desk, n++)
		gw_http_ws_send(rw->http, d->conn,
		                d->next_desk != NULL ? json_deep_copy(obj)
		                                     : obj);
	return n;
}

/* ---------------------------------------------------------------- holding */

static void
on_holding(void *arg, int ok, const char *err, const struct route_event *ev,
           size_t n)
{
	struct pending *p = arg;
	const char *status = "offline", *reason = "", *caps = "";
	json_t *list, *c;
	size_t i;

	(void)err;
	if (!ok || route_ws_peer(p->rw, p->conn) == NULL) {
		route_ws_pending_free(p);
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
		              "queue", extra(&ev[i], 0), "channel",
		              extra(&ev[i], 1));
		if (offered)
			json_object_set_new(c, "deadline_ms",
			                    json_integer(extra_int(&ev[i], 2)));
		json_object_set_new(
		        c, "waited_ms",
		        json_integer(extra_int(&ev[i], offered ? 3 : 2)));
		json_array_append_new(list, c);
	}
	route_ws_send(p->rw, p->conn, NULL,
	              json_pack("{s:s, s:o, s:s, s:s, s:o}", "type",
	                        "desk.conversations", "conversations", list,
	                        "status", status, "reason", reason, "capacity",
	                        route_ws_caps(caps)));
	route_ws_pending_free(p);
}

/*
 * Tells one desk what its advisor holds now (open offers, assigned
 * conversations): when it opens, and after a rebuild, when what it held
 * may have changed under it. Skipped while routing is unavailable: the
 * rebuild that ends it sends the snapshot again.
 */
void
route_ws_desk_holding(struct route_ws *rw, const struct peer *d)
{
	struct pending *p = route_ws_pending_new(rw, d->conn, NULL, NULL);
	char id[24];

	snprintf(id, sizeof(id), "%llu", (unsigned long long)d->staff);
	if (route_holding(rw->r, id, on_holding, p) != 0)
		route_ws_pending_free(p);
}

static void
announce_desk(void *arg, uint64_t staff, void *value)
{
	struct route_ws *rw = arg;
	struct peer *d = value, *x;
	char id[24];

	for (x = d; x != NULL; x = x->next_desk)
		route_ws_desk_holding(rw, x);
	if (d->status[0] == '\0')
		return;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)staff);
	route_advisor_login(rw->r, id, d->status, d->reason, NULL, NULL);
}

void
route_ws_desk_epoch(struct route_ws *rw)
{
	idmap_each(rw->desks, announce_desk, rw);
}
