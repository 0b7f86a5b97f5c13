/*
 * email_mime_header.c: header fields, RFC 2047, RFC 2231, addresses,
 * message ids and dates (email_mime_header.h). Pure, any thread. Input
 * is whatever a sender wrote: every loop is bounded by the value's end,
 * and nothing here fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "email_buf.h"
#include "email_charset.h"
#include "email_decode.h"
#include "email_mime_header.h"
#include "xmalloc.h"

#define CHARSET_MAX      40 /* bytes of a charset's name */
#define CONTINUATION_MAX 100
#define PARAMS_MAX       64

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---- The header block ---- */

static void
field_end(struct email_mime_fields *f, struct email_buf *name,
          struct email_buf *value)
{
	char *v;
	size_t n;

	if (name->p == NULL) {
		email_buf_free(value);
		return;
	}
	v = email_buf_take(value);
	n = strlen(v);
	while (n > 0 && is_wsp(v[n - 1]))
		v[--n] = '\0';
	f->v = xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
	f->v[f->n].name = email_buf_take(name);
	f->v[f->n].value = v;
	f->n++;
}

/* Appends a line's bytes to a value under construction, NUL as a space. */
static void
value_add(struct email_buf *value, const unsigned char *s, size_t n,
          unsigned *flags)
{
	size_t i, start = 0;

	if (value->len + n > EMAIL_MIME_HEADER_MAX) {
		n = value->len < EMAIL_MIME_HEADER_MAX
		            ? EMAIL_MIME_HEADER_MAX - value->len
		            : 0;
		*flags |= EMAIL_MIME_TRUNCATED;
	}
	for (i = 0; i < n; i++) {
		if (s[i] != '\0')
			continue;
		email_buf_add(value, s + start, i - start);
		email_buf_addc(value, ' ');
		start = i + 1;
	}
	email_buf_add(value, s + start, n - start);
}

static int
field_name_ok(const unsigned char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 33 || s[i] > 126)
			return 0;
	return 1;
}

size_t
email_mime_header_block(const unsigned char *p, size_t n,
                        struct email_mime_fields *f, unsigned *flags)
{
	struct email_buf name = {0}, value = {0};
	const unsigned char *nl, *colon;
	size_t pos = 0, len, next, nlen, skip;
	int dropping = 0;

	while (pos < n) {
		nl = memchr(p + pos, '\n', n - pos);
		next = nl ? (size_t)(nl - p) + 1 : n;
		len = (nl ? (size_t)(nl - p) : n) - pos;
		if (len > 0 && p[pos + len - 1] == '\r')
			len--;
		if (len == 0) {
			pos = next;
			break;
		}
		if (p[pos] == ' ' || p[pos] == '\t') {
			if (!dropping && name.p != NULL)
				value_add(&value, p + pos, len, flags);
			pos = next;
			continue;
		}
		colon = memchr(p + pos, ':', len);
		if (pos == 0 && len >= 5 && memcmp(p, "From ", 5) == 0) {
			pos = next;
			continue;
		}
		nlen = colon ? (size_t)(colon - (p + pos)) : 0;
		while (nlen > 0 &&
		       (p[pos + nlen - 1] == ' ' || p[pos + nlen - 1] == '\t'))
			nlen--;
		if (colon == NULL || !field_name_ok(p + pos, nlen)) {
			*flags |= EMAIL_MIME_PARSE_ERROR;
			break;
		}
		field_end(f, &name, &value);
		if (f->n >= EMAIL_MIME_HEADERS_MAX) {
			*flags |= EMAIL_MIME_TRUNCATED;
			dropping = 1;
			pos = next;
			continue;
		}
		email_buf_add(&name, p + pos, nlen);
		skip = (size_t)(colon - (p + pos)) + 1;
		while (skip < len &&
		       (p[pos + skip] == ' ' || p[pos + skip] == '\t'))
			skip++;
		value_add(&value, p + pos + skip, len - skip, flags);
		pos = next;
	}
	field_end(f, &name, &value);
	return pos;
}

void
email_mime_header_fields_free(struct email_mime_fields *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].value);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

const char *
email_mime_header_get(const struct email_mime_fields *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcasecmp(f->v[i].name, name) == 0)
			return f->v[i].value;
	return NULL;
}

/* ---- RFC 2047 ---- */

