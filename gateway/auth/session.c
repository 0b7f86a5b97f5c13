/*
 * session.c: staff logins and sessions on top of db.c (see session.h).
 *
 * Threads: everything runs on the loop thread except login_work, which runs
 * on a libuv worker and touches only its own struct session_op (the hash,
 * the copy of the password, the verdict).
 * Ownership: each request is a struct session_op, owned by the store from
 * the call that starts it until its callback has returned; it holds copies
 * of everything it needs and the caller's arg, nothing else of the caller.
 * The store counts its requests; once its owner frees it, it stops sending
 * work and lives on until the last request has answered, so a database
 * reply or a worker job that ends later never touches freed memory.
 *
 * Log lines name the staff id, never the login as typed (it is sometimes
 * a password typed into the wrong field), the password or the token.
 *
 * Throttling is race-free within the database: the statement that counts
 * recent failures also records this attempt as a failure, and marks it a
 * success only once the password matched. Statements on one connection run
 * one after another, so concurrent attempts see each other. A login whose
 * account is under attack waits on a timer of its own (op->delay, closed
 * before the op goes on) between that statement and the password check;
 * the store keeps such logins in a list so that freeing it ends them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "metrics.h"
#include "session.h"
#include "staff.h"
#include "xmalloc.h"

#define LOGIN_MAX      128 /* staff_users.login */
#define USER_AGENT_MAX 256 /* staff_sessions.user_agent */
#define IP_MAX         45  /* longest textual IPv6 address */
/* last_seen_at is written at most this often (or idle/2 when shorter). */
#define TOUCH_MAX_S 60
#define TOKEN_BYTES 32
#define TOKEN_BUF                                                              \
	sodium_base64_ENCODED_LEN(TOKEN_BYTES,                                 \
	                          sodium_base64_VARIANT_URLSAFE_NO_PADDING)
#define HASH_HEX_BUF (crypto_hash_sha256_BYTES * 2 + 1)

_Static_assert(TOKEN_BUF == GW_SESSION_TOKEN_LEN + 1, "token length");

/*
 * Verified instead of a real hash when the login does not exist, so the
 * answer takes as long as for a wrong password. Same parameters as
 * gw_staff_hash_password; the password behind it was random and discarded.
 */
static const char dummy_hash[] =
        "$argon2id$v=19$m=19456,t=2,p=1$Ms5C0/wZ1KwdtflAt8Orgg$"
        "ACiDi3djBuyp8jp6ce9M/juY1c2o69vAikMla/OJ8Hk";

/*
 * Counts, in the window: this login's failures from this address since it
 * last succeeded from there ($6: refused at that many), the address's
 * failures for any login ($5: refused), and this login's failures from
 * anywhere since its last success (returned: its delay). Records the
 * attempt (as a failure for now) unless the address is refused. One row:
 * the attempt id (NULL when refused), then the user (NULLs when unknown),
 * then the login's failures. A NULL address is never refused.
 */
static const char sql_login_begin[] =
        "WITH c AS (SELECT"
        " (SELECT count(*) FROM login_attempts a"
        "   WHERE a.login = $1 AND NOT a.ok"
        "   AND a.at > now() - $3::int * interval '1 second'"
        "   AND a.id > coalesce((SELECT max(s.id) FROM login_attempts s"
        "                        WHERE s.login = $1 AND s.ok), 0)) AS nl,"
        " (SELECT count(*) FROM login_attempts a"
        "   WHERE a.login = $1 AND a.ip = $2::inet AND NOT a.ok"
        "   AND a.at > now() - $3::int * interval '1 second'"
        "   AND a.id > coalesce((SELECT max(s.id) FROM login_attempts s"
        "                        WHERE s.login = $1 AND s.ip = $2::inet"
        "                        AND s.ok), 0)) AS nla,"
        " (SELECT count(*) FROM login_attempts a"
        "   WHERE a.ip = $2::inet AND NOT a.ok"
        "   AND a.at > now() - $3::int * interval '1 second') AS ni),"
        " ins AS (INSERT INTO login_attempts (login, ip)"
        "  SELECT $1, $2::inet FROM c"
        "  WHERE c.nla < $4::int AND c.ni < $5::int RETURNING id)"
        " SELECT (SELECT id FROM ins), u.id, u.password_hash, u.disabled,"
        " c.nl, c.nla >= $4::int"
        " FROM c LEFT JOIN staff_users u ON u.login = $1";

/*
 * Marks the attempt a success and creates the session, unless the user
 * was disabled or deleted while the password was being checked.
 */
static const char sql_login_create[] =
        "WITH u AS (SELECT id, login, role, display_name FROM staff_users"
        "  WHERE id = $6::bigint AND NOT disabled),"
        " a AS (UPDATE login_attempts SET ok = true"
        "  WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM u)),"
        " s AS (INSERT INTO staff_sessions"
        "  (token_hash, staff_id, expires_at, ip, user_agent)"
        "  SELECT decode($2, 'hex'), u.id,"
        "  now() + $3::int * interval '1 second', $4::inet, $5 FROM u"
        "  RETURNING staff_id, id)"
        " SELECT s.staff_id, u.login, u.role, u.display_name, s.id"
        " FROM s JOIN u ON u.id = s.staff_id";

