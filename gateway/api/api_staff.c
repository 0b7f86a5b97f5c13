/*
 * api_staff.c: staff accounts for the admin page. See api_staff.h and
 * docs/api.md. Loop thread, except hash_work, which runs on a libuv
 * worker and touches only its own struct sreq (the password and the
 * hash). Each request is a struct sreq owned from its start until it is
 * answered; it holds copies of every parameter. Answers find their client
 * by connection id, so an answer for a client that has gone is dropped.
 * The rules (roles, login, password policy, hashing) and the statement
 * tail that revokes sessions and audits are staff.c's, shared with the
 * CLI; losing the last enabled admin is refused by a trigger (migration
 * 0010), so it holds across instances and for the CLI too.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api_staff.h"
#include "api_util.h"
#include "log.h"
#include "staff.h"
#include "xmalloc.h"

/* Queue ids one account's membership list may hold. */
#define QUEUES_MAX 500
/* staff_capacity.capacity: 0 to 50 (a CHECK in 0002_router.sql). */
#define CAPACITY_MAX 50
/* Passwords hashed at once (each takes a worker and 19 MiB). */
#define HASHING_MAX 4
#define NPARAMS     9

struct api_staff {
	uv_loop_t *loop;
	struct gw_http *http;
	struct db *db;
	struct gw_revoke *revoke;
	unsigned hashing;
	int closing;
};

enum sreq_kind {
	S_LIST = 0,
	S_CHANNELS,
	S_CREATE,
	S_EDIT,
	S_PASSWORD,
	S_DISABLE,
	S_ENABLE,
};

struct sreq {
	struct api_staff *a;
	unsigned long conn;
	enum sreq_kind kind;
	const char *sql;
	int n;
	char *p[NPARAMS]; /* owned; NULL is SQL NULL */
	int hash_slot;    /* parameter the hash goes into; -1: none */
	char *password;   /* to hash; wiped when done */
	int generated;    /* answered once, then forgotten */
	int hash_rc;
	char hash[crypto_pwhash_STRBYTES];
	uv_work_t work;
};

/* The queue ids an account serves, as a JSON array. */
#define MEMBERS(u)                                                             \
	"(SELECT coalesce(json_agg(m.queue_id ORDER BY m.queue_id), '[]')"     \
	" FROM queue_members m WHERE m.staff_id = " u ".id)"

/* An account's own capacities (staff_capacity), as a JSON object. */
#define CAPACITIES(u)                                                          \
	"(SELECT coalesce(json_object_agg(c.channel, c.capacity ORDER BY"      \
	" c.channel), '{}') FROM staff_capacity c WHERE c.staff_id = " u       \
	".id)"

/*
 * One account as the API shows it; queues is SQL yielding a JSON array,
 * caps one yielding a JSON object.
 */
#define ACCOUNT_JSON(u, queues, caps)                                          \
	"json_build_object('id', " u ".id, 'login', " u ".login, 'name', " u   \
	".display_name, 'role', " u ".role, 'disabled', " u ".disabled,"       \
	" 'extension', " u ".phone_extension,"                                 \
	" 'queues', " queues ", 'capacity', " caps ", 'last_sign_in', (SELECT" \
	" (extract(epoch FROM max(ss.created_at)) * 1000)::bigint FROM"        \
	" staff_sessions ss WHERE ss.staff_id = " u ".id))"

/* Last sign-in: the newest session not yet pruned (else null). */
static const char LIST_SQL[] = "SELECT coalesce(json_agg(" ACCOUNT_JSON(
        "u", MEMBERS("u"), CAPACITIES("u")) " ORDER BY"
                                            " u.login), '[]')::text FROM "
                                            "staff_users u";

/* The channels and their default capacity, in the channel type's order. */
static const char CHANNELS_SQL[] =
        "SELECT coalesce(json_agg(json_build_object('channel', c.channel,"
        " 'default_capacity', c.default_capacity, 'live', c.live)"
        " ORDER BY c.channel), '[]')::text FROM channel_settings c";

/*
 * $1 login, $2 name, $3 role, $4 hash, $5 queue ids (JSON array), $6
 * staff id, $7 login, $8 address, $9 'generated' or 'chosen'. One row:
 * the new id (NULL: login taken or a queue missing), every queue exists.
 */
