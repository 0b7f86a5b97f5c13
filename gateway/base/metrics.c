/*
 * metrics.c: fixed metric set with cumulative histograms. Loop thread only.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "xmalloc.h"

static const double seconds_bounds[] = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

#define HIST_MAX 16

struct hist {
	const double *bounds;
	unsigned nbounds;
	uint64_t counts[HIST_MAX + 1];
	double sum;
	uint64_t count;
};

static const char *const channels[] = {"chat",  "email", "sms",  "voice",
                                       "visit", "web",   "other"};
#define NCHANNELS (sizeof(channels) / sizeof(channels[0]))

static const char *const conn_kinds[] = {"http", "websocket"};
static const char *const err_kinds[] = {"postgresql", "redis", "http",
                                        "websocket", "commit"};

/* Each refusal: its metric and, if any, its label. */
static const struct {
	const char *metric, *label, *help;
} refusals[GW_REFUSAL_MAX] = {
        {"switchboard_logins_throttled_total", "limit=\"login_address\"",
         "Sign-ins refused unchecked: too many failures from the client "
         "address."},
        {"switchboard_logins_throttled_total", "limit=\"address\"", NULL},
        {"switchboard_logins_delayed_total", NULL,
         "Sign-ins slowed: too many failures of their login."},
        {"switchboard_websockets_refused_total", "reason=\"protocol\"",
         "WebSockets closed for what they sent or would not read."},
        {"switchboard_websockets_refused_total", "reason=\"too_big\"", NULL},
        {"switchboard_websockets_refused_total", "reason=\"send_queue\"", NULL},
        {"switchboard_websockets_refused_total", "reason=\"rate_limit\"", NULL},
        {"switchboard_chat_refused_total", "limit=\"socket\"",
         "Leave-a-message and transcript requests refused, by the limit "
         "that refused them."},
        {"switchboard_chat_refused_total", "limit=\"client\"", NULL},
        {"switchboard_chat_refused_total", "limit=\"destination\"", NULL},
};

static const char *const bus_counts[GW_BUS_COUNT_MAX] = {
        "published", "delivered", "repeat", "failed", "refused"};

/* The modules' own series (gw_metrics_series), in the order made. */
struct series {
	const char *name, *help;
	char *labels;
	uint64_t value;
};
static struct series series[GW_METRICS_SERIES_MAX];
static size_t nseries;
static uint64_t series_spill; /* past the maximum: counted nowhere */

static struct {
	long conns[GW_CONN_KIND_MAX];
	uint64_t refusals[GW_REFUSAL_MAX];
	uint64_t bus[GW_BUS_COUNT_MAX];
	uint64_t messages[NCHANNELS][GW_DIR_MAX];
	uint64_t errors[GW_ERR_KIND_MAX];
	struct hist pg, redis, batch;
} m;

static void
hist_init(struct hist *h, const double *bounds, unsigned n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = n;
}

static void
ensure_init(void)
{
	if (m.pg.bounds == NULL) {
		hist_init(&m.pg, seconds_bounds, nitems(seconds_bounds));
		hist_init(&m.redis, seconds_bounds, nitems(seconds_bounds));
		hist_init(&m.batch, batch_bounds, nitems(batch_bounds));
	}
}

