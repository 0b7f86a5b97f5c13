/*
 * kv_lease.h: a lease in Redis that at most one instance holds at a time
 * (issue 15: one instance works a mailbox; another takes over when the
 * holder dies). Loop thread only.
 *
 * The lease is a key holding the holder's name with a time to live. Every
 * third of that time the lease tries to take or renew it (one script: the
 * key is set only when it is free or already ours). The holder counts the
 * lease as held only until its last renewal was sent plus the time to live
 * less a safety margin (a tenth): if Redis does not answer in time (down,
 * or this process stalled), the holder gives it up on its own before the
 * key can expire for the others, and says so. kv_lease_free gives it back
 * at once (the key is deleted only while it is still ours).
 *
 * What a lease does not do: fence a holder that stalls past its lease (a
 * long pause between two writes). Work guarded by a lease must be safe to
 * repeat: for mail, PostgreSQL's unique keys make a second import of the
 * same message a repeat (docs/email.md).
 *
 * The callback is told each change (held = 1: taken; 0: lost or given
 * back) and the holder Redis named (this instance's name, another's, or
 * "" when nobody holds it or it is not known). It is never called after
 * kv_lease_free.
 */
#ifndef GW_KV_LEASE_H
#define GW_KV_LEASE_H

#include <uv.h>

#include "kv.h"

struct kv_lease;

typedef void (*kv_lease_cb)(void *arg, int held, const char *holder);

struct kv_lease_options {
	const char *key;    /* e.g. "sb:lease:email:council" */
	const char *holder; /* this instance's name */
	unsigned ttl_ms;    /* e.g. 15000; at least 300 */
};

/* Not started. kv must outlive the lease. NULL on a bad option. */
struct kv_lease *kv_lease_new(uv_loop_t *loop, struct kv *kv,
                              const struct kv_lease_options *o, kv_lease_cb cb,
                              void *arg);
void kv_lease_start(struct kv_lease *l);
/* 1 while held (and not yet past its safe end). */
int kv_lease_held(const struct kv_lease *l);
/* The holder Redis last named ("" when none or unknown). */
const char *kv_lease_holder(const struct kv_lease *l);
/*
 * Gives the lease back if held, and frees it once Redis has answered what
 * it was sent (at once when nothing is pending). NULL is a no-op.
 */
void kv_lease_free(struct kv_lease *l);

#endif
