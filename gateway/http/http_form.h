/*
 * http_form.h: decoding an application/x-www-form-urlencoded body (the
 * providers' webhooks: Twilio's SMS, status and voice callbacks). Pure: no
 * I/O, no global state, any thread; fuzzed by tests/fuzz/fuzz_http_form.c.
 *
 * '+' is a space and %XX a byte. Strict: a '%' not followed by two hex
 * digits, a decoded NUL, or more than HTTP_FORM_PARAMS_MAX parameters
 * make the body malformed. Empty segments ("a=1&&b=2") are skipped; a
 * parameter without '=' has the empty value. Names repeat as sent.
 *
 * Ownership: the form owns its strings; clear it with http_form_clear
 * after http_form_parse, whatever that returned.
 */
#ifndef GW_HTTP_FORM_H
#define GW_HTTP_FORM_H

#include <stddef.h>

#define HTTP_FORM_PARAMS_MAX 256

struct http_form_param {
	char *name;
	char *value;
};

struct http_form {
	struct http_form_param *p;
	size_t n;
};

/*
 * Decodes body[0..len) into f (emptied first). 0, or -1 when malformed
 * (*why, when why is not NULL, a static sentence: which rule).
 */
int http_form_parse(const char *body, size_t len, struct http_form *f,
                    const char **why);
/* The first value of name, or NULL. */
const char *http_form_get(const struct http_form *f, const char *name);
/* Frees what f holds; f is then empty. */
void http_form_clear(struct http_form *f);

#endif
