/*
 * Unit tests for core/services.c, the table plugins call: prompt templates,
 * secrets (NAME or NAME_FILE, wiped after the stage), progress clamping,
 * cancellation, failure messages and outputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "job.h"
#include "services.h"
#include "util.h"

typedef struct env {
	char *root;
	job *j;
	vg_job_info info;
	stage_run run;
	vg_artifact inputs[3];
	vg_artifact previous;
	double last_fraction;
	int n_progress;
} env;

static void capture_progress(stage_run *run, double fraction, const char *note)
{
	env *e = run->ud;

	(void)note;
	e->last_fraction = fraction;
	e->n_progress++;
}

static int setup(void **state)
{
	env *e = calloc(1, sizeof(*e));
	char err[256];

	e->root = th_tmpdir();
	e->j = job_create(e->root, "Why is the sky blue?", "claude-4-sonnet", "Ruth", err,
			  sizeof(err));
	if (!e->j)
		return -1;
	e->info.id = e->j->id;
	e->info.question = e->j->question;
	e->info.model = e->j->model;
	e->info.voice = e->j->voice;
	e->info.job_dir = e->j->dir;
	e->inputs[0] = (vg_artifact){ "explain", "text", NULL, "First text.", 11 };
	e->inputs[1] = (vg_artifact){ "refine", "text", NULL, "Second text.", 12 };
	e->inputs[2] = (vg_artifact){ "narrate", "narration", NULL,
				      "{\"segments\":[{\"index\":0,\"text\":\"Hello.\",\"duration\":1.5},"
				      "{\"index\":1,\"text\":\"Bye.\",\"duration\":0.25}],"
				      "\"total_duration\":1.75}", 0 };
	e->inputs[2].len = strlen(e->inputs[2].data);
	e->previous = (vg_artifact){ "script", "script", NULL, "old script", 10 };
	stage_run_init(&e->run, &(stage_params){
		.id = "script", .dir = util_path_join(e->j->dir, "stages/script"),
		.model = "claude-4-sonnet", .job = &e->info, .inputs = e->inputs, .n_inputs = 3,
	});
	util_mkdir_p(e->run.st.dir, 0755);
	e->run.job = e->j;
	e->run.on_progress = capture_progress;
	e->run.ud = e;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	env *e = *state;

	stage_run_clear(&e->run);
	free((char *)e->run.st.dir);
	job_free(e->j);
	th_rmdir(e->root);
	free(e);
	return 0;
}

static void expect_template(env *e, const char *tmpl, const char *want)
{
	char *got = e->run.st.svc->render_template(&e->run.st, tmpl);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_table_header(void **state)
{
	const vg_services *svc = services_table();

	(void)state;
	assert_int_equal(svc->abi_minor, VIDGEN_ABI_MINOR);
	assert_int_equal(svc->struct_size, sizeof(vg_services));
	/* every entry of ABI 1.0 is filled */
	assert_non_null(svc->log);
	assert_non_null(svc->output_write);
	assert_non_null(svc->output_file);
	assert_non_null(svc->progress);
	assert_non_null(svc->cancelled);
	assert_non_null(svc->fail);
	assert_non_null(svc->render_template);
	assert_non_null(svc->spawn);
	assert_non_null(svc->http);
	assert_non_null(svc->http_free);
	assert_non_null(svc->secret);
	/* and of 2.2 */
	assert_non_null(svc->cache_get);
	assert_non_null(svc->cache_put);
	assert_non_null(svc->usage);
}

static void test_template_tokens(void **state)
{
	env *e = *state;

	expect_template(e, "Q: {{question}}", "Q: Why is the sky blue?");
	expect_template(e, "{{model}}/{{voice}}", "claude-4-sonnet/Ruth");
	expect_template(e, "[{{input}}]", "[First text.]");
	expect_template(e, "[{{input:refine}}] [{{input:explain}}]", "[Second text.] [First text.]");
	expect_template(e, "[{{input:nosuch}}]", "[]");
	expect_template(e, "no feedback: [{{feedback}}] [{{previous}}]", "no feedback: [] []");
	expect_template(e, "", "");
	expect_template(e, "plain text, no tokens", "plain text, no tokens");
}

static void test_template_repair_tokens(void **state)
{
	env *e = *state;

	e->run.st.feedback = "NameError: name 'Circel' is not defined";
	e->run.st.previous = &e->previous;
	expect_template(e, "fix {{previous}} given {{feedback}}",
			"fix old script given NameError: name 'Circel' is not defined");
	e->run.st.feedback = NULL;
	e->run.st.previous = NULL;
}

static void test_template_narration(void **state)
{
	env *e = *state;
	char *got = e->run.st.svc->render_template(&e->run.st, "{{narration_segments}}");

	assert_non_null(got);
	assert_non_null(strstr(got, "Segment 0 (1.50 s): Hello."));
	assert_non_null(strstr(got, "Segment 1 (0.25 s): Bye."));
	free(got);
}

