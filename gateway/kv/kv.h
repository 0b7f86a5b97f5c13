/*
 * kv.h: one managed Redis connection on the libuv loop (hiredis async with
 * our own adapter). It connects, authenticates, selects the database,
 * probes with PING every second, drops the connection when a command or
 * connect outlives the timeout, and reconnects with backoff for ever.
 * Loop thread only.
 */
#ifndef GW_KV_H
#define GW_KV_H

#include <hiredis/hiredis.h>
#include <uv.h>

struct kv;

/*
 * Reply callback. reply is NULL when the connection was lost, timed out or
 * closed before an answer came; it is owned by hiredis and valid only
 * during the call. arg should name its owner by id, not by pointer, when
 * the owner can go away first.
 */
typedef void (*kv_reply_cb)(void *arg, redisReply *reply);
/* Told when the connection becomes ready (up = 1) or is lost (up = 0). */
typedef void (*kv_state_cb)(void *arg, int up);
/* A message published on the channel a connection subscribed to. */
typedef void (*kv_message_cb)(void *arg, const char *payload, size_t len);
/* Told once the connection and all its handles are closed. */
typedef void (*kv_closed_cb)(void *arg);

struct kv_options {
	const char *address; /* IP literal, or a Unix socket path ("/...") */
	int port;
	const char *password; /* NULL or "" for none */
	int database;
	int timeout_ms;       /* connect and per-command deadline */
	int ping_interval_ms; /* 0: no probe */
	int backoff_min_ms;   /* first retry delay */
	int backoff_max_ms;   /* delay cap */
};

/* Returns a new connection (not started) owned by the caller. */
struct kv *kv_new(uv_loop_t *loop, const struct kv_options *opt);
void kv_set_state_cb(struct kv *kv, kv_state_cb cb, void *arg);
/* Starts connecting; failures are retried with backoff. */
void kv_start(struct kv *kv);
/* 1 when connected, authenticated and answering. */
int kv_ready(const struct kv *kv);
/* Why it is not ready ("connecting", "connection refused", ...). */
const char *kv_status(const struct kv *kv);
/*
 * Sends a command (printf-like, see redisAsyncCommand). cb may be NULL.
 * Returns 0, or -1 when not ready (the callback is then not called).
 */
int kv_command(struct kv *kv, kv_reply_cb cb, void *arg, const char *fmt, ...);
int kv_command_argv(struct kv *kv, kv_reply_cb cb, void *arg, int argc,
                    const char **argv, const size_t *argvlen);
/*
 * Makes kv a subscriber connection: it subscribes to channel on every
 * (re)connect and hands each message to cb. Such a connection must have
 * no PING probe (ping_interval_ms 0: Redis answers PING differently in
 * subscribed mode) and is used for nothing else. Returns 0 or -1.
 */
int kv_subscribe(struct kv *kv, const char *channel, kv_message_cb cb,
                 void *arg);
/* Commands sent and not yet answered. */
unsigned kv_pending(const struct kv *kv);
/*
 * Closes the connection (pending callbacks get NULL) and frees kv once
 * its handles are closed, then calls cb. kv must not be used after.
 */
void kv_close(struct kv *kv, kv_closed_cb cb, void *arg);

#endif
