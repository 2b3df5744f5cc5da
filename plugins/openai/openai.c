/*
 * openai: one model stage on an OpenAI-compatible Chat Completions API
 * (OpenAI itself, or Ollama, llama.cpp's server, vLLM through base_url).
 * Applies GPT-5/o-series rules: max_completion_tokens, no temperature.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "vidgen/plugin.h"
#include "../common/model_call.h"
#include "../common/prompt_file.h"
#include "../common/url.h"

#define OPENAI_DEFAULT_BASE "https://api.openai.com/v1"

typedef struct openai_conf {
	const char *base_url;  /* "" = OPENAI_BASE_URL, else api.openai.com */
	const char *key_name;  /* secret holding the key */
	int require_key;
	const char *prompt;
	long max_tokens;
	double temperature;    /* < 0 = not sent */
	const char *reasoning_effort; /* "" = not sent */
	const char *output;
	long timeout_s;
	long attempts;
	char *system_tmpl;     /* filled by init() */
	char *user_tmpl;
} openai_conf;

static const vg_setting openai_settings[] = {
	VG_SETTING_STR("base_url", openai_conf, base_url, "",
		       "API base URL (…/v1); empty = $OPENAI_BASE_URL, else " OPENAI_DEFAULT_BASE),
	VG_SETTING_STR("api_key_env", openai_conf, key_name, "OPENAI_API_KEY",
		       "secret holding the API key (read from NAME or the file NAME_FILE)"),
	VG_SETTING_BOOL("require_key", openai_conf, require_key, "true",
			"fail without a key; set false for local servers (Ollama, llama.cpp, "
			"vLLM)"),
	VG_SETTING_REQUIRED("prompt", VG_SET_PATH, openai_conf, prompt,
			    "prompt template file: optional [system] part, then [user] part"),
	VG_SETTING_INT("max_tokens", openai_conf, max_tokens, "8000", 1, 200000,
		       "longest answer (max_completion_tokens for GPT-5/o-series, else "
		       "max_tokens)"),
	VG_SETTING_DOUBLE("temperature", openai_conf, temperature, "-1", -1, 2,
			  "sampling temperature; -1 = not sent (GPT-5 accepts none)"),
	VG_SETTING_CHOICE("reasoning_effort", openai_conf, reasoning_effort, "",
			  "|minimal|low|medium|high",
			  "GPT-5/o-series reasoning effort; empty = default"),
	VG_SETTING_CHOICE("output", openai_conf, output, "text", "text|script",
			  "artifact kind; \"script\" strips Markdown code fences"),
	VG_SETTING_INT("timeout", openai_conf, timeout_s, "300", 1, 3600,
		       "seconds allowed for one HTTP request"),
	VG_SETTING_INT("attempts", openai_conf, attempts, "4", 1, 10,
		       "HTTP tries on rate limits and 5xx answers"),
	VG_SETTINGS_END
};

/* ---- the plugin --------------------------------------------------------- */

static int openai_init(void *instance, char *err, size_t errlen)
{
	openai_conf *c = instance;

	if (*c->base_url && !url_base_valid(c->base_url)) {
		snprintf(err, errlen, "base_url: must be an http:// or https:// URL without "
			 "query (e.g. http://127.0.0.1:11434/v1)");
		return VG_EINVAL;
	}
	for (const char *p = c->key_name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_') {
			snprintf(err, errlen, "api_key_env: must be a variable name");
			return VG_EINVAL;
		}
	return prompt_load(c->prompt, &c->system_tmpl, &c->user_tmpl, err, errlen);
}

static void openai_fini(void *instance)
{
	openai_conf *c = instance;

	model_prompt_free(&c->system_tmpl, &c->user_tmpl);
}

/* GPT-5 and the o-series are reasoning models: they take
 * max_completion_tokens and reasoning_effort, and refuse temperature. */
static int is_reasoning_model(const char *id)
{
	return strncmp(id, "gpt-5", 5) == 0 || (id[0] == 'o' && isdigit((unsigned char)id[1]));
}

static char *build_body(const openai_conf *c, const char *model, const char *system,
			const char *user)
{
	json_t *root = json_object(), *msgs = json_array();
	int reasoning = is_reasoning_model(model);
	char *out;

	json_object_set_new(root, "model", json_string(model));
	if (system && *system)
		json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system",
						      "content", system));
	json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", user));
	json_object_set_new(root, "messages", msgs);
	json_object_set_new(root, reasoning ? "max_completion_tokens" : "max_tokens",
			    json_integer(c->max_tokens));
	if (!reasoning && c->temperature >= 0)
		json_object_set_new(root, "temperature", json_real(c->temperature));
	if (reasoning && *c->reasoning_effort)
		json_object_set_new(root, "reasoning_effort", json_string(c->reasoning_effort));
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

/* Turns an error answer ({"error":{"message","type","code"}}) into a
 * message and a status. */
