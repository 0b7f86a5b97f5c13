/*
 * waiting.h: a contact waiting in a queue, the one place a channel asks
 * about it. Channel-neutral: the web chat's widget, an SMS "position in
 * queue" text and a call's queue announcement are all built on it.
 *
 *  - The gate: before a channel opens a conversation it asks whether the
 *    queue takes it now (opening hours, closure days and the channel's
 *    out-of-hours rule: route_policy.h) and whether anyone serves it now
 *    (live presence: route_served), in one call answered once.
 *  - Positions: where a conversation stands in its queue and the estimated
 *    wait, once, and, for a contact followed here (waiting_follow), every
 *    time it changes: routing decisions in a queue mark it; the places of
 *    every follower here in a marked queue are asked of routing together
 *    WAITING_FLUSH_MS later (and at least WAITING_GAP_MS apart), and each
 *    whose place or wait changed is told through its channel's `position`.
 *  - Routing news: each channel registers what it is told of its own
 *    conversations (the channel in the routing event says whose):
 *    assigned (the core reads the advisor's display name), requeued or
 *    transferred, released. The desks following a conversation that
 *    leaves its advisor are dropped from the bus by the conversation core
 *    (conversation_route_events), not by the channel.
 *
 * Nothing here writes to a socket, sends a text or writes PostgreSQL: the
 * channel turns each answer into its own words (chat: chat.closed,
 * chat.queued, chat.assigned, chat.requeued).
 *
 * Threading: loop thread only. Every answer is asynchronous, never given
 * from within the call that asked, and finds its owner by id (a channel's
 * name, a conversation, a channel's handle): a channel that unregistered
 * or a follower that went is told nothing.
 */
#ifndef GW_WAITING_H
#define GW_WAITING_H

#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "db.h"

/* The router's (router/), which channels never name. */
struct route;
struct route_event;
struct route_queues;
struct route_ws;

struct waiting;

/* At most this many channels register (waiting_channel_register). */
#define WAITING_CHANNELS_MAX 8
/* Followers' places: asked this long after a change, this far apart. */
#define WAITING_FLUSH_MS 500
#define WAITING_GAP_MS   2000
/* Every follower's place re-checked this often, whatever happened. */
#define WAITING_ALL_MS 10000

/*
 * A new module owned by the caller. r: the router (served, positions);
 * qs: the queues this instance knows (route_ws_queues), for the gate; db:
 * reads (the advisor's name for "assigned"). All borrowed: they must
 * outlive the module, and r and db must have answered everything in
 * flight (kv and db closed) before waiting_free.
 */
struct waiting *waiting_new(uv_loop_t *loop, struct route *r,
                            struct route_queues *qs, struct db *db);
/*
 * Takes routing events from rw (route_ws_set_hook with prefix "waiting.",
 * events only: no desk message has that prefix). Returns 0, or -1 when
 * rw has no room for another hook.
 */
int waiting_attach(struct waiting *w, struct route_ws *rw);
/*
 * Routing events, as route_event_cb (arg: the module). waiting_attach
 * hands it every event; exported for tests that drive a router directly.
 */
void waiting_route_events(void *arg, const struct route_event *ev, size_t n);
/*
 * Unhooks from rw, answers every gate still waiting (served -1) and frees
 * the module once its timers closed. Answers from routing or PostgreSQL
 * still on their way find nothing and only free themselves. NULL: no-op.
 */
void waiting_free(struct waiting *w);

/* ---------------------------------------------------------------- gate */

enum waiting_verdict {
	/*
	 * Start it in queue: open now, or closed with the rule `queue` (it
	 * waits until the queue opens), or a queue this instance does not
	 * know (yet): the store refuses an unknown queue.
	 */
	WAITING_OPEN = 0,
	/* Closed, rule `overflow`: start it in queue, the overflow queue. */
	WAITING_OVERFLOW,
	/*
	 * Closed, rule `leave_message` (leave_message 1: a message may be
	 * left, held until the queue opens) or `closed`, or an overflow with
	 * no overflow queue, or a channel the queue does not take: the
	 * channel tells the contact message and next_open.
	 */
	WAITING_CLOSED,
};

