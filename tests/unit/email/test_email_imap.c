/*
 * test_email_imap.c: email_imap.c against a real Dovecot (IMAP over
 * implicit TLS, started on a loopback port with a test CA): the
 * certificate checked (a session with the wrong CA, or to an address the
 * certificate does not name, is refused), a wrong
 * password refused with the server's words, UIDVALIDITY, the UIDs after a
 * checkpoint (N:* answering the highest message is filtered out; the
 * lowest max), bodies fetched whole in UID order without marking them
 * read, \Seen and MOVE on committed UIDs only, IDLE woken by new mail and
 * by the caller.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "email_imap.h"
#include "support.h"

static struct sb_dovecot dv;

static int
group_setup(void **st)
{
	(void)st;
	return sb_dovecot_setup(&dv);
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_dovecot_teardown(&dv);
	return 0;
}

static struct email_imap *
open_ok(void)
{
	struct email_imap_opts o;
	struct email_imap *c;
	char err[512];

	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = (uint16_t)dv.port;
	o.ca_file = dv.ca_file;
	o.user = dv.user;
	o.password = dv.password;
	o.timeout_s = 10;
	c = email_imap_open(&o, err, sizeof(err));
	if (c == NULL)
		fail_msg("open: %s", err);
	return c;
}

static void
deliver(const char *subject, const char *body)
{
	char raw[1024];

	snprintf(raw, sizeof(raw),
	         "From: Resident <resident@example.org>\r\n"
	         "To: council@example.gov.uk\r\n"
	         "Subject: %s\r\n"
	         "Message-ID: <%s@example.org>\r\n"
	         "\r\n%s\r\n",
	         subject, subject, body);
	assert_int_equal(sb_dovecot_deliver(&dv, raw), 0);
}

/* doveadm's count of INBOX (or folder) messages matching a search. */
static long
count(const char *folder, const char *query)
{
	char args[256];

	snprintf(args, sizeof(args), "search -u %s mailbox %s %s", dv.user,
	         folder, query);
	return sb_doveadm(&dv, args);
}

struct got {
	uint32_t uid[64];
	char subject[64][32];
	size_t n;
	int stop_after; /* 0: never */
};

static int
on_msg(void *arg, uint32_t uid, const char *raw, size_t len)
{
	struct got *g = arg;
	const char *s;
	char *copy;

	assert_true(g->n < 64);
	/* The whole message: headers and body. */
	copy = strndup(raw, len);
	assert_non_null(copy);
	s = strstr(copy, "Subject: ");
	assert_non_null(s);
	sscanf(s + 9, "%31[^\r\n]", g->subject[g->n]);
	assert_non_null(strstr(copy, "\r\n\r\n"));
	free(copy);
	g->uid[g->n++] = uid;
	if (g->stop_after != 0 && (int)g->n == g->stop_after)
		return -1;
	return 0;
}

/* ------------------------------------------------------------ sign-in */

static void
test_wrong_ca_refused(void **st)
{
	struct email_imap_opts o;
	char err[512] = "";

	(void)st;
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = (uint16_t)dv.port;
	o.ca_file = NULL; /* the system's CAs never signed the test CA */
	o.user = dv.user;
	o.password = dv.password;
	o.timeout_s = 10;
	assert_null(email_imap_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "certificate"));
}

/*
 * The server also answers on 127.0.0.2, an address its certificate does
 * not name (it names localhost and 127.0.0.1): refused, although the
 * chain verifies.
 */
static void
test_wrong_name_refused(void **st)
{
	struct email_imap_opts o;
	struct email_imap *c;
	char err[512] = "";

	(void)st;
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.2";
	o.port = (uint16_t)dv.port;
	o.ca_file = dv.ca_file;
	o.user = dv.user;
	o.password = dv.password;
	o.timeout_s = 10;
	assert_null(email_imap_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "did not verify"));
	/* The same server by a name its certificate gives: taken. */
	o.host = "localhost";
	c = email_imap_open(&o, err, sizeof(err));
	if (c == NULL)
		fail_msg("localhost: %s", err);
	email_imap_close(c);
}

static void
test_wrong_password_refused(void **st)
{
	struct email_imap_opts o;
	char err[512] = "";

	(void)st;
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = (uint16_t)dv.port;
	o.ca_file = dv.ca_file;
	o.user = dv.user;
	o.password = "not-the-password";
	o.timeout_s = 10;
	assert_null(email_imap_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "LOGIN failed"));
	/* The server's own words are in the reason. */
	assert_non_null(strstr(err, "uthentication failed"));
}

/* ------------------------------------------------------ checkpoint */

