/*
 * fake_desks.c: desk sockets for the bus's and the conversation core's
 * unit tests (fake_desks.h). Loop thread only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_desks.h"
#include "support.h"

int
fake_desks_send(void *arg, unsigned long conn, const char *text)
{
	struct fake_desks *ds = arg;
	struct fake_desk *k;

	if (conn == 0 || conn >= FAKE_DESKS)
		return -1;
	k = &ds->at[conn];
	assert_true(k->n < FAKE_DESK_SENT_MAX);
	k->sent[k->n] = strdup(text);
	assert_non_null(k->sent[k->n]);
	k->n++;
	return 0;
}

void
fake_desks_reset(struct fake_desks *ds)
{
	size_t i, j;

	for (i = 0; i < FAKE_DESKS; i++) {
		for (j = 0; j < ds->at[i].n; j++)
			free(ds->at[i].sent[j]);
		ds->at[i].n = 0;
	}
}

struct want {
	const struct fake_desk *k;
	size_t n;
};

static int
has_n(void *arg)
{
	const struct want *w = arg;

	return w->k->n >= w->n;
}

int
fake_desks_await(uv_loop_t *loop, struct fake_desk *k, size_t n, int ms)
{
	struct want x = {k, n};

	return sb_run_until(loop, has_n, &x, ms);
}

json_t *
fake_desks_sent(const struct fake_desk *k, size_t i)
{
	json_t *m;

	assert_true(i < k->n);
	m = json_loads(k->sent[i], 0, NULL);
	assert_non_null(m);
	return m;
}

struct kv *
fake_desks_kv(uv_loop_t *loop, int port, int ping_ms)
{
	struct kv_options o;

	memset(&o, 0, sizeof(o));
	o.address = "127.0.0.1";
	o.port = port;
	o.timeout_ms = 1000;
	o.ping_interval_ms = ping_ms;
	o.backoff_min_ms = 20;
	o.backoff_max_ms = 100;
	return kv_new(loop, &o);
}

struct bus *
fake_desks_bus(uv_loop_t *loop, int port, const char *name,
               struct fake_desks *ds, struct kv **pub, struct kv **sub)
{
	struct bus *b;

	*pub = fake_desks_kv(loop, port, 200);
	*sub = fake_desks_kv(loop, port, 0);
	b = bus_new(loop, *pub, *sub, name, fake_desks_send, ds);
	assert_non_null(b);
	kv_start(*pub);
	kv_start(*sub);
	return b;
}

void
fake_desks_link(uv_loop_t *loop, struct bus *from, struct bus *to,
                struct fake_desks *to_desks)
{
	json_t *ev = json_pack("{s:s}", "type", "probe");
	struct fake_desk *k = &to_desks->at[FAKE_PROBE_CONN];
	int i, got = 0;

	bus_follow(to, FAKE_PROBE_CONV, FAKE_PROBE_CONN);
	for (i = 0; i < 60 && !got; i++) {
		bus_publish(from, FAKE_PROBE_CONV, 0, ev, NULL, NULL, NULL,
		            NULL);
		got = fake_desks_await(loop, k, k->n + 1, 100);
	}
	assert_true(got);
	bus_unfollow(to, FAKE_PROBE_CONV, FAKE_PROBE_CONN);
	json_decref(ev);
}
