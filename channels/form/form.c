/*
 * form.c: the web-form channel (form.h): mounts POST /hooks/forms/{form},
 * then per request: per-address rate, form lookup, signature (before the
 * body is looked at), parse, ingest; the 2xx in ingest's callback, after
 * COMMIT. Loop thread only. Each submission in ingest is a struct sub that
 * names its request by id; the channel lives until the last is answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "form.h"
#include "form_config.h"
#include "form_parse.h"
#include "log.h"
#include "metrics.h"
#include "signed_hook.h"
#include "xmalloc.h"

/* Seconds a sender is told to wait before retrying a 503. */
#define RETRY_AFTER_S 5
/* Addresses counted in one window; more pass uncounted (logged once). */
#define RATE_SLOTS 8192
#define ADDR_MAX   64

/* What became of a submission: the result label of the counter. */
enum form_result {
	FORM_CREATED = 0,
	FORM_REPEATED,
	FORM_UNAUTHORIZED,
	FORM_MALFORMED,
	FORM_REFUSED,
	FORM_RETRY,
	FORM_RATE_LIMITED,
	FORM_RESULTS,
};
static const char *const result_names[FORM_RESULTS] = {
        "created", "repeated",    "unauthorized", "malformed",
        "refused", "unavailable", "rate_limited",
};

struct rate_slot {
	char addr[ADDR_MAX];
	unsigned count;
};

struct form {
	uv_loop_t *loop;
	struct gw_http *http;
	struct ingest *ingest;
	const struct form_config *fc;
	/* per form and result */
	uint64_t *(*counters)[FORM_RESULTS];
	/* the per-address window: open addressing, cleared when it rolls */
	struct rate_slot *slots;
	size_t nslots;
	uint64_t window_start; /* uv_now, ms */
	int rate_full_logged;
	unsigned overflow_count; /* this window, addresses beyond the table */
	unsigned pending;
	int closing;
};

/*
 * One submission in ingest, answered by request id. Ingest copies what it
 * stores, so the parsed body and its rendering are freed once submitted.
 */
struct sub {
	struct form *f;
	unsigned long req;
	size_t form_ix;
};

static const char *const form_headers[] = {
        "X-Switchboard-Timestamp",
        "X-Switchboard-Signature",
        NULL,
};

static void
count(struct form *f, size_t form_ix, enum form_result r)
{
	(*f->counters[form_ix][r])++;
}

static void
answer(struct form *f, unsigned long req, int status, const char *body,
       int retry)
{
	char secs[16];
	struct gw_http_field ra = {"Retry-After", secs};
	struct gw_http_response res = {
	        status,       NULL, body, strlen(body), retry ? &ra : NULL,
	        retry ? 1 : 0};

	snprintf(secs, sizeof(secs), "%d", retry);
	gw_http_answer(f->http, req, &res);
}

/* Answers a JSON object (stolen) and frees it; retry: Retry-After, or 0. */
static void
answer_json(struct form *f, unsigned long req, int status, json_t *o, int retry)
{
	char *s = json_dumps(o, JSON_COMPACT);

	answer(f, req, status, s != NULL ? s : "{}", retry);
	free(s);
	json_decref(o);
}

