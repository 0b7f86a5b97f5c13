/*
 * test_email_smtp.c: email_smtp.c against a real SMTP server (aiosmtpd,
 * smtp_server.py) on loopback ports with a test CA: implicit TLS with a
 * password, STARTTLS with XOAUTH2, a plain local relay; the empty
 * envelope sender; dot-stuffing; a certificate that does not verify and a
 * refused sign-in (tried again, not failed for good); a recipient refused
 * for good (550) and for now (451); a plain relay elsewhere than loopback
 * refused before any connection.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "email_smtp.h"
#include "support.h"

#define USER     "council"
#define PASSWORD "pw-for-tests"
#define TOKEN    "tok-for-tests"

static char dir[256], outdir[300], ca[300];
static int p_smtps, p_starttls, p_plain;
static pid_t server_pid;

static int
group_setup(void **st)
{
	char cmd[1024], cert[300], key[300], ports[3][16], line[64];
	const char *src = getenv("SWITCHBOARD_SRC");
	int fd[2];
	FILE *f;

	(void)st;
	snprintf(dir, sizeof(dir), "/tmp/sbtest-smtp-XXXXXX");
	if (src == NULL || mkdtemp(dir) == NULL || pipe(fd) != 0)
		return -1;
	snprintf(outdir, sizeof(outdir), "%s/out", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && %s test-ca '%s'", outdir,
	         SERVICES_SH, dir);
	if (system(cmd) != 0)
		return -1;
	p_smtps = sb_free_port();
	p_starttls = sb_free_port();
	p_plain = sb_free_port();
	snprintf(ports[0], sizeof(ports[0]), "%d", p_smtps);
	snprintf(ports[1], sizeof(ports[1]), "%d", p_starttls);
	snprintf(ports[2], sizeof(ports[2]), "%d", p_plain);
	snprintf(cmd, sizeof(cmd), "%s/tests/unit/email/smtp_server.py", src);
	server_pid = fork();
	if (server_pid < 0)
		return -1;
	if (server_pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		/* Debian's Python, where python3-aiosmtpd is. */
		execl("/usr/bin/python3", "python3", cmd, outdir, cert, key,
		      USER, PASSWORD, TOKEN, ports[0], ports[1], ports[2],
		      (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL ||
	    strncmp(line, "ready", 5) != 0)
		return -1;
	fclose(f);
	return 0;
}

static int
group_teardown(void **st)
{
	char cmd[300];

	(void)st;
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return 0;
}

static struct email_smtp_opts
opts(enum email_smtp_tls tls, int port)
{
	struct email_smtp_opts o;

	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = (uint16_t)port;
	o.tls = tls;
	o.ca_file = ca;
	o.timeout_s = 20;
	return o;
}

static const char MSG[] = "From: Denbighshire <contact@example.gov.uk>\r\n"
                          "To: r@example.org\r\n"
                          "Subject: Your enquiry SB100057\r\n"
                          "Message-ID: <sb.100057.1@example.gov.uk>\r\n"
                          "Auto-Submitted: auto-replied\r\n"
                          "\r\n"
                          "Thank you.\r\n"
                          ".\r\n"
                          "..a line that starts with dots\r\n";

/* The server's record of message n, loaded (the caller decrefs). */
static json_t *
taken(int n)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%d.json", outdir, n);
	return json_load_file(path, 0, NULL);
}

static int
count_taken(void)
{
	struct dirent *e;
	DIR *d = opendir(outdir);
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, ".json") != NULL;
	closedir(d);
	return n;
}

static void
test_smtps_password_empty_sender(void **st)
{
	struct email_smtp_opts o = opts(EMAIL_SMTP_IMPLICIT, p_smtps);
	const char *to[] = {"r@example.org"};
	struct email_smtp_outcome out;
	json_t *j;
	const char *data;

	(void)st;
	o.user = USER;
	o.password = PASSWORD;
	if (email_smtp_send(&o, "", to, 1, MSG, sizeof(MSG) - 1, &out) != 0)
		fail_msg("send: %s", out.reason);
	assert_int_equal(out.code, 250);
	j = taken(1);
	assert_non_null(j);
	/*
	 * MAIL FROM:<>: an automatic reply's bounce goes nowhere. (aiosmtpd
	 * records the null path as "<>", a named one without brackets.)
	 */
	assert_string_equal(json_string_value(json_object_get(j, "mail_from")),
	                    "<>");
	assert_string_equal(json_string_value(json_array_get(
	                            json_object_get(j, "rcpt_tos"), 0)),
	                    "r@example.org");
	assert_string_equal(json_string_value(json_object_get(j, "login")),
	                    USER);
	data = json_string_value(json_object_get(j, "data"));
	/* The message as given, lines of dots intact (dot-stuffed). */
	assert_non_null(strstr(data, "Message-ID: <sb.100057.1@"));
	assert_non_null(strstr(data, "\r\n.\r\n..a line that starts"));
	json_decref(j);
}

