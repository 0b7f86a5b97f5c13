/*
 * test_hours.c: route_hours in Europe/London — interval edges, lunch
 * gaps, weekends, England & Wales 2026 bank holidays, the Christmas run of
 * closures, both 2026 DST weekends, 24:00 and 24/7 hours, the always-open
 * flag, the horizon and refused input. Expected instants are built
 * independently of the code under test, from timegm() and the known UK
 * offset. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "hours.h"

#define MIN(h, m) ((h)*60 + (m))
#define DAY       86400

#define assert_time(a, b) assert_int_equal((int64_t)(a), (int64_t)(b))

enum { MON = 1, TUE, WED, THU, FRI, SAT, SUN };

static time_t
utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return timegm(&tm);
}

/*
 * A UK local time from Dec 2025 to Feb 2027: BST (UTC+1) from 29 Mar 2026
 * 01:00 UTC to 25 Oct 2026 01:00 UTC, GMT otherwise. Only for local times
 * that exist exactly once; DST-night cases spell out UTC instead.
 */
static time_t
uk(int y, int mo, int d, int h, int mi, int s)
{
	time_t g = utc(y, mo, d, h, mi, s), b = g - 3600;

	if (b >= utc(2026, 3, 29, 1, 0, 0) && b < utc(2026, 10, 25, 1, 0, 0))
		return b;
	return g;
}

/* Monday to Friday 08:30-17:00. */
static struct route_hours *
office(void)
{
	struct route_hours *h = route_hours_new();
	int wd;

	for (wd = MON; wd <= FRI; wd++)
		assert_int_equal(
		        route_hours_add_interval(h, wd, MIN(8, 30), MIN(17, 0)),
		        0);
	return h;
}

static struct route_hours *
all_week(void)
{
	struct route_hours *h = route_hours_new();
	int wd;

	for (wd = MON; wd <= SUN; wd++)
		assert_int_equal(route_hours_add_interval(h, wd, 0, 1440), 0);
	return h;
}

/* England and Wales, 2026. */
static void
bank_holidays_2026(struct route_hours *h)
{
	static const int days[][2] = {{1, 1},  {4, 3},  {4, 6},   {5, 4},
	                              {5, 25}, {8, 31}, {12, 25}, {12, 28}};
	size_t i;

	for (i = 0; i < sizeof(days) / sizeof(days[0]); i++)
		assert_int_equal(route_hours_add_closure(h, 2026, days[i][0],
		                                         days[i][1]),
		                 0);
}

/* The test's own idea of UK time agrees with the zone database. */
static void
test_zone_sanity(void **state)
{
	struct tm tm;
	time_t t;

	(void)state;
	t = utc(2026, 7, 1, 12, 0, 0);
	assert_non_null(localtime_r(&t, &tm));
	assert_int_equal(tm.tm_hour, 13);
	t = utc(2026, 1, 1, 12, 0, 0);
	assert_non_null(localtime_r(&t, &tm));
	assert_int_equal(tm.tm_hour, 12);
	assert_time(uk(2026, 7, 13, 8, 30, 0), utc(2026, 7, 13, 7, 30, 0));
	assert_time(uk(2026, 1, 12, 8, 30, 0), utc(2026, 1, 12, 8, 30, 0));
}

static void
test_free_null(void **state)
{
	(void)state;
	route_hours_free(NULL);
}

static void
test_edges_winter(void **state)
{
	struct route_hours *h = office();

	(void)state;
	assert_false(route_hours_is_open(h, uk(2026, 1, 12, 0, 0, 0)));
	assert_false(route_hours_is_open(h, uk(2026, 1, 12, 8, 29, 59)));
	assert_true(route_hours_is_open(h, uk(2026, 1, 12, 8, 30, 0)));
	assert_true(route_hours_is_open(h, uk(2026, 1, 12, 12, 0, 0)));
	assert_true(route_hours_is_open(h, uk(2026, 1, 12, 16, 59, 59)));
	assert_false(route_hours_is_open(h, uk(2026, 1, 12, 17, 0, 0)));
	assert_false(route_hours_is_open(h, uk(2026, 1, 12, 23, 59, 59)));
	assert_time(route_hours_next_open(h, uk(2026, 1, 12, 8, 29, 59)),
	            uk(2026, 1, 12, 8, 30, 0));
	assert_time(route_hours_next_open(h, uk(2026, 1, 12, 0, 0, 0)),
	            uk(2026, 1, 12, 8, 30, 0));
	assert_time(route_hours_next_open(h, uk(2026, 1, 12, 10, 0, 0)),
	            uk(2026, 1, 12, 10, 0, 0));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 12, 8, 30, 0)),
	            uk(2026, 1, 12, 17, 0, 0));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 12, 16, 59, 59)),
	            uk(2026, 1, 12, 17, 0, 0));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 12, 17, 0, 0)), -1);
	assert_time(route_hours_next_open(h, uk(2026, 1, 12, 17, 0, 0)),
	            uk(2026, 1, 13, 8, 30, 0));
	assert_time(route_hours_next_open(h, uk(2026, 1, 12, 20, 0, 0)),
	            uk(2026, 1, 13, 8, 30, 0));
	route_hours_free(h);
}

