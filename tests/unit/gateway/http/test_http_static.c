/*
 * test_http_static.c: the static files' request parsers case by case
 * (Accept-Encoding, If-None-Match, the path check), including hostile
 * values, and serving from a temporary folder: gzip round trip, ETags per
 * representation, 304, redirects to a folder's slash, a file changed on
 * disk served anew, files the cache cannot hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zlib.h>

#include "config.h"
#include "http_static.h"

static void
test_accepts_gzip(void **st)
{
	static const struct {
		const char *v;
		int ok;
	} cases[] = {
	        {"", 0},
	        {"gzip", 1},
	        {"GZip", 1},
	        {"x-gzip", 1},
	        {"gzip, deflate, br", 1},
	        {"deflate, br", 0},
	        {"br;q=1.0, gzip;q=0.8, *;q=0.1", 1},
	        {"gzip;q=0", 0},
	        {"gzip;q=0.000", 0},
	        {"gzip;q=0.001", 1},
	        {"gzip ; q=0.5", 1},
	        {"gzip;Q=0", 0},
	        {"*", 1},
	        {"*;q=0", 0},
	        {"gzip;q=0, *", 0}, /* gzip refused by name */
	        {"identity", 0},
	        {"identity, *;q=0", 0},
	        {"gzipx", 0},
	        {"xgzip", 0},
	        {"gzip;q=2", 0}, /* not a qvalue: ignored */
	        {"gzip;q=", 0},
	        {"gzip;q=abc", 0},
	        {"gzip garbage", 0}, /* not an element: ignored */
	        {"garbage gzip, gzip", 1},
	        {",,, ,gzip,,", 1},
	        {"gzip;level=9", 1},
	        {"gzip;level=9;q=0", 0},
	        {";;;", 0},
	        {"\t gzip \t", 1},
	        {"\"gzip\"", 0},
	};
	unsigned i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (http_static_accepts_gzip(cases[i].v) != cases[i].ok)
			fail_msg("Accept-Encoding \"%s\": expected %d",
			         cases[i].v, cases[i].ok);
	}
}

static void
test_etag_match(void **st)
{
	static const char *a = "\"abc\"", *b = "\"abc-gz\"";
	static const struct {
		const char *v;
		int ok;
	} cases[] = {
	        {"", 0},
	        {"\"abc\"", 1},
	        {"W/\"abc\"", 1}, /* weak comparison */
	        {"\"abc-gz\"", 1},
	        {"\"abd\"", 0},
	        {"\"ab\"", 0},
	        {"abc", 0},
	        {"\"x\", \"abc\"", 1},
	        {"\"x\",W/\"abc-gz\"", 1},
	        {"\"x\" \"abc\"", 0}, /* no comma: malformed */
	        {"*", 1},
	        {" * ", 1},
	        {"*, \"x\"", 0},
	        {"\"abc", 0}, /* unterminated */
	        {"\"a bc\"", 0},
	        {"W/", 0},
	        {"W/abc", 0},
	        {",,,", 0},
	        {"\"\"", 0},
	};
	unsigned i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (http_static_etag_match(cases[i].v, a, b) != cases[i].ok)
			fail_msg("If-None-Match \"%s\": expected %d",
			         cases[i].v, cases[i].ok);
	}
	assert_int_equal(http_static_etag_match("\"abc\"", NULL, NULL), 0);
	assert_int_equal(http_static_etag_match("\"abc\"", "", a), 1);
}

