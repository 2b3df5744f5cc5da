/*
 * What the job store's backends share, behind store.h: the writes a writer
 * thread commits in batches (store.c runs the queue), the table of a
 * backend's functions, and a pool of reader connections.
 * store_sqlite.c and store_pg.c each implement one store_backend.
 */
#ifndef VG_STORE_IMPL_H
#define VG_STORE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "store.h"

enum { OP_CREATE = 1, OP_UPDATE, OP_STAGE, OP_FLUSH, OP_CLAIM };

/* Someone waiting for an op to be committed. Lives on the caller's stack. */
typedef struct op_waiter {
	int done;
	int rc;
	long long seq;
	char err[256];
} op_waiter;

typedef struct store_op {
	int type;
	store_job rec;
	char *stage_id, *kind, *path;
	int ok;
	int last;          /* OP_STAGE: the job's end follows (store_set_stage) */
	long long duration_ms;
	int lease_ms;      /* OP_CLAIM: the lease to take */
	store_job *out;    /* OP_CLAIM: the claimed job (the waiter's; rc 0) */
	op_waiter *waiter; /* NULL: nobody waits; the writer frees the op */
	void (*done)(void *ud, int rc, long long seq); /* async create */
	void *done_ud;
	int rc;
	long long seq;
	char err[256];     /* why rc is not 0 */
	struct store_op *folded; /* an update written as this later one of its
				  * job (store.c batch_fold), or NULL */
	struct store_op *next;
} store_op;

/* One backend. impl is what its open returned. The writer thread alone
 * writes, in one transaction a batch, either with batch (ops[0..n), none
 * a flush: sets each op's rc, seq and err; returns -1 if the transaction
 * as a whole failed, every op then failed, else 0) or, without it, with
 * begin, exec for each op, commit. exec returns 0 ok (seq set for a
 * create), 1 unknown id or lease no longer held (update, stage) or nothing
 * to claim (OP_CLAIM: only a backend with batch and claim gets it), -1 error;
 * commit returns 0, or -1 after rolling back. Either way a failing op
 * fails alone: the others are committed. The reads are called from any
 * thread and follow store.h. close runs once the writer stopped. */
typedef struct store_backend {
	const char *name;
	int (*batch)(void *impl, store_op **ops, size_t n);
	int (*begin)(void *impl, char *err, size_t errlen);
	int (*exec)(void *impl, const store_op *op, long long *seq, char *err, size_t errlen);
	int (*commit)(void *impl, char *err, size_t errlen);
	int (*get)(void *impl, const char *id, store_job *out, char *err, size_t errlen);
	int (*list)(void *impl, long long before, int limit, store_job **out, size_t *n,
		    char *err, size_t errlen);
	int (*next_unfinished)(void *impl, long long after, store_job *out, char *err,
			       size_t errlen);
	int (*count_unfinished)(void *impl, long long *n, char *err, size_t errlen);
	int (*count_by_status)(void *impl,
			       void (*cb)(void *ud, const char *status, long long n), void *ud,
			       char *err, size_t errlen);
	/* A shared store's (store.h); NULL in a backend that is not shared. */
	int (*claim)(void *impl, int lease_ms, store_job *out, char *err, size_t errlen);
	int (*renew)(void *impl, const char *id, const char *lease, int lease_ms, char *err,
		     size_t errlen);
	int (*release)(void *impl, const char *id, const char *lease, char *err, size_t errlen);
	int (*count_waiting)(void *impl, long long *n, char *err, size_t errlen);
	int (*cancel)(void *impl, const char *id, const char *message, store_job *out, char *err,
		      size_t errlen);
	int (*listen)(void *impl, int changes, void (*note)(void *ud, int what, const char *id),
		      void *ud, char *err, size_t errlen);
	/* Round trips to the server so far (store_counts); NULL: none. */
	unsigned long long (*round_trips)(void *impl);
	void (*close)(void *impl);
} store_backend;

/* Each opens its store at locator (a path, a URL) into *impl. 0 ok; on
 * failure err names the locator (a URL without its password). */
extern const store_backend store_sqlite_backend;
int store_sqlite_open(const char *path, void **impl, char *err, size_t errlen);
extern const store_backend store_pg_backend;
int store_pg_open(const char *url, void **impl, char *err, size_t errlen);

/* A pool of reader connections: a backend keeps its connections in an
 * array and borrows slot numbers, so status lookups never queue behind one
 * connection while another is free. */
#define STORE_POOL_MAX 8
typedef struct store_pool {
	int n;
	pthread_mutex_t locks[STORE_POOL_MAX];
	atomic_uint next;
} store_pool;

void store_pool_init(store_pool *p, int n);
void store_pool_destroy(store_pool *p);
/* A free slot if there is one, else waits for one. */
int store_pool_take(store_pool *p);
void store_pool_give(store_pool *p, int slot);

char *store_dup_or_null(const char *s);

#endif
