/*
 * identity.c: normalising and matching the identities of a contact. See
 * identity.h. Pure; any thread. Only ASCII is looked at through <ctype.h>
 * casts of unsigned char; nothing depends on the locale.
 */
#include <string.h>

#include "identity.h"

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * The input without surrounding white space: *start and *n. -1 when it is
 * longer than IDENTITY_INPUT_MAX (never scanned past that).
 */
static int
trimmed(const char *in, const char **start, size_t *n)
{
	size_t len = strnlen(in, IDENTITY_INPUT_MAX + 1);

	if (len > IDENTITY_INPUT_MAX)
		return -1;
	while (len > 0 && is_space(*in)) {
		in++;
		len--;
	}
	while (len > 0 && is_space(in[len - 1]))
		len--;
	*start = in;
	*n = len;
	return 0;
}

/* Copies n bytes and a NUL; -1 when out is too small. */
static int
put(char *out, size_t len, const char *s, size_t n)
{
	if (out == NULL || n + 1 > len)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* ------------------------------------------------------------ email */

/* RFC 5322 atext: what a dot-atom's atoms are made of. */
static int
is_atext(char c)
{
	return is_alpha(c) || is_digit(c) ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static const char *
email_local(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return "the address has nothing before the @";
	if (n > IDENTITY_EMAIL_LOCAL_MAX)
		return "the part before the @ is longer than 64 characters";
	if (s[0] == '"')
		return "a quoted address is not accepted";
	if (s[0] == '.' || s[n - 1] == '.')
		return "the part before the @ starts or ends with a dot";
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return "the address has two dots in a row";
		} else if (!is_atext(s[i])) {
			return "the part before the @ has a character an "
			       "address cannot have";
		}
	}
	return NULL;
}

static const char *
email_domain(const char *s, size_t n)
{
	size_t i, label = 0, labels = 0, last = 0;
	int digits_only = 1;

	if (n == 0)
		return "the address has no domain after the @";
	if (s[0] == '[')
		return "an address with an IP address for its domain is not "
		       "accepted";
	if (s[n - 1] == '.')
		return "the domain ends with a dot";
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0)
				return "the domain has an empty part";
			if (s[i - 1] == '-' || s[i - label] == '-')
				return "a part of the domain starts or ends "
				       "with a hyphen";
			labels++;
			last = i - label;
			label = 0;
			continue;
		}
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
			return "the domain has a character a domain cannot "
			       "have";
		if (++label > 63)
			return "a part of the domain is longer than 63 "
			       "characters";
	}
	if (labels < 2)
		return "the domain has no dot (example.org)";
	for (i = last; i < n; i++)
		if (!is_digit(s[i]))
			digits_only = 0;
	if (digits_only || n - last < 2)
		return "the domain does not end with a top-level domain";
	return NULL;
}

int
identity_email(const char *in, char *out, size_t len, const char **why)
{
	const char *s, *at, *err = NULL;
	size_t n, i;
	int rc = -1;

	if (in == NULL || trimmed(in, &s, &n) != 0) {
		err = "the address is too long";
		goto out;
	}
	if (n == 0) {
		err = "the address is empty";
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] >= 0x80) {
			err = "an address with letters outside ASCII is not "
			      "accepted yet";
			goto out;
		}
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) {
			err = "the address has a space or a control character";
			goto out;
		}
	}
	if (n > IDENTITY_EMAIL_MAX) {
		err = "the address is longer than 254 characters";
		goto out;
	}
	at = memchr(s, '@', n);
	if (at == NULL) {
		err = "the address has no @";
		goto out;
	}
	if (memchr(at + 1, '@', n - (size_t)(at - s) - 1) != NULL) {
		err = "the address has more than one @";
		goto out;
	}
	err = email_local(s, (size_t)(at - s));
	if (err == NULL)
		err = email_domain(at + 1, n - (size_t)(at - s) - 1);
	if (err != NULL)
		goto out;
	if (put(out, len, s, n) != 0) {
		err = "no room for the address";
		goto out;
	}
	for (i = 0; i < n; i++)
		out[i] = lower(out[i]);
	rc = 0;
out:
	if (rc != 0 && why != NULL)
		*why = err;
	return rc;
}

/* ------------------------------------------------------------ phone */

/*
 * A UK number after the country code (the national significant number):
 * 9 or 10 digits, by its first digit. NULL when it is one.
 */
