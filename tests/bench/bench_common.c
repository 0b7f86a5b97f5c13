/*
 * bench_common.c: the load generators' WebSocket client, sign-in, samples
 * and CPU accounting. See bench_common.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "bench_common.h"
#include "xmalloc.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---------------------------------------------------------------- util */

uint64_t
bc_now_ns(void)
{
	return uv_hrtime();
}

uint32_t
bc_rnd(struct bc_target *t)
{
	uint32_t x = t->rng ? t->rng : 2463534242u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	t->rng = x;
	return x;
}

void
bc_progress(const char *who, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

unsigned
bc_parse_uint(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v > 10000000)
		fatalx("bad %s: %s", what, s);
	return (unsigned)v;
}

void
bc_parse_url(struct bc_target *t, const char *url)
{
	char ip[48];
	unsigned port;
	int n = 0;

	if (sscanf(url, "http://%47[0-9.]:%u%n", ip, &port, &n) != 2 ||
	    (url[n] != '\0' && strcmp(url + n, "/") != 0) || port == 0 ||
	    port > 65535 || uv_ip4_addr(ip, (int)port, &t->addr) != 0)
		fatalx("--url must be http://IPV4:PORT, not %s", url);
	snprintf(t->host, sizeof(t->host), "%s:%u", ip, port);
}

void
bc_raise_fd_limit(const char *who)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			bc_progress(who, "setrlimit: %s", strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		bc_progress(who, "open files limit %llu",
		            (unsigned long long)rl.rlim_cur);
}

/* ---------------------------------------------------------------- samples */

void
bc_sample_add(struct bc_samples *s, double v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = xrealloc(s->v, s->cap * sizeof(double));
	}
	s->v[s->n++] = v;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
bc_quantile(struct bc_samples *s, double p)
{
	size_t i;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(double), cmp_double);
	i = (size_t)(p * (double)s->n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > s->n)
		i = s->n;
	return s->v[i - 1];
}

void
bc_samples_free(struct bc_samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
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
	struct bc_conn *c = req->data;

	c->wpending--;
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		bc_conn_close(c);
}

void
bc_write(struct bc_conn *c, const char *p, size_t len)
{
	uv_buf_t buf;
	struct wreq *w;
	int n;

	if (c->state == BC_CLOSED)
		return;
	if (c->wpending == 0) {
		buf = uv_buf_init((char *)p, (unsigned)len);
		n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
		} else if (n != UV_EAGAIN) {
			bc_conn_close(c);
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
		bc_conn_close(c);
		return;
	}
	c->wpending++;
}

