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

#include "db.h"
#include "http.h"
#include "session.h"

struct api_desk;

struct api_desk *api_desk_new(struct gw_http *h, struct db *db);
void api_desk_free(struct api_desk *a);

/* 1 when path is one of this module's (the caller then passes it on). */
int api_desk_owns(const char *path);

/*
 * Handles one signed-in request; answers it with gw_http_respond (now or
 * later). csrf: the request carried X-Requested-With.
 */
void api_desk_request(struct api_desk *a, unsigned long conn,
                      const char *method, const char *path, const char *query,
                      const char *body, size_t len, const char *peer,
                      const char *ctype, int csrf,
                      const struct gw_session_info *who);

#endif
