/*
 * email_mime.c: a raw message to a normalised one (email_mime.h): the
 * MIME tree read within the caps, the body chosen, attachments decoded
 * and hashed, a delivery-status report read, and the RFC 3834 rules.
 * Headers, charsets and HTML are in their own files (email_mime.h lists
 * them). Pure, any thread: the tree points into the caller's bytes and
 * lives only during email_mime_parse.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "email_buf.h"
#include "email_charset.h"
#include "email_decode.h"
#include "email_html.h"
#include "email_mime.h"
#include "email_mime_header.h"
#include "xmalloc.h"

#define PROBLEM_LINE_MAX 300

enum mime_cte {
	CTE_RAW = 0, /* 7bit, 8bit, binary, and what we do not know */
	CTE_BASE64,
	CTE_QP,
};

/* One MIME entity. */
struct mpart {
	char *type;     /* "text/plain", lower case */
	char *charset;  /* NULL when none */
	char *boundary; /* multiparts */
	char *filename; /* decoded, NULL when none */
	char *content_id;
	char *report_type;
	int disp_attachment, disp_inline;
	enum mime_cte cte;
	const unsigned char *body;
	size_t nbody;
	struct mpart **kids;
	size_t nkids;
	int is_body;          /* chosen as the text or the HTML */
	int skipped;          /* a multipart too deep to read */
	int is_root;          /* the message itself */
	struct mpart *parent; /* NULL for the message */
};

struct ctx {
	struct email_mime_limits lim;
	struct email_mime_msg *m;
	struct email_buf problems;
	unsigned nproblems;
	unsigned nparts;
	size_t att_total;
	int dsn_done;
};

