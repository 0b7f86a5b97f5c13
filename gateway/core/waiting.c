/*
 * waiting.c: a contact waiting in a queue (contract in waiting.h): the
 * gate before a conversation opens, its place in the queue once or for as
 * long as a follower here waits, and the routing news each channel hears
 * of its own conversations. The queue policy and the Redis scripts decide;
 * this module asks them and hands the answers to the channel that owns
 * the conversation. Loop thread only.
 *
 * Every answer on its way (routing's served and positions, PostgreSQL's
 * advisor name) is a request registered by id in w->reqs or queued in
 * w->news; waiting_free orphans them (their w becomes NULL) so a late
 * answer only frees its request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "bus_wire.h"
#include "idmap.h"
#include "log.h"
#include "route.h"
#include "route_id.h"
#include "route_policy.h"
#include "route_queues.h"
#include "route_ws.h"
#include "waiting.h"
#include "xmalloc.h"

static const char NAME_SQL[] =
        "SELECT display_name FROM staff_users WHERE id = $1::bigint";

struct chan {
	char name[16]; /* "" a free slot */
	struct waiting_channel_ops ops;
	struct idmap *follows; /* handle -> struct follower */
};

/* A channel's contact here, told its place while it waits. */
struct follower {
	int chan;
	uint64_t handle;
	uint64_t conv;
	uint64_t queue; /* the queue it waits in */
	int waiting;
	long last_pos;
	long long last_ewt;
};

/* What every request in w->reqs starts with. */
struct req_head {
	struct waiting *w; /* NULL: orphaned */
	uint64_t id;
	int gate; /* a struct gate_req, else a struct place_req */
};

/* A gate asked: answered from the deferred list or by routing. */
struct gate_req {
	struct req_head h; /* h.w NULL: orphaned, answered already */
	waiting_gate_cb cb;
	void *arg;
	enum waiting_verdict verdict;
	int served;
	char *queue, *slug, *message;
	time_t next_open;
	int leave_message;
	struct gate_req *next; /* the deferred list */
};

/* One positions call: a one-shot (n 1, handle 0) or followers' batch. */
struct place_req {
	struct req_head h;
	int oneshot;
	char channel[16]; /* one-shot: whose */
	char queue[24];
	size_t n;
	int chan[ROUTE_POSITIONS_MAX];
	uint64_t handle[ROUTE_POSITIONS_MAX];
	uint64_t conv[ROUTE_POSITIONS_MAX];
};

enum news_kind {
	NEWS_ASSIGNED = 0,
	NEWS_REQUEUED,
	NEWS_RELEASED,
};

/* Routing news for a channel, delivered in the order routing decided. */
struct news {
	struct news *next;
	struct waiting *w; /* NULL: orphaned while its name was read */
	enum news_kind kind;
	char channel[16];
	uint64_t conv;
	uint64_t advisor;
	uint64_t queue;
	char why[16];
	char to[8];
	int ready; /* deliverable (assigned: once its name is read) */
	char name[201];
};

struct waiting {
	uv_loop_t *loop;
	struct route *r;
	struct route_queues *qs;
	struct db *db;
	struct route_ws *rw;
	struct chan chans[WAITING_CHANNELS_MAX];
	struct idmap *byconv; /* conversation -> struct follower */
	struct idmap *reqs;   /* id -> struct req_head of one in flight */
	uint64_t next_id;
	struct gate_req *defer_head, *defer_tail;
	struct news *news_head, *news_tail;
	struct idmap *dirty; /* queue id -> itself: places changed */
	uv_timer_t defer;    /* answers gates outside the asking call */
	uv_timer_t flush;    /* pushes the places of the dirty queues */
	uv_timer_t all;      /* marks every follower's queue, whatever */
	uint64_t flushed_at; /* loop time of the last flush */
	int closing;
};

/* ---------------------------------------------------------------- util */

/* A channel's name: bus_wire's rule, and it fits our slots. */
static int
channel_name_ok(const char *s)
{
	return bus_wire_channel_ok(s) &&
	       strlen(s) < sizeof(((struct chan *)0)->name);
}

/* The slot of channel, or -1. */
static int
chan_find(const struct waiting *w, const char *channel)
{
	int i;

	if (channel == NULL || channel[0] == '\0')
		return -1;
	for (i = 0; i < WAITING_CHANNELS_MAX; i++)
		if (strcmp(w->chans[i].name, channel) == 0)
			return i;
	return -1;
}

