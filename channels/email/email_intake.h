/*
 * email_intake.h: one mailbox read into conversations (issue 15, "Intake";
 * docs/email.md, "Intake"). Loop thread for every call here; the IMAP
 * session runs on the mailbox's own thread.
 *
 * One instance at a time works a mailbox: the one holding its lease in
 * Redis (kv_lease.h, key "sb:lease:email:<name>"). The holder's thread
 * signs in (a password, or a token from the mailbox's OAuth source),
 * SELECTs the folder, and asks the loop for the cursor
 * (sb_email_mailbox: a UIDVALIDITY change is logged as an operator alert,
 * email.uidvalidity_changed, and the cursor starts again at 0). It
 * fetches up to batch UIDs above the cursor with BODY.PEEK[], in UID
 * order, parses and normalises each on its thread (email_mime.h,
 * email_normalise.h), and hands the batch to the loop, which:
 *
 *  1. asks which were imported before under another IMAP identity
 *     (sb_email_dupes, 0029: a UIDVALIDITY change, a copy): those are
 *     recorded as duplicates (sb_email_record), never imported again;
 *  2. records delivery reports (kind bounce) with sb_email_bounce (0030):
 *     matched to the reply they answer, which is marked bounced and its
 *     address bouncing when the failure is permanent (the desks following
 *     its conversation are told: conversation.delivery); they never open
 *     a conversation and are never answered;
 *  3. submits the rest to ingest (source "email:<name>", external id
 *     "<uidvalidity>:<uid>") with the hook email.import, which stores the
 *     raw source and moves the cursor in the message's transaction, and
 *     queues the acknowledgement when the mailbox sends one and RFC 3834
 *     allows it (migration 0027).
 *
 * Only after COMMIT does the thread set \Seen on (or move) what was
 * stored. Anything not stored (the database down, the queue refused) is
 * left as it is, and the thread tries again after a back-off: the cursor
 * only moves along the chain of UIDs fetched (0024), so nothing is
 * skipped, and a refetch is a repeat. Caught up, the thread waits in IDLE
 * (where CAPABILITY offers it) for at most sweep seconds, or sleeps that
 * long, then sweeps again. Errors close the session and back off from 5 s
 * to 5 min (the server's own penalty after a refused sign-in is longer
 * than its first step); a refused token is fetched again.
 *
 * Memory: a batch's raw messages are held at once (batch x their size).
 */
#ifndef EMAIL_INTAKE_H
#define EMAIL_INTAKE_H

#include <stddef.h>

#include <uv.h>

#include "db.h"
#include "email_config.h"
#include "ingest.h"
#include "kv.h"

struct email_intake;

/* c, db, in, kv and bus (NULL: none) must outlive the intake. instance:
 * the lease holder's name (copied). Not started. */
struct bus;
struct email_intake *email_intake_new(uv_loop_t *loop, struct db *db,
                                      struct ingest *in, struct kv *kv,
                                      struct bus *bus, const char *instance,
                                      const struct email_mailbox_config *c);
void email_intake_start(struct email_intake *m);

/*
 * What the mailbox is doing, for /readyz: "ok", "standby (held by X)",
 * "starting", or "error: <reason>". 1 when it is not in error.
 */
int email_intake_status(const struct email_intake *m, char *buf, size_t len);
const char *email_intake_name(const struct email_intake *m);

/*
 * Prometheus text for the mailboxes v[0..n) (malloc'd, "" when n is 0):
 * switchboard_email_mailbox_up{mailbox} (signed in and working, on the
 * holder), switchboard_email_mailbox_lease{mailbox,holder} (1 on the
 * instance holding it). The imports are counted in the module's own
 * series, switchboard_email_imported_total{mailbox,kind}.
 */
char *email_intake_metrics(struct email_intake *const *v, size_t n);

/*
 * Gives the lease back, stops the thread (a blocked network call is cut
 * short) and frees once it has ended and what it handed over is answered.
 * NULL is a no-op.
 */
void email_intake_free(struct email_intake *m);

#endif
