/*
 * api.c: REST endpoints. Answers find their request by connection id, so
 * an answer for a client that has gone is dropped by gw_http_respond.
 * Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "api_advisor.h"
#include "api_desk.h"
#include "api_records.h"
#include "api_staff.h"
#include "http_hdr.h"
#include "log.h"
#include "xmalloc.h"

#define COOKIE_NAME "__Host-sb_session"

struct gw_api {
	struct gw_http *http;
	struct gw_session_store *sessions;
	struct gw_revoke *revoke;
	int max_age;
	struct api_records *records;
	struct api_desk *desk;
	struct api_staff *staff;
	struct api_advisor *advisor;
};

/* A request kept while its session is checked. */
struct authed {
	struct gw_api *api;
	unsigned long conn;
	char method[8];
	char *path, *query, *body, *peer, *ctype;
	size_t len;
	int csrf;
};

struct req {
	struct gw_api *api;
	unsigned long conn;
};

static void
respond_json(struct gw_api *api, unsigned long conn, int status, json_t *obj,
             const char *cookie)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	gw_http_respond(api->http, conn, status, text ? text : "{}", cookie);
	free(text);
	json_decref(obj);
}

static void
respond_error(struct gw_api *api, unsigned long conn, int status,
              const char *message)
{
	respond_json(api, conn, status, json_pack("{s:s}", "error", message),
	             NULL);
}

static int
http_status_of(enum gw_session_status st)
{
	switch (st) {
	case GW_SESSION_OK:
		return 200;
	case GW_SESSION_DENIED:
		return 401;
	case GW_SESSION_THROTTLED:
		return 429;
	default:
		return 503;
	}
}

static json_t *
staff_json(const struct gw_session_info *info)
{
	return json_pack("{s:I, s:s, s:s, s:s}", "staff",
	                 (json_int_t)info->staff_id, "login", info->login,
	                 "name", info->display_name, "role", info->role);
}

static void
on_login(void *arg, enum gw_session_status st, const char *err,
         const struct gw_session_info *info)
{
	struct req *r = arg;
	char cookie[256];

	if (st != GW_SESSION_OK) {
		respond_error(r->api, r->conn, http_status_of(st), err);
	} else {
		/* Rotated at every login: a new token, never the old one. */
		snprintf(cookie, sizeof(cookie),
		         COOKIE_NAME "=%s; Path=/; Secure; HttpOnly; "
		                     "SameSite=Strict; Max-Age=%d",
		         info->token, r->api->max_age);
		respond_json(r->api, r->conn, 200, staff_json(info), cookie);
	}
	free(r);
}

static void
on_check(void *arg, enum gw_session_status st, const char *err,
         const struct gw_session_info *info)
{
	struct req *r = arg;

	if (st != GW_SESSION_OK)
		respond_error(r->api, r->conn, http_status_of(st), err);
	else
		respond_json(r->api, r->conn, 200, staff_json(info), NULL);
	free(r);
}

static void
signed_out(struct req *r)
{
	respond_json(r->api, r->conn, 200, json_pack("{s:b}", "signed_out", 1),
	             COOKIE_NAME "=; Path=/; Secure; HttpOnly; "
	                         "SameSite=Strict; Max-Age=0");
	free(r);
}

static void
on_revoked_everywhere(void *arg, int confirmed, long long acks)
{
	(void)confirmed;
	(void)acks;
	signed_out(arg);
}

/*
 * The session is revoked in the database; its desks, on every instance,
 * stop taking messages before the answer (gateway/auth/revoke.h).
 */
static void
on_logout(void *arg, enum gw_session_status st, const char *err,
          const struct gw_session_ended *e)
{
	struct req *r = arg;

	if (st != GW_SESSION_OK && st != GW_SESSION_DENIED) {
		respond_error(r->api, r->conn, http_status_of(st), err);
		free(r);
	} else if (e != NULL && e->count > 0) {
		gw_revoke_announce(r->api->revoke, e->staff_id, e->session_id,
		                   !e->staff_live, on_revoked_everywhere, r);
	} else {
		signed_out(r);
	}
}

