/*
 * kv.c: Redis connection management over hiredis 0.14 async.
 *
 * hiredis' bundled libuv adapter hangs for ever when libuv reports an
 * error status on the poll (refused or reset connection), so we use our
 * own adapter: one uv_poll_t per hiredis context; on an error status we
 * dispatch the registered events and let hiredis find the error itself.
 * hiredis 0.14 has no timeouts: a repeating watchdog timer frees the
 * context when the connect or the oldest pending command is overdue, which
 * calls every pending callback with NULL. Loop thread only.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#define KV_TICK_MS 100

enum kv_state {
	KV_IDLE = 0,
	KV_CONNECTING, /* TCP connect, then AUTH/SELECT/PING */
	KV_READY,
	KV_WAITING, /* backoff before the next attempt */
	KV_CLOSING,
};

struct kv_adapter {
	uv_poll_t poll;
	int events;
	redisAsyncContext *ac; /* NULL once hiredis cleaned up */
};

struct kv {
	uv_loop_t *loop;
	struct kv_options opt;
	char *address;
	char *password;
	enum kv_state state;
	redisAsyncContext *ac;
	uint64_t generation; /* bumped per connection: stale replies ignored */
	uv_timer_t tick;
	uv_timer_t retry;
	int handles_open;
	unsigned pending;
	uint64_t progress_at; /* last reply, or when pending went 0 -> 1 */
	uint64_t connect_at;  /* when the current attempt started */
	uint64_t last_ping_at;
	int backoff_ms;
	int ping_inflight;
	const char *status;
	const char *abort_reason; /* set while we free the context */
	char status_buf[128];
	kv_state_cb state_cb;
	void *state_arg;
	kv_closed_cb closed_cb;
	void *closed_arg;
	char *sub_channel; /* subscriber connections: re-subscribed on connect
	                    */
	kv_message_cb sub_cb;
	void *sub_arg;
};

static void kv_subscribe_now(struct kv *kv);

struct kv_req {
	struct kv *kv;
	uint64_t generation;
	uint64_t sent_ns;
	kv_reply_cb cb;
	void *arg;
};

static void kv_connect(struct kv *kv);
static void kv_lost(struct kv *kv, const char *why);

/* ---------------------------------------------------------------- adapter */

static void
adapter_on_poll(uv_poll_t *h, int status, int events)
{
	struct kv_adapter *a = h->data;

	if (status < 0)
		events = a->events;
	if (a->ac != NULL && (events & UV_READABLE))
		redisAsyncHandleRead(a->ac);
	/* The read may have freed the context: cleanup clears a->ac. */
	if (a->ac != NULL && (events & UV_WRITABLE))
		redisAsyncHandleWrite(a->ac);
}

/*
 * hiredis asks for writability on every command; libuv's uv_poll_start
 * first takes the descriptor out of epoll (a system call) even when the
 * events are the same, so the handle is restarted only when they change,
 * or when libuv stopped it (it does on POLLERR).
 */
static void
adapter_update(struct kv_adapter *a, int events)
{
	if (events == a->events &&
	    (events == 0) != uv_is_active((uv_handle_t *)&a->poll))
		return;
	a->events = events;
	if (events != 0)
		uv_poll_start(&a->poll, events, adapter_on_poll);
	else
		uv_poll_stop(&a->poll);
}

static void
adapter_add_read(void *p)
{
	struct kv_adapter *a = p;

	adapter_update(a, a->events | UV_READABLE);
}

static void
adapter_del_read(void *p)
{
	struct kv_adapter *a = p;

	adapter_update(a, a->events & ~UV_READABLE);
}

static void
adapter_add_write(void *p)
{
	struct kv_adapter *a = p;

	adapter_update(a, a->events | UV_WRITABLE);
}

static void
adapter_del_write(void *p)
{
	struct kv_adapter *a = p;

	adapter_update(a, a->events & ~UV_WRITABLE);
}

static void
adapter_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
adapter_cleanup(void *p)
{
	struct kv_adapter *a = p;

	a->ac = NULL;
	uv_poll_stop(&a->poll);
	uv_close((uv_handle_t *)&a->poll, adapter_closed);
}

