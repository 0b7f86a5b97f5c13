/*
 * test_http_route.c: the route table of http_route.c case by case: exact
 * paths before prefixes, the longest prefix, prefixes that end and do not
 * end with '/', a method the path does not take (405 and its Allow), the
 * body limit of each route (capped by the configured one), and the
 * registrations refused as broken invariants (in a child process).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_route.h"

#define LIMIT 4096

static int calls;

static void
h_any(void *arg, const struct gw_http_request *req)
{
	(void)arg;
	(void)req;
	calls++;
}

static void
h_other(void *arg, const struct gw_http_request *req)
{
	(void)arg;
	(void)req;
}

static void
add(struct http_routes *t, unsigned methods, const char *path, unsigned flags,
    size_t body_max, void *tag)
{
	struct gw_http_route r = {methods, path,  flags, body_max,
	                          NULL,    h_any, tag};

	http_routes_add(t, &r);
}

/* The tag (arg) of the route found, or the status when none. */
static long
find(struct http_routes *t, unsigned method, const char *path)
{
	struct http_route_hit hit;

	http_routes_find(t, method, path, LIMIT, &hit);
	if (hit.status != 0) {
		assert_null(hit.route);
		return -hit.status;
	}
	assert_non_null(hit.route);
	return (long)(size_t)hit.route->arg;
}

#define TAG(n) ((void *)(size_t)(n))

static void
test_exact_and_prefix(void **st)
{
	struct http_routes *t = http_routes_new();

	(void)st;
	add(t, GW_HTTP_ANY, "/api/", GW_HTTP_PREFIX, GW_HTTP_BODY_CONFIGURED,
	    TAG(1));
	add(t, GW_HTTP_GET, "/api/chat/transcript", GW_HTTP_EXACT, 0, TAG(2));
	add(t, GW_HTTP_GET | GW_HTTP_HEAD, "/widget", GW_HTTP_PREFIX, 0,
	    TAG(3));
	add(t, GW_HTTP_GET | GW_HTTP_HEAD, "/widget/topics.json", GW_HTTP_EXACT,
	    0, TAG(4));
	add(t, GW_HTTP_POST, "/hooks/forms", GW_HTTP_PREFIX, 65536, TAG(5));
	add(t, GW_HTTP_POST, "/hooks/forms/special", GW_HTTP_PREFIX, 100,
	    TAG(6));
	add(t, GW_HTTP_GET, "/healthz", GW_HTTP_EXACT, 0, TAG(7));
	assert_int_equal(http_routes_count(t), 7);

	/* An exact path wins over any prefix. */
	assert_int_equal(find(t, GW_HTTP_GET, "/api/chat/transcript"), 2);
	assert_int_equal(find(t, GW_HTTP_GET, "/widget/topics.json"), 4);
	/* Below a prefix ending with '/'; not the bare folder. */
	assert_int_equal(find(t, GW_HTTP_GET, "/api/session"), 1);
	assert_int_equal(find(t, GW_HTTP_DELETE, "/api/chat/other"), 1);
	assert_int_equal(find(t, GW_HTTP_GET, "/api/"), 1);
	assert_int_equal(find(t, GW_HTTP_GET, "/api"), -404);
	assert_int_equal(find(t, GW_HTTP_GET, "/apix"), -404);
	/* A prefix without '/': itself and below, not a longer name. */
	assert_int_equal(find(t, GW_HTTP_GET, "/widget"), 3);
	assert_int_equal(find(t, GW_HTTP_GET, "/widget/"), 3);
	assert_int_equal(find(t, GW_HTTP_HEAD, "/widget/demo/x.js"), 3);
	assert_int_equal(find(t, GW_HTTP_GET, "/widgets"), -404);
	assert_int_equal(find(t, GW_HTTP_GET, "/widget.js"), -404);
	/* The longest prefix. */
	assert_int_equal(find(t, GW_HTTP_POST, "/hooks/forms/bins"), 5);
	assert_int_equal(find(t, GW_HTTP_POST, "/hooks/forms/special"), 6);
	assert_int_equal(find(t, GW_HTTP_POST, "/hooks/forms/special/x"), 6);
	assert_int_equal(find(t, GW_HTTP_POST, "/hooks/forms/specialx"), 5);
	/* Exact means exact: no trailing slash, no case folding. */
	assert_int_equal(find(t, GW_HTTP_GET, "/healthz/"), -404);
	assert_int_equal(find(t, GW_HTTP_GET, "/HEALTHZ"), -404);
	assert_int_equal(find(t, GW_HTTP_GET, ""), -404);
	assert_int_equal(find(t, GW_HTTP_GET, "/"), -404);
	http_routes_free(t);
}

