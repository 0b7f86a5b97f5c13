/*
 * bench_webhook.c: webhooks persisted per second by a running daemon,
 * with advisors' desks connected and available (routing on). One kind of
 * webhook or several (--kind, in the order given):
 *   form           signed web-form submissions, POST /hooks/forms/{form}
 *                  (channels/form/form.c; --secret: the form's secret)
 *   twilio-status  Twilio SMS status callbacks, /hooks/twilio/sms-status
 *   notify-status  GOV.UK Notify delivery receipts, /hooks/notify/status
 *   twilio-sms     Twilio inbound texts, /hooks/twilio/sms
 *   notify-sms     GOV.UK Notify inbound texts, /hooks/notify/inbound-sms
 *   pop            screen pop under load (below)
 * (channels/sms/sms.c). Twilio's are forms signed with X-Twilio-Signature
 * over --public-url + the path (--twilio-token: the auth token);
 * Notify's are JSON with "Authorization: Bearer" (--notify-token). They
 * come from the account TWILIO_ACCOUNT and go to the numbers TWILIO_TO
 * and NOTIFY_TO below, which the run script configures (tests/bench/run-sms).
 *
 * Status callbacks are for outbox rows seeded beforehand (--twilio-outbox
 * and --notify-outbox FIRST:COUNT, the rows' ids; their provider ids are
 * made from the row id as twilio_sid() and notify_id() make them): each a
 * new (message, status), Twilio's queued, sent, delivered per message
 * (one message in 10 with delivered before sent, one in 25 undelivered
 * with an ErrorCode), Notify's one final status per message (delivered,
 * one in 20 temporary-failure, one in 50 permanent-failure); one callback
 * in 20 repeats the one sent 8 before it (a provider's retry, sometimes
 * while the first is still in flight). Inbound texts come from new
 * numbers, and one in 5 from a number whose text was answered before (it
 * joins that number's live conversation).
 *
 * Advisors sign in (the users file: "login password" lines) and open
 * switchboard.v1 desks, set available, and accept every offer. Then, for
 * each kind and each concurrency level C, C HTTP/1.1 connections (kept
 * alive) each keep one webhook in flight, built and signed at send time,
 * the next sent when the answer came. A 2xx comes only after the
 * webhook's COMMIT, so each is a persisted webhook. Per level: 2xx per
 * second, latency from the request's first byte written to the answer's
 * last byte read (p50, p99, p99.9, max), answers other than 2xx by
 * status, and the CPU each process used (bench_common's figures). With
 * --answered FILE, each 2xx'd SMS webhook is a line there (tab-separated:
 * "receipt", provider, provider id, status; or "text", provider, provider
 * id, the sender's E.164 number) for the run script's check in PostgreSQL.
 *
 * The pop kind (channels/voice/voice.c, docs/voice.md "Screen pop") runs
 * once, for --pop-seconds (30): a background of --pop-background (2,000)
 * Twilio status callbacks per second, paced (each sent at its time on an
 * idle one of --pop-connections (64) kept-alive connections, or as soon
 * as one is idle: "late" when 10 ms or more behind), and meanwhile
 * --pop-rate (20) calls a second, each a signed CTI ringing
 * (/hooks/cti, --cti-secret) to a random desk's extension (adv<n> is
 * 2000 + n), from a new number POP_CALLER + 6 digits or (one in 5) the
 * number of a call that is over (its missed call is open: the pop shows
 * it). A call's pop latency is from its ringing's first byte written to
 * the voice.ringing with its number read on that desk's socket; when the
 * pop is read (or POP_WAIT after the ringing) a hangup, noAnswer, makes
 * it a missed call (its callback queue is one nobody serves). Each pop is
 * checked: for a call sent (else unmatched), on the desk and extension
 * rung (else wrong_desk), and once (by the call id in it; else twice).
 * One "pop_level" line: the pops, the calls, and the background's
 * figures as a closed-loop run's.
 *
 * A benchmark: it reports, it does not pass or fail.
 *
 *   bench_webhook --url http://127.0.0.1:PORT [--kind form,...]
 *                 [--form SLUG --secret FILE] [--public-url URL]
 *                 [--twilio-token FILE] [--notify-token FILE]
 *                 [--twilio-outbox FIRST:COUNT] [--notify-outbox FIRST:COUNT]
 *                 [--answered FILE]
 *                 [--users FILE --advisors N] [--seconds N]
 *                 [--concurrency 16,64] [--daemon-pid P --redis-pid P
 *                 --postgres-pid P] [--cti-secret FILE --pop-rate 20
 *                 --pop-background 2000 --pop-connections 64
 *                 --pop-seconds 30]
 */
#define _GNU_SOURCE /* strcasestr */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <uv.h>

#include "bench_common.h"
#include "log.h"
#include "signed_hook.h"
#include "xmalloc.h"

#define WHO        "bench_webhook"
#define LEVELS_MAX 8
#define DESKS_MAX  1000
#define BODY_MAX   2048
#define KINDS_MAX  8
#define RING       256 /* numbers whose text was answered, to text again */
#define REC_MAX    200
#define BG_MAX     256 /* the pop run's background connections, at most */
#define CTI_CONNS  8   /* the pop run's CTI connections */
#define POP_WAIT   2000000000ULL /* ns: an unpopped call is hung up then */
#define POP_DRAIN  8000000000ULL /* ns after the end: CTI sockets closed */
#define POP_CALLER "+447755"     /* + 6 digits: the caller's number */
#define SEEN_MAX   (1u << 24)    /* internal call ids remembered */

/* What the run script configures (tests/bench/run-sms). */
#define TWILIO_ACCOUNT "AC0123456789abcdef0123456789abcdef"
#define TWILIO_TO      "+447700900002"
#define NOTIFY_TO      "07700900001"

struct bench;

struct desk {
	char login[129], password[129], token[128];
	char ext[12]; /* adv<n>'s extension: 2000 + n (run-sms sets it) */
	int ready, available;
};

/*
 * Sockets: sign-in, desk, a closed-loop webhook connection (K_POST), and
 * the screen-pop run's paced ones: the background's (K_BG) and the CTI
 * events' (K_CTI), each used when idle.
 */
enum kind { K_LOGIN = 0, K_DESK, K_POST, K_BG, K_CTI };

struct conn {
	struct bc_conn bc;
	struct bench *b;
	enum kind kind;
	struct desk *desk;
	uint64_t t0;       /* the request in flight's send time, ns; 0: none */
	char rec[REC_MAX]; /* its --answered line, or "" */
	char phone[24];    /* a text from a new number: the number, else "" */
	unsigned slot;     /* K_BG, K_CTI: its place in the pool */
	int up;            /* K_BG, K_CTI: connected */
	long call;         /* K_CTI: the call of the request in flight */
	int hangup;        /* K_CTI: that request is its hangup */
};

