/*
 * test_identity.c: normalising and matching identities, case by case:
 * every UK phone form of docs (providers.md "Phone numbers"), international
 * numbers, UK mobiles, email addresses to the RFC 5321 subset and its
 * length limits, chat tokens, UPRNs, the kind table, and hostile input
 * (overlong, control characters, NUL-free garbage, tiny buffers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "identity.h"

static char out[IDENTITY_VALUE_MAX + 1];
static const char *why;

/* ------------------------------------------------------------ phone */

static void
phone_ok_flags(const char *in, unsigned flags, const char *want)
{
	memset(out, 'x', sizeof(out));
	why = NULL;
	if (identity_phone(in, flags, out, sizeof(out), &why) != 0)
		fail_msg("refused \"%s\": %s", in, why);
	assert_string_equal(out, want);
	assert_null(why);
}

static void
phone_ok(const char *in, const char *want)
{
	phone_ok_flags(in, 0, want);
}

static void
phone_bad_flags(const char *in, unsigned flags)
{
	why = NULL;
	if (identity_phone(in, flags, out, sizeof(out), &why) != -1)
		fail_msg("accepted \"%s\" as %s", in, out);
	/* Every refusal says why. */
	assert_non_null(why);
	assert_true(strlen(why) > 5);
}

static void
phone_bad(const char *in)
{
	phone_bad_flags(in, 0);
}

/* Each form providers.md lists, and the landlines. */
static void
test_phone_uk_forms(void **st)
{
	(void)st;
	phone_ok("07700 900123", "+447700900123");
	phone_ok("07700-900-123", "+447700900123");
	phone_ok("447700900123", "+447700900123");
	phone_ok("+44 (0)7700 900123", "+447700900123");
	phone_ok("0044 7700 900123", "+447700900123");
	phone_ok("+447700900123", "+447700900123");
	phone_ok("01632 960 000", "+441632960000");
	phone_ok("01632 960000", "+441632960000");
	phone_ok("(01632) 960000", "+441632960000");
	phone_ok("020 7946 0000", "+442079460000");
	phone_ok("(020) 7946 0000", "+442079460000");
	phone_ok("0300 123 4567", "+443001234567");
	phone_ok("0800 123 456", "+44800123456");
	phone_ok("0169 77 1234", "+44169771234");
	phone_ok("07700.900.123", "+447700900123");
}

static void
test_phone_uk_variants(void **st)
{
	(void)st;
	/* White space around it is not part of it. */
	phone_ok("  07700 900123\t", "+447700900123");
	phone_ok("\r\n+44 7700 900123 ", "+447700900123");
	/* A trunk 0 written after the country code is dropped. */
	phone_ok("+44 07700 900123", "+447700900123");
	phone_ok("0044 07700 900123", "+447700900123");
	phone_ok("+44(0)20 7946 0000", "+442079460000");
	phone_ok("0044 (0)7700 900123", "+447700900123");
	phone_ok("44 7700 900123", "+447700900123");
	phone_ok("44 (0)7700 900123", "+447700900123");
	/* A bare 44 with the flag too. */
	phone_ok_flags("447700900123", IDENTITY_PHONE_BARE_INTL,
	               "+447700900123");
}

static void
test_phone_uk_lengths(void **st)
{
	(void)st;
	phone_bad("0770 090 01");      /* 07 and 8 digits */
	phone_bad("07700 90012");      /* 07 and 9 */
	phone_bad("077009001234");     /* 07 and 11 */
	phone_bad("020 7946 000");     /* 02 and 9 */
	phone_bad("0300 123 456");     /* 03 and 9 */
	phone_bad("0163 296 00");      /* 01 and 8 */
	phone_bad("01632 960 0000");   /* 01 and 11 */
	phone_bad("+44 7700 90012");   /* +44 and 9 for a mobile */
	phone_bad("+44 7700 9001234"); /* +44 and 11 */
	phone_bad("4477009001234");    /* bare 44 and 11 */
	phone_bad("44");
	phone_bad("+44");
	phone_bad("+44 (0)");
	phone_bad("0");
	phone_bad("00");
	/* 04 and 06 are not allocated; 00 after 44 is not a number. */
	phone_bad("0400 123 4567");
	phone_bad("0612 345 678");
	phone_bad("+44 4000 123456");
	phone_bad("+44 00 7700 900123");
}

