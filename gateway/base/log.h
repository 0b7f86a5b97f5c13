/*
 * log.h: structured logging, one event per line on stderr.
 *
 * gw_log(level, "pg.connected", "conn=%u peer=%s", ...) writes
 *   ts=2026-11-22T10:00:00.123Z level=info event=pg.connected conn=1 ...
 * The format string must produce key=value pairs separated by spaces; a
 * value that may hold spaces or quotes is written key="%s" and passed
 * through as is (the logger escapes control characters so an event never
 * spans two lines). In JSON mode the same pairs become one JSON object.
 * Loop thread and workers alike (each line is one write(2)).
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stddef.h>

enum gw_log_level {
	GW_LOG_DEBUG = 0,
	GW_LOG_INFO,
	GW_LOG_NOTICE,
	GW_LOG_WARNING,
	GW_LOG_ERROR,
};

enum gw_log_format {
	GW_LOG_KV = 0,
	GW_LOG_JSON,
};

void gw_log_set_level(enum gw_log_level level);
enum gw_log_level gw_log_get_level(void);
void gw_log_set_format(enum gw_log_format format);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int gw_log_level_parse(const char *name, enum gw_log_level *out);
const char *gw_log_level_name(enum gw_log_level level);
void gw_log(enum gw_log_level level, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/*
 * Copies s into buf (truncating) so it can stand inside key="%s": quotes
 * become ', backslashes /, control characters ?. Use it for every value
 * that comes from outside (headers, paths, origins). Returns buf.
 */
const char *gw_log_clean(char *buf, size_t len, const char *s);
/* Renders an already formatted key=value body; exposed for tests. */
void gw_log_render(char *out, unsigned outlen, enum gw_log_format format,
                   const char *ts, const char *level, const char *event,
                   const char *body);

#define gw_debug(ev, ...)                                                      \
	do {                                                                   \
		if (gw_log_get_level() <= GW_LOG_DEBUG)                        \
			gw_log(GW_LOG_DEBUG, ev, __VA_ARGS__);                 \
	} while (0)
#define gw_info(ev, ...)   gw_log(GW_LOG_INFO, ev, __VA_ARGS__)
#define gw_notice(ev, ...) gw_log(GW_LOG_NOTICE, ev, __VA_ARGS__)
#define gw_warn(ev, ...)   gw_log(GW_LOG_WARNING, ev, __VA_ARGS__)
#define gw_error(ev, ...)  gw_log(GW_LOG_ERROR, ev, __VA_ARGS__)

#endif