static void
req_add(struct waiting *w, struct req_head *h, int gate)
{
	h->w = w;
	h->id = ++w->next_id;
	h->gate = gate;
	idmap_put(w->reqs, h->id, h);
}

static void
req_del(struct waiting *w, const struct req_head *h)
{
	idmap_del(w->reqs, h->id);
}

/* ---------------------------------------------------------------- gate */

static void
gate_free(struct gate_req *g)
{
	free(g->queue);
	free(g->slug);
	free(g->message);
	free(g);
}

static void
gate_answer(struct gate_req *g)
{
	struct waiting_gate a;

	a.verdict = g->verdict;
	a.queue = g->queue;
	a.served = g->served;
	a.slug = g->slug != NULL ? g->slug : "";
	a.message = g->message != NULL ? g->message : "";
	a.next_open = g->next_open;
	a.leave_message = g->leave_message;
	g->cb(g->arg, &a);
}

static void
on_defer(uv_timer_t *t)
{
	struct waiting *w = t->data;
	struct gate_req *g;

	/* Gates deferred by the callbacks below wait for the next pass. */
	g = w->defer_head;
	w->defer_head = w->defer_tail = NULL;
	while (g != NULL) {
		struct gate_req *next = g->next;

		gate_answer(g);
		gate_free(g);
		g = next;
	}
}

/* g is answered in a later loop pass. */
static void
gate_defer(struct waiting *w, struct gate_req *g)
{
	g->next = NULL;
	if (w->defer_tail != NULL)
		w->defer_tail->next = g;
	else
		w->defer_head = g;
	w->defer_tail = g;
	if (!w->closing && !uv_is_active((uv_handle_t *)&w->defer))
		uv_timer_start(&w->defer, on_defer, 0, 0);
}

static void
on_served(void *arg, int served)
{
	struct gate_req *g = arg;

	if (g->h.w == NULL) {
		gate_free(g);
		return;
	}
	req_del(g->h.w, &g->h);
	g->served = served < 0 ? -1 : served != 0;
	/* routing may answer from within route_served: never the caller */
	gate_defer(g->h.w, g);
}

void
waiting_gate(struct waiting *w, const char *queue, const char *channel,
             time_t now, waiting_gate_cb cb, void *arg)
{
	struct gate_req *g = xcalloc(1, sizeof(*g));
	const struct route_queue *q;
	struct route_decision d;
	char qid[24];

	g->cb = cb;
	g->arg = arg;
	g->served = -1;
	route_policy_decide(w->qs, queue != NULL ? queue : "",
	                    channel != NULL ? channel : "", now, &d);
	if (d.kind == ROUTE_POLICY_CLOSED) {
		g->verdict = WAITING_CLOSED;
		g->queue = xstrdup(queue != NULL ? queue : "");
		g->slug = xstrdup(d.slug != NULL ? d.slug : "");
		g->message = xstrdup(d.message != NULL ? d.message : "");
		g->next_open = d.next_open;
		g->leave_message = d.leave_message;
		gate_defer(w, g);
		return;
	}
	g->verdict = d.kind == ROUTE_POLICY_OVERFLOW ? WAITING_OVERFLOW
	                                             : WAITING_OPEN;
	g->queue = xstrdup(d.kind == ROUTE_POLICY_OVERFLOW
	                           ? d.overflow_id
	                           : (queue != NULL ? queue : ""));
	g->next_open = -1;
	/* An unknown queue is the store's to refuse: nobody is asked. */
	q = route_queues_find(w->qs, g->queue);
	if (q == NULL || q->id == 0) {
		gate_defer(w, g);
		return;
	}
	snprintf(qid, sizeof(qid), "%llu", (unsigned long long)q->id);
	req_add(w, &g->h, 1);
	if (route_served(w->r, qid, on_served, g) != 0) {
		req_del(w, &g->h);
		gate_defer(w, g);
	}
}

/* ---------------------------------------------------------------- places */

static long long
estimate(long pos, long long span, long intervals)
{
	return intervals > 0 && span > 0 ? pos * span / intervals : -1;
}

