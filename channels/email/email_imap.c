/*
 * email_imap.c: one IMAP session through libetpan (email_imap.h). Blocking:
 * worker threads only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libetpan/libetpan.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "email_imap.h"
#include "xmalloc.h"

#define TIMEOUT_DEFAULT_S 30

struct email_imap {
	mailimap *imap;
	int can_idle;
	int can_move;
	int can_uidplus;
	uint32_t exists; /* of the selected folder */
	int selected;
	int fd; /* for email_imap_abort */
};

/*
 * TLS is ours, not libetpan's: Debian builds libetpan with GnuTLS and
 * its TLS layer verifies no certificate. The session's stream is a
 * libetpan low-level driver over an OpenSSL connection whose chain and
 * name were verified before the first IMAP byte was read. Timeouts are
 * the socket's (SO_RCVTIMEO, SO_SNDTIMEO): a read or write that waits
 * longer fails, and libetpan reports the command as failed.
 */
struct tls_low {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static ssize_t
low_read(mailstream_low *s, void *buf, size_t count)
{
	struct tls_low *t = s->data;
	int r;

	/* Before STARTTLS: the greeting and the STARTTLS command only. */
	if (t->ssl == NULL)
		return recv(t->fd, buf, count, 0);
	r = SSL_read(t->ssl, buf, count > INT_MAX ? INT_MAX : (int)count);

	if (r > 0)
		return r;
	return SSL_get_error(t->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static ssize_t
low_write(mailstream_low *s, const void *buf, size_t count)
{
	struct tls_low *t = s->data;
	int r;

	if (t->ssl == NULL)
		return send(t->fd, buf, count, MSG_NOSIGNAL);
	r = SSL_write(t->ssl, buf, count > INT_MAX ? INT_MAX : (int)count);

	return r > 0 ? r : -1;
}

static int
low_close(mailstream_low *s)
{
	struct tls_low *t = s->data;

	if (t->ssl != NULL)
		SSL_shutdown(t->ssl);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	return 0;
}

static int
low_get_fd(mailstream_low *s)
{
	return ((struct tls_low *)s->data)->fd;
}

static void
tls_low_free(struct tls_low *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static void
low_free(mailstream_low *s)
{
	tls_low_free(s->data);
	free(s);
}

static void
low_cancel(mailstream_low *s)
{
	struct tls_low *t = s->data;

	if (t->fd >= 0)
		shutdown(t->fd, SHUT_RDWR);
}

static struct mailstream_cancel *
low_get_cancel(mailstream_low *s)
{
	(void)s;
	return NULL;
}

static carray *
low_get_chain(mailstream_low *s)
{
	(void)s;
	return NULL;
}

static mailstream_low_driver tls_driver = {
        .mailstream_read = low_read,
        .mailstream_write = low_write,
        .mailstream_close = low_close,
        .mailstream_get_fd = low_get_fd,
        .mailstream_free = low_free,
        .mailstream_cancel = low_cancel,
        .mailstream_get_cancel = low_get_cancel,
        .mailstream_get_certificate_chain = low_get_chain,
};

static int
is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

/* A TCP connection to host:port within timeout_s; -1 (err) if none. */
static int
tcp_connect(const char *host, uint16_t port, unsigned timeout_s, char *err,
            size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv;
	char service[8];
	int fd = -1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host,
		         gai_strerror(rc));
		return -1;
	}
	tv.tv_sec = (time_t)timeout_s;
	tv.tv_usec = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		/* Linux applies SO_SNDTIMEO to connect() too. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ==
		            0 &&
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ==
		            0 &&
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		snprintf(err, errlen, "cannot connect to %s:%u: %s", host,
		         (unsigned)port, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/*
 * The TLS handshake on t's socket (at once, or after STARTTLS): the chain
 * must verify against ca_file (or the system's CAs) and name host. 0, or
 * -1 (err).
 */
static int
tls_start(struct tls_low *t, const char *host, const char *ca_file, char *err,
          size_t errlen)
{
	X509_VERIFY_PARAM *p;
	long vr;
	int ok;

	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL)
		goto setup;
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	ok = ca_file != NULL
	             ? SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL)
	             : SSL_CTX_set_default_verify_paths(t->ctx);
	if (ok != 1) {
		snprintf(err, errlen, "cannot load the CA file %s",
		         ca_file != NULL ? ca_file : "(system)");
		goto fail;
	}
	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, t->fd) != 1)
		goto setup;
	p = SSL_get0_param(t->ssl);
	if (is_ip(host)) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(p, host);
	} else {
		X509_VERIFY_PARAM_set_hostflags(
		        p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = X509_VERIFY_PARAM_set1_host(p, host, 0) == 1 &&
		     SSL_set_tlsext_host_name(t->ssl, host) == 1;
	}
	if (ok != 1)
		goto setup;
	if (SSL_connect(t->ssl) != 1) {
		vr = SSL_get_verify_result(t->ssl);
		if (vr != X509_V_OK)
			snprintf(err, errlen,
			         "TLS with %s failed: its certificate did not "
			         "verify (%s)",
			         host, X509_verify_cert_error_string(vr));
		else
			snprintf(err, errlen,
			         "TLS with %s failed (no TLS 1.2 or later, or "
			         "the connection closed)",
			         host);
		goto fail;
	}
	return 0;
setup:
	snprintf(err, errlen, "TLS set-up failed");
fail:
	return -1;
}

