/*
 * sms_outbox.c: the sender of the outbox's SMS rows (sms_outbox.h). Loop
 * thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "bus.h"
#include "conversation.h"
#include "http_client.h"
#include "identity.h"
#include "log.h"
#include "outbox_poll.h"
#include "sms_outbox.h"
#include "xmalloc.h"

static const char CLAIM_SQL[] =
        "SELECT id, attempts, destination, payload::text,"
        " coalesce(conversation_id, 0), coalesce(message_id, 0)"
        " FROM sb_outbox_claim('sms', $1::integer, $2::interval)";
static const char SENT_SQL[] = "SELECT sb_sms_sent($1::bigint, $2::integer,"
                               " $3, $4)";
static const char FAILED_SQL[] = "SELECT sb_outbox_failed($1::bigint,"
                                 " $2::integer, $3, $4::boolean)";

#define JWT_MAX 1024

struct sms_outbox {
	uv_loop_t *loop;
	struct db *db;
	struct bus *bus;
	const struct sms_config *c;
	struct http_client *http;
	struct outbox_poll *poll;
	int closing;
	uint64_t sent, failed;
};

struct job {
	struct sms_outbox *o;
	const struct sms_sender *d;
	char id[24], attempt[16];
	int attempts;
	uint64_t conv, seq;
	char to[IDENTITY_PHONE_LEN];
	char *text;
	int looked_up; /* Notify was asked by reference */
	/* the outcome */
	int ok, permanent;
	char provider_id[128];
	char reason[300];
};

static void send_now(struct job *j);

static void
job_free(struct job *j)
{
	if (j->text != NULL)
		explicit_bzero(j->text, strlen(j->text));
	free(j->text);
	free(j);
}

static void
tell_desks(struct sms_outbox *o, const struct job *j, const char *status)
{
	struct conversation_delivery d = {status, j->to,
	                                  j->ok ? NULL : j->reason,
	                                  j->ok ? "queued" : NULL, NULL};

	if (!o->closing)
		conversation_publish_delivery(o->bus, j->conv, j->seq, &d);
}

static void
job_end(struct job *j)
{
	struct outbox_poll *p = j->o->poll;

	job_free(j);
	outbox_poll_done(p);
}

static void
on_recorded(void *arg, PGresult *res, const char *err)
{
	struct job *j = arg;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		gw_warn("sms.outbox_unrecorded",
		        "id=%s reason=\"%s\" (tried again when its lease ends)",
		        j->id, err ? err : PQresultErrorMessage(res));
	else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		tell_desks(j->o, j,
		           !j->ok ? PQgetvalue(res, 0, 0)
		           : PQgetvalue(res, 0, 0)[0] == 't' ? "sent"
		                                             : NULL);
	job_end(j);
}

/* Records j's outcome (ok, permanent, reason, provider_id). */
static void
record(struct job *j)
{
	struct sms_outbox *o = j->o;
	const char *params[4];
	int rc;

	/* Also while closing: an outcome not recorded is sent again. */
	params[0] = j->id;
	params[1] = j->attempt;
	if (j->ok) {
		o->sent++;
		gw_info("sms.sent", "id=%s sender=%s provider=%s%s", j->id,
		        j->d->name, sms_provider_name(j->d->provider),
		        j->looked_up ? " (found by reference)" : "");
		params[2] = sms_provider_name(j->d->provider);
		params[3] = j->provider_id;
		rc = db_query(o->db, SENT_SQL, 4, params, on_recorded, j);
	} else {
		if (j->permanent)
			o->failed++;
		gw_warn("sms.not_sent",
		        "id=%s sender=%s permanent=%d "
		        "reason=\"%s\"",
		        j->id, j->d != NULL ? j->d->name : "-", j->permanent,
		        j->reason);
		params[2] = j->reason;
		params[3] = j->permanent ? "true" : "false";
		rc = db_query(o->db, FAILED_SQL, 4, params, on_recorded, j);
	}
	if (rc != 0) {
		gw_warn("sms.outbox_unrecorded",
		        "id=%s reason=\"database unavailable\"", j->id);
		job_end(j);
	}
}

