/*
 * test_session.c: staff logins and sessions against a real PostgreSQL with
 * the real migrations: tokens and their stored hashes, the one error text
 * for every failed login, disabled users, throttling (a failing address
 * refused for a login and for all, a login under attack slowed but never
 * locked: the right password from a clean address gets in, also after
 * guesses from 20 addresses; also for a burst sent at once), logout and
 * revocation, idle and absolute timeouts, malformed tokens, refusals without a
 * callback, a store freed (or a database closed) while requests are in flight,
 * which sessions are still live (desk sockets), and the CLI's password reset,
 * disabling and enabling (sessions revoked, audit rows).
 * Loop thread of each test plus libuv's workers for Argon2id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "db.h"
#include "migrate.h"
#include "session.h"
#include "staff.h"
#include "support.h"

#define ALICE_PW "correct horse battery staple"
#define BOB_PW   "Tr0ub4dor&3 \xc3\xa9"
#define CAROL_PW "carol's password"
#define DAVE_PW  "dave-pw-1234"
#define WAIT_MS  30000
/* Throttling delays in these tests (ms): short, and measurable. */
#define DELAY_MS     50
#define DELAY_MAX_MS 200

static struct sb_pg pg;
static long long alice_id, bob_id, dave_id;

static long value(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int exec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static long
value(const char *fmt, ...)
{
	char sql[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return sb_pg_value(&pg, sql);
}

static int
exec(const char *fmt, ...)
{
	char sql[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return sb_pg_exec(&pg, sql);
}

static int
add_user(const char *login, const char *role, const char *pw)
{
	char err[256];
	int rc = gw_staff_add(pg.conninfo, login, login, role, pw, err,
	                      sizeof(err));

	if (rc != 0)
		fprintf(stderr, "gw_staff_add %s: %s\n", login, err);
	return rc;
}

static int
group_setup(void **st)
{
	char err[256];

	(void)st;
	if (sodium_init() < 0 || sb_pg_setup(&pg) != 0)
		return -1;
	if (db_migrate_run(pg.conninfo, err, sizeof(err)) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return -1;
	}
	if (add_user("alice", "advisor", ALICE_PW) != 0 ||
	    add_user("bob", "supervisor", BOB_PW) != 0 ||
	    add_user("carol", "advisor", CAROL_PW) != 0 ||
	    add_user("dave", "admin", DAVE_PW) != 0 ||
	    /* Not the last admin: disabling dave is allowed (0010). */
	    add_user("erin", "admin", "erin's passphrase") != 0)
		return -1;
	if (sb_pg_exec(&pg, "UPDATE staff_users SET disabled = true"
	                    " WHERE login = 'carol'") != 0)
		return -1;
	alice_id = value("SELECT id FROM staff_users WHERE login = 'alice'");
	bob_id = value("SELECT id FROM staff_users WHERE login = 'bob'");
	dave_id = value("SELECT id FROM staff_users WHERE login = 'dave'");
	return alice_id > 0 && bob_id > 0 && dave_id > 0 ? 0 : -1;
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	return 0;
}

static int
is_ready(void *arg)
{
	return db_ready(arg);
}

static const struct gw_session_throttle test_throttle = {
        GW_SESSION_THROTTLE_WINDOW_S,
        GW_SESSION_THROTTLE_LOGIN_ADDRESS,
        GW_SESSION_THROTTLE_IP,
        GW_SESSION_THROTTLE_LOGIN,
        DELAY_MS,
        DELAY_MAX_MS,
};

struct fixture {
	uv_loop_t loop;
	struct db *db;
	struct gw_session_store *st;
};

static int no_db_pending(void *arg);

static void
fixture_open(struct fixture *f, int idle_s, int absolute_s)
{
	struct db_options o;

	memset(&o, 0, sizeof(o));
	o.conninfo = pg.conninfo;
	o.connect_timeout_ms = 2000;
	o.query_timeout_ms = 20000;
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 300;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->db = db_new(&f->loop, &o);
	db_start(f->db);
	assert_true(sb_run_until(&f->loop, is_ready, f->db, 5000));
	/* The connection's own first statements (SET jit) answered. */
	assert_true(sb_run_until(&f->loop, no_db_pending, f->db, 5000));
	f->st = gw_session_store_new(&f->loop, f->db, idle_s, absolute_s);
	assert_non_null(f->st);
	assert_int_equal(gw_session_set_throttle(f->st, &test_throttle), 0);
	assert_int_equal(
	        sb_pg_exec(&pg, "TRUNCATE staff_sessions, login_attempts"), 0);
}

static void
fixture_close(struct fixture *f)
{
	gw_session_store_free(f->st);
	db_close(f->db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&f->loop), 0);
}

struct reply {
	int done;
	int calls;
	enum gw_session_status status;
	char err[64];
	long long staff_id;
	long long session_id;
	long long count;
	int staff_live;
	struct gw_session_state states[8];
	size_t nstates;
	int has_info;
	char token[64];
	char login[64];
	char role[32];
	char name[64];
	char access[GW_SESSION_ACCESS_LEN + 1];
};

static void
on_info(void *arg, enum gw_session_status status, const char *err,
        const struct gw_session_info *info)
{
	struct reply *r = arg;

	r->done = 1;
	r->calls++;
	r->status = status;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	if (info != NULL) {
		r->has_info = 1;
		r->staff_id = info->staff_id;
		r->session_id = info->session_id;
		snprintf(r->token, sizeof(r->token), "%s",
		         info->token ? info->token : "");
		snprintf(r->login, sizeof(r->login), "%s", info->login);
		snprintf(r->role, sizeof(r->role), "%s", info->role);
		snprintf(r->name, sizeof(r->name), "%s", info->display_name);
		snprintf(r->access, sizeof(r->access), "%s",
		         info->access ? info->access : "");
	}
	if (status == GW_SESSION_OK)
		assert_null(err);
	else
		assert_null(info);
}

static void
on_done(void *arg, enum gw_session_status status, const char *err,
        long long count)
{
	struct reply *r = arg;

	r->done = 1;
	r->calls++;
	r->status = status;
	r->count = count;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
}

static void
on_live(void *arg, enum gw_session_status status, const char *err,
        const struct gw_session_state *states, size_t n)
{
	struct reply *r = arg;
	size_t i;

	r->done = 1;
	r->calls++;
	r->status = status;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		r->states[i] = states[i];
	r->nstates = n;
	if (status != GW_SESSION_OK)
		assert_null(states);
}

static int
reply_done(void *arg)
{
	return ((struct reply *)arg)->done;
}

static void
wait_reply(struct fixture *f, struct reply *r)
{
	assert_true(sb_run_until(&f->loop, reply_done, r, WAIT_MS));
	assert_int_equal(r->calls, 1);
}

static void
do_login(struct fixture *f, const char *login, const char *pw, const char *ip,
         struct reply *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(gw_session_login(f->st, login, pw, ip, "TestAgent/1",
	                                  on_info, r),
	                 GW_SESSION_OK);
	/* Never answered from inside the call. */
	assert_int_equal(r->done, 0);
	wait_reply(f, r);
}

static void
do_check(struct fixture *f, const char *token, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(gw_session_check(f->st, token, on_info, r),
	                 GW_SESSION_OK);
	assert_int_equal(r->done, 0);
	wait_reply(f, r);
}

static void
on_logout(void *arg, enum gw_session_status status, const char *err,
          const struct gw_session_ended *e)
{
	struct reply *r = arg;

	r->done = 1;
	r->calls++;
	r->status = status;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	if (e != NULL) {
		r->count = e->count;
		r->staff_id = e->staff_id;
		r->session_id = e->session_id;
		r->staff_live = e->staff_live;
	}
	if (status != GW_SESSION_OK)
		assert_null(e);
}

static void
do_logout(struct fixture *f, const char *token, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(gw_session_logout(f->st, token, on_logout, r),
	                 GW_SESSION_OK);
	wait_reply(f, r);
}

static void
login_ok(struct fixture *f, const char *login, const char *pw, const char *ip,
         struct reply *r)
{
	do_login(f, login, pw, ip, r);
	assert_int_equal(r->status, GW_SESSION_OK);
	assert_true(r->has_info);
}

static void
expect_denied(const struct reply *r, const char *text)
{
	assert_int_equal(r->status, GW_SESSION_DENIED);
	assert_string_equal(r->err, text);
	assert_int_equal(r->has_info, 0);
}

static void
check_denied(struct fixture *f, const char *token)
{
	struct reply r;

	do_check(f, token, &r);
	expect_denied(&r, "invalid or expired session");
}

static void
test_login_and_check(void **state)
{
	struct fixture f;
	struct reply r, c;
	size_t i;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.10", &r);
	assert_int_equal(strlen(r.token), GW_SESSION_TOKEN_LEN);
	for (i = 0; i < strlen(r.token); i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                       "abcdefghijklmnopqrstuvwxyz0123456789-_",
		                       r.token[i]));
	assert_int_equal(r.staff_id, alice_id);
	assert_string_equal(r.login, "alice");
	assert_string_equal(r.role, "advisor");
	assert_string_equal(r.name, "alice");

	do_check(&f, r.token, &c);
	assert_int_equal(c.status, GW_SESSION_OK);
	assert_int_equal(c.staff_id, alice_id);
	assert_string_equal(c.role, "advisor");
	assert_string_equal(c.login, "alice");
	assert_string_equal(c.name, "alice");
	assert_string_equal(c.token, "");

	/* A UTF-8 password, a supervisor, an IPv6 client. */
	login_ok(&f, "bob", BOB_PW, "2001:db8::7", &c);
	assert_int_equal(c.staff_id, bob_id);
	assert_string_equal(c.role, "supervisor");
	assert_string_not_equal(c.token, r.token);
	assert_int_equal(value("SELECT count(*) FROM login_attempts WHERE ok"),
	                 2);
	fixture_close(&f);
}

static void
test_token_stored_hashed(void **state)
{
	struct fixture f;
	struct reply r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.11", &r);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions"), 1);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions WHERE"
	                       " token_hash = sha256(convert_to('%s', 'UTF8'))"
	                       " AND staff_id = %lld",
	                       r.token, alice_id),
	                 1);
	/* The token itself is nowhere in the row. */
	assert_int_equal(
	        value("SELECT count(*) FROM staff_sessions s WHERE"
	              " position(convert_to('%s', 'UTF8') IN s.token_hash) > 0"
	              " OR strpos(s::text, '%s') > 0",
	              r.token, r.token),
	        0);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions WHERE"
	                       " ip = '192.0.2.11' AND user_agent = "
	                       "'TestAgent/1' AND revoked_at IS NULL"),
	                 1);
	/* Absolute expiry is fixed at login. */
	assert_int_equal(value("SELECT extract(epoch FROM expires_at - "
	                       "created_at)::bigint FROM staff_sessions"),
	                 8 * 3600);
	fixture_close(&f);
}

