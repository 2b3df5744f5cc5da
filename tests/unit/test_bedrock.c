/*
 * Tests for plugins/bedrock against a fake services table: the Converse
 * request it builds (URL, signing, JSON), fence stripping for scripts, and
 * how each Bedrock error becomes a message and a status.
 */
/* The plugin first: cmocka defines a fail() macro that svc->fail would
 * trip over. */
#include "../../plugins/bedrock/bedrock.c"
#include "svc_mock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

static char prompt_path[] = "/tmp/vg_test_bedrock_prompt.XXXXXX";

static void write_prompt(const char *text)
{
	FILE *f = fopen(prompt_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Runs the plugin once with the scripted answers; returns its status. */
static int run_with(bedrock_conf *c, const char *output, vg_stage *st)
{
	char err[256] = "";
	int rc;

	mock_defaults(&vidgen_plugin, c);
	c->prompt = prompt_path;
	c->endpoint = "http://127.0.0.1:9";
	c->region = "eu-west-3";
	c->output = output;
	assert_int_equal(bedrock_init(c, err, sizeof(err)), VG_OK);
	rc = bedrock_run(c, st);
	bedrock_fini(c);
	return rc;
}

static int setup(void **state)
{
	int fd = mkstemp(prompt_path);
	(void)state;
	if (fd < 0)
		return -1;
	close(fd);
	write_prompt("[system]\nYou are a teacher.\n[user]\nExplain: {{question}}\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(prompt_path);
	mock_reset();
	return 0;
}

static void test_converse_request(void **state)
{
	bedrock_conf c;
	vg_stage st;
	vg_job_info job;
	json_t *body;

	(void)state;
	mock_reset();
	mock_answer_with(200, "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":"
			 "[{\"text\":\"Part one. \"},{\"text\":\"Part two.\"}]}},\"stopReason\":\"end_turn\"}",
			 NULL);
	mock_stage(&st, &job, "/tmp", "claude-4-sonnet", "eu.anthropic.claude-sonnet-4-20250514-v1:0",
		   NULL, 0);
	assert_int_equal(run_with(&c, "text", &st), VG_OK);
	assert_int_equal(mock.n_req, 1);
	assert_string_equal(mock.req[0].url, "http://127.0.0.1:9/model/"
			    "eu.anthropic.claude-sonnet-4-20250514-v1%3A0/converse");
	assert_string_equal(mock.req[0].method, "POST");
	assert_true(mock.req[0].signed_aws);
	assert_string_equal(mock.req[0].service, "bedrock");
	assert_string_equal(mock.req[0].region, "eu-west-3");
	assert_false(mock.req[0].s3_rules);
	assert_string_equal(mock_header(0, "Content-Type"), "application/json");
	body = json_loads(mock.req[0].body, 0, NULL);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
		json_array_get(json_object_get(body, "messages"), 0), "content"), 0), "text")),
		"Explain: {{question}}\n");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(body, "system"), 0), "text")), "You are a teacher.\n");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(body,
		"inferenceConfig"), "maxTokens")), 4000);
	assert_null(json_object_get(json_object_get(body, "inferenceConfig"), "temperature"));
	json_decref(body);
	assert_string_equal(mock.out_kind, "text");
	assert_string_equal(mock.out_data, "Part one. Part two.");
}

/* Converse's usage: the counts recorded exactly; hostile ones left out. */
static void test_usage_recorded(void **state)
{
	static const char *const answers[] = {
		"{\"output\":{\"message\":{\"content\":[{\"text\":\"Hi.\"}]}},"
		"\"usage\":{\"inputTokens\":1234,\"outputTokens\":567,\"totalTokens\":1801}}",
		"{\"output\":{\"message\":{\"content\":[{\"text\":\"Hi.\"}]}},"
		"\"usage\":{\"inputTokens\":-3,\"outputTokens\":1e40}}",
		"{\"output\":{\"message\":{\"content\":[{\"text\":\"Hi.\"}]}},"
		"\"usage\":{\"inputTokens\":\"12\",\"outputTokens\":7.5}}",
		"{\"output\":{\"message\":{\"content\":[{\"text\":\"Hi.\"}]}},\"usage\":[1,2]}",
	};
	bedrock_conf c;
	vg_stage st;
	vg_job_info job;

	(void)state;
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		mock_reset();
		mock_answer_with(200, answers[i], NULL);
		mock_stage(&st, &job, "/tmp", "claude-4-sonnet", "anthropic.claude", NULL, 0);
		assert_int_equal(run_with(&c, "text", &st), VG_OK);
		assert_int_equal(mock_usage("requests"), 1);
		assert_int_equal(mock_usage("input_tokens"), i == 0 ? 1234 : 0);
		assert_int_equal(mock_usage("output_tokens"), i == 0 ? 567 : 0);
		if (i == 1 || i == 2)
			assert_non_null(strstr(mock.logs, "ignored input_tokens"));
		if (i == 3)
			assert_non_null(strstr(mock.logs, "without token counts"));
	}
}

