/*
 * http_client.c: outbound HTTP on the loop (http_client.h): libcurl's
 * multi socket interface, a uv_poll_t per socket and one timer, after
 * libcurl's own multi-uv example.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http_client.h"
#include "log.h"
#include "xmalloc.h"

#define TIMEOUT_DEFAULT_MS 10000

struct http_client {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	unsigned inflight;
	unsigned open_handles; /* the timer and the polls not closed yet */
	int closing;
	struct xfer *xfers; /* in flight */
	struct sock *socks; /* watched */
};

/* One socket libcurl watches. */
struct sock {
	uv_poll_t poll;
	struct http_client *c;
	curl_socket_t fd;
	struct sock *prev, *next;
};

struct xfer {
	struct http_client *c;
	CURL *easy;
	struct curl_slist *headers;
	char *body; /* the request's, copied */
	char *resp;
	size_t resp_len, resp_cap;
	int too_large;
	char errbuf[CURL_ERROR_SIZE];
	http_client_cb cb;
	void *arg;
	struct xfer *prev, *next;
};

static uv_once_t once = UV_ONCE_INIT;

static void
global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
handle_closed(uv_handle_t *h)
{
	struct http_client *c = h->data;

	if (h != (uv_handle_t *)&c->timer)
		free(h); /* a struct sock, whose first member is the poll */
	c->open_handles--;
	if (c->closing && c->open_handles == 0)
		free(c);
}

static size_t
on_write(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->resp_len + len > HTTP_CLIENT_BODY_MAX) {
		x->too_large = 1;
		return 0;
	}
	if (x->resp_len + len + 1 > x->resp_cap) {
		x->resp_cap = (x->resp_len + len + 1) * 2;
		if (x->resp_cap > HTTP_CLIENT_BODY_MAX + 1)
			x->resp_cap = HTTP_CLIENT_BODY_MAX + 1;
		x->resp = xrealloc(x->resp, x->resp_cap);
	}
	memcpy(x->resp + x->resp_len, p, len);
	x->resp_len += len;
	x->resp[x->resp_len] = '\0';
	return len;
}

static void
xfer_free(struct xfer *x)
{
	struct http_client *c = x->c;

	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		c->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	curl_slist_free_all(x->headers);
	curl_easy_cleanup(x->easy);
	free(x->body);
	free(x->resp);
	free(x);
}

/* Answers x (finished with code) and frees it. */
static void
xfer_done(struct xfer *x, CURLcode code, const char *why)
{
	struct http_client *c = x->c;
	struct http_client_resp r;
	curl_off_t req_size = 0, total = 0;
	long status = 0;

	memset(&r, 0, sizeof(r));
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total);
	r.elapsed_ms = (long long)(total / 1000);
	if (code == CURLE_OK) {
		r.status = status;
	} else {
		long sz = 0;

		curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &sz);
		req_size = sz;
		r.maybe_sent = req_size > 0;
		r.error = why != NULL    ? why
		          : x->too_large ? "response too large"
		          : x->errbuf[0] ? x->errbuf
		                         : curl_easy_strerror(code);
		r.status = 0;
	}
	r.body = x->resp != NULL ? x->resp : "";
	r.len = x->resp_len;
	curl_multi_remove_handle(c->multi, x->easy);
	c->inflight--;
	x->cb(x->arg, &r);
	xfer_free(x);
}

static void
check_done(struct http_client *c)
{
	CURLMsg *m;
	int left;
	struct xfer *x;

	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
		                  (char **)&x);
		if (x != NULL)
			xfer_done(x, m->data.result, NULL);
	}
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = (struct sock *)p;
	struct http_client *c = s->c;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	check_done(c);
}