static const char CREATE_SQL[] =
        "WITH qs AS (SELECT DISTINCT x::bigint AS q"
        "  FROM jsonb_array_elements_text($5::jsonb) x),"
        " ok AS (SELECT NOT EXISTS (SELECT 1 FROM qs"
        "  WHERE qs.q NOT IN (SELECT id FROM queues)) AS ok),"
        " u AS (INSERT INTO staff_users (login, display_name, password_hash,"
        "  role) SELECT $1, $2, $4, $3 FROM ok WHERE ok.ok"
        "  ON CONFLICT (login) DO NOTHING RETURNING id, login),"
        " m AS (INSERT INTO queue_members (staff_id, queue_id)"
        "  SELECT u.id, qs.q FROM u, qs),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "  object_kind, object_id, detail, ip) SELECT $6::bigint, $7,"
        "  'staff.create', 'staff', u.id::text, jsonb_build_object('login',"
        "  u.login, 'role', $3::text, 'queues', $5::jsonb, 'password',"
        "  $9::text), $8::inet FROM u)"
        " SELECT (SELECT id FROM u), (SELECT ok FROM ok)";

/*
 * $1 account, $2 the changes ({name?, role?, queues?, capacity?}), $3
 * staff id, $4 login, $5 address. One row: the account exists, every
 * queue exists, the account as it is now (NULL when not changed), every
 * capacity names a channel. A capacity of null removes the account's own
 * (the channel's default applies).
 */
/* The SQL around the macros is kept as written. */
/* clang-format off */
static const char EDIT_SQL[] =
        "WITH ch AS (SELECT $2::jsonb AS j),"
        " qs AS (SELECT DISTINCT x::bigint AS q FROM ch,"
        "  jsonb_array_elements_text(CASE WHEN ch.j ? 'queues'"
        "   THEN ch.j->'queues' ELSE '[]' END) x),"
        " cap AS (SELECT e.key AS k, e.value AS v FROM ch, jsonb_each("
        "  CASE WHEN ch.j ? 'capacity' THEN ch.j->'capacity' ELSE '{}' END) e),"
        " capok AS (SELECT NOT EXISTS (SELECT 1 FROM cap WHERE cap.k NOT IN"
        "  (SELECT channel::text FROM channel_settings)) AS ok),"
        " extok AS (SELECT NOT EXISTS (SELECT 1 FROM staff_users x, ch"
        "  WHERE x.phone_extension = ch.j->>'extension'"
        "  AND x.id <> $1::bigint) AS ok),"
        " ok AS (SELECT NOT EXISTS (SELECT 1 FROM qs"
        "  WHERE qs.q NOT IN (SELECT id FROM queues))"
        "  AND (SELECT ok FROM capok) AND (SELECT ok FROM extok) AS ok),"
        " old AS (SELECT u.id, u.display_name, u.role,"
        "  " MEMBERS("u") " AS queues,"
        "  " CAPACITIES("u") " AS capacity"
        "  FROM staff_users u WHERE u.id = $1::bigint),"
        " up AS (UPDATE staff_users u SET"
        "  display_name = coalesce(ch.j->>'name', u.display_name),"
        "  role = coalesce(ch.j->>'role', u.role),"
        "  phone_extension = CASE WHEN ch.j ? 'extension'"
        "   THEN nullif(ch.j->>'extension', '') ELSE u.phone_extension END"
        "  FROM ch, ok WHERE u.id = $1::bigint AND ok.ok RETURNING u.*),"
        " del AS (DELETE FROM queue_members m USING ch, up"
        "  WHERE m.staff_id = up.id AND ch.j ? 'queues'"
        "  AND m.queue_id NOT IN (SELECT q FROM qs)),"
        " ins AS (INSERT INTO queue_members (staff_id, queue_id)"
        "  SELECT up.id, qs.q FROM up, qs ON CONFLICT DO NOTHING),"
        " cdel AS (DELETE FROM staff_capacity c USING up, cap"
        "  WHERE c.staff_id = up.id AND c.channel::text = cap.k"
        "  AND jsonb_typeof(cap.v) = 'null'),"
        " cins AS (INSERT INTO staff_capacity (staff_id, channel, capacity)"
        "  SELECT up.id, cap.k::sb_channel, (cap.v #>> '{}')::smallint"
        "  FROM up, cap WHERE jsonb_typeof(cap.v) = 'number'"
        "  ON CONFLICT (staff_id, channel) DO UPDATE"
        "  SET capacity = EXCLUDED.capacity),"
        " a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"
        "  object_kind, object_id, detail, ip) SELECT $3::bigint, $4,"
        "  'staff.edit', 'staff', up.id::text, jsonb_build_object('login',"
        "  up.login, 'before', (SELECT jsonb_build_object('name',"
        "  o.display_name, 'role', o.role, 'queues', o.queues, 'capacity',"
        "  o.capacity) FROM old o), 'changes', $2::jsonb), $5::inet FROM up)"
        " SELECT (SELECT count(*) FROM old), (SELECT ok FROM ok),"
        " (SELECT " ACCOUNT_JSON("up",
                "CASE WHEN ch.j ? 'queues' THEN (SELECT coalesce(json_agg(q"
                " ORDER BY q), '[]') FROM qs) ELSE (SELECT o.queues FROM old"
                " o) END",
                /* The capacities as they are after the change. */
                "(SELECT coalesce(json_object_agg(x.k, x.v ORDER BY x.k),"
                " '{}') FROM (SELECT c.key AS k, c.value AS v FROM old o,"
                " json_each(o.capacity) c WHERE c.key NOT IN (SELECT k FROM"
                " cap) UNION ALL SELECT k, v::json FROM cap WHERE"
                " jsonb_typeof(v) = 'number') x)") "::text FROM up, ch),"
        " (SELECT ok FROM capok), (SELECT ok FROM extok)";