void
bc_ws_frame(struct bc_conn *c, int opcode, const char *p, size_t len)
{
	unsigned char hdr[14];
	char stack[512], *out;
	size_t h = 0, i;
	uint32_t m = bc_rnd(c->t);

	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			hdr[h++] =
			        (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(hdr + h, &m, 4);
	h += 4;
	out = h + len <= sizeof(stack) ? stack : xmalloc(h + len);
	memcpy(out, hdr, h);
	for (i = 0; i < len; i++)
		out[h + i] = (char)(p[i] ^ hdr[h - 4 + (i & 3)]);
	bc_write(c, out, h + len);
	if (out != stack)
		free(out);
}

void
bc_ws_text(struct bc_conn *c, const char *p, size_t len)
{
	bc_ws_frame(c, 0x1, p, len);
}

void
bc_ws_send(struct bc_conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		fatalx("bc_ws_send: message too long");
	bc_ws_frame(c, 0x1, buf, (size_t)n);
}

static void
on_closed(uv_handle_t *h)
{
	struct bc_conn *c = h->data;

	free(c->in);
	free(c->frag);
	free(c);
}

void
bc_conn_close(struct bc_conn *c)
{
	if (c->state == BC_CLOSED)
		return;
	if (c->ops->closing != NULL)
		c->ops->closing(c);
	c->state = BC_CLOSED;
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void
conn_failed(struct bc_conn *c, const char *why)
{
	if (c->ops->failed != NULL)
		c->ops->failed(c, why);
	bc_conn_close(c);
}

static void
handshake_send(struct bc_conn *c)
{
	unsigned char raw[16];
	char *req, cookie[200] = "", origin[200] = "";
	size_t i;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)bc_rnd(c->t);
	EVP_EncodeBlock((unsigned char *)c->key, raw, sizeof(raw));
	if (c->cookie[0] != '\0')
		snprintf(cookie, sizeof(cookie),
		         "Cookie: " BC_COOKIE_NAME "=%s\r\n", c->cookie);
	if (c->origin != NULL)
		snprintf(origin, sizeof(origin), "Origin: %s\r\n", c->origin);
	req = xasprintf("GET /ws HTTP/1.1\r\n"
	                "Host: %s\r\n"
	                "Upgrade: websocket\r\n"
	                "Connection: Upgrade\r\n"
	                "Sec-WebSocket-Key: %s\r\n"
	                "Sec-WebSocket-Version: 13\r\n"
	                "Sec-WebSocket-Protocol: %s\r\n"
	                "%s%s"
	                "\r\n",
	                c->t->host, c->key, c->protocol, origin, cookie);
	bc_write(c, req, strlen(req));
	free(req);
}

/* Checks the 101 answer; returns header bytes used, 0 for more, -1 bad. */
static int
handshake_parse(struct bc_conn *c, char *why, size_t wlen)
{
	char *end, *v, want[64];
	unsigned char md[EVP_MAX_MD_SIZE], keyguid[64];
	unsigned mdlen = 0;
	int status = 0, ok_accept = 0, ok_proto = 0, n;
	size_t hlen, plen = strlen(c->protocol);

	c->in[c->inlen] = '\0';
	end = strstr(c->in, "\r\n\r\n");
	if (end == NULL) {
		snprintf(why, wlen, "WebSocket handshake answer too long");
		return c->inlen > 8192 ? -1 : 0;
	}
	hlen = (size_t)(end - c->in) + 4;
	*end = '\0';
	if (sscanf(c->in, "HTTP/1.1 %d", &status) != 1 || status != 101)
		goto out;
	n = snprintf((char *)keyguid, sizeof(keyguid), "%s" WS_GUID, c->key);
	if (!EVP_Digest(keyguid, (size_t)n, md, &mdlen, EVP_sha1(), NULL))
		goto out;
	EVP_EncodeBlock((unsigned char *)want, md, (int)mdlen);
	for (v = strstr(c->in, "\r\n"); v != NULL; v = strstr(v, "\r\n")) {
		v += 2;
		if (strncasecmp(v, "Sec-WebSocket-Accept:", 21) == 0) {
			v += 21;
			v += strspn(v, " \t");
			ok_accept = strncmp(v, want, strlen(want)) == 0;
		} else if (strncasecmp(v, "Sec-WebSocket-Protocol:", 23) == 0) {
			v += 23;
			v += strspn(v, " \t");
			ok_proto = strncmp(v, c->protocol, plen) == 0 &&
			           strchr("\r\n ,", v[plen]) != NULL;
		}
	}
out:
	if (!ok_accept || !ok_proto) {
		snprintf(why, wlen, "WebSocket handshake refused: %.*s",
		         (int)strcspn(c->in, "\r\n"), c->in);
		*end = '\r';
		return -1;
	}
	return (int)hlen;
}

static void
deliver(struct bc_conn *c, const char *p, size_t len, uint64_t t)
{
	if (c->ops->ws_message != NULL)
		c->ops->ws_message(c, p, len, t);
}

/* Handles every complete frame in c->in; -1 when the socket must close. */
static int
ws_parse(struct bc_conn *c, uint64_t t)
{
	size_t off = 0, hdr, i;
	uint64_t len;
	unsigned char *p;
	int fin, op, masked;

	while (c->state == BC_OPEN) {
		p = (unsigned char *)c->in + off;
		if (c->inlen - off < 2)
			break;
		fin = p[0] & 0x80;
		op = p[0] & 0x0f;
		masked = p[1] & 0x80;
		len = p[1] & 0x7f;
		hdr = 2;
		if (len == 126) {
			if (c->inlen - off < 4)
				break;
			len = ((uint64_t)p[2] << 8) | p[3];
			hdr = 4;
		} else if (len == 127) {
			if (c->inlen - off < 10)
				break;
			len = 0;
			for (i = 0; i < 8; i++)
				len = (len << 8) | p[2 + i];
			hdr = 10;
		}
		if (masked)
			hdr += 4;
		if (len > BC_MSG_MAX)
			return -1;
		if (c->inlen - off < hdr + len)
			break;
		if (masked)
			for (i = 0; i < len; i++)
				p[hdr + i] ^= p[hdr - 4 + (i & 3)];
		off += hdr + (size_t)len;
		switch (op) {
		case 0x8: /* close: answer it, then go */
			bc_ws_frame(c, 0x8, (char *)p + hdr, len >= 2 ? 2 : 0);
			return -1;
		case 0x9:
			bc_ws_frame(c, 0xa, (char *)p + hdr, (size_t)len);
			break;
		case 0xa:
			break;
		case 0x1:
		case 0x2:
			if (c->fragging)
				return -1;
			if (fin) {
				deliver(c, (char *)p + hdr, (size_t)len, t);
				break;
			}
			c->fragging = 1;
			c->fraglen = 0;
			/* FALLTHROUGH */
		case 0x0:
			if (!c->fragging || c->fraglen + len > BC_MSG_MAX)
				return -1;
			if (c->frag == NULL)
				c->frag = xmalloc(BC_MSG_MAX);
			memcpy(c->frag + c->fraglen, p + hdr, (size_t)len);
			c->fraglen += (size_t)len;
			if (fin) {
				c->fragging = 0;
				deliver(c, c->frag, c->fraglen, t);
			}
			break;
		default:
			return -1;
		}
	}
	if (c->state != BC_CLOSED && off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	return 0;
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct bc_conn *c = h->data;

	(void)hint;
	if (c->incap - c->inlen < 65536 + 1 && c->incap < BC_IN_MAX) {
		c->incap = c->incap ? c->incap * 2 : 65536 + 1;
		if (c->incap > BC_IN_MAX)
			c->incap = BC_IN_MAX;
		c->in = xrealloc(c->in, c->incap);
	}
	/* One byte kept for a terminating NUL. */
	*buf = uv_buf_init(c->in + c->inlen,
	                   (unsigned)(c->incap - c->inlen - 1));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct bc_conn *c = s->data;
	uint64_t t = bc_now_ns();
	char why[200];
	int used;

	(void)buf;
	if (c->state == BC_CLOSED || n == 0)
		return;
	if (n > 0)
		c->inlen += (size_t)n;
	if (!c->websocket) {
		c->in[c->inlen] = '\0';
		c->ops->http_read(c, n < 0 || c->inlen + 1 >= BC_IN_MAX);
		if (n < 0 || c->inlen + 1 >= BC_IN_MAX)
			bc_conn_close(c);
		return;
	}
	if (n < 0 || c->inlen + 1 >= BC_IN_MAX) {
		bc_conn_close(c);
		return;
	}
	if (c->state == BC_HANDSHAKE) {
		used = handshake_parse(c, why, sizeof(why));
		if (used < 0) {
			conn_failed(c, why);
			return;
		}
		if (used == 0)
			return;
		memmove(c->in, c->in + used, c->inlen - (size_t)used);
		c->inlen -= (size_t)used;
		c->state = BC_OPEN;
		if (c->ops->ws_open != NULL)
			c->ops->ws_open(c);
	}
	if (ws_parse(c, t) != 0)
		bc_conn_close(c);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct bc_conn *c = req->data;

	if (c->state == BC_CLOSED)
		return;
	if (status < 0) {
		conn_failed(c, uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->state = c->websocket ? BC_HANDSHAKE : BC_OPEN;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
		bc_conn_close(c);
		return;
	}
	if (c->websocket)
		handshake_send(c);
	else
		c->ops->connected(c);
}

struct bc_conn *
bc_conn_alloc(struct bc_target *t, size_t size, const struct bc_ops *ops,
              const char *protocol, const char *origin, const char *cookie)
{
	struct bc_conn *c;

	if (size < sizeof(*c))
		fatalx("bc_conn_alloc: size too small");
	c = xcalloc(1, size);
	c->t = t;
	c->ops = ops;
	c->websocket = protocol != NULL;
	c->protocol = protocol;
	c->origin = origin;
	if (cookie != NULL)
		snprintf(c->cookie, sizeof(c->cookie), "%s", cookie);
	c->tcp.data = c;
	c->creq.data = c;
	if (uv_tcp_init(t->loop, &c->tcp) != 0)
		fatalx("uv_tcp_init failed");
	return c;
}

int
bc_conn_connect(struct bc_conn *c)
{
	int rc = uv_tcp_connect(&c->creq, &c->tcp,
	                        (const struct sockaddr *)&c->t->addr,
	                        on_connect);

	if (rc != 0) {
		conn_failed(c, uv_strerror(rc));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- login */

void
bc_login_send(struct bc_conn *c, const char *login, const char *password)
{
	json_t *body =
	        json_pack("{s:s, s:s}", "login", login, "password", password);
	char *text = json_dumps(body, JSON_COMPACT);
	char *req;

	json_decref(body);
	if (text == NULL)
		fatalx("json_dumps failed");
	req = xasprintf("POST /api/session HTTP/1.1\r\n"
	                "Host: %s\r\n"
	                "Content-Type: application/json\r\n"
	                "Content-Length: %zu\r\n"
	                "Connection: close\r\n"
	                "\r\n%s",
	                c->t->host, strlen(text), text);
	bc_write(c, req, strlen(req));
	free(req);
	free(text);
}

int
bc_login_parse(struct bc_conn *c, int eof, int *status, char *token, size_t len)
{
	char *end, *line, *next, *v;
	long clen = -1;
	size_t hlen;

	token[0] = '\0';
	*status = 0;
	if (c->inlen == 0)
		return eof ? -1 : 0;
	c->in[c->inlen] = '\0';
	end = strstr(c->in, "\r\n\r\n");
	if (end == NULL)
		return eof ? -1 : 0;
	hlen = (size_t)(end - c->in) + 4;
	if (sscanf(c->in, "HTTP/1.%*d %d", status) != 1)
		return -1;
	*end = '\0';
	for (line = strstr(c->in, "\r\n"); line != NULL; line = next) {
		line += 2;
		next = strstr(line, "\r\n");
		if (next != NULL)
			*next = '\0';
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			clen = strtol(line + 15, NULL, 10);
		} else if (strncasecmp(line, "Set-Cookie:", 11) == 0 &&
		           (v = strstr(line, BC_COOKIE_NAME "=")) != NULL) {
			v += strlen(BC_COOKIE_NAME "=");
			snprintf(token, len, "%.*s", (int)strcspn(v, "; "), v);
		}
		if (next != NULL)
			*next = '\r';
	}
	*end = '\r';
	if (clen >= 0 && c->inlen - hlen < (size_t)clen && !eof)
		return 0;
	return 1;
}

/* ---------------------------------------------------------------- CPU */

/* Own and reaped children's ticks of pid, and its parent; -1 if gone. */
static int
proc_ticks(int pid, int *ppid, unsigned long long *own,
           unsigned long long *reaped)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, cut, cst;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 1,
	           " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
	           "%llu %llu",
	           ppid, &ut, &st, &cut, &cst) != 5)
		return -1;
	*own = ut + st;
	*reaped = cut + cst;
	return 0;
}

/*
 * The daemon's transactions and writes so far (switchboard_commit_batch_size
 * _count and _sum), by a blocking GET /metrics: call it between phases.
 */
static void
commit_snap(const struct bc_target *t, struct bc_cpu_snap *s)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: bench\r\n"
	                          "Connection: close\r\n\r\n";
	char *buf = xmalloc(1 << 20), *p;
	size_t len = 0;
	ssize_t n;
	int fd;

	s->commits = s->writes = -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 ||
	    connect(fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) !=
	            0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return;
	}
	while (len < (1 << 20) - 1 &&
	       (n = read(fd, buf + len, (1 << 20) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	if ((p = strstr(buf, "\nswitchboard_commit_batch_size_count ")) != NULL)
		s->commits = strtod(strchr(p + 1, ' ') + 1, NULL);
	if ((p = strstr(buf, "\nswitchboard_commit_batch_size_sum ")) != NULL)
		s->writes = strtod(strchr(p + 1, ' ') + 1, NULL);
	free(buf);
}

void
bc_cpu_snap(const struct bc_target *t, const struct bc_cpu_pids *pids,
            struct bc_cpu_snap *s)
{
	unsigned long long v[10] = {0}, own, reaped;
	struct dirent *de;
	struct rusage ru;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	DIR *d;
	int pid, ppid, i;

	memset(s, 0, sizeof(*s));
	s->wall_ns = bc_now_ns();
	f = fopen("/proc/stat", "r");
	if (f != NULL) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		           &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
		           &v[7]) == 8)
			for (i = 0; i < 8; i++)
				s->busy += i == 3 || i == 4 ? 0 : v[i];
		fclose(f);
	}
	if (proc_ticks(pids->daemon, &ppid, &own, &reaped) == 0)
		s->daemon = own + reaped;
	if (proc_ticks(pids->redis, &ppid, &own, &reaped) == 0)
		s->redis = own;
	/* Backends that have exited are in the postmaster's reaped time. */
	if (proc_ticks(pids->pg, &ppid, &own, &reaped) == 0)
		s->pg = own + reaped;
	d = pids->pg > 0 ? opendir("/proc") : NULL;
	while (d != NULL && (de = readdir(d)) != NULL) {
		pid = atoi(de->d_name);
		if (pid <= 0 || proc_ticks(pid, &ppid, &own, &reaped) != 0 ||
		    ppid != pids->pg)
			continue;
		s->pg += own;
		if (s->npg < nitems(s->pg_pid)) {
			s->pg_pid[s->npg] = pid;
			s->pg_t[s->npg++] = own;
		}
	}
	if (d != NULL)
		closedir(d);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		s->self = (unsigned long long)((ru.ru_utime.tv_sec +
		                                ru.ru_stime.tv_sec) *
		                                       hz +
		                               (ru.ru_utime.tv_usec +
		                                ru.ru_stime.tv_usec) *
		                                       hz / 1000000);
	commit_snap(t, s);
}

