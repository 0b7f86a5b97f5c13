/*
 * api_route.h: the REST API's route tables. Each module under /api/
 * exports one const table of struct api_route (methods, a path pattern,
 * what the request needs, the handler); api.c looks a request up once in
 * all of them (api_route_match) and answers 404 when no pattern holds the
 * path, 405 with Allow when a pattern holds it but takes another method,
 * else checks what the route needs (session, admin, X-Requested-With) and
 * calls its handler with one struct api_call.
 *
 * Patterns are literal segments and {id} segments, e.g.
 * "/api/conversations/{id}/offer". A path matches segment by segment,
 * byte for byte: no trailing '/', no empty segment ("//"), no dot segment
 * and no decoding beyond what the HTTP server did. {id} matches a
 * positive decimal integer without leading zeros, below 2^53 (an id a
 * JSON number holds exactly): 1 to 16 digits. A path longer than
 * API_PATH_MAX never matches.
 *
 * api_route_match and api_route_pattern are pure (no I/O, no allocation),
 * unit tested (tests/unit/gateway/api/test_api_route.c) and fuzzed
 * (tests/fuzz/fuzz_api_route.c). Tables are read only. Any thread.
 */
#ifndef GW_API_ROUTE_H
#define GW_API_ROUTE_H

#include <stddef.h>

#include "http.h"

struct gw_session_info; /* session.h */

/* The most {id} segments of one pattern. */
#define API_ROUTE_IDS_MAX 2
/* The longest path (bytes) a route matches. */
#define API_PATH_MAX 256
/* The largest id: 2^53 - 1. */
#define API_ID_MAX ((1LL << 53) - 1)

/* What a route needs before its handler runs, checked in this order. */
enum api_route_need {
	API_OPEN = 0,
	/* A signed-in staff member: 401 without one (the session cookie). */
	API_SESSION = 1 << 0,
	/* ... whose role is admin: 403 (route->forbidden) otherwise. */
	API_ADMIN = 1 << 1,
	/* The X-Requested-With header (a cross-site form cannot send it). */
	API_CSRF = 1 << 2,
};

/*
 * What a handler is given; every pointer is borrowed for the call only
 * (copy what you keep). Answer it once, now or later, with
 * gw_http_respond(call->http, call->conn, ...).
 */
struct api_call {
	struct gw_http *http;
	unsigned long conn;
	unsigned method; /* one enum gw_http_method bit */
	const char *path;
	long long id[API_ROUTE_IDS_MAX]; /* the {id} segments, in order */
	size_t nids;
	const char *query; /* URL-decoded name=value pairs joined by '&' */
	const char *body;  /* len bytes, then a NUL */
	size_t len;
	const char *peer;   /* the client's address, "" when unknown */
	const char *ctype;  /* Content-Type, "" when absent */
	const char *cookie; /* the Cookie header, "" when absent */
	int csrf;           /* X-Requested-With was sent */
	/* The signed-in staff member; NULL on routes without API_SESSION. */
	const struct gw_session_info *who;
};

/* arg: the module's own state, as its table was mounted (api.c). */
typedef void (*api_handler_fn)(void *arg, const struct api_call *call);

struct api_route {
	unsigned methods;    /* enum gw_http_method bits */
	const char *pattern; /* "/api/customers/{id}/timeline" */
	unsigned need;       /* enum api_route_need bits */
	/* The 403 message for a role that is not admin (API_ADMIN). */
	const char *forbidden;
	api_handler_fn handler;
};

/* One module's table as mounted: its routes and the arg they are given. */
struct api_routes {
	const struct api_route *routes;
	size_t n;
	void *arg;
};

/*
 * What a request finds. status 0: route (of the table whose arg is arg)
 * takes it, id[0..nids) its ids; 404: no pattern holds the path; 405: some
 * do (allow: their methods), none for the method.
 */
struct api_route_hit {
	int status;
	const struct api_route *route;
	void *arg;
	unsigned allow;
	long long id[API_ROUTE_IDS_MAX];
	size_t nids;
};

/*
 * Whether path (NUL ended, any bytes) matches pattern: 1 with its ids in
 * id[0..*nids) (room for API_ROUTE_IDS_MAX), else 0 (*nids 0).
 */
int api_route_pattern(const char *pattern, const char *path, long long *id,
                      size_t *nids);
/*
 * The n bytes at s as an id (the rule of {id}): 1 to API_ID_MAX, or 0 when
 * they are not one.
 */
long long api_route_id(const char *s, size_t n);
/*
 * Looks up method (one enum gw_http_method bit) and path in n tables and
 * fills hit.
 */
void api_route_match(const struct api_routes *tables, size_t n, unsigned method,
                     const char *path, struct api_route_hit *hit);
/*
 * NULL when the tables are sound, else why not (a static string): a
 * pattern not under "/api/", with an empty segment, a trailing '/', a
 * literal segment of digits only (it could be an {id}), an unknown {...}
 * or more than API_ROUTE_IDS_MAX ids; a route without a method or
 * handler, API_ADMIN without API_SESSION; or one pattern with a method
 * twice. *bad is then the pattern at fault.
 */
const char *api_route_check(const struct api_routes *tables, size_t n,
                            const char **bad);

#endif
