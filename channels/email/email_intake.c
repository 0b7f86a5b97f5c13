/*
 * email_intake.c: one mailbox read into conversations (email_intake.h).
 *
 * Two sides. The mailbox's thread owns the IMAP session and runs plain
 * blocking code (worker()); whenever it needs the database it hands the
 * loop a request (struct req) through an async handle and waits on a
 * condition variable until the loop has answered it. The loop side
 * (on_async() and below) owns the database, ingest and the lease. The
 * thread is woken from the loop through a pipe, which also ends IDLE.
 * m->mu guards: req, state, error, held, stop, exited, session.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "bus.h"
#include "email_imap.h"
#include "email_intake.h"
#include "email_mime.h"
#include "email_normalise.h"
#include "email_oauth.h"
#include "kv_lease.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

/*
 * The raw source kept of one mail: its base64 in the hook data must stay
 * under ingest's INGEST_HOOK_DATA_MAX. A larger mail is parsed and
 * imported whole (text, metadata, attachments' names), but only this much
 * of its source is stored, with EMAIL_RAW_CUT_FLAG in its parse flags and
 * "raw_cut" in its metadata (docs/email.md, "Intake").
 */
#define EMAIL_RAW_KEPT_MAX (45u << 20)
#define EMAIL_RAW_CUT_FLAG (1u << 30)
#define BACKOFF_MIN_MS     5000
#define BACKOFF_MAX_MS     300000
#define TOKEN_MAX          16384
#define ERR_MAX            400

static const char CURSOR_SQL[] =
        "SELECT last_uid, changed, old_uidvalidity,"
        " (SELECT coalesce(json_agg(u), '[]') FROM"
        " sb_email_unmarked($1, $2::bigint, 1000) AS u)"
        " FROM sb_email_mailbox($1, $2::bigint)";
static const char MARKED_SQL[] =
        "SELECT sb_email_marked($1, $2::bigint, $3::jsonb)";
static const char DUPES_SQL[] =
        "SELECT sb_email_dupes($1, $2::bigint, $3::jsonb)";
/*
 * A delivery report: recorded, matched to the outbox row it answers and
 * acted on (sb_email_bounce, 0030). Columns: the answer, and the matched
 * row's conversation, message, destination and status (as they were
 * before the statement: the function's own changes are not seen here).
 */
static const char BOUNCE_SQL[] =
        "SELECT x.b::text, coalesce(o.conversation_id, 0),"
        " coalesce(o.message_id, 0), o.destination, o.status"
        " FROM (SELECT sb_email_bounce(d->>'mailbox',"
        " (d->>'uidvalidity')::bigint, (d->>'uid')::bigint,"
        " (d->>'prev_uid')::bigint, d->>'message_id',"
        " decode(d->>'sha256', 'hex'), decode(d->>'raw', 'base64'),"
        " (d->>'flags')::integer, d->'report') AS b"
        " FROM (SELECT $1::jsonb AS d) AS y) AS x"
        " LEFT JOIN outbox o ON o.id = (x.b->>'matched')::bigint";
static const char RECORD_SQL[] =
        "SELECT sb_email_record(d->>'mailbox', (d->>'uidvalidity')::bigint,"
        " (d->>'uid')::bigint, (d->>'prev_uid')::bigint, $2,"
        " d->>'message_id', decode(d->>'sha256', 'hex'),"
        " decode(d->>'raw', 'base64'), (d->>'flags')::integer)"
        " FROM (SELECT $1::jsonb AS d) AS x";

enum state { ST_STARTING = 0, ST_STANDBY, ST_OK, ST_ERROR };
enum req_kind { REQ_CURSOR, REQ_IMPORT, REQ_MARKED };

/* One fetched mail, normalised on the thread. */
struct item {
	struct email_intake *m;
	uint32_t uid, prev;
	struct email_normal n;
	json_t *hook;    /* the email.import data, until made text */
	char *hook_data; /* the email.import data: raw, hash, ids, ack ... */
	char sha[65];    /* of the raw source, hex */
	char *rfc_mid;   /* its Message-ID, or NULL */
	int bounce;
	int dup;
	int stored; /* committed: may be marked \Seen or moved */
	char why[200];
};

struct req {
	enum req_kind kind;
	uint32_t uidvalidity;
	/* REQ_CURSOR */
	uint32_t last_uid;
	/* REQ_CURSOR: committed, not yet marked (malloc'd by the loop);
	 * REQ_MARKED: marked now (the thread's) */
	uint32_t *uids;
	size_t nuids;
	/* REQ_IMPORT */
	struct item *items;
	size_t n;
	unsigned pending; /* loop: answers awaited */
	int ok;           /* answered without a database error */
	char why[ERR_MAX];
	int done;
};

