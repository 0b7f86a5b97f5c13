/*
 * email_buf.c: the growable byte buffer of the MIME parser (email_buf.h).
 * Pure, any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "email_buf.h"
#include "xmalloc.h"

void
email_buf_add(struct email_buf *b, const void *s, size_t n)
{
	size_t cap;

	if (n == 0)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1) {
			if (cap > ((size_t)-1) / 2)
				fatalx("email_buf: %zu bytes", b->len + n);
			cap *= 2;
		}
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
email_buf_addc(struct email_buf *b, char c)
{
	email_buf_add(b, &c, 1);
}

void
email_buf_adds(struct email_buf *b, const char *s)
{
	email_buf_add(b, s, strlen(s));
}

char *
email_buf_take(struct email_buf *b)
{
	char *s = b->p;

	if (s == NULL)
		s = xstrdup("");
	b->p = NULL;
	b->len = b->cap = 0;
	return s;
}

void
email_buf_free(struct email_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