struct encoded_word {
	char charset[CHARSET_MAX + 1];
	char enc;         /* 'B' or 'Q' */
	const char *text; /* between the third '?' and "?=" */
	size_t ntext;
	size_t len; /* of the whole word */
};

/* 1 when an encoded word "=?cs?B?...?=" starts at s. */
static int
encoded_word(const char *s, struct encoded_word *w)
{
	const char *p = s + 2, *q, *end;
	size_t n;

	if (s[0] != '=' || s[1] != '?')
		return 0;
	for (q = p; *q != '\0' && *q != '?' && !is_wsp(*q); q++)
		;
	n = (size_t)(q - p);
	if (*q != '?' || n == 0 || n > CHARSET_MAX)
		return 0;
	memcpy(w->charset, p, n);
	w->charset[n] = '\0';
	/* RFC 2231's language: "=?utf-8*cy?Q?...?=". */
	q = strchr(w->charset, '*');
	if (q != NULL)
		w->charset[q - w->charset] = '\0';
	p += n + 1;
	if ((p[0] != 'B' && p[0] != 'b' && p[0] != 'Q' && p[0] != 'q') ||
	    p[1] != '?')
		return 0;
	w->enc = (p[0] == 'B' || p[0] == 'b') ? 'B' : 'Q';
	p += 2;
	for (end = p; *end != '\0' && !is_wsp(*end); end++)
		if (end[0] == '?' && end[1] == '=')
			break;
	if (end[0] != '?' || end[1] != '=')
		return 0;
	w->text = p;
	w->ntext = (size_t)(end - p);
	w->len = (size_t)(end + 2 - s);
	return 1;
}

/* Control characters made spaces, whitespace runs one space, trimmed. */
static char *
collapse(struct email_buf *b)
{
	struct email_buf out = {0};
	size_t i;
	int space = 0;
	unsigned char c;

	for (i = 0; i < b->len; i++) {
		c = (unsigned char)b->p[i];
		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = out.len > 0;
			continue;
		}
		if (space)
			email_buf_addc(&out, ' ');
		space = 0;
		email_buf_addc(&out, (char)c);
	}
	email_buf_free(b);
	return email_buf_take(&out);
}

static void
flush(struct email_buf *out, struct email_buf *pend, const char *cs,
      unsigned *flags)
{
	if (pend->len > 0)
		*flags |= email_charset_to_utf8(out, cs, pend->p, pend->len);
	pend->len = 0;
}

char *
email_mime_header_text(const char *v, unsigned *flags)
{
	struct email_buf out = {0}, raw = {0}, word = {0};
	struct encoded_word w;
	char cs[CHARSET_MAX + 1] = "";
	const char *p = v, *q;
	int after_word = 0;

	while (*p != '\0') {
		if (encoded_word(p, &w)) {
			flush(&out, &raw, NULL, flags);
			if (word.len > 0 && strcasecmp(cs, w.charset) != 0)
				flush(&out, &word, cs, flags);
			memcpy(cs, w.charset, sizeof(cs));
			if (w.enc == 'B')
				email_decode_base64(&word, w.text, w.ntext);
			else
				email_decode_qp(&word, w.text, w.ntext, 1);
			p += w.len;
			after_word = 1;
			continue;
		}
		if (after_word && is_wsp(*p)) {
			for (q = p; is_wsp(*q); q++)
				;
			if (encoded_word(q, &w)) {
				p = q;
				continue;
			}
		}
		flush(&out, &word, cs, flags);
		after_word = 0;
		email_buf_addc(&raw, *p);
		p++;
	}
	flush(&out, &word, cs, flags);
	flush(&out, &raw, NULL, flags);
	email_buf_free(&raw);
	email_buf_free(&word);
	return collapse(&out);
}

/* ---- Small scanners shared by the structured fields ---- */

/* Past a comment starting at s ('('), nested, with quoted pairs; the
 * comment's text (without the outer parentheses) goes to text if given. */
static const char *
skip_comment(const char *s, struct email_buf *text)
{
	int depth = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			if (text)
				email_buf_addc(text, *s);
			continue;
		}
		if (*s == '(' && depth++ == 0)
			continue;
		if (*s == ')' && --depth == 0)
			return s + 1;
		if (text)
			email_buf_addc(text, *s);
	}
	return s;
}