/* The session token among the request's cookies, or NULL. */
static const char *
cookie_token(const char *cookie, char *buf, size_t len)
{
	return http_hdr_cookie(cookie, COOKIE_NAME, buf, len) > 0 ? buf : NULL;
}

static void
session_request(struct gw_api *api, unsigned long conn, const char *method,
                const char *body, size_t len, const char *cookie,
                const char *peer, const char *ctype, int csrf_header)
{
	enum gw_session_status st = GW_SESSION_UNAVAILABLE;
	struct req *r = xcalloc(1, sizeof(*r));
	const char *login = NULL, *password = NULL;
	json_error_t jerr;
	json_t *msg = NULL;
	char token[256];

	r->api = api;
	r->conn = conn;
	if (strcmp(method, "POST") == 0) {
		/* A cross-site form cannot send JSON: it needs a preflight. */
		if (strncmp(ctype, "application/json", 16) != 0) {
			respond_error(api, conn, 415,
			              "Content-Type must be application/json");
			goto fail;
		}
		msg = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
		if (msg == NULL ||
		    json_unpack(msg, "{s:s, s:s}", "login", &login, "password",
		                &password) != 0) {
			respond_error(api, conn, 400,
			              "body must be {\"login\": string, "
			              "\"password\": string}");
			goto fail;
		}
		st = gw_session_login(api->sessions, login, password, peer,
		                      NULL, on_login, r);
	} else if (strcmp(method, "GET") == 0) {
		if (cookie_token(cookie, token, sizeof(token)) == NULL) {
			respond_error(api, conn, 401, "not signed in");
			goto fail;
		}
		st = gw_session_check(api->sessions, token, on_check, r);
	} else if (strcmp(method, "DELETE") == 0) {
		if (!csrf_header) {
			respond_error(api, conn, 403,
			              "X-Requested-With header required");
			goto fail;
		}
		if (cookie_token(cookie, token, sizeof(token)) == NULL) {
			respond_error(api, conn, 401, "not signed in");
			goto fail;
		}
		st = gw_session_logout(api->sessions, token, on_logout, r);
	} else {
		respond_error(api, conn, 405, "method not allowed");
		goto fail;
	}
	if (st != GW_SESSION_OK) {
		respond_error(api, conn, http_status_of(st),
		              gw_session_status_text(st, 1));
		goto fail;
	}
	json_decref(msg);
	return;
fail:
	json_decref(msg);
	free(r);
}

static void
authed_free(struct authed *r)
{
	free(r->path);
	free(r->query);
	free(r->body);
	free(r->peer);
	free(r->ctype);
	free(r);
}

static void
on_authed(void *arg, enum gw_session_status st, const char *err,
          const struct gw_session_info *info)
{
	struct authed *r = arg;

	if (st != GW_SESSION_OK)
		respond_error(r->api, r->conn, http_status_of(st), err);
	else if (api_advisor_owns(r->path))
		api_advisor_request(r->api->advisor, r->conn, r->method,
		                    r->path, r->body, r->len, r->peer, r->ctype,
		                    r->csrf, info);
	else if (api_desk_owns(r->path))
		api_desk_request(r->api->desk, r->conn, r->method, r->path,
		                 r->query, r->body, r->len, r->peer, r->ctype,
		                 r->csrf, info);
	else if (api_staff_owns(r->path))
		api_staff_request(r->api->staff, r->conn, r->method, r->path,
		                  r->body, r->len, r->peer, r->ctype, r->csrf,
		                  info);
	else
		api_records_request(r->api->records, r->conn, r->method,
		                    r->path, r->query, r->body, r->len, r->peer,
		                    r->ctype, r->csrf, info);
	authed_free(r);
}

