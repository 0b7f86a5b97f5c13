/*
 * api_desk.c: canned responses and wrap-up disposition codes for the desk.
 * See api_desk.h and docs/api.md. Each answer is one PostgreSQL statement;
 * a change writes its audit_log row in the same statement. Bodies are
 * checked here field by field so a 400 names every wrong field; the
 * database's constraints stay the last word (a refusal there is a 400 too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_desk.h"
#include "api_util.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"

/* The longest report, in days (from and to included). */
#define REPORT_DAYS_MAX 366

struct api_desk {
	struct gw_http *http;
	struct db *db;
};

enum dkind {
	D_LIST = 0,
	D_CANNED_WRITE,
	D_CREATE,
	D_CODES,
	D_CODE_CREATE,
	D_REPORT,
};

struct dreq {
	struct api_desk *a;
	unsigned long conn;
	enum dkind kind;
};

/* A canned response as the API shows it. */
#define CANNED_JSON(c)                                                         \
	"json_build_object('id', " c ".id, 'title', " c ".title, 'body', " c   \
	".body, 'shortcut', " c ".shortcut, 'queue', " c ".queue_id,"          \
	" 'active', " c ".active, 'updated_at', (extract(epoch FROM " c        \
	".updated_at) * 1000)::bigint, 'updated_by', (SELECT display_name"     \
	" FROM staff_users WHERE id = " c ".updated_by))"

#define CODE_JSON(d)                                                           \
	"json_build_object('id', " d ".id, 'queue', " d                        \
	".queue_id, 'kind', " d ".kind, 'code', " d ".code, 'label', " d       \
	".label, 'active', " d ".active, 'position', " d ".position)"

/* The queues an advisor serves; every queue when $p is '' (the others). */
#define SERVED(col, p)                                                         \
	"(" p "::text = '' OR " col " IN (SELECT queue_id FROM queue_members"  \
	" WHERE staff_id = nullif(" p "::text, '')::bigint))"

/*
 * $1 scope ('' or the advisor's id), $2 '1' to include inactive ones, $3
 * a queue to narrow to ('' for all). The council's name and the queues'
 * names come too: the desk's placeholders need them.
 */
static const char LIST_SQL[] =
        "SELECT json_build_object('council', (SELECT name FROM councils"
        "  ORDER BY id LIMIT 1),"
        " 'queues', (SELECT coalesce(json_agg(json_build_object('id', q.id,"
        "   'slug', q.slug, 'name', q.name) ORDER BY q.id), '[]')"
        "  FROM queues q WHERE " SERVED(
                "q.id",
                "$1") "),"
                      " 'responses', (SELECT coalesce(json_agg(" CANNED_JSON(
                              "c") " ORDER BY c.title, c.id), '[]')"
                                   "  FROM canned_responses c WHERE ($2::text "
                                   "= '1' OR "
                                   "c.active)"
                                   "  AND (c.queue_id IS NULL OR " SERVED(
                                           "c.queue_id",
                                           "$1") ")"
                                                 "  AND ($3::text = '' OR "
                                                 "c.queue_id IS NULL"
                                                 "   OR c.queue_id = "
                                                 "nullif($3::text, "
                                                 "'')::bigint)))::text";

/* $1 the fields (checked), $2 staff id, $3 login, $4 address. */
static const char CANNED_CREATE_SQL[] =
        "WITH j AS (SELECT $1::jsonb AS j),"
        " ins AS (INSERT INTO canned_responses (title, body, shortcut,"
        "   queue_id, active, created_by, updated_by)"
        "  SELECT j->>'title', j->>'body', nullif(j->>'shortcut', ''),"
        "   (j->>'queue')::bigint, coalesce((j->>'active')::boolean, true),"
        "   $2::bigint, $2::bigint FROM j RETURNING *),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, detail, ip)"
        "  SELECT $2::bigint, $3, 'canned.create', 'canned_response',"
        "   ins.id::text, $1::jsonb, $4::inet FROM ins)"
        " SELECT " CANNED_JSON("ins") "::text FROM ins";

