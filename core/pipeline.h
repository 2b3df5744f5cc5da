/*
 * Pipeline files (libconfig): parse, expand ${VAR} / ${VAR:-default},
 * validate the stage graph and each plugin's settings against its settings
 * table, and keep every stage's line so later errors can cite file:line.
 */
#ifndef VG_PIPELINE_H
#define VG_PIPELINE_H

#include <stddef.h>
#include <stdio.h>
#include "registry.h"
#include "settings.h"
#include "usage.h"

#define PIPELINE_MAX_STAGES 64

typedef struct model_def {
	char *name;     /* friendly name: "claude-4-sonnet" */
	char *id;       /* provider id */
	int selectable; /* offered to users (GET /api/v1/config) */
	int line;
} model_def;

typedef struct stage_def {
	char *id;
	char *plugin_name;
	const loaded_plugin *plugin;
	plugin_inst inst;        /* the plugin's struct, filled + init'ed */
	char **inputs;           /* stage ids or "question" */
	size_t n_inputs;
	size_t *input_idx;       /* stage index per input; SIZE_MAX = question */
	char *status;            /* status name while running, or NULL */
	int progress;            /* progress when it ends; -1 = none */
	char *result;            /* VideoResponse field it fills, or NULL */
	char *model;             /* friendly model, or NULL = the job's */
	long timeout_ms;         /* 0 = none */
	int retries;             /* extra attempts after a VG_EFAIL */
	char *repair_stage;      /* on_error.retry, or NULL */
	size_t repair_idx;
	int max_repairs;         /* on_error.max */
	char *hook_before;       /* "file.lua:function" or NULL (hooks.h) */
	char *hook_after;
	void *hook_before_ref;   /* compiled hooks, owned by the pipeline */
	void *hook_after_ref;
	int line;                /* line of the stage's group */
} stage_def;

typedef struct pipeline {
	char *path;              /* as given */
	char *dir;               /* absolute directory of the file */
	char *name;
	char *description;
	model_def *models;
	size_t n_models;
	char **voices;
	size_t n_voices;
	char *default_voice;
	char *default_model;
	char **cors_origins;     /* browser origins the daemon allows, NULL-term. */
	size_t n_cors_origins;
	stage_def *stages;
	size_t n_stages;
	size_t *order;           /* a topological order of stage indexes */
	char *question_hook;     /* "file.lua:function" run on the question once
				  * per job before any stage, or NULL */
	void *question_hook_ref; /* compiled hook, owned */
	price_table prices;      /* `prices`: currency "" when absent */
	long long cache_max_bytes; /* `cache_max_mb`: the file cache's cap; 0 = off */
	char *artifacts;         /* `artifacts`, else $VIDGEN_ARTIFACTS: the S3 prefix
				  * stage outputs are shared in (artifacts.h), or NULL */
} pipeline;

#define PIPELINE_CACHE_MB_DEFAULT 256

/* Loads and validates path. On failure returns NULL and writes
 * "file:line: message" into err. Caller frees with pipeline_free. */
pipeline *pipeline_load(const char *path, const plugin_registry *reg,
			char *err, size_t errlen);
void pipeline_free(pipeline *p);

/* Friendly name -> model_def, or NULL. */
const model_def *pipeline_model(const pipeline *p, const char *name);
/* 1 if voice is one of the pipeline's voices. */
int pipeline_has_voice(const pipeline *p, const char *voice);
/* Index of stage id, or -1. */
int pipeline_stage_index(const pipeline *p, const char *id);

#endif
