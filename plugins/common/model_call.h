/*
 * The steps every model plugin (bedrock, openai) takes around its own API
 * call: fill the prompt file's templates, explain a failed HTTP exchange,
 * write the answer. Static functions, like prompt_file.h (included here).
 */
#ifndef VG_PLUGINS_MODEL_CALL_H
#define VG_PLUGINS_MODEL_CALL_H

#include <stdlib.h>
#include <vidgen/plugin.h>

#include "prompt_file.h"

/* Frees what prompt_load() filled (a plugin's fini). */
static void model_prompt_free(char **system, char **user)
{
	free(*system);
	free(*user);
	*system = *user = NULL;
}

/* Fills the prompt file's templates for this stage: *user, and *system
 * when the file has a [system] part (else NULL); the caller frees both.
 * VG_EINVAL with the reason through svc->fail. */
static int model_prompt_render(vg_stage *st, const char *path, const char *system_tmpl,
			       const char *user_tmpl, char **system, char **user)
{
	*user = st->svc->render_template(st, user_tmpl);
	*system = system_tmpl ? st->svc->render_template(st, system_tmpl) : NULL;
	if (!*user || (system_tmpl && !*system)) {
		st->svc->fail(st, "cannot fill the prompt template %s", path);
		return VG_EINVAL;
	}
	return VG_OK;
}

/* The stage's status after svc->http returned rc (err its reason), `who`
 * naming the server in messages. A server that is slow or out of reach
 * gives VG_EFAIL: the core may retry the stage. */
static int model_http_result(vg_stage *st, int rc, const char *who, long timeout_s,
			     const char *err)
{
	if (rc == VG_ETIMEDOUT) {
		st->svc->fail(st, "%s did not answer within %ld s (%s)", who, timeout_s, err);
		return VG_EFAIL;
	}
	if (rc == VG_EHTTP) {
		st->svc->fail(st, "cannot reach %s: %s", who, err);
		return VG_EFAIL;
	}
	if (rc != VG_OK && rc != VG_ECANCELED)
		st->svc->fail(st, "%s", err);
	return rc;
}

/* Writes the answer (prompt_answer_write), first warning when the model
 * stopped at max_tokens: a cut script rarely runs. */
static int model_answer_write(vg_stage *st, const char *kind, const char *text, int cut,
			      long max_tokens)
{
	if (cut)
		st->svc->log(st, VG_LOG_WARN, "answer cut at max_tokens=%ld; raise max_tokens",
			     max_tokens);
	return prompt_answer_write(st, kind, text);
}

#endif
