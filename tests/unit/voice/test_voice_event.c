/*
 * test_voice_event.c: call events (channels/voice/voice_event.c) case by
 * case. CTI JSON: every field and name, every cause, withheld callers, the
 * UK number forms, each required key missing, wrong types, overlong
 * values, control characters, RFC 3339 forms and offsets, a cause on an
 * event that is not a hangup, hostile bodies. Twilio: a status callback
 * shaped as Twilio documents it, every CallStatus and Direction, withheld
 * callers, the advisor's extension on a <Dial> leg, RFC 2822 dates with
 * offsets, each required parameter missing, bad bytes. The idempotency
 * key. Pure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_form.h"
#include "voice_event.h"

/* 2026-12-07T09:30:00Z */
#define AT_MS 1796635800000LL

/* ---- CTI bodies ---- */

/* The required keys, valid, in order: key, JSON value. */
static const char *const cti_defaults[][2] = {
        {"event", "\"ringing\""},     {"call_id", "\"pbx-1\""},
        {"direction", "\"inbound\""}, {"from", "\"07700 900123\""},
        {"to", "\"01632 960000\""},   {"at", "\"2026-12-07T09:30:00Z\""},
};
#define CTI_DEFAULTS (sizeof(cti_defaults) / sizeof(cti_defaults[0]))

/*
 * A CTI body: the defaults, then pairs (key, JSON value) ending with a
 * NULL key. A pair for a default key replaces its value (NULL: drops the
 * key); other pairs are appended.
 */
static char *
cti_body(char *buf, size_t len, ...)
{
	const char *keys[32], *vals[32], *k, *v;
	size_t n = 0, i, j, at = 0;
	va_list ap;
	int w;

	for (i = 0; i < CTI_DEFAULTS; i++) {
		keys[n] = cti_defaults[i][0];
		vals[n++] = cti_defaults[i][1];
	}
	va_start(ap, len);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		for (j = 0; j < n && strcmp(keys[j], k) != 0; j++)
			;
		assert_true(j < 32);
		keys[j] = k;
		vals[j] = v;
		if (j == n)
			n++;
	}
	va_end(ap);
	buf[at++] = '{';
	for (i = 0; i < n; i++) {
		if (vals[i] == NULL)
			continue;
		w = snprintf(buf + at, len - at, "%s\"%s\":%s",
		             at > 1 ? "," : "", keys[i], vals[i]);
		assert_true(w > 0 && (size_t)w < len - at);
		at += (size_t)w;
	}
	assert_true(at + 2 <= len);
	buf[at++] = '}';
	buf[at] = '\0';
	return buf;
}

static int
cti(const char *body, struct voice_event *ev, struct voice_error *err)
{
	return voice_event_cti(body, strlen(body), ev, err);
}

typedef int (*parse_fn)(const char *, struct voice_event *,
                        struct voice_error *);

/*
 * Asserts parse refuses body with code and field (NULL: none), the event
 * left cleared.
 */
static void
refused_by(parse_fn parse, const char *body, const char *code,
           const char *field)
{
	struct voice_event ev;
	struct voice_error err;

	memset(&err, 0, sizeof(err));
	if (parse(body, &ev, &err) == 0) {
		print_error("accepted: %s\n", body);
		fail();
	}
	assert_string_equal(err.code, code);
	if (field == NULL)
		assert_null(err.field);
	else
		assert_string_equal(err.field, field);
	assert_non_null(err.why);
	assert_true(strlen(err.why) > 0);
	assert_string_equal(ev.call_id, "");
	assert_string_equal(ev.from_raw, "");
	assert_true(ev.sequence == -1);
	assert_int_equal(ev.duration_s, -1);
}

static void
cti_refused(const char *body, const char *code, const char *field)
{
	refused_by(cti, body, code, field);
}

/* A string of n copies of c, as a JSON string literal. */
static char *
json_run(char *buf, size_t n, char c, const char *prefix)
{
	size_t p = strlen(prefix);

	buf[0] = '"';
	memcpy(buf + 1, prefix, p);
	memset(buf + 1 + p, c, n - p);
	buf[1 + n] = '"';
	buf[2 + n] = '\0';
	return buf;
}

static void
test_cti_full(void **st)
{
	struct voice_event ev;
	struct voice_error err;
	char b[2048], key[VOICE_KEY_LEN];

	(void)st;
	cti_body(b, sizeof(b), "event", "\"hangup\"", "call_id",
	         "\"1700000000.42\"", "parent_call_id", "\"1700000000.40\"",
	         "direction", "\"outbound\"", "from", "\" +447700900123 \"",
	         "to", "\"+44 (0)1632 960000\"", "agent_extension", "\"2041\"",
	         "queue", "\"Council Tax\"", "cause", "\"noAnswer\"",
	         "recording_url", "\"https://pbx.example.gov.uk/rec/42.wav\"",
	         "at", "\"2026-12-07T09:30:00.250+01:00\"", "vendor",
	         "{\"x\":[1,2]}", NULL);
	assert_int_equal(cti(b, &ev, &err), 0);
	assert_int_equal(ev.kind, VOICE_HANGUP);
	assert_int_equal(ev.direction, VOICE_OUTBOUND);
	assert_int_equal(ev.cause, VOICE_NO_ANSWER);
	assert_string_equal(ev.call_id, "1700000000.42");
	assert_string_equal(ev.root_id, "1700000000.40");
	assert_string_equal(ev.from, "+447700900123");
	assert_int_equal(ev.withheld, 0);
	assert_string_equal(ev.from_raw, "+447700900123");
	assert_string_equal(ev.to, "+441632960000");
	assert_string_equal(ev.to_raw, "+44 (0)1632 960000");
	assert_string_equal(ev.extension, "2041");
	assert_string_equal(ev.queue, "Council Tax");
	assert_string_equal(ev.recording_url,
	                    "https://pbx.example.gov.uk/rec/42.wav");
	/* 08:30:00.250Z */
	assert_true(ev.at_ms == AT_MS - 3600000 + 250);
	assert_true(ev.sequence == -1);
	assert_int_equal(ev.duration_s, -1);
	assert_string_equal(ev.provider_status, "hangup");
	assert_string_equal(ev.caller_name, "");
	assert_int_equal(voice_event_key(&ev, key, sizeof(key)), 0);
	assert_string_equal(key, "1700000000.42:hangup:1796632200250");
}

