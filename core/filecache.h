/*
 * The file cache behind svc->cache_get/cache_put: finished files (narration
 * audio) kept in one content-addressed folder, <data>/cache/ab/<sha256>,
 * shared by all jobs and processes, capped in size with least recently used
 * eviction. Writers copy to a temporary file in the entry's own folder,
 * fsync and rename, so a reader sees a whole file or none.
 */
#ifndef VG_FILECACHE_H
#define VG_FILECACHE_H

#include <stddef.h>

typedef struct file_cache file_cache;

/* What every cache of this process did, for /metrics. bytes: the size of
 * the caches as last measured or grown (a gauge). */
typedef struct file_cache_stats {
	unsigned long long hits, misses, stores, evictions;
	long long bytes;
} file_cache_stats;

/* The cache in folder dir (created on the first store), capped at
 * max_bytes (0: off, every lookup misses and nothing is stored). One
 * handle per folder for the life of the process, from a small registry:
 * the same dir gives the same handle, with the cap updated. NULL when the
 * registry is full or dir is too long. */
file_cache *file_cache_open(const char *dir, long long max_bytes);

/* The entry's name: SHA-256 over the key's parts, each length-prefixed,
 * so no two different keys share an input. key is NULL-terminated. */
void file_cache_key(const char *const *key, char out[65]);

/* Puts key's entry at dest, as a hard link to it (entries are only ever
 * replaced by rename, never written in place) or, across file systems, a
 * copy; either through a temporary name and a rename, so dest appears
 * whole. Marks the entry used now. 0 hit, 1 miss, -1 error (err says why;
 * count it as a miss). */
int file_cache_get(file_cache *c, const char *const *key, const char *dest, char *err,
		   size_t errlen);

/* Stores a copy of src as key's entry, then evicts the least recently used
 * entries until the folder fits the cap. A file larger than the cap is not
 * stored (returns 1). 0 stored, -1 error with err. */
int file_cache_put(file_cache *c, const char *const *key, const char *src, char *err,
		   size_t errlen);

/* Totals over every cache of the process. */
void file_cache_stats_get(file_cache_stats *out);

#endif