static int
adapter_attach(uv_loop_t *loop, redisAsyncContext *ac)
{
	struct kv_adapter *a;

	a = xcalloc(1, sizeof(*a));
	if (uv_poll_init(loop, &a->poll, ac->c.fd) != 0) {
		free(a);
		return -1;
	}
	a->poll.data = a;
	a->ac = ac;
	ac->ev.addRead = adapter_add_read;
	ac->ev.delRead = adapter_del_read;
	ac->ev.addWrite = adapter_add_write;
	ac->ev.delWrite = adapter_del_write;
	ac->ev.cleanup = adapter_cleanup;
	ac->ev.data = a;
	return 0;
}

/* ---------------------------------------------------------------- state */

static void
kv_set_status(struct kv *kv, const char *prefix, const char *detail)
{
	snprintf(kv->status_buf, sizeof(kv->status_buf), "%s%s", prefix,
	         detail);
	kv->status = kv->status_buf;
}

static void
kv_on_retry(uv_timer_t *t)
{
	kv_connect(t->data);
}

static void
kv_schedule_retry(struct kv *kv)
{
	int delay = kv->backoff_ms;

	if (kv->state == KV_CLOSING)
		return;
	kv->state = KV_WAITING;
	/* Up to a quarter of jitter so instances do not reconnect in step. */
	delay += (int)(random() % (delay / 4 + 1));
	kv->backoff_ms *= 2;
	if (kv->backoff_ms > kv->opt.backoff_max_ms)
		kv->backoff_ms = kv->opt.backoff_max_ms;
	uv_timer_start(&kv->retry, kv_on_retry, (uint64_t)delay, 0);
}

static void
kv_became_ready(struct kv *kv)
{
	kv->state = KV_READY;
	kv->status = "ok";
	kv->backoff_ms = kv->opt.backoff_min_ms;
	gw_info("redis.ready", "address=%s port=%d", kv->address, kv->opt.port);
	if (kv->sub_channel != NULL)
		kv_subscribe_now(kv);
	if (kv->state_cb != NULL)
		kv->state_cb(kv->state_arg, 1);
}

/*
 * The connection is gone (disconnect callback, failed connect, or our own
 * timeout). hiredis frees the context itself; we forget it and retry.
 */
static void
kv_lost(struct kv *kv, const char *why)
{
	int was_ready = kv->state == KV_READY;

	kv->ac = NULL;
	kv->generation++;
	kv->pending = 0;
	kv->ping_inflight = 0;
	if (kv->state == KV_CLOSING)
		return;
	kv_set_status(kv, "", why);
	gw_metrics_error(GW_ERR_REDIS);
	if (was_ready) {
		gw_warn("redis.lost", "address=%s port=%d reason=\"%s\"",
		        kv->address, kv->opt.port, why);
		if (kv->state_cb != NULL)
			kv->state_cb(kv->state_arg, 0);
	} else {
		gw_debug("redis.connect_failed",
		         "address=%s port=%d reason=\"%s\"", kv->address,
		         kv->opt.port, why);
	}
	kv_schedule_retry(kv);
}

static void
kv_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct kv *kv = ac->data;

	if (kv == NULL || kv->ac != ac)
		return;
	if (kv->abort_reason != NULL)
		kv_lost(kv, kv->abort_reason);
	else if (status == REDIS_OK)
		kv_lost(kv, "disconnected");
	else
		kv_lost(kv, ac->errstr[0] ? ac->errstr : "connection error");
}

static void
kv_handshake_reply(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	struct kv *kv = ac->data;
	const char *step = priv;

	if (kv == NULL || kv->ac != ac || kv->state != KV_CONNECTING)
		return;
	kv->progress_at = uv_now(kv->loop);
	if (reply == NULL)
		return; /* the disconnect callback handles it */
	if (reply->type == REDIS_REPLY_ERROR) {
		gw_error("redis.handshake_failed", "step=%s reason=\"%s\"",
		         step, reply->str);
		kv_set_status(kv, "handshake failed: ", reply->str);
		redisAsyncDisconnect(ac);
		return;
	}
	if (strcmp(step, "ping") == 0)
		kv_became_ready(kv);
}

static void
kv_on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct kv *kv = ac->data;

	if (kv == NULL || kv->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		kv_lost(kv, ac->errstr[0] ? ac->errstr : "connect failed");
		return;
	}
	kv->progress_at = uv_now(kv->loop);
	if (kv->password != NULL && kv->password[0] != '\0')
		redisAsyncCommand(ac, kv_handshake_reply, "auth", "AUTH %s",
		                  kv->password);
	if (kv->opt.database != 0)
		redisAsyncCommand(ac, kv_handshake_reply, "select", "SELECT %d",
		                  kv->opt.database);
	redisAsyncCommand(ac, kv_handshake_reply, "ping", "PING");
}

