/*
 * voice.c: calls from the council's phone system (voice.h). Loop thread
 * only. A request in flight is a struct op naming its request by id; the
 * module lives until the last is answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bus.h"
#include "conversation.h"
#include "http_form.h"
#include "log.h"
#include "metrics.h"
#include "signed_hook.h"
#include "sms_sig.h"
#include "voice.h"
#include "voice_config.h"
#include "voice_event.h"
#include "xmalloc.h"

#define RETRY_AFTER_S  5
#define SWEEP_MS       5000
#define DUE_BATCH      50
#define NOTE_MAX       2000
#define RETRY_MAX_DAYS 30
#define URL_BUF        (VOICE_URL_BUF + 4096)

enum hook {
	HOOK_CTI = 0,
	HOOK_TWILIO,
	HOOKS,
};
static const char *const hook_paths[HOOKS] = {"/hooks/cti",
                                              "/hooks/twilio/voice"};
static const char *const hook_names[HOOKS] = {"cti", "twilio"};

enum result {
	R_APPLIED = 0,
	R_STALE,
	R_REPEATED,
	R_UNAUTHORIZED,
	R_MALFORMED,
	R_UNAVAILABLE,
	RESULTS,
};
static const char *const result_names[RESULTS] = {
        "applied",      "stale",     "repeated",
        "unauthorized", "malformed", "unavailable",
};

static const char *const voice_headers[] = {
        "X-Switchboard-Timestamp",
        "X-Switchboard-Signature",
        "X-Twilio-Signature",
        NULL,
};

static const char EVENT_SQL[] = "SELECT sb_voice_event($1::jsonb)::text";
static const char OUTCOME_SQL[] =
        "SELECT sb_voice_callback_outcome($1::bigint, $2, $3::bigint, $4, $5,"
        " $6::bigint, $7::bigint)::text";
static const char DUE_SQL[] = "SELECT conversation, queue, priority, since_ms"
                              " FROM sb_voice_callbacks_due($1::integer)";
static const char HISTORY_SQL[] =
        "SELECT jsonb_strip_nulls(jsonb_build_object("
        " 'call', (SELECT jsonb_build_object('direction', v.direction,"
        "  'caller', v.caller, 'caller_raw', v.caller_raw, 'withheld',"
        "  v.withheld, 'state', v.state, 'cause', v.cause, 'answered_by',"
        "  s.display_name, 'extension', v.extension, 'duration_s',"
        "  v.duration_s, 'recording_url', v.recording_url, 'started_at',"
        "  (extract(epoch FROM v.started_at) * 1000)::bigint, 'ended_at',"
        "  (extract(epoch FROM v.ended_at) * 1000)::bigint)"
        "  FROM voice_calls v LEFT JOIN staff_users s ON s.id = v.answered_by"
        "  WHERE v.conversation_id = $1::bigint ORDER BY v.id DESC LIMIT 1),"
        " 'callback', (SELECT jsonb_build_object('attempt', b.attempt,"
        "  'status', b.status, 'outcome', b.outcome, 'due_at',"
        "  (extract(epoch FROM b.due_at) * 1000)::bigint, 'not_before',"
        "  (extract(epoch FROM b.not_before) * 1000)::bigint)"
        "  FROM voice_callbacks b WHERE b.conversation_id = $1::bigint"
        "  ORDER BY b.attempt DESC LIMIT 1)))::text";

struct voice {
	uv_loop_t *loop;
	struct gw_http *http;
	struct db *db;
	struct db_commit *w;
	struct bus *bus;
	struct conversation *cv;
	const struct voice_config *c;
	struct conversation_channel_ops ops;
	uint64_t *counters[HOOKS][RESULTS];
	uv_timer_t sweep;
	int sweeping;
	unsigned pending;
	int closing, timer_closed;
};

struct op {
	struct voice *v;
	unsigned long req;
	enum hook hook;
	/* a desk's voice.callback */
	unsigned long conn;
	json_t *id;
	char conv[24];
};

static void maybe_free(struct voice *v);

static void
count(struct voice *v, enum hook h, enum result r)
{
	(*v->counters[h][r])++;
}

