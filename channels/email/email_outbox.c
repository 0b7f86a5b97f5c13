/*
 * email_outbox.c: the sender of the outbox's email rows (email_outbox.h).
 * Loop thread, but for work_send, which runs on the threadpool and
 * touches only its own job, the immutable settings and the token source
 * (thread-safe).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bus.h"
#include "conversation.h"
#include "email_compose.h"
#include "email_oauth.h"
#include "email_outbox.h"
#include "email_smtp.h"
#include "log.h"
#include "outbox_poll.h"
#include "xmalloc.h"

#define TOKEN_MAX 16384
/* Message-IDs in References at most (the newest kept: the row's order). */
#define EMAIL_REFERENCES_MAX 20

static const char CLAIM_SQL[] =
        "SELECT id, attempts, destination, payload::text,"
        " coalesce(conversation_id, 0), coalesce(message_id, 0)"
        " FROM sb_outbox_claim_email($1::integer, $2::interval, $3)";
static const char SENT_SQL[] = "SELECT sb_outbox_sent($1::bigint,"
                               " $2::integer, NULL)";
static const char FAILED_SQL[] = "SELECT sb_outbox_failed($1::bigint,"
                                 " $2::integer, $3, $4::boolean)";

struct email_outbox {
	uv_loop_t *loop;
	struct db *db;
	struct bus *bus; /* delivery news for the desks; NULL: none */
	const struct email_smtp_config *c;
	const struct email_config *ec; /* the mailboxes' From and signature */
	struct email_oauth *oauth;     /* NULL: a password or none */
	struct outbox_poll *poll;
	int closing;
	uint64_t sent, failed;
};

struct job {
	uv_work_t req;
	struct email_outbox *o;
	char id[24], attempt[16];
	uint64_t conv, seq; /* an advisor's reply: its message, else 0 */
	char *to, *envelope;
	char *msg;
	size_t len;
	struct email_smtp_outcome out;
	int refused; /* not composed: failed for good, not sent */
	int ok;      /* the server took it */
};

static const char *
domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

static void
job_free(struct job *j)
{
	free(j->to);
	free(j->envelope);
	free(j->msg);
	free(j);
}

/*
 * An advisor's reply changed state (recorded: sent, pending again, failed
 * for good): the desks following its conversation are told.
 */
static void
tell_desks(struct email_outbox *o, const struct job *j, const char *status)
{
	struct conversation_delivery d = {
	        status, j->to, j->ok ? NULL : j->out.reason, NULL, NULL};

	if (!o->closing)
		conversation_publish_delivery(o->bus, j->conv, j->seq, &d);
}

static void
on_recorded(void *arg, PGresult *res, const char *err)
{
	struct job *j = arg;
	struct email_outbox *o = j->o;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		gw_warn("email.outbox_unrecorded",
		        "id=%s reason=\"%s\" (sent again when its lease ends)",
		        j->id, err ? err : PQresultErrorMessage(res));
	else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		tell_desks(o, j,
		           !j->ok ? PQgetvalue(res, 0, 0)
		           : PQgetvalue(res, 0, 0)[0] == 't' ? "sent"
		                                             : NULL);
	job_free(j);
	outbox_poll_done(o->poll);
}

static void
record(struct job *j, int ok)
{
	struct email_outbox *o = j->o;
	const char *params[4];
	int rc;

	/* Shutting down: db may be gone. The row stays 'sending' and is
	 * sent again (same Message-ID) when its lease ends. */
	if (o->closing) {
		on_recorded(j, NULL, "shutting down");
		return;
	}
	params[0] = j->id;
	params[1] = j->attempt;
	if (ok) {
		o->sent++;
		gw_info("email.sent", "id=%s to_domain=%s code=%ld", j->id,
		        domain_of(j->to), j->out.code);
		rc = db_query(o->db, SENT_SQL, 2, params, on_recorded, j);
	} else {
		if (j->out.permanent)
			o->failed++;
		gw_warn("email.send_failed",
		        "id=%s to_domain=%s code=%ld permanent=%d "
		        "reason=\"%s\"",
		        j->id, domain_of(j->to), j->out.code, j->out.permanent,
		        j->out.reason);
		params[2] = j->out.reason;
		params[3] = j->out.permanent ? "true" : "false";
		rc = db_query(o->db, FAILED_SQL, 4, params, on_recorded, j);
	}
	if (rc != 0)
		on_recorded(j, NULL, "database unavailable");
}