static void
test_phone_international(void **st)
{
	(void)st;
	phone_ok("+1 202-555-0123", "+12025550123");
	phone_ok("+1 (202) 555.0123", "+12025550123");
	phone_ok("001 202 555 0123", "+12025550123");
	phone_ok("+33 6 12 34 56 78", "+33612345678");
	phone_ok("0033 6 12 34 56 78", "+33612345678");
	phone_ok("+353 87 123 4567", "+353871234567");
	phone_ok("+1234567", "+1234567");
	phone_ok("+123456789012345", "+123456789012345");
	phone_bad("+123456");
	phone_bad("+1234567890123456");
	phone_bad("0012345");
	phone_bad("+0123456789");
	phone_bad("000123456789");
	/* Bare digits: no country code, unless the source says so. */
	phone_bad("12025550123");
	phone_bad("1632 960000");
	phone_bad("7700 900123");
	phone_ok_flags("12025550123", IDENTITY_PHONE_BARE_INTL, "+12025550123");
	phone_ok_flags("33612345678", IDENTITY_PHONE_BARE_INTL, "+33612345678");
	phone_bad_flags("123456", IDENTITY_PHONE_BARE_INTL);
	/* The flag changes nothing for a number with a prefix. */
	phone_ok_flags("07700 900123", IDENTITY_PHONE_BARE_INTL,
	               "+447700900123");
}

static void
test_phone_trunk_zero_only_after_a_country_code(void **st)
{
	(void)st;
	phone_bad("+(0)7700 900123");
	phone_bad("00(0)44 7700 900123");
	/* With nothing before it, it is the national number's own 0. */
	phone_ok("(0)7700 900123", "+447700900123");
}

static void
test_phone_hostile(void **st)
{
	char many[200], spaced[2 * IDENTITY_INPUT_MAX];

	(void)st;
	phone_bad("");
	phone_bad("   ");
	phone_bad("+");
	phone_bad("()-.");
	phone_bad("07700 9OO123");
	phone_bad("tel:+447700900123");
	phone_bad("+44 7700 900123 ext 12");
	phone_bad("+44/7700/900123");
	phone_bad("07700\t900123");
	phone_bad("07700\n900123");
	phone_bad("++44 7700 900123");
	phone_bad("+44 7700 +900123");
	phone_bad("0+44 7700 900123");
	phone_bad("07700 900123\xc3\xa9");
	phone_bad("\xef\xbc\x90\xef\xbc\x97"); /* full-width digits */
	phone_bad("0770\x7f"
	          "0 900123");
	phone_bad("07700 900123;DROP TABLE customers");
	/* More digits than any number: refused, nothing overflows. */
	memset(many, '1', sizeof(many) - 1);
	many[0] = '+';
	many[sizeof(many) - 1] = '\0';
	phone_bad(many);
	many[40] = '\0';
	phone_bad(many);
	/* Longer than any input is read. */
	memset(spaced, ' ', sizeof(spaced) - 1);
	spaced[sizeof(spaced) - 1] = '\0';
	memcpy(spaced + 500, "07700900123", 11);
	phone_bad(spaced);
	why = NULL;
	assert_int_equal(identity_phone(NULL, 0, out, sizeof(out), &why), -1);
	assert_non_null(why);
	/* why may be NULL. */
	assert_int_equal(identity_phone("nope", 0, out, sizeof(out), NULL), -1);
}

static void
test_phone_output_too_small(void **st)
{
	(void)st;
	assert_int_equal(identity_phone("07700 900123", 0, out, 13, &why), -1);
	assert_int_equal(identity_phone("07700 900123", 0, out, 14, &why), 0);
	assert_string_equal(out, "+447700900123");
	assert_int_equal(identity_phone("+1 202-555-0123", 0, out, 12, &why),
	                 -1);
	assert_int_equal(identity_phone("+123456789012345", 0, out,
	                                IDENTITY_PHONE_LEN, &why),
	                 0);
	assert_int_equal(identity_phone("07700 900123", 0, NULL, 0, &why), -1);
}