static void
answer(struct voice *v, unsigned long req, enum hook h, int status, json_t *o)
{
	char secs[16], *t = NULL;
	struct gw_http_field ra = {"Retry-After", secs};
	int twiml = h == HOOK_TWILIO && status / 100 == 2;
	const char *body;
	struct gw_http_response res;

	if (twiml) {
		body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
	} else {
		t = json_dumps(o, JSON_COMPACT);
		body = t != NULL ? t : "{}";
	}
	json_decref(o);
	snprintf(secs, sizeof(secs), "%d", RETRY_AFTER_S);
	memset(&res, 0, sizeof(res));
	res.status = status;
	res.content_type = twiml ? "text/xml" : NULL;
	res.body = body;
	res.len = strlen(body);
	res.fields = status == 503 ? &ra : NULL;
	res.nfields = status == 503 ? 1 : 0;
	gw_http_answer(v->http, req, &res);
	free(t);
}

static struct op *
op_new(struct voice *v)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->v = v;
	v->pending++;
	return op;
}

static void
op_free(struct op *op)
{
	struct voice *v = op->v;

	json_decref(op->id);
	free(op);
	v->pending--;
	maybe_free(v);
}

static const char *
header(const struct gw_http_request *req, size_t i)
{
	if (i >= req->nheaders || req->headers[i].count == 0)
		return NULL;
	return req->headers[i].value;
}

/* ------------------------------------------------------------------ */
/* What an applied event leads to                                      */
/* ------------------------------------------------------------------ */

static uint64_t
id_of(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? strtoull(s, NULL, 10) : 0;
}

/* The call's timeline lines, to the desks following its conversation. */
static void
publish_lines(struct voice *v, uint64_t conv, const char *cs, json_t *lines)
{
	size_t i;
	json_t *l, *ev;

	json_array_foreach(lines, i, l)
	{
		ev = json_pack("{s:s, s:s, s:O, s:s, s:n, s:O, s:O, s:O}",
		               "type", "conversation.message", "conversation",
		               cs, "seq", json_object_get(l, "seq"), "from",
		               "system", "name", "text",
		               json_object_get(l, "text"), "at",
		               json_object_get(l, "at"), "metadata",
		               json_object_get(l, "metadata"));
		if (ev == NULL)
			continue;
		bus_publish(
		        v->bus, conv,
		        (uint64_t)json_integer_value(json_object_get(l, "seq")),
		        ev, NULL, NULL, NULL, NULL);
		json_decref(ev);
	}
}

/*
 * Something for one advisor's desks, wherever they are: through the
 * bus's "voice" hook on every instance (for_channel names the staff).
 */
static void
tell_staff(struct voice *v, uint64_t conv, const char *staff, json_t *o)
{
	char *t;

	if (staff == NULL || staff[0] == '\0') {
		json_decref(o);
		return;
	}
	json_object_set_new(o, "staff", json_string(staff));
	t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (t != NULL)
		bus_publish(v->bus, conv, 0, NULL, "voice", t, NULL, NULL);
	free(t);
}

/* A call's end, or a callback's outcome: the core's end (wrap-up). */
static void
on_ended(void *arg, int ok, int now, const char *status, const char *why)
{
	(void)now;
	(void)status;
	if (!ok)
		gw_warn("voice.end_failed",
		        "op=%s reason=\"%s\" (the router's "
		        "reconciler or the advisor ends it)",
		        (const char *)arg, why ? why : "");
}

