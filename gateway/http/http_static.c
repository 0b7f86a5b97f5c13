/*
 * http_static.c: the widget's and the desk's files, served from memory.
 *
 * A file is read at its first request and kept with its content hash (the
 * ETag) and, for text types, its gzip (made once, zlib level 9, kept only
 * when smaller). Each request stat()s the file: a new version on disk (a
 * council deploying one) is read again at once, without a restart, and its
 * new ETag makes every browser fetch it on its next revalidation.
 *
 * Why "Cache-Control: no-cache" and not a max-age: the script tag on the
 * council's pages names widget.js, which imports chat.js and the others by
 * fixed names. With a max-age, a browser could hold yesterday's chat.js
 * beside today's widget.js for that long after a deployment, and a mix of
 * versions breaks in ways nobody tests. no-cache stores the files but asks
 * each time: a repeat view costs one conditional request per file, all at
 * once (the widget's loader preloads them together), each answered 304
 * with headers only.
 *
 * Loop thread only (the reads are small local files, as libwebsockets'
 * own file serving did on the same thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zlib.h>

#include "http_static.h"
#include "log.h"
#include "xmalloc.h"

#define PATH_SEGMENTS_MAX 8
#define PATH_REL_MAX      200
#define HASH_BYTES        16

/* One version of one file, as served. */
struct sfile {
	char *path; /* on disk */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char *data;
	size_t len;
	char *gz; /* NULL: not compressible, or gzip was not smaller */
	size_t gzlen;
	const char *ctype;
	char etag[48];    /* of data */
	char etag_gz[48]; /* of gz */
};

struct http_static {
	const struct gw_config *cfg;
	struct sfile *files[HTTP_STATIC_CACHE_MAX];
	unsigned n;
};

static const struct {
	const char *prefix; /* no trailing slash */
	size_t len;
	int widget;
} MOUNTS[] = {
        {"/widget", 7, 1},
        {"/desk", 5, 0},
};

static const struct {
	const char *ext;
	const char *ctype;
	int gzip;
} TYPES[] = {
        {".html", "text/html; charset=utf-8", 1},
        {".js", "text/javascript; charset=utf-8", 1},
        {".mjs", "text/javascript; charset=utf-8", 1},
        {".css", "text/css; charset=utf-8", 1},
        {".json", "application/json", 1},
        {".svg", "image/svg+xml", 1},
        {".ico", "image/x-icon", 1},
        {".png", "image/png", 0},
        {".woff2", "font/woff2", 0},
};

