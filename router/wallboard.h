/*
 * wallboard.h: the supervisors' wallboard (docs/routing-protocol.md,
 * "Wallboard"): per queue, waiting now, the longest wait, answered today
 * and within target, abandoned today; per advisor signed in, status since
 * when, load and capacity per channel. Read from PostgreSQL every 2 s
 * while a desk of this instance watches, pushed when it changed.
 * Loop thread only.
 */
#ifndef GW_WALLBOARD_H
#define GW_WALLBOARD_H

#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "http.h"

struct wallboard;

struct wallboard *wallboard_new(uv_loop_t *loop, struct gw_http *http,
                                struct db *db);
/* Starts (on) or stops sending the wallboard to the socket conn. */
void wallboard_watch(struct wallboard *wb, unsigned long conn, int on);
/* Reads made so far and the time spent waiting for them (for tests). */
void wallboard_stats(const struct wallboard *wb, unsigned long *reads,
                     uint64_t *read_us);
/* Closes its timer; frees it once closed. db must have answered first. */
void wallboard_free(struct wallboard *wb);

#endif
