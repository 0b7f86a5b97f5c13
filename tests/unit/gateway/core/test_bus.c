/*
 * test_bus.c: the conversation bus against a real redis-server, with two
 * buses in one process, each on its own two Redis connections, standing
 * for two daemons. Desk sockets are fake_desks.h's: what each connection id
 * was sent. Every test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "fake_desks.h"
#include "kv.h"
#include "support.h"

struct hooked {
	int calls;
	uint64_t conv, seq;
	char body[64];
	size_t desks;
	int local;
};

struct daemon {
	struct kv *pub, *sub;
	struct bus *bus;
	struct fake_desks desk; /* connection ids 1..FAKE_DESKS-1 */
	struct hooked hook;
};

/* One redis-server for every test (stopping one takes a while). */
static struct sb_redis redis;

struct world {
	uv_loop_t loop;
	struct kv *ctl; /* the tests' own commands to Redis */
	struct daemon a, b;
};

static void
on_hook(void *arg, const struct bus_event *ev)
{
	struct hooked *h = arg;

	h->calls++;
	h->conv = ev->conv;
	h->seq = ev->seq;
	assert_int_equal(strlen(ev->body), ev->len);
	snprintf(h->body, sizeof(h->body), "%s", ev->body);
	h->desks = ev->desks;
	h->local = ev->local;
}

/* Runs until desk k has at least n messages; 1, or 0 after ms. */
static int
await_ms(struct world *w, struct fake_desk *k, size_t n, int ms)
{
	return fake_desks_await(&w->loop, k, n, ms);
}

static int
await(struct world *w, struct fake_desk *k, size_t n)
{
	return await_ms(w, k, n, 3000);
}

static int
all_ready(void *arg)
{
	struct world *w = arg;

	return kv_ready(w->ctl) && kv_ready(w->a.pub) && kv_ready(w->a.sub) &&
	       kv_ready(w->b.pub) && kv_ready(w->b.sub);
}

static int
setup(void **st)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	uv_loop_init(&w->loop);
	w->ctl = fake_desks_kv(&w->loop, redis.port, 200);
	kv_start(w->ctl);
	w->a.bus = fake_desks_bus(&w->loop, redis.port, "gw-a", &w->a.desk,
	                          &w->a.pub, &w->a.sub);
	w->b.bus = fake_desks_bus(&w->loop, redis.port, "gw b/é", &w->b.desk,
	                          &w->b.pub, &w->b.sub);
	assert_true(sb_run_until(&w->loop, all_ready, w, 5000));
	fake_desks_link(&w->loop, w->a.bus, w->b.bus, &w->b.desk);
	fake_desks_link(&w->loop, w->b.bus, w->a.bus, &w->a.desk);
	fake_desks_reset(&w->a.desk);
	fake_desks_reset(&w->b.desk);
	*st = w;
	return 0;
}

static int
teardown(void **st)
{
	struct world *w = *st;

	kv_close(w->a.pub, NULL, NULL);
	kv_close(w->a.sub, NULL, NULL);
	kv_close(w->b.pub, NULL, NULL);
	kv_close(w->b.sub, NULL, NULL);
	kv_close(w->ctl, NULL, NULL);
	bus_free(w->a.bus);
	bus_free(w->b.bus);
	assert_int_equal(sb_loop_finish(&w->loop), 0);
	fake_desks_reset(&w->a.desk);
	fake_desks_reset(&w->b.desk);
	free(w);
	return 0;
}

static int
group_setup(void **st)
{
	(void)st;
	return sb_redis_setup(&redis);
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_redis_teardown(&redis);
	return 0;
}

/* A message event for desks: {"type", "conversation", "seq", "text"}. */
static json_t *
msg(uint64_t conv, uint64_t seq, const char *text)
{
	char cv[24];

	snprintf(cv, sizeof(cv), "%llu", (unsigned long long)conv);
	return json_pack("{s:s, s:s, s:I, s:s}", "type", "x.message",
	                 "conversation", cv, "seq", (json_int_t)seq, "text",
	                 text);
}

/* Publishes a message event and drops the reference. */
static size_t
pub_msg(struct daemon *d, uint64_t conv, uint64_t seq, const char *text)
{
	json_t *m = msg(conv, seq, text);
	size_t n = bus_publish(d->bus, conv, seq, m, NULL, NULL, NULL, NULL);

	json_decref(m);
	return n;
}

