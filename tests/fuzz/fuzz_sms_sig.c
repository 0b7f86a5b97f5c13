/*
 * fuzz_sms_sig.c: libFuzzer harness for providers' webhook signatures
 * (channels/sms/sms_sig.c). The input is split at NUL bytes into a token,
 * a URL, a body and a header (the seeds in corpus/sms_sig are valid
 * Twilio requests, so the comparisons are reached). Each check runs on
 * it. No input may crash or leak; a check must answer 0 or 1, and the
 * form's the same on a second call.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sms_sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 4), *part[4];
	const char *tokens[2];
	size_t i, k = 0;
	int a, b;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	memset(buf + size, 0, 4);
	part[0] = buf;
	for (i = 0; i < size && k < 3; i++)
		if (buf[i] == '\0')
			part[++k] = buf + i + 1;
	while (k < 3)
		part[++k] = buf + size + 1;
	a = sms_sig_twilio_form(part[0], part[1], part[2], strlen(part[2]),
	                        part[3]);
	b = sms_sig_twilio_form(part[0], part[1], part[2], strlen(part[2]),
	                        part[3]);
	if ((a != 0 && a != 1) || a != b)
		abort();
	a = sms_sig_twilio_json(part[0], part[1], part[2], strlen(part[2]),
	                        part[3]);
	if (a != 0 && a != 1)
		abort();
	tokens[0] = part[0];
	tokens[1] = part[3];
	a = sms_sig_bearer(part[1], tokens, 2);
	if (a != 0 && a != 1)
		abort();
	free(buf);
	return 0;
}
