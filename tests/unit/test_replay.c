/*
 * Unit tests for the replay plugin against the fake services table
 * (svc_mock.h): its settings through the engine and init(), matching the
 * question whatever its case, spacing and punctuation, per-attempt answers
 * for retries and repairs, the output kind and file name, the call log, a
 * delay that cancellation cuts short, and the errors that name what is
 * missing.
 */
/* The plugin first: cmocka defines a fail() macro that would rewrite its
 * svc->fail calls. */
#include "../../plugins/replay/replay.c"
#include "svc_mock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util.h"

static char root[64];
static char answers[128];

static void put(const char *rel, const char *text)
{
	char *p = util_path_join(answers, rel);
	char *slash = strrchr(p, '/');

	*slash = '\0';
	assert_int_equal(util_mkdir_p(p, 0755), 0);
	*slash = '/';
	assert_int_equal(util_write_file_atomic(p, text, strlen(text)), 0);
	free(p);
}

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/test_replay.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(answers, sizeof(answers), "%s/answers", root);
	put("pythagoras/question.txt", "Explain the Pythagorean theorem with visual proof\n");
	put("pythagoras/explain.txt", "a^2 + b^2 = c^2");
	put("pythagoras/explain.1.txt", "second try");
	put("pythagoras/script.txt", "from manim import *\n");
	put("other/question.txt", "Why is the sky blue?");
	put("other/explain.txt", "Rayleigh");
	mock_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	util_rm_rf(root);
	mock_reset();
	return 0;
}

/* An instance with dir = the answers folder and the given settings. */
static plugin_inst *make(const char *a, const char *b)
{
	char dir[160];
	const char *v[4] = { dir, a, b, NULL };

	snprintf(dir, sizeof(dir), "dir=%s", answers);
	return mock_instance(&vidgen_plugin, v);
}

static int run_stage(plugin_inst *pi, const char *id, const char *question, int attempt)
{
	vg_stage st;
	vg_job_info job;

	mock_stage(&st, &job, root, "m", "m", NULL, 0);
	st.id = id;
	st.attempt = attempt;
	if (question)
		job.question = question;
	return replay_run(pi->data, &st);
}

static void test_settings(void **state)
{
	plugin_inst *pi;

	(void)state;
	assert_null(mock_instance(&vidgen_plugin, NULL));
	assert_non_null(strstr(mock.fail, "needs setting \"dir\""));
	assert_null(mock_instance(&vidgen_plugin, (const char *[]){ "dir=/nonexistent/x", NULL }));
	assert_non_null(strstr(mock.fail, "answers folder /nonexistent/x"));
	assert_null(make("answer=../etc", NULL));
	assert_non_null(strstr(mock.fail, "may use only letters, digits"));
	assert_null(make("kind=video", NULL));
	assert_non_null(strstr(mock.fail, "must be one of text|script"));
	pi = make(NULL, NULL);
	assert_non_null(pi);
	assert_string_equal(((replay_conf *)pi->data)->kind, "text");
	assert_int_equal(((replay_conf *)pi->data)->delay_ms, 0);
	mock_release(pi);
}

static void test_plays_the_matching_answer(void **state)
{
	plugin_inst *pi = make(NULL, NULL);

	(void)state;
	/* Case, spacing and punctuation do not matter. */
	assert_int_equal(run_stage(pi, "explain", "  EXPLAIN the pythagorean theorem, "
				   "with visual proof!", 0), VG_OK);
	assert_string_equal(mock.out_kind, "text");
	assert_string_equal(mock.out_name, "output.txt");
	assert_string_equal(mock.out_data, "a^2 + b^2 = c^2");
	assert_int_equal(run_stage(pi, "explain", "Why is the sky blue", 0), VG_OK);
	assert_string_equal(mock.out_data, "Rayleigh");
	/* A retry plays <stem>.<attempt>.txt when there is one, else the first. */
	assert_int_equal(run_stage(pi, "explain", NULL, 1), VG_OK);
	assert_string_equal(mock.out_data, "second try");
	assert_int_equal(run_stage(pi, "explain", NULL, 2), VG_OK);
	assert_string_equal(mock.out_data, "a^2 + b^2 = c^2");
	mock_release(pi);

	pi = make("answer=script", "kind=script");
	assert_int_equal(run_stage(pi, "validate", NULL, 0), VG_OK);
	assert_string_equal(mock.out_kind, "script");
	assert_string_equal(mock.out_name, "script.py");
	assert_string_equal(mock.out_data, "from manim import *\n");
	mock_release(pi);
}

static void test_missing_answers(void **state)
{
	plugin_inst *pi = make(NULL, NULL);

	(void)state;
	assert_int_equal(run_stage(pi, "explain", "What is a monad?", 0), VG_EINVAL);
	assert_non_null(strstr(mock.fail, "no recorded answer for the question \"What is a "
			       "monad?\""));
	assert_non_null(strstr(mock.fail, answers));
	assert_int_equal(run_stage(pi, "refine", NULL, 0), VG_EINVAL);
	assert_non_null(strstr(mock.fail, "no recorded answer refine.txt for stage \"refine\""));
	mock_release(pi);
}

static void test_call_log(void **state)
{
	char log[160], opt[200], *text = NULL;
	plugin_inst *pi;

	(void)state;
	snprintf(log, sizeof(log), "%s/calls.log", root);
	snprintf(opt, sizeof(opt), "log=%s", log);
	pi = make(opt, NULL);
	assert_int_equal(run_stage(pi, "explain", NULL, 0), VG_OK);
	assert_int_equal(run_stage(pi, "explain", NULL, 1), VG_OK);
	assert_int_equal(util_read_file(log, 4096, &text, NULL, NULL, 0), 0);
	assert_string_equal(text, "explain\t0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12\t0\n"
			    "explain\t0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12\t1\n");
	free(text);
	mock_release(pi);
}

static void test_delay_and_cancel(void **state)
{
	plugin_inst *pi = make("delay_ms=120", NULL);
	long long t0;

	(void)state;
	assert_int_equal(run_stage(pi, "explain", NULL, 0), VG_OK);
	assert_true(mock.n_progress > 0);
	assert_true(mock.progress[mock.n_progress - 1] > 0.99);
	mock_release(pi);
	/* A long delay ends at once when the job is cancelled. */
	pi = make("delay_ms=600000", NULL);
	mock.cancelled = 1;
	t0 = util_now_ms();
	assert_int_equal(run_stage(pi, "explain", NULL, 0), VG_ECANCELED);
	assert_true(util_now_ms() - t0 < 5000);
	mock_release(pi);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plays_the_matching_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay_and_cancel, setup, teardown),
	};
	return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
