/*
 * ingest.h: the one path every channel's inbound contacts and messages
 * take into Switchboard (docs/architecture.md, "Ingest"). A channel parses
 * and verifies its source, normalises the sender's identities
 * (identity.h), and hands ingest one struct ingest_msg. Ingest then, in
 * one statement of the channels' group-commit writer (a db_commit row set:
 * thousands of messages a second share transactions; SQL function
 * sb_ingest, migration 0016):
 *
 *  1. resolves the customer from the sender's identities (exact match on
 *     customer_identities; several customers -> a new customer and the
 *     candidates recorded for an advisor, never a silent merge; none -> a
 *     new customer holding them, unverified; a matched customer gets
 *     nothing added);
 *  2. finds or opens the conversation: the one given; or by thread key;
 *     or by a case reference the sender quoted (the sender's own
 *     conversations only); or the customer's live conversation on the
 *     channel when asked (INGEST_FIND_OPEN); else a new one, waiting in the
 *     queue given. An ended conversation found by thread key is re-opened
 *     when closed and on this channel, else followed by a new one;
 *  3. inserts the message once per (source, external_id).
 *
 * Then, in this order:
 *
 *  4. the channel's callback, only after COMMIT, with the result, so the
 *     channel can acknowledge its source (a WebSocket message.ack, an IMAP
 *     \Seen, an HTTP 2xx). Nothing is reported stored that is not
 *     committed;
 *  5. a conversation opened or re-opened now goes to the router
 *     (route_enqueue). It is committed as waiting first, so when routing
 *     refuses or is down the router's reconciler queues it within seconds;
 *  6. the message goes to the delivery hook (ingest_set_deliver), if one
 *     is set.
 *
 * Cost (docs/architecture.md, "Ingest"): a message naming its
 * conversation with no thread key to record (a chat socket's) takes a
 * set-based statement shared by its batch; so do new contacts that name no
 * conversation or reference and do not ask for INGEST_FIND_OPEN, with or
 * without a message, thread keys or a hook (sb_ingest_set, migration 0022:
 * those that share nothing with the rest of the batch, whose thread keys
 * are not recorded yet and whose hook, if any, has a set form, in one
 * INSERT per table and one hook call for the batch; the rest one
 * sb_ingest_hooked call each); any other message runs sb_ingest, one call
 * a row, or sb_ingest_hooked with a hook (below), INGEST_NO_MESSAGE or
 * INGEST_MAY_REFUSE. The answers are the same on every path, but for two:
 * the known-conversation statement
 * answers a message another instance committed meanwhile INGEST_RETRY
 * (its retry is the repeat), and a repeat there is never routed again.
 *
 * Hooks: a channel that writes rows of its own with a message, which must
 * commit or fail with it (a left chat message's limits, its event and its
 * acknowledgement email), names an SQL hook (struct ingest_msg.hook): a
 * function registered by name in ingest_hooks (migration 0020), called in
 * the same transaction right after step 3 with sb_ingest's result and the
 * channel's hook_data (both JSON objects), for a repeat too (it decides
 * what a repeat means to it). Its answer, a JSON object's text, is the
 * result's hook. It may refuse the message (SQLSTATE SB001, a short code
 * as the message): nothing of the message is then written (a
 * subtransaction) and the callback gets INGEST_REFUSED with the hook's
 * code. A hook is never called for a message sb_ingest refused. A name
 * not registered is refused "unknown_hook" by the database. A hook may
 * also have a set form (ingest_hooks.set_fn, migration 0022), called once
 * for a batch's new contacts that name it; it cannot refuse one of them,
 * so a channel whose hook might refuse a message (chat.start: nobody
 * serves the queue) submits it with INGEST_MAY_REFUSE, and it is then
 * written on its own.
 *
 * Threads: loop thread only. Ownership: ingest_submit copies what it needs
 * from the message (none of its pointers are kept); a result passed to a
 * callback is owned by ingest and valid only during that call.
 *
 * Idempotency: every message has a (source, external_id), stored once
 * (messages_source_external_id_key). The same pair again, in a later
 * batch, in the same batch, or committed by another instance at the same
 * moment, is a repeat: the callback gets the stored message (repeated = 1,
 * its stored body and metadata, not the retry's), and nothing else is
 * written. A source may therefore always send again what it is not sure
 * was stored.
 *
 * Retry: a callback with INGEST_RETRY means nothing is known to be stored:
 * the database was unavailable, the writer's queue was full, or the
 * connection was lost while the batch committed (the outcome is unknown).
 * The channel must not acknowledge its source (answer 503, leave the mail
 * unseen); the source's retry is then either stored now or found as the
 * repeat of what did commit. A repeat of the message that opened a
 * conversation still waiting goes to the router again (queueing is
 * idempotent), so a lost hand-off is not left to the reconciler (when
 * the retry names no conversation, as the message that opened it did not).
 * INGEST_REFUSED is final for that message as it is (the reason says why);
 * nothing of it was written.
 *
 * Not stored yet: attachments' bytes. Their metadata (filename, type,
 * size, digest, where the channel keeps them) goes into the message's
 * metadata ("attachments": [...]); no attachments rows are written. A
 * channel must keep the bytes at its source (the IMAP message, the
 * provider's media URL) until the attachment store exists.
 */