static void
test_wrong_password(void **state)
{
	struct fixture f;
	struct reply r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	do_login(&f, "alice", "correct horse battery stapler", "192.0.2.12",
	         &r);
	expect_denied(&r, "invalid login or password");
	do_login(&f, "alice", "", "192.0.2.12", &r);
	expect_denied(&r, "invalid login or password");
	assert_int_equal(value("SELECT count(*) FROM login_attempts WHERE"
	                       " login = 'alice' AND NOT ok"),
	                 2);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions"), 0);
	fixture_close(&f);
}

static void
test_unknown_user(void **state)
{
	struct fixture f;
	struct reply r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	do_login(&f, "mallory", ALICE_PW, "192.0.2.13", &r);
	expect_denied(&r, "invalid login or password");
	/* Case matters: logins are exact. */
	do_login(&f, "Alice", ALICE_PW, "192.0.2.13", &r);
	expect_denied(&r, "invalid login or password");
	/* Recorded like any failure, so throttling cannot tell either. */
	assert_int_equal(value("SELECT count(*) FROM login_attempts WHERE"
	                       " login IN ('mallory', 'Alice') AND NOT ok"),
	                 2);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions"), 0);
	fixture_close(&f);
}

static void
test_disabled_user(void **state)
{
	struct fixture f;
	struct reply r, s;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	/* The right password of a disabled user: the same answer. */
	do_login(&f, "carol", CAROL_PW, "192.0.2.14", &r);
	expect_denied(&r, "invalid login or password");
	assert_int_equal(value("SELECT count(*) FROM staff_sessions"), 0);

	/* Disabling a user ends the sessions it has. */
	login_ok(&f, "bob", BOB_PW, "192.0.2.14", &s);
	assert_int_equal(exec("UPDATE staff_users SET disabled = true"
	                      " WHERE id = %lld",
	                      bob_id),
	                 0);
	check_denied(&f, s.token);
	assert_int_equal(exec("UPDATE staff_users SET disabled = false"
	                      " WHERE id = %lld",
	                      bob_id),
	                 0);
	do_check(&f, s.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	fixture_close(&f);
}

/* Milliseconds a login took, from its call to its answer. */
static uint64_t
timed_login(struct fixture *f, const char *login, const char *pw,
            const char *ip, struct reply *r)
{
	uint64_t t0 = uv_hrtime();

	do_login(f, login, pw, ip, r);
	return (uv_hrtime() - t0) / 1000000;
}

static void
test_throttle_login(void **state)
{
	struct fixture f;
	struct reply r;
	int i;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	for (i = 0; i < GW_SESSION_THROTTLE_LOGIN_ADDRESS; i++) {
		do_login(&f, "dave", "wrong", "192.0.2.15", &r);
		expect_denied(&r, "invalid login or password");
	}
	/* The sixth attempt from there, right password: refused unchecked. */
	do_login(&f, "dave", DAVE_PW, "192.0.2.15", &r);
	assert_int_equal(r.status, GW_SESSION_THROTTLED);
	assert_string_equal(r.err, "too many attempts");
	/* ...and the refusals are not counted as failures. */
	assert_int_equal(value("SELECT count(*) FROM login_attempts WHERE"
	                       " login = 'dave'"),
	                 GW_SESSION_THROTTLE_LOGIN_ADDRESS);
	/*
	 * Not a lock-out: the right password from an address that has not
	 * been failing is let in, only later (the login is under attack).
	 */
	assert_true(timed_login(&f, "dave", DAVE_PW, "198.51.100.1", &r) >=
	            DELAY_MS);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_int_equal(r.staff_id, dave_id);
	/* That success does not let the failing address in again. */
	do_login(&f, "dave", DAVE_PW, "192.0.2.15", &r);
	assert_int_equal(r.status, GW_SESSION_THROTTLED);
	/* Other logins from the same address are fine, and not delayed. */
	login_ok(&f, "alice", ALICE_PW, "192.0.2.15", &r);
	/* Once the failures leave the window, the address is let in. */
	assert_int_equal(exec("UPDATE login_attempts SET at = now() - "
	                      "interval '%d seconds' WHERE login = 'dave'",
	                      GW_SESSION_THROTTLE_WINDOW_S + 1),
	                 0);
	login_ok(&f, "dave", DAVE_PW, "192.0.2.15", &r);
	assert_int_equal(r.staff_id, dave_id);
	fixture_close(&f);
}

/*
 * Issue 13 item 15: 20 wrong guesses from 20 addresses locked out a 21st
 * address's right password. Now every guess is checked (none of those
 * addresses failed twice), later and later, and the 21st gets in.
 */
static void
test_throttle_rotating_addresses(void **state)
{
	struct fixture f;
	struct reply r;
	struct gw_session_throttle slow = test_throttle;
	char ip[32];
	uint64_t ms;
	int i;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	for (i = 1; i <= 20; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%d", i);
		ms = timed_login(&f, "dave", "guess", ip, &r);
		expect_denied(&r, "invalid login or password");
		/* From the threshold on, each guess waits before its check. */
		if (i > GW_SESSION_THROTTLE_LOGIN)
			assert_true(ms >= DELAY_MS);
		if (i > GW_SESSION_THROTTLE_LOGIN + 3)
			assert_true(ms >= DELAY_MAX_MS);
	}
	assert_true(timed_login(&f, "dave", DAVE_PW, "203.0.113.21", &r) >=
	            DELAY_MAX_MS);
	assert_int_equal(r.status, GW_SESSION_OK);
	/* The address recorded is the client's own. */
	assert_int_equal(value("SELECT count(*) FROM staff_sessions WHERE"
	                       " ip = '203.0.113.21'"),
	                 1);
	assert_int_equal(value("SELECT count(*) FROM login_attempts WHERE ok"
	                       " AND ip = '203.0.113.21'"),
	                 1);
	/*
	 * The success ends the delay: with a minute's delay now, the next
	 * sign-in is still answered within wait_reply's deadline.
	 */
	slow.delay_ms = slow.delay_max_ms = 60000;
	assert_int_equal(gw_session_set_throttle(f.st, &slow), 0);
	login_ok(&f, "dave", DAVE_PW, "203.0.113.22", &r);
	fixture_close(&f);
}

/* A store freed while logins wait their delay answers them at once. */
static void
test_throttle_delay_freed(void **state)
{
	struct fixture f;
	struct reply r[3], a;
	struct gw_session_throttle slow = test_throttle;
	int i;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	slow.delay_ms = slow.delay_max_ms = 60000;
	assert_int_equal(gw_session_set_throttle(f.st, &slow), 0);
	assert_int_equal(exec("INSERT INTO login_attempts (login, ip, ok)"
	                      " SELECT 'dave', ('198.51.100.' || g)::inet,"
	                      " false"
	                      " FROM generate_series(1, %d) g",
	                      GW_SESSION_THROTTLE_LOGIN),
	                 0);
	memset(r, 0, sizeof(r));
	for (i = 0; i < 3; i++)
		assert_int_equal(gw_session_login(f.st, "dave", DAVE_PW,
		                                  "192.0.2.40", NULL, on_info,
		                                  &r[i]),
		                 GW_SESSION_OK);
	/* Their statements answered: all three are waiting now. */
	assert_true(sb_run_until(&f.loop, no_db_pending, f.db, WAIT_MS));
	sb_run_for(&f.loop, 100);
	for (i = 0; i < 3; i++)
		assert_int_equal(r[i].calls, 0);
	/* Another login is not held up by them. */
	login_ok(&f, "alice", ALICE_PW, "192.0.2.40", &a);
	gw_session_store_free(f.st);
	db_close(f.db, NULL, NULL);
	/* Would take a minute if the timers were left running. */
	assert_int_equal(sb_loop_finish(&f.loop), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, GW_SESSION_UNAVAILABLE);
	}
}

