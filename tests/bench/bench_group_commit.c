/*
 * bench_group_commit.c: durable single-message writes through the
 * group-commit writer. For each concurrency level C, C simulated callers
 * each keep one INSERT into messages in flight: submit, wait for the
 * post-COMMIT callback, submit the next. Reports writes/s, latency from
 * submit to callback, and transactions (so the mean batch size).
 * A benchmark: it reports, it does not pass or fail.
 *
 *   bench_group_commit --conninfo STR --conversation ID [--seconds N]
 *                      [--concurrency 1,32,256] [--batch-max N]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "db.h"
#include "db_commit.h"
#include "log.h"
#include "xmalloc.h"

#define INSERT_MESSAGE                                                         \
	"INSERT INTO messages (conversation_id, direction, author_kind, "      \
	"body, source, external_id) VALUES ($1, 'in', 'customer', "            \
	"'benchmark message body of typical length for a chat line', "         \
	"'bench', $2)"

struct bench {
	uv_loop_t loop;
	struct db *db;
	struct db_commit *w;
	const char *conversation;
	unsigned concurrency;
	uint64_t deadline_ns, started_ns;
	unsigned long done, failed, seq;
	unsigned inflight;
	double *lat_ms;
	size_t nlat, caplat;
	unsigned run_id;
	int stopping;
};

struct caller {
	struct bench *b;
	uint64_t t0;
};

static void submit(struct caller *c);

static void
on_commit(void *arg, int ok, const PGresult *res, const char *err)
{
	struct caller *c = arg;
	struct bench *b = c->b;
	uint64_t now = uv_hrtime();

	(void)res;
	b->inflight--;
	if (ok) {
		b->done++;
		if (b->nlat == b->caplat) {
			b->caplat = b->caplat ? b->caplat * 2 : 65536;
			b->lat_ms =
			        xrealloc(b->lat_ms, b->caplat * sizeof(double));
		}
		b->lat_ms[b->nlat++] = (double)(now - c->t0) / 1e6;
	} else {
		b->failed++;
		if (b->failed < 5)
			fprintf(stderr, "bench: write failed: %s\n", err);
	}
	if (now < b->deadline_ns && !b->stopping)
		submit(c);
}

static void
submit(struct caller *c)
{
	struct bench *b = c->b;
	char ext[64];
	const char *params[2];
	const char *reason = NULL;

	snprintf(ext, sizeof(ext), "bench-%u-%d-%lu", b->run_id, (int)getpid(),
	         ++b->seq);
	params[0] = b->conversation;
	params[1] = ext;
	c->t0 = uv_hrtime();
	if (db_commit_submit(b->w, INSERT_MESSAGE, 2, params, on_commit, c,
	                     &reason) != 0) {
		fprintf(stderr, "bench: submit refused: %s\n", reason);
		b->failed++;
		return;
	}
	b->inflight++;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i];
}

static void
idle_until_ready(uv_timer_t *t)
{
	struct bench *b = t->data;

	if (db_ready(b->db))
		uv_stop(&b->loop);
}

static void
check_done(uv_timer_t *t)
{
	struct bench *b = t->data;

	if (b->inflight == 0 && uv_hrtime() >= b->deadline_ns)
		uv_stop(&b->loop);
}

static int
run_level(struct bench *b, unsigned concurrency, double seconds)
{
	struct caller *callers = xcalloc(concurrency, sizeof(*callers));
	unsigned long tx0 = db_commit_transactions(b->w);
	uv_timer_t t;
	double elapsed, tps;
	unsigned i;

	b->concurrency = concurrency;
	b->done = b->failed = 0;
	b->nlat = 0;
	b->run_id++;
	b->started_ns = uv_hrtime();
	b->deadline_ns = b->started_ns + (uint64_t)(seconds * 1e9);
	for (i = 0; i < concurrency; i++) {
		callers[i].b = b;
		submit(&callers[i]);
	}
	uv_timer_init(&b->loop, &t);
	t.data = b;
	uv_timer_start(&t, check_done, 10, 10);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&b->loop, UV_RUN_NOWAIT);
	elapsed = (double)(uv_hrtime() - b->started_ns) / 1e9;
	qsort(b->lat_ms, b->nlat, sizeof(double), cmp_double);
	tps = (double)(db_commit_transactions(b->w) - tx0);
	printf("group_commit concurrency=%u writes=%lu failed=%lu "
	       "seconds=%.2f writes_per_s=%.0f p50_ms=%.2f p99_ms=%.2f "
	       "p999_ms=%.2f transactions=%.0f mean_batch=%.1f\n",
	       concurrency, b->done, b->failed, elapsed,
	       (double)b->done / elapsed, pct(b->lat_ms, b->nlat, 50),
	       pct(b->lat_ms, b->nlat, 99), pct(b->lat_ms, b->nlat, 99.9), tps,
	       tps > 0 ? (double)b->done / tps : 0);
	fflush(stdout);
	free(callers);
	return b->failed == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"conninfo", required_argument, NULL, 'c'},
	        {"conversation", required_argument, NULL, 'v'},
	        {"seconds", required_argument, NULL, 's'},
	        {"concurrency", required_argument, NULL, 'n'},
	        {"batch-max", required_argument, NULL, 'b'},
	        {NULL, 0, NULL, 0},
	};
	const char *conninfo = NULL, *levels = "1,32,256";
	struct db_options o;
	struct bench b;
	double seconds = 10;
	unsigned batch_max = 256;
	char *list, *tok, *save = NULL;
	uv_timer_t t;
	int ch, rc = 0;

	memset(&b, 0, sizeof(b));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conninfo = optarg;
			break;
		case 'v':
			b.conversation = optarg;
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'n':
			levels = optarg;
			break;
		case 'b':
			batch_max = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: bench_group_commit --conninfo "
			                "STR --conversation ID [--seconds N] "
			                "[--concurrency 1,32,256] "
			                "[--batch-max N]\n");
			return 2;
		}
	}
	if (conninfo == NULL || b.conversation == NULL || seconds <= 0) {
		fprintf(stderr, "bench_group_commit: --conninfo and "
		                "--conversation are required\n");
		return 2;
	}
	gw_log_set_level(GW_LOG_WARNING);
	uv_loop_init(&b.loop);
	memset(&o, 0, sizeof(o));
	o.conninfo = conninfo;
	o.connect_timeout_ms = 5000;
	o.query_timeout_ms = 30000;
	b.db = db_new(&b.loop, &o);
	b.w = db_commit_new(&b.loop, b.db, batch_max, 0);
	db_start(b.db);
	uv_timer_init(&b.loop, &t);
	t.data = &b;
	uv_timer_start(&t, idle_until_ready, 10, 10);
	uv_run(&b.loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	if (!db_ready(b.db)) {
		fprintf(stderr, "bench_group_commit: %s\n", db_status(b.db));
		rc = 1;
		goto out;
	}
	list = xstrdup(levels);
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save))
		rc |= run_level(&b, (unsigned)strtoul(tok, NULL, 10), seconds);
	free(list);
out:
	db_close(b.db, NULL, NULL);
	db_commit_free(b.w);
	uv_run(&b.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&b.loop) != 0) {
		fprintf(stderr, "bench_group_commit: loop not closed\n");
		rc = 1;
	}
	free(b.lat_ms);
	return rc;
}
