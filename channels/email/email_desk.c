/*
 * email_desk.c: the email channel's desk operations and attachment
 * downloads (email_desk.h). Loop thread, but for work_parse, which runs on
 * the threadpool and touches only its own job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api.h"
#include "conversation.h"
#include "email_desk.h"
#include "email_mime.h"
#include "ingest.h"
#include "log.h"
#include "xmalloc.h"

static const char HISTORY_SQL[] = "SELECT jsonb_build_object('email',"
                                  " sb_email_reply_target($1::bigint))::text";

/*
 * The raw mail of message $1 and its metadata's attachment $2 (from 1),
 * when the conversation is held by $3 ('' for a supervisor or admin).
 */
static const char ATTACHMENT_SQL[] =
        "SELECT encode(e.raw, 'base64'),"
        " (m.metadata->'attachments'->($2::integer - 1))::text"
        " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " JOIN email_messages e ON e.message_id = m.id"
        " WHERE m.id = $1::bigint AND e.kind = 'message'"
        " AND ($3::text = '' OR c.assigned_staff_id::text = $3::text)";

#define NAME_MAX_BYTES 200

struct email_desk {
	uv_loop_t *loop;
	struct db *db;
	unsigned inflight;
	int closing;
};

struct job {
	uv_work_t req;
	struct email_desk *d;
	struct gw_http *http;
	unsigned long conn;
	size_t index; /* from 0 */
	char *b64;    /* the raw mail, base64 */
	unsigned char *data;
	size_t len;
	char *filename; /* UTF-8, or NULL */
	int status;     /* 200, or an error's */
	const char *why;
};

/* The outbox row was queued with the message (migrations 0031, 0033). */
static char *
reply(void *arg, const struct conversation_reply *r)
{
	(void)arg;
	(void)r;
	return NULL;
}

static const struct conversation_channel_ops EMAIL_OPS = {
        .reply = reply,
        .history_sql = HISTORY_SQL,
};

static void
maybe_free(struct email_desk *d)
{
	if (d->closing && d->inflight == 0)
		free(d);
}

static void
job_free(struct job *j)
{
	struct email_desk *d = j->d;

	free(j->b64);
	free(j->data);
	free(j->filename);
	free(j);
	d->inflight--;
	maybe_free(d);
}

static void
answer_error(struct job *j, int status, const char *why)
{
	json_t *o = json_pack("{s:s}", "error", why);
	char *text = json_dumps(o, JSON_COMPACT);

	if (!j->d->closing)
		gw_http_respond(j->http, j->conn, status, text, NULL);
	free(text);
	json_decref(o);
}

