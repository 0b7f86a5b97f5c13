/*
 * test_form_parse.c: web-form submissions (channels/form/form_parse.c)
 * case by case: a full and a minimal one, optional keys null or empty,
 * identities normalised (and a bad one refused naming its field), the
 * fields' order and caps, every refusal code with its field and index,
 * unknown keys, and hostile bodies (not JSON, NULs, duplicate keys,
 * control characters, invalid UTF-8). RFC 3339 times to UTC ms. Pure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "form_parse.h"
#include "xmalloc.h"

static int
parse(const char *body, struct form_sub *sub, struct form_error *err)
{
	return form_parse(body, strlen(body), sub, err);
}

/* Asserts body is refused with code, field (NULL: none) and index. */
static void
refused(const char *body, const char *code, const char *field, long index)
{
	struct form_sub sub;
	struct form_error err;

	memset(&err, 0, sizeof(err));
	if (parse(body, &sub, &err) == 0) {
		print_error("accepted: %s\n", body);
		fail();
	}
	assert_null(sub.root);
	assert_string_equal(err.code, code);
	if (field == NULL)
		assert_null(err.field);
	else
		assert_string_equal(err.field, field);
	assert_int_equal(err.index, index);
	assert_non_null(err.why);
	assert_true(strlen(err.why) > 0);
}

static void
test_full(void **st)
{
	struct form_sub sub;
	struct form_error err;

	(void)st;
	assert_int_equal(
	        parse("{\"submission_id\":\"abc-123\","
	              "\"submitted_at\":\"2026-12-07T09:30:00.250+01:00\","
	              "\"form\":\"Report a missed bin\","
	              "\"subject\":\"Missed bin, 1 High St\","
	              "\"name\":\"Ada Lovelace\","
	              "\"email\":\"  Ada@Example.ORG \","
	              "\"phone\":\"07700 900123\",\"uprn\":\"100023336956\","
	              "\"fields\":[{\"label\":\"Street\",\"value\":\"1 High "
	              "St\"},{\"label\":\"Bin\",\"value\":"
	              "\"Green\\nrecycling\","
	              "\"extra\":1},{\"label\":\"Notes\",\"value\":\"\"}],"
	              "\"platform_version\":7}",
	              &sub, &err),
	        0);
	assert_string_equal(sub.submission_id, "abc-123");
	/* 2026-12-07T08:30:00.250Z */
	assert_true(sub.submitted_ms == 1796632200250LL);
	assert_string_equal(sub.title, "Report a missed bin");
	assert_string_equal(sub.subject, "Missed bin, 1 High St");
	assert_string_equal(sub.name, "Ada Lovelace");
	assert_int_equal(sub.nids, 3);
	assert_int_equal(sub.ids[0].kind, IDENTITY_EMAIL);
	assert_string_equal(sub.ids[0].value, "ada@example.org");
	assert_int_equal(sub.ids[1].kind, IDENTITY_PHONE);
	assert_string_equal(sub.ids[1].value, "+447700900123");
	assert_int_equal(sub.ids[2].kind, IDENTITY_UPRN);
	assert_string_equal(sub.ids[2].value, "100023336956");
	assert_int_equal(sub.nfields, 3);
	assert_string_equal(sub.fields[0].label, "Street");
	assert_string_equal(sub.fields[0].value, "1 High St");
	assert_string_equal(sub.fields[1].label, "Bin");
	assert_string_equal(sub.fields[1].value, "Green\nrecycling");
	assert_string_equal(sub.fields[2].label, "Notes");
	assert_string_equal(sub.fields[2].value, "");
	form_sub_clear(&sub);
	assert_null(sub.root);
	form_sub_clear(&sub);
	form_sub_clear(NULL);
}

