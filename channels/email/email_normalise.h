/*
 * email_normalise.h: a parsed mail (email_mime.h) turned into what ingest
 * takes (gateway/core/ingest.h): the sender's identity and name, the
 * subject, the body, the metadata the desk shows, and the keys that thread
 * it (docs/email.md, "From a mail to a message"). Pure: no I/O, any
 * thread. Fuzzed from raw bytes through the parser
 * (tests/fuzz/fuzz_email_normalise.c).
 *
 * Threading, in the order of shared/reference/email.md:
 *   1. our reference in the subject (SB and digits, whose last digit is the
 *      Luhn check digit sb_conversation_reference gives): `reference`;
 *   2. the ids in In-Reply-To and References (newest first): thread keys
 *      to find, "msgid:<id>";
 *   3. else a new conversation, which the mail's own Message-ID then
 *      threads ("msgid:<id>", a key to add).
 * A relayed sender whose address is per request (WhatDoTheyKnow and other
 * Alaveteli sites: request-<number>-<8 hex>@...) threads by that address
 * too: "relay:<address>", to find and to add.
 *
 * It also says what the channel must not do: answer automatically
 * (RFC 3834; `no_autoreply`), or open a conversation for a delivery
 * report (`bounce`: a DSN is recorded against the message it answers,
 * never as a conversation).
 */
#ifndef EMAIL_NORMALISE_H
#define EMAIL_NORMALISE_H

#include <stddef.h>

#include "email_mime.h"
#include "identity.h"

/* Thread keys of each kind at most (ingest takes 32 of each). */
#define EMAIL_NORMAL_KEYS_MAX 16
/* Addresses of To and Cc each kept in the metadata. */
#define EMAIL_NORMAL_RCPT_MAX 50

struct email_normal {
	char *name;         /* the From display name, or NULL */
	struct identity id; /* the From address, when it is one */
	int has_id;
	char *subject;      /* never NULL */
	char *body;         /* never NULL */
	char *metadata;     /* a JSON object's text, under 64 KiB */
	char reference[40]; /* our reference from the subject, or "" */
	char *find[EMAIL_NORMAL_KEYS_MAX + 1];
	size_t nfind;
	char *add[2];
	size_t nadd;
	const char *no_autoreply; /* RFC 3834's reason, or NULL */
	int bounce;               /* a delivery report */
};

/*
 * Fills *out from m (which it does not keep). ours: the mailbox's own
 * addresses (lower case), for the RFC 3834 rules. Never fails; free with
 * email_normal_free.
 */
void email_normalise(const struct email_mime_msg *m, const char *const *ours,
                     size_t nours, struct email_normal *out);
void email_normal_free(struct email_normal *n);

/*
 * Our conversation reference in s (a subject): the first "SB<digits>"
 * standing alone (not inside a longer word) whose check digit is right,
 * upper-cased into out. 1 when found, else 0.
 */
int email_normal_reference(const char *s, char *out, size_t len);

/* 1 when addr is a per-request relay address: request-<digits>-<8 hex>@... */
int email_normal_is_relay(const char *addr);

#endif
