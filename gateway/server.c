/*
 * server.c: wires the daemon together on one libuv loop and runs the
 * lifecycle: start-up, readiness, migrations on a worker thread, SIGHUP
 * reload, SIGTERM drain, and an orderly close so uv_loop_close() returns 0.
 * Main (loop) thread; the migration job runs on a libuv worker and touches
 * only its own job struct.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <unistd.h>
#include <uv.h>

#include "db.h"
#include "db_commit.h"
#include "http.h"
#include "http_files.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "api.h"
#include "bus.h"
#include "conversation.h"
#include "ingest.h"
#include "route.h"
#include "revoke.h"
#include "route_topics.h"
#include "route_ws.h"
#include "waiting.h"
#include "chat.h"
#include "email_config.h"
#include "email_desk.h"
#include "email_intake.h"
#include "email_outbox.h"
#include "sms.h"
#include "sms_config.h"
#include "sms_outbox.h"
#include "voice.h"
#include "form.h"
#include "session.h"
#include "server.h"
#include "xmalloc.h"

#define MAINT_INTERVAL_MS 500
#define DRAIN_POLL_MS     50
#define MIGRATE_RETRY_MS  5000
/* Staff sessions: 30 minutes idle, 12 hours at most. */
#define PRUNE_INTERVAL_MS 3600000
#define PRUNE_KEEP_S      (30 * 86400)
/*
 * PostgreSQL writer connections: for routing events, then one for the
 * channels. One routing writer: with two (events partitioned by
 * conversation), the routing benchmark on 2 cores got no more assignments
 * per second and twice the latency (more commits, the same CPU).
 */
#define ROUTE_WRITERS 1
/*
 * The routing writer's batches wait until their oldest event is this old
 * (ms): fewer, larger transactions. Nothing on the way to an offer waits
 * for them (offers are published before their events commit); an advisor's
 * accept or release is answered this much later, and PostgreSQL's CPU is
 * left to the channels' writer, whose commits residents do wait for.
 */
#define ROUTE_LINGER_MS 2
/*
 * Then one writer for the desks' and switchboard.v1 residents' writes, one
 * for the channels' (ingest: residents' messages, new contacts), and the
 * last for the providers' status webhooks (SMS receipts, call events):
 * thousands a second of small set-based writes, committed beside the
 * channels' so that neither waits for the other's batch (the SMS webhook
 * benchmark, docs/sms.md).
 */
#define W_DESKS    ROUTE_WRITERS
#define W_CHANNELS (ROUTE_WRITERS + 1)
#define W_HOOKS    (ROUTE_WRITERS + 2)
#define WRITERS    (ROUTE_WRITERS + 3)

struct migrate_job {
	uv_work_t req;
	struct gw_server *s;
	char *conninfo;
	int applied;
	char err[512];
};

struct gw_server {
	uv_loop_t loop;
	struct gw_config *cfg;
	struct gw_http *http;
	struct http_files *files; /* /widget/ and /desk/ */
	struct db *db;            /* reads and one-off statements */
	/*
	 * Two group-commit writers, each on its own connection: routing
	 * events, and what channels write (new contacts, messages). Their
	 * transactions commit side by side, so a large batch of one never
	 * holds up the other.
	 */
	/*
	 * Writers, each on its own connection: [0, ROUTE_WRITERS) carry the
	 * routing events (partitioned by conversation when there are more
	 * than one), the last the channels' writes.
	 */
	struct db *wdb[WRITERS];
	struct db_commit *commit[WRITERS];
	struct kv *kv;
	struct kv *kv_sub;    /* subscriber connection for routing events */
	struct kv *kv_revoke; /* subscriber connection for revocations */
	struct kv *kv_bus;    /* subscriber connection for the bus */
	struct bus *bus;
	struct conversation *conversation; /* desk operations */
	struct waiting *waiting;           /* contacts in a queue */
	struct gw_revoke *revoke;
	struct chat *chat;
	struct ingest *ingest; /* every channel's way in */
	struct form *form;
	struct sms *sms;                   /* SMS webhooks and desk part */
	struct sms_outbox *sms_outbox;     /* NULL: no SMS sender */
	struct voice *voice;               /* call events, screen pop */
	struct email_outbox *email_outbox; /* NULL: no email smtp section */
	struct email_intake **mailboxes;   /* one per email mailbox section */
	struct email_desk *email_desk;     /* replies and attachments */
	size_t nmailboxes;
	int mailboxes_started; /* once the schema is current */
	struct route *route;
	struct route_ws *route_ws;
	struct gw_session_store *sessions;
	struct gw_api *api;
	int route_started; /* told Redis is up (after migrations) */
	uint64_t prune_next_at;
	char instance[128];
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t maint;
	uv_timer_t drain;
	int draining;
	int closed;
	uint64_t drain_started;
	int exit_code;
	int migrate_running;
	uint64_t migrate_next_at;
	const char *migrate_error;
	char migrate_error_buf[512];
};

