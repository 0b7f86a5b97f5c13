/*
 * staff.c: staff account rules (roles, login, password policy, Argon2id)
 * shared by the CLI and the admin API, and the CLI's account commands
 * (blocking libpq). See staff.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "staff.h"

/* At least the OWASP floor for Argon2id: m=19 MiB, t=2, p=1. */
#define PW_OPSLIMIT 2
#define PW_MEMLIMIT (19u * 1024u * 1024u)

int
gw_staff_role_valid(const char *role)
{
	static const char *const roles[] = {"advisor", "supervisor",
	                                    "feedback_officer", "admin"};
	unsigned i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(role, roles[i]) == 0)
			return 1;
	return 0;
}

const char *
gw_staff_login_problem(const char *login)
{
	size_t i, n = strlen(login);

	if (n == 0 || n > GW_LOGIN_MAX)
		return "login must be 1 to 128 characters";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)login[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("._@-", c) != NULL))
			return "login may hold only letters, digits and . _ @ "
			       "-";
	}
	return NULL;
}

const char *
gw_staff_name_problem(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > GW_NAME_MAX)
		return "name must be 1 to 200 bytes";
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return "name must not hold control characters";
	return NULL;
}

const char *
gw_staff_password_problem(const char *password, const char *login)
{
	size_t i, bytes = strnlen(password, GW_PASSWORD_MAX + 1), chars = 0;

	if (bytes == 0)
		return "the password is empty";
	if (bytes > GW_PASSWORD_MAX)
		return "the password is over 1024 bytes";
	for (i = 0; i < bytes; i++)
		if (((unsigned char)password[i] & 0xc0) != 0x80)
			chars++; /* a UTF-8 continuation byte is no character */
	if (chars < GW_PASSWORD_MIN)
		return "the password must be at least 12 characters";
	if (login != NULL && strcasecmp(password, login) == 0)
		return "the password must not be the login";
	return NULL;
}

void
gw_staff_random_password(char *out, size_t outlen)
{
	/* No look-alikes (0/O, 1/l/I) so a printed password can be typed. */
	static const char alphabet[] =
	        "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	size_t i, n = outlen > 21 ? 20 : outlen - 1;

	for (i = 0; i < n; i++)
		out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	out[n] = '\0';
}

int
gw_staff_hash_password(const char *password, char *out, size_t outlen)
{
	size_t len = strlen(password);

	if (outlen < crypto_pwhash_STRBYTES || len > GW_PASSWORD_MAX)
		return -1;
	return crypto_pwhash_str_alg(out, password, len, PW_OPSLIMIT,
	                             PW_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13);
}

int
gw_staff_verify_password(const char *hash, const char *password)
{
	size_t len = strlen(password);

	if (len > GW_PASSWORD_MAX)
		return 0;
	return crypto_pwhash_str_verify(hash, password, len) == 0;
}

static PGconn *
cli_connect(const char *conninfo, char *err, size_t errlen)
{
	const char *const keys[] = {"fallback_application_name", "dbname",
	                            NULL};
	const char *const vals[] = {"switchboard-cli", conninfo, NULL};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		conn = NULL;
	}
	return conn;
}

/* $1 login, $2 action, $3 revoke (bool); the change is the caller's CTE. */
#define SQL_ACCOUNT_TAIL GW_STAFF_SQL_TAIL("$3", "$2", "NULL", "'cli'", "NULL")

