/* libFuzzer: the S3 plugin reading S3's answers to an upload (answer.h),
 * XML errors included. */
#include "../../plugins/s3/s3.c"
#include "svc_mock.h"
#include "answer.h"

ANSWER_DEFAULTS(s3_conf)

static char video[] = "/tmp/vg_fuzz_s3.XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	int fd = mkstemp(video);
	if (fd < 0 || write(fd, "not really a video", 18) != 18)
		return -1;
	close(fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vg_artifact in[2] = {
		{ .from = "render", .kind = "video", .path = video },
		{ .from = "explain", .kind = "text", .data = "Text.", .len = 5 },
	};
	char *body = answer_from_input(data, size), err[256];
	s3_conf c;
	vg_stage st;
	vg_job_info job;

	if (body == NULL)
		return 0;
	c = *answer_defaults();
	c.bucket = "fuzz-bucket";
	c.endpoint = "http://127.0.0.1:9000/";
	c.path_style = 1;
	c.region = "eu-west-3";
	if (s3_init(&c, err, sizeof(err)) == VG_OK) {
		mock_stage(&st, &job, "/tmp", "claude-4-sonnet", "m", in, 2);
		s3_run(&c, &st);
	}
	free(body);
	mock_reset();
	return 0;
}
