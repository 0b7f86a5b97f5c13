/*
 * email_desk.h: the email channel's part of the desk operations
 * (conversation.h; docs/email.md, "Replies from the desk"). Loop thread.
 *
 * An advisor's reply on an email conversation is stored by the core, and
 * its outbox row is queued by the database in the same transaction
 * (trigger messages_email_reply, migration 0031): the reply op has
 * nothing to deliver itself, but registering it is what lets the core
 * accept replies on email. conversation.history of an email conversation
 * adds "email": where a reply goes, {"address", "subject", "in_reply_to",
 * "references", "mailbox", "reply_to_ignored"} or {"why"} when none can
 * be sent (sb_email_reply_target). Each outbound message's state is in
 * its history row ("delivery") and is followed live
 * (conversation.delivery, from the outbox sender).
 */
#ifndef EMAIL_DESK_H
#define EMAIL_DESK_H

struct conversation;

/* Registers the "email" channel's ops with cv. */
void email_desk_register(struct conversation *cv);

#endif