static void
work_send(uv_work_t *req)
{
	struct job *j = req->data;
	const struct email_smtp_config *c = j->o->c;
	struct email_smtp_opts opts;
	char *token = NULL, err[400];
	const char *rcpt[1];

	if (j->refused)
		return;
	memset(&opts, 0, sizeof(opts));
	opts.host = c->host;
	opts.port = (uint16_t)c->port;
	opts.tls = c->tls;
	opts.ca_file = c->ca_file;
	opts.user = c->cred.user;
	opts.password = c->cred.password;
	opts.timeout_s = c->timeout_s;
	if (j->o->oauth != NULL) {
		token = xmalloc(TOKEN_MAX);
		if (email_oauth_token(j->o->oauth, token, TOKEN_MAX, err,
		                      sizeof(err)) != 0) {
			memset(&j->out, 0, sizeof(j->out));
			snprintf(j->out.reason, sizeof(j->out.reason),
			         "no OAuth token: %.400s", err);
			free(token);
			return;
		}
		opts.oauth_token = token;
	}
	rcpt[0] = j->to;
	if (email_smtp_send(&opts, j->envelope, rcpt, 1, j->msg, j->len,
	                    &j->out) == 0) {
		j->ok = 1;
	} else if (token != NULL && j->out.code == 535) {
		/* The server refused the token: fetch a new one next time. */
		email_oauth_invalidate(j->o->oauth);
	}
	if (token != NULL) {
		explicit_bzero(token, TOKEN_MAX);
		free(token);
	}
}

static void
after_send(uv_work_t *req, int status)
{
	struct job *j = req->data;

	(void)status;
	record(j, j->ok);
}