static void
test_cti_minimal(void **st)
{
	struct voice_event ev;
	struct voice_error err;
	char b[1024], key[VOICE_KEY_LEN];

	(void)st;
	assert_int_equal(cti(cti_body(b, sizeof(b), NULL), &ev, &err), 0);
	assert_int_equal(ev.kind, VOICE_RINGING);
	assert_int_equal(ev.direction, VOICE_INBOUND);
	assert_int_equal(ev.cause, VOICE_CAUSE_NONE);
	assert_string_equal(ev.call_id, "pbx-1");
	assert_string_equal(ev.root_id, "pbx-1");
	assert_string_equal(ev.from, "+447700900123");
	assert_string_equal(ev.from_raw, "07700 900123");
	assert_string_equal(ev.to, "+441632960000");
	assert_string_equal(ev.extension, "");
	assert_string_equal(ev.queue, "");
	assert_string_equal(ev.recording_url, "");
	assert_true(ev.at_ms == AT_MS);
	assert_string_equal(ev.provider_status, "ringing");
	assert_int_equal(voice_event_key(&ev, key, sizeof(key)), 0);
	assert_string_equal(key, "pbx-1:ringing:1796635800000");
	/* Too small a buffer: refused, left empty. */
	assert_int_equal(voice_event_key(&ev, key, 10), -1);
	assert_string_equal(key, "");
	assert_int_equal(voice_event_key(&ev, key, 0), -1);

	/* null and "" count as absent for the optional keys. */
	cti_body(b, sizeof(b), "parent_call_id", "\"\"", "agent_extension",
	         "null", "queue", "null", "recording_url", "\"\"", "cause",
	         "null", NULL);
	assert_int_equal(cti(b, &ev, &err), 0);
	assert_string_equal(ev.root_id, "pbx-1");
	assert_int_equal(ev.cause, VOICE_CAUSE_NONE);
	assert_string_equal(ev.recording_url, "");
}

static void
test_cti_events(void **st)
{
	static const struct {
		const char *json;
		enum voice_event_kind kind;
	} cases[] = {
	        {"\"newCall\"", VOICE_NEW_CALL},
	        {"\"ringing\"", VOICE_RINGING},
	        {"\"answer\"", VOICE_ANSWER},
	        {"\"hangup\"", VOICE_HANGUP},
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cti_body(b, sizeof(b), "event", cases[i].json, NULL);
		assert_int_equal(cti(b, &ev, &err), 0);
		assert_int_equal(ev.kind, cases[i].kind);
		assert_int_equal(ev.cause, cases[i].kind == VOICE_HANGUP
		                                   ? VOICE_NORMAL_CLEARING
		                                   : VOICE_CAUSE_NONE);
		assert_string_equal(ev.provider_status,
		                    voice_event_kind_name(cases[i].kind));
	}
	assert_string_equal(voice_event_kind_name(VOICE_NEW_CALL), "newCall");
	assert_string_equal(voice_event_kind_name((enum voice_event_kind)4),
	                    "");
	assert_string_equal(voice_event_kind_name((enum voice_event_kind) - 1),
	                    "");
	assert_string_equal(voice_direction_name(VOICE_OUTBOUND), "outbound");
	assert_string_equal(voice_direction_name((enum voice_direction)2), "");

	cti_refused(cti_body(b, sizeof(b), "event", "\"Ringing\"", NULL),
	            VOICE_E_EVENT, "event");
	cti_refused(cti_body(b, sizeof(b), "event", "\"ring\"", NULL),
	            VOICE_E_EVENT, "event");
	cti_refused(cti_body(b, sizeof(b), "event", "\"\"", NULL),
	            VOICE_E_EVENT, "event");
	cti_refused(cti_body(b, sizeof(b), "direction", "\"Inbound\"", NULL),
	            VOICE_E_DIRECTION, "direction");
	cti_refused(cti_body(b, sizeof(b), "direction", "\"internal\"", NULL),
	            VOICE_E_DIRECTION, "direction");
}

static void
test_cti_causes(void **st)
{
	static const struct {
		const char *name;
		enum voice_cause cause;
	} cases[] = {
	        {"normalClearing", VOICE_NORMAL_CLEARING},
	        {"busy", VOICE_BUSY},
	        {"cancel", VOICE_CANCEL},
	        {"noAnswer", VOICE_NO_ANSWER},
	        {"congestion", VOICE_CONGESTION},
	        {"notFound", VOICE_NOT_FOUND},
	        {"forwarded", VOICE_FORWARDED},
	        {"voicemail", VOICE_VOICEMAIL},
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024], v[64];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(v, sizeof(v), "\"%s\"", cases[i].name);
		cti_body(b, sizeof(b), "event", "\"hangup\"", "cause", v, NULL);
		assert_int_equal(cti(b, &ev, &err), 0);
		assert_int_equal(ev.cause, cases[i].cause);
		assert_string_equal(voice_cause_name(cases[i].cause),
		                    cases[i].name);
		/* On any other event a cause is refused. */
		cti_refused(cti_body(b, sizeof(b), "event", "\"answer\"",
		                     "cause", v, NULL),
		            VOICE_E_CAUSE, "cause");
	}
	assert_string_equal(voice_cause_name(VOICE_FAILED), "failed");
	assert_string_equal(voice_cause_name(VOICE_CAUSE_NONE), "");
	assert_string_equal(voice_cause_name((enum voice_cause)10), "");
	cti_refused(cti_body(b, sizeof(b), "event", "\"ringing\"", "cause",
	                     "\"busy\"", NULL),
	            VOICE_E_CAUSE, "cause");
	cti_refused(cti_body(b, sizeof(b), "event", "\"newCall\"", "cause",
	                     "\"normalClearing\"", NULL),
	            VOICE_E_CAUSE, "cause");
	/* Twilio's own cause is not one of the CTI's; names are exact. */
	cti_refused(cti_body(b, sizeof(b), "event", "\"hangup\"", "cause",
	                     "\"failed\"", NULL),
	            VOICE_E_CAUSE, "cause");
	cti_refused(cti_body(b, sizeof(b), "event", "\"hangup\"", "cause",
	                     "\"NoAnswer\"", NULL),
	            VOICE_E_CAUSE, "cause");
	cti_refused(cti_body(b, sizeof(b), "event", "\"hangup\"", "cause",
	                     "\"\"", NULL),
	            VOICE_E_CAUSE, "cause");
	cti_refused(cti_body(b, sizeof(b), "event", "\"hangup\"", "cause", "7",
	                     NULL),
	            VOICE_E_TYPE, "cause");
}

