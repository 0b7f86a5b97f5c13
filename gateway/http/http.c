/*
 * http.c: libwebsockets server on a foreign libuv loop, with a route table
 * for HTTP (http_route.c) and a table of WebSocket subprotocols. It names
 * no route and no protocol of its own: the modules register theirs (see
 * http.h).
 *
 * Recipe for lws 4.1.6 (Debian 12): LWS_SERVER_OPTION_LIBUV with our loop
 * in foreign_loops; never lws_service (uv_run drives it); lws installs no
 * signal handlers on a foreign loop; the context is destroyed
 * asynchronously, so the loop must keep running afterwards. Responses are
 * written only from WRITEABLE callbacks with LWS_PRE headroom, or from the
 * callback in which the request arrived.
 * Loop thread only.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "http.h"
#include "http_hdr.h"
#include "http_route.h"
#include "idmap.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

/* The one path WebSockets are opened on. */
#define WS_PATH "/ws"
/* Subprotocols (gw_http_ws_register); a socket keeps its index in 3 bits. */
#define WS_PROTOCOLS_MAX 8
/* A pinged socket silent this much longer is closed. */
#define IDLE_GRACE_MS 20000
/* Silent sockets are looked for this often at most (ms). */
#define IDLE_CHECK_MAX_MS 5000
/*
 * An id echoed in answers (ping's pong, every request's reply), as JSON;
 * the error text below says the same number.
 */
#define WS_ID_MAX      128
#define WS_TYPE_MAX    64
#define WS_TX_PACKET   4096 /* sends are cut at this (see the protocols) */
#define WS_RX_FIRST    4096 /* a message in pieces: first buffer, doubled */
#define HTTP_TX_CHUNK  4096 /* HTTP/2: a body is written this much at once */
#define HTTP_QUERY_MAX 1024 /* a request's query string, joined */
/* Fields of one answer (gw_http_answer), and the longest field name. */
#define HTTP_FIELDS_MAX     16
#define HTTP_FIELD_NAME_MAX 64
/* lws keeps opcode 4 (close) out of its public enum; the ABI has it. */
#define WS_WRITE_CLOSE ((enum lws_write_protocol)4)

struct ws_msg {
	struct ws_msg *next;
	size_t len;
	int close;           /* a close frame: the last thing sent */
	unsigned char buf[]; /* LWS_PRE headroom + payload */
};

/*
 * A message arriving in pieces: libwebsockets hands a socket's messages to
 * us limits.ws_rx_buffer bytes at a time. Only while one is incomplete.
 */
struct ws_rx {
	size_t len, cap;
	char data[];
};

enum {
	REQ_NONE = 0,
	REQ_READING, /* its body is coming in */
	REQ_WAITING, /* handed to its route's handler */
	REQ_ANSWER,  /* answer set, headers to send when writable */
	REQ_BODY,    /* headers sent, body to send */
};

/*
 * Per-request state of the http protocol (lws allocates and zeroes it,
 * per connection over HTTP/1.1, per stream over HTTP/2). A request owns
 * what it read until its handler has been called, and its answer until
 * that is written.
 */
struct http_req {
	struct lws *wsi;
	unsigned long id; /* while REQ_WAITING: its key in h->waiting */
	int state;        /* REQ_NONE .. */
	const char *method;
	unsigned method_bit;
	int head_only;
	int quiet;
	/*
	 * The connection closes once the answer is out: its body was refused
	 * unread (411, 413, 400, 404, ...), so what follows on it is not a
	 * request.
	 */
	int close_after;
	char log_path[128];                /* cleaned, for the log line */
	char *path;                        /* as lws gave it */
	const struct gw_http_route *route; /* found for it */
	size_t body_max;
	char *req_body;
	size_t req_len;
	/* the answer */
	int status;
	char *ctype;
	char *body;
	size_t body_len;
	size_t body_off; /* written so far */
	/* its fields: nfields pairs "name:\0value\0", the names lower case */
	char *fields;
	size_t fields_len;
	int has_cache_control;
};

/*
 * Per-socket state of the WebSocket protocols (lws allocates and zeroes
 * it). Every idle resident's socket holds one: keep it small (88 bytes, a
 * 96-byte malloc chunk; tests/bench/run-idle measures the whole socket).
 * A socket between messages holds no buffer of its own: rx and the send
 * queue are allocated only while a message is in flight. What it may make
 * the daemon hold is bounded: rx by limits.ws_message_max, the send queue
 * by limits.ws_send_queue bytes besides the message at its head (see
 * ws_queue), a pong by WS_ID_MAX.
 */
struct conn {
	struct gw_http *h;
	struct lws *wsi;
	unsigned long id;
	struct ws_msg *sq_head, *sq_tail; /* waiting for the socket */
	struct ws_rx *rx;                 /* a message arriving in pieces */
	uint64_t ip_key;      /* its client address, hashed (per-address cap) */
	uint64_t last_rx;     /* loop ms of the last frame or pong received */
	uint64_t tokens_at;   /* loop ms the bucket was last filled */
	float tokens;         /* rate limit: messages it may still send */
	uint32_t sq_bytes;    /* payload bytes in the send queue */
	uint32_t last_write;  /* bytes of the last lws_write (lws may hold them)
	                       */
	unsigned proto : 3;   /* its subprotocol: index in h->ws */
	unsigned closing : 1; /* the close frame is queued */
	unsigned ping_due : 1;     /* a ping is to go out when writable */
	unsigned pinged : 1;       /* one went out, no answer yet */
	unsigned want_drained : 1; /* tell the handler when sq_head empties */
};

struct gw_http {
	uv_loop_t *loop;
	const struct gw_config *cfg;
	struct lws_context *ctx;
	struct idmap *by_id; /* open WebSockets by connection id */
	unsigned ws_count;
	struct gw_ws_protocol ws[WS_PROTOCOLS_MAX]; /* subprotocols */
	unsigned nws;
	struct http_routes *routes;
	struct idmap *waiting;    /* requests at their handler, by id */
	struct http_req *calling; /* the request whose handler runs now */
	unsigned long next_id;
	unsigned long next_req;
	unsigned long open_conns; /* accepted and not yet destroyed */
	struct idmap *per_ip;     /* hashed client address -> open WebSockets */
	uv_timer_t idle_timer;    /* pings silent sockets, closes dead ones */
	int idle_timer_open;
	int draining;
	int destroying;
	struct lws_protocol_vhost_options hdr[5];
	char *csp;
	/* "http", then one per subprotocol, then the zeroed end */
	struct lws_protocols protocols[WS_PROTOCOLS_MAX + 2];
};

/*
 * Each accepted socket carries its connection id (never 0) as lws opaque
 * user data: log lines of one connection share it, and WSI_DESTROY counts
 * only sockets we accepted.
 */
static unsigned long
conn_id(struct lws *wsi)
{
	return (unsigned long)(uintptr_t)lws_get_opaque_user_data(wsi);
}

/* ---------------------------------------------------------------- logging */

static void
http_lws_log(int level, const char *line)
{
	char buf[512];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	gw_log(level == LLL_ERR ? GW_LOG_ERROR : GW_LOG_WARNING, "lws",
	       "msg=\"%s\"", buf);
}

/* ---------------------------------------------------------------- headers */

/* Whether ip (canonical text) is one of trusted_proxies. */
static int
http_trusted(void *arg, const char *ip)
{
	const struct gw_config *cfg = arg;
	char canon[HTTP_HDR_IP_MAX];
	size_t i;

	for (i = 0; i < cfg->n_trusted_proxies; i++)
		if (http_hdr_ip_normalize(cfg->trusted_proxies[i],
		                          strlen(cfg->trusted_proxies[i]),
		                          canon, sizeof(canon)) == 0 &&
		    strcmp(canon, ip) == 0)
			return 1;
	return 0;
}

/*
 * A header lws knows by token, every occurrence (lws keeps each as a
 * fragment) joined with sep, in a buffer of its own size (malloc'd; ""
 * when absent). *count: how many occurrences.
 */
