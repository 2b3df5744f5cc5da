/*
 * The services table the core passes to plugins, and the per-execution
 * state (stage_run) behind each vg_stage: output, error message, secrets,
 * cancellation. The runner creates one stage_run per stage execution.
 */
#ifndef VG_SERVICES_H
#define VG_SERVICES_H

#include <stdatomic.h>
#include "vidgen/plugin.h"

struct job;
struct file_cache;

/* A stage execution's usage counters (svc->usage, svc->cache_*, and the
 * CPU time of its children): a few named numbers. */
#define STAGE_USAGE_MAX 24
#define STAGE_USAGE_NAME 33
typedef struct stage_usage {
	size_t n;
	struct {
		char name[STAGE_USAGE_NAME];
		double value;
	} v[STAGE_USAGE_MAX];
} stage_usage;

typedef struct stage_run {
	vg_stage st;              /* what the plugin sees; st.core = this */
	struct job *job;          /* NULL in standalone use */
	atomic_int stop;          /* timeout or job cancellation */
	char *error;              /* last svc->fail message, or NULL */
	char *note;               /* last svc->note sentence, or NULL */
	char *out_kind;           /* output set by output_write/output_file */
	char *out_path;           /* absolute */
	char *links[4];           /* svc->output_link URLs, in the order of
				   * job.h's job_media_files */
	char **secrets;           /* values handed out by svc->secret */
	size_t n_secrets;
	void (*on_progress)(struct stage_run *run, double fraction, const char *note);
	void *ud;                 /* owner's data (the runner) */
	struct file_cache *cache; /* svc->cache_*'s folder, or NULL: off */
	stage_usage usage;        /* this execution's counters; read them once
				   * run() returned (stage_run_usage_copy) */
} stage_run;

/* What a stage execution is given: everything a vg_stage carries. */
typedef struct stage_params {
	const char *id;
	const char *dir;             /* the stage's directory (exists) */
	const char *model;           /* friendly model, or NULL */
	const char *model_id;        /* provider id, or NULL */
	const vg_job_info *job;
	const vg_artifact *inputs;
	size_t n_inputs;
	int attempt;
	const char *feedback;        /* repair runs: the downstream error */
	const vg_artifact *previous; /* repair runs: the last output */
	int last_repair;
} stage_params;

/* Builds run->st, the vg_stage a plugin sees, for `run`, `serve` and
 * `render` alike: the one place a vg_stage field is set. Clears the stop
 * flag; job, on_progress and ud are left to the caller. */
void stage_run_init(stage_run *run, const stage_params *sp);

/* The one table, valid for the life of the process. */
const vg_services *services_table(void);

/* Frees what a stage_run collected (error, output names, wiped secrets);
 * not the vg_stage fields, which belong to whoever built them. */
void stage_run_clear(stage_run *run);

/* 1 when name is a usage counter name: a-z, 0-9, _, 1 to 32 bytes. */
int usage_name_ok(const char *name);

/* Adds value to counter name of u (0, or -1 when u is full or the name or
 * value is refused: negative, not finite, over 1e12). Thread-safe. */
int stage_usage_add(stage_usage *u, const char *name, double value);

/* A consistent copy of run's counters (plugins may still be adding from
 * their threads while a copy is taken). */
void stage_run_usage_copy(const stage_run *run, stage_usage *out);

/* The text a plugin left with svc->fail, or a generic one from rc. */
const char *stage_run_error(const stage_run *run, int rc);

#endif
