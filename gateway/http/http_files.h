/*
 * http_files.h: the static folders of http_static.h (/widget, /desk)
 * mounted as routes of the HTTP server: GET and HEAD, no request body.
 * Loop thread only.
 */
#ifndef GW_HTTP_FILES_H
#define GW_HTTP_FILES_H

#include "config.h"
#include "http.h"

struct http_files;

/*
 * Registers the folders of cfg on h (before gw_http_start). cfg and h
 * must outlive the result. Never NULL.
 */
struct http_files *http_files_new(struct gw_http *h,
                                  const struct gw_config *cfg);
/* Frees f and the files it holds (after uv_run); NULL is a no-op. */
void http_files_free(struct http_files *f);

#endif
