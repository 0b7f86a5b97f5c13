/*
 * api_records.h: the desk's REST endpoints for customer records and
 * conversation threads (docs/api.md): read a customer (audited), search,
 * the timeline of their contacts, a conversation's messages, edit a
 * customer (audited). Every request is authorised by its staff session;
 * an advisor sees only conversations of the queues they serve or that are
 * assigned to them. Loop thread only.
 */
#ifndef GW_API_RECORDS_H
#define GW_API_RECORDS_H

#include "db.h"
#include "http.h"
#include "session.h"

struct api_records;

struct api_records *api_records_new(struct gw_http *h, struct db *db);
void api_records_free(struct api_records *a);

/* 1 when path is one of this module's (the caller then passes it on). */
int api_records_owns(const char *path);

/*
 * Handles one signed-in request; answers it with gw_http_respond (now or
 * later). csrf: the request carried X-Requested-With.
 */
void api_records_request(struct api_records *a, unsigned long conn,
                         const char *method, const char *path,
                         const char *query, const char *body, size_t len,
                         const char *peer, const char *ctype, int csrf,
                         const struct gw_session_info *who);

#endif
