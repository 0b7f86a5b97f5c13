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

#endif
