/*
 * api_advisor.c: the queues' names, offer summaries and a staff member's
 * own preferences, for the desk. See api_advisor.h and docs/api.md.
 *
 * None of this is on the way of an offer: the daemon sends the offer as
 * before, and the desk asks for the summary once the offer has reached it.
 * Who may read a summary is decided by routing's own state (the
 * conversation is offered to or held by the caller, read with the
 * read-only "holding" script) or by PostgreSQL (assigned to the caller,
 * or the caller is a supervisor or admin). A supervisor's or admin's read
 * of a conversation that is not theirs is audited as conversation.view in
 * the statement that reads it, as the record panel's reads are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_advisor.h"
#include "api_util.h"
#include "log.h"
#include "xmalloc.h"

/* The first message is shown at most this long (characters). */
#define FIRST_MAX "200"

struct api_advisor {
	struct gw_http *http;
	struct db *db;
	struct route *route;
};

/* An offer summary waiting for routing's answer. */
struct offer_req {
	struct api_advisor *a;
	unsigned long conn;
	char conv[24];
	char staff[24];
	int manager;
	char *login;
	char *addr;
};

/*
 * Every queue, by name: the desk names the queues it shows and offers
 * them as transfer targets; the admin page picks memberships from them.
 * $1 staff id: serves says whether they are a member; channels lists the
 * channels the queue takes.
 */
static const char QUEUES_SQL[] =
        "SELECT coalesce(json_agg(json_build_object('id', q.id, 'slug',"
        " q.slug, 'name', q.name, 'active', q.active, 'serves', EXISTS"
        " (SELECT 1 FROM queue_members m WHERE m.queue_id = q.id"
        "  AND m.staff_id = $1::bigint), 'channels', (SELECT"
        " coalesce(json_agg(c.channel ORDER BY c.channel), '[]')"
        " FROM queue_channels c WHERE c.queue_id = q.id))"
        " ORDER BY q.name, q.id), '[]')::text FROM queues q";

/*
 * $1 conversation, $2 '1' when routing says it is offered to or held by
 * the caller, $3 staff id, $4 '1' for a supervisor or admin, $5 login, $6
 * client address. No row: not the caller's to see. left_message: its
 * first message was left out of hours or when nobody was free
 * (sb_chat_leave, migration 0006). first_message: the resident's first
 * message as plain text, white space folded, cut to FIRST_MAX characters
 * (… at the cut). caller and due_at: a call's (voice) caller as E.164
 * (null when withheld) and a missed call's deadline (Unix ms), else null.
 */
static const char OFFER_SQL[] =
        "WITH v AS (SELECT v.*, ($2::text = '1'"
        "  OR coalesce(v.assigned_staff_id = $3::bigint, false)) AS own"
        "  FROM conversations v WHERE v.id = $1::bigint),"
        " ok AS (SELECT * FROM v WHERE own OR $4::text = '1'),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "   object_kind, object_id, detail, ip)"
        "  SELECT $3::bigint, $5, 'conversation.view', 'conversation',"
        "   ok.id::text, '{\"via\": \"offer\"}', $6::inet FROM ok"
        "  WHERE NOT ok.own)"
        " SELECT json_build_object('conversation', ok.id::text,"
        "  'reference', ok.reference, 'channel', ok.channel, 'status',"
        "  ok.status, 'queue', ok.queue_id, 'queue_name', q.name,"
        "  'name', nullif(btrim(cu.display_name), ''),"
        "  'subject', nullif(ok.subject, ''),"
        "  'caller', (SELECT v.caller FROM voice_calls v"
        "   WHERE v.conversation_id = ok.id ORDER BY v.id DESC LIMIT 1),"
        "  'due_at', (extract(epoch FROM ok.due_at) * 1000)::bigint,"
        "  'left_message', coalesce((SELECT m.metadata->>'kind' ="
        "   'left_message' FROM messages m WHERE m.conversation_id = ok.id"
        "   ORDER BY m.id LIMIT 1), false),"
        "  'first_message', (SELECT nullif(CASE WHEN length(f.t) > " FIRST_MAX
        "   THEN left(f.t, " FIRST_MAX " - 1) || chr(8230) ELSE f.t END, '')"
        "   FROM (SELECT btrim(regexp_replace(left(m.body, 1000),"
        "    '[[:space:]]+', ' ', 'g')) AS t FROM messages m"
        "    WHERE m.conversation_id = ok.id AND m.direction = 'in'"
        "    ORDER BY m.id LIMIT 1) f))::text"
        " FROM ok JOIN customers cu ON cu.id = ok.customer_id"
        " LEFT JOIN queues q ON q.id = ok.queue_id";