static void
act(struct voice *v, json_t *o)
{
	const char *action = json_string_value(json_object_get(o, "action")),
	           *cs = json_string_value(json_object_get(o, "conversation")),
	           *staff = json_string_value(json_object_get(o, "staff")),
	           *rang = json_string_value(json_object_get(o, "rang")),
	           *queue = json_string_value(json_object_get(o, "queue"));
	uint64_t conv = id_of(o, "conversation");
	long long since = json_integer_value(json_object_get(o, "since_ms"));
	int prio = (int)json_integer_value(json_object_get(o, "priority"));
	json_t *pop = json_object_get(o, "pop");

	if (conv == 0 || cs == NULL)
		return;
	publish_lines(v, conv, cs, json_object_get(o, "lines"));
	if (action == NULL)
		return;
	if (strcmp(action, "pop") == 0 && pop != NULL) {
		json_t *m = json_deep_copy(pop);

		json_object_set_new(m, "type", json_string("voice.ringing"));
		tell_staff(v, conv, staff, m);
	} else if (strcmp(action, "seize") == 0) {
		if (queue == NULL || staff == NULL ||
		    conversation_route_seize(
		            v->cv, conv, strtoull(queue, NULL, 10), "voice",
		            since, strtoull(staff, NULL, 10)) != 0)
			gw_warn("voice.route",
			        "op=seize conv=%s reason=\"routing "
			        "not ready: the call stays the advisor's, "
			        "unrouted\"",
			        cs);
		if (rang != NULL && staff != NULL && strcmp(rang, staff) != 0)
			tell_staff(v, conv, rang,
			           json_pack("{s:s, s:s}", "type",
			                     "voice.answered", "conversation",
			                     cs));
		tell_staff(v, conv, staff,
		           json_pack("{s:s, s:s}", "type", "voice.answered",
		                     "conversation", cs));
	} else if (strcmp(action, "end") == 0) {
		if (conversation_end_by(v->cv, conv, "system", on_ended,
		                        "end") != 0)
			gw_warn("voice.route",
			        "op=end conv=%s reason=\"routing "
			        "not ready: the reconciler ends it\"",
			        cs);
	} else if (strcmp(action, "callback") == 0) {
		if (queue == NULL ||
		    conversation_route_queue(v->cv, conv,
		                             strtoull(queue, NULL, 10), "voice",
		                             prio, since) != 0)
			gw_warn("voice.route",
			        "op=callback conv=%s "
			        "reason=\"routing not ready: the reconciler "
			        "queues it\"",
			        cs);
	}
	if (strcmp(action, "pop") != 0 && strcmp(action, "seize") != 0 &&
	    rang != NULL)
		tell_staff(v, conv, rang,
		           json_pack("{s:s, s:s}", "type", "voice.ended",
		                     "conversation", cs));
}

/* The bus's "voice" hook, on every instance: to the advisor's desks here. */
static void
on_bus(void *arg, const struct bus_event *ev)
{
	struct voice *v = arg;
	json_t *o;
	uint64_t staff;

	if (v->closing || ev->len == 0)
		return;
	o = json_loadb(ev->body, ev->len, 0, NULL);
	staff = id_of(o, "staff");
	if (o == NULL || staff == 0) {
		json_decref(o);
		return;
	}
	json_object_del(o, "staff");
	conversation_tell_staff(v->cv, staff, o);
}

/* ------------------------------------------------------------------ */
/* Webhooks                                                            */
/* ------------------------------------------------------------------ */

static void
on_applied(void *arg, int ok, const PGresult *res, const char *err)
{
	struct op *op = arg;
	struct voice *v = op->v;
	json_t *o;

	if (!ok || PQntuples(res) != 1) {
		count(v, op->hook, R_UNAVAILABLE);
		gw_warn("voice.refused",
		        "hook=%s reason=unavailable why=\"%s\"",
		        hook_names[op->hook], err ? err : "");
		answer(v, op->req, op->hook, 503,
		       json_pack("{ss}", "error", "unavailable"));
		op_free(op);
		return;
	}
	o = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (json_is_true(json_object_get(o, "repeat"))) {
		count(v, op->hook, R_REPEATED);
	} else if (!json_is_true(json_object_get(o, "applied"))) {
		count(v, op->hook, R_STALE);
		gw_info("voice.stale",
		        "hook=%s call=%lld (older, repeated or "
		        "after the call ended: recorded, not applied)",
		        hook_names[op->hook],
		        (long long)json_integer_value(
		                json_object_get(o, "call")));
	} else {
		count(v, op->hook, R_APPLIED);
		gw_info("voice.event", "hook=%s call=%lld state=%s action=%s",
		        hook_names[op->hook],
		        (long long)json_integer_value(
		                json_object_get(o, "call")),
		        json_string_value(json_object_get(o, "state")),
		        json_string_value(json_object_get(o, "action"))
		                ? json_string_value(
		                          json_object_get(o, "action"))
		                : "-");
	}
	answer(v, op->req, op->hook, 200, json_pack("{sb}", "ok", 1));
	if (!v->closing)
		act(v, o);
	json_decref(o);
	op_free(op);
}

