/*
 * bench_idle.c: how many idle residents' widget sockets one daemon holds,
 * and what each one costs the daemon in memory. A benchmark: it reports,
 * it does not pass or fail.
 *
 *   bench_idle --url http://127.0.0.1:PORT --origin ORIGIN --daemon-pid PID
 *              [--connections N] [--batch B] [--warmup W] [--settle S]
 *              [--idle T]
 *
 * Every socket is a resident's widget: GET /ws with the subprotocol
 * switchboard.chat.v1 and an Origin of the daemon's widget_origins, the
 * RFC 6455 handshake checked (Sec-WebSocket-Accept, the subprotocol), then
 * the server's hello read (it must name switchboard.chat.v1); after that
 * the socket is idle: it answers pings with pongs of the same payload and
 * sends nothing else.
 *
 *   1. warm-up: W sockets opened (hello read) and closed, then the daemon
 *      is given time to let them go (its WebSocket gauge back to 0), so
 *      that its one-time allocations are not counted;
 *   2. the daemon's memory is read ("before"): VmRSS from
 *      /proc/PID/status, Pss, Private_Dirty and Anonymous from
 *      /proc/PID/smaps_rollup;
 *   3. N sockets are opened B at a time, each batch's hellos awaited
 *      before the next batch starts (the accept backlog is never
 *      overrun);
 *   4. S seconds later the memory is read again ("after"), and once more
 *      after T seconds more of idleness ("idle"), when the sockets still
 *      open are counted on both sides (ours, and the daemon's gauge in
 *      /metrics).
 *
 * Output, one "name key=value ..." line each: idle_limits, idle_memory
 * (phase=baseline, before, after, idle), idle_open, idle_check,
 * idle_result, idle_client (this program's own memory). Progress goes to
 * stderr.
 *
 * One libuv loop, plain TCP, a small WebSocket client (masked frames out;
 * ping and close in). Every socket is a struct conn, freed in its uv_close
 * callback. The open-files limit is raised to its hard limit first: every
 * socket is a descriptor here too.
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <uv.h>

#include "xmalloc.h"

#define WS_GUID         "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_PROTOCOL     "switchboard.chat.v1"
#define IN_MAX          16384 /* bytes buffered per socket at most */
#define READ_BUF        65536 /* one read, shared by every socket */
#define TICK_MS         20
#define BATCH_LIMIT_NS  (60ull * 1000000000ull) /* one batch, at most */
#define DRAIN_LIMIT_NS  (30ull * 1000000000ull) /* warm-up sockets gone */
#define ERRORS_SHOWN    10
#define METRICS_TIMEOUT 10 /* s */

enum conn_state {
	CS_CONNECTING = 0,
	CS_HANDSHAKE, /* request written, waiting for the 101 */
	CS_OPEN,      /* 101 read, waiting for hello */
	CS_IDLE,      /* hello read: idle from now on */
	CS_CLOSED,    /* uv_close called */
};

enum stage {
	ST_WARM_OPEN = 0,
	ST_WARM_DRAIN,
	ST_WARM_SETTLE,
	ST_OPEN,
	ST_SETTLE,
	ST_IDLE,
	ST_DONE,
};

struct conn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	struct bench *b;
	enum conn_state state;
	int warm;    /* a warm-up socket */
	int refused; /* connect failed or handshake refused: counted */
	char key[28];
	char *in; /* what a read left unparsed */
	size_t inlen;
	unsigned wpending;
	struct conn *prev, *next; /* every socket not yet closed */
};

/* The daemon's memory at one moment, in KiB. */
struct mem {
	long rss, hwm, pss, private_dirty, anon;
	long fds; /* open descriptors, -1 unknown */
};

struct bench {
	uv_loop_t loop;
	uv_timer_t tick;
	uv_signal_t sigint;
	struct sockaddr_in addr;
	char host[80];
	char origin[256];
	int daemon_pid;
	unsigned long target, batch, warmup;
	double settle, idle;
	enum stage stage;
	uint64_t stage_ns;
	int failed;
	uint32_t rng;
	/* sockets */
	struct conn *all;
	unsigned long opening;    /* connecting, not yet at hello */
	unsigned long idle_conns; /* past hello, not warm-up */
	unsigned long opened;     /* started, not warm-up */
	unsigned long batch_ok, batch_n;
	uint64_t batch_t0;
	unsigned long nbatches;
	unsigned long refused;       /* connect or handshake failed */
	unsigned long lost_opening;  /* closed before hello */
	unsigned long server_closed; /* closed by the daemon once idle */
	unsigned long pings;
	unsigned long warm_ok;
	unsigned long held_after, held_idle; /* at those readings */
	unsigned long errors_shown;
	uint64_t next_poll_ns;
	uint64_t open_t0, open_ns;
	struct mem baseline, before, after, idled;
	long ws_gauge_idle;
	long client_rss0;
};

