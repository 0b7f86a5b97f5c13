/*
 * test_api_docs.c: the REST API's route tables as the daemon mounts them
 * (api.c's /api/session, then api_records, api_desk, api_staff,
 * api_advisor, and the email channel's email_desk) are sound (api_route_check,
 * which gw_api_new runs too), and the docs name every route and no other: each
 * "METHOD /api/..." in a heading of docs/api.md, and the /api/session rows of
 * docs/http-api.md's table, against every method of every route.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"
#include "api_advisor.h"
#include "api_desk.h"
#include "api_records.h"
#include "api_staff.h"
#include "email_desk.h"
#include "http_route.h"

#define NAMES_MAX 128
#define NAME_LEN  160

struct names {
	char v[NAMES_MAX][NAME_LEN];
	size_t n;
};

#define TABLES 6

static void
tables(struct api_routes t[TABLES])
{
	t[0] = (struct api_routes){gw_api_routes, gw_api_nroutes, NULL};
	t[1] = (struct api_routes){api_records_routes, api_records_nroutes,
	                           NULL};
	t[2] = (struct api_routes){api_desk_routes, api_desk_nroutes, NULL};
	t[3] = (struct api_routes){api_staff_routes, api_staff_nroutes, NULL};
	t[4] = (struct api_routes){api_advisor_routes, api_advisor_nroutes,
	                           NULL};
	t[5] = (struct api_routes){email_desk_routes, email_desk_nroutes, NULL};
}

static int
has(const struct names *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return 1;
	return 0;
}

static void
add(struct names *s, const char *name)
{
	if (has(s, name))
		return;
	assert_true(s->n < NAMES_MAX);
	snprintf(s->v[s->n++], NAME_LEN, "%s", name);
}

/* "GET /api/x" for each method of each route. */
static void
route_names(struct names *s)
{
	struct api_routes t[TABLES];
	char method[HTTP_ROUTE_ALLOW_MAX], name[NAME_LEN];
	unsigned bit;
	size_t i, j;

	tables(t);
	for (i = 0; i < TABLES; i++)
		for (j = 0; j < t[i].n; j++)
			for (bit = 1; bit < GW_HTTP_OTHER; bit <<= 1) {
				if (!(t[i].routes[j].methods & bit))
					continue;
				http_route_allow(bit, method, sizeof(method));
				snprintf(name, sizeof(name), "%s %s", method,
				         t[i].routes[j].pattern);
				add(s, name);
			}
}

/*
 * The "METHOD /api/..." of each `...` span of line (up to '?'); only
 * path when it is not NULL.
 */
static void
line_names(const char *line, const char *only, struct names *s)
{
	static const char *const methods[] = {"GET ",    "HEAD ",  "POST ",
	                                      "PUT ",    "PATCH ", "DELETE ",
	                                      "OPTIONS "};
	const char *p = line, *end, *path;
	char name[NAME_LEN];
	size_t i, n;

	while ((p = strchr(p, '`')) != NULL && (end = strchr(p + 1, '`'))) {
		p++;
		for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
			n = strlen(methods[i]);
			if (strncmp(p, methods[i], n) != 0 ||
			    strncmp(p + n, "/api/", 5) != 0)
				continue;
			path = p + n;
			n = (size_t)(end - p);
			if (memchr(p, '?', n) != NULL)
				n = (size_t)((const char *)memchr(p, '?', n) -
				             p);
			assert_true(n < NAME_LEN);
			memcpy(name, p, n);
			name[n] = '\0';
			if (only == NULL ||
			    strncmp(path, only, strlen(only)) == 0)
				add(s, name);
		}
		p = end + 1;
	}
}

/* Lines of SWITCHBOARD_SRC/doc starting with lead. */
static void
doc_names(const char *doc, const char *lead, const char *only, struct names *s)
{
	const char *src = getenv("SWITCHBOARD_SRC");
	char path[1024], line[4096];
	FILE *f;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/%s", src, doc);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, lead, strlen(lead)) == 0)
			line_names(line, only, s);
	fclose(f);
}

static void
test_tables_sound(void **st)
{
	struct api_routes t[TABLES];
	const char *bad, *why;

	(void)st;
	tables(t);
	why = api_route_check(t, TABLES, &bad);
	if (why != NULL)
		fail_msg("%s: %s", bad, why);
}

static void
test_docs_name_every_route(void **st)
{
	static struct names routes, docs;
	size_t i;
	int wrong = 0;

	(void)st;
	route_names(&routes);
	doc_names("docs/api.md", "#", NULL, &docs);
	doc_names("docs/http-api.md", "| `", "/api/session", &docs);
	for (i = 0; i < routes.n; i++)
		if (!has(&docs, routes.v[i])) {
			print_message("not in the docs: %s\n", routes.v[i]);
			wrong = 1;
		}
	for (i = 0; i < docs.n; i++)
		if (!has(&routes, docs.v[i])) {
			print_message("documented, not a route: %s\n",
			              docs.v[i]);
			wrong = 1;
		}
	assert_true(routes.n > 20);
	assert_int_equal(wrong, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tables_sound),
	        cmocka_unit_test(test_docs_name_every_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