/* ---------------------------------------------------------------- parsing */

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 tchar. */
static int
is_tchar(unsigned char c)
{
	/* strchr finds the terminator too: NUL is never a tchar. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * A qvalue ("0", "0.5", "1.000"; RFC 9110 12.4.2) at *p: 1 when above 0,
 * 0 when 0, -1 when it does not parse. Moves *p past it.
 */
static int
parse_q(const char **p)
{
	const char *s = *p;
	int nonzero = 0, n = 0;

	if (*s != '0' && *s != '1')
		return -1;
	nonzero = *s++ == '1';
	if (*s == '.')
		for (s++; n < 3 && *s >= '0' && *s <= '9'; s++, n++)
			nonzero |= *s != '0';
	*p = s;
	return nonzero;
}

int
http_static_accepts_gzip(const char *ae)
{
	const char *p = ae, *name;
	size_t nlen;
	int gz = -1, star = -1, q;

	while (*p != '\0') {
		while (is_ows(*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		name = p;
		while (is_tchar((unsigned char)*p))
			p++;
		nlen = (size_t)(p - name);
		q = nlen > 0 ? 1 : -1;
		/* Parameters: only q matters. */
		while (q >= 0) {
			while (is_ows(*p))
				p++;
			if (*p != ';')
				break;
			p++;
			while (is_ows(*p))
				p++;
			if ((*p == 'q' || *p == 'Q') && p[1] == '=') {
				p += 2;
				q = parse_q(&p);
			} else {
				while (is_tchar((unsigned char)*p) || *p == '=')
					p++;
			}
		}
		while (is_ows(*p))
			p++;
		if (*p != ',' && *p != '\0')
			q = -1; /* not an element we understand: ignored */
		while (*p != ',' && *p != '\0')
			p++;
		if (q < 0)
			continue;
		if ((nlen == 4 && strncasecmp(name, "gzip", 4) == 0) ||
		    (nlen == 6 && strncasecmp(name, "x-gzip", 6) == 0))
			gz = q;
		else if (nlen == 1 && *name == '*')
			star = q;
	}
	return gz >= 0 ? gz : star > 0;
}

/* 1 when the quoted tag [s, s + n) equals tag. */
static int
tag_is(const char *s, size_t n, const char *tag)
{
	return tag != NULL && tag[0] != '\0' && strlen(tag) == n &&
	       memcmp(s, tag, n) == 0;
}

int
http_static_etag_match(const char *inm, const char *tag1, const char *tag2)
{
	const char *p = inm, *q;

	while (is_ows(*p))
		p++;
	if (*p == '*') {
		for (q = p + 1; is_ows(*q); q++)
			;
		return *q == '\0';
	}
	for (;;) {
		while (is_ows(*p) || *p == ',')
			p++;
		if (*p == '\0')
			return 0;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"')
			return 0;
		/* etagc: %x21 / %x23-7E / obs-text */
		for (q = p + 1; *q != '"'; q++)
			if ((unsigned char)*q < 0x21 || *q == 0x7f)
				return 0;
		if (tag_is(p, (size_t)(q - p) + 1, tag1) ||
		    tag_is(p, (size_t)(q - p) + 1, tag2))
			return 1;
		for (p = q + 1; is_ows(*p); p++)
			;
		if (*p != ',' && *p != '\0')
			return 0;
	}
}

int
http_static_path_ok(const char *rel)
{
	const char *p = rel;
	unsigned segs = 0;

	if (strlen(rel) > PATH_REL_MAX)
		return 0;
	while (*p != '\0') {
		const char *seg = p;

		if (*p == '.' || *p == '/')
			return 0; /* hidden, "..", or an empty segment */
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		       *p == '-')
			p++;
		if (p == seg || (*p != '/' && *p != '\0'))
			return 0;
		if (++segs > PATH_SEGMENTS_MAX)
			return 0;
		if (*p == '/')
			p++;
	}
	return 1;
}

/* ---------------------------------------------------------------- files */

static void
sfile_free(struct sfile *f)
{
	if (f == NULL)
		return;
	free(f->path);
	free(f->data);
	free(f->gz);
	free(f);
}

/* data gzipped (RFC 1952), or NULL when zlib fails. */
static char *
gzip_of(const char *data, size_t len, size_t *outlen)
{
	z_stream z;
	char *out = NULL;
	size_t cap;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = deflateBound(&z, (uLong)len);
	out = xmalloc(cap);
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		free(out);
		out = NULL;
	} else {
		*outlen = z.total_out;
	}
	deflateEnd(&z);
	return out;
}

static void
etag_of(const char *data, size_t len, const char *suffix, char *out,
        size_t outlen)
{
	unsigned char h[HASH_BYTES];
	char hex[2 * HASH_BYTES + 1];

	crypto_generichash(h, sizeof(h), (const unsigned char *)data, len, NULL,
	                   0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, outlen, "\"%s%s\"", hex, suffix);
}

/*
 * Reads path (a regular file of at most HTTP_STATIC_FILE_MAX bytes) and
 * prepares what is served of it; NULL with errno-like reason logged.
 */
static struct sfile *
sfile_load(const char *path, const char *ctype, int compress)
{
	struct sfile *f = NULL;
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > HTTP_STATIC_FILE_MAX) {
		errno = EFBIG;
		goto fail;
	}
	f = xcalloc(1, sizeof(*f));
	f->data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		n = read(fd, f->data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* changed under us: the next request retries */
			goto fail;
		got += (size_t)n;
	}
	close(fd);
	fd = -1;
	f->path = xstrdup(path);
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	f->len = got;
	f->ctype = ctype;
	etag_of(f->data, f->len, "", f->etag, sizeof(f->etag));
	if (compress && f->len > 0) {
		f->gz = gzip_of(f->data, f->len, &f->gzlen);
		if (f->gz != NULL && f->gzlen >= f->len) {
			free(f->gz);
			f->gz = NULL;
		}
		if (f->gz != NULL)
			etag_of(f->data, f->len, "-gz", f->etag_gz,
			        sizeof(f->etag_gz));
	}
	return f;
fail:
	gw_warn("http.static_unreadable", "path=\"%s\" reason=\"%s\"", path,
	        strerror(errno));
	if (fd >= 0)
		close(fd);
	sfile_free(f);
	return NULL;
}

