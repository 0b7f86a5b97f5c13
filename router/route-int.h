/*
 * route-int.h: the router's state, shared by route.c and route_rebuild.c
 * only. Loop thread only.
 */
#ifndef GW_ROUTE_INT_H
#define GW_ROUTE_INT_H

#include "route.h"

#define ROUTE_MAX_SCRIPTS 24

enum route_state {
	ROUTE_IDLE = 0,   /* Redis down */
	ROUTE_LOADING,    /* SCRIPT LOAD and GET sb:epoch in flight */
	ROUTE_REBUILDING, /* this instance holds the rebuild lock */
	ROUTE_WAITING,    /* another instance is rebuilding */
	ROUTE_READY,
};

struct route {
	uv_loop_t *loop;
	struct kv *kv, *sub;
	struct db *db;
	/*
	 * Routing event writers: a conversation's events always go to the
	 * same one (id modulo nw), an advisor's status changes likewise.
	 */
	struct db_commit **w;
	size_t nw;
	struct route_options opt;
	char *instance;
	char origin[48];     /* tags this process's messages on sb:route */
	char origin_tag[64]; /* "from":"<origin>", as it appears in them */
	size_t origin_tag_len;
	enum route_state state;
	const char *status;
	unsigned long long epoch;
	/*
	 * The highest decision counter (version & 0xffffffff) this instance
	 * got from Redis in this epoch. Its calls are answered in order and
	 * every decision takes the next value of one counter, so a smaller
	 * one later means Redis lost writes (a failover to a replica that
	 * was behind): routing is then rebuilt from PostgreSQL.
	 */
	unsigned long long max_seq;
	unsigned gen; /* bumped when Redis goes: late replies are ignored */
	char sha[ROUTE_MAX_SCRIPTS][41];
	unsigned loading;
	uv_timer_t sweep, presence, wait;
	uv_timer_t lease;      /* renews the rebuild lock (route_rebuild.c) */
	uv_timer_t hold_timer; /* snapshots waiting for a commit (route.c) */
	struct hold *holds;
	int handles_open;
	int sweep_inflight;
	int settings_inflight;
	/*
	 * The settings last applied in Redis (and their epoch): the same
	 * settings read again are not applied again, which would refresh
	 * every advisor inside one script and stall Redis for milliseconds.
	 */
	char *settings_applied, *settings_sending;
	unsigned long long settings_epoch;
	int strays_inflight;
	uv_timer_t settings;
	char **desks; /* advisors whose desks this instance holds */
	size_t ndesks, capdesks;
	route_event_cb event_cb;
	route_epoch_cb epoch_cb;
	void *cb_arg;
	/* rebuild progress */
	unsigned long long rebuild_epoch;
	/*
	 * Transactions (virtual ids, a PostgreSQL text[] literal) open when
	 * the epoch was incremented: the rebuild reads only once they ended.
	 */
	char *rebuild_fence;
	uint64_t rebuild_fence_at; /* loop time it was listed */
	unsigned rebuild_pending;
	int rebuild_failed;
	size_t gc_deleted;
	struct route_stream *stream;
};

/*
 * The drainer (route_stream.c): entries of the event stream sb:events that
 * nobody deleted (their instance died before recording them, or
 * PostgreSQL failed) are recorded by one instance at a time once a few
 * seconds old, and deleted after COMMIT.
 */
struct route_stream;
struct route_stream *route_stream_new(struct route *r);
void route_stream_free(struct route_stream *s);
unsigned long route_stream_drained(const struct route_stream *s);

/*
 * One decision's stream entry, deleted (XDEL, batched per loop turn) once
 * every write holding it succeeded. _new holds it once (NULL id: NULL,
 * and the other calls do nothing); each _hold is matched by one _done,
 * ok = 0 when that write failed (the entry then stays for the drainer).
 */
struct route_entry;
struct route_entry *route_entry_new(struct route *r, const char *id);
void route_entry_hold(struct route_entry *e);
void route_entry_done(struct route_entry *e, int ok);

/*
 * Submits the PostgreSQL row of one event (idempotent). cb/arg for a row
 * the caller waits for, history_cb/history_arg for a history-only row
 * (written behind). drained: recorded from the stream (detail says so).
 * Returns 1 (cb will be called), 2 (history_cb will be), 0 (nothing to
 * record) or -1 (*reason set; no callback).
 */
int route_submit_event(struct route *r, const struct route_event *ev,
                       int drained, db_commit_row_cb cb, void *arg,
                       db_commit_row_cb history_cb, void *history_arg,
                       const char **reason);
/* Publishes events on sb:route and to this instance's sockets. */
void route_publish(struct route *r, const struct route_event *ev, size_t n);

int route_script_index(const char *name);
void route_set_ready(struct route *r, unsigned long long epoch);
void route_fail_state(struct route *r, const char *why);
/* Re-reads queue and router settings from PostgreSQL into Redis. */
void route_settings_refresh(struct route *r);
int route_apply_settings(struct route *r, const char *qc, const char *blend,
                         const char *max_missed, const char *grace_ms,
                         const char *live, int changed, route_reply_cb cb,
                         void *arg);

#endif
