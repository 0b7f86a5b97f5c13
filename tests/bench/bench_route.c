/*
 * bench_route.c: routing latency and assignments per second, measured from
 * outside the daemon through /ws, the way desks and residents see it.
 * A benchmark: it reports, it does not pass or fail.
 *
 *   bench_route --url http://127.0.0.1:PORT --users FILE [--queue SLUG]
 *               [--advisors N] [--rate R] [--seconds T] [--waiting W]
 *               [--login-concurrency N] [--keep]
 *               [--daemon-pid PID --redis-pid PID --postgres-pid PID]
 *
 * FILE holds one "login password" pair a line. Every advisor signs in with
 * POST /api/session (a few at a time: each is an Argon2id check) and opens a
 * desk (switchboard.v1) with the session cookie. Residents chat as the
 * widget does (switchboard.chat.v1). Then:
 *
 *   1. latency: desks available; 2 s later residents send chat.start at R a
 *      second for T seconds. Latency is from writing chat.start to reading the
 * offer of that conversation at a desk. Desks accept every offer at once and
 *      release it (closed) when accepted, so capacity never runs out.
 *   2. assignments: desks away; W residents start a chat and wait; then every
 *      desk goes available at once and accepts and releases as fast as
 *      offers come, until the queue is empty. With --keep desks keep what
 *      they accept (no release) and residents stay connected once
 *      assigned: the advisors' capacity must then hold every waiting chat,
 *      and the figure is the router's assignments alone, without the
 *      conversations' ends.
 *
 * --seconds 0 skips the first, --waiting 0 the second. With the servers'
 * process ids (the postmaster's for PostgreSQL) it also reports the CPU each
 * used in each phase, and what other processes on the machine used.
 *
 * Output, one "name key=value ..." line each: route_login, route_latency
 * (chat.start to the offer), route_latency_queued (chat.start to
 * chat.started: the conversation committed), route_latency_routing
 * (chat.started to the offer: the "starts waiting" to "offer
 * delivered"), route_assignments, route_desk_rtt (offer.accept and release
 * answered, per phase), route_assign_timeline (accepted in each second of phase
 * 2), route_cpu (percent of one core), route_errors. Progress goes to stderr.
 *
 * One libuv loop, plain TCP, the WebSocket client of bench_common.c.
 * Every socket is a struct conn, freed in its uv_close callback; desks and
 * conversations are found by id.
 * Request ids carry the conversation and the time sent ("a12.345"), so an
 * answer needs no lookup.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "bench_common.h"
#include "idmap.h"
#include "route_id.h"
#include "xmalloc.h"

#define WS_PROTOCOL "switchboard.v1"
/* Residents speak the widget's protocol (switchboard.v1 is staff only). */
#define RES_PROTOCOL   "switchboard.chat.v1"
#define OPENING_MAX    256        /* sockets connecting at once */
#define POOL_AHEAD     128        /* phase 1 residents opened in advance */
#define LATE_NS        2000000ull /* a start later than this is "late" */
#define ERRORS_SHOWN   10
#define TIMELINE_MAX   600 /* seconds of phase 2 counted one by one */
#define LOGIN_RETRIES  5
#define STAGE_LIMIT_NS (300ull * 1000000000ull)
#define STALL_NS       (15ull * 1000000000ull)
#define SETTLE_NS      (2ull * 1000000000ull)

enum conn_kind {
	CONN_LOGIN = 0,
	CONN_DESK,
	CONN_RESIDENT,
};

enum stage {
	ST_LOGIN = 0,
	ST_DESKS_OPEN,
	ST_P1_AVAILABLE,
	ST_P1_RUN,
	ST_P1_DRAIN,
	ST_P2_AWAY,
	ST_P2_FILL,
	ST_P2_ASSIGN,
	ST_P2_DRAIN,
	ST_DONE,
};

struct desk {
	char login[129];
	char password[129];
	char token[128];
	unsigned retries;
	struct conn *c;
	int ready;
};

struct conn {
	struct bc_conn bc; /* first: a struct conn is a struct bc_conn */
	struct bench *b;
	enum conn_kind kind;
	struct conn *prev, *next;           /* every open conn */
	struct conn *pool_prev, *pool_next; /* ready phase 1 residents */
	int in_pool;
	int opening; /* counted in bench.opening */
	struct desk *desk;
	/* resident */
	int phase;
	uint64_t t0, tq, conv; /* chat.start sent, chat.started read */
	int started, queued, assigned;
};

/* One phase 1 conversation, until both ends of its latency are known. */
struct rec {
	uint64_t t0, tq, t1; /* chat.start, chat.started, offer at the desk */
};

struct phase_counts {
	unsigned long offers, accepted, released, started, queued, start_failed;
	unsigned long abandoned; /* closed by the server while waiting */
	unsigned long accept_failed, release_failed; /* answered by an error */
	struct bc_samples acc, rel; /* offer.accept and release round trips */
};

