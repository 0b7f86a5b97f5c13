/*
 * email_config.c: the email section of switchboard.conf (email_config.h):
 * options, defaults, checks with FILE:LINE, read into struct email_config.
 * Runs at start-up (and for switchboard -t); secret files are read then,
 * with blocking I/O, before the loop runs.
 */
#include <arpa/inet.h>
#include <confuse.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "email_compose.h"
#include "email_config.h"
#include "email_oauth.h"
#include "log.h"
#include "xmalloc.h"

/* clang-format off */
static cfg_opt_t smtp_opts[] = {
	CFG_STR("host", "", CFGF_NONE),
	CFG_INT("port", 0, CFGF_NONE),
	CFG_STR("tls", "starttls", CFGF_NONE),
	CFG_STR("ca_file", "", CFGF_NONE),
	CFG_STR("user", "", CFGF_NONE),
	CFG_STR("password", "", CFGF_NONE),
	CFG_STR("password_file", "", CFGF_NONE),
	CFG_STR("oauth_token_url", "", CFGF_NONE),
	CFG_STR("oauth_client_id", "", CFGF_NONE),
	CFG_STR("oauth_client_secret_file", "", CFGF_NONE),
	CFG_STR("oauth_scope", "", CFGF_NONE),
	CFG_STR("from", "", CFGF_NONE),
	CFG_STR("from_name", "", CFGF_NONE),
	CFG_STR("message_id_domain", "", CFGF_NONE),
	CFG_INT("batch", 2, CFGF_NONE),
	CFG_INT("poll_ms", 1000, CFGF_NONE),
	CFG_INT("lease", 120, CFGF_NONE),
	CFG_INT("timeout", 60, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t email_opts[] = {
	CFG_SEC("smtp", smtp_opts, CFGF_MULTI),
	CFG_END()
};
/* clang-format on */

static const struct {
	const char *name;
	enum email_smtp_tls tls;
	unsigned port;
} tls_modes[] = {
        {"smtps", EMAIL_SMTP_IMPLICIT, 465},
        {"starttls", EMAIL_SMTP_STARTTLS, 587},
        {"plain-local", EMAIL_SMTP_PLAIN_LOCAL, 25},
};

static int
tls_mode(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(tls_modes) / sizeof(tls_modes[0]); i++)
		if (strcmp(s, tls_modes[i].name) == 0)
			return (int)i;
	return -1;
}

/*
 * A secret: the value of opt, or the file fileopt names (one trailing
 * newline dropped). 1 with *out (malloc'd) when set, 0 when neither is,
 * -1 with *why (which never quotes the secret).
 */
static int
secret_read(cfg_t *s, const char *opt, const char *fileopt, char **out,
            const char **why)
{
	const char *v = opt != NULL ? cfg_getstr(s, opt) : "",
	           *path = cfg_getstr(s, fileopt);
	char buf[EMAIL_SECRET_MAX + 2];
	size_t n;
	FILE *f;

	*out = NULL;
	if (v[0] != '\0' && path[0] != '\0') {
		*why = "set either the secret or its file, not both";
		return -1;
	}
	if (v[0] != '\0') {
		*out = xstrdup(v);
		return 1;
	}
	if (path[0] == '\0')
		return 0;
	f = fopen(path, "rb");
	if (f == NULL) {
		*why = errno == ENOENT ? "the secret file does not exist"
		                       : "the secret file cannot be read";
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n > EMAIL_SECRET_MAX) {
		*why = "the secret file holds more than 4096 bytes";
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		*why = "the secret file is empty or holds a NUL";
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	*out = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return 1;
}

static void
secret_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* The token source's own rule for its endpoint (email_oauth.h). */
static int
oauth_url_ok(const char *url)
{
	struct email_oauth_opts o;
	struct email_oauth *t;
	char err[128];

	memset(&o, 0, sizeof(o));
	o.token_url = url;
	o.client_id = "check";
	o.client_secret = "check";
	t = email_oauth_new(&o, err, sizeof(err));
	email_oauth_free(t);
	return t != NULL;
}

static int
smtp_check(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *s = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *host = cfg_getstr(s, "host"), *why = NULL;
	const char *from = cfg_getstr(s, "from");
	int oauth = cfg_getstr(s, "oauth_token_url")[0] != '\0' ||
	            cfg_getstr(s, "oauth_client_id")[0] != '\0' ||
	            cfg_getstr(s, "oauth_client_secret_file")[0] != '\0';
	long port = cfg_getint(s, "port");
	char *secret = NULL;
	int mode, r;

	if (cfg_opt_size(opt) > 1) {
		cfg_error(cfg, "email: one smtp section at most");
		return -1;
	}
	if (host[0] == '\0') {
		cfg_error(cfg, "email smtp: host: the mail server to send to");
		return -1;
	}
	mode = tls_mode(cfg_getstr(s, "tls"));
	if (mode < 0) {
		cfg_error(cfg,
		          "email smtp: tls: smtps, starttls or plain-local");
		return -1;
	}
	if (tls_modes[mode].tls == EMAIL_SMTP_PLAIN_LOCAL &&
	    !email_smtp_loopback(host)) {
		cfg_error(
		        cfg,
		        "email smtp: tls = \"plain-local\" sends unencrypted: "
		        "only to a relay on a loopback address");
		return -1;
	}
	if (port < 0 || port > 65535) {
		cfg_error(cfg, "email smtp: port: 1 to 65535 (0: by tls)");
		return -1;
	}
	if (!email_compose_addr_ok(from)) {
		cfg_error(cfg,
		          "email smtp: from: the address mail is sent from");
		return -1;
	}
	r = secret_read(s, "password", "password_file", &secret, &why);
	secret_free(secret);
	if (r < 0) {
		cfg_error(cfg, "email smtp: password: %s", why);
		return -1;
	}
	if (r == 1 && oauth) {
		cfg_error(cfg, "email smtp: a password or OAuth, not both");
		return -1;
	}
	if ((r == 1 || oauth) && cfg_getstr(s, "user")[0] == '\0') {
		cfg_error(cfg, "email smtp: user: needed to sign in");
		return -1;
	}
	if (oauth) {
		if (cfg_getstr(s, "oauth_token_url")[0] == '\0' ||
		    cfg_getstr(s, "oauth_client_id")[0] == '\0') {
			cfg_error(cfg,
			          "email smtp: OAuth needs oauth_token_url, "
			          "oauth_client_id and "
			          "oauth_client_secret_file");
			return -1;
		}
		if (!oauth_url_ok(cfg_getstr(s, "oauth_token_url"))) {
			cfg_error(cfg,
			          "email smtp: oauth_token_url: https://, or "
			          "http:// on a loopback address (tests)");
			return -1;
		}
		r = secret_read(s, NULL, "oauth_client_secret_file", &secret,
		                &why);
		secret_free(secret);
		if (r <= 0) {
			cfg_error(cfg,
			          "email smtp: oauth_client_secret_file: %s",
			          r == 0 ? "needed" : why);
			return -1;
		}
	}
	if (cfg_getint(s, "batch") < 1 || cfg_getint(s, "batch") > 256 ||
	    cfg_getint(s, "poll_ms") < 50 || cfg_getint(s, "lease") < 10 ||
	    cfg_getint(s, "timeout") < 5 ||
	    cfg_getint(s, "timeout") >= cfg_getint(s, "lease")) {
		cfg_error(cfg, "email smtp: batch 1-256, poll_ms >= 50, lease "
		               ">= 10 s, timeout >= 5 s and below lease");
		return -1;
	}
	return 0;
}

static const struct gw_config_check email_checks[] = {
        {"smtp", smtp_check},
        {NULL, NULL},
};

static char *
str_or_null(cfg_t *s, const char *opt)
{
	const char *v = cfg_getstr(s, opt);

	return v[0] != '\0' ? xstrdup(v) : NULL;
}

static void
smtp_free(struct email_smtp_config *c)
{
	if (c == NULL)
		return;
	free(c->host);
	free(c->ca_file);
	free(c->user);
	secret_free(c->password);
	free(c->oauth_token_url);
	free(c->oauth_client_id);
	secret_free(c->oauth_client_secret);
	free(c->oauth_scope);
	free(c->from);
	free(c->from_name);
	free(c->message_id_domain);
	free(c);
}

static void
email_free(void *settings)
{
	struct email_config *ec = settings;

	if (ec == NULL)
		return;
	smtp_free(ec->smtp);
	free(ec);
}

static void *
email_load(cfg_t *sec, char *err, size_t errlen)
{
	struct email_config *ec = xcalloc(1, sizeof(*ec));
	struct email_smtp_config *c;
	const char *why = NULL;
	cfg_t *s;
	int mode;

	if (cfg_size(sec, "smtp") == 0)
		return ec;
	s = cfg_getnsec(sec, "smtp", 0);
	c = ec->smtp = xcalloc(1, sizeof(*c));
	mode = tls_mode(cfg_getstr(s, "tls"));
	c->host = xstrdup(cfg_getstr(s, "host"));
	c->tls = tls_modes[mode].tls;
	c->port = cfg_getint(s, "port") != 0 ? (unsigned)cfg_getint(s, "port")
	                                     : tls_modes[mode].port;
	c->ca_file = str_or_null(s, "ca_file");
	c->user = str_or_null(s, "user");
	c->oauth_token_url = str_or_null(s, "oauth_token_url");
	c->oauth_client_id = str_or_null(s, "oauth_client_id");
	c->oauth_scope = str_or_null(s, "oauth_scope");
	c->from = xstrdup(cfg_getstr(s, "from"));
	c->from_name = str_or_null(s, "from_name");
	c->message_id_domain = str_or_null(s, "message_id_domain");
	if (c->message_id_domain == NULL)
		c->message_id_domain = xstrdup(strchr(c->from, '@') + 1);
	c->batch = (unsigned)cfg_getint(s, "batch");
	c->poll_ms = (unsigned)cfg_getint(s, "poll_ms");
	c->lease_s = (unsigned)cfg_getint(s, "lease");
	c->timeout_s = (unsigned)cfg_getint(s, "timeout");
	/* Checked already: a file changed since is caught here. */
	if (secret_read(s, "password", "password_file", &c->password, &why) <
	            0 ||
	    (c->oauth_token_url != NULL &&
	     secret_read(s, NULL, "oauth_client_secret_file",
	                 &c->oauth_client_secret, &why) <= 0)) {
		snprintf(err, errlen, "smtp: %s",
		         why != NULL ? why : "no OAuth client secret");
		email_free(ec);
		return NULL;
	}
	return ec;
}

const struct gw_config_section email_config_section = {
        "email", email_opts, email_checks, email_load, email_free};

const struct email_config *
email_config(const struct gw_config *cfg)
{
	const struct email_config *ec = gw_config_settings(cfg, "email");

	if (ec == NULL)
		fatalx("email: configuration loaded without its section");
	return ec;
}
