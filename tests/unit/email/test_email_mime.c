/*
 * test_email_mime.c: the MIME parser (channels/email/), one group per
 * concern as the files are split: transfer decoders (email_decode.c),
 * charsets (email_charset.c), headers (email_mime_header.c), HTML
 * (email_html.c), then email_mime.c: structure and caps, the corpus in
 * tests/data/email/ field by field, attachments, DSN, the RFC 3834 rules,
 * and hostile input. Every string a parse returns is checked to be valid
 * UTF-8 without NUL. Pure: no servers.
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

#include "../../fuzz/fuzz_utf8.h"
#include "email_buf.h"
#include "email_charset.h"
#include "email_decode.h"
#include "email_html.h"
#include "email_mime.h"
#include "email_mime_header.h"
#include "xmalloc.h"

#define FFFD "\xef\xbf\xbd"

/* ---- helpers ---- */

static void
utf8_ok(const char *s)
{
	if (s == NULL)
		return;
	if (fuzz_utf8_chars(s, strlen(s)) == (size_t)-1) {
		print_error("not UTF-8: %s\n", s);
		fail();
	}
}

static void
addr_ok(const struct email_mime_address *a)
{
	utf8_ok(a->name);
	utf8_ok(a->addr);
}

/* Every string of m is valid UTF-8 without NUL; the caps hold. */
static void
msg_ok(const struct email_mime_msg *m)
{
	size_t i;

	utf8_ok(m->message_id);
	utf8_ok(m->in_reply_to);
	for (i = 0; i < m->nreferences; i++)
		utf8_ok(m->references[i]);
	utf8_ok(m->subject);
	addr_ok(&m->from);
	addr_ok(&m->reply_to);
	addr_ok(&m->sender);
	for (i = 0; i < m->nto; i++)
		addr_ok(&m->to[i]);
	for (i = 0; i < m->ncc; i++)
		addr_ok(&m->cc[i]);
	utf8_ok(m->return_path);
	assert_non_null(m->text);
	utf8_ok(m->text);
	utf8_ok(m->html);
	utf8_ok(m->auto_submitted);
	utf8_ok(m->precedence);
	utf8_ok(m->x_auto_response_suppress);
	utf8_ok(m->report_type);
	utf8_ok(m->thread_index);
	for (i = 0; i < m->ndsn; i++) {
		utf8_ok(m->dsn[i].final_recipient);
		utf8_ok(m->dsn[i].original_recipient);
		utf8_ok(m->dsn[i].action);
		utf8_ok(m->dsn[i].status);
		utf8_ok(m->dsn[i].diagnostic_code);
	}
	utf8_ok(m->dsn_original_envelope_id);
	utf8_ok(m->dsn_original_message_id);
	for (i = 0; i < m->natt; i++) {
		utf8_ok(m->att[i].filename);
		utf8_ok(m->att[i].content_type);
		utf8_ok(m->att[i].content_id);
		assert_true(m->att[i].over_cap == (m->att[i].data == NULL));
	}
	assert_non_null(m->problems);
	utf8_ok(m->problems);
	assert_true(m->nreferences <= EMAIL_MIME_REFERENCES_MAX);
	assert_true(m->ndsn <= EMAIL_MIME_DSN_MAX);
}

static int
parse_lim(const char *s, size_t n, const struct email_mime_limits *lim,
          struct email_mime_msg *m)
{
	int r = email_mime_parse((const unsigned char *)s, n, lim, m);

	msg_ok(m);
	return r;
}

static int
parse(const char *s, struct email_mime_msg *m)
{
	return parse_lim(s, strlen(s), NULL, m);
}

static char *
corpus_read(const char *name, size_t *n)
{
	const char *src = getenv("SWITCHBOARD_SRC");
	char path[1024];
	FILE *f;
	char *buf;
	long size;

	snprintf(path, sizeof(path), "%s/tests/data/email/%s", src ? src : ".",
	         name);
	f = fopen(path, "rb");
	if (f == NULL) {
		print_error("cannot open %s\n", path);
		fail();
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)size + 1);
	*n = fread(buf, 1, (size_t)size, f);
	buf[*n] = '\0';
	fclose(f);
	return buf;
}

static int
corpus(const char *name, struct email_mime_msg *m)
{
	size_t n;
	char *raw = corpus_read(name, &n);
	int r = parse_lim(raw, n, NULL, m);

	free(raw);
	return r;
}

static void
b64_is(const char *in, const char *want)
{
	struct email_buf b = {0};
	char *s;

	email_decode_base64(&b, in, strlen(in));
	s = email_buf_take(&b);
	assert_string_equal(s, want);
	free(s);
}

/* bad: what email_decode_qp must return, or -1 for either. */
static void
qp_is(const char *in, int header, const char *want, int bad)
{
	struct email_buf b = {0};
	char *s;
	int r;

	r = email_decode_qp(&b, in, strlen(in), header);
	s = email_buf_take(&b);
	assert_string_equal(s, want);
	if (bad >= 0)
		assert_int_equal(r, bad);
	free(s);
}

/* ---- email_decode.c ---- */

static void
test_base64(void **st)
{
	(void)st;
	b64_is("SGVsbG8sIHdvcmxkIQ==", "Hello, world!");
	/* Line breaks, spaces and junk skipped; padding missing. */
	b64_is("SGVs\r\nbG8s IHdv\tcm*xk!IQ", "Hello, world!");
	/* Concatenated chunks, padding in the middle. */
	b64_is("SGk=SGk=", "HiHi");
	b64_is("", "");
	b64_is("QQ", "A");
}

static void
test_qp(void **st)
{
	(void)st;
	qp_is("Caf=E9 =3d=3D soft=\r\nbreak=  \nend", 0,
	      "Caf\xe9 == softbreakend", 0);
	/* A bad escape kept as it is. */
	qp_is("100% =ZZ off =", 0, "100% =ZZ off ", -1);
	qp_is("a=G1b", 0, "a=G1b", 1);
	/* RFC 2047's Q: '_' is a space. */
	qp_is("Gw=C5=B7n_Jones", 1, "Gw\xc5\xb7n Jones", -1);
	qp_is("a_b", 0, "a_b", -1);
}

/* ---- email_charset.c ---- */

/* flags: what email_charset_to_utf8 must return, or -1 for any. */
static void
conv_is(const char *cs, const char *in, size_t n, const char *want, long flags)
{
	struct email_buf b = {0};
	unsigned f;
	char *s;

	f = email_charset_to_utf8(&b, cs, in, n);
	s = email_buf_take(&b);
	assert_string_equal(s, want);
	utf8_ok(s);
	if (flags >= 0)
		assert_int_equal(f, flags);
	free(s);
}

static void
test_charsets(void **st)
{
	(void)st;
	conv_is("ISO-8859-1", "caf\xe9", 4, "caf\xc3\xa9", 0);
	conv_is("windows-1252", "\x93q\x94 \x80", 5,
	        "\xe2\x80\x9cq\xe2\x80\x9d \xe2\x82\xac", -1);
	/* Undefined in Windows-1252: replaced, never dropped. */
	conv_is("windows-1252", "a\x81z", 3, "a" FFFD "z",
	        EMAIL_MIME_BYTES_REPLACED);
	conv_is("koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", 6, "Привет", -1);
	conv_is("Shift_JIS", "\x93\xfa\x96\x7b", 4, "日本", -1);
	conv_is("gb2312", "\xd6\xd0\xce\xc4", 4, "中文", -1);
	conv_is("iso-8859-15", "\xa4", 1, "\xe2\x82\xac", -1);
	/* Cut short at the end of a multibyte charset. */
	conv_is("Shift_JIS", "a\x93", 2, "a" FFFD, EMAIL_MIME_BYTES_REPLACED);
}

static void
test_charset_utf8_and_guess(void **st)
{
	(void)st;
	/* UTF-8: bad bytes one U+FFFD each, overlong and surrogates too. */
	conv_is("utf-8", "a\xff\xc3\x28\xc0\xaf\xed\xa0\x80z", 10,
	        "a" FFFD FFFD "(" FFFD FFFD FFFD FFFD FFFD "z",
	        EMAIL_MIME_BYTES_REPLACED);
	conv_is("UTF-8", "a\0b", 3, "a" FFFD "b", -1);
	/* No charset: valid UTF-8 stays, anything else is Windows-1252. */
	conv_is(NULL, "t\xc5\xb7", 3, "t\xc5\xb7", 0);
	conv_is(NULL, "caf\xe9", 4, "caf\xc3\xa9",
	        EMAIL_MIME_NO_CHARSET_GUESSED);
	conv_is("us-ascii", "\xa3", 1, "\xc2\xa3",
	        EMAIL_MIME_NO_CHARSET_GUESSED);
	conv_is("x-no-such-charset", "\xa3", 1, "\xc2\xa3",
	        EMAIL_MIME_NO_CHARSET_GUESSED);
	/* Not a name at all (iconv never sees it). */
	conv_is("../../etc", "ok", 2, "ok", -1);
	/* UTF-16 yields NUL for "\0\0": replaced. */
	conv_is("UTF-16LE", "a\0\0\0", 4, "a" FFFD, -1);
	assert_int_equal(email_charset_utf8_cut("a\xc5\xb7", 3, 2), 1);
	assert_int_equal(email_charset_utf8_cut("abc", 3, 5), 3);
}