/* Past a quoted string starting at s ('"'); its text, unescaped, to
 * text if given. */
static const char *
skip_quoted(const char *s, struct email_buf *text)
{
	for (s++; *s != '\0' && *s != '"'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		if (text)
			email_buf_addc(text, *s);
	}
	return *s == '"' ? s + 1 : s;
}

static char *
clean_dup(const char *s, size_t n, unsigned *flags)
{
	struct email_buf b = {0};

	*flags |= email_charset_to_utf8(&b, NULL, s, n);
	return email_buf_take(&b);
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* ---- Addresses ---- */

struct mailbox {
	struct email_buf phrase; /* display name, quotes removed */
	struct email_buf angle;  /* inside <> */
	struct email_buf bare;   /* outside <>, without comments */
	struct email_buf comment;
	int has_angle;
};

void
email_mime_header_address_free(struct email_mime_address *a)
{
	if (a == NULL)
		return;
	free(a->name);
	free(a->addr);
	a->name = a->addr = NULL;
}

/* The addr-spec of s, whitespace removed, an obsolete route dropped. */
static char *
addr_spec(struct email_buf *s, unsigned *flags)
{
	struct email_buf b = {0};
	const char *p = s->p ? s->p : "", *colon;
	char *r;

	colon = p[0] == '@' ? strchr(p, ':') : NULL;
	if (colon != NULL)
		p = colon + 1;
	for (; *p != '\0'; p++)
		if (!is_wsp(*p) && *p != '"')
			email_buf_addc(&b, *p);
	r = clean_dup(b.p ? b.p : "", b.len, flags);
	email_buf_free(&b);
	return r;
}

static void
mailbox_emit(struct mailbox *m, struct email_mime_address **out, size_t *n,
             size_t max, unsigned *flags)
{
	struct email_mime_address a = {NULL, NULL};
	struct email_buf *name = NULL;

	if (m->has_angle) {
		a.addr = addr_spec(&m->angle, flags);
		name = &m->phrase;
	} else {
		a.addr = addr_spec(&m->bare, flags);
		name = &m->comment;
		/* "Name" with no address at all: keep the name. */
		if (a.addr[0] != '\0' && strchr(a.addr, '@') == NULL &&
		    m->phrase.len > 0) {
			free(a.addr);
			a.addr = xstrdup("");
			name = &m->phrase;
		}
	}
	if (name->len > 0) {
		a.name = email_mime_header_text(name->p, flags);
		if (a.name[0] == '\0') {
			free(a.name);
			a.name = NULL;
		}
	}
	if ((a.addr[0] == '\0' && a.name == NULL) || *n >= max) {
		if (*n >= max)
			*flags |= EMAIL_MIME_TRUNCATED;
		email_mime_header_address_free(&a);
	} else {
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = a;
	}
	email_buf_free(&m->phrase);
	email_buf_free(&m->angle);
	email_buf_free(&m->bare);
	email_buf_free(&m->comment);
	m->has_angle = 0;
}

size_t
email_mime_header_addresses(const char *v, struct email_mime_address **out,
                            size_t max, unsigned *flags)
{
	struct mailbox m;
	const char *p = v, *q;
	size_t n = 0;
	int in_angle = 0;

	memset(&m, 0, sizeof(m));
	*out = NULL;
	while (*p != '\0') {
		if (*p == '(') {
			p = skip_comment(p, m.comment.len ? NULL : &m.comment);
			continue;
		}
		if (*p == '"') {
			if (in_angle) {
				p = skip_quoted(p, &m.angle);
				continue;
			}
			q = p;
			p = skip_quoted(p, &m.phrase);
			skip_quoted(q, &m.bare);
			continue;
		}
		if (in_angle) {
			if (*p == '>')
				in_angle = 0;
			else
				email_buf_addc(&m.angle, *p);
			p++;
			continue;
		}
		if (*p == '<') {
			in_angle = 1;
			m.has_angle = 1;
			email_buf_free(&m.angle);
			p++;
			continue;
		}
		if (*p == ',' || *p == ';') {
			mailbox_emit(&m, out, &n, max, flags);
			p++;
			continue;
		}
		if (*p == ':' && !m.has_angle) {
			/* A group's name: dropped, its members read. */
			email_buf_free(&m.phrase);
			email_buf_free(&m.bare);
			email_buf_free(&m.comment);
			p++;
			continue;
		}
		email_buf_addc(&m.phrase, *p);
		email_buf_addc(&m.bare, *p);
		p++;
	}
	mailbox_emit(&m, out, &n, max, flags);
	return n;
}

/* ---- Message ids ---- */

static void
id_add(char ***out, size_t *n, size_t max, const char *s, size_t len)
{
	struct email_buf b = {0};
	unsigned flags = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (!is_wsp(s[i]))
			email_buf_addc(&b, s[i]);
	if (b.len == 0)
		goto out;
	if (*n >= max) {
		/* Keep the first; the last max - 1 move along. */
		free((*out)[1]);
		memmove(*out + 1, *out + 2, (max - 2) * sizeof(**out));
		(*n)--;
	}
	*out = xrealloc(*out, (*n + 1) * sizeof(**out));
	(*out)[(*n)++] = clean_dup(b.p, b.len, &flags);
out:
	email_buf_free(&b);
}

size_t
email_mime_header_ids(const char *v, char ***out, size_t max)
{
	const char *p = v, *end, *w;
	size_t n = 0;
	int angles = 0;

	*out = NULL;
	if (max < 2)
		max = 2;
	while (*p != '\0') {
		if (*p == '(') {
			p = skip_comment(p, NULL);
		} else if (*p == '"') {
			p = skip_quoted(p, NULL);
		} else if (*p == '<') {
			angles = 1;
			end = strchr(p, '>');
			if (end == NULL)
				end = p + strlen(p);
			id_add(out, &n, max, p + 1, (size_t)(end - p - 1));
			p = *end ? end + 1 : end;
		} else {
			p++;
		}
	}
	if (angles)
		return n;
	for (p = v; *p != '\0';) {
		while (is_wsp(*p) || *p == ',')
			p++;
		for (w = p; *p != '\0' && !is_wsp(*p) && *p != ','; p++)
			;
		if (memchr(w, '@', (size_t)(p - w)) != NULL)
			id_add(out, &n, max, w, (size_t)(p - w));
	}
	return n;
}

/* ---- Date ---- */

static const struct {
	const char *name;
	int minutes;
} date_zones[] = {
        {"UT", 0},        {"UTC", 0},       {"GMT", 0},       {"Z", 0},
        {"EST", -5 * 60}, {"EDT", -4 * 60}, {"CST", -6 * 60}, {"CDT", -5 * 60},
        {"MST", -7 * 60}, {"MDT", -6 * 60}, {"PST", -8 * 60}, {"PDT", -7 * 60},
        {"BST", 60},      {"CET", 60},      {"CEST", 120},
};

static const char *const date_months[] = {"jan", "feb", "mar", "apr",
                                          "may", "jun", "jul", "aug",
                                          "sep", "oct", "nov", "dec"};

/* The next word of the date: a run of letters, digits, or one other
 * character; comments skipped. */
static const char *
date_word(const char *p, char *w, size_t size)
{
	size_t n = 0;

	for (;;) {
		while (is_wsp(*p) || *p == ',')
			p++;
		if (*p != '(')
			break;
		p = skip_comment(p, NULL);
	}
	if ((*p >= '0' && *p <= '9')) {
		while (*p >= '0' && *p <= '9' && n + 1 < size)
			w[n++] = *p++;
	} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
		while (((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) &&
		       n + 1 < size)
			w[n++] = *p++;
	} else if (*p != '\0') {
		w[n++] = *p++;
	}
	w[n] = '\0';
	return p;
}

static int
date_number(const char *w, long *v)
{
	size_t n = strlen(w);

	if (n == 0 || n > 6 || w[0] < '0' || w[0] > '9')
		return -1;
	*v = strtol(w, NULL, 10);
	return 0;
}

int
email_mime_header_date(const char *v, int64_t *ms)
{
	char w[16];
	const char *p = v;
	long day, year, hh, mm, ss = 0, zone = 0, x;
	struct tm tm;
	int64_t t;
	unsigned month = 0, i;
	int sign;

	p = date_word(p, w, sizeof(w));
	if ((w[0] >= 'A' && w[0] <= 'Z') || (w[0] >= 'a' && w[0] <= 'z'))
		/* a day name */
		p = date_word(p, w, sizeof(w));
	if (date_number(w, &day) != 0)
		return -1;
	p = date_word(p, w, sizeof(w));
	if (w[0] == '-') /* "7-Dec-2026" */
		p = date_word(p, w, sizeof(w));
	for (i = 0; i < 12; i++)
		if (strncasecmp(w, date_months[i], 3) == 0)
			month = i + 1;
	if (month == 0)
		return -1;
	p = date_word(p, w, sizeof(w));
	if (w[0] == '-')
		p = date_word(p, w, sizeof(w));
	if (date_number(w, &year) != 0)
		return -1;
	if (strlen(w) == 2)
		year += year < 50 ? 2000 : 1900;
	else if (strlen(w) == 3)
		year += 1900;
	p = date_word(p, w, sizeof(w));
	if (date_number(w, &hh) != 0)
		return -1;
	p = date_word(p, w, sizeof(w));
	if (w[0] != ':')
		return -1;
	p = date_word(p, w, sizeof(w));
	if (date_number(w, &mm) != 0)
		return -1;
	p = date_word(p, w, sizeof(w));
	if (w[0] == ':') {
		p = date_word(p, w, sizeof(w));
		if (date_number(w, &ss) != 0)
			return -1;
		p = date_word(p, w, sizeof(w));
	}
	if (w[0] == '+' || w[0] == '-') {
		sign = w[0] == '-' ? -1 : 1;
		p = date_word(p, w, sizeof(w));
		if (strlen(w) != 4 || date_number(w, &x) != 0)
			return -1;
		zone = sign * ((x / 100) * 60 + x % 100);
	} else if (w[0] != '\0') {
		for (i = 0; i < sizeof(date_zones) / sizeof(date_zones[0]); i++)
			if (strcasecmp(w, date_zones[i].name) == 0)
				zone = date_zones[i].minutes;
		/* Other names, military zones included, are read as UTC. */
	}
	(void)p;
	if (day < 1 || day > 31 || year < 1970 || year > 9999 || hh > 23 ||
	    mm > 59 || ss > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)year - 1900;
	tm.tm_mon = (int)month - 1;
	tm.tm_mday = (int)day;
	tm.tm_hour = (int)hh;
	tm.tm_min = (int)mm;
	tm.tm_sec = (int)ss;
	/* timegm carries 31 June into 1 July, as mail clients mean it. */
	t = ((int64_t)timegm(&tm) - (int64_t)zone * 60) * 1000;
	/* Mail is not older than 1970: earlier is a bad date. */
	if (t < 0)
		return -1;
	*ms = t;
	return 0;
}

/* ---- MIME parameters ---- */

struct param {
	char *attr; /* lower case */
	char *value;
	size_t nvalue;
};

static size_t
params_read(const char *v, struct param *ps, size_t max)
{
	struct email_buf attr = {0}, val = {0};
	const char *p = v;
	size_t n = 0;
	int has_value;

	/* Past the first word ("text/plain"). */
	while (*p != '\0' && *p != ';') {
		if (*p == '"')
			p = skip_quoted(p, NULL);
		else if (*p == '(')
			p = skip_comment(p, NULL);
		else
			p++;
	}
	while (*p == ';' && n < max) {
		p++;
		has_value = 0;
		while (is_wsp(*p) || *p == ';')
			p++;
		if (*p == '(')
			p = skip_comment(p, NULL);
		while (is_wsp(*p))
			p++;
		while (*p != '\0' && *p != '=' && *p != ';' && !is_wsp(*p))
			email_buf_addc(&attr, *p++);
		while (is_wsp(*p))
			p++;
		if (*p == '=') {
			p++;
			while (is_wsp(*p))
				p++;
			has_value = 1;
			if (*p == '"') {
				p = skip_quoted(p, &val);
			} else {
				while (*p != '\0' && *p != ';' && !is_wsp(*p))
					email_buf_addc(&val, *p++);
			}
		}
		while (*p != '\0' && *p != ';') {
			if (*p == '(')
				p = skip_comment(p, NULL);
			else
				p++;
		}
		if (attr.len > 0 && has_value) {
			ps[n].attr = email_buf_take(&attr);
			lower(ps[n].attr);
			ps[n].nvalue = val.len;
			ps[n].value = email_buf_take(&val);
			n++;
		}
		email_buf_free(&attr);
		email_buf_free(&val);
	}
	return n;
}

static void
pct_decode(struct email_buf *out, const char *s, size_t n)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		hi = lo = -1;
		if (s[i] == '%' && i + 2 < n) {
			hi = email_decode_hex((unsigned char)s[i + 1]);
			lo = email_decode_hex((unsigned char)s[i + 2]);
		}
		if (hi >= 0 && lo >= 0) {
			email_buf_addc(out, (char)(hi << 4 | lo));
			i += 2;
		} else {
			email_buf_addc(out, s[i]);
		}
	}
}

