/*
 * email_normalise.c: a parsed mail into what ingest takes
 * (email_normalise.h). Pure.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "email_normalise.h"
#include "ingest.h"
#include "xmalloc.h"

#define KEY_PREFIX_MAX 8 /* "msgid:", "relay:" */
#define METADATA_CAP   (INGEST_METADATA_MAX - 1024)

static const struct {
	unsigned flag;
	const char *name;
} flag_names[] = {
        {EMAIL_MIME_PARSE_ERROR, "parse_error"},
        {EMAIL_MIME_TRUNCATED, "truncated"},
        {EMAIL_MIME_BYTES_REPLACED, "bytes_replaced"},
        {EMAIL_MIME_TOO_DEEP, "too_deep"},
        {EMAIL_MIME_TOO_MANY_PARTS, "too_many_parts"},
        {EMAIL_MIME_NO_CHARSET_GUESSED, "no_charset"},
        {EMAIL_MIME_OVER_CAP, "attachment_over_cap"},
        {EMAIL_MIME_TNEF, "winmail_dat"},
};

/* Luhn over the digits of d (the last one the check digit). */
static int
luhn_ok(const char *d, size_t n)
{
	unsigned total = 0, x;
	int dbl = 0;
	size_t i;

	for (i = n; i-- > 0;) {
		x = (unsigned)(d[i] - '0');
		if (dbl) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		total += x;
		dbl = !dbl;
	}
	return total % 10 == 0;
}

int
email_normal_reference(const char *s, char *out, size_t len)
{
	size_t i, n;

	for (i = 0; s != NULL && s[i] != '\0'; i++) {
		if ((s[i] != 'S' && s[i] != 's') ||
		    (s[i + 1] != 'B' && s[i + 1] != 'b'))
			continue;
		if (i > 0 && isalnum((unsigned char)s[i - 1]))
			continue;
		for (n = 0; isdigit((unsigned char)s[i + 2 + n]); n++)
			;
		/* At least one digit and the check digit; nothing glued on. */
		if (n < 2 || n > 30 || isalnum((unsigned char)s[i + 2 + n]))
			continue;
		if (!luhn_ok(s + i + 2, n) || n + 3 > len)
			continue;
		snprintf(out, len, "SB%.*s", (int)n, s + i + 2);
		return 1;
	}
	if (len > 0)
		out[0] = '\0';
	return 0;
}

int
email_normal_is_relay(const char *addr)
{
	const char *p = addr, *at;
	size_t n;

	if (addr == NULL || strncasecmp(p, "request-", 8) != 0)
		return 0;
	p += 8;
	for (n = 0; isdigit((unsigned char)p[n]); n++)
		;
	if (n == 0 || n > 12 || p[n] != '-')
		return 0;
	p += n + 1;
	for (n = 0; isxdigit((unsigned char)p[n]); n++)
		;
	at = p + n;
	return n == 8 && *at == '@' && at[1] != '\0' &&
	       strchr(at + 1, '@') == NULL;
}

static char *
lower_dup(const char *s)
{
	char *d = xstrdup(s);
	size_t i;

	for (i = 0; d[i] != '\0'; i++)
		d[i] = (char)tolower((unsigned char)d[i]);
	return d;
}

/* prefix + id, when it fits a thread key; NULL otherwise. */
static char *
key(const char *prefix, const char *id)
{
	size_t n;
	char *k;

	if (id == NULL || id[0] == '\0' ||
	    strlen(id) + KEY_PREFIX_MAX > INGEST_KEY_MAX)
		return NULL;
	n = strlen(prefix) + strlen(id) + 1;
	k = xmalloc(n);
	snprintf(k, n, "%s%s", prefix, id);
	return k;
}

static void
add_find(struct email_normal *n, char *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < n->nfind; i++)
		if (strcmp(n->find[i], k) == 0) {
			free(k);
			return;
		}
	if (n->nfind >= EMAIL_NORMAL_KEYS_MAX) {
		free(k);
		return;
	}
	n->find[n->nfind++] = k;
}

static json_t *
address_json(const struct email_mime_address *a)
{
	json_t *o = json_object();

	if (a->name != NULL)
		json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "address",
	                    json_string(a->addr != NULL ? a->addr : ""));
	return o;
}

static void
set_list(json_t *e, const char *name, const struct email_mime_address *a,
         size_t n)
{
	json_t *arr;
	size_t i;
	char more[32];

	if (n == 0)
		return;
	arr = json_array();
	for (i = 0; i < n && i < EMAIL_NORMAL_RCPT_MAX; i++)
		json_array_append_new(arr, address_json(&a[i]));
	json_object_set_new(e, name, arr);
	if (n > EMAIL_NORMAL_RCPT_MAX) {
		snprintf(more, sizeof(more), "%s_more", name);
		json_object_set_new(
		        e, more,
		        json_integer((json_int_t)(n - EMAIL_NORMAL_RCPT_MAX)));
	}
}

static void
set_str(json_t *o, const char *name, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, name, json_string(v));
}

static json_t *
attachments_json(const struct email_mime_msg *m)
{
	char hex[2 * 32 + 1];
	json_t *arr = json_array(), *a;
	size_t i;

	for (i = 0; i < m->natt && i < INGEST_ATTACHMENT_MAX; i++) {
		const struct email_mime_attachment *t = &m->att[i];

		sodium_bin2hex(hex, sizeof(hex), t->sha256, sizeof(t->sha256));
		a = json_pack(
		        "{s:s, s:I, s:s, s:b, s:b, s:b}", "content_type",
		        t->content_type != NULL ? t->content_type
		                                : "application/octet-stream",
		        "size", (json_int_t)t->size, "sha256", hex, "inline",
		        t->is_inline, "stored", 0, "over_cap", t->over_cap);
		set_str(a, "filename", t->filename);
		set_str(a, "content_id", t->content_id);
		json_array_append_new(arr, a);
	}
	return arr;
}

