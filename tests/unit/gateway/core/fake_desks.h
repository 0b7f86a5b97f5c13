/*
 * fake_desks.h: desk sockets for the unit tests of the conversation bus
 * and the conversation core (test_bus.c, test_conversation.c): a table of
 * what each connection id was sent, the send function a bus or a
 * conversation module is given, waiting on the loop for what a desk is
 * sent, and a test daemon's bus on its own two connections to a real
 * redis-server. Loop thread only; linked into those tests by
 * tests/unit/CMakeLists.txt.
 */
#ifndef SB_TEST_FAKE_DESKS_H
#define SB_TEST_FAKE_DESKS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "bus.h"
#include "kv.h"

/* Connection ids 1..FAKE_DESKS-1; 0 and any more are a socket gone. */
#define FAKE_DESKS 16
/* Messages one desk may be sent in a test (more fails the test). */
#define FAKE_DESK_SENT_MAX 512
/* What fake_desks_link follows to know a subscriber listens. */
#define FAKE_PROBE_CONV 999999
#define FAKE_PROBE_CONN (FAKE_DESKS - 1)

struct fake_desk {
	size_t n;
	char *sent[FAKE_DESK_SENT_MAX]; /* copies, freed by fake_desks_reset */
};

struct fake_desks {
	struct fake_desk at[FAKE_DESKS]; /* by connection id */
};

/*
 * A bus_send_fn and a conversation_send_fn: arg is the struct fake_desks;
 * text is copied to desk conn. 0, or -1 for a connection id out of range
 * (a socket that is gone).
 */
int fake_desks_send(void *arg, unsigned long conn, const char *text);
/* Forgets (and frees) what every desk was sent. */
void fake_desks_reset(struct fake_desks *ds);
/* Runs loop until desk k was sent at least n messages: 1, or 0 after ms. */
int fake_desks_await(uv_loop_t *loop, struct fake_desk *k, size_t n, int ms);
/* Message i that desk k was sent, parsed; fails the test if it was not. */
json_t *fake_desks_sent(const struct fake_desk *k, size_t i);

/*
 * A connection to the redis-server on 127.0.0.1:port (not started), with
 * short time-outs and back-off; ping_ms 0 for a subscriber.
 */
struct kv *fake_desks_kv(uv_loop_t *loop, int port, int ping_ms);
/*
 * A test daemon's bus named name, on two new connections (*pub, *sub,
 * started) to the redis-server on port, sending to ds. Fails the test if
 * it cannot be made.
 */
struct bus *fake_desks_bus(uv_loop_t *loop, int port, const char *name,
                           struct fake_desks *ds, struct kv **pub,
                           struct kv **sub);
/*
 * Until to hears what from publishes (the subscriptions are in place),
 * through to_desks' probe desk; fails the test after 60 tries. Leaves
 * what the probe desk was sent: reset the desks after.
 */
void fake_desks_link(uv_loop_t *loop, struct bus *from, struct bus *to,
                     struct fake_desks *to_desks);

#endif
