/*
 * test_bus_wire.c: the conversation bus's publications (bus_wire.c), made
 * and read back, and hostile ones refused case by case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bus_wire.h"

/* Parses the NUL-terminated s; 0 or -1. */
static int
parse(const char *s, struct bus_wire *w)
{
	return bus_wire_parse(s, strlen(s), w);
}

static void
test_round_trip(void **st)
{
	char buf[BUS_WIRE_HEADER_SIZE + 64];
	struct bus_wire w;
	size_t n;

	(void)st;
	n = bus_wire_header(buf, BUS_WIRE_HEADER_SIZE, "gw1/00ff", 42, 7,
	                    "chat", 9, 3);
	assert_int_equal(n, strlen("gw1/00ff 42 7 chat 9 3\n"));
	assert_string_equal(buf, "gw1/00ff 42 7 chat 9 3\n");
	memcpy(buf + n, "{\"a\":\"b\"}xyz", 12);
	assert_int_equal(bus_wire_parse(buf, n + 12, &w), 0);
	assert_int_equal(w.originlen, 8);
	assert_memory_equal(w.origin, "gw1/00ff", 8);
	assert_int_equal(w.conv, 42);
	assert_int_equal(w.seq, 7);
	assert_string_equal(w.channel, "chat");
	assert_int_equal(w.dlen, 9);
	assert_memory_equal(w.desks, "{\"a\":\"b\"}", 9);
	assert_int_equal(w.clen, 3);
	assert_memory_equal(w.chan, "xyz", 3);
}

static void
test_no_channel_no_bodies(void **st)
{
	char buf[BUS_WIRE_HEADER_SIZE];
	struct bus_wire w;

	(void)st;
	assert_int_not_equal(
	        bus_wire_header(buf, sizeof(buf), "a", 1, 0, NULL, 0, 0), 0);
	assert_string_equal(buf, "a 1 0 - 0 0\n");
	assert_int_equal(parse(buf, &w), 0);
	assert_string_equal(w.channel, "");
	assert_null(w.desks);
	assert_null(w.chan);
	assert_int_equal(w.dlen + w.clen, 0);
	/* Only the desks' body. */
	assert_int_equal(parse("a 1 0 - 2 0\n{}", &w), 0);
	assert_non_null(w.desks);
	assert_null(w.chan);
	/* Only the channel's. */
	assert_int_equal(parse("a 1 0 chat 0 2\nhi", &w), 0);
	assert_null(w.desks);
	assert_memory_equal(w.chan, "hi", 2);
}

static void
test_longest_header(void **st)
{
	char buf[BUS_WIRE_HEADER_SIZE], origin[BUS_WIRE_ORIGIN_MAX + 2],
	        channel[BUS_WIRE_CHANNEL_MAX + 2];
	struct bus_wire w;
	size_t n;

	(void)st;
	memset(origin, 'o', BUS_WIRE_ORIGIN_MAX);
	origin[BUS_WIRE_ORIGIN_MAX] = '\0';
	memset(channel, 'c', BUS_WIRE_CHANNEL_MAX);
	channel[BUS_WIRE_CHANNEL_MAX] = '\0';
	/* Every number 20 digits long: the longest line there is. */
	n = bus_wire_header(buf, sizeof(buf), origin, UINT64_MAX, UINT64_MAX,
	                    channel, SIZE_MAX, SIZE_MAX);
	assert_int_equal(n, BUS_WIRE_HEADER_MAX);
	assert_non_null(memchr(buf, '\n', BUS_WIRE_HEADER_MAX));
	n = bus_wire_header(buf, sizeof(buf), origin, UINT64_MAX, UINT64_MAX,
	                    channel, 0, 0);
	assert_int_equal(parse(buf, &w), 0);
	assert_int_equal(w.conv, UINT64_MAX);
	assert_int_equal(w.seq, UINT64_MAX);
	/* One byte too long each: refused both ways. */
	origin[BUS_WIRE_ORIGIN_MAX] = 'o';
	origin[BUS_WIRE_ORIGIN_MAX + 1] = '\0';
	assert_int_equal(
	        bus_wire_header(buf, sizeof(buf), origin, 1, 0, NULL, 0, 0), 0);
	channel[BUS_WIRE_CHANNEL_MAX] = 'c';
	channel[BUS_WIRE_CHANNEL_MAX + 1] = '\0';
	assert_int_equal(
	        bus_wire_header(buf, sizeof(buf), "a", 1, 0, channel, 0, 0), 0);
	/* Too small a buffer. */
	assert_int_equal(bus_wire_header(buf, BUS_WIRE_HEADER_MAX, "a", 1, 0,
	                                 NULL, 0, 0),
	                 0);
}

