/*
 * conversation.h: desk operations on any conversation (issue 14 item 4):
 * the channel-neutral desk messages conversation.history, .reply, .note,
 * .read, .end, .typing and .wrap_ups (docs/desk-protocol.md), the end of
 * a conversation by its customer or the system (conversation_end_by), and
 * the table in which each channel registers how it delivers a reply, how
 * it ends and what its history adds. Loop thread only.
 *
 * Who may do what (the conversation's row decides, in the same statement
 * as the write, so a conversation transferred meanwhile is refused):
 *   history, note, read, end  the advisor it is assigned to, or any
 *                             supervisor or admin;
 *   typing                    a desk that was shown its history;
 *   wrap_ups                  (no conversation) the advisor's own list;
 *   reply                     only the advisor it is assigned to, while
 *                             it is assigned (not in wrap-up).
 * Anything else is answered "forbidden", whatever the conversation is:
 * a desk cannot tell another advisor's conversation from none.
 *
 * Writes: messages (replies, notes) and read marks are written here, by
 * the core, on the channels' group-commit writer; never by a channel.
 * Each message is stored once per (desk, conversation, client_id):
 * messages.source 'desk', external_id '<conversation>:<client_id>', the
 * same key chat.send and chat.note use, so a retry through either is a
 * repeat. A repeat is answered as the first was (same seq and at), and
 * published again (whoever published it first may have died); desks drop
 * what they have by seq (bus.h).
 *
 * Live delivery is the bus's (bus.h): every event below is one
 * bus_publish, keyed by the conversation; conversation.history follows the
 * conversation from before its read (bus_history_begin), so no message
 * falls between the answer and the live events. The desks' events:
 *   {"type": "conversation.message", "conversation": "<id>", and the
 *    fields of a history row: "seq", "from" (resident, advisor, note,
 *    system), "name", "text", "at" (Unix ms), "metadata" (an object),
 *    and "client_id" for a desk's own}
 *   {"type": "conversation.read", "conversation", "seq"}
 *   {"type": "conversation.finished", "conversation", "by", "status"}
 *   {"type": "conversation.typing", "conversation", "state",
 *    "from": "resident"} (conversation_publish_typing)
 *   (the router's own "conversation.ended" is its after-contact hold)
 *
 * Ownership: nothing passed in is kept after a call returns, except the
 * ops table given to conversation_channel_register (a pointer kept until
 * replaced or the module is freed: use a static const table).
 */
#ifndef GW_CONVERSATION_H
#define GW_CONVERSATION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "bus.h"
#include "conversation_parse.h" /* CONVERSATION_TEXT_MAX */
#include "db.h"
#include "db_commit.h"

struct conversation;
struct ingest_result;
struct route;
struct route_event;
struct route_ws;

/* Channels that may register (a name of [a-z0-9_], BUS_WIRE_CHANNEL_MAX). */
#define CONVERSATION_CHANNELS_MAX 16
/* Messages in one history answer; more: "more": true, ask again after. */
#define CONVERSATION_PAGE 2000

/* The desk socket a message came from, as route_ws authenticated it. */
struct conversation_desk {
	unsigned long conn;
	uint64_t staff;
	const char *role; /* "advisor", "supervisor", "admin" */
	const char *name; /* display name */
};

/* An advisor's reply as stored, for the channel's reply op. */
struct conversation_reply {
	uint64_t conv;
	uint64_t seq;     /* messages.id */
	long long at_ms;  /* messages.created_at */
	uint64_t staff;   /* the author */
	const char *name; /* the author's display name */
	const char *text;
	const char *client_id;
	int repeated; /* stored before: a retry, delivered again */
};

/*
 * A conversation ended (at a desk, or by conversation_end_by), for the
 * channel's end op.
 */
struct conversation_end {
	uint64_t conv;
	uint64_t staff;     /* who ended it; 0 when not an advisor */
	const char *by;     /* "advisor", "resident" or "system" */
	const char *status; /* "wrap_up" or "closed"; "" when it was already */
	int now;            /* 1: ended by this call; 0: it had ended before */
};

/*
 * The end op's answer, exactly once, maybe later. why NULL: done, and
 * for_channel (borrowed for the call; may be NULL) is published with the
 * conversation.finished event to the channel's bus hook on every instance
 * (chat: tell the resident's socket, wherever it is). why set: the
 * channel could not do its part: a desk is answered "unavailable" with it
 * (conversation_end_by's caller gets ok 0), and may end it again (the
 * conversation stays ended; end is called again with now = 0).
 */
