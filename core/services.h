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

typedef struct stage_run {
	vg_stage st;              /* what the plugin sees; st.core = this */
	struct job *job;          /* NULL in standalone use */
	atomic_int stop;          /* timeout or job cancellation */
	char *error;              /* last svc->fail message, or NULL */
	char *note;               /* last svc->note sentence, or NULL */
	char *out_kind;           /* output set by output_write/output_file */
	char *out_path;           /* absolute */
	char **secrets;           /* values handed out by svc->secret */
	size_t n_secrets;
	void (*on_progress)(struct stage_run *run, double fraction, const char *note);
	void *ud;                 /* owner's data (the runner) */
} stage_run;

/* The one table, valid for the life of the process. */
const vg_services *services_table(void);

/* Frees what a stage_run collected (error, output names, wiped secrets);
 * not the vg_stage fields, which belong to whoever built them. */
void stage_run_clear(stage_run *run);

/* The text a plugin left with svc->fail, or a generic one from rc. */
const char *stage_run_error(const stage_run *run, int rc);

#endif
