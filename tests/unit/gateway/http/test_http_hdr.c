/*
 * test_http_hdr.c: the header parsers of http_hdr.c case by case,
 * hostile ones included: Content-Length values, the session cookie among
 * many others (before, after, quoted, repeated, too long), and the client
 * address behind trusted proxies (spoofed entries on the left, ports,
 * brackets, IPv4-mapped IPv6, garbage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_hdr.h"

#define NAME "__Host-sb_session"

static void
test_content_length(void **st)
{
	unsigned long long n = 7;

	(void)st;
	assert_int_equal(http_hdr_content_length("0", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(http_hdr_content_length(" 1048576\t", &n), 0);
	assert_int_equal(n, 1048576);
	assert_int_equal(http_hdr_content_length("999999999999999999", &n), 0);
	assert_true(n == 999999999999999999ull);
	n = 7;
	assert_int_equal(http_hdr_content_length("", &n), -1);
	assert_int_equal(http_hdr_content_length(" ", &n), -1);
	assert_int_equal(http_hdr_content_length("-1", &n), -1);
	assert_int_equal(http_hdr_content_length("+1", &n), -1);
	assert_int_equal(http_hdr_content_length("1,1", &n), -1);
	assert_int_equal(http_hdr_content_length("1 1", &n), -1);
	assert_int_equal(http_hdr_content_length("0x10", &n), -1);
	assert_int_equal(http_hdr_content_length("12abc", &n), -1);
	assert_int_equal(http_hdr_content_length("1e3", &n), -1);
	assert_int_equal(http_hdr_content_length("9999999999999999999", &n),
	                 -1);
	assert_int_equal(http_hdr_content_length(NULL, &n), -1);
	assert_int_equal(n, 7);
}

static char *
filler(size_t bytes, const char *prefix)
{
	char *s = malloc(bytes + 64);
	size_t len = 0;
	int i = 0;

	for (; len < bytes; i++)
		len += (size_t)snprintf(s + len, bytes + 64 - len,
		                        "%s%s%d=%040d", len ? "; " : "", prefix,
		                        i, i);
	return s;
}

static void
test_cookie(void **st)
{
	char out[64], hdr[32768];
	char *a = filler(7168, "a"), *b = filler(7168, "b");

	(void)st;
	assert_int_equal(http_hdr_cookie(NAME "=abc", NAME, out, sizeof(out)),
	                 3);
	assert_string_equal(out, "abc");
	/* 7 KiB of other cookies before and after. */
	snprintf(hdr, sizeof(hdr), "%s; " NAME "=tok_en-1; %s", a, b);
	assert_int_equal(http_hdr_cookie(hdr, NAME, out, sizeof(out)), 8);
	assert_string_equal(out, "tok_en-1");
	snprintf(hdr, sizeof(hdr), "%s;" NAME "=xyz", a);
	assert_int_equal(http_hdr_cookie(hdr, NAME, out, sizeof(out)), 3);
	/* White space around pairs, names and values; quotes. */
	assert_int_equal(http_hdr_cookie("x=1 ;\t " NAME " = \"q\" ; y=2", NAME,
	                                 out, sizeof(out)),
	                 1);
	assert_string_equal(out, "q");
	/* A longer name that ends or starts with ours is not ours. */
	assert_int_equal(http_hdr_cookie("x" NAME "=1; " NAME "x=2", NAME, out,
	                                 sizeof(out)),
	                 -1);
	assert_string_equal(out, "");
	/* Its text inside another cookie's value is not ours either. */
	assert_int_equal(
	        http_hdr_cookie("x=" NAME "=evil", NAME, out, sizeof(out)), -1);
	assert_int_equal(
	        http_hdr_cookie("x=a " NAME "=evil", NAME, out, sizeof(out)),
	        -1);
	/* Names are case-sensitive. */
	assert_int_equal(
	        http_hdr_cookie("__host-sb_session=1", NAME, out, sizeof(out)),
	        -1);
	/* The first that fits; one too long is passed over. */
	memset(hdr, 'z', 200);
	memcpy(hdr, NAME "=", strlen(NAME "="));
	snprintf(hdr + 200, sizeof(hdr) - 200, "; " NAME "=ok; " NAME "=no");
	assert_int_equal(http_hdr_cookie(hdr, NAME, out, sizeof(out)), 2);
	assert_string_equal(out, "ok");
	/* Empty values, pairs without '=', stray separators. */
	assert_int_equal(
	        http_hdr_cookie(";;" NAME "=;", NAME, out, sizeof(out)), 0);
	assert_int_equal(
	        http_hdr_cookie("flag; ; =; " NAME, NAME, out, sizeof(out)),
	        -1);
	assert_int_equal(http_hdr_cookie("", NAME, out, sizeof(out)), -1);
	assert_int_equal(http_hdr_cookie(NULL, NAME, out, sizeof(out)), -1);
	assert_int_equal(http_hdr_cookie("a=b", "", out, sizeof(out)), -1);
	assert_int_equal(http_hdr_cookie(NAME "=\"", NAME, out, sizeof(out)),
	                 1);
	assert_string_equal(out, "\"");
	free(a);
	free(b);
}