/* The event as sb_voice_event takes it. */
static char *
event_json(const struct voice *v, enum hook h, const struct voice_event *ev)
{
	char key[VOICE_KEY_LEN], prefixed[VOICE_KEY_LEN + 8];
	json_t *o;
	char *t;
	const char *dir = voice_direction_name(ev->direction);

	if (voice_event_key(ev, key, sizeof(key)) != 0)
		return NULL;
	snprintf(prefixed, sizeof(prefixed), "%s:%s", hook_names[h], key);
	/* A Twilio child leg (the <Dial> to an advisor) is outbound-dial of
	 * an inbound call: the call is its parent's. */
	if (h == HOOK_TWILIO && strcmp(ev->call_id, ev->root_id) != 0)
		dir = "inbound";
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:I}",
	              "provider", hook_names[h], "call_id", ev->call_id,
	              "root_id", ev->root_id, "key", prefixed, "kind",
	              voice_event_kind_name(ev->kind), "direction", dir,
	              "withheld", ev->withheld, "caller_raw", ev->from_raw,
	              "at_ms", (json_int_t)ev->at_ms, "sequence",
	              (json_int_t)ev->sequence);
	if (o == NULL)
		return NULL;
	if (ev->from[0] != '\0')
		json_object_set_new(o, "caller", json_string(ev->from));
	json_object_set_new(o, "called",
	                    json_string(ev->to[0] ? ev->to : ev->to_raw));
	if (voice_cause_name(ev->cause)[0] != '\0')
		json_object_set_new(o, "cause",
		                    json_string(voice_cause_name(ev->cause)));
	if (ev->extension[0] != '\0')
		json_object_set_new(o, "extension", json_string(ev->extension));
	if (ev->queue[0] != '\0')
		json_object_set_new(o, "phone_queue", json_string(ev->queue));
	if (ev->recording_url[0] != '\0')
		json_object_set_new(o, "recording_url",
		                    json_string(ev->recording_url));
	if (ev->duration_s >= 0)
		json_object_set_new(o, "duration_s",
		                    json_integer(ev->duration_s));
	json_object_set_new(o, "queue", json_string(v->c->queue));
	json_object_set_new(o, "callback_queue",
	                    json_string(v->c->callback_queue));
	json_object_set_new(o, "callback_within_min",
	                    json_integer(v->c->callback_within_min));
	if (v->c->callback_by_min >= 0)
		json_object_set_new(o, "callback_by_min",
		                    json_integer(v->c->callback_by_min));
	t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return t;
}

static void
refuse(struct voice *v, const struct gw_http_request *req, enum hook h,
       enum result r, int status, json_t *o)
{
	count(v, h, r);
	gw_info("voice.refused", "hook=%s reason=%s peer=%s", hook_names[h],
	        result_names[r], req->peer);
	answer(v, req->id, h, status, o);
}

static json_t *
error_json(const struct voice_error *e)
{
	json_t *o = json_pack("{s:s, s:s}", "error", e->code ? e->code : "bad",
	                      "reason", e->why ? e->why : "");

	if (e->field != NULL)
		json_object_set_new(o, "field", json_string(e->field));
	return o;
}

/* Whether Twilio signed the request (either token, the URL's port forms). */
static int
twilio_signed(const struct voice *v, const struct gw_http_request *req)
{
	const char *sig = header(req, 2);
	char url[URL_BUF];
	size_t k;

	if (sig == NULL)
		return 0;
	snprintf(url, sizeof(url), "%s%s%s%s", v->c->public_url, req->path,
	         req->query != NULL && req->query[0] ? "?" : "",
	         req->query != NULL ? req->query : "");
	for (k = 0; k < 2; k++)
		if (v->c->twilio_tokens[k] != NULL &&
		    sms_sig_twilio_form(v->c->twilio_tokens[k], url, req->body,
		                        req->body_len, sig))
			return 1;
	return 0;
}

