/*
 * bench_webhook.c: signed web-form submissions persisted per second
 * through POST /hooks/forms/{form} (channels/form/form.c) of a running
 * daemon, with advisors' desks connected and available (routing on).
 *
 * Advisors sign in (the users file: "login password" lines) and open
 * switchboard.v1 desks, set available, and accept every offer. Then, for
 * each concurrency level C, C HTTP/1.1 connections (kept alive) each keep
 * one submission in flight: a new submission_id, signed with the form's
 * secret (signed_hook_sign) at send time, the next sent when the answer
 * came. A 2xx comes only after the submission's COMMIT, so each is a
 * persisted submission. Per level: 2xx per second, latency from the
 * request's first byte written to the answer's last byte read (p50, p99,
 * p99.9, max), answers other than 2xx by status, and the CPU each process
 * used (bench_common's figures). A benchmark: it reports, it does not pass
 * or fail.
 *
 *   bench_webhook --url http://127.0.0.1:PORT --form SLUG --secret FILE
 *                 [--users FILE --advisors N] [--seconds N]
 *                 [--concurrency 16,64] [--daemon-pid P --redis-pid P
 *                 --postgres-pid P]
 */
#define _GNU_SOURCE /* strcasestr */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "bench_common.h"
#include "log.h"
#include "signed_hook.h"
#include "xmalloc.h"

#define WHO        "bench_webhook"
#define LEVELS_MAX 8
#define DESKS_MAX  1000
#define BODY_MAX   2048

struct bench;

struct desk {
	char login[129], password[129], token[128];
	int ready, available;
};

enum kind { K_LOGIN, K_DESK, K_POST };

struct conn {
	struct bc_conn bc;
	struct bench *b;
	enum kind kind;
	struct desk *desk;
	uint64_t t0; /* the request in flight's send time, ns; 0: none */
};

struct bench {
	uv_loop_t loop;
	struct bc_target t;
	struct bc_cpu_pids pids;
	const char *form;
	char desk_origin[96];
	struct signed_hook_key key;
	unsigned char secret[SIGNED_HOOK_SECRET_MAX];
	struct desk *desks;
	size_t ndesks, logins_done, desks_ready, desks_available;
	unsigned long offers;
	uint32_t tag;
	unsigned long seq;
	/* the level running */
	unsigned level, nlevels, levels[LEVELS_MAX], seconds;
	int running;
	uint64_t deadline_ns;
	unsigned long ok, created, repeated, other, refused[600], reconnects;
	unsigned open_posts;
	struct bc_samples lat;
	uv_timer_t tick;
	struct bc_cpu_snap cpu0;
};

static const struct bc_ops login_ops, desk_ops, post_ops;

static struct conn *
conn_open(struct bench *b, enum kind k, struct desk *d)
{
	struct conn *c = (struct conn *)bc_conn_alloc(
	        &b->t, sizeof(*c),
	        k == K_LOGIN  ? &login_ops
	        : k == K_DESK ? &desk_ops
	                      : &post_ops,
	        k == K_DESK ? "switchboard.v1" : NULL,
	        k == K_DESK ? b->desk_origin : NULL,
	        k == K_DESK ? d->token : NULL);

	c->b = b;
	c->kind = k;
	c->desk = d;
	if (k == K_POST)
		b->open_posts++;
	if (bc_conn_connect(&c->bc) != 0)
		return NULL;
	return c;
}

static void
on_closing(struct bc_conn *bc)
{
	struct conn *c = (struct conn *)bc;
	struct bench *b = c->b;

	if (c->kind == K_POST) {
		b->open_posts--;
		/* The server closed a kept-alive connection: a new one. */
		if (c->t0 != 0)
			b->other++; /* closed before it answered */
		if (b->running && bc_now_ns() < b->deadline_ns) {
			b->reconnects++;
			conn_open(b, K_POST, NULL);
		}
	} else if (c->kind == K_DESK && c->desk != NULL && b->running) {
		bc_progress(WHO, "desk %s closed by the server",
		            c->desk->login);
	}
}

static void
on_failed(struct bc_conn *bc, const char *why)
{
	(void)bc;
	bc_progress(WHO, "connect failed: %s", why);
}

/* ---------------------------------------------------------------- desks */

static void
login_connected(struct bc_conn *bc)
{
	struct conn *c = (struct conn *)bc;

	bc_login_send(bc, c->desk->login, c->desk->password);
}