static const char *
text_of(json_t *m)
{
	return json_string_value(json_object_get(m, "text"));
}

/* Whether desk k's message i has text t; frees what it parsed. */
static void
assert_text(struct fake_desk *k, size_t i, const char *t)
{
	json_t *m = fake_desks_sent(k, i);

	assert_non_null(text_of(m));
	assert_string_equal(text_of(m), t);
	json_decref(m);
}

struct done {
	int calls;
	int ok;
};

static void
on_done(void *arg, int ok)
{
	struct done *d = arg;

	d->calls++;
	d->ok = ok;
}

static int
done_called(void *arg)
{
	return ((struct done *)arg)->calls > 0;
}

static void
test_delivery(void **st)
{
	struct world *w = *st;
	struct bus_stats sa, sb, sa0, sb0;
	struct done dn = {0, 0};
	json_t *m = msg(7, 1, "one");

	bus_stats(w->a.bus, &sa0);
	bus_stats(w->b.bus, &sb0);

	bus_follow(w->a.bus, 7, 1);
	bus_follow(w->b.bus, 7, 2);
	bus_follow(w->b.bus, 8, 3); /* another conversation */
	assert_int_equal(
	        bus_publish(w->a.bus, 7, 1, m, NULL, NULL, on_done, &dn), 1);
	json_decref(m);
	/* Here at once; there once Redis has passed it on. */
	assert_int_equal(w->a.desk.at[1].n, 1);
	assert_true(await(w, &w->b.desk.at[2], 1));
	assert_true(sb_run_until(&w->loop, done_called, &dn, 3000));
	assert_int_equal(dn.ok, 1);
	/* B's message comes to A after A's own: had A taken its own, it
	 * would have had it by now. */
	assert_int_equal(pub_msg(&w->b, 7, 2, "two"), 1);
	assert_true(await(w, &w->a.desk.at[1], 2));
	assert_true(await(w, &w->b.desk.at[2], 2));
	sb_run_for(&w->loop, 50);
	assert_int_equal(w->a.desk.at[1].n, 2);
	assert_int_equal(w->b.desk.at[2].n, 2);
	assert_text(&w->a.desk.at[1], 0, "one");
	assert_text(&w->a.desk.at[1], 1, "two");
	assert_text(&w->b.desk.at[2], 0, "one");
	assert_text(&w->b.desk.at[2], 1, "two");
	assert_int_equal(w->b.desk.at[3].n, 0);
	bus_stats(w->a.bus, &sa);
	bus_stats(w->b.bus, &sb);
	assert_int_equal(sa.delivered - sa0.delivered, 2);
	assert_int_equal(sb.delivered - sb0.delivered, 2);
	assert_int_equal(sa.published - sa0.published, 1);
	assert_int_equal(sb.published - sb0.published, 1);
	assert_int_equal(sa.repeats + sb.repeats + sa.failed + sb.failed, 0);
	assert_true(bus_shown(w->a.bus, 7, 1));
	assert_false(bus_shown(w->a.bus, 7, 2));
}

static void
test_unfollow_and_drop(void **st)
{
	struct world *w = *st;

	bus_follow(w->b.bus, 7, 1);
	bus_follow(w->b.bus, 8, 1);
	bus_follow(w->b.bus, 9, 1);
	bus_follow(w->b.bus, 7, 2);
	bus_follow(w->b.bus, 9, 3);
	bus_unfollow(w->b.bus, 8, 1);
	bus_drop_conversation(w->b.bus, 9);
	pub_msg(&w->a, 8, 1, "eight");
	pub_msg(&w->a, 9, 1, "nine");
	pub_msg(&w->a, 7, 1, "seven");
	assert_true(await(w, &w->b.desk.at[2], 1));
	assert_int_equal(w->b.desk.at[1].n, 1);
	assert_text(&w->b.desk.at[1], 0, "seven");
	assert_int_equal(w->b.desk.at[3].n, 0);
	assert_false(bus_shown(w->b.bus, 9, 3));
	/* The socket closed: it follows nothing. */
	bus_drop_conn(w->b.bus, 1);
	assert_false(bus_shown(w->b.bus, 7, 1));
	pub_msg(&w->a, 7, 2, "after");
	assert_true(await(w, &w->b.desk.at[2], 2));
	assert_int_equal(w->b.desk.at[1].n, 1);
}