static unsigned
fnv1a(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * 1 when addr may send one more request in this window. The window is
 * fixed (forms.window seconds) and per instance: a sender is held to
 * requests_per_address on each daemon it reaches.
 */
static int
rate_ok(struct form *f, const char *addr)
{
	uint64_t now = uv_now(f->loop);
	size_t i, n;
	struct rate_slot *s;

	if (now - f->window_start >= (uint64_t)f->fc->window * 1000) {
		memset(f->slots, 0, f->nslots * sizeof(*f->slots));
		f->window_start = now;
		f->rate_full_logged = 0;
		f->overflow_count = 0;
	}
	i = fnv1a(addr) & (f->nslots - 1);
	for (n = 0; n < f->nslots; n++, i = (i + 1) & (f->nslots - 1)) {
		s = &f->slots[i];
		if (s->addr[0] == '\0')
			snprintf(s->addr, sizeof(s->addr), "%s", addr);
		else if (strncmp(s->addr, addr, sizeof(s->addr) - 1) != 0)
			continue;
		if (s->count >= (unsigned)f->fc->requests_per_address)
			return 0;
		s->count++;
		return 1;
	}
	/*
	 * Every slot taken this window (many addresses, e.g. one network's
	 * IPv6 range): the addresses not in the table share one allowance,
	 * so filling the table buys no unlimited sending.
	 */
	if (!f->rate_full_logged) {
		gw_warn("form.rate_table_full", "slots=%zu", f->nslots);
		f->rate_full_logged = 1;
	}
	if (f->overflow_count >= (unsigned)f->fc->requests_per_address)
		return 0;
	f->overflow_count++;
	return 1;
}

/* Seconds until the per-address window rolls (at least 1). */
static int
rate_retry_after(const struct form *f)
{
	uint64_t used = (uv_now(f->loop) - f->window_start) / 1000;

	return used >= (uint64_t)f->fc->window ? 1 : f->fc->window - (int)used;
}

/* A readable rendering of the fields: for search and transcripts. */
static char *
render_body(const struct form_def *def, const struct form_sub *sub)
{
	const char *title = sub->title != NULL ? sub->title : def->slug;
	size_t n = strlen(title) + 2, i, off;
	char *b;

	for (i = 0; i < sub->nfields; i++)
		n += strlen(sub->fields[i].label) +
		     strlen(sub->fields[i].value) + 3;
	b = xmalloc(n + 1);
	off = (size_t)snprintf(b, n + 1, "%s\n", title);
	if (sub->nfields > 0)
		b[off++] = '\n';
	for (i = 0; i < sub->nfields; i++)
		off += (size_t)snprintf(b + off, n + 1 - off, "%s: %s\n",
		                        sub->fields[i].label,
		                        sub->fields[i].value);
	b[off] = '\0';
	return b;
}

/* {"form", "title", "fields": [{label, value}], "submitted_at"?} */
static char *
render_metadata(const struct form_def *def, const struct form_sub *sub)
{
	json_t *m = json_object(), *fields = json_array(), *fv;
	char when[80];
	time_t t;
	struct tm tm;
	size_t i;
	char *s;

	json_object_set_new(m, "form", json_string(def->slug));
	json_object_set_new(m, "title",
	                    sub->title != NULL ? json_string(sub->title)
	                                       : json_null());
	for (i = 0; i < sub->nfields; i++) {
		fv = json_object();
		json_object_set_new(fv, "label",
		                    json_string(sub->fields[i].label));
		json_object_set_new(fv, "value",
		                    json_string(sub->fields[i].value));
		json_array_append_new(fields, fv);
	}
	json_object_set_new(m, "fields", fields);
	if (sub->submitted_ms >= 0) {
		t = (time_t)(sub->submitted_ms / 1000);
		gmtime_r(&t, &tm);
		snprintf(when, sizeof(when),
		         "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec,
		         (int)(sub->submitted_ms % 1000));
		json_object_set_new(m, "submitted_at", json_string(when));
	}
	s = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	if (s == NULL)
		fatalx("form: out of memory rendering metadata");
	return s;
}

static void
sub_free(struct sub *op)
{
	struct form *f = op->f;

	free(op);
	f->pending--;
	if (f->closing && f->pending == 0)
		form_free(f);
}

static void on_ingested(void *arg, const struct ingest_result *res);

/* Hands op to ingest, with its submission fs rendered as body and meta. */
static enum ingest_status
sub_send(struct sub *op, const struct form_sub *fs, const char *body,
         const char *meta, const char **why)
{
	const struct form_def *def = &op->f->fc->forms[op->form_ix];
	char source[8 + FORM_SLUG_MAX];
	struct ingest_msg m;

	memset(&m, 0, sizeof(m));
	snprintf(source, sizeof(source), "form:%s", def->slug);
	m.channel = "web";
	m.source = source;
	m.external_id = fs->submission_id;
	m.name = fs->name;
	m.ids = fs->ids;
	m.nids = fs->nids;
	m.queue = def->queue;
	m.subject = fs->subject != NULL    ? fs->subject
	            : def->subject != NULL ? def->subject
	            : fs->title != NULL    ? fs->title
	                                   : def->slug;
	m.body = body;
	m.metadata = meta;
	return ingest_submit(op->f->ingest, &m, on_ingested, op, why);
}

/* Answers a submission ingest did not store: 503 or 422. */
static void
not_stored(struct form *f, unsigned long req, size_t form_ix,
           enum ingest_status st, const char *code, const char *why)
{
	const char *slug = f->fc->forms[form_ix].slug;

	why = why != NULL ? why : "";
	if (st == INGEST_RETRY) {
		count(f, form_ix, FORM_RETRY);
		gw_warn("form.refused", "form=%s reason=unavailable why=\"%s\"",
		        slug, why);
		answer_json(f, req, 503,
		            json_pack("{ss}", "error", "unavailable"),
		            RETRY_AFTER_S);
		return;
	}
	code = code != NULL ? code : "refused";
	count(f, form_ix, FORM_REFUSED);
	gw_warn("form.refused", "form=%s reason=%s why=\"%s\"", slug, code,
	        why);
	answer_json(f, req, 422,
	            json_pack("{ssss}", "error", code, "reason", why), 0);
}

/* Ingest's answer, after COMMIT (or not stored at all). */
static void
on_ingested(void *arg, const struct ingest_result *res)
{
	struct sub *op = arg;
	struct form *f = op->f;
	const char *why = res->why;
	enum ingest_status st = res->status;
	json_t *o;

	if (st == INGEST_OK) {
		o = json_pack("{sIsssb}", "conversation",
		              (json_int_t)res->conversation, "reference",
		              res->reference != NULL ? res->reference : "",
		              "repeated", res->repeated);
		count(f, op->form_ix,
		      res->repeated ? FORM_REPEATED : FORM_CREATED);
		gw_info("form.accepted", "form=%s conv=%llu seq=%llu repeat=%d",
		        f->fc->forms[op->form_ix].slug,
		        (unsigned long long)res->conversation,
		        (unsigned long long)res->seq, res->repeated);
		answer_json(f, op->req, res->repeated ? 200 : 201, o, 0);
		goto out;
	}
	/* Two instances storing the same submission at once: the writer
	 * tries the loser again (db_commit.h), which then finds the repeat. */
	not_stored(f, op->req, op->form_ix, st, res->code, why);
out:
	sub_free(op);
}

/*
 * Hands a parsed submission (cleared: sub is empty after) to ingest;
 * answers now unless ingest took it.
 */
static void
submit(struct form *f, const struct gw_http_request *req, size_t form_ix,
       struct form_sub *sub)
{
	const struct form_def *def = &f->fc->forms[form_ix];
	struct sub *op = xcalloc(1, sizeof(*op));
	const char *why = NULL;
	char *body = render_body(def, sub), *meta = render_metadata(def, sub);
	enum ingest_status st;

	op->f = f;
	op->req = req->id;
	op->form_ix = form_ix;
	f->pending++;
	st = sub_send(op, sub, body, meta, &why);
	free(body);
	free(meta);
	form_sub_clear(sub);
	if (st == INGEST_OK)
		return;
	not_stored(f, req->id, form_ix, st, NULL, why);
	sub_free(op);
}

static const char *
header(const struct gw_http_request *req, size_t i)
{
	if (i >= req->nheaders || req->headers[i].count == 0)
		return NULL;
	return req->headers[i].value;
}

/* POST /hooks/forms/{form} */
static void
on_request(void *arg, const struct gw_http_request *req)
{
	struct form *f = arg;
	const char *slug = req->path + strlen(FORM_PATH_PREFIX);
	const struct form_def *def;
	struct form_sub sub;
	struct form_error err;
	enum signed_hook_result sr;
	size_t ix;
	json_t *o;

	if (f->closing) {
		answer(f, req->id, 503, "{\"error\":\"unavailable\"}",
		       RETRY_AFTER_S);
		return;
	}
	def = strchr(slug, '/') == NULL
	              ? form_config_find(f->fc, slug, strlen(slug))
	              : NULL;
	/* Every request counts, to a form or not, signed or not. */
	if (!rate_ok(f, req->peer)) {
		if (def != NULL)
			count(f, (size_t)(def - f->fc->forms),
			      FORM_RATE_LIMITED);
		gw_info("form.refused", "form=%s reason=rate peer=%s",
		        def != NULL ? def->slug : "-", req->peer);
		answer(f, req->id, 429, "{\"error\":\"rate_limited\"}",
		       rate_retry_after(f));
		return;
	}
	if (def == NULL) {
		gw_info("form.refused", "reason=unknown_form peer=%s",
		        req->peer);
		answer(f, req->id, 404, "{\"error\":\"unknown_form\"}", 0);
		return;
	}
	ix = (size_t)(def - f->fc->forms);
	/* Nothing of the body is looked at before it is verified. */
	sr = signed_hook_verify(header(req, 0), header(req, 1), req->body,
	                        req->body_len, def->keys, def->nkeys,
	                        (int64_t)time(NULL));
	if (sr != SIGNED_HOOK_OK) {
		count(f, ix, FORM_UNAUTHORIZED);
		gw_info("form.refused", "form=%s reason=signature_%s peer=%s",
		        def->slug, signed_hook_reason(sr), req->peer);
		answer_json(f, req->id, 401,
		            json_pack("{ssss}", "error", "signature", "reason",
		                      signed_hook_reason(sr)),
		            0);
		return;
	}
	if (form_parse(req->body, req->body_len, &sub, &err) < 0) {
		count(f, ix, FORM_MALFORMED);
		gw_info("form.refused", "form=%s reason=%s field=%s index=%ld",
		        def->slug, err.code, err.field ? err.field : "-",
		        err.index);
		o = json_pack("{ssss}", "error", err.code, "reason", err.why);
		if (err.field != NULL)
			json_object_set_new(o, "field", json_string(err.field));
		if (err.index >= 0)
			json_object_set_new(
			        o, "index",
			        json_integer((json_int_t)err.index));
		answer_json(f, req->id, 400, o, 0);
		return;
	}
	submit(f, req, ix, &sub);
}

struct form *
form_new(uv_loop_t *loop, const struct gw_config *cfg, struct gw_http *h,
         struct ingest *in)
{
	struct form *f = xcalloc(1, sizeof(*f));
	struct gw_http_route r;
	char labels[128];
	size_t i, k;

	f->loop = loop;
	f->http = h;
	f->ingest = in;
	f->fc = form_config(cfg);
	f->nslots = RATE_SLOTS;
	f->slots = xcalloc(f->nslots, sizeof(*f->slots));
	f->window_start = uv_now(loop);
	f->counters = xcalloc(f->fc->nforms, sizeof(*f->counters));
	for (i = 0; i < f->fc->nforms; i++)
		for (k = 0; k < FORM_RESULTS; k++) {
			snprintf(labels, sizeof(labels),
			         "form=\"%s\",result=\"%s\"",
			         f->fc->forms[i].slug, result_names[k]);
			f->counters[i][k] = gw_metrics_series(
			        "switchboard_form_submissions_total",
			        "Web-form submissions by form and result.",
			        labels);
		}
	memset(&r, 0, sizeof(r));
	r.methods = GW_HTTP_POST;
	r.path = FORM_PATH_PREFIX;
	r.flags = GW_HTTP_PREFIX;
	r.body_max = f->fc->body_max;
	r.headers = form_headers;
	r.handler = on_request;
	r.arg = f;
	gw_http_route_add(h, &r);
	return f;
}

void
form_free(struct form *f)
{
	if (f == NULL)
		return;
	f->closing = 1;
	if (f->pending > 0)
		return;
	free(f->counters);
	free(f->slots);
	free(f);
}
