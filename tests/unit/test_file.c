/*
 * Unit tests for the file plugin against the fake services table
 * (svc_mock.h): the video is stored as <job id>.mp4 in its folder (made when
 * missing, videos/ beside the job folders by default), the answer is the
 * path or base_url + name (one slash between them, ${VIDGEN_MEDIA_URL}
 * honoured), the copy it falls back to leaves no partial file, a stage
 * without a video input is refused, and the captions and poster beside the
 * video are kept beside the stored one and reported with svc->output_link.
 */
/* The plugin first: cmocka defines a fail() macro that would rewrite its
 * svc->fail calls. */
#include "../../plugins/file/file.c"
#include "svc_mock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util.h"

#define JOB_ID "0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12"

static char root[64];
static char job_dir[128];
static char video[192];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/test_file.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(job_dir, sizeof(job_dir), "%s/jobs/" JOB_ID, root);
	snprintf(video, sizeof(video), "%s/video.mp4", job_dir);
	if (util_mkdir_p(job_dir, 0755) < 0 ||
	    util_write_file_atomic(video, "not really a video", 18) < 0)
		return -1;
	mock_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	util_rm_rf(root);
	unsetenv("VIDGEN_MEDIA_URL");
	mock_reset();
	return 0;
}

static int store(plugin_inst *pi, int with_video)
{
	vg_artifact in = { .from = "render", .kind = "video", .path = video };
	vg_stage st;
	vg_job_info job;

	mock_stage(&st, &job, job_dir, "m", "m", with_video ? &in : NULL, with_video);
	job.job_dir = job_dir;
	return file_run(pi->data, &st);
}

static void expect_stored(const char *path)
{
	char *text = NULL;

	assert_int_equal(util_read_file(path, 1024, &text, NULL, NULL, 0), 0);
	assert_string_equal(text, "not really a video");
	free(text);
}

static void test_default_folder_and_path(void **state)
{
	plugin_inst *pi = mock_instance(&vidgen_plugin, NULL);
	char want[256];

	(void)state;
	assert_non_null(pi);
	assert_int_equal(store(pi, 1), VG_OK);
	snprintf(want, sizeof(want), "%s/jobs/videos/" JOB_ID ".mp4", root);
	assert_string_equal(mock.out_kind, "url");
	assert_string_equal(mock.out_data, want);
	expect_stored(want);
	/* Storing again replaces the file. */
	assert_int_equal(store(pi, 1), VG_OK);
	expect_stored(want);
	mock_release(pi);
}

static void test_folder_and_base_url(void **state)
{
	char dir[160], opt[200], want[256];
	plugin_inst *pi;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/deep/er/videos", root);
	snprintf(opt, sizeof(opt), "dir=%s", dir);
	pi = mock_instance(&vidgen_plugin, (const char *[]){ opt, "base_url=/media", NULL });
	assert_int_equal(store(pi, 1), VG_OK);
	assert_string_equal(mock.out_data, "/media/" JOB_ID ".mp4");
	snprintf(want, sizeof(want), "%s/" JOB_ID ".mp4", dir);
	expect_stored(want);
	mock_release(pi);
	pi = mock_instance(&vidgen_plugin, (const char *[]){ opt, "base_url=https://cdn/x/",
							     NULL });
	assert_int_equal(store(pi, 1), VG_OK);
	assert_string_equal(mock.out_data, "https://cdn/x/" JOB_ID ".mp4");
	mock_release(pi);
	/* The default base_url is ${VIDGEN_MEDIA_URL:-}. */
	setenv("VIDGEN_MEDIA_URL", "/m/", 1);
	pi = mock_instance(&vidgen_plugin, (const char *[]){ opt, NULL });
	assert_int_equal(store(pi, 1), VG_OK);
	assert_string_equal(mock.out_data, "/m/" JOB_ID ".mp4");
	mock_release(pi);
}