static void
fail(struct job *j, int permanent, const char *why)
{
	j->ok = 0;
	j->permanent = permanent;
	snprintf(j->reason, sizeof(j->reason), "%s", why);
	record(j);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static void
b64url(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	sodium_bin2base64(out, outlen, in, len,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* "Authorization: Bearer <JWT>" for Notify, minted now. */
static int
notify_auth(const struct sms_sender *d, char *out, size_t len)
{
	static const char head[] = "{\"typ\":\"JWT\",\"alg\":\"HS256\"}";
	char payload[128], h64[64], p64[192], s64[64], msg[256];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int n;

	n = snprintf(payload, sizeof(payload), "{\"iss\":\"%s\",\"iat\":%lld}",
	             d->service_id, (long long)time(NULL));
	if (n < 0 || (size_t)n >= sizeof(payload))
		return -1;
	b64url((const unsigned char *)head, strlen(head), h64, sizeof(h64));
	b64url((const unsigned char *)payload, (size_t)n, p64, sizeof(p64));
	n = snprintf(msg, sizeof(msg), "%s.%s", h64, p64);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -1;
	if (HMAC(EVP_sha256(), d->api_secret, (int)strlen(d->api_secret),
	         (const unsigned char *)msg, (size_t)n, mac, &maclen) == NULL)
		return -1;
	b64url(mac, maclen, s64, sizeof(s64));
	n = snprintf(out, len, "Authorization: Bearer %s.%s", msg, s64);
	explicit_bzero(mac, sizeof(mac));
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Appends name=value (percent-encoded) to a form being built. */
static void
form_add(char **buf, size_t *len, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(name) + 3 * strlen(value) + 3, k;
	char *p;
	unsigned char c;

	*buf = xrealloc(*buf, *len + n + 1);
	p = *buf + *len;
	if (*len > 0)
		*p++ = '&';
	for (k = 0; name[k] != '\0'; k++)
		*p++ = name[k];
	*p++ = '=';
	for (k = 0; value[k] != '\0'; k++) {
		c = (unsigned char)value[k];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	*len = (size_t)(p - *buf);
}

/* A provider's error body, in a sentence for the desk. */
static void
provider_error(const struct job *j, const struct http_client_resp *r, char *out,
               size_t len)
{
	json_t *o = json_loadb(r->body, r->len, 0, NULL), *e;
	const char *msg = NULL;

	if (j->d->provider == SMS_NOTIFY) {
		e = json_array_get(json_object_get(o, "errors"), 0);
		msg = json_string_value(json_object_get(e, "message"));
	} else {
		msg = json_string_value(json_object_get(o, "message"));
	}
	snprintf(out, len, "%s answered %ld%s%.200s",
	         j->d->provider == SMS_NOTIFY ? "GOV.UK Notify" : "Twilio",
	         r->status, msg != NULL ? ": " : "", msg != NULL ? msg : "");
	json_decref(o);
}

/* The provider answered a send. */
static void
on_sent(void *arg, const struct http_client_resp *r)
{
	struct job *j = arg;
	json_t *o;
	const char *pid;
	char why[260];

	if (j->o->closing && r->error != NULL) {
		job_end(j);
		return;
	}
	if (r->error != NULL) {
		snprintf(why, sizeof(why), "no answer from %s: %s%s",
		         sms_provider_name(j->d->provider), r->error,
		         r->maybe_sent ? " (it may have been sent)" : "");
		return fail(j, 0, why);
	}
	if (r->status == 200 || r->status == 201) {
		o = json_loadb(r->body, r->len, 0, NULL);
		pid = json_string_value(json_object_get(
		        o, j->d->provider == SMS_NOTIFY ? "id" : "sid"));
		if (pid == NULL || strlen(pid) >= sizeof(j->provider_id)) {
			json_decref(o);
			/* Taken, but we cannot tell which it is: a retry
			 * finds it by reference (Notify). */
			return fail(j, 0,
			            "the provider's answer had no message id");
		}
		snprintf(j->provider_id, sizeof(j->provider_id), "%s", pid);
		json_decref(o);
		j->ok = 1;
		record(j);
		return;
	}
	provider_error(j, r, why, sizeof(why));
	if (r->status == 401 || r->status == 403)
		gw_error("sms.provider_auth",
		         "sender=%s status=%ld reason=\"the provider refused "
		         "our "
		         "credentials: check the key, token and clock\"",
		         j->d->name, r->status);
	fail(j,
	     r->status >= 400 && r->status < 500 && r->status != 401 &&
	             r->status != 403 && r->status != 408 && r->status != 429,
	     why);
}

/* Notify answered the lookup by reference. */
static void
on_looked_up(void *arg, const struct http_client_resp *r)
{
	struct job *j = arg;
	json_t *o, *n;
	const char *pid;

	if (j->o->closing && r->error != NULL) {
		job_end(j);
		return;
	}
	if (r->error != NULL || r->status != 200) {
		/* Not knowing is not sending: try again later. */
		return fail(j, 0,
		            "not sent yet: GOV.UK Notify could not be asked "
		            "whether an earlier try arrived");
	}
	o = json_loadb(r->body, r->len, 0, NULL);
	n = json_array_get(json_object_get(o, "notifications"), 0);
	pid = json_string_value(json_object_get(n, "id"));
	if (pid != NULL && strlen(pid) < sizeof(j->provider_id)) {
		snprintf(j->provider_id, sizeof(j->provider_id), "%s", pid);
		json_decref(o);
		j->ok = 1;
		j->looked_up = 1;
		record(j);
		return;
	}
	json_decref(o);
	j->looked_up = 1;
	send_now(j);
}

static void
fetch(struct job *j, struct http_client_req *q, http_client_cb cb)
{
	const char *why = NULL;

	q->ca_file = j->d->ca_file;
	q->timeout_ms = (long)j->o->c->timeout_s * 1000;
	char buf[200];

	if (http_client_fetch(j->o->http, q, cb, j, &why) != 0) {
		snprintf(buf, sizeof(buf), "not sent: %s", why);
		fail(j, 0, buf);
	}
}

static void
lookup(struct job *j)
{
	char url[SMS_URL_MAX + 128], auth[JWT_MAX];
	const char *hdrs[1] = {auth};
	struct http_client_req q;

	if (notify_auth(j->d, auth, sizeof(auth)) != 0)
		return fail(j, 1, "not sent: no token could be made");
	snprintf(url, sizeof(url),
	         "%s/v2/notifications?reference=sb-%s&template_type=sms",
	         j->d->base_url, j->id);
	memset(&q, 0, sizeof(q));
	q.method = "GET";
	q.url = url;
	q.headers = hdrs;
	q.nheaders = 1;
	fetch(j, &q, on_looked_up);
}

static void
send_now(struct job *j)
{
	const struct sms_sender *d = j->d;
	const struct sms_config *c = j->o->c;
	char url[SMS_URL_MAX + 128], auth[JWT_MAX], ref[32],
	        cb[SMS_URL_MAX + 64], userpwd[SMS_SECRET_MAX + 40];
	const char *hdrs[2];
	struct http_client_req q;
	char *body = NULL;
	size_t len = 0;
	json_t *o;

	memset(&q, 0, sizeof(q));
	q.method = "POST";
	q.url = url;
	q.headers = hdrs;
	if (d->provider == SMS_NOTIFY) {
		if (notify_auth(d, auth, sizeof(auth)) != 0)
			return fail(j, 1, "not sent: no token could be made");
		snprintf(url, sizeof(url), "%s/v2/notifications/sms",
		         d->base_url);
		snprintf(ref, sizeof(ref), "sb-%s", j->id);
		o = json_pack("{s:s, s:s, s:{s:s}, s:s}", "phone_number", j->to,
		              "template_id", d->template_id, "personalisation",
		              "body", j->text, "reference", ref);
		if (d->sms_sender_id[0] != '\0')
			json_object_set_new(o, "sms_sender_id",
			                    json_string(d->sms_sender_id));
		body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		len = body != NULL ? strlen(body) : 0;
		hdrs[0] = auth;
		hdrs[1] = "Content-Type: application/json";
		q.nheaders = 2;
	} else {
		snprintf(url, sizeof(url),
		         "%s/2010-04-01/Accounts/%s/Messages.json", d->base_url,
		         d->account_sid);
		form_add(&body, &len, "To", j->to);
		if (d->messaging_service_sid[0] != '\0')
			form_add(&body, &len, "MessagingServiceSid",
			         d->messaging_service_sid);
		else
			form_add(&body, &len, "From",
			         d->number[0] ? d->number : d->sender_id);
		form_add(&body, &len, "Body", j->text);
		snprintf(cb, sizeof(cb), "%s/hooks/twilio/sms-status",
		         c->public_url);
		form_add(&body, &len, "StatusCallback", cb);
		snprintf(userpwd, sizeof(userpwd), "%s:%s", d->account_sid,
		         d->auth_tokens[0]);
		q.userpwd = userpwd;
		hdrs[0] = "Content-Type: application/x-www-form-urlencoded";
		q.nheaders = 1;
	}
	if (body == NULL)
		return fail(j, 1, "not sent: the request could not be made");
	q.body = body;
	q.body_len = len;
	fetch(j, &q, on_sent);
	explicit_bzero(body, len);
	free(body);
	explicit_bzero(userpwd, sizeof(userpwd));
	explicit_bzero(auth, sizeof(auth));
}

/* Characters (code points) of UTF-8 s. */
static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void
start_job(void *arg, const PGresult *res, int i)
{
	struct sms_outbox *o = arg;
	struct job *j = xcalloc(1, sizeof(*j));
	json_t *p;
	const char *name, *text, *why;
	size_t n;

	j->o = o;
	snprintf(j->id, sizeof(j->id), "%s", PQgetvalue(res, i, 0));
	snprintf(j->attempt, sizeof(j->attempt), "%s", PQgetvalue(res, i, 1));
	j->attempts = atoi(j->attempt);
	j->conv = strtoull(PQgetvalue(res, i, 4), NULL, 10);
	j->seq = strtoull(PQgetvalue(res, i, 5), NULL, 10);
	p = json_loads(PQgetvalue(res, i, 3), 0, NULL);
	name = json_string_value(json_object_get(p, "sender"));
	text = json_string_value(json_object_get(p, "text"));
	j->d = name != NULL         ? sms_config_sender(o->c, name)
	       : o->c->nsenders > 0 ? &o->c->senders[0]
	                            : NULL;
	if (text != NULL)
		j->text = xstrdup(text);
	json_decref(p);
	if (j->d == NULL) {
		char buf[200];

		snprintf(buf, sizeof(buf),
		         "not sent: no SMS sender %s is configured",
		         name != NULL ? name : "");
		return fail(j, 1, buf);
	}
	if (identity_phone(PQgetvalue(res, i, 2), 0, j->to, sizeof(j->to),
	                   &why) != 0)
		return fail(j, 1,
		            "not sent: the destination is not a phone number");
	if (j->text == NULL || j->text[0] == '\0')
		return fail(j, 1, "not sent: the text is empty");
	n = chars(j->text);
	if (n > j->d->max_length) {
		char why2[160];

		snprintf(why2, sizeof(why2),
		         "not sent: %zu characters, over the limit of %u for "
		         "texts from %s",
		         n, j->d->max_length, j->d->name);
		return fail(j, 1, why2);
	}
	if (j->d->provider == SMS_NOTIFY && j->attempts > 1)
		lookup(j);
	else
		send_now(j);
}

struct sms_outbox *
sms_outbox_new(uv_loop_t *loop, struct db *db, struct bus *bus,
               const struct sms_config *c)
{
	struct sms_outbox *o = xcalloc(1, sizeof(*o));
	struct outbox_poll_opts po;

	o->loop = loop;
	o->db = db;
	o->bus = bus;
	o->c = c;
	o->http = http_client_new(loop);
	memset(&po, 0, sizeof(po));
	po.name = "sms";
	po.claim_sql = CLAIM_SQL;
	po.batch = c->batch;
	po.poll_ms = c->poll_ms;
	po.lease_s = c->lease_s;
	po.row = start_job;
	po.arg = o;
	o->poll = outbox_poll_new(loop, db, &po);
	return o;
}

void
sms_outbox_start(struct sms_outbox *o)
{
	gw_info("sms.outbox_started", "senders=%zu", o->c->nsenders);
	outbox_poll_start(o->poll);
}

uint64_t
sms_outbox_sent(const struct sms_outbox *o)
{
	return o->sent;
}

uint64_t
sms_outbox_failed(const struct sms_outbox *o)
{
	return o->failed;
}

static void
on_poll_freed(void *arg)
{
	free(arg);
}

void
sms_outbox_free(struct sms_outbox *o)
{
	if (o == NULL)
		return;
	o->closing = 1;
	outbox_poll_free(o->poll, on_poll_freed, o);
	/* Requests in flight end now ("cancelled"): their rows are tried
	 * again when their lease ends. */
	http_client_free(o->http);
	o->http = NULL;
}