/* A request that needs a signed-in staff member: checked, then handled. */
static void
authed_request(struct gw_api *api, unsigned long conn, const char *method,
               const char *path, const char *query, const char *body,
               size_t len, const char *cookie, const char *peer,
               const char *ctype, int csrf_header)
{
	struct authed *r;
	char token[256];
	enum gw_session_status st;

	if (cookie_token(cookie, token, sizeof(token)) == NULL) {
		respond_error(api, conn, 401, "not signed in");
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->api = api;
	r->conn = conn;
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->path = xstrdup(path);
	r->query = xstrdup(query);
	r->body = xmalloc(len + 1);
	memcpy(r->body, body, len);
	r->body[len] = '\0';
	r->len = len;
	r->peer = xstrdup(peer);
	r->ctype = xstrdup(ctype);
	r->csrf = csrf_header;
	st = gw_session_check(api->sessions, token, on_authed, r);
	if (st != GW_SESSION_OK) {
		respond_error(api, conn, http_status_of(st),
		              gw_session_status_text(st, 0));
		authed_free(r);
	}
}

static void
api_request(void *arg, unsigned long conn, const char *method, const char *path,
            const char *query, const char *body, size_t len, const char *cookie,
            const char *peer, const char *ctype, int csrf_header)
{
	struct gw_api *api = arg;

	if (strcmp(path, "/api/session") == 0)
		session_request(api, conn, method, body, len, cookie, peer,
		                ctype, csrf_header);
	else if (api->records != NULL &&
	         (api_records_owns(path) || api_desk_owns(path) ||
	          api_staff_owns(path) || api_advisor_owns(path)))
		authed_request(api, conn, method, path, query, body, len,
		               cookie, peer, ctype, csrf_header);
	else
		respond_error(api, conn, 404, "not found");
}

/*
 * What the API reads of a request's headers: the session cookie, the
 * body's type, and X-Requested-With (which a cross-site form cannot send).
 */
enum { HDR_COOKIE = 0, HDR_CTYPE, HDR_XRW };
static const char *const API_HEADERS[] = {"Cookie", "Content-Type",
                                          "X-Requested-With", NULL};

static void
api_route(void *arg, const struct gw_http_request *req)
{
	api_request(arg, req->id, req->method_name, req->path, req->query,
	            req->body, req->body_len, req->headers[HDR_COOKIE].value,
	            req->peer, req->headers[HDR_CTYPE].value,
	            req->headers[HDR_XRW].value[0] != '\0');
}

struct gw_api *
gw_api_new(uv_loop_t *loop, struct gw_http *h, struct gw_session_store *st,
           int session_max_age_s, struct db *db)
{
	struct gw_api *api = xcalloc(1, sizeof(*api));
	struct gw_http_route route = {GW_HTTP_ANY,
	                              "/api/",
	                              GW_HTTP_PREFIX,
	                              GW_HTTP_BODY_CONFIGURED,
	                              API_HEADERS,
	                              api_route,
	                              api};

	api->http = h;
	api->sessions = st;
	api->max_age = session_max_age_s;
	api->records = db != NULL ? api_records_new(h, db) : NULL;
	api->desk = db != NULL ? api_desk_new(h, db) : NULL;
	api->staff = db != NULL ? api_staff_new(loop, h, db) : NULL;
	api->advisor = db != NULL ? api_advisor_new(h, db) : NULL;
	gw_http_route_add(h, &route);
	return api;
}

void
gw_api_set_route(struct gw_api *api, struct route *r)
{
	if (api != NULL)
		api_advisor_set_route(api->advisor, r);
}

void
gw_api_set_revoke(struct gw_api *api, struct gw_revoke *rv)
{
	api->revoke = rv;
	api_staff_set_revoke(api->staff, rv);
}

void
gw_api_close(struct gw_api *api)
{
	if (api != NULL)
		api_staff_close(api->staff);
}

void
gw_api_free(struct gw_api *api)
{
	if (api == NULL)
		return;
	api_records_free(api->records);
	api_desk_free(api->desk);
	api_staff_free(api->staff);
	api_advisor_free(api->advisor);
	free(api);
}
