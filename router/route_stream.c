/*
 * route_stream.c: the routing event stream (sb:events). Every routing
 * script appends the events of its decision to the stream in the same
 * script (common.lua, emit), so a decision and its history are one atomic
 * act in Redis. Two readers record them in PostgreSQL:
 *
 *  - the instance that took the decision records them at once (route.c)
 *    and deletes the entry once every row is committed: route_entry_*
 *    here, the deletions of one loop turn batched into one XDEL;
 *  - the drainer: every second, the one instance holding the lease
 *    sb:drain (a few seconds, renewed by its holder) reads entries older
 *    than DRAIN_AGE_MS that nobody deleted (their instance died between
 *    the decision and its COMMIT, or PostgreSQL refused the rows), records
 *    them the same way (idempotent: the unique indexes on the histories
 *    make a second write a no-op, and route_version keeps a conversation
 *    from moving back), publishes the assignments it was the first to
 *    record (desks hear of them only once committed), and deletes each
 *    entry once its rows are committed.
 *
 * A lease rather than a consumer group: entries are deleted, not
 * acknowledged, by whoever recorded them, so there is no pending list to
 * claim from; the lease only keeps two instances from doing the same
 * (harmless) work. Entries of an old epoch are drained after a rebuild
 * too: PostgreSQL's epoch fence records them as not applied.
 *
 * Loop thread only. The stream state outlives route_free while writes
 * that hold it are in flight (they then only fail).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "route-int.h"
#include "xmalloc.h"

#define STREAM_KEY     "sb:events"
#define DRAIN_TICK_MS  1000
#define DRAIN_AGE_MS   5000
#define DRAIN_LEASE_MS 5000
#define DRAIN_COUNT    256
#define XDEL_MAX       512 /* ids per XDEL command */

struct route_stream {
	struct route *r; /* NULL once route_free ran */
	uv_timer_t tick; /* the drainer */
	uv_timer_t xdel; /* flushes the deletions of one loop turn */
	int handles;
	unsigned refs; /* entries and drained items still alive */
	char **ids;    /* entries to delete */
	size_t nids, capids;
	int inflight;        /* a drain batch is being read or recorded */
	unsigned batch_left; /* its entries still being recorded */
	int batch_full;      /* it was full: go on at once */
	char cursor[64];     /* within a pass, entries after this id */
	unsigned long drained;
};

struct route_entry {
	struct route_stream *s;
	char *id;
	unsigned pending;
	int failed;
};

/* One drained entry: its events (pointing into json) and their writes. */
struct drain_item;
struct drain_write {
	struct drain_item *item;
	size_t idx;
};
struct drain_item {
	struct route_stream *s;
	struct route_entry *entry;
	json_t *json;
	struct route_event *ev; /* n of them, and one write each */
	struct drain_write *w;
	size_t n;
	unsigned pending;
};

static void stream_unref(struct route_stream *s);

/* ---------------------------------------------------------------- XDEL */

static void
on_xdel_flush(uv_timer_t *t)
{
	struct route_stream *s = t->data;
	const char *argv[XDEL_MAX + 2];
	size_t lens[XDEL_MAX + 2], i = 0, k;

	while (i < s->nids) {
		argv[0] = "XDEL";
		argv[1] = STREAM_KEY;
		for (k = 0; k < XDEL_MAX && i < s->nids; k++, i++) {
			argv[2 + k] = s->ids[i];
			lens[2 + k] = strlen(s->ids[i]);
		}
		lens[0] = 4;
		lens[1] = strlen(STREAM_KEY);
		/*
		 * Not deleted (Redis went): the drainer records it again
		 * later, which adds nothing, then deletes it.
		 */
		if (s->r != NULL)
			kv_command_argv(s->r->kv, NULL, NULL, (int)(2 + k),
			                argv, lens);
	}
	for (i = 0; i < s->nids; i++)
		free(s->ids[i]);
	s->nids = 0;
}

static void
xdel_queue(struct route_stream *s, const char *id)
{
	if (s->r == NULL)
		return;
	if (s->nids == s->capids) {
		s->capids = s->capids ? s->capids * 2 : 64;
		s->ids = xrealloc(s->ids, s->capids * sizeof(char *));
	}
	s->ids[s->nids++] = xstrdup(id);
	/* 0 ms: after this loop turn, with every other deletion of it. */
	if (s->nids == 1)
		uv_timer_start(&s->xdel, on_xdel_flush, 0, 0);
}

/* ---------------------------------------------------------------- entries */

struct route_entry *
route_entry_new(struct route *r, const char *id)
{
	struct route_entry *e;

	if (id == NULL || id[0] == '\0' || r->stream == NULL)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->s = r->stream;
	e->s->refs++;
	e->id = xstrdup(id);
	e->pending = 1;
	return e;
}