static void conn_close(struct conn *c);
static void advance(struct bench *b);

/* ---------------------------------------------------------------- util */

static uint64_t
now_ns(void)
{
	return uv_hrtime();
}

static uint32_t
rnd(struct bench *b)
{
	uint32_t x = b->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	b->rng = x;
	return x;
}

static void progress(const char *fmt, ...)
        __attribute__((format(printf, 1, 2)));

static void
progress(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_idle: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void fail(struct bench *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	fputs("bench_idle: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	b->failed = 1;
	b->stage = ST_DONE;
}

/* One problem with one socket, shown for the first few only. */
static void
conn_error(struct bench *b, const char *what, const char *detail)
{
	if (++b->errors_shown <= ERRORS_SHOWN)
		progress("%s%s%s", what, detail ? ": " : "",
		         detail ? detail : "");
}

/* ---------------------------------------------------------------- /proc */

/* The number after "key:" in a /proc file of "key: value kB" lines. */
static long
proc_field(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long
count_fds(int pid)
{
	char path[64];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
mem_read(int pid, struct mem *m)
{
	char status[64], rollup[64];

	snprintf(status, sizeof(status), "/proc/%d/status", pid);
	snprintf(rollup, sizeof(rollup), "/proc/%d/smaps_rollup", pid);
	m->rss = proc_field(status, "VmRSS");
	m->hwm = proc_field(status, "VmHWM");
	m->pss = proc_field(rollup, "Pss");
	m->private_dirty = proc_field(rollup, "Private_Dirty");
	m->anon = proc_field(rollup, "Anonymous");
	m->fds = count_fds(pid);
}

static void
mem_print(const char *phase, const struct mem *m)
{
	printf("idle_memory phase=%s rss_kib=%ld hwm_kib=%ld pss_kib=%ld "
	       "private_dirty_kib=%ld anon_kib=%ld fds=%ld\n",
	       phase, m->rss, m->hwm, m->pss, m->private_dirty, m->anon,
	       m->fds);
	fflush(stdout);
}

/* Bytes per socket between two readings in KiB, or -1 if unknown. */
static double
per_conn(long kib0, long kib1, unsigned long n)
{
	if (kib0 < 0 || kib1 < 0 || n == 0)
		return -1;
	return (double)(kib1 - kib0) * 1024.0 / (double)n;
}

/*
 * The daemon's open WebSockets, from its /metrics: a short blocking
 * request on loopback, made between phases. -1 if it cannot be read.
 */
static long
ws_gauge(struct bench *b)
{
	static const char key[] =
	        "switchboard_connections_open{kind=\"websocket\"}";
	struct timeval tv = {METRICS_TIMEOUT, 0};
	char req[256], *buf = NULL, *p;
	size_t len = 0, cap = 0;
	long v = -1;
	ssize_t n;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&b->addr, sizeof(b->addr)) !=
	    0)
		goto out;
	n = snprintf(req, sizeof(req),
	             "GET /metrics HTTP/1.1\r\nHost: %s\r\n"
	             "Connection: close\r\n\r\n",
	             b->host);
	if (write(fd, req, (size_t)n) != n)
		goto out;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (buf == NULL)
		goto out;
	buf[len] = '\0';
	for (p = strstr(buf, key); p != NULL; p = strstr(p + 1, key))
		if (p == buf || p[-1] == '\n') {
			v = strtol(p + sizeof(key) - 1, NULL, 10);
			break;
		}
out:
	free(buf);
	close(fd);
	return v;
}

/* ---------------------------------------------------------------- sockets */

struct wreq {
	uv_write_t req;
	uv_buf_t buf;
	char data[];
};

static void
on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = req->data;

	c->wpending--;
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		conn_close(c);
}

/* Writes len bytes, in order, now if the socket takes them. */
static void
conn_write(struct conn *c, const char *p, size_t len)
{
	uv_buf_t buf;
	struct wreq *w;
	int n;

	if (c->state == CS_CLOSED)
		return;
	if (c->wpending == 0) {
		buf = uv_buf_init((char *)p, (unsigned)len);
		n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
		} else if (n != UV_EAGAIN) {
			conn_close(c);
			return;
		}
		if (len == 0)
			return;
	}
	w = xmalloc(sizeof(*w) + len);
	memcpy(w->data, p, len);
	w->buf = uv_buf_init(w->data, (unsigned)len);
	w->req.data = c;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_written) !=
	    0) {
		free(w);
		conn_close(c);
		return;
	}
	c->wpending++;
}