static void
on_places(void *arg, int ok, const long *pos, size_t n, long long span,
          long intervals)
{
	struct place_req *b = arg;
	struct waiting *w = b->h.w;
	const struct waiting_channel_ops *ops;
	struct follower *f;
	long long ewt;
	size_t i;
	int k;

	if (w == NULL)
		goto out;
	req_del(w, &b->h);
	if (b->oneshot) {
		k = chan_find(w, b->channel);
		if (!ok || n != 1 || pos[0] <= 0 || k < 0 ||
		    w->chans[k].ops.position == NULL)
			goto out;
		ops = &w->chans[k].ops;
		ops->position(ops->arg, b->conv[0], 0, pos[0],
		              estimate(pos[0], span, intervals));
		goto out;
	}
	for (i = 0; ok && i < n && i < b->n; i++) {
		f = idmap_get(w->byconv, b->conv[i]);
		if (f == NULL || !f->waiting || f->chan != b->chan[i] ||
		    f->handle != b->handle[i] || pos[i] <= 0)
			continue;
		ewt = estimate(pos[i], span, intervals);
		if (pos[i] == f->last_pos && ewt == f->last_ewt)
			continue;
		f->last_pos = pos[i];
		f->last_ewt = ewt;
		ops = &w->chans[f->chan].ops;
		if (ops->position != NULL)
			ops->position(ops->arg, f->conv, f->handle, pos[i],
			              ewt);
	}
out:
	free(b);
}

/* Sends b to routing; frees it when routing will not answer. */
static int
places_send(struct waiting *w, struct place_req *b)
{
	char text[ROUTE_POSITIONS_MAX][24];
	const char *ids[ROUTE_POSITIONS_MAX];
	size_t i;

	for (i = 0; i < b->n; i++) {
		snprintf(text[i], sizeof(text[i]), "%llu",
		         (unsigned long long)b->conv[i]);
		ids[i] = text[i];
	}
	req_add(w, &b->h, 0);
	if (route_positions(w->r, b->queue, ids, b->n, on_places, b) != 0) {
		req_del(w, &b->h);
		free(b);
		return -1;
	}
	return 0;
}

int
waiting_position(struct waiting *w, const char *channel, uint64_t conv,
                 uint64_t queue)
{
	struct place_req *b;
	int k = chan_find(w, channel);

	if (queue == 0 || conv == 0 || k < 0 ||
	    w->chans[k].ops.position == NULL || w->closing)
		return -1;
	b = xcalloc(1, sizeof(*b));
	b->oneshot = 1;
	snprintf(b->channel, sizeof(b->channel), "%s", channel);
	snprintf(b->queue, sizeof(b->queue), "%llu", (unsigned long long)queue);
	b->n = 1;
	b->conv[0] = conv;
	return places_send(w, b);
}

struct flush_pass {
	struct waiting *w;
	struct idmap *batches; /* queue id -> place_req being filled */
};

static void
batch_add(void *arg, uint64_t conv, void *value)
{
	struct flush_pass *fp = arg;
	struct follower *f = value;
	struct place_req *b;

	if (!f->waiting || f->queue == 0 ||
	    idmap_get(fp->w->dirty, f->queue) == NULL)
		return;
	b = idmap_get(fp->batches, f->queue);
	if (b == NULL) {
		b = xcalloc(1, sizeof(*b));
		snprintf(b->queue, sizeof(b->queue), "%llu",
		         (unsigned long long)f->queue);
		idmap_put(fp->batches, f->queue, b);
	}
	b->chan[b->n] = f->chan;
	b->handle[b->n] = f->handle;
	b->conv[b->n] = conv;
	if (++b->n == ROUTE_POSITIONS_MAX) {
		idmap_del(fp->batches, f->queue);
		places_send(fp->w, b);
	}
}

static void
batch_flush(void *arg, uint64_t queue, void *value)
{
	(void)queue;
	places_send(arg, value);
}

static void
on_flush(uv_timer_t *t)
{
	struct waiting *w = t->data;
	struct flush_pass fp = {w, idmap_new()};

	idmap_each(w->byconv, batch_add, &fp);
	idmap_each(fp.batches, batch_flush, w);
	idmap_free(fp.batches);
	idmap_free(w->dirty);
	w->dirty = idmap_new();
	w->flushed_at = uv_now(w->loop);
}

