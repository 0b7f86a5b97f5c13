/*
 * db_commit.c: group commit on top of db.c's pipeline. Up to DEPTH
 * transactions in flight at a time (one for an ordered writer); a uv_check
 * handle flushes what gathered once the loop has run this turn's
 * callbacks, and a uv_idle handle keeps the loop from blocking in poll
 * while writes wait and could be sent.
 * Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "db_commit.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

struct db_merged;

/*
 * Transactions in flight at once on the connection. With two, PostgreSQL
 * runs the next batch while the loop handles the answers to the last one
 * (which for the router means replies, offers and the Redis calls they
 * start) instead of waiting for them; the server still runs them one after
 * the other, in order.
 */
#define DEPTH 2

struct db_write {
	struct db_write *next;
	const char *sql;
	int nparams;
	char **values;
	db_commit_cb cb;
	const struct db_rows *rows; /* a row of a row set, or NULL */
	db_commit_row_cb rcb;
	struct db_merged *m; /* the statement it was sent in (row sets) */
	unsigned idx;        /* its position in that statement */
	void *arg;
	PGresult *res;
	int failed;
	int lost;         /* no answer: the connection went away */
	int solo;         /* retry alone after its batch aborted */
	int serial;       /* failed by a serialization failure or deadlock */
	unsigned retries; /* tried again alone for that */
	char *err;
	uint64_t at; /* loop time it was queued */
};

/* One row-set statement, shared by the rows it carried. */
struct db_merged {
	unsigned refs;
	unsigned n;
	struct db_write **wr; /* valid until its result arrives */
	PGresult *res;
	int *rowof; /* result row of each input row, or -1 */
};

struct db_segment {
	struct db_commit *w;
	struct db_write *writes; /* linked through next */
	unsigned n;
	int solo;
};

struct db_commit {
	uv_loop_t *loop;
	struct db *db;
	unsigned batch_max, queue_max;
	struct db_write *head, *tail;
	/* writes nobody waits on: sent after the others, where there is room */
	struct db_write *bg_head, *bg_tail;
	unsigned queued; /* both lists */
	unsigned inflight_writes;
	unsigned inflight_segments;
	unsigned long transactions;
	unsigned long statements;
	uv_check_t check;
	uv_idle_t idle;
	uv_timer_t linger_timer;
	unsigned linger_ms;
	int lingering;  /* the timer will flush: the loop may block */
	unsigned depth; /* transactions in flight at most: DEPTH, or 1 */
	int closing;
	int handles_open;
};

static void commit_arm(struct db_commit *w);

static void
merged_release(struct db_merged *m)
{
	if (m == NULL || --m->refs > 0)
		return;
	PQclear(m->res);
	free(m->rowof);
	free(m->wr);
	free(m);
}

static void
write_free(struct db_write *wr)
{
	int i;

	merged_release(wr->m);

	for (i = 0; i < wr->nparams; i++)
		free(wr->values[i]);
	free(wr->values);
	PQclear(wr->res);
	free(wr->err);
	free(wr);
}

static void
write_finish(struct db_write *wr, int ok, const char *err)
{
	if (wr->rows != NULL) {
		if (ok)
			wr->rcb(wr->arg, 1, wr->m->res, wr->m->rowof[wr->idx],
			        NULL);
		else
			wr->rcb(wr->arg, 0, NULL, -1, err);
	} else if (ok)
		wr->cb(wr->arg, 1, wr->res, NULL);
	else
		wr->cb(wr->arg, 0, NULL, err);
	write_free(wr);
}

/*
 * The error is one PostgreSQL asks the client to retry (SQLSTATE 40001
 * serialization_failure, 40P01 deadlock_detected): a concurrent writer
 * won, and the same statement again sees what it committed.
 */
static int
retryable(const PGresult *res)
{
	const char *code =
	        res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return code != NULL &&
	       (strcmp(code, "40001") == 0 || strcmp(code, "40P01") == 0);
}

static void
write_set_err(struct db_write *wr, const char *err)
{
	size_t n;

	if (wr->err != NULL)
		return;
	wr->err = xstrdup(err ? err : "failed");
	n = strlen(wr->err);
	while (n > 0 && wr->err[n - 1] == '\n')
		wr->err[--n] = '\0';
}

