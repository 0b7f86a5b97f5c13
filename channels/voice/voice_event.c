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
#include "http_form.h"
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

/* Twilio's CallStatus values (providers.md "Twilio — Voice"). */
static const struct {
	const char *status;
	enum voice_event_kind kind;
	enum voice_cause cause;
} twilio_statuses[] = {
        {"queued", VOICE_NEW_CALL, VOICE_CAUSE_NONE},
        {"ringing", VOICE_RINGING, VOICE_CAUSE_NONE},
        {"in-progress", VOICE_ANSWER, VOICE_CAUSE_NONE},
        {"completed", VOICE_HANGUP, VOICE_NORMAL_CLEARING},
        {"busy", VOICE_HANGUP, VOICE_BUSY},
        {"failed", VOICE_HANGUP, VOICE_FAILED},
        {"no-answer", VOICE_HANGUP, VOICE_NO_ANSWER},
        {"canceled", VOICE_HANGUP, VOICE_CANCEL},
};

/* Twilio's Direction values; outbound-dial is the leg <Dial> rings. */
static const struct {
	const char *name;
	enum voice_direction direction;
	int dial;
} twilio_directions[] = {
        {"inbound", VOICE_INBOUND, 0},
        {"outbound-api", VOICE_OUTBOUND, 0},
        {"outbound-dial", VOICE_OUTBOUND, 1},
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

static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
static const char *const week_days[7] = {"Mon", "Tue", "Wed", "Thu",
                                         "Fri", "Sat", "Sun"};

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

/* 1 when s[0..n) is printable ASCII without spaces (0x21..0x7e). */
static int
graphic(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* A call id: 1..VOICE_ID_MAX bytes of printable ASCII without spaces. */
static int
put_id(const char *s, size_t n, char *out, const char *field,
       struct voice_error *err)
{
	if (n == 0)
		return fail(err, VOICE_E_FIELD, field, "is empty");
	if (n > VOICE_ID_MAX)
		return fail(err, VOICE_E_TOO_LONG, field,
		            "is longer than 128 bytes");
	if (!graphic(s, n))
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
	size_t scheme;

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
	if (!graphic(s, n))
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

/* ---- Twilio's voice status callback ---- */

/* n digits at s as a number, or -1. */
static long
digits(const char *s, size_t n)
{
	long v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* The index of the 3-letter name at s in names[0..n), or -1. */
static int
name_at(const char *s, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strncmp(s, names[i], 3) == 0)
			return i;
	return -1;
}

/*
 * RFC 2822 as Twilio writes it: "Mon, 16 Aug 2010 03:45:01 +0000" (the
 * day name optional, one or two digits of day, seconds optional, the zone
 * +hhmm/-hhmm or GMT, UT, UTC). Strict otherwise: no comments, no
 * obsolete forms, single spaces. 0 with *ms (UTC), or -1.
 */
static int
rfc2822_ms(const char *s, long long *ms)
{
	long day, mon, year, hh, mm, ss = 0, zh, zm;
	int zone = 0, sign;
	struct tm tm, back;
	time_t t;

	if (strlen(s) > 40)
		return -1;
	if (name_at(s, week_days, 7) >= 0 && s[3] == ',' && s[4] == ' ')
		s += 5;
	/* "1 Aug 2010 03:45 UT", the shortest: every index below exists. */
	if (strlen(s) < 19)
		return -1;
	day = digits(s, s[1] == ' ' ? 1 : 2);
	s += s[1] == ' ' ? 1 : 2;
	if (day < 1 || s[0] != ' ')
		return -1;
	mon = name_at(s + 1, months, 12);
	if (mon < 0 || s[4] != ' ')
		return -1;
	year = digits(s + 5, 4);
	hh = digits(s + 10, 2);
	mm = digits(s + 13, 2);
	if (year < 1970 || s[9] != ' ' || hh < 0 || s[12] != ':' || mm < 0)
		return -1;
	s += 15;
	if (s[0] == ':') {
		ss = digits(s + 1, 2);
		if (ss < 0)
			return -1;
		s += 3;
	}
	if (s[0] != ' ' || hh > 23 || mm > 59 || ss > 60)
		return -1;
	s++;
	if ((s[0] == '+' || s[0] == '-') && strlen(s) == 5) {
		sign = s[0] == '-' ? -1 : 1;
		zh = digits(s + 1, 2);
		zm = digits(s + 3, 2);
		if (zh < 0 || zm < 0 || zh > 23 || zm > 59)
			return -1;
		zone = sign * (int)(zh * 60 + zm);
	} else if (strcmp(s, "GMT") != 0 && strcmp(s, "UT") != 0 &&
	           strcmp(s, "UTC") != 0) {
		return -1;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)year - 1900;
	tm.tm_mon = (int)mon;
	tm.tm_mday = (int)day;
	tm.tm_hour = (int)hh;
	tm.tm_min = (int)mm;
	/* A leap second is counted as the second before the next minute. */
	tm.tm_sec = ss == 60 ? 59 : (int)ss;
	t = timegm(&tm);
	/* timegm carries 31 June into 1 July: such a date is refused. */
	if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL ||
	    back.tm_mday != (int)day || back.tm_mon != (int)mon)
		return -1;
	t -= (time_t)zone * 60;
	if (t < 0)
		return -1;
	*ms = (long long)t * 1000;
	return 0;
}

/* A required parameter: its value, or NULL with err set. */
static const char *
tw_need(const struct http_form *f, const char *name, struct voice_error *err)
{
	const char *v = http_form_get(f, name);

	if (v == NULL)
		fail(err, VOICE_E_MISSING, name, "is required");
	return v;
}

/* A decimal count of 1..max_digits digits into *out, or -1. */
static int
tw_count(const char *v, size_t max_digits, long long *out)
{
	size_t n = strlen(v), i;
	long long x = 0;

	if (n == 0 || n > max_digits)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return 0;
}

static int
tw_status(const struct http_form *f, struct voice_event *ev,
          struct voice_error *err)
{
	const char *v = tw_need(f, "CallStatus", err);
	size_t i;

	if (v == NULL)
		return -1;
	for (i = 0; i < N_ELEMS(twilio_statuses); i++)
		if (strcmp(v, twilio_statuses[i].status) == 0) {
			ev->kind = twilio_statuses[i].kind;
			ev->cause = twilio_statuses[i].cause;
			/* The statuses are short: they fit. */
			memcpy(ev->provider_status, v, strlen(v) + 1);
			return 0;
		}
	return fail(err, VOICE_E_EVENT, "CallStatus",
	            "must be queued, ringing, in-progress, completed, busy, "
	            "failed, no-answer or canceled");
}

/* The direction: 0, with *dial set for an outbound-dial leg; or -1. */
static int
tw_direction(const struct http_form *f, struct voice_event *ev, int *dial,
             struct voice_error *err)
{
	const char *v = tw_need(f, "Direction", err);
	size_t i;

	if (v == NULL)
		return -1;
	for (i = 0; i < N_ELEMS(twilio_directions); i++)
		if (strcmp(v, twilio_directions[i].name) == 0) {
			ev->direction = twilio_directions[i].direction;
			*dial = twilio_directions[i].dial;
			return 0;
		}
	return fail(err, VOICE_E_DIRECTION, "Direction",
	            "must be inbound, outbound-api or outbound-dial");
}

static int
tw_ids(const struct http_form *f, struct voice_event *ev,
       struct voice_error *err)
{
	const char *v = tw_need(f, "CallSid", err);

	if (v == NULL || put_id(v, strlen(v), ev->call_id, "CallSid", err) < 0)
		return -1;
	v = http_form_get(f, "ParentCallSid");
	if (v == NULL || v[0] == '\0') {
		memcpy(ev->root_id, ev->call_id, sizeof(ev->root_id));
		return 0;
	}
	return put_id(v, strlen(v), ev->root_id, "ParentCallSid", err);
}

/*
 * The advisor's extension on the leg <Dial> rings: "client:<name>" (a
 * Twilio Voice SDK client) or "sip:<ext>@host" (a SIP phone).
 */
static int
tw_extension(struct voice_event *ev, struct voice_error *err)
{
	const char *to = ev->to_raw, *at;
	size_t n;

	if (strncasecmp(to, "client:", 7) == 0) {
		to += 7;
		n = strlen(to);
	} else if (strncasecmp(to, "sip:", 4) == 0 &&
	           (at = strchr(to + 4, '@')) != NULL) {
		to += 4;
		n = (size_t)(at - to);
	} else {
		return 0;
	}
	if (n == 0)
		return 0;
	return put_text(to, n, ev->extension, VOICE_NAME_MAX, "To", err);
}

static int
tw_numbers(const struct http_form *f, struct voice_event *ev, int dial,
           struct voice_error *err)
{
	const char *v = tw_need(f, "From", err);

	if (v == NULL || put_from(ev, v, strlen(v), "From", err) < 0)
		return -1;
	v = tw_need(f, "To", err);
	if (v == NULL || put_to(ev, v, strlen(v), "To", err) < 0)
		return -1;
	return dial ? tw_extension(ev, err) : 0;
}

static int
tw_times(const struct http_form *f, struct voice_event *ev,
         struct voice_error *err)
{
	const char *v = tw_need(f, "Timestamp", err);
	long long d;

	if (v == NULL)
		return -1;
	if (rfc2822_ms(v, &ev->at_ms) < 0)
		return fail(err, VOICE_E_AT, "Timestamp",
		            "is not an RFC 2822 date "
		            "(Mon, 16 Aug 2010 03:45:01 +0000)");
	v = tw_need(f, "SequenceNumber", err);
	if (v == NULL)
		return -1;
	if (tw_count(v, 18, &ev->sequence) < 0)
		return fail(err, VOICE_E_FIELD, "SequenceNumber",
		            "must be 1 to 18 decimal digits");
	v = http_form_get(f, "CallDuration");
	if (v == NULL || v[0] == '\0')
		return 0;
	if (tw_count(v, 9, &d) < 0)
		return fail(err, VOICE_E_FIELD, "CallDuration",
		            "must be 1 to 9 decimal digits (seconds)");
	ev->duration_s = (int)d;
	return 0;
}

static int
tw_optional(const struct http_form *f, struct voice_event *ev,
            struct voice_error *err)
{
	const char *v = http_form_get(f, "CallerName");

	if (v != NULL && put_text(v, strlen(v), ev->caller_name,
	                          VOICE_CALLER_MAX, "CallerName", err) < 0)
		return -1;
	v = http_form_get(f, "RecordingUrl");
	if (v != NULL && v[0] != '\0' &&
	    put_url(v, strlen(v), ev->recording_url, "RecordingUrl", err) < 0)
		return -1;
	return 0;
}

int
voice_event_twilio(const struct http_form *form, struct voice_event *ev,
                   struct voice_error *err)
{
	int dial = 0, rc = -1;

	event_clear(ev);
	if (form == NULL) {
		fail(err, VOICE_E_MISSING, NULL, "no form");
		goto out;
	}
	if (tw_status(form, ev, err) < 0 || tw_ids(form, ev, err) < 0 ||
	    tw_direction(form, ev, &dial, err) < 0 ||
	    tw_numbers(form, ev, dial, err) < 0 ||
	    tw_times(form, ev, err) < 0 || tw_optional(form, ev, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		event_clear(ev);
	return rc;
}
