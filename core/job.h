/*
 * A job: one question turned into one video. Holds the VideoResponse fields,
 * the status/progress walk, cancellation, and the job directory where every
 * stage's output is kept (job.json + stages/<id>/), so a job can resume after
 * a crash without redoing a finished stage.
 */
#ifndef VG_JOB_H
#define VG_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>

/* The files a store keeps beside a job's video (captions, poster), in the
 * order of their fields in the VideoResponse, after the seed's fields: the
 * field its URL fills, the suffix that replaces ".mp4" in the video's name,
 * and the content type it is served with. */
typedef struct job_media {
	const char *field, *suffix, *content_type;
} job_media;
#define JOB_MEDIA_N 4
extern const job_media job_media_files[JOB_MEDIA_N];

typedef struct job_stage_state {
	int done;          /* output recorded and on disk */
	char *kind;        /* output artifact kind */
	char *path;        /* absolute output path */
	int attempts;      /* runs so far (retries + repairs) */
	int repairs;       /* repair runs requested by this stage's failures */
	long long started_ms, ended_ms;
	json_t *usage;     /* counters of every run so far ({"input_tokens": 10,
			    * ...}; stages/<id>/result.json keeps them), or NULL */
} job_stage_state;

typedef struct job {
	char id[37];
	char created_at[32];
	char *question;
	char *model;
	char *voice;
	char *dir;          /* absolute job directory */

	pthread_mutex_t lock; /* guards everything below */
	char *status;       /* "queued", a stage's status, "completed", "failed" */
	int progress;       /* 0..100, never decreases */
	char *message;
	char *initial_explanation;
	char *refined_explanation;
	char *video_url;
	char *s3_url;
	char *media[JOB_MEDIA_N]; /* URLs of the files beside the video: job_media_files */
	json_t *usage;      /* the `usage` object (usage.h), or NULL */
	char *usage_text;   /* the same, compact JSON, or NULL */
	int finished;       /* completed or failed */
	size_t n_stages;
	job_stage_state *stages; /* one per pipeline stage, same order */

	atomic_int cancel;  /* set by job_cancel */
} job;

/* Creates a job with a new UUID and its directory root/<id>/. Returns NULL
 * with the reason in err. The question/model/voice are copied. */
job *job_create(const char *root, const char *question, const char *model,
		const char *voice, char *err, size_t errlen);
/* Re-opens a job from its directory (job.json); NULL with reason in err. */
job *job_open(const char *dir, char *err, size_t errlen);
/* Creates a job object for a known id/created_at (the daemon's store). */
job *job_restore(const char *root, const char *id, const char *created_at,
		 const char *question, const char *model, const char *voice,
		 char *err, size_t errlen);
void job_free(job *j);

/* Writes job.json atomically. Caller holds j->lock. 0 ok. */
int job_save_locked(job *j);

/* Sets status/progress/message (NULL keeps the old value; progress below
 * the current value is ignored). Caller holds j->lock. */
void job_set_locked(job *j, const char *status, int progress, const char *message);

/* Sets one VideoResponse text field by name: "initial_explanation",
 * "refined_explanation", "video_url", "s3_url", or a job_media_files field.
 * -1 for another name. */
int job_set_field_locked(job *j, const char *field, const char *value);

/* Replaces the job's `usage` object (takes the reference u). */
void job_set_usage_locked(job *j, json_t *u);

/* 1 if every stage of the job is done (its end comes next); j->lock held. */
int job_stages_done_locked(const job *j);

/* 1 if name is a field a stage's `result` may fill: "initial_explanation",
 * "refined_explanation", "video_url", "s3_url". */
int job_field_valid(const char *name);

/* Builds the VideoResponse object of doc/api.md. Caller holds j->lock
 * (or owns j alone) and frees with json_decref. */
json_t *job_response_locked(const job *j);

void job_cancel(job *j);
int job_cancelled(const job *j);

/* Loads the per-stage records (stages/<id>/result.json, one per id, in the
 * pipeline's order) of a job that ran before, marking stages done whose
 * output file still exists. */
int job_load_stage_results(job *j, const char *const *stage_ids, size_t n);

#endif
