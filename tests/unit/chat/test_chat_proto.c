/*
 * test_chat_proto.c: the resident's side of switchboard.chat.v1
 * (channels/chat/chat_proto.c): phone numbers to E.164, UUIDs, counting
 * characters, and chat_parse for every message type, accepted with the
 * fields it sets and refused with the protocol's code. Messages are
 * parsed as the daemon does (json_loads with JSON_REJECT_DUPLICATES).
 * Pure: no servers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_proto.h"

#define UUID    "0f8fad5b-d9cb-469f-a165-70867728950e"
#define TOKEN   "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define E_ACUTE "\xc3\xa9"         /* é: 2 bytes */
#define EURO    "\xe2\x82\xac"     /* €: 3 bytes */
#define GRIN    "\xf0\x9f\x98\x80" /* 😀: 4 bytes */

static json_t *msg;
static struct chat_req req;
static const char *code, *why;
static char out[64];

static int
setup(void **state)
{
	(void)state;
	msg = NULL;
	code = why = NULL;
	memset(&req, 0xa5, sizeof(req));
	memset(out, 0, sizeof(out));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	json_decref(msg);
	msg = NULL;
	return 0;
}

/* Parses json as the daemon does and gives it to chat_parse. */
static int
parse_flags(const char *json, size_t flags)
{
	json_error_t err;
	json_t *type;

	json_decref(msg);
	msg = json_loads(json, JSON_REJECT_DUPLICATES | flags, &err);
	if (msg == NULL)
		fail_msg("not JSON: %s: %s", err.text, json);
	type = json_object_get(msg, "type");
	assert_true(json_is_string(type));
	code = why = NULL;
	return chat_parse(msg, json_string_value(type), &req, &code, &why);
}

static int
parse(const char *json)
{
	return parse_flags(json, 0);
}

/* Gives msg, built by the test, to chat_parse. */
static int
parse_msg(void)
{
	code = why = NULL;
	return chat_parse(msg, json_string_value(json_object_get(msg, "type")),
	                  &req, &code, &why);
}

static void
accepted(const char *json)
{
	if (parse(json) != 0)
		fail_msg("refused (%s: %s): %s", code, why, json);
}

static void
refused_with(int rc, const char *want)
{
	assert_int_equal(rc, -1);
	assert_non_null(code);
	assert_string_equal(code, want);
	assert_non_null(why);
	assert_true(why[0] != '\0');
}

static void
refused(const char *json, const char *want)
{
	refused_with(parse(json), want);
}

/* n copies of unit, malloc'd. */
static char *
repeat(const char *unit, size_t n)
{
	size_t len = strlen(unit), i;
	char *s = malloc(len * n + 1);

	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * len, unit, len);
	s[len * n] = '\0';
	return s;
}

/* msg = {"type": type, name: value}, value a string. */
static void
build(const char *type, const char *name, const char *value)
{
	json_decref(msg);
	msg = json_pack("{s:s, s:s}", "type", type, name, value);
	assert_non_null(msg);
}

static void
set_str(const char *name, const char *value)
{
	assert_int_equal(json_object_set_new(msg, name, json_string(value)), 0);
}

/* ------------------------------------------------------------ mobile */

static void
mobile_ok(const char *in, const char *want)
{
	memset(out, 'x', sizeof(out));
	if (chat_mobile_e164(in, out, sizeof(out)) != 0)
		fail_msg("refused: \"%s\"", in);
	assert_string_equal(out, want);
}

static void
mobile_bad(const char *in)
{
	if (chat_mobile_e164(in, out, sizeof(out)) != -1)
		fail_msg("accepted: \"%s\" as %s", in, out);
}

static void
test_mobile_uk_national(void **state)
{
	(void)state;
	mobile_ok("07700 900123", "+447700900123");
	mobile_ok("07700900123", "+447700900123");
	mobile_ok("07700-900-123", "+447700900123");
	mobile_ok("(020) 7946 0000", "+442079460000");
	mobile_ok("01632 960 001", "+441632960001");
	mobile_ok("0169 77 1234", "+44169771234"); /* 0 and 9 digits */
	mobile_bad("0770 090 01");                 /* 0 and 8 digits */
	mobile_bad("077009001234");                /* 0 and 11 digits */
}