/* ---------------------------------------------------------------- ready */

/* Whether every PostgreSQL connection is up; else the first one's status. */
static const char *
pg_down(const struct gw_server *s)
{
	int i;

	if (!db_ready(s->db))
		return db_status(s->db);
	for (i = 0; i < WRITERS; i++)
		if (!db_ready(s->wdb[i]))
			return db_status(s->wdb[i]);
	return NULL;
}

static unsigned
commit_backlog(const struct gw_server *s)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < WRITERS; i++)
		n += db_commit_backlog(s->commit[i]);
	return n;
}

static int
server_ready(struct gw_server *s, char *buf, size_t len)
{
	int latest = db_migrate_latest(), have = db_schema_version(s->db);
	char mig[160], *pg, *redis, *routing;
	const char *down = pg_down(s);
	int pg_ok = down == NULL;
	int redis_ok = kv_ready(s->kv), mig_ok, ok;
	int route_ok = route_ready(s->route);
	json_t *o;
	char *text;

	mig_ok = pg_ok && have >= latest;
	if (!pg_ok)
		snprintf(mig, sizeof(mig), "unknown");
	else if (mig_ok)
		snprintf(mig, sizeof(mig), "current");
	else if (s->migrate_error != NULL)
		snprintf(mig, sizeof(mig), "pending (at %d, need %d): %s", have,
		         latest, s->migrate_error);
	else
		snprintf(mig, sizeof(mig), "pending (at %d, need %d)", have,
		         latest);
	pg = xstrdup(pg_ok ? "ok" : down);
	redis = xstrdup(redis_ok ? "ok" : kv_status(s->kv));
	routing = xstrdup(route_ok ? "ok" : route_status(s->route));
	ok = pg_ok && redis_ok && mig_ok && route_ok && !s->draining;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "status",
	              ok ? "ok" : (s->draining ? "draining" : "unavailable"),
	              "postgresql", pg, "redis", redis, "migrations", mig,
	              "routing", routing);
	/* Each mailbox's state is shown; a mailbox in error does not make
	 * the instance unready (chat and webhooks still work): it is
	 * alerted on through switchboard_email_mailbox_up. */
	if (s->nmailboxes > 0) {
		json_t *e = json_object();
		char st[512];
		size_t k;

		for (k = 0; k < s->nmailboxes; k++) {
			email_intake_status(s->mailboxes[k], st, sizeof(st));
			json_object_set_new(e,
			                    email_intake_name(s->mailboxes[k]),
			                    json_string(st));
		}
		json_object_set_new(o, "email", e);
	}
	text = json_dumps(o, JSON_COMPACT);
	snprintf(buf, len, "%s", text ? text : "{\"status\":\"unavailable\"}");
	free(text);
	json_decref(o);
	free(pg);
	free(redis);
	free(routing);
	return ok;
}

static char *
server_metrics(struct gw_server *s, size_t *len)
{
	struct gw_metrics_state st;
	char *text, *mail, *all;

	st.pg_up = pg_down(s) == NULL;
	st.redis_up = kv_ready(s->kv);
	st.migrations_current =
	        st.pg_up && db_schema_version(s->db) >= db_migrate_latest();
	st.commit_queue = commit_backlog(s);
	text = gw_metrics_render(&st, len);
	if (s->nmailboxes == 0)
		return text;
	mail = email_intake_metrics(s->mailboxes, s->nmailboxes);
	all = xasprintf("%s%s", text, mail);
	*len = strlen(all);
	free(text);
	free(mail);
	return all;
}

