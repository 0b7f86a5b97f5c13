/*
 * chat.c: the web chat channel. See chat.h and docs/chat-protocol.md.
 *
 * State here is per instance and rebuilt from PostgreSQL on resume:
 *   socks   resident sockets of this instance (conn -> rsock)
 *   chats   chats whose resident socket is (or was last) here
 *           (conversation -> rchat): idle and detached time-outs
 * Desks read and answer a chat through the conversation core
 * (conversation.h: conversation.history, .reply, .note, .read, .typing,
 * .end), in which the chat registers its ops (the "desks" section below),
 * and every end of a chat goes through it (conversation_end_by). What one
 * side says goes on the conversation bus (bus.h): desks here and elsewhere
 * get it from the bus, the resident's socket from the chat's hook on it
 * (on_bus), on whichever instance holds it. Asynchronous
 * answers carry connection ids, never socket pointers. Loop thread only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <sodium.h>

#include "chat.h"
#include "chat_config.h"
#include "chat_proto.h"
#include "conversation.h"
#include "idmap.h"
#include "log.h"
#include "metrics.h"
#include "waiting.h"
#include "xmalloc.h"

#define CHAT_WS_PROTOCOL "switchboard.chat.v1"
#define SWEEP_MS         1000
/* The warning before an idle chat ends (half the time-out when shorter). */
#define WARN_MS     60000
#define REPLAY_MAX  "2000"
#define REPLAY_PAGE 2000 /* REPLAY_MAX as a number */
/* How long a transcript confirmation link works. */
#define LINK_TTL_S    86400
#define CLOSE_RESUMED 4001 /* the chat was resumed on another socket */
/*
 * A waiting chat whose resident's socket went is given up after this
 * (or the idle time-out when shorter): long enough for a reload, another
 * page or a lost signal, short enough not to offer advisors an empty chat.
 */
#define DETACHED_WAITING_MS 120000

/* How many replayed message numbers a chat keeps to drop late copies. */
#define REPLAYED_KEEP 32
/*
 * An instance whose chat registry beat (once a sweep) is older than this
 * is dead: another one takes its chats over (see "registry").
 */
#define DEAD_MS 5000
/* Chats taken over, and chats registered, per Redis call at most. */
#define ADOPT_MAX 256

struct rsock {
	unsigned long conn;
	uint64_t conv;
	int busy;      /* a start or resume is in flight */
	int requests;  /* leave-a-message and transcript requests made */
	char addr[64]; /* the client's address */
};

struct rchat {
	uint64_t conv;
	unsigned long conn; /* the resident's socket here, 0 when gone */
	uint64_t queue;
	char state; /* 'w' waiting, 'a' with an advisor, 'e' ended */
	uint64_t staff;
	uint64_t last_act;    /* loop ms of the last word or typing */
	uint64_t detached_at; /* loop ms the socket went */
	int warned;
	int replaying;
	json_t *hold; /* messages for the resident held during a replay */
	/*
	 * A replay goes out page by page, as fast as the socket drains
	 * (limits.ws_send_queue): replay_more says a page is waiting for the
	 * socket to drain, replay_after is the last message number sent.
	 */
	int replay_more;
	long long replay_after;
	/*
	 * The newest messages the last replay sent (a ring). One committed
	 * just before the replay read the table may still come through
	 * Redis, during the replay or just after it; it is not sent twice.
	 */
	uint64_t replayed[REPLAYED_KEEP];
	unsigned nreplayed;
};

struct chat {
	uv_loop_t *loop;
	const struct gw_config *cfg;
	const struct chat_config *cc; /* the chat section of cfg */
	struct gw_http *http;
	struct waiting *wait;
	struct db *db;
	struct db_commit *w;
	struct ingest *in;
	struct kv *kv;
	struct bus *bus;
	struct idmap *socks, *chats;
	uv_timer_t sweep;
	struct conversation *cv; /* desk operations, ends (NULL: detached) */
	struct conversation_channel_ops ops; /* registered with cv */
	int end_now; /* the last end written ended the session (on_chat_ended)
	              */
	char origin[96];          /* this instance in the chat registry */
	int beating;              /* a registry beat is in flight */
	unsigned long long beats; /* answered beats */
};

/* An answer on its way: what it needs to find its socket again. */
struct pend {
	struct chat *c;
	unsigned long conn;
	uint64_t conv;
	json_t *id;
	char client[CHAT_UUID_LEN + 1];
	char by[16];
	char name[201];
	char text[64];
	json_t *obj;                /* a message to send on success */
	conversation_end_done done; /* chat_end: the core's answer */
	void *done_arg;
	char token[CHAT_TOKEN_LEN + 1];
	long long after;
	long long at;
	int flag;
};

/* ---------------------------------------------------------------- SQL */

static const char RESUME_SQL[] =
        "SELECT s.conversation_id, c.reference, c.status,"
        " coalesce(su.display_name, ''), coalesce(c.queue_id, 0),"
        " coalesce(s.ended_by, ''), greatest(s.advisor_read, coalesce(("
        "  SELECT r.advisor_read FROM conversation_reads r"
        "  WHERE r.conversation_id = s.conversation_id), 0)),"
        " coalesce(c.assigned_staff_id, 0)"
        " FROM chat_sessions s JOIN conversations c"
        "  ON c.id = s.conversation_id"
        " LEFT JOIN staff_users su ON su.id = c.assigned_staff_id"
        " WHERE s.token_sha256 = decode($1, 'hex')"
        "  AND s.expires_at > now()"
        "  AND (s.ended_at IS NULL OR s.ended_at > now() - interval '24 "
        "hours')";

static const char REPLAY_SQL[] =
        "SELECT m.id, m.author_kind, coalesce(su.display_name, ''), m.body,"
        " (extract(epoch FROM m.created_at) * 1000)::bigint,"
        " coalesce(substr(m.external_id, strpos(m.external_id, ':') + 1), '')"
        " FROM messages m LEFT JOIN staff_users su"
        "  ON su.id = m.author_staff_id"
        " WHERE m.conversation_id = $1::bigint AND m.id > $2::bigint"
        "  AND m.direction <> 'internal'"
        " ORDER BY m.id LIMIT " REPLAY_MAX;

/*
 * Chat's part of an end (the conversation's is the core's,
 * conversation_end_by): the session, once. $2: who ended it (advisor,
 * resident, system). One row when it was ended now.
 */
/*
 * Ends chat sessions, many per statement (a row set: $1 conversation, $2
 * by). Columns: position, 1 when this row ended it now (the first of a
 * batch for a session still open), else 0.
 */
static const struct db_rows END_ROWS = {
        "WITH r AS (SELECT * FROM unnest($1::bigint[], $2::text[])"
        "   WITH ORDINALITY AS r(conv, by, n)),"
        " f AS (SELECT DISTINCT ON (r.conv) r.* FROM r ORDER BY r.conv, r.n),"
        " u AS (UPDATE chat_sessions s SET ended_at = now(), ended_by = f.by"
        "  FROM f WHERE s.conversation_id = f.conv AND s.ended_at IS NULL"
        "  RETURNING s.conversation_id)"
        " SELECT r.n, (f.n = r.n AND u.conversation_id IS NOT NULL)::int"
        " FROM r JOIN f ON f.conv = r.conv"
        " LEFT JOIN u ON u.conversation_id = r.conv ORDER BY r.n",
        2};

static const char RES_READ_SQL[] =
        "UPDATE chat_sessions SET resident_read = greatest(resident_read,"
        " $2::bigint) WHERE conversation_id = $1::bigint";

static const char PAGE_SQL[] =
        "UPDATE chat_sessions SET page_url = $2, page_title = $3"
        " WHERE conversation_id = $1::bigint";

static const char RATING_SQL[] =
        "INSERT INTO conversation_ratings (conversation_id, score, comment)"
        " SELECT conversation_id, $2::smallint, $3 FROM chat_sessions"
        " WHERE conversation_id = $1::bigint AND ended_at IS NOT NULL"
        " ON CONFLICT (conversation_id) DO UPDATE SET score ="
        " EXCLUDED.score, comment = EXCLUDED.comment, updated_at = now()"
        " RETURNING 1";

/*
 * transcript.request within the limits: queued at once to an address
 * verified for the chat's customer, else a confirmation link first
 * (migration 0012). Columns: result, reference.
 */
static const char TRANSCRIPT_SQL[] =
        "SELECT result, coalesce(reference, '') FROM"
        " sb_chat_transcript_request($1::bigint, $2, $3, decode($4, 'hex'),"
        " $5, $6::integer, $7::integer, $8::integer)";

/* The confirmation link was opened. Columns: result, reference. */
static const char CONFIRM_SQL[] =
        "SELECT result, coalesce(reference, '') FROM"
        " sb_chat_transcript_confirm(decode($1, 'hex'))";

/*
 * What conversation.history of a chat adds (conversation.h's history_sql):
 * the page the resident is on, how far they read, who ended it, and the
 * contact details they typed with their match. No row for a message left
 * with no chat (no session).
 */
static const char HISTORY_SQL[] =
        "SELECT json_build_object('page', json_build_object('url',"
        " s.page_url, 'title', s.page_title), 'resident_read',"
        " s.resident_read, 'ended_by', coalesce(s.ended_by, ''),"
        " 'customer', json_strip_nulls(json_build_object('match',"
        " s.customer_match, 'email', s.email, 'mobile', s.mobile)))::text"
        " FROM chat_sessions s WHERE s.conversation_id = $1::bigint";

/* ---------------------------------------------------------------- util */

static long long
unix_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static uint64_t
parse_u64(const char *s)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 19)
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	return v;
}

static struct pend *
pend_new(struct chat *c, unsigned long conn, uint64_t conv, json_t *msg)
{
	struct pend *p = xcalloc(1, sizeof(*p));

	p->c = c;
	p->conn = conn;
	p->conv = conv;
	p->id = msg != NULL ? json_incref(json_object_get(msg, "id")) : NULL;
	return p;
}

static void
pend_free(struct pend *p)
{
	json_decref(p->id);
	json_decref(p->obj);
	free(p);
}

static void
reply(struct chat *c, unsigned long conn, json_t *id, json_t *obj)
{
	if (id != NULL)
		json_object_set(obj, "id", id);
	gw_http_ws_send(c->http, conn, obj);
}

static void
reply_error(struct chat *c, unsigned long conn, json_t *id, const char *code,
            const char *message)
{
	reply(c, conn, id,
	      json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
	                "message", message ? message : code));
}

