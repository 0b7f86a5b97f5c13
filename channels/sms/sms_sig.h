/*
 * sms_sig.h: checking that an SMS or voice provider's webhook is the
 * provider's (issue 16; shared/reference/providers.md). Pure: no I/O, any
 * thread; unit tested (tests/unit/sms/test_sms_sig.c, with the Twilio
 * SDK's own vectors) and fuzzed (tests/fuzz/fuzz_sms_sig.c).
 *
 * Twilio (X-Twilio-Signature): Base64(HMAC-SHA1(auth token, URL + for a
 * form body each parameter's name and value, URL-decoded, names in byte
 * order and a name's values in byte order)). The URL is the public one
 * (from the configuration, never the Host header); it is accepted as
 * given, with its port removed, and with the scheme's default port added,
 * as Twilio's SDKs do. A JSON body is signed through the URL's
 * bodySHA256=<hex SHA-256 of the body>, which must match the body.
 *
 * GOV.UK Notify callbacks carry "Authorization: Bearer <token>", a token
 * the council configured; two may be accepted at once (rotation).
 *
 * Every comparison is in constant time for the value compared (a length
 * may be told apart).
 */
#ifndef SMS_SIG_H
#define SMS_SIG_H

#include <stddef.h>

/* Form parameters of one body at most (more: the check fails). */
#define SMS_SIG_PARAMS_MAX 256

/*
 * 1 when header is Twilio's signature of the form POST body (len bytes,
 * application/x-www-form-urlencoded) to url, under token; else 0.
 */
int sms_sig_twilio_form(const char *token, const char *url, const char *body,
                        size_t len, const char *header);

/*
 * 1 when url carries bodySHA256 equal to the SHA-256 of the JSON body
 * and header is Twilio's signature of url alone; else 0.
 */
int sms_sig_twilio_json(const char *token, const char *url, const char *body,
                        size_t len, const char *header);

/*
 * 1 when authorization (the header's value, or NULL) is "Bearer " and one
 * of tokens[0..n) (NULL entries skipped); else 0.
 */
int sms_sig_bearer(const char *authorization, const char *const *tokens,
                   size_t n);

#endif
