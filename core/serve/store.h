/*
 * The daemon's job store: every job's VideoResponse fields, its status walk
 * and its stage artifacts' locations. One small interface, so a PostgreSQL
 * backend can sit behind it later; this build implements it with SQLite.
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
} store_job;

void store_job_clear(store_job *r);
/* Deep copy of src into dst (dst is overwritten, not freed first). */
void store_job_copy(store_job *dst, const store_job *src);
void store_jobs_free(store_job *v, size_t n);

/* Opens (creating if needed) the store at path: a SQLite file in WAL mode.
 * Starts the writer thread. Caller closes with store_close. */
int store_open(const char *path, job_store **out, char *err, size_t errlen);
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
 * for the writer (ordered after every earlier write). 0 ok, 1 unknown id
 * (wait = 1 only). */
int store_update(job_store *s, const store_job *rec, int wait, char *err, size_t errlen);

/* Records where a stage's output lives (queued, never blocks). */
int store_set_stage(job_store *s, const char *job_id, const char *stage_id,
		    const char *kind, const char *path, int ok, long long duration_ms);

/* Waits until every queued write is committed. 0 ok. */
int store_flush(job_store *s);

/* Reads one job. 0 found (out filled, caller clears), 1 not found, -1
 * error. Never waits for the writer (WAL readers). */
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

#endif
