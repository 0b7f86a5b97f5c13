/*
 * api_route.c: the REST API's route lookup. A few dozen routes in all: a
 * scan of every pattern per request costs less than the request's header
 * parsing and keeps the rule plain. Distinct patterns never match one
 * path (api_route_check refuses literal segments of digits only), so the
 * methods of every pattern that matches are the path's Allow.
 * Pure: no I/O, no allocation. Any thread.
 */
#include <string.h>

#include "api_route.h"

#define ID_SEGMENT "{id}"

/* The length of the segment at s (up to '/' or the end). */
static size_t
segment_len(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0' && s[n] != '/')
		n++;
	return n;
}

long long
api_route_id(const char *s, size_t n)
{
	long long v = 0;
	size_t i;

	if (n == 0 || n > 16 || s[0] < '1' || s[0] > '9')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v <= API_ID_MAX ? v : 0;
}

int
api_route_pattern(const char *pattern, const char *path, long long *id,
                  size_t *nids)
{
	const char *p = pattern, *s = path;
	size_t pn, sn, k = 0;
	long long v;
	int ok = 0;

	*nids = 0;
	if (strnlen(path, API_PATH_MAX + 1) > API_PATH_MAX)
		goto out;
	/* Both start with '/': compare what follows each '/'. */
	while (*p == '/' && *s == '/') {
		p++;
		s++;
		pn = segment_len(p);
		sn = segment_len(s);
		if (sn == 0)
			goto out;
		if (pn == sizeof(ID_SEGMENT) - 1 &&
		    memcmp(p, ID_SEGMENT, pn) == 0) {
			v = api_route_id(s, sn);
			if (v == 0 || k == API_ROUTE_IDS_MAX)
				goto out;
			id[k++] = v;
		} else if (pn != sn || memcmp(p, s, pn) != 0) {
			goto out;
		}
		p += pn;
		s += sn;
	}
	ok = *p == '\0' && *s == '\0';
out:
	if (ok)
		*nids = k;
	return ok;
}

void
api_route_match(const struct api_routes *tables, size_t n, unsigned method,
                const char *path, struct api_route_hit *hit)
{
	const struct api_route *r;
	long long id[API_ROUTE_IDS_MAX];
	size_t t, i, nids;

	memset(hit, 0, sizeof(*hit));
	for (t = 0; t < n; t++) {
		for (i = 0; i < tables[t].n; i++) {
			r = &tables[t].routes[i];
			if (!api_route_pattern(r->pattern, path, id, &nids))
				continue;
			hit->allow |= r->methods;
			if ((r->methods & method) && hit->route == NULL) {
				hit->route = r;
				hit->arg = tables[t].arg;
				memcpy(hit->id, id, nids * sizeof(id[0]));
				hit->nids = nids;
			}
		}
	}
	if (hit->allow == 0)
		hit->status = 404;
	else if (hit->route == NULL)
		hit->status = 405;
}

/* Why pattern is not a sound one, or NULL. */
static const char *
pattern_problem(const char *pattern)
{
	const char *p;
	size_t n, i, ids = 0;

	if (pattern == NULL || strncmp(pattern, "/api/", 5) != 0)
		return "a pattern starts with /api/";
	if (strlen(pattern) > API_PATH_MAX)
		return "a pattern is longer than API_PATH_MAX";
	for (p = pattern; *p == '/'; p += n) {
		p++;
		n = segment_len(p);
		if (n == 0)
			return "a pattern has an empty segment or ends in '/'";
		if (n == sizeof(ID_SEGMENT) - 1 &&
		    memcmp(p, ID_SEGMENT, n) == 0) {
			if (++ids > API_ROUTE_IDS_MAX)
				return "a pattern has too many {id} segments";
			continue;
		}
		if (memchr(p, '{', n) != NULL || memchr(p, '}', n) != NULL)
			return "a pattern has a {...} other than {id}";
		for (i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == n)
			return "a literal segment of digits could be an {id}";
	}
	return NULL;
}

/* Whether a route after tables[t].routes[i] has its pattern and a method. */
static int
taken_twice(const struct api_routes *tables, size_t n, size_t t, size_t i)
{
	const struct api_route *r = &tables[t].routes[i], *q;
	size_t j;

	for (j = i + 1; t < n; t++, j = 0) {
		for (; j < tables[t].n; j++) {
			q = &tables[t].routes[j];
			if ((q->methods & r->methods) && q->pattern != NULL &&
			    strcmp(q->pattern, r->pattern) == 0)
				return 1;
		}
	}
	return 0;
}

const char *
api_route_check(const struct api_routes *tables, size_t n, const char **bad)
{
	const struct api_route *r;
	const char *why = NULL;
	size_t t, i;

	*bad = NULL;
	for (t = 0; t < n && why == NULL; t++) {
		for (i = 0; i < tables[t].n && why == NULL; i++) {
			r = &tables[t].routes[i];
			*bad = r->pattern;
			why = pattern_problem(r->pattern);
			if (why == NULL && (r->methods & GW_HTTP_ANY) == 0)
				why = "a route has no method";
			if (why == NULL && r->handler == NULL)
				why = "a route has no handler";
			if (why == NULL && (r->need & API_ADMIN) &&
			    !(r->need & API_SESSION))
				why = "API_ADMIN needs API_SESSION";
			if (why == NULL && taken_twice(tables, n, t, i))
				why = "a pattern takes a method twice";
		}
	}
	if (why == NULL)
		*bad = NULL;
	return why;
}
