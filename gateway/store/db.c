/*
 * db.c: PostgreSQL connection management on the loop.
 *
 * Traps in libpq 15 + libuv 1.44 this file works around:
 *  - libpq may close and reopen its socket while it tries hosts, and libuv
 *    aborts on a reused fd it still watches: the poll is stopped before
 *    every PQconnectPoll and re-created whenever PQsocket changes;
 *  - an error status on the poll is treated as readable+writable, so
 *    libpq itself reports what went wrong.
 * Requests are kept in a FIFO matched against results in order: each
 * statement ends with a NULL result, each sync with PGRES_PIPELINE_SYNC
 * (no NULL after it). Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#define DB_TICK_MS 100

enum db_state {
	DB_IDLE = 0,
	DB_CONNECTING,
	DB_READY,
	DB_WAITING,
	DB_CLOSING,
};

struct db_req {
	struct db_req *next;
	int is_sync;
	db_result_cb rcb;
	db_sync_cb scb;
	void *arg;
	PGresult *res;
	uint64_t sent_ns;
};

#define DB_PREPARED_MAX 32

struct db_poll {
	uv_poll_t h;
	struct db *db;
	int events; /* what h was last started with */
};

struct db {
	uv_loop_t *loop;
	struct db_options opt;
	char *conninfo;
	enum db_state state;
	PGconn *conn;
	struct db_poll *poll;
	int fd;
	struct db_req *head, *tail;
	unsigned pending;
	int seg_failed;
	char seg_err[256];
	uv_timer_t tick, retry;
	int handles_open;
	int backoff_ms;
	uint64_t connect_at, progress_at, last_probe_at;
	int probe_inflight;
	int schema_version;
	const char *status;
	char status_buf[256];
	db_state_cb state_cb;
	void *state_arg;
	db_closed_cb closed_cb;
	void *closed_arg;
	/* Statements prepared on this connection (by SQL text pointer). */
	const char *prep_sql[DB_PREPARED_MAX];
	unsigned long conn_gen; /* connections made so far */
};

/* A PQsendPrepare in flight: its slot is forgotten if it fails. */
struct db_prep {
	struct db *db;
	unsigned slot;
	unsigned long gen;
};

static void db_connect(struct db *db);
static void db_on_poll(uv_poll_t *h, int status, int events);