/* One masked frame; control frames only here (payload <= 125). */
static void
ws_frame(struct conn *c, int opcode, const char *p, size_t len)
{
	unsigned char out[2 + 4 + 125];
	uint32_t m = rnd(c->b);
	size_t i;

	if (len > 125)
		len = 125;
	out[0] = (unsigned char)(0x80 | opcode);
	out[1] = (unsigned char)(0x80 | len);
	memcpy(out + 2, &m, 4);
	for (i = 0; i < len; i++)
		out[6 + i] = (unsigned char)(p[i] ^ out[2 + (i & 3)]);
	conn_write(c, (const char *)out, 6 + len);
}

static void
on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	free(c->in);
	free(c);
}

/* Leaves the books, then closes; the memory goes in on_closed. */
static void
conn_close(struct conn *c)
{
	struct bench *b = c->b;

	if (c->state == CS_CLOSED)
		return;
	if (c->state != CS_IDLE) {
		b->opening--;
		if (!c->warm && !c->refused)
			b->lost_opening++;
	} else if (!c->warm) {
		b->idle_conns--;
		/* Ours close only when the stage is done. */
		if (b->stage != ST_DONE)
			b->server_closed++;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		b->all = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->state = CS_CLOSED;
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void
handshake_send(struct conn *c)
{
	struct bench *b = c->b;
	unsigned char raw[16];
	char req[1024];
	size_t i;
	int n;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)rnd(b);
	EVP_EncodeBlock((unsigned char *)c->key, raw, sizeof(raw));
	n = snprintf(req, sizeof(req),
	             "GET /ws HTTP/1.1\r\n"
	             "Host: %s\r\n"
	             "Upgrade: websocket\r\n"
	             "Connection: Upgrade\r\n"
	             "Sec-WebSocket-Key: %s\r\n"
	             "Sec-WebSocket-Version: 13\r\n"
	             "Sec-WebSocket-Protocol: " WS_PROTOCOL "\r\n"
	             "Origin: %s\r\n"
	             "\r\n",
	             b->host, c->key, b->origin);
	if (n < 0 || (size_t)n >= sizeof(req))
		fatalx("handshake request too long");
	c->state = CS_HANDSHAKE;
	conn_write(c, req, (size_t)n);
}

/*
 * Checks the 101 answer in p (len bytes): returns the header bytes used,
 * 0 for more, -1 if refused or wrong.
 */
static int
handshake_parse(struct conn *c, char *p, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE], keyguid[80];
	char *end, *v, want[64], save;
	unsigned mdlen = 0;
	int status = 0, ok_accept = 0, ok_proto = 0, n;
	size_t hlen;

	end = memmem(p, len, "\r\n\r\n", 4);
	if (end == NULL)
		return len > 8192 ? -1 : 0;
	hlen = (size_t)(end - p) + 4;
	save = *end;
	*end = '\0';
	if (sscanf(p, "HTTP/1.1 %d", &status) != 1 || status != 101)
		goto out;
	n = snprintf((char *)keyguid, sizeof(keyguid), "%s" WS_GUID, c->key);
	if (!EVP_Digest(keyguid, (size_t)n, md, &mdlen, EVP_sha1(), NULL))
		goto out;
	EVP_EncodeBlock((unsigned char *)want, md, (int)mdlen);
	for (v = strstr(p, "\r\n"); v != NULL; v = strstr(v, "\r\n")) {
		v += 2;
		if (strncasecmp(v, "Sec-WebSocket-Accept:", 21) == 0) {
			v += 21;
			v += strspn(v, " \t");
			ok_accept = strncmp(v, want, strlen(want)) == 0 &&
			            strchr("\r", v[strlen(want)]) != NULL;
		} else if (strncasecmp(v, "Sec-WebSocket-Protocol:", 23) == 0) {
			v += 23;
			v += strspn(v, " \t");
			ok_proto = strncmp(v, WS_PROTOCOL,
			                   strlen(WS_PROTOCOL)) == 0;
		}
	}
out:
	if (!ok_accept || !ok_proto) {
		char line[128];

		snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\r\n"),
		         p);
		conn_error(c->b, "WebSocket handshake refused", line);
		*end = save;
		return -1;
	}
	*end = save;
	return (int)hlen;
}

