/*
 * test_signed_hook.c: our signed-webhook scheme (gateway/core/signed_hook.c)
 * case by case: good, bad, stale either way, rotated secrets, several
 * values, case and white space, empty bodies and bodies with NULs, and
 * hostile headers. The worked example of docs/integrations.md is asserted
 * here against a MAC computed independently with OpenSSL. Pure: no servers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "signed_hook.h"

/*
 * docs/integrations.md, "A worked example". Computed independently:
 *   printf '%s'
 * '1796601600.{"submission_id":"ex-0001","fields":[{"label":"Street","value":"1
 * High St"}]}' \ | openssl dgst -sha256 -hmac 'example-secret-do-not-use-0001'
 */
#define EX_SECRET "example-secret-do-not-use-0001"
#define EX_TS     "1796601600"
#define EX_NOW    1796601600
#define EX_BODY                                                                \
	"{\"submission_id\":\"ex-0001\",\"fields\":[{\"label\":\"Street\","    \
	"\"value\":\"1 High St\"}]}"
#define EX_HEX                                                                 \
	"bbc7145624382670e983fe579770b3b2f080bae695d40ea84c01330071bc666b"
#define EX_SIG "sha256=" EX_HEX
/* printf '%s' '1796601600.' | openssl dgst -sha256 -hmac '...0001' */
#define EX_SIG_EMPTY                                                           \
	"sha256="                                                              \
	"d158c1081c2bf174e4b93c067da0158389de0481b8ff9f932ca06b9a9e383781"

#define OLD_SECRET   "previous-secret-still-valid-02"
#define THIRD_SECRET "a-third-secret-nobody-holds-03"

static struct signed_hook_key keys[2];
static struct signed_hook_key old_only, third;

static void
key_set(struct signed_hook_key *k, const char *s)
{
	k->key = (const unsigned char *)s;
	k->len = strlen(s);
}

static int
setup(void **st)
{
	(void)st;
	key_set(&keys[0], EX_SECRET);
	key_set(&keys[1], OLD_SECRET);
	key_set(&old_only, OLD_SECRET);
	key_set(&third, THIRD_SECRET);
	return 0;
}

static enum signed_hook_result
verify(const char *ts, const char *sig, const char *body, int64_t now)
{
	return signed_hook_verify(ts, sig, body, body ? strlen(body) : 0, keys,
	                          2, now);
}

/* The signature header value for k over ts and body (len bytes). */
static const char *
sign(const struct signed_hook_key *k, int64_t ts, const void *body, size_t len)
{
	static char out[SIGNED_HOOK_SIG_SIZE];

	assert_int_equal(signed_hook_sign(out, sizeof(out), k, ts, body, len),
	                 0);
	return out;
}