static void
test_ip_normalize(void **st)
{
	char out[HTTP_HDR_IP_MAX];
	static const char *const ok[][2] = {
	        {"192.0.2.1", "192.0.2.1"},
	        {"192.0.2.1:8080", "192.0.2.1"},
	        {"2001:db8::1", "2001:db8::1"},
	        {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
	        {"[2001:db8::1]", "2001:db8::1"},
	        {"[2001:db8::1]:443", "2001:db8::1"},
	        {"::ffff:192.0.2.7", "192.0.2.7"},
	        {"[::ffff:192.0.2.7]:1", "192.0.2.7"},
	        {"::1", "::1"},
	};
	static const char *const bad[] = {
	        "",
	        "unknown",
	        "192.0.2",
	        "192.0.2.1:",
	        "192.0.2.1:x",
	        "[::1",
	        "[::1]x",
	        "[::1]:",
	        "[]",
	        "fe80::1%eth0",
	        "1.2.3.4.5",
	        " 192.0.2.1",
	        "[192.0.2.1]",
	        "_hidden",
	        "999.1.1.1",
	        "0000000000000000000000000000000000000000000000000000000001",
	};
	unsigned i;

	(void)st;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(http_hdr_ip_normalize(ok[i][0],
		                                       strlen(ok[i][0]), out,
		                                       sizeof(out)),
		                 0);
		assert_string_equal(out, ok[i][1]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(http_hdr_ip_normalize(bad[i], strlen(bad[i]),
		                                       out, sizeof(out)),
		                 -1);
		assert_string_equal(out, "");
	}
	/* Only len bytes are read. */
	assert_int_equal(
	        http_hdr_ip_normalize("10.0.0.1, 8.8.8.8", 8, out, sizeof(out)),
	        0);
	assert_string_equal(out, "10.0.0.1");
}

/* 127.0.0.1, 10.0.0.2 and ::1 are our proxies. */
static int
is_proxy(void *arg, const char *ip)
{
	(void)arg;
	return strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "10.0.0.2") == 0 ||
	       strcmp(ip, "::1") == 0;
}

static void
forwarded(const char *xff, int rc, const char *want)
{
	char out[HTTP_HDR_IP_MAX];

	assert_int_equal(http_hdr_forwarded_client(xff, is_proxy, NULL, out,
	                                           sizeof(out)),
	                 rc);
	assert_string_equal(out, want);
}

static void
test_forwarded_client(void **st)
{
	(void)st;
	forwarded("203.0.113.5", 0, "203.0.113.5");
	/* The client made up the left part: the right-most untrusted wins. */
	forwarded("1.2.3.4, 203.0.113.5", 0, "203.0.113.5");
	forwarded("1.2.3.4,203.0.113.5, 10.0.0.2", 0, "203.0.113.5");
	forwarded("garbage, 203.0.113.5", 0, "203.0.113.5");
	forwarded("127.0.0.1, 203.0.113.5, 127.0.0.1,10.0.0.2", 0,
	          "203.0.113.5");
	/* Ports, brackets, mapped addresses, case. */
	forwarded("[2001:DB8::5]:4711", 0, "2001:db8::5");
	forwarded("203.0.113.5:1234, [::1]:80", 0, "203.0.113.5");
	forwarded("::ffff:10.0.0.2, ::ffff:203.0.113.9", 0, "203.0.113.9");
	/* Every hop is ours: the left-most is the client. */
	forwarded("10.0.0.2, 127.0.0.1", 0, "10.0.0.2");
	/* Empty elements are skipped. */
	forwarded(" , 203.0.113.5 ,, ", 0, "203.0.113.5");
	/* A hop that wrote something else: nobody can be named. */
	forwarded("203.0.113.5, unknown", -1, "");
	forwarded("203.0.113.5, unknown, 10.0.0.2", -1, "");
	forwarded("", -1, "");
	forwarded(" ,, ", -1, "");
	forwarded(NULL, -1, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_content_length),
	        cmocka_unit_test(test_cookie),
	        cmocka_unit_test(test_ip_normalize),
	        cmocka_unit_test(test_forwarded_client),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