/* ---------------------------------------------------------------- migrate */

static void
migrate_work(uv_work_t *req)
{
	struct migrate_job *job = req->data;

	job->applied =
	        db_migrate_run(job->conninfo, job->err, sizeof(job->err));
}

static void
migrate_done(uv_work_t *req, int status)
{
	struct migrate_job *job = req->data;
	struct gw_server *s = job->s;

	s->migrate_running = 0;
	if (status == 0 && job->applied >= 0) {
		s->migrate_error = NULL;
		/* Let the probe see the new version before trying again. */
		s->migrate_next_at = uv_now(&s->loop) + MIGRATE_RETRY_MS;
		gw_info("migrate.done", "applied=%d version=%d", job->applied,
		        db_migrate_latest());
	} else {
		snprintf(s->migrate_error_buf, sizeof(s->migrate_error_buf),
		         "%s", status == 0 ? job->err : "cancelled");
		s->migrate_error = s->migrate_error_buf;
		s->migrate_next_at = uv_now(&s->loop) + MIGRATE_RETRY_MS;
		gw_error("migrate.failed", "reason=\"%s\"", s->migrate_error);
	}
	explicit_bzero(job->conninfo, strlen(job->conninfo));
	free(job->conninfo);
	free(job);
}

static void
maybe_migrate(struct gw_server *s)
{
	struct migrate_job *job;
	int have = db_schema_version(s->db);

	if (!s->cfg->migrate_on_start || s->migrate_running || s->draining ||
	    !db_ready(s->db) || have < 0 || have >= db_migrate_latest() ||
	    uv_now(&s->loop) < s->migrate_next_at)
		return;
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->conninfo = xstrdup(s->cfg->pg_conninfo);
	job->req.data = job;
	s->migrate_running = 1;
	gw_info("migrate.start", "at=%d need=%d", have, db_migrate_latest());
	uv_queue_work(&s->loop, &job->req, migrate_work, migrate_done);
}

/*
 * Routing starts once Redis is up and the schema is current (a rebuild
 * reads tables of the latest migrations).
 */
static void
maybe_start_routing(struct gw_server *s)
{
	if (s->route_started || s->draining || !kv_ready(s->kv) ||
	    db_schema_version(s->db) < db_migrate_latest())
		return;
	s->route_started = 1;
	route_kv_state(s->route, 1);
}

/* Mailboxes are read once the schema has their tables and functions. */
static void
maybe_start_mailboxes(struct gw_server *s)
{
	size_t i;

	if (s->mailboxes_started || s->draining ||
	    db_schema_version(s->db) < db_migrate_latest())
		return;
	s->mailboxes_started = 1;
	for (i = 0; i < s->nmailboxes; i++)
		email_intake_start(s->mailboxes[i]);
}

static void
on_maint(uv_timer_t *t)
{
	struct gw_server *s = t->data;
	uint64_t now = uv_now(&s->loop);

	maybe_migrate(s);
	maybe_start_routing(s);
	maybe_start_mailboxes(s);
	/* Ended sessions and old login attempts: kept 30 days, pruned hourly.
	 */
	if (db_ready(s->db) && now >= s->prune_next_at &&
	    db_schema_version(s->db) >= db_migrate_latest()) {
		s->prune_next_at = now + PRUNE_INTERVAL_MS;
		gw_session_prune(s->sessions, PRUNE_KEEP_S, NULL, NULL);
	}
}

/* ---------------------------------------------------------------- state */

static void
on_db_state(void *arg, int up)
{
	struct gw_server *s = arg;

	if (up)
		s->migrate_next_at = 0;
}

static void
on_kv_state(void *arg, int up)
{
	struct gw_server *s = arg;

	if (up) {
		maybe_start_routing(s);
	} else {
		s->route_started = 0;
		route_kv_state(s->route, 0);
	}
}

/* ---------------------------------------------------------------- signals */

static void server_close(struct gw_server *s);