/* ---- email_mime_header.c ---- */

static void
test_header_block(void **st)
{
	static const char h[] = "From somebody Mon Dec  7 10:00:00 2026\n"
	                        "Subject: one\r\n two\r\n\tthree\r\n"
	                        "X-Empty:\r\n"
	                        "X-Nul: a\0b\r\n"
	                        "Content-Type : text/plain\r\n"
	                        "\r\n"
	                        "body";
	struct email_mime_fields f = {NULL, 0};
	unsigned flags = 0;
	size_t off;

	(void)st;
	off = email_mime_header_block((const unsigned char *)h, sizeof(h) - 1,
	                              &f, &flags);
	assert_int_equal(off, sizeof(h) - 5);
	assert_int_equal(f.n, 4);
	assert_string_equal(email_mime_header_get(&f, "SUBJECT"),
	                    "one two\tthree");
	assert_string_equal(email_mime_header_get(&f, "x-empty"), "");
	assert_string_equal(email_mime_header_get(&f, "x-nul"), "a b");
	assert_string_equal(email_mime_header_get(&f, "content-type"),
	                    "text/plain");
	assert_null(email_mime_header_get(&f, "to"));
	assert_int_equal(flags, 0);
	email_mime_header_fields_free(&f);

	/* A line that is no field starts the body. */
	off = email_mime_header_block((const unsigned char *)"A: 1\nnot a "
	                                                     "field\nx",
	                              20, &f, &flags);
	assert_int_equal(off, 5);
	assert_int_equal(flags, EMAIL_MIME_PARSE_ERROR);
	email_mime_header_fields_free(&f);
}

static void
text_is(const char *in, const char *want)
{
	unsigned flags = 0;
	char *s = email_mime_header_text(in, &flags);

	assert_string_equal(s, want);
	utf8_ok(s);
	free(s);
}

static void
test_rfc2047(void **st)
{
	(void)st;
	text_is("=?UTF-8?Q?Gw=C5=B7n?=", "Gw\xc5\xb7n");
	text_is("=?utf-8?b?8J+PoA==?=", "\xf0\x9f\x8f\xa0");
	/* Adjacent words joined without the whitespace between them. */
	text_is("=?UTF-8?Q?a?= =?UTF-8?Q?b?=\r\n =?UTF-8?Q?c?=", "abc");
	text_is("=?UTF-8?Q?a?= x =?UTF-8?Q?b?=", "a x b");
	/* A character split over two words. */
	text_is("=?UTF-8?B?8J+P?= =?UTF-8?B?oA==?=", "\xf0\x9f\x8f\xa0");
	text_is("=?ISO-8859-1?Q?Ang=E8le?= and =?KOI8-R?B?8NLJ18XU?=",
	        "Ang\xc3\xa8le and Привет");
	/* RFC 2231 language in the word. */
	text_is("=?UTF-8*cy?Q?t=C5=B7?=", "t\xc5\xb7");
	/* Malformed words left as text. */
	text_is("=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=");
	text_is("=?UTF-8?Q?no end", "=?UTF-8?Q?no end");
	text_is("=??Q?x?=", "=??Q?x?=");
	/* Control characters made spaces, runs collapsed, trimmed. */
	text_is("  a \t\r\n b\x01 c  ", "a b c");
	text_is("=?UTF-8?Q?a=00b=0Ac?=", "a" FFFD "b c");
	/* Unknown charset in a word: UTF-8 or Windows-1252. */
	text_is("=?x-unknown?Q?caf=E9?=", "caf\xc3\xa9");
	/* Raw 8-bit in a header. */
	text_is("caf\xe9", "caf\xc3\xa9");
}

static void
test_addresses(void **st)
{
	struct email_mime_address *a;
	unsigned flags = 0;
	size_t n, i;

	(void)st;
	n = email_mime_header_addresses(
	        "\"Jones, Gwyn\" <gwyn@example.org>, bare@example.com "
	        "(Bare Name), =?UTF-8?Q?Si=C3=B4n?= <sion@x.cymru>, "
	        "Team: a@x.org, \"b c\" <b@x.org>; , <@relay.x:r@x.org>, "
	        "\"=?UTF-8?Q?Gw=C5=B7n?=\" < spaced @ x.org >, Name Only",
	        &a, 20, &flags);
	assert_int_equal(n, 8);
	assert_string_equal(a[0].name, "Jones, Gwyn");
	assert_string_equal(a[0].addr, "gwyn@example.org");
	assert_string_equal(a[1].name, "Bare Name");
	assert_string_equal(a[1].addr, "bare@example.com");
	assert_string_equal(a[2].name, "Si\xc3\xb4n");
	assert_string_equal(a[2].addr, "sion@x.cymru");
	assert_null(a[3].name);
	assert_string_equal(a[3].addr, "a@x.org");
	assert_string_equal(a[4].name, "b c");
	assert_string_equal(a[4].addr, "b@x.org");
	assert_null(a[5].name);
	assert_string_equal(a[5].addr, "r@x.org");
	assert_string_equal(a[6].name, "Gw\xc5\xb7n");
	assert_string_equal(a[6].addr, "spaced@x.org");
	assert_string_equal(a[7].name, "Name Only");
	assert_string_equal(a[7].addr, "");
	for (i = 0; i < n; i++)
		email_mime_header_address_free(&a[i]);
	free(a);

	n = email_mime_header_addresses("undisclosed-recipients:;", &a, 5,
	                                &flags);
	assert_int_equal(n, 0);
	assert_null(a);
	/* Over the cap: the first kept, flagged. */
	flags = 0;
	n = email_mime_header_addresses("a@x, b@x, c@x", &a, 2, &flags);
	assert_int_equal(n, 2);
	assert_int_equal(flags, EMAIL_MIME_TRUNCATED);
	for (i = 0; i < n; i++)
		email_mime_header_address_free(&a[i]);
	free(a);
	/* Comments with nested parentheses and escapes. */
	n = email_mime_header_addresses("x@y (a (b) \\) c)", &a, 2, &flags);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].addr, "x@y");
	assert_string_equal(a[0].name, "a (b) ) c");
	email_mime_header_address_free(&a[0]);
	free(a);
}

/* The ids of v (at most max), joined by spaces, are want. */
static void
ids_is(const char *v, size_t max, const char *want)
{
	struct email_buf b = {0};
	char **ids, *got;
	size_t n, i;

	n = email_mime_header_ids(v, &ids, max);
	assert_true(n <= max);
	assert_true((n == 0) == (ids == NULL));
	for (i = 0; i < n; i++) {
		utf8_ok(ids[i]);
		if (i > 0)
			email_buf_addc(&b, ' ');
		email_buf_adds(&b, ids[i]);
		free(ids[i]);
	}
	free(ids);
	got = email_buf_take(&b);
	assert_string_equal(got, want);
	free(got);
}

static void
test_ids(void **st)
{
	(void)st;
	ids_is("<a@x> (comment <no@x>) \"<q@x>\"\r\n <b @x>", 10, "a@x b@x");
	/* No brackets: the words with '@'. */
	ids_is("a@x, junk b@y", 10, "a@x b@y");
	/* Over the cap: the first and the last ones. */
	ids_is("<1@x><2@x><3@x><4@x><5@x>", 3, "1@x 4@x 5@x");
	ids_is("nothing here", 3, "");
	ids_is("<unclosed@x", 3, "unclosed@x");
	ids_is("<>", 3, "");
}

static void
date_is(const char *s, int64_t want)
{
	int64_t ms = 0;

	if (want < 0) {
		assert_int_equal(email_mime_header_date(s, &ms), -1);
		return;
	}
	assert_int_equal(email_mime_header_date(s, &ms), 0);
	if (ms != want) {
		print_error("%s: %lld, not %lld\n", s, (long long)ms,
		            (long long)want);
		fail();
	}
}

