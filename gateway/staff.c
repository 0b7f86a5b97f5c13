/*
 * staff.c: staff account helpers for the CLI. Blocking libpq and libsodium.
 */
#include <stdio.h>
#include <string.h>

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

int
gw_staff_add(const char *conninfo, const char *login, const char *name,
             const char *role, const char *password, char *err, size_t errlen)
{
	const char *const keys[] = {"fallback_application_name", "dbname",
	                            NULL};
	const char *const vals[] = {"switchboard-cli", conninfo, NULL};
	char hash[crypto_pwhash_STRBYTES];
	const char *params[4];
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
	if (login[0] == '\0' || strlen(login) > 128) {
		snprintf(err, errlen, "login must be 1-128 characters");
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
