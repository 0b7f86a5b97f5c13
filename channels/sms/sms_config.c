/*
 * sms_config.c: the sms section of switchboard.conf (sms_config.h). Runs
 * at start-up (and for switchboard -t); secret files are read then.
 */
#include <confuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sms_config.h"
#include "xmalloc.h"

static const char *const provider_names[] = {"notify", "twilio"};
static const char *const default_base[] = {
        "https://api.notifications.service.gov.uk",
        "https://api.twilio.com",
};

/* clang-format off */
static cfg_opt_t sender_opts[] = {
	CFG_STR("provider", "", CFGF_NONE),
	CFG_STR("number", "", CFGF_NONE),
	CFG_STR("queue", "", CFGF_NONE),
	CFG_INT("max_length", 612, CFGF_NONE),
	CFG_STR("base_url", "", CFGF_NONE),
	CFG_STR("ca_file", "", CFGF_NONE),
	CFG_STR("api_key", "", CFGF_NONE),
	CFG_STR("api_key_file", "", CFGF_NONE),
	CFG_STR("template_id", "", CFGF_NONE),
	CFG_STR("sms_sender_id", "", CFGF_NONE),
	CFG_STR("callback_token", "", CFGF_NONE),
	CFG_STR("callback_token_file", "", CFGF_NONE),
	CFG_STR("callback_token_previous", "", CFGF_NONE),
	CFG_STR("callback_token_previous_file", "", CFGF_NONE),
	CFG_STR("account_sid", "", CFGF_NONE),
	CFG_STR("auth_token", "", CFGF_NONE),
	CFG_STR("auth_token_file", "", CFGF_NONE),
	CFG_STR("auth_token_previous", "", CFGF_NONE),
	CFG_STR("auth_token_previous_file", "", CFGF_NONE),
	CFG_STR("messaging_service_sid", "", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t sms_opts[] = {
	CFG_STR("public_url", "", CFGF_NONE),
	CFG_INT("timeout", 10, CFGF_NONE),
	CFG_INT("batch", 50, CFGF_NONE),
	CFG_INT("poll_ms", 500, CFGF_NONE),
	CFG_INT("lease", 120, CFGF_NONE),
	CFG_SEC("sender", sender_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};
/* clang-format on */

const char *
sms_provider_name(enum sms_provider p)
{
	return (size_t)p < 2 ? provider_names[p] : "";
}

static int
name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SMS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	return 1;
}

/* A UUID in its 8-4-4-4-12 form of hex digits. */
static int
uuid_ok(const char *s, size_t n)
{
	size_t i;

	if (n != 36)
		return 0;
	for (i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		             (s[i] >= 'a' && s[i] <= 'f') ||
		             (s[i] >= 'A' && s[i] <= 'F'))) {
			return 0;
		}
	}
	return 1;
}

