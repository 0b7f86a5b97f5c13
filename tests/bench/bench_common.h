/*
 * bench_common.h: what the load generators under tests/bench share. A small
 * WebSocket client on libuv (plain TCP; masked frames out, fragments, ping
 * and close in), the staff sign-in over HTTP, latency samples, and the CPU
 * each server used between two moments.
 *
 * A benchmark's socket type embeds struct bc_conn as its first member;
 * bc_conn_new allocates the whole (size given) and bc_conn_close frees it
 * in its uv_close callback, after ops->closing. One loop thread.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <uv.h>

#define BC_COOKIE_NAME "__Host-sb_session"
#define BC_IN_MAX      (2u << 20) /* bytes buffered per socket at most */
#define BC_MSG_MAX     (1u << 20) /* largest message accepted */

enum bc_state {
	BC_CONNECTING = 0,
	BC_HANDSHAKE, /* request written, waiting for the answer */
	BC_OPEN,      /* WebSocket open (or an HTTP request written) */
	BC_CLOSED,    /* uv_close called */
};

struct bc_conn;

struct bc_ops {
	/* Plain HTTP: connected; write the request (bc_write). */
	void (*connected)(struct bc_conn *c);
	/*
	 * Plain HTTP: bytes arrived (c->in, c->inlen, NUL-terminated) or
	 * the peer closed (eof). The callee closes when it has its answer.
	 */
	void (*http_read)(struct bc_conn *c, int eof);
	/* WebSocket: the handshake was answered with 101. */
	void (*ws_open)(struct bc_conn *c);
	/* WebSocket: one whole text or binary message, read at t (ns). */
	void (*ws_message)(struct bc_conn *c, const char *p, size_t len,
	                   uint64_t t);
	/* The socket closes (error, peer, or bc_conn_close): leave books. */
	void (*closing)(struct bc_conn *c);
	/* A failed connect or a refused handshake (then closing). */
	void (*failed)(struct bc_conn *c, const char *why);
};

/* The server every socket goes to, and the loop. */
struct bc_target {
	uv_loop_t *loop;
	struct sockaddr_in addr;
	char host[64];
	uint32_t rng;
};

struct bc_conn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	struct bc_target *t;
	const struct bc_ops *ops;
	enum bc_state state;
	int websocket;
	const char *protocol; /* Sec-WebSocket-Protocol */
	const char *origin;
	char cookie[160]; /* session cookie value sent, or "" */
	char key[32];
	char *in;
	size_t inlen, incap;
	char *frag;
	size_t fraglen;
	int fragging;
	unsigned wpending;
};

uint64_t bc_now_ns(void);
uint32_t bc_rnd(struct bc_target *t);
void bc_progress(const char *who, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
unsigned bc_parse_uint(const char *s, const char *what);
/* http://IPV4:PORT into t->addr and t->host; exits on anything else. */
void bc_parse_url(struct bc_target *t, const char *url);
void bc_raise_fd_limit(const char *who);
/*
 * Closes every handle of loop still open (at the end of a run: sockets
 * are dropped without their ops->closing); run the loop once more after.
 */
void bc_close_all(uv_loop_t *loop);

/*
 * A socket of `size` bytes (>= sizeof(struct bc_conn), zeroed): a
 * WebSocket when protocol is not NULL, else plain HTTP; protocol, origin
 * and ops must outlive it. Not connected yet: the caller keeps its books,
 * then calls bc_conn_connect, which returns -1 when the connect could not
 * even start (ops->failed and ops->closing were called, c is closing).
 */
struct bc_conn *bc_conn_alloc(struct bc_target *t, size_t size,
                              const struct bc_ops *ops, const char *protocol,
                              const char *origin, const char *cookie);
int bc_conn_connect(struct bc_conn *c);
void bc_conn_close(struct bc_conn *c);
void bc_write(struct bc_conn *c, const char *p, size_t len);
void bc_ws_frame(struct bc_conn *c, int opcode, const char *p, size_t len);
void bc_ws_text(struct bc_conn *c, const char *p, size_t len);
void bc_ws_send(struct bc_conn *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* POST /api/session for login/password on c (plain HTTP, connected). */
void bc_login_send(struct bc_conn *c, const char *login, const char *password);
/*
 * The answer to it so far: 1 when whole (status and the session cookie's
 * value in token, "" when none), 0 to wait for more, -1 malformed.
 */
int bc_login_parse(struct bc_conn *c, int eof, int *status, char *token,
                   size_t len);

/* Milliseconds, grown as needed. */
struct bc_samples {
	double *v;
	size_t n, cap;
};

void bc_sample_add(struct bc_samples *s, double v);
/* Sorts s, then its p-quantile (nearest rank); 0 when empty. */
double bc_quantile(struct bc_samples *s, double p);
void bc_samples_free(struct bc_samples *s);

/* CPU time (clock ticks) of the machine and the servers at one moment. */
struct bc_cpu_snap {
	uint64_t wall_ns;
	unsigned long long busy, daemon, redis, pg, self;
	size_t npg;
	int pg_pid[512];
	unsigned long long pg_t[512];
	/* the daemon's group-commit writers, from its /metrics */
	double commits, writes;
};

struct bc_cpu_pids {
	int daemon, redis, pg; /* pg: the postmaster */
};

void bc_cpu_snap(const struct bc_target *t, const struct bc_cpu_pids *p,
                 struct bc_cpu_snap *s);
/*
 * "seconds=... daemon=... pg=... pg_busiest_backend=... redis=... bench=...
 * others=... capacity=... commits_per_s=... writes_per_commit=...":
 * percent of one core each used from a to b.
 */
void bc_cpu_format(const struct bc_cpu_snap *a, const struct bc_cpu_snap *b,
                   char *buf, size_t len);

#endif
