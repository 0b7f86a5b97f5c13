/*
 * test_http.c: the HTTP server of http.c on a real loop and real sockets:
 * the route table as clients meet it (exact and prefix routes, 404, 405
 * with Allow, per-route body limits answered before the body is read, 411,
 * 400, the connection closed after a refused body), what a handler is
 * given (method, path, query, the headers it asked for by name, repeated
 * ones included, the raw body with its NULs and CR/LF, the client's
 * address) and its answer by id, now or later, or for a client that left;
 * and the subprotocol table (each protocol's origins, its cookie rule, its
 * hello, its own handler; unknown, absent and "http" subprotocols
 * refused). A client thread speaks plain HTTP/1.1 and RFC 6455 over
 * blocking sockets while the loop runs here. The test includes http.c
 * (h2o's way) to see its waiting requests and the size of a socket's
 * state. Ends with uv_loop_close() == 0.
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.c"
#include "support.h"

#define STAFF     "http://staff.example"
#define RESIDENT  "https://council.example"
#define REPLY_MAX 8192

/* ------------------------------------------------------------ the server */

struct seen {
	int calls;
	unsigned long id;
	unsigned method;
	char method_name[16];
	char path[256];
	char query[256];
	char body[256];
	size_t body_len;
	char peer[64];
	size_t nheaders;
	char hname[8][64];
	char hvalue[8][512];
	unsigned hcount[8];
};

struct ws_seen {
	int opens, messages, closes;
	char cookie[512];
	char peer[64];
	char type[64];
	unsigned long conn;
};

static struct fixture {
	uv_loop_t loop;
	struct gw_config cfg;
	char *allowed[2], *widget[2];
	struct gw_http *h;
	struct seen seen;
	unsigned long later_id; /* /later: answered by the test */
	struct ws_seen staff, resident;
} * fx;

static void
record(const struct gw_http_request *req)
{
	struct seen *s = &fx->seen;
	size_t i;

	s->calls++;
	s->id = req->id;
	s->method = req->method;
	snprintf(s->method_name, sizeof(s->method_name), "%s",
	         req->method_name);
	snprintf(s->path, sizeof(s->path), "%s", req->path);
	snprintf(s->query, sizeof(s->query), "%s", req->query);
	assert_true(req->body_len < sizeof(s->body));
	memcpy(s->body, req->body, req->body_len);
	/* The NUL after the body, not part of it. */
	assert_int_equal(req->body[req->body_len], '\0');
	s->body_len = req->body_len;
	snprintf(s->peer, sizeof(s->peer), "%s", req->peer);
	s->nheaders = req->nheaders;
	for (i = 0; i < req->nheaders && i < 8; i++) {
		snprintf(s->hname[i], sizeof(s->hname[i]), "%s",
		         req->headers[i].name);
		snprintf(s->hvalue[i], sizeof(s->hvalue[i]), "%s",
		         req->headers[i].value);
		s->hcount[i] = req->headers[i].count;
	}
}

/* Answers at once, inside the handler. */
static void
on_now(void *arg, const struct gw_http_request *req)
{
	struct gw_http_field f = {"X-Test", "now"};
	struct gw_http_response res = {201, "text/plain", "done", 4, &f, 1};

	(void)arg;
	record(req);
	assert_int_equal(gw_http_answer(req->http, req->id, &res), 0);
	/* Once only. */
	assert_int_equal(gw_http_answer(req->http, req->id, &res), -1);
}