static void test_script_fences_stripped(void **state)
{
	bedrock_conf c;
	vg_stage st;
	vg_job_info job;

	(void)state;
	mock_reset();
	mock_answer_with(200, "{\"output\":{\"message\":{\"content\":[{\"text\":"
			 "\"Sure:\\n```python\\nfrom manim import *\\nx = 1\\n```\\nDone.\"}]}}}", NULL);
	mock_stage(&st, &job, "/tmp", "claude-4-sonnet", "m", NULL, 0);
	assert_int_equal(run_with(&c, "script", &st), VG_OK);
	assert_string_equal(mock.out_kind, "script");
	assert_string_equal(mock.out_name, "script.py");
	assert_string_equal(mock.out_data, "from manim import *\nx = 1\n");
}

typedef struct err_case {
	long status;
	const char *type_header;
	const char *message;
	int want_rc;
	const char *want_text;
} err_case;

static void test_errors_explained(void **state)
{
	static const err_case cases[] = {
		{ 403, "x-amzn-errortype: AccessDeniedException:http://internal.amazon.com/",
		  "You don't have access to the model with the specified model ID.", VG_EHTTP,
		  "Model access" },
		{ 403, "x-amzn-errortype: AccessDeniedException", "User is not authorized",
		  VG_EHTTP, "bedrock:InvokeModel" },
		{ 403, "x-amzn-errortype: InvalidSignatureException", "signature mismatch",
		  VG_EHTTP, "rejected the credentials" },
		{ 400, "x-amzn-errortype: ValidationException",
		  "Invocation of model ID x with on-demand throughput isn\u2019t supported.",
		  VG_EINVAL, "inference profile" },
		{ 400, "x-amzn-errortype: ValidationException", "maxTokens too big", VG_EINVAL,
		  "maxTokens too big" },
		{ 429, "x-amzn-errortype: ThrottlingException", "Too many requests", VG_EFAIL,
		  "throttling" },
		{ 503, "x-amzn-errortype: ServiceUnavailableException", "down", VG_EFAIL, "HTTP 503" },
		{ 404, "x-amzn-errortype: ResourceNotFoundException", "no such model", VG_EINVAL,
		  "not found" },
	};
	char body[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bedrock_conf c;
		vg_stage st;
		vg_job_info job;
		mock_reset();
		snprintf(body, sizeof(body), "{\"message\":\"%s\"}", cases[i].message);
		mock_answer_with(cases[i].status, body, cases[i].type_header);
		mock_stage(&st, &job, "/tmp", "claude-4-sonnet", "m", NULL, 0);
		assert_int_equal(run_with(&c, "text", &st), cases[i].want_rc);
		if (!strstr(mock.fail, cases[i].want_text))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, mock.fail, cases[i].want_text);
		assert_null(mock.out_data);
	}
}

static void test_transport_errors_retryable(void **state)
{
	bedrock_conf c;
	vg_stage st;
	vg_job_info job;

	(void)state;
	mock_reset();
	mock_answer_with(0, NULL, NULL);
	mock.answers[0].rc = VG_ETIMEDOUT;
	mock_stage(&st, &job, "/tmp", "claude-4-sonnet", "m", NULL, 0);
	assert_int_equal(run_with(&c, "text", &st), VG_EFAIL);
	assert_non_null(strstr(mock.fail, "did not answer within 170 s"));
}

static void test_bad_model_id_refused(void **state)
{
	bedrock_conf c;
	vg_stage st;
	vg_job_info job;

	(void)state;
	mock_reset();
	mock_stage(&st, &job, "/tmp", "claude-4-sonnet", "bad id?x=1", NULL, 0);
	assert_int_equal(run_with(&c, "text", &st), VG_EINVAL);
	assert_int_equal(mock.n_req, 0);
}

static void test_prompt_without_markers(void **state)
{
	char *sys = NULL, *user = NULL;

	(void)state;
	assert_int_equal(prompt_split("just a user prompt", &sys, &user), 0);
	assert_null(sys);
	assert_string_equal(user, "just a user prompt");
	free(user);
	char *s = prompt_strip_fences("no fences here");
	assert_string_equal(s, "no fences here");
	free(s);
	s = prompt_strip_fences("```\nunclosed\n");
	assert_string_equal(s, "unclosed\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_recorded),
		cmocka_unit_test(test_converse_request),
		cmocka_unit_test(test_script_fences_stripped),
		cmocka_unit_test(test_errors_explained),
		cmocka_unit_test(test_transport_errors_retryable),
		cmocka_unit_test(test_bad_model_id_refused),
		cmocka_unit_test(test_prompt_without_markers),
	};
	return cmocka_run_group_tests_name("bedrock", tests, setup, teardown);
}
