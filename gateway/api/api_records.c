/*
 * api_records.c: customer records and conversation threads for the desk.
 * See api_records.h and docs/api.md. Every answer is one PostgreSQL
 * statement on the reads' connection; a view or an edit of a record writes
 * its audit_log row in the same statement, so nothing is shown unaudited.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_records.h"
#include "api_util.h"
#include "identity.h"
#include "log.h"
#include "xmalloc.h"

#define PAGE_DEFAULT 20
#define PAGE_MAX     100
#define QUERY_MAX    200

struct api_records {
	struct gw_http *http;
	struct db *db;
};

struct rreq {
	struct api_records *a;
	unsigned long conn;
	int kind;
};

enum {
	R_CUSTOMER,
	R_SEARCH,
	R_TIMELINE,
	R_THREAD,
	R_EDIT,
	R_CREATE,
	R_MOVE,
	R_LINK,
	R_AUDIT
};

/*
 * Who may see which conversations: $scope is '' for supervisors, admins
 * and feedback officers (every conversation), else the advisor's staff id
 * (conversations assigned to them, or of a queue they serve).
 */
#define SCOPE(v, p)                                                            \
	"(" p "::text = '' OR " v ".assigned_staff_id = nullif(" p             \
	"::text, '')::bigint OR " v ".queue_id IN (SELECT queue_id"            \
	" FROM queue_members WHERE staff_id = nullif(" p                       \
	"::text, '')::bigint))"

/*
 * A customer's identities (of c) as a JSON array, in kind and value order:
 * bouncing_since (email, migration 0030) and sms_opted_out_at (phone: the
 * resident texted STOP, migration 0035) as Unix ms or null, with the
 * bounce's reason and the opt-out's keyword.
 */
#define IDENTITIES_SQL                                                         \
	"(SELECT coalesce(json_agg(json_build_object("                         \
	"'kind', i.kind, 'value', i.value, 'verified', i.verified,"            \
	" 'bouncing_since', (extract(epoch FROM i.bouncing_since)"             \
	" * 1000)::bigint, 'bounce_reason', i.bounce_reason,"                  \
	" 'sms_opted_out_at', (extract(epoch FROM i.sms_opted_out_at)"         \
	" * 1000)::bigint, 'sms_opt_keyword', i.sms_opt_keyword)"              \
	" ORDER BY i.kind, i.value), '[]') FROM customer_identities i"         \
	" WHERE i.customer_id = c.id)"

/* $1 customer, $2 staff id, $3 login, $4 client address. */
static const char CUSTOMER_SQL[] =
        "WITH c AS (SELECT * FROM customers WHERE id = $1::bigint),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, ip)"
        "  SELECT $2::bigint, $3, 'customer.view', 'customer', c.id::text,"
        "   $4::inet FROM c)"
        " SELECT json_build_object('id', c.id, 'name', c.display_name,"
        "  'vulnerable', c.vulnerable, 'reasonable_adjustments',"
        "  c.reasonable_adjustments, 'preferred_language',"
        "  c.preferred_language, 'preferred_channel', c.preferred_channel,"
        "  'created_at', (extract(epoch FROM c.created_at) * 1000)::bigint,"
        "  'identities', " IDENTITIES_SQL ","
        "  'conversations', (SELECT count(*) FROM conversations v"
        "   WHERE v.customer_id = c.id),"
        "  'links', (SELECT coalesce(json_agg(json_build_object('customer',"
        "   o.id, 'name', o.display_name, 'note', l.note, 'at',"
        "   (extract(epoch FROM l.created_at) * 1000)::bigint)"
        "   ORDER BY l.id), '[]') FROM customer_links l"
        "   JOIN customers o ON o.id = CASE WHEN l.customer_a = c.id"
        "    THEN l.customer_b ELSE l.customer_a END"
        "   WHERE l.customer_a = c.id OR l.customer_b = c.id))::text FROM c";

/*
 * How conversation v was wrapped up (conversation_dispositions): its
 * reason and outcome codes with their labels, the note, who and when; null
 * before it is wrapped up. One primary-key read.
 */
#define WRAP_UP_OF_V                                                           \
	"(SELECT json_build_object('reason', r.code, 'reason_label', r.label," \
	" 'outcome', o.code, 'outcome_label', o.label, 'note', d.note, 'by',"  \
	" s.display_name, 'at', (extract(epoch FROM d.created_at) * 1000)"     \
	"::bigint) FROM conversation_dispositions d"                           \
	" LEFT JOIN disposition_codes r ON r.id = d.reason_id"                 \
	" LEFT JOIN disposition_codes o ON o.id = d.outcome_id"                \
	" LEFT JOIN staff_users s ON s.id = d.staff_id"                        \
	" WHERE d.conversation_id = v.id)"

/*
 * $1 customer, $2 scope, $3 before (a conversation id, '' for the
 * newest), $4 page size. Newest first, by (created_at, id): the index
 * conversations_customer_idx serves it, whatever the customer's history.
 */