static void
test_throttle_settings(void **state)
{
	struct fixture f;
	struct gw_session_throttle t = test_throttle;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	t.login_address = 0;
	assert_int_equal(gw_session_set_throttle(f.st, &t), -1);
	t = test_throttle;
	t.delay_max_ms = t.delay_ms - 1;
	assert_int_equal(gw_session_set_throttle(f.st, &t), -1);
	t = test_throttle;
	t.window_s = 0;
	assert_int_equal(gw_session_set_throttle(f.st, &t), -1);
	/* No delay at all is allowed (refusals per address remain). */
	t = test_throttle;
	t.delay_ms = t.delay_max_ms = 0;
	assert_int_equal(gw_session_set_throttle(f.st, &t), 0);
	fixture_close(&f);
}

static void
test_throttle_reset_by_success(void **state)
{
	struct fixture f;
	struct reply r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	/* Four failures, a success, four more: never five in a row. */
	assert_int_equal(exec("INSERT INTO login_attempts (login, ip, ok)"
	                      " SELECT 'dave', '192.0.2.16', false"
	                      " FROM generate_series(1, %d)",
	                      GW_SESSION_THROTTLE_LOGIN_ADDRESS - 1),
	                 0);
	login_ok(&f, "dave", DAVE_PW, "192.0.2.16", &r);
	assert_int_equal(exec("INSERT INTO login_attempts (login, ip, ok)"
	                      " SELECT 'dave', '192.0.2.16', false"
	                      " FROM generate_series(1, %d)",
	                      GW_SESSION_THROTTLE_LOGIN_ADDRESS - 1),
	                 0);
	login_ok(&f, "dave", DAVE_PW, "192.0.2.16", &r);
	/* Five since the last success from there. */
	assert_int_equal(exec("INSERT INTO login_attempts (login, ip, ok)"
	                      " SELECT 'dave', '192.0.2.16', false"
	                      " FROM generate_series(1, %d)",
	                      GW_SESSION_THROTTLE_LOGIN_ADDRESS),
	                 0);
	do_login(&f, "dave", DAVE_PW, "192.0.2.16", &r);
	assert_int_equal(r.status, GW_SESSION_THROTTLED);
	fixture_close(&f);
}