static void problem(struct ctx *c, unsigned flag, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
problem(struct ctx *c, unsigned flag, const char *fmt, ...)
{
	char line[PROBLEM_LINE_MAX];
	va_list ap;
	size_t n;
	int r;

	c->m->flags |= flag;
	va_start(ap, fmt);
	r = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	n = strlen(line);
	if (r > 0 && (size_t)r > n) {
		/* Cut by vsnprintf: no half character left at the end. */
		while (n > 0 && ((unsigned char)line[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && (unsigned char)line[n - 1] >= 0xc0)
			n--;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	/* The same problem once (10,000 bad parts are one line). */
	if (c->problems.p != NULL && strstr(c->problems.p, line) != NULL)
		return;
	if (c->nproblems == EMAIL_MIME_PROBLEMS_MAX)
		email_buf_adds(&c->problems, "more problems not listed\n");
	if (c->nproblems++ >= EMAIL_MIME_PROBLEMS_MAX)
		return;
	email_buf_adds(&c->problems, line);
}

/* ---- The tree ---- */

static void
mpart_free(struct mpart *mp)
{
	size_t i;

	if (mp == NULL)
		return;
	for (i = 0; i < mp->nkids; i++)
		mpart_free(mp->kids[i]);
	free(mp->kids);
	free(mp->type);
	free(mp->charset);
	free(mp->boundary);
	free(mp->filename);
	free(mp->content_id);
	free(mp->report_type);
	free(mp);
}

static int
type_is(const struct mpart *mp, const char *type)
{
	return strcmp(mp->type, type) == 0;
}

static int
is_multipart(const struct mpart *mp)
{
	return strncmp(mp->type, "multipart/", 10) == 0;
}

/* Control characters in a file name (a line break in problems, say). */
static void
name_clean(char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '_';
}

static void mpart_split(struct ctx *c, struct mpart *mp, unsigned depth);

/* The first message id in v, without <>; NULL when none. */
static char *
first_id(const char *v)
{
	char **ids = NULL, *r = NULL;
	size_t n, i;

	n = email_mime_header_ids(v, &ids, 2);
	if (n > 0) {
		r = ids[0];
		ids[0] = NULL;
	}
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return r;
}

/*
 * Reads the entity in the n bytes at p: its headers (kept in *keep when
 * given, else freed) and, for a multipart, its parts.
 */
static struct mpart *
mpart_read(struct ctx *c, const unsigned char *p, size_t n, unsigned depth,
           const char *deftype, struct email_mime_fields *keep)
{
	struct email_mime_fields f = {NULL, 0};
	struct mpart *mp = xcalloc(1, sizeof(*mp));
	const char *ct, *cte, *cd, *cid;
	char *tok;
	size_t off;
	unsigned *flags = &c->m->flags;

	c->nparts++;
	mp->is_root = depth == 0;
	off = email_mime_header_block(p, n, &f, flags);
	mp->body = p + off;
	mp->nbody = n - off;
	ct = email_mime_header_get(&f, "content-type");
	mp->type = ct ? email_mime_header_token(ct) : NULL;
	if (mp->type == NULL || strchr(mp->type, '/') == NULL) {
		free(mp->type);
		mp->type = xstrdup(deftype);
	}
	if (ct != NULL) {
		mp->charset = email_mime_header_param(ct, "charset", flags);
		mp->boundary = email_mime_header_param(ct, "boundary", flags);
		mp->report_type =
		        email_mime_header_param(ct, "report-type", flags);
	}
	cte = email_mime_header_get(&f, "content-transfer-encoding");
	if (cte != NULL) {
		tok = email_mime_header_token(cte);
		if (strcmp(tok, "base64") == 0)
			mp->cte = CTE_BASE64;
		else if (strcmp(tok, "quoted-printable") == 0)
			mp->cte = CTE_QP;
		free(tok);
	}
	cd = email_mime_header_get(&f, "content-disposition");
	if (cd != NULL) {
		tok = email_mime_header_token(cd);
		mp->disp_attachment = strcmp(tok, "attachment") == 0;
		mp->disp_inline = strcmp(tok, "inline") == 0;
		free(tok);
		mp->filename = email_mime_header_param(cd, "filename", flags);
	}
	if (mp->filename == NULL && ct != NULL)
		mp->filename = email_mime_header_param(ct, "name", flags);
	if (mp->filename != NULL && mp->filename[0] == '\0') {
		free(mp->filename);
		mp->filename = NULL;
	}
	name_clean(mp->filename);
	cid = email_mime_header_get(&f, "content-id");
	if (cid != NULL)
		mp->content_id = first_id(cid);
	if (keep != NULL)
		*keep = f;
	else
		email_mime_header_fields_free(&f);
	if (is_multipart(mp))
		mpart_split(c, mp, depth);
	return mp;
}

static void
mpart_to_text(struct mpart *mp)
{
	free(mp->type);
	mp->type = xstrdup("text/plain");
	free(mp->charset);
	mp->charset = NULL;
}

/* Whether the line at s (n bytes, its end excluded) is a delimiter of
 * boundary b: 1 a delimiter, 2 the close delimiter, 0 neither. */
static int
delimiter(const unsigned char *s, size_t n, const char *b, size_t nb)
{
	size_t i;
	int r = 1;

	if (n < nb + 2 || s[0] != '-' || s[1] != '-' ||
	    memcmp(s + 2, b, nb) != 0)
		return 0;
	i = nb + 2;
	if (i + 2 <= n && s[i] == '-' && s[i + 1] == '-') {
		r = 2;
		i += 2;
	}
	for (; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return r;
}

/* The line at pos of the n bytes at p: its length without the line
 * break to *len; returns where the next line starts. */
static size_t
line_at(const unsigned char *p, size_t n, size_t pos, size_t *len)
{
	const unsigned char *nl = memchr(p + pos, '\n', n - pos);

	*len = (nl ? (size_t)(nl - p) : n) - pos;
	return nl ? (size_t)(nl - p) + 1 : n;
}

/* Whether a line of the body is a delimiter of the declared boundary. */
static int
boundary_present(const struct mpart *mp)
{
	size_t pos = 0, next, len, nb = strlen(mp->boundary);

	for (; pos < mp->nbody; pos = next) {
		next = line_at(mp->body, mp->nbody, pos, &len);
		if (delimiter(mp->body + pos, len, mp->boundary, nb))
			return 1;
	}
	return 0;
}

/*
 * A boundary mismatch (the header says one, the body uses another): when
 * the body's first line that is not blank looks like a delimiter ("--"
 * then 1 to 70 printable characters, no space, not only hyphens), what
 * follows "--" becomes the boundary. 1 when one was found.
 */
static int
boundary_guess(struct mpart *mp)
{
	const unsigned char *p = mp->body;
	size_t pos = 0, next, len = 0, i;
	int dashes = 1;

	for (; pos < mp->nbody; pos = next) {
		next = line_at(p, mp->nbody, pos, &len);
		if (len > 0 && p[pos + len - 1] == '\r')
			len--;
		if (len > 0)
			break;
	}
	if (pos >= mp->nbody || len < 3 || len > 72 || p[pos] != '-' ||
	    p[pos + 1] != '-')
		return 0;
	for (i = 2; i < len; i++) {
		if (p[pos + i] <= ' ' || p[pos + i] >= 0x7f)
			return 0;
		dashes &= p[pos + i] == '-';
	}
	if (dashes)
		return 0;
	free(mp->boundary);
	mp->boundary = xstrndup((const char *)p + pos + 2, len - 2);
	return 1;
}

static void
mpart_add_kid(struct ctx *c, struct mpart *mp, size_t start, size_t end,
              unsigned depth)
{
	const char *def = type_is(mp, "multipart/digest") ? "message/rfc822"
	                                                  : "text/plain";

	mp->kids = xrealloc(mp->kids, (mp->nkids + 1) * sizeof(*mp->kids));
	mp->kids[mp->nkids] = mpart_read(c, mp->body + start, end - start,
	                                 depth + 1, def, NULL);
	mp->kids[mp->nkids++]->parent = mp;
}

static void
mpart_split(struct ctx *c, struct mpart *mp, unsigned depth)
{
	const unsigned char *p = mp->body;
	size_t n = mp->nbody, pos = 0, next, len, nb, end;
	long start = -1;
	int d, closed = 0, full = 0;

	if (depth + 1 > c->lim.max_depth) {
		problem(c, EMAIL_MIME_TOO_DEEP,
		        "multiparts nested deeper than %u: the parts inside "
		        "were not read",
		        c->lim.max_depth);
		mp->skipped = 1;
		return;
	}
	if (mp->boundary == NULL || mp->boundary[0] == '\0') {
		problem(c, EMAIL_MIME_PARSE_ERROR,
		        "%s without a boundary: read as text", mp->type);
		mpart_to_text(mp);
		return;
	}
	if (!boundary_present(mp) && boundary_guess(mp))
		problem(c, EMAIL_MIME_PARSE_ERROR,
		        "%s: the declared boundary is not in the body: read "
		        "with the one found there",
		        mp->type);
	nb = strlen(mp->boundary);
	while (pos < n) {
		next = line_at(p, n, pos, &len);
		d = delimiter(p + pos, len, mp->boundary, nb);
		if (d == 0) {
			pos = next;
			continue;
		}
		if (start >= 0 && !full) {
			/* The line break before a delimiter is its own. */
			end = pos;
			if (end > (size_t)start && p[end - 1] == '\n')
				end--;
			if (end > (size_t)start && p[end - 1] == '\r')
				end--;
			if (c->nparts >= c->lim.max_parts) {
				problem(c, EMAIL_MIME_TOO_MANY_PARTS,
				        "more than %u parts: the rest were not "
				        "read",
				        c->lim.max_parts);
				full = 1;
			} else {
				mpart_add_kid(c, mp, (size_t)start, end, depth);
			}
		}
		if (d == 2) {
			closed = 1;
			break;
		}
		start = (long)next;
		pos = next;
	}
	if (start < 0) {
		problem(c, EMAIL_MIME_PARSE_ERROR,
		        "%s: boundary not found: read as text", mp->type);
		mpart_to_text(mp);
		return;
	}
	if (!closed) {
		problem(c, EMAIL_MIME_PARSE_ERROR,
		        "%s: no final boundary: read to the end", mp->type);
		if (!full && (size_t)start < n && c->nparts < c->lim.max_parts)
			mpart_add_kid(c, mp, (size_t)start, n, depth);
		else if (!full && (size_t)start < n)
			problem(c, EMAIL_MIME_TOO_MANY_PARTS,
			        "more than %u parts: the rest were not read",
			        c->lim.max_parts);
	}
}

/* The bytes of a leaf, transfer encoding undone. */
static void
mpart_bytes(const struct mpart *mp, struct email_buf *out)
{
	switch (mp->cte) {
	case CTE_BASE64:
		email_decode_base64(out, mp->body, mp->nbody);
		break;
	case CTE_QP:
		email_decode_qp(out, mp->body, mp->nbody, 0);
		break;
	default:
		email_buf_add(out, mp->body, mp->nbody);
	}
}

/* CRLF and a lone CR made LF, in place. */
static void
newlines(struct email_buf *b)
{
	size_t i, k = 0;

	for (i = 0; i < b->len; i++) {
		if (b->p[i] == '\r') {
			b->p[k++] = '\n';
			if (i + 1 < b->len && b->p[i + 1] == '\n')
				i++;
		} else {
			b->p[k++] = b->p[i];
		}
	}
	b->len = k;
	if (b->p != NULL)
		b->p[k] = '\0';
}

/* A leaf's text in UTF-8 with LF line ends, cut at max bytes (if > 0). */
static char *
mpart_text(struct ctx *c, const struct mpart *mp, size_t max, int *cut)
{
	struct email_buf raw = {0}, out = {0};

	mpart_bytes(mp, &raw);
	c->m->flags |= email_charset_to_utf8(&out, mp->charset,
	                                     raw.p ? raw.p : "", raw.len);
	email_buf_free(&raw);
	newlines(&out);
	*cut = 0;
	if (max > 0 && out.len > max) {
		out.len = email_charset_utf8_cut(out.p, out.len, max);
		out.p[out.len] = '\0';
		*cut = 1;
	}
	return email_buf_take(&out);
}

/* ---- The body ---- */

/* A text part that is no attachment: not marked as one, and with no
 * file name unless it is the whole message (some clients name that). */
static int
body_candidate(const struct mpart *mp, const char *type)
{
	return mp->nkids == 0 && !mp->skipped && type_is(mp, type) &&
	       !mp->disp_attachment && (mp->filename == NULL || mp->is_root);
}

/* The text/plain and text/html that make the body, depth first: in an
 * alternative the plain one is preferred and the last HTML one taken;
 * elsewhere the first part that has either. */
static void
body_find(struct mpart *mp, struct mpart **plain, struct mpart **html)
{
	struct mpart *p, *h;
	size_t i;

	if (body_candidate(mp, "text/plain")) {
		*plain = mp;
		return;
	}
	if (body_candidate(mp, "text/html")) {
		*html = mp;
		return;
	}
	if (type_is(mp, "multipart/alternative")) {
		for (i = 0; i < mp->nkids; i++) {
			p = h = NULL;
			body_find(mp->kids[i], &p, &h);
			if (p != NULL && *plain == NULL)
				*plain = p;
			if (h != NULL)
				*html = h;
		}
		return;
	}
	for (i = 0; i < mp->nkids && *plain == NULL && *html == NULL; i++)
		body_find(mp->kids[i], plain, html);
}

/*
 * The text of the plain body; in a multipart/mixed, the later text parts
 * beside it that are no attachment too (text, a photo, more text; a
 * list's footer), one line break between each. Cut at max_text.
 */
static char *
body_mixed_text(struct ctx *c, struct mpart *plain, int *cut)
{
	struct mpart *up = plain->parent;
	struct email_buf b = {0};
	char *t;
	size_t i;
	int more = 0;

	t = mpart_text(c, plain, c->lim.max_text, cut);
	if (up == NULL || !type_is(up, "multipart/mixed"))
		return t;
	email_buf_adds(&b, t);
	free(t);
	for (i = 0; i < up->nkids && up->kids[i] != plain; i++)
		;
	for (i++; i < up->nkids && b.len <= c->lim.max_text; i++) {
		if (!body_candidate(up->kids[i], "text/plain"))
			continue;
		up->kids[i]->is_body = 1;
		t = mpart_text(c, up->kids[i], c->lim.max_text, &more);
		if (b.len > 0 && b.p[b.len - 1] != '\n')
			email_buf_addc(&b, '\n');
		email_buf_adds(&b, t);
		free(t);
	}
	if (b.len > c->lim.max_text) {
		b.len = email_charset_utf8_cut(b.p, b.len, c->lim.max_text);
		b.p[b.len] = '\0';
		*cut = 1;
	}
	return email_buf_take(&b);
}

static void
body_read(struct ctx *c, struct mpart *root)
{
	struct mpart *plain = NULL, *html = NULL;
	char *h = NULL;
	int cut = 0, cut2 = 0;
	size_t n;

	body_find(root, &plain, &html);
	if (html != NULL) {
		html->is_body = 1;
		h = mpart_text(c, html, c->lim.max_text, &cut2);
		c->m->html = email_html_sanitise(h, strlen(h));
		if (cut2)
			problem(c, EMAIL_MIME_TRUNCATED,
			        "the HTML body was cut at %zu bytes",
			        c->lim.max_text);
	}
	if (plain != NULL) {
		plain->is_body = 1;
		c->m->text = body_mixed_text(c, plain, &cut);
		/* An empty plain alternative beside real HTML: the HTML's. */
		if (h != NULL &&
		    c->m->text[strspn(c->m->text, " \t\n")] == '\0') {
			free(c->m->text);
			c->m->text = NULL;
		}
	}
	if (c->m->text == NULL && h != NULL) {
		c->m->text = email_html_to_text(h, strlen(h));
		n = email_charset_utf8_cut(c->m->text, strlen(c->m->text),
		                           c->lim.max_text);
		cut = c->m->text[n] != '\0';
		c->m->text[n] = '\0';
	} else if (c->m->text == NULL) {
		c->m->text = xstrdup("");
	}
	if (cut)
		problem(c, EMAIL_MIME_TRUNCATED,
		        "the text was cut at %zu bytes", c->lim.max_text);
	free(h);
}

/* ---- Attachments ---- */

static int
is_tnef(const struct mpart *mp)
{
	return type_is(mp, "application/ms-tnef") ||
	       type_is(mp, "application/vnd.ms-tnef") ||
	       (mp->filename && strcasecmp(mp->filename, "winmail.dat") == 0);
}

static int
is_dsn_data(const struct mpart *mp)
{
	return type_is(mp, "message/delivery-status") ||
	       type_is(mp, "message/global-delivery-status");
}

static void
attachment_add(struct ctx *c, const struct mpart *mp)
{
	struct email_mime_msg *m = c->m;
	struct email_mime_attachment *a;
	struct email_buf bytes = {0};
	const char *label;

	m->att = xrealloc(m->att, (m->natt + 1) * sizeof(*m->att));
	a = &m->att[m->natt++];
	memset(a, 0, sizeof(*a));
	a->filename = mp->filename ? xstrdup(mp->filename) : NULL;
	a->content_type = xstrdup(mp->type);
	a->content_id = mp->content_id ? xstrdup(mp->content_id) : NULL;
	a->is_inline = mp->disp_inline ||
	               (mp->content_id != NULL && !mp->disp_attachment);
	mpart_bytes(mp, &bytes);
	a->size = bytes.len;
	crypto_hash_sha256(a->sha256,
	                   (const unsigned char *)(bytes.p ? bytes.p : ""),
	                   bytes.len);
	label = a->filename ? a->filename : a->content_type;
	if (a->size > c->lim.max_attachment ||
	    a->size > c->lim.max_attachments - c->att_total) {
		a->over_cap = 1;
		problem(c, EMAIL_MIME_OVER_CAP,
		        "attachment \"%s\" (%zu bytes) is over the cap: not "
		        "kept",
		        label, a->size);
		email_buf_free(&bytes);
	} else {
		c->att_total += a->size;
		a->data = (unsigned char *)email_buf_take(&bytes);
	}
	if (is_tnef(mp))
		problem(c, EMAIL_MIME_TNEF,
		        "attachment \"%s\" is Outlook's winmail.dat "
		        "(application/ms-tnef): kept, not decoded",
		        label);
}

static void
attachments_read(struct ctx *c, struct mpart *mp)
{
	size_t i;

	if (mp->nkids > 0) {
		for (i = 0; i < mp->nkids; i++)
			attachments_read(c, mp->kids[i]);
		return;
	}
	if (mp->is_body || mp->skipped || is_multipart(mp) || is_dsn_data(mp))
		return;
	attachment_add(c, mp);
}

/* ---- Delivery-status reports (RFC 3464) ---- */

/* "rfc822; user@example.org" without its type. */
static char *
dsn_address(const char *v, unsigned *flags)
{
	const char *semi = strchr(v, ';');

	return email_mime_header_text(semi ? semi + 1 : v, flags);
}

static char *
dsn_text(const struct email_mime_fields *f, const char *name, int addr,
         unsigned *flags)
{
	const char *v = email_mime_header_get(f, name);

	if (v == NULL)
		return NULL;
	return addr ? dsn_address(v, flags) : email_mime_header_text(v, flags);
}

static void
dsn_fields(struct ctx *c, const unsigned char *p, size_t n)
{
	struct email_mime_msg *m = c->m;
	struct email_mime_fields f;
	struct email_mime_dsn *d;
	size_t pos = 0, used, i;
	unsigned quiet = 0;
	int block = 0;

	while (pos < n) {
		memset(&f, 0, sizeof(f));
		used = email_mime_header_block(p + pos, n - pos, &f, &quiet);
		if (block++ == 0 && m->dsn_original_envelope_id == NULL)
			m->dsn_original_envelope_id = dsn_text(
			        &f, "original-envelope-id", 0, &m->flags);
		if ((email_mime_header_get(&f, "final-recipient") ||
		     email_mime_header_get(&f, "action")) &&
		    m->ndsn < EMAIL_MIME_DSN_MAX) {
			m->dsn = xrealloc(m->dsn, (m->ndsn + 1) * sizeof(*d));
			d = &m->dsn[m->ndsn++];
			d->final_recipient =
			        dsn_text(&f, "final-recipient", 1, &m->flags);
			d->original_recipient = dsn_text(
			        &f, "original-recipient", 1, &m->flags);
			d->action = dsn_text(&f, "action", 0, &m->flags);
			for (i = 0; d->action && d->action[i]; i++)
				if (d->action[i] >= 'A' && d->action[i] <= 'Z')
					d->action[i] += 'a' - 'A';
			d->status = dsn_text(&f, "status", 0, &m->flags);
			d->diagnostic_code =
			        dsn_text(&f, "diagnostic-code", 0, &m->flags);
		}
		email_mime_header_fields_free(&f);
		if (used == 0)
			break;
		pos += used;
	}
}

static void
dsn_returned(struct ctx *c, const struct mpart *mp)
{
	struct email_mime_fields f = {NULL, 0};
	struct email_buf bytes = {0};
	const char *v;
	unsigned quiet = 0;

	mpart_bytes(mp, &bytes);
	email_mime_header_block((const unsigned char *)(bytes.p ? bytes.p : ""),
	                        bytes.len, &f, &quiet);
	v = email_mime_header_get(&f, "message-id");
	if (v != NULL)
		c->m->dsn_original_message_id = first_id(v);
	email_mime_header_fields_free(&f);
	email_buf_free(&bytes);
}

static void
dsn_read(struct ctx *c, const struct mpart *mp)
{
	struct email_buf bytes = {0};
	size_t i;

	if (c->dsn_done)
		return;
	if (!type_is(mp, "multipart/report") || mp->report_type == NULL ||
	    strcasecmp(mp->report_type, "delivery-status") != 0) {
		for (i = 0; i < mp->nkids; i++)
			dsn_read(c, mp->kids[i]);
		return;
	}
	c->dsn_done = 1;
	for (i = 0; i < mp->nkids; i++) {
		const struct mpart *k = mp->kids[i];
		if (is_dsn_data(k) && c->m->ndsn == 0) {
			mpart_bytes(k, &bytes);
			dsn_fields(
			        c,
			        (const unsigned char *)(bytes.p ? bytes.p : ""),
			        bytes.len);
			email_buf_free(&bytes);
		} else if ((type_is(k, "message/rfc822") ||
		            type_is(k, "text/rfc822-headers") ||
		            type_is(k, "message/global") ||
		            type_is(k, "message/global-headers")) &&
		           c->m->dsn_original_message_id == NULL) {
			dsn_returned(c, k);
		}
	}
}

/* ---- Message headers: one handler per field ---- */

static void
on_message_id(struct ctx *c, const char *v)
{
	c->m->message_id = first_id(v);
}

static void
on_in_reply_to(struct ctx *c, const char *v)
{
	c->m->in_reply_to = first_id(v);
}

static void
on_references(struct ctx *c, const char *v)
{
	c->m->nreferences = email_mime_header_ids(v, &c->m->references,
	                                          EMAIL_MIME_REFERENCES_MAX);
}

static void
on_subject(struct ctx *c, const char *v)
{
	c->m->subject = email_mime_header_text(v, &c->m->flags);
}

static void
one_address(struct ctx *c, const char *v, struct email_mime_address *to)
{
	struct email_mime_address *list = NULL;
	unsigned flags = 0;

	/* The first mailbox: a second is no error ("From: a, b"). */
	if (email_mime_header_addresses(v, &list, 1, &flags) > 0)
		*to = list[0];
	free(list);
	c->m->flags |= flags & ~(unsigned)EMAIL_MIME_TRUNCATED;
}

static void
on_from(struct ctx *c, const char *v)
{
	one_address(c, v, &c->m->from);
}

static void
on_reply_to(struct ctx *c, const char *v)
{
	one_address(c, v, &c->m->reply_to);
}

static void
on_sender(struct ctx *c, const char *v)
{
	one_address(c, v, &c->m->sender);
}

static void
on_to(struct ctx *c, const char *v)
{
	c->m->nto = email_mime_header_addresses(
	        v, &c->m->to, EMAIL_MIME_ADDRESSES_MAX, &c->m->flags);
}

static void
on_cc(struct ctx *c, const char *v)
{
	c->m->ncc = email_mime_header_addresses(
	        v, &c->m->cc, EMAIL_MIME_ADDRESSES_MAX, &c->m->flags);
}

static void
on_date(struct ctx *c, const char *v)
{
	if (email_mime_header_date(v, &c->m->date_ms) != 0) {
		c->m->date_ms = -1;
		problem(c, EMAIL_MIME_OK, "Date: not understood");
	}
}

static void
on_return_path(struct ctx *c, const char *v)
{
	const char *lt = strchr(v, '<'), *gt;
	struct email_buf b = {0};
	size_t n;

	if (lt != NULL) {
		gt = strchr(lt, '>');
		n = gt ? (size_t)(gt - lt - 1) : strlen(lt + 1);
		v = lt + 1;
	} else {
		n = strlen(v);
	}
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	c->m->flags |= email_charset_to_utf8(&b, NULL, v, n);
	c->m->return_path = email_buf_take(&b);
}

static void
on_auto_submitted(struct ctx *c, const char *v)
{
	c->m->auto_submitted = email_mime_header_text(v, &c->m->flags);
}

static void
on_precedence(struct ctx *c, const char *v)
{
	c->m->precedence = email_mime_header_text(v, &c->m->flags);
}

static void
on_x_auto_response_suppress(struct ctx *c, const char *v)
{
	c->m->x_auto_response_suppress =
	        email_mime_header_text(v, &c->m->flags);
}

static void
on_x_autoreply(struct ctx *c, const char *v)
{
	c->m->has_x_autoreply = 1;
}

static void
on_thread_index(struct ctx *c, const char *v)
{
	c->m->thread_index = email_mime_header_text(v, &c->m->flags);
}

/* The field's value is read from its first occurrence only. */
static const struct {
	const char *name;
	void (*fn)(struct ctx *, const char *);
} msg_fields[] = {
        {"message-id", on_message_id},
        {"in-reply-to", on_in_reply_to},
        {"references", on_references},
        {"subject", on_subject},
        {"from", on_from},
        {"reply-to", on_reply_to},
        {"sender", on_sender},
        {"to", on_to},
        {"cc", on_cc},
        {"date", on_date},
        {"return-path", on_return_path},
        {"auto-submitted", on_auto_submitted},
        {"precedence", on_precedence},
        {"x-auto-response-suppress", on_x_auto_response_suppress},
        {"x-autoreply", on_x_autoreply},
        {"x-autorespond", on_x_autoreply},
        {"thread-index", on_thread_index},
};

static void
headers_read(struct ctx *c, const struct email_mime_fields *f)
{
	unsigned char seen[sizeof(msg_fields) / sizeof(msg_fields[0])];
	size_t i, k;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < f->n; i++) {
		if (strncasecmp(f->v[i].name, "list-", 5) == 0)
			c->m->has_list_headers = 1;
		for (k = 0; k < sizeof(msg_fields) / sizeof(msg_fields[0]);
		     k++) {
			if (seen[k] ||
			    strcasecmp(f->v[i].name, msg_fields[k].name) != 0)
				continue;
			seen[k] = 1;
			msg_fields[k].fn(c, f->v[i].value);
		}
	}
}

/* ---- The whole message ---- */

static void
limits_set(struct email_mime_limits *l, const struct email_mime_limits *in)
{
	if (in != NULL)
		*l = *in;
	else
		memset(l, 0, sizeof(*l));
	if (l->max_depth == 0)
		l->max_depth = EMAIL_MIME_DEPTH_DEFAULT;
	if (l->max_parts == 0)
		l->max_parts = EMAIL_MIME_PARTS_DEFAULT;
	if (l->max_text == 0)
		l->max_text = EMAIL_MIME_TEXT_DEFAULT;
	if (l->max_attachment == 0)
		l->max_attachment = EMAIL_MIME_ATTACHMENT_DEFAULT;
	if (l->max_attachments == 0)
		l->max_attachments = EMAIL_MIME_ATTACHMENTS_DEFAULT;
}

int
email_mime_parse(const unsigned char *raw, size_t len,
                 const struct email_mime_limits *lim,
                 struct email_mime_msg *out)
{
	struct email_mime_fields top = {NULL, 0};
	struct ctx c;
	struct mpart *root;
	const char *ct;
	char *tok;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	out->date_ms = -1;
	c.m = out;
	limits_set(&c.lim, lim);
	if (raw == NULL)
		len = 0;
	root = mpart_read(&c, raw ? raw : (const unsigned char *)"", len, 0,
	                  "text/plain", &top);
	headers_read(&c, &top);
	if (top.n == 0)
		problem(&c, EMAIL_MIME_PARSE_ERROR, "no header fields");
	if (out->flags & EMAIL_MIME_TRUNCATED)
		problem(&c, EMAIL_MIME_TRUNCATED,
		        "header fields over the caps were cut");
	if (out->flags & EMAIL_MIME_BYTES_REPLACED)
		problem(&c, 0,
		        "header bytes not valid in their charset "
		        "were replaced");
	/* As declared: a report read as text (no boundary) is one still. */
	ct = email_mime_header_get(&top, "content-type");
	tok = ct ? email_mime_header_token(ct) : NULL;
	out->is_report = tok != NULL && strcmp(tok, "multipart/report") == 0;
	free(tok);
	if (out->is_report && root->report_type != NULL) {
		out->report_type = xstrdup(root->report_type);
		for (char *s = out->report_type; *s != '\0'; s++)
			if (*s >= 'A' && *s <= 'Z')
				*s += 'a' - 'A';
	}
	body_read(&c, root);
	attachments_read(&c, root);
	dsn_read(&c, root);
	if (out->flags & EMAIL_MIME_NO_CHARSET_GUESSED)
		problem(&c, 0,
		        "8-bit text with no usable charset: read as "
		        "Windows-1252");
	if (out->flags & EMAIL_MIME_BYTES_REPLACED)
		problem(&c, 0,
		        "bytes not valid in their charset were "
		        "replaced by U+FFFD");
	out->problems = email_buf_take(&c.problems);
	mpart_free(root);
	email_mime_header_fields_free(&top);
	return out->flags != 0;
}

static void
address_list_free(struct email_mime_address *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		email_mime_header_address_free(&a[i]);
	free(a);
}

void
email_mime_free(struct email_mime_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->message_id);
	free(m->in_reply_to);
	for (i = 0; i < m->nreferences; i++)
		free(m->references[i]);
	free(m->references);
	free(m->subject);
	email_mime_header_address_free(&m->from);
	email_mime_header_address_free(&m->reply_to);
	email_mime_header_address_free(&m->sender);
	address_list_free(m->to, m->nto);
	address_list_free(m->cc, m->ncc);
	free(m->return_path);
	free(m->text);
	free(m->html);
	free(m->auto_submitted);
	free(m->precedence);
	free(m->x_auto_response_suppress);
	free(m->report_type);
	free(m->thread_index);
	for (i = 0; i < m->ndsn; i++) {
		free(m->dsn[i].final_recipient);
		free(m->dsn[i].original_recipient);
		free(m->dsn[i].action);
		free(m->dsn[i].status);
		free(m->dsn[i].diagnostic_code);
	}
	free(m->dsn);
	free(m->dsn_original_envelope_id);
	free(m->dsn_original_message_id);
	for (i = 0; i < m->natt; i++) {
		free(m->att[i].filename);
		free(m->att[i].content_type);
		free(m->att[i].content_id);
		free(m->att[i].data);
	}
	free(m->att);
	free(m->problems);
	memset(m, 0, sizeof(*m));
}

/* ---- RFC 3834 ---- */

/* The first word of v ("auto-replied; x" gives "auto-replied"), lower
 * case, in buf. */
static const char *
first_word(const char *v, char *buf, size_t size)
{
	size_t n = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	while (*v != '\0' && *v != ';' && *v != ' ' && *v != '\t' &&
	       *v != '(' && n + 1 < size) {
		buf[n++] =
		        (*v >= 'A' && *v <= 'Z') ? (char)(*v - 'A' + 'a') : *v;
		v++;
	}
	buf[n] = '\0';
	return buf;
}

static const char *const autoreply_precedence[] = {"bulk", "junk", "list",
                                                   "auto_reply"};

/* Why an address must not be answered, or NULL. */
static const char *
autoreply_address(const char *addr, const char *const *ours, size_t nours)
{
	const char *at;
	size_t i, local;

	if (addr == NULL || addr[0] == '\0')
		return NULL;
	for (i = 0; i < nours; i++)
		if (ours[i] != NULL && strcasecmp(addr, ours[i]) == 0)
			return "the sender is one of our own addresses";
	at = strrchr(addr, '@');
	local = at ? (size_t)(at - addr) : strlen(addr);
	if (local == 13 && strncasecmp(addr, "mailer-daemon", 13) == 0)
		return "the sender is MAILER-DAEMON";
	if (local == 10 && strncasecmp(addr, "postmaster", 10) == 0)
		return "the sender is postmaster";
	if ((local == 7 && strncasecmp(addr, "noreply", 7) == 0) ||
	    (local == 8 && strncasecmp(addr, "no-reply", 8) == 0))
		return "the sender is a no-reply address";
	if (local >= 8 && strncasecmp(addr + local - 8, "-request", 8) == 0)
		return "the sender is a list's -request address";
	if (local >= 6 && strncasecmp(addr, "owner-", 6) == 0)
		return "the sender is a list's owner- address";
	return NULL;
}

const char *
email_mime_no_autoreply(const struct email_mime_msg *m, const char *const *ours,
                        size_t nours)
{
	char w[32];
	const char *why = NULL;
	size_t i;

	if (m->auto_submitted != NULL &&
	    strcmp(first_word(m->auto_submitted, w, sizeof(w)), "no") != 0)
		return "Auto-Submitted is not \"no\"";
	if (m->return_path != NULL && m->return_path[0] == '\0')
		return "empty return path (a bounce)";
	if (m->precedence != NULL) {
		first_word(m->precedence, w, sizeof(w));
		for (i = 0; i < nitems(autoreply_precedence); i++)
			if (strcmp(w, autoreply_precedence[i]) == 0)
				return "Precedence: bulk, junk, list or "
				       "auto_reply";
	}
	if (m->has_list_headers)
		return "a List-* header (a mailing list)";
	if (m->x_auto_response_suppress != NULL &&
	    m->x_auto_response_suppress[0] != '\0' &&
	    strcasecmp(m->x_auto_response_suppress, "none") != 0)
		return "X-Auto-Response-Suppress";
	if (m->has_x_autoreply)
		return "X-Autoreply or X-Autorespond";
	if (m->is_report)
		return "Content-Type: multipart/report";
	if (m->from.addr == NULL || m->from.addr[0] == '\0')
		return "no From address";
	why = autoreply_address(m->from.addr, ours, nours);
	if (why == NULL)
		why = autoreply_address(m->sender.addr, ours, nours);
	if (why == NULL)
		why = autoreply_address(m->return_path, ours, nours);
	return why;
}
