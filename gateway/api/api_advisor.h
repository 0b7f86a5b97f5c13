/*
 * api_advisor.h: what the desk asks about the signed-in staff member's own
 * work (docs/api.md): the queues with their names (GET /api/queues), the
 * summary of a conversation offered to them (GET
 * /api/conversations/{id}/offer) and their own preferences (GET/PATCH
 * /api/me/preferences). Each answer is one PostgreSQL statement; the offer
 * summary first asks routing (one read-only Redis script) whether the
 * conversation is offered to or held by the caller. Loop thread only.
 */
#ifndef GW_API_ADVISOR_H
#define GW_API_ADVISOR_H

#include "db.h"
#include "http.h"
#include "route.h"
#include "session.h"

struct api_advisor;

struct api_advisor *api_advisor_new(struct gw_http *h, struct db *db);
void api_advisor_free(struct api_advisor *a);
/*
 * The router that says what is offered to whom (borrowed; NULL: only
 * conversations assigned in PostgreSQL count as the caller's).
 */
void api_advisor_set_route(struct api_advisor *a, struct route *r);

/* 1 when path is one of this module's (the caller then passes it on). */
int api_advisor_owns(const char *path);

/*
 * Handles one signed-in request; answers it with gw_http_respond (now or
 * later). csrf: the request carried X-Requested-With. who is copied: it
 * need not outlive the call.
 */
void api_advisor_request(struct api_advisor *a, unsigned long conn,
                         const char *method, const char *path, const char *body,
                         size_t len, const char *peer, const char *ctype,
                         int csrf, const struct gw_session_info *who);

#endif
