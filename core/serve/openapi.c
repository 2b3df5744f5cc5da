/*
 * The OpenAPI document a daemon serves (openapi.h): the one the build
 * embedded from doc/openapi.yaml, with the loaded pipeline's models, voices
 * and default voice, and the security the daemon's keys call for.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "openapi.h"
#include "util.h"

/* The object at a path of keys under root, or NULL. */
static json_t *doc_at(json_t *root, const char *const *keys)
{
	for (; root && *keys; keys++)
		root = json_object_get(root, *keys);
	return json_is_object(root) ? root : NULL;
}

/* The pipeline's selectable models (what GET /api/v1/config lists). */
static json_t *doc_models(const pipeline *p)
{
	json_t *a = json_array();
	for (size_t i = 0; i < p->n_models; i++)
		if (p->models[i].selectable)
			json_array_append_new(a, json_string(p->models[i].name));
	return a;
}

static json_t *doc_voices(const pipeline *p)
{
	json_t *a = json_array();
	for (size_t i = 0; i < p->n_voices; i++)
		json_array_append_new(a, json_string(p->voices[i]));
	return a;
}

/* Create and cancel ask for no key: drop their security requirement. */
static void doc_open_security(json_t *root)
{
	json_t *paths = json_object_get(root, "paths"), *item, *op;
	const char *path, *method;

	json_object_foreach(paths, path, item) {
		json_object_foreach(item, method, op) {
			if (json_is_object(op))
				json_object_del(op, "security");
		}
	}
}

char *openapi_document(const pipeline *p, int keys_required, size_t *len,
		       char *err, size_t errlen)
{
	static const char *const request[] = { "components", "schemas", "VideoRequest",
					       "properties", NULL };
	static const char *const config[] = { "components", "schemas", "Config", "properties",
					      NULL };
	static const char *const info[] = { "info", NULL };
	json_error_t jerr;
	char *out = NULL;

	json_t *root = json_loadb(openapi_spec_json, openapi_spec_json_len, 0, &jerr);
	if (!root) {
		util_errf(err, errlen, "the embedded OpenAPI document: %s", jerr.text);
		return NULL;
	}
	json_t *req = doc_at(root, request), *cfg = doc_at(root, config);
	json_t *model = req ? doc_at(req, (const char *const[]){ "model", NULL }) : NULL;
	json_t *voice = req ? doc_at(req, (const char *const[]){ "voice", NULL }) : NULL;
	json_t *models = cfg ? doc_at(cfg, (const char *const[]){ "models", NULL }) : NULL;
	json_t *voices = cfg ? doc_at(cfg, (const char *const[]){ "voices", NULL }) : NULL;
	json_t *inf = doc_at(root, info);
	if (!model || !voice || !models || !voices || !inf) {
		util_errf(err, errlen, "the embedded OpenAPI document has no VideoRequest "
			  "model/voice, Config models/voices or info");
		goto out;
	}
	json_object_set_new(model, "enum", doc_models(p));
	json_object_set_new(voice, "enum", doc_voices(p));
	json_object_set_new(voice, "default",
			    json_string(p->default_voice ? p->default_voice : "Joanna"));
	json_object_set_new(models, "const", doc_models(p));
	json_object_set_new(voices, "const", doc_voices(p));
	json_object_set_new(inf, "version", json_string(PACKAGE_VERSION));
	if (!keys_required)
		doc_open_security(root);
	out = json_dumps(root, JSON_COMPACT);
	if (!out)
		util_errf(err, errlen, "cannot serialize the OpenAPI document");
	else
		*len = strlen(out);
out:
	json_decref(root);
	return out;
}
