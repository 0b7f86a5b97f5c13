/*
 * bus_wire.h: the conversation bus's publications on Redis (bus.h), made
 * and read. Pure: no I/O and no allocation, so the parser can be fuzzed
 * (tests/fuzz/fuzz_bus_wire.c) and unit tested case by case.
 *
 * A publication is one header line, then two bodies back to back:
 *
 *   <origin> <conv> <seq> <channel> <dlen> <clen>\n<desks><for channel>
 *
 *   origin   the publishing instance's tag: 1..BUS_WIRE_ORIGIN_MAX bytes
 *            of [A-Za-z0-9._:/-]. It comes first and holds no space, so
 *            an instance knows its own publications by their first bytes
 *            ("<origin> ") without parsing them.
 *   conv     the conversation, decimal, 1..2^64-1
 *   seq      the message number of a message, 0 for any other event
 *   channel  the channel whose hook gets the second body: 1..
 *            BUS_WIRE_CHANNEL_MAX bytes of [a-z0-9_], or "-" for none
 *   dlen     bytes of the desks' body (one JSON object), 0 for none
 *   clen     bytes of the channel's body, 0 for none
 *
 * Numbers are plain decimal digits (no sign, no leading zero but for 0
 * itself). The bodies fill the rest of the publication exactly and hold
 * no NUL byte. The bodies are text as the publisher serialised them: the
 * bus does not parse them to pass them on.
 */
#ifndef GW_BUS_WIRE_H
#define GW_BUS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define BUS_WIRE_ORIGIN_MAX  80
#define BUS_WIRE_CHANNEL_MAX 31
/* The longest header line: four 20-digit numbers, five spaces, a newline. */
#define BUS_WIRE_HEADER_MAX (BUS_WIRE_ORIGIN_MAX + BUS_WIRE_CHANNEL_MAX + 86)
/* A buffer for bus_wire_header: the longest line and snprintf's NUL. */
#define BUS_WIRE_HEADER_SIZE (BUS_WIRE_HEADER_MAX + 1)

/* A publication read: pointers into the parsed bytes, valid while they are. */
struct bus_wire {
	const char *origin;
	size_t originlen;
	uint64_t conv;
	uint64_t seq;
	char channel[BUS_WIRE_CHANNEL_MAX + 1]; /* "" for none */
	const char *desks;                      /* NULL when dlen is 0 */
	size_t dlen;
	const char *chan; /* NULL when clen is 0 */
	size_t clen;
};

/* 1 when s is a valid origin tag, a valid channel name. */
int bus_wire_origin_ok(const char *s);
int bus_wire_channel_ok(const char *s);

/*
 * Writes the header line of a publication into buf (size bytes, at least
 * BUS_WIRE_HEADER_SIZE; NUL-terminated) and returns its length, or 0 when an
 * argument is invalid (bad origin or channel, conv 0). channel NULL: none. The
 * publication is the header followed by the dlen and clen bytes.
 */
size_t bus_wire_header(char *buf, size_t size, const char *origin,
                       uint64_t conv, uint64_t seq, const char *channel,
                       size_t dlen, size_t clen);

/*
 * Parses a publication of len bytes (not NUL-terminated). Returns 0 and
 * fills w, or -1 when it is not a well-formed publication (w then
 * undefined).
 */
int bus_wire_parse(const char *p, size_t len, struct bus_wire *w);

#endif