static void
test_mobile_international(void **state)
{
	(void)state;
	mobile_ok("0044 7700 900123", "+447700900123");
	mobile_ok("+44 7700 900123", "+447700900123");
	mobile_ok("+1 202-555-0123", "+12025550123");
	mobile_ok("+1 (202) 555.0123", "+12025550123");
	mobile_ok("+33 6 12 34 56 78", "+33612345678");
	mobile_ok("+1234567", "+1234567");                 /* 7 digits */
	mobile_ok("+123456789012345", "+123456789012345"); /* 15 */
	mobile_bad("+123456");                             /* 6 */
	mobile_bad("+1234567890123456");                   /* 16 */
	mobile_bad("0012345");                             /* 5 after 00 */
	mobile_bad("+0123456789");  /* no country code starts with 0 */
	mobile_bad("000123456789"); /* likewise after 00 */
	/* 44 with no +: a UK form providers.md lists (issue 14, item 2). */
	mobile_ok("44 7700 900123", "+447700900123");
	mobile_bad("1 202 555 0123"); /* neither +, 00, 0 nor 44 */
	mobile_bad("++44 7700 900123");
	mobile_bad("+44 7700 +900123");
	mobile_bad("0+44 7700 900123");
}

static void
test_mobile_trunk_zero_in_brackets(void **state)
{
	(void)state;
	/* "(0)": the trunk prefix, not dialled from abroad. */
	mobile_ok("+44 (0)7700 900123", "+447700900123");
	mobile_ok("+44(0)20 7946 0000", "+442079460000");
	mobile_ok("0044 (0)7700 900123", "+447700900123");
	/* Before any country code it is not dropped: refused as before. */
	mobile_bad("+(0)7700 900123");
	mobile_bad("00(0)44 7700 900123");
}

static void
test_mobile_refuses_letters_and_nonsense(void **state)
{
	char many[80];

	(void)state;
	mobile_bad("07700 9OO123"); /* letter O */
	mobile_bad("tel:+447700900123");
	mobile_bad("+44 7700 900123 ext 12");
	mobile_bad("+44/7700/900123");
	mobile_bad("07700\t900123");
	mobile_bad("0");
	mobile_bad("00");
	mobile_bad("+");
	mobile_bad("");
	mobile_bad("   ");
	mobile_bad("()-.");
	mobile_bad("07700 900123\xc3\xa9");
	/* More digits than any number: refused, nothing overflows. */
	memset(many, '1', sizeof(many) - 1);
	many[0] = '+';
	many[sizeof(many) - 1] = '\0';
	mobile_bad(many);
}

static void
test_mobile_output_too_small(void **state)
{
	(void)state;
	assert_int_equal(chat_mobile_e164("07700 900123", out, 13), -1);
	assert_int_equal(chat_mobile_e164("07700 900123", out, 14), 0);
	assert_string_equal(out, "+447700900123");
	assert_int_equal(chat_mobile_e164("+1 202-555-0123", out, 12), -1);
	assert_int_equal(chat_mobile_e164("+123456789012345", out, 17), 0);
	assert_string_equal(out, "+123456789012345");
}

/* ------------------------------------------------------- chat.start */

static void
test_start_with_contact_and_page(void **state)
{
	(void)state;
	accepted("{\"type\":\"chat.start\",\"id\":7,\"queue\":\"council-tax\","
	         "\"name\":\"Ann Smith\",\"email\":\"Ann.Smith@Example.ORG\","
	         "\"mobile\":\"07700 900123\",\"client_id\":"
	         "\"6F9619FF-8B86-D011-B42D-00CF4FC964FF\",\"page\":"
	         "{\"url\":\"https://example.gov.uk/tax\","
	         "\"title\":\"Council Tax\"}}");
	assert_int_equal(req.type, CHAT_START);
	assert_string_equal(req.queue, "council-tax");
	assert_string_equal(req.name, "Ann Smith");
	assert_string_equal(req.email, "ann.smith@example.org");
	assert_string_equal(req.mobile, "+447700900123");
	assert_string_equal(req.client_id,
	                    "6f9619ff-8b86-d011-b42d-00cf4fc964ff");
	assert_string_equal(req.url, "https://example.gov.uk/tax");
	assert_string_equal(req.title, "Council Tax");
	assert_null(req.text);
	assert_null(req.token);
}

