/*
 * chat_proto.c: parsing and checking the resident's messages of
 * switchboard.chat.v1. See chat_proto.h and docs/chat-protocol.md.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "chat_proto.h"
#include "identity.h"
#include "text.h"

int
chat_link_token(const char *query, char *out, size_t len)
{
	const char *p = query, *v;
	size_t n, i;

	if (query == NULL || len < CHAT_TOKEN_LEN + 1)
		return -1;
	while (*p != '\0') {
		n = strcspn(p, "&");
		if (n > 6 && strncmp(p, "token=", 6) == 0) {
			v = p + 6;
			if (n - 6 != CHAT_TOKEN_LEN)
				return -1;
			for (i = 0; i < CHAT_TOKEN_LEN; i++)
				if (!isalnum((unsigned char)v[i]) &&
				    v[i] != '-' && v[i] != '_')
					return -1;
			memcpy(out, v, CHAT_TOKEN_LEN);
			out[CHAT_TOKEN_LEN] = '\0';
			return 0;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return -1;
}

int
chat_mobile_e164(const char *in, char *out, size_t len)
{
	return identity_phone(in, 0, out, len, NULL);
}

/* Copies at most max bytes of s, not cutting a UTF-8 sequence. */
static void
cut_utf8(char *out, size_t outlen, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* Cuts s to at most max characters. */
static void
cut_chars(char *out, size_t outlen, const char *s, size_t max)
{
	size_t i, chars = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max)
			break;
	}
	cut_utf8(out, outlen, s, i);
}

static const char *
str(json_t *msg, const char *name)
{
	json_t *v = json_object_get(msg, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A string field that may be absent, null or "": NULL then. */
static int
opt_str(json_t *msg, const char *name, const char **out)
{
	json_t *v = json_object_get(msg, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	if (json_string_value(v)[0] != '\0')
		*out = json_string_value(v);
	return 0;
}

/* A string with no NUL inside (jansson allows "\u0000"). */
static int
clean_str(json_t *msg, const char *name)
{
	json_t *v = json_object_get(msg, name);

	return !json_is_string(v) ||
	       strlen(json_string_value(v)) == json_string_length(v);
}

static int
has_nul(json_t *msg)
{
	static const char *const fields[] = {
	        "queue", "name",  "email", "mobile", "client_id",
	        "text",  "token", "url",   "title",  "comment"};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!clean_str(msg, fields[i]))
			return 1;
	return 0;
}

/* Email and mobile of a start or a left message, both optional. */
static int
contact(json_t *msg, struct chat_req *req, const char **why)
{
	const char *e, *m;

	if (opt_str(msg, "email", &e) != 0 || opt_str(msg, "mobile", &m) != 0) {
		*why = "email and mobile must be strings";
		return -1;
	}
	if (e != NULL) {
		if (identity_email(e, req->email_buf, sizeof(req->email_buf),
		                   NULL) != 0) {
			*why = "email is not an email address";
			return -1;
		}
		req->email = req->email_buf;
	}
	if (m != NULL) {
		if (identity_phone(m, 0, req->mobile_buf,
		                   sizeof(req->mobile_buf), NULL) != 0) {
			*why = "mobile is not a phone number";
			return -1;
		}
		req->mobile = req->mobile_buf;
	}
	return 0;
}

static int
name_ok(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) > CHAT_NAME_MAX)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isspace((unsigned char)s[i]))
			return 1;
	return 0;
}

/* A page: url (http or https) and title; an unusable url is dropped. */
static int
page(json_t *obj, struct chat_req *req)
{
	const char *url = str(obj, "url"), *title = str(obj, "title");

	if (url == NULL || (title == NULL && json_object_get(obj, "title")))
		return -1;
	if (!clean_str(obj, "url") || !clean_str(obj, "title"))
		return -1;
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return 0;
	cut_utf8(req->url_buf, sizeof(req->url_buf), url, CHAT_URL_MAX);
	cut_chars(req->title_buf, sizeof(req->title_buf), title ? title : "",
	          CHAT_TITLE_MAX);
	req->url = req->url_buf;
	req->title = req->title_buf;
	return 0;
}

