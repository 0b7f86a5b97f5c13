/*
 * route_ws_wrap.c: wrap-up on the desk protocol (conversation.wrap_up;
 * docs/routing-protocol.md, "Wrap-up"): the disposition is checked and
 * stored in one statement on the desks' writer, then the conversation
 * leaves routing as closed; and closing the row of a conversation that
 * left routing already (in wrap_up, or never routed), for wrap-up and for
 * conversation.release why closed. Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route_ws-int.h"
#include "xmalloc.h"

/* A wrap-up's note, at most this long (bytes). */
#define NOTE_MAX_LEN 4000

/*
 * conversation.wrap_up: the disposition is checked and stored (one
 * statement on the writer), then the conversation leaves routing as
 * closed, which frees the advisor's capacity. $1 conversation, $2 who
 * must hold it ('' a supervisor), $3 reason code ('' none), $4 outcome
 * code ('' none), $5 note, $6 the acting staff id. The codes must be
 * active codes of the conversation's queue; a kind the queue has codes
 * of must be given. A live conversation (assigned or wrap_up) may be
 * wrapped up again (it replaces the disposition); a closed one (the chat
 * ended first) once. One column: "ok" or what is wrong.
 */
static const char WRAP_SQL[] =
        "WITH v AS (SELECT id, queue_id, assigned_staff_id, status"
        "  FROM conversations WHERE id = $1::bigint),"
        " r AS (SELECT d.id FROM disposition_codes d JOIN v"
        "  ON d.queue_id = v.queue_id WHERE d.kind = 'reason'"
        "  AND d.code = $3 AND d.active),"
        " o AS (SELECT d.id FROM disposition_codes d JOIN v"
        "  ON d.queue_id = v.queue_id WHERE d.kind = 'outcome'"
        "  AND d.code = $4 AND d.active),"
        " has AS (SELECT coalesce(bool_or(d.kind = 'reason'), false) AS r,"
        "  coalesce(bool_or(d.kind = 'outcome'), false) AS o"
        "  FROM disposition_codes d JOIN v ON d.queue_id = v.queue_id"
        "  WHERE d.active),"
        " chk AS (SELECT CASE"
        "  WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'"
        "  WHEN $2::text <> '' AND (SELECT assigned_staff_id FROM v)"
        "   IS DISTINCT FROM nullif($2::text, '')::bigint THEN 'forbidden'"
        "  WHEN (SELECT status FROM v) NOT IN ('assigned', 'wrap_up',"
        "   'closed') OR ((SELECT status FROM v) = 'closed' AND EXISTS"
        "   (SELECT 1 FROM conversation_dispositions"
        "    WHERE conversation_id = $1::bigint)) THEN 'not_live'"
        "  WHEN $3 = '' AND (SELECT r FROM has) THEN 'reason_required'"
        "  WHEN $3 <> '' AND NOT EXISTS (SELECT 1 FROM r)"
        "   THEN 'reason_unknown'"
        "  WHEN $4 = '' AND (SELECT o FROM has) THEN 'outcome_required'"
        "  WHEN $4 <> '' AND NOT EXISTS (SELECT 1 FROM o)"
        "   THEN 'outcome_unknown'"
        "  ELSE 'ok' END AS s),"
        " ins AS (INSERT INTO conversation_dispositions (conversation_id,"
        "   queue_id, reason_id, outcome_id, note, staff_id)"
        "  SELECT v.id, v.queue_id, (SELECT id FROM r), (SELECT id FROM o),"
        "   $5, $6::bigint FROM v, chk WHERE chk.s = 'ok'"
        "  ON CONFLICT (conversation_id) DO UPDATE SET"
        "   queue_id = EXCLUDED.queue_id, reason_id = EXCLUDED.reason_id,"
        "   outcome_id = EXCLUDED.outcome_id, note = EXCLUDED.note,"
        "   staff_id = EXCLUDED.staff_id, created_at = now()"
        "  RETURNING conversation_id, queue_id),"
        " e AS (INSERT INTO conversation_events (conversation_id, kind,"
        "   staff_id, queue_id, detail)"
        "  SELECT conversation_id, 'wrapped_up', $6::bigint, queue_id,"
        "   jsonb_build_object('reason', $3::text, 'outcome', $4::text)"
        "  FROM ins)"
        " SELECT s FROM chk";

