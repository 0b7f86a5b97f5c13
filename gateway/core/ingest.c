/*
 * ingest.c: one inbound message from any channel, through the channels'
 * group-commit writer, then the channel, the router and the delivery
 * hook. See ingest.h and migration 0016 (sb_ingest). Loop thread only.
 * A submitted message is a heap job owned by the writer's callback; the
 * ingest itself is freed only when no job is left (ingest_free).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "xmalloc.h"

/* The values sb_channel allows (migration 0001; later ones add to it). */
static const char *const channels[] = {"chat",  "email", "sms",
                                       "voice", "visit", "web"};

/* sb_ingest's refusals, and what they mean. */
static const struct {
	const char *code;
	const char *why;
} refusals[] = {
        {"unknown_queue", "no such queue"},
        {"queue_inactive", "the queue takes no new contacts"},
        {"queue_channel", "the queue does not take this channel"},
        {"no_queue", "a new conversation needs a queue"},
        {"no_conversation", "no such conversation"},
        {"conversation_channel", "the conversation is on another channel"},
        {"ended", "the conversation has ended"},
        {"unknown_hook", "no such ingest hook (ingest_hooks)"},
};

static const char *const match_names[] = {"new", "matched", "ambiguous", "none",
                                          "conversation"};
static const char *const opened_names[] = {"", "new", "reopened", "followed"};

/*
 * New contacts, many per statement: sb_ingest_set (migration 0022) writes
 * the batch's simple ones (sharing nothing with the rest of the batch,
 * thread keys not recorded yet, a hook with a set form or none) with one
 * INSERT per table and one call of each hook's set form, then runs
 * sb_ingest_hooked for every other row, in order. ingest_submit sends here
 * only messages that name no conversation or reference, do not ask for
 * INGEST_FIND_OPEN and are not INGEST_MAY_REFUSE. Columns: position, then
 * sb_ingest's result (migration 0016), then the hook's answer.
 */
static const struct db_rows INGEST_NEW_ROWS = {
        "SELECT n, conversation_id, reference, seq, at_ms, customer_id, match,"
        " candidates::text, opened, repeated, route, queue_id, channel,"
        " queued_ms, priority, stored_body, stored_metadata::text, refused,"
        " hook::text"
        " FROM sb_ingest_set($1::text[], $2::text[], $3::text[], $4::text[],"
        "  $5::jsonb[], $6::bigint[], $7::jsonb[], $8::jsonb[], $9::text[],"
        "  $10::boolean[], $11::text[], $12::text[], $13::text[],"
        "  $14::jsonb[], $15::text[], $16::jsonb[])",
        16};

/*
 * Every other message (a thread key to find or record, a quoted reference,
 * the customer's open conversation): one sb_ingest call a row, in order, so
 * a later row sees what an earlier one wrote (the same external id twice is
 * a repeat, the same new sender one customer). Columns as INGEST_NEW_ROWS.
 */
static const struct db_rows INGEST_ROWS = {
        "SELECT r.n, i.conversation_id, i.reference, i.seq, i.at_ms,"
        " i.customer_id, i.match, i.candidates::text, i.opened, i.repeated,"
        " i.route, i.queue_id, i.channel, i.queued_ms, i.priority,"
        " i.stored_body, i.stored_metadata::text, i.refused"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        "  $5::jsonb[], $6::bigint[], $7::jsonb[], $8::jsonb[], $9::text[],"
        "  $10::boolean[], $11::text[], $12::text[], $13::text[],"
        "  $14::jsonb[]) WITH ORDINALITY AS r(channel, source, ext, name,"
        "  ids, conv, tfind, tadd, ref, open, queue, subject, body, meta, n)"
        " CROSS JOIN LATERAL sb_ingest(r.channel, r.source, r.ext, r.name,"
        "  r.ids, r.conv, r.tfind, r.tadd, r.ref, r.open, r.queue,"
        "  r.subject, r.body, r.meta) i"
        " ORDER BY r.n",
        14};

