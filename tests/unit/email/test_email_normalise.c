/*
 * test_email_normalise.c: a parsed mail into what ingest takes
 * (channels/email/email_normalise.c): our reference in a subject (check
 * digit, standing alone), per-request relay addresses, the sender's
 * identity and name, thread keys to find (In-Reply-To, then References
 * newest first) and to add (Message-ID, the relay address), the RFC 3834
 * and delivery-report verdicts, and metadata that stays a JSON object
 * under ingest's cap whatever the mail holds. Corpus files are read from
 * tests/data/email/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "email_mime.h"
#include "email_normalise.h"
#include "ingest.h"
#include "xmalloc.h"

static const char *const OURS[] = {"contact@denbighshire.gov.uk"};

static void
from_raw(const char *raw, size_t len, struct email_mime_msg *m,
         struct email_normal *n)
{
	email_mime_parse((const unsigned char *)raw, len, NULL, m);
	email_normalise(m, OURS, 1, n);
}

static void
from_corpus(const char *name, struct email_mime_msg *m, struct email_normal *n)
{
	const char *src = getenv("SWITCHBOARD_SRC");
	char path[1024], *buf;
	size_t len;
	long size;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/data/email/%s", src ? src : ".",
	         name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)size + 1);
	len = fread(buf, 1, (size_t)size, f);
	fclose(f);
	from_raw(buf, len, m, n);
	free(buf);
}

/* The metadata, loaded (the caller decrefs). */
static json_t *
meta(const struct email_normal *n)
{
	json_t *j;

	assert_true(strlen(n->metadata) < INGEST_METADATA_MAX);
	j = json_loads(n->metadata, 0, NULL);
	assert_true(json_is_object(j));
	return j;
}

static void
test_reference(void **st)
{
	char r[40];

	(void)st;
	assert_int_equal(email_normal_reference("RE: Your enquiry [SB100057]"
	                                        " - bins",
	                                        r, sizeof(r)),
	                 1);
	assert_string_equal(r, "SB100057");
	assert_int_equal(email_normal_reference("sb100057 again", r, sizeof(r)),
	                 1);
	assert_string_equal(r, "SB100057");
	assert_int_equal(email_normal_reference("SB12344", r, sizeof(r)), 1);
	/* A wrong check digit, glued on either side, too short, ours only. */
	assert_int_equal(email_normal_reference("SB100058", r, sizeof(r)), 0);
	assert_string_equal(r, "");
	assert_int_equal(email_normal_reference("XSB100057", r, sizeof(r)), 0);
	assert_int_equal(email_normal_reference("SB100057X", r, sizeof(r)), 0);
	assert_int_equal(email_normal_reference("SB1", r, sizeof(r)), 0);
	assert_int_equal(email_normal_reference("[SB-1042]", r, sizeof(r)), 0);
	assert_int_equal(email_normal_reference("FOI-2026-00042", r, sizeof(r)),
	                 0);
	assert_int_equal(email_normal_reference(NULL, r, sizeof(r)), 0);
	/* The first good one. */
	assert_int_equal(
	        email_normal_reference("SB100058 SB422 SB12344", r, sizeof(r)),
	        1);
	assert_string_equal(r, "SB422");
	/* Too long for out: not found rather than cut. */
	assert_int_equal(email_normal_reference("SB100057", r, 5), 0);
}

static void
test_relay(void **st)
{
	(void)st;
	assert_true(email_normal_is_relay(
	        "request-12345-abcd1234@whatdotheyknow.com"));
	assert_true(email_normal_is_relay("REQUEST-1-ABCDEF12@example.org"));
	assert_false(email_normal_is_relay("request-12345-abcd123@x.org"));
	assert_false(email_normal_is_relay("request--abcd1234@x.org"));
	assert_false(email_normal_is_relay("request-1-abcd1234@"));
	assert_false(email_normal_is_relay("request-1-abcd1234@a@b"));
	assert_false(email_normal_is_relay("request-1-abcd12345@x.org"));
	assert_false(email_normal_is_relay("resident@example.org"));
	assert_false(email_normal_is_relay(NULL));
}

static void
test_outlook_reply(void **st)
{
	struct email_mime_msg m;
	struct email_normal n;
	json_t *j;

	(void)st;
	from_corpus("outlook_reply.eml", &m, &n);
	assert_true(n.has_id);
	assert_string_equal(n.id.value, "sian.roberts@outlook.com");
	assert_string_equal(n.name, "Sian Roberts");
	assert_non_null(strstr(n.subject, "bin collection"));
	assert_true(n.nfind >= 1);
	assert_string_equal(n.find[0],
	                    "msgid:sb.1042.1.ack@denbighshire.gov.uk");
	assert_int_equal(n.nadd, 1);
	assert_int_equal(strncmp(n.add[0], "msgid:AM9PR03MB7121", 19), 0);
	assert_null(n.no_autoreply);
	assert_false(n.bounce);
	j = meta(&n);
	assert_string_equal(
	        json_string_value(json_object_get(
	                json_object_get(json_object_get(j, "email"), "from"),
	                "address")),
	        "sian.roberts@outlook.com");
	assert_true(json_is_array(json_object_get(j, "attachments")));
	json_decref(j);
	email_normal_free(&n);
	email_mime_free(&m);
}