static void
conv_text(uint64_t conv, char *buf, size_t len)
{
	snprintf(buf, len, "%llu", (unsigned long long)conv);
}

/* Whether obj is a message the last replay has already sent. */
static int
was_replayed(const struct rchat *ch, json_t *obj)
{
	const char *type = json_string_value(json_object_get(obj, "type"));
	json_int_t seq = json_integer_value(json_object_get(obj, "seq"));
	unsigned i;

	if (type == NULL || strcmp(type, "message") != 0 || seq <= 0)
		return 0;
	for (i = 0; i < ch->nreplayed && i < REPLAYED_KEEP; i++)
		if (ch->replayed[i] == (uint64_t)seq)
			return 1;
	return 0;
}

/* Sends obj (stolen) to the resident of conv if its socket is here. */
static int
to_resident(struct chat *c, uint64_t conv, json_t *obj)
{
	struct rchat *ch = idmap_get(c->chats, conv);
	const char *type = json_string_value(json_object_get(obj, "type"));

	if (ch == NULL || ch->conn == 0) {
		json_decref(obj);
		return 0;
	}
	/* The advisor wrote: the chat is not idle. */
	if (type != NULL && strcmp(type, "message") == 0) {
		ch->last_act = uv_now(c->loop);
		ch->warned = 0;
	}
	if (ch->replaying)
		json_array_append_new(ch->hold, obj);
	else if (was_replayed(ch, obj))
		json_decref(obj);
	else
		gw_http_ws_send(c->http, ch->conn, obj);
	return 1;
}

/* ---------------------------------------------------------------- fan-out */

/*
 * The chat's own part of a bus event (bus.h, channel "chat"), as text
 * for its hook: {"r": r} (r for the resident, stolen, may be NULL), "x":
 * x (a word of letters and dots, for the other instances' chat: attach,
 * ended, reclaim) and "f": "resident" for a resident's message (so that
 * an instance whose desks got it says "delivered"). "r" comes first:
 * on_bus reads only that here. NULL when there is none. malloc'd.
 */
static char *
own_part(json_t *r, const char *x, int resident_msg)
{
	json_t *own = json_object();
	char *text = NULL;

	if (r != NULL)
		json_object_set(own, "r", r);
	if (x != NULL)
		json_object_set_new(own, "x", json_string(x));
	if (resident_msg)
		json_object_set_new(own, "f", json_string("resident"));
	if (json_object_size(own) > 0)
		text = json_dumps(own, JSON_COMPACT);
	json_decref(own);
	json_decref(r);
	return text;
}

/*
 * An event of conv on the conversation bus: d (for the desks following
 * conv, here and elsewhere; stolen, may be NULL) and the chat's own part
 * (own_part). The chat's hook (on_bus) delivers r to the resident's
 * socket on whichever instance holds it, this one included. r goes out
 * even when the resident's socket is here: the resident may be resuming
 * on another instance right now, whose replay has already read the
 * table; only the instance holding the socket delivers, and a replay
 * drops the copies it sent already.
 */
static void
fanout_x(struct chat *c, uint64_t conv, json_t *r, json_t *d, const char *x)
{
	char *text = own_part(r, x, 0);

	bus_publish(c->bus, conv, 0, d, "chat", text, NULL, NULL);
	free(text);
	json_decref(d);
}

static void
fanout(struct chat *c, uint64_t conv, json_t *r, json_t *d)
{
	fanout_x(c, conv, r, d, NULL);
}

/* Tells the other instances' chat x about conv (nothing for the desks). */
static void
publish(struct chat *c, uint64_t conv, const char *x)
{
	fanout_x(c, conv, NULL, NULL, x);
}

/* A resident's message reached an advisor's desk: "delivered". */
static void
delivered(struct chat *c, uint64_t conv, uint64_t seq)
{
	fanout(c, conv,
	       json_pack("{s:s, s:I, s:s}", "type", "message.status", "seq",
	                 (json_int_t)seq, "state", "delivered"),
	       NULL);
}

static void detach_socket(struct chat *c, struct rsock *s);
static void chat_forget(struct chat *c, uint64_t conv);
static void registry_hold(struct chat *c, uint64_t conv);
static void registry_drop(struct chat *c, uint64_t conv);

/*
 * The chat's hook on the bus: every chat event, on every instance (this
 * one included, local set), after the desks here were sent theirs.
 */
static void
on_bus(void *arg, const struct bus_event *ev)
{
	struct chat *c = arg;
	json_t *m, *r;
	const char *x, *f;
	struct rchat *ch;

	/*
	 * Here, only a part for the resident matters ({"r": first: fanout_x
	 * writes it first); most events (a resident's message) have none.
	 */
	if (ev->len == 0 || (ev->local && strncmp(ev->body, "{\"r\":", 5) != 0))
		return;
	m = json_loadb(ev->body, ev->len, 0, NULL);
	x = json_string_value(json_object_get(m, "x"));
	f = json_string_value(json_object_get(m, "f"));
	ch = idmap_get(c->chats, ev->conv);
	if (ev->local) {
		/* What the other instances must do; nothing here. */
	} else if (x != NULL && strcmp(x, "attach") == 0 && ch != NULL) {
		/* Resumed on another instance: that one holds it now. */
		struct rsock *s =
		        ch->conn ? idmap_get(c->socks, ch->conn) : NULL;

		if (s != NULL) {
			gw_http_ws_close(c->http, s->conn, CLOSE_RESUMED,
			                 "resumed elsewhere");
			detach_socket(c, s);
		}
		chat_forget(c, ev->conv);
	} else if (x != NULL && strcmp(x, "ended") == 0 && ch != NULL) {
		ch->state = 'e';
	} else if (x != NULL && strcmp(x, "reclaim") == 0 && ch != NULL &&
	           ch->conn == 0) {
		/* Taken over from an instance that was not dead after all. */
		chat_forget(c, ev->conv);
	} else if (f != NULL && strcmp(f, "resident") == 0 && ev->seq != 0 &&
	           ev->desks > 0) {
		delivered(c, ev->conv, ev->seq);
	}
	r = json_object_get(m, "r");
	if (r != NULL)
		to_resident(c, ev->conv, json_incref(r));
	json_decref(m);
}

/* ---------------------------------------------------------------- chats */

static struct rchat *
chat_hold(struct chat *c, uint64_t conv)
{
	struct rchat *ch = idmap_get(c->chats, conv);

	if (ch == NULL) {
		ch = xcalloc(1, sizeof(*ch));
		ch->conv = conv;
		ch->state = 'w';
		idmap_put(c->chats, conv, ch);
	}
	ch->last_act = uv_now(c->loop);
	ch->warned = 0;
	return ch;
}

static void
chat_forget(struct chat *c, uint64_t conv)
{
	struct rchat *ch = idmap_del(c->chats, conv);

	if (ch != NULL) {
		json_decref(ch->hold);
		free(ch);
	}
}

static void
presence(struct chat *c, uint64_t conv, int online)
{
	char cv[24];

	conv_text(conv, cv, sizeof(cv));
	fanout(c, conv, NULL,
	       json_pack("{s:s, s:s, s:b}", "type", "chat.presence",
	                 "conversation", cv, "online", online));
}

/* The socket no longer holds its chat (closed, or resumed elsewhere). */
static void
detach_socket(struct chat *c, struct rsock *s)
{
	struct rchat *ch = s->conv ? idmap_get(c->chats, s->conv) : NULL;

	waiting_unfollow(c->wait, "chat", s->conn);
	if (ch != NULL && ch->conn == s->conn) {
		ch->conn = 0;
		ch->detached_at = uv_now(c->loop);
		if (ch->state == 'a')
			presence(c, s->conv, 0);
	}
	s->conv = 0;
}

/*
 * conversation_end_by answered an end the chat asked for: the one who
 * ended it (the resident's socket conn, when not 0) is answered
 * chat.ended, unless the end's own chat.ended reached that socket here
 * (c->end_now: the session was ended by this end, just now).
 */
static void
on_chat_ended(void *arg, int ok, int now, const char *status, const char *why)
{
	struct pend *p = arg;
	struct chat *c = p->c;
	struct rchat *ch = idmap_get(c->chats, p->conv);

	(void)now;
	(void)status;
	if (!ok) {
		if (p->conn)
			reply_error(c, p->conn, p->id, "unavailable", why);
		gw_warn("chat.end_failed", "conv=%llu reason=\"%s\"",
		        (unsigned long long)p->conv, why ? why : "?");
	} else if (p->conn &&
	           (ch == NULL || ch->conn != p->conn || !c->end_now)) {
		reply(c, p->conn, p->id,
		      json_pack("{s:s, s:s}", "type", "chat.ended", "by",
		                p->by));
	}
	c->end_now = 0;
	pend_free(p);
}

/*
 * Ends the chat of conv, said by `by` (resident, advisor, system),
 * through the core (conversation_end_by: the conversation's status, its
 * event, routing, the desks), which then calls chat_end for the chat's
 * own part. The answer (chat.ended or an error) goes to conn with msg's
 * id when conn is not 0.
 */
static void
end_chat(struct chat *c, uint64_t conv, const char *by, unsigned long conn,
         json_t *msg)
{
	struct pend *p = pend_new(c, conn, conv, msg);

	snprintf(p->by, sizeof(p->by), "%s", by);
	if (c->cv == NULL ||
	    conversation_end_by(c->cv, conv, by, on_chat_ended, p) != 0)
		on_chat_ended(p, 0, 0, "", "database unavailable");
}

/* The session's end is written (or not): the core is told (p->done). */
static void
on_end_written(void *arg, int ok, const PGresult *res, int row, const char *err)
{
	struct pend *p = arg;
	struct chat *c = p->c;
	struct rchat *ch = idmap_get(c->chats, p->conv);
	char *text = NULL;

	if (!ok || res == NULL || row < 0) {
		c->end_now = 0;
		p->done(p->done_arg, NULL,
		        err ? err : "the chat could not be ended");
		pend_free(p);
		return;
	}
	if (ch != NULL)
		ch->state = 'e';
	c->end_now = strcmp(PQgetvalue(res, row, 1), "1") == 0;
	if (c->end_now) {
		/* Ended now: the resident is told, wherever their socket is. */
		gw_info("chat.ended", "conv=%llu by=%s",
		        (unsigned long long)p->conv, p->by);
		registry_drop(c, p->conv);
		text = own_part(json_pack("{s:s, s:s}", "type", "chat.ended",
		                          "by", p->by),
		                "ended", 0);
	}
	p->done(p->done_arg, text, NULL);
	free(text);
	pend_free(p);
}