static void
kv_connect(struct kv *kv)
{
	redisAsyncContext *ac;

	if (kv->state == KV_CLOSING)
		return;
	kv->state = KV_CONNECTING;
	kv->connect_at = uv_now(kv->loop);
	kv->progress_at = kv->connect_at;
	kv->pending = 0;
	if (kv->address[0] == '/')
		ac = redisAsyncConnectUnix(kv->address);
	else
		ac = redisAsyncConnect(kv->address, kv->opt.port);
	if (ac == NULL) {
		kv_lost(kv, "out of memory");
		return;
	}
	if (ac->err) {
		char why[128];

		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		kv_lost(kv, why);
		return;
	}
	if (adapter_attach(kv->loop, ac) != 0) {
		redisAsyncFree(ac);
		kv_lost(kv, "cannot watch socket");
		return;
	}
	ac->data = kv;
	kv->ac = ac;
	redisAsyncSetConnectCallback(ac, kv_on_connect);
	redisAsyncSetDisconnectCallback(ac, kv_on_disconnect);
}

/* Frees the context from outside any hiredis callback. */
static void
kv_abort(struct kv *kv, const char *why)
{
	redisAsyncContext *ac = kv->ac;

	if (ac == NULL)
		return;
	gw_warn("redis.timeout", "address=%s port=%d reason=\"%s\"",
	        kv->address, kv->opt.port, why);
	/*
	 * Calls pending callbacks with NULL and, if connected, the
	 * disconnect callback (which calls kv_lost with our reason).
	 */
	kv->abort_reason = why;
	redisAsyncFree(ac);
	kv->abort_reason = NULL;
	if (kv->ac == ac)
		kv_lost(kv, why);
}

static void
kv_ping_reply(void *arg, redisReply *reply)
{
	struct kv *kv = arg;

	kv->ping_inflight = 0;
	(void)reply;
}

static void
kv_on_tick(uv_timer_t *t)
{
	struct kv *kv = t->data;
	uint64_t now = uv_now(kv->loop);

	if (kv->state == KV_CONNECTING &&
	    now - kv->connect_at > (uint64_t)kv->opt.timeout_ms) {
		kv_abort(kv, "connect timed out");
		return;
	}
	if (kv->state != KV_READY)
		return;
	if (kv->pending > 0 &&
	    now - kv->progress_at > (uint64_t)kv->opt.timeout_ms) {
		kv_abort(kv, "command timed out");
		return;
	}
	if (kv->opt.ping_interval_ms > 0 && !kv->ping_inflight &&
	    now - kv->last_ping_at >= (uint64_t)kv->opt.ping_interval_ms) {
		kv->last_ping_at = now;
		if (kv_command(kv, kv_ping_reply, kv, "PING") == 0)
			kv->ping_inflight = 1;
	}
}

/* ---------------------------------------------------------------- API */

struct kv *
kv_new(uv_loop_t *loop, const struct kv_options *opt)
{
	struct kv *kv = xcalloc(1, sizeof(*kv));

	kv->loop = loop;
	kv->opt = *opt;
	kv->address = xstrdup(opt->address);
	kv->password = opt->password ? xstrdup(opt->password) : NULL;
	kv->opt.address = kv->address;
	kv->opt.password = kv->password;
	if (kv->opt.timeout_ms <= 0)
		kv->opt.timeout_ms = 2000;
	if (kv->opt.backoff_min_ms <= 0)
		kv->opt.backoff_min_ms = 100;
	if (kv->opt.backoff_max_ms < kv->opt.backoff_min_ms)
		kv->opt.backoff_max_ms = 5000;
	kv->backoff_ms = kv->opt.backoff_min_ms;
	kv->status = "not started";
	uv_timer_init(loop, &kv->tick);
	uv_timer_init(loop, &kv->retry);
	kv->tick.data = kv;
	kv->retry.data = kv;
	kv->handles_open = 2;
	return kv;
}

void
kv_set_state_cb(struct kv *kv, kv_state_cb cb, void *arg)
{
	kv->state_cb = cb;
	kv->state_arg = arg;
}

