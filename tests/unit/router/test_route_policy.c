/*
 * test_route_policy.c: the queue policy's decisions (route_policy.h) in
 * Europe/London: open, closed with leave-a-message, closed refusing,
 * closed but queued, overflow (with and without an overflow queue), a
 * channel the queue does not take, per-channel rules, a closure day, both
 * 2026 DST weekends, a queue without hours, an unknown queue. Queues are
 * built by hand (struct route_queue is a plain type); expected instants
 * from timegm() and the known UK offset, as test_hours.c does.
 * Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hours.h"
#include "route_policy.h"

#define HM(h, m) ((h)*60 + (m))

#define assert_time(a, b) assert_int_equal((int64_t)(a), (int64_t)(b))

static time_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return timegm(&tm);
}

/* UK local time in 2026 (BST 29 Mar 01:00 UTC to 25 Oct 01:00 UTC). */
static time_t
uk(int y, int mo, int d, int h, int mi)
{
	time_t g = utc(y, mo, d, h, mi), b = g - 3600;

	if (b >= utc(2026, 3, 29, 1, 0) && b < utc(2026, 10, 25, 1, 0))
		return b;
	return g;
}

/* A queue "tax" (id 7), Monday to Friday 08:30-17:00, with channels. */
struct fixture {
	struct route_queue q;
	struct route_hours *h;
};

static void
add_chan(struct route_queue *q, const char *channel, const char *rule)
{
	struct route_queue_channel *c = &q->chans[q->nchans++];

	snprintf(c->channel, sizeof(c->channel), "%s", channel);
	snprintf(c->out_of_hours, sizeof(c->out_of_hours), "%s", rule);
}

static void
office(struct fixture *f, const char *chat_rule)
{
	int wd;

	memset(f, 0, sizeof(*f));
	f->h = route_hours_new();
	for (wd = 1; wd <= 5; wd++)
		assert_int_equal(route_hours_add_interval(f->h, wd, HM(8, 30),
		                                          HM(17, 0)),
		                 0);
	f->q.id = 7;
	snprintf(f->q.slug, sizeof(f->q.slug), "tax");
	f->q.name = "Council tax";
	f->q.message = "Closed for the night.";
	f->q.hours = f->h;
	if (chat_rule != NULL)
		add_chan(&f->q, "chat", chat_rule);
}

/* Tuesday 2026-01-13: 10:00 open, 20:00 closed (opens Wed 08:30). */
static void
test_open(void **state)
{
	struct fixture f;
	struct route_decision d;

	(void)state;
	office(&f, "closed");
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 13, 10, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	assert_true(d.open);
	assert_int_equal(d.queue, 7);
	assert_string_equal(d.slug, "tax");
	assert_string_equal(d.rule, "closed");
	assert_time(d.closes, uk(2026, 1, 13, 17, 0));
	assert_false(d.leave_message);
	assert_string_equal(d.overflow_id, "");
	/* The last second before closing, and closing itself. */
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 13, 17, 0) - 1, &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 13, 17, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_CLOSED);
	route_hours_free(f.h);
}

static void
test_closed_leave_message(void **state)
{
	struct fixture f;
	struct route_decision d;

	(void)state;
	office(&f, "leave_message");
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 13, 20, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_CLOSED);
	assert_false(d.open);
	assert_true(d.leave_message);
	assert_string_equal(d.message, "Closed for the night.");
	assert_string_equal(d.slug, "tax");
	assert_time(d.next_open, uk(2026, 1, 14, 8, 30));
	assert_int_equal(d.overflow, 0);
	route_hours_free(f.h);
}

static void
test_closed_refusing(void **state)
{
	struct fixture f;
	struct route_decision d;

	(void)state;
	office(&f, "closed");
	f.q.message = NULL; /* no message recorded: "" */
	/* Friday evening: opens Monday. */
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 16, 17, 30), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_CLOSED);
	assert_false(d.leave_message);
	assert_string_equal(d.message, "");
	assert_time(d.next_open, uk(2026, 1, 19, 8, 30));
	route_hours_free(f.h);
}

/* Rule "queue": closed, but the conversation waits for the opening. */
static void
test_closed_queued(void **state)
{
	struct fixture f;
	struct route_decision d;

	(void)state;
	office(&f, "queue");
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 13, 7, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	assert_false(d.open);
	assert_time(d.next_open, uk(2026, 1, 13, 8, 30));
	assert_false(d.leave_message);
	route_hours_free(f.h);
}

static void
test_overflow(void **state)
{
	struct fixture f;
	struct route_decision d;

	(void)state;
	office(&f, "overflow");
	f.q.overflow = 21;
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 13, 20, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OVERFLOW);
	assert_int_equal(d.overflow, 21);
	assert_string_equal(d.overflow_id, "21");
	assert_int_equal(d.queue, 7);
	/* Open: no overflow. */
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 13, 10, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	assert_int_equal(d.overflow, 0);
	assert_string_equal(d.overflow_id, "");
	/* No overflow queue: closed, refused. */
	f.q.overflow = 0;
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 13, 20, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_CLOSED);
	assert_false(d.leave_message);
	route_hours_free(f.h);
}

