/*
 * conversation_parse.c: the pure check of a desk's conversation.* message
 * (conversation_parse.h). No I/O, any thread. Dispatch by the TYPES table;
 * each operation's fields by its own small function, with the sentences
 * the desk protocol documents (docs/desk-protocol.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "conversation_parse.h"
#include "route_id.h"
#include "text.h"

#define BAD_CONV  "conversation must be a conversation id (decimal)"
#define BAD_AFTER "after must be a message number (0 or more)"
#define BAD_TEXT  "needs client_id (a UUID) and text (1 to 4000 characters)"
#define BAD_SEQ   "conversation.read needs seq (a message number)"
#define BAD_STATE                                                              \
	"conversation.typing needs state (true or false), on a conversation "  \
	"whose history this desk asked"

/* Each returns NULL, or why the message is refused (bad_message). */
typedef const char *(*fields_fn)(json_t *msg, struct conversation_req *r);

static const char *
fields_history(json_t *msg, struct conversation_req *r)
{
	json_t *v = json_object_get(msg, "after");

	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0))
		return BAD_AFTER;
	r->after = v != NULL ? (long long)json_integer_value(v) : 0;
	return NULL;
}

/* conversation.reply and conversation.note. */
static const char *
fields_text(json_t *msg, struct conversation_req *r)
{
	json_t *t = json_object_get(msg, "text");
	const char *text = json_string_value(t);
	const char *client =
	        json_string_value(json_object_get(msg, "client_id"));

	if (!text_is_uuid(client) || text == NULL || text[0] == '\0' ||
	    strlen(text) != json_string_length(t) ||
	    text_utf8_chars(text) > CONVERSATION_TEXT_MAX)
		return BAD_TEXT;
	r->client_id = client;
	r->text = text;
	return NULL;
}

static const char *
fields_read(json_t *msg, struct conversation_req *r)
{
	json_t *v = json_object_get(msg, "seq");

	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return BAD_SEQ;
	r->seq = (uint64_t)json_integer_value(v);
	return NULL;
}

static const char *
fields_typing(json_t *msg, struct conversation_req *r)
{
	json_t *v = json_object_get(msg, "state");

	if (!json_is_boolean(v))
		return BAD_STATE;
	r->state = json_is_true(v);
	return NULL;
}

/* needs_conv: the message names a conversation ("conversation"). */
static const struct {
	const char *type;
	enum conversation_op op;
	int needs_conv;
	fields_fn fields; /* NULL: none */
} TYPES[] = {
        {"conversation.history", CONVERSATION_OP_HISTORY, 1, fields_history},
        {"conversation.reply", CONVERSATION_OP_REPLY, 1, fields_text},
        {"conversation.note", CONVERSATION_OP_NOTE, 1, fields_text},
        {"conversation.read", CONVERSATION_OP_READ, 1, fields_read},
        {"conversation.end", CONVERSATION_OP_END, 1, NULL},
        {"conversation.typing", CONVERSATION_OP_TYPING, 1, fields_typing},
        {"conversation.wrap_ups", CONVERSATION_OP_WRAP_UPS, 0, NULL},
};

#define NTYPES (sizeof(TYPES) / sizeof(TYPES[0]))

int
conversation_parse(const char *type, json_t *msg, struct conversation_req *out,
                   const char **code, const char **why)
{
	const char *bad = NULL;
	size_t i = NTYPES;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	/* json_object_get is NULL for anything but an object. */
	out->id = json_object_get(msg, "id");
	if (type != NULL)
		for (i = 0; i < NTYPES; i++)
			if (strcmp(TYPES[i].type, type) == 0)
				break;
	if (i == NTYPES) {
		*code = "unknown_type";
		*why = type;
		goto out;
	}
	out->op = TYPES[i].op;
	if (TYPES[i].needs_conv) {
		out->conv = route_id_parse(json_string_value(
		        json_object_get(msg, "conversation")));
		if (out->conv == 0)
			bad = BAD_CONV;
	}
	if (bad == NULL && TYPES[i].fields != NULL)
		bad = TYPES[i].fields(msg, out);
	if (bad != NULL) {
		*code = "bad_message";
		*why = bad;
		goto out;
	}
	rc = 0;
out:
	return rc;
}

const char *
conversation_parse_type(enum conversation_op op)
{
	size_t i;

	for (i = 0; i < NTYPES; i++)
		if (TYPES[i].op == op)
			return TYPES[i].type;
	return NULL;
}