static void
test_header_refuses(void **st)
{
	char buf[BUS_WIRE_HEADER_SIZE];

	(void)st;
	assert_int_equal(
	        bus_wire_header(buf, sizeof(buf), "a", 0, 0, NULL, 0, 0), 0);
	assert_int_equal(
	        bus_wire_header(buf, sizeof(buf), "", 1, 0, NULL, 0, 0), 0);
	assert_int_equal(
	        bus_wire_header(buf, sizeof(buf), "a b", 1, 0, NULL, 0, 0), 0);
	assert_int_equal(
	        bus_wire_header(buf, sizeof(buf), NULL, 1, 0, NULL, 0, 0), 0);
	assert_int_equal(
	        bus_wire_header(buf, sizeof(buf), "a", 1, 0, "Chat", 0, 0), 0);
	assert_int_equal(bus_wire_header(buf, sizeof(buf), "a", 1, 0, "", 0, 0),
	                 0);
	assert_int_equal(
	        bus_wire_header(buf, sizeof(buf), "a", 1, 0, "-", 0, 0), 0);
	assert_true(bus_wire_origin_ok("gw-2.example:8080/ab_CD"));
	assert_false(bus_wire_origin_ok("é"));
	assert_true(bus_wire_channel_ok("web_form2"));
	assert_false(bus_wire_channel_ok("web-form"));
}

static void
test_parse_refuses(void **st)
{
	static const char *bad[] = {
	        "",
	        "\n",
	        "a 1 0 - 0 0",                       /* no newline */
	        "a 1 0 - 0\n",                       /* a word short */
	        "a 1 0 - 0 0 0\n",                   /* a word too many */
	        " 1 0 - 0 0\n",                      /* empty origin */
	        "a  1 0 - 0 0\n",                    /* two spaces */
	        "a 0 0 - 0 0\n",                     /* conversation 0 */
	        "a 01 0 - 0 0\n",                    /* leading zero */
	        "a -1 0 - 0 0\n",                    /* sign */
	        "a +1 0 - 0 0\n",                    /* sign */
	        "a 1 00 - 0 0\n",                    /* leading zero */
	        "a 18446744073709551616 0 - 0 0\n",  /* 2^64 */
	        "a 1 99999999999999999999 - 0 0\n",  /* over 2^64 */
	        "a 1 0 Chat 0 0\n",                  /* channel case */
	        "a 1 0 -- 0 0\n",                    /* not "-" */
	        "a 1 0  0 0\n",                      /* empty channel */
	        "a 1 0 - 1 0\n",                     /* body short */
	        "a 1 0 - 0 1\n",                     /* body short */
	        "a 1 0 - 0 0\nx",                    /* body long */
	        "a 1 0 - 1 1\nx",                    /* body short */
	        "a 1 0 - 0 0\r\n",                   /* CR */
	        "a\t1 0 - 0 0\n",                    /* tab */
	        "a 1 0 - 0x1 0\n",                   /* hex */
	        "a 1 0 - 18446744073709551615 1\nx", /* lengths overflow */
	        "a 1 0 - 1 18446744073709551615\nx",
	        "é 1 0 - 0 0\n", /* origin byte */
	};
	struct bus_wire w;
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &w) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
	}
	/* A NUL in a body, and in the header. */
	assert_int_equal(bus_wire_parse("a 1 0 - 3 0\nx\0y", 15, &w), -1);
	assert_int_equal(bus_wire_parse("a 1\0 0 - 0 0\n", 13, &w), -1);
	assert_int_equal(bus_wire_parse(NULL, 0, &w), -1);
	assert_int_equal(bus_wire_parse("a 1 0 - 0 0\n", 12, NULL), -1);
}

static void
test_header_too_long(void **st)
{
	char buf[BUS_WIRE_HEADER_MAX + 8];
	struct bus_wire w;

	(void)st;
	/* A newline only past the longest header is not one. */
	memset(buf, '1', sizeof(buf));
	buf[0] = 'a';
	buf[1] = ' ';
	buf[sizeof(buf) - 1] = '\n';
	assert_int_equal(bus_wire_parse(buf, sizeof(buf), &w), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_no_channel_no_bodies),
	        cmocka_unit_test(test_longest_header),
	        cmocka_unit_test(test_header_refuses),
	        cmocka_unit_test(test_parse_refuses),
	        cmocka_unit_test(test_header_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