static void
on_drain_tick(uv_timer_t *t)
{
	struct gw_server *s = t->data;
	uint64_t waited = uv_now(&s->loop) - s->drain_started;
	unsigned backlog = commit_backlog(s);
	unsigned ws = gw_http_ws_count(s->http);

	if (backlog == 0 && ws == 0 && !s->migrate_running) {
		gw_info("shutdown.drained", "waited_ms=%llu",
		        (unsigned long long)waited);
		server_close(s);
		return;
	}
	if (waited >= (uint64_t)s->cfg->shutdown_timeout * 1000) {
		gw_warn("shutdown.timeout",
		        "waited_ms=%llu writes_pending=%u websockets=%u",
		        (unsigned long long)waited, backlog, ws);
		s->exit_code = 0;
		server_close(s);
	}
}

static void
server_begin_drain(struct gw_server *s, int signum)
{
	if (s->draining) {
		gw_notice("shutdown.again", "signal=%d", signum);
		return;
	}
	s->draining = 1;
	s->drain_started = uv_now(&s->loop);
	gw_notice("shutdown.begin", "signal=%d websockets=%u writes_pending=%u",
	          signum, gw_http_ws_count(s->http), commit_backlog(s));
	gw_http_drain(s->http);
	uv_timer_start(&s->drain, on_drain_tick, 0, DRAIN_POLL_MS);
}

static void
server_reload(struct gw_server *s)
{
	char err[512];
	struct gw_config *n = gw_config_load(s->cfg->path, err, sizeof(err));

	if (n == NULL) {
		gw_error("reload.failed", "reason=\"%s\"", err);
		return;
	}
	s->cfg->log_level = n->log_level;
	s->cfg->log_format = n->log_format;
	gw_log_set_level(n->log_level);
	gw_log_set_format(n->log_format);
	if (strcmp(n->tls_certificate, s->cfg->tls_certificate) != 0 ||
	    strcmp(n->tls_key, s->cfg->tls_key) != 0 ||
	    n->listen_port != s->cfg->listen_port ||
	    strcmp(n->listen_address, s->cfg->listen_address) != 0 ||
	    strcmp(n->pg_conninfo, s->cfg->pg_conninfo) != 0 ||
	    strcmp(n->redis_address, s->cfg->redis_address) != 0 ||
	    n->redis_port != s->cfg->redis_port)
		gw_warn("reload.needs_restart",
		        "reason=\"listen, TLS file paths, PostgreSQL or Redis "
		        "settings changed; restart to apply them\"");
	if (gw_http_reload_tls(s->http, s->cfg) != 0)
		gw_error("reload.tls_failed",
		         "reason=\"cannot load certificate or key\"");
	gw_notice("reload.done", "log_level=%s",
	          gw_log_level_name(n->log_level));
	gw_config_free(n);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct gw_server *s = h->data;

	if (signum == SIGHUP)
		server_reload(s);
	else
		server_begin_drain(s, signum);
}

/* ---------------------------------------------------------------- close */

