/*
 * revoke.c: revocations announced to every instance, acknowledged before
 * the revoking request is answered (see revoke.h).
 *
 * On sb:revoke, "R <nonce> <staff> <session> <logout>" announces one and
 * "A <nonce>" acknowledges it; nonces are random 64-bit numbers in hex.
 * Every instance hears every acknowledgement; only the announcer waits
 * for those of its nonce. Ownership: each announcement is a struct fence
 * in rv->fences from its start until done is called, then freed once its
 * timer is closed; Redis replies find it by nonce (a struct pub holds the
 * nonce and rv), so a late reply is harmless. rv lives on after
 * gw_revoke_free until its last Redis reply and timer are gone.
 * Loop thread only.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "revoke.h"
#include "xmalloc.h"

#define REVOKE_CHANNEL "sb:revoke"
#define MSG_MAX        128

struct fence {
	struct gw_revoke *rv;
	struct fence *next;
	uint64_t nonce;
	long long expect; /* receivers PUBLISH counted; -1 until it answers */
	long long acks;
	gw_revoke_done_cb done;
	void *arg;
	uv_timer_t timer;
	int over; /* done called */
};

struct gw_revoke {
	uv_loop_t *loop;
	struct kv *cmd;
	int wait_ms;
	gw_revoke_apply_cb apply;
	void *apply_arg;
	struct fence *fences;
	unsigned pending; /* Redis replies and timers outstanding */
	int closing;
};

/* A PUBLISH on its way: its reply finds the fence by nonce. */
struct pub {
	struct gw_revoke *rv;
	uint64_t nonce;
};

static void
rv_release(struct gw_revoke *rv)
{
	if (--rv->pending == 0 && rv->closing)
		free(rv);
}

static struct fence *
fence_find(struct gw_revoke *rv, uint64_t nonce)
{
	struct fence *f;

	for (f = rv->fences; f != NULL; f = f->next)
		if (f->nonce == nonce && !f->over)
			return f;
	return NULL;
}

static void
fence_closed(uv_handle_t *h)
{
	struct fence *f = h->data;
	struct gw_revoke *rv = f->rv;
	struct fence **p;

	for (p = &rv->fences; *p != NULL; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	free(f);
	rv_release(rv);
}

/* Tells the caller, once; the fence goes when its timer is closed. */
static void
fence_over(struct fence *f, int confirmed)
{
	if (f->over)
		return;
	f->over = 1;
	if (!confirmed)
		gw_warn("revoke.unconfirmed",
		        "nonce=%016" PRIx64 " instances=%lld acks=%lld",
		        f->nonce, f->expect, f->acks);
	uv_timer_stop(&f->timer);
	uv_close((uv_handle_t *)&f->timer, fence_closed);
	f->done(f->arg, confirmed, f->acks);
}

static void
fence_check(struct fence *f)
{
	if (f->expect >= 0 && f->acks >= f->expect)
		fence_over(f, f->expect > 0);
}

static void
on_timeout(uv_timer_t *t)
{
	fence_over(t->data, 0);
}

static void
on_published(void *arg, redisReply *reply)
{
	struct pub *p = arg;
	struct fence *f = fence_find(p->rv, p->nonce);

	if (f != NULL) {
		if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
			f->expect = 0;
			fence_over(f, 0);
		} else {
			f->expect = reply->integer;
			fence_check(f);
		}
	}
	rv_release(p->rv);
	free(p);
}

static void
on_acked(void *arg, redisReply *reply)
{
	(void)reply;
	rv_release(arg);
}

/* Sends text on the channel; cb(arg) is always called (0), or -1. */
static int
publish(struct gw_revoke *rv, const char *text, kv_reply_cb cb, void *arg)
{
	int rc;

	rv->pending++;
	rc = kv_command(rv->cmd, cb, arg, "PUBLISH %s %s", REVOKE_CHANNEL,
	                text);
	if (rc != 0)
		rv->pending--;
	return rc;
}