static void
test_edges_summer(void **state)
{
	struct route_hours *h = office();

	(void)state;
	assert_false(route_hours_is_open(h, utc(2026, 7, 13, 7, 29, 59)));
	assert_true(route_hours_is_open(h, utc(2026, 7, 13, 7, 30, 0)));
	assert_true(route_hours_is_open(h, utc(2026, 7, 13, 15, 59, 59)));
	assert_false(route_hours_is_open(h, utc(2026, 7, 13, 16, 0, 0)));
	assert_time(route_hours_next_open(h, utc(2026, 7, 13, 5, 0, 0)),
	            utc(2026, 7, 13, 7, 30, 0));
	assert_time(route_hours_closes_at(h, utc(2026, 7, 13, 9, 0, 0)),
	            utc(2026, 7, 13, 16, 0, 0));
	/* 23:30 UTC on Monday is already Tuesday 00:30 BST. */
	assert_time(route_hours_next_open(h, utc(2026, 7, 13, 23, 30, 0)),
	            utc(2026, 7, 14, 7, 30, 0));
	route_hours_free(h);
}

static void
test_lunch_gap(void **state)
{
	struct route_hours *h = route_hours_new();
	int wd;

	(void)state;
	/* Afternoon first: order of insertion must not matter. */
	for (wd = MON; wd <= FRI; wd++) {
		assert_int_equal(route_hours_add_interval(h, wd, MIN(13, 30),
		                                          MIN(17, 0)),
		                 0);
		assert_int_equal(route_hours_add_interval(h, wd, MIN(8, 30),
		                                          MIN(12, 30)),
		                 0);
	}
	assert_true(route_hours_is_open(h, uk(2026, 1, 13, 12, 29, 59)));
	assert_false(route_hours_is_open(h, uk(2026, 1, 13, 12, 30, 0)));
	assert_false(route_hours_is_open(h, uk(2026, 1, 13, 13, 29, 59)));
	assert_true(route_hours_is_open(h, uk(2026, 1, 13, 13, 30, 0)));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 13, 10, 0, 0)),
	            uk(2026, 1, 13, 12, 30, 0));
	assert_time(route_hours_next_open(h, uk(2026, 1, 13, 12, 30, 0)),
	            uk(2026, 1, 13, 13, 30, 0));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 13, 13, 30, 0)),
	            uk(2026, 1, 13, 17, 0, 0));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 13, 12, 45, 0)), -1);
	route_hours_free(h);
}

static void
test_weekend(void **state)
{
	struct route_hours *h = office();

	(void)state;
	assert_false(route_hours_is_open(h, uk(2026, 1, 10, 12, 0, 0)));
	assert_false(route_hours_is_open(h, uk(2026, 1, 11, 9, 0, 0)));
	assert_true(route_hours_is_open(h, uk(2026, 1, 9, 16, 59, 59)));
	assert_time(route_hours_next_open(h, uk(2026, 1, 9, 16, 59, 59)),
	            uk(2026, 1, 9, 16, 59, 59));
	assert_time(route_hours_next_open(h, uk(2026, 1, 9, 17, 0, 0)),
	            uk(2026, 1, 12, 8, 30, 0));
	assert_time(route_hours_next_open(h, uk(2026, 1, 10, 12, 0, 0)),
	            uk(2026, 1, 12, 8, 30, 0));
	assert_time(route_hours_next_open(h, uk(2026, 1, 11, 23, 59, 59)),
	            uk(2026, 1, 12, 8, 30, 0));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 10, 12, 0, 0)), -1);
	route_hours_free(h);
}

static void
test_bank_holiday_monday(void **state)
{
	struct route_hours *h = office();

	(void)state;
	bank_holidays_2026(h);
	/* Early May: Monday 4 May. */
	assert_false(route_hours_is_open(h, uk(2026, 5, 4, 10, 0, 0)));
	assert_time(route_hours_closes_at(h, uk(2026, 5, 4, 10, 0, 0)), -1);
	assert_time(route_hours_next_open(h, uk(2026, 5, 1, 17, 0, 0)),
	            uk(2026, 5, 5, 8, 30, 0));
	assert_time(route_hours_next_open(h, uk(2026, 5, 4, 10, 0, 0)),
	            uk(2026, 5, 5, 8, 30, 0));
	assert_time(uk(2026, 5, 5, 8, 30, 0), utc(2026, 5, 5, 7, 30, 0));
	/* Spring bank holiday and summer bank holiday. */
	assert_time(route_hours_next_open(h, uk(2026, 5, 22, 17, 0, 0)),
	            uk(2026, 5, 26, 8, 30, 0));
	assert_time(route_hours_next_open(h, uk(2026, 8, 28, 17, 0, 0)),
	            uk(2026, 9, 1, 8, 30, 0));
	/* The Friday before is an ordinary day. */
	assert_time(route_hours_closes_at(h, uk(2026, 5, 1, 9, 0, 0)),
	            uk(2026, 5, 1, 17, 0, 0));
	route_hours_free(h);
}

