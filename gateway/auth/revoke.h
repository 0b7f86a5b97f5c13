/*
 * revoke.h: a staff session revoked (sign-out, disabling, password reset)
 * takes effect on every instance before the request that revoked it is
 * answered (docs/operations.md, "What revocation does to open desks").
 *
 * The revoking instance publishes the revocation on the Redis channel
 * sb:revoke; PUBLISH says how many instances are subscribed. Each applies
 * it at once (its open desks of that session stop taking messages and are
 * closed 4003) and publishes an acknowledgement; the revoking request is
 * answered once every one has, or after a bounded wait (an instance cut
 * off from Redis is then left to its own check of the database, every 2
 * s). The instance that publishes applies it first itself, so its own
 * desks never wait for Redis.
 *
 * Loop thread only. The subscriber connection is the caller's, used for
 * nothing else; commands go on the shared command connection.
 */
#ifndef GW_REVOKE_H
#define GW_REVOKE_H

#include <uv.h>

#include "kv.h"

struct gw_revoke;

/*
 * Applies a revocation on this instance: session (staff_sessions.id) of
 * staff, or every session of staff when session is 0; logout when the
 * user has no live session left (routing then takes their work back at
 * once). Called once per announcement heard, from any instance.
 */
typedef void (*gw_revoke_apply_cb)(void *arg, long long staff,
                                   long long session, int logout);
/*
 * The announcement is over: confirmed when every instance subscribed
 * acknowledged it, with how many there were (0 when Redis was not
 * reachable: only this instance applied it).
 */
typedef void (*gw_revoke_done_cb)(void *arg, int confirmed, long long acks);

/*
 * cmd and sub (subscribed here to sb:revoke) are owned by the caller and
 * must outlive the module's use of them; wait_ms bounds each wait.
 */
struct gw_revoke *gw_revoke_new(uv_loop_t *loop, struct kv *cmd, struct kv *sub,
                                int wait_ms);
void gw_revoke_set_apply(struct gw_revoke *rv, gw_revoke_apply_cb cb,
                         void *arg);
/*
 * Applies the revocation here, announces it to every instance, and calls
 * done (never from inside this call) once each has applied it or wait_ms
 * has passed. arg must name its owner by id if the owner can go first.
 * rv NULL: done is called at once (tests without Redis).
 */
void gw_revoke_announce(struct gw_revoke *rv, long long staff,
                        long long session, int logout, gw_revoke_done_cb done,
                        void *arg);
/* Announcements still waiting are done (unconfirmed); frees rv later. */
void gw_revoke_free(struct gw_revoke *rv);

#endif