static void
test_cti_withheld(void **st)
{
	static const char *const withheld[] = {
	        "\"anonymous\"",   "\"Anonymous\"",   "\"ANONYMOUS\"",
	        "\"withheld\"",    "\"Withheld\"",    "\"private\"",
	        "\"PRIVATE\"",     "\"unknown\"",     "\"Unknown\"",
	        "\"restricted\"",  "\"Restricted\"",  "\"\"",
	        "\"   \"",         "\" anonymous \"", "\"+266696687\"",
	        "\"unavailable\"",
	};
	static const char *const not_numbers[] = {
	        "\"sip:alice@pbx.example.gov.uk\"",
	        "\"2041\"",
	        "\"client:alice\"",
	        "\"07700 900123 ext 4\"",
	        "\"anonymous2\"",
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(withheld) / sizeof(withheld[0]); i++) {
		cti_body(b, sizeof(b), "from", withheld[i], NULL);
		assert_int_equal(cti(b, &ev, &err), 0);
		assert_int_equal(ev.withheld, 1);
		assert_string_equal(ev.from, "");
	}
	cti_body(b, sizeof(b), "from", "\" Restricted \"", NULL);
	assert_int_equal(cti(b, &ev, &err), 0);
	assert_string_equal(ev.from_raw, "Restricted");

	for (i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++) {
		cti_body(b, sizeof(b), "from", not_numbers[i], NULL);
		assert_int_equal(cti(b, &ev, &err), 0);
		assert_int_equal(ev.withheld, 0);
		assert_string_equal(ev.from, "");
		assert_true(strlen(ev.from_raw) > 0);
	}
	cti_body(b, sizeof(b), "from", "\"sip:alice@pbx.example.gov.uk\"",
	         NULL);
	assert_int_equal(cti(b, &ev, &err), 0);
	assert_string_equal(ev.from_raw, "sip:alice@pbx.example.gov.uk");
	/* A "to" that is an extension: kept raw, no number. */
	cti_body(b, sizeof(b), "to", "\"2041\"", NULL);
	assert_int_equal(cti(b, &ev, &err), 0);
	assert_string_equal(ev.to, "");
	assert_string_equal(ev.to_raw, "2041");
	cti_refused(cti_body(b, sizeof(b), "to", "\"\"", NULL), VOICE_E_FIELD,
	            "to");
	cti_refused(cti_body(b, sizeof(b), "to", "\"  \"", NULL), VOICE_E_FIELD,
	            "to");
}

/* providers.md "Phone numbers": the UK forms seen in the wild. */
static void
test_cti_uk_numbers(void **st)
{
	static const char *const forms[] = {
	        "\"07700 900123\"",     "\"07700-900-123\"",
	        "\"447700900123\"",     "\"+44 (0)7700 900123\"",
	        "\"0044 7700 900123\"", "\"+447700900123\"",
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		cti_body(b, sizeof(b), "from", forms[i], "to", forms[i], NULL);
		assert_int_equal(cti(b, &ev, &err), 0);
		assert_string_equal(ev.from, "+447700900123");
		assert_string_equal(ev.to, "+447700900123");
		assert_int_equal(ev.withheld, 0);
	}
	cti_body(b, sizeof(b), "from", "\"01632 960 000\"", NULL);
	assert_int_equal(cti(b, &ev, &err), 0);
	assert_string_equal(ev.from, "+441632960000");
	cti_body(b, sizeof(b), "from", "\"+33 1 23 45 67 89\"", NULL);
	assert_int_equal(cti(b, &ev, &err), 0);
	assert_string_equal(ev.from, "+33123456789");
	/* Not a UK number (04 is not allocated): kept raw only. */
	cti_body(b, sizeof(b), "from", "\"04700 900123\"", NULL);
	assert_int_equal(cti(b, &ev, &err), 0);
	assert_string_equal(ev.from, "");
	assert_int_equal(ev.withheld, 0);
}

static void
test_cti_bad_json(void **st)
{
	struct voice_event ev;
	struct voice_error err;
	char b[1024];

	(void)st;
	cti_refused("", VOICE_E_JSON, NULL);
	cti_refused("{", VOICE_E_JSON, NULL);
	cti_refused("[]", VOICE_E_JSON, NULL);
	cti_refused("null", VOICE_E_JSON, NULL);
	cti_refused("\"ringing\"", VOICE_E_JSON, NULL);
	cti_refused("{} {}", VOICE_E_JSON, NULL);
	/* Duplicate keys: which one would we believe? */
	cti_refused("{\"event\":\"ringing\",\"event\":\"hangup\"}",
	            VOICE_E_JSON, NULL);
	/* Invalid UTF-8 and an escaped NUL. */
	cti_refused(cti_body(b, sizeof(b), "queue", "\"\xc3\x28\"", NULL),
	            VOICE_E_JSON, NULL);
	cti_refused(cti_body(b, sizeof(b), "queue", "\"a\\u0000b\"", NULL),
	            VOICE_E_JSON, NULL);
	/* A NUL byte inside the body, and a body cut short by len. */
	cti_body(b, sizeof(b), NULL);
	assert_int_equal(voice_event_cti(b, strlen(b) - 1, &ev, &err), -1);
	assert_string_equal(err.code, VOICE_E_JSON);
	b[3] = '\0';
	assert_int_equal(voice_event_cti(b, strlen(b + 4) + 4, &ev, &err), -1);
	assert_int_equal(voice_event_cti(NULL, 0, &ev, &err), -1);
	assert_string_equal(err.code, VOICE_E_JSON);
}

static void
test_cti_missing(void **st)
{
	char b[1024];
	size_t i;

	(void)st;
	for (i = 0; i < CTI_DEFAULTS; i++) {
		cti_refused(
		        cti_body(b, sizeof(b), cti_defaults[i][0], NULL, NULL),
		        VOICE_E_MISSING, cti_defaults[i][0]);
		/* null is absent. */
		cti_refused(cti_body(b, sizeof(b), cti_defaults[i][0], "null",
		                     NULL),
		            VOICE_E_MISSING, cti_defaults[i][0]);
	}
	cti_refused("{}", VOICE_E_MISSING, "event");
}