/* "AC"/"MG" and 32 hex digits. */
static int
sid_ok(const char *s, const char *prefix)
{
	size_t i;

	if (strlen(s) != 34 || strncmp(s, prefix, 2) != 0)
		return 0;
	for (i = 2; i < 34; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/* An http(s) URL without spaces, copied without a trailing '/'. */
static int
url_copy(const char *in, char *out, size_t len)
{
	size_t n = strlen(in);

	if (n == 0 || n >= len ||
	    (strncmp(in, "https://", 8) != 0 &&
	     strncmp(in, "http://", 7) != 0) ||
	    strpbrk(in, " \t\r\n\"<>") != NULL)
		return -1;
	while (n > 0 && in[n - 1] == '/')
		n--;
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
}

static void
sender_clear(struct sms_sender *d)
{
	size_t k;

	free(d->ca_file);
	gw_config_secret_free(d->api_secret);
	for (k = 0; k < 2; k++) {
		gw_config_secret_free(d->callback_tokens[k]);
		gw_config_secret_free(d->auth_tokens[k]);
	}
	memset(d, 0, sizeof(*d));
}

/* The Notify API key's last two UUIDs: the service id and the secret. */
static int
notify_key(const char *key, struct sms_sender *d)
{
	size_t n = strlen(key);

	if (n < 74 || key[n - 74] != '-' || key[n - 37] != '-' ||
	    !uuid_ok(key + n - 73, 36) || !uuid_ok(key + n - 36, 36))
		return -1;
	memcpy(d->service_id, key + n - 73, 36);
	d->service_id[36] = '\0';
	d->api_secret = xstrdup(key + n - 36);
	return 0;
}

/* Reads sender section s into d (cleared first). 0, or -1 with *why. */
static int
sender_read(cfg_t *s, struct sms_sender *d, const char **why)
{
	const char *p = cfg_getstr(s, "provider"),
	           *num = cfg_getstr(s, "number"), *v, *phone_why = NULL;
	char *key = NULL;
	long ml = cfg_getint(s, "max_length");
	size_t i, n;
	int r;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", cfg_title(s));
	if (!name_ok(cfg_title(s))) {
		*why = "a sender's name is 1 to 64 of a-z, 0-9, '-' and '_'";
		return -1;
	}
	if (strcmp(p, "notify") == 0) {
		d->provider = SMS_NOTIFY;
	} else if (strcmp(p, "twilio") == 0) {
		d->provider = SMS_TWILIO;
	} else {
		*why = "provider: \"notify\" or \"twilio\"";
		return -1;
	}
	if (identity_phone(num, 0, d->number, sizeof(d->number), &phone_why) !=
	    0) {
		d->number[0] = '\0';
		n = strlen(num);
		/* An alphanumeric sender id: 1 to 11 letters and digits, a
		 * letter among them (operators' rule). */
		for (i = 0, r = 0; i < n; i++) {
			if (!((num[i] >= 'a' && num[i] <= 'z') ||
			      (num[i] >= 'A' && num[i] <= 'Z') ||
			      (num[i] >= '0' && num[i] <= '9')))
				break;
			if (!(num[i] >= '0' && num[i] <= '9'))
				r = 1;
		}
		if (n == 0 || n > 11 || i != n || !r) {
			*why = "number: our phone number (UK or E.164) or an "
			       "alphanumeric sender id of 1 to 11 letters and "
			       "digits";
			return -1;
		}
		memcpy(d->sender_id, num, n + 1);
	}
	n = strlen(cfg_getstr(s, "queue"));
	if (n == 0 || n >= sizeof(d->queue)) {
		*why = "queue: the slug or id of the queue new texts wait in";
		return -1;
	}
	memcpy(d->queue, cfg_getstr(s, "queue"), n + 1);
	if (ml < 1 || ml > SMS_LENGTH_LIMIT) {
		*why = "max_length: 1 to 1600 characters";
		return -1;
	}
	d->max_length = (unsigned)ml;
	v = cfg_getstr(s, "base_url");
	if (url_copy(v[0] ? v : default_base[d->provider], d->base_url,
	             sizeof(d->base_url)) != 0) {
		*why = "base_url: an http or https URL";
		goto bad;
	}
	if (cfg_getstr(s, "ca_file")[0] != '\0')
		d->ca_file = xstrdup(cfg_getstr(s, "ca_file"));
	if (d->provider == SMS_NOTIFY) {
		if (d->sender_id[0] != '\0') {
			/* Notify sends from the service's sender; ours is only
			 * for matching inbound texts, which need a number. */
			*why = "number: a Notify sender needs the service's "
			       "inbound number";
			goto bad;
		}
		r = gw_config_secret(s, "api_key", "api_key_file",
		                     SMS_SECRET_MAX, &key, why);
		if (r <= 0 || notify_key(key, d) != 0) {
			if (r == 0 || r == 1)
				*why = "api_key or api_key_file: the API key "
				       "as "
				       "Notify shows it (name-<service id>-"
				       "<secret>)";
			goto bad;
		}
		v = cfg_getstr(s, "template_id");
		if (!uuid_ok(v, strlen(v))) {
			*why = "template_id: the id (a UUID) of a template "
			       "whose body is ((body))";
			goto bad;
		}
		memcpy(d->template_id, v, 37);
		v = cfg_getstr(s, "sms_sender_id");
		if (v[0] != '\0' && !uuid_ok(v, strlen(v))) {
			*why = "sms_sender_id: a UUID";
			goto bad;
		}
		snprintf(d->sms_sender_id, sizeof(d->sms_sender_id), "%s", v);
		r = gw_config_secret(s, "callback_token", "callback_token_file",
		                     SMS_SECRET_MAX, &d->callback_tokens[0],
		                     why);
		if (r == 0)
			*why = "callback_token or callback_token_file: the "
			       "bearer token Notify's callbacks carry";
		if (r <= 0 || gw_config_secret(s, "callback_token_previous",
		                               "callback_token_previous_file",
		                               SMS_SECRET_MAX,
		                               &d->callback_tokens[1], why) < 0)
			goto bad;
		if (strlen(d->callback_tokens[0]) < 16 ||
		    (d->callback_tokens[1] != NULL &&
		     strlen(d->callback_tokens[1]) < 16)) {
			*why = "a callback token must be at least 16 "
			       "characters (Notify asks for 10; use 32 random)";
			goto bad;
		}
	} else {
		v = cfg_getstr(s, "account_sid");
		if (!sid_ok(v, "AC")) {
			*why = "account_sid: AC and 32 hexadecimal digits";
			goto bad;
		}
		memcpy(d->account_sid, v, 35);
		v = cfg_getstr(s, "messaging_service_sid");
		if (v[0] != '\0' && !sid_ok(v, "MG")) {
			*why = "messaging_service_sid: MG and 32 hexadecimal "
			       "digits";
			goto bad;
		}
		snprintf(d->messaging_service_sid,
		         sizeof(d->messaging_service_sid), "%s", v);
		r = gw_config_secret(s, "auth_token", "auth_token_file",
		                     SMS_SECRET_MAX, &d->auth_tokens[0], why);
		if (r == 0)
			*why = "auth_token or auth_token_file: the account's "
			       "auth token";
		if (r <= 0 ||
		    gw_config_secret(s, "auth_token_previous",
		                     "auth_token_previous_file", SMS_SECRET_MAX,
		                     &d->auth_tokens[1], why) < 0)
			goto bad;
	}
	gw_config_secret_free(key);
	return 0;
bad:
	gw_config_secret_free(key);
	sender_clear(d);
	return -1;
}

static int
sender_check(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *s = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	struct sms_sender d;
	const char *why = NULL;

	if (cfg_opt_size(opt) > SMS_SENDERS_MAX) {
		cfg_error(cfg, "sender %s: more than %d senders", cfg_title(s),
		          SMS_SENDERS_MAX);
		return -1;
	}
	if (sender_read(s, &d, &why) != 0) {
		cfg_error(cfg, "sender %s: %s", cfg_title(s), why);
		return -1;
	}
	sender_clear(&d);
	return 0;
}

static int
public_url_check(cfg_t *cfg, cfg_opt_t *opt)
{
	char buf[SMS_URL_MAX];
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v[0] != '\0' && url_copy(v, buf, sizeof(buf)) != 0) {
		cfg_error(cfg,
		          "public_url: the https URL providers reach "
		          "Switchboard at (scheme, host, optional port and "
		          "path prefix)");
		return -1;
	}
	return 0;
}

static const struct gw_config_check sms_checks[] = {
        {"public_url", public_url_check},
        {"timeout", gw_config_valid_positive},
        {"batch", gw_config_valid_positive},
        {"poll_ms", gw_config_valid_positive},
        {"lease", gw_config_valid_positive},
        {"sender", sender_check},
        {NULL, NULL},
};

static void
sms_free(void *settings)
{
	struct sms_config *c = settings;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nsenders; i++)
		sender_clear(&c->senders[i]);
	free(c->senders);
	free(c);
}