static void
test_throttle_ip(void **state)
{
	struct fixture f;
	struct reply r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	/* Failures from one address spread over many logins. */
	assert_int_equal(exec("INSERT INTO login_attempts (login, ip, ok)"
	                      " SELECT 'user' || g, '203.0.113.9', false"
	                      " FROM generate_series(1, %d) g",
	                      GW_SESSION_THROTTLE_IP),
	                 0);
	do_login(&f, "alice", ALICE_PW, "203.0.113.9", &r);
	assert_int_equal(r.status, GW_SESSION_THROTTLED);
	assert_string_equal(r.err, "too many attempts");
	/* The same user from elsewhere is fine. */
	login_ok(&f, "alice", ALICE_PW, "203.0.113.10", &r);
	/* And so is a client whose address is unknown. */
	login_ok(&f, "alice", ALICE_PW, NULL, &r);
	/* IPv6 too, and a malformed address is recorded as unknown. */
	assert_int_equal(exec("INSERT INTO login_attempts (login, ip, ok)"
	                      " SELECT 'user' || g, '2001:db8::9', false"
	                      " FROM generate_series(1, %d) g",
	                      GW_SESSION_THROTTLE_IP),
	                 0);
	do_login(&f, "alice", ALICE_PW, "2001:db8::9", &r);
	assert_int_equal(r.status, GW_SESSION_THROTTLED);
	login_ok(&f, "alice", ALICE_PW, "2001:db8::9'; DROP TABLE x; --", &r);
	login_ok(&f, "alice", ALICE_PW, "fe80::1%eth0", &r);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions WHERE"
	                       " ip IS NULL"),
	                 3);
	fixture_close(&f);
}

static void
test_throttle_burst(void **state)
{
	struct fixture f;
	struct reply r[12];
	int i, denied = 0, throttled = 0;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	/* Sent at once: each attempt sees the ones before it. */
	memset(r, 0, sizeof(r));
	for (i = 0; i < 12; i++)
		assert_int_equal(gw_session_login(f.st, "dave", "wrong",
		                                  "192.0.2.17", NULL, on_info,
		                                  &r[i]),
		                 GW_SESSION_OK);
	for (i = 0; i < 12; i++) {
		wait_reply(&f, &r[i]);
		if (r[i].status == GW_SESSION_DENIED)
			denied++;
		else if (r[i].status == GW_SESSION_THROTTLED)
			throttled++;
	}
	assert_int_equal(denied, GW_SESSION_THROTTLE_LOGIN_ADDRESS);
	assert_int_equal(throttled, 12 - GW_SESSION_THROTTLE_LOGIN_ADDRESS);
	fixture_close(&f);
}

static void
test_logout(void **state)
{
	struct fixture f;
	struct reply a, b, r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.18", &a);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.18", &b);
	do_logout(&f, a.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_int_equal(r.count, 1);
	/* Whose it was, which, and that she is signed in elsewhere. */
	assert_int_equal(r.staff_id, alice_id);
	assert_int_equal(r.session_id, a.session_id);
	assert_int_equal(r.staff_live, 1);
	check_denied(&f, a.token);
	/* Only that session. */
	do_check(&f, b.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	/* Logging out twice is harmless. */
	do_logout(&f, a.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_int_equal(r.count, 0);
	assert_int_equal(r.staff_id, 0);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions WHERE"
	                       " revoked_at IS NOT NULL"),
	                 1);
	/* Her last session: signed in nowhere now. */
	do_logout(&f, b.token, &r);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.session_id, b.session_id);
	assert_int_equal(r.staff_live, 0);
	fixture_close(&f);
}

