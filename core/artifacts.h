/*
 * Shared artifacts: every stage output another machine may need, kept in an
 * S3 prefix (the pipeline's `artifacts`, else VIDGEN_ARTIFACTS:
 * s3://BUCKET/PREFIX) so that any worker resumes any job; the job folder is
 * then a cache. Reached with the s3 plugin's own addressing and settings
 * (S3_ENDPOINT_URL, S3_PATH_STYLE, the AWS credential chain and region)
 * through the cloud module, whose HTTP client retries transient failures
 * with backoff.
 *
 * In the bucket, for job ID:
 *   PREFIX/ID/stages/STAGE.json          the stage's record (result.json plus
 *                                        "run" and "files"): written last, so
 *                                        its presence means "done"
 *   PREFIX/ID/runs/RUN/stages/STAGE/...  the files of that run (RUN: 16 hex
 *                                        digits, new for each upload, so a
 *                                        worker that lost its job cannot
 *                                        overwrite the files a record names)
 * Keys are built from the job id, the pipeline's stage ids and the file
 * names plugins chose, each checked to be of [A-Za-z0-9._-]: never from a
 * model's output.
 */
#ifndef VG_ARTIFACTS_H
#define VG_ARTIFACTS_H

#include <stddef.h>
#include <jansson.h>

#define ARTIFACTS_ATTEMPTS 8 /* tries of one request on transient failures */

typedef struct artifacts artifacts;

/* Checks an artifacts locator: "s3://BUCKET" or "s3://BUCKET/PREFIX" with
 * a valid bucket name and a prefix of /-separated [A-Za-z0-9._-] names. 0
 * ok, -1 with the reason in err. */
int artifacts_locator_check(const char *loc, char *err, size_t errlen);

/* Opens the artifacts store of loc (checked as above) with the endpoint of
 * S3_ENDPOINT_URL / S3_PATH_STYLE and the region of AWS_REGION (...); loads
 * the cloud module. NULL with the reason in err. Free with artifacts_free. */
artifacts *artifacts_open(const char *loc, char *err, size_t errlen);
void artifacts_free(artifacts *a);

/* What requests poll to stop early (a cancelled job); may be NULL. */
void artifacts_set_cancel(artifacts *a, int (*cancelled)(void *ud), void *ud);

/* 1 if rel is a path artifacts may hold: at most 8 names of
 * [A-Za-z0-9_][A-Za-z0-9._-]* (128 bytes each) joined by '/'. */
int artifacts_rel_valid(const char *rel);

/* Uploads a finished stage: each file of record's "files" (paths relative
 * to job_dir) under a new run, then the record itself (with "run" added)
 * as the stage's marker. 0 ok, -1 with the S3 error (status, code,
 * message, key) in err. */
int artifacts_put_stage(artifacts *a, const char *job_dir, const char *job_id,
			const char *stage_id, json_t *record, char *err, size_t errlen);

/* Which of the stages ids[0..n) have a record in S3 (one listing): done[i]
 * = 1 for those. 0 ok, -1 error (err). */
int artifacts_stages_done(artifacts *a, const char *job_id, const char *const *ids,
			  size_t n, int *done, char *err, size_t errlen);

/* Brings a stage finished elsewhere into job_dir: when its marker exists,
 * downloads the files it names (in ranges of 32 MiB, or
 * VIDGEN_ARTIFACTS_CHUNK_KB), then writes stages/STAGE/result.json. 1
 * fetched, 0 no marker (the stage is not done), -1 error (err). */
int artifacts_fetch_stage(artifacts *a, const char *job_dir, const char *job_id,
			  const char *stage_id, char *err, size_t errlen);

/* Withdraws a stage's marker (it runs again: a repair, or a stale stage on
 * resume). 0 ok (also when there was none), -1 error. */
int artifacts_forget_stage(artifacts *a, const char *job_id, const char *stage_id,
			   char *err, size_t errlen);

/* Calls each(ud, id) for every job id that has objects under the prefix
 * (one listing by folder, page after page). 0 ok, -1 error. */
int artifacts_list_jobs(artifacts *a, void (*each)(void *ud, const char *job_id), void *ud,
			char *err, size_t errlen);

/* Deletes every object of job_id (retention). n_deleted gets how many. 0
 * ok, -1 error. */
int artifacts_delete_job(artifacts *a, const char *job_id, long *n_deleted, char *err,
			 size_t errlen);

#endif
