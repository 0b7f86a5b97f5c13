/*
 * bench_ingest.c: inbound messages per second through ingest
 * (gateway/core/ingest.c) on one group-commit writer, as a channel would
 * submit them. For each concurrency level C, C simulated senders each keep
 * one ingest_submit in flight: submit, wait for the post-COMMIT callback,
 * submit the next. Two kinds of run:
 *
 *   new       every message from a new sender (a new phone number): a new
 *             customer and identity, a new conversation in the queue, the
 *             message, a conversation.new event, then route_enqueue;
 *   existing  every message into one of the conversations the new run
 *             opened, given by id (as a chat socket knows it).
 *
 * Reports ingests/s, latency from submit to callback (p50, p99), the
 * transactions (so the mean batch), how many conversations the router was
 * handed, and the CPU this process and PostgreSQL used (percent of one
 * core). A benchmark: it reports, it does not
 * pass or fail.
 *
 *   bench_ingest --conninfo STR --redis-port N --queue SLUG [--seconds N]
 *                [--concurrency 1,32,256] [--batch-max N] [--kind new,existing]
 *                [--pg-pid POSTMASTER]   (then PostgreSQL's CPU is reported)
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "bench_common.h"
#include "db.h"
#include "db_commit.h"
#include "ingest.h"
#include "kv.h"
#include "log.h"
#include "route.h"
#include "xmalloc.h"

#define CONV_MAX 200000

struct bench {
	uv_loop_t loop;
	struct db *db, *wdb;
	struct db_commit *w;
	struct kv *kv, *sub;
	struct route *r;
	struct ingest *in;
	const char *queue;
	int existing; /* the kind of run */
	uint64_t deadline_ns, started_ns;
	unsigned long done, failed, seq, routed;
	unsigned inflight;
	struct bc_samples lat_ms;
	uint64_t *convs; /* conversations opened by the new runs */
	size_t nconvs;
	unsigned run_id;
	int pg_pid; /* the postmaster, or 0: PostgreSQL's CPU not measured */
};

struct sender {
	struct bench *b;
	uint64_t t0;
};

static void submit(struct sender *s);

static void
on_result(void *arg, const struct ingest_result *res)
{
	struct sender *s = arg;
	struct bench *b = s->b;
	uint64_t now = uv_hrtime();

	b->inflight--;
	if (res->status == INGEST_OK) {
		b->done++;
		b->routed += res->routed != 0;
		bc_sample_add(&b->lat_ms, (double)(now - s->t0) / 1e6);
		if (res->opened == INGEST_NEW && b->nconvs < CONV_MAX)
			b->convs[b->nconvs++] = res->conversation;
	} else {
		b->failed++;
		if (b->failed < 5)
			fprintf(stderr, "bench_ingest: %s: %s\n", res->code,
			        res->why);
	}
	if (now < b->deadline_ns)
		submit(s);
}

static void
submit(struct sender *s)
{
	struct bench *b = s->b;
	struct identity id;
	struct ingest_msg m;
	char ext[64], phone[24];
	const char *why = NULL;

	b->seq++;
	snprintf(ext, sizeof(ext), "%u-%d-%lu", b->run_id, (int)getpid(),
	         b->seq);
	memset(&m, 0, sizeof(m));
	m.channel = "sms";
	m.source = "bench";
	m.external_id = ext;
	m.body = "benchmark message body of typical length for an SMS";
	m.metadata = "{\"provider\":\"bench\"}";
	if (b->existing && b->nconvs > 0) {
		m.conversation = b->convs[b->seq % b->nconvs];
	} else {
		/* A new sender each time (never dialled: 07700 900xxx,
		 * the drama range, has only a thousand numbers). */
		snprintf(phone, sizeof(phone), "+447%09lu",
		         (unsigned long)(b->run_id * 10000000UL + b->seq) %
		                 1000000000UL);
		id.kind = IDENTITY_PHONE;
		snprintf(id.value, sizeof(id.value), "%s", phone);
		m.ids = &id;
		m.nids = 1;
		m.name = "Benchmark Sender";
		m.queue = b->queue;
		m.subject = "SMS";
	}
	s->t0 = uv_hrtime();
	if (ingest_submit(b->in, &m, on_result, s, &why) != INGEST_OK) {
		fprintf(stderr, "bench_ingest: submit refused: %s\n", why);
		b->failed++;
		return;
	}
	b->inflight++;
}

