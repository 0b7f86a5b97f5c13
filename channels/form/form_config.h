/*
 * form_config.h: the web forms' section of switchboard.conf
 * (docs/configuration.md, "forms"), registered with the loader through
 * channels/channels.c, checked by switchboard -t with FILE:LINE:
 *
 *   forms {
 *       body_max = 262144             # bytes of one submission
 *       requests_per_address = 6000   # per window, from one address
 *       window = 60                   # seconds
 *       form missed-bin {
 *           secret_file = "/etc/switchboard/forms/missed-bin.secret"
 *           secret_previous = "..."   # while the platform rotates
 *           queue = "waste-recycling"
 *           subject = "Missed bin collection"
 *       }
 *   }
 *
 * A form's slug is its URL: POST /hooks/forms/<slug>. Each form has one
 * current secret (secret or secret_file) and at most one previous one
 * (secret_previous or secret_previous_file); a secret is 16 to 256 bytes
 * (a file's one trailing newline is not part of it). Secrets are never
 * written to a log line nor to an error message. Loop thread after
 * loading; the settings are immutable.
 */
#ifndef FORM_CONFIG_H
#define FORM_CONFIG_H

#include <stddef.h>

#include "config.h"
#include "signed_hook.h"

#define FORM_SLUG_MAX            64  /* [a-z0-9-], not starting with '-' */
#define FORM_FORMS_MAX           256 /* forms in one file */
#define FORM_QUEUE_MAX           64  /* bytes of a queue's slug or id */
#define FORM_DEFAULT_SUBJECT_MAX 200

/* One form. */
struct form_def {
	char slug[FORM_SLUG_MAX + 1];
	/* current, then previous (len 0: none) */
	unsigned char secret[SIGNED_HOOK_KEYS_MAX][SIGNED_HOOK_SECRET_MAX];
	struct signed_hook_key keys[SIGNED_HOOK_KEYS_MAX];
	size_t nkeys;
	char queue[FORM_QUEUE_MAX + 1];
	char *subject; /* NULL: none configured */
};

struct form_config {
	size_t body_max;
	int requests_per_address;
	int window; /* seconds */
	struct form_def *forms;
	size_t nforms;
};

extern const struct gw_config_section form_config_section;

/* The forms settings of cfg (the section is always registered). */
const struct form_config *form_config(const struct gw_config *cfg);
/* The form named slug (len bytes, not NUL-terminated), or NULL. */
const struct form_def *form_config_find(const struct form_config *fc,
                                        const char *slug, size_t len);
/* 1 when s (len bytes) is a valid slug. */
int form_config_slug_ok(const char *s, size_t len);

#endif