static void
server_close(struct gw_server *s)
{
	int i;

	if (s->closed)
		return;
	s->closed = 1;
	uv_close((uv_handle_t *)&s->sig_term, NULL);
	uv_close((uv_handle_t *)&s->sig_int, NULL);
	uv_close((uv_handle_t *)&s->sig_hup, NULL);
	uv_close((uv_handle_t *)&s->maint, NULL);
	uv_close((uv_handle_t *)&s->drain, NULL);
	gw_http_close(s->http);
	/* Ingested messages no longer go to the desks. */
	if (s->ingest != NULL)
		ingest_set_deliver(s->ingest, NULL, NULL);
	/* Its answers in flight find nothing and only free themselves. */
	chat_detach(s->chat);
	conversation_free(s->conversation);
	s->conversation = NULL;
	/* Redis first: pending routing calls are answered while route lives. */
	kv_close(s->kv, NULL, NULL);
	s->kv = NULL;
	route_kv_state(s->route, 0);
	kv_close(s->kv_sub, NULL, NULL);
	s->kv_sub = NULL;
	kv_close(s->kv_revoke, NULL, NULL);
	s->kv_revoke = NULL;
	kv_close(s->kv_bus, NULL, NULL);
	s->kv_bus = NULL;
	/* Closing: what it still answers tells no desk (the bus goes). */
	sms_free(s->sms);
	s->sms = NULL;
	voice_free(s->voice);
	s->voice = NULL;
	/* Its connections closed: publications in flight are told 0. */
	bus_free(s->bus);
	s->bus = NULL;
	/* Revocations still waiting for acknowledgements are answered. */
	gw_revoke_free(s->revoke);
	s->revoke = NULL;
	/* Stops claiming before db goes; sends in flight end on their own. */
	email_outbox_free(s->email_outbox);
	s->email_outbox = NULL;
	sms_outbox_free(s->sms_outbox);
	s->sms_outbox = NULL;
	/* Mailboxes: leases given back, threads stopped; what they handed
	 * over is answered (the db and ingest below) before they free. */
	for (i = 0; (size_t)i < s->nmailboxes; i++)
		email_intake_free(s->mailboxes[i]);
	free(s->mailboxes);
	s->mailboxes = NULL;
	s->nmailboxes = 0;
	/* The store answers what it has in flight, then db goes. */
	gw_session_store_free(s->sessions);
	gw_api_close(s->api);
	email_desk_free(s->email_desk);
	s->email_desk = NULL;
	s->sessions = NULL;
	/* db first: it fails in-flight writes through the writer. */
	db_close(s->db, NULL, NULL);
	s->db = NULL;
	for (i = 0; i < WRITERS; i++) {
		db_close(s->wdb[i], NULL, NULL);
		s->wdb[i] = NULL;
	}
	/* Gates still waiting are answered while the chat lives. */
	waiting_free(s->waiting);
	s->waiting = NULL;
	chat_free(s->chat);
	s->chat = NULL;
	form_free(s->form);
	s->form = NULL;
	ingest_free(s->ingest);
	s->ingest = NULL;
	route_ws_free(s->route_ws);
	s->route_ws = NULL;
	route_free(s->route);
	s->route = NULL;
	for (i = 0; i < WRITERS; i++) {
		db_commit_free(s->commit[i]);
		s->commit[i] = NULL;
	}
}

/* A revocation heard from any instance: this one's desks are closed. */
static void
on_revoke_apply(void *arg, long long staff, long long session, int logout)
{
	route_ws_revoke(arg, staff, session, logout);
}

/* ---------------------------------------------------------------- desks */

/* The bus's and desk operations' way to a desk socket. */
static int
server_ws_send(void *arg, unsigned long conn, const char *text)
{
	struct gw_server *s = arg;

	return gw_http_ws_send_text(s->http, conn, text);
}

/* Web forms (channels/form) deliver no replies yet: refused, never sent. */
static const struct conversation_channel_ops WEB_OPS = {
        .no_reply = "this channel cannot send replies yet"};

/* ---------------------------------------------------------------- probes */

/* The longest readiness answer. */
#define READY_JSON_MAX 32768

static void
answer(struct gw_server *s, unsigned long id, int status, const char *ctype,
       const char *body, size_t len)
{
	struct gw_http_response res = {status, ctype, body, len, NULL, 0};

	gw_http_answer(s->http, id, &res);
}

/* GET /healthz: the process runs. */
static void
on_healthz(void *arg, const struct gw_http_request *req)
{
	static const char ok[] = "{\"status\":\"ok\"}\n";

	answer(arg, req->id, 200, NULL, ok, sizeof(ok) - 1);
}

/* GET /readyz: 200 when every part is, else 503 with each one's reason. */
static void
on_readyz(void *arg, const struct gw_http_request *req)
{
	char ready[READY_JSON_MAX];
	int ok = server_ready(arg, ready, sizeof(ready) - 2);
	char *body = xasprintf("%s\n", ready);

	answer(arg, req->id, ok ? 200 : 503, NULL, body, strlen(body));
	free(body);
}

/* GET /metrics: Prometheus text. */
static void
on_metrics(void *arg, const struct gw_http_request *req)
{
	size_t len = 0;
	char *body = server_metrics(arg, &len);

	answer(arg, req->id, 200, "text/plain; version=0.0.4; charset=utf-8",
	       body, len);
	free(body);
}