/* $1 id, $2 the changes (checked), $3 staff id, $4 login, $5 address. */
static const char CANNED_EDIT_SQL[] =
        "WITH j AS (SELECT $2::jsonb AS j),"
        " up AS (UPDATE canned_responses c SET"
        "  title = coalesce(j->>'title', c.title),"
        "  body = coalesce(j->>'body', c.body),"
        "  shortcut = CASE WHEN j ? 'shortcut'"
        "   THEN nullif(j->>'shortcut', '') ELSE c.shortcut END,"
        "  queue_id = CASE WHEN j ? 'queue' THEN (j->>'queue')::bigint"
        "   ELSE c.queue_id END,"
        "  active = coalesce((j->>'active')::boolean, c.active),"
        "  updated_by = $3::bigint, updated_at = now()"
        "  FROM j WHERE c.id = $1::bigint RETURNING c.*),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, detail, ip)"
        "  SELECT $3::bigint, $4, 'canned.edit', 'canned_response',"
        "   up.id::text, $2::jsonb, $5::inet FROM up)"
        " SELECT " CANNED_JSON("up") "::text FROM up";

/* $1 queue, $2 '1' to include inactive codes. NULL: no such queue. */
/*
 * Who a conversation of queue $1 can be transferred to by name: the
 * enabled advisors and supervisors who serve it, by name. No status: the
 * router offers a pinned conversation when that advisor is available.
 */
static const char ADVISORS_SQL[] =
        "SELECT json_build_object('queue', q.id, 'advisors',"
        " (SELECT coalesce(json_agg(json_build_object('id', u.id, 'name',"
        "   u.display_name) ORDER BY u.display_name, u.id), '[]')"
        "  FROM staff_users u JOIN queue_members m ON m.staff_id = u.id"
        "  WHERE m.queue_id = q.id AND NOT u.disabled"
        "  AND u.role IN ('advisor', 'supervisor')))::text"
        " FROM queues q WHERE q.id = $1::bigint";

static const char CODES_SQL[] =
        "SELECT json_build_object('queue', q.id, 'reason', (SELECT"
        "  coalesce(json_agg(" CODE_JSON(
                "d") " ORDER BY d.position, d.label, d.id),"
                     "   '[]') FROM disposition_codes d WHERE d.queue_id = "
                     "q.id"
                     "   AND d.kind = 'reason' AND ($2::text = '1' OR "
                     "d.active)),"
                     " 'outcome', (SELECT coalesce(json_agg(" CODE_JSON(
                             "d") " ORDER BY d.position, d.label,"
                                  "   d.id), '[]') FROM disposition_codes d"
                                  "   WHERE d.queue_id = q.id AND d.kind = "
                                  "'outcome'"
                                  "   AND ($2::text = '1' OR "
                                  "d.active)))::text"
                                  " FROM queues q WHERE q.id = $1::bigint";

/*
 * The wrap-up report: how many conversations were wrapped up with each
 * reason and each outcome, per queue, over the council's local days $1 to
 * $2 (dates; '' for the last 7 days to today), in queue $3 ('' for every
 * queue). A disposition without a reason (or outcome) counts under null.
 */
/* clang-format off */
#define REPORT_COUNTS(col)                                                     \
	"(SELECT coalesce(json_agg(json_build_object('code', c.code, 'label',"  \
	" c.label, 'active', c.active, 'count', y.n) ORDER BY y.n DESC,"       \
	" c.label NULLS LAST), '[]') FROM (SELECT d." col " AS cid, count(*)"  \
	" AS n FROM d WHERE d.queue_id IS NOT DISTINCT FROM x.queue_id"        \
	" GROUP BY d." col ") y LEFT JOIN disposition_codes c ON c.id = y.cid)"