enum hook_kind {
	HK_FORM = 0,
	HK_TWILIO_STATUS,
	HK_NOTIFY_STATUS,
	HK_TWILIO_SMS,
	HK_NOTIFY_SMS,
	HK_POP,
	HK_KINDS,
};

/* Outbox rows seeded for one provider's status callbacks. */
struct outbox_rows {
	unsigned long first, count;
	unsigned long next, sent; /* callbacks made; requests sent */
	unsigned long exhausted;  /* callbacks past the rows (repeats) */
};

struct secret {
	unsigned char v[SIGNED_HOOK_SECRET_MAX + 1];
	size_t len;
};

/* One call of the pop run: a ringing to one desk's extension, a hangup. */
struct call {
	unsigned long caller; /* POP_CALLER + its 6 digits */
	struct desk *desk;
	uint64_t t_sent; /* the ringing's first byte written, ns; 0: not yet */
	int64_t ring_at_ms;
	int ring_status, hang_status; /* HTTP status; -1 lost; 0 none yet */
	int popped, hang_queued;
};

/*
 * The screen-pop run: a paced background of Twilio status callbacks on
 * bg[], CTI ringing events at --pop-rate on cti[], each call hung up when
 * its pop was read (or POP_WAIT after its ringing). The background's own
 * figures are the level's (ok, lat, refused, other).
 */
struct pop {
	uint64_t start_ns;
	struct conn *bg[BG_MAX], *cti[CTI_CONNS];
	unsigned nbg, rr;
	unsigned long bg_sent, bg_late;
	struct call *calls;
	unsigned long ncalls, maxcalls, ncallers, hang_scan, settled;
	long *live;          /* per caller: the call using the number last */
	unsigned long *done; /* callers whose call is over, to call again */
	unsigned long done_head, done_tail;
	unsigned long *fifo; /* CTI requests waiting: call * 2 + hangup */
	unsigned long fifo_head, fifo_tail;
	unsigned char *seen; /* the pops' internal call ids, a bitmap */
	size_t seen_len;
	struct bc_samples lat;      /* ringing written to its pop read, ms */
	struct bc_cpu_snap cpu_end; /* at the end of the sending */
	unsigned long pops, missing, timeouts, repeat_callers;
	unsigned long wrong_desk, twice, unmatched;
	unsigned long ring_ok, ring_bad, hang_ok, hang_bad;
};

/* What one run is: a kind at one concurrency. */
struct run {
	enum hook_kind kind;
	unsigned conc, seconds;
};

struct bench {
	uv_loop_t loop;
	struct bc_target t;
	struct bc_cpu_pids pids;
	const char *form, *public_url;
	char desk_origin[96];
	struct signed_hook_key key;
	struct secret secret, twilio_token, notify_token, cti_secret;
	struct signed_hook_key cti_key;
	unsigned pop_rate, pop_background, pop_conns, pop_seconds;
	struct pop pop;
	uv_timer_t pace;
	struct run runs[KINDS_MAX * LEVELS_MAX];
	unsigned nruns;
	enum hook_kind kinds[KINDS_MAX];
	unsigned nkinds;
	struct outbox_rows twilio_rows, notify_rows;
	unsigned long texts, numbers; /* texts sent; new numbers used */
	char ring[RING][24];
	unsigned long ringn;
	FILE *answered;
	struct desk *desks;
	size_t ndesks, logins_done, desks_ready, desks_available;
	unsigned long offers;
	uint32_t tag;
	unsigned long seq;
	/* the level running */
	unsigned level, nlevels, levels[LEVELS_MAX], seconds;
	enum hook_kind kind;
	int running;
	uint64_t deadline_ns;
	unsigned long ok, created, repeated, other, refused[600], reconnects;
	unsigned open_posts;
	struct bc_samples lat;
	uv_timer_t tick;
	struct bc_cpu_snap cpu0;
};

static const struct bc_ops login_ops, desk_ops, post_ops, paced_ops;
static void call_answered(struct bench *b, long call, int hangup, int status);
static void pop_drain(struct bench *b);

static const struct bc_ops *const kind_ops[] = {
        [K_LOGIN] = &login_ops, [K_DESK] = &desk_ops, [K_POST] = &post_ops,
        [K_BG] = &paced_ops,    [K_CTI] = &paced_ops,
};

