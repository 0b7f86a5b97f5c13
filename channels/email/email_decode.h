/*
 * email_decode.h: the MIME transfer encodings, decoded tolerantly
 * (email_mime.h): base64 and quoted-printable, for bodies
 * (Content-Transfer-Encoding) and for RFC 2047 encoded words. Pure, any
 * thread. Nothing here fails: what cannot be decoded is kept or skipped
 * as each function says.
 */
#ifndef EMAIL_DECODE_H
#define EMAIL_DECODE_H

#include <stddef.h>

#include "email_buf.h"

/*
 * Appends the bytes base64 text encodes. Characters outside the alphabet
 * (line breaks, spaces, junk, '=' padding anywhere) are skipped; a last
 * group of two or three characters gives its one or two bytes, a lone
 * last character nothing. Returns 1 when something was skipped or left
 * over that should not have been (not whitespace), 0 otherwise.
 */
int email_decode_base64(struct email_buf *out, const void *in, size_t n);

/*
 * Appends the bytes quoted-printable text encodes: "=XX" (either case)
 * is a byte, "=" at the end of a line (trailing spaces allowed) a soft
 * line break; any other "=" is kept as it is. header: RFC 2047's Q form,
 * where '_' is a space. Returns 1 when a bad escape was kept, else 0.
 */
int email_decode_qp(struct email_buf *out, const void *in, size_t n,
                    int header);

/* The value of a hexadecimal digit (either case), or -1. */
int email_decode_hex(unsigned char c);

#endif
