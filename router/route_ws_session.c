/*
 * route_ws_session.c: desk sessions on switchboard.v1. A socket whose
 * handshake carries the staff session cookie is a desk once the session
 * checks out (desk.ready, then the desk.conversations snapshot); until
 * then its messages are answered not_ready. A desk's messages keep its
 * session in use. The sessions of every open desk are re-checked every
 * SESSIONS_EVERY_TICKS (route_ws.c) in one statement; a desk whose
 * session was revoked (logout, `user passwd`, `user disable`, on any
 * instance or from the CLI), reached its absolute timeout, or whose user
 * was disabled, is closed with DESK_REVOKED_CODE. One whose user's role
 * or queue memberships changed (the access digest, gw_session_info.access)
 * is closed with DESK_CHANGED_CODE: the desk connects again at once and
 * is served under the new rules. Revocations announced by other instances
 * close desks at once (route_ws_revoke). Loop thread only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_hdr.h"
#include "log.h"
#include "route_ws-int.h"
#include "xmalloc.h"

#define SESSION_COOKIE      "__Host-sb_session"
#define DESK_TOUCH_MS       30000
#define DESK_REVOKED_CODE   4003
#define DESK_REVOKED_REASON "signed out"
#define DESK_CHANGED_CODE   4005
#define DESK_CHANGED_REASON "access changed"
/*
 * Revocations announced (route_ws_revoke) are remembered this long, for
 * desks whose session check was asked before and answers after: the
 * periodic re-check covers anything later.
 */
#define REVOKED_KEEP_MS 10000

static void
desk_link(struct route_ws *rw, struct peer *p)
{
	p->next_desk = idmap_get(rw->desks, p->staff);
	idmap_put(rw->desks, p->staff, p);
}

/* Unlinks p; returns 1 if it was the advisor's last desk here. */
static int
desk_unlink(struct route_ws *rw, struct peer *p)
{
	struct peer *head = idmap_get(rw->desks, p->staff), **pp = &head;

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next_desk;
	if (*pp == p)
		*pp = p->next_desk;
	if (head == NULL) {
		idmap_del(rw->desks, p->staff);
		return 1;
	}
	idmap_put(rw->desks, p->staff, head);
	return 0;
}

/* ---------------------------------------------------------------- re-check */

struct session_ids {
	unsigned gen;
	long long *ids;
	size_t n, cap;
};

static void
collect_session(void *arg, uint64_t staff, void *value)
{
	struct session_ids *s = arg;
	struct peer *d;

	(void)staff;
	for (d = value; d != NULL; d = d->next_desk) {
		if (d->revoked || s->n == s->cap)
			continue;
		d->asked = s->gen;
		s->ids[s->n++] = d->session;
	}
}

static int
state_cmp(const void *a, const void *b)
{
	long long x = ((const struct gw_session_state *)a)->session_id;
	long long y = ((const struct gw_session_state *)b)->session_id;

	return (x > y) - (x < y);
}

/*
 * A desk to close, and whether its user is signed out everywhere, or
 * (changed) still signed in with another access digest.
 */
struct revoked {
	unsigned long conn;
	int logout;
	int changed;
};

struct revoke_scan {
	unsigned gen;
	const struct gw_session_state *states; /* sorted by session id */
	size_t nstates;
	/* Desks to close: the map cannot change while it is walked. */
	struct revoked *found;
	size_t n, cap;
};

static void
find_revoked(void *arg, uint64_t staff, void *value)
{
	struct revoke_scan *sc = arg;
	struct gw_session_state key;
	const struct gw_session_state *st;
	struct peer *d;

	(void)staff;
	for (d = value; d != NULL; d = d->next_desk) {
		/* Opened after the question: not asked about, not judged. */
		if (d->revoked || d->asked != sc->gen || sc->n == sc->cap)
			continue;
		memset(&key, 0, sizeof(key));
		key.session_id = d->session;
		/* bsearch must not be given NULL, even for no elements. */
		st = sc->nstates == 0 ? NULL
		                      : bsearch(&key, sc->states, sc->nstates,
		                                sizeof(key), state_cmp);
		if (st != NULL && st->live &&
		    strcmp(st->access, d->access) == 0)
			continue;
		sc->found[sc->n].conn = d->conn;
		sc->found[sc->n].changed = st != NULL && st->live;
		/* A deleted session ended long ago: nothing says otherwise. */
		sc->found[sc->n].logout = st == NULL || !st->staff_live;
		sc->n++;
	}
}

/*
 * The desk's session ended: refuse its messages from now on and close it.
 * When its user has no live session left and this was the instance's
 * last desk of the advisor, log them out of routing: their live work goes
 * back to the queues now, not after the grace period. Otherwise (signed
 * in elsewhere) the close is an ordinary one: route_advisor_gone.
 */
