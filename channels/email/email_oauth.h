/*
 * email_oauth.h: an OAuth 2.0 token source for a mailbox (issue 15:
 * Microsoft 365 and Google accept only OAuth 2.0 for IMAP and SMTP).
 *
 * The client-credentials grant (RFC 6749 section 4.4) against the
 * mailbox's token endpoint: a POST of grant_type=client_credentials,
 * client_id, client_secret and scope as a form, answered with JSON
 * {"access_token", "token_type": "Bearer", "expires_in"}. The token is
 * cached and fetched again before it runs out: when less than a quarter of
 * its life, or five minutes, is left (whichever is less), or when the
 * caller says the server refused it (email_oauth_invalidate). The token
 * goes to IMAP's SASL XOAUTH2 (email_imap.h) and, later, SMTP's.
 *
 * Safety: the endpoint must be https:// (its certificate verified against
 * ca_file or the system's CAs), or http:// to a loopback address only (a
 * local test endpoint); the secret never goes anywhere else. Redirects are
 * not followed. Neither the secret nor a token is ever put in err. The
 * answer is capped at 64 KiB.
 *
 * Blocking (libcurl easy): worker threads only. Several threads may share
 * one source: the cache is behind a mutex, and one fetch runs at a time.
 */
#ifndef EMAIL_OAUTH_H
#define EMAIL_OAUTH_H

#include <stddef.h>
#include <stdint.h>

struct email_oauth;

struct email_oauth_opts {
	const char *token_url;
	const char *client_id;
	const char *client_secret;
	const char *scope;   /* e.g. https://outlook.office365.com/.default */
	const char *ca_file; /* NULL: the system's CAs */
	unsigned timeout_s;  /* 0: 30 */
};

/* NULL (err) when token_url is not one it may use. Copies everything. */
struct email_oauth *email_oauth_new(const struct email_oauth_opts *o, char *err,
                                    size_t errlen);
void email_oauth_free(struct email_oauth *t);

/*
 * A token that is good for a while yet, copied to out (NUL-terminated):
 * the cached one, or one fetched now. 0, or -1 with a reason in err (the
 * endpoint's HTTP status and its error and error_description where it
 * gave them).
 */
int email_oauth_token(struct email_oauth *t, char *out, size_t outlen,
                      char *err, size_t errlen);

/* The server refused the cached token: the next call fetches a new one. */
void email_oauth_invalidate(struct email_oauth *t);

/* Tokens fetched so far (for tests and /metrics). */
uint64_t email_oauth_fetches(struct email_oauth *t);

#endif