static const char REPORT_SQL[] =
        "WITH z AS (SELECT coalesce((SELECT timezone FROM councils"
        "  WHERE id = 1), 'Europe/London') AS tz),"
        " r AS (SELECT coalesce(nullif($1::text, '')::date,"
        "  (now() AT TIME ZONE z.tz)::date - 6) AS f,"
        "  coalesce(nullif($2::text, '')::date,"
        "  (now() AT TIME ZONE z.tz)::date) AS t, z.tz FROM z),"
        " d AS (SELECT d.* FROM conversation_dispositions d, r"
        "  WHERE d.created_at >= (r.f::timestamp AT TIME ZONE r.tz)"
        "  AND d.created_at < ((r.t + 1)::timestamp AT TIME ZONE r.tz)"
        "  AND ($3::text = '' OR d.queue_id = nullif($3::text, '')::bigint))"
        " SELECT json_build_object('from', r.f, 'to', r.t, 'timezone', r.tz,"
        "  'queue', nullif($3::text, '')::bigint,"
        "  'wrapped_up', (SELECT count(*) FROM d),"
        "  'queues', (SELECT coalesce(json_agg(json_build_object("
        "   'id', x.queue_id, 'name', q.name, 'wrapped_up', x.n,"
        "   'reasons', " REPORT_COUNTS("reason_id") ","
        "   'outcomes', " REPORT_COUNTS("outcome_id") ")"
        "   ORDER BY q.name NULLS LAST, x.queue_id), '[]')"
        "   FROM (SELECT queue_id, count(*) AS n FROM d GROUP BY queue_id) x"
        "   LEFT JOIN queues q ON q.id = x.queue_id))::text FROM r";
/* clang-format on */

/* $1 queue, $2 the fields (checked), $3 staff id, $4 login, $5 address. */
static const char CODE_CREATE_SQL[] =
        "WITH j AS (SELECT $2::jsonb AS j),"
        " ins AS (INSERT INTO disposition_codes (queue_id, kind, code, label,"
        "   position, active, updated_by)"
        "  SELECT $1::bigint, j->>'kind', j->>'code', j->>'label',"
        "   coalesce((j->>'position')::int, 0),"
        "   coalesce((j->>'active')::boolean, true), $3::bigint FROM j"
        "  RETURNING *),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, detail, ip)"
        "  SELECT $3::bigint, $4, 'disposition_code.create',"
        "   'disposition_code', ins.id::text, $2::jsonb, $5::inet FROM ins)"
        " SELECT " CODE_JSON("ins") "::text FROM ins";

/* $1 code id, $2 the changes (checked), $3 staff id, $4 login, $5 addr. */
static const char CODE_EDIT_SQL[] =
        "WITH j AS (SELECT $2::jsonb AS j),"
        " up AS (UPDATE disposition_codes d SET"
        "  label = coalesce(j->>'label', d.label),"
        "  position = coalesce((j->>'position')::int, d.position),"
        "  active = coalesce((j->>'active')::boolean, d.active),"
        "  updated_by = $3::bigint, updated_at = now()"
        "  FROM j WHERE d.id = $1::bigint RETURNING d.*),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, detail, ip)"
        "  SELECT $3::bigint, $4, 'disposition_code.edit',"
        "   'disposition_code', up.id::text, $2::jsonb, $5::inet FROM up)"
        " SELECT " CODE_JSON("up") "::text FROM up";

/* ---------------------------------------------------------------- fields */

enum ftype {
	F_STR = 0,
	F_INT,
	F_BOOL,
};

/* One field a body may carry. */
struct field {
	const char *name;
	enum ftype type;
	int required; /* on creation */
	int nullable;
	long long min, max; /* characters for strings, value for integers */
	int slug;           /* a string: lower-case letters, digits, - and _ */
};

static const struct field CANNED_FIELDS[] = {
        {"title", F_STR, 1, 0, 1, 200, 0},
        {"body", F_STR, 1, 0, 1, 4000, 0},
        {"shortcut", F_STR, 0, 1, 1, 32, 1},
        {"queue", F_INT, 0, 1, 1, (1LL << 53), 0},
        {"active", F_BOOL, 0, 0, 0, 0, 0},
        {NULL, F_STR, 0, 0, 0, 0, 0},
};

