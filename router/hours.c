/*
 * hours.c: business-hours calendar of one queue (see hours.h). Built by
 * the loader thread, then read-only and safe to query from any thread.
 *
 * Everything is decided on the local wall clock given by localtime_r().
 * To find the next change of state we walk forward from now in steps: from
 * instant t, the next interval boundary (or local midnight) on the same
 * local day is reached after (boundary - time of day) seconds if the UTC
 * offset stays the same; when the offset at that instant differs, a DST
 * change lies in between and a binary search finds its exact instant,
 * where the walk resumes. This never converts a local time to an instant
 * (mktime's choice for times in the spring gap or the repeated autumn hour
 * is unspecified), every step moves forward, and the walk stops at the
 * horizon, so it cannot loop for ever.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hours.h"
#include "xmalloc.h"

#define HOURS_DAY_SECS 86400

_Static_assert(sizeof(time_t) == sizeof(int64_t),
               "ROUTE_HOURS_NEVER assumes a 64-bit time_t");

struct hours_interval {
	int opens;  /* minutes since local midnight */
	int closes; /* exclusive, up to 1440 */
};

struct route_hours {
	struct hours_interval *iv[7]; /* [ISO weekday - 1], sorted by opens */
	size_t niv[7];
	int64_t *closed; /* local days since 1970-01-01, sorted, unique */
	size_t nclosed;
	size_t closedcap;
	int always_open;
};

/* An instant seen on the local wall clock. */
struct hours_local {
	int64_t day; /* local date as days since 1970-01-01 */
	int wday;    /* ISO 1 (Monday) .. 7 (Sunday) */
	int sec;     /* seconds since local midnight, 0..86399 */
	int64_t off; /* local minus UTC, seconds */
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
hours_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
hours_valid_date(int year, int month, int day)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30,
	                              31, 31, 30, 31, 30, 31};
	int leap, max, ok = 0;

	if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1)
		goto out;
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	max = mdays[month - 1] + (month == 2 && leap);
	ok = day <= max;
out:
	return ok;
}

/* Returns 0, or -1 when t cannot be represented in local time. */
static int
hours_localtime(time_t t, struct hours_local *lt)
{
	struct tm tm;
	int64_t local;
	int rc = -1;

	if (localtime_r(&t, &tm) == NULL)
		goto out;
	lt->day = hours_days_from_civil((int64_t)tm.tm_year + 1900,
	                                tm.tm_mon + 1, tm.tm_mday);
	lt->wday = tm.tm_wday == 0 ? 7 : tm.tm_wday;
	lt->sec = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	/* A leap second (23:59:60 in a "right/" zone) stays in its day. */
	if (lt->sec >= HOURS_DAY_SECS)
		lt->sec = HOURS_DAY_SECS - 1;
	local = lt->day * HOURS_DAY_SECS + lt->sec;
	lt->off = local - (int64_t)t;
	rc = 0;
out:
	return rc;
}

static int
hours_is_closure(const struct route_hours *h, int64_t day)
{
	size_t lo = 0, hi = h->nclosed;
	int found = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->closed[mid] == day) {
			found = 1;
			break;
		}
		if (h->closed[mid] < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return found;
}

static int
hours_open_at(const struct route_hours *h, const struct hours_local *lt)
{
	const struct hours_interval *iv = h->iv[lt->wday - 1];
	size_t i, n = h->niv[lt->wday - 1];
	int open = 0;

	if (hours_is_closure(h, lt->day))
		goto out;
	if (h->always_open) {
		open = 1;
		goto out;
	}
	for (i = 0; i < n && iv[i].opens * 60 <= lt->sec; i++) {
		if (lt->sec < iv[i].closes * 60) {
			open = 1;
			break;
		}
	}
out:
	return open;
}

/*
 * The next second of the local day after lt->sec at which the state may
 * change: an interval's start or end, else midnight (HOURS_DAY_SECS).
 */
static int
hours_next_boundary(const struct route_hours *h, const struct hours_local *lt)
{
	const struct hours_interval *iv = h->iv[lt->wday - 1];
	size_t i, n = h->niv[lt->wday - 1];
	int b = HOURS_DAY_SECS;

	if (h->always_open || hours_is_closure(h, lt->day))
		goto out;
	for (i = 0; i < n; i++) {
		if (iv[i].opens * 60 > lt->sec) {
			b = iv[i].opens * 60;
			break;
		}
		if (iv[i].closes * 60 > lt->sec) {
			/* Touching intervals are one open period. */
			while (i + 1 < n && iv[i + 1].opens == iv[i].closes)
				i++;
			b = iv[i].closes * 60;
			break;
		}
	}
out:
	return b;
}

/*
 * Moves *t (seen locally as *lt) forward to the next instant at which the
 * state may change. Returns 0, or -1 when local time runs out of range.
 */
