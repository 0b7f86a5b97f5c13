/*
 * email_buf.h: the growable byte buffer the MIME parser's files share
 * (email_mime.h). Pure, any thread; memory from xmalloc (out of memory
 * aborts). A buffer starts zeroed.
 */
#ifndef EMAIL_BUF_H
#define EMAIL_BUF_H

#include <stddef.h>

struct email_buf {
	char *p;
	size_t len, cap;
};

void email_buf_add(struct email_buf *b, const void *s, size_t n);
void email_buf_addc(struct email_buf *b, char c);
void email_buf_adds(struct email_buf *b, const char *s);
/* The bytes so far, NUL-terminated, as a string the caller frees (never
 * NULL); the buffer is left empty. */
char *email_buf_take(struct email_buf *b);
/* Frees the bytes; the buffer is left empty and may be used again. */
void email_buf_free(struct email_buf *b);

#endif
