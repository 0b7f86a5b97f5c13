/*
 * bench_chat.c: durable chat throughput, measured from outside the daemon
 * through /ws the way residents' widgets and advisors' desks see it.
 * A benchmark: it reports, it does not pass or fail.
 *
 *   bench_chat --url http://127.0.0.1:PORT --users FILE --origin ORIGIN
 *              [--queue SLUG] [--advisors N] [--residents M]
 *              [--rate R --seconds T]
 *              [--ramp-start R0 --ramp-factor F --ramp-max RMAX
 *               --step-seconds S --keepup-p99-ms L]
 *              [--closed-seconds T2 --window W]
 *              [--login-concurrency N]
 *              [--daemon-pid PID --redis-pid PID --postgres-pid PID]
 *
 * Set-up: every advisor in FILE ("login password" a line) signs in with
 * POST /api/session and opens a desk (switchboard.v1), available. M
 * residents open switchboard.chat.v1 sockets from ORIGIN (one of the
 * daemon's widget_origins) and send chat.start; desks accept every offer
 * and send conversation.history for each chat they accepted, which subscribes
 * them to its messages.
 *
 * Then residents send message.send (a client id, text of 40 to 100 bytes),
 * round robin over the M chats, in phases:
 *   1. latency: R a second for T seconds (open loop);
 *   2. ramp: open-loop steps of S seconds from R0, each F times the last,
 *      until two in a row do not keep up or RMAX is passed. A step keeps
 *      up when the generator sent on time, every message of the step was
 *      acknowledged and reached a desk, and its p99 latency is at most L;
 *   3. closed loop: every resident keeps W (4) messages in flight (the
 *      next one sent once one is both acknowledged and at the desk) for
 *      T2 seconds: the most the daemon commits and delivers, with full
 *      batches (its latency is then the messages in flight over the
 *      rate).
 * Latency runs from writing message.send to reading the matching
 * conversation.message (same client id) at a desk; the acknowledgement
 * (message.ack: committed) is timed too. Every phase drains (every message
 * answered) before the next starts.
 *
 * Output, one "name key=value ..." line each: chat_login, chat_setup,
 * chat_phase (one per phase), chat_cpu (per phase, percent of one core),
 * chat_ramp (the highest step that kept up), chat_totals (acknowledged,
 * delivered, lost, doubled, out of order: to compare with PostgreSQL).
 * Progress goes to stderr.
 *
 * Client ids are UUIDs carrying this run's tag and the message's index
 * ("tttttttt-0000-4000-8000-iiiiiiiiiiii"): an answer needs no lookup.
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

#define WHO            "bench_chat"
#define DESK_PROTOCOL  "switchboard.v1"
#define CHAT_PROTOCOL  "switchboard.chat.v1"
#define OPENING_MAX    256 /* sockets connecting at once */
#define LOGIN_RETRIES  5
#define ERRORS_SHOWN   10
#define PHASES_MAX     64
#define LATE_NS        5000000ull /* a send later than this is "late" */
#define STAGE_LIMIT_NS (300ull * 1000000000ull)
#define STALL_NS       (15ull * 1000000000ull)
#define SETTLE_NS      (2ull * 1000000000ull)
#define WARMUP_NS      (1000000000ull) /* closed loop: not counted */
#define TEXT_MIN       40
#define TEXT_MAX       100

enum kind {
	K_LOGIN = 0,
	K_DESK,
	K_RESIDENT,
};

enum stage {
	ST_LOGIN = 0,
	ST_DESKS_OPEN,
	ST_AVAILABLE,
	ST_RESIDENTS,
	ST_SETTLE,
	ST_SEND,   /* an open-loop phase sending */
	ST_CLOSED, /* the closed-loop phase sending */
	ST_DRAIN,  /* a phase waiting for its last answers */
	ST_DONE,
};

struct desk {
	char login[129];
	char password[129];
	char token[128];
	unsigned retries;
	struct conn *c;
	int ready;
	unsigned accepted;
};

struct resident;

struct conn {
	struct bc_conn bc; /* first: a struct conn is a struct bc_conn */
	struct bench *b;
	enum kind kind;
	struct conn *prev, *next; /* every open conn */
	int opening;
	struct desk *desk;
	struct resident *r;
};

struct resident {
	struct conn *c;
	uint64_t conv;
	int started, followed;
	int64_t last_seq;  /* the last seq a desk got from this chat */
	unsigned inflight; /* closed loop */
};

/* One message sent. */
struct msg {
	uint64_t t_send, t_ack, t_deliv;
	uint32_t resident;
	uint8_t phase;
	uint8_t acks, delivs;
	uint8_t failed;
};

struct phase {
	char name[24];
	int closed;          /* the closed-loop phase */
	unsigned rate;       /* open loop: messages a second */
	unsigned window;     /* closed loop: in flight per resident */
	unsigned long total; /* open loop: messages to send */
	uint64_t t0, t_last_send, t_end, t_last_answer;
	unsigned long sent, acked, delivered, failed;
	unsigned long late;
	uint64_t max_lag;
	/* closed loop: answers counted in [w_t0, w_t1), after a warm-up */
	unsigned long w_acked, w_delivered;
	uint64_t w_t0, w_t1;
	struct bc_samples lat, ack_lat;
	struct bc_cpu_snap cpu0;
	char cpu_line[400];
	int keeps_up;
	double p50, p99, p999, pmax, ack_p50, ack_p99;
};

