/*
 * route_policy.c: the queue policy. See route_policy.h. Pure evaluation of
 * a queue's hours and its channel's out-of-hours rule; the lookup reads
 * the loop's queue list (route_queues.c).
 */
#include <stdio.h>
#include <string.h>

#include "route_policy.h"

void
route_policy_evaluate(const struct route_queue *q, const char *channel,
                      time_t now, struct route_decision *d)
{
	const char *rule;

	memset(d, 0, sizeof(*d));
	d->kind = ROUTE_POLICY_OPEN;
	d->open = 1;
	d->next_open = now;
	d->closes = -1;
	d->rule = "";
	d->slug = "";
	d->message = "";
	if (q == NULL)
		return;
	rule = route_queues_rule(q, channel);
	d->queue = q->id;
	d->rule = rule != NULL ? rule : "";
	d->slug = q->slug;
	d->message = q->message != NULL ? q->message : "";
	d->open = route_hours_is_open(q->hours, now);
	if (d->open) {
		d->closes = route_hours_closes_at(q->hours, now);
		return;
	}
	d->next_open = route_hours_next_open(q->hours, now);
	/* Closed now: the channel's rule says what happens. */
	if (strcmp(d->rule, "queue") == 0)
		return; /* it waits until the queue opens */
	if (strcmp(d->rule, "overflow") == 0 && q->overflow != 0) {
		d->kind = ROUTE_POLICY_OVERFLOW;
		d->overflow = q->overflow;
		snprintf(d->overflow_id, sizeof(d->overflow_id), "%llu",
		         (unsigned long long)q->overflow);
		return;
	}
	d->kind = ROUTE_POLICY_CLOSED;
	d->leave_message = strcmp(d->rule, "leave_message") == 0;
}

void
route_policy_decide(const struct route_queues *qs, const char *queue,
                    const char *channel, time_t now, struct route_decision *d)
{
	route_policy_evaluate(queue != NULL ? route_queues_find(qs, queue)
	                                    : NULL,
	                      channel, now, d);
}