static char *
http_header_token(struct lws *wsi, enum lws_token_indexes tok, const char *sep,
                  unsigned *count)
{
	int i, n, total = lws_hdr_total_length(wsi, tok);
	size_t cap, len = 0, slen = strlen(sep), k;
	char *s;

	*count = 0;
	if (total <= 0)
		return xstrdup("");
	/* Room for a separator between any two bytes, at worst. */
	cap = (size_t)total * (slen + 1) + 1;
	s = xmalloc(cap);
	s[0] = '\0';
	for (i = 0; (n = lws_hdr_fragment_length(wsi, tok, i)) > 0; i++) {
		if (len + (size_t)n + slen + 1 > cap)
			break;
		if (len > 0) {
			memcpy(s + len, sep, slen);
			len += slen;
		}
		if (lws_hdr_copy_fragment(wsi, s + len, (int)(cap - len), tok,
		                          i) != n)
			break;
		/* lws keeps the white space before a repeated header's value.
		 */
		k = 0;
		while (k < (size_t)n &&
		       (s[len + k] == ' ' || s[len + k] == '\t'))
			k++;
		memmove(s + len, s + len + k, (size_t)n - k);
		len += (size_t)n - k;
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		(*count)++;
	}
	s[len] = '\0';
	return s;
}

/*
 * The lws token of a header name (any case), or -1 when lws 4.1 does not
 * know it (it then keeps it as a "custom" header: HTTP/1.1 only, first
 * occurrence only).
 */
static int
http_token_of(const char *name)
{
	const unsigned char *t;
	size_t n = strlen(name), i;
	int tok;

	for (tok = 0; tok < WSI_TOKEN_COUNT; tok++) {
		t = lws_token_to_string((enum lws_token_indexes)tok);
		if (t == NULL || strlen((const char *)t) != n + 1 ||
		    t[n] != ':')
			continue;
		for (i = 0; i < n && tolower((unsigned char)name[i]) == t[i];
		     i++)
			;
		if (i == n)
			return tok;
	}
	return -1;
}

/* A request header by name, as struct gw_http_header says (malloc'd). */
static char *
http_header_named(struct lws *wsi, const char *name, unsigned *count)
{
	char key[HTTP_FIELD_NAME_MAX + 2], *s;
	int tok = http_token_of(name), n;
	size_t i, klen = strlen(name);

	*count = 0;
	if (tok >= 0)
		return http_header_token(
		        wsi, (enum lws_token_indexes)tok,
		        tok == WSI_TOKEN_HTTP_COOKIE ? "; " : ", ", count);
	if (klen == 0 || klen > HTTP_FIELD_NAME_MAX)
		return xstrdup("");
	for (i = 0; i < klen; i++)
		key[i] = (char)tolower((unsigned char)name[i]);
	key[klen++] = ':';
	key[klen] = '\0';
	n = lws_hdr_custom_length(wsi, key, (int)klen);
	if (n < 0)
		return xstrdup("");
	s = xmalloc((size_t)n + 1);
	if (lws_hdr_custom_copy(wsi, s, n + 1, key, (int)klen) != n) {
		s[0] = '\0';
		return s;
	}
	*count = 1;
	return s;
}

/*
 * The client's address: the peer's, or, when the peer is one of
 * trusted_proxies, the right-most address of X-Forwarded-For that is not
 * one of them (docs/configuration.md). Canonical text.
 */
static void
client_address(struct gw_http *h, struct lws *wsi, char *out, size_t len)
{
	char peer[64], canon[HTTP_HDR_IP_MAX];
	unsigned count;
	char *xff;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	if (http_hdr_ip_normalize(peer, strlen(peer), canon, sizeof(canon)) ==
	    0)
		snprintf(peer, sizeof(peer), "%s", canon);
	snprintf(out, len, "%s", peer);
	if (h->cfg->n_trusted_proxies == 0 ||
	    !http_trusted((void *)h->cfg, peer))
		return;
	/* Several headers count as one list (RFC 9110 5.3). */
	xff = http_header_token(wsi, WSI_TOKEN_X_FORWARDED_FOR, ",", &count);
	if (http_hdr_forwarded_client(xff, http_trusted, (void *)h->cfg, canon,
	                              sizeof(canon)) == 0)
		snprintf(out, len, "%s", canon);
	free(xff);
}

/* ---------------------------------------------------------------- http */

/* Forgets the answer (and its fields), sent or not. */
static void
http_answer_clear(struct http_req *r)
{
	free(r->body);
	free(r->ctype);
	free(r->fields);
	r->body = r->ctype = r->fields = NULL;
	r->body_len = r->body_off = r->fields_len = 0;
	r->status = 0;
	r->has_cache_control = 0;
}

/* Forgets the request: what was read, and its place among the waiting. */
static void
http_req_forget(struct gw_http *h, struct http_req *r)
{
	if (r->state == REQ_WAITING && idmap_get(h->waiting, r->id) == r)
		idmap_del(h->waiting, r->id);
	free(r->req_body);
	free(r->path);
	r->req_body = r->path = NULL;
	r->req_len = 0;
	r->route = NULL;
	r->state = REQ_NONE;
	http_answer_clear(r);
}

/* Sets r's answer from res (copied). */
static void
http_answer_set(struct http_req *r, const struct gw_http_response *res)
{
	size_t i, j, need = 0, nlen, vlen;
	char *p;

	http_answer_clear(r);
	r->status = res->status;
	r->ctype = xstrdup(res->content_type != NULL ? res->content_type
	                                             : "application/json");
	if (res->len > 0) {
		r->body = xmalloc(res->len);
		memcpy(r->body, res->body, res->len);
		r->body_len = res->len;
	}
	for (i = 0; i < res->nfields && i < HTTP_FIELDS_MAX; i++)
		need += strlen(res->fields[i].name) + 2 +
		        strlen(res->fields[i].value) + 1;
	if (need == 0)
		return;
	p = r->fields = xmalloc(need);
	for (i = 0; i < res->nfields && i < HTTP_FIELDS_MAX; i++) {
		nlen = strlen(res->fields[i].name);
		vlen = strlen(res->fields[i].value);
		/* HTTP/2 wants names in lower case; lws wants the colon. */
		for (j = 0; j < nlen; j++)
			p[j] = (char)tolower(
			        (unsigned char)res->fields[i].name[j]);
		p[nlen] = ':';
		p[nlen + 1] = '\0';
		if (strcmp(p, "cache-control:") == 0)
			r->has_cache_control = 1;
		p += nlen + 2;
		memcpy(p, res->fields[i].value, vlen + 1);
		p += vlen + 1;
	}
	r->fields_len = need;
}

