/*
 * sms_sig.c: providers' webhook signatures (sms_sig.h). Pure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sms_sig.h"
#include "xmalloc.h"

#define SIG_LEN 28 /* Base64 of a SHA-1 HMAC */
#define URL_MAX 4096

struct param {
	char *name, *value;
	size_t nlen, vlen;
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* s[0..n) URL-decoded ('+' a space; a bad %XX kept as it is) into a new
 * buffer; *out_len its length. */
static char *
url_decode(const char *s, size_t n, size_t *out_len)
{
	char *o = xmalloc(n + 1);
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			o[k++] = ' ';
		} else if (s[i] == '%' && i + 2 < n &&
		           hexval((unsigned char)s[i + 1]) >= 0 &&
		           hexval((unsigned char)s[i + 2]) >= 0) {
			o[k++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
			                hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			o[k++] = s[i];
		}
	}
	o[k] = '\0';
	*out_len = k;
	return o;
}

static int
bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

static int
param_cmp(const void *x, const void *y)
{
	const struct param *a = x, *b = y;
	int c = bytes_cmp(a->name, a->nlen, b->name, b->nlen);

	return c != 0 ? c : bytes_cmp(a->value, a->vlen, b->value, b->vlen);
}

/* The form body's parameters, decoded; -1 when there are too many. */
static int
form_params(const char *body, size_t len, struct param *p, size_t *n)
{
	size_t i = 0, start, eq;

	*n = 0;
	while (i < len) {
		start = i;
		while (i < len && body[i] != '&')
			i++;
		if (i > start) {
			if (*n == SMS_SIG_PARAMS_MAX)
				return -1;
			for (eq = start; eq < i && body[eq] != '='; eq++)
				;
			p[*n].name = url_decode(body + start, eq - start,
			                        &p[*n].nlen);
			p[*n].value =
			        eq < i ? url_decode(body + eq + 1, i - eq - 1,
			                            &p[*n].vlen)
			               : url_decode("", 0, &p[*n].vlen);
			(*n)++;
		}
		i++;
	}
	return 0;
}

static void
params_free(struct param *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
}

/* Base64(HMAC-SHA1(token, url + params)) into out (SIG_LEN + 1). */
static void
sign(const char *token, const char *url, const struct param *p, size_t n,
     char out[SIG_LEN + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t i, len = strlen(url), k;
	char *msg;

	for (i = 0; i < n; i++)
		len += p[i].nlen + p[i].vlen;
	msg = xmalloc(len + 1);
	k = strlen(url);
	memcpy(msg, url, k);
	for (i = 0; i < n; i++) {
		memcpy(msg + k, p[i].name, p[i].nlen);
		k += p[i].nlen;
		memcpy(msg + k, p[i].value, p[i].vlen);
		k += p[i].vlen;
	}
	HMAC(EVP_sha1(), token, (int)strlen(token), (unsigned char *)msg, k,
	     mac, &maclen);
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	out[SIG_LEN] = '\0';
	free(msg);
}

/*
 * url as Twilio may have signed it: [0] as given, [1] without its port,
 * or with the scheme's default port when it has none. 0 when url is not
 * http(s)://host...; else how many (1 or 2).
 */
static int
url_variants(const char *url, char v[2][URL_MAX])
{
	const char *host, *end, *colon;
	int https;

	if (strlen(url) >= URL_MAX - 8)
		return 0;
	snprintf(v[0], URL_MAX, "%s", url);
	https = strncasecmp(url, "https://", 8) == 0;
	if (!https && strncasecmp(url, "http://", 7) != 0)
		return 1;
	host = url + (https ? 8 : 7);
	end = host + strcspn(host, "/?#");
	colon = memchr(host, ':', (size_t)(end - host));
	if (colon != NULL && host[0] != '[')
		snprintf(v[1], URL_MAX, "%.*s%s", (int)(colon - url), url, end);
	else if (host[0] != '[')
		snprintf(v[1], URL_MAX, "%.*s:%s%s", (int)(end - url), url,
		         https ? "443" : "80", end);
	else
		return 1;
	return 2;
}

/* header against the signatures of url's variants, in constant time. */
static int
check(const char *token, const char *url, const struct param *p, size_t n,
      const char *header)
{
	char v[2][URL_MAX], sig[SIG_LEN + 1];
	int nv, i, ok = 0;

	if (token == NULL || token[0] == '\0' || header == NULL ||
	    strlen(header) != SIG_LEN)
		return 0;
	nv = url_variants(url, v);
	for (i = 0; i < nv; i++) {
		sign(token, v[i], p, n, sig);
		ok |= CRYPTO_memcmp(sig, header, SIG_LEN) == 0;
	}
	return ok;
}

int
sms_sig_twilio_form(const char *token, const char *url, const char *body,
                    size_t len, const char *header)
{
	struct param *p = xcalloc(SMS_SIG_PARAMS_MAX, sizeof(*p));
	size_t n = 0;
	int ok = 0;

	if (url != NULL && form_params(body, len, p, &n) == 0) {
		qsort(p, n, sizeof(*p), param_cmp);
		ok = check(token, url, p, n, header);
	}
	params_free(p, n);
	free(p);
	return ok;
}

/* The bodySHA256 value of url's query (lower-cased, 64 hex), or 0. */
static int
body_hash_of(const char *url, char out[65])
{
	const char *q = url != NULL ? strchr(url, '?') : NULL, *s;
	size_t i;

	for (s = q; s != NULL; s = strchr(s + 1, '&')) {
		if (strncmp(s + 1, "bodySHA256=", 11) != 0)
			continue;
		s += 12;
		for (i = 0; i < 64; i++) {
			if (hexval((unsigned char)s[i]) < 0)
				return 0;
			out[i] = (char)(s[i] >= 'A' && s[i] <= 'F'
			                        ? s[i] - 'A' + 'a'
			                        : s[i]);
		}
		out[64] = '\0';
		return s[64] == '\0' || s[64] == '&' || s[64] == '#';
	}
	return 0;
}

int
sms_sig_twilio_json(const char *token, const char *url, const char *body,
                    size_t len, const char *header)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[SHA256_DIGEST_LENGTH];
	char want[65], got[65];
	size_t i;
	int ok;

	if (!body_hash_of(url, want))
		return 0;
	SHA256((const unsigned char *)body, len, h);
	for (i = 0; i < sizeof(h); i++) {
		got[2 * i] = hex[h[i] >> 4];
		got[2 * i + 1] = hex[h[i] & 15];
	}
	got[64] = '\0';
	ok = CRYPTO_memcmp(want, got, 64) == 0;
	return check(token, url, NULL, 0, header) && ok;
}

int
sms_sig_bearer(const char *authorization, const char *const *tokens, size_t n)
{
	const char *t;
	size_t i, len;
	int ok = 0;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7))
		return 0;
	t = authorization + 7;
	len = strlen(t);
	for (i = 0; i < n; i++)
		if (tokens[i] != NULL && tokens[i][0] != '\0' &&
		    strlen(tokens[i]) == len)
			ok |= CRYPTO_memcmp(t, tokens[i], len) == 0;
	return ok;
}
