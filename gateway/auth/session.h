/*
 * session.h: staff logins and server-side sessions (ASVS 5.0 §7).
 *
 * A login looks the user up, refuses it before any hashing when the login
 * or the client address has too many recent failures, checks the password
 * with Argon2id on a libuv worker thread, and creates a session: a random
 * 256-bit token, base64url without padding (43 characters), of which only
 * the SHA-256 is stored. A session ends after idle_timeout_s without use,
 * absolute_timeout_s after login, at logout, or when every session of the
 * user is revoked.
 *
 * Loop thread only. Every request is answered through its callback exactly
 * once, never from inside the call that started it. The store passes arg
 * back untouched and keeps nothing of the caller: pass an id (a connection
 * or request number) that the callback looks up, not a pointer to an
 * object that may be gone by then.
 */
#ifndef GW_SESSION_H
#define GW_SESSION_H

#include <stddef.h>

#include <uv.h>

#include "db.h"

/* Characters of a token: base64url of 32 random bytes, no padding. */
#define GW_SESSION_TOKEN_LEN 43

/*
 * Sign-in throttling (docs/operations.md, "Staff sessions"), defaults of
 * struct gw_session_throttle. Failed logins are counted over a sliding
 * window. A client address with too many failures for one login since
 * that login last succeeded from it, or too many failures for any login,
 * is refused GW_SESSION_THROTTLED without a password check: an attacker
 * locks out only their own addresses. A login with too many failures
 * from anywhere since its last success is not refused but slowed: every
 * attempt on it waits before its password is checked, the right one from
 * a clean address included, so guesses from many addresses cost time and
 * nobody is locked out.
 */
#define GW_SESSION_THROTTLE_WINDOW_S 900
/* Failures of one login from one address: that address is refused. */
#define GW_SESSION_THROTTLE_LOGIN_ADDRESS 5
/* Failures from one address, any login: that address is refused. */
#define GW_SESSION_THROTTLE_IP 20
/* Failures of one login, any address: its attempts are delayed. */
#define GW_SESSION_THROTTLE_LOGIN 5
/* The first delay (ms), doubled for each further failure, up to the max. */
#define GW_SESSION_THROTTLE_DELAY_MS     1000
#define GW_SESSION_THROTTLE_DELAY_MAX_MS 10000

struct gw_session_throttle {
	int window_s;
	int login_address; /* GW_SESSION_THROTTLE_LOGIN_ADDRESS */
	int address;       /* GW_SESSION_THROTTLE_IP */
	int login;         /* GW_SESSION_THROTTLE_LOGIN */
	int delay_ms;
	int delay_max_ms;
};

/*
 * Logins between their call and their answer, per store: each may hold a
 * worker thread and 19 MiB for Argon2id. Beyond it logins are refused
 * GW_SESSION_UNAVAILABLE at once.
 */
#define GW_SESSION_LOGINS_MAX 32
/* Hex digits of an access digest (gw_session_info.access). */
#define GW_SESSION_ACCESS_LEN 32

/* Session ids one gw_session_live call may ask about. */
#define GW_SESSION_LIVE_MAX 100000

struct gw_session_store;

enum gw_session_status {
	GW_SESSION_OK = 0,
	/* Wrong login or password, disabled user, bad or ended session. */
	GW_SESSION_DENIED,
	/*
	 * Too many failed logins from this client address: refused without
	 * checking the password.
	 */
	GW_SESSION_THROTTLED,
	/* Database unreachable or failing, or the store is being freed. */
	GW_SESSION_UNAVAILABLE,
};

/* What a successful login or check knows; strings valid during the call. */
struct gw_session_info {
	long long staff_id;
	/* staff_sessions.id: what gw_session_live is asked about. */
	long long session_id;
	const char *login;
	const char *display_name;
	const char *role;
	/*
	 * Check only (NULL at login): a digest of the role and the queue
	 * memberships, GW_SESSION_ACCESS_LEN hex digits; it changes when they
	 * do.
	 */
	const char *access;
	/* Login only: the new token to hand to the client; NULL for a check. */
	const char *token;
};

/*
 * status GW_SESSION_OK: info is set, err is NULL. Otherwise info is NULL
 * and err is a static text fit to show the user: "invalid login or
 * password" for every failed login, whether the user exists or not.
 */
typedef void (*gw_session_login_cb)(void *arg, enum gw_session_status status,
                                    const char *err,
                                    const struct gw_session_info *info);
typedef void (*gw_session_check_cb)(void *arg, enum gw_session_status status,
                                    const char *err,
                                    const struct gw_session_info *info);
/* What gw_session_live tells of one session asked about. */
struct gw_session_state {
	long long session_id;
	/*
	 * Not revoked, not idle, not past its absolute timeout, user not
	 * disabled.
	 */
	int live;
	/* The user has some live session (this one or another). */
	int staff_live;
	/* The user's access digest now (gw_session_info.access). */
	char access[GW_SESSION_ACCESS_LEN + 1];
};
/*
 * gw_session_live: status GW_SESSION_OK with one state per session asked
 * about that still exists, in no order (a session not among them was
 * deleted: it ended long ago); states valid during the call, n may be 0.
 * Otherwise states is NULL and n is 0.
 */