/* The parser's caps decided what was kept; the same defaults here. */
static void
work_parse(uv_work_t *req)
{
	struct job *j = req->data;
	size_t cap = strlen(j->b64), n = 0;
	unsigned char *raw = xmalloc(cap + 1);
	struct email_mime_msg m;

	j->status = 500;
	j->why = "the stored mail cannot be read";
	if (sodium_base642bin(raw, cap, j->b64, cap, "\n\r", &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(raw);
		return;
	}
	email_mime_parse(raw, n, NULL, &m);
	if (j->index >= m.natt) {
		j->status = 404;
		j->why = "no such attachment";
	} else if (m.att[j->index].data == NULL) {
		j->status = 410;
		j->why = "this attachment was over the size kept; the original "
		         "mail is kept whole";
	} else {
		j->status = 200;
		j->len = m.att[j->index].size;
		j->data = xmalloc(j->len + 1);
		memcpy(j->data, m.att[j->index].data, j->len);
		if (m.att[j->index].filename != NULL)
			j->filename = xstrdup(m.att[j->index].filename);
	}
	email_mime_free(&m);
	free(raw);
}

/* name's printable ASCII, others as '_', for the plain filename=. */
static void
ascii_name(const char *name, char *out, size_t len)
{
	size_t o = 0;

	for (; *name != '\0' && o + 1 < len; name++) {
		unsigned char c = (unsigned char)*name;

		out[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' &&
		            c != '/' && c != ';')
		                   ? (char)c
		                   : '_';
	}
	out[o] = '\0';
}

/* name percent-encoded as RFC 5987 asks, for filename*=. */
static void
pct_name(const char *name, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *name != '\0' && o + 4 < len; name++) {
		unsigned char c = (unsigned char)*name;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static void
after_parse(uv_work_t *req, int status)
{
	struct job *j = req->data;
	char plain[NAME_MAX_BYTES + 1], enc[3 * NAME_MAX_BYTES + 1],
	        disp[4 * NAME_MAX_BYTES + 64];
	struct gw_http_field f[3];
	struct gw_http_response res;

	(void)status;
	if (j->status != 200) {
		answer_error(j, j->status, j->why);
		job_free(j);
		return;
	}
	ascii_name(j->filename != NULL ? j->filename : "attachment", plain,
	           sizeof(plain));
	pct_name(j->filename != NULL ? j->filename : "attachment", enc,
	         sizeof(enc));
	snprintf(disp, sizeof(disp),
	         "attachment; filename=\"%s\"; filename*=UTF-8''%s", plain,
	         enc);
	f[0].name = "Content-Disposition";
	f[0].value = disp;
	/* (X-Content-Type-Options: nosniff is on every answer: http.c) */
	f[1].name = "Content-Security-Policy";
	f[1].value = "sandbox; default-src 'none'";
	f[2].name = "Cache-Control";
	f[2].value = "private, no-store";
	memset(&res, 0, sizeof(res));
	res.status = 200;
	res.content_type = "application/octet-stream";
	res.body = (const char *)j->data;
	res.len = j->len;
	res.fields = f;
	res.nfields = 3;
	if (!j->d->closing)
		gw_http_answer(j->http, j->conn, &res);
	job_free(j);
}

static void
on_row(void *arg, PGresult *res, const char *err)
{
	struct job *j = arg;
	json_t *meta;

	if (j->d->closing) {
		job_free(j);
		return;
	}
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		gw_warn("email.attachment_unavailable", "reason=\"%s\"",
		        err != NULL ? err : PQresultErrorMessage(res));
		answer_error(j, 503, "the database is unavailable: try again");
		job_free(j);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1)) {
		answer_error(j, 404,
		             "no such attachment on a conversation you hold");
		job_free(j);
		return;
	}
	meta = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	if (json_is_true(json_object_get(meta, "over_cap"))) {
		json_decref(meta);
		answer_error(j, 410,
		             "this attachment was over the size kept; the "
		             "original mail is kept whole");
		job_free(j);
		return;
	}
	json_decref(meta);
	j->b64 = xstrdup(PQgetvalue(res, 0, 0));
	j->req.data = j;
	if (uv_queue_work(j->d->loop, &j->req, work_parse, after_parse) != 0) {
		answer_error(j, 503, "busy: try again");
		job_free(j);
	}
}

static int
is_supervisor(const char *role)
{
	return role != NULL &&
	       (strcmp(role, "supervisor") == 0 || strcmp(role, "admin") == 0);
}

/* GET /api/messages/{id}/attachments/{id} */
static void
on_attachment(void *arg, const struct api_call *call)
{
	struct email_desk *d = arg;
	struct job *j;
	char msg[24], n[24], who[24];
	const char *params[3];

	if (call->id[1] > (long long)INGEST_ATTACHMENT_MAX) {
		gw_http_respond(call->http, call->conn, 404,
		                "{\"error\":\"no such attachment\"}", NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->http = call->http;
	j->conn = call->conn;
	j->index = (size_t)(call->id[1] - 1);
	d->inflight++;
	snprintf(msg, sizeof(msg), "%lld", call->id[0]);
	snprintf(n, sizeof(n), "%lld", call->id[1]);
	snprintf(who, sizeof(who), "%lld", call->who->staff_id);
	params[0] = msg;
	params[1] = n;
	params[2] = is_supervisor(call->who->role) ? "" : who;
	if (db_query(d->db, ATTACHMENT_SQL, 3, params, on_row, j) != 0) {
		answer_error(j, 503, "the database is unavailable: try again");
		job_free(j);
	}
}

const struct api_route email_desk_routes[] = {
        {GW_HTTP_GET, "/api/messages/{id}/attachments/{id}", API_SESSION, NULL,
         on_attachment},
};
const size_t email_desk_nroutes =
        sizeof(email_desk_routes) / sizeof(email_desk_routes[0]);

struct email_desk *
email_desk_new(uv_loop_t *loop, struct db *db, struct conversation *cv,
               struct gw_api *api)
{
	struct email_desk *d = xcalloc(1, sizeof(*d));

	d->loop = loop;
	d->db = db;
	conversation_channel_register(cv, "email", &EMAIL_OPS);
	if (api != NULL)
		gw_api_mount(api, email_desk_routes, email_desk_nroutes, d);
	return d;
}

void
email_desk_free(struct email_desk *d)
{
	if (d == NULL)
		return;
	d->closing = 1;
	maybe_free(d);
}
