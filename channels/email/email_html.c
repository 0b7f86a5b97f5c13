/*
 * email_html.c: HTML to text and the allow-list sanitiser (email_html.h).
 * One tokenizer serves both: text, tags (name, closing, attributes) and
 * the things skipped whole. Pure, any thread.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "email_buf.h"
#include "email_html.h"
#include "xmalloc.h"

#define TAG_NAME_MAX 15

enum html_kind {
	HTML_OTHER = 0, /* removed, text kept */
	HTML_DROP,      /* removed with everything inside */
	HTML_INLINE,    /* kept by the sanitiser */
	HTML_BLOCK,     /* kept, a line break in text */
	HTML_PARA,      /* kept, a blank line in text */
	HTML_VOID,      /* kept, no content: br, hr */
};

static const struct {
	const char *name;
	enum html_kind kind;
} html_tags[] = {
        {"script", HTML_DROP},   {"style", HTML_DROP},
        {"head", HTML_DROP},     {"title", HTML_DROP},
        {"iframe", HTML_DROP},   {"object", HTML_DROP},
        {"applet", HTML_DROP},   {"svg", HTML_DROP},
        {"math", HTML_DROP},     {"noscript", HTML_DROP},
        {"template", HTML_DROP}, {"textarea", HTML_DROP},
        {"select", HTML_DROP},   {"span", HTML_INLINE},
        {"b", HTML_INLINE},      {"strong", HTML_INLINE},
        {"i", HTML_INLINE},      {"em", HTML_INLINE},
        {"u", HTML_INLINE},      {"code", HTML_INLINE},
        {"a", HTML_INLINE},      {"td", HTML_INLINE},
        {"th", HTML_INLINE},     {"div", HTML_BLOCK},
        {"li", HTML_BLOCK},      {"tr", HTML_BLOCK},
        {"thead", HTML_BLOCK},   {"tbody", HTML_BLOCK},
        {"tfoot", HTML_BLOCK},   {"caption", HTML_BLOCK},
        {"pre", HTML_PARA},      {"p", HTML_PARA},
        {"ul", HTML_PARA},       {"ol", HTML_PARA},
        {"table", HTML_PARA},    {"blockquote", HTML_PARA},
        {"h1", HTML_PARA},       {"h2", HTML_PARA},
        {"h3", HTML_PARA},       {"h4", HTML_PARA},
        {"h5", HTML_PARA},       {"h6", HTML_PARA},
        {"br", HTML_VOID},       {"hr", HTML_VOID},
};

/* Elements outside the allow-list that still break a line in text. */
static const char *const html_text_blocks[] = {
        "body",   "section", "article",  "header", "footer",     "nav",
        "main",   "aside",   "address",  "dl",     "dt",         "dd",
        "center", "form",    "fieldset", "figure", "figcaption", "img",
};

static const struct {
	const char *name;
	uint32_t cp;
} html_entities[] = {
        {"amp", '&'},      {"lt", '<'},        {"gt", '>'},
        {"quot", '"'},     {"apos", '\''},     {"nbsp", 0xa0},
        {"copy", 0xa9},    {"reg", 0xae},      {"pound", 0xa3},
        {"euro", 0x20ac},  {"ndash", 0x2013},  {"mdash", 0x2014},
        {"lsquo", 0x2018}, {"rsquo", 0x2019},  {"ldquo", 0x201c},
        {"rdquo", 0x201d}, {"hellip", 0x2026}, {"bull", 0x2022},
        {"middot", 0xb7},  {"trade", 0x2122},  {"laquo", 0xab},
        {"raquo", 0xbb},   {"deg", 0xb0},      {"times", 0xd7},
        {"shy", 0xad},     {"zwnj", 0x200c},   {"zwj", 0x200d},
};

struct html_tag {
	char name[TAG_NAME_MAX + 1]; /* lower case; "" when too long */
	int closing;
	const char *attrs; /* between the name and '>' */
	size_t nattrs;
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

static char
to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static enum html_kind
tag_kind(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(html_tags) / sizeof(html_tags[0]); i++)
		if (strcmp(html_tags[i].name, name) == 0)
			return html_tags[i].kind;
	return HTML_OTHER;
}

