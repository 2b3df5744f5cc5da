/*
 * Unit tests for core/job.c: job.json on creation, the VideoResponse shape
 * of doc/api.md, the status/progress walk (never backwards), reopening a job
 * from its folder, and which recorded stage results count as done.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "job.h"
#include "util.h"

static const char *const spec_fields[] = {
	"video_id", "status", "message", "video_url", "s3_url", "created_at", "progress",
	"original_question", "initial_explanation", "refined_explanation", "usage",
	/* then the files beside the video */
	"captions_url", "captions_srt_url", "poster_url", "thumbnail_url", NULL
};

static int setup(void **state)
{
	*state = th_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	th_rmdir(*state);
	return 0;
}

static json_t *load_json(const char *dir, const char *name)
{
	char *path = util_path_join(dir, name);
	json_error_t je;
	json_t *o = json_load_file(path, 0, &je);

	if (!o)
		fail_msg("%s: %s", path, je.text);
	free(path);
	return o;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", k);
	return json_string_value(v);
}

static void test_create_writes_job_json(void **state)
{
	const char *root = *state;
	char err[512] = "", *want_dir;
	job *j = job_create(root, "Why is the sky blue? \xf0\x9f\x8c\x8c", "claude-4-sonnet",
			    "Joanna", err, sizeof(err));
	json_t *o;
	struct stat sb;

	(void)state;
	assert_non_null(j);
	assert_true(util_uuid_valid(j->id));
	want_dir = util_path_join(root, j->id);
	assert_string_equal(j->dir, want_dir);
	free(want_dir);
	assert_int_equal(stat(j->dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	o = load_json(j->dir, "job.json");
	assert_string_equal(jstr(o, "video_id"), j->id);
	assert_string_equal(jstr(o, "status"), "queued");
	assert_string_equal(jstr(o, "message"), "Video generation started");
	assert_int_equal(json_integer_value(json_object_get(o, "progress")), 0);
	assert_string_equal(jstr(o, "original_question"), "Why is the sky blue? \xf0\x9f\x8c\x8c");
	assert_string_equal(jstr(o, "model"), "claude-4-sonnet");
	assert_string_equal(jstr(o, "voice"), "Joanna");
	assert_string_equal(jstr(o, "created_at"), j->created_at);
	assert_true(json_is_null(json_object_get(o, "video_url")));
	json_decref(o);
	job_free(j);
}

static void test_two_jobs_differ(void **state)
{
	char err[512];
	job *a = job_create(*state, "q", "m", "v", err, sizeof(err));
	job *b = job_create(*state, "q", "m", "v", err, sizeof(err));

	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a->id, b->id);
	assert_string_not_equal(a->dir, b->dir);
	job_free(a);
	job_free(b);
}

static void test_create_fails_cleanly(void **state)
{
	char err[512] = "", *file = th_write(*state, "plainfile", "x");
	job *j;

	/* The root is a file: the folder cannot be made, and err says where. */
	j = job_create(file, "q", "m", "v", err, sizeof(err));
	assert_null(j);
	assert_non_null(strstr(err, file));
	free(file);
}

static void test_response_fields(void **state)
{
	char err[512];
	job *j = job_create(*state, "What is 2+2?", "m", "v", err, sizeof(err));
	json_t *o;
	const char *key;
	json_t *val;
	size_t n = 0;

	assert_non_null(j);
	o = job_response_locked(j);
	/* exactly the fields of doc/api.md, no more */
	json_object_foreach(o, key, val) {
		int known = 0;
		for (const char *const *f = spec_fields; *f; f++)
			if (!strcmp(*f, key))
				known = 1;
		if (!known)
			fail_msg("unexpected field \"%s\" in the VideoResponse", key);
		n++;
	}
	assert_int_equal(n, 15);
	/* no stage has run: no usage yet */
	assert_true(json_is_null(json_object_get(o, "usage")));
	assert_true(json_is_integer(json_object_get(o, "progress")));
	assert_true(json_is_null(json_object_get(o, "captions_url")));
	assert_true(json_is_null(json_object_get(o, "thumbnail_url")));
	assert_true(json_is_null(json_object_get(o, "video_url")));
	assert_true(json_is_null(json_object_get(o, "s3_url")));
	assert_true(json_is_null(json_object_get(o, "initial_explanation")));
	assert_true(json_is_null(json_object_get(o, "refined_explanation")));
	assert_string_equal(jstr(o, "original_question"), "What is 2+2?");
	assert_int_equal(strlen(jstr(o, "created_at")), 24);
	assert_int_equal(jstr(o, "created_at")[23], 'Z');
	json_decref(o);

	assert_int_equal(job_set_field_locked(j, "initial_explanation", "Four."), 0);
	assert_int_equal(job_set_field_locked(j, "s3_url", "https://loli.s3.eu-west-3.amazonaws.com/x.mp4"), 0);
	assert_int_equal(job_set_field_locked(j, "video_id", "evil"), -1);
	assert_int_equal(job_set_field_locked(j, "status", "completed"), -1);
	assert_true(job_field_valid("refined_explanation"));
	assert_true(job_field_valid("video_url"));
	assert_false(job_field_valid("progress"));
	assert_false(job_field_valid(""));
	o = job_response_locked(j);
	assert_string_equal(jstr(o, "initial_explanation"), "Four.");
	assert_string_equal(jstr(o, "s3_url"), "https://loli.s3.eu-west-3.amazonaws.com/x.mp4");
	assert_string_equal(jstr(o, "video_id"), j->id);
	assert_string_equal(jstr(o, "status"), "queued");
	json_decref(o);
	job_free(j);
}

static void test_progress_never_backwards(void **state)
{
	char err[512];
	job *j = job_create(*state, "q", "m", "v", err, sizeof(err));

	assert_non_null(j);
	job_set_locked(j, "generating_initial_explanation", 20, "Generating");
	assert_int_equal(j->progress, 20);
	job_set_locked(j, "refining_explanation", 40, NULL);
	assert_int_equal(j->progress, 40);
	assert_string_equal(j->status, "refining_explanation");
	assert_string_equal(j->message, "Generating"); /* NULL keeps it */
	job_set_locked(j, "generating_script", 30, "Script");
	assert_int_equal(j->progress, 40);           /* not backwards */
	assert_string_equal(j->status, "generating_script");
	job_set_locked(j, NULL, -1, NULL);
	assert_int_equal(j->progress, 40);
	assert_string_equal(j->status, "generating_script");
	assert_false(j->finished);
	job_set_locked(j, NULL, 250, NULL);
	assert_int_equal(j->progress, 100);          /* capped */
	job_set_locked(j, "failed", 0, "Stage x failed: boom");
	assert_int_equal(j->progress, 100);
	assert_true(j->finished);
	assert_string_equal(j->message, "Stage x failed: boom");
	job_free(j);
}

/* Texts that reach the response may come from plugins (error messages
 * quoting a model or a cut-off question): invalid UTF-8 must not make a
 * field vanish from the JSON. */
static void test_response_survives_bad_utf8(void **state)
{
	char err[512];
	job *j = job_create(*state, "q", "m", "v", err, sizeof(err));
	json_t *o;
	const char *msg;

	assert_non_null(j);
	job_set_locked(j, "failed", 100, "no answer for \"aaa\xc3\" in /x \xff end");
	job_set_field_locked(j, "initial_explanation", "caf\xc3\xa9 \xed\xa0\x80!");
	o = job_response_locked(j);
	assert_non_null(json_object_get(o, "message"));
	msg = json_string_value(json_object_get(o, "message"));
	assert_non_null(msg);
	assert_true(util_utf8_valid(msg, strlen(msg), NULL));
	assert_non_null(strstr(msg, "no answer for"));
	assert_non_null(strstr(msg, " end"));
	msg = json_string_value(json_object_get(o, "initial_explanation"));
	assert_non_null(msg);
	assert_true(util_utf8_valid(msg, strlen(msg), NULL));
	assert_non_null(strstr(msg, "caf\xc3\xa9 ")); /* valid text kept as is */
	json_decref(o);
	/* and job.json keeps the field too */
	assert_int_equal(job_save_locked(j), 0);
	{
		char *path = util_path_join(j->dir, "job.json");
		o = json_load_file(path, 0, NULL);
		free(path);
	}
	assert_non_null(o);
	assert_true(json_is_string(json_object_get(o, "message")));
	json_decref(o);
	job_free(j);
}

static void test_cancel_flag(void **state)
{
	char err[512];
	job *j = job_create(*state, "q", "m", "v", err, sizeof(err));

	assert_non_null(j);
	assert_false(job_cancelled(j));
	job_cancel(j);
	assert_true(job_cancelled(j));
	job_free(j);
}

static void test_open_round_trip(void **state)
{
	char err[512] = "";
	job *j = job_create(*state, "Explain \"quotes\" and\nnewlines", "claude-3-haiku", "Ruth",
			    err, sizeof(err));
	job *k;

	assert_non_null(j);
	job_set_locked(j, "refining_explanation", 40, "Refining explanation");
	job_set_field_locked(j, "initial_explanation", "First \xc3\xa9xplanation");
	job_set_field_locked(j, "refined_explanation", "Second");
	job_set_field_locked(j, "video_url", "/media/x.mp4");
	assert_int_equal(job_set_field_locked(j, "captions_url", "/media/x.vtt"), 0);
	assert_int_equal(job_set_field_locked(j, "thumbnail_url", "/media/x.thumb.jpg"), 0);
	assert_int_equal(job_save_locked(j), 0);

	k = job_open(j->dir, err, sizeof(err));
	if (!k)
		fail_msg("job_open: %s", err);
	assert_string_equal(k->id, j->id);
	assert_string_equal(k->created_at, j->created_at);
	assert_string_equal(k->question, "Explain \"quotes\" and\nnewlines");
	assert_string_equal(k->model, "claude-3-haiku");
	assert_string_equal(k->voice, "Ruth");
	assert_string_equal(k->dir, j->dir);
	assert_string_equal(k->status, "refining_explanation");
	assert_int_equal(k->progress, 40);
	assert_string_equal(k->message, "Refining explanation");
	assert_string_equal(k->initial_explanation, "First \xc3\xa9xplanation");
	assert_string_equal(k->refined_explanation, "Second");
	assert_string_equal(k->video_url, "/media/x.mp4");
	assert_string_equal(k->media[0], "/media/x.vtt");
	assert_null(k->media[2]);
	assert_string_equal(k->media[3], "/media/x.thumb.jpg");
	assert_null(k->s3_url);
	assert_false(k->finished);
	job_free(k);

	/* A finished job reopens finished. */
	job_set_locked(j, "completed", 100, "Video generated successfully");
	assert_int_equal(job_save_locked(j), 0);
	k = job_open(j->dir, err, sizeof(err));
	assert_non_null(k);
	assert_true(k->finished);
	assert_int_equal(k->progress, 100);
	job_free(k);
	job_free(j);
}

static void test_open_errors(void **state)
{
	char err[512] = "", *dir, *other;
	job *j, *k;

	/* no job.json */
	dir = util_path_join(*state, "empty");
	util_mkdir_p(dir, 0755);
	assert_null(job_open(dir, err, sizeof(err)));
	assert_non_null(strstr(err, "job.json"));
	free(dir);

	/* broken JSON */
	j = job_create(*state, "q", "m", "v", err, sizeof(err));
	assert_non_null(j);
	free(th_write(j->dir, "job.json", "{ \"video_id\": "));
	err[0] = '\0';
	assert_null(job_open(j->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "job.json"));

	/* missing fields */
	free(th_write(j->dir, "job.json", "{ \"status\": \"queued\" }"));
	assert_null(job_open(j->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "video_id"));

	/* job.json copied into another job's folder: the id must match */
	k = job_create(*state, "q", "m", "v", err, sizeof(err));
	assert_non_null(k);
	other = util_path_join(k->dir, "job.json");
	pthread_mutex_lock(&j->lock);
	assert_int_equal(job_save_locked(j), 0);
	pthread_mutex_unlock(&j->lock);
	{
		char *src = util_path_join(j->dir, "job.json"), *text = th_read(src);
		assert_non_null(text);
		free(th_write(k->dir, "job.json", text));
		free(text);
		free(src);
	}
	err[0] = '\0';
	assert_null(job_open(k->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "does not match"));
	free(other);
	job_free(k);
	job_free(j);

	/* job_restore refuses an id that is not a UUID (it becomes a path) */
	assert_null(job_restore(*state, "../../etc", "2026-01-01T00:00:00.000Z", "q", "m", "v",
				err, sizeof(err)));
	assert_non_null(strstr(err, "bad job id"));
}

static void test_load_stage_results(void **state)
{
	plugin_registry *reg = th_registry();
	char err[1024] = "";
	pipeline *p = th_pipeline(reg, *state, "p.cfg",
				  "stages = (\n"
				  " { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
				  " { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"]; },\n"
				  " { id = \"c\"; plugin = \"testplug\"; inputs = [\"b\"]; },\n"
				  " { id = \"d\"; plugin = \"testplug\"; inputs = [\"c\"]; },\n"
				  " { id = \"e\"; plugin = \"testplug\"; inputs = [\"d\"]; },\n"
				  " { id = \"f\"; plugin = \"testplug\"; inputs = [\"e\"]; }\n"
				  ");\n", err, sizeof(err), NULL);
	job *j = job_create(*state, "q", "m", "v", err, sizeof(err));
	char *want;

	if (!p)
		fail_msg("%s", err);
	assert_non_null(j);
	/* a: recorded, output present -> done */
	free(th_write(j->dir, "stages/a/out.txt", "A"));
	free(th_write(j->dir, "stages/a/result.json",
		      "{\"kind\":\"text\",\"path\":\"stages/a/out.txt\",\"attempts\":2}"));
	/* b: recorded, output file gone -> not done */
	free(th_write(j->dir, "stages/b/result.json",
		      "{\"kind\":\"text\",\"path\":\"stages/b/out.txt\",\"attempts\":1}"));
	/* c: output present but escaping the job folder -> not done */
	free(th_write(j->dir, "stages/c/result.json",
		      "{\"kind\":\"text\",\"path\":\"../x/out.txt\",\"attempts\":1}"));
	free(th_write(*state, "x/out.txt", "C"));
	/* d: absolute path -> not done */
	free(th_write(j->dir, "stages/d/out.txt", "D"));
	want = util_path_join(j->dir, "stages/d/out.txt");
	{
		char json[1024];
		snprintf(json, sizeof(json), "{\"kind\":\"text\",\"path\":\"%s\"}", want);
		free(th_write(j->dir, "stages/d/result.json", json));
	}
	free(want);
	/* e: garbage result.json -> not done; f: nothing recorded */
	free(th_write(j->dir, "stages/e/out.txt", "E"));
	free(th_write(j->dir, "stages/e/result.json", "{\"kind\":"));

	const char *ids[] = { "a", "b", "c", "d", "e", "f" };
	assert_int_equal(job_load_stage_results(j, ids, 6), 0);
	assert_int_equal(j->n_stages, 6);
	assert_true(j->stages[0].done);
	assert_string_equal(j->stages[0].kind, "text");
	assert_int_equal(j->stages[0].attempts, 2);
	want = util_path_join(j->dir, "stages/a/out.txt");
	assert_string_equal(j->stages[0].path, want);
	free(want);
	assert_false(j->stages[1].done);
	assert_null(j->stages[1].path);
	assert_false(j->stages[2].done);
	assert_false(j->stages[3].done);
	assert_false(j->stages[4].done);
	assert_false(j->stages[5].done);
	job_free(j);
	pipeline_free(p);
	registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_writes_job_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_jobs_differ, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_fails_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_response_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_never_backwards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_response_survives_bad_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_stage_results, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