static void
desk_revoke(struct route_ws *rw, unsigned long conn, int logout)
{
	struct peer *peer = route_ws_peer(rw, conn), *d;
	int others = 0;
	char id[24];

	if (peer == NULL || peer->kind != PEER_STAFF || peer->revoked)
		return;
	peer->revoked = 1;
	for (d = idmap_get(rw->desks, peer->staff); d != NULL; d = d->next_desk)
		if (!d->revoked)
			others = 1;
	gw_info("route_ws.desk_revoked", "conn=%lu staff=%llu logout=%d", conn,
	        (unsigned long long)peer->staff, logout && !others);
	if (logout && !others) {
		snprintf(id, sizeof(id), "%llu",
		         (unsigned long long)peer->staff);
		route_advisor_logout(rw->r, id, NULL, NULL);
	}
	gw_http_ws_close(rw->http, conn, DESK_REVOKED_CODE,
	                 DESK_REVOKED_REASON);
}

/*
 * The desk's user got another role or other queues: it is closed, and
 * connects again under the new rules. An ordinary close for routing (the
 * grace period covers the reconnection); its messages are refused until
 * then.
 */
static void
desk_changed(struct route_ws *rw, unsigned long conn)
{
	struct peer *peer = route_ws_peer(rw, conn);

	if (peer == NULL || peer->kind != PEER_STAFF || peer->revoked)
		return;
	peer->revoked = 2;
	gw_info("route_ws.desk_access_changed", "conn=%lu staff=%llu", conn,
	        (unsigned long long)peer->staff);
	gw_http_ws_close(rw->http, conn, DESK_CHANGED_CODE,
	                 DESK_CHANGED_REASON);
}

static void
on_sessions_live(void *arg, enum gw_session_status status, const char *err,
                 const struct gw_session_state *states, size_t n)
{
	struct route_ws *rw = arg;
	struct gw_session_state *sorted = NULL;
	struct revoke_scan sc;
	size_t i;

	rw->sessions_inflight = 0;
	if (status != GW_SESSION_OK) {
		/* Unknown is not revoked: the desks stay until we know. */
		gw_warn("route_ws.sessions_failed", "reason=\"%s\"",
		        err ? err : "?");
		return;
	}
	if (n > 0) {
		sorted = xcalloc(n, sizeof(*sorted));
		memcpy(sorted, states, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), state_cmp);
	}
	memset(&sc, 0, sizeof(sc));
	sc.gen = rw->sessions_gen;
	sc.states = sorted;
	sc.nstates = n;
	sc.cap = idmap_count(rw->peers);
	sc.found = xcalloc(sc.cap + 1, sizeof(*sc.found));
	idmap_each(rw->desks, find_revoked, &sc);
	for (i = 0; i < sc.n; i++)
		if (sc.found[i].changed)
			desk_changed(rw, sc.found[i].conn);
		else
			desk_revoke(rw, sc.found[i].conn, sc.found[i].logout);
	free(sc.found);
	free(sorted);
}

/* A revocation announced, kept REVOKED_KEEP_MS (route_ws_revoke). */
struct revoked_at {
	uint64_t at;
	long long session; /* 0: every session of the staff member */
	int logout;
};

void
route_ws_session_revoke(struct route_ws *rw, long long staff, long long session,
                        int logout)
{
	struct revoked_at *ra;
	struct peer *d;
	unsigned long conns[64];
	int i, n = 0;

	if (staff <= 0)
		return;
	ra = idmap_get(rw->revoked, (uint64_t)staff);
	if (ra == NULL) {
		ra = xcalloc(1, sizeof(*ra));
		idmap_put(rw->revoked, (uint64_t)staff, ra);
		ra->session = session;
	} else if (ra->session != session) {
		ra->session = 0; /* two sessions: judge every one */
	}
	ra->at = uv_now(rw->loop);
	ra->logout = logout;
	/* desk_revoke does not change the list: collect, then act. */
	do {
		n = 0;
		for (d = idmap_get(rw->desks, (uint64_t)staff);
		     d != NULL && n < 64; d = d->next_desk)
			if (!d->revoked &&
			    (session == 0 || d->session == session))
				conns[n++] = d->conn;
		for (i = 0; i < n; i++)
			desk_revoke(rw, conns[i], logout);
	} while (n == 64);
}

/*
 * A desk whose session check answered: revoked meanwhile (announced after
 * the check was asked)? The database's answer may predate the revocation.
 */
static int
revoked_since(struct route_ws *rw, const struct peer *peer)
{
	const struct revoked_at *ra = idmap_get(rw->revoked, peer->staff);

	return ra != NULL && ra->at >= peer->opened &&
	       (ra->session == 0 || ra->session == peer->session);
}

static void
forget_revoked(void *arg, uint64_t staff, void *value)
{
	struct route_ws *rw = arg;
	struct revoked_at *ra = value;

	(void)staff;
	if (uv_now(rw->loop) - ra->at > REVOKED_KEEP_MS)
		ra->at = 0; /* freed below: the map cannot change in a walk */
}

struct stale {
	uint64_t ids[64];
	int n;
};

static void
collect_stale(void *arg, uint64_t staff, void *value)
{
	struct stale *st = arg;

	if (((struct revoked_at *)value)->at == 0 && st->n < 64)
		st->ids[st->n++] = staff;
}

