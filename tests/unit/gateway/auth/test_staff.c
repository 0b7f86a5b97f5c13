/*
 * test_staff.c: password hashing (Argon2id PHC strings), verification,
 * the length limit, generated passwords and the role names. No database:
 * gw_staff_add is covered by the integration tests. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "staff.h"

/* Documented in staff.c: no look-alikes (0/O, 1/l/I). */
static const char alphabet[] =
        "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void
test_hash_is_argon2id_phc(void **state)
{
	char hash[crypto_pwhash_STRBYTES];
	unsigned long m = 0, t = 0, p = 0;
	int v = 0, n = 0;

	(void)state;
	memset(hash, 0, sizeof(hash));
	assert_int_equal(
	        gw_staff_hash_password("correct horse", hash, sizeof(hash)), 0);
	assert_int_equal(strncmp(hash, "$argon2id$", 10), 0);
	assert_int_equal(sscanf(hash, "$argon2id$v=%d$m=%lu,t=%lu,p=%lu$%n", &v,
	                        &m, &t, &p, &n),
	                 4);
	assert_true(n > 0);
	assert_int_equal(v, 19);
	/* OWASP floor: 19 MiB, two passes, one lane. */
	assert_true(m >= 19456);
	assert_true(t >= 2);
	assert_true(p >= 1);
	/* $salt$hash follows. */
	assert_non_null(strchr(hash + n, '$'));
	assert_true(strlen(hash) < sizeof(hash));
}

