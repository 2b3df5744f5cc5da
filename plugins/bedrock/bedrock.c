/*
 * bedrock: one model stage on Amazon Bedrock Runtime's Converse API
 * (POST /model/{modelId}/converse, SigV4-signed by svc->http). The prompt is
 * a template file ([system] and [user] parts); errors become plain advice.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "vidgen/plugin.h"
#include "../common/aws_error.h"
#include "../common/aws_region.h"
#include "../common/model_call.h"
#include "../common/prompt_file.h"
#include "../common/url.h"

#define BEDROCK_MAX_MODEL_ID 2048

typedef struct bedrock_conf {
	const char *endpoint;  /* "" = https://bedrock-runtime.REGION.amazonaws.com */
	const char *region;    /* "" = AWS_REGION, else eu-west-3 */
	const char *prompt;    /* template file */
	long max_tokens;
	double temperature;    /* < 0 = the model's default */
	const char *output;    /* "text" | "script" */
	long timeout_s;
	long attempts;
	/* filled by init() */
	char *system_tmpl;
	char *user_tmpl;
} bedrock_conf;

static const vg_setting bedrock_settings[] = {
	VG_SETTING_STR("endpoint", bedrock_conf, endpoint, "",
		       "Bedrock Runtime base URL; empty = https://bedrock-runtime.REGION.amazonaws.com"),
	VG_SETTING_STR("region", bedrock_conf, region, "",
		       "AWS region; empty = AWS_REGION, else eu-west-3"),
	VG_SETTING_REQUIRED("prompt", VG_SET_PATH, bedrock_conf, prompt,
			    "prompt template file: optional [system] part, then [user] part"),
	VG_SETTING_INT("max_tokens", bedrock_conf, max_tokens, "4000", 1, 200000,
		       "inferenceConfig.maxTokens: longest answer, in tokens"),
	VG_SETTING_DOUBLE("temperature", bedrock_conf, temperature, "-1", -1, 1,
			  "inferenceConfig.temperature (0..1); -1 = the model's default"),
	VG_SETTING_CHOICE("output", bedrock_conf, output, "text", "text|script",
			  "artifact kind; \"script\" strips Markdown code fences"),
	VG_SETTING_INT("timeout", bedrock_conf, timeout_s, "170", 1, 3600,
		       "seconds allowed for one HTTP request"),
	VG_SETTING_INT("attempts", bedrock_conf, attempts, "4", 1, 10,
		       "HTTP tries on throttling and 5xx answers"),
	VG_SETTINGS_END
};

/* ---- the plugin --------------------------------------------------------- */

static int bedrock_init(void *instance, char *err, size_t errlen)
{
	bedrock_conf *c = instance;
	int rc = aws_settings_check(c->region, c->endpoint, err, errlen);

	if (rc != VG_OK)
		return rc;
	return prompt_load(c->prompt, &c->system_tmpl, &c->user_tmpl, err, errlen);
}

static void bedrock_fini(void *instance)
{
	bedrock_conf *c = instance;

	model_prompt_free(&c->system_tmpl, &c->user_tmpl);
}

/* Percent-encodes a model id for the path (':' and '/' included). */
static int model_path(const char *id, char *out, size_t outlen)
{
	if (!id || !*id || strlen(id) > BEDROCK_MAX_MODEL_ID)
		return -1;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._:/-", *p))
			return -1;
	return url_pct_encode(id, out, outlen);
}

