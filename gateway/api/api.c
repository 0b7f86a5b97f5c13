/*
 * api.c: the REST API's one entry. A request under /api/ is looked up once
 * in the modules' route tables (api_route.h): 404 when no pattern holds
 * its path, 405 with Allow when none takes its method; then what the
 * route needs is checked (a signed-in session, an admin, the
 * X-Requested-With header) and its handler called. The sign-in routes
 * (/api/session) are this file's own. Answers find their request by
 * connection id, so an answer for a client that has gone is dropped by
 * gw_http_respond. Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "api_advisor.h"
#include "api_desk.h"
#include "api_records.h"
#include "api_route.h"
#include "api_staff.h"
#include "http_hdr.h"
#include "http_route.h"
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
	/* The session's routes, then each module's (when there is a db). */
	struct api_routes tables[8];
	size_t ntables;
};

/*
 * A request kept while its session is checked: the call with its strings
 * copied, and the route found (tables are static: the pointer stays good).
 */
struct authed {
	struct gw_api *api;
	const struct api_route *route;
	void *arg;
	struct api_call call;
	char *path, *query, *body, *peer, *ctype;
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

/* A session request's answer: its owner, found by connection id. */
static struct req *
req_new(struct gw_api *api, unsigned long conn)
{
	struct req *r = xcalloc(1, sizeof(*r));

	r->api = api;
	r->conn = conn;
	return r;
}

/* A call into the session store that could not start: answered, freed. */
static void
session_refused(struct req *r, enum gw_session_status st, int login)
{
	respond_error(r->api, r->conn, http_status_of(st),
	              gw_session_status_text(st, login));
	free(r);
}

/* POST /api/session: {login, password}. */
static void
session_login(void *arg, const struct api_call *c)
{
	struct gw_api *api = arg;
	const char *login = NULL, *password = NULL;
	enum gw_session_status st;
	json_error_t jerr;
	json_t *msg = NULL;
	struct req *r;

	/* A cross-site form cannot send JSON: it needs a preflight. */
	if (strncmp(c->ctype, "application/json", 16) != 0) {
		respond_error(api, c->conn, 415,
		              "Content-Type must be application/json");
		goto out;
	}
	msg = json_loadb(c->body, c->len, JSON_REJECT_DUPLICATES, &jerr);
	if (msg == NULL || json_unpack(msg, "{s:s, s:s}", "login", &login,
	                               "password", &password) != 0) {
		respond_error(api, c->conn, 400,
		              "body must be {\"login\": string, "
		              "\"password\": string}");
		goto out;
	}
	r = req_new(api, c->conn);
	st = gw_session_login(api->sessions, login, password, c->peer, NULL,
	                      on_login, r);
	if (st != GW_SESSION_OK)
		session_refused(r, st, 1);
out:
	json_decref(msg);
}

/*
 * The session token of c's cookie into token, and a request to answer
 * once the store has: NULL after answering 401 when there is none.
 */
static struct req *
token_req(struct gw_api *api, const struct api_call *c, char *token, size_t len)
{
	if (cookie_token(c->cookie, token, len) == NULL) {
		respond_error(api, c->conn, 401, "not signed in");
		return NULL;
	}
	return req_new(api, c->conn);
}

/* GET /api/session: who the cookie belongs to. */
static void
session_check(void *arg, const struct api_call *c)
{
	struct gw_api *api = arg;
	char token[256];
	struct req *r = token_req(api, c, token, sizeof(token));
	enum gw_session_status st;

	if (r == NULL)
		return;
	st = gw_session_check(api->sessions, token, on_check, r);
	if (st != GW_SESSION_OK)
		session_refused(r, st, 1);
}

/* DELETE /api/session (X-Requested-With checked by its route). */
static void
session_logout(void *arg, const struct api_call *c)
{
	struct gw_api *api = arg;
	char token[256];
	struct req *r = token_req(api, c, token, sizeof(token));
	enum gw_session_status st;

	if (r == NULL)
		return;
	st = gw_session_logout(api->sessions, token, on_logout, r);
	if (st != GW_SESSION_OK)
		session_refused(r, st, 1);
}

/* Sign-in and sign-out: no session needed to reach them. */
const struct api_route gw_api_routes[] = {
        {GW_HTTP_POST, "/api/session", API_OPEN, NULL, session_login},
        {GW_HTTP_GET, "/api/session", API_OPEN, NULL, session_check},
        {GW_HTTP_DELETE, "/api/session", API_CSRF, NULL, session_logout},
};
const size_t gw_api_nroutes = nitems(gw_api_routes);

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

/*
 * The route's remaining needs (admin, X-Requested-With), then its handler.
 * who: the signed-in staff member, or NULL on an open route.
 */
static void
call_route(struct gw_api *api, const struct api_route *route, void *arg,
           struct api_call *c, const struct gw_session_info *who)
{
	c->who = who;
	/* API_ADMIN routes have API_SESSION (api_route_check): who is set. */
	if ((route->need & API_ADMIN) &&
	    (who == NULL || strcmp(who->role, "admin") != 0))
		respond_error(api, c->conn, 403,
		              route->forbidden != NULL ? route->forbidden
		                                       : "for admins only");
	else if ((route->need & API_CSRF) && !c->csrf)
		respond_error(api, c->conn, 403,
		              "X-Requested-With header required");
	else
		route->handler(arg, c);
}

static void
on_authed(void *arg, enum gw_session_status st, const char *err,
          const struct gw_session_info *info)
{
	struct authed *r = arg;

	if (st != GW_SESSION_OK)
		respond_error(r->api, r->call.conn, http_status_of(st), err);
	else
		call_route(r->api, r->route, r->arg, &r->call, info);
	authed_free(r);
}

/* A route that needs a signed-in staff member: checked, then called. */
static void
authed_request(struct gw_api *api, const struct api_route_hit *hit,
               const struct api_call *c)
{
	struct authed *r;
	char token[256];
	enum gw_session_status st;

	if (cookie_token(c->cookie, token, sizeof(token)) == NULL) {
		respond_error(api, c->conn, 401, "not signed in");
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->api = api;
	r->route = hit->route;
	r->arg = hit->arg;
	r->call = *c;
	r->path = xstrdup(c->path);
	r->query = xstrdup(c->query);
	r->body = xmalloc(c->len + 1);
	memcpy(r->body, c->body, c->len);
	r->body[c->len] = '\0';
	r->peer = xstrdup(c->peer);
	r->ctype = xstrdup(c->ctype);
	r->call.path = r->path;
	r->call.query = r->query;
	r->call.body = r->body;
	r->call.peer = r->peer;
	r->call.ctype = r->ctype;
	/* The cookie has done its work: it is not kept. */
	r->call.cookie = "";
	st = gw_session_check(api->sessions, token, on_authed, r);
	if (st != GW_SESSION_OK) {
		respond_error(api, c->conn, http_status_of(st),
		              gw_session_status_text(st, 0));
		authed_free(r);
	}
}

/* 405: the path's routes take other methods (named in Allow). */
static void
not_allowed(struct gw_api *api, unsigned long conn, unsigned allow)
{
	static const char body[] = "{\"error\":\"method not allowed\"}";
	char value[HTTP_ROUTE_ALLOW_MAX];
	struct gw_http_field field = {"Allow", value};
	struct gw_http_response res = {405,    NULL, body, sizeof(body) - 1,
	                               &field, 1};

	http_route_allow(allow, value, sizeof(value));
	gw_http_answer(api->http, conn, &res);
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
	struct gw_api *api = arg;
	struct api_route_hit hit;
	struct api_call c;

	api_route_match(api->tables, api->ntables, req->method, req->path,
	                &hit);
	if (hit.status == 404) {
		respond_error(api, req->id, 404, "not found");
		return;
	}
	if (hit.status == 405) {
		not_allowed(api, req->id, hit.allow);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.http = api->http;
	c.conn = req->id;
	c.method = req->method;
	c.path = req->path;
	memcpy(c.id, hit.id, sizeof(c.id));
	c.nids = hit.nids;
	c.query = req->query;
	c.body = req->body;
	c.len = req->body_len;
	c.peer = req->peer;
	c.ctype = req->headers[HDR_CTYPE].value;
	c.cookie = req->headers[HDR_COOKIE].value;
	c.csrf = req->headers[HDR_XRW].value[0] != '\0';
	if (hit.route->need & API_SESSION)
		authed_request(api, &hit, &c);
	else
		call_route(api, hit.route, hit.arg, &c, NULL);
}

/* Mounts a table whose handlers are given arg. */
static void
mount(struct gw_api *api, const struct api_route *routes, size_t n, void *arg)
{
	if (api->ntables == nitems(api->tables))
		fatalx("api: more than %zu route tables", nitems(api->tables));
	api->tables[api->ntables].routes = routes;
	api->tables[api->ntables].n = n;
	api->tables[api->ntables].arg = arg;
	api->ntables++;
}

void
gw_api_mount(struct gw_api *api, const struct api_route *routes, size_t n,
             void *arg)
{
	const char *why, *bad;

	mount(api, routes, n, arg);
	why = api_route_check(api->tables, api->ntables, &bad);
	if (why != NULL)
		fatalx("api route %s: %s", bad != NULL ? bad : "?", why);
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
	const char *why, *bad;

	api->http = h;
	api->sessions = st;
	api->max_age = session_max_age_s;
	api->records = db != NULL ? api_records_new(h, db) : NULL;
	api->desk = db != NULL ? api_desk_new(h, db) : NULL;
	api->staff = db != NULL ? api_staff_new(loop, h, db) : NULL;
	api->advisor = db != NULL ? api_advisor_new(h, db) : NULL;
	mount(api, gw_api_routes, gw_api_nroutes, api);
	/* Without a database only signing in is served (the rest: 404). */
	if (db != NULL) {
		mount(api, api_records_routes, api_records_nroutes,
		      api->records);
		mount(api, api_desk_routes, api_desk_nroutes, api->desk);
		mount(api, api_staff_routes, api_staff_nroutes, api->staff);
		mount(api, api_advisor_routes, api_advisor_nroutes,
		      api->advisor);
	}
	why = api_route_check(api->tables, api->ntables, &bad);
	if (why != NULL)
		fatalx("api route %s: %s", bad != NULL ? bad : "?", why);
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