static void
test_date(void **st)
{
	/* 2026-12-07T09:30:00Z */
	const int64_t t = 1796635800000;

	(void)st;
	date_is("Mon, 7 Dec 2026 09:30:00 +0000", t);
	date_is("Mon, 07 Dec 2026 10:30:00 +0100 (CET)", t);
	date_is("7 Dec 2026 04:30:00 -0500", t);
	date_is("Mon, 7 Dec 2026 04:30:00 EST", t);
	date_is("Mon, 7 Dec 26 09:30 GMT", t);
	date_is("7 Dec 126 09:30:00 UT", t);
	date_is("Mon,7 Dec 2026 09:30:00 Z", t);
	date_is("7-Dec-2026 09:30:00", t);
	date_is("Mon, 7 Dec 2026 09:30:00 A", t);
	date_is("Thu, 1 Jan 1970 00:00:00 +0000", 0);
	date_is("Sat, 29 Feb 2020 12:00:00 +0000", 1582977600000);
	date_is("Mon, 7 Dec 99 09:30:00 +0000", 944559000000);
	date_is("", -1);
	date_is("yesterday", -1);
	date_is("Mon, 7 Foo 2026 09:30:00 +0000", -1);
	date_is("Mon, 32 Dec 2026 09:30:00 +0000", -1);
	date_is("Mon, 7 Dec 2026 25:30:00 +0000", -1);
	date_is("Mon, 7 Dec 2026", -1);
	date_is("2026-12-07T09:30:00Z", -1);
	date_is("Tue, 15 Dec 026 16:20:00 +0100", -1); /* 1926 */
	date_is("Thu, 1 Jan 1970 00:30:00 +0100", -1);
}

