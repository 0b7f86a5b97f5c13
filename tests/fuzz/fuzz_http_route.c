/*
 * fuzz_http_route.c: libFuzzer harness for the route table
 * (gateway/http/http_route.c). The first byte picks a method, the rest
 * (as a C string) is a request path looked up in a table shaped like the
 * daemon's (exact paths, prefixes with and without a trailing '/', two
 * methods on one path). What comes back is checked against the rules: a
 * route found covers the path and takes the method; an exact route wins;
 * a 405 names methods that do not include the one asked; the body limit
 * never passes the configured one; Allow is well formed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_route.h"

#define LIMIT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
nothing(void *arg, const struct gw_http_request *req)
{
	(void)arg;
	(void)req;
}

static const struct gw_http_route ROUTES[] = {
        {GW_HTTP_ANY, "/api/", GW_HTTP_PREFIX, GW_HTTP_BODY_CONFIGURED, NULL,
         nothing, NULL},
        {GW_HTTP_GET, "/api/chat/transcript", GW_HTTP_EXACT, 0, NULL, nothing,
         NULL},
        {GW_HTTP_GET | GW_HTTP_HEAD, "/widget", GW_HTTP_PREFIX, 0, NULL,
         nothing, NULL},
        {GW_HTTP_GET | GW_HTTP_HEAD, "/widget/topics.json", GW_HTTP_EXACT, 0,
         NULL, nothing, NULL},
        {GW_HTTP_POST, "/hooks/forms", GW_HTTP_PREFIX, 1 << 20, NULL, nothing,
         NULL},
        {GW_HTTP_GET, "/hooks/forms", GW_HTTP_PREFIX, 0, NULL, nothing, NULL},
        {GW_HTTP_GET | GW_HTTP_HEAD, "/healthz", GW_HTTP_EXACT, 0, NULL,
         nothing, NULL},
        {GW_HTTP_GET | GW_HTTP_HEAD, "/", GW_HTTP_EXACT, 0, NULL, nothing,
         NULL},
};

static int
covers(const struct gw_http_route *r, const char *path)
{
	size_t n = strlen(r->path);

	if (!(r->flags & GW_HTTP_PREFIX))
		return strcmp(r->path, path) == 0;
	return strncmp(path, r->path, n) == 0 &&
	       (r->path[n - 1] == '/' || path[n] == '\0' || path[n] == '/');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_routes *t;
	struct http_route_hit hit;
	char allow[HTTP_ROUTE_ALLOW_MAX];
	unsigned method;
	size_t i, n;
	char *path;

	if (size == 0)
		return 0;
	if (t == NULL) {
		t = http_routes_new();
		for (i = 0; i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++)
			http_routes_add(t, &ROUTES[i]);
	}
	method = 1u << (data[0] % 8);
	path = malloc(size);
	memcpy(path, data + 1, size - 1);
	path[size - 1] = '\0';

	http_routes_find(t, method, path, LIMIT, &hit);
	if (hit.body_max > LIMIT)
		abort();
	if (hit.status == 0) {
		if (hit.route == NULL || !covers(hit.route, path) ||
		    !(hit.route->methods & method) || !(hit.allow & method))
			abort();
		/* An exact route of the path is the one found. */
		for (i = 0; i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++)
			if (!(ROUTES[i].flags & GW_HTTP_PREFIX) &&
			    strcmp(ROUTES[i].path, path) == 0 &&
			    (hit.route->flags & GW_HTTP_PREFIX))
				abort();
	} else if (hit.status == 405) {
		if (hit.route != NULL || hit.allow == 0 || (hit.allow & method))
			abort();
	} else if (hit.status != 404 || hit.route != NULL || hit.allow != 0) {
		abort();
	}
	n = http_route_allow(hit.allow, allow, sizeof(allow));
	if (n != strlen(allow) || (n > 0 && allow[n - 1] == ' '))
		abort();
	free(path);
	return 0;
}
