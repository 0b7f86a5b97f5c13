/*
 * api.h: the REST API under /api/ (docs/http-api.md, docs/api.md): staff
 * sign in and out (/api/session), and, for signed-in staff, customer
 * records and conversation threads (api_records.c), and for admins staff
 * accounts (api_staff.c), and the desk's queue names, offer summaries and
 * preferences (api_advisor.c). Loop thread only.
 */
#ifndef GW_API_H
#define GW_API_H

#include "api_route.h"
#include "db.h"
#include "http.h"
#include "route.h"
#include "revoke.h"
#include "session.h"

struct gw_api;

/*
 * The sign-in routes (/api/session: POST, GET, DELETE), which need no
 * session; gw_api_new mounts them, then each module's table
 * (api_records.h, api_desk.h, api_staff.h, api_advisor.h) when there is a
 * database.
 */
extern const struct api_route gw_api_routes[];
extern const size_t gw_api_nroutes;

/*
 * Registers the route /api/ (any method, bodies up to limits.http_body_max)
 * on h, before gw_http_start; db answers the records' reads and
 * the accounts' changes; loop runs password hashing on its workers.
 */
struct gw_api *gw_api_new(uv_loop_t *loop, struct gw_http *h,
                          struct gw_session_store *st, int session_max_age_s,
                          struct db *db);
/*
 * Mounts a channel's own table (api_route.h) under /api/, its handlers
 * given arg (which must outlive api's requests), before gw_http_start. A
 * pattern that clashes with one mounted is a programming error (fatalx).
 */
void gw_api_mount(struct gw_api *api, const struct api_route *routes, size_t n,
                  void *arg);
/*
 * The router the offer summaries ask who holds what (borrowed, may be
 * NULL). NULL api is a no-op.
 */
void gw_api_set_route(struct gw_api *api, struct route *r);
/*
 * Sign-outs, password resets and disablings are answered once every
 * instance has applied them (gateway/auth/revoke.h). rv must outlive api's
 * requests (free it after gw_api_close).
 */
void gw_api_set_revoke(struct gw_api *api, struct gw_revoke *rv);
/* Sends nothing more to db (call before closing it). NULL is a no-op. */
void gw_api_close(struct gw_api *api);
void gw_api_free(struct gw_api *api);

#endif
