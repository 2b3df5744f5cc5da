/*
 * Tests for plugins/openai against a fake services table: GPT-5 rules
 * (max_completion_tokens, no temperature, reasoning_effort), other models'
 * parameters, the key (required or not, never in messages), base_url, and
 * OpenAI's error objects.
 */
/* The plugin first: cmocka defines a fail() macro. */
#include "../../plugins/openai/openai.c"
#include "svc_mock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

static char prompt_path[] = "/tmp/vg_test_openai_prompt.XXXXXX";
#define OK_ANSWER "{\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"message\":" \
	"{\"role\":\"assistant\",\"content\":\"Refined text.\"}}]}"

static int setup(void **state)
{
	int fd = mkstemp(prompt_path);
	(void)state;
	if (fd < 0 || write(fd, "[system]\nEdit.\n[user]\n{{input}}\n", 32) != 32)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(prompt_path);
	mock_reset();
	return 0;
}

static int run_openai(openai_conf *c, const char *model_id, const char *base)
{
	vg_stage st;
	vg_job_info job;
	char err[256] = "";
	int rc;

	c->prompt = prompt_path;
	c->base_url = base;
	assert_int_equal(openai_init(c, err, sizeof(err)), VG_OK);
	mock_stage(&st, &job, "/tmp", "gpt-5", model_id, NULL, 0);
	rc = openai_run(c, &st);
	openai_fini(c);
	return rc;
}

static void test_gpt5_rules(void **state)
{
	openai_conf c;
	json_t *b;

	(void)state;
	mock_reset();
	mock.secrets[0][0] = "OPENAI_API_KEY";
	mock.secrets[0][1] = "sk-test-123";
	mock_answer_with(200, OK_ANSWER, NULL);
	mock_defaults(&vidgen_plugin, &c);
	c.temperature = 0.7;
	c.reasoning_effort = "low";
	assert_int_equal(run_openai(&c, "gpt-5", ""), VG_OK);
	assert_string_equal(mock.req[0].url, "https://api.openai.com/v1/chat/completions");
	assert_false(mock.req[0].signed_aws);
	assert_string_equal(mock_header(0, "Authorization"), "Bearer sk-test-123");
	b = json_loads(mock.req[0].body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(b, "model")), "gpt-5");
	assert_int_equal(json_integer_value(json_object_get(b, "max_completion_tokens")), 8000);
	assert_null(json_object_get(b, "max_tokens"));
	assert_null(json_object_get(b, "temperature"));
	assert_string_equal(json_string_value(json_object_get(b, "reasoning_effort")), "low");
	json_t *m = json_object_get(b, "messages");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")), "system");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "content")),
			    "{{input}}\n");
	json_decref(b);
	assert_string_equal(mock.out_data, "Refined text.");
}

static void test_local_server_rules(void **state)
{
	openai_conf c;
	json_t *b;

	(void)state;
	mock_reset();
	mock_answer_with(200, OK_ANSWER, NULL);
	mock_defaults(&vidgen_plugin, &c);
	c.require_key = 0;
	c.temperature = 0.3;
	assert_int_equal(run_openai(&c, "llama3.1:8b", "http://127.0.0.1:11434/v1/"), VG_OK);
	assert_string_equal(mock.req[0].url, "http://127.0.0.1:11434/v1/chat/completions");
	assert_null(mock_header(0, "Authorization"));
	b = json_loads(mock.req[0].body, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 8000);
	assert_float_equal(json_real_value(json_object_get(b, "temperature")), 0.3, 1e-9);
	assert_null(json_object_get(b, "reasoning_effort"));
	json_decref(b);
}

static void test_key_required(void **state)
{
	openai_conf c;

	(void)state;
	mock_reset();
	mock_defaults(&vidgen_plugin, &c);
	assert_int_equal(run_openai(&c, "gpt-5", ""), VG_EINVAL);
	assert_non_null(strstr(mock.fail, "OPENAI_API_KEY"));
	assert_int_equal(mock.n_req, 0);
}