/* Answered later, by id, from a timer: what a PostgreSQL reply does. */
static void
on_later_timer(uv_timer_t *t)
{
	struct gw_http_field f[] = {{"X-Test", "later"},
	                            {"Cache-Control", "private, max-age=5"}};
	struct gw_http_response res = {202, NULL, "{\"ok\":true}", 11, f, 2};

	assert_int_equal(gw_http_answer(fx->h, fx->later_id, &res), 0);
	uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void
on_later(void *arg, const struct gw_http_request *req)
{
	uv_timer_t *t = xcalloc(1, sizeof(*t));

	(void)arg;
	record(req);
	fx->later_id = req->id;
	uv_timer_init(&fx->loop, t);
	uv_timer_start(t, on_later_timer, 10, 0);
}

/* Never answered by itself: the test answers after the client left. */
static void
on_never(void *arg, const struct gw_http_request *req)
{
	(void)arg;
	record(req);
	fx->later_id = req->id;
}

static const char *const HOOK_HEADERS[] = {"X-Switchboard-Signature",
                                           "X-Switchboard-Timestamp",
                                           "X-Twilio-Signature",
                                           "Authorization",
                                           "x-forwarded-for",
                                           "Cookie",
                                           NULL};

static void
ws_open(void *arg, unsigned long conn, const char *cookie, const char *peer)
{
	struct ws_seen *w = arg;

	w->opens++;
	w->conn = conn;
	snprintf(w->cookie, sizeof(w->cookie), "%s", cookie);
	snprintf(w->peer, sizeof(w->peer), "%s", peer);
}

static void
ws_message_seen(void *arg, unsigned long conn, const char *type, json_t *msg)
{
	struct ws_seen *w = arg;

	(void)msg;
	w->messages++;
	snprintf(w->type, sizeof(w->type), "%s", type);
	gw_http_ws_send(fx->h, conn,
	                json_pack("{s:s, s:s}", "type", "seen", "by",
	                          w == &fx->staff ? "staff" : "resident"));
}

static void
ws_close_seen(void *arg, unsigned long conn)
{
	struct ws_seen *w = arg;

	(void)conn;
	w->closes++;
}

static void
staff_hello(void *arg, json_t *hello)
{
	(void)arg;
	json_object_set_new(hello, "extra", json_integer(1));
}

static int
setup(void **state)
{
	struct gw_http_route routes[] = {
	        {GW_HTTP_POST | GW_HTTP_PUT, "/now", GW_HTTP_EXACT, 64,
	         HOOK_HEADERS, on_now, NULL},
	        {GW_HTTP_POST, "/later", GW_HTTP_EXACT, GW_HTTP_BODY_CONFIGURED,
	         NULL, on_later, NULL},
	        {GW_HTTP_GET, "/get", GW_HTTP_EXACT, 0, NULL, on_now, NULL},
	        {GW_HTTP_POST, "/hooks/", GW_HTTP_PREFIX, 16, HOOK_HEADERS,
	         on_now, NULL},
	        {GW_HTTP_POST, "/hooks/long/", GW_HTTP_PREFIX, 32, NULL, on_now,
	         NULL},
	        {GW_HTTP_POST, "/never", GW_HTTP_EXACT, 0, NULL, on_never,
	         NULL},
	};
	char err[256];
	size_t i;

	(void)state;
	fx = xcalloc(1, sizeof(*fx));
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	fx->allowed[0] = STAFF;
	fx->widget[0] = RESIDENT;
	fx->cfg.listen_address = "127.0.0.1";
	fx->cfg.listen_port = sb_free_port();
	fx->cfg.tls_certificate = "";
	fx->cfg.tls_key = "";
	fx->cfg.frame_ancestors = "'self'";
	fx->cfg.allowed_origins = fx->allowed;
	fx->cfg.n_allowed_origins = 1;
	fx->cfg.widget_origins = fx->widget;
	fx->cfg.n_widget_origins = 1;
	fx->cfg.max_connections = 100;
	fx->cfg.http_body_max = 4096;
	fx->cfg.http_header_max = 16384;
	fx->cfg.ws_message_max = 65536;
	fx->cfg.ws_rx_buffer = 256;
	fx->cfg.ws_per_ip = 100;
	fx->cfg.ws_send_queue = 65536;
	fx->cfg.ws_messages_per_minute = 600;
	fx->cfg.ws_idle_timeout = 60;
	fx->h = gw_http_new(&fx->loop, &fx->cfg);
	for (i = 0; i < nitems(routes); i++)
		gw_http_route_add(fx->h, &routes[i]);
	{
		struct gw_ws_protocol staff = {"test.staff.v1",
		                               GW_WS_STAFF_ORIGINS,
		                               1,
		                               staff_hello,
		                               {ws_open, ws_message_seen,
		                                ws_close_seen, &fx->staff,
		                                NULL}};
		struct gw_ws_protocol resident = {"test.resident.v1",
		                                  GW_WS_RESIDENT_ORIGINS,
		                                  0,
		                                  NULL,
		                                  {ws_open, ws_message_seen,
		                                   ws_close_seen, &fx->resident,
		                                   NULL}};

		gw_http_ws_register(fx->h, &staff);
		gw_http_ws_register(fx->h, &resident);
	}
	if (gw_http_start(fx->h, err, sizeof(err)) != 0)
		fail_msg("start: %s", err);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	gw_http_close(fx->h);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	gw_http_free(fx->h);
	assert_int_equal(sb_loop_finish(&fx->loop), 0);
	free(fx);
	fx = NULL;
	return 0;
}

/* ------------------------------------------------------------ the client */

struct exchange {
	const char *req;
	size_t req_len;
	int ws; /* a WebSocket: read the handshake answer and one frame */
	const char *ws_send; /* then send this text frame, read one more */
	char reply[REPLY_MAX];
	size_t reply_len;
	int closed; /* the server closed the connection after its answer */
	volatile int done;
};

static int
client_connect(void)
{
	struct sockaddr_in a;
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)fx->cfg.listen_port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Bytes of a complete HTTP answer at the start of buf, or 0. */
static size_t
http_complete(const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4), *cl;
	size_t head;

	if (end == NULL)
		return 0;
	head = (size_t)(end - buf) + 4;
	if (strncmp(buf, "HTTP/1.1 101", 12) == 0 ||
	    strncmp(buf, "HTTP/1.1 304", 12) == 0)
		return head;
	cl = strcasestr(buf, "\r\ncontent-length:");
	if (cl == NULL || cl > end)
		return head;
	head += strtoul(cl + 17, NULL, 10);
	return len >= head ? head : 0;
}