/* An extended value "charset'lang'%XX..." : its charset to cs, its
 * bytes decoded to out. */
static void
ext_value(const struct param *pm, char *cs, size_t cssize,
          struct email_buf *out)
{
	const char *q1, *q2, *s = pm->value;

	q1 = strchr(s, '\'');
	q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
	if (q2 != NULL) {
		if ((size_t)(q1 - s) < cssize) {
			memcpy(cs, s, (size_t)(q1 - s));
			cs[q1 - s] = '\0';
		}
		s = q2 + 1;
	}
	pct_decode(out, s, strlen(s));
}

char *
email_mime_header_param(const char *v, const char *name, unsigned *flags)
{
	struct param ps[PARAMS_MAX];
	struct email_buf raw = {0}, out = {0};
	char cs[CHARSET_MAX + 1] = "", want[128];
	char *r = NULL;
	size_t n, i, k, nl = strlen(name);
	int found, any = 0;

	n = params_read(v, ps, PARAMS_MAX);
	if (nl + 8 > sizeof(want))
		goto out;
	/* name*= */
	for (i = 0; i < n && r == NULL; i++) {
		if (strncmp(ps[i].attr, name, nl) != 0 ||
		    strcmp(ps[i].attr + nl, "*") != 0)
			continue;
		ext_value(&ps[i], cs, sizeof(cs), &raw);
		*flags |= email_charset_to_utf8(&out, cs[0] ? cs : NULL,
		                                raw.p ? raw.p : "", raw.len);
		r = email_buf_take(&out);
	}
	/* name*0=, name*0*=, name*1=, ... */
	for (k = 0; k < CONTINUATION_MAX && r == NULL; k++) {
		found = 0;
		for (i = 0; i < n && !found; i++) {
			if (strncmp(ps[i].attr, name, nl) != 0 ||
			    ps[i].attr[nl] != '*')
				continue;
			snprintf(want, sizeof(want), "%zu", k);
			if (strncmp(ps[i].attr + nl + 1, want, strlen(want)) !=
			    0)
				continue;
			if (strcmp(ps[i].attr + nl + 1 + strlen(want), "*") ==
			    0) {
				if (k == 0)
					ext_value(&ps[i], cs, sizeof(cs), &raw);
				else
					pct_decode(&raw, ps[i].value,
					           ps[i].nvalue);
				found = 1;
			} else if (ps[i].attr[nl + 1 + strlen(want)] == '\0') {
				email_buf_add(&raw, ps[i].value, ps[i].nvalue);
				found = 1;
			}
		}
		if (!found)
			break;
		any = 1;
	}
	if (r == NULL && any) {
		*flags |= email_charset_to_utf8(&out, cs[0] ? cs : NULL,
		                                raw.p ? raw.p : "", raw.len);
		r = email_buf_take(&out);
	}
	for (i = 0; i < n && r == NULL; i++)
		if (strcmp(ps[i].attr, name) == 0)
			r = email_mime_header_text(ps[i].value, flags);
out:
	for (i = 0; i < n; i++) {
		free(ps[i].attr);
		free(ps[i].value);
	}
	email_buf_free(&raw);
	email_buf_free(&out);
	return r;
}

char *
email_mime_header_token(const char *v)
{
	struct email_buf b = {0};
	const char *p = v;
	unsigned flags = 0;
	char *r;

	for (;;) {
		while (is_wsp(*p))
			p++;
		if (*p != '(')
			break;
		p = skip_comment(p, NULL);
	}
	while (*p != '\0' && *p != ';' && !is_wsp(*p) && *p != '(')
		email_buf_addc(&b, *p++);
	r = clean_dup(b.p ? b.p : "", b.len, &flags);
	lower(r);
	email_buf_free(&b);
	return r;
}