static double
cpu_s(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
	       (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

/* utime + stime of a process (ticks), its parent in *ppid; 0 if gone. */
static unsigned long long
proc_ticks(int pid, int *ppid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	size_t n;
	FILE *f;

	*ppid = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After "pid (comm) ": state ppid ... utime(14) stime(15). */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
	           "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", ppid,
	           &ut, &st) != 3)
		return 0;
	return ut + st;
}

/* CPU seconds of the postmaster and its children (backends come and go,
 * but the bench's own connections last the whole run). */
static double
pg_cpu_s(int pm)
{
	unsigned long long total = 0;
	struct dirent *e;
	int ppid;
	DIR *d;

	if (pm <= 0 || (d = opendir("/proc")) == NULL)
		return 0;
	total += proc_ticks(pm, &ppid);
	while ((e = readdir(d)) != NULL) {
		int pid = (int)strtol(e->d_name, NULL, 10);
		unsigned long long t;

		if (pid <= 0 || pid == pm)
			continue;
		t = proc_ticks(pid, &ppid);
		if (ppid == pm)
			total += t;
	}
	closedir(d);
	return (double)total / (double)sysconf(_SC_CLK_TCK);
}

static void
check_done(uv_timer_t *t)
{
	struct bench *b = t->data;

	if (b->inflight == 0 && uv_hrtime() >= b->deadline_ns)
		uv_stop(&b->loop);
}

static int
run_level(struct bench *b, int existing, unsigned concurrency, double seconds)
{
	struct sender *senders = xcalloc(concurrency, sizeof(*senders));
	unsigned long tx0 = db_commit_transactions(b->w);
	double elapsed, tx, cpu0 = cpu_s(), pg0 = pg_cpu_s(b->pg_pid);
	uv_timer_t t;
	unsigned i;

	b->existing = existing;
	b->done = b->failed = b->routed = 0;
	b->lat_ms.n = 0;
	b->run_id++;
	b->started_ns = uv_hrtime();
	b->deadline_ns = b->started_ns + (uint64_t)(seconds * 1e9);
	for (i = 0; i < concurrency; i++) {
		senders[i].b = b;
		submit(&senders[i]);
	}
	uv_timer_init(&b->loop, &t);
	t.data = b;
	uv_timer_start(&t, check_done, 10, 10);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&b->loop, UV_RUN_NOWAIT);
	elapsed = (double)(uv_hrtime() - b->started_ns) / 1e9;
	tx = (double)(db_commit_transactions(b->w) - tx0);
	printf("ingest kind=%s concurrency=%u ingests=%lu failed=%lu "
	       "seconds=%.2f ingests_per_s=%.0f p50_ms=%.2f p99_ms=%.2f "
	       "p999_ms=%.2f transactions=%.0f mean_batch=%.1f routed=%lu "
	       "bench_cpu_pct=%.0f pg_cpu_pct=%.0f\n",
	       existing ? "existing" : "new", concurrency, b->done, b->failed,
	       elapsed, (double)b->done / elapsed, bc_quantile(&b->lat_ms, 0.5),
	       bc_quantile(&b->lat_ms, 0.99), bc_quantile(&b->lat_ms, 0.999),
	       tx, tx > 0 ? (double)b->done / tx : 0, b->routed,
	       100.0 * (cpu_s() - cpu0) / elapsed,
	       100.0 * (pg_cpu_s(b->pg_pid) - pg0) / elapsed);
	fflush(stdout);
	free(senders);
	return b->failed == 0 ? 0 : 1;
}

static void
on_kv(void *arg, int up)
{
	struct bench *b = arg;

	route_kv_state(b->r, up);
}

