/*
 * conversation.c: desk operations on any conversation (conversation.h).
 * Loop thread only. A desk's message is dispatched by the OPS table; each
 * operation is one statement (a read on db, or a write on the channels'
 * group-commit writer) whose answer finds its request by a struct pend.
 * The module keeps every pend in flight in a map, so that
 * conversation_free can orphan them: their callbacks (which the database,
 * writer and bus each call exactly once) then only free them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "conversation.h"
#include "conversation_parse.h"
#include "idmap.h"
#include "ingest.h"
#include "log.h"
#include "route.h"
#include "route_id.h"
#include "route_ws.h"
#include "text.h"
#include "xmalloc.h"

#define CHANNEL_NAME_MAX 15
#define NO_REPLY_DEFAULT "this channel cannot send replies yet"
#define PAGE_TEXT        "2000" /* CONVERSATION_PAGE as text */
#define WRAP_UPS_TEXT    "200"  /* conversations in a wrap_ups answer */
/* A left message answered by a channel that has no reply op (SMS yet). */
#define LEFT_NO_REPLY                                                          \
	"this is a message left for the council: a reply the way the "         \
	"resident asked cannot be sent yet"

struct chan {
	char name[CHANNEL_NAME_MAX + 1];
	const struct conversation_channel_ops *ops;
};

struct conversation {
	uv_loop_t *loop;
	struct db *db;
	struct db_commit *w;
	struct bus *bus;
	struct route *r;
	conversation_send_fn send;
	void *send_arg;
	struct chan chans[CONVERSATION_CHANNELS_MAX];
	size_t nchans;
	struct idmap *pends; /* key -> struct pend, every one in flight */
	/*
	 * Conversations whose history desks here were shown -> 1 + the index
	 * of their channel in chans (CONVERSATION_CHANNELS_MAX + 1: none
	 * registered), for conversation.typing; until they leave the desks.
	 */
	struct idmap *shown;
	uint64_t next_key;
	struct route_ws *rw; /* attached to (its "conversation." hook) */
	/* channels' desk prefixes (conversation_desk_hook) */
	struct desk_hook {
		struct conversation *cv;
		char prefix[16];
		conversation_desk_fn fn;
		void *arg;
	} hooks[CONVERSATION_DESK_HOOKS];
};

/* One request in flight. cv is NULL once the module is gone. */
struct pend {
	struct conversation *cv;
	uint64_t key;
	unsigned long conn;
	uint64_t conv;
	uint64_t staff;
	json_t *id; /* the desk's request id (a reference), or NULL */
	char name[128];
	char client[TEXT_UUID_LEN + 1];
	char channel[CHANNEL_NAME_MAX + 1];
	char extra[CHANNEL_NAME_MAX + 1]; /* history: whose history_sql */
	char status[16];
	char *text;
	uint64_t seq;
	long long at;
	int flag; /* note: a note; end: ended now */
	int repeated;
	char by[16]; /* end: advisor, resident, system */
	/* end: conversation_end_by's answer (conn 0), else the desk's. */
	conversation_ended_fn ended;
	void *ended_arg;
	json_t *answer; /* history: the answer, while the extra is read */
	json_t *msgs;   /* history: its messages */
};

/* ---------------------------------------------------------------- SQL */

/*
 * A desk's view of a conversation of any channel. $2: the advisor it
 * must be assigned to, or '' (supervisors). $3: messages after this id.
 * Columns: reference, status, channel, subject, customer id, name, email,
 * phone, match, advisor read, messages (JSON text), a left message
 * (conversation.h), how the resident asked to be answered.
 */
static const char HISTORY_SQL[] =
        "SELECT c.reference, c.status, c.channel, c.subject, cu.id,"
        " coalesce(cu.display_name, ''),"
        " coalesce((SELECT i.value FROM customer_identities i"
        "  WHERE i.customer_id = cu.id AND i.kind = 'email'"
        "  ORDER BY i.verified DESC, i.id LIMIT 1), ''),"
        " coalesce((SELECT i.value FROM customer_identities i"
        "  WHERE i.customer_id = cu.id AND i.kind = 'phone'"
        "  ORDER BY i.verified DESC, i.id LIMIT 1), ''),"
        " coalesce((SELECT e.detail->>'match' FROM conversation_events e"
        "  WHERE e.conversation_id = c.id AND e.detail ? 'match'"
        "  ORDER BY e.id LIMIT 1), 'none'),"
        " coalesce((SELECT r.advisor_read FROM conversation_reads r"
        "  WHERE r.conversation_id = c.id), 0),"
        " (SELECT coalesce(json_agg(jsonb_build_object('seq', m.id, 'from',"
        "   CASE WHEN m.direction = 'internal' AND m.source = 'voice'"
        "    THEN 'system' WHEN m.direction = 'internal' THEN 'note'"
        "    WHEN m.author_kind = 'customer' THEN 'resident'"
        "    WHEN m.author_kind = 'staff' THEN 'advisor' ELSE 'system' END,"
        "   'name', su.display_name, 'text', m.body, 'at',"
        "   (extract(epoch FROM m.created_at) * 1000)::bigint,"
        "   'metadata', m.metadata) || coalesce((SELECT"
        "    jsonb_build_object('delivery', jsonb_strip_nulls("
        "    jsonb_build_object('status', o.status, 'to', o.destination,"
        "    'error', o.last_error, 'bounced', CASE WHEN o.bounced_at IS"
        "    NOT NULL THEN true END, 'bounce_reason', o.bounce_reason,"
        "    'receipt', o.receipt, 'receipt_detail', o.receipt_detail)))"
        "    FROM outbox o WHERE m.direction = 'out' AND o.message_id = m.id"
        "    ORDER BY o.id DESC LIMIT 1), '{}') || coalesce((SELECT"
        "    jsonb_build_object('acknowledgement', jsonb_strip_nulls("
        "    jsonb_build_object('status', o.status, 'to', o.destination,"
        "    'error', o.last_error)))"
        "    FROM outbox o WHERE m.direction = 'in' AND o.message_id = m.id"
        "    AND o.payload->>'kind' LIKE '%.ack' ORDER BY o.id LIMIT 1),"
        "    '{}') ORDER BY m.id), '[]')"
        "  FROM (SELECT * FROM messages WHERE conversation_id = c.id"
        "   AND id > $3::bigint ORDER BY id LIMIT " PAGE_TEXT ") m"
        "  LEFT JOIN staff_users su ON su.id = m.author_staff_id)::text,"
        " lm.metadata IS NOT NULL, coalesce(lm.metadata->>'reply_by', '')"
        " FROM conversations c JOIN customers cu ON cu.id = c.customer_id"
        " LEFT JOIN LATERAL (SELECT f.metadata FROM (SELECT m.metadata"
        "  FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id"
        "  LIMIT 1) f WHERE f.metadata->>'kind' = 'left_message') lm ON true"
        " WHERE c.id = $1::bigint"
        "  AND ($2::text = '' OR c.assigned_staff_id::text = $2::text)";

