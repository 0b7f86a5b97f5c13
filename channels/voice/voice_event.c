/*
 * voice_event.c: a call event from the generic CTI JSON or Twilio's voice
 * status callback, normalised (voice_event.h). Pure; any thread. The JSON
 * is jansson's (valid UTF-8, no NUL, no duplicate keys); a form's values
 * are bytes, checked here. Names map to enums by table, never by strcmp
 * chains; the numbers are identity.h's.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "form_parse.h" /* form_rfc3339_ms */
#include "text.h"
#include "voice_event.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *const kind_names[] = {
        [VOICE_NEW_CALL] = "newCall",
        [VOICE_RINGING] = "ringing",
        [VOICE_ANSWER] = "answer",
        [VOICE_HANGUP] = "hangup",
};

static const char *const cause_names[] = {
        [VOICE_CAUSE_NONE] = "",
        [VOICE_NORMAL_CLEARING] = "normalClearing",
        [VOICE_BUSY] = "busy",
        [VOICE_CANCEL] = "cancel",
        [VOICE_NO_ANSWER] = "noAnswer",
        [VOICE_CONGESTION] = "congestion",
        [VOICE_NOT_FOUND] = "notFound",
        [VOICE_FORWARDED] = "forwarded",
        [VOICE_VOICEMAIL] = "voicemail",
        [VOICE_FAILED] = "failed",
};

static const char *const direction_names[] = {
        [VOICE_INBOUND] = "inbound",
        [VOICE_OUTBOUND] = "outbound",
};

/* The CTI causes: the documented eight (Twilio's "failed" is not one). */
static const enum voice_cause cti_causes[] = {
        VOICE_NORMAL_CLEARING, VOICE_BUSY,       VOICE_CANCEL,
        VOICE_NO_ANSWER,       VOICE_CONGESTION, VOICE_NOT_FOUND,
        VOICE_FORWARDED,       VOICE_VOICEMAIL,
};

/*
 * A withheld caller, compared without case after trimming. Phone systems
 * write the words. Twilio writes "anonymous" and the others as given
 * since its change of 16 November 2022 ("Upcoming changes to withheld
 * caller ID behavior for <Dial> calls",
 * https://www.twilio.com/changelog/upcoming-changes-to-withheld-caller-ids-behavior-for-dial-calls:
 * "Today Programmable Voice translates the alpha string into digits ...
 * we will begin to persist the alpha string ... e.g. ANONYMOUS,
 * RESTRICTED"). Older <Dial> legs and older accounts still carry those
 * words spelled on a keypad: ANONYMOUS +266696687, RESTRICTED
 * +7378742833, UNAVAILABLE +86282452253, BLOCKED +2562533, UNKNOWN
 * +8656696. +266696687 would otherwise pass as a Lesotho number.
 */
static const char *const withheld_words[] = {
        "anonymous",   "withheld",    "private",    "unknown",
        "restricted",  "unavailable", "blocked",    "+266696687",
        "266696687",   "+7378742833", "7378742833", "+86282452253",
        "86282452253", "+2562533",    "2562533",    "+8656696",
        "8656696",
};

static int
fail(struct voice_error *err, const char *code, const char *field,
     const char *why)
{
	err->code = code;
	err->field = field;
	err->why = why;
	return -1;
}

static void
event_clear(struct voice_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->sequence = -1;
	ev->duration_s = -1;
}

const char *
voice_event_kind_name(enum voice_event_kind k)
{
	return (unsigned)k < N_ELEMS(kind_names) ? kind_names[k] : "";
}

const char *
voice_cause_name(enum voice_cause c)
{
	return (unsigned)c < N_ELEMS(cause_names) ? cause_names[c] : "";
}

const char *
voice_direction_name(enum voice_direction d)
{
	return (unsigned)d < N_ELEMS(direction_names) ? direction_names[d] : "";
}

