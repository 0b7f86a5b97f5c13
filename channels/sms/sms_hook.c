/*
 * sms_hook.c: the SMS providers' webhooks, read (sms_hook.h). Pure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "sms_hook.h"
#include "xmalloc.h"

static int
fail(struct sms_hook_error *err, const char *code, const char *field,
     const char *why)
{
	err->code = code;
	err->field = field;
	err->why = why;
	return -1;
}

/* 1 when s[0..n) is UTF-8 with no NUL or other C0 control but \t \r \n. */
static int
text_ok(const char *s, size_t n)
{
	json_t *j;
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t' &&
		    s[i] != '\r' && s[i] != '\n')
			return 0;
	j = json_stringn(s, n);
	if (j == NULL)
		return 0;
	json_decref(j);
	return 1;
}

/* An id: 1 to max printable ASCII, no spaces. */
static int
id_copy(const char *v, char *out, size_t len)
{
	size_t i, n = v != NULL ? strlen(v) : 0;

	if (n == 0 || n >= len)
		return -1;
	for (i = 0; i < n; i++)
		if (v[i] <= ' ' || v[i] > '~')
			return -1;
	memcpy(out, v, n + 1);
	return 0;
}

/*
 * A number as given (raw, at most 64 bytes of printable text) and as
 * E.164 when it is one (flags: identity_phone's).
 */
static int
number_copy(const char *v, unsigned flags, char *e164, char *raw, size_t rawlen)
{
	const char *why;
	size_t i, n = v != NULL ? strlen(v) : 0;

	e164[0] = '\0';
	if (n == 0 || n >= rawlen)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return -1;
	memcpy(raw, v, n + 1);
	if (identity_phone(v, flags, e164, IDENTITY_PHONE_LEN, &why) != 0)
		e164[0] = '\0';
	return 0;
}

/* Notify's times: 2017-05-14T12:15:30.000000Z (UTC). -1 when not one. */
static long long
notify_time(const char *s)
{
	struct tm tm;
	const char *p;
	long long frac = 0, scale = 1000;
	int used = -1;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	           &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	           &used) != 6 ||
	    used != 19 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60 || tm.tm_year < 1970)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	p = s + used;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	if (*p == 'Z')
		p++;
	if (*p != '\0')
		return -1;
	return (long long)timegm(&tm) * 1000 + frac;
}

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The body as a JSON object, or NULL with err. */
static json_t *
load(const char *body, size_t len, struct sms_hook_error *err)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);

	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		fail(err, "json", NULL, "the body is not a JSON object");
		return NULL;
	}
	return o;
}

/* A required string member k: its value, or NULL with err. */
static const char *
need(json_t *o, const char *k, struct sms_hook_error *err)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v)) {
		fail(err, "field", k, "a required field is missing");
		return NULL;
	}
	if (!json_is_string(v)) {
		fail(err, "type", k, "the field must be a string");
		return NULL;
	}
	return json_string_value(v);
}

static int
text_set(struct sms_inbound *m, const char *v, size_t n, const char *field,
         struct sms_hook_error *err)
{
	if (n > SMS_HOOK_TEXT_MAX)
		return fail(err, "length", field, "the text is too long");
	if (!text_ok(v, n))
		return fail(err, "utf8", field,
		            "the text is not UTF-8 or holds control bytes");
	m->text = xmalloc(n + 1);
	memcpy(m->text, v, n);
	m->text[n] = '\0';
	return 0;
}

