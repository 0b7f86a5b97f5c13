/*
 * test_metrics.c: counters, gauges and histograms observed through
 * gw_metrics_render's Prometheus text output. Single-threaded.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static const struct gw_metrics_state idle = {0, 0, 0, 0};

static char *
render(const struct gw_metrics_state *st)
{
	size_t len = 0;
	char *text = gw_metrics_render(st, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_true(len > 0 && text[len - 1] == '\n');
	return text;
}

/* The value of the sample line "sample VALUE"; fails if absent. */
static double
sample(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text;
	char *end;
	double v;

	for (;;) {
		p = strstr(p, name);
		if (p == NULL)
			fail_msg("no sample %s in:\n%s", name, text);
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			break;
		p += n;
	}
	v = strtod(p + n + 1, &end);
	if (end == p + n + 1 || *end != '\n')
		fail_msg("bad value for %s", name);
	return v;
}

static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += n;
	}
	return 0;
}

static void
assert_family(const char *text, const char *name, const char *type)
{
	char help[160], typeline[160];

	snprintf(help, sizeof(help), "\n# HELP %s ", name);
	snprintf(typeline, sizeof(typeline), "# TYPE %s %s", name, type);
	if (strstr(text, help) == NULL)
		fail_msg("no HELP for %s", name);
	if (!has_line(text, typeline))
		fail_msg("no \"%s\"", typeline);
	/* HELP comes before TYPE, and each family is declared once. */
	assert_true(strstr(text, help) < strstr(text, typeline));
	assert_null(strstr(strstr(text, help) + 1, help));
}

/*
 * Checks the buckets of a histogram: le values rise, counts are
 * cumulative, +Inf equals _count. Returns _count.
 */
static double
assert_histogram(const char *text, const char *name)
{
	char prefix[160], key[200];
	const char *p = text;
	double prev_le = -1, prev = 0, inf;
	char *end;
	int nb = 0;

	snprintf(prefix, sizeof(prefix), "\n%s_bucket{le=\"", name);
	while ((p = strstr(p, prefix)) != NULL) {
		double le, v;

		p += strlen(prefix);
		if (strncmp(p, "+Inf\"} ", 7) == 0)
			break;
		le = strtod(p, &end);
		assert_true(end != p);
		assert_memory_equal(end, "\"} ", 3);
		v = strtod(end + 3, NULL);
		assert_true(le > prev_le);
		assert_true(v >= prev);
		prev_le = le;
		prev = v;
		nb++;
	}
	assert_true(nb >= 5);
	snprintf(key, sizeof(key), "%s_bucket{le=\"+Inf\"}", name);
	inf = sample(text, key);
	assert_true(inf >= prev);
	snprintf(key, sizeof(key), "%s_count", name);
	assert_true(inf == sample(text, key));
	snprintf(key, sizeof(key), "%s_sum", name);
	(void)sample(text, key);
	return inf;
}

static int
setup(void **state)
{
	(void)state;
	gw_metrics_reset();
	return 0;
}

static void
test_families_present(void **state)
{
	struct gw_metrics_state st = {1, 1, 1, 0};
	char *t;

	(void)state;
	t = render(&st);
	assert_family(t, "switchboard_connections_open", "gauge");
	assert_family(t, "switchboard_messages_total", "counter");
	assert_family(t, "switchboard_errors_total", "counter");
	assert_family(t, "switchboard_pg_roundtrip_seconds", "histogram");
	assert_family(t, "switchboard_redis_roundtrip_seconds", "histogram");
	assert_family(t, "switchboard_commit_batch_size", "histogram");
	assert_family(t, "switchboard_up", "gauge");
	assert_family(t, "switchboard_migrations_current", "gauge");
	assert_family(t, "switchboard_commit_queue", "gauge");
	free(t);
}

/* Every sample line belongs to the family whose TYPE line came last. */
static void
test_samples_follow_their_type(void **state)
{
	char *t, *line, *save = NULL, family[128] = "", type[32] = "";
	size_t fl;
	int samples = 0;

	(void)state;
	gw_metrics_pg_rtt(0.01);
	t = render(&idle);
	for (line = strtok_r(t, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(
			        sscanf(line + 7, "%127s %31s", family, type),
			        2);
			continue;
		}
		if (line[0] == '#')
			continue;
		fl = strlen(family);
		assert_true(fl > 0);
		if (strncmp(line, family, fl) != 0)
			fail_msg("sample \"%s\" outside family %s", line,
			         family);
		if (strcmp(type, "histogram") == 0)
			assert_true(strncmp(line + fl, "_bucket{", 8) == 0 ||
			            strncmp(line + fl, "_sum ", 5) == 0 ||
			            strncmp(line + fl, "_count ", 7) == 0);
		else
			assert_true(line[fl] == ' ' || line[fl] == '{');
		assert_non_null(strrchr(line, ' '));
		samples++;
	}
	assert_true(samples > 30);
	free(t);
}