struct bench {
	uv_loop_t loop;
	uv_timer_t tick;
	uv_signal_t sigint;
	struct bc_target t;
	char origin[128];
	char queue[64];
	struct desk *desks;
	size_t ndesks;
	unsigned rate, seconds, waiting, login_conc;
	int keep; /* phase 2: accepted conversations are not released */
	enum stage stage;
	uint64_t stage_ns;
	uint64_t settle_ns; /* phase 1 starts then, desks available */
	int failed;
	/* connections */
	struct conn *all;
	unsigned opening;
	unsigned long nconn_errors;
	unsigned long desk_closed;
	/* login */
	size_t *login_queue;
	size_t login_head, login_len;
	unsigned logins_inflight;
	size_t logins_ok;
	uint64_t login_t0, login_ns;
	/* desks */
	size_t next_desk, desks_ready, status_acks;
	/* phase 1 */
	struct conn *pool_head, *pool_tail;
	unsigned pool_opening, pool_ready;
	unsigned long p1_total, p1_opened;
	uint64_t p1_start, p1_last_start;
	unsigned long late;
	uint64_t max_lag;
	struct idmap *recs;
	struct idmap *offered; /* every conversation offered so far */
	unsigned long reoffers;
	double *lat;
	size_t nlat;
	/* phase 1, chat.start to chat.started: the conversation committed */
	struct bc_samples qlat;
	/*
	 * phase 1, chat.started to the offer: routing proper, from the moment
	 * the conversation is durably waiting (0 when the offer came first)
	 */
	struct bc_samples rlat;
	unsigned long offer_first, assigned_before_queued;
	/* phase 2 */
	unsigned long p2_opened, p2_lost;
	uint64_t p2_fill_t0, p2_fill_ns, p2_t0, p2_first_offer, p2_t_end;
	unsigned long timeline[TIMELINE_MAX]; /* accepted in each second */
	/* both */
	struct phase_counts pc[2];
	unsigned long errors;
	uint64_t progress_ns; /* last offer, answer or chat.started */
	unsigned long not_offered;
	int stalled;
	/* CPU per phase, when told the servers' process ids */
	struct bc_cpu_pids pids;
	struct bc_cpu_snap cpu0;
	char cpu_line[2][400];
};

static void conn_close(struct conn *c);
static void login_again(struct bench *b, struct desk *d, int status);
static void advance(struct bench *b);

/* ---------------------------------------------------------------- util */

static uint64_t
now_ns(void)
{
	return bc_now_ns();
}