static void
test_phone_uk_mobile(void **st)
{
	(void)st;
	assert_true(identity_phone_uk_mobile("+447700900123"));
	assert_true(identity_phone_uk_mobile("+447123456789"));
	assert_true(identity_phone_uk_mobile("+447900123456"));
	assert_true(identity_phone_uk_mobile("+447624123456"));  /* Man */
	assert_false(identity_phone_uk_mobile("+447012345678")); /* 070 */
	assert_false(identity_phone_uk_mobile("+447612345678")); /* pager */
	assert_false(identity_phone_uk_mobile("+441632960000"));
	assert_false(identity_phone_uk_mobile("+442079460000"));
	assert_false(identity_phone_uk_mobile("+33612345678"));
	assert_false(identity_phone_uk_mobile("+4477009001234"));
	assert_false(identity_phone_uk_mobile("+44770090012"));
	assert_false(identity_phone_uk_mobile("07700900123"));
	assert_false(identity_phone_uk_mobile("+44770090012x"));
	assert_false(identity_phone_uk_mobile(""));
	assert_false(identity_phone_uk_mobile(NULL));
	/* From what people type, through the normaliser. */
	assert_int_equal(
	        identity_phone("07700 900123", 0, out, sizeof(out), &why), 0);
	assert_true(identity_phone_uk_mobile(out));
	assert_int_equal(
	        identity_phone("01632 960 000", 0, out, sizeof(out), &why), 0);
	assert_false(identity_phone_uk_mobile(out));
}

/* ------------------------------------------------------------ email */

static void
email_ok(const char *in, const char *want)
{
	memset(out, 'x', sizeof(out));
	why = NULL;
	if (identity_email(in, out, sizeof(out), &why) != 0)
		fail_msg("refused \"%s\": %s", in, why);
	assert_string_equal(out, want);
}

static void
email_bad(const char *in)
{
	why = NULL;
	if (identity_email(in, out, sizeof(out), &why) != -1)
		fail_msg("accepted \"%s\" as %s", in, out);
	assert_non_null(why);
	assert_true(strlen(why) > 5);
}

static void
test_email_normalised(void **st)
{
	(void)st;
	email_ok("ann@example.org", "ann@example.org");
	email_ok("Ann.Smith@Example.ORG", "ann.smith@example.org");
	email_ok("  ann@example.org \r\n", "ann@example.org");
	email_ok("ann+council@example.org", "ann+council@example.org");
	email_ok("o'brien@example.co.uk", "o'brien@example.co.uk");
	email_ok("a_b-c!#$%&*/=?^`{|}~@example.org",
	         "a_b-c!#$%&*/=?^`{|}~@example.org");
	email_ok("x@sub-domain.example.gov.uk", "x@sub-domain.example.gov.uk");
	email_ok("x@123.example.org", "x@123.example.org");
	email_ok("x@example.xn--p1ai", "x@example.xn--p1ai");
	email_ok("a@b.co", "a@b.co");
}

static void
test_email_syntax_refused(void **st)
{
	(void)st;
	email_bad("");
	email_bad("   ");
	email_bad("ann");
	email_bad("ann@");
	email_bad("@example.org");
	email_bad("ann@example");
	email_bad("ann@@example.org");
	email_bad("a@b@example.org");
	email_bad("ann smith@example.org");
	email_bad("ann@exa mple.org");
	email_bad(".ann@example.org");
	email_bad("ann.@example.org");
	email_bad("an..n@example.org");
	email_bad("ann@example..org");
	email_bad("ann@.example.org");
	email_bad("ann@example.org.");
	email_bad("ann@-example.org");
	email_bad("ann@example-.org");
	email_bad("ann@example.-org");
	email_bad("ann@exam_ple.org");
	email_bad("ann@example.c");
	email_bad("ann@1.2.3.4");
	email_bad("ann@[192.0.2.1]");
	email_bad("\"ann smith\"@example.org");
	email_bad("ann(comment)@example.org");
	email_bad("Ann <ann@example.org>");
	email_bad("<ann@example.org>");
	email_bad("mailto:ann@example.org");
	email_bad("ann@example.org, bob@example.org");
	email_bad("ann@example.org;bob@example.org");
	email_bad("ann\\@example.org");
	email_bad("ann@exam\x01ple.org");
	email_bad("an\x7fn@example.org");
	email_bad("ann\n@example.org");
	/* Internationalised addresses: not yet. */
	email_bad("j\xc3\xb6rg@example.org");
	email_bad("jorg@b\xc3\xbc"
	          "cher.de");
}

