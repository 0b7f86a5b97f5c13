/* api_util.c: see api_util.h. */
#include <stdlib.h>
#include <string.h>

#include "api_util.h"

void
api_respond_json(struct gw_http *h, unsigned long conn, int status, json_t *o)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	gw_http_respond(h, conn, status, s ? s : "{}", NULL);
	free(s);
	json_decref(o);
}

void
api_respond_error(struct gw_http *h, unsigned long conn, int status,
                  const char *message)
{
	api_respond_json(h, conn, status, json_pack("{s:s}", "error", message));
}

int
api_query_param(const char *query, const char *name, char *out, size_t len)
{
	size_t n = strlen(name), k;
	const char *p = query;

	if (len > 0)
		out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && p[n] == '=') {
			p += n + 1;
			k = strcspn(p, "&");
			if (k >= len)
				return -2;
			memcpy(out, p, k);
			out[k] = '\0';
			return 0;
		}
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	return -1;
}

json_t *
api_json_body(struct gw_http *h, unsigned long conn, const char *body,
              size_t len, const char *ctype, int csrf)
{
	json_t *o;

	if (!csrf) {
		api_respond_error(h, conn, 403,
		                  "X-Requested-With header required");
		return NULL;
	}
	if (strncmp(ctype, "application/json", 16) != 0) {
		api_respond_error(h, conn, 415,
		                  "Content-Type must be application/json");
		return NULL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		api_respond_error(h, conn, 400, "body must be a JSON object");
		return NULL;
	}
	return o;
}