/*
 * The fast path: messages into a conversation the channel names (a chat
 * socket's, a desk-side thread's), with no thread key to record. Set-based
 * rather than one sb_ingest call a row: the conversation is read once,
 * the messages inserted by one INSERT in the batch's order, each repeat
 * looked up by its key alone (LATERAL, kept from being flattened by its
 * LIMIT: as a plain join a generic plan made while the table was small
 * hashes every message ever stored). Six parameters, what a known
 * conversation needs (channel, source, external id, conversation, body,
 * metadata), and INGEST_ROWS's columns (queued and priority NULL: nothing
 * is routed; the customer's row is not read), with sb_ingest's answers: a
 * repeat (an earlier batch's, or an earlier acceptable row of this one:
 * k > 1) is the stored message; else refused as sb_ingest would
 * (no_conversation, conversation_channel, ended). One difference: a row
 * refused here is refused even when a later row of the batch stores its
 * external id (sb_ingest, one row after another, would have answered the
 * later one a repeat of nothing and stored it; here the later one is
 * stored too). A row with neither (seq NULL, refused NULL) was
 * committed by another instance after this statement's snapshot: on_written
 * answers it RETRY, and the source's retry finds it as a repeat. Nothing here
 * opens a conversation, so nothing is routed, a repeat included (ingest.h).
 */
static const struct db_rows INGEST_KNOWN_ROWS = {
        "WITH r AS (SELECT r.n, r.channel, r.source, r.ext, r.conv, r.body,"
        "   coalesce(r.meta, '{}') AS meta, c.status AS c_status,"
        "   c.channel AS c_channel, c.reference, c.customer_id, c.queue_id,"
        "   coalesce(c.channel = r.channel AND c.status NOT IN ('closed',"
        "    'wrap_up'), false) AS ok,"
        "   row_number() OVER w AS k, first_value(r.body) OVER w AS body0,"
        "   first_value(r.meta) OVER w AS meta0"
        "  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],"
        "   $5::text[], $6::jsonb[]) WITH ORDINALITY"
        "   AS r(channel, source, ext, conv, body, meta, n)"
        "  LEFT JOIN conversations c ON c.id = r.conv"
        "  WINDOW w AS (PARTITION BY r.source, r.ext, coalesce(c.channel ="
        "   r.channel AND c.status NOT IN ('closed', 'wrap_up'), false)"
        "   ORDER BY r.n)),"
        " ins AS (INSERT INTO messages (conversation_id, direction,"
        "   author_kind, body, metadata, source, external_id)"
        "  SELECT conv, 'in', 'customer', body, meta, source, ext FROM r"
        "  WHERE k = 1 AND ok ORDER BY n"
        "  ON CONFLICT (source, external_id) DO NOTHING"
        "  RETURNING id, conversation_id, source, external_id, created_at),"
        " a AS (SELECT r.*, ins.id AS ins_id, ins.created_at AS ins_at,"
        "   m.id AS m_id, m.created_at AS m_at, m.body AS m_body,"
        "   m.metadata AS m_meta,"
        "   coalesce(ins.conversation_id, m.conversation_id) AS cid"
        "  FROM r LEFT JOIN ins ON r.ok AND ins.source = r.source"
        "   AND ins.external_id = r.ext"
        "  LEFT JOIN LATERAL (SELECT m.id, m.conversation_id, m.created_at,"
        "    m.body, m.metadata FROM messages m WHERE ins.id IS NULL"
        "    AND m.source = r.source AND m.external_id = r.ext LIMIT 1) m"
        "   ON true)"
        " SELECT a.n, a.cid, CASE WHEN a.cid = a.conv THEN a.reference"
        "   ELSE cv.reference END, coalesce(a.ins_id, a.m_id),"
        "  (extract(epoch FROM coalesce(a.ins_at, a.m_at)) * 1000)::bigint,"
        "  CASE WHEN a.cid = a.conv THEN a.customer_id ELSE cv.customer_id"
        "   END, 'conversation', '{}', '', a.ins_id IS NULL OR a.k > 1,"
        "  false, CASE WHEN a.cid = a.conv THEN a.queue_id ELSE cv.queue_id"
        "   END, CASE WHEN a.cid = a.conv THEN a.c_channel::text"
        "   ELSE cv.channel::text END, NULL, NULL,"
        "  CASE WHEN a.ins_id IS NULL THEN a.m_body ELSE a.body0 END,"
        "  CASE WHEN a.ins_id IS NULL THEN a.m_meta ELSE a.meta0 END::text,"
        "  CASE WHEN a.ins_id IS NOT NULL OR a.m_id IS NOT NULL THEN NULL"
        "   WHEN a.c_status IS NULL THEN 'no_conversation'"
        "   WHEN a.c_channel <> a.channel THEN 'conversation_channel'"
        "   WHEN a.c_status IN ('closed', 'wrap_up') THEN 'ended' END"
        " FROM a LEFT JOIN conversations cv ON cv.id = a.cid"
        "  AND a.cid <> a.conv"
        " ORDER BY a.n",
        6};

