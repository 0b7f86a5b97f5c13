/*
 * bus.c: the conversation bus (see bus.h). Loop thread only.
 *
 * State, all this instance's own:
 *   follow  conversation -> struct flist: the desk sockets here following
 *           it, each with what is held for it during a history read and
 *           the message numbers it was sent last
 *   conns   connection -> struct fconn: the conversations it follows, so
 *           that a closed socket is dropped without a search
 *   pends   publications sent to Redis and not answered yet; failed: those
 *           that could not be sent, told on the next loop pass
 * Publications go out on the pub connection and come in on the sub one
 * (bus_wire.h has their format). Connections are named by id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bus.h"
#include "bus_wire.h"
#include "idmap.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

/* Bytes of the instance's name kept in its tag. */
#define ORIGIN_NAME_MAX 60

struct held {
	uint64_t seq; /* 0: not a message */
	char *text;   /* the event for desks, serialised */
};

struct follower {
	unsigned long conn;
	int loading;  /* history reads in flight */
	int shown;    /* answered a history, or followed without one */
	int overflow; /* more than hold_max came while loading */
	struct held *held;
	size_t nheld, capheld;
	uint64_t recent[BUS_RECENT_KEEP];
	unsigned nrecent;
};

struct flist {
	size_t n, cap;
	struct follower *f;
};

struct fconn {
	size_t n, cap;
	uint64_t *conv;
};

struct hook {
	char channel[BUS_WIRE_CHANNEL_MAX + 1]; /* "" when free */
	bus_hook_fn fn;
	void *arg;
};

struct pend {
	struct bus *b; /* NULL once the bus has told done and gone */
	bus_done_fn done;
	void *arg;
	struct pend *prev, *next;
};

struct bus {
	uv_loop_t *loop;
	struct kv *pub;
	bus_send_fn send;
	void *send_arg;
	struct idmap *follow, *conns;
	struct hook hooks[BUS_HOOKS_MAX];
	struct pend *pends;  /* in flight */
	struct pend *failed; /* to be told on the next pass */
	uv_timer_t timer;    /* tells the failed ones */
	size_t hold_max;
	struct bus_stats st;
	char origin[BUS_WIRE_ORIGIN_MAX + 1];
	char self[BUS_WIRE_ORIGIN_MAX + 2]; /* "<origin> " */
	size_t selflen;
};

/* -------------------------------------------------------------- followers */

static struct follower *
follower_find(const struct bus *b, uint64_t conv, unsigned long conn)
{
	struct flist *f = idmap_get(b->follow, conv);
	size_t i;

	for (i = 0; f != NULL && i < f->n; i++)
		if (f->f[i].conn == conn)
			return &f->f[i];
	return NULL;
}

static void
follower_clear(struct follower *fw)
{
	size_t i;

	for (i = 0; i < fw->nheld; i++)
		free(fw->held[i].text);
	free(fw->held);
	fw->held = NULL;
	fw->nheld = fw->capheld = 0;
	fw->overflow = 0;
}

static int
recent_has(const struct follower *fw, uint64_t seq)
{
	unsigned i;

	for (i = 0; i < BUS_RECENT_KEEP; i++)
		if (fw->recent[i] == seq)
			return 1;
	return 0;
}

static void
recent_add(struct follower *fw, uint64_t seq)
{
	fw->recent[fw->nrecent++ % BUS_RECENT_KEEP] = seq;
}

static void
fconn_add(struct bus *b, unsigned long conn, uint64_t conv)
{
	struct fconn *fc = idmap_get(b->conns, conn);

	if (fc == NULL) {
		fc = xcalloc(1, sizeof(*fc));
		idmap_put(b->conns, conn, fc);
	}
	if (fc->n == fc->cap) {
		fc->cap = fc->cap ? fc->cap * 2 : 4;
		fc->conv = xrealloc(fc->conv, fc->cap * sizeof(*fc->conv));
	}
	fc->conv[fc->n++] = conv;
}

static void
fconn_free(struct fconn *fc)
{
	if (fc != NULL) {
		free(fc->conv);
		free(fc);
	}
}

static void
fconn_remove(struct bus *b, unsigned long conn, uint64_t conv)
{
	struct fconn *fc = idmap_get(b->conns, conn);
	size_t i;

	for (i = 0; fc != NULL && i < fc->n; i++) {
		if (fc->conv[i] == conv) {
			fc->conv[i] = fc->conv[--fc->n];
			break;
		}
	}
	if (fc != NULL && fc->n == 0)
		fconn_free(idmap_del(b->conns, conn));
}

