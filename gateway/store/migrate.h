/*
 * migrate.h: versioned SQL migrations compiled into the binary from
 * gateway/store/migrations/NNNN_name.sql, applied in order, each in its own
 * transaction, under a PostgreSQL advisory lock so several instances may
 * start at once. Blocking: call from a worker thread or the CLI, never on
 * the loop thread.
 */
#ifndef GW_MIGRATE_H
#define GW_MIGRATE_H

#include <stddef.h>

struct db_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct db_migration db_migrations[];
extern const unsigned db_migrations_count;

/* The schema version this binary needs (highest embedded version). */
int db_migrate_latest(void);
/*
 * Connects with conninfo, takes the lock, applies what is missing.
 * Returns the number applied (0 when current), or -1 with err filled.
 */
int db_migrate_run(const char *conninfo, char *err, size_t errlen);
/* Same, with an explicit migration list (tests). */
int db_migrate_apply(const char *conninfo, const struct db_migration *list,
                     unsigned n, char *err, size_t errlen);

#endif
