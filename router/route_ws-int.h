/*
 * route_ws-int.h: what the pieces of the desk protocol (switchboard.v1)
 * share; never included outside router/. One concern per file:
 *
 *   route_ws.c           sockets: open, dispatch by peer kind, close; the
 *                        state (struct route_ws), helpers, the hooks of
 *                        other modules (chat, conversation, waiting), the
 *                        timers
 *   route_ws_desk.c      the desk messages (a table) and what routing
 *                        pushes to desks (a table)
 *   route_ws_session.c   desk sessions: the check at open, activity,
 *                        the periodic re-check and revocation
 *   route_ws_wrap.c      wrap-up, and closing a conversation that left
 *                        routing already
 *   route_ws_resident.c  the switchboard.v1 resident messages that are
 *                        retired (a table)
 *   route_ws_view.c      the queue views of the desks following a queue
 *                        (residents' places: gateway/core/waiting.c)
 *
 * Asynchronous answers carry the connection id, never a peer pointer, so
 * an answer for a socket that closed meanwhile is dropped. Loop thread.
 */
#ifndef GW_ROUTE_WS_INT_H
#define GW_ROUTE_WS_INT_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "db.h"
#include "db_commit.h"
#include "http.h"
#include "idmap.h"
#include "route.h"
#include "route_id.h"
#include "route_queues.h"
#include "route_ws.h"
#include "session.h"

/* Queue views one desk may follow at once. */
#define ROUTE_WS_WATCH_MAX 8
/* Modules with a part of the desk protocol (route_ws_set_hook). */
#define ROUTE_WS_HOOKS_MAX 4

enum route_ws_peer_kind {
	PEER_NEW = 0,
	PEER_AUTHENTICATING,
	PEER_STAFF,
	PEER_RESIDENT,
};

struct peer {
	unsigned long conn;
	enum route_ws_peer_kind kind;
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
	struct peer *next_desk; /* other sockets of the same advisor here */
	uint64_t watch[ROUTE_WS_WATCH_MAX]; /* queues whose view it follows */
	int nwatch;
};

/* A module's part of the desk protocol, by the prefix of its types. */
struct route_ws_hook {
	char prefix[16];
	struct route_ws_chat h;
};