static void
put_cp(struct email_buf *out, uint32_t cp)
{
	char b[4];

	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;
	if (cp < 0x80) {
		email_buf_addc(out, (char)cp);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		email_buf_add(out, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		email_buf_add(out, b, 3);
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		email_buf_add(out, b, 4);
	}
}

/* The entity at s ('&'), n bytes there: its length with *cp set, or 0
 * when it is not one we know (the '&' is then text). */
static size_t
entity(const char *s, size_t n, uint32_t *cp)
{
	size_t i = 1, k, start, digits;
	uint32_t v = 0;
	int hex = 0;

	if (i < n && s[i] == '#') {
		i++;
		if (i < n && (s[i] == 'x' || s[i] == 'X')) {
			hex = 1;
			i++;
		}
		start = i;
		for (; i < n && i - start < 8; i++) {
			char c = to_lower(s[i]);
			if (c >= '0' && c <= '9')
				v = v * (hex ? 16 : 10) + (uint32_t)(c - '0');
			else if (hex && c >= 'a' && c <= 'f')
				v = v * 16 + (uint32_t)(c - 'a' + 10);
			else
				break;
		}
		digits = i - start;
		if (digits == 0)
			return 0;
		*cp = v;
		return i < n && s[i] == ';' ? i + 1 : i;
	}
	for (k = 0; k < sizeof(html_entities) / sizeof(html_entities[0]); k++) {
		size_t l = strlen(html_entities[k].name);
		if (1 + l < n && memcmp(s + 1, html_entities[k].name, l) == 0 &&
		    s[1 + l] == ';') {
			*cp = html_entities[k].cp;
			return l + 2;
		}
	}
	return 0;
}

/* Past the text of "<!--...-->", "<!...>", "<?...>" at s, or 0 when s
 * holds none of them. */
static size_t
skip_markup(const char *s, size_t n)
{
	const char *e;

	if (n >= 4 && memcmp(s, "<!--", 4) == 0) {
		e = memmem(s + 4, n - 4, "-->", 3);
		return e ? (size_t)(e - s) + 3 : n;
	}
	if (n >= 2 && (s[1] == '!' || s[1] == '?' ||
	               (s[1] == '/' && n >= 3 && !is_alpha(s[2])))) {
		e = memchr(s, '>', n);
		return e ? (size_t)(e - s) + 1 : n;
	}
	return 0;
}

/* The tag at s ('<' then a letter, or "</" then a letter): its length
 * through '>' (or to the end, cut short), or 0 when s is text. */
static size_t
read_tag(const char *s, size_t n, struct html_tag *t)
{
	size_t i = 1, k = 0;
	char q = 0;

	t->closing = 0;
	if (i < n && s[i] == '/') {
		t->closing = 1;
		i++;
	}
	if (i >= n || !is_alpha(s[i]))
		return 0;
	for (; i < n && is_alnum(s[i]); i++)
		if (k < TAG_NAME_MAX)
			t->name[k++] = to_lower(s[i]);
		else
			k = TAG_NAME_MAX + 1;
	t->name[k <= TAG_NAME_MAX ? k : 0] = '\0';
	t->attrs = s + i;
	for (; i < n; i++) {
		if (q != 0) {
			if (s[i] == q)
				q = 0;
		} else if (s[i] == '"' || s[i] == '\'') {
			q = s[i];
		} else if (s[i] == '>') {
			t->nattrs = (size_t)(s + i - t->attrs);
			return i + 1;
		}
	}
	/* Cut short by the end of the input: no tag at all. */
	t->name[0] = '\0';
	t->nattrs = (size_t)(s + n - t->attrs);
	return n;
}

/* Past the end of a dropped element named name that started before s. */
static size_t
skip_dropped(const char *s, size_t n, const char *name)
{
	size_t i, l = strlen(name);
	const char *gt;

	for (i = 0; i + 2 + l <= n; i++) {
		if (s[i] != '<')
			continue;
		if (strcmp(name, "head") == 0 && i + 5 <= n &&
		    strncasecmp(s + i, "<body", 5) == 0)
			return i;
		if (s[i + 1] == '/' && strncasecmp(s + i + 2, name, l) == 0 &&
		    (i + 2 + l == n || !is_alnum(s[i + 2 + l]))) {
			gt = memchr(s + i, '>', n - i);
			return gt ? (size_t)(gt - s) + 1 : n;
		}
	}
	return n;
}

/*
 * Reads the n bytes at s: each tag kept goes to tag() (elements dropped
 * whole, comments and the like are skipped here), each run of text up to
 * the next tag to text(), entities not yet decoded.
 */
static void
html_walk(const char *s, size_t n, void (*tag)(void *, const struct html_tag *),
          void (*text)(void *, const char *, size_t), void *arg)
{
	struct html_tag t;
	size_t i = 0, l;

	while (i < n) {
		if (s[i] == '<') {
			l = skip_markup(s + i, n - i);
			if (l > 0) {
				i += l;
				continue;
			}
			l = read_tag(s + i, n - i, &t);
			if (l > 0) {
				i += l;
				if (!t.closing && tag_kind(t.name) == HTML_DROP)
					i += skip_dropped(s + i, n - i, t.name);
				else
					tag(arg, &t);
				continue;
			}
		}
		for (l = 1; i + l < n && s[i + l] != '<'; l++)
			;
		text(arg, s + i, l);
		i += l;
	}
}

/* Appends the text of n bytes at s with its entities decoded. */
static void
decode_text(struct email_buf *out, const char *s, size_t n)
{
	size_t i = 0, l;
	uint32_t cp;

	while (i < n) {
		l = s[i] == '&' ? entity(s + i, n - i, &cp) : 0;
		if (l > 0) {
			put_cp(out, cp);
			i += l;
		} else {
			email_buf_addc(out, s[i++]);
		}
	}
}

/* ---- HTML to text ---- */

struct text_out {
	struct email_buf b;
	struct email_buf run; /* a run of text, entities decoded */
	int space, nl, bullet, pre;
};

static void
text_break(struct text_out *o, int lines)
{
	if (o->nl < lines)
		o->nl = lines;
}

static void
text_char(struct text_out *o, const char *c, size_t n)
{
	if (!o->pre && n == 1 && is_space(c[0])) {
		o->space = 1;
		return;
	}
	if (!o->pre && n == 2 && memcmp(c, "\xc2\xa0", 2) == 0) {
		o->space = 1;
		return;
	}
	if (o->b.len > 0 && o->nl > 0) {
		while (o->b.len > 0 && o->b.p[o->b.len - 1] == ' ')
			o->b.p[--o->b.len] = '\0';
		email_buf_add(&o->b, "\n\n", (size_t)o->nl);
	} else if (o->b.len > 0 && o->space && o->b.p[o->b.len - 1] != '\n') {
		email_buf_addc(&o->b, ' ');
	}
	o->nl = 0;
	o->space = 0;
	if (o->bullet) {
		email_buf_add(&o->b, "- ", 2);
		o->bullet = 0;
	}
	email_buf_add(&o->b, c, n);
}

static void
text_tag(struct text_out *o, const struct html_tag *t)
{
	enum html_kind k = tag_kind(t->name);
	size_t i;

	if (strcmp(t->name, "pre") == 0)
		o->pre = t->closing ? 0 : 1;
	if (strcmp(t->name, "br") == 0) {
		o->nl = o->nl < 2 ? o->nl + 1 : 2;
		return;
	}
	if (k == HTML_PARA)
		text_break(o, 2);
	else if (k == HTML_BLOCK || k == HTML_VOID)
		text_break(o, 1);
	else if (strcmp(t->name, "td") == 0 || strcmp(t->name, "th") == 0)
		o->space = 1;
	for (i = 0; i < sizeof(html_text_blocks) / sizeof(html_text_blocks[0]);
	     i++)
		if (strcmp(t->name, html_text_blocks[i]) == 0)
			text_break(o, 1);
	if (strcmp(t->name, "li") == 0 && !t->closing)
		o->bullet = 1;
}

static void
text_tag_cb(void *arg, const struct html_tag *t)
{
	text_tag(arg, t);
}

static void
text_run_cb(void *arg, const char *s, size_t n)
{
	struct text_out *o = arg;
	size_t i = 0, l;

	o->run.len = 0;
	decode_text(&o->run, s, n);
	while (i < o->run.len) {
		l = 1;
		while (i + l < o->run.len &&
		       ((unsigned char)o->run.p[i + l] & 0xc0) == 0x80)
			l++;
		text_char(o, o->run.p + i, l);
		i += l;
	}
}

char *
email_html_to_text(const char *s, size_t n)
{
	struct text_out o;

	memset(&o, 0, sizeof(o));
	html_walk(s, n, text_tag_cb, text_run_cb, &o);
	email_buf_free(&o.run);
	while (o.b.len > 0 && is_space(o.b.p[o.b.len - 1]))
		o.b.p[--o.b.len] = '\0';
	return email_buf_take(&o.b);
}

/* ---- The sanitiser ---- */

static void
escape(struct email_buf *out, const char *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		switch (c[i]) {
		case '&':
			email_buf_adds(out, "&amp;");
			break;
		case '<':
			email_buf_adds(out, "&lt;");
			break;
		case '>':
			email_buf_adds(out, "&gt;");
			break;
		case '"':
			email_buf_adds(out, "&quot;");
			break;
		case '\'':
			email_buf_adds(out, "&#39;");
			break;
		default:
			email_buf_addc(out, c[i]);
		}
	}
}