/* The follower conn of conv, made (not loading, not shown) if new. */
static struct follower *
follower_add(struct bus *b, uint64_t conv, unsigned long conn)
{
	struct flist *f;
	struct follower *fw = follower_find(b, conv, conn);

	if (fw != NULL)
		return fw;
	f = idmap_get(b->follow, conv);
	if (f == NULL) {
		f = xcalloc(1, sizeof(*f));
		idmap_put(b->follow, conv, f);
	}
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 2;
		f->f = xrealloc(f->f, f->cap * sizeof(*f->f));
	}
	fw = &f->f[f->n++];
	memset(fw, 0, sizeof(*fw));
	fw->conn = conn;
	fconn_add(b, conn, conv);
	return fw;
}

static void
flist_free(struct flist *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		follower_clear(&f->f[i]);
	free(f->f);
	free(f);
}

/* Removes conn from conv's followers (not from conns). */
static void
flist_remove(struct bus *b, uint64_t conv, unsigned long conn)
{
	struct flist *f = idmap_get(b->follow, conv);
	size_t i;

	for (i = 0; f != NULL && i < f->n; i++) {
		if (f->f[i].conn != conn)
			continue;
		follower_clear(&f->f[i]);
		f->f[i] = f->f[--f->n];
		break;
	}
	if (f != NULL && f->n == 0)
		flist_free(idmap_del(b->follow, conv));
}

void
bus_follow(struct bus *b, uint64_t conv, unsigned long conn)
{
	struct follower *fw = follower_add(b, conv, conn);

	fw->shown = 1;
}

void
bus_unfollow(struct bus *b, uint64_t conv, unsigned long conn)
{
	if (follower_find(b, conv, conn) == NULL)
		return;
	flist_remove(b, conv, conn);
	fconn_remove(b, conn, conv);
}

void
bus_drop_conn(struct bus *b, unsigned long conn)
{
	struct fconn *fc = idmap_del(b->conns, conn);
	size_t i;

	for (i = 0; fc != NULL && i < fc->n; i++)
		flist_remove(b, fc->conv[i], conn);
	fconn_free(fc);
}

void
bus_drop_conversation(struct bus *b, uint64_t conv)
{
	struct flist *f = idmap_del(b->follow, conv);
	size_t i;

	for (i = 0; f != NULL && i < f->n; i++)
		fconn_remove(b, f->f[i].conn, conv);
	if (f != NULL)
		flist_free(f);
}

int
bus_shown(const struct bus *b, uint64_t conv, unsigned long conn)
{
	const struct follower *fw = follower_find(b, conv, conn);

	return fw != NULL && fw->shown;
}

/* --------------------------------------------------------------- delivery */

static int
send_desk(struct bus *b, unsigned long conn, const char *text)
{
	if (b->send(b->send_arg, conn, text) != 0)
		return -1;
	b->st.delivered++;
	gw_metrics_bus(GW_BUS_DELIVERED);
	return 0;
}

/*
 * Sends text (an event for desks, seq its message number or 0) to one
 * follower now, or holds it while its history loads. 0 when sent now.
 */
static int
to_follower(struct bus *b, struct follower *fw, const char *text, uint64_t seq)
{
	if (seq != 0 && recent_has(fw, seq)) {
		b->st.repeats++;
		gw_metrics_bus(GW_BUS_REPEAT);
		return -1;
	}
	if (fw->loading) {
		if (fw->nheld >= b->hold_max) {
			fw->overflow = 1;
			return -1;
		}
		if (fw->nheld == fw->capheld) {
			fw->capheld = fw->capheld ? fw->capheld * 2 : 8;
			fw->held = xrealloc(fw->held,
			                    fw->capheld * sizeof(*fw->held));
		}
		fw->held[fw->nheld].seq = seq;
		fw->held[fw->nheld++].text = xstrdup(text);
		if (seq != 0)
			recent_add(fw, seq);
		return -1;
	}
	if (send_desk(b, fw->conn, text) != 0)
		return -1;
	if (seq != 0)
		recent_add(fw, seq);
	return 0;
}

