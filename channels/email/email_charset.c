/*
 * email_charset.c: MIME charsets to UTF-8 (email_charset.h). glibc's
 * iconv does the conversion; invalid and incomplete input is replaced
 * byte by byte here, so nothing is dropped. Pure, any thread.
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "email_charset.h"
#include "email_mime.h"

#define CHARSET_NAME_MAX 40

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* Names mail uses that glibc does not know, or knows by a smaller set. */
static const struct {
	const char *mail, *iconv;
} charset_aliases[] = {
        {"gb2312", "GB18030"},          {"gbk", "GB18030"},
        {"x-gbk", "GB18030"},           {"ks_c_5601-1987", "CP949"},
        {"iso-8859-8-i", "ISO-8859-8"}, {"x-mac-roman", "MACINTOSH"},
        {"windows-874", "CP874"},       {"ansi_x3.4-1968", "ASCII"},
};

size_t
email_charset_utf8_seq(const unsigned char *s, size_t n)
{
	size_t l, k;
	unsigned c = s[0];

	if (n == 0 || c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		l = 2;
	else if (c >= 0xe0 && c <= 0xef)
		l = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		l = 4;
	else
		return 0;
	if (l > n)
		return 0;
	for (k = 1; k < l; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, surrogates, and above U+10FFFF. */
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return l;
}

size_t
email_charset_utf8_clean(struct email_buf *out, const void *in, size_t n)
{
	const unsigned char *p = in;
	size_t i = 0, run = 0, l, bad = 0;

	while (i < n) {
		l = email_charset_utf8_seq(p + i, n - i);
		if (l > 0) {
			i += l;
			run += l;
			continue;
		}
		email_buf_add(out, p + i - run, run);
		run = 0;
		email_buf_add(out, replacement, 3);
		bad++;
		i++;
	}
	email_buf_add(out, p + i - run, run);
	return bad;
}

size_t
email_charset_utf8_cut(const char *s, size_t n, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;

	if (n <= max)
		return n;
	while (max > 0 && (p[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static int
valid_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0, l;

	while (i < n) {
		l = email_charset_utf8_seq(p + i, n - i);
		if (l == 0)
			return 0;
		i += l;
	}
	return 1;
}

/* The name to give iconv, in buf; NULL when cs is not a name at all. */
static const char *
iconv_name(const char *cs, char *buf, size_t size)
{
	size_t i, n = strlen(cs);

	if (n == 0 || n >= size || n > CHARSET_NAME_MAX)
		return NULL;
	for (i = 0; i < n; i++) {
		char c = cs[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == ':'))
			return NULL;
	}
	for (i = 0; i < sizeof(charset_aliases) / sizeof(charset_aliases[0]);
	     i++)
		if (strcasecmp(cs, charset_aliases[i].mail) == 0)
			return charset_aliases[i].iconv;
	memcpy(buf, cs, n + 1);
	return buf;
}

/* 8-bit text with nothing better to go by. */
static unsigned
guess(struct email_buf *out, const unsigned char *p, size_t n)
{
	if (valid_utf8(p, n)) {
		email_buf_add(out, p, n);
		return 0;
	}
	return EMAIL_MIME_NO_CHARSET_GUESSED |
	       email_charset_to_utf8(out, "WINDOWS-1252", p, n);
}

static int
is_utf8_name(const char *cs)
{
	return strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0;
}

static int
is_ascii_name(const char *cs)
{
	return strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0;
}

unsigned
email_charset_to_utf8(struct email_buf *out, const char *cs, const void *in,
                      size_t n)
{
	const unsigned char *p = in;
	char name[CHARSET_NAME_MAX + 1], chunk[4096];
	const char *ic;
	struct email_buf tmp = {0};
	iconv_t cd = (iconv_t)-1;
	char *src, *dst;
	size_t left, room, r;
	unsigned flags = 0;

	if (n == 0)
		return 0;
	if (cs == NULL || is_ascii_name(cs))
		return guess(out, p, n);
	if (is_utf8_name(cs))
		return email_charset_utf8_clean(out, p, n)
		               ? EMAIL_MIME_BYTES_REPLACED
		               : 0;
	ic = iconv_name(cs, name, sizeof(name));
	if (ic != NULL)
		cd = iconv_open("UTF-8", ic);
	if (cd == (iconv_t)-1)
		return guess(out, p, n);
	src = (char *)(uintptr_t)p;
	left = n;
	while (left > 0) {
		dst = chunk;
		room = sizeof(chunk);
		r = iconv(cd, &src, &left, &dst, &room);
		email_buf_add(&tmp, chunk, (size_t)(dst - chunk));
		if (r != (size_t)-1 || errno == E2BIG)
			continue;
		/* EILSEQ: one bad byte; EINVAL: cut short at the end. */
		email_buf_add(&tmp, replacement, 3);
		flags |= EMAIL_MIME_BYTES_REPLACED;
		src++;
		left--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	dst = chunk;
	room = sizeof(chunk);
	iconv(cd, NULL, NULL, &dst, &room);
	email_buf_add(&tmp, chunk, (size_t)(dst - chunk));
	iconv_close(cd);
	/* Converters can yield NUL (UTF-16 input, say): replaced too. */
	if (email_charset_utf8_clean(out, tmp.p ? tmp.p : "", tmp.len) > 0)
		flags |= EMAIL_MIME_BYTES_REPLACED;
	email_buf_free(&tmp);
	return flags;
}
