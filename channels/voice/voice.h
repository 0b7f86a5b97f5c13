/*
 * voice.h: calls from the council's phone system (issue 16, "Voice events";
 * docs/voice.md). Loop thread only.
 *
 * Mounts, through the core's route table:
 *   POST /hooks/cti            the generic CTI event (our JSON, signed by
 *                              our scheme: signed_hook.h) -> 401 unsigned
 *   POST /hooks/twilio/voice   Twilio's voice status callbacks
 *                              (X-Twilio-Signature) -> 403 unsigned
 * Each event is parsed (voice_event.h; 400 with a reason), then applied by
 * sb_voice_event (migration 0036) on the group-commit writer: stored once
 * (a repeat: 200, no effect), in order per leg, terminal states never
 * re-opened; the 2xx only after COMMIT (503 when the database is down).
 * Then, from what it answered:
 *   - its timeline lines reach the desks following the conversation;
 *   - ringing an extension mapped to an advisor (staff_users.
 *     phone_extension): screen pop, {"type": "voice.ringing", ...} to that
 *     advisor's desks on every instance (the bus's "voice" hook, then
 *     conversation_tell_staff);
 *   - answered by an advisor: conversation_route_seize (the call counts
 *     against their voice capacity; blending keeps chats from them),
 *     voice.answered to their desks;
 *   - ended: conversation_end_by (wrap-up), voice.ended to the desk that
 *     rang;
 *   - missed: the conversation waits in the callback queue, due by the
 *     configured deadline (conversation_route_queue).
 * Desk messages "voice.callback" record a callback's outcome (reached,
 * no_answer, message_left; optionally the next attempt's time), then end
 * the conversation into wrap-up. A timer re-queues scheduled attempts
 * (sb_voice_callbacks_due) on whichever instance claims them.
 */
#ifndef VOICE_H
#define VOICE_H

#include <uv.h>

#include "config.h"
#include "db.h"
#include "db_commit.h"
#include "http.h"

struct bus;
struct conversation;
struct voice;

/*
 * bus and cv (attached: conversation_attach) must outlive it, but for
 * cv's desk hook, which conversation_free removes. Routing goes through
 * the core (conversation_route_seize, _queue, conversation_end_by).
 */
struct voice *voice_new(uv_loop_t *loop, const struct gw_config *cfg,
                        struct gw_http *h, struct db *db, struct db_commit *w,
                        struct bus *bus, struct conversation *cv);
/* Frees once every request in flight is answered. NULL is a no-op. */
void voice_free(struct voice *v);

#endif
