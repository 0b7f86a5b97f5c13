/*
 * sms.c: the SMS channel's webhooks and desk part (sms.h). Loop thread
 * only. A request in flight is a struct op that names its request by id;
 * the module lives until the last is answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "conversation.h"
#include "log.h"
#include "metrics.h"
#include "sms.h"
#include "sms_config.h"
#include "sms_hook.h"
#include "sms_sig.h"
#include "xmalloc.h"

#define RETRY_AFTER_S 5
#define URL_BUF       (SMS_URL_MAX + 4096)

enum hook {
	HOOK_NOTIFY_INBOUND = 0,
	HOOK_NOTIFY_STATUS,
	HOOK_TWILIO_INBOUND,
	HOOK_TWILIO_STATUS,
	HOOKS,
};

static const char *const hook_paths[HOOKS] = {
        "/hooks/notify/inbound-sms",
        "/hooks/notify/status",
        "/hooks/twilio/sms",
        "/hooks/twilio/sms-status",
};
static const char *const hook_names[HOOKS] = {
        "notify_inbound",
        "notify_status",
        "twilio_inbound",
        "twilio_status",
};

enum result {
	R_STORED = 0,
	R_REPEATED,
	R_UNAUTHORIZED,
	R_MALFORMED,
	R_UNAVAILABLE,
	R_REFUSED,
	R_IGNORED,
	RESULTS,
};
static const char *const result_names[RESULTS] = {
        "stored",      "repeated", "unauthorized", "malformed",
        "unavailable", "refused",  "ignored",
};

static const char *const sms_headers[] = {
        "Authorization",
        "X-Twilio-Signature",
        NULL,
};

/* The receipts, a row set of the group-commit writer. */
static const struct db_rows RECEIPT_ROWS = {
        "SELECT n, repeat, changed, coalesce(conversation, 0),"
        " coalesce(message, 0), coalesce(receipt, ''), coalesce(detail, ''),"
        " coalesce(destination, '')"
        " FROM sb_sms_receipts($1::text[], $2::text[], $3::text[],"
        " $4::text[], $5::text[])",
        5,
};

static const char HISTORY_SQL[] =
        "SELECT jsonb_build_object('sms', sb_sms_reply_target($1::bigint))"
        "::text";

struct sms {
	uv_loop_t *loop;
	struct gw_http *http;
	struct ingest *ingest;
	struct db_commit *w;
	struct bus *bus;
	const struct sms_config *c;
	uint64_t *counters[HOOKS][RESULTS];
	struct conversation_channel_ops ops;
	unsigned pending;
	int closing;
};

struct op {
	struct sms *s;
	unsigned long req;
	enum hook hook;
};

static void
count(struct sms *s, enum hook h, enum result r)
{
	(*s->counters[h][r])++;
}

static void
answer(struct sms *s, unsigned long req, enum hook h, int status,
       const char *json_body, int retry)
{
	char secs[16];
	struct gw_http_field ra = {"Retry-After", secs};
	int twiml = status / 100 == 2 &&
	            (h == HOOK_TWILIO_INBOUND || h == HOOK_TWILIO_STATUS);
	const char *body = twiml ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	                           "<Response/>"
	                         : json_body;
	struct gw_http_response res = {
	        status,       twiml ? "text/xml" : NULL, body,
	        strlen(body), retry ? &ra : NULL,        retry ? 1 : 0};

	snprintf(secs, sizeof(secs), "%d", retry);
	gw_http_answer(s->http, req, &res);
}

static void
answer_error(struct sms *s, unsigned long req, enum hook h, int status,
             const char *code, const char *field, const char *why)
{
	json_t *o = json_pack("{ss}", "error", code);
	char *t;

	if (why != NULL)
		json_object_set_new(o, "reason", json_string(why));
	if (field != NULL)
		json_object_set_new(o, "field", json_string(field));
	t = json_dumps(o, JSON_COMPACT);
	answer(s, req, h, status, t != NULL ? t : "{}",
	       status == 503 ? RETRY_AFTER_S : 0);
	free(t);
	json_decref(o);
}

static void
op_free(struct op *op)
{
	struct sms *s = op->s;

	free(op);
	s->pending--;
	if (s->closing && s->pending == 0)
		sms_free(s);
}

static const char *
header(const struct gw_http_request *req, size_t i)
{
	if (i >= req->nheaders || req->headers[i].count == 0)
		return NULL;
	return req->headers[i].value;
}

