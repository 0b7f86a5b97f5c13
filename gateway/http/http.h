/*
 * http.h: the public HTTP/WebSocket listener (libwebsockets on our libuv
 * loop). It knows no route and no protocol of its own: every HTTP path
 * (the REST API, a channel's webhooks, the probes, the static files) is a
 * route some module registers, and every WebSocket subprotocol on /ws is
 * registered the same way, with its own rules. docs/http-api.md has what
 * clients see; docs/architecture.md ("Adding a channel") how a channel
 * mounts its paths.
 *
 * Life: gw_http_new, then the modules register routes and subprotocols,
 * then gw_http_start listens. Handlers are never called once gw_http_drain
 * or gw_http_close has been called (every request is then answered 503),
 * so their owners may go after that; a subprotocol's handler is called
 * until gw_http_ws_unregister (its sockets close during the drain).
 * Loop thread only.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"

struct gw_http;

/*
 * Creates the server on loop; it listens only from gw_http_start. cfg
 * must outlive it. Never NULL.
 */
struct gw_http *gw_http_new(uv_loop_t *loop, const struct gw_config *cfg);
/*
 * Listens on cfg's address and port with the routes and subprotocols
 * registered so far (none may be added after). 0, or -1 with a reason in
 * err (port in use, bad TLS certificate or key).
 */
int gw_http_start(struct gw_http *h, char *err, size_t errlen);

/* ---------------------------------------------------------------- routes */

/* Methods, as bits of a mask. */
enum gw_http_method {
	GW_HTTP_NONE = 0,
	GW_HTTP_GET = 1 << 0,
	GW_HTTP_HEAD = 1 << 1,
	GW_HTTP_POST = 1 << 2,
	GW_HTTP_PUT = 1 << 3,
	GW_HTTP_PATCH = 1 << 4,
	GW_HTTP_DELETE = 1 << 5,
	GW_HTTP_OPTIONS = 1 << 6,
	GW_HTTP_OTHER = 1 << 7, /* CONNECT: one libwebsockets names no other */
	GW_HTTP_ANY = 0xff,
};

enum gw_http_route_flags {
	GW_HTTP_EXACT = 0,
	/*
	 * The path and everything below it: "/hooks/x" matches /hooks/x and
	 * /hooks/x/..., not /hooks/xy; "/api/" matches /api/..., not /api.
	 */
	GW_HTTP_PREFIX = 1 << 0,
	/* Its request lines are logged at debug (probes polled often). */
	GW_HTTP_QUIET = 1 << 1,
};

/* body_max of a route that takes limits.http_body_max. */
#define GW_HTTP_BODY_CONFIGURED ((size_t)-1)

/*
 * A request header a route asked for by name. value: every occurrence,
 * in order, joined with ", " (RFC 9110 5.3; Cookie headers with "; "),
 * "" when absent; count: how many there were (0: absent).
 * libwebsockets 4.1 keeps names it does not know itself (X-Switchboard-
 * Signature, X-Twilio-Signature, X-Requested-With) only over HTTP/1.1 and
 * only their first occurrence: count is then 1 at most, and such a header
 * sent over HTTP/2 is absent. Names it knows (Authorization, Cookie,
 * Content-Type, Origin, X-Forwarded-For, ...) come with every occurrence
 * over both.
 */
struct gw_http_header {
	const char *name; /* as the route spelled it */
	const char *value;
	unsigned count;
};

/*
 * What a handler is given; every pointer is borrowed for the call only
 * (copy what you keep). Answer it once, now or later, by id.
 */
struct gw_http_request {
	struct gw_http *http;    /* the server to answer on */
	unsigned long id;        /* this request's (never 0, never reused) */
	unsigned method;         /* one enum gw_http_method bit */
	const char *method_name; /* "GET", ... "OTHER" */
	const char *path;  /* without the query; as libwebsockets decoded it */
	const char *query; /* name=value pairs (URL-decoded) joined by '&' */
	/*
	 * The body exactly as received, NULs and CR/LF included: body_len
	 * bytes, then a NUL that is not part of it. "" when none.
	 */
	const char *body;
	size_t body_len;
	/* The client's address, after trusted_proxies (canonical text). */
	const char *peer;
	const struct gw_http_header *headers; /* the route's, in its order */
	size_t nheaders;
};

typedef void (*gw_http_handler_fn)(void *arg,
                                   const struct gw_http_request *req);