/* The first message must be the chat protocol's hello. */
static int
on_message(struct conn *c, const char *p, size_t len)
{
	struct bench *b = c->b;
	json_error_t jerr;
	json_t *msg;
	const char *type, *proto;
	int rc = -1;

	if (c->state != CS_OPEN)
		return 0; /* idle: nothing is expected, nothing is answered */
	msg = json_loadb(p, len, 0, &jerr);
	type = json_string_value(json_object_get(msg, "type"));
	proto = json_string_value(json_object_get(msg, "protocol"));
	if (type == NULL || strcmp(type, "hello") != 0 || proto == NULL ||
	    strcmp(proto, WS_PROTOCOL) != 0) {
		char text[160];

		snprintf(text, sizeof(text), "%.*s",
		         (int)(len > 150 ? 150 : len), p);
		conn_error(b, "first message is not a chat hello", text);
		goto out;
	}
	c->state = CS_IDLE;
	b->opening--;
	if (!c->warm) {
		b->idle_conns++;
		b->batch_ok++;
	} else {
		b->warm_ok++;
	}
	rc = 0;
out:
	json_decref(msg);
	return rc;
}

/*
 * Handles every complete frame in p: returns the bytes used, or -1 when
 * the socket must close.
 */
static long
ws_parse(struct conn *c, unsigned char *p, size_t avail)
{
	struct bench *b = c->b;
	size_t off = 0, hdr, i;
	uint64_t len;
	unsigned char *f;
	int fin, op;

	while (c->state == CS_OPEN || c->state == CS_IDLE) {
		f = p + off;
		if (avail - off < 2)
			break;
		fin = f[0] & 0x80;
		op = f[0] & 0x0f;
		len = f[1] & 0x7f;
		hdr = 2;
		if (f[1] & 0x80) {
			conn_error(b, "masked frame from the server", NULL);
			return -1;
		}
		if (len == 126) {
			if (avail - off < 4)
				break;
			len = ((uint64_t)f[2] << 8) | f[3];
			hdr = 4;
		} else if (len == 127) {
			if (avail - off < 10)
				break;
			len = 0;
			for (i = 0; i < 8; i++)
				len = (len << 8) | f[2 + i];
			hdr = 10;
		}
		if (len > IN_MAX - 16) {
			conn_error(b, "frame larger than expected", NULL);
			return -1;
		}
		if (avail - off < hdr + len)
			break;
		off += hdr + (size_t)len;
		switch (op) {
		case 0x8: {
			char why[160];
			unsigned code =
			        len >= 2 ? ((unsigned)f[hdr] << 8) | f[hdr + 1]
			                 : 0;

			snprintf(why, sizeof(why), "code %u %.*s", code,
			         len > 2 ? (int)(len - 2) : 0,
			         (char *)f + hdr + 2);
			conn_error(b, "closed by the server", why);
			ws_frame(c, 0x8, (char *)f + hdr, len >= 2 ? 2 : 0);
			return -1;
		}
		case 0x9:
			b->pings++;
			ws_frame(c, 0xa, (char *)f + hdr, (size_t)len);
			break;
		case 0xa:
			break;
		case 0x1:
			if (!fin) {
				conn_error(b, "fragmented message", NULL);
				return -1;
			}
			if (on_message(c, (char *)f + hdr, (size_t)len) != 0)
				return -1;
			break;
		default:
			conn_error(b, "unexpected frame", NULL);
			return -1;
		}
	}
	return (long)off;
}

/* Parses what arrived: the 101, then frames. Returns bytes used, -1. */
static long
conn_parse(struct conn *c, char *p, size_t len)
{
	long used = 0, n;
	int h;

	if (c->state == CS_HANDSHAKE) {
		h = handshake_parse(c, p, len);
		if (h < 0 && !c->warm) {
			c->refused = 1;
			c->b->refused++;
		}
		if (h <= 0)
			return h;
		used = h;
		c->state = CS_OPEN;
	}
	n = ws_parse(c, (unsigned char *)p + used, len - (size_t)used);
	if (n < 0)
		return -1;
	return used + n;
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char shared[READ_BUF];

	buf->base = shared;
	buf->len = sizeof(shared);
}

