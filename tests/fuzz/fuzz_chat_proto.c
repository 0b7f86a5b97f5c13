/*
 * fuzz_chat_proto.c: libFuzzer harness for the resident's side of
 * switchboard.chat.v1 (channels/chat/chat_proto.c). Each input is parsed
 * as the daemon does (json_loadb with JSON_REJECT_DUPLICATES); an object
 * with a string "type" goes to chat_parse. An accepted request must hold
 * only what the protocol allows, a refused one must give a known code and
 * a reason. The raw input, as a C string, also goes to chat_mobile_e164.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat_proto.h"
#include "fuzz_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated string of valid UTF-8, at most max bytes if max. */
static void
check_str(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	if ((max != 0 && n > max) || fuzz_utf8_chars(s, n) == (size_t)-1)
		abort();
}

/* ^\+[1-9][0-9]{6,14}$ */
static void
check_e164(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 8 || n > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9')
		abort();
	for (i = 2; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			abort();
}

static void
check_accepted(const struct chat_req *r)
{
	const char *p;

	if (r->type < CHAT_START || r->type > CHAT_EXTEND)
		abort();
	check_str(r->queue, 64);
	check_str(r->name, CHAT_NAME_MAX);
	check_str(r->email, CHAT_EMAIL_MAX);
	check_str(r->mobile, 16);
	check_str(r->client_id, CHAT_UUID_LEN);
	check_str(r->text, 0);
	check_str(r->token, CHAT_TOKEN_LEN);
	check_str(r->comment, 0);
	check_str(r->url, CHAT_URL_MAX);
	check_str(r->title, 0);

	if (r->email != NULL) {
		if (r->email[0] == '\0' || strchr(r->email, '@') == NULL)
			abort();
		for (p = r->email; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort();
	}
	if (r->mobile != NULL)
		check_e164(r->mobile);
	if (r->client_id != NULL) {
		if (!text_is_uuid(r->client_id))
			abort();
		for (p = r->client_id; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'F')
				abort();
	}
	if (r->text != NULL &&
	    (r->text[0] == '\0' || text_utf8_chars(r->text) > CHAT_TEXT_MAX))
		abort();
	if (r->comment != NULL &&
	    text_utf8_chars(r->comment) > CHAT_COMMENT_MAX)
		abort();
	if (r->url != NULL && strncmp(r->url, "http://", 7) != 0 &&
	    strncmp(r->url, "https://", 8) != 0)
		abort();
	if ((r->url == NULL) != (r->title == NULL))
		abort();
	if (r->title != NULL && text_utf8_chars(r->title) > CHAT_TITLE_MAX)
		abort();

	switch (r->type) {
	case CHAT_START:
	case CHAT_LEAVE:
		if (r->queue == NULL || r->queue[0] == '\0' || r->name == NULL)
			abort();
		if (r->type == CHAT_LEAVE &&
		    ((r->email == NULL && r->mobile == NULL) ||
		     r->text == NULL || r->client_id == NULL))
			abort();
		break;
	case CHAT_RESUME:
		if (r->token == NULL || strlen(r->token) != CHAT_TOKEN_LEN ||
		    r->after < 0 || r->after > (1LL << 53))
			abort();
		break;
	case CHAT_SEND:
		if (r->client_id == NULL || r->text == NULL)
			abort();
		break;
	case CHAT_READ:
		if (r->seq < 1 || r->seq > (1LL << 53))
			abort();
		break;
	case CHAT_TYPING:
		if (r->state != 0 && r->state != 1)
			abort();
		break;
	case CHAT_RATING:
		if (r->score < 1 || r->score > 5)
			abort();
		break;
	case CHAT_TRANSCRIPT:
		if (r->mobile != NULL)
			abort();
		break;
	case CHAT_PAGE:
	case CHAT_END:
	case CHAT_EXTEND:
		break;
	}
}

static void
fuzz_parse(const uint8_t *data, size_t size)
{
	struct chat_req req;
	const char *code = NULL, *why = NULL;
	json_error_t err;
	json_t *msg, *type;

	msg = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	                 &err);
	if (msg == NULL)
		return;
	type = json_object_get(msg, "type");
	if (json_is_object(msg) && json_is_string(type)) {
		/* Poison the request: nothing stale may leak through. */
		memset(&req, 0xa5, sizeof(req));
		if (chat_parse(msg, json_string_value(type), &req, &code,
		               &why) == 0) {
			check_accepted(&req);
		} else if (code == NULL || why == NULL || why[0] == '\0' ||
		           (strcmp(code, CHAT_E_BAD) != 0 &&
		            strcmp(code, CHAT_E_UNKNOWN) != 0 &&
		            strcmp(code, CHAT_E_TOO_LONG) != 0)) {
			abort();
		}
	}
	json_decref(msg);
}

static void
fuzz_mobile(const uint8_t *data, size_t size)
{
	char in[256], out[32];
	size_t n = size < sizeof(in) - 1 ? size : sizeof(in) - 1;

	memcpy(in, data, n);
	in[n] = '\0';
	memset(out, 0xa5, sizeof(out));
	if (chat_mobile_e164(in, out, sizeof(out)) == 0)
		check_e164(out);
	/* The request's buffer is 17 bytes: a longer result is refused. */
	if (chat_mobile_e164(in, out, 17) == 0)
		check_e164(out);
}

/* A confirmation link's query string: a token is 43 base64url bytes. */
static void
fuzz_link(const uint8_t *data, size_t size)
{
	char in[256], out[CHAT_TOKEN_LEN + 1];
	size_t n = size < sizeof(in) - 1 ? size : sizeof(in) - 1, i;

	memcpy(in, data, n);
	in[n] = '\0';
	if (chat_link_token(in, out, sizeof(out)) != 0)
		return;
	if (strlen(out) != CHAT_TOKEN_LEN)
		abort();
	for (i = 0; i < CHAT_TOKEN_LEN; i++)
		if (!((out[i] >= 'a' && out[i] <= 'z') ||
		      (out[i] >= 'A' && out[i] <= 'Z') ||
		      (out[i] >= '0' && out[i] <= '9') || out[i] == '-' ||
		      out[i] == '_'))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(data, size);
	fuzz_mobile(data, size);
	fuzz_link(data, size);
	return 0;
}