static void
on_write_result(void *arg, PGresult *res, const char *err)
{
	struct db_write *wr = arg;
	ExecStatusType st;

	if (res == NULL) {
		wr->failed = 1;
		wr->lost = 1;
		write_set_err(wr, err);
		return;
	}
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(wr->res);
		wr->res =
		        PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	} else {
		wr->failed = 1;
		wr->serial = retryable(res);
		write_set_err(wr, st == PGRES_PIPELINE_ABORTED
		                          ? "transaction aborted"
		                          : PQresultErrorMessage(res));
	}
}

/* The result of a row-set statement, for every row it carried. */
static void
on_merged_result(void *arg, PGresult *res, const char *err)
{
	struct db_merged *m = arg;
	ExecStatusType st =
	        res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int ok = res != NULL &&
	         (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
	unsigned i;
	long pos;
	int r;

	if (!ok) {
		for (i = 0; i < m->n; i++) {
			m->wr[i]->failed = 1;
			m->wr[i]->lost = res == NULL;
			m->wr[i]->serial = retryable(res);
			write_set_err(m->wr[i],
			              res == NULL ? err
			              : st == PGRES_PIPELINE_ABORTED
			                      ? "transaction aborted"
			                      : PQresultErrorMessage(res));
		}
		return;
	}
	PQclear(m->res);
	m->res = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	for (i = 0; i < m->n; i++)
		m->rowof[i] = -1;
	for (r = 0; r < PQntuples(m->res) && PQnfields(m->res) > 0; r++) {
		pos = strtol(PQgetvalue(m->res, r, 0), NULL, 10);
		if (pos >= 1 && pos <= (long)m->n && m->rowof[pos - 1] < 0)
			m->rowof[pos - 1] = r;
	}
}

/* Puts writes back at the queue's head, in order, to be tried alone. */
static void
requeue_solo(struct db_commit *w, struct db_write *list)
{
	struct db_write *last = list, *wr;

	for (wr = list; wr != NULL; wr = wr->next) {
		wr->solo = 1;
		wr->failed = 0;
		wr->serial = 0;
		wr->lost = 0;
		free(wr->err);
		wr->err = NULL;
		PQclear(wr->res);
		wr->res = NULL;
		merged_release(wr->m);
		wr->m = NULL;
		w->queued++;
		last = wr;
	}
	last->next = w->head;
	w->head = list;
	if (w->tail == NULL)
		w->tail = last;
}

static void
on_segment_sync(void *arg, int ok, const char *err)
{
	struct db_segment *seg = arg;
	struct db_commit *w = seg->w;
	struct db_write *wr, *next;
	int lost = 0;

	w->inflight_segments--;
	w->inflight_writes -= seg->n;
	for (wr = seg->writes; wr != NULL && !lost; wr = wr->next)
		lost = wr->lost;
	if (ok) {
		w->transactions++;
		gw_metrics_commit_batch(seg->n);
		for (wr = seg->writes; wr != NULL; wr = next) {
			next = wr->next;
			write_finish(wr, 1, NULL);
		}
	} else if (lost) {
		gw_metrics_error(GW_ERR_COMMIT);
		for (wr = seg->writes; wr != NULL; wr = next) {
			next = wr->next;
			write_finish(wr, 0, "connection lost; outcome unknown");
		}
	} else if (!seg->solo && seg->n > 1) {
		gw_debug("commit.retry_solo", "writes=%u reason=\"%s\"", seg->n,
		         err ? err : "");
		requeue_solo(w, seg->writes);
	} else if (seg->n == 1 && seg->writes->serial &&
	           seg->writes->retries < DB_COMMIT_SERIAL_RETRIES) {
		/* A concurrent writer won: the same write again sees it. */
		gw_debug("commit.retry_serial", "reason=\"%s\"",
		         seg->writes->err ? seg->writes->err : "");
		seg->writes->retries++;
		requeue_solo(w, seg->writes);
	} else {
		gw_metrics_error(GW_ERR_COMMIT);
		for (wr = seg->writes; wr != NULL; wr = next) {
			next = wr->next;
			write_finish(wr, 0, wr->err ? wr->err : err);
		}
	}
	free(seg);
	commit_arm(w);
}

static void
fail_queue(struct db_commit *w, const char *why)
{
	struct db_write *wr;

	while ((wr = w->head) != NULL) {
		w->head = wr->next;
		w->queued--;
		write_finish(wr, 0, why);
	}
	w->tail = NULL;
	while ((wr = w->bg_head) != NULL) {
		w->bg_head = wr->next;
		w->queued--;
		write_finish(wr, 0, why);
	}
	w->bg_tail = NULL;
}

static struct db_write *
take(struct db_commit *w, unsigned max, unsigned *n)
{
	struct db_write *first = w->head, *wr = first, *last = NULL;
	unsigned i = 0;

	while (wr != NULL && i < max && (i == 0 || !wr->solo)) {
		last = wr;
		wr = wr->next;
		i++;
		if (last->solo)
			break;
	}
	if (last != NULL)
		last->next = NULL;
	w->head = wr;
	if (wr == NULL)
		w->tail = NULL;
	w->queued -= i;
	/* Room left in a batch (not a retry alone): the background writes. */
	if (i < max && (last == NULL || !last->solo) && w->bg_head != NULL) {
		struct db_write *bfirst = w->bg_head, *b = bfirst,
		                *blast = NULL;
		unsigned j = 0;

		do {
			blast = b;
			b = b->next;
			j++;
		} while (b != NULL && i + j < max);
		blast->next = NULL;
		w->bg_head = b;
		if (b == NULL)
			w->bg_tail = NULL;
		w->queued -= j;
		if (last != NULL)
			last->next = bfirst;
		else
			first = bfirst;
		i += j;
	}
	*n = i;
	return first;
}

/* Appends one array element (a quoted string or NULL) to buf. */
static void
array_elem(char **buf, size_t *len, size_t *cap, const char *v, int first)
{
	size_t need = (v != NULL ? 2 * strlen(v) : 4) + 4;
	const char *p;
	char *o;

	if (*len + need > *cap) {
		*cap = (*len + need) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	o = *buf + *len;
	if (!first)
		*o++ = ',';
	if (v == NULL) {
		memcpy(o, "NULL", 4);
		o += 4;
	} else {
		*o++ = '"';
		for (p = v; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				*o++ = '\\';
			*o++ = *p;
		}
		*o++ = '"';
	}
	*len = (size_t)(o - *buf);
}

/*
 * Sends wr and every later row of its kind in the segment as one
 * statement whose parameters are arrays of their values.
 */
static int
send_rows(struct db_commit *w, struct db_write *wr)
{
	const struct db_rows *kind = wr->rows;
	struct db_merged *m = xcalloc(1, sizeof(*m));
	struct db_write *x;
	char **params;
	size_t len, cap;
	unsigned i;
	int k, rc;

	for (x = wr; x != NULL; x = x->next)
		if (x->rows == kind && x->m == NULL)
			m->n++;
	m->wr = xcalloc(m->n, sizeof(*m->wr));
	m->rowof = xcalloc(m->n, sizeof(*m->rowof));
	for (i = 0, x = wr; x != NULL; x = x->next)
		if (x->rows == kind && x->m == NULL) {
			x->m = m;
			x->idx = i;
			m->wr[i++] = x;
			m->refs++;
		}
	params = xcalloc((size_t)kind->ncols, sizeof(*params));
	for (k = 0; k < kind->ncols; k++) {
		cap = 64;
		len = 1;
		params[k] = xmalloc(cap);
		params[k][0] = '{';
		for (i = 0; i < m->n; i++)
			array_elem(&params[k], &len, &cap, m->wr[i]->values[k],
			           i == 0);
		params[k] = xrealloc(params[k], len + 2);
		params[k][len] = '}';
		params[k][len + 1] = '\0';
	}
	rc = db_send_prepared(w->db, kind->sql, kind->ncols,
	                      (const char *const *)params, on_merged_result, m);
	for (k = 0; k < kind->ncols; k++)
		free(params[k]);
	free(params);
	w->statements++;
	return rc;
}

/*
 * Statements between two syncs of a pipeline run in one implicit
 * transaction that the sync commits (or rolls back after an error), so a
 * batch needs no BEGIN/COMMIT and a failed one leaves no aborted block.
 */
static int
send_segment(struct db_commit *w, struct db_segment *seg)
{
	struct db_write *wr;

	for (wr = seg->writes; wr != NULL; wr = wr->next) {
		if (wr->rows != NULL) {
			if (wr->m == NULL && send_rows(w, wr) != 0)
				return -1;
			continue;
		}
		w->statements++;
		if (db_send(w->db, wr->sql, wr->nparams,
		            (const char *const *)wr->values, on_write_result,
		            wr) != 0)
			return -1;
	}
	return db_sync(w->db, on_segment_sync, seg);
}

static void flush(struct db_commit *w);

static void
commit_flush(uv_check_t *h)
{
	flush(h->data);
}

static void
on_linger(uv_timer_t *t)
{
	struct db_commit *w = t->data;

	w->lingering = 0;
	flush(w);
}

static void
flush(struct db_commit *w)
{
	struct db_segment *seg;
	uint64_t age;
	unsigned n;

	if (w->inflight_segments >= w->depth ||
	    (w->head == NULL && w->bg_head == NULL)) {
		commit_arm(w);
		return;
	}
	/*
	 * Lingering: a batch that is not full waits until its oldest write
	 * is linger_ms old, so that fewer, larger transactions commit.
	 */
	if (w->linger_ms > 0 && w->queued < w->batch_max) {
		age = uv_now(w->loop) -
		      (w->head != NULL ? w->head : w->bg_head)->at;
		if (age < w->linger_ms) {
			if (!w->lingering) {
				w->lingering = 1;
				uv_timer_start(&w->linger_timer, on_linger,
				               w->linger_ms - age, 0);
			}
			commit_arm(w);
			return;
		}
	}
	if (w->lingering) {
		w->lingering = 0;
		uv_timer_stop(&w->linger_timer);
	}
	if (!db_ready(w->db)) {
		fail_queue(w, "database unavailable");
		commit_arm(w);
		return;
	}
	seg = xcalloc(1, sizeof(*seg));
	seg->w = w;
	seg->writes = take(w, w->batch_max, &n);
	seg->n = n;
	seg->solo = seg->writes->solo;
	w->inflight_segments++;
	w->inflight_writes += n;
	/*
	 * On a send failure db has dropped the connection and failed what
	 * it had queued, but this segment's sync was never queued: nothing
	 * of it can have committed, and its writes are finished here.
	 */
	if (send_segment(w, seg) != 0) {
		struct db_write *wr;

		for (wr = seg->writes; wr != NULL; wr = wr->next) {
			wr->failed = 1;
			wr->lost = 1;
			write_set_err(wr, "connection lost");
		}
		on_segment_sync(seg, 0, "connection lost");
		return;
	}
	commit_arm(w);
}

static void
commit_idle(uv_idle_t *h)
{
	(void)h;
}

/* Keeps check/idle active exactly while there is something to flush. */
static void
commit_arm(struct db_commit *w)
{
	if (w->closing)
		return;
	if (w->head != NULL || w->bg_head != NULL) {
		uv_check_start(&w->check, commit_flush);
		if (w->inflight_segments < w->depth && !w->lingering)
			uv_idle_start(&w->idle, commit_idle);
		else
			uv_idle_stop(&w->idle);
	} else {
		uv_check_stop(&w->check);
		uv_idle_stop(&w->idle);
	}
}

struct db_commit *
db_commit_new(uv_loop_t *loop, struct db *db, unsigned batch_max,
              unsigned queue_max)
{
	struct db_commit *w = xcalloc(1, sizeof(*w));

	w->loop = loop;
	w->db = db;
	w->batch_max = batch_max ? batch_max : 256;
	w->queue_max = queue_max ? queue_max : 65536;
	w->depth = DEPTH;
	uv_check_init(loop, &w->check);
	uv_idle_init(loop, &w->idle);
	uv_timer_init(loop, &w->linger_timer);
	w->check.data = w;
	w->idle.data = w;
	w->linger_timer.data = w;
	return w;
}

void
db_commit_set_linger(struct db_commit *w, unsigned ms)
{
	w->linger_ms = ms;
}

void
db_commit_set_ordered(struct db_commit *w)
{
	w->depth = 1;
}

static struct db_write *
write_new(struct db_commit *w, const char *sql, int nparams,
          const char *const *values, void *arg, const char **reason)
{
	struct db_write *wr;
	int i;

	if (w->closing) {
		*reason = "shutting down";
		return NULL;
	}
	if (!db_ready(w->db)) {
		*reason = "database unavailable";
		return NULL;
	}
	if (w->queued >= w->queue_max) {
		*reason = "write queue full";
		return NULL;
	}
	wr = xcalloc(1, sizeof(*wr));
	wr->sql = sql;
	wr->nparams = nparams;
	wr->values = xcalloc((size_t)nparams + 1, sizeof(char *));
	for (i = 0; i < nparams; i++)
		wr->values[i] = values[i] ? xstrdup(values[i]) : NULL;
	wr->arg = arg;
	wr->at = uv_now(w->loop);
	return wr;
}

static void
write_enqueue(struct db_commit *w, struct db_write *wr)
{
	if (w->tail != NULL)
		w->tail->next = wr;
	else
		w->head = wr;
	w->tail = wr;
	w->queued++;
	commit_arm(w);
}

static void
write_enqueue_bg(struct db_commit *w, struct db_write *wr)
{
	if (w->bg_tail != NULL)
		w->bg_tail->next = wr;
	else
		w->bg_head = wr;
	w->bg_tail = wr;
	w->queued++;
	commit_arm(w);
}

int
db_commit_submit(struct db_commit *w, const char *sql, int nparams,
                 const char *const *values, db_commit_cb cb, void *arg,
                 const char **reason)
{
	struct db_write *wr = write_new(w, sql, nparams, values, arg, reason);

	if (wr == NULL)
		return -1;
	wr->cb = cb;
	write_enqueue(w, wr);
	return 0;
}

static int
submit_row(struct db_commit *w, const struct db_rows *kind,
           const char *const *values, db_commit_row_cb cb, void *arg,
           const char **reason, int later)
{
	struct db_write *wr =
	        write_new(w, kind->sql, kind->ncols, values, arg, reason);

	if (wr == NULL)
		return -1;
	wr->rows = kind;
	wr->rcb = cb;
	if (later)
		write_enqueue_bg(w, wr);
	else
		write_enqueue(w, wr);
	return 0;
}

int
db_commit_submit_row(struct db_commit *w, const struct db_rows *kind,
                     const char *const *values, db_commit_row_cb cb, void *arg,
                     const char **reason)
{
	return submit_row(w, kind, values, cb, arg, reason, 0);
}

int
db_commit_submit_row_later(struct db_commit *w, const struct db_rows *kind,
                           const char *const *values, db_commit_row_cb cb,
                           void *arg, const char **reason)
{
	return submit_row(w, kind, values, cb, arg, reason, 1);
}

unsigned long
db_commit_statements(const struct db_commit *w)
{
	return w->statements;
}

unsigned
db_commit_backlog(const struct db_commit *w)
{
	return w->queued + w->inflight_writes;
}

unsigned long
db_commit_transactions(const struct db_commit *w)
{
	return w->transactions;
}

static void
commit_handle_closed(uv_handle_t *h)
{
	struct db_commit *w = h->data;

	if (--w->handles_open == 0)
		free(w);
}

void
db_commit_free(struct db_commit *w)
{
	if (w == NULL)
		return;
	fail_queue(w, "shutting down");
	w->closing = 1;
	w->handles_open = 3;
	uv_close((uv_handle_t *)&w->check, commit_handle_closed);
	uv_close((uv_handle_t *)&w->idle, commit_handle_closed);
	uv_close((uv_handle_t *)&w->linger_timer, commit_handle_closed);
}
