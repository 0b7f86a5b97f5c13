/*
 * test_log.c: gw_log_render in kv and JSON modes (escaping, one event per
 * line, truncation), gw_log_level_parse, and gw_log itself writing one
 * line to stderr. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

#define TS "2026-11-22T10:00:00.123Z"

static char line[8192];

static size_t
count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (*s == c)
			n++;
	return n;
}

/* One event is one line: a single newline, at the very end. */
static void
assert_one_line(const char *s)
{
	size_t len = strlen(s);

	assert_true(len > 0);
	assert_int_equal(s[len - 1], '\n');
	assert_int_equal(count_char(s, '\n'), 1);
	assert_null(strchr(s, '\r'));
}

static void
render_kv(const char *event, const char *body)
{
	gw_log_render(line, sizeof(line), GW_LOG_KV, TS, "info", event, body);
	assert_one_line(line);
}

/* Renders in JSON mode and parses the line; the caller decrefs. */
static json_t *
render_json(const char *event, const char *body)
{
	json_error_t jerr;
	json_t *o;

	gw_log_render(line, sizeof(line), GW_LOG_JSON, TS, "info", event, body);
	assert_one_line(line);
	o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		fail_msg("not JSON (%s): %s", jerr.text, line);
	assert_true(json_is_object(o));
	return o;
}

static const char *
jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || !json_is_string(v))
		fail_msg("key %s missing or not a string", key);
	return json_string_value(v);
}

/* ---------------------------------------------------------------- kv */

static void
test_kv_plain(void **state)
{
	(void)state;
	render_kv("pg.connected", "conn=1 peer=10.0.0.1");
	assert_string_equal(line, "ts=" TS " level=info event=pg.connected "
	                          "conn=1 peer=10.0.0.1\n");
}

static void
test_kv_empty_body(void **state)
{
	(void)state;
	render_kv("server.started", "");
	assert_string_equal(line,
	                    "ts=" TS " level=info event=server.started\n");
}

static void
test_kv_newline_escaped(void **state)
{
	(void)state;
	render_kv("mail.in", "subject=\"line one\nline two\r\n\"");
	assert_non_null(strstr(line, "subject=\"line one\\nline two\\r\\n\""));
}

static void
test_kv_control_chars_escaped(void **state)
{
	(void)state;
	render_kv("x", "a=\x01\x1b[31m b=\x7f c=\td");
	assert_non_null(strstr(line, "a=\\u0001\\u001b[31m"));
	assert_non_null(strstr(line, "b=\\u007f"));
	assert_non_null(strstr(line, "c=\\td"));
}

static void
test_kv_quoted_spaces_kept(void **state)
{
	(void)state;
	render_kv("pg.error", "conn=2 reason=\"connection refused by peer\"");
	assert_non_null(
	        strstr(line, " reason=\"connection refused by peer\"\n"));
}

static void
test_kv_utf8_passes(void **state)
{
	(void)state;
	render_kv("chat.in", "name=\"Si\xc3\xa2n\"");
	assert_non_null(strstr(line, "name=\"Si\xc3\xa2n\""));
}

static void
test_kv_only_control_chars(void **state)
{
	char body[64];
	int i;

	(void)state;
	for (i = 0; i < 63; i++)
		body[i] = (char)(1 + i % 31);
	body[63] = '\0';
	render_kv("x", body);
	assert_true(strlen(line) > 63 * 2);
}

/* -------------------------------------------------------------- JSON */

static void
test_json_has_fields(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("pg.connected", "conn=1 peer=10.0.0.1");
	assert_string_equal(jstr(o, "ts"), TS);
	assert_string_equal(jstr(o, "level"), "info");
	assert_string_equal(jstr(o, "event"), "pg.connected");
	assert_string_equal(jstr(o, "conn"), "1");
	assert_string_equal(jstr(o, "peer"), "10.0.0.1");
	assert_int_equal(json_object_size(o), 5);
	json_decref(o);
}

static void
test_json_empty_body(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("server.started", "");
	assert_int_equal(json_object_size(o), 3);
	json_decref(o);
}

static void
test_json_quoted_value_keeps_spaces(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("pg.error", "reason=\"connection refused by peer\" "
	                            "conn=7");
	assert_string_equal(jstr(o, "reason"), "connection refused by peer");
	assert_string_equal(jstr(o, "conn"), "7");
	json_decref(o);
}

static void
test_json_valueless_token_true(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("server.stopping", "draining conn=3");
	assert_true(json_is_true(json_object_get(o, "draining")));
	assert_string_equal(jstr(o, "conn"), "3");
	json_decref(o);
}

static void
test_json_newline_and_controls(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("mail.in", "subject=\"a\nb\r\tc\x01\x7f\" x=1");
	assert_string_equal(jstr(o, "subject"), "a\nb\r\tc\x01\x7f");
	assert_string_equal(jstr(o, "x"), "1");
	json_decref(o);
}