struct email_intake {
	uv_loop_t *loop;
	struct db *db;
	struct ingest *in;
	struct bus *bus; /* bounced replies told to desks; NULL: none */
	const struct email_mailbox_config *c;
	char *instance, *source, *lease_key;
	struct kv_lease *lease;
	struct email_oauth *oauth; /* NULL: a password */
	uv_async_t async;
	uv_thread_t thread;
	int thread_started;
	int wake[2];
	uv_mutex_t mu;
	uv_cond_t cond;
	/* under mu */
	struct req *req;
	enum state state;
	char error[ERR_MAX];
	char holder[128];
	int held, stop, exited;
	struct email_imap *session;
	/* loop only */
	int closing;
	struct req *serving;
	enum state logged;
	char logged_why[ERR_MAX];
	uint64_t *imported, *duplicates, *bounces;
};

/* ------------------------------------------------------------ the thread */

static void
set_state(struct email_intake *m, enum state st, const char *why)
{
	uv_mutex_lock(&m->mu);
	m->state = st;
	snprintf(m->error, sizeof(m->error), "%s", why != NULL ? why : "");
	uv_mutex_unlock(&m->mu);
	uv_async_send(&m->async);
}

static int
stopping(struct email_intake *m)
{
	int s;

	uv_mutex_lock(&m->mu);
	s = m->stop;
	uv_mutex_unlock(&m->mu);
	return s;
}

static int
held(struct email_intake *m)
{
	int h;

	uv_mutex_lock(&m->mu);
	h = m->held && !m->stop;
	uv_mutex_unlock(&m->mu);
	return h;
}

static void
drain_wake(struct email_intake *m)
{
	char buf[64];

	while (read(m->wake[0], buf, sizeof(buf)) > 0)
		;
}

/* Sleeps ms (-1: until woken) or until the loop wakes the thread. */
static void
wait_wake(struct email_intake *m, int ms)
{
	struct pollfd p = {m->wake[0], POLLIN, 0};

	if (poll(&p, 1, ms) < 0 && errno != EINTR)
		(void)usleep(100000);
}

/* Hands r to the loop and waits for its answer. */
static void
call_loop(struct email_intake *m, struct req *r)
{
	r->done = 0;
	uv_mutex_lock(&m->mu);
	m->req = r;
	uv_mutex_unlock(&m->mu);
	uv_async_send(&m->async);
	uv_mutex_lock(&m->mu);
	while (!r->done)
		uv_cond_wait(&m->cond, &m->mu);
	uv_mutex_unlock(&m->mu);
}

static void
session_close(struct email_intake *m, struct email_imap **c)
{
	if (*c == NULL)
		return;
	uv_mutex_lock(&m->mu);
	m->session = NULL;
	uv_mutex_unlock(&m->mu);
	email_imap_close(*c);
	*c = NULL;
}

static struct email_imap *
session_open(struct email_intake *m, char *err, size_t errlen)
{
	const struct email_mailbox_config *c = m->c;
	struct email_imap_opts o;
	struct email_imap *s;
	char *token = NULL, why[ERR_MAX];
	int refused = 0;

	memset(&o, 0, sizeof(o));
	o.host = c->host;
	o.port = (uint16_t)c->port;
	o.ca_file = c->ca_file;
	o.user = c->cred.user;
	o.password = c->cred.password;
	o.timeout_s = c->timeout_s;
	o.starttls = c->starttls;
	o.refused = &refused;
	if (c->cred.oauth_token_url != NULL) {
		if (m->oauth == NULL) {
			snprintf(err, errlen,
			         "the OAuth token source could "
			         "not be made (see the log)");
			return NULL;
		}
		token = xmalloc(TOKEN_MAX);
		if (email_oauth_token(m->oauth, token, TOKEN_MAX, why,
		                      sizeof(why)) != 0) {
			snprintf(err, errlen, "no OAuth token: %.300s", why);
			free(token);
			return NULL;
		}
		o.oauth_token = token;
	}
	s = email_imap_open(&o, err, errlen);
	if (s == NULL && refused && token != NULL)
		email_oauth_invalidate(m->oauth);
	if (token != NULL) {
		explicit_bzero(token, TOKEN_MAX);
		free(token);
	}
	if (s != NULL) {
		uv_mutex_lock(&m->mu);
		m->session = s;
		uv_mutex_unlock(&m->mu);
	}
	return s;
}

/* The delivery report of a DSN, for the record. */
static json_t *
report_json(const struct email_mime_msg *mm)
{
	json_t *r = json_array();
	size_t i;

	for (i = 0; i < mm->ndsn; i++)
		json_array_append_new(r, json_pack("{s:s?, s:s?, s:s?, s:s?}",
		                                   "final_recipient",
		                                   mm->dsn[i].final_recipient,
		                                   "action", mm->dsn[i].action,
		                                   "status", mm->dsn[i].status,
		                                   "diagnostic_code",
		                                   mm->dsn[i].diagnostic_code));
	return json_pack("{s:s?, s:o}", "original_message_id",
	                 mm->dsn_original_message_id, "recipients", r);
}