/* clang-format on */

/*
 * $1 account, $2 'staff.password_reset', $3 true, $4 hash, $5 staff id, $6
 * login, $7 address: every session of the account is revoked.
 */
static const char PASSWORD_SQL[] =
        "WITH u AS (UPDATE staff_users SET password_hash = $4"
        "  WHERE id = $1::bigint RETURNING id, login),"
        "" GW_STAFF_SQL_TAIL("$3", "$2", "$5", "$6", "$7");

/* $1 account, $2 action, $3 disabled (and revoke), $4-$6 as above. */
static const char DISABLE_SQL[] =
        "WITH u AS (UPDATE staff_users SET disabled = $3::bool"
        "  WHERE id = $1::bigint RETURNING id, login),"
        "" GW_STAFF_SQL_TAIL("$3", "$2", "$4", "$5", "$6");

/* ---------------------------------------------------------------- util */

static void
respond_json(struct api_staff *a, unsigned long conn, int status, json_t *o)
{
	api_respond_json(a->http, conn, status, o);
}

/* {"error": message, "field": field} (no field when NULL). */
static void
respond_error(struct api_staff *a, unsigned long conn, int status,
              const char *field, const char *message)
{
	json_t *o = json_pack("{s:s}", "error", message);

	if (field != NULL)
		json_object_set_new(o, "field", json_string(field));
	respond_json(a, conn, status, o);
}

static void
sreq_free(struct sreq *r)
{
	int i;

	for (i = 0; i < NPARAMS; i++)
		free(r->p[i]);
	if (r->password != NULL) {
		sodium_memzero(r->password, strlen(r->password));
		free(r->password);
	}
	sodium_memzero(r->hash, sizeof(r->hash));
	free(r);
}

static struct sreq *
sreq_new(struct api_staff *a, unsigned long conn, enum sreq_kind kind,
         const char *sql)
{
	struct sreq *r = xcalloc(1, sizeof(*r));

	r->a = a;
	r->conn = conn;
	r->kind = kind;
	r->sql = sql;
	r->hash_slot = -1;
	r->work.data = r;
	return r;
}

/* Appends a parameter (copied; NULL stays SQL NULL). */
static void
param(struct sreq *r, const char *v)
{
	if (r->n >= NPARAMS)
		fatalx("api_staff: too many parameters");
	r->p[r->n++] = v != NULL ? xstrdup(v) : NULL;
}

/* ---------------------------------------------------------------- answers */

