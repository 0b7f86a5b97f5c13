/*
 * http_static.h: the static files of the widget (widget_dir, at /widget/)
 * and of the desk (desk_dir, at /desk/), served from memory with a content
 * hash for validator (ETag, If-None-Match -> 304), gzipped once per file
 * version for the clients that accept it (Vary: Accept-Encoding), and
 * revalidated on every use (Cache-Control: no-cache). The widget's files
 * may be read by any page (Access-Control-Allow-Origin: *): a council page
 * on another origin imports them as ES modules. docs/http-api.md has the
 * contract; http_files.c serves them as routes. Pure but for reading the
 * files: no network I/O. Loop thread only.
 */
#ifndef GW_HTTP_STATIC_H
#define GW_HTTP_STATIC_H

#include <stddef.h>

#include "config.h"

/* A file larger than this is not served (404, logged). */
#define HTTP_STATIC_FILE_MAX (1024 * 1024)
/* Files kept in memory at once; others are read for each request. */
#define HTTP_STATIC_CACHE_MAX 256

struct http_static;

/*
 * What to answer. status: 200, 304, 301 (location: the folder with its
 * slash) or 404 (the route table answers other methods). body: malloc'd, the
 * caller's (NULL when none); for a HEAD it is still filled, so that
 * Content-Length is right. The strings are static or inside the reply.
 */
struct http_static_reply {
	int status;
	const char *ctype;
	char *body;
	size_t len;
	const char *encoding;      /* "gzip", or NULL */
	const char *cache_control; /* NULL: no-store */
	int vary;                  /* Vary: Accept-Encoding */
	int cors;                  /* Access-Control-Allow-Origin: * */
	char etag[48];             /* quoted; "" for none */
	char location[256];
};

/* The folders of cfg (which must outlive it). Never NULL. */
struct http_static *http_static_new(const struct gw_config *cfg);
/* Frees s and every file it holds; NULL is a no-op. */
void http_static_free(struct http_static *s);
/* 1 when path (a request's, without its query) is under /widget or /desk. */
int http_static_owns(const char *path);
/* The i-th folder served ("/widget", "/desk"), NULL past the last. */
const char *http_static_mount(unsigned i);
/*
 * Answers a GET or HEAD of path (a HEAD sends out's headers only).
 * accept_encoding and if_none_match are the request's headers, "" when
 * absent or too long to read. Fills out (zeroed first).
 */
void http_static_get(struct http_static *s, const char *path,
                     const char *accept_encoding, const char *if_none_match,
                     struct http_static_reply *out);
/* ---- the pure parts, for the unit tests and the fuzzer ---- */

/*
 * 1 when an Accept-Encoding value allows gzip (gzip, x-gzip or * with a
 * q-value other than 0; gzip;q=0 refuses it even when * is there), else 0.
 */
int http_static_accepts_gzip(const char *accept_encoding);
/*
 * 1 when an If-None-Match value matches tag1 or tag2 (either may be NULL;
 * weak comparison: W/ is ignored; "*" matches anything); tags are quoted,
 * as sent in ETag. A value that does not parse matches nothing.
 */
int http_static_etag_match(const char *if_none_match, const char *tag1,
                           const char *tag2);
/*
 * 1 when rel (a path below a folder, no leading slash, possibly ending
 * with '/') may name a file there: segments of letters, digits, '.', '_'
 * and '-', none empty or starting with '.', at most 8 of them and 200
 * bytes in all. Anything else (.., hidden files, backslashes, %, NUL) 0.
 */
int http_static_path_ok(const char *rel);

#endif
