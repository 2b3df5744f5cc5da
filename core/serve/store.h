/*
 * The daemon's job store: every job's VideoResponse fields, its status walk
 * and its stage artifacts' locations. One small interface over two backends
 * chosen at run time by the locator: a SQLite file (store_sqlite.c) or a
 * PostgreSQL database (store_pg.c, a postgresql:// URL).
 */
#ifndef VG_STORE_H
#define VG_STORE_H

#include <stddef.h>

typedef struct job_store job_store;

/* One job as stored. Strings are malloc'd and owned by the record (free
 * them with store_job_clear); NULL means JSON null. */
typedef struct store_job {
	long long seq;      /* insertion order: the list cursor */
	char id[37];
	char created_at[32];
	char *question;
	char *model;
	char *voice;
	char *status;
	int progress;
	char *message;
	char *initial_explanation;
	char *refined_explanation;
	char *video_url;
	char *s3_url;
	char *usage;        /* the `usage` object as JSON text (usage.h) */
	char *media[4];     /* captions_url, captions_srt_url, poster_url,
			     * thumbnail_url: job.h's job_media_files */
	int finished;       /* 1 once completed or failed */
	/* Shared stores only (store_is_shared). lease: the claim's token, set by
	 * store_claim; an update carrying it is written only while the job is
	 * still leased under it (a worker that lost its lease writes nothing).
	 * cancel_requested: a DELETE asked the worker running it to stop. */
	char lease[37];
	int cancel_requested;
} store_job;

void store_job_clear(store_job *r);
/* Deep copy of src into dst (dst is overwritten, not freed first). */
void store_job_copy(store_job *dst, const store_job *src);
void store_jobs_free(store_job *v, size_t n);

/* 1 if locator is a PostgreSQL URL (postgresql:// or postgres://); anything
 * else is a SQLite path. */
int store_is_url(const char *locator);
/* locator as it may be shown (logs, errors): a URL's password, in the user
 * part or a password= parameter, becomes "***". Returns out. */
const char *store_locator_show(const char *locator, char *out, size_t outlen);

/* Opens the store at locator: a PostgreSQL URL (the schema is created or
 * upgraded by numbered migrations under an advisory lock; a database newer
 * than this binary is refused), else a SQLite file in WAL mode, created if
 * needed. Starts the writer thread. Caller closes with store_close. */
int store_open(const char *locator, job_store **out, char *err, size_t errlen);
/* Writes what is pending, stops the writer, closes. NULL is fine. */
void store_close(job_store *s);

/* Inserts a new job without waiting: done(ud, rc, seq) runs on the writer
 * thread once the row is committed (rc 0: a process crash after this loses
 * nothing; seq is its insertion order) or refused (rc -1, e.g. a duplicate
 * id). Creates queued together share one commit (group commit). done must
 * not block and must not call the store. 0 if queued (done will run), -1 if
 * the store is closing (done will not run). */
int store_create_async(job_store *s, const store_job *rec,
		       void (*done)(void *ud, int rc, long long seq), void *ud);

/* Writes status, progress (never lowered), message, the VideoResponse
 * fields and finished. wait = 1: returns once committed; wait = 0: queued
 * for the writer (ordered after every earlier write). 0 ok, 1 unknown id,
 * or not written because rec->lease is no longer the job's (wait = 1
 * only). Updates of one job that meet in one batch are written as their
 * last (each is a whole state): a job's intermediate states may never
 * reach the store, its last one always does. */
int store_update(job_store *s, const store_job *rec, int wait, char *err, size_t errlen);

/* Records where a stage's output lives (queued, never blocks). lease: the
 * job's lease token on a shared store (store_claim), or NULL or "": the row
 * is written only while the job is still leased under it, as updates are.
 * last: the job's end comes next (every stage is done): a leased row may
 * then wait for it (STORE_HOLD_US); any other row is written at once, so a
 * stage that completed is on record before the next one starts. */
int store_set_stage(job_store *s, const char *job_id, const char *stage_id,
		    const char *kind, const char *path, int ok, long long duration_ms,
		    const char *lease, int last);

/* What the store did since it opened: for /metrics and bench/queue. */
typedef struct store_counts {
	unsigned long long batches;     /* the writer's transactions */
	unsigned long long writes;      /* writes (creates, updates, stage rows,
					 * claims) the batches held, once folded */
	unsigned long long folded;      /* updates folded into a later one */
	unsigned long long round_trips; /* exchanges with a server (a statement
					 * waited for, a batch's pipeline); 0 on
					 * SQLite, which is in this process */
} store_counts;
void store_get_counts(job_store *s, store_counts *out);

/* How long the writer holds a worker's writes that nobody waits for (a
 * leased job's states, and its last stage row), waiting for the write that
 * ends them: STORE_HOLD_US unless set; 0 writes each batch at once (a node
 * that serves status: what it showed must not be lost in a crash). */
