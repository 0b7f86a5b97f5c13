/*
 * test_conversation_parse.c: the pure check of the desk's conversation.*
 * messages (conversation_parse.c), case by case, hostile ones included;
 * the sentences are the desk protocol's (test_conversation.c checks the
 * same answers through the module).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "conversation_parse.h"

#define UUID "0f8fad5b-d9cb-469f-a165-70867728950e"

/* The euro sign: three bytes, one character. */
#define EURO "\xe2\x82\xac"

struct res {
	int rc;
	const char *code;
	const char *why;
	struct conversation_req rq;
	json_t *msg; /* kept while rq borrows from it */
};

/* Parses the JSON text js (NULL: no message at all) as type. */
static struct res
parse(const char *type, const char *js)
{
	struct res r;

	memset(&r, 0, sizeof(r));
	if (js != NULL) {
		r.msg = json_loads(js, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		assert_non_null(r.msg);
	}
	r.rc = conversation_parse(type, r.msg, &r.rq, &r.code, &r.why);
	return r;
}

/* Parses js as type, which must pass as op. */
static struct res
accepted(const char *type, const char *js, enum conversation_op op)
{
	struct res r = parse(type, js);

	assert_int_equal(r.rc, 0);
	assert_int_equal(r.rq.op, op);
	return r;
}

static void
done(struct res *r)
{
	json_decref(r->msg);
}

/* Refused with code and a why that starts with start. */
static void
assert_refused(const char *type, const char *js, const char *code,
               const char *start)
{
	struct res r = parse(type, js);

	assert_int_equal(r.rc, -1);
	assert_string_equal(r.code, code);
	if (start == NULL)
		assert_null(r.why);
	else
		assert_memory_equal(r.why, start, strlen(start));
	done(&r);
}

static void
test_types(void **st)
{
	static const char *const types[] = {
	        "conversation.history", "conversation.reply",
	        "conversation.note",    "conversation.read",
	        "conversation.end",     "conversation.typing",
	        "conversation.wrap_ups"};
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		assert_string_equal(
		        conversation_parse_type((enum conversation_op)i),
		        types[i]);
	assert_null(conversation_parse_type(CONVERSATION_OP_COUNT));
}

static void
test_unknown_type(void **st)
{
	struct res r;

	(void)st;
	r = parse("conversation.fly", "{\"id\": 7}");
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.code, "unknown_type");
	assert_string_equal(r.why, "conversation.fly");
	/* The id still answers the request. */
	assert_int_equal(json_integer_value(r.rq.id), 7);
	done(&r);
	assert_refused("conversation.", "{}", "unknown_type", "conversation.");
	assert_refused("", "{}", "unknown_type", "");
	assert_refused("CONVERSATION.END", "{}", "unknown_type", "CONV");
	assert_refused("conversation.end ", "{}", "unknown_type", "conv");
	assert_refused(NULL, "{}", "unknown_type", NULL);
}

static void
test_conversation_id(void **st)
{
	static const char *const bad[] = {
	        "{}",
	        "{\"conversation\": 12}",
	        "{\"conversation\": \"\"}",
	        "{\"conversation\": \"0\"}",
	        "{\"conversation\": \"-3\"}",
	        "{\"conversation\": \"12a\"}",
	        "{\"conversation\": \" 12\"}",
	        "{\"conversation\": \"1234567890123456789\"}",
	        "{\"conversation\": null}",
	        "{\"conversation\": [\"12\"]}",
	        "[\"conversation\", \"12\"]",
	        "\"12\"",
	        "null",
	};
	struct res r;
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused("conversation.end", bad[i], "bad_message",
		               "conversation must be a conversation id");
	/* No message at all. */
	assert_refused("conversation.end", NULL, "bad_message",
	               "conversation must be");
	r = accepted(
	        "conversation.end",
	        "{\"conversation\": \"123456789012345678\", \"id\": \"x\"}",
	        CONVERSATION_OP_END);
	assert_int_equal(r.rq.conv, 123456789012345678ULL);
	assert_string_equal(json_string_value(r.rq.id), "x");
	done(&r);
	/* wrap_ups names none, and any it names is ignored. */
	r = accepted("conversation.wrap_ups", "{\"conversation\": \"nope\"}",
	             CONVERSATION_OP_WRAP_UPS);
	assert_int_equal(r.rq.conv, 0);
	assert_null(r.rq.id);
	done(&r);
}

static void
test_history(void **st)
{
	struct res r;

	(void)st;
	r = accepted("conversation.history", "{\"conversation\": \"9\"}",
	             CONVERSATION_OP_HISTORY);
	assert_int_equal(r.rq.conv, 9);
	assert_int_equal(r.rq.after, 0);
	done(&r);
	r = parse("conversation.history",
	          "{\"conversation\": \"9\", \"after\": 41}");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.rq.after, 41);
	done(&r);
	assert_refused("conversation.history",
	               "{\"conversation\": \"9\", \"after\": -1}",
	               "bad_message",
	               "after must be a message number (0 or more)");
	assert_refused("conversation.history",
	               "{\"conversation\": \"9\", \"after\": \"4\"}",
	               "bad_message", "after must be");
	assert_refused("conversation.history",
	               "{\"conversation\": \"9\", \"after\": 4.0}",
	               "bad_message", "after must be");
	assert_refused("conversation.history",
	               "{\"conversation\": \"9\", \"after\": null}",
	               "bad_message", "after must be");
	/* The conversation is checked first. */
	assert_refused("conversation.history", "{\"after\": -1}", "bad_message",
	               "conversation must be");
}