static const char TIMELINE_SQL[] =
        "SELECT coalesce(json_agg(json_build_object('conversation',"
        "  v.id::text, 'reference', v.reference, 'channel', v.channel,"
        "  'status', v.status, 'subject', v.subject, 'queue', q.slug,"
        "  'queue_name', q.name, 'advisor', su.display_name, 'created_at',"
        "  (extract(epoch FROM v.created_at) * 1000)::bigint, 'closed_at',"
        "  (extract(epoch FROM v.closed_at) * 1000)::bigint, 'messages',"
        "  (SELECT count(*) FROM messages m WHERE m.conversation_id = v.id),"
        "  'last', (SELECT left(m.body, 200) FROM messages m"
        "   WHERE m.conversation_id = v.id AND m.direction <> 'internal'"
        "   ORDER BY m.id DESC LIMIT 1),"
        "  'wrap_up', " WRAP_UP_OF_V ")"
        "  ORDER BY v.created_at DESC, v.id DESC), '[]')::text"
        " FROM (SELECT * FROM conversations v WHERE v.customer_id = $1::bigint"
        "  AND " SCOPE(
                "v",
                "$2") " AND ($3::text = ''"
                      "   OR (v.created_at, v.id) < (SELECT b.created_at, b.id"
                      "    FROM conversations b WHERE b.id = nullif($3::text, "
                      "'')::bigint))"
                      "  ORDER BY v.created_at DESC, v.id DESC LIMIT $4::int) v"
                      " LEFT JOIN queues q ON q.id = v.queue_id"
                      " LEFT JOIN staff_users su ON su.id = "
                      "v.assigned_staff_id";

/*
 * $1 conversation, $2 scope, $3 after (message id), $4 page size, $5
 * staff id, $6 login, $7 address. One row: allowed (0/1), the messages.
 */
static const char THREAD_SQL[] =
        "WITH v AS (SELECT v.* FROM conversations v WHERE v.id = $1::bigint"
        "  AND " SCOPE(
                "v",
                "$2") "),"
                      " a AS (INSERT INTO audit_log (actor_staff_id, actor, "
                      "action,"
                      "   object_kind, object_id, ip)"
                      "  SELECT $5::bigint, $6, 'conversation.view', "
                      "'conversation',"
                      "   v.id::text, $7::inet FROM v)"
                      " SELECT (SELECT count(*) FROM v),"
                      " (SELECT json_build_object('conversation', v.id::text,"
                      "  'reference', v.reference, 'channel', v.channel, "
                      "'status',"
                      "  v.status, 'customer', v.customer_id, "
                      "'wrap_up', " WRAP_UP_OF_V ", 'messages',"
                      "  (SELECT coalesce(json_agg(json_build_object('seq', "
                      "m.id,"
                      "    'direction', m.direction, 'from', CASE"
                      "     WHEN m.direction = 'internal' AND m.source ="
                      "      'voice' THEN 'system'"
                      "     WHEN m.direction = 'internal' THEN 'note'"
                      "     WHEN m.author_kind = 'customer' THEN 'customer'"
                      "     WHEN m.author_kind = 'staff' THEN 'advisor' ELSE "
                      "'system' END,"
                      "    'name', su.display_name, 'text', m.body, 'source', "
                      "m.source,"
                      "    'at', (extract(epoch FROM m.created_at) * "
                      "1000)::bigint)"
                      "    ORDER BY m.id), '[]')"
                      "   FROM (SELECT * FROM messages WHERE conversation_id = "
                      "v.id"
                      "    AND id > $3::bigint ORDER BY id LIMIT $4::int) m"
                      "   LEFT JOIN staff_users su ON su.id = "
                      "m.author_staff_id))::text"
                      "  FROM v)";

/*
 * A customer's whole record, for a subject access request or a complaint
 * file: the details, identities, links, and every conversation with
 * every message (internal notes included, marked so). $1 customer, $2
 * staff id, $3 login, $4 client address. Audited as customer.export with
 * the counts, in the same statement.
 */