static void test_template_keeps_foreign_braces(void **state)
{
	env *e = *state;

	/* Python/LaTeX in a prompt keeps its braces; tokens are not re-expanded. */
	expect_template(e, "MathTex(r\"\\frac{{a}}{{b}}\") {{unknown}}",
			"MathTex(r\"\\frac{{a}}{{b}}\") {{unknown}}");
	expect_template(e, "open {{ without close", "open {{ without close");
	e->inputs[0].data = "{{question}}";
	expect_template(e, "{{input}}", "{{question}}");
	e->inputs[0].data = "First text.";
}

static void test_secret_env_and_file(void **state)
{
	env *e = *state;
	const vg_services *svc = services_table();
	char *path = th_write(e->root, "key.txt", "file-secret\n");
	const char *v;

	setenv("VG_T_KEY", "env-secret", 1);
	setenv("VG_T_KEY_FILE", path, 1);
	v = svc->secret(&e->run.st, "VG_T_KEY");
	assert_non_null(v);
	assert_string_equal(v, "env-secret");  /* NAME wins over NAME_FILE */
	unsetenv("VG_T_KEY");
	v = svc->secret(&e->run.st, "VG_T_KEY");
	assert_non_null(v);
	assert_string_equal(v, "file-secret"); /* without its newline */
	setenv("VG_T_KEY", "", 1);             /* empty counts as unset */
	v = svc->secret(&e->run.st, "VG_T_KEY");
	assert_string_equal(v, "file-secret");
	unsetenv("VG_T_KEY");
	unsetenv("VG_T_KEY_FILE");
	assert_null(svc->secret(&e->run.st, "VG_T_KEY"));
	setenv("VG_T_KEY_FILE", "/nonexistent/key", 1);
	assert_null(svc->secret(&e->run.st, "VG_T_KEY"));
	unsetenv("VG_T_KEY_FILE");
	/* the stage owns what it was handed, until cleared */
	assert_int_equal(e->run.n_secrets, 3);
	stage_run_clear(&e->run);
	assert_int_equal(e->run.n_secrets, 0);
	assert_null(e->run.secrets);
	free(path);
}

static void test_progress_clamped(void **state)
{
	env *e = *state;
	const vg_services *svc = services_table();

	svc->progress(&e->run.st, 0.5, NULL);
	assert_true(fabs(e->last_fraction - 0.5) < 1e-9);
	svc->progress(&e->run.st, 7.0, "too far");
	assert_true(e->last_fraction == 1.0);
	svc->progress(&e->run.st, -3.0, NULL);
	assert_true(e->last_fraction == 0.0);
	svc->progress(&e->run.st, NAN, NULL);
	assert_true(e->last_fraction == 0.0);
	assert_int_equal(e->n_progress, 4);
}

static void test_cancelled(void **state)
{
	env *e = *state;
	const vg_services *svc = services_table();

	assert_false(svc->cancelled(&e->run.st));
	atomic_store(&e->run.stop, 1);          /* the stage's time is up */
	assert_true(svc->cancelled(&e->run.st));
	atomic_store(&e->run.stop, 0);
	assert_false(svc->cancelled(&e->run.st));
	job_cancel(e->j);                       /* the whole job */
	assert_true(svc->cancelled(&e->run.st));
}

static void test_fail_message(void **state)
{
	env *e = *state;
	const vg_services *svc = services_table();

	assert_string_equal(stage_run_error(&e->run, VG_ETIMEDOUT), "timed out");
	assert_string_equal(stage_run_error(&e->run, VG_ESCRIPT),
			    "the script could not be rendered");
	assert_string_equal(stage_run_error(&e->run, VG_EFAIL), "failed");
	(svc->fail)(&e->run.st, "model said %d: %s", 429, "slow down");
	assert_string_equal(stage_run_error(&e->run, VG_EHTTP), "model said 429: slow down");
	(svc->fail)(&e->run.st, "second");
	assert_string_equal(stage_run_error(&e->run, VG_EHTTP), "second"); /* the last wins */
}

/* svc->output_link (2.2) keeps a URL for each companion field, the last
 * one winning, and refuses another field, an empty URL or one that is not
 * UTF-8; stage_run_clear lets them go. */