static void
test_start_minimal(void **state)
{
	(void)state;
	accepted("{\"type\":\"chat.start\",\"queue\":\"housing\","
	         "\"name\":\"Bob\"}");
	assert_int_equal(req.type, CHAT_START);
	assert_string_equal(req.queue, "housing");
	assert_null(req.email);
	assert_null(req.mobile);
	assert_null(req.client_id);
	assert_null(req.url);
	assert_null(req.title);
	/* Empty or null contact details and a null page are none. */
	accepted("{\"type\":\"chat.start\",\"queue\":\"housing\","
	         "\"name\":\"Bob\",\"email\":\"\",\"mobile\":null,"
	         "\"page\":null}");
	assert_null(req.email);
	assert_null(req.mobile);
	assert_null(req.url);
	/* A page that is not http(s) is dropped, not refused. */
	accepted("{\"type\":\"chat.start\",\"queue\":\"housing\","
	         "\"name\":\"Bob\",\"page\":{\"url\":\"javascript:x()\","
	         "\"title\":\"t\"}}");
	assert_null(req.url);
	assert_null(req.title);
}

static void
test_start_refusals(void **state)
{
	char *s;

	(void)state;
	refused("{\"type\":\"chat.start\",\"name\":\"Bob\"}", CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"\",\"name\":\"Bob\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":5,\"name\":\"Bob\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\"}", CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"  \"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"email\":\"bob\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"email\":\"bob@example\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"email\":\"a@b@example.org\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"email\":\"bob smith@example.org\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"email\":42}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"mobile\":\"call me\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"client_id\":\"1234\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"client_id\":null}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"page\":\"https://example.org\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"page\":{\"title\":\"t\"}}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"Bob\","
	        "\"page\":{\"url\":\"https://a.org\",\"title\":3}}",
	        CHAT_E_BAD);

	/* Queue: at most 64 bytes; name: 1 to 200 bytes. */
	s = repeat("q", 64);
	build("chat.start", "queue", s);
	set_str("name", "Bob");
	assert_int_equal(parse_msg(), 0);
	free(s);
	s = repeat("q", 65);
	build("chat.start", "queue", s);
	set_str("name", "Bob");
	refused_with(parse_msg(), CHAT_E_BAD);
	free(s);
	s = repeat(E_ACUTE, 100);
	build("chat.start", "name", s);
	set_str("queue", "q");
	assert_int_equal(parse_msg(), 0);
	free(s);
	s = repeat("n", 201);
	build("chat.start", "name", s);
	set_str("queue", "q");
	refused_with(parse_msg(), CHAT_E_BAD);
	free(s);
}

static void
test_start_email_length(void **state)
{
	char email[CHAT_EMAIL_MAX + 2];
	size_t i;

	(void)state;
	/*
	 * RFC 5321's limits (gateway/core/identity.c): 254 bytes in all, 64
	 * before the @. 64 + "@" + 185 + ".org" = 254: the most allowed.
	 */
	memset(email, 'A', 64);
	email[64] = '@';
	for (i = 65; i < 250; i++)
		email[i] = (i - 65) % 60 == 59 ? '.' : 'E';
	strcpy(email + 250, ".ORG");
	assert_int_equal(strlen(email), CHAT_EMAIL_MAX);
	build("chat.start", "email", email);
	set_str("queue", "q");
	set_str("name", "Bob");
	assert_int_equal(parse_msg(), 0);
	assert_int_equal(strlen(req.email), CHAT_EMAIL_MAX);
	assert_int_equal(req.email[0], 'a');
	assert_string_equal(req.email + 250, ".org");

	/* One more after the @: 255. */
	memmove(email + 66, email + 65, CHAT_EMAIL_MAX - 65 + 1);
	email[65] = 'e';
	build("chat.start", "email", email);
	set_str("queue", "q");
	set_str("name", "Bob");
	refused_with(parse_msg(), CHAT_E_BAD);

	/* 65 before the @, short in all. */
	memset(email, 'a', 65);
	strcpy(email + 65, "@example.org");
	build("chat.start", "email", email);
	set_str("queue", "q");
	set_str("name", "Bob");
	refused_with(parse_msg(), CHAT_E_BAD);
}