/* Bytes of a complete server frame at buf (unmasked), or 0. */
static size_t
frame_complete(const unsigned char *buf, size_t len)
{
	size_t n;

	if (len < 2)
		return 0;
	n = buf[1] & 0x7f;
	if (n == 126)
		return len >= 4 && len >= 4 + (size_t)(buf[2] << 8 | buf[3])
		               ? 4 + (size_t)(buf[2] << 8 | buf[3])
		               : 0;
	return len >= 2 + n ? 2 + n : 0;
}

static void
read_until(int fd, struct exchange *x, size_t (*done)(struct exchange *))
{
	ssize_t n;

	while (done(x) == 0 && x->reply_len < sizeof(x->reply) - 1) {
		n = recv(fd, x->reply + x->reply_len,
		         sizeof(x->reply) - 1 - x->reply_len, 0);
		if (n <= 0) {
			x->closed = 1;
			break;
		}
		x->reply_len += (size_t)n;
		x->reply[x->reply_len] = '\0';
	}
}

static size_t
http_done_cb(struct exchange *x)
{
	return http_complete(x->reply, x->reply_len);
}

/* The handshake answer and then frames: how many whole frames are in. */
static size_t frames_wanted;

static size_t
ws_done_cb(struct exchange *x)
{
	size_t head = http_complete(x->reply, x->reply_len), off, k, f = 0;

	if (head == 0)
		return 0;
	if (strncmp(x->reply, "HTTP/1.1 101", 12) != 0)
		return head;
	for (off = head; f < frames_wanted; off += k, f++) {
		k = frame_complete((const unsigned char *)x->reply + off,
		                   x->reply_len - off);
		if (k == 0)
			return 0;
	}
	return off;
}

static void
send_text_frame(int fd, const char *text)
{
	unsigned char buf[256];
	size_t n = strlen(text), i;

	assert_true(n < 126 && n + 6 <= sizeof(buf));
	buf[0] = 0x81;
	buf[1] = (unsigned char)(0x80 | n);
	memcpy(buf + 2, "\x11\x22\x33\x44", 4);
	for (i = 0; i < n; i++)
		buf[6 + i] = (unsigned char)text[i] ^ buf[2 + i % 4];
	assert_int_equal(send(fd, buf, n + 6, 0), (ssize_t)(n + 6));
}