/*
 * What the user may do, as a digest: the role, the queue memberships
 * (with proficiencies) and the own capacities of the staff_users row named
 * u. A desk opened with
 * one digest is closed when it changes (route_ws), so that it connects
 * again under the new rules.
 */
#define ACCESS_SQL                                                             \
	" md5(u.role || ':' || coalesce((SELECT string_agg(m.queue_id"         \
	" || '/' || m.proficiency, ',' ORDER BY m.queue_id)"                   \
	" FROM queue_members m WHERE m.staff_id = u.id), '') || ':' ||"        \
	" coalesce((SELECT string_agg(c.channel || '=' || c.capacity, ','"     \
	" ORDER BY c.channel) FROM staff_capacity c"                           \
	" WHERE c.staff_id = u.id), ''))"

/* Finds a live session and touches it when last written touch_s ago. */
static const char sql_check[] =
        "WITH s AS (SELECT s.id, s.staff_id, s.last_seen_at, u.login,"
        "  u.role, u.display_name," ACCESS_SQL " AS access"
        "  FROM staff_sessions s JOIN staff_users u ON u.id = s.staff_id"
        "  WHERE s.token_hash = decode($1, 'hex') AND s.revoked_at IS NULL"
        "  AND s.expires_at > now()"
        "  AND s.last_seen_at > now() - $2::int * interval '1 second'"
        "  AND NOT u.disabled),"
        " t AS (UPDATE staff_sessions x SET last_seen_at = now() FROM s"
        "  WHERE x.id = s.id"
        "  AND s.last_seen_at <= now() - $3::int * interval '1 second')"
        " SELECT staff_id, login, role, display_name, id, access FROM s";

/*
 * Revokes one session: how many (0 or 1), whose, which, and whether its
 * user has another live session (the statement does not see its own
 * update: the revoked one is left out by id).
 */
static const char sql_logout[] =
        "WITH r AS (UPDATE staff_sessions SET revoked_at = now()"
        "  WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL"
        "  RETURNING id, staff_id)"
        " SELECT (SELECT count(*) FROM r),"
        " coalesce((SELECT staff_id FROM r), 0),"
        " coalesce((SELECT id FROM r), 0),"
        " EXISTS (SELECT 1 FROM staff_sessions o JOIN staff_users u"
        "  ON u.id = o.staff_id WHERE o.staff_id = (SELECT staff_id FROM r)"
        "  AND o.id <> (SELECT id FROM r) AND o.revoked_at IS NULL"
        "  AND o.expires_at > now() AND NOT u.disabled"
        "  AND o.last_seen_at > now() - $2::int * interval '1 second')";

static const char sql_revoke_staff[] =
        "WITH r AS (UPDATE staff_sessions SET revoked_at = now()"
        "  WHERE staff_id = $1::bigint AND revoked_at IS NULL RETURNING 1)"
        " SELECT count(*) FROM r";

/*
 * Whether a set of sessions, and their users, are still signed in (see
 * gw_session_live). Uses staff_sessions_staff_live_idx for the users.
 */
static const char sql_live[] =
        "WITH a AS (SELECT s.id, s.staff_id, (s.revoked_at IS NULL"
        "  AND s.expires_at > now() AND NOT u.disabled"
        "  AND s.last_seen_at > now() - $2::int * interval '1 second')"
        "  AS live, NOT u.disabled AS enabled," ACCESS_SQL " AS access"
        "  FROM staff_sessions s JOIN staff_users u ON u.id = s.staff_id"
        "  WHERE s.id = ANY ($1::bigint[]))"
        " SELECT a.id, a.live, a.enabled AND EXISTS (SELECT 1"
        "  FROM staff_sessions o WHERE o.staff_id = a.staff_id"
        "  AND o.revoked_at IS NULL AND o.expires_at > now()"
        "  AND o.last_seen_at > now() - $2::int * interval '1 second'),"
        " a.access FROM a";

/*
 * Activity on an open desk socket: keeps its session from going idle.
 * A session already idle, revoked or past its absolute timeout stays so.
 */
static const char sql_touch[] =
        "WITH t AS (UPDATE staff_sessions SET last_seen_at = now()"
        "  WHERE id = $1::bigint AND revoked_at IS NULL"
        "  AND expires_at > now()"
        "  AND last_seen_at > now() - $2::int * interval '1 second'"
        "  RETURNING 1)"
        " SELECT count(*) FROM t";