static void
login_read(struct bc_conn *bc, int eof)
{
	struct conn *c = (struct conn *)bc;
	char token[128];
	int status, used;

	used = bc_login_parse(bc, eof, &status, token, sizeof(token));
	if (used == 0)
		return;
	if (used < 0 || status != 200 || token[0] == '\0')
		fatalx(WHO ": sign-in of %s failed (HTTP %d)", c->desk->login,
		       used > 0 ? status : 0);
	snprintf(c->desk->token, sizeof(c->desk->token), "%s", token);
	c->b->logins_done++;
	conn_open(c->b, K_DESK, c->desk);
	bc_conn_close(bc);
}

static void
desk_message(struct bc_conn *bc, const char *p, size_t len, uint64_t t)
{
	struct conn *c = (struct conn *)bc;
	struct bench *b = c->b;
	char buf[512], conv[32];
	const char *q;
	size_t n;

	(void)t;
	n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (strstr(buf, "\"type\":\"desk.ready\"") != NULL && !c->desk->ready) {
		c->desk->ready = 1;
		b->desks_ready++;
		bc_ws_send(bc, "{\"type\":\"desk.status\",\"status\":"
		               "\"available\",\"id\":\"st\"}");
	} else if (strstr(buf, "\"type\":\"desk.status.ok\"") != NULL &&
	           !c->desk->available) {
		c->desk->available = 1;
		b->desks_available++;
	} else if (strstr(buf, "\"type\":\"offer\"") != NULL &&
	           (q = strstr(buf, "\"conversation\":\"")) != NULL &&
	           sscanf(q + 16, "%31[0-9]", conv) == 1) {
		b->offers++;
		bc_ws_send(bc,
		           "{\"type\":\"offer.accept\",\"conversation\":\"%s\","
		           "\"id\":\"a%s\"}",
		           conv, conv);
	}
}

/* ---------------------------------------------------------------- posts */

static void
post_send(struct conn *c)
{
	struct bench *b = c->b;
	char body[BODY_MAX], sig[SIGNED_HOOK_SIG_SIZE], req[BODY_MAX + 1024];
	int64_t ts = (int64_t)time(NULL);
	int blen, rlen;

	b->seq++;
	blen = snprintf(
	        body, sizeof(body),
	        "{\"submission_id\":\"bench-%08x-%lu\",\"form\":\"Report a "
	        "missed bin\",\"name\":\"Bench Resident\",\"email\":"
	        "\"bench%lu@example.org\",\"fields\":[{\"label\":\"Address\","
	        "\"value\":\"%lu High Street, Demoton\"},{\"label\":\"Bin\","
	        "\"value\":\"Green (recycling)\"},{\"label\":\"Collection "
	        "day\",\"value\":\"Monday\"},{\"label\":\"Notes\",\"value\":"
	        "\"Left at the kerb by 7am as usual; the rest of the street "
	        "was collected.\"}]}",
	        b->tag, b->seq, b->seq, b->seq % 500 + 1);
	if (signed_hook_sign(sig, sizeof(sig), &b->key, ts, body,
	                     (size_t)blen) != 0)
		fatalx(WHO ": signing failed");
	rlen = snprintf(req, sizeof(req),
	                "POST /hooks/forms/%s HTTP/1.1\r\nHost: %s\r\n"
	                "Content-Type: application/json\r\n"
	                "X-Switchboard-Timestamp: %lld\r\n"
	                "X-Switchboard-Signature: %s\r\n"
	                "Content-Length: %d\r\n\r\n%s",
	                b->form, b->t.host, (long long)ts, sig, blen, body);
	c->t0 = bc_now_ns();
	bc_write(&c->bc, req, (size_t)rlen);
}

static void
post_connected(struct bc_conn *bc)
{
	struct conn *c = (struct conn *)bc;

	if (c->b->running)
		post_send(c);
	else
		bc_conn_close(bc);
}

/* One whole answer at the head of c->in: its size, else 0. */
static size_t
answer_size(const struct bc_conn *c, int *status, int *close_after)
{
	const char *end = strstr(c->in, "\r\n\r\n"), *cl;
	size_t head, len = 0;

	if (end == NULL)
		return 0;
	head = (size_t)(end - c->in) + 4;
	if (sscanf(c->in, "HTTP/1.%*d %d", status) != 1)
		fatalx(WHO ": not an HTTP answer: %.40s", c->in);
	cl = strcasestr(c->in, "\r\ncontent-length:");
	if (cl != NULL && cl < end)
		len = strtoul(cl + 17, NULL, 10);
	*close_after = strcasestr(c->in, "\r\nconnection: close") != NULL &&
	               strcasestr(c->in, "\r\nconnection: close") < end;
	return c->inlen >= head + len ? head + len : 0;
}