static void
param_is(const char *v, const char *name, const char *want)
{
	unsigned flags = 0;
	char *s = email_mime_header_param(v, name, &flags);

	if (want == NULL) {
		assert_null(s);
		return;
	}
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void
test_params(void **st)
{
	(void)st;
	param_is("text/plain; charset=\"UTF-8\"; format=flowed", "charset",
	         "UTF-8");
	param_is("text/plain; charset=\"UTF-8\"; format=flowed", "format",
	         "flowed");
	param_is("text/plain; CHARSET = iso-8859-1 (comment)", "charset",
	         "iso-8859-1");
	param_is("text/plain", "charset", NULL);
	param_is("multipart/mixed; boundary=\"a;b \\\"c\\\"\"", "boundary",
	         "a;b \"c\"");
	/* RFC 2231. */
	param_is("attachment; filename*=iso-8859-1'en'caf%E9.txt", "filename",
	         "caf\xc3\xa9.txt");
	param_is("attachment; filename*=UTF-8''t%C5%B7.pdf; filename=x.pdf",
	         "filename", "t\xc5\xb7.pdf");
	param_is("attachment; filename*1*=%E2%80%94%20b.pdf; "
	         "filename*0*=utf-8'cy'a%20",
	         "filename", "a \xe2\x80\x94 b.pdf");
	param_is("attachment; filename*0=\"long \"; filename*1=\"name.txt\"",
	         "filename", "long name.txt");
	/* A gap ends the continuation. */
	param_is("attachment; filename*0=a; filename*2=c", "filename", "a");
	/* RFC 2047 inside a quoted name, as clients send it. */
	param_is("image/jpeg; name=\"=?UTF-8?Q?Llun_y_t=C5=B7.jpg?=\"", "name",
	         "Llun y t\xc5\xb7.jpg");
	param_is("a; filename*=%ZZ", "filename", "%ZZ");
	param_is("a; x=\"unterminated", "x", "unterminated");
}

/* ---- email_html.c ---- */

/* fn (email_html_to_text or email_html_sanitise) gives want for in. */
static void
html_is(char *(*fn)(const char *, size_t), const char *in, const char *want)
{
	char *s = fn(in, strlen(in));

	assert_string_equal(s, want);
	utf8_ok(s);
	free(s);
}

#define html_text_is(in, want) html_is(email_html_to_text, in, want)
#define html_safe_is(in, want) html_is(email_html_sanitise, in, want)

static void
test_html_text(void **st)
{
	(void)st;
	html_text_is("<p>One</p><p>Two<br>three</p>", "One\n\nTwo\nthree");
	html_text_is("<head><title>T</title></head><body>a  \n b</body>",
	             "a b");
	html_text_is("<script>x<y</script>z<style>p{}</style>", "z");
	html_text_is("<ul><li>a</li><li>b &amp; c</li></ul>", "- a\n- b & c");
	html_text_is("&lt;&#65;&#x42;&euro;&unknown;&#0;&nbsp;x",
	             "<AB\xe2\x82\xac&unknown;" FFFD " x");
	html_text_is("<pre>a\n  b</pre>", "a\n  b");
	html_text_is("<!-- <p>hidden</p> -->shown<!doctype x>", "shown");
	html_text_is("a<br><br><br><br>b", "a\n\nb");
	html_text_is("1 < 2 and 3 > 2", "1 < 2 and 3 > 2");
	html_text_is("<div>a<div>b</div></div>", "a\nb");
	html_text_is("<head><meta x>no end of head<body>text", "text");
	html_text_is("<scr", "");
	html_text_is("", "");
}

static void
test_html_sanitise(void **st)
{
	(void)st;
	html_safe_is("<p style=\"x\" onclick=\"y()\">Hi</p>", "<p>Hi</p>");
	html_safe_is("<script>alert(1)</script><SCRIPT >x</script >ok", "ok");
	html_safe_is("<a href=\"javascript:alert(1)\">x</a>", "<a>x</a>");
	html_safe_is("<a href=\" JaVaScRiPt:alert(1)\">x</a>", "<a>x</a>");
	html_safe_is(
	        "<a href='https://e.org/?a=1&amp;b=\"2\"' "
	        "onmouseover=x>y</a>",
	        "<a href=\"https://e.org/?a=1&amp;b=&quot;2&quot;\">y</a>");
	html_safe_is("<A HREF=mailto:a@b.org>m</A>",
	             "<a href=\"mailto:a@b.org\">m</a>");
	html_safe_is("<a href=\"data:text/html,x\">d</a>", "<a>d</a>");
	html_safe_is("<a href=\"\">e</a><a href>f</a>", "<a>e</a><a>f</a>");
	html_safe_is("<a href=\"HTTPS://E.ORG/\">g</a>",
	             "<a href=\"HTTPS://E.ORG/\">g</a>");
	html_safe_is("<img src=\"http://t/x.gif\"><iframe src=x>in</iframe>"
	             "<object>o</object><embed src=x><svg><a>s</a></svg>"
	             "<math>m</math>t",
	             "t");
	html_safe_is("<b><i>x</b>y", "<b><i>x</i></b>y");
	html_safe_is("</div>a</p>", "a");
	html_safe_is("<table><tr><td>1</td></tr></table>",
	             "<table><tr><td>1</td></tr></table>");
	html_safe_is("a &lt;b&gt; & \"'", "a &lt;b&gt; &amp; &quot;&#39;");
	html_safe_is("<!-- <script>x</script> -->c", "c");
	html_safe_is("<br/><hr class=x><br>", "<br><hr><br>");
	html_safe_is("<p", "");
	html_safe_is("<p title=\"a>b\">x", "<p>x</p>");
	html_safe_is("<form><input value=x></form>k", "k");
	html_safe_is("<h1>T</h1><blockquote>q</blockquote><pre>p</pre>",
	             "<h1>T</h1><blockquote>q</blockquote><pre>p</pre>");
}

static void
test_html_deep(void **st)
{
	struct email_buf b = {0};
	size_t i;
	char *s;

	(void)st;
	for (i = 0; i < 5000; i++)
		email_buf_adds(&b, "<div>");
	s = email_html_sanitise(b.p, b.len);
	/* EMAIL_HTML_DEPTH_MAX opened, all closed. */
	assert_int_equal(strlen(s), EMAIL_HTML_DEPTH_MAX * 11);
	free(s);
	email_buf_free(&b);
}

/* ---- email_mime.c: structure and caps ---- */

static void
test_simple(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(parse("Subject: hi\r\nFrom: a@b.org\r\n\r\nBody\r\n"
	                       "line two\r\n",
	                       &m),
	                 0);
	assert_string_equal(m.subject, "hi");
	assert_string_equal(m.from.addr, "a@b.org");
	assert_string_equal(m.text, "Body\nline two\n");
	assert_null(m.html);
	assert_int_equal(m.natt, 0);
	assert_int_equal(m.date_ms, -1);
	assert_string_equal(m.problems, "");
	email_mime_free(&m);
	email_mime_free(&m); /* zeroed: again is harmless */
	email_mime_free(NULL);
}

static void
test_empty_and_garbage(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(parse_lim(NULL, 0, NULL, &m), 1);
	assert_string_equal(m.text, "");
	assert_int_equal(m.flags, EMAIL_MIME_PARSE_ERROR);
	email_mime_free(&m);
	/* No header at all: everything is the body. */
	assert_int_equal(parse("just some text\nno headers\n", &m), 1);
	assert_string_equal(m.text, "just some text\nno headers\n");
	assert_true(m.flags & EMAIL_MIME_PARSE_ERROR);
	email_mime_free(&m);
}

static void
test_multipart_shapes(void **st)
{
	struct email_mime_msg m;

	(void)st;
	/* Preamble, epilogue, no final boundary. */
	assert_int_equal(parse("Content-Type: multipart/mixed; boundary=b\n\n"
	                       "preamble\n--b\n\nfirst\n--b \n"
	                       "Content-Type: text/x-other\n\nsecond\n",
	                       &m),
	                 1);
	assert_string_equal(m.text, "first");
	assert_int_equal(m.natt, 1);
	assert_string_equal(m.att[0].content_type, "text/x-other");
	assert_int_equal(m.att[0].size, 7);
	assert_memory_equal(m.att[0].data, "second\n", 7);
	assert_true(m.flags & EMAIL_MIME_PARSE_ERROR);
	assert_non_null(strstr(m.problems, "no final boundary"));
	email_mime_free(&m);
	/* A mismatch whose body starts with no delimiter, or a line of
	 * hyphens: read as text, nothing lost. */
	assert_int_equal(parse("Content-Type: multipart/mixed; boundary=b\n\n"
	                       "Dear council,\n--x\nsecond\n",
	                       &m),
	                 1);
	assert_string_equal(m.text, "Dear council,\n--x\nsecond\n");
	email_mime_free(&m);
	assert_int_equal(parse("Content-Type: multipart/mixed; boundary=b\n\n"
	                       "\n----------\nsigned\n",
	                       &m),
	                 1);
	assert_string_equal(m.text, "\n----------\nsigned\n");
	assert_non_null(strstr(m.problems, "boundary not found: read as text"));
	email_mime_free(&m);
	/* No boundary parameter: read as text. */
	assert_int_equal(parse("Content-Type: multipart/mixed\n\nplain\n", &m),
	                 1);
	assert_string_equal(m.text, "plain\n");
	email_mime_free(&m);
	/* A boundary that is a prefix of a longer line is not one. */
	assert_int_equal(parse("Content-Type: multipart/alternative; "
	                       "boundary=ab\n\n--ab\n\nx\n--abc\n--ab\n"
	                       "Content-Type: text/html\n\n<b>y</b>\n--ab--\n",
	                       &m),
	                 0);
	assert_string_equal(m.text, "x\n--abc");
	assert_string_equal(m.html, "<b>y</b>");
	email_mime_free(&m);
	/* message/rfc822 is an attachment, not searched for a body. */
	assert_int_equal(parse("Content-Type: multipart/mixed; boundary=b\n\n"
	                       "--b\n\nnote\n--b\nContent-Type: "
	                       "message/rfc822\n\nSubject: inner\n\ninner "
	                       "body\n--b--\n",
	                       &m),
	                 0);
	assert_string_equal(m.text, "note");
	assert_int_equal(m.natt, 1);
	assert_string_equal(m.att[0].content_type, "message/rfc822");
	email_mime_free(&m);
	/* multipart/digest: parts are messages by default. */
	assert_int_equal(parse("Content-Type: multipart/digest; boundary=d\n\n"
	                       "--d\n\nSubject: a\n\nA\n--d--\n",
	                       &m),
	                 0);
	assert_int_equal(m.natt, 1);
	assert_string_equal(m.att[0].content_type, "message/rfc822");
	email_mime_free(&m);
	/* An empty plain alternative: the text from the HTML. */
	assert_int_equal(parse("Content-Type: multipart/alternative; "
	                       "boundary=a\n\n--a\n\n \n--a\n"
	                       "Content-Type: text/html\n\n<p>real</p>\n"
	                       "--a--\n",
	                       &m),
	                 0);
	assert_string_equal(m.text, "real");
	assert_string_equal(m.html, "<p>real</p>");
	assert_int_equal(m.natt, 0);
	email_mime_free(&m);
	/* A whole message named as a file is still the body. */
	assert_int_equal(parse("Content-Type: text/plain; name=\"note.txt\"\n\n"
	                       "hello\n",
	                       &m),
	                 0);
	assert_string_equal(m.text, "hello\n");
	assert_int_equal(m.natt, 0);
	email_mime_free(&m);
	/* ... but not when it says it is an attachment. */
	assert_int_equal(parse("Content-Type: text/plain\nContent-Disposition: "
	                       "attachment; filename=a.txt\n\nhello\n",
	                       &m),
	                 0);
	assert_string_equal(m.text, "");
	assert_int_equal(m.natt, 1);
	assert_string_equal(m.att[0].filename, "a.txt");
	email_mime_free(&m);
	/* multipart/signed: the first part is the body, the signature a
	 * file. */
	assert_int_equal(parse("Content-Type: multipart/signed; boundary=s; "
	                       "protocol=\"application/pgp-signature\"\n\n"
	                       "--s\nContent-Type: text/plain\n\nsigned\n--s\n"
	                       "Content-Type: application/pgp-signature\n\n"
	                       "sig\n--s--\n",
	                       &m),
	                 0);
	assert_string_equal(m.text, "signed");
	assert_int_equal(m.natt, 1);
	assert_string_equal(m.att[0].content_type, "application/pgp-signature");
	email_mime_free(&m);
	/* Text, a photo, more text, a list footer: the texts joined, the
	 * photo and a named text file attachments. */
	assert_int_equal(
	        parse("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n"
	              "Here is the photo:\n--b\nContent-Type: image/png\n"
	              "Content-Disposition: inline\n\nPNG\n--b\n"
	              "Content-Type: text/plain; charset=iso-8859-1\n\n"
	              "and the caf\xe9.\n--b\nContent-Type: text/plain; "
	              "name=notes.txt\n\nnotes\n--b\n\n-- \nList footer\n"
	              "--b--\n",
	              &m),
	        0);
	assert_string_equal(m.text, "Here is the photo:\nand the caf\xc3\xa9.\n"
	                            "-- \nList footer");
	assert_int_equal(m.natt, 2);
	assert_string_equal(m.att[0].content_type, "image/png");
	assert_int_equal(m.att[0].is_inline, 1);
	assert_string_equal(m.att[1].filename, "notes.txt");
	email_mime_free(&m);
	/* HTML only inside mixed: the text from it, the HTML sanitised. */
	assert_int_equal(parse("Content-Type: multipart/mixed; boundary=b\n\n"
	                       "--b\nContent-Type: text/html; "
	                       "charset=iso-8859-1\n\n<p>caf\xe9</p><script>x"
	                       "</script>\n--b--\n",
	                       &m),
	                 0);
	assert_string_equal(m.text, "caf\xc3\xa9");
	assert_string_equal(m.html, "<p>caf\xc3\xa9</p>");
	email_mime_free(&m);
}

/* n multiparts one in another, a text at the bottom. */
static char *
nested(unsigned n)
{
	struct email_buf b = {0};
	char line[96];
	unsigned i;

	email_buf_adds(&b, "Subject: deep\n");
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line),
		         "Content-Type: multipart/mixed; boundary=\"b%u\"\n\n"
		         "--b%u\n",
		         i, i);
		email_buf_adds(&b, line);
	}
	email_buf_adds(&b, "Content-Type: text/plain\n\nbottom\n");
	for (i = n; i > 0; i--) {
		snprintf(line, sizeof(line), "--b%u--\n", i - 1);
		email_buf_adds(&b, line);
	}
	return email_buf_take(&b);
}

static void
test_depth_cap(void **st)
{
	struct email_mime_msg m;
	struct email_mime_limits lim = {0};
	char *raw;

	(void)st;
	raw = nested(10);
	assert_int_equal(parse(raw, &m), 0);
	assert_string_equal(m.text, "bottom");
	email_mime_free(&m);
	free(raw);
	/* 100 deep: flagged, nothing inside read, no attachment made. */
	raw = nested(100);
	assert_int_equal(parse(raw, &m), 1);
	assert_true(m.flags & EMAIL_MIME_TOO_DEEP);
	assert_string_equal(m.text, "");
	assert_int_equal(m.natt, 0);
	assert_string_equal(m.subject, "deep");
	assert_non_null(strstr(m.problems, "deeper than 16"));
	email_mime_free(&m);
	lim.max_depth = 200;
	assert_int_equal(parse_lim(raw, strlen(raw), &lim, &m), 0);
	assert_string_equal(m.text, "bottom");
	email_mime_free(&m);
	free(raw);
}

