/*
 * chat.h: the web chat channel. Residents' widgets speak
 * switchboard.chat.v1 (docs/chat-protocol.md) on /ws; advisors' desks add
 * the chat.* messages to switchboard.v1 through route_ws. Every resident
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
#include "db.h"
#include "db_commit.h"
#include "http.h"
#include "ingest.h"
#include "kv.h"
#include "route.h"
#include "route_ws.h"

struct chat;

/*
 * kv holds the chat registry (which instance times each chat out); bus
 * carries what one side says to the other, on every instance (the chat
 * hooks channel "chat" on it); w commits the chat's own writes; in takes
 * the residents' starts and messages (ingest.h: stored, then routed). All
 * are owned by the caller and outlive the chat.
 */
struct chat *chat_new(uv_loop_t *loop, const struct gw_config *cfg,
                      struct gw_http *http, struct route *r,
                      struct route_ws *rw, struct db *db, struct db_commit *w,
                      struct ingest *in, struct kv *kv, struct bus *bus,
                      const char *instance);
void chat_free(struct chat *c);
/*
 * The chat's public REST path (no session): GET /api/chat/transcript?token=
 * (the link of a transcript confirmation email; docs/chat-protocol.md).
 * Answers conn with gw_http_respond, now or later.
 */
void chat_api(struct chat *c, unsigned long conn, const char *method,
              const char *path, const char *query);

#endif
