/*
 * route_queues.c: the active queues as this instance knows them. See
 * route_queues.h. One statement on the reads' connection reads them all;
 * the answer replaces the whole map at once, so a reader never sees half
 * of a read. Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "log.h"
#include "route_id.h"
#include "route_queues.h"
#include "xmalloc.h"

#define TICK_MS     1000
#define EVERY_TICKS 30 /* re-read every 30 s once read */

/*
 * Columns: id, slug, out_of_hours_message, overflow id ('' none), weekly
 * hours "weekday:opens:closes,..." in minutes, closure days from
 * yesterday "YYYY-MM-DD,...", name, channels "chat=leave_message,...".
 */
static const char QUEUES_SQL[] =
        "SELECT q.id, q.slug, q.out_of_hours_message,"
        " coalesce(q.overflow_queue_id::text, ''),"
        " (SELECT coalesce(string_agg(h.weekday || ':' ||"
        "   (extract(epoch FROM h.opens_at) / 60)::int || ':' ||"
        "   (extract(epoch FROM h.closes_at) / 60)::int, ','), '')"
        "  FROM queue_hours h WHERE h.queue_id = q.id),"
        " (SELECT coalesce(string_agg(to_char(d.day, 'YYYY-MM-DD'), ','), '')"
        "  FROM closure_days d WHERE (d.queue_id = q.id OR d.queue_id IS NULL)"
        "  AND d.day >= current_date - 1),"
        " q.name,"
        " (SELECT coalesce(string_agg(c.channel || '=' || c.out_of_hours, ','"
        "   ORDER BY c.channel), '')"
        "  FROM queue_channels c WHERE c.queue_id = q.id)"
        " FROM queues q WHERE q.active";

/* What the map holds: the public view and what it points to. */
struct entry {
	struct route_queue q;
	struct route_hours *hours;
	char *name;
	char *message;
};

struct route_queues {
	uv_loop_t *loop;
	struct db *db;
	struct idmap *map; /* queue id -> struct entry */
	uv_timer_t tick;
	unsigned ticks;
	int inflight;
	int loaded;
};

static void
entry_free(void *arg, uint64_t key, void *value)
{
	struct entry *e = value;

	(void)arg;
	(void)key;
	route_hours_free(e->hours);
	free(e->name);
	free(e->message);
	free(e);
}

/* "chat=leave_message,email=queue" into q's channels. */
static void
parse_channels(struct route_queue *q, const char *p)
{
	struct route_queue_channel *c;
	int n;

	while (q->nchans < ROUTE_QUEUE_CHANNELS_MAX) {
		c = &q->chans[q->nchans];
		if (sscanf(p, "%15[a-z]=%15[a-z_]%n", c->channel,
		           c->out_of_hours, &n) != 2)
			break;
		q->nchans++;
		p += n;
		if (*p != ',')
			break;
		p++;
	}
}

static struct entry *
entry_from_row(const PGresult *res, int i)
{
	struct entry *e = xcalloc(1, sizeof(*e));
	const char *p;
	int wd, o, c, y, m, d, n, nint = 0;

	e->q.id = route_id_parse(PQgetvalue(res, i, 0));
	snprintf(e->q.slug, sizeof(e->q.slug), "%s", PQgetvalue(res, i, 1));
	e->message = xstrdup(PQgetvalue(res, i, 2));
	e->q.overflow = route_id_parse(PQgetvalue(res, i, 3));
	e->name = xstrdup(PQgetvalue(res, i, 6));
	e->hours = route_hours_new();
	for (p = PQgetvalue(res, i, 4);
	     sscanf(p, "%d:%d:%d%n", &wd, &o, &c, &n) == 3; p += n) {
		route_hours_add_interval(e->hours, wd, o, c);
		nint++;
		if (p[n] == ',')
			p++;
	}
	/* No opening hours recorded: the queue is always open. */
	if (nint == 0)
		route_hours_set_always_open(e->hours, 1);
	for (p = PQgetvalue(res, i, 5);
	     sscanf(p, "%d-%d-%d%n", &y, &m, &d, &n) == 3; p += n) {
		route_hours_add_closure(e->hours, y, m, d);
		if (p[n] == ',')
			p++;
	}
	parse_channels(&e->q, PQgetvalue(res, i, 7));
	e->q.name = e->name;
	e->q.message = e->message;
	e->q.hours = e->hours;
	return e;
}