/*
 * Reads go to one shared buffer; only what a read leaves unparsed (a
 * frame cut in two) is kept with its socket, until the rest arrives.
 */
static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct bench *b = c->b;
	char *p = buf->base;
	size_t len = (size_t)nread;
	long used;

	if (nread == 0)
		return;
	if (nread < 0) {
		if (c->state != CS_IDLE)
			conn_error(b, "closed before its hello",
			           uv_strerror((int)nread));
		else if (!c->warm && b->stage != ST_DONE)
			conn_error(b, "closed by the server",
			           uv_strerror((int)nread));
		conn_close(c);
		advance(b);
		return;
	}
	if (c->inlen > 0) {
		if (c->inlen + len > IN_MAX) {
			conn_error(b, "too much unparsed input", NULL);
			conn_close(c);
			advance(b);
			return;
		}
		c->in = xrealloc(c->in, c->inlen + len);
		memcpy(c->in + c->inlen, p, len);
		c->inlen += len;
		p = c->in;
		len = c->inlen;
	}
	used = conn_parse(c, p, len);
	if (used < 0) {
		conn_close(c);
		advance(b);
		return;
	}
	if ((size_t)used < len) {
		char *rest = xmalloc(len - (size_t)used);

		memcpy(rest, p + used, len - (size_t)used);
		free(c->in);
		c->in = rest;
		c->inlen = len - (size_t)used;
	} else {
		free(c->in);
		c->in = NULL;
		c->inlen = 0;
	}
	advance(b);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct bench *b = c->b;

	if (c->state == CS_CLOSED)
		return;
	if (status < 0) {
		if (!c->warm) {
			c->refused = 1;
			b->refused++;
		}
		conn_error(b, "connect failed", uv_strerror(status));
		conn_close(c);
		advance(b);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
		conn_close(c);
		advance(b);
		return;
	}
	handshake_send(c);
}

static void
conn_open(struct bench *b, int warm)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	int rc;

	c->b = b;
	c->warm = warm;
	c->tcp.data = c;
	c->creq.data = c;
	if (uv_tcp_init(&b->loop, &c->tcp) != 0)
		fatalx("uv_tcp_init failed");
	c->next = b->all;
	if (b->all != NULL)
		b->all->prev = c;
	b->all = c;
	b->opening++;
	if (!warm)
		b->opened++;
	rc = uv_tcp_connect(&c->creq, &c->tcp,
	                    (const struct sockaddr *)&b->addr, on_connect);
	if (rc != 0) {
		if (!warm) {
			c->refused = 1;
			b->refused++;
		}
		conn_error(b, "connect failed", uv_strerror(rc));
		conn_close(c);
	}
}

/* ---------------------------------------------------------------- stages */

static void
stage_set(struct bench *b, enum stage st)
{
	b->stage = st;
	b->stage_ns = now_ns();
}

static double
stage_seconds(const struct bench *b)
{
	return (double)(now_ns() - b->stage_ns) / 1e9;
}

static void
close_all(struct bench *b)
{
	while (b->all != NULL)
		conn_close(b->all);
}

static void
batch_start(struct bench *b)
{
	unsigned long i, n = b->target - b->opened;

	if (n > b->batch)
		n = b->batch;
	b->batch_ok = 0;
	b->batch_n = n;
	b->batch_t0 = now_ns();
	b->nbatches++;
	for (i = 0; i < n; i++)
		conn_open(b, 0);
}

static void
report_open(struct bench *b)
{
	printf("idle_open target=%lu held=%lu refused=%lu "
	       "lost_before_hello=%lu seconds=%.2f batches=%lu batch=%lu\n",
	       b->target, b->idle_conns, b->refused, b->lost_opening,
	       (double)b->open_ns / 1e9, b->nbatches, b->batch);
	fflush(stdout);
}