/* An integer field within [lo, hi]. */
static int
int_field(json_t *msg, const char *name, long long lo, long long hi,
          long long *out)
{
	json_t *v = json_object_get(msg, name);

	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int
client_id(json_t *msg, struct chat_req *req, int required)
{
	const char *c = str(msg, "client_id");

	if (c == NULL && !required && json_object_get(msg, "client_id") == NULL)
		return 0;
	if (!text_is_uuid(c))
		return -1;
	snprintf(req->client_buf, sizeof(req->client_buf), "%s", c);
	/* Lower case: the same id however it was written. */
	for (char *p = req->client_buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	req->client_id = req->client_buf;
	return 0;
}

#define FAIL(c, w)                                                             \
	do {                                                                   \
		*code = (c);                                                   \
		*why = (w);                                                    \
		return -1;                                                     \
	} while (0)

static int
parse_start(json_t *msg, struct chat_req *req, const char **code,
            const char **why, int leave)
{
	json_t *pg = json_object_get(msg, "page");

	req->queue = str(msg, "queue");
	req->name = str(msg, "name");
	if (req->queue == NULL || req->queue[0] == '\0' ||
	    strlen(req->queue) > 64)
		FAIL(CHAT_E_BAD, "queue must be the slug of a queue");
	if (!name_ok(req->name))
		FAIL(CHAT_E_BAD,
		     "name must be 1 to 200 bytes, not only spaces");
	if (contact(msg, req, why) != 0) {
		*code = CHAT_E_BAD;
		return -1;
	}
	if (client_id(msg, req, leave) != 0)
		FAIL(CHAT_E_BAD, "client_id must be a UUID");
	if (!leave) {
		if (pg != NULL && !json_is_null(pg) &&
		    (!json_is_object(pg) || page(pg, req) != 0))
			FAIL(CHAT_E_BAD, "page must be {url, title}");
		return 0;
	}
	if (req->email == NULL && req->mobile == NULL)
		FAIL(CHAT_E_BAD, "a left message needs an email or a mobile");
	req->text = str(msg, "text");
	if (req->text == NULL || req->text[0] == '\0')
		FAIL(CHAT_E_BAD, "text must be a non-empty string");
	if (text_utf8_chars(req->text) > CHAT_TEXT_MAX)
		FAIL(CHAT_E_TOO_LONG, "text is longer than 4000 characters");
	return 0;
}

int
chat_parse(json_t *msg, const char *type, struct chat_req *req,
           const char **code, const char **why)
{
	static const struct {
		const char *name;
		enum chat_type type;
	} types[] = {
	        {"chat.start", CHAT_START},
	        {"chat.resume", CHAT_RESUME},
	        {"message.send", CHAT_SEND},
	        {"message.read", CHAT_READ},
	        {"typing", CHAT_TYPING},
	        {"page", CHAT_PAGE},
	        {"chat.end", CHAT_END},
	        {"rating", CHAT_RATING},
	        {"transcript.request", CHAT_TRANSCRIPT},
	        {"message.leave", CHAT_LEAVE},
	        {"session.extend", CHAT_EXTEND},
	};
	long long v;
	size_t i;
	json_t *t;

	memset(req, 0, offsetof(struct chat_req, email_buf));
	req->email_buf[0] = req->mobile_buf[0] = req->client_buf[0] = '\0';
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, type) == 0)
			break;
	if (i == sizeof(types) / sizeof(types[0]))
		FAIL(CHAT_E_UNKNOWN, "unknown message type");
	req->type = types[i].type;
	if (has_nul(msg))
		FAIL(CHAT_E_BAD, "strings must not contain NUL");
	switch (req->type) {
	case CHAT_START:
		return parse_start(msg, req, code, why, 0);
	case CHAT_LEAVE:
		return parse_start(msg, req, code, why, 1);
	case CHAT_RESUME:
		req->token = str(msg, "token");
		if (req->token == NULL || strlen(req->token) != CHAT_TOKEN_LEN)
			FAIL(CHAT_E_BAD, "token must be a resume token");
		if (int_field(msg, "after", 0, (1LL << 53), &req->after) != 0)
			FAIL(CHAT_E_BAD, "after must be a seq (0 for all)");
		return 0;
	case CHAT_SEND:
		if (client_id(msg, req, 1) != 0)
			FAIL(CHAT_E_BAD, "client_id must be a UUID");
		req->text = str(msg, "text");
		if (req->text == NULL || req->text[0] == '\0')
			FAIL(CHAT_E_BAD, "text must be a non-empty string");
		if (text_utf8_chars(req->text) > CHAT_TEXT_MAX)
			FAIL(CHAT_E_TOO_LONG,
			     "text is longer than 4000 characters");
		return 0;
	case CHAT_READ:
		if (int_field(msg, "seq", 1, (1LL << 53), &req->seq) != 0)
			FAIL(CHAT_E_BAD, "seq must be a message's seq");
		return 0;
	case CHAT_TYPING:
		t = json_object_get(msg, "state");
		if (!json_is_boolean(t))
			FAIL(CHAT_E_BAD, "state must be true or false");
		req->state = json_is_true(t);
		return 0;
	case CHAT_PAGE:
		if (page(msg, req) != 0)
			FAIL(CHAT_E_BAD, "page needs url and title strings");
		return 0;
	case CHAT_RATING:
		if (int_field(msg, "score", 1, 5, &v) != 0)
			FAIL(CHAT_E_BAD, "score must be 1 to 5");
		req->score = (int)v;
		if (opt_str(msg, "comment", &req->comment) != 0)
			FAIL(CHAT_E_BAD, "comment must be a string");
		if (req->comment != NULL &&
		    text_utf8_chars(req->comment) > CHAT_COMMENT_MAX)
			FAIL(CHAT_E_TOO_LONG,
			     "comment is longer than 2000 characters");
		return 0;
	case CHAT_TRANSCRIPT:
		if (contact(msg, req, why) != 0) {
			*code = CHAT_E_BAD;
			return -1;
		}
		req->mobile = NULL;
		return 0;
	case CHAT_END:
	case CHAT_EXTEND:
		return 0;
	}
	FAIL(CHAT_E_UNKNOWN, "unknown message type");
}