static char *
many_parts(unsigned n)
{
	struct email_buf b = {0};
	char line[96];
	unsigned i;

	email_buf_adds(&b, "Content-Type: multipart/mixed; boundary=p\n\n"
	                   "--p\n\nthe body\n");
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line),
		         "--p\nContent-Type: application/x-%u\n\n%u\n", i, i);
		email_buf_adds(&b, line);
	}
	email_buf_adds(&b, "--p--\n");
	return email_buf_take(&b);
}

static void
test_part_cap(void **st)
{
	struct email_mime_msg m;
	struct email_mime_limits lim = {0};
	char *raw = many_parts(10000);

	(void)st;
	assert_int_equal(parse(raw, &m), 1);
	assert_true(m.flags & EMAIL_MIME_TOO_MANY_PARTS);
	/* The message and its first 199 parts: the body and 198 files. */
	assert_int_equal(m.natt, EMAIL_MIME_PARTS_DEFAULT - 2);
	assert_string_equal(m.text, "the body");
	assert_memory_equal(m.att[197].data, "197", 3);
	email_mime_free(&m);
	lim.max_parts = 3;
	assert_int_equal(parse_lim(raw, strlen(raw), &lim, &m), 1);
	assert_int_equal(m.natt, 1);
	email_mime_free(&m);
	free(raw);
}

static void
test_text_cap(void **st)
{
	struct email_mime_msg m;
	struct email_mime_limits lim = {0};
	const char *raw = "Content-Type: text/plain; charset=utf-8\n\n"
	                  "ab\xc5\xb7\xc5\xb7";

	(void)st;
	lim.max_text = 3; /* inside the first ŵ: cut before it */
	assert_int_equal(parse_lim(raw, strlen(raw), &lim, &m), 1);
	assert_string_equal(m.text, "ab");
	assert_true(m.flags & EMAIL_MIME_TRUNCATED);
	email_mime_free(&m);
	lim.max_text = 4;
	assert_int_equal(parse_lim(raw, strlen(raw), &lim, &m), 1);
	assert_string_equal(m.text, "ab\xc5\xb7");
	email_mime_free(&m);
}

/* ---- email_mime.c: the corpus ---- */

static void
test_corpus_outlook(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("outlook_reply.eml", &m), 0);
	assert_string_equal(m.message_id, "AM9PR03MB7121D2C1B9E54F7AB8C8A6C3C1A"
	                                  "42@AM9PR03MB7121.eurprd03.prod."
	                                  "outlook.com");
	assert_string_equal(m.in_reply_to, "sb.1042.1.ack@denbighshire.gov.uk");
	assert_int_equal(m.nreferences, 1);
	assert_string_equal(m.references[0],
	                    "sb.1042.1.ack@denbighshire.gov.uk");
	assert_string_equal(m.subject,
	                    "RE: Your enquiry [SB-1042] - bin collection");
	assert_string_equal(m.thread_index,
	                    "AQHaSGVsbG8gT3V0bG9vayB0aHJlYWQgaW5kZXg=");
	assert_string_equal(m.from.name, "Sian Roberts");
	assert_string_equal(m.from.addr, "sian.roberts@outlook.com");
	assert_int_equal(m.nto, 1);
	assert_string_equal(m.to[0].name, "Denbighshire County Council");
	assert_int_equal(m.date_ms, 1796638438000);
	assert_null(m.return_path);
	/* windows-1252 quoted-printable: en dash, quotes, â. */
	assert_non_null(strstr(m.text,
	                       "Thanks \xe2\x80\x93 the bin still wasn\xe2\x80"
	                       "\x99t collected today. Could someone \xe2\x80"
	                       "\x9cplease\xe2\x80\x9d call me back?\n\nSi\xc3"
	                       "\xa2n\n"));
	assert_non_null(strstr(m.text, "\n> We have received your message"));
	assert_null(strchr(m.text, '\r'));
	assert_non_null(m.html);
	assert_null(strstr(m.html, "style"));
	assert_non_null(strstr(m.html, "<div><b>From:</b> Denbighshire"));
	assert_int_equal(m.natt, 0);
	assert_int_equal(m.flags, 0);
	assert_null(email_mime_no_autoreply(&m, NULL, 0));
	email_mime_free(&m);
}

static void
test_corpus_gmail(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("gmail_new_subject.eml", &m), 0);
	assert_string_equal(m.message_id,
	                    "CAH7f3kT0pQ=LxV9m+Z8dq3k@mail.gmail.com");
	assert_string_equal(m.subject,
	                    "Pothole on Ffordd Las - photo attached later");
	assert_int_equal(m.nreferences, 2);
	assert_string_equal(m.references[0], "sb.2210.4@denbighshire.gov.uk");
	assert_string_equal(m.references[1], "CAJx9=abc@mail.gmail.com");
	assert_string_equal(m.return_path, "dafydd.evans@gmail.com");
	assert_int_equal(m.ncc, 1);
	assert_string_equal(m.cc[0].name, "Evans, Mair");
	assert_string_equal(m.cc[0].addr, "mair.evans@gmail.com");
	assert_null(m.to[0].name);
	assert_int_equal(m.date_ms, 1796716872000);
	assert_true(strncmp(m.text,
	                    "Bore da,\n\nThe pothole outside number 12 is "
	                    "getting deeper \xe2\x80\x93 please can someone "
	                    "look?\n",
	                    81) == 0);
	assert_non_null(strstr(
	        m.html, "<a href=\"mailto:contact@denbighshire.gov.uk\">"));
	assert_null(strstr(m.html, "class"));
	email_mime_free(&m);
}

static void
test_corpus_apple(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("apple_mail_reply.eml", &m), 0);
	assert_string_equal(m.message_id,
	                    "8F1E2B3C-4D5E-6F70-8192-A3B4C5D6E7F8@icloud.com");
	assert_string_equal(m.in_reply_to, "sb.3307.2@denbighshire.gov.uk");
	assert_int_equal(m.nreferences, 2);
	assert_string_equal(m.references[1], "sb.3307.2@denbighshire.gov.uk");
	assert_string_equal(m.text,
	                    "Diolch \xe2\x80\x94 I\xe2\x80\x99ve paid the "
	                    "balance today.\n\n> On 9 Dec 2026, at 11:02, "
	                    "Denbighshire County Council "
	                    "<contact@denbighshire.gov.uk> wrote:\n> \n> Your "
	                    "balance is \xc2\xa3"
	                    "12.50.\n");
	assert_non_null(strstr(m.html, "<blockquote><div>On 9 Dec"));
	email_mime_free(&m);
}

static void
test_corpus_html_only(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("html_only_script.eml", &m), 0);
	assert_string_equal(m.text, "Dear resident\n\nClick here or the form."
	                            "\n\n- One & two\n- Three <four>\n\n"
	                            "Regards,\nThe Team");
	assert_null(strstr(m.html, "script"));
	assert_null(strstr(m.html, "alert"));
	assert_null(strstr(m.html, "on"
	                           "click"));
	assert_null(strstr(m.html, "onload"));
	assert_null(strstr(m.html, "tracker"));
	assert_null(strstr(m.html, "iframe"));
	assert_null(strstr(m.html, "Hidden title"));
	assert_null(strstr(m.html, "comment"));
	assert_non_null(strstr(m.html, "<a>here</a>"));
	assert_non_null(strstr(
	        m.html, "<a href=\"https://example.org/form?a=1&amp;b=2\">the "
	                "form</a>"));
	assert_non_null(strstr(m.html, "<li>Three &lt;four&gt;</li>"));
	assert_int_equal(m.date_ms, 1796889600000);
	email_mime_free(&m);
}

static void
test_corpus_inline_images(void **st)
{
	static const unsigned char png_head[] = {0x89, 'P', 'N', 'G'};
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("inline_images.eml", &m), 0);
	assert_string_equal(m.text, "Photo below. It has been there a week.\n");
	assert_string_equal(m.html, "<p>Photo below. It has been there a "
	                            "week.</p><p></p>\n");
	assert_int_equal(m.natt, 1);
	assert_string_equal(m.att[0].filename, "photo.png");
	assert_string_equal(m.att[0].content_type, "image/png");
	assert_string_equal(m.att[0].content_id, "photo1@btinternet.com");
	assert_int_equal(m.att[0].is_inline, 1);
	assert_int_equal(m.att[0].size, 66);
	assert_memory_equal(m.att[0].data, png_head, 4);
	email_mime_free(&m);
}

