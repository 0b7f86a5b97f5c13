/*
 * fuzz_email_normalise.c: libFuzzer harness for the MIME -> message
 * normaliser (channels/email/email_normalise.c, behind the parser). Each
 * input is a raw message: parsed, then normalised as the channel will hand
 * it to ingest. Checked: never fails; name, subject, body and every thread
 * key valid UTF-8 and within ingest's caps; the metadata a JSON object
 * under ingest's cap; the identity, when there is one, a normalised email
 * address; a reference, when found, "SB" and digits. Leaks are caught by
 * the sanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "email_mime.h"
#include "email_normalise.h"
#include "fuzz_utf8.h"
#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const char *s, size_t max)
{
	if (s == NULL || strlen(s) > max ||
	    fuzz_utf8_chars(s, strlen(s)) == (size_t)-1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ours[] = {"council@example.gov.uk"};
	struct email_mime_limits lim = {8, 40, 64 * 1024, 4096, 16384};
	char norm[IDENTITY_VALUE_MAX + 1];
	struct email_mime_msg m;
	struct email_normal n;
	json_t *meta;
	size_t i;

	email_mime_parse(data, size, &lim, &m);
	email_normalise(&m, ours, 1, &n);
	if (n.name != NULL)
		check(n.name, (size_t)-1);
	check(n.subject, (size_t)-1);
	check(n.body, INGEST_BODY_MAX);
	check(n.metadata, INGEST_METADATA_MAX);
	meta = json_loads(n.metadata, 0, NULL);
	if (!json_is_object(meta))
		abort();
	json_decref(meta);
	if (n.nfind > EMAIL_NORMAL_KEYS_MAX || n.nadd > 2)
		abort();
	for (i = 0; i < n.nfind; i++)
		check(n.find[i], INGEST_KEY_MAX);
	for (i = 0; i < n.nadd; i++)
		check(n.add[i], INGEST_KEY_MAX);
	if (n.has_id && (identity_normalise(IDENTITY_EMAIL, n.id.value, norm,
	                                    sizeof(norm), NULL) != 0 ||
	                 strcmp(norm, n.id.value) != 0))
		abort();
	if (n.reference[0] != '\0' &&
	    (strncmp(n.reference, "SB", 2) != 0 ||
	     strspn(n.reference + 2, "0123456789") != strlen(n.reference + 2)))
		abort();
	email_normal_free(&n);
	email_mime_free(&m);
	return 0;
}
