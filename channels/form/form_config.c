/*
 * form_config.c: the forms section of switchboard.conf (form_config.h):
 * options, defaults, checks with FILE:LINE, read into struct form_config.
 * Runs at start-up (and for switchboard -t); secret files are read then,
 * with blocking I/O, before the loop runs.
 */
#include <confuse.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form_config.h"
#include "log.h"
#include "xmalloc.h"

#define BODY_MAX_DEFAULT 262144
#define BODY_MAX_MIN     1024

/* clang-format off */
static cfg_opt_t form_opts[] = {
	CFG_STR("secret", "", CFGF_NONE),
	CFG_STR("secret_file", "", CFGF_NONE),
	CFG_STR("secret_previous", "", CFGF_NONE),
	CFG_STR("secret_previous_file", "", CFGF_NONE),
	CFG_STR("queue", "", CFGF_NONE),
	CFG_STR("subject", "", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t forms_opts[] = {
	CFG_INT("body_max", BODY_MAX_DEFAULT, CFGF_NONE),
	CFG_INT("requests_per_address", 6000, CFGF_NONE),
	CFG_INT("window", 60, CFGF_NONE),
	CFG_SEC("form", form_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};
/* clang-format on */

int
form_config_slug_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > FORM_SLUG_MAX || s[0] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * A secret of form: the value of opt, or the contents of the file named
 * by fileopt (one trailing newline dropped). 1 and out/len when set, 0
 * when neither is, -1 with *why (which never quotes the secret).
 */
static int
secret_read(cfg_t *form, const char *opt, const char *fileopt,
            unsigned char *out, size_t *len, const char **why)
{
	const char *v = cfg_getstr(form, opt),
	           *path = cfg_getstr(form, fileopt);
	unsigned char buf[SIGNED_HOOK_SECRET_MAX + 3];
	size_t n = 0;
	FILE *f = NULL;
	int rc = -1;

	if (v[0] != '\0' && path[0] != '\0') {
		*why = "set either the secret or its file, not both";
		goto out;
	}
	if (v[0] == '\0' && path[0] == '\0') {
		rc = 0;
		goto out;
	}
	if (v[0] != '\0') {
		n = strlen(v);
		if (n > SIGNED_HOOK_SECRET_MAX) {
			*why = "the secret is longer than 256 bytes";
			goto out;
		}
		memcpy(buf, v, n);
	} else {
		f = fopen(path, "rb");
		if (f == NULL) {
			*why = errno == ENOENT
			               ? "the secret file does not exist"
			               : "the secret file cannot be read";
			goto out;
		}
		n = fread(buf, 1, sizeof(buf), f);
		if (ferror(f)) {
			*why = "the secret file cannot be read";
			goto out;
		}
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		if (n > SIGNED_HOOK_SECRET_MAX) {
			*why = "the secret file holds more than 256 bytes";
			goto out;
		}
	}
	if (n < SIGNED_HOOK_SECRET_MIN) {
		*why = "a secret must be at least 16 bytes (32 random bytes, "
		       "hex or base64, are better)";
		goto out;
	}
	memcpy(out, buf, n);
	*len = n;
	rc = 1;
out:
	if (f != NULL)
		fclose(f);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/*
 * The form just parsed, as a whole: its slug, its secrets, its queue.
 * libconfuse calls this at the section's closing brace, so the reason is
 * reported as FILE:LINE.
 */
static int
form_check(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *form = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *slug = cfg_title(form), *why = NULL;
	unsigned char key[SIGNED_HOOK_SECRET_MAX];
	size_t len = 0, n;
	int r, rc = -1;

	if (slug == NULL || !form_config_slug_ok(slug, strlen(slug))) {
		cfg_error(cfg,
		          "form %s: a form's name is its URL: 1 to 64 of "
		          "a-z, 0-9 and '-', not starting with '-'",
		          slug ? slug : "");
		goto out;
	}
	if (cfg_opt_size(opt) > FORM_FORMS_MAX) {
		cfg_error(cfg, "form %s: more than %d forms", slug,
		          FORM_FORMS_MAX);
		goto out;
	}
	r = secret_read(form, "secret", "secret_file", key, &len, &why);
	if (r == 0)
		why = "no secret: set secret or secret_file";
	if (r <= 0) {
		cfg_error(cfg, "form %s: %s", slug, why);
		goto out;
	}
	if (secret_read(form, "secret_previous", "secret_previous_file", key,
	                &len, &why) < 0) {
		cfg_error(cfg, "form %s: secret_previous: %s", slug, why);
		goto out;
	}
	n = strlen(cfg_getstr(form, "queue"));
	if (n == 0 || n > FORM_QUEUE_MAX) {
		cfg_error(cfg,
		          "form %s: queue: the slug or id of the queue "
		          "its submissions go to (1 to 64 bytes)",
		          slug);
		goto out;
	}
	if (strlen(cfg_getstr(form, "subject")) > FORM_DEFAULT_SUBJECT_MAX) {
		cfg_error(cfg, "form %s: subject: at most 200 bytes", slug);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(key, sizeof(key));
	return rc;
}

static int
body_max_check(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);

	if (v < BODY_MAX_MIN || v > 16 * 1024 * 1024) {
		cfg_error(cfg, "%s: must be between %d and %d bytes", opt->name,
		          BODY_MAX_MIN, 16 * 1024 * 1024);
		return -1;
	}
	return 0;
}

static const struct gw_config_check forms_checks[] = {
        {"body_max", body_max_check},
        {"requests_per_address", gw_config_valid_positive},
        {"window", gw_config_valid_positive},
        {"form", form_check},
        {NULL, NULL},
};

static void
forms_free(void *settings)
{
	struct form_config *fc = settings;
	size_t i;

	if (fc == NULL)
		return;
	for (i = 0; i < fc->nforms; i++) {
		explicit_bzero(fc->forms[i].secret,
		               sizeof(fc->forms[i].secret));
		free(fc->forms[i].subject);
	}
	free(fc->forms);
	free(fc);
}

static void *
forms_load(cfg_t *sec, char *err, size_t errlen)
{
	struct form_config *fc = xcalloc(1, sizeof(*fc));
	struct form_def *d;
	const char *why = NULL;
	cfg_t *form;
	size_t i, k, len;
	int r;

	fc->body_max = (size_t)cfg_getint(sec, "body_max");
	fc->requests_per_address = (int)cfg_getint(sec, "requests_per_address");
	fc->window = (int)cfg_getint(sec, "window");
	fc->nforms = cfg_size(sec, "form");
	fc->forms = xcalloc(fc->nforms + 1, sizeof(*fc->forms));
	for (i = 0; i < fc->nforms; i++) {
		form = cfg_getnsec(sec, "form", (unsigned)i);
		d = &fc->forms[i];
		snprintf(d->slug, sizeof(d->slug), "%s", cfg_title(form));
		snprintf(d->queue, sizeof(d->queue), "%s",
		         cfg_getstr(form, "queue"));
		if (cfg_getstr(form, "subject")[0] != '\0')
			d->subject = xstrdup(cfg_getstr(form, "subject"));
		/* form_check passed: a file changed since is caught here. */
		for (k = 0; k < SIGNED_HOOK_KEYS_MAX; k++) {
			len = 0;
			r = secret_read(form, k ? "secret_previous" : "secret",
			                k ? "secret_previous_file"
			                  : "secret_file",
			                d->secret[d->nkeys], &len, &why);
			if (r < 0 || (r == 0 && k == 0)) {
				snprintf(err, errlen, "form %s: %s", d->slug,
				         why ? why : "no secret");
				forms_free(fc);
				return NULL;
			}
			if (r == 1) {
				d->keys[d->nkeys].key = d->secret[d->nkeys];
				d->keys[d->nkeys].len = len;
				d->nkeys++;
			}
		}
	}
	return fc;
}

const struct gw_config_section form_config_section = {
        "forms", forms_opts, forms_checks, forms_load, forms_free};

const struct form_config *
form_config(const struct gw_config *cfg)
{
	const struct form_config *fc = gw_config_settings(cfg, "forms");

	if (fc == NULL)
		fatalx("form: configuration loaded without its section");
	return fc;
}

const struct form_def *
form_config_find(const struct form_config *fc, const char *slug, size_t len)
{
	size_t i;

	for (i = 0; i < fc->nforms; i++)
		if (strlen(fc->forms[i].slug) == len &&
		    memcmp(fc->forms[i].slug, slug, len) == 0)
			return &fc->forms[i];
	return NULL;
}
