/*
 * config.c: loads switchboard.conf with libconfuse. Every option has a
 * validation callback so a bad value is reported with its file and line;
 * libconfuse itself rejects unknown directives. Loop thread only.
 */
#include <arpa/inet.h>
#include <confuse.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "xmalloc.h"

#define SECRET_FILE_MAX 4096

struct load_ctx {
	char *err;
	size_t errlen;
	int have_err;
	const char *path;
	cfg_t *root; /* holds the lexer's line number, sections do not */
};

#define CONFIG_FILE_MAX (1024 * 1024)

/* libconfuse errors are routed here; the first one wins. */
static struct load_ctx *cur_ctx;

static void config_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

static void
config_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	char msg[512];
	int n = 0;

	if (cur_ctx == NULL || cur_ctx->have_err)
		return;
	int line = cur_ctx->root->line;

	/* Inside a section the section's own cfg carries the line. */
	if (cfg != NULL && cfg != cur_ctx->root && cfg->line > line)
		line = cfg->line;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		n = snprintf(cur_ctx->err, cur_ctx->errlen, "%s:%d: %s",
		             cur_ctx->path, line, msg);

	else
		n = snprintf(cur_ctx->err, cur_ctx->errlen, "%s: %s",
		             cur_ctx->path, msg);
	(void)n;
	cur_ctx->have_err = 1;
}

static int
valid_port(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);

	if (v < 1 || v > 65535) {
		cfg_error(cfg, "%s: port %ld out of range 1-65535", opt->name,
		          v);
		return -1;
	}
	return 0;
}

static int
valid_positive(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);

	if (v < 1) {
		cfg_error(cfg, "%s: must be a positive number, not %ld",
		          opt->name, v);
		return -1;
	}
	return 0;
}

/*
 * A WebSocket receive buffer holds a whole control frame (payload up to
 * 125 bytes): libwebsockets does not piece those together.
 */
static int
valid_rx_buffer(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);

	if (v < 128 || v > 1048576) {
		cfg_error(cfg, "%s: %ld out of range 128-1048576", opt->name,
		          v);
		return -1;
	}
	return 0;
}

/* A send queue of 1 KiB to 16 MiB (its byte count is 32-bit). */
static int
valid_send_queue(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);

	if (v < 1024 || v > 16777216) {
		cfg_error(cfg, "%s: %ld out of range 1024-16777216", opt->name,
		          v);
		return -1;
	}
	return 0;
}

/* lws keeps a request's headers in at most 65535 bytes (unsigned short). */
static int
valid_header_max(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);

	if (v < 4096 || v > 65535) {
		cfg_error(cfg, "%s: %ld out of range 4096-65535", opt->name, v);
		return -1;
	}
	return 0;
}

static int
valid_nonneg(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);

	if (v < 0) {
		cfg_error(cfg, "%s: must not be negative, not %ld", opt->name,
		          v);
		return -1;
	}
	return 0;
}

static int
is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	       inet_pton(AF_INET6, s, buf) == 1;
}

static int
valid_ip(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || !is_ip_literal(s)) {
		cfg_error(cfg, "%s: \"%s\" is not an IPv4 or IPv6 address",
		          opt->name, s ? s : "");
		return -1;
	}
	return 0;
}

static int
valid_redis_address(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || (s[0] != '/' && !is_ip_literal(s))) {
		cfg_error(cfg,
		          "%s: \"%s\" must be an IP address or the absolute "
		          "path of a Unix socket (names are not resolved)",
		          opt->name, s ? s : "");
		return -1;
	}
	return 0;
}

static int
valid_http_url(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);

	if (s == NULL ||
	    (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) ||
	    strlen(s) < 10) {
		cfg_error(cfg, "%s: \"%s\" is not an http:// or https:// URL",
		          opt->name, s ? s : "");
		return -1;
	}
	return 0;
}

static int
valid_origins(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned i, n = cfg_opt_size(opt);
	const char *s, *host;

	for (i = 0; i < n; i++) {
		s = cfg_opt_getnstr(opt, i);
		if (strncmp(s, "https://", 8) == 0)
			host = s + 8;
		else if (strncmp(s, "http://", 7) == 0)
			host = s + 7;
		else
			host = NULL;
		if (host == NULL || *host == '\0' ||
		    strpbrk(host, "/*?#@\\ ") != NULL) {
			cfg_error(cfg,
			          "%s: \"%s\" is not an origin "
			          "(scheme://host[:port], no path, no "
			          "wildcard)",
			          opt->name, s);
			return -1;
		}
	}
	return 0;
}

