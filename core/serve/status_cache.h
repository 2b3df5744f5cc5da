/*
 * The daemon's status cache: each job it knows in memory, found by id, with
 * its current VideoResponse as an immutable, reference-counted blob. Entries
 * nobody pins sit on an LRU list bounded by max_unpinned; pinned ones (a job
 * queued for a worker, running, or watched over /events) are never evicted.
 * A watched entry also keeps a ring of its last STATUS_RING states, so a
 * lagging /events stream still sends every change.
 *
 * Locking contract. One mutex, cache->lock, guards the table, the LRU list
 * and every field of every entry (the daemon's own per-job fields too).
 * Every function below except status_cache_init/destroy and the blob_*
 * functions must be called with cache->lock held; none of them blocks,
 * allocates under another lock or takes one, so the status path never waits
 * on a job's lock or the store's writer. A thread that needs both the
 * daemon's queue lock and this one takes the queue lock first. A blob is
 * immutable: take a reference under the lock (blob_ref), use it after
 * unlocking, drop it with blob_unref; both are atomic.
 */
#ifndef VG_STATUS_CACHE_H
#define VG_STATUS_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define STATUS_CACHE_BUCKETS 4096
#define STATUS_RING 64 /* past states kept for /events readers that lag */

/* An immutable, reference-counted byte string (NUL-terminated). */
typedef struct blob {
	atomic_int ref;
	size_t len;
	char data[];
} blob;

/* A copy of s (len bytes) with one reference. */
blob *blob_new(const char *s, size_t len);
blob *blob_ref(blob *b);
/* Drops a reference; NULL is fine. A void * so MHD can call it. */
void blob_unref(void *b);

struct job;
struct sse_conn;

typedef struct status_entry status_entry;
struct status_entry {
	char id[37];
	blob *resp;                  /* the current VideoResponse */
	unsigned version;            /* bumped by each new state; 0 = a placeholder
				      * with no state yet */
	int finished;
	int pins;                    /* > 0: off the LRU list, never evicted */
	/* The daemon's own fields, guarded by the same lock. */
	int claimed;                 /* a worker took the job off the queue */
	int cancel_requested;        /* DELETE arrived while claimed */
	int stale;                   /* shared store: another node changed the
				      * job since resp was read */
	struct job *running;
	struct sse_conn *listeners;  /* open /events streams */
	/* private to status_cache.c */
	struct status_ring_slot { unsigned version; blob *b; } *ring;
	status_entry *hnext;
	status_entry *lru_prev, *lru_next;
	int on_lru;
};

typedef struct status_cache {
	pthread_mutex_t lock;
	size_t max_unpinned;
	status_entry *buckets[STATUS_CACHE_BUCKETS];
	status_entry *lru_head, *lru_tail; /* head = most recently used */
	size_t n_lru;
} status_cache;

void status_cache_init(status_cache *c, size_t max_unpinned);
/* Frees every entry and the lock; no other thread may use c any more. */
void status_cache_destroy(status_cache *c);

/* The entry of id (36 characters), or NULL. */
status_entry *status_cache_find(status_cache *c, const char *id);
/* The entry of id, made with resp (referenced) and version 1 when there
 * was none. Call status_cache_touch or _pin on it before unlocking: a new
 * entry is on no list yet. */
status_entry *status_cache_add(status_cache *c, const char *id, blob *resp, int finished);

/* A read: an unpinned entry becomes the most recent, and the oldest beyond
 * max_unpinned are freed (never e itself). */
void status_cache_touch(status_cache *c, status_entry *e);
/* Pins e (off the LRU list) / drops a pin (back on it when none is left). */
void status_cache_pin(status_cache *c, status_entry *e);
void status_cache_unpin(status_cache *c, status_entry *e);

/* A new state: resp (referenced) replaces the current one, the version is
 * bumped and the ring (when watched) records it. The same blob again is no
 * change. */
void status_cache_set(status_entry *e, blob *resp);
/* The first state of a placeholder (version 0); no effect otherwise. */
void status_cache_fill(status_entry *e, blob *resp, int finished);

/* Starts / stops keeping the ring of past states (the first / last
 * /events stream). */
void status_cache_watch(status_entry *e);
void status_cache_unwatch(status_entry *e);
/* The state of e at version v while the ring still holds it, else NULL;
 * borrowed (valid while the lock is held). */
const blob *status_cache_state(const status_entry *e, unsigned v);

/* Calls fn on every entry (e.g. to cancel what runs at shutdown). */
void status_cache_each(status_cache *c, void (*fn)(status_entry *e, void *ud), void *ud);

#endif