/* ------------------------------------------------------------------ */
/* Who sent it                                                         */
/* ------------------------------------------------------------------ */

/*
 * The Notify senders whose callback token the request carries: a bit per
 * sender (bit i: senders[i]); 0 when none.
 */
static unsigned long
notify_senders(const struct sms *s, const struct gw_http_request *req)
{
	const char *authz = header(req, 0);
	unsigned long bits = 0;
	size_t i;

	for (i = 0; i < s->c->nsenders; i++) {
		const struct sms_sender *d = &s->c->senders[i];

		if (d->provider == SMS_NOTIFY &&
		    sms_sig_bearer(authz,
		                   (const char *const *)d->callback_tokens, 2))
			bits |= 1ul << i;
	}
	return bits;
}

/* The public URL Twilio signed: public_url + path (+ '?' query). */
static void
public_url(const struct sms *s, const struct gw_http_request *req, char *out,
           size_t len)
{
	snprintf(out, len, "%s%s%s%s", s->c->public_url, req->path,
	         req->query != NULL && req->query[0] != '\0' ? "?" : "",
	         req->query != NULL ? req->query : "");
}

/* The Twilio senders whose auth token signed the request (bits). */
static unsigned long
twilio_senders(const struct sms *s, const struct gw_http_request *req)
{
	const char *sig = header(req, 1);
	char url[URL_BUF];
	unsigned long bits = 0;
	size_t i, k;

	if (sig == NULL)
		return 0;
	public_url(s, req, url, sizeof(url));
	for (i = 0; i < s->c->nsenders; i++) {
		const struct sms_sender *d = &s->c->senders[i];

		if (d->provider != SMS_TWILIO)
			continue;
		for (k = 0; k < 2; k++)
			if (d->auth_tokens[k] != NULL &&
			    sms_sig_twilio_form(d->auth_tokens[k], url,
			                        req->body, req->body_len, sig))
				bits |= 1ul << i;
	}
	return bits;
}

/*
 * The sender a text came to: the one of provider p with number to among
 * bits (those that proved the request), else the first of bits (and, for
 * Twilio, of the account named).
 */
static const struct sms_sender *
sender_of(const struct sms *s, unsigned long bits, enum sms_provider p,
          const char *to, const char *account)
{
	const struct sms_sender *d = sms_config_by_number(s->c, p, to), *first;
	size_t i;

	if (d != NULL && (bits & (1ul << (size_t)(d - s->c->senders))))
		return d;
	first = NULL;
	for (i = 0; i < s->c->nsenders; i++) {
		d = &s->c->senders[i];
		if (!(bits & (1ul << i)))
			continue;
		if (p == SMS_TWILIO && account != NULL && account[0] != '\0' &&
		    strcmp(account, d->account_sid) != 0)
			continue;
		first = d;
		break;
	}
	return first;
}

/* ------------------------------------------------------------------ */
/* Inbound texts                                                       */
/* ------------------------------------------------------------------ */

static void
on_ingested(void *arg, const struct ingest_result *res)
{
	struct op *op = arg;
	struct sms *s = op->s;

	if (res->status == INGEST_OK) {
		count(s, op->hook, res->repeated ? R_REPEATED : R_STORED);
		gw_info("sms.received",
		        "hook=%s conv=%llu seq=%llu repeat=%d match=%s",
		        hook_names[op->hook],
		        (unsigned long long)res->conversation,
		        (unsigned long long)res->seq, res->repeated,
		        ingest_match_name(res->match));
		answer(s, op->req, op->hook, 200, "{\"ok\":true}", 0);
	} else if (res->status == INGEST_RETRY) {
		count(s, op->hook, R_UNAVAILABLE);
		gw_warn("sms.refused", "hook=%s reason=unavailable why=\"%s\"",
		        hook_names[op->hook], res->why ? res->why : "");
		answer_error(s, op->req, op->hook, 503, "unavailable", NULL,
		             NULL);
	} else {
		/* A queue that is gone or closed to SMS: the provider must
		 * not retry in vain, and the operator must see it. */
		count(s, op->hook, R_REFUSED);
		gw_warn("sms.refused", "hook=%s reason=%s why=\"%s\"",
		        hook_names[op->hook], res->code ? res->code : "refused",
		        res->why ? res->why : "");
		answer_error(s, op->req, op->hook, 422,
		             res->code ? res->code : "refused", NULL, res->why);
	}
	op_free(op);
}