static void fail(struct bench *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	fputs("bench_route: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	b->failed = 1;
	b->stage = ST_DONE;
}

static void progress(const char *fmt, ...)
        __attribute__((format(printf, 1, 2)));

static void
progress(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_route: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
phase_index(const struct bench *b)
{
	return b->stage >= ST_P2_AWAY ? 1 : 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-quantile of sorted v (nearest rank). */
static double
quantile(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

/* Request ids are <kind><conversation>.<ns sent>: "a12.345". */
static int
parse_req_id(const char *id, char kind, char *conv, size_t len, uint64_t *sent)
{
	size_t n;

	if (id == NULL || id[0] != kind)
		return -1;
	n = strspn(id + 1, "0123456789");
	if (n == 0 || n >= len || id[1 + n] != '.')
		return -1;
	memcpy(conv, id + 1, n);
	conv[n] = '\0';
	*sent = strtoull(id + 2 + n, NULL, 10);
	return 0;
}

/* ---------------------------------------------------------------- sockets */

static const struct bc_ops login_ops, desk_ops, res_ops;

static void ws_send(struct conn *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
ws_send(struct conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		fatalx("ws_send: message too long");
	bc_ws_text(&c->bc, buf, (size_t)n);
}

static void
pool_remove(struct bench *b, struct conn *c)
{
	if (!c->in_pool)
		return;
	if (c->pool_prev != NULL)
		c->pool_prev->pool_next = c->pool_next;
	else
		b->pool_head = c->pool_next;
	if (c->pool_next != NULL)
		c->pool_next->pool_prev = c->pool_prev;
	else
		b->pool_tail = c->pool_prev;
	c->in_pool = 0;
	c->pool_prev = c->pool_next = NULL;
	b->pool_ready--;
}

static void
pool_push(struct bench *b, struct conn *c)
{
	c->pool_prev = b->pool_tail;
	c->pool_next = NULL;
	if (b->pool_tail != NULL)
		b->pool_tail->pool_next = c;
	else
		b->pool_head = c;
	b->pool_tail = c;
	c->in_pool = 1;
	b->pool_ready++;
}

/*
 * A socket counts as opening from connect until it is of use: a desk at
 * desk.ready, a resident at hello, a sign-in when it closes.
 */
static void
conn_opened(struct conn *c)
{
	if (!c->opening)
		return;
	c->opening = 0;
	c->b->opening--;
	if (c->kind == CONN_RESIDENT && c->phase == 1)
		c->b->pool_opening--;
}

/* Leaves the books as the socket closes (bc_conn_close, or the peer). */
static void
on_closing(struct bc_conn *bc)
{
	struct conn *c = (struct conn *)bc;
	struct bench *b = c->b;

	conn_opened(c);
	if (c->kind == CONN_LOGIN) {
		b->logins_inflight--;
		/* Gone before an answer (login_done clears c->desk). */
		if (c->desk != NULL)
			login_again(b, c->desk, 0);
		c->desk = NULL;
	}
	if (c->kind == CONN_RESIDENT && c->phase == 2 && !c->queued)
		b->p2_lost++;
	if (c->kind == CONN_RESIDENT && c->queued && !c->assigned)
		b->pc[c->phase - 1].abandoned++;
	pool_remove(b, c);
	if (c->desk != NULL) {
		if (c->kind == CONN_DESK && b->stage != ST_DONE) {
			b->desk_closed++;
			if (b->desk_closed <= ERRORS_SHOWN)
				progress("desk %s closed by the server",
				         c->desk->login);
		}
		if (c->desk->c == c)
			c->desk->c = NULL;
		c->desk = NULL;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		b->all = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
}

static void
on_failed(struct bc_conn *bc, const char *why)
{
	struct conn *c = (struct conn *)bc;

	if (++c->b->nconn_errors <= ERRORS_SHOWN)
		progress("connect failed: %s", why);
}

/* Closes; the memory goes in bench_common's uv_close callback. */
static void
conn_close(struct conn *c)
{
	bc_conn_close(&c->bc);
}

static struct conn *
conn_open(struct bench *b, enum conn_kind kind, struct desk *d, int phase)
{
	struct conn *c = (struct conn *)bc_conn_alloc(
	        &b->t, sizeof(*c),
	        kind == CONN_LOGIN  ? &login_ops
	        : kind == CONN_DESK ? &desk_ops
	                            : &res_ops,
	        kind == CONN_LOGIN  ? NULL
	        : kind == CONN_DESK ? WS_PROTOCOL
	                            : RES_PROTOCOL,
	        b->origin, kind == CONN_DESK ? d->token : NULL);

	c->b = b;
	c->kind = kind;
	c->desk = d;
	c->phase = phase;
	c->next = b->all;
	if (b->all != NULL)
		b->all->prev = c;
	b->all = c;
	b->opening++;
	c->opening = 1;
	if (kind == CONN_RESIDENT && phase == 1)
		b->pool_opening++;
	if (bc_conn_connect(&c->bc) != 0)
		return NULL;
	return c;
}

/* ---------------------------------------------------------------- login */

static void login_done(struct conn *c, int status, const char *token);

static void
login_connected(struct bc_conn *bc)
{
	struct conn *c = (struct conn *)bc;

	bc_login_send(bc, c->desk->login, c->desk->password);
}

/* At EOF whatever arrived is the answer. */
static void
login_read(struct bc_conn *bc, int eof)
{
	struct conn *c = (struct conn *)bc;
	char token[128];
	int used, status;

	if (c->desk == NULL)
		return;
	used = bc_login_parse(bc, eof, &status, token, sizeof(token));
	if (used != 0)
		login_done(c, used > 0 ? status : 0, token);
}

static const struct bc_ops login_ops = {
        .connected = login_connected,
        .http_read = login_read,
        .closing = on_closing,
        .failed = on_failed,
};

/* A sign-in that did not work: tried again a few times. */
static void
login_again(struct bench *b, struct desk *d, int status)
{
	if (++d->retries <= LOGIN_RETRIES && status != 401)
		b->login_queue[(b->login_head + b->login_len++) % b->ndesks] =
		        (size_t)(d - b->desks);
	else
		fail(b, "sign-in of %s failed: HTTP %d", d->login, status);
}

static void
login_start(struct bench *b, size_t i)
{
	/* Counted first: a failed connect closes (and uncounts) at once. */
	b->logins_inflight++;
	conn_open(b, CONN_LOGIN, &b->desks[i], 0);
}

static void
login_done(struct conn *c, int status, const char *token)
{
	struct bench *b = c->b;
	struct desk *d = c->desk;

	if (status == 200 && token[0] != '\0') {
		snprintf(d->token, sizeof(d->token), "%s", token);
		b->logins_ok++;
	} else {
		login_again(b, d, status);
	}
	c->desk = NULL;
	conn_close(c);
}

/* ---------------------------------------------------------------- messages */

static void
note_error(struct bench *b, struct conn *c, json_t *msg)
{
	const char *code = json_string_value(json_object_get(msg, "code"));
	const char *text = json_string_value(json_object_get(msg, "message"));
	char *id = json_dumps(json_object_get(msg, "id"),
	                      JSON_ENCODE_ANY | JSON_COMPACT);

	const char *rid = json_string_value(json_object_get(msg, "id"));

	if (code != NULL && strcmp(code, "not_offered") == 0)
		b->not_offered++;
	if (rid != NULL && rid[0] == 'a')
		b->pc[phase_index(b)].accept_failed++;
	if (rid != NULL && rid[0] == 'r')
		b->pc[phase_index(b)].release_failed++;
	if (++b->errors <= ERRORS_SHOWN)
		progress(
		        "error from the server to a %s: code=%s message=\"%s\" "
		        "id=%s",
		        c->kind == CONN_DESK ? "desk" : "resident",
		        code ? code : "?", text ? text : "", id ? id : "none");
	free(id);
}

/* Both ends known: one latency sample. */
static void
rec_maybe_done(struct bench *b, uint64_t conv, struct rec *r)
{
	if (r->t0 == 0 || r->t1 == 0)
		return;
	if (b->nlat < b->p1_total) {
		b->lat[b->nlat++] = (double)(r->t1 - r->t0) / 1e6;
		if (r->tq != 0) {
			bc_sample_add(&b->qlat, (double)(r->tq - r->t0) / 1e6);
			bc_sample_add(&b->rlat,
			              r->t1 > r->tq
			                      ? (double)(r->t1 - r->tq) / 1e6
			                      : 0.0);
		}
	}
	idmap_del(b->recs, conv);
	free(r);
}

static struct rec *
rec_get(struct bench *b, uint64_t conv)
{
	struct rec *r = idmap_get(b->recs, conv);

	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		idmap_put(b->recs, conv, r);
	}
	return r;
}

static void
desk_offer(struct bench *b, struct conn *c, const char *conv, uint64_t t)
{
	uint64_t id = route_id_parse(conv);
	struct rec *r;

	b->pc[phase_index(b)].offers++;
	b->progress_ns = t;
	if (phase_index(b) == 1 && b->p2_first_offer == 0)
		b->p2_first_offer = t;
	if (id == 0)
		return;
	/*
	 * Desks here never reject and never let an offer time out, so a
	 * second offer of one conversation means routing saw it twice.
	 */
	if (idmap_get(b->offered, id) != NULL) {
		if (++b->reoffers <= ERRORS_SHOWN)
			progress("conversation %s offered again", conv);
	} else {
		idmap_put(b->offered, id, b);
	}
	ws_send(c,
	        "{\"type\":\"offer.accept\",\"conversation\":\"%s\","
	        "\"id\":\"a%s.%llu\"}",
	        conv, conv, (unsigned long long)now_ns());
	if (phase_index(b) == 0) {
		r = rec_get(b, id);
		if (r->t0 == 0)
			b->offer_first++;
		r->t1 = t;
		rec_maybe_done(b, id, r);
	}
}

static void
desk_message(struct bench *b, struct conn *c, const char *type, json_t *msg,
             uint64_t t)
{
	const char *id = json_string_value(json_object_get(msg, "id"));
	const char *conv =
	        json_string_value(json_object_get(msg, "conversation"));
	struct phase_counts *pc = &b->pc[phase_index(b)];
	char cid[24];
	uint64_t sent, sec;

	if (strcmp(type, "offer") == 0 && conv != NULL) {
		desk_offer(b, c, conv, t);
	} else if (strcmp(type, "offer.accepted") == 0 &&
	           parse_req_id(id, 'a', cid, sizeof(cid), &sent) == 0) {
		pc->accepted++;
		bc_sample_add(&pc->acc, (double)(t - sent) / 1e6);
		b->progress_ns = t;
		if (phase_index(b) == 1 && b->p2_t0 != 0) {
			sec = (t - b->p2_t0) / 1000000000ull;
			if (sec < TIMELINE_MAX)
				b->timeline[sec]++;
			if (pc->accepted == pc->queued - pc->abandoned)
				b->p2_t_end = t;
		}
		if (b->keep && phase_index(b) == 1)
			return;
		ws_send(c,
		        "{\"type\":\"conversation.release\",\"conversation\":"
		        "\"%s\",\"why\":\"closed\",\"id\":\"r%s.%llu\"}",
		        cid, cid, (unsigned long long)now_ns());
	} else if (strcmp(type, "conversation.released") == 0 &&
	           parse_req_id(id, 'r', cid, sizeof(cid), &sent) == 0) {
		pc->released++;
		bc_sample_add(&pc->rel, (double)(t - sent) / 1e6);
		b->progress_ns = t;
	} else if (strcmp(type, "desk.status.ok") == 0) {
		b->status_acks++;
	} else if (strcmp(type, "desk.ready") == 0) {
		conn_opened(c);
		if (!c->desk->ready) {
			c->desk->ready = 1;
			b->desks_ready++;
		}
	} else if (strcmp(type, "desk.status") == 0) {
		const char *st =
		        json_string_value(json_object_get(msg, "status"));
		const char *why =
		        json_string_value(json_object_get(msg, "reason"));

		/* Our own changes echo back; anything else is news. */
		if (st != NULL && why != NULL && why[0] != '\0' &&
		    ++b->errors <= ERRORS_SHOWN)
			progress("desk %s set %s by the server, reason %s",
			         c->desk ? c->desk->login : "?", st, why);
	} else if (strcmp(type, "error") == 0) {
		note_error(b, c, msg);
	}
}

static void
resident_knows(struct bench *b, struct conn *c, uint64_t conv)
{
	struct rec *r;

	if (c->conv != 0 || conv == 0)
		return;
	c->conv = conv;
	if (c->phase != 1)
		return;
	r = rec_get(b, conv);
	r->t0 = c->t0;
	r->tq = c->tq;
	rec_maybe_done(b, conv, r);
}

static void
resident_message(struct bench *b, struct conn *c, const char *type, json_t *msg)
{
	struct phase_counts *pc = &b->pc[c->phase - 1];
	uint64_t conv = route_id_parse(
	        json_string_value(json_object_get(msg, "conversation")));

	if (strcmp(type, "hello") == 0) {
		conn_opened(c);
		if (c->phase == 1) {
			pool_push(b, c);
		} else {
			c->started = 1;
			c->t0 = now_ns();
			ws_send(c,
			        "{\"type\":\"chat.start\",\"queue\":\"%s\","
			        "\"name\":\"bench\",\"id\":1}",
			        b->queue);
			pc->started++;
		}
	} else if (strcmp(type, "chat.started") == 0) {
		/* Committed (its enqueue follows): v1's chat.queued was this.
		 */
		c->queued = 1;
		if (c->tq == 0 && c->conv == 0)
			c->tq = now_ns();
		pc->queued++;
		b->progress_ns = now_ns();
		resident_knows(b, c, conv);
	} else if (strcmp(type, "chat.assigned") == 0) {
		/* switchboard.chat.v1's names no conversation: the socket's. */
		if (!c->queued)
			b->assigned_before_queued++;
		c->assigned = 1;
	} else if (strcmp(type, "chat.closed") == 0) {
		/* Out of hours, or nobody serves the queue: not started. */
		if (++b->errors <= ERRORS_SHOWN)
			progress("chat.closed for queue %s: no desk serves it?",
			         b->queue);
		pc->start_failed++;
		conn_close(c);
		return;
	} else if (strcmp(type, "error") == 0) {
		note_error(b, c, msg);
		if (c->started && !c->queued) {
			pc->start_failed++;
			conn_close(c);
			return;
		}
	}
	/*
	 * Closed only once both have arrived: a socket closed while its
	 * chat waits leaves it waiting, detached, for the chat's grace.
	 * With --keep, phase 2's residents stay: their chats go on (the
	 * desks keep them), and they close at the end of the run.
	 */
	if (c->queued && c->assigned && !(b->keep && c->phase == 2))
		conn_close(c);
}

static void
on_message(struct conn *c, const char *p, size_t len, uint64_t t)
{
	struct bench *b = c->b;
	json_error_t jerr;
	json_t *msg = json_loadb(p, len, 0, &jerr);
	const char *type = json_string_value(json_object_get(msg, "type"));

	if (type == NULL) {
		progress("unreadable message from the server: %.*s",
		         (int)(len > 200 ? 200 : len), p);
		json_decref(msg);
		return;
	}
	if (c->kind == CONN_DESK)
		desk_message(b, c, type, msg, t);
	else
		resident_message(b, c, type, msg);
	json_decref(msg);
}

/* ---------------------------------------------------------------- frames */

static void
ws_message(struct bc_conn *bc, const char *p, size_t len, uint64_t t)
{
	on_message((struct conn *)bc, p, len, t);
}

static const struct bc_ops desk_ops = {
        .ws_message = ws_message,
        .closing = on_closing,
        .failed = on_failed,
};

static const struct bc_ops res_ops = {
        .ws_message = ws_message,
        .closing = on_closing,
        .failed = on_failed,
};

/* ---------------------------------------------------------------- CPU */

static void
cpu_begin(struct bench *b)
{
	bc_cpu_snap(&b->t, &b->pids, &b->cpu0);
}

/* Percent of one core each used since cpu_begin, for phase i. */
static void
cpu_end(struct bench *b, int i)
{
	struct bc_cpu_snap now;
	char line[360];

	if (b->pids.daemon <= 0)
		return;
	bc_cpu_snap(&b->t, &b->pids, &now);
	bc_cpu_format(&b->cpu0, &now, line, sizeof(line));
	snprintf(b->cpu_line[i], sizeof(b->cpu_line[i]),
	         "route_cpu phase=%s %s", i == 0 ? "latency" : "assignments",
	         line);
}

/* ---------------------------------------------------------------- stages */

static void
set_stage(struct bench *b, enum stage s)
{
	b->stage = s;
	b->stage_ns = now_ns();
}

static void
all_desks_status(struct bench *b, const char *status)
{
	size_t i;

	b->status_acks = 0;
	for (i = 0; i < b->ndesks; i++)
		if (b->desks[i].c != NULL)
			ws_send(b->desks[i].c,
			        "{\"type\":\"desk.status\",\"status\":\"%s\","
			        "\"id\":\"s\"}",
			        status);
}

static size_t
desks_open(const struct bench *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->ndesks; i++)
		n += b->desks[i].c != NULL;
	return n;
}

static void
p1_tick(struct bench *b, uint64_t t)
{
	uint64_t due, sched;
	struct conn *c;
	unsigned long want;

	/* Start i is due at p1_start + i / rate: the first at once. */
	due = (t - b->p1_start) * b->rate / 1000000000ull + 1;
	if (due > b->p1_total)
		due = b->p1_total;
	while (b->pc[0].started < due && b->pool_head != NULL) {
		c = b->pool_head;
		pool_remove(b, c);
		sched = b->p1_start +
		        b->pc[0].started * 1000000000ull / b->rate;
		c->started = 1;
		c->t0 = now_ns();
		if (c->t0 - sched > LATE_NS)
			b->late++;
		if (c->t0 - sched > b->max_lag)
			b->max_lag = c->t0 - sched;
		ws_send(c,
		        "{\"type\":\"chat.start\",\"queue\":\"%s\","
		        "\"name\":\"bench\",\"id\":1}",
		        b->queue);
		b->pc[0].started++;
		b->p1_last_start = c->t0;
	}
	/* Keep sockets open ahead of the schedule. */
	want = b->p1_total - b->p1_opened;
	while (want > 0 && b->pool_ready + b->pool_opening < POOL_AHEAD &&
	       b->opening < OPENING_MAX) {
		conn_open(b, CONN_RESIDENT, NULL, 1);
		b->p1_opened++;
		want--;
	}
	if (b->pc[0].started >= b->p1_total) {
		progress("latency: %lu chat.start sent in %.1f s; draining",
		         b->pc[0].started,
		         (double)(b->p1_last_start - b->p1_start) / 1e9);
		set_stage(b, ST_P1_DRAIN);
	} else if (b->pc[0].started < due && b->p1_opened >= b->p1_total &&
	           b->pool_ready == 0 && b->pool_opening == 0) {
		fail(b, "latency: residents could not connect (%lu errors)",
		     b->nconn_errors);
	}
}

static void
p1_drain_done(struct bench *b)
{
	struct conn *c, *next;

	if (b->stage == ST_P1_DRAIN)
		cpu_end(b, 0);
	/* Residents whose answers never came: not needed any more. */
	for (c = b->all; c != NULL; c = next) {
		next = c->next;
		if (c->kind == CONN_RESIDENT)
			conn_close(c);
	}
	if (b->waiting == 0) {
		set_stage(b, ST_DONE);
		return;
	}
	progress("assignments: desks away, then %u waiting chats", b->waiting);
	all_desks_status(b, "away");
	set_stage(b, ST_P2_AWAY);
}

static void
p2_fill(struct bench *b)
{
	struct phase_counts *pc = &b->pc[1];

	while (b->p2_opened < b->waiting && b->opening < OPENING_MAX) {
		conn_open(b, CONN_RESIDENT, NULL, 2);
		b->p2_opened++;
	}
	if (b->p2_opened >= b->waiting &&
	    pc->queued + b->p2_lost >= b->waiting) {
		b->p2_fill_ns = now_ns() - b->p2_fill_t0;
		progress("assignments: %lu chats waiting (%lu lost) after "
		         "%.1f s; all desks available now",
		         pc->queued - pc->abandoned, b->p2_lost + pc->abandoned,
		         (double)b->p2_fill_ns / 1e9);
		set_stage(b, ST_P2_ASSIGN);
		cpu_begin(b);
		b->p2_t0 = now_ns();
		all_desks_status(b, "available");
	}
}

/* No offer, answer or chat.started for STALL_NS. */
static int
stalled(const struct bench *b, uint64_t t)
{
	uint64_t since =
	        b->progress_ns > b->stage_ns ? b->progress_ns : b->stage_ns;

	return t - since > STALL_NS;
}

static void
advance(struct bench *b)
{
	uint64_t t = now_ns();
	struct phase_counts *p1, *p2;
	unsigned long live;
	size_t i;

	if ((b->stage < ST_P1_RUN || b->stage == ST_P2_AWAY ||
	     b->stage == ST_P2_FILL) &&
	    t - b->stage_ns > STAGE_LIMIT_NS) {
		fail(b, "stage %d did not finish in %llu s", (int)b->stage,
		     STAGE_LIMIT_NS / 1000000000ull);
		return;
	}
	switch (b->stage) {
	case ST_LOGIN:
		while (b->login_len > 0 && b->logins_inflight < b->login_conc) {
			i = b->login_queue[b->login_head];
			b->login_head = (b->login_head + 1) % b->ndesks;
			b->login_len--;
			login_start(b, i);
		}
		if (b->logins_ok == b->ndesks) {
			b->login_ns = t - b->login_t0;
			progress("%zu advisors signed in in %.1f s", b->ndesks,
			         (double)b->login_ns / 1e9);
			set_stage(b, ST_DESKS_OPEN);
		}
		break;
	case ST_DESKS_OPEN:
		while (b->next_desk < b->ndesks && b->opening < OPENING_MAX) {
			b->desks[b->next_desk].c = conn_open(
			        b, CONN_DESK, &b->desks[b->next_desk], 0);
			b->next_desk++;
		}
		if (b->desks_ready == b->ndesks) {
			progress("%zu desks ready; going available", b->ndesks);
			all_desks_status(b, "available");
			set_stage(b, ST_P1_AVAILABLE);
		} else if (b->next_desk == b->ndesks && b->opening == 0) {
			fail(b, "only %zu of %zu desks opened", b->desks_ready,
			     b->ndesks);
		}
		break;
	case ST_P1_AVAILABLE:
		if (b->status_acks < desks_open(b))
			break;
		/*
		 * 1,000 desks going available at once is a burst of its own
		 * (their status changes, then PostgreSQL's maintenance): the
		 * measured rate starts once it has passed.
		 */
		if (b->settle_ns == 0)
			b->settle_ns = t + SETTLE_NS;
		if (t < b->settle_ns)
			break;
		if (b->seconds == 0 || b->rate == 0) {
			p1_drain_done(b);
			break;
		}
		progress("latency: %u chat.start a second for %u s", b->rate,
		         b->seconds);
		set_stage(b, ST_P1_RUN);
		cpu_begin(b);
		b->p1_start = now_ns();
		/* FALLTHROUGH */
	case ST_P1_RUN:
		p1_tick(b, t);
		break;
	case ST_P1_DRAIN:
		p1 = &b->pc[0];
		live = p1->started - p1->start_failed - p1->abandoned;
		if (b->nlat >= live &&
		    p1->accepted + p1->accept_failed >= live &&
		    p1->released + p1->release_failed >= p1->accepted) {
			p1_drain_done(b);
		} else if (stalled(b, t)) {
			progress("latency: no progress for %llu s: %zu "
			         "measured, %lu accepted, %lu released of %lu",
			         STALL_NS / 1000000000ull, b->nlat,
			         p1->accepted, p1->released, live);
			p1_drain_done(b);
		}
		break;
	case ST_P2_AWAY:
		if (b->status_acks >= desks_open(b)) {
			b->p2_fill_t0 = t;
			set_stage(b, ST_P2_FILL);
		}
		break;
	case ST_P2_FILL:
		p2_fill(b);
		break;
	case ST_P2_ASSIGN:
		p2 = &b->pc[1];
		if (p2->accepted >= p2->queued - p2->abandoned) {
			set_stage(b, ST_P2_DRAIN);
		} else if (desks_open(b) == 0) {
			fail(b, "assignments: every desk is gone");
		} else if (stalled(b, t)) {
			progress("assignments: no progress for %llu s: %lu of "
			         "%lu accepted",
			         STALL_NS / 1000000000ull, p2->accepted,
			         p2->queued - p2->abandoned);
			b->stalled = 1;
			set_stage(b, ST_DONE);
		}
		break;
	case ST_P2_DRAIN:
		p2 = &b->pc[1];
		if (b->keep ||
		    p2->released + p2->release_failed >= p2->accepted) {
			set_stage(b, ST_DONE);
		} else if (stalled(b, t)) {
			progress("assignments: %lu of %lu releases never "
			         "answered",
			         p2->accepted - p2->released -
			                 p2->release_failed,
			         p2->accepted);
			set_stage(b, ST_DONE);
		}
		break;
	case ST_DONE:
		break;
	}
	if (b->stage == ST_DONE) {
		if (b->p2_t0 != 0 && b->cpu_line[1][0] == '\0')
			cpu_end(b, 1);
		uv_timer_stop(&b->tick);
		uv_signal_stop(&b->sigint);
		uv_stop(&b->loop);
	}
}

static void
on_tick(uv_timer_t *t)
{
	advance(t->data);
}

static void
on_sigint(uv_signal_t *s, int signum)
{
	struct bench *b = s->data;

	(void)signum;
	fail(b, "interrupted");
	advance(b);
}

/* ---------------------------------------------------------------- report */

static void
report(struct bench *b)
{
	const struct phase_counts *p1 = &b->pc[0], *p2 = &b->pc[1];
	uint64_t end, last, i;
	double secs;

	printf("route_login advisors=%zu seconds=%.1f concurrency=%u\n",
	       b->ndesks, (double)b->login_ns / 1e9, b->login_conc);
	if (b->seconds > 0 && b->rate > 0) {
		qsort(b->lat, b->nlat, sizeof(double), cmp_double);
		printf("route_latency rate=%u seconds=%u conversations=%lu "
		       "measured=%zu p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f "
		       "max_ms=%.2f late_starts=%lu max_start_lag_ms=%.1f "
		       "start_failed=%lu offer_before_queued=%lu "
		       "assigned_before_queued=%lu advisors=%zu\n",
		       b->rate, b->seconds, p1->started, b->nlat,
		       quantile(b->lat, b->nlat, 0.50),
		       quantile(b->lat, b->nlat, 0.99),
		       quantile(b->lat, b->nlat, 0.999),
		       b->nlat ? b->lat[b->nlat - 1] : 0.0, b->late,
		       (double)b->max_lag / 1e6, p1->start_failed,
		       b->offer_first, b->assigned_before_queued, b->ndesks);
		/* Of which: chat.start answered (the conversation committed).
		 */
		qsort(b->qlat.v, b->qlat.n, sizeof(double), cmp_double);
		printf("route_latency_queued measured=%zu p50_ms=%.2f "
		       "p99_ms=%.2f p999_ms=%.2f\n",
		       b->qlat.n, quantile(b->qlat.v, b->qlat.n, 0.50),
		       quantile(b->qlat.v, b->qlat.n, 0.99),
		       quantile(b->qlat.v, b->qlat.n, 0.999));
		/* Routing proper: durably waiting to offered. */
		qsort(b->rlat.v, b->rlat.n, sizeof(double), cmp_double);
		printf("route_latency_routing measured=%zu p50_ms=%.2f "
		       "p99_ms=%.2f p999_ms=%.2f max_ms=%.2f\n",
		       b->rlat.n, quantile(b->rlat.v, b->rlat.n, 0.50),
		       quantile(b->rlat.v, b->rlat.n, 0.99),
		       quantile(b->rlat.v, b->rlat.n, 0.999),
		       b->rlat.n ? b->rlat.v[b->rlat.n - 1] : 0.0);
	}
	if (b->waiting > 0 && b->p2_t0 != 0) {
		secs = b->p2_t_end > b->p2_t0
		               ? (double)(b->p2_t_end - b->p2_t0) / 1e9
		               : (double)(now_ns() - b->p2_t0) / 1e9;
		printf("route_assignments waiting=%lu advisors=%zu "
		       "accepted=%lu seconds=%.2f assignments_per_s=%.0f "
		       "first_offer_ms=%.1f fill_seconds=%.1f released=%lu "
		       "mode=%s%s\n",
		       p2->queued, b->ndesks, p2->accepted, secs,
		       secs > 0 ? (double)p2->accepted / secs : 0.0,
		       b->p2_first_offer > b->p2_t0
		               ? (double)(b->p2_first_offer - b->p2_t0) / 1e6
		               : -1.0,
		       (double)b->p2_fill_ns / 1e9, p2->released,
		       b->keep ? "keep" : "release",
		       b->stalled ? " stalled=yes" : "");
	}
	for (i = 0; i < 2; i++) {
		const struct phase_counts *pc = &b->pc[i];

		if (pc->acc.n == 0)
			continue;
		qsort(pc->acc.v, pc->acc.n, sizeof(double), cmp_double);
		qsort(pc->rel.v, pc->rel.n, sizeof(double), cmp_double);
		printf("route_desk_rtt phase=%s accept_p50_ms=%.2f "
		       "accept_p99_ms=%.2f release_p50_ms=%.2f "
		       "release_p99_ms=%.2f\n",
		       i == 0 ? "latency" : "assignments",
		       quantile(pc->acc.v, pc->acc.n, 0.5),
		       quantile(pc->acc.v, pc->acc.n, 0.99),
		       quantile(pc->rel.v, pc->rel.n, 0.5),
		       quantile(pc->rel.v, pc->rel.n, 0.99));
	}
	if (b->p2_t0 != 0) {
		end = b->p2_t_end > b->p2_t0 ? b->p2_t_end : now_ns();
		last = (end - b->p2_t0) / 1000000000ull;
		printf("route_assign_timeline");
		for (i = 0; i <= last && i < TIMELINE_MAX; i++)
			printf(" %lu", b->timeline[i]);
		printf("\n");
	}
	for (i = 0; i < 2; i++)
		if (b->cpu_line[i][0] != '\0')
			printf("%s\n", b->cpu_line[i]);
	printf("route_errors server_errors=%lu not_offered=%lu "
	       "accept_failed=%lu release_failed=%lu reoffers=%lu "
	       "connect_errors=%lu desks_closed=%lu\n",
	       b->errors, b->not_offered, p1->accept_failed + p2->accept_failed,
	       p1->release_failed + p2->release_failed, b->reoffers,
	       b->nconn_errors, b->desk_closed);
}

/* ---------------------------------------------------------------- setup */

static void
usage(void)
{
	fputs("usage: bench_route --url http://ADDR:PORT --users FILE "
	      "[--queue SLUG]\n"
	      "                   [--advisors N] [--rate R] [--seconds T] "
	      "[--waiting W]\n"
	      "                   [--login-concurrency N] [--keep]\n"
	      "                   [--daemon-pid PID --redis-pid PID "
	      "--postgres-pid PID]\n",
	      stderr);
	exit(2);
}

static void
load_users(struct bench *b, const char *path, unsigned max)
{
	FILE *f = fopen(path, "r");
	char line[512];
	struct desk *d;
	size_t cap = 0;

	if (f == NULL)
		fatalx("cannot open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL &&
	       (max == 0 || b->ndesks < max)) {
		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (b->ndesks == cap) {
			cap = cap ? cap * 2 : 1024;
			b->desks = xrealloc(b->desks, cap * sizeof(*d));
		}
		d = &b->desks[b->ndesks];
		memset(d, 0, sizeof(*d));
		if (sscanf(line, "%128s %128s", d->login, d->password) != 2)
			fatalx("%s: a line is not \"login password\"", path);
		b->ndesks++;
	}
	fclose(f);
	if (b->ndesks == 0)
		fatalx("%s: no users", path);
}

static void
free_rec(void *arg, uint64_t key, void *value)
{
	(void)arg;
	(void)key;
	free(value);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"url", required_argument, NULL, 'u'},
	        {"users", required_argument, NULL, 'f'},
	        {"queue", required_argument, NULL, 'q'},
	        {"advisors", required_argument, NULL, 'a'},
	        {"rate", required_argument, NULL, 'r'},
	        {"seconds", required_argument, NULL, 's'},
	        {"waiting", required_argument, NULL, 'w'},
	        {"login-concurrency", required_argument, NULL, 'l'},
	        {"keep", no_argument, NULL, 'k'},
	        {"daemon-pid", required_argument, NULL, 'D'},
	        {"redis-pid", required_argument, NULL, 'R'},
	        {"postgres-pid", required_argument, NULL, 'P'},
	        {NULL, 0, NULL, 0},
	};
	struct bench *b = xcalloc(1, sizeof(*b));
	const char *url = NULL, *users = NULL;
	unsigned max_adv = 0;
	struct conn *c, *next;
	size_t i;
	int ch, rc;

	b->rate = 500;
	b->seconds = 20;
	b->waiting = 10000;
	b->login_conc = 8;
	snprintf(b->queue, sizeof(b->queue), "bench");
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 'f':
			users = optarg;
			break;
		case 'q':
			if (strlen(optarg) >= sizeof(b->queue) ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
			                   "0123456789-") != strlen(optarg))
				fatalx("bad --queue");
			snprintf(b->queue, sizeof(b->queue), "%s", optarg);
			break;
		case 'a':
			max_adv = bc_parse_uint(optarg, "--advisors");
			break;
		case 'r':
			b->rate = bc_parse_uint(optarg, "--rate");
			break;
		case 's':
			b->seconds = bc_parse_uint(optarg, "--seconds");
			break;
		case 'w':
			b->waiting = bc_parse_uint(optarg, "--waiting");
			break;
		case 'l':
			b->login_conc =
			        bc_parse_uint(optarg, "--login-concurrency");
			break;
		case 'k':
			b->keep = 1;
			break;
		case 'D':
			b->pids.daemon =
			        (int)bc_parse_uint(optarg, "--daemon-pid");
			break;
		case 'R':
			b->pids.redis =
			        (int)bc_parse_uint(optarg, "--redis-pid");
			break;
		case 'P':
			b->pids.pg =
			        (int)bc_parse_uint(optarg, "--postgres-pid");
			break;
		default:
			usage();
		}
	}
	if (url == NULL || users == NULL || optind != argc ||
	    b->login_conc == 0)
		usage();
	bc_parse_url(&b->t, url);
	snprintf(b->origin, sizeof(b->origin), "http://%s", b->t.host);
	load_users(b, users, max_adv);
	signal(SIGPIPE, SIG_IGN);
	bc_raise_fd_limit("bench_route");

	b->t.rng = (uint32_t)now_ns() | 1;
	b->p1_total = (unsigned long)b->rate * b->seconds;
	b->lat = xcalloc(b->p1_total + 1, sizeof(double));
	b->recs = idmap_new();
	b->offered = idmap_new();
	b->login_queue = xcalloc(b->ndesks, sizeof(size_t));
	for (i = 0; i < b->ndesks; i++)
		b->login_queue[i] = i;
	b->login_len = b->ndesks;

	if (uv_loop_init(&b->loop) != 0)
		fatalx("uv_loop_init failed");
	b->t.loop = &b->loop;
	uv_timer_init(&b->loop, &b->tick);
	b->tick.data = b;
	uv_signal_init(&b->loop, &b->sigint);
	b->sigint.data = b;
	uv_signal_start(&b->sigint, on_sigint, SIGINT);
	progress("signing in %zu advisors, %u at a time", b->ndesks,
	         b->login_conc);
	b->login_t0 = now_ns();
	set_stage(b, ST_LOGIN);
	uv_timer_start(&b->tick, on_tick, 1, 1);
	uv_run(&b->loop, UV_RUN_DEFAULT);

	report(b);
	fflush(stdout);

	for (c = b->all; c != NULL; c = next) {
		next = c->next;
		conn_close(c);
	}
	bc_close_all(&b->loop);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&b->loop);
	if (rc != 0)
		progress("uv_loop_close: %s", uv_strerror(rc));
	idmap_each(b->recs, free_rec, NULL);
	idmap_free(b->recs);
	idmap_free(b->offered);
	free(b->lat);
	for (i = 0; i < 2; i++) {
		free(b->pc[i].acc.v);
		free(b->pc[i].rel.v);
	}
	free(b->qlat.v);
	free(b->rlat.v);
	free(b->login_queue);
	free(b->desks);
	rc = b->failed;
	free(b);
	return rc;
}