static const struct field CODE_FIELDS[] = {
        {"kind", F_STR, 1, 0, 1, 16, 1},
        {"code", F_STR, 1, 0, 1, 64, 1},
        {"label", F_STR, 1, 0, 1, 200, 0},
        {"position", F_INT, 0, 0, -1000000, 1000000, 0},
        {"active", F_BOOL, 0, 0, 0, 0, 0},
        {NULL, F_STR, 0, 0, 0, 0, 0},
};

/* Only these may change on a code: its queue, kind and code are its key. */
static const struct field CODE_EDIT_FIELDS[] = {
        {"label", F_STR, 0, 0, 1, 200, 0},
        {"position", F_INT, 0, 0, -1000000, 1000000, 0},
        {"active", F_BOOL, 0, 0, 0, 0, 0},
        {NULL, F_STR, 0, 0, 0, 0, 0},
};

/* Characters (not bytes) of a UTF-8 string; blank: 0. */
static long long
field_chars(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0' ? 0
	                                       : (long long)text_utf8_chars(s);
}

static int
is_slug(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		int ok = (s[i] >= 'a' && s[i] <= 'z') ||
		         (s[i] >= '0' && s[i] <= '9') ||
		         (i > 0 && (s[i] == '-' || s[i] == '_'));

		if (!ok)
			return 0;
	}
	return i > 0;
}

/* Why v is not a valid f; NULL when it is. */
static const char *
field_problem(const struct field *f, json_t *v, char *buf, size_t len)
{
	const char *s;

	if (json_is_null(v))
		return f->nullable ? NULL : "must not be null";
	if (f->type == F_BOOL)
		return json_is_boolean(v) ? NULL : "must be true or false";
	if (f->type == F_INT) {
		if (!json_is_integer(v) || json_integer_value(v) < f->min ||
		    json_integer_value(v) > f->max) {
			snprintf(buf, len, "must be a whole number from %lld",
			         f->min);
			return buf;
		}
		return NULL;
	}
	s = json_string_value(v);
	if (s == NULL)
		return "must be a string";
	if (field_chars(s) < f->min || field_chars(s) > f->max) {
		snprintf(buf, len, "must be %lld to %lld characters, not blank",
		         f->min, f->max);
		return buf;
	}
	if (strcmp(f->name, "kind") == 0 && strcmp(s, "reason") != 0 &&
	    strcmp(s, "outcome") != 0)
		return "must be reason or outcome";
	if (f->slug && !is_slug(s))
		return "may have only lower-case letters, digits, - and _, "
		       "and starts with a letter or digit";
	return NULL;
}

/*
 * Checks body o against fields; returns NULL when good, else an error
 * object {"error": "...", "fields": {name: why}} naming every problem.
 */
static json_t *
check_fields(json_t *o, const struct field *fields, int create)
{
	json_t *bad = json_object(), *v, *out = NULL;
	const struct field *f;
	const char *k, *why;
	char buf[96], msg[512];
	size_t used = 0;

	json_object_foreach(o, k, v)
	{
		for (f = fields; f->name != NULL; f++)
			if (strcmp(f->name, k) == 0)
				break;
		if (f->name == NULL)
			json_object_set_new(bad, k,
			                    json_string("is not a field here"));
		else if ((why = field_problem(f, v, buf, sizeof(buf))) != NULL)
			json_object_set_new(bad, k, json_string(why));
	}
	for (f = fields; create && f->name != NULL; f++)
		if (f->required && json_object_get(o, f->name) == NULL)
			json_object_set_new(bad, f->name,
			                    json_string("is required"));
	if (!create && json_object_size(o) == 0)
		json_object_set_new(
		        bad, "body",
		        json_string("must change at least one field"));
	if (json_object_size(bad) == 0) {
		json_decref(bad);
		return NULL;
	}
	msg[0] = '\0';
	json_object_foreach(bad, k, v)
	{
		int n = snprintf(msg + used, sizeof(msg) - used, "%s%s %s",
		                 used > 0 ? "; " : "", k, json_string_value(v));

		if (n < 0 || (size_t)n >= sizeof(msg) - used)
			break;
		used += (size_t)n;
	}
	out = json_pack("{s:s, s:o}", "error", msg, "fields", bad);
	return out;
}