static void
test_hash_is_salted(void **state)
{
	char a[crypto_pwhash_STRBYTES], b[crypto_pwhash_STRBYTES];

	(void)state;
	assert_int_equal(gw_staff_hash_password("same", a, sizeof(a)), 0);
	assert_int_equal(gw_staff_hash_password("same", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_true(gw_staff_verify_password(a, "same"));
	assert_true(gw_staff_verify_password(b, "same"));
}

static void
test_verify_right_and_wrong(void **state)
{
	char hash[crypto_pwhash_STRBYTES];

	(void)state;
	assert_int_equal(gw_staff_hash_password("Tr0ub4dor&3 \xc3\xa9", hash,
	                                        sizeof(hash)),
	                 0);
	assert_int_equal(gw_staff_verify_password(hash, "Tr0ub4dor&3 \xc3\xa9"),
	                 1);
	assert_int_equal(gw_staff_verify_password(hash, "Tr0ub4dor&3 e"), 0);
	assert_int_equal(gw_staff_verify_password(hash, "tr0ub4dor&3 \xc3\xa9"),
	                 0);
	assert_int_equal(gw_staff_verify_password(hash, "Tr0ub4dor&3 "), 0);
	assert_int_equal(
	        gw_staff_verify_password(hash, "Tr0ub4dor&3 \xc3\xa9 "), 0);
	assert_int_equal(gw_staff_verify_password(hash, ""), 0);
}

static void
test_verify_malformed_hash(void **state)
{
	(void)state;
	assert_int_equal(gw_staff_verify_password("", "x"), 0);
	assert_int_equal(gw_staff_verify_password("x", "x"), 0);
	assert_int_equal(gw_staff_verify_password("$argon2id$", "x"), 0);
	assert_int_equal(
	        gw_staff_verify_password(
	                "$argon2id$v=19$m=19456,t=2,p=1$AAAA$AAAA", "x"),
	        0);
}

static void
test_hash_small_buffer_refused(void **state)
{
	char hash[crypto_pwhash_STRBYTES - 1];

	(void)state;
	assert_int_equal(gw_staff_hash_password("pw", hash, sizeof(hash)), -1);
}

static void
test_password_max(void **state)
{
	char *pw = malloc(GW_PASSWORD_MAX + 2);
	char hash[crypto_pwhash_STRBYTES], raw[crypto_pwhash_STRBYTES];

	(void)state;
	assert_non_null(pw);
	memset(pw, 'p', GW_PASSWORD_MAX + 1);
	/* Exactly the maximum is fine. */
	pw[GW_PASSWORD_MAX] = '\0';
	assert_int_equal(gw_staff_hash_password(pw, hash, sizeof(hash)), 0);
	assert_int_equal(gw_staff_verify_password(hash, pw), 1);
	/* One more is refused by both, even when libsodium would agree. */
	pw[GW_PASSWORD_MAX] = 'p';
	pw[GW_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(gw_staff_hash_password(pw, hash, sizeof(hash)), -1);
	assert_int_equal(crypto_pwhash_str_alg(raw, pw, GW_PASSWORD_MAX + 1,
	                                       crypto_pwhash_OPSLIMIT_MIN,
	                                       crypto_pwhash_MEMLIMIT_MIN,
	                                       crypto_pwhash_ALG_ARGON2ID13),
	                 0);
	assert_int_equal(crypto_pwhash_str_verify(raw, pw, GW_PASSWORD_MAX + 1),
	                 0);
	assert_int_equal(gw_staff_verify_password(raw, pw), 0);
	free(pw);
}

static int
in_alphabet(char c)
{
	return c != '\0' && strchr(alphabet, c) != NULL;
}

static void
test_random_password_shape(void **state)
{
	char pw[64];
	size_t i;

	(void)state;
	memset(pw, '#', sizeof(pw));
	gw_staff_random_password(pw, 21);
	assert_int_equal(strlen(pw), 20);
	for (i = 0; i < 20; i++)
		assert_true(in_alphabet(pw[i]));
	assert_int_equal(pw[21], '#');

	memset(pw, '#', sizeof(pw));
	gw_staff_random_password(pw, sizeof(pw));
	assert_int_equal(strlen(pw), 20);
	for (i = 0; i < 20; i++)
		assert_true(in_alphabet(pw[i]));
}

static void
test_random_passwords_differ_and_cover_alphabet(void **state)
{
	char a[21], b[21];
	int seen[256] = {0}, i;
	size_t k;

	(void)state;
	gw_staff_random_password(a, sizeof(a));
	gw_staff_random_password(b, sizeof(b));
	assert_string_not_equal(a, b);
	/* 4000 draws over 57 symbols: each one shows up (p of a miss ~1e-30).
	 */
	for (i = 0; i < 200; i++) {
		gw_staff_random_password(a, sizeof(a));
		assert_int_equal(strlen(a), 20);
		for (k = 0; k < 20; k++) {
			assert_true(in_alphabet(a[k]));
			seen[(unsigned char)a[k]]++;
		}
	}
	for (k = 0; k < sizeof(alphabet) - 1; k++)
		assert_true(seen[(unsigned char)alphabet[k]] > 0);
	assert_int_equal(
	        seen['0'] + seen['O'] + seen['1'] + seen['l'] + seen['I'], 0);
}

static void
test_password_policy(void **state)
{
	static char big[GW_PASSWORD_MAX + 2];

	(void)state;
	assert_string_equal(gw_staff_password_problem("", NULL),
	                    "the password is empty");
	assert_non_null(gw_staff_password_problem("elevenchars", NULL));
	assert_null(gw_staff_password_problem("twelve chars", NULL));
	/* Characters, not bytes: eleven é are 22 bytes but 11 characters. */
	assert_non_null(
	        gw_staff_password_problem("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
	                                  "\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                                  "\xc3\xa9\xc3\xa9\xc3\xa9",
	                                  NULL));
	assert_string_equal(
	        gw_staff_password_problem("Long.Login-Name", "long.login-name"),
	        "the password must not be the login");
	assert_null(gw_staff_password_problem("Long.Login-Name", "other"));
	memset(big, 'x', GW_PASSWORD_MAX);
	big[GW_PASSWORD_MAX] = '\0';
	assert_null(gw_staff_password_problem(big, NULL));
	big[GW_PASSWORD_MAX] = 'x';
	big[GW_PASSWORD_MAX + 1] = '\0';
	assert_string_equal(gw_staff_password_problem(big, NULL),
	                    "the password is over 1024 bytes");
}

static void
test_login_and_name_rules(void **state)
{
	char login[GW_LOGIN_MAX + 2];

	(void)state;
	assert_null(gw_staff_login_problem("ann.example@council-1_x"));
	assert_non_null(gw_staff_login_problem(""));
	assert_non_null(gw_staff_login_problem("ann example"));
	assert_non_null(gw_staff_login_problem("ann\n"));
	assert_non_null(gw_staff_login_problem("\xc3\xa9"));
	memset(login, 'a', GW_LOGIN_MAX);
	login[GW_LOGIN_MAX] = '\0';
	assert_null(gw_staff_login_problem(login));
	login[GW_LOGIN_MAX] = 'a';
	login[GW_LOGIN_MAX + 1] = '\0';
	assert_non_null(gw_staff_login_problem(login));
	assert_null(gw_staff_name_problem("Ann \xc3\x89xample"));
	assert_non_null(gw_staff_name_problem(""));
	assert_non_null(gw_staff_name_problem("Ann\tExample"));
	assert_non_null(gw_staff_name_problem("Ann\x7f"));
}

static void
test_roles(void **state)
{
	static const char *const bad[] = {
	        "",
	        "Admin",
	        "admin ",
	        " advisor",
	        "root",
	        "advisors",
	        "supervisor\n",
	        "feedback-officer",
	        "staff",
	        "feedback",
	        "feedback_officer_",
	        "ADMIN",
	};
	size_t i;

	(void)state;
	assert_int_equal(gw_staff_role_valid("advisor"), 1);
	assert_int_equal(gw_staff_role_valid("supervisor"), 1);
	assert_int_equal(gw_staff_role_valid("feedback_officer"), 1);
	assert_int_equal(gw_staff_role_valid("admin"), 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gw_staff_role_valid(bad[i]))
			fail_msg("role \"%s\" accepted", bad[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hash_is_argon2id_phc),
	        cmocka_unit_test(test_hash_is_salted),
	        cmocka_unit_test(test_verify_right_and_wrong),
	        cmocka_unit_test(test_verify_malformed_hash),
	        cmocka_unit_test(test_hash_small_buffer_refused),
	        cmocka_unit_test(test_password_max),
	        cmocka_unit_test(test_random_password_shape),
	        cmocka_unit_test(
	                test_random_passwords_differ_and_cover_alphabet),
	        cmocka_unit_test(test_roles),
	        cmocka_unit_test(test_password_policy),
	        cmocka_unit_test(test_login_and_name_rules),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