static void
test_revoke_staff(void **state)
{
	struct fixture f;
	struct reply a1, a2, b, r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.19", &a1);
	login_ok(&f, "alice", ALICE_PW, "198.51.100.19", &a2);
	login_ok(&f, "bob", BOB_PW, "192.0.2.19", &b);
	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_session_revoke_staff(f.st, alice_id, on_done, &r),
	                 GW_SESSION_OK);
	wait_reply(&f, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_int_equal(r.count, 2);
	check_denied(&f, a1.token);
	check_denied(&f, a2.token);
	do_check(&f, b.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_int_equal(r.staff_id, bob_id);
	/* A new login after revocation works. */
	login_ok(&f, "alice", ALICE_PW, "192.0.2.19", &a1);
	do_check(&f, a1.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	fixture_close(&f);
}

/*
 * Which of ids are live: a bit per position, in the order asked; staff,
 * when not NULL, gets a bit for each whose user has a live session.
 * Sessions that do not exist are not in the answer.
 */
static unsigned
live_mask(struct fixture *f, const long long *ids, size_t n, unsigned *staff)
{
	struct reply r;
	unsigned mask = 0, smask = 0;
	size_t i, j;

	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_session_live(f->st, ids, n, on_live, &r),
	                 GW_SESSION_OK);
	assert_int_equal(r.done, 0);
	wait_reply(f, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	for (i = 0; i < r.nstates; i++) {
		for (j = 0; j < n; j++) {
			if (r.states[i].session_id != ids[j])
				continue;
			if (r.states[i].live)
				mask |= 1u << j;
			if (r.states[i].staff_live)
				smask |= 1u << j;
		}
		assert_true(r.states[i].session_id != 999999999);
	}
	if (staff != NULL)
		*staff = smask;
	return mask;
}

static void
test_live(void **state)
{
	struct fixture f;
	struct reply a1, a2, b, d, r;
	long long ids[5];
	unsigned staff;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.30", &a1);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.30", &a2);
	login_ok(&f, "bob", BOB_PW, "192.0.2.30", &b);
	login_ok(&f, "dave", DAVE_PW, "192.0.2.30", &d);
	/* A check gives the id of the session its login created. */
	do_check(&f, a2.token, &r);
	assert_int_equal(r.session_id, a2.session_id);
	assert_true(a1.session_id > 0 && a1.session_id != a2.session_id);
	ids[0] = a1.session_id;
	ids[1] = a2.session_id;
	ids[2] = b.session_id;
	ids[3] = d.session_id;
	ids[4] = 999999999; /* never was */
	assert_int_equal(live_mask(&f, ids, 5, &staff), 0xf);
	assert_int_equal(staff, 0xf);
	/* Logout ends that session only: alice is still signed in. */
	do_logout(&f, a1.token, &r);
	assert_int_equal(live_mask(&f, ids, 5, &staff), 0xe);
	assert_int_equal(staff, 0xf);
	/* Past its absolute timeout: bob has no other session. */
	assert_int_equal(exec("UPDATE staff_sessions SET expires_at = now()"
	                      " WHERE id = %lld",
	                      b.session_id),
	                 0);
	assert_int_equal(live_mask(&f, ids, 5, &staff), 0xa);
	assert_int_equal(staff, 0xb);
	/* A desk's activity keeps its session in use. */
	assert_int_equal(exec("UPDATE staff_sessions SET last_seen_at ="
	                      " now() - interval '1000 s' WHERE id = %lld",
	                      a2.session_id),
	                 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_session_touch(f.st, a2.session_id, on_done, &r),
	                 GW_SESSION_OK);
	wait_reply(&f, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_int_equal(r.count, 1);
	assert_int_equal(live_mask(&f, ids, 5, NULL), 0xa);
	/* Idle: not live (its desks are closed), and a touch cannot revive it.
	 */
	assert_int_equal(exec("UPDATE staff_sessions SET last_seen_at ="
	                      " now() - interval '1 day' WHERE id = %lld",
	                      a2.session_id),
	                 0);
	assert_int_equal(live_mask(&f, ids, 5, &staff), 0x8);
	assert_int_equal(staff, 0x8);
	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_session_touch(f.st, a2.session_id, on_done, &r),
	                 GW_SESSION_OK);
	wait_reply(&f, &r);
	assert_int_equal(r.count, 0);
	assert_int_equal(live_mask(&f, ids, 5, NULL), 0x8);
	assert_int_equal(gw_session_touch(f.st, 0, on_done, &r),
	                 GW_SESSION_DENIED);
	/* Back in use; then a disabled user: not revoked, but not live. */
	assert_int_equal(exec("UPDATE staff_sessions SET last_seen_at = now()"
	                      " WHERE id = %lld",
	                      a2.session_id),
	                 0);
	assert_int_equal(exec("UPDATE staff_users SET disabled = true"
	                      " WHERE id = %lld",
	                      dave_id),
	                 0);
	assert_int_equal(live_mask(&f, ids, 5, &staff), 0x2);
	assert_int_equal(staff, 0x3);
	assert_int_equal(exec("UPDATE staff_users SET disabled = false"
	                      " WHERE id = %lld",
	                      dave_id),
	                 0);
	assert_int_equal(live_mask(&f, ids + 3, 1, NULL), 0x1);
	/* Refused at once, without a callback. */
	assert_int_equal(gw_session_live(f.st, ids, 0, on_live, &r),
	                 GW_SESSION_DENIED);
	assert_int_equal(gw_session_live(f.st, NULL, 1, on_live, &r),
	                 GW_SESSION_DENIED);
	fixture_close(&f);
}

/* bob's access digest, from a check and from gw_session_live alike. */
static void
bob_access(struct fixture *f, const struct reply *b, char *out)
{
	struct reply r;

	do_check(f, b->token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_int_equal(strlen(r.access), GW_SESSION_ACCESS_LEN);
	assert_int_equal(strspn(r.access, "0123456789abcdef"),
	                 GW_SESSION_ACCESS_LEN);
	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_session_live(f->st, &b->session_id, 1, on_live, &r),
	                 GW_SESSION_OK);
	wait_reply(f, &r);
	assert_int_equal(r.nstates, 1);
	assert_true(r.states[0].live);
	strcpy(out, r.states[0].access);
	do_check(f, b->token, &r);
	assert_string_equal(r.access, out);
}

/*
 * The access digest follows the role, the queue memberships and the own
 * capacities only.
 */
static void
test_access_digest(void **state)
{
	struct fixture f;
	struct reply b;
	char a0[GW_SESSION_ACCESS_LEN + 1], a1[GW_SESSION_ACCESS_LEN + 1];

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "bob", BOB_PW, "192.0.2.40", &b);
	assert_string_equal(b.access, ""); /* a login does not tell it */
	bob_access(&f, &b, a0);
	/* A new name is not new access. */
	assert_int_equal(exec("UPDATE staff_users SET display_name = 'Robert'"
	                      " WHERE id = %lld",
	                      bob_id),
	                 0);
	bob_access(&f, &b, a1);
	assert_string_equal(a0, a1);
	/* A queue, then another proficiency, then another role. */
	assert_int_equal(exec("INSERT INTO queues (id, slug, name) VALUES"
	                      " (77, 'digest', 'Digest');"
	                      "INSERT INTO queue_members (staff_id, queue_id)"
	                      " VALUES (%lld, 77)",
	                      bob_id),
	                 0);
	bob_access(&f, &b, a1);
	assert_string_not_equal(a0, a1);
	strcpy(a0, a1);
	assert_int_equal(exec("UPDATE queue_members SET proficiency = 9"
	                      " WHERE staff_id = %lld",
	                      bob_id),
	                 0);
	bob_access(&f, &b, a1);
	assert_string_not_equal(a0, a1);
	strcpy(a0, a1);
	assert_int_equal(exec("UPDATE staff_users SET role = 'advisor'"
	                      " WHERE id = %lld",
	                      bob_id),
	                 0);
	bob_access(&f, &b, a1);
	assert_string_not_equal(a0, a1);
	strcpy(a0, a1);
	/* An own capacity, then another one. */
	assert_int_equal(exec("INSERT INTO staff_capacity (staff_id, channel,"
	                      " capacity) VALUES (%lld, 'chat', 2)",
	                      bob_id),
	                 0);
	bob_access(&f, &b, a1);
	assert_string_not_equal(a0, a1);
	strcpy(a0, a1);
	assert_int_equal(exec("UPDATE staff_capacity SET capacity = 4"
	                      " WHERE staff_id = %lld",
	                      bob_id),
	                 0);
	bob_access(&f, &b, a1);
	assert_string_not_equal(a0, a1);
	assert_int_equal(
	        exec("DELETE FROM staff_capacity WHERE staff_id = %lld;"
	             "DELETE FROM queue_members WHERE staff_id = %lld;"
	             "DELETE FROM queues WHERE id = 77;"
	             "UPDATE staff_users SET role = 'supervisor',"
	             " display_name = 'bob' WHERE id = %lld",
	             bob_id, bob_id, bob_id),
	        0);
	fixture_close(&f);
}