/* A message on sb:revoke, from any instance (this one too). */
static void
on_message(void *arg, const char *payload, size_t len)
{
	struct gw_revoke *rv = arg;
	char buf[MSG_MAX], reply[MSG_MAX];
	long long staff, session;
	uint64_t nonce;
	struct fence *f;
	int logout, n = 0;

	if (len >= sizeof(buf) || rv->closing)
		return;
	memcpy(buf, payload, len);
	buf[len] = '\0';
	if (sscanf(buf, "A %" SCNx64 "%n", &nonce, &n) == 1 &&
	    (size_t)n == len) {
		f = fence_find(rv, nonce);
		if (f != NULL) {
			f->acks++;
			fence_check(f);
		}
	} else if (sscanf(buf, "R %" SCNx64 " %lld %lld %d%n", &nonce, &staff,
	                  &session, &logout, &n) == 4 &&
	           (size_t)n == len && staff > 0 && session >= 0) {
		if (rv->apply != NULL)
			rv->apply(rv->apply_arg, staff, session, logout != 0);
		snprintf(reply, sizeof(reply), "A %016" PRIx64, nonce);
		publish(rv, reply, on_acked, rv);
	} else {
		gw_warn("revoke.bad_message", "len=%zu", len);
	}
}

struct gw_revoke *
gw_revoke_new(uv_loop_t *loop, struct kv *cmd, struct kv *sub, int wait_ms)
{
	struct gw_revoke *rv = xcalloc(1, sizeof(*rv));

	rv->loop = loop;
	rv->cmd = cmd;
	rv->wait_ms = wait_ms > 0 ? wait_ms : 1;
	if (sub != NULL)
		kv_subscribe(sub, REVOKE_CHANNEL, on_message, rv);
	return rv;
}

void
gw_revoke_set_apply(struct gw_revoke *rv, gw_revoke_apply_cb cb, void *arg)
{
	rv->apply = cb;
	rv->apply_arg = arg;
}

void
gw_revoke_announce(struct gw_revoke *rv, long long staff, long long session,
                   int logout, gw_revoke_done_cb done, void *arg)
{
	char text[MSG_MAX];
	struct fence *f;
	struct pub *p;

	if (rv == NULL || rv->closing) {
		done(arg, 0, 0);
		return;
	}
	/* Here first: this instance's desks never wait for Redis. */
	if (rv->apply != NULL)
		rv->apply(rv->apply_arg, staff, session, logout);
	f = xcalloc(1, sizeof(*f));
	f->rv = rv;
	randombytes_buf(&f->nonce, sizeof(f->nonce));
	f->expect = -1;
	f->done = done;
	f->arg = arg;
	f->next = rv->fences;
	rv->fences = f;
	rv->pending++; /* the timer, released when it is closed */
	uv_timer_init(rv->loop, &f->timer);
	f->timer.data = f;
	uv_timer_start(&f->timer, on_timeout, (uint64_t)rv->wait_ms, 0);
	snprintf(text, sizeof(text), "R %016" PRIx64 " %lld %lld %d", f->nonce,
	         staff, session, logout ? 1 : 0);
	p = xcalloc(1, sizeof(*p));
	p->rv = rv;
	p->nonce = f->nonce;
	if (publish(rv, text, on_published, p) != 0) {
		/* Redis is not there: the others learn it from the database. */
		free(p);
		f->expect = 0;
		/* Answered on the next loop turn, not from inside this call. */
		uv_timer_start(&f->timer, on_timeout, 0, 0);
	}
}

void
gw_revoke_free(struct gw_revoke *rv)
{
	struct fence *f;

	if (rv == NULL)
		return;
	rv->closing = 1;
	for (f = rv->fences; f != NULL; f = f->next)
		if (!f->over)
			fence_over(f, 0);
	if (rv->pending == 0)
		free(rv);
}
