/*
 * route_policy.h: the queue policy: may a new conversation on a channel
 * start in a queue now, by the queue's opening hours and closure days
 * (hours.h) and the channel's out-of-hours rule (queue_channels.
 * out_of_hours)? The answer is a decision any channel turns into its own
 * words: the web chat a chat.closed message (channels/chat), email an
 * auto-reply, SMS a text, a web form its 2xx. Nothing is sent or written
 * here. docs/router.md, "Opening hours". Loop thread only (the queue list
 * is the loop's); route_policy_evaluate is pure and may run anywhere.
 */
#ifndef GW_ROUTE_POLICY_H
#define GW_ROUTE_POLICY_H

#include <stdint.h>
#include <time.h>

#include "route_queues.h"

enum route_policy_kind {
	/*
	 * Start it in the queue asked for: open now, or closed with the rule
	 * `queue` (it waits until the queue opens), or a queue this instance
	 * does not know (yet): the caller's store refuses an unknown queue.
	 */
	ROUTE_POLICY_OPEN = 0,
	/* Closed, rule `overflow`: start it in decision.overflow instead. */
	ROUTE_POLICY_OVERFLOW,
	/*
	 * Closed, rule `leave_message` (leave_message 1: the resident may
	 * leave a message, held until the queue opens) or `closed` (refused),
	 * or `overflow` with no overflow queue, or a channel the queue does
	 * not take (rule ""): tell the resident message and next_open.
	 */
	ROUTE_POLICY_CLOSED,
};

struct route_decision {
	enum route_policy_kind kind;
	uint64_t queue;       /* the queue asked for; 0 when not known */
	uint64_t overflow;    /* OVERFLOW: the queue to start it in */
	char overflow_id[24]; /* the same in decimal; "" otherwise */
	int open;             /* open now by its hours and closure days */
	time_t next_open;     /* closed: when it opens; -1 not in 400 days */
	time_t closes;        /* open: when it closes (ROUTE_HOURS_NEVER) */
	const char *rule;     /* the channel's rule; "" it takes none */
	int leave_message;    /* CLOSED: a message may be left instead */
	/* Borrowed from the queue list: valid until the loop runs on. */
	const char *slug;    /* "" when not known */
	const char *message; /* queues.out_of_hours_message, "" none */
};

/*
 * The decision for a new conversation on channel ("chat", "email", ...)
 * in q at now. q NULL (a queue not known) decides OPEN. Fills *d; pure.
 */
void route_policy_evaluate(const struct route_queue *q, const char *channel,
                           time_t now, struct route_decision *d);
/*
 * The same for the queue named by a slug or an id ("123") in the queues
 * this instance knows (route_queues.h): what a channel asks before it
 * opens a conversation.
 */
void route_policy_decide(const struct route_queues *qs, const char *queue,
                         const char *channel, time_t now,
                         struct route_decision *d);

#endif
