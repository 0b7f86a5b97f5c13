/*
 * email_charset.h: text in a MIME charset turned into UTF-8 with glibc's
 * iconv (email_mime.h). Pure, any thread (an iconv descriptor is opened
 * and closed per call).
 *
 * Bytes that are not valid in their charset become U+FFFD, one for each,
 * never dropped and never passed through; a NUL becomes U+FFFD too. With
 * no charset, "us-ascii", or one iconv does not know: text that is valid
 * UTF-8 stays as it is, anything else is read as Windows-1252.
 */
#ifndef EMAIL_CHARSET_H
#define EMAIL_CHARSET_H

#include <stddef.h>

#include "email_buf.h"

/*
 * Appends the n bytes at in, in charset cs (NULL: none given), to out as
 * UTF-8. Returns the flags of enum email_mime_flag it raised:
 * EMAIL_MIME_BYTES_REPLACED, EMAIL_MIME_NO_CHARSET_GUESSED.
 */
unsigned email_charset_to_utf8(struct email_buf *out, const char *cs,
                               const void *in, size_t n);

/*
 * Appends the n bytes at in to out, keeping valid UTF-8 and writing
 * U+FFFD for each byte that is not part of a valid sequence, and for NUL.
 * Returns how many were replaced.
 */
size_t email_charset_utf8_clean(struct email_buf *out, const void *in,
                                size_t n);

/* Bytes of the valid UTF-8 sequence at s (n bytes there), 0 if none. */
size_t email_charset_utf8_seq(const unsigned char *s, size_t n);

/* The longest prefix of the n bytes of UTF-8 at s with at most max bytes
 * that does not cut a character. */
size_t email_charset_utf8_cut(const char *s, size_t n, size_t max);

#endif
