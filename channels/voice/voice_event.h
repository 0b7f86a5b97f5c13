/*
 * voice_event.h: a phone system's call event, parsed into one normalised
 * struct voice_event (issue 16, "Voice events"; docs/voice.md, "Call
 * events"; shared/reference/providers.md). Two sources:
 *
 *   voice_event_cti     the generic CTI JSON any council phone system can
 *                       post to /hooks/cti (our documented shape)
 *   voice_event_twilio  Twilio's voice status callback, from its decoded
 *                       form (gateway/http/http_form.h)
 *
 * Pure: no I/O, no global state, nothing kept; any thread. The event is
 * filled in place (fixed buffers, nothing to free). Neither parser checks
 * a signature: the caller verifies the request first (signed_hook.h for
 * CTI, sms_sig.h for Twilio). Neither orders or de-duplicates: the caller
 * stores voice_event_key in PostgreSQL and applies a call's events in
 * order (CTI by at_ms, Twilio by sequence), terminal ones never re-opened.
 * Fuzzed (tests/fuzz/fuzz_voice_event.c) and unit tested case by case
 * (tests/unit/voice/test_voice_event.c).
 *
 * Every string is bounded: longer input is refused (VOICE_E_TOO_LONG),
 * never cut. Strings hold valid UTF-8 and no control character (C0, DEL).
 *
 * Numbers: from and to are E.164 through identity_phone (UK national and
 * international forms, providers.md "Phone numbers"); a value that is not
 * a phone number (a SIP URI, "client:alice", an extension) leaves them ""
 * with the text kept in from_raw / to_raw. A withheld caller ("anonymous",
 * "withheld", "private", "unknown", "restricted", "unavailable", "blocked"
 * in any case, "" or absent, and Twilio's keypad spellings of those words:
 * +266696687 and the others in voice_event.c) sets withheld and leaves
 * from "": a withheld number matches nobody.
 *
 * Not here: the endpoints, the SQL, the lifecycle per call, screen pop
 * and callbacks (the lead's part of issue 16); Twilio's incoming-call
 * request (it has no Timestamp nor SequenceNumber and is refused).
 */
#ifndef VOICE_EVENT_H
#define VOICE_EVENT_H

#include <stddef.h>

#include "identity.h"

struct http_form; /* gateway/http/http_form.h */

enum voice_event_kind {
	VOICE_NEW_CALL = 0,
	VOICE_RINGING,
	VOICE_ANSWER,
	VOICE_HANGUP,
};

enum voice_direction {
	VOICE_INBOUND = 0,
	VOICE_OUTBOUND,
};

/* Why a call ended (hangup only). VOICE_FAILED comes only from Twilio. */
enum voice_cause {
	VOICE_CAUSE_NONE = 0,
	VOICE_NORMAL_CLEARING,
	VOICE_BUSY,
	VOICE_CANCEL,
	VOICE_NO_ANSWER,
	VOICE_CONGESTION,
	VOICE_NOT_FOUND,
	VOICE_FORWARDED,
	VOICE_VOICEMAIL,
	VOICE_FAILED,
};

#define VOICE_ID_MAX     128  /* call ids: printable ASCII, no spaces */
#define VOICE_RAW_MAX    64   /* from_raw, bytes */
#define VOICE_TO_RAW_MAX 128  /* to_raw, bytes */
#define VOICE_NAME_MAX   64   /* extension, queue, bytes */
#define VOICE_URL_MAX    1024 /* recording_url, bytes */
#define VOICE_CALLER_MAX 200  /* caller_name, bytes */
/* voice_event_key's longest result, with its NUL. */
#define VOICE_KEY_LEN (VOICE_ID_MAX + 48)