static void test_errors(void **state)
{
	static const struct { long status; const char *body; int rc; const char *text; } cases[] = {
		{ 401, "{\"error\":{\"message\":\"Incorrect API key provided: sk-test***123.\","
		  "\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}", VG_EINVAL,
		  "rejected the API key" },
		{ 429, "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":"
		  "\"insufficient_quota\",\"code\":\"insufficient_quota\"}}", VG_EINVAL, "no quota" },
		{ 429, "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
		  "\"code\":\"rate_limit_exceeded\"}}", VG_EFAIL, "rate limiting" },
		{ 404, "{\"error\":{\"message\":\"The model does not exist\",\"code\":"
		  "\"model_not_found\"}}", VG_EINVAL, "not available" },
		{ 400, "{\"error\":{\"message\":\"Unsupported parameter: 'temperature'\",\"code\":"
		  "\"unsupported_parameter\"}}", VG_EINVAL, "Unsupported parameter" },
		{ 500, "{\"error\":{\"message\":\"boom\"}}", VG_EFAIL, "HTTP 500" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		openai_conf c;
		mock_reset();
		mock.secrets[0][0] = "OPENAI_API_KEY";
		mock.secrets[0][1] = "sk-test-123";
		mock_answer_with(cases[i].status, cases[i].body, NULL);
		mock_defaults(&vidgen_plugin, &c);
		assert_int_equal(run_openai(&c, "gpt-5", ""), cases[i].rc);
		if (!strstr(mock.fail, cases[i].text))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, mock.fail, cases[i].text);
		assert_null(strstr(mock.fail, "sk-test-123"));
	}
}

/* Chat Completions' usage, reasoning tokens included; hostile values out. */
static void test_usage_recorded(void **state)
{
	openai_conf c;

	(void)state;
	mock_reset();
	mock.secrets[0][0] = "OPENAI_API_KEY";
	mock.secrets[0][1] = "sk-test-123";
	mock_answer_with(200, "{\"choices\":[{\"message\":{\"content\":\"Refined.\"},"
			 "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":321,"
			 "\"completion_tokens\":654,\"completion_tokens_details\":"
			 "{\"reasoning_tokens\":128}}}", NULL);
	mock_defaults(&vidgen_plugin, &c);
	assert_int_equal(run_openai(&c, "gpt-5", ""), VG_OK);
	assert_int_equal(mock_usage("input_tokens"), 321);
	assert_int_equal(mock_usage("output_tokens"), 654);
	assert_int_equal(mock_usage("reasoning_tokens"), 128);
	assert_int_equal(mock_usage("requests"), 1);

	mock_reset();
	mock.secrets[0][0] = "OPENAI_API_KEY";
	mock.secrets[0][1] = "sk-test-123";
	mock_answer_with(200, "{\"choices\":[{\"message\":{\"content\":\"Refined.\"}}],"
			 "\"usage\":{\"prompt_tokens\":true,\"completion_tokens\":-1,"
			 "\"completion_tokens_details\":{\"reasoning_tokens\":1e13}}}", NULL);
	mock_defaults(&vidgen_plugin, &c);
	assert_int_equal(run_openai(&c, "gpt-5", ""), VG_OK);
	assert_int_equal(mock.usage.n, 1); /* requests only */
	assert_non_null(strstr(mock.logs, "ignored reasoning_tokens"));
}

static void test_reasoning_models(void **state)
{
	(void)state;
	assert_true(is_reasoning_model("gpt-5"));
	assert_true(is_reasoning_model("gpt-5-mini"));
	assert_true(is_reasoning_model("o3-mini"));
	assert_false(is_reasoning_model("gpt-4o"));
	assert_false(is_reasoning_model("llama3.1:8b"));
	assert_false(is_reasoning_model("olmo"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gpt5_rules),
		cmocka_unit_test(test_local_server_rules),
		cmocka_unit_test(test_key_required),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_reasoning_models),
		cmocka_unit_test(test_usage_recorded),
	};
	return cmocka_run_group_tests_name("openai", tests, setup, teardown);
}
