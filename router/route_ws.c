/*
 * route_ws.c: the sockets of the desk protocol (switchboard.v1). See
 * route_ws.h, route_ws-int.h (which file holds which concern) and
 * docs/routing-protocol.md.
 *
 * Every socket is a peer, found by its connection id: a desk once its
 * session cookie checks out (route_ws_session.c), else a socket that can
 * do nothing here (route_ws_resident.c). Messages go by the peer's kind to
 * the desk table (route_ws_desk.c) or the residents' refusals; routing
 * events to the desks and the hooks (the waiting core tells residents
 * their place). Loop thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route_ws-int.h"
#include "wallboard.h"
#include "xmalloc.h"

#define TICK_MS 1000
/* The sessions of the open desk sockets are re-checked this often. */
#define SESSIONS_EVERY_TICKS 2

/* ---------------------------------------------------------------- helpers */

struct peer *
route_ws_peer(struct route_ws *rw, unsigned long conn)
{
	return idmap_get(rw->peers, conn);
}

struct pending *
route_ws_pending_new(struct route_ws *rw, unsigned long conn, json_t *msg,
                     const char *reply)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->rw = rw;
	p->conn = conn;
	p->id = msg != NULL ? json_incref(json_object_get(msg, "id")) : NULL;
	if (reply != NULL)
		snprintf(p->reply, sizeof(p->reply), "%s", reply);
	return p;
}

void
route_ws_pending_free(struct pending *p)
{
	json_decref(p->id);
	free(p);
}

void
route_ws_send(struct route_ws *rw, unsigned long conn, json_t *id, json_t *obj)
{
	if (id != NULL)
		json_object_set(obj, "id", id);
	gw_http_ws_send(rw->http, conn, obj);
}

void
route_ws_error(struct route_ws *rw, unsigned long conn, json_t *id,
               const char *code, const char *message)
{
	route_ws_send(rw, conn, id,
	              json_pack("{s:s, s:s, s:s}", "type", "error", "code",
	                        code, "message", message));
}

const char *
route_ws_str(json_t *msg, const char *name)
{
	json_t *v = json_object_get(msg, name);

	if (json_is_string(v))
		return json_string_value(v);
	return NULL;
}

int
route_ws_opt_string(json_t *msg, const char *name, size_t max, const char **out)
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

/* Routing's refusals (their first word) and the error codes they map to. */
static const struct {
	const char *word, *code;
} ROUTE_ERRORS[] = {
        {"NOTOFFERED", "not_offered"}, {"SUPERSEDED", "not_offered"},
        {"NOTYOURS", "forbidden"},     {"NOTWAITING", "taken"},
        {"FULL", "at_capacity"},       {"OFFLINE", "not_available"},
        {"NOQUEUE", "not_found"},      {"NOCONV", "not_found"},
        {"BADSTATUS", "bad_message"},
};

const char *
route_ws_error_code(const char *err)
{
	size_t i;

	if (err == NULL)
		return "failed";
	for (i = 0; i < sizeof(ROUTE_ERRORS) / sizeof(ROUTE_ERRORS[0]); i++)
		if (strncmp(err, ROUTE_ERRORS[i].word,
		            strlen(ROUTE_ERRORS[i].word)) == 0)
			return ROUTE_ERRORS[i].code;
	return "unavailable";
}

int
route_ws_is_supervisor(const struct peer *p)
{
	return strcmp(p->role, "supervisor") == 0 ||
	       strcmp(p->role, "admin") == 0;
}

json_t *
route_ws_caps(const char *s)
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
			return route_ws_caps(ev[i].extra[2]);
	return NULL;
}