/*
 * The chat's end op (conversation.h): the session ends once (ended_at,
 * ended_by: chat's own table), the chat leaves the registry, and the
 * resident is sent chat.ended with the core's conversation.finished.
 * Called again for a chat that had ended (e->now 0): nothing more.
 */
static void
chat_end(void *arg, const struct conversation_end *e,
         conversation_end_done done, void *done_arg)
{
	struct chat *c = arg;
	struct pend *p = pend_new(c, 0, e->conv, NULL);
	char cv[24];
	const char *params[2] = {cv, e->by}, *reason = NULL;

	conv_text(e->conv, cv, sizeof(cv));
	snprintf(p->by, sizeof(p->by), "%s", e->by);
	p->done = done;
	p->done_arg = done_arg;
	if (db_commit_submit_row(c->w, &END_ROWS, params, on_end_written, p,
	                         &reason) != 0)
		on_end_written(p, 0, NULL, -1, reason);
}

/* ---------------------------------------------------------------- place */

/*
 * The place of conv in its queue (waiting.h): the answer to send_position
 * (handle 0) goes to the resident of a chat that still waits; a followed
 * socket's (handle: its connection) to that socket.
 */
static void
on_position(void *arg, uint64_t conv, uint64_t handle, long position,
            long long ewt)
{
	struct chat *c = arg;
	struct rchat *ch = idmap_get(c->chats, conv);
	json_t *m = json_pack("{s:s, s:I, s:I}", "type", "chat.queued",
	                      "position", (json_int_t)position,
	                      "estimated_wait_ms", (json_int_t)ewt);

	if (handle != 0)
		gw_http_ws_send(c->http, (unsigned long)handle, m);
	else if (ch != NULL && ch->state == 'w')
		to_resident(c, conv, m);
	else
		json_decref(m);
}

/* Tells the resident of conv its place in the queue now. */
static void
send_position(struct chat *c, uint64_t conv, uint64_t queue)
{
	waiting_position(c->wait, "chat", conv, queue);
}

/*
 * Ingest handed a new chat to the router (routed: the router has it): the
 * resident is told its place now.
 */
static void
on_start_routed(void *arg, uint64_t conv, uint64_t queue, int ok)
{
	if (ok)
		send_position(arg, conv, queue);
}

/* ---------------------------------------------------------------- start */

/* The chat.start hook's answer: whether it was a repeat, and the match. */
static void
start_answer(const struct ingest_result *r, int *repeated, char *match,
             size_t len)
{
	json_t *h = r->hook != NULL ? json_loads(r->hook, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(h, "match"));

	*repeated = json_is_true(json_object_get(h, "repeated"));
	snprintf(match, len, "%s", m != NULL ? m : "none");
	json_decref(h);
}

/*
 * Ingest found or opened the chat's conversation (no message: the start's
 * thread key start:<client id> finds it again) and the chat.start hook
 * (migration 0020) wrote the session, after COMMIT; or nothing was written.
 */
static void
on_started(void *arg, const struct ingest_result *r)
{
	struct pend *p = arg;
	struct chat *c = p->c;
	struct rsock *s = idmap_get(c->socks, p->conn);
	struct rchat *ch;
	char cv[24], match[16];
	int repeated;

	if (s != NULL)
		s->busy = 0;
	if (r->status == INGEST_RETRY) {
		if (s != NULL)
			reply_error(c, p->conn, p->id, "unavailable", r->why);
		pend_free(p);
		return;
	}
	if (r->status != INGEST_OK && strcmp(r->code, "unserved") == 0) {
		/* Nobody serves the topic now: leave a message instead. */
		if (s != NULL)
			reply(c, p->conn, p->id,
			      json_pack("{s:s, s:s, s:s, s:b}", "type",
			                "chat.closed", "reason", "unserved",
			                "message",
			                "No advisor is available for this "
			                "topic right now.",
			                "leave_message", 1));
		pend_free(p);
		return;
	}
	if (r->status != INGEST_OK) {
		if (s != NULL && strcmp(r->code, "ended") == 0)
			reply_error(c, p->conn, p->id, "bad_message",
			            "this client_id started a chat that has "
			            "ended: start with a new one");
		else if (s != NULL)
			reply_error(c, p->conn, p->id, "not_found",
			            "no such queue takes chat");
		pend_free(p);
		return;
	}
	start_answer(r, &repeated, match, sizeof(match));
	conv_text(r->conversation, cv, sizeof(cv));
	if (s == NULL || s->conv != 0) {
		/*
		 * The socket went (or took another chat) meanwhile: the chat
		 * waits; the resident resumes with the same start client id
		 * or the detached time-out ends it.
		 */
		ch = chat_hold(c, r->conversation);
		ch->queue = r->queue;
		ch->detached_at = uv_now(c->loop);
	} else {
		ch = chat_hold(c, r->conversation);
		ch->queue = r->queue;
		ch->conn = p->conn;
		s->conv = r->conversation;
		reply(c, p->conn, p->id,
		      json_pack("{s:s, s:s, s:s, s:s, s:s}", "type",
		                "chat.started", "conversation", cv, "reference",
		                r->reference, "token", p->token, "match",
		                match));
		waiting_follow(c->wait, "chat", p->conn, r->conversation,
		               r->queue, 1);
	}
	registry_hold(c, r->conversation);
	gw_info("chat.started", "conv=%s match=%s repeated=%s", cv, match,
	        repeated ? "t" : "f");
	/* A new one is routed by ingest now (on_start_routed: its place). */
	if (repeated) {
		send_position(c, r->conversation, r->queue);
		if (s != NULL)
			publish(c, r->conversation, "attach");
	}
	pend_free(p);
}

static void
new_token(char *token, size_t len, char *hash_hex, size_t hlen)
{
	unsigned char raw[32], h[crypto_hash_sha256_BYTES];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(token, len, raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(hash_hex, hlen, h, sizeof(h));
	sodium_memzero(raw, sizeof(raw));
}

static void
token_hash(const char *token, char *hash_hex, size_t hlen)
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(hash_hex, hlen, h, sizeof(h));
}

/* The queue policy's "closed" as the widget hears it (chat.closed). */
static json_t *
closed_message(const struct waiting_gate *g)
{
	json_t *m = json_pack("{s:s, s:s, s:s, s:b}", "type", "chat.closed",
	                      "queue", g->slug, "message", g->message,
	                      "leave_message", g->leave_message);

	if (g->next_open > 0)
		json_object_set_new(
		        m, "next_open_ms",
		        json_integer((json_int_t)g->next_open * 1000));
	return m;
}

/*
 * The gate's answer (waiting.h): closed, or the queue to start in and
 * whether anyone serves it (served -1: routing could not say, and the
 * chat queues). The start goes to ingest with the answer, as a contact
 * with no message; the chat.start hook writes the session. What the start
 * said waits in p->obj.
 */
static void
on_gate(void *arg, const struct waiting_gate *g)
{
	struct pend *p = arg;
	struct chat *c = p->c;
	struct rsock *s = idmap_get(c->socks, p->conn);
	int served = g->served;
	const char *email = json_string_value(json_object_get(p->obj, "email"));
	const char *mobile =
	        json_string_value(json_object_get(p->obj, "mobile"));
	const char *client =
	        json_string_value(json_object_get(p->obj, "client"));
	const char *reason = "out of memory", *key[1];
	char ext[80], *data = NULL;
	struct identity ids[2];
	struct ingest_msg m;
	enum ingest_status st = INGEST_RETRY;

	if (g->verdict == WAITING_CLOSED) {
		if (s != NULL) {
			s->busy = 0;
			reply(c, p->conn, p->id, closed_message(g));
		}
		pend_free(p);
		return;
	}
	/* As asked, or the queue it overflows to. */
	json_object_set_new(p->obj, "queue", json_string(g->queue));
	memset(&m, 0, sizeof(m));
	m.ids = ids;
	/* Normalised by chat_parse already: parsed again, never guessed. */
	if (email != NULL &&
	    identity_parse("email", email, &ids[m.nids], NULL) == 0)
		m.nids++;
	if (mobile != NULL &&
	    identity_parse("phone", mobile, &ids[m.nids], NULL) == 0)
		m.nids++;
	/* Without a client id a start is never found again (as before). */
	snprintf(ext, sizeof(ext), "start:%s",
	         client != NULL
	                 ? client
	                 : json_string_value(json_object_get(p->obj, "token")));
	key[0] = ext;
	if (client != NULL) {
		m.thread_find = key;
		m.nthread_find = 1;
		m.thread_add = key;
		m.nthread_add = 1;
	}
	json_object_set_new(p->obj, "served",
	                    served < 0 ? json_null() : json_boolean(served));
	json_object_set_new(p->obj, "lifetime",
	                    json_integer(c->cc->token_lifetime));
	m.channel = "chat";
	m.source = "chat";
	m.external_id = ext;
	m.name = json_string_value(json_object_get(p->obj, "name"));
	m.queue = json_string_value(json_object_get(p->obj, "queue"));
	/* Refused 'unserved' only when nobody serves it: never in a set. */
	m.flags = INGEST_NO_MESSAGE | (served == 0 ? INGEST_MAY_REFUSE : 0);
	m.hook = "chat.start";
	m.routed = on_start_routed;
	m.routed_arg = c;
	data = json_dumps(p->obj, JSON_COMPACT);
	m.hook_data = data;
	if (data != NULL)
		st = ingest_submit(c->in, &m, on_started, p, &reason);
	free(data);
	if (st != INGEST_OK) {
		if (s != NULL) {
			s->busy = 0;
			reply_error(c, p->conn, p->id,
			            st == INGEST_RETRY ? "unavailable"
			                               : "bad_message",
			            reason);
		}
		pend_free(p);
	}
}

static void
start(struct chat *c, struct rsock *s, json_t *msg, const struct chat_req *q)
{
	json_t *id = json_object_get(msg, "id");
	char hash[65];
	struct pend *p;

	if (s->conv != 0 || s->busy) {
		reply_error(c, s->conn, id, "bad_message",
		            "this socket has a chat already");
		return;
	}
	p = pend_new(c, s->conn, 0, msg);
	new_token(p->token, sizeof(p->token), hash, sizeof(hash));
	/*
	 * The chat.start hook's data (migration 0020), and the contact's; the
	 * queue is the gate's.
	 */
	p->obj = json_pack("{s:s?, s:s?, s:s?, s:s, s:s?, s:s?, s:s?}", "name",
	                   q->name, "email", q->email, "mobile", q->mobile,
	                   "token", hash, "client", q->client_id, "url", q->url,
	                   "title", q->title);
	s->busy = 1;
	/*
	 * Open, overflowing or closed by the queue's hours, and whether
	 * anyone serves it now (nobody: leave a message instead). An unknown
	 * queue is the start's to refuse.
	 */
	waiting_gate(c->wait, q->queue, "chat", time(NULL), on_gate, p);
}