/* {"sms": {...}} for the message's metadata. */
static char *
inbound_metadata(const struct sms_sender *d, const struct sms_inbound *m)
{
	json_t *o = json_pack(
	        "{s:{s:s, s:s, s:s?, s:s, s:s, s:s}}", "sms", "provider",
	        sms_provider_name(d->provider), "sender", d->name, "from",
	        m->from[0] ? m->from : NULL, "from_raw", m->from_raw, "to",
	        m->to[0] ? m->to : m->to_raw, "id", m->id);
	char *t;

	if (m->at_ms >= 0)
		json_object_set_new(json_object_get(o, "sms"), "received_at",
		                    json_integer(m->at_ms));
	t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return t;
}

static void
inbound(struct sms *s, const struct gw_http_request *req, enum hook h,
        const struct sms_sender *d, struct sms_inbound *m)
{
	struct ingest_attachment att[SMS_HOOK_MEDIA_MAX];
	struct ingest_msg im;
	struct identity id;
	struct op *op;
	char source[16], *meta, *data;
	const char *why = NULL;
	enum ingest_status st;
	json_t *o;
	size_t i;

	memset(&im, 0, sizeof(im));
	snprintf(source, sizeof(source), "sms:%s",
	         sms_provider_name(d->provider));
	im.channel = "sms";
	im.source = source;
	im.external_id = m->id;
	if (m->from[0] != '\0') {
		id.kind = IDENTITY_PHONE;
		snprintf(id.value, sizeof(id.value), "%s", m->from);
		im.ids = &id;
		im.nids = 1;
	}
	im.flags = INGEST_FIND_OPEN;
	im.queue = d->queue;
	im.subject = "Text message";
	im.body = m->text;
	memset(att, 0, sizeof(att));
	for (i = 0; i < m->nmedia; i++) {
		att[i].filename = "picture message";
		att[i].content_type = m->media_type[i];
		att[i].size = -1;
		att[i].location = m->media_url[i];
	}
	im.attachments = att;
	im.nattachments = m->nmedia;
	meta = inbound_metadata(d, m);
	im.metadata = meta;
	o = json_pack("{s:s?, s:s}", "phone", m->from[0] ? m->from : NULL,
	              "text", m->text);
	data = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	im.hook = "sms.inbound";
	im.hook_data = data;
	op = xcalloc(1, sizeof(*op));
	op->s = s;
	op->req = req->id;
	op->hook = h;
	s->pending++;
	st = ingest_submit(s->ingest, &im, on_ingested, op, &why);
	free(meta);
	free(data);
	if (st == INGEST_OK)
		return;
	count(s, h, st == INGEST_RETRY ? R_UNAVAILABLE : R_REFUSED);
	gw_warn("sms.refused", "hook=%s reason=%s why=\"%s\"", hook_names[h],
	        st == INGEST_RETRY ? "unavailable" : "refused", why ? why : "");
	if (st == INGEST_RETRY)
		answer_error(s, req->id, h, 503, "unavailable", NULL, NULL);
	else
		answer_error(s, req->id, h, 400, "refused", NULL, why);
	op_free(op);
}

/* ------------------------------------------------------------------ */
/* Receipts                                                            */
/* ------------------------------------------------------------------ */

/* A receipt moved a desk reply's state: the desks following it see it. */
static void
tell_desks(struct sms *s, const PGresult *res, int row)
{
	struct conversation_delivery d = {"sent", PQgetvalue(res, row, 7), NULL,
	                                  PQgetvalue(res, row, 5),
	                                  PQgetvalue(res, row, 6)};

	if (!s->closing)
		conversation_publish_delivery(
		        s->bus, strtoull(PQgetvalue(res, row, 3), NULL, 10),
		        strtoull(PQgetvalue(res, row, 4), NULL, 10), &d);
}

static void
on_receipt(void *arg, int ok, const PGresult *res, int row, const char *err)
{
	struct op *op = arg;
	struct sms *s = op->s;
	int repeat;

	if (!ok) {
		count(s, op->hook, R_UNAVAILABLE);
		gw_warn("sms.refused", "hook=%s reason=unavailable why=\"%s\"",
		        hook_names[op->hook], err ? err : "");
		answer_error(s, op->req, op->hook, 503, "unavailable", NULL,
		             NULL);
		op_free(op);
		return;
	}
	repeat = row >= 0 && PQgetvalue(res, row, 1)[0] == 't';
	count(s, op->hook, repeat ? R_REPEATED : R_STORED);
	if (row >= 0 && !repeat && PQgetvalue(res, row, 2)[0] == 't')
		tell_desks(s, res, row);
	else if (row >= 0 && !repeat && PQgetvalue(res, row, 3)[0] == '0')
		gw_info("sms.receipt_unmatched",
		        "hook=%s (stored; applied "
		        "if its send is recorded later)",
		        hook_names[op->hook]);
	answer(s, op->req, op->hook, 200, "{\"ok\":true}", 0);
	op_free(op);
}