/* The answer is out: the next request, or the end of the connection. */
static int
http_done(struct lws *wsi, const struct http_req *r)
{
	if (r->close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
http_add(struct lws *wsi, const char *name, const char *value,
         unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	                                   (const unsigned char *)value,
	                                   (int)strlen(value), p, end);
}

/* Writes the status line and headers of r's answer; its body follows. */
static int
http_send_headers(struct lws *wsi, struct http_req *r)
{
	unsigned char buf[LWS_PRE + 4096], *start = buf + LWS_PRE, *p = start,
	                                   *end = buf + sizeof(buf) - 1;
	int no_body = r->status == 204 || r->status == 304;
	const char *f = r->fields, *value;

	/* Probes are polled every few seconds: keep them out of info. */
	gw_log(r->quiet ? GW_LOG_DEBUG : GW_LOG_INFO, "http.request",
	       "conn=%lu method=%s path=\"%s\" status=%d", conn_id(wsi),
	       r->method, r->log_path, r->status);
	if (no_body) {
		/* No Content-Type or Content-Length: there is no body. */
		if (lws_add_http_header_status(wsi, (unsigned)r->status, &p,
		                               end))
			return -1;
	} else if (lws_add_http_common_headers(wsi, (unsigned)r->status,
	                                       r->ctype, r->body_len, &p,
	                                       end)) {
		return -1;
	}
	if (!r->has_cache_control &&
	    http_add(wsi, "cache-control:", "no-store", &p, end))
		return -1;
	while (f != NULL && f < r->fields + r->fields_len) {
		value = f + strlen(f) + 1;
		if (http_add(wsi, f, value, &p, end))
			return -1;
		f = value + strlen(value) + 1;
	}
	if (lws_finalize_http_header(wsi, &p, end))
		return -1;
	if (no_body || r->head_only) {
		free(r->body);
		r->body = NULL;
		r->body_len = 0;
	}
	/*
	 * No body to follow (HEAD, 304, empty): over HTTP/2 the headers end
	 * the stream, else a 304 (no Content-Length) leaves it open.
	 */
	if (lws_write(wsi, start, (size_t)(p - start),
	              LWS_WRITE_HTTP_HEADERS |
	                      (r->body_len == 0 ? LWS_WRITE_H2_STREAM_END
	                                        : 0)) != (int)(p - start))
		return -1;
	r->state = REQ_BODY;
	if (r->body_len == 0) {
		http_answer_clear(r);
		r->state = REQ_NONE;
		return http_done(wsi, r);
	}
	lws_callback_on_writable(wsi);
	return 0;
}

/*
 * The body: at once over HTTP/1 (lws keeps what the socket cannot take);
 * over HTTP/2 (which has a send window: lws_get_peer_write_allowance is not
 * -1) HTTP_TX_CHUNK bytes at most per WRITEABLE callback, within the
 * window: one larger write was cut short at 4 KB and its stream never
 * ended.
 */
static int
http_write_body(struct lws *wsi, struct http_req *r)
{
	lws_fileofs_t allow = lws_get_peer_write_allowance(wsi);
	unsigned char *buf;
	size_t n;
	int rc;

	if (r->state != REQ_BODY || r->body == NULL)
		return 0;
	n = r->body_len - r->body_off;
	if (allow >= 0 && n > HTTP_TX_CHUNK)
		n = HTTP_TX_CHUNK;
	if (allow >= 0 && (size_t)allow < n)
		n = (size_t)allow; /* 0: called again when the window opens */
	if (n > 0) {
		buf = xmalloc(LWS_PRE + n);
		memcpy(buf + LWS_PRE, r->body + r->body_off, n);
		rc = lws_write(wsi, buf + LWS_PRE, n,
		               r->body_off + n == r->body_len
		                       ? LWS_WRITE_HTTP_FINAL
		                       : LWS_WRITE_HTTP);
		free(buf);
		if (rc < (int)n)
			return -1;
	}
	r->body_off += n;
	if (r->body_off < r->body_len) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	http_answer_clear(r);
	r->state = REQ_NONE;
	return http_done(wsi, r);
}

/*
 * The table's own answer (404, 405, 411, 413, 414, 503, ...), now, with a
 * JSON error and optional fields.
 */
static int
http_refuse(struct lws *wsi, struct http_req *r, int status, const char *why,
            const struct gw_http_field *fields, size_t nfields)
{
	char *body = xasprintf("{\"error\":\"%s\"}\n", why);
	struct gw_http_response res = {status,       NULL,   body,
	                               strlen(body), fields, nfields};

	http_answer_set(r, &res);
	free(body);
	return http_send_headers(wsi, r);
}

/* Notes what the request is, for its log line and its route. */
static void
http_request_start(struct lws *wsi, struct http_req *r, const char *path)
{
	static const struct {
		enum lws_token_indexes tok;
		const char *name;
	} methods[] = {
	        {WSI_TOKEN_GET_URI, "GET"},
	        {WSI_TOKEN_HEAD_URI, "HEAD"},
	        {WSI_TOKEN_POST_URI, "POST"},
	        {WSI_TOKEN_PUT_URI, "PUT"},
	        {WSI_TOKEN_PATCH_URI, "PATCH"},
	        {WSI_TOKEN_DELETE_URI, "DELETE"},
	        {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
	};
	unsigned i;

	r->method = "OTHER";
	for (i = 0; i < nitems(methods); i++)
		if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
			r->method = methods[i].name;
	r->method_bit = http_route_method(r->method);
	r->head_only = r->method_bit == GW_HTTP_HEAD;
	r->quiet = 0;
	r->close_after = 0;
	/* Kept for the log line, so cleaned for it. */
	gw_log_clean(r->log_path, sizeof(r->log_path), path);
	r->path = xstrdup(path);
}

/*
 * The query string: libwebsockets keeps each name=value (URL-decoded) as a
 * fragment; joined here with '&'. One that does not fit is refused rather
 * than cut: a dropped filter would widen a query. 0, or -1.
 */
static int
http_query(struct lws *wsi, char *query, size_t len)
{
	size_t k = 0;
	int i, n;

	query[0] = '\0';
	for (i = 0;
	     (n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i)) > 0;
	     i++) {
		if (k + (size_t)n + 2 > len ||
		    lws_hdr_copy_fragment(wsi, query + k + (k > 0),
		                          (int)(len - k - (k > 0)),
		                          WSI_TOKEN_HTTP_URI_ARGS, i) != n)
			return -1;
		if (k > 0)
			query[k++] = '&';
		k += (size_t)n;
		query[k] = '\0';
	}
	return 0;
}

/*
 * The request, with its body, goes to its route's handler, which answers
 * it now or later by id. Returns what the lws callback returns.
 */
static int
http_dispatch(struct gw_http *h, struct lws *wsi, struct http_req *r)
{
	const struct gw_http_route *rt = r->route;
	struct gw_http_header hdrs[HTTP_ROUTE_HEADERS_MAX];
	char query[HTTP_QUERY_MAX], peer[64];
	struct gw_http_request req;
	size_t i, n = 0;

	if (http_query(wsi, query, sizeof(query)) != 0)
		return http_refuse(wsi, r, HTTP_STATUS_REQ_URI_TOO_LONG,
		                   "query string too long", NULL, 0);
	client_address(h, wsi, peer, sizeof(peer));
	while (rt->headers != NULL && rt->headers[n] != NULL &&
	       n < HTTP_ROUTE_HEADERS_MAX) {
		hdrs[n].name = rt->headers[n];
		hdrs[n].value =
		        http_header_named(wsi, rt->headers[n], &hdrs[n].count);
		n++;
	}
	memset(&req, 0, sizeof(req));
	req.http = h;
	req.id = ++h->next_req;
	req.method = r->method_bit;
	req.method_name = r->method;
	req.path = r->path;
	req.query = query;
	req.body = r->req_body != NULL ? r->req_body : "";
	req.body_len = r->req_len;
	req.peer = peer;
	req.headers = hdrs;
	req.nheaders = n;
	r->id = req.id;
	r->state = REQ_WAITING;
	idmap_put(h->waiting, r->id, r);
	h->calling = r;
	rt->handler(rt->arg, &req);
	h->calling = NULL;
	for (i = 0; i < n; i++)
		free((char *)hdrs[i].value);
	/* Borrowed for the call only. */
	free(r->req_body);
	r->req_body = NULL;
	r->req_len = 0;
	/* Answered at once (a probe, a file): out now, not a turn later. */
	if (r->state == REQ_ANSWER)
		return http_send_headers(wsi, r);
	return 0;
}

/*
 * A request's headers have arrived: the table finds its route, or answers
 * itself. What lws 4.1 does with a body: it reads Content-Length bytes
 * (any method) and hands them over in HTTP_BODY callbacks, then
 * HTTP_BODY_COMPLETION; a POST with Content-Length: 0 gets both with no
 * data; a POST, PUT or PATCH without Content-Length is read as a body of
 * 100 MiB; chunked bodies are not decoded. So a body the route takes is
 * read, then handled; none is handled at once (without Content-Length on
 * a POST, PUT or PATCH the connection then closes); anything else is
 * refused unread, and the connection closed (http.h has the rules).
 */
static int
http_request(struct gw_http *h, struct lws *wsi, struct http_req *r,
             const char *path)
{
	char value[32], allow[HTTP_ROUTE_ALLOW_MAX];
	struct gw_http_field allow_field = {"Allow", allow};
	unsigned long long n = 0;
	struct http_route_hit hit;
	int chunked, has_length, bad_length = 0;
	int body_method;

	/* An earlier request's, on this connection. */
	http_req_forget(h, r);
	r->wsi = wsi;
	http_request_start(wsi, r, path);
	body_method = (r->method_bit &
	               (GW_HTTP_POST | GW_HTTP_PUT | GW_HTTP_PATCH)) != 0;
	chunked =
	        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
	has_length =
	        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
	if (has_length && (lws_hdr_copy(wsi, value, sizeof(value),
	                                WSI_TOKEN_HTTP_CONTENT_LENGTH) < 0 ||
	                   http_hdr_content_length(value, &n) != 0))
		bad_length = 1;
	/* A body left unread: what follows on the connection is not ours. */
	r->close_after =
	        chunked || bad_length || n > 0 || (body_method && !has_length);
	if (h->draining || h->destroying)
		return http_refuse(wsi, r, HTTP_STATUS_SERVICE_UNAVAILABLE,
		                   "shutting down", NULL, 0);
	http_routes_find(h->routes, r->method_bit, path,
	                 (size_t)h->cfg->http_body_max, &hit);
	if (hit.status == HTTP_STATUS_NOT_FOUND)
		return http_refuse(wsi, r, HTTP_STATUS_NOT_FOUND, "not found",
		                   NULL, 0);
	if (chunked)
		return http_refuse(wsi, r, HTTP_STATUS_LENGTH_REQUIRED,
		                   "chunked request bodies are not accepted: "
		                   "send Content-Length",
		                   NULL, 0);
	if (bad_length)
		return http_refuse(wsi, r, HTTP_STATUS_BAD_REQUEST,
		                   "malformed Content-Length", NULL, 0);
	/* Over what any route may read, whatever the method. */
	if (n > (unsigned long long)h->cfg->http_body_max)
		return http_refuse(wsi, r, HTTP_STATUS_REQ_ENTITY_TOO_LARGE,
		                   "request body too large", NULL, 0);
	if (hit.status == HTTP_STATUS_METHOD_NOT_ALLOWED) {
		http_route_allow(hit.allow, allow, sizeof(allow));
		return http_refuse(wsi, r, HTTP_STATUS_METHOD_NOT_ALLOWED,
		                   "method not allowed", &allow_field, 1);
	}
	if (n > (unsigned long long)hit.body_max)
		return http_refuse(wsi, r, HTTP_STATUS_REQ_ENTITY_TOO_LARGE,
		                   "request body too large", NULL, 0);
	r->route = hit.route;
	r->body_max = hit.body_max;
	r->quiet = (hit.route->flags & GW_HTTP_QUIET) != 0;
	/*
	 * No Content-Length: no body (RFC 9112 6.3), though lws would read
	 * one of 100 MiB after it on a POST, PUT or PATCH: handled empty, and
	 * the connection closed once it is answered.
	 */
	r->close_after = body_method && !has_length;
	if (n == 0)
		return http_dispatch(h, wsi, r);
	r->state = REQ_READING;
	return 0; /* body callbacks follow */
}

static int
http_body(struct lws *wsi, struct http_req *r, const void *in, size_t len)
{
	if (r->state != REQ_READING || len == 0)
		return 0;
	/* lws reads Content-Length bytes: this is a second line of defence. */
	if (r->req_len + len > r->body_max) {
		r->state = REQ_NONE;
		r->close_after = 1;
		return http_refuse(wsi, r, HTTP_STATUS_REQ_ENTITY_TOO_LARGE,
		                   "request body too large", NULL, 0);
	}
	r->req_body = xrealloc(r->req_body, r->req_len + len + 1);
	memcpy(r->req_body + r->req_len, in, len);
	r->req_len += len;
	r->req_body[r->req_len] = '\0';
	return 0;
}

static int
http_writeable(struct lws *wsi, struct http_req *r)
{
	if (r->state == REQ_ANSWER)
		return http_send_headers(wsi, r);
	return http_write_body(wsi, r);
}

/* ---------------------------------------------------------------- ws */

static void
ws_drop_queue(struct conn *c)
{
	struct ws_msg *m;

	while ((m = c->sq_head) != NULL) {
		c->sq_head = m->next;
		free(m);
	}
	c->sq_tail = NULL;
	c->sq_bytes = 0;
}

static struct conn *
ws_find(struct gw_http *h, unsigned long id)
{
	return idmap_get(h->by_id, id);
}

/* FNV-1a of the address text, never 0 (idmap keys). */
static uint64_t
ip_key_of(const char *addr)
{
	uint64_t k = 1469598103934665603ull;

	for (; *addr != '\0'; addr++) {
		k ^= (unsigned char)*addr;
		k *= 1099511628211ull;
	}
	return k != 0 ? k : 1;
}

static unsigned long
ip_count(struct gw_http *h, uint64_t key)
{
	return (unsigned long)(uintptr_t)idmap_get(h->per_ip, key);
}

static void
ip_add(struct gw_http *h, uint64_t key, int d)
{
	unsigned long n = ip_count(h, key);

	n = d > 0 ? n + 1 : n > 0 ? n - 1 : 0;
	if (n == 0)
		idmap_del(h->per_ip, key);
	else
		idmap_put(h->per_ip, key, (void *)(uintptr_t)n);
}

static void
ws_unlink(struct gw_http *h, struct conn *c)
{
	if (idmap_get(h->by_id, c->id) == c)
		idmap_del(h->by_id, c->id);
	ws_drop_queue(c);
	free(c->rx);
	c->rx = NULL;
}

static void
ws_append(struct conn *c, struct ws_msg *m)
{
	if (c->sq_tail != NULL)
		c->sq_tail->next = m;
	else
		c->sq_head = m;
	c->sq_tail = m;
	lws_callback_on_writable(c->wsi);
}

/*
 * Closes a socket from outside its callbacks: the close frame goes at the
 * end of its send queue, and nothing more is queued after it.
 */
static void
ws_close_later(struct conn *c, enum lws_close_status status, const char *reason)
{
	size_t n = strlen(reason);
	struct ws_msg *m;

	if (c->closing)
		return;
	if (n > 123) /* a control frame's payload is 125 bytes at most */
		n = 123;
	m = xcalloc(1, sizeof(*m) + LWS_PRE + 2 + n);
	m->close = 1;
	m->len = n + 2;
	m->buf[LWS_PRE] = (unsigned char)((unsigned)status >> 8);
	m->buf[LWS_PRE + 1] = (unsigned char)((unsigned)status & 0xff);
	memcpy(m->buf + LWS_PRE + 2, reason, n);
	c->closing = 1;
	ws_append(c, m);
}

/*
 * Bytes a socket holds for its client besides the message at the head of
 * the line (the one being written, or the one lws holds the rest of): a
 * message of any size may always go out, and behind it up to
 * limits.ws_send_queue bytes more may wait for the client to read.
 */
static size_t
ws_backlog(const struct conn *c)
{
	if (lws_partial_buffered(c->wsi))
		return c->sq_bytes;
	return c->sq_head != NULL ? c->sq_bytes - c->sq_head->len : 0;
}

static void
ws_refuse(struct conn *c, enum gw_refusal why, enum lws_close_status status,
          const char *reason)
{
	gw_warn("ws.refused", "conn=%lu code=%d reason=\"%s\"", c->id,
	        (int)status, reason);
	gw_metrics_refusal(why);
	gw_metrics_error(GW_ERR_WS);
	ws_close_later(c, status, reason);
}

/* Queues a text frame; a client that does not read is closed. */
static int
ws_queue(struct conn *c, const char *text)
{
	size_t len = strlen(text);
	struct ws_msg *m;

	/* Closing: only the close frame goes out now. */
	if (c->closing)
		return -1;
	if ((c->sq_head != NULL || lws_partial_buffered(c->wsi)) &&
	    ws_backlog(c) + len > (size_t)c->h->cfg->ws_send_queue) {
		gw_info("ws.slow_reader", "conn=%lu queued_bytes=%u", c->id,
		        (unsigned)c->sq_bytes);
		ws_drop_queue(c);
		ws_refuse(c, GW_REFUSAL_WS_SEND_QUEUE,
		          LWS_CLOSE_STATUS_POLICY_VIOLATION, "send queue full");
		return -1;
	}
	m = xmalloc(sizeof(*m) + LWS_PRE + len);
	m->next = NULL;
	m->len = len;
	m->close = 0;
	memcpy(m->buf + LWS_PRE, text, len);
	if (c->sq_head == NULL && !lws_partial_buffered(c->wsi)) {
		/*
		 * Nothing waiting: written now. Waiting for the WRITEABLE
		 * callback costs two epoll_ctl calls per message (POLLOUT on,
		 * then off) and a loop turn. A send the socket cannot take
		 * whole is kept by lws, which then waits for POLLOUT itself
		 * (lws_partial_buffered is true until it is out).
		 */
		c->last_write = (uint32_t)len;
		if (lws_write(c->wsi, m->buf + LWS_PRE, len, LWS_WRITE_TEXT) <
		    (int)len) {
			free(m);
			ws_close_later(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
			               "write failed");
			return -1;
		}
		free(m);
		return 0;
	}
	c->sq_bytes += (uint32_t)len;
	ws_append(c, m);
	return 0;
}

static void
ws_queue_json(struct conn *c, json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);

	if (s != NULL)
		ws_queue(c, s);
	free(s);
	json_decref(obj);
}