static void
test_repeats_dropped(void **st)
{
	struct world *w = *st;
	struct bus_stats s;

	bus_follow(w->a.bus, 7, 1);
	bus_follow(w->b.bus, 7, 2);
	pub_msg(&w->a, 7, 5, "five");
	assert_true(await(w, &w->b.desk.at[2], 1));
	/* A retry of the same message from the other instance. */
	pub_msg(&w->b, 7, 5, "five again");
	pub_msg(&w->b, 7, 6, "six");
	assert_true(await(w, &w->a.desk.at[1], 2));
	assert_true(await(w, &w->b.desk.at[2], 2));
	sb_run_for(&w->loop, 50);
	assert_int_equal(w->a.desk.at[1].n, 2);
	assert_int_equal(w->b.desk.at[2].n, 2);
	assert_text(&w->a.desk.at[1], 0, "five");
	assert_text(&w->a.desk.at[1], 1, "six");
	assert_text(&w->b.desk.at[2], 0, "five");
	bus_stats(w->a.bus, &s);
	assert_int_equal(s.repeats, 1);
	bus_stats(w->b.bus, &s);
	assert_int_equal(s.repeats, 1);
	/* Events that are not messages (seq 0) are never repeats. */
	json_t *e = json_pack("{s:s}", "type", "x.typing");
	bus_publish(w->b.bus, 7, 0, e, NULL, NULL, NULL, NULL);
	bus_publish(w->b.bus, 7, 0, e, NULL, NULL, NULL, NULL);
	json_decref(e);
	assert_true(await(w, &w->a.desk.at[1], 4));
}

static void
test_channel_hook(void **st)
{
	struct world *w = *st;

	assert_int_equal(
	        bus_set_channel_hook(w->a.bus, "chat", on_hook, &w->a.hook), 0);
	assert_int_equal(
	        bus_set_channel_hook(w->b.bus, "chat", on_hook, &w->b.hook), 0);
	assert_int_equal(
	        bus_set_channel_hook(w->a.bus, "Bad-name", on_hook, NULL), -1);
	bus_follow(w->b.bus, 7, 2);
	json_t *m = msg(7, 3, "hello");
	bus_publish(w->a.bus, 7, 3, m, "chat", "{\"r\":1}", NULL, NULL);
	json_decref(m);
	/* Here at once, with nobody here following. */
	assert_int_equal(w->a.hook.calls, 1);
	assert_int_equal(w->a.hook.local, 1);
	assert_int_equal(w->a.hook.desks, 0);
	assert_string_equal(w->a.hook.body, "{\"r\":1}");
	assert_true(await(w, &w->b.desk.at[2], 1));
	assert_int_equal(w->b.hook.calls, 1);
	assert_int_equal(w->b.hook.local, 0);
	assert_int_equal(w->b.hook.conv, 7);
	assert_int_equal(w->b.hook.seq, 3);
	assert_int_equal(w->b.hook.desks, 1);
	assert_string_equal(w->b.hook.body, "{\"r\":1}");
	/* Only the channel's part; then another channel's event. */
	bus_publish(w->b.bus, 7, 0, NULL, "chat", "bye", NULL, NULL);
	bus_publish(w->b.bus, 7, 0, NULL, "form", "x", NULL, NULL);
	bus_follow(w->a.bus, 7, 1);
	pub_msg(&w->b, 7, 4, "marker");
	assert_true(await(w, &w->a.desk.at[1], 1));
	assert_int_equal(w->a.hook.calls, 2);
	assert_string_equal(w->a.hook.body, "bye");
	assert_int_equal(w->b.hook.calls, 2);
	assert_int_equal(w->a.desk.at[1].n, 1);
	/* Removed: not called any more. */
	assert_int_equal(bus_set_channel_hook(w->a.bus, "chat", NULL, NULL), 0);
	bus_publish(w->b.bus, 7, 0, NULL, "chat", "gone", NULL, NULL);
	pub_msg(&w->b, 7, 5, "marker2");
	assert_true(await(w, &w->a.desk.at[1], 2));
	assert_int_equal(w->a.hook.calls, 2);
}