static void
test_start_page_cut_at_limits(void **state)
{
	char *title, *url, *s;

	(void)state;
	/* 301 'é' (602 bytes): cut to 300 characters, 600 bytes. */
	title = repeat(E_ACUTE, CHAT_TITLE_MAX + 1);
	msg = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type", "chat.start",
	                "queue", "q", "name", "Bob", "page", "url",
	                "https://example.org/", "title", title);
	assert_int_equal(parse_msg(), 0);
	assert_int_equal(text_utf8_chars(req.title), CHAT_TITLE_MAX);
	assert_int_equal(strlen(req.title), 2 * CHAT_TITLE_MAX);
	assert_memory_equal(req.title, title, 2 * CHAT_TITLE_MAX);
	free(title);

	/* 301 four-byte characters: 300 of them fill the buffer exactly. */
	title = repeat(GRIN, CHAT_TITLE_MAX + 1);
	json_decref(msg);
	msg = json_pack("{s:s, s:s, s:s}", "type", "page", "url",
	                "http://example.org/", "title", title);
	assert_int_equal(parse_msg(), 0);
	assert_int_equal(text_utf8_chars(req.title), CHAT_TITLE_MAX);
	assert_int_equal(strlen(req.title), 4 * CHAT_TITLE_MAX);
	free(title);

	/* Exactly 300 characters: kept whole. */
	title = repeat(EURO, CHAT_TITLE_MAX);
	json_decref(msg);
	msg = json_pack("{s:s, s:s, s:s}", "type", "page", "url",
	                "http://example.org/", "title", title);
	assert_int_equal(parse_msg(), 0);
	assert_string_equal(req.title, title);
	free(title);

	/*
	 * A url of 11 bytes then 'é's: byte 2000 is inside an 'é', which
	 * is not cut in two: 1999 bytes are kept.
	 */
	s = repeat(E_ACUTE, 1000);
	url = malloc(11 + strlen(s) + 1);
	assert_non_null(url);
	strcpy(url, "https://x/a");
	strcat(url, s);
	json_decref(msg);
	msg = json_pack("{s:s, s:s, s:s}", "type", "page", "url", url, "title",
	                "t");
	assert_int_equal(parse_msg(), 0);
	assert_int_equal(strlen(req.url), CHAT_URL_MAX - 1);
	assert_memory_equal(req.url, url, CHAT_URL_MAX - 1);
	assert_int_equal((unsigned char)req.url[CHAT_URL_MAX - 2], 0xa9);

	/* "https://x/" (10 bytes) then 'é's: cut at exactly 2000 bytes. */
	url[10] = '\0';
	strcat(url, s);
	set_str("url", url);
	assert_int_equal(parse_msg(), 0);
	assert_int_equal(strlen(req.url), CHAT_URL_MAX);
	assert_memory_equal(req.url, url, CHAT_URL_MAX);
	free(s);
	free(url);
}

/* ------------------------------------------------------ chat.resume */

static void
test_resume(void **state)
{
	(void)state;
	accepted("{\"type\":\"chat.resume\",\"token\":\"" TOKEN
	         "\",\"after\":0}");
	assert_int_equal(req.type, CHAT_RESUME);
	assert_string_equal(req.token, TOKEN);
	assert_int_equal(req.after, 0);
	accepted("{\"type\":\"chat.resume\",\"token\":\"" TOKEN
	         "\",\"after\":9007199254740992}");
	assert_true(req.after == (1LL << 53));

	/* A token of 42 or 44 characters, or none. */
	refused("{\"type\":\"chat.resume\",\"token\":\"" TOKEN
	        "x\",\"after\":0}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.resume\",\"token\":"
	        "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh\",\"after\":0}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.resume\",\"after\":0}", CHAT_E_BAD);
	refused("{\"type\":\"chat.resume\",\"token\":null,\"after\":0}",
	        CHAT_E_BAD);
	/* after: a seq, 0 for all; not negative, not a string. */
	refused("{\"type\":\"chat.resume\",\"token\":\"" TOKEN
	        "\",\"after\":-1}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.resume\",\"token\":\"" TOKEN
	        "\",\"after\":\"3\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.resume\",\"token\":\"" TOKEN
	        "\",\"after\":1.5}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.resume\",\"token\":\"" TOKEN "\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"chat.resume\",\"token\":\"" TOKEN
	        "\",\"after\":9007199254740993}",
	        CHAT_E_BAD);
}

