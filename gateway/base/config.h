/*
 * config.h: the daemon's configuration file (libconfuse syntax), see
 * config/switchboard.conf.example for every directive. Loaded on the loop
 * thread at start-up and on SIGHUP; the result is immutable once loaded.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>

#include "log.h"

struct gw_config {
	char *path;

	char *listen_address;
	int listen_port;
	char *public_url;
	enum gw_log_level log_level;
	enum gw_log_format log_format;

	char *widget_dir;
	char *desk_dir;
	char **allowed_origins;
	size_t n_allowed_origins;
	char *frame_ancestors;
	/* council sites embedding the widget: resident sockets only */
	char **widget_origins;
	size_t n_widget_origins;
	char **trusted_proxies;
	size_t n_trusted_proxies;

	char *tls_certificate;
	char *tls_key;

	char *pg_conninfo;
	int pg_connect_timeout;
	int pg_query_timeout;
	int commit_batch_max;
	int migrate_on_start;

	char *redis_address;
	int redis_port;
	char *redis_password;
	int redis_database;
	int redis_timeout;

	char *router_instance; /* "" = host name and process id */
	int router_grace;      /* seconds */
	int router_max_missed;
	int router_sweep_ms;

	int session_idle; /* seconds without use before a staff session ends */
	int session_absolute; /* seconds after sign-in when it ends regardless
	                       */
	/* sessions.throttle_*: see struct gw_session_throttle */
	int throttle_window, throttle_login_address, throttle_address;
	int throttle_login, throttle_delay_ms, throttle_delay_max_ms;

	int max_connections;
	long http_body_max;
	long http_header_max; /* bytes of one request's headers, together */
	long ws_message_max;
	long ws_rx_buffer;  /* bytes lws receives a message in, per socket */
	long ws_per_ip;     /* WebSockets from one address */
	long ws_send_queue; /* bytes waiting for a client besides the head */
	long ws_messages_per_minute; /* per socket; bursts of a sixth */
	long ws_idle_timeout;        /* s silent before a ping */
	int shutdown_timeout;
	int worker_threads;

	/* The registered sections' settings (gw_config_section). */
	const struct gw_config_section *const *sections;
	void **settings;
};

/* ------------------------------------------------- registered sections */

struct cfg_t;
struct cfg_opt_t;

/*
 * A validator of one option, as libconfuse calls it: 0, or -1 after
 * cfg_error(cfg, "%s: reason", opt->name), which the loader reports as
 * "FILE:LINE: option: reason".
 */
typedef int (*gw_config_check_fn)(struct cfg_t *cfg, struct cfg_opt_t *opt);

struct gw_config_check {
	const char *option; /* its name within the section */
	gw_config_check_fn fn;
};

/*
 * A section of the file that a part of the daemon outside gateway/base
 * declares in its own folder (a channel's own section), so that
 * config.c names none. The parts list theirs in one NULL-ended table
 * (channels/channels.c) handed to gw_config_set_sections.
 */
struct gw_config_section {
	const char *name; /* the section's name in the file */
	/*
	 * Its options with their defaults (libconfuse, CFG_END-ended); an
	 * option not listed is refused with FILE:LINE.
	 */
	struct cfg_opt_t *opts;
	const struct gw_config_check *checks; /* NULL or {NULL, NULL}-ended */
	/*
	 * Reads the parsed section (every check passed) into the part's own
	 * settings, malloc'd: what gw_config_settings returns. NULL with a
	 * reason in err for a rule across options; it is reported as
	 * "FILE: name: reason".
	 */
	void *(*load)(struct cfg_t *sec, char *err, size_t errlen);
	void (*free)(void *settings);
};

/* At most this many registered sections. */
#define GW_CONFIG_SECTIONS_MAX 16

/*
 * The sections every later gw_config_load parses besides the daemon's own
 * (NULL-ended, borrowed for the process's life; at most
 * GW_CONFIG_SECTIONS_MAX). Call once at start-up, before loading: main.c
 * does, so that switchboard -t checks them. NULL: none.
 */
void gw_config_set_sections(const struct gw_config_section *const *list);
/*
 * The settings section name's load made of cfg, NULL when no section of
 * that name was registered when cfg was loaded.
 */
const void *gw_config_settings(const struct gw_config *cfg, const char *name);
/*
 * The checks of the daemon's own options, for sections that want the same
 * rule: a value of 1 or more, of 0 or more, a non-empty string.
 */
int gw_config_valid_positive(struct cfg_t *cfg, struct cfg_opt_t *opt);
int gw_config_valid_nonneg(struct cfg_t *cfg, struct cfg_opt_t *opt);
int gw_config_valid_nonempty(struct cfg_t *cfg, struct cfg_opt_t *opt);
/*
 * A secret of section s: the value of option opt (NULL: no such option),
 * or the contents of the file option fileopt names (trailing CR/LF
 * dropped; at most max bytes, no NUL). 1 with *out (malloc'd; free with
 * gw_config_secret_free, which wipes it), 0 when neither is set, -1 with
 * *why (a static sentence that never quotes the secret). Blocking I/O:
 * start-up only.
 */
int gw_config_secret(struct cfg_t *s, const char *opt, const char *fileopt,
                     size_t max, char **out, const char **why);
void gw_config_secret_free(char *s);

/*
 * Parses path and applies the environment overrides (SWITCHBOARD_PG_URL,
 * SWITCHBOARD_PG_URL_FILE, SWITCHBOARD_REDIS_PASSWORD, ..._FILE).
 * Returns a config owned by the caller, or NULL with "FILE:LINE: reason"
 * (or "FILE: reason") in err.
 */
struct gw_config *gw_config_load(const char *path, char *err, size_t errlen);
void gw_config_free(struct gw_config *cfg);
/* 1 if origin is allowed to open WebSockets (exact match). */
int gw_config_origin_allowed(const struct gw_config *cfg, const char *origin);
/* 1 when origin is one of widget_origins (resident sockets only). */
int gw_config_widget_origin(const struct gw_config *cfg, const char *origin);

#endif
