/*
 * test_config.c: gw_config_load on small temporary files: the shipped
 * example, defaults, every refusal with its file:line, the environment
 * overrides for secrets, and the origin allow-list. Single-threaded.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <confuse.h>

#include "channels.h"
#include "chat_config.h"
#include "config.h"

#define MAX_TMP 8

/* Files made by the current test; removed by teardown. */
static char tmp_paths[MAX_TMP][PATH_MAX];
static int n_tmp;
static char err[2048];

static const char *const env_vars[] = {
        "SWITCHBOARD_PG_URL",
        "SWITCHBOARD_PG_URL_FILE",
        "SWITCHBOARD_REDIS_PASSWORD",
        "SWITCHBOARD_REDIS_PASSWORD_FILE",
};

static void
unset_env(void)
{
	size_t i;

	for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

static int
setup(void **state)
{
	(void)state;
	unset_env();
	/* The daemon's sections; a test may register others. */
	gw_config_set_sections(channels_config_sections);
	n_tmp = 0;
	err[0] = '\0';
	return 0;
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < n_tmp; i++)
		unlink(tmp_paths[i]);
	n_tmp = 0;
	unset_env();
	return 0;
}

/* Writes len bytes of data to a new temporary file; returns its path. */
static const char *
tmp_file_n(const char *data, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	FILE *f;
	int fd;

	assert_true(n_tmp < MAX_TMP);
	path = tmp_paths[n_tmp];
	snprintf(path, PATH_MAX, "%s/sb-test-config-XXXXXX",
	         dir != NULL && *dir != '\0' ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	n_tmp++;
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

static const char *
tmp_file(const char *text)
{
	return tmp_file_n(text, strlen(text));
}

static struct gw_config *
load_text(const char *text, const char **pathp)
{
	const char *path = tmp_file(text);
	struct gw_config *c;

	if (pathp != NULL)
		*pathp = path;
	c = gw_config_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("refused: %s\n--- config ---\n%s", err, text);
	assert_string_equal(err, "");
	return c;
}

/*
 * Loads text, which must be refused with "PATH:LINE: " (line > 0) or
 * "PATH: " (line == 0) and an error naming each of the needles.
 */
static void
expect_refused(const char *text, int line, const char *needle1,
               const char *needle2)
{
	const char *path = tmp_file(text);
	struct gw_config *c;
	char prefix[PATH_MAX + 32];

	c = gw_config_load(path, err, sizeof(err));
	if (c != NULL) {
		gw_config_free(c);
		fail_msg("accepted:\n%s", text);
	}
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", err,
		         prefix);
	if (needle1 != NULL && strstr(err, needle1) == NULL)
		fail_msg("error \"%s\" does not name \"%s\"", err, needle1);
	if (needle2 != NULL && strstr(err, needle2) == NULL)
		fail_msg("error \"%s\" does not name \"%s\"", err, needle2);
}

/* Refused with "PATH:N: " for some N >= min_line; returns N. */
static int
expect_refused_any_line(const char *text, int min_line)
{
	const char *path = tmp_file(text);
	struct gw_config *c;
	size_t plen = strlen(path);
	char *end;
	long n;

	c = gw_config_load(path, err, sizeof(err));
	if (c != NULL) {
		gw_config_free(c);
		fail_msg("accepted:\n%s", text);
	}
	if (strncmp(err, path, plen) != 0 || err[plen] != ':')
		fail_msg("error \"%s\" does not start with the path", err);
	n = strtol(err + plen + 1, &end, 10);
	if (end == err + plen + 1 || *end != ':' || n < min_line)
		fail_msg("error \"%s\" has no line number >= %d", err,
		         min_line);
	return (int)n;
}

/* The defaults documented in config/switchboard.conf.example. */
static void
assert_documented_defaults(const struct gw_config *c)
{
	assert_string_equal(c->listen_address, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_string_equal(c->public_url, "http://127.0.0.1:8080");
	assert_int_equal(c->log_level, GW_LOG_INFO);
	assert_int_equal(c->log_format, GW_LOG_KV);
	assert_string_equal(c->widget_dir, "web-chat-widget");
	assert_string_equal(c->desk_dir, "advisor-desk");
	/* Empty allow-list: only the origin of public_url. */
	assert_int_equal(c->n_allowed_origins, 1);
	assert_string_equal(c->allowed_origins[0], "http://127.0.0.1:8080");
	assert_string_equal(c->frame_ancestors, "'self'");
	assert_int_equal(c->n_trusted_proxies, 0);
	assert_string_equal(c->tls_certificate, "");
	assert_string_equal(c->tls_key, "");
	assert_string_equal(c->pg_conninfo, "hostaddr=127.0.0.1 port=5432 "
	                                    "dbname=switchboard "
	                                    "user=switchboard");
	assert_int_equal(c->pg_connect_timeout, 5);
	assert_int_equal(c->pg_query_timeout, 15);
	assert_int_equal(c->commit_batch_max, 1024);
	assert_int_equal(c->migrate_on_start, 1);
	assert_string_equal(c->redis_address, "127.0.0.1");
	assert_int_equal(c->redis_port, 6379);
	assert_string_equal(c->redis_password, "");
	assert_int_equal(c->redis_database, 0);
	assert_int_equal(c->redis_timeout, 2);
	assert_int_equal(c->session_idle, 1800);
	assert_int_equal(c->session_absolute, 43200);
	assert_int_equal(c->max_connections, 19000);
	assert_int_equal(c->http_body_max, 1048576);
	assert_int_equal(c->ws_message_max, 65536);
	assert_int_equal(c->ws_rx_buffer, 256);
	assert_int_equal(c->ws_per_ip, 1000);
	assert_int_equal(c->ws_messages_per_minute, 600);
	assert_int_equal(c->ws_idle_timeout, 60);
	assert_int_equal(c->shutdown_timeout, 10);
	assert_int_equal(c->worker_threads, 8);
}

/* ------------------------------------------------------------ loading */

static void
test_example_config_loads_with_documented_defaults(void **state)
{
	const char *src = getenv("SWITCHBOARD_SRC");
	char path[PATH_MAX];
	struct gw_config *c;

	(void)state;
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/config/switchboard.conf.example", src);
	c = gw_config_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("example refused: %s", err);
	assert_string_equal(c->path, path);
	assert_documented_defaults(c);
	gw_config_free(c);
}

static void
test_empty_file_loads_defaults(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("", NULL);
	assert_documented_defaults(c);
	gw_config_free(c);
}

static void
test_comments_only_loads_defaults(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("# nothing\n// here\n/* at\n all */\n", NULL);
	assert_documented_defaults(c);
	gw_config_free(c);
}

static void
test_values_are_read(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("listen_address = \"::\"\n"
	              "listen_port = 443\n"
	              "public_url = \"https://contact.council.example\"\n"
	              "log_level = \"debug\"\n"
	              "log_format = \"json\"\n"
	              "trusted_proxies = {\"10.0.0.1\", \"::1\"}\n"
	              "postgresql {\n"
	              "\tconninfo = \"host=/run/postgresql dbname=sb\"\n"
	              "\tconnect_timeout = 9\n"
	              "\tmigrate_on_start = false\n"
	              "}\n"
	              "redis {\n"
	              "\tport = 6380\n"
	              "\tdatabase = 3\n"
	              "}\n"
	              "limits {\n"
	              "\thttp_body_max = 4096\n"
	              "}\n",
	              NULL);
	assert_string_equal(c->listen_address, "::");
	assert_int_equal(c->listen_port, 443);
	assert_int_equal(c->log_level, GW_LOG_DEBUG);
	assert_int_equal(c->log_format, GW_LOG_JSON);
	assert_int_equal(c->n_trusted_proxies, 2);
	assert_string_equal(c->trusted_proxies[0], "10.0.0.1");
	assert_string_equal(c->trusted_proxies[1], "::1");
	assert_string_equal(c->pg_conninfo, "host=/run/postgresql dbname=sb");
	assert_int_equal(c->pg_connect_timeout, 9);
	assert_int_equal(c->pg_query_timeout, 15);
	assert_int_equal(c->migrate_on_start, 0);
	assert_int_equal(c->redis_port, 6380);
	assert_int_equal(c->redis_database, 3);
	assert_int_equal(c->http_body_max, 4096);
	assert_int_equal(c->ws_message_max, 65536);
	gw_config_free(c);
}

static void
test_tls_both_set_accepted(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("tls {\n\tcertificate = \"/etc/sb/cert.pem\"\n"
	              "\tkey = \"/etc/sb/key.pem\"\n}\n",
	              NULL);
	assert_string_equal(c->tls_certificate, "/etc/sb/cert.pem");
	assert_string_equal(c->tls_key, "/etc/sb/key.pem");
	gw_config_free(c);
}

static void
test_free_null_is_noop(void **state)
{
	(void)state;
	gw_config_free(NULL);
	assert_true(1);
}

/* -------------------------------------------------- unknown directives */

static void
test_unknown_top_level_directive(void **state)
{
	(void)state;
	expect_refused("listen_port = 8080\nbogus = 1\n", 2, "bogus", NULL);
}

static void
test_unknown_directive_in_section(void **state)
{
	(void)state;
	expect_refused("\n\nredis {\n\taddress = \"127.0.0.1\"\n"
	               "\tnosuch = 3\n}\n",
	               5, "nosuch", NULL);
}

static void
test_unknown_section(void **state)
{
	(void)state;
	expect_refused("listen_port = 8080\n\nmysql {\n}\n", 3, "mysql", NULL);
}

static void
test_section_not_nested(void **state)
{
	(void)state;
	expect_refused("redis {\n\tlimits {\n\t}\n}\n", 2, "limits", NULL);
}

static void
test_line_number_after_comments(void **state)
{
	(void)state;
	/* The shipped config is mostly comments: lines must still count. */
	expect_refused("# one\n# two\n// three\n/* four\n five */\n"
	               "listen_port = 8080 # six\n"
	               "bogus = 1\n",
	               7, "bogus", NULL);
}

/* ------------------------------------------------------- bad values */

static void
test_listen_port_zero(void **state)
{
	(void)state;
	expect_refused("listen_address = \"0.0.0.0\"\n\nlisten_port = 0\n", 3,
	               "listen_port", "0");
}

static void
test_listen_port_too_big(void **state)
{
	(void)state;
	expect_refused("listen_port = 70000\n", 1, "listen_port", "70000");
}

static void
test_listen_port_not_a_number(void **state)
{
	(void)state;
	expect_refused("\nlisten_port = \"http\"\n", 2, "listen_port", NULL);
}

static void
test_listen_address_name_refused(void **state)
{
	(void)state;
	expect_refused("listen_address = \"localhost\"\n", 1, "listen_address",
	               "localhost");
}

static void
test_log_level_loud(void **state)
{
	(void)state;
	expect_refused("log_format = \"kv\"\nlog_level = \"loud\"\n", 2,
	               "log_level", "loud");
}

static void
test_log_level_case_insensitive(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("log_level = \"WARNING\"\n", NULL);
	assert_int_equal(c->log_level, GW_LOG_WARNING);
	gw_config_free(c);
}

static void
test_log_format_xml(void **state)
{
	(void)state;
	expect_refused("log_format = \"xml\"\n", 1, "log_format", "xml");
}

static void
test_pg_connect_timeout_negative(void **state)
{
	(void)state;
	expect_refused("postgresql {\n\tquery_timeout = 5\n"
	               "\tconnect_timeout = -1\n}\n",
	               3, "connect_timeout", "-1");
}

static void
test_pg_conninfo_empty(void **state)
{
	(void)state;
	expect_refused("postgresql {\n\tconninfo = \"\"\n}\n", 2, "conninfo",
	               NULL);
}

static void
test_limits_zero_refused(void **state)
{
	(void)state;
	expect_refused("limits {\n\tworker_threads = 0\n}\n", 2,
	               "worker_threads", NULL);
}

static void
test_ws_rx_buffer_range(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("limits {\n\tws_rx_buffer = 128\n}\n", NULL);
	assert_int_equal(c->ws_rx_buffer, 128);
	gw_config_free(c);
	c = load_text("limits {\n\tws_rx_buffer = 4096\n}\n", NULL);
	assert_int_equal(c->ws_rx_buffer, 4096);
	gw_config_free(c);
	/* A control frame (125 bytes of payload) must fit. */
	expect_refused("limits {\n\tws_rx_buffer = 127\n}\n", 2, "ws_rx_buffer",
	               "127");
	expect_refused("limits {\n\n\tws_rx_buffer = 1048577\n}\n", 3,
	               "ws_rx_buffer", "1048577");
}

static void
test_session_timeouts(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("sessions {\n\tidle_timeout = 600\n"
	              "\tabsolute_timeout = 28800\n}\n",
	              NULL);
	assert_int_equal(c->session_idle, 600);
	assert_int_equal(c->session_absolute, 28800);
	gw_config_free(c);
	expect_refused("sessions {\n\tidle_timeout = 0\n}\n", 2, "idle_timeout",
	               NULL);
	expect_refused("sessions {\n\tidle_timeout = 7200\n"
	               "\tabsolute_timeout = 3600\n}\n",
	               0, "idle_timeout (7200) is longer", NULL);
}

static void
test_redis_hostname_refused(void **state)
{
	(void)state;
	expect_refused("redis {\n\taddress = \"localhost\"\n}\n", 2, "address",
	               "localhost");
}

static void
test_redis_unix_socket_accepted(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("redis {\n\taddress = \"/run/redis.sock\"\n}\n", NULL);
	assert_string_equal(c->redis_address, "/run/redis.sock");
	gw_config_free(c);
}

static void
test_redis_ipv6_accepted(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("redis {\n\taddress = \"::1\"\n}\n", NULL);
	assert_string_equal(c->redis_address, "::1");
	gw_config_free(c);
}

static void
test_redis_relative_socket_refused(void **state)
{
	(void)state;
	expect_refused("redis {\n\taddress = \"run/redis.sock\"\n}\n", 2,
	               "address", NULL);
}

static void
test_origin_with_path_refused(void **state)
{
	(void)state;
	expect_refused("allowed_origins = {\"https://a.example\",\n"
	               "  \"https://b.example/chat\"}\n",
	               2, "allowed_origins", "https://b.example/chat");
}

static void
test_origin_trailing_slash_refused(void **state)
{
	(void)state;
	expect_refused("allowed_origins = {\"http://a.example/\"}\n", 1,
	               "allowed_origins", NULL);
}

static void
test_origin_wildcard_refused(void **state)
{
	(void)state;
	expect_refused("allowed_origins = {\"https://*.council.example\"}\n", 1,
	               "allowed_origins", "*");
}

static void
test_origin_without_scheme_refused(void **state)
{
	(void)state;
	expect_refused("allowed_origins = {\"a.example\"}\n", 1,
	               "allowed_origins", "a.example");
}

static void
test_origins_accepted(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("allowed_origins = {\"https://a.example\", "
	              "\"http://b.example:8080\"}\n",
	              NULL);
	assert_int_equal(c->n_allowed_origins, 2);
	assert_string_equal(c->allowed_origins[0], "https://a.example");
	assert_string_equal(c->allowed_origins[1], "http://b.example:8080");
	gw_config_free(c);
}

static void
test_trusted_proxy_name_refused(void **state)
{
	(void)state;
	expect_refused("\ntrusted_proxies = {\"10.0.0.1\", \"proxy.lan\"}\n", 2,
	               "trusted_proxies", "proxy.lan");
}

static void
test_trusted_proxy_cidr_refused(void **state)
{
	(void)state;
	expect_refused("trusted_proxies = {\"10.0.0.0/8\"}\n", 1,
	               "trusted_proxies", "10.0.0.0/8");
}

static void
test_public_url_ftp_refused(void **state)
{
	(void)state;
	expect_refused("public_url = \"ftp://files.council.example\"\n", 1,
	               "public_url", "ftp://");
}

static void
test_public_url_no_scheme_refused(void **state)
{
	(void)state;
	expect_refused("\n\npublic_url = \"contact.council.example\"\n", 3,
	               "public_url", NULL);
}

static void
test_tls_certificate_only(void **state)
{
	(void)state;
	expect_refused("tls {\n\tcertificate = \"/etc/sb/cert.pem\"\n}\n", 0,
	               "tls", NULL);
}

static void
test_tls_key_only(void **state)
{
	(void)state;
	expect_refused("tls {\n\tkey = \"/etc/sb/key.pem\"\n}\n", 0, "tls",
	               NULL);
}

/* ------------------------------------------------------------ syntax */

static void
test_unclosed_brace(void **state)
{
	(void)state;
	expect_refused_any_line("redis {\n\taddress = \"127.0.0.1\"\n\n", 1);
}

static void
test_unclosed_list(void **state)
{
	(void)state;
	expect_refused_any_line("allowed_origins = {\"http://a.example\"\n", 1);
}

static void
test_missing_quote(void **state)
{
	(void)state;
	/* The string runs to the end of the file. */
	expect_refused_any_line("listen_port = 8080\n"
	                        "listen_address = \"127.0.0.1\n"
	                        "listen_port = 80\n",
	                        2);
}

static void
test_stray_closing_brace(void **state)
{
	(void)state;
	expect_refused("listen_port = 8080\n}\n", 2, NULL, NULL);
}

static void
test_missing_equal_sign(void **state)
{
	(void)state;
	expect_refused("log_level \"info\"\n", 1, "log_level", NULL);
}

static void
test_missing_file(void **state)
{
	const char *path = "/nonexistent-switchboard-dir/switchboard.conf";
	struct gw_config *c;

	(void)state;
	c = gw_config_load(path, err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, path));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
}

static void
test_small_error_buffer_truncates(void **state)
{
	const char *path = tmp_file("bogus_option_with_a_long_name = 1\n");
	char small[16];
	struct gw_config *c;

	(void)state;
	memset(small, 'x', sizeof(small));
	c = gw_config_load(path, small, sizeof(small));
	assert_null(c);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

/* ------------------------------------------------------- environment */

static void
test_env_pg_url_replaces_conninfo(void **state)
{
	struct gw_config *c;

	(void)state;
	setenv("SWITCHBOARD_PG_URL", "postgresql:///sb?host=/run/postgresql",
	       1);
	c = load_text("postgresql {\n\tconninfo = \"hostaddr=10.0.0.9\"\n}\n",
	              NULL);
	assert_string_equal(c->pg_conninfo,
	                    "postgresql:///sb?host=/run/postgresql");
	gw_config_free(c);
}

static void
test_env_pg_url_empty_ignored(void **state)
{
	struct gw_config *c;

	(void)state;
	setenv("SWITCHBOARD_PG_URL", "", 1);
	c = load_text("postgresql {\n\tconninfo = \"hostaddr=10.0.0.9\"\n}\n",
	              NULL);
	assert_string_equal(c->pg_conninfo, "hostaddr=10.0.0.9");
	gw_config_free(c);
}

static void
test_env_pg_url_file_strips_newline(void **state)
{
	const char *secret;
	struct gw_config *c;

	(void)state;
	secret = tmp_file("host=/run/postgresql dbname=sb password=p w\n");
	setenv("SWITCHBOARD_PG_URL_FILE", secret, 1);
	c = load_text("", NULL);
	assert_string_equal(c->pg_conninfo,
	                    "host=/run/postgresql dbname=sb password=p w");
	gw_config_free(c);
}

static void
test_env_pg_url_file_without_newline(void **state)
{
	const char *secret;
	struct gw_config *c;

	(void)state;
	secret = tmp_file("dbname=sb");
	setenv("SWITCHBOARD_PG_URL_FILE", secret, 1);
	c = load_text("", NULL);
	assert_string_equal(c->pg_conninfo, "dbname=sb");
	gw_config_free(c);
}

static void
test_env_pg_url_file_keeps_inner_newline(void **state)
{
	const char *secret;
	struct gw_config *c;

	(void)state;
	secret = tmp_file("dbname=sb\nuser=x\n");
	setenv("SWITCHBOARD_PG_URL_FILE", secret, 1);
	c = load_text("", NULL);
	assert_string_equal(c->pg_conninfo, "dbname=sb\nuser=x");
	gw_config_free(c);
}

static void
test_env_pg_url_wins_over_file(void **state)
{
	const char *secret;
	struct gw_config *c;

	(void)state;
	secret = tmp_file("dbname=from_file\n");
	setenv("SWITCHBOARD_PG_URL_FILE", secret, 1);
	setenv("SWITCHBOARD_PG_URL", "dbname=from_env", 1);
	c = load_text("", NULL);
	assert_string_equal(c->pg_conninfo, "dbname=from_env");
	gw_config_free(c);
}

static void
test_env_pg_url_file_missing(void **state)
{
	(void)state;
	setenv("SWITCHBOARD_PG_URL_FILE", "/nonexistent-switchboard/pg-url", 1);
	expect_refused("", 0, "SWITCHBOARD_PG_URL_FILE", NULL);
}

static void
test_env_pg_url_file_is_directory(void **state)
{
	(void)state;
	/* fopen(3) opens a directory; reading it must still fail. */
	setenv("SWITCHBOARD_PG_URL_FILE", "/", 1);
	expect_refused("", 0, "SWITCHBOARD_PG_URL_FILE", NULL);
}

static void
test_env_pg_url_file_too_big(void **state)
{
	static char big[5000];
	const char *secret;

	(void)state;
	memset(big, 'a', sizeof(big));
	secret = tmp_file_n(big, sizeof(big));
	setenv("SWITCHBOARD_PG_URL_FILE", secret, 1);
	expect_refused("", 0, "SWITCHBOARD_PG_URL_FILE", NULL);
}

static void
test_env_redis_password(void **state)
{
	struct gw_config *c;

	(void)state;
	setenv("SWITCHBOARD_REDIS_PASSWORD", "hunter2 with spaces", 1);
	c = load_text("redis {\n\tpassword = \"in-file\"\n}\n", NULL);
	assert_string_equal(c->redis_password, "hunter2 with spaces");
	gw_config_free(c);
}

static void
test_env_redis_password_file(void **state)
{
	const char *secret;
	struct gw_config *c;

	(void)state;
	secret = tmp_file("s3cret\n");
	setenv("SWITCHBOARD_REDIS_PASSWORD_FILE", secret, 1);
	c = load_text("redis {\n\tpassword = \"in-file\"\n}\n", NULL);
	assert_string_equal(c->redis_password, "s3cret");
	gw_config_free(c);
}

static void
test_env_redis_password_file_missing(void **state)
{
	(void)state;
	setenv("SWITCHBOARD_REDIS_PASSWORD_FILE",
	       "/nonexistent-switchboard/redis-pw", 1);
	expect_refused("", 0, "SWITCHBOARD_REDIS_PASSWORD_FILE", NULL);
}

static void
test_env_unset_keeps_file_values(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("redis {\n\tpassword = \"in-file\"\n}\n", NULL);
	assert_string_equal(c->redis_password, "in-file");
	gw_config_free(c);
}

/* ------------------------------------------------------------ origins */

static void
test_origin_derived_from_public_url(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("public_url = \"https://contact.council.example/chat/\"\n"
	              "allowed_origins = {}\n",
	              NULL);
	assert_int_equal(c->n_allowed_origins, 1);
	assert_string_equal(c->allowed_origins[0],
	                    "https://contact.council.example");
	gw_config_free(c);
}

static void
test_origin_derived_keeps_port(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("public_url = \"http://10.1.2.3:8443/a/b?c=d\"\n", NULL);
	assert_int_equal(c->n_allowed_origins, 1);
	assert_string_equal(c->allowed_origins[0], "http://10.1.2.3:8443");
	gw_config_free(c);
}

static void
test_origin_allowed_exact_only(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("public_url = \"https://contact.council.example/x\"\n",
	              NULL);
	assert_true(
	        gw_config_origin_allowed(c, "https://contact.council.example"));
	assert_false(gw_config_origin_allowed(
	        c, "https://contact.council.example.evil.test"));
	assert_false(gw_config_origin_allowed(c, "https://contact.council"));
	assert_false(gw_config_origin_allowed(
	        c, "https://contact.council.example/"));
	assert_false(gw_config_origin_allowed(
	        c, "https://contact.council.example:443"));
	assert_false(
	        gw_config_origin_allowed(c, "http://contact.council.example"));
	assert_false(gw_config_origin_allowed(
	        c, "evil.https://contact.council.example"));
	assert_false(gw_config_origin_allowed(c, "null"));
	assert_false(gw_config_origin_allowed(c, ""));
	assert_false(gw_config_origin_allowed(c, NULL));
	gw_config_free(c);
}

static void
test_origin_allowed_list(void **state)
{
	struct gw_config *c;

	(void)state;
	c = load_text("public_url = \"https://contact.council.example\"\n"
	              "allowed_origins = {\"https://a.example\", "
	              "\"https://b.example:8443\"}\n",
	              NULL);
	assert_true(gw_config_origin_allowed(c, "https://a.example"));
	assert_true(gw_config_origin_allowed(c, "https://b.example:8443"));
	assert_false(gw_config_origin_allowed(c, "https://b.example"));
	/* An explicit list replaces the public_url default. */
	assert_false(
	        gw_config_origin_allowed(c, "https://contact.council.example"));
	gw_config_free(c);
}

/*
 * An origin needs a host. Last on purpose: valid_origins looks for a path
 * from s + 8, one byte past the end of "http://", which AddressSanitizer
 * turns into an abort of the whole program.
 */
static void
test_origin_without_host_refused(void **state)
{
	(void)state;
	expect_refused("allowed_origins = {\"https://\"}\n", 1,
	               "allowed_origins", NULL);
	expect_refused("allowed_origins = {\"http:///x\"}\n", 1,
	               "allowed_origins", NULL);
	expect_refused("allowed_origins = {\"http://\"}\n", 1,
	               "allowed_origins", NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- registered sections (config.h, struct gw_config_section) ---- */

static void
test_chat_section_defaults(void **state)
{
	struct gw_config *c = load_text("", NULL);
	const struct chat_config *cc = chat_config(c);

	(void)state;
	assert_int_equal(cc->idle_timeout, 600);
	assert_int_equal(cc->token_lifetime, 172800);
	assert_int_equal(cc->requests_per_socket, 3);
	assert_int_equal(cc->requests_per_client, 10);
	assert_int_equal(cc->requests_per_destination, 3);
	assert_ptr_equal(gw_config_settings(c, "chat"), cc);
	assert_null(gw_config_settings(c, "nosuch"));
	gw_config_free(c);
}

static void
test_chat_section_values(void **state)
{
	struct gw_config *c =
	        load_text("# the chat\nchat {\n\tidle_timeout = 40\n"
	                  "\ttoken_lifetime = 60\n\trequests_per_socket = 1\n"
	                  "\trequests_per_client = 7\n"
	                  "\trequests_per_destination = 2\n}\n",
	                  NULL);
	const struct chat_config *cc = chat_config(c);

	(void)state;
	assert_int_equal(cc->idle_timeout, 40);
	assert_int_equal(cc->token_lifetime, 60);
	assert_int_equal(cc->requests_per_socket, 1);
	assert_int_equal(cc->requests_per_client, 7);
	assert_int_equal(cc->requests_per_destination, 2);
	gw_config_free(c);
}

static void
test_chat_section_refusals(void **state)
{
	(void)state;
	/* A rule of the section's load: the file and the section named. */
	expect_refused("chat {\n\tidle_timeout = 39\n}\n", 0,
	               "chat: idle_timeout (39)", "at least 40");
	/* A check of one option: its line. */
	expect_refused("\n# c\nchat {\n\ttoken_lifetime = 0\n}\n", 4,
	               "token_lifetime", "positive");
	expect_refused("chat {\n\trequests_per_client = -1\n}\n", 2,
	               "requests_per_client", NULL);
	/* An option the section does not declare. */
	expect_refused("chat {\n\n\tnosuch = 1\n}\n", 3, "nosuch", NULL);
	/* The brace check covers registered sections too. */
	expect_refused("\nchat {\n\tidle_timeout = 60\n", 2, "never closed",
	               NULL);
}

/* A section of a part the loader does not know: registered by the test. */
struct hooks {
	char secret[64];
};

static int
hooks_valid_secret(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v == NULL || strlen(v) >= sizeof(((struct hooks *)0)->secret)) {
		cfg_error(cfg, "%s: too long", opt->name);
		return -1;
	}
	return 0;
}

static void *
hooks_load(cfg_t *sec, char *why, size_t whylen)
{
	struct hooks *h;
	const char *v = cfg_getstr(sec, "secret");

	if (strcmp(v, "refuse") == 0) {
		snprintf(why, whylen, "secret: \"%s\" is refused", v);
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	assert_non_null(h);
	snprintf(h->secret, sizeof(h->secret), "%s", v);
	return h;
}

static void
hooks_free(void *settings)
{
	free(settings);
}

static cfg_opt_t hooks_opts[] = {
        CFG_STR("secret", "none", CFGF_NONE),
        CFG_INT("port", 1, CFGF_NONE),
        CFG_END(),
};
static const struct gw_config_check hooks_checks[] = {
        {"secret", hooks_valid_secret},
        {"port", gw_config_valid_positive},
        {NULL, NULL},
};
static const struct gw_config_section hooks_section = {
        "hooks", hooks_opts, hooks_checks, hooks_load, hooks_free};
static const struct gw_config_section *const hooks_only[] = {&hooks_section,
                                                             NULL};

static void
test_registered_section(void **state)
{
	struct gw_config *c;
	const struct hooks *h;

	(void)state;
	gw_config_set_sections(hooks_only);
	c = load_text("hooks {\n\tsecret = \"s3\"\n}\n", NULL);
	h = gw_config_settings(c, "hooks");
	assert_non_null(h);
	assert_string_equal(h->secret, "s3");
	assert_null(gw_config_settings(c, "chat"));
	gw_config_free(c);
	/* Its defaults when the file does not name it. */
	c = load_text("listen_port = 8080\n", NULL);
	h = gw_config_settings(c, "hooks");
	assert_non_null(h);
	assert_string_equal(h->secret, "none");
	gw_config_free(c);
	expect_refused("hooks {\n\tport = 0\n}\n", 2, "port", NULL);
	expect_refused("\nhooks {\n\tsecret = "
	               "\"0123456789012345678901234567890123456789012345678901"
	               "234567890123\"\n}\n",
	               3, "secret", "too long");
	expect_refused("hooks {\n\tsecret = \"refuse\"\n}\n", 0,
	               "hooks: secret", "is refused");
	/* A section registered no more is unknown. */
	expect_refused("\n\nchat {\n}\n", 3, "chat", NULL);
	gw_config_set_sections(NULL);
	expect_refused("hooks {\n}\n", 1, "hooks", NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_example_config_loads_with_documented_defaults),
	        T(test_empty_file_loads_defaults),
	        T(test_comments_only_loads_defaults),
	        T(test_values_are_read),
	        T(test_session_timeouts),
	        T(test_tls_both_set_accepted),
	        T(test_free_null_is_noop),
	        T(test_unknown_top_level_directive),
	        T(test_unknown_directive_in_section),
	        T(test_unknown_section),
	        T(test_chat_section_defaults),
	        T(test_chat_section_values),
	        T(test_chat_section_refusals),
	        T(test_registered_section),
	        T(test_section_not_nested),
	        T(test_line_number_after_comments),
	        T(test_listen_port_zero),
	        T(test_listen_port_too_big),
	        T(test_listen_port_not_a_number),
	        T(test_listen_address_name_refused),
	        T(test_log_level_loud),
	        T(test_log_level_case_insensitive),
	        T(test_log_format_xml),
	        T(test_pg_connect_timeout_negative),
	        T(test_pg_conninfo_empty),
	        T(test_limits_zero_refused),
	        T(test_ws_rx_buffer_range),
	        T(test_redis_hostname_refused),
	        T(test_redis_unix_socket_accepted),
	        T(test_redis_ipv6_accepted),
	        T(test_redis_relative_socket_refused),
	        T(test_origin_with_path_refused),
	        T(test_origin_trailing_slash_refused),
	        T(test_origin_wildcard_refused),
	        T(test_origin_without_scheme_refused),
	        T(test_origins_accepted),
	        T(test_trusted_proxy_name_refused),
	        T(test_trusted_proxy_cidr_refused),
	        T(test_public_url_ftp_refused),
	        T(test_public_url_no_scheme_refused),
	        T(test_tls_certificate_only),
	        T(test_tls_key_only),
	        T(test_unclosed_brace),
	        T(test_unclosed_list),
	        T(test_missing_quote),
	        T(test_stray_closing_brace),
	        T(test_missing_equal_sign),
	        T(test_missing_file),
	        T(test_small_error_buffer_truncates),
	        T(test_env_pg_url_replaces_conninfo),
	        T(test_env_pg_url_empty_ignored),
	        T(test_env_pg_url_file_strips_newline),
	        T(test_env_pg_url_file_without_newline),
	        T(test_env_pg_url_file_keeps_inner_newline),
	        T(test_env_pg_url_wins_over_file),
	        T(test_env_pg_url_file_missing),
	        T(test_env_pg_url_file_is_directory),
	        T(test_env_pg_url_file_too_big),
	        T(test_env_redis_password),
	        T(test_env_redis_password_file),
	        T(test_env_redis_password_file_missing),
	        T(test_env_unset_keeps_file_values),
	        T(test_origin_derived_from_public_url),
	        T(test_origin_derived_keeps_port),
	        T(test_origin_allowed_exact_only),
	        T(test_origin_allowed_list),
	        T(test_origin_without_host_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
