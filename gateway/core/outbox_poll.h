/*
 * outbox_poll.h: the claim loop every outbox sender shares (email, SMS;
 * docs/architecture.md, "Durability"; migration 0026). Loop thread only.
 *
 * Every poll_ms, and at once again after a full batch once its rows are
 * done, it runs the sender's claim statement (sb_outbox_claim or a
 * channel's own: $1 the batch size, $2 the lease as an interval, then
 * the sender's extra parameters) unless a claim is in flight, rows of the
 * last batch are still being sent, or the database is not ready. Each row
 * claimed goes to row(arg, res, i); the sender calls outbox_poll_done once
 * for every row it was given, when its outcome is recorded (or given up:
 * the row's lease ends and any instance sends it again). Instances share
 * the work through the claim (SKIP LOCKED).
 */
#ifndef GW_OUTBOX_POLL_H
#define GW_OUTBOX_POLL_H

#include <stddef.h>

#include <libpq-fe.h>
#include <uv.h>

#include "db.h"

#define OUTBOX_POLL_EXTRA_MAX 2

struct outbox_poll;

typedef void (*outbox_poll_row_fn)(void *arg, const PGresult *res, int row);
typedef void (*outbox_poll_freed_fn)(void *arg);

struct outbox_poll_opts {
	const char *name;      /* in logs: "<name>.outbox_claim_failed" */
	const char *claim_sql; /* static text: db.c prepares by address */
	const char *extra[OUTBOX_POLL_EXTRA_MAX]; /* $3, $4 (borrowed) */
	size_t nextra;
	unsigned batch, poll_ms, lease_s;
	outbox_poll_row_fn row;
	void *arg;
};

/* Copies o (its strings are borrowed: they must outlive the poll). */
struct outbox_poll *outbox_poll_new(uv_loop_t *loop, struct db *db,
                                    const struct outbox_poll_opts *o);
void outbox_poll_start(struct outbox_poll *p);
/* One row given to row is finished. */
void outbox_poll_done(struct outbox_poll *p);
/* 1 once outbox_poll_free was called. */
int outbox_poll_closing(const struct outbox_poll *p);
/*
 * Stops claiming (rows claimed now are sent when their lease ends), and
 * calls freed(arg) once no claim is in flight, every row given out is
 * done and the timer is closed; the poll is then freed. NULL: no-op.
 */
void outbox_poll_free(struct outbox_poll *p, outbox_poll_freed_fn freed,
                      void *arg);

#endif