/*
 * An advisor's reply, on a conversation assigned to them ($2), written
 * only when its channel is one of $5 (those that deliver replies) and it
 * is not a left message (conversation.h). Columns: seq, at, repeat,
 * allowed, channel (the one the reply goes by: a left message's reply_by,
 * else the conversation's), deliverable, a left message. seq is NULL when
 * nothing was written (not allowed, not deliverable, or the client id was used
 * for another kind of message).
 */
static const char REPLY_SQL[] =
        "WITH f AS (SELECT m.metadata FROM messages m WHERE"
        "   m.conversation_id = $1::bigint ORDER BY m.id LIMIT 1),"
        " l AS (SELECT coalesce((SELECT metadata->>'kind' = 'left_message'"
        "   FROM f), false) AS is_left, coalesce((SELECT"
        "   metadata->>'reply_by' FROM f), '') AS reply_by),"
        " c AS (SELECT id, channel, CASE WHEN (SELECT is_left FROM l)"
        "   THEN (SELECT reply_by FROM l) = ANY($5::text[])"
        "   ELSE channel = ANY($5::text[]) END AS can"
        "  FROM conversations WHERE id = $1::bigint AND status = 'assigned'"
        "  AND assigned_staff_id = $2::bigint),"
        " ins AS (INSERT INTO messages (conversation_id, direction,"
        "   author_kind, author_staff_id, body, source, external_id)"
        "  SELECT id, 'out', 'staff', $2::bigint, $3, 'desk', $4 FROM c"
        "  WHERE can ON CONFLICT (source, external_id) DO NOTHING"
        "  RETURNING id, created_at),"
        " fr AS (UPDATE conversations SET first_response_at = now()"
        "  WHERE id = (SELECT id FROM c WHERE can)"
        "  AND first_response_at IS NULL AND EXISTS (SELECT 1 FROM ins))"
        " SELECT coalesce(ins.id, m.id),"
        "  (extract(epoch FROM coalesce(ins.created_at, m.created_at))"
        "   * 1000)::bigint, ins.id IS NULL, (SELECT count(*) FROM c),"
        "  coalesce((SELECT CASE WHEN (SELECT is_left FROM l) THEN"
        "   (SELECT reply_by FROM l) ELSE channel END FROM c), ''),"
        "  coalesce((SELECT can FROM c), false), (SELECT is_left FROM l)"
        " FROM (SELECT 1) one LEFT JOIN ins ON true"
        " LEFT JOIN messages m ON ins.id IS NULL AND m.source = 'desk'"
        "  AND m.external_id = $4 AND m.direction = 'out'"
        "  AND m.conversation_id IN (SELECT id FROM c WHERE can)";

/*
 * An internal note on a conversation (any channel, not closed) held by
 * the advisor ($2; '' for a supervisor): never shown to the customer.
 * $3 the author, $4 text, $5 external id. Columns: seq, at, repeat,
 * allowed, channel. chat.note's statement, the same key.
 */
static const char NOTE_SQL[] =
        "WITH c AS (SELECT id, channel FROM conversations"
        "  WHERE id = $1::bigint AND status <> 'closed'"
        "  AND ($2::text = '' OR assigned_staff_id::text = $2::text)),"
        " ins AS (INSERT INTO messages (conversation_id, direction,"
        "   author_kind, author_staff_id, body, metadata, source,"
        "   external_id)"
        "  SELECT id, 'internal', 'staff', $3::bigint, $4,"
        "   '{\"kind\": \"note\"}', 'desk', $5 FROM c"
        "  ON CONFLICT (source, external_id) DO NOTHING"
        "  RETURNING id, created_at)"
        " SELECT coalesce(ins.id, m.id),"
        "  (extract(epoch FROM coalesce(ins.created_at, m.created_at))"
        "   * 1000)::bigint, ins.id IS NULL, (SELECT count(*) FROM c),"
        "  coalesce((SELECT channel FROM c), '')"
        " FROM (SELECT 1) one LEFT JOIN ins ON true"
        " LEFT JOIN messages m ON ins.id IS NULL AND m.source = 'desk'"
        "  AND m.external_id = $5 AND m.direction = 'internal'"
        "  AND m.conversation_id IN (SELECT id FROM c)";

/*
 * The advisors' read mark ($2) on a conversation held by $3 ('' for a
 * supervisor); it only moves forward. Columns: allowed, channel, mark.
 */
static const char READ_SQL[] =
        "WITH c AS (SELECT id, channel FROM conversations"
        "  WHERE id = $1::bigint"
        "  AND ($3::text = '' OR assigned_staff_id::text = $3::text)),"
        " up AS (INSERT INTO conversation_reads (conversation_id,"
        "   advisor_read) SELECT id, least($2::bigint, coalesce((SELECT"
        "    max(m.id) FROM messages m WHERE m.conversation_id = c.id), 0))"
        "   FROM c"
        "  ON CONFLICT (conversation_id) DO UPDATE SET advisor_read ="
        "   greatest(conversation_reads.advisor_read,"
        "    EXCLUDED.advisor_read), updated_at = now()"
        "  RETURNING advisor_read)"
        " SELECT (SELECT count(*) FROM c),"
        "  coalesce((SELECT channel FROM c), ''),"
        "  coalesce((SELECT advisor_read FROM up), 0)";

/*
 * Ends conversations, many per statement (a row set: $1 the conversation,
 * $2 the advisor who must hold it, '' for a supervisor or for
 * conversation_end_by, $3 the advisor who ends it, '' for none, $4 by):
 * one with an advisor goes to wrap_up (still theirs until they wrap it
 * up), any other not closed is closed. As if one after the other: the
 * first row allowed to end a conversation ends it, the later ones of the
 * batch find it ended. Rows lock their conversations in id order (as the
 * router's events do), never against each other. Columns: position,
 * allowed (0/1), the new status ('' when it had ended before), channel,
 * the status it has now.
 */
static const struct db_rows END_ROWS = {
        "WITH r AS (SELECT * FROM unnest($1::bigint[], $2::text[],"
        "   $3::text[], $4::text[]) WITH ORDINALITY"
        "   AS r(conv, who, staff, by, n)),"
        " c AS (SELECT r.n, r.conv, r.staff, r.by, v.channel, v.status,"
        "   coalesce(r.who = '' OR v.assigned_staff_id::text = r.who, false)"
        "    AND v.id IS NOT NULL AS ok"
        "  FROM r LEFT JOIN conversations v ON v.id = r.conv),"
        " f AS (SELECT DISTINCT ON (c.conv) c.* FROM c"
        "  WHERE c.ok AND c.status NOT IN ('closed', 'wrap_up')"
        "  ORDER BY c.conv, c.n),"
        " lk AS MATERIALIZED (SELECT v.id FROM conversations v"
        "  WHERE v.id IN (SELECT f.conv FROM f)"
        "  ORDER BY v.id FOR NO KEY UPDATE),"
        " cv AS (UPDATE conversations v SET status = CASE WHEN v.status ="
        "   'assigned' THEN 'wrap_up' ELSE 'closed' END"
        "  FROM f, lk WHERE v.id = f.conv AND lk.id = f.conv"
        "  AND v.status NOT IN ('closed', 'wrap_up')"
        "  RETURNING v.id, v.status),"
        " ev AS (INSERT INTO conversation_events (conversation_id, kind,"
        "   staff_id, detail)"
        "  SELECT f.conv, 'conversation.ended',"
        "   nullif(f.staff, '')::bigint,"
        "   jsonb_build_object('by', f.by, 'channel', f.channel)"
        "  FROM f JOIN cv ON cv.id = f.conv)"
        " SELECT c.n, c.ok::int,"
        "  CASE WHEN f.n = c.n THEN coalesce(cv.status::text, '') ELSE ''"
        "   END,"
        "  coalesce(c.channel::text, ''),"
        "  coalesce(cv.status::text, c.status::text, '')"
        " FROM c LEFT JOIN f ON f.conv = c.conv LEFT JOIN cv ON cv.id = c.conv"
        " ORDER BY c.n",
        4};