typedef void (*conversation_end_done)(void *done_arg, const char *for_channel,
                                      const char *why);

/*
 * What a channel registers. Any member may be NULL.
 *
 * reply: how an advisor's reply reaches the customer.
 *   NULL: this channel cannot deliver replies. conversation.reply is then
 *   refused with code "cannot_reply" and the reason no_reply (or "this
 *   channel cannot send replies yet"), before anything is written: such a
 *   reply is never stored and never shown as sent. Notes, read and end
 *   still work.
 *   Set: the core stores the message first (committed, once per
 *   client_id), then calls reply on the advisor's instance. It returns
 *   the text for the channel's bus hook (bus_set_channel_hook), malloc'd,
 *   freed by the core; or NULL for none. The core publishes the message
 *   once: its desks' part and this text, so the hook runs on every
 *   instance (chat: write it to the resident's socket where that is).
 *   The desk is answered "conversation.replied" once Redis took the
 *   publication, "unavailable" when it did not (the message is stored; a
 *   retry with the same client_id is a repeat: published again, reply
 *   called again with repeated = 1).
 *   Email and SMS will need the message and an outbox row in one
 *   transaction: they will add an outbox member here (the row's
 *   destination and payload), which the core's reply statement writes;
 *   this round has no such channel, so there is no such member yet.
 *
 * end: the channel's own part of ending, called on the advisor's
 *   instance once the core has committed the end (status assigned ->
 *   wrap_up, anything else neither closed nor in wrap-up -> closed;
 *   stored event conversation.ended, desks' event conversation.finished;
 *   the router told with route_end), and also when it
 *   had ended before (now = 0: the part must be idempotent). It must call
 *   done exactly once. NULL: nothing more than the core's.
 *
 * read: text for the channel's hook when an advisor read up to seq
 *   (malloc'd, freed by the core; NULL for none).
 *
 * typing: text for the channel's hook when an advisor starts (state 1)
 *   or stops (0) typing on a conversation whose history their desk was
 *   shown (conversation.typing); malloc'd, freed by the core. NULL (the
 *   member, or what it returns): the typing goes nowhere; the desk is
 *   answered conversation.typing.ok all the same. Other desks are never
 *   told an advisor's typing.
 *
 * history_sql: a statement with one parameter, $1 the conversation id
 *   (decimal text), answering zero or one row of one column: a JSON
 *   object's text whose members are set in that conversation's
 *   conversation.history answer ("customer", an object, is merged member
 *   by member into the answer's customer). It may read the channel's own
 *   tables only (chat: chat_sessions); a failed read answers the desk
 *   "unavailable". NULL: none. The text must be static: db.c prepares
 *   statements by their address.
 * history: called with the answer (borrowed; the channel may set members
 *   in it) just before it is sent: what only the channel's memory knows
 *   (chat: whether the resident's socket is here; sms: the sender's length
 *   cap). NULL: none. For a message left for the council answered on
 *   another channel, both are called: the conversation's channel's, then
 *   the answering channel's (whose history_sql was read).
 *
 * A conversation opened by a message left for the council (its first
 * message's metadata "kind" is "left_message", with "reply_by": "email"
 * or "sms") is answered on another channel than its own: the one named by
 * reply_by, whose ops (reply, history_sql, history) apply; while that
 * channel has no reply op, conversation.reply refuses it ("cannot_reply")
 * and its history says so ("left_message": true, "reply_by",
 * "can_reply": false).
 */
struct conversation_channel_ops {
	char *(*reply)(void *arg, const struct conversation_reply *r);
	const char *no_reply;
	void (*end)(void *arg, const struct conversation_end *e,
	            conversation_end_done done, void *done_arg);
	char *(*read)(void *arg, uint64_t conv, uint64_t seq);
	char *(*typing)(void *arg, uint64_t conv, int state);
	const char *history_sql;
	void (*history)(void *arg, uint64_t conv, json_t *answer);
	void *arg;
};

/*
 * Sends text (NUL-terminated, copied by the callee) to desk socket conn
 * (gw_http_ws_send_text in the daemon): the answers to the desk's own
 * messages. 0, or -1 when the socket is gone.
 */
typedef int (*conversation_send_fn)(void *arg, unsigned long conn,
                                    const char *text);

/*
 * A new module owned by the caller. db: reads (history); w: the channels'
 * group-commit writer (replies, notes, reads, ends); bus: live delivery;
 * r: the router (route_end on an end), or NULL. All are borrowed and must
 * outlive the module. send answers desks.
 */
