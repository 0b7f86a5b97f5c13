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

#include "api_route.h"
#include "db.h"
#include "http.h"
#include "session.h"

struct api_records;

struct api_records *api_records_new(struct gw_http *h, struct db *db);
void api_records_free(struct api_records *a);

/*
 * Its routes (api_route.h), mounted by api.c with the api_records as arg:
 * /api/customers, /api/customers/{id} and its /export, /timeline and
 * /links, /api/conversations/{id}/messages and /customer, /api/audit
 * (admins); all for signed-in staff.
 */
extern const struct api_route api_records_routes[];
extern const size_t api_records_nroutes;

#endif