static void
answer_failed(struct sreq *r, PGresult *res, const char *err)
{
	const char *state =
	        res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (state != NULL && strcmp(state, GW_STAFF_LAST_ADMIN_STATE) == 0)
		respond_error(r->a, r->conn, 409,
		              r->kind == S_EDIT ? "role" : NULL,
		              "this is the last enabled admin: make another "
		              "admin first");
	else if (state != NULL && strcmp(state, "23505") == 0)
		respond_error(r->a, r->conn, 409, "login",
		              "this login is taken");
	else if (state != NULL &&
	         (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0))
		respond_error(r->a, r->conn, 400, NULL,
		              "a value is not valid for its field");
	else {
		gw_warn("api.staff_failed", "reason=\"%s\"", err ? err : "?");
		respond_error(r->a, r->conn, 503, NULL, "database unavailable");
	}
}

/* An answer held until the revocation is applied everywhere. */
struct held_answer {
	struct api_staff *a;
	unsigned long conn;
	json_t *o;
};

static void
on_revoked_everywhere(void *arg, int confirmed, long long acks)
{
	struct held_answer *h = arg;

	(void)confirmed;
	(void)acks;
	respond_json(h->a, h->conn, 200, h->o);
	free(h);
}

/*
 * Every session of staff was revoked: their desks, on every instance,
 * stop taking messages before the admin is told (o is then answered).
 */
static void
answer_after_revoke(struct api_staff *a, unsigned long conn, long long staff,
                    json_t *o)
{
	struct held_answer *h = xcalloc(1, sizeof(*h));

	h->a = a;
	h->conn = conn;
	h->o = o;
	gw_revoke_announce(a->revoke, staff, 0, 1, on_revoked_everywhere, h);
}

static void
on_answer(void *arg, PGresult *res, const char *err)
{
	struct sreq *r = arg;
	struct api_staff *a = r->a;
	json_t *o;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		answer_failed(r, res, err);
	} else if (r->kind == S_LIST || r->kind == S_CHANNELS) {
		gw_http_respond(a->http, r->conn, 200, PQgetvalue(res, 0, 0),
		                NULL);
	} else if (r->kind == S_CREATE) {
		if (!PQgetisnull(res, 0, 0)) {
			o = json_pack("{s:I, s:s}", "id",
			              (json_int_t)strtoll(PQgetvalue(res, 0, 0),
			                                  NULL, 10),
			              "login", r->p[0]);
			if (r->generated)
				json_object_set_new(o, "password",
				                    json_string(r->password));
			gw_info("staff.created", "staff_id=%s by=%s",
			        PQgetvalue(res, 0, 0), r->p[5]);
			respond_json(a, r->conn, 201, o);
		} else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
			respond_error(a, r->conn, 400, "queues",
			              "a queue in queues does not exist");
		} else {
			respond_error(a, r->conn, 409, "login",
			              "this login is taken");
		}
	} else if (r->kind == S_EDIT) {
		if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
			respond_error(a, r->conn, 404, NULL, "no such account");
		else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
			respond_error(a, r->conn, 400, "capacity",
			              "capacity names a channel that does not "
			              "exist");
		else if (strcmp(PQgetvalue(res, 0, 4), "t") != 0)
			respond_error(
			        a, r->conn, 409, "extension",
			        "another account has this phone extension");
		else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
			respond_error(a, r->conn, 400, "queues",
			              "a queue in queues does not exist");
		else
			gw_http_respond(a->http, r->conn, 200,
			                PQgetvalue(res, 0, 2), NULL);
	} else if (PQntuples(res) != 1) {
		respond_error(a, r->conn, 404, NULL, "no such account");
	} else {
		/* Password, disable, enable: id, sessions revoked. */
		o = json_pack(
		        "{s:I, s:I}", "id",
		        (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10),
		        "sessions_revoked",
		        (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10));
		if (r->kind != S_PASSWORD)
			json_object_set_new(o, "disabled",
			                    json_boolean(r->kind == S_DISABLE));
		if (r->kind == S_PASSWORD && r->generated)
			json_object_set_new(o, "password",
			                    json_string(r->password));
		gw_info("staff.changed", "staff_id=%s action=%s by=%s",
		        PQgetvalue(res, 0, 0), r->p[1], r->p[r->n - 3]);
		if (r->kind == S_ENABLE)
			respond_json(a, r->conn, 200, o);
		else
			answer_after_revoke(
			        a, r->conn,
			        strtoll(PQgetvalue(res, 0, 0), NULL, 10), o);
	}
	sreq_free(r);
}