static void
test_easter_and_new_year(void **state)
{
	struct route_hours *h = office();

	(void)state;
	bank_holidays_2026(h);
	assert_false(route_hours_is_open(h, uk(2026, 4, 3, 10, 0, 0)));
	assert_false(route_hours_is_open(h, uk(2026, 4, 6, 10, 0, 0)));
	assert_time(route_hours_next_open(h, uk(2026, 4, 2, 17, 0, 0)),
	            uk(2026, 4, 7, 8, 30, 0));
	assert_false(route_hours_is_open(h, uk(2026, 1, 1, 10, 0, 0)));
	assert_time(route_hours_next_open(h, uk(2025, 12, 31, 17, 0, 0)),
	            uk(2026, 1, 2, 8, 30, 0));
	route_hours_free(h);
}

static void
test_christmas(void **state)
{
	struct route_hours *h = office();
	int d;

	(void)state;
	bank_holidays_2026(h);
	assert_time(route_hours_closes_at(h, uk(2026, 12, 24, 12, 0, 0)),
	            uk(2026, 12, 24, 17, 0, 0));
	for (d = 25; d <= 28; d++)
		assert_false(route_hours_is_open(h, uk(2026, 12, d, 12, 0, 0)));
	assert_time(route_hours_next_open(h, uk(2026, 12, 24, 17, 0, 0)),
	            uk(2026, 12, 29, 8, 30, 0));
	assert_time(route_hours_next_open(h, uk(2026, 12, 28, 23, 0, 0)),
	            uk(2026, 12, 29, 8, 30, 0));
	/* Council closure between Christmas and New Year, added backwards,
	 * then New Year's Day 2027 (a Friday). */
	for (d = 31; d >= 29; d--)
		assert_int_equal(route_hours_add_closure(h, 2026, 12, d), 0);
	assert_int_equal(route_hours_add_closure(h, 2027, 1, 1), 0);
	assert_time(route_hours_next_open(h, uk(2026, 12, 24, 17, 0, 0)),
	            uk(2027, 1, 4, 8, 30, 0));
	assert_false(route_hours_is_open(h, uk(2026, 12, 30, 10, 0, 0)));
	assert_true(route_hours_is_open(h, uk(2027, 1, 4, 8, 30, 0)));
	route_hours_free(h);
}

static void
test_christmas_24x7(void **state)
{
	struct route_hours *h = all_week();

	(void)state;
	assert_int_equal(route_hours_add_closure(h, 2026, 12, 28), 0);
	assert_int_equal(route_hours_add_closure(h, 2026, 12, 25), 0);
	assert_int_equal(route_hours_add_closure(h, 2026, 12, 26), 0);
	assert_time(route_hours_closes_at(h, uk(2026, 12, 24, 12, 0, 0)),
	            uk(2026, 12, 25, 0, 0, 0));
	assert_true(route_hours_is_open(h, uk(2026, 12, 24, 23, 59, 59)));
	assert_false(route_hours_is_open(h, uk(2026, 12, 25, 0, 0, 0)));
	assert_time(route_hours_next_open(h, uk(2026, 12, 25, 12, 0, 0)),
	            uk(2026, 12, 27, 0, 0, 0));
	assert_time(route_hours_closes_at(h, uk(2026, 12, 27, 0, 0, 0)),
	            uk(2026, 12, 28, 0, 0, 0));
	assert_time(route_hours_next_open(h, uk(2026, 12, 28, 10, 0, 0)),
	            uk(2026, 12, 29, 0, 0, 0));
	assert_time(route_hours_closes_at(h, uk(2026, 12, 29, 0, 0, 0)),
	            ROUTE_HOURS_NEVER);
	route_hours_free(h);
}

/* Spring forward, Sunday 29 March 2026: 01:00 GMT -> 02:00 BST. */
static void
test_dst_spring_day_hours(void **state)
{
	struct route_hours *h = office();

	(void)state;
	assert_int_equal(
	        route_hours_add_interval(h, SAT, MIN(10, 0), MIN(16, 0)), 0);
	assert_int_equal(
	        route_hours_add_interval(h, SUN, MIN(10, 0), MIN(16, 0)), 0);
	assert_time(route_hours_closes_at(h, utc(2026, 3, 28, 12, 0, 0)),
	            utc(2026, 3, 28, 16, 0, 0));
	assert_time(route_hours_next_open(h, utc(2026, 3, 28, 16, 0, 0)),
	            utc(2026, 3, 29, 9, 0, 0));
	assert_false(route_hours_is_open(h, utc(2026, 3, 29, 8, 59, 59)));
	assert_true(route_hours_is_open(h, utc(2026, 3, 29, 9, 0, 0)));
	assert_time(route_hours_closes_at(h, utc(2026, 3, 29, 9, 0, 0)),
	            utc(2026, 3, 29, 15, 0, 0));
	assert_time(route_hours_next_open(h, utc(2026, 3, 29, 15, 0, 0)),
	            utc(2026, 3, 30, 7, 30, 0));
	assert_time(route_hours_closes_at(h, utc(2026, 3, 30, 7, 30, 0)),
	            utc(2026, 3, 30, 16, 0, 0));
	assert_false(route_hours_is_open(h, utc(2026, 3, 30, 7, 29, 59)));
	route_hours_free(h);
}

