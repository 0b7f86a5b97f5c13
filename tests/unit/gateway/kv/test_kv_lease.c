/*
 * test_kv_lease.c: the lease against a real redis-server: two instances
 * on one key, only one holds it; the other takes it over once the holder
 * gives it back, or once a holder gone without a word lets its key
 * expire, not before; a holder whose Redis stops answering gives the lease
 * up on its own before the key can expire for the others, and takes it
 * again when Redis answers. Every test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kv.h"
#include "kv_lease.h"
#include "support.h"

#define TTL_MS      1000
#define LONG_TTL_MS 2000

static struct sb_redis redis;

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

struct seen {
	int takes, losses;
	char holder[64];
};

static void
on_change(void *arg, int held, const char *holder)
{
	struct seen *s = arg;

	if (held)
		s->takes++;
	else
		s->losses++;
	snprintf(s->holder, sizeof(s->holder), "%s", holder);
}

static struct kv *
make_kv(uv_loop_t *loop)
{
	struct kv_options o;

	memset(&o, 0, sizeof(o));
	o.address = "127.0.0.1";
	o.port = redis.port;
	o.timeout_ms = 2000;
	o.ping_interval_ms = 100;
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 100;
	return kv_new(loop, &o);
}

static struct kv_lease *
make_lease_ttl(uv_loop_t *loop, struct kv *kv, const char *who, struct seen *s,
               unsigned ttl_ms)
{
	struct kv_lease_options o;

	memset(&o, 0, sizeof(o));
	o.key = "sb:lease:test";
	o.holder = who;
	o.ttl_ms = ttl_ms;
	return kv_lease_new(loop, kv, &o, on_change, s);
}

static struct kv_lease *
make_lease(uv_loop_t *loop, struct kv *kv, const char *who, struct seen *s)
{
	return make_lease_ttl(loop, kv, who, s, TTL_MS);
}

static int
a_or_b_holds(void *arg)
{
	struct kv_lease **l = arg;

	return kv_lease_held(l[0]) || kv_lease_held(l[1]);
}

static int
b_holds(void *arg)
{
	return kv_lease_held(((struct kv_lease **)arg)[1]);
}

static int
kv_up(void *arg)
{
	return kv_ready(arg);
}

static void
test_one_holder_and_takeover(void **st)
{
	struct kv *ka, *kb;
	struct kv_lease *l[2];
	struct seen a, b;
	uv_loop_t loop;
	int i;

	(void)st;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	uv_loop_init(&loop);
	ka = make_kv(&loop);
	kb = make_kv(&loop);
	kv_start(ka);
	kv_start(kb);
	assert_true(sb_run_until(&loop, kv_up, ka, 5000));
	assert_true(sb_run_until(&loop, kv_up, kb, 5000));
	/* Bad options are refused. */
	{
		struct kv_lease_options o = {"k", "x", 100};

		assert_null(kv_lease_new(&loop, ka, &o, NULL, NULL));
	}
	l[0] = make_lease(&loop, ka, "instance-a", &a);
	l[1] = make_lease(&loop, kb, "instance-b", &b);
	kv_lease_start(l[0]);
	assert_true(sb_run_until(&loop, a_or_b_holds, l, 5000));
	kv_lease_start(l[1]);
	/* Over several renewals, exactly one holds it, and it is a. */
	for (i = 0; i < 10; i++) {
		sb_run_for(&loop, TTL_MS / 5);
		assert_true(kv_lease_held(l[0]));
		assert_false(kv_lease_held(l[1]));
	}
	assert_int_equal(a.takes, 1);
	assert_int_equal(b.takes, 0);
	assert_string_equal(kv_lease_holder(l[1]), "instance-a");
	/* a gives it back: b takes it at its next try. */
	kv_lease_free(l[0]);
	assert_true(sb_run_until(&loop, b_holds, l, TTL_MS));
	assert_int_equal(b.takes, 1);
	assert_string_equal(kv_lease_holder(l[1]), "instance-b");
	kv_lease_free(l[1]);
	kv_close(ka, NULL, NULL);
	kv_close(kb, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

static void
test_holder_gone_without_a_word(void **st)
{
	struct kv_lease *l[2];
	struct seen b;
	struct kv *kb;
	uv_loop_t loop;
	char ttl[16];
	uint64_t t0;

	(void)st;
	memset(&b, 0, sizeof(b));
	uv_loop_init(&loop);
	kb = make_kv(&loop);
	kv_start(kb);
	assert_true(sb_run_until(&loop, kv_up, kb, 5000));
	/* A holder whose process died just after renewing. */
	snprintf(ttl, sizeof(ttl), "%d", TTL_MS);
	assert_int_equal(kv_command(kb, NULL, NULL,
	                            "SET sb:lease:test %s PX %s",
	                            "instance-dead", ttl),
	                 0);
	t0 = uv_now(&loop);
	l[1] = make_lease(&loop, kb, "instance-b", &b);
	l[0] = l[1];
	kv_lease_start(l[1]);
	sb_run_for(&loop, TTL_MS / 2);
	assert_false(kv_lease_held(l[1]));
	assert_string_equal(kv_lease_holder(l[1]), "instance-dead");
	/* Taken once the dead holder's key expired, not before. */
	assert_true(sb_run_until(&loop, b_holds, l, 3 * TTL_MS));
	assert_true(uv_now(&loop) - t0 >= TTL_MS - 50);
	assert_int_equal(b.takes, 1);
	kv_lease_free(l[1]);
	kv_close(kb, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

static int
lost(void *arg)
{
	return ((struct seen *)arg)->losses > 0;
}

static void
test_redis_unanswering_gives_up_in_time(void **st)
{
	struct kv *ka, *admin;
	struct kv_lease *l;
	struct seen a;
	uv_loop_t loop;
	uint64_t t0;

	(void)st;
	memset(&a, 0, sizeof(a));
	uv_loop_init(&loop);
	ka = make_kv(&loop);
	admin = make_kv(&loop);
	kv_start(ka);
	kv_start(admin);
	assert_true(sb_run_until(&loop, kv_up, ka, 5000));
	assert_true(sb_run_until(&loop, kv_up, admin, 5000));
	/* A longer lease: its margin (a tenth) outlasts a busy loop. */
	l = make_lease_ttl(&loop, ka, "instance-a", &a, LONG_TTL_MS);
	kv_lease_start(l);
	assert_true(sb_run_until(&loop, a_or_b_holds,
	                         (struct kv_lease *[]){l, l}, 5000));
	/* Redis answers nobody for 3 lease lives (a stall, a failover). */
	assert_int_equal(kv_command(admin, NULL, NULL, "CLIENT PAUSE %d ALL",
	                            3 * LONG_TTL_MS),
	                 0);
	t0 = uv_now(&loop);
	/*
	 * Given up within the lease's time to live of the last renewal
	 * answered (sent at most a third of it before t0): before the key
	 * expires for the others.
	 */
	assert_true(sb_run_until(&loop, lost, &a, 2 * LONG_TTL_MS));
	assert_true(uv_now(&loop) - t0 < LONG_TTL_MS);
	assert_false(kv_lease_held(l));
	/* Redis answers again: taken again. */
	assert_true(sb_run_until(&loop, a_or_b_holds,
	                         (struct kv_lease *[]){l, l},
	                         10 * LONG_TTL_MS));
	assert_int_equal(a.takes, 2);
	kv_lease_free(l);
	kv_close(ka, NULL, NULL);
	kv_close(admin, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_one_holder_and_takeover),
	        cmocka_unit_test(test_holder_gone_without_a_word),
	        cmocka_unit_test(test_redis_unanswering_gives_up_in_time),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
