/*
 * api.h: the REST API under /api/ (docs/http-api.md). Today: staff sign
 * in and out (/api/session). Loop thread only.
 */
#ifndef GW_API_H
#define GW_API_H

#include "http.h"
#include "session.h"

struct gw_api;

/* Registers itself as h's API handler. */
struct gw_api *gw_api_new(struct gw_http *h, struct gw_session_store *st,
                          int session_max_age_s);
void gw_api_free(struct gw_api *api);

#endif