/* Implicit TLS on fd: NULL (err) when it fails; fd is then closed. */
static struct tls_low *
tls_open(int fd, const char *host, const char *ca_file, char *err,
         size_t errlen)
{
	struct tls_low *t = xcalloc(1, sizeof(*t));

	t->fd = fd;
	if (tls_start(t, host, ca_file, err, errlen) != 0) {
		tls_low_free(t);
		return NULL;
	}
	return t;
}

/* err := what, the libetpan code and the server's last words if any. */
static void
fail(const struct email_imap *c, int r, const char *what, char *err,
     size_t errlen)
{
	const char *said =
	        c != NULL && c->imap != NULL && c->imap->imap_response != NULL
	                ? c->imap->imap_response
	                : "";

	snprintf(err, errlen, "%s failed (libetpan %d)%s%s", what, r,
	         said[0] != '\0' ? ": " : "", said);
}

static void
refresh_caps(struct email_imap *c)
{
	struct mailimap_capability_data *caps = NULL;

	if (mailimap_capability(c->imap, &caps) == MAILIMAP_NO_ERROR &&
	    caps != NULL)
		mailimap_capability_data_free(caps);
	c->can_idle = mailimap_has_idle(c->imap);
	c->can_move = mailimap_has_extension(c->imap, "MOVE");
	c->can_uidplus = mailimap_has_extension(c->imap, "UIDPLUS");
}

/*
 * STARTTLS (RFC 2595) on a session that has read the plain greeting: the
 * server must offer it (never a plain sign-in instead), nothing may have
 * come after its OK before TLS (what did would be read as if it had come
 * over TLS: libetpan's own STARTTLS had that flaw), then the handshake,
 * verified as for implicit TLS, and CAPABILITY asked again over TLS.
 */
static int
starttls(struct email_imap *c, struct tls_low *t,
         const struct email_imap_opts *o, char *err, size_t errlen)
{
	struct mailimap_capability_data *caps = NULL;
	int r;

	if (c->imap->imap_connection_info == NULL ||
	    c->imap->imap_connection_info->imap_capability == NULL) {
		if (mailimap_capability(c->imap, &caps) == MAILIMAP_NO_ERROR &&
		    caps != NULL)
			mailimap_capability_data_free(caps);
	}
	if (!mailimap_has_extension(c->imap, "STARTTLS")) {
		snprintf(err, errlen,
		         "%s offers no STARTTLS: not signing in without TLS",
		         o->host);
		return -1;
	}
	r = mailimap_starttls(c->imap);
	/* libetpan 1.9.4 fails the command itself when data follows its
	 * OK (MAILIMAP_ERROR_STARTTLS, as for a refusal): both below. */
	if (r == MAILIMAP_NO_ERROR &&
	    c->imap->imap_stream->read_buffer_len != 0) {
		snprintf(err, errlen,
		         "%s sent data after STARTTLS before TLS: refused",
		         o->host);
		return -1;
	}
	if (r != MAILIMAP_NO_ERROR) {
		fail(c, r,
		     "STARTTLS (refused by the server, or data sent before "
		     "TLS)",
		     err, errlen);
		return -1;
	}
	if (tls_start(t, o->host, o->ca_file, err, errlen) != 0)
		return -1;
	/* What was said before TLS is not trusted: asked again. */
	caps = NULL;
	if (mailimap_capability(c->imap, &caps) == MAILIMAP_NO_ERROR &&
	    caps != NULL)
		mailimap_capability_data_free(caps);
	return 0;
}