static void
test_dst_spring_gap(void **state)
{
	struct route_hours *h = route_hours_new();

	(void)state;
	/* Entirely inside the gap: never open that Sunday. */
	assert_int_equal(route_hours_add_interval(h, SUN, MIN(1, 0), MIN(2, 0)),
	                 0);
	assert_true(route_hours_is_open(h, utc(2026, 3, 22, 1, 30, 0)));
	assert_false(route_hours_is_open(h, utc(2026, 3, 29, 0, 59, 59)));
	assert_false(route_hours_is_open(h, utc(2026, 3, 29, 1, 0, 0)));
	assert_time(route_hours_next_open(h, utc(2026, 3, 22, 2, 0, 0)),
	            utc(2026, 4, 5, 0, 0, 0));
	assert_time(route_hours_next_open(h, utc(2026, 3, 28, 23, 0, 0)),
	            utc(2026, 4, 5, 0, 0, 0));
	assert_time(route_hours_closes_at(h, utc(2026, 4, 5, 0, 0, 0)),
	            utc(2026, 4, 5, 1, 0, 0));
	route_hours_free(h);
}

static void
test_dst_spring_partial(void **state)
{
	struct route_hours *a = route_hours_new();
	struct route_hours *b = route_hours_new();

	(void)state;
	/* Ends in the gap: closes at the jump. */
	assert_int_equal(
	        route_hours_add_interval(a, SUN, MIN(0, 30), MIN(1, 30)), 0);
	assert_true(route_hours_is_open(a, utc(2026, 3, 29, 0, 45, 0)));
	assert_true(route_hours_is_open(a, utc(2026, 3, 29, 0, 59, 59)));
	assert_false(route_hours_is_open(a, utc(2026, 3, 29, 1, 0, 0)));
	assert_time(route_hours_closes_at(a, utc(2026, 3, 29, 0, 45, 0)),
	            utc(2026, 3, 29, 1, 0, 0));
	/* Starts in the gap: opens at the jump. */
	assert_int_equal(
	        route_hours_add_interval(b, SUN, MIN(1, 30), MIN(3, 0)), 0);
	assert_false(route_hours_is_open(b, utc(2026, 3, 29, 0, 59, 59)));
	assert_time(route_hours_next_open(b, utc(2026, 3, 29, 0, 45, 0)),
	            utc(2026, 3, 29, 1, 0, 0));
	assert_time(route_hours_closes_at(b, utc(2026, 3, 29, 1, 0, 0)),
	            utc(2026, 3, 29, 2, 0, 0));
	route_hours_free(a);
	route_hours_free(b);
}

static void
test_dst_spring_short_day(void **state)
{
	struct route_hours *h = route_hours_new();

	(void)state;
	assert_int_equal(route_hours_add_interval(h, SUN, 0, 1440), 0);
	assert_time(route_hours_next_open(h, utc(2026, 3, 28, 23, 59, 59)),
	            utc(2026, 3, 29, 0, 0, 0));
	/* A 23-hour Sunday. */
	assert_time(route_hours_closes_at(h, utc(2026, 3, 29, 0, 0, 0)),
	            utc(2026, 3, 29, 23, 0, 0));
	/* Merged with Monday morning. */
	assert_int_equal(route_hours_add_interval(h, MON, 0, MIN(9, 0)), 0);
	assert_time(route_hours_closes_at(h, utc(2026, 3, 29, 12, 0, 0)),
	            utc(2026, 3, 30, 8, 0, 0));
	route_hours_free(h);
}

/* Fall back, Sunday 25 October 2026: 02:00 BST -> 01:00 GMT. */
static void
test_dst_autumn_day_hours(void **state)
{
	struct route_hours *h = office();

	(void)state;
	assert_int_equal(
	        route_hours_add_interval(h, SAT, MIN(10, 0), MIN(16, 0)), 0);
	assert_int_equal(
	        route_hours_add_interval(h, SUN, MIN(10, 0), MIN(16, 0)), 0);
	assert_time(route_hours_next_open(h, utc(2026, 10, 24, 0, 0, 0)),
	            utc(2026, 10, 24, 9, 0, 0));
	assert_time(route_hours_closes_at(h, utc(2026, 10, 24, 9, 0, 0)),
	            utc(2026, 10, 24, 15, 0, 0));
	assert_time(route_hours_next_open(h, utc(2026, 10, 24, 15, 0, 0)),
	            utc(2026, 10, 25, 10, 0, 0));
	assert_false(route_hours_is_open(h, utc(2026, 10, 25, 9, 59, 59)));
	assert_time(route_hours_closes_at(h, utc(2026, 10, 25, 10, 0, 0)),
	            utc(2026, 10, 25, 16, 0, 0));
	assert_time(route_hours_next_open(h, utc(2026, 10, 25, 16, 0, 0)),
	            utc(2026, 10, 26, 8, 30, 0));
	assert_false(route_hours_is_open(h, utc(2026, 10, 26, 8, 29, 59)));
	assert_time(route_hours_closes_at(h, utc(2026, 10, 26, 8, 30, 0)),
	            utc(2026, 10, 26, 17, 0, 0));
	route_hours_free(h);
}

