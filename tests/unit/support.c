/*
 * support.c: see support.h. Test processes only.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "migrate.h"
#include "support.h"

int
sb_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Runs services.sh with: command, folder, and an optional argument. */
static int
services(const char *cmd, const char *dir, const char *arg)
{
	char line[1024];

	snprintf(line, sizeof(line), "%s %s '%s' %s", SERVICES_SH, cmd, dir,
	         arg ? arg : "");
	return system(line) == 0 ? 0 : -1;
}

static int
services_port(const char *cmd, const char *dir, int port)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", port);
	return services(cmd, dir, p);
}

static int
make_dir(char *out, size_t len, const char *prefix)
{
	snprintf(out, len, "/tmp/%s-XXXXXX", prefix);
	if (mkdtemp(out) == NULL)
		return -1;
	/* PostgreSQL runs as its own user when we are root. */
	chmod(out, 0777);
	return 0;
}

int
sb_pg_setup(struct sb_pg *pg)
{
	memset(pg, 0, sizeof(*pg));
	if (make_dir(pg->dir, sizeof(pg->dir), "sbtest-pg") != 0)
		return -1;
	pg->port = sb_free_port();
	snprintf(pg->conninfo, sizeof(pg->conninfo),
	         "hostaddr=127.0.0.1 port=%d dbname=switchboard "
	         "user=switchboard",
	         pg->port);
	if (services("pg-init", pg->dir, NULL) != 0)
		return -1;
	return sb_pg_start(pg);
}

int
sb_pg_setup_migrated(struct sb_pg *pg)
{
	char err[512];

	if (sb_pg_setup(pg) != 0)
		return -1;
	if (db_migrate_run(pg->conninfo, err, sizeof(err)) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return -1;
	}
	return 0;
}

int
sb_pg_start(struct sb_pg *pg)
{
	return services_port("pg-start", pg->dir, pg->port);
}

int
sb_pg_stop(struct sb_pg *pg, const char *mode)
{
	return services("pg-stop", pg->dir, mode);
}

void
sb_pg_teardown(struct sb_pg *pg)
{
	char cmd[512];

	if (pg->dir[0] == '\0')
		return;
	sb_pg_stop(pg, "immediate");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pg->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", pg->dir);
	pg->dir[0] = '\0';
}

static PGresult *
pg_run(const struct sb_pg *pg, const char *sql)
{
	PGconn *conn = PQconnectdb(pg->conninfo);
	PGresult *res = NULL;

	if (PQstatus(conn) == CONNECTION_OK)
		res = PQexec(conn, sql);
	else
		fprintf(stderr, "sb_pg: %s", PQerrorMessage(conn));
	PQfinish(conn);
	return res;
}

int
sb_pg_exec(const struct sb_pg *pg, const char *sql)
{
	PGresult *res = pg_run(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;

	if (rc != 0 && res != NULL)
		fprintf(stderr, "sb_pg_exec: %s", PQresultErrorMessage(res));
	PQclear(res);
	return rc;
}

long
sb_pg_value(const struct sb_pg *pg, const char *sql)
{
	PGresult *res = pg_run(pg, sql);
	long v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 &&
	    !PQgetisnull(res, 0, 0))
		v = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

long
sb_pg_valuef(const struct sb_pg *pg, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return -1;
	return sb_pg_value(pg, sql);
}

int
sb_redis_setup(struct sb_redis *r)
{
	memset(r, 0, sizeof(*r));
	if (make_dir(r->dir, sizeof(r->dir), "sbtest-redis") != 0)
		return -1;
	r->port = sb_free_port();
	return sb_redis_start(r);
}

int
sb_redis_start(struct sb_redis *r)
{
	return services_port("redis-start", r->dir, r->port);
}

int
sb_redis_stop(struct sb_redis *r)
{
	return services("redis-stop", r->dir, NULL);
}

void
sb_redis_teardown(struct sb_redis *r)
{
	char cmd[512];

	if (r->dir[0] == '\0')
		return;
	sb_redis_stop(r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", r->dir);
	r->dir[0] = '\0';
}

int
sb_dovecot_setup(struct sb_dovecot *d)
{
	return sb_dovecot_setup_oauth(d, NULL);
}

int
sb_dovecot_setup_oauth(struct sb_dovecot *d, const char *introspect_url)
{
	char line[1024];
	unsigned char rnd[8];
	FILE *f;
	size_t i;

	memset(d, 0, sizeof(*d));
	if (make_dir(d->dir, sizeof(d->dir), "sbtest-dovecot") != 0)
		return -1;
	d->port = sb_free_port();
	snprintf(d->user, sizeof(d->user), "council");
	f = fopen("/dev/urandom", "rb");
	if (f == NULL || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd)) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(d->password + 2 * i, sizeof(d->password) - 2 * i,
		         "%02x", rnd[i]);
	snprintf(d->ca_file, sizeof(d->ca_file), "%s/ca.pem", d->dir);
	snprintf(line, sizeof(line), "%s dovecot-start '%s' %d %s %s '%s'",
	         SERVICES_SH, d->dir, d->port, d->user, d->password,
	         introspect_url != NULL ? introspect_url : "");
	return system(line) == 0 ? 0 : -1;
}

void
sb_dovecot_teardown(struct sb_dovecot *d)
{
	char cmd[512];

	if (d->dir[0] == '\0')
		return;
	services("dovecot-stop", d->dir, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d->dir);
	d->dir[0] = '\0';
}

int
sb_dovecot_deliver(const struct sb_dovecot *d, const char *raw)
{
	char path[300], line[1024];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/deliver-XXXXXX", d->dir);
	rc = mkstemp(path);
	if (rc < 0)
		return -1;
	f = fdopen(rc, "wb");
	if (f == NULL) {
		close(rc);
		return -1;
	}
	fputs(raw, f);
	fclose(f);
	snprintf(line, sizeof(line), "%s dovecot-deliver '%s' %s '%s'",
	         SERVICES_SH, d->dir, d->user, path);
	rc = system(line) == 0 ? 0 : -1;
	unlink(path);
	return rc;
}

long
sb_doveadm(const struct sb_dovecot *d, const char *args)
{
	char line[1024], buf[512];
	long n = 0;
	FILE *p;

	snprintf(line, sizeof(line), "doveadm -c '%s/dovecot.conf' %s", d->dir,
	         args);
	p = popen(line, "r");
	if (p == NULL)
		return -1;
	while (fgets(buf, sizeof(buf), p) != NULL)
		n++;
	return pclose(p) == 0 ? n : -1;
}

static void
tick(uv_timer_t *t)
{
	(void)t;
}

int
sb_run_until(uv_loop_t *loop, int (*cond)(void *), void *arg, int timeout_ms)
{
	uv_timer_t t;
	uint64_t deadline;
	int ok = 0;

	uv_update_time(loop);
	deadline = uv_now(loop) + (uint64_t)timeout_ms;
	uv_timer_init(loop, &t);
	uv_timer_start(&t, tick, 5, 5);
	while (!(ok = cond(arg)) && uv_now(loop) < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return ok;
}

static int
never(void *arg)
{
	(void)arg;
	return 0;
}

void
sb_run_for(uv_loop_t *loop, int ms)
{
	sb_run_until(loop, never, NULL, ms);
}

int
sb_loop_finish(uv_loop_t *loop)
{
	int rc;

	uv_run(loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(loop);
	if (rc != 0)
		uv_print_all_handles(loop, stderr);
	return rc;
}
