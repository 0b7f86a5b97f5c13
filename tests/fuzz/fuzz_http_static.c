/*
 * fuzz_http_static.c: libFuzzer harness for the request headers the static
 * files read (gateway/http/http_static.c): Accept-Encoding, If-None-Match and
 * the path below a folder. The input, as a C string (cut at its first NUL),
 * goes to each parser. A path accepted must hold no segment that is "..",
 * hidden or empty, and only the characters allowed; a tag list matching
 * neither tag nor "*" must not match.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(const char *s)
{
	const char *p;

	if (!http_static_path_ok(s))
		return;
	/* No segment starts with '.' (so none is ".." or hidden), none empty.
	 */
	if (strlen(s) > 200 || s[0] == '.' || s[0] == '/' ||
	    strstr(s, "/.") != NULL || strstr(s, "//") != NULL)
		abort();
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-/", *p) != NULL))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int g;

	memcpy(s, data, size);
	s[size] = '\0';
	g = http_static_accepts_gzip(s);
	if (g != 0 && g != 1)
		abort();
	/* Without a quote or a star, nothing can match. */
	if (strchr(s, '"') == NULL && strchr(s, '*') == NULL &&
	    http_static_etag_match(s, "\"abc\"", "\"abc-gz\""))
		abort();
	http_static_etag_match(s, "\"abc\"", NULL);
	check_path(s);
	free(s);
	return 0;
}