static const char sql_prune[] =
        "WITH s AS (DELETE FROM staff_sessions"
        "  WHERE expires_at < now() - $1::int * interval '1 second'"
        "  OR revoked_at < now() - $1::int * interval '1 second'"
        "  OR last_seen_at < now() - ($1::int + $2::int)"
        "                            * interval '1 second'"
        "  RETURNING 1),"
        " a AS (DELETE FROM login_attempts"
        "  WHERE at < now() - $1::int * interval '1 second' RETURNING 1)"
        " SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM a)";

enum op_kind {
	OP_LOGIN = 0,
	OP_CHECK,
	OP_DONE, /* revocation, pruning, touch: answered with a count */
	OP_LIVE,
	OP_LOGOUT,
};

struct gw_session_store {
	uv_loop_t *loop;
	struct db *db;
	int idle_s, absolute_s, touch_s;
	struct gw_session_throttle throttle;
	unsigned inflight; /* requests not yet answered */
	unsigned logins;   /* of which logins, less those waiting their delay */
	struct session_op *delayed; /* logins waiting their delay */
	int closing;                /* freed by its owner */
};

struct session_op {
	struct gw_session_store *st;
	enum op_kind kind;
	gw_session_login_cb info_cb; /* OP_LOGIN, OP_CHECK */
	gw_session_done_cb done_cb;  /* OP_DONE */
	gw_session_logout_cb out_cb; /* OP_LOGOUT */
	gw_session_live_cb live_cb;  /* OP_LIVE */
	void *arg;
	const char *what; /* for log lines */
	int in_call;      /* inside op_query: a lost connection answers now */
	int lost;
	/* Login. */
	uv_work_t work;
	char *login;
	char *password; /* wiped and freed by the worker */
	size_t password_len;
	char *ip;
	char *user_agent;
	char *attempt_id;
	char *staff_id; /* NULL: unknown login */
	char *hash;     /* NULL: unknown login, dummy_hash is checked */
	int user_ok;
	int verified;
	/* Waiting before the password is checked (a login under attack). */
	uv_timer_t delay;
	struct session_op *dprev, *dnext; /* st->delayed */
	int delay_closing;
	char token[TOKEN_BUF];
	/* Login and check: hex SHA-256 of the token. */
	char token_hash[HASH_HEX_BUF];
};

static struct session_op *
op_new(struct gw_session_store *st, enum op_kind kind, const char *what,
       void *arg)
{
	struct session_op *op = xcalloc(1, sizeof(*op));

	op->st = st;
	op->kind = kind;
	op->what = what;
	op->arg = arg;
	op->work.data = op;
	st->inflight++;
	if (kind == OP_LOGIN)
		st->logins++;
	return op;
}

static void
op_wipe_password(struct session_op *op)
{
	if (op->password == NULL)
		return;
	sodium_memzero(op->password, op->password_len);
	free(op->password);
	op->password = NULL;
}

/* Frees op and, when it was the last request of a freed store, the store. */
static void
op_release(struct session_op *op)
{
	struct gw_session_store *st = op->st;

	if (op->kind == OP_LOGIN)
		st->logins--;
	op_wipe_password(op);
	sodium_memzero(op->token, sizeof(op->token));
	free(op->login);
	free(op->ip);
	free(op->user_agent);
	free(op->attempt_id);
	free(op->staff_id);
	free(op->hash);
	free(op);
	if (--st->inflight == 0 && st->closing)
		free(st);
}

/* Answers op's caller, then releases op (the callback may free the store). */
static void
op_finish(struct session_op *op, enum gw_session_status status,
          const struct gw_session_info *info, long long count)
{
	const char *err = NULL;

	if (status != GW_SESSION_OK) {
		err = gw_session_status_text(status, op->kind == OP_LOGIN);
		info = NULL;
		count = 0;
	}
	if (op->kind == OP_LIVE) {
		if (op->live_cb != NULL)
			op->live_cb(op->arg, status, err, NULL, 0);
	} else if (op->kind == OP_LOGOUT) {
		if (op->out_cb != NULL)
			op->out_cb(op->arg, status, err, NULL);
	} else if (op->kind == OP_DONE) {
		if (op->done_cb != NULL)
			op->done_cb(op->arg, status, err, count);
	} else if (op->info_cb != NULL) {
		op->info_cb(op->arg, status, err, info);
	}
	op_release(op);
}

/*
 * Sends one statement for op. Returns 0 when cb will be called later, or
 * -1 when it will not (the database is down, or the connection was lost
 * while sending: db.c then fails the request at once, which cb turns into
 * op->lost rather than answering from inside this call).
 */
static int
op_query(struct session_op *op, const char *sql, int nparams,
         const char *const *values, db_result_cb cb)
{
	int rc = -1;

	op->in_call = 1;
	op->lost = 0;
	if (op->st->closing)
		goto out;
	if (db_send(op->st->db, sql, nparams, values, cb, op) != 0)
		goto out;
	/* On failure db.c fails the request just sent: cb sets lost. */
	db_sync(op->st->db, NULL, NULL);
	if (!op->lost)
		rc = 0;
out:
	op->in_call = 0;
	return rc;
}

