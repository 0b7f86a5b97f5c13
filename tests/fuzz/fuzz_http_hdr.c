/*
 * fuzz_http_hdr.c: libFuzzer harness for the request header parsers
 * (gateway/http/http_hdr.c). The whole input, as a C string, goes to each:
 * as a Content-Length value, as a Cookie header searched for the session
 * cookie, as an address, and as X-Forwarded-For with two trusted
 * proxies. What each gives back is checked against its contract: a
 * cookie value is a substring of the header and fits its buffer, an
 * address is canonical (normalising it again gives itself), a client is
 * never one of the trusted proxies unless every hop was one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
trusted(void *arg, const char *ip)
{
	(void)arg;
	return strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "2001:db8::1") == 0;
}

static void
check_address(const char *ip)
{
	char again[HTTP_HDR_IP_MAX];

	if (http_hdr_ip_normalize(ip, strlen(ip), again, sizeof(again)) != 0 ||
	    strcmp(again, ip) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[64], ip[HTTP_HDR_IP_MAX], tiny[2];
	unsigned long long n;
	int len;

	memcpy(s, data, size);
	s[size] = '\0';

	if (http_hdr_content_length(s, &n) == 0 && n > 999999999999999999ull)
		abort();

	len = http_hdr_cookie(s, "__Host-sb_session", out, sizeof(out));
	if (len >= 0 && ((size_t)len != strlen(out) ||
	                 len >= (int)sizeof(out) || strstr(s, out) == NULL))
		abort();
	if (len < 0 && out[0] != '\0')
		abort();
	len = http_hdr_cookie(s, "a", tiny, sizeof(tiny));
	if (len > 1)
		abort();

	if (http_hdr_ip_normalize(s, size, ip, sizeof(ip)) == 0)
		check_address(ip);
	else if (ip[0] != '\0')
		abort();

	if (http_hdr_forwarded_client(s, trusted, NULL, ip, sizeof(ip)) == 0)
		check_address(ip);
	else if (ip[0] != '\0')
		abort();
	/* Without trusted proxies: the right-most address, or nothing. */
	if (http_hdr_forwarded_client(s, NULL, NULL, ip, sizeof(ip)) == 0)
		check_address(ip);
	free(s);
	return 0;
}