/* ----------------------------------------------------- message.send */

static void
test_send(void **state)
{
	(void)state;
	accepted("{\"type\":\"message.send\",\"id\":\"" UUID
	         "\",\"client_id\":\"0F8FAD5B-D9CB-469F-A165-70867728950E\","
	         "\"text\":\"Hello " E_ACUTE "\"}");
	assert_int_equal(req.type, CHAT_SEND);
	assert_string_equal(req.client_id, UUID);
	assert_string_equal(req.text, "Hello " E_ACUTE);

	refused("{\"type\":\"message.send\",\"text\":\"hi\"}", CHAT_E_BAD);
	refused("{\"type\":\"message.send\",\"client_id\":\"x\","
	        "\"text\":\"hi\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"message.send\",\"client_id\":\"" UUID "\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"message.send\",\"client_id\":\"" UUID
	        "\",\"text\":\"\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"message.send\",\"client_id\":\"" UUID
	        "\",\"text\":[\"hi\"]}",
	        CHAT_E_BAD);
}

static void
test_send_text_limit_in_characters(void **state)
{
	char *s;

	(void)state;
	/* 4000 characters of 3 bytes (12000 bytes): taken. */
	s = repeat(EURO, CHAT_TEXT_MAX);
	build("message.send", "text", s);
	set_str("client_id", UUID);
	assert_int_equal(parse_msg(), 0);
	assert_string_equal(req.text, s);
	free(s);
	/* 4000 characters of 4 bytes: taken. */
	s = repeat(GRIN, CHAT_TEXT_MAX);
	set_str("text", s);
	assert_int_equal(parse_msg(), 0);
	free(s);
	/* 4001 characters: too long, whether of 1 or 2 bytes. */
	s = repeat("a", CHAT_TEXT_MAX + 1);
	set_str("text", s);
	refused_with(parse_msg(), CHAT_E_TOO_LONG);
	free(s);
	s = repeat(E_ACUTE, CHAT_TEXT_MAX + 1);
	set_str("text", s);
	refused_with(parse_msg(), CHAT_E_TOO_LONG);
	free(s);
}

/* ------------------------------------- message.read, typing, page */

static void
test_read(void **state)
{
	(void)state;
	accepted("{\"type\":\"message.read\",\"seq\":1}");
	assert_int_equal(req.type, CHAT_READ);
	assert_int_equal(req.seq, 1);
	accepted("{\"type\":\"message.read\",\"seq\":123456789012}");
	assert_true(req.seq == 123456789012LL);
	refused("{\"type\":\"message.read\",\"seq\":0}", CHAT_E_BAD);
	refused("{\"type\":\"message.read\",\"seq\":-5}", CHAT_E_BAD);
	refused("{\"type\":\"message.read\",\"seq\":\"1\"}", CHAT_E_BAD);
	refused("{\"type\":\"message.read\",\"seq\":2.0}", CHAT_E_BAD);
	refused("{\"type\":\"message.read\"}", CHAT_E_BAD);
}

static void
test_typing(void **state)
{
	(void)state;
	accepted("{\"type\":\"typing\",\"state\":true}");
	assert_int_equal(req.type, CHAT_TYPING);
	assert_int_equal(req.state, 1);
	accepted("{\"type\":\"typing\",\"state\":false}");
	assert_int_equal(req.state, 0);
	refused("{\"type\":\"typing\",\"state\":\"true\"}", CHAT_E_BAD);
	refused("{\"type\":\"typing\",\"state\":1}", CHAT_E_BAD);
	refused("{\"type\":\"typing\",\"state\":null}", CHAT_E_BAD);
	refused("{\"type\":\"typing\"}", CHAT_E_BAD);
}

