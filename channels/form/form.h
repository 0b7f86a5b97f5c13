/*
 * form.h: the web-form channel (docs/integrations.md). A council's forms
 * platform posts each submission, signed by our webhook scheme
 * (signed_hook.h), to POST /hooks/forms/{form}; it becomes a message of a
 * conversation on the channel `web` through ingest (ingest.h), and the
 * sender gets its 2xx only after COMMIT:
 *
 *   over the per-address rate 429 (Retry-After; every request counts);
 *   unknown form 404; bad signature 401 {"error":"signature","reason":...}
 *   (nothing parsed or stored); malformed body 400 {"error":code,
 *   "field":...,"index":...,"reason":...}; ingest refused 422 with its
 *   code; not stored (ingest's INGEST_RETRY) 503 (Retry-After); stored
 *   201 {"conversation":..,
 *   "reference":"SB...","repeated":false}, a repeat 200 with the stored
 *   conversation. Body limit forms.body_max (413 from the route table),
 *   other methods 405 from the table.
 *
 * Loop thread only. Requests are answered by their id (gw_http_answer), so
 * an answer for a client that has gone is dropped harmlessly.
 */
#ifndef FORM_H
#define FORM_H

#include <uv.h>

#include "config.h"
#include "http.h"
#include "ingest.h"

struct form;

/* Path prefix of the webhooks; a form's slug follows. */
#define FORM_PATH_PREFIX "/hooks/forms/"

/*
 * Mounts the route on h (before gw_http_start). cfg, h and in must
 * outlive the channel (in: until every submission was answered, which
 * form_free waits for). Never NULL.
 */
struct form *form_new(uv_loop_t *loop, const struct gw_config *cfg,
                      struct gw_http *h, struct ingest *in);
/*
 * Stops taking submissions (503 from now on) and frees the channel once
 * ingest has answered those in flight. NULL is a no-op.
 */
void form_free(struct form *f);

#endif