static const char EXPORT_SQL[] =
        "WITH c AS (SELECT * FROM customers WHERE id = $1::bigint),"
        " v AS (SELECT v.*, q.slug AS queue_slug FROM conversations v"
        "  LEFT JOIN queues q ON q.id = v.queue_id"
        "  WHERE v.customer_id = $1::bigint),"
        " m AS (SELECT m.*, su.display_name AS staff_name FROM messages m"
        "  JOIN v ON v.id = m.conversation_id"
        "  LEFT JOIN staff_users su ON su.id = m.author_staff_id),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, detail, ip)"
        "  SELECT $2::bigint, $3, 'customer.export', 'customer', c.id::text,"
        "   jsonb_build_object('conversations', (SELECT count(*) FROM v),"
        "    'messages', (SELECT count(*) FROM m)), $4::inet FROM c)"
        " SELECT json_build_object('format', 'switchboard.customer.v1',"
        "  'exported_at', (extract(epoch FROM now()) * 1000)::bigint,"
        "  'exported_by', $3::text,"
        "  'customer', json_build_object('id', c.id, 'name', c.display_name,"
        "   'vulnerable', c.vulnerable, 'reasonable_adjustments',"
        "   c.reasonable_adjustments, 'preferred_language',"
        "   c.preferred_language, 'preferred_channel', c.preferred_channel,"
        "   'created_at', (extract(epoch FROM c.created_at) * 1000)::bigint,"
        "   'updated_at', (extract(epoch FROM c.updated_at) * 1000)::bigint),"
        "  'identities', " IDENTITIES_SQL ","
        "  'links', (SELECT coalesce(json_agg(json_build_object('customer',"
        "   CASE WHEN l.customer_a = c.id THEN l.customer_b"
        "    ELSE l.customer_a END, 'note', l.note, 'at',"
        "   (extract(epoch FROM l.created_at) * 1000)::bigint)"
        "   ORDER BY l.id), '[]') FROM customer_links l"
        "   WHERE l.customer_a = c.id OR l.customer_b = c.id),"
        "  'conversations', (SELECT coalesce(json_agg(json_build_object("
        "   'conversation', v.id::text, 'reference', v.reference,"
        "   'channel', v.channel, 'status', v.status, 'subject', v.subject,"
        "   'queue', v.queue_slug,"
        "   'created_at', (extract(epoch FROM v.created_at) * 1000)::bigint,"
        "   'closed_at', (extract(epoch FROM v.closed_at) * 1000)::bigint,"
        "   'wrap_up', " WRAP_UP_OF_V ","
        "   'messages', (SELECT coalesce(json_agg(json_build_object("
        "    'seq', m.id, 'from', CASE"
        "     WHEN m.direction = 'internal' THEN 'note'"
        "     WHEN m.author_kind = 'customer' THEN 'customer'"
        "     WHEN m.author_kind = 'staff' THEN 'advisor' ELSE 'system' END,"
        "    'name', m.staff_name, 'text', m.body, 'source', m.source,"
        "    'at', (extract(epoch FROM m.created_at) * 1000)::bigint)"
        "    ORDER BY m.id), '[]') FROM m WHERE m.conversation_id = v.id))"
        "   ORDER BY v.created_at, v.id), '[]') FROM v))::text FROM c";

/*
 * The audit log, newest first, for admins. $1 object kind, $2 object id,
 * $3 actor (login), $4 before (an entry id): '' for any; $5 page size.
 */
static const char AUDIT_SQL[] =
        "SELECT coalesce(json_agg(json_build_object('id', a.id, 'at',"
        "  (extract(epoch FROM a.at) * 1000)::bigint, 'actor', a.actor,"
        "  'action', a.action, 'object_kind', a.object_kind, 'object_id',"
        "  a.object_id, 'detail', a.detail, 'ip', host(a.ip))"
        "  ORDER BY a.id DESC), '[]')::text"
        " FROM (SELECT * FROM audit_log a"
        "  WHERE ($1 = '' OR a.object_kind = $1)"
        "  AND ($2 = '' OR a.object_id = $2)"
        "  AND ($3 = '' OR a.actor = $3)"
        "  AND ($4 = '' OR a.id < nullif($4, '')::bigint)"
        "  ORDER BY a.id DESC LIMIT $5::int) a";

/*
 * $1 name prefix (LIKE-escaped, lower case), $2 email, $3 phone (E.164),
 * $4 reference, $5 staff id, $6 login, $7 address, $8 the query typed.
 */
static const char SEARCH_SQL[] =
        "WITH hit AS ("
        "  SELECT customer_id AS id FROM customer_identities"
        "   WHERE kind = 'email' AND value = $2"
        "  UNION SELECT customer_id FROM customer_identities"
        "   WHERE kind = 'phone' AND value = $3"
        "  UNION SELECT customer_id FROM conversations WHERE reference = $4"
        "  UNION (SELECT id FROM customers"
        "   WHERE $1 <> '' AND lower(display_name) LIKE $1 || '%'"
        "   ORDER BY lower(display_name), id LIMIT 20)),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, detail, ip)"
        "  VALUES ($5::bigint, $6, 'customer.search', 'customer',"
        "   jsonb_build_object('q', $8::text), $7::inet))"
        " SELECT coalesce(json_agg(json_build_object('id', c.id, 'name',"
        "  c.display_name, 'vulnerable', c.vulnerable, 'identities',"
        "  (SELECT coalesce(json_agg(json_build_object('kind', i.kind,"
        "    'value', i.value) ORDER BY i.kind, i.value), '[]')"
        "   FROM customer_identities i WHERE i.customer_id = c.id))"
        "  ORDER BY c.display_name, c.id), '[]')::text"
        " FROM (SELECT c.* FROM customers c JOIN hit ON hit.id = c.id"
        "  ORDER BY c.display_name, c.id LIMIT 20) c";

