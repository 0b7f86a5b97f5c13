/*
 * route_ws_position.c: queue positions. A routing decision in a queue
 * marks it dirty; POSITION_FLUSH_MS later (changes coalesce, and flushes
 * are at least POSITION_GAP_MS apart: a queue draining at thousands a
 * second costs one message per waiting resident per gap) the places of
 * every waiting resident here in a dirty queue are asked of routing in
 * batches, and each whose place or estimated wait changed is sent
 * chat.queued; the desks following a dirty queue get its view. Loop
 * thread only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route_ws-int.h"
#include "xmalloc.h"

#define POSITION_FLUSH_MS 500
#define POSITION_GAP_MS   2000

/* One positions call: up to ROUTE_POSITIONS_MAX residents of one queue. */
struct pos_batch {
	struct route_ws *rw;
	size_t n;
	unsigned long conn[ROUTE_POSITIONS_MAX];
	uint64_t conv[ROUTE_POSITIONS_MAX];
	char queue[24];
};

static void
on_batch(void *arg, int ok, const long *pos, size_t n, long long span,
         long intervals)
{
	struct pos_batch *b = arg;
	struct peer *peer;
	long long ewt;
	size_t i;

	for (i = 0; ok && i < n && i < b->n; i++) {
		peer = route_ws_peer(b->rw, b->conn[i]);
		if (peer == NULL || !peer->waiting ||
		    peer->conv != b->conv[i] || pos[i] <= 0)
			continue;
		ewt = intervals > 0 && span > 0 ? pos[i] * span / intervals
		                                : -1;
		if (pos[i] == peer->last_pos && ewt == peer->last_ewt)
			continue;
		peer->last_pos = pos[i];
		peer->last_ewt = ewt;
		gw_http_ws_send(
		        b->rw->http, peer->conn,
		        json_pack("{s:s, s:I, s:I}", "type", "chat.queued",
		                  "position", (json_int_t)pos[i],
		                  "estimated_wait_ms", (json_int_t)ewt));
	}
	free(b);
}

static void
batch_send(struct pos_batch *b)
{
	char text[ROUTE_POSITIONS_MAX][24];
	const char *ids[ROUTE_POSITIONS_MAX];
	size_t i;

	for (i = 0; i < b->n; i++) {
		snprintf(text[i], sizeof(text[i]), "%llu",
		         (unsigned long long)b->conv[i]);
		ids[i] = text[i];
	}
	if (route_positions(b->rw->r, b->queue, ids, b->n, on_batch, b) != 0)
		free(b);
}

struct flush_pass {
	struct route_ws *rw;
	struct idmap *batches; /* queue id -> batch being filled */
};

static void
batch_add(void *arg, uint64_t conv, void *value)
{
	struct flush_pass *fp = arg;
	struct peer *peer = value;
	struct pos_batch *b;

	if (!peer->waiting || peer->queue == 0 ||
	    idmap_get(fp->rw->dirty, peer->queue) == NULL)
		return;
	b = idmap_get(fp->batches, peer->queue);
	if (b == NULL) {
		b = xcalloc(1, sizeof(*b));
		b->rw = fp->rw;
		snprintf(b->queue, sizeof(b->queue), "%llu",
		         (unsigned long long)peer->queue);
		idmap_put(fp->batches, peer->queue, b);
	}
	b->conn[b->n] = peer->conn;
	b->conv[b->n] = conv;
	if (++b->n == ROUTE_POSITIONS_MAX) {
		idmap_del(fp->batches, peer->queue);
		batch_send(b);
	}
}

static void
batch_flush(void *arg, uint64_t queue, void *value)
{
	(void)arg;
	(void)queue;
	batch_send(value);
}

/* A desk following a queue that changed gets its new view. */
static void
view_push(void *arg, uint64_t conn, void *value)
{
	struct route_ws *rw = arg;
	struct peer *peer = value;
	int i;

	(void)conn;
	if (peer->kind != PEER_STAFF)
		return;
	for (i = 0; i < peer->nwatch; i++)
		if (idmap_get(rw->dirty, peer->watch[i]) != NULL)
			route_ws_desk_view(rw, peer, peer->watch[i], NULL);
}

/*
 * Asks the places of every waiting resident here in a dirty queue, and
 * sends the desks following a dirty queue its view.
 */
static void
on_flush(uv_timer_t *t)
{
	struct route_ws *rw = t->data;
	struct flush_pass fp = {rw, idmap_new()};

	idmap_each(rw->peers, view_push, rw);
	idmap_each(rw->residents, batch_add, &fp);
	idmap_each(fp.batches, batch_flush, NULL);
	idmap_free(fp.batches);
	idmap_free(rw->dirty);
	rw->dirty = idmap_new();
	rw->flushed_at = uv_now(rw->loop);
}

void
route_ws_position_dirty(struct route_ws *rw, uint64_t queue)
{
	if (queue == 0 || rw->closing)
		return;
	idmap_put(rw->dirty, queue, rw);
	if (!uv_is_active((uv_handle_t *)&rw->flush)) {
		uint64_t now = uv_now(rw->loop), due = now + POSITION_FLUSH_MS;

		if (rw->flushed_at + POSITION_GAP_MS > due)
			due = rw->flushed_at + POSITION_GAP_MS;
		uv_timer_start(&rw->flush, on_flush, due - now, 0);
	}
}

static void
mark_waiting_dirty(void *arg, uint64_t conv, void *value)
{
	struct peer *peer = value;

	(void)conv;
	if (peer->waiting)
		route_ws_position_dirty(arg, peer->queue);
}

void
route_ws_position_all(struct route_ws *rw)
{
	idmap_each(rw->residents, mark_waiting_dirty, rw);
}