/* The history answer as a caller makes it: rows seq from..to. */
static json_t *
history(uint64_t from, uint64_t to, json_t **msgs)
{
	json_t *a = json_array(), *m;
	uint64_t s;
	char t[24];

	for (s = from; s <= to && from > 0; s++) {
		snprintf(t, sizeof(t), "m%llu", (unsigned long long)s);
		json_array_append_new(a, json_pack("{s:I, s:s}", "seq",
		                                   (json_int_t)s, "text", t));
	}
	m = json_pack("{s:s, s:s, s:o}", "type", "x.history", "conversation",
	              "7", "messages", a);
	*msgs = a;
	return m;
}

/* The seqs of the answer's messages, as "1,2,3". */
static void
answer_seqs(struct fake_desk *k, size_t i, char *out, size_t size)
{
	json_t *m = fake_desks_sent(k, i),
	       *msgs = json_object_get(m, "messages"), *x;
	size_t j, len = 0;

	assert_string_equal(json_string_value(json_object_get(m, "type")),
	                    "x.history");
	out[0] = '\0';
	json_array_foreach(msgs, j, x)
	{
		/* Merged ones come without their event's type. */
		assert_null(json_object_get(x, "type"));
		assert_null(json_object_get(x, "conversation"));
		len += (size_t)snprintf(out + len, size - len, "%s%lld",
		                        j ? "," : "",
		                        (long long)json_integer_value(
		                                json_object_get(x, "seq")));
		assert_true(len < size);
	}
	json_decref(m);
}

static void
test_history_join(void **st)
{
	struct world *w = *st;
	json_t *h, *msgs, *e;
	char seqs[256];

	/* Desk 5 on A asks; desk 6 on A follows, to know when A has heard. */
	bus_follow(w->a.bus, 7, 6);
	bus_history_begin(w->a.bus, 7, 5);
	assert_false(bus_shown(w->a.bus, 7, 5));
	pub_msg(&w->b, 7, 4, "m4");
	pub_msg(&w->a, 7, 3, "m3"); /* the read will have it too */
	e = json_pack("{s:s}", "type", "x.typing");
	bus_publish(w->b.bus, 7, 0, e, NULL, NULL, NULL, NULL);
	json_decref(e);
	pub_msg(&w->a, 7, 6, "m6");
	pub_msg(&w->b, 7, 5, "m5"); /* out of order */
	assert_true(await(w, &w->a.desk.at[6], 5));
	assert_int_equal(w->a.desk.at[5].n, 0); /* held */
	h = history(1, 3, &msgs);
	assert_int_equal(bus_history_end(w->a.bus, 7, 5, h, msgs, 0), 0);
	json_decref(h);
	/* One answer with the held messages merged, then the typing. */
	assert_int_equal(w->a.desk.at[5].n, 2);
	answer_seqs(&w->a.desk.at[5], 0, seqs, sizeof(seqs));
	assert_string_equal(seqs, "1,2,3,4,5,6");
	e = fake_desks_sent(&w->a.desk.at[5], 1);
	assert_string_equal(json_string_value(json_object_get(e, "type")),
	                    "x.typing");
	json_decref(e);
	assert_true(bus_shown(w->a.bus, 7, 5));
	/* Live from now on; a late copy of what the history had is dropped. */
	pub_msg(&w->b, 7, 2, "m2 again");
	pub_msg(&w->b, 7, 7, "m7");
	assert_true(await(w, &w->a.desk.at[5], 3));
	sb_run_for(&w->loop, 50);
	assert_int_equal(w->a.desk.at[5].n, 3);
	assert_text(&w->a.desk.at[5], 2, "m7");
}