void
route_ws_on_routed(void *arg, int ok, const char *err,
                   const struct route_event *ev, size_t n)
{
	struct pending *p = arg;
	const char *type = p->reply[0] != '\0' ? p->reply : "ok";
	json_t *m, *caps;

	if (route_ws_peer(p->rw, p->conn) != NULL) {
		if (ok) {
			m = json_pack("{s:s}", "type", type);
			/* desk.status.ok: what the advisor may take now. */
			caps = strcmp(type, "desk.status.ok") == 0
			               ? status_caps(ev, n)
			               : NULL;
			if (caps != NULL)
				json_object_set_new(m, "capacity", caps);
			route_ws_send(p->rw, p->conn, p->id, m);
		} else
			route_ws_error(p->rw, p->conn, p->id,
			               route_ws_error_code(err), err);
	}
	route_ws_pending_free(p);
}

/* ---------------------------------------------------------------- hooks */

const struct route_ws_chat *
route_ws_hook(const struct route_ws *rw, const char *type)
{
	const struct route_ws_hook *k;
	int i;

	for (i = 0; i < ROUTE_WS_HOOKS_MAX; i++) {
		k = &rw->hooks[i];
		if (k->prefix[0] != '\0' &&
		    strncmp(type, k->prefix, strlen(k->prefix)) == 0)
			return &k->h;
	}
	return NULL;
}

int
route_ws_set_hook(struct route_ws *rw, const char *prefix,
                  const struct route_ws_chat *h)
{
	int i, free_slot = -1, off;

	off = h->desk_msg == NULL && h->desk_close == NULL && h->events == NULL;
	for (i = 0; i < ROUTE_WS_HOOKS_MAX; i++) {
		if (strcmp(rw->hooks[i].prefix, prefix) == 0)
			break;
		if (free_slot < 0 && rw->hooks[i].prefix[0] == '\0')
			free_slot = i;
	}
	if (i == ROUTE_WS_HOOKS_MAX) {
		if (off)
			return 0;
		if (free_slot < 0 || strlen(prefix) == 0 ||
		    strlen(prefix) >= sizeof(rw->hooks[0].prefix))
			return -1;
		i = free_slot;
	}
	if (off) {
		memset(&rw->hooks[i], 0, sizeof(rw->hooks[i]));
		return 0;
	}
	snprintf(rw->hooks[i].prefix, sizeof(rw->hooks[i].prefix), "%s",
	         prefix);
	rw->hooks[i].h = *h;
	return 0;
}

void
route_ws_set_chat(struct route_ws *rw, const struct route_ws_chat *c)
{
	if (route_ws_set_hook(rw, "chat.", c) != 0)
		fatalx("route_ws: no room for the chat hook");
}

/* ---------------------------------------------------------------- events */

static void
on_route_events(void *arg, const struct route_event *ev, size_t n)
{
	struct route_ws *rw = arg;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		/*
		 * Any decision on a conversation of a queue (one joined, one
		 * was offered, answered, left) moves the places behind it or
		 * the estimated wait: the desks following the queue here get
		 * its new view shortly.
		 */
		if (ev[i].conv[0] != '\0' && ev[i].nextra > 0)
			route_ws_view_dirty(rw, route_id_parse(ev[i].extra[0]));
		if (ev[i].advisor[0] != '\0')
			route_ws_desk_event(rw, &ev[i]);
	}
	for (k = 0; k < ROUTE_WS_HOOKS_MAX; k++)
		if (rw->hooks[k].h.events != NULL)
			rw->hooks[k].h.events(rw->hooks[k].h.arg, ev, n);
}

static void
on_route_epoch(void *arg, unsigned long long epoch)
{
	(void)epoch;
	/* Routing state was rebuilt: our desks announce themselves again. */
	route_ws_desk_epoch(arg);
}

static void
on_tick(uv_timer_t *t)
{
	struct route_ws *rw = t->data;

	if (rw->ticks % SESSIONS_EVERY_TICKS == 0)
		route_ws_session_tick(rw);
	rw->ticks++;
}

/* ---------------------------------------------------------------- sockets */