/* The metadata with key set to v (taken). */
static void
add_meta(struct email_normal *n, const char *key, json_t *v)
{
	json_t *o = json_loads(n->metadata, 0, NULL);
	char *t;

	if (o == NULL) {
		json_decref(v);
		return;
	}
	json_object_set_new(o, key, v);
	t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (t != NULL) {
		free(n->metadata);
		n->metadata = t;
	}
}

struct fetched {
	struct email_intake *m;
	uint32_t uidvalidity;
	struct item *items;
	size_t n, cap;
};

/* One raw message: parsed, normalised and its hook data made. */
static int
on_fetched(void *arg, uint32_t uid, const char *raw, size_t len)
{
	struct fetched *f = arg;
	const struct email_mailbox_config *c = f->m->c;
	struct email_mime_msg mm;
	unsigned char sha[crypto_hash_sha256_BYTES];
	size_t kept = len > EMAIL_RAW_KEPT_MAX ? EMAIL_RAW_KEPT_MAX : len;
	size_t b64len =
	        sodium_base64_ENCODED_LEN(kept, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = xmalloc(b64len);
	struct item *it;
	json_t *d;
	int ack;

	if (f->n == f->cap)
		return -1; /* more than asked for: the call fails */
	it = &f->items[f->n++];
	memset(it, 0, sizeof(*it));
	it->m = f->m;
	it->uid = uid;
	email_mime_parse((const unsigned char *)raw, len, NULL, &mm);
	email_normalise(&mm, (const char *const *)c->addresses, c->naddresses,
	                &it->n);
	if (c->type_hint != NULL)
		add_meta(&it->n, "type_hint", json_string(c->type_hint));
	if (kept < len)
		add_meta(&it->n, "raw_cut", json_integer((json_int_t)len));
	it->bounce = it->n.bounce;
	crypto_hash_sha256(sha, (const unsigned char *)raw, len);
	sodium_bin2hex(it->sha, sizeof(it->sha), sha, sizeof(sha));
	if (mm.message_id != NULL)
		it->rfc_mid = xstrdup(mm.message_id);
	sodium_bin2base64(b64, b64len, (const unsigned char *)raw, kept,
	                  sodium_base64_VARIANT_ORIGINAL);
	ack = c->acknowledge && it->n.no_autoreply == NULL && it->n.has_id &&
	      !it->bounce;
	d = json_pack(
	        "{s:s, s:I, s:I, s:s, s:s, s:s?, s:I, s:b, s:s?, s:s, "
	        "s:s?}",
	        "mailbox", c->name, "uidvalidity", (json_int_t)f->uidvalidity,
	        "uid", (json_int_t)uid, "raw", b64, "sha256", it->sha,
	        "message_id", mm.message_id, "flags",
	        (json_int_t)(mm.flags | (kept < len ? EMAIL_RAW_CUT_FLAG : 0)),
	        "ack", ack, "from", it->n.has_id ? it->n.id.value : NULL,
	        "subject", it->n.subject, "ack_name", c->ack_name);
	if (it->bounce)
		json_object_set_new(d, "report", report_json(&mm));
	if (ack && c->ack_template != NULL)
		json_object_set_new(d, "ack_template",
		                    json_string(c->ack_template));
	/* Made text once prev_uid is known (set_prev). */
	it->hook = d;
	sodium_memzero(b64, b64len);
	free(b64);
	email_mime_free(&mm);
	return 0;
}

static void
items_free(struct item *items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		email_normal_free(&items[i].n);
		json_decref(items[i].hook);
		free(items[i].hook_data);
		free(items[i].rfc_mid);
	}
	free(items);
}

/* The chain: each mail's prev_uid is the UID fetched before it. */
static void
set_prev(struct item *it, uint32_t prev)
{
	it->prev = prev;
	json_object_set_new(it->hook, "prev_uid", json_integer(prev));
	it->hook_data = json_dumps(it->hook, JSON_COMPACT);
	if (it->hook_data == NULL)
		fatalx("email intake: out of memory");
	json_decref(it->hook);
	it->hook = NULL;
}