static void
test_reply_and_note(void **st)
{
	static const char *const types[] = {"conversation.reply",
	                                    "conversation.note"};
	static const char *const bad[] = {
	        "{\"conversation\": \"5\", \"text\": \"hi\"}",
	        "{\"conversation\": \"5\", \"client_id\": \"" UUID "\"}",
	        "{\"conversation\": \"5\", \"client_id\": \"" UUID
	        "\", \"text\": \"\"}",
	        "{\"conversation\": \"5\", \"client_id\": \"" UUID
	        "\", \"text\": 5}",
	        "{\"conversation\": \"5\", \"client_id\": \"" UUID
	        "\", \"text\": \"a\\u0000b\"}",
	        "{\"conversation\": \"5\", \"client_id\": \"not-a-uuid\","
	        " \"text\": \"hi\"}",
	        "{\"conversation\": \"5\", \"client_id\": \"" UUID "0\","
	        " \"text\": \"hi\"}",
	        "{\"conversation\": \"5\", \"client_id\":"
	        " \"0f8fad5b-d9cb-469f-a165-70867728950g\", \"text\": \"hi\"}",
	        "{\"conversation\": \"5\", \"client_id\":"
	        " \"0f8fad5bd9cb-469f-a165-70867728950e-\", \"text\": \"hi\"}",
	        "{\"conversation\": \"5\", \"client_id\": 1, \"text\": \"hi\"}",
	};
	char *big;
	size_t i, k;
	struct res r;
	json_t *m;

	(void)st;
	for (k = 0; k < 2; k++) {
		r = parse(types[k],
		          "{\"conversation\": \"5\", \"client_id\": \"" UUID
		          "\", \"text\": \"caf\\u00e9 \\u20ac5\"}");
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.rq.op, k == 0 ? CONVERSATION_OP_REPLY
		                                 : CONVERSATION_OP_NOTE);
		assert_int_equal(r.rq.conv, 5);
		assert_string_equal(r.rq.client_id, UUID);
		assert_string_equal(r.rq.text, "caf\xc3\xa9 " EURO "5");
		done(&r);
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_refused(
			        types[k], bad[i], "bad_message",
			        "needs client_id (a UUID) and text (1 to "
			        "4000 characters)");
	}
	/* 4000 characters of three bytes each pass; one more does not. */
	big = malloc(3 * (CONVERSATION_TEXT_MAX + 1) + 1);
	assert_non_null(big);
	for (i = 0; i < CONVERSATION_TEXT_MAX; i++)
		memcpy(big + 3 * i, EURO, 3);
	big[3 * i] = '\0';
	m = json_pack("{s:s, s:s, s:s}", "conversation", "5", "client_id", UUID,
	              "text", big);
	memset(&r, 0, sizeof(r));
	assert_int_equal(conversation_parse("conversation.reply", m, &r.rq,
	                                    &r.code, &r.why),
	                 0);
	memcpy(big + 3 * i, EURO, 4);
	json_object_set_new(m, "text", json_string(big));
	assert_int_equal(conversation_parse("conversation.note", m, &r.rq,
	                                    &r.code, &r.why),
	                 -1);
	assert_string_equal(r.code, "bad_message");
	json_decref(m);
	free(big);
}

static void
test_read(void **st)
{
	struct res r;

	(void)st;
	r = accepted("conversation.read",
	             "{\"conversation\": \"5\", \"seq\": 77}",
	             CONVERSATION_OP_READ);
	assert_int_equal(r.rq.seq, 77);
	done(&r);
	assert_refused("conversation.read", "{\"conversation\": \"5\"}",
	               "bad_message",
	               "conversation.read needs seq (a message number)");
	assert_refused("conversation.read",
	               "{\"conversation\": \"5\", \"seq\": 0}", "bad_message",
	               "conversation.read needs seq");
	assert_refused("conversation.read",
	               "{\"conversation\": \"5\", \"seq\": -9}", "bad_message",
	               "conversation.read needs seq");
	assert_refused("conversation.read",
	               "{\"conversation\": \"5\", \"seq\": \"7\"}",
	               "bad_message", "conversation.read needs seq");
}

static void
test_typing(void **st)
{
	struct res r;

	(void)st;
	r = accepted("conversation.typing",
	             "{\"conversation\": \"5\", \"state\": true}",
	             CONVERSATION_OP_TYPING);
	assert_int_equal(r.rq.state, 1);
	done(&r);
	r = parse("conversation.typing",
	          "{\"conversation\": \"5\", \"state\": false}");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.rq.state, 0);
	done(&r);
	assert_refused("conversation.typing",
	               "{\"conversation\": \"5\", \"state\": 1}", "bad_message",
	               "conversation.typing needs state (true or false)");
	assert_refused("conversation.typing", "{\"conversation\": \"5\"}",
	               "bad_message", "conversation.typing needs state");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_types),
	        cmocka_unit_test(test_unknown_type),
	        cmocka_unit_test(test_conversation_id),
	        cmocka_unit_test(test_history),
	        cmocka_unit_test(test_reply_and_note),
	        cmocka_unit_test(test_read),
	        cmocka_unit_test(test_typing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