/*
 * The advisor's ($1) conversations waiting for their wrap-up, any
 * channel (one that ended stays theirs until wrapped up), for a desk
 * that opens. Columns: id, queue, channel, reference, ended by (the
 * newest conversation.ended event's), name, a left message.
 */
static const char WRAP_UPS_SQL[] =
        "SELECT c.id, coalesce(c.queue_id, 0), c.channel, c.reference,"
        " coalesce((SELECT e.detail->>'by' FROM conversation_events e"
        "  WHERE e.conversation_id = c.id AND e.kind = 'conversation.ended'"
        "  ORDER BY e.id DESC LIMIT 1), ''), coalesce(cu.display_name, ''),"
        " coalesce((SELECT m.metadata->>'kind' = 'left_message'"
        "  FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id"
        "  LIMIT 1), false)"
        " FROM conversations c JOIN customers cu ON cu.id = c.customer_id"
        " WHERE c.status = 'wrap_up' AND c.assigned_staff_id = $1::bigint"
        " ORDER BY c.id LIMIT " WRAP_UPS_TEXT;

/* ---------------------------------------------------------------- util */

static struct pend *
pend_new(struct conversation *cv, const struct conversation_desk *d,
         uint64_t conv, json_t *id)
{
	struct pend *p = xcalloc(1, sizeof(*p));

	p->cv = cv;
	p->key = ++cv->next_key;
	p->conn = d != NULL ? d->conn : 0;
	p->staff = d != NULL ? d->staff : 0;
	p->conv = conv;
	p->id = json_incref(id);
	snprintf(p->name, sizeof(p->name), "%s",
	         d != NULL && d->name ? d->name : "");
	idmap_put(cv->pends, p->key, p);
	return p;
}

static void
pend_free(struct pend *p)
{
	if (p->cv != NULL)
		idmap_del(p->cv->pends, p->key);
	json_decref(p->id);
	json_decref(p->answer);
	json_decref(p->msgs);
	free(p->text);
	free(p);
}

/* Sends obj (stolen) to conn, with the request's id when it had one. */
static void
answer(struct conversation *cv, unsigned long conn, json_t *id, json_t *obj)
{
	char *text;

	if (obj == NULL)
		return;
	if (id != NULL)
		json_object_set(obj, "id", id);
	text = json_dumps(obj, JSON_COMPACT);
	if (text != NULL)
		cv->send(cv->send_arg, conn, text);
	free(text);
	json_decref(obj);
}

static void
answer_error(struct conversation *cv, unsigned long conn, json_t *id,
             const char *code, const char *message)
{
	answer(cv, conn, id,
	       json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
	                 "message", message ? message : code));
}

static void
conv_text(uint64_t conv, char *buf, size_t len)
{
	snprintf(buf, len, "%llu", (unsigned long long)conv);
}

static uint64_t
value_u64(const PGresult *res, int row, int col)
{
	return strtoull(PQgetvalue(res, row, col), NULL, 10);
}