static const char *
uk_nsn(const char *d, size_t n)
{
	switch (d[0]) {
	case '2':
	case '3':
	case '7':
		if (n != 10)
			return n < 10 ? "too few digits for a UK number"
			              : "too many digits for a UK number";
		return NULL;
	case '1':
	case '5':
	case '8':
	case '9':
		if (n < 9)
			return "too few digits for a UK number";
		if (n > 10)
			return "too many digits for a UK number";
		return NULL;
	case '0':
		return "a UK number has one 0 at its start, not two";
	default:
		return "no UK number starts with 04 or 06";
	}
}

/*
 * The digits, an optional leading '+' (*plus), with separators dropped
 * and a bracketed trunk 0 ("+44 (0)20") dropped where a country code came
 * before it. NULL when it is written as a phone number.
 */
static const char *
phone_digits(const char *s, size_t n, char *digits, size_t cap, size_t *nd,
             int *plus)
{
	size_t i, k = 0;

	*plus = 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			if (k > 0 || *plus)
				return "a + may only start the number";
			*plus = 1;
		} else if (c == '(' && i + 2 < n && s[i + 1] == '0' &&
		           s[i + 2] == ')' &&
		           ((*plus && k > 0) ||
		            (k > 2 && digits[0] == '0' && digits[1] == '0'))) {
			i += 2; /* a trunk 0, not dialled from abroad */
		} else if (is_digit(c)) {
			if (k + 1 >= cap)
				return "too many digits for a phone number";
			digits[k++] = c;
		} else if (c != ' ' && c != '-' && c != '.' && c != '(' &&
		           c != ')') {
			return "a phone number has only digits, spaces, "
			       "brackets, - and an opening +";
		}
	}
	digits[k] = '\0';
	*nd = k;
	return NULL;
}

/* "+44" and a UK number (its national significant number, d). */
static const char *
uk(const char *d, size_t n, char *e164, size_t cap)
{
	const char *err;

	if (n == 0)
		return "too few digits for a UK number";
	err = uk_nsn(d, n);
	if (err != NULL)
		return err;
	if (n + 4 > cap)
		return "no room for the number";
	memcpy(e164, "+44", 3);
	memcpy(e164 + 3, d, n);
	e164[n + 3] = '\0';
	return NULL;
}

/* +CC...: d holds the digits after the '+' or the 00. */
static const char *
intl(const char *d, size_t n, char *e164, size_t cap)
{
	if (n == 0)
		return "no digits after the international prefix";
	if (d[0] == '0')
		return "no country code starts with 0";
	if (n >= 2 && d[0] == '4' && d[1] == '4') {
		/* "+44 07700 ...": the trunk 0 is never dialled after 44. */
		if (n > 2 && d[2] == '0')
			return uk(d + 3, n - 3, e164, cap);
		return uk(d + 2, n - 2, e164, cap);
	}
	if (n < 7)
		return "too few digits for an international number";
	if (n > 15)
		return "too many digits for a phone number";
	if (n + 2 > cap)
		return "no room for the number";
	e164[0] = '+';
	memcpy(e164 + 1, d, n);
	e164[n + 1] = '\0';
	return NULL;
}

int
identity_phone(const char *in, unsigned flags, char *out, size_t len,
               const char **why)
{
	char digits[24], e164[IDENTITY_PHONE_LEN];
	const char *s, *err = NULL;
	size_t n, nd;
	int plus, rc = -1;

	if (in == NULL || trimmed(in, &s, &n) != 0 || n > 64) {
		err = "too long for a phone number";
		goto out;
	}
	err = phone_digits(s, n, digits, sizeof(digits), &nd, &plus);
	if (err != NULL)
		goto out;
	if (nd == 0) {
		err = "no digits in the phone number";
		goto out;
	}
	if (plus)
		err = intl(digits, nd, e164, sizeof(e164));
	else if (nd >= 2 && digits[0] == '0' && digits[1] == '0')
		err = intl(digits + 2, nd - 2, e164, sizeof(e164));
	else if (digits[0] == '0')
		err = uk(digits + 1, nd - 1, e164, sizeof(e164));
	else if ((flags & IDENTITY_PHONE_BARE_INTL) ||
	         (nd >= 2 && digits[0] == '4' && digits[1] == '4'))
		err = intl(digits, nd, e164, sizeof(e164));
	else
		err = "no country code: start with +, 00 or 0";
	if (err != NULL)
		goto out;
	if (put(out, len, e164, strlen(e164)) != 0) {
		err = "no room for the number";
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && why != NULL)
		*why = err;
	return rc;
}