/* An event here: to conv's desks (text may be NULL), then its hook. */
static size_t
deliver(struct bus *b, uint64_t conv, uint64_t seq, const char *text,
        const char *channel, const char *body, size_t len, int local)
{
	struct flist *f = text != NULL ? idmap_get(b->follow, conv) : NULL;
	struct bus_event ev;
	size_t i, n = 0;

	for (i = 0; f != NULL && i < f->n; i++)
		if (to_follower(b, &f->f[i], text, seq) == 0)
			n++;
	for (i = 0; channel != NULL && i < BUS_HOOKS_MAX; i++) {
		if (b->hooks[i].fn == NULL ||
		    strcmp(b->hooks[i].channel, channel) != 0)
			continue;
		ev.conv = conv;
		ev.seq = seq;
		ev.body = body != NULL ? body : "";
		ev.len = body != NULL ? len : 0;
		ev.desks = n;
		ev.local = local;
		b->hooks[i].fn(b->hooks[i].arg, &ev);
		break;
	}
	return n;
}

int
bus_set_channel_hook(struct bus *b, const char *channel, bus_hook_fn fn,
                     void *arg)
{
	struct hook *free_slot = NULL;
	size_t i;

	if (!bus_wire_channel_ok(channel))
		return -1;
	for (i = 0; i < BUS_HOOKS_MAX; i++) {
		if (b->hooks[i].channel[0] == '\0') {
			if (free_slot == NULL)
				free_slot = &b->hooks[i];
		} else if (strcmp(b->hooks[i].channel, channel) == 0) {
			free_slot = &b->hooks[i];
			break;
		}
	}
	if (free_slot == NULL)
		return -1;
	if (fn == NULL) {
		memset(free_slot, 0, sizeof(*free_slot));
		return 0;
	}
	snprintf(free_slot->channel, sizeof(free_slot->channel), "%s", channel);
	free_slot->fn = fn;
	free_slot->arg = arg;
	return 0;
}

/* ------------------------------------------------------------ publishing */

