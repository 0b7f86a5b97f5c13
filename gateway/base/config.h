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

	/* chat: an assigned chat silent this long ends (s), warned first */
	int chat_idle_timeout;
	int chat_token_lifetime; /* resume tokens are never valid longer (s) */
	/* leave-a-message and transcript requests at most: per socket, and
	 * per client address and per destination in an hour */
	int chat_requests_per_socket;
	int chat_requests_per_client;
	int chat_requests_per_destination;

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
};

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
