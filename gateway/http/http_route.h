/*
 * http_route.h: the HTTP server's route table (struct gw_http_route,
 * http.h): which registered route answers a method and a path, and what
 * the table itself answers when none does (404, 405 with Allow). Pure: no
 * I/O; filled at start-up, then only read. Unit tested case by case
 * (tests/unit/gateway/http/test_http_route.c) and fuzzed
 * (tests/fuzz/fuzz_http_route.c). Any thread, one table per thread.
 */
#ifndef GW_HTTP_ROUTE_H
#define GW_HTTP_ROUTE_H

#include <stddef.h>

#include "http.h"

#define HTTP_ROUTES_MAX        64
#define HTTP_ROUTE_HEADERS_MAX 8

struct http_routes;

/* Longest Allow value (every method named). */
#define HTTP_ROUTE_ALLOW_MAX 64

/*
 * What a request finds. status 0: route is the one to call, body_max the
 * largest body it reads (capped by the caller's limit, see
 * http_routes_find); 404: no route has the path; 405: the path has routes
 * (allow: their methods), none for the method.
 */
struct http_route_hit {
	int status;
	const struct gw_http_route *route;
	unsigned allow;
	size_t body_max;
};

/* An empty table. Never NULL. */
struct http_routes *http_routes_new(void);
/* NULL is a no-op. */
void http_routes_free(struct http_routes *t);
/*
 * Adds r (copied; its strings stay the caller's). A broken rule is a
 * broken invariant (fatalx): a path not starting with '/', no method, no
 * handler, more than HTTP_ROUTE_HEADERS_MAX headers, more than
 * HTTP_ROUTES_MAX routes, or a method two routes of one path share.
 */
void http_routes_add(struct http_routes *t, const struct gw_http_route *r);
/* How many routes t holds. */
size_t http_routes_count(const struct http_routes *t);
/*
 * The route for method (one enum gw_http_method bit) and path (NUL ended,
 * any bytes). Fills hit; body limits of GW_HTTP_BODY_CONFIGURED and any
 * over limit are given as limit.
 */
void http_routes_find(const struct http_routes *t, unsigned method,
                      const char *path, size_t limit,
                      struct http_route_hit *hit);
/*
 * The method bit of a name libwebsockets reports ("GET", ...); anything
 * else is GW_HTTP_OTHER.
 */
unsigned http_route_method(const char *name);
/*
 * An Allow value for methods ("GET, HEAD, POST"; OTHER is not named),
 * NUL ended in out (HTTP_ROUTE_ALLOW_MAX is enough). Returns its length.
 */
size_t http_route_allow(unsigned methods, char *out, size_t len);

#endif