static void
until_ready(uv_timer_t *t)
{
	struct bench *b = t->data;

	if ((db_ready(b->wdb) && db_ready(b->db) && route_ready(b->r)) ||
	    uv_hrtime() > b->deadline_ns)
		uv_stop(&b->loop);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_ingest --conninfo STR --redis-port N "
	                "--queue SLUG [--seconds N] [--concurrency 1,32,256] "
	                "[--batch-max N] [--kind new,existing] "
	                "[--pg-pid POSTMASTER]\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"conninfo", required_argument, NULL, 'c'},
	        {"redis-port", required_argument, NULL, 'r'},
	        {"queue", required_argument, NULL, 'q'},
	        {"seconds", required_argument, NULL, 's'},
	        {"concurrency", required_argument, NULL, 'n'},
	        {"batch-max", required_argument, NULL, 'b'},
	        {"kind", required_argument, NULL, 'k'},
	        {"pg-pid", required_argument, NULL, 'p'},
	        {NULL, 0, NULL, 0},
	};
	const char *conninfo = NULL, *levels = "1,32,256",
	           *kinds = "new,existing";
	struct db_options o;
	struct kv_options k;
	struct route_options ro;
	struct bench b;
	double seconds = 10;
	unsigned batch_max = 256;
	int redis_port = 0;
	char *list, *tok, *save = NULL;
	uv_timer_t t;
	int ch, rc = 0, pass;

	memset(&b, 0, sizeof(b));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conninfo = optarg;
			break;
		case 'r':
			redis_port = (int)strtol(optarg, NULL, 10);
			break;
		case 'q':
			b.queue = optarg;
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
		case 'k':
			kinds = optarg;
			break;
		case 'p':
			b.pg_pid = (int)strtol(optarg, NULL, 10);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (conninfo == NULL || b.queue == NULL || redis_port <= 0 ||
	    seconds <= 0) {
		usage();
		return 2;
	}
	gw_log_set_level(GW_LOG_ERROR);
	b.convs = xcalloc(CONV_MAX, sizeof(*b.convs));
	uv_loop_init(&b.loop);
	memset(&o, 0, sizeof(o));
	o.conninfo = conninfo;
	o.connect_timeout_ms = 5000;
	o.query_timeout_ms = 30000;
	b.db = db_new(&b.loop, &o);
	/* As the daemon's writers run (server.c). */
	o.session_sql = "SELECT set_config('plan_cache_mode',"
	                " 'force_generic_plan', false),"
	                " set_config('enable_seqscan', 'off', false)";
	b.wdb = db_new(&b.loop, &o);
	b.w = db_commit_new(&b.loop, b.wdb, batch_max, 0);
	memset(&k, 0, sizeof(k));
	k.address = "127.0.0.1";
	k.port = redis_port;
	k.timeout_ms = 5000;
	k.ping_interval_ms = 1000;
	b.kv = kv_new(&b.loop, &k);
	k.ping_interval_ms = 0;
	b.sub = kv_new(&b.loop, &k);
	memset(&ro, 0, sizeof(ro));
	ro.instance = "bench-ingest";
	ro.grace_ms = 30000;
	ro.sweep_ms = 1000;
	ro.presence_ms = 5000;
	b.r = route_new(&b.loop, b.kv, b.sub, b.db, &b.w, 1, &ro);
	kv_set_state_cb(b.kv, on_kv, &b);
	b.in = ingest_new(&b.loop, b.w, b.r);
	db_start(b.db);
	db_start(b.wdb);
	kv_start(b.kv);
	kv_start(b.sub);
	b.deadline_ns = uv_hrtime() + 15000000000ULL;
	uv_timer_init(&b.loop, &t);
	t.data = &b;
	uv_timer_start(&t, until_ready, 10, 10);
	uv_run(&b.loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	if (!db_ready(b.wdb) || !route_ready(b.r)) {
		fprintf(stderr, "bench_ingest: not ready: %s; %s\n",
		        db_status(b.wdb), route_status(b.r));
		rc = 1;
		goto out;
	}
	/* Every new level first, so the existing runs have conversations. */
	for (pass = 0; pass < 2; pass++) {
		if (strstr(kinds, pass ? "existing" : "new") == NULL)
			continue;
		if (pass == 1 && b.nconvs == 0) {
			fprintf(stderr, "bench_ingest: the existing runs need "
			                "the conversations of new runs\n");
			rc = 1;
			break;
		}
		list = xstrdup(levels);
		for (tok = strtok_r(list, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save))
			rc |= run_level(&b, pass,
			                (unsigned)strtoul(tok, NULL, 10),
			                seconds);
		free(list);
	}
out:
	ingest_free(b.in);
	kv_close(b.kv, NULL, NULL);
	kv_close(b.sub, NULL, NULL);
	route_kv_state(b.r, 0);
	db_close(b.db, NULL, NULL);
	db_close(b.wdb, NULL, NULL);
	route_free(b.r);
	db_commit_free(b.w);
	uv_run(&b.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&b.loop) != 0) {
		fprintf(stderr, "bench_ingest: loop not closed\n");
		rc = 1;
	}
	bc_samples_free(&b.lat_ms);
	free(b.convs);
	return rc;
}
