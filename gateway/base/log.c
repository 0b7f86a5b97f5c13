/*
 * log.c: the structured logger. Level and format are process globals set
 * on the loop thread at start-up and on SIGHUP; workers only read them.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 4096

static _Atomic int log_level = GW_LOG_INFO;
static _Atomic int log_format = GW_LOG_KV;

static const char *const level_names[] = {
        [GW_LOG_DEBUG] = "debug",   [GW_LOG_INFO] = "info",
        [GW_LOG_NOTICE] = "notice", [GW_LOG_WARNING] = "warning",
        [GW_LOG_ERROR] = "error",
};

void
gw_log_set_level(enum gw_log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum gw_log_level
gw_log_get_level(void)
{
	return (enum gw_log_level)atomic_load(&log_level);
}

void
gw_log_set_format(enum gw_log_format format)
{
	atomic_store(&log_format, (int)format);
}

int
gw_log_level_parse(const char *name, enum gw_log_level *out)
{
	unsigned i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum gw_log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
gw_log_level_name(enum gw_log_level level)
{
	if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "unknown";
	return level_names[level];
}

struct out {
	char *p;
	unsigned len, cap;
};

static void
out_c(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->p[o->len++] = c;
}

static void
out_s(struct out *o, const char *s)
{
	while (*s != '\0')
		out_c(o, *s++);
}

/* Copies c, escaping what would break a line (kv) or a JSON string. */
static void
out_esc(struct out *o, char c, int json)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '\n') {
		out_s(o, "\\n");
	} else if (c == '\r') {
		out_s(o, "\\r");
	} else if (c == '\t') {
		out_s(o, "\\t");
	} else if ((unsigned char)c < 0x20 || c == 0x7f) {
		out_s(o, "\\u00");
		out_c(o, hex[((unsigned char)c >> 4) & 0xf]);
		out_c(o, hex[(unsigned char)c & 0xf]);
	} else if (json && (c == '"' || c == '\\')) {
		out_c(o, '\\');
		out_c(o, c);
	} else {
		out_c(o, c);
	}
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0:
 * no overlongs, no surrogates, nothing above U+10FFFF (RFC 3629).
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* A JSON string must be UTF-8: other bytes become U+FFFD. */
static void
out_json_str(struct out *o, const char *s, size_t n)
{
	size_t i, k, len;

	out_c(o, '"');
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x80) {
			out_esc(o, s[i], 1);
			continue;
		}
		len = utf8_len((const unsigned char *)s + i, n - i);
		if (len == 0) {
			out_s(o, "\\ufffd");
			continue;
		}
		for (k = 0; k < len; k++)
			out_c(o, s[i + k]);
		i += len - 1;
	}
	out_c(o, '"');
}

/*
 * Turns `k=v k2="v 2"` into `,"k":"v","k2":"v 2"`. A quoted value ends at
 * a quote followed by a space or the end, so quotes inside survive.
 */
static void
render_json_body(struct out *o, const char *b)
{
	const char *k, *v, *end;

	while (*b != '\0') {
		while (*b == ' ')
			b++;
		if (*b == '\0')
			break;
		k = b;
		while (*b != '\0' && *b != '=' && *b != ' ')
			b++;
		out_c(o, ',');
		if (*b != '=') {
			out_json_str(o, k, (size_t)(b - k));
			out_s(o, ":true");
			continue;
		}
		out_json_str(o, k, (size_t)(b - k));
		out_c(o, ':');
		b++;
		if (*b == '"') {
			v = ++b;
			end = v;
			while (*end != '\0' &&
			       !(*end == '"' &&
			         (end[1] == ' ' || end[1] == '\0')))
				end++;
			out_json_str(o, v, (size_t)(end - v));
			b = *end == '"' ? end + 1 : end;
		} else {
			v = b;
			while (*b != '\0' && *b != ' ')
				b++;
			out_json_str(o, v, (size_t)(b - v));
		}
	}
}

void
gw_log_render(char *buf, unsigned buflen, enum gw_log_format format,
              const char *ts, const char *level, const char *event,
              const char *body)
{
	struct out o = {buf, 0, buflen};
	const char *s;

	if (format == GW_LOG_JSON) {
		out_s(&o, "{\"ts\":");
		out_json_str(&o, ts, strlen(ts));
		out_s(&o, ",\"level\":");
		out_json_str(&o, level, strlen(level));
		out_s(&o, ",\"event\":");
		out_json_str(&o, event, strlen(event));
		render_json_body(&o, body);
		out_c(&o, '}');
	} else {
		out_s(&o, "ts=");
		out_s(&o, ts);
		out_s(&o, " level=");
		out_s(&o, level);
		out_s(&o, " event=");
		out_s(&o, event);
		if (*body != '\0')
			out_c(&o, ' ');
		for (s = body; *s != '\0'; s++)
			out_esc(&o, *s, 0);
	}
	/* The line always ends in a newline, even when truncated. */
	if (buflen < 2) {
		if (buflen == 1)
			buf[0] = '\0';
		return;
	}
	if (o.len + 2 > buflen)
		o.len = buflen - 2;
	buf[o.len++] = '\n';
	buf[o.len] = '\0';
}

const char *
gw_log_clean(char *buf, size_t len, const char *s)
{
	size_t i;

	if (len == 0)
		return "";
	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"')
			buf[i] = '\'';
		else if (ch == '\\')
			buf[i] = '/';
		else if (ch < 0x20 || ch == 0x7f)
			buf[i] = '?';
		else
			buf[i] = (char)ch;
	}
	buf[i] = '\0';
	return buf;
}

void
gw_log(enum gw_log_level level, const char *event, const char *fmt, ...)
{
	char body[LOG_LINE_MAX], line[LOG_LINE_MAX + 256], ts[40];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n;

	if ((int)level < atomic_load(&log_level))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	gw_log_render(line, sizeof(line),
	              (enum gw_log_format)atomic_load(&log_format), ts,
	              gw_log_level_name(level), event, body);
	/* One write per event so lines from threads never interleave. */
	if (write(STDERR_FILENO, line, strlen(line)) < 0)
		return;
}
