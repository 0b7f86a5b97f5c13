/*
 * http_client.h: outbound HTTPS requests on the event loop (the SMS
 * providers' APIs: GOV.UK Notify, Twilio). libcurl's multi interface
 * driven by libuv: a uv_poll_t per socket libcurl opens, one uv_timer_t
 * for its timeouts; no threads, no blocking. Connections are kept and
 * reused by the multi handle (one per host at a time is fine: HTTP/1.1
 * keep-alive; HTTP/2 multiplexing where the server offers it).
 *
 * Certificates are always verified (peer and host name), against ca_file
 * when given (that file only), else the system's store; only http and
 * https URLs are followed, redirects are not. Each request has a total
 * timeout. A response body is kept up to HTTP_CLIENT_BODY_MAX bytes
 * (more: the request fails, "response too large").
 *
 * Loop thread only. Every callback is called exactly once, from the loop
 * (never from within http_client_fetch), including for requests still in
 * flight when http_client_free is called: those get error "cancelled"
 * from within http_client_free (the caller must expect that).
 */
#ifndef GW_HTTP_CLIENT_H
#define GW_HTTP_CLIENT_H

#include <stddef.h>

#include <uv.h>

#define HTTP_CLIENT_BODY_MAX    (1024 * 1024)
#define HTTP_CLIENT_HEADERS_MAX 16

struct http_client;

struct http_client_req {
	const char *method; /* "GET" or "POST" */
	const char *url;
	/* "Name: value" lines (at most HTTP_CLIENT_HEADERS_MAX) */
	const char *const *headers;
	size_t nheaders;
	const char *body; /* POST: copied; NULL: empty */
	size_t body_len;
	const char *userpwd; /* HTTP basic "user:password", or NULL */
	const char *ca_file; /* NULL: the system's store */
	long timeout_ms;     /* whole request; <= 0: 10 s */
};

struct http_client_resp {
	long status;      /* HTTP status; 0 when no response was read */
	const char *body; /* NUL-terminated; "" when none */
	size_t len;
	const char *error; /* NULL: a response was read; else why not */
	/*
	 * The request may have reached the server (error set after the
	 * connection was made and sending began): the outcome is unknown.
	 * 0: it certainly did not (no connection, TLS refused, DNS).
	 */
	int maybe_sent;
	long long elapsed_ms;
};

typedef void (*http_client_cb)(void *arg, const struct http_client_resp *r);

struct http_client *http_client_new(uv_loop_t *loop);
/*
 * Starts q (everything in it is copied). 0, or -1 with *why (the request
 * is not made and cb is never called).
 */
int http_client_fetch(struct http_client *c, const struct http_client_req *q,
                      http_client_cb cb, void *arg, const char **why);
/* Requests in flight. */
unsigned http_client_inflight(const struct http_client *c);
/*
 * Cancels what is in flight (callbacks: "cancelled") and frees c once its
 * handles are closed. NULL is a no-op.
 */
void http_client_free(struct http_client *c);

#endif
