/*
 * api_util.h: what every REST module under /api/ shares: JSON answers,
 * query-string values, and the checks of a state change's
 * request (CSRF header, JSON content type, a JSON object). Loop thread.
 */
#ifndef GW_API_UTIL_H
#define GW_API_UTIL_H

#include <stddef.h>

#include <jansson.h>

#include "http.h"

/* Answers o (compact JSON) with status; takes o's reference. */
void api_respond_json(struct gw_http *h, unsigned long conn, int status,
                      json_t *o);
/* Answers {"error": message} with status. */
void api_respond_error(struct gw_http *h, unsigned long conn, int status,
                       const char *message);
/*
 * The value of name in a query string (a=b&c=d, already URL-decoded) into
 * out: 0 when present, -1 when absent (out ""), -2 when too long for out
 * (out "").
 */
int api_query_param(const char *query, const char *name, char *out, size_t len);
/*
 * The body of a state change: the X-Requested-With header (csrf), JSON
 * content type, and a JSON object. Returns the object, or NULL after
 * answering 403, 415 or 400.
 */
json_t *api_json_body(struct gw_http *h, unsigned long conn, const char *body,
                      size_t len, const char *ctype, int csrf);

#endif
