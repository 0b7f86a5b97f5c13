/*
 * fuzz_bus_wire.c: libFuzzer harness for the conversation bus's
 * publications (gateway/core/bus_wire.c), which arrive from Redis. A
 * publication parsed is checked against its contract (the bodies fill the
 * rest exactly, the words are valid), then made again from what was read:
 * the header written must be the one parsed, byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char origin[BUS_WIRE_ORIGIN_MAX + 1], hdr[BUS_WIRE_HEADER_SIZE];
	struct bus_wire w;
	size_t n;

	if (bus_wire_parse(p, size, &w) != 0)
		return 0;
	if (w.originlen == 0 || w.originlen > BUS_WIRE_ORIGIN_MAX ||
	    w.origin != p || w.conv == 0)
		abort();
	memcpy(origin, w.origin, w.originlen);
	origin[w.originlen] = '\0';
	n = bus_wire_header(hdr, sizeof(hdr), origin, w.conv, w.seq,
	                    w.channel[0] != '\0' ? w.channel : NULL, w.dlen,
	                    w.clen);
	if (n == 0 || n + w.dlen + w.clen != size || memcmp(hdr, p, n) != 0)
		abort();
	if ((w.dlen > 0) != (w.desks != NULL) ||
	    (w.clen > 0) != (w.chan != NULL))
		abort();
	if (w.desks != NULL && w.desks != p + n)
		abort();
	if (w.chan != NULL && w.chan != p + n + w.dlen)
		abort();
	return 0;
}