/*
 * A message with a channel's hook (ingest.h, "Hooks"), or a contact with
 * no message (INGEST_NO_MESSAGE, p_hook NULL): one sb_ingest_hooked call a
 * row (migration 0020), in order: sb_ingest, then the hook in the same
 * transaction. Columns: INGEST_ROWS's, then the hook's answer.
 */
static const struct db_rows INGEST_HOOKED_ROWS = {
        "SELECT r.n, i.conversation_id, i.reference, i.seq, i.at_ms,"
        " i.customer_id, i.match, i.candidates::text, i.opened, i.repeated,"
        " i.route, i.queue_id, i.channel, i.queued_ms, i.priority,"
        " i.stored_body, i.stored_metadata::text, i.refused, i.hook::text"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        "  $5::jsonb[], $6::bigint[], $7::jsonb[], $8::jsonb[], $9::text[],"
        "  $10::boolean[], $11::text[], $12::text[], $13::text[],"
        "  $14::jsonb[], $15::text[], $16::jsonb[])"
        "  WITH ORDINALITY AS r(channel, source, ext, name, ids, conv, tfind,"
        "  tadd, ref, open, queue, subject, body, meta, hook, hdata, n)"
        " CROSS JOIN LATERAL sb_ingest_hooked(r.hook, r.hdata, r.channel,"
        "  r.source, r.ext, r.name, r.ids, r.conv, r.tfind, r.tadd, r.ref,"
        "  r.open, r.queue, r.subject, r.body, r.meta) i"
        " ORDER BY r.n",
        16};

enum {
	COL_N = 0,
	COL_CONV,
	COL_REF,
	COL_SEQ,
	COL_AT,
	COL_CUSTOMER,
	COL_MATCH,
	COL_CANDIDATES,
	COL_OPENED,
	COL_REPEATED,
	COL_ROUTE,
	COL_QUEUE,
	COL_CHANNEL,
	COL_QUEUED,
	COL_PRIORITY,
	COL_BODY,
	COL_METADATA,
	COL_REFUSED,
	COL_HOOK,
	COLS
};

struct ingest {
	uv_loop_t *loop;
	struct db_commit *w;
	struct route *r;
	ingest_deliver_fn deliver;
	void *deliver_arg;
	unsigned pending;
	int closing;
};

/* One submitted message, until its callback. */
struct ingest_job {
	struct ingest *in;
	ingest_cb cb;
	void *arg;
	ingest_routed_fn routed;
	void *routed_arg;
	int no_message;
	int own_delivery; /* INGEST_OWN_DELIVERY */
	char *body;       /* as submitted */
	char *metadata;   /* as submitted, with the attachments */
	json_t *meta_obj; /* the same, as an object (for the delivery hook) */
};

/* ---------------------------------------------------------------- checks */

