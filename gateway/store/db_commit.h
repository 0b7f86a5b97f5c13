/*
 * db_commit.h: the group-commit writer. Writes submitted during one loop
 * turn are sent to PostgreSQL as one pipelined transaction
 * (w1; w2; ...; sync: one implicit transaction), so durable throughput is not
 * one fsync per write. While a transaction is in flight new writes gather for
 * the next one. Each caller is told only after COMMIT returned.
 *
 * If a statement fails, the transaction aborts; the writes of that batch
 * are then retried one per transaction, so only the bad write fails. A
 * write that fails alone with an error PostgreSQL asks clients to retry
 * (serialization_failure, deadlock_detected: a concurrent writer, such as
 * another instance storing the same idempotency key, won) is tried alone
 * again, up to DB_COMMIT_SERIAL_RETRIES times, before it is reported. If
 * the connection is lost while a batch is in flight its outcome is unknown
 * and every write of it is reported failed: writes must be idempotent
 * (e.g. INSERT ... ON CONFLICT on a provider id) so callers can retry.
 * Loop thread only.
 */
#ifndef GW_DB_COMMIT_H
#define GW_DB_COMMIT_H

#include <libpq-fe.h>
#include <uv.h>

#include "db.h"

struct db_commit;

/* Tries again of a write that failed alone by serialization or deadlock. */
#define DB_COMMIT_SERIAL_RETRIES 2

/*
 * ok = 1: committed; res is the statement's result (owned by the writer,
 * valid during the call). ok = 0: not committed (or outcome unknown after
 * a lost connection); err says why, res is NULL.
 */
typedef void (*db_commit_cb)(void *arg, int ok, const PGresult *res,
                             const char *err);

struct db_commit *db_commit_new(uv_loop_t *loop, struct db *db,
                                unsigned batch_max, unsigned queue_max);
/*
 * Queues one write. sql must stay valid until the callback (use string
 * constants); values are copied. Returns 0, or -1 with *reason set when
 * the database is unavailable or the queue is full (no callback then).
 */
int db_commit_submit(struct db_commit *w, const char *sql, int nparams,
                     const char *const *values, db_commit_cb cb, void *arg,
                     const char **reason);
/*
 * A statement that writes many rows at once. Each parameter $k is a
 * PostgreSQL array with one element per row (written as text, so the SQL
 * casts it: $1::bigint[]), typically unnested WITH ORDINALITY. The result
 * has at most one row per input row, and its first column is that row's
 * 1-based position in the arrays.
 *
 * Rows of one kind queued for the same transaction are sent as a single
 * statement, at the place of the first of them: a caller that needs an
 * order between kinds waits for the first write's callback. If the
 * statement fails, each row is retried alone (a one-row statement in its
 * own transaction), as for other writes.
 */
struct db_rows {
	const char *sql;
	int ncols;
};

/*
 * ok = 1: committed; res is the whole statement's result (owned by the
 * writer, valid during the call) and row the index of this row's result
 * row in it, or -1 when the statement returned none for it.
 */
typedef void (*db_commit_row_cb)(void *arg, int ok, const PGresult *res,
                                 int row, const char *err);

/* Queues one row of `kind` (ncols values, NULL for SQL NULL). */
int db_commit_submit_row(struct db_commit *w, const struct db_rows *kind,
                         const char *const *values, db_commit_row_cb cb,
                         void *arg, const char **reason);
/*
 * db_commit_submit_row for a write nobody waits on (history): it goes in a
 * transaction after every write queued the usual way, where the batch has
 * room, else in a later one, so a burst of them never delays the others.
 * It may therefore commit after writes submitted later.
 */
int db_commit_submit_row_later(struct db_commit *w, const struct db_rows *kind,
                               const char *const *values, db_commit_row_cb cb,
                               void *arg, const char **reason);
/*
 * Lets a batch that is not full wait until its oldest write is ms old
 * before it is sent (0, the default: sent at the end of the loop turn).
 * Fewer, larger transactions for writers whose callers can wait a little.
 */
void db_commit_set_linger(struct db_commit *w, unsigned ms);
/*
 * An ordered writer: one transaction in flight at a time instead of two,
 * so that every write commits in the order it was submitted, also when a
 * batch fails (a deadlock with another writer) and its writes are tried
 * again alone: with two in flight the next batch, already sent, would
 * commit before them. For a writer whose rows are versioned decisions that
 * must not overtake each other (the router's events).
 */
void db_commit_set_ordered(struct db_commit *w);
/* Statements sent so far (a row set counts once), for tests. */
unsigned long db_commit_statements(const struct db_commit *w);
/* Writes queued or in flight. */
unsigned db_commit_backlog(const struct db_commit *w);
/* Transactions committed so far (for tests and benchmarks). */
unsigned long db_commit_transactions(const struct db_commit *w);
/* Fails queued writes, closes handles; in-flight ones finish via db. */
void db_commit_free(struct db_commit *w);

#endif