static void
receipt(struct sms *s, const struct gw_http_request *req, enum hook h,
        const struct sms_sender *d, const struct sms_receipt *r)
{
	/* One row of the set (db_commit.h makes the arrays). */
	const char *vals[5] = {sms_provider_name(d->provider), r->id,
	                       r->reference, r->status, r->detail},
	           *why = NULL;
	struct op *op;

	op = xcalloc(1, sizeof(*op));
	op->s = s;
	op->req = req->id;
	op->hook = h;
	s->pending++;
	if (db_commit_submit_row(s->w, &RECEIPT_ROWS, vals, on_receipt, op,
	                         &why) == 0)
		return;
	count(s, h, R_UNAVAILABLE);
	gw_warn("sms.refused", "hook=%s reason=unavailable why=\"%s\"",
	        hook_names[h], why ? why : "");
	answer_error(s, req->id, h, 503, "unavailable", NULL, NULL);
	op_free(op);
}

/* ------------------------------------------------------------------ */
/* The requests                                                        */
/* ------------------------------------------------------------------ */

static void
malformed(struct sms *s, const struct gw_http_request *req, enum hook h,
          const struct sms_hook_error *err)
{
	count(s, h, R_MALFORMED);
	gw_info("sms.refused", "hook=%s reason=malformed code=%s field=%s",
	        hook_names[h], err->code, err->field ? err->field : "-");
	answer_error(s, req->id, h, 400, err->code, err->field, err->why);
}

static void
unauthorized(struct sms *s, const struct gw_http_request *req, enum hook h)
{
	int twilio = h == HOOK_TWILIO_INBOUND || h == HOOK_TWILIO_STATUS;

	count(s, h, R_UNAUTHORIZED);
	gw_info("sms.refused", "hook=%s reason=%s peer=%s", hook_names[h],
	        twilio ? "signature" : "token", req->peer);
	answer_error(s, req->id, h, twilio ? 403 : 401,
	             twilio ? "signature" : "token", NULL,
	             twilio ? "X-Twilio-Signature does not match"
	                    : "the bearer token is not one configured");
}

static enum hook
hook_of(const char *path)
{
	size_t i;

	for (i = 0; i < HOOKS; i++)
		if (strcmp(path, hook_paths[i]) == 0)
			return (enum hook)i;
	return HOOKS;
}

