/*
 * The steps around a model plugin's API call (model_call.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "vidgen/plugin.h"
#include "model_call.h"
#include "prompt_file.h"
#include "usage_report.h"

void model_usage_record(vg_stage *st, const char *who, const json_t *in, const json_t *out,
			const json_t *reasoning)
{
	char where[96];

	snprintf(where, sizeof(where), "%s usage", who);
	usage_report(st, "requests", 1);
	if (!in && !out)
		st->svc->log(st, VG_LOG_WARN, "%s answered without token counts", who);
	usage_report_json(st, "input_tokens", in, where);
	usage_report_json(st, "output_tokens", out, where);
	usage_report_json(st, "reasoning_tokens", reasoning, where);
}

void model_prompt_free(char **system, char **user)
{
	free(*system);
	free(*user);
	*system = *user = NULL;
}

int model_prompt_render(vg_stage *st, const char *path, const char *system_tmpl,
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

int model_http_result(vg_stage *st, int rc, const char *who, long timeout_s,
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

int model_answer_write(vg_stage *st, const char *kind, const char *text, int cut,
		       long max_tokens)
{
	if (cut)
		st->svc->log(st, VG_LOG_WARN, "answer cut at max_tokens=%ld; raise max_tokens",
			     max_tokens);
	return prompt_answer_write(st, kind, text);
}