/* ---------------------------------------------------------------- answers */

static void
respond_json(struct api_desk *a, unsigned long conn, int status, json_t *o)
{
	api_respond_json(a->http, conn, status, o);
}

static void
respond_error(struct api_desk *a, unsigned long conn, int status,
              const char *message)
{
	api_respond_error(a->http, conn, status, message);
}

static void
on_answer(void *arg, PGresult *res, const char *err)
{
	struct dreq *r = arg;
	struct api_desk *a = r->a;
	const char *state =
	        res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		gw_http_respond(a->http, r->conn,
		                r->kind == D_CREATE || r->kind == D_CODE_CREATE
		                        ? 201
		                        : 200,
		                PQgetvalue(res, 0, 0), NULL);
	} else if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
		respond_error(a, r->conn, 404, "not found");
	} else if (state != NULL && strcmp(state, "23505") == 0) {
		respond_error(a, r->conn, 409,
		              r->kind == D_CODES || r->kind == D_CODE_CREATE
		                      ? "this queue has that code already"
		                      : "an active canned response has that "
		                        "shortcut already");
	} else if (state != NULL && strcmp(state, "23503") == 0) {
		respond_error(a, r->conn, 400, "queue: no such queue");
	} else if (state != NULL && (strncmp(state, "23", 2) == 0 ||
	                             strncmp(state, "22", 2) == 0)) {
		respond_error(a, r->conn, 400,
		              "a value is not valid for this field");
	} else {
		gw_warn("api.desk_failed", "reason=\"%s\"", err ? err : "?");
		respond_error(a, r->conn, 503, "database unavailable");
	}
	free(r);
}

static void
run(struct api_desk *a, unsigned long conn, enum dkind kind, const char *sql,
    int n, const char *const *params)
{
	struct dreq *r = xcalloc(1, sizeof(*r));

	r->a = a;
	r->conn = conn;
	r->kind = kind;
	if (db_query(a->db, sql, n, params, on_answer, r) != 0) {
		respond_error(a, conn, 503, "database unavailable");
		free(r);
	}
}

/*
 * A state change's body, checked: CSRF header, JSON, the role, the
 * fields. Returns the fields as JSON text (caller frees), or NULL when it
 * answered already.
 */
static char *
change_body(struct api_desk *a, unsigned long conn, const char *body,
            size_t len, const char *ctype, int csrf, int allowed,
            const struct field *fields, int create)
{
	json_t *o = NULL, *bad;
	char *s = NULL;

	/* X-Requested-With: required by the route table (API_CSRF). */
	if (!allowed) {
		respond_error(a, conn, 403, "your role may not change this");
		goto out;
	}
	o = api_json_body(a->http, conn, body, len, ctype, csrf);
	if (o == NULL)
		goto out;
	bad = check_fields(o, fields, create);
	if (bad != NULL) {
		respond_json(a, conn, 400, bad);
		goto out;
	}
	s = json_dumps(o, JSON_COMPACT);
out:
	json_decref(o);
	return s;
}

/*
 * A change, its body already checked (fields NULL: answered already):
 * the statement's parameters are [id,] fields, staff id, login, address.
 */
