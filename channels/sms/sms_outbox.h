/*
 * sms_outbox.h: the sender of the outbox's SMS rows (issue 16; docs/sms.md,
 * "Sending"). Loop thread only; every request to a provider runs on the
 * loop (http_client.h: libcurl multi on libuv, certificates verified, a
 * timeout each).
 *
 * Every poll_ms (at once again after a full batch) it claims up to batch
 * due rows of channel 'sms' (sb_outbox_claim: SKIP LOCKED, a lease, a
 * conversation's rows in order) and sends each by its payload's sender
 * ("sender": a name; absent: the first configured) to its destination:
 *   GOV.UK Notify: POST {base}/v2/notifications/sms with a JWT minted for
 *     the request (HS256; iss the service id, iat now), the sender's
 *     template with personalisation {"body": text}, reference
 *     "sb-<outbox id>" (no personal data), sms_sender_id when set. Notify
 *     has no idempotency key: a row tried before (attempts > 1: the last
 *     try timed out, failed with a 5xx, or its outcome was never
 *     recorded) is first looked up with GET /v2/notifications?reference=,
 *     and recorded sent, not sent again, when Notify has it.
 *   Twilio: POST {base}/2010-04-01/Accounts/{sid}/Messages.json (basic
 *     auth), To, From (or MessagingServiceSid), Body, StatusCallback
 *     sms.public_url/hooks/twilio/sms-status. Twilio has no lookup by our
 *     reference: a send whose outcome is unknown (a timeout after the
 *     request went) is tried again, so a resident may, rarely, get it
 *     twice. docs/sms.md says so.
 * Outcomes: accepted (2xx with the provider's id) -> sb_sms_sent; refused
 * for good (4xx but 408 and 429; a text over the sender's max_length, no
 * such sender, a destination that is not a number) -> failed with the
 * reason; anything else (429, 5xx, 401/403 which an operator must fix,
 * no answer) -> pending again after sb_outbox_failed's backoff. Each desk
 * reply's state change is told to the desks following its conversation
 * (conversation.delivery). Logs never carry the number or the text.
 */
#ifndef SMS_OUTBOX_H
#define SMS_OUTBOX_H

#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "sms_config.h"

struct bus;
struct sms_outbox;

struct sms_outbox *sms_outbox_new(uv_loop_t *loop, struct db *db,
                                  struct bus *bus, const struct sms_config *c);
void sms_outbox_start(struct sms_outbox *o);
/* Texts accepted by a provider and failed for good since start. */
uint64_t sms_outbox_sent(const struct sms_outbox *o);
uint64_t sms_outbox_failed(const struct sms_outbox *o);
/*
 * Stops claiming, cancels the requests in flight (their rows are sent
 * again when their lease ends: Notify's are looked up first), frees once
 * the recording of outcomes has finished. NULL is a no-op.
 */
void sms_outbox_free(struct sms_outbox *o);

#endif
