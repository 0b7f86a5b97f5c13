/*
 * fuzz_form.c: libFuzzer harness for web-form submissions
 * (channels/form/form_parse.c) and our signed-webhook scheme
 * (gateway/core/signed_hook.c). Each input is a submission body: an
 * accepted one must hold only what docs/integrations.md allows, a refused
 * one a known code and a reason. The input's first line is also tried as
 * the signature and timestamp headers: a verification never passes under
 * a secret it was not signed with, and a signature we make always passes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form_parse.h"
#include "fuzz_utf8.h"
#include "signed_hook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_text(const char *s, size_t max, int lines)
{
	const unsigned char *p;

	if (s == NULL)
		return;
	if (s[0] == '\0' && max != FORM_VALUE_MAX)
		abort();
	/* Not UTF-8 is (size_t)-1: more than any max. */
	if (fuzz_utf8_chars(s, strlen(s)) > max)
		abort();
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 || *p == 0x7f) &&
		    !(lines && (*p == '\t' || *p == '\n' || *p == '\r')))
			abort();
}

static void
check_accepted(const struct form_sub *s)
{
	size_t i, n, total = 0;

	if (s->root == NULL || s->submission_id == NULL)
		abort();
	n = strlen(s->submission_id);
	if (n == 0 || n > FORM_ID_MAX)
		abort();
	for (i = 0; i < n; i++)
		if (s->submission_id[i] < 0x21 || s->submission_id[i] > 0x7e)
			abort();
	if (s->submitted_ms < -1)
		abort();
	check_text(s->title, FORM_TITLE_MAX, 0);
	check_text(s->subject, FORM_SUBJECT_MAX, 0);
	check_text(s->name, FORM_NAME_MAX, 0);
	if (s->nids > FORM_IDS_MAX || s->nfields > FORM_FIELDS_MAX)
		abort();
	for (i = 0; i < s->nids; i++)
		if (s->ids[i].value[0] == '\0' ||
		    (i > 0 && s->ids[i].kind <= s->ids[i - 1].kind))
			abort();
	for (i = 0; i < s->nfields; i++) {
		check_text(s->fields[i].label, FORM_LABEL_MAX, 0);
		if (s->fields[i].label == NULL || s->fields[i].value == NULL)
			abort();
		check_text(s->fields[i].value, FORM_VALUE_MAX, 1);
		total +=
		        strlen(s->fields[i].label) + strlen(s->fields[i].value);
	}
	if (total > FORM_TOTAL_MAX)
		abort();
}

static void
fuzz_parse(const uint8_t *data, size_t size)
{
	struct form_sub sub;
	struct form_error err;
	long long ms;
	char line[64];
	size_t n;

	memset(&err, 0, sizeof(err));
	if (form_parse((const char *)data, size, &sub, &err) == 0) {
		check_accepted(&sub);
		form_sub_clear(&sub);
	} else if (err.code == NULL || err.why == NULL || err.why[0] == '\0' ||
	           sub.root != NULL || err.index < -1 ||
	           (strcmp(err.code, FORM_E_JSON) != 0 &&
	            strcmp(err.code, FORM_E_MISSING) != 0 &&
	            strcmp(err.code, FORM_E_TYPE) != 0 &&
	            strcmp(err.code, FORM_E_INVALID) != 0 &&
	            strcmp(err.code, FORM_E_TOO_LONG) != 0)) {
		abort();
	}
	n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
	memcpy(line, data, n);
	line[n] = '\0';
	if (form_rfc3339_ms(line, &ms) == 0 && ms < 0)
		abort();
}

static void
fuzz_signature(const uint8_t *data, size_t size)
{
	static const struct signed_hook_key keys[2] = {
	        {(const unsigned char *)"fuzz-secret-one-0123456789", 26},
	        {(const unsigned char *)"fuzz-secret-two-0123456789", 26},
	};
	const uint8_t *nl = memchr(data, '\n', size);
	char hdr[SIGNED_HOOK_HEADER_MAX + 64], sig[SIGNED_HOOK_SIG_SIZE];
	size_t n = nl ? (size_t)(nl - data) : size;
	const uint8_t *body = nl ? nl + 1 : data + size;
	size_t blen = size - (size_t)(body - data);
	enum signed_hook_result r;

	if (n >= sizeof(hdr))
		n = sizeof(hdr) - 1;
	memcpy(hdr, data, n);
	hdr[n] = '\0';
	/* The line as the signature: a random one never matches. */
	r = signed_hook_verify("1796601600", hdr, body, blen, keys, 2,
	                       1796601600);
	if (r == SIGNED_HOOK_OK || signed_hook_reason(r)[0] == '\0')
		abort();
	/* The line as the timestamp, with a real signature. */
	if (signed_hook_sign(sig, sizeof(sig), &keys[1], 1796601600, body,
	                     blen) != 0)
		abort();
	r = signed_hook_verify(hdr, sig, body, blen, keys, 2, 1796601600);
	if (r == SIGNED_HOOK_OK && strspn(hdr, " \t0123456789") != strlen(hdr))
		abort();
	if (signed_hook_verify("1796601600", sig, body, blen, keys, 2,
	                       1796601600) != SIGNED_HOOK_OK)
		abort();
	if (signed_hook_verify("1796601600", sig, body, blen, keys, 1,
	                       1796601600) != SIGNED_HOOK_MISMATCH)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(data, size);
	fuzz_signature(data, size);
	return 0;
}