static void
on_timer(uv_timer_t *t)
{
	struct http_client *c = t->data;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

/* CURLMOPT_TIMERFUNCTION */
static int
start_timeout(CURLM *m, long ms, void *arg)
{
	struct http_client *c = arg;

	(void)m;
	if (ms < 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_timer, ms == 0 ? 1 : (uint64_t)ms,
		               0);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION */
static void
sock_close(struct http_client *c, struct sock *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, handle_closed);
}

static int
handle_socket(CURL *e, curl_socket_t fd, int action, void *arg, void *sockp)
{
	struct http_client *c = arg;
	struct sock *s = sockp;
	int events = 0;

	(void)e;
	if (action == CURL_POLL_REMOVE) {
		if (s != NULL) {
			if (!c->closing)
				curl_multi_assign(c->multi, fd, NULL);
			sock_close(c, s);
		}
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->c = c;
		s->fd = fd;
		if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->poll.data = c;
		c->open_handles++;
		s->next = c->socks;
		if (c->socks != NULL)
			c->socks->prev = s;
		c->socks = s;
		curl_multi_assign(c->multi, fd, s);
	}
	if (action != CURL_POLL_OUT)
		events |= UV_READABLE;
	if (action != CURL_POLL_IN)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

struct http_client *
http_client_new(uv_loop_t *loop)
{
	struct http_client *c = xcalloc(1, sizeof(*c));

	uv_once(&once, global_init);
	c->loop = loop;
	c->multi = curl_multi_init();
	if (c->multi == NULL)
		fatalx("http_client: curl_multi_init failed");
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->open_handles = 1;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, handle_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, start_timeout);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
	return c;
}

int
http_client_fetch(struct http_client *c, const struct http_client_req *q,
                  http_client_cb cb, void *arg, const char **why)
{
	struct xfer *x;
	size_t i;

	if (c->closing) {
		*why = "closing";
		return -1;
	}
	if (q->nheaders > HTTP_CLIENT_HEADERS_MAX) {
		*why = "too many headers";
		return -1;
	}
	x = xcalloc(1, sizeof(*x));
	x->c = c;
	x->cb = cb;
	x->arg = arg;
	x->easy = curl_easy_init();
	if (x->easy == NULL)
		fatalx("http_client: curl_easy_init failed");
	for (i = 0; i < q->nheaders; i++)
		x->headers = curl_slist_append(x->headers, q->headers[i]);
	/* No "Expect: 100-continue" round trip before a body. */
	x->headers = curl_slist_append(x->headers, "Expect:");
	curl_easy_setopt(x->easy, CURLOPT_URL, q->url);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS,
	                 q->timeout_ms > 0 ? q->timeout_ms
	                                   : (long)TIMEOUT_DEFAULT_MS);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (q->ca_file != NULL) {
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, q->ca_file);
		curl_easy_setopt(x->easy, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT,
	                 "Switchboard/" SWITCHBOARD_VERSION);
	if (q->userpwd != NULL) {
		curl_easy_setopt(x->easy, CURLOPT_HTTPAUTH,
		                 (long)CURLAUTH_BASIC);
		curl_easy_setopt(x->easy, CURLOPT_USERPWD, q->userpwd);
	}
	if (strcmp(q->method, "POST") == 0) {
		x->body = xmalloc(q->body_len + 1);
		if (q->body_len > 0)
			memcpy(x->body, q->body, q->body_len);
		x->body[q->body_len] = '\0';
		curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)q->body_len);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
	} else if (strcmp(q->method, "GET") != 0) {
		xfer_free(x);
		*why = "only GET and POST";
		return -1;
	}
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
		xfer_free(x);
		*why = "curl_multi_add_handle failed";
		return -1;
	}
	c->inflight++;
	x->next = c->xfers;
	if (c->xfers != NULL)
		c->xfers->prev = x;
	c->xfers = x;
	return 0;
}

unsigned
http_client_inflight(const struct http_client *c)
{
	return c->inflight;
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	c->closing = 1;
	while (c->xfers != NULL)
		xfer_done(c->xfers, CURLE_ABORTED_BY_CALLBACK, "cancelled");
	/* Closes the kept connections: their sockets' polls go below. */
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	while (c->socks != NULL)
		sock_close(c, c->socks);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}