static const char *
field_or_dash(const PGresult *res, int field)
{
	const char *v = PQresultErrorField(res, field);

	return v != NULL ? v : "-";
}

/* 1 if res holds rows; otherwise logs why (never the parameters). */
static int
result_ok(const struct session_op *op, const PGresult *res, const char *err)
{
	char buf[256];
	int ok = 0;

	if (res == NULL)
		gw_warn("session.db_lost", "request=%s reason=\"%s\"", op->what,
		        gw_log_clean(buf, sizeof(buf), err ? err : "?"));
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		/* Not the DETAIL line: it may quote the row, with the login. */
		gw_warn("session.db_error",
		        "request=%s sqlstate=%s error=\"%s\"", op->what,
		        field_or_dash(res, PG_DIAG_SQLSTATE),
		        gw_log_clean(
		                buf, sizeof(buf),
		                field_or_dash(res, PG_DIAG_MESSAGE_PRIMARY)));
	else
		ok = 1;
	return ok;
}

/* Valid UTF-8 without control characters (what PostgreSQL will accept). */
static int
text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;
	unsigned i;
	int ok = 1;

	while (ok && p < end) {
		unsigned c = *p, cp = c, min = 0, n = 0;

		if (c < 0x20 || c == 0x7f) {
			ok = 0;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else if (c >= 0x80) {
			ok = 0;
		}
		if (ok && (size_t)(end - p) <= n)
			ok = 0;
		for (i = 1; ok && i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				ok = 0;
			cp = cp << 6 | (p[i] & 0x3fu);
		}
		if (ok && (cp < min || cp > 0x10ffff ||
		           (cp >= 0xd800 && cp <= 0xdfff)))
			ok = 0;
		p += n + 1;
	}
	return ok;
}

/* A copy of ip if it is a plain IPv4 or IPv6 address, else NULL. */
static char *
ip_copy(const char *ip)
{
	unsigned char buf[16];
	char *copy = NULL;

	if (ip == NULL || strnlen(ip, IP_MAX + 1) > IP_MAX ||
	    strchr(ip, '%') != NULL)
		goto out;
	if (uv_inet_pton(AF_INET, ip, buf) == 0 ||
	    uv_inet_pton(AF_INET6, ip, buf) == 0)
		copy = xstrdup(ip);
out:
	return copy;
}

/* Printable ASCII only (User-Agent is), at most USER_AGENT_MAX bytes. */
static char *
user_agent_copy(const char *ua)
{
	size_t i, n = ua == NULL ? 0 : strnlen(ua, USER_AGENT_MAX);
	char *copy = xmalloc(n + 1);

	for (i = 0; i < n; i++)
		copy[i] = (ua[i] >= 0x20 && ua[i] < 0x7f) ? ua[i] : '?';
	copy[n] = '\0';
	return copy;
}

/*
 * Well-formed token: 43 base64url characters decoding to 32 bytes. The
 * alphabet is checked first: libsodium 1.0.18's decoder takes bytes over
 * 0x7f for letters.
 */
static int
token_valid(const char *token)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                               "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char bin[TOKEN_BYTES];
	const char *end = NULL;
	size_t binlen = 0;
	int ok = 0;

	if (token == NULL ||
	    strnlen(token, GW_SESSION_TOKEN_LEN + 1) != GW_SESSION_TOKEN_LEN ||
	    strspn(token, alphabet) != GW_SESSION_TOKEN_LEN)
		goto out;
	if (sodium_base642bin(bin, sizeof(bin), token, GW_SESSION_TOKEN_LEN,
	                      NULL, &binlen, &end,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
	    binlen == sizeof(bin) && end == token + GW_SESSION_TOKEN_LEN)
		ok = 1;
	sodium_memzero(bin, sizeof(bin));
out:
	return ok;
}

/* Hex SHA-256 of the token text: what staff_sessions.token_hash holds. */
static void
token_hash_hex(const char *token, char out[HASH_HEX_BUF])
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(out, HASH_HEX_BUF, digest, sizeof(digest));
}

