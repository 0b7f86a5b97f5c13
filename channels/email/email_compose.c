/*
 * email_compose.c: an outgoing message as RFC 5322 bytes
 * (email_compose.h). Pure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "email_buf.h"
#include "email_compose.h"
#include "xmalloc.h"

#define ADDR_MAX 254
#define ID_MAX   250
/* Bytes of text per encoded word: 48 base64 characters, a word of 60, so
 * "Subject: " and one word stay under 78. */
#define B_TEXT_MAX 36
#define QP_LINE    76

/* Length of the UTF-8 sequence at s, or 0 when it is not one. */
static size_t
utf8_seq(const unsigned char *s)
{
	size_t n, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	cp = s[0] & (0x3f >> (n - 1));
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

static int
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		n = utf8_seq(p);
		if (n == 0)
			return 0;
		p += n;
	}
	return 1;
}

int
email_compose_addr_ok(const char *a)
{
	const char *at;
	size_t i;

	if (a == NULL || a[0] == '\0' || strlen(a) > ADDR_MAX)
		return 0;
	for (i = 0; a[i] != '\0'; i++)
		if (a[i] <= ' ' || a[i] >= 0x7f ||
		    strchr("<>()[],;:\\\"", a[i]))
			return 0;
	at = strchr(a, '@');
	return at != NULL && at != a && at[1] != '\0' &&
	       strchr(at + 1, '@') == NULL;
}

/* One plain msg-id without its brackets: local@domain, printable. */
static int
id_ok(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0' || strlen(id) > ID_MAX)
		return 0;
	for (i = 0; id[i] != '\0'; i++)
		if (id[i] <= ' ' || id[i] >= 0x7f || strchr("<>\"\\", id[i]))
			return 0;
	return strchr(id, '@') != NULL;
}

/* s with every control character a space (a header field's text). */
static char *
flatten(const char *s)
{
	char *d = xstrdup(s != NULL ? s : "");
	size_t i;

	for (i = 0; d[i] != '\0'; i++)
		if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
			d[i] = ' ';
	return d;
}

static int
plain_ascii(const char *s, const char *specials)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] >= 0x7f || strchr(specials, s[i]))
			return 0;
	/* "=?" could be read as an encoded word. */
	return strstr(s, "=?") == NULL;
}

/*
 * s as RFC 2047 B encoded words, each under 76 characters, folded onto
 * continuation lines; never splits a UTF-8 sequence.
 */
static void
add_encoded(struct email_buf *b, const char *s)
{
	char out[sodium_base64_ENCODED_LEN(B_TEXT_MAX,
	                                   sodium_base64_VARIANT_ORIGINAL)];
	const unsigned char *p = (const unsigned char *)s;
	size_t take, n;
	int first = 1;

	while (*p != '\0') {
		take = 0;
		while (p[take] != '\0') {
			n = utf8_seq(p + take);
			if (n == 0 || take + n > B_TEXT_MAX)
				break;
			take += n;
		}
		if (take == 0)
			break; /* not UTF-8: checked before, never here */
		sodium_bin2base64(out, sizeof(out), p, take,
		                  sodium_base64_VARIANT_ORIGINAL);
		if (!first)
			email_buf_adds(b, "\r\n ");
		email_buf_adds(b, "=?UTF-8?B?");
		email_buf_adds(b, out);
		email_buf_adds(b, "?=");
		first = 0;
		p += take;
	}
}

static void
add_header_text(struct email_buf *b, const char *name, const char *value)
{
	char *v = flatten(value);

	email_buf_adds(b, name);
	email_buf_adds(b, ": ");
	if (plain_ascii(v, "") && strlen(name) + 2 + strlen(v) <= 78)
		email_buf_adds(b, v);
	else
		add_encoded(b, v);
	email_buf_adds(b, "\r\n");
	free(v);
}

static void
add_address(struct email_buf *b, const char *field, const char *name,
            const char *addr)
{
	char *n = name != NULL ? flatten(name) : NULL;
	size_t i;

	email_buf_adds(b, field);
	email_buf_adds(b, ": ");
	if (n != NULL && n[0] != '\0') {
		if (plain_ascii(n, "\"\\") && strlen(n) < 60) {
			email_buf_addc(b, '"');
			for (i = 0; n[i] != '\0'; i++)
				email_buf_addc(b, n[i]);
			email_buf_addc(b, '"');
		} else {
			add_encoded(b, n);
		}
		email_buf_adds(b, "\r\n <");
	} else {
		email_buf_addc(b, '<');
	}
	email_buf_adds(b, addr);
	email_buf_adds(b, ">\r\n");
	free(n);
}