static void
send_query(struct sreq *r)
{
	if (r->a->closing ||
	    db_query(r->a->db, r->sql, r->n, (const char *const *)r->p,
	             on_answer, r) != 0) {
		respond_error(r->a, r->conn, 503, NULL, "database unavailable");
		sreq_free(r);
	}
}

/* Worker thread: touches only r. */
static void
hash_work(uv_work_t *w)
{
	struct sreq *r = w->data;

	r->hash_rc =
	        gw_staff_hash_password(r->password, r->hash, sizeof(r->hash));
}

static void
hash_done(uv_work_t *w, int status)
{
	struct sreq *r = w->data;

	r->a->hashing--;
	if (status != 0 || r->hash_rc != 0 || r->a->closing) {
		respond_error(r->a, r->conn, 503, NULL,
		              "the password could not be set: try again");
		sreq_free(r);
		return;
	}
	r->p[r->hash_slot] = xstrdup(r->hash);
	send_query(r);
}

/* Runs r: hashes its password on a worker first when it has one. */
static void
start(struct sreq *r)
{
	struct api_staff *a = r->a;

	if (r->hash_slot < 0) {
		send_query(r);
		return;
	}
	if (a->closing || a->hashing >= HASHING_MAX ||
	    uv_queue_work(a->loop, &r->work, hash_work, hash_done) != 0) {
		respond_error(a, r->conn, 503, NULL,
		              "busy setting other passwords: try again");
		sreq_free(r);
		return;
	}
	a->hashing++;
}

/* ---------------------------------------------------------------- input */

/* A JSON object body of a state change; NULL (answered) if not one. */
static json_t *
change_body(struct api_staff *a, const struct api_call *c)
{
	return api_json_body(a->http, c->conn, c->body, c->len, c->ctype,
	                     c->csrf);
}

/* The first key of o not in allowed (NULL-terminated), or NULL. */
static const char *
unknown_key(json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(o, k, v)
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return k;
	}
	return NULL;
}

/*
 * queues (an array of distinct queue ids) as a JSON array text, owned by
 * the caller; NULL with why when it is not one.
 */