static void
test_page(void **state)
{
	(void)state;
	accepted("{\"type\":\"page\",\"url\":\"https://example.org/bins\","
	         "\"title\":\"Bins " E_ACUTE "\"}");
	assert_int_equal(req.type, CHAT_PAGE);
	assert_string_equal(req.url, "https://example.org/bins");
	assert_string_equal(req.title, "Bins " E_ACUTE);
	/* No title: an empty one. */
	accepted("{\"type\":\"page\",\"url\":\"http://example.org/\"}");
	assert_string_equal(req.url, "http://example.org/");
	assert_string_equal(req.title, "");
	/* Not http(s): taken, but there is no page to show. */
	accepted("{\"type\":\"page\",\"url\":\"ftp://example.org/\","
	         "\"title\":\"t\"}");
	assert_null(req.url);
	assert_null(req.title);
	accepted("{\"type\":\"page\",\"url\":\"data:text/html,x\","
	         "\"title\":\"t\"}");
	assert_null(req.url);

	refused("{\"type\":\"page\",\"title\":\"t\"}", CHAT_E_BAD);
	refused("{\"type\":\"page\",\"url\":7,\"title\":\"t\"}", CHAT_E_BAD);
	refused("{\"type\":\"page\",\"url\":\"https://a.org\",\"title\":[]}",
	        CHAT_E_BAD);
}

/* ------------------------------------------- end, extend, rating */

static void
test_end_and_extend(void **state)
{
	(void)state;
	accepted("{\"type\":\"chat.end\"}");
	assert_int_equal(req.type, CHAT_END);
	accepted("{\"type\":\"chat.end\",\"id\":{\"any\":[1]}}");
	assert_int_equal(req.type, CHAT_END);
	accepted("{\"type\":\"session.extend\",\"id\":3}");
	assert_int_equal(req.type, CHAT_EXTEND);
}

static void
test_rating(void **state)
{
	char *s;
	int i;

	(void)state;
	for (i = 1; i <= 5; i++) {
		char json[64];

		snprintf(json, sizeof(json),
		         "{\"type\":\"rating\",\"score\":%d}", i);
		accepted(json);
		assert_int_equal(req.type, CHAT_RATING);
		assert_int_equal(req.score, i);
		assert_null(req.comment);
	}
	accepted("{\"type\":\"rating\",\"score\":4,\"comment\":\"Quick\"}");
	assert_string_equal(req.comment, "Quick");
	accepted("{\"type\":\"rating\",\"score\":4,\"comment\":\"\"}");
	assert_null(req.comment);

	refused("{\"type\":\"rating\",\"score\":0}", CHAT_E_BAD);
	refused("{\"type\":\"rating\",\"score\":6}", CHAT_E_BAD);
	refused("{\"type\":\"rating\",\"score\":\"5\"}", CHAT_E_BAD);
	refused("{\"type\":\"rating\",\"score\":4.5}", CHAT_E_BAD);
	refused("{\"type\":\"rating\",\"score\":-1}", CHAT_E_BAD);
	refused("{\"type\":\"rating\"}", CHAT_E_BAD);
	refused("{\"type\":\"rating\",\"score\":3,\"comment\":3}", CHAT_E_BAD);

	/* Comment: at most 2000 characters. */
	s = repeat(E_ACUTE, CHAT_COMMENT_MAX);
	json_decref(msg);
	msg = json_pack("{s:s, s:i, s:s}", "type", "rating", "score", 2,
	                "comment", s);
	assert_int_equal(parse_msg(), 0);
	free(s);
	s = repeat("c", CHAT_COMMENT_MAX + 1);
	set_str("comment", s);
	refused_with(parse_msg(), CHAT_E_TOO_LONG);
	free(s);
}

/* ------------------------------------------------ transcript.request */

static void
test_transcript(void **state)
{
	(void)state;
	accepted("{\"type\":\"transcript.request\","
	         "\"email\":\"Ann@Example.org\"}");
	assert_int_equal(req.type, CHAT_TRANSCRIPT);
	assert_string_equal(req.email, "ann@example.org");
	/* None: the chat's own, if one is known. */
	accepted("{\"type\":\"transcript.request\"}");
	assert_null(req.email);
	/* A mobile is not where a transcript goes. */
	accepted("{\"type\":\"transcript.request\","
	         "\"mobile\":\"07700 900123\"}");
	assert_null(req.mobile);
	refused("{\"type\":\"transcript.request\",\"email\":\"ann\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"transcript.request\",\"email\":true}", CHAT_E_BAD);
}

