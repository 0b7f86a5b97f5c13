/*
 * test_api_route.c: the REST API's route lookup (api_route.c) case by
 * case: literal segments, {id} segments (0, leading zeros, 16, 17 and 19+
 * digits, 2^53), trailing '/', "//", "%2F", dot segments, NUL-free
 * hostile bytes, overlong paths; method masks, 404 against 405 and its
 * Allow, the first table's route winning; and the tables api_route_check
 * refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api_route.h"
#include "http_route.h"

static void
h1(void *arg, const struct api_call *c)
{
	(void)arg;
	(void)c;
}

static void
h2(void *arg, const struct api_call *c)
{
	(void)arg;
	(void)c;
}

/* 1 when path matches pattern; its ids in id, their count in *n. */
static int
pm(const char *pattern, const char *path, long long *id, size_t *n)
{
	return api_route_pattern(pattern, path, id, n);
}

static void
test_literal_segments(void **st)
{
	long long id[API_ROUTE_IDS_MAX];
	size_t n = 9;

	(void)st;
	assert_int_equal(pm("/api/queues", "/api/queues", id, &n), 1);
	assert_int_equal(n, 0);
	/* Exact, byte for byte. */
	assert_int_equal(pm("/api/queues", "/api/queues/", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/api/queue", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/api/queuesx", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/api/Queues", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/api//queues", id, &n), 0);
	assert_int_equal(pm("/api/queues", "//api/queues", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/api/./queues", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/api/x/../queues", id, &n), 0);
	assert_int_equal(pm("/api/queues", "api/queues", id, &n), 0);
	assert_int_equal(pm("/api/queues", "", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/api", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/api/queues?x=1", id, &n), 0);
	assert_int_equal(
	        pm("/api/me/preferences", "/api/me%2Fpreferences", id, &n), 0);
	assert_int_equal(
	        pm("/api/me/preferences", "/api/me/preferences", id, &n), 1);
	assert_int_equal(pm("/api/me/preferences", "/api/me", id, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_id_segments(void **st)
{
	const char *p = "/api/customers/{id}/timeline";
	long long id[API_ROUTE_IDS_MAX];
	size_t n = 9;

	(void)st;
	assert_int_equal(pm(p, "/api/customers/7001/timeline", id, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(id[0], 7001);
	assert_int_equal(pm(p, "/api/customers/1/timeline", id, &n), 1);
	assert_int_equal(id[0], 1);
	/* 0 is no id; nor are leading zeros, signs, spaces, hex. */
	assert_int_equal(pm(p, "/api/customers/0/timeline", id, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pm(p, "/api/customers/00/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/007/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/-7/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/+7/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/%207/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/ 7/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/7 /timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/0x1f/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/12x/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/1e3/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/{id}/timeline", id, &n), 0);
	/* Missing, empty, or the rest wrong. */
	assert_int_equal(pm(p, "/api/customers//timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/7", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/7/", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/7/timeline/", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/7/timeline/x", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/7/../8/timeline", id, &n), 0);
	assert_int_equal(pm(p, "/api/customers/7%2Ftimeline", id, &n), 0);
	/* Size: 16 digits below 2^53 pass; 2^53, 17 and 19+ digits not. */
	assert_int_equal(
	        pm(p, "/api/customers/9007199254740991/timeline", id, &n), 1);
	assert_int_equal(id[0], API_ID_MAX);
	assert_int_equal(
	        pm(p, "/api/customers/9007199254740992/timeline", id, &n), 0);
	assert_int_equal(
	        pm(p, "/api/customers/9999999999999999/timeline", id, &n), 0);
	assert_int_equal(
	        pm(p, "/api/customers/10000000000000000/timeline", id, &n), 0);
	assert_int_equal(
	        pm(p, "/api/customers/9223372036854775807/timeline", id, &n),
	        0);
	assert_int_equal(pm(p,
	                    "/api/customers/99999999999999999999999/timeline",
	                    id, &n),
	                 0);
	assert_int_equal(n, 0);
}

static void
test_two_ids_and_overlong(void **st)
{
	const char *p = "/api/queues/{id}/x/{id}";
	long long id[API_ROUTE_IDS_MAX];
	char path[API_PATH_MAX + 64];
	size_t n = 9, k;

	(void)st;
	assert_int_equal(pm(p, "/api/queues/31/x/42", id, &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(id[0], 31);
	assert_int_equal(id[1], 42);
	assert_int_equal(pm(p, "/api/queues/31/x/", id, &n), 0);
	assert_int_equal(pm(p, "/api/queues/31/y/42", id, &n), 0);
	assert_int_equal(n, 0);
	/* A path of API_PATH_MAX bytes may match; one byte more never. */
	snprintf(path, sizeof(path), "/api/");
	for (k = strlen(path); k < API_PATH_MAX; k++)
		path[k] = 'a';
	path[k] = '\0';
	assert_int_equal(strlen(path), API_PATH_MAX);
	assert_int_equal(pm(path, path, id, &n), 1);
	path[k] = 'a';
	path[k + 1] = '\0';
	assert_int_equal(pm(path, path, id, &n), 0);
	/* Hostile bytes are compared, never interpreted. */
	assert_int_equal(pm("/api/queues", "/api/queues\r\n", id, &n), 0);
	assert_int_equal(pm("/api/queues", "/api/qu\xffues", id, &n), 0);
}

static const struct api_route A[] = {
        {GW_HTTP_GET, "/api/queues", API_SESSION, NULL, h1},
        {GW_HTTP_GET, "/api/customers/{id}", API_SESSION, NULL, h1},
        {GW_HTTP_PATCH, "/api/customers/{id}", API_SESSION | API_CSRF, NULL,
         h2},
        {GW_HTTP_GET, "/api/conversations/{id}/messages", API_SESSION, NULL,
         h1},
        {GW_HTTP_GET | GW_HTTP_HEAD, "/api/both", API_OPEN, NULL, h1},
};
static const struct api_route B[] = {
        {GW_HTTP_GET, "/api/conversations/{id}/offer", API_SESSION, NULL, h2},
        {GW_HTTP_POST | GW_HTTP_DELETE, "/api/session", API_OPEN, NULL, h2},
        {GW_HTTP_GET, "/api/session", API_OPEN, NULL, h1},
};

static int TAG_A, TAG_B;

static void
find(unsigned method, const char *path, struct api_route_hit *hit)
{
	const struct api_routes t[] = {{A, sizeof(A) / sizeof(A[0]), &TAG_A},
	                               {B, sizeof(B) / sizeof(B[0]), &TAG_B}};

	api_route_match(t, 2, method, path, hit);
}

static void
test_match_tables(void **st)
{
	struct api_route_hit hit;
	char allow[HTTP_ROUTE_ALLOW_MAX];

	(void)st;
	find(GW_HTTP_GET, "/api/queues", &hit);
	assert_int_equal(hit.status, 0);
	assert_ptr_equal(hit.route, &A[0]);
	assert_ptr_equal(hit.arg, &TAG_A);
	assert_int_equal(hit.nids, 0);
	/* One pattern, two methods in two routes. */
	find(GW_HTTP_PATCH, "/api/customers/12", &hit);
	assert_int_equal(hit.status, 0);
	assert_ptr_equal(hit.route, &A[2]);
	assert_int_equal(hit.nids, 1);
	assert_int_equal(hit.id[0], 12);
	find(GW_HTTP_DELETE, "/api/customers/12", &hit);
	assert_int_equal(hit.status, 405);
	assert_null(hit.route);
	assert_null(hit.arg);
	assert_int_equal(hit.nids, 0);
	assert_int_equal(hit.allow, GW_HTTP_GET | GW_HTTP_PATCH);
	http_route_allow(hit.allow, allow, sizeof(allow));
	assert_string_equal(allow, "GET, PATCH");
	/* GET does not imply HEAD; masks of several methods. */
	find(GW_HTTP_HEAD, "/api/queues", &hit);
	assert_int_equal(hit.status, 405);
	assert_int_equal(hit.allow, GW_HTTP_GET);
	find(GW_HTTP_HEAD, "/api/both", &hit);
	assert_int_equal(hit.status, 0);
	find(GW_HTTP_OTHER, "/api/both", &hit);
	assert_int_equal(hit.status, 405);
	find(GW_HTTP_OPTIONS, "/api/session", &hit);
	assert_int_equal(hit.status, 405);
	assert_int_equal(hit.allow,
	                 GW_HTTP_GET | GW_HTTP_POST | GW_HTTP_DELETE);
	find(GW_HTTP_DELETE, "/api/session", &hit);
	assert_int_equal(hit.status, 0);
	assert_ptr_equal(hit.route, &B[1]);
	assert_ptr_equal(hit.arg, &TAG_B);
	/* Sibling patterns in two tables. */
	find(GW_HTTP_GET, "/api/conversations/5/offer", &hit);
	assert_ptr_equal(hit.route, &B[0]);
	assert_int_equal(hit.id[0], 5);
	find(GW_HTTP_GET, "/api/conversations/5/messages", &hit);
	assert_ptr_equal(hit.route, &A[3]);
	/* Not a pattern's path: 404, whatever the method. */
	find(GW_HTTP_GET, "/api/conversations/5", &hit);
	assert_int_equal(hit.status, 404);
	assert_int_equal(hit.allow, 0);
	find(GW_HTTP_GET, "/api/customers/0", &hit);
	assert_int_equal(hit.status, 404);
	find(GW_HTTP_DELETE, "/api/customers/007", &hit);
	assert_int_equal(hit.status, 404);
	find(GW_HTTP_GET, "/api/queues/", &hit);
	assert_int_equal(hit.status, 404);
	find(GW_HTTP_GET, "/api/", &hit);
	assert_int_equal(hit.status, 404);
	find(GW_HTTP_GET, "/api", &hit);
	assert_int_equal(hit.status, 404);
	find(GW_HTTP_GET, "", &hit);
	assert_int_equal(hit.status, 404);
	/* No tables: nothing is found. */
	api_route_match(NULL, 0, GW_HTTP_GET, "/api/queues", &hit);
	assert_int_equal(hit.status, 404);
}

/* api_route_check's verdict on one route in a table of its own. */
static const char *
check1(unsigned methods, const char *pattern, unsigned need, api_handler_fn fn)
{
	struct api_route r = {methods, pattern, need, NULL, fn};
	struct api_routes t = {&r, 1, NULL};
	const char *bad, *why = api_route_check(&t, 1, &bad);

	if (why != NULL)
		assert_ptr_equal(bad, pattern);
	else
		assert_null(bad);
	return why;
}

static void
test_check(void **st)
{
	const struct api_routes good[] = {{A, sizeof(A) / sizeof(A[0]), NULL},
	                                  {B, sizeof(B) / sizeof(B[0]), NULL}};
	const struct api_routes twice[] = {{A, sizeof(A) / sizeof(A[0]), NULL},
	                                   {A, 1, NULL}};
	const char *bad;

	(void)st;
	assert_null(api_route_check(good, 2, &bad));
	assert_null(bad);
	assert_non_null(api_route_check(twice, 2, &bad));
	assert_string_equal(bad, "/api/queues");
	assert_null(check1(GW_HTTP_GET, "/api/x/{id}/y/{id}", API_SESSION, h1));
	assert_non_null(check1(GW_HTTP_GET, "/api/x/{id}/{id}/{id}", 0, h1));
	assert_non_null(check1(GW_HTTP_GET, "/api/x/", 0, h1));
	assert_non_null(check1(GW_HTTP_GET, "/api//x", 0, h1));
	assert_non_null(check1(GW_HTTP_GET, "/api", 0, h1));
	assert_non_null(check1(GW_HTTP_GET, "/hooks/x", 0, h1));
	assert_non_null(check1(GW_HTTP_GET, NULL, 0, h1));
	assert_non_null(check1(GW_HTTP_GET, "/api/x/12", 0, h1));
	assert_non_null(check1(GW_HTTP_GET, "/api/x/{name}", 0, h1));
	assert_non_null(check1(GW_HTTP_GET, "/api/x/{id", 0, h1));
	assert_non_null(check1(0, "/api/x", 0, h1));
	assert_non_null(check1(GW_HTTP_GET, "/api/x", 0, NULL));
	assert_non_null(check1(GW_HTTP_GET, "/api/x", API_ADMIN, h1));
	assert_null(check1(GW_HTTP_GET, "/api/x", API_ADMIN | API_SESSION, h1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_literal_segments),
	        cmocka_unit_test(test_id_segments),
	        cmocka_unit_test(test_two_ids_and_overlong),
	        cmocka_unit_test(test_match_tables),
	        cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
