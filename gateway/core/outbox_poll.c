/*
 * outbox_poll.c: the outbox senders' claim loop (outbox_poll.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "outbox_poll.h"
#include "xmalloc.h"

struct outbox_poll {
	uv_loop_t *loop;
	struct db *db;
	struct outbox_poll_opts o;
	uv_timer_t timer;
	int claiming;      /* a claim is in flight */
	unsigned inflight; /* rows given out, not done */
	int full;          /* the last claim filled a batch */
	int closing, timer_closed;
	outbox_poll_freed_fn freed;
	void *freed_arg;
};

static void claim(struct outbox_poll *p);

static void
maybe_free(struct outbox_poll *p)
{
	if (!p->closing || p->inflight > 0 || p->claiming || !p->timer_closed)
		return;
	if (p->freed != NULL)
		p->freed(p->freed_arg);
	free(p);
}

static void
on_claimed(void *arg, PGresult *res, const char *err)
{
	struct outbox_poll *p = arg;
	int i, n;

	p->claiming = 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (!p->closing)
			gw_warn("outbox.claim_failed",
			        "sender=%s reason=\"%s\"", p->o.name,
			        err ? err : PQresultErrorMessage(res));
		maybe_free(p);
		return;
	}
	if (p->closing) {
		/* Claimed rows are sent when their lease ends. */
		maybe_free(p);
		return;
	}
	n = PQntuples(res);
	p->full = n >= (int)p->o.batch;
	p->inflight += (unsigned)n;
	for (i = 0; i < n; i++)
		p->o.row(p->o.arg, res, i);
	maybe_free(p);
}

static void
claim(struct outbox_poll *p)
{
	char batch[16], lease[32];
	const char *params[2 + OUTBOX_POLL_EXTRA_MAX];
	size_t i;

	if (p->closing || p->claiming || p->inflight > 0 || !db_ready(p->db))
		return;
	snprintf(batch, sizeof(batch), "%u", p->o.batch);
	snprintf(lease, sizeof(lease), "%u seconds", p->o.lease_s);
	params[0] = batch;
	params[1] = lease;
	for (i = 0; i < p->o.nextra; i++)
		params[2 + i] = p->o.extra[i];
	if (db_query(p->db, p->o.claim_sql, (int)(2 + p->o.nextra), params,
	             on_claimed, p) == 0)
		p->claiming = 1;
}

static void
on_tick(uv_timer_t *t)
{
	claim(t->data);
}

struct outbox_poll *
outbox_poll_new(uv_loop_t *loop, struct db *db,
                const struct outbox_poll_opts *o)
{
	struct outbox_poll *p = xcalloc(1, sizeof(*p));

	p->loop = loop;
	p->db = db;
	p->o = *o;
	if (p->o.nextra > OUTBOX_POLL_EXTRA_MAX)
		fatalx("outbox_poll: too many extra parameters");
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	return p;
}

void
outbox_poll_start(struct outbox_poll *p)
{
	uv_timer_start(&p->timer, on_tick, 0, p->o.poll_ms);
}

void
outbox_poll_done(struct outbox_poll *p)
{
	p->inflight--;
	if (p->closing) {
		maybe_free(p);
		return;
	}
	if (p->inflight == 0 && p->full)
		claim(p);
}

int
outbox_poll_closing(const struct outbox_poll *p)
{
	return p->closing;
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct outbox_poll *p = h->data;

	p->timer_closed = 1;
	maybe_free(p);
}

void
outbox_poll_free(struct outbox_poll *p, outbox_poll_freed_fn freed, void *arg)
{
	if (p == NULL)
		return;
	p->closing = 1;
	p->freed = freed;
	p->freed_arg = arg;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}
