/*
 * signed_hook.h: our signed-webhook scheme, checked and made
 * (docs/integrations.md, "Signing"; ../shared/reference/providers.md "Our
 * signed webhooks"). Shared by every inbound webhook we define ourselves:
 * web forms now, CTI events next. Providers with a scheme of their own
 * (Twilio, GOV.UK Notify) keep theirs.
 *
 *   X-Switchboard-Timestamp: <Unix seconds>
 *   X-Switchboard-Signature: sha256=<hex>[, sha256=<hex>...]
 *
 * where hex is HMAC-SHA256(secret, timestamp + "." + raw body). The
 * timestamp is inside the signature, so a captured request cannot be sent
 * again later under a fresh one; within the window the body's own id makes
 * a replay harmless (the channel's idempotency key, stored in PostgreSQL).
 *
 * What is accepted, exactly:
 *  - timestamp: 1 to 19 ASCII digits, no sign, no leading zero, optional
 *    spaces or tabs around it (HTTP's OWS); at most SIGNED_HOOK_SKEW
 *    seconds from now, either way;
 *  - signature: a comma-separated list of at most SIGNED_HOOK_VALUES_MAX
 *    values, OWS around each; a value is "sha256=" and 64 hex digits (either
 *    case: the bytes are compared, not the text). Values of another scheme
 *    ("v2=...") are skipped, so a sender may add one later; a "sha256="
 *    value that is not 64 hex digits makes the whole header malformed;
 *  - up to SIGNED_HOOK_KEYS_MAX secrets (rotation): the request passes when
 *    any value matches any secret. Every comparison is constant time
 *    (sodium_memcmp) and every secret is tried, so the time taken does not
 *    say which one matched.
 *
 * Pure: no I/O, no allocation, no global state; any thread. The body may
 * hold any bytes (NULs included): it is signed as it came.
 */
#ifndef GW_SIGNED_HOOK_H
#define GW_SIGNED_HOOK_H

#include <stddef.h>
#include <stdint.h>

#define SIGNED_HOOK_TIMESTAMP_HEADER "x-switchboard-timestamp"
#define SIGNED_HOOK_SIGNATURE_HEADER "x-switchboard-signature"

#define SIGNED_HOOK_SKEW       300  /* seconds, either way */
#define SIGNED_HOOK_KEYS_MAX   2    /* secrets valid at once */
#define SIGNED_HOOK_VALUES_MAX 8    /* values in one signature header */
#define SIGNED_HOOK_HEADER_MAX 1024 /* bytes of a signature header */
#define SIGNED_HOOK_SECRET_MIN 16   /* bytes of a secret, at least */
#define SIGNED_HOOK_SECRET_MAX 256
/* "sha256=" and 64 hex digits, and a NUL. */
#define SIGNED_HOOK_SIG_SIZE (7 + 64 + 1)

/* Why a request was refused: the reason code of the 401 and the log. */
enum signed_hook_result {
	SIGNED_HOOK_OK = 0,
	SIGNED_HOOK_MISSING,   /* a header is absent or empty */
	SIGNED_HOOK_MALFORMED, /* a header is not what the scheme says */
	SIGNED_HOOK_STALE,     /* the timestamp is too far from now */
	SIGNED_HOOK_MISMATCH,  /* well formed, signed by no secret we hold */
};

/* A secret: bytes as configured (not NUL-terminated; not copied). */
struct signed_hook_key {
	const unsigned char *key;
	size_t len;
};

/*
 * Checks one request. timestamp and signature are the headers' values
 * (NUL-terminated; NULL when absent), body the raw body (len bytes, any;
 * NULL only when len is 0), keys the nkeys secrets (at most
 * SIGNED_HOOK_KEYS_MAX; more are ignored), now our clock in Unix seconds.
 * The checks run in the order of the enum: a request missing its
 * signature is "missing" even when its timestamp is stale.
 */
enum signed_hook_result signed_hook_verify(const char *timestamp,
                                           const char *signature,
                                           const void *body, size_t len,
                                           const struct signed_hook_key *keys,
                                           size_t nkeys, int64_t now);

/* "ok", "missing", "malformed", "stale", "mismatch"; "" out of range. */
const char *signed_hook_reason(enum signed_hook_result r);

/*
 * The signature header's value for one secret: "sha256=<64 lower-case
 * hex>" into out (at least SIGNED_HOOK_SIG_SIZE bytes; NUL-terminated).
 * For senders: tests, benchmarks, the docs' example. Returns 0, or -1
 * when size is too small or timestamp negative.
 */
int signed_hook_sign(char *out, size_t size, const struct signed_hook_key *k,
                     int64_t timestamp, const void *body, size_t len);

#endif