static void
test_cli_account_changes(void **state)
{
	struct fixture f;
	struct reply a, d, r;
	char err[256];
	long long revoked = -1;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.31", &a);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.31", &r);
	assert_int_equal(gw_staff_passwd(pg.conninfo, "alice",
	                                 "new secret phrase", &revoked, err,
	                                 sizeof(err)),
	                 0);
	assert_int_equal(revoked, 2);
	check_denied(&f, a.token);
	do_login(&f, "alice", ALICE_PW, "192.0.2.31", &r);
	expect_denied(&r, "invalid login or password");
	login_ok(&f, "alice", "new secret phrase", "192.0.2.31", &a);
	assert_int_equal(value("SELECT count(*) FROM audit_log WHERE actor ="
	                       " 'cli' AND action = 'staff.password_reset'"
	                       " AND object_kind = 'staff' AND object_id ="
	                       " '%lld' AND detail->>'sessions_revoked' = '2'",
	                       alice_id),
	                 1);
	/* Back as the other tests expect it; nothing was live to revoke. */
	assert_int_equal(gw_staff_passwd(pg.conninfo, "alice", ALICE_PW,
	                                 &revoked, err, sizeof(err)),
	                 0);
	assert_int_equal(revoked, 1);

	login_ok(&f, "dave", DAVE_PW, "192.0.2.31", &d);
	assert_int_equal(gw_staff_set_disabled(pg.conninfo, "dave", 1, &revoked,
	                                       err, sizeof(err)),
	                 0);
	assert_int_equal(revoked, 1);
	check_denied(&f, d.token);
	do_login(&f, "dave", DAVE_PW, "192.0.2.31", &r);
	expect_denied(&r, "invalid login or password");
	assert_int_equal(gw_staff_set_disabled(pg.conninfo, "dave", 0, &revoked,
	                                       err, sizeof(err)),
	                 0);
	assert_int_equal(revoked, 0);
	login_ok(&f, "dave", DAVE_PW, "192.0.2.31", &d);
	/* Enabling does not bring back what disabling ended. */
	assert_int_equal(value("SELECT count(*) FROM staff_sessions WHERE"
	                       " staff_id = %lld AND revoked_at IS NULL",
	                       dave_id),
	                 1);
	assert_int_equal(value("SELECT count(*) FROM audit_log WHERE action"
	                       " IN ('staff.disable', 'staff.enable') AND"
	                       " object_id = '%lld'",
	                       dave_id),
	                 2);

	/* Refusals change nothing and write no audit row. */
	assert_int_equal(gw_staff_passwd(pg.conninfo, "nobody",
	                                 "long enough pw", &revoked, err,
	                                 sizeof(err)),
	                 -1);
	assert_string_equal(err, "no user with login \"nobody\"");
	assert_int_equal(gw_staff_set_disabled(pg.conninfo, "nobody", 1,
	                                       &revoked, err, sizeof(err)),
	                 -1);
	assert_int_equal(gw_staff_passwd(pg.conninfo, "alice", "", &revoked,
	                                 err, sizeof(err)),
	                 -1);
	assert_int_equal(value("SELECT count(*) FROM audit_log WHERE"
	                       " object_id IS NULL OR object_id NOT IN"
	                       " ('%lld', '%lld')",
	                       alice_id, dave_id),
	                 0);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.31", &a);
	fixture_close(&f);
}

static long
seconds_since_seen(const char *token)
{
	return value("SELECT extract(epoch FROM now() - last_seen_at)::bigint"
	             " FROM staff_sessions WHERE token_hash ="
	             " sha256(convert_to('%s', 'UTF8'))",
	             token);
}

