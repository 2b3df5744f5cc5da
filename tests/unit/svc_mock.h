/*
 * The one fake services table every plugin unit test runs against
 * (collectd's plugin_mock idea): no engine, no network. svc->http answers
 * from a script of canned responses and records each request; svc->spawn
 * records the command and runs it (or hands it to the test's own hook);
 * output, failures, logs and progress are kept for the test to inspect.
 * Instances are filled by the real settings engine (core/settings.c).
 * A test includes its plugin's source first (for its static functions),
 * then this header.
 */
#ifndef VG_SVC_MOCK_H
#define VG_SVC_MOCK_H

#include <stddef.h>
#include "services.h"
#include "settings.h"
#include "vidgen/plugin.h"

#define MOCK_MAX 16

typedef struct mock_answer {
	long status;
	const char *body;       /* written to response_path when the request asks */
	size_t body_len;        /* 0 = strlen(body) */
	const char *headers[4]; /* "name: value", lower-case names */
	int rc;                 /* VG_OK, or a transport error to return */
} mock_answer;

typedef struct mock_request {
	char method[16];
	char url[2048];
	char *body;
	char *headers[32];
	size_t n_headers;
	int signed_aws;
	char service[32], region[32];
	int s3_rules;
} mock_request;

typedef struct mock_state {
	/* svc->http: answers[next] answers the next request */
	mock_answer answers[MOCK_MAX];
	int n_answers, next;
	mock_request req[MOCK_MAX];
	int n_req;
	/* svc->fail and svc->log */
	char fail[8192];
	char logs[8192];
	char note[1024];   /* svc->note */
	char links[8][2][512]; /* svc->output_link: { field, url } */
	int n_links;
	/* the output (svc->output_write or svc->output_file) */
	char out_kind[32], out_name[64], out_path[4096];
	char *out_data;
	size_t out_len;
	int write_files;   /* 1: output_write also writes st->dir/name */
	/* svc->secret: { NAME, value } pairs */
	const char *secrets[4][2];
	/* svc->progress (plugins may call it from their own threads) */
	double progress[64];
	char progress_note[64][96];
	int n_progress;
	/* svc->spawn: the last command (argv and envp one per line), and what
	 * runs it: NULL = the engine's proc_run, in st->dir by default */
	vg_proc last_proc;
	char last_argv[8192], last_env[4096];
	int (*spawn)(const vg_stage *st, const vg_proc *p, int *code);
	int cancelled;     /* what svc->cancelled answers */
	/* svc->usage, through the engine's own counter rules */
	stage_usage usage;
	/* svc->cache_get/put: the engine's file cache in this folder, or
	 * "" for none (every lookup misses) */
	char cache_dir[512];
	int cache_hits, cache_puts;
} mock_state;

extern mock_state mock;
extern const vg_services mock_svc;

/* The value of usage counter name (0 when never reported). */
double mock_usage(const char *name);

/* Frees what the last test left and clears every record. */
void mock_reset(void);

/* Appends a canned answer: status, body (static text) and one header. */
void mock_answer_with(long status, const char *body, const char *header);

/* The value of request i's header name (case-insensitive), or NULL. */
const char *mock_header(int i, const char *name);

/* A stage on mock_svc for a plugin test; dir must exist. */
void mock_stage(vg_stage *st, vg_job_info *job, const char *dir, const char *model,
		const char *model_id, const vg_artifact *inputs, size_t n);

/* Fills inst (pl's instance struct) with the table's defaults through the
 * settings engine, ${VAR:-...} expanded; a required setting gets "" unless
 * the test sets it. The strings live until the test program exits. */
void mock_defaults(const vg_plugin *pl, void *inst);

/* Fills a plugin instance as a pipeline would: defaults, the given
 * "name=value" texts (NULL-terminated), the checks, init(). Returns it (the
 * plugin's struct is ->data; release with mock_release), or NULL with the
 * engine's error in mock.fail. */
plugin_inst *mock_instance(const vg_plugin *pl, const char *const *values);
void mock_release(plugin_inst *pi);

#endif