typedef void (*gw_session_live_cb)(void *arg, enum gw_session_status status,
                                   const char *err,
                                   const struct gw_session_state *states,
                                   size_t n);
/* Logout and revocation: count is the number of sessions ended. */
typedef void (*gw_session_done_cb)(void *arg, enum gw_session_status status,
                                   const char *err, long long count);
/* What a logout ended (all 0 when the session had ended already). */
struct gw_session_ended {
	long long count;
	long long staff_id;
	long long session_id;
	/* The user still has another live session. */
	int staff_live;
};
/* status GW_SESSION_OK: ended is set; otherwise it is NULL. */
typedef void (*gw_session_logout_cb)(void *arg, enum gw_session_status status,
                                     const char *err,
                                     const struct gw_session_ended *ended);

/*
 * A store on loop using db (which must outlive the store's use of it:
 * free the store before or in the same loop turn as db_close). Timeouts
 * are in seconds and must be positive. Returns NULL for bad timeouts.
 */
struct gw_session_store *gw_session_store_new(uv_loop_t *loop, struct db *db,
                                              int idle_timeout_s,
                                              int absolute_timeout_s);
/*
 * Replaces the throttling thresholds (copied). Counts must be positive,
 * delays not negative, delay_max_ms at least delay_ms; -1 otherwise (and
 * nothing changes).
 */
int gw_session_set_throttle(struct gw_session_store *st,
                            const struct gw_session_throttle *t);
/*
 * Frees the store once its requests are over. Requests still in flight are
 * answered GW_SESSION_UNAVAILABLE and send nothing more to the database;
 * the loop must run until they are (uv_run then returns and uv_loop_close
 * succeeds). May be called from a callback of the store. NULL is a no-op.
 */
void gw_session_store_free(struct gw_session_store *st);

/*
 * Starts a login. login, password, ip (textual IPv4 or IPv6 address, or
 * NULL) and user_agent (or NULL) are copied; the copy of the password is
 * wiped once checked. A login under attack (see above) is answered only
 * after its delay; such a wait holds no worker and is not counted in
 * GW_SESSION_LOGINS_MAX. Returns GW_SESSION_OK when cb will be called, or the
 * status refusing it now, without a callback: GW_SESSION_DENIED for an
 * empty or over-long login or a password over GW_PASSWORD_MAX bytes,
 * GW_SESSION_UNAVAILABLE when the database is not ready, the store is
 * being freed or GW_SESSION_LOGINS_MAX logins are in flight.
 */
enum gw_session_status gw_session_login(struct gw_session_store *st,
                                        const char *login, const char *password,
                                        const char *ip, const char *user_agent,
                                        gw_session_login_cb cb, void *arg);
/*
 * Checks a token and refreshes its idle timer (in the database at most
 * once a minute). Returns as gw_session_login; a token that cannot be one
 * of ours (length, alphabet) is refused GW_SESSION_DENIED without a query.
 */
enum gw_session_status gw_session_check(struct gw_session_store *st,
                                        const char *token,
                                        gw_session_check_cb cb, void *arg);
/*
 * Revokes the session of token (count 0 if it had ended already), and
 * tells whose it was, so that its desks can be closed everywhere
 * (gateway/auth/revoke.h).
 */
enum gw_session_status gw_session_logout(struct gw_session_store *st,
                                         const char *token,
                                         gw_session_logout_cb cb, void *arg);
/* Revokes every live session of a staff user (disabled, password reset). */
enum gw_session_status gw_session_revoke_staff(struct gw_session_store *st,
                                               long long staff_id,
                                               gw_session_done_cb cb,
                                               void *arg);
/*
 * Whether the n sessions (staff_sessions.id, from gw_session_info) are
 * still live, and whether their users still have a live session: not
 * revoked (logout, password reset, disabling), not past
 * their absolute timeout, and their user not disabled. The idle timeout is
 * not applied: a socket opened on a session is not a request that uses it.
 * One statement whatever n is (1 to GW_SESSION_LIVE_MAX); ids is copied.
 * GW_SESSION_DENIED, without a callback, for n out of range.
 */
enum gw_session_status gw_session_live(struct gw_session_store *st,
                                       const long long *ids, size_t n,
                                       gw_session_live_cb cb, void *arg);
/*
 * Activity of a session's holder outside REST (an open desk socket):
 * last_seen_at = now, unless the session has already ended (idle,
 * revoked, absolute timeout). count is 1 when touched, 0 when it had
 * ended. cb may be NULL.
 */
enum gw_session_status gw_session_touch(struct gw_session_store *st,
                                        long long session_id,
                                        gw_session_done_cb cb, void *arg);
/* The inactivity timeout in seconds. */
int gw_session_idle_timeout(const struct gw_session_store *st);
/*
 * Deletes sessions that ended, and login attempts made, more than keep_s
 * seconds ago (at least the throttling window). count is the rows deleted.
 */
enum gw_session_status gw_session_prune(struct gw_session_store *st, int keep_s,
                                        gw_session_done_cb cb, void *arg);
/* The error text of a status ("" for GW_SESSION_OK). */
const char *gw_session_status_text(enum gw_session_status status, int is_login);

#endif