static void
ws_error(struct conn *c, const char *code, const char *message)
{
	ws_queue_json(c, json_pack("{s:s, s:s, s:s}", "type", "error", "code",
	                           code, "message", message));
}

/* The protocol module a socket's messages go to. */
static const struct gw_ws_handler *
ws_handler(const struct conn *c)
{
	return &c->h->ws[c->proto].handler;
}

/*
 * Handles one complete message of the base protocol: every message is a
 * JSON object with a string "type". The base knows "ping"; the channel
 * subprotocols add their types on top of this dispatcher.
 */
static void
ws_message(struct conn *c, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *msg, *type, *id;

	msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (msg == NULL || !json_is_object(msg)) {
		ws_error(c, "bad_json", msg ? "not an object" : jerr.text);
		goto out;
	}
	type = json_object_get(msg, "type");
	if (!json_is_string(type)) {
		ws_error(c, "bad_message", "missing string field \"type\"");
		goto out;
	}
	/* Echoed in answers (unknown_type): no type is longer. */
	if (json_string_length(type) > WS_TYPE_MAX) {
		ws_error(c, "bad_message", "type: at most 64 bytes");
		goto out;
	}
	/* Echoed in the answer: a large one would make the answer large. */
	id = json_object_get(msg, "id");
	if (id != NULL &&
	    json_dumpb(id, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) >
	            WS_ID_MAX) {
		ws_error(c, "bad_message",
		         "id: at most "
		         "128"
		         " bytes of JSON");
		goto out;
	}
	if (strcmp(json_string_value(type), "ping") == 0) {
		json_t *pong = json_pack("{s:s}", "type", "pong");

		if (id != NULL)
			json_object_set(pong, "id", id);
		ws_queue_json(c, pong);

	} else if (ws_handler(c)->message != NULL) {
		ws_handler(c)->message(ws_handler(c)->arg, c->id,
		                       json_string_value(type), msg);
	} else {
		ws_error(c, "unknown_type", json_string_value(type));
	}
out:
	json_decref(msg);
}

