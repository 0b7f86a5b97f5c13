/*
 * http_hdr.h: the request headers Switchboard reads itself, parsed from
 * their text: Content-Length, a cookie of the Cookie header, and the
 * client address behind trusted proxies (X-Forwarded-For). Pure: no I/O,
 * no allocation, so each is fuzzed (tests/fuzz/fuzz_http_hdr.c) and unit
 * tested (tests/unit/gateway/http/test_http_hdr.c). Any thread.
 */
#ifndef GW_HTTP_HDR_H
#define GW_HTTP_HDR_H

#include <stddef.h>

/* Longest textual address out of http_hdr_ip_normalize (IPv6 + NUL). */
#define HTTP_HDR_IP_MAX 46

/*
 * A Content-Length value: decimal digits only (at most 18), optional
 * spaces or tabs around them. 0 and *out, or -1 for anything else (a
 * sign, a list, an empty value, a number that does not fit).
 */
int http_hdr_content_length(const char *value, unsigned long long *out);

/*
 * The value of the cookie called name in a Cookie header (RFC 6265 5.4:
 * name=value pairs separated by ';' and optional white space; names are
 * matched exactly, a quoted value loses its quotes). The first such
 * cookie whose value fits out (outlen - 1 bytes) is copied, NUL ended:
 * returns its length; -1 when there is none (out is then "").
 */
int http_hdr_cookie(const char *header, const char *name, char *out,
                    size_t outlen);

/*
 * An IPv4 or IPv6 address in its canonical text (inet_ntop; an IPv4
 * mapped IPv6 address becomes the IPv4 one), from a plain literal or the
 * forms proxies write in X-Forwarded-For: "[v6]", "[v6]:port",
 * "v4:port". Returns 0, or -1 when in is none of these (out is "").
 */
int http_hdr_ip_normalize(const char *in, size_t len, char *out, size_t outlen);

/*
 * The client behind a chain of trusted proxies, from the value of
 * X-Forwarded-For (several headers joined with ','): the right-most
 * address that trusted() does not claim, or the left-most when every one
 * is trusted. trusted gets canonical addresses. Returns 0 with the
 * canonical address in out, or -1 when the header is empty or the entry
 * chosen is not an address (the caller keeps the proxy's own address).
 */
int http_hdr_forwarded_client(const char *xff,
                              int (*trusted)(void *arg, const char *ip),
                              void *arg, char *out, size_t outlen);

#endif
