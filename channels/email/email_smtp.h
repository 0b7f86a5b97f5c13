/*
 * email_smtp.h: one message handed to a mail server over SMTP, through
 * libcurl (issue 15, "Sending"; docs/email.md, "Sending one message").
 * Blocking: worker threads only (the outbox sender's).
 *
 * libcurl rather than libesmtp: Debian's libesmtp 1.1 has no implicit TLS
 * and no XOAUTH2 (its SASL mechanisms are system plugins), so it cannot
 * send through Microsoft 365 (docs/email.md).
 *
 * TLS: implicit (SMTPS, port 465) or STARTTLS required (587); the chain is
 * verified against ca_file (or the system's CAs) and the name against
 * host. A plain connection only to a relay on a loopback address (a local
 * MTA), never elsewhere. Sign-in: none (a local relay), a password (AUTH
 * PLAIN or LOGIN), or a bearer token (SASL XOAUTH2).
 *
 * The envelope sender may be empty (MAIL FROM:<>, for acknowledgements
 * and other automatic replies: bounces of them go nowhere). The message is
 * sent as given (CRLF line ends; libcurl dot-stuffs it). Its Message-ID is
 * the caller's: a message sent again after a crash carries the same one.
 */
#ifndef EMAIL_SMTP_H
#define EMAIL_SMTP_H

#include <stddef.h>
#include <stdint.h>

enum email_smtp_tls {
	EMAIL_SMTP_IMPLICIT = 0, /* SMTPS */
	EMAIL_SMTP_STARTTLS,     /* required, not merely tried */
	EMAIL_SMTP_PLAIN_LOCAL,  /* no TLS: loopback relays only */
};

struct email_smtp_opts {
	const char *host;
	uint16_t port;
	enum email_smtp_tls tls;
	const char *ca_file;     /* NULL: the system's CAs */
	const char *user;        /* NULL: no sign-in */
	const char *password;    /* AUTH PLAIN/LOGIN, or */
	const char *oauth_token; /* SASL XOAUTH2 when not NULL */
	unsigned timeout_s;      /* the whole exchange; 0: 60 */
};

/* What the server said, when it said something. */
struct email_smtp_outcome {
	long code;        /* the last reply code (250, 451, 550...), 0 none */
	int permanent;    /* the server refused it for good (5xx): no retry */
	char reason[512]; /* one line, for the log and the advisor */
};

/*
 * Sends msg (len bytes) from from ("" for the empty path <>) to the
 * nrcpt recipients. 0 when the server took it (250 after the data), -1
 * otherwise, with out saying why and whether to try again.
 */
int email_smtp_send(const struct email_smtp_opts *o, const char *from,
                    const char *const *rcpt, size_t nrcpt, const char *msg,
                    size_t len, struct email_smtp_outcome *out);

/* 1 when host is a loopback address (127.0.0.0/8, ::1, localhost). */
int email_smtp_loopback(const char *host);

#endif