static void test_errors(void **state)
{
	char opt[200];
	plugin_inst *pi = mock_instance(&vidgen_plugin, NULL);

	(void)state;
	assert_int_equal(store(pi, 0), VG_EINVAL);
	assert_non_null(strstr(mock.fail, "has no video input to store"));
	mock_release(pi);
	/* A folder that cannot be made (a file is in the way of its parent),
	 * and one that is a file: the message names the path and why. */
	snprintf(opt, sizeof(opt), "dir=%s/sub", video);
	pi = mock_instance(&vidgen_plugin, (const char *[]){ opt, NULL });
	assert_int_equal(store(pi, 1), VG_EIO);
	assert_non_null(strstr(mock.fail, "cannot create the video folder"));
	assert_non_null(strstr(mock.fail, "video.mp4/sub"));
	mock_release(pi);
	snprintf(opt, sizeof(opt), "dir=%s", video);
	pi = mock_instance(&vidgen_plugin, (const char *[]){ opt, NULL });
	assert_int_equal(store(pi, 1), VG_EIO);
	assert_non_null(strstr(mock.fail, "cannot store the video as"));
	assert_non_null(strstr(mock.fail, "Not a directory"));
	mock_release(pi);
}

/* The render's video.vtt, video.srt, video.jpg, video.thumb.jpg go beside
 * <id>.mp4 as <id>.vtt, ... and their URLs to the core; one the render did
 * not leave the next time is removed, and a folder of that name is no
 * companion. */
static void test_companions(void **state)
{
	static const char *const suffix[] = { ".vtt", ".srt", ".jpg", ".thumb.jpg" };
	static const char *const field[] = { "captions_url", "captions_srt_url", "poster_url",
					     "thumbnail_url" };
	char from[256], want[256];
	plugin_inst *pi = mock_instance(&vidgen_plugin, (const char *[]){ "base_url=/media/",
									  NULL });

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(from, sizeof(from), "%s/video%s", job_dir, suffix[i]);
		assert_int_equal(util_write_file_atomic(from, suffix[i], strlen(suffix[i])), 0);
	}
	assert_int_equal(store(pi, 1), VG_OK);
	assert_int_equal(mock.n_links, 4);
	for (int i = 0; i < 4; i++) {
		char *text = NULL;
		assert_string_equal(mock.links[i][0], field[i]);
		snprintf(want, sizeof(want), "/media/" JOB_ID "%s", suffix[i]);
		assert_string_equal(mock.links[i][1], want);
		snprintf(want, sizeof(want), "%s/jobs/videos/" JOB_ID "%s", root, suffix[i]);
		assert_int_equal(util_read_file(want, 64, &text, NULL, NULL, 0), 0);
		assert_string_equal(text, suffix[i]);
		free(text);
	}
	/* The next render left no SRT and a folder where the poster was. */
	snprintf(from, sizeof(from), "%s/video.srt", job_dir);
	unlink(from);
	snprintf(from, sizeof(from), "%s/video.jpg", job_dir);
	unlink(from);
	assert_int_equal(mkdir(from, 0755), 0);
	mock.n_links = 0;
	assert_int_equal(store(pi, 1), VG_OK);
	assert_int_equal(mock.n_links, 2);
	assert_string_equal(mock.links[0][0], "captions_url");
	assert_string_equal(mock.links[1][0], "thumbnail_url");
	snprintf(want, sizeof(want), "%s/jobs/videos/" JOB_ID ".srt", root);
	assert_int_not_equal(access(want, F_OK), 0);
	snprintf(want, sizeof(want), "%s/jobs/videos/" JOB_ID ".jpg", root);
	assert_int_not_equal(access(want, F_OK), 0);
	mock_release(pi);
}

/* The copy used across file systems: same bytes, no .part left behind, and
 * a missing source leaves nothing. */
static void test_copy_file(void **state)
{
	char to[256], part[264];

	(void)state;
	snprintf(to, sizeof(to), "%s/copy.mp4", root);
	snprintf(part, sizeof(part), "%s.part", to);
	assert_int_equal(copy_file(video, to), 0);
	expect_stored(to);
	assert_int_not_equal(access(part, F_OK), 0);
	assert_int_equal(copy_file("/nonexistent/v.mp4", part), -1);
	assert_int_not_equal(access(part, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_folder_and_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_and_base_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_companions, setup, teardown),
	};
	return cmocka_run_group_tests_name("file", tests, NULL, NULL);
}