/* ---------------------------------------------------------------- limits */

/*
 * A request that may queue mail to an address the resident typed
 * (message.leave, transcript.request) refused by a limit: logged,
 * counted, answered too_many_requests. kind: leave, transcript; limit:
 * socket, client or destination.
 */
static void
refuse(struct chat *c, unsigned long conn, json_t *id, const char *kind,
       const char *limit)
{
	enum gw_refusal why =
	        strcmp(limit, "socket") == 0   ? GW_REFUSAL_CHAT_SOCKET
	        : strcmp(limit, "client") == 0 ? GW_REFUSAL_CHAT_CLIENT
	                                       : GW_REFUSAL_CHAT_DESTINATION;
	struct rsock *s = idmap_get(c->socks, conn);
	char addr[64];

	gw_warn("chat.refused", "kind=%s limit=%s conn=%lu client=%s", kind,
	        why == GW_REFUSAL_CHAT_SOCKET   ? "socket"
	        : why == GW_REFUSAL_CHAT_CLIENT ? "client"
	                                        : "destination",
	        conn,
	        gw_log_clean(addr, sizeof(addr), s != NULL ? s->addr : ""));
	gw_metrics_refusal(why);
	reply_error(c, conn, id, "too_many_requests",
	            why == GW_REFUSAL_CHAT_DESTINATION
	                    ? "too many requests for this email address or "
	                      "number: try again later"
	                    : "too many messages left or transcripts asked "
	                      "for from here: try again later");
}

/* One more request on s; 1 (refused, answered) past the socket's limit. */
static int
over_socket_limit(struct chat *c, struct rsock *s, json_t *msg,
                  const char *kind)
{
	if (s->requests >= c->cc->requests_per_socket) {
		refuse(c, s->conn, json_object_get(msg, "id"), kind, "socket");
		return 1;
	}
	s->requests++;
	return 0;
}

/* Ingest's refusals of a left message that are a chat limit's. */
static const char *const LEAVE_LIMITS[] = {"client", "destination"};

/*
 * The left message is stored (after COMMIT) with what is chat's (the
 * chat.leave hook, migration 0020: limits, event, acknowledgement email),
 * or refused with nothing stored; ingest routes a new one.
 */
static void
on_left(void *arg, const struct ingest_result *r)
{
	struct pend *p = arg;
	struct chat *c = p->c;
	char cv[24];
	size_t i;

	if (r->status == INGEST_RETRY) {
		reply_error(c, p->conn, p->id, "unavailable", r->why);
		pend_free(p);
		return;
	}
	if (r->status != INGEST_OK) {
		for (i = 0; i < sizeof(LEAVE_LIMITS) / sizeof(LEAVE_LIMITS[0]);
		     i++)
			if (strcmp(r->code, LEAVE_LIMITS[i]) == 0)
				break;
		if (i < sizeof(LEAVE_LIMITS) / sizeof(LEAVE_LIMITS[0]))
			refuse(c, p->conn, p->id, "leave", r->code);
		else
			reply_error(c, p->conn, p->id, "not_found",
			            "no such queue takes chat");
		pend_free(p);
		return;
	}
	conv_text(r->conversation, cv, sizeof(cv));
	reply(c, p->conn, p->id,
	      json_pack("{s:s, s:s, s:s}", "type", "message.left",
	                "conversation", cv, "reference", r->reference));
	gw_info("chat.left_message", "conv=%s repeated=%s", cv,
	        r->repeated ? "t" : "f");
	pend_free(p);
}

/*
 * message.leave: a contact through ingest (source chat, external id
 * leave:<client id>, the resident's email and mobile as identities, the
 * queue given), with the chat's own rows in its transaction.
 */
static void
leave(struct chat *c, struct rsock *s, json_t *msg, const struct chat_req *q)
{
	struct identity ids[2];
	char ext[64], *meta = NULL, *data = NULL;
	const char *reason = NULL;
	struct ingest_msg m;
	enum ingest_status st;
	struct pend *p;
	json_t *o;

	if (over_socket_limit(c, s, msg, "leave"))
		return;
	p = pend_new(c, s->conn, 0, msg);
	memset(&m, 0, sizeof(m));
	m.ids = ids;
	/* Normalised by chat_parse already: parsed again, never guessed. */
	if (q->email != NULL &&
	    identity_parse("email", q->email, &ids[m.nids], NULL) == 0)
		m.nids++;
	if (q->mobile != NULL &&
	    identity_parse("phone", q->mobile, &ids[m.nids], NULL) == 0)
		m.nids++;
	snprintf(ext, sizeof(ext), "leave:%s", q->client_id);
	o = json_pack("{s:s, s:s, s:s?, s:s?}", "kind", "left_message",
	              "reply_by", q->email != NULL ? "email" : "sms", "email",
	              q->email, "mobile", q->mobile);
	meta = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	o = json_pack("{s:s?, s:s?, s:s, s:i, s:i}", "email", q->email,
	              "mobile", q->mobile, "addr", s->addr, "max_client",
	              c->cc->requests_per_client, "max_dest",
	              c->cc->requests_per_destination);
	data = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	m.channel = "chat";
	m.source = "chat";
	m.external_id = ext;
	m.name = q->name;
	m.queue = q->queue;
	m.body = q->text;
	m.metadata = meta;
	m.hook = "chat.leave";
	m.hook_data = data;
	if (meta == NULL || data == NULL) {
		reply_error(c, s->conn, p->id, "unavailable", "out of memory");
		pend_free(p);
	} else if ((st = ingest_submit(c->in, &m, on_left, p, &reason)) !=
	           INGEST_OK) {
		reply_error(c, s->conn, p->id,
		            st == INGEST_RETRY ? "unavailable" : "bad_message",
		            reason);
		pend_free(p);
	}
	free(meta);
	free(data);
}

/* ---------------------------------------------------------------- resume */

static json_t *
message_json(const PGresult *res, int i, int with_client)
{
	const char *kind = PQgetvalue(res, i, 1);
	const char *from = strcmp(kind, "customer") == 0 ? "resident"
	                   : strcmp(kind, "staff") == 0  ? "advisor"
	                                                 : "system";
	json_t *m = json_pack("{s:s, s:I, s:s, s:s, s:I}", "type", "message",
	                      "seq", (json_int_t)atoll(PQgetvalue(res, i, 0)),
	                      "from", from, "text", PQgetvalue(res, i, 3), "at",
	                      (json_int_t)atoll(PQgetvalue(res, i, 4)));

	if (strcmp(from, "advisor") == 0)
		json_object_set_new(m, "name",
		                    json_string(PQgetvalue(res, i, 2)));
	if (with_client && strcmp(from, "resident") == 0 &&
	    text_is_uuid(PQgetvalue(res, i, 5)))
		json_object_set_new(m, "client_id",
		                    json_string(PQgetvalue(res, i, 5)));
	return m;
}

/*
 * Sends the rows of a replay page from row `from` on while the socket has
 * room for them (at least one: the queue has drained when a page starts);
 * returns 1 when rows are left for the next page (cut short, or a full
 * page read: more may follow in the table).
 */
static int
replay_page(struct chat *c, struct rchat *ch, unsigned long conn,
            const PGresult *res)
{
	int n = PQntuples(res), k;
	uint64_t seq;
	json_t *m;
	char *text;

	for (k = 0; k < n; k++) {
		m = message_json(res, k, 1);
		text = json_dumps(m, JSON_COMPACT);
		json_decref(m);
		if (text == NULL)
			continue;
		if (k > 0 && strlen(text) > gw_http_ws_room(c->http, conn)) {
			free(text);
			return 1;
		}
		gw_http_ws_send_text(c->http, conn, text);
		free(text);
		seq = parse_u64(PQgetvalue(res, k, 0));
		ch->replayed[ch->nreplayed++ % REPLAYED_KEEP] = seq;
		ch->replay_after = (long long)seq;
	}
	return n == REPLAY_PAGE;
}

static void replay_read(struct chat *c, unsigned long conn, uint64_t conv,
                        long long after);

static void
on_replayed(void *arg, PGresult *res, const char *err)
{
	struct pend *p = arg;
	struct chat *c = p->c;
	struct rsock *s = idmap_get(c->socks, p->conn);
	struct rchat *ch = idmap_get(c->chats, p->conv);
	size_t i;
	json_t *m;

	if (ch == NULL || ch->conn != p->conn || !ch->replaying)
		goto out;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* The widget resumes again and gets them then. */
		gw_warn("chat.replay_failed", "conv=%llu reason=\"%s\"",
		        (unsigned long long)p->conv, err ? err : "?");
		gw_http_ws_close(c->http, p->conn, 1011, "replay failed");
	} else if (replay_page(c, ch, p->conn, res)) {
		/* The rest once the socket has taken this much. */
		ch->replay_more = 1;
		gw_http_ws_want_drained(c->http, p->conn);
		goto out;
	}
	ch->replaying = 0;
	for (i = 0; i < json_array_size(ch->hold); i++) {
		m = json_array_get(ch->hold, i);
		if (!was_replayed(ch, m))
			gw_http_ws_send(c->http, p->conn, json_incref(m));
	}
	json_array_clear(ch->hold);
	if (s != NULL && ch->state == 'w')
		send_position(c, p->conv, ch->queue);
out:
	pend_free(p);
}

/* Reads the resident's messages after `after` for conv's replay. */
static void
replay_read(struct chat *c, unsigned long conn, uint64_t conv, long long after)
{
	struct pend *p = pend_new(c, conn, conv, NULL);
	char cv[24], num[24];
	const char *params[2] = {cv, num};

	conv_text(conv, cv, sizeof(cv));
	snprintf(num, sizeof(num), "%lld", after);
	if (db_query(c->db, REPLAY_SQL, 2, params, on_replayed, p) != 0)
		on_replayed(p, NULL, "database unavailable");
}

/* A replay page went out whole: the next one. */
static void
on_res_drained(void *arg, unsigned long conn)
{
	struct chat *c = arg;
	struct rsock *s = idmap_get(c->socks, conn);
	struct rchat *ch =
	        s != NULL && s->conv != 0 ? idmap_get(c->chats, s->conv) : NULL;

	if (ch == NULL || ch->conn != conn || !ch->replaying ||
	    !ch->replay_more)
		return;
	ch->replay_more = 0;
	replay_read(c, conn, ch->conv, ch->replay_after);
}

