/*
 * Process-wide logging to stderr, one line per call, with a level filter.
 * Lines never carry secrets: callers pass text with none in it.
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdarg.h>
#include "vidgen/plugin.h" /* VG_LOG_* levels */

void log_set_level(int level);
int log_get_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap);

/* A status line kept at the bottom of a terminal (`vidgen run`'s progress
 * bar): drawn in place now, cleared before every log line and drawn again
 * after it, so a log line never shares a line with it. NULL ends it: the
 * last text drawn stays, followed by a newline. */
void log_status_line(const char *text);

/* One line of text on stderr, written whole under the log's lock (progress
 * when stderr is not a terminal). */
void log_plain_line(const char *text);

#endif