/*
 * $1 customer, $2 the changes (a JSON object of the editable fields),
 * $3 staff id, $4 login, $5 address. The old and new values are audited.
 */
static const char EDIT_SQL[] =
        "WITH old AS (SELECT * FROM customers WHERE id = $1::bigint),"
        " ch AS (SELECT $2::jsonb AS j),"
        " up AS (UPDATE customers c SET"
        "  display_name = coalesce(ch.j->>'name', c.display_name),"
        "  vulnerable = coalesce((ch.j->>'vulnerable')::boolean,"
        "   c.vulnerable),"
        "  reasonable_adjustments = coalesce(ch.j->>'reasonable_adjustments',"
        "   c.reasonable_adjustments),"
        "  preferred_language = coalesce(ch.j->>'preferred_language',"
        "   c.preferred_language),"
        "  preferred_channel = CASE WHEN ch.j ? 'preferred_channel'"
        "   THEN ch.j->>'preferred_channel' ELSE c.preferred_channel END"
        "  FROM ch WHERE c.id = $1::bigint RETURNING c.*),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, detail, ip)"
        "  SELECT $3::bigint, $4, 'customer.edit', 'customer', up.id::text,"
        "   jsonb_build_object('before', (SELECT jsonb_build_object("
        "    'name', o.display_name, 'vulnerable', o.vulnerable,"
        "    'reasonable_adjustments', o.reasonable_adjustments,"
        "    'preferred_language', o.preferred_language,"
        "    'preferred_channel', o.preferred_channel) FROM old o),"
        "    'changes', $2::jsonb), $5::inet FROM up)"
        " SELECT json_build_object('id', id, 'name', display_name,"
        "  'vulnerable', vulnerable, 'reasonable_adjustments',"
        "  reasonable_adjustments, 'preferred_language', preferred_language,"
        "  'preferred_channel', preferred_channel)::text FROM up";

/*
 * A new customer: $1 name, $2 email (lower case) or NULL, $3 phone (E.164)
 * or NULL, $4 staff id, $5 login, $6 address. Columns: the new id, or the
 * customer who holds that email or phone already (nothing made then).
 */
static const char CREATE_SQL[] =
        "WITH taken AS (SELECT customer_id FROM customer_identities"
        "  WHERE (kind = 'email' AND value = $2) OR (kind = 'phone'"
        "  AND value = $3) ORDER BY customer_id LIMIT 1),"
        " c AS (INSERT INTO customers (display_name) SELECT $1"
        "  WHERE NOT EXISTS (SELECT 1 FROM taken) RETURNING id),"
        " i AS (INSERT INTO customer_identities (customer_id, kind, value)"
        "  SELECT c.id, x.kind, x.value FROM c, (VALUES ('email', $2::text),"
        "   ('phone', $3::text)) x(kind, value) WHERE x.value IS NOT NULL),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, detail, ip)"
        "  SELECT $4::bigint, $5, 'customer.create', 'customer', c.id::text,"
        "   jsonb_strip_nulls(jsonb_build_object('name', $1::text,"
        "    'email', $2::text, 'phone', $3::text)), $6::inet FROM c)"
        " SELECT (SELECT id FROM c), (SELECT customer_id FROM taken)";

/*
 * A conversation moved to another customer ("this caller is that
 * record"): $1 conversation, $2 scope, $3 customer, $4 staff id, $5
 * login, $6 address. Columns: conversation visible, customer exists.
 */
static const char MOVE_SQL[] =
        "WITH v AS (SELECT v.id, v.customer_id FROM conversations v"
        "  WHERE v.id = $1::bigint AND " SCOPE(
                "v",
                "$2") "),"
                      " cu AS (SELECT id FROM customers WHERE id = $3::bigint),"
                      " up AS (UPDATE conversations SET customer_id = (SELECT "
                      "id FROM cu)"
                      "  WHERE id = (SELECT id FROM v) AND EXISTS (SELECT 1 "
                      "FROM cu)"
                      "  RETURNING id),"
                      " a AS (INSERT INTO audit_log (actor_staff_id, actor, "
                      "action,"
                      "   object_kind, object_id, detail, ip)"
                      "  SELECT $4::bigint, $5, 'conversation.customer', "
                      "'conversation',"
                      "   v.id::text, jsonb_build_object('from', "
                      "v.customer_id, 'to',"
                      "   $3::bigint), $6::inet FROM v WHERE EXISTS (SELECT 1 "
                      "FROM up))"
                      " SELECT (SELECT count(*) FROM v), (SELECT count(*) FROM "
                      "cu)";

/*
 * Two records linked for review (never merged): $1 and $2 customers, $3
 * note, $4 staff id, $5 login, $6 address. Columns: both exist and
 * differ, the link's id.
 */
