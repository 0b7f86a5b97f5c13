/*
 * email_desk.h: the email channel's part of the desk (conversation.h;
 * docs/email.md, "Replies from the desk" and "Attachments in the desk").
 * Loop thread.
 *
 * Replies: an advisor's reply on an email conversation is stored by the
 * core, and its outbox row is queued by the database in the same
 * transaction (trigger messages_email_reply, migrations 0031 and 0033):
 * the reply op has nothing to deliver itself, but registering it is what
 * lets the core accept replies on email (and on messages left asking for
 * a reply by email). conversation.history adds "email": where a reply
 * goes, {"address", "subject", "in_reply_to", "references", "mailbox",
 * "reply_to_ignored"} or {"why"} when none can be sent
 * (sb_email_reply_target). Each outbound message's state is in its history
 * row ("delivery") and followed live (conversation.delivery, from the
 * outbox sender).
 *
 * Attachments: GET /api/messages/{message}/attachments/{n} (n from 1, the
 * order of the message's metadata.attachments) answers the n-th
 * attachment's bytes, taken again from the stored raw mail (parsed on the
 * threadpool), as a download: Content-Type application/octet-stream,
 * Content-Disposition attachment with its name, nosniff, a sandbox CSP,
 * never cached. The same staff may download as may read the
 * conversation's history: the advisor it is assigned to, or a supervisor
 * or admin; anyone else is answered 404, as for a message that has no
 * such attachment. An attachment over the parser's caps was never kept:
 * 410 with why.
 */
#ifndef EMAIL_DESK_H
#define EMAIL_DESK_H

#include <stddef.h>

#include <uv.h>

#include "api_route.h"
#include "db.h"

struct conversation;
struct gw_api;
struct email_desk;

/* The attachment route's table (checked against docs/api.md by
 * test_api_docs), mounted by email_desk_new. */
extern const struct api_route email_desk_routes[];
extern const size_t email_desk_nroutes;

/* Registers the "email" ops with cv and mounts the attachment route on
 * api. db, cv and api must outlive it. */
struct email_desk *email_desk_new(uv_loop_t *loop, struct db *db,
                                  struct conversation *cv, struct gw_api *api);
/* Answers nothing more; frees once what is in flight has ended. NULL: no-op.
 */
void email_desk_free(struct email_desk *d);

#endif
