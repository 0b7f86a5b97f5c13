/*
 * email_config.c: the email section of switchboard.conf (email_config.h):
 * options, defaults, checks with FILE:LINE, read into struct email_config.
 * Runs at start-up (and for switchboard -t); secret files are read then,
 * with blocking I/O, before the loop runs.
 */
#include <arpa/inet.h>
#include <confuse.h>
#include <jansson.h>
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
/* How smtp and a mailbox sign in (struct email_cred). */
#define CRED_OPTS \
	CFG_STR("user", "", CFGF_NONE), \
	CFG_STR("password", "", CFGF_NONE), \
	CFG_STR("password_file", "", CFGF_NONE), \
	CFG_STR("oauth_token_url", "", CFGF_NONE), \
	CFG_STR("oauth_client_id", "", CFGF_NONE), \
	CFG_STR("oauth_client_secret_file", "", CFGF_NONE), \
	CFG_STR("oauth_scope", "", CFGF_NONE)

static cfg_opt_t smtp_opts[] = {
	CFG_STR("host", "", CFGF_NONE),
	CFG_INT("port", 0, CFGF_NONE),
	CFG_STR("tls", "starttls", CFGF_NONE),
	CFG_STR("ca_file", "", CFGF_NONE),
	CRED_OPTS,
	CFG_STR("from", "", CFGF_NONE),
	CFG_STR("from_name", "", CFGF_NONE),
	CFG_STR("message_id_domain", "", CFGF_NONE),
	CFG_INT("batch", 2, CFGF_NONE),
	CFG_INT("poll_ms", 1000, CFGF_NONE),
	CFG_INT("lease", 120, CFGF_NONE),
	CFG_INT("timeout", 60, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t mailbox_opts[] = {
	CFG_STR("host", "", CFGF_NONE),
	CFG_INT("port", 0, CFGF_NONE),
	CFG_STR("tls", "implicit", CFGF_NONE),
	CFG_STR("ca_file", "", CFGF_NONE),
	CRED_OPTS,
	CFG_STR("folder", "INBOX", CFGF_NONE),
	CFG_STR("queue", "", CFGF_NONE),
	CFG_STR("after_import", "seen", CFGF_NONE),
	CFG_STR_LIST("addresses", "{}", CFGF_NONE),
	CFG_BOOL("acknowledge", cfg_true, CFGF_NONE),
	CFG_STR("acknowledgement_file", "", CFGF_NONE),
	CFG_STR("name", "", CFGF_NONE),
	CFG_STR("type", "", CFGF_NONE),
	CFG_STR("from", "", CFGF_NONE),
	CFG_STR("from_name", "", CFGF_NONE),
	CFG_STR("reply_to", "", CFGF_NONE),
	CFG_STR("signature", "", CFGF_NONE),
	CFG_INT("batch", 50, CFGF_NONE),
	CFG_INT("sweep", 60, CFGF_NONE),
	CFG_INT("timeout", 30, CFGF_NONE),
	CFG_INT("lease", 30, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t email_opts[] = {
	CFG_SEC("smtp", smtp_opts, CFGF_MULTI),
	CFG_SEC("mailbox", mailbox_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
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
 * The acknowledgement template of path: UTF-8 text of 1 to
 * EMAIL_ACK_TEMPLATE_MAX bytes holding "{reference}" (so that replies
 * thread back), line ends kept. 0 with *out (malloc'd), or -1 with *why.
 */
static int
template_read(const char *path, char **out, const char **why)
{
	char buf[EMAIL_ACK_TEMPLATE_MAX + 2];
	json_t *j;
	size_t n;
	FILE *f;

	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL) {
		*why = "the file cannot be read";
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n == 0 || n > EMAIL_ACK_TEMPLATE_MAX || strlen(buf) != n) {
		*why = "1 to 4000 bytes of text, no NUL";
		return -1;
	}
	j = json_string(buf); /* NULL when not UTF-8 */
	if (j == NULL) {
		*why = "the text is not UTF-8";
		return -1;
	}
	json_decref(j);
	if (strstr(buf, "{reference}") == NULL) {
		*why = "it must hold {reference}, so that replies find the "
		       "conversation";
		return -1;
	}
	*out = xstrdup(buf);
	return 0;
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

/*
 * The sign-in of section s (smtp or a mailbox): a password (or its file)
 * or an OAuth 2.0 token source, with a user; need: one of them is
 * required. 0, or -1 after cfg_error naming what.
 */
static int
cred_check(cfg_t *cfg, cfg_t *s, const char *what, int need)
{
	int oauth = cfg_getstr(s, "oauth_token_url")[0] != '\0' ||
	            cfg_getstr(s, "oauth_client_id")[0] != '\0' ||
	            cfg_getstr(s, "oauth_client_secret_file")[0] != '\0';
	const char *why = NULL;
	char *secret = NULL;
	int r;

	r = gw_config_secret(s, "password", "password_file", EMAIL_SECRET_MAX,
	                     &secret, &why);
	gw_config_secret_free(secret);
	if (r < 0) {
		cfg_error(cfg, "%s: password: %s", what, why);
		return -1;
	}
	if (r == 1 && oauth) {
		cfg_error(cfg, "%s: a password or OAuth, not both", what);
		return -1;
	}
	if (need && r == 0 && !oauth) {
		cfg_error(cfg,
		          "%s: password, password_file or OAuth "
		          "(oauth_token_url ...): needed to sign in",
		          what);
		return -1;
	}
	if ((r == 1 || oauth) && cfg_getstr(s, "user")[0] == '\0') {
		cfg_error(cfg, "%s: user: needed to sign in", what);
		return -1;
	}
	if (!oauth)
		return 0;
	if (cfg_getstr(s, "oauth_token_url")[0] == '\0' ||
	    cfg_getstr(s, "oauth_client_id")[0] == '\0') {
		cfg_error(cfg,
		          "%s: OAuth needs oauth_token_url, oauth_client_id "
		          "and oauth_client_secret_file",
		          what);
		return -1;
	}
	if (!oauth_url_ok(cfg_getstr(s, "oauth_token_url"))) {
		cfg_error(cfg,
		          "%s: oauth_token_url: https://, or http:// on a "
		          "loopback address (tests)",
		          what);
		return -1;
	}
	r = gw_config_secret(s, NULL, "oauth_client_secret_file",
	                     EMAIL_SECRET_MAX, &secret, &why);
	gw_config_secret_free(secret);
	if (r <= 0) {
		cfg_error(cfg, "%s: oauth_client_secret_file: %s", what,
		          r == 0 ? "needed" : why);
		return -1;
	}
	return 0;
}

static int
smtp_check(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *s = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *host = cfg_getstr(s, "host");
	const char *from = cfg_getstr(s, "from");
	long port = cfg_getint(s, "port");
	int mode;

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
	if (cred_check(cfg, s, "email smtp", 0) != 0)
		return -1;
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

/* A mailbox's name: the cursor's key (email_mailboxes.name, 0024). */
static int
mailbox_name_ok(const char *n)
{
	size_t i, len = n != NULL ? strlen(n) : 0;

	if (len == 0 || len > 63 || n[0] == '-' || n[0] == '_')
		return 0;
	for (i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') ||
		      (n[i] >= '0' && n[i] <= '9') || n[i] == '-' ||
		      n[i] == '_'))
			return 0;
	return 1;
}

/* An IMAP folder name: printable, no control characters, 1-200 bytes. */
static int
folder_ok(const char *f)
{
	size_t i, len = strlen(f);

	if (len == 0 || len > 200)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)f[i] < 0x20 || f[i] == 0x7f)
			return 0;
	return 1;
}

/* The folder after_import moves to, or NULL for "seen"; "" when bad. */
static const char *
after_import_move(const char *v)
{
	if (strcmp(v, "seen") == 0)
		return NULL;
	if (strncmp(v, "move:", 5) == 0 && folder_ok(v + 5))
		return v + 5;
	return "";
}

static int
mailbox_check(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *s = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *name = cfg_title(s), *move;
	char what[96];
	long port = cfg_getint(s, "port");
	unsigned i, n;

	if (!mailbox_name_ok(name)) {
		cfg_error(cfg,
		          "email mailbox %s: a mailbox's name: 1 to 63 of "
		          "a-z, 0-9, '-' and '_', starting with a letter or "
		          "digit",
		          name != NULL ? name : "");
		return -1;
	}
	snprintf(what, sizeof(what), "email mailbox %s", name);
	if (cfg_opt_size(opt) > EMAIL_MAILBOXES_MAX) {
		cfg_error(cfg, "%s: more than %d mailboxes", what,
		          EMAIL_MAILBOXES_MAX);
		return -1;
	}
	if (cfg_getstr(s, "host")[0] == '\0') {
		cfg_error(cfg, "%s: host: the IMAP server (implicit TLS)",
		          what);
		return -1;
	}
	if (port < 0 || port > 65535) {
		cfg_error(cfg, "%s: port: 1 to 65535 (0: by tls)", what);
		return -1;
	}
	if (strcmp(cfg_getstr(s, "tls"), "implicit") != 0 &&
	    strcmp(cfg_getstr(s, "tls"), "starttls") != 0) {
		cfg_error(cfg,
		          "%s: tls: \"implicit\" (port 993) or \"starttls\" "
		          "(port 143, required before signing in)",
		          what);
		return -1;
	}
	if (cfg_getstr(s, "user")[0] == '\0') {
		cfg_error(cfg, "%s: user: the mailbox's sign-in name", what);
		return -1;
	}
	if (cred_check(cfg, s, what, 1) != 0)
		return -1;
	if (!folder_ok(cfg_getstr(s, "folder"))) {
		cfg_error(cfg, "%s: folder: 1 to 200 printable bytes", what);
		return -1;
	}
	n = strlen(cfg_getstr(s, "queue"));
	if (n == 0 || n > 64) {
		cfg_error(cfg,
		          "%s: queue: the slug or id of the queue its mail "
		          "goes to (1 to 64 bytes)",
		          what);
		return -1;
	}
	move = after_import_move(cfg_getstr(s, "after_import"));
	if (move != NULL && move[0] == '\0') {
		cfg_error(cfg,
		          "%s: after_import: \"seen\", or \"move:<folder>\"",
		          what);
		return -1;
	}
	if (move != NULL && strcmp(move, cfg_getstr(s, "folder")) == 0) {
		cfg_error(cfg,
		          "%s: after_import: moving to the folder it reads "
		          "would import each message again",
		          what);
		return -1;
	}
	n = cfg_size(s, "addresses");
	if (n > EMAIL_ADDRESSES_MAX) {
		cfg_error(cfg, "%s: addresses: at most %d", what,
		          EMAIL_ADDRESSES_MAX);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!email_compose_addr_ok(cfg_getnstr(s, "addresses", i))) {
			cfg_error(cfg,
			          "%s: addresses: \"%s\" is not an "
			          "address",
			          what, cfg_getnstr(s, "addresses", i));
			return -1;
		}
	if (n == 0 && !email_compose_addr_ok(cfg_getstr(s, "user"))) {
		cfg_error(cfg,
		          "%s: addresses: the mailbox's own addresses (its "
		          "user is not one), so that it never answers itself",
		          what);
		return -1;
	}
	if ((cfg_getstr(s, "from")[0] != '\0' &&
	     !email_compose_addr_ok(cfg_getstr(s, "from"))) ||
	    (cfg_getstr(s, "reply_to")[0] != '\0' &&
	     !email_compose_addr_ok(cfg_getstr(s, "reply_to")))) {
		cfg_error(cfg, "%s: from and reply_to: one address each", what);
		return -1;
	}
	if (cfg_getstr(s, "acknowledgement_file")[0] != '\0') {
		char *t = NULL;
		const char *why = NULL;

		if (template_read(cfg_getstr(s, "acknowledgement_file"), &t,
		                  &why) != 0) {
			cfg_error(cfg, "%s: acknowledgement_file: %s", what,
			          why);
			return -1;
		}
		free(t);
	}
	if (strlen(cfg_getstr(s, "from_name")) > 200 ||
	    strlen(cfg_getstr(s, "signature")) > 2000) {
		cfg_error(cfg,
		          "%s: from_name at most 200 bytes, signature at most "
		          "2000",
		          what);
		return -1;
	}
	if (strlen(cfg_getstr(s, "name")) > 200 ||
	    strlen(cfg_getstr(s, "type")) > 64) {
		cfg_error(cfg, "%s: name at most 200 bytes, type at most 64",
		          what);
		return -1;
	}
	if (cfg_getint(s, "batch") < 1 || cfg_getint(s, "batch") > 500 ||
	    cfg_getint(s, "sweep") < 1 || cfg_getint(s, "sweep") > 1500 ||
	    cfg_getint(s, "timeout") < 5 || cfg_getint(s, "timeout") > 300 ||
	    cfg_getint(s, "lease") < 3 || cfg_getint(s, "lease") > 600) {
		cfg_error(cfg,
		          "%s: batch 1-500, sweep 1-1500 s (IDLE is issued "
		          "again at each sweep, well before the 29 minutes "
		          "servers allow), timeout 5-300 s, lease 3-600 s",
		          what);
		return -1;
	}
	return 0;
}

static const struct gw_config_check email_checks[] = {
        {"smtp", smtp_check},
        {"mailbox", mailbox_check},
        {NULL, NULL},
};

static char *
str_or_null(cfg_t *s, const char *opt)
{
	const char *v = cfg_getstr(s, opt);

	return v[0] != '\0' ? xstrdup(v) : NULL;
}

static void
cred_free(struct email_cred *c)
{
	free(c->user);
	gw_config_secret_free(c->password);
	free(c->oauth_token_url);
	free(c->oauth_client_id);
	gw_config_secret_free(c->oauth_client_secret);
	free(c->oauth_scope);
}

/* Reads the sign-in of s into *c: 0, or -1 with *why. */
static int
cred_load(cfg_t *s, struct email_cred *c, const char **why)
{
	c->user = str_or_null(s, "user");
	c->oauth_token_url = str_or_null(s, "oauth_token_url");
	c->oauth_client_id = str_or_null(s, "oauth_client_id");
	c->oauth_scope = str_or_null(s, "oauth_scope");
	/* Checked already: a file changed since is caught here. */
	if (gw_config_secret(s, "password", "password_file", EMAIL_SECRET_MAX,
	                     &c->password, why) < 0 ||
	    (c->oauth_token_url != NULL &&
	     gw_config_secret(s, NULL, "oauth_client_secret_file",
	                      EMAIL_SECRET_MAX, &c->oauth_client_secret,
	                      why) <= 0)) {
		if (*why == NULL)
			*why = "no OAuth client secret";
		return -1;
	}
	return 0;
}

struct email_oauth *
email_config_oauth(const struct email_cred *c, char *err, size_t errlen)
{
	struct email_oauth_opts oo;

	err[0] = '\0';
	if (c->oauth_token_url == NULL)
		return NULL;
	memset(&oo, 0, sizeof(oo));
	oo.token_url = c->oauth_token_url;
	oo.client_id = c->oauth_client_id;
	oo.client_secret = c->oauth_client_secret;
	oo.scope = c->oauth_scope;
	return email_oauth_new(&oo, err, errlen);
}

static void
smtp_free(struct email_smtp_config *c)
{
	if (c == NULL)
		return;
	free(c->host);
	free(c->ca_file);
	cred_free(&c->cred);
	free(c->from);
	free(c->from_name);
	free(c->message_id_domain);
	free(c);
}

static void
mailbox_free(struct email_mailbox_config *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->name);
	free(m->host);
	free(m->ca_file);
	cred_free(&m->cred);
	free(m->folder);
	free(m->queue);
	free(m->move_to);
	for (i = 0; i < m->naddresses; i++)
		free(m->addresses[i]);
	free(m->addresses);
	free(m->ack_name);
	free(m->ack_template);
	free(m->type_hint);
	free(m->from);
	free(m->from_name);
	free(m->reply_to);
	free(m->signature);
	free(m);
}

static void
email_free(void *settings)
{
	struct email_config *ec = settings;
	size_t i;

	if (ec == NULL)
		return;
	smtp_free(ec->smtp);
	for (i = 0; i < ec->nmailboxes; i++)
		mailbox_free(ec->mailboxes[i]);
	free(ec->mailboxes);
	free(ec);
}

static char *
lower_dup(const char *v)
{
	char *r = xstrdup(v), *p;

	for (p = r; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return r;
}

static struct email_mailbox_config *
mailbox_load(cfg_t *s, const char **why)
{
	struct email_mailbox_config *m = xcalloc(1, sizeof(*m));
	const char *move = after_import_move(cfg_getstr(s, "after_import"));
	size_t i, n = cfg_size(s, "addresses");

	m->name = xstrdup(cfg_title(s));
	m->host = xstrdup(cfg_getstr(s, "host"));
	m->starttls = strcmp(cfg_getstr(s, "tls"), "starttls") == 0;
	m->port = cfg_getint(s, "port") != 0 ? (unsigned)cfg_getint(s, "port")
	          : m->starttls              ? 143u
	                                     : 993u;
	m->ca_file = str_or_null(s, "ca_file");
	m->folder = xstrdup(cfg_getstr(s, "folder"));
	m->queue = xstrdup(cfg_getstr(s, "queue"));
	m->move_to = move != NULL ? xstrdup(move) : NULL;
	m->addresses = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		m->addresses[i] = lower_dup(cfg_getnstr(s, "addresses", i));
	if (n == 0)
		m->addresses[n++] = lower_dup(cfg_getstr(s, "user"));
	m->naddresses = n;
	m->acknowledge = cfg_getbool(s, "acknowledge") ? 1 : 0;
	if (cfg_getstr(s, "acknowledgement_file")[0] != '\0' &&
	    template_read(cfg_getstr(s, "acknowledgement_file"),
	                  &m->ack_template, why) != 0) {
		mailbox_free(m);
		return NULL;
	}
	m->ack_name = str_or_null(s, "name");
	m->type_hint = str_or_null(s, "type");
	m->from = str_or_null(s, "from");
	m->from_name = str_or_null(s, "from_name");
	if (m->from_name == NULL && m->ack_name != NULL)
		m->from_name = xstrdup(m->ack_name);
	m->reply_to = str_or_null(s, "reply_to");
	m->signature = str_or_null(s, "signature");
	m->batch = (unsigned)cfg_getint(s, "batch");
	m->sweep_s = (unsigned)cfg_getint(s, "sweep");
	m->timeout_s = (unsigned)cfg_getint(s, "timeout");
	m->lease_s = (unsigned)cfg_getint(s, "lease");
	if (cred_load(s, &m->cred, why) != 0) {
		mailbox_free(m);
		return NULL;
	}
	return m;
}

static void *
email_load(cfg_t *sec, char *err, size_t errlen)
{
	struct email_config *ec = xcalloc(1, sizeof(*ec));
	struct email_smtp_config *c;
	const char *why = NULL;
	size_t i, n = cfg_size(sec, "mailbox");
	cfg_t *s;
	int mode;

	ec->mailboxes = xcalloc(n + 1, sizeof(*ec->mailboxes));
	for (i = 0; i < n; i++) {
		s = cfg_getnsec(sec, "mailbox", (unsigned)i);
		ec->mailboxes[i] = mailbox_load(s, &why);
		if (ec->mailboxes[i] == NULL) {
			snprintf(err, errlen, "mailbox %s: %s", cfg_title(s),
			         why);
			email_free(ec);
			return NULL;
		}
		ec->nmailboxes++;
	}
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
	c->from = xstrdup(cfg_getstr(s, "from"));
	c->from_name = str_or_null(s, "from_name");
	c->message_id_domain = str_or_null(s, "message_id_domain");
	if (c->message_id_domain == NULL)
		c->message_id_domain = xstrdup(strchr(c->from, '@') + 1);
	c->batch = (unsigned)cfg_getint(s, "batch");
	c->poll_ms = (unsigned)cfg_getint(s, "poll_ms");
	c->lease_s = (unsigned)cfg_getint(s, "lease");
	c->timeout_s = (unsigned)cfg_getint(s, "timeout");
	if (cred_load(s, &c->cred, &why) != 0) {
		snprintf(err, errlen, "smtp: %s", why);
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