struct bench {
	uv_loop_t loop;
	uv_timer_t tick;
	uv_signal_t sigint;
	struct bc_target t;
	struct bc_cpu_pids pids;
	char origin[128];
	char desk_origin[128];
	char queue[64];
	struct desk *desks;
	size_t ndesks;
	unsigned login_conc;
	enum stage stage;
	uint64_t stage_ns;
	int failed;
	uint32_t tag;
	/* connections */
	struct conn *all;
	unsigned opening;
	unsigned long nconn_errors, desk_closed, res_closed;
	/* login */
	size_t *login_queue;
	size_t login_head, login_len;
	unsigned logins_inflight;
	size_t logins_ok;
	uint64_t login_t0, login_ns;
	/* desks */
	size_t next_desk, desks_ready, status_acks;
	/* residents */
	struct resident *res;
	unsigned nres;
	unsigned res_opened;
	unsigned long started, followed, history_failed;
	struct idmap *convs; /* conversation -> resident */
	struct idmap *followed_convs;
	uint64_t setup_t0, setup_ns, settle_until;
	unsigned next_res;
	/* messages */
	struct msg *msgs;
	size_t nmsg, capmsg;
	/* phases */
	unsigned lat_rate, lat_seconds;
	unsigned ramp_start, ramp_max, step_seconds, keepup_ms;
	double ramp_factor;
	unsigned closed_seconds, window;
	struct phase ph[PHASES_MAX];
	size_t nph;
	int in_ramp;         /* the phase running is a ramp step */
	unsigned ramp_fails; /* in a row */
	int best_step;       /* index of the best step that kept up, -1 */
	uint64_t progress_ns;
	/* totals */
	unsigned long errors, unknown_ids, out_of_order, dup_acks, dup_delivs;
	unsigned long offers, accepted, closed_by_server;
	unsigned long status_delivered;
};

static void advance(struct bench *b);
static void login_again(struct bench *b, struct desk *d, int status);

/* ---------------------------------------------------------------- util */