static void
client_main(void *arg)
{
	struct exchange *x = arg;
	int fd = client_connect();

	if (fd < 0) {
		x->done = 1;
		return;
	}
	if (send(fd, x->req, x->req_len, MSG_NOSIGNAL) != (ssize_t)x->req_len)
		x->closed = 1;
	if (!x->ws) {
		read_until(fd, x, http_done_cb);
		/* Whether the server closes it now (a refused body). */
		if (!x->closed) {
			char c;
			struct timeval tv = {0, 300000};

			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
			           sizeof(tv));
			x->closed = recv(fd, &c, 1, 0) == 0;
		}
	} else {
		frames_wanted = 1;
		read_until(fd, x, ws_done_cb);
		if (x->ws_send != NULL &&
		    strncmp(x->reply, "HTTP/1.1 101", 12) == 0) {
			send_text_frame(fd, x->ws_send);
			frames_wanted = 2;
			read_until(fd, x, ws_done_cb);
		}
	}
	close(fd);
	x->done = 1;
}

static int
exchange_done(void *arg)
{
	return ((struct exchange *)arg)->done;
}

/* Sends req (len bytes) on a connection of its own; fills x. */
static void
run_n(struct exchange *x, const char *req, size_t len, int ws,
      const char *ws_send)
{
	uv_thread_t t;

	memset(x, 0, sizeof(*x));
	x->req = req;
	x->req_len = len;
	x->ws = ws;
	x->ws_send = ws_send;
	assert_int_equal(uv_thread_create(&t, client_main, x), 0);
	assert_true(sb_run_until(&fx->loop, exchange_done, x, 10000));
	uv_thread_join(&t);
}

static void
run(struct exchange *x, const char *req)
{
	run_n(x, req, strlen(req), 0, NULL);
}

static int
status_of(const struct exchange *x)
{
	if (strncmp(x->reply, "HTTP/1.1 ", 9) != 0)
		return 0;
	return atoi(x->reply + 9);
}

/* A header of the answer (name lower case, with its colon), or NULL. */
static const char *
header_of(const struct exchange *x, const char *name, char *out, size_t len)
{
	const char *end = strstr(x->reply, "\r\n\r\n"), *p = x->reply, *eol;

	while (end != NULL && (p = strstr(p, "\r\n")) != NULL && p < end) {
		p += 2;
		if (strncasecmp(p, name, strlen(name)) == 0) {
			p += strlen(name);
			while (*p == ' ')
				p++;
			eol = strstr(p, "\r\n");
			snprintf(out, len, "%.*s", (int)(eol - p), p);
			return out;
		}
	}
	return NULL;
}

static const char *
body_of(const struct exchange *x)
{
	const char *end = strstr(x->reply, "\r\n\r\n");

	return end != NULL ? end + 4 : "";
}

/* ------------------------------------------------------------ tests */