#define STORE_HOLD_US 2000
void store_set_hold(job_store *s, long long us);

/* Waits until every queued write is committed. 0 ok. */
int store_flush(job_store *s);

/* Reads one job. 0 found (out filled, caller clears), 1 not found, -1
 * error. Never waits for the writer (its own connections). */
int store_get(job_store *s, const char *id, store_job *out, char *err, size_t errlen);

/* Newest first: up to limit jobs with seq < before (before <= 0: from the
 * newest). *out is malloc'd (store_jobs_free). 0 ok. */
int store_list(job_store *s, long long before, int limit, store_job **out,
	       size_t *n, char *err, size_t errlen);

/* The oldest unfinished job with seq > after: the job queue lives in the
 * store, so a queued job costs the daemon no memory. 0 found (out filled,
 * caller clears), 1 none, -1 error. */
int store_next_unfinished(job_store *s, long long after, store_job *out,
			  char *err, size_t errlen);

/* Number of unfinished jobs. 0 ok. */
int store_count_unfinished(job_store *s, long long *n, char *err, size_t errlen);

/* Calls cb once per distinct status with its job count. 0 ok. */
int store_count_by_status(job_store *s, void (*cb)(void *ud, const char *status, long long n),
			  void *ud, char *err, size_t errlen);

/* ---------------------------------------------------------------------
 * A store several processes share (PostgreSQL): API nodes and workers on
 * any machines. A worker claims a job under a lease it renews while the job
 * runs; a job whose lease ran out (its worker died) is claimed again and
 * continues from its last completed stage. The SQLite backend is never
 * shared: these return -1 with a message on it.
 * --------------------------------------------------------------------- */

/* 1 if several processes may share this store (PostgreSQL). */
int store_is_shared(job_store *s);

/* Claims the oldest unfinished job nobody holds a live lease on (SELECT ...
 * FOR UPDATE SKIP LOCKED: claimers never wait for each other) and leases it
 * for lease_ms under a new token (out->lease). 0 claimed (out filled,
 * caller clears), 1 none, -1 error. */
int store_claim(job_store *s, int lease_ms, store_job *out, char *err, size_t errlen);

/* A worker's job end and its next claim in one batch (one round trip, one
 * commit): store_update of rec (wait = 1), then store_claim of lease_ms,
 * ordered after it and after every earlier write. Returns the update's
 * status as store_update does (err); *claimed is the claim's as
 * store_claim returns it (0: out filled, caller clears; its error in
 * claim_err). The claim is made whatever the update's fate. */
int store_update_claim(job_store *s, const store_job *rec, int lease_ms, store_job *out,
		       int *claimed, char *err, size_t errlen, char *claim_err,
		       size_t claim_errlen);

/* Extends the lease of job id held under token lease by lease_ms from now.
 * 0 still ours, 1 lost (expired and claimed again, or finished), 2 ours but
 * a cancel was asked for, -1 error (the store cannot be reached: the
 * caller's own clock decides when the lease is gone). */
int store_renew(job_store *s, const char *id, const char *lease, int lease_ms, char *err,
		size_t errlen);

/* Number of unfinished jobs no live lease holds: those waiting for a
 * worker. 0 ok. */
int store_count_waiting(job_store *s, long long *n, char *err, size_t errlen);

/* Gives a leased job back unfinished (a worker stopping): it is claimable at
 * once, and the workers are woken. 0 ok. */
int store_release(job_store *s, const char *id, const char *lease, char *err, size_t errlen);

/* Cancels job id from any node. 0: it was queued (no live lease) and is now
 * failed with message (out filled, caller clears); 2: a worker holds it, the
 * cancel is recorded for that worker to see (out filled); 1 unknown id; 3
 * already finished; -1 error. */
int store_cancel(job_store *s, const char *id, const char *message, store_job *out, char *err,
		 size_t errlen);

/* What store_listen's callback hears. */
enum store_note {
	STORE_NOTE_QUEUED = 1, /* a job may have become claimable: a create
				* committed anywhere, a lease given back (id
				* NULL) */
	STORE_NOTE_CHANGED,    /* job id's VideoResponse changed (any node) */
	STORE_NOTE_CANCEL,     /* a cancel of job id was recorded (any node) */
	STORE_NOTE_RESYNC,     /* listening (again): anything may have changed
				* unheard before (id NULL) */
	STORE_NOTE_DEAF,       /* the listener lost the store: nothing is heard
				* until the next RESYNC (id NULL) */
};

/* Calls note(ud, what, id) from a thread of the store for each of the
 * events above, on every node (LISTEN/NOTIFY: triggers on the jobs table
 * notify). changes = 0: STORE_NOTE_CHANGED is not listened for (a worker
 * serves no status: each job's every change would wake it for nothing).
 * note must not block for long; it may read the store. Once. 0 ok. */
int store_listen(job_store *s, int changes, void (*note)(void *ud, int what, const char *id),
		 void *ud, char *err, size_t errlen);

#endif