static void
on_queues(void *arg, PGresult *res, const char *err)
{
	struct route_queues *qs = arg;
	struct idmap *fresh;
	int i, n;

	qs->inflight = 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		gw_warn("route_queues.read_failed", "reason=\"%s\"",
		        err ? err : "?");
		return;
	}
	fresh = idmap_new();
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		struct entry *e = entry_from_row(res, i);

		idmap_put(fresh, e->q.id, e);
	}
	idmap_each(qs->map, entry_free, NULL);
	idmap_free(qs->map);
	qs->map = fresh;
	qs->loaded = 1;
}

void
route_queues_reload(struct route_queues *qs)
{
	if (!qs->inflight && db_ready(qs->db) &&
	    db_query(qs->db, QUEUES_SQL, 0, NULL, on_queues, qs) == 0)
		qs->inflight = 1;
}

static void
on_tick(uv_timer_t *t)
{
	struct route_queues *qs = t->data;

	/* Every tick until the first read succeeds (the database was down). */
	if (qs->ticks % EVERY_TICKS == 0 || !qs->loaded)
		route_queues_reload(qs);
	qs->ticks++;
}

struct route_queues *
route_queues_new(uv_loop_t *loop, struct db *db)
{
	struct route_queues *qs = xcalloc(1, sizeof(*qs));

	qs->loop = loop;
	qs->db = db;
	qs->map = idmap_new();
	uv_timer_init(loop, &qs->tick);
	qs->tick.data = qs;
	uv_timer_start(&qs->tick, on_tick, 0, TICK_MS);
	return qs;
}

static void
on_closed(uv_handle_t *h)
{
	struct route_queues *qs = h->data;

	idmap_each(qs->map, entry_free, NULL);
	idmap_free(qs->map);
	free(qs);
}

void
route_queues_free(struct route_queues *qs)
{
	if (qs == NULL)
		return;
	uv_close((uv_handle_t *)&qs->tick, on_closed);
}

int
route_queues_loaded(const struct route_queues *qs)
{
	return qs->loaded;
}

struct find_slug {
	const char *slug;
	const struct route_queue *found;
};

static void
match_slug(void *arg, uint64_t key, void *value)
{
	struct find_slug *f = arg;
	const struct entry *e = value;

	(void)key;
	if (strcmp(e->q.slug, f->slug) == 0)
		f->found = &e->q;
}

const struct route_queue *
route_queues_find(const struct route_queues *qs, const char *slug_or_id)
{
	struct find_slug f = {slug_or_id, NULL};
	uint64_t id = route_id_parse(slug_or_id);
	const struct entry *e;

	if (slug_or_id == NULL)
		return NULL;
	if (id != 0) {
		e = idmap_get(qs->map, id);
		return e != NULL ? &e->q : NULL;
	}
	idmap_each(qs->map, match_slug, &f);
	return f.found;
}

struct each {
	void (*fn)(void *arg, const struct route_queue *q);
	void *arg;
};

static void
each_entry(void *arg, uint64_t key, void *value)
{
	struct each *e = arg;

	(void)key;
	e->fn(e->arg, &((const struct entry *)value)->q);
}

int
route_queues_each(const struct route_queues *qs,
                  void (*fn)(void *arg, const struct route_queue *q), void *arg)
{
	struct each e = {fn, arg};

	if (!qs->loaded)
		return -1;
	idmap_each(qs->map, each_entry, &e);
	return 0;
}

const char *
route_queues_rule(const struct route_queue *q, const char *channel)
{
	size_t i;

	for (i = 0; i < q->nchans; i++)
		if (strcmp(q->chans[i].channel, channel) == 0)
			return q->chans[i].out_of_hours;
	return NULL;
}
