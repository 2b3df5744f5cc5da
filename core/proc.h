/*
 * Child processes for plugins (svc->spawn): fork + exec without a shell, in
 * a new session, with rlimits, redirections, a wall-clock timeout and
 * cancellation that kill the child's whole process group.
 */
#ifndef VG_PROC_H
#define VG_PROC_H

#include "vidgen/plugin.h"

/*
 * Runs p and waits for it. cancelled(ud) is polled while it runs (may be
 * NULL); a non-zero answer kills the process group. p->cwd NULL keeps the
 * caller's directory (the services table substitutes the stage directory).
 * *exit_code gets the exit status, or 128+signal for a killed child.
 * Returns VG_OK when the child ran (whatever its exit code), VG_ETIMEDOUT,
 * VG_ECANCELED, VG_EINVAL for a bad vg_proc, or VG_EIO when it could not be
 * started (exec failure, bad redirection, fork failure).
 */
int proc_run(const vg_proc *p, int (*cancelled)(void *ud), void *ud,
	     int *exit_code);

/* proc_run, and *cpu_seconds gets the user + system CPU time the child and
 * the descendants it waited for used (0 when it did not start). */
int proc_run_cpu(const vg_proc *p, int (*cancelled)(void *ud), void *ud,
		 int *exit_code, double *cpu_seconds);

#endif
