/*
 * Small helpers shared by the core: a growable string buffer, whole-file
 * reads and atomic writes, directories, UUIDs, timestamps and UTF-8 checks.
 */
#ifndef VG_UTIL_H
#define VG_UTIL_H

#include <stddef.h>
#include <stdarg.h>

/* Growable NUL-terminated buffer. Zero-initialise; free with sb_free. */
typedef struct strbuf {
	char *buf;
	size_t len, cap;
	int oom; /* set once an allocation failed; further appends are no-ops */
} strbuf;

void sb_append(strbuf *sb, const char *s, size_t n);
void sb_puts(strbuf *sb, const char *s);
void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(strbuf *sb, const char *fmt, va_list ap);
/* Returns the buffer (caller frees) and resets sb; "" if empty; NULL on OOM. */
char *sb_steal(strbuf *sb);
void sb_free(strbuf *sb);

/* Reads a whole file of at most max bytes into a malloc'd NUL-terminated
 * buffer. 0 ok, else -1 with a message naming the path in err. */
int util_read_file(const char *path, size_t max, char **out, size_t *len,
		   char *err, size_t errlen);
/* Writes via path.tmp + fsync + rename. 0 ok, -1 with errno set. */
int util_write_file_atomic(const char *path, const void *data, size_t len);

/* Removes, below dir, the temporary files util_write_file_atomic leaves
 * when its process is killed mid-write ("NAME.tmp.PID" of another PID).
 * Returns how many it removed. */
int util_remove_stale_tmp(const char *dir);
/* The value of one hex digit (either case), or -1. */
int util_hex_value(int c);
/* Writes all n bytes of p to fd, again after EINTR and short writes. 0, or
 * -1 with errno set. */
int util_write_all(int fd, const void *p, size_t n);
/* mkdir -p. 0 ok, -1 with errno set. */
int util_mkdir_p(const char *path, unsigned mode);

/* Checks that dir (which exists) may hold vidgen's data (jobs, videos): a
 * directory owned by this process's user and writable by nobody else. 0, or
 * -1 with a message naming the path and what is wrong in err. */
int util_data_dir_check(const char *dir, char *err, size_t errlen);

/* Creates dir when it does not exist (mode 0755, whatever the umask), then
 * checks it as util_data_dir_check does. 0, or -1 with the reason in err. */
int util_data_dir_make(const char *dir, char *err, size_t errlen);
/* Removes a directory tree; 0 ok. */
int util_rm_rf(const char *path);
/* Returns malloc'd "a/b" (b as-is when absolute). */
char *util_path_join(const char *a, const char *b);
/* Returns a malloc'd absolute, normalised form of path (need not exist). */
char *util_path_abs(const char *path);
/* The running executable's directory (its .libs/ parent when libtool runs
 * it from there), malloc'd; NULL if unknown. Lets an uninstalled vidgen find
 * its plugins, modules and pipelines in the build tree. */
char *util_exe_dir(void);
/* 1 when path lies inside dir (both absolute, normalised by realpath where
 * they exist), else 0. */
int util_path_inside(const char *path, const char *dir);

/* Random version-4 UUID, lower-case, into out[37]. */
void util_uuid4(char out[37]);
/* 1 if s is a well-formed UUID. */
/* FNV-1a of a NUL-terminated string: the daemon's hash tables of job ids. */
unsigned util_hash(const char *s);
int util_uuid_valid(const char *s);
/* Current UTC time as "2026-11-27T10:03:35.123Z" into out[32]. */
void util_now_iso8601(char out[32]);
/* Monotonic milliseconds. */
long long util_now_ms(void);
/* The CLOCK_REALTIME instant us microseconds from now, into *ts: the
 * deadline pthread_cond_timedwait takes. */
struct timespec;
void util_deadline_us(struct timespec *ts, long long us);

/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates); counts code
 * points into *nchars when non-NULL. */
int util_utf8_valid(const char *s, size_t n, size_t *nchars);

/* snprintf into a fixed error buffer; safe with err == NULL. */
void util_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* malloc/strdup that abort on OOM: for small bookkeeping only. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