static void
post_read(struct bc_conn *bc, int eof)
{
	struct conn *c = (struct conn *)bc;
	struct bench *b = c->b;
	uint64_t now = bc_now_ns();
	int status = 0, close_after = 0;
	size_t n;

	(void)eof;
	while ((n = answer_size(bc, &status, &close_after)) > 0) {
		memmove(bc->in, bc->in + n, bc->inlen - n);
		bc->inlen -= n;
		bc->in[bc->inlen] = '\0';
		if (c->t0 == 0)
			continue;
		if (status >= 200 && status < 300) {
			b->ok++;
			b->created += status == 201;
			b->repeated += status == 200;
			bc_sample_add(&b->lat, (double)(now - c->t0) / 1e6);
		} else {
			b->refused[status > 0 && status < 600 ? status : 0]++;
		}
		c->t0 = 0;
		if (close_after || !b->running || now >= b->deadline_ns) {
			bc_conn_close(bc);
			return;
		}
		post_send(c);
	}
}

static const struct bc_ops login_ops = {
        .connected = login_connected,
        .http_read = login_read,
        .closing = on_closing,
        .failed = on_failed,
};
static const struct bc_ops desk_ops = {
        .ws_message = desk_message,
        .closing = on_closing,
        .failed = on_failed,
};
static const struct bc_ops post_ops = {
        .connected = post_connected,
        .http_read = post_read,
        .closing = on_closing,
        .failed = on_failed,
};

/* ---------------------------------------------------------------- levels */

static void
level_start(struct bench *b)
{
	unsigned i, c = b->levels[b->level];

	b->ok = b->created = b->repeated = b->other = b->reconnects = 0;
	memset(b->refused, 0, sizeof(b->refused));
	bc_samples_free(&b->lat);
	b->running = 1;
	bc_cpu_snap(&b->t, &b->pids, &b->cpu0);
	b->deadline_ns = bc_now_ns() + (uint64_t)b->seconds * 1000000000ULL;
	bc_progress(WHO, "concurrency %u, %u s", c, b->seconds);
	for (i = 0; i < c; i++)
		conn_open(b, K_POST, NULL);
}

static void
level_report(struct bench *b)
{
	struct bc_cpu_snap now;
	char cpu[512], bad[256];
	double secs;
	size_t off = 0;
	unsigned i;

	bc_cpu_snap(&b->t, &b->pids, &now);
	bc_cpu_format(&b->cpu0, &now, cpu, sizeof(cpu));
	secs = (double)(now.wall_ns - b->cpu0.wall_ns) / 1e9;
	bad[0] = '\0';
	for (i = 0; i < 600; i++)
		if (b->refused[i] > 0 && off < sizeof(bad) - 32)
			off += (size_t)snprintf(bad + off, sizeof(bad) - off,
			                        "%s%u:%lu", off ? "," : "", i,
			                        b->refused[i]);
	printf("webhook_level concurrency=%u seconds=%.1f ok=%lu created=%lu "
	       "repeated=%lu per_s=%.0f p50_ms=%.2f p99_ms=%.2f "
	       "p999_ms=%.2f max_ms=%.2f non_2xx=%s lost=%lu reconnects=%lu "
	       "desks=%zu offers=%lu %s\n",
	       b->levels[b->level], secs, b->ok, b->created, b->repeated,
	       (double)b->ok / secs, bc_quantile(&b->lat, 0.50),
	       bc_quantile(&b->lat, 0.99), bc_quantile(&b->lat, 0.999),
	       bc_quantile(&b->lat, 1.0), bad[0] ? bad : "none", b->other,
	       b->reconnects, b->desks_available, b->offers, cpu);
	fflush(stdout);
}

static void
on_tick(uv_timer_t *h)
{
	struct bench *b = h->data;
	uint64_t now = bc_now_ns();

	if (!b->running) {
		if (b->desks_available < b->ndesks)
			return;
		if (b->level < b->nlevels) {
			level_start(b);
			return;
		}
		uv_timer_stop(h);
		uv_stop(&b->loop);
		return;
	}
	if (now < b->deadline_ns || b->open_posts > 0) {
		if (now > b->deadline_ns + 10000000000ULL)
			fatalx(WHO ": %u connections still open 10 s after "
			           "the end",
			       b->open_posts);
		return;
	}
	b->running = 0;
	level_report(b);
	b->level++;
}

