/*
 * route_id.h: the strict parser of the decimal ids (conversations, staff,
 * queues) that the desk protocol and the queue list carry as strings.
 * Pure; any thread.
 */
#ifndef GW_ROUTE_ID_H
#define GW_ROUTE_ID_H

#include <stdint.h>
#include <string.h>

/*
 * "123" -> 123; 0 for anything that is not a positive decimal id of at
 * most 18 digits (NULL, "", "12a", "-1", a slug).
 */
static inline uint64_t
route_id_parse(const char *s)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 18)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v;
}

#endif
