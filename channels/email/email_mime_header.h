/*
 * email_mime_header.h: message and MIME headers (email_mime.h): the
 * header block split into unfolded fields, RFC 2047 encoded words, MIME
 * parameters with RFC 2231, address lists, message ids and Date. Pure,
 * any thread. Every string returned is malloc'd (the caller frees it) and
 * valid UTF-8 with no NUL; flags are those of enum email_mime_flag.
 */
#ifndef EMAIL_MIME_HEADER_H
#define EMAIL_MIME_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "email_mime.h"

/* One header field: name as sent; value unfolded (the line breaks of
 * folding removed, the whitespace kept), still raw bytes (NUL made a
 * space), leading and trailing whitespace removed. */
struct email_mime_field {
	char *name;
	char *value;
};

struct email_mime_fields {
	struct email_mime_field *v;
	size_t n;
};

/*
 * Reads the header block at the start of the n bytes at p (lines ending
 * in LF or CRLF) into *f (zeroed by the caller; free with
 * email_mime_header_fields_free). It ends at an empty line, or at a line
 * that is not a field (EMAIL_MIME_PARSE_ERROR: that line starts the
 * body); an mbox "From " line first is skipped. Values over
 * EMAIL_MIME_HEADER_MAX bytes are cut, fields after EMAIL_MIME_HEADERS_MAX
 * dropped (EMAIL_MIME_TRUNCATED). Returns the body's offset.
 */
size_t email_mime_header_block(const unsigned char *p, size_t n,
                               struct email_mime_fields *f, unsigned *flags);
void email_mime_header_fields_free(struct email_mime_fields *f);

/* The value of the first field called name (any case), or NULL. */
const char *email_mime_header_get(const struct email_mime_fields *f,
                                  const char *name);

/*
 * Unstructured text (Subject, a display name): RFC 2047 encoded words
 * decoded from any charset (B and Q; adjacent ones joined without the
 * whitespace between them; a malformed one kept as text), other 8-bit
 * bytes read as UTF-8 or else Windows-1252, control characters made
 * spaces, runs of whitespace made one space, trimmed.
 */
char *email_mime_header_text(const char *v, unsigned *flags);

/*
 * An address list (From, To, Cc, ...): mailboxes "Name <addr>", bare
 * addr-specs, quoted display names (encoded words in them decoded too),
 * comments (a bare address's comment is its name), groups (their name
 * dropped, their members kept), obsolete routes. Sets *out to an array of
 * at most max (free each with email_mime_header_address_free, then the
 * array) and returns how many; *out is NULL when none.
 */
size_t email_mime_header_addresses(const char *v,
                                   struct email_mime_address **out, size_t max,
                                   unsigned *flags);
void email_mime_header_address_free(struct email_mime_address *a);

/*
 * Message ids (Message-ID, In-Reply-To, References, Content-ID): each
 * <...> without its brackets and whitespace; with no brackets at all,
 * each word holding '@'. Comments and phrases between are skipped. Sets
 * *out to an array of the ids (NULL when none) and returns how many: all
 * of them up to max, or the first and the last max - 1 beyond that.
 */
size_t email_mime_header_ids(const char *v, char ***out, size_t max);

/*
 * Date (RFC 5322, and the obsolete forms: no day name, two- or three-
 * digit years, no seconds, zone names such as GMT, EST, military zones
 * read as UTC, no zone, comments) in ms since the epoch. 0, or -1 when
 * it cannot be read or is before 1970.
 */
int email_mime_header_date(const char *v, int64_t *ms);

/* The first word of a structured value ("Text/Plain; charset=x" gives
 * "text/plain"), lower case, comments skipped; "" when none. */
char *email_mime_header_token(const char *v);

/*
 * The parameter called name (lower case) of a MIME value (Content-Type,
 * Content-Disposition), decoded: RFC 2231 (name*=charset'lang'%XX, and
 * continuations name*0=, name*1*=, ... joined in order), quoted strings,
 * and RFC 2047 words inside them as mail clients send. NULL when absent.
 */
char *email_mime_header_param(const char *v, const char *name, unsigned *flags);

#endif
