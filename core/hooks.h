/*
 * Lua 5.4 hooks: operator-written functions that rewrite a stage's input
 * prompt (`before`) or its text output (`after`). Each call runs in a fresh,
 * sandboxed Lua state with an instruction budget and a memory cap.
 */
#ifndef VG_HOOKS_H
#define VG_HOOKS_H

#include <stddef.h>

/* One compiled "file.lua:function". Immutable once compiled (apart from
 * hook_set_limits, called before the first hook_call), so any number of
 * threads may call it at once. */
typedef struct hook hook;

/* An earlier stage's text output, as the hook sees it in job.artifacts. */
typedef struct hook_artifact {
	const char *stage; /* stage id (or "question") */
	const char *text;  /* NUL-terminated UTF-8 */
} hook_artifact;

/* The read-only job table passed to Lua as the hook's second argument.
 * Any string may be NULL (the field is then nil in Lua). */
typedef struct hook_job_view {
	const char *job_id, *question, *model, *voice, *stage;
	const hook_artifact *artifacts;
	size_t n_artifacts;
} hook_job_view;

/* Defaults: roughly a second of pure Lua on this machine, and far more
 * memory than a prompt or script rewrite needs. */
#define HOOK_DEFAULT_INSTRUCTIONS 100000000L
#define HOOK_DEFAULT_MEMORY ((size_t)64 << 20)
/* Accepted range for hook_set_limits. */
#define HOOK_MIN_INSTRUCTIONS 10000L
#define HOOK_MAX_INSTRUCTIONS 10000000000L
#define HOOK_MIN_MEMORY ((size_t)1 << 20)
#define HOOK_MAX_MEMORY ((size_t)1 << 30)
/* Each call runs in a worker process of the hook server (hook_server.c),
 * stopped after its instruction budget / HOOK_INSTRUCTIONS_PER_CALL_MS
 * milliseconds of wall time (5 s for the default budget, about five times
 * what the budget takes in pure Lua here), and never sooner than
 * HOOK_MIN_CALL_MS. */
#define HOOK_INSTRUCTIONS_PER_CALL_MS 20000L
#define HOOK_MIN_CALL_MS 2000LL
/* Largest hook source file. */
#define HOOK_MAX_SOURCE ((size_t)1 << 20)

/* Loads and compiles spec ("path/file.lua:function"; a relative path is
 * relative to base_dir, which may be NULL for the current directory), runs
 * the file's top level in a sandbox and checks that `function` exists, either
 * as a global or as a field of the table the file returns. On failure returns
 * NULL with "file.lua:LINE: message" (or "hook \"spec\": message" when there
 * is no line) in err. Errors name the file as written in spec. The caller
 * frees the hook with hook_free. */
hook *hook_compile(const char *spec, const char *base_dir, char *err,
		   size_t errlen);

/* Overrides the per-call limits: instructions (Lua VM instructions) and
 * memory (bytes, the whole Lua state). 0 keeps the current value. Returns 0,
 * or VG_EINVAL with the accepted range in err. Not thread-safe: call it
 * right after hook_compile. */
int hook_set_limits(hook *h, long long instructions, size_t memory,
		    char *err, size_t errlen);

/* Runs the hook on text in a fresh sandboxed state, in a worker process of
 * the hook server (never a fork of the caller) that ends itself after the
 * instruction budget / HOOK_INSTRUCTIONS_PER_CALL_MS milliseconds (at least
 * HOOK_MIN_CALL_MS): a library call in C, out of the budget's sight, cannot
 * hold the caller longer. On success returns 0
 * and sets *out to the new text (malloc'd, caller frees) or to NULL when
 * the hook returned nil (keep the text). On failure returns VG_EINVAL (the
 * hook is at fault: syntax, runtime error, wrong return type, instruction
 * budget, memory cap or wall-clock limit exceeded, output not UTF-8) or
 * VG_ENOMEM (the state or the worker could not be created), with "file.lua:LINE: message" in err. job may be
 * NULL. Thread-safe. */
int hook_call(const hook *h, const char *text, const hook_job_view *job,
	      char **out, char *err, size_t errlen);

/* The spec as given to hook_compile ("lua/audience.lua:for_kids"). */
const char *hook_spec(const hook *h);

void hook_free(hook *h);

#endif
