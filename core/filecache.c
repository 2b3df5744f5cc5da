/*
 * The file cache (filecache.h): entries <dir>/<first two hex digits>/<hex>,
 * a registry of one handle per folder, copies through temporary files and
 * renames, and the eviction scan. The last use of an entry is its mtime: a
 * hit touches it, and eviction removes the oldest first.
 */
#include "filecache.h"
#include "sha256.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_HANDLES 8            /* folders one process uses: one a data dir */
#define CACHE_KEY_PARTS 32
#define CACHE_STALE_TMP_S 3600     /* a temporary file this old lost its writer */

struct file_cache {
	char dir[PATH_MAX - 80];   /* room for "/ab/<64 hex>.tmp-XXXXXX" */
	long long max_bytes;
	long long bytes;           /* -1 until the first scan */
	int used;
	pthread_mutex_t lock;      /* bytes, and one eviction scan at a time */
};

/* The registry of caches (one a data dir) and the process's counters. */
static file_cache caches[CACHE_HANDLES];
static pthread_mutex_t caches_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ullong n_hits, n_misses, n_stores, n_evictions;

file_cache *file_cache_open(const char *dir, long long max_bytes)
{
	file_cache *c = NULL;

	if (!dir || strlen(dir) >= sizeof(caches[0].dir))
		return NULL;
	pthread_mutex_lock(&caches_lock);
	for (int i = 0; i < CACHE_HANDLES && !c; i++)
		if (caches[i].used && !strcmp(caches[i].dir, dir))
			c = &caches[i];
	for (int i = 0; i < CACHE_HANDLES && !c; i++)
		if (!caches[i].used) {
			c = &caches[i];
			snprintf(c->dir, sizeof(c->dir), "%s", dir);
			c->bytes = -1;
			c->used = 1;
			pthread_mutex_init(&c->lock, NULL);
		}
	if (c)
		c->max_bytes = max_bytes > 0 ? max_bytes : 0;
	pthread_mutex_unlock(&caches_lock);
	return c;
}