/* The places in queue changed: its followers here are told shortly. */
static void
mark_dirty(struct waiting *w, uint64_t queue)
{
	uint64_t now, due;

	if (queue == 0 || w->closing)
		return;
	idmap_put(w->dirty, queue, w);
	if (uv_is_active((uv_handle_t *)&w->flush))
		return;
	now = uv_now(w->loop);
	due = now + WAITING_FLUSH_MS;
	if (w->flushed_at + WAITING_GAP_MS > due)
		due = w->flushed_at + WAITING_GAP_MS;
	uv_timer_start(&w->flush, on_flush, due - now, 0);
}

static void
mark_follower(void *arg, uint64_t conv, void *value)
{
	struct follower *f = value;

	(void)conv;
	if (f->waiting)
		mark_dirty(arg, f->queue);
}

/* A change whose event this instance missed is pushed by this anyway. */
static void
on_all(uv_timer_t *t)
{
	struct waiting *w = t->data;

	idmap_each(w->byconv, mark_follower, w);
}

static void
follower_drop(struct waiting *w, struct follower *f)
{
	if (idmap_get(w->byconv, f->conv) == f)
		idmap_del(w->byconv, f->conv);
	idmap_del(w->chans[f->chan].follows, f->handle);
	free(f);
}

int
waiting_follow(struct waiting *w, const char *channel, uint64_t handle,
               uint64_t conv, uint64_t queue, int waiting)
{
	int k = chan_find(w, channel);
	struct follower *f, *old;

	if (k < 0 || handle == 0 || conv == 0)
		return -1;
	f = idmap_get(w->chans[k].follows, handle);
	if (f == NULL) {
		f = xcalloc(1, sizeof(*f));
		f->chan = k;
		f->handle = handle;
		idmap_put(w->chans[k].follows, handle, f);
	} else if (idmap_get(w->byconv, f->conv) == f)
		idmap_del(w->byconv, f->conv);
	/* The latest follower of conv wins; an older one follows nothing. */
	old = idmap_get(w->byconv, conv);
	if (old != NULL && old != f)
		old->conv = 0;
	f->conv = conv;
	f->queue = queue;
	f->waiting = waiting;
	f->last_pos = -1;
	f->last_ewt = -1;
	idmap_put(w->byconv, conv, f);
	if (waiting)
		mark_dirty(w, queue);
	return 0;
}

void
waiting_unfollow(struct waiting *w, const char *channel, uint64_t handle)
{
	int k = chan_find(w, channel);
	struct follower *f;

	if (k < 0)
		return;
	f = idmap_get(w->chans[k].follows, handle);
	if (f != NULL)
		follower_drop(w, f);
}

/* ---------------------------------------------------------------- news */

static void
news_deliver(struct waiting *w, const struct news *n)
{
	int k = chan_find(w, n->channel);
	const struct waiting_channel_ops *ops;
	struct waiting_requeue rq;

	if (k < 0)
		return;
	ops = &w->chans[k].ops;
	switch (n->kind) {
	case NEWS_ASSIGNED:
		if (ops->assigned != NULL)
			ops->assigned(ops->arg, n->conv, n->advisor, n->name);
		break;
	case NEWS_REQUEUED:
		rq.why = n->why;
		rq.to = n->to;
		rq.queue = n->queue;
		if (ops->requeued != NULL)
			ops->requeued(ops->arg, n->conv, &rq);
		break;
	case NEWS_RELEASED:
		if (ops->released != NULL)
			ops->released(ops->arg, n->conv);
		break;
	}
}

/*
 * Delivers the news that is ready, in order within each conversation: one
 * waiting for its advisor's name holds back the later news of its own
 * conversation only. What is delivered is taken out of the list first, so
 * news a channel's op causes goes after it.
 */
static void
news_drain(struct waiting *w)
{
	struct news *n, *next, *prev = NULL, *out = NULL, **tail = &out;
	struct idmap *blocked = NULL; /* conversations with news not ready */

	for (n = w->news_head; n != NULL; n = next) {
		next = n->next;
		if (!n->ready ||
		    (blocked != NULL && idmap_get(blocked, n->conv) != NULL)) {
			if (blocked == NULL)
				blocked = idmap_new();
			idmap_put(blocked, n->conv, n);
			prev = n;
			continue;
		}
		if (prev != NULL)
			prev->next = next;
		else
			w->news_head = next;
		if (w->news_tail == n)
			w->news_tail = prev;
		n->next = NULL;
		*tail = n;
		tail = &n->next;
	}
	idmap_free(blocked);
	for (n = out; n != NULL; n = next) {
		next = n->next;
		news_deliver(w, n);
		free(n);
	}
}

