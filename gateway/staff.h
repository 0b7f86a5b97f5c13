/*
 * staff.h: staff accounts from the command line (`switchboard user add`,
 * `passwd`, `disable`, `enable`, `list`).
 * Passwords are hashed with Argon2id (libsodium, m=19 MiB, t=2, p=1 or
 * stronger) in PHC string format. Blocking; main thread of the CLI.
 */
#ifndef GW_STAFF_H
#define GW_STAFF_H

#include <stddef.h>
#include <stdio.h>

#define GW_PASSWORD_MAX 1024

/* 1 if role is advisor, supervisor, feedback_officer or admin. */
int gw_staff_role_valid(const char *role);
/* Fills out (>= 21 bytes) with a random 20-character password. */
void gw_staff_random_password(char *out, size_t outlen);
/* Argon2id PHC string of password into out (crypto_pwhash_STRBYTES). */
int gw_staff_hash_password(const char *password, char *out, size_t outlen);
/* 1 if password matches the stored PHC string. */
int gw_staff_verify_password(const char *hash, const char *password);
/*
 * Inserts a staff user. Returns 0, or -1 with err filled (duplicate login,
 * bad role, database unreachable).
 */
int gw_staff_add(const char *conninfo, const char *login, const char *name,
                 const char *role, const char *password, char *err,
                 size_t errlen);
/*
 * Sets a new password for login, revokes every live session of the user
 * and writes audit_log (actor 'cli', staff.password_reset), in one
 * statement. *revoked is the number of sessions ended. Returns 0, or -1
 * with err filled (no such login, password too long, database).
 */
int gw_staff_passwd(const char *conninfo, const char *login,
                    const char *password, long long *revoked, char *err,
                    size_t errlen);
/*
 * Disables (disabled 1: sessions revoked too, staff.disable) or enables
 * (staff.enable) login, with its audit_log row, in one statement.
 */
int gw_staff_set_disabled(const char *conninfo, const char *login, int disabled,
                          long long *revoked, char *err, size_t errlen);
/* Writes "login<TAB>name<TAB>role<TAB>enabled|disabled" lines to f. */
int gw_staff_list(const char *conninfo, FILE *f, char *err, size_t errlen);

#endif
