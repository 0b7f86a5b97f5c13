/*
 * email_oauth.c: the client-credentials token source (email_oauth.h).
 * Blocking: worker threads only.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "email_oauth.h"
#include "xmalloc.h"

#define TIMEOUT_DEFAULT_S 30
#define ANSWER_MAX        (64 * 1024)
#define TOKEN_MAX         16384
#define MARGIN_MAX_S      300

struct email_oauth {
	pthread_mutex_t mu;
	char *url, *client_id, *client_secret, *scope, *ca_file;
	unsigned timeout_s;
	char *token;       /* cached, or NULL */
	time_t refresh_at; /* fetch again from this moment */
	uint64_t fetches;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* https://, or http:// to 127.0.0.0/8, [::1] or localhost. */
static int
url_allowed(const char *url)
{
	char host[64];
	struct in_addr a;
	size_t n;

	if (strncasecmp(url, "https://", 8) == 0)
		return url[8] != '\0' && url[8] != '/';
	if (strncasecmp(url, "http://", 7) != 0)
		return 0;
	url += 7;
	if (strncmp(url, "[::1]", 5) == 0)
		return url[5] == ':' || url[5] == '/' || url[5] == '\0';
	n = strcspn(url, ":/?#@");
	if (n == 0 || n >= sizeof(host) || url[n] == '@')
		return 0;
	memcpy(host, url, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	return inet_pton(AF_INET, host, &a) == 1 &&
	       (ntohl(a.s_addr) >> 24) == 127;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct email_oauth *
email_oauth_new(const struct email_oauth_opts *o, char *err, size_t errlen)
{
	struct email_oauth *t;

	if (o->token_url == NULL || !url_allowed(o->token_url)) {
		snprintf(err, errlen,
		         "the token endpoint must be https:// (or http:// on "
		         "a loopback address, for tests)");
		return NULL;
	}
	if (o->client_id == NULL || o->client_id[0] == '\0' ||
	    o->client_secret == NULL || o->client_secret[0] == '\0') {
		snprintf(err, errlen, "a client id and secret are needed");
		return NULL;
	}
	pthread_once(&curl_once, curl_init_once);
	t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	t->url = xstrdup(o->token_url);
	t->client_id = xstrdup(o->client_id);
	t->client_secret = xstrdup(o->client_secret);
	t->scope = dup_or_null(o->scope);
	t->ca_file = dup_or_null(o->ca_file);
	t->timeout_s = o->timeout_s != 0 ? o->timeout_s : TIMEOUT_DEFAULT_S;
	return t;
}

static void
forget(struct email_oauth *t)
{
	if (t->token != NULL) {
		memset(t->token, 0, strlen(t->token));
		free(t->token);
	}
	t->token = NULL;
	t->refresh_at = 0;
}

void
email_oauth_free(struct email_oauth *t)
{
	if (t == NULL)
		return;
	forget(t);
	free(t->url);
	free(t->client_id);
	memset(t->client_secret, 0, strlen(t->client_secret));
	free(t->client_secret);
	free(t->scope);
	free(t->ca_file);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

struct answer {
	char *buf;
	size_t len;
	int too_long;
};

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t add = size * n;

	if (a->len + add > ANSWER_MAX) {
		a->too_long = 1;
		return 0; /* curl fails the transfer */
	}
	a->buf = xrealloc(a->buf, a->len + add + 1);
	memcpy(a->buf + a->len, data, add);
	a->len += add;
	a->buf[a->len] = '\0';
	return add;
}

/* The form body: every value percent-encoded. NULL on failure. */
static char *
form_body(CURL *c, const struct email_oauth *t)
{
	char *id = curl_easy_escape(c, t->client_id, 0);
	char *secret = curl_easy_escape(c, t->client_secret, 0);
	char *scope =
	        t->scope != NULL ? curl_easy_escape(c, t->scope, 0) : NULL;
	char *out = NULL;
	size_t len;

	if (id != NULL && secret != NULL && (t->scope == NULL || scope)) {
		len = strlen(id) + strlen(secret) +
		      (scope ? strlen(scope) : 0) + 96;
		out = xmalloc(len);
		snprintf(out, len,
		         "grant_type=client_credentials&client_id=%s"
		         "&client_secret=%s%s%s",
		         id, secret, scope ? "&scope=" : "",
		         scope ? scope : "");
	}
	if (secret != NULL) {
		memset(secret, 0, strlen(secret));
		curl_free(secret);
	}
	curl_free(id);
	curl_free(scope);
	return out;
}

/* A printable, bounded copy of an endpoint's error text. */
static void
clean(char *dst, size_t len, const char *src)
{
	size_t i, j = 0;

	for (i = 0; src != NULL && src[i] != '\0' && j + 1 < len; i++)
		dst[j++] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[j] = '\0';
}

/* Reads the answer into t (locked). 0, or -1 (err). */
static int
take_answer(struct email_oauth *t, long status, const struct answer *a,
            char *err, size_t errlen)
{
	char e1[64], e2[160];
	json_t *j, *tok, *exp;
	json_int_t life = 3600;
	time_t margin;
	const char *type;

	j = a->buf != NULL ? json_loadb(a->buf, a->len, 0, NULL) : NULL;
	if (status != 200) {
		clean(e1, sizeof(e1),
		      json_string_value(json_object_get(j, "error")));
		clean(e2, sizeof(e2),
		      json_string_value(
		              json_object_get(j, "error_description")));
		snprintf(err, errlen,
		         "token endpoint answered HTTP %ld%s%s%s%s", status,
		         e1[0] ? ": " : "", e1, e2[0] ? ": " : "", e2);
		json_decref(j);
		return -1;
	}
	tok = json_object_get(j, "access_token");
	type = json_string_value(json_object_get(j, "token_type"));
	if (!json_is_string(tok) || json_string_length(tok) == 0 ||
	    json_string_length(tok) > TOKEN_MAX ||
	    strcspn(json_string_value(tok), " \t\r\n\x01") !=
	            json_string_length(tok) ||
	    (type != NULL && strcasecmp(type, "bearer") != 0)) {
		snprintf(err, errlen,
		         "token endpoint answered 200 without a bearer "
		         "access_token");
		json_decref(j);
		return -1;
	}
	exp = json_object_get(j, "expires_in");
	if (json_is_integer(exp))
		life = json_integer_value(exp);
	else if (json_is_string(exp))
		life = strtoll(json_string_value(exp), NULL, 10);
	if (life <= 0)
		life = 1;
	margin = (time_t)(life / 4 < MARGIN_MAX_S ? life / 4 : MARGIN_MAX_S);
	forget(t);
	t->token = xstrdup(json_string_value(tok));
	t->refresh_at = time(NULL) + (time_t)life - margin;
	t->fetches++;
	json_decref(j);
	return 0;
}

/* Fetches a token into t (locked). 0, or -1 (err). */
static int
fetch(struct email_oauth *t, char *err, size_t errlen)
{
	char cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	struct answer a;
	long status = 0;
	char *body;
	CURL *c;
	int rc = -1;
	CURLcode cr;

	memset(&a, 0, sizeof(a));
	c = curl_easy_init();
	if (c == NULL) {
		snprintf(err, errlen, "libcurl: no handle");
		return -1;
	}
	body = form_body(c, t);
	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		curl_easy_cleanup(c);
		return -1;
	}
	hdr = curl_slist_append(hdr, "Accept: application/json");
	hdr = curl_slist_append(
	        hdr, "Content-Type: application/x-www-form-urlencoded");
	curl_easy_setopt(c, CURLOPT_URL, t->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)t->timeout_s);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (t->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	cr = curl_easy_perform(c);
	if (cr != CURLE_OK) {
		snprintf(err, errlen, "token endpoint: %s",
		         a.too_long ? "answer over 64 KiB"
		         : cerr[0]  ? cerr
		                    : curl_easy_strerror(cr));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	rc = take_answer(t, status, &a, err, errlen);
out:
	memset(body, 0, strlen(body));
	free(body);
	free(a.buf);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}

int
email_oauth_token(struct email_oauth *t, char *out, size_t outlen, char *err,
                  size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&t->mu);
	if (t->token == NULL || time(NULL) >= t->refresh_at)
		rc = fetch(t, err, errlen);
	if (rc == 0) {
		if (strlen(t->token) + 1 > outlen) {
			snprintf(err, errlen, "token longer than %zu bytes",
			         outlen);
			rc = -1;
		} else {
			snprintf(out, outlen, "%s", t->token);
		}
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

void
email_oauth_invalidate(struct email_oauth *t)
{
	pthread_mutex_lock(&t->mu);
	forget(t);
	pthread_mutex_unlock(&t->mu);
}

uint64_t
email_oauth_fetches(struct email_oauth *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->mu);
	n = t->fetches;
	pthread_mutex_unlock(&t->mu);
	return n;
}