static void test_output_link(void **state)
{
	env *e = *state;
	const vg_services *svc = services_table();

	assert_true(VG_HAS(svc, vg_services, output_link));
	assert_int_equal(svc->output_link(&e->run.st, "captions_url", "/media/a.vtt"), VG_OK);
	assert_int_equal(svc->output_link(&e->run.st, "thumbnail_url", "/media/a.jpg"), VG_OK);
	assert_int_equal(svc->output_link(&e->run.st, "thumbnail_url", "/media/a.thumb.jpg"),
			 VG_OK);
	assert_string_equal(e->run.links[0], "/media/a.vtt");
	assert_null(e->run.links[1]);
	assert_null(e->run.links[2]);
	assert_string_equal(e->run.links[3], "/media/a.thumb.jpg");
	assert_int_equal(svc->output_link(&e->run.st, "video_url", "/x"), VG_EINVAL);
	assert_non_null(strstr(stage_run_error(&e->run, VG_EINVAL), "video_url"));
	assert_int_equal(svc->output_link(&e->run.st, "poster_url", ""), VG_EINVAL);
	assert_int_equal(svc->output_link(&e->run.st, "poster_url", "/\xff.jpg"), VG_EINVAL);
	assert_int_equal(svc->output_link(&e->run.st, NULL, "/a"), VG_EINVAL);
	assert_null(e->run.links[2]);
	stage_run_clear(&e->run);
	assert_null(e->run.links[0]);
	assert_null(e->run.links[3]);
}

/* The one builder of a vg_stage: every field from the params, the size,
 * the services table and the way back to the stage_run. */
static void test_stage_run_init(void **state)
{
	vg_artifact prev = { "script", "script", NULL, "x", 1 };
	vg_job_info info = { .id = "j" };
	stage_run run;

	(void)state;
	memset(&run, 0x5a, sizeof(run));
	atomic_store(&run.stop, 1);
	stage_run_init(&run, &(stage_params){ .id = "s", .dir = "/d", .model = "m",
					       .model_id = "mid", .job = &info, .n_inputs = 0,
					       .attempt = 2, .feedback = "fb", .previous = &prev,
					       .last_repair = 1 });
	assert_int_equal(run.st.struct_size, sizeof(vg_stage));
	assert_string_equal(run.st.id, "s");
	assert_string_equal(run.st.dir, "/d");
	assert_string_equal(run.st.model, "m");
	assert_string_equal(run.st.model_id, "mid");
	assert_ptr_equal(run.st.job, &info);
	assert_ptr_equal(run.st.svc, services_table());
	assert_null(run.st.inputs);
	assert_int_equal(run.st.attempt, 2);
	assert_string_equal(run.st.feedback, "fb");
	assert_ptr_equal(run.st.previous, &prev);
	assert_int_equal(run.st.last_repair, 1);
	assert_ptr_equal(run.st.core, &run);
	assert_int_equal(atomic_load(&run.stop), 0);
}

/* A plugin built against a later 2.x header hands a longer vg_proc: the
 * core reads the fields it knows. */
typedef struct wider_proc {
	vg_proc p;
	long later_field;
} wider_proc;

/* The core reads a plugin's vg_proc by its struct_size: one built without
 * VG_PROC_INIT (size 0) is refused with a message saying so. */
static void test_spawn_reads_struct_size(void **state)
{
	env *e = *state;
	const char *const argv[] = { "/bin/sh", "-c", "exit 3", NULL };
	vg_proc bare = { .argv = argv };
	vg_proc p = VG_PROC_INIT(.argv = argv, .timeout_ms = 10000);
	wider_proc w = { .p = p, .later_field = 77 };
	int code = -1;

	assert_int_equal(e->run.st.svc->spawn(&e->run.st, &bare, &code), VG_EINVAL);
	assert_non_null(strstr(stage_run_error(&e->run, VG_EINVAL), "VG_PROC_INIT"));
	assert_int_equal(e->run.st.svc->spawn(&e->run.st, &p, &code), VG_OK);
	assert_int_equal(code, 3);
	w.p.struct_size = sizeof(w);
	code = -1;
	assert_int_equal(e->run.st.svc->spawn(&e->run.st, &w.p, &code), VG_OK);
	assert_int_equal(code, 3);
}

static void test_http_reads_struct_size(void **state)
{
	env *e = *state;
	vg_http_request bare = { .method = "GET", .url = "http://127.0.0.1:9/" };
	vg_aws_sign_opts sign = { .service = "s3" };
	vg_http_request signed_req = VG_HTTP_REQUEST_INIT(.method = "GET",
							  .url = "http://127.0.0.1:9/",
							  .aws = &sign);
	vg_http_response resp = { 0 };
	char err[256] = "";

	assert_int_equal(e->run.st.svc->http(&e->run.st, &bare, &resp, err, sizeof(err)),
			 VG_EINVAL);
	assert_non_null(strstr(err, "VG_HTTP_REQUEST_INIT"));
	err[0] = '\0';
	assert_int_equal(e->run.st.svc->http(&e->run.st, &signed_req, &resp, err, sizeof(err)),
			 VG_EINVAL);
	assert_non_null(strstr(err, "VG_AWS_SIGN_OPTS_INIT"));
}

