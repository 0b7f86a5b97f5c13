/*
 * bus.h: the conversation bus. Live delivery of any conversation's events
 * to the desk sockets following it, on every instance, keyed by
 * conversation; and a hook per channel for the channel's own local
 * delivery (chat: the resident's socket). Loop thread only.
 *
 * An event has two parts, either may be absent:
 *   for_desks    one JSON object, sent as it is to every desk socket
 *                following the conversation, here and on every other
 *                instance. It is serialised once, here, for every desk
 *                and for the publication.
 *   for_channel  text for the hook of the event's channel, called on every
 *                instance (this one included) with it.
 * and a message number, seq: the conversation's message number when the
 * event is a message (messages.seq), 0 for any other event.
 *
 * Guarantees to a desk socket, which the bus keeps for every channel:
 *   - A desk socket gets each event of a conversation it follows once: an
 *     instance skips its own publications by their first bytes (the
 *     instance's tag, bus_wire.h), and a message published again (a
 *     retry after its instance died) is dropped by seq: each follower
 *     keeps the BUS_RECENT_KEEP newest message numbers it was sent.
 *   - No gap and no double between a history read and the live events: a
 *     desk that asks a conversation's history follows it from before the
 *     read (bus_history_begin); the events that come meanwhile are held,
 *     and bus_history_end sends the read's answer with the held messages
 *     merged into it in seq order, less those the read had, then the
 *     other events held. At most bus_hold_max events are held for one
 *     desk: past it, the read is refused, and the desk asks again.
 *   - bus_publish's done is called once Redis has taken the publication
 *     (the other instances' subscribers have it) or once it failed: a
 *     channel acknowledges its source only then.
 * What the bus does not do, and relies on the desk for: an event
 * published while a desk's socket was away, while this instance's
 * subscriber connection was down, or whose publication failed, is not
 * delivered live later. A desk that reconnects asks the history again
 * after the newest seq it holds less a margin (resyncAfter in
 * advisor-desk/desk.js), which the merge above makes safe: what it
 * already had is dropped by seq.
 *
 * Desk sockets are named by connection id, never by pointer: a socket
 * that is gone makes sending fail harmlessly. The caller tells the bus
 * when a socket closes (bus_drop_conn).
 */
#ifndef GW_BUS_H
#define GW_BUS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "kv.h"

/* The Redis channel every instance publishes on and subscribes to. */
#define BUS_REDIS_CHANNEL "sb:bus"
/* Message numbers a follower keeps to drop repeats. */
#define BUS_RECENT_KEEP 64
/* Events held for one desk while its history is read, by default. */
#define BUS_HOLD_MAX 1024

struct bus;

/*
 * Sends text (one JSON object, NUL-terminated, copied by the callee) to
 * desk socket conn: gw_http_ws_send_text in the daemon. 0, or -1 when the
 * socket is gone or closing.
 */
typedef int (*bus_send_fn)(void *arg, unsigned long conn, const char *text);

/* An event as a channel's hook sees it. Valid only during the call. */
struct bus_event {
	uint64_t conv;
	uint64_t seq;
	const char *body; /* for_channel, NUL-terminated; "" when none */
	size_t len;
	size_t desks; /* desk sockets here sent for_desks now (not held) */
	int local;    /* published by this instance */
};
typedef void (*bus_hook_fn)(void *arg, const struct bus_event *ev);

/* ok: 1 when Redis took the publication, 0 when it did not. */
typedef void (*bus_done_fn)(void *arg, int ok);

/* What the bus counted since it was made (also in /metrics). */
struct bus_stats {
	uint64_t published; /* events published */
	uint64_t delivered; /* sent to a desk socket (held ones included) */
	uint64_t repeats;   /* dropped: a desk had that seq already */
	uint64_t failed;    /* publications Redis did not take */
	uint64_t refused;   /* history reads refused: too much held */
	uint64_t malformed; /* publications received that did not parse */
};

/*
 * Returns a new bus owned by the caller. pub sends the publications; sub
 * is this instance's subscriber connection (kv_subscribe, no PING probe),
 * used for nothing else: the bus subscribes it to BUS_REDIS_CHANNEL. Both
 * stay the caller's, and must outlive the bus or be closed (kv_close)
 * before bus_free. instance names this instance (config's instance name):
 * its tag is that (cut to 60 bytes, other bytes than [A-Za-z0-9._:-]
 * made '_') and a random suffix, so that two processes never share one.
 * send delivers to a desk socket. NULL when sub cannot be subscribed.
 */