#ifndef GW_INGEST_H
#define GW_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "db_commit.h"
#include "identity.h"

struct ingest;
struct route;

/* Limits checked by ingest_submit (longer: refused). */
#define INGEST_IDS_MAX      8    /* identities of a sender */
#define INGEST_THREAD_MAX   32   /* thread keys to find, and to add */
#define INGEST_KEY_MAX      1000 /* bytes of a thread key */
#define INGEST_SOURCE_MAX   200  /* messages.source */
#define INGEST_EXTERNAL_MAX 1000 /* messages.external_id */
#define INGEST_NAME_MAX     200  /* characters of a customer's name */
#define INGEST_SUBJECT_MAX  998  /* characters of a subject */
#define INGEST_BODY_MAX     (1024 * 1024)
#define INGEST_METADATA_MAX (64 * 1024)
/* Bytes of hook_data: a mail's raw source goes to its hook in it. */
#define INGEST_HOOK_DATA_MAX  (64 * 1024 * 1024)
#define INGEST_ATTACHMENT_MAX 100

enum ingest_status {
	INGEST_OK = 0,
	INGEST_RETRY,   /* not stored (or unknown): the source must retry */
	INGEST_REFUSED, /* never stored as it is: code and why say why */
};

/* How the customer was found (customer_identities). */
enum ingest_match {
	INGEST_MATCH_NEW = 0,      /* a new customer holds the identities */
	INGEST_MATCH_MATCHED,      /* exactly one customer had them */
	INGEST_MATCH_AMBIGUOUS,    /* several: a new customer, candidates */
	INGEST_MATCH_NONE,         /* no identity given: a new customer */
	INGEST_MATCH_CONVERSATION, /* the conversation's (given or found) */
};

/* What happened to the conversation. */
enum ingest_opened {
	INGEST_EXISTING = 0, /* the message joined a live conversation */
	INGEST_NEW,          /* opened now */
	INGEST_REOPENED,     /* a closed one of its thread, waiting again */
	INGEST_FOLLOWED,     /* opened now, following an ended one */
};

/* flags of struct ingest_msg */
#define INGEST_FIND_OPEN  0x1u /* the customer's live conversation here */
#define INGEST_NO_MESSAGE 0x2u /* a contact with no message yet: below */
/*
 * The channel publishes the message to the desks itself, with
 * conversation_publish_message (the web chat: it acknowledges its
 * resident only once Redis has the publication, and tells the other
 * instances' chat it is a resident's): step 6 is skipped for it, so that
 * it is not published on the bus twice.
 */
#define INGEST_OWN_DELIVERY 0x4u
/* The hook may refuse this one: never in a set (see Hooks above). */
#define INGEST_MAY_REFUSE 0x8u

/*
 * INGEST_NO_MESSAGE: a contact that opens or finds its conversation before
 * anyone has said anything (a web chat started, a call ringing). body must
 * be NULL. Steps 1 to 3 as for a message, but no message is stored: the
 * result's seq and at_ms are 0, and nothing goes to the delivery hook. It
 * has no (source, external_id) row to be found again by, so the channel
 * gives its contact's own id as a thread key to find and to add
 * (thread_find, thread_add): a repeat then finds the conversation
 * (INGEST_EXISTING; or re-opened or followed once it has ended, as any
 * thread: a hook may refuse that).
 */

/*
 * Told once the router has answered the hand-off of step 5 (ok 0: it could
 * not, and its reconciler queues the conversation within seconds); only
 * for a result whose routed is set, after the channel's callback. A
 * channel that tells its contact its place in the queue asks then.
 */
typedef void (*ingest_routed_fn)(void *arg, uint64_t conversation,
                                 uint64_t queue, int ok);

/* An attachment's metadata (its bytes are not stored yet: see above). */
struct ingest_attachment {
	const char *filename;     /* display name */
	const char *content_type; /* "type/subtype", or NULL */
	long long size;           /* bytes, or -1 when unknown */
	const char *sha256;       /* lower-case hex, or NULL */
	const char *location;     /* where the channel keeps it, or NULL */
};

/*
 * One inbound message, normalised by its channel. Strings are UTF-8 and
 * NUL-terminated; NULL means absent. Only channel, source, external_id
 * and (for a message that may open a conversation) queue are required.
 */