static void
db_set_status(struct db *db, const char *why)
{
	size_t n;

	snprintf(db->status_buf, sizeof(db->status_buf), "%s", why);
	/* libpq messages end in a newline; a status is one line. */
	n = strlen(db->status_buf);
	while (n > 0 &&
	       (db->status_buf[n - 1] == '\n' || db->status_buf[n - 1] == ' '))
		db->status_buf[--n] = '\0';
	for (char *p = db->status_buf; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t' || *p == '"')
			*p = ' ';
	db->status = db->status_buf;
}

/* Counts a closed handle; the last one of a closing db frees it. */
static void
db_handle_closed(struct db *db)
{
	if (--db->handles_open > 0 || db->state != DB_CLOSING)
		return;
	if (db->closed_cb != NULL)
		db->closed_cb(db->closed_arg);
	free(db->conninfo);
	free(db);
}

static void
db_poll_closed(uv_handle_t *h)
{
	struct db_poll *p = h->data;
	struct db *db = p->db;

	free(p);
	db_handle_closed(db);
}

static void
db_unwatch(struct db *db)
{
	if (db->poll == NULL)
		return;
	uv_poll_stop(&db->poll->h);
	db->handles_open++;
	uv_close((uv_handle_t *)&db->poll->h, db_poll_closed);
	db->poll = NULL;
	db->fd = -1;
}

static int
db_watch(struct db *db, int events)
{
	int fd = PQsocket(db->conn);

	if (fd < 0)
		return -1;
	if (db->poll != NULL && db->fd != fd)
		db_unwatch(db);
	if (db->poll == NULL) {
		db->poll = xcalloc(1, sizeof(*db->poll));
		if (uv_poll_init(db->loop, &db->poll->h, fd) != 0) {
			free(db->poll);
			db->poll = NULL;
			return -1;
		}
		db->poll->h.data = db->poll;
		db->poll->db = db;
		db->fd = fd;
	}
	/*
	 * libuv's uv_poll_start first takes the descriptor out of epoll (a
	 * system call) and puts it back at the next poll: only when the
	 * events change, or libuv stopped the handle (it does on POLLERR).
	 */
	if (db->poll->events != events ||
	    !uv_is_active((uv_handle_t *)&db->poll->h)) {
		db->poll->events = events;
		uv_poll_start(&db->poll->h, events, db_on_poll);
	}
	return 0;
}

static void
db_on_retry(uv_timer_t *t)
{
	db_connect(t->data);
}

static void
db_schedule_retry(struct db *db)
{
	int delay = db->backoff_ms;

	db->state = DB_WAITING;
	delay += (int)(random() % (delay / 4 + 1));
	db->backoff_ms *= 2;
	if (db->backoff_ms > db->opt.backoff_max_ms)
		db->backoff_ms = db->opt.backoff_max_ms;
	uv_timer_start(&db->retry, db_on_retry, (uint64_t)delay, 0);
}

/* Fails every queued request; callbacks may queue more (they get -1). */
static void
db_fail_pending(struct db *db, const char *why)
{
	struct db_req *req;

	while ((req = db->head) != NULL) {
		db->head = req->next;
		if (db->head == NULL)
			db->tail = NULL;
		db->pending--;
		if (req->is_sync) {
			if (req->scb != NULL)
				req->scb(req->arg, 0, why);
		} else if (req->rcb != NULL) {
			req->rcb(req->arg, NULL, why);
		}
		PQclear(req->res);
		free(req);
	}
	db->seg_failed = 0;
}

static void
db_drop(struct db *db, const char *why)
{
	int was_ready = db->state == DB_READY;
	char reason[256];

	snprintf(reason, sizeof(reason), "%s", why);
	db_set_status(db, reason);
	db_unwatch(db);
	if (db->conn != NULL) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->probe_inflight = 0;
	memset(db->prep_sql, 0, sizeof(db->prep_sql));
	if (db->state != DB_CLOSING) {
		db->state = DB_WAITING;
		gw_metrics_error(GW_ERR_PG);
		if (was_ready)
			gw_warn("pg.lost", "reason=\"%s\"", db->status);
		else
			gw_debug("pg.connect_failed", "reason=\"%s\"",
			         db->status);
	}
	db_fail_pending(db, db->status);
	if (db->state == DB_CLOSING)
		return;
	if (was_ready && db->state_cb != NULL)
		db->state_cb(db->state_arg, 0);
	if (db->state == DB_WAITING)
		db_schedule_retry(db);
}

void
db_reset(struct db *db, const char *why)
{
	if (db->state == DB_READY || db->state == DB_CONNECTING)
		db_drop(db, why);
}

static void
db_probe_result(void *arg, PGresult *res, const char *err)
{
	struct db *db = arg;

	db->probe_inflight = 0;
	if (res == NULL)
		return;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		db->schema_version = atoi(PQgetvalue(res, 0, 0));
	else if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		/* undefined_table: nothing migrated yet. */
		if (code != NULL && strcmp(code, "42P01") == 0)
			db->schema_version = 0;
		else
			gw_warn("pg.probe_failed", "reason=\"%s\"",
			        err ? err : "error");
	}
}

static void
db_probe(struct db *db)
{
	db->last_probe_at = uv_now(db->loop);
	if (db_query(db,
	             "SELECT coalesce(max(version), 0) FROM "
	             "schema_migrations",
	             0, NULL, db_probe_result, db) == 0)
		db->probe_inflight = 1;
}

static void
db_notice(void *arg, const char *message)
{
	(void)arg;
	gw_debug("pg.notice", "msg=\"%.*s\"", (int)strcspn(message, "\n"),
	         message);
}

static void
on_session_sql(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	if (res == NULL || (PQresultStatus(res) != PGRES_TUPLES_OK &&
	                    PQresultStatus(res) != PGRES_COMMAND_OK))
		gw_warn("pg.session_settings_failed", "reason=\"%s\"",
		        err != NULL ? err : "no result");
}