struct bus *bus_new(uv_loop_t *loop, struct kv *pub, struct kv *sub,
                    const char *instance, bus_send_fn send, void *send_arg);
/*
 * Frees the bus once its handle is closed (the loop must run). The
 * publications not yet answered get done(arg, 0) now. Until the loop has
 * run, follow, history and hook calls still work (a channel shutting down
 * after it, whose history reads db_close fails, may make them). NULL:
 * no-op.
 */
void bus_free(struct bus *b);
/* This instance's tag, which its publications start with. */
const char *bus_origin(const struct bus *b);

/*
 * Hooks channel (a name of [a-z0-9_], at most BUS_WIRE_CHANNEL_MAX bytes)
 * to fn: called on every instance for each event of that channel, with
 * its for_channel part (and when it has none: a channel may want to know
 * that desks here got a message). One hook per channel; fn NULL removes
 * it. 0, or -1 for a bad name or too many channels (BUS_HOOKS_MAX).
 */
#define BUS_HOOKS_MAX 16
int bus_set_channel_hook(struct bus *b, const char *channel, bus_hook_fn fn,
                         void *arg);

/*
 * Publishes an event of conversation conv (not 0): for_desks (borrowed,
 * may be NULL) is serialised once and sent at once to the desks here
 * following conv, the hook of channel (NULL: none) is called here with
 * for_channel (NUL-terminated text, may be NULL), and the event is
 * published to every other instance in one PUBLISH. done (may be NULL) is
 * called exactly once, never from within bus_publish: with 1 once Redis
 * has taken it, with 0 when Redis is down, the connection was lost before
 * its answer, or the event could not be made (for_desks not
 * serialisable, a bad channel name, conv 0). arg should name its owner by
 * id when the owner can go first. Returns how many desk sockets here were
 * sent for_desks now.
 */
size_t bus_publish(struct bus *b, uint64_t conv, uint64_t seq,
                   json_t *for_desks, const char *channel,
                   const char *for_channel, bus_done_fn done, void *arg);

/*
 * conn follows conv from now on: it is sent conv's events as they come.
 * For a desk that already has the history (or needs none). No-op when it
 * follows already.
 */
void bus_follow(struct bus *b, uint64_t conv, unsigned long conn);
/* conn no longer follows conv; what was held for it is dropped. */
void bus_unfollow(struct bus *b, uint64_t conv, unsigned long conn);
/* conn is gone (socket closed): it follows nothing any more. */
void bus_drop_conn(struct bus *b, unsigned long conn);
/* Nobody here follows conv any more (it left them: the next one asks). */
void bus_drop_conversation(struct bus *b, uint64_t conv);
/*
 * 1 when conn follows conv and was answered a history of it (or followed
 * it with bus_follow): a desk may act on a conversation it was shown.
 */
int bus_shown(const struct bus *b, uint64_t conv, unsigned long conn);

/*
 * A history read of conv for conn starts: conn follows conv from now on
 * (if it did not), and conv's events are held for it until the last read
 * in flight ends (bus_history_end or bus_history_abort; reads may
 * overlap). Call it before the read is sent to the database.
 */
void bus_history_begin(struct bus *b, uint64_t conv, unsigned long conn);
/*
 * The read answered: answer (borrowed) is sent to conn once, msgs
 * (borrowed; an array inside answer, may be NULL for none) being the
 * messages it read, each an object with its "seq". When this is the last
 * read in flight, the messages held meanwhile join msgs, in seq order,
 * less those the read had, each without its "type" and "conversation"
 * (a message event for desks is {"type", "conversation", and the
 * message's fields as a history row has them}); more (the answer was cut
 * short: rows may follow those read) leaves them out of msgs and sends
 * them after the answer instead, as the other held events always are.
 * Sent to conn even when it no longer follows conv (it was unfollowed
 * during the read). Returns 0, or -1 when more than bus_hold_max events
 * came during the read: nothing was sent, and the caller answers the desk
 * with a refusal it can retry, then calls bus_history_abort.
 */
int bus_history_end(struct bus *b, uint64_t conv, unsigned long conn,
                    json_t *answer, json_t *msgs, int more);
/*
 * The read failed (or was refused): when this is the last read in flight,
 * a desk that was shown conv before is sent what was held and goes on
 * following it; one that never was no longer follows it.
 */
void bus_history_abort(struct bus *b, uint64_t conv, unsigned long conn);

/* Sets the hold bound (default BUS_HOLD_MAX; at least 1). */
void bus_set_hold_max(struct bus *b, size_t max);
void bus_stats(const struct bus *b, struct bus_stats *st);

#endif