/* GET /: the desk. */
static void
on_root(void *arg, const struct gw_http_request *req)
{
	struct gw_server *s = arg;
	struct gw_http_field to = {"Location", "/desk/"};
	struct gw_http_response res = {302, NULL, NULL, 0, &to, 1};

	gw_http_answer(s->http, req->id, &res);
}

/* The daemon's own routes; the modules register theirs. */
static void
server_routes(struct gw_server *s)
{
	static const struct {
		const char *path;
		unsigned flags;
		gw_http_handler_fn fn;
	} routes[] = {
	        {"/healthz", GW_HTTP_QUIET, on_healthz},
	        {"/readyz", GW_HTTP_QUIET, on_readyz},
	        {"/metrics", GW_HTTP_QUIET, on_metrics},
	        {"/", GW_HTTP_EXACT, on_root},
	};
	struct gw_http_route r;
	size_t i;

	for (i = 0; i < nitems(routes); i++) {
		memset(&r, 0, sizeof(r));
		r.methods = GW_HTTP_GET | GW_HTTP_HEAD;
		r.path = routes[i].path;
		r.flags = routes[i].flags;
		r.body_max = 0;
		r.handler = routes[i].fn;
		r.arg = s;
		gw_http_route_add(s->http, &r);
	}
	s->files = http_files_new(s->http, s->cfg);
}

/*
 * gw_http_start failed: everything made so far is closed, the loop run
 * until it has let go of every handle.
 */
static void
server_abandon(struct gw_server *s)
{
	server_close(s);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	gw_http_free(s->http);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&s->loop) != 0)
		gw_error("server.abandon", "reason=\"loop still busy\"");
	gw_api_free(s->api);
	http_files_free(s->files);
	gw_config_free(s->cfg);
	free(s);
}