static void
db_on_connected(struct db *db)
{
	PQsetNoticeProcessor(db->conn, db_notice, NULL);
	if (PQsetnonblocking(db->conn, 1) != 0 ||
	    PQenterPipelineMode(db->conn) != 1) {
		db_drop(db, PQerrorMessage(db->conn));
		return;
	}
	if (db_watch(db, UV_READABLE) != 0) {
		db_drop(db, "cannot watch socket");
		return;
	}
	db->state = DB_READY;
	db->conn_gen++;
	db->status = "ok";
	db->backoff_ms = db->opt.backoff_min_ms;
	gw_info("pg.ready", "server_version=%d", PQserverVersion(db->conn));
	/*
	 * First in the pipeline: everything after runs with these settings.
	 * JIT off on every connection: compiling a group-commit batch's
	 * statement (its row estimates are large) cost up to a second of a
	 * writer's one backend, every batch. A SET after connecting, not a
	 * startup option, so PgBouncer and PGOPTIONS are left alone.
	 */
	if (db_query(db, "SET jit = off", 0, NULL, on_session_sql, db) != 0)
		return;
	if (db->opt.session_sql != NULL &&
	    db_query(db, db->opt.session_sql, 0, NULL, on_session_sql, db) != 0)
		return;
	if (db->opt.probe_interval_ms > 0)
		db_probe(db);
	if (db->state_cb != NULL)
		db->state_cb(db->state_arg, 1);
}

static void
db_connect_step(struct db *db)
{
	PostgresPollingStatusType st;

	/* Stop watching first: libpq may close and reopen its socket. */
	if (db->poll != NULL) {
		uv_poll_stop(&db->poll->h);
		db->poll->events = 0;
	}
	st = PQconnectPoll(db->conn);
	switch (st) {
	case PGRES_POLLING_READING:
		if (db_watch(db, UV_READABLE) != 0)
			db_drop(db, "cannot watch socket");
		break;
	case PGRES_POLLING_WRITING:
		if (db_watch(db, UV_WRITABLE) != 0)
			db_drop(db, "cannot watch socket");
		break;
	case PGRES_POLLING_OK:
		db_on_connected(db);
		break;
	default:
		db_drop(db, PQerrorMessage(db->conn));
		break;
	}
}

static void
db_connect(struct db *db)
{
	const char *const keys[] = {"fallback_application_name", "dbname",
	                            NULL};
	const char *const vals[] = {"switchboard", db->conninfo, NULL};

	if (db->state == DB_CLOSING)
		return;
	db->state = DB_CONNECTING;
	db->connect_at = uv_now(db->loop);
	db->conn = PQconnectStartParams(keys, vals, 1);
	if (db->conn == NULL) {
		db_drop(db, "out of memory");
		return;
	}
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		db_drop(db, PQerrorMessage(db->conn));
		return;
	}
	if (db_watch(db, UV_WRITABLE) != 0)
		db_drop(db, "cannot watch socket");
}

static void
db_flush(struct db *db)
{
	int r = PQflush(db->conn);

	if (r < 0)
		db_drop(db, PQerrorMessage(db->conn));
	else if (db_watch(db, r == 1 ? UV_READABLE | UV_WRITABLE
	                             : UV_READABLE) != 0)
		db_drop(db, "cannot watch socket");
}

static struct db_req *
db_pop(struct db *db)
{
	struct db_req *req = db->head;

	db->head = req->next;
	if (db->head == NULL)
		db->tail = NULL;
	db->pending--;
	return req;
}

