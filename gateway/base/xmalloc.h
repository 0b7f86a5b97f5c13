/*
 * xmalloc.h: allocation that cannot fail (the process dies on out of
 * memory, the second of the three error tiers) and fatalx for broken
 * invariants. Any thread.
 */
#ifndef GW_XMALLOC_H
#define GW_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a malloc'd formatted string owned by the caller. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs and aborts: an invariant of the program is broken. */
void fatalx(const char *fmt, ...)
        __attribute__((format(printf, 1, 2), noreturn));

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#endif