static void
test_json_quotes_and_backslashes(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("x", "msg=\"say \"hi\"!\" path=C:\\dir\\f");
	assert_string_equal(jstr(o, "msg"), "say \"hi\"!");
	assert_string_equal(jstr(o, "path"), "C:\\dir\\f");
	json_decref(o);
}

static void
test_json_unterminated_quote(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("x", "a=1 msg=\"no end");
	assert_string_equal(jstr(o, "a"), "1");
	assert_string_equal(jstr(o, "msg"), "no end");
	json_decref(o);
}

static void
test_json_empty_value_and_spaces(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("x", "  a=   b=\"\"  c=3  ");
	assert_string_equal(jstr(o, "a"), "");
	assert_string_equal(jstr(o, "b"), "");
	assert_string_equal(jstr(o, "c"), "3");
	json_decref(o);
}

static void
test_json_hostile_event_and_key(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("ev\"}\n{\"x", "k\"\\ey=v");
	assert_string_equal(jstr(o, "event"), "ev\"}\n{\"x");
	assert_string_equal(jstr(o, "k\"\\ey"), "v");
	json_decref(o);
}

static void
test_json_utf8(void **state)
{
	json_t *o;

	(void)state;
	o = render_json("chat.in", "name=\"Si\xc3\xa2n \xe2\x82\xac\"");
	assert_string_equal(jstr(o, "name"), "Si\xc3\xa2n \xe2\x82\xac");
	json_decref(o);
}

static void
test_json_invalid_utf8_still_parses(void **state)
{
	static const char *const bodies[] = {
	        "name=\"Si\xe2n\"",      /* Latin-1 from an old mail client */
	        "a=\xff\xfe b=1",        /* never valid */
	        "a=\xc3",                /* sequence cut at the end */
	        "a=\xc0\xaf",            /* overlong '/' */
	        "a=\xed\xa0\x80",        /* UTF-16 surrogate */
	        "a=\xf4\x90\x80\x80 b=2" /* above U+10FFFF */
	};
	json_error_t jerr;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_t *o;

		gw_log_render(line, sizeof(line), GW_LOG_JSON, TS, "info", "e",
		              bodies[i]);
		assert_one_line(line);
		o = json_loads(line, 0, &jerr);
		if (o == NULL)
			fail_msg("body %zu: not JSON (%s): %s", i, jerr.text,
			         line);
		assert_non_null(json_object_get(o, "event"));
		json_decref(o);
	}
}

/* -------------------------------------------------------- truncation */

static void
test_kv_truncated_one_line(void **state)
{
	char body[1000], out[80];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(body) - 1; i++)
		body[i] = i % 7 == 0 ? '\n' : 'x';
	body[sizeof(body) - 1] = '\0';
	memset(out, '#', sizeof(out));
	gw_log_render(out, 64, GW_LOG_KV, TS, "info", "big", body);
	assert_int_equal(strlen(out), 63);
	assert_one_line(out);
	assert_memory_equal(out, "ts=" TS, 3 + strlen(TS));
	/* Nothing written past the given length. */
	for (i = 64; i < sizeof(out); i++)
		assert_int_equal(out[i], '#');
}

static void
test_kv_truncated_at_every_length(void **state)
{
	char out[128];
	unsigned n;

	(void)state;
	for (n = 2; n <= sizeof(out); n++) {
		memset(out, '#', sizeof(out));
		gw_log_render(out, n, GW_LOG_KV, TS, "warning", "e",
		              "a=\"\n\n\n\x01\x02\x03\" b=2");
		assert_one_line(out);
		assert_true(strlen(out) <= n - 1);
		if (n < sizeof(out))
			assert_int_equal(out[n], '#');
	}
}

static void
test_json_truncated_ends_in_newline(void **state)
{
	char body[4096], out[256];
	unsigned n;

	(void)state;
	memset(body, '\x01', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (n = 2; n <= sizeof(out); n += 7) {
		memset(out, '#', sizeof(out));
		gw_log_render(out, n, GW_LOG_JSON, TS, "error", "e", body);
		assert_one_line(out);
		assert_true(strlen(out) <= n - 1);
		if (n < sizeof(out))
			assert_int_equal(out[n], '#');
	}
}

static void
test_json_fits_exactly(void **state)
{
	json_error_t jerr;
	json_t *o;
	char out[256];
	size_t need;

	(void)state;
	gw_log_render(out, sizeof(out), GW_LOG_JSON, TS, "info", "e", "a=1");
	need = strlen(out) + 1;
	gw_log_render(out, (unsigned)need, GW_LOG_JSON, TS, "info", "e", "a=1");
	assert_one_line(out);
	o = json_loads(out, 0, &jerr);
	assert_non_null(o);
	json_decref(o);
}

/* ------------------------------------------------------------ levels */

static void
test_level_parse_names(void **state)
{
	static const struct {
		const char *name;
		enum gw_log_level level;
	} ok[] = {
	        {"debug", GW_LOG_DEBUG},     {"info", GW_LOG_INFO},
	        {"notice", GW_LOG_NOTICE},   {"warning", GW_LOG_WARNING},
	        {"error", GW_LOG_ERROR},     {"DEBUG", GW_LOG_DEBUG},
	        {"Info", GW_LOG_INFO},       {"NoTiCe", GW_LOG_NOTICE},
	        {"WARNING", GW_LOG_WARNING}, {"Error", GW_LOG_ERROR},
	};
	enum gw_log_level l;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		l = (enum gw_log_level)99;
		assert_int_equal(gw_log_level_parse(ok[i].name, &l), 0);
		assert_int_equal(l, ok[i].level);
	}
}