static char *
queue_list(json_t *v, const char **why)
{
	size_t i, j, n = json_array_size(v);
	json_t *x;
	int ok = json_is_array(v) && n <= QUEUES_MAX;

	json_array_foreach(v, i, x)
	{
		if (!json_is_integer(x) || json_integer_value(x) <= 0 ||
		    json_integer_value(x) >= (1LL << 53))
			ok = 0;
		for (j = 0; ok && j < i; j++)
			if (json_integer_value(json_array_get(v, j)) ==
			    json_integer_value(x))
				ok = 0;
	}
	if (!ok) {
		*why = "queues must be a list of distinct queue ids";
		return NULL;
	}
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/*
 * A password from the body (checked against the policy) or a generated
 * one; NULL (answered) when the one given is refused.
 */
static char *
new_password(struct api_staff *a, unsigned long conn, json_t *o,
             const char *login, int *generated)
{
	json_t *v = json_object_get(o, "password");
	const char *why;

	*generated = v == NULL || json_is_null(v);
	if (*generated) {
		char *pw = xmalloc(32);

		gw_staff_random_password(pw, 32);
		return pw;
	}
	why = json_is_string(v)
	              ? gw_staff_password_problem(json_string_value(v), login)
	              : "password must be a string";
	if (why != NULL) {
		respond_error(a, conn, 400, "password", why);
		return NULL;
	}
	return xstrdup(json_string_value(v));
}

/* ---------------------------------------------------------------- requests */

/* What is wrong with an optional name field (nv NULL: absent), or NULL. */
static const char *
name_field_problem(json_t *nv)
{
	if (nv == NULL)
		return NULL;
	if (!json_is_string(nv))
		return "name must be a string";
	return gw_staff_name_problem(json_string_value(nv));
}

/*
 * What is wrong with a new account's body, or NULL; *field names the
 * field. *queues is the membership list (owned by the caller) when valid.
 */
static const char *
create_problem(json_t *o, const char **field, char **queues)
{
	static const char *const keys[] = {"login",  "name",     "role",
	                                   "queues", "password", NULL};
	const char *login = json_string_value(json_object_get(o, "login"));
	json_t *nv = json_object_get(o, "name");
	const char *role = json_string_value(json_object_get(o, "role"));
	json_t *qv = json_object_get(o, "queues");
	const char *why = NULL;

	*field = unknown_key(o, keys);
	if (*field != NULL)
		return "this field is not one of login, name, role, queues, "
		       "password";
	*field = "login";
	if (login == NULL)
		return "login is required";
	why = gw_staff_login_problem(login);
	if (why != NULL)
		return why;
	*field = "name";
	why = name_field_problem(nv);
	if (why != NULL)
		return why;
	*field = "role";
	if (role == NULL || !gw_staff_role_valid(role))
		return "role must be advisor, supervisor, feedback_officer or "
		       "admin";
	*field = "queues";
	if (qv != NULL)
		*queues = queue_list(qv, &why);
	if (why != NULL)
		return why;
	*field = NULL;
	return NULL;
}

/* POST /api/staff: {login, name?, role, queues?, password?}. */
static void
create(struct api_staff *a, unsigned long conn, json_t *o,
       const char *const ids[3])
{
	const char *login = json_string_value(json_object_get(o, "login"));
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *role = json_string_value(json_object_get(o, "role"));
	const char *field, *why;
	char *queues = NULL, *pw = NULL;
	struct sreq *r;
	int generated = 0;

	why = create_problem(o, &field, &queues);
	if (why != NULL) {
		respond_error(a, conn, 400, field, why);
		goto out;
	}
	pw = new_password(a, conn, o, login, &generated);
	if (pw == NULL)
		goto out;
	r = sreq_new(a, conn, S_CREATE, CREATE_SQL);
	param(r, login);
	param(r, name != NULL ? name : login);
	param(r, role);
	param(r, NULL); /* the hash, once made */
	param(r, queues != NULL ? queues : "[]");
	param(r, ids[0]);
	param(r, ids[1]);
	param(r, ids[2]);
	param(r, generated ? "generated" : "chosen");
	r->hash_slot = 3;
	r->password = pw;
	r->generated = generated;
	start(r);
out:
	free(queues);
}

/*
 * What is wrong with capacity ({channel: 0 to CAPACITY_MAX, or null for
 * the channel's default}), or NULL. Whether each channel exists is
 * PostgreSQL's to say.
 */
static const char *
capacity_problem(json_t *v)
{
	const char *k;
	json_t *x;

	if (!json_is_object(v) || json_object_size(v) == 0 ||
	    json_object_size(v) > 16)
		return "capacity must be an object of channels, each a number "
		       "of conversations or null";
	json_object_foreach(v, k, x)
	{
		if (strlen(k) == 0 || strlen(k) > 32)
			return "capacity names a channel that does not exist";
		if (!json_is_null(x) &&
		    (!json_is_integer(x) || json_integer_value(x) < 0 ||
		     json_integer_value(x) > CAPACITY_MAX))
			return "a capacity must be a whole number from 0 to "
			       "50, "
			       "or null for the channel's default";
	}
	return NULL;
}

/* What is wrong with an account's changes, or NULL, as create_problem. */
static const char *
edit_problem(json_t *o, long long id, const struct gw_session_info *who,
             const char **field, char **queues, int *status)
{
	static const char *const keys[] = {"name",     "role",      "queues",
	                                   "capacity", "extension", NULL};
	json_t *nv = json_object_get(o, "name"),
	       *rv = json_object_get(o, "role");
	json_t *qv = json_object_get(o, "queues"),
	       *cv = json_object_get(o, "capacity"),
	       *xv = json_object_get(o, "extension");
	const char *why = NULL, *x;
	size_t i;

	*status = 400;
	*field = unknown_key(o, keys);
	if (*field != NULL)
		return "this field is not one of name, role, queues, capacity, "
		       "extension";
	if (json_object_size(o) == 0)
		return "nothing to change: give name, role, queues, capacity "
		       "or "
		       "extension";
	*field = "extension";
	if (xv != NULL && !json_is_null(xv)) {
		x = json_string_value(xv);
		if (x == NULL || strlen(x) > 64)
			return "extension must be the advisor's phone "
			       "extension "
			       "(1 to 64 of letters, digits and _.@+-), or "
			       "\"\" "
			       "for none";
		for (i = 0; x[i] != '\0'; i++)
			if (!isalnum((unsigned char)x[i]) &&
			    strchr("_.@+-", x[i]) == NULL)
				return "extension may hold only letters, "
				       "digits "
				       "and _.@+-";
	}
	if (xv != NULL && json_is_null(xv))
		json_object_set_new(o, "extension", json_string(""));
	*field = "name";
	why = name_field_problem(nv);
	if (why != NULL)
		return why;
	*field = "role";
	if (rv != NULL && (!json_is_string(rv) ||
	                   !gw_staff_role_valid(json_string_value(rv))))
		return "role must be advisor, supervisor, feedback_officer or "
		       "admin";
	if (rv != NULL && id == who->staff_id &&
	    strcmp(json_string_value(rv), "admin") != 0) {
		*status = 409;
		return "you cannot take away your own admin role";
	}
	*field = "queues";
	if (qv != NULL)
		*queues = queue_list(qv, &why);
	if (why != NULL)
		return why;
	*field = "capacity";
	if (cv != NULL && (why = capacity_problem(cv)) != NULL)
		return why;
	*field = NULL;
	return NULL;
}

/* PATCH /api/staff/{id}: {name?, role?, queues?, capacity?, extension?}. */
static void
edit(struct api_staff *a, unsigned long conn, long long id, json_t *o,
     const struct gw_session_info *who, const char *const ids[3])
{
	const char *field, *why;
	char *queues = NULL, *text = NULL, sid[24];
	struct sreq *r;
	int status;

	why = edit_problem(o, id, who, &field, &queues, &status);
	if (why != NULL) {
		respond_error(a, conn, status, field, why);
		goto out;
	}
	text = json_dumps(o, JSON_COMPACT);
	snprintf(sid, sizeof(sid), "%lld", id);
	r = sreq_new(a, conn, S_EDIT, EDIT_SQL);
	param(r, sid);
	param(r, text);
	param(r, ids[0]);
	param(r, ids[1]);
	param(r, ids[2]);
	start(r);
out:
	free(queues);
	free(text);
}

/* POST /api/staff/{id}/password, /disable, /enable (kind says which). */
static void
account_action(struct api_staff *a, unsigned long conn, long long id,
               enum sreq_kind kind, json_t *o,
               const struct gw_session_info *who, const char *const ids[3])
{
	static const char *const pw_keys[] = {"password", NULL};
	static const char *const no_keys[] = {NULL};
	int pw = kind == S_PASSWORD;
	int off = kind == S_DISABLE;
	const char *k = unknown_key(o, pw ? pw_keys : no_keys);
	char sid[24], *password;
	struct sreq *r;
	int generated = 0;

	if (k != NULL) {
		respond_error(a, conn, 400, k,
		              pw ? "the body may hold only password"
		                 : "the body must be {}");
		return;
	}
	if (off && id == who->staff_id) {
		respond_error(a, conn, 409, NULL,
		              "you cannot disable your own account");
		return;
	}
	snprintf(sid, sizeof(sid), "%lld", id);
	if (pw) {
		password = new_password(a, conn, o, NULL, &generated);
		if (password == NULL)
			return;
		r = sreq_new(a, conn, S_PASSWORD, PASSWORD_SQL);
		param(r, sid);
		param(r, "staff.password_reset");
		param(r, "true");
		param(r, NULL); /* the hash, once made */
		r->hash_slot = 3;
		r->password = password;
		r->generated = generated;
	} else {
		r = sreq_new(a, conn, off ? S_DISABLE : S_ENABLE, DISABLE_SQL);
		param(r, sid);
		param(r, off ? "staff.disable" : "staff.enable");
		param(r, off ? "true" : "false");
	}
	param(r, ids[0]);
	param(r, ids[1]);
	param(r, ids[2]);
	start(r);
}

/* ---------------------------------------------------------------- entry */

/* Who acts, for audit_log: staff id, login, address (NULL: unknown). */
struct sctx {
	char staff[24];
	const char *ids[3];
};

static void
sctx_init(const struct api_call *c, struct sctx *x)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->staff, sizeof(x->staff), "%lld", c->who->staff_id);
	x->ids[0] = x->staff;
	x->ids[1] = c->who->login;
	/* NULL (SQL NULL) when the address is unknown: it is an inet. */
	x->ids[2] = c->peer != NULL && c->peer[0] != '\0' ? c->peer : NULL;
}

