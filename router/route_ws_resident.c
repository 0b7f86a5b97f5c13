/*
 * route_ws_resident.c: residents as the desk protocol sees them.
 *
 * switchboard.v1 is the staff protocol. A socket on it without a staff
 * session can do nothing: a staff message is answered unauthorised, one of
 * the resident messages this protocol had until issue 14 (chat.start,
 * chat.leave: they made customers without identities and without
 * idempotency) wrong_protocol, naming switchboard.chat.v1, anything else
 * unknown_type. Residents chat on switchboard.chat.v1 (channels/chat),
 * which registers each chat's socket here (route_ws_resident_add) so that
 * it is told its place while it waits (route_ws_position.c); routing
 * events keep that state. Loop thread only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route_ws-int.h"
#include "xmalloc.h"

/* The resident messages switchboard.v1 no longer takes. */
static const char *const RETIRED[] = {"chat.start", "chat.leave"};

void
route_ws_resident_message(struct route_ws *rw, struct peer *peer,
                          const char *type, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	size_t i;

	for (i = 0; i < sizeof(RETIRED) / sizeof(RETIRED[0]); i++)
		if (strcmp(type, RETIRED[i]) == 0) {
			route_ws_error(rw, peer->conn, id, "wrong_protocol",
			               "switchboard.v1 is the staff protocol: "
			               "residents chat on switchboard.chat.v1 "
			               "(docs/chat-protocol.md)");
			return;
		}
	/* Authorised per message, not per connection. */
	if (route_ws_desk_takes(rw, type))
		route_ws_error(rw, peer->conn, id, "unauthorised",
		               "staff messages need a signed-in staff session");
	else
		route_ws_error(rw, peer->conn, id, "unknown_type", type);
}

/* What a routing event on its conversation does to a waiting resident. */
static const struct {
	const char *kind;
	int waiting; /* it waits from now on */
} EVENTS[] = {
        {"accepted", 0},
        {"released", 0},
        /* Back in a queue: its position follows with the queue's. */
        {"requeued", 1},
        {"transferred", 1},
};

void
route_ws_resident_event(struct route_ws *rw, const struct route_event *ev)
{
	struct peer *r = idmap_get(rw->residents, route_id_parse(ev->conv));
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < sizeof(EVENTS) / sizeof(EVENTS[0]); i++)
		if (strcmp(ev->kind, EVENTS[i].kind) == 0)
			break;
	if (i == sizeof(EVENTS) / sizeof(EVENTS[0]))
		return;
	r->waiting = EVENTS[i].waiting;
	if (!r->waiting)
		return;
	r->last_pos = -1;
	if (ev->nextra > 0 && route_id_parse(ev->extra[0]) != 0)
		r->queue = route_id_parse(ev->extra[0]);
}

void
route_ws_resident_add(struct route_ws *rw, unsigned long conn, uint64_t conv,
                      uint64_t queue, int waiting)
{
	struct peer *peer = route_ws_peer(rw, conn);

	if (peer == NULL) {
		peer = xcalloc(1, sizeof(*peer));
		peer->conn = conn;
		peer->kind = PEER_RESIDENT;
		idmap_put(rw->peers, conn, peer);
	}
	peer->conv = conv;
	peer->queue = queue;
	peer->waiting = waiting;
	peer->last_pos = -1;
	idmap_put(rw->residents, conv, peer);
	if (waiting)
		route_ws_position_dirty(rw, queue);
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
