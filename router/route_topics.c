/*
 * route_topics.c: the widget's topics, GET /widget/topics.json: the active
 * queues that take chat, by their public name, each open or closed now by
 * the queue policy for chat (route_policy.h: its opening hours and closure
 * days as route_queues.c reads them every 30 s, and its out-of-hours
 * rule), with when it next opens or closes. Public:
 * no cookie is read, any page may read it (a council page on another
 * origin), and a browser may keep it a few seconds. docs/chat-protocol.md,
 * "Topics". Loop thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "hours.h"
#include "log.h"
#include "route_policy.h"
#include "route_topics.h"
#include "xmalloc.h"

/* Topics shown at most (queues beyond these are left out, logged). */
#define TOPICS_MAX 100

struct topics {
	json_t *item[TOPICS_MAX];
	size_t n;
	size_t dropped;
	time_t now;
};

static void
add_topic(void *arg, const struct route_queue *q)
{
	struct topics *t = arg;
	struct route_decision d;
	json_t *o;

	if (route_queues_rule(q, "chat") == NULL)
		return;
	if (t->n == TOPICS_MAX) {
		t->dropped++;
		return;
	}
	route_policy_evaluate(q, "chat", t->now, &d);
	o = json_pack("{s:s, s:s, s:b, s:s}", "queue", q->slug, "name", q->name,
	              "open", d.open, "out_of_hours", d.rule);
	if (d.open) {
		if (d.closes > 0 && d.closes != ROUTE_HOURS_NEVER)
			json_object_set_new(
			        o, "closes_ms",
			        json_integer((json_int_t)d.closes * 1000));
	} else {
		if (d.next_open > 0)
			json_object_set_new(
			        o, "next_open_ms",
			        json_integer((json_int_t)d.next_open * 1000));
		if (d.message[0] != '\0')
			json_object_set_new(o, "message",
			                    json_string(d.message));
	}
	t->item[t->n++] = o;
}

/* By name, then slug: the order a resident reads a list in. */
static int
by_name(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcasecmp(json_string_value(json_object_get(x, "name")),
	                   json_string_value(json_object_get(y, "name")));

	return c != 0 ? c
	              : strcmp(json_string_value(json_object_get(x, "queue")),
	                       json_string_value(json_object_get(y, "queue")));
}

static char *
topics_get(void *arg, int *status, size_t *len)
{
	struct route_ws *rw = arg;
	struct topics *t = xcalloc(1, sizeof(*t));
	json_t *list, *doc;
	char *s;
	size_t i;

	t->now = time(NULL);
	if (route_queues_each(route_ws_queues(rw), add_topic, t) != 0) {
		/* Not read yet (just started, database down): try again. */
		*status = 503;
		s = xstrdup("{\"error\":\"topics not known yet\"}\n");
		*len = strlen(s);
		free(t);
		return s;
	}
	if (t->dropped > 0)
		gw_warn("route_topics.too_many", "shown=%d left_out=%zu",
		        TOPICS_MAX, t->dropped);
	qsort(t->item, t->n, sizeof(t->item[0]), by_name);
	list = json_array();
	for (i = 0; i < t->n; i++)
		json_array_append_new(list, t->item[i]);
	doc = json_pack("{s:o, s:I}", "topics", list, "now_ms",
	                (json_int_t)t->now * 1000);
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (s == NULL)
		fatalx("route_topics: json_dumps failed");
	*len = strlen(s);
	free(t);
	return s;
}

/* Public: any page may read it; a browser keeps a 200 for 10 s. */
static void
topics_route(void *arg, const struct gw_http_request *req)
{
	int status = 200;
	size_t len = 0;
	char *body = topics_get(arg, &status, &len);
	struct gw_http_field f[] = {
	        {"Cache-Control",
	         status == 200 ? "public, max-age=10" : "no-store"},
	        {"Access-Control-Allow-Origin", "*"},
	};
	struct gw_http_response res = {status, NULL, body, len, f, nitems(f)};

	gw_http_answer(req->http, req->id, &res);
	free(body);
}

void
route_topics_register(struct gw_http *http, struct route_ws *rw)
{
	struct gw_http_route r = {GW_HTTP_GET | GW_HTTP_HEAD,
	                          "/widget/topics.json",
	                          GW_HTTP_EXACT,
	                          0,
	                          NULL,
	                          topics_route,
	                          rw};

	gw_http_route_add(http, &r);
}
