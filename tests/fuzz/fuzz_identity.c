/*
 * fuzz_identity.c: libFuzzer harness for gateway/core/identity.c. The
 * first byte of an input picks the kind (and the phone flag), the rest is
 * the value as typed (cut at its first NUL, as a C string would be). An
 * accepted value must be what customer_identities' checks accept, must
 * normalise to itself again, must match its input, and must be refused by
 * an output buffer one byte too small; a refused one must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* customer_identities_phone_e164: '+', then 7 to 15 digits, not 0 first. */
static void
check_phone(const char *s)
{
	size_t n = strlen(s);

	check(n >= 8 && n <= 16 && s[0] == '+' && s[1] != '0' &&
	      digits(s + 1, n - 1));
	if (strncmp(s, "+44", 3) == 0)
		check(n == 12 || n == 13);
	if (identity_phone_uk_mobile(s))
		check(n == 13 && strncmp(s, "+447", 4) == 0);
}

/* customer_identities_email_lower, and RFC 5321's lengths. */
static void
check_email(const char *s)
{
	const char *at = strchr(s, '@');
	size_t i, n = strlen(s);

	check(at != NULL && at > s && strchr(at + 1, '@') == NULL);
	check(n <= IDENTITY_EMAIL_MAX && (size_t)(at - s) <= 64);
	check(strchr(at + 1, '.') != NULL && s[n - 1] != '.');
	for (i = 0; i < n; i++)
		check(s[i] > ' ' && s[i] < 0x7f &&
		      !(s[i] >= 'A' && s[i] <= 'Z'));
}

static void
check_value(enum identity_kind kind, const char *s)
{
	size_t n = strlen(s);

	check(n >= 1 && n <= identity_kinds[kind].max);
	switch (kind) {
	case IDENTITY_EMAIL:
		check_email(s);
		break;
	case IDENTITY_PHONE:
		check_phone(s);
		break;
	case IDENTITY_CHAT:
		for (size_t i = 0; i < n; i++)
			check(s[i] >= '!' && s[i] <= '~');
		break;
	case IDENTITY_UPRN:
		check(n <= 12 && s[0] != '0' && digits(s, n));
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[IDENTITY_INPUT_MAX + 64], out[IDENTITY_VALUE_MAX + 1];
	char again[IDENTITY_VALUE_MAX + 1];
	enum identity_kind kind;
	const char *why = NULL;
	unsigned flags;
	size_t n;
	int rc;

	if (size == 0)
		return 0;
	kind = (enum identity_kind)(data[0] % IDENTITY_KINDS);
	flags = (data[0] & 0x80) ? IDENTITY_PHONE_BARE_INTL : 0;
	n = size - 1 < sizeof(in) - 1 ? size - 1 : sizeof(in) - 1;
	memcpy(in, data + 1, n);
	in[n] = '\0';

	memset(out, 0xa5, sizeof(out));
	rc = kind == IDENTITY_PHONE
	             ? identity_phone(in, flags, out, sizeof(out), &why)
	             : identity_normalise(kind, in, out, sizeof(out), &why);
	if (rc != 0) {
		check(rc == -1 && why != NULL && why[0] != '\0');
		return 0;
	}
	check_value(kind, out);
	/* Normalised once is normalised. */
	check(identity_normalise(kind, out, again, sizeof(again), &why) == 0);
	check(strcmp(out, again) == 0);
	if (kind != IDENTITY_PHONE || flags == 0)
		check(identity_match(kind, in, out));
	/* A buffer one byte too small is refused, one that fits is not. */
	n = strlen(out);
	check(identity_normalise(kind, out, again, n, &why) == -1);
	check(identity_normalise(kind, out, again, n + 1, &why) == 0);
	return 0;
}
