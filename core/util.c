/*
 * Small helpers shared by the core: strings, files, directories, UUIDs,
 * clocks and UTF-8 validation. Nothing here knows about pipelines or jobs.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fputs("vidgen: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p) {
		fputs("vidgen: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fputs("vidgen: out of memory\n", stderr);
		abort();
	}
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = xmalloc(n);
	memcpy(d, s, n);
	return d;
}

static int sb_grow(strbuf *sb, size_t extra)
{
	size_t need, cap;
	char *nb;

	if (sb->oom)
		return -1;
	if (extra > SIZE_MAX - sb->len - 1)
		goto fail;
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return 0;
	cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	nb = realloc(sb->buf, cap);
	if (!nb)
		goto fail;
	sb->buf = nb;
	sb->cap = cap;
	return 0;
fail:
	sb->oom = 1;
	return -1;
}

void sb_append(strbuf *sb, const char *s, size_t n)
{
	if (sb_grow(sb, n) < 0)
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_puts(strbuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

void sb_vprintf(strbuf *sb, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || sb_grow(sb, (size_t)n) < 0)
		return;
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void sb_printf(strbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_vprintf(sb, fmt, ap);
	va_end(ap);
}

char *sb_steal(strbuf *sb)
{
	char *r;

	if (sb->oom) {
		sb_free(sb);
		return NULL;
	}
	r = sb->buf ? sb->buf : strdup("");
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return r;
}

void sb_free(strbuf *sb)
{
	free(sb->buf);
	memset(sb, 0, sizeof(*sb));
}

void util_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int util_read_file(const char *path, size_t max, char **out, size_t *len,
		   char *err, size_t errlen)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, fd;
	struct stat st;

	/* O_NONBLOCK: opening a FIFO nobody writes to would wait forever; it
	 * reads as empty instead. Reads block again once it is open. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		errno = EISDIR;
	else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0)
		f = fdopen(fd, "rb");
	if (!f) {
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	for (;;) {
		size_t got;

		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (n > max) {
			util_errf(err, errlen, "%s: larger than %zu bytes", path, max);
			goto out;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		util_errf(err, errlen, "%s: read error", path);
		goto out;
	}
	if (!buf)
		buf = xmalloc(1);
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = n;
	rc = 0;
out:
	if (f)
		fclose(f);
	free(buf);
	return rc;
}

int util_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int util_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int util_write_file_atomic(const char *path, const void *data, size_t len)
{
	size_t plen = strlen(path);
	char *tmp = xmalloc(plen + 32);
	int fd, rc = -1, saved;

	snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	if (util_write_all(fd, data, len) < 0) {
		close(fd);
		goto unlink_out;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		goto unlink_out;
	if (rename(tmp, path) < 0)
		goto unlink_out;
	rc = 0;
	goto out;
unlink_out:
	saved = errno;
	unlink(tmp);
	errno = saved;
out:
	free(tmp);
	return rc;
}

static _Thread_local int stale_removed;

/* nftw callback: a regular file named NAME.tmp.PID, PID not ours. */
static int remove_stale(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	const char *name = path + f->base, *t = strstr(name, ".tmp.");
	char *end;

	(void)sb;
	if (flag != FTW_F || t == NULL || t == name)
		return 0;
	long pid = strtol(t + 5, &end, 10);
	if (end != t + 5 && *end == '\0' && pid != (long)getpid() && unlink(path) == 0)
		stale_removed++;
	return 0;
}

int util_remove_stale_tmp(const char *dir)
{
	/* nftw has no user pointer: the count is per thread. */
	stale_removed = 0;
	nftw(dir, remove_stale, 16, FTW_PHYS);
	return stale_removed;
}

int util_mkdir_p(const char *path, unsigned mode)
{
	char *p, *s;
	int rc = 0;

	/* Mostly the parent is there: one call, not one per component; or
	 * the parent's parent (a job's stages/<id>). */
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno == ENOENT && (s = strrchr(path, '/')) != NULL && s > path) {
		p = xstrdup(path);
		p[s - path] = '\0';
		int up = mkdir(p, mode) == 0 || errno == EEXIST;
		free(p);
		if (up && (mkdir(path, mode) == 0 || errno == EEXIST))
			return 0;
	}
	p = xstrdup(path);
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = -1;
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		rc = -1;
out:
	free(p);
	return rc;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

