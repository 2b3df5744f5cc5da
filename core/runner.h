/*
 * The graph runner: runs a pipeline's stages for one job. A stage starts as
 * soon as all its inputs exist; independent stages run in parallel threads.
 * Handles per-stage timeouts, retries, on_error repairs, cancellation, and
 * records every stage's output so a re-run resumes where it stopped.
 */
#ifndef VG_RUNNER_H
#define VG_RUNNER_H

#include "job.h"
#include "pipeline.h"

typedef struct runner_events {
	/* Called after each change of status, progress or message, with
	 * j->lock held: copy what you need, do not block for long, do not
	 * take j->lock again. May be NULL. */
	void (*on_update)(void *ud, job *j);
	/* Called when a stage finishes (ok = 1) or fails, lock not held. */
	void (*on_stage)(void *ud, job *j, const stage_def *st, int ok,
			 long long duration_ms);
	void *ud;
	/* Called after each stage run, lock not held, once per usage counter
	 * the run added to (usage.h; "attempts" counts 1 a run), with the
	 * stage's billing model (usage_stage_model) or NULL. May be NULL. */
	void (*on_usage)(void *ud, const stage_def *st, const char *model, const char *counter,
			 double value);
} runner_events;

/* Runs j to completion, failure or cancellation; blocks. Stages already
 * recorded as done in j's directory are not run again. Returns VG_OK when
 * the job completed, else the failing status (the job's message says
 * why). */
int runner_run(const pipeline *p, job *j, const runner_events *ev);

#endif