/* Marks uids (\Seen or moved), then records that they are. */
static int
mark(struct email_intake *m, struct email_imap *s, uint32_t uidvalidity,
     uint32_t *uids, size_t n, char *err, size_t errlen)
{
	const struct email_mailbox_config *c = m->c;
	struct req r;

	if (n == 0)
		return 0;
	if ((c->move_to != NULL
	             ? email_imap_move(s, uids, n, c->move_to, err, errlen)
	             : email_imap_seen(s, uids, n, err, errlen)) != 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.kind = REQ_MARKED;
	r.uidvalidity = uidvalidity;
	r.uids = uids;
	r.nuids = n;
	call_loop(m, &r);
	/* Not recorded: marked again at the next sweep, which is harmless. */
	return 0;
}

/*
 * One batch: SELECT, the cursor, the UIDs above it, fetched, stored, then
 * marked. 1: a full batch (go on), 0: caught up, -1: err.
 */
static int
sweep(struct email_intake *m, struct email_imap *s, char *err, size_t errlen)
{
	const struct email_mailbox_config *c = m->c;
	struct email_imap_box box;
	struct fetched f;
	struct req r;
	uint32_t *uids = NULL, *done = NULL;
	size_t i, nuids = 0, ndone = 0, notstored = 0;
	int rc = -1;

	memset(&f, 0, sizeof(f));
	if (email_imap_select(s, c->folder, &box, err, errlen) != 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.kind = REQ_CURSOR;
	r.uidvalidity = box.uidvalidity;
	call_loop(m, &r);
	if (!r.ok) {
		snprintf(err, errlen, "the cursor: %.300s", r.why);
		return -1;
	}
	/* Committed before a crash, never marked: marked now. */
	if (mark(m, s, box.uidvalidity, r.uids, r.nuids, err, errlen) != 0) {
		free(r.uids);
		return -1;
	}
	free(r.uids);
	if (email_imap_uids_after(s, r.last_uid, c->batch, &uids, &nuids, err,
	                          errlen) != 0)
		return -1;
	if (nuids == 0) {
		free(uids);
		return 0;
	}
	f.m = m;
	f.uidvalidity = box.uidvalidity;
	f.cap = nuids;
	f.items = xcalloc(nuids, sizeof(*f.items));
	if (email_imap_fetch(s, uids, nuids, on_fetched, &f, err, errlen) != 0)
		goto out;
	for (i = 0; i < f.n; i++)
		set_prev(&f.items[i], i == 0 ? r.last_uid : f.items[i - 1].uid);
	memset(&r, 0, sizeof(r));
	r.kind = REQ_IMPORT;
	r.uidvalidity = box.uidvalidity;
	r.items = f.items;
	r.n = f.n;
	call_loop(m, &r);
	done = xcalloc(f.n + 1, sizeof(*done));
	for (i = 0; i < f.n; i++) {
		if (f.items[i].stored)
			done[ndone++] = f.items[i].uid;
		else
			notstored++;
	}
	if (mark(m, s, box.uidvalidity, done, ndone, err, errlen) != 0)
		goto out;
	if (notstored > 0) {
		snprintf(err, errlen, "%zu of %zu messages not stored: %.300s",
		         notstored, f.n, r.why);
		goto out;
	}
	rc = nuids >= c->batch ? 1 : 0;
out:
	items_free(f.items, f.n);
	free(uids);
	free(done);
	return rc;
}

static void
worker(void *arg)
{
	struct email_intake *m = arg;
	struct email_imap *s = NULL;
	char err[ERR_MAX];
	int backoff = 0, r;

	for (;;) {
		drain_wake(m);
		if (stopping(m))
			break;
		if (!held(m)) {
			session_close(m, &s);
			set_state(m, ST_STANDBY, NULL);
			wait_wake(m, -1);
			continue;
		}
		if (s == NULL)
			s = session_open(m, err, sizeof(err));
		r = s != NULL ? sweep(m, s, err, sizeof(err)) : -1;
		if (r < 0) {
			session_close(m, &s);
			if (stopping(m))
				break;
			set_state(m, ST_ERROR, err);
			backoff = backoff == 0 ? BACKOFF_MIN_MS
			                       : (backoff * 2 > BACKOFF_MAX_MS
			                                  ? BACKOFF_MAX_MS
			                                  : backoff * 2);
			wait_wake(m, backoff);
			continue;
		}
		backoff = 0;
		set_state(m, ST_OK, NULL);
		if (r == 1)
			continue;
		if (!email_imap_can_idle(s)) {
			wait_wake(m, (int)m->c->sweep_s * 1000);
		} else if (email_imap_idle(s, m->c->sweep_s, m->wake[0], err,
		                           sizeof(err)) != 0) {
			/* The next sweep opens a new session. */
			session_close(m, &s);
		}
	}
	session_close(m, &s);
	uv_mutex_lock(&m->mu);
	m->exited = 1;
	uv_mutex_unlock(&m->mu);
	uv_async_send(&m->async);
}

/* -------------------------------------------------------------- the loop */

static void
wake(struct email_intake *m)
{
	ssize_t w = write(m->wake[1], "w", 1);

	(void)w; /* full: the thread is woken already */
}

/* r is answered: the thread goes on. */
static void
answer(struct email_intake *m, struct req *r)
{
	m->serving = NULL;
	uv_mutex_lock(&m->mu);
	r->done = 1;
	uv_cond_signal(&m->cond);
	uv_mutex_unlock(&m->mu);
}

static void
fail_req(struct req *r, const char *why)
{
	r->ok = 0;
	if (r->why[0] == '\0')
		snprintf(r->why, sizeof(r->why), "%s", why);
}

static void
on_cursor(void *arg, PGresult *res, const char *err)
{
	struct email_intake *m = arg;
	struct req *r = m->serving;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		fail_req(r, err != NULL ? err : PQresultErrorMessage(res));
	} else {
		json_t *a = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
		size_t i;

		r->ok = 1;
		r->last_uid =
		        (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
		r->nuids = json_array_size(a);
		r->uids = xcalloc(r->nuids + 1, sizeof(*r->uids));
		for (i = 0; i < r->nuids; i++)
			r->uids[i] = (uint32_t)json_integer_value(
			        json_array_get(a, i));
		json_decref(a);
		if (PQgetvalue(res, 0, 1)[0] == 't')
			gw_error("email.uidvalidity_changed",
			         "mailbox=%s old=%s new=%u action=\"the folder "
			         "was renumbered: every message is checked "
			         "against what was imported before; none is "
			         "imported twice\"",
			         m->c->name, PQgetvalue(res, 0, 2),
			         r->uidvalidity);
	}
	answer(m, r);
}

static void
item_done(struct email_intake *m, struct req *r)
{
	if (--r->pending == 0)
		answer(m, r);
}

static void
on_recorded(void *arg, PGresult *res, const char *err)
{
	struct item *it = arg;
	struct email_intake *m = it->m;
	struct req *r = m->serving;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_req(r, err != NULL ? err : PQresultErrorMessage(res));
	} else {
		it->stored = 1;
		(*m->duplicates)++;
		gw_info("email.duplicate", "mailbox=%s uid=%u", m->c->name,
		        it->uid);
	}
	item_done(m, r);
}

/* The diagnostic the report gives for rcpt, or NULL. */
static const char *
diagnostic(json_t *hook, const char *rcpt)
{
	json_t *rs = json_object_get(json_object_get(hook, "report"),
	                             "recipients"),
	       *r;
	const char *fr;
	size_t i;

	json_array_foreach(rs, i, r)
	{
		fr = json_string_value(json_object_get(r, "final_recipient"));
		if (fr != NULL && strcasecmp(fr, rcpt) == 0)
			return json_string_value(
			        json_object_get(r, "diagnostic_code"));
	}
	/* Written otherwise (<>, a type): the only one there is. */
	return json_array_size(rs) == 1
	               ? json_string_value(json_object_get(
	                         json_array_get(rs, 0), "diagnostic_code"))
	               : NULL;
}

/*
 * A reply bounced for good (the answer marked its address bouncing): the
 * desks following its conversation see it on the message
 * (conversation.delivery, as the outbox sender tells the rest).
 */
static void
tell_bounced(struct email_intake *m, const struct item *it, const PGresult *res,
             json_t *answer)
{
	uint64_t conv = strtoull(PQgetvalue(res, 0, 1), NULL, 10),
	         seq = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
	const char *to = PQgetvalue(res, 0, 3);
	json_t *hook, *ev;
	char cs[24];

	if (m->bus == NULL || conv == 0 || seq == 0 ||
	    json_array_size(json_object_get(answer, "bouncing")) == 0)
		return;
	hook = json_loads(it->hook_data, 0, NULL);
	snprintf(cs, sizeof(cs), "%llu", (unsigned long long)conv);
	ev = json_pack("{s:s, s:s, s:I, s:{s:s, s:s, s:b, s:s?}}", "type",
	               "conversation.delivery", "conversation", cs, "seq",
	               (json_int_t)seq, "delivery", "status",
	               PQgetvalue(res, 0, 4), "to", to, "bounced", 1,
	               "bounce_reason", diagnostic(hook, to));
	if (ev != NULL)
		bus_publish(m->bus, conv, 0, ev, NULL, NULL, NULL, NULL);
	json_decref(ev);
	json_decref(hook);
}

static void
on_bounce(void *arg, PGresult *res, const char *err)
{
	struct item *it = arg;
	struct email_intake *m = it->m;
	struct req *r = m->serving;
	json_t *a;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		fail_req(r, err != NULL ? err : PQresultErrorMessage(res));
		item_done(m, r);
		return;
	}
	it->stored = 1;
	a = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!json_is_true(json_object_get(a, "repeat"))) {
		(*m->bounces)++;
		tell_bounced(m, it, res, a);
	}
	gw_info("email.bounce",
	        "mailbox=%s uid=%u matched=%lld bouncing=%zu repeat=%d",
	        m->c->name, it->uid,
	        (long long)json_integer_value(json_object_get(a, "matched")),
	        json_array_size(json_object_get(a, "bouncing")),
	        json_is_true(json_object_get(a, "repeat")));
	json_decref(a);
	item_done(m, r);
}