struct route_ws {
	uv_loop_t *loop;
	struct db *db;
	struct route_queues *queues;
	unsigned ticks;
	struct gw_http *http;
	struct route *r;
	struct db_commit *w;
	struct gw_session_store *sessions;
	struct idmap *peers; /* conn -> peer */
	struct idmap *desks; /* staff id -> first peer */
	struct idmap *dirty; /* queue id -> itself: places changed */
	int sessions_inflight;
	unsigned sessions_gen; /* questions asked about desk sessions */
	struct idmap *revoked; /* staff id -> struct revoked_at, recent */
	uv_timer_t tick;
	uv_timer_t flush;    /* pushes the views of the dirty queues */
	uint64_t flushed_at; /* loop time of the last flush */
	int closing;
	struct route_ws_hook hooks[ROUTE_WS_HOOKS_MAX];
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

/* ------------------------------------------------------------ route_ws.c */

struct peer *route_ws_peer(struct route_ws *rw, unsigned long conn);
/* A pending answer to msg (its "id" kept); reply: the answer's type. */
struct pending *route_ws_pending_new(struct route_ws *rw, unsigned long conn,
                                     json_t *msg, const char *reply);
void route_ws_pending_free(struct pending *p);
/* Sends obj (stolen) to conn, echoing the request id when there is one. */
void route_ws_send(struct route_ws *rw, unsigned long conn, json_t *id,
                   json_t *obj);
void route_ws_error(struct route_ws *rw, unsigned long conn, json_t *id,
                    const char *code, const char *message);
/* A string field of msg, or NULL. */
const char *route_ws_str(json_t *msg, const char *name);
/* An optional string field: 0 and *out set (NULL when absent), or -1. */
int route_ws_opt_string(json_t *msg, const char *name, size_t max,
                        const char **out);
/* The error code a routing refusal ("NOTOFFERED ...") maps to. */
const char *route_ws_error_code(const char *err);
int route_ws_is_supervisor(const struct peer *p);
/*
 * A routing answer to a desk (a route_result_cb; arg a struct pending,
 * freed): p->reply ("ok" when empty), or the error it maps to.
 */
void route_ws_on_routed(void *arg, int ok, const char *err,
                        const struct route_event *ev, size_t n);
/* "chat=3,email=5" (a status event's capacities) as {"chat": 3, ...}. */
json_t *route_ws_caps(const char *s);
/* The hook whose prefix type starts with, or NULL. */
const struct route_ws_chat *route_ws_hook(const struct route_ws *rw,
                                          const char *type);

/* ------------------------------------------------------- route_ws_desk.c */

/* A message from a signed-in desk (its session live): by the table. */
void route_ws_desk_message(struct route_ws *rw, struct peer *peer,
                           const char *type, json_t *msg);
/*
 * The type of the answer to route_ws's own desk message type (desk.status
 * -> "desk.status.ok"), or NULL when it has none of that type (a hook's,
 * or unknown_type). The table's lookup, also for tests.
 */
const char *route_ws_desk_reply(const char *type);
/* 1 when type is a desk message (route_ws's own or a hook's). */
int route_ws_desk_takes(const struct route_ws *rw, const char *type);
/*
 * What a desk is sent for routing event ev (PUSHES: "offered" -> offer,
 * ...), new; NULL for an event a desk is not told of (queued, ...).
 */
json_t *route_ws_desk_push(const struct route_event *ev);
/* A routing event for an advisor: pushed to their desks here. */
void route_ws_desk_event(struct route_ws *rw, const struct route_event *ev);
/* Tells one desk what its advisor holds now (desk.conversations). */
void route_ws_desk_holding(struct route_ws *rw, const struct peer *d);
/* Routing was rebuilt: every desk here is told, and announced again. */
void route_ws_desk_epoch(struct route_ws *rw);
/* Sends a desk the view of a queue; -1 when routing is unavailable. */
int route_ws_desk_view(struct route_ws *rw, const struct peer *peer,
                       uint64_t queue, json_t *id);

/* ---------------------------------------------------- route_ws_session.c */

/* A new socket: its session is checked when it carries a staff cookie. */
void route_ws_session_open(struct route_ws *rw, struct peer *peer,
                           const char *cookie);
/* A message from a desk: activity for its session (written now and then). */
void route_ws_session_touch(struct route_ws *rw, struct peer *peer);
/* A desk socket closed: 1 when it was its advisor's last desk here. */
int route_ws_session_close(struct route_ws *rw, struct peer *peer);
/* Every SESSIONS_EVERY_TICKS: the desks' sessions re-checked. */
void route_ws_session_tick(struct route_ws *rw);
void route_ws_session_revoke(struct route_ws *rw, long long staff,
                             long long session, int logout);

/* ------------------------------------------------------- route_ws_wrap.c */

/* conversation.wrap_up (conv already checked to be an id). */
void route_ws_wrap_up(struct route_ws *rw, struct peer *peer, json_t *msg);
/*
 * conversation.release why closed, answered by routing with nothing to
 * release (p->conv, p->staff set): the conversation left routing when it
 * was wrapped, its row is closed here; p answered and freed.
 */
void route_ws_wrap_close(struct pending *p);

/* --------------------------------------------------- route_ws_resident.c */

/* A message from a socket without a staff session. */
void route_ws_resident_message(struct route_ws *rw, struct peer *peer,
                               const char *type, json_t *msg);

/* ------------------------------------------------------- route_ws_view.c */

/* The places in queue changed: the desks following it get its view. */
void route_ws_view_dirty(struct route_ws *rw, uint64_t queue);

#endif