static void
test_corpus_rfc2231(void **st)
{
	struct email_mime_msg m;
	unsigned char h[32];

	(void)st;
	assert_int_equal(corpus("attachments_rfc2231.eml", &m), 0);
	assert_string_equal(m.from.name, "Rhodri ap Gwynfor");
	assert_string_equal(m.text, "Gweler y cais ynghlwm.\n");
	assert_int_equal(m.natt, 3);
	assert_string_equal(m.att[0].filename,
	                    "Cyngor Sir Ddinbych \xe2\x80\x94 cais.pdf");
	assert_string_equal(m.att[0].content_type, "application/pdf");
	assert_int_equal(m.att[0].is_inline, 0);
	assert_int_equal(m.att[0].size, 77);
	assert_memory_equal(m.att[0].data, "%PDF-1.4\n", 9);
	crypto_hash_sha256(h, m.att[0].data, m.att[0].size);
	assert_memory_equal(h, m.att[0].sha256, 32);
	assert_string_equal(m.att[1].filename, "Llun y t\xc5\xb7.jpg");
	assert_string_equal(m.att[1].content_type, "image/jpeg");
	assert_int_equal(m.att[1].size, 22);
	assert_string_equal(m.att[2].filename, "caf\xc3\xa9.txt");
	assert_int_equal(m.att[2].size, 4);
	assert_memory_equal(m.att[2].data, "caf\xe9", 4);
	email_mime_free(&m);
}

static void
test_corpus_winmail(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("winmail_dat.eml", &m), 1);
	assert_int_equal(m.flags, EMAIL_MIME_TNEF);
	assert_string_equal(m.text, "Please see attached.\n");
	assert_int_equal(m.natt, 1);
	assert_string_equal(m.att[0].filename, "winmail.dat");
	assert_string_equal(m.att[0].content_type, "application/ms-tnef");
	assert_int_equal(m.att[0].size, 15);
	assert_non_null(m.att[0].data);
	assert_string_equal(
	        m.problems,
	        "attachment \"winmail.dat\" is Outlook's winmail.dat "
	        "(application/ms-tnef): kept, not decoded\n");
	email_mime_free(&m);
}

static void
test_corpus_charsets(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("iso8859_1_base64.eml", &m), 0);
	assert_string_equal(m.subject, "Caf\xc3\xa9 licence");
	assert_string_equal(m.text, "Bonjour, la terrasse du caf\xc3\xa9 est "
	                            "pr\xc3\xaate. \xc3\x80 bient\xc3\xb4t.\n");
	/* "14 Dec 2026 10:00 GMT": no day name, no seconds. */
	assert_int_equal(m.date_ms, 1797242400000);
	email_mime_free(&m);
	assert_int_equal(corpus("utf8_base64.eml", &m), 0);
	assert_string_equal(m.text, "Mae\xe2\x80\x99r \xc5\xb5yn yn y cae ger "
	                            "y t\xc5\xb7.\n");
	email_mime_free(&m);
	assert_int_equal(corpus("out_of_office.eml", &m), 0);
	assert_string_equal(m.text, "I am out of the office until 4 January. "
	                            "Rwyf allan o'r swyddfa tan 4 Ionawr.\n");
	email_mime_free(&m);
}

static void
test_corpus_rfc2047(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("rfc2047_welsh_emoji.eml", &m), 0);
	assert_string_equal(m.subject, "Y t\xc5\xb7 a'r d\xc5\xb5r "
	                               "\xf0\x9f\x8f\xa0 diolch =?broken?Q?x");
	assert_string_equal(m.from.name, "Gw\xc5\xb7n P\xc3\xa2rs");
	assert_string_equal(m.from.addr, "gwyn.parry@example.cymru");
	assert_int_equal(m.nto, 2);
	assert_string_equal(m.to[0].name, "Ang\xc3\xa8le");
	assert_string_equal(m.to[1].name, "Si\xc3\xb4n Wy\xc5\xb5");
	assert_int_equal(m.date_ms, 1797348000000);
	email_mime_free(&m);
}

static void
test_corpus_no_message_id(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("no_message_id.eml", &m), 0);
	assert_null(m.message_id);
	assert_null(m.in_reply_to);
	assert_int_equal(m.nreferences, 0);
	assert_string_equal(m.from.name, "Old Client");
	assert_string_equal(m.from.addr, "old.client@example.net");
	/* "16 Dec 26 09:05 EST" */
	assert_int_equal(m.date_ms, 1797429900000);
	assert_string_equal(
	        m.text, "A message from an old client with no Message-ID.\n");
	email_mime_free(&m);
}

static void
test_corpus_malformed(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("boundary_mismatch.eml", &m), 1);
	assert_int_equal(m.flags, EMAIL_MIME_PARSE_ERROR);
	assert_string_equal(m.text, "The text is still here.");
	assert_string_equal(m.problems,
	                    "multipart/mixed: the declared boundary is not in "
	                    "the body: read with the one found there\n");
	email_mime_free(&m);
	assert_int_equal(corpus("eightbit_no_charset.eml", &m), 1);
	assert_int_equal(m.flags, EMAIL_MIME_NO_CHARSET_GUESSED |
	                                  EMAIL_MIME_BYTES_REPLACED);
	assert_string_equal(m.subject, "Caf\xc3\xa9 \xc3\xbf");
	assert_string_equal(m.text, "Price \xc2\xa3"
	                            "12 \xe2\x80\x9cquoted\xe2\x80\x9d, "
	                            "invalid: " FFFD " and " FFFD " NUL.\n");
	assert_non_null(strstr(m.problems, "read as Windows-1252"));
	email_mime_free(&m);
}

/* A large attachment, generated: over the per-file cap, then over the
 * per-message cap with two that each fit. */
static void
test_attachment_caps(void **st)
{
	struct email_mime_msg m;
	struct email_mime_limits lim = {0};
	struct email_buf b = {0}, body = {0};
	const size_t big = 11u << 20;
	unsigned char h[32];
	char *raw;
	size_t i;

	(void)st;
	email_buf_adds(&b, "Content-Type: multipart/mixed; boundary=z\n\n"
	                   "--z\n\nsee attached\n--z\n"
	                   "Content-Type: application/octet-stream\n"
	                   "Content-Disposition: attachment; filename=big.bin\n"
	                   "Content-Transfer-Encoding: base64\n\n");
	for (i = 0; i < big / 3; i++)
		email_buf_add(&b, "QUJD", 4); /* "ABC" */
	email_buf_adds(&b, "\n--z--\n");
	raw = email_buf_take(&b);
	assert_int_equal(parse_lim(raw, strlen(raw), NULL, &m), 1);
	assert_int_equal(m.natt, 1);
	assert_int_equal(m.att[0].size, big / 3 * 3);
	assert_int_equal(m.att[0].over_cap, 1);
	assert_null(m.att[0].data);
	for (i = 0; i < big / 3; i++)
		email_buf_add(&body, "ABC", 3);
	crypto_hash_sha256(h, (unsigned char *)body.p, body.len);
	assert_memory_equal(h, m.att[0].sha256, 32);
	assert_true(m.flags & EMAIL_MIME_OVER_CAP);
	assert_non_null(strstr(m.problems, "attachment \"big.bin\" (11534334 "
	                                   "bytes) is over the cap: not kept"));
	assert_string_equal(m.text, "see attached");
	email_mime_free(&m);
	free(raw);
	email_buf_free(&body);

	/* Two of 6 bytes under a message cap of 10: the second over. */
	raw = "Content-Type: multipart/mixed; boundary=z\n\n--z\n"
	      "Content-Type: image/gif\n\nGIF89a\n--z\n"
	      "Content-Type: image/gif\n\nGIF87a\n--z--\n";
	lim.max_attachments = 10;
	assert_int_equal(parse_lim(raw, strlen(raw), &lim, &m), 1);
	assert_int_equal(m.natt, 2);
	assert_int_equal(m.att[0].over_cap, 0);
	assert_int_equal(m.att[1].over_cap, 1);
	assert_int_equal(m.att[1].size, 6);
	assert_string_equal(m.text, "");
	email_mime_free(&m);
	lim.max_attachments = 0;
	lim.max_attachment = 5;
	assert_int_equal(parse_lim(raw, strlen(raw), &lim, &m), 1);
	assert_int_equal(m.att[0].over_cap, 1);
	assert_int_equal(m.att[1].over_cap, 1);
	/* The same problem for both, with the same content type: once. */
	assert_string_equal(m.problems, "attachment \"image/gif\" (6 bytes) is "
	                                "over the cap: not kept\n");
	email_mime_free(&m);
}