static const char *
opened_name(enum ingest_opened o)
{
	static const char *const names[] = {"existing", "new", "reopened",
	                                    "followed"};

	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

static void
on_ingested(void *arg, const struct ingest_result *res)
{
	struct item *it = arg;
	struct email_intake *m = it->m;
	struct req *r = m->serving;
	json_t *h;

	if (res->status != INGEST_OK) {
		fail_req(r, res->why != NULL ? res->why : "not stored");
		gw_warn("email.not_stored",
		        "mailbox=%s uid=%u code=%s reason=\"%s\" (left in the "
		        "mailbox; tried again)",
		        m->c->name, it->uid, res->code ? res->code : "",
		        res->why ? res->why : "");
		item_done(m, r);
		return;
	}
	it->stored = 1;
	(*m->imported)++;
	h = res->hook != NULL ? json_loads(res->hook, 0, NULL) : NULL;
	gw_info("email.imported",
	        "mailbox=%s uid=%u conversation=%llu reference=%s opened=%s "
	        "repeated=%d ack=%s",
	        m->c->name, it->uid, (unsigned long long)res->conversation,
	        res->reference ? res->reference : "", opened_name(res->opened),
	        res->repeated,
	        json_string_value(json_object_get(h, "ack"))
	                ? json_string_value(json_object_get(h, "ack"))
	                : "");
	json_decref(h);
	item_done(m, r);
}

static void
submit(struct email_intake *m, struct item *it)
{
	const struct email_normal *n = &it->n;
	struct ingest_msg msg;
	char ext[32];
	const char *why = NULL;

	snprintf(ext, sizeof(ext), "%u:%u", m->serving->uidvalidity, it->uid);
	memset(&msg, 0, sizeof(msg));
	msg.channel = "email";
	msg.source = m->source;
	msg.external_id = ext;
	msg.name = n->name;
	msg.ids = n->has_id ? &n->id : NULL;
	msg.nids = n->has_id ? 1 : 0;
	msg.thread_find = (const char *const *)n->find;
	msg.nthread_find = n->nfind;
	msg.thread_add = (const char *const *)n->add;
	msg.nthread_add = n->nadd;
	msg.reference = n->reference[0] != '\0' ? n->reference : NULL;
	msg.queue = m->c->queue;
	msg.subject = n->subject;
	msg.body = n->body;
	msg.metadata = n->metadata;
	msg.hook = "email.import";
	msg.hook_data = it->hook_data;
	if (ingest_submit(m->in, &msg, on_ingested, it, &why) != INGEST_OK) {
		fail_req(m->serving, why != NULL ? why : "not submitted");
		gw_warn("email.not_stored",
		        "mailbox=%s uid=%u reason=\"%s\" (left in the mailbox; "
		        "tried again)",
		        m->c->name, it->uid, why ? why : "");
		item_done(m, m->serving);
	}
}

/* The duplicates are known: each mail recorded or submitted. */
static void
on_dupes(void *arg, PGresult *res, const char *err)
{
	struct email_intake *m = arg;
	struct req *r = m->serving;
	const char *params[2];
	unsigned long uid;
	size_t i, k;
	int rows;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_req(r, err != NULL ? err : PQresultErrorMessage(res));
		answer(m, r);
		return;
	}
	rows = PQntuples(res);
	for (k = 0; k < (size_t)rows; k++) {
		uid = strtoul(PQgetvalue(res, (int)k, 0), NULL, 10);
		for (i = 0; i < r->n; i++)
			if (r->items[i].uid == uid)
				r->items[i].dup = 1;
	}
	r->pending = (unsigned)r->n + 1;
	for (i = 0; i < r->n; i++) {
		struct item *it = &r->items[i];

		if (!it->dup && !it->bounce) {
			submit(m, it);
			continue;
		}
		params[0] = it->hook_data;
		params[1] = "duplicate";
		if ((it->dup ? db_query(m->db, RECORD_SQL, 2, params,
		                        on_recorded, it)
		             : db_query(m->db, BOUNCE_SQL, 1, params, on_bounce,
		                        it)) != 0) {
			fail_req(r, "database unavailable");
			item_done(m, r);
		}
	}
	item_done(m, r);
}