static void
test_dst_autumn_repeated_hour(void **state)
{
	struct route_hours *h = route_hours_new();

	(void)state;
	/* 01:15-01:45 happens twice: once in BST, once in GMT. */
	assert_int_equal(
	        route_hours_add_interval(h, SUN, MIN(1, 15), MIN(1, 45)), 0);
	assert_time(route_hours_next_open(h, utc(2026, 10, 24, 20, 0, 0)),
	            utc(2026, 10, 25, 0, 15, 0));
	assert_false(route_hours_is_open(h, utc(2026, 10, 25, 0, 14, 59)));
	assert_true(route_hours_is_open(h, utc(2026, 10, 25, 0, 15, 0)));
	assert_time(route_hours_closes_at(h, utc(2026, 10, 25, 0, 15, 0)),
	            utc(2026, 10, 25, 0, 45, 0));
	assert_false(route_hours_is_open(h, utc(2026, 10, 25, 0, 45, 0)));
	assert_time(route_hours_next_open(h, utc(2026, 10, 25, 0, 45, 0)),
	            utc(2026, 10, 25, 1, 15, 0));
	assert_time(route_hours_closes_at(h, utc(2026, 10, 25, 1, 15, 0)),
	            utc(2026, 10, 25, 1, 45, 0));
	assert_time(route_hours_next_open(h, utc(2026, 10, 25, 1, 45, 0)),
	            utc(2026, 11, 1, 1, 15, 0));
	route_hours_free(h);
}

static void
test_dst_autumn_straddle(void **state)
{
	struct route_hours *h = route_hours_new();

	(void)state;
	/* Closes at 01:30 BST, reopens when the clock goes back to 01:00. */
	assert_int_equal(
	        route_hours_add_interval(h, SUN, MIN(0, 30), MIN(1, 30)), 0);
	assert_time(route_hours_closes_at(h, utc(2026, 10, 24, 23, 45, 0)),
	            utc(2026, 10, 25, 0, 30, 0));
	assert_false(route_hours_is_open(h, utc(2026, 10, 25, 0, 59, 59)));
	assert_time(route_hours_next_open(h, utc(2026, 10, 25, 0, 30, 0)),
	            utc(2026, 10, 25, 1, 0, 0));
	assert_time(route_hours_closes_at(h, utc(2026, 10, 25, 1, 0, 0)),
	            utc(2026, 10, 25, 1, 30, 0));
	route_hours_free(h);
}

static void
test_dst_autumn_long_day(void **state)
{
	struct route_hours *h = route_hours_new();
	time_t opens, closes;

	(void)state;
	assert_int_equal(route_hours_add_interval(h, SUN, 0, 1440), 0);
	opens = route_hours_next_open(h, utc(2026, 10, 24, 22, 0, 0));
	assert_time(opens, utc(2026, 10, 24, 23, 0, 0));
	closes = route_hours_closes_at(h, opens);
	assert_time(closes, utc(2026, 10, 26, 0, 0, 0));
	assert_time(closes - opens, 25 * 3600);
	route_hours_free(h);
}

static void
test_midnight_24h(void **state)
{
	struct route_hours *h = route_hours_new();

	(void)state;
	assert_int_equal(route_hours_add_interval(h, MON, MIN(20, 0), 1440), 0);
	assert_int_equal(route_hours_add_interval(h, TUE, 0, MIN(6, 0)), 0);
	assert_true(route_hours_is_open(h, uk(2026, 1, 12, 23, 59, 59)));
	assert_true(route_hours_is_open(h, uk(2026, 1, 13, 0, 0, 0)));
	assert_false(route_hours_is_open(h, uk(2026, 1, 13, 6, 0, 0)));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 12, 21, 0, 0)),
	            uk(2026, 1, 13, 6, 0, 0));
	/* Tuesday closed: the Monday period ends at 24:00. */
	assert_int_equal(route_hours_add_closure(h, 2026, 1, 13), 0);
	assert_time(route_hours_closes_at(h, uk(2026, 1, 12, 21, 0, 0)),
	            uk(2026, 1, 13, 0, 0, 0));
	assert_false(route_hours_is_open(h, uk(2026, 1, 13, 0, 0, 0)));
	assert_time(route_hours_next_open(h, uk(2026, 1, 13, 0, 0, 0)),
	            uk(2026, 1, 19, 20, 0, 0));
	/* Monday closed: Tuesday still opens at 00:00. */
	assert_int_equal(route_hours_add_closure(h, 2026, 1, 19), 0);
	assert_false(route_hours_is_open(h, uk(2026, 1, 19, 21, 0, 0)));
	assert_time(route_hours_next_open(h, uk(2026, 1, 19, 21, 0, 0)),
	            uk(2026, 1, 20, 0, 0, 0));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 20, 0, 0, 0)),
	            uk(2026, 1, 20, 6, 0, 0));
	route_hours_free(h);
}