static int explain_error(vg_stage *st, const char *model, const vg_http_response *r)
{
	json_t *body = r->body ? json_loads(r->body, 0, NULL) : NULL;
	json_t *e = json_object_get(body, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *type = json_string_value(json_object_get(e, "type"));
	int rc = VG_EHTTP;

	if (!msg)
		msg = json_is_string(e) ? json_string_value(e) : "(no message)";
	if (!code)
		code = type ? type : "";
	if (r->status == 401) {
		st->svc->fail(st, "the model server rejected the API key (HTTP 401): check "
			      "OPENAI_API_KEY (%.200s)", msg);
		rc = VG_EINVAL;
	} else if (r->status == 404 || strcmp(code, "model_not_found") == 0) {
		st->svc->fail(st, "model %s is not available on this server: %.300s", model, msg);
		rc = VG_EINVAL;
	} else if (r->status == 429 && strcmp(code, "insufficient_quota") == 0) {
		st->svc->fail(st, "the OpenAI account has no quota left (insufficient_quota): "
			      "check billing (%.200s)", msg);
		rc = VG_EINVAL;
	} else if (r->status == 429) {
		st->svc->fail(st, "the model server is rate limiting calls to %s; try again "
			      "later (%.200s)", model, msg);
		rc = VG_EFAIL;
	} else if (r->status == 400 || r->status == 422) {
		st->svc->fail(st, "the model server rejected the request for %s (%s): %.300s",
			      model, code, msg);
		rc = VG_EINVAL;
	} else if (r->status == 403) {
		st->svc->fail(st, "the model server refused access to %s (HTTP 403): %.300s",
			      model, msg);
	} else if (r->status >= 500) {
		st->svc->fail(st, "the model server failed (HTTP %ld): %.300s", r->status, msg);
		rc = VG_EFAIL;
	} else {
		st->svc->fail(st, "the model server answered HTTP %ld: %.300s", r->status, msg);
	}
	json_decref(body);
	return rc;
}

static int call_chat(const openai_conf *c, vg_stage *st, const char *body,
		     vg_http_response *resp)
{
	const char *base = *c->base_url ? c->base_url : getenv("OPENAI_BASE_URL");
	const char *key = *c->key_name ? st->svc->secret(st, c->key_name) : NULL;
	const char *hdrs[4] = { "Content-Type: application/json", "Accept: application/json" };
	char url[4096], err[512] = "", *auth = NULL;
	vg_http_request req = VG_HTTP_REQUEST_INIT();
	size_t blen;
	int rc;

	if (!base || !*base)
		base = OPENAI_DEFAULT_BASE;
	if (!url_base_valid(base)) {
		st->svc->fail(st, "OPENAI_BASE_URL is not an http(s) URL");
		return VG_EINVAL;
	}
	if (key && *key) {
		if (strpbrk(key, "\r\n")) {
			st->svc->fail(st, "the API key contains a line break");
			return VG_EINVAL;
		}
		size_t alen = strlen(key) + 32;
		auth = malloc(alen);
		if (!auth)
			return VG_ENOMEM;
		snprintf(auth, alen, "Authorization: Bearer %s", key);
		hdrs[2] = auth;
	} else if (c->require_key) {
		st->svc->fail(st, "no API key: set %s (or %s_FILE), or require_key = false "
			      "for a local server", c->key_name, c->key_name);
		return VG_EINVAL;
	}
	blen = strlen(base);
	while (blen && base[blen - 1] == '/')
		blen--;
	snprintf(url, sizeof(url), "%.*s/chat/completions", (int)blen, base);
	req.method = "POST";
	req.url = url;
	req.headers = hdrs;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = c->timeout_s * 1000;
	req.max_attempts = (int)c->attempts;
	rc = st->svc->http(st, &req, resp, err, sizeof(err));
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	return model_http_result(st, rc, "the model server", c->timeout_s, err);
}

static int openai_run(void *instance, vg_stage *st)
{
	const openai_conf *c = instance;
	const char *model = st->model_id && *st->model_id ? st->model_id : st->model;
	char *system = NULL, *user = NULL, *body = NULL;
	const char *text, *finish;
	vg_http_response resp = { 0 };
	json_t *root = NULL, *choice;
	int rc;

	if (!model || !*model || strlen(model) > 256) {
		st->svc->fail(st, "no model id for this stage");
		return VG_EINVAL;
	}
	rc = model_prompt_render(st, c->prompt, c->system_tmpl, c->user_tmpl, &system, &user);
	if (rc != VG_OK)
		goto out;
	body = build_body(c, model, system, user);
	rc = body ? call_chat(c, st, body, &resp) : VG_ENOMEM;
	if (rc != VG_OK)
		goto out;
	if (resp.status != 200) {
		rc = explain_error(st, model, &resp);
		goto out;
	}
	root = json_loads(resp.body, 0, NULL);
	if (json_is_object(root)) {
		json_t *u = json_object_get(root, "usage");
		model_usage_record(st, "the model server", json_object_get(u, "prompt_tokens"),
				   json_object_get(u, "completion_tokens"),
				   json_object_get(json_object_get(u, "completion_tokens_details"),
						   "reasoning_tokens"));
	}
	choice = json_array_get(json_object_get(root, "choices"), 0);
	text = json_string_value(json_object_get(json_object_get(choice, "message"), "content"));
	finish = json_string_value(json_object_get(choice, "finish_reason"));
	if (!text || !*text) {
		st->svc->fail(st, "the model server answered without text for %s%s%s", model,
			      finish ? ", finish_reason " : "", finish ? finish : "");
		rc = VG_EFAIL;
		goto out;
	}
	rc = model_answer_write(st, c->output, text, finish && strcmp(finish, "length") == 0,
				c->max_tokens);
out:
	st->svc->http_free(&resp);
	json_decref(root);
	free(system);
	free(user);
	free(body);
	return rc;
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "openai",
	.kind = "model",
	.version = "1.0.0",
	.description = "OpenAI-compatible Chat Completions (OpenAI, Ollama, llama.cpp, vLLM)",
	.settings = openai_settings,
	.instance_size = sizeof(openai_conf),
	.init = openai_init,
	.run = openai_run,
	.fini = openai_fini,
};