static void
on_request(void *arg, const struct gw_http_request *req)
{
	struct sms *s = arg;
	enum hook h = hook_of(req->path);
	struct sms_hook_error err = {"field", NULL, ""};
	struct sms_inbound m;
	struct sms_receipt r;
	struct http_form f = {NULL, 0};
	const struct sms_sender *d;
	unsigned long bits;
	const char *why = NULL;

	if (h == HOOKS)
		return (void)answer_error(s, req->id, HOOKS, 404, "not_found",
		                          NULL, NULL);
	if (s->closing)
		return (void)answer_error(s, req->id, h, 503, "unavailable",
		                          NULL, NULL);
	/* Nothing of the body is read before the provider is proven. */
	bits = h <= HOOK_NOTIFY_STATUS ? notify_senders(s, req)
	                               : twilio_senders(s, req);
	if (bits == 0)
		return unauthorized(s, req, h);
	if (h == HOOK_NOTIFY_INBOUND) {
		if (sms_hook_notify_inbound(req->body, req->body_len, &m,
		                            &err) != 0) {
			sms_inbound_clear(&m);
			return malformed(s, req, h, &err);
		}
		d = sender_of(s, bits, SMS_NOTIFY, m.to, NULL);
		inbound(s, req, h, d, &m);
		sms_inbound_clear(&m);
		return;
	}
	if (h == HOOK_NOTIFY_STATUS) {
		if (sms_hook_notify_status(req->body, req->body_len, &r,
		                           &err) != 0)
			return malformed(s, req, h, &err);
		d = sender_of(s, bits, SMS_NOTIFY, "", NULL);
		if (r.not_sms) {
			count(s, h, R_IGNORED);
			answer(s, req->id, h, 200,
			       "{\"ok\":true,\"ignored\":"
			       "\"not an SMS\"}",
			       0);
			return;
		}
		return receipt(s, req, h, d, &r);
	}
	if (http_form_parse(req->body, req->body_len, &f, &why) != 0) {
		http_form_clear(&f);
		err.code = "form";
		err.why = why;
		return malformed(s, req, h, &err);
	}
	if (h == HOOK_TWILIO_INBOUND) {
		if (sms_hook_twilio_inbound(&f, &m, &err) != 0) {
			sms_inbound_clear(&m);
			http_form_clear(&f);
			return malformed(s, req, h, &err);
		}
		d = sender_of(s, bits, SMS_TWILIO, m.to, m.account_sid);
		http_form_clear(&f);
		if (d == NULL) {
			sms_inbound_clear(&m);
			err.code = "account";
			err.field = "AccountSid";
			err.why = "not the account of a sender here";
			return malformed(s, req, h, &err);
		}
		inbound(s, req, h, d, &m);
		sms_inbound_clear(&m);
		return;
	}
	if (sms_hook_twilio_status(&f, &r, &err) != 0) {
		http_form_clear(&f);
		return malformed(s, req, h, &err);
	}
	http_form_clear(&f);
	d = sender_of(s, bits, SMS_TWILIO, "", r.account_sid);
	if (d == NULL) {
		err.code = "account";
		err.field = "AccountSid";
		err.why = "not the account of a sender here";
		return malformed(s, req, h, &err);
	}
	receipt(s, req, h, d, &r);
}

/* ------------------------------------------------------------------ */
/* The desk                                                            */
/* ------------------------------------------------------------------ */

/* The outbox row was queued with the message (migration 0035). */
static char *
reply(void *arg, const struct conversation_reply *r)
{
	(void)arg;
	(void)r;
	return NULL;
}

/* The sender's length cap, which only the configuration knows. */
static void
history(void *arg, uint64_t conv, json_t *answer)
{
	struct sms *s = arg;
	json_t *o = json_object_get(answer, "sms");
	const char *name = json_string_value(json_object_get(o, "sender"));
	const struct sms_sender *d =
	        name != NULL ? sms_config_sender(s->c, name) : NULL;

	(void)conv;
	if (!json_is_object(o))
		return;
	if (d == NULL) /* a left message: the first sender (sms.h) */
		d = &s->c->senders[0];
	json_object_set_new(o, "max_length", json_integer(d->max_length));
}

struct sms *
sms_new(uv_loop_t *loop, const struct gw_config *cfg, struct gw_http *h,
        struct ingest *in, struct db_commit *w, struct bus *bus,
        struct conversation *cv)
{
	struct sms *s = xcalloc(1, sizeof(*s));
	struct gw_http_route r;
	char labels[96];
	size_t i, k;

	s->loop = loop;
	s->http = h;
	s->ingest = in;
	s->w = w;
	s->bus = bus;
	s->c = sms_config(cfg);
	for (i = 0; i < HOOKS; i++)
		for (k = 0; k < RESULTS; k++) {
			snprintf(labels, sizeof(labels),
			         "hook=\"%s\",result=\"%s\"", hook_names[i],
			         result_names[k]);
			s->counters[i][k] = gw_metrics_series(
			        "switchboard_sms_webhooks_total",
			        "SMS provider webhooks by hook and result.",
			        labels);
		}
	if (s->c->nsenders == 0)
		return s; /* no sender: no webhook, and no reply can be sent */
	s->ops.reply = reply;
	s->ops.history_sql = HISTORY_SQL;
	s->ops.history = history;
	s->ops.arg = s;
	if (cv != NULL)
		conversation_channel_register(cv, "sms", &s->ops);
	for (i = 0; i < HOOKS; i++) {
		memset(&r, 0, sizeof(r));
		r.methods = GW_HTTP_POST;
		r.path = hook_paths[i];
		r.body_max = 64 * 1024;
		r.headers = sms_headers;
		r.handler = on_request;
		r.arg = s;
		gw_http_route_add(h, &r);
	}
	return s;
}

void
sms_free(struct sms *s)
{
	if (s == NULL)
		return;
	s->closing = 1;
	if (s->pending > 0)
		return;
	free(s);
}
