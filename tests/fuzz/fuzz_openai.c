/* libFuzzer: the OpenAI plugin reading a chat-completions answer (answer.h). */
#include "../../plugins/openai/openai.c"
#include "svc_mock.h"
#include "answer.h"

ANSWER_DEFAULTS(openai_conf)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = answer_from_input(data, size), err[256];
	openai_conf c;
	vg_stage st;
	vg_job_info job;

	if (body == NULL)
		return 0;
	mock.secrets[0][0] = "OPENAI_API_KEY";
	mock.secrets[0][1] = "sk-fuzz";
	c = *answer_defaults();
	c.prompt = answer_prompt();
	c.base_url = "";
	if (openai_init(&c, err, sizeof(err)) == VG_OK) {
		mock_stage(&st, &job, "/tmp", "gpt-5", "gpt-5", NULL, 0);
		openai_run(&c, &st);
		openai_fini(&c);
	}
	free(body);
	mock_reset();
	return 0;
}