struct email_imap *
email_imap_open(const struct email_imap_opts *o, char *err, size_t errlen)
{
	struct email_imap *c = xcalloc(1, sizeof(*c));
	unsigned timeout = o->timeout_s != 0 ? o->timeout_s : TIMEOUT_DEFAULT_S;
	struct tls_low *t;
	mailstream_low *low;
	mailstream *stream;
	int fd, r;

	fd = tcp_connect(o->host, o->port, timeout, err, errlen);
	if (fd < 0) {
		free(c);
		return NULL;
	}
	if (o->refused != NULL)
		*o->refused = 0;
	if (o->starttls) {
		/* Plain until the greeting and STARTTLS are done (below). */
		t = xcalloc(1, sizeof(*t));
		t->fd = fd;
	} else {
		t = tls_open(fd, o->host, o->ca_file, err, errlen);
	}
	if (t == NULL) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	low = mailstream_low_new(t, &tls_driver);
	stream = low != NULL ? mailstream_new(low, 8192) : NULL;
	c->imap = stream != NULL ? mailimap_new(0, NULL) : NULL;
	if (c->imap == NULL) {
		snprintf(err, errlen, "out of memory");
		if (stream != NULL)
			mailstream_close(stream);
		else if (low != NULL)
			mailstream_low_free(low);
		else
			tls_low_free(t);
		free(c);
		return NULL;
	}
	mailimap_set_timeout(c->imap, timeout);
	r = mailimap_connect(c->imap, stream);
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED &&
	    r != MAILIMAP_NO_ERROR_AUTHENTICATED) {
		fail(c, r, "IMAP greeting", err, errlen);
		goto fail;
	}
	if (o->starttls && starttls(c, t, o, err, errlen) != 0)
		goto fail;
	if (o->oauth_token != NULL)
		r = mailimap_oauth2_authenticate(c->imap, o->user,
		                                 o->oauth_token);
	else
		r = mailimap_login(c->imap, o->user,
		                   o->password != NULL ? o->password : "");
	if (r != MAILIMAP_NO_ERROR) {
		fail(c, r, o->oauth_token != NULL ? "XOAUTH2 sign-in" : "LOGIN",
		     err, errlen);
		if (o->refused != NULL && r != MAILIMAP_ERROR_STREAM)
			*o->refused = 1;
		goto fail;
	}
	refresh_caps(c);
	return c;
fail:
	mailimap_free(c->imap);
	free(c);
	return NULL;
}