int
sms_hook_notify_inbound(const char *body, size_t len, struct sms_inbound *m,
                        struct sms_hook_error *err)
{
	json_t *o, *msg;
	const char *v;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	m->at_ms = -1;
	o = load(body, len, err);
	if (o == NULL)
		return -1;
	if ((v = need(o, "id", err)) == NULL)
		goto out;
	if (id_copy(v, m->id, sizeof(m->id)) != 0) {
		fail(err, "field", "id", "not an id");
		goto out;
	}
	if ((v = need(o, "source_number", err)) == NULL)
		goto out;
	if (number_copy(v, IDENTITY_PHONE_BARE_INTL, m->from, m->from_raw,
	                sizeof(m->from_raw)) != 0) {
		fail(err, "field", "source_number", "not a number");
		goto out;
	}
	if ((v = need(o, "destination_number", err)) == NULL)
		goto out;
	if (number_copy(v, 0, m->to, m->to_raw, sizeof(m->to_raw)) != 0) {
		fail(err, "field", "destination_number", "not a number");
		goto out;
	}
	msg = json_object_get(o, "message");
	if (msg == NULL || !json_is_string(msg)) {
		fail(err, msg == NULL ? "field" : "type", "message",
		     msg == NULL ? "a required field is missing"
		                 : "the field must be a string");
		goto out;
	}
	if (text_set(m, json_string_value(msg), json_string_length(msg),
	             "message", err) != 0)
		goto out;
	v = jstr(o, "date_received");
	if (v != NULL && (m->at_ms = notify_time(v)) < 0) {
		fail(err, "field", "date_received",
		     "not a time like 2017-05-14T12:15:30.000000Z");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

int
sms_hook_notify_status(const char *body, size_t len, struct sms_receipt *r,
                       struct sms_hook_error *err)
{
	json_t *o, *ref;
	const char *v;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	o = load(body, len, err);
	if (o == NULL)
		return -1;
	if ((v = need(o, "id", err)) == NULL)
		goto out;
	if (id_copy(v, r->id, sizeof(r->id)) != 0) {
		fail(err, "field", "id", "not an id");
		goto out;
	}
	if ((v = need(o, "status", err)) == NULL)
		goto out;
	if (id_copy(v, r->status, sizeof(r->status)) != 0) {
		fail(err, "field", "status", "not a status");
		goto out;
	}
	ref = json_object_get(o, "reference");
	if (ref != NULL && !json_is_null(ref) &&
	    (!json_is_string(ref) ||
	     (json_string_length(ref) > 0 &&
	      id_copy(json_string_value(ref), r->reference,
	              sizeof(r->reference)) != 0))) {
		fail(err, "field", "reference", "not a reference");
		goto out;
	}
	v = jstr(o, "notification_type");
	r->not_sms = v != NULL && strcmp(v, "sms") != 0;
	if (strstr(r->status, "failure") != NULL)
		snprintf(r->detail, sizeof(r->detail), "%s", r->status);
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* Twilio's required field k: its value, or NULL with err. */
static const char *
form_need(const struct http_form *f, const char *k, struct sms_hook_error *err)
{
	const char *v = http_form_get(f, k);

	if (v == NULL)
		fail(err, "field", k, "a required field is missing");
	return v;
}

static int
twilio_sid(const struct http_form *f, char *id, size_t idlen, char *acct,
           struct sms_hook_error *err)
{
	const char *v = http_form_get(f, "MessageSid");

	if (v == NULL)
		v = http_form_get(f, "SmsSid");
	if (v == NULL)
		return fail(err, "field", "MessageSid",
		            "a required field is missing");
	if (id_copy(v, id, idlen) != 0)
		return fail(err, "field", "MessageSid", "not an id");
	v = http_form_get(f, "AccountSid");
	if (v != NULL && id_copy(v, acct, 35) != 0)
		return fail(err, "field", "AccountSid", "not an account");
	return 0;
}

int
sms_hook_twilio_inbound(const struct http_form *f, struct sms_inbound *m,
                        struct sms_hook_error *err)
{
	const char *v;
	char name[48];
	long n;
	size_t i;

	memset(m, 0, sizeof(*m));
	m->at_ms = -1;
	if (twilio_sid(f, m->id, sizeof(m->id), m->account_sid, err) != 0)
		return -1;
	if ((v = form_need(f, "From", err)) == NULL)
		return -1;
	if (number_copy(v, 0, m->from, m->from_raw, sizeof(m->from_raw)) != 0)
		return fail(err, "field", "From", "not a number");
	if ((v = form_need(f, "To", err)) == NULL)
		return -1;
	if (number_copy(v, 0, m->to, m->to_raw, sizeof(m->to_raw)) != 0)
		return fail(err, "field", "To", "not a number");
	if ((v = form_need(f, "Body", err)) == NULL)
		return -1;
	if (text_set(m, v, strlen(v), "Body", err) != 0)
		return -1;
	v = http_form_get(f, "NumMedia");
	n = v != NULL ? strtol(v, NULL, 10) : 0;
	if (n < 0 || n > SMS_HOOK_MEDIA_MAX)
		return fail(err, "field", "NumMedia", "0 to 10");
	for (i = 0; i < (size_t)n; i++) {
		snprintf(name, sizeof(name), "MediaUrl%zu", i);
		v = http_form_get(f, name);
		if (v == NULL || strncmp(v, "https://", 8) != 0 ||
		    strlen(v) > 1000 || !text_ok(v, strlen(v)))
			return fail(err, "field", "MediaUrl",
			            "each of NumMedia needs an https URL");
		m->media_url[i] = xstrdup(v);
		snprintf(name, sizeof(name), "MediaContentType%zu", i);
		v = http_form_get(f, name);
		m->media_type[i] = xstrdup(
		        v != NULL && strlen(v) < 100 && text_ok(v, strlen(v))
		                ? v
		                : "application/octet-stream");
		m->nmedia = i + 1;
	}
	return 0;
}

int
sms_hook_twilio_status(const struct http_form *f, struct sms_receipt *r,
                       struct sms_hook_error *err)
{
	const char *v, *code;

	memset(r, 0, sizeof(*r));
	if (twilio_sid(f, r->id, sizeof(r->id), r->account_sid, err) != 0)
		return -1;
	v = http_form_get(f, "MessageStatus");
	if (v == NULL)
		v = http_form_get(f, "SmsStatus");
	if (v == NULL)
		return fail(err, "field", "MessageStatus",
		            "a required field is missing");
	if (id_copy(v, r->status, sizeof(r->status)) != 0)
		return fail(err, "field", "MessageStatus", "not a status");
	code = http_form_get(f, "ErrorCode");
	if (code != NULL && code[0] != '\0') {
		if (strspn(code, "0123456789") != strlen(code) ||
		    strlen(code) > 10)
			return fail(err, "field", "ErrorCode", "not a code");
		snprintf(r->detail, sizeof(r->detail), "Twilio error %s", code);
	}
	return 0;
}

void
sms_inbound_clear(struct sms_inbound *m)
{
	size_t i;

	free(m->text);
	for (i = 0; i < m->nmedia; i++) {
		free(m->media_url[i]);
		free(m->media_type[i]);
	}
	memset(m, 0, sizeof(*m));
}