static void
test_reset_zeroes(void **state)
{
	char *t;

	(void)state;
	gw_metrics_conn(GW_CONN_HTTP, 5);
	gw_metrics_message("chat", GW_DIR_IN);
	gw_metrics_error(GW_ERR_PG);
	gw_metrics_pg_rtt(0.5);
	gw_metrics_commit_batch(3);
	gw_metrics_reset();
	assert_int_equal(gw_metrics_conn_open(GW_CONN_HTTP), 0);
	t = render(&idle);
	assert_true(sample(t, "switchboard_connections_open{kind=\"http\"}") ==
	            0);
	assert_true(sample(t, "switchboard_messages_total{channel=\"chat\","
	                      "direction=\"in\"}") == 0);
	assert_true(
	        sample(t, "switchboard_errors_total{kind=\"postgresql\"}") ==
	        0);
	assert_true(assert_histogram(t, "switchboard_pg_roundtrip_seconds") ==
	            0);
	assert_true(assert_histogram(t, "switchboard_commit_batch_size") == 0);
	assert_true(sample(t, "switchboard_pg_roundtrip_seconds_sum") == 0);
	free(t);
}

static void
test_pg_histogram_cumulative(void **state)
{
	char *t;

	(void)state;
	gw_metrics_pg_rtt(0.00005);
	gw_metrics_pg_rtt(0.001); /* exactly on a bound: le is <= */
	gw_metrics_pg_rtt(0.003);
	gw_metrics_pg_rtt(0.3);
	gw_metrics_pg_rtt(20);
	t = render(&idle);
	assert_true(assert_histogram(t, "switchboard_pg_roundtrip_seconds") ==
	            5);
	assert_true(sample(t, "switchboard_pg_roundtrip_seconds_bucket"
	                      "{le=\"0.0001\"}") == 1);
	assert_true(sample(t, "switchboard_pg_roundtrip_seconds_bucket"
	                      "{le=\"0.0005\"}") == 1);
	assert_true(sample(t, "switchboard_pg_roundtrip_seconds_bucket"
	                      "{le=\"0.001\"}") == 2);
	assert_true(sample(t, "switchboard_pg_roundtrip_seconds_bucket"
	                      "{le=\"0.005\"}") == 3);
	assert_true(sample(t, "switchboard_pg_roundtrip_seconds_bucket"
	                      "{le=\"0.5\"}") == 4);
	assert_true(sample(t, "switchboard_pg_roundtrip_seconds_bucket"
	                      "{le=\"10\"}") == 4);
	assert_true(fabs(sample(t, "switchboard_pg_roundtrip_seconds_sum") -
	                 20.30405) < 1e-6);
	/* Redis saw nothing. */
	assert_true(assert_histogram(
	                    t, "switchboard_redis_roundtrip_seconds") == 0);
	free(t);
}

static void
test_redis_histogram_separate(void **state)
{
	char *t;
	int i;

	(void)state;
	for (i = 0; i < 100; i++)
		gw_metrics_redis_rtt(0.0002);
	gw_metrics_redis_rtt(3);
	t = render(&idle);
	assert_true(assert_histogram(
	                    t, "switchboard_redis_roundtrip_seconds") == 101);
	assert_true(sample(t, "switchboard_redis_roundtrip_seconds_bucket"
	                      "{le=\"0.0001\"}") == 0);
	assert_true(sample(t, "switchboard_redis_roundtrip_seconds_bucket"
	                      "{le=\"0.00025\"}") == 100);
	assert_true(sample(t, "switchboard_redis_roundtrip_seconds_bucket"
	                      "{le=\"2.5\"}") == 100);
	assert_true(sample(t, "switchboard_redis_roundtrip_seconds_bucket"
	                      "{le=\"5\"}") == 101);
	assert_true(assert_histogram(t, "switchboard_pg_roundtrip_seconds") ==
	            0);
	free(t);
}