static void
test_cti_types(void **st)
{
	static const char *const keys[] = {
	        "event",         "call_id", "parent_call_id",  "direction",
	        "from",          "to",      "agent_extension", "queue",
	        "recording_url", "at",
	};
	static const char *const values[] = {"1", "true", "[]", "{}", "1.5"};
	char b[1024];
	size_t i, j;

	(void)st;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		for (j = 0; j < sizeof(values) / sizeof(values[0]); j++)
			cti_refused(cti_body(b, sizeof(b), keys[i], values[j],
			                     NULL),
			            VOICE_E_TYPE, keys[i]);
	/* A Unix time for "at" is not accepted either. */
	cti_refused(cti_body(b, sizeof(b), "at", "1796635800", NULL),
	            VOICE_E_TYPE, "at");
}

static void
test_cti_limits(void **st)
{
	struct voice_event ev;
	struct voice_error err;
	char b[4096], v[2048];
	size_t i;

	(void)st;
	/* call_id: 128 bytes fit, 129 do not; also parent_call_id. */
	json_run(v, VOICE_ID_MAX, 'a', "");
	assert_int_equal(cti(cti_body(b, sizeof(b), "call_id", v,
	                              "parent_"
	                              "call_id",
	                              v, NULL),
	                     &ev, &err),
	                 0);
	assert_int_equal(strlen(ev.call_id), VOICE_ID_MAX);
	assert_int_equal(strlen(ev.root_id), VOICE_ID_MAX);
	json_run(v, VOICE_ID_MAX + 1, 'a', "");
	cti_refused(cti_body(b, sizeof(b), "call_id", v, NULL),
	            VOICE_E_TOO_LONG, "call_id");
	cti_refused(cti_body(b, sizeof(b), "parent_call_id", v, NULL),
	            VOICE_E_TOO_LONG, "parent_call_id");

	/* from_raw 64, to_raw 128, extension and queue 64 bytes. */
	json_run(v, VOICE_RAW_MAX, 'x', "sip:");
	assert_int_equal(
	        cti(cti_body(b, sizeof(b), "from", v, NULL), &ev, &err), 0);
	json_run(v, VOICE_RAW_MAX + 1, 'x', "sip:");
	cti_refused(cti_body(b, sizeof(b), "from", v, NULL), VOICE_E_TOO_LONG,
	            "from");
	json_run(v, VOICE_TO_RAW_MAX, 'x', "sip:");
	assert_int_equal(cti(cti_body(b, sizeof(b), "to", v, NULL), &ev, &err),
	                 0);
	json_run(v, VOICE_TO_RAW_MAX + 1, 'x', "sip:");
	cti_refused(cti_body(b, sizeof(b), "to", v, NULL), VOICE_E_TOO_LONG,
	            "to");
	json_run(v, VOICE_NAME_MAX, 'q', "");
	assert_int_equal(cti(cti_body(b, sizeof(b), "queue", v,
	                              "agent_extension", v, NULL),
	                     &ev, &err),
	                 0);
	assert_int_equal(strlen(ev.queue), VOICE_NAME_MAX);
	assert_int_equal(strlen(ev.extension), VOICE_NAME_MAX);
	json_run(v, VOICE_NAME_MAX + 1, 'q', "");
	cti_refused(cti_body(b, sizeof(b), "queue", v, NULL), VOICE_E_TOO_LONG,
	            "queue");
	cti_refused(cti_body(b, sizeof(b), "agent_extension", v, NULL),
	            VOICE_E_TOO_LONG, "agent_extension");
	/* Multi-byte characters count in bytes: 32 two-byte ones fit. */
	v[0] = '"';
	for (i = 1; i < 1 + 64; i += 2)
		memcpy(v + i, "\xc3\xa9", 2);
	memcpy(v + i, "\"", 2);
	assert_int_equal(
	        cti(cti_body(b, sizeof(b), "queue", v, NULL), &ev, &err), 0);
	assert_int_equal(strlen(ev.queue), 64);

	/* recording_url: 1024 bytes fit. */
	json_run(v, VOICE_URL_MAX, 'r', "https://x.example/");
	assert_int_equal(cti(cti_body(b, sizeof(b), "recording_url", v, NULL),
	                     &ev, &err),
	                 0);
	assert_int_equal(strlen(ev.recording_url), VOICE_URL_MAX);
	json_run(v, VOICE_URL_MAX + 1, 'r', "https://x.example/");
	cti_refused(cti_body(b, sizeof(b), "recording_url", v, NULL),
	            VOICE_E_TOO_LONG, "recording_url");
}

static void
test_cti_bad_values(void **st)
{
	struct voice_event ev;
	struct voice_error err;
	char b[1024];

	(void)st;
	cti_refused(cti_body(b, sizeof(b), "call_id", "\"\"", NULL),
	            VOICE_E_FIELD, "call_id");
	cti_refused(cti_body(b, sizeof(b), "call_id", "\"a b\"", NULL),
	            VOICE_E_FIELD, "call_id");
	cti_refused(cti_body(b, sizeof(b), "call_id", "\"caf\xc3\xa9\"", NULL),
	            VOICE_E_FIELD, "call_id");
	cti_refused(cti_body(b, sizeof(b), "parent_call_id", "\"a\\tb\"", NULL),
	            VOICE_E_FIELD, "parent_call_id");
	/* Control characters, C0 and DEL. */
	cti_refused(cti_body(b, sizeof(b), "from", "\"0770\\n0900123\"", NULL),
	            VOICE_E_FIELD, "from");
	cti_refused(cti_body(b, sizeof(b), "to", "\"\\u001b[2J\"", NULL),
	            VOICE_E_FIELD, "to");
	cti_refused(cti_body(b, sizeof(b), "queue", "\"a\\u007fb\"", NULL),
	            VOICE_E_FIELD, "queue");
	cti_refused(cti_body(b, sizeof(b), "agent_extension", "\"\\r\"", NULL),
	            VOICE_E_FIELD, "agent_extension");

	/* Recording links: http(s) with a host, nothing else. */
	cti_body(b, sizeof(b), "recording_url",
	         "\"HTTP://pbx.example/r?id=1&x=%20\"", NULL);
	assert_int_equal(cti(b, &ev, &err), 0);
	assert_string_equal(ev.recording_url,
	                    "HTTP://pbx.example/r?id=1&x=%20");
	cti_refused(cti_body(b, sizeof(b), "recording_url",
	                     "\"ftp://pbx.example/r.wav\"", NULL),
	            VOICE_E_FIELD, "recording_url");
	cti_refused(cti_body(b, sizeof(b), "recording_url",
	                     "\"javascript:alert(1)\"", NULL),
	            VOICE_E_FIELD, "recording_url");
	cti_refused(
	        cti_body(b, sizeof(b), "recording_url", "\"https://\"", NULL),
	        VOICE_E_FIELD, "recording_url");
	cti_refused(cti_body(b, sizeof(b), "recording_url",
	                     "\"https:///etc/passwd\"", NULL),
	            VOICE_E_FIELD, "recording_url");
	cti_refused(cti_body(b, sizeof(b), "recording_url",
	                     "\"https://pbx.example/a b.wav\"", NULL),
	            VOICE_E_FIELD, "recording_url");
	cti_refused(cti_body(b, sizeof(b), "recording_url",
	                     "\"/recordings/42.wav\"", NULL),
	            VOICE_E_FIELD, "recording_url");
}

