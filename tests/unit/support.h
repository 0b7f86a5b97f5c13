/*
 * support.h: helpers shared by the unit tests: free loopback ports,
 * throwaway PostgreSQL and Redis servers (through services.sh), blocking
 * SQL, and running a libuv loop until a condition holds.
 */
#ifndef SB_TEST_SUPPORT_H
#define SB_TEST_SUPPORT_H

#include <uv.h>

struct sb_pg {
	char dir[256];
	int port;
	char conninfo[256];
};

struct sb_redis {
	char dir[256];
	int port;
};

/* A throwaway Dovecot: IMAP over implicit TLS, one mailbox user. */
struct sb_dovecot {
	char dir[256];
	int port;
	char user[32];
	char password[32];
	char ca_file[300]; /* the test CA that signed its certificate */
};

/* A TCP port on 127.0.0.1 nobody listens on right now. */
int sb_free_port(void);

/* initdb into a new temp folder and start; returns 0 or -1. */
int sb_pg_setup(struct sb_pg *pg);
int sb_pg_start(struct sb_pg *pg);
/* sb_pg_setup, then every migration applied; 0 or -1 (said on stderr). */
int sb_pg_setup_migrated(struct sb_pg *pg);
/* mode: "fast" or "immediate". */
int sb_pg_stop(struct sb_pg *pg, const char *mode);
/* Stops the server and removes its folder. */
void sb_pg_teardown(struct sb_pg *pg);
/* Runs SQL on the switchboard database; returns 0 or -1. */
int sb_pg_exec(const struct sb_pg *pg, const char *sql);
/* First column of the first row as a number, or -1. */
long sb_pg_value(const struct sb_pg *pg, const char *sql);
/* The same, with SQL made by printf from fmt (-1 past 4 KiB too). */
__attribute__((format(printf, 2, 3))) long sb_pg_valuef(const struct sb_pg *pg,
                                                        const char *fmt, ...);

int sb_redis_setup(struct sb_redis *r);
int sb_redis_start(struct sb_redis *r);
int sb_redis_stop(struct sb_redis *r);
void sb_redis_teardown(struct sb_redis *r);

/* Starts Dovecot with user "council" and a random password. */
int sb_dovecot_setup(struct sb_dovecot *d);
/* The same, and XOAUTH2 checked against introspect_url (RFC 7662). */
int sb_dovecot_setup_oauth(struct sb_dovecot *d, const char *introspect_url);
void sb_dovecot_teardown(struct sb_dovecot *d);
/* Delivers raw (an RFC 5322 message) to the INBOX with dovecot-lda. */
int sb_dovecot_deliver(const struct sb_dovecot *d, const char *raw);
/*
 * Runs doveadm with args (after "-c <conf>"), e.g. "mailbox create -u
 * council Done"; its output's line count, or -1 when it failed.
 */
long sb_doveadm(const struct sb_dovecot *d, const char *args);

/*
 * Runs loop until cond(arg) returns non-zero or timeout_ms passes.
 * Returns 1 if the condition held, 0 on timeout.
 */
int sb_run_until(uv_loop_t *loop, int (*cond)(void *), void *arg,
                 int timeout_ms);
/* Runs the loop for ms milliseconds. */
void sb_run_for(uv_loop_t *loop, int ms);
/* Runs the loop until no handle is left, then closes it: returns rc. */
int sb_loop_finish(uv_loop_t *loop);

#endif