static void
advance(struct bench *b)
{
	long g;

	switch (b->stage) {
	case ST_WARM_OPEN:
		if (b->opening > 0)
			break;
		if (b->warmup > 0 && b->warm_ok == 0) {
			fail(b, "no warm-up socket got its hello (is the "
			        "origin one of the daemon's widget_origins?)");
			break;
		}
		progress("warm-up: %lu of %lu sockets opened; closing them",
		         b->warm_ok, b->warmup);
		close_all(b);
		stage_set(b, ST_WARM_DRAIN);
		break;
	case ST_WARM_DRAIN:
		/* Until the daemon has let them go; /metrics every 200 ms. */
		if (now_ns() < b->next_poll_ns)
			break;
		b->next_poll_ns = now_ns() + 200000000ull;
		g = ws_gauge(b);
		if (g == 0)
			stage_set(b, ST_WARM_SETTLE);
		else if (now_ns() - b->stage_ns > DRAIN_LIMIT_NS)
			fail(b, "the daemon still counts %ld warm-up sockets",
			     g);
		break;
	case ST_WARM_SETTLE:
		if (stage_seconds(b) < b->settle)
			break;
		mem_read(b->daemon_pid, &b->before);
		mem_print("before", &b->before);
		progress("opening %lu sockets, %lu at a time", b->target,
		         b->batch);
		stage_set(b, ST_OPEN);
		b->open_t0 = now_ns();
		batch_start(b);
		break;
	case ST_OPEN:
		if (b->opening > 0) {
			if (now_ns() - b->batch_t0 > BATCH_LIMIT_NS)
				fail(b,
				     "batch %lu: %lu sockets without a hello "
				     "after %llu s",
				     b->nbatches, b->opening,
				     (unsigned long long)(BATCH_LIMIT_NS /
				                          1000000000ull));
			break;
		}
		if (b->batch_ok == 0) {
			b->open_ns = now_ns() - b->open_t0;
			progress("a whole batch failed: stopping at %lu",
			         b->idle_conns);
			report_open(b);
			stage_set(b, ST_SETTLE);
			break;
		}
		if (b->nbatches % 8 == 0 || b->opened == b->target)
			progress("%lu sockets idle", b->idle_conns);
		if (b->opened < b->target) {
			batch_start(b);
			break;
		}
		b->open_ns = now_ns() - b->open_t0;
		report_open(b);
		stage_set(b, ST_SETTLE);
		break;
	case ST_SETTLE:
		if (stage_seconds(b) < b->settle)
			break;
		mem_read(b->daemon_pid, &b->after);
		b->held_after = b->idle_conns;
		mem_print("after", &b->after);
		progress("%lu sockets open; idle for %.0f s", b->idle_conns,
		         b->idle);
		stage_set(b, ST_IDLE);
		break;
	case ST_IDLE:
		if (stage_seconds(b) < b->idle)
			break;
		mem_read(b->daemon_pid, &b->idled);
		b->held_idle = b->idle_conns;
		mem_print("idle", &b->idled);
		b->ws_gauge_idle = ws_gauge(b);
		printf("idle_check seconds=%.0f held=%lu closed_by_server=%lu "
		       "daemon_ws_gauge=%ld daemon_fds=%ld pings=%lu\n",
		       b->idle, b->held_idle, b->server_closed,
		       b->ws_gauge_idle, b->idled.fds, b->pings);
		fflush(stdout);
		stage_set(b, ST_DONE);
		break;
	case ST_DONE:
		break;
	}
	if (b->stage == ST_DONE) {
		close_all(b);
		if (!uv_is_closing((uv_handle_t *)&b->tick)) {
			uv_close((uv_handle_t *)&b->tick, NULL);
			uv_close((uv_handle_t *)&b->sigint, NULL);
		}
	}
}

static void
on_tick(uv_timer_t *t)
{
	advance(t->data);
}

static void
on_sigint(uv_signal_t *s, int sig)
{
	fail(s->data, "interrupted");
	advance(s->data);
}

/* ---------------------------------------------------------------- main */

static void
usage(void)
{
	fprintf(stderr,
	        "usage: bench_idle --url http://HOST:PORT --origin ORIGIN "
	        "--daemon-pid PID\n"
	        "       [--connections N] [--batch B] [--warmup W] "
	        "[--settle S] [--idle T]\n");
	exit(2);
}

static int
parse_url(struct bench *b, const char *url)
{
	char host[64];
	unsigned port;

	if (sscanf(url, "http://%63[0-9.]:%u", host, &port) != 2 || port == 0 ||
	    port > 65535)
		return -1;
	if (uv_ip4_addr(host, (int)port, &b->addr) != 0)
		return -1;
	snprintf(b->host, sizeof(b->host), "%s:%u", host, port);
	return 0;
}