static long long
value_ll(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int
value_true(const PGresult *res, int row, int col)
{
	return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

static int
is_supervisor(const char *role)
{
	return role != NULL &&
	       (strcmp(role, "supervisor") == 0 || strcmp(role, "admin") == 0);
}

static int
channel_name_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > CHANNEL_NAME_MAX)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static struct chan *
chan_find(const struct conversation *cv, const char *name)
{
	size_t i;

	for (i = 0; i < cv->nchans; i++)
		if (strcmp(cv->chans[i].name, name) == 0)
			return (struct chan *)&cv->chans[i];
	return NULL;
}

static const struct conversation_channel_ops *
ops_of(const struct conversation *cv, const char *channel)
{
	const struct chan *ch = chan_find(cv, channel);

	return ch != NULL ? ch->ops : NULL;
}

/* Why channel cannot be replied on. */
static const char *
no_reply_why(const struct conversation *cv, const char *channel)
{
	const struct conversation_channel_ops *ops = ops_of(cv, channel);

	return ops != NULL && ops->no_reply != NULL ? ops->no_reply
	                                            : NO_REPLY_DEFAULT;
}

/*
 * The channels that deliver replies, as a PostgreSQL array literal
 * ("{chat,email}"): names are [a-z0-9_], so none needs quoting.
 */
static void
deliverable(const struct conversation *cv, char *buf, size_t len)
{
	size_t i, at = 0;
	int n;

	n = snprintf(buf, len, "{");
	at = (size_t)n;
	for (i = 0; i < cv->nchans && at < len; i++) {
		if (cv->chans[i].ops == NULL || cv->chans[i].ops->reply == NULL)
			continue;
		n = snprintf(buf + at, len - at, "%s%s", at > 1 ? "," : "",
		             cv->chans[i].name);
		at += (size_t)n;
	}
	if (at < len)
		snprintf(buf + at, len - at, "}");
}

/* A message event for desks: {"type", "conversation", and a row's fields}. */
static json_t *
message_event(uint64_t conv, uint64_t seq, const char *from, const char *name,
              const char *text, long long at, json_t *metadata,
              const char *client)
{
	char cs[24];
	json_t *ev;

	conv_text(conv, cs, sizeof(cs));
	ev = json_pack("{s:s, s:s, s:I, s:s, s:o, s:s, s:I, s:o}", "type",
	               "conversation.message", "conversation", cs, "seq",
	               (json_int_t)seq, "from", from, "name",
	               name != NULL ? json_string(name) : json_null(), "text",
	               text, "at", (json_int_t)at, "metadata",
	               metadata != NULL ? metadata : json_object());
	if (ev != NULL && client != NULL)
		json_object_set_new(ev, "client_id", json_string(client));
	return ev;
}

/* ---------------------------------------------------------------- history */

static json_t *
history_json(const struct conversation *cv, const PGresult *res, uint64_t conv,
             json_t *msgs)
{
	char cs[24];
	const char *channel = PQgetvalue(res, 0, 2);
	int left = value_true(res, 0, 11);
	/* A left message is answered the way its resident asked. */
	int can = conversation_channel_can_reply(
	        cv, left ? PQgetvalue(res, 0, 12) : channel);
	json_t *m;

	conv_text(conv, cs, sizeof(cs));
	m = json_pack(
	        "{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:s, s:s, s:s,"
	        " s:s}, s:I, s:b, s:O}",
	        "type", "conversation.history", "conversation", cs, "reference",
	        PQgetvalue(res, 0, 0), "status", PQgetvalue(res, 0, 1),
	        "channel", channel, "subject", PQgetvalue(res, 0, 3),
	        "customer", "id", (json_int_t)value_u64(res, 0, 4), "name",
	        PQgetvalue(res, 0, 5), "email", PQgetvalue(res, 0, 6), "mobile",
	        PQgetvalue(res, 0, 7), "match", PQgetvalue(res, 0, 8),
	        "advisor_read", (json_int_t)value_ll(res, 0, 9), "can_reply",
	        can, "messages", msgs);
	if (m == NULL)
		return NULL;
	if (left) {
		json_object_set_new(m, "left_message", json_true());
		json_object_set_new(m, "reply_by",
		                    json_string(PQgetvalue(res, 0, 12)));
	}
	if (!can)
		json_object_set_new(
		        m, "cannot_reply",
		        json_string(left ? LEFT_NO_REPLY
		                         : no_reply_why(cv, channel)));
	if (json_array_size(msgs) >= CONVERSATION_PAGE)
		json_object_set_new(m, "more", json_true());
	return m;
}

/*
 * Sends the history answer held in p (the channel's parts in it): the bus
 * merges what came meanwhile into it, less what the read had.
 */
static void
history_send(struct pend *p)
{
	struct conversation *cv = p->cv;
	const struct conversation_channel_ops *ops = ops_of(cv, p->channel);

	const struct chan *ch = chan_find(cv, p->channel);

	idmap_put(cv->shown, p->conv,
	          (void *)(uintptr_t)(ch != NULL
	                                      ? (size_t)(ch - cv->chans) + 1
	                                      : CONVERSATION_CHANNELS_MAX + 1));
	if (ops != NULL && ops->history != NULL)
		ops->history(ops->arg, p->conv, p->answer);
	/* A left message answered by another channel: that one's part too
	 * (an SMS sender's length cap). */
	if (strcmp(p->extra, p->channel) != 0) {
		ops = ops_of(cv, p->extra);
		if (ops != NULL && ops->history != NULL)
			ops->history(ops->arg, p->conv, p->answer);
	}
	if (p->id != NULL)
		json_object_set(p->answer, "id", p->id);
	if (bus_history_end(cv->bus, p->conv, p->conn, p->answer, p->msgs,
	                    json_object_get(p->answer, "more") != NULL) != 0) {
		answer_error(cv, p->conn, p->id, "unavailable",
		             "too many messages came while it was read: ask "
		             "again");
		bus_history_abort(cv->bus, p->conv, p->conn);
	}
}

/* The channel's part of a history (history_sql) is read. */
static void
on_history_extra(void *arg, PGresult *res, const char *err)
{
	struct pend *p = arg;
	json_t *x = NULL, *cu, *xc;

	if (p->cv == NULL)
		goto out;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		answer_error(p->cv, p->conn, p->id, "unavailable", err);
		bus_history_abort(p->cv->bus, p->conv, p->conn);
		goto out;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		x = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (json_is_object(x)) {
		cu = json_object_get(p->answer, "customer");
		xc = json_object_get(x, "customer");
		if (json_is_object(cu) && json_is_object(xc)) {
			json_object_update(cu, xc);
			json_object_del(x, "customer");
		}
		/* The core's own members stay the core's. */
		json_object_del(x, "type");
		json_object_del(x, "conversation");
		json_object_del(x, "messages");
		json_object_update(p->answer, x);
	}
	history_send(p);
out:
	json_decref(x);
	pend_free(p);
}

/*
 * The answer to conversation.history. The desk has followed the
 * conversation since before the read (bus_history_begin): the bus merges
 * what came meanwhile into the answer, less what the read had.
 */
static void
on_history(void *arg, PGresult *res, const char *err)
{
	struct pend *p = arg;
	struct conversation *cv = p->cv;
	const struct conversation_channel_ops *ops;
	const char *code = NULL, *why = err, *params[1];
	char cs[24];

	if (cv == NULL)
		goto out;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		code = "unavailable";
	} else if (PQntuples(res) != 1) {
		code = "forbidden";
		why = "no conversation of yours has this id";
	} else {
		p->msgs = json_loads(PQgetvalue(res, 0, 10), 0, NULL);
		if (!json_is_array(p->msgs)) {
			json_decref(p->msgs);
			p->msgs = json_array();
		}
		p->answer = history_json(cv, res, p->conv, p->msgs);
		if (p->answer == NULL)
			code = "unavailable";
		snprintf(p->channel, sizeof(p->channel), "%s",
		         PQgetvalue(res, 0, 2));
		/* A left message answered by another channel: that one's
		 * part (where the reply goes). */
		snprintf(p->extra, sizeof(p->extra), "%s",
		         value_true(res, 0, 11) &&
		                         conversation_channel_can_reply(
		                                 cv, PQgetvalue(res, 0, 12))
		                 ? PQgetvalue(res, 0, 12)
		                 : PQgetvalue(res, 0, 2));
	}
	if (code != NULL) {
		answer_error(cv, p->conn, p->id, code, why);
		bus_history_abort(cv->bus, p->conv, p->conn);
		goto out;
	}
	ops = ops_of(cv, p->extra);
	if (ops != NULL && ops->history_sql != NULL) {
		conv_text(p->conv, cs, sizeof(cs));
		params[0] = cs;
		if (db_query(cv->db, ops->history_sql, 1, params,
		             on_history_extra, p) != 0)
			on_history_extra(p, NULL, "database unavailable");
		return;
	}
	history_send(p);
out:
	pend_free(p);
}

static void
op_history(struct conversation *cv, const struct conversation_desk *d,
           const struct conversation_req *rq)
{
	char cs[24], who[24], after[24];
	const char *params[3];
	uint64_t conv = rq->conv;
	struct pend *p;

	conv_text(conv, cs, sizeof(cs));
	if (is_supervisor(d->role))
		who[0] = '\0';
	else
		snprintf(who, sizeof(who), "%llu",
		         (unsigned long long)d->staff);
	snprintf(after, sizeof(after), "%lld", rq->after);
	params[0] = cs;
	params[1] = who;
	params[2] = after;
	p = pend_new(cv, d, conv, rq->id);
	/* Following first, then reading: nothing falls between the two. */
	bus_history_begin(cv->bus, conv, d->conn);
	if (db_query(cv->db, HISTORY_SQL, 3, params, on_history, p) != 0)
		on_history(p, NULL, "database unavailable");
}

/* ---------------------------------------------------------------- reply */

/* Redis has the reply (or the note) for the other instances, or not. */
static void
on_published(void *arg, int ok)
{
	struct pend *p = arg;
	char cs[24];

	if (p->cv == NULL)
		goto out;
	if (!ok) {
		answer_error(p->cv, p->conn, p->id, "unavailable",
		             "not passed on: send it again");
		goto out;
	}
	conv_text(p->conv, cs, sizeof(cs));
	answer(p->cv, p->conn, p->id,
	       json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "type",
	                 p->flag ? "conversation.noted"
	                         : "conversation.replied",
	                 "conversation", cs, "client_id", p->client, "seq",
	                 (json_int_t)p->seq, "at", (json_int_t)p->at,
	                 "repeated", p->repeated));
