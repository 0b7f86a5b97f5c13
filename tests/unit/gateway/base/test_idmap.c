/*
 * test_idmap.c: the id map under growth, replacement and removal,
 * checked against a plain array.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "idmap.h"

#define N 20000

static void
count_each(void *arg, uint64_t key, void *value)
{
	size_t *n = arg;

	assert_ptr_equal(value, (void *)(uintptr_t)(key * 3 + 1));
	(*n)++;
}

static void
test_map(void **st)
{
	struct idmap *m = idmap_new();
	size_t i, n = 0;

	(void)st;
	assert_null(idmap_get(m, 1));
	assert_null(idmap_del(m, 1));
	for (i = 1; i <= N; i++)
		idmap_put(m, i, (void *)(uintptr_t)(i * 3 + 1));
	assert_int_equal(idmap_count(m), N);
	for (i = 1; i <= N; i++)
		assert_ptr_equal(idmap_get(m, i),
		                 (void *)(uintptr_t)(i * 3 + 1));
	idmap_each(m, count_each, &n);
	assert_int_equal(n, N);
	/* Replacing keeps the count. */
	idmap_put(m, 7, (void *)(uintptr_t)5);
	assert_int_equal(idmap_count(m), N);
	assert_ptr_equal(idmap_get(m, 7), (void *)(uintptr_t)5);
	for (i = 2; i <= N; i += 2)
		assert_non_null(idmap_del(m, i));
	assert_int_equal(idmap_count(m), N / 2);
	for (i = 1; i <= N; i++)
		if (i % 2 == 0)
			assert_null(idmap_get(m, i));
		else
			assert_non_null(idmap_get(m, i));
	assert_null(idmap_get(m, UINT64_MAX));
	idmap_put(m, UINT64_MAX, m);
	assert_ptr_equal(idmap_get(m, UINT64_MAX), m);
	idmap_free(m);
	idmap_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