int
identity_phone_uk_mobile(const char *e164)
{
	size_t i;

	if (e164 == NULL || strnlen(e164, 14) != 13 ||
	    strncmp(e164, "+447", 4) != 0)
		return 0;
	for (i = 1; i < 13; i++)
		if (!is_digit(e164[i]))
			return 0;
	if (e164[4] == '0')
		return 0; /* 070: personal numbers */
	if (e164[4] == '6')
		return strncmp(e164 + 4, "624", 3) == 0; /* 076: pagers */
	return 1;
}

/* A table entry: phone numbers as people and most providers write them. */
static int
phone_any(const char *in, char *out, size_t len, const char **why)
{
	return identity_phone(in, 0, out, len, why);
}

/* ------------------------------------------------------- chat, uprn */

int
identity_chat(const char *in, char *out, size_t len, const char **why)
{
	size_t n, i;
	const char *err = NULL;
	int rc = -1;

	n = in != NULL ? strnlen(in, IDENTITY_CHAT_MAX + 1) : 0;
	if (n == 0 || n > IDENTITY_CHAT_MAX) {
		err = "a chat token is 1 to 200 characters";
		goto out;
	}
	for (i = 0; i < n; i++)
		if (in[i] < '!' || in[i] > '~') {
			err = "a chat token is printable ASCII with no spaces";
			goto out;
		}
	if (put(out, len, in, n) != 0) {
		err = "no room for the token";
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && why != NULL)
		*why = err;
	return rc;
}

int
identity_uprn(const char *in, char *out, size_t len, const char **why)
{
	const char *s, *err = NULL;
	size_t n, i;
	int rc = -1;

	if (in == NULL || trimmed(in, &s, &n) != 0 || n > 64) {
		err = "too long for a UPRN";
		goto out;
	}
	for (i = 0; i < n; i++)
		if (!is_digit(s[i])) {
			err = "a UPRN has only digits";
			goto out;
		}
	if (n == 0) {
		err = "the UPRN is empty";
		goto out;
	}
	while (n > 1 && s[0] == '0') {
		s++;
		n--;
	}
	if (s[0] == '0') {
		err = "a UPRN is not zero";
		goto out;
	}
	if (n > IDENTITY_UPRN_MAX) {
		err = "a UPRN has at most 12 digits";
		goto out;
	}
	if (put(out, len, s, n) != 0) {
		err = "no room for the UPRN";
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && why != NULL)
		*why = err;
	return rc;
}

/* ------------------------------------------------------------ table */

const struct identity_kind_def identity_kinds[IDENTITY_KINDS] = {
        {IDENTITY_EMAIL, "email", IDENTITY_EMAIL_MAX, identity_email},
        {IDENTITY_PHONE, "phone", IDENTITY_PHONE_LEN - 1, phone_any},
        {IDENTITY_CHAT, "chat", IDENTITY_CHAT_MAX, identity_chat},
        {IDENTITY_UPRN, "uprn", IDENTITY_UPRN_MAX, identity_uprn},
};

const struct identity_kind_def *
identity_kind_find(const char *name)
{
	const struct identity_kind_def *d = NULL;
	size_t i;

	for (i = 0; name != NULL && i < IDENTITY_KINDS && d == NULL; i++)
		if (strcmp(identity_kinds[i].name, name) == 0)
			d = &identity_kinds[i];
	return d;
}

const char *
identity_kind_name(enum identity_kind kind)
{
	return (unsigned)kind < IDENTITY_KINDS ? identity_kinds[kind].name : "";
}

int
identity_normalise(enum identity_kind kind, const char *in, char *out,
                   size_t len, const char **why)
{
	if ((unsigned)kind >= IDENTITY_KINDS) {
		if (why != NULL)
			*why = "no such kind of identity";
		return -1;
	}
	return identity_kinds[kind].normalise(in, out, len, why);
}

int
identity_parse(const char *kind, const char *in, struct identity *out,
               const char **why)
{
	const struct identity_kind_def *d = identity_kind_find(kind);

	if (d == NULL) {
		if (why != NULL)
			*why = "no such kind of identity";
		return -1;
	}
	out->kind = d->kind;
	return d->normalise(in, out->value, sizeof(out->value), why);
}

int
identity_match(enum identity_kind kind, const char *a, const char *b)
{
	char x[IDENTITY_VALUE_MAX + 1], y[IDENTITY_VALUE_MAX + 1];

	return identity_normalise(kind, a, x, sizeof(x), NULL) == 0 &&
	       identity_normalise(kind, b, y, sizeof(y), NULL) == 0 &&
	       strcmp(x, y) == 0;
}