struct ingest_msg {
	const char *channel;     /* sb_channel: "chat", ..., "visit", "web" */
	const char *source;      /* messages.source: "imap:<mailbox>", ... */
	const char *external_id; /* the source's own id (idempotency) */
	const char *name;        /* the sender's name, for a new customer */
	const struct identity *ids; /* normalised (identity.h) */
	size_t nids;
	uint64_t conversation; /* a conversation the channel knows, or 0 */
	/* Thread keys on this channel to look for, best first. */
	const char *const *thread_find;
	size_t nthread_find;
	/* Thread keys to record for the conversation it ends up in. */
	const char *const *thread_add;
	size_t nthread_add;
	const char *reference; /* a case reference the sender quoted */
	unsigned flags;        /* INGEST_FIND_OPEN, INGEST_NO_MESSAGE,
	                          INGEST_OWN_DELIVERY, INGEST_MAY_REFUSE */
	const char *queue;     /* slug or id, for a new or re-opened one */
	const char *subject;   /* of a new conversation */
	const char *body;
	const char *metadata; /* the channel's: a JSON object's text */
	const struct ingest_attachment *attachments;
	size_t nattachments;
	const char *hook;      /* an ingest_hooks name (see Hooks), or NULL */
	const char *hook_data; /* for the hook: a JSON object's text, or NULL */
	ingest_routed_fn routed; /* or NULL; routed_arg must outlive it */
	void *routed_arg;
};

/*
 * What a callback (and the delivery hook) is told. status INGEST_OK: every
 * field below `why` is set. Otherwise code is a short token ("unavailable"
 * for a retry; for a refusal: unknown_queue, queue_inactive, queue_channel,
 * no_queue, no_conversation, conversation_channel, ended, unknown_hook, or
 * the hook's own code) and why a sentence, and the other fields are
 * 0/NULL.
 */
struct ingest_result {
	enum ingest_status status;
	const char *code;
	const char *why;
	uint64_t conversation;
	const char *reference; /* "SB10000008" */
	uint64_t seq;          /* messages.id; 0: INGEST_NO_MESSAGE */
	long long at_ms;       /* messages.created_at, Unix ms; 0: none */
	uint64_t customer;
	enum ingest_match match;
	const uint64_t *candidates; /* ambiguous: who it could be (first 16) */
	size_t ncandidates;
	enum ingest_opened opened;
	int repeated; /* a repeat: nothing was written now */
	int routed;   /* handed to the router after this callback */
	uint64_t queue;
	const char *channel;  /* the conversation's (may differ: a thread) */
	const char *body;     /* as stored */
	const char *metadata; /* as stored: a JSON object's text */
	/*
	 * The same metadata as the object its text was written from
	 * (borrowed for the call: json_incref to keep it; never change it),
	 * so that a receiver need not parse it again; NULL for a repeat,
	 * whose text is read back from PostgreSQL.
	 */
	json_t *metadata_obj;
	const char *hook; /* the hook's answer (a JSON text), or NULL */
};

typedef void (*ingest_cb)(void *arg, const struct ingest_result *res);
/*
 * The delivery hook: every message accepted (new or repeated: a repeat is
 * passed on again, since whoever committed it first may have died before
 * passing it on; receivers drop what they have by seq), after the
 * channel's callback and the hand-off to routing, unless the message was
 * submitted with INGEST_OWN_DELIVERY. The desk operations module
 * registers here (conversation_deliver: the message onto the bus).
 */
typedef void (*ingest_deliver_fn)(void *arg, const struct ingest_result *res);

/*
 * w: the channels' group-commit writer (not owned). r: the router, or
 * NULL (then the reconciler queues new conversations). Both must outlive
 * the ingest.
 */
struct ingest *ingest_new(uv_loop_t *loop, struct db_commit *w,
                          struct route *r);
void ingest_set_deliver(struct ingest *in, ingest_deliver_fn fn, void *arg);
/*
 * Submits one message. INGEST_OK: cb will be called exactly once (after
 * COMMIT, or with INGEST_RETRY when the batch failed). Otherwise cb is
 * never called and *why says why: INGEST_RETRY at once when the database
 * is unavailable or the writer's queue is full (answer 503: nothing was
 * written), INGEST_REFUSED for a message ingest cannot take (a missing or
 * overlong field, an unknown channel, metadata or hook_data (at most
 * INGEST_HOOK_DATA_MAX) that is not a
 * JSON object, a hook name that cannot be one).
 */
enum ingest_status ingest_submit(struct ingest *in, const struct ingest_msg *m,
                                 ingest_cb cb, void *arg, const char **why);
/* Messages submitted and not yet answered. */
unsigned ingest_pending(const struct ingest *in);
/*
 * Frees the ingest once every submitted message has been answered (their
 * callbacks still run; the router and delivery hook are no longer
 * called). NULL is a no-op.
 */
void ingest_free(struct ingest *in);

/* "new", "matched", ... as stored; "" out of range. */
const char *ingest_match_name(enum ingest_match m);

#endif
