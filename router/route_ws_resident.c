/*
 * route_ws_resident.c: residents as the desk protocol sees them.
 *
 * switchboard.v1 is the staff protocol. A socket on it without a staff
 * session can do nothing: a staff message is answered unauthorised, one of
 * the resident messages this protocol had until issue 14 (chat.start,
 * chat.leave: they made customers without identities and without
 * idempotency) wrong_protocol, naming switchboard.chat.v1, anything else
 * unknown_type. Residents chat on switchboard.chat.v1 (channels/chat),
 * and are told their place while they wait by the waiting core
 * (gateway/core/waiting.c), not here. Loop thread only.
 */
#include <string.h>

#include "route_ws-int.h"

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