/* GET /api/channels */
static void
channels_get(void *arg, const struct api_call *c)
{
	start(sreq_new(arg, c->conn, S_CHANNELS, CHANNELS_SQL));
}

/* GET /api/staff */
static void
staff_list(void *arg, const struct api_call *c)
{
	start(sreq_new(arg, c->conn, S_LIST, LIST_SQL));
}

/* POST /api/staff */
static void
staff_create(void *arg, const struct api_call *c)
{
	json_t *o = change_body(arg, c);
	struct sctx x;

	sctx_init(c, &x);
	if (o != NULL)
		create(arg, c->conn, o, x.ids);
	json_decref(o);
}

/* PATCH /api/staff/{id} */
static void
staff_edit(void *arg, const struct api_call *c)
{
	json_t *o = change_body(arg, c);
	struct sctx x;

	sctx_init(c, &x);
	if (o != NULL)
		edit(arg, c->conn, c->id[0], o, c->who, x.ids);
	json_decref(o);
}

static void
action(struct api_staff *a, const struct api_call *c, enum sreq_kind kind)
{
	json_t *o = change_body(a, c);
	struct sctx x;

	sctx_init(c, &x);
	if (o != NULL)
		account_action(a, c->conn, c->id[0], kind, o, c->who, x.ids);
	json_decref(o);
}