/* $1 staff id. Defaults when the staff member never changed them. */
static const char PREFS_SQL[] =
        "SELECT json_build_object('offer_sound', coalesce(p.offer_sound,"
        "  false), 'offer_notification', coalesce(p.offer_notification,"
        "  false))::text"
        " FROM (SELECT $1::bigint AS id) s"
        " LEFT JOIN staff_preferences p ON p.staff_id = s.id";

/* $1 staff id, $2 offer_sound, $3 offer_notification (NULL: unchanged). */
static const char PREFS_SET_SQL[] =
        "INSERT INTO staff_preferences AS p (staff_id, offer_sound,"
        "  offer_notification)"
        " VALUES ($1::bigint, coalesce($2::boolean, false),"
        "  coalesce($3::boolean, false))"
        " ON CONFLICT (staff_id) DO UPDATE SET"
        "  offer_sound = coalesce($2::boolean, p.offer_sound),"
        "  offer_notification = coalesce($3::boolean, p.offer_notification),"
        "  updated_at = now()"
        " RETURNING json_build_object('offer_sound', p.offer_sound,"
        "  'offer_notification', p.offer_notification)::text";

/* The preferences a PATCH may set, all booleans. */
static const char *const PREFS[] = {"offer_sound", "offer_notification"};

/* ---------------------------------------------------------------- answers */

struct qreq {
	struct api_advisor *a;
	unsigned long conn;
};

static void
on_answer(void *arg, PGresult *res, const char *err)
{
	struct qreq *r = arg;
	struct api_advisor *a = r->a;

	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		gw_http_respond(a->http, r->conn, 200, PQgetvalue(res, 0, 0),
		                NULL);
	} else if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
		api_respond_error(a->http, r->conn, 404,
		                  "no conversation of yours has this id");
	} else {
		gw_warn("api.advisor_failed", "reason=\"%s\"", err ? err : "?");
		api_respond_error(a->http, r->conn, 503,
		                  "database unavailable");
	}
	free(r);
}

static void
run(struct api_advisor *a, unsigned long conn, const char *sql, int n,
    const char *const *params)
{
	struct qreq *r = xcalloc(1, sizeof(*r));

	r->a = a;
	r->conn = conn;
	if (db_query(a->db, sql, n, params, on_answer, r) != 0) {
		api_respond_error(a->http, conn, 503, "database unavailable");
		free(r);
	}
}

/* ---------------------------------------------------------------- offers */

static void
offer_req_free(struct offer_req *o)
{
	free(o->login);
	free(o->addr);
	free(o);
}

/* Reads the summary; held: routing says the conversation is the caller's. */
static void
offer_read(struct offer_req *o, int held)
{
	const char *params[6];

	params[0] = o->conv;
	params[1] = held ? "1" : "";
	params[2] = o->staff;
	params[3] = o->manager ? "1" : "";
	params[4] = o->login;
	params[5] = o->addr;
	run(o->a, o->conn, OFFER_SQL, 6, params);
	offer_req_free(o);
}

/*
 * Routing's answer: what the caller holds now (offers and assignments).
 * Without it (Redis away) only PostgreSQL decides: an offer is then
 * refused, an assignment still shown.
 */
static void
on_holding(void *arg, int ok, const char *err, const struct route_event *ev,
           size_t n)
{
	struct offer_req *o = arg;
	int held = 0;
	size_t i;

	if (!ok)
		gw_info("api.offer_unrouted", "conv=%s reason=\"%s\"", o->conv,
		        err ? err : "?");
	for (i = 0; ok && i < n; i++)
		if (ev[i].conv != NULL && strcmp(ev[i].conv, o->conv) == 0 &&
		    (strcmp(ev[i].kind, "offered") == 0 ||
		     strcmp(ev[i].kind, "accepted") == 0))
			held = 1;
	offer_read(o, held);
}

