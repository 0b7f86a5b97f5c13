/*
 * http_route.c: the route table. A few dozen routes at most, registered at
 * start-up: a linear scan per request costs less than the request's own
 * header parsing, and keeps the rule readable: an exact path first, else
 * the longest prefix, then the method among that path's routes.
 * Any thread, one table per thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_route.h"
#include "xmalloc.h"

struct http_routes {
	struct gw_http_route r[HTTP_ROUTES_MAX];
	size_t n;
};

static const struct {
	unsigned bit;
	const char *name;
} METHODS[] = {
        {GW_HTTP_GET, "GET"},         {GW_HTTP_HEAD, "HEAD"},
        {GW_HTTP_POST, "POST"},       {GW_HTTP_PUT, "PUT"},
        {GW_HTTP_PATCH, "PATCH"},     {GW_HTTP_DELETE, "DELETE"},
        {GW_HTTP_OPTIONS, "OPTIONS"},
};

struct http_routes *
http_routes_new(void)
{
	return xcalloc(1, sizeof(struct http_routes));
}

void
http_routes_free(struct http_routes *t)
{
	free(t);
}

size_t
http_routes_count(const struct http_routes *t)
{
	return t->n;
}

static int
same_path(const struct gw_http_route *a, const struct gw_http_route *b)
{
	return (a->flags & GW_HTTP_PREFIX) == (b->flags & GW_HTTP_PREFIX) &&
	       strcmp(a->path, b->path) == 0;
}

void
http_routes_add(struct http_routes *t, const struct gw_http_route *r)
{
	size_t i, nh = 0;

	if (r->path == NULL || r->path[0] != '/')
		fatalx("http route \"%s\": a path starts with '/'",
		       r->path != NULL ? r->path : "");
	if ((r->methods & GW_HTTP_ANY) == 0 || r->handler == NULL)
		fatalx("http route %s: no method or no handler", r->path);
	while (r->headers != NULL && r->headers[nh] != NULL)
		nh++;
	if (nh > HTTP_ROUTE_HEADERS_MAX)
		fatalx("http route %s: more than %d headers", r->path,
		       HTTP_ROUTE_HEADERS_MAX);
	if (t->n == HTTP_ROUTES_MAX)
		fatalx("http route %s: more than %d routes", r->path,
		       HTTP_ROUTES_MAX);
	for (i = 0; i < t->n; i++)
		if (same_path(&t->r[i], r) && (t->r[i].methods & r->methods))
			fatalx("http route %s: registered twice for a method",
			       r->path);
	t->r[t->n++] = *r;
}

/* Whether prefix route p covers path: itself, or below it. */
static int
prefix_covers(const char *p, size_t plen, const char *path)
{
	if (strncmp(path, p, plen) != 0)
		return 0;
	return p[plen - 1] == '/' || path[plen] == '\0' || path[plen] == '/';
}

void
http_routes_find(const struct http_routes *t, unsigned method, const char *path,
                 size_t limit, struct http_route_hit *hit)
{
	const struct gw_http_route *best = NULL, *r;
	size_t i, plen, best_len = 0;

	memset(hit, 0, sizeof(*hit));
	for (i = 0; i < t->n && best == NULL; i++) {
		r = &t->r[i];
		if (!(r->flags & GW_HTTP_PREFIX) && strcmp(r->path, path) == 0)
			best = r;
	}
	/* No exact route: the longest prefix. */
	for (i = 0; i < t->n && (best == NULL || best_len > 0); i++) {
		r = &t->r[i];
		plen = strlen(r->path);
		if ((r->flags & GW_HTTP_PREFIX) && plen > best_len &&
		    prefix_covers(r->path, plen, path)) {
			best = r;
			best_len = plen;
		}
	}
	for (i = 0; best != NULL && i < t->n; i++) {
		r = &t->r[i];
		if (!same_path(r, best))
			continue;
		hit->allow |= r->methods;
		if (r->methods & method) {
			hit->route = r;
			hit->body_max =
			        r->body_max > limit ? limit : r->body_max;
		}
	}
	if (best == NULL)
		hit->status = 404;
	else if (hit->route == NULL)
		hit->status = 405;
}

unsigned
http_route_method(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(METHODS); i++)
		if (strcmp(name, METHODS[i].name) == 0)
			return METHODS[i].bit;
	return GW_HTTP_OTHER;
}

size_t
http_route_allow(unsigned methods, char *out, size_t len)
{
	size_t i, n = 0;
	int w;

	if (len == 0)
		return 0;
	out[0] = '\0';
	for (i = 0; i < nitems(METHODS); i++) {
		if (!(methods & METHODS[i].bit))
			continue;
		w = snprintf(out + n, len - n, "%s%s", n > 0 ? ", " : "",
		             METHODS[i].name);
		if (w < 0 || (size_t)w >= len - n) {
			out[n] = '\0';
			break;
		}
		n += (size_t)w;
	}
	return n;
}
