/*
 * text.h: small checks of text from outside that every layer shares (a
 * client's UUID, a length in characters). Pure, any thread; nothing is
 * allocated or kept.
 */
#ifndef GW_TEXT_H
#define GW_TEXT_H

#include <stddef.h>

/* Characters of a UUID written 8-4-4-4-12 ("0f8fad5b-d9cb-...-...e"). */
#define TEXT_UUID_LEN 36

/*
 * 1 when s is a UUID written 8-4-4-4-12 in hexadecimal digits (either
 * case, nothing around it); 0 otherwise, and for NULL. Its version and
 * variant bits are not checked: a client's id only has to be unique.
 */
int text_is_uuid(const char *s);

/*
 * Characters (code points) of s, NUL-terminated valid UTF-8 (jansson's
 * strings are): the bytes that do not continue a sequence. On text that
 * is not valid UTF-8 the count means nothing, but stays at most the bytes.
 */
size_t text_utf8_chars(const char *s);

/*
 * 1 when s[0..n) is valid UTF-8 (RFC 3629: shortest form, no surrogate,
 * at most U+10FFFF); 0 otherwise. Text from outside that did not come
 * through jansson (a decoded form) is checked with it before it reaches
 * JSON or PostgreSQL.
 */
int text_utf8_valid(const char *s, size_t n);

#endif