struct gw_server *
gw_server_new(struct gw_config *cfg, char *err, size_t errlen)
{
	struct gw_server *s = xcalloc(1, sizeof(*s));
	struct db_options dbo;
	struct kv_options kvo;
	struct route_options ro;
	struct gw_session_throttle throttle;
	char n[16];
	int i;

	s->cfg = cfg;
	/* Must be set before the first uv_queue_work. */
	snprintf(n, sizeof(n), "%d", cfg->worker_threads);
	setenv("UV_THREADPOOL_SIZE", n, 0);
	if (uv_loop_init(&s->loop) != 0)
		fatalx("uv_loop_init");
	signal(SIGPIPE, SIG_IGN);
	gw_log_set_level(cfg->log_level);
	gw_log_set_format(cfg->log_format);

	s->http = gw_http_new(&s->loop, cfg);
	server_routes(s);

	memset(&dbo, 0, sizeof(dbo));
	dbo.conninfo = cfg->pg_conninfo;
	dbo.connect_timeout_ms = cfg->pg_connect_timeout * 1000;
	dbo.query_timeout_ms = cfg->pg_query_timeout * 1000;
	dbo.probe_interval_ms = 1000;
	dbo.backoff_min_ms = 100;
	dbo.backoff_max_ms = 5000;
	s->db = db_new(&s->loop, &dbo);
	db_set_state_cb(s->db, on_db_state, s);
	/*
	 * The writer's own connection, so a slow read never holds up a
	 * commit. Its writes touch a few rows by key. Statements run many times
	 * (group-commit row sets) are prepared, and their one generic plan is
	 * kept (planning this CTE costs more than running it); with seq scans
	 * off that plan uses the indexes even when it is made while the
	 * tables are still small (a fresh install), instead of scanning them
	 * for ever after.
	 */
	dbo.session_sql = "SELECT set_config('plan_cache_mode',"
	                  " 'force_generic_plan', false),"
	                  " set_config('enable_seqscan', 'off', false)";
	for (i = 0; i < WRITERS; i++) {
		s->wdb[i] = db_new(&s->loop, &dbo);
		s->commit[i] =
		        db_commit_new(&s->loop, s->wdb[i],
		                      (unsigned)cfg->commit_batch_max, 0);
		if (i < ROUTE_WRITERS) {
			db_commit_set_linger(s->commit[i], ROUTE_LINGER_MS);
			/*
			 * A routing decision must never commit after a newer
			 * one of its conversation: it would be recorded as
			 * superseded while Redis holds it (an advisor's slot
			 * held for a conversation their desk was refused).
			 */
			db_commit_set_ordered(s->commit[i]);
		}
	}

	memset(&kvo, 0, sizeof(kvo));
	kvo.address = cfg->redis_address;
	kvo.port = cfg->redis_port;
	kvo.password = cfg->redis_password;
	kvo.database = cfg->redis_database;
	kvo.timeout_ms = cfg->redis_timeout * 1000;
	kvo.ping_interval_ms = 1000;
	kvo.backoff_min_ms = 100;
	kvo.backoff_max_ms = 5000;
	s->kv = kv_new(&s->loop, &kvo);
	kv_set_state_cb(s->kv, on_kv_state, s);
	/* Redis answers PING differently to a subscriber: no probe there. */
	kvo.ping_interval_ms = 0;
	s->kv_sub = kv_new(&s->loop, &kvo);
	s->kv_revoke = kv_new(&s->loop, &kvo);
	s->kv_bus = kv_new(&s->loop, &kvo);

	if (cfg->router_instance[0] != '\0') {
		snprintf(s->instance, sizeof(s->instance), "%s",
		         cfg->router_instance);
	} else {
		char host[64] = "switchboard";

		gethostname(host, sizeof(host) - 1);
		snprintf(s->instance, sizeof(s->instance), "%s-%d", host,
		         (int)getpid());
	}
	memset(&ro, 0, sizeof(ro));
	ro.instance = s->instance;
	ro.grace_ms = cfg->router_grace * 1000;
	ro.max_missed = cfg->router_max_missed;
	ro.sweep_ms = cfg->router_sweep_ms;
	ro.presence_ms = 5000;
	s->route = route_new(&s->loop, s->kv, s->kv_sub, s->db, s->commit,
	                     ROUTE_WRITERS, &ro);
	s->sessions = gw_session_store_new(&s->loop, s->db, cfg->session_idle,
	                                   cfg->session_absolute);
	throttle.window_s = cfg->throttle_window;
	throttle.login_address = cfg->throttle_login_address;
	throttle.address = cfg->throttle_address;
	throttle.login = cfg->throttle_login;
	throttle.delay_ms = cfg->throttle_delay_ms;
	throttle.delay_max_ms = cfg->throttle_delay_max_ms;
	gw_session_set_throttle(s->sessions, &throttle);
	s->api = gw_api_new(&s->loop, s->http, s->sessions,
	                    cfg->session_absolute, s->db);
	gw_api_set_route(s->api, s->route);
	s->route_ws = route_ws_new(&s->loop, s->http, s->route, s->db,
	                           s->commit[W_DESKS], s->sessions);
	/* Each instance waits at most redis.timeout for the others' acks. */
	s->revoke = gw_revoke_new(&s->loop, s->kv, s->kv_revoke,
	                          cfg->redis_timeout * 1000);
	gw_revoke_set_apply(s->revoke, on_revoke_apply, s->route_ws);
	gw_api_set_revoke(s->api, s->revoke);
	route_topics_register(s->http, s->route_ws);
	s->bus = bus_new(&s->loop, s->kv, s->kv_bus, s->instance,
	                 server_ws_send, s);
	if (s->bus == NULL)
		fatalx("bus_new: cannot subscribe");
	s->conversation = conversation_new(&s->loop, s->db, s->commit[W_DESKS],
	                                   s->bus, s->route, server_ws_send, s);
	conversation_channel_register(s->conversation, "web", &WEB_OPS);
	s->email_desk =
	        email_desk_new(&s->loop, s->db, s->conversation, s->api);
	if (conversation_attach(s->conversation, s->route_ws) != 0)
		fatalx("route_ws: no room for the conversation hook");
	s->ingest = ingest_new(&s->loop, s->commit[W_CHANNELS], s->route);
	/* Every message ingested reaches the desks following it. */
	ingest_set_deliver(s->ingest, conversation_deliver, s->conversation);
	s->form = form_new(&s->loop, cfg, s->http, s->ingest);
	s->sms = sms_new(&s->loop, cfg, s->http, s->ingest, s->commit[W_HOOKS],
	                 s->bus, s->conversation);
	s->voice = voice_new(&s->loop, cfg, s->http, s->db, s->commit[W_HOOKS],
	                     s->bus, s->conversation);
	if (sms_config(cfg)->nsenders > 0) {
		s->sms_outbox = sms_outbox_new(&s->loop, s->db, s->bus,
		                               sms_config(cfg));
		sms_outbox_start(s->sms_outbox);
	}
	if (email_config(cfg)->smtp != NULL) {
		s->email_outbox = email_outbox_new(&s->loop, s->db, s->bus,
		                                   email_config(cfg));
		email_outbox_start(s->email_outbox);
	} else {
		gw_info("email.outbox_off",
		        "reason=\"no email smtp section: outbox email waits\"");
	}
	s->nmailboxes = email_config(cfg)->nmailboxes;
	s->mailboxes = xcalloc(s->nmailboxes + 1, sizeof(*s->mailboxes));
	for (i = 0; (size_t)i < s->nmailboxes; i++)
		s->mailboxes[i] = email_intake_new(
		        &s->loop, s->db, s->ingest, s->kv, s->bus, s->instance,
		        email_config(cfg)->mailboxes[i]);
	/* Contacts waiting in a queue: the gate, their places, routing news. */
	s->waiting = waiting_new(&s->loop, s->route,
	                         route_ws_queues(s->route_ws), s->db);
	if (waiting_attach(s->waiting, s->route_ws) != 0)
		fatalx("route_ws: no room for the waiting hook");
	s->chat = chat_new(&s->loop, cfg, s->http, s->waiting, s->db,
	                   s->commit[W_CHANNELS], s->ingest, s->kv, s->bus,
	                   s->conversation, s->instance);

	uv_signal_init(&s->loop, &s->sig_term);
	uv_signal_init(&s->loop, &s->sig_int);
	uv_signal_init(&s->loop, &s->sig_hup);
	s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
	uv_timer_init(&s->loop, &s->maint);
	uv_timer_init(&s->loop, &s->drain);
	s->maint.data = s->drain.data = s;
	/* Every route and subprotocol is registered: listen. */
	if (gw_http_start(s->http, err, errlen) != 0) {
		server_abandon(s);
		return NULL;
	}
	return s;
}