static int
valid_proxies(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned i, n = cfg_opt_size(opt);

	for (i = 0; i < n; i++) {
		if (!is_ip_literal(cfg_opt_getnstr(opt, i))) {
			cfg_error(cfg, "%s: \"%s\" is not an IP address",
			          opt->name, cfg_opt_getnstr(opt, i));
			return -1;
		}
	}
	return 0;
}

static int
valid_log_level(cfg_t *cfg, cfg_opt_t *opt)
{
	enum gw_log_level l;
	const char *s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || gw_log_level_parse(s, &l) != 0) {
		cfg_error(cfg,
		          "%s: \"%s\" is not one of debug, info, notice, "
		          "warning, error",
		          opt->name, s ? s : "");
		return -1;
	}
	return 0;
}

static int
valid_log_format(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || (strcmp(s, "kv") != 0 && strcmp(s, "json") != 0)) {
		cfg_error(cfg, "%s: \"%s\" is not kv or json", opt->name,
		          s ? s : "");
		return -1;
	}
	return 0;
}

static int
valid_nonempty(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || *s == '\0') {
		cfg_error(cfg, "%s: must not be empty", opt->name);
		return -1;
	}
	return 0;
}

/* clang-format off */
static cfg_opt_t tls_opts[] = {
	CFG_STR("certificate", "", CFGF_NONE),
	CFG_STR("key", "", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t pg_opts[] = {
	CFG_STR("conninfo", "hostaddr=127.0.0.1 port=5432 dbname=switchboard user=switchboard", CFGF_NONE),
	CFG_INT("connect_timeout", 5, CFGF_NONE),
	CFG_INT("query_timeout", 15, CFGF_NONE),
	CFG_INT("commit_batch_max", 1024, CFGF_NONE),
	CFG_BOOL("migrate_on_start", cfg_true, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t redis_opts[] = {
	CFG_STR("address", "127.0.0.1", CFGF_NONE),
	CFG_INT("port", 6379, CFGF_NONE),
	CFG_STR("password", "", CFGF_NONE),
	CFG_INT("database", 0, CFGF_NONE),
	CFG_INT("timeout", 2, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t router_opts[] = {
	CFG_STR("instance_id", "", CFGF_NONE),
	CFG_INT("grace_period", 30, CFGF_NONE),
	CFG_INT("max_missed_offers", 3, CFGF_NONE),
	CFG_INT("sweep_interval_ms", 250, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t session_opts[] = {
	CFG_INT("idle_timeout", 1800, CFGF_NONE),
	CFG_INT("absolute_timeout", 43200, CFGF_NONE),
	/* The defaults of session.h's GW_SESSION_THROTTLE_*. */
	CFG_INT("throttle_window", 900, CFGF_NONE),
	CFG_INT("throttle_login_address", 5, CFGF_NONE),
	CFG_INT("throttle_address", 20, CFGF_NONE),
	CFG_INT("throttle_login", 5, CFGF_NONE),
	CFG_INT("throttle_delay_ms", 1000, CFGF_NONE),
	CFG_INT("throttle_delay_max_ms", 10000, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t limits_opts[] = {
	CFG_INT("max_connections", 19000, CFGF_NONE),
	CFG_INT("http_body_max", 1048576, CFGF_NONE),
	CFG_INT("http_header_max", 16384, CFGF_NONE),
	CFG_INT("ws_message_max", 65536, CFGF_NONE),
	CFG_INT("ws_rx_buffer", 256, CFGF_NONE),
	CFG_INT("ws_per_ip", 1000, CFGF_NONE),
	CFG_INT("ws_send_queue", 65536, CFGF_NONE),
	CFG_INT("ws_messages_per_minute", 600, CFGF_NONE),
	CFG_INT("ws_idle_timeout", 60, CFGF_NONE),
	CFG_INT("shutdown_timeout", 10, CFGF_NONE),
	CFG_INT("worker_threads", 8, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t root_opts[] = {
	CFG_STR("listen_address", "127.0.0.1", CFGF_NONE),
	CFG_INT("listen_port", 8080, CFGF_NONE),
	CFG_STR("public_url", "http://127.0.0.1:8080", CFGF_NONE),
	CFG_STR("log_level", "info", CFGF_NONE),
	CFG_STR("log_format", "kv", CFGF_NONE),
	CFG_STR("widget_dir", "web-chat-widget", CFGF_NONE),
	CFG_STR("desk_dir", "advisor-desk", CFGF_NONE),
	CFG_STR_LIST("allowed_origins", "{}", CFGF_NONE),
	CFG_STR_LIST("widget_origins", "{}", CFGF_NONE),
	CFG_STR("frame_ancestors", "'self'", CFGF_NONE),
	CFG_STR_LIST("trusted_proxies", "{}", CFGF_NONE),
	CFG_SEC("tls", tls_opts, CFGF_NONE),
	CFG_SEC("postgresql", pg_opts, CFGF_NONE),
	CFG_SEC("redis", redis_opts, CFGF_NONE),
	CFG_SEC("router", router_opts, CFGF_NONE),
	CFG_SEC("sessions", session_opts, CFGF_NONE),
	CFG_SEC("limits", limits_opts, CFGF_NONE),
	CFG_END()
};
/* clang-format on */

/* Set once at start-up (gw_config_set_sections). */
static const struct gw_config_section *const *sections;

void
gw_config_set_sections(const struct gw_config_section *const *list)
{
	size_t n = 0;

	while (list != NULL && list[n] != NULL)
		n++;
	if (n > GW_CONFIG_SECTIONS_MAX)
		fatalx("config: %zu sections registered, at most %d", n,
		       GW_CONFIG_SECTIONS_MAX);
	sections = list;
}

static size_t
sections_count(const struct gw_config_section *const *list)
{
	size_t n = 0;

	while (list != NULL && list[n] != NULL)
		n++;
	return n;
}

/*
 * The options of the file: the daemon's own, then one section per
 * registered one, CFG_END last. opts holds nitems(root_opts) +
 * GW_CONFIG_SECTIONS_MAX entries.
 */
static void
options_build(cfg_opt_t *opts, const struct gw_config_section *const *list)
{
	size_t n = nitems(root_opts) - 1, i;

	memcpy(opts, root_opts, n * sizeof(*opts));
	for (i = 0; list != NULL && list[i] != NULL; i++) {
		cfg_opt_t sec =
		        CFG_SEC(list[i]->name, list[i]->opts, CFGF_NONE);

		opts[n++] = sec;
	}
	opts[n] = root_opts[nitems(root_opts) - 1];
}

/* Each registered section's checks, by "section|option". */
static void
sections_checks(cfg_t *cfg, const struct gw_config_section *const *list)
{
	const struct gw_config_check *k;
	char path[128];
	size_t i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		for (k = list[i]->checks; k != NULL && k->option != NULL; k++) {
			snprintf(path, sizeof(path), "%s|%s", list[i]->name,
			         k->option);
			cfg_set_validate_func(cfg, path, k->fn);
		}
}

/*
 * Each registered section's settings into c. 0, or -1 with
 * "FILE: section: reason" in err.
 */
static int
sections_load(struct gw_config *c, cfg_t *cfg,
              const struct gw_config_section *const *list, char *err,
              size_t errlen)
{
	char why[256];
	size_t i, n = sections_count(list);

	c->sections = list;
	c->settings = xcalloc(n + 1, sizeof(*c->settings));
	for (i = 0; i < n; i++) {
		why[0] = '\0';
		c->settings[i] = list[i]->load(cfg_getsec(cfg, list[i]->name),
		                               why, sizeof(why));
		if (c->settings[i] == NULL) {
			snprintf(err, errlen, "%s: %s: %s", c->path,
			         list[i]->name, why[0] ? why : "invalid");
			return -1;
		}
	}
	return 0;
}

const void *
gw_config_settings(const struct gw_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; cfg->sections != NULL && cfg->sections[i] != NULL; i++)
		if (strcmp(cfg->sections[i]->name, name) == 0)
			return cfg->settings[i];
	return NULL;
}

int
gw_config_valid_positive(cfg_t *cfg, cfg_opt_t *opt)
{
	return valid_positive(cfg, opt);
}

int
gw_config_valid_nonneg(cfg_t *cfg, cfg_opt_t *opt)
{
	return valid_nonneg(cfg, opt);
}

int
gw_config_valid_nonempty(cfg_t *cfg, cfg_opt_t *opt)
{
	return valid_nonempty(cfg, opt);
}

struct validator {
	const char *path;
	cfg_validate_callback_t cb;
};

static const struct validator validators[] = {
        {"listen_address", valid_ip},
        {"listen_port", valid_port},
        {"public_url", valid_http_url},
        {"log_level", valid_log_level},
        {"log_format", valid_log_format},
        {"widget_dir", valid_nonempty},
        {"desk_dir", valid_nonempty},
        {"allowed_origins", valid_origins},
        {"widget_origins", valid_origins},
        {"trusted_proxies", valid_proxies},
        {"postgresql|conninfo", valid_nonempty},
        {"postgresql|connect_timeout", valid_positive},
        {"postgresql|query_timeout", valid_positive},
        {"postgresql|commit_batch_max", valid_positive},
        {"redis|address", valid_redis_address},
        {"redis|port", valid_port},
        {"redis|database", valid_nonneg},
        {"redis|timeout", valid_positive},
        {"router|grace_period", valid_positive},
        {"router|max_missed_offers", valid_nonneg},
        {"router|sweep_interval_ms", valid_positive},
        {"sessions|idle_timeout", valid_positive},
        {"sessions|absolute_timeout", valid_positive},
        {"sessions|throttle_window", valid_positive},
        {"sessions|throttle_login_address", valid_positive},
        {"sessions|throttle_address", valid_positive},
        {"sessions|throttle_login", valid_positive},
        {"sessions|throttle_delay_ms", valid_nonneg},
        {"sessions|throttle_delay_max_ms", valid_nonneg},
        {"limits|max_connections", valid_positive},
        {"limits|http_body_max", valid_positive},
        {"limits|http_header_max", valid_header_max},
        {"limits|ws_message_max", valid_positive},
        {"limits|ws_rx_buffer", valid_rx_buffer},
        {"limits|ws_per_ip", valid_positive},
        {"limits|ws_send_queue", valid_send_queue},
        {"limits|ws_messages_per_minute", valid_positive},
        {"limits|ws_idle_timeout", valid_positive},
        {"limits|shutdown_timeout", valid_positive},
        {"limits|worker_threads", valid_positive},
};

/*
 * Reads a secret from a file: the whole file less one trailing newline.
 * Returns a malloc'd string or NULL with a reason.
 */
static char *
read_secret_file(const char *path, const char **reason)
{
	char buf[SECRET_FILE_MAX + 1];
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL) {
		*reason = strerror(errno);
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f)) {
		*reason = strerror(errno);
		fclose(f);
		return NULL;
	}
	fclose(f);
	if (n > SECRET_FILE_MAX) {

		*reason = "file larger than 4096 bytes";
		return NULL;
	}
	/* One trailing newline (LF or CRLF), as editors and echo add. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	return xstrndup(buf, n);
}

/*
 * An environment override: NAME wins, else the contents of NAME_FILE.
 * Returns 0 (target replaced or untouched) or -1 with err filled.
 */
static int
env_override(const char *name, char **target, const char *cfgpath, char *err,
             size_t errlen)
{
	char fname[128];
	const char *v, *reason = NULL;
	char *s;

	v = getenv(name);
	if (v != NULL && *v != '\0') {
		free(*target);
		*target = xstrdup(v);
		return 0;
	}
	snprintf(fname, sizeof(fname), "%s_FILE", name);
	v = getenv(fname);
	if (v == NULL || *v == '\0')
		return 0;
	s = read_secret_file(v, &reason);
	if (s == NULL) {
		snprintf(err, errlen, "%s: %s=%s: %s", cfgpath, fname, v,
		         reason);
		return -1;
	}
	free(*target);
	*target = s;
	return 0;
}

static char **
copy_list(cfg_t *cfg, const char *name, size_t *n)
{
	unsigned i, count = cfg_size(cfg, name);
	char **v = xcalloc(count + 1, sizeof(*v));

	for (i = 0; i < count; i++)
		v[i] = xstrdup(cfg_getnstr(cfg, name, i));
	*n = count;
	return v;
}

static void
free_list(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The origin of a URL: scheme://host[:port] without path. */
static char *
url_origin(const char *url)
{
	const char *p = strstr(url, "://");
	const char *slash = p ? strchr(p + 3, '/') : NULL;

	return slash ? xstrndup(url, (size_t)(slash - url)) : xstrdup(url);
}

/*
 * Reads the file and blanks out its comments (#, //, and C-style), keeping
 * every newline. libconfuse 3.3 counts each comment as three lines, which
 * would make every error after a comment point at the wrong line; with the
 * comments gone its line numbers are right. Quoted strings are copied as
 * they are, so a '#' inside a value stays. Returns a malloc'd string, or
 * NULL with err filled.
 */
static char *
config_read_stripped(const char *path, char *err, size_t errlen)
{
	enum {
		CODE = 0,
		DQUOTE,
		SQUOTE,
		LINE_COMMENT,
		BLOCK_COMMENT
	} st = CODE;
	char *buf = NULL;
	size_t n = 0, cap = 0, got, i, line = 1, depth = 0, open_line = 0;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		         strerror(errno));
		return NULL;
	}
	/* Grows as needed: most files are a few KiB. */
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap + 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0 || n > CONFIG_FILE_MAX)
			break;
	}
	if (ferror(f) || n > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
		         ferror(f) ? strerror(errno) : "larger than 1 MiB");
		goto fail;
	}
	buf[n] = '\0';
	for (i = 0; i < n; i++) {
		char ch = buf[i], next = i + 1 < n ? buf[i + 1] : '\0';

		if (ch == '\0') {
			snprintf(err, errlen, "%s:%zu: NUL byte in file", path,
			         line);
			goto fail;
		}
		if (ch == '\n')
			line++;
		switch (st) {
		case CODE:
			if (ch == '{' && depth++ == 0)
				open_line = line;
			else if (ch == '}' && depth > 0)
				depth--;
			if (ch == '"')
				st = DQUOTE;
			else if (ch == '\'')
				st = SQUOTE;
			else if (ch == '#' || (ch == '/' && next == '/'))
				st = LINE_COMMENT;
			else if (ch == '/' && next == '*') {
				st = BLOCK_COMMENT;
				buf[i++] = ' ';
				buf[i] = ' ';
			}
			if (st == LINE_COMMENT)
				buf[i] = ' ';
			break;
		case DQUOTE:
		case SQUOTE:
			if (ch == '\\' && next != '\0' && next != '\n')
				i++;
			else if (ch == (st == DQUOTE ? '"' : '\''))
				st = CODE;
			break;
		case LINE_COMMENT:
			if (ch == '\n')
				st = CODE;
			else
				buf[i] = ' ';
			break;
		case BLOCK_COMMENT:
			if (ch == '*' && next == '/') {
				buf[i++] = ' ';
				buf[i] = ' ';
				st = CODE;
			} else if (ch != '\n') {
				buf[i] = ' ';
			}
			break;
		}
	}
	/* libconfuse accepts a section left open at the end of the file. */
	if (depth > 0) {
		snprintf(err, errlen, "%s:%zu: '{' opened here is never closed",
		         path, open_line);
		goto fail;
	}
	fclose(f);
	return buf;
fail:

	fclose(f);
	free(buf);
	return NULL;
}

struct gw_config *
gw_config_load(const char *path, char *err, size_t errlen)
{
	struct load_ctx ctx = {err, errlen, 0, path, NULL};
	const struct gw_config_section *const *list = sections;
	cfg_opt_t opts[nitems(root_opts) + GW_CONFIG_SECTIONS_MAX];
	char *text = NULL;
	struct gw_config *c = NULL;
	cfg_t *cfg, *sec;
	unsigned i;
	int rc;

	err[0] = '\0';
	options_build(opts, list);
	cfg = cfg_init(opts, CFGF_NONE);
	cfg_set_error_function(cfg, config_errfunc);
	for (i = 0; i < nitems(validators); i++)
		cfg_set_validate_func(cfg, validators[i].path,
		                      validators[i].cb);
	sections_checks(cfg, list);
	text = config_read_stripped(path, err, errlen);
	if (text == NULL)
		goto out;
	ctx.root = cfg;
	cfg->line = 1;
	cur_ctx = &ctx;
	rc = cfg_parse_buf(cfg, text);
	cur_ctx = NULL;
	if (rc != CFG_SUCCESS) {
		if (!ctx.have_err)
			snprintf(err, errlen, "%s: parse error", path);
		goto out;
	}

	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->listen_address = xstrdup(cfg_getstr(cfg, "listen_address"));
	c->listen_port = (int)cfg_getint(cfg, "listen_port");
	c->public_url = xstrdup(cfg_getstr(cfg, "public_url"));
	gw_log_level_parse(cfg_getstr(cfg, "log_level"), &c->log_level);
	c->log_format = strcmp(cfg_getstr(cfg, "log_format"), "json") == 0
	                        ? GW_LOG_JSON
	                        : GW_LOG_KV;
	c->widget_dir = xstrdup(cfg_getstr(cfg, "widget_dir"));
	c->desk_dir = xstrdup(cfg_getstr(cfg, "desk_dir"));
	c->widget_origins =
	        copy_list(cfg, "widget_origins", &c->n_widget_origins);
	c->allowed_origins =
	        copy_list(cfg, "allowed_origins", &c->n_allowed_origins);
	if (c->n_allowed_origins == 0) {
		free(c->allowed_origins);
		c->allowed_origins = xcalloc(2, sizeof(char *));
		c->allowed_origins[0] = url_origin(c->public_url);
		c->n_allowed_origins = 1;
	}
	c->frame_ancestors = xstrdup(cfg_getstr(cfg, "frame_ancestors"));
	c->trusted_proxies =
	        copy_list(cfg, "trusted_proxies", &c->n_trusted_proxies);

	sec = cfg_getsec(cfg, "tls");
	c->tls_certificate = xstrdup(cfg_getstr(sec, "certificate"));
	c->tls_key = xstrdup(cfg_getstr(sec, "key"));

	sec = cfg_getsec(cfg, "postgresql");
	c->pg_conninfo = xstrdup(cfg_getstr(sec, "conninfo"));
	c->pg_connect_timeout = (int)cfg_getint(sec, "connect_timeout");
	c->pg_query_timeout = (int)cfg_getint(sec, "query_timeout");
	c->commit_batch_max = (int)cfg_getint(sec, "commit_batch_max");
	c->migrate_on_start = cfg_getbool(sec, "migrate_on_start");

	sec = cfg_getsec(cfg, "redis");
	c->redis_address = xstrdup(cfg_getstr(sec, "address"));
	c->redis_port = (int)cfg_getint(sec, "port");
	c->redis_password = xstrdup(cfg_getstr(sec, "password"));
	c->redis_database = (int)cfg_getint(sec, "database");
	c->redis_timeout = (int)cfg_getint(sec, "timeout");

	sec = cfg_getsec(cfg, "router");
	c->router_instance = xstrdup(cfg_getstr(sec, "instance_id"));
	c->router_grace = (int)cfg_getint(sec, "grace_period");
	c->router_max_missed = (int)cfg_getint(sec, "max_missed_offers");
	c->router_sweep_ms = (int)cfg_getint(sec, "sweep_interval_ms");

	sec = cfg_getsec(cfg, "sessions");
	c->session_idle = (int)cfg_getint(sec, "idle_timeout");
	c->session_absolute = (int)cfg_getint(sec, "absolute_timeout");
	c->throttle_window = (int)cfg_getint(sec, "throttle_window");
	c->throttle_login_address =
	        (int)cfg_getint(sec, "throttle_login_address");
	c->throttle_address = (int)cfg_getint(sec, "throttle_address");
	c->throttle_login = (int)cfg_getint(sec, "throttle_login");
	c->throttle_delay_ms = (int)cfg_getint(sec, "throttle_delay_ms");
	c->throttle_delay_max_ms =
	        (int)cfg_getint(sec, "throttle_delay_max_ms");

	sec = cfg_getsec(cfg, "limits");
	c->max_connections = (int)cfg_getint(sec, "max_connections");
	c->http_body_max = cfg_getint(sec, "http_body_max");
	c->http_header_max = cfg_getint(sec, "http_header_max");
	c->ws_message_max = cfg_getint(sec, "ws_message_max");
	c->ws_rx_buffer = cfg_getint(sec, "ws_rx_buffer");
	c->ws_per_ip = cfg_getint(sec, "ws_per_ip");
	c->ws_send_queue = cfg_getint(sec, "ws_send_queue");
	c->ws_messages_per_minute = cfg_getint(sec, "ws_messages_per_minute");
	c->ws_idle_timeout = cfg_getint(sec, "ws_idle_timeout");
	c->shutdown_timeout = (int)cfg_getint(sec, "shutdown_timeout");
	c->worker_threads = (int)cfg_getint(sec, "worker_threads");

	if (c->session_idle > c->session_absolute) {
		snprintf(err, errlen,
		         "%s: sessions: idle_timeout (%d) is longer than "
		         "absolute_timeout (%d)",
		         path, c->session_idle, c->session_absolute);
		goto fail;
	}
	if (c->throttle_delay_max_ms < c->throttle_delay_ms) {
		snprintf(err, errlen,
		         "%s: sessions: throttle_delay_max_ms (%d) is shorter "
		         "than throttle_delay_ms (%d)",
		         path, c->throttle_delay_max_ms, c->throttle_delay_ms);
		goto fail;
	}
	if ((*c->tls_certificate == '\0') != (*c->tls_key == '\0')) {
		snprintf(err, errlen,
		         "%s: tls: certificate and key must both be set or "
		         "both be empty",
		         path);
		goto fail;
	}
	if (sections_load(c, cfg, list, err, errlen) != 0)
		goto fail;
	if (env_override("SWITCHBOARD_PG_URL", &c->pg_conninfo, path, err,
	                 errlen) != 0 ||
	    env_override("SWITCHBOARD_REDIS_PASSWORD", &c->redis_password, path,
	                 err, errlen) != 0)
		goto fail;
	goto out;
fail:
	gw_config_free(c);
	c = NULL;
out:
	free(text);
	cfg_free(cfg);
	return c;
}

void
gw_config_free(struct gw_config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; c->settings != NULL && c->sections[i] != NULL; i++)
		if (c->settings[i] != NULL)
			c->sections[i]->free(c->settings[i]);
	free(c->settings);
	free(c->path);
	free(c->listen_address);
	free(c->public_url);
	free(c->widget_dir);
	free(c->desk_dir);
	free_list(c->allowed_origins, c->n_allowed_origins);
	free_list(c->widget_origins, c->n_widget_origins);
	free(c->frame_ancestors);
	free_list(c->trusted_proxies, c->n_trusted_proxies);
	free(c->tls_certificate);
	free(c->tls_key);
	free(c->pg_conninfo);
	free(c->redis_address);
	free(c->router_instance);
	if (c->redis_password != NULL) {
		explicit_bzero(c->redis_password, strlen(c->redis_password));
		free(c->redis_password);
	}
	free(c);
}

static int
in_list(char *const *list, size_t n, const char *origin)
{
	size_t i;

	if (origin == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(list[i], origin) == 0)
			return 1;
	return 0;
}

int
gw_config_origin_allowed(const struct gw_config *cfg, const char *origin)
{
	return in_list(cfg->allowed_origins, cfg->n_allowed_origins, origin);
}

int
gw_config_widget_origin(const struct gw_config *cfg, const char *origin)
{
	return in_list(cfg->widget_origins, cfg->n_widget_origins, origin);
}

/*
 * A secret: the value of opt, or the file fileopt names (one trailing
 * newline dropped). 1 with *out (malloc'd) when set, 0 when neither is,
 * -1 with *why (which never quotes the secret).
 */
int
gw_config_secret(cfg_t *s, const char *opt, const char *fileopt, size_t max,
                 char **out, const char **why)
{
	const char *v = opt != NULL ? cfg_getstr(s, opt) : "",
	           *path = cfg_getstr(s, fileopt);
	char *buf;
	size_t n;
	FILE *f;

	*out = NULL;
	if (v[0] != '\0' && path[0] != '\0') {
		*why = "set either the secret or its file, not both";
		return -1;
	}
	if (v[0] != '\0') {
		if (strlen(v) > max) {
			*why = "the secret is too long";
			return -1;
		}
		*out = xstrdup(v);
		return 1;
	}
	if (path[0] == '\0')
		return 0;
	f = fopen(path, "rb");
	if (f == NULL) {
		*why = errno == ENOENT ? "the secret file does not exist"
		                       : "the secret file cannot be read";
		return -1;
	}
	buf = xmalloc(max + 2);
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		*why = "the secret file is too long";
		goto bad;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		*why = "the secret file is empty or holds a NUL";
		goto bad;
	}
	*out = xstrdup(buf);
	explicit_bzero(buf, max + 2);
	free(buf);
	return 1;
bad:
	explicit_bzero(buf, max + 2);
	free(buf);
	return -1;
}

void
gw_config_secret_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}