static void
test_history_burst(void **st)
{
	struct world *w = *st;
	json_t *h, *msgs, *m, *all;
	uint64_t s;
	size_t i;

	bus_follow(w->a.bus, 7, 6);
	bus_history_begin(w->a.bus, 7, 5);
	/* 300 messages from both instances during the read. */
	for (s = 10; s < 310; s++)
		pub_msg(s % 2 ? &w->a : &w->b, 7, s, "burst");
	assert_true(await(w, &w->a.desk.at[6], 300));
	h = history(1, 20, &msgs);
	assert_int_equal(bus_history_end(w->a.bus, 7, 5, h, msgs, 0), 0);
	json_decref(h);
	assert_int_equal(w->a.desk.at[5].n, 1);
	m = fake_desks_sent(&w->a.desk.at[5], 0);
	all = json_object_get(m, "messages");
	assert_int_equal(json_array_size(all), 309);
	for (i = 0; i < 309; i++)
		assert_int_equal(json_integer_value(json_object_get(
		                         json_array_get(all, i), "seq")),
		                 i + 1);
	json_decref(m);
}

static void
test_history_more(void **st)
{
	struct world *w = *st;
	json_t *h, *msgs;
	char seqs[64];

	/* Cut short: held messages follow the answer, not inside it. */
	bus_follow(w->a.bus, 7, 6);
	bus_history_begin(w->a.bus, 7, 5);
	pub_msg(&w->b, 7, 9, "m9");
	pub_msg(&w->b, 7, 2, "m2");
	assert_true(await(w, &w->a.desk.at[6], 2));
	h = history(1, 2, &msgs);
	assert_int_equal(bus_history_end(w->a.bus, 7, 5, h, msgs, 1), 0);
	json_decref(h);
	assert_int_equal(w->a.desk.at[5].n, 2);
	answer_seqs(&w->a.desk.at[5], 0, seqs, sizeof(seqs));
	assert_string_equal(seqs, "1,2");
	assert_text(&w->a.desk.at[5], 1, "m9");
}

static void
test_history_overlap_and_gone(void **st)
{
	struct world *w = *st;
	json_t *h, *msgs;
	char seqs[64];

	/* Two reads in flight: held until the last one ends. */
	bus_follow(w->a.bus, 7, 6);
	bus_history_begin(w->a.bus, 7, 5);
	bus_history_begin(w->a.bus, 7, 5);
	pub_msg(&w->b, 7, 3, "m3");
	assert_true(await(w, &w->a.desk.at[6], 1));
	h = history(1, 2, &msgs);
	assert_int_equal(bus_history_end(w->a.bus, 7, 5, h, msgs, 0), 0);
	json_decref(h);
	assert_int_equal(w->a.desk.at[5].n, 1);
	answer_seqs(&w->a.desk.at[5], 0, seqs, sizeof(seqs));
	assert_string_equal(seqs, "1,2");
	pub_msg(&w->b, 7, 4, "m4");
	assert_true(await(w, &w->a.desk.at[6], 2));
	assert_int_equal(w->a.desk.at[5].n, 1);
	h = history(1, 2, &msgs);
	assert_int_equal(bus_history_end(w->a.bus, 7, 5, h, msgs, 0), 0);
	json_decref(h);
	answer_seqs(&w->a.desk.at[5], 1, seqs, sizeof(seqs));
	assert_string_equal(seqs, "1,2,3,4");
	/* Unfollowed during a read: answered all the same, not followed. */
	bus_history_begin(w->a.bus, 8, 4);
	bus_unfollow(w->a.bus, 8, 4);
	h = history(0, 0, &msgs);
	assert_int_equal(bus_history_end(w->a.bus, 8, 4, h, msgs, 0), 0);
	json_decref(h);
	assert_int_equal(w->a.desk.at[4].n, 1);
	assert_false(bus_shown(w->a.bus, 8, 4));
	/* A read that failed, for a desk never shown: not followed. */
	bus_history_begin(w->a.bus, 9, 3);
	bus_history_abort(w->a.bus, 9, 3);
	assert_false(bus_shown(w->a.bus, 9, 3));
	assert_int_equal(pub_msg(&w->a, 9, 1, "x"), 0);
}