void
kv_start(struct kv *kv)
{
	uv_timer_start(&kv->tick, kv_on_tick, KV_TICK_MS, KV_TICK_MS);
	kv->status = "connecting";
	kv_connect(kv);
}

int
kv_ready(const struct kv *kv)
{
	return kv->state == KV_READY;
}

const char *
kv_status(const struct kv *kv)
{
	return kv->status;
}

unsigned
kv_pending(const struct kv *kv)
{
	return kv->pending;
}

static void
kv_req_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct kv_req *req = priv;
	struct kv *kv = req->kv;

	(void)ac;
	if (req->generation == kv->generation && kv->pending > 0)
		kv->pending--;
	if (r != NULL) {
		kv->progress_at = uv_now(kv->loop);
		gw_metrics_redis_rtt((double)(uv_hrtime() - req->sent_ns) /
		                     1e9);
	}
	if (req->cb != NULL)
		req->cb(req->arg, r);
	free(req);
}

static struct kv_req *
kv_req_new(struct kv *kv, kv_reply_cb cb, void *arg)
{
	struct kv_req *req = xmalloc(sizeof(*req));

	req->kv = kv;
	req->generation = kv->generation;
	req->sent_ns = uv_hrtime();
	req->cb = cb;
	req->arg = arg;
	if (kv->pending++ == 0)
		kv->progress_at = uv_now(kv->loop);
	return req;
}

int
kv_command(struct kv *kv, kv_reply_cb cb, void *arg, const char *fmt, ...)
{
	struct kv_req *req;
	va_list ap;
	int rc;

	if (kv->state != KV_READY)
		return -1;
	req = kv_req_new(kv, cb, arg);
	va_start(ap, fmt);
	rc = redisvAsyncCommand(kv->ac, kv_req_reply, req, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		kv->pending--;
		free(req);
		return -1;
	}
	return 0;
}

int
kv_command_argv(struct kv *kv, kv_reply_cb cb, void *arg, int argc,
                const char **argv, const size_t *argvlen)
{
	struct kv_req *req;

	if (kv->state != KV_READY)
		return -1;
	req = kv_req_new(kv, cb, arg);
	if (redisAsyncCommandArgv(kv->ac, kv_req_reply, req, argc, argv,
	                          argvlen) != REDIS_OK) {
		kv->pending--;
		free(req);
		return -1;
	}
	return 0;
}

/*
 * Subscription replies are not counted as pending: a subscription never
 * completes. hiredis calls this with NULL when the connection goes.
 */
static void
kv_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	struct kv *kv = ac->data;

	(void)priv;
	if (kv == NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "message") != 0 ||
	    reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	kv->sub_cb(kv->sub_arg, reply->element[2]->str, reply->element[2]->len);
}

static void
kv_subscribe_now(struct kv *kv)
{
	redisAsyncCommand(kv->ac, kv_sub_reply, NULL, "SUBSCRIBE %s",
	                  kv->sub_channel);
}

int
kv_subscribe(struct kv *kv, const char *channel, kv_message_cb cb, void *arg)
{
	if (kv->sub_channel != NULL || kv->opt.ping_interval_ms != 0)
		return -1;
	kv->sub_channel = xstrdup(channel);
	kv->sub_cb = cb;
	kv->sub_arg = arg;
	if (kv->state == KV_READY)
		kv_subscribe_now(kv);
	return 0;
}

static void
kv_handle_closed(uv_handle_t *h)
{
	struct kv *kv = h->data;

	if (--kv->handles_open > 0)
		return;
	if (kv->closed_cb != NULL)
		kv->closed_cb(kv->closed_arg);
	free(kv->address);
	free(kv->sub_channel);
	if (kv->password != NULL) {
		explicit_bzero(kv->password, strlen(kv->password));
		free(kv->password);
	}
	free(kv);
}

void
kv_close(struct kv *kv, kv_closed_cb cb, void *arg)
{
	redisAsyncContext *ac;

	if (kv == NULL)
		return;
	ac = kv->ac;
	kv->state = KV_CLOSING;
	kv->closed_cb = cb;
	kv->closed_arg = arg;
	kv->state_cb = NULL;
	if (ac != NULL) {
		kv->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	uv_close((uv_handle_t *)&kv->tick, kv_handle_closed);
	uv_close((uv_handle_t *)&kv->retry, kv_handle_closed);
}
