/*
 * text.c: small checks of text from outside (text.h). Pure, any thread.
 * Locale-free on purpose: isxdigit would follow the process's locale.
 */
#include <stddef.h>
#include <string.h>

#include "text.h"

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

int
text_is_uuid(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != TEXT_UUID_LEN)
		return 0;
	for (i = 0; i < TEXT_UUID_LEN; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return 0;
	}
	return 1;
}

size_t
text_utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}
