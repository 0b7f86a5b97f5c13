/*
 * conversation_parse.h: the pure check of a desk's conversation.* message
 * (docs/desk-protocol.md) before conversation.c acts on it: which
 * operation it is and its fields, each checked as the protocol says. No
 * I/O, no state, any thread. The desks are signed-in staff, but what they
 * send is still outside input: this is fuzzed (tests/fuzz/
 * fuzz_conversation_parse.c) and unit tested case by case.
 *
 * What is not checked here is what needs the module's state: who may act
 * on the conversation (the database decides), and for conversation.typing
 * whether this desk was shown the conversation's history (conversation.c
 * answers that with the same bad_message as a bad state).
 */
#ifndef GW_CONVERSATION_PARSE_H
#define GW_CONVERSATION_PARSE_H

#include <stdint.h>

#include <jansson.h>

/* Characters of a reply or a note (chat's CHAT_TEXT_MAX). */
#define CONVERSATION_TEXT_MAX 4000

/* The desk's operations, one per message type (CONVERSATION_OP_TYPES). */
enum conversation_op {
	CONVERSATION_OP_HISTORY = 0, /* "conversation.history" */
	CONVERSATION_OP_REPLY,       /* "conversation.reply" */
	CONVERSATION_OP_NOTE,        /* "conversation.note" */
	CONVERSATION_OP_READ,        /* "conversation.read" */
	CONVERSATION_OP_END,         /* "conversation.end" */
	CONVERSATION_OP_TYPING,      /* "conversation.typing" */
	CONVERSATION_OP_WRAP_UPS,    /* "conversation.wrap_ups" */
	CONVERSATION_OP_COUNT
};

/*
 * A message that passed. Strings and id are borrowed from the message
 * (valid while it is); members an operation does not take are 0/NULL.
 */
struct conversation_req {
	enum conversation_op op;
	json_t *id;            /* the request's "id" (any JSON), or NULL */
	uint64_t conv;         /* "conversation" (decimal id); 0: wrap_ups */
	long long after;       /* history: messages after this seq (0) */
	uint64_t seq;          /* read: the advisor read up to this seq */
	const char *client_id; /* reply, note: a UUID (36 characters) */
	const char *text;      /* reply, note: 1 to CONVERSATION_TEXT_MAX
	                          characters, no NUL inside */
	int state;             /* typing: 1 started, 0 stopped */
};

/*
 * Checks msg (borrowed; any JSON value, or NULL) as a desk message of
 * type (NUL-terminated; NULL is an unknown type). 0 and *out filled; or
 * -1 with *code "unknown_type" (*why: type itself, borrowed) or
 * "bad_message" (*why: a static sentence the desk is shown), and out->id
 * still set so that the error can answer the request. The first fault
 * found is reported, in the order: type, conversation, the operation's
 * fields.
 */
int conversation_parse(const char *type, json_t *msg,
                       struct conversation_req *out, const char **code,
                       const char **why);

/* The message type of op ("conversation.history", ...); NULL if none. */
const char *conversation_parse_type(enum conversation_op op);

#endif