static void
test_cti_at(void **st)
{
	static const struct {
		const char *json;
		long long ms;
	} ok[] = {
	        {"\"2026-12-07T09:30:00Z\"", AT_MS},
	        {"\"2026-12-07t09:30:00z\"", AT_MS},
	        {"\"2026-12-07T10:30:00+01:00\"", AT_MS},
	        {"\"2026-12-07T04:00:00-05:30\"", AT_MS},
	        {"\"2026-12-07T09:30:00+00:00\"", AT_MS},
	        {"\"2026-12-07T09:30:00-00:00\"", AT_MS},
	        {"\"2026-12-07T09:30:00.5Z\"", AT_MS + 500},
	        {"\"2026-12-07T09:30:00.123456789Z\"", AT_MS + 123},
	        {"\"2026-12-07T09:30:00.999+00:00\"", AT_MS + 999},
	        /* Late evening in Auckland; a leap day. */
	        {"\"2026-12-07T22:30:00+13:00\"", AT_MS},
	        {"\"2024-02-29T00:00:00Z\"", 1709164800000LL},
	};
	static const char *const bad[] = {
	        "\"2026-12-07T09:30:00\"",      /* no offset */
	        "\"2026-12-07 09:30:00Z\"",     /* a space */
	        "\"2026-12-07T09:30Z\"",        /* no seconds */
	        "\"2026-12-07T09:30:00+0100\"", /* offset without ':' */
	        "\"2026-12-07T09:30:00.Z\"",    /* an empty fraction */
	        "\"2026-13-07T09:30:00Z\"",     /* month 13 */
	        "\"2025-02-29T00:00:00Z\"",     /* not a leap year */
	        "\"2026-12-07T24:00:00Z\"",
	        "\"Mon, 07 Dec 2026 09:30:00 +0000\"", /* RFC 2822 */
	        "\"1796635800\"",
	        "\"\"",
	        "\"1969-12-31T23:59:59Z\"",
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cti_body(b, sizeof(b), "at", ok[i].json, NULL);
		assert_int_equal(cti(b, &ev, &err), 0);
		if (ev.at_ms != ok[i].ms) {
			print_error("%s: %lld\n", ok[i].json, ev.at_ms);
			fail();
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cti_refused(cti_body(b, sizeof(b), "at", bad[i], NULL),
		            VOICE_E_AT, "at");
}

/* ---- Twilio ---- */

/*
 * A voice status callback as Twilio sends it to a StatusCallback URL: the
 * parameters its docs list for a call's request (CallSid, AccountSid,
 * From, To, CallStatus, ApiVersion, Direction, ForwardedFrom, CallerName,
 * ParentCallSid, the geographic ones) and those status callbacks add
 * (CallDuration, Timestamp, CallbackSource, SequenceNumber, RecordingUrl)
 * (https://www.twilio.com/docs/voice/twiml#request-parameters,
 * https://www.twilio.com/docs/voice/api/call-resource#statuscallback),
 * form-encoded as Twilio does; the Timestamp is the docs' own example.
 * Ofcom's drama numbers.
 */
#define TW_SID    "CA5d4b1a4f0f3e4e5c8d2f0a9b1c7e6d3a"
#define TW_PARENT "CA0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
#define TW_DOC                                                                 \
	"Called=%2B441632960000&ToState=&CallerCountry=GB&Direction=inbound"   \
	"&Timestamp=Mon%2C+16+Aug+2010+03%3A45%3A01+%2B0000"                   \
	"&CallbackSource=call-progress-events&SequenceNumber=3"                \
	"&To=%2B441632960000&CallSid=" TW_SID "&ToCountry=GB"                  \
	"&ApiVersion=2010-04-01&CallStatus=completed&Duration=1"               \
	"&From=%2B447700900123&CallDuration=42"                                \
	"&AccountSid=ACae3c6b1f2d4e5a6b7c8d9e0f1a2b3c4d&CallerName="           \
	"&ForwardedFrom=&ParentCallSid=&FromCountry=GB&Caller=%2B447700900123" \
	"&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%"  \
	"2F"                                                                   \
	"ACae3c6b1f2d4e5a6b7c8d9e0f1a2b3c4d%2FRecordings%2F"                   \
	"RE1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c"

/* A short valid callback, for the cases. */
#define TW_BASE                                                                \
	"CallSid=" TW_SID "&CallStatus=ringing&Direction=inbound"              \
	"&From=%2B447700900123&To=%2B441632960000"                             \
	"&Timestamp=Mon%2C+16+Aug+2010+03%3A45%3A01+%2B0000&SequenceNumber=0"

/* 2010-08-16T03:45:01Z */
#define TW_MS 1281930301000LL

static int
tw(const char *body, struct voice_event *ev, struct voice_error *err)
{
	struct http_form f;
	int rc;

	memset(&f, 0, sizeof(f));
	if (http_form_parse(body, strlen(body), &f, NULL) < 0) {
		print_error("not a form: %s\n", body);
		fail();
	}
	rc = voice_event_twilio(&f, ev, err);
	http_form_clear(&f);
	return rc;
}

/*
 * The base callback with the parameters in extra (form-encoded) first:
 * http_form_get answers the first value of a name, so extra overrides.
 */
static const char *
tw_with(char *buf, size_t len, const char *extra)
{
	int w = snprintf(buf, len, "%s&%s", extra, TW_BASE);

	assert_true(w > 0 && (size_t)w < len);
	return buf;
}

static void
tw_refused(const char *body, const char *code, const char *field)
{
	refused_by(tw, body, code, field);
}

static void
test_twilio_documented(void **st)
{
	struct voice_event ev;
	struct voice_error err;
	char key[VOICE_KEY_LEN];

	(void)st;
	assert_int_equal(tw(TW_DOC, &ev, &err), 0);
	assert_int_equal(ev.kind, VOICE_HANGUP);
	assert_int_equal(ev.cause, VOICE_NORMAL_CLEARING);
	assert_int_equal(ev.direction, VOICE_INBOUND);
	assert_string_equal(ev.call_id, TW_SID);
	assert_string_equal(ev.root_id, TW_SID);
	assert_string_equal(ev.from, "+447700900123");
	assert_string_equal(ev.from_raw, "+447700900123");
	assert_int_equal(ev.withheld, 0);
	assert_string_equal(ev.to, "+441632960000");
	assert_string_equal(ev.to_raw, "+441632960000");
	assert_string_equal(ev.extension, "");
	assert_string_equal(ev.queue, "");
	assert_string_equal(ev.recording_url,
	                    "https://api.twilio.com/2010-04-01/Accounts/"
	                    "ACae3c6b1f2d4e5a6b7c8d9e0f1a2b3c4d/Recordings/"
	                    "RE1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c");
	assert_true(ev.at_ms == TW_MS);
	assert_true(ev.sequence == 3);
	assert_int_equal(ev.duration_s, 42);
	assert_string_equal(ev.provider_status, "completed");
	assert_string_equal(ev.caller_name, "");
	assert_int_equal(voice_event_key(&ev, key, sizeof(key)), 0);
	assert_string_equal(key, TW_SID ":hangup:3");
}

static void
test_twilio_statuses(void **st)
{
	static const struct {
		const char *status;
		enum voice_event_kind kind;
		enum voice_cause cause;
	} cases[] = {
	        {"queued", VOICE_NEW_CALL, VOICE_CAUSE_NONE},
	        {"ringing", VOICE_RINGING, VOICE_CAUSE_NONE},
	        {"in-progress", VOICE_ANSWER, VOICE_CAUSE_NONE},
	        {"completed", VOICE_HANGUP, VOICE_NORMAL_CLEARING},
	        {"busy", VOICE_HANGUP, VOICE_BUSY},
	        {"failed", VOICE_HANGUP, VOICE_FAILED},
	        {"no-answer", VOICE_HANGUP, VOICE_NO_ANSWER},
	        {"canceled", VOICE_HANGUP, VOICE_CANCEL},
	};
	static const struct {
		const char *name;
		enum voice_direction direction;
	} dirs[] = {
	        {"inbound", VOICE_INBOUND},
	        {"outbound-api", VOICE_OUTBOUND},
	        {"outbound-dial", VOICE_OUTBOUND},
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024], x[64];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(x, sizeof(x), "CallStatus=%s", cases[i].status);
		assert_int_equal(tw(tw_with(b, sizeof(b), x), &ev, &err), 0);
		assert_int_equal(ev.kind, cases[i].kind);
		assert_int_equal(ev.cause, cases[i].cause);
		assert_string_equal(ev.provider_status, cases[i].status);
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(x, sizeof(x), "Direction=%s", dirs[i].name);
		assert_int_equal(tw(tw_with(b, sizeof(b), x), &ev, &err), 0);
		assert_int_equal(ev.direction, dirs[i].direction);
	}
	tw_refused(tw_with(b, sizeof(b), "CallStatus=initiated"), VOICE_E_EVENT,
	           "CallStatus");
	tw_refused(tw_with(b, sizeof(b), "CallStatus=Completed"), VOICE_E_EVENT,
	           "CallStatus");
	tw_refused(tw_with(b, sizeof(b), "CallStatus="), VOICE_E_EVENT,
	           "CallStatus");
	tw_refused(tw_with(b, sizeof(b), "Direction=outbound"),
	           VOICE_E_DIRECTION, "Direction");
	tw_refused(tw_with(b, sizeof(b), "Direction=trunking-originating"),
	           VOICE_E_DIRECTION, "Direction");
	/* The leg of a transfer keeps its parent as the root. */
	assert_int_equal(tw(tw_with(b, sizeof(b), "ParentCallSid=" TW_PARENT),
	                    &ev, &err),
	                 0);
	assert_string_equal(ev.root_id, TW_PARENT);
	assert_string_equal(ev.call_id, TW_SID);
	tw_refused(tw_with(b, sizeof(b), "ParentCallSid=CA+1"), VOICE_E_FIELD,
	           "ParentCallSid");
	tw_refused(tw_with(b, sizeof(b), "CallSid=CA%C3%A9"), VOICE_E_FIELD,
	           "CallSid");
	tw_refused(tw_with(b, sizeof(b), "CallSid="), VOICE_E_FIELD, "CallSid");
	assert_int_equal(voice_event_twilio(NULL, &ev, &err), -1);
	assert_string_equal(err.code, VOICE_E_MISSING);
}

static void
test_twilio_withheld(void **st)
{
	/* What Twilio writes for a withheld caller (voice_event.c). */
	static const char *const withheld[] = {
	        "anonymous",      "Anonymous",  "%2B266696687",
	        "%2B86282452253", "%2B2562533", "Restricted",
	        "RESTRICTED",     "Unknown",    "%2B7378742833",
	        "%2B8656696",     "",           "266696687",
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024], x[64];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(withheld) / sizeof(withheld[0]); i++) {
		snprintf(x, sizeof(x), "From=%s", withheld[i]);
		assert_int_equal(tw(tw_with(b, sizeof(b), x), &ev, &err), 0);
		if (!ev.withheld) {
			print_error("not withheld: %s\n", withheld[i]);
			fail();
		}
		assert_string_equal(ev.from, "");
	}
	/* A browser caller is not a number, and not withheld. */
	assert_int_equal(
	        tw(tw_with(b, sizeof(b), "From=client%3Aalice"), &ev, &err), 0);
	assert_int_equal(ev.withheld, 0);
	assert_string_equal(ev.from, "");
	assert_string_equal(ev.from_raw, "client:alice");
	/* A real Lesotho number still is one. */
	assert_int_equal(
	        tw(tw_with(b, sizeof(b), "From=%2B26622123456"), &ev, &err), 0);
	assert_string_equal(ev.from, "+26622123456");
	tw_refused(tw_with(b, sizeof(b), "From=%2B44%01"), VOICE_E_FIELD,
	           "From");
	tw_refused(tw_with(b, sizeof(b), "To="), VOICE_E_FIELD, "To");
}