static char *build_body(const bedrock_conf *c, const char *system, const char *user)
{
	json_t *root = json_object(), *cfg = json_object();
	char *out;

	json_object_set_new(root, "messages", json_pack("[{s:s, s:[{s:s}]}]", "role", "user",
							"content", "text", user));
	if (system && *system)
		json_object_set_new(root, "system", json_pack("[{s:s}]", "text", system));
	json_object_set_new(cfg, "maxTokens", json_integer(c->max_tokens));
	if (c->temperature >= 0)
		json_object_set_new(cfg, "temperature", json_real(c->temperature));
	json_object_set_new(root, "inferenceConfig", cfg);
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

/* Turns a Bedrock error answer into a message and a status. */
static int explain_error(vg_stage *st, const char *model, const char *region,
			 const vg_http_response *r)
{
	char type[128], msg[1024];
	int rc = VG_EHTTP;

	aws_error_parse(r, r->body, type, sizeof(type), msg, sizeof(msg), "(no message)");
	if (strcmp(type, "AccessDeniedException") == 0 && strcasestr(msg, "access to the model")) {
		st->svc->fail(st, "Bedrock: this AWS account has no access to model %s in %s; "
			      "enable it under Model access in the Bedrock console (%s)",
			      model, region, msg);
	} else if (strcmp(type, "AccessDeniedException") == 0) {
		st->svc->fail(st, "Bedrock denied the call to %s (HTTP %ld): %.300s; the IAM "
			      "identity needs bedrock:InvokeModel", model, r->status, msg);
	} else if (strcmp(type, "UnrecognizedClientException") == 0 ||
		   strcmp(type, "InvalidSignatureException") == 0 || r->status == 403) {
		st->svc->fail(st, "AWS rejected the credentials for Bedrock (%s): %.300s",
			      *type ? type : "HTTP 403", msg);
	} else if (strcmp(type, "ValidationException") == 0 &&
		   (strcasestr(msg, "on-demand throughput") || strcasestr(msg, "inference profile"))) {
		st->svc->fail(st, "Bedrock: model %s cannot be called on demand in %s; map it in "
			      "the pipeline's models list to an inference profile ID (e.g. "
			      "\"eu.%s\") (%.200s)", model, region, model, msg);
		rc = VG_EINVAL;
	} else if (strcmp(type, "ValidationException") == 0) {
		st->svc->fail(st, "Bedrock rejected the request for %s: %.300s", model, msg);
		rc = VG_EINVAL;
	} else if (strcmp(type, "ResourceNotFoundException") == 0 || r->status == 404) {
		st->svc->fail(st, "Bedrock: model %s not found in %s: %.300s", model, region, msg);
		rc = VG_EINVAL;
	} else if (strcmp(type, "ThrottlingException") == 0 || r->status == 429) {
		st->svc->fail(st, "Bedrock is throttling calls to %s (too many requests or tokens "
			      "per minute); try again later or raise the quota", model);
		rc = VG_EFAIL;
	} else if (r->status >= 500 || r->status == 408 ||
		   strcmp(type, "ModelNotReadyException") == 0) {
		st->svc->fail(st, "Bedrock failed for %s (HTTP %ld %s): %.300s", model,
			      r->status, type, msg);
		rc = VG_EFAIL;
	} else {
		st->svc->fail(st, "Bedrock answered HTTP %ld %s for %s: %.300s", r->status,
			      type, model, msg);
	}
	return rc;
}

/* Joins the text blocks of output.message.content into a malloc'd string. */
static char *answer_text(json_t *root, const char **stop)
{
	json_t *content = json_object_get(json_object_get(json_object_get(root, "output"),
							  "message"), "content");
	size_t i, len = 0;
	json_t *blk;
	char *out = NULL;

	*stop = json_string_value(json_object_get(root, "stopReason"));
	json_array_foreach(content, i, blk) {
		const char *t = json_string_value(json_object_get(blk, "text"));
		size_t n = t ? strlen(t) : 0;
		char *grown;
		if (!n)
			continue;
		grown = realloc(out, len + n + 1);
		if (!grown) {
			free(out);
			return NULL;
		}
		out = grown;
		memcpy(out + len, t, n);
		len += n;
		out[len] = '\0';
	}
	return out;
}

static int call_converse(const bedrock_conf *c, vg_stage *st, const char *body,
			 const char *region, vg_http_response *resp)
{
	char mpath[BEDROCK_MAX_MODEL_ID * 3 + 1], url[8192], err[512] = "";
	const char *hdrs[] = { "Content-Type: application/json", "Accept: application/json", NULL };
	vg_aws_sign_opts sign = VG_AWS_SIGN_OPTS_INIT(.service = "bedrock", .region = region);
	vg_http_request req = VG_HTTP_REQUEST_INIT();
	int rc;

	if (model_path(st->model_id, mpath, sizeof(mpath))) {
		st->svc->fail(st, "invalid Bedrock model id for %s", st->model ? st->model : "?");
		return VG_EINVAL;
	}
	if (*c->endpoint)
		snprintf(url, sizeof(url), "%s/model/%s/converse", c->endpoint, mpath);
	else
		snprintf(url, sizeof(url), "https://bedrock-runtime.%s.amazonaws.com/model/%s/converse",
			 region, mpath);
	req.method = "POST";
	req.url = url;
	req.headers = hdrs;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = c->timeout_s * 1000;
	req.max_attempts = (int)c->attempts;
	req.aws = &sign;
	rc = st->svc->http(st, &req, resp, err, sizeof(err));
	return model_http_result(st, rc, "Bedrock", c->timeout_s, err);
}

static int bedrock_run(void *instance, vg_stage *st)
{
	const bedrock_conf *c = instance;
	char region[40], *system = NULL, *user = NULL, *body = NULL, *text = NULL;
	const char *stop = NULL;
	vg_http_response resp = { 0 };
	json_t *root = NULL;
	int rc;

	aws_region_pick(st, c->region, region, sizeof(region));
	rc = model_prompt_render(st, c->prompt, c->system_tmpl, c->user_tmpl, &system, &user);
	if (rc != VG_OK)
		goto out;
	body = build_body(c, system, user);
	rc = body ? call_converse(c, st, body, region, &resp) : VG_ENOMEM;
	if (rc != VG_OK)
		goto out;
	if (resp.status != 200) {
		rc = explain_error(st, st->model ? st->model : st->model_id, region, &resp);
		goto out;
	}
	root = json_loads(resp.body, 0, NULL);
	if (json_is_object(root)) {
		json_t *u = json_object_get(root, "usage");
		model_usage_record(st, "Bedrock", json_object_get(u, "inputTokens"),
				   json_object_get(u, "outputTokens"), NULL);
	}
	text = root ? answer_text(root, &stop) : NULL;
	if (!text || !*text) {
		st->svc->fail(st, "Bedrock answered without text for %s", st->model_id);
		rc = VG_EFAIL;
		goto out;
	}
	rc = model_answer_write(st, c->output, text, stop && strcmp(stop, "max_tokens") == 0,
				c->max_tokens);
out:
	st->svc->http_free(&resp);
	json_decref(root);
	free(system);
	free(user);
	free(body);
	free(text);
	return rc;
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "bedrock",
	.kind = "model",
	.version = "1.0.0",
	.description = "Amazon Bedrock Runtime Converse API (Claude and other models), "
		       "SigV4-signed",
	.settings = bedrock_settings,
	.instance_size = sizeof(bedrock_conf),
	.init = bedrock_init,
	.run = bedrock_run,
	.fini = bedrock_fini,
	.needs = VG_NEEDS_AWS_CREDENTIALS,
};