static void
test_minimal_and_absent(void **st)
{
	struct form_sub sub;
	struct form_error err;

	(void)st;
	assert_int_equal(
	        parse("{\"submission_id\":\"x\",\"fields\":[]}", &sub, &err),
	        0);
	assert_string_equal(sub.submission_id, "x");
	assert_true(sub.submitted_ms == -1);
	assert_null(sub.title);
	assert_null(sub.subject);
	assert_null(sub.name);
	assert_int_equal(sub.nids, 0);
	assert_int_equal(sub.nfields, 0);
	form_sub_clear(&sub);
	/* null and "" count as absent for the optional keys */
	assert_int_equal(
	        parse("{\"submission_id\":\"y\",\"fields\":[],\"form\":null,"
	              "\"subject\":\"\",\"name\":null,\"email\":\"\","
	              "\"phone\":null,\"uprn\":\"\",\"submitted_at\":null}",
	              &sub, &err),
	        0);
	assert_null(sub.title);
	assert_null(sub.subject);
	assert_int_equal(sub.nids, 0);
	assert_true(sub.submitted_ms == -1);
	form_sub_clear(&sub);
	/* only a phone: it is ids[0] */
	assert_int_equal(parse("{\"submission_id\":\"z\",\"fields\":[],"
	                       "\"phone\":\"+44 20 7946 0018\"}",
	                       &sub, &err),
	                 0);
	assert_int_equal(sub.nids, 1);
	assert_int_equal(sub.ids[0].kind, IDENTITY_PHONE);
	assert_string_equal(sub.ids[0].value, "+442079460018");
	form_sub_clear(&sub);
}

static void
test_submission_id(void **st)
{
	char body[400], id[FORM_ID_MAX + 2];
	struct form_sub sub;
	struct form_error err;

	(void)st;
	refused("{\"fields\":[]}", FORM_E_MISSING, "submission_id", -1);
	refused("{\"submission_id\":null,\"fields\":[]}", FORM_E_MISSING,
	        "submission_id", -1);
	refused("{\"submission_id\":42,\"fields\":[]}", FORM_E_TYPE,
	        "submission_id", -1);
	refused("{\"submission_id\":\"\",\"fields\":[]}", FORM_E_INVALID,
	        "submission_id", -1);
	refused("{\"submission_id\":\"a b\",\"fields\":[]}", FORM_E_INVALID,
	        "submission_id", -1);
	refused("{\"submission_id\":\"caf\\u00e9\",\"fields\":[]}",
	        FORM_E_INVALID, "submission_id", -1);
	refused("{\"submission_id\":\"a\\tb\",\"fields\":[]}", FORM_E_INVALID,
	        "submission_id", -1);
	/* 200 bytes pass, 201 do not */
	memset(id, 'i', FORM_ID_MAX);
	id[FORM_ID_MAX] = '\0';
	snprintf(body, sizeof(body), "{\"submission_id\":\"%s\",\"fields\":[]}",
	         id);
	assert_int_equal(parse(body, &sub, &err), 0);
	assert_int_equal(strlen(sub.submission_id), FORM_ID_MAX);
	form_sub_clear(&sub);
	id[FORM_ID_MAX] = 'i';
	id[FORM_ID_MAX + 1] = '\0';
	snprintf(body, sizeof(body), "{\"submission_id\":\"%s\",\"fields\":[]}",
	         id);
	refused(body, FORM_E_TOO_LONG, "submission_id", -1);
}

static void
test_identities(void **st)
{
	(void)st;
	refused("{\"submission_id\":\"a\",\"fields\":[],\"email\":\"not an "
	        "address\"}",
	        FORM_E_INVALID, "email", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"email\":\"a@b@c\"}",
	        FORM_E_INVALID, "email", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"phone\":\"12ab\"}",
	        FORM_E_INVALID, "phone", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"uprn\":\"UPRN1\"}",
	        FORM_E_INVALID, "uprn", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"email\":7}",
	        FORM_E_TYPE, "email", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"phone\":[]}",
	        FORM_E_TYPE, "phone", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"name\":{}}",
	        FORM_E_TYPE, "name", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"name\":\"a\\u0007\"}",
	        FORM_E_INVALID, "name", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"subject\":\"a\\nb\"}",
	        FORM_E_INVALID, "subject", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"form\":true}",
	        FORM_E_TYPE, "form", -1);
}