/* Problems: one line each, at most EMAIL_MIME_PROBLEMS_MAX and a line
 * saying there were more. */
static void
test_problems_cap(void **st)
{
	struct email_mime_msg m;
	struct email_mime_limits lim = {0};
	struct email_buf b = {0};
	char line[128];
	const char *p;
	size_t i, lines = 0;
	char *raw;

	(void)st;
	email_buf_adds(&b, "Content-Type: multipart/mixed; boundary=z\n\n");
	for (i = 0; i < 40; i++) {
		snprintf(line, sizeof(line),
		         "--z\nContent-Type: image/gif; name=f%zu.gif\n\n"
		         "GIF89a\n",
		         i);
		email_buf_adds(&b, line);
	}
	email_buf_adds(&b, "--z--\n");
	raw = email_buf_take(&b);
	lim.max_attachment = 1;
	assert_int_equal(parse_lim(raw, strlen(raw), &lim, &m), 1);
	assert_int_equal(m.natt, 40);
	for (p = m.problems; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, EMAIL_MIME_PROBLEMS_MAX + 1);
	assert_non_null(strstr(m.problems, "\"f31.gif\""));
	assert_null(strstr(m.problems, "\"f32.gif\""));
	assert_non_null(strstr(m.problems, "\nmore problems not listed\n"));
	email_mime_free(&m);
	free(raw);
}

/* ---- email_mime.c: DSN ---- */

static void
test_corpus_dsn(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("dsn.eml", &m), 0);
	assert_int_equal(m.is_report, 1);
	assert_string_equal(m.report_type, "delivery-status");
	assert_string_equal(m.return_path, "");
	assert_string_equal(m.from.addr,
	                    "MAILER-DAEMON@mx.denbighshire.gov.uk");
	assert_int_equal(m.ndsn, 2);
	assert_string_equal(m.dsn[0].final_recipient,
	                    "no.such.person@example.com");
	assert_string_equal(m.dsn[0].original_recipient,
	                    "no.such.person@example.com");
	assert_string_equal(m.dsn[0].action, "failed");
	assert_string_equal(m.dsn[0].status, "5.1.1");
	assert_string_equal(m.dsn[0].diagnostic_code,
	                    "smtp; 550 5.1.1 User unknown");
	assert_string_equal(m.dsn[1].final_recipient, "slow@example.net");
	assert_null(m.dsn[1].original_recipient);
	assert_string_equal(m.dsn[1].action, "delayed");
	assert_string_equal(m.dsn[1].status, "4.4.1");
	assert_string_equal(
	        m.dsn[1].diagnostic_code,
	        "X-Postfix; connect to mx.example.net[192.0.2.20]:25: "
	        "Connection timed out");
	assert_string_equal(m.dsn_original_envelope_id, "sb-outbox-9931");
	assert_string_equal(m.dsn_original_message_id,
	                    "sb.1042.7@denbighshire.gov.uk");
	assert_true(strncmp(m.text, "This is the mail system at host", 31) ==
	            0);
	/* The returned headers are an attachment; the status is not. */
	assert_int_equal(m.natt, 1);
	assert_string_equal(m.att[0].content_type, "text/rfc822-headers");
	assert_non_null(email_mime_no_autoreply(&m, NULL, 0));
	email_mime_free(&m);
}

static void
test_dsn_rfc822_returned(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(
	        parse("Content-Type: multipart/report; "
	              "report-type=\"Delivery-Status\"; boundary=r\n\n"
	              "--r\n\nfailed\n--r\nContent-Type: "
	              "message/delivery-status"
	              "\n\nReporting-MTA: dns; x\n\nFinal-Recipient: "
	              "RFC822;A@X.ORG\nAction: FAILED\nStatus: 5.0.0\n\n--r\n"
	              "Content-Type: message/rfc822\n\nMessage-ID: "
	              "<orig@us>\nSubject: x\n\nbody\n--r--\n",
	              &m),
	        0);
	assert_int_equal(m.ndsn, 1);
	assert_string_equal(m.dsn[0].final_recipient, "A@X.ORG");
	assert_string_equal(m.dsn[0].action, "failed");
	assert_null(m.dsn[0].diagnostic_code);
	assert_null(m.dsn_original_envelope_id);
	assert_string_equal(m.dsn_original_message_id, "orig@us");
	email_mime_free(&m);
	/* Another report type: no DSN read. */
	assert_int_equal(parse("Content-Type: multipart/report; "
	                       "report-type=disposition-notification; "
	                       "boundary=r\n\n--r\n\nread\n--r--\n",
	                       &m),
	                 0);
	assert_int_equal(m.is_report, 1);
	assert_string_equal(m.report_type, "disposition-notification");
	assert_int_equal(m.ndsn, 0);
	email_mime_free(&m);
}

/* ---- email_mime.c: RFC 3834 ---- */

static const char *
why_not(const char *raw)
{
	static char buf[128];
	struct email_mime_msg m;
	static const char *const ours[] = {"contact@denbighshire.gov.uk"};
	const char *r;

	parse(raw, &m);
	r = email_mime_no_autoreply(&m, ours, 1);
	snprintf(buf, sizeof(buf), "%s", r ? r : "");
	email_mime_free(&m);
	return r ? buf : NULL;
}

static void
test_autoreply_rules(void **st)
{
	(void)st;
	assert_null(why_not("From: a@b.org\n\nhi"));
	assert_null(why_not("From: a@b.org\nAuto-Submitted: no\n\nhi"));
	assert_null(why_not("From: a@b.org\nAuto-Submitted: No (x)\n\nhi"));
	assert_string_equal(why_not("From: a@b.org\nAuto-Submitted: "
	                            "auto-replied\n\nhi"),
	                    "Auto-Submitted is not \"no\"");
	assert_non_null(why_not("From: a@b.org\nAuto-Submitted: "
	                        "auto-generated; owner-email=x\n\n"));
	assert_string_equal(why_not("Return-Path: <>\nFrom: a@b.org\n\n"),
	                    "empty return path (a bounce)");
	assert_non_null(why_not("Return-Path: < >\nFrom: a@b.org\n\n"));
	assert_null(why_not("Return-Path: <a@b.org>\nFrom: a@b.org\n\n"));
	assert_non_null(why_not("From: a@b.org\nPrecedence: bulk\n\n"));
	assert_non_null(why_not("From: a@b.org\nPrecedence: JUNK\n\n"));
	assert_non_null(why_not("From: a@b.org\nPrecedence: list\n\n"));
	assert_non_null(why_not("From: a@b.org\nPrecedence: auto_reply\n\n"));
	assert_null(why_not("From: a@b.org\nPrecedence: first-class\n\n"));
	assert_null(why_not("From: a@b.org\nX-Auto-Response-Suppress: "
	                    "None\n\n"));
	assert_string_equal(why_not("From: a@b.org\nList-Unsubscribe: "
	                            "<mailto:x>\n\n"),
	                    "a List-* header (a mailing list)");
	assert_non_null(why_not("From: a@b.org\nlist-id: <x>\n\n"));
	assert_non_null(why_not("From: a@b.org\nX-Auto-Response-Suppress: "
	                        "All\n\n"));
	assert_non_null(why_not("From: a@b.org\nX-Auto-Response-Suppress: "
	                        "OOF, AutoReply\n\n"));
	assert_non_null(why_not("From: a@b.org\nX-Autoreply: yes\n\n"));
	assert_non_null(why_not("From: a@b.org\nX-Autorespond: x\n\n"));
	assert_string_equal(why_not("From: a@b.org\nContent-Type: "
	                            "multipart/report; boundary=x\n\n"),
	                    "Content-Type: multipart/report");
	assert_string_equal(why_not("From: Contact "
	                            "<CONTACT@denbighshire.gov.uk>\n\n"),
	                    "the sender is one of our own addresses");
	assert_non_null(why_not("From: MAILER-DAEMON@x.org\n\n"));
	assert_non_null(why_not("From: postmaster@x.org\n\n"));
	assert_non_null(why_not("From: noreply@x.org\n\n"));
	assert_non_null(why_not("From: No-Reply@x.org\n\n"));
	assert_non_null(why_not("From: cymuned-request@lists.x.org\n\n"));
	assert_non_null(why_not("From: owner-cymuned@lists.x.org\n\n"));
	assert_null(why_not("From: noreplyer@x.org\n\n"));
	assert_null(why_not("From: request@x.org\n\n"));
	assert_non_null(why_not("From: a@b.org\nSender: owner-l@x.org\n\n"));
	assert_non_null(why_not("Return-Path: <postmaster@x>\nFrom: a@b\n\n"));
	assert_string_equal(why_not("Subject: none\n\n"), "no From address");
}

