/*
 * fuzz_utf8.h: the harnesses' own reading of UTF-8, written apart from
 * the code under test (gateway/base/text.c) so that a harness checks the
 * parser's counts rather than repeating them.
 */
#ifndef SB_FUZZ_UTF8_H
#define SB_FUZZ_UTF8_H

#include <stddef.h>

/* Bytes of the UTF-8 sequence led by c, or 0 if c cannot lead one. */
static inline size_t
fuzz_utf8_seq_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/*
 * Characters of the n bytes at s when they are well-formed UTF-8 with no
 * NUL and no sequence cut short; (size_t)-1 when they are not.
 */
static inline size_t
fuzz_utf8_chars(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, l, chars = 0;

	while (i < n) {
		if (p[i] == 0)
			return (size_t)-1;
		l = fuzz_utf8_seq_len(p[i]);
		if (l == 0 || i + l > n)
			return (size_t)-1;
		for (k = 1; k < l; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return (size_t)-1;
		i += l;
		chars++;
	}
	return chars;
}

#endif