out:
	pend_free(p);
}

/* Publishes the stored reply or note; answered in on_published. */
static void
publish_written(struct pend *p)
{
	struct conversation *cv = p->cv;
	const struct conversation_channel_ops *ops;
	struct conversation_reply r;
	char *for_channel = NULL;
	json_t *ev;

	if (!p->flag) {
		ops = ops_of(cv, p->channel);
		memset(&r, 0, sizeof(r));
		r.conv = p->conv;
		r.seq = p->seq;
		r.at_ms = p->at;
		r.staff = p->staff;
		r.name = p->name;
		r.text = p->text;
		r.client_id = p->client;
		r.repeated = p->repeated;
		if (ops != NULL && ops->reply != NULL)
			for_channel = ops->reply(ops->arg, &r);
	}
	ev = message_event(p->conv, p->seq, p->flag ? "note" : "advisor",
	                   p->name, p->text, p->at,
	                   p->flag ? json_pack("{s:s}", "kind", "note") : NULL,
	                   p->client);
	/* A note is for the desks only: no channel hook. */
	bus_publish(cv->bus, p->conv, p->seq, ev, p->flag ? NULL : p->channel,
	            for_channel, on_published, p);
	json_decref(ev);
	free(for_channel);
}

static void
on_written(void *arg, int ok, const PGresult *res, const char *err)
{
	struct pend *p = arg;
	struct conversation *cv = p->cv;

	if (cv == NULL) {
		pend_free(p);
		return;
	}
	if (!ok || res == NULL || PQntuples(res) != 1) {
		answer_error(cv, p->conn, p->id, "unavailable", err);
	} else if (strcmp(PQgetvalue(res, 0, 3), "0") == 0) {
		answer_error(cv, p->conn, p->id, "forbidden",
		             p->flag ? "no open conversation of yours has "
		                       "this id"
		                     : "this conversation is not assigned to "
		                       "you");
	} else if (!p->flag && !value_true(res, 0, 5)) {
		/* Nothing was written: the channel cannot deliver. */
		answer_error(cv, p->conn, p->id, "cannot_reply",
		             value_true(res, 0, 6)
		                     ? LEFT_NO_REPLY
		                     : no_reply_why(cv, PQgetvalue(res, 0, 4)));
	} else if (PQgetisnull(res, 0, 0)) {
		answer_error(cv, p->conn, p->id, "bad_message",
		             "this client_id was used for another message");
	} else {
		p->seq = value_u64(res, 0, 0);
		p->at = value_ll(res, 0, 1);
		p->repeated = value_true(res, 0, 2);
		snprintf(p->channel, sizeof(p->channel), "%s",
		         PQgetvalue(res, 0, 4));
		publish_written(p);
		return;
	}
	pend_free(p);
}

/* conversation.reply and conversation.note. */
static void
write_message(struct conversation *cv, const struct conversation_desk *d,
              const struct conversation_req *rq, int note)
{
	const char *text = rq->text, *client = rq->client_id;
	char cs[24], staff[24], who[24], ext[64], chans[512];
	const char *params[5], *reason = NULL;
	struct pend *p;

	conv_text(rq->conv, cs, sizeof(cs));
	snprintf(staff, sizeof(staff), "%llu", (unsigned long long)d->staff);
	snprintf(who, sizeof(who), "%s", is_supervisor(d->role) ? "" : staff);
	snprintf(ext, sizeof(ext), "%s:%s", cs, client);
	p = pend_new(cv, d, rq->conv, rq->id);
	snprintf(p->client, sizeof(p->client), "%s", client);
	p->text = xstrdup(text);
	p->flag = note;
	params[0] = cs;
	if (note) {
		params[1] = who;
		params[2] = staff;
		params[3] = text;
		params[4] = ext;
	} else {
		deliverable(cv, chans, sizeof(chans));
		params[1] = staff;
		params[2] = text;
		params[3] = ext;
		params[4] = chans;
	}
	if (db_commit_submit(cv->w, note ? NOTE_SQL : REPLY_SQL, 5, params,
	                     on_written, p, &reason) != 0) {
		answer_error(cv, d->conn, p->id, "unavailable", reason);
		pend_free(p);
	}
}

static void
op_reply(struct conversation *cv, const struct conversation_desk *d,
         const struct conversation_req *rq)
{
	write_message(cv, d, rq, 0);
}

static void
op_note(struct conversation *cv, const struct conversation_desk *d,
        const struct conversation_req *rq)
{
	write_message(cv, d, rq, 1);
}

/* ---------------------------------------------------------------- read */

static void
on_read(void *arg, int ok, const PGresult *res, const char *err)
{
	struct pend *p = arg;
	struct conversation *cv = p->cv;
	const struct conversation_channel_ops *ops;
	const char *channel;
	char cs[24], *for_channel = NULL;
	uint64_t mark;
	json_t *ev;

	if (cv == NULL)
		goto out;
	if (!ok || res == NULL || PQntuples(res) != 1) {
		answer_error(cv, p->conn, p->id, "unavailable", err);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
		answer_error(cv, p->conn, p->id, "forbidden",
		             "no conversation of yours has this id");
		goto out;
	}
	channel = PQgetvalue(res, 0, 1);
	mark = value_u64(res, 0, 2);
	conv_text(p->conv, cs, sizeof(cs));
	ops = ops_of(cv, channel);
	if (ops != NULL && ops->read != NULL)
		for_channel = ops->read(ops->arg, p->conv, mark);
	ev = json_pack("{s:s, s:s, s:I}", "type", "conversation.read",
	               "conversation", cs, "seq", (json_int_t)mark);
	bus_publish(cv->bus, p->conv, 0, ev, channel, for_channel, NULL, NULL);
	json_decref(ev);
	free(for_channel);
	answer(cv, p->conn, p->id,
	       json_pack("{s:s, s:s, s:I}", "type", "conversation.read.ok",
	                 "conversation", cs, "seq", (json_int_t)mark));
out:
	pend_free(p);
}

static void
op_read(struct conversation *cv, const struct conversation_desk *d,
        const struct conversation_req *rq)
{
	char cs[24], seq[24], who[24];
	const char *params[3], *reason = NULL;
	struct pend *p;

	conv_text(rq->conv, cs, sizeof(cs));
	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)rq->seq);
	if (is_supervisor(d->role))
		who[0] = '\0';
	else
		snprintf(who, sizeof(who), "%llu",
		         (unsigned long long)d->staff);
	params[0] = cs;
	params[1] = seq;
	params[2] = who;
	p = pend_new(cv, d, rq->conv, rq->id);
	p->seq = rq->seq;
	if (db_commit_submit(cv->w, READ_SQL, 3, params, on_read, p, &reason) !=
	    0) {
		answer_error(cv, d->conn, p->id, "unavailable", reason);
		pend_free(p);
	}
}

/* ---------------------------------------------------------------- end */