static void
offer(struct api_advisor *a, unsigned long conn, long long conv,
      const char *peer, const struct gw_session_info *who)
{
	struct offer_req *o = xcalloc(1, sizeof(*o));

	o->a = a;
	o->conn = conn;
	snprintf(o->conv, sizeof(o->conv), "%lld", conv);
	snprintf(o->staff, sizeof(o->staff), "%lld", who->staff_id);
	o->manager = strcmp(who->role, "supervisor") == 0 ||
	             strcmp(who->role, "admin") == 0;
	o->login = xstrdup(who->login);
	o->addr = peer != NULL && peer[0] != '\0' ? xstrdup(peer) : NULL;
	if (a->route == NULL ||
	    route_holding(a->route, o->staff, on_holding, o) != 0)
		offer_read(o, 0);
}

/* ---------------------------------------------------------------- prefs */

static void
prefs_set(struct api_advisor *a, unsigned long conn, const char *body,
          size_t len, const char *ctype, int csrf, const char *staff)
{
	const char *params[3] = {staff, NULL, NULL};
	json_t *o, *v;
	const char *k;
	size_t i;

	o = api_json_body(a->http, conn, body, len, ctype, csrf);
	if (o == NULL)
		return;
	json_object_foreach(o, k, v)
	{
		for (i = 0; i < sizeof(PREFS) / sizeof(PREFS[0]); i++)
			if (strcmp(k, PREFS[i]) == 0)
				break;
		if (i == sizeof(PREFS) / sizeof(PREFS[0]) ||
		    !json_is_boolean(v)) {
			api_respond_error(a->http, conn, 400,
			                  "the body may set offer_sound and "
			                  "offer_notification, each true or "
			                  "false");
			goto out;
		}
		params[1 + i] = json_is_true(v) ? "true" : "false";
	}
	if (params[1] == NULL && params[2] == NULL) {
		api_respond_error(a->http, conn, 400,
		                  "set offer_sound or offer_notification");
		goto out;
	}
	run(a, conn, PREFS_SET_SQL, 3, params);
out:
	json_decref(o);
}

/* ---------------------------------------------------------------- entry */

/* The caller's staff id as a statement parameter. */
static void
staff_param(const struct api_call *c, char *out, size_t len)
{
	snprintf(out, len, "%lld", c->who->staff_id);
}

/* GET /api/queues */
static void
queues(void *arg, const struct api_call *c)
{
	char staff[24];
	const char *params[1] = {staff};

	staff_param(c, staff, sizeof(staff));
	run(arg, c->conn, QUEUES_SQL, 1, params);
}

/* GET /api/me/preferences */
static void
prefs_get(void *arg, const struct api_call *c)
{
	char staff[24];
	const char *params[1] = {staff};

	staff_param(c, staff, sizeof(staff));
	run(arg, c->conn, PREFS_SQL, 1, params);
}

/* PATCH /api/me/preferences */
static void
prefs_patch(void *arg, const struct api_call *c)
{
	char staff[24];

	staff_param(c, staff, sizeof(staff));
	prefs_set(arg, c->conn, c->body, c->len, c->ctype, c->csrf, staff);
}

/* GET /api/conversations/{id}/offer */
static void
offer_get(void *arg, const struct api_call *c)
{
	offer(arg, c->conn, c->id[0], c->peer, c->who);
}

const struct api_route api_advisor_routes[] = {
        {GW_HTTP_GET, "/api/queues", API_SESSION, NULL, queues},
        {GW_HTTP_GET, "/api/me/preferences", API_SESSION, NULL, prefs_get},
        {GW_HTTP_PATCH, "/api/me/preferences", API_SESSION | API_CSRF, NULL,
         prefs_patch},
        {GW_HTTP_GET, "/api/conversations/{id}/offer", API_SESSION, NULL,
         offer_get},
};
const size_t api_advisor_nroutes = nitems(api_advisor_routes);

struct api_advisor *
api_advisor_new(struct gw_http *h, struct db *db)
{
	struct api_advisor *a = xcalloc(1, sizeof(*a));

	a->http = h;
	a->db = db;
	return a;
}

void
api_advisor_set_route(struct api_advisor *a, struct route *r)
{
	if (a != NULL)
		a->route = r;
}

void
api_advisor_free(struct api_advisor *a)
{
	free(a);
}
