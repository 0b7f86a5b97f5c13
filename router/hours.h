/*
 * hours.h: a queue's business hours — weekly opening intervals in the
 * council's local time plus whole-day closures (bank holidays, council
 * closure days) — and the questions the router asks of them: is the queue
 * open now, when does it next open, when does the current open period end.
 *
 * Pure computation, no I/O. Local time is the process time zone: the
 * daemon sets TZ=Europe/London and calls tzset() once before any thread
 * starts; these functions only call localtime_r(). A route_hours is built
 * by one thread (the loader); once built, the const queries may be called
 * from any number of threads at once.
 *
 * Semantics, all in local wall-clock time:
 *  - The queue is open at instant t when the local date of t is not a
 *    closure day and the local time of day of t lies in one of that
 *    weekday's intervals [opens, closes). Seconds count: with 08:30-17:00,
 *    08:29:59 is closed, 08:30:00 open, 16:59:59 open, 17:00:00 closed.
 *  - A closure day closes the queue for the whole local civil day, also
 *    when the always-open flag is set.
 *  - Spring forward (last Sunday of March, 01:00 -> 02:00): local times in
 *    the gap never happen, so the part of an interval inside the gap does
 *    not exist. An interval 01:00-02:00 is never open on that day; an
 *    interval 00:30-01:30 closes at the jump (local 02:00, 01:00 UTC); an
 *    interval 01:30-03:00 opens at the jump.
 *  - Fall back (last Sunday of October, 02:00 -> 01:00): local times from
 *    01:00 to 02:00 happen twice, and an interval covering them is open
 *    during both passes. An interval 01:15-01:45 therefore opens twice
 *    that night; next_open and closes_at report each pass separately.
 *    The day is 25 hours long and an interval 00:00-24:00 lasts 25 hours.
 *  - Other hours are unaffected: 08:30-17:00 is 08:30-17:00 local on both
 *    transition days (the UTC instants shift by the offset).
 * Assumes the zone changes its UTC offset at most once in any 24 hours
 * (true for every real zone).
 */
#ifndef ROUTE_HOURS_H
#define ROUTE_HOURS_H

#include <stdint.h>
#include <time.h>

struct route_hours;

/* How far ahead next_open and closes_at look. */
#define ROUTE_HOURS_HORIZON_DAYS 400
/* Per-queue limit on closure days (each interval is at least a minute, so
 * intervals are bounded by 1440 per weekday already). */
#define ROUTE_HOURS_MAX_CLOSURES 65536
/* closes_at when the open period does not end within the horizon. */
#define ROUTE_HOURS_NEVER ((time_t)INT64_MAX)

/* Returns an empty calendar (no intervals, no closures, always-open flag
 * off: closed for ever), owned by the caller. Never NULL. */
struct route_hours *route_hours_new(void);
/* Frees h; NULL is a no-op. */
void route_hours_free(struct route_hours *h);

/*
 * Adds a weekly interval: weekday 1 (Monday) .. 7 (Sunday), minutes since
 * local midnight, 0 <= opens_min < closes_min <= 1440 (1440 is '24:00',
 * closes is exclusive). Returns 0, or -1 (h unchanged) when a value is out
 * of range or the interval overlaps one already on that weekday (an
 * identical interval overlaps). Touching intervals (08:00-12:00 and
 * 12:00-17:00) are accepted and form one open period.
 */
int route_hours_add_interval(struct route_hours *h, int weekday, int opens_min,
                             int closes_min);
/*
 * Closes the queue for the whole local civil day year-month-day (year
 * 1..9999). Returns 0 (also when that day is already closed), or -1 when
 * the date does not exist (30 February, month 13, ...) or h already holds
 * ROUTE_HOURS_MAX_CLOSURES days.
 */
int route_hours_add_closure(struct route_hours *h, int year, int month,
                            int day);
/*
 * on != 0: ignore the intervals and treat every day as 00:00-24:00 (the
 * loader sets this for queues without any hours rows). Closure days still
 * close the queue.
 */
void route_hours_set_always_open(struct route_hours *h, int on);
int route_hours_always_open(const struct route_hours *h);

/* 1 when the queue is open at now, else 0 (also when now cannot be
 * converted to local time). */
int route_hours_is_open(const struct route_hours *h, time_t now);
/*
 * now when open at now; else the first instant after now at which it
 * opens; -1 when it does not open within ROUTE_HOURS_HORIZON_DAYS (for
 * example no intervals and the always-open flag off).
 */
time_t route_hours_next_open(const struct route_hours *h, time_t now);
/*
 * When open at now: the first instant after now at which it is closed.
 * Touching periods merge, including an interval ending 24:00 and one
 * starting 00:00 the next day when that day is not a closure day. Returns
 * ROUTE_HOURS_NEVER when it stays open for the whole horizon (24/7 with no
 * closure ahead), -1 when closed at now.
 */
time_t route_hours_closes_at(const struct route_hours *h, time_t now);

#endif
