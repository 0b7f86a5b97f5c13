/*
 * migrate.c: applies embedded migrations with a blocking libpq connection.
 * Runs on a worker thread (daemon start-up) or the main thread (the
 * `switchboard migrate` command). Each file goes as one simple-protocol
 * query, since files hold several statements and PL/pgSQL bodies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "migrate.h"

/* Arbitrary, fixed: the advisory lock key of the migration step. */
#define MIGRATE_LOCK_KEY "7262531011"

static void
set_err(char *err, size_t errlen, const char *what, PGconn *conn, PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res)
	                      : (conn ? PQerrorMessage(conn) : "");
	size_t n;

	snprintf(err, errlen, "%s: %s", what, msg);
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

/* Server notices ("relation already exists, skipping") go to our log. */
static void
migrate_notice(void *arg, const char *message)
{
	char buf[512];
	size_t n;

	(void)arg;
	snprintf(buf, sizeof(buf), "%s", message);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	gw_debug("pg.notice", "msg=\"%s\"", buf);
}

static int
exec_ok(PGconn *conn, const char *sql, const char *what, char *err,
        size_t errlen)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		set_err(err, errlen, what, conn, res);
	PQclear(res);
	return ok ? 0 : -1;
}

int
db_migrate_latest(void)
{
	int v = 0;
	unsigned i;

	for (i = 0; i < db_migrations_count; i++)
		if (db_migrations[i].version > v)
			v = db_migrations[i].version;
	return v;
}

static int
is_applied(const int *done, int ndone, int version)
{
	int i;

	for (i = 0; i < ndone; i++)
		if (done[i] == version)
			return 1;
	return 0;
}

int
db_migrate_apply(const char *conninfo, const struct db_migration *list,
                 unsigned n, char *err, size_t errlen)
{
	const char *const keys[] = {"fallback_application_name", "dbname",
	                            NULL};
	const char *const vals[] = {"switchboard-migrate", conninfo, NULL};
	PGconn *conn;
	PGresult *res = NULL;
	int *done = NULL, ndone = 0, applied = 0, rc = -1, locked = 0, i;
	char version[16];
	const char *params[2];
	unsigned k;

	conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) != CONNECTION_OK) {
		set_err(err, errlen, "connect", conn, NULL);
		goto out;
	}
	PQsetNoticeProcessor(conn, migrate_notice, NULL);
	if (exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
	            "advisory lock", err, errlen) != 0)
		goto out;
	locked = 1;
	if (exec_ok(conn,
	            "CREATE TABLE IF NOT EXISTS schema_migrations ("
	            " version integer PRIMARY KEY,"
	            " name text NOT NULL,"
	            " applied_at timestamptz NOT NULL DEFAULT now())",
	            "schema_migrations", err, errlen) != 0)
		goto out;
	res = PQexec(conn, "SELECT version FROM schema_migrations");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_err(err, errlen, "read schema_migrations", conn, res);
		goto out;
	}
	ndone = PQntuples(res);
	done = calloc((size_t)ndone + 1, sizeof(int));
	if (done == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < ndone; i++)
		done[i] = atoi(PQgetvalue(res, i, 0));
	PQclear(res);
	res = NULL;

	for (k = 0; k < n; k++) {
		if (is_applied(done, ndone, list[k].version))
			continue;
		if (exec_ok(conn, "BEGIN", "begin", err, errlen) != 0)
			goto out;
		if (exec_ok(conn, list[k].sql, list[k].name, err, errlen) !=
		    0) {
			PQclear(PQexec(conn, "ROLLBACK"));
			goto out;
		}
		snprintf(version, sizeof(version), "%d", list[k].version);
		params[0] = version;
		params[1] = list[k].name;
		res = PQexecParams(conn,
		                   "INSERT INTO schema_migrations (version, "
		                   "name) VALUES ($1, $2)",
		                   2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			set_err(err, errlen, list[k].name, conn, res);
			PQclear(res);
			res = NULL;
			PQclear(PQexec(conn, "ROLLBACK"));
			goto out;
		}
		PQclear(res);
		res = NULL;
		if (exec_ok(conn, "COMMIT", list[k].name, err, errlen) != 0)
			goto out;
		gw_info("migrate.applied", "version=%d name=%s",
		        list[k].version, list[k].name);
		applied++;
	}
	rc = applied;
out:
	PQclear(res);
	if (locked)
		PQclear(PQexec(conn,
		               "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY
		               ")"));
	free(done);
	PQfinish(conn);
	return rc;
}

int
db_migrate_run(const char *conninfo, char *err, size_t errlen)
{
	return db_migrate_apply(conninfo, db_migrations, db_migrations_count,
	                        err, errlen);
}