static void
on_resumed(void *arg, PGresult *res, const char *err)
{
	struct pend *p = arg;
	struct chat *c = p->c;
	struct rsock *s = idmap_get(c->socks, p->conn), *old;
	struct rchat *ch;
	const char *status, *state, *ended_by;
	json_t *m;

	if (s != NULL)
		s->busy = 0;
	if (s == NULL || s->conv != 0) {
		pend_free(p);
		return;
	}
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		reply_error(c, p->conn, p->id, "unavailable", err);
		pend_free(p);
		return;
	}
	if (PQntuples(res) != 1) {
		reply_error(c, p->conn, p->id, "expired",
		            "this chat can no longer be resumed");
		pend_free(p);
		return;
	}
	p->conv = parse_u64(PQgetvalue(res, 0, 0));
	status = PQgetvalue(res, 0, 2);
	ended_by = PQgetvalue(res, 0, 5);
	ch = idmap_get(c->chats, p->conv);
	if (ch != NULL && ch->conn != 0 && ch->conn != p->conn &&
	    (old = idmap_get(c->socks, ch->conn)) != NULL) {
		/* The same chat in another tab, or an older socket. */
		gw_http_ws_close(c->http, old->conn, CLOSE_RESUMED,
		                 "resumed elsewhere");
		detach_socket(c, old);
	}
	ch = chat_hold(c, p->conv);
	ch->conn = p->conn;
	ch->queue = parse_u64(PQgetvalue(res, 0, 4));
	ch->staff = parse_u64(PQgetvalue(res, 0, 7));
	if (ended_by[0] != '\0' || strcmp(status, "closed") == 0 ||
	    strcmp(status, "wrap_up") == 0) {
		ch->state = 'e';
		state = "ended";
	} else if (strcmp(status, "assigned") == 0) {
		ch->state = 'a';
		state = "assigned";
	} else {
		ch->state = 'w';
		state = "waiting";
	}
	s->conv = p->conv;
	registry_hold(c, p->conv);
	ch->replaying = 1;
	ch->replay_more = 0;
	ch->nreplayed = 0;
	if (ch->hold == NULL)
		ch->hold = json_array();
	publish(c, p->conv, "attach");
	m = json_pack("{s:s, s:s, s:s, s:s, s:I}", "type", "chat.resumed",
	              "conversation", PQgetvalue(res, 0, 0), "reference",
	              PQgetvalue(res, 0, 1), "state", state, "read",
	              (json_int_t)atoll(PQgetvalue(res, 0, 6)));
	if (ch->state == 'a' && PQgetvalue(res, 0, 3)[0] != '\0')
		json_object_set_new(
		        m, "advisor",
		        json_pack("{s:s}", "name", PQgetvalue(res, 0, 3)));
	if (ch->state == 'e')
		json_object_set_new(
		        m, "by",
		        json_string(ended_by[0] ? ended_by : "system"));
	reply(c, p->conn, p->id, m);
	waiting_follow(c->wait, "chat", p->conn, p->conv, ch->queue,
	               ch->state == 'w');
	if (ch->state == 'a')
		presence(c, p->conv, 1);
	replay_read(c, p->conn, p->conv, p->after);
	pend_free(p);
}

static void
resume(struct chat *c, struct rsock *s, json_t *msg, const struct chat_req *q)
{
	char hash[65];
	const char *params[1] = {hash};
	struct pend *p;

	if (s->conv != 0 || s->busy) {
		reply_error(c, s->conn, json_object_get(msg, "id"),
		            "bad_message", "this socket has a chat already");
		return;
	}
	p = pend_new(c, s->conn, 0, msg);
	p->after = q->after;
	token_hash(q->token, hash, sizeof(hash));
	if (db_query(c->db, RESUME_SQL, 1, params, on_resumed, p) != 0) {
		reply_error(c, s->conn, p->id, "unavailable",
		            "database unavailable");
		pend_free(p);
		return;
	}
	s->busy = 1;
}

/* ---------------------------------------------------------------- messages */

/*
 * Acknowledges a resident's message (p->after: seq, p->at); then, when a
 * desk here had it (p->flag), "delivered": after the ack, which the
 * widget needs first to know the message's seq.
 */
static void
msg_ack(struct pend *p)
{
	reply(p->c, p->conn, p->id,
	      json_pack("{s:s, s:s, s:I, s:I}", "type", "message.ack",
	                "client_id", p->client, "seq", (json_int_t)p->after,
	                "at", (json_int_t)p->at));
	if (p->flag)
		delivered(p->c, p->conv, p->after);
}

/*
 * Redis has the message for the other instances' desks (or lost it with
 * the connection: the resident sends it again, and its repeat is
 * published again). Only now is it acknowledged: an instance that dies
 * between the commit and this never acknowledged it.
 */
static void
on_msg_published(void *arg, int ok)
{
	struct pend *p = arg;

	if (!ok)
		reply_error(p->c, p->conn, p->id, "unavailable",
		            "not passed on to the advisor: send it again");
	else
		msg_ack(p);
	pend_free(p);
}

/*
 * Ingest stored the message (or found it stored: a retry of one sent
 * before, acknowledged again with what was stored), after COMMIT.
 */
static void
on_msg_ingested(void *arg, const struct ingest_result *r)
{
	struct pend *p = arg;
	struct chat *c = p->c;
	struct conversation_inbound m;
	char *own;
	int told;

	if (r->status == INGEST_RETRY) {
		reply_error(c, p->conn, p->id, "unavailable", r->why);
		pend_free(p);
		return;
	}
	if (r->status != INGEST_OK) {
		/* ended, or no such chat conversation: nothing was stored. */
		reply_error(c, p->conn, p->id, "ended", "the chat is over");
		pend_free(p);
		return;
	}
	p->after = (long long)r->seq;
	p->at = r->at_ms;
	/*
	 * A repeat is passed on again: the first may have been committed by
	 * an instance that died before publishing it. Desks drop what they
	 * had (follower.recent). The desks' event is the core's
	 * conversation.message; "f": "resident" tells the other instances'
	 * chat that it is a resident's (they say "delivered" when their desks
	 * got it). With Redis down it is acknowledged at once, as before the
	 * bus: desks elsewhere read it in their history.
	 */
	memset(&m, 0, sizeof(m));
	m.conv = p->conv;
	m.seq = r->seq;
	m.at_ms = r->at_ms;
	m.channel = "chat";
	/* A repeat shows the text stored, not what the retry says. */
	m.body = r->body;
	m.client_id = p->client;
	own = own_part(NULL, NULL, 1);
	m.for_channel = own;
	told = kv_ready(c->kv) && c->cv != NULL;
	if (c->cv != NULL)
		p->flag = conversation_publish_message(
		                  c->cv, &m, told ? on_msg_published : NULL,
		                  told ? p : NULL) > 0;
	free(own);
	if (!told) {
		/* Redis is down: desks elsewhere read it in their history. */
		msg_ack(p);
		pend_free(p);
	}
}

/*
 * A resident's message, through ingest (source "chat", stored once per
 * external id "<conversation>:<client id>"): acknowledged from its
 * callback, after COMMIT.
 */
static void
send_message(struct chat *c, struct rsock *s, json_t *msg,
             const struct chat_req *q)
{
	struct pend *p = pend_new(c, s->conn, s->conv, msg);
	char ext[64];
	const char *reason = NULL;
	struct ingest_msg m;
	enum ingest_status st;

	snprintf(ext, sizeof(ext), "%llu:%s", (unsigned long long)s->conv,
	         q->client_id);
	snprintf(p->client, sizeof(p->client), "%s", q->client_id);
	memset(&m, 0, sizeof(m));
	m.channel = "chat";
	m.source = "chat";
	m.external_id = ext;
	m.conversation = s->conv;
	m.body = q->text;
	/*
	 * Published by on_msg_ingested, not by ingest's delivery hook: the
	 * resident is acknowledged only once Redis has it, and the other
	 * instances' chat says "delivered".
	 */
	m.flags = INGEST_OWN_DELIVERY;
	st = ingest_submit(c->in, &m, on_msg_ingested, p, &reason);
	if (st != INGEST_OK) {
		reply_error(c, s->conn, p->id,
		            st == INGEST_RETRY ? "unavailable" : "bad_message",
		            reason);
		pend_free(p);
	}
}

/* A write nobody waits for; a failure is logged. */
static void
on_logged(void *arg, int ok, const PGresult *res, const char *err)
{
	(void)res;
	if (!ok)
		gw_warn("chat.write_failed", "what=%s reason=\"%s\"",
		        (const char *)arg, err ? err : "?");
}

/*
 * The page the resident is on, written (or not: logged): the desks are
 * shown it now, so a desk that sees it finds it stored.
 */
static void
on_page_written(void *arg, int ok, const PGresult *res, const char *err)
{
	struct pend *p = arg;

	on_logged((void *)"page", ok, res, err);
	fanout(p->c, p->conv, NULL, json_incref(p->obj));
	pend_free(p);
}

static void
on_answered(void *arg, int ok, const PGresult *res, const char *err)
{
	struct pend *p = arg;

	if (!ok || res == NULL)
		reply_error(p->c, p->conn, p->id, "unavailable", err);
	else if (PQntuples(res) == 0)
		reply_error(p->c, p->conn, p->id, "bad_message", p->text);
	else
		reply(p->c, p->conn, p->id, json_incref(p->obj));
	pend_free(p);
}

/* A write answered with obj (stolen) once it returned a row, else why. */
static void
answered_write(struct chat *c, struct rsock *s, json_t *msg, const char *sql,
               int n, const char *const *params, json_t *obj, const char *why)
{
	struct pend *p = pend_new(c, s->conn, s->conv, msg);
	const char *reason = NULL;

	p->obj = obj;
	snprintf(p->text, sizeof(p->text), "%s", why);
	if (db_commit_submit(c->w, sql, n, params, on_answered, p, &reason) !=
	    0) {
		reply_error(c, s->conn, p->id, "unavailable", reason);
		pend_free(p);
	}
}

/* ---------------------------------------------------------------- transcript
 */

