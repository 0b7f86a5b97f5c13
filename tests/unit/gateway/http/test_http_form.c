/*
 * test_http_form.c: form-urlencoded decoding (gateway/http/http_form.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_form.h"

static void
test_decodes(void **state)
{
	const char body[] = "From=%2B447700900123&Body=Hello+there%21&To=&"
	                    "&Flag&Body=second";
	struct http_form f;

	(void)state;
	assert_int_equal(http_form_parse(body, strlen(body), &f, NULL), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(http_form_get(&f, "From"), "+447700900123");
	assert_string_equal(http_form_get(&f, "Body"), "Hello there!");
	assert_string_equal(http_form_get(&f, "To"), "");
	assert_string_equal(http_form_get(&f, "Flag"), "");
	assert_null(http_form_get(&f, "Missing"));
	assert_string_equal(f.p[4].value, "second");
	http_form_clear(&f);
	assert_int_equal(f.n, 0);
	assert_int_equal(http_form_parse("", 0, &f, NULL), 0);
	assert_int_equal(f.n, 0);
	http_form_clear(&f);
}

static void
test_utf8_and_reserved(void **state)
{
	const char body[] = "Body=Caf%C3%A9+%26+%3D+%25";
	struct http_form f;

	(void)state;
	assert_int_equal(http_form_parse(body, strlen(body), &f, NULL), 0);
	assert_string_equal(http_form_get(&f, "Body"), "Caf\xc3\xa9 & = %");
	http_form_clear(&f);
}

static void
test_refuses(void **state)
{
	static const char *const bad[] = {
	        "a=%", "a=%4", "a=%zz", "a%=1", "a=%00", "a=1&b=%g0",
	};
	struct http_form f;
	const char *why = NULL;
	size_t i;
	char big[HTTP_FORM_PARAMS_MAX * 4 + 8];
	size_t off = 0;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(
		        http_form_parse(bad[i], strlen(bad[i]), &f, &why), -1);
		assert_non_null(why);
		http_form_clear(&f);
	}
	/* a raw NUL inside the body */
	assert_int_equal(http_form_parse("a=b\0c", 5, &f, &why), -1);
	http_form_clear(&f);
	for (i = 0; i <= HTTP_FORM_PARAMS_MAX; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off, "a=%zu&",
		                        i % 10);
	assert_int_equal(http_form_parse(big, off, &f, &why), -1);
	assert_string_equal(why, "the form has too many parameters");
	http_form_clear(&f);
	/* exactly the limit is fine */
	assert_int_equal(http_form_parse(big, off - 4, &f, &why), 0);
	assert_int_equal(f.n, HTTP_FORM_PARAMS_MAX);
	http_form_clear(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_decodes),
	        cmocka_unit_test(test_utf8_and_reserved),
	        cmocka_unit_test(test_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