static void
load_users(struct bench *b, const char *path, size_t max)
{
	FILE *f = fopen(path, "r");
	char line[300];
	struct desk *d;

	if (f == NULL)
		fatalx("%s: cannot open", path);
	b->desks = xcalloc(max, sizeof(*b->desks));
	while (b->ndesks < max && fgets(line, sizeof(line), f) != NULL) {
		d = &b->desks[b->ndesks];
		if (sscanf(line, "%128s %128s", d->login, d->password) == 2)
			b->ndesks++;
	}
	fclose(f);
	if (b->ndesks < max)
		fatalx("%s: fewer than %zu users", path, max);
}

static void
read_secret(struct bench *b, const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		fatalx("%s: cannot open", path);
	n = fread(b->secret, 1, sizeof(b->secret), f);
	fclose(f);
	while (n > 0 && (b->secret[n - 1] == '\n' || b->secret[n - 1] == '\r'))
		n--;
	if (n < SIGNED_HOOK_SECRET_MIN)
		fatalx("%s: a secret is at least 16 bytes", path);
	b->key.key = b->secret;
	b->key.len = n;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"url", required_argument, NULL, 'u'},
	        {"form", required_argument, NULL, 'f'},
	        {"secret", required_argument, NULL, 's'},
	        {"users", required_argument, NULL, 'U'},
	        {"advisors", required_argument, NULL, 'a'},
	        {"seconds", required_argument, NULL, 'S'},
	        {"concurrency", required_argument, NULL, 'c'},
	        {"daemon-pid", required_argument, NULL, 'd'},
	        {"redis-pid", required_argument, NULL, 'r'},
	        {"postgres-pid", required_argument, NULL, 'p'},
	        {NULL, 0, NULL, 0},
	};
	struct bench *b = xcalloc(1, sizeof(*b));
	const char *url = NULL, *secret = NULL, *users = NULL;
	const char *levels = "16,64";
	size_t advisors = 0, i;
	char *lv, *tok, *save = NULL;
	int o;

	b->seconds = 10;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u':
			url = optarg;
			break;
		case 'f':
			b->form = optarg;
			break;
		case 's':
			secret = optarg;
			break;
		case 'U':
			users = optarg;
			break;
		case 'a':
			advisors = bc_parse_uint(optarg, "--advisors");
			break;
		case 'S':
			b->seconds = bc_parse_uint(optarg, "--seconds");
			break;
		case 'c':
			levels = optarg;
			break;
		case 'd':
			b->pids.daemon =
			        (int)bc_parse_uint(optarg, "--daemon-pid");
			break;
		case 'r':
			b->pids.redis =
			        (int)bc_parse_uint(optarg, "--redis-pid");
			break;
		case 'p':
			b->pids.pg =
			        (int)bc_parse_uint(optarg, "--postgres-pid");
			break;
		default:
			fputs("usage: see the head of "
			      "tests/bench/bench_webhook.c\n",
			      stderr);
			return 2;
		}
	}
	if (url == NULL || b->form == NULL || secret == NULL ||
	    (advisors > 0 && users == NULL) || advisors > DESKS_MAX) {
		fputs("usage: see the head of tests/bench/bench_webhook.c\n",
		      stderr);
		return 2;
	}
	lv = xstrdup(levels);
	for (tok = strtok_r(lv, ",", &save);
	     tok != NULL && b->nlevels < LEVELS_MAX;
	     tok = strtok_r(NULL, ",", &save))
		b->levels[b->nlevels++] = bc_parse_uint(tok, "--concurrency");
	free(lv);
	read_secret(b, secret);
	if (advisors > 0)
		load_users(b, users, advisors);
	bc_raise_fd_limit(WHO);
	if (uv_loop_init(&b->loop) != 0)
		fatalx("uv_loop_init");
	b->t.loop = &b->loop;
	bc_parse_url(&b->t, url);
	snprintf(b->desk_origin, sizeof(b->desk_origin), "http://%s",
	         b->t.host);
	b->t.rng = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	b->tag = bc_rnd(&b->t);
	printf("webhook_tag tag=%08x\n", b->tag);
	/* Desks first: signed in one after another (Argon2id), then open. */
	for (i = 0; i < b->ndesks; i++)
		conn_open(b, K_LOGIN, &b->desks[i]);
	uv_timer_init(&b->loop, &b->tick);
	b->tick.data = b;
	uv_timer_start(&b->tick, on_tick, 100, 100);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	printf("webhook_desks advisors=%zu available=%zu offers=%lu\n",
	       b->ndesks, b->desks_available, b->offers);
	bc_close_all(&b->loop);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_loop_close(&b->loop);
	bc_samples_free(&b->lat);
	free(b->desks);
	free(b);
	return 0;
}