static void
test_autoreply_corpus(void **st)
{
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(corpus("out_of_office.eml", &m), 0);
	assert_string_equal(m.auto_submitted, "auto-generated");
	assert_string_equal(m.x_auto_response_suppress, "All");
	assert_string_equal(email_mime_no_autoreply(&m, NULL, 0),
	                    "Auto-Submitted is not \"no\"");
	email_mime_free(&m);
	assert_int_equal(corpus("mailing_list.eml", &m), 0);
	assert_int_equal(m.has_list_headers, 1);
	assert_string_equal(m.precedence, "list");
	assert_string_equal(m.sender.addr, "news-bounces@lists.example.org");
	assert_non_null(email_mime_no_autoreply(&m, NULL, 0));
	email_mime_free(&m);
}

/* ---- hostile input ---- */

static void
test_hostile_nul(void **st)
{
	static const char raw[] = "Subject: a\0b\nFrom: \0<x@y>\n"
	                          "Content-Type: text/plain; charset=utf-8\n\n"
	                          "x\0y";
	struct email_mime_msg m;

	(void)st;
	assert_int_equal(parse_lim(raw, sizeof(raw) - 1, NULL, &m), 1);
	assert_string_equal(m.subject, "a b");
	assert_string_equal(m.from.addr, "x@y");
	assert_string_equal(m.text, "x" FFFD "y");
	email_mime_free(&m);
}

static void
test_hostile_huge_header(void **st)
{
	struct email_buf b = {0};
	struct email_mime_msg m;
	char *raw;
	size_t i;

	(void)st;
	/* A 1 MB Subject line: cut at EMAIL_MIME_HEADER_MAX. */
	email_buf_adds(&b, "Subject: ");
	for (i = 0; i < (1u << 20) / 16; i++)
		email_buf_adds(&b, "=?UTF-8?Q?=C5?= ");
	email_buf_adds(&b, "\nFrom: a@b\n\nbody");
	raw = email_buf_take(&b);
	assert_int_equal(parse(raw, &m), 1);
	assert_true(m.flags & EMAIL_MIME_TRUNCATED);
	assert_true(m.flags & EMAIL_MIME_BYTES_REPLACED);
	assert_true(strlen(m.subject) <= EMAIL_MIME_HEADER_MAX * 3);
	assert_string_equal(m.from.addr, "a@b");
	assert_string_equal(m.text, "body");
	email_mime_free(&m);
	free(raw);

	/* 5,000 header fields: the first EMAIL_MIME_HEADERS_MAX read. */
	for (i = 0; i < 5000; i++)
		email_buf_adds(&b, "X-Filler: 1\n");
	email_buf_adds(&b, "Subject: late\n\nbody");
	raw = email_buf_take(&b);
	assert_int_equal(parse(raw, &m), 1);
	assert_null(m.subject);
	assert_true(m.flags & EMAIL_MIME_TRUNCATED);
	assert_string_equal(m.text, "body");
	email_mime_free(&m);
	free(raw);

	/* 100,000 References: the first and the last 99. */
	email_buf_adds(&b, "References:");
	for (i = 0; i < 100000; i++) {
		char id[32];
		snprintf(id, sizeof(id), " <%zu@x>", i);
		email_buf_adds(&b, id);
	}
	email_buf_adds(&b, "\n\n");
	raw = email_buf_take(&b);
	assert_int_equal(parse(raw, &m), 1); /* the header was cut */
	assert_int_equal(m.nreferences, EMAIL_MIME_REFERENCES_MAX);
	assert_string_equal(m.references[0], "0@x");
	email_mime_free(&m);
	free(raw);
}

static void
test_hostile_bytes(void **st)
{
	struct email_mime_msg m;
	unsigned char raw[4096];
	unsigned seed = 12345;
	size_t i, round;

	(void)st;
	/* Random bytes behind a MIME skeleton: never fails, always UTF-8. */
	for (round = 0; round < 200; round++) {
		static const char head[] = "Content-Type: multipart/mixed; "
		                           "boundary=q\n\n--q\n";
		memcpy(raw, head, sizeof(head) - 1);
		for (i = sizeof(head) - 1; i < sizeof(raw); i++) {
			seed = seed * 1103515245 + 12345;
			raw[i] = (unsigned char)(seed >> 16);
			if (raw[i] % 17 == 0)
				raw[i] = '\n';
		}
		email_mime_parse(raw, sizeof(raw), NULL, &m);
		msg_ok(&m);
		email_mime_free(&m);
	}
}

int
main(void)
{
	const struct CMUnitTest decode[] = {
	        cmocka_unit_test(test_base64),
	        cmocka_unit_test(test_qp),
	};
	const struct CMUnitTest charset[] = {
	        cmocka_unit_test(test_charsets),
	        cmocka_unit_test(test_charset_utf8_and_guess),
	};
	const struct CMUnitTest header[] = {
	        cmocka_unit_test(test_header_block),
	        cmocka_unit_test(test_rfc2047),
	        cmocka_unit_test(test_addresses),
	        cmocka_unit_test(test_ids),
	        cmocka_unit_test(test_date),
	        cmocka_unit_test(test_params),
	};
	const struct CMUnitTest html[] = {
	        cmocka_unit_test(test_html_text),
	        cmocka_unit_test(test_html_sanitise),
	        cmocka_unit_test(test_html_deep),
	};
	const struct CMUnitTest mime[] = {
	        cmocka_unit_test(test_simple),
	        cmocka_unit_test(test_empty_and_garbage),
	        cmocka_unit_test(test_multipart_shapes),
	        cmocka_unit_test(test_depth_cap),
	        cmocka_unit_test(test_part_cap),
	        cmocka_unit_test(test_text_cap),
	        cmocka_unit_test(test_attachment_caps),
	        cmocka_unit_test(test_problems_cap),
	};
	const struct CMUnitTest corpus_tests[] = {
	        cmocka_unit_test(test_corpus_outlook),
	        cmocka_unit_test(test_corpus_gmail),
	        cmocka_unit_test(test_corpus_apple),
	        cmocka_unit_test(test_corpus_html_only),
	        cmocka_unit_test(test_corpus_inline_images),
	        cmocka_unit_test(test_corpus_rfc2231),
	        cmocka_unit_test(test_corpus_winmail),
	        cmocka_unit_test(test_corpus_charsets),
	        cmocka_unit_test(test_corpus_rfc2047),
	        cmocka_unit_test(test_corpus_no_message_id),
	        cmocka_unit_test(test_corpus_malformed),
	};
	const struct CMUnitTest dsn[] = {
	        cmocka_unit_test(test_corpus_dsn),
	        cmocka_unit_test(test_dsn_rfc822_returned),
	};
	const struct CMUnitTest autoreply[] = {
	        cmocka_unit_test(test_autoreply_rules),
	        cmocka_unit_test(test_autoreply_corpus),
	};
	const struct CMUnitTest hostile[] = {
	        cmocka_unit_test(test_hostile_nul),
	        cmocka_unit_test(test_hostile_huge_header),
	        cmocka_unit_test(test_hostile_bytes),
	};
	int failed = 0;

	failed +=
	        cmocka_run_group_tests_name("email_decode", decode, NULL, NULL);
	failed += cmocka_run_group_tests_name("email_charset", charset, NULL,
	                                      NULL);
	failed += cmocka_run_group_tests_name("email_mime_header", header, NULL,
	                                      NULL);
	failed += cmocka_run_group_tests_name("email_html", html, NULL, NULL);
	failed += cmocka_run_group_tests_name("email_mime", mime, NULL, NULL);
	failed += cmocka_run_group_tests_name("email_mime corpus", corpus_tests,
	                                      NULL, NULL);
	failed +=
	        cmocka_run_group_tests_name("email_mime dsn", dsn, NULL, NULL);
	failed += cmocka_run_group_tests_name("email_mime rfc3834", autoreply,
	                                      NULL, NULL);
	failed += cmocka_run_group_tests_name("email_mime hostile", hostile,
	                                      NULL, NULL);
	return failed != 0;
}