static void
write(struct api_desk *a, unsigned long conn, enum dkind kind, const char *sql,
      const char *id, const char *fields, const char *staff, const char *login,
      const char *addr)
{
	const char *params[5];
	int n = 0;

	if (fields == NULL)
		return;
	if (id != NULL)
		params[n++] = id;
	params[n++] = fields;
	params[n++] = staff;
	params[n++] = login;
	params[n++] = addr;
	run(a, conn, kind, sql, n, params);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's). */
static long
days_from_civil(int y, int m, int d)
{
	int era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return (long)era * 146097 +
	       (long)(yoe * 365 + yoe / 4 - yoe / 100 + doy) - 719468;
}

/*
 * A report day: YYYY-MM-DD, a real date from 2000 to 2999. Sets *days
 * (since 1970) and returns 0, or -1.
 */
static int
report_day(const char *s, long *days)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
	                            31, 31, 30, 31, 30, 31};
	int y, m, d, leap;
	char end;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &end) != 3)
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 2000 || y > 2999 || m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return -1;
	*days = days_from_civil(y, m, d);
	return 0;
}

/*
 * GET /api/reports/dispositions?from=&to=&queue=: supervisors and admins.
 * Both days or neither (the last 7 days); at most REPORT_DAYS_MAX days.
 */
static void
report(struct api_desk *a, unsigned long conn, const char *query, int manager)
{
	char from[16], to[16], queue[24];
	const char *params[3];
	long f = 0, t = 0;

	if (!manager) {
		respond_error(a, conn, 403,
		              "reports are for supervisors and admins");
		return;
	}
	if (api_query_param(query, "from", from, sizeof(from)) == -2 ||
	    api_query_param(query, "to", to, sizeof(to)) == -2 ||
	    (from[0] != '\0') != (to[0] != '\0') ||
	    (from[0] != '\0' &&
	     (report_day(from, &f) != 0 || report_day(to, &t) != 0))) {
		respond_error(a, conn, 400,
		              "from and to must both be dates (YYYY-MM-DD), or "
		              "both left out for the last 7 days");
		return;
	}
	if (t < f || t - f >= REPORT_DAYS_MAX) {
		respond_error(a, conn, 400,
		              "to must be on or after from, at most 366 days "
		              "later");
		return;
	}
	if (api_query_param(query, "queue", queue, sizeof(queue)) == -2 ||
	    (queue[0] != '\0' && api_route_id(queue, strlen(queue)) == 0)) {
		respond_error(a, conn, 400, "queue must be a queue id");
		return;
	}
	params[0] = from;
	params[1] = to;
	params[2] = queue;
	run(a, conn, D_REPORT, REPORT_SQL, 3, params);
}

/* ---------------------------------------------------------------- entry */

/* What every handler reads of its call. */
struct dctx {
	char staff[24], id[24], all[8];
	const char *addr; /* NULL (SQL NULL) when unknown: it is an inet */
	int advisor, manager, admin;
};

static void
dctx_init(const struct api_call *c, struct dctx *x)
{
	x->addr = c->peer != NULL && c->peer[0] != '\0' ? c->peer : NULL;
	x->advisor = strcmp(c->who->role, "advisor") == 0;
	x->admin = strcmp(c->who->role, "admin") == 0;
	x->manager = x->admin || strcmp(c->who->role, "supervisor") == 0;
	snprintf(x->staff, sizeof(x->staff), "%lld", c->who->staff_id);
	snprintf(x->id, sizeof(x->id), "%lld", c->nids > 0 ? c->id[0] : 0);
	api_query_param(c->query, "all", x->all, sizeof(x->all));
	/* Inactive ones are for those who may edit them. */
	if (!x->manager || strcmp(x->all, "1") != 0)
		x->all[0] = '\0';
}

/* GET /api/reports/dispositions */
static void
report_get(void *arg, const struct api_call *c)
{
	struct dctx x;

	dctx_init(c, &x);
	report(arg, c->conn, c->query, x.manager);
}

/* GET /api/canned?queue=&all= */
static void
canned_list(void *arg, const struct api_call *c)
{
	const char *params[3];
	char queue[24];
	struct dctx x;

	dctx_init(c, &x);
	if (api_query_param(c->query, "queue", queue, sizeof(queue)) == -2 ||
	    (queue[0] != '\0' && api_route_id(queue, strlen(queue)) == 0)) {
		respond_error(arg, c->conn, 400, "queue must be a queue id");
		return;
	}
	params[0] = x.advisor ? x.staff : "";
	params[1] = x.all;
	params[2] = queue;
	run(arg, c->conn, D_LIST, LIST_SQL, 3, params);
}