int
gw_server_run(struct gw_server *s)
{
	int rc, i;

	uv_signal_start(&s->sig_term, on_signal, SIGTERM);
	uv_signal_start(&s->sig_int, on_signal, SIGINT);
	uv_signal_start(&s->sig_hup, on_signal, SIGHUP);
	uv_timer_start(&s->maint, on_maint, MAINT_INTERVAL_MS,
	               MAINT_INTERVAL_MS);
	db_start(s->db);
	for (i = 0; i < WRITERS; i++)
		db_start(s->wdb[i]);
	kv_start(s->kv);
	kv_start(s->kv_sub);
	kv_start(s->kv_revoke);
	kv_start(s->kv_bus);
	gw_notice("server.start", "version=%s pid=%d schema=%d",
	          SWITCHBOARD_VERSION, (int)getpid(), db_migrate_latest());
	uv_run(&s->loop, UV_RUN_DEFAULT);
	/* lws may need one more pass to finish its asynchronous destroy. */
	uv_run(&s->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&s->loop);
	if (rc != 0) {
		gw_error("shutdown.loop_busy", "reason=\"%s\"",
		         uv_strerror(rc));
		uv_print_all_handles(&s->loop, stderr);
		return 1;
	}
	gw_notice("shutdown.complete", "exit_code=%d", s->exit_code);
	return s->exit_code;
}

void
gw_server_free(struct gw_server *s)
{
	if (s == NULL)
		return;
	/* After uv_run: late answers of the session store reached it. */
	gw_api_free(s->api);
	gw_http_free(s->http);
	http_files_free(s->files);
	gw_config_free(s->cfg);
	free(s);
}