static void
test_automatic_and_bounce(void **st)
{
	struct email_mime_msg m;
	struct email_normal n;
	json_t *j, *r;

	(void)st;
	from_corpus("out_of_office.eml", &m, &n);
	assert_non_null(n.no_autoreply);
	assert_false(n.bounce);
	email_normal_free(&n);
	email_mime_free(&m);

	from_corpus("dsn.eml", &m, &n);
	assert_true(n.bounce);
	assert_non_null(n.no_autoreply);
	j = meta(&n);
	r = json_object_get(json_object_get(j, "email"), "delivery_report");
	assert_true(json_array_size(r) >= 1);
	assert_int_equal(strncmp(json_string_value(json_object_get(
	                                 json_array_get(r, 0), "status")),
	                         "5.", 2),
	                 0);
	json_decref(j);
	email_normal_free(&n);
	email_mime_free(&m);
}

static void
test_relay_and_references(void **st)
{
	static const char raw[] =
	        "From: WhatDoTheyKnow <request-12345-abcd1234@"
	        "whatdotheyknow.com>\r\n"
	        "To: foi@denbighshire.gov.uk\r\n"
	        "Subject: Re: Freedom of Information request [SB100057]\r\n"
	        "Message-ID: <new@wdtk>\r\n"
	        "In-Reply-To: <b@ours>\r\n"
	        "References: <a@ours> <b@ours> <c@ours>\r\n"
	        "\r\n"
	        "Thank you.\r\n";
	struct email_mime_msg m;
	struct email_normal n;

	(void)st;
	from_raw(raw, sizeof(raw) - 1, &m, &n);
	assert_string_equal(n.reference, "SB100057");
	/* In-Reply-To first, then References newest first, no repeats. */
	assert_string_equal(n.find[0], "msgid:b@ours");
	assert_string_equal(n.find[1], "msgid:c@ours");
	assert_string_equal(n.find[2], "msgid:a@ours");
	assert_string_equal(n.find[3],
	                    "relay:request-12345-abcd1234@whatdotheyknow.com");
	assert_int_equal(n.nfind, 4);
	assert_int_equal(n.nadd, 2);
	assert_string_equal(n.add[0],
	                    "relay:request-12345-abcd1234@whatdotheyknow.com");
	assert_string_equal(n.add[1], "msgid:new@wdtk");
	/* The mail's last line end is not part of the message. */
	assert_string_equal(n.body, "Thank you.");
	email_normal_free(&n);
	email_mime_free(&m);
}

static void
test_no_sender_no_subject(void **st)
{
	static const char raw[] = "To: x@y.org\r\n\r\nHello\r\n";
	struct email_mime_msg m;
	struct email_normal n;
	json_t *j;

	(void)st;
	from_raw(raw, sizeof(raw) - 1, &m, &n);
	assert_false(n.has_id);
	assert_null(n.name);
	assert_string_equal(n.subject, "(no subject)");
	assert_int_equal(n.nadd, 0);
	assert_int_equal(n.nfind, 0);
	/* Nobody to answer: no acknowledgement either. */
	assert_non_null(n.no_autoreply);
	j = meta(&n);
	json_decref(j);
	email_normal_free(&n);
	email_mime_free(&m);
}

/* 400 recipients and 100 attachments with long names: cut, still JSON. */
static void
test_metadata_cap(void **st)
{
	struct email_mime_msg m;
	struct email_normal n;
	size_t cap = 1024 * 1024, len = 0, i;
	char *raw = xmalloc(cap);
	json_t *j, *e;

	(void)st;
	len += (size_t)snprintf(raw + len, cap - len,
	                        "From: a@b.org\r\nSubject: big\r\nTo: ");
	for (i = 0; i < 400; i++)
		len += (size_t)snprintf(raw + len, cap - len,
		                        "%s\"Person %zu with a longish name\" "
		                        "<person%zu@example.org>",
		                        i ? ",\r\n " : "", i, i);
	len += (size_t)snprintf(raw + len, cap - len,
	                        "\r\nMIME-Version: 1.0\r\nContent-Type: "
	                        "multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
	                        "Content-Type: text/plain\r\n\r\nbody\r\n");
	for (i = 0; i < 100; i++) {
		len += (size_t)snprintf(raw + len, cap - len,
		                        "--XX\r\nContent-Type: application/pdf;"
		                        " name=\"");
		memset(raw + len, 'n', 600);
		len += 600;
		len += (size_t)snprintf(raw + len, cap - len,
		                        "%zu.pdf\"\r\n\r\nJVBERi0=\r\n", i);
	}
	len += (size_t)snprintf(raw + len, cap - len, "--XX--\r\n");
	from_raw(raw, len, &m, &n);
	free(raw);
	j = meta(&n);
	e = json_object_get(j, "email");
	/* Recipients went first; attachments were cut and counted. */
	assert_null(json_object_get(e, "to"));
	assert_true(json_array_size(json_object_get(j, "attachments")) < 100);
	assert_true(json_integer_value(
	                    json_object_get(e, "attachments_not_listed")) > 0);
	json_decref(j);
	email_normal_free(&n);
	email_mime_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_reference),
	        cmocka_unit_test(test_relay),
	        cmocka_unit_test(test_outlook_reply),
	        cmocka_unit_test(test_automatic_and_bounce),
	        cmocka_unit_test(test_relay_and_references),
	        cmocka_unit_test(test_no_sender_no_subject),
	        cmocka_unit_test(test_metadata_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