static void
test_week_wrap(void **state)
{
	struct route_hours *h = route_hours_new();

	(void)state;
	assert_int_equal(route_hours_add_interval(h, SUN, MIN(22, 0), 1440), 0);
	assert_int_equal(route_hours_add_interval(h, MON, 0, MIN(2, 0)), 0);
	assert_time(route_hours_closes_at(h, uk(2026, 1, 11, 23, 0, 0)),
	            uk(2026, 1, 12, 2, 0, 0));
	assert_time(route_hours_next_open(h, uk(2026, 1, 12, 2, 0, 0)),
	            uk(2026, 1, 18, 22, 0, 0));
	/* Bank holiday Monday 4 May (BST) cuts the period at midnight. */
	bank_holidays_2026(h);
	assert_time(route_hours_closes_at(h, uk(2026, 5, 3, 23, 0, 0)),
	            utc(2026, 5, 3, 23, 0, 0));
	route_hours_free(h);
}

static void
test_touching_intervals(void **state)
{
	struct route_hours *h = route_hours_new();

	(void)state;
	assert_int_equal(
	        route_hours_add_interval(h, WED, MIN(12, 0), MIN(17, 0)), 0);
	assert_int_equal(
	        route_hours_add_interval(h, WED, MIN(8, 0), MIN(12, 0)), 0);
	assert_true(route_hours_is_open(h, uk(2026, 1, 14, 11, 59, 59)));
	assert_true(route_hours_is_open(h, uk(2026, 1, 14, 12, 0, 0)));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 14, 9, 0, 0)),
	            uk(2026, 1, 14, 17, 0, 0));
	route_hours_free(h);
}

/* 1440 one-minute intervals, added in a scrambled order, make a full day. */
static void
test_minute_intervals(void **state)
{
	struct route_hours *h = route_hours_new();
	int i, m;

	(void)state;
	for (i = 0; i < 1440; i++) {
		m = (i * 7) % 1440;
		assert_int_equal(route_hours_add_interval(h, WED, m, m + 1), 0);
	}
	for (m = 0; m < 1440; m += 97)
		assert_int_equal(route_hours_add_interval(h, WED, m, m + 1),
		                 -1);
	assert_true(route_hours_is_open(h, uk(2026, 1, 14, 13, 37, 42)));
	assert_false(route_hours_is_open(h, uk(2026, 1, 15, 0, 0, 0)));
	assert_time(route_hours_closes_at(h, uk(2026, 1, 14, 0, 0, 0)),
	            uk(2026, 1, 15, 0, 0, 0));
	assert_time(route_hours_next_open(h, uk(2026, 1, 15, 0, 0, 0)),
	            uk(2026, 1, 21, 0, 0, 0));
	route_hours_free(h);
}

static void
test_24x7(void **state)
{
	struct route_hours *h = all_week();
	time_t t;

	(void)state;
	t = utc(2026, 3, 29, 0, 59, 59);
	assert_true(route_hours_is_open(h, t));
	assert_time(route_hours_next_open(h, t), t);
	assert_time(route_hours_closes_at(h, t), ROUTE_HOURS_NEVER);
	t = utc(2026, 10, 25, 1, 30, 0);
	assert_true(route_hours_is_open(h, t));
	assert_time(route_hours_closes_at(h, t), ROUTE_HOURS_NEVER);
	route_hours_free(h);
}

static void
test_always_open_flag(void **state)
{
	struct route_hours *h = route_hours_new();

	(void)state;
	assert_false(route_hours_always_open(h));
	assert_false(route_hours_is_open(h, uk(2026, 12, 20, 12, 0, 0)));
	route_hours_set_always_open(h, 1);
	assert_true(route_hours_always_open(h));
	assert_true(route_hours_is_open(h, uk(2026, 12, 20, 3, 0, 0)));
	assert_time(route_hours_closes_at(h, uk(2026, 12, 20, 3, 0, 0)),
	            ROUTE_HOURS_NEVER);
	assert_int_equal(route_hours_add_closure(h, 2026, 12, 25), 0);
	assert_false(route_hours_is_open(h, uk(2026, 12, 25, 12, 0, 0)));
	assert_time(route_hours_closes_at(h, uk(2026, 12, 20, 3, 0, 0)),
	            uk(2026, 12, 25, 0, 0, 0));
	assert_time(route_hours_next_open(h, uk(2026, 12, 25, 12, 0, 0)),
	            uk(2026, 12, 26, 0, 0, 0));
	/* Closure on the spring-forward Sunday: reopens Monday 00:00 BST. */
	assert_int_equal(route_hours_add_closure(h, 2026, 3, 29), 0);
	assert_time(route_hours_closes_at(h, utc(2026, 3, 28, 12, 0, 0)),
	            utc(2026, 3, 29, 0, 0, 0));
	assert_time(route_hours_next_open(h, utc(2026, 3, 29, 12, 0, 0)),
	            utc(2026, 3, 29, 23, 0, 0));
	route_hours_set_always_open(h, 0);
	assert_false(route_hours_is_open(h, uk(2026, 12, 20, 3, 0, 0)));
	assert_time(route_hours_next_open(h, uk(2026, 12, 20, 3, 0, 0)), -1);
	route_hours_free(h);
}