/* Each channel its own rule; a channel the queue does not take. */
static void
test_per_channel(void **state)
{
	struct fixture f;
	struct route_decision d;
	time_t night = uk(2026, 1, 13, 20, 0);

	(void)state;
	office(&f, "closed");
	add_chan(&f.q, "email", "queue");
	add_chan(&f.q, "sms", "leave_message");
	route_policy_evaluate(&f.q, "chat", night, &d);
	assert_int_equal(d.kind, ROUTE_POLICY_CLOSED);
	assert_false(d.leave_message);
	route_policy_evaluate(&f.q, "email", night, &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	assert_string_equal(d.rule, "queue");
	route_policy_evaluate(&f.q, "sms", night, &d);
	assert_int_equal(d.kind, ROUTE_POLICY_CLOSED);
	assert_true(d.leave_message);
	/* Not taken: rule "", closed out of hours, never a message. */
	route_policy_evaluate(&f.q, "form", night, &d);
	assert_int_equal(d.kind, ROUTE_POLICY_CLOSED);
	assert_string_equal(d.rule, "");
	assert_false(d.leave_message);
	assert_null(route_queues_rule(&f.q, "form"));
	assert_string_equal(route_queues_rule(&f.q, "sms"), "leave_message");
	route_hours_free(f.h);
}

/* Early May bank holiday, Monday 4 May 2026: closed all day. */
static void
test_closure_day(void **state)
{
	struct fixture f;
	struct route_decision d;

	(void)state;
	office(&f, "leave_message");
	assert_int_equal(route_hours_add_closure(f.h, 2026, 5, 4), 0);
	route_policy_evaluate(&f.q, "chat", uk(2026, 5, 4, 10, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_CLOSED);
	assert_true(d.leave_message);
	assert_time(d.next_open, uk(2026, 5, 5, 8, 30));
	/* The day after: open. */
	route_policy_evaluate(&f.q, "chat", uk(2026, 5, 5, 10, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	assert_true(d.open);
	route_hours_free(f.h);
}

/* Friday evenings before both 2026 changes: Monday 08:30 local. */
static void
test_dst(void **state)
{
	struct fixture f;
	struct route_decision d;

	(void)state;
	office(&f, "overflow");
	f.q.overflow = 21;
	/* Spring: closes 17:00 GMT, opens Monday 08:30 BST (07:30 UTC). */
	route_policy_evaluate(&f.q, "chat", utc(2026, 3, 27, 18, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OVERFLOW);
	assert_time(d.next_open, utc(2026, 3, 30, 7, 30));
	route_policy_evaluate(&f.q, "chat", utc(2026, 3, 30, 7, 30), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	assert_time(d.closes, utc(2026, 3, 30, 16, 0));
	/* Autumn: Friday 17:00 BST (16:00 UTC), Monday 08:30 GMT. */
	route_policy_evaluate(&f.q, "chat", utc(2026, 10, 23, 16, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OVERFLOW);
	assert_time(d.next_open, utc(2026, 10, 26, 8, 30));
	route_policy_evaluate(&f.q, "chat", utc(2026, 10, 26, 8, 29), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OVERFLOW);
	route_hours_free(f.h);
}

/* No hours recorded (the loader's always-open flag): never closes. */
static void
test_always_open(void **state)
{
	struct fixture f;
	struct route_decision d;

	(void)state;
	office(&f, "closed");
	route_hours_free(f.h);
	f.h = route_hours_new();
	route_hours_set_always_open(f.h, 1);
	f.q.hours = f.h;
	route_policy_evaluate(&f.q, "chat", uk(2026, 1, 17, 3, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	assert_true(d.open);
	assert_time(d.closes, ROUTE_HOURS_NEVER);
	/* Closure days still close it; it opens the next midnight. */
	assert_int_equal(route_hours_add_closure(f.h, 2026, 12, 25), 0);
	route_policy_evaluate(&f.q, "chat", uk(2026, 12, 25, 12, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_CLOSED);
	assert_time(d.next_open, uk(2026, 12, 26, 0, 0));
	route_hours_free(f.h);
}

/* A queue nobody knows: started as asked (the store refuses it). */
static void
test_unknown_queue(void **state)
{
	struct route_decision d;

	(void)state;
	memset(&d, 0x5a, sizeof(d));
	route_policy_evaluate(NULL, "chat", uk(2026, 1, 13, 20, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	assert_int_equal(d.queue, 0);
	assert_string_equal(d.slug, "");
	assert_string_equal(d.message, "");
	assert_string_equal(d.rule, "");
	assert_string_equal(d.overflow_id, "");
	route_policy_decide(NULL, NULL, "chat", uk(2026, 1, 13, 20, 0), &d);
	assert_int_equal(d.kind, ROUTE_POLICY_OPEN);
	assert_int_equal(d.queue, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_open),
	        cmocka_unit_test(test_closed_leave_message),
	        cmocka_unit_test(test_closed_refusing),
	        cmocka_unit_test(test_closed_queued),
	        cmocka_unit_test(test_overflow),
	        cmocka_unit_test(test_per_channel),
	        cmocka_unit_test(test_closure_day),
	        cmocka_unit_test(test_dst),
	        cmocka_unit_test(test_always_open),
	        cmocka_unit_test(test_unknown_queue),
	};

	setenv("TZ", "Europe/London", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
