/*
 * metrics.h: process counters and histograms, rendered in the Prometheus
 * text format at GET /metrics. Loop thread only (no locking).
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum gw_conn_kind {
	GW_CONN_HTTP = 0,
	GW_CONN_WS,
	GW_CONN_KIND_MAX,
};

enum gw_error_kind {
	GW_ERR_PG = 0,
	GW_ERR_REDIS,
	GW_ERR_HTTP,
	GW_ERR_WS,
	GW_ERR_COMMIT,
	GW_ERR_KIND_MAX,
};

enum gw_direction {
	GW_DIR_IN = 0,
	GW_DIR_OUT,
	GW_DIR_MAX,
};

/*
 * Refusals of the limits on hostile clients: sign-ins throttled or slowed
 * (session.c), WebSockets closed for what they sent or would not read
 * (http.c), and the chat's requests that may queue mail to an address a
 * resident typed (channels/chat). Rendered as
 * switchboard_logins_throttled_total{limit},
 * switchboard_logins_delayed_total,
 * switchboard_websockets_refused_total{reason} and
 * switchboard_chat_refused_total{limit}.
 */
enum gw_refusal {
	GW_REFUSAL_LOGIN_ADDRESS = 0, /* this login, from this address */
	GW_REFUSAL_ADDRESS,           /* this address, any login */
	GW_REFUSAL_LOGIN_DELAYED,     /* a login under attack, slowed */
	GW_REFUSAL_WS_PROTOCOL,       /* a frame RFC 6455 forbids: 1002 */
	GW_REFUSAL_WS_TOO_BIG,        /* a message over ws_message_max: 1009 */
	GW_REFUSAL_WS_SEND_QUEUE,     /* does not read its messages: 1008 */
	GW_REFUSAL_WS_RATE,           /* went on over the rate limit: 1008 */
	GW_REFUSAL_CHAT_SOCKET,       /* chat.requests_per_socket */
	GW_REFUSAL_CHAT_CLIENT,       /* chat.requests_per_client */
	GW_REFUSAL_CHAT_DESTINATION,  /* chat.requests_per_destination */
	GW_REFUSAL_MAX,
};

/*
 * The conversation bus's events (gateway/core/bus.c), rendered as
 * switchboard_bus_events_total{what}.
 */
enum gw_bus_count {
	GW_BUS_PUBLISHED = 0, /* events published */
	GW_BUS_DELIVERED,     /* sent to a desk socket */
	GW_BUS_REPEAT,        /* dropped: the desk had that message */
	GW_BUS_FAILED,        /* publications Redis did not take */
	GW_BUS_REFUSED,       /* history reads refused: too much held */
	GW_BUS_COUNT_MAX,
};

/* Readiness facts the renderer reports as gauges. */
struct gw_metrics_state {
	int pg_up;
	int redis_up;
	int migrations_current;
	size_t commit_queue;
};

void gw_metrics_conn(enum gw_conn_kind kind, int delta);
/*
 * channel: "chat", "email", "sms", "voice", "visit" or "web"; others are
 * "other".
 */
void gw_metrics_message(const char *channel, enum gw_direction dir);
void gw_metrics_pg_rtt(double seconds);
void gw_metrics_redis_rtt(double seconds);
void gw_metrics_commit_batch(unsigned writes);
void gw_metrics_error(enum gw_error_kind kind);
void gw_metrics_refusal(enum gw_refusal what);
void gw_metrics_bus(enum gw_bus_count what);
/*
 * A counter of a family a module declares itself (a channel's own, such as
 * switchboard_form_submissions_total{form,result}), so this file names no
 * channel. name and help: static strings, help given by the first call of
 * a name; labels: the series' label text ("form=\"x\",result=\"y\"",
 * copied), whose values the caller has checked to need no escaping. Made
 * on the first call for (name, labels), the same counter after. Returns
 * the counter to increment, valid for the process's life (set to 0 by
 * gw_metrics_reset). Past GW_METRICS_SERIES_MAX series, a counter that is
 * never rendered.
 */
#define GW_METRICS_SERIES_MAX 2048
uint64_t *gw_metrics_series(const char *name, const char *help,
                            const char *labels);
/* Current gauge for open connections of a kind (for tests and drain). */
long gw_metrics_conn_open(enum gw_conn_kind kind);
/* Returns a malloc'd Prometheus text exposition owned by the caller. */
char *gw_metrics_render(const struct gw_metrics_state *st, size_t *len);
/* Zeroes everything (tests). */
void gw_metrics_reset(void);

#endif
