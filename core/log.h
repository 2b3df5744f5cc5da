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

#endif