static void
hist_observe(struct hist *h, double v)
{
	unsigned i;

	ensure_init();
	if (isnan(v))
		return;
	for (i = 0; i < h->nbounds && v > h->bounds[i]; i++)
		;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

void
gw_metrics_reset(void)
{
	size_t i;

	for (i = 0; i < nseries; i++)
		series[i].value = 0;
	memset(&m, 0, sizeof(m));
	ensure_init();
}

void
gw_metrics_conn(enum gw_conn_kind kind, int delta)
{
	if (kind < GW_CONN_KIND_MAX)
		m.conns[kind] += delta;
}

long
gw_metrics_conn_open(enum gw_conn_kind kind)
{
	return kind < GW_CONN_KIND_MAX ? m.conns[kind] : 0;
}

void
gw_metrics_message(const char *channel, enum gw_direction dir)
{
	unsigned i;

	for (i = 0; channel != NULL && i < NCHANNELS - 1; i++)
		if (strcmp(channel, channels[i]) == 0)
			break;
	if (channel == NULL)
		i = NCHANNELS - 1;
	if (dir < GW_DIR_MAX)
		m.messages[i][dir]++;
}

void
gw_metrics_pg_rtt(double s)
{
	hist_observe(&m.pg, s);
}

void
gw_metrics_redis_rtt(double s)
{
	hist_observe(&m.redis, s);
}

void
gw_metrics_commit_batch(unsigned n)
{
	hist_observe(&m.batch, (double)n);
}

void
gw_metrics_error(enum gw_error_kind kind)
{
	if (kind < GW_ERR_KIND_MAX)
		m.errors[kind]++;
}

void
gw_metrics_refusal(enum gw_refusal what)
{
	if (what < GW_REFUSAL_MAX)
		m.refusals[what]++;
}

void
gw_metrics_bus(enum gw_bus_count what)
{
	if (what < GW_BUS_COUNT_MAX)
		m.bus[what]++;
}

uint64_t *
gw_metrics_series(const char *name, const char *help, const char *labels)
{
	size_t i;

	for (i = 0; i < nseries; i++)
		if (strcmp(series[i].name, name) == 0 &&
		    strcmp(series[i].labels, labels) == 0)
			return &series[i].value;
	if (nseries == GW_METRICS_SERIES_MAX)
		return &series_spill;
	series[nseries].name = name;
	series[nseries].help = help;
	series[nseries].labels = xstrdup(labels);
	return &series[nseries++].value;
}

struct buf {
	char *p;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
bput(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap *= 2;
		b->p = xrealloc(b->p, b->cap);
	}
}

static void
hist_render(struct buf *b, const char *name, const char *help,
            const struct hist *h)
{
	uint64_t cum = 0;
	unsigned i;

	bput(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < h->nbounds; i++) {
		cum += h->counts[i];
		bput(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
		     (unsigned long long)cum);
	}
	cum += h->counts[h->nbounds];
	bput(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	bput(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name,
	     (unsigned long long)h->count);
}

/* Each family once, its HELP from its first series, then every series. */
static void
series_render(struct buf *b)
{
	size_t i, j, k;

	for (i = 0; i < nseries; i++) {
		for (k = 0; k < i; k++)
			if (strcmp(series[k].name, series[i].name) == 0)
				break;
		if (k < i)
			continue;
		bput(b, "# HELP %s %s\n# TYPE %s counter\n", series[i].name,
		     series[i].help, series[i].name);
		for (j = i; j < nseries; j++)
			if (strcmp(series[j].name, series[i].name) == 0)
				bput(b, "%s{%s} %llu\n", series[j].name,
				     series[j].labels,
				     (unsigned long long)series[j].value);
	}
}

char *
gw_metrics_render(const struct gw_metrics_state *st, size_t *len)
{
	struct buf b = {xmalloc(8192), 0, 8192};
	unsigned i, d;

	ensure_init();
	bput(&b,
	     "# HELP switchboard_build_info Version of this daemon.\n"
	     "# TYPE switchboard_build_info gauge\n"
	     "switchboard_build_info{version=\"%s\"} 1\n",
	     SWITCHBOARD_VERSION);
	bput(&b, "# HELP switchboard_connections_open Open client "
	         "connections by kind.\n"
	         "# TYPE switchboard_connections_open gauge\n");
	for (i = 0; i < GW_CONN_KIND_MAX; i++)
		bput(&b, "switchboard_connections_open{kind=\"%s\"} %ld\n",
		     conn_kinds[i], m.conns[i]);
	bput(&b, "# HELP switchboard_messages_total Messages by channel "
	         "and direction.\n"
	         "# TYPE switchboard_messages_total counter\n");
	for (i = 0; i < NCHANNELS; i++)
		for (d = 0; d < GW_DIR_MAX; d++)
			bput(&b,
			     "switchboard_messages_total{channel=\"%s\","
			     "direction=\"%s\"} %llu\n",
			     channels[i], d == GW_DIR_IN ? "in" : "out",
			     (unsigned long long)m.messages[i][d]);
	bput(&b, "# HELP switchboard_errors_total Errors by subsystem.\n"
	         "# TYPE switchboard_errors_total counter\n");
	for (i = 0; i < GW_ERR_KIND_MAX; i++)
		bput(&b, "switchboard_errors_total{kind=\"%s\"} %llu\n",
		     err_kinds[i], (unsigned long long)m.errors[i]);
	for (i = 0; i < GW_REFUSAL_MAX; i++) {
		if (refusals[i].help != NULL)
			bput(&b, "# HELP %s %s\n# TYPE %s counter\n",
			     refusals[i].metric, refusals[i].help,
			     refusals[i].metric);
		bput(&b, "%s%s%s%s %llu\n", refusals[i].metric,
		     refusals[i].label ? "{" : "",
		     refusals[i].label ? refusals[i].label : "",
		     refusals[i].label ? "}" : "",
		     (unsigned long long)m.refusals[i]);
	}
	bput(&b,
	     "# HELP switchboard_bus_events_total Conversation bus events.\n"
	     "# TYPE switchboard_bus_events_total counter\n");
	for (i = 0; i < GW_BUS_COUNT_MAX; i++)
		bput(&b, "switchboard_bus_events_total{what=\"%s\"} %llu\n",
		     bus_counts[i], (unsigned long long)m.bus[i]);
	series_render(&b);
	hist_render(&b, "switchboard_pg_roundtrip_seconds",
	            "PostgreSQL request round trips.", &m.pg);
	hist_render(&b, "switchboard_redis_roundtrip_seconds",
	            "Redis command round trips.", &m.redis);
	hist_render(&b, "switchboard_commit_batch_size",
	            "Writes per group-commit transaction.", &m.batch);
	bput(&b,
	     "# HELP switchboard_up Dependency reachable (1) or not (0).\n"
	     "# TYPE switchboard_up gauge\n"
	     "switchboard_up{dependency=\"postgresql\"} %d\n"
	     "switchboard_up{dependency=\"redis\"} %d\n"
	     "# HELP switchboard_migrations_current Schema is at this "
	     "binary's version.\n"
	     "# TYPE switchboard_migrations_current gauge\n"
	     "switchboard_migrations_current %d\n"
	     "# HELP switchboard_commit_queue Writes waiting for the "
	     "group-commit writer.\n"
	     "# TYPE switchboard_commit_queue gauge\n"
	     "switchboard_commit_queue %zu\n",
	     st->pg_up, st->redis_up, st->migrations_current, st->commit_queue);
	*len = b.len;
	return b.p;
}
