/*
 * chat_proto.h: the resident side of switchboard.chat.v1, parsed and
 * checked (docs/chat-protocol.md). Pure: no I/O, no allocation beyond the
 * request itself, so it can be fuzzed (tests/fuzz/fuzz_chat_proto.c) and
 * unit tested. Strings in a request point into the JSON message or into
 * the request's own buffers: valid while both are.
 */
#ifndef CHAT_PROTO_H
#define CHAT_PROTO_H

#include <stddef.h>

#include <jansson.h>

#include "identity.h"
#include "text.h" /* text_is_uuid, text_utf8_chars */

#define CHAT_TEXT_MAX    4000 /* characters of a message */
#define CHAT_COMMENT_MAX 2000 /* characters of a rating's comment */
#define CHAT_NAME_MAX    200  /* bytes */
#define CHAT_EMAIL_MAX   IDENTITY_EMAIL_MAX
#define CHAT_URL_MAX     2000 /* bytes; a longer page address is cut */
#define CHAT_TITLE_MAX   300  /* characters; a longer title is cut */
#define CHAT_TOKEN_LEN   43   /* 32 random bytes, base64url, no padding */
#define CHAT_UUID_LEN    TEXT_UUID_LEN

enum chat_type {
	CHAT_START = 1,
	CHAT_RESUME,
	CHAT_SEND,
	CHAT_READ,
	CHAT_TYPING,
	CHAT_PAGE,
	CHAT_END,
	CHAT_RATING,
	CHAT_TRANSCRIPT,
	CHAT_LEAVE,
	CHAT_EXTEND,
};

struct chat_req {
	enum chat_type type;
	const char *queue;     /* start, leave */
	const char *name;      /* start, leave */
	const char *email;     /* start, leave, transcript: NULL if none */
	const char *mobile;    /* start, leave: E.164, NULL if none */
	const char *client_id; /* start (optional), send, leave: a UUID */
	const char *text;      /* send, leave */
	const char *token;     /* resume */
	const char *comment;   /* rating: NULL if none */
	const char *url;       /* page, start: NULL if none */
	const char *title;
	long long after; /* resume */
	long long seq;   /* read */
	int score;       /* rating */
	int state;       /* typing */
	/* Own copies: lower-cased email, normalised mobile, cut page. */
	char email_buf[CHAT_EMAIL_MAX + 1];
	char mobile_buf[IDENTITY_PHONE_LEN];
	char client_buf[CHAT_UUID_LEN + 1];
	char url_buf[CHAT_URL_MAX + 1];
	char title_buf[CHAT_TITLE_MAX * 4 + 1];
};

/* Error codes of a refused request (the protocol's `code`). */
#define CHAT_E_BAD      "bad_message"
#define CHAT_E_UNKNOWN  "unknown_type"
#define CHAT_E_TOO_LONG "too_long"

/*
 * Parses msg (a JSON object whose "type" is type). Returns 0, or -1 with
 * *code (one of CHAT_E_*) and *why (a sentence for the client) set.
 */
int chat_parse(json_t *msg, const char *type, struct chat_req *req,
               const char **code, const char **why);

/*
 * The token of a transcript confirmation link from a URL query string
 * ("token=<43 base64url characters>", among other parameters): copied to
 * out (at least CHAT_TOKEN_LEN + 1 bytes). -1 when there is none, or it
 * is not one.
 */
int chat_link_token(const char *query, char *out, size_t len);
/*
 * A UK or international phone number as E.164 ("07700 900123" ->
 * "+447700900123"); -1 when it is not one. identity_phone with no flags:
 * kept for the chat's own callers and tests.
 */
int chat_mobile_e164(const char *in, char *out, size_t len);

#endif