/* 64 'a', '@', then labels of b's making the domain dlen long, ".org". */
static void
long_address(char *a, size_t cap, size_t dlen)
{
	size_t i, n;

	memset(a, 'a', 64);
	a[64] = '@';
	n = 65;
	for (i = 0; i < dlen - 4; i++)
		a[n++] = i % 63 == 62 ? '.' : 'b';
	memcpy(a + n, ".org", 5);
	assert_true(strlen(a) < cap);
}

static void
test_email_lengths(void **st)
{
	char a[400], want[400];

	(void)st;
	/* A local part of 64: accepted (lower-cased); 65: refused. */
	memset(a, 'A', 64);
	strcpy(a + 64, "@Example.org");
	memset(want, 'a', 64);
	strcpy(want + 64, "@example.org");
	email_ok(a, want);
	memset(a, 'a', 65);
	strcpy(a + 65, "@example.org");
	email_bad(a);
	/* 254 in all: accepted; 255: refused. */
	long_address(a, sizeof(a), 254 - 65);
	assert_int_equal(strlen(a), 254);
	email_ok(a, a);
	long_address(a, sizeof(a), 255 - 65);
	assert_int_equal(strlen(a), 255);
	email_bad(a);
	/* A domain label of 63: accepted; 64: refused. */
	memset(a, 0, sizeof(a));
	strcpy(a, "ann@");
	memset(a + 4, 'l', 63);
	strcpy(a + 67, ".org");
	email_ok(a, a);
	memset(a + 4, 'l', 64);
	strcpy(a + 68, ".org");
	email_bad(a);
	/* No room in out: refused, out not overrun. */
	assert_int_equal(identity_email("ann@example.org", out, 15, &why), -1);
	assert_int_equal(identity_email("ann@example.org", out, 16, &why), 0);
	assert_int_equal(identity_email("ann@example.org", NULL, 0, &why), -1);
	assert_int_equal(identity_email(NULL, out, sizeof(out), &why), -1);
}

static void
test_email_hostile(void **st)
{
	char *big = malloc(100000);

	(void)st;
	assert_non_null(big);
	memset(big, 'a', 99999);
	big[99999] = '\0';
	big[50] = '@';
	email_bad(big);
	memset(big, ' ', 99999);
	email_bad(big);
	free(big);
	email_bad("@");
	email_bad("@@");
	email_bad(".@.");
	email_bad("a@.");
	email_bad("a@b.");
	email_bad("a@-.org");
}

/* ------------------------------------------------------ chat, uprn */

static void
test_chat_token(void **st)
{
	char t[IDENTITY_CHAT_MAX + 2];

	(void)st;
	assert_int_equal(identity_chat("abc-DEF_123", out, sizeof(out), &why),
	                 0);
	assert_string_equal(out, "abc-DEF_123"); /* case kept */
	assert_int_equal(identity_chat("a b", out, sizeof(out), &why), -1);
	assert_int_equal(identity_chat("", out, sizeof(out), &why), -1);
	assert_int_equal(identity_chat(" abc", out, sizeof(out), &why), -1);
	assert_int_equal(identity_chat("caf\xc3\xa9", out, sizeof(out), &why),
	                 -1);
	memset(t, '!', IDENTITY_CHAT_MAX);
	t[IDENTITY_CHAT_MAX] = '\0';
	assert_int_equal(identity_chat(t, out, sizeof(out), &why), 0);
	t[IDENTITY_CHAT_MAX] = '~';
	t[IDENTITY_CHAT_MAX + 1] = '\0';
	assert_int_equal(identity_chat(t, out, sizeof(out), &why), -1);
	assert_int_equal(identity_chat("abc", out, 3, &why), -1);
}

static void
test_uprn(void **st)
{
	(void)st;
	assert_int_equal(identity_uprn("100023336956", out, sizeof(out), &why),
	                 0);
	assert_string_equal(out, "100023336956");
	assert_int_equal(
	        identity_uprn(" 000010001234 ", out, sizeof(out), &why), 0);
	assert_string_equal(out, "10001234");
	assert_int_equal(identity_uprn("7", out, sizeof(out), &why), 0);
	assert_string_equal(out, "7");
	assert_int_equal(identity_uprn("0", out, sizeof(out), &why), -1);
	assert_int_equal(identity_uprn("000000000000", out, sizeof(out), &why),
	                 -1);
	assert_int_equal(identity_uprn("1000233369561", out, sizeof(out), &why),
	                 -1);
	assert_int_equal(identity_uprn("12 34", out, sizeof(out), &why), -1);
	assert_int_equal(identity_uprn("-12", out, sizeof(out), &why), -1);
	assert_int_equal(identity_uprn("", out, sizeof(out), &why), -1);
	assert_int_equal(identity_uprn("0x1F", out, sizeof(out), &why), -1);
}