void
route_entry_hold(struct route_entry *e)
{
	if (e != NULL)
		e->pending++;
}

void
route_entry_done(struct route_entry *e, int ok)
{
	if (e == NULL)
		return;
	if (!ok)
		e->failed = 1;
	if (--e->pending > 0)
		return;
	if (!e->failed)
		xdel_queue(e->s, e->id);
	stream_unref(e->s);
	free(e->id);
	free(e);
}

/* ---------------------------------------------------------------- drainer */

static void drain_next(struct route_stream *s, uint64_t ms);

static void
drain_batch_done(struct route_stream *s)
{
	s->inflight = 0;
	drain_next(s, s->batch_full ? 0 : DRAIN_TICK_MS);
}

static void
item_free(struct drain_item *it)
{
	struct route_stream *s = it->s;

	route_entry_done(it->entry, 1);
	json_decref(it->json);
	free(it->ev);
	free(it->w);
	free(it);
	if (--s->batch_left == 0)
		drain_batch_done(s);
	stream_unref(s);
}

static void
on_drained_written(void *arg, int ok, const PGresult *res, int row,
                   const char *err)
{
	struct drain_write *w = arg;
	struct drain_item *it = w->item;
	const struct route_event *ev = &it->ev[w->idx];

	if (!ok)
		gw_warn("route.drain_failed", "conv=%s kind=%s reason=\"%s\"",
		        ev->conv, ev->kind, err ? err : "?");
	/*
	 * An assignment this drainer was the first to record, and that
	 * stands: nobody told the desks (its instance died before its
	 * commit), so they hear of it now, once committed.
	 */
	else if (strcmp(ev->kind, "accepted") == 0 && res != NULL && row >= 0 &&
	         !PQgetisnull(res, row, 1) &&
	         strcmp(PQgetvalue(res, row, 2), "true") == 0 &&
	         it->s->r != NULL)
		route_publish(it->s->r, ev, 1);
	route_entry_done(it->entry, ok);
	if (--it->pending == 0)
		item_free(it);
}

/* Reads one entry's events: [[kind, conv, adv, inst, "version", ...]]. */
static size_t
item_parse(struct drain_item *it, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *e, *x;
	size_t i, k, n = 0;

	json_decref(it->json);
	it->json = json_loadb(text, len, 0, &jerr);
	if (!json_is_array(it->json))
		return 0;
	free(it->ev);
	free(it->w);
	it->ev = xcalloc(json_array_size(it->json) + 1, sizeof(*it->ev));
	it->w = xcalloc(json_array_size(it->json) + 1, sizeof(*it->w));
	json_array_foreach(it->json, i, e)
	{
		struct route_event *ev = &it->ev[n];

		if (!json_is_array(e) || json_array_size(e) < 5)
			continue;
		memset(ev, 0, sizeof(*ev));
		ev->kind = json_string_value(json_array_get(e, 0));
		ev->conv = json_string_value(json_array_get(e, 1));
		ev->advisor = json_string_value(json_array_get(e, 2));
		ev->instance = json_string_value(json_array_get(e, 3));
		x = json_array_get(e, 4);
		if (ev->kind == NULL || ev->conv == NULL ||
		    ev->advisor == NULL || ev->instance == NULL ||
		    !json_is_string(x))
			continue;
		ev->version = strtoll(json_string_value(x), NULL, 10);
		for (k = 5;
		     k < json_array_size(e) && ev->nextra < ROUTE_EVENT_EXTRA;
		     k++) {
			x = json_array_get(e, k);
			ev->extra[ev->nextra++] =
			        json_is_string(x) ? json_string_value(x) : "";
		}
		n++;
	}
	return n;
}

/*
 * Records one drained entry's events; the entry is deleted once they are
 * committed (one that holds none it can read is deleted, and logged).
 */
static void
drain_entry(struct route_stream *s, const redisReply *entry)
{
	const redisReply *fields;
	struct drain_item *it;
	const char *reason = NULL;
	size_t i;
	int rc;

	if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
	    entry->element[0]->type != REDIS_REPLY_STRING ||
	    entry->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	fields = entry->element[1];
	it = xcalloc(1, sizeof(*it));
	it->s = s;
	s->refs++;
	s->batch_left++;
	it->entry = route_entry_new(s->r, entry->element[0]->str);
	it->pending = 1;
	for (i = 0; i + 1 < fields->elements; i += 2)
		if (fields->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(fields->element[i]->str, "e") == 0 &&
		    fields->element[i + 1]->type == REDIS_REPLY_STRING)
			it->n = item_parse(it, fields->element[i + 1]->str,
			                   fields->element[i + 1]->len);
	if (it->n == 0)
		gw_warn("route.drain_unreadable", "entry=%s",
		        entry->element[0]->str);
	for (i = 0; i < it->n; i++) {
		it->w[i].item = it;
		it->w[i].idx = i;
		route_entry_hold(it->entry);
		it->pending++;
		rc = route_submit_event(s->r, &it->ev[i], 1, on_drained_written,
		                        &it->w[i], on_drained_written,
		                        &it->w[i], &reason);
		if (rc <= 0) {
			it->pending--;
			route_entry_done(it->entry, rc == 0);
		}
	}
	s->drained++;
	/* The parse's own hold. */
	if (--it->pending == 0)
		item_free(it);
}