static void
serve_import(struct email_intake *m, struct req *r)
{
	json_t *a = json_array();
	const char *params[3];
	char uv[16], *items;
	size_t i;

	r->ok = 1;
	for (i = 0; i < r->n; i++)
		json_array_append_new(a, json_pack("{s:I, s:s, s:s?}", "uid",
		                                   (json_int_t)r->items[i].uid,
		                                   "sha256", r->items[i].sha,
		                                   "message_id",
		                                   r->items[i].rfc_mid));
	items = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	snprintf(uv, sizeof(uv), "%u", r->uidvalidity);
	params[0] = m->c->name;
	params[1] = uv;
	params[2] = items;
	if (items == NULL ||
	    db_query(m->db, DUPES_SQL, 3, params, on_dupes, m) != 0) {
		fail_req(r, "database unavailable");
		answer(m, r);
	}
	free(items);
}

static void
on_marked(void *arg, PGresult *res, const char *err)
{
	struct email_intake *m = arg;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		gw_warn("email.mark_unrecorded",
		        "mailbox=%s reason=\"%s\" (marked again later)",
		        m->c->name, err ? err : PQresultErrorMessage(res));
	else
		m->serving->ok = 1;
	answer(m, m->serving);
}

static void
serve_marked(struct email_intake *m, struct req *r)
{
	json_t *a = json_array();
	const char *params[3];
	char uv[16], *uids;
	size_t i;

	for (i = 0; i < r->nuids; i++)
		json_array_append_new(a, json_integer(r->uids[i]));
	uids = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	snprintf(uv, sizeof(uv), "%u", r->uidvalidity);
	params[0] = m->c->name;
	params[1] = uv;
	params[2] = uids;
	if (uids == NULL ||
	    db_query(m->db, MARKED_SQL, 3, params, on_marked, m) != 0)
		answer(m, r);
	free(uids);
}

