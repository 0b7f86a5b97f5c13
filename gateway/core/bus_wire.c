/*
 * bus_wire.c: the conversation bus's publications, made and read (see
 * bus_wire.h). Pure functions, any thread.
 */
#include <stdio.h>
#include <string.h>

#include "bus_wire.h"

static int
origin_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
	       c == '/' || c == '-';
}

static int
channel_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Whether the n bytes at s are 1..max bytes all of the class ok. */
static int
word_ok(const char *s, size_t n, size_t max, int (*ok)(char))
{
	size_t i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!ok(s[i]))
			return 0;
	return 1;
}

int
bus_wire_origin_ok(const char *s)
{
	return s != NULL && word_ok(s, strnlen(s, BUS_WIRE_ORIGIN_MAX + 1),
	                            BUS_WIRE_ORIGIN_MAX, origin_char);
}

int
bus_wire_channel_ok(const char *s)
{
	return s != NULL && word_ok(s, strnlen(s, BUS_WIRE_CHANNEL_MAX + 1),
	                            BUS_WIRE_CHANNEL_MAX, channel_char);
}

size_t
bus_wire_header(char *buf, size_t size, const char *origin, uint64_t conv,
                uint64_t seq, const char *channel, size_t dlen, size_t clen)
{
	int n;

	if (size < BUS_WIRE_HEADER_SIZE || !bus_wire_origin_ok(origin) ||
	    conv == 0 || (channel != NULL && !bus_wire_channel_ok(channel)))
		return 0;
	n = snprintf(buf, size, "%s %llu %llu %s %zu %zu\n", origin,
	             (unsigned long long)conv, (unsigned long long)seq,
	             channel != NULL ? channel : "-", dlen, clen);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/*
 * Reads the word at *p (up to the next space, or the newline when last)
 * from the header's bytes [*p, end); moves *p past its separator. Returns
 * its length, or (size_t)-1 when the separator is missing.
 */
static size_t
next_word(const char **p, const char *end, char sep, const char **word)
{
	const char *s = *p, *e = memchr(s, sep, (size_t)(end - s));

	if (e == NULL)
		return (size_t)-1;
	*word = s;
	*p = e + 1;
	return (size_t)(e - s);
}

/* A decimal number of n bytes into *v: 0, or -1 when not one. */
static int
number(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return 0;
}

int
bus_wire_parse(const char *p, size_t len, struct bus_wire *w)
{
	const char *end, *nl, *word, *body, *start = p;
	size_t n, rest;
	uint64_t dlen, clen;

	if (p == NULL || w == NULL)
		return -1;
	memset(w, 0, sizeof(*w));
	nl = memchr(p, '\n',
	            len < BUS_WIRE_HEADER_MAX ? len : BUS_WIRE_HEADER_MAX);
	if (nl == NULL)
		return -1;
	end = nl + 1; /* the header, its newline included */

	n = next_word(&p, end, ' ', &word);
	if (n == (size_t)-1 ||
	    !word_ok(word, n, BUS_WIRE_ORIGIN_MAX, origin_char))
		return -1;
	w->origin = word;
	w->originlen = n;

	n = next_word(&p, end, ' ', &word);
	if (n == (size_t)-1 || number(word, n, &w->conv) != 0 || w->conv == 0)
		return -1;
	n = next_word(&p, end, ' ', &word);
	if (n == (size_t)-1 || number(word, n, &w->seq) != 0)
		return -1;

	n = next_word(&p, end, ' ', &word);
	if (n == (size_t)-1)
		return -1;
	if (n == 1 && word[0] == '-') {
		w->channel[0] = '\0';
	} else if (word_ok(word, n, BUS_WIRE_CHANNEL_MAX, channel_char)) {
		memcpy(w->channel, word, n);
		w->channel[n] = '\0';
	} else {
		return -1;
	}

	n = next_word(&p, end, ' ', &word);
	if (n == (size_t)-1 || number(word, n, &dlen) != 0)
		return -1;
	n = next_word(&p, end, '\n', &word);
	if (n == (size_t)-1 || number(word, n, &clen) != 0 || p != end)
		return -1;

	body = end;
	rest = len - (size_t)(body - start);
	if (dlen > rest || clen != rest - dlen ||
	    memchr(body, '\0', rest) != NULL)
		return -1;
	w->dlen = (size_t)dlen;
	w->desks = dlen > 0 ? body : NULL;
	w->clen = (size_t)clen;
	w->chan = clen > 0 ? body + dlen : NULL;
	return 0;
}