/* VG_HAS: a field counts only when the struct_size the other side wrote
 * covers all of it. */
static double usage_of(const stage_run *run, const char *name)
{
	for (size_t i = 0; i < run->usage.n; i++)
		if (!strcmp(run->usage.v[i].name, name))
			return run->usage.v[i].value;
	return -1;
}

/* svc->usage (ABI 2.2): counters add up; bad names and values are refused. */
static void test_usage_checked(void **state)
{
	env *e = *state;
	const vg_services *svc = e->run.st.svc;

	assert_true(VG_HAS(svc, vg_services, usage));
	assert_int_equal(svc->usage(&e->run.st, "input_tokens", 10), VG_OK);
	assert_int_equal(svc->usage(&e->run.st, "input_tokens", 5), VG_OK);
	assert_true(usage_of(&e->run, "input_tokens") == 15);
	assert_int_equal(svc->usage(&e->run.st, "input_tokens", -1), VG_EINVAL);
	assert_int_equal(svc->usage(&e->run.st, "input_tokens", NAN), VG_EINVAL);
	assert_int_equal(svc->usage(&e->run.st, "input_tokens", INFINITY), VG_EINVAL);
	assert_int_equal(svc->usage(&e->run.st, "input_tokens", 2e12), VG_EINVAL);
	assert_int_equal(svc->usage(&e->run.st, "Input", 1), VG_EINVAL);
	assert_int_equal(svc->usage(&e->run.st, "a-b", 1), VG_EINVAL);
	assert_int_equal(svc->usage(&e->run.st, "", 1), VG_EINVAL);
	assert_int_equal(svc->usage(&e->run.st, "abcdefghijklmnopqrstuvwxyz0123456", 1),
			 VG_EINVAL);
	assert_true(usage_of(&e->run, "input_tokens") == 15);
	/* a bounded table: a plugin inventing names cannot grow it */
	for (int i = 0; i < 40; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c%d", i);
		svc->usage(&e->run.st, name, 1);
	}
	assert_int_equal(e->run.usage.n, STAGE_USAGE_MAX);
}

/* svc->spawn records the child's CPU time as cpu_seconds. */
static void test_spawn_counts_cpu(void **state)
{
	env *e = *state;
	const char *const argv[] = { "/bin/sh", "-c",
				     "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done", NULL };
	vg_proc p = VG_PROC_INIT(.argv = argv, .timeout_ms = 60000);
	int code = -1;

	memset(&e->run.usage, 0, sizeof(e->run.usage));
	assert_int_equal(e->run.st.svc->spawn(&e->run.st, &p, &code), VG_OK);
	assert_int_equal(code, 0);
	assert_true(usage_of(&e->run, "cpu_seconds") > 0.01);
}

/* svc->cache_*: without a cache every lookup misses (and counts); a path
 * outside the job folder is refused. */
static void test_cache_args(void **state)
{
	env *e = *state;
	const vg_services *svc = e->run.st.svc;
	const char *key[] = { "espeak", "en", "x", "", "wav", "Hi.", NULL };
	const char *empty[] = { NULL };

	memset(&e->run.usage, 0, sizeof(e->run.usage));
	assert_int_equal(svc->cache_get(&e->run.st, key, "seg000.wav"), VG_ENOTSUP);
	assert_true(usage_of(&e->run, "cache_misses") == 1);
	assert_int_equal(svc->cache_get(&e->run.st, key, "/etc/passwd"), VG_EINVAL);
	assert_int_equal(svc->cache_get(&e->run.st, key, "../../../../x"), VG_EINVAL);
	assert_int_equal(svc->cache_get(&e->run.st, empty, "seg000.wav"), VG_EINVAL);
	assert_int_equal(svc->cache_put(&e->run.st, key, "/etc/passwd"), VG_EINVAL);
	assert_true(usage_of(&e->run, "cache_misses") == 1);
}

static void test_vg_has(void **state)
{
	vg_services old = *services_table();

	(void)state;
	assert_true(VG_HAS(&old, vg_services, aws_region));
	old.struct_size = offsetof(vg_services, aws_region);
	assert_false(VG_HAS(&old, vg_services, aws_region));
	assert_true(VG_HAS(&old, vg_services, split_sentences));
	old.struct_size = offsetof(vg_services, aws_region) + sizeof(old.aws_region) - 1;
	assert_false(VG_HAS(&old, vg_services, aws_region));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_header),
		cmocka_unit_test_setup_teardown(test_usage_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_counts_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_args, setup, teardown),
		cmocka_unit_test(test_stage_run_init),
		cmocka_unit_test(test_vg_has),
		cmocka_unit_test_setup_teardown(test_spawn_reads_struct_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_reads_struct_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_template_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_template_repair_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_template_narration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_template_keeps_foreign_braces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_env_and_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancelled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_link, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
