/*
 * Unit tests of the OpenAPI document the daemon serves (core/serve/openapi.c):
 * the embedded doc/openapi.yaml, completed with a pipeline's models and
 * voices and with the security its API keys call for. schemathesis runs
 * against the served document in tests/e2e/serve_openapi.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "serve/openapi.h"

static plugin_registry *reg;
static char *dir;

#define PIPE \
	"name = \"t\";\n" \
	"voices = [\"Ruth\", \"Stephen\"];\n" \
	"%s" \
	"models = ( { name = \"m-one\"; id = \"x\"; },\n" \
	"           { name = \"m-fixed\"; id = \"y\"; selectable = false; },\n" \
	"           { name = \"m-two\"; id = \"z\"; } );\n" \
	"stages = ( { id = \"a\"; plugin = \"replay\"; inputs = [\"question\"];\n" \
	"             settings = { dir = \"answers\"; }; } );\n"

static int group_setup(void **state)
{
	(void)state;
	reg = th_registry();
	dir = th_tmpdir();
	free(th_write(dir, "answers/q/question.txt", "What?"));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	registry_free(reg);
	th_rmdir(dir);
	return 0;
}

/* The served document for PIPE with default_line, parsed. */
static json_t *served(const char *default_line, int keys)
{
	char text[2048], err[1024] = "";
	size_t len = 0;

	snprintf(text, sizeof(text), PIPE, default_line);
	pipeline *p = th_pipeline(reg, dir, "p.cfg", text, err, sizeof(err), NULL);
	if (!p)
		fail_msg("pipeline: %s", err);
	char *doc = openapi_document(p, keys, &len, err, sizeof(err));
	pipeline_free(p);
	if (!doc)
		fail_msg("openapi_document: %s", err);
	assert_int_equal(len, strlen(doc));
	json_t *root = json_loads(doc, 0, NULL);
	free(doc);
	assert_non_null(root);
	return root;
}

/* The JSON text of the value at a /-separated path under root. */
static char *at(json_t *root, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *v = root;
	for (char *k = strtok(buf, "/"); k && v; k = strtok(NULL, "/"))
		v = json_object_get(v, k);
	return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

static void expect(json_t *root, const char *path, const char *want)
{
	char *got = at(root, path);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s is %s, not %s", path, got ? got : "(absent)", want);
	free(got);
}

static void test_embedded(void **state)
{
	(void)state;
	/* The build's JSON of doc/openapi.yaml, whole. */
	assert_int_equal(strlen(openapi_spec_json), openapi_spec_json_len);
	json_t *root = json_loadb(openapi_spec_json, openapi_spec_json_len, 0, NULL);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "openapi")), "3.1.0");
	assert_non_null(json_object_get(json_object_get(root, "paths"), "/api/v1/openapi.json"));
	json_decref(root);
}

static void test_pipeline_filled_in(void **state)
{
	(void)state;
	json_t *root = served("default_voice = \"Stephen\";\n", 1);
	const char *req = "components/schemas/VideoRequest/properties";
	char path[256];

	/* The selectable models only, in the pipeline's order. */
	snprintf(path, sizeof(path), "%s/model/enum", req);
	expect(root, path, "[\"m-one\",\"m-two\"]");
	snprintf(path, sizeof(path), "%s/voice/enum", req);
	expect(root, path, "[\"Ruth\",\"Stephen\"]");
	snprintf(path, sizeof(path), "%s/voice/default", req);
	expect(root, path, "\"Stephen\"");
	expect(root, "components/schemas/Config/properties/models/const", "[\"m-one\",\"m-two\"]");
	expect(root, "components/schemas/Config/properties/voices/const", "[\"Ruth\",\"Stephen\"]");
	expect(root, "info/version", "\"" PACKAGE_VERSION "\"");
	/* Keys: create and cancel ask for one. */
	json_t *paths = json_object_get(root, "paths");
	json_t *create = json_object_get(json_object_get(paths, "/api/v1/videos"), "post");
	json_t *cancel = json_object_get(json_object_get(paths, "/api/v1/videos/{video_id}"),
					 "delete");
	char *a = json_dumps(json_object_get(create, "security"), JSON_COMPACT);
	char *b = json_dumps(json_object_get(cancel, "security"), JSON_COMPACT);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a, "[{\"bearerAuth\":[]}]");
	assert_string_equal(b, a);
	free(a);
	free(b);
	json_decref(root);
}

static void test_default_voice_and_no_keys(void **state)
{
	(void)state;
	json_t *root = served("", 0);

	/* No default_voice: the pipeline's first voice, as a create takes. */
	expect(root, "components/schemas/VideoRequest/properties/voice/default", "\"Ruth\"");
	/* No keys: no operation asks for one. */
	json_t *paths = json_object_get(root, "paths"), *item, *op;
	const char *p, *m;
	int ops = 0;
	json_object_foreach(paths, p, item) {
		json_object_foreach(item, m, op) {
			if (!json_is_object(op))
				continue;
			ops++;
			if (json_object_get(op, "security"))
				fail_msg("%s %s still asks for a key", m, p);
		}
	}
	assert_true(ops >= 18);
	json_decref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded),
		cmocka_unit_test(test_pipeline_filled_in),
		cmocka_unit_test(test_default_voice_and_no_keys),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