static void
pend_unlink(struct pend **list, struct pend *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		*list = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

static void
pend_link(struct pend **list, struct pend *p)
{
	p->prev = NULL;
	p->next = *list;
	if (*list != NULL)
		(*list)->prev = p;
	*list = p;
}

static void
count_failed(struct bus *b)
{
	b->st.failed++;
	gw_metrics_bus(GW_BUS_FAILED);
}

static void
on_published(void *arg, redisReply *reply)
{
	struct pend *p = arg;
	int ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;

	if (p->b != NULL) {
		pend_unlink(&p->b->pends, p);
		if (!ok) {
			count_failed(p->b);
			gw_warn("bus.publish_lost", "reason=\"%s\"",
			        reply != NULL ? "redis error"
			                      : "connection lost");
		}
	}
	if (p->done != NULL)
		p->done(p->arg, ok);
	free(p);
}

static void
on_timer(uv_timer_t *t)
{
	struct bus *b = t->data;
	struct pend *list = b->failed, *p;

	/* Those failed while telling these wait for the next pass. */
	b->failed = NULL;
	while ((p = list) != NULL) {
		list = p->next;
		if (p->done != NULL)
			p->done(p->arg, 0);
		free(p);
	}
}

/* The publication could not be sent: done is told on the next pass. */
static void
fail_later(struct bus *b, struct pend *p)
{
	count_failed(b);
	pend_link(&b->failed, p);
	uv_timer_start(&b->timer, on_timer, 0, 0);
}

size_t
bus_publish(struct bus *b, uint64_t conv, uint64_t seq, json_t *for_desks,
            const char *channel, const char *for_channel, bus_done_fn done,
            void *arg)
{
	char hdr[BUS_WIRE_HEADER_SIZE], *ds = NULL, *msg = NULL;
	size_t hlen, dlen = 0, clen, n = 0;
	struct pend *p = xcalloc(1, sizeof(*p));

	p->b = b;
	p->done = done;
	p->arg = arg;
	clen = for_channel != NULL ? strlen(for_channel) : 0;
	if (for_desks != NULL) {
		ds = json_dumps(for_desks, JSON_COMPACT);
		if (ds == NULL)
			goto fail;
		dlen = strlen(ds);
	}
	hlen = bus_wire_header(hdr, sizeof(hdr), b->origin, conv, seq, channel,
	                       dlen, clen);
	if (hlen == 0)
		goto fail;
	b->st.published++;
	gw_metrics_bus(GW_BUS_PUBLISHED);
	n = deliver(b, conv, seq, ds, channel, for_channel, clen, 1);
	msg = xmalloc(hlen + dlen + clen);
	memcpy(msg, hdr, hlen);
	if (dlen > 0)
		memcpy(msg + hlen, ds, dlen);
	if (clen > 0)
		memcpy(msg + hlen + dlen, for_channel, clen);
	if (kv_command(b->pub, on_published, p, "PUBLISH %s %b",
	               BUS_REDIS_CHANNEL, msg, hlen + dlen + clen) != 0) {
		gw_warn("bus.publish_lost", "conv=%llu reason=\"redis down\"",
		        (unsigned long long)conv);
		goto fail;
	}
	pend_link(&b->pends, p);
	goto out;
fail:
	fail_later(b, p);
out:
	free(msg);
	free(ds);
	return n;
}

static void
on_message(void *arg, const char *payload, size_t len)
{
	struct bus *b = arg;
	struct bus_wire w;
	char *text = NULL, *body = NULL;

	/* Our own, delivered here when published: known by its first bytes. */
	if (len >= b->selflen && memcmp(payload, b->self, b->selflen) == 0)
		return;
	if (bus_wire_parse(payload, len, &w) != 0) {
		b->st.malformed++;
		gw_warn("bus.malformed", "len=%zu", len);
		return;
	}
	if (w.desks != NULL)
		text = xstrndup(w.desks, w.dlen);
	if (w.chan != NULL)
		body = xstrndup(w.chan, w.clen);
	deliver(b, w.conv, w.seq, text, w.channel[0] ? w.channel : NULL, body,
	        w.clen, 0);
	free(body);
	free(text);
}

/* --------------------------------------------------------------- history */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
row_seq(json_t *row)
{
	json_int_t s = json_integer_value(json_object_get(row, "seq"));

	return s > 0 ? (uint64_t)s : 0;
}

static int
cmp_row(const void *a, const void *b)
{
	uint64_t x = row_seq(*(json_t *const *)a),
	         y = row_seq(*(json_t *const *)b);

	return x < y ? -1 : x > y;
}

/*
 * What was held for fw, less what the history had (seqs, sorted). With
 * msgs the held messages join it in seq order; the rest stay held, to be
 * sent after the answer.
 */
static void
follower_merge(struct bus *b, struct follower *fw, const uint64_t *seqs,
               size_t nseq, json_t *msgs)
{
	json_t *x, **all;
	size_t i, k = 0, n, before = json_array_size(msgs);

	for (i = 0; i < fw->nheld; i++) {
		uint64_t seq = fw->held[i].seq;

		if (seq != 0 && nseq > 0 &&
		    bsearch(&seq, seqs, nseq, sizeof(*seqs), cmp_u64) != NULL) {
			b->st.repeats++;
			gw_metrics_bus(GW_BUS_REPEAT);
			free(fw->held[i].text);
			continue;
		}
		x = seq != 0 && msgs != NULL
		            ? json_loads(fw->held[i].text, 0, NULL)
		            : NULL;
		if (json_is_object(x)) {
			json_object_del(x, "type");
			json_object_del(x, "conversation");
			json_array_append_new(msgs, x);
			b->st.delivered++;
			gw_metrics_bus(GW_BUS_DELIVERED);
			free(fw->held[i].text);
			continue;
		}
		json_decref(x);
		fw->held[k++] = fw->held[i];
	}
	fw->nheld = k;
	n = json_array_size(msgs);
	if (n == before)
		return;
	all = xcalloc(n, sizeof(*all));
	for (i = 0; i < n; i++)
		all[i] = json_incref(json_array_get(msgs, i));
	qsort(all, n, sizeof(*all), cmp_row);
	json_array_clear(msgs);
	for (i = 0; i < n; i++)
		json_array_append_new(msgs, all[i]);
	free(all);
}

/* Sends what is still held for fw, then holds nothing. */
static void
follower_send_held(struct bus *b, struct follower *fw)
{
	size_t i;

	for (i = 0; i < fw->nheld; i++)
		send_desk(b, fw->conn, fw->held[i].text);
	follower_clear(fw);
}

void
bus_history_begin(struct bus *b, uint64_t conv, unsigned long conn)
{
	follower_add(b, conv, conn)->loading++;
}

void
bus_history_abort(struct bus *b, uint64_t conv, unsigned long conn)
{
	struct follower *fw = follower_find(b, conv, conn);

	if (fw == NULL || fw->loading == 0 || --fw->loading > 0)
		return;
	if (fw->shown)
		follower_send_held(b, fw);
	else
		bus_unfollow(b, conv, conn);
}

static void
send_answer(struct bus *b, unsigned long conn, json_t *answer)
{
	char *text = json_dumps(answer, JSON_COMPACT);

	if (text == NULL)
		gw_warn("bus.history_lost",
		        "conn=%lu reason=\"not serialised\"", conn);
	else
		b->send(b->send_arg, conn, text);
	free(text);
}

int
bus_history_end(struct bus *b, uint64_t conv, unsigned long conn,
                json_t *answer, json_t *msgs, int more)
{
	struct follower *fw = follower_find(b, conv, conn);
	uint64_t *seqs;
	size_t nseq, i;

	if (fw != NULL && fw->overflow) {
		b->st.refused++;
		gw_metrics_bus(GW_BUS_REFUSED);
		return -1;
	}
	/* Unfollowed during the read: answered, not followed. */
	if (fw == NULL || fw->loading == 0) {
		send_answer(b, conn, answer);
		return 0;
	}
	fw->shown = 1;
	nseq = json_array_size(msgs);
	seqs = xcalloc(nseq ? nseq : 1, sizeof(*seqs));
	for (i = 0; i < nseq; i++)
		seqs[i] = row_seq(json_array_get(msgs, i));
	qsort(seqs, nseq, sizeof(*seqs), cmp_u64);
	/* A copy of the newest ones may still come through Redis. */
	for (i = nseq > BUS_RECENT_KEEP ? nseq - BUS_RECENT_KEEP : 0; i < nseq;
	     i++)
		if (seqs[i] != 0 && !recent_has(fw, seqs[i]))
			recent_add(fw, seqs[i]);
	/* The last read in flight: what was held joins the answer. */
	if (--fw->loading == 0)
		follower_merge(b, fw, seqs, nseq, more ? NULL : msgs);
	send_answer(b, conn, answer);
	if (fw->loading == 0)
		follower_send_held(b, fw);
	free(seqs);
	return 0;
}

/* --------------------------------------------------------------- the bus */

/* The instance's name as origin bytes: [A-Za-z0-9._:-], others '_'. */
static void
origin_make(char *out, size_t size, const char *instance)
{
	unsigned char rnd[6];
	char name[ORIGIN_NAME_MAX + 1], hex[sizeof(rnd) * 2 + 1];
	size_t i;

	snprintf(name, sizeof(name), "%s",
	         instance != NULL && instance[0] ? instance : "gw");
	for (i = 0; name[i] != '\0'; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == ':' || ch == '-'))
			name[i] = '_';
	}
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	snprintf(out, size, "%s/%s", name, hex);
}