static void
test_fields(void **st)
{
	(void)st;
	refused("{\"submission_id\":\"a\"}", FORM_E_MISSING, "fields", -1);
	refused("{\"submission_id\":\"a\",\"fields\":null}", FORM_E_MISSING,
	        "fields", -1);
	refused("{\"submission_id\":\"a\",\"fields\":{}}", FORM_E_TYPE,
	        "fields", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[{\"label\":\"A\","
	        "\"value\":\"1\"},\"x\"]}",
	        FORM_E_TYPE, "fields", 1);
	refused("{\"submission_id\":\"a\",\"fields\":[{\"label\":\"A\"}]}",
	        FORM_E_MISSING, "fields", 0);
	refused("{\"submission_id\":\"a\",\"fields\":[{\"value\":\"A\"}]}",
	        FORM_E_MISSING, "fields", 0);
	refused("{\"submission_id\":\"a\",\"fields\":[{\"label\":\"A\","
	        "\"value\":1}]}",
	        FORM_E_TYPE, "fields", 0);
	refused("{\"submission_id\":\"a\",\"fields\":[{\"label\":null,"
	        "\"value\":\"1\"}]}",
	        FORM_E_TYPE, "fields", 0);
	refused("{\"submission_id\":\"a\",\"fields\":[{\"label\":\"\","
	        "\"value\":\"1\"}]}",
	        FORM_E_INVALID, "fields", 0);
	refused("{\"submission_id\":\"a\",\"fields\":[{\"label\":\"A\\nB\","
	        "\"value\":\"1\"}]}",
	        FORM_E_INVALID, "fields", 0);
	refused("{\"submission_id\":\"a\",\"fields\":[{\"label\":\"A\","
	        "\"value\":\"\\u001b[31m\"}]}",
	        FORM_E_INVALID, "fields", 0);
}

/* A body of n fields, each label l bytes and value v bytes. */
static char *
fields_body(size_t n, size_t l, size_t v)
{
	size_t cap = 64 + n * (l + v + 32), off, i;
	char *b = xmalloc(cap);

	off = (size_t)snprintf(b, cap,
	                       "{\"submission_id\":\"big\",\"fields\":[");
	for (i = 0; i < n; i++) {
		off += (size_t)snprintf(b + off, cap - off, "%s{\"label\":\"",
		                        i ? "," : "");
		memset(b + off, 'L', l);
		off += l;
		off += (size_t)snprintf(b + off, cap - off, "\",\"value\":\"");
		memset(b + off, 'v', v);
		off += v;
		off += (size_t)snprintf(b + off, cap - off, "\"}");
	}
	snprintf(b + off, cap - off, "]}");
	return b;
}

static void
test_caps(void **st)
{
	struct form_sub sub;
	struct form_error err;
	char *b;

	(void)st;
	b = fields_body(FORM_FIELDS_MAX, 3, 3);
	assert_int_equal(parse(b, &sub, &err), 0);
	assert_int_equal(sub.nfields, FORM_FIELDS_MAX);
	form_sub_clear(&sub);
	free(b);
	b = fields_body(FORM_FIELDS_MAX + 1, 3, 3);
	refused(b, FORM_E_TOO_LONG, "fields", -1);
	free(b);
	b = fields_body(1, FORM_LABEL_MAX, 1);
	assert_int_equal(parse(b, &sub, &err), 0);
	form_sub_clear(&sub);
	free(b);
	b = fields_body(1, FORM_LABEL_MAX + 1, 1);
	refused(b, FORM_E_TOO_LONG, "fields", 0);
	free(b);
	b = fields_body(1, 1, FORM_VALUE_MAX);
	assert_int_equal(parse(b, &sub, &err), 0);
	form_sub_clear(&sub);
	free(b);
	b = fields_body(2, 1, FORM_VALUE_MAX + 1);
	refused(b, FORM_E_TOO_LONG, "fields", 0);
	free(b);
	/* four values of 9,000: the fourth passes the total */
	b = fields_body(4, 1, 9000);
	refused(b, FORM_E_TOO_LONG, "fields", 3);
	free(b);
}

static void
test_hostile(void **st)
{
	static const char nul[] = "{\"submission_id\":\"a\0\",\"fields\":[]}";
	struct form_sub sub;
	struct form_error err;

	(void)st;
	refused("", FORM_E_JSON, NULL, -1);
	refused("not json", FORM_E_JSON, NULL, -1);
	refused("[]", FORM_E_JSON, NULL, -1);
	refused("\"x\"", FORM_E_JSON, NULL, -1);
	refused("{\"submission_id\":\"a\",\"fields\":[]", FORM_E_JSON, NULL,
	        -1);
	refused("{\"submission_id\":\"a\",\"fields\":[]} trailing", FORM_E_JSON,
	        NULL, -1);
	refused("{\"submission_id\":\"a\",\"submission_id\":\"b\","
	        "\"fields\":[]}",
	        FORM_E_JSON, NULL, -1);
	refused("{\"submission_id\":\"a\\u0000b\",\"fields\":[]}", FORM_E_JSON,
	        NULL, -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"name\":\"\xc3\x28\"}",
	        FORM_E_JSON, NULL, -1);
	/* a raw NUL inside the body */
	assert_int_equal(form_parse(nul, sizeof(nul) - 1, &sub, &err), -1);
	assert_string_equal(err.code, FORM_E_JSON);
	assert_null(sub.root);
}

static void
test_rfc3339(void **st)
{
	long long ms = 0;

	(void)st;
	assert_int_equal(form_rfc3339_ms("1970-01-01T00:00:00Z", &ms), 0);
	assert_true(ms == 0);
	assert_int_equal(form_rfc3339_ms("2026-12-07T09:30:00Z", &ms), 0);
	assert_true(ms == 1796635800000LL);
	assert_int_equal(form_rfc3339_ms("2026-12-07t09:30:00.5z", &ms), 0);
	assert_true(ms == 1796635800500LL);
	assert_int_equal(
	        form_rfc3339_ms("2026-12-07T09:30:00.123456789-05:30", &ms), 0);
	assert_true(ms == 1796635800123LL + 5 * 3600000LL + 30 * 60000LL);
	assert_int_equal(form_rfc3339_ms("2024-02-29T00:00:00Z", &ms), 0);
	/* a leap second is the second before */
	assert_int_equal(form_rfc3339_ms("2016-12-31T23:59:60Z", &ms), 0);
	assert_true(ms == 1483228799000LL);
	assert_int_equal(form_rfc3339_ms("2025-02-29T00:00:00Z", &ms), -1);
	assert_int_equal(form_rfc3339_ms("2026-13-01T00:00:00Z", &ms), -1);
	assert_int_equal(form_rfc3339_ms("2026-12-07 09:30:00Z", &ms), -1);
	assert_int_equal(form_rfc3339_ms("2026-12-07T09:30:00", &ms), -1);
	assert_int_equal(form_rfc3339_ms("2026-12-07T24:00:00Z", &ms), -1);
	assert_int_equal(form_rfc3339_ms("2026-12-07T09:30:00.Z", &ms), -1);
	assert_int_equal(form_rfc3339_ms("2026-12-07T09:30:00+0100", &ms), -1);
	assert_int_equal(form_rfc3339_ms("2026-12-07T09:30:00+24:00", &ms), -1);
	assert_int_equal(form_rfc3339_ms("1969-12-31T23:59:59Z", &ms), -1);
	assert_int_equal(form_rfc3339_ms("1970-01-01T00:00:00+00:01", &ms), -1);
	assert_int_equal(
	        form_rfc3339_ms("2026-12-07T09:30:00.1234567890123Z", &ms), -1);
	assert_int_equal(form_rfc3339_ms("", &ms), -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"submitted_at\":"
	        "\"yesterday\"}",
	        FORM_E_INVALID, "submitted_at", -1);
	refused("{\"submission_id\":\"a\",\"fields\":[],\"submitted_at\":1}",
	        FORM_E_TYPE, "submitted_at", -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_full),
	        cmocka_unit_test(test_minimal_and_absent),
	        cmocka_unit_test(test_submission_id),
	        cmocka_unit_test(test_identities),
	        cmocka_unit_test(test_fields),
	        cmocka_unit_test(test_caps),
	        cmocka_unit_test(test_hostile),
	        cmocka_unit_test(test_rfc3339),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
