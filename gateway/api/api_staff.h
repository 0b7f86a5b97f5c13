/*
 * api_staff.h: the admin page's REST endpoints for staff accounts
 * (docs/api.md, "Staff accounts"): list, create, change name, role and
 * queues, reset a password, disable and enable; and the channels' default
 * capacities. Admins only: any other role is answered 403 (the list of
 * queues is everyone's: api_advisor.c).
 * Every change writes its audit_log row in the same statement. Passwords
 * are hashed (Argon2id, staff.c) on a libuv worker thread, never on the
 * loop. Loop thread only.
 */
#ifndef GW_API_STAFF_H
#define GW_API_STAFF_H

#include <uv.h>

#include "api_route.h"
#include "db.h"
#include "http.h"
#include "revoke.h"
#include "session.h"

struct api_staff;

struct api_staff *api_staff_new(uv_loop_t *loop, struct gw_http *h,
                                struct db *db);
/*
 * No statement is sent after this (db is about to close): a password
 * being hashed is answered 503 when its worker job ends. Call before
 * db_close; free after the loop has run down.
 */
/*
 * Password resets and disablings are answered only once every instance
 * has closed the user's desks (gateway/auth/revoke.h); NULL: at once.
 */
void api_staff_set_revoke(struct api_staff *a, struct gw_revoke *rv);
void api_staff_close(struct api_staff *a);
void api_staff_free(struct api_staff *a);

/*
 * Its routes (api_route.h), mounted by api.c with the api_staff as arg:
 * GET /api/channels, GET and POST /api/staff, PATCH /api/staff/{id}, POST
 * /api/staff/{id}/password, /disable and /enable; admins only.
 */
extern const struct api_route api_staff_routes[];
extern const size_t api_staff_nroutes;

#endif