static void
token_new(struct session_op *op)
{
	unsigned char raw[TOKEN_BYTES];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(op->token, sizeof(op->token), raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	token_hash_hex(op->token, op->token_hash);
}

static void
login_on_create(void *arg, PGresult *res, const char *err)
{
	struct session_op *op = arg;
	struct gw_session_info info;

	if (op->in_call) {
		op->lost = 1;
		return;
	}
	if (op->st->closing || !result_ok(op, res, err)) {
		op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
	} else if (PQntuples(res) != 1) {
		/* Disabled or deleted while the password was checked. */
		gw_notice("staff.login_failed", "staff_id=%s ip=%s why=gone",
		          op->staff_id, op->ip ? op->ip : "-");
		op_finish(op, GW_SESSION_DENIED, NULL, 0);
	} else {
		memset(&info, 0, sizeof(info));
		info.staff_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		info.login = PQgetvalue(res, 0, 1);
		info.role = PQgetvalue(res, 0, 2);
		info.display_name = PQgetvalue(res, 0, 3);
		info.session_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
		info.token = op->token;
		gw_info("staff.login", "staff_id=%lld ip=%s", info.staff_id,
		        op->ip ? op->ip : "-");
		op_finish(op, GW_SESSION_OK, &info, 0);
	}
}

/* Worker thread: touches only op. */
static void
login_work(uv_work_t *w)
{
	struct session_op *op = w->data;

	op->verified = gw_staff_verify_password(
	        op->hash != NULL ? op->hash : dummy_hash, op->password);
	op_wipe_password(op);
}

static void
login_after_work(uv_work_t *w, int status)
{
	struct session_op *op = w->data;
	struct gw_session_store *st = op->st;
	const char *params[6];
	char abs_s[16];

	if (status != 0 || st->closing) {
		op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
	} else if (!op->verified || !op->user_ok) {
		gw_notice("staff.login_failed", "staff_id=%s ip=%s",
		          op->staff_id ? op->staff_id : "-",
		          op->ip ? op->ip : "-");
		op_finish(op, GW_SESSION_DENIED, NULL, 0);
	} else {
		token_new(op);
		snprintf(abs_s, sizeof(abs_s), "%d", st->absolute_s);
		params[0] = op->attempt_id;
		params[1] = op->token_hash;
		params[2] = abs_s;
		params[3] = op->ip;
		params[4] = op->user_agent;
		params[5] = op->staff_id;
		if (op_query(op, sql_login_create, 6, params,
		             login_on_create) != 0)
			op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
	}
}

static void
login_check_password(struct session_op *op)
{
	if (op->st->closing || uv_queue_work(op->st->loop, &op->work,
	                                     login_work, login_after_work) != 0)
		op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
}

/* The delay is over (or the store is being freed): on with the login. */
static void
login_delay_closed(uv_handle_t *h)
{
	struct session_op *op = h->data;
	struct gw_session_store *st = op->st;

	if (op->dprev != NULL)
		op->dprev->dnext = op->dnext;
	else
		st->delayed = op->dnext;
	if (op->dnext != NULL)
		op->dnext->dprev = op->dprev;
	op->dprev = op->dnext = NULL;
	st->logins++;
	login_check_password(op);
}

static void
login_delay_close(struct session_op *op)
{
	if (op->delay_closing)
		return;
	op->delay_closing = 1;
	uv_timer_stop(&op->delay);
	uv_close((uv_handle_t *)&op->delay, login_delay_closed);
}

static void
login_delay_over(uv_timer_t *t)
{
	login_delay_close(t->data);
}

/*
 * How long a login with failures recent failures (from anywhere, since
 * its last success) waits before its password is checked: nothing below
 * the threshold, then delay_ms doubling with each failure, at most
 * delay_max_ms.
 */
static uint64_t
login_delay_ms(const struct gw_session_throttle *t, long failures)
{
	uint64_t ms;
	long over;

	if (failures < t->login || t->delay_ms <= 0)
		return 0;
	over = failures - t->login;
	if (over > 20)
		over = 20;
	ms = (uint64_t)t->delay_ms << over;
	if (ms > (uint64_t)t->delay_max_ms)
		ms = (uint64_t)t->delay_max_ms;
	return ms;
}

static void
login_on_begin(void *arg, PGresult *res, const char *err)
{
	struct session_op *op = arg;
	struct gw_session_store *st = op->st;
	uint64_t delay;

	if (op->in_call) {
		op->lost = 1;
		return;
	}
	if (st->closing || !result_ok(op, res, err) || PQntuples(res) != 1) {
		op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
	} else if (PQgetisnull(res, 0, 0)) {
		int per_login = strcmp(PQgetvalue(res, 0, 5), "t") == 0;

		gw_warn("staff.login_throttled", "staff_id=%s ip=%s limit=%s",
		        PQgetisnull(res, 0, 1) ? "-" : PQgetvalue(res, 0, 1),
		        op->ip ? op->ip : "-",
		        per_login ? "login_address" : "address");
		gw_metrics_refusal(per_login ? GW_REFUSAL_LOGIN_ADDRESS
		                             : GW_REFUSAL_ADDRESS);
		op_finish(op, GW_SESSION_THROTTLED, NULL, 0);
	} else {
		op->attempt_id = xstrdup(PQgetvalue(res, 0, 0));
		if (!PQgetisnull(res, 0, 1)) {
			op->staff_id = xstrdup(PQgetvalue(res, 0, 1));
			op->hash = xstrdup(PQgetvalue(res, 0, 2));
			/* Disabled: still checked, so it takes as long. */
			op->user_ok = strcmp(PQgetvalue(res, 0, 3), "f") == 0;
		}
		delay = login_delay_ms(&st->throttle,
		                       strtol(PQgetvalue(res, 0, 4), NULL, 10));
		if (delay == 0) {
			login_check_password(op);
			return;
		}
		/* Unknown logins too: an attacker cannot tell them apart. */
		gw_notice("staff.login_delayed",
		          "staff_id=%s ip=%s delay_ms=%llu",
		          op->staff_id ? op->staff_id : "-",
		          op->ip ? op->ip : "-", (unsigned long long)delay);
		gw_metrics_refusal(GW_REFUSAL_LOGIN_DELAYED);
		st->logins--;
		op->dnext = st->delayed;
		if (st->delayed != NULL)
			st->delayed->dprev = op;
		st->delayed = op;
		uv_timer_init(st->loop, &op->delay);
		op->delay.data = op;
		uv_timer_start(&op->delay, login_delay_over, delay, 0);
	}
}

static void
check_on_result(void *arg, PGresult *res, const char *err)
{
	struct session_op *op = arg;
	struct gw_session_info info;

	if (op->in_call) {
		op->lost = 1;
		return;
	}
	if (op->st->closing || !result_ok(op, res, err)) {
		op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
	} else if (PQntuples(res) != 1) {
		op_finish(op, GW_SESSION_DENIED, NULL, 0);
	} else {
		memset(&info, 0, sizeof(info));
		info.staff_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		info.login = PQgetvalue(res, 0, 1);
		info.role = PQgetvalue(res, 0, 2);
		info.display_name = PQgetvalue(res, 0, 3);
		info.session_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
		info.access = PQgetvalue(res, 0, 5);
		op_finish(op, GW_SESSION_OK, &info, 0);
	}
}

static void
live_on_result(void *arg, PGresult *res, const char *err)
{
	struct session_op *op = arg;
	struct gw_session_state *states;
	int i, n;

	if (op->in_call) {
		op->lost = 1;
		return;
	}
	if (op->st->closing || !result_ok(op, res, err)) {
		op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
		return;
	}
	n = PQntuples(res);
	states = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*states));
	for (i = 0; i < n; i++) {
		states[i].session_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		states[i].live = strcmp(PQgetvalue(res, i, 1), "t") == 0;
		states[i].staff_live = strcmp(PQgetvalue(res, i, 2), "t") == 0;
		snprintf(states[i].access, sizeof(states[i].access), "%s",
		         PQgetvalue(res, i, 3));
	}
	if (op->live_cb != NULL)
		op->live_cb(op->arg, GW_SESSION_OK, NULL, states, (size_t)n);
	free(states);
	op_release(op);
}