static void
test_path_ok(void **st)
{
	static const char *good[] = {
	        "",           "index.html",      "demo/", "demo/index.html",
	        "a-b_c.d.js", "a/b/c/d/e/f/g/h",
	};
	static const char *bad[] = {
	        "..",      "../x",
	        "a/../b",  "a/..",
	        ".hidden", "a/.b",
	        "a//b",    "/abs",
	        "a\\b",    "a%2e",
	        "a b",     "a\tb",
	        "ä.js",    "a/b/c/d/e/f/g/h/i",
	        "a?b",     "a:b",
	        "a;b",     "./a",
	        "a/./b",   "~root",
	};
	char longp[260];
	unsigned i;

	(void)st;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!http_static_path_ok(good[i]))
			fail_msg("\"%s\" refused", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (http_static_path_ok(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(http_static_path_ok(longp), 0);
	assert_int_equal(http_static_owns("/widget"), 1);
	assert_int_equal(http_static_owns("/widget/x"), 1);
	assert_int_equal(http_static_owns("/desk/"), 1);
	assert_int_equal(http_static_owns("/widgets"), 0);
	assert_int_equal(http_static_owns("/deskx/a"), 0);
	assert_int_equal(http_static_owns("/api/x"), 0);
}

/* ---------------------------------------------------------------- serving */

struct site {
	char root[256], widget[300], desk[300];
	struct gw_config cfg;
	struct http_static *s;
};

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
site_setup(void **st)
{
	struct site *t = calloc(1, sizeof(*t));
	char big[4096];

	snprintf(t->root, sizeof(t->root), "/tmp/sb-static-XXXXXX");
	if (mkdtemp(t->root) == NULL)
		return -1;
	snprintf(t->widget, sizeof(t->widget), "%s/widget", t->root);
	snprintf(t->desk, sizeof(t->desk), "%s/desk", t->root);
	mkdir(t->widget, 0700);
	mkdir(t->desk, 0700);
	snprintf(big, sizeof(big), "%s/demo", t->widget);
	mkdir(big, 0700);
	memset(big, 0, sizeof(big));
	memset(big, 'x', 3000);
	write_file(t->widget, "big.js", big);
	write_file(t->widget, "tiny.js", "1");
	write_file(t->widget, "index.html", "<p>widget</p>");
	write_file(t->widget, "demo/index.html", "<p>demo</p>");
	write_file(t->widget, "README.md", "# not served");
	write_file(t->widget, "logo.png", "PNGPNGPNGPNGPNGPNGPNGPNGPNGPNGPNG");
	write_file(t->desk, "app.js", big);
	write_file(t->root, "secret.js", "secret");
	t->cfg.widget_dir = t->widget;
	t->cfg.desk_dir = t->desk;
	t->s = http_static_new(&t->cfg);
	*st = t;
	return 0;
}

static int
site_teardown(void **st)
{
	struct site *t = *st;
	char cmd[600];

	http_static_free(t->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

static void
get(struct site *t, const char *path, const char *ae, const char *inm,
    struct http_static_reply *r)
{
	free(r->body);
	http_static_get(t->s, path, ae, inm, r);
}

static void
test_serve_gzip_and_etags(void **st)
{
	struct site *t = *st;
	struct http_static_reply r = {0};
	char plain_tag[48], gz_tag[48], out[4096];
	uLongf outlen = sizeof(out);
	z_stream z;

	get(t, "/widget/big.js", "", "", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "text/javascript; charset=utf-8");
	assert_int_equal(r.len, 3000);
	assert_null(r.encoding);
	assert_int_equal(r.vary, 1);
	assert_int_equal(r.cors, 1);
	assert_string_equal(r.cache_control, "no-cache");
	assert_true(strlen(r.etag) == 34 && r.etag[0] == '"');
	snprintf(plain_tag, sizeof(plain_tag), "%s", r.etag);

	get(t, "/widget/big.js", "br, gzip", "", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.encoding, "gzip");
	assert_true(r.len < 100);
	assert_string_not_equal(r.etag, plain_tag);
	snprintf(gz_tag, sizeof(gz_tag), "%s", r.etag);
	/* It is gzip (RFC 1952) of the file. */
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)r.body;
	z.avail_in = (uInt)r.len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)outlen;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.total_out, 3000);
	inflateEnd(&z);
	assert_true(out[0] == 'x' && out[2999] == 'x');

	/* 304 only for the tag of the representation chosen. */
	get(t, "/widget/big.js", "gzip", gz_tag, &r);
	assert_int_equal(r.status, 304);
	assert_null(r.body);
	assert_string_equal(r.etag, gz_tag);
	assert_int_equal(r.vary, 1);
	get(t, "/widget/big.js", "", plain_tag, &r);
	assert_int_equal(r.status, 304);
	get(t, "/widget/big.js", "gzip", plain_tag, &r);
	assert_int_equal(r.status, 200);
	get(t, "/widget/big.js", "gzip", "\"other\"", &r);
	assert_int_equal(r.status, 200);

	/* Served again from memory: the same bytes and tags. */
	get(t, "/widget/big.js", "gzip", "", &r);
	assert_string_equal(r.etag, gz_tag);

	/* Changed on disk (another size): served anew, with a new tag. */
	write_file(t->widget, "big.js", "changed");
	get(t, "/widget/big.js", "", plain_tag, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 7);
	assert_memory_equal(r.body, "changed", 7);
	assert_string_not_equal(r.etag, plain_tag);

	/* Too small to gain from gzip: identity, no Vary. */
	get(t, "/widget/tiny.js", "gzip", "", &r);
	assert_int_equal(r.status, 200);
	assert_null(r.encoding);
	assert_int_equal(r.vary, 0);
	/* Not a text type: never gzipped. */
	get(t, "/widget/logo.png", "gzip", "", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "image/png");
	assert_null(r.encoding);
	/* The desk's files: no CORS header. */
	get(t, "/desk/app.js", "gzip", "", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.cors, 0);
	assert_string_equal(r.encoding, "gzip");
	free(r.body);
}

static void
test_serve_paths(void **st)
{
	struct site *t = *st;
	struct http_static_reply r = {0};
	static const char *missing[] = {
	        "/widget/README.md",    "/widget/nope.js",
	        "/widget/../secret.js", "/widget/demo/../../secret.js",
	        "/widget/.hidden",      "/widget/big.js/",
	        "/desk/index.html",     "/widget/demo/x/",
	        "/other/big.js",
	};
	unsigned i;

	get(t, "/widget/", "", "", &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "<p>widget</p>", 13);
	assert_string_equal(r.ctype, "text/html; charset=utf-8");
	get(t, "/widget/demo/", "", "", &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "<p>demo</p>", 11);
	get(t, "/widget/demo", "", "", &r);
	assert_int_equal(r.status, 301);
	assert_string_equal(r.location, "/widget/demo/");
	get(t, "/widget", "", "", &r);
	assert_int_equal(r.status, 301);
	assert_string_equal(r.location, "/widget/");
	get(t, "/desk", "", "", &r);
	assert_int_equal(r.status, 301);
	assert_string_equal(r.location, "/desk/");
	for (i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		get(t, missing[i], "", "", &r);
		if (r.status != 404)
			fail_msg("%s: %d", missing[i], r.status);
	}
	free(r.body);
}

/* More files than the cache holds: each is still served, right. */
static void
test_cache_full(void **st)
{
	struct site *t = *st;
	struct http_static_reply r = {0};
	char name[64], path[96], text[64];
	int i;

	for (i = 0; i < HTTP_STATIC_CACHE_MAX + 20; i++) {
		snprintf(name, sizeof(name), "f%d.js", i);
		snprintf(text, sizeof(text), "export const n = %d;", i);
		write_file(t->widget, name, text);
	}
	for (i = 0; i < HTTP_STATIC_CACHE_MAX + 20; i++) {
		snprintf(path, sizeof(path), "/widget/f%d.js", i);
		snprintf(text, sizeof(text), "export const n = %d;", i);
		get(t, path, "gzip", "", &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.len, strlen(text));
		assert_memory_equal(r.body, text, r.len);
	}
	free(r.body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_accepts_gzip),
	        cmocka_unit_test(test_etag_match),
	        cmocka_unit_test(test_path_ok),
	        cmocka_unit_test_setup_teardown(test_serve_gzip_and_etags,
	                                        site_setup, site_teardown),
	        cmocka_unit_test_setup_teardown(test_serve_paths, site_setup,
	                                        site_teardown),
	        cmocka_unit_test_setup_teardown(test_cache_full, site_setup,
	                                        site_teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
