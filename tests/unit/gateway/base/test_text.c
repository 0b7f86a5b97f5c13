/*
 * test_text.c: the shared text checks (gateway/base/text.c): UUIDs and
 * lengths in characters, hostile ones included. The chat's, the form's
 * and the desk's parsers rely on them (their own tests check the limits
 * through them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

#define UUID    "0f8fad5b-d9cb-469f-a165-70867728950e"
#define E_ACUTE "\xc3\xa9"         /* é: 2 bytes */
#define EURO    "\xe2\x82\xac"     /* €: 3 bytes */
#define GRIN    "\xf0\x9f\x98\x80" /* 😀: 4 bytes */

static void
test_is_uuid(void **state)
{
	(void)state;
	assert_int_equal(strlen(UUID), TEXT_UUID_LEN);
	assert_true(text_is_uuid(UUID));
	assert_true(text_is_uuid("6F9619FF-8B86-D011-B42D-00CF4FC964FF"));
	assert_true(text_is_uuid("00000000-0000-0000-0000-000000000000"));
	assert_true(text_is_uuid("aBcDeF01-2345-6789-AbCd-ef0123456789"));
	assert_false(text_is_uuid(NULL));
	assert_false(text_is_uuid(""));
	assert_false(text_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));
	assert_false(text_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950ee"));
	assert_false(text_is_uuid("0f8fad5bd9cb-469f-a165-70867728950e-"));
	assert_false(text_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950g"));
	assert_false(text_is_uuid("0f8fad5b d9cb 469f a165 70867728950e"));
	assert_false(text_is_uuid("{f8fad5b-d9cb-469f-a165-70867728950}"));
	assert_false(text_is_uuid("0f8fad5bd9cb469fa16570867728950e"));
}

/* Each dash, and each digit, in the wrong place. */
static void
test_uuid_hostile(void **state)
{
	char s[TEXT_UUID_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < TEXT_UUID_LEN; i++) {
		memcpy(s, UUID, sizeof(s));
		s[i] = s[i] == '-' ? '0' : '-';
		assert_false(text_is_uuid(s));
		memcpy(s, UUID, sizeof(s));
		s[i] = '\xe9'; /* not ASCII, as a signed char too */
		assert_false(text_is_uuid(s));
	}
	/* Cut short by a NUL, trailed by a space or a line. */
	memcpy(s, UUID, sizeof(s));
	s[20] = '\0';
	assert_false(text_is_uuid(s));
	assert_false(text_is_uuid(UUID " "));
	assert_false(text_is_uuid(UUID "\n"));
	assert_false(text_is_uuid(" " UUID));
	/* A Windows GUID's braces and a URN's prefix are not taken. */
	assert_false(text_is_uuid("{" UUID "}"));
	assert_false(text_is_uuid("urn:uuid:" UUID));
}

static void
test_utf8_chars(void **state)
{
	(void)state;
	assert_int_equal(text_utf8_chars(""), 0);
	assert_int_equal(text_utf8_chars("abc"), 3);
	assert_int_equal(text_utf8_chars(E_ACUTE), 1);
	assert_int_equal(text_utf8_chars(EURO), 1);
	assert_int_equal(text_utf8_chars(GRIN), 1);
	assert_int_equal(text_utf8_chars("caf" E_ACUTE " " EURO "5 " GRIN), 9);
	/* Controls are characters too. */
	assert_int_equal(text_utf8_chars("a\tb\r\n\x7f"), 6);
}

/* Not UTF-8: the count stays within the bytes, never past the NUL. */
static void
test_utf8_chars_hostile(void **state)
{
	(void)state;
	/* Lone continuation bytes count as nothing. */
	assert_int_equal(text_utf8_chars("\x80\x80\xbf"), 0);
	/* A lead byte cut short counts once. */
	assert_int_equal(text_utf8_chars("\xe2\x82"), 1);
	assert_int_equal(text_utf8_chars("a\xf0"), 2);
	assert_int_equal(text_utf8_chars("\xff\xfe"), 2);
	/* Stops at the NUL. */
	assert_int_equal(text_utf8_chars(EURO "\0" EURO), 1);
}

#define VALID(s)   assert_true(text_utf8_valid(s, sizeof(s) - 1))
#define INVALID(s) assert_false(text_utf8_valid(s, sizeof(s) - 1))

/* Every length of sequence, and each way a sequence can be malformed. */
static void
test_utf8_valid(void **state)
{
	(void)state;
	VALID("");
	VALID("plain ASCII");
	VALID(E_ACUTE EURO GRIN);
	VALID("\xc2\x80");           /* U+0080, the first 2-byte */
	VALID("\xef\xbf\xbf");       /* U+FFFF */
	VALID("\xf4\x8f\xbf\xbf");   /* U+10FFFF, the last */
	VALID("\xed\x9f\xbf");       /* U+D7FF, just below the surrogates */
	INVALID("\x80");             /* a lone continuation */
	INVALID("\xc3");             /* cut short */
	INVALID("\xe2\x82");         /* cut short */
	INVALID("\xf0\x9f\x98");     /* cut short */
	INVALID("\xc3\x28");         /* a non-continuation */
	INVALID("\xc0\xaf");         /* overlong '/' */
	INVALID("\xc1\xbf");         /* overlong */
	INVALID("\xe0\x80\xaf");     /* overlong */
	INVALID("\xf0\x80\x80\xaf"); /* overlong */
	INVALID("\xed\xa0\x80");     /* U+D800, a surrogate */
	INVALID("\xed\xbf\xbf");     /* U+DFFF */
	INVALID("\xf4\x90\x80\x80"); /* U+110000 */
	INVALID("\xf5\x80\x80\x80");
	INVALID("\xff");
	INVALID("\xfe");
	INVALID("ok" GRIN "\xe2"); /* good, then cut at the end */
	/* n bounds the check: a sequence cut by n is refused. */
	assert_true(text_utf8_valid(E_ACUTE, 2));
	assert_false(text_utf8_valid(E_ACUTE, 1));
	assert_true(text_utf8_valid(E_ACUTE, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_is_uuid),
	        cmocka_unit_test(test_uuid_hostile),
	        cmocka_unit_test(test_utf8_chars),
	        cmocka_unit_test(test_utf8_chars_hostile),
	        cmocka_unit_test(test_utf8_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