static void
test_hold_bound(void **st)
{
	struct world *w = *st;
	struct bus_stats s;
	json_t *h, *msgs;
	char seqs[64];
	uint64_t q;

	bus_set_hold_max(w->a.bus, 4);
	bus_follow(w->a.bus, 7, 6);
	bus_history_begin(w->a.bus, 7, 5);
	for (q = 1; q <= 6; q++)
		pub_msg(&w->b, 7, q, "m");
	assert_true(await(w, &w->a.desk.at[6], 6));
	h = history(0, 0, &msgs);
	/* Refused: nothing sent; the caller refuses, then aborts. */
	assert_int_equal(bus_history_end(w->a.bus, 7, 5, h, msgs, 0), -1);
	assert_int_equal(w->a.desk.at[5].n, 0);
	bus_history_abort(w->a.bus, 7, 5);
	assert_false(bus_shown(w->a.bus, 7, 5));
	bus_stats(w->a.bus, &s);
	assert_int_equal(s.refused, 1);
	pub_msg(&w->b, 7, 7, "m");
	assert_true(await(w, &w->a.desk.at[6], 7));
	assert_int_equal(w->a.desk.at[5].n, 0);
	/* The retry, with less coming: answered. */
	bus_history_begin(w->a.bus, 7, 5);
	pub_msg(&w->b, 7, 8, "m");
	assert_true(await(w, &w->a.desk.at[6], 8));
	json_decref(h);
	h = history(1, 7, &msgs);
	assert_int_equal(bus_history_end(w->a.bus, 7, 5, h, msgs, 0), 0);
	json_decref(h);
	answer_seqs(&w->a.desk.at[5], 0, seqs, sizeof(seqs));
	assert_string_equal(seqs, "1,2,3,4,5,6,7,8");
	/* A desk shown before (a resync) that overflows keeps following,
	 * and is sent what was held. */
	bus_history_begin(w->a.bus, 7, 5);
	for (q = 9; q <= 14; q++)
		pub_msg(&w->b, 7, q, "m");
	assert_true(await(w, &w->a.desk.at[6], 14));
	h = history(0, 0, &msgs);
	assert_int_equal(bus_history_end(w->a.bus, 7, 5, h, msgs, 0), -1);
	json_decref(h);
	bus_history_abort(w->a.bus, 7, 5);
	assert_true(bus_shown(w->a.bus, 7, 5));
	assert_int_equal(w->a.desk.at[5].n, 1 + 4);
	pub_msg(&w->b, 7, 15, "m15");
	assert_true(await(w, &w->a.desk.at[5], 6));
	assert_text(&w->a.desk.at[5], 5, "m15");
}

static void
test_done_waits_for_redis(void **st)
{
	struct world *w = *st;
	struct done dn = {0, 0};
	json_t *m = msg(7, 1, "paused");

	/* Redis holds every client's commands: the answer waits. */
	assert_int_equal(kv_command(w->ctl, NULL, NULL, "CLIENT PAUSE 400"), 0);
	sb_run_for(&w->loop, 50);
	bus_follow(w->a.bus, 7, 1);
	bus_publish(w->a.bus, 7, 1, m, NULL, NULL, on_done, &dn);
	json_decref(m);
	assert_int_equal(w->a.desk.at[1].n, 1); /* here at once all the same */
	sb_run_for(&w->loop, 200);
	assert_int_equal(dn.calls, 0);
	assert_true(sb_run_until(&w->loop, done_called, &dn, 3000));
	assert_int_equal(dn.calls, 1);
	assert_int_equal(dn.ok, 1);
}

static int
pub_down(void *arg)
{
	return !kv_ready(arg);
}

static void
test_done_fails_when_redis_down(void **st)
{
	struct world *w = *st;
	struct done dn = {0, 0}, bad = {0, 0};
	struct bus_stats s;
	json_t *m = msg(7, 1, "lost");

	bus_follow(w->a.bus, 7, 1);
	assert_int_equal(sb_redis_stop(&redis), 0);
	assert_true(sb_run_until(&w->loop, pub_down, w->a.pub, 3000));
	assert_int_equal(
	        bus_publish(w->a.bus, 7, 1, m, NULL, NULL, on_done, &dn), 1);
	/* Never told from within bus_publish. */
	assert_int_equal(dn.calls, 0);
	assert_true(sb_run_until(&w->loop, done_called, &dn, 1000));
	assert_int_equal(dn.calls, 1);
	assert_int_equal(dn.ok, 0);
	/* An event that cannot be made fails the same way. */
	bus_publish(w->a.bus, 0, 1, m, NULL, NULL, on_done, &bad);
	bus_publish(w->a.bus, 7, 1, m, "No", NULL, on_done, &bad);
	assert_int_equal(bad.calls, 0);
	assert_true(sb_run_until(&w->loop, done_called, &bad, 1000));
	sb_run_for(&w->loop, 10);
	assert_int_equal(bad.calls, 2);
	assert_int_equal(bad.ok, 0);
	bus_stats(w->a.bus, &s);
	assert_int_equal(s.failed, 3);
	json_decref(m);
	assert_int_equal(sb_redis_start(&redis), 0);
	assert_true(sb_run_until(&w->loop, all_ready, w, 5000));
	fake_desks_link(&w->loop, w->a.bus, w->b.bus, &w->b.desk);
}

