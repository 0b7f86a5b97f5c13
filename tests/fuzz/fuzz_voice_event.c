/*
 * fuzz_voice_event.c: libFuzzer harness for call events
 * (channels/voice/voice_event.c). Each input is tried twice:
 *   - as a CTI JSON body (voice_event_cti);
 *   - as a Twilio form: the input split at NUL bytes into name, value,
 *     name, value... (so the fuzzer reaches the parameters without
 *     URL-encoding them), given to voice_event_twilio.
 * An accepted event must hold only what voice_event.h allows (bounded,
 * terminated, valid UTF-8, no control character, a cause only on hangup,
 * a key that fits VOICE_KEY_LEN); a refused one a code, a reason, and a
 * cleared event. The seeds (corpus/voice_event) are valid CTI bodies and
 * valid Twilio forms.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_utf8.h"
#include "http_form.h"
#include "voice_event.h"

#define PARAMS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* s is terminated within cap bytes, valid UTF-8, no control character. */
static void
check_text(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap), i;

	if (n == cap)
		abort();
	if (fuzz_utf8_chars(s, n) == (size_t)-1)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static void
check_id(const char *s)
{
	size_t n = strnlen(s, VOICE_ID_MAX + 1), i;

	if (n == 0 || n > VOICE_ID_MAX)
		abort();
	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			abort();
}

static void
check_phone(const char *s)
{
	size_t n = strnlen(s, IDENTITY_PHONE_LEN), i;

	if (n == IDENTITY_PHONE_LEN)
		abort();
	if (n == 0)
		return;
	if (s[0] != '+' || n < 8)
		abort();
	for (i = 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			abort();
}

static void
check_accepted(const struct voice_event *ev, int twilio)
{
	char key[VOICE_KEY_LEN];

	if ((unsigned)ev->kind > VOICE_HANGUP ||
	    (unsigned)ev->direction > VOICE_OUTBOUND ||
	    (unsigned)ev->cause > VOICE_FAILED)
		abort();
	if ((ev->kind == VOICE_HANGUP) != (ev->cause != VOICE_CAUSE_NONE))
		abort();
	if (!twilio && ev->cause == VOICE_FAILED)
		abort();
	check_id(ev->call_id);
	check_id(ev->root_id);
	check_phone(ev->from);
	check_phone(ev->to);
	if (ev->withheld && ev->from[0] != '\0')
		abort();
	check_text(ev->from_raw, sizeof(ev->from_raw));
	check_text(ev->to_raw, sizeof(ev->to_raw));
	if (ev->to_raw[0] == '\0')
		abort();
	check_text(ev->extension, sizeof(ev->extension));
	check_text(ev->queue, sizeof(ev->queue));
	check_text(ev->recording_url, sizeof(ev->recording_url));
	if (ev->recording_url[0] != '\0' &&
	    strncasecmp(ev->recording_url, "http", 4) != 0)
		abort();
	check_text(ev->provider_status, sizeof(ev->provider_status));
	check_text(ev->caller_name, sizeof(ev->caller_name));
	if (ev->at_ms < 0 || (twilio ? ev->sequence < 0 : ev->sequence != -1))
		abort();
	if (ev->duration_s < -1 || (!twilio && ev->duration_s != -1))
		abort();
	if (voice_event_key(ev, key, sizeof(key)) != 0)
		abort();
	if (voice_event_kind_name(ev->kind)[0] == '\0')
		abort();
}

static void
check_refused(const struct voice_event *ev, const struct voice_error *err)
{
	if (err->code == NULL || err->why == NULL || err->why[0] == '\0')
		abort();
	if (ev->call_id[0] != '\0' || ev->from_raw[0] != '\0' ||
	    ev->sequence != -1 || ev->duration_s != -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_form_param params[PARAMS_MAX];
	struct http_form form;
	struct voice_event ev;
	struct voice_error err;
	char *buf;
	size_t i, start = 0, n = 0;

	memset(&err, 0, sizeof(err));
	if (voice_event_cti((const char *)data, size, &ev, &err) == 0)
		check_accepted(&ev, 0);
	else
		check_refused(&ev, &err);

	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* name\0value\0name\0value...; an odd last name has value "". */
	for (i = 0; i <= size && n < PARAMS_MAX * 2; i++)
		if (buf[i] == '\0') {
			if (n % 2 == 0)
				params[n / 2].name = buf + start;
			else
				params[n / 2].value = buf + start;
			n++;
			start = i + 1;
		}
	if (n % 2 == 1)
		params[n / 2].value = buf + size;
	form.p = params;
	form.n = (n + 1) / 2;
	memset(&err, 0, sizeof(err));
	if (voice_event_twilio(&form, &ev, &err) == 0)
		check_accepted(&ev, 1);
	else
		check_refused(&ev, &err);
	free(buf);
	return 0;
}
