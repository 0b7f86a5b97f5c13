/*
 * route.h: the router's C side. Routing decisions are taken only inside
 * the Redis scripts of router/scripts (loaded with SCRIPT LOAD, called with
 * EVALSHA, re-loaded on NOSCRIPT); this module calls them, records every
 * event they return in PostgreSQL (conversation status and history, fenced
 * by route_version), publishes the events on Redis channel "sb:route" for
 * the instance holding each socket, times offers out, beats the presence
 * of the desks this instance holds, and rebuilds the Redis state from
 * PostgreSQL when Redis comes back empty. Loop thread only.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stddef.h>

#include <uv.h>

#include "db.h"
#include "db_commit.h"
#include "kv.h"

struct route;

/* Embedded scripts: common.lua + router/scripts/<name>.lua. */
struct route_script {
	const char *name;
	const char *source;
};
extern const struct route_script route_scripts[];
extern const unsigned route_scripts_count;

#define ROUTE_EVENT_EXTRA 4

/*
 * One routing event. kind: queued, offered, accepted, rejected, timed_out,
 * withdrawn, requeued, transferred, overflowed, released, ended,
 * acw_expired, status. conv is "" for status events. extra, by kind:
 * queue and channel for conversation events, then offered: deadline_ms,
 * waited_ms; accepted: waited_ms; withdrawn: the advisor's new status;
 * transferred: pinned advisor; overflowed: the overflow queue; released:
 * why, previous state; ended: why, wrap-up deadline_ms; status: status,
 * reason.
 * Strings are valid only during the callback that receives them.
 */
struct route_event {
	const char *kind;
	const char *conv;
	const char *advisor;
	const char *instance;
	long long version;
	const char *extra[ROUTE_EVENT_EXTRA];
	unsigned nextra;
};

/*
 * Answer to one call. ok = 0: err says why ("routing unavailable",
 * "NOTOFFERED ...", ...). ok = 1: the events the decision produced,
 * already committed to PostgreSQL.
 */
typedef void (*route_reply_cb)(void *arg, int ok, const char *err,
                               const struct route_event *ev, size_t n);
/* Events of every instance, from the sb:route channel. */
typedef void (*route_event_cb)(void *arg, const struct route_event *ev,
                               size_t n);
/*
 * The routing epoch changed (a rebuild): advisors of this instance must
 * announce themselves again (route_advisor_login).
 */
typedef void (*route_epoch_cb)(void *arg, unsigned long long epoch);

struct route_options {
	const char *instance; /* unique per process */
	int grace_ms;         /* desk gone this long: live work re-queued */
	int max_missed;       /* missed offers before auto-away (0: never) */
	int sweep_ms;         /* offer time-out / presence sweep interval */
	int presence_ms;      /* desk heartbeat interval */
};

/* kv for commands, sub for the subscription: both owned by the caller. */
struct route *route_new(uv_loop_t *loop, struct kv *kv, struct kv *sub,
                        struct db *db, struct db_commit *const *w, size_t nw,
                        const struct route_options *opt);
void route_set_callbacks(struct route *r, route_event_cb ev,
                         route_epoch_cb epoch, void *arg);
/*
 * Tell the router the command connection came up or went down. Also call
 * it (down) when closing the connection before freeing what waits on
 * routing: desk snapshots waiting for a commit (route_holding) are
 * answered then.
 */
void route_kv_state(struct route *r, int up);
int route_ready(const struct route *r);
const char *route_status(const struct route *r);
unsigned long long route_epoch(const struct route *r);

/*
 * Operations; each returns 0 (cb will be called) or -1 when routing is
 * not ready (cb is not called). Ids are PostgreSQL ids in decimal.
 */
int route_enqueue(struct route *r, const char *conv, const char *queue,
                  const char *channel, int priority, long long since_ms,
                  const char *only, route_reply_cb cb, void *arg);
int route_accept(struct route *r, const char *conv, const char *advisor,
                 route_reply_cb cb, void *arg);
int route_reject(struct route *r, const char *conv, const char *advisor,
                 route_reply_cb cb, void *arg);
int route_release(struct route *r, const char *conv, const char *why,
                  route_reply_cb cb, void *arg);
int route_transfer(struct route *r, const char *conv, const char *queue,
                   const char *advisor, route_reply_cb cb, void *arg);
/*
 * The conversation is over: the resident or the advisor ended the chat,
 * the resident left, or it timed out. why: "closed" (ended by either
 * side) or "abandoned" (the resident left before an advisor took it).
 * Script `finish`, one atomic decision:
 *
 *  - assigned to an advisor: after-contact work (ACW). It stays counted
 *    against the advisor (routing state "ended", still in their set, so
 *    no offer takes its place) for its queue's wrap-up time on its
 *    channel (queue_channels.wrap_up_s; 0: no hold). Event "ended"
 *    (advisor; extra: queue, channel, why, deadline_ms), recorded as
 *    route.ended, moves the PostgreSQL row to status wrap_up
 *    (assigned_staff_id kept). When the time is up, the sweep of any
 *    instance frees the capacity and offers waiting work: event
 *    "acw_expired" (advisor; extra: queue, channel), recorded as
 *    route.acw_expired; the row stays wrap_up and the conversation stays
 *    the advisor's until they wrap it up. With wrap_up_s 0 both events
 *    come from this one call. The advisor's conversation.wrap_up (which
 *    calls route_release_by(conv, "closed", advisor, ...)) ends the hold
 *    at once and closes the row. A desk that opens meanwhile sees it in
 *    route_holding as an "ended" event.
 *  - waiting or offered (never assigned): released as by
 *    route_release(conv, why): event "released", row closed.
 *  - already ended, or not in routing: nothing happens (ok, n = 0), so
 *    calling it twice is harmless.
 *
 * The PostgreSQL row of an assigned conversation must not be closed by
 * the caller before (route.ended does not reopen a closed row): leave its
 * status to this call, or set it to wrap_up yourself. cb (may be NULL) is
 * called once the events are committed, as for every operation. Returns
 * 0, or -1 (cb not called) when routing is not ready or conv is not a
 * decimal id; the conversation then stays in routing as it was, and a
 * later conversation.wrap_up still releases it.
 */