/* Tells whoever asked for the end: the desk, or conversation_end_by's. */
static void
end_answer(struct pend *p, const char *code, const char *why)
{
	struct conversation *cv = p->cv;
	char cs[24];

	if (p->ended != NULL) {
		p->ended(p->ended_arg, code == NULL, p->flag, p->status, why);
		return;
	}
	if (code != NULL) {
		answer_error(cv, p->conn, p->id, code, why);
		return;
	}
	conv_text(p->conv, cs, sizeof(cs));
	answer(cv, p->conn, p->id,
	       json_pack("{s:s, s:s, s:s}", "type", "conversation.end.ok",
	                 "conversation", cs, "status", p->status));
}

/* The channel's part of an end is done (or failed): the asker is told. */
static void
on_end_done(void *done_arg, const char *for_channel, const char *why)
{
	struct pend *p = done_arg;
	struct conversation *cv = p->cv;
	char cs[24];
	json_t *ev;

	if (cv == NULL)
		goto out;
	if (why != NULL) {
		end_answer(p, "unavailable", why);
		goto out;
	}
	conv_text(p->conv, cs, sizeof(cs));
	if (p->flag || for_channel != NULL) {
		ev = json_pack("{s:s, s:s, s:s, s:s}", "type",
		               "conversation.finished", "conversation", cs,
		               "by", p->by, "status", p->status);
		bus_publish(cv->bus, p->conv, 0, ev, p->channel, for_channel,
		            NULL, NULL);
		json_decref(ev);
	}
	end_answer(p, NULL, NULL);
out:
	pend_free(p);
}

/* conversation_end_by's answer when its caller wants none. */
static void
end_ignored(void *arg, int ok, int now, const char *status, const char *why)
{
	(void)arg;
	(void)ok;
	(void)now;
	(void)status;
	(void)why;
}