/*
 * The per-socket rate limit, a token bucket: limits.ws_messages_per_minute
 * a minute, in bursts of up to a sixth of it. 0: the message may go on;
 * 1: refused (error rate_limited); 2: the socket went on sending another
 * burst's worth while refused, and is closed.
 */
static int
ws_rate_take(struct gw_http *h, struct conn *c)
{
	float per_ms = (float)h->cfg->ws_messages_per_minute / 60000.0f;
	float burst = (float)h->cfg->ws_messages_per_minute / 6.0f;
	uint64_t now = uv_now(h->loop);

	if (burst < 1)
		burst = 1;
	c->tokens += (float)(now - c->tokens_at) * per_ms;
	c->tokens_at = now;
	if (c->tokens > burst)
		c->tokens = burst;
	c->tokens -= 1;
	if (c->tokens >= 0)
		return 0;
	gw_metrics_error(GW_ERR_WS);
	return c->tokens < -burst ? 2 : 1;
}

/*
 * A piece of a message: libwebsockets hands over at most
 * limits.ws_rx_buffer bytes at a time, and a frame's fragments one by one.
 * A message that arrives whole in one piece is handled where it lies; the
 * others are gathered in c->rx, which starts at WS_RX_FIRST bytes, grows
 * by doubling (up to limits.ws_message_max) and goes once the message is
 * handled, so that an idle socket holds no buffer.
 */