void
email_imap_abort(struct email_imap *c)
{
	if (c != NULL && c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

void
email_imap_close(struct email_imap *c)
{
	if (c == NULL)
		return;
	if (c->imap->imap_stream != NULL)
		mailimap_logout(c->imap);
	mailimap_free(c->imap);
	free(c);
}

int
email_imap_can_idle(const struct email_imap *c)
{
	return c->can_idle;
}

int
email_imap_can_move(const struct email_imap *c)
{
	return c->can_move;
}

int
email_imap_select(struct email_imap *c, const char *folder,
                  struct email_imap_box *box, char *err, size_t errlen)
{
	struct mailimap_selection_info *si;
	int r;

	c->selected = 0;
	r = mailimap_select(c->imap, folder);
	if (r != MAILIMAP_NO_ERROR) {
		fail(c, r, "SELECT", err, errlen);
		return -1;
	}
	si = c->imap->imap_selection_info;
	memset(box, 0, sizeof(*box));
	if (si == NULL || si->sel_uidvalidity == 0) {
		snprintf(err, errlen,
		         "SELECT %s: the server gave no UIDVALIDITY", folder);
		return -1;
	}
	box->uidvalidity = si->sel_uidvalidity;
	box->uidnext = si->sel_uidnext;
	box->exists = si->sel_has_exists ? si->sel_exists : 0;
	c->exists = box->exists;
	c->selected = 1;
	return 0;
}

/* The UID and whole-body section of one FETCH answer. */
static void
msg_parts(struct mailimap_msg_att *ma, uint32_t *uid, char **body, size_t *len)
{
	clistiter *it;

	*uid = 0;
	*body = NULL;
	*len = 0;
	for (it = clist_begin(ma->att_list); it != NULL; it = clist_next(it)) {
		struct mailimap_msg_att_item *item = clist_content(it);
		struct mailimap_msg_att_static *st;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
			continue;
		st = item->att_data.att_static;
		if (st->att_type == MAILIMAP_MSG_ATT_UID) {
			*uid = st->att_data.att_uid;
		} else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION &&
		           st->att_data.att_body_section != NULL) {
			*body = st->att_data.att_body_section->sec_body_part;
			*len = st->att_data.att_body_section->sec_length;
		}
	}
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
email_imap_uids_after(struct email_imap *c, uint32_t after, size_t max,
                      uint32_t **uids, size_t *n, char *err, size_t errlen)
{
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *res = NULL;
	clistiter *it;
	uint32_t *out;
	size_t got = 0, cap;
	int r;

	*uids = NULL;
	*n = 0;
	if (!c->selected) {
		snprintf(err, errlen, "no folder selected");
		return -1;
	}
	if (c->exists == 0 || after == UINT32_MAX)
		return 0;
	set = mailimap_set_new_interval(after + 1, 0); /* after+1:* */
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(
	        ft, mailimap_fetch_att_new_uid());
	r = mailimap_uid_fetch(c->imap, set, ft, &res);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		fail(c, r, "UID FETCH (UID)", err, errlen);
		return -1;
	}
	cap = clist_count(res) + 1;
	out = xcalloc(cap, sizeof(*out));
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		uint32_t uid;
		char *body;
		size_t len;

		msg_parts(clist_content(it), &uid, &body, &len);
		/* N:* always answers the highest message, even at or below N.
		 */
		if (uid > after && got < cap)
			out[got++] = uid;
	}
	mailimap_fetch_list_free(res);
	qsort(out, got, sizeof(*out), cmp_u32);
	*uids = out;
	*n = got < max ? got : max;
	return 0;
}

struct fetched {
	uint32_t uid;
	char *body;
	size_t len;
};

static int
cmp_fetched(const void *a, const void *b)
{
	return cmp_u32(&((const struct fetched *)a)->uid,
	               &((const struct fetched *)b)->uid);
}

static struct mailimap_set *
uid_set(const uint32_t *uids, size_t n)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	size_t i;

	for (i = 0; i < n; i++)
		mailimap_set_add_single(set, uids[i]);
	return set;
}

int
email_imap_fetch(struct email_imap *c, const uint32_t *uids, size_t n,
                 email_imap_msg_fn fn, void *arg, char *err, size_t errlen)
{
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	struct fetched *f = NULL;
	clist *res = NULL;
	clistiter *it;
	size_t got = 0, i;
	int r, rc = 0;

	if (n == 0)
		return 0;
	set = uid_set(uids, n);
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(
	        ft, mailimap_fetch_att_new_uid());
	mailimap_fetch_type_new_fetch_att_list_add(
	        ft, mailimap_fetch_att_new_body_peek_section(
	                    mailimap_section_new(NULL)));
	r = mailimap_uid_fetch(c->imap, set, ft, &res);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		fail(c, r, "UID FETCH (BODY.PEEK[])", err, errlen);
		return -1;
	}
	f = xcalloc(clist_count(res) + 1, sizeof(*f));
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		msg_parts(clist_content(it), &f[got].uid, &f[got].body,
		          &f[got].len);
		/* A flags update for another message carries no body. */
		if (f[got].uid != 0 && f[got].body != NULL)
			got++;
	}
	qsort(f, got, sizeof(*f), cmp_fetched);
	for (i = 0; i < got; i++) {
		if (i > 0 && f[i].uid == f[i - 1].uid)
			continue;
		if (fn(arg, f[i].uid, f[i].body, f[i].len) != 0) {
			snprintf(err, errlen, "stopped at UID %u",
			         (unsigned)f[i].uid);
			rc = -1;
			break;
		}
	}
	free(f);
	mailimap_fetch_list_free(res);
	return rc;
}

