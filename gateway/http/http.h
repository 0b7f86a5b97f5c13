/*
 * http.h: the public HTTP/WebSocket listener (libwebsockets on our libuv
 * loop): /healthz, /readyz, /metrics, static files of the widget and the
 * desk with security headers (http_static.h), public GET routes others
 * add, and the WebSocket endpoint /ws (subprotocol switchboard.v1) that the
 * chat and desk protocols attach to.
 * Loop thread only.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"

struct gw_http;

struct gw_http_hooks {
	/*
	 * Fills a JSON object describing readiness into buf; returns 1 when
	 * ready (HTTP 200) or 0 (HTTP 503).
	 */
	int (*ready)(void *arg, char *buf, size_t len);
	/* Returns a malloc'd Prometheus exposition. */
	char *(*metrics)(void *arg, size_t *len);
	void *arg;
};

/*
 * Creates the listener on loop. cfg must outlive it. Returns NULL with a
 * reason in err (e.g. port in use).
 */
struct gw_http *gw_http_new(uv_loop_t *loop, const struct gw_config *cfg,
                            const struct gw_http_hooks *hooks, char *err,
                            size_t errlen);
/*
 * What a protocol built on /ws (routing, chat, desk) is told. Connections
 * are named by id (never 0); a message handler gets messages whose type
 * the base protocol does not know, msg borrowed for the call.
 */
struct gw_ws_handler {
	void (*open)(void *arg, unsigned long conn, const char *cookie,
	             const char *peer);
	void (*message)(void *arg, unsigned long conn, const char *type,
	                json_t *msg);
	void (*close)(void *arg, unsigned long conn);
	void *arg;
	/*
	 * Optional: the socket's send queue has emptied after
	 * gw_http_ws_want_drained asked to be told (once per asking).
	 */
	void (*drained)(void *arg, unsigned long conn);
};

void gw_http_set_ws_handler(struct gw_http *h, const struct gw_ws_handler *hd);
/*
 * The handler of switchboard.chat.v1 sockets (residents' widgets): its
 * open gets an empty cookie always, and as peer the client's address (the
 * forwarded one when the peer is one of trusted_proxies).
 */
void gw_http_set_chat_handler(struct gw_http *h,
                              const struct gw_ws_handler *hd);

/*
 * Requests under /api/ go to this handler once their body (at most
 * limits.http_body_max, else 413) has arrived. It must answer each one,
 * now or later, with gw_http_respond. csrf_header: the request carried
 * X-Requested-With (which a cross-site form cannot send).
 */
struct gw_api_handler {
	void (*request)(void *arg, unsigned long conn, const char *method,
	                const char *path, const char *query, const char *body,
	                size_t len, const char *cookie, const char *peer,
	                const char *content_type, int csrf_header);
	void *arg;
};

void gw_http_set_api_handler(struct gw_http *h,
                             const struct gw_api_handler *hd);
/*
 * A public route: GET (and HEAD) of exactly path is answered with the
 * JSON fn returns (malloc'd, *len bytes; *status preset to 200, which fn
 * may change), with Cache-Control cache_control when 200 (no-store
 * otherwise) and Access-Control-Allow-Origin: * (no cookie is read: any
 * page may read it). path and cache_control must outlive h. At most 4.
 */
typedef char *(*gw_http_get_fn)(void *arg, int *status, size_t *len);
void gw_http_add_get(struct gw_http *h, const char *path,
                     const char *cache_control, gw_http_get_fn fn, void *arg);
/*
 * Answers an API request with a JSON body (copied) and an optional
 * Set-Cookie value. -1 when the request is gone (the client closed).
 */
int gw_http_respond(struct gw_http *h, unsigned long conn, int status,
                    const char *body, const char *set_cookie);
/* Queues msg (stolen) for conn; -1 when conn is gone or closing. */
int gw_http_ws_send(struct gw_http *h, unsigned long conn, json_t *msg);
/*
 * The same for a message already serialised (one JSON object, copied):
 * for one message sent to many sockets.
 */
int gw_http_ws_send_text(struct gw_http *h, unsigned long conn,
                         const char *text);
/*
 * How many more bytes conn may be sent now before it is over
 * limits.ws_send_queue (0 when gone or closing). A sender of much (a
 * replay) sends while this allows, then asks gw_http_ws_want_drained.
 */
size_t gw_http_ws_room(struct gw_http *h, unsigned long conn);
/* The handler's drained is called once conn's send queue has emptied. */
void gw_http_ws_want_drained(struct gw_http *h, unsigned long conn);
/* Closes conn with code and reason once its queue is written. */
void gw_http_ws_close(struct gw_http *h, unsigned long conn, int code,
                      const char *reason);
/* Stops accepting and closes every WebSocket with 1001 (going away). */
void gw_http_drain(struct gw_http *h);
/* Open WebSocket connections. */
unsigned gw_http_ws_count(const struct gw_http *h);
/* Re-reads the TLS certificate and key named in cfg (SIGHUP). */
int gw_http_reload_tls(struct gw_http *h, const struct gw_config *cfg);
/*
 * Destroys the lws context; on a foreign loop this finishes as the loop
 * runs on, and callbacks may still arrive: keep h until uv_run returns.
 */
void gw_http_close(struct gw_http *h);
/* Frees h (closing it first if needed); call after uv_run has returned. */
void gw_http_free(struct gw_http *h);

#endif