static int
ws_receive(struct gw_http *h, struct lws *wsi, struct conn *c, void *in,
           size_t len)
{
	size_t max = (size_t)h->cfg->ws_message_max, have, cap;
	const char *text = in;
	struct ws_rx *rx = c->rx;

	have = rx != NULL ? rx->len : 0;
	/*
	 * What the frame announces counts too: a header claiming 2^62 bytes
	 * is refused at its first piece, not after 64 KiB of it.
	 */
	if (have + len > max || lws_remaining_packet_payload(wsi) > max ||
	    have + len + lws_remaining_packet_payload(wsi) > max) {
		ws_refuse(c, GW_REFUSAL_WS_TOO_BIG,
		          LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		          "message too big");
		return 0;
	}
	if (lws_frame_is_binary(wsi)) {
		ws_refuse(c, GW_REFUSAL_WS_PROTOCOL,
		          LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		          "text frames only");
		return 0;
	}
	if (rx != NULL || !lws_is_final_fragment(wsi) ||
	    lws_remaining_packet_payload(wsi)) {
		if (rx == NULL || rx->len + len > rx->cap) {
			cap = rx != NULL ? rx->cap * 2 : WS_RX_FIRST;
			if (cap < have + len)
				cap = have + len;
			if (cap > max)
				cap = max;
			rx = xrealloc(rx, sizeof(*rx) + cap);
			rx->len = have;
			rx->cap = cap;
			c->rx = rx;
		}
		memcpy(rx->data + rx->len, in, len);
		rx->len += len;
		if (!lws_is_final_fragment(wsi) ||
		    lws_remaining_packet_payload(wsi))
			return 0;
		text = rx->data;
		len = rx->len;
	}
	switch (ws_rate_take(h, c)) {
	case 0:
		ws_message(c, text, len);
		break;
	case 1:
		ws_error(c, "rate_limited", "too many messages: slow down");
		break;
	default:
		ws_refuse(c, GW_REFUSAL_WS_RATE,
		          LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limit");
		break;
	}
	/* c->rx is still this message's: nothing above replaces it. */
	free(c->rx);
	c->rx = NULL;
	return 0;
}

/* The queue is empty: the handler that asked is told (it may send). */
static void
ws_drained(struct conn *c)
{
	if (!c->want_drained || c->closing)
		return;
	c->want_drained = 0;
	if (ws_handler(c)->drained != NULL)
		ws_handler(c)->drained(ws_handler(c)->arg, c->id);
}

static int
ws_writeable(struct lws *wsi, struct conn *c)
{
	struct ws_msg *m = c->sq_head;

	if (c->ping_due && !c->closing) {
		/*
		 * Not empty: lws 4.1 does not pass an empty pong to the
		 * callback (LWS_CALLBACK_RECEIVE_PONG), and the answer to
		 * this ping is how a live socket is told apart.
		 */
		unsigned char ping[LWS_PRE + 4];

		memcpy(ping + LWS_PRE, "idle", 4);
		c->ping_due = 0;
		if (lws_write(wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 0)
			return -1;
		if (m != NULL)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (m == NULL) {
		ws_drained(c);
		return 0;
	}
	if (m->close) {
		/*
		 * Queued messages have gone out before it. lws 4.1 on libuv
		 * kills the socket before its own close frame is written
		 * ("close_and_handled uv repeat test"), so write the close
		 * frame here and then drop the connection (ws_unlink frees
		 * it).
		 */
		lws_write(wsi, m->buf + LWS_PRE, m->len, WS_WRITE_CLOSE);
		return -1;
	}
	c->last_write = (uint32_t)m->len;
	if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) <
	    (int)m->len)
		return -1;
	c->sq_head = m->next;
	if (c->sq_head == NULL)
		c->sq_tail = NULL;
	c->sq_bytes -= (uint32_t)m->len;
	free(m);
	if (c->sq_head != NULL)
		lws_callback_on_writable(wsi);
	else
		ws_drained(c);
	return 0;
}

/*
 * Silence: a socket that sent nothing (not even a pong) for
 * limits.ws_idle_timeout is pinged; one silent IDLE_GRACE_MS more (or the
 * idle timeout, when shorter) is closed.
 * TCP keepalive finds vanished peers too, but only after about 90 s, and
 * not a peer that keeps its TCP connection but stopped reading.
 */
struct idle_scan {
	uint64_t now, idle, grace;
};

static void
idle_check_one(void *arg, uint64_t id, void *value)
{
	const struct idle_scan *sc = arg;
	struct conn *c = value;

	(void)id;
	if (c->closing)
		return;
	if (c->pinged && sc->now - c->last_rx >= sc->idle + sc->grace) {
		gw_info("ws.idle_closed", "conn=%lu silent_ms=%llu", c->id,
		        (unsigned long long)(sc->now - c->last_rx));
		ws_close_later(c, LWS_CLOSE_STATUS_GOINGAWAY, "idle");
	} else if (!c->pinged && sc->now - c->last_rx >= sc->idle) {
		c->pinged = 1;
		c->ping_due = 1;
		lws_callback_on_writable(c->wsi);
	}
}

static void
on_idle_check(uv_timer_t *t)
{
	struct gw_http *h = t->data;
	struct idle_scan sc;

	sc.now = uv_now(h->loop);
	sc.idle = (uint64_t)h->cfg->ws_idle_timeout * 1000;
	sc.grace = sc.idle < IDLE_GRACE_MS ? sc.idle : IDLE_GRACE_MS;
	/* Closing only queues a frame: the map does not change meanwhile. */
	idmap_each(h->by_id, idle_check_one, &sc);
}

/*
 * The client's close frame. lws 4.1 answers one whose code is not one a
 * peer may send with 1002 itself, but echoes a 1-byte payload (a code
 * needs 2, RFC 6455 5.5.1): that one is answered 1002 here, and the
 * connection dropped. Returns what the lws callback returns.
 */
static int
ws_peer_close(struct conn *c, struct lws *wsi, const void *in, size_t len)
{
	unsigned char frame[LWS_PRE + 2 + 20];

	(void)in;
	if (c == NULL || c->wsi == NULL || len != 1)
		return 0;
	gw_warn("ws.refused",
	        "conn=%lu code=1002 reason=\"close frame of 1 "
	        "byte\"",
	        c->id);
	gw_metrics_refusal(GW_REFUSAL_WS_PROTOCOL);
	gw_metrics_error(GW_ERR_WS);
	frame[LWS_PRE] = (unsigned char)(LWS_CLOSE_STATUS_PROTOCOL_ERR >> 8);
	frame[LWS_PRE + 1] =
	        (unsigned char)(LWS_CLOSE_STATUS_PROTOCOL_ERR & 0xff);
	memcpy(frame + LWS_PRE + 2, "bad close frame", 15);
	c->closing = 1;
	lws_write(wsi, frame + LWS_PRE, 17, WS_WRITE_CLOSE);
	return -1;
}

/* ---------------------------------------------------------------- callback */

/* ---------------------------------------------------------------- callback */

static int
http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
              void *in, size_t len)
{
	struct gw_http *h = lws_context_user(lws_get_context(wsi));
	struct http_req *r = user;
	char peer[64] = "";

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* limits.max_connections: refused before any byte is read. */
		if (h->open_conns >= (unsigned long)h->cfg->max_connections) {
			gw_metrics_error(GW_ERR_WS);
			return -1;
		}
		break;
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		lws_set_opaque_user_data(wsi, (void *)(uintptr_t)++h->next_id);
		h->open_conns++;
		gw_metrics_conn(GW_CONN_HTTP, 1);
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (conn_id(wsi) != 0) {
			h->open_conns--;
			gw_metrics_conn(GW_CONN_HTTP, -1);
		}
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/*
		 * A WebSocket handshake lws gave to this protocol: it asked
		 * for no subprotocol (lws's default is the first, this one),
		 * or for "http". No socket of ours would serve it, and a
		 * socket nobody serves would never be counted, limited or
		 * closed when idle.
		 */
		lws_get_peer_simple(wsi, peer, sizeof(peer));
		gw_warn("ws.refused", "peer=%s reason=\"no subprotocol\"",
		        peer);
		gw_metrics_error(GW_ERR_WS);
		return 1;
	case LWS_CALLBACK_HTTP:
		return http_request(h, wsi, r, (const char *)in);
	case LWS_CALLBACK_HTTP_BODY:
		return http_body(wsi, r, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (r->state == REQ_READING)
			return http_dispatch(h, wsi, r);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_writeable(wsi, r);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (r != NULL)
			http_req_forget(h, r);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Whether origin is one the subprotocol p accepts. */
static int
ws_origin_ok(const struct gw_http *h, const struct gw_ws_protocol *p,
             const char *origin)
{
	return ((p->origins & GW_WS_STAFF_ORIGINS) &&
	        gw_config_origin_allowed(h->cfg, origin)) ||
	       ((p->origins & GW_WS_RESIDENT_ORIGINS) &&
	        gw_config_widget_origin(h->cfg, origin));
}

/* The hello every socket gets first, with what its protocol adds. */
static void
ws_hello(struct conn *c, const struct gw_ws_protocol *p)
{
	json_t *hello = json_pack("{s:s, s:s, s:s}", "type", "hello",
	                          "protocol", p->name, "server",
	                          "switchboard/" SWITCHBOARD_VERSION);

	if (p->hello != NULL)
		p->hello(p->handler.arg, hello);
	ws_queue_json(c, hello);
}

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
            void *in, size_t len)
{
	struct gw_http *h = lws_context_user(lws_get_context(wsi));
	const struct gw_ws_protocol *p;
	struct conn *c = user;
	char origin[256] = "", peer[64] = "", uri[64] = "", clean[256];
	char addr[64] = "";
	unsigned idx;

	/* Its subprotocol: the index gw_http_start put in lws's entry. */
	idx = lws_get_protocol(wsi) != NULL
	              ? (unsigned)(uintptr_t)lws_get_protocol(wsi)->user
	              : 0;
	if (idx >= WS_PROTOCOLS_MAX)
		idx = 0;
	p = &h->ws[idx];
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		lws_get_peer_simple(wsi, peer, sizeof(peer));
		if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <=
		            0 ||
		    strcmp(uri, WS_PATH) != 0) {
			gw_warn("ws.refused", "peer=%s reason=\"bad path\"",
			        peer);
			return 1;
		}
		if (h->draining) {
			gw_info("ws.refused", "peer=%s reason=draining", peer);
			return 1;
		}
		if (lws_hdr_copy(wsi, origin, sizeof(origin),
		                 WSI_TOKEN_ORIGIN) <= 0 ||
		    !ws_origin_ok(h, p, origin)) {
			gw_warn("ws.refused",
			        "peer=%s origin=\"%s\" reason=\"origin not "
			        "allowed\"",
			        peer,
			        gw_log_clean(clean, sizeof(clean), origin));
			gw_metrics_error(GW_ERR_WS);
			return 1;
		}
		client_address(h, wsi, addr, sizeof(addr));
		if (ip_count(h, ip_key_of(addr)) >=
		    (unsigned long)h->cfg->ws_per_ip) {
			gw_warn("ws.refused",
			        "peer=%s client=%s reason=\"too many sockets "
			        "from this address\"",
			        peer, gw_log_clean(clean, sizeof(clean), addr));
			gw_metrics_error(GW_ERR_WS);
			return 1;
		}
		break;
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof(*c));
		c->h = h;
		c->wsi = wsi;
		c->id = conn_id(wsi);
		c->proto = idx & (WS_PROTOCOLS_MAX - 1);
		idmap_put(h->by_id, c->id, c);
		client_address(h, wsi, addr, sizeof(addr));
		c->ip_key = ip_key_of(addr);
		ip_add(h, c->ip_key, 1);
		c->last_rx = c->tokens_at = uv_now(h->loop);
		c->tokens = (float)h->cfg->ws_messages_per_minute / 6.0f;
		h->ws_count++;
		gw_metrics_conn(GW_CONN_HTTP, -1);
		gw_metrics_conn(GW_CONN_WS, 1);
		lws_get_peer_simple(wsi, peer, sizeof(peer));
		gw_info("ws.open", "conn=%lu peer=%s client=%s protocol=%s",
		        c->id, peer, addr, p->name);
		ws_hello(c, p);
		if (p->handler.open != NULL) {
			char *cookie;
			unsigned count;

			/*
			 * A council site embedding the residents' client
			 * (widget_origins) opens resident sockets only: a
			 * staff session cookie its page's browser sends along
			 * (same site as the desk, say) is not read, so that
			 * page can never act as a desk.
			 */
			if (!p->staff_cookie ||
			    lws_hdr_copy(wsi, origin, sizeof(origin),
			                 WSI_TOKEN_ORIGIN) <= 0 ||
			    !gw_config_origin_allowed(h->cfg, origin))
				cookie = xstrdup("");
			else
				cookie = http_header_token(
				        wsi, WSI_TOKEN_HTTP_COOKIE, "; ",
				        &count);
			p->handler.open(p->handler.arg, c->id, cookie, addr);
			free(cookie);
		}
		break;
	case LWS_CALLBACK_RECEIVE:
		if (c->closing)
			return 0; /* discard until the close frame is out */
		c->last_rx = uv_now(h->loop);
		c->pinged = 0;
		return ws_receive(h, wsi, c, in, len);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return ws_peer_close(c, wsi, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		if (c != NULL && c->wsi != NULL) {
			c->last_rx = uv_now(h->loop);
			c->pinged = 0;
		}
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_writeable(wsi, c);
	case LWS_CALLBACK_CLOSED:
		if (c == NULL || c->wsi == NULL)
			break; /* refused before it was established */
		gw_info("ws.close", "conn=%lu", c->id);
		ip_add(h, c->ip_key, -1);
		ws_unlink(h, c);
		if (ws_handler(c)->close != NULL)
			ws_handler(c)->close(ws_handler(c)->arg, c->id);
		h->ws_count--;
		gw_metrics_conn(GW_CONN_WS, -1);
		gw_metrics_conn(GW_CONN_HTTP, 1);
		break;
	default:
		break;
	}
	return 0;
}