/* Well-formed UTF-8 (no overlong forms, no surrogates), n bytes. */
static int
utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, len;
	unsigned long cp;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			len = 2;
			cp = p[i] & 0x1f;
		} else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			len = 3;
			cp = p[i] & 0x0f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			len = 4;
			cp = p[i] & 0x07;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((len == 3 &&
		     (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += len;
	}
	return 1;
}

/* A string field: NULL allowed unless required, UTF-8, 1..max bytes. */
static const char *
check_str(const char *s, size_t max, int required, const char *what)
{
	size_t n;

	if (s == NULL)
		return required ? what : NULL;
	n = strnlen(s, max + 1);
	if (n == 0 || n > max || !utf8_valid(s, n))
		return what;
	return NULL;
}

/* s cut to at most max characters, at a character boundary: a copy. */
static char *
cut_chars(const char *s, size_t max)
{
	size_t i, chars = 0;

	if (s == NULL)
		return NULL;
	for (i = 0; s[i] != '\0'; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max)
			break;
	return xstrndup(s, i);
}

static int
channel_known(const char *ch)
{
	size_t i;

	for (i = 0; ch != NULL && i < sizeof(channels) / sizeof(channels[0]);
	     i++)
		if (strcmp(ch, channels[i]) == 0)
			return 1;
	return 0;
}

/* The identities as sb_ingest takes them; NULL (why) if one is not valid. */
static char *
ids_json(const struct ingest_msg *m, const char **why)
{
	char norm[IDENTITY_VALUE_MAX + 1];
	json_t *a = json_array();
	char *s = NULL;
	size_t i;

	for (i = 0; i < m->nids; i++) {
		const struct identity *id = &m->ids[i];

		if (identity_normalise(id->kind, id->value, norm, sizeof(norm),
		                       NULL) != 0 ||
		    strcmp(norm, id->value) != 0) {
			*why = "an identity is not normalised (identity.h)";
			goto out;
		}
		json_array_append_new(a, json_pack("{s:s, s:s}", "kind",
		                                   identity_kind_name(id->kind),
		                                   "value", id->value));
	}
	s = json_dumps(a, JSON_COMPACT);
out:
	json_decref(a);
	return s;
}

/* Thread keys as a JSON array; NULL for none; *bad when one is not valid. */
static char *
keys_json(const char *const *keys, size_t n, int *bad)
{
	json_t *a;
	char *s;
	size_t i;

	if (n == 0)
		return NULL;
	a = json_array();
	for (i = 0; i < n; i++) {
		if (check_str(keys[i], INGEST_KEY_MAX, 1, "key") != NULL) {
			*bad = 1;
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, json_string(keys[i]));
	}
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

/*
 * The message's metadata (a JSON object, or {}) with its attachments'
 * metadata under "attachments", as text and as the object it was written
 * from (*obj, the caller's reference); NULL (why) when it cannot be.
 */
static char *
metadata_json(const struct ingest_msg *m, json_t **obj, const char **why)
{
	json_t *o = NULL, *atts, *x;
	json_error_t e;
	char *s = NULL;
	size_t i;

	if (m->metadata != NULL) {
		if (strnlen(m->metadata, INGEST_METADATA_MAX + 1) >
		    INGEST_METADATA_MAX) {
			*why = "metadata is longer than 64 KiB";
			return NULL;
		}
		/* No NUL in strings: PostgreSQL's jsonb refuses \u0000. */
		o = json_loads(m->metadata, 0, &e);
		if (!json_is_object(o)) {
			*why = "metadata must be a JSON object";
			goto out;
		}
	} else {
		o = json_object();
	}
	if (m->nattachments > 0) {
		atts = json_array();
		for (i = 0; i < m->nattachments; i++) {
			const struct ingest_attachment *a = &m->attachments[i];

			if (check_str(a->filename, 255, 1, "") != NULL ||
			    check_str(a->content_type, 255, 0, "") != NULL ||
			    check_str(a->sha256, 64, 0, "") != NULL ||
			    check_str(a->location, 2000, 0, "") != NULL) {
				json_decref(atts);
				*why = "an attachment needs a filename (at "
				       "most "
				       "255 bytes) and short, valid fields";
				goto out;
			}
			x = json_pack("{s:s, s:s?, s:I, s:s?, s:s?, s:b}",
			              "filename", a->filename, "content_type",
			              a->content_type, "size",
			              (json_int_t)a->size, "sha256", a->sha256,
			              "location", a->location, "stored", 0);
			json_array_append_new(atts, x);
		}
		json_object_set_new(o, "attachments", atts);
	}
	s = json_dumps(o, JSON_COMPACT);
	if (s == NULL)
		*why = "metadata cannot be written out";
out:
	if (s != NULL)
		*obj = o;
	else
		json_decref(o);
	return s;
}

/* A name ingest_hooks may hold: [a-z][a-z0-9_.]{0,62}. */
static int
hook_name_valid(const char *s)
{
	size_t i;

	if (s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (i > 62 || !((s[i] >= 'a' && s[i] <= 'z') ||
		                (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		                s[i] == '.'))
			return 0;
	return 1;
}

/* 1 when s is a JSON object's text of at most max bytes. */
static int
json_object_text(const char *s, size_t max)
{
	json_t *o;
	int ok;

	if (strnlen(s, max + 1) > max)
		return 0;
	o = json_loads(s, 0, NULL);
	ok = json_is_object(o);
	json_decref(o);
	return ok;
}

/* The first problem with m, or NULL. */
static const char *
check_msg(const struct ingest_msg *m)
{
	const char *why;

	if (!channel_known(m->channel))
		return "unknown channel";
	if ((why = check_str(m->source, INGEST_SOURCE_MAX, 1,
	                     "source must be 1 to 200 bytes of UTF-8")) !=
	            NULL ||
	    (why = check_str(m->external_id, INGEST_EXTERNAL_MAX, 1,
	                     "external_id must be 1 to 1000 bytes of UTF-8")) !=
	            NULL ||
	    (why = check_str(m->name, 4 * INGEST_NAME_MAX + 4096, 0,
	                     "name must be UTF-8")) != NULL ||
	    (why = check_str(m->reference, 32, 0,
	                     "reference must be at most 32 bytes")) != NULL ||
	    (why = check_str(m->queue, 64, 0,
	                     "queue must be a slug or an id")) != NULL ||
	    (why = check_str(m->subject, 4 * INGEST_SUBJECT_MAX + 4096, 0,
	                     "subject must be UTF-8")) != NULL)
		return why;
	if (m->body != NULL &&
	    (strnlen(m->body, INGEST_BODY_MAX + 1) > INGEST_BODY_MAX ||
	     !utf8_valid(m->body, strlen(m->body))))
		return "body must be UTF-8, at most 1 MiB";
	if (m->nids > INGEST_IDS_MAX || (m->nids > 0 && m->ids == NULL))
		return "too many identities";
	if (m->nthread_find > INGEST_THREAD_MAX ||
	    m->nthread_add > INGEST_THREAD_MAX ||
	    (m->nthread_find > 0 && m->thread_find == NULL) ||
	    (m->nthread_add > 0 && m->thread_add == NULL))
		return "too many thread keys";
	if (m->nattachments > INGEST_ATTACHMENT_MAX ||
	    (m->nattachments > 0 && m->attachments == NULL))
		return "too many attachments";
	if ((m->flags & INGEST_NO_MESSAGE) && m->body != NULL)
		return "a contact with no message has no body";
	if (m->hook == NULL && m->hook_data != NULL)
		return "hook_data without a hook";
	if (m->hook != NULL && !hook_name_valid(m->hook))
		return "hook must be a registered name ([a-z][a-z0-9_.]*)";
	if (m->hook_data != NULL &&
	    !json_object_text(m->hook_data, INGEST_HOOK_DATA_MAX))
		return "hook_data must be a JSON object (at most 64 MiB)";
	return NULL;
}

/* ---------------------------------------------------------------- answers */

static uint64_t
u64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col)
	               ? 0
	               : strtoull(PQgetvalue(res, row, col), NULL, 10);
}

static int
is_true(const PGresult *res, int row, int col)
{
	return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

static int
name_index(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return 0;
}

/* "{1,2,3}" into at most max ids. */
static size_t
parse_ids(const char *s, uint64_t *out, size_t max)
{
	size_t n = 0;
	char *end;

	while (*s != '\0' && n < max) {
		if (*s >= '0' && *s <= '9') {
			out[n++] = strtoull(s, &end, 10);
			s = end;
		} else {
			s++;
		}
	}
	return n;
}

static void
ingest_release(struct ingest *in)
{
	if (--in->pending == 0 && in->closing)
		free(in);
}

static void
job_free(struct ingest_job *j)
{
	free(j->body);
	free(j->metadata);
	json_decref(j->meta_obj);
	free(j);
}

struct routed {
	uint64_t conv, queue;
	ingest_routed_fn fn;
	void *arg;
};

static void
on_routed(void *arg, int ok, const char *err, const struct route_event *ev,
          size_t n)
{
	struct routed *r = arg;

	(void)ev;
	(void)n;
	/* Waiting in PostgreSQL already: the reconciler queues it later. */
	if (!ok)
		gw_warn("ingest.enqueue_later", "conv=%llu reason=\"%s\"",
		        (unsigned long long)r->conv, err ? err : "");
	if (r->fn != NULL)
		r->fn(r->arg, r->conv, r->queue, ok);
	free(r);
}

/* Step 5: a conversation opened now goes to the router. */
static void
hand_to_router(struct ingest *in, const struct ingest_job *j,
               const struct ingest_result *res, const PGresult *pg, int row)
{
	struct routed *r;
	char conv[24], queue[24];

	if (in->r == NULL || res->queue == 0) {
		if (j->routed != NULL)
			j->routed(j->routed_arg, res->conversation, res->queue,
			          0);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->conv = res->conversation;
	r->queue = res->queue;
	r->fn = j->routed;
	r->arg = j->routed_arg;
	snprintf(conv, sizeof(conv), "%llu",
	         (unsigned long long)res->conversation);
	snprintf(queue, sizeof(queue), "%llu", (unsigned long long)res->queue);
	if (route_enqueue(
	            in->r, conv, queue, res->channel,
	            (int)strtol(PQgetvalue(pg, row, COL_PRIORITY), NULL, 10),
	            strtoll(PQgetvalue(pg, row, COL_QUEUED), NULL, 10), "",
	            on_routed, r) != 0)
		on_routed(r, 0, "routing unavailable", NULL, 0);
}

static void
answer_error(struct ingest_job *j, enum ingest_status st, const char *code,
             const char *why)
{
	struct ingest_result res;

	memset(&res, 0, sizeof(res));
	res.status = st;
	res.code = code;
	res.why = why;
	j->cb(j->arg, &res);
}

static void
on_written(void *arg, int ok, const PGresult *pg, int row, const char *err)
{
	struct ingest_job *j = arg;
	struct ingest *in = j->in;
	struct ingest_result res;
	uint64_t cand[16];
	size_t i;

	if (!ok || row < 0) {
		/*
		 * Not stored, or the outcome is unknown (the connection went
		 * while it committed): the source sends it again, and a repeat
		 * finds what did commit. Any other error of the database is
		 * answered the same way: ingest checked the message, so it is
		 * not the message's fault, and a retry is never a duplicate.
		 */
		answer_error(j, INGEST_RETRY, "unavailable",
		             ok    ? "no answer for the message"
		             : err ? err
		                   : "not stored");
		goto out;
	}
	if (PQgetisnull(pg, row, COL_SEQ) &&
	    PQgetisnull(pg, row, COL_REFUSED) && !j->no_message) {
		/* INGEST_KNOWN_ROWS: another instance committed it meanwhile.
		 */
		answer_error(j, INGEST_RETRY, "unavailable",
		             "stored concurrently: send it again");
		goto out;
	}
	if (!PQgetisnull(pg, row, COL_REFUSED)) {
		const char *code = PQgetvalue(pg, row, COL_REFUSED);
		const char *why = "refused";

		for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
			if (strcmp(refusals[i].code, code) == 0)
				why = refusals[i].why;
		answer_error(j, INGEST_REFUSED, code, why);
		goto out;
	}
	memset(&res, 0, sizeof(res));
	res.status = INGEST_OK;
	res.code = "ok";
	res.why = "";
	res.conversation = u64(pg, row, COL_CONV);
	res.reference = PQgetvalue(pg, row, COL_REF);
	res.seq = u64(pg, row, COL_SEQ);
	res.at_ms = strtoll(PQgetvalue(pg, row, COL_AT), NULL, 10);
	res.customer = u64(pg, row, COL_CUSTOMER);
	res.match = (enum ingest_match)name_index(
	        match_names, sizeof(match_names) / sizeof(match_names[0]),
	        PQgetvalue(pg, row, COL_MATCH));
	res.ncandidates = parse_ids(PQgetvalue(pg, row, COL_CANDIDATES), cand,
	                            sizeof(cand) / sizeof(cand[0]));
	res.candidates = cand;
	res.opened = (enum ingest_opened)name_index(
	        opened_names, sizeof(opened_names) / sizeof(opened_names[0]),
	        PQgetvalue(pg, row, COL_OPENED));
	res.repeated = is_true(pg, row, COL_REPEATED);
	res.routed =
	        is_true(pg, row, COL_ROUTE) && in->r != NULL && !in->closing;
	res.queue = u64(pg, row, COL_QUEUE);
	res.channel = PQgetvalue(pg, row, COL_CHANNEL);
	res.body = res.repeated ? PQgetvalue(pg, row, COL_BODY)
	           : j->body    ? j->body
	                        : "";
	if (j->no_message)
		res.body = "";
	res.metadata =
	        res.repeated ? PQgetvalue(pg, row, COL_METADATA) : j->metadata;
	res.metadata_obj = res.repeated ? NULL : j->meta_obj;
	res.hook = PQnfields(pg) <= COL_HOOK || PQgetisnull(pg, row, COL_HOOK)
	                   ? NULL
	                   : PQgetvalue(pg, row, COL_HOOK);
	if (!res.repeated && !j->no_message)
		gw_metrics_message(res.channel, GW_DIR_IN);
	/* 4. the channel, after COMMIT; 5. routing; 6. delivery. */
	j->cb(j->arg, &res);
	if (res.routed)
		hand_to_router(in, j, &res, pg, row);
	if (in->deliver != NULL && !in->closing && !j->no_message &&
	    !j->own_delivery)
		in->deliver(in->deliver_arg, &res);
out:
	job_free(j);
	ingest_release(in);
}

/* ---------------------------------------------------------------- API */

struct ingest *
ingest_new(uv_loop_t *loop, struct db_commit *w, struct route *r)
{
	struct ingest *in = xcalloc(1, sizeof(*in));

	in->loop = loop;
	in->w = w;
	in->r = r;
	return in;
}

void
ingest_set_deliver(struct ingest *in, ingest_deliver_fn fn, void *arg)
{
	in->deliver = fn;
	in->deliver_arg = arg;
}

enum ingest_status
ingest_submit(struct ingest *in, const struct ingest_msg *m, ingest_cb cb,
              void *arg, const char **why)
{
	char *ids = NULL, *find = NULL, *add = NULL, *meta = NULL;
	char *name = NULL, *subject = NULL, conv[24];
	const char *params[16], *reason = NULL;
	enum ingest_status st = INGEST_REFUSED;
	const struct db_rows *kind;
	struct ingest_job *j;
	json_t *meta_obj = NULL;
	int bad = 0;

	if (in->closing) {
		st = INGEST_RETRY;
		reason = "shutting down";
		goto out;
	}
	if ((reason = check_msg(m)) != NULL)
		goto out;
	if ((ids = ids_json(m, &reason)) == NULL)
		goto out;
	find = keys_json(m->thread_find, m->nthread_find, &bad);
	add = keys_json(m->thread_add, m->nthread_add, &bad);
	if (bad) {
		reason = "a thread key must be 1 to 1000 bytes of UTF-8";
		goto out;
	}
	if ((meta = metadata_json(m, &meta_obj, &reason)) == NULL)
		goto out;
	name = cut_chars(m->name, INGEST_NAME_MAX);
	subject = cut_chars(m->subject, INGEST_SUBJECT_MAX);
	snprintf(conv, sizeof(conv), "%llu",
	         (unsigned long long)m->conversation);
	params[0] = m->channel;
	params[1] = m->source;
	params[2] = m->external_id;
	params[3] = name;
	params[4] = ids;
	params[5] = m->conversation != 0 ? conv : NULL;
	params[6] = find;
	params[7] = add;
	params[8] = m->reference;
	params[9] = (m->flags & INGEST_FIND_OPEN) ? "true" : "false";
	params[10] = m->queue;
	params[11] = subject;
	params[12] = (m->flags & INGEST_NO_MESSAGE) ? NULL
	             : m->body != NULL              ? m->body
	                                            : "";
	params[13] = meta;
	params[14] = m->hook;
	params[15] = m->hook_data;
	j = xcalloc(1, sizeof(*j));
	j->in = in;
	j->cb = cb;
	j->arg = arg;
	j->routed = m->routed;
	j->routed_arg = m->routed_arg;
	j->no_message = (m->flags & INGEST_NO_MESSAGE) != 0;
	j->own_delivery = (m->flags & INGEST_OWN_DELIVERY) != 0;
	if (m->conversation == 0 && m->reference == NULL &&
	    !(m->flags & (INGEST_FIND_OPEN | INGEST_MAY_REFUSE)))
		kind = &INGEST_NEW_ROWS;
	else if (m->hook != NULL || j->no_message ||
	         (m->flags & INGEST_MAY_REFUSE))
		kind = &INGEST_HOOKED_ROWS;
	else if (m->conversation != 0 && m->nthread_add == 0)
		kind = &INGEST_KNOWN_ROWS;
	else
		kind = &INGEST_ROWS;
	if (kind == &INGEST_KNOWN_ROWS) {
		/* INGEST_KNOWN_ROWS's six: what a known conversation needs. */
		params[3] = params[5];
		params[4] = params[12];
		params[5] = params[13];
	}
	if (db_commit_submit_row(in->w, kind, params, on_written, j, &reason) !=
	    0) {
		/* Nothing queued: database unavailable or queue full. */
		free(j);
		st = INGEST_RETRY;
		goto out;
	}
	j->body = params[12] != NULL ? xstrdup(params[12]) : NULL;
	j->metadata = meta;
	meta = NULL;
	j->meta_obj = meta_obj;
	meta_obj = NULL;
	in->pending++;
	st = INGEST_OK;
out:
	if (st != INGEST_OK)
		*why = reason;
	free(ids);
	free(find);
	free(add);
	free(meta);
	json_decref(meta_obj);
	free(name);
	free(subject);
	return st;
}

unsigned
ingest_pending(const struct ingest *in)
{
	return in->pending;
}

void
ingest_free(struct ingest *in)
{
	if (in == NULL)
		return;
	in->closing = 1;
	if (in->pending == 0)
		free(in);
}

const char *
ingest_match_name(enum ingest_match m)
{
	return (unsigned)m < sizeof(match_names) / sizeof(match_names[0])
	               ? match_names[m]
	               : "";
}