static void
on_name(void *arg, PGresult *res, const char *err)
{
	struct news *n = arg;

	(void)err;
	if (n->w == NULL) {
		free(n);
		return;
	}
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1)
		snprintf(n->name, sizeof(n->name), "%s", PQgetvalue(res, 0, 0));
	n->ready = 1;
	news_drain(n->w);
}

static void
news_add(struct waiting *w, struct news *n, const char *advisor)
{
	const char *params[1] = {advisor};

	n->w = w;
	n->next = NULL;
	if (w->news_tail != NULL)
		w->news_tail->next = n;
	else
		w->news_head = n;
	w->news_tail = n;
	if (n->kind == NEWS_ASSIGNED && n->advisor != 0 &&
	    db_query(w->db, NAME_SQL, 1, params, on_name, n) == 0)
		return;
	n->ready = 1;
	news_drain(w);
}

/* What a routing event tells the follower of its conversation. */
static void
follower_event(struct waiting *w, const struct route_event *ev, uint64_t conv)
{
	struct follower *f = idmap_get(w->byconv, conv);

	if (f == NULL)
		return;
	if (strcmp(ev->kind, "accepted") == 0 ||
	    strcmp(ev->kind, "released") == 0) {
		f->waiting = 0;
	} else if (strcmp(ev->kind, "requeued") == 0 ||
	           strcmp(ev->kind, "transferred") == 0) {
		/* Back in a queue: its place follows with the queue's. */
		f->waiting = 1;
		f->last_pos = -1;
		if (ev->nextra > 0 && route_id_parse(ev->extra[0]) != 0)
			f->queue = route_id_parse(ev->extra[0]);
	}
}

/* The news a routing event is for the channel of its conversation. */
static void
channel_event(struct waiting *w, const struct route_event *ev, uint64_t conv)
{
	const char *channel = ev->nextra > 1 ? ev->extra[1] : "";
	const struct waiting_channel_ops *ops;
	struct news *n;
	int k = chan_find(w, channel);
	enum news_kind kind;

	if (k < 0)
		return;
	if (strcmp(ev->kind, "accepted") == 0)
		kind = NEWS_ASSIGNED;
	else if (strcmp(ev->kind, "requeued") == 0 ||
	         strcmp(ev->kind, "transferred") == 0)
		kind = NEWS_REQUEUED;
	else if (strcmp(ev->kind, "released") == 0)
		kind = NEWS_RELEASED;
	else
		return;
	ops = &w->chans[k].ops;
	if (ops->holds != NULL && !ops->holds(ops->arg, conv))
		return;
	n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	snprintf(n->channel, sizeof(n->channel), "%s", channel);
	n->conv = conv;
	n->advisor = route_id_parse(ev->advisor);
	if (kind == NEWS_REQUEUED) {
		snprintf(n->why, sizeof(n->why), "%s", ev->kind);
		if (strcmp(ev->kind, "transferred") == 0)
			/* A transfer: to a named advisor, or to a queue. */
			snprintf(n->to, sizeof(n->to), "%s",
			         ev->nextra > 2 && ev->extra[2][0] != '\0'
			                 ? "advisor"
			                 : "queue");
		n->queue = ev->nextra > 0 ? route_id_parse(ev->extra[0]) : 0;
	}
	news_add(w, n, ev->advisor);
}

void
waiting_route_events(void *arg, const struct route_event *ev, size_t n)
{
	struct waiting *w = arg;
	uint64_t conv;
	size_t i;

	if (w->closing)
		return;
	for (i = 0; i < n; i++) {
		if (ev[i].conv == NULL || ev[i].conv[0] == '\0' ||
		    ev[i].kind == NULL)
			continue;
		/*
		 * Any decision on a conversation of a queue (one joined, one
		 * was offered, answered, left) moves the places behind it or
		 * the estimated wait.
		 */
		if (ev[i].nextra > 0)
			mark_dirty(w, route_id_parse(ev[i].extra[0]));
		conv = route_id_parse(ev[i].conv);
		if (conv == 0)
			continue;
		follower_event(w, &ev[i], conv);
		channel_event(w, &ev[i], conv);
	}
}