static void
db_drain(struct db *db)
{
	struct db_req *req;
	ExecStatusType st;
	PGresult *res;

	while (db->state == DB_READY && db->head != NULL &&
	       !PQisBusy(db->conn)) {
		res = PQgetResult(db->conn);
		req = db->head;
		db->progress_at = uv_now(db->loop);
		if (res == NULL) {
			if (req->is_sync)
				break;
			req = db_pop(db);
			gw_metrics_pg_rtt((double)(uv_hrtime() - req->sent_ns) /
			                  1e9);
			if (req->rcb != NULL)
				req->rcb(
				        req->arg, req->res,
				        req->res != NULL
				                ? PQresultErrorMessage(req->res)
				                : "no result");
			PQclear(req->res);
			free(req);
			continue;
		}
		st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			if (!req->is_sync) {
				db_drop(db, "pipeline out of step");
				return;
			}
			req = db_pop(db);
			{
				int ok = !db->seg_failed;
				char err[256];

				snprintf(err, sizeof(err), "%s", db->seg_err);
				db->seg_failed = 0;
				db->seg_err[0] = '\0';
				if (req->scb != NULL)
					req->scb(req->arg, ok, ok ? NULL : err);
			}
			free(req);
			continue;
		}
		if (req->is_sync) {
			PQclear(res);
			db_drop(db, "pipeline out of step");
			return;
		}
		if ((st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED) &&
		    !db->seg_failed) {
			db->seg_failed = 1;
			snprintf(db->seg_err, sizeof(db->seg_err), "%s",
			         st == PGRES_FATAL_ERROR
			                 ? PQresultErrorMessage(res)
			                 : "pipeline aborted");
		}
		PQclear(req->res);
		req->res = res;
	}
}

static void
db_on_poll(uv_poll_t *h, int status, int events)
{
	struct db_poll *p = h->data;
	struct db *db = p->db;

	if (status < 0)
		events = UV_READABLE | UV_WRITABLE;
	if (db->state == DB_CONNECTING) {
		db_connect_step(db);
		return;
	}
	if (db->state != DB_READY)
		return;
	if (events & UV_READABLE) {
		if (PQconsumeInput(db->conn) != 1) {
			db_drop(db, PQerrorMessage(db->conn));
			return;
		}
		db_drain(db);
	}
	if (db->state == DB_READY && (events & UV_WRITABLE))
		db_flush(db);
}

static void
db_on_tick(uv_timer_t *t)
{
	struct db *db = t->data;
	uint64_t now = uv_now(db->loop);

	if (db->state == DB_CONNECTING &&
	    now - db->connect_at > (uint64_t)db->opt.connect_timeout_ms) {
		db_drop(db, "connect timed out");
		return;
	}
	if (db->state != DB_READY)
		return;
	if (db->pending > 0 &&
	    now - db->progress_at > (uint64_t)db->opt.query_timeout_ms) {
		db_drop(db, "query timed out");
		return;
	}
	if (db->opt.probe_interval_ms > 0 && !db->probe_inflight &&
	    now - db->last_probe_at >= (uint64_t)db->opt.probe_interval_ms)
		db_probe(db);
}

/* ---------------------------------------------------------------- API */

struct db *
db_new(uv_loop_t *loop, const struct db_options *opt)
{
	struct db *db = xcalloc(1, sizeof(*db));

	db->loop = loop;
	db->opt = *opt;
	db->conninfo = xstrdup(opt->conninfo);
	db->opt.conninfo = db->conninfo;
	if (db->opt.connect_timeout_ms <= 0)
		db->opt.connect_timeout_ms = 5000;
	if (db->opt.query_timeout_ms <= 0)
		db->opt.query_timeout_ms = 15000;
	if (db->opt.backoff_min_ms <= 0)
		db->opt.backoff_min_ms = 100;
	if (db->opt.backoff_max_ms < db->opt.backoff_min_ms)
		db->opt.backoff_max_ms = 5000;
	db->backoff_ms = db->opt.backoff_min_ms;
	db->fd = -1;
	db->schema_version = -1;
	db->status = "not started";
	uv_timer_init(loop, &db->tick);
	uv_timer_init(loop, &db->retry);
	db->tick.data = db;
	db->retry.data = db;
	return db;
}

void
db_set_state_cb(struct db *db, db_state_cb cb, void *arg)
{
	db->state_cb = cb;
	db->state_arg = arg;
}

void
db_start(struct db *db)
{
	uv_timer_start(&db->tick, db_on_tick, DB_TICK_MS, DB_TICK_MS);
	db->status = "connecting";
	db_connect(db);
}

int
db_ready(const struct db *db)
{
	return db->state == DB_READY;
}

const char *
db_status(const struct db *db)
{
	return db->status;
}

int
db_schema_version(const struct db *db)
{
	return db->state == DB_READY ? db->schema_version : -1;
}