static void
test_handler_gets_raw_body_and_named_headers(void **state)
{
	static const char body[] = "a\0b\r\nc\r\n\r\nPOST / HTTP/1.1\r\n\0z";
	char req[1024], v[128];
	struct exchange x;
	int n;

	(void)state;
	n = snprintf(req, sizeof(req),
	             "POST /now?b=2&a=%%20x HTTP/1.1\r\nHost: t\r\n"
	             "X-Switchboard-Signature: sha256=ab\r\n"
	             "x-switchboard-timestamp: 1700000000\r\n"
	             "Authorization: Bearer one\r\n"
	             "AUTHORIZATION: Bearer two\r\n"
	             "X-Forwarded-For: 203.0.113.9\r\n"
	             "X-Forwarded-For: 198.51.100.1\r\n"
	             "Cookie: a=1\r\nCookie: b=2\r\n"
	             "Content-Length: %zu\r\n\r\n",
	             sizeof(body) - 1);
	memcpy(req + n, body, sizeof(body) - 1);
	run_n(&x, req, (size_t)n + sizeof(body) - 1, 0, NULL);
	assert_int_equal(status_of(&x), 201);
	assert_non_null(header_of(&x, "x-test:", v, sizeof(v)));
	assert_string_equal(v, "now");
	assert_string_equal(header_of(&x, "content-type:", v, sizeof(v)),
	                    "text/plain");
	assert_string_equal(header_of(&x, "cache-control:", v, sizeof(v)),
	                    "no-store");
	assert_non_null(
	        header_of(&x, "content-security-policy:", v, sizeof(v)));
	assert_string_equal(body_of(&x), "done");
	assert_false(x.closed); /* kept alive */

	assert_int_equal(fx->seen.calls, 1);
	assert_int_equal(fx->seen.method, GW_HTTP_POST);
	assert_string_equal(fx->seen.method_name, "POST");
	assert_string_equal(fx->seen.path, "/now");
	/* URL-decoded pieces, in their order. */
	assert_string_equal(fx->seen.query, "b=2&a= x");
	/* Exactly the bytes sent: NULs and CR/LF kept. */
	assert_int_equal(fx->seen.body_len, sizeof(body) - 1);
	assert_memory_equal(fx->seen.body, body, sizeof(body) - 1);
	assert_string_equal(fx->seen.peer, "127.0.0.1");
	/* In the order the route named them, with its spelling. */
	assert_int_equal(fx->seen.nheaders, 6);
	assert_string_equal(fx->seen.hname[0], "X-Switchboard-Signature");
	assert_string_equal(fx->seen.hvalue[0], "sha256=ab");
	assert_int_equal(fx->seen.hcount[0], 1);
	/* Names match in any case. */
	assert_string_equal(fx->seen.hvalue[1], "1700000000");
	/* Absent: "" and 0. */
	assert_string_equal(fx->seen.hvalue[2], "");
	assert_int_equal(fx->seen.hcount[2], 0);
	/* Repeated: every occurrence, joined, counted. */
	assert_string_equal(fx->seen.hvalue[3], "Bearer one, Bearer two");
	assert_int_equal(fx->seen.hcount[3], 2);
	assert_string_equal(fx->seen.hvalue[4], "203.0.113.9, 198.51.100.1");
	assert_int_equal(fx->seen.hcount[4], 2);
	assert_string_equal(fx->seen.hvalue[5], "a=1; b=2");
	assert_int_equal(fx->seen.hcount[5], 2);
}

static void
test_custom_header_repeated_shows_the_first(void **state)
{
	struct exchange x;

	(void)state;
	/*
	 * libwebsockets 4.1 keeps only the first of a name it does not know
	 * (http.h says so): a handler sees count 1 and the first value, and
	 * a signature check over it fails safe.
	 */
	run(&x, "POST /hooks/x HTTP/1.1\r\nHost: t\r\n"
	        "X-Switchboard-Signature: sha256=first\r\n"
	        "X-Switchboard-Signature: sha256=second\r\n"
	        "Content-Length: 2\r\n\r\n{}");
	assert_int_equal(status_of(&x), 201);
	assert_string_equal(fx->seen.hvalue[0], "sha256=first");
	assert_int_equal(fx->seen.hcount[0], 1);
	assert_string_equal(fx->seen.path, "/hooks/x");
}

static void
test_answer_later_by_id(void **state)
{
	struct exchange x;
	char v[64];

	(void)state;
	run(&x, "POST /later HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n"
	        "abc");
	assert_int_equal(status_of(&x), 202);
	assert_string_equal(header_of(&x, "content-type:", v, sizeof(v)),
	                    "application/json");
	/* The handler's own Cache-Control, not no-store. */
	assert_string_equal(header_of(&x, "cache-control:", v, sizeof(v)),
	                    "private, max-age=5");
	assert_string_equal(header_of(&x, "x-test:", v, sizeof(v)), "later");
	assert_string_equal(body_of(&x), "{\"ok\":true}");
	assert_string_equal(fx->seen.body, "abc");
	/* The request is no longer waiting: a second answer is refused. */
	assert_null(idmap_get(fx->h->waiting, fx->later_id));
	assert_int_equal(gw_http_respond(fx->h, fx->later_id, 200, "{}", NULL),
	                 -1);
	assert_int_equal(gw_http_respond(fx->h, 987654321, 200, "{}", NULL),
	                 -1);
}

