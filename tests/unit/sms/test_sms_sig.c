/*
 * test_sms_sig.c: providers' webhook signatures (channels/sms/sms_sig.h),
 * against the vectors of Twilio's own SDK tests (twilio-python,
 * tests/unit/test_request_validator.py: token "12345").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "sms_sig.h"

#define TOKEN "12345"
#define URI   "https://mycompany.com/myapp.php?foo=1&bar=2"
/* The SDK's params, as Twilio posts them (any order, URL-encoded). */
#define FORM                                                                   \
	"To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234"              \
	"&From=%2B14158675309&Caller=%2B14158675309"

static int
form(const char *url, const char *body, const char *sig)
{
	return sms_sig_twilio_form(TOKEN, url, body, strlen(body), sig);
}

static void
test_twilio_form(void **st)
{
	(void)st;
	assert_true(form(URI, FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
	/* '+' in the form is a space, not a plus: another message. */
	assert_false(
	        form(URI,
	             "To=+18005551212&CallSid=CA1234567890ABCDE&Digits=1234"
	             "&From=%2B14158675309&Caller=%2B14158675309",
	             "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
	/* One byte changed anywhere, the wrong token, no header. */
	assert_false(form(URI, FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B9="));
	assert_false(form("https://mycompany.com/myapp.php?foo=1&bar=3", FORM,
	                  "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
	assert_false(sms_sig_twilio_form("12346", URI, FORM, strlen(FORM),
	                                 "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
	assert_false(form(URI, FORM, NULL));
	assert_false(form(URI, FORM, ""));
	assert_false(sms_sig_twilio_form("", URI, FORM, strlen(FORM),
	                                 "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
	/* A parameter repeated: its values in byte order. */
	assert_true(form(URI,
	                 "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234",
	                 "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
	assert_true(form(URI,
	                 "Digits=1234&Digits=5678&SidAccount=AC123&Sid=CA123",
	                 "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
}

static void
test_twilio_ports(void **st)
{
	(void)st;
	/* Signed without the port the URL has. */
	assert_true(form("https://mycompany.com:1234/myapp.php?foo=1&bar=2",
	                 FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
	assert_true(form("http://mycompany.com:1234/myapp.php?foo=1&bar=2",
	                 FORM, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
	/* Signed with the default port the URL does not name. */
	assert_true(form(URI, FORM, "kvajT1Ptam85bY51eRf/AJRuM3w="));
	assert_true(form("http://mycompany.com/myapp.php?foo=1&bar=2", FORM,
	                 "0ZXoZLH/DfblKGATFgpif+LLRf4="));
}

static void
test_twilio_json(void **st)
{
	static const char body[] =
	        "{\"property\": \"value\", \"boolean\": true}";
	static const char url[] = URI "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9"
	                              "416e41502b283a80c7cf19632632f96e6620";

	(void)st;
	assert_true(sms_sig_twilio_json(TOKEN, url, body, strlen(body),
	                                "a9nBmqA0ju/hNViExpshrM61xv4="));
	/* The body changed: its hash no longer matches. */
	assert_false(sms_sig_twilio_json(TOKEN, url, body, strlen(body) - 1,
	                                 "a9nBmqA0ju/hNViExpshrM61xv4="));
	/* No bodySHA256 at all, or not 64 hex digits. */
	assert_false(sms_sig_twilio_json(TOKEN, URI, body, strlen(body),
	                                 "a9nBmqA0ju/hNViExpshrM61xv4="));
	assert_false(sms_sig_twilio_json(TOKEN, URI "&bodySHA256=0a1f", body,
	                                 strlen(body),
	                                 "a9nBmqA0ju/hNViExpshrM61xv4="));
}

static void
test_bearer(void **st)
{
	const char *const two[] = {"old-token-0123456789", "new-token-abcdef"};
	const char *const none[] = {NULL, ""};

	(void)st;
	assert_true(sms_sig_bearer("Bearer old-token-0123456789", two, 2));
	assert_true(sms_sig_bearer("bearer new-token-abcdef", two, 2));
	assert_false(sms_sig_bearer("Bearer new-token-abcdeg", two, 2));
	assert_false(sms_sig_bearer("Bearer new-token-abcde", two, 2));
	assert_false(sms_sig_bearer("Basic new-token-abcdef", two, 2));
	assert_false(sms_sig_bearer("new-token-abcdef", two, 2));
	assert_false(sms_sig_bearer(NULL, two, 2));
	assert_false(sms_sig_bearer("Bearer ", none, 2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_twilio_form),
	        cmocka_unit_test(test_twilio_ports),
	        cmocka_unit_test(test_twilio_json),
	        cmocka_unit_test(test_bearer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