unsigned
db_pending(const struct db *db)
{
	return db->pending;
}

static struct db_req *
db_push(struct db *db, int is_sync, void *arg)
{
	struct db_req *req = xcalloc(1, sizeof(*req));

	req->is_sync = is_sync;
	req->arg = arg;
	req->sent_ns = uv_hrtime();
	if (db->tail != NULL)
		db->tail->next = req;
	else
		db->head = req;
	db->tail = req;
	if (db->pending++ == 0)
		db->progress_at = uv_now(db->loop);
	return req;
}

int
db_send(struct db *db, const char *sql, int nparams, const char *const *values,
        db_result_cb cb, void *arg)
{
	struct db_req *req;

	if (db->state != DB_READY)
		return -1;
	if (PQsendQueryParams(db->conn, sql, nparams, NULL, values, NULL, NULL,
	                      0) != 1) {
		db_drop(db, PQerrorMessage(db->conn));
		return -1;
	}
	req = db_push(db, 0, arg);
	req->rcb = cb;
	return 0;
}

static void
on_prepared(void *arg, PGresult *res, const char *err)
{
	struct db_prep *p = arg;

	(void)err;
	if ((res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) &&
	    p->gen == p->db->conn_gen)
		p->db->prep_sql[p->slot] = NULL; /* prepared again next time */
	free(p);
}

int
db_send_prepared(struct db *db, const char *sql, int nparams,
                 const char *const *values, db_result_cb cb, void *arg)
{
	struct db_prep *p;
	struct db_req *req;
	char name[16];
	unsigned i, free_slot = DB_PREPARED_MAX;

	if (db->state != DB_READY)
		return -1;
	for (i = 0; i < DB_PREPARED_MAX && db->prep_sql[i] != sql; i++)
		if (db->prep_sql[i] == NULL && free_slot == DB_PREPARED_MAX)
			free_slot = i;
	if (i == DB_PREPARED_MAX) {
		if (free_slot == DB_PREPARED_MAX)
			return db_send(db, sql, nparams, values, cb, arg);
		i = free_slot;
		snprintf(name, sizeof(name), "sb_%u", i);
		if (PQsendPrepare(db->conn, name, sql, nparams, NULL) != 1) {
			db_drop(db, PQerrorMessage(db->conn));
			return -1;
		}
		p = xcalloc(1, sizeof(*p));
		p->db = db;
		p->slot = i;
		p->gen = db->conn_gen;
		req = db_push(db, 0, p);
		req->rcb = on_prepared;
		db->prep_sql[i] = sql;
	}
	snprintf(name, sizeof(name), "sb_%u", i);
	if (PQsendQueryPrepared(db->conn, name, nparams, values, NULL, NULL,
	                        0) != 1) {
		db_drop(db, PQerrorMessage(db->conn));
		return -1;
	}
	req = db_push(db, 0, arg);
	req->rcb = cb;
	return 0;
}

int
db_sync(struct db *db, db_sync_cb cb, void *arg)
{
	struct db_req *req;

	if (db->state != DB_READY)
		return -1;
	if (PQpipelineSync(db->conn) != 1) {
		db_drop(db, PQerrorMessage(db->conn));
		return -1;
	}
	req = db_push(db, 1, arg);
	req->scb = cb;
	db_flush(db);
	return 0;
}

int
db_query(struct db *db, const char *sql, int nparams, const char *const *values,
         db_result_cb cb, void *arg)
{
	if (db_send(db, sql, nparams, values, cb, arg) != 0)
		return -1;
	return db_sync(db, NULL, NULL);
}

static void
db_timer_closed(uv_handle_t *h)
{
	db_handle_closed(h->data);
}

void
db_close(struct db *db, db_closed_cb cb, void *arg)
{
	if (db == NULL)
		return;
	db->state = DB_CLOSING;
	db->state_cb = NULL;
	db->closed_cb = cb;
	db->closed_arg = arg;
	db_drop(db, "closing");
	db->handles_open += 2;
	uv_close((uv_handle_t *)&db->tick, db_timer_closed);
	uv_close((uv_handle_t *)&db->retry, db_timer_closed);
}
