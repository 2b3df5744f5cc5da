/* libFuzzer: the renderer reading a narration file (plugins/manim/manim.c,
 * stage_narration: the JSON list of audio segments that the narration
 * stage wrote and the render copies). */
#include "../../plugins/manim/manim.c"
#include "svc_mock.h"

#include <stdint.h>

static char dir[] = "/tmp/vg_fuzz_narration.XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[PATH_MAX];
	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		return -1;
	/* One audio file the input may name. */
	snprintf(path, sizeof path, "%s/seg0001.mp3", dir);
	return write_text(path, "ID3", 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	render_ctx x;
	vg_artifact nar = { .from = "narrate", .kind = "narration" };
	char path[PATH_MAX], work[PATH_MAX], err[512];

	snprintf(path, sizeof path, "%s/narration.json", dir);
	if (write_text(path, (const char *)data, size) != 0)
		abort();
	snprintf(work, sizeof work, "%s/work", dir);
	nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(work, 0755) != 0)
		abort();
	memset(&x, 0, sizeof x);
	snprintf(x.work, sizeof x.work, "%s", work);
	nar.path = path;
	stage_narration(&x, &nar, err, sizeof err);
	return 0;
}