static void
add_id_field(struct email_buf *b, const char *name, const char *const *ids,
             size_t n)
{
	size_t i;

	email_buf_adds(b, name);
	email_buf_addc(b, ':');
	for (i = 0; i < n; i++) {
		email_buf_adds(b, i > 0 ? "\r\n <" : " <");
		email_buf_adds(b, ids[i]);
		email_buf_addc(b, '>');
	}
	email_buf_adds(b, "\r\n");
}

/* The body in quoted-printable, CRLF, every line under 78 characters. */
static void
add_qp(struct email_buf *b, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)text;
	size_t col = 0;
	char enc[4];
	int literal;

	for (; *p != '\0'; p++) {
		if (*p == '\r' && p[1] == '\n')
			continue;
		if (*p == '\n' || *p == '\r') {
			email_buf_adds(b, "\r\n");
			col = 0;
			continue;
		}
		/* Space or tab at a line's end must be encoded. */
		literal = (*p >= 33 && *p <= 126 && *p != '=') ||
		          ((*p == ' ' || *p == '\t') && p[1] != '\n' &&
		           p[1] != '\r' && p[1] != '\0');
		if (literal) {
			enc[0] = (char)*p;
			enc[1] = '\0';
		} else {
			enc[0] = '=';
			enc[1] = hex[*p >> 4];
			enc[2] = hex[*p & 15];
			enc[3] = '\0';
		}
		if (col + strlen(enc) > QP_LINE - 1) {
			email_buf_adds(b, "=\r\n");
			col = 0;
		}
		email_buf_adds(b, enc);
		col += strlen(enc);
	}
	if (col > 0)
		email_buf_adds(b, "\r\n");
}

char *
email_compose(const struct email_compose *c, size_t *len, const char **why)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
	                                   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
	                                     "May", "Jun", "Jul", "Aug",
	                                     "Sep", "Oct", "Nov", "Dec"};
	struct email_buf b = {0};
	char date[64];
	struct tm tm;
	time_t t;
	size_t i;

	*why = NULL;
	if (!email_compose_addr_ok(c->from_addr) ||
	    !email_compose_addr_ok(c->to_addr) ||
	    (c->reply_to != NULL && !email_compose_addr_ok(c->reply_to)))
		*why = "an address is not one plain addr-spec";
	else if (!id_ok(c->message_id) ||
	         (c->in_reply_to != NULL && !id_ok(c->in_reply_to)))
		*why = "a message id is not one plain id";
	else if (c->text == NULL || !utf8_ok(c->text) ||
	         (c->subject != NULL && !utf8_ok(c->subject)) ||
	         (c->from_name != NULL && !utf8_ok(c->from_name)))
		*why = "text that is not UTF-8";
	else if (c->auto_submitted != NULL &&
	         strcmp(c->auto_submitted, "auto-replied") != 0 &&
	         strcmp(c->auto_submitted, "auto-generated") != 0)
		*why = "Auto-Submitted is auto-replied or auto-generated";
	for (i = 0; *why == NULL && i < c->nreferences; i++)
		if (!id_ok(c->references[i]))
			*why = "a message id is not one plain id";
	if (*why != NULL)
		return NULL;
	t = (time_t)(c->date_ms / 1000);
	gmtime_r(&t, &tm);
	snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000",
	         days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	add_address(&b, "From", c->from_name, c->from_addr);
	add_address(&b, "To", NULL, c->to_addr);
	if (c->reply_to != NULL)
		add_address(&b, "Reply-To", NULL, c->reply_to);
	add_header_text(&b, "Subject",
	                c->subject != NULL ? c->subject : "(no subject)");
	email_buf_adds(&b, "Date: ");
	email_buf_adds(&b, date);
	email_buf_adds(&b, "\r\n");
	add_id_field(&b, "Message-ID", &c->message_id, 1);
	if (c->in_reply_to != NULL)
		add_id_field(&b, "In-Reply-To", &c->in_reply_to, 1);
	if (c->nreferences > 0)
		add_id_field(&b, "References", c->references, c->nreferences);
	if (c->auto_submitted != NULL) {
		email_buf_adds(&b, "Auto-Submitted: ");
		email_buf_adds(&b, c->auto_submitted);
		email_buf_adds(&b, "\r\n");
	}
	email_buf_adds(&b, "MIME-Version: 1.0\r\n"
	                   "Content-Type: text/plain; charset=utf-8\r\n"
	                   "Content-Transfer-Encoding: quoted-printable\r\n"
	                   "\r\n");
	add_qp(&b, c->text);
	*len = b.len;
	return email_buf_take(&b);
}
