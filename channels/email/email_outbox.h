/*
 * email_outbox.h: the sender of the outbox's email rows (issue 15,
 * "Sending"; docs/email.md, "The outbox sender"). Loop thread only; each
 * send runs on the libuv threadpool.
 *
 * Every poll_ms (at once again after a full batch) it claims up to batch
 * due rows with sb_outbox_claim_email (migration 0028: SKIP LOCKED, a
 * lease, a conversation's rows in order, the Message-ID stored in the
 * payload before the first attempt), composes each (email_compose.h) from
 * its payload (subject, text, message_id, in_reply_to, references (an
 * array, oldest first), auto_submitted, envelope_from: "" for the empty
 * path), sends it (email_smtp.h, with a
 * token from email_oauth.h when the smtp section uses OAuth), and records
 * the outcome: sb_outbox_sent, or sb_outbox_failed (permanent when the
 * server refused the message for good, or the row cannot be composed).
 * One batch at a time per instance; instances share the work through the
 * claim.
 *
 * A crash between the server's 250 and the record leaves the row
 * 'sending': when its lease ends, any instance sends it again, with the
 * same Message-ID. Logs name the recipient's domain, never the address.
 */
#ifndef EMAIL_OUTBOX_H
#define EMAIL_OUTBOX_H

#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "email_config.h"

struct email_outbox;

/*
 * ec (with its smtp section), db and bus must outlive the sender (bus may
 * be NULL). A row written for a mailbox (payload "mailbox": its name) is
 * sent as that mailbox's from, from_name and reply_to where it has them,
 * with its envelope sender so that bounces come back to it; an advisor's
 * reply also carries its signature. An advisor's
 * reply (payload kind "email.reply") is told to the desks following its
 * conversation when recorded sent, pending again or failed for good:
 * {"type": "conversation.delivery", "conversation", "seq" (the message),
 *  "delivery": {"status", "to", "error"}} (docs/desk-protocol.md).
 */
struct bus;
struct email_outbox *email_outbox_new(uv_loop_t *loop, struct db *db,
                                      struct bus *bus,
                                      const struct email_config *ec);
void email_outbox_start(struct email_outbox *o);
/* Messages sent and failed for good since start. */
uint64_t email_outbox_sent(const struct email_outbox *o);
uint64_t email_outbox_failed(const struct email_outbox *o);
/*
 * Stops claiming; frees once the sends in flight have finished (their
 * outcome recorded if db still answers). NULL is a no-op.
 */
void email_outbox_free(struct email_outbox *o);

#endif