static void
test_always_open_overrides_intervals(void **state)
{
	struct route_hours *h = office();

	(void)state;
	route_hours_set_always_open(h, 7);
	assert_int_equal(route_hours_always_open(h), 1);
	assert_true(route_hours_is_open(h, uk(2026, 1, 10, 12, 0, 0)));
	route_hours_set_always_open(h, 0);
	assert_false(route_hours_is_open(h, uk(2026, 1, 10, 12, 0, 0)));
	route_hours_free(h);
}

static void
test_no_intervals(void **state)
{
	struct route_hours *h = route_hours_new();
	time_t t = uk(2026, 1, 12, 10, 0, 0);

	(void)state;
	assert_false(route_hours_is_open(h, t));
	assert_time(route_hours_next_open(h, t), -1);
	assert_time(route_hours_closes_at(h, t), -1);
	bank_holidays_2026(h);
	assert_time(route_hours_next_open(h, t), -1);
	route_hours_free(h);
}

/* Only Wednesdays, and those closed for weeks on end. */
static void
test_horizon(void **state)
{
	struct route_hours *h = route_hours_new();
	struct route_hours *g = route_hours_new();
	struct tm tm;
	time_t d;
	int k;

	(void)state;
	assert_int_equal(
	        route_hours_add_interval(h, WED, MIN(9, 0), MIN(10, 0)), 0);
	assert_int_equal(
	        route_hours_add_interval(g, WED, MIN(9, 0), MIN(10, 0)), 0);
	for (k = 0; k < 60; k++) {
		d = utc(2026, 1, 7, 12, 0, 0) + (time_t)k * 7 * DAY;
		assert_non_null(gmtime_r(&d, &tm));
		assert_int_equal(route_hours_add_closure(h, tm.tm_year + 1900,
		                                         tm.tm_mon + 1,
		                                         tm.tm_mday),
		                 0);
		if (k < 50)
			assert_int_equal(route_hours_add_closure(
			                         g, tm.tm_year + 1900,
			                         tm.tm_mon + 1, tm.tm_mday),
			                 0);
	}
	/* The first open Wednesday is 3 Mar 2027, 426 days ahead. */
	assert_time(route_hours_next_open(h, uk(2026, 1, 1, 0, 0, 0)), -1);
	assert_time(route_hours_next_open(h, uk(2026, 3, 1, 0, 0, 0)),
	            uk(2027, 3, 3, 9, 0, 0));
	assert_time(route_hours_next_open(g, uk(2026, 1, 1, 0, 0, 0)),
	            uk(2026, 12, 23, 9, 0, 0));
	route_hours_free(h);
	route_hours_free(g);
}

static void
test_bad_intervals(void **state)
{
	struct route_hours *h = route_hours_new();

	(void)state;
	assert_int_equal(route_hours_add_interval(h, 0, 0, 60), -1);
	assert_int_equal(route_hours_add_interval(h, 8, 0, 60), -1);
	assert_int_equal(route_hours_add_interval(h, -1, 0, 60), -1);
	assert_int_equal(route_hours_add_interval(h, MON, -1, 60), -1);
	assert_int_equal(route_hours_add_interval(h, MON, 600, 600), -1);
	assert_int_equal(route_hours_add_interval(h, MON, 700, 600), -1);
	assert_int_equal(route_hours_add_interval(h, MON, 600, 1441), -1);
	assert_int_equal(route_hours_add_interval(h, MON, 1440, 1441), -1);
	assert_int_equal(route_hours_add_interval(h, MON, 1440, 1440), -1);
	assert_time(route_hours_next_open(h, uk(2026, 1, 12, 0, 0, 0)), -1);

	assert_int_equal(
	        route_hours_add_interval(h, MON, MIN(8, 30), MIN(17, 0)), 0);
	assert_int_equal(
	        route_hours_add_interval(h, MON, MIN(8, 30), MIN(17, 0)), -1);
	assert_int_equal(route_hours_add_interval(h, MON, MIN(8, 0), MIN(9, 0)),
	                 -1);
	assert_int_equal(
	        route_hours_add_interval(h, MON, MIN(16, 59), MIN(18, 0)), -1);
	assert_int_equal(
	        route_hours_add_interval(h, MON, MIN(9, 0), MIN(10, 0)), -1);
	assert_int_equal(route_hours_add_interval(h, MON, 0, 1440), -1);
	assert_int_equal(
	        route_hours_add_interval(h, MON, MIN(8, 30), MIN(8, 31)), -1);
	/* Refusals changed nothing. */
	assert_false(route_hours_is_open(h, uk(2026, 1, 12, 7, 0, 0)));
	assert_false(route_hours_is_open(h, uk(2026, 1, 12, 17, 30, 0)));
	/* Touching, or on another day, is fine. */
	assert_int_equal(
	        route_hours_add_interval(h, MON, MIN(17, 0), MIN(18, 0)), 0);
	assert_int_equal(
	        route_hours_add_interval(h, MON, MIN(8, 0), MIN(8, 30)), 0);
	assert_int_equal(
	        route_hours_add_interval(h, TUE, MIN(8, 30), MIN(17, 0)), 0);
	assert_time(route_hours_closes_at(h, uk(2026, 1, 12, 8, 0, 0)),
	            uk(2026, 1, 12, 18, 0, 0));
	route_hours_free(h);
}