static int
store_flag(struct email_imap *c, const uint32_t *uids, size_t n,
           struct mailimap_flag *flag, const char *what, char *err,
           size_t errlen)
{
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
	struct mailimap_store_att_flags *sf;
	struct mailimap_set *set = uid_set(uids, n);
	int r;

	mailimap_flag_list_add(fl, flag);
	sf = mailimap_store_att_flags_new_add_flags_silent(fl);
	r = mailimap_uid_store(c->imap, set, sf);
	mailimap_store_att_flags_free(sf);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		fail(c, r, what, err, errlen);
		return -1;
	}
	return 0;
}

int
email_imap_seen(struct email_imap *c, const uint32_t *uids, size_t n, char *err,
                size_t errlen)
{
	if (n == 0)
		return 0;
	return store_flag(c, uids, n, mailimap_flag_new_seen(),
	                  "UID STORE \\Seen", err, errlen);
}

int
email_imap_move(struct email_imap *c, const uint32_t *uids, size_t n,
                const char *folder, char *err, size_t errlen)
{
	struct mailimap_set *set;
	int r;

	if (n == 0)
		return 0;
	if (!c->can_move && !c->can_uidplus) {
		/* A plain EXPUNGE would remove what other clients deleted. */
		snprintf(err, errlen,
		         "the server has neither MOVE nor UIDPLUS: set the "
		         "mailbox to mark imported mail \\Seen instead");
		return -1;
	}
	set = uid_set(uids, n);
	if (c->can_move) {
		r = mailimap_uid_move(c->imap, set, folder);
		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR) {
			fail(c, r, "UID MOVE", err, errlen);
			return -1;
		}
		return 0;
	}
	r = mailimap_uid_copy(c->imap, set, folder);
	if (r != MAILIMAP_NO_ERROR) {
		mailimap_set_free(set);
		fail(c, r, "UID COPY", err, errlen);
		return -1;
	}
	if (store_flag(c, uids, n, mailimap_flag_new_deleted(),
	               "UID STORE \\Deleted", err, errlen) != 0) {
		mailimap_set_free(set);
		return -1;
	}
	r = mailimap_uid_expunge(c->imap, set);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		fail(c, r, "UID EXPUNGE", err, errlen);
		return -1;
	}
	return 0;
}

int
email_imap_idle(struct email_imap *c, unsigned max_s, int wake_fd, char *err,
                size_t errlen)
{
	struct pollfd p[2];
	int r, got = 0, np = 1, pr;

	if (!c->can_idle || !c->selected) {
		snprintf(err, errlen, "IDLE needs a folder and the capability");
		return -1;
	}
	r = mailimap_idle(c->imap);
	if (r != MAILIMAP_NO_ERROR) {
		fail(c, r, "IDLE", err, errlen);
		return -1;
	}
	/*
	 * What the server sent with its "+ idling" may already be read:
	 * in libetpan's buffer or in OpenSSL's. poll() would not see it.
	 */
	if (c->imap->imap_stream->read_buffer_len > 0 ||
	    SSL_pending(
	            ((struct tls_low *)c->imap->imap_stream->low->data)->ssl) >
	            0) {
		got = 1;
		goto done;
	}
	memset(p, 0, sizeof(p));
	p[0].fd = mailimap_idle_get_fd(c->imap);
	p[0].events = POLLIN;
	if (wake_fd >= 0) {
		p[1].fd = wake_fd;
		p[1].events = POLLIN;
		np = 2;
	}
	do {
		pr = poll(p, (nfds_t)np, (int)(max_s * 1000));
	} while (pr < 0 && errno == EINTR);
	if (pr > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
		got = 1;
done:
	r = mailimap_idle_done(c->imap);
	if (r != MAILIMAP_NO_ERROR) {
		fail(c, r, "IDLE DONE", err, errlen);
		return -1;
	}
	return got;
}