/* Strings are valid only during the callback that receives them. */
struct waiting_gate {
	enum waiting_verdict verdict;
	/* OPEN: the queue asked for, as asked; OVERFLOW: the overflow's id. */
	const char *queue;
	/*
	 * OPEN, OVERFLOW: 1 when a member of queue is present now and not
	 * offline, 0 when nobody is (the channel offers to take a message),
	 * -1 when routing could not say (Redis down, a rebuild, a queue not
	 * known here): the contact queues, never refused because Redis
	 * blinked. CLOSED: -1, not asked.
	 */
	int served;
	/* CLOSED: what the contact is told. */
	const char *slug;    /* the queue asked for; "" when not known */
	const char *message; /* queues.out_of_hours_message; "" none */
	time_t next_open;    /* when it opens; -1 not within 400 days */
	int leave_message;   /* a message may be left instead */
};

typedef void (*waiting_gate_cb)(void *arg, const struct waiting_gate *g);

/*
 * May a new conversation on channel ("chat", "sms", ...) start in queue
 * (a slug or an id in decimal) at now, and is anyone there? cb is called
 * exactly once, later (never from within this call), with arg, which
 * must stay valid until then; waiting_free answers it (served -1) if it
 * comes first.
 */
void waiting_gate(struct waiting *w, const char *queue, const char *channel,
                  time_t now, waiting_gate_cb cb, void *arg);

/* ---------------------------------------------------------------- channels */

/* A conversation of the channel is back in a queue. */
struct waiting_requeue {
	const char *why; /* "requeued" (the advisor went) or "transferred" */
	const char *to;  /* transferred: "advisor" or "queue"; else "" */
	uint64_t queue;  /* the queue it waits in now; 0 when not said */
};

/*
 * What a channel is told of its own conversations. Any member may be
 * NULL. Called on every instance (routing events reach them all), for
 * each conversation in the order routing decided (news waiting for an
 * advisor's name holds back only its own conversation's): holds says
 * whether this instance has the contact of conv (chat: its chat is held
 * here), and nothing else is called for a conversation it does not hold
 * (NULL: every one).
 */
struct waiting_channel_ops {
	int (*holds)(void *arg, uint64_t conv);
	/*
	 * conv's place (1 is next) and estimated wait in ms (-1 unknown).
	 * handle: the follower's (waiting_follow), or 0 for the answer to
	 * waiting_position. Never called with a place of 0 (not waiting).
	 */
	void (*position)(void *arg, uint64_t conv, uint64_t handle,
	                 long position, long long estimated_wait_ms);
	/* An advisor took it; name is their display name ("" unknown). */
	void (*assigned)(void *arg, uint64_t conv, uint64_t advisor,
	                 const char *name);
	void (*requeued)(void *arg, uint64_t conv,
	                 const struct waiting_requeue *rq);
	/* Routing let it go (released at a desk, or never answered). */
	void (*released)(void *arg, uint64_t conv);
	void *arg;
};

/*
 * Sets channel's ops (copied), replacing what it had; NULL unregisters it
 * and forgets its followers. Returns 0, or -1 for a bad name (1-15 of
 * [a-z0-9_]) or when WAITING_CHANNELS_MAX channels are registered.
 */
int waiting_channel_register(struct waiting *w, const char *channel,
                             const struct waiting_channel_ops *ops);

/* ---------------------------------------------------------------- places */

/*
 * Asks where conv stands in queue (an id) once: the answer goes to
 * channel's `position` with handle 0, unless conv no longer waits there
 * or routing could not say (then nothing is called). Returns 0, or -1
 * (nothing will be called) when routing is not ready, queue is 0 or the
 * channel has no `position`.
 */
int waiting_position(struct waiting *w, const char *channel, uint64_t conv,
                     uint64_t queue);

/*
 * The channel's contact for conv is here under handle (chat: its socket's
 * connection id; any number unique within the channel, not 0): while conv
 * waits (waiting 1 now; routing events keep it: accepted and released stop
 * it, requeued and transferred start it again in their queue) its place is
 * pushed to `position` with handle when it changes. Following again
 * replaces what handle followed; a conversation has one follower, the
 * latest. 0, or -1 for an unknown channel or a 0 handle or conv.
 */
int waiting_follow(struct waiting *w, const char *channel, uint64_t handle,
                   uint64_t conv, uint64_t queue, int waiting);
/* handle no longer follows anything (its socket closed, it moved on). */
void waiting_unfollow(struct waiting *w, const char *channel, uint64_t handle);

#endif