/* ---------------------------------------------------- message.leave */

static void
test_leave(void **state)
{
	char *s;

	(void)state;
	accepted("{\"type\":\"message.leave\",\"queue\":\"msg\","
	         "\"name\":\"Late Lou\",\"email\":\"LOU@example.org\","
	         "\"text\":\"Please call me back\",\"client_id\":\"" UUID
	         "\"}");
	assert_int_equal(req.type, CHAT_LEAVE);
	assert_string_equal(req.queue, "msg");
	assert_string_equal(req.name, "Late Lou");
	assert_string_equal(req.email, "lou@example.org");
	assert_null(req.mobile);
	assert_string_equal(req.text, "Please call me back");
	assert_string_equal(req.client_id, UUID);
	accepted("{\"type\":\"message.leave\",\"queue\":\"msg\","
	         "\"name\":\"Lou\",\"mobile\":\"0044 7700 900123\","
	         "\"text\":\"t\",\"client_id\":\"" UUID "\"}");
	assert_null(req.email);
	assert_string_equal(req.mobile, "+447700900123");

	/* Neither email nor mobile: nowhere to answer. */
	refused("{\"type\":\"message.leave\",\"queue\":\"msg\","
	        "\"name\":\"Lou\",\"text\":\"t\",\"client_id\":\"" UUID "\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"message.leave\",\"queue\":\"msg\","
	        "\"name\":\"Lou\",\"email\":\"\",\"mobile\":null,"
	        "\"text\":\"t\",\"client_id\":\"" UUID "\"}",
	        CHAT_E_BAD);
	/* The client id makes a resent left message one conversation. */
	refused("{\"type\":\"message.leave\",\"queue\":\"msg\","
	        "\"name\":\"Lou\",\"email\":\"lou@example.org\","
	        "\"text\":\"t\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"message.leave\",\"queue\":\"msg\","
	        "\"name\":\"Lou\",\"email\":\"lou@example.org\","
	        "\"client_id\":\"" UUID "\"}",
	        CHAT_E_BAD);
	refused("{\"type\":\"message.leave\",\"name\":\"Lou\","
	        "\"email\":\"lou@example.org\",\"text\":\"t\","
	        "\"client_id\":\"" UUID "\"}",
	        CHAT_E_BAD);

	s = repeat(EURO, CHAT_TEXT_MAX + 1);
	build("message.leave", "text", s);
	set_str("queue", "msg");
	set_str("name", "Lou");
	set_str("email", "lou@example.org");
	set_str("client_id", UUID);
	refused_with(parse_msg(), CHAT_E_TOO_LONG);
	free(s);
	s = repeat(EURO, CHAT_TEXT_MAX);
	set_str("text", s);
	assert_int_equal(parse_msg(), 0);
	free(s);
}

/* ------------------------------------------------------------ others */

static void
test_unknown_type(void **state)
{
	(void)state;
	refused("{\"type\":\"chat.leave\"}", CHAT_E_UNKNOWN);
	refused("{\"type\":\"Chat.Start\",\"queue\":\"q\",\"name\":\"B\"}",
	        CHAT_E_UNKNOWN);
	refused("{\"type\":\"\"}", CHAT_E_UNKNOWN);
	refused("{\"type\":\"typing \",\"state\":true}", CHAT_E_UNKNOWN);
	refused("{\"type\":\"ping\"}", CHAT_E_UNKNOWN);
}

static void
test_nul_in_string_refused(void **state)
{
	(void)state;
	/* The daemon's jansson refuses "\u0000"; chat_parse does too. */
	refused_with(parse_flags("{\"type\":\"message.send\",\"client_id\":"
	                         "\"" UUID "\",\"text\":\"a\\u0000b\"}",
	                         JSON_ALLOW_NUL),
	             CHAT_E_BAD);
	refused_with(parse_flags("{\"type\":\"page\",\"url\":"
	                         "\"https://a.org/\\u0000\",\"title\":\"t\"}",
	                         JSON_ALLOW_NUL),
	             CHAT_E_BAD);
	refused_with(parse_flags("{\"type\":\"chat.start\",\"queue\":\"q\","
	                         "\"name\":\"B\",\"page\":{\"url\":"
	                         "\"https://a.org/\",\"title\":\"\\u0000\"}}",
	                         JSON_ALLOW_NUL),
	             CHAT_E_BAD);
}

