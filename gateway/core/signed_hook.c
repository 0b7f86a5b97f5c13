/*
 * signed_hook.c: our signed-webhook scheme (signed_hook.h). Pure; any
 * thread. HMAC-SHA256 is libsodium's, which takes a key of any length.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "signed_hook.h"

#define MAC_BYTES     crypto_auth_hmacsha256_BYTES /* 32 */
#define PREFIX        "sha256="
#define PREFIX_LEN    7
#define TS_DIGITS_MAX 19 /* 2^63 has 19: larger values are refused too */

/* The signature header's values, decoded. */
struct sigs {
	unsigned char mac[SIGNED_HOOK_VALUES_MAX][MAC_BYTES];
	size_t n;
};

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* s with its OWS stripped: *start, *len. */
static void
trim(const char *s, size_t n, const char **start, size_t *len)
{
	while (n > 0 && is_ows(*s)) {
		s++;
		n--;
	}
	while (n > 0 && is_ows(s[n - 1]))
		n--;
	*start = s;
	*len = n;
}

/* 1..19 digits, no leading zero (but "0"), OWS around: 0 or -1. */
static int
parse_timestamp(const char *s, int64_t *out)
{
	const char *p;
	size_t n, i;
	int64_t v = 0;

	trim(s, strlen(s), &p, &n);
	if (n == 0 || n > TS_DIGITS_MAX || (n > 1 && p[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9' ||
		    v > (INT64_MAX - (p[i] - '0')) / 10)
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * One value of the list (trimmed, n bytes): 1 and the MAC in mac for a
 * sha256 value, 0 for another scheme's, -1 when malformed.
 */
static int
parse_value(const char *p, size_t n, unsigned char *mac)
{
	const char *eq = memchr(p, '=', n), *end = NULL;
	size_t got = 0;

	if (n == 0 || eq == NULL || eq == p)
		return -1;
	if ((size_t)(eq - p) != PREFIX_LEN - 1 ||
	    memcmp(p, PREFIX, PREFIX_LEN) != 0)
		return 0;
	if (n != PREFIX_LEN + 2 * MAC_BYTES)
		return -1;
	/* Every character a hex digit: no ignored ones, nothing left over. */
	if (sodium_hex2bin(mac, MAC_BYTES, p + PREFIX_LEN, 2 * MAC_BYTES, NULL,
	                   &got, &end) != 0 ||
	    got != MAC_BYTES || end != p + n)
		return -1;
	return 1;
}

/* The header's sha256 values into sg: 0, or -1 when malformed. */
static int
parse_signature(const char *s, struct sigs *sg)
{
	size_t n = strlen(s), vlen, values = 0;
	const char *p = s, *end = s + n, *comma, *v;
	unsigned char mac[MAC_BYTES];
	int r;

	sg->n = 0;
	if (n > SIGNED_HOOK_HEADER_MAX)
		return -1;
	while (p <= end) {
		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL)
			comma = end;
		if (++values > SIGNED_HOOK_VALUES_MAX)
			return -1;
		trim(p, (size_t)(comma - p), &v, &vlen);
		r = parse_value(v, vlen, mac);
		if (r < 0)
			return -1;
		if (r == 1) {
			memcpy(sg->mac[sg->n], mac, MAC_BYTES);
			sg->n++;
		}
		p = comma + 1;
	}
	return sg->n > 0 ? 0 : -1;
}

static void
mac_of(unsigned char *out, const struct signed_hook_key *k, const char *ts,
       size_t tslen, const void *body, size_t len)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, k->key, k->len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, tslen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	if (len > 0)
		crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

enum signed_hook_result
signed_hook_verify(const char *timestamp, const char *signature,
                   const void *body, size_t len,
                   const struct signed_hook_key *keys, size_t nkeys,
                   int64_t now)
{
	struct sigs sg;
	unsigned char mac[MAC_BYTES];
	const char *ts, *sig;
	size_t tslen, siglen, i, j;
	int64_t t;
	int match = 0;

	if (timestamp == NULL || signature == NULL)
		return SIGNED_HOOK_MISSING;
	trim(timestamp, strlen(timestamp), &ts, &tslen);
	trim(signature, strlen(signature), &sig, &siglen);
	if (tslen == 0 || siglen == 0)
		return SIGNED_HOOK_MISSING;
	if (parse_timestamp(timestamp, &t) < 0 ||
	    parse_signature(signature, &sg) < 0)
		return SIGNED_HOOK_MALFORMED;
	if (t > now + SIGNED_HOOK_SKEW || t < now - SIGNED_HOOK_SKEW)
		return SIGNED_HOOK_STALE;
	if (nkeys > SIGNED_HOOK_KEYS_MAX)
		nkeys = SIGNED_HOOK_KEYS_MAX;
	/* Every secret against every value: no early exit. */
	for (i = 0; i < nkeys; i++) {
		if (keys[i].key == NULL || keys[i].len == 0)
			continue;
		mac_of(mac, &keys[i], ts, tslen, body, len);
		for (j = 0; j < sg.n; j++)
			match |= sodium_memcmp(mac, sg.mac[j], MAC_BYTES) == 0;
	}
	sodium_memzero(mac, sizeof(mac));
	return match ? SIGNED_HOOK_OK : SIGNED_HOOK_MISMATCH;
}

const char *
signed_hook_reason(enum signed_hook_result r)
{
	static const char *const names[] = {
	        [SIGNED_HOOK_OK] = "ok",
	        [SIGNED_HOOK_MISSING] = "missing",
	        [SIGNED_HOOK_MALFORMED] = "malformed",
	        [SIGNED_HOOK_STALE] = "stale",
	        [SIGNED_HOOK_MISMATCH] = "mismatch",
	};

	if ((unsigned)r >= sizeof(names) / sizeof(names[0]))
		return "";
	return names[r];
}

int
signed_hook_sign(char *out, size_t size, const struct signed_hook_key *k,
                 int64_t timestamp, const void *body, size_t len)
{
	unsigned char mac[MAC_BYTES];
	char ts[24];
	int n;

	if (size < SIGNED_HOOK_SIG_SIZE || timestamp < 0)
		return -1;
	n = snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
	if (n < 0 || (size_t)n >= sizeof(ts))
		return -1;
	mac_of(mac, k, ts, (size_t)n, body, len);
	memcpy(out, PREFIX, PREFIX_LEN);
	sodium_bin2hex(out + PREFIX_LEN, size - PREFIX_LEN, mac, MAC_BYTES);
	sodium_memzero(mac, sizeof(mac));
	return 0;
}
