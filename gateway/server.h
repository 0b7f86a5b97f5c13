/*
 * server.h: the daemon: owns the libuv loop and everything on it (HTTP and
 * WebSocket listener, PostgreSQL connection and group-commit writer, Redis
 * connection, signals, migration worker). Main thread.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stddef.h>

#include "config.h"

struct gw_server;

/*
 * Takes ownership of cfg. Binds the listener; returns NULL with a reason
 * in err if that fails.
 */
struct gw_server *gw_server_new(struct gw_config *cfg, char *err,
                                size_t errlen);
/*
 * Runs until SIGTERM/SIGINT has drained everything. Returns the process
 * exit code (0 after a clean drain).
 */
int gw_server_run(struct gw_server *s);
void gw_server_free(struct gw_server *s);

#endif