/* ------------------------------------------------------------ table */

static void
test_kind_table(void **st)
{
	struct identity id;
	size_t i;

	(void)st;
	for (i = 0; i < IDENTITY_KINDS; i++) {
		assert_int_equal(identity_kinds[i].kind, (int)i);
		assert_ptr_equal(identity_kind_find(identity_kinds[i].name),
		                 &identity_kinds[i]);
		assert_string_equal(identity_kind_name(identity_kinds[i].kind),
		                    identity_kinds[i].name);
		assert_true(identity_kinds[i].max <= IDENTITY_VALUE_MAX);
	}
	/* Exactly the kinds customer_identities allows. */
	assert_non_null(identity_kind_find("email"));
	assert_non_null(identity_kind_find("phone"));
	assert_non_null(identity_kind_find("chat"));
	assert_non_null(identity_kind_find("uprn"));
	assert_null(identity_kind_find("Email"));
	assert_null(identity_kind_find("twitter"));
	assert_null(identity_kind_find(""));
	assert_null(identity_kind_find(NULL));
	assert_string_equal(identity_kind_name((enum identity_kind)99), "");

	assert_int_equal(identity_parse("phone", "07700 900123", &id, &why), 0);
	assert_int_equal(id.kind, IDENTITY_PHONE);
	assert_string_equal(id.value, "+447700900123");
	assert_int_equal(identity_parse("email", " A@B.org", &id, &why), 0);
	assert_int_equal(id.kind, IDENTITY_EMAIL);
	assert_string_equal(id.value, "a@b.org");
	assert_int_equal(identity_parse("uprn", "0012", &id, &why), 0);
	assert_string_equal(id.value, "12");
	why = NULL;
	assert_int_equal(identity_parse("fax", "0123", &id, &why), -1);
	assert_non_null(why);
	assert_int_equal(identity_normalise((enum identity_kind)7, "x", out,
	                                    sizeof(out), &why),
	                 -1);
	/* Through the table, the phone kind takes what people type. */
	assert_int_equal(identity_normalise(IDENTITY_PHONE, "447700900123", out,
	                                    sizeof(out), &why),
	                 0);
	assert_string_equal(out, "+447700900123");
}

static void
test_match(void **st)
{
	(void)st;
	assert_true(identity_match(IDENTITY_PHONE, "07700 900123",
	                           "+44 (0)7700 900123"));
	assert_true(identity_match(IDENTITY_PHONE, "0044 7700 900123",
	                           "447700900123"));
	assert_false(
	        identity_match(IDENTITY_PHONE, "07700 900123", "07700 900124"));
	assert_false(identity_match(IDENTITY_PHONE, "nope", "nope"));
	assert_true(identity_match(IDENTITY_EMAIL, "Ann@Example.org",
	                           " ann@example.ORG"));
	assert_false(identity_match(IDENTITY_EMAIL, "ann@example.org",
	                            "ann@example.com"));
	assert_true(identity_match(IDENTITY_UPRN, "0000123", "123"));
	assert_false(identity_match(IDENTITY_CHAT, "abc", "ABC"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_phone_uk_forms),
	        cmocka_unit_test(test_phone_uk_variants),
	        cmocka_unit_test(test_phone_uk_lengths),
	        cmocka_unit_test(test_phone_international),
	        cmocka_unit_test(
	                test_phone_trunk_zero_only_after_a_country_code),
	        cmocka_unit_test(test_phone_hostile),
	        cmocka_unit_test(test_phone_output_too_small),
	        cmocka_unit_test(test_phone_uk_mobile),
	        cmocka_unit_test(test_email_normalised),
	        cmocka_unit_test(test_email_syntax_refused),
	        cmocka_unit_test(test_email_lengths),
	        cmocka_unit_test(test_email_hostile),
	        cmocka_unit_test(test_chat_token),
	        cmocka_unit_test(test_uprn),
	        cmocka_unit_test(test_kind_table),
	        cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
