/*
 * http_hdr.c: request header values parsed from their text (see
 * http_hdr.h). Pure functions of their arguments; any thread.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "http_hdr.h"

#define CL_DIGITS_MAX 18 /* fits an unsigned long long with room */

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int
http_hdr_content_length(const char *value, unsigned long long *out)
{
	unsigned long long n = 0;
	const char *p = value;
	int digits = 0, rc = -1;

	if (value == NULL)
		goto out;
	while (is_ows(*p))
		p++;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (++digits > CL_DIGITS_MAX)
			goto out;
		n = n * 10 + (unsigned long long)(*p - '0');
	}
	while (is_ows(*p))
		p++;
	if (digits == 0 || *p != '\0')
		goto out;
	*out = n;
	rc = 0;
out:
	return rc;
}

/* s[0..len) without white space at either end. */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_ows(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_ows((*s)[*len - 1]))
		(*len)--;
}

int
http_hdr_cookie(const char *header, const char *name, char *out, size_t outlen)
{
	size_t nlen = name != NULL ? strlen(name) : 0;
	const char *p = header, *pair, *key, *eq, *v;
	size_t plen, klen, vlen;
	int rc = -1;

	if (outlen > 0)
		out[0] = '\0';
	if (header == NULL || nlen == 0 || outlen == 0)
		goto out;
	while (*p != '\0') {
		pair = p;
		plen = strcspn(p, ";");
		p += plen;
		if (*p == ';')
			p++;
		eq = memchr(pair, '=', plen);
		if (eq == NULL)
			continue; /* a pair without '=' is ignored (5.2) */
		key = pair;
		klen = (size_t)(eq - pair);
		trim(&key, &klen);
		if (klen != nlen || memcmp(key, name, nlen) != 0)
			continue;
		v = eq + 1;
		vlen = plen - (size_t)(v - pair);
		trim(&v, &vlen);
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		if (vlen >= outlen)
			continue;
		memcpy(out, v, vlen);
		out[vlen] = '\0';
		rc = (int)vlen;
		break;
	}
out:
	return rc;
}

/* 1 when s[0..n) is one or more decimal digits (a port). */
static int
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

int
http_hdr_ip_normalize(const char *in, size_t len, char *out, size_t outlen)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
	                                         0, 0, 0, 0, 0xff, 0xff};
	unsigned char bin[16];
	char text[HTTP_HDR_IP_MAX];
	const char *close, *colon;
	size_t inner;
	int rc = -1;

	if (outlen > 0)
		out[0] = '\0';
	if (in == NULL || len == 0 || len >= sizeof(text) + 8 || outlen == 0)
		goto out;
	if (in[0] == '[') {
		/* "[v6]" or "[v6]:port" */
		close = memchr(in, ']', len);
		if (close == NULL)
			goto out;
		inner = (size_t)(close - in) - 1;
		if (inner >= sizeof(text))
			goto out;
		if (inner + 2 != len &&
		    (close[1] != ':' ||
		     !all_digits(close + 2, len - inner - 3)))
			goto out;
		memcpy(text, in + 1, inner);
		text[inner] = '\0';
		if (inet_pton(AF_INET6, text, bin) != 1)
			goto out;
	} else {
		if (len >= sizeof(text))
			goto out;
		memcpy(text, in, len);
		text[len] = '\0';
		colon = strchr(text, ':');
		/* One colon: "v4:port"; more: IPv6. */
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			if (!all_digits(colon + 1, strlen(colon + 1)))
				goto out;
			text[colon - text] = '\0';
		}
		if (inet_pton(AF_INET, text, bin) == 1) {
			if (inet_ntop(AF_INET, bin, out, (socklen_t)outlen) ==
			    NULL)
				goto out;
			rc = 0;
			goto out;
		}
		if (inet_pton(AF_INET6, text, bin) != 1)
			goto out;
	}
	if (memcmp(bin, mapped, sizeof(mapped)) == 0) {
		if (inet_ntop(AF_INET, bin + 12, out, (socklen_t)outlen) ==
		    NULL)
			goto out;
	} else if (inet_ntop(AF_INET6, bin, out, (socklen_t)outlen) == NULL) {
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && outlen > 0)
		out[0] = '\0';
	return rc;
}

int
http_hdr_forwarded_client(const char *xff,
                          int (*trusted)(void *arg, const char *ip), void *arg,
                          char *out, size_t outlen)
{
	char ip[HTTP_HDR_IP_MAX];
	const char *end, *start, *s;
	size_t len;
	int rc = -1, any = 0;

	if (outlen > 0)
		out[0] = '\0';
	if (xff == NULL || outlen == 0)
		goto out;
	end = xff + strlen(xff);
	/* Right to left: each hop appended the address it saw. */
	while (end > xff) {
		start = end;
		while (start > xff && start[-1] != ',')
			start--;
		s = start;
		len = (size_t)(end - start);
		end = start > xff ? start - 1 : xff;
		trim(&s, &len);
		if (len == 0)
			continue; /* "a,,b": empty elements (RFC 9110 5.6.1) */
		if (http_hdr_ip_normalize(s, len, ip, sizeof(ip)) != 0) {
			/* Not an address: nothing left of it can be trusted. */
			any = 0;
			break;
		}
		any = 1;
		if (snprintf(out, outlen, "%s", ip) >= (int)outlen) {
			any = 0;
			break;
		}
		if (trusted == NULL || !trusted(arg, ip))
			break;
	}
	if (any)
		rc = 0;
out:
	if (rc != 0 && outlen > 0)
		out[0] = '\0';
	return rc;
}