static void
test_starttls_xoauth2(void **st)
{
	struct email_smtp_opts o = opts(EMAIL_SMTP_STARTTLS, p_starttls);
	const char *to[] = {"r@example.org", "s@example.org"};
	struct email_smtp_outcome out;
	json_t *j;

	(void)st;
	o.user = USER;
	o.oauth_token = TOKEN;
	if (email_smtp_send(&o, "contact@example.gov.uk", to, 2, MSG,
	                    sizeof(MSG) - 1, &out) != 0)
		fail_msg("send: %s", out.reason);
	j = taken(2);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "mail_from")),
	                    "contact@example.gov.uk");
	assert_int_equal(json_array_size(json_object_get(j, "rcpt_tos")), 2);
	json_decref(j);
}

static void
test_refusals_tried_again(void **st)
{
	struct email_smtp_opts o = opts(EMAIL_SMTP_IMPLICIT, p_smtps);
	const char *to[] = {"r@example.org"};
	struct email_smtp_outcome out;
	int before = count_taken();

	(void)st;
	/* The system's CAs never signed the test CA. */
	o.ca_file = NULL;
	o.user = USER;
	o.password = PASSWORD;
	assert_int_equal(
	        email_smtp_send(&o, "", to, 1, MSG, sizeof(MSG) - 1, &out), -1);
	assert_false(out.permanent);
	/* A refused sign-in: the mailbox's problem, not the message's. */
	o.ca_file = ca;
	o.password = "wrong";
	assert_int_equal(
	        email_smtp_send(&o, "", to, 1, MSG, sizeof(MSG) - 1, &out), -1);
	assert_false(out.permanent);
	o.user = USER;
	o.password = NULL;
	o.oauth_token = "revoked";
	assert_int_equal(
	        email_smtp_send(&o, "", to, 1, MSG, sizeof(MSG) - 1, &out), -1);
	assert_false(out.permanent);
	assert_int_equal(count_taken(), before);
}

static void
test_recipient_refused(void **st)
{
	struct email_smtp_opts o = opts(EMAIL_SMTP_STARTTLS, p_starttls);
	const char *gone[] = {"reject@example.org"};
	const char *later[] = {"later@example.org"};
	struct email_smtp_outcome out;

	(void)st;
	o.user = USER;
	o.password = PASSWORD;
	assert_int_equal(
	        email_smtp_send(&o, "", gone, 1, MSG, sizeof(MSG) - 1, &out),
	        -1);
	assert_int_equal(out.code, 550);
	assert_true(out.permanent);
	assert_int_equal(
	        email_smtp_send(&o, "", later, 1, MSG, sizeof(MSG) - 1, &out),
	        -1);
	assert_int_equal(out.code, 451);
	assert_false(out.permanent);
}

static void
test_plain_relay_loopback_only(void **st)
{
	struct email_smtp_opts o = opts(EMAIL_SMTP_PLAIN_LOCAL, p_plain);
	const char *to[] = {"r@example.org"};
	struct email_smtp_outcome out;
	int before = count_taken();

	(void)st;
	if (email_smtp_send(&o, "", to, 1, MSG, sizeof(MSG) - 1, &out) != 0)
		fail_msg("send: %s", out.reason);
	assert_int_equal(count_taken(), before + 1);
	o.host = "192.0.2.1";
	assert_int_equal(
	        email_smtp_send(&o, "", to, 1, MSG, sizeof(MSG) - 1, &out), -1);
	assert_true(out.permanent);
	assert_non_null(strstr(out.reason, "loopback"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_smtps_password_empty_sender),
	        cmocka_unit_test(test_starttls_xoauth2),
	        cmocka_unit_test(test_refusals_tried_again),
	        cmocka_unit_test(test_recipient_refused),
	        cmocka_unit_test(test_plain_relay_loopback_only),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