static void *
sms_load(cfg_t *sec, char *err, size_t errlen)
{
	struct sms_config *c = xcalloc(1, sizeof(*c));
	const char *why = NULL;
	cfg_t *s;
	size_t i, k;

	if (url_copy(cfg_getstr(sec, "public_url"), c->public_url,
	             sizeof(c->public_url)) != 0)
		c->public_url[0] = '\0';
	c->timeout_s = (unsigned)cfg_getint(sec, "timeout");
	c->batch = (unsigned)cfg_getint(sec, "batch");
	c->poll_ms = (unsigned)cfg_getint(sec, "poll_ms");
	c->lease_s = (unsigned)cfg_getint(sec, "lease");
	c->nsenders = cfg_size(sec, "sender");
	c->senders = xcalloc(c->nsenders + 1, sizeof(*c->senders));
	for (i = 0; i < c->nsenders; i++) {
		s = cfg_getnsec(sec, "sender", (unsigned)i);
		if (sender_read(s, &c->senders[i], &why) != 0) {
			snprintf(err, errlen, "sender %s: %s", cfg_title(s),
			         why);
			c->nsenders = i;
			sms_free(c);
			return NULL;
		}
	}
	for (i = 0; i < c->nsenders; i++)
		for (k = 0; k < i; k++)
			if (c->senders[i].number[0] != '\0' &&
			    c->senders[i].provider == c->senders[k].provider &&
			    strcmp(c->senders[i].number,
			           c->senders[k].number) == 0) {
				snprintf(err, errlen,
				         "sender %s: the same number as sender "
				         "%s",
				         c->senders[i].name,
				         c->senders[k].name);
				sms_free(c);
				return NULL;
			}
	if (c->nsenders > 0 && c->public_url[0] == '\0') {
		snprintf(err, errlen,
		         "sms: public_url is needed with senders (Twilio's "
		         "signatures and status callbacks name it)");
		sms_free(c);
		return NULL;
	}
	return c;
}

const struct gw_config_section sms_config_section = {
        "sms", sms_opts, sms_checks, sms_load, sms_free};

const struct sms_config *
sms_config(const struct gw_config *cfg)
{
	const struct sms_config *c = gw_config_settings(cfg, "sms");

	if (c == NULL)
		fatalx("sms: configuration loaded without its section");
	return c;
}

const struct sms_sender *
sms_config_sender(const struct sms_config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nsenders; i++)
		if (strcmp(c->senders[i].name, name) == 0)
			return &c->senders[i];
	return NULL;
}

const struct sms_sender *
sms_config_by_number(const struct sms_config *c, enum sms_provider p,
                     const char *e164)
{
	size_t i;

	for (i = 0; i < c->nsenders; i++)
		if (c->senders[i].provider == p &&
		    strcmp(c->senders[i].number, e164) == 0)
			return &c->senders[i];
	return NULL;
}
