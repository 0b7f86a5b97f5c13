/*
 * http_files.c: answers GET and HEAD of the static folders from
 * http_static.c, turning its reply into an HTTP answer with the
 * validators, encoding and cache headers it chose. Loop thread only.
 */
#include <stdlib.h>

#include "http_files.h"
#include "http_static.h"
#include "xmalloc.h"

struct http_files {
	struct gw_http *h;
	struct http_static *s;
};

static const char *const FILE_HEADERS[] = {"Accept-Encoding", "If-None-Match",
                                           NULL};

static void
files_get(void *arg, const struct gw_http_request *req)
{
	struct http_files *f = arg;
	struct http_static_reply out;
	struct gw_http_field fields[6];
	struct gw_http_response res;
	size_t n = 0;

	http_static_get(f->s, req->path, req->headers[0].value,
	                req->headers[1].value, &out);
	if (out.location[0] != '\0')
		fields[n++] = (struct gw_http_field){"Location", out.location};
	fields[n++] = (struct gw_http_field){
	        "Cache-Control",
	        out.cache_control != NULL ? out.cache_control : "no-store"};
	if (out.etag[0] != '\0')
		fields[n++] = (struct gw_http_field){"ETag", out.etag};
	if (out.encoding != NULL)
		fields[n++] = (struct gw_http_field){"Content-Encoding",
		                                     out.encoding};
	if (out.vary)
		fields[n++] = (struct gw_http_field){"Vary", "Accept-Encoding"};
	if (out.cors)
		fields[n++] = (struct gw_http_field){
		        "Access-Control-Allow-Origin", "*"};
	res.status = out.status;
	res.content_type = out.ctype;
	res.body = out.body;
	res.len = out.len;
	res.fields = fields;
	res.nfields = n;
	gw_http_answer(f->h, req->id, &res);
	free(out.body);
}

struct http_files *
http_files_new(struct gw_http *h, const struct gw_config *cfg)
{
	struct http_files *f = xcalloc(1, sizeof(*f));
	struct gw_http_route r = {GW_HTTP_GET | GW_HTTP_HEAD,
	                          NULL,
	                          GW_HTTP_PREFIX,
	                          0,
	                          FILE_HEADERS,
	                          files_get,
	                          f};
	unsigned i;

	f->h = h;
	f->s = http_static_new(cfg);
	for (i = 0; http_static_mount(i) != NULL; i++) {
		r.path = http_static_mount(i);
		gw_http_route_add(h, &r);
	}
	return f;
}

void
http_files_free(struct http_files *f)
{
	if (f == NULL)
		return;
	http_static_free(f->s);
	free(f);
}