static void
test_idle_timeout(void **state)
{
	struct fixture f;
	struct reply a, r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.20", &a);
	/* Used two minutes ago: valid, and last_seen_at is written. */
	assert_int_equal(exec("UPDATE staff_sessions SET last_seen_at ="
	                      " now() - interval '120 seconds'"),
	                 0);
	do_check(&f, a.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_true(seconds_since_seen(a.token) < 5);
	/* Used 20 s ago: valid, but not written again so soon. */
	assert_int_equal(exec("UPDATE staff_sessions SET last_seen_at ="
	                      " now() - interval '20 seconds'"),
	                 0);
	do_check(&f, a.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_true(seconds_since_seen(a.token) >= 20);
	/* Idle past the timeout. */
	assert_int_equal(exec("UPDATE staff_sessions SET last_seen_at ="
	                      " now() - interval '1801 seconds'"),
	                 0);
	check_denied(&f, a.token);
	fixture_close(&f);

	/* A real one-second idle timeout. */
	fixture_open(&f, 1, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.20", &a);
	do_check(&f, a.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	sb_run_for(&f.loop, 1500);
	check_denied(&f, a.token);
	fixture_close(&f);
}

static void
test_absolute_timeout(void **state)
{
	struct fixture f;
	struct reply a, r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.21", &a);
	/* In use all along, but past its absolute lifetime. */
	assert_int_equal(exec("UPDATE staff_sessions SET expires_at ="
	                      " now() - interval '1 second'"),
	                 0);
	check_denied(&f, a.token);
	fixture_close(&f);

	/* A real one-second absolute timeout, checked while in use. */
	fixture_open(&f, 1800, 1);
	login_ok(&f, "alice", ALICE_PW, "192.0.2.21", &a);
	do_check(&f, a.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	sb_run_for(&f.loop, 1500);
	check_denied(&f, a.token);
	fixture_close(&f);
}

static void
test_malformed_tokens(void **state)
{
	static const char *const bad[] = {
	        "",
	        "abc",
	        /* 42 and 44 characters. */
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	        /* 43, but standard base64, padding, spaces, quotes. */
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	        "AAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAA",
	        "AAAAAAAAAAAAAAAAAAAAA'AAAAAAAAAAAAAAAAAAAAA",
	        ("AAAAAAAAAAAAAAAAAAAAA\xc3\xa9"
	         "AAAAAAAAAAAAAAAAAAAA"),
	        /* Last character with bits beyond the 32 bytes. */
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
	};
	struct fixture f;
	struct reply r, a;
	char longer[80];
	size_t i;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	memset(&r, 0, sizeof(r));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(gw_session_check(f.st, bad[i], on_info, &r),
		                 GW_SESSION_DENIED);
		assert_int_equal(gw_session_logout(f.st, bad[i], on_logout, &r),
		                 GW_SESSION_DENIED);
	}
	assert_int_equal(gw_session_check(f.st, NULL, on_info, &r),
	                 GW_SESSION_DENIED);
	/* A real token with one more character. */
	login_ok(&f, "alice", ALICE_PW, "192.0.2.22", &a);
	snprintf(longer, sizeof(longer), "%sA", a.token);
	assert_int_equal(gw_session_check(f.st, longer, on_info, &r),
	                 GW_SESSION_DENIED);
	/* Nothing was sent, nothing answered. */
	assert_int_equal(db_pending(f.db), 0);
	sb_run_for(&f.loop, 50);
	assert_int_equal(r.calls, 0);
	/* Well-formed but unknown. */
	check_denied(&f, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	fixture_close(&f);
}

static void
test_refused_now(void **state)
{
	struct fixture f;
	struct reply r;
	char *pw = malloc(GW_PASSWORD_MAX + 2);
	char login[200];

	(void)state;
	assert_non_null(pw);
	fixture_open(&f, 1800, 8 * 3600);
	memset(&r, 0, sizeof(r));
	/* Over GW_PASSWORD_MAX: never hashed. */
	memset(pw, 'p', GW_PASSWORD_MAX + 1);
	pw[GW_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(
	        gw_session_login(f.st, "alice", pw, NULL, NULL, on_info, &r),
	        GW_SESSION_DENIED);
	/* Logins no user can have. */
	memset(login, 'a', 129);
	login[129] = '\0';
	assert_int_equal(
	        gw_session_login(f.st, login, "x", NULL, NULL, on_info, &r),
	        GW_SESSION_DENIED);
	assert_int_equal(
	        gw_session_login(f.st, "", "x", NULL, NULL, on_info, &r),
	        GW_SESSION_DENIED);
	assert_int_equal(
	        gw_session_login(f.st, "al\nice", "x", NULL, NULL, on_info, &r),
	        GW_SESSION_DENIED);
	assert_int_equal(gw_session_login(f.st, "al\xc3ice", "x", NULL, NULL,
	                                  on_info, &r),
	                 GW_SESSION_DENIED);
	assert_int_equal(
	        gw_session_login(f.st, NULL, "x", NULL, NULL, on_info, &r),
	        GW_SESSION_DENIED);
	assert_int_equal(gw_session_revoke_staff(f.st, 0, on_done, &r),
	                 GW_SESSION_DENIED);
	assert_int_equal(db_pending(f.db), 0);
	/* Exactly GW_PASSWORD_MAX is a normal (wrong) password. */
	pw[GW_PASSWORD_MAX] = '\0';
	do_login(&f, "alice", pw, NULL, &r);
	expect_denied(&r, "invalid login or password");
	/* Database down: refused now. */
	db_reset(f.db, "test");
	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_session_login(f.st, "alice", ALICE_PW, NULL, NULL,
	                                  on_info, &r),
	                 GW_SESSION_UNAVAILABLE);
	assert_int_equal(gw_session_check(f.st,
	                                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	                                  "AAAAAAAA",
	                                  on_info, &r),
	                 GW_SESSION_UNAVAILABLE);
	assert_int_equal(r.calls, 0);
	assert_true(sb_run_until(&f.loop, is_ready, f.db, 5000));
	login_ok(&f, "alice", ALICE_PW, NULL, &r);
	assert_string_equal(gw_session_status_text(GW_SESSION_OK, 1), "");
	free(pw);
	fixture_close(&f);
}

static void
test_logins_capped(void **state)
{
	struct fixture f;
	struct reply r[GW_SESSION_LOGINS_MAX + 1];
	char login[32];
	int i;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	memset(r, 0, sizeof(r));
	for (i = 0; i < GW_SESSION_LOGINS_MAX; i++) {
		snprintf(login, sizeof(login), "nobody%d", i);
		assert_int_equal(gw_session_login(f.st, login, "pw", NULL, NULL,
		                                  on_info, &r[i]),
		                 GW_SESSION_OK);
	}
	assert_int_equal(gw_session_login(f.st, "alice", ALICE_PW, NULL, NULL,
	                                  on_info, &r[i]),
	                 GW_SESSION_UNAVAILABLE);
	for (i = 0; i < GW_SESSION_LOGINS_MAX; i++) {
		wait_reply(&f, &r[i]);
		expect_denied(&r[i], "invalid login or password");
	}
	assert_int_equal(r[GW_SESSION_LOGINS_MAX].calls, 0);
	/* Room again. */
	login_ok(&f, "alice", ALICE_PW, NULL, &r[0]);
	fixture_close(&f);
}

static int
no_db_pending(void *arg)
{
	return db_pending(arg) == 0;
}

struct freeing {
	struct gw_session_store *st;
	int calls;
	enum gw_session_status status;
};

static void
on_info_free(void *arg, enum gw_session_status status, const char *err,
             const struct gw_session_info *info)
{
	struct freeing *fr = arg;

	(void)err;
	(void)info;
	fr->calls++;
	fr->status = status;
	gw_session_store_free(fr->st);
}

static void
test_free_in_flight(void **state)
{
	struct fixture f;
	struct reply r, c, a;
	struct freeing fr;

	(void)state;
	/* Freed while the first query is in flight. */
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, NULL, &a);
	memset(&r, 0, sizeof(r));
	memset(&c, 0, sizeof(c));
	assert_int_equal(gw_session_login(f.st, "alice", ALICE_PW, NULL, NULL,
	                                  on_info, &r),
	                 GW_SESSION_OK);
	assert_int_equal(gw_session_check(f.st, a.token, on_info, &c),
	                 GW_SESSION_OK);
	gw_session_store_free(f.st);
	sb_run_for(&f.loop, 200);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, GW_SESSION_UNAVAILABLE);
	assert_string_equal(r.err, "service unavailable");
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, GW_SESSION_UNAVAILABLE);
	db_close(f.db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&f.loop), 0);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions"), 1);

	/* Freed, and the database closed, while the password is hashed. */
	fixture_open(&f, 1800, 8 * 3600);
	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_session_login(f.st, "alice", ALICE_PW, NULL, NULL,
	                                  on_info, &r),
	                 GW_SESSION_OK);
	assert_true(sb_run_until(&f.loop, no_db_pending, f.db, WAIT_MS));
	assert_int_equal(r.done, 0);
	gw_session_store_free(f.st);
	db_close(f.db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&f.loop), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, GW_SESSION_UNAVAILABLE);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions"), 0);

	/* The database closed under a query; the store freed after. */
	fixture_open(&f, 1800, 8 * 3600);
	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_session_login(f.st, "alice", ALICE_PW, NULL, NULL,
	                                  on_info, &r),
	                 GW_SESSION_OK);
	db_close(f.db, NULL, NULL);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, GW_SESSION_UNAVAILABLE);
	gw_session_store_free(f.st);
	assert_int_equal(sb_loop_finish(&f.loop), 0);

	/* Freed from inside a callback; the next request is still answered. */
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, NULL, &a);
	memset(&fr, 0, sizeof(fr));
	fr.st = f.st;
	memset(&c, 0, sizeof(c));
	assert_int_equal(gw_session_check(f.st, a.token, on_info_free, &fr),
	                 GW_SESSION_OK);
	assert_int_equal(gw_session_check(f.st, a.token, on_info, &c),
	                 GW_SESSION_OK);
	wait_reply(&f, &c);
	assert_int_equal(fr.calls, 1);
	assert_int_equal(fr.status, GW_SESSION_OK);
	assert_int_equal(c.status, GW_SESSION_UNAVAILABLE);
	gw_session_store_free(NULL);
	db_close(f.db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&f.loop), 0);
}