static const char *
str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The mailbox a row was written for (its payload's "mailbox"), or NULL. */
static const struct email_mailbox_config *
mailbox_of(const struct email_outbox *o, const char *name)
{
	size_t i;

	if (name == NULL || o->ec == NULL)
		return NULL;
	for (i = 0; i < o->ec->nmailboxes; i++)
		if (strcmp(o->ec->mailboxes[i]->name, name) == 0)
			return o->ec->mailboxes[i];
	return NULL;
}

/* A job for one claimed row: composed now, sent on the threadpool. */
static void
start_job(void *arg, const PGresult *res, int row)
{
	struct email_outbox *o = arg;
	struct job *j = xcalloc(1, sizeof(*j));
	struct email_compose c;
	const char *why = NULL, *kind, *env, *auto_sub;
	const char *refs[EMAIL_REFERENCES_MAX];
	const struct email_mailbox_config *mb;
	char *signed_text = NULL;
	json_t *p, *ra;
	size_t k;

	j->o = o;
	j->req.data = j;
	snprintf(j->id, sizeof(j->id), "%s", PQgetvalue(res, row, 0));
	snprintf(j->attempt, sizeof(j->attempt), "%s", PQgetvalue(res, row, 1));
	j->to = xstrdup(PQgetvalue(res, row, 2));
	p = json_loads(PQgetvalue(res, row, 3), 0, NULL);
	kind = str(p, "kind") != NULL ? str(p, "kind") : "";
	if (strcmp(kind, "email.reply") == 0) {
		j->conv = strtoull(PQgetvalue(res, row, 4), NULL, 10);
		j->seq = strtoull(PQgetvalue(res, row, 5), NULL, 10);
	}
	env = str(p, "envelope_from");
	auto_sub = str(p, "auto_submitted");
	if (auto_sub == NULL && strncmp(kind, "chat.", 5) == 0)
		auto_sub = "auto-generated";
	mb = mailbox_of(o, str(p, "mailbox"));
	memset(&c, 0, sizeof(c));
	c.from_addr = mb != NULL && mb->from != NULL ? mb->from : o->c->from;
	c.from_name = mb != NULL && mb->from_name != NULL ? mb->from_name
	                                                  : o->c->from_name;
	c.reply_to = mb != NULL ? mb->reply_to : NULL;
	/* Bounces come back to the address mail is sent as: to the mailbox
	 * intake reads, when it has its own. */
	j->envelope = xstrdup(env != NULL && env[0] == '\0' ? "" : c.from_addr);
	c.to_addr = j->to;
	c.subject = str(p, "subject");
	c.message_id = str(p, "message_id");
	c.in_reply_to = str(p, "in_reply_to");
	ra = json_object_get(p, "references");
	for (k = 0;
	     k < json_array_size(ra) && c.nreferences < EMAIL_REFERENCES_MAX;
	     k++)
		if (json_string_value(json_array_get(ra, k)) != NULL)
			refs[c.nreferences++] =
			        json_string_value(json_array_get(ra, k));
	c.references = refs;
	c.auto_submitted = auto_sub;
	c.date_ms = (int64_t)time(NULL) * 1000;
	c.text = str(p, "text");
	if (c.text != NULL && j->seq != 0 && mb != NULL &&
	    mb->signature != NULL) {
		/* An advisor's reply carries the mailbox's signature. */
		signed_text = xasprintf("%s\n\n-- \n%s", c.text, mb->signature);
		c.text = signed_text;
	}
	if (c.text == NULL) {
		why = "the row has no text";
	} else {
		j->msg = email_compose(&c, &j->len, &why);
	}
	if (j->msg == NULL) {
		j->refused = 1;
		memset(&j->out, 0, sizeof(j->out));
		j->out.permanent = 1;
		snprintf(j->out.reason, sizeof(j->out.reason),
		         "not sent: %s (%s)", why, kind);
	}
	free(signed_text);
	json_decref(p);
	if (uv_queue_work(o->loop, &j->req, work_send, after_send) != 0) {
		j->out.permanent = 0;
		snprintf(j->out.reason, sizeof(j->out.reason), "no worker");
		record(j, 0);
	}
}

struct email_outbox *
email_outbox_new(uv_loop_t *loop, struct db *db, struct bus *bus,
                 const struct email_config *ec)
{
	struct email_outbox *o = xcalloc(1, sizeof(*o));
	const struct email_smtp_config *c = ec->smtp;
	struct outbox_poll_opts po;
	char err[256];

	o->loop = loop;
	o->db = db;
	o->bus = bus;
	o->c = c;
	o->ec = ec;
	o->oauth = email_config_oauth(&c->cred, err, sizeof(err));
	if (o->oauth == NULL && err[0] != '\0')
		gw_error("email.oauth_unusable", "reason=\"%s\"", err);
	memset(&po, 0, sizeof(po));
	po.name = "email";
	po.claim_sql = CLAIM_SQL;
	po.extra[0] = c->message_id_domain;
	po.nextra = 1;
	po.batch = c->batch;
	po.poll_ms = c->poll_ms;
	po.lease_s = c->lease_s;
	po.row = start_job;
	po.arg = o;
	o->poll = outbox_poll_new(loop, db, &po);
	return o;
}

void
email_outbox_start(struct email_outbox *o)
{
	gw_info("email.outbox_started", "host=%s port=%u from=%s", o->c->host,
	        o->c->port, o->c->from);
	outbox_poll_start(o->poll);
}

uint64_t
email_outbox_sent(const struct email_outbox *o)
{
	return o->sent;
}

uint64_t
email_outbox_failed(const struct email_outbox *o)
{
	return o->failed;
}

static void
on_poll_freed(void *arg)
{
	struct email_outbox *o = arg;

	email_oauth_free(o->oauth);
	free(o);
}

void
email_outbox_free(struct email_outbox *o)
{
	if (o == NULL)
		return;
	o->closing = 1;
	outbox_poll_free(o->poll, on_poll_freed, o);
}
