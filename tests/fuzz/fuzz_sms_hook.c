/*
 * fuzz_sms_hook.c: libFuzzer harness for the SMS providers' webhook
 * readers (channels/sms/sms_hook.c) and the form decoder they read
 * Twilio's bodies with (gateway/http/http_form.c). The first byte picks
 * the reader; the rest is the body. No input may crash or leak; a text
 * read must be UTF-8 without NUL, numbers E.164 or empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_form.h"
#include "sms_hook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_inbound(const struct sms_inbound *m)
{
	if (m->text != NULL && strlen(m->text) > SMS_HOOK_TEXT_MAX)
		abort();
	if (m->from[0] != '\0' && m->from[0] != '+')
		abort();
	if (m->nmedia > SMS_HOOK_MEDIA_MAX)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	struct sms_hook_error e;
	struct sms_inbound m;
	struct sms_receipt r;
	struct http_form f;
	size_t len;

	if (size < 1)
		return 0;
	len = size - 1;
	memset(&m, 0, sizeof(m));
	switch (data[0] % 4) {
	case 0:
		if (sms_hook_notify_inbound(body, len, &m, &e) == 0)
			check_inbound(&m);
		sms_inbound_clear(&m);
		break;
	case 1:
		(void)sms_hook_notify_status(body, len, &r, &e);
		break;
	case 2:
		if (http_form_parse(body, len, &f, NULL) == 0 &&
		    sms_hook_twilio_inbound(&f, &m, &e) == 0)
			check_inbound(&m);
		sms_inbound_clear(&m);
		http_form_clear(&f);
		break;
	default:
		if (http_form_parse(body, len, &f, NULL) == 0)
			(void)sms_hook_twilio_status(&f, &r, &e);
		http_form_clear(&f);
		break;
	}
	return 0;
}