static void
test_done_when_freed(void **st)
{
	struct world *w = *st;
	struct done dn = {0, 0};
	json_t *m = msg(7, 1, "x");

	/* A publication in flight when the bus goes is told, once. */
	assert_int_equal(kv_command(w->ctl, NULL, NULL, "CLIENT PAUSE 300"), 0);
	sb_run_for(&w->loop, 50);
	bus_publish(w->a.bus, 7, 1, m, NULL, NULL, on_done, &dn);
	json_decref(m);
	/* Its subscriber closed first, as bus.h asks. */
	kv_close(w->a.sub, NULL, NULL);
	bus_free(w->a.bus);
	assert_int_equal(dn.calls, 1);
	assert_int_equal(dn.ok, 0);
	w->a.sub = fake_desks_kv(&w->loop, redis.port, 0);
	w->a.bus = bus_new(&w->loop, w->a.pub, w->a.sub, "gw-a",
	                   fake_desks_send, &w->a.desk);
	assert_non_null(w->a.bus);
	kv_start(w->a.sub);
	/* The answer that comes later goes to nobody. */
	sb_run_for(&w->loop, 500);
	assert_int_equal(dn.calls, 1);
}

static void
test_malformed_and_strangers(void **st)
{
	struct world *w = *st;
	struct bus_stats s;
	const char *ok = "other/1 7 3 - 23 0\n{\"type\":\"x\",\"text\":\"s\"}";

	bus_follow(w->a.bus, 7, 1);
	assert_int_equal(kv_command(w->ctl, NULL, NULL, "PUBLISH %s %s",
	                            BUS_REDIS_CHANNEL, "garbage"),
	                 0);
	assert_int_equal(kv_command(w->ctl, NULL, NULL, "PUBLISH %s %s",
	                            BUS_REDIS_CHANNEL, "x 7 1 - 99 0\n{}"),
	                 0);
	/* Starts like A's tag but is not A's: the space tells. */
	char spoof[128];
	snprintf(spoof, sizeof(spoof), "%sx 7 4 - 12 0\n{\"text\":\"p\"}",
	         bus_origin(w->a.bus));
	assert_int_equal(kv_command(w->ctl, NULL, NULL, "PUBLISH %s %s",
	                            BUS_REDIS_CHANNEL, spoof),
	                 0);
	assert_int_equal(kv_command(w->ctl, NULL, NULL, "PUBLISH %s %s",
	                            BUS_REDIS_CHANNEL, ok),
	                 0);
	assert_true(await(w, &w->a.desk.at[1], 2));
	assert_text(&w->a.desk.at[1], 0, "p");
	assert_text(&w->a.desk.at[1], 1, "s");
	bus_stats(w->a.bus, &s);
	assert_int_equal(s.malformed, 2);
}

static void
test_origin(void **st)
{
	struct world *w = *st;

	/* The name made safe, and a suffix of its own per bus. */
	assert_int_equal(strncmp(bus_origin(w->a.bus), "gw-a/", 5), 0);
	assert_int_equal(strncmp(bus_origin(w->b.bus), "gw_b__", 6), 0);
	assert_int_equal(strlen(bus_origin(w->a.bus)), 5 + 12);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unfollow_and_drop, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_repeats_dropped, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_channel_hook, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_history_join, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_history_burst, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_history_more, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_history_overlap_and_gone,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_hold_bound, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_done_waits_for_redis,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_done_fails_when_redis_down,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_done_when_freed, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_malformed_and_strangers,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_origin, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
