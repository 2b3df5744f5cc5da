/*
 * The steps every model plugin (bedrock, openai) takes around its own API
 * call: fill the prompt file's templates, explain a failed HTTP exchange,
 * write the answer.
 */
#ifndef VG_PLUGINS_MODEL_CALL_H
#define VG_PLUGINS_MODEL_CALL_H

#include <jansson.h>
#include "vidgen/plugin.h"

/* Frees what prompt_load() filled (a plugin's fini). */
void model_prompt_free(char **system, char **user);

/* Fills the prompt file's templates for this stage: *user, and *system
 * when the file has a [system] part (else NULL); the caller frees both.
 * VG_EINVAL with the reason through svc->fail. */
int model_prompt_render(vg_stage *st, const char *path, const char *system_tmpl,
			const char *user_tmpl, char **system, char **user);

/* The stage's status after svc->http returned rc (err its reason), `who`
 * naming the server in messages. A server that is slow or out of reach
 * gives VG_EFAIL: the core may retry the stage. */
int model_http_result(vg_stage *st, int rc, const char *who, long timeout_s, const char *err);

/* Records one answered call and its token counts (svc->usage): in, out and
 * reasoning are the values of the API's usage object (NULL when absent);
 * reasoning tokens are part of out, as the APIs bill them. Counts that are
 * not whole numbers from 0 to 1e12 are left out with a warning naming
 * `who`. */
void model_usage_record(vg_stage *st, const char *who, const json_t *in, const json_t *out,
			const json_t *reasoning);

/* Writes the answer (prompt_answer_write), first warning when the model
 * stopped at max_tokens: a cut script rarely runs. */
int model_answer_write(vg_stage *st, const char *kind, const char *text, int cut,
		       long max_tokens);

#endif