static const char LINK_SQL[] =
        "WITH p AS (SELECT least($1::bigint, $2::bigint) AS a,"
        "  greatest($1::bigint, $2::bigint) AS b),"
        " ok AS (SELECT p.a, p.b FROM p WHERE p.a <> p.b AND (SELECT count(*)"
        "  FROM customers WHERE id IN (p.a, p.b)) = 2),"
        " ins AS (INSERT INTO customer_links (customer_a, customer_b, note,"
        "   created_by) SELECT a, b, $3, $4::bigint FROM ok"
        "  ON CONFLICT (customer_a, customer_b) DO UPDATE SET note ="
        "   CASE WHEN EXCLUDED.note <> '' THEN EXCLUDED.note"
        "   ELSE customer_links.note END RETURNING id),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, detail, ip)"
        "  SELECT $4::bigint, $5, 'customer.link', 'customer', $1::text,"
        "   jsonb_build_object('with', $2::bigint, 'note', $3::text),"
        "   $6::inet FROM ins)"
        " SELECT (SELECT count(*) FROM ok), (SELECT id FROM ins)";

/* ---------------------------------------------------------------- util */

static void
respond(struct api_records *a, unsigned long conn, int status, const char *body)
{
	gw_http_respond(a->http, conn, status, body, NULL);
}

static void
respond_error(struct api_records *a, unsigned long conn, int status,
              const char *message)
{
	api_respond_error(a->http, conn, status, message);
}

static long long
query_int(const char *query, const char *name, long long def, long long lo,
          long long hi)
{
	char buf[24], *end;
	long long v;

	if (api_query_param(query, name, buf, sizeof(buf)) != 0 ||
	    buf[0] == '\0')
		return def;
	v = strtoll(buf, &end, 10);
	if (*end != '\0' || v < lo)
		return -1;
	return v > hi ? hi : v;
}

/* ---------------------------------------------------------------- answers */

static void
on_answer(void *arg, PGresult *res, const char *err)
{
	struct rreq *r = arg;
	struct api_records *a = r->a;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *state =
		        res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		/* A value the database refuses (a check constraint). */
		if (state != NULL && (strncmp(state, "23", 2) == 0 ||
		                      strncmp(state, "22", 2) == 0))
			respond_error(a, r->conn, 400,
			              "a value is not valid for this field");
		else {
			gw_warn("api.records_failed", "reason=\"%s\"",
			        err ? err : "?");
			respond_error(a, r->conn, 503, "database unavailable");
		}
	} else if (r->kind == R_CREATE) {
		if (!PQgetisnull(res, 0, 0)) {
			char body[64];

			snprintf(body, sizeof(body), "{\"id\":%s}",
			         PQgetvalue(res, 0, 0));
			respond(a, r->conn, 201, body);
		} else {
			char body[160];

			snprintf(body, sizeof(body),
			         "{\"error\":\"this email or phone is customer "
			         "%s's\",\"customer\":%s}",
			         PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 1));
			respond(a, r->conn, 409, body);
		}
	} else if (r->kind == R_MOVE || r->kind == R_LINK) {
		if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
			respond_error(a, r->conn, 404,
			              r->kind == R_MOVE
			                      ? "no conversation of yours has "
			                        "this id"
			                      : "both customers must exist and "
			                        "differ");
		else if (r->kind == R_MOVE &&
		         strcmp(PQgetvalue(res, 0, 1), "0") == 0)
			respond_error(a, r->conn, 400, "no such customer");
		else
			respond(a, r->conn, 200, "{\"ok\":true}");
	} else if (r->kind == R_THREAD) {
		if (PQntuples(res) != 1 ||
		    strcmp(PQgetvalue(res, 0, 0), "0") == 0)
			respond_error(a, r->conn, 404,
			              "no conversation of yours has this id");
		else
			respond(a, r->conn, 200, PQgetvalue(res, 0, 1));
	} else if (PQntuples(res) != 1) {
		respond_error(a, r->conn, 404, "no such customer");
	} else {
		respond(a, r->conn, 200, PQgetvalue(res, 0, 0));
	}
	free(r);
}

static void
run(struct api_records *a, unsigned long conn, int kind, const char *sql, int n,
    const char *const *params)
{
	struct rreq *r = xcalloc(1, sizeof(*r));

	r->a = a;
	r->conn = conn;
	r->kind = kind;
	if (db_query(a->db, sql, n, params, on_answer, r) != 0) {
		respond_error(a, conn, 503, "database unavailable");
		free(r);
	}
}

/* The search's name prefix: lower case, LIKE's wildcards escaped. */
static void
like_prefix(const char *q, char *out, size_t len)
{
	size_t k = 0;

	for (; *q != '\0' && k + 3 < len; q++) {
		if (*q == '%' || *q == '_' || *q == '\\')
			out[k++] = '\\';
		out[k++] = (char)tolower((unsigned char)*q);
	}
	out[k] = '\0';
}

