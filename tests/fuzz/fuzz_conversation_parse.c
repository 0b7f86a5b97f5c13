/*
 * fuzz_conversation_parse.c: libFuzzer harness for the desk's
 * conversation.* messages (gateway/core/conversation_parse.c). Each input
 * is read as the daemon reads a desk's frame (json_loadb with
 * JSON_REJECT_DUPLICATES; bare values too); its "type" (a string, else
 * none) and the value go to conversation_parse. An accepted request must
 * hold only what the desk protocol allows (counted here independently of
 * the parser); a refused one must give a known code, a reason, and the
 * request's id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conversation_parse.h"
#include "fuzz_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static void
check_uuid(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 36)
		abort();
	for (i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-'
		                                              : !hex(s[i]))
			abort();
}

static void
check_accepted(const char *type, json_t *msg, const struct conversation_req *r)
{
	const char *name = conversation_parse_type(r->op);
	json_t *t;

	if ((unsigned)r->op >= CONVERSATION_OP_COUNT || name == NULL ||
	    type == NULL || strcmp(name, type) != 0)
		abort();
	if ((r->op == CONVERSATION_OP_WRAP_UPS) != (r->conv == 0) ||
	    r->conv > 999999999999999999ULL)
		abort();
	if ((r->text != NULL) != (r->op == CONVERSATION_OP_REPLY ||
	                          r->op == CONVERSATION_OP_NOTE) ||
	    (r->client_id != NULL) != (r->text != NULL))
		abort();
	if (r->text != NULL) {
		check_uuid(r->client_id);
		t = json_object_get(msg, "text");
		if (r->text[0] == '\0' ||
		    fuzz_utf8_chars(r->text, strlen(r->text)) >
		            CONVERSATION_TEXT_MAX ||
		    strlen(r->text) != json_string_length(t))
			abort();
	}
	if ((r->op == CONVERSATION_OP_READ) != (r->seq > 0) ||
	    r->seq > (uint64_t)INT64_MAX)
		abort();
	if (r->after < 0 || (r->op != CONVERSATION_OP_HISTORY && r->after != 0))
		abort();
	if ((r->state != 0 && r->state != 1) ||
	    (r->op != CONVERSATION_OP_TYPING && r->state != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conversation_req req;
	const char *code = NULL, *why = NULL, *type;
	json_error_t err;
	json_t *msg;

	msg = json_loadb((const char *)data, size,
	                 JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (msg == NULL)
		return 0;
	type = json_string_value(json_object_get(msg, "type"));
	/* Poison the request: nothing stale may leak through. */
	memset(&req, 0xa5, sizeof(req));
	if (conversation_parse(type, msg, &req, &code, &why) == 0) {
		check_accepted(type, msg, &req);
	} else if (code == NULL || req.id != json_object_get(msg, "id")) {
		abort();
	} else if (strcmp(code, "unknown_type") == 0) {
		if (why != type)
			abort();
	} else if (strcmp(code, "bad_message") != 0 || why == NULL ||
	           why[0] == '\0') {
		abort();
	}
	json_decref(msg);
	return 0;
}