/* POST /api/staff/{id}/password */
static void
staff_password(void *arg, const struct api_call *c)
{
	action(arg, c, S_PASSWORD);
}

/* POST /api/staff/{id}/disable */
static void
staff_disable(void *arg, const struct api_call *c)
{
	action(arg, c, S_DISABLE);
}

/* POST /api/staff/{id}/enable */
static void
staff_enable(void *arg, const struct api_call *c)
{
	action(arg, c, S_ENABLE);
}

#define ADMIN    (API_SESSION | API_ADMIN)
#define ADMIN_RW (API_SESSION | API_ADMIN | API_CSRF)
#define ADMINS   "only admins manage accounts"

const struct api_route api_staff_routes[] = {
        {GW_HTTP_GET, "/api/channels", ADMIN, ADMINS, channels_get},
        {GW_HTTP_GET, "/api/staff", ADMIN, ADMINS, staff_list},
        {GW_HTTP_POST, "/api/staff", ADMIN_RW, ADMINS, staff_create},
        {GW_HTTP_PATCH, "/api/staff/{id}", ADMIN_RW, ADMINS, staff_edit},
        {GW_HTTP_POST, "/api/staff/{id}/password", ADMIN_RW, ADMINS,
         staff_password},
        {GW_HTTP_POST, "/api/staff/{id}/disable", ADMIN_RW, ADMINS,
         staff_disable},
        {GW_HTTP_POST, "/api/staff/{id}/enable", ADMIN_RW, ADMINS,
         staff_enable},
};
const size_t api_staff_nroutes = nitems(api_staff_routes);

struct api_staff *
api_staff_new(uv_loop_t *loop, struct gw_http *h, struct db *db)
{
	struct api_staff *a = xcalloc(1, sizeof(*a));

	a->loop = loop;
	a->http = h;
	a->db = db;
	return a;
}

void
api_staff_set_revoke(struct api_staff *a, struct gw_revoke *rv)
{
	if (a != NULL)
		a->revoke = rv;
}

void
api_staff_close(struct api_staff *a)
{
	if (a != NULL)
		a->closing = 1;
}

void
api_staff_free(struct api_staff *a)
{
	free(a);
}