/* ---------------------------------------------------------------- setup */

/*
 * The protocols: "http" (lws's default, for every HTTP request), then one
 * per registered subprotocol, in registration order. Each WebSocket gets
 * a receive buffer of limits.ws_rx_buffer bytes from libwebsockets for as
 * long as it is open, and its messages in pieces of that size (ws_receive
 * gathers them): small enough that an idle socket costs little, large
 * enough that most messages arrive in one piece. Sends are cut at
 * WS_TX_PACKET bytes, as they were when the buffer was 4096 (lws cuts them
 * at the receive buffer's size when tx_packet_size is 0).
 */
static void
http_setup_protocols(struct gw_http *h, const struct gw_config *cfg)
{
	unsigned i;

	memset(h->protocols, 0, sizeof(h->protocols));
	h->protocols[0].name = "http";
	h->protocols[0].callback = http_callback;
	h->protocols[0].per_session_data_size = sizeof(struct http_req);
	for (i = 0; i < h->nws; i++) {
		struct lws_protocols *lp = &h->protocols[i + 1];

		lp->name = h->ws[i].name;
		lp->callback = ws_callback;
		lp->per_session_data_size = sizeof(struct conn);
		lp->rx_buffer_size = (size_t)cfg->ws_rx_buffer;
		lp->tx_packet_size = WS_TX_PACKET;
		lp->user = (void *)(uintptr_t)i;
	}
	/* h->protocols[h->nws + 1] stays zeroed: the end of the list. */
}

static void
http_setup_options(struct gw_http *h, const struct gw_config *cfg)
{
	int tls = cfg->tls_certificate[0] != '\0';
	unsigned i, n = 0;

	h->csp = xasprintf("default-src 'self'; object-src 'none'; "
	                   "base-uri 'none'; form-action 'self'; "
	                   "frame-ancestors %s",
	                   cfg->frame_ancestors);
	h->hdr[n].name = "content-security-policy:";
	h->hdr[n++].value = h->csp;
	h->hdr[n].name = "x-content-type-options:";
	h->hdr[n++].value = "nosniff";
	h->hdr[n].name = "referrer-policy:";
	h->hdr[n++].value = "same-origin";
	if (tls) {
		h->hdr[n].name = "strict-transport-security:";
		h->hdr[n++].value = "max-age=31536000; includeSubDomains";
	}
	for (i = 0; i + 1 < n; i++)
		h->hdr[i].next = &h->hdr[i + 1];
}

static int
http_deprecated(void)
{
	return 0;
}

/* No libwebsockets validity pings: see gw_http_start. */
static const lws_retry_bo_t no_validity_timer = {
        .secs_since_valid_ping = 0,
        .secs_since_valid_hangup = 0,
};

struct gw_http *
gw_http_new(uv_loop_t *loop, const struct gw_config *cfg)
{
	struct gw_http *h = xcalloc(1, sizeof(*h));

	h->loop = loop;
	h->cfg = cfg;
	h->by_id = idmap_new();
	h->waiting = idmap_new();
	h->per_ip = idmap_new();
	h->routes = http_routes_new();
	http_setup_options(h, cfg);
	return h;
}

void
gw_http_route_add(struct gw_http *h, const struct gw_http_route *r)
{
	if (h->ctx != NULL)
		fatalx("http route %s: added after the server started",
		       r->path);
	http_routes_add(h->routes, r);
}

void
gw_http_ws_register(struct gw_http *h, const struct gw_ws_protocol *p)
{
	unsigned i;

	if (h->ctx != NULL || h->nws == WS_PROTOCOLS_MAX || p->name == NULL ||
	    strcmp(p->name, "http") == 0)
		fatalx("ws protocol %s: after start, too many or bad name",
		       p->name != NULL ? p->name : "");
	for (i = 0; i < h->nws; i++)
		if (strcmp(h->ws[i].name, p->name) == 0)
			fatalx("ws protocol %s: registered twice", p->name);
	h->ws[h->nws++] = *p;
}

void
gw_http_ws_unregister(struct gw_http *h, const char *name)
{
	unsigned i;

	for (i = 0; i < h->nws; i++)
		if (strcmp(h->ws[i].name, name) == 0) {
			memset(&h->ws[i].handler, 0, sizeof(h->ws[i].handler));
			h->ws[i].hello = NULL;
		}
}