static int
no_connection(void *arg)
{
	(void)arg;
	return fx->h->open_conns == 0 &&
	       idmap_get(fx->h->waiting, fx->later_id) == NULL;
}

static int
handled(void *arg)
{
	(void)arg;
	return fx->later_id != 0;
}

static void
test_answer_for_a_client_that_left(void **state)
{
	static const char req[] = "POST /never HTTP/1.1\r\nHost: t\r\n"
	                          "Content-Length: 0\r\n\r\n";
	int fd, rc;

	(void)state;
	/* The client sends, reads nothing and goes. */
	fx->later_id = 0;
	fd = client_connect();
	assert_true(fd >= 0);
	assert_int_equal(send(fd, req, sizeof(req) - 1, 0),
	                 (ssize_t)(sizeof(req) - 1));
	assert_true(sb_run_until(&fx->loop, handled, NULL, 5000));
	assert_non_null(idmap_get(fx->h->waiting, fx->later_id));
	close(fd);
	/*
	 * lws may notice the close only when it writes: the answer is taken
	 * (0) or refused (-1) if it already has, and goes nowhere either
	 * way; the connection and the request are then let go.
	 */
	sb_run_for(&fx->loop, 50);
	rc = gw_http_respond(fx->h, fx->later_id, 200, "{}", NULL);
	assert_true(rc == 0 || rc == -1);
	assert_true(sb_run_until(&fx->loop, no_connection, NULL, 5000));
	assert_int_equal(gw_http_respond(fx->h, fx->later_id, 200, "{}", NULL),
	                 -1);
}