static void
on_request(void *arg, const struct gw_http_request *req)
{
	struct voice *v = arg;
	enum hook h = strcmp(req->path, hook_paths[HOOK_CTI]) == 0
	                      ? HOOK_CTI
	                      : HOOK_TWILIO;
	struct voice_event ev;
	struct voice_error e = {NULL, NULL, NULL};
	struct http_form f = {NULL, 0};
	enum signed_hook_result sr;
	const char *why = NULL, *vals[1];
	char *p;
	struct op *op;
	int rc;

	if (v->closing)
		return answer(v, req->id, h, 503,
		              json_pack("{ss}", "error", "unavailable"));
	/* Nothing of the body is read before it is proven. */
	if (h == HOOK_CTI) {
		sr = signed_hook_verify(header(req, 0), header(req, 1),
		                        req->body, req->body_len,
		                        v->c->cti_keys, v->c->ncti_keys,
		                        (int64_t)time(NULL));
		if (sr != SIGNED_HOOK_OK)
			return refuse(v, req, h, R_UNAUTHORIZED, 401,
			              json_pack("{ssss}", "error", "signature",
			                        "reason",
			                        signed_hook_reason(sr)));
		rc = voice_event_cti(req->body, req->body_len, &ev, &e);
	} else {
		if (!twilio_signed(v, req))
			return refuse(v, req, h, R_UNAUTHORIZED, 403,
			              json_pack("{ssss}", "error", "signature",
			                        "reason",
			                        "X-Twilio-Signature does not "
			                        "match"));
		if (http_form_parse(req->body, req->body_len, &f, &why) != 0) {
			http_form_clear(&f);
			return refuse(v, req, h, R_MALFORMED, 400,
			              json_pack("{ssss}", "error", "form",
			                        "reason", why));
		}
		rc = voice_event_twilio(&f, &ev, &e);
		http_form_clear(&f);
	}
	if (rc != 0)
		return refuse(v, req, h, R_MALFORMED, 400, error_json(&e));
	p = event_json(v, h, &ev);
	if (p == NULL)
		return refuse(v, req, h, R_MALFORMED, 400,
		              json_pack("{ssss}", "error", "field", "reason",
		                        "the call id is too long"));
	op = op_new(v);
	op->req = req->id;
	op->hook = h;
	vals[0] = p;
	rc = db_commit_submit(v->w, EVENT_SQL, 1, vals, on_applied, op, &why);
	free(p);
	if (rc == 0)
		return;
	count(v, h, R_UNAVAILABLE);
	answer(v, req->id, h, 503, json_pack("{ss}", "error", "unavailable"));
	op_free(op);
}

/* ------------------------------------------------------------------ */
/* Callbacks: the outcome from the desk, and attempts that come due    */
/* ------------------------------------------------------------------ */

static void
desk_reply(struct voice *v, struct op *op, json_t *o)
{
	if (op->id != NULL)
		json_object_set(o, "id", op->id);
	gw_http_ws_send(v->http, op->conn, o);
}

static void
desk_error(struct voice *v, struct op *op, const char *code, const char *msg)
{
	desk_reply(v, op,
	           json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
	                     "message", msg));
}

static void
on_outcome(void *arg, PGresult *res, const char *err)
{
	struct op *op = arg;
	struct voice *v = op->v;
	json_t *o = NULL, *lines;
	const char *why;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		gw_warn("voice.callback_failed", "conv=%s reason=\"%s\"",
		        op->conv, err ? err : PQresultErrorMessage(res));
		desk_error(v, op, "unavailable",
		           "the outcome could not be recorded: try again");
		goto out;
	}
	o = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	why = json_string_value(json_object_get(o, "why"));
	if (why != NULL) {
		desk_error(v, op,
		           strcmp(why, "forbidden") == 0 ? "forbidden"
		                                         : "bad_message",
		           strcmp(why, "forbidden") == 0
		                   ? "not a call back of yours"
		                   : "this conversation is not a callback");
		goto out;
	}
	lines = json_array();
	if (json_object_get(o, "line") != NULL &&
	    !json_is_null(json_object_get(o, "line")))
		json_array_append(lines, json_object_get(o, "line"));
	publish_lines(v, strtoull(op->conv, NULL, 10), op->conv, lines);
	json_decref(lines);
	/* Into wrap-up: the advisor wraps it up as any other. */
	if (conversation_end_by(v->cv, strtoull(op->conv, NULL, 10), "advisor",
	                        on_ended, "callback") != 0)
		gw_warn("voice.end_failed",
		        "op=callback conv=%s reason=\"the writer refused it\"",
		        op->conv);
	desk_reply(v, op,
	           json_pack("{s:s, s:s, s:O}", "type",
	                     "voice.callback.recorded", "conversation",
	                     op->conv, "attempt",
	                     json_object_get(o, "attempt")));