/*
 * After the release: a conversation that was not in routing any more
 * (in wrap_up, or closed when the chat ended) is closed here. Columns:
 * closed now, closed already.
 */
static const char WRAP_CLOSE_SQL[] =
        "WITH c AS (UPDATE conversations SET status = 'closed'"
        "  WHERE id = $1::bigint AND status = 'wrap_up'"
        "  AND ($2::text = '' OR assigned_staff_id::text = $2::text)"
        "  RETURNING id, queue_id, assigned_staff_id),"
        " e AS (INSERT INTO conversation_events (conversation_id, kind,"
        "   staff_id, queue_id, detail)"
        "  SELECT id, 'closed', assigned_staff_id, queue_id,"
        "   jsonb_build_object('from', 'wrap_up') FROM c)"
        " SELECT (SELECT count(*) FROM c), (SELECT count(*)"
        "  FROM conversations WHERE id = $1::bigint AND status = 'closed')";

/* Wrap-up refusals: the error code and message for each. */
static const struct {
	const char *s, *code, *message;
} WRAP_REFUSALS[] = {
        {"not_found", "not_found", "no such conversation"},
        {"forbidden", "forbidden", "the conversation is not yours"},
        {"not_live", "not_found",
         "the conversation is not live, or was wrapped up already"},
        {"reason_required", "bad_message",
         "reason: choose a reason (this queue has reason codes)"},
        {"reason_unknown", "bad_message",
         "reason: not an active reason code of the conversation's queue"},
        {"outcome_required", "bad_message",
         "outcome: choose an outcome (this queue has outcome codes)"},
        {"outcome_unknown", "bad_message",
         "outcome: not an active outcome code of the conversation's queue"},
};

struct wrap_pending {
	struct pending *p;
	char field[16]; /* the field a refusal is about, for the desk */
};

static void
wrap_answer(struct wrap_pending *w, const char *code, const char *message)
{
	struct pending *p = w->p;
	json_t *o;

	if (route_ws_peer(p->rw, p->conn) != NULL) {
		if (code == NULL) {
			o = json_pack("{s:s, s:s}", "type",
			              "conversation.wrapped_up", "conversation",
			              p->conv);
		} else {
			o = json_pack("{s:s, s:s, s:s}", "type", "error",
			              "code", code, "message", message);
			if (w->field[0] != '\0')
				json_object_set_new(o, "field",
				                    json_string(w->field));
		}
		route_ws_send(p->rw, p->conn, p->id, o);
	}
	route_ws_pending_free(p);
	free(w);
}

static void
on_wrap_closed(void *arg, int ok, const PGresult *res, const char *err)
{
	struct wrap_pending *w = arg;

	if (!ok || res == NULL)
		wrap_answer(w, "unavailable", err ? err : "database error");
	else if (strcmp(PQgetvalue(res, 0, 0), "1") != 0 &&
	         strcmp(PQgetvalue(res, 0, 1), "1") != 0)
		wrap_answer(w, "not_found", "the conversation is not live");
	else
		wrap_answer(w, NULL, NULL);
}

static void
on_wrap_released(void *arg, int ok, const char *err,
                 const struct route_event *ev, size_t n)
{
	struct wrap_pending *w = arg;
	const char *params[2] = {w->p->conv, w->p->staff}, *reason = NULL;

	(void)ev;
	if (!ok) {
		wrap_answer(w, route_ws_error_code(err), err ? err : "refused");
	} else if (n > 0) {
		wrap_answer(w, NULL, NULL);
	} else if (db_commit_submit(w->p->rw->w, WRAP_CLOSE_SQL, 2, params,
	                            on_wrap_closed, w, &reason) != 0) {
		wrap_answer(w, "unavailable", reason);
	}
}