int util_rm_rf(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *util_path_join(const char *a, const char *b)
{
	size_t la, lb;
	char *r;

	if (b[0] == '/' || a[0] == '\0')
		return xstrdup(b);
	la = strlen(a);
	lb = strlen(b);
	r = xmalloc(la + lb + 2);
	memcpy(r, a, la);
	if (a[la - 1] != '/')
		r[la++] = '/';
	memcpy(r + la, b, lb + 1);
	return r;
}

/* Lexical normalisation: collapses "//", "." and ".." without touching the
 * file system, so it works for paths that do not exist yet. */
char *util_path_abs(const char *path)
{
	char cwd[PATH_MAX];
	char *full, *out, *seg, *save = NULL;
	size_t n = 0;

	if (path[0] == '/') {
		full = xstrdup(path);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return NULL;
		full = util_path_join(cwd, path);
	}
	out = xmalloc(strlen(full) + 2);
	for (seg = strtok_r(full, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		if (!strcmp(seg, "."))
			continue;
		if (!strcmp(seg, "..")) {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		out[n++] = '/';
		memcpy(out + n, seg, strlen(seg));
		n += strlen(seg);
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	free(full);
	return out;
}

/* Resolves symlinks in the longest existing prefix and keeps the rest, so
 * a file that does not exist yet behind a symlink is judged by where the
 * link leads, not by its name. */
static char *real_or_abs(const char *path)
{
	char buf[PATH_MAX];
	char *abs = util_path_abs(path), *r;
	size_t plen, bl;

	if (!abs)
		return NULL;
	/* Try abs, then each shorter prefix that ends before a '/', until one
	 * resolves; plen 0 stands for "/", which always exists. */
	for (plen = strlen(abs); plen > 0;) {
		char save = abs[plen];
		int found;

		abs[plen] = '\0';
		found = realpath(abs, buf) != NULL;
		abs[plen] = save;
		if (found)
			break;
		while (plen > 0 && abs[plen - 1] != '/')
			plen--;
		if (plen > 0)
			plen--;
	}
	if (plen == 0)
		strcpy(buf, "/");
	if (abs[plen] == '/') {
		/* The first missing component must not exist at all: a dangling
		 * symlink could point anywhere once its target appears. */
		struct stat sb;
		char *next = strchr(abs + plen + 1, '/'), save = next ? *next : '\0';
		int exists;

		if (next)
			*next = '\0';
		exists = lstat(abs, &sb) == 0;
		if (next)
			*next = save;
		if (exists) {
			free(abs);
			return NULL;
		}
	}
	/* buf + the tail that does not exist yet (it starts with '/'). */
	bl = strcmp(buf, "/") ? strlen(buf) : 0;
	r = xmalloc(bl + strlen(abs + plen) + 2);
	memcpy(r, buf, bl);
	strcpy(r + bl, abs + plen);
	if (!r[0])
		strcpy(r, "/");
	free(abs);
	return r;
}

int util_path_inside(const char *path, const char *dir)
{
	/* NULL (unresolvable, or behind a dangling link) counts as outside. */
	char *p = real_or_abs(path), *d = real_or_abs(dir);
	size_t dl;
	int in = 0;

	if (!p || !d)
		goto out;
	dl = strlen(d);
	while (dl > 0 && d[dl - 1] == '/')
		dl--;
	/* dl == 0: the directory is "/", which holds everything. */
	in = strncmp(p, d, dl) == 0 && (p[dl] == '/' || p[dl] == '\0');
out:
	free(p);
	free(d);
	return in;
}

char *util_exe_dir(void)
{
	char buf[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	size_t len;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	len = strlen(buf);
	if (len >= 6 && strcmp(buf + len - 6, "/.libs") == 0)
		buf[len - 6] = '\0';
	return xstrdup(buf);
}

void util_uuid4(char out[37])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			abort(); /* no entropy at all: nothing sane to do */
		}
		got += (size_t)r;
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = hex[b[i] >> 4];
		out[k++] = hex[b[i] & 15];
	}
	out[k] = '\0';
}

unsigned util_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int util_uuid_valid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t i;

	if (!s || strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (shape[i] == '-') {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

void util_now_iso8601(char out[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

long long util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_deadline_us(struct timespec *ts, long long us)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(us / 1000000);
	ts->tv_nsec += (long)(us % 1000000) * 1000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int util_utf8_valid(const char *str, size_t n, size_t *nchars)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, count = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len;
		unsigned cp, min;

		if (c < 0x80) {
			i++;
			count++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2; cp = c & 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3; cp = c & 0x0f; min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4; cp = c & 0x07; min = 0x10000;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
		count++;
	}
	if (nchars)
		*nchars = count;
	return 1;
}

int util_data_dir_check(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		util_errf(err, errlen, "data folder %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		util_errf(err, errlen, "data folder %s is not a directory", dir);
		return -1;
	}
	/* Another user who owns it, or may write to it, could plant files
	 * there that vidgen serves, resumes or runs stages on. */
	if (st.st_uid != geteuid()) {
		util_errf(err, errlen, "data folder %s belongs to uid %u, not to the uid vidgen "
			  "runs as (%u): refusing to use it; remove it or choose another "
			  "folder", dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		util_errf(err, errlen, "data folder %s is writable by %s (mode %04o): refusing "
			  "to use it; chmod go-w it or choose another folder", dir,
			  (st.st_mode & S_IWOTH) ? "others" : "its group",
			  (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int util_data_dir_make(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		if (util_mkdir_p(dir, 0755) != 0) {
			util_errf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
		/* Made here: nobody else's, whatever the umask let through. */
		chmod(dir, 0755);
	}
	return util_data_dir_check(dir, err, errlen);
}