static void
test_twilio_extension(void **st)
{
	static const struct {
		const char *extra, *ext;
	} cases[] = {
	        {"Direction=outbound-dial&To=client%3Aalice", "alice"},
	        {"Direction=outbound-dial&To=CLIENT%3Abob", "bob"},
	        {"Direction=outbound-dial&To=sip%3A2041%40pbx.example.gov.uk",
	         "2041"},
	        {"Direction=outbound-dial&To=sip%3A2041%40pbx.example.gov.uk"
	         "%3Btransport%3Dtls",
	         "2041"},
	        /* A number rung by <Dial>: no extension. */
	        {"Direction=outbound-dial&To=%2B447700900123", ""},
	        /* Not a <Dial> leg: no extension. */
	        {"Direction=inbound&To=client%3Aalice", ""},
	        {"Direction=outbound-api&To=sip%3A2041%40pbx.example", ""},
	        /* Nothing to name. */
	        {"Direction=outbound-dial&To=sip%3Apbx.example", ""},
	        {"Direction=outbound-dial&To=sip%3A%40pbx.example", ""},
	        {"Direction=outbound-dial&To=client%3A", ""},
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024], x[200];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		        tw(tw_with(b, sizeof(b), cases[i].extra), &ev, &err),
		        0);
		assert_string_equal(ev.extension, cases[i].ext);
		/* Only the number is a number. */
		assert_string_equal(ev.to,
		                    ev.to_raw[0] == '+' ? ev.to_raw : "");
	}
	/* The name is bounded like any extension. */
	memcpy(x, "Direction=outbound-dial&To=client%3A", 36);
	memset(x + 36, 'a', VOICE_NAME_MAX + 1);
	x[36 + VOICE_NAME_MAX + 1] = '\0';
	tw_refused(tw_with(b, sizeof(b), x), VOICE_E_TOO_LONG, "To");
	x[36 + VOICE_NAME_MAX] = '\0';
	assert_int_equal(tw(tw_with(b, sizeof(b), x), &ev, &err), 0);
	assert_int_equal(strlen(ev.extension), VOICE_NAME_MAX);
}

