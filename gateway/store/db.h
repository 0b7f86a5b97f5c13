/*
 * db.h: one managed PostgreSQL connection on the libuv loop: non-blocking
 * libpq in pipeline mode, driven from a uv_poll_t. It connects with
 * PQconnectStartParams/PQconnectPoll, reconnects with backoff for ever,
 * resets the connection when a request outlives query_timeout, and probes
 * the server (and the schema version) once a second.
 * Loop thread only.
 */
#ifndef GW_DB_H
#define GW_DB_H

#include <libpq-fe.h>
#include <uv.h>

struct db;

/*
 * Result of one statement. res is NULL when the connection was lost or
 * reset before the answer (err says why); otherwise it is owned by db and
 * valid only during the call (PGRES_PIPELINE_ABORTED when an earlier
 * statement of the same pipeline segment failed).
 */
typedef void (*db_result_cb)(void *arg, PGresult *res, const char *err);
/*
 * End of a pipeline segment (PQpipelineSync): ok is 1 when every
 * statement of the segment succeeded, 0 otherwise (err says why).
 */
typedef void (*db_sync_cb)(void *arg, int ok, const char *err);
typedef void (*db_state_cb)(void *arg, int up);
typedef void (*db_closed_cb)(void *arg);

struct db_options {
	const char *conninfo;
	int connect_timeout_ms;
	int query_timeout_ms;
	int probe_interval_ms; /* 0: no probe */
	int backoff_min_ms;
	int backoff_max_ms;
	/* Run first on every new connection (one statement), or NULL. */
	const char *session_sql;
};

struct db *db_new(uv_loop_t *loop, const struct db_options *opt);
void db_set_state_cb(struct db *db, db_state_cb cb, void *arg);
void db_start(struct db *db);
/* 1 when connected and the last probe (if any) answered. */
int db_ready(const struct db *db);
const char *db_status(const struct db *db);
/* Highest applied schema version seen by the probe, -1 if unknown. */
int db_schema_version(const struct db *db);
/*
 * Queues one statement (text parameters, text results) into the pipeline
 * without a sync. Returns 0, or -1 when not connected (no callback). cb
 * may be NULL. Nothing is sent until db_sync or db_query.
 */
int db_send(struct db *db, const char *sql, int nparams,
            const char *const *values, db_result_cb cb, void *arg);
/*
 * db_send for a statement run many times: prepared once per connection
 * (named by the address of sql, which must be a string constant) and then
 * executed without parsing or planning again. A failed prepare is retried
 * the next time. Beyond 32 distinct statements it falls back to db_send.
 */
int db_send_prepared(struct db *db, const char *sql, int nparams,
                     const char *const *values, db_result_cb cb, void *arg);
/* Ends the pipeline segment and flushes. Returns 0 or -1. */
int db_sync(struct db *db, db_sync_cb cb, void *arg);
/* db_send + db_sync: one statement in its own implicit transaction. */
int db_query(struct db *db, const char *sql, int nparams,
             const char *const *values, db_result_cb cb, void *arg);
/* Requests sent and not yet answered (statements and syncs). */
unsigned db_pending(const struct db *db);
/* Drops the connection now (tests, timeouts); it then reconnects. */
void db_reset(struct db *db, const char *why);
/* Closes, fails pending requests, frees db once handles are closed. */
void db_close(struct db *db, db_closed_cb cb, void *arg);

#endif
