/*
 * email_smtp.c: one message over SMTP through libcurl (email_smtp.h).
 * Blocking: worker threads only.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "email_smtp.h"

#define TIMEOUT_DEFAULT_S 60

/*
 * Handles kept between sends, each with the connection it last used: the
 * next send to the same server (same host, port, TLS and sign-in; libcurl
 * matches them) goes over it, with no new TCP or TLS handshake and no
 * second sign-in. Taking the TLS handshake away matters: Debian's libcurl
 * (GnuTLS) parses every trusted CA again for each one. A handle is used by
 * one thread at a time (taken from the pool, given back); connections are
 * not shared between handles, which libcurl does not support across
 * threads. One left idle longer than CONN_MAX_AGE_S is not reused.
 */
#define POOL_MAX       16
#define CONN_MAX_AGE_S 60

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[POOL_MAX];
static size_t npool;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* A handle: a kept one (*reused 1) or a new one. */
static CURL *
handle_take(int *reused)
{
	CURL *c = NULL;

	pthread_mutex_lock(&pool_mu);
	if (npool > 0)
		c = pool[--npool];
	pthread_mutex_unlock(&pool_mu);
	*reused = c != NULL;
	if (c == NULL)
		return curl_easy_init();
	/* Options back to their defaults; its connection is kept. */
	curl_easy_reset(c);
	return c;
}

/* ok: the send went well, so the handle's connection may serve again. */
static void
handle_give(CURL *c, int ok)
{
	if (ok) {
		pthread_mutex_lock(&pool_mu);
		if (npool < POOL_MAX) {
			pool[npool++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&pool_mu);
	}
	if (c != NULL)
		curl_easy_cleanup(c);
}

int
email_smtp_loopback(const char *host)
{
	struct in_addr a;

	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return 1;
	return inet_pton(AF_INET, host, &a) == 1 &&
	       (ntohl(a.s_addr) >> 24) == 127;
}

struct body {
	const char *p;
	size_t left;
};

static size_t
on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t take = size * n < b->left ? size * n : b->left;

	memcpy(buf, b->p, take);
	b->p += take;
	b->left -= take;
	return take;
}

/* A printable one-line copy of s. */
static void
one_line(char *dst, size_t len, const char *s)
{
	size_t i, j = 0;

	for (i = 0; s[i] != '\0' && j + 1 < len; i++)
		dst[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : ' ';
	dst[j] = '\0';
}

static int
fail(struct email_smtp_outcome *out, long code, int permanent, const char *why)
{
	out->code = code;
	out->permanent = permanent;
	one_line(out->reason, sizeof(out->reason), why);
	return -1;
}

/* One send on handle c (reset, its connection kept). */
static int
send_on(CURL *c, const struct email_smtp_opts *o, const char *from,
        const char *const *rcpt, size_t nrcpt, const char *msg, size_t len,
        struct email_smtp_outcome *out)
{
	char url[300], cerr[CURL_ERROR_SIZE] = "", why[700];
	struct curl_slist *to = NULL;
	struct body b = {msg, len};
	long code = 0;
	CURLcode cr;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s://%s%s%s:%u",
	         o->tls == EMAIL_SMTP_IMPLICIT ? "smtps" : "smtp",
	         strchr(o->host, ':') != NULL ? "[" : "", o->host,
	         strchr(o->host, ':') != NULL ? "]" : "", (unsigned)o->port);
	for (i = 0; i < nrcpt; i++)
		to = curl_slist_append(to, rcpt[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(
	        c, CURLOPT_TIMEOUT,
	        (long)(o->timeout_s != 0 ? o->timeout_s : TIMEOUT_DEFAULT_S));
	if (o->tls == EMAIL_SMTP_STARTTLS)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file != NULL) {
		/* That file only: not the system's CA directory as well. */
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(c, CURLOPT_MAXAGE_CONN, (long)CONN_MAX_AGE_S);
	if (o->user != NULL) {
		curl_easy_setopt(c, CURLOPT_USERNAME, o->user);
		if (o->oauth_token != NULL) {
			curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER,
			                 o->oauth_token);
			curl_easy_setopt(c, CURLOPT_LOGIN_OPTIONS,
			                 "AUTH=XOAUTH2");
		} else {
			curl_easy_setopt(c, CURLOPT_PASSWORD,
			                 o->password != NULL ? o->password
			                                     : "");
		}
	}
	/* "" is the empty path: MAIL FROM:<>. */
	curl_easy_setopt(c, CURLOPT_MAIL_FROM,
	                 from != NULL && from[0] != '\0' ? from : "<>");
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, to);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &b);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (cr == CURLE_OK) {
		out->code = code;
		snprintf(out->reason, sizeof(out->reason), "sent");
		rc = 0;
	} else {
		snprintf(why, sizeof(why), "%s",
		         cerr[0] != '\0' ? cerr : curl_easy_strerror(cr));
		/*
		 * A 5xx reply is the server's refusal for good; anything
		 * else (4xx, no answer, TLS or network trouble, a refused
		 * sign-in that a new token may fix) is tried again.
		 */
		fail(out, code,
		     code >= 500 && code < 600 && cr != CURLE_LOGIN_DENIED,
		     why);
	}
	curl_slist_free_all(to);
	return rc;
}

int
email_smtp_send(const struct email_smtp_opts *o, const char *from,
                const char *const *rcpt, size_t nrcpt, const char *msg,
                size_t len, struct email_smtp_outcome *out)
{
	int reused = 0, rc;
	CURL *c;

	memset(out, 0, sizeof(*out));
	if (o->host == NULL || o->host[0] == '\0' || nrcpt == 0)
		return fail(out, 0, 1, "no server or no recipient");
	if (o->tls == EMAIL_SMTP_PLAIN_LOCAL && !email_smtp_loopback(o->host))
		return fail(out, 0, 1,
		            "a plain (unencrypted) relay must be on a loopback "
		            "address");
	pthread_once(&curl_once, curl_init_once);
	c = handle_take(&reused);
	if (c == NULL)
		return fail(out, 0, 0, "libcurl: no handle");
	rc = send_on(c, o, from, rcpt, nrcpt, msg, len, out);
	if (rc != 0 && reused && out->code == 0) {
		/*
		 * No answer at all on a kept connection: the server may have
		 * closed it while it was idle (a restart, its own idle
		 * timeout). Once more on a new one.
		 */
		curl_easy_cleanup(c);
		c = curl_easy_init();
		if (c == NULL)
			return fail(out, 0, 0, "libcurl: no handle");
		rc = send_on(c, o, from, rcpt, nrcpt, msg, len, out);
	}
	handle_give(c, rc == 0);
	return rc;
}