struct voice_event {
	enum voice_event_kind kind;
	enum voice_direction direction;
	enum voice_cause cause; /* hangup only; else NONE */
	char call_id[VOICE_ID_MAX + 1];
	/*
	 * parent_call_id / ParentCallSid when given, else call_id: the id
	 * that survives transfers, by which legs are correlated.
	 */
	char root_id[VOICE_ID_MAX + 1];
	char from[IDENTITY_PHONE_LEN]; /* E.164, "" withheld or not a number */
	int withheld;                  /* the caller withheld their number */
	char from_raw[VOICE_RAW_MAX + 1]; /* as given, trimmed */
	char to[IDENTITY_PHONE_LEN];
	char to_raw[VOICE_TO_RAW_MAX + 1];
	/*
	 * CTI agent_extension. Twilio: the name of a To "client:<name>" or
	 * the user of a To "sip:<ext>@host" on an outbound-dial leg (the
	 * leg that rings an advisor), else "".
	 */
	char extension[VOICE_NAME_MAX + 1];
	char queue[VOICE_NAME_MAX + 1];        /* CTI queue; "" none */
	char recording_url[VOICE_URL_MAX + 1]; /* http(s) only; "" none */
	long long at_ms;          /* CTI "at", Twilio Timestamp: Unix ms, UTC */
	long long sequence;       /* Twilio SequenceNumber; -1 for CTI */
	int duration_s;           /* Twilio CallDuration; -1 unknown */
	char provider_status[32]; /* Twilio CallStatus; the CTI event name */
	char caller_name[VOICE_CALLER_MAX + 1]; /* Twilio CallerName, or "" */
};

/*
 * Why an event was refused (the 400's reason): code one of VOICE_E_*,
 * why a sentence for the sender's log, field the key or form parameter
 * concerned ("call_id", "CallStatus") or NULL for the body as a whole.
 * All static.
 */
struct voice_error {
	const char *code;
	const char *why;
	const char *field;
};

#define VOICE_E_JSON      "json"      /* not one JSON object */
#define VOICE_E_MISSING   "missing"   /* a required key is absent */
#define VOICE_E_TYPE      "type"      /* a key of the wrong JSON type */
#define VOICE_E_FIELD     "field"     /* the right type, a bad value */
#define VOICE_E_TOO_LONG  "too_long"  /* over a limit above */
#define VOICE_E_EVENT     "event"     /* an unknown event / CallStatus */
#define VOICE_E_DIRECTION "direction" /* an unknown direction */
#define VOICE_E_CAUSE     "cause"     /* unknown, or not on a hangup */
#define VOICE_E_AT        "at"        /* not a date-time we read */

/*
 * The generic CTI JSON (docs/voice.md): body is len bytes of anything.
 * One JSON object, UTF-8, no duplicate keys; unknown keys ignored.
 * Required strings: event (newCall | ringing | answer | hangup), call_id,
 * direction (inbound | outbound), from, to, at (RFC 3339 with Z or an
 * offset, fractions allowed). Optional strings (null counts as absent):
 * parent_call_id, agent_extension, queue, recording_url, cause (on hangup
 * only; absent means normalClearing). 0 with *ev filled, or -1 with *err
 * set and *ev cleared.
 */
int voice_event_cti(const char *body, size_t len, struct voice_event *ev,
                    struct voice_error *err);

/*
 * Twilio's voice status callback (docs/voice.md has the mapping table).
 * Required: CallSid, CallStatus, Direction, From, To, Timestamp (RFC 2822,
 * "Mon, 16 Aug 2010 03:45:01 +0000"), SequenceNumber (decimal).
 * Optional: ParentCallSid, CallDuration, CallerName, RecordingUrl.
 * Others are ignored. form is only read. 0 with *ev filled, or -1 with
 * *err set and *ev cleared.
 */
int voice_event_twilio(const struct http_form *form, struct voice_event *ev,
                       struct voice_error *err);

/* "newCall", "ringing", "answer", "hangup"; "" out of range. */
const char *voice_event_kind_name(enum voice_event_kind k);
/*
 * "normalClearing", "busy", "cancel", "noAnswer", "congestion",
 * "notFound", "forwarded", "voicemail", "failed"; "" for NONE and out of
 * range (store NULL).
 */
const char *voice_cause_name(enum voice_cause c);
/* "inbound", "outbound"; "" out of range. */
const char *voice_direction_name(enum voice_direction d);

/*
 * The idempotency key stored with the event: "<call_id>:<kind
 * name>:<at_ms>" for CTI (sequence -1), "<call_id>:<kind
 * name>:<sequence>" for Twilio. Written to out (len bytes; VOICE_KEY_LEN
 * always suffices). 0, or -1 when it does not fit (out then "").
 */
int voice_event_key(const struct voice_event *ev, char *out, size_t len);

#endif