static void
test_table_answers(void **state)
{
	struct exchange x;
	char v[128];

	(void)state;
	fx->seen.calls = 0;
	/* No route. */
	run(&x, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(&x), 404);
	assert_string_equal(body_of(&x), "{\"error\":\"not found\"}\n");
	assert_false(x.closed);
	/* The path, not the method: 405 with what it takes. */
	run(&x, "DELETE /now HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(&x), 405);
	assert_string_equal(header_of(&x, "allow:", v, sizeof(v)), "POST, PUT");
	/* GET does not bring HEAD along. */
	run(&x, "HEAD /get HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(&x), 405);
	assert_string_equal(header_of(&x, "allow:", v, sizeof(v)), "GET");
	/* Not a prefix: /now is exact. */
	run(&x, "POST /now/x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(status_of(&x), 404);
	/* 405 with a body announced: unread, so the connection closes. */
	run(&x, "GET /now HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}");
	assert_int_equal(status_of(&x), 405);
	assert_true(x.closed);
	assert_int_equal(fx->seen.calls, 0);
}

static void
test_body_limits(void **state)
{
	char req[512];
	struct exchange x;

	(void)state;
	fx->seen.calls = 0;
	/* Over the route's 64 bytes, announced: 413 before any is sent. */
	run(&x, "POST /now HTTP/1.1\r\nHost: t\r\nContent-Length: 65\r\n\r\n");
	assert_int_equal(status_of(&x), 413);
	assert_string_equal(body_of(&x),
	                    "{\"error\":\"request body too large\"}\n");
	assert_true(x.closed);
	/* At it: read and handled. */
	snprintf(req, sizeof(req),
	         "PUT /now HTTP/1.1\r\nHost: t\r\nContent-Length: 64\r\n\r\n"
	         "%064d",
	         7);
	run(&x, req);
	assert_int_equal(status_of(&x), 201);
	assert_int_equal(fx->seen.body_len, 64);
	/* A prefix route's own limit (16), and a longer prefix's (32). */
	run(&x,
	    "POST /hooks/a HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n");
	assert_int_equal(status_of(&x), 413);
	run(&x, "POST /hooks/long/a HTTP/1.1\r\nHost: t\r\n"
	        "Content-Length: 17\r\n\r\n0123456789abcdefg");
	assert_int_equal(status_of(&x), 201);
	assert_string_equal(fx->seen.path, "/hooks/long/a");
	/* A route without a body takes none. */
	run(&x, "GET /get HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
	assert_int_equal(status_of(&x), 413);
	run(&x, "GET /get HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(status_of(&x), 201);
	/* Never more than limits.http_body_max (4096). */
	run(&x, "POST /later HTTP/1.1\r\nHost: t\r\n"
	        "Content-Length: 4097\r\n\r\n");
	assert_int_equal(status_of(&x), 413);
	/*
	 * The order: over the configured limit is 413 whatever the method;
	 * within it, the method comes before the route's own limit.
	 */
	run(&x, "DELETE /now HTTP/1.1\r\nHost: t\r\n"
	        "Content-Length: 4097\r\n\r\n");
	assert_int_equal(status_of(&x), 413);
	run(&x, "DELETE /now HTTP/1.1\r\nHost: t\r\n"
	        "Content-Length: 65\r\n\r\n");
	assert_int_equal(status_of(&x), 405);
	assert_true(x.closed);
	/* Chunked: 411; a malformed length: 400; both close. */
	run(&x, "POST /now HTTP/1.1\r\nHost: t\r\n"
	        "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
	assert_int_equal(status_of(&x), 411);
	assert_true(x.closed);
	run(&x, "POST /now HTTP/1.1\r\nHost: t\r\nContent-Length: 2, 2\r\n\r\n"
	        "{}");
	assert_int_equal(status_of(&x), 400);
	assert_true(x.closed);
	/* No length on a POST: an empty body, then the connection closes. */
	fx->seen.calls = 0;
	run(&x, "POST /now HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(&x), 201);
	assert_int_equal(fx->seen.calls, 1);
	assert_int_equal(fx->seen.body_len, 0);
	assert_true(x.closed);
}

static void
test_draining_answers_503(void **state)
{
	struct exchange x;

	(void)state;
	fx->seen.calls = 0;
	gw_http_drain(fx->h);
	/* The listening socket is gone: connect is refused, or 503. */
	run(&x, "POST /now HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
	assert_true(status_of(&x) == 503 || x.reply_len == 0);
	assert_int_equal(fx->seen.calls, 0);
}

/* ------------------------------------------------------------ WebSockets */

static void
ws_request(char *out, size_t len, const char *origin, const char *protocol,
           const char *extra)
{
	int n = snprintf(out, len,
	                 "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                 "Sec-WebSocket-Version: 13\r\nOrigin: %s\r\n%s",
	                 origin, extra);

	if (protocol != NULL)
		n += snprintf(out + n, len - (size_t)n,
		              "Sec-WebSocket-Protocol: %s\r\n", protocol);
	snprintf(out + n, len - (size_t)n, "\r\n");
}

/* The first frame's payload after a 101 (a text frame under 126 bytes). */
static json_t *
first_frame(const struct exchange *x, int which)
{
	const unsigned char *f = (const unsigned char *)body_of(x);
	size_t n;

	while (which-- > 0)
		f += 2 + (f[1] & 0x7f);
	assert_int_equal(f[0], 0x81);
	n = f[1] & 0x7f;
	assert_true(n < 126);
	return json_loadb((const char *)f + 2, n, 0, NULL);
}

static int
closes_seen(void *arg)
{
	return fx->staff.closes + fx->resident.closes >= *(int *)arg;
}

static void
test_subprotocols(void **state)
{
	char req[1024], v[64];
	struct exchange x;
	json_t *hello, *m;
	int want;

	(void)state;
	/* Staff origin, staff protocol: its hello, its cookie, its handler. */
	ws_request(req, sizeof(req), STAFF, "test.staff.v1",
	           "Cookie: sid=abc\r\n");
	run_n(&x, req, strlen(req), 1, "{\"type\":\"poke\"}");
	assert_int_equal(status_of(&x), 101);
	assert_string_equal(
	        header_of(&x, "sec-websocket-protocol:", v, sizeof(v)),
	        "test.staff.v1");
	hello = first_frame(&x, 0);
	assert_string_equal(json_string_value(json_object_get(hello, "type")),
	                    "hello");
	assert_string_equal(
	        json_string_value(json_object_get(hello, "protocol")),
	        "test.staff.v1");
	assert_int_equal(json_integer_value(json_object_get(hello, "extra")),
	                 1);
	json_decref(hello);
	m = first_frame(&x, 1);
	assert_string_equal(json_string_value(json_object_get(m, "by")),
	                    "staff");
	json_decref(m);
	assert_int_equal(fx->staff.opens, 1);
	assert_string_equal(fx->staff.cookie, "sid=abc");
	assert_string_equal(fx->staff.peer, "127.0.0.1");
	assert_string_equal(fx->staff.type, "poke");
	assert_int_equal(fx->resident.opens, 0);

	/* A resident protocol never reads the cookie; no extra hello. */
	ws_request(req, sizeof(req), RESIDENT, "test.resident.v1",
	           "Cookie: sid=abc\r\n");
	run_n(&x, req, strlen(req), 1, "{\"type\":\"knock\"}");
	assert_int_equal(status_of(&x), 101);
	hello = first_frame(&x, 0);
	assert_null(json_object_get(hello, "extra"));
	json_decref(hello);
	m = first_frame(&x, 1);
	assert_string_equal(json_string_value(json_object_get(m, "by")),
	                    "resident");
	json_decref(m);
	assert_int_equal(fx->resident.opens, 1);
	assert_string_equal(fx->resident.cookie, "");
	assert_string_equal(fx->resident.type, "knock");
	assert_int_equal(fx->staff.messages, 1);

	/* Each protocol's own origins. */
	ws_request(req, sizeof(req), RESIDENT, "test.staff.v1", "");
	run_n(&x, req, strlen(req), 1, NULL);
	assert_int_not_equal(status_of(&x), 101);
	ws_request(req, sizeof(req), STAFF, "test.resident.v1", "");
	run_n(&x, req, strlen(req), 1, NULL);
	assert_int_not_equal(status_of(&x), 101);
	ws_request(req, sizeof(req), "https://evil.example", "test.staff.v1",
	           "");
	run_n(&x, req, strlen(req), 1, NULL);
	assert_int_not_equal(status_of(&x), 101);
	/* Unknown, absent and "http" subprotocols. */
	ws_request(req, sizeof(req), STAFF, "nope.v1", "");
	run_n(&x, req, strlen(req), 1, NULL);
	assert_int_not_equal(status_of(&x), 101);
	ws_request(req, sizeof(req), STAFF, NULL, "");
	run_n(&x, req, strlen(req), 1, NULL);
	assert_int_not_equal(status_of(&x), 101);
	ws_request(req, sizeof(req), STAFF, "http", "");
	run_n(&x, req, strlen(req), 1, NULL);
	assert_int_not_equal(status_of(&x), 101);
	assert_int_equal(fx->staff.opens + fx->resident.opens, 2);
	want = 2;
	assert_true(sb_run_until(&fx->loop, closes_seen, &want, 5000));
	assert_int_equal(gw_http_ws_count(fx->h), 0);
	/* A socket's state stays small (an idle resident holds one). */
	assert_true(sizeof(struct conn) <= 88);
}

static void
test_unregistered_protocol_is_not_called(void **state)
{
	char req[1024];
	struct exchange x;
	json_t *m;

	(void)state;
	gw_http_ws_unregister(fx->h, "test.resident.v1");
	gw_http_ws_unregister(fx->h, "no.such.v1");
	ws_request(req, sizeof(req), RESIDENT, "test.resident.v1", "");
	run_n(&x, req, strlen(req), 1, "{\"type\":\"knock\"}");
	assert_int_equal(status_of(&x), 101);
	m = first_frame(&x, 1);
	assert_string_equal(json_string_value(json_object_get(m, "code")),
	                    "unknown_type");
	json_decref(m);
	assert_int_equal(fx->resident.opens, 0);
	assert_int_equal(fx->resident.messages, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_handler_gets_raw_body_and_named_headers, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_custom_header_repeated_shows_the_first, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_answer_later_by_id, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_answer_for_a_client_that_left, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_table_answers, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_body_limits, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_draining_answers_503,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_subprotocols, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_unregistered_protocol_is_not_called, setup,
	                teardown),
	};

	gw_log_set_level(GW_LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
