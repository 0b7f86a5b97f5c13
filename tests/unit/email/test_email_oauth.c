/*
 * test_email_oauth.c: email_oauth.c against a local token endpoint that
 * checks the client-credentials contract (oauth_server.py), and the
 * token it gives used with SASL XOAUTH2 against a real Dovecot whose
 * oauth2 passdb asks the same endpoint (introspection): a token fetched
 * once and cached; fetched again before it runs out; a revoked token
 * refused by Dovecot with a clear reason, then a new one after
 * email_oauth_invalidate; a wrong secret answered with the endpoint's
 * error and never echoed; which endpoint URLs a secret may go to; an
 * endpoint that is down.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "email_imap.h"
#include "email_oauth.h"
#include "support.h"

#define CLIENT  "switchboard-test"
#define SECRET  "s3cret-value-never-echoed"
#define LIFE_S  60 /* short ones: test_refreshed_before_expiry */
#define SHORT_S 4
#define SCOPE   "https://outlook.office365.com/.default"

static struct sb_dovecot dv;
static pid_t server_pid;
static int server_port;
static char token_url[128];

static int
group_setup(void **st)
{
	char script[512], port[16], life[16], introspect[128], line[64];
	const char *src = getenv("SWITCHBOARD_SRC");
	int fd[2];
	FILE *f;

	(void)st;
	if (src == NULL || pipe(fd) != 0)
		return -1;
	server_port = sb_free_port();
	snprintf(script, sizeof(script), "%s/tests/unit/email/oauth_server.py",
	         src);
	snprintf(port, sizeof(port), "%d", server_port);
	snprintf(life, sizeof(life), "%d", LIFE_S);
	server_pid = fork();
	if (server_pid < 0)
		return -1;
	if (server_pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		execlp("python3", "python3", script, port, CLIENT, SECRET, life,
		       "council", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL ||
	    strncmp(line, "ready", 5) != 0)
		return -1;
	fclose(f);
	snprintf(token_url, sizeof(token_url), "http://127.0.0.1:%d/token",
	         server_port);
	snprintf(introspect, sizeof(introspect),
	         "http://127.0.0.1:%d/introspect", server_port);
	return sb_dovecot_setup_oauth(&dv, introspect);
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_dovecot_teardown(&dv);
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	return 0;
}

static struct email_oauth *
source(const char *url, const char *secret)
{
	struct email_oauth_opts o;
	struct email_oauth *t;
	char err[256];

	memset(&o, 0, sizeof(o));
	o.token_url = url;
	o.client_id = CLIENT;
	o.client_secret = secret;
	o.scope = SCOPE;
	o.timeout_s = 5;
	t = email_oauth_new(&o, err, sizeof(err));
	if (t == NULL)
		fail_msg("email_oauth_new: %s", err);
	return t;
}

/* Signs in to Dovecot with token: the session, or NULL (err). */
static struct email_imap *
sign_in(const char *token, char *err, size_t errlen)
{
	struct email_imap_opts o;

	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = (uint16_t)dv.port;
	o.ca_file = dv.ca_file;
	o.user = dv.user;
	o.oauth_token = token;
	o.timeout_s = 10;
	return email_imap_open(&o, err, errlen);
}

static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

static void
control(const char *path)
{
	char url[128];
	CURL *c = curl_easy_init();

	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", server_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
}

static void
test_token_cached_and_xoauth2(void **st)
{
	struct email_imap_box box;
	struct email_oauth *t;
	struct email_imap *c;
	char tok[512], again[512], err[512];

	(void)st;
	t = source(token_url, SECRET);
	assert_int_equal(
	        email_oauth_token(t, tok, sizeof(tok), err, sizeof(err)), 0);
	assert_int_equal(strncmp(tok, "tok-", 4), 0);
	assert_int_equal(email_oauth_fetches(t), 1);
	/* Cached: the same, no second request. */
	assert_int_equal(
	        email_oauth_token(t, again, sizeof(again), err, sizeof(err)),
	        0);
	assert_string_equal(again, tok);
	assert_int_equal(email_oauth_fetches(t), 1);
	/* Too small a buffer: refused, nothing cut. */
	assert_int_equal(email_oauth_token(t, again, 8, err, sizeof(err)), -1);
	/* Dovecot takes it with XOAUTH2. */
	c = sign_in(tok, err, sizeof(err));
	if (c == NULL)
		fail_msg("XOAUTH2: %s", err);
	assert_int_equal(email_imap_select(c, "INBOX", &box, err, sizeof(err)),
	                 0);
	email_imap_close(c);
	email_oauth_free(t);
}

static void
test_refreshed_before_expiry(void **st)
{
	struct email_oauth *t;
	struct email_imap *c;
	char tok[512], next[512], err[512];

	(void)st;
	control("/control/life/4");
	t = source(token_url, SECRET);
	assert_int_equal(
	        email_oauth_token(t, tok, sizeof(tok), err, sizeof(err)), 0);
	control("/control/life/60");
	/* A 4 s token is fetched again once a quarter of its life is left. */
	sleep(SHORT_S - SHORT_S / 4);
	assert_int_equal(
	        email_oauth_token(t, next, sizeof(next), err, sizeof(err)), 0);
	assert_int_equal(email_oauth_fetches(t), 2);
	assert_string_not_equal(next, tok);
	c = sign_in(next, err, sizeof(err));
	if (c == NULL)
		fail_msg("XOAUTH2 with the new token: %s", err);
	email_imap_close(c);
	email_oauth_free(t);
}

static void
test_revoked_then_refetched(void **st)
{
	struct email_oauth *t;
	struct email_imap *c;
	char tok[512], err[512] = "";

	(void)st;
	t = source(token_url, SECRET);
	assert_int_equal(
	        email_oauth_token(t, tok, sizeof(tok), err, sizeof(err)), 0);
	control("/control/revoke");
	/*
	 * The cached token is refused, and the reason says so. (Dovecot then
	 * holds the next sign-in from this address a few seconds: its auth
	 * penalty. A token must outlive that: the channel's retry too.)
	 */
	assert_null(sign_in(tok, err, sizeof(err)));
	assert_non_null(strstr(err, "XOAUTH2 sign-in failed"));
	assert_null(strstr(err, tok));
	/* Told so, the source fetches a new one, which Dovecot takes. */
	email_oauth_invalidate(t);
	assert_int_equal(
	        email_oauth_token(t, tok, sizeof(tok), err, sizeof(err)), 0);
	assert_int_equal(email_oauth_fetches(t), 2);
	c = sign_in(tok, err, sizeof(err));
	if (c == NULL)
		fail_msg("XOAUTH2 after refetch: %s", err);
	email_imap_close(c);
	email_oauth_free(t);
}

static void
test_bad_secret(void **st)
{
	struct email_oauth *t;
	char tok[512], err[512] = "";

	(void)st;
	t = source(token_url, "wrong-secret");
	assert_int_equal(
	        email_oauth_token(t, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "HTTP 401"));
	assert_non_null(strstr(err, "invalid_client"));
	assert_null(strstr(err, "wrong-secret"));
	assert_int_equal(email_oauth_fetches(t), 0);
	email_oauth_free(t);
}

static void
test_endpoint_down(void **st)
{
	struct email_oauth *t;
	char url[128], tok[512], err[512] = "";

	(void)st;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/token", sb_free_port());
	t = source(url, SECRET);
	assert_int_equal(
	        email_oauth_token(t, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "token endpoint"));
	email_oauth_free(t);
}

static void
test_where_a_secret_may_go(void **st)
{
	static const char *const ok[] = {
	        "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
	        "http://127.0.0.1:8080/token", "http://127.1.2.3/token",
	        "http://localhost:9/token", "http://[::1]:9/token"};
	static const char *const refused[] = {
	        "http://192.0.2.1/token",
	        "http://127.0.0.1.example.org/token",
	        "http://user@127.0.0.1/token",
	        "http://example.org/token",
	        "ftp://127.0.0.1/token",
	        "https:///token",
	        "",
	        "http://128.0.0.1/token"};
	struct email_oauth_opts o;
	struct email_oauth *t;
	char err[256];
	size_t i;

	(void)st;
	memset(&o, 0, sizeof(o));
	o.client_id = CLIENT;
	o.client_secret = SECRET;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		o.token_url = ok[i];
		t = email_oauth_new(&o, err, sizeof(err));
		if (t == NULL)
			fail_msg("%s refused: %s", ok[i], err);
		email_oauth_free(t);
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		o.token_url = refused[i];
		if (email_oauth_new(&o, err, sizeof(err)) != NULL)
			fail_msg("%s taken", refused[i]);
	}
	/* No secret, no source. */
	o.token_url = ok[0];
	o.client_secret = "";
	assert_null(email_oauth_new(&o, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_where_a_secret_may_go),
	        cmocka_unit_test(test_token_cached_and_xoauth2),
	        cmocka_unit_test(test_refreshed_before_expiry),
	        cmocka_unit_test(test_revoked_then_refetched),
	        cmocka_unit_test(test_bad_secret),
	        cmocka_unit_test(test_endpoint_down),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