/* A socket of kind k; K_BG and K_CTI take the pool's place slot. */
static struct conn *
conn_open(struct bench *b, enum kind k, struct desk *d, unsigned slot)
{
	struct conn *c = (struct conn *)bc_conn_alloc(
	        &b->t, sizeof(*c), kind_ops[k],
	        k == K_DESK ? "switchboard.v1" : NULL,
	        k == K_DESK ? b->desk_origin : NULL,
	        k == K_DESK ? d->token : NULL);

	c->b = b;
	c->kind = k;
	c->desk = d;
	c->slot = slot;
	if (k >= K_POST)
		b->open_posts++;
	if (k == K_BG)
		b->pop.bg[slot] = c;
	else if (k == K_CTI)
		b->pop.cti[slot] = c;
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
			conn_open(b, K_POST, NULL, 0);
		}
	} else if (c->kind == K_BG || c->kind == K_CTI) {
		b->open_posts--;
		if (c->kind == K_BG) {
			b->pop.bg[c->slot] = NULL;
			b->other += c->t0 != 0;
		} else {
			b->pop.cti[c->slot] = NULL;
			if (c->t0 != 0)
				call_answered(b, c->call, c->hangup, -1);
		}
		/* Once connected, a socket the server closed is replaced. */
		if (c->up && b->running &&
		    (bc_now_ns() < b->deadline_ns ||
		     (c->kind == K_CTI && b->pop.settled < b->pop.ncalls &&
		      bc_now_ns() < b->deadline_ns + POP_DRAIN))) {
			b->reconnects++;
			conn_open(b, c->kind, NULL, c->slot);
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

static void pop_read(struct bench *b, struct desk *d, const char *p, size_t len,
                     uint64_t t);

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
	conn_open(c->b, K_DESK, c->desk, 0);
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

	if (memmem(p, len, "\"type\":\"voice.ringing\"", 22) != NULL) {
		pop_read(b, c->desk, p, len, t);
		return;
	}
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

/* One request of a kind: its path, header lines and body. */
struct req {
	char path[128];
	char headers[512];
	char body[BODY_MAX];
	size_t blen;
};

/* A form parameter; a request's are in byte order of their names. */
struct param {
	const char *name, *value;
};

static const char *const texts[] = {
        "Hi, my green bin was not collected on Monday. 14 Elm Road",
        "Can I get a new recycling box please, the old one is cracked",
        "Thanks, that is sorted now",
        "What time does the tip open on Sunday?",
        "I have moved out, council tax ref 5001234567, new address to follow",
        "Yes please",
};

/* Appends to buf (cap bytes, *off used); a bench bug when it overflows. */
static void __attribute__((format(printf, 4, 5)))
append(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *off)
		fatalx(WHO ": a request outgrew its buffer");
	*off += (size_t)n;
}

/* v, form-encoded as Twilio (and Python's urlencode) encode it. */
static void
append_encoded(char *buf, size_t cap, size_t *off, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char ch;

	for (; *v != '\0'; v++) {
		ch = (unsigned char)*v;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-_.~", ch) != NULL)
			append(buf, cap, off, "%c", ch);
		else if (ch == ' ')
			append(buf, cap, off, "+");
		else
			append(buf, cap, off, "%%%c%c", hex[ch >> 4],
			       hex[ch & 15]);
	}
}

/* A request to path whose body is fmt's (JSON). */
static void __attribute__((format(printf, 3, 4)))
json_request(struct req *r, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	snprintf(r->path, sizeof(r->path), "%s", path);
	va_start(ap, fmt);
	n = vsnprintf(r->body, sizeof(r->body), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(r->body))
		fatalx(WHO ": a request outgrew its buffer");
	r->blen = (size_t)n;
}

/* A UTC time as Notify writes them: 2017-05-14T12:15:30.000000Z. */
static void
notify_time(char *out, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
}

/*
 * A form of n parameters to path, with X-Twilio-Signature: Base64(
 * HMAC-SHA1(auth token, public URL + path + each name and value)).
 */
static void
twilio_request(struct bench *b, struct req *r, const char *path,
               const struct param *p, size_t n)
{
	char signed_[BODY_MAX + 512], sig[64];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t i, off = 0;

	snprintf(r->path, sizeof(r->path), "%s", path);
	r->blen = 0;
	append(signed_, sizeof(signed_), &off, "%s%s", b->public_url, path);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(p[i - 1].name, p[i].name) >= 0)
			fatalx(WHO ": Twilio parameters out of order");
		append(signed_, sizeof(signed_), &off, "%s%s", p[i].name,
		       p[i].value);
		append(r->body, sizeof(r->body), &r->blen,
		       "%s%s=", i > 0 ? "&" : "", p[i].name);
		append_encoded(r->body, sizeof(r->body), &r->blen, p[i].value);
	}
	if (HMAC(EVP_sha1(), b->twilio_token.v, (int)b->twilio_token.len,
	         (const unsigned char *)signed_, off, mac, &maclen) == NULL)
		fatalx(WHO ": HMAC-SHA1 failed");
	EVP_EncodeBlock((unsigned char *)sig, mac, (int)maclen);
	snprintf(r->headers, sizeof(r->headers),
	         "Content-Type: application/x-www-form-urlencoded\r\n"
	         "X-Twilio-Signature: %s\r\n",
	         sig);
}

static void
notify_headers(const struct bench *b, struct req *r)
{
	snprintf(r->headers, sizeof(r->headers),
	         "Content-Type: application/json\r\n"
	         "Authorization: Bearer %s\r\n",
	         (const char *)b->notify_token.v);
}

/*
 * The next status callback's number: a new one, or (one in 20) a repeat
 * of the one 8 before, as a provider's retry.
 */
static unsigned long
callback_next(struct outbox_rows *o)
{
	unsigned long n = o->sent++;

	if (n % 20 == 19 && o->next >= 8)
		return o->next - 8;
	return o->next++;
}

/* The outbox row of the callbacks' m-th message. */
static unsigned long
outbox_id(struct outbox_rows *o, unsigned long m)
{
	if (m >= o->count) {
		o->exhausted++;
		m %= o->count;
	}
	return o->first + m;
}

/* The provider ids run-sms seeded the outbox rows with. */
static void
twilio_sid(char *out, size_t len, unsigned long id)
{
	snprintf(out, len, "SM%032lx", id);
}

static void
notify_id(char *out, size_t len, unsigned long id)
{
	snprintf(out, len, "00000000-0000-4000-8000-%012lx", id);
}

/* Our signed-webhook headers (signed_hook.h) over r's body. */
static void
signed_headers(struct req *r, const struct signed_hook_key *key)
{
	char sig[SIGNED_HOOK_SIG_SIZE];
	int64_t ts = (int64_t)time(NULL);

	if (signed_hook_sign(sig, sizeof(sig), key, ts, r->body, r->blen) != 0)
		fatalx(WHO ": signing failed");
	snprintf(r->headers, sizeof(r->headers),
	         "Content-Type: application/json\r\n"
	         "X-Switchboard-Timestamp: %lld\r\n"
	         "X-Switchboard-Signature: %s\r\n",
	         (long long)ts, sig);
}

static void
form_request(struct bench *b, struct conn *c, struct req *r)
{
	char path[100];

	(void)c;
	b->seq++;
	snprintf(path, sizeof(path), "/hooks/forms/%s", b->form);
	json_request(
	        r, path,
	        "{\"submission_id\":\"bench-%08x-%lu\",\"form\":\"Report a "
	        "missed bin\",\"name\":\"Bench Resident\",\"email\":"
	        "\"bench%lu@example.org\",\"fields\":[{\"label\":\"Address\","
	        "\"value\":\"%lu High Street, Demoton\"},{\"label\":\"Bin\","
	        "\"value\":\"Green (recycling)\"},{\"label\":\"Collection "
	        "day\",\"value\":\"Monday\"},{\"label\":\"Notes\",\"value\":"
	        "\"Left at the kerb by 7am as usual; the rest of the street "
	        "was collected.\"}]}",
	        b->tag, b->seq, b->seq, b->seq % 500 + 1);
	signed_headers(r, &b->key);
}

/*
 * Twilio: queued, sent, delivered for each message; delivered before
 * sent for one in 10, undelivered (ErrorCode 30003) for one in 25.
 */
