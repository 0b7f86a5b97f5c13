/*
 * route_ws.h: the routing messages of the /ws protocol (switchboard.v1):
 * advisors' desks (authenticated by their staff session cookie) set their
 * status and accept, reject, release and transfer offers; residents start
 * a chat and are told their place in the queue. Offers and position
 * changes are pushed to whichever instance holds the socket, from the
 * events every instance publishes on sb:route. Loop thread only.
 * The message reference is docs/routing-protocol.md.
 */
#ifndef GW_ROUTE_WS_H
#define GW_ROUTE_WS_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "db.h"
#include "db_commit.h"
#include "http.h"
#include "route.h"
#include "session.h"

struct route_ws;

/* Registers itself as the /ws handler and the router's event sink. */
struct route_ws *route_ws_new(uv_loop_t *loop, struct gw_http *http,
                              struct route *r, struct db *db,
                              struct db_commit *w,
                              struct gw_session_store *sessions);
void route_ws_free(struct route_ws *rw);
/*
 * A staff session revoked (gateway/auth/revoke.c): the desks of staff opened
 * with session (every one of staff's when session is 0) refuse messages
 * from now on and are closed 4003; logout: the user has no live session
 * left, routing takes their work back at once. A desk whose session is
 * being checked is judged by this too when its check answers.
 */
void route_ws_revoke(struct route_ws *rw, long long staff, long long session,
                     int logout);

/*
 * What the chat channel (channels/chat) adds. A desk's message whose type
 * starts with "chat." goes to desk_msg; desk_close tells it a desk socket
 * closed; events gets every routing event after route_ws has handled it.
 */
struct route_ws_desk {
	unsigned long conn;
	uint64_t staff;
	const char *role;
	const char *name;
};
struct route_ws_chat {
	void (*desk_msg)(void *arg, const struct route_ws_desk *d,
	                 const char *type, json_t *msg);
	void (*desk_close)(void *arg, unsigned long conn);
	route_event_cb events;
	void *arg;
};
void route_ws_set_chat(struct route_ws *rw, const struct route_ws_chat *c);
/*
 * A switchboard.chat.v1 socket holding conversation conv: while it waits
 * in queue it is sent its place ("chat.queued") as residents of
 * switchboard.v1 are. Nothing else is sent to it, and closing it releases
 * nothing: the chat channel decides.
 */
void route_ws_resident_add(struct route_ws *rw, unsigned long conn,
                           uint64_t conv, uint64_t queue, int waiting);
void route_ws_resident_remove(struct route_ws *rw, unsigned long conn);
/*
 * Opening hours of queue (slug or id) for a new chat on conn: the queue
 * to start it in (queue itself, or its overflow queue written into buf),
 * or NULL when the queue is closed and conn was sent "chat.closed".
 */
const char *route_ws_gate(struct route_ws *rw, unsigned long conn, json_t *id,
                          const char *queue, char *buf, size_t len);
/* The id of chat queue (slug or id), 0 when not known (yet). */
uint64_t route_ws_queue_id(struct route_ws *rw, const char *queue);
/* 1 when queue (slug or id) is open now, by its hours and closure days. */
int route_ws_queue_open(struct route_ws *rw, const char *queue);
/*
 * An active queue as this instance knows it (re-read every 30 s): what
 * the widget's topic list shows (route_topics.c). Borrowed for the call.
 */
struct route_hours; /* hours.h */
struct route_queue_view {
	const char *slug;
	const char *name;
	const char *out_of_hours; /* its chat rule; "" when it takes no chat */
	const char *message;      /* queues.out_of_hours_message */
	const struct route_hours *hours;
	int chat; /* it takes chat */
};
/* Calls fn for each active queue; -1 (no call) before the first read. */
int route_ws_each_queue(struct route_ws *rw,
                        void (*fn)(void *arg, const struct route_queue_view *q),
                        void *arg);

#endif