struct conversation *conversation_new(uv_loop_t *loop, struct db *db,
                                      struct db_commit *w, struct bus *bus,
                                      struct route *r,
                                      conversation_send_fn send,
                                      void *send_arg);
/*
 * Frees the module. Reads and writes in flight are answered later
 * harmlessly: their callbacks find nothing by id and only free
 * themselves, so db, w and bus may be freed after this. NULL: no-op.
 */
void conversation_free(struct conversation *cv);

/*
 * Registers channel's ops (a conversations.channel value, [a-z0-9_], at
 * most 15 bytes); ops NULL removes them. A channel that registers
 * nothing cannot be replied on ("cannot_reply": "this channel cannot send
 * replies yet") and ends with the core's part alone. 0, or -1 for a bad
 * name or more than CONVERSATION_CHANNELS_MAX channels.
 */
int conversation_channel_register(struct conversation *cv, const char *channel,
                                  const struct conversation_channel_ops *ops);
/* 1 when channel registered a reply op (its replies can be delivered). */
int conversation_channel_can_reply(const struct conversation *cv,
                                   const char *channel);

/*
 * A desk's message whose type starts with "conversation." and is not
 * one of route_ws's own (release, wrap_up, transfer, pick). msg is
 * borrowed. The desk is always answered: the operation's answer, or
 * {"type": "error", "id", "code", "message"} with code bad_message,
 * forbidden, cannot_reply, unavailable or unknown_type.
 */
void conversation_desk_message(struct conversation *cv,
                               const struct conversation_desk *d,
                               const char *type, json_t *msg);
/*
 * Takes its part of the desk protocol from rw (route_ws_set_hook, prefix
 * "conversation."): every desk message of that prefix that is not
 * route_ws's own (release, wrap_up, transfer, pick) goes to
 * conversation_desk_message, a desk socket closing to
 * conversation_desk_close, and a routing event of any instance that takes
 * a conversation from its desk (released, transferred, requeued) to
 * conversation_left. Until conversation_free, which removes the hook; rw
 * must outlive cv. 0, or -1 when rw has no room for another hook.
 */
int conversation_attach(struct conversation *cv, struct route_ws *rw);

/*
 * A channel's own part of the desk protocol: desk messages whose type
 * starts with prefix (at most 15 bytes, e.g. "voice."), given to fn with
 * the desk that sent them (borrowed for the call; answer it through the
 * HTTP layer's gw_http_ws_send). fn NULL removes it. Only after
 * conversation_attach; conversation_free removes every such hook (a
 * channel freed after the core need not). 0, or -1 when there is no
 * room (route_ws takes 4 prefixes in all; the core keeps
 * CONVERSATION_DESK_HOOKS for channels).
 */
#define CONVERSATION_DESK_HOOKS 2
typedef void (*conversation_desk_fn)(void *arg,
                                     const struct conversation_desk *d,
                                     const char *type, json_t *msg);
int conversation_desk_hook(struct conversation *cv, const char *prefix,
                           conversation_desk_fn fn, void *arg);

/*
 * Sends obj (stolen) to every desk socket of advisor staff on this
 * instance (a call ringing their extension: the screen pop). How many;
 * 0 before conversation_attach.
 */
size_t conversation_tell_staff(struct conversation *cv, uint64_t staff,
                               json_t *obj);

/*
 * Routing for a channel whose conversations do not come in through
 * ingest (calls): conv waits in queue on channel (route_enqueue: a missed
 * call's callback), or is advisor staff's at once, counting against their
 * capacity on channel whatever it is (route_seize: a call they answered on
 * their phone). Outcomes are logged (conversation.route); a conversation
 * left waiting in PostgreSQL is queued by the router's reconciler. 0, or
 * -1 when routing is not ready or not attached.
 */
int conversation_route_queue(struct conversation *cv, uint64_t conv,
                             uint64_t queue, const char *channel, int priority,
                             long long since_ms);
int conversation_route_seize(struct conversation *cv, uint64_t conv,
                             uint64_t queue, const char *channel,
                             long long since_ms, uint64_t staff);

/*
 * What became of an advisor's reply sent through the outbox (email, SMS):
 * {"type": "conversation.delivery", "conversation", "seq", "delivery":
 * {"status", "to", "error"?, "receipt"?, "receipt_detail"?}} to the desks
 * following conv, on every instance (docs/desk-protocol.md). NULL or ""
 * members are left out; nothing is sent for a conv or seq of 0. For the
 * outbox senders and the SMS receipts, which hold the bus, not the core.
 */