static void
twilio_status_request(struct bench *b, struct conn *c, struct req *r)
{
	unsigned long k = callback_next(&b->twilio_rows), m = k / 3,
	              step = k % 3, id = outbox_id(&b->twilio_rows, m);
	const char *status;
	char sid[40], to[24];
	struct param p[9];
	size_t n = 0;

	if (m % 10 == 9 && step > 0)
		step = 3 - step;
	status = step == 0      ? "queued"
	         : step == 1    ? "sent"
	         : m % 25 == 24 ? "undelivered"
	                        : "delivered";
	twilio_sid(sid, sizeof(sid), id);
	snprintf(to, sizeof(to), "+4474%08lu", id % 100000000);
	p[n++] = (struct param){"AccountSid", TWILIO_ACCOUNT};
	p[n++] = (struct param){"ApiVersion", "2010-04-01"};
	if (strcmp(status, "undelivered") == 0)
		p[n++] = (struct param){"ErrorCode", "30003"};
	p[n++] = (struct param){"From", TWILIO_TO};
	p[n++] = (struct param){"MessageSid", sid};
	p[n++] = (struct param){"MessageStatus", status};
	p[n++] = (struct param){"SmsSid", sid};
	p[n++] = (struct param){"SmsStatus", status};
	p[n++] = (struct param){"To", to};
	twilio_request(b, r, "/hooks/twilio/sms-status", p, n);
	snprintf(c->rec, sizeof(c->rec), "receipt\ttwilio\t%s\t%s", sid,
	         status);
}

/* Notify: one final status per message. */
static void
notify_status_request(struct bench *b, struct conn *c, struct req *r)
{
	unsigned long m = callback_next(&b->notify_rows),
	              id = outbox_id(&b->notify_rows, m);
	const char *status = m % 20 == 19   ? "temporary-failure"
	                     : m % 50 == 49 ? "permanent-failure"
	                                    : "delivered";
	char nid[40], at[40];

	notify_id(nid, sizeof(nid), id);
	notify_time(at, sizeof(at));
	json_request(r, "/hooks/notify/status",
	             "{\"id\":\"%s\",\"reference\":\"sb-%lu\",\"to\":"
	             "\"074%08lu\",\"status\":\"%s\",\"created_at\":\"%s\","
	             "\"completed_at\":\"%s\",\"sent_at\":\"%s\","
	             "\"notification_type\":\"sms\",\"template_id\":"
	             "\"f33517ff-2a88-4f6e-b855-c550268ce08a\","
	             "\"template_version\":1}",
	             nid, id, id % 100000000, status, at, at, at);
	notify_headers(b, r);
	snprintf(c->rec, sizeof(c->rec), "receipt\tnotify\t%s\t%s", nid,
	         status);
}

/*
 * The sender of the next text (E.164): a new number (prefix and a count),
 * or (one in 5) the number of a text answered before.
 */
static void
text_from(struct bench *b, struct conn *c, const char *prefix, char *out,
          size_t len)
{
	unsigned long have = b->ringn < RING ? b->ringn : RING;

	b->texts++;
	if (b->texts % 5 == 0 && have > 0) {
		snprintf(out, len, "%s", b->ring[bc_rnd(&b->t) % have]);
		return;
	}
	snprintf(out, len, "+%s%08lu", prefix, b->numbers++ % 100000000);
	snprintf(c->phone, sizeof(c->phone), "%s", out);
}

static void
twilio_sms_request(struct bench *b, struct conn *c, struct req *r)
{
	char sid[40], from[24];

	text_from(b, c, "4474", from, sizeof(from));
	snprintf(sid, sizeof(sid), "SM%08x%024lx", b->tag, b->texts);
	const struct param p[] = {
	        {"AccountSid", TWILIO_ACCOUNT},
	        {"ApiVersion", "2010-04-01"},
	        {"Body", texts[b->texts % (sizeof(texts) / sizeof(texts[0]))]},
	        {"From", from},
	        {"FromCountry", "GB"},
	        {"MessageSid", sid},
	        {"NumMedia", "0"},
	        {"NumSegments", "1"},
	        {"SmsMessageSid", sid},
	        {"SmsSid", sid},
	        {"SmsStatus", "received"},
	        {"To", TWILIO_TO},
	        {"ToCountry", "GB"},
	};
	twilio_request(b, r, "/hooks/twilio/sms", p, sizeof(p) / sizeof(p[0]));
	snprintf(c->rec, sizeof(c->rec), "text\ttwilio\t%s\t%s", sid, from);
}

static void
notify_sms_request(struct bench *b, struct conn *c, struct req *r)
{
	char id[40], from[24], at[40];

	text_from(b, c, "4478", from, sizeof(from));
	snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012lx", b->tag,
	         b->texts);
	notify_time(at, sizeof(at));
	/* Notify's source_number has no '+'. */
	json_request(r, "/hooks/notify/inbound-sms",
	             "{\"id\":\"%s\",\"source_number\":\"%s\","
	             "\"destination_number\":\"%s\",\"message\":\"%s\","
	             "\"date_received\":\"%s\"}",
	             id, from + 1, NOTIFY_TO,
	             texts[b->texts % (sizeof(texts) / sizeof(texts[0]))], at);
	notify_headers(b, r);
	snprintf(c->rec, sizeof(c->rec), "text\tnotify\t%s\t%s", id, from);
}

/* The wall clock in Unix ms. */
static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A CTI event of the pop run's call (docs/voice.md, "The generic CTI
 * JSON"): its ringing at the call's desk's extension, or its hangup
 * unanswered (a missed call: callback work in a queue nobody serves),
 * `at` now (the hangup's at least 1 ms after the ringing's).
 */
