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
};

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