out:
	json_decref(o);
	op_free(op);
}

/*
 * {"type": "voice.callback", "id"?, "conversation", "outcome": "reached" |
 *  "no_answer" | "message_left", "note"?, "retry_at"? (Unix ms, within 30
 *  days), "due_at"? (Unix ms)}
 */
static void
on_desk(void *arg, const struct conversation_desk *d, const char *type,
        json_t *msg)
{
	struct voice *v = arg;
	struct op *op;
	const char *conv = json_string_value(
	                   json_object_get(msg, "conversation")),
	           *outcome =
	                   json_string_value(json_object_get(msg, "outcome")),
	           *note = json_string_value(json_object_get(msg, "note")),
	           *params[7];
	json_t *retry = json_object_get(msg, "retry_at"),
	       *due = json_object_get(msg, "due_at");
	char staff[24], by[24], retry_s[24], due_s[24];
	long long now = (long long)time(NULL) * 1000, r_ms = 0, d_ms = 0;

	op = op_new(v);
	op->conn = d->conn;
	op->id = json_incref(json_object_get(msg, "id"));
	if (strcmp(type, "voice.callback") != 0) {
		desk_error(v, op, "bad_message", "unknown message type");
		return op_free(op);
	}
	if (conv == NULL || strspn(conv, "0123456789") != strlen(conv) ||
	    strlen(conv) == 0 || strlen(conv) > 18 || outcome == NULL ||
	    (strcmp(outcome, "reached") != 0 &&
	     strcmp(outcome, "no_answer") != 0 &&
	     strcmp(outcome, "message_left") != 0) ||
	    (note != NULL && strlen(note) > NOTE_MAX) ||
	    (json_object_get(msg, "note") != NULL && note == NULL &&
	     !json_is_null(json_object_get(msg, "note"))) ||
	    (retry != NULL && !json_is_null(retry) &&
	     !json_is_integer(retry)) ||
	    (due != NULL && !json_is_null(due) && !json_is_integer(due))) {
		desk_error(
		        v, op, "bad_message",
		        "voice.callback needs conversation, outcome (reached, "
		        "no_answer, message_left), and optionally note (at "
		        "most 2000 bytes), retry_at and due_at (Unix ms)");
		return op_free(op);
	}
	if (json_is_integer(retry)) {
		r_ms = json_integer_value(retry);
		d_ms = json_is_integer(due) ? json_integer_value(due) : r_ms;
		if (r_ms < now - 60000 ||
		    r_ms > now + (long long)RETRY_MAX_DAYS * 86400000 ||
		    d_ms < r_ms) {
			desk_error(
			        v, op, "bad_message",
			        "retry_at must be from now to 30 days ahead, "
			        "and due_at not before it");
			return op_free(op);
		}
	}
	snprintf(op->conv, sizeof(op->conv), "%s", conv);
	snprintf(staff, sizeof(staff), "%llu", (unsigned long long)d->staff);
	snprintf(by, sizeof(by), "%llu", (unsigned long long)d->staff);
	snprintf(retry_s, sizeof(retry_s), "%lld", r_ms);
	snprintf(due_s, sizeof(due_s), "%lld", d_ms);
	params[0] = conv;
	params[1] = strcmp(d->role, "advisor") == 0 ? staff : "";
	params[2] = by;
	params[3] = outcome;
	params[4] = note != NULL ? note : "";
	params[5] = json_is_integer(retry) ? retry_s : NULL;
	params[6] = json_is_integer(retry) ? due_s : NULL;
	if (db_query(v->db, OUTCOME_SQL, 7, params, on_outcome, op) != 0) {
		desk_error(v, op, "unavailable", "the database is unavailable");
		op_free(op);
	}
}

