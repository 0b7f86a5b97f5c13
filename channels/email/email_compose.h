/*
 * email_compose.h: an outgoing message (a reply, an acknowledgement) as
 * RFC 5322 bytes for email_smtp_send (issue 15, "Sending"; docs/email.md,
 * "Composing a message"). Pure: no I/O, any thread. Fuzzed
 * (tests/fuzz/fuzz_email_compose.c) and read back by our own parser in its
 * tests.
 *
 * What it makes: From, To, optional Reply-To, Subject, Date, Message-ID,
 * optional In-Reply-To and References, optional Auto-Submitted,
 * MIME-Version, and a text/plain UTF-8 body in quoted-printable (every
 * line under 78 characters, CRLF). A subject or display name that is not
 * plain ASCII goes in RFC 2047 encoded words.
 *
 * What it refuses (NULL, with why): an address that is not one plain
 * addr-spec, an id that is not one plain id, text or names that are not
 * UTF-8. Control characters in a subject or name (CR and LF included: a
 * subject quoted from a resident's mail must not add a header) become
 * spaces; the body keeps its line breaks.
 */
#ifndef EMAIL_COMPOSE_H
#define EMAIL_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

struct email_compose {
	const char *from_name; /* NULL: none */
	const char *from_addr;
	const char *to_addr;           /* one recipient */
	const char *reply_to;          /* NULL: none */
	const char *subject;           /* UTF-8 */
	const char *message_id;        /* without <> */
	const char *in_reply_to;       /* without <>; NULL: none */
	const char *const *references; /* without <>, oldest first */
	size_t nreferences;
	const char *auto_submitted; /* "auto-replied", "auto-generated", NULL */
	int64_t date_ms;
	const char *text; /* UTF-8; LF or CRLF line ends */
};

/* The message, malloc'd, *len its length; NULL (*why) when refused. */
char *email_compose(const struct email_compose *c, size_t *len,
                    const char **why);

/* 1 when a is one plain addr-spec: printable ASCII, one '@', no space or
 * specials, at most 254 bytes. */
int email_compose_addr_ok(const char *a);

#endif