/* ---------------------------------------------------------------- module */

struct collect {
	struct follower **f;
	size_t n;
};

static void
collect_one(void *arg, uint64_t key, void *value)
{
	struct collect *c = arg;

	(void)key;
	c->f[c->n++] = value;
}

/* Channel k unregisters: its slot and followers go. */
static void
chan_clear(struct waiting *w, int k)
{
	struct chan *ch = &w->chans[k];
	struct collect c;
	size_t i;

	c.f = xcalloc(idmap_count(ch->follows) + 1, sizeof(*c.f));
	c.n = 0;
	idmap_each(ch->follows, collect_one, &c);
	for (i = 0; i < c.n; i++)
		follower_drop(w, c.f[i]);
	free(c.f);
	idmap_free(ch->follows);
	memset(ch, 0, sizeof(*ch));
}

int
waiting_channel_register(struct waiting *w, const char *channel,
                         const struct waiting_channel_ops *ops)
{
	struct chan *ch;
	int k, i;

	if (!channel_name_ok(channel))
		return -1;
	k = chan_find(w, channel);
	if (k < 0) {
		if (ops == NULL)
			return 0;
		for (i = 0; i < WAITING_CHANNELS_MAX && k < 0; i++)
			if (w->chans[i].name[0] == '\0')
				k = i;
		if (k < 0)
			return -1;
		snprintf(w->chans[k].name, sizeof(w->chans[k].name), "%s",
		         channel);
		w->chans[k].follows = idmap_new();
	}
	ch = &w->chans[k];
	if (ops != NULL) {
		ch->ops = *ops;
		return 0;
	}
	/* Gone: its followers with it. */
	chan_clear(w, k);
	return 0;
}

struct waiting *
waiting_new(uv_loop_t *loop, struct route *r, struct route_queues *qs,
            struct db *db)
{
	struct waiting *w = xcalloc(1, sizeof(*w));

	w->loop = loop;
	w->r = r;
	w->qs = qs;
	w->db = db;
	w->byconv = idmap_new();
	w->reqs = idmap_new();
	w->dirty = idmap_new();
	uv_timer_init(loop, &w->defer);
	uv_timer_init(loop, &w->flush);
	uv_timer_init(loop, &w->all);
	w->defer.data = w->flush.data = w->all.data = w;
	uv_timer_start(&w->all, on_all, WAITING_ALL_MS, WAITING_ALL_MS);
	return w;
}

int
waiting_attach(struct waiting *w, struct route_ws *rw)
{
	struct route_ws_chat h = {NULL, NULL, waiting_route_events, w};

	if (route_ws_set_hook(rw, "waiting.", &h) != 0)
		return -1;
	w->rw = rw;
	return 0;
}

/* A request in flight: a gate is answered now, any other orphaned. */
static void
orphan(void *arg, uint64_t id, void *value)
{
	struct req_head *h = value;

	(void)arg;
	(void)id;
	if (h->gate) {
		struct gate_req *g = value;

		g->served = -1;
		gate_answer(g);
	}
	h->w = NULL;
}

static void
waiting_closed(uv_handle_t *h)
{
	struct waiting *w = h->data;

	if (--w->closing > 0)
		return;
	free(w);
}

void
waiting_free(struct waiting *w)
{
	static const struct route_ws_chat none = {NULL, NULL, NULL, NULL};
	struct news *n, *next;
	int k;

	if (w == NULL)
		return;
	if (w->rw != NULL)
		route_ws_set_hook(w->rw, "waiting.", &none);
	w->closing = 3;
	/* Gates asked and not answered yet are answered now, once. */
	on_defer(&w->defer);
	idmap_each(w->reqs, orphan, w);
	idmap_free(w->reqs);
	for (n = w->news_head; n != NULL; n = next) {
		next = n->next;
		if (n->ready)
			free(n);
		else
			n->w = NULL; /* its name is being read: on_name frees */
	}
	for (k = 0; k < WAITING_CHANNELS_MAX; k++)
		if (w->chans[k].name[0] != '\0')
			chan_clear(w, k);
	idmap_free(w->byconv);
	idmap_free(w->dirty);
	uv_close((uv_handle_t *)&w->defer, waiting_closed);
	uv_close((uv_handle_t *)&w->flush, waiting_closed);
	uv_close((uv_handle_t *)&w->all, waiting_closed);
}
