/*
 * voice_config.c: the voice section of switchboard.conf (voice_config.h).
 */
#include <confuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "voice_config.h"
#include "xmalloc.h"

/* clang-format off */
static cfg_opt_t voice_opts[] = {
	CFG_STR("queue", "", CFGF_NONE),
	CFG_STR("callback_queue", "", CFGF_NONE),
	CFG_INT("callback_within", 240, CFGF_NONE),
	CFG_STR("callback_by", "", CFGF_NONE),
	CFG_STR("cti_secret", "", CFGF_NONE),
	CFG_STR("cti_secret_file", "", CFGF_NONE),
	CFG_STR("cti_secret_previous", "", CFGF_NONE),
	CFG_STR("cti_secret_previous_file", "", CFGF_NONE),
	CFG_STR("public_url", "", CFGF_NONE),
	CFG_STR("twilio_auth_token", "", CFGF_NONE),
	CFG_STR("twilio_auth_token_file", "", CFGF_NONE),
	CFG_STR("twilio_auth_token_previous", "", CFGF_NONE),
	CFG_STR("twilio_auth_token_previous_file", "", CFGF_NONE),
	CFG_END()
};
/* clang-format on */

static void
voice_free(void *settings)
{
	struct voice_config *c = settings;

	if (c == NULL)
		return;
	explicit_bzero(c->cti_secret, sizeof(c->cti_secret));
	gw_config_secret_free(c->twilio_tokens[0]);
	gw_config_secret_free(c->twilio_tokens[1]);
	free(c);
}

/* "HH:MM" as minutes after midnight, or -1. */
static int
clock_minutes(const char *s)
{
	int h, m, used = 0;

	if (sscanf(s, "%2d:%2d%n", &h, &m, &used) != 2 || used != 5 ||
	    s[used] != '\0' || h < 0 || h > 23 || m < 0 || m > 59)
		return -1;
	return h * 60 + m;
}

/* Reads sec into c. 0, or -1 with *why. */
static int
voice_read(cfg_t *sec, struct voice_config *c, const char **why)
{
	static const char *const opts[2][2] = {
	        {"cti_secret", "cti_secret_file"},
	        {"cti_secret_previous", "cti_secret_previous_file"},
	};
	const char *v;
	char *s = NULL;
	size_t n, k;
	long w = cfg_getint(sec, "callback_within");
	int r;

	v = cfg_getstr(sec, "queue");
	if (strlen(v) > VOICE_QUEUE_MAX) {
		*why = "queue: the slug or id of the queue calls are recorded "
		       "on";
		return -1;
	}
	memcpy(c->queue, v, strlen(v) + 1);
	v = cfg_getstr(sec, "callback_queue");
	if (strlen(v) > VOICE_QUEUE_MAX ||
	    (c->queue[0] != '\0' && v[0] == '\0')) {
		*why = "callback_queue: the slug or id of the queue missed "
		       "calls "
		       "wait in (it must take voice)";
		return -1;
	}
	memcpy(c->callback_queue, v, strlen(v) + 1);
	if (w < 5 || w > 7 * 24 * 60) {
		*why = "callback_within: 5 minutes to 7 days (in minutes)";
		return -1;
	}
	c->callback_within_min = (unsigned)w;
	v = cfg_getstr(sec, "callback_by");
	c->callback_by_min = v[0] != '\0' ? clock_minutes(v) : -1;
	if (v[0] != '\0' && c->callback_by_min < 0) {
		*why = "callback_by: a time of day as HH:MM (London time)";
		return -1;
	}
	for (k = 0; k < 2; k++) {
		r = gw_config_secret(sec, opts[k][0], opts[k][1],
		                     SIGNED_HOOK_SECRET_MAX, &s, why);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		n = strlen(s);
		if (n < SIGNED_HOOK_SECRET_MIN) {
			gw_config_secret_free(s);
			*why = "a CTI secret must be at least 16 bytes (32 "
			       "random "
			       "bytes, hex or base64, are better)";
			return -1;
		}
		memcpy(c->cti_secret[c->ncti_keys], s, n);
		c->cti_keys[c->ncti_keys].key = c->cti_secret[c->ncti_keys];
		c->cti_keys[c->ncti_keys].len = n;
		c->ncti_keys++;
		gw_config_secret_free(s);
		s = NULL;
	}
	if (gw_config_secret(sec, "twilio_auth_token", "twilio_auth_token_file",
	                     512, &c->twilio_tokens[0], why) < 0 ||
	    gw_config_secret(sec, "twilio_auth_token_previous",
	                     "twilio_auth_token_previous_file", 512,
	                     &c->twilio_tokens[1], why) < 0)
		return -1;
	v = cfg_getstr(sec, "public_url");
	n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	if (n >= sizeof(c->public_url) ||
	    (n > 0 && strncmp(v, "https://", 8) != 0 &&
	     strncmp(v, "http://", 7) != 0)) {
		*why = "public_url: the http(s) URL Twilio reaches Switchboard "
		       "at";
		return -1;
	}
	memcpy(c->public_url, v, n);
	c->public_url[n] = '\0';
	if (c->twilio_tokens[0] != NULL && n == 0) {
		*why = "public_url is needed with a Twilio auth token (Twilio "
		       "signs the URL it called)";
		return -1;
	}
	if (c->queue[0] != '\0' && c->ncti_keys == 0 &&
	    c->twilio_tokens[0] == NULL) {
		*why = "set cti_secret (a phone system's webhook) or "
		       "twilio_auth_token, or the calls have no way in";
		return -1;
	}
	return 0;
}

static void *
voice_load(cfg_t *sec, char *err, size_t errlen)
{
	struct voice_config *c = xcalloc(1, sizeof(*c));
	const char *why = NULL;

	if (voice_read(sec, c, &why) != 0) {
		snprintf(err, errlen, "voice: %s", why);
		voice_free(c);
		return NULL;
	}
	return c;
}

const struct gw_config_section voice_config_section = {
        "voice", voice_opts, NULL, voice_load, voice_free};

const struct voice_config *
voice_config(const struct gw_config *cfg)
{
	const struct voice_config *c = gw_config_settings(cfg, "voice");

	if (c == NULL)
		fatalx("voice: configuration loaded without its section");
	return c;
}