static void
on_transcript(void *arg, int ok, const PGresult *res, const char *err)
{
	struct pend *p = arg;
	struct chat *c = p->c;
	const char *r;

	if (!ok || res == NULL || PQntuples(res) != 1) {
		reply_error(c, p->conn, p->id, "unavailable", err);
		pend_free(p);
		return;
	}
	r = PQgetvalue(res, 0, 0);
	if (strcmp(r, "queued") == 0)
		reply(c, p->conn, p->id,
		      json_pack("{s:s}", "type", "transcript.queued"));
	else if (strcmp(r, "confirm") == 0)
		reply(c, p->conn, p->id,
		      json_pack("{s:s}", "type", "transcript.confirm"));
	else if (strcmp(r, "client") == 0 || strcmp(r, "destination") == 0)
		refuse(c, p->conn, p->id, "transcript", r);
	else
		reply_error(c, p->conn, p->id, "bad_message",
		            "no email address to send it to");
	pend_free(p);
}

/*
 * transcript.request: queued for an address verified for the chat's
 * customer; any other gets a single-use link to confirm it first, never
 * the transcript (GET /api/chat/transcript?token=, chat_api).
 */
static void
transcript(struct chat *c, struct rsock *s, json_t *msg,
           const struct chat_req *q)
{
	char cv[24], token[CHAT_TOKEN_LEN + 1], hash[65], ttl[16], maxc[16],
	        maxd[16], *link;
	const char *params[8], *reason = NULL, *base = c->cfg->public_url;
	size_t blen = strlen(base);
	struct pend *p;

	if (over_socket_limit(c, s, msg, "transcript"))
		return;
	p = pend_new(c, s->conn, s->conv, msg);
	conv_text(s->conv, cv, sizeof(cv));
	new_token(token, sizeof(token), hash, sizeof(hash));
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	link = xasprintf("%.*s/widget/transcript/?token=%s", (int)blen, base,
	                 token);
	snprintf(ttl, sizeof(ttl), "%d", LINK_TTL_S);
	snprintf(maxc, sizeof(maxc), "%d", c->cc->requests_per_client);
	snprintf(maxd, sizeof(maxd), "%d", c->cc->requests_per_destination);
	params[0] = cv;
	params[1] = q->email;
	params[2] = s->addr;
	params[3] = hash;
	params[4] = link;
	params[5] = ttl;
	params[6] = maxc;
	params[7] = maxd;
	if (db_commit_submit(c->w, TRANSCRIPT_SQL, 8, params, on_transcript, p,
	                     &reason) != 0) {
		reply_error(c, s->conn, p->id, "unavailable", reason);
		pend_free(p);
	}
	sodium_memzero(token, sizeof(token));
	free(link);
}

struct confirm {
	struct chat *c;
	unsigned long conn;
};

static void
on_confirmed(void *arg, int ok, const PGresult *res, const char *err)
{
	struct confirm *cf = arg;
	const char *r = ok && res != NULL && PQntuples(res) == 1
	                        ? PQgetvalue(res, 0, 0)
	                        : NULL;
	json_t *o;
	char *text;
	int status = 200;

	if (r == NULL) {
		o = json_pack("{s:s, s:s}", "status", "unavailable", "error",
		              err ? err : "database unavailable");
		status = 503;
	} else {
		/* The reference only: nothing the resident wrote. */
		o = json_pack("{s:s, s:s}", "status", r, "reference",
		              PQgetvalue(res, 0, 1));
		if (strcmp(r, "unknown") == 0)
			status = 404;
		else if (strcmp(r, "expired") == 0 || strcmp(r, "used") == 0)
			status = 410;
		gw_info("chat.transcript_confirm", "result=%s", r);
	}
	text = json_dumps(o, JSON_COMPACT);
	gw_http_respond(cf->c->http, cf->conn, status, text ? text : "{}",
	                NULL);
	free(text);
	json_decref(o);
	free(cf);
}

void
chat_api(struct chat *c, unsigned long conn, const char *method,
         const char *path, const char *query)
{
	char token[CHAT_TOKEN_LEN + 1], hash[65];
	const char *params[1] = {hash}, *reason = NULL;
	struct confirm *cf;

	if (strcmp(path, "/api/chat/transcript") != 0) {
		gw_http_respond(c->http, conn, 404, "{\"error\":\"not found\"}",
		                NULL);
		return;
	}
	if (strcmp(method, "GET") != 0) {
		gw_http_respond(c->http, conn, 405,
		                "{\"error\":\"method not allowed\"}", NULL);
		return;
	}
	if (chat_link_token(query, token, sizeof(token)) != 0) {
		gw_http_respond(
		        c->http, conn, 400,
		        "{\"status\":\"bad_request\",\"error\":\"token: "
		        "the link is not complete\"}",
		        NULL);
		return;
	}
	token_hash(token, hash, sizeof(hash));
	cf = xcalloc(1, sizeof(*cf));
	cf->c = c;
	cf->conn = conn;
	if (db_commit_submit(c->w, CONFIRM_SQL, 1, params, on_confirmed, cf,
	                     &reason) != 0)
		on_confirmed(cf, 0, NULL, reason);
}

/* ---------------------------------------------------------------- residents */

static void
on_res_open(void *arg, unsigned long conn, const char *cookie, const char *peer)
{
	struct chat *c = arg;
	struct rsock *s = xcalloc(1, sizeof(*s));

	(void)cookie;
	s->conn = conn;
	snprintf(s->addr, sizeof(s->addr), "%s", peer != NULL ? peer : "");
	idmap_put(c->socks, conn, s);
}

static void
on_res_close(void *arg, unsigned long conn)
{
	struct chat *c = arg;
	struct rsock *s = idmap_del(c->socks, conn);

	if (s == NULL)
		return;
	detach_socket(c, s);
	free(s);
}