static void
on_drain_reply(void *arg, redisReply *reply)
{
	struct route_stream *s = arg;
	const redisReply *last;
	size_t i;

	if (s->r == NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
			gw_debug("route.drain_failed", "reason=\"%s\"",
			         reply->str);
		/* NOSCRIPT and the like: the scripts are loaded again when
		 * Redis comes back; try at the next tick. */
		s->batch_full = 0;
		s->cursor[0] = '\0';
		if (s->r != NULL) {
			s->inflight = 0;
			drain_next(s, DRAIN_TICK_MS);
		}
		stream_unref(s);
		return;
	}
	s->batch_full = reply->elements == DRAIN_COUNT;
	s->cursor[0] = '\0';
	if (s->batch_full) {
		last = reply->element[reply->elements - 1];
		if (last->type == REDIS_REPLY_ARRAY && last->elements == 2 &&
		    last->element[0]->type == REDIS_REPLY_STRING)
			snprintf(s->cursor, sizeof(s->cursor), "(%s",
			         last->element[0]->str);
	}
	/* A guard, so a batch whose writes all finish at once ends once. */
	s->batch_left = 1;
	for (i = 0; i < reply->elements; i++)
		drain_entry(s, reply->element[i]);
	if (reply->elements > 0)
		gw_info("route.drained", "entries=%zu", reply->elements);
	if (--s->batch_left == 0)
		drain_batch_done(s);
	stream_unref(s);
}

static void
on_drain_tick(uv_timer_t *t)
{
	struct route_stream *s = t->data;
	struct route *r = s->r;
	char epoch[32], lease[16], age[16], count[16];
	const char *argv[10];
	size_t lens[10];
	int i;

	if (r == NULL || s->inflight)
		return;
	if (!route_ready(r)) {
		drain_next(s, DRAIN_TICK_MS);
		return;
	}
	snprintf(epoch, sizeof(epoch), "%llu", route_epoch(r));
	snprintf(lease, sizeof(lease), "%d", DRAIN_LEASE_MS);
	snprintf(age, sizeof(age), "%d", DRAIN_AGE_MS);
	snprintf(count, sizeof(count), "%d", DRAIN_COUNT);
	argv[0] = "EVALSHA";
	argv[1] = r->sha[route_script_index("drain")];
	argv[2] = "0";
	argv[3] = epoch;
	argv[4] = r->origin;
	argv[5] = lease;
	argv[6] = age;
	argv[7] = count;
	argv[8] = s->cursor[0] != '\0' ? s->cursor : "-";
	for (i = 0; i < 9; i++)
		lens[i] = strlen(argv[i]);
	s->inflight = 1;
	s->refs++;
	if (kv_command_argv(r->kv, on_drain_reply, s, 9, argv, lens) != 0) {
		s->inflight = 0;
		s->refs--;
		drain_next(s, DRAIN_TICK_MS);
	}
}

static void
drain_next(struct route_stream *s, uint64_t ms)
{
	if (s->r != NULL)
		uv_timer_start(&s->tick, on_drain_tick, ms, 0);
}

/* ---------------------------------------------------------------- life */

static void
stream_maybe_free(struct route_stream *s)
{
	if (s->r != NULL || s->handles > 0 || s->refs > 0)
		return;
	free(s->ids);
	free(s);
}

static void
stream_unref(struct route_stream *s)
{
	s->refs--;
	stream_maybe_free(s);
}

static void
on_stream_handle_closed(uv_handle_t *h)
{
	struct route_stream *s = h->data;

	s->handles--;
	stream_maybe_free(s);
}

struct route_stream *
route_stream_new(struct route *r)
{
	struct route_stream *s = xcalloc(1, sizeof(*s));

	s->r = r;
	uv_timer_init(r->loop, &s->tick);
	uv_timer_init(r->loop, &s->xdel);
	s->tick.data = s->xdel.data = s;
	s->handles = 2;
	drain_next(s, DRAIN_TICK_MS);
	return s;
}

unsigned long
route_stream_drained(const struct route_stream *s)
{
	return s != NULL ? s->drained : 0;
}

void
route_stream_free(struct route_stream *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nids; i++)
		free(s->ids[i]);
	s->nids = 0;
	s->r = NULL;
	uv_close((uv_handle_t *)&s->tick, on_stream_handle_closed);
	uv_close((uv_handle_t *)&s->xdel, on_stream_handle_closed);
}