int route_end(struct route *r, const char *conv, const char *why,
              route_reply_cb cb, void *arg);
/*
 * Release and transfer on behalf of an advisor: refused (NOTYOURS) unless
 * the conversation is assigned or offered to `by`. "" acts for anyone
 * (supervisors, the system).
 */
int route_release_by(struct route *r, const char *conv, const char *why,
                     const char *by, route_reply_cb cb, void *arg);
int route_transfer_by(struct route *r, const char *conv, const char *queue,
                      const char *advisor, const char *by, route_reply_cb cb,
                      void *arg);
/*
 * An advisor's status. Reads their capacities and queues from PostgreSQL
 * (staff_capacity, channel_settings, queue_members) and announces them;
 * the desk is then beaten as present by this instance until
 * route_advisor_gone.
 */
int route_advisor_login(struct route *r, const char *advisor,
                        const char *status, const char *reason,
                        route_reply_cb cb, void *arg);
/* Status change of an advisor already announced by this instance. */
int route_advisor_status(struct route *r, const char *advisor,
                         const char *status, const char *reason,
                         route_reply_cb cb, void *arg);
/* The desk disconnected: beats stop; re-queued after the grace period. */
void route_advisor_gone(struct route *r, const char *advisor);
/* Logout: live work goes back to the queues now. */
int route_advisor_logout(struct route *r, const char *advisor,
                         route_reply_cb cb, void *arg);
/* Position (1 = next) and estimated wait in ms (-1 unknown). */
/*
 * What the advisor holds now: one "offered" event (extra: queue, channel,
 * deadline ms, waited ms) per open offer, one "accepted" event (extra:
 * queue, channel, waited ms) per assigned conversation and one "ended"
 * event (extra: queue, channel, wrap-up deadline ms, waited ms) per
 * conversation in after-contact work (see route_end). Read-only; cb gets
 * the events. For a desk that opens, and after a rebuild.
 */
int route_holding(struct route *r, const char *advisor, route_reply_cb cb,
                  void *arg);

/*
 * Whether anyone serves queue (an id) now, for a resident starting a
 * chat: served is 1 when a member of the queue is present (their desk
 * beats, or went silent less than the grace period ago) and not offline,
 * 0 when nobody is, and -1 when routing could not say (Redis unavailable,
 * a rebuild, or one a moment ago (the grace period, at most 5 s), before
 * every live desk announced itself again): the caller then lets the chat
 * queue (never refuse a
 * resident because Redis blinked). Read-only (script `served`). Returns 0,
 * or -1 (cb not called) when routing is not ready or queue is not an id.
 */
typedef void (*route_served_cb)(void *arg, int served);
int route_served(struct route *r, const char *queue, route_served_cb cb,
                 void *arg);

/*
 * An advisor answered a call on their phone: conv (new to routing, or
 * waiting or offered) is theirs at once, whatever their capacity, status
 * or the blending rules (script seize: the call is a fact; it counts
 * against their capacity on channel until route_end and its wrap-up).
 * Events "queued" (when new) and "accepted" (extra: queue, channel,
 * waited ms, "seized"). Refused OFFLINE when the advisor is not signed in,
 * BUSY when another advisor holds it, NOQUEUE when queue does not take
 * channel; a retry for the same advisor is no event.
 */
int route_seize(struct route *r, const char *conv, const char *queue,
                const char *channel, long long since_ms, const char *advisor,
                route_reply_cb cb, void *arg);

/* An advisor takes a waiting conversation of a pulled channel. */
int route_pick(struct route *r, const char *conv, const char *advisor,
               route_reply_cb cb, void *arg);

/* The queue view: conversations waiting in a queue, best first. */
struct route_view_item {
	const char *conv;
	const char *channel;
	const char *mode; /* "pull" (pickable) or "push" (offered) */
	long long waited_ms;
	int priority;
};
struct route_view {
	long pulled, pushed; /* how many wait in each list */
	const struct route_view_item *items;
	size_t n;
};
typedef void (*route_view_cb)(void *arg, int ok, const char *err,
                              const struct route_view *v);
/*
 * advisor: only a queue they serve (NOTYOURS otherwise); NULL for a
 * supervisor. At most limit (1-200) conversations, pulled ones first.
 */
int route_waiting(struct route *r, const char *queue, const char *advisor,
                  int limit, route_view_cb cb, void *arg);

/*
 * Where conversations stand in a queue: pos[i] is convs[i]'s place (1 is
 * next, 0 when it is not waiting there). The estimated wait of place p is
 * p * span_ms / intervals (unknown when intervals is 0): span_ms covers the
 * queue's last answers. Read-only; at most ROUTE_POSITIONS_MAX at a time.
 */
#define ROUTE_POSITIONS_MAX 256
typedef void (*route_positions_cb)(void *arg, int ok, const long *pos, size_t n,
                                   long long span_ms, long intervals);
int route_positions(struct route *r, const char *queue,
                    const char *const *convs, size_t n, route_positions_cb cb,
                    void *arg);
void route_free(struct route *r);

/* route_rebuild.c, used by route.c only. */
void route_rebuild_start(struct route *r);

#endif