static void
cti_request(struct bench *b, long call, int hangup, struct req *r)
{
	struct call *k = &b->pop.calls[call];
	int64_t ms = wall_ms();
	time_t secs;
	struct tm tm;
	char at[40];

	if (hangup && ms <= k->ring_at_ms)
		ms = k->ring_at_ms + 1;
	if (!hangup)
		k->ring_at_ms = ms;
	secs = (time_t)(ms / 1000);
	gmtime_r(&secs, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
	json_request(r, "/hooks/cti",
	             "{\"event\":\"%s\",\"call_id\":\"pop-%08x-%ld\","
	             "\"direction\":\"inbound\",\"from\":\"" POP_CALLER
	             "%06lu\",\"to\":\"01632960000\",\"agent_extension\":"
	             "\"%s\",\"queue\":\"Council Tax\",%s\"at\":\"%s.%03dZ\"}",
	             hangup ? "hangup" : "ringing", b->tag, call, k->caller,
	             k->desk->ext, hangup ? "\"cause\":\"noAnswer\"," : "", at,
	             (int)(ms % 1000));
	signed_headers(r, &b->cti_key);
}

/* What a kind needs of the options. */
enum {
	NEED_FORM = 1 << 0, /* --form and --secret */
	NEED_TWILIO = 1 << 1,
	NEED_NOTIFY = 1 << 2,
	NEED_TWILIO_ROWS = 1 << 3,
	NEED_NOTIFY_ROWS = 1 << 4,
	NEED_CTI = 1 << 5, /* --cti-secret and desks with extensions */
};

static const struct hook_def {
	const char *name;
	void (*build)(struct bench *b, struct conn *c, struct req *r);
	unsigned needs;
} hook_defs[HK_KINDS] = {
        [HK_FORM] = {"form", form_request, NEED_FORM},
        [HK_TWILIO_STATUS] = {"twilio-status", twilio_status_request,
                              NEED_TWILIO | NEED_TWILIO_ROWS},
        [HK_NOTIFY_STATUS] = {"notify-status", notify_status_request,
                              NEED_NOTIFY | NEED_NOTIFY_ROWS},
        [HK_TWILIO_SMS] = {"twilio-sms", twilio_sms_request, NEED_TWILIO},
        [HK_NOTIFY_SMS] = {"notify-sms", notify_sms_request, NEED_NOTIFY},
        /* Its own pacing (pop_*): no closed-loop request. */
        [HK_POP] = {"pop", NULL, NEED_TWILIO | NEED_TWILIO_ROWS | NEED_CTI},
};

/* r written on c, timed from now. */
static void
request_write(struct conn *c, const struct req *r)
{
	char req[BODY_MAX + 1024];
	int rlen;

	rlen = snprintf(req, sizeof(req),
	                "POST %s HTTP/1.1\r\nHost: %s\r\n%s"
	                "Content-Length: %zu\r\n\r\n%s",
	                r->path, c->b->t.host, r->headers, r->blen, r->body);
	if (rlen < 0 || (size_t)rlen >= sizeof(req))
		fatalx(WHO ": a request outgrew its buffer");
	c->t0 = bc_now_ns();
	bc_write(&c->bc, req, (size_t)rlen);
}

static void
post_send(struct conn *c)
{
	struct bench *b = c->b;
	struct req r;

	c->rec[0] = c->phone[0] = '\0';
	hook_defs[b->kind].build(b, c, &r);
	request_write(c, &r);
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

/* One whole answer taken off the head of c->in: 1, else 0 (wait). */
static int
answer_take(struct bc_conn *bc, int *status, int *close_after)
{
	size_t n = answer_size(bc, status, close_after);

	if (n == 0)
		return 0;
	memmove(bc->in, bc->in + n, bc->inlen - n);
	bc->inlen -= n;
	bc->in[bc->inlen] = '\0';
	return 1;
}

/* The answer to c's webhook, in the level's figures. */
static void
answer_count(struct bench *b, struct conn *c, int status, uint64_t now)
{
	if (status >= 200 && status < 300) {
		b->ok++;
		b->created += status == 201;
		b->repeated += status == 200;
		bc_sample_add(&b->lat, (double)(now - c->t0) / 1e6);
		if (c->rec[0] != '\0' && b->answered != NULL)
			fprintf(b->answered, "%s\n", c->rec);
		if (c->phone[0] != '\0')
			snprintf(b->ring[b->ringn++ % RING], sizeof(b->ring[0]),
			         "%s", c->phone);
	} else {
		b->refused[status > 0 && status < 600 ? status : 0]++;
	}
}

/*
 * Answers on a webhook connection: a closed-loop one sends the next; a
 * paced one (K_BG, K_CTI) is idle again for the pacer.
 */
static void
post_read(struct bc_conn *bc, int eof)
{
	struct conn *c = (struct conn *)bc;
	struct bench *b = c->b;
	uint64_t now = bc_now_ns();
	int status = 0, close_after = 0;

	(void)eof;
	while (answer_take(bc, &status, &close_after)) {
		if (c->t0 == 0)
			continue;
		if (c->kind == K_CTI)
			call_answered(b, c->call, c->hangup, status);
		else
			answer_count(b, c, status, now);
		c->t0 = 0;
		if (close_after || (c->kind == K_POST &&
		                    (!b->running || now >= b->deadline_ns))) {
			bc_conn_close(bc);
			return;
		}
		if (c->kind == K_POST)
			post_send(c);
	}
	if (c->kind == K_CTI)
		pop_drain(b);
}

/* ------------------------------------------------------------ screen pop */

static void
fifo_push(struct pop *p, unsigned long v)
{
	if (p->fifo_tail >= 2 * p->maxcalls)
		fatalx(WHO ": the CTI queue overflowed");
	p->fifo[p->fifo_tail++] = v;
}

/* The CTI answer for a call's ringing or hangup (status -1: lost). */
static void
call_answered(struct bench *b, long call, int hangup, int status)
{
	struct pop *p = &b->pop;
	struct call *k = &p->calls[call];
	int ok = status >= 200 && status < 300;

	if (!hangup) {
		k->ring_status = status;
		p->ring_ok += ok;
		p->ring_bad += !ok;
		return;
	}
	k->hang_status = status;
	p->hang_ok += ok;
	p->hang_bad += !ok;
	p->settled++;
	/* Its number may call again (a caller with an open conversation). */
	if (ok && k->popped)
		p->done[p->done_tail++] = k->caller;
}

static int
seen_test_and_set(struct pop *p, unsigned long id)
{
	size_t need = id / 8 + 1;
	int was;

	if (id >= SEEN_MAX)
		fatalx(WHO ": a pop's call id %lu is past what is kept", id);
	if (need > p->seen_len) {
		p->seen = xrealloc(p->seen, need * 2);
		memset(p->seen + p->seen_len, 0, need * 2 - p->seen_len);
		p->seen_len = need * 2;
	}
	was = (p->seen[id / 8] >> (id % 8)) & 1;
	p->seen[id / 8] |= (unsigned char)(1u << (id % 8));
	return was;
}

/*
 * A voice.ringing read on d's desk at t: matched to the live call of its
 * caller's number. A pop whose internal call id was seen before, or for a
 * call that popped already, is "twice"; one whose call rang another desk
 * or extension is "wrong_desk"; one for no call sent is "unmatched".
 */
static void
pop_read(struct bench *b, struct desk *d, const char *buf, size_t len,
         uint64_t t)
{
	struct pop *p = &b->pop;
	json_t *o = json_loadb(buf, len, 0, NULL);
	const char *caller = json_string_value(json_object_get(o, "caller")),
	           *ext = json_string_value(json_object_get(o, "extension"));
	json_int_t id = json_integer_value(json_object_get(o, "call"));
	unsigned long num = 0;
	struct call *k;
	int used = 0;

	if (o == NULL || id <= 0 || p->calls == NULL) {
		p->unmatched++;
		goto out;
	}
	if (seen_test_and_set(p, (unsigned long)id)) {
		p->twice++;
		goto out;
	}
	if (caller == NULL ||
	    strncmp(caller, POP_CALLER, sizeof(POP_CALLER) - 1) != 0 ||
	    sscanf(caller + sizeof(POP_CALLER) - 1, "%6lu%n", &num, &used) !=
	            1 ||
	    used != 6 || caller[sizeof(POP_CALLER) - 1 + 6] != '\0' ||
	    num >= p->ncallers || p->live[num] < 0) {
		p->unmatched++;
		goto out;
	}
	k = &p->calls[p->live[num]];
	if (k->popped) {
		p->twice++;
		goto out;
	}
	k->popped = 1;
	p->pops++;
	if (k->desk != d || ext == NULL || strcmp(ext, d->ext) != 0) {
		p->wrong_desk++;
		goto out;
	}
	if (k->t_sent != 0 && t >= k->t_sent)
		bc_sample_add(&p->lat, (double)(t - k->t_sent) / 1e6);
	if (!k->hang_queued) {
		k->hang_queued = 1;
		fifo_push(p, (unsigned long)p->live[num] * 2 + 1);
	}
out:
	json_decref(o);
}

/* An idle connection of a pool, taken in turn; NULL when none is. */
static struct conn *
pool_idle(struct pop *p, struct conn **pool, unsigned n)
{
	unsigned i;
	struct conn *c;

	for (i = 0; i < n; i++) {
		c = pool[(p->rr + i) % n];
		if (c != NULL && c->up && c->t0 == 0 &&
		    c->bc.state != BC_CLOSED) {
			p->rr = (p->rr + i + 1) % n;
			return c;
		}
	}
	return NULL;
}

static void
cti_send(struct bench *b, struct conn *c, unsigned long v)
{
	struct req r;

	c->call = (long)(v / 2);
	c->hangup = (int)(v % 2);
	c->rec[0] = c->phone[0] = '\0';
	cti_request(b, c->call, c->hangup, &r);
	request_write(c, &r);
	if (!c->hangup)
		b->pop.calls[c->call].t_sent = c->t0;
}

static void
bg_send(struct bench *b, struct conn *c)
{
	struct req r;

	c->rec[0] = c->phone[0] = '\0';
	twilio_status_request(b, c, &r);
	request_write(c, &r);
}

/* The CTI requests waiting, on the idle CTI connections. */
static void
pop_drain(struct bench *b)
{
	struct pop *p = &b->pop;
	struct conn *c;

	while (p->fifo_head < p->fifo_tail &&
	       (c = pool_idle(p, p->cti, CTI_CONNS)) != NULL)
		cti_send(b, c, p->fifo[p->fifo_head++]);
}

/* A new call: a new number, or (one in 5) one whose call is over. */
static void
call_new(struct bench *b)
{
	struct pop *p = &b->pop;
	unsigned long i = p->ncalls++;
	struct call *k = &p->calls[i];

	if (i % 5 == 4 && p->done_head < p->done_tail) {
		k->caller = p->done[p->done_head++];
		p->repeat_callers++;
	} else {
		k->caller = p->ncallers++;
	}
	p->live[k->caller] = (long)i;
	k->desk = &b->desks[bc_rnd(&b->t) % b->ndesks];
	fifo_push(p, i * 2);
}

/* Calls whose ringing was written POP_WAIT ago with no pop: hung up. */
static void
pop_timeouts(struct pop *p, uint64_t now)
{
	unsigned long i;
	struct call *k;

	for (i = p->hang_scan; i < p->ncalls; i++) {
		k = &p->calls[i];
		if (!k->hang_queued) {
			if (k->t_sent == 0 || now < k->t_sent + POP_WAIT)
				break;
			k->hang_queued = 1;
			p->timeouts++;
			fifo_push(p, i * 2 + 1);
		}
		if (i == p->hang_scan)
			p->hang_scan++;
	}
}

/*
 * Every millisecond of the pop run: the background callbacks and the
 * ringings that are due by now (a callback finding no idle connection
 * waits for one; "late" when sent 10 ms or more after its time), the
 * timeouts, the CTI queue; after the end, idle sockets closed (the CTI
 * ones once every call is hung up, or POP_DRAIN after the end).
 */
static void
on_pace(uv_timer_t *h)
{
	struct bench *b = h->data;
	struct pop *p = &b->pop;
	uint64_t now = bc_now_ns(), el = now - p->start_ns, due, at;
	struct conn *c;
	unsigned i;
	int drained;

	if (now < b->deadline_ns) {
		due = el * b->pop_background / 1000000000ULL;
		while (p->bg_sent < due &&
		       (c = pool_idle(p, p->bg, p->nbg)) != NULL) {
			at = p->bg_sent * 1000000000ULL / b->pop_background;
			p->bg_late += el >= at + 10000000ULL;
			bg_send(b, c);
			p->bg_sent++;
		}
		due = el * b->pop_rate / 1000000000ULL + 1;
		while (p->ncalls < due && p->ncalls < p->maxcalls)
			call_new(b);
	}
	pop_timeouts(p, now);
	pop_drain(b);
	if (now < b->deadline_ns)
		return;
	if (p->cpu_end.wall_ns == 0)
		bc_cpu_snap(&b->t, &b->pids, &p->cpu_end);
	drained = p->settled >= p->ncalls || now >= b->deadline_ns + POP_DRAIN;
	for (i = 0; i < p->nbg; i++)
		if (p->bg[i] != NULL && p->bg[i]->t0 == 0)
			bc_conn_close(&p->bg[i]->bc);
	for (i = 0; drained && i < CTI_CONNS; i++)
		if (p->cti[i] != NULL)
			bc_conn_close(&p->cti[i]->bc);
	if (b->open_posts == 0)
		uv_timer_stop(h);
}

static void
paced_connected(struct bc_conn *bc)
{
	((struct conn *)bc)->up = 1;
}

static void
pop_start(struct bench *b, unsigned conns)
{
	struct pop *p = &b->pop;
	size_t i;

	for (i = 0; i < b->ndesks; i++)
		if (b->desks[i].ext[0] == '\0')
			fatalx(WHO ": %s has no extension (logins adv<n> "
			           "ring 2000 + n)",
			       b->desks[i].login);
	free(p->calls);
	free(p->live);
	free(p->done);
	free(p->fifo);
	free(p->seen);
	bc_samples_free(&p->lat);
	memset(p, 0, sizeof(*p));
	p->maxcalls = (unsigned long)b->pop_rate * b->pop_seconds + 16;
	p->calls = xcalloc(p->maxcalls, sizeof(*p->calls));
	p->live = xcalloc(p->maxcalls, sizeof(*p->live));
	p->done = xcalloc(p->maxcalls, sizeof(*p->done));
	p->fifo = xcalloc(2 * p->maxcalls, sizeof(*p->fifo));
	p->nbg = conns < BG_MAX ? conns : BG_MAX;
	p->start_ns = bc_now_ns();
	for (i = 0; i < p->nbg; i++)
		conn_open(b, K_BG, NULL, (unsigned)i);
	for (i = 0; i < CTI_CONNS; i++)
		conn_open(b, K_CTI, NULL, (unsigned)i);
	uv_timer_start(&b->pace, on_pace, 1, 1);
}

/*
 * The pop run's line: the pops, the calls, and the background as a
 * closed-loop run's figures (its CPU up to the end of the sending).
 */
static void
pop_report(struct bench *b, const char *bad)
{
	struct pop *p = &b->pop;
	char cpu[512];
	double secs = (double)(p->cpu_end.wall_ns - b->cpu0.wall_ns) / 1e9;
	unsigned long i;

	uv_timer_stop(&b->pace);
	bc_cpu_format(&b->cpu0, &p->cpu_end, cpu, sizeof(cpu));
	for (i = 0; i < p->ncalls; i++)
		p->missing += p->calls[i].ring_status >= 200 &&
		              p->calls[i].ring_status < 300 &&
		              !p->calls[i].popped;
	printf("pop_level pop_seconds=%.1f pop_rate=%u calls=%lu "
	       "repeat_callers=%lu ring_ok=%lu ring_non_2xx=%lu pops=%lu "
	       "missing=%lu timeouts=%lu pop_measured=%zu pop_p50_ms=%.2f "
	       "pop_p99_ms=%.2f "
	       "pop_p999_ms=%.2f pop_max_ms=%.2f wrong_desk=%lu twice=%lu "
	       "unmatched=%lu hangup_ok=%lu hangup_non_2xx=%lu "
	       "bg_target_per_s=%u concurrency=%u bg_sent=%lu ok=%lu "
	       "per_s=%.0f p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f "
	       "non_2xx=%s lost=%lu late=%lu reconnects=%lu desks=%zu "
	       "exhausted=%lu %s\n",
	       secs, b->pop_rate, p->ncalls, p->repeat_callers, p->ring_ok,
	       p->ring_bad, p->pops, p->missing, p->timeouts, p->lat.n,
	       bc_quantile(&p->lat, 0.50), bc_quantile(&p->lat, 0.99),
	       bc_quantile(&p->lat, 0.999), bc_quantile(&p->lat, 1.0),
	       p->wrong_desk, p->twice, p->unmatched, p->hang_ok, p->hang_bad,
	       b->pop_background, p->nbg, p->bg_sent, b->ok,
	       (double)b->ok / secs, bc_quantile(&b->lat, 0.50),
	       bc_quantile(&b->lat, 0.99), bc_quantile(&b->lat, 0.999),
	       bc_quantile(&b->lat, 1.0), bad, b->other, p->bg_late,
	       b->reconnects, b->desks_available, b->twilio_rows.exhausted,
	       cpu);
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
static const struct bc_ops paced_ops = {
        .connected = paced_connected,
        .http_read = post_read,
        .closing = on_closing,
        .failed = on_failed,
};

/* ---------------------------------------------------------------- levels */

static void
level_start(struct bench *b)
{
	unsigned i, c = b->runs[b->level].conc;

	b->ok = b->created = b->repeated = b->other = b->reconnects = 0;
	memset(b->refused, 0, sizeof(b->refused));
	bc_samples_free(&b->lat);
	b->kind = b->runs[b->level].kind;
	b->running = 1;
	bc_cpu_snap(&b->t, &b->pids, &b->cpu0);
	b->deadline_ns = bc_now_ns() +
	                 (uint64_t)b->runs[b->level].seconds * 1000000000ULL;
	if (b->kind == HK_POP) {
		bc_progress(WHO,
		            "pop: %u ringings/s under %u Twilio status "
		            "callbacks/s on %u connections, %u s",
		            b->pop_rate, b->pop_background, c, b->pop_seconds);
		pop_start(b, c);
		return;
	}
	bc_progress(WHO, "%s, concurrency %u, %u s", hook_defs[b->kind].name, c,
	            b->seconds);
	for (i = 0; i < c; i++)
		conn_open(b, K_POST, NULL, 0);
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
	if (b->kind == HK_POP) {
		pop_report(b, bad[0] ? bad : "none");
		goto out;
	}
	printf("webhook_level kind=%s concurrency=%u seconds=%.1f ok=%lu "
	       "created=%lu repeated=%lu per_s=%.0f p50_ms=%.2f p99_ms=%.2f "
	       "p999_ms=%.2f max_ms=%.2f non_2xx=%s lost=%lu reconnects=%lu "
	       "desks=%zu offers=%lu exhausted=%lu %s\n",
	       hook_defs[b->kind].name, b->runs[b->level].conc, secs, b->ok,
	       b->created, b->repeated, (double)b->ok / secs,
	       bc_quantile(&b->lat, 0.50), bc_quantile(&b->lat, 0.99),
	       bc_quantile(&b->lat, 0.999), bc_quantile(&b->lat, 1.0),
	       bad[0] ? bad : "none", b->other, b->reconnects,
	       b->desks_available, b->offers,
	       b->twilio_rows.exhausted + b->notify_rows.exhausted, cpu);
out:
	if (b->answered != NULL)
		fflush(b->answered);
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
		if (b->level < b->nruns) {
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
	unsigned n;

	if (f == NULL)
		fatalx("%s: cannot open", path);
	b->desks = xcalloc(max, sizeof(*b->desks));
	while (b->ndesks < max && fgets(line, sizeof(line), f) != NULL) {
		d = &b->desks[b->ndesks];
		if (sscanf(line, "%128s %128s", d->login, d->password) != 2)
			continue;
		if (sscanf(d->login, "adv%u", &n) == 1 && n < DESKS_MAX)
			snprintf(d->ext, sizeof(d->ext), "%u", 2000 + n);
		b->ndesks++;
	}
	fclose(f);
	if (b->ndesks < max)
		fatalx("%s: fewer than %zu users", path, max);
}

/* A secret from a file (a final newline dropped), at least 16 bytes. */
static void
read_secret(struct secret *sec, const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		fatalx("%s: cannot open", path);
	n = fread(sec->v, 1, sizeof(sec->v) - 1, f);
	fclose(f);
	while (n > 0 && (sec->v[n - 1] == '\n' || sec->v[n - 1] == '\r'))
		n--;
	sec->v[n] = '\0';
	if (n < SIGNED_HOOK_SECRET_MIN)
		fatalx("%s: a secret is at least 16 bytes", path);
	sec->len = n;
}

/* FIRST:COUNT into o. */
static void
parse_rows(struct outbox_rows *o, const char *v, const char *what)
{
	char first[24];
	const char *colon = strchr(v, ':');

	if (colon == NULL || (size_t)(colon - v) >= sizeof(first))
		fatalx("%s: FIRST:COUNT", what);
	memcpy(first, v, (size_t)(colon - v));
	first[colon - v] = '\0';
	o->first = bc_parse_uint(first, what);
	o->count = bc_parse_uint(colon + 1, what);
}

static enum hook_kind
kind_of(const char *name)
{
	size_t i;

	for (i = 0; i < HK_KINDS; i++)
		if (strcmp(name, hook_defs[i].name) == 0)
			return (enum hook_kind)i;
	fatalx("--kind: %s is not one of form, twilio-status, notify-status, "
	       "twilio-sms, notify-sms, pop",
	       name);
}

/* What the kinds asked for need; 0 when the options give it. */
static int
usable(const struct bench *b, const char *secret)
{
	unsigned i, need = 0;

	for (i = 0; i < b->nkinds; i++)
		need |= hook_defs[b->kinds[i]].needs;
	if (((need & NEED_FORM) && (b->form == NULL || secret == NULL)) ||
	    ((need & NEED_TWILIO) && b->twilio_token.len == 0) ||
	    ((need & NEED_NOTIFY) && b->notify_token.len == 0) ||
	    ((need & NEED_TWILIO_ROWS) && b->twilio_rows.count == 0) ||
	    ((need & NEED_NOTIFY_ROWS) && b->notify_rows.count == 0) ||
	    ((need & NEED_CTI) && b->cti_secret.len == 0))
		return -1;
	return 0;
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
	        {"kind", required_argument, NULL, 'k'},
	        {"public-url", required_argument, NULL, 'P'},
	        {"twilio-token", required_argument, NULL, 't'},
	        {"notify-token", required_argument, NULL, 'n'},
	        {"twilio-outbox", required_argument, NULL, 'T'},
	        {"notify-outbox", required_argument, NULL, 'N'},
	        {"answered", required_argument, NULL, 'A'},
	        {"cti-secret", required_argument, NULL, 'C'},
	        {"pop-rate", required_argument, NULL, 'R'},
	        {"pop-background", required_argument, NULL, 'B'},
	        {"pop-connections", required_argument, NULL, 'O'},
	        {"pop-seconds", required_argument, NULL, 'W'},
	        {NULL, 0, NULL, 0},
	};
	struct bench *b = xcalloc(1, sizeof(*b));
	const char *url = NULL, *secret = NULL, *users = NULL;
	const char *levels = "16,64", *kinds = "form", *answered = NULL;
	size_t advisors = 0, i;
	char *lv, *tok, *save = NULL;
	int o, pop = 0;
	unsigned k, l;

	b->seconds = 10;
	b->pop_rate = 20;
	b->pop_background = 2000;
	b->pop_conns = 64;
	b->pop_seconds = 30;
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
		case 'k':
			kinds = optarg;
			break;
		case 'P':
			b->public_url = optarg;
			break;
		case 't':
			read_secret(&b->twilio_token, optarg);
			break;
		case 'n':
			read_secret(&b->notify_token, optarg);
			break;
		case 'T':
			parse_rows(&b->twilio_rows, optarg, "--twilio-outbox");
			break;
		case 'N':
			parse_rows(&b->notify_rows, optarg, "--notify-outbox");
			break;
		case 'A':
			answered = optarg;
			break;
		case 'C':
			read_secret(&b->cti_secret, optarg);
			b->cti_key.key = b->cti_secret.v;
			b->cti_key.len = b->cti_secret.len;
			break;
		case 'R':
			b->pop_rate = bc_parse_uint(optarg, "--pop-rate");
			break;
		case 'B':
			b->pop_background =
			        bc_parse_uint(optarg, "--pop-background");
			break;
		case 'W':
			b->pop_seconds = bc_parse_uint(optarg, "--pop-seconds");
			break;
		case 'O':
			b->pop_conns =
			        bc_parse_uint(optarg, "--pop-connections");
			break;
		default:
			fputs("usage: see the head of "
			      "tests/bench/bench_webhook.c\n",
			      stderr);
			return 2;
		}
	}
	lv = xstrdup(kinds);
	for (tok = strtok_r(lv, ",", &save);
	     tok != NULL && b->nkinds < KINDS_MAX;
	     tok = strtok_r(NULL, ",", &save))
		b->kinds[b->nkinds++] = kind_of(tok);
	free(lv);
	save = NULL;
	for (i = 0; i < b->nkinds; i++)
		pop |= b->kinds[i] == HK_POP;
	if (url == NULL || b->nkinds == 0 || usable(b, secret) != 0 ||
	    (advisors > 0 && users == NULL) || advisors > DESKS_MAX ||
	    (pop && (advisors == 0 || b->pop_rate == 0 || b->pop_seconds == 0 ||
	             b->pop_background == 0 || b->pop_conns == 0))) {
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
	/* Each kind at each level; the pop run once, its own connections. */
	for (k = 0; k < b->nkinds; k++)
		for (l = 0; l < (b->kinds[k] == HK_POP ? 1 : b->nlevels); l++)
			b->runs[b->nruns++] =
			        b->kinds[k] == HK_POP
			                ? (struct run){HK_POP, b->pop_conns,
			                               b->pop_seconds}
			                : (struct run){b->kinds[k],
			                               b->levels[l],
			                               b->seconds};
	if (secret != NULL) {
		read_secret(&b->secret, secret);
		b->key.key = b->secret.v;
		b->key.len = b->secret.len;
	}
	if (b->public_url == NULL)
		b->public_url = url;
	if (answered != NULL && (b->answered = fopen(answered, "a")) == NULL)
		fatalx("%s: cannot open", answered);
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
		conn_open(b, K_LOGIN, &b->desks[i], 0);
	uv_timer_init(&b->loop, &b->tick);
	b->tick.data = b;
	uv_timer_init(&b->loop, &b->pace);
	b->pace.data = b;
	uv_timer_start(&b->tick, on_tick, 100, 100);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	printf("webhook_desks advisors=%zu available=%zu offers=%lu\n",
	       b->ndesks, b->desks_available, b->offers);
	bc_close_all(&b->loop);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_loop_close(&b->loop);
	bc_samples_free(&b->lat);
	bc_samples_free(&b->pop.lat);
	free(b->pop.calls);
	free(b->pop.live);
	free(b->pop.done);
	free(b->pop.fifo);
	free(b->pop.seen);
	if (b->answered != NULL && fclose(b->answered) != 0)
		fatalx("%s: cannot write", answered);
	free(b->desks);
	free(b);
	return 0;
}
