/*
 * route_ws_view.c: the queue views of the desks following a queue. A
 * routing decision in a queue marks it dirty; POSITION_FLUSH_MS later
 * (changes coalesce, and flushes are at least POSITION_GAP_MS apart: a
 * queue draining at thousands a second costs one view per following desk
 * per gap) the desks following a dirty queue get its view. A waiting
 * contact's own place is the waiting core's (gateway/core/waiting.c), on
 * the same pacing. Loop thread only.
 */
#include <stdint.h>

#include "route_ws-int.h"

#define POSITION_FLUSH_MS 500
#define POSITION_GAP_MS   2000

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

static void
on_flush(uv_timer_t *t)
{
	struct route_ws *rw = t->data;

	idmap_each(rw->peers, view_push, rw);
	idmap_free(rw->dirty);
	rw->dirty = idmap_new();
	rw->flushed_at = uv_now(rw->loop);
}

void
route_ws_view_dirty(struct route_ws *rw, uint64_t queue)
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