void
bc_cpu_format(const struct bc_cpu_snap *a, const struct bc_cpu_snap *b,
              char *buf, size_t len)
{
	unsigned long long top = 0, ours;
	double hz = (double)sysconf(_SC_CLK_TCK), secs;
	size_t j, k;

	secs = (double)(b->wall_ns - a->wall_ns) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	for (j = 0; j < b->npg; j++)
		for (k = 0; k < a->npg; k++)
			if (b->pg_pid[j] == a->pg_pid[k] &&
			    b->pg_t[j] - a->pg_t[k] > top)
				top = b->pg_t[j] - a->pg_t[k];
	ours = (b->daemon - a->daemon) + (b->pg - a->pg) +
	       (b->redis - a->redis) + (b->self - a->self);
#define PCT(t) (100.0 * (double)(t) / hz / secs)
	snprintf(buf, len,
	         "seconds=%.1f daemon=%.0f pg=%.0f pg_busiest_backend=%.0f "
	         "redis=%.0f bench=%.0f others=%.0f capacity=%ld "
	         "commits_per_s=%.0f writes_per_commit=%.1f",
	         secs, PCT(b->daemon - a->daemon), PCT(b->pg - a->pg), PCT(top),
	         PCT(b->redis - a->redis), PCT(b->self - a->self),
	         b->busy - a->busy > ours ? PCT(b->busy - a->busy - ours) : 0.0,
	         100 * sysconf(_SC_NPROCESSORS_ONLN),
	         (b->commits - a->commits) / secs,
	         b->commits > a->commits
	                 ? (b->writes - a->writes) / (b->commits - a->commits)
	                 : 0.0);
#undef PCT
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void
bc_close_all(uv_loop_t *loop)
{
	uv_walk(loop, close_walk, NULL);
}