static void
on_res_message(void *arg, unsigned long conn, const char *type, json_t *msg)
{
	struct chat *c = arg;
	struct rsock *s = idmap_get(c->socks, conn);
	json_t *id = json_object_get(msg, "id");
	struct chat_req q;
	const char *code, *why, *params[3];
	struct rchat *ch;
	struct pend *p;
	char cv[24], num[24];

	if (s == NULL)
		return;
	if (chat_parse(msg, type, &q, &code, &why) != 0) {
		reply_error(c, conn, id, code, why);
		return;
	}
	if (q.type == CHAT_START) {
		start(c, s, msg, &q);
		return;
	}
	if (q.type == CHAT_RESUME) {
		resume(c, s, msg, &q);
		return;
	}
	if (q.type == CHAT_LEAVE) {
		leave(c, s, msg, &q);
		return;
	}
	ch = s->conv ? idmap_get(c->chats, s->conv) : NULL;
	if (ch == NULL) {
		reply_error(c, conn, id, "not_started",
		            "start or resume a chat first");
		return;
	}
	if (ch->state == 'e' && q.type != CHAT_RATING &&
	    q.type != CHAT_TRANSCRIPT && q.type != CHAT_END &&
	    q.type != CHAT_READ) {
		reply_error(c, conn, id, "ended", "the chat is over");
		return;
	}
	conv_text(s->conv, cv, sizeof(cv));
	switch (q.type) {
	case CHAT_SEND:
		ch->last_act = uv_now(c->loop);
		ch->warned = 0;
		send_message(c, s, msg, &q);
		break;
	case CHAT_READ:
		snprintf(num, sizeof(num), "%lld", q.seq);
		params[0] = cv;
		params[1] = num;
		db_commit_submit(c->w, RES_READ_SQL, 2, params, on_logged,
		                 (void *)"resident_read", &why);
		fanout(c, s->conv, NULL,
		       json_pack("{s:s, s:s, s:I}", "type", "chat.read",
		                 "conversation", cv, "seq", (json_int_t)q.seq));
		break;
	case CHAT_TYPING:
		if (q.state) {
			ch->last_act = uv_now(c->loop);
			ch->warned = 0;
		}
		if (c->cv != NULL)
			conversation_publish_typing(c->cv, s->conv, "chat",
			                            q.state);
		break;
	case CHAT_PAGE:
		if (q.url == NULL)
			break; /* not a web page address: not shown */
		params[0] = cv;
		params[1] = q.url;
		params[2] = q.title;
		p = pend_new(c, conn, s->conv, NULL);
		p->obj = json_pack("{s:s, s:s, s:s, s:s}", "type", "chat.page",
		                   "conversation", cv, "url", q.url, "title",
		                   q.title);
		if (db_commit_submit(c->w, PAGE_SQL, 3, params, on_page_written,
		                     p, &why) != 0)
			on_page_written(p, 0, NULL, why);
		break;
	case CHAT_END:
		end_chat(c, s->conv, "resident", conn, msg);
		break;
	case CHAT_RATING:
		snprintf(num, sizeof(num), "%d", q.score);
		params[0] = cv;
		params[1] = num;
		params[2] = q.comment ? q.comment : "";
		answered_write(c, s, msg, RATING_SQL, 3, params,
		               json_pack("{s:s}", "type", "rating.saved"),
		               "rate it once it ended");
		break;
	case CHAT_TRANSCRIPT:
		transcript(c, s, msg, &q);
		break;
	case CHAT_EXTEND:
		ch->last_act = uv_now(c->loop);
		ch->warned = 0;
		reply(c, conn, id,
		      json_pack("{s:s, s:I}", "type", "session.extended",
		                "expires_ms",
		                (json_int_t)(unix_ms() +
		                             (long long)c->cc->idle_timeout *
		                                     1000)));
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------- desks */

/*
 * The chat's ops in the conversation core (conversation.h): the desks
 * speak conversation.* for a chat as for any conversation; what reaches
 * the resident is the text these return, which the core publishes on the
 * bus for the chat's hook (on_bus) on every instance.
 */

/* An advisor's reply, stored by the core: the resident's message event. */
static char *
chat_reply(void *arg, const struct conversation_reply *r)
{
	(void)arg;
	return own_part(json_pack("{s:s, s:I, s:s, s:s, s:s, s:I}", "type",
	                          "message", "seq", (json_int_t)r->seq, "from",
	                          "advisor", "name", r->name, "text", r->text,
	                          "at", (json_int_t)r->at_ms),
	                NULL, 0);
}

/* The advisors read up to seq: the resident's read receipt. */
static char *
chat_read(void *arg, uint64_t conv, uint64_t seq)
{
	(void)arg;
	(void)conv;
	return own_part(json_pack("{s:s, s:I, s:s}", "type", "message.status",
	                          "seq", (json_int_t)seq, "state", "read"),
	                NULL, 0);
}

/* An advisor is typing (or stopped). */
static char *
chat_typing(void *arg, uint64_t conv, int state)
{
	(void)arg;
	(void)conv;
	return own_part(
	        json_pack("{s:s, s:b}", "type", "typing", "state", state), NULL,
	        0);
}

/* What only this instance knows: whether the resident's socket is here. */
static void
chat_history(void *arg, uint64_t conv, json_t *answer)
{
	struct chat *c = arg;
	struct rchat *ch = idmap_get(c->chats, conv);

	if (ch != NULL)
		json_object_set_new(answer, "online",
		                    json_boolean(ch->conn != 0));
}

static const struct conversation_channel_ops CHAT_OPS_TEMPLATE = {
        .reply = chat_reply,
        .end = chat_end,
        .read = chat_read,
        .typing = chat_typing,
        .history_sql = HISTORY_SQL,
        .history = chat_history,
};

/* ---------------------------------------------------------------- routing */

/* Routing news of chats (waiting.h): only those held here. */
static int
holds_chat(void *arg, uint64_t conv)
{
	struct chat *c = arg;

	return idmap_get(c->chats, conv) != NULL;
}

static void
on_assigned(void *arg, uint64_t conv, uint64_t advisor, const char *name)
{
	struct chat *c = arg;
	struct rchat *ch = idmap_get(c->chats, conv);

	if (ch == NULL)
		return;
	ch->state = 'a';
	ch->staff = advisor;
	ch->last_act = uv_now(c->loop);
	ch->warned = 0;
	to_resident(c, conv,
	            name[0] != '\0'
	                    ? json_pack("{s:s, s:{s:s}}", "type",
	                                "chat.assigned", "advisor", "name",
	                                name)
	                    : json_pack("{s:s}", "type", "chat.assigned"));
}

static void
on_requeued(void *arg, uint64_t conv, const struct waiting_requeue *rq)
{
	struct chat *c = arg;
	struct rchat *ch = idmap_get(c->chats, conv);
	json_t *m;

	if (ch == NULL)
		return;
	ch->state = 'w';
	if (rq->queue != 0)
		ch->queue = rq->queue;
	m = json_pack("{s:s, s:s}", "type", "chat.requeued", "reason", rq->why);
	if (rq->to[0] != '\0')
		json_object_set_new(m, "to", json_string(rq->to));
	to_resident(c, conv, m);
	send_position(c, conv, ch->queue);
}

static void
on_released(void *arg, uint64_t conv)
{
	struct chat *c = arg;
	struct rchat *ch = idmap_get(c->chats, conv);

	/* Released at a desk (conversation.release): over. */
	if (ch != NULL && ch->state != 'e')
		end_chat(c, conv, ch->state == 'w' ? "system" : "advisor", 0,
		         NULL);
}

/* ---------------------------------------------------------------- registry */

/*
 * Which instance times each open chat out, kept in Redis so that the chats
 * of an instance that dies are timed out by another:
 *   sb:chat:alive       zset: instance (origin) -> its last beat (ms, by
 *                       Redis's clock)
 *   sb:chat:held        hash: conversation -> the instance holding it
 *   sb:chat:i:<origin>  set: the conversations an instance holds
 * A chat is registered when it starts or resumes here and dropped when it
 * ends; nothing is written per message. Every instance beats once a sweep;
 * the first beat that finds an instance silent for DEAD_MS moves its chats
 * (ADOPT_MAX a beat) to the beating instance, which reads their state from
 * PostgreSQL and times them out as detached since the holder's last beat.
 * An instance that finds its own beat gone (Redis lost it, or it was cut
 * off long enough to be taken for dead), or its chats taken over
 * (sb:chat:taken:<origin>), registers its chats again, and those whose
 * resident is connected here are taken back ("reclaim").
 */
static const char HOLD_LUA[] =
        "local me = ARGV[1]"
        /* An instance killed before its first beat is found dead too. */
        " local t = redis.call('TIME')"
        " redis.call('ZADD', 'sb:chat:alive', 'NX',"
        "  tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), me)"
        " for i = 2, #ARGV do"
        "  local cv = ARGV[i]"
        "  local old = redis.call('HGET', 'sb:chat:held', cv)"
        "  if old and old ~= me then"
        "   redis.call('SREM', 'sb:chat:i:' .. old, cv) end"
        "  redis.call('HSET', 'sb:chat:held', cv, me)"
        "  redis.call('SADD', 'sb:chat:i:' .. me, cv)"
        " end return #ARGV - 1";

static const char DROP_LUA[] =
        "for i = 1, #ARGV do"
        " local old = redis.call('HGET', 'sb:chat:held', ARGV[i])"
        " if old then"
        "  redis.call('SREM', 'sb:chat:i:' .. old, ARGV[i])"
        "  redis.call('HDEL', 'sb:chat:held', ARGV[i]) end"
        " end return 0";

/*
 * ARGV: origin, DEAD_MS, ADOPT_MAX. Returns {1 when our beat was not
 * there or chats of ours were taken over (sb:chat:taken:<origin>), now
 * (ms), the dead instance's last beat (ms, 0 for none), the conversations
 * taken over...}.
 */
static const char BEAT_LUA[] =
        "local t = redis.call('TIME')"
        " local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"
        " local me = ARGV[1]"
        " local new = redis.call('ZADD', 'sb:chat:alive', now, me)"
        "  + redis.call('DEL', 'sb:chat:taken:' .. me)"
        " local out = {math.min(new, 1), tostring(now), '0'}"
        " local dead = redis.call('ZRANGEBYSCORE', 'sb:chat:alive', '-inf',"
        "  now - tonumber(ARGV[2]), 'WITHSCORES', 'LIMIT', 0, 1)"
        " if dead[1] then"
        "  local key = 'sb:chat:i:' .. dead[1]"
        "  out[3] = dead[2]"
        "  redis.call('SET', 'sb:chat:taken:' .. dead[1], '1', 'EX', 86400)"
        "  for _, cv in ipairs(redis.call('SPOP', key, tonumber(ARGV[3]))) do"
        "   if redis.call('HGET', 'sb:chat:held', cv) == dead[1] then"
        "    redis.call('HSET', 'sb:chat:held', cv, me)"
        "    redis.call('SADD', 'sb:chat:i:' .. me, cv)"
        "    out[#out + 1] = cv end"
        "  end"
        "  if redis.call('SCARD', key) == 0 then"
        "   redis.call('ZREM', 'sb:chat:alive', dead[1]) end"
        " end return out";

/* Open chats taken over from a dead instance, by conversation. */
static const char ADOPT_SQL[] =
        "SELECT s.conversation_id, c.status, coalesce(c.queue_id, 0),"
        " coalesce(c.assigned_staff_id, 0)"
        " FROM chat_sessions s JOIN conversations c"
        "  ON c.id = s.conversation_id"
        " WHERE s.conversation_id = ANY($1::bigint[]) AND s.ended_at IS NULL"
        "  AND c.status NOT IN ('closed', 'wrap_up')";

/* Runs script with args (n of them, after the origin when with_me). */
static int
registry_call(struct chat *c, const char *script, int with_me,
              const uint64_t *conv, size_t n, kv_reply_cb cb, void *arg)
{
	int argc = 3 + (with_me ? 1 : 0) + (int)n, i = 0, rc;
	const char **argv = xcalloc((size_t)argc, sizeof(*argv));
	size_t *lens = xcalloc((size_t)argc, sizeof(*lens)), k;
	char(*num)[24] = xcalloc(n ? n : 1, sizeof(*num));

	argv[i++] = "EVAL";
	argv[i++] = script;
	argv[i++] = "0";
	if (with_me)
		argv[i++] = c->origin;
	for (k = 0; k < n; k++) {
		conv_text(conv[k], num[k], sizeof(num[k]));
		argv[i++] = num[k];
	}
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	rc = kv_command_argv(c->kv, cb, arg, argc, argv, lens);
	free(num);
	free(lens);
	free(argv);
	return rc;
}

/* This instance times conv out from now on. */
static void
registry_hold(struct chat *c, uint64_t conv)
{
	if (registry_call(c, HOLD_LUA, 1, &conv, 1, NULL, NULL) != 0)
		gw_warn("chat.registry_lost", "conv=%llu reason=\"redis down\"",
		        (unsigned long long)conv);
}

/* conv ended: nobody times it out any more. */
static void
registry_drop(struct chat *c, uint64_t conv)
{
	registry_call(c, DROP_LUA, 0, &conv, 1, NULL, NULL);
}

struct reclaim_pass {
	struct chat *c;
	uint64_t conv[ADOPT_MAX];
	size_t n;
};

static void
reclaim_one(void *arg, uint64_t conv, void *value)
{
	struct reclaim_pass *rp = arg;
	struct rchat *ch = value;

	if (ch->state == 'e')
		return;
	rp->conv[rp->n++] = conv;
	if (rp->n == ADOPT_MAX) {
		registry_call(rp->c, HOLD_LUA, 1, rp->conv, rp->n, NULL, NULL);
		rp->n = 0;
	}
	/* Taken for ours by an instance that thought us dead: ours again. */
	if (ch->conn != 0)
		publish(rp->c, conv, "reclaim");
}

/* Our beat was gone: every chat held here is registered again. */
static void
registry_reclaim(struct chat *c)
{
	struct reclaim_pass *rp = xcalloc(1, sizeof(*rp));

	rp->c = c;
	idmap_each(c->chats, reclaim_one, rp);
	if (rp->n > 0)
		registry_call(c, HOLD_LUA, 1, rp->conv, rp->n, NULL, NULL);
	gw_info("chat.registry_renewed", "chats=%zu", idmap_count(c->chats));
	free(rp);
}

struct adopt {
	struct chat *c;
	uint64_t died; /* loop ms of the dead instance's last beat */
	size_t n;
	uint64_t conv[];
};

static void
on_adopted(void *arg, PGresult *res, const char *err)
{
	struct adopt *a = arg;
	struct chat *c = a->c;
	struct rchat *ch;
	const char *status;
	uint64_t conv;
	size_t k, taken = 0;
	int i, found;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* Still registered here: the next reclaim or restart retries.
		 */
		gw_warn("chat.adopt_failed", "chats=%zu reason=\"%s\"", a->n,
		        err ? err : "?");
		free(a);
		return;
	}
	for (k = 0; k < a->n; k++) {
		conv = a->conv[k];
		found = -1;
		for (i = 0; i < PQntuples(res); i++)
			if (parse_u64(PQgetvalue(res, i, 0)) == conv)
				found = i;
		if (found < 0) {
			/* Ended meanwhile: nothing to time out. */
			registry_drop(c, conv);
			continue;
		}
		if (idmap_get(c->chats, conv) != NULL)
			continue; /* resumed here already */
		status = PQgetvalue(res, found, 1);
		ch = chat_hold(c, conv);
		ch->state = strcmp(status, "assigned") == 0 ? 'a' : 'w';
		ch->queue = parse_u64(PQgetvalue(res, found, 2));
		ch->staff = parse_u64(PQgetvalue(res, found, 3));
		ch->conn = 0;
		ch->detached_at = a->died;
		ch->last_act = a->died;
		taken++;
		if (ch->state == 'a')
			presence(c, conv, 0);
	}
	gw_notice("chat.adopted", "chats=%zu", taken);
	free(a);
}

/* Chats of a dead instance are ours now: read them, then time them out. */
static void
adopt(struct chat *c, const redisReply *r, uint64_t died)
{
	struct adopt *a;
	size_t k, len = 2;
	char *list, *p;
	const char *params[1];

	a = xcalloc(1, sizeof(*a) + (r->elements - 3) * sizeof(a->conv[0]));
	a->c = c;
	a->died = died;
	for (k = 3; k < r->elements; k++) {
		if (r->element[k]->type != REDIS_REPLY_STRING)
			continue;
		a->conv[a->n] = parse_u64(r->element[k]->str);
		if (a->conv[a->n] != 0)
			a->n++;
	}
	list = xcalloc(a->n * 21 + len + 1, 1);
	p = list;
	*p++ = '{';
	for (k = 0; k < a->n; k++)
		p += snprintf(p, 22, "%s%llu", k ? "," : "",
		              (unsigned long long)a->conv[k]);
	*p++ = '}';
	params[0] = list;
	if (a->n == 0 ||
	    db_query(c->db, ADOPT_SQL, 1, params, on_adopted, a) != 0) {
		if (a->n > 0)
			gw_warn("chat.adopt_failed", "chats=%zu reason=\"%s\"",
			        a->n, "database unavailable");
		free(a);
	}
	free(list);
}

static void
on_beat(void *arg, redisReply *r)
{
	struct chat *c = arg;
	long long now, dead_at;
	uint64_t loop_now, age;

	c->beating = 0;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		return;
	if (r->element[0]->integer == 1 && c->beats > 0 &&
	    idmap_count(c->chats) > 0)
		registry_reclaim(c);
	c->beats++;
	if (r->elements == 3)
		return;
	now = atoll(r->element[1]->str);
	dead_at = atoll(r->element[2]->str);
	loop_now = uv_now(c->loop);
	age = now > dead_at && dead_at > 0 ? (uint64_t)(now - dead_at) : 0;
	gw_notice("chat.instance_dead", "silent_ms=%llu chats=%zu",
	          (unsigned long long)age, r->elements - 3);
	adopt(c, r, age < loop_now ? loop_now - age : 0);
}

static void
beat(struct chat *c)
{
	char dead[16], max[16];
	const char *argv[6] = {"EVAL", BEAT_LUA, "0", c->origin, dead, max};
	size_t lens[6];
	int i;

	if (c->beating)
		return;
	snprintf(dead, sizeof(dead), "%d", DEAD_MS);
	snprintf(max, sizeof(max), "%d", ADOPT_MAX);
	for (i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	if (kv_command_argv(c->kv, on_beat, c, 6, argv, lens) == 0)
		c->beating = 1;
}

/* ---------------------------------------------------------------- sweep */

struct sweep_pass {
	struct chat *c;
	uint64_t now;
	uint64_t *end, *drop;
	size_t nend, ndrop, cap;
};

static void
sweep_one(void *arg, uint64_t conv, void *value)
{
	struct sweep_pass *sp = arg;
	struct chat *c = sp->c;
	struct rchat *ch = value;
	uint64_t idle = (uint64_t)c->cc->idle_timeout * 1000;
	uint64_t warn = idle >= 2 * WARN_MS ? WARN_MS : idle / 2;

	if (sp->nend == sp->cap || sp->ndrop == sp->cap)
		return; /* the next pass */
	if (ch->conn == 0) {
		if (ch->state == 'e')
			sp->drop[sp->ndrop++] = conv;
		else if (sp->now - ch->detached_at >=
		         (ch->state == 'w' && idle > DETACHED_WAITING_MS
		                  ? DETACHED_WAITING_MS
		                  : idle))
			sp->end[sp->nend++] = conv;
		return;
	}
	if (ch->state != 'a')
		return;
	if (sp->now - ch->last_act >= idle) {
		sp->end[sp->nend++] = conv;
	} else if (sp->now - ch->last_act >= idle - warn && !ch->warned) {
		ch->warned = 1;
		gw_http_ws_send(
		        c->http, ch->conn,
		        json_pack("{s:s, s:I}", "type", "session.expiring",
		                  "expires_ms",
		                  (json_int_t)(unix_ms() +
		                               (long long)(idle -
		                                           (sp->now -
		                                            ch->last_act)))));
	}
}

static void
on_sweep(uv_timer_t *t)
{
	struct chat *c = t->data;
	struct sweep_pass sp = {c, uv_now(c->loop), NULL, NULL, 0, 0, 256};
	struct rchat *ch;
	size_t i;

	sp.end = xcalloc(sp.cap, sizeof(*sp.end));
	sp.drop = xcalloc(sp.cap, sizeof(*sp.drop));
	idmap_each(c->chats, sweep_one, &sp);
	for (i = 0; i < sp.nend; i++) {
		ch = idmap_get(c->chats, sp.end[i]);
		gw_info("chat.idle_end", "conv=%llu detached=%d",
		        (unsigned long long)sp.end[i], ch->conn == 0);
		end_chat(c, sp.end[i], "system", 0, NULL);
		/* Not twice while the end is being written. */
		ch->state = ch->state == 'w' ? 'w' : 'e';
		ch->last_act = sp.now;
		ch->detached_at = sp.now;
	}
	for (i = 0; i < sp.ndrop; i++) {
		chat_forget(c, sp.drop[i]);
		registry_drop(c, sp.drop[i]);
	}
	free(sp.end);
	free(sp.drop);
	beat(c);
}

/* ---------------------------------------------------------------- setup */

/* The resident's limits, in the hello of every switchboard.chat.v1 socket. */
static void
on_res_hello(void *arg, json_t *hello)
{
	struct chat *c = arg;

	json_object_set_new(hello, "limits",
	                    json_pack("{s:I, s:i, s:I}", "message_max",
	                              (json_int_t)c->cfg->ws_message_max,
	                              "text_max", CHAT_TEXT_MAX,
	                              "idle_timeout_s",
	                              (json_int_t)c->cfg->ws_idle_timeout));
}

/* GET /api/chat/transcript: the confirmation link (no session). */
static void
on_transcript_link(void *arg, const struct gw_http_request *req)
{
	chat_api(arg, req->id, req->method_name, req->path, req->query);
}

struct chat *
chat_new(uv_loop_t *loop, const struct gw_config *cfg, struct gw_http *http,
         struct waiting *wait, struct db *db, struct db_commit *w,
         struct ingest *in, struct kv *kv, struct bus *bus,
         struct conversation *cv, const char *instance)
{
	struct chat *c = xcalloc(1, sizeof(*c));
	/* Residents' widgets: never a cookie, the resume token is all. */
	struct gw_ws_protocol p = {
	        CHAT_WS_PROTOCOL,
	        GW_WS_STAFF_ORIGINS | GW_WS_RESIDENT_ORIGINS,
	        0,
	        on_res_hello,
	        {on_res_open, on_res_message, on_res_close, c, on_res_drained}};
	struct gw_http_route link = {GW_HTTP_GET,
	                             "/api/chat/transcript",
	                             GW_HTTP_EXACT,
	                             0,
	                             NULL,
	                             on_transcript_link,
	                             c};
	/* Routing news of its chats and waiting residents' places. */
	struct waiting_channel_ops wops = {holds_chat,  on_position,
	                                   on_assigned, on_requeued,
	                                   on_released, c};
	unsigned char nonce[8];
	char hex[17];

	c->loop = loop;
	c->cfg = cfg;
	c->cc = chat_config(cfg);
	c->http = http;
	c->wait = wait;
	c->db = db;
	c->w = w;
	c->in = in;
	c->kv = kv;
	c->bus = bus;
	c->cv = cv;
	c->ops = CHAT_OPS_TEMPLATE;
	c->ops.arg = c;
	c->socks = idmap_new();
	c->chats = idmap_new();
	/* Unique per process, even for instances sharing an id. */
	randombytes_buf(nonce, sizeof(nonce));
	sodium_bin2hex(hex, sizeof(hex), nonce, sizeof(nonce));
	snprintf(c->origin, sizeof(c->origin), "%.60s/%s", instance, hex);
	gw_http_ws_register(http, &p);
	gw_http_route_add(http, &link);
	if (waiting_channel_register(wait, "chat", &wops) != 0)
		fatalx("chat: cannot register with the waiting core");
	if (bus_set_channel_hook(bus, "chat", on_bus, c) != 0)
		fatalx("chat: cannot hook the conversation bus");
	if (cv != NULL &&
	    conversation_channel_register(cv, "chat", &c->ops) != 0)
		fatalx("chat: cannot register with the conversation core");
	uv_timer_init(loop, &c->sweep);
	c->sweep.data = c;
	uv_timer_start(&c->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	return c;
}

static void
free_value(void *arg, uint64_t key, void *value)
{
	(void)arg;
	(void)key;
	free(value);
}

static void
free_chat(void *arg, uint64_t key, void *value)
{
	struct rchat *ch = value;

	(void)arg;
	(void)key;
	json_decref(ch->hold);
	free(ch);
}

static void
chat_closed(uv_handle_t *h)
{
	struct chat *c = h->data;

	idmap_each(c->socks, free_value, NULL);
	idmap_free(c->socks);
	idmap_each(c->chats, free_chat, NULL);
	idmap_free(c->chats);
	free(c);
}

void
chat_detach(struct chat *c)
{
	if (c == NULL || c->cv == NULL)
		return;
	conversation_channel_register(c->cv, "chat", NULL);
	c->cv = NULL;
}

void
chat_free(struct chat *c)
{
	if (c == NULL)
		return;
	chat_detach(c);
	gw_http_ws_unregister(c->http, CHAT_WS_PROTOCOL);
	waiting_channel_register(c->wait, "chat", NULL);
	bus_set_channel_hook(c->bus, "chat", NULL, NULL);
	uv_close((uv_handle_t *)&c->sweep, chat_closed);
}
