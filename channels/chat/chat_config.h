/*
 * chat_config.h: the chat's section of switchboard.conf ("chat { ... }"),
 * registered through channels/channels.c (config.h, struct
 * gw_config_section); docs/configuration.md lists its options.
 */
#ifndef CHAT_CONFIG_H
#define CHAT_CONFIG_H

#include "config.h"

struct chat_config {
	/* an assigned chat silent this long ends (s), warned first; >= 40 */
	int idle_timeout;
	int token_lifetime; /* resume tokens are never valid longer (s) */
	/*
	 * leave-a-message and transcript requests at most: per socket, and
	 * per client address and per destination in an hour
	 */
	int requests_per_socket;
	int requests_per_client;
	int requests_per_destination;
};

extern const struct gw_config_section chat_config_section;

/*
 * The chat's settings in cfg; a broken invariant (fatalx) when cfg was
 * loaded without the section registered.
 */
const struct chat_config *chat_config(const struct gw_config *cfg);

#endif