static void
test_worked_example(void **st)
{
	(void)st;
	assert_string_equal(sign(&keys[0], EX_NOW, EX_BODY, strlen(EX_BODY)),
	                    EX_SIG);
	assert_int_equal(verify(EX_TS, EX_SIG, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_OK);
	assert_string_equal(sign(&keys[0], EX_NOW, "", 0), EX_SIG_EMPTY);
}

static void
test_bad(void **st)
{
	char sig[SIGNED_HOOK_SIG_SIZE];

	(void)st;
	/* One byte of the body, the timestamp or the MAC changed. */
	assert_int_equal(verify(EX_TS, EX_SIG, EX_BODY " ", EX_NOW),
	                 SIGNED_HOOK_MISMATCH);
	assert_int_equal(verify("1796601601", EX_SIG, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MISMATCH);
	memcpy(sig, EX_SIG, sizeof(sig));
	sig[20] = sig[20] == '0' ? '1' : '0';
	assert_int_equal(verify(EX_TS, sig, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MISMATCH);
	/* The MAC of the body alone, without "<timestamp>.". */
	assert_int_equal(
	        verify(EX_TS,
	               "sha256=0000000000000000000000000000000000000000"
	               "000000000000000000000000",
	               EX_BODY, EX_NOW),
	        SIGNED_HOOK_MISMATCH);
	/* No secret configured: nothing passes. */
	assert_int_equal(signed_hook_verify(EX_TS, EX_SIG, EX_BODY,
	                                    strlen(EX_BODY), keys, 0, EX_NOW),
	                 SIGNED_HOOK_MISMATCH);
}

static void
test_stale(void **st)
{
	(void)st;
	/* 300 s either way passes; 301 does not, in both directions. */
	assert_int_equal(verify(EX_TS, EX_SIG, EX_BODY, EX_NOW + 300),
	                 SIGNED_HOOK_OK);
	assert_int_equal(verify(EX_TS, EX_SIG, EX_BODY, EX_NOW - 300),
	                 SIGNED_HOOK_OK);
	assert_int_equal(verify(EX_TS, EX_SIG, EX_BODY, EX_NOW + 301),
	                 SIGNED_HOOK_STALE);
	assert_int_equal(verify(EX_TS, EX_SIG, EX_BODY, EX_NOW - 301),
	                 SIGNED_HOOK_STALE);
	/* A good signature over an old timestamp is still stale. */
	assert_int_equal(verify("0", sign(&keys[0], 0, "x", 1), "x", EX_NOW),
	                 SIGNED_HOOK_STALE);
	assert_int_equal(verify("9223372036854775807",
	                        sign(&keys[0], INT64_MAX, "x", 1), "x", EX_NOW),
	                 SIGNED_HOOK_STALE);
}

static void
test_rotation(void **st)
{
	char both[2 * SIGNED_HOOK_SIG_SIZE + 2];

	(void)st;
	/* Signed with the new secret, or the previous one: both pass. */
	assert_int_equal(verify(EX_TS, EX_SIG, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_OK);
	assert_int_equal(
	        verify(EX_TS, sign(&old_only, EX_NOW, EX_BODY, strlen(EX_BODY)),
	               EX_BODY, EX_NOW),
	        SIGNED_HOOK_OK);
	/* A third secret does not. */
	assert_int_equal(verify(EX_TS,
	                        sign(&third, EX_NOW, EX_BODY, strlen(EX_BODY)),
	                        EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MISMATCH);
	/* Only the previous secret held: the new one's signature fails. */
	assert_int_equal(signed_hook_verify(EX_TS, EX_SIG, EX_BODY,
	                                    strlen(EX_BODY), &old_only, 1,
	                                    EX_NOW),
	                 SIGNED_HOOK_MISMATCH);
	/* A sender rotating sends both values: passes with either secret. */
	snprintf(both, sizeof(both), "%s,%s",
	         sign(&third, EX_NOW, EX_BODY, strlen(EX_BODY)), EX_SIG);
	assert_int_equal(verify(EX_TS, both, EX_BODY, EX_NOW), SIGNED_HOOK_OK);
	assert_int_equal(signed_hook_verify(EX_TS, both, EX_BODY,
	                                    strlen(EX_BODY), &third, 1, EX_NOW),
	                 SIGNED_HOOK_OK);
	/* Secrets past SIGNED_HOOK_KEYS_MAX are ignored. */
	{
		struct signed_hook_key three[3] = {old_only, old_only, keys[0]};

		assert_int_equal(signed_hook_verify(EX_TS, EX_SIG, EX_BODY,
		                                    strlen(EX_BODY), three, 3,
		                                    EX_NOW),
		                 SIGNED_HOOK_MISMATCH);
	}
}

static void
test_several_values(void **st)
{
	(void)st;
	assert_int_equal(verify(EX_TS,
	                        "sha256=00000000000000000000000000000000000000"
	                        "00000000000000000000000000, " EX_SIG,
	                        EX_BODY, EX_NOW),
	                 SIGNED_HOOK_OK);
	/* Another scheme's value is skipped, not refused. */
	assert_int_equal(verify(EX_TS, "v2=abc, " EX_SIG, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_OK);
	assert_int_equal(verify(EX_TS, "v2=abc", EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MALFORMED);
	/* Eight values at most; a ninth makes the header malformed. */
	assert_int_equal(verify(EX_TS, "a=1,a=1,a=1,a=1,a=1,a=1,a=1," EX_SIG,
	                        EX_BODY, EX_NOW),
	                 SIGNED_HOOK_OK);
	assert_int_equal(verify(EX_TS,
	                        "a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1," EX_SIG,
	                        EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MALFORMED);
}

static void
test_case_and_space(void **st)
{
	char up[SIGNED_HOOK_SIG_SIZE];
	size_t i;

	(void)st;
	memcpy(up, EX_SIG, sizeof(up));
	for (i = 7; up[i] != '\0'; i++)
		if (up[i] >= 'a' && up[i] <= 'f')
			up[i] = (char)(up[i] - 'a' + 'A');
	assert_int_equal(verify(EX_TS, up, EX_BODY, EX_NOW), SIGNED_HOOK_OK);
	/* The scheme name is not case-folded: "SHA256=" is another scheme. */
	assert_int_equal(verify(EX_TS, "SHA256=" EX_HEX, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MALFORMED);
	assert_int_equal(
	        verify(" \t" EX_TS " ", "  " EX_SIG "\t", EX_BODY, EX_NOW),
	        SIGNED_HOOK_OK);
	assert_int_equal(
	        verify(EX_TS, "x=1 ,\t" EX_SIG " , y=2", EX_BODY, EX_NOW),
	        SIGNED_HOOK_OK);
	/* Space inside a value or a number is not trimmed. */
	assert_int_equal(verify(EX_TS, "sha256= " EX_HEX, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MALFORMED);
	assert_int_equal(verify("17966 01600", EX_SIG, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MALFORMED);
}

static void
test_bodies(void **st)
{
	static const char nul_body[] = "{\"a\":\"b\0c\"}\0\0tail";
	const char *sig;

	(void)st;
	assert_int_equal(verify(EX_TS, EX_SIG_EMPTY, "", EX_NOW),
	                 SIGNED_HOOK_OK);
	assert_int_equal(signed_hook_verify(EX_TS, EX_SIG_EMPTY, NULL, 0, keys,
	                                    2, EX_NOW),
	                 SIGNED_HOOK_OK);
	/* Every byte is signed, NULs and what follows them included. */
	sig = sign(&keys[0], EX_NOW, nul_body, sizeof(nul_body) - 1);
	assert_int_equal(signed_hook_verify(EX_TS, sig, nul_body,
	                                    sizeof(nul_body) - 1, keys, 2,
	                                    EX_NOW),
	                 SIGNED_HOOK_OK);
	assert_int_equal(signed_hook_verify(EX_TS, sig, nul_body,
	                                    sizeof(nul_body) - 2, keys, 2,
	                                    EX_NOW),
	                 SIGNED_HOOK_MISMATCH);
	assert_int_equal(
	        signed_hook_verify(EX_TS, sig, nul_body, 8, keys, 2, EX_NOW),
	        SIGNED_HOOK_MISMATCH);
}

static void
test_missing(void **st)
{
	(void)st;
	assert_int_equal(verify(NULL, EX_SIG, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MISSING);
	assert_int_equal(verify(EX_TS, NULL, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MISSING);
	assert_int_equal(verify(NULL, NULL, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MISSING);
	assert_int_equal(verify("", EX_SIG, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MISSING);
	assert_int_equal(verify(EX_TS, " \t ", EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MISSING);
	/* Missing wins over stale. */
	assert_int_equal(verify("1", NULL, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MISSING);
}

static void
test_malformed(void **st)
{
	static const char *const ts[] = {
	        "-1796601600",          "+1796601600",
	        "01796601600",          "1796601600.0",
	        "0x6b1c9a00",           "1796601600s",
	        "17966016OO",           "1e9",
	        "99999999999999999999", /* 20 digits: past int64 */
	        "9999999999999999999",  /* 19 digits, still past int64 */
	        "9223372036854775808",  /* 2^63 */
	        "1796601600\n",         "\xef\xbc\x91",
	};
	static const char *const sig[] = {
	        "sha256=",
	        "sha256=bbc7", /* short */
	        EX_SIG "0",    /* long */
	        "sha256=gbc7145624382670e983fe579770b3b2f080bae695d40ea84c01"
	        "330071bc666b",
	        "bbc7145624382670e983fe579770b3b2f080bae695d40ea84c01330071bc66"
	        "6b", /* no scheme */
	        "=abc",
	        EX_SIG ",", /* an empty value */
	        "," EX_SIG,
	        EX_SIG ";" EX_SIG,
	        "sha256=bbc7145624382670e983fe579770b3b2f080bae695d40ea84c01330"
	        "071bc666b\r\n",
	};
	char longsig[SIGNED_HOOK_HEADER_MAX + 2];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		print_message("timestamp %zu\n", i);
		assert_int_equal(verify(ts[i], EX_SIG, EX_BODY, EX_NOW),
		                 SIGNED_HOOK_MALFORMED);
	}
	for (i = 0; i < sizeof(sig) / sizeof(sig[0]); i++) {
		print_message("signature %zu\n", i);
		assert_int_equal(verify(EX_TS, sig[i], EX_BODY, EX_NOW),
		                 SIGNED_HOOK_MALFORMED);
	}
	/* A header over the limit is refused before it is split. */
	memset(longsig, ' ', sizeof(longsig) - 1);
	longsig[sizeof(longsig) - 1] = '\0';
	memcpy(longsig + 10, EX_SIG, strlen(EX_SIG));
	assert_int_equal(verify(EX_TS, longsig, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MALFORMED);
	/* Malformed wins over stale. */
	assert_int_equal(verify("01", EX_SIG, EX_BODY, EX_NOW),
	                 SIGNED_HOOK_MALFORMED);
}

static void
test_reason_and_sign(void **st)
{
	char small[SIGNED_HOOK_SIG_SIZE - 1];

	(void)st;
	assert_string_equal(signed_hook_reason(SIGNED_HOOK_OK), "ok");
	assert_string_equal(signed_hook_reason(SIGNED_HOOK_MISSING), "missing");
	assert_string_equal(signed_hook_reason(SIGNED_HOOK_MALFORMED),
	                    "malformed");
	assert_string_equal(signed_hook_reason(SIGNED_HOOK_STALE), "stale");
	assert_string_equal(signed_hook_reason(SIGNED_HOOK_MISMATCH),
	                    "mismatch");
	assert_string_equal(signed_hook_reason((enum signed_hook_result)99),
	                    "");
	assert_int_equal(
	        signed_hook_sign(small, sizeof(small), &keys[0], EX_NOW, "", 0),
	        -1);
	assert_int_equal(signed_hook_sign(small, SIGNED_HOOK_SIG_SIZE - 1,
	                                  &keys[0], EX_NOW, "", 0),
	                 -1);
	{
		char out[SIGNED_HOOK_SIG_SIZE];

		assert_int_equal(
		        signed_hook_sign(out, sizeof(out), &keys[0], -1, "", 0),
		        -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_worked_example),
	        cmocka_unit_test(test_bad),
	        cmocka_unit_test(test_stale),
	        cmocka_unit_test(test_rotation),
	        cmocka_unit_test(test_several_values),
	        cmocka_unit_test(test_case_and_space),
	        cmocka_unit_test(test_bodies),
	        cmocka_unit_test(test_missing),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_reason_and_sign),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
