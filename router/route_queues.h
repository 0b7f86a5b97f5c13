/*
 * route_queues.h: what this instance knows of the active queues, read from
 * PostgreSQL every 30 s (every second until the first read succeeds): each
 * queue's slug and name, its opening hours and closure days (hours.h), its
 * out-of-hours message and overflow queue, and, for every channel it takes
 * (a queue_channels row), that channel's out-of-hours rule. The queue
 * policy (route_policy.h), the widget's topics (route_topics.c) and the
 * desk protocol's slugs (route_ws) read it. Loop thread only.
 */
#ifndef GW_ROUTE_QUEUES_H
#define GW_ROUTE_QUEUES_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "hours.h"

/* Channels one queue may take (sb_channel has six values today). */
#define ROUTE_QUEUE_CHANNELS_MAX 12

/* One channel a queue takes, and what happens to it out of hours. */
struct route_queue_channel {
	char channel[16];      /* sb_channel: chat, email, sms, ... */
	char out_of_hours[16]; /* queue, leave_message, closed, overflow */
};

/*
 * An active queue. A plain type: tests build their own. A queue handed out
 * by route_queues_find or route_queues_each is borrowed: it stays valid
 * until control returns to the loop (the next read replaces them all).
 */
struct route_queue {
	uint64_t id;
	char slug[64];
	const char *name;
	const char *message;             /* queues.out_of_hours_message */
	uint64_t overflow;               /* queues.overflow_queue_id, 0 none */
	const struct route_hours *hours; /* never NULL */
	struct route_queue_channel chans[ROUTE_QUEUE_CHANNELS_MAX];
	size_t nchans;
};

struct route_queues;

/*
 * Starts reading at once (when db is ready) and then on its own timer.
 * db must outlive it, and must have answered (db_close) before it is
 * freed: a read in flight holds it.
 */
struct route_queues *route_queues_new(uv_loop_t *loop, struct db *db);
/* Closes its timer and frees it once closed; NULL is a no-op. */
void route_queues_free(struct route_queues *qs);
/*
 * Asks for a read now (a slug nobody knows yet, just after start). Does
 * nothing while one is in flight or PostgreSQL is not ready.
 */
void route_queues_reload(struct route_queues *qs);
/* 1 once the queues were read at least once. */
int route_queues_loaded(const struct route_queues *qs);
/* The queue with this slug or id ("123"), or NULL (unknown, not read). */
const struct route_queue *route_queues_find(const struct route_queues *qs,
                                            const char *slug_or_id);
/*
 * Calls fn for each active queue (in no order); -1 with no call before the
 * first read.
 */
int route_queues_each(const struct route_queues *qs,
                      void (*fn)(void *arg, const struct route_queue *q),
                      void *arg);
/*
 * The out-of-hours rule of q for channel, or NULL when q does not take
 * that channel (no queue_channels row).
 */
const char *route_queues_rule(const struct route_queue *q, const char *channel);

#endif