/* Every socket is a descriptor: the soft limit goes up to the hard one. */
static rlim_t
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"url", required_argument, NULL, 'u'},
	        {"origin", required_argument, NULL, 'o'},
	        {"daemon-pid", required_argument, NULL, 'p'},
	        {"connections", required_argument, NULL, 'n'},
	        {"batch", required_argument, NULL, 'b'},
	        {"warmup", required_argument, NULL, 'w'},
	        {"settle", required_argument, NULL, 's'},
	        {"idle", required_argument, NULL, 'i'},
	        {NULL, 0, NULL, 0},
	};
	struct bench *b = xcalloc(1, sizeof(*b));
	const char *url = NULL;
	rlim_t nofile;
	unsigned long i;
	long client_rss;
	int ch, rc;

	b->batch = 500;
	b->warmup = 100;
	b->settle = 3;
	b->idle = 5;
	b->rng = (uint32_t)getpid() * 2654435761u | 1;
	nofile = raise_nofile();
	b->target = nofile > 1000 ? (unsigned long)nofile - 1000 : 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 'o':
			snprintf(b->origin, sizeof(b->origin), "%s", optarg);
			break;
		case 'p':
			b->daemon_pid = (int)strtol(optarg, NULL, 10);
			break;
		case 'n':
			b->target = strtoul(optarg, NULL, 10);
			break;
		case 'b':
			b->batch = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			b->warmup = strtoul(optarg, NULL, 10);
			break;
		case 's':
			b->settle = strtod(optarg, NULL);
			break;
		case 'i':
			b->idle = strtod(optarg, NULL);
			break;
		default:
			usage();
		}
	}
	if (url == NULL || parse_url(b, url) != 0 || b->origin[0] == '\0' ||
	    b->daemon_pid <= 0 || b->target == 0 || b->batch == 0)
		usage();
	if (b->target + b->warmup + 100 > (unsigned long)nofile) {
		progress("open-files limit %lu is too low for %lu sockets",
		         (unsigned long)nofile, b->target);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	printf("idle_limits nofile=%lu connections=%lu batch=%lu warmup=%lu\n",
	       (unsigned long)nofile, b->target, b->batch, b->warmup);
	fflush(stdout);

	if (uv_loop_init(&b->loop) != 0)
		fatalx("uv_loop_init failed");
	uv_timer_init(&b->loop, &b->tick);
	b->tick.data = b;
	uv_signal_init(&b->loop, &b->sigint);
	b->sigint.data = b;
	uv_signal_start(&b->sigint, on_sigint, SIGINT);

	b->client_rss0 = proc_field("/proc/self/status", "VmRSS");
	mem_read(b->daemon_pid, &b->baseline);
	if (b->baseline.rss < 0) {
		progress("cannot read /proc/%d/status", b->daemon_pid);
		return 1;
	}
	mem_print("baseline", &b->baseline);
	stage_set(b, ST_WARM_OPEN);
	progress("warm-up: %lu sockets", b->warmup);
	for (i = 0; i < b->warmup; i++)
		conn_open(b, 1);
	uv_timer_start(&b->tick, on_tick, TICK_MS, TICK_MS);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&b->loop);
	if (rc != 0)
		progress("uv_loop_close: %s", uv_strerror(rc));

	if (b->held_idle > 0) {
		double rss =
		        per_conn(b->before.rss, b->after.rss, b->held_after);

		printf("idle_result connections=%lu rss_growth_kib=%ld "
		       "rss_bytes_per_conn=%.0f rss_kib_per_conn=%.2f "
		       "pss_bytes_per_conn=%.0f "
		       "private_dirty_bytes_per_conn=%.0f "
		       "anon_bytes_per_conn=%.0f "
		       "rss_bytes_per_conn_after_idle=%.0f\n",
		       b->held_after, b->after.rss - b->before.rss, rss,
		       rss / 1024.0,
		       per_conn(b->before.pss, b->after.pss, b->held_after),
		       per_conn(b->before.private_dirty, b->after.private_dirty,
		                b->held_after),
		       per_conn(b->before.anon, b->after.anon, b->held_after),
		       per_conn(b->before.rss, b->idled.rss, b->held_idle));
	}
	client_rss = proc_field("/proc/self/status", "VmHWM");
	printf("idle_client hwm_kib=%ld bytes_per_conn=%.0f\n", client_rss,
	       per_conn(b->client_rss0, client_rss, b->target));
	fflush(stdout);
	rc = b->failed;
	free(b);
	return rc;
}