static void
done_on_result(void *arg, PGresult *res, const char *err)
{
	struct session_op *op = arg;

	if (op->in_call) {
		op->lost = 1;
		return;
	}
	if (op->st->closing || !result_ok(op, res, err) ||
	    PQntuples(res) != 1) {
		op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
	} else {
		long long count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);

		gw_info("staff.sessions_ended", "request=%s count=%lld",
		        op->what, count);
		op_finish(op, GW_SESSION_OK, NULL, count);
	}
}

/* Starts op's first statement; on failure releases op without answering. */
static enum gw_session_status
op_start(struct session_op *op, const char *sql, int nparams,
         const char *const *values, db_result_cb cb)
{
	enum gw_session_status rc = GW_SESSION_OK;

	if (op_query(op, sql, nparams, values, cb) != 0) {
		op_release(op);
		rc = GW_SESSION_UNAVAILABLE;
	}
	return rc;
}

/* Whether the store may take a request now. */
static int
store_open(const struct gw_session_store *st)
{
	return !st->closing && db_ready(st->db);
}

struct gw_session_store *
gw_session_store_new(uv_loop_t *loop, struct db *db, int idle_timeout_s,
                     int absolute_timeout_s)
{
	struct gw_session_store *st = NULL;

	if (loop == NULL || db == NULL || idle_timeout_s <= 0 ||
	    absolute_timeout_s <= 0)
		goto out;
	st = xcalloc(1, sizeof(*st));
	st->loop = loop;
	st->db = db;
	st->idle_s = idle_timeout_s;
	st->absolute_s = absolute_timeout_s;
	st->throttle.window_s = GW_SESSION_THROTTLE_WINDOW_S;
	st->throttle.login_address = GW_SESSION_THROTTLE_LOGIN_ADDRESS;
	st->throttle.address = GW_SESSION_THROTTLE_IP;
	st->throttle.login = GW_SESSION_THROTTLE_LOGIN;
	st->throttle.delay_ms = GW_SESSION_THROTTLE_DELAY_MS;
	st->throttle.delay_max_ms = GW_SESSION_THROTTLE_DELAY_MAX_MS;
	/* Touching less often than idle/2 could let a used session lapse. */
	st->touch_s = idle_timeout_s / 2;
	if (st->touch_s > TOUCH_MAX_S)
		st->touch_s = TOUCH_MAX_S;
out:
	return st;
}