static json_t *
dsn_json(const struct email_mime_msg *m)
{
	json_t *arr = json_array(), *r;
	size_t i;

	for (i = 0; i < m->ndsn; i++) {
		r = json_object();
		set_str(r, "final_recipient", m->dsn[i].final_recipient);
		set_str(r, "action", m->dsn[i].action);
		set_str(r, "status", m->dsn[i].status);
		set_str(r, "diagnostic_code", m->dsn[i].diagnostic_code);
		json_array_append_new(arr, r);
	}
	return arr;
}

/*
 * The metadata: {"email": {...}, "attachments": [...]}, cut to fit
 * ingest's cap (recipients first, then problems, then attachments from
 * the end; what was cut is counted).
 */
static char *
metadata(const struct email_mime_msg *m, const struct email_normal *n)
{
	json_t *root = json_object(), *e = json_object(), *flags, *att;
	char *text;
	size_t i, cut = 0;

	if (m->from.addr != NULL || m->from.name != NULL)
		json_object_set_new(e, "from", address_json(&m->from));
	if (m->reply_to.addr != NULL)
		json_object_set_new(e, "reply_to", address_json(&m->reply_to));
	set_list(e, "to", m->to, m->nto);
	set_list(e, "cc", m->cc, m->ncc);
	if (m->date_ms >= 0)
		json_object_set_new(e, "date_ms", json_integer(m->date_ms));
	set_str(e, "message_id", m->message_id);
	set_str(e, "in_reply_to", m->in_reply_to);
	flags = json_array();
	for (i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
		if (m->flags & flag_names[i].flag)
			json_array_append_new(flags,
			                      json_string(flag_names[i].name));
	json_object_set_new(e, "flags", flags);
	if (m->problems[0] != '\0')
		set_str(e, "problems", m->problems);
	set_str(e, "automatic", n->no_autoreply);
	json_object_set_new(e, "has_html", json_boolean(m->html != NULL));
	if (n->bounce)
		json_object_set_new(e, "delivery_report", dsn_json(m));
	json_object_set_new(root, "email", e);
	att = attachments_json(m);
	json_object_set_new(root, "attachments", att);
	for (;;) {
		text = json_dumps(root, JSON_COMPACT);
		if (text == NULL || strlen(text) <= METADATA_CAP)
			break;
		free(text);
		if (json_object_get(e, "to") != NULL ||
		    json_object_get(e, "cc") != NULL) {
			json_object_del(e, "to");
			json_object_del(e, "cc");
		} else if (json_object_get(e, "problems") != NULL) {
			json_object_del(e, "problems");
		} else if (json_array_size(att) > 0) {
			json_array_remove(att, json_array_size(att) - 1);
			cut++;
		} else {
			/* Names and ids alone over the cap: the bare minimum.
			 */
			json_object_clear(e);
			json_object_set_new(e, "cut", json_true());
		}
	}
	if (cut > 0) {
		free(text);
		json_object_set_new(e, "attachments_not_listed",
		                    json_integer((json_int_t)cut));
		text = json_dumps(root, JSON_COMPACT);
	}
	json_decref(root);
	return text != NULL ? text : xstrdup("{}");
}

/* Drops the blank lines and spaces a body ends with (the mail's last
 * line end, a signature's trailing blank lines). */
static void
trim_end(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' ||
	                 s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* A copy of s cut to at most max bytes, at a character boundary. */
static char *
cut_utf8(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return xstrdup(s);
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return xstrndup(s, n);
}

void
email_normalise(const struct email_mime_msg *m, const char *const *ours,
                size_t nours, struct email_normal *out)
{
	const char *why = NULL;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (m->from.name != NULL && m->from.name[0] != '\0')
		out->name = xstrdup(m->from.name);
	if (m->from.addr != NULL && m->from.addr[0] != '\0' &&
	    identity_parse("email", m->from.addr, &out->id, &why) == 0)
		out->has_id = 1;
	out->subject = xstrdup(m->subject != NULL && m->subject[0] != '\0'
	                               ? m->subject
	                               : "(no subject)");
	out->body = cut_utf8(m->text, INGEST_BODY_MAX);
	trim_end(out->body);
	email_normal_reference(m->subject, out->reference,
	                       sizeof(out->reference));
	add_find(out, key("msgid:", m->in_reply_to));
	for (i = m->nreferences; i-- > 0;)
		add_find(out, key("msgid:", m->references[i]));
	if (out->has_id && email_normal_is_relay(out->id.value)) {
		char *addr = lower_dup(out->id.value);

		add_find(out, key("relay:", addr));
		out->add[out->nadd] = key("relay:", addr);
		if (out->add[out->nadd] != NULL)
			out->nadd++;
		free(addr);
	}
	out->add[out->nadd] = key("msgid:", m->message_id);
	if (out->add[out->nadd] != NULL)
		out->nadd++;
	out->no_autoreply = email_mime_no_autoreply(m, ours, nours);
	out->bounce =
	        m->ndsn > 0 || (m->is_report && m->report_type != NULL &&
	                        strcmp(m->report_type, "delivery-status") == 0);
	out->metadata = metadata(m, out);
}

void
email_normal_free(struct email_normal *n)
{
	size_t i;

	if (n == NULL)
		return;
	free(n->name);
	free(n->subject);
	free(n->body);
	free(n->metadata);
	for (i = 0; i < n->nfind; i++)
		free(n->find[i]);
	for (i = 0; i < n->nadd; i++)
		free(n->add[i]);
	memset(n, 0, sizeof(*n));
}