static int
account_change(const char *conninfo, const char *sql, const char *login,
               const char *action, int revoke, const char *extra,
               long long *revoked, char *err, size_t errlen)
{
	const char *params[4];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc = -1;

	*revoked = 0;
	conn = cli_connect(conninfo, err, errlen);
	if (conn == NULL)
		goto out;
	params[0] = login;
	params[1] = action;
	params[2] = revoke ? "true" : "false";
	params[3] = extra;
	res = PQexecParams(conn, sql, extra != NULL ? 4 : 3, NULL, params, NULL,
	                   NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		goto out;
	}
	if (PQntuples(res) != 1) {
		snprintf(err, errlen, "no user with login \"%s\"", login);
		goto out;
	}
	*revoked = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	rc = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int
gw_staff_passwd(const char *conninfo, const char *login, const char *password,
                long long *revoked, char *err, size_t errlen)
{
	static const char sql[] =
	        "WITH u AS (UPDATE staff_users SET password_hash = $4"
	        "  WHERE login = $1 RETURNING id, login)," SQL_ACCOUNT_TAIL;
	char hash[crypto_pwhash_STRBYTES];
	const char *why;
	int rc = -1;

	*revoked = 0;
	why = gw_staff_password_problem(password, login);
	if (why != NULL) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	if (gw_staff_hash_password(password, hash, sizeof(hash)) != 0) {
		snprintf(err, errlen, "cannot hash password");
		goto out;
	}
	rc = account_change(conninfo, sql, login, "staff.password_reset", 1,
	                    hash, revoked, err, errlen);
out:
	sodium_memzero(hash, sizeof(hash));
	return rc;
}

int
gw_staff_set_disabled(const char *conninfo, const char *login, int disabled,
                      long long *revoked, char *err, size_t errlen)
{
	static const char sql[] =
	        "WITH u AS (UPDATE staff_users SET disabled = $3::bool"
	        "  WHERE login = $1 RETURNING id, login)," SQL_ACCOUNT_TAIL;

	return account_change(conninfo, sql, login,
	                      disabled ? "staff.disable" : "staff.enable",
	                      disabled, NULL, revoked, err, errlen);
}

int
gw_staff_list(const char *conninfo, FILE *f, char *err, size_t errlen)
{
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc = -1, i;

	conn = cli_connect(conninfo, err, errlen);
	if (conn == NULL)
		goto out;
	res = PQexec(conn, "SELECT login, display_name, role, disabled"
	                   " FROM staff_users ORDER BY login");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		goto out;
	}
	fprintf(f, "login\tname\trole\tstate\n");
	for (i = 0; i < PQntuples(res); i++)
		fprintf(f, "%s\t%s\t%s\t%s\n", PQgetvalue(res, i, 0),
		        PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		        strcmp(PQgetvalue(res, i, 3), "t") == 0 ? "disabled"
		                                                : "enabled");
	rc = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int
gw_staff_add(const char *conninfo, const char *login, const char *name,
             const char *role, const char *password, char *err, size_t errlen)
{
	const char *const keys[] = {"fallback_application_name", "dbname",
	                            NULL};
	const char *const vals[] = {"switchboard-cli", conninfo, NULL};
	char hash[crypto_pwhash_STRBYTES];
	const char *params[4], *why;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc = -1;

	if (!gw_staff_role_valid(role)) {
		snprintf(err, errlen,
		         "role \"%s\" is not advisor, supervisor, "
		         "feedback_officer or admin",
		         role);
		goto out;
	}
	why = gw_staff_login_problem(login);
	if (why == NULL)
		why = gw_staff_name_problem(name);
	if (why == NULL)
		why = gw_staff_password_problem(password, login);
	if (why != NULL) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	if (gw_staff_hash_password(password, hash, sizeof(hash)) != 0) {
		snprintf(err, errlen, "cannot hash password");
		goto out;
	}
	conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "connect: %s", PQerrorMessage(conn));
		goto out;
	}
	params[0] = login;
	params[1] = name;
	params[2] = hash;
	params[3] = role;
	res = PQexecParams(conn,
	                   "INSERT INTO staff_users (login, display_name, "
	                   "password_hash, role) VALUES ($1, $2, $3, $4)",
	                   4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (code != NULL && strcmp(code, "23505") == 0)
			snprintf(err, errlen, "login \"%s\" already exists",
			         login);
		else
			snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(hash, sizeof(hash));
	PQclear(res);
	PQfinish(conn);
	return rc;
}