static void
search(struct api_records *a, unsigned long conn, const char *query,
       const char *ids[3])
{
	char q[QUERY_MAX + 1], name[2 * QUERY_MAX + 1], email[QUERY_MAX + 1];
	char phone[IDENTITY_PHONE_LEN] = "", ref[QUERY_MAX + 1];
	const char *params[8];
	size_t i, n;

	if (api_query_param(query, "q", q, sizeof(q)) != 0) {
		respond_error(a, conn, 400,
		              "q (1 to 200 characters) is required");
		return;
	}
	/* Trimmed; what it could be: a name, an email, a phone, a ref. */
	for (n = strlen(q); n > 0 && isspace((unsigned char)q[n - 1]); n--)
		q[n - 1] = '\0';
	for (i = 0; isspace((unsigned char)q[i]); i++)
		;
	memmove(q, q + i, strlen(q + i) + 1);
	if (q[0] == '\0') {
		respond_error(a, conn, 400,
		              "q (1 to 200 characters) is required");
		return;
	}
	like_prefix(q, name, sizeof(name));
	for (i = 0; q[i] != '\0'; i++)
		ref[i] = (char)toupper((unsigned char)q[i]);
	ref[i] = '\0';
	if (identity_email(q, email, sizeof(email), NULL) != 0)
		email[0] = '\0';
	if (identity_phone(q, 0, phone, sizeof(phone), NULL) != 0)
		phone[0] = '\0';
	params[0] = name;
	params[1] = email;
	params[2] = phone;
	params[3] = ref;
	params[4] = ids[0];
	params[5] = ids[1];
	params[6] = ids[2];
	params[7] = q;
	run(a, conn, R_SEARCH, SEARCH_SQL, 8, params);
}

