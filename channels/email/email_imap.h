/*
 * email_imap.h: one IMAP session with a mailbox server, through libetpan,
 * for the email channel's intake (issue 15; the rules are in
 * shared/reference/email.md, "Intake from IMAP").
 *
 * Every call blocks on the network (at most the session's timeout per
 * read or write), so each runs on a worker thread (uv_queue_work, or the
 * mailbox's own thread for IDLE), never on the loop. A session is used by
 * one thread at a time; sessions are independent of each other.
 *
 * What it does:
 *   * implicit TLS (port 993 style) or required STARTTLS (143), done
 *     with OpenSSL under a libetpan stream driver of ours: Debian builds
 *     libetpan with GnuTLS, and its own TLS verifies no certificate. The
 *     chain is verified against ca_file (or the system's CAs) and the name
 *     against host (a DNS name or an IP address), TLS 1.2 at least; a
 *     session that cannot verify is never opened. STARTTLS is ours too
 *     (libetpan's had a response-injection flaw, CONVENTIONS.md): a server
 *     that does not offer it, or sends anything after its OK before the
 *     handshake, is refused, and nothing is signed in before TLS;
 *   * LOGIN with a password, or SASL XOAUTH2 with a bearer token (Microsoft
 *     365 and Google accept only that); the caller gets the token
 *     (email_oauth.h, later) and passes it in;
 *   * SELECT with UIDVALIDITY and UIDNEXT;
 *   * the UIDs after a checkpoint: UID FETCH last+1:* answers the highest
 *     message even when it is not after last (RFC 3501), so UIDs not above
 *     last are dropped here; never SEARCH UNSEEN, never by date;
 *   * bodies with BODY.PEEK[] (nothing is marked read by fetching), handed
 *     to the caller in ascending UID order;
 *   * \Seen, or MOVE to a folder (COPY, \Deleted and UID EXPUNGE where the
 *     server has no MOVE), for UIDs the caller has committed;
 *   * IDLE where CAPABILITY lists it, for at most the time given, woken
 *     early by a readable wake_fd (the loop's way to stop it).
 *
 * Errors: each call returns -1 with a one-line reason in err (the
 * server's text where it gave one), and the session may be closed and
 * opened again; nothing in this file keeps state across sessions.
 */
#ifndef EMAIL_IMAP_H
#define EMAIL_IMAP_H

#include <stddef.h>
#include <stdint.h>

struct email_imap;

struct email_imap_opts {
	const char *host;    /* DNS name or IP address, as the cert names it */
	uint16_t port;       /* implicit TLS: 993; STARTTLS: 143 */
	const char *ca_file; /* PEM; NULL: the system's CAs */
	const char *user;
	const char *password;    /* LOGIN, or */
	const char *oauth_token; /* SASL XOAUTH2 when not NULL */
	unsigned timeout_s;      /* per network read or write; 0: 30 */
	/* 1: a plain connection upgraded by STARTTLS (port 143), refused
	 * when the server does not offer it; 0: implicit TLS. */
	int starttls;
	/* Optional: set to 1 when the server refused the sign-in (a token
	 * to fetch again, a password to fix), else 0. */
	int *refused;
};

/* What SELECT said of a folder. */
struct email_imap_box {
	uint32_t uidvalidity;
	uint32_t uidnext; /* 0 when the server did not say */
	uint32_t exists;
};

/* One message fetched: return 0 to go on, -1 to stop (the call fails). */
typedef int (*email_imap_msg_fn)(void *arg, uint32_t uid, const char *raw,
                                 size_t len);

/*
 * Shuts the session's connection down, from any thread, so that a call
 * blocked in another thread (a read, IDLE) fails at once; the owner then
 * closes the session. Safe while the owner is inside a call; the owner
 * must not close the session during it.
 */
void email_imap_abort(struct email_imap *c);

/* Connects, verifies TLS, signs in. NULL (err) on any failure. */
struct email_imap *email_imap_open(const struct email_imap_opts *o, char *err,
                                   size_t errlen);
void email_imap_close(struct email_imap *c);

/* Whether the server listed IDLE, MOVE (after sign-in). */
int email_imap_can_idle(const struct email_imap *c);
int email_imap_can_move(const struct email_imap *c);

int email_imap_select(struct email_imap *c, const char *folder,
                      struct email_imap_box *box, char *err, size_t errlen);

/*
 * The UIDs above after in the selected folder, ascending, at most max
 * (the lowest ones): *uids is malloc'd (free it), *n their count.
 */
int email_imap_uids_after(struct email_imap *c, uint32_t after, size_t max,
                          uint32_t **uids, size_t *n, char *err, size_t errlen);

/*
 * Fetches the whole raw message of each UID (BODY.PEEK[]) and calls fn for
 * each, in ascending UID order. A UID that no longer exists (expunged
 * meanwhile) is skipped. raw is valid only during the call.
 */
int email_imap_fetch(struct email_imap *c, const uint32_t *uids, size_t n,
                     email_imap_msg_fn fn, void *arg, char *err, size_t errlen);

/* Adds \Seen to the UIDs. */
int email_imap_seen(struct email_imap *c, const uint32_t *uids, size_t n,
                    char *err, size_t errlen);

/* Moves the UIDs to folder (which must exist). */
int email_imap_move(struct email_imap *c, const uint32_t *uids, size_t n,
                    const char *folder, char *err, size_t errlen);

/*
 * IDLE for at most max_s seconds: 1 when the server said something (new
 * mail, most likely: fetch to see), 0 when the time ran out or wake_fd
 * (-1: none) became readable, -1 on error. Only when email_imap_can_idle.
 */
int email_imap_idle(struct email_imap *c, unsigned max_s, int wake_fd,
                    char *err, size_t errlen);

#endif