static void
test_twilio_dates(void **st)
{
	static const struct {
		const char *enc;
		long long ms;
	} ok[] = {
	        {"Mon%2C+16+Aug+2010+03%3A45%3A01+%2B0000", TW_MS},
	        {"16+Aug+2010+03%3A45%3A01+%2B0000", TW_MS},
	        {"Mon%2C+16+Aug+2010+04%3A45%3A01+%2B0100", TW_MS},
	        {"Sun%2C+15+Aug+2010+22%3A15%3A01+-0530", TW_MS},
	        {"Mon%2C+16+Aug+2010+03%3A45%3A01+-0000", TW_MS},
	        {"Mon%2C+16+Aug+2010+03%3A45%3A01+GMT", TW_MS},
	        {"Mon%2C+16+Aug+2010+03%3A45%3A01+UT", TW_MS},
	        {"Mon%2C+16+Aug+2010+03%3A45+%2B0000", TW_MS - 1000},
	        {"Sun%2C+25+Mar+2018+09%3A53%3A19+%2B0000", 1521971599000LL},
	        {"Mon%2C+7+Dec+2026+09%3A30%3A00+%2B0000", AT_MS},
	        {"Thu%2C+29+Feb+2024+00%3A00%3A00+%2B0000", 1709164800000LL},
	        /* The leap second is the second before. */
	        {"Sat%2C+31+Dec+2016+23%3A59%3A60+%2B0000", 1483228799000LL},
	};
	static const char *const bad[] = {
	        "Mon%2C+16+Aug+2010+03%3A45%3A01",            /* no zone */
	        "Mon%2C+16+Aug+2010+03%3A45%3A01+%2B01%3A00", /* hh:mm zone */
	        "Mon%2C+16+Aug+2010+03%3A45%3A01+Etc%2FUTC",
	        "Mon%2C+16+Aug+2010+03%3A45%3A01+BST",
	        "Mon%2C+16+Aug+2010+03%3A45%3A01+%2B0000+", /* trailing */
	        "Mon%2C+16+Aug+2010+03%3A45%3A01+%2B0000x",
	        "Mon%2C16+Aug+2010+03%3A45%3A01+%2B0000",  /* no space */
	        "Mon%2C+31+Jun+2010+03%3A45%3A01+%2B0000", /* 31 June */
	        "Mon%2C+29+Feb+2010+03%3A45%3A01+%2B0000", /* not leap */
	        "Mon%2C+0+Aug+2010+03%3A45%3A01+%2B0000",
	        "Mon%2C+16+Foo+2010+03%3A45%3A01+%2B0000",
	        "Mon%2C+16+aug+2010+03%3A45%3A01+%2B0000",
	        "Mon%2C+16+Aug+10+03%3A45%3A01+%2B0000", /* 2 digits */
	        "Mon%2C+16+Aug+1969+03%3A45%3A01+%2B0000",
	        "Mon%2C+16+Aug+2010+24%3A00%3A00+%2B0000",
	        "Mon%2C+16+Aug+2010+03%3A60%3A00+%2B0000",
	        "Mon%2C+16+Aug+2010+03%3A45%3A61+%2B0000",
	        "Mon%2C+16+Aug+2010+03%3A45%3A01+%2B2400",
	        "Mon%2C+16+Aug+2010+03%3A45%3A01+%2B0060",
	        "Thu%2C+01+Jan+1970+00%3A00%3A00+%2B0100", /* before 1970 */
	        "2010-08-16T03%3A45%3A01Z",
	        "1281930301",
	        "",
	        "Mon",
	        "Mon%2C+",
	        "1",
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024], x[200];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(x, sizeof(x), "Timestamp=%s", ok[i].enc);
		assert_int_equal(tw(tw_with(b, sizeof(b), x), &ev, &err), 0);
		if (ev.at_ms != ok[i].ms) {
			print_error("%s: %lld\n", ok[i].enc, ev.at_ms);
			fail();
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(x, sizeof(x), "Timestamp=%s", bad[i]);
		tw_refused(tw_with(b, sizeof(b), x), VOICE_E_AT, "Timestamp");
	}
}

