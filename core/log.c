/*
 * Process-wide logging: one line per message on stderr with a UTC time and
 * level. The level is the only global, set once from the CLI.
 */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int log_level = VG_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* The terminal's status line, "" when none; under log_lock. */
static char status_text[256];

/* "\r" then erase to the end of the line: the cursor back at column 0 of a
 * blank line. */
#define TERM_CLEAR_LINE "\r\033[K"

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (level > log_level)
		return;
	if (level < 0 || level > VG_LOG_DEBUG)
		level = VG_LOG_ERROR;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	if (status_text[0])
		fputs(TERM_CLEAR_LINE, stderr);
	fprintf(stderr, "%s.%03ld %-5s %s", when, ts.tv_nsec / 1000000, names[level],
		prefix ? prefix : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (status_text[0])
		fputs(status_text, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void log_status_line(const char *text)
{
	pthread_mutex_lock(&log_lock);
	if (text) {
		snprintf(status_text, sizeof(status_text), "%s", text);
		fputs(TERM_CLEAR_LINE, stderr);
		fputs(status_text, stderr);
	} else if (status_text[0]) {
		fputc('\n', stderr);
		status_text[0] = '\0';
	}
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void log_plain_line(const char *text)
{
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s\n", text);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}