static void
test_uids_fetch_seen_move(void **st)
{
	struct email_imap_box box;
	struct email_imap *c;
	struct got g;
	uint32_t *uids;
	size_t n;
	char err[512];

	(void)st;
	c = open_ok();
	assert_true(email_imap_can_idle(c));
	assert_int_equal(email_imap_select(c, "INBOX", &box, err, sizeof(err)),
	                 0);
	assert_true(box.uidvalidity > 0);
	/* Empty: nothing after 0. */
	assert_int_equal(
	        email_imap_uids_after(c, 0, 100, &uids, &n, err, sizeof(err)),
	        0);
	assert_int_equal(n, 0);
	free(uids);

	deliver("m1", "one");
	deliver("m2", "two");
	deliver("m3", "three");
	assert_int_equal(email_imap_select(c, "INBOX", &box, err, sizeof(err)),
	                 0);
	assert_int_equal(box.exists, 3);
	assert_int_equal(box.uidnext, 4);
	assert_int_equal(
	        email_imap_uids_after(c, 0, 100, &uids, &n, err, sizeof(err)),
	        0);
	assert_int_equal(n, 3);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[2], 3);
	free(uids);
	/* 4:* answers message 3: not after the checkpoint, dropped. */
	assert_int_equal(
	        email_imap_uids_after(c, 3, 100, &uids, &n, err, sizeof(err)),
	        0);
	assert_int_equal(n, 0);
	free(uids);
	/* The lowest max. */
	assert_int_equal(
	        email_imap_uids_after(c, 1, 1, &uids, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(uids[0], 2);
	free(uids);

	/* Fetched in UID order whatever the order asked, and not read. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(email_imap_fetch(c, (const uint32_t[]){3, 1, 2}, 3,
	                                  on_msg, &g, err, sizeof(err)),
	                 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.uid[0], 1);
	assert_string_equal(g.subject[0], "m1");
	assert_int_equal(g.uid[2], 3);
	assert_string_equal(g.subject[2], "m3");
	assert_int_equal(count("INBOX", "SEEN"), 0);
	/* A UID that is not there is skipped; the callback can stop. */
	memset(&g, 0, sizeof(g));
	g.stop_after = 1;
	assert_int_equal(email_imap_fetch(c, (const uint32_t[]){2, 3, 99}, 3,
	                                  on_msg, &g, err, sizeof(err)),
	                 -1);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.uid[0], 2);

	/* \Seen on what the caller committed, only. */
	assert_int_equal(email_imap_seen(c, (const uint32_t[]){1, 2}, 2, err,
	                                 sizeof(err)),
	                 0);
	assert_int_equal(count("INBOX", "SEEN"), 2);
	assert_int_equal(count("INBOX", "UNSEEN"), 1);

	/* MOVE to a processed folder. */
	assert_int_equal(sb_doveadm(&dv, "mailbox create -u council Done"), 0);
	assert_true(email_imap_can_move(c));
	assert_int_equal(email_imap_move(c, (const uint32_t[]){3}, 1, "Done",
	                                 err, sizeof(err)),
	                 0);
	assert_int_equal(count("INBOX", "ALL"), 2);
	assert_int_equal(count("Done", "ALL"), 1);
	/* Into a folder that does not exist: the server's refusal. */
	assert_int_equal(email_imap_move(c, (const uint32_t[]){1}, 1, "Nowhere",
	                                 err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "UID MOVE"));
	assert_int_equal(count("INBOX", "ALL"), 2);
	email_imap_close(c);
}

static void
test_uidvalidity_change(void **st)
{
	struct email_imap_box a, b;
	struct email_imap *c;
	char err[512], args[128];

	(void)st;
	c = open_ok();
	assert_int_equal(email_imap_select(c, "INBOX", &a, err, sizeof(err)),
	                 0);
	email_imap_close(c);
	snprintf(args, sizeof(args),
	         "mailbox update -u council --uid-validity %u INBOX",
	         (unsigned)a.uidvalidity + 7);
	assert_int_equal(sb_doveadm(&dv, args), 0);
	c = open_ok();
	assert_int_equal(email_imap_select(c, "INBOX", &b, err, sizeof(err)),
	                 0);
	assert_int_equal(b.uidvalidity, a.uidvalidity + 7);
	email_imap_close(c);
}

/* ------------------------------------------------------------- IDLE */

struct later {
	int wake_fd; /* -1: deliver mail instead */
	int rc;      /* checked after the join: cmocka asserts in main only */
};

static void *
act_later(void *arg)
{
	struct later *l = arg;

	usleep(300 * 1000);
	if (l->wake_fd >= 0)
		l->rc = write(l->wake_fd, "x", 1) == 1 ? 0 : -1;
	else
		l->rc = sb_dovecot_deliver(&dv, "From: r@example.org\r\n"
		                                "Subject: idle\r\n\r\n"
		                                "new mail during IDLE\r\n");
	return NULL;
}

static void
test_idle(void **st)
{
	struct email_imap_box box;
	struct email_imap *c;
	struct later l;
	pthread_t t;
	int pipefd[2];
	char err[512];
	time_t t0;

	(void)st;
	c = open_ok();
	assert_int_equal(email_imap_select(c, "INBOX", &box, err, sizeof(err)),
	                 0);
	/* New mail ends it early. */
	l.wake_fd = -1;
	assert_int_equal(pthread_create(&t, NULL, act_later, &l), 0);
	t0 = time(NULL);
	assert_int_equal(email_imap_idle(c, 20, -1, err, sizeof(err)), 1);
	assert_true(time(NULL) - t0 < 15);
	pthread_join(t, NULL);
	assert_int_equal(l.rc, 0);
	/* The caller's wake ends it with 0. */
	assert_int_equal(pipe(pipefd), 0);
	l.wake_fd = pipefd[1];
	assert_int_equal(pthread_create(&t, NULL, act_later, &l), 0);
	t0 = time(NULL);
	assert_int_equal(email_imap_idle(c, 20, pipefd[0], err, sizeof(err)),
	                 0);
	assert_true(time(NULL) - t0 < 15);
	pthread_join(t, NULL);
	assert_int_equal(l.rc, 0);
	/* Time runs out: 0. The session still works afterwards. */
	assert_int_equal(email_imap_idle(c, 1, -1, err, sizeof(err)), 0);
	assert_int_equal(email_imap_select(c, "INBOX", &box, err, sizeof(err)),
	                 0);
	close(pipefd[0]);
	close(pipefd[1]);
	email_imap_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_wrong_ca_refused),
	        cmocka_unit_test(test_wrong_name_refused),
	        cmocka_unit_test(test_wrong_password_refused),
	        cmocka_unit_test(test_uids_fetch_seen_move),
	        cmocka_unit_test(test_uidvalidity_change),
	        cmocka_unit_test(test_idle),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