void file_cache_key(const char *const *key, char out[65])
{
	static const char tag[] = "vidgen-cache-1";
	sha256_ctx h;
	unsigned char d[32];

	sha256_init(&h);
	sha256_update(&h, tag, sizeof(tag));
	for (size_t i = 0; key && key[i] && i < CACHE_KEY_PARTS; i++) {
		uint64_t n = strlen(key[i]);
		unsigned char len[8];
		for (int b = 0; b < 8; b++)
			len[b] = (unsigned char)(n >> (56 - 8 * b));
		sha256_update(&h, len, sizeof(len));
		sha256_update(&h, key[i], (size_t)n);
	}
	sha256_final(&h, d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void entry_path(const file_cache *c, const char *hex, char *out, size_t len)
{
	snprintf(out, len, "%s/%.2s/%s", c->dir, hex, hex);
}

/* Copies the open file `in` to dst through dst.tmp-XXXXXX and a rename, so
 * dst is never seen half written; with sync the data is on disk first.
 * *size gets the bytes copied. 0, or -1 with err. */
static int copy_atomic(int in, const char *dst, int sync, long long *size, char *err,
		       size_t errlen)
{
	size_t n = strlen(dst) + 16;
	char *tmp = xmalloc(n), buf[65536];
	long long total = 0;
	ssize_t r;
	int out, rc = -1;

	snprintf(tmp, n, "%s.tmp-XXXXXX", dst);
	out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0) {
		util_errf(err, errlen, "cannot create a file beside %s: %s", dst, strerror(errno));
		free(tmp);
		return -1;
	}
	while ((r = read(in, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || util_write_all(out, buf, (size_t)r) < 0)
			goto fail;
		total += r;
	}
	if (fchmod(out, 0644) < 0 || (sync && fsync(out) < 0))
		goto fail;
	if (close(out) < 0) {
		out = -1;
		goto fail;
	}
	out = -1;
	if (rename(tmp, dst) < 0)
		goto fail;
	*size = total;
	rc = 0;
	goto out;
fail:
	util_errf(err, errlen, "cannot write %s: %s", dst, strerror(errno));
	if (out >= 0)
		close(out);
	unlink(tmp);
out:
	free(tmp);
	return rc;
}

/* Makes dest a second name of the entry (no copy: entries are never
 * written in place, only replaced by rename), through a temporary name and
 * a rename so that dest appears whole. -1 when the file system refuses
 * (another device, no hard links): the caller copies instead. */
static int link_atomic(const char *entry, const char *dest)
{
	static atomic_uint seq;
	size_t n = strlen(dest) + 48;
	char *tmp = xmalloc(n);
	int rc = -1;

	snprintf(tmp, n, "%s.tmp-%ld-%u", dest, (long)getpid(), atomic_fetch_add(&seq, 1));
	if (link(entry, tmp) == 0) {
		rc = rename(tmp, dest);
		if (rc < 0)
			unlink(tmp);
	}
	free(tmp);
	return rc;
}

int file_cache_get(file_cache *c, const char *const *key, const char *dest, char *err,
		   size_t errlen)
{
	char hex[65], path[PATH_MAX];
	long long size;
	int fd, rc;

	if (!c || c->max_bytes == 0) {
		atomic_fetch_add(&n_misses, 1);
		return 1;
	}
	file_cache_key(key, hex);
	entry_path(c, hex, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		atomic_fetch_add(&n_misses, 1);
		if (errno == ENOENT)
			return 1;
		util_errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	/* Marks it used; an eviction that already unlinked it does not
	 * matter: the open file stays readable whole. */
	futimens(fd, NULL);
	rc = link_atomic(path, dest);
	if (rc < 0)
		rc = copy_atomic(fd, dest, 0, &size, err, errlen);
	close(fd);
	atomic_fetch_add(rc == 0 ? &n_hits : &n_misses, 1);
	return rc;
}

typedef struct cache_ent {
	char *path;
	long long size;
	struct timespec used;
} cache_ent;

static int ent_older(const void *a, const void *b)
{
	const cache_ent *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Adds the entries of one fan-out folder to *v; removes temporary files
 * whose writer died long ago. */
static void scan_folder(const char *folder, cache_ent **v, size_t *n, size_t *cap)
{
	DIR *d = opendir(folder);
	struct dirent *de;
	struct stat sb;
	time_t now = time(NULL);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = util_path_join(folder, de->d_name);
		if (lstat(p, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			free(p);
			continue;
		}
		if (strstr(de->d_name, ".tmp-")) {
			if (now - sb.st_mtime > CACHE_STALE_TMP_S)
				unlink(p);
			free(p);
			continue;
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*v = xrealloc(*v, *cap * sizeof(**v));
		}
		(*v)[(*n)++] = (cache_ent){ p, (long long)sb.st_size, sb.st_mtim };
	}
	closedir(d);
}

/* Measures the cache and removes the least recently used entries until it
 * holds at most limit bytes. Returns the bytes left. c->lock held. */
static long long cache_evict_locked(file_cache *c, long long limit)
{
	DIR *d = opendir(c->dir);
	struct dirent *de;
	cache_ent *v = NULL;
	size_t n = 0, cap = 0;
	long long total = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		char *folder = util_path_join(c->dir, de->d_name);
		scan_folder(folder, &v, &n, &cap);
		free(folder);
	}
	closedir(d);
	for (size_t i = 0; i < n; i++)
		total += v[i].size;
	qsort(v, n, sizeof(*v), ent_older);
	for (size_t i = 0; i < n; i++) {
		if (total > limit && (unlink(v[i].path) == 0 || errno == ENOENT)) {
			total -= v[i].size;
			atomic_fetch_add(&n_evictions, 1);
		}
		free(v[i].path);
	}
	free(v);
	return total;
}

int file_cache_put(file_cache *c, const char *const *key, const char *src, char *err,
		   size_t errlen)
{
	char hex[65], path[PATH_MAX], folder[PATH_MAX];
	struct stat sb;
	long long size = 0;
	int fd, rc;

	if (!c || c->max_bytes == 0)
		return 1;
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		util_errf(err, errlen, "cannot read %s: %s", src, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((long long)sb.st_size > c->max_bytes) {
		close(fd);
		return 1;
	}
	file_cache_key(key, hex);
	snprintf(folder, sizeof(folder), "%s/%.2s", c->dir, hex);
	entry_path(c, hex, path, sizeof(path));
	if (util_mkdir_p(folder, 0755) < 0) {
		util_errf(err, errlen, "cannot create %s: %s", folder, strerror(errno));
		close(fd);
		return -1;
	}
	rc = copy_atomic(fd, path, 1, &size, err, errlen);
	close(fd);
	if (rc < 0)
		return -1;
	atomic_fetch_add(&n_stores, 1);
	pthread_mutex_lock(&c->lock);
	if (c->bytes >= 0)
		c->bytes += size;
	if (c->bytes < 0 || c->bytes > c->max_bytes)
		c->bytes = cache_evict_locked(c, c->max_bytes);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void file_cache_stats_get(file_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->hits = atomic_load(&n_hits);
	out->misses = atomic_load(&n_misses);
	out->stores = atomic_load(&n_stores);
	out->evictions = atomic_load(&n_evictions);
	pthread_mutex_lock(&caches_lock);
	for (int i = 0; i < CACHE_HANDLES; i++) {
		if (!caches[i].used)
			continue;
		pthread_mutex_lock(&caches[i].lock);
		if (caches[i].bytes > 0)
			out->bytes += caches[i].bytes;
		pthread_mutex_unlock(&caches[i].lock);
	}
	pthread_mutex_unlock(&caches_lock);
}
