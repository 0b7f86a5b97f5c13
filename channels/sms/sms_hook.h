/*
 * sms_hook.h: reading the SMS providers' webhooks (issue 16;
 * shared/reference/providers.md): GOV.UK Notify's inbound-SMS and
 * delivery-status callbacks (JSON) and Twilio's inbound-SMS and status
 * callbacks (forms, decoded by http_form.h). Pure: no I/O, any thread;
 * unit tested (tests/unit/sms/test_sms_hook.c) and fuzzed
 * (tests/fuzz/fuzz_sms_hook.c). Called only after the request's signature
 * or token was verified (sms_sig.h).
 *
 * Unknown fields are accepted and ignored (providers add fields). A field
 * that is required and missing, of the wrong type, overlong, or not UTF-8
 * makes the webhook malformed: -1 and err says which field and why (the
 * 400's reason). Numbers are normalised to E.164 (identity_phone; Notify's
 * source_number has no '+'); a sender that is not a number (an
 * alphanumeric sender id, a withheld number) leaves from "" and keeps
 * from_raw.
 */
#ifndef SMS_HOOK_H
#define SMS_HOOK_H

#include <stddef.h>

#include "http_form.h"
#include "identity.h"

#define SMS_HOOK_ID_MAX    100
#define SMS_HOOK_TEXT_MAX  16384 /* bytes of a text */
#define SMS_HOOK_MEDIA_MAX 10

struct sms_hook_error {
	const char *code;  /* "json", "field", "type", "length", "utf8" */
	const char *field; /* the field, or NULL */
	const char *why;   /* a sentence */
};

struct sms_inbound {
	char id[SMS_HOOK_ID_MAX + 1]; /* Notify's id, Twilio's MessageSid */
	char from[IDENTITY_PHONE_LEN];
	char from_raw[65];
	char to[IDENTITY_PHONE_LEN];
	char to_raw[65];
	char *text;      /* UTF-8, malloc'd */
	long long at_ms; /* Notify's date_received; -1: not given */
	char account_sid[35];
	size_t nmedia; /* Twilio's MMS media (URLs at Twilio) */
	char *media_url[SMS_HOOK_MEDIA_MAX];
	char *media_type[SMS_HOOK_MEDIA_MAX];
};

struct sms_receipt {
	char id[SMS_HOOK_ID_MAX + 1];        /* the provider's message id */
	char reference[SMS_HOOK_ID_MAX + 1]; /* Notify: ours, or "" */
	char status[41];                     /* the provider's status */
	char detail[201]; /* Twilio's ErrorCode, ...; or "" */
	char account_sid[35];
	int not_sms; /* Notify: an email's receipt (not ours to apply) */
};

int sms_hook_notify_inbound(const char *body, size_t len, struct sms_inbound *m,
                            struct sms_hook_error *err);
int sms_hook_notify_status(const char *body, size_t len, struct sms_receipt *r,
                           struct sms_hook_error *err);
int sms_hook_twilio_inbound(const struct http_form *f, struct sms_inbound *m,
                            struct sms_hook_error *err);
int sms_hook_twilio_status(const struct http_form *f, struct sms_receipt *r,
                           struct sms_hook_error *err);
/* Frees what m holds (after either parser, whatever it returned). */
void sms_inbound_clear(struct sms_inbound *m);

#endif