static void
serve(struct email_intake *m, struct req *r)
{
	const char *params[2];
	char uv[16];

	m->serving = r;
	r->ok = 0;
	r->why[0] = '\0';
	if (m->closing) {
		fail_req(r, "shutting down");
		answer(m, r);
		return;
	}
	if (r->kind == REQ_IMPORT) {
		serve_import(m, r);
		return;
	}
	if (r->kind == REQ_MARKED) {
		serve_marked(m, r);
		return;
	}
	snprintf(uv, sizeof(uv), "%u", r->uidvalidity);
	params[0] = m->c->name;
	params[1] = uv;
	if (db_query(m->db, CURSOR_SQL, 2, params, on_cursor, m) != 0) {
		fail_req(r, "database unavailable");
		answer(m, r);
	}
}

static void
on_closed(uv_handle_t *h)
{
	struct email_intake *m = h->data;

	email_oauth_free(m->oauth);
	close(m->wake[0]);
	close(m->wake[1]);
	uv_cond_destroy(&m->cond);
	uv_mutex_destroy(&m->mu);
	free(m->instance);
	free(m->source);
	free(m->lease_key);
	free(m);
}

static const char *
state_name(enum state s)
{
	static const char *const names[] = {"starting", "standby", "ok",
	                                    "error"};

	return names[s];
}

/* The thread asked for something, changed state, or ended. */
static void
on_async(uv_async_t *h)
{
	struct email_intake *m = h->data;
	struct req *r;
	enum state st;
	char why[ERR_MAX];
	int exited;

	uv_mutex_lock(&m->mu);
	r = m->req;
	m->req = NULL;
	st = m->state;
	snprintf(why, sizeof(why), "%s", m->error);
	exited = m->exited;
	uv_mutex_unlock(&m->mu);
	if (st != m->logged ||
	    (st == ST_ERROR && strcmp(why, m->logged_why) != 0)) {
		m->logged = st;
		snprintf(m->logged_why, sizeof(m->logged_why), "%s", why);
		if (st == ST_ERROR)
			gw_error("email.mailbox_error",
			         "mailbox=%s reason=\"%s\" (nothing is lost: "
			         "mail stays on the server; tried again)",
			         m->c->name, why);
		else
			gw_info("email.mailbox_state", "mailbox=%s state=%s",
			        m->c->name, state_name(st));
	}
	if (r != NULL)
		serve(m, r);
	if (exited && m->closing && m->serving == NULL) {
		uv_thread_join(&m->thread);
		uv_close((uv_handle_t *)&m->async, on_closed);
	}
}

static void
on_lease(void *arg, int is_held, const char *holder)
{
	struct email_intake *m = arg;

	uv_mutex_lock(&m->mu);
	m->held = is_held;
	snprintf(m->holder, sizeof(m->holder), "%s", holder ? holder : "");
	uv_mutex_unlock(&m->mu);
	wake(m);
}

