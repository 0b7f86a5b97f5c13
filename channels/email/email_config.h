/*
 * email_config.h: the email section of switchboard.conf
 * (docs/configuration.md, "email"), registered with the loader through
 * channels/channels.c, checked by switchboard -t with FILE:LINE.
 *
 *   email {
 *       smtp {                         # where outgoing mail goes
 *           host = "smtp.office365.com"
 *           port = 587                 # default: 465, 587 or 25 by tls
 *           tls = "starttls"           # smtps | starttls | plain-local
 *           ca_file = "/etc/ssl/certs/ca-certificates.crt"  # optional
 *           user = "contact@council.gov.uk"
 *           password_file = "/etc/switchboard/smtp.password"
 *           # or, for Microsoft 365 and Google (SASL XOAUTH2):
 *           # oauth_token_url =
 * "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token" #
 * oauth_client_id = "..." # oauth_client_secret_file =
 * "/etc/switchboard/smtp.oauth" # oauth_scope =
 * "https://outlook.office365.com/.default" from = "contact@council.gov.uk"
 *           from_name = "Denbighshire County Council"
 *           message_id_domain = "council.gov.uk"  # default: from's domain
 *       }
 *   }
 *
 * Without smtp { }, nothing is sent by email: outbox rows wait (the log
 * says so at start). plain-local (no TLS) is for a relay on a loopback
 * address only. Secrets are read from files at start-up and never logged.
 * Loop thread after loading; the settings are immutable.
 */
#ifndef EMAIL_CONFIG_H
#define EMAIL_CONFIG_H

#include "config.h"
#include "email_smtp.h"

#define EMAIL_SECRET_MAX 4096

#define EMAIL_MAILBOXES_MAX    64
#define EMAIL_ADDRESSES_MAX    32
#define EMAIL_ACK_TEMPLATE_MAX 4000

/* How a server is signed in to: a password, or an OAuth token source. */
struct email_cred {
	char *user;     /* NULL: no sign-in */
	char *password; /* NULL: none (or OAuth) */
	char *oauth_token_url, *oauth_client_id, *oauth_client_secret,
	        *oauth_scope; /* all NULL, or url, id and secret set */
};

struct email_smtp_config {
	char *host;
	unsigned port;
	enum email_smtp_tls tls;
	char *ca_file; /* NULL: the system's */
	struct email_cred cred;
	char *from, *from_name, *message_id_domain;
	unsigned batch;     /* rows claimed at once */
	unsigned poll_ms;   /* how often the outbox is looked at */
	unsigned lease_s;   /* how long a claimed row is ours */
	unsigned timeout_s; /* one send */
};

/* One mailbox read by intake (email_intake.h). */
struct email_mailbox_config {
	char *name; /* the section's title: a-z0-9_- */
	char *host;
	unsigned port;
	int starttls;  /* 1: plain, then STARTTLS; 0: implicit TLS */
	char *ca_file; /* NULL: the system's */
	struct email_cred cred;
	char *folder;     /* read from; default INBOX */
	char *queue;      /* where its new conversations wait */
	char *move_to;    /* after import: move here; NULL: set \Seen */
	char **addresses; /* its own, lower case (never answered) */
	size_t naddresses;
	int acknowledge;    /* send the acknowledgement */
	char *ack_name;     /* who the mailbox is, in it; or NULL */
	char *ack_template; /* its text ({reference}, {name}); NULL: ours */
	char *type_hint;    /* conversation type hint, or NULL */
	/* What its mail (acknowledgements, replies) is sent as; NULL: the
	 * smtp section's from and from_name (from_name: name first). */
	char *from, *from_name;
	char *reply_to;     /* Reply-To of its mail, or NULL */
	char *signature;    /* below a reply's text ("-- " line), or NULL */
	unsigned batch;     /* messages fetched and committed at once */
	unsigned sweep_s;   /* UID sweep (and IDLE's longest wait) */
	unsigned timeout_s; /* one network read or write */
	unsigned lease_s;   /* the lease's time to live */
};

struct email_config {
	struct email_smtp_config *smtp; /* NULL: no smtp section */
	struct email_mailbox_config **mailboxes;
	size_t nmailboxes;
};

struct email_oauth;
/*
 * The token source of c (its endpoint verified against the system's CAs:
 * a mail server's own ca_file is for the mail server only): NULL with err
 * "" when c uses none; NULL with err set when it cannot be made.
 */
struct email_oauth *email_config_oauth(const struct email_cred *c, char *err,
                                       size_t errlen);

extern const struct gw_config_section email_config_section;

/* The email settings of cfg (the section is always registered). */
const struct email_config *email_config(const struct gw_config *cfg);

#endif