static void
test_level_parse_refuses(void **state)
{
	static const char *const bad[] = {
	        "",      "warn",   "err",   "information", "info ",
	        " info", "debug2", "fatal", "crit",        "loud",
	};
	enum gw_log_level l = GW_LOG_NOTICE;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(gw_log_level_parse(bad[i], &l), -1);
		assert_int_equal(l, GW_LOG_NOTICE);
	}
}

static void
test_level_names(void **state)
{
	enum gw_log_level l;
	int i;

	(void)state;
	for (i = GW_LOG_DEBUG; i <= GW_LOG_ERROR; i++) {
		assert_int_equal(
		        gw_log_level_parse(
		                gw_log_level_name((enum gw_log_level)i), &l),
		        0);
		assert_int_equal(l, i);
	}
	assert_string_equal(gw_log_level_name((enum gw_log_level)42),
	                    "unknown");
}

/* ------------------------------------------------------------ gw_log */

/* Runs fn with stderr sent to a temporary file; returns what it wrote. */
static void
capture_stderr(void (*fn)(void), char *out, size_t outlen)
{
	char path[] = "/tmp/sb-test-log-XXXXXX";
	int fd, saved;
	ssize_t n;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	fn();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, out, outlen - 1);
	close(fd);
	assert_true(n >= 0);
	out[n] = '\0';
}

static void
log_some(void)
{
	gw_log_set_level(GW_LOG_WARNING);
	gw_log_set_format(GW_LOG_KV);
	gw_info("hidden.info", "a=%d", 1);
	gw_debug("hidden.debug", "a=%d", 2);
	gw_warn("shown.warn", "reason=\"%s\"", "two\nlines");
	gw_log_set_format(GW_LOG_JSON);
	gw_error("shown.error", "n=%d", 3);
	gw_log_set_level(GW_LOG_INFO);
	gw_log_set_format(GW_LOG_KV);
}

static void
test_gw_log_filters_and_writes_lines(void **state)
{
	char out[4096], *nl;
	json_error_t jerr;
	json_t *o;

	(void)state;
	capture_stderr(log_some, out, sizeof(out));
	assert_null(strstr(out, "hidden"));
	assert_int_equal(count_char(out, '\n'), 2);
	assert_int_equal(strncmp(out, "ts=", 3), 0);
	assert_non_null(strstr(out, " level=warning event=shown.warn "
	                            "reason=\"two\\nlines\"\n"));
	nl = strchr(out, '\n');
	o = json_loads(nl + 1, 0, &jerr);
	if (o == NULL)
		fail_msg("not JSON (%s): %s", jerr.text, nl + 1);
	assert_string_equal(jstr(o, "level"), "error");
	assert_string_equal(jstr(o, "event"), "shown.error");
	assert_string_equal(jstr(o, "n"), "3");
	/* 2026-11-22T10:00:00.123Z */
	assert_int_equal(strlen(jstr(o, "ts")), 24);
	json_decref(o);
	assert_int_equal(gw_log_get_level(), GW_LOG_INFO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_kv_plain),
	        cmocka_unit_test(test_kv_empty_body),
	        cmocka_unit_test(test_kv_newline_escaped),
	        cmocka_unit_test(test_kv_control_chars_escaped),
	        cmocka_unit_test(test_kv_quoted_spaces_kept),
	        cmocka_unit_test(test_kv_utf8_passes),
	        cmocka_unit_test(test_kv_only_control_chars),
	        cmocka_unit_test(test_json_has_fields),
	        cmocka_unit_test(test_json_empty_body),
	        cmocka_unit_test(test_json_quoted_value_keeps_spaces),
	        cmocka_unit_test(test_json_valueless_token_true),
	        cmocka_unit_test(test_json_newline_and_controls),
	        cmocka_unit_test(test_json_quotes_and_backslashes),
	        cmocka_unit_test(test_json_unterminated_quote),
	        cmocka_unit_test(test_json_empty_value_and_spaces),
	        cmocka_unit_test(test_json_hostile_event_and_key),
	        cmocka_unit_test(test_json_utf8),
	        cmocka_unit_test(test_json_invalid_utf8_still_parses),
	        cmocka_unit_test(test_kv_truncated_one_line),
	        cmocka_unit_test(test_kv_truncated_at_every_length),
	        cmocka_unit_test(test_json_truncated_ends_in_newline),
	        cmocka_unit_test(test_json_fits_exactly),
	        cmocka_unit_test(test_level_parse_names),
	        cmocka_unit_test(test_level_parse_refuses),
	        cmocka_unit_test(test_level_names),
	        cmocka_unit_test(test_gw_log_filters_and_writes_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
