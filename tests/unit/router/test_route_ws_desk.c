/*
 * test_route_ws_desk.c: the desk protocol's tables (route_ws_desk.c):
 * every desk message of docs/routing-protocol.md is in DESK_OPS with its
 * answer's type, anything else (a hook's chat.*, a resident's, a near
 * miss, hostile types) is not, so route_ws_desk_message answers it
 * unknown_type or hands it to a hook; every routing event a desk hears of
 * is built by PUSHES as the protocol says, and the others build nothing.
 * The sending itself is covered by tests/integration/test_routing.py.
 * Single-threaded, no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "route_ws-int.h"

static void
test_every_desk_message(void **state)
{
	static const char *const known[][2] = {
	        {"desk.status", "desk.status.ok"},
	        {"desk.logout", "desk.logged_out"},
	        {"offer.accept", "offer.accepted"},
	        {"offer.reject", "offer.rejected"},
	        {"conversation.release", "conversation.released"},
	        {"conversation.wrap_up", "conversation.wrapped_up"},
	        {"conversation.transfer", "conversation.transferred"},
	        {"conversation.pick", "conversation.picked"},
	        {"queue.view", "queue.view"},
	        {"queue.unwatch", "queue.unwatched"},
	        {"wallboard.watch", "wallboard.watching"},
	        {"wallboard.unwatch", "wallboard.unwatched"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const char *r = route_ws_desk_reply(known[i][0]);

		assert_non_null(r);
		assert_string_equal(r, known[i][1]);
	}
}

static void
test_unknown_types(void **state)
{
	static const char *const unknown[] = {
	        "",
	        "teleport",
	        "chat.start", /* retired on switchboard.v1 */
	        "chat.leave",
	        "conversation.reply", /* the core's hook, not route_ws's */
	        "desk.status.ok",
	        "Desk.Status",
	        "desk.status ",
	        "desk",
	        "offer",
	        "offer.accepted",
	        "conversation.",
	        "queue.view\n",
	        "wallboard.watch.x",
	};
	char longtype[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_null(route_ws_desk_reply(unknown[i]));
	memset(longtype, 'a', sizeof(longtype) - 1);
	longtype[sizeof(longtype) - 1] = '\0';
	assert_null(route_ws_desk_reply(longtype));
}

static const char *
field(json_t *m, const char *name)
{
	const char *s = json_string_value(json_object_get(m, name));

	assert_non_null(s);
	return s;
}

static void
extras(struct route_event *ev, const char *const *x, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		ev->extra[i] = x[i];
	ev->nextra = n;
}

static void
test_pushes(void **state)
{
	static const char *const removed[] = {"timed_out",   "requeued",
	                                      "transferred", "released",
	                                      "rejected",    "withdrawn"};
	static const char *const offer_extra[] = {"21", "chat", "1700000000000",
	                                          "1500"};
	static const char *const ended_extra[] = {"21", "chat", "x",
	                                          "1700000060000"};
	static const char *const status_extra[] = {"available", "",
	                                           "chat=3,email=5"};
	struct route_event ev;
	json_t *m;
	size_t i;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.conv = "42";
	ev.advisor = "7";

	ev.kind = "offered";
	extras(&ev, offer_extra, 4);
	m = route_ws_desk_push(&ev);
	assert_non_null(m);
	assert_string_equal(field(m, "type"), "offer");
	assert_string_equal(field(m, "conversation"), "42");
	assert_string_equal(field(m, "queue"), "21");
	assert_string_equal(field(m, "channel"), "chat");
	assert_int_equal(json_integer_value(json_object_get(m, "deadline_ms")),
	                 1700000000000LL);
	assert_int_equal(json_integer_value(json_object_get(m, "waited_ms")),
	                 1500);
	json_decref(m);
	/* An offer missing its extras: empty and zero, never a crash. */
	ev.nextra = 0;
	m = route_ws_desk_push(&ev);
	assert_string_equal(field(m, "queue"), "");
	assert_int_equal(json_integer_value(json_object_get(m, "deadline_ms")),
	                 0);
	json_decref(m);

	ev.kind = "accepted";
	m = route_ws_desk_push(&ev);
	assert_string_equal(field(m, "type"), "conversation.assigned");
	json_decref(m);

	ev.kind = "ended";
	extras(&ev, ended_extra, 4);
	m = route_ws_desk_push(&ev);
	assert_string_equal(field(m, "type"), "conversation.ended");
	assert_int_equal(
	        json_integer_value(json_object_get(m, "wrap_up_until_ms")),
	        1700000060000LL);
	json_decref(m);
	ev.kind = "acw_expired";
	m = route_ws_desk_push(&ev);
	assert_string_equal(field(m, "type"), "conversation.ended");
	assert_int_equal(
	        json_integer_value(json_object_get(m, "wrap_up_until_ms")), 0);
	json_decref(m);

	for (i = 0; i < sizeof(removed) / sizeof(removed[0]); i++) {
		ev.kind = removed[i];
		m = route_ws_desk_push(&ev);
		assert_non_null(m);
		assert_string_equal(field(m, "type"), "conversation.removed");
		assert_string_equal(field(m, "reason"), removed[i]);
		json_decref(m);
	}

	ev.kind = "status";
	extras(&ev, status_extra, 3);
	m = route_ws_desk_push(&ev);
	assert_string_equal(field(m, "type"), "desk.status");
	assert_string_equal(field(m, "status"), "available");
	assert_int_equal(json_integer_value(json_object_get(
	                         json_object_get(m, "capacity"), "email")),
	                 5);
	json_decref(m);

	/* Events a desk is not told of. */
	ev.nextra = 0;
	ev.kind = "queued";
	assert_null(route_ws_desk_push(&ev));
	ev.kind = "overflowed";
	assert_null(route_ws_desk_push(&ev));
	ev.kind = "offered ";
	assert_null(route_ws_desk_push(&ev));
	ev.kind = "";
	assert_null(route_ws_desk_push(&ev));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_desk_message),
	        cmocka_unit_test(test_unknown_types),
	        cmocka_unit_test(test_pushes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