static void
test_commit_batch_histogram(void **state)
{
	char *t;

	(void)state;
	gw_metrics_commit_batch(1);
	gw_metrics_commit_batch(3);
	gw_metrics_commit_batch(256);
	gw_metrics_commit_batch(1000);
	t = render(&idle);
	assert_true(assert_histogram(t, "switchboard_commit_batch_size") == 4);
	assert_true(sample(t, "switchboard_commit_batch_size_bucket"
	                      "{le=\"1\"}") == 1);
	assert_true(sample(t, "switchboard_commit_batch_size_bucket"
	                      "{le=\"2\"}") == 1);
	assert_true(sample(t, "switchboard_commit_batch_size_bucket"
	                      "{le=\"4\"}") == 2);
	assert_true(sample(t, "switchboard_commit_batch_size_bucket"
	                      "{le=\"256\"}") == 3);
	assert_true(sample(t, "switchboard_commit_batch_size_bucket"
	                      "{le=\"512\"}") == 3);
	assert_true(sample(t, "switchboard_commit_batch_size_sum") == 1260);
	free(t);
}

static void
test_messages_by_channel(void **state)
{
	char *t;

	(void)state;
	gw_metrics_message("chat", GW_DIR_IN);
	gw_metrics_message("chat", GW_DIR_IN);
	gw_metrics_message("email", GW_DIR_OUT);
	gw_metrics_message("visit", GW_DIR_IN);
	gw_metrics_message("fax", GW_DIR_IN);
	gw_metrics_message("Chat", GW_DIR_IN);
	gw_metrics_message("", GW_DIR_OUT);
	gw_metrics_message("chat", GW_DIR_MAX); /* ignored */
	t = render(&idle);
	assert_true(sample(t, "switchboard_messages_total{channel=\"chat\","
	                      "direction=\"in\"}") == 2);
	assert_true(sample(t, "switchboard_messages_total{channel=\"chat\","
	                      "direction=\"out\"}") == 0);
	assert_true(sample(t, "switchboard_messages_total{channel=\"email\","
	                      "direction=\"out\"}") == 1);
	assert_true(sample(t, "switchboard_messages_total{channel=\"visit\","
	                      "direction=\"in\"}") == 1);
	assert_true(sample(t, "switchboard_messages_total{channel=\"sms\","
	                      "direction=\"in\"}") == 0);
	assert_true(sample(t, "switchboard_messages_total{channel=\"voice\","
	                      "direction=\"out\"}") == 0);
	assert_true(sample(t, "switchboard_messages_total{channel=\"other\","
	                      "direction=\"in\"}") == 2);
	assert_true(sample(t, "switchboard_messages_total{channel=\"other\","
	                      "direction=\"out\"}") == 1);
	/* An unknown name never becomes a label value of its own. */
	assert_null(strstr(t, "fax"));
	assert_null(strstr(t, "channel=\"\""));
	free(t);
}

static void
test_connection_gauges_up_and_down(void **state)
{
	char *t;

	(void)state;
	gw_metrics_conn(GW_CONN_HTTP, 1);
	gw_metrics_conn(GW_CONN_HTTP, 1);
	gw_metrics_conn(GW_CONN_WS, 3);
	assert_int_equal(gw_metrics_conn_open(GW_CONN_HTTP), 2);
	assert_int_equal(gw_metrics_conn_open(GW_CONN_WS), 3);
	gw_metrics_conn(GW_CONN_HTTP, -1);
	gw_metrics_conn(GW_CONN_WS, -2);
	assert_int_equal(gw_metrics_conn_open(GW_CONN_HTTP), 1);
	assert_int_equal(gw_metrics_conn_open(GW_CONN_WS), 1);
	t = render(&idle);
	assert_true(sample(t, "switchboard_connections_open{kind=\"http\"}") ==
	            1);
	assert_true(sample(t, "switchboard_connections_open{kind="
	                      "\"websocket\"}") == 1);
	free(t);
	gw_metrics_conn(GW_CONN_HTTP, -1);
	gw_metrics_conn(GW_CONN_WS, -1);
	assert_int_equal(gw_metrics_conn_open(GW_CONN_HTTP), 0);
	assert_int_equal(gw_metrics_conn_open(GW_CONN_WS), 0);
	/* Out-of-range kinds are ignored. */
	gw_metrics_conn(GW_CONN_KIND_MAX, 7);
	assert_int_equal(gw_metrics_conn_open(GW_CONN_KIND_MAX), 0);
	assert_int_equal(gw_metrics_conn_open(GW_CONN_HTTP), 0);
}