static void
on_wrap_stored(void *arg, int ok, const PGresult *res, const char *err)
{
	struct wrap_pending *w = arg;
	const char *s = ok && res != NULL ? PQgetvalue(res, 0, 0) : NULL;
	size_t i;

	if (s == NULL) {
		wrap_answer(w, "unavailable", err ? err : "database error");
		return;
	}
	if (strcmp(s, "ok") == 0) {
		gw_info("route_ws.wrap_up", "conv=%s by=%s", w->p->conv,
		        w->p->staff[0] != '\0' ? w->p->staff : "supervisor");
		if (route_release_by(w->p->rw->r, w->p->conv, "closed",
		                     w->p->staff, on_wrap_released, w) != 0)
			wrap_answer(w, "unavailable", "routing is unavailable");
		return;
	}
	for (i = 0; i < sizeof(WRAP_REFUSALS) / sizeof(WRAP_REFUSALS[0]); i++)
		if (strcmp(s, WRAP_REFUSALS[i].s) == 0)
			break;
	if (i == sizeof(WRAP_REFUSALS) / sizeof(WRAP_REFUSALS[0])) {
		wrap_answer(w, "unavailable", s);
		return;
	}
	if (strncmp(s, "reason", 6) == 0 || strncmp(s, "outcome", 7) == 0)
		snprintf(w->field, sizeof(w->field), "%.*s",
		         (int)strcspn(s, "_"), s);
	wrap_answer(w, WRAP_REFUSALS[i].code, WRAP_REFUSALS[i].message);
}

/* conversation.wrap_up {conversation, reason?, outcome?, note?}. */
void
route_ws_wrap_up(struct route_ws *rw, struct peer *peer, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	const char *conv = route_ws_str(msg, "conversation");
	const char *reason, *outcome, *note, *params[6], *why = NULL;
	struct wrap_pending *w;
	char staff[24];

	if (route_ws_opt_string(msg, "reason", 64, &reason) != 0)
		why = "reason must be a code (a string)";
	else if (route_ws_opt_string(msg, "outcome", 64, &outcome) != 0)
		why = "outcome must be a code (a string)";
	else if (route_ws_opt_string(msg, "note", NOTE_MAX_LEN, &note) != 0)
		why = "note must be a string of at most 4000 bytes";
	if (why != NULL) {
		route_ws_error(rw, peer->conn, id, "bad_message", why);
		return;
	}
	snprintf(staff, sizeof(staff), "%llu", (unsigned long long)peer->staff);
	w = xcalloc(1, sizeof(*w));
	w->p = route_ws_pending_new(rw, peer->conn, msg, NULL);
	snprintf(w->p->conv, sizeof(w->p->conv), "%s", conv);
	/* An advisor wraps up their own; supervisors and admins anyone's. */
	snprintf(w->p->staff, sizeof(w->p->staff), "%s",
	         route_ws_is_supervisor(peer) ? "" : staff);
	params[0] = conv;
	params[1] = w->p->staff;
	params[2] = reason ? reason : "";
	params[3] = outcome ? outcome : "";
	params[4] = note ? note : "";
	params[5] = staff;
	if (db_commit_submit(rw->w, WRAP_SQL, 6, params, on_wrap_stored, w,
	                     &why) != 0)
		wrap_answer(w, "unavailable",
		            why ? why : "database unavailable");
}

/*
 * conversation.release why closed of a conversation routing no longer
 * holds: its row is closed here (WRAP_CLOSE_SQL, first column).
 */
static void
on_released_closed(void *arg, int ok, const PGresult *res, const char *err)
{
	struct pending *p = arg;

	if (!ok || res == NULL)
		route_ws_on_routed(p, 0, err, NULL, 0);
	else if (strcmp(PQgetvalue(res, 0, 0), "1") != 0)
		route_ws_on_routed(p, 0, "NOCONV not live, or not yours", NULL,
		                   0);
	else
		route_ws_on_routed(p, 1, NULL, NULL, 0);
}

void
route_ws_wrap_close(struct pending *p)
{
	const char *params[2] = {p->conv, p->staff}, *reason = NULL;

	if (db_commit_submit(p->rw->w, WRAP_CLOSE_SQL, 2, params,
	                     on_released_closed, p, &reason) != 0)
		route_ws_on_routed(p, 0, reason, NULL, 0);
}
