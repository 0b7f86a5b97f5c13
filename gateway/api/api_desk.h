/*
 * api_desk.h: the desk's REST endpoints for canned responses and wrap-up
 * disposition codes (docs/api.md). Advisors read the canned responses of
 * the queues they serve (and the global ones) and the active codes of a
 * queue; supervisors and admins create and edit canned responses; admins
 * manage codes. Every request is authorised by its staff session; every
 * change is audited in the statement that makes it. Loop thread only.
 */
#ifndef GW_API_DESK_H
#define GW_API_DESK_H

#include "api_route.h"
#include "db.h"
#include "http.h"
#include "session.h"

struct api_desk;

struct api_desk *api_desk_new(struct gw_http *h, struct db *db);
void api_desk_free(struct api_desk *a);

/*
 * Its routes (api_route.h), mounted by api.c with the api_desk as arg:
 * /api/canned, /api/canned/{id}, /api/queues/{id}/advisors,
 * /api/queues/{id}/dispositions, /api/dispositions/{id},
 * /api/reports/dispositions; all for signed-in staff.
 */
extern const struct api_route api_desk_routes[];
extern const size_t api_desk_nroutes;

#endif