static void
test_bad_closures(void **state)
{
	struct route_hours *h = all_week();

	(void)state;
	assert_int_equal(route_hours_add_closure(h, 2026, 2, 30), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, 2, 29), -1);
	assert_int_equal(route_hours_add_closure(h, 2100, 2, 29), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, 4, 31), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, 6, 31), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, 9, 31), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, 11, 31), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, 0, 1), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, 13, 1), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, 1, 0), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, 1, 32), -1);
	assert_int_equal(route_hours_add_closure(h, 2026, -1, 1), -1);
	assert_int_equal(route_hours_add_closure(h, 0, 1, 1), -1);
	assert_int_equal(route_hours_add_closure(h, 10000, 1, 1), -1);
	assert_int_equal(route_hours_add_closure(h, -2026, 1, 1), -1);
	/* Refusals changed nothing: still 24/7. */
	assert_time(route_hours_closes_at(h, uk(2026, 1, 12, 0, 0, 0)),
	            ROUTE_HOURS_NEVER);
	assert_int_equal(route_hours_add_closure(h, 2028, 2, 29), 0);
	assert_int_equal(route_hours_add_closure(h, 2000, 2, 29), 0);
	assert_int_equal(route_hours_add_closure(h, 9999, 12, 31), 0);
	assert_int_equal(route_hours_add_closure(h, 1, 1, 1), 0);
	assert_int_equal(route_hours_add_closure(h, 2026, 2, 28), 0);
	assert_int_equal(route_hours_add_closure(h, 2026, 2, 28), 0);
	assert_false(route_hours_is_open(h, uk(2026, 2, 28, 12, 0, 0)));
	assert_time(route_hours_next_open(h, uk(2026, 2, 28, 12, 0, 0)),
	            uk(2026, 3, 1, 0, 0, 0));
	route_hours_free(h);
}

/* Instants local time cannot represent are closed, never a crash. */
static void
test_unrepresentable_time(void **state)
{
	struct route_hours *h = all_week();

	(void)state;
	route_hours_set_always_open(h, 1);
	assert_false(route_hours_is_open(h, (time_t)INT64_MAX));
	assert_time(route_hours_next_open(h, (time_t)INT64_MAX), -1);
	assert_time(route_hours_closes_at(h, (time_t)INT64_MAX), -1);
	assert_false(route_hours_is_open(h, (time_t)INT64_MIN));
	assert_time(route_hours_next_open(h, (time_t)INT64_MIN), -1);
	route_hours_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_zone_sanity),
	        cmocka_unit_test(test_free_null),
	        cmocka_unit_test(test_edges_winter),
	        cmocka_unit_test(test_edges_summer),
	        cmocka_unit_test(test_lunch_gap),
	        cmocka_unit_test(test_weekend),
	        cmocka_unit_test(test_bank_holiday_monday),
	        cmocka_unit_test(test_easter_and_new_year),
	        cmocka_unit_test(test_christmas),
	        cmocka_unit_test(test_christmas_24x7),
	        cmocka_unit_test(test_dst_spring_day_hours),
	        cmocka_unit_test(test_dst_spring_gap),
	        cmocka_unit_test(test_dst_spring_partial),
	        cmocka_unit_test(test_dst_spring_short_day),
	        cmocka_unit_test(test_dst_autumn_day_hours),
	        cmocka_unit_test(test_dst_autumn_repeated_hour),
	        cmocka_unit_test(test_dst_autumn_straddle),
	        cmocka_unit_test(test_dst_autumn_long_day),
	        cmocka_unit_test(test_midnight_24h),
	        cmocka_unit_test(test_week_wrap),
	        cmocka_unit_test(test_touching_intervals),
	        cmocka_unit_test(test_minute_intervals),
	        cmocka_unit_test(test_24x7),
	        cmocka_unit_test(test_always_open_flag),
	        cmocka_unit_test(test_always_open_overrides_intervals),
	        cmocka_unit_test(test_no_intervals),
	        cmocka_unit_test(test_horizon),
	        cmocka_unit_test(test_bad_intervals),
	        cmocka_unit_test(test_bad_closures),
	        cmocka_unit_test(test_unrepresentable_time),
	};

	setenv("TZ", "Europe/London", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
