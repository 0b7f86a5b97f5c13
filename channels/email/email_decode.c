/*
 * email_decode.c: base64 and quoted-printable, tolerant of what mail
 * clients send (email_decode.h). Pure, any thread.
 */
#include "email_decode.h"

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
email_decode_base64(struct email_buf *out, const void *in, size_t n)
{
	const unsigned char *p = in;
	unsigned char bytes[3], chunk[3072];
	unsigned long acc = 0;
	size_t i, k = 0, used = 0;
	int v, junk = 0;

	for (i = 0; i < n; i++) {
		v = b64_value(p[i]);
		if (v < 0 && p[i] == '=' && (k == 2 || k == 3)) {
			/* Padding inside: chunks joined ("SGk=SGk="). */
			email_buf_add(out, chunk, used);
			used = 0;
			bytes[0] = (unsigned char)(acc >> (k == 2 ? 4 : 10));
			bytes[1] = (unsigned char)(acc >> 2);
			email_buf_add(out, bytes, k - 1);
			acc = 0;
			k = 0;
			continue;
		}
		if (v < 0) {
			if (p[i] != '=' && p[i] != '\r' && p[i] != '\n' &&
			    p[i] != ' ' && p[i] != '\t')
				junk = 1;
			continue;
		}
		acc = (acc << 6) | (unsigned long)v;
		if (++k < 4)
			continue;
		bytes[0] = (unsigned char)(acc >> 16);
		bytes[1] = (unsigned char)(acc >> 8);
		bytes[2] = (unsigned char)acc;
		chunk[used++] = bytes[0];
		chunk[used++] = bytes[1];
		chunk[used++] = bytes[2];
		if (used == sizeof(chunk)) {
			email_buf_add(out, chunk, used);
			used = 0;
		}
		acc = 0;
		k = 0;
	}
	if (used > 0)
		email_buf_add(out, chunk, used);
	if (k == 2) {
		bytes[0] = (unsigned char)(acc >> 4);
		email_buf_add(out, bytes, 1);
	} else if (k == 3) {
		bytes[0] = (unsigned char)(acc >> 10);
		bytes[1] = (unsigned char)(acc >> 2);
		email_buf_add(out, bytes, 2);
	} else if (k == 1) {
		junk = 1;
	}
	return junk;
}

int
email_decode_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
email_decode_qp(struct email_buf *out, const void *in, size_t n, int header)
{
	const unsigned char *p = in;
	size_t i = 0, run = 0, j;
	unsigned char c;
	int hi, lo, bad = 0;

	while (i < n) {
		if (p[i] != '=' && !(header && p[i] == '_')) {
			run++;
			i++;
			continue;
		}
		email_buf_add(out, p + i - run, run);
		run = 0;
		if (p[i] == '_') {
			email_buf_addc(out, ' ');
			i++;
			continue;
		}
		hi = i + 1 < n ? email_decode_hex(p[i + 1]) : -1;
		lo = i + 2 < n ? email_decode_hex(p[i + 2]) : -1;
		if (hi >= 0 && lo >= 0) {
			c = (unsigned char)(hi << 4 | lo);
			email_buf_add(out, &c, 1);
			i += 3;
			continue;
		}
		/* A soft line break: '=', maybe spaces, then the line's end. */
		for (j = i + 1; j < n && (p[j] == ' ' || p[j] == '\t'); j++)
			;
		if (j < n && p[j] == '\r')
			j++;
		if (j == n || p[j] == '\n') {
			i = j < n ? j + 1 : j;
			continue;
		}
		email_buf_addc(out, '=');
		bad = 1;
		i++;
	}
	email_buf_add(out, p + i - run, run);
	return bad;
}
