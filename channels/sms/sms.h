/*
 * sms.h: the SMS channel (issue 16; docs/sms.md): the providers' webhooks
 * into the conversation core, and the desk's part of SMS conversations.
 *
 * Mounts, through the core's route table:
 *   POST /hooks/notify/inbound-sms   GOV.UK Notify: a text to our number
 *   POST /hooks/notify/status        GOV.UK Notify: a delivery receipt
 *   POST /hooks/twilio/sms           Twilio: a text to our number
 *   POST /hooks/twilio/sms-status    Twilio: a message's status
 *
 * Per request, in this order: the provider's proof (Notify's bearer token
 * against every Notify sender's tokens, in constant time; Twilio's
 * X-Twilio-Signature over sms.public_url + the path (+ query), with each
 * Twilio sender's auth tokens) -> 401 (Notify) / 403 (Twilio) and nothing
 * read further when it fails; then the body read (sms_hook.h) -> 400 with
 * a reason when malformed; then stored:
 *   a text: ingest (gateway/core/ingest.h) on the customer found by the
 *     sender's number (E.164), joining their live SMS conversation or
 *     opening one in the sender's queue; idempotent on the provider's id;
 *     the sms.inbound hook records STOP/START (migration 0035);
 *   a receipt: sb_sms_receipts (migration 0035) as a row set of the
 *     group-commit writer: stored once, applied forwards only, and told
 *     to the desks following the conversation (conversation.delivery).
 * The 2xx goes only after COMMIT (Twilio: 200 with an empty TwiML
 * <Response/>; Notify: 200 JSON). The database unavailable: 503 with
 * Retry-After, nothing stored (the providers retry). A repeat: 200, no
 * second effect.
 *
 * The desk: conversations on "sms" (and messages left in the web chat
 * asking for a reply by text) are answered from the desk; the reply's
 * outbox row is queued by a trigger in the reply's transaction (migration
 * 0035) and sent by sms_outbox.h. Their history carries "sms": {"phone",
 * "sender", "max_length"} or {"why"} (not textable: opted out, withheld).
 *
 * Loop thread only.
 */
#ifndef SMS_H
#define SMS_H

#include <uv.h>

#include "config.h"
#include "db_commit.h"
#include "http.h"
#include "ingest.h"

struct bus;
struct conversation;
struct sms;

struct sms *sms_new(uv_loop_t *loop, const struct gw_config *cfg,
                    struct gw_http *h, struct ingest *in, struct db_commit *w,
                    struct bus *bus, struct conversation *cv);
/* Frees once every request in flight is answered. NULL is a no-op. */
void sms_free(struct sms *s);

#endif