static void
test_nothing_stale_between_requests(void **state)
{
	(void)state;
	accepted("{\"type\":\"chat.start\",\"queue\":\"q\",\"name\":\"B\","
	         "\"email\":\"b@example.org\",\"mobile\":\"07700 900123\","
	         "\"client_id\":\"" UUID "\",\"page\":{\"url\":"
	         "\"https://a.org/\",\"title\":\"t\"}}");
	accepted("{\"type\":\"typing\",\"state\":true}");
	assert_null(req.queue);
	assert_null(req.name);
	assert_null(req.email);
	assert_null(req.mobile);
	assert_null(req.client_id);
	assert_null(req.text);
	assert_null(req.token);
	assert_null(req.comment);
	assert_null(req.url);
	assert_null(req.title);
	assert_int_equal(req.score, 0);
}

/* The token of a transcript confirmation link, from a query string. */
static void
test_link_token(void **state)
{
	char tok_out[CHAT_TOKEN_LEN + 1], small[CHAT_TOKEN_LEN];
	const char *tok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_01234";
	char q[128];

	(void)state;
	assert_int_equal(strlen(tok), CHAT_TOKEN_LEN);
	snprintf(q, sizeof(q), "token=%s", tok);
	assert_int_equal(chat_link_token(q, tok_out, sizeof(tok_out)), 0);
	assert_string_equal(tok_out, tok);
	snprintf(q, sizeof(q), "x=1&token=%s&y=2", tok);
	assert_int_equal(chat_link_token(q, tok_out, sizeof(tok_out)), 0);
	assert_string_equal(tok_out, tok);
	/* Too short, too long, a character outside base64url, none. */
	assert_int_equal(chat_link_token("token=abc", tok_out, sizeof(tok_out)),
	                 -1);
	snprintf(q, sizeof(q), "token=%sA", tok);
	assert_int_equal(chat_link_token(q, tok_out, sizeof(tok_out)), -1);
	snprintf(q, sizeof(q), "token=%.42s%%", tok);
	assert_int_equal(chat_link_token(q, tok_out, sizeof(tok_out)), -1);
	snprintf(q, sizeof(q), "token=%.42s+", tok);
	assert_int_equal(chat_link_token(q, tok_out, sizeof(tok_out)), -1);
	assert_int_equal(chat_link_token("", tok_out, sizeof(tok_out)), -1);
	assert_int_equal(chat_link_token("token=", tok_out, sizeof(tok_out)),
	                 -1);
	assert_int_equal(chat_link_token("&&&", tok_out, sizeof(tok_out)), -1);
	assert_int_equal(chat_link_token(NULL, tok_out, sizeof(tok_out)), -1);
	snprintf(q, sizeof(q), "xtoken=%s", tok);
	assert_int_equal(chat_link_token(q, tok_out, sizeof(tok_out)), -1);
	/* An output too small is refused, not overrun. */
	snprintf(q, sizeof(q), "token=%s", tok);
	assert_int_equal(chat_link_token(q, small, sizeof(small)), -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_mobile_uk_national),
	        T(test_mobile_international),
	        T(test_mobile_trunk_zero_in_brackets),
	        T(test_mobile_refuses_letters_and_nonsense),
	        T(test_mobile_output_too_small),
	        T(test_start_with_contact_and_page),
	        T(test_start_minimal),
	        T(test_start_refusals),
	        T(test_start_email_length),
	        T(test_start_page_cut_at_limits),
	        T(test_resume),
	        T(test_send),
	        T(test_send_text_limit_in_characters),
	        T(test_read),
	        T(test_typing),
	        T(test_page),
	        T(test_end_and_extend),
	        T(test_rating),
	        T(test_transcript),
	        T(test_leave),
	        T(test_unknown_type),
	        T(test_nul_in_string_refused),
	        T(test_nothing_stale_between_requests),
	        T(test_link_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