static void
test_prune(void **state)
{
	struct fixture f;
	struct reply a, b, r;

	(void)state;
	fixture_open(&f, 1800, 8 * 3600);
	login_ok(&f, "alice", ALICE_PW, NULL, &a);
	login_ok(&f, "bob", BOB_PW, NULL, &b);
	/* alice's session ended two days ago, and so did old attempts. */
	assert_int_equal(exec("UPDATE staff_sessions SET created_at = now() -"
	                      " interval '3 days', expires_at = now() -"
	                      " interval '2 days' WHERE staff_id = %lld",
	                      alice_id),
	                 0);
	assert_int_equal(exec("INSERT INTO login_attempts (login, at) VALUES"
	                      " ('old', now() - interval '2 days'),"
	                      " ('old', now() - interval '2 days')"),
	                 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_session_prune(f.st, 86400, on_done, &r),
	                 GW_SESSION_OK);
	wait_reply(&f, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	assert_int_equal(r.count, 3);
	assert_int_equal(value("SELECT count(*) FROM staff_sessions"), 1);
	assert_int_equal(value("SELECT count(*) FROM login_attempts"), 2);
	do_check(&f, b.token, &r);
	assert_int_equal(r.status, GW_SESSION_OK);
	fixture_close(&f);
}

static void
test_store_new_refuses_bad_timeouts(void **state)
{
	uv_loop_t loop;
	struct db_options o;
	struct db *db;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.conninfo = pg.conninfo;
	o.connect_timeout_ms = 2000;
	o.query_timeout_ms = 2000;
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 300;
	assert_int_equal(uv_loop_init(&loop), 0);
	db = db_new(&loop, &o);
	assert_null(gw_session_store_new(&loop, db, 0, 3600));
	assert_null(gw_session_store_new(&loop, db, 1800, 0));
	assert_null(gw_session_store_new(&loop, db, -1, 3600));
	assert_null(gw_session_store_new(&loop, NULL, 1800, 3600));
	db_close(db, NULL, NULL);
	assert_int_equal(sb_loop_finish(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_login_and_check),
	        cmocka_unit_test(test_token_stored_hashed),
	        cmocka_unit_test(test_wrong_password),
	        cmocka_unit_test(test_unknown_user),
	        cmocka_unit_test(test_disabled_user),
	        cmocka_unit_test(test_throttle_login),
	        cmocka_unit_test(test_throttle_rotating_addresses),
	        cmocka_unit_test(test_throttle_delay_freed),
	        cmocka_unit_test(test_throttle_settings),
	        cmocka_unit_test(test_throttle_reset_by_success),
	        cmocka_unit_test(test_throttle_ip),
	        cmocka_unit_test(test_throttle_burst),
	        cmocka_unit_test(test_logout),
	        cmocka_unit_test(test_revoke_staff),
	        cmocka_unit_test(test_live),
	        cmocka_unit_test(test_access_digest),
	        cmocka_unit_test(test_cli_account_changes),
	        cmocka_unit_test(test_idle_timeout),
	        cmocka_unit_test(test_absolute_timeout),
	        cmocka_unit_test(test_malformed_tokens),
	        cmocka_unit_test(test_refused_now),
	        cmocka_unit_test(test_logins_capped),
	        cmocka_unit_test(test_free_in_flight),
	        cmocka_unit_test(test_prune),
	        cmocka_unit_test(test_store_new_refuses_bad_timeouts),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