static void
test_method_mismatch_is_405_with_allow(void **st)
{
	struct http_routes *t = http_routes_new();
	struct http_route_hit hit;
	char allow[HTTP_ROUTE_ALLOW_MAX];

	(void)st;
	add(t, GW_HTTP_GET, "/hook", GW_HTTP_EXACT, 0, TAG(1));
	add(t, GW_HTTP_POST, "/hook", GW_HTTP_EXACT, 512, TAG(2));
	add(t, GW_HTTP_ANY, "/", GW_HTTP_PREFIX, GW_HTTP_BODY_CONFIGURED,
	    TAG(3));
	/* Two routes of one path, by method. */
	assert_int_equal(find(t, GW_HTTP_GET, "/hook"), 1);
	assert_int_equal(find(t, GW_HTTP_POST, "/hook"), 2);
	/* The path has routes: 405, not the catch-all prefix. */
	http_routes_find(t, GW_HTTP_DELETE, "/hook", LIMIT, &hit);
	assert_int_equal(hit.status, 405);
	assert_null(hit.route);
	assert_int_equal(hit.allow, GW_HTTP_GET | GW_HTTP_POST);
	http_route_allow(hit.allow, allow, sizeof(allow));
	assert_string_equal(allow, "GET, POST");
	/* GET does not imply HEAD. */
	assert_int_equal(find(t, GW_HTTP_HEAD, "/hook"), -405);
	/* Anything else falls to the catch-all. */
	assert_int_equal(find(t, GW_HTTP_OTHER, "/elsewhere"), 3);
	http_routes_free(t);
}

static void
test_body_limits(void **st)
{
	struct http_routes *t = http_routes_new();
	struct http_route_hit hit;

	(void)st;
	add(t, GW_HTTP_POST, "/small", GW_HTTP_EXACT, 16, TAG(1));
	add(t, GW_HTTP_PUT, "/small", GW_HTTP_EXACT, 64, TAG(2));
	add(t, GW_HTTP_GET, "/none", GW_HTTP_EXACT, 0, TAG(3));
	add(t, GW_HTTP_POST, "/big", GW_HTTP_EXACT, 1 << 20, TAG(4));
	add(t, GW_HTTP_POST, "/conf", GW_HTTP_EXACT, GW_HTTP_BODY_CONFIGURED,
	    TAG(5));

	http_routes_find(t, GW_HTTP_POST, "/small", LIMIT, &hit);
	assert_int_equal(hit.body_max, 16);
	http_routes_find(t, GW_HTTP_PUT, "/small", LIMIT, &hit);
	assert_int_equal(hit.body_max, 64);
	/* A method the path does not take: no body for it. */
	http_routes_find(t, GW_HTTP_PATCH, "/small", LIMIT, &hit);
	assert_int_equal(hit.status, 405);
	assert_int_equal(hit.body_max, 0);
	http_routes_find(t, GW_HTTP_GET, "/none", LIMIT, &hit);
	assert_int_equal(hit.body_max, 0);
	/* Never more than the configured limit. */
	http_routes_find(t, GW_HTTP_POST, "/big", LIMIT, &hit);
	assert_int_equal(hit.body_max, LIMIT);
	http_routes_find(t, GW_HTTP_POST, "/conf", LIMIT, &hit);
	assert_int_equal(hit.body_max, LIMIT);
	http_routes_find(t, GW_HTTP_POST, "/nowhere", LIMIT, &hit);
	assert_int_equal(hit.status, 404);
	assert_int_equal(hit.body_max, 0);
	http_routes_free(t);
}

