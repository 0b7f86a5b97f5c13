/*
 * fuzz_email_compose.c: libFuzzer harness for the outgoing message
 * composer (channels/email/email_compose.c). The input is split at NUL
 * bytes into subject, sender's name, body, recipient, Message-ID and
 * In-Reply-To. Checked, whenever it composes: only ASCII out, CRLF line
 * ends, no line over 998 characters, a strict quoted-printable body, and
 * our own parser reading back one recipient (the one given), the
 * Message-ID given, and a subject without control characters (a field
 * taken from outside never adds a header). Leaks are caught by the
 * sanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "email_compose.h"
#include "email_mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_lines(const char *m, size_t len)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		if ((unsigned char)m[i] >= 0x80 || m[i] == '\0')
			abort();
		if (m[i] == '\n')
			abort(); /* a bare LF */
		if (m[i] == '\r') {
			if (i + 1 >= len || m[i + 1] != '\n')
				abort();
			i++;
			col = 0;
			continue;
		}
		if (++col > 998)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *field[6] = {0};
	struct email_compose c;
	struct email_mime_msg p;
	const char *why;
	size_t len, i, n = 0;
	char *m, *s;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	field[n++] = buf;
	for (i = 0; i < size && n < 6; i++)
		if (buf[i] == '\0')
			field[n++] = buf + i + 1;
	memset(&c, 0, sizeof(c));
	c.subject = field[0];
	c.from_name = field[1];
	c.text = field[2] != NULL ? field[2] : "";
	c.to_addr = field[3] != NULL ? field[3] : "r@example.org";
	c.message_id = field[4] != NULL ? field[4] : "id@example.gov.uk";
	c.in_reply_to = field[5];
	c.from_addr = "contact@example.gov.uk";
	c.date_ms = 1796665200000LL;
	m = email_compose(&c, &len, &why);
	if (m == NULL) {
		if (why == NULL)
			abort();
		free(buf);
		return 0;
	}
	check_lines(m, len);
	s = strstr(m, "\r\n\r\n");
	if (s == NULL)
		abort();
	for (s += 4; *s != '\0'; s++)
		if (*s == '=' && !(s[1] == '\r' && s[2] == '\n') &&
		    !(strchr("0123456789ABCDEF", s[1]) && s[1] != '\0' &&
		      strchr("0123456789ABCDEF", s[2]) && s[2] != '\0'))
			abort();
	email_mime_parse((const unsigned char *)m, len, NULL, &p);
	if (p.nto != 1 || strcmp(p.to[0].addr, c.to_addr) != 0 ||
	    p.message_id == NULL || strcmp(p.message_id, c.message_id) != 0)
		abort();
	for (s = p.subject; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			abort();
	email_mime_free(&p);
	free(m);
	free(buf);
	return 0;
}