int
voice_event_key(const struct voice_event *ev, char *out, size_t len)
{
	long long n = ev->sequence >= 0 ? ev->sequence : ev->at_ms;
	int w;

	if (len == 0)
		return -1;
	w = snprintf(out, len, "%s:%s:%lld", ev->call_id,
	             voice_event_kind_name(ev->kind), n);
	if (w < 0 || (size_t)w >= len) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* ---- fields ---- */

/*
 * Text of n bytes into out (max bytes at most): valid UTF-8, no control
 * character. 0, or -1 with err set for field.
 */
static int
put_text(const char *s, size_t n, char *out, size_t max, const char *field,
         struct voice_error *err)
{
	size_t i;

	if (n > max)
		return fail(err, VOICE_E_TOO_LONG, field,
		            "is longer than its limit (docs/voice.md)");
	if (!text_utf8_valid(s, n))
		return fail(err, VOICE_E_FIELD, field, "is not valid UTF-8");
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fail(err, VOICE_E_FIELD, field,
			            "holds a control character");
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* A call id: 1..VOICE_ID_MAX bytes of printable ASCII without spaces. */
static int
put_id(const char *s, size_t n, char *out, const char *field,
       struct voice_error *err)
{
	size_t i;

	if (n == 0)
		return fail(err, VOICE_E_FIELD, field, "is empty");
	if (n > VOICE_ID_MAX)
		return fail(err, VOICE_E_TOO_LONG, field,
		            "is longer than 128 bytes");
	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return fail(err, VOICE_E_FIELD, field,
			            "must be printable ASCII without spaces");
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* A recording link: http:// or https://, a host, no space or control. */
static int
put_url(const char *s, size_t n, char *out, const char *field,
        struct voice_error *err)
{
	size_t i, scheme;

	if (n > VOICE_URL_MAX)
		return fail(err, VOICE_E_TOO_LONG, field,
		            "is longer than 1024 bytes");
	if (n > 7 && strncasecmp(s, "http://", 7) == 0)
		scheme = 7;
	else if (n > 8 && strncasecmp(s, "https://", 8) == 0)
		scheme = 8;
	else
		return fail(err, VOICE_E_FIELD, field,
		            "must be an http:// or https:// link");
	if (s[scheme] == '/')
		return fail(err, VOICE_E_FIELD, field, "has no host");
	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return fail(err, VOICE_E_FIELD, field,
			            "must be printable ASCII without spaces "
			            "(percent-encoded)");
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* s[0..*n) without surrounding spaces: its new start, *n updated. */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && s[0] == ' ') {
		s++;
		(*n)--;
	}
	while (*n > 0 && s[*n - 1] == ' ')
		(*n)--;
	return s;
}

static int
is_withheld(const char *raw)
{
	size_t i;

	if (raw[0] == '\0')
		return 1;
	for (i = 0; i < N_ELEMS(withheld_words); i++)
		if (strcasecmp(raw, withheld_words[i]) == 0)
			return 1;
	return 0;
}

/* The caller: from_raw, and from or withheld (voice_event.h). */
static int
put_from(struct voice_event *ev, const char *s, size_t n, const char *field,
         struct voice_error *err)
{
	const char *why;

	s = trim(s, &n);
	if (put_text(s, n, ev->from_raw, VOICE_RAW_MAX, field, err) < 0)
		return -1;
	if (is_withheld(ev->from_raw)) {
		ev->withheld = 1;
		return 0;
	}
	if (identity_phone(ev->from_raw, 0, ev->from, sizeof(ev->from), &why) <
	    0)
		ev->from[0] = '\0';
	return 0;
}

static int
put_to(struct voice_event *ev, const char *s, size_t n, const char *field,
       struct voice_error *err)
{
	const char *why;

	s = trim(s, &n);
	if (n == 0)
		return fail(err, VOICE_E_FIELD, field, "is empty");
	if (put_text(s, n, ev->to_raw, VOICE_TO_RAW_MAX, field, err) < 0)
		return -1;
	if (identity_phone(ev->to_raw, 0, ev->to, sizeof(ev->to), &why) < 0)
		ev->to[0] = '\0';
	return 0;
}

/* ---- the generic CTI JSON ---- */

/*
 * The string at key: 1 (set *s, *n), 0 absent or null (an error when
 * required), -1 with err set.
 */
static int
cti_string(json_t *root, const char *key, int required, const char **s,
           size_t *n, struct voice_error *err)
{
	json_t *v = json_object_get(root, key);

	if (v == NULL || json_is_null(v)) {
		if (required)
			return fail(err, VOICE_E_MISSING, key, "is required");
		return 0;
	}
	if (!json_is_string(v))
		return fail(err, VOICE_E_TYPE, key,
		            required ? "must be a string"
		                     : "must be a string or null");
	*s = json_string_value(v);
	*n = json_string_length(v);
	return 1;
}

static int
cti_event(json_t *root, struct voice_event *ev, struct voice_error *err)
{
	const char *s = NULL;
	size_t n = 0, i;

	if (cti_string(root, "event", 1, &s, &n, err) < 0)
		return -1;
	for (i = 0; i < N_ELEMS(kind_names); i++)
		if (strcmp(s, kind_names[i]) == 0) {
			ev->kind = (enum voice_event_kind)i;
			/* The names are short: they fit provider_status. */
			memcpy(ev->provider_status, s, n + 1);
			return 0;
		}
	return fail(err, VOICE_E_EVENT, "event",
	            "must be newCall, ringing, answer or hangup");
}

static int
cti_direction(json_t *root, struct voice_event *ev, struct voice_error *err)
{
	const char *s = NULL;
	size_t n = 0, i;

	if (cti_string(root, "direction", 1, &s, &n, err) < 0)
		return -1;
	for (i = 0; i < N_ELEMS(direction_names); i++)
		if (strcmp(s, direction_names[i]) == 0) {
			ev->direction = (enum voice_direction)i;
			return 0;
		}
	return fail(err, VOICE_E_DIRECTION, "direction",
	            "must be inbound or outbound");
}

static int
cti_ids(json_t *root, struct voice_event *ev, struct voice_error *err)
{
	const char *s = NULL;
	size_t n = 0;
	int rc;

	if (cti_string(root, "call_id", 1, &s, &n, err) < 0 ||
	    put_id(s, n, ev->call_id, "call_id", err) < 0)
		return -1;
	rc = cti_string(root, "parent_call_id", 0, &s, &n, err);
	if (rc < 0)
		return -1;
	if (rc == 0 || n == 0) {
		memcpy(ev->root_id, ev->call_id, sizeof(ev->root_id));
		return 0;
	}
	return put_id(s, n, ev->root_id, "parent_call_id", err);
}

static int
cti_numbers(json_t *root, struct voice_event *ev, struct voice_error *err)
{
	const char *s = NULL;
	size_t n = 0;

	if (cti_string(root, "from", 1, &s, &n, err) < 0 ||
	    put_from(ev, s, n, "from", err) < 0)
		return -1;
	if (cti_string(root, "to", 1, &s, &n, err) < 0 ||
	    put_to(ev, s, n, "to", err) < 0)
		return -1;
	return 0;
}

static int
cti_at(json_t *root, struct voice_event *ev, struct voice_error *err)
{
	const char *s = NULL;
	size_t n = 0;

	if (cti_string(root, "at", 1, &s, &n, err) < 0)
		return -1;
	if (form_rfc3339_ms(s, &ev->at_ms) < 0)
		return fail(err, VOICE_E_AT, "at",
		            "is not an RFC 3339 date-time with Z or an offset "
		            "(2026-12-07T09:30:00.250Z)");
	return 0;
}

static int
cti_cause(json_t *root, struct voice_event *ev, struct voice_error *err)
{
	const char *s = NULL;
	size_t n = 0, i;
	int rc;

	rc = cti_string(root, "cause", 0, &s, &n, err);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (ev->kind == VOICE_HANGUP)
			ev->cause = VOICE_NORMAL_CLEARING;
		return 0;
	}
	if (ev->kind != VOICE_HANGUP)
		return fail(err, VOICE_E_CAUSE, "cause",
		            "is given only on a hangup");
	for (i = 0; i < N_ELEMS(cti_causes); i++)
		if (strcmp(s, cause_names[cti_causes[i]]) == 0) {
			ev->cause = cti_causes[i];
			return 0;
		}
	return fail(err, VOICE_E_CAUSE, "cause",
	            "must be normalClearing, busy, cancel, noAnswer, "
	            "congestion, notFound, forwarded or voicemail");
}

static int
cti_optional(json_t *root, struct voice_event *ev, struct voice_error *err)
{
	const char *s = NULL;
	size_t n = 0;
	int rc;

	rc = cti_string(root, "agent_extension", 0, &s, &n, err);
	if (rc < 0 || (rc > 0 && put_text(s, n, ev->extension, VOICE_NAME_MAX,
	                                  "agent_extension", err) < 0))
		return -1;
	rc = cti_string(root, "queue", 0, &s, &n, err);
	if (rc < 0 || (rc > 0 && put_text(s, n, ev->queue, VOICE_NAME_MAX,
	                                  "queue", err) < 0))
		return -1;
	rc = cti_string(root, "recording_url", 0, &s, &n, err);
	if (rc < 0 ||
	    (rc > 0 && n > 0 &&
	     put_url(s, n, ev->recording_url, "recording_url", err) < 0))
		return -1;
	return 0;
}

int
voice_event_cti(const char *body, size_t len, struct voice_event *ev,
                struct voice_error *err)
{
	json_error_t jerr;
	json_t *root = NULL;
	int rc = -1;

	event_clear(ev);
	if (body == NULL) {
		fail(err, VOICE_E_JSON, NULL, "no body");
		goto out;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		fail(err, VOICE_E_JSON, NULL,
		     "the body is not one JSON object (UTF-8, no duplicate "
		     "keys)");
		goto out;
	}
	if (cti_event(root, ev, err) < 0 || cti_ids(root, ev, err) < 0 ||
	    cti_direction(root, ev, err) < 0 ||
	    cti_numbers(root, ev, err) < 0 || cti_at(root, ev, err) < 0 ||
	    cti_cause(root, ev, err) < 0 || cti_optional(root, ev, err) < 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		event_clear(ev);
	return rc;
}