static void
test_method_names(void **st)
{
	char out[HTTP_ROUTE_ALLOW_MAX], tiny[10];

	(void)st;
	assert_int_equal(http_route_method("GET"), GW_HTTP_GET);
	assert_int_equal(http_route_method("HEAD"), GW_HTTP_HEAD);
	assert_int_equal(http_route_method("DELETE"), GW_HTTP_DELETE);
	assert_int_equal(http_route_method("OPTIONS"), GW_HTTP_OPTIONS);
	assert_int_equal(http_route_method("get"), GW_HTTP_OTHER);
	assert_int_equal(http_route_method("OTHER"), GW_HTTP_OTHER);
	assert_int_equal(http_route_method(""), GW_HTTP_OTHER);
	assert_int_equal(http_route_allow(GW_HTTP_ANY, out, sizeof(out)),
	                 strlen("GET, HEAD, POST, PUT, PATCH, DELETE, "
	                        "OPTIONS"));
	assert_string_equal(out, "GET, HEAD, POST, PUT, PATCH, DELETE, "
	                         "OPTIONS");
	http_route_allow(GW_HTTP_OTHER, out, sizeof(out));
	assert_string_equal(out, "");
	/* Cut at a whole method when the buffer is short. */
	http_route_allow(GW_HTTP_GET | GW_HTTP_HEAD | GW_HTTP_POST, tiny,
	                 sizeof(tiny));
	assert_string_equal(tiny, "GET, HEAD");
}

/* Whether registering r in a table already holding one /x GET aborts. */
static int
aborts(const struct gw_http_route *r)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct http_routes *t = http_routes_new();

		/* fatalx logs to stderr: keep the test's output quiet. */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(3);
		add(t, GW_HTTP_GET, "/x", GW_HTTP_EXACT, 0, NULL);
		http_routes_add(t, r);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

static void
test_broken_registrations_abort(void **st)
{
	static const char *const nine[] = {"a", "b", "c", "d", "e",
	                                   "f", "g", "h", "i", NULL};
	struct gw_http_route r = {GW_HTTP_GET, "/x",    GW_HTTP_EXACT, 0,
	                          NULL,        h_other, NULL};

	(void)st;
	/* The same path and method twice. */
	assert_true(aborts(&r));
	/* The same path, another method: fine; as a prefix: fine. */
	r.methods = GW_HTTP_POST;
	assert_false(aborts(&r));
	r.methods = GW_HTTP_GET;
	r.flags = GW_HTTP_PREFIX;
	assert_false(aborts(&r));
	r.flags = GW_HTTP_EXACT;
	r.path = "x";
	assert_true(aborts(&r));
	r.path = "/y";
	r.methods = GW_HTTP_NONE;
	assert_true(aborts(&r));
	r.methods = GW_HTTP_GET;
	r.handler = NULL;
	assert_true(aborts(&r));
	r.handler = h_other;
	r.headers = nine;
	assert_true(aborts(&r));
	r.headers = nine + 1; /* eight */
	assert_false(aborts(&r));
}

static void
test_table_full(void **st)
{
	struct http_routes *t = http_routes_new();
	static char paths[HTTP_ROUTES_MAX][16];
	struct http_route_hit hit;
	int i;

	(void)st;
	for (i = 0; i < HTTP_ROUTES_MAX; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/r%d", i);
		add(t, GW_HTTP_GET, paths[i], GW_HTTP_EXACT, 0, TAG(i + 1));
	}
	assert_int_equal(http_routes_count(t), HTTP_ROUTES_MAX);
	http_routes_find(t, GW_HTTP_GET, "/r63", LIMIT, &hit);
	assert_ptr_equal(hit.route->arg, TAG(64));
	calls = 0;
	hit.route->handler(hit.route->arg, NULL);
	assert_int_equal(calls, 1);
	http_routes_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exact_and_prefix),
	        cmocka_unit_test(test_method_mismatch_is_405_with_allow),
	        cmocka_unit_test(test_body_limits),
	        cmocka_unit_test(test_method_names),
	        cmocka_unit_test(test_broken_registrations_abort),
	        cmocka_unit_test(test_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
