/*
 * test_sms_hook.c: reading the SMS providers' webhooks
 * (channels/sms/sms_hook.h), with the field lists of providers.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sms_hook.h"

static int
notify_in(const char *body, struct sms_inbound *m, struct sms_hook_error *e)
{
	return sms_hook_notify_inbound(body, strlen(body), m, e);
}

static void
test_notify_inbound(void **state)
{
	const char body[] =
	        "{\"id\": \"d6f5b1a4-1d2e-4f3a-8b9c-0e1f2a3b4c5d\","
	        " \"source_number\": \"447700912345\","
	        " \"destination_number\": \"07700987654\","
	        " \"message\": \"Caf\\u00e9 bins?\","
	        " \"date_received\": \"2017-05-14T12:15:30.000000Z\","
	        " \"a_new_field\": {\"x\": 1}}";
	struct sms_inbound m;
	struct sms_hook_error e;

	(void)state;
	assert_int_equal(notify_in(body, &m, &e), 0);
	assert_string_equal(m.id, "d6f5b1a4-1d2e-4f3a-8b9c-0e1f2a3b4c5d");
	assert_string_equal(m.from, "+447700912345");
	assert_string_equal(m.from_raw, "447700912345");
	assert_string_equal(m.to, "+447700987654");
	assert_string_equal(m.text, "Caf\xc3\xa9 bins?");
	assert_true(m.at_ms == 1494764130000LL);
	sms_inbound_clear(&m);
}

static void
test_notify_inbound_refused(void **state)
{
	static const struct {
		const char *body, *code, *field;
	} cases[] = {
	        {"", "json", NULL},
	        {"[1]", "json", NULL},
	        {"{\"id\": \"a\", \"id\": \"b\"}", "json", NULL},
	        {"{\"source_number\": \"447700912345\", \"destination_number\":"
	         " \"07700987654\", \"message\": \"x\"}",
	         "field", "id"},
	        {"{\"id\": 5, \"source_number\": \"447700912345\","
	         " \"destination_number\": \"07700987654\", \"message\": "
	         "\"x\"}",
	         "type", "id"},
	        {"{\"id\": \"has space\", \"source_number\": \"447700912345\","
	         " \"destination_number\": \"07700987654\", \"message\": "
	         "\"x\"}",
	         "field", "id"},
	        {"{\"id\": \"a\", \"destination_number\": \"07700987654\","
	         " \"message\": \"x\"}",
	         "field", "source_number"},
	        {"{\"id\": \"a\", \"source_number\": \"447700912345\","
	         " \"destination_number\": \"07700987654\"}",
	         "field", "message"},
	        {"{\"id\": \"a\", \"source_number\": \"447700912345\","
	         " \"destination_number\": \"07700987654\", \"message\": null}",
	         "type", "message"},
	        {"{\"id\": \"a\", \"source_number\": \"447700912345\","
	         " \"destination_number\": \"07700987654\", \"message\":"
	         " \"a\\u0001b\"}",
	         "utf8", "message"},
	        {"{\"id\": \"a\", \"source_number\": \"447700912345\","
	         " \"destination_number\": \"07700987654\", \"message\": \"x\","
	         " \"date_received\": \"2017-13-14T12:15:30Z\"}",
	         "field", "date_received"},
	        {"{\"id\": \"a\", \"source_number\": \"447700912345\","
	         " \"destination_number\": \"07700987654\", \"message\": \"x\","
	         " \"date_received\": \"2017-05-14T12:15:30.000000Zjunk\"}",
	         "field", "date_received"},
	};
	struct sms_inbound m;
	struct sms_hook_error e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(notify_in(cases[i].body, &m, &e), -1);
		assert_string_equal(e.code, cases[i].code);
		if (cases[i].field == NULL)
			assert_null(e.field);
		else
			assert_string_equal(e.field, cases[i].field);
		assert_non_null(e.why);
		sms_inbound_clear(&m);
	}
}

static void
test_notify_inbound_not_a_number(void **state)
{
	/* An alphanumeric sender: no E.164, the raw kept. */
	const char body[] = "{\"id\": \"a\", \"source_number\": \"COUNCIL\","
	                    " \"destination_number\": \"07700987654\","
	                    " \"message\": \"x\"}";
	struct sms_inbound m;
	struct sms_hook_error e;

	(void)state;
	assert_int_equal(notify_in(body, &m, &e), 0);
	assert_string_equal(m.from, "");
	assert_string_equal(m.from_raw, "COUNCIL");
	assert_true(m.at_ms == -1);
	sms_inbound_clear(&m);
}

static void
test_notify_status(void **state)
{
	const char body[] =
	        "{\"id\": \"740e5834-3a29-46b4-9a6f-16142fde533a\","
	        " \"reference\": \"sb-42\", \"to\": \"07700900123\","
	        " \"status\": \"permanent-failure\", \"created_at\": \"x\","
	        " \"completed_at\": null, \"sent_at\": \"y\","
	        " \"notification_type\": \"sms\", \"template_id\": \"t\","
	        " \"template_version\": 1}";
	const char email[] =
	        "{\"id\": \"e\", \"reference\": null, \"status\":"
	        " \"delivered\", \"notification_type\": \"email\"}";
	struct sms_receipt r;
	struct sms_hook_error e;

	(void)state;
	assert_int_equal(sms_hook_notify_status(body, strlen(body), &r, &e), 0);
	assert_string_equal(r.id, "740e5834-3a29-46b4-9a6f-16142fde533a");
	assert_string_equal(r.reference, "sb-42");
	assert_string_equal(r.status, "permanent-failure");
	assert_string_equal(r.detail, "permanent-failure");
	assert_int_equal(r.not_sms, 0);
	assert_int_equal(sms_hook_notify_status(email, strlen(email), &r, &e),
	                 0);
	assert_int_equal(r.not_sms, 1);
	assert_string_equal(r.reference, "");
	assert_int_equal(sms_hook_notify_status("{\"id\": \"e\"}", 11, &r, &e),
	                 -1);
	assert_string_equal(e.field, "status");
	assert_int_equal(sms_hook_notify_status("{\"id\": \"e\", \"status\":"
	                                        " \"sent\", \"reference\": 4}",
	                                        45, &r, &e),
	                 -1);
	assert_string_equal(e.field, "reference");
}

