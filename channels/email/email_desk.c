/*
 * email_desk.c: the email channel's desk operations (email_desk.h).
 */
#include <stddef.h>

#include "conversation.h"
#include "email_desk.h"

static const char HISTORY_SQL[] = "SELECT jsonb_build_object('email',"
                                  " sb_email_reply_target($1::bigint))::text";

/* The outbox row was queued with the message (migration 0031). */
static char *
reply(void *arg, const struct conversation_reply *r)
{
	(void)arg;
	(void)r;
	return NULL;
}

static const struct conversation_channel_ops EMAIL_OPS = {
        .reply = reply,
        .history_sql = HISTORY_SQL,
};

void
email_desk_register(struct conversation *cv)
{
	conversation_channel_register(cv, "email", &EMAIL_OPS);
}
