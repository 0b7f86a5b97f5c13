/*
 * chat_config.c: the chat's section of switchboard.conf: its options,
 * their defaults and checks, read into struct chat_config.
 */
#include <confuse.h>
#include <stdio.h>
#include <stdlib.h>

#include "chat_config.h"
#include "xmalloc.h"

/* The resident is warned at least 20 s before an idle chat ends. */
#define IDLE_TIMEOUT_MIN 40

/* clang-format off */
static cfg_opt_t chat_opts[] = {
	CFG_INT("idle_timeout", 600, CFGF_NONE),
	CFG_INT("token_lifetime", 172800, CFGF_NONE),
	CFG_INT("requests_per_socket", 3, CFGF_NONE),
	CFG_INT("requests_per_client", 10, CFGF_NONE),
	CFG_INT("requests_per_destination", 3, CFGF_NONE),
	CFG_END()
};
/* clang-format on */

static const struct gw_config_check chat_checks[] = {
        {"token_lifetime", gw_config_valid_positive},
        {"requests_per_socket", gw_config_valid_positive},
        {"requests_per_client", gw_config_valid_positive},
        {"requests_per_destination", gw_config_valid_positive},
        {NULL, NULL},
};

static void *
chat_config_load(cfg_t *sec, char *err, size_t errlen)
{
	struct chat_config *cc;
	long idle = cfg_getint(sec, "idle_timeout");

	if (idle < IDLE_TIMEOUT_MIN) {
		snprintf(err, errlen,
		         "idle_timeout (%ld) must be at least %d seconds", idle,
		         IDLE_TIMEOUT_MIN);
		return NULL;
	}
	cc = xcalloc(1, sizeof(*cc));
	cc->idle_timeout = (int)idle;
	cc->token_lifetime = (int)cfg_getint(sec, "token_lifetime");
	cc->requests_per_socket = (int)cfg_getint(sec, "requests_per_socket");
	cc->requests_per_client = (int)cfg_getint(sec, "requests_per_client");
	cc->requests_per_destination =
	        (int)cfg_getint(sec, "requests_per_destination");
	return cc;
}

static void
chat_config_free(void *settings)
{
	free(settings);
}

const struct gw_config_section chat_config_section = {
        "chat", chat_opts, chat_checks, chat_config_load, chat_config_free};

const struct chat_config *
chat_config(const struct gw_config *cfg)
{
	const struct chat_config *cc = gw_config_settings(cfg, "chat");

	if (cc == NULL)
		fatalx("chat: configuration loaded without its section");
	return cc;
}