static void
prune_revoked(struct route_ws *rw)
{
	struct stale st;
	int i;

	if (idmap_count(rw->revoked) == 0)
		return;
	idmap_each(rw->revoked, forget_revoked, rw);
	st.n = 0;
	idmap_each(rw->revoked, collect_stale, &st);
	for (i = 0; i < st.n; i++)
		free(idmap_del(rw->revoked, st.ids[i]));
}

static void
sessions_recheck(struct route_ws *rw)
{
	struct session_ids s;

	if (rw->sessions_inflight || idmap_count(rw->desks) == 0)
		return;
	memset(&s, 0, sizeof(s));
	s.gen = ++rw->sessions_gen;
	s.cap = idmap_count(rw->peers);
	s.ids = xcalloc(s.cap + 1, sizeof(*s.ids));
	idmap_each(rw->desks, collect_session, &s);
	if (s.n > 0 && gw_session_live(rw->sessions, s.ids, s.n,
	                               on_sessions_live, rw) == GW_SESSION_OK)
		rw->sessions_inflight = 1;
	free(s.ids);
}

/* ---------------------------------------------------------------- open */

static void
on_session(void *arg, enum gw_session_status status, const char *err,
           const struct gw_session_info *info)
{
	struct pending *p = arg;
	struct peer *peer = route_ws_peer(p->rw, p->conn);

	if (peer == NULL || peer->kind != PEER_AUTHENTICATING) {
		route_ws_pending_free(p);
		return;
	}
	if (status != GW_SESSION_OK) {
		/* Not signed in: this socket can only be a resident's. */
		gw_debug("route_ws.no_session", "conn=%lu reason=\"%s\"",
		         p->conn, err ? err : "");
		peer->kind = PEER_RESIDENT;
		route_ws_pending_free(p);
		return;
	}
	peer->kind = PEER_STAFF;
	peer->staff = (uint64_t)info->staff_id;
	peer->session = info->session_id;
	peer->touched = uv_now(p->rw->loop); /* the check just touched it */
	snprintf(peer->role, sizeof(peer->role), "%s", info->role);
	snprintf(peer->access, sizeof(peer->access), "%s",
	         info->access ? info->access : "");
	snprintf(peer->name, sizeof(peer->name), "%s", info->display_name);
	desk_link(p->rw, peer);
	gw_info("route_ws.desk", "conn=%lu staff=%lld role=%s", p->conn,
	        info->staff_id, info->role);
	route_ws_send(p->rw, p->conn, NULL,
	              json_pack("{s:s, s:I, s:s, s:s, s:i}", "type",
	                        "desk.ready", "staff",
	                        (json_int_t)info->staff_id, "role", info->role,
	                        "name", info->display_name, "idle_timeout_s",
	                        gw_session_idle_timeout(p->rw->sessions)));
	route_ws_desk_holding(p->rw, peer);
	/* Revoked while its check was on its way: closed at once. */
	if (revoked_since(p->rw, peer))
		desk_revoke(p->rw, p->conn,
		            ((struct revoked_at *)idmap_get(p->rw->revoked,
		                                            peer->staff))
		                    ->logout);
	route_ws_pending_free(p);
}

/*
 * A message from a desk is activity: it keeps the session from going idle
 * (written at most every DESK_TOUCH_MS, or a quarter of the idle
 * timeout when that is shorter; sessions_recheck closes the desks
 * of sessions that went idle all the same).
 */
void
route_ws_session_touch(struct route_ws *rw, struct peer *peer)
{
	uint64_t now = uv_now(rw->loop);
	uint64_t every = (uint64_t)gw_session_idle_timeout(rw->sessions) * 250;

	if (every > DESK_TOUCH_MS)
		every = DESK_TOUCH_MS;
	if (now - peer->touched < every)
		return;
	peer->touched = now;
	gw_session_touch(rw->sessions, peer->session, NULL, NULL);
}

/* The session token among a handshake's cookies, or NULL. */
static const char *
session_token(const char *cookie, char *buf, size_t len)
{
	return http_hdr_cookie(cookie, SESSION_COOKIE, buf, len) > 0 ? buf
	                                                             : NULL;
}

void
route_ws_session_open(struct route_ws *rw, struct peer *peer,
                      const char *cookie)
{
	char token[256];
	struct pending *p;

	if (session_token(cookie, token, sizeof(token)) == NULL)
		return;
	peer->kind = PEER_AUTHENTICATING;
	peer->opened = uv_now(rw->loop);
	p = route_ws_pending_new(rw, peer->conn, NULL, NULL);
	if (gw_session_check(rw->sessions, token, on_session, p) !=
	    GW_SESSION_OK) {
		peer->kind = PEER_RESIDENT;
		route_ws_pending_free(p);
	}
}

int
route_ws_session_close(struct route_ws *rw, struct peer *peer)
{
	char id[24];

	if (!desk_unlink(rw, peer))
		return 0;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)peer->staff);
	/* Kept for the grace period, then re-queued by the sweep. */
	route_advisor_gone(rw->r, id);
	return 1;
}

void
route_ws_session_tick(struct route_ws *rw)
{
	sessions_recheck(rw);
	prune_revoked(rw);
}