static int
form(const char *body, struct http_form *f)
{
	return http_form_parse(body, strlen(body), f, NULL);
}

static void
test_twilio_inbound(void **state)
{
	struct http_form f;
	struct sms_inbound m;
	struct sms_hook_error e;

	(void)state;
	assert_int_equal(
	        form("ToCountry=GB&SmsMessageSid=SM1&NumMedia=1&"
	             "MessageSid=SMabc&AccountSid=AC0123&From=%2B447700900123&"
	             "To=%2B447700900002&Body=Hello+there&NumSegments=1&"
	             "MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm%2F1&"
	             "MediaContentType0=image%2Fjpeg&ApiVersion=2010-04-01",
	             &f),
	        0);
	assert_int_equal(sms_hook_twilio_inbound(&f, &m, &e), 0);
	assert_string_equal(m.id, "SMabc");
	assert_string_equal(m.account_sid, "AC0123");
	assert_string_equal(m.from, "+447700900123");
	assert_string_equal(m.to, "+447700900002");
	assert_string_equal(m.text, "Hello there");
	assert_int_equal(m.nmedia, 1);
	assert_string_equal(m.media_url[0], "https://api.twilio.com/m/1");
	assert_string_equal(m.media_type[0], "image/jpeg");
	sms_inbound_clear(&m);
	http_form_clear(&f);
	/* NumMedia says 2 and there is 1 */
	assert_int_equal(form("MessageSid=SM1&From=%2B447700900123&To=1&Body=x"
	                      "&NumMedia=2&MediaUrl0=https%3A%2F%2Fa",
	                      &f),
	                 0);
	assert_int_equal(sms_hook_twilio_inbound(&f, &m, &e), -1);
	assert_string_equal(e.field, "MediaUrl");
	sms_inbound_clear(&m);
	http_form_clear(&f);
	/* an http (not https) media URL */
	assert_int_equal(form("MessageSid=SM1&From=%2B447700900123&To=1&Body=x"
	                      "&NumMedia=1&MediaUrl0=http%3A%2F%2Fa",
	                      &f),
	                 0);
	assert_int_equal(sms_hook_twilio_inbound(&f, &m, &e), -1);
	sms_inbound_clear(&m);
	http_form_clear(&f);
	/* no Body */
	assert_int_equal(form("MessageSid=SM1&From=%2B447700900123&To=1", &f),
	                 0);
	assert_int_equal(sms_hook_twilio_inbound(&f, &m, &e), -1);
	assert_string_equal(e.field, "Body");
	sms_inbound_clear(&m);
	http_form_clear(&f);
	/* SmsSid alone is enough (older callbacks) */
	assert_int_equal(form("SmsSid=SM9&From=%2B447700900123&To=1&Body=", &f),
	                 0);
	assert_int_equal(sms_hook_twilio_inbound(&f, &m, &e), 0);
	assert_string_equal(m.id, "SM9");
	assert_string_equal(m.text, "");
	sms_inbound_clear(&m);
	http_form_clear(&f);
}

static void
test_twilio_status(void **state)
{
	struct http_form f;
	struct sms_receipt r;
	struct sms_hook_error e;

	(void)state;
	assert_int_equal(form("MessageSid=SMx&MessageStatus=undelivered&"
	                      "AccountSid=AC1&ErrorCode=30003&SmsStatus=x",
	                      &f),
	                 0);
	assert_int_equal(sms_hook_twilio_status(&f, &r, &e), 0);
	assert_string_equal(r.id, "SMx");
	assert_string_equal(r.status, "undelivered");
	assert_string_equal(r.detail, "Twilio error 30003");
	http_form_clear(&f);
	assert_int_equal(form("MessageSid=SMx&SmsStatus=sent", &f), 0);
	assert_int_equal(sms_hook_twilio_status(&f, &r, &e), 0);
	assert_string_equal(r.status, "sent");
	assert_string_equal(r.detail, "");
	http_form_clear(&f);
	assert_int_equal(
	        form("MessageSid=SMx&MessageStatus=failed&ErrorCode=3x", &f),
	        0);
	assert_int_equal(sms_hook_twilio_status(&f, &r, &e), -1);
	assert_string_equal(e.field, "ErrorCode");
	http_form_clear(&f);
	assert_int_equal(form("MessageSid=SMx", &f), 0);
	assert_int_equal(sms_hook_twilio_status(&f, &r, &e), -1);
	assert_string_equal(e.field, "MessageStatus");
	http_form_clear(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_notify_inbound),
	        cmocka_unit_test(test_notify_inbound_refused),
	        cmocka_unit_test(test_notify_inbound_not_a_number),
	        cmocka_unit_test(test_notify_status),
	        cmocka_unit_test(test_twilio_inbound),
	        cmocka_unit_test(test_twilio_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
