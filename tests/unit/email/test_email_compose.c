/*
 * test_email_compose.c: outgoing messages as RFC 5322 bytes
 * (channels/email/email_compose.c), each read back by our own parser
 * (email_mime.c): ASCII and Welsh and emoji subjects and names (RFC 2047,
 * lines under 78), threading headers, Auto-Submitted, a quoted-printable
 * body that comes back byte for byte (long lines, trailing spaces, '=',
 * CRLF, lone CR); a subject carrying CR LF adds no header; bad addresses,
 * ids and text refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "email_compose.h"
#include "email_mime.h"

static struct email_compose
base(void)
{
	struct email_compose c;

	memset(&c, 0, sizeof(c));
	c.from_name = "Denbighshire County Council";
	c.from_addr = "contact@denbighshire.gov.uk";
	c.to_addr = "sian.roberts@example.org";
	c.subject = "Your enquiry SB100057";
	c.message_id = "sb.100057.2@denbighshire.gov.uk";
	c.date_ms = 1796665200000LL; /* Mon, 07 Dec 2026 ... */
	c.text = "Thank you for your message.\n";
	return c;
}

/* Every line of m ends in CRLF and is at most max characters. */
static void
lines_within(const char *m, size_t len, size_t max)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		if (m[i] == '\r') {
			assert_true(i + 1 < len && m[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_true(m[i] != '\n');
		col++;
		if (col > max)
			fail_msg("line over %zu at byte %zu", max, i);
	}
}

/* The body (after the blank line) is strict quoted-printable: every '='
 * starts =XX (upper-case hex) or a soft break; only printable ASCII. */
static void
qp_strict(const char *m)
{
	const char *p = strstr(m, "\r\n\r\n");

	assert_non_null(p);
	for (p += 4; *p != '\0'; p++) {
		if (*p == '=') {
			if (p[1] == '\r' && p[2] == '\n')
				continue;
			if (!strchr("0123456789ABCDEF", p[1]) || p[1] == '\0' ||
			    !strchr("0123456789ABCDEF", p[2]) || p[2] == '\0')
				fail_msg("a bare '=' in the body: %.20s", p);
		} else if (*p != '\r' && *p != '\n' &&
		           (*p < 0x20 || *p > 0x7e) && *p != '\t') {
			fail_msg("a raw byte 0x%02x in the body",
			         (unsigned char)*p);
		}
	}
}

static char *
compose_ok(const struct email_compose *c, size_t *len)
{
	const char *why = NULL;
	char *m = email_compose(c, len, &why);

	if (m == NULL)
		fail_msg("refused: %s", why);
	lines_within(m, *len, 78);
	qp_strict(m);
	return m;
}

static void
parse(const char *m, size_t len, struct email_mime_msg *p)
{
	email_mime_parse((const unsigned char *)m, len, NULL, p);
}

static void
test_ascii(void **st)
{
	struct email_compose c = base();
	const char *refs[] = {"a@x", "b@y"};
	struct email_mime_msg p;
	size_t len;
	char *m;

	(void)st;
	c.in_reply_to = "b@y";
	c.references = refs;
	c.nreferences = 2;
	c.auto_submitted = "auto-replied";
	m = compose_ok(&c, &len);
	assert_non_null(strstr(m, "Date: Mon, 07 Dec 2026 "));
	assert_non_null(strstr(m, "Auto-Submitted: auto-replied\r\n"));
	parse(m, len, &p);
	assert_int_equal(p.flags, 0);
	assert_string_equal(p.from.name, "Denbighshire County Council");
	assert_string_equal(p.from.addr, "contact@denbighshire.gov.uk");
	assert_int_equal(p.nto, 1);
	assert_string_equal(p.to[0].addr, "sian.roberts@example.org");
	assert_string_equal(p.subject, "Your enquiry SB100057");
	assert_string_equal(p.message_id, "sb.100057.2@denbighshire.gov.uk");
	assert_string_equal(p.in_reply_to, "b@y");
	assert_int_equal(p.nreferences, 2);
	assert_string_equal(p.references[1], "b@y");
	assert_string_equal(p.auto_submitted, "auto-replied");
	assert_true(p.date_ms / 1000 == c.date_ms / 1000);
	assert_string_equal(p.text, "Thank you for your message.\n");
	email_mime_free(&p);
	free(m);
}

static void
test_welsh_and_long(void **st)
{
	struct email_compose c = base();
	struct email_mime_msg p;
	char subject[2048] = "";
	size_t len, i;
	char *m;

	(void)st;
	c.from_name = "Cyngor Sir Ddinbych – Gwasanaethau";
	for (i = 0; i < 20; i++)
		strcat(subject, "Eich ymholiad ŵ ŷ 😀 ");
	strcat(subject, "end");
	c.subject = subject;
	m = compose_ok(&c, &len);
	/* No raw 8-bit byte anywhere: headers encoded, body QP. */
	for (i = 0; i < len; i++)
		assert_true((unsigned char)m[i] < 0x80);
	parse(m, len, &p);
	assert_string_equal(p.subject, subject);
	assert_string_equal(p.from.name, c.from_name);
	email_mime_free(&p);
	free(m);
}

static void
test_body_round_trip(void **st)
{
	struct email_compose c = base();
	struct email_mime_msg p;
	char body[4096], longline[173];
	size_t len;
	char *m;

	(void)st;
	/* 172 characters: quoted-printable must break it with soft breaks. */
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	snprintf(body, sizeof(body),
	         "Line with = signs == and a trailing space \n"
	         "A very long line %s\n"
	         "Tab at end\t\n"
	         "Welsh: ŵŷâ – and 😀\r\n"
	         ".\n"
	         "..dots\n"
	         "From the start\n"
	         "last line without a break",
	         longline);
	c.text = body;
	m = compose_ok(&c, &len);
	parse(m, len, &p);
	/* Back exactly, LF line ends (the parser's). */
	assert_non_null(strstr(p.text, "Line with = signs == and a trailing "
	                               "space \nA very long line xxx"));
	assert_non_null(strstr(p.text, "Tab at end\t\nWelsh: ŵŷâ – and 😀\n"
	                               ".\n..dots\nFrom the start\n"
	                               "last line without a break"));
	email_mime_free(&p);
	free(m);
}

static void
test_no_header_injection(void **st)
{
	struct email_compose c = base();
	struct email_mime_msg p;
	size_t len;
	char *m;

	(void)st;
	c.subject = "Re: your form\r\nBcc: victim@example.org\r\nX: y";
	c.from_name = "Council\r\nBcc: other@example.org";
	m = compose_ok(&c, &len);
	assert_null(strstr(m, "\r\nBcc:"));
	parse(m, len, &p);
	assert_int_equal(p.nto, 1);
	assert_int_equal(p.ncc, 0);
	assert_non_null(strstr(p.subject, "Bcc: victim@example.org"));
	email_mime_free(&p);
	free(m);
}

static void
test_refused(void **st)
{
	static const char *const bad_addr[] = {"a@b@c",
	                                       "<a@b.org>",
	                                       "a b@c.org",
	                                       "a@b.org\r\nBcc: x@y.org",
	                                       "@b.org",
	                                       "a@",
	                                       "",
	                                       "a\"b@c.org",
	                                       "ŵ@example.org"};
	static const char *const bad_id[] = {"no-at-sign", "a@b c", "<a@b>",
	                                     "a@b\r\nX: y", ""};
	struct email_compose c;
	const char *why;
	size_t len, i;

	(void)st;
	for (i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
		c = base();
		c.to_addr = bad_addr[i];
		why = NULL;
		if (email_compose(&c, &len, &why) != NULL)
			fail_msg("address %s taken", bad_addr[i]);
		assert_non_null(why);
	}
	for (i = 0; i < sizeof(bad_id) / sizeof(bad_id[0]); i++) {
		c = base();
		c.message_id = bad_id[i];
		assert_null(email_compose(&c, &len, &why));
	}
	c = base();
	c.text = "bad \xff byte";
	assert_null(email_compose(&c, &len, &why));
	c = base();
	c.auto_submitted = "yes";
	assert_null(email_compose(&c, &len, &why));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ascii),
	        cmocka_unit_test(test_welsh_and_long),
	        cmocka_unit_test(test_body_round_trip),
	        cmocka_unit_test(test_no_header_injection),
	        cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