static void
on_due(void *arg, PGresult *res, const char *err)
{
	struct voice *v = arg;
	int i;

	v->sweeping = 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (!v->closing)
			gw_warn("voice.callbacks_due_failed", "reason=\"%s\"",
			        err ? err : PQresultErrorMessage(res));
		maybe_free(v);
		return;
	}
	for (i = 0; i < PQntuples(res) && !v->closing; i++) {
		gw_info("voice.callback_due", "conv=%s", PQgetvalue(res, i, 0));
		if (conversation_route_queue(
		            v->cv, strtoull(PQgetvalue(res, i, 0), NULL, 10),
		            strtoull(PQgetvalue(res, i, 1), NULL, 10), "voice",
		            atoi(PQgetvalue(res, i, 2)),
		            atoll(PQgetvalue(res, i, 3))) != 0)
			gw_warn("voice.route",
			        "op=callback conv=%s "
			        "reason=\"routing not ready: the reconciler "
			        "queues it\"",
			        PQgetvalue(res, i, 0));
	}
	maybe_free(v);
}

static void
on_sweep(uv_timer_t *t)
{
	struct voice *v = t->data;
	char n[16];
	const char *params[1] = {n};

	if (v->sweeping || v->closing || !db_ready(v->db))
		return;
	snprintf(n, sizeof(n), "%d", DUE_BATCH);
	if (db_query(v->db, DUE_SQL, 1, params, on_due, v) == 0)
		v->sweeping = 1;
}

/* ------------------------------------------------------------------ */

static void
maybe_free(struct voice *v)
{
	if (!v->closing || v->pending > 0 || v->sweeping || !v->timer_closed)
		return;
	free(v);
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct voice *v = h->data;

	v->timer_closed = 1;
	maybe_free(v);
}

struct voice *
voice_new(uv_loop_t *loop, const struct gw_config *cfg, struct gw_http *h,
          struct db *db, struct db_commit *w, struct bus *bus,
          struct conversation *cv)
{
	struct voice *v = xcalloc(1, sizeof(*v));
	struct gw_http_route rt;
	char labels[96];
	size_t i, k;

	v->loop = loop;
	v->http = h;
	v->db = db;
	v->w = w;
	v->bus = bus;
	v->cv = cv;
	v->c = voice_config(cfg);
	uv_timer_init(loop, &v->sweep);
	v->sweep.data = v;
	for (i = 0; i < HOOKS; i++)
		for (k = 0; k < RESULTS; k++) {
			snprintf(labels, sizeof(labels),
			         "hook=\"%s\",result=\"%s\"", hook_names[i],
			         result_names[k]);
			v->counters[i][k] = gw_metrics_series(
			        "switchboard_voice_events_total",
			        "Call events by webhook and result.", labels);
		}
	/* A call's conversation: no reply from the desk (it is a call). */
	v->ops.no_reply = "a call is answered on the phone: add a note, or "
	                  "record the callback's outcome";
	v->ops.history_sql = HISTORY_SQL;
	v->ops.arg = v;
	conversation_channel_register(cv, "voice", &v->ops);
	if (v->c->queue[0] == '\0')
		return v; /* off: no webhook, nothing to sweep */
	bus_set_channel_hook(bus, "voice", on_bus, v);
	if (conversation_desk_hook(cv, "voice.", on_desk, v) != 0)
		fatalx("conversation: no room for the voice desk hook");
	for (i = 0; i < HOOKS; i++) {
		if (i == HOOK_CTI && v->c->ncti_keys == 0)
			continue;
		if (i == HOOK_TWILIO && v->c->twilio_tokens[0] == NULL)
			continue;
		memset(&rt, 0, sizeof(rt));
		rt.methods = GW_HTTP_POST;
		rt.path = hook_paths[i];
		rt.body_max = 64 * 1024;
		rt.headers = voice_headers;
		rt.handler = on_request;
		rt.arg = v;
		gw_http_route_add(h, &rt);
	}
	uv_timer_start(&v->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	return v;
}

void
voice_free(struct voice *v)
{
	if (v == NULL)
		return;
	v->closing = 1;
	/* Its desk hook went with the conversation core (freed first). */
	if (v->c->queue[0] != '\0')
		bus_set_channel_hook(v->bus, "voice", NULL, NULL);
	uv_timer_stop(&v->sweep);
	uv_close((uv_handle_t *)&v->sweep, on_timer_closed);
}
