/*
 * staff.h: staff accounts from the command line (`switchboard user add`,
 * `passwd`, `disable`, `enable`, `list`), and the rules and statements the
 * admin API (api_staff.c) shares with it: roles, the login and password
 * policy, Argon2id hashing, the statement tail that revokes sessions and
 * audits. Passwords are hashed with Argon2id (libsodium, m=19 MiB, t=2,
 * p=1 or stronger) in PHC string format. The gw_staff_add/passwd/
 * set_disabled/list functions block (the CLI's main thread); hashing is
 * slow (tens of ms): the daemon calls it on a worker thread only.
 */
#ifndef GW_STAFF_H
#define GW_STAFF_H

#include <stddef.h>
#include <stdio.h>

#define GW_PASSWORD_MAX 1024
/* Characters (not bytes) a chosen password needs at least. */
#define GW_PASSWORD_MIN 12
/* staff_users.login and display_name limits. */
#define GW_LOGIN_MAX 128
#define GW_NAME_MAX  200

/*
 * The tail of one statement that changes a staff user (the caller's CTE
 * "u" yields the changed rows' id and login), revokes the user's live
 * sessions when REVOKE is true, appends the audit_log row and answers one
 * row: the id, the number of sessions revoked. All or nothing. The
 * arguments are SQL text: parameter references or literals, for REVOKE
 * (bool), ACTION (text), ACTOR_ID (bigint or NULL), ACTOR (text) and IP
 * (inet or NULL). Open desk sockets of a revoked session are closed by
 * the daemons within seconds (router/route_ws.c).
 */
#define GW_STAFF_SQL_TAIL(REVOKE, ACTION, ACTOR_ID, ACTOR, IP)                 \
	" s AS (UPDATE staff_sessions x SET revoked_at = now() FROM u"         \
	"  WHERE " REVOKE "::bool AND x.staff_id = u.id"                       \
	"  AND x.revoked_at IS NULL RETURNING 1),"                             \
	" n AS (SELECT count(*) AS c FROM s),"                                 \
	" a AS (INSERT INTO audit_log (actor_staff_id, actor, action,"         \
	"  object_kind, object_id, detail, ip) SELECT " ACTOR_ID               \
	"::bigint, " ACTOR ", " ACTION ", 'staff', u.id::text,"                \
	"  jsonb_build_object('login', u.login, 'sessions_revoked', n.c), " IP \
	"::inet FROM u, n)"                                                    \
	" SELECT u.id, n.c FROM u, n"

/* The SQLSTATE of the trigger refusing to lose the last enabled admin. */
#define GW_STAFF_LAST_ADMIN_STATE "SB001"

/* 1 if role is advisor, supervisor, feedback_officer or admin. */
int gw_staff_role_valid(const char *role);
/*
 * NULL when login may be one: 1 to GW_LOGIN_MAX bytes of letters, digits
 * and . _ @ -; else why not (a static text).
 */
const char *gw_staff_login_problem(const char *login);
/* NULL when name may be a display name (1-200 bytes, no controls). */
const char *gw_staff_name_problem(const char *name);
/*
 * NULL when password meets the policy: not empty, at least
 * GW_PASSWORD_MIN characters, at most GW_PASSWORD_MAX bytes, not the
 * login (login may be NULL); else why not (a static text).
 */
const char *gw_staff_password_problem(const char *password, const char *login);
/* Fills out (>= 21 bytes) with a random 20-character password. */
void gw_staff_random_password(char *out, size_t outlen);
/* Argon2id PHC string of password into out (crypto_pwhash_STRBYTES). */
int gw_staff_hash_password(const char *password, char *out, size_t outlen);
/* 1 if password matches the stored PHC string. */
int gw_staff_verify_password(const char *hash, const char *password);
/*
 * Inserts a staff user. Returns 0, or -1 with err filled (duplicate login,
 * bad role, database unreachable).
 */
int gw_staff_add(const char *conninfo, const char *login, const char *name,
                 const char *role, const char *password, char *err,
                 size_t errlen);
/*
 * Sets a new password for login, revokes every live session of the user
 * and writes audit_log (actor 'cli', staff.password_reset), in one
 * statement. *revoked is the number of sessions ended. Returns 0, or -1
 * with err filled (no such login, password too long, database).
 */
int gw_staff_passwd(const char *conninfo, const char *login,
                    const char *password, long long *revoked, char *err,
                    size_t errlen);
/*
 * Disables (disabled 1: sessions revoked too, staff.disable) or enables
 * (staff.enable) login, with its audit_log row, in one statement.
 */
int gw_staff_set_disabled(const char *conninfo, const char *login, int disabled,
                          long long *revoked, char *err, size_t errlen);
/* Writes "login<TAB>name<TAB>role<TAB>enabled|disabled" lines to f. */
int gw_staff_list(const char *conninfo, FILE *f, char *err, size_t errlen);

#endif