static void
test_errors_by_kind(void **state)
{
	char *t;

	(void)state;
	gw_metrics_error(GW_ERR_REDIS);
	gw_metrics_error(GW_ERR_REDIS);
	gw_metrics_error(GW_ERR_COMMIT);
	gw_metrics_error(GW_ERR_KIND_MAX); /* ignored */
	t = render(&idle);
	assert_true(sample(t, "switchboard_errors_total{kind=\"redis\"}") == 2);
	assert_true(sample(t, "switchboard_errors_total{kind=\"commit\"}") ==
	            1);
	assert_true(
	        sample(t, "switchboard_errors_total{kind=\"postgresql\"}") ==
	        0);
	assert_true(sample(t, "switchboard_errors_total{kind=\"http\"}") == 0);
	assert_true(sample(t, "switchboard_errors_total{kind=\"websocket\"}") ==
	            0);
	free(t);
}

static void
test_state_gauges(void **state)
{
	struct gw_metrics_state st = {1, 0, 1, 42};
	char *t;

	(void)state;
	t = render(&st);
	assert_true(sample(t, "switchboard_up{dependency=\"postgresql\"}") ==
	            1);
	assert_true(sample(t, "switchboard_up{dependency=\"redis\"}") == 0);
	assert_true(sample(t, "switchboard_migrations_current") == 1);
	assert_true(sample(t, "switchboard_commit_queue") == 42);
	free(t);
	st.pg_up = 0;
	st.redis_up = 1;
	st.migrations_current = 0;
	st.commit_queue = 0;
	t = render(&st);
	assert_true(sample(t, "switchboard_up{dependency=\"postgresql\"}") ==
	            0);
	assert_true(sample(t, "switchboard_up{dependency=\"redis\"}") == 1);
	assert_true(sample(t, "switchboard_migrations_current") == 0);
	assert_true(sample(t, "switchboard_commit_queue") == 0);
	free(t);
}

static void
test_many_observations_stay_consistent(void **state)
{
	char *t;
	int i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		gw_metrics_pg_rtt((double)(i % 1000) / 10000.0);
		gw_metrics_commit_batch((unsigned)(i % 700));
	}
	t = render(&idle);
	assert_true(assert_histogram(t, "switchboard_pg_roundtrip_seconds") ==
	            100000);
	assert_true(assert_histogram(t, "switchboard_commit_batch_size") ==
	            100000);
	free(t);
}

/* A module's own family (gw_metrics_series): declared once, its series. */
static void
test_module_series(void **state)
{
	uint64_t *a, *b, *c;
	char *t;

	(void)state;
	a = gw_metrics_series("switchboard_test_total", "A test family.",
	                      "form=\"a\",result=\"ok\"");
	b = gw_metrics_series("switchboard_test_total", "ignored",
	                      "form=\"b\",result=\"ok\"");
	c = gw_metrics_series("switchboard_test_other_total", "Another.",
	                      "x=\"1\"");
	assert_ptr_equal(a, gw_metrics_series("switchboard_test_total", "",
	                                      "form=\"a\",result=\"ok\""));
	assert_ptr_not_equal(a, b);
	(*a) += 3;
	(*b)++;
	t = render(&idle);
	assert_family(t, "switchboard_test_total", "counter");
	assert_family(t, "switchboard_test_other_total", "counter");
	assert_null(strstr(t, "ignored"));
	assert_true(sample(t, "switchboard_test_total{form=\"a\","
	                      "result=\"ok\"}") == 3);
	assert_true(sample(t, "switchboard_test_total{form=\"b\","
	                      "result=\"ok\"}") == 1);
	assert_true(sample(t, "switchboard_test_other_total{x=\"1\"}") == 0);
	free(t);
	/* Reset zeroes them; the counters stay valid. */
	gw_metrics_reset();
	assert_int_equal(*a, 0);
	(*c)++;
	t = render(&idle);
	assert_true(sample(t, "switchboard_test_total{form=\"a\","
	                      "result=\"ok\"}") == 0);
	assert_true(sample(t, "switchboard_test_other_total{x=\"1\"}") == 1);
	free(t);
	/* "web" is a channel of its own. */
	gw_metrics_message("web", GW_DIR_IN);
	t = render(&idle);
	assert_true(sample(t, "switchboard_messages_total{channel=\"web\","
	                      "direction=\"in\"}") == 1);
	assert_true(sample(t, "switchboard_messages_total{channel=\"other\","
	                      "direction=\"in\"}") == 0);
	free(t);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_families_present),
	        T(test_samples_follow_their_type),
	        T(test_reset_zeroes),
	        T(test_pg_histogram_cumulative),
	        T(test_redis_histogram_separate),
	        T(test_commit_batch_histogram),
	        T(test_messages_by_channel),
	        T(test_connection_gauges_up_and_down),
	        T(test_errors_by_kind),
	        T(test_state_gauges),
	        T(test_many_observations_stay_consistent),
	        T(test_module_series),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