struct conversation_delivery {
	const char *status; /* sent, pending, failed, dead */
	const char *to;
	const char *error;
	const char *receipt; /* the provider's, for a text */
	const char *receipt_detail;
};
void conversation_publish_delivery(struct bus *b, uint64_t conv, uint64_t seq,
                                   const struct conversation_delivery *d);

/*
 * Routing events of every instance (a route_event_cb; arg is cv): each
 * released, transferred or requeued conversation is conversation_left.
 * conversation_attach hands it route_ws's events.
 */
void conversation_route_events(void *arg, const struct route_event *ev,
                               size_t n);

/* Desk socket conn closed: it follows nothing any more. */
void conversation_desk_close(struct conversation *cv, unsigned long conn);
/*
 * Conversation conv left the desks here (released, transferred,
 * requeued): they no longer follow it; the next one asks its history.
 */
void conversation_left(struct conversation *cv, uint64_t conv);

/*
 * A message stored by someone else (ingest's delivery hook; seq its
 * messages.id), published to the desks following conv on every instance
 * as a conversation.message event from the resident; channel's hook gets
 * no text for it (the channel has it already). metadata: the message's,
 * a JSON object's text, or NULL. Returns how many desks here were sent it.
 */
size_t conversation_publish_inbound(struct conversation *cv, uint64_t conv,
                                    uint64_t seq, long long at_ms,
                                    const char *channel, const char *body,
                                    const char *metadata);

/*
 * A customer's message the channel stored itself (ingest with
 * INGEST_OWN_DELIVERY), published as conversation_publish_inbound does,
 * with client_id (may be NULL) in the desks' event, for_channel (may be
 * NULL) for the channel's hook on every instance, and done (may be NULL)
 * as bus_publish's: the channel acknowledges its source once Redis took
 * it. Returns how many desks here were sent it.
 */
struct conversation_inbound {
	uint64_t conv;
	uint64_t seq;
	long long at_ms;
	const char *channel;
	const char *body;
	const char *metadata;
	/*
	 * metadata already parsed (borrowed; ingest_result's), or NULL: then
	 * metadata is parsed (a text that is not an object is sent as {}).
	 */
	json_t *metadata_obj;
	const char *client_id;
	const char *for_channel;
};
size_t conversation_publish_message(struct conversation *cv,
                                    const struct conversation_inbound *m,
                                    bus_done_fn done, void *arg);

/*
 * The customer of conv (on channel) started (state 1) or stopped (0)
 * typing: {"type": "conversation.typing", "conversation", "state",
 * "from": "resident"} to the desks following it, on every instance.
 */
void conversation_publish_typing(struct conversation *cv, uint64_t conv,
                                 const char *channel, int state);

/*
 * The answer to conversation_end_by, exactly once, never from within the
 * call. ok 0: nothing was ended (why says why: the database or the
 * channel's part failed, or there is no such conversation); it may be
 * called again. ok 1: now says whether this call ended the conversation
 * (0: it had ended before, and the channel's part ran again), status
 * what it is now ("wrap_up", "closed"; borrowed for the call).
 */
typedef void (*conversation_ended_fn)(void *arg, int ok, int now,
                                      const char *status, const char *why);

/*
 * Ends conv for its customer or the system, by = "resident" or "system"
 * ("advisor" for one released at a desk): the core's end, as
 * conversation.end's, without its permission check (the caller decided):
 * status (assigned -> wrap_up, anything else not ended -> closed), the
 * stored event conversation.ended {"by", "channel"}, route_end, and
 * conversation.finished to the desks following it with by; then the
 * channel's end op (also when it had ended before: its part must be
 * idempotent), whose for_channel text goes with conversation.finished.
 * done (may be NULL) is then called. An end still in flight when the
 * module is freed is answered then, from conversation_free (ok 0,
 * "shutting down"), so that its caller can free what it passed; nothing
 * is called afterwards. 0, or -1 (done not called) when the writer
 * refused it.
 */
int conversation_end_by(struct conversation *cv, uint64_t conv, const char *by,
                        conversation_ended_fn done, void *arg);

/*
 * ingest's delivery hook (ingest_set_deliver(in, conversation_deliver,
 * cv)): a message accepted by ingest (res->status INGEST_OK, new or a
 * repeat) is published as conversation_publish_inbound does, from the
 * metadata object ingest parsed when it has it (res->metadata_obj: a new
 * message), else from its text; anything else is ignored.
 */
void conversation_deliver(void *arg, const struct ingest_result *res);

#endif