static int
sfile_current(const struct sfile *f, const struct stat *st)
{
	return f->dev == st->st_dev && f->ino == st->st_ino &&
	       f->size == st->st_size &&
	       f->mtime.tv_sec == st->st_mtim.tv_sec &&
	       f->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/*
 * The served version of path (stat'ed as st): the cached one while the
 * file is unchanged. *temp is set when the result is not kept (the cache
 * is full) and the caller must free it.
 */
static struct sfile *
file_get(struct http_static *s, const char *path, const struct stat *st,
         const char *ctype, int compress, int *temp)
{
	struct sfile *f;
	unsigned i;

	*temp = 0;
	for (i = 0; i < s->n && strcmp(s->files[i]->path, path) != 0; i++)
		;
	if (i < s->n && sfile_current(s->files[i], st))
		return s->files[i];
	f = sfile_load(path, ctype, compress);
	if (f == NULL)
		return NULL;
	if (i < s->n) {
		sfile_free(s->files[i]);
		s->files[i] = f;
	} else if (s->n < HTTP_STATIC_CACHE_MAX) {
		s->files[s->n++] = f;
	} else {
		*temp = 1;
	}
	return f;
}

/* ---------------------------------------------------------------- requests */

struct http_static *
http_static_new(const struct gw_config *cfg)
{
	struct http_static *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	return s;
}

void
http_static_free(struct http_static *s)
{
	unsigned i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		sfile_free(s->files[i]);
	free(s);
}

static int
mount_of(const char *path)
{
	unsigned i;

	for (i = 0; i < nitems(MOUNTS); i++)
		if (strncmp(path, MOUNTS[i].prefix, MOUNTS[i].len) == 0 &&
		    (path[MOUNTS[i].len] == '\0' || path[MOUNTS[i].len] == '/'))
			return (int)i;
	return -1;
}

int
http_static_owns(const char *path)
{
	return mount_of(path) >= 0;
}

const char *
http_static_mount(unsigned i)
{
	return i < nitems(MOUNTS) ? MOUNTS[i].prefix : NULL;
}

static void
not_found(struct http_static_reply *out)
{
	static const char body[] = "{\"error\":\"not found\"}\n";

	out->status = 404;
	out->ctype = "application/json";
	out->body = xstrdup(body);
	out->len = sizeof(body) - 1;
}

void
http_static_get(struct http_static *s, const char *path,
                const char *accept_encoding, const char *if_none_match,
                struct http_static_reply *out)
{
	char fs[PATH_MAX];
	const char *rel, *dir, *ext, *index, *ctype = NULL;
	struct stat st;
	struct sfile *f;
	size_t rlen;
	unsigned i;
	int m = mount_of(path), compress = 0, temp, gz;

	memset(out, 0, sizeof(*out));
	if (m < 0) {
		not_found(out);
		return;
	}
	if (path[MOUNTS[m].len] == '\0') {
		out->status = 301;
		snprintf(out->location, sizeof(out->location), "%s/",
		         MOUNTS[m].prefix);
		return;
	}
	rel = path + MOUNTS[m].len + 1;
	rlen = strlen(rel);
	dir = MOUNTS[m].widget ? s->cfg->widget_dir : s->cfg->desk_dir;
	/* A folder's own path ends with '/': its index.html. */
	index = rlen == 0 || rel[rlen - 1] == '/' ? "index.html" : "";
	if (!http_static_path_ok(rel) ||
	    (size_t)snprintf(fs, sizeof(fs), "%s/%s%s", dir, rel, index) >=
	            sizeof(fs) ||
	    stat(fs, &st) != 0) {
		not_found(out);
		return;
	}
	if (S_ISDIR(st.st_mode) && rlen > 0 && rel[rlen - 1] != '/' &&
	    strlen(path) + 2 <= sizeof(out->location)) {
		/* Relative links in its index.html need the slash. */
		out->status = 301;
		snprintf(out->location, sizeof(out->location), "%s/", path);
		return;
	}
	ext = strrchr(fs, '.');
	for (i = 0; ext != NULL && i < nitems(TYPES); i++)
		if (strcmp(ext, TYPES[i].ext) == 0) {
			ctype = TYPES[i].ctype;
			compress = TYPES[i].gzip;
			break;
		}
	if (!S_ISREG(st.st_mode) || ctype == NULL ||
	    (f = file_get(s, fs, &st, ctype, compress, &temp)) == NULL) {
		not_found(out);
		return;
	}
	gz = f->gz != NULL && http_static_accepts_gzip(accept_encoding);
	out->ctype = f->ctype;
	out->cache_control = "no-cache";
	out->vary = f->gz != NULL;
	out->cors = MOUNTS[m].widget;
	snprintf(out->etag, sizeof(out->etag), "%s", gz ? f->etag_gz : f->etag);
	/* Only the tag of the representation chosen (RFC 9110 13.1.2). */
	if (http_static_etag_match(if_none_match, out->etag, NULL)) {
		out->status = 304;
	} else {
		out->status = 200;
		out->encoding = gz ? "gzip" : NULL;
		out->len = gz ? f->gzlen : f->len;
		out->body = xmalloc(out->len + 1);
		memcpy(out->body, gz ? f->gz : f->data, out->len);
	}
	if (temp)
		sfile_free(f);
}