/*
 * A create or an edit: the body checked (role: manager, or admin when
 * admin_only), then sql with [id,] fields, staff id, login, address.
 */
static void
change(struct api_desk *a, const struct api_call *c, int admin_only,
       const struct field *fields, int create, enum dkind kind, const char *sql,
       int with_id)
{
	struct dctx x;
	char *text;

	dctx_init(c, &x);
	text = change_body(a, c->conn, c->body, c->len, c->ctype, c->csrf,
	                   admin_only ? x.admin : x.manager, fields, create);
	write(a, c->conn, kind, sql, with_id ? x.id : NULL, text, x.staff,
	      c->who->login, x.addr);
	free(text);
}

/* POST /api/canned */
static void
canned_create(void *arg, const struct api_call *c)
{
	change(arg, c, 0, CANNED_FIELDS, 1, D_CREATE, CANNED_CREATE_SQL, 0);
}

/* PATCH /api/canned/{id} */
static void
canned_edit(void *arg, const struct api_call *c)
{
	change(arg, c, 0, CANNED_FIELDS, 0, D_CANNED_WRITE, CANNED_EDIT_SQL, 1);
}

/* GET /api/queues/{id}/advisors */
static void
queue_advisors(void *arg, const struct api_call *c)
{
	const char *params[1];
	struct dctx x;

	dctx_init(c, &x);
	params[0] = x.id;
	run(arg, c->conn, D_LIST, ADVISORS_SQL, 1, params);
}

/* GET /api/queues/{id}/dispositions?all= */
static void
queue_codes(void *arg, const struct api_call *c)
{
	const char *params[2];
	struct dctx x;

	dctx_init(c, &x);
	params[0] = x.id;
	params[1] = x.admin && strcmp(x.all, "1") == 0 ? "1" : "";
	run(arg, c->conn, D_CODES, CODES_SQL, 2, params);
}

/* POST /api/queues/{id}/dispositions */
static void
code_create(void *arg, const struct api_call *c)
{
	change(arg, c, 1, CODE_FIELDS, 1, D_CODE_CREATE, CODE_CREATE_SQL, 1);
}

/* PATCH /api/dispositions/{id} */
static void
code_edit(void *arg, const struct api_call *c)
{
	change(arg, c, 1, CODE_EDIT_FIELDS, 0, D_CODES, CODE_EDIT_SQL, 1);
}

/*
 * Roles are checked by the handlers (each refusal says which role may):
 * reports and canned changes for supervisors and admins, codes' changes
 * for admins.
 */
const struct api_route api_desk_routes[] = {
        {GW_HTTP_GET, "/api/reports/dispositions", API_SESSION, NULL,
         report_get},
        {GW_HTTP_GET, "/api/canned", API_SESSION, NULL, canned_list},
        {GW_HTTP_POST, "/api/canned", API_SESSION | API_CSRF, NULL,
         canned_create},
        {GW_HTTP_PATCH, "/api/canned/{id}", API_SESSION | API_CSRF, NULL,
         canned_edit},
        {GW_HTTP_GET, "/api/queues/{id}/advisors", API_SESSION, NULL,
         queue_advisors},
        {GW_HTTP_GET, "/api/queues/{id}/dispositions", API_SESSION, NULL,
         queue_codes},
        {GW_HTTP_POST, "/api/queues/{id}/dispositions", API_SESSION | API_CSRF,
         NULL, code_create},
        {GW_HTTP_PATCH, "/api/dispositions/{id}", API_SESSION | API_CSRF, NULL,
         code_edit},
};
const size_t api_desk_nroutes = nitems(api_desk_routes);

struct api_desk *
api_desk_new(struct gw_http *h, struct db *db)
{
	struct api_desk *a = xcalloc(1, sizeof(*a));

	a->http = h;
	a->db = db;
	return a;
}

void
api_desk_free(struct api_desk *a)
{
	free(a);
}
