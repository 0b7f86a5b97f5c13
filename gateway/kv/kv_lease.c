/*
 * kv_lease.c: a lease in Redis (kv_lease.h). Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_lease.h"
#include "log.h"
#include "xmalloc.h"

#define HOLDER_MAX 128

/* Takes or renews: set when free or ours. Answers {1|0, holder or nil}. */
static const char TAKE[] = "local cur = redis.call('GET', KEYS[1]) "
                           "if cur == false or cur == ARGV[1] then "
                           "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
                           "return {1, ARGV[1]} end "
                           "return {0, cur}";
/* Gives back: deleted only while ours. */
static const char GIVE[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                           "return redis.call('DEL', KEYS[1]) end return 0";

struct kv_lease {
	uv_loop_t *loop;
	struct kv *kv;
	char *key, *holder;
	unsigned ttl_ms;
	kv_lease_cb cb;
	void *arg;
	uv_timer_t tick;   /* take or renew, every ttl / 3 */
	uv_timer_t expire; /* the safe end of the lease as held */
	int held;
	uint64_t held_until; /* uv_now */
	char last[HOLDER_MAX];
	unsigned pending; /* commands sent, not answered */
	int handles;      /* timers not closed yet */
	int closing;
};

struct take {
	struct kv_lease *l;
	uint64_t sent_at;
};

static void
maybe_free(struct kv_lease *l)
{
	if (!l->closing || l->pending > 0 || l->handles > 0)
		return;
	free(l->key);
	free(l->holder);
	free(l);
}

static void
change(struct kv_lease *l, int held, const char *holder)
{
	snprintf(l->last, sizeof(l->last), "%s", holder);
	if (held == l->held)
		return;
	l->held = held;
	if (held)
		gw_info("lease.taken", "key=%s holder=%s", l->key, l->holder);
	else
		gw_warn("lease.lost", "key=%s holder=%s now=\"%s\"", l->key,
		        l->holder, holder);
	if (!l->closing && l->cb != NULL)
		l->cb(l->arg, held, holder);
}

static void
on_expire(uv_timer_t *t)
{
	struct kv_lease *l = t->data;

	/* No renewal answered in time: given up before Redis lets it go. */
	if (l->held && uv_now(l->loop) >= l->held_until)
		change(l, 0, "");
}

static void
on_take(void *arg, redisReply *r)
{
	struct take *tk = arg;
	struct kv_lease *l = tk->l;
	uint64_t until;

	l->pending--;
	if (!l->closing && r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER) {
		const redisReply *h = r->element[1];
		const char *who = h->type == REDIS_REPLY_STRING ? h->str : "";

		if (r->element[0]->integer == 1) {
			until = tk->sent_at + l->ttl_ms - l->ttl_ms / 10;
			if (until > uv_now(l->loop)) {
				l->held_until = until;
				uv_timer_start(&l->expire, on_expire,
				               until - uv_now(l->loop), 0);
				change(l, 1, l->holder);
			}
		} else {
			change(l, 0, who);
		}
	}
	free(tk);
	maybe_free(l);
}

static void
on_tick(uv_timer_t *t)
{
	struct kv_lease *l = t->data;
	struct take *tk;
	char ttl[16];

	on_expire(&l->expire);
	if (!kv_ready(l->kv)) {
		snprintf(l->last, sizeof(l->last), "%s", "");
		return;
	}
	tk = xcalloc(1, sizeof(*tk));
	tk->l = l;
	tk->sent_at = uv_now(l->loop);
	snprintf(ttl, sizeof(ttl), "%u", l->ttl_ms);
	if (kv_command(l->kv, on_take, tk, "EVAL %s 1 %s %s %s", TAKE, l->key,
	               l->holder, ttl) != 0) {
		free(tk);
		return;
	}
	l->pending++;
}

struct kv_lease *
kv_lease_new(uv_loop_t *loop, struct kv *kv, const struct kv_lease_options *o,
             kv_lease_cb cb, void *arg)
{
	struct kv_lease *l;

	if (o->key == NULL || o->key[0] == '\0' || o->holder == NULL ||
	    o->holder[0] == '\0' || strlen(o->holder) >= HOLDER_MAX ||
	    o->ttl_ms < 300)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->loop = loop;
	l->kv = kv;
	l->key = xstrdup(o->key);
	l->holder = xstrdup(o->holder);
	l->ttl_ms = o->ttl_ms;
	l->cb = cb;
	l->arg = arg;
	uv_timer_init(loop, &l->tick);
	uv_timer_init(loop, &l->expire);
	l->tick.data = l;
	l->expire.data = l;
	l->handles = 2;
	return l;
}

void
kv_lease_start(struct kv_lease *l)
{
	uv_timer_start(&l->tick, on_tick, 0, l->ttl_ms / 3);
}

int
kv_lease_held(const struct kv_lease *l)
{
	return l->held && uv_now(l->loop) < l->held_until;
}

const char *
kv_lease_holder(const struct kv_lease *l)
{
	return l->last;
}

static void
on_given(void *arg, redisReply *r)
{
	struct kv_lease *l = arg;

	(void)r;
	l->pending--;
	maybe_free(l);
}

static void
on_closed(uv_handle_t *h)
{
	struct kv_lease *l = h->data;

	l->handles--;
	maybe_free(l);
}

void
kv_lease_free(struct kv_lease *l)
{
	if (l == NULL)
		return;
	if (l->held && kv_ready(l->kv) &&
	    kv_command(l->kv, on_given, l, "EVAL %s 1 %s %s", GIVE, l->key,
	               l->holder) == 0)
		l->pending++;
	if (l->held)
		gw_info("lease.given", "key=%s holder=%s", l->key, l->holder);
	l->held = 0;
	l->closing = 1;
	uv_timer_stop(&l->tick);
	uv_timer_stop(&l->expire);
	uv_close((uv_handle_t *)&l->tick, on_closed);
	uv_close((uv_handle_t *)&l->expire, on_closed);
}
