/* libFuzzer: the Polly plugin reading SynthesizeSpeech answers (answer.h):
 * the audio it measures (MP3 frames) and the JSON errors. */
#include "../../plugins/polly/polly.c"
#include "svc_mock.h"
#include "answer.h"

ANSWER_DEFAULTS(polly_conf)

static char dir[] = "/tmp/vg_fuzz_polly.XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return mkdtemp(dir) ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char text[] = "First sentence here. A second one!";
	vg_artifact in = { .from = "explain", .kind = "text", .data = text, .len = sizeof text - 1 };
	char *body = answer_from_input(data, size), err[256];
	polly_conf c;
	vg_stage st;
	vg_job_info job;

	if (body == NULL)
		return 0;
	c = *answer_defaults();
	c.endpoint = "http://127.0.0.1:9";
	if (polly_init(&c, err, sizeof(err)) == VG_OK) {
		mock_stage(&st, &job, dir, "claude-4-sonnet", "m", &in, 1);
		job.voice = "Ruth";
		polly_run(&c, &st);
	}
	free(body);
	mock_reset();
	return 0;
}
