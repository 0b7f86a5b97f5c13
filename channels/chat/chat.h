/*
 * chat.h: the web chat channel. Residents' widgets speak
 * switchboard.chat.v1 (docs/chat-protocol.md) on /ws; advisors' desks read
 * and answer chats with the conversation core's conversation.* messages
 * (conversation.h), in which the chat registers its ops. Every resident
 * message is committed to PostgreSQL (through ingest) before it is
 * acknowledged or shown to an advisor; messages, typing, page changes and
 * read receipts reach the other side through the conversation bus (bus.h)
 * when it is held by another instance. Loop thread only.
 */
#ifndef CHAT_H
#define CHAT_H

#include <uv.h>

#include "bus.h"
#include "config.h"
#include "conversation.h"
#include "db.h"
#include "db_commit.h"
#include "http.h"
#include "ingest.h"
#include "kv.h"
#include "waiting.h"

struct chat;

/*
 * kv holds the chat registry (which instance times each chat out); bus
 * carries what one side says to the other, on every instance (the chat
 * hooks channel "chat" on it); w commits the chat's own writes; in takes
 * the residents' starts and messages (ingest.h: stored, then routed); wait
 * answers whether a chat may start, tells waiting residents their place
 * and hands the chat the routing news of its chats (waiting.h: the chat
 * registers channel "chat" there); cv
 * (may be NULL in tests) takes the desks' operations on chats, the chat
 * registering its ops ("chat") there, and every end of a chat goes
 * through it (conversation_end_by). All are owned by the caller and
 * outlive the chat, except cv: see chat_detach.
 */
struct chat *chat_new(uv_loop_t *loop, const struct gw_config *cfg,
                      struct gw_http *http, struct waiting *wait, struct db *db,
                      struct db_commit *w, struct ingest *in, struct kv *kv,
                      struct bus *bus, struct conversation *cv,
                      const char *instance);
/*
 * Takes the chat's ops out of cv and stops using it (call it before
 * conversation_free when cv goes first): a chat ending afterwards is
 * answered "unavailable" and ends nothing. NULL: no-op.
 */
void chat_detach(struct chat *c);
void chat_free(struct chat *c);
/*
 * The chat's public REST path (no session): GET /api/chat/transcript?token=
 * (the link of a transcript confirmation email; docs/chat-protocol.md).
 * Answers conn with gw_http_respond, now or later.
 */
void chat_api(struct chat *c, unsigned long conn, const char *method,
              const char *path, const char *query);

#endif