int
gw_http_start(struct gw_http *h, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	const struct gw_config *cfg = h->cfg;
	void *loops[1] = {h->loop};
	long idle_period;

	if (h->ctx != NULL)
		fatalx("gw_http_start: started twice");
	http_setup_protocols(h, cfg);
	lws_set_log_level(getenv("SB_LWS_DEBUG") ? 0x3f : (LLL_ERR | LLL_WARN),
	                  http_lws_log);

	memset(&info, 0, sizeof(info));
	info.port = cfg->listen_port;
	info.iface = cfg->listen_address;
	info.protocols = h->protocols;
	info.headers = h->hdr;
	info.user = h;
	info.foreign_loops = loops;
	info.options =
	        LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (strchr(cfg->listen_address, ':') == NULL)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg->tls_certificate[0] != '\0') {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_certificate;
		info.ssl_private_key_filepath = cfg->tls_key;
	}
	/*
	 * No fd_limit_per_thread: with it set, libwebsockets 4.1 finds the
	 * connection of each ready descriptor by a linear search of all of
	 * them (wsi_from_fd); without it, by index into a table sized by the
	 * process's open-files limit. limits.max_connections is enforced in
	 * LWS_CALLBACK_FILTER_NETWORK_CONNECTION instead.
	 */
	/*
	 * Every header of a request, together: a council's intranet sets
	 * many cookies on its domain, and the desk's comes with them. Held
	 * only while a request's headers are read and handled (a WebSocket
	 * gives it back once open).
	 */
	info.max_http_header_data = (unsigned short)cfg->http_header_max;
	info.timeout_secs = 30;
	/*
	 * Dead peers (a phone that lost signal, a desk whose machine died)
	 * are found by TCP keepalive: a socket silent for 60 s is probed
	 * every 10 s and closed after 3 unanswered probes, which starts a
	 * desk's grace period. Not by libwebsockets' validity timer: 4.1
	 * re-inserts each connection's timer into one sorted list on every
	 * frame, a linear walk over all connections (8% of the daemon's CPU
	 * with 11,000 sockets).
	 */
	info.retry_and_idle_policy = &no_validity_timer;
	info.ka_time = 60;
	info.ka_probes = 3;
	info.ka_interval = 10;
	info.server_string = "switchboard";

	h->ctx = lws_create_context(&info);
	if (h->ctx == NULL) {
		snprintf(err, errlen,
		         "cannot listen on %s port %d (address in use, or "
		         "bad TLS certificate or key)",
		         cfg->listen_address, cfg->listen_port);
		return -1;
	}
	idle_period = cfg->ws_idle_timeout * 1000 / 4;
	if (idle_period > IDLE_CHECK_MAX_MS)
		idle_period = IDLE_CHECK_MAX_MS;
	uv_timer_init(h->loop, &h->idle_timer);
	h->idle_timer.data = h;
	h->idle_timer_open = 1;
	uv_timer_start(&h->idle_timer, on_idle_check, (uint64_t)idle_period,
	               (uint64_t)idle_period);
	gw_info("http.listen",
	        "address=%s port=%d tls=%s routes=%zu "
	        "protocols=%u",
	        cfg->listen_address, cfg->listen_port,
	        cfg->tls_certificate[0] ? "on" : "off",
	        http_routes_count(h->routes), h->nws);
	return 0;
}

static void
drain_one(void *arg, uint64_t id, void *value)
{
	(void)arg;
	(void)id;
	ws_close_later(value, LWS_CLOSE_STATUS_GOINGAWAY,
	               "server shutting down");
}

void
gw_http_drain(struct gw_http *h)
{
	if (h->draining)
		return;
	h->draining = 1;
	if (h->ctx != NULL)
		lws_context_deprecate(h->ctx, http_deprecated);
	idmap_each(h->by_id, drain_one, NULL);
}

int
gw_http_answer(struct gw_http *h, unsigned long id,
               const struct gw_http_response *res)
{
	struct http_req *r = idmap_get(h->waiting, id);

	if (r == NULL || r->state != REQ_WAITING)
		return -1;
	idmap_del(h->waiting, id);
	http_answer_set(r, res);
	r->state = REQ_ANSWER;
	/* Answered inside its handler: http_dispatch sends it on return. */
	if (h->calling != r)
		lws_callback_on_writable(r->wsi);
	return 0;
}

int
gw_http_respond(struct gw_http *h, unsigned long id, int status,
                const char *body, const char *set_cookie)
{
	struct gw_http_field cookie = {"Set-Cookie", set_cookie};
	struct gw_http_response res = {status,
	                               "application/json",
	                               body,
	                               strlen(body),
	                               set_cookie != NULL ? &cookie : NULL,
	                               set_cookie != NULL ? 1 : 0};

	return gw_http_answer(h, id, &res);
}

int
gw_http_ws_send(struct gw_http *h, unsigned long conn, json_t *msg)
{
	struct conn *c = ws_find(h, conn);

	if (c == NULL || c->closing) {
		json_decref(msg);
		return -1;
	}
	ws_queue_json(c, msg);
	return 0;
}

int
gw_http_ws_send_text(struct gw_http *h, unsigned long conn, const char *text)
{
	struct conn *c = ws_find(h, conn);

	if (c == NULL || c->closing)
		return -1;
	return ws_queue(c, text);
}

size_t
gw_http_ws_room(struct gw_http *h, unsigned long conn)
{
	struct conn *c = ws_find(h, conn);
	size_t limit = (size_t)h->cfg->ws_send_queue;

	/* Everything queued counts here, the head of the line too. */
	if (c == NULL || c->closing || c->sq_bytes >= limit)
		return 0;
	return limit - c->sq_bytes;
}

void
gw_http_ws_want_drained(struct gw_http *h, unsigned long conn)
{
	struct conn *c = ws_find(h, conn);

	if (c == NULL || c->closing)
		return;
	c->want_drained = 1;
	/* Nothing of ours queued: told at the next WRITEABLE. */
	if (c->sq_head == NULL)
		lws_callback_on_writable(c->wsi);
}

void
gw_http_ws_close(struct gw_http *h, unsigned long conn, int code,
                 const char *reason)
{
	struct conn *c = ws_find(h, conn);

	if (c != NULL && !c->closing)
		ws_close_later(c, (enum lws_close_status)code, reason);
}

unsigned
gw_http_ws_count(const struct gw_http *h)
{
	return h->ws_count;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    n < 1024 * 1024 && fseek(f, 0, SEEK_SET) == 0) {
		buf = xmalloc((size_t)n + 1);
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

int
gw_http_reload_tls(struct gw_http *h, const struct gw_config *cfg)
{
	size_t clen = 0, klen = 0;
	char *cert, *key;
	int rc = -1;

	if (cfg->tls_certificate[0] == '\0')
		return 0;
	cert = read_file(cfg->tls_certificate, &clen);
	key = read_file(cfg->tls_key, &klen);
	if (cert != NULL && key != NULL &&
	    lws_tls_cert_updated(h->ctx, cfg->tls_certificate, cfg->tls_key,
	                         cert, clen, key, klen) == 0)
		rc = 0;
	if (key != NULL) {
		explicit_bzero(key, klen);
		free(key);
	}
	free(cert);
	return rc;
}

void
gw_http_close(struct gw_http *h)
{
	if (h == NULL || h->destroying)
		return;
	/* Asynchronous on a foreign loop: callbacks may still reach h. */
	h->destroying = 1;
	if (h->idle_timer_open) {
		h->idle_timer_open = 0;
		uv_close((uv_handle_t *)&h->idle_timer, NULL);
	}
	if (h->ctx != NULL)
		lws_context_destroy(h->ctx);
}

void
gw_http_free(struct gw_http *h)
{
	if (h == NULL)
		return;
	gw_http_close(h);
	/*
	 * lws 4.1 on a foreign loop frees the context only when destroy is
	 * called again after the loop has closed its handles.
	 */
	if (h->ctx != NULL)
		lws_context_destroy(h->ctx);
	idmap_free(h->by_id);
	idmap_free(h->waiting);
	idmap_free(h->per_ip);
	http_routes_free(h->routes);
	free(h->csp);
	free(h);
}
