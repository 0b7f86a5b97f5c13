/*
 * http_form.c: form-urlencoded bodies (http_form.h). Pure.
 */
#include <stdlib.h>
#include <string.h>

#include "http_form.h"
#include "xmalloc.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* s[0..n) decoded into a new string; NULL (and *why) when malformed. */
static char *
decode(const char *s, size_t n, const char **why)
{
	char *o = xmalloc(n + 1);
	size_t i, k = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			o[k++] = ' ';
			continue;
		}
		if (s[i] != '%') {
			if (s[i] == '\0')
				goto bad_nul;
			o[k++] = s[i];
			continue;
		}
		hi = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
		lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			*why = "a '%' is not followed by two hexadecimal "
			       "digits";
			free(o);
			return NULL;
		}
		if (hi == 0 && lo == 0)
			goto bad_nul;
		o[k++] = (char)(hi * 16 + lo);
		i += 2;
	}
	o[k] = '\0';
	return o;
bad_nul:
	*why = "the form holds a NUL byte";
	free(o);
	return NULL;
}

int
http_form_parse(const char *body, size_t len, struct http_form *f,
                const char **why)
{
	const char *dummy;
	size_t i = 0, start, eq, cap = 0;
	struct http_form_param *p;

	if (why == NULL)
		why = &dummy;
	f->p = NULL;
	f->n = 0;
	while (i < len) {
		start = i;
		while (i < len && body[i] != '&')
			i++;
		if (i > start) {
			if (f->n == HTTP_FORM_PARAMS_MAX) {
				*why = "the form has too many parameters";
				return -1;
			}
			if (f->n == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				f->p = xrealloc(f->p, cap * sizeof(*f->p));
			}
			for (eq = start; eq < i && body[eq] != '='; eq++)
				;
			p = &f->p[f->n];
			p->name = decode(body + start, eq - start, why);
			p->value = NULL;
			if (p->name == NULL)
				return -1;
			f->n++;
			p->value =
			        eq < i ? decode(body + eq + 1, i - eq - 1, why)
			               : decode("", 0, why);
			if (p->value == NULL)
				return -1;
		}
		i++;
	}
	return 0;
}

const char *
http_form_get(const struct http_form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->p[i].name, name) == 0)
			return f->p[i].value;
	return NULL;
}

void
http_form_clear(struct http_form *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->p[i].name);
		free(f->p[i].value);
	}
	free(f->p);
	f->p = NULL;
	f->n = 0;
}