static void
on_ended(void *arg, int ok, const PGresult *res, int row, const char *err)
{
	struct pend *p = arg;
	struct conversation *cv = p->cv;
	const struct conversation_channel_ops *ops;
	struct conversation_end e;
	char cs[24];

	if (cv == NULL) {
		pend_free(p);
		return;
	}
	if (!ok || res == NULL || row < 0) {
		end_answer(p, "unavailable",
		           err ? err : "database unavailable");
		pend_free(p);
		return;
	}
	if (strcmp(PQgetvalue(res, row, 1), "0") == 0) {
		end_answer(p, "forbidden",
		           p->ended != NULL
		                   ? "no such conversation"
		                   : "no conversation of yours has this id");
		pend_free(p);
		return;
	}
	p->flag = PQgetvalue(res, row, 2)[0] != '\0';
	snprintf(p->channel, sizeof(p->channel), "%s", PQgetvalue(res, row, 3));
	snprintf(p->status, sizeof(p->status), "%s", PQgetvalue(res, row, 4));
	conv_text(p->conv, cs, sizeof(cs));
	/*
	 * Ended now. One an advisor held stays theirs (wrap_up) until they
	 * wrap it up, its capacity held for the queue's wrap-up time; one
	 * never answered leaves routing.
	 */
	if (p->flag && cv->r != NULL &&
	    route_end(cv->r, cs,
	              strcmp(p->status, "closed") == 0 ? "abandoned" : "closed",
	              NULL, NULL) != 0)
		gw_warn("conversation.route_end_later",
		        "conv=%s reason=\"routing unavailable\"", cs);
	if (p->flag)
		gw_info("conversation.ended",
		        "conv=%s channel=%s status=%s by=%s", cs, p->channel,
		        p->status, p->by);
	ops = ops_of(cv, p->channel);
	if (ops == NULL || ops->end == NULL) {
		on_end_done(p, NULL, NULL);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.conv = p->conv;
	e.staff = p->staff;
	e.by = p->by;
	e.status = p->flag ? p->status : "";
	e.now = p->flag;
	ops->end(ops->arg, &e, on_end_done, p);
}

/* Submits the end of p->conv; who: the advisor who must hold it, or "". */
static int
end_submit(struct conversation *cv, struct pend *p, const char *who,
           const char **reason)
{
	char cs[24], staff[24];
	const char *params[4];

	conv_text(p->conv, cs, sizeof(cs));
	if (p->staff != 0)
		snprintf(staff, sizeof(staff), "%llu",
		         (unsigned long long)p->staff);
	else
		staff[0] = '\0';
	params[0] = cs;
	params[1] = who;
	params[2] = staff;
	params[3] = p->by;
	return db_commit_submit_row(cv->w, &END_ROWS, params, on_ended, p,
	                            reason);
}

static void
op_end(struct conversation *cv, const struct conversation_desk *d,
       const struct conversation_req *rq)
{
	char who[24];
	const char *reason = NULL;
	struct pend *p;

	if (is_supervisor(d->role))
		who[0] = '\0';
	else
		snprintf(who, sizeof(who), "%llu",
		         (unsigned long long)d->staff);
	p = pend_new(cv, d, rq->conv, rq->id);
	snprintf(p->by, sizeof(p->by), "advisor");
	if (end_submit(cv, p, who, &reason) != 0) {
		answer_error(cv, d->conn, p->id, "unavailable", reason);
		pend_free(p);
	}
}

int
conversation_end_by(struct conversation *cv, uint64_t conv, const char *by,
                    conversation_ended_fn done, void *arg)
{
	const char *reason = NULL;
	struct pend *p;

	if (conv == 0 || by == NULL)
		return -1;
	p = pend_new(cv, NULL, conv, NULL);
	snprintf(p->by, sizeof(p->by), "%s", by);
	p->ended = done != NULL ? done : end_ignored;
	p->ended_arg = arg;
	if (end_submit(cv, p, "", &reason) != 0) {
		gw_warn("conversation.end_failed", "conv=%llu reason=\"%s\"",
		        (unsigned long long)conv, reason ? reason : "?");
		pend_free(p);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- typing */

static void
op_typing(struct conversation *cv, const struct conversation_desk *d,
          const struct conversation_req *rq)
{
	json_t *id = rq->id;
	const struct conversation_channel_ops *ops = NULL;
	uint64_t conv = rq->conv;
	uintptr_t k = (uintptr_t)idmap_get(cv->shown, conv);
	char cs[24], *text = NULL;

	/* The same answer as conversation_parse's for a bad state. */
	if (k == 0 || !bus_shown(cv->bus, conv, d->conn)) {
		answer_error(cv, d->conn, id, "bad_message",
		             "conversation.typing needs state (true or false), "
		             "on a conversation whose history this desk asked");
		return;
	}
	conv_text(conv, cs, sizeof(cs));
	if (k <= cv->nchans)
		ops = cv->chans[k - 1].ops;
	if (ops != NULL && ops->typing != NULL)
		text = ops->typing(ops->arg, conv, rq->state);
	/* For the customer only: other desks are not told. */
	if (text != NULL)
		bus_publish(cv->bus, conv, 0, NULL, cv->chans[k - 1].name, text,
		            NULL, NULL);
	free(text);
	answer(cv, d->conn, id,
	       json_pack("{s:s, s:s}", "type", "conversation.typing.ok",
	                 "conversation", cs));
}

/* ---------------------------------------------------------------- wrap-ups */

static void
on_wrap_ups(void *arg, PGresult *res, const char *err)
{
	struct pend *p = arg;
	json_t *list;
	int i;

	if (p->cv == NULL)
		goto out;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		answer_error(p->cv, p->conn, p->id, "unavailable", err);
		goto out;
	}
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(
		        list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
		                        "conversation", PQgetvalue(res, i, 0),
		                        "queue", PQgetvalue(res, i, 1),
		                        "channel", PQgetvalue(res, i, 2),
		                        "reference", PQgetvalue(res, i, 3),
		                        "ended_by", PQgetvalue(res, i, 4),
		                        "name", PQgetvalue(res, i, 5),
		                        "left_message", value_true(res, i, 6)));
	answer(p->cv, p->conn, p->id,
	       json_pack("{s:s, s:o}", "type", "conversation.wrap_ups",
	                 "conversations", list));
out:
	pend_free(p);
}

static void
op_wrap_ups(struct conversation *cv, const struct conversation_desk *d,
            const struct conversation_req *rq)
{
	char staff[24];
	const char *params[1] = {staff};
	struct pend *p;

	snprintf(staff, sizeof(staff), "%llu", (unsigned long long)d->staff);
	p = pend_new(cv, d, 0, rq->id);
	if (db_query(cv->db, WRAP_UPS_SQL, 1, params, on_wrap_ups, p) != 0)
		on_wrap_ups(p, NULL, "database unavailable");
}

/* ---------------------------------------------------------------- table */

typedef void (*op_fn)(struct conversation *cv,
                      const struct conversation_desk *d,
                      const struct conversation_req *rq);

/* By enum conversation_op: conversation_parse has checked the fields. */
static const op_fn OPS[CONVERSATION_OP_COUNT] = {
        [CONVERSATION_OP_HISTORY] = op_history,
        [CONVERSATION_OP_REPLY] = op_reply,
        [CONVERSATION_OP_NOTE] = op_note,
        [CONVERSATION_OP_READ] = op_read,
        [CONVERSATION_OP_END] = op_end,
        [CONVERSATION_OP_TYPING] = op_typing,
        [CONVERSATION_OP_WRAP_UPS] = op_wrap_ups,
};

void
conversation_desk_message(struct conversation *cv,
                          const struct conversation_desk *d, const char *type,
                          json_t *msg)
{
	struct conversation_req rq;
	const char *code = NULL, *why = NULL;

	if (conversation_parse(type, msg, &rq, &code, &why) != 0) {
		answer_error(cv, d->conn, rq.id, code, why);
		return;
	}
	OPS[rq.op](cv, d, &rq);
}

/* ---------------------------------------------------------------- module */

struct conversation *
conversation_new(uv_loop_t *loop, struct db *db, struct db_commit *w,
                 struct bus *bus, struct route *r, conversation_send_fn send,
                 void *send_arg)
{
	struct conversation *cv = xcalloc(1, sizeof(*cv));

	cv->loop = loop;
	cv->db = db;
	cv->w = w;
	cv->bus = bus;
	cv->r = r;
	cv->send = send;
	cv->send_arg = send_arg;
	cv->pends = idmap_new();
	cv->shown = idmap_new();
	return cv;
}

static void
orphan(void *arg, uint64_t key, void *value)
{
	struct pend *p = value;

	(void)arg;
	(void)key;
	p->cv = NULL;
	/* conversation_end_by's caller frees what it passed only when told. */
	if (p->ended != NULL) {
		p->ended(p->ended_arg, 0, 0, "", "shutting down");
		p->ended = end_ignored;
	}
}

void
conversation_free(struct conversation *cv)
{
	static const struct route_ws_chat none = {NULL, NULL, NULL, NULL};
	size_t i;

	if (cv == NULL)
		return;

	if (cv->rw != NULL) {
		route_ws_set_hook(cv->rw, "conversation.", &none);
		for (i = 0; i < CONVERSATION_DESK_HOOKS; i++)
			if (cv->hooks[i].fn != NULL)
				route_ws_set_hook(cv->rw, cv->hooks[i].prefix,
				                  &none);
	}
	idmap_each(cv->pends, orphan, NULL);
	idmap_free(cv->pends);
	idmap_free(cv->shown);
	free(cv);
}

int
conversation_channel_register(struct conversation *cv, const char *channel,
                              const struct conversation_channel_ops *ops)
{
	struct chan *ch;

	if (!channel_name_ok(channel))
		return -1;
	ch = chan_find(cv, channel);
	if (ch == NULL) {
		if (ops == NULL)
			return 0;
		if (cv->nchans == CONVERSATION_CHANNELS_MAX)
			return -1;
		ch = &cv->chans[cv->nchans++];
		snprintf(ch->name, sizeof(ch->name), "%s", channel);
	}
	ch->ops = ops;
	return 0;
}

int
conversation_channel_can_reply(const struct conversation *cv,
                               const char *channel)
{
	const struct conversation_channel_ops *ops = ops_of(cv, channel);

	return ops != NULL && ops->reply != NULL;
}

void
conversation_desk_close(struct conversation *cv, unsigned long conn)
{
	bus_drop_conn(cv->bus, conn);
}

void
conversation_left(struct conversation *cv, uint64_t conv)
{
	idmap_del(cv->shown, conv);
	bus_drop_conversation(cv->bus, conv);
}

/* ---------------------------------------------------------------- wiring */

static void
on_ws_desk_msg(void *arg, const struct route_ws_desk *wd, const char *type,
               json_t *msg)
{
	struct conversation_desk d;

	d.conn = wd->conn;
	d.staff = wd->staff;
	d.role = wd->role;
	d.name = wd->name;
	conversation_desk_message(arg, &d, type, msg);
}

static void
on_ws_desk_close(void *arg, unsigned long conn)
{
	conversation_desk_close(arg, conn);
}

/* Routing events that take a conversation from the desk holding it. */
static const char *const LEAVING[] = {"released", "transferred", "requeued"};

void
conversation_route_events(void *arg, const struct route_event *ev, size_t n)
{
	size_t i, k;
	uint64_t conv;

	for (i = 0; i < n; i++) {
		conv = route_id_parse(ev[i].conv);
		if (conv == 0 || ev[i].kind == NULL)
			continue;
		for (k = 0; k < sizeof(LEAVING) / sizeof(LEAVING[0]); k++)
			if (strcmp(ev[i].kind, LEAVING[k]) == 0)
				conversation_left(arg, conv);
	}
}

int
conversation_attach(struct conversation *cv, struct route_ws *rw)
{
	struct route_ws_chat h = {on_ws_desk_msg, on_ws_desk_close,
	                          conversation_route_events, cv};

	if (route_ws_set_hook(rw, "conversation.", &h) != 0)
		return -1;
	cv->rw = rw;
	return 0;
}

static void
on_channel_desk_msg(void *arg, const struct route_ws_desk *d, const char *type,
                    json_t *msg)
{
	struct desk_hook *h = arg;
	struct conversation_desk cd = {d->conn, d->staff, d->role, d->name};

	if (h->fn != NULL)
		h->fn(h->arg, &cd, type, msg);
}

int
conversation_desk_hook(struct conversation *cv, const char *prefix,
                       conversation_desk_fn fn, void *arg)
{
	static const struct route_ws_chat none = {NULL, NULL, NULL, NULL};
	struct route_ws_chat h;
	struct desk_hook *slot = NULL;
	size_t i;

	if (cv->rw == NULL || strlen(prefix) >= sizeof(slot->prefix))
		return -1;
	for (i = 0; i < CONVERSATION_DESK_HOOKS; i++)
		if (cv->hooks[i].fn != NULL &&
		    strcmp(cv->hooks[i].prefix, prefix) == 0)
			slot = &cv->hooks[i];
	if (fn == NULL) {
		if (slot != NULL) {
			route_ws_set_hook(cv->rw, prefix, &none);
			memset(slot, 0, sizeof(*slot));
		}
		return 0;
	}
	for (i = 0; slot == NULL && i < CONVERSATION_DESK_HOOKS; i++)
		if (cv->hooks[i].fn == NULL)
			slot = &cv->hooks[i];
	if (slot == NULL)
		return -1;
	memset(&h, 0, sizeof(h));
	h.desk_msg = on_channel_desk_msg;
	h.arg = slot;
	if (route_ws_set_hook(cv->rw, prefix, &h) != 0)
		return -1;
	slot->cv = cv;
	snprintf(slot->prefix, sizeof(slot->prefix), "%s", prefix);
	slot->fn = fn;
	slot->arg = arg;
	return 0;
}

size_t
conversation_tell_staff(struct conversation *cv, uint64_t staff, json_t *obj)
{
	if (cv->rw == NULL) {
		json_decref(obj);
		return 0;
	}
	return route_ws_send_staff(cv->rw, staff, obj);
}

static void
on_channel_routed(void *arg, int ok, const char *err,
                  const struct route_event *ev, size_t n)
{
	(void)ev;
	(void)n;
	if (!ok)
		gw_warn("conversation.route", "op=%s reason=\"%s\"",
		        (const char *)arg, err ? err : "");
}

int
conversation_route_queue(struct conversation *cv, uint64_t conv, uint64_t queue,
                         const char *channel, int priority, long long since_ms)
{
	char c[24], q[24];

	if (cv->r == NULL)
		return -1;
	snprintf(c, sizeof(c), "%llu", (unsigned long long)conv);
	snprintf(q, sizeof(q), "%llu", (unsigned long long)queue);
	return route_enqueue(cv->r, c, q, channel, priority, since_ms, NULL,
	                     on_channel_routed, "enqueue");
}

int
conversation_route_seize(struct conversation *cv, uint64_t conv, uint64_t queue,
                         const char *channel, long long since_ms,
                         uint64_t staff)
{
	char c[24], q[24], a[24];

	if (cv->r == NULL)
		return -1;
	snprintf(c, sizeof(c), "%llu", (unsigned long long)conv);
	snprintf(q, sizeof(q), "%llu", (unsigned long long)queue);
	snprintf(a, sizeof(a), "%llu", (unsigned long long)staff);
	return route_seize(cv->r, c, q, channel, since_ms, a, on_channel_routed,
	                   "seize");
}

static void
set_if(json_t *o, const char *k, const char *v)
{
	if (v != NULL && v[0] != '\0')
		json_object_set_new(o, k, json_string(v));
}

void
conversation_publish_delivery(struct bus *b, uint64_t conv, uint64_t seq,
                              const struct conversation_delivery *d)
{
	char cs[24];
	json_t *ev, *dv;

	if (b == NULL || conv == 0 || seq == 0 || d->status == NULL ||
	    d->status[0] == '\0')
		return;
	snprintf(cs, sizeof(cs), "%llu", (unsigned long long)conv);
	dv = json_object();
	set_if(dv, "status", d->status);
	set_if(dv, "to", d->to);
	set_if(dv, "error", d->error);
	set_if(dv, "receipt", d->receipt);
	set_if(dv, "receipt_detail", d->receipt_detail);
	ev = json_pack("{s:s, s:s, s:I, s:o}", "type", "conversation.delivery",
	               "conversation", cs, "seq", (json_int_t)seq, "delivery",
	               dv);
	if (ev != NULL)
		bus_publish(b, conv, 0, ev, NULL, NULL, NULL, NULL);
	json_decref(ev);
}

size_t
conversation_publish_message(struct conversation *cv,
                             const struct conversation_inbound *m,
                             bus_done_fn done, void *arg)
{
	json_t *md, *ev;
	size_t n;

	/* ingest's own object when it has it: its text is not parsed again. */
	if (json_is_object(m->metadata_obj))
		md = json_incref(m->metadata_obj);
	else
		md = m->metadata != NULL ? json_loads(m->metadata, 0, NULL)
		                         : NULL;
	if (md != NULL && !json_is_object(md)) {
		json_decref(md);
		md = NULL;
	}
	ev = message_event(m->conv, m->seq, "resident", NULL,
	                   m->body ? m->body : "", m->at_ms, md, m->client_id);
	n = bus_publish(cv->bus, m->conv, m->seq, ev,
	                channel_name_ok(m->channel) ? m->channel : NULL,
	                m->for_channel, done, arg);
	json_decref(ev);
	return n;
}

/* A resident's message stored by ingest; metadata_obj may be NULL. */
static size_t
publish_inbound(struct conversation *cv, uint64_t conv, uint64_t seq,
                long long at_ms, const char *channel, const char *body,
                const char *metadata, json_t *metadata_obj)
{
	struct conversation_inbound m;

	memset(&m, 0, sizeof(m));
	m.conv = conv;
	m.seq = seq;
	m.at_ms = at_ms;
	m.channel = channel;
	m.body = body;
	m.metadata = metadata;
	m.metadata_obj = metadata_obj;
	return conversation_publish_message(cv, &m, NULL, NULL);
}

size_t
conversation_publish_inbound(struct conversation *cv, uint64_t conv,
                             uint64_t seq, long long at_ms, const char *channel,
                             const char *body, const char *metadata)
{
	return publish_inbound(cv, conv, seq, at_ms, channel, body, metadata,
	                       NULL);
}

void
conversation_deliver(void *arg, const struct ingest_result *res)
{
	if (res->status != INGEST_OK || res->conversation == 0)
		return;
	publish_inbound(arg, res->conversation, res->seq, res->at_ms,
	                res->channel, res->body, res->metadata,
	                res->metadata_obj);
}

void
conversation_publish_typing(struct conversation *cv, uint64_t conv,
                            const char *channel, int state)
{
	char cs[24];
	json_t *ev;

	conv_text(conv, cs, sizeof(cs));
	ev = json_pack("{s:s, s:s, s:b, s:s}", "type", "conversation.typing",
	               "conversation", cs, "state", state, "from", "resident");
	bus_publish(cv->bus, conv, 0, ev,
	            channel_name_ok(channel) ? channel : NULL, NULL, NULL,
	            NULL);
	json_decref(ev);
}
