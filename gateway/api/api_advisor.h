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

#include "api_route.h"
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

/*
 * Its routes (api_route.h), mounted by api.c with the api_advisor as arg:
 * GET /api/queues, GET and PATCH /api/me/preferences, GET
 * /api/conversations/{id}/offer; all for signed-in staff.
 */
extern const struct api_route api_advisor_routes[];
extern const size_t api_advisor_nroutes;

#endif