struct email_intake *
email_intake_new(uv_loop_t *loop, struct db *db, struct ingest *in,
                 struct kv *kv, struct bus *bus, const char *instance,
                 const struct email_mailbox_config *c)
{
	struct email_intake *m = xcalloc(1, sizeof(*m));
	struct kv_lease_options lo;
	char err[256], labels[128];
	int i;

	m->loop = loop;
	m->db = db;
	m->in = in;
	m->bus = bus;
	m->c = c;
	m->instance = xstrdup(instance);
	m->source = xasprintf("email:%s", c->name);
	m->lease_key = xasprintf("sb:lease:email:%s", c->name);
	m->logged = ST_STARTING;
	if (pipe(m->wake) != 0)
		fatalx("email intake: pipe: %s", strerror(errno));
	for (i = 0; i < 2; i++)
		if (fcntl(m->wake[i], F_SETFL, O_NONBLOCK) != 0 ||
		    fcntl(m->wake[i], F_SETFD, FD_CLOEXEC) != 0)
			fatalx("email intake: pipe: %s", strerror(errno));
	uv_mutex_init(&m->mu);
	uv_cond_init(&m->cond);
	uv_async_init(loop, &m->async, on_async);
	m->async.data = m;
	m->oauth = email_config_oauth(&c->cred, err, sizeof(err));
	if (m->oauth == NULL && err[0] != '\0')
		gw_error("email.oauth_unusable", "mailbox=%s reason=\"%s\"",
		         c->name, err);
	memset(&lo, 0, sizeof(lo));
	lo.key = m->lease_key;
	lo.holder = m->instance;
	lo.ttl_ms = c->lease_s * 1000;
	m->lease = kv_lease_new(loop, kv, &lo, on_lease, m);
	if (m->lease == NULL)
		fatalx("email intake: the lease's options");
	snprintf(labels, sizeof(labels), "mailbox=\"%s\",kind=\"message\"",
	         c->name);
	m->imported = gw_metrics_series(
	        "switchboard_email_imported_total",
	        "Mail taken from a mailbox, by what it became.", labels);
	snprintf(labels, sizeof(labels), "mailbox=\"%s\",kind=\"duplicate\"",
	         c->name);
	m->duplicates = gw_metrics_series("switchboard_email_imported_total",
	                                  NULL, labels);
	snprintf(labels, sizeof(labels), "mailbox=\"%s\",kind=\"bounce\"",
	         c->name);
	m->bounces = gw_metrics_series("switchboard_email_imported_total", NULL,
	                               labels);
	return m;
}

void
email_intake_start(struct email_intake *m)
{
	if (uv_thread_create(&m->thread, worker, m) != 0)
		fatalx("email intake: cannot start the mailbox's thread");
	m->thread_started = 1;
	kv_lease_start(m->lease);
	gw_info("email.mailbox_started",
	        "mailbox=%s host=%s port=%u tls=%s folder=\"%s\" queue=%s "
	        "after=%s",
	        m->c->name, m->c->host, m->c->port,
	        m->c->starttls ? "starttls" : "implicit", m->c->folder,
	        m->c->queue, m->c->move_to != NULL ? "move" : "seen");
}

const char *
email_intake_name(const struct email_intake *m)
{
	return m->c->name;
}

int
email_intake_status(const struct email_intake *m, char *buf, size_t len)
{
	struct email_intake *mm = (struct email_intake *)m;
	int ok;

	uv_mutex_lock(&mm->mu);
	ok = m->state != ST_ERROR;
	if (m->state == ST_ERROR)
		snprintf(buf, len, "error: %s", m->error);
	else if (m->state == ST_STANDBY)
		snprintf(buf, len, "standby (held by %s)",
		         m->holder[0] != '\0' ? m->holder : "nobody yet");
	else
		snprintf(buf, len, "%s", state_name(m->state));
	uv_mutex_unlock(&mm->mu);
	return ok;
}

/* s with Prometheus label escapes into out. */
static void
label_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			out[o++] = '\\';
			out[o++] = *s == '\n' ? 'n' : *s;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
}

char *
email_intake_metrics(struct email_intake *const *v, size_t n)
{
	char *up = xstrdup(""), *lease = xstrdup(""), *t, holder[260];
	size_t i;

	if (n == 0) {
		free(lease);
		return up;
	}
	for (i = 0; i < n; i++) {
		uv_mutex_lock(&v[i]->mu);
		label_escape(v[i]->holder, holder, sizeof(holder));
		t = xasprintf("%sswitchboard_email_mailbox_up{mailbox=\"%s\"} "
		              "%d\n",
		              up, v[i]->c->name, v[i]->state == ST_OK);
		free(up);
		up = t;
		t = xasprintf(
		        "%sswitchboard_email_mailbox_lease{mailbox=\"%s\","
		        "holder=\"%s\"} %d\n",
		        lease, v[i]->c->name, holder, v[i]->held);
		free(lease);
		lease = t;
		uv_mutex_unlock(&v[i]->mu);
	}
	t = xasprintf("# HELP switchboard_email_mailbox_up 1 while this "
	              "instance works the mailbox without error.\n"
	              "# TYPE switchboard_email_mailbox_up gauge\n%s"
	              "# HELP switchboard_email_mailbox_lease 1 on the "
	              "instance holding the mailbox's lease; holder: who "
	              "Redis names.\n"
	              "# TYPE switchboard_email_mailbox_lease gauge\n%s",
	              up, lease);
	free(up);
	free(lease);
	return t;
}

void
email_intake_free(struct email_intake *m)
{
	if (m == NULL)
		return;
	m->closing = 1;
	kv_lease_free(m->lease);
	m->lease = NULL;
	uv_mutex_lock(&m->mu);
	m->stop = 1;
	m->held = 0;
	if (m->session != NULL)
		email_imap_abort(m->session);
	uv_mutex_unlock(&m->mu);
	wake(m);
	if (!m->thread_started) {
		m->exited = 1;
		uv_close((uv_handle_t *)&m->async, on_closed);
		return;
	}
	/* on_async joins the thread once it has ended. */
	uv_async_send(&m->async);
}
