/* libFuzzer: the Bedrock plugin reading a Converse answer (answer.h), as a
 * text and as a script (fences stripped). */
#include "../../plugins/bedrock/bedrock.c"
#include "svc_mock.h"
#include "answer.h"

ANSWER_DEFAULTS(bedrock_conf)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = answer_from_input(data, size), err[256];
	bedrock_conf c;
	vg_stage st;
	vg_job_info job;

	if (body == NULL)
		return 0;
	c = *answer_defaults();
	c.prompt = answer_prompt();
	c.endpoint = "http://127.0.0.1:9";
	c.region = "eu-west-3";
	c.output = (data[0] & 0x80) ? "script" : "text";
	if (bedrock_init(&c, err, sizeof(err)) == VG_OK) {
		mock_stage(&st, &job, "/tmp", "claude-4-sonnet", "m", NULL, 0);
		bedrock_run(&c, &st);
		bedrock_fini(&c);
	}
	free(body);
	mock_reset();
	return 0;
}
