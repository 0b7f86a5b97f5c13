/*
 * fuzz_email_mime.c: libFuzzer harness for the MIME parser
 * (channels/email/email_mime.c and the files it uses). Each input is a
 * raw message, parsed under small caps so that they are reached: the
 * parse never fails, every string is valid UTF-8 without NUL, and the
 * caps hold (parts, text, attachments kept per file and per message,
 * references, DSN recipients, problems). The RFC 3834 check is run on
 * every result, and the HTML sanitiser's output is read back by a checker
 * of our own (allowed tags only, no attribute but a safe href, no raw
 * quote or bracket in text), also on the input taken as HTML directly.
 * Leaks are caught by the sanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "email_html.h"
#include "email_mime.h"
#include "fuzz_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const char *s)
{
	if (s != NULL && fuzz_utf8_chars(s, strlen(s)) == (size_t)-1)
		abort();
}

static const char *const html_allowed[] = {
        "p",  "br", "div", "span",    "b",     "strong", "i",          "em",
        "u",  "ul", "ol",  "li",      "table", "thead",  "tbody",      "tfoot",
        "tr", "td", "th",  "caption", "pre",   "code",   "h1",         "h2",
        "h3", "h4", "h5",  "h6",      "hr",    "a",      "blockquote",
};

/*
 * The sanitiser's output, read independently: every tag is an allowed
 * one with no attribute, or <a href="..."> with http(s) or mailto; text
 * holds no raw < > " '.
 */
static void
check_html(const char *h)
{
	const char *p = h, *q;
	size_t n, i;
	int ok;

	if (h == NULL)
		return;
	while (*p != '\0') {
		if (*p == '>' || *p == '"' || *p == '\'')
			abort();
		if (*p != '<') {
			p++;
			continue;
		}
		p++;
		if (*p == '/')
			p++;
		for (q = p;
		     (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9'); q++)
			;
		n = (size_t)(q - p);
		ok = 0;
		for (i = 0; i < sizeof(html_allowed) / sizeof(html_allowed[0]);
		     i++)
			if (strlen(html_allowed[i]) == n &&
			    memcmp(html_allowed[i], p, n) == 0)
				ok = 1;
		if (!ok)
			abort();
		if (n == 1 && *p == 'a' && p[-1] != '/' &&
		    strncmp(q, " href=\"", 7) == 0) {
			q += 7;
			if (strncasecmp(q, "http://", 7) != 0 &&
			    strncasecmp(q, "https://", 8) != 0 &&
			    strncasecmp(q, "mailto:", 7) != 0)
				abort();
			q += strcspn(q, "\"<>'");
			if (*q != '"')
				abort();
			q++;
		}
		if (*q != '>')
			abort();
		p = q + 1;
	}
}

static void
check_addr(const struct email_mime_address *a)
{
	check(a->name);
	check(a->addr);
	if (a->name != NULL && a->addr == NULL)
		abort();
}

static void
check_msg(const struct email_mime_msg *m, const struct email_mime_limits *l)
{
	size_t i, kept = 0, lines = 0;
	const char *p;

	check(m->message_id);
	check(m->in_reply_to);
	if (m->nreferences > EMAIL_MIME_REFERENCES_MAX)
		abort();
	for (i = 0; i < m->nreferences; i++)
		check(m->references[i]);
	check(m->subject);
	check_addr(&m->from);
	check_addr(&m->reply_to);
	check_addr(&m->sender);
	if (m->nto > EMAIL_MIME_ADDRESSES_MAX ||
	    m->ncc > EMAIL_MIME_ADDRESSES_MAX)
		abort();
	for (i = 0; i < m->nto; i++)
		check_addr(&m->to[i]);
	for (i = 0; i < m->ncc; i++)
		check_addr(&m->cc[i]);
	check(m->return_path);
	if (m->text == NULL || strlen(m->text) > l->max_text)
		abort();
	check(m->text);
	check(m->html);
	check_html(m->html);
	check(m->auto_submitted);
	check(m->precedence);
	check(m->x_auto_response_suppress);
	check(m->report_type);
	check(m->thread_index);
	if (m->ndsn > EMAIL_MIME_DSN_MAX)
		abort();
	for (i = 0; i < m->ndsn; i++) {
		check(m->dsn[i].final_recipient);
		check(m->dsn[i].original_recipient);
		check(m->dsn[i].action);
		check(m->dsn[i].status);
		check(m->dsn[i].diagnostic_code);
	}
	check(m->dsn_original_envelope_id);
	check(m->dsn_original_message_id);
	if (m->natt >= l->max_parts)
		abort();
	for (i = 0; i < m->natt; i++) {
		const struct email_mime_attachment *a = &m->att[i];
		check(a->filename);
		check(a->content_type);
		check(a->content_id);
		if (a->content_type == NULL || (a->data == NULL) != a->over_cap)
			abort();
		if (a->data != NULL) {
			if (a->size > l->max_attachment)
				abort();
			kept += a->size;
		}
	}
	if (kept > l->max_attachments)
		abort();
	if (m->problems == NULL)
		abort();
	check(m->problems);
	for (p = m->problems; *p != '\0'; p++)
		lines += *p == '\n';
	if (lines > EMAIL_MIME_PROBLEMS_MAX + 1)
		abort();
	if (m->date_ms < -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct email_mime_limits lim = {
	        .max_depth = 4,
	        .max_parts = 12,
	        .max_text = 2048,
	        .max_attachment = 512,
	        .max_attachments = 1024,
	};
	static const char *const ours[] = {"contact@example.gov.uk"};
	struct email_mime_msg m;
	char *html;
	int r;

	r = email_mime_parse(data, size, &lim, &m);
	if (r != 0 && r != 1)
		abort();
	if ((r == 0) != (m.flags == 0))
		abort();
	check_msg(&m, &lim);
	check(email_mime_no_autoreply(&m, ours, 1));
	email_mime_free(&m);
	/* The input as HTML itself (not UTF-8, perhaps: the tags still). */
	html = email_html_sanitise((const char *)data, size);
	check_html(html);
	free(html);
	free(email_html_to_text((const char *)data, size));
	return 0;
}
