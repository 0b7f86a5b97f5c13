/*
 * test_kv.c: the Redis connection against a refused port, a real
 * redis-server that stops and restarts, a server that never answers, and
 * a command that outlives its timeout. Every test ends with
 * uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv.h"
#include "support.h"

struct state_log {
	int ups;
	int downs;
};

static void
on_state(void *arg, int up)
{
	struct state_log *s = arg;

	if (up)
		s->ups++;
	else
		s->downs++;
}

static int
is_ready(void *arg)
{
	return kv_ready(arg);
}

static int
is_down(void *arg)
{
	return !kv_ready(arg);
}

static struct kv *
make_kv(uv_loop_t *loop, int port, int timeout_ms)
{
	struct kv_options o;

	memset(&o, 0, sizeof(o));
	o.address = "127.0.0.1";
	o.port = port;
	o.timeout_ms = timeout_ms;
	o.ping_interval_ms = 200;
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 200;
	return kv_new(loop, &o);
}

static void
test_refused_port(void **st)
{
	uv_loop_t loop;
	struct kv *kv;

	(void)st;
	uv_loop_init(&loop);
	kv = make_kv(&loop, sb_free_port(), 1000);
	kv_start(kv);
	sb_run_for(&loop, 500);
	assert_false(kv_ready(kv));
	assert_non_null(strstr(kv_status(kv), "refused"));
	assert_int_equal(kv_command(kv, NULL, NULL, "PING"), -1);
	kv_close(kv, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

struct reply {
	int called;
	int got_null;
	char str[64];
};

static void
on_reply(void *arg, redisReply *r)
{
	struct reply *rep = arg;

	rep->called++;
	if (r == NULL)
		rep->got_null = 1;
	else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		snprintf(rep->str, sizeof(rep->str), "%s", r->str);
}

static int
reply_done(void *arg)
{
	return ((struct reply *)arg)->called > 0;
}

static void
test_restart(void **st)
{
	struct sb_redis redis;
	struct state_log log = {0, 0};
	struct reply r1 = {0}, r2 = {0};
	uv_loop_t loop;
	struct kv *kv;

	(void)st;
	assert_int_equal(sb_redis_setup(&redis), 0);
	uv_loop_init(&loop);
	kv = make_kv(&loop, redis.port, 1000);
	kv_set_state_cb(kv, on_state, &log);
	kv_start(kv);
	assert_true(sb_run_until(&loop, is_ready, kv, 3000));
	assert_int_equal(log.ups, 1);

	assert_int_equal(kv_command(kv, on_reply, &r1, "SET %s %s", "k", "v"),
	                 0);
	assert_int_equal(kv_command(kv, on_reply, &r2, "GET %s", "k"), 0);
	assert_true(sb_run_until(&loop, reply_done, &r2, 2000));
	assert_string_equal(r1.str, "OK");
	assert_string_equal(r2.str, "v");

	assert_int_equal(sb_redis_stop(&redis), 0);
	assert_true(sb_run_until(&loop, is_down, kv, 3000));
	assert_int_equal(log.downs, 1);
	assert_int_equal(kv_command(kv, on_reply, &r1, "PING"), -1);

	assert_int_equal(sb_redis_start(&redis), 0);
	assert_true(sb_run_until(&loop, is_ready, kv, 5000));
	assert_int_equal(log.ups, 2);
	assert_string_equal(kv_status(kv), "ok");

	kv_close(kv, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
	sb_redis_teardown(&redis);
}

/* A peer that accepts TCP connections and never says a word. */
static int
silent_listener(int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static void
test_connect_timeout(void **st)
{
	uv_loop_t loop;
	struct kv *kv;
	int port = 0, fd;

	(void)st;
	fd = silent_listener(&port);
	assert_true(fd >= 0);
	uv_loop_init(&loop);
	kv = make_kv(&loop, port, 300);
	kv_start(kv);
	sb_run_for(&loop, 900);
	assert_false(kv_ready(kv));
	print_message("status: %s\n", kv_status(kv));
	assert_non_null(strstr(kv_status(kv), "timed out"));
	kv_close(kv, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
	close(fd);
}

static void
test_command_timeout(void **st)
{
	struct sb_redis redis;
	struct state_log log = {0, 0};
	struct reply r = {0};
	char cmd[128];
	uv_loop_t loop;
	struct kv *kv;

	(void)st;
	assert_int_equal(sb_redis_setup(&redis), 0);
	uv_loop_init(&loop);
	kv = make_kv(&loop, redis.port, 400);
	kv_set_state_cb(kv, on_state, &log);
	kv_start(kv);
	assert_true(sb_run_until(&loop, is_ready, kv, 3000));

	/* Every client stalls for 1.5 s: our GET must be given up on. */
	snprintf(cmd, sizeof(cmd),
	         "redis-cli -p %d CLIENT PAUSE 1500 ALL >/dev/null",
	         redis.port);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(kv_command(kv, on_reply, &r, "GET %s", "k"), 0);
	assert_true(sb_run_until(&loop, reply_done, &r, 1200));
	assert_int_equal(r.got_null, 1);
	assert_int_equal(log.downs, 1);
	/* And it comes back by itself once the server answers again. */
	assert_true(sb_run_until(&loop, is_ready, kv, 5000));
	assert_int_equal(log.ups, 2);

	kv_close(kv, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
	sb_redis_teardown(&redis);
}

static void
test_close_fails_pending(void **st)
{
	struct sb_redis redis;
	struct reply r = {0};
	char cmd[128];
	uv_loop_t loop;
	struct kv *kv;

	(void)st;
	assert_int_equal(sb_redis_setup(&redis), 0);
	uv_loop_init(&loop);
	kv = make_kv(&loop, redis.port, 2000);
	kv_start(kv);
	assert_true(sb_run_until(&loop, is_ready, kv, 3000));
	snprintf(cmd, sizeof(cmd),
	         "redis-cli -p %d CLIENT PAUSE 1000 ALL >/dev/null",
	         redis.port);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(kv_command(kv, on_reply, &r, "GET %s", "k"), 0);
	assert_true(kv_pending(kv) >= 1);
	kv_close(kv, NULL, NULL);
	/* The pending callback ran with NULL during close. */
	assert_int_equal(r.called, 1);
	assert_int_equal(r.got_null, 1);
	assert_int_equal(sb_loop_finish(&loop), 0);
	sb_redis_teardown(&redis);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_refused_port),
	        cmocka_unit_test(test_restart),
	        cmocka_unit_test(test_connect_timeout),
	        cmocka_unit_test(test_command_timeout),
	        cmocka_unit_test(test_close_fails_pending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
