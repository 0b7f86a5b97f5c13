/*
 * route_topics.h: GET /widget/topics.json, the widget's topics from the
 * queues route_ws knows (route_queues.h) (docs/chat-protocol.md, "Topics").
 * Loop thread only.
 */
#ifndef GW_ROUTE_TOPICS_H
#define GW_ROUTE_TOPICS_H

#include "http.h"
#include "route_ws.h"

/* Adds the route to http; rw must outlive http's serving. */
void route_topics_register(struct gw_http *http, struct route_ws *rw);

#endif
