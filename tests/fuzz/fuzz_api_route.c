/*
 * fuzz_api_route.c: libFuzzer harness for the REST API's route lookup
 * (gateway/api/api_route.c). The first byte picks a method, the rest (as
 * a C string) is a request path looked up in tables shaped like the
 * daemon's (literal paths, one and two {id} segments, one pattern with
 * methods in two routes, sibling patterns in two tables). What comes back
 * is checked against the rules: a route found takes the method and its
 * pattern matches the path again with the same ids; every id is 1 to
 * 2^53 - 1 and its digits are in the path without a leading zero; a 405
 * names methods without the one asked; a 404 has no route and no Allow;
 * nothing over API_PATH_MAX matches.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
nothing(void *arg, const struct api_call *c)
{
	(void)arg;
	(void)c;
}

static const struct api_route ONE[] = {
        {GW_HTTP_POST | GW_HTTP_DELETE, "/api/session", API_OPEN, NULL,
         nothing},
        {GW_HTTP_GET, "/api/session", API_OPEN, NULL, nothing},
        {GW_HTTP_GET, "/api/customers", API_SESSION, NULL, nothing},
        {GW_HTTP_POST, "/api/customers", API_SESSION | API_CSRF, NULL, nothing},
        {GW_HTTP_GET, "/api/customers/{id}", API_SESSION, NULL, nothing},
        {GW_HTTP_PATCH, "/api/customers/{id}", API_SESSION | API_CSRF, NULL,
         nothing},
        {GW_HTTP_GET, "/api/conversations/{id}/messages", API_SESSION, NULL,
         nothing},
        {GW_HTTP_GET, "/api/queues/{id}/x/{id}", API_SESSION, NULL, nothing},
};
static const struct api_route TWO[] = {
        {GW_HTTP_GET, "/api/conversations/{id}/offer", API_SESSION, NULL,
         nothing},
        {GW_HTTP_GET, "/api/queues", API_SESSION, NULL, nothing},
        {GW_HTTP_GET | GW_HTTP_HEAD, "/api/me/preferences", API_SESSION, NULL,
         nothing},
};

/* The ids' decimal forms appear in path, in order, as whole segments. */
static int
ids_in_path(const char *path, const long long *id, size_t n)
{
	char seg[32];
	const char *p = path;
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (id[i] < 1 || id[i] > API_ID_MAX)
			return 0;
		k = (size_t)snprintf(seg, sizeof(seg), "/%lld", id[i]);
		for (p = strstr(p, seg);
		     p != NULL && p[k] != '\0' && p[k] != '/';
		     p = strstr(p + 1, seg))
			;
		if (p == NULL)
			return 0;
		p += k;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct api_routes t[] = {
	        {ONE, sizeof(ONE) / sizeof(ONE[0]), NULL},
	        {TWO, sizeof(TWO) / sizeof(TWO[0]), NULL}};
	struct api_route_hit hit;
	long long id[API_ROUTE_IDS_MAX];
	unsigned method;
	size_t n;
	char *path;

	if (size == 0)
		return 0;
	method = 1u << (data[0] % 8);
	path = malloc(size);
	memcpy(path, data + 1, size - 1);
	path[size - 1] = '\0';

	api_route_match(t, 2, method, path, &hit);
	if (hit.status == 0) {
		if (hit.route == NULL || !(hit.route->methods & method) ||
		    !(hit.allow & method) || hit.nids > API_ROUTE_IDS_MAX ||
		    strlen(path) > API_PATH_MAX ||
		    !api_route_pattern(hit.route->pattern, path, id, &n) ||
		    n != hit.nids ||
		    memcmp(id, hit.id, n * sizeof(id[0])) != 0 ||
		    !ids_in_path(path, hit.id, hit.nids))
			abort();
	} else if (hit.status == 405) {
		if (hit.route != NULL || hit.allow == 0 || (hit.allow & method))
			abort();
	} else if (hit.status != 404 || hit.route != NULL || hit.allow != 0 ||
	           hit.nids != 0) {
		abort();
	}
	free(path);
	return 0;
}