int
gw_session_set_throttle(struct gw_session_store *st,
                        const struct gw_session_throttle *t)
{
	if (t->window_s <= 0 || t->login_address <= 0 || t->address <= 0 ||
	    t->login <= 0 || t->delay_ms < 0 || t->delay_max_ms < t->delay_ms)
		return -1;
	st->throttle = *t;
	return 0;
}

void
gw_session_store_free(struct gw_session_store *st)
{
	struct session_op *op, *next;

	if (st == NULL)
		return;
	st->closing = 1;
	/* Delayed logins are answered UNAVAILABLE as their timers close. */
	for (op = st->delayed; op != NULL; op = next) {
		next = op->dnext;
		login_delay_close(op);
	}
	if (st->inflight == 0)
		free(st);
}

enum gw_session_status
gw_session_login(struct gw_session_store *st, const char *login,
                 const char *password, const char *ip, const char *user_agent,
                 gw_session_login_cb cb, void *arg)
{
	enum gw_session_status rc = GW_SESSION_DENIED;
	struct session_op *op;
	const char *params[5];
	char window[16], max_pair[16], max_ip[16];
	size_t login_len, password_len;

	if (!store_open(st) || st->logins >= GW_SESSION_LOGINS_MAX) {
		rc = GW_SESSION_UNAVAILABLE;
		goto out;
	}
	if (login == NULL || password == NULL)
		goto out;
	login_len = strnlen(login, LOGIN_MAX + 1);
	password_len = strnlen(password, GW_PASSWORD_MAX + 1);
	/* No such login can exist, and no such password is ever hashed. */
	if (login_len == 0 || login_len > LOGIN_MAX ||
	    !text_valid(login, login_len) || password_len > GW_PASSWORD_MAX)
		goto out;
	op = op_new(st, OP_LOGIN, "login", arg);
	op->info_cb = cb;
	op->login = xstrndup(login, login_len);
	op->password = xstrndup(password, password_len);
	op->password_len = password_len;
	op->ip = ip_copy(ip);
	op->user_agent = user_agent_copy(user_agent);
	snprintf(window, sizeof(window), "%d", st->throttle.window_s);
	snprintf(max_pair, sizeof(max_pair), "%d", st->throttle.login_address);
	snprintf(max_ip, sizeof(max_ip), "%d", st->throttle.address);
	params[0] = op->login;
	params[1] = op->ip;
	params[2] = window;
	params[3] = max_pair;
	params[4] = max_ip;
	rc = op_start(op, sql_login_begin, 5, params, login_on_begin);
out:
	return rc;
}

enum gw_session_status
gw_session_check(struct gw_session_store *st, const char *token,
                 gw_session_check_cb cb, void *arg)
{
	enum gw_session_status rc = GW_SESSION_UNAVAILABLE;
	struct session_op *op;
	const char *params[3];
	char idle[16], touch[16];

	if (!token_valid(token)) {
		rc = GW_SESSION_DENIED;
		goto out;
	}
	if (!store_open(st))
		goto out;
	op = op_new(st, OP_CHECK, "check", arg);
	op->info_cb = cb;
	token_hash_hex(token, op->token_hash);
	snprintf(idle, sizeof(idle), "%d", st->idle_s);
	snprintf(touch, sizeof(touch), "%d", st->touch_s);
	params[0] = op->token_hash;
	params[1] = idle;
	params[2] = touch;
	rc = op_start(op, sql_check, 3, params, check_on_result);
out:
	return rc;
}

static void
logout_on_result(void *arg, PGresult *res, const char *err)
{
	struct session_op *op = arg;
	struct gw_session_ended e;

	if (op->in_call) {
		op->lost = 1;
		return;
	}
	if (op->st->closing || !result_ok(op, res, err) ||
	    PQntuples(res) != 1) {
		op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
		return;
	}
	e.count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	e.staff_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	e.session_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	e.staff_live = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	gw_info("staff.sessions_ended", "request=logout count=%lld", e.count);
	if (op->out_cb != NULL)
		op->out_cb(op->arg, GW_SESSION_OK, NULL, &e);
	op_release(op);
}

enum gw_session_status
gw_session_logout(struct gw_session_store *st, const char *token,
                  gw_session_logout_cb cb, void *arg)
{
	enum gw_session_status rc = GW_SESSION_UNAVAILABLE;
	struct session_op *op;
	const char *params[2];
	char idle[16];

	if (!token_valid(token)) {
		rc = GW_SESSION_DENIED;
		goto out;
	}
	if (!store_open(st))
		goto out;
	op = op_new(st, OP_LOGOUT, "logout", arg);
	op->out_cb = cb;
	token_hash_hex(token, op->token_hash);
	snprintf(idle, sizeof(idle), "%d", st->idle_s);
	params[0] = op->token_hash;
	params[1] = idle;
	rc = op_start(op, sql_logout, 2, params, logout_on_result);
out:
	return rc;
}