/* The href of an <a>, decoded and trimmed, when it is http(s) or mailto;
 * to out. 1 when there is one. */
static int
safe_href(const struct html_tag *t, struct email_buf *out)
{
	const char *s = t->attrs, *e = t->attrs + t->nattrs, *name, *v;
	size_t nname, nv;
	char q;
	struct email_buf raw = {0};
	int ok = 0;

	while (s < e) {
		while (s < e && (is_space(*s) || *s == '/'))
			s++;
		name = s;
		while (s < e && !is_space(*s) && *s != '=' && *s != '/')
			s++;
		nname = (size_t)(s - name);
		while (s < e && is_space(*s))
			s++;
		v = NULL;
		nv = 0;
		if (s < e && *s == '=') {
			s++;
			while (s < e && is_space(*s))
				s++;
			if (s < e && (*s == '"' || *s == '\'')) {
				q = *s++;
				v = s;
				while (s < e && *s != q)
					s++;
				nv = (size_t)(s - v);
				if (s < e)
					s++;
			} else {
				v = s;
				while (s < e && !is_space(*s))
					s++;
				nv = (size_t)(s - v);
			}
		}
		if (nname == 4 && strncasecmp(name, "href", 4) == 0 && v &&
		    !ok) {
			decode_text(&raw, v, nv);
			ok = 1;
		}
		if (nname == 0 && s < e)
			s++;
	}
	if (!ok || raw.p == NULL) {
		ok = 0; /* none, or href="" */
		goto out;
	}
	v = raw.p;
	while (*v != '\0' && (unsigned char)*v <= ' ')
		v++;
	nv = strlen(v);
	while (nv > 0 && (unsigned char)v[nv - 1] <= ' ')
		nv--;
	ok = (nv > 7 && strncasecmp(v, "http://", 7) == 0) ||
	     (nv > 8 && strncasecmp(v, "https://", 8) == 0) ||
	     (nv > 7 && strncasecmp(v, "mailto:", 7) == 0);
	if (ok)
		escape(out, v, nv);
out:
	email_buf_free(&raw);
	return ok;
}

