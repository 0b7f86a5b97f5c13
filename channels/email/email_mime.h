/*
 * email_mime.h: a raw RFC 5322 message (the bytes IMAP returns for
 * BODY.PEEK[]) turned into a normalised message for ingest (docs/email.md,
 * "Parsing"). Pure: no I/O, no loop, any thread. Fuzzed
 * (tests/fuzz/fuzz_email_mime.c) and unit tested by concern
 * (tests/unit/email/test_email_mime.c).
 *
 * It never fails on bad input: what could be read is returned, and flags
 * and problems say what went wrong (the caller keeps the raw source beside
 * it, always). Every string it returns is valid UTF-8 with no NUL inside.
 *
 * The work is split by concern:
 *   email_mime.c         structure, body choice, attachments, DSN, RFC 3834
 *   email_mime_header.c  unfolding, RFC 2047, RFC 2231, addresses, ids, Date
 *   email_charset.c      charsets to UTF-8 (glibc iconv), U+FFFD for bad bytes
 *   email_html.c         HTML to text, and the allow-list sanitiser
 *   email_buf.c          the growable byte buffer they share
 *
 * Not done (yet): winmail.dat (TNEF) is not decoded; S/MIME and PGP parts
 * are plain attachments (nothing verified or decrypted); format=flowed is
 * not reflowed; quoted history is not cut;
 * a message/rfc822 part is an attachment and is not searched for a body;
 * file names are decoded but not made safe for a file system.
 */
#ifndef EMAIL_MIME_H
#define EMAIL_MIME_H

#include <stddef.h>
#include <stdint.h>

/* Defaults for a limit given as 0. */
#define EMAIL_MIME_DEPTH_DEFAULT       16
#define EMAIL_MIME_PARTS_DEFAULT       200
#define EMAIL_MIME_TEXT_DEFAULT        (1u << 20)  /* bytes */
#define EMAIL_MIME_ATTACHMENT_DEFAULT  (10u << 20) /* bytes, one file */
#define EMAIL_MIME_ATTACHMENTS_DEFAULT (25u << 20) /* bytes, all files */

/* Fixed caps: a header's value (bytes, unfolded), headers of one part,
 * addresses in one list, ids in References (the first and the last ones
 * are kept), recipients of one DSN, lines of problems. */
#define EMAIL_MIME_HEADER_MAX     65536
#define EMAIL_MIME_HEADERS_MAX    1000
#define EMAIL_MIME_ADDRESSES_MAX  500
#define EMAIL_MIME_REFERENCES_MAX 100
#define EMAIL_MIME_DSN_MAX        100
#define EMAIL_MIME_PROBLEMS_MAX   32

struct email_mime_limits {     /* 0 = the default */
	unsigned max_depth;    /* nesting of multiparts */
	unsigned max_parts;    /* MIME parts (entities), the message included */
	size_t max_text;       /* bytes of text kept; and of HTML read */
	size_t max_attachment; /* bytes of one file kept */
	size_t max_attachments; /* bytes of all files of one message kept */
};

enum email_mime_flag {
	EMAIL_MIME_OK = 0,
	EMAIL_MIME_PARSE_ERROR = 1u << 0,    /* structure not as the RFCs say */
	EMAIL_MIME_TRUNCATED = 1u << 1,      /* text or a header cut at a cap */
	EMAIL_MIME_BYTES_REPLACED = 1u << 2, /* bad bytes became U+FFFD */
	EMAIL_MIME_TOO_DEEP = 1u << 3,       /* nesting over max_depth */
	EMAIL_MIME_TOO_MANY_PARTS = 1u << 4, /* parts over max_parts */
	/* text with no usable charset: not UTF-8, read as Windows-1252 */
	EMAIL_MIME_NO_CHARSET_GUESSED = 1u << 5,
	EMAIL_MIME_OVER_CAP = 1u << 6, /* an attachment's bytes not kept */
	EMAIL_MIME_TNEF = 1u << 7,     /* winmail.dat, not decoded */
};