/*
 * A route. A request goes to the route whose path is its path exactly,
 * else to the prefix route with the longest path matching it; the table
 * answers 404 when there is none. Then, before any of the body is read,
 * in this order: 411 to Transfer-Encoding (chunked bodies are not
 * accepted), 400 to a malformed Content-Length, 413 when Content-Length
 * is over limits.http_body_max, 405 (with Allow) when the path has no
 * route for the method, 413 when it is over the route's body_max. Each
 * refusal of a body announced closes the connection. A body of 1 to
 * body_max bytes is read, then the handler called; Content-Length: 0, or
 * none, is an empty body (a POST, PUT or PATCH without one closes the
 * connection once answered).
 * GET does not imply HEAD: a route that serves HEAD says so (its answer
 * then goes without its body).
 */
struct gw_http_route {
	unsigned methods; /* enum gw_http_method bits */
	const char *path; /* starts with '/'; must outlive h */
	unsigned flags;   /* enum gw_http_route_flags */
	/*
	 * The largest body read for it (0: none), never more than
	 * limits.http_body_max; GW_HTTP_BODY_CONFIGURED: that limit.
	 */
	size_t body_max;
	/* Names of the headers it wants (NULL-ended, may be NULL; <= 8). */
	const char *const *headers;
	gw_http_handler_fn handler;
	void *arg;
};

/*
 * Adds a route (copied; its strings are borrowed). Two routes of one path
 * may not share a method; at most 64 routes. Before gw_http_start.
 */
void gw_http_route_add(struct gw_http *h, const struct gw_http_route *r);

/* A header of an answer. */
struct gw_http_field {
	const char *name; /* "Location", "ETag", ... */
	const char *value;
};

/*
 * An answer. Content-Type and Content-Length are added (none on a 204 or
 * 304), and Cache-Control: no-store unless fields carry a Cache-Control;
 * the security headers of every response come on top (docs/http-api.md).
 */
struct gw_http_response {
	int status;
	const char *content_type; /* NULL: application/json */
	const char *body;         /* len bytes, copied; NULL when len is 0 */
	size_t len;
	const struct gw_http_field *fields; /* copied; may be NULL */
	size_t nfields;
};

/*
 * Answers request id. 0, or -1 when it is gone (the client closed) or
 * already answered: nothing to undo then.
 */
int gw_http_answer(struct gw_http *h, unsigned long id,
                   const struct gw_http_response *res);
/*
 * The same for a JSON body (copied) with an optional Set-Cookie value:
 * what the REST modules answer.
 */
int gw_http_respond(struct gw_http *h, unsigned long id, int status,
                    const char *body, const char *set_cookie);

/* ---------------------------------------------------------- WebSockets */

/*
 * What a protocol built on /ws is told. Connections are named by id
 * (never 0); a message handler gets messages whose type the base protocol
 * (ping) does not know, msg borrowed for the call.
 */
struct gw_ws_handler {
	/*
	 * cookie: the Cookie header when the protocol reads it (staff_cookie)
	 * and the Origin is one of allowed_origins, else ""; peer: the
	 * client's address (the forwarded one behind trusted_proxies).
	 */
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

/* The Origin lists a subprotocol accepts handshakes from. */
enum gw_ws_origins {
	GW_WS_ORIGINS_NONE = 0,
	GW_WS_STAFF_ORIGINS = 1 << 0, /* allowed_origins */
	/* widget_origins: council sites embedding the residents' client */
	GW_WS_RESIDENT_ORIGINS = 1 << 1,
};

/*
 * A subprotocol of /ws. Every socket first gets a hello
 * {"type":"hello","protocol":name,"server":"switchboard/<version>"} with
 * what hello adds to it, then its handler's open.
 */
struct gw_ws_protocol {
	const char *name; /* e.g. "switchboard.v1"; must outlive h */
	unsigned origins; /* enum gw_ws_origins bits */
	/*
	 * Whether open is given the Cookie header (staff sessions): only
	 * when the Origin is one of allowed_origins, never from another.
	 */
	int staff_cookie;
	/* Optional: adds this protocol's fields to hello (borrowed). */
	void (*hello)(void *arg, json_t *hello);
	struct gw_ws_handler handler; /* hello gets handler.arg */
};

/*
 * Registers a subprotocol (copied), before gw_http_start; at most 8. A
 * handshake asking for no subprotocol, or for none registered, is refused.
 */
void gw_http_ws_register(struct gw_http *h, const struct gw_ws_protocol *p);
/*
 * Its handler is called no more (its owner is going): its sockets stay
 * open until they close, their messages dropped. Unknown name: no-op.
 */
void gw_http_ws_unregister(struct gw_http *h, const char *name);

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

/* ---------------------------------------------------------------- life */

/*
 * Stops accepting, answers every request 503 from now on and closes every
 * WebSocket with 1001 (going away).
 */
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