struct san {
	struct email_buf b;
	struct email_buf run; /* a run of text, entities decoded */
	const char *stack[EMAIL_HTML_DEPTH_MAX];
	size_t depth;
};

static void
san_close(struct san *o, size_t to)
{
	while (o->depth > to) {
		o->depth--;
		email_buf_adds(&o->b, "</");
		email_buf_adds(&o->b, o->stack[o->depth]);
		email_buf_addc(&o->b, '>');
	}
}

static void
san_tag(struct san *o, const struct html_tag *t)
{
	enum html_kind k = tag_kind(t->name);
	size_t i;

	if (k == HTML_OTHER || k == HTML_DROP)
		return;
	if (t->closing) {
		for (i = o->depth; i > 0; i--)
			if (strcmp(o->stack[i - 1], t->name) == 0) {
				san_close(o, i - 1);
				break;
			}
		return;
	}
	if (k == HTML_VOID) {
		email_buf_addc(&o->b, '<');
		email_buf_adds(&o->b, t->name);
		email_buf_addc(&o->b, '>');
		return;
	}
	if (o->depth >= EMAIL_HTML_DEPTH_MAX)
		return;
	for (i = 0; i < sizeof(html_tags) / sizeof(html_tags[0]); i++)
		if (strcmp(html_tags[i].name, t->name) == 0)
			o->stack[o->depth++] = html_tags[i].name;
	email_buf_addc(&o->b, '<');
	email_buf_adds(&o->b, t->name);
	if (strcmp(t->name, "a") == 0) {
		size_t mark = o->b.len;
		email_buf_adds(&o->b, " href=\"");
		if (safe_href(t, &o->b)) {
			email_buf_addc(&o->b, '"');
		} else {
			o->b.len = mark;
			o->b.p[mark] = '\0';
		}
	}
	email_buf_addc(&o->b, '>');
}

static void
san_tag_cb(void *arg, const struct html_tag *t)
{
	san_tag(arg, t);
}

static void
san_run_cb(void *arg, const char *s, size_t n)
{
	struct san *o = arg;

	o->run.len = 0;
	decode_text(&o->run, s, n);
	escape(&o->b, o->run.p, o->run.len);
}

char *
email_html_sanitise(const char *s, size_t n)
{
	struct san o;

	memset(&o, 0, sizeof(o));
	html_walk(s, n, san_tag_cb, san_run_cb, &o);
	san_close(&o, 0);
	email_buf_free(&o.run);
	return email_buf_take(&o.b);
}