static void
on_open(void *arg, unsigned long conn, const char *cookie, const char *peer_ip)
{
	struct route_ws *rw = arg;
	struct peer *peer = xcalloc(1, sizeof(*peer));

	(void)peer_ip;
	peer->conn = conn;
	peer->kind = PEER_RESIDENT;
	idmap_put(rw->peers, conn, peer);
	route_ws_session_open(rw, peer, cookie);
}

static void
on_message(void *arg, unsigned long conn, const char *type, json_t *msg)
{
	struct route_ws *rw = arg;
	struct peer *peer = route_ws_peer(rw, conn);
	json_t *id = json_object_get(msg, "id");

	if (peer == NULL)
		return;
	if (peer->kind == PEER_AUTHENTICATING) {
		route_ws_error(rw, conn, id, "not_ready",
		               "the session is still being checked");
	} else if (peer->kind == PEER_STAFF && peer->revoked == 2) {
		route_ws_error(rw, conn, id, "unauthorised",
		               "access changed: connect again");
	} else if (peer->kind == PEER_STAFF && peer->revoked) {
		route_ws_error(rw, conn, id, "unauthorised",
		               "signed out: sign in again");
	} else if (peer->kind == PEER_STAFF) {
		/* Read receipts go out on their own when a message shows. */
		if (strcmp(type, "conversation.read") != 0)
			route_ws_session_touch(rw, peer);
		route_ws_desk_message(rw, peer, type, msg);
	} else {
		route_ws_resident_message(rw, peer, type, msg);
	}
}

static void
on_close(void *arg, unsigned long conn)
{
	struct route_ws *rw = arg;
	struct peer *peer = idmap_del(rw->peers, conn);
	int k;

	if (peer == NULL)
		return;
	if (peer->kind == PEER_STAFF) {
		wallboard_watch(rw->wallboard, conn, 0);
		for (k = 0; k < ROUTE_WS_HOOKS_MAX; k++)
			if (rw->hooks[k].h.desk_close != NULL)
				rw->hooks[k].h.desk_close(rw->hooks[k].h.arg,
				                          conn);
		route_ws_session_close(rw, peer);
	}
	free(peer);
}

/* ---------------------------------------------------------------- public */

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
	rw->queues = route_queues_new(loop, db);
	rw->http = http;
	rw->r = r;
	rw->w = w;
	rw->sessions = sessions;
	rw->peers = idmap_new();
	rw->desks = idmap_new();
	rw->dirty = idmap_new();
	rw->revoked = idmap_new();
	rw->wallboard = wallboard_new(loop, http, db);
	gw_http_ws_register(http, &p);
	route_set_callbacks(r, on_route_events, on_route_epoch, rw);
	uv_timer_init(loop, &rw->tick);
	rw->tick.data = rw;
	uv_timer_start(&rw->tick, on_tick, TICK_MS, TICK_MS);
	uv_timer_init(loop, &rw->flush);
	rw->flush.data = rw;
	return rw;
}

void
route_ws_revoke(struct route_ws *rw, long long staff, long long session,
                int logout)
{
	if (rw != NULL)
		route_ws_session_revoke(rw, staff, session, logout);
}

struct route_queues *
route_ws_queues(struct route_ws *rw)
{
	return rw->queues;
}

uint64_t
route_ws_queue_id(struct route_ws *rw, const char *queue)
{
	const struct route_queue *q = route_queues_find(rw->queues, queue);

	return q != NULL ? q->id : 0;
}

static void
free_value(void *arg, uint64_t key, void *value)
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
	idmap_each(rw->peers, free_value, NULL);
	idmap_free(rw->peers);
	idmap_free(rw->desks);
	idmap_free(rw->dirty);
	idmap_each(rw->revoked, free_value, NULL);
	idmap_free(rw->revoked);
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
	route_queues_free(rw->queues);
	uv_close((uv_handle_t *)&rw->tick, route_ws_closed);
	uv_close((uv_handle_t *)&rw->flush, route_ws_closed);
}