static void
test_twilio_missing(void **st)
{
	static const char *const required[] = {
	        "CallSid", "CallStatus", "Direction",      "From",
	        "To",      "Timestamp",  "SequenceNumber",
	};
	struct voice_event ev;
	struct voice_error err;
	char b[1024];
	size_t i, at;
	const char *p, *amp;

	(void)st;
	/* TW_BASE without each required parameter in turn. */
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		at = 0;
		for (p = TW_BASE; *p != '\0'; p = *amp ? amp + 1 : amp) {
			amp = strchr(p, '&');
			if (amp == NULL)
				amp = p + strlen(p);
			if (strncmp(p, required[i], strlen(required[i])) == 0 &&
			    p[strlen(required[i])] == '=')
				continue;
			if (at > 0)
				b[at++] = '&';
			memcpy(b + at, p, (size_t)(amp - p));
			at += (size_t)(amp - p);
		}
		b[at] = '\0';
		tw_refused(b, VOICE_E_MISSING, required[i]);
	}
	/* Optional ones absent: the defaults. */
	assert_int_equal(tw(TW_BASE, &ev, &err), 0);
	assert_true(ev.sequence == 0);
	assert_int_equal(ev.duration_s, -1);
	assert_string_equal(ev.caller_name, "");
	assert_string_equal(ev.recording_url, "");
	assert_string_equal(ev.root_id, TW_SID);
}

static void
test_twilio_values(void **st)
{
	struct voice_event ev;
	struct voice_error err;
	char b[2048], x[1200];

	(void)st;
	/* SequenceNumber and CallDuration: decimal digits only. */
	assert_int_equal(
	        tw(tw_with(b, sizeof(b), "SequenceNumber=999999999999999999"),
	           &ev, &err),
	        0);
	assert_true(ev.sequence == 999999999999999999LL);
	tw_refused(tw_with(b, sizeof(b), "SequenceNumber=1000000000000000000"),
	           VOICE_E_FIELD, "SequenceNumber");
	tw_refused(tw_with(b, sizeof(b), "SequenceNumber=-1"), VOICE_E_FIELD,
	           "SequenceNumber");
	tw_refused(tw_with(b, sizeof(b), "SequenceNumber=+1"), VOICE_E_FIELD,
	           "SequenceNumber");
	tw_refused(tw_with(b, sizeof(b), "SequenceNumber=0x1"), VOICE_E_FIELD,
	           "SequenceNumber");
	tw_refused(tw_with(b, sizeof(b), "SequenceNumber="), VOICE_E_FIELD,
	           "SequenceNumber");
	assert_int_equal(tw(tw_with(b, sizeof(b), "CallDuration=0"), &ev, &err),
	                 0);
	assert_int_equal(ev.duration_s, 0);
	assert_int_equal(tw(tw_with(b, sizeof(b), "CallDuration="), &ev, &err),
	                 0);
	assert_int_equal(ev.duration_s, -1);
	tw_refused(tw_with(b, sizeof(b), "CallDuration=1.5"), VOICE_E_FIELD,
	           "CallDuration");
	tw_refused(tw_with(b, sizeof(b), "CallDuration=1234567890"),
	           VOICE_E_FIELD, "CallDuration");

	/* CallerName: UTF-8, no control character, 200 bytes. */
	assert_int_equal(
	        tw(tw_with(b, sizeof(b), "CallerName=Ren%C3%A9e+Smith"), &ev,
	           &err),
	        0);
	assert_string_equal(ev.caller_name, "Ren\xc3\xa9"
	                                    "e Smith");
	tw_refused(tw_with(b, sizeof(b), "CallerName=Ren%E9e"), VOICE_E_FIELD,
	           "CallerName");
	tw_refused(tw_with(b, sizeof(b), "CallerName=a%0Ab"), VOICE_E_FIELD,
	           "CallerName");
	memcpy(x, "CallerName=", 11);
	memset(x + 11, 'n', VOICE_CALLER_MAX + 1);
	x[11 + VOICE_CALLER_MAX + 1] = '\0';
	tw_refused(tw_with(b, sizeof(b), x), VOICE_E_TOO_LONG, "CallerName");
	x[11 + VOICE_CALLER_MAX] = '\0';
	assert_int_equal(tw(tw_with(b, sizeof(b), x), &ev, &err), 0);
	assert_int_equal(strlen(ev.caller_name), VOICE_CALLER_MAX);

	/* RecordingUrl: http(s) only; empty is none. */
	assert_int_equal(tw(tw_with(b, sizeof(b), "RecordingUrl="), &ev, &err),
	                 0);
	assert_string_equal(ev.recording_url, "");
	tw_refused(tw_with(b, sizeof(b), "RecordingUrl=ftp%3A%2F%2Fx%2Fr"),
	           VOICE_E_FIELD, "RecordingUrl");
	tw_refused(tw_with(b, sizeof(b), "RecordingUrl=https%3A%2F%2Fx%2Fa+b"),
	           VOICE_E_FIELD, "RecordingUrl");
	/* From and To, bounded. */
	memcpy(x, "From=", 5);
	memset(x + 5, '1', VOICE_RAW_MAX + 1);
	x[5 + VOICE_RAW_MAX + 1] = '\0';
	tw_refused(tw_with(b, sizeof(b), x), VOICE_E_TOO_LONG, "From");
	memcpy(x, "To=", 3);
	memset(x + 3, '1', VOICE_TO_RAW_MAX + 1);
	x[3 + VOICE_TO_RAW_MAX + 1] = '\0';
	tw_refused(tw_with(b, sizeof(b), x), VOICE_E_TOO_LONG, "To");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cti_full),
	        cmocka_unit_test(test_cti_minimal),
	        cmocka_unit_test(test_cti_events),
	        cmocka_unit_test(test_cti_causes),
	        cmocka_unit_test(test_cti_withheld),
	        cmocka_unit_test(test_cti_uk_numbers),
	        cmocka_unit_test(test_cti_bad_json),
	        cmocka_unit_test(test_cti_missing),
	        cmocka_unit_test(test_cti_types),
	        cmocka_unit_test(test_cti_limits),
	        cmocka_unit_test(test_cti_bad_values),
	        cmocka_unit_test(test_cti_at),
	        cmocka_unit_test(test_twilio_documented),
	        cmocka_unit_test(test_twilio_statuses),
	        cmocka_unit_test(test_twilio_withheld),
	        cmocka_unit_test(test_twilio_extension),
	        cmocka_unit_test(test_twilio_dates),
	        cmocka_unit_test(test_twilio_missing),
	        cmocka_unit_test(test_twilio_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
