/*
 * route_ws.h: the desk protocol on /ws (switchboard.v1): advisors' desks
 * (authenticated by their staff session cookie) set their status and
 * accept, reject, release, transfer and wrap up conversations, follow
 * queues and the wallboard. Offers are pushed to whichever instance holds
 * the desk, from the events every instance publishes on sb:route. A
 * socket without a staff session can do nothing here: residents speak
 * switchboard.chat.v1 (channels/chat), and are told their place in the
 * queue by the waiting core (gateway/core/waiting.h). Loop thread only.
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
#include "route_queues.h"
#include "session.h"

struct route_ws;

/*
 * Registers itself as the /ws handler and the router's event sink, and
 * starts reading the queues (route_queues.h) from db.
 */
struct route_ws *route_ws_new(uv_loop_t *loop, struct gw_http *http,
                              struct route *r, struct db *db,
                              struct db_commit *w,
                              struct gw_session_store *sessions);
/* Frees it once its timers closed; db must have answered first. */
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
 * Another module's part of the desk protocol (the chat channel's chat.*
 * messages). desk_msg gets every message of a signed-in desk whose type
 * starts with the hook's prefix and is not one of route_ws's own;
 * desk_close is told a desk socket closed; events gets every routing event
 * after route_ws has handled it. Any member may be NULL.
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
/*
 * Sets the hook of prefix (at most 15 bytes, for example "chat."),
 * replacing the one it had; a hook of all NULL members removes it.
 * Returns 0, or -1 when ROUTE_WS_HOOKS_MAX (4) prefixes are taken.
 */
int route_ws_set_hook(struct route_ws *rw, const char *prefix,
                      const struct route_ws_chat *h);
/* route_ws_set_hook(rw, "chat.", c). */
void route_ws_set_chat(struct route_ws *rw, const struct route_ws_chat *c);
/*
 * The queues this instance knows (re-read every 30 s), for the queue
 * policy (route_policy.h) and the topics. Owned by rw.
 */
struct route_queues *route_ws_queues(struct route_ws *rw);
/*
 * Sends obj (stolen) to every desk socket of advisor staff on this
 * instance (a call ringing their extension: docs/voice.md); how many.
 */
size_t route_ws_send_staff(struct route_ws *rw, uint64_t staff, json_t *obj);
/* The id of queue (slug or id), 0 when not known (yet). */
uint64_t route_ws_queue_id(struct route_ws *rw, const char *queue);

#endif