static int
hours_step(const struct route_hours *h, time_t *t, struct hours_local *lt)
{
	struct hours_local c, m;
	time_t lo, hi, mid;
	int64_t delta;
	int rc = -1;

	delta = hours_next_boundary(h, lt) - lt->sec;
	if (delta < 1)
		delta = 1;
	hi = *t + (time_t)delta;
	if (hours_localtime(hi, &c) == -1)
		goto out;
	if (c.off != lt->off) {
		/* The offset changed in (*t, hi]: find the first instant
		 * carrying the new offset. */
		lo = *t;
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (hours_localtime(mid, &m) == -1)
				goto out;
			if (m.off == lt->off)
				lo = mid;
			else
				hi = mid;
		}
		if (hours_localtime(hi, &c) == -1)
			goto out;
	}
	*t = hi;
	*lt = c;
	rc = 0;
out:
	return rc;
}

/*
 * The first instant from now (included) at which the open state equals
 * want, or -1 when there is none within the horizon.
 */
static time_t
hours_seek(const struct route_hours *h, time_t now, int want)
{
	struct hours_local lt;
	time_t t = now, limit, found = -1;

	if (hours_localtime(now, &lt) == -1)
		goto out;
	/* now converts to local time, so it is far from the time_t limits. */
	limit = now + (time_t)ROUTE_HOURS_HORIZON_DAYS * HOURS_DAY_SECS;
	while (t <= limit) {
		if (hours_open_at(h, &lt) == want) {
			found = t;
			break;
		}
		if (hours_step(h, &t, &lt) == -1)
			break;
	}
out:
	return found;
}

struct route_hours *
route_hours_new(void)
{
	return xcalloc(1, sizeof(struct route_hours));
}

void
route_hours_free(struct route_hours *h)
{
	size_t i;

	if (h == NULL)
		goto out;
	for (i = 0; i < nitems(h->iv); i++)
		free(h->iv[i]);
	free(h->closed);
	free(h);
out:
	return;
}

int
route_hours_add_interval(struct route_hours *h, int weekday, int opens_min,
                         int closes_min)
{
	struct hours_interval *iv;
	size_t i, n;
	int rc = -1;

	if (weekday < 1 || weekday > 7 || opens_min < 0 ||
	    closes_min > 24 * 60 || opens_min >= closes_min)
		goto out;
	iv = h->iv[weekday - 1];
	n = h->niv[weekday - 1];
	for (i = 0; i < n; i++)
		if (opens_min < iv[i].closes && iv[i].opens < closes_min)
			goto out;
	for (i = 0; i < n && iv[i].opens < opens_min; i++)
		;
	iv = xrealloc(iv, (n + 1) * sizeof(*iv));
	memmove(&iv[i + 1], &iv[i], (n - i) * sizeof(*iv));
	iv[i].opens = opens_min;
	iv[i].closes = closes_min;
	h->iv[weekday - 1] = iv;
	h->niv[weekday - 1] = n + 1;
	rc = 0;
out:
	return rc;
}

int
route_hours_add_closure(struct route_hours *h, int year, int month, int day)
{
	size_t lo = 0, hi = h->nclosed;
	int64_t key;
	int rc = -1;

	if (!hours_valid_date(year, month, day))
		goto out;
	key = hours_days_from_civil(year, month, day);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->closed[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < h->nclosed && h->closed[lo] == key) {
		rc = 0;
		goto out;
	}
	if (h->nclosed >= ROUTE_HOURS_MAX_CLOSURES)
		goto out;
	if (h->nclosed == h->closedcap) {
		h->closedcap = h->closedcap ? h->closedcap * 2 : 16;
		h->closed =
		        xrealloc(h->closed, h->closedcap * sizeof(*h->closed));
	}
	memmove(&h->closed[lo + 1], &h->closed[lo],
	        (h->nclosed - lo) * sizeof(*h->closed));
	h->closed[lo] = key;
	h->nclosed++;
	rc = 0;
out:
	return rc;
}

void
route_hours_set_always_open(struct route_hours *h, int on)
{
	h->always_open = on != 0;
}

int
route_hours_always_open(const struct route_hours *h)
{
	return h->always_open;
}

int
route_hours_is_open(const struct route_hours *h, time_t now)
{
	struct hours_local lt;
	int open = 0;

	if (hours_localtime(now, &lt) == 0)
		open = hours_open_at(h, &lt);
	return open;
}

time_t
route_hours_next_open(const struct route_hours *h, time_t now)
{
	size_t i, total = 0;
	time_t t = -1;

	for (i = 0; i < nitems(h->niv); i++)
		total += h->niv[i];
	/* Without hours the walk would only prove it 400 days later. */
	if (total > 0 || h->always_open)
		t = hours_seek(h, now, 1);
	return t;
}

time_t
route_hours_closes_at(const struct route_hours *h, time_t now)
{
	time_t t = -1;

	if (!route_hours_is_open(h, now))
		goto out;
	t = hours_seek(h, now, 0);
	if (t == -1)
		t = ROUTE_HOURS_NEVER;
out:
	return t;
}