enum gw_session_status
gw_session_revoke_staff(struct gw_session_store *st, long long staff_id,
                        gw_session_done_cb cb, void *arg)
{
	enum gw_session_status rc = GW_SESSION_UNAVAILABLE;
	struct session_op *op;
	const char *params[1];
	char id[24];

	if (staff_id <= 0) {
		rc = GW_SESSION_DENIED;
		goto out;
	}
	if (!store_open(st))
		goto out;
	op = op_new(st, OP_DONE, "revoke_staff", arg);
	op->done_cb = cb;
	snprintf(id, sizeof(id), "%lld", staff_id);
	params[0] = id;
	rc = op_start(op, sql_revoke_staff, 1, params, done_on_result);
out:
	return rc;
}

enum gw_session_status
gw_session_live(struct gw_session_store *st, const long long *ids, size_t n,
                gw_session_live_cb cb, void *arg)
{
	enum gw_session_status rc = GW_SESSION_UNAVAILABLE;
	struct session_op *op;
	const char *params[2];
	size_t i, len = 0, cap;
	char *array, idle[16];

	if (ids == NULL || n == 0 || n > GW_SESSION_LIVE_MAX) {
		rc = GW_SESSION_DENIED;
		goto out;
	}
	if (!store_open(st))
		goto out;
	/* An array literal: "{" then up to 20 digits and a comma per id. */
	cap = n * 22 + 3;
	array = xmalloc(cap);
	array[len++] = '{';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(array + len, cap - len, "%s%lld",
		                        i > 0 ? "," : "", ids[i]);
	array[len++] = '}';
	array[len] = '\0';
	op = op_new(st, OP_LIVE, "live", arg);
	op->live_cb = cb;
	snprintf(idle, sizeof(idle), "%d", st->idle_s);
	params[0] = array;
	params[1] = idle;
	rc = op_start(op, sql_live, 2, params, live_on_result);
	free(array);
out:
	return rc;
}

static void
touch_on_result(void *arg, PGresult *res, const char *err)
{
	struct session_op *op = arg;

	if (op->in_call) {
		op->lost = 1;
		return;
	}
	if (op->st->closing || !result_ok(op, res, err) || PQntuples(res) != 1)
		op_finish(op, GW_SESSION_UNAVAILABLE, NULL, 0);
	else
		op_finish(op, GW_SESSION_OK, NULL,
		          strtoll(PQgetvalue(res, 0, 0), NULL, 10));
}

enum gw_session_status
gw_session_touch(struct gw_session_store *st, long long session_id,
                 gw_session_done_cb cb, void *arg)
{
	enum gw_session_status rc = GW_SESSION_UNAVAILABLE;
	struct session_op *op;
	const char *params[2];
	char id[24], idle[16];

	if (session_id <= 0) {
		rc = GW_SESSION_DENIED;
		goto out;
	}
	if (!store_open(st))
		goto out;
	op = op_new(st, OP_DONE, "touch", arg);
	op->done_cb = cb;
	snprintf(id, sizeof(id), "%lld", session_id);
	snprintf(idle, sizeof(idle), "%d", st->idle_s);
	params[0] = id;
	params[1] = idle;
	rc = op_start(op, sql_touch, 2, params, touch_on_result);
out:
	return rc;
}

int
gw_session_idle_timeout(const struct gw_session_store *st)
{
	return st->idle_s;
}

enum gw_session_status
gw_session_prune(struct gw_session_store *st, int keep_s, gw_session_done_cb cb,
                 void *arg)
{
	enum gw_session_status rc = GW_SESSION_UNAVAILABLE;
	struct session_op *op;
	const char *params[2];
	char keep[16], idle[16];

	if (!store_open(st))
		goto out;
	/* Throttling needs the attempts of the whole window. */
	if (keep_s < st->throttle.window_s)
		keep_s = st->throttle.window_s;
	op = op_new(st, OP_DONE, "prune", arg);
	op->done_cb = cb;
	snprintf(keep, sizeof(keep), "%d", keep_s);
	snprintf(idle, sizeof(idle), "%d", st->idle_s);
	params[0] = keep;
	params[1] = idle;
	rc = op_start(op, sql_prune, 2, params, done_on_result);
out:
	return rc;
}

const char *
gw_session_status_text(enum gw_session_status status, int is_login)
{
	const char *text = "unknown error";

	switch (status) {
	case GW_SESSION_OK:
		text = "";
		break;
	case GW_SESSION_DENIED:
		text = is_login ? "invalid login or password"
		                : "invalid or expired session";
		break;
	case GW_SESSION_THROTTLED:
		text = "too many attempts";
		break;
	case GW_SESSION_UNAVAILABLE:
		text = "service unavailable";
		break;
	}
	return text;
}