struct bus *
bus_new(uv_loop_t *loop, struct kv *pub, struct kv *sub, const char *instance,
        bus_send_fn send, void *send_arg)
{
	struct bus *b;

	if (sodium_init() < 0)
		return NULL;
	b = xcalloc(1, sizeof(*b));
	b->loop = loop;
	b->pub = pub;
	b->send = send;
	b->send_arg = send_arg;
	b->follow = idmap_new();
	b->conns = idmap_new();
	b->hold_max = BUS_HOLD_MAX;
	origin_make(b->origin, sizeof(b->origin), instance);
	b->selflen =
	        (size_t)snprintf(b->self, sizeof(b->self), "%s ", b->origin);
	uv_timer_init(loop, &b->timer);
	b->timer.data = b;
	if (kv_subscribe(sub, BUS_REDIS_CHANNEL, on_message, b) != 0) {
		bus_free(b);
		return NULL;
	}
	return b;
}

static void
free_flist(void *arg, uint64_t key, void *value)
{
	(void)arg;
	(void)key;
	flist_free(value);
}

static void
free_fconn(void *arg, uint64_t key, void *value)
{
	(void)arg;
	(void)key;
	fconn_free(value);
}

/*
 * The follow lists live until the handle is closed: what a channel does
 * while the daemon shuts down (a history read failed by db_close, a hook
 * taken away) still finds them.
 */
static void
on_closed(uv_handle_t *h)
{
	struct bus *b = h->data;

	idmap_each(b->follow, free_flist, NULL);
	idmap_free(b->follow);
	idmap_each(b->conns, free_fconn, NULL);
	idmap_free(b->conns);
	free(b);
}

void
bus_free(struct bus *b)
{
	struct pend *p;

	if (b == NULL)
		return;
	uv_timer_stop(&b->timer);
	on_timer(&b->timer);
	/* Their answers come to nobody: the pend is freed when they do. */
	while ((p = b->pends) != NULL) {
		pend_unlink(&b->pends, p);
		p->b = NULL;
		if (p->done != NULL)
			p->done(p->arg, 0);
		p->done = NULL;
	}
	uv_close((uv_handle_t *)&b->timer, on_closed);
}

const char *
bus_origin(const struct bus *b)
{
	return b->origin;
}

void
bus_set_hold_max(struct bus *b, size_t max)
{
	b->hold_max = max > 0 ? max : 1;
}

void
bus_stats(const struct bus *b, struct bus_stats *st)
{
	*st = b->st;
}