/* The editable fields of a customer, checked; NULL with why if not. */
static char *
edit_changes(const char *body, size_t len, const char **why)
{
	static const char *const strs[] = {"name", "reasonable_adjustments",
	                                   "preferred_language"};
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *v;
	const char *k;
	char *s;
	size_t i;

	*why = "body must be a JSON object of name, vulnerable, "
	       "reasonable_adjustments, preferred_language, preferred_channel";
	if (!json_is_object(o) || json_object_size(o) == 0) {
		json_decref(o);
		return NULL;
	}
	json_object_foreach(o, k, v)
	{
		for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
			if (strcmp(k, strs[i]) == 0)
				break;
		if (i < sizeof(strs) / sizeof(strs[0]) ? !json_is_string(v)
		    : strcmp(k, "vulnerable") == 0     ? !json_is_boolean(v)
		    : strcmp(k, "preferred_channel") == 0
		            ? !(json_is_string(v) || json_is_null(v))
		            : 1) {
			json_decref(o);
			return NULL;
		}
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* POST /api/customers: {name, email?, phone?}. */
static void
create(struct api_records *a, unsigned long conn, json_t *o,
       const char *const ids[3])
{
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *email = json_string_value(json_object_get(o, "email"));
	const char *phone = json_string_value(json_object_get(o, "phone"));
	char lower[IDENTITY_EMAIL_MAX + 1], e164[IDENTITY_PHONE_LEN], msg[160];
	const char *params[6], *why = NULL;

	if (name == NULL || name[0] == '\0' || strlen(name) > 200 ||
	    (json_object_get(o, "email") != NULL && email == NULL) ||
	    (json_object_get(o, "phone") != NULL && phone == NULL)) {
		respond_error(a, conn, 400,
		              "body must be {name (1 to 200 bytes), email?, "
		              "phone?}");
		return;
	}
	if (email != NULL &&
	    identity_email(email, lower, sizeof(lower), &why) != 0) {
		snprintf(msg, sizeof(msg), "email is not an email address: %s",
		         why);
		respond_error(a, conn, 400, msg);
		return;
	}
	if (phone != NULL &&
	    identity_phone(phone, 0, e164, sizeof(e164), &why) != 0) {
		snprintf(msg, sizeof(msg), "phone is not a phone number: %s",
		         why);
		respond_error(a, conn, 400, msg);
		return;
	}
	params[0] = name;
	params[1] = email != NULL ? lower : NULL;
	params[2] = phone != NULL ? e164 : NULL;
	params[3] = ids[0];
	params[4] = ids[1];
	params[5] = ids[2];
	run(a, conn, R_CREATE, CREATE_SQL, 6, params);
}

/* ---------------------------------------------------------------- entry */

/* What every handler reads of its call. */
struct rctx {
	char staff[24], id[24], limit[24];
	/* NULL (SQL NULL) when the address is unknown: it is an inet. */
	const char *addr;
	const char *ids[3]; /* staff, login, addr: who acts, for audit_log */
	/* Advisors are scoped to their queues; the others see everything. */
	int all;
};

/*
 * Fills x; -1 after answering 400 when the limit parameter (read by the
 * lists, checked on every path) is not 1 to 100.
 */
static int
rctx_init(struct api_records *a, const struct api_call *c, struct rctx *x)
{
	long long lim;

	memset(x, 0, sizeof(*x));
	snprintf(x->staff, sizeof(x->staff), "%lld", c->who->staff_id);
	snprintf(x->id, sizeof(x->id), "%lld", c->nids > 0 ? c->id[0] : 0);
	x->addr = c->peer != NULL && c->peer[0] != '\0' ? c->peer : NULL;
	x->ids[0] = x->staff;
	x->ids[1] = c->who->login;
	x->ids[2] = x->addr;
	x->all = strcmp(c->who->role, "advisor") != 0;
	lim = query_int(c->query, "limit", PAGE_DEFAULT, 1, PAGE_MAX);
	if (lim < 0 || query_int(c->query, "limit", 1, 1, 1000) < 0) {
		respond_error(a, c->conn, 400, "limit must be 1 to 100");
		return -1;
	}
	snprintf(x->limit, sizeof(x->limit), "%lld", lim);
	return 0;
}

/* GET /api/audit?object_kind&object_id&actor&before&limit (admins). */
static void
audit(void *arg, const struct api_call *c)
{
	struct api_records *a = arg;
	char kind[101] = "", oid[201] = "", actor[201] = "", before[24] = "";
	const char *names[4] = {"object_kind", "object_id", "actor", "before"};
	char *bufs[4] = {kind, oid, actor, before};
	size_t lens[4] = {sizeof(kind), sizeof(oid), sizeof(actor),
	                  sizeof(before)};
	const char *params[5] = {kind, oid, actor, before, NULL};
	struct rctx x;
	int i;

	if (rctx_init(a, c, &x) != 0)
		return;
	params[4] = x.limit;
	for (i = 0; i < 4; i++) {
		if (api_query_param(c->query, names[i], bufs[i], lens[i]) ==
		    -2) {
			respond_error(a, c->conn, 400, "a filter is too long");
			return;
		}
	}
	if (query_int(c->query, "before", 0, 1, (1LL << 53)) < 0) {
		respond_error(a, c->conn, 400, "before must be an entry id");
		return;
	}
	run(a, c->conn, R_AUDIT, AUDIT_SQL, 5, params);
}

/* GET /api/customers?q= */
static void
customers_search(void *arg, const struct api_call *c)
{
	struct rctx x;

	if (rctx_init(arg, c, &x) == 0)
		search(arg, c->conn, c->query, x.ids);
}

/* POST /api/customers */
static void
customers_create(void *arg, const struct api_call *c)
{
	struct api_records *a = arg;
	struct rctx x;
	json_t *o;

	if (rctx_init(a, c, &x) != 0)
		return;
	o = api_json_body(a->http, c->conn, c->body, c->len, c->ctype, c->csrf);
	if (o != NULL)
		create(a, c->conn, o, x.ids);
	json_decref(o);
}

/* A customer read by sql ($1 id, $2 staff, $3 login, $4 address). */
static void
customer_read(struct api_records *a, const struct api_call *c,
              const struct rctx *x, const char *sql)
{
	const char *params[4] = {x->id, x->staff, c->who->login, x->addr};

	run(a, c->conn, R_CUSTOMER, sql, 4, params);
}

/* GET /api/customers/{id} (audited) */
static void
customer_get(void *arg, const struct api_call *c)
{
	struct rctx x;

	if (rctx_init(arg, c, &x) == 0)
		customer_read(arg, c, &x, CUSTOMER_SQL);
}

/* PATCH /api/customers/{id} (audited) */
static void
customer_patch(void *arg, const struct api_call *c)
{
	struct api_records *a = arg;
	const char *params[5], *why;
	struct rctx x;
	char *changes;

	if (rctx_init(a, c, &x) != 0)
		return;
	if (strncmp(c->ctype, "application/json", 16) != 0) {
		respond_error(a, c->conn, 415,
		              "Content-Type must be application/json");
		return;
	}
	changes = edit_changes(c->body, c->len, &why);
	if (changes == NULL) {
		respond_error(a, c->conn, 400, why);
		return;
	}
	params[0] = x.id;
	params[1] = changes;
	params[2] = x.staff;
	params[3] = c->who->login;
	params[4] = x.addr;
	run(a, c->conn, R_EDIT, EDIT_SQL, 5, params);
	free(changes);
}

/* GET /api/customers/{id}/export: not for advisors (audited). */
static void
customer_export(void *arg, const struct api_call *c)
{
	struct rctx x;

	if (rctx_init(arg, c, &x) != 0)
		return;
	if (!x.all)
		respond_error(arg, c->conn, 403,
		              "exports are for feedback officers, "
		              "supervisors and admins");
	else
		customer_read(arg, c, &x, EXPORT_SQL);
}

/* GET /api/customers/{id}/timeline?before=&limit= */
static void
customer_timeline(void *arg, const struct api_call *c)
{
	const char *params[4];
	char before[24];
	struct rctx x;
	long long n;

	if (rctx_init(arg, c, &x) != 0)
		return;
	n = query_int(c->query, "before", 0, 1, (1LL << 53));
	if (n < 0) {
		respond_error(arg, c->conn, 400,
		              "before must be a conversation id");
		return;
	}
	snprintf(before, sizeof(before), "%lld", n);
	params[0] = x.id;
	params[1] = x.all ? "" : x.staff;
	params[2] = n > 0 ? before : "";
	params[3] = x.limit;
	run(arg, c->conn, R_TIMELINE, TIMELINE_SQL, 4, params);
}

/* GET /api/conversations/{id}/messages?after=&limit= (audited) */
static void
thread(void *arg, const struct api_call *c)
{
	const char *params[7];
	char after[24];
	struct rctx x;
	long long n;

	if (rctx_init(arg, c, &x) != 0)
		return;
	n = query_int(c->query, "after", 0, 0, (1LL << 53));
	if (n < 0) {
		respond_error(arg, c->conn, 400, "after must be a seq");
		return;
	}
	snprintf(after, sizeof(after), "%lld", n);
	params[0] = x.id;
	params[1] = x.all ? "" : x.staff;
	params[2] = after;
	/* A thread is read whole, up to 1,000 messages a page. */
	snprintf(x.limit, sizeof(x.limit), "%lld",
	         query_int(c->query, "limit", 1000, 1, 1000));
	params[3] = x.limit;
	params[4] = x.staff;
	params[5] = c->who->login;
	params[6] = x.addr;
	run(arg, c->conn, R_THREAD, THREAD_SQL, 7, params);
}

/*
 * POST /api/customers/{id}/links (cust) and POST
 * /api/conversations/{id}/customer: {customer, note?}.
 */
static void
link_or_move(struct api_records *a, const struct api_call *c, int cust)
{
	const char *params[6], *note;
	json_t *o, *other;
	struct rctx x;
	char oid[24];

	if (rctx_init(a, c, &x) != 0)
		return;
	o = api_json_body(a->http, c->conn, c->body, c->len, c->ctype, c->csrf);
	if (o == NULL)
		return;
	other = json_object_get(o, "customer");
	note = json_string_value(json_object_get(o, "note"));
	if (!json_is_integer(other) || json_integer_value(other) <= 0 ||
	    (json_object_get(o, "note") != NULL &&
	     (note == NULL || strlen(note) > 2000))) {
		respond_error(a, c->conn, 400,
		              "body must be {customer (an id), note? "
		              "(at most 2000 bytes)}");
		goto out;
	}
	snprintf(oid, sizeof(oid), "%lld",
	         (long long)json_integer_value(other));
	params[0] = x.id;
	params[1] = cust ? oid : (x.all ? "" : x.staff);
	params[2] = cust ? (note ? note : "") : oid;
	params[3] = x.staff;
	params[4] = c->who->login;
	params[5] = x.addr;
	run(a, c->conn, cust ? R_LINK : R_MOVE, cust ? LINK_SQL : MOVE_SQL, 6,
	    params);
out:
	json_decref(o);
}

static void
customer_link(void *arg, const struct api_call *c)
{
	link_or_move(arg, c, 1);
}

static void
thread_move(void *arg, const struct api_call *c)
{
	link_or_move(arg, c, 0);
}

const struct api_route api_records_routes[] = {
        {GW_HTTP_GET, "/api/customers", API_SESSION, NULL, customers_search},
        {GW_HTTP_POST, "/api/customers", API_SESSION | API_CSRF, NULL,
         customers_create},
        {GW_HTTP_GET, "/api/customers/{id}", API_SESSION, NULL, customer_get},
        {GW_HTTP_PATCH, "/api/customers/{id}", API_SESSION | API_CSRF, NULL,
         customer_patch},
        {GW_HTTP_GET, "/api/customers/{id}/export", API_SESSION, NULL,
         customer_export},
        {GW_HTTP_GET, "/api/customers/{id}/timeline", API_SESSION, NULL,
         customer_timeline},
        {GW_HTTP_POST, "/api/customers/{id}/links", API_SESSION | API_CSRF,
         NULL, customer_link},
        {GW_HTTP_GET, "/api/conversations/{id}/messages", API_SESSION, NULL,
         thread},
        {GW_HTTP_POST, "/api/conversations/{id}/customer",
         API_SESSION | API_CSRF, NULL, thread_move},
        {GW_HTTP_GET, "/api/audit", API_SESSION | API_ADMIN,
         "the audit log is for admins", audit},
};
const size_t api_records_nroutes = nitems(api_records_routes);

struct api_records *
api_records_new(struct gw_http *h, struct db *db)
{
	struct api_records *a = xcalloc(1, sizeof(*a));

	a->http = h;
	a->db = db;
	return a;
}

void
api_records_free(struct api_records *a)
{
	free(a);
}
