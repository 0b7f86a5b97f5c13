/*
 * staff.h: staff accounts from the command line (`switchboard user add`).
 * Passwords are hashed with Argon2id (libsodium, m=19 MiB, t=2, p=1 or
 * stronger) in PHC string format. Blocking; main thread of the CLI.
 */
#ifndef GW_STAFF_H
#define GW_STAFF_H

#include <stddef.h>

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

#endif