static void fail(struct bench *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	fputs(WHO ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	b->failed = 1;
	b->stage = ST_DONE;
}

static void
set_stage(struct bench *b, enum stage s)
{
	b->stage = s;
	b->stage_ns = bc_now_ns();
}

/*
 * The string value of "key" in a flat JSON text (NUL-terminated), for
 * the messages of the hot path; their values hold no escaped quotes.
 */
static int
field_str(const char *s, const char *key, char *out, size_t len)
{
	char pat[48];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(s, pat);
	if (p == NULL)
		return -1;
	p += strlen(pat);
	e = strchr(p, '"');
	if (e == NULL || (size_t)(e - p) >= len)
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

static int64_t
field_int(const char *s, const char *key)
{
	char pat[48];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(s, pat);
	if (p == NULL)
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

/* The message index in one of our client ids, or -1. */
static long long
client_index(const struct bench *b, const char *cid)
{
	char tag[9];
	unsigned long long i;

	snprintf(tag, sizeof(tag), "%08x", b->tag);
	if (strlen(cid) != 36 || strncmp(cid, tag, 8) != 0)
		return -1;
	i = strtoull(cid + 24, NULL, 16);
	return i < b->nmsg ? (long long)i : -1;
}

/* ---------------------------------------------------------------- conns */

static const struct bc_ops login_ops, desk_ops, res_ops;

static void
conn_opened(struct conn *c)
{
	if (!c->opening)
		return;
	c->opening = 0;
	c->b->opening--;
}

static void
on_closing(struct bc_conn *bc)
{
	struct conn *c = (struct conn *)bc;
	struct bench *b = c->b;

	conn_opened(c);
	if (c->kind == K_LOGIN) {
		b->logins_inflight--;
		/* Gone before an answer (login_done clears c->desk). */
		if (c->desk != NULL)
			login_again(b, c->desk, 0);
		c->desk = NULL;
	} else if (c->kind == K_DESK && c->desk != NULL) {
		if (b->stage != ST_DONE && ++b->desk_closed <= ERRORS_SHOWN)
			bc_progress(WHO, "desk %s closed by the server",
			            c->desk->login);
		if (c->desk->c == c)
			c->desk->c = NULL;
		c->desk = NULL;
	} else if (c->kind == K_RESIDENT && c->r != NULL) {
		if (b->stage != ST_DONE && ++b->res_closed <= ERRORS_SHOWN)
			bc_progress(WHO, "a resident's socket was closed");
		c->r->c = NULL;
		c->r = NULL;
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
		bc_progress(WHO, "connect failed: %s", why);
}

static struct conn *
conn_open(struct bench *b, enum kind kind, struct desk *d, struct resident *r)
{
	const struct bc_ops *ops = kind == K_LOGIN  ? &login_ops
	                           : kind == K_DESK ? &desk_ops
	                                            : &res_ops;
	struct conn *c = (struct conn *)bc_conn_alloc(
	        &b->t, sizeof(*c), ops,
	        kind == K_LOGIN  ? NULL
	        : kind == K_DESK ? DESK_PROTOCOL
	                         : CHAT_PROTOCOL,
	        kind == K_DESK ? b->desk_origin : b->origin,
	        kind == K_DESK ? d->token : NULL);

	c->b = b;
	c->kind = kind;
	c->desk = d;
	c->r = r;
	if (r != NULL)
		r->c = c;
	c->next = b->all;
	if (b->all != NULL)
		b->all->prev = c;
	b->all = c;
	b->opening++;
	c->opening = 1;
	if (bc_conn_connect(&c->bc) != 0)
		return NULL;
	return c;
}

/* ---------------------------------------------------------------- login */

static void
login_connected(struct bc_conn *bc)
{
	struct conn *c = (struct conn *)bc;

	bc_login_send(bc, c->desk->login, c->desk->password);
}

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
login_read(struct bc_conn *bc, int eof)
{
	struct conn *c = (struct conn *)bc;
	struct bench *b = c->b;
	struct desk *d = c->desk;
	char token[128];
	int status, used;

	used = bc_login_parse(bc, eof, &status, token, sizeof(token));
	if (used == 0 || d == NULL)
		return;
	if (used > 0 && status == 200 && token[0] != '\0') {
		snprintf(d->token, sizeof(d->token), "%s", token);
		b->logins_ok++;
	} else {
		login_again(b, d, used > 0 ? status : 0);
	}
	c->desk = NULL;
	bc_conn_close(bc);
}

static const struct bc_ops login_ops = {
        .connected = login_connected,
        .http_read = login_read,
        .closing = on_closing,
        .failed = on_failed,
};

/* ---------------------------------------------------------------- messages */

static struct phase *
cur_phase(struct bench *b)
{
	return b->nph > 0 ? &b->ph[b->nph - 1] : NULL;
}

static void
note_error(struct bench *b, struct conn *c, const char *text)
{
	if (++b->errors <= ERRORS_SHOWN)
		bc_progress(WHO, "error from the server to a %s: %.300s",
		            c->kind == K_DESK ? "desk" : "resident", text);
}

/* Sends message i of phase p from resident r. */
static void
send_one(struct bench *b, struct phase *p, uint32_t r, uint64_t now)
{
	static const char words[] =
	        "council tax bill bins collection parking permit housing "
	        "benefit repair library card planning application street "
	        "light pothole noise complaint school place blue badge "
	        "recycling garden waste payment direct debit reference ";
	struct resident *res = &b->res[r];
	char cid[40], buf[400];
	size_t i = b->nmsg, off, len;
	struct msg *m;
	int n;

	if (b->nmsg == b->capmsg) {
		b->capmsg = b->capmsg ? b->capmsg * 2 : 1 << 16;
		b->msgs = xrealloc(b->msgs, b->capmsg * sizeof(*b->msgs));
	}
	m = &b->msgs[b->nmsg++];
	memset(m, 0, sizeof(*m));
	m->resident = r;
	m->phase = (uint8_t)(p - b->ph);
	len = TEXT_MIN + bc_rnd(&b->t) % (TEXT_MAX - TEXT_MIN + 1);
	off = bc_rnd(&b->t) % (sizeof(words) - 1 - len);
	snprintf(cid, sizeof(cid), "%08x-0000-4000-8000-%012llx", b->tag,
	         (unsigned long long)i);
	n = snprintf(buf, sizeof(buf),
	             "{\"type\":\"message.send\",\"id\":\"%s\","
	             "\"client_id\":\"%s\",\"text\":\"%.*s\"}",
	             cid, cid, (int)len, words + off);
	m->t_send = now;
	p->sent++;
	p->t_last_send = now;
	bc_ws_text(&res->c->bc, buf, (size_t)n);
	res->inflight++;
}

/* The next resident able to send, round robin; -1 if none. */
static long
next_sender(struct bench *b)
{
	unsigned tries;
	struct resident *r;

	for (tries = 0; tries < b->nres; tries++) {
		r = &b->res[b->next_res];
		b->next_res = (b->next_res + 1) % b->nres;
		if (r->c != NULL && r->conv != 0 && r->followed)
			return (long)(r - b->res);
	}
	return -1;
}

/* Closed loop: a message fully answered makes room for the next. */
static void
closed_refill(struct bench *b, uint32_t r, uint64_t t)
{
	struct phase *p = cur_phase(b);
	struct resident *res = &b->res[r];

	if (b->stage != ST_CLOSED || !p->closed || res->c == NULL)
		return;
	while (res->inflight < b->window)
		send_one(b, p, r, t);
}

/* A message's answer (ack or delivery, or failure) arrived. */
static void
msg_answered(struct bench *b, struct msg *m, uint64_t t)
{
	struct phase *p = &b->ph[m->phase];
	struct resident *res = &b->res[m->resident];

	p->t_last_answer = t;
	b->progress_ns = t;
	if ((m->acks > 0 && m->delivs > 0) || m->failed) {
		if (res->inflight > 0)
			res->inflight--;
		if (p->closed)
			closed_refill(b, m->resident, t);
	}
}

static void
got_ack(struct bench *b, const char *cid, uint64_t t)
{
	long long i = client_index(b, cid);
	struct msg *m;
	struct phase *p;

	if (i < 0) {
		b->unknown_ids++;
		return;
	}
	m = &b->msgs[i];
	if (m->acks++ > 0) {
		b->dup_acks++;
		return;
	}
	m->t_ack = t;
	p = &b->ph[m->phase];
	p->acked++;
	if (p->closed && t >= p->w_t0 && t < p->w_t1)
		p->w_acked++;
	bc_sample_add(&p->ack_lat, (double)(t - m->t_send) / 1e6);
	msg_answered(b, m, t);
}

static void
got_delivery(struct bench *b, const char *cid, uint64_t conv, int64_t seq,
             uint64_t t)
{
	long long i = client_index(b, cid);
	struct resident *res;
	struct msg *m;
	struct phase *p;

	if (i < 0) {
		b->unknown_ids++;
		return;
	}
	m = &b->msgs[i];
	if (m->delivs++ > 0) {
		b->dup_delivs++;
		return;
	}
	m->t_deliv = t;
	res = &b->res[m->resident];
	if (res->conv != conv)
		b->unknown_ids++;
	if (seq <= res->last_seq)
		b->out_of_order++;
	else
		res->last_seq = seq;
	p = &b->ph[m->phase];
	p->delivered++;
	if (p->closed && t >= p->w_t0 && t < p->w_t1)
		p->w_delivered++;
	bc_sample_add(&p->lat, (double)(t - m->t_send) / 1e6);
	msg_answered(b, m, t);
}

static void
got_send_error(struct bench *b, const char *cid, uint64_t t)
{
	long long i = client_index(b, cid);
	struct msg *m;

	if (i < 0)
		return;
	m = &b->msgs[i];
	if (m->failed || m->acks > 0)
		return;
	m->failed = 1;
	b->ph[m->phase].failed++;
	msg_answered(b, m, t);
}

/* ---------------------------------------------------------------- desks */

static void
desk_open(struct bc_conn *bc)
{
	(void)bc; /* ready at desk.ready */
}

static void
desk_json(struct bench *b, struct conn *c, const char *type, json_t *msg)
{
	const char *conv =
	        json_string_value(json_object_get(msg, "conversation"));
	const char *id = json_string_value(json_object_get(msg, "id"));
	uint64_t cv;
	struct resident *r;

	if (strcmp(type, "offer") == 0 && conv != NULL) {
		b->offers++;
		b->progress_ns = bc_now_ns();
		bc_ws_send(&c->bc,
		           "{\"type\":\"offer.accept\",\"conversation\":\"%s\","
		           "\"id\":\"a%s\"}",
		           conv, conv);
	} else if (strcmp(type, "offer.accepted") == 0 && id != NULL &&
	           id[0] == 'a') {
		b->accepted++;
		c->desk->accepted++;
		b->progress_ns = bc_now_ns();
		bc_ws_send(&c->bc,
		           "{\"type\":\"conversation.history\","
		           "\"conversation\":\"%s\","
		           "\"after\":0,\"id\":\"h%s\"}",
		           id + 1, id + 1);
	} else if (strcmp(type, "conversation.history") == 0 && conv != NULL) {
		cv = route_id_parse(conv);
		b->progress_ns = bc_now_ns();
		if (cv == 0 || idmap_get(b->followed_convs, cv) != NULL)
			return;
		idmap_put(b->followed_convs, cv, b);
		b->followed++;
		r = idmap_get(b->convs, cv);
		if (r != NULL)
			r->followed = 1;
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
			bc_progress(WHO,
			            "desk %s set %s by the server, "
			            "reason %s",
			            c->desk ? c->desk->login : "?", st, why);
	} else if (strcmp(type, "error") == 0) {
		char *s = json_dumps(msg, JSON_COMPACT);

		if (id != NULL && id[0] == 'h')
			b->history_failed++;
		note_error(b, c, s ? s : "?");
		free(s);
	}
}

static void
desk_message(struct bc_conn *bc, const char *p, size_t len, uint64_t t)
{
	struct conn *c = (struct conn *)bc;
	struct bench *b = c->b;
	char buf[1024], type[32], cid[40], conv[24];
	json_t *msg;

	/* The hot path (conversation.message) without a JSON parser. */
	if (len < sizeof(buf)) {
		memcpy(buf, p, len);
		buf[len] = '\0';
		if (field_str(buf, "type", type, sizeof(type)) == 0 &&
		    strcmp(type, "conversation.message") == 0) {
			if (field_str(buf, "client_id", cid, sizeof(cid)) ==
			            0 &&
			    field_str(buf, "conversation", conv,
			              sizeof(conv)) == 0)
				got_delivery(b, cid, route_id_parse(conv),
				             field_int(buf, "seq"), t);
			return;
		}
		if (strcmp(type, "chat.presence") == 0 ||
		    strcmp(type, "conversation.typing") == 0 ||
		    strcmp(type, "chat.read") == 0)
			return;
	}
	msg = json_loadb(p, len, 0, NULL);
	if (json_string_value(json_object_get(msg, "type")) == NULL)
		bc_progress(WHO, "unreadable message to a desk: %.*s",
		            (int)(len > 200 ? 200 : len), p);
	else
		desk_json(b, c, json_string_value(json_object_get(msg, "type")),
		          msg);
	json_decref(msg);
}

static const struct bc_ops desk_ops = {
        .ws_open = desk_open,
        .ws_message = desk_message,
        .closing = on_closing,
        .failed = on_failed,
};

/* ---------------------------------------------------------------- residents */

static void
res_open(struct bc_conn *bc)
{
	(void)bc; /* chat.start at hello */
}

static void
res_message(struct bc_conn *bc, const char *p, size_t len, uint64_t t)
{
	struct conn *c = (struct conn *)bc;
	struct bench *b = c->b;
	struct resident *r = c->r;
	char buf[1024], type[32], cid[40], conv[24];

	if (r == NULL)
		return;
	if (len >= sizeof(buf)) {
		bc_progress(WHO, "long message to a resident: %.*s", 200, p);
		return;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (field_str(buf, "type", type, sizeof(type)) != 0) {
		bc_progress(WHO, "unreadable message to a resident: %.200s",
		            buf);
		return;
	}
	if (strcmp(type, "message.ack") == 0) {
		if (field_str(buf, "client_id", cid, sizeof(cid)) == 0)
			got_ack(b, cid, t);
	} else if (strcmp(type, "message.status") == 0) {
		b->status_delivered++;
	} else if (strcmp(type, "hello") == 0) {
		conn_opened(c);
		r->started = 1;
		bc_ws_send(bc,
		           "{\"type\":\"chat.start\",\"queue\":\"%s\","
		           "\"name\":\"Bench Resident %u\",\"id\":\"s\"}",
		           b->queue, (unsigned)(r - b->res));
	} else if (strcmp(type, "chat.started") == 0) {
		if (field_str(buf, "conversation", conv, sizeof(conv)) != 0 ||
		    (r->conv = route_id_parse(conv)) == 0) {
			fail(b, "chat.started without a conversation: %.200s",
			     buf);
			return;
		}
		b->started++;
		b->progress_ns = t;
		idmap_put(b->convs, r->conv, r);
		if (idmap_get(b->followed_convs, r->conv) != NULL)
			r->followed = 1;
	} else if (strcmp(type, "chat.closed") == 0) {
		fail(b,
		     "chat.start answered chat.closed: %.200s (is an "
		     "advisor of the queue available?)",
		     buf);
	} else if (strcmp(type, "error") == 0) {
		note_error(b, c, buf);
		if (field_str(buf, "id", cid, sizeof(cid)) == 0)
			got_send_error(b, cid, t);
	} else if (strcmp(type, "chat.ended") == 0) {
		note_error(b, c, buf);
	}
	/* chat.queued, chat.assigned, message: nothing to do */
}

static const struct bc_ops res_ops = {
        .ws_open = res_open,
        .ws_message = res_message,
        .closing = on_closing,
        .failed = on_failed,
};

/* ---------------------------------------------------------------- phases */

static void
all_desks_status(struct bench *b, const char *status)
{
	size_t i;

	b->status_acks = 0;
	for (i = 0; i < b->ndesks; i++)
		if (b->desks[i].c != NULL)
			bc_ws_send(
			        &b->desks[i].c->bc,
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

static struct phase *
phase_new(struct bench *b, const char *name, unsigned rate, unsigned seconds)
{
	struct phase *p;

	if (b->nph == PHASES_MAX)
		return NULL;
	p = &b->ph[b->nph++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->rate = rate;
	p->total = (unsigned long)rate * seconds;
	bc_cpu_snap(&b->t, &b->pids, &p->cpu0);
	p->t0 = bc_now_ns();
	b->progress_ns = p->t0;
	return p;
}

static void
open_phase(struct bench *b, const char *name, unsigned rate, unsigned seconds)
{
	if (phase_new(b, name, rate, seconds) == NULL) {
		fail(b, "too many phases");
		return;
	}
	bc_progress(WHO, "%s: %u messages a second for %u s", name, rate,
	            seconds);
	set_stage(b, ST_SEND);
}

static void
closed_phase(struct bench *b)
{
	struct phase *p = phase_new(b, "closed", 0, 0);
	uint64_t t = bc_now_ns();
	unsigned i;

	if (p == NULL) {
		fail(b, "too many phases");
		return;
	}
	p->closed = 1;
	p->window = b->window;
	p->w_t0 = t + WARMUP_NS;
	p->w_t1 = t + (uint64_t)b->closed_seconds * 1000000000ull;
	if (p->w_t1 <= p->w_t0)
		p->w_t1 = p->w_t0 + 1000000000ull;
	bc_progress(WHO, "closed loop: %u in flight per resident for %u s",
	            b->window, b->closed_seconds);
	set_stage(b, ST_CLOSED);
	for (i = 0; i < b->nres; i++)
		if (b->res[i].c != NULL && b->res[i].followed)
			closed_refill(b, i, t);
}

/* Figures of the phase just drained. */
static void
phase_done(struct bench *b, struct phase *p)
{
	double span;

	p->p50 = bc_quantile(&p->lat, 0.50);
	p->p99 = bc_quantile(&p->lat, 0.99);
	p->p999 = bc_quantile(&p->lat, 0.999);
	p->pmax = p->lat.n ? p->lat.v[p->lat.n - 1] : 0;
	p->ack_p50 = bc_quantile(&p->ack_lat, 0.50);
	p->ack_p99 = bc_quantile(&p->ack_lat, 0.99);
	span = (double)(p->t_last_send - p->t0) / 1e9;
	p->keeps_up = !p->closed && p->sent == p->total &&
	              p->delivered == p->sent && p->acked == p->sent &&
	              p->max_lag < 100000000ull &&
	              (span <= 0 ||
	               (double)p->sent / span >= 0.98 * (double)p->rate) &&
	              p->p99 <= (double)b->keepup_ms;
	bc_progress(WHO,
	            "%s: %lu sent, %lu acknowledged, %lu delivered; "
	            "p50 %.1f ms, p99 %.1f ms%s",
	            p->name, p->sent, p->acked, p->delivered, p->p50, p->p99,
	            p->closed     ? ""
	            : p->keeps_up ? ", keeps up"
	                          : ", behind");
}

/* The phase after the one drained, or done. */
static void
next_phase(struct bench *b)
{
	struct phase *p = cur_phase(b);
	unsigned rate;
	char name[24];

	if (p != NULL) {
		phase_done(b, p);
		if (b->in_ramp) {
			if (p->keeps_up) {
				b->ramp_fails = 0;
				if (b->best_step < 0 ||
				    p->rate > b->ph[b->best_step].rate)
					b->best_step = (int)(p - b->ph);
			} else {
				b->ramp_fails++;
			}
		}
	}
	if (p == NULL && b->lat_rate > 0 && b->lat_seconds > 0) {
		open_phase(b, "latency", b->lat_rate, b->lat_seconds);
		return;
	}
	if ((p == NULL || !p->closed) && b->ramp_start > 0 &&
	    b->step_seconds > 0 && b->ramp_fails < 2) {
		rate = !b->in_ramp
		               ? b->ramp_start
		               : (unsigned)((double)p->rate * b->ramp_factor +
		                            0.5);
		if (b->in_ramp && rate <= p->rate)
			rate = p->rate + 1;
		if (rate <= b->ramp_max) {
			b->in_ramp = 1;
			snprintf(name, sizeof(name), "ramp%zu", b->nph);
			open_phase(b, name, rate, b->step_seconds);
			return;
		}
	}
	b->in_ramp = 0;
	if ((p == NULL || !p->closed) && b->closed_seconds > 0 &&
	    b->window > 0) {
		closed_phase(b);
		return;
	}
	set_stage(b, ST_DONE);
}

/* The CPU each used while the phase sent. */
static void
cpu_end(struct bench *b, struct phase *p)
{
	struct bc_cpu_snap now;

	bc_cpu_snap(&b->t, &b->pids, &now);
	bc_cpu_format(&p->cpu0, &now, p->cpu_line, sizeof(p->cpu_line));
}

static void
send_tick(struct bench *b, uint64_t t)
{
	struct phase *p = cur_phase(b);
	uint64_t due, sched;
	long r;

	/* Message i is due at t0 + i / rate: the first at once. */
	due = (t - p->t0) * p->rate / 1000000000ull + 1;
	if (due > p->total)
		due = p->total;
	while (p->sent < due) {
		r = next_sender(b);
		if (r < 0) {
			fail(b, "no resident left to send");
			return;
		}
		sched = p->t0 + p->sent * 1000000000ull / p->rate;
		if (t - sched > LATE_NS)
			p->late++;
		if (t > sched && t - sched > p->max_lag)
			p->max_lag = t - sched;
		send_one(b, p, (uint32_t)r, t);
	}
	if (p->sent >= p->total) {
		cpu_end(b, p);
		set_stage(b, ST_DRAIN);
	}
}

/* Every message of the phase answered, or nothing for STALL_NS. */
static void
drain_tick(struct bench *b, uint64_t t)
{
	struct phase *p = cur_phase(b);
	int all = p->acked + p->failed >= p->sent &&
	          p->delivered + p->failed >= p->sent;

	if (!all && t - b->progress_ns < STALL_NS)
		return;
	if (!all)
		bc_progress(
		        WHO,
		        "%s: no answer for %llu s: %lu of %lu acknowledged, "
		        "%lu delivered",
		        p->name, STALL_NS / 1000000000ull, p->acked, p->sent,
		        p->delivered);
	p->t_end = t;
	next_phase(b);
}

/* ---------------------------------------------------------------- stages */

static void
open_residents(struct bench *b)
{
	while (b->res_opened < b->nres && b->opening < OPENING_MAX) {
		conn_open(b, K_RESIDENT, NULL, &b->res[b->res_opened]);
		b->res_opened++;
	}
}

static void
advance(struct bench *b)
{
	uint64_t t = bc_now_ns();
	struct phase *p;
	size_t i;

	if (b->stage < ST_SETTLE && t - b->stage_ns > STAGE_LIMIT_NS) {
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
			/* Counted first: a failed connect uncounts at once. */
			b->logins_inflight++;
			conn_open(b, K_LOGIN, &b->desks[i], NULL);
		}
		if (b->logins_ok == b->ndesks) {
			b->login_ns = t - b->login_t0;
			bc_progress(WHO, "%zu advisors signed in in %.1f s",
			            b->ndesks, (double)b->login_ns / 1e9);
			set_stage(b, ST_DESKS_OPEN);
		}
		break;
	case ST_DESKS_OPEN:
		while (b->next_desk < b->ndesks && b->opening < OPENING_MAX) {
			b->desks[b->next_desk].c = conn_open(
			        b, K_DESK, &b->desks[b->next_desk], NULL);
			b->next_desk++;
		}
		if (b->desks_ready == b->ndesks) {
			bc_progress(WHO, "%zu desks ready; going available",
			            b->ndesks);
			all_desks_status(b, "available");
			set_stage(b, ST_AVAILABLE);
		} else if (b->next_desk == b->ndesks && b->opening == 0) {
			fail(b, "only %zu of %zu desks opened", b->desks_ready,
			     b->ndesks);
		}
		break;
	case ST_AVAILABLE:
		if (b->status_acks < desks_open(b))
			break;
		bc_progress(WHO, "%u residents start chats", b->nres);
		b->setup_t0 = t;
		b->progress_ns = t;
		set_stage(b, ST_RESIDENTS);
		/* FALLTHROUGH */
	case ST_RESIDENTS:
		open_residents(b);
		if (b->started >= b->nres && b->followed >= b->nres) {
			b->setup_ns = t - b->setup_t0;
			bc_progress(WHO,
			            "%u chats started, accepted and followed "
			            "in %.1f s",
			            b->nres, (double)b->setup_ns / 1e9);
			b->settle_until = t + SETTLE_NS;
			set_stage(b, ST_SETTLE);
		} else if (t - b->progress_ns > STALL_NS) {
			fail(b,
			     "set-up stalled: %lu started, %lu offered, %lu "
			     "accepted, %lu followed of %u",
			     b->started, b->offers, b->accepted, b->followed,
			     b->nres);
		}
		break;
	case ST_SETTLE:
		if (t >= b->settle_until)
			next_phase(b);
		break;
	case ST_SEND:
		send_tick(b, t);
		break;
	case ST_CLOSED:
		p = cur_phase(b);
		if (t >= p->w_t1) {
			cpu_end(b, p);
			set_stage(b, ST_DRAIN);
		}
		break;
	case ST_DRAIN:
		drain_tick(b, t);
		break;
	case ST_DONE:
		break;
	}
	if (b->stage == ST_DONE) {
		uv_timer_stop(&b->tick);
		uv_signal_stop(&b->sigint);
		uv_stop(&b->loop);
	}
}

static void
on_tick(uv_timer_t *h)
{
	advance(h->data);
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
	unsigned long acked = 0, delivered = 0, lost = 0, failed = 0,
	              unanswered = 0;
	struct phase *p;
	double secs;
	size_t i;

	printf("chat_login advisors=%zu seconds=%.1f concurrency=%u\n",
	       b->ndesks, (double)b->login_ns / 1e9, b->login_conc);
	printf("chat_setup residents=%u started=%lu offers=%lu accepted=%lu "
	       "followed=%lu seconds=%.1f history_failed=%lu\n",
	       b->nres, b->started, b->offers, b->accepted, b->followed,
	       (double)b->setup_ns / 1e9, b->history_failed);
	for (i = 0; i < b->nph; i++) {
		p = &b->ph[i];
		if (p->lat.n > 0 && p->p50 == 0 && p->p99 == 0)
			phase_done(b, p);
		if (p->closed) {
			secs = (double)(p->w_t1 - p->w_t0) / 1e9;
			printf("chat_phase name=%s closed=1 window=%u "
			       "residents=%u sent=%lu acked=%lu delivered=%lu "
			       "failed=%lu seconds=%.1f acked_per_s=%.0f "
			       "delivered_per_s=%.0f",
			       p->name, p->window, b->nres, p->sent, p->acked,
			       p->delivered, p->failed, secs,
			       (double)p->w_acked / secs,
			       (double)p->w_delivered / secs);
		} else {
			secs = p->t_last_send > p->t0
			               ? (double)(p->t_last_send - p->t0) / 1e9
			               : 0;
			printf("chat_phase name=%s closed=0 rate=%u sent=%lu "
			       "acked=%lu delivered=%lu failed=%lu "
			       "seconds=%.1f send_rate=%.0f late=%lu "
			       "max_lag_ms=%.1f keeps_up=%s",
			       p->name, p->rate, p->sent, p->acked,
			       p->delivered, p->failed, secs,
			       secs > 0 ? (double)(p->sent - 1) / secs : 0,
			       p->late, (double)p->max_lag / 1e6,
			       p->keeps_up ? "yes" : "no");
		}
		printf(" p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f "
		       "ack_p50_ms=%.2f ack_p99_ms=%.2f\n",
		       p->p50, p->p99, p->p999, p->pmax, p->ack_p50,
		       p->ack_p99);
		if (p->cpu_line[0] != '\0')
			printf("chat_cpu phase=%s %s\n", p->name, p->cpu_line);
	}
	if (b->best_step >= 0) {
		p = &b->ph[b->best_step];
		printf("chat_ramp best_rate=%u name=%s p50_ms=%.2f "
		       "p99_ms=%.2f p999_ms=%.2f keepup_p99_ms=%u\n",
		       p->rate, p->name, p->p50, p->p99, p->p999, b->keepup_ms);
	} else if (b->ramp_start > 0) {
		printf("chat_ramp best_rate=0 keepup_p99_ms=%u\n",
		       b->keepup_ms);
	}
	for (i = 0; i < b->nmsg; i++) {
		const struct msg *m = &b->msgs[i];

		acked += m->acks > 0;
		delivered += m->delivs > 0;
		lost += m->acks > 0 && m->delivs == 0;
		failed += m->failed;
		unanswered += m->acks == 0 && !m->failed;
	}
	printf("chat_totals sent=%zu acked=%lu delivered=%lu "
	       "acked_not_delivered=%lu failed=%lu unanswered=%lu "
	       "dup_acks=%lu dup_deliveries=%lu out_of_order=%lu "
	       "unknown_ids=%lu server_errors=%lu delivered_status=%lu "
	       "connect_errors=%lu desks_closed=%lu residents_closed=%lu "
	       "tag=%08x\n",
	       b->nmsg, acked, delivered, lost, failed, unanswered, b->dup_acks,
	       b->dup_delivs, b->out_of_order, b->unknown_ids, b->errors,
	       b->status_delivered, b->nconn_errors, b->desk_closed,
	       b->res_closed, b->tag);
}

/* ---------------------------------------------------------------- setup */

static void
usage(void)
{
	fputs("usage: bench_chat --url http://ADDR:PORT --users FILE "
	      "--origin ORIGIN\n"
	      "         [--queue SLUG] [--advisors N] [--residents M]\n"
	      "         [--rate R] [--seconds T]\n"
	      "         [--ramp-start R0] [--ramp-factor F] [--ramp-max RMAX]\n"
	      "         [--step-seconds S] [--keepup-p99-ms L]\n"
	      "         [--closed-seconds T2] [--window W]\n"
	      "         [--login-concurrency N]\n"
	      "         [--daemon-pid PID --redis-pid PID --postgres-pid "
	      "PID]\n",
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
		fatalx("cannot open %s", path);
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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"url", required_argument, NULL, 'u'},
	        {"users", required_argument, NULL, 'f'},
	        {"origin", required_argument, NULL, 'o'},
	        {"queue", required_argument, NULL, 'q'},
	        {"advisors", required_argument, NULL, 'a'},
	        {"residents", required_argument, NULL, 'm'},
	        {"rate", required_argument, NULL, 'r'},
	        {"seconds", required_argument, NULL, 's'},
	        {"ramp-start", required_argument, NULL, 'S'},
	        {"ramp-factor", required_argument, NULL, 'F'},
	        {"ramp-max", required_argument, NULL, 'M'},
	        {"step-seconds", required_argument, NULL, 'T'},
	        {"keepup-p99-ms", required_argument, NULL, 'L'},
	        {"closed-seconds", required_argument, NULL, 'C'},
	        {"window", required_argument, NULL, 'W'},
	        {"login-concurrency", required_argument, NULL, 'l'},
	        {"daemon-pid", required_argument, NULL, 'D'},
	        {"redis-pid", required_argument, NULL, 'R'},
	        {"postgres-pid", required_argument, NULL, 'P'},
	        {NULL, 0, NULL, 0},
	};
	struct bench *b = xcalloc(1, sizeof(*b));
	const char *url = NULL, *users = NULL;
	unsigned max_adv = 0;
	struct conn *c, *next;
	char *end;
	int ch, rc;

	b->nres = 1000;
	b->lat_rate = 1000;
	b->lat_seconds = 20;
	b->ramp_start = 0;
	b->ramp_factor = 1.15;
	b->ramp_max = 200000;
	b->step_seconds = 5;
	b->keepup_ms = 100;
	b->closed_seconds = 10;
	b->window = 4;
	b->login_conc = 8;
	b->best_step = -1;
	snprintf(b->queue, sizeof(b->queue), "bench");
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 'f':
			users = optarg;
			break;
		case 'o':
			if (strlen(optarg) >= sizeof(b->origin) ||
			    strpbrk(optarg, "\r\n") != NULL)
				fatalx("bad --origin");
			snprintf(b->origin, sizeof(b->origin), "%s", optarg);
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
		case 'm':
			b->nres = bc_parse_uint(optarg, "--residents");
			break;
		case 'r':
			b->lat_rate = bc_parse_uint(optarg, "--rate");
			break;
		case 's':
			b->lat_seconds = bc_parse_uint(optarg, "--seconds");
			break;
		case 'S':
			b->ramp_start = bc_parse_uint(optarg, "--ramp-start");
			break;
		case 'F':
			b->ramp_factor = strtod(optarg, &end);
			if (*end != '\0' || !(b->ramp_factor > 1.0) ||
			    b->ramp_factor > 4)
				fatalx("bad --ramp-factor");
			break;
		case 'M':
			b->ramp_max = bc_parse_uint(optarg, "--ramp-max");
			break;
		case 'T':
			b->step_seconds =
			        bc_parse_uint(optarg, "--step-seconds");
			break;
		case 'L':
			b->keepup_ms = bc_parse_uint(optarg, "--keepup-p99-ms");
			break;
		case 'C':
			b->closed_seconds =
			        bc_parse_uint(optarg, "--closed-seconds");
			break;
		case 'W':
			b->window = bc_parse_uint(optarg, "--window");
			break;
		case 'l':
			b->login_conc =
			        bc_parse_uint(optarg, "--login-concurrency");
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
	if (url == NULL || users == NULL || b->origin[0] == '\0' ||
	    optind != argc || b->login_conc == 0 || b->nres == 0)
		usage();
	bc_parse_url(&b->t, url);
	snprintf(b->desk_origin, sizeof(b->desk_origin), "http://%s",
	         b->t.host);
	load_users(b, users, max_adv);
	signal(SIGPIPE, SIG_IGN);
	bc_raise_fd_limit(WHO);

	b->t.rng = (uint32_t)bc_now_ns() | 1;
	b->tag = bc_rnd(&b->t);
	b->res = xcalloc(b->nres, sizeof(*b->res));
	b->convs = idmap_new();
	b->followed_convs = idmap_new();
	b->login_queue = xcalloc(b->ndesks, sizeof(size_t));
	for (size_t i = 0; i < b->ndesks; i++)
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
	bc_progress(WHO, "signing in %zu advisors, %u at a time", b->ndesks,
	            b->login_conc);
	b->login_t0 = bc_now_ns();
	set_stage(b, ST_LOGIN);
	uv_timer_start(&b->tick, on_tick, 1, 1);
	uv_run(&b->loop, UV_RUN_DEFAULT);

	report(b);
	fflush(stdout);

	for (c = b->all; c != NULL; c = next) {
		next = c->next;
		bc_conn_close(&c->bc);
	}
	bc_close_all(&b->loop);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&b->loop);
	if (rc != 0)
		bc_progress(WHO, "uv_loop_close: %s", uv_strerror(rc));
	for (size_t i = 0; i < b->nph; i++) {
		bc_samples_free(&b->ph[i].lat);
		bc_samples_free(&b->ph[i].ack_lat);
	}
	idmap_free(b->convs);
	idmap_free(b->followed_convs);
	free(b->msgs);
	free(b->res);
	free(b->login_queue);
	free(b->desks);
	rc = b->failed;
	free(b);
	return rc;
}