/* An address: name NULL when none; addr the addr-spec as sent ("" when
 * the mailbox had none, as in a bare display name). */
struct email_mime_address {
	char *name;
	char *addr;
};

struct email_mime_attachment {
	char *filename;     /* decoded (RFC 2231 / 2047); NULL when none */
	char *content_type; /* "type/subtype", lower case */
	char *content_id;   /* without <>; NULL when none */
	int is_inline;      /* Content-Disposition: inline, or a cid: image */
	size_t size;        /* decoded size, even when over a cap */
	unsigned char sha256[32]; /* of the decoded bytes */
	unsigned char *data; /* decoded bytes (malloc'd); NULL when over_cap */
	int over_cap;
};

/* One recipient of a delivery-status notification (RFC 3464); a field is
 * NULL when absent. final_recipient without its "rfc822;" type. */
struct email_mime_dsn {
	char *final_recipient;
	char *original_recipient;
	char *action; /* lower case: failed, delayed, delivered, ... */
	char *status; /* "5.1.1" */
	char *diagnostic_code;
};

struct email_mime_msg {
	char *message_id;  /* without <>; NULL when none */
	char *in_reply_to; /* the first id, without <>; NULL when none */
	char **references; /* ids without <>, in order */
	size_t nreferences;
	char *subject; /* decoded, unfolded; NULL when none */
	struct email_mime_address from, reply_to,
	        sender; /* {NULL,NULL}: none */
	struct email_mime_address *to, *cc;
	size_t nto, ncc;
	int64_t date_ms;   /* Date: in ms since the epoch, -1 absent or bad */
	char *return_path; /* "" for <>, NULL when absent */
	char *text; /* the body as text, LF line ends; never NULL ("" none) */
	char *html; /* the HTML body after the allow-list sanitiser, or NULL */
	/* Raw values (decoded, unfolded) for the RFC 3834 rules; NULL when
	 * absent. */
	char *auto_submitted, *precedence, *x_auto_response_suppress;
	int has_list_headers;       /* any List-* header */
	int has_x_autoreply;        /* X-Autoreply or X-Autorespond */
	int is_report;              /* the message is multipart/report */
	char *report_type;          /* its report-type, lower case, or NULL */
	char *thread_index;         /* Outlook's Thread-Index, raw */
	struct email_mime_dsn *dsn; /* delivery-status recipients */
	size_t ndsn;
	char *dsn_original_envelope_id; /* Original-Envelope-Id, or NULL */
	char *dsn_original_message_id;  /* of the returned message, or NULL */
	/* Every leaf that is not the body, in order; the delivery-status
	 * part of a DSN is in dsn instead. */
	struct email_mime_attachment *att;
	size_t natt;
	unsigned flags; /* enum email_mime_flag */
	char *problems; /* one line per problem ('\n' after each); never NULL */
};

/*
 * Parses len bytes of raw (any bytes: NULs, bare LF and 8-bit are read
 * too) into *out, which the caller frees with email_mime_free, whatever
 * the result. lim may be NULL (every default). Returns 0 when the message
 * read cleanly, 1 when something was wrong (out->flags and out->problems
 * say what; what could be read is in *out all the same). Never fails
 * otherwise: out of memory aborts (xmalloc).
 */
int email_mime_parse(const unsigned char *raw, size_t len,
                     const struct email_mime_limits *lim,
                     struct email_mime_msg *out);

/* Frees what *m holds and zeroes it; NULL is a no-op. */
void email_mime_free(struct email_mime_msg *m);

/*
 * The rules of "Automatic replies (RFC 3834)" in reference/email.md: the
 * reason (a static string) not to send an automatic reply to m, or NULL
 * when one may be sent. ours: our own addresses, lower case (nours of
 * them; NULL when 0). The sender's addresses checked are From, Sender and
 * Return-Path; a message without a From address is not answered either.
 */
const char *email_mime_no_autoreply(const struct email_mime_msg *m,
                                    const char *const *ours, size_t nours);

#endif
