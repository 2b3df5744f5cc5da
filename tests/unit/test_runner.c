/*
 * Unit tests for core/runner.c, driven by the test-only plugin testplug,
 * which appends "stage start_ms end_ms attempt" to <job>/timeline.txt: order,
 * real overlap of independent stages, timeouts, retries, repairs,
 * cancellation, failure of a parallel stage, progress, and resume.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "job.h"
#include "log.h"
#include "runner.h"
#include "services.h"
#include "util.h"

#define QUESTION "What is two plus two?"

typedef struct span {
	char stage[64];
	long long start, end;
	int attempt;
} span;

typedef struct timeline {
	span s[64];
	int n;
} timeline;

typedef struct fixture {
	plugin_registry *reg;
	char *dir;
	pipeline *p;
	job *j;
	/* what the runner reported */
	int progress[4096];
	int n_progress;
	int stage_ok, stage_failed;
	double attempts_reported;  /* on_usage's "attempts", summed */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	f->reg = th_registry();
	f->dir = th_tmpdir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	job_free(f->j);
	pipeline_free(f->p);
	registry_free(f->reg);
	th_rmdir(f->dir);
	free(f);
	return 0;
}

static void on_update(void *ud, job *j)
{
	fixture *f = ud;

	if (f->n_progress < (int)(sizeof(f->progress) / sizeof(f->progress[0])))
		f->progress[f->n_progress++] = j->progress;
}

static void on_stage(void *ud, job *j, const stage_def *st, int ok, long long ms)
{
	fixture *f = ud;

	(void)j; (void)st; (void)ms;
	if (ok)
		f->stage_ok++;
	else
		f->stage_failed++;
}

static void on_usage(void *ud, const stage_def *st, const char *model, const char *counter,
		     double value)
{
	fixture *f = ud;

	(void)st; (void)model;
	if (!strcmp(counter, "attempts"))
		f->attempts_reported += value;
}

/* Loads the pipeline text and creates a fresh job for it. */
static void prepare(fixture *f, const char *text)
{
	char err[2048] = "";

	f->p = th_pipeline(f->reg, f->dir, "p.cfg", text, err, sizeof(err), NULL);
	if (!f->p)
		fail_msg("pipeline: %s", err);
	f->j = job_create(f->dir, QUESTION, "m", "Joanna", err, sizeof(err));
	if (!f->j)
		fail_msg("job: %s", err);
}

static int run(fixture *f)
{
	runner_events ev = { .on_update = on_update, .on_stage = on_stage, .ud = f,
			     .on_usage = on_usage };

	return runner_run(f->p, f->j, &ev);
}

static void read_timeline(const job *j, timeline *t)
{
	char *path = util_path_join(j->dir, "timeline.txt"), *text = th_read(path), *line, *save;

	memset(t, 0, sizeof(*t));
	free(path);
	if (!text)
		return;
	for (line = strtok_r(text, "\n", &save); line && t->n < 64;
	     line = strtok_r(NULL, "\n", &save)) {
		span *s = &t->s[t->n];
		if (sscanf(line, "%63s %lld %lld %d", s->stage, &s->start, &s->end, &s->attempt) == 4)
			t->n++;
	}
	free(text);
}

static int runs_of(const timeline *t, const char *stage)
{
	int n = 0;

	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->s[i].stage, stage))
			n++;
	return n;
}

/* The k-th run (0-based) of stage, or fails the test. */
static const span *run_of(const timeline *t, const char *stage, int k)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->s[i].stage, stage) && k-- == 0)
			return &t->s[i];
	fail_msg("stage %s has no run %d in the timeline", stage, k);
	return NULL;
}

static char *stage_output(const job *j, const char *stage)
{
	char rel[128], *path, *text;

	snprintf(rel, sizeof(rel), "stages/%s/out.txt", stage);
	path = util_path_join(j->dir, rel);
	text = th_read(path);
	free(path);
	return text;
}

static void assert_mentions(const char *s, const char *needle)
{
	if (!s || !strstr(s, needle))
		fail_msg("\"%s\" does not mention \"%s\"", s ? s : "(null)", needle);
}

static void assert_progress_monotonic(const fixture *f)
{
	for (int i = 1; i < f->n_progress; i++)
		if (f->progress[i] < f->progress[i - 1])
			fail_msg("progress went back from %d to %d (update %d)", f->progress[i - 1],
				 f->progress[i], i);
}

/* ---- completion notes --------------------------------------------------- */

/* A completed job's message carries each stage's note (svc->note) from its
 * last successful run, in pipeline order; a failed run's note is dropped. */
static void test_completion_notes(void **state)
{
	fixture *f = *state;

	prepare(f, "stages = (\n"
		   " { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		   "   settings = { note = \"first\"; }; },\n"
		   " { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"];\n"
		   "   settings = { note = \"second\"; }; },\n"
		   " { id = \"c\"; plugin = \"testplug\"; inputs = [\"b\"]; retries = 1;\n"
		   "   settings = { fail_times = 1; note = \"third\"; }; }\n"
		   ");\n");
	assert_int_equal(run(f), VG_OK);
	assert_string_equal(f->j->status, "completed");
	assert_string_equal(f->j->message, "Video generated successfully; first (run 0); "
			    "second (run 0); third (run 1)");
}

/* ---- order and parallelism ---------------------------------------------- */

static void test_stages_in_order(void **state)
{
	fixture *f = *state;
	timeline t;
	char *out, *res;
	json_t *o;

	prepare(f, "stages = (\n"
		   " { id = \"c\"; plugin = \"testplug\"; inputs = [\"b\"]; progress = 60;\n"
		   "   status = \"generating_script\"; settings = { sleep_ms = 30; }; },\n"
		   " { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"]; progress = 40;\n"
		   "   result = \"refined_explanation\"; settings = { sleep_ms = 30; }; },\n"
		   " { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; progress = 20;\n"
		   "   result = \"initial_explanation\"; settings = { sleep_ms = 30; text = \"A:\"; }; }\n"
		   ");\n");
	assert_int_equal(run(f), VG_OK);
	assert_string_equal(f->j->status, "completed");
	assert_int_equal(f->j->progress, 100);
	assert_string_equal(f->j->message, "Video generated successfully");
	assert_true(f->j->finished);
	read_timeline(f->j, &t);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.s[0].stage, "a");
	assert_string_equal(t.s[1].stage, "b");
	assert_string_equal(t.s[2].stage, "c");
	assert_true(t.s[0].end <= t.s[1].start);
	assert_true(t.s[1].end <= t.s[2].start);
	/* Each stage got its inputs: c saw b, which saw a, which saw the question. */
	out = stage_output(f->j, "c");
	assert_non_null(out);
	assert_string_equal(out, "[c b=[b a=A:[a question=" QUESTION "]]]");
	free(out);
	/* Result fields come from the stages' outputs. */
	assert_string_equal(f->j->initial_explanation, "A:[a question=" QUESTION "]");
	assert_string_equal(f->j->refined_explanation, "[b a=A:[a question=" QUESTION "]]");
	/* Every stage's output is recorded as an artifact. */
	res = util_path_join(f->j->dir, "stages/b/result.json");
	o = json_load_file(res, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "path")), "stages/b/out.txt");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "text");
	json_decref(o);
	free(res);
	assert_int_equal(f->stage_ok, 3);
	assert_int_equal(f->stage_failed, 0);
	assert_progress_monotonic(f);
	/* the stage progress marks were all reported */
	{
		int seen20 = 0, seen40 = 0, seen60 = 0;
		for (int i = 0; i < f->n_progress; i++) {
			seen20 |= f->progress[i] == 20;
			seen40 |= f->progress[i] == 40;
			seen60 |= f->progress[i] == 60;
		}
		assert_true(seen20 && seen40 && seen60);
	}
	assert_int_equal(f->progress[f->n_progress - 1], 100);
}

static void test_parallel_stages_overlap(void **state)
{
	fixture *f = *state;
	timeline t;
	const span *x, *y, *z;

	prepare(f, "stages = (\n"
		   " { id = \"x\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		   "   settings = { sleep_ms = 400; }; },\n"
		   " { id = \"y\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		   "   settings = { sleep_ms = 400; }; },\n"
		   " { id = \"z\"; plugin = \"testplug\"; inputs = [\"x\", \"y\"]; }\n"
		   ");\n");
	assert_int_equal(run(f), VG_OK);
	read_timeline(f->j, &t);
	x = run_of(&t, "x", 0);
	y = run_of(&t, "y", 0);
	z = run_of(&t, "z", 0);
	/* x and y really ran at the same time (each slept 400 ms, so serial
	 * runs could not overlap)... */
	assert_true(x->start < y->end);
	assert_true(y->start < x->end);
	/* ...and z waited for both. */
	assert_true(z->start >= x->end);
	assert_true(z->start >= y->end);
}

static void test_wide_fan_out(void **state)
{
	fixture *f = *state;
	strbuf cfg = { 0 }, inputs = { 0 };
	timeline t;
	char *text, *out, needle[64];

	/* 16 independent stages and one that takes them all: every output
	 * arrives, in the order of the inputs list. */
	sb_puts(&cfg, "stages = (\n");
	for (int i = 0; i < 16; i++) {
		sb_printf(&cfg, " { id = \"s%02d\"; plugin = \"testplug\"; inputs = [\"question\"];"
			  " settings = { sleep_ms = %d; text = \"<%d>\"; }; },\n", i, 20 + (i % 4) * 10, i);
		sb_printf(&inputs, "%s\"s%02d\"", i ? ", " : "", i);
	}
	sb_printf(&cfg, " { id = \"join\"; plugin = \"testplug\"; inputs = [%s]; }\n);\n",
		  inputs.buf);
	text = sb_steal(&cfg);
	sb_free(&inputs);
	prepare(f, text);
	free(text);
	assert_int_equal(run(f), VG_OK);
	read_timeline(f->j, &t);
	assert_int_equal(t.n, 17);
	assert_int_equal(runs_of(&t, "join"), 1);
	out = stage_output(f->j, "join");
	assert_non_null(out);
	for (int i = 0; i < 16; i++) {
		snprintf(needle, sizeof(needle), " s%02d=<%d>[s%02d", i, i, i);
		assert_mentions(out, needle);
		if (i > 0) {
			char prev[64];
			snprintf(prev, sizeof(prev), " s%02d=", i - 1);
			assert_true(strstr(out, prev) < strstr(out, needle));
		}
	}
	free(out);
	assert_int_equal(f->stage_ok, 17);
	assert_progress_monotonic(f);
}

/* ---- failures ---------------------------------------------------------- */

static void test_timeout_fails_job(void **state)
{
	fixture *f = *state;
	long long t0, dt;
	timeline t;
	int rc;

	prepare(f, "stages = (\n"
		   " { id = \"slow\"; plugin = \"testplug\"; inputs = [\"question\"]; timeout = 1;\n"
		   "   settings = { sleep_ms = 20000; }; },\n"
		   " { id = \"after\"; plugin = \"testplug\"; inputs = [\"slow\"]; }\n"
		   ");\n");
	t0 = util_now_ms();
	rc = run(f);
	dt = util_now_ms() - t0;
	assert_int_not_equal(rc, VG_OK);
	assert_string_equal(f->j->status, "failed");
	assert_mentions(f->j->message, "slow");
	assert_mentions(f->j->message, "timed out");
	if (dt < 900 || dt > 5000)
		fail_msg("a 1 s timeout took %lld ms", dt);
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "after"), 0);
	assert_int_equal(f->stage_failed, 1);
	assert_int_equal(f->j->progress, 100);
}

static void test_timeout_is_retried(void **state)
{
	fixture *f = *state;
	long long t0, dt;
	timeline t;

	/* A timed-out try counts as a failure the stage's retries cover. */
	prepare(f, "stages = (\n"
		   " { id = \"slow\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		   "   timeout = 0.4; retries = 1; settings = { sleep_ms = 20000; }; }\n"
		   ");\n");
	t0 = util_now_ms();
	assert_int_not_equal(run(f), VG_OK);
	dt = util_now_ms() - t0;
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "slow"), 2);
	assert_int_equal(run_of(&t, "slow", 1)->attempt, 1);
	if (dt < 750 || dt > 5000)
		fail_msg("two 0.4 s tries took %lld ms", dt);
	assert_mentions(f->j->message, "timed out");
}

static void test_retry_recovers(void **state)
{
	fixture *f = *state;
	timeline t;

	prepare(f, "stages = (\n"
		   " { id = \"flaky\"; plugin = \"testplug\"; inputs = [\"question\"]; retries = 1;\n"
		   "   settings = { fail_times = 1; }; },\n"
		   " { id = \"after\"; plugin = \"testplug\"; inputs = [\"flaky\"]; }\n"
		   ");\n");
	assert_int_equal(run(f), VG_OK);
	assert_string_equal(f->j->status, "completed");
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "flaky"), 2);
	assert_int_equal(run_of(&t, "flaky", 0)->attempt, 0);
	assert_int_equal(run_of(&t, "flaky", 1)->attempt, 1);
	assert_int_equal(runs_of(&t, "after"), 1);
	assert_int_equal(f->stage_failed, 1);
	assert_int_equal(f->stage_ok, 2);
}

/* Each stage's usage sums its runs: a retried stage shows 2 attempts and
 * its wall time, in the job's usage object and in its result.json. */
static void test_usage_recorded(void **state)
{
	fixture *f = *state;
	json_t *stages, *c, *res;
	char *path;

	prepare(f, "stages = (\n"
		   " { id = \"flaky\"; plugin = \"testplug\"; inputs = [\"question\"]; retries = 1;\n"
		   "   settings = { fail_times = 1; sleep_ms = 50; }; },\n"
		   " { id = \"after\"; plugin = \"testplug\"; inputs = [\"flaky\"]; }\n"
		   ");\n");
	assert_int_equal(run(f), VG_OK);
	stages = json_object_get(f->j->usage, "stages");
	assert_int_equal(json_array_size(stages), 2);
	c = json_object_get(json_array_get(stages, 0), "counters");
	assert_string_equal(json_string_value(json_object_get(json_array_get(stages, 0), "stage")),
			    "flaky");
	/* testplug is of kind model: billed under the job's model */
	assert_string_equal(json_string_value(json_object_get(json_array_get(stages, 0), "model")),
			    "m");
	assert_int_equal(json_integer_value(json_object_get(c, "attempts")), 2);
	assert_true(json_number_value(json_object_get(c, "wall_seconds")) >= 0.09);
	assert_true(json_is_null(json_object_get(f->j->usage, "cost")));
	assert_true(f->attempts_reported == 3);
	path = util_path_join(f->j->dir, "stages/flaky/result.json");
	res = json_load_file(path, 0, NULL);
	free(path);
	assert_non_null(res);
	assert_true(json_number_value(json_object_get(json_object_get(res, "usage"),
						      "attempts")) == 2);
	json_decref(res);
	assert_non_null(f->j->usage_text);
}

static void test_no_retry_fails(void **state)
{
	fixture *f = *state;
	timeline t;

	prepare(f, "stages = (\n"
		   " { id = \"flaky\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		   "   settings = { fail_times = 1; }; },\n"
		   " { id = \"after\"; plugin = \"testplug\"; inputs = [\"flaky\"]; }\n"
		   ");\n");
	assert_int_not_equal(run(f), VG_OK);
	assert_string_equal(f->j->status, "failed");
	assert_mentions(f->j->message, "flaky");
	assert_mentions(f->j->message, "planned failure on attempt 0"); /* the stage's words */
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "flaky"), 1);
	assert_int_equal(runs_of(&t, "after"), 0);
}

static void test_retries_run_out(void **state)
{
	fixture *f = *state;
	timeline t;

	prepare(f, "stages = (\n"
		   " { id = \"flaky\"; plugin = \"testplug\"; inputs = [\"question\"]; retries = 2;\n"
		   "   settings = { fail_times = 5; }; }\n"
		   ");\n");
	assert_int_not_equal(run(f), VG_OK);
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "flaky"), 3); /* the first try + 2 retries */
	assert_mentions(f->j->message, "planned failure on attempt 2");
}

static void test_parallel_failure_stops_others(void **state)
{
	fixture *f = *state;
	long long t0, dt;

	prepare(f, "stages = (\n"
		   " { id = \"bad\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		   "   settings = { sleep_ms = 100; fail_times = 1; }; },\n"
		   " { id = \"long\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		   "   settings = { sleep_ms = 20000; }; }\n"
		   ");\n");
	t0 = util_now_ms();
	assert_int_not_equal(run(f), VG_OK);
	dt = util_now_ms() - t0;
	if (dt > 3000)
		fail_msg("the job took %lld ms to fail while a sibling slept 20 s", dt);
	/* The first failure is the one reported, not the stopped sibling. */
	assert_mentions(f->j->message, "bad");
	assert_mentions(f->j->message, "planned failure");
}

static void test_result_must_be_utf8(void **state)
{
	fixture *f = *state;
	json_t *o;

	/* A model answering bytes that are not UTF-8 must not reach the
	 * VideoResponse (JSON cannot carry them). */
	prepare(f, "stages = (\n"
		   " { id = \"explain\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		   "   result = \"initial_explanation\";\n"
		   "   settings = { text = \"bad \\xff\\xfe bytes\"; }; }\n"
		   ");\n");
	assert_int_not_equal(run(f), VG_OK);
	assert_string_equal(f->j->status, "failed");
	assert_mentions(f->j->message, "UTF-8");
	assert_null(f->j->initial_explanation);
	o = job_response_locked(f->j);
	assert_non_null(o);
	assert_true(json_is_null(json_object_get(o, "initial_explanation")));
	assert_true(json_is_string(json_object_get(o, "message")));
	json_decref(o);
	/* Not recorded as done: a resumed job must not skip it. */
	char *res = util_path_join(f->j->dir, "stages/explain/result.json");
	assert_int_equal(access(res, F_OK), -1);
	free(res);
}

/* A NUL byte in an answer cut the response field short; it is refused
 * like bytes that are not UTF-8. */
static void test_result_without_nul(void **state)
{
	fixture *f = *state;
	char *a = th_write(f->dir, "answers/q/question.txt", QUESTION), *path;
	FILE *fp;

	free(a);
	path = util_path_join(f->dir, "answers/q/explain.txt");
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite("Four.\0 And the rest", 1, 20, fp), 20);
	fclose(fp);
	free(path);
	prepare(f, "stages = (\n"
		   " { id = \"explain\"; plugin = \"replay\"; inputs = [\"question\"];\n"
		   "   result = \"initial_explanation\"; settings = { dir = \"answers\"; }; }\n"
		   ");\n");
	assert_int_not_equal(run(f), VG_OK);
	assert_string_equal(f->j->status, "failed");
	assert_mentions(f->j->message, "NUL");
	assert_null(f->j->initial_explanation);
}

/* ---- repairs ----------------------------------------------------------- */

static void test_repair_loop_completes(void **state)
{
	fixture *f = *state;
	timeline t;
	char *out;

	prepare(f, "stages = (\n"
		   " { id = \"gen\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		   " { id = \"mid\"; plugin = \"testplug\"; inputs = [\"gen\"]; },\n"
		   " { id = \"check\"; plugin = \"testplug\"; inputs = [\"mid\"];\n"
		   "   on_error = { retry = \"gen\"; max = 2; };\n"
		   "   settings = { script_errors = 1; }; }\n"
		   ");\n");
	assert_int_equal(run(f), VG_OK);
	assert_string_equal(f->j->status, "completed");
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "gen"), 2);
	assert_int_equal(runs_of(&t, "mid"), 2);   /* downstream of gen: again */
	assert_int_equal(runs_of(&t, "check"), 2);
	assert_int_equal(run_of(&t, "gen", 1)->attempt, 1);
	assert_true(run_of(&t, "gen", 1)->start >= run_of(&t, "check", 0)->end);
	/* The repaired stage got check's error as feedback, and it flowed down. */
	out = stage_output(f->j, "gen");
	assert_mentions(out, "feedback=planned script error on attempt 0");
	free(out);
	out = stage_output(f->j, "check");
	assert_mentions(out, "[check mid=[mid gen=[gen question=" QUESTION
			" feedback=planned script error on attempt 0]]]");
	free(out);
	assert_progress_monotonic(f);
}

static void test_repairs_exhausted(void **state)
{
	fixture *f = *state;
	timeline t;

	prepare(f, "stages = (\n"
		   " { id = \"gen\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		   " { id = \"check\"; plugin = \"testplug\"; inputs = [\"gen\"];\n"
		   "   on_error = { retry = \"gen\"; max = 1; };\n"
		   "   settings = { script_errors = 5; }; }\n"
		   ");\n");
	assert_int_not_equal(run(f), VG_OK);
	assert_string_equal(f->j->status, "failed");
	assert_mentions(f->j->message, "check");
	assert_mentions(f->j->message, "1 repair");
	/* the last error, not the first */
	assert_mentions(f->j->message, "planned script error on attempt 1");
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "gen"), 2);
	assert_int_equal(runs_of(&t, "check"), 2);
}

static void test_zero_repairs_allowed(void **state)
{
	fixture *f = *state;
	timeline t;

	prepare(f, "stages = (\n"
		   " { id = \"gen\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		   " { id = \"check\"; plugin = \"testplug\"; inputs = [\"gen\"];\n"
		   "   on_error = { retry = \"gen\"; max = 0; };\n"
		   "   settings = { script_errors = 1; }; }\n"
		   ");\n");
	assert_int_not_equal(run(f), VG_OK);
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "gen"), 1);
	assert_int_equal(runs_of(&t, "check"), 1);
	assert_mentions(f->j->message, "planned script error on attempt 0");
}

static void test_script_error_without_repair_fails(void **state)
{
	fixture *f = *state;
	timeline t;

	prepare(f, "stages = (\n"
		   " { id = \"gen\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		   " { id = \"check\"; plugin = \"testplug\"; inputs = [\"gen\"]; retries = 3;\n"
		   "   settings = { script_errors = 1; }; }\n"
		   ");\n");
	/* VG_ESCRIPT is not retryable: without on_error the job fails at once. */
	assert_int_not_equal(run(f), VG_OK);
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "check"), 1);
	assert_mentions(f->j->message, "planned script error on attempt 0");
}

/* ---- cancellation ------------------------------------------------------ */

typedef struct canceller {
	job *j;
	long delay_ms;
	long long at;
} canceller;

static void *cancel_later(void *arg)
{
	canceller *c = arg;
	struct timespec ts = { c->delay_ms / 1000, (c->delay_ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	c->at = util_now_ms();
	job_cancel(c->j);
	return NULL;
}

static void test_cancel_is_prompt(void **state)
{
	fixture *f = *state;
	canceller c;
	pthread_t th;
	long long end;
	timeline t;
	int rc;

	prepare(f, "stages = (\n"
		   " { id = \"sleepy\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		   "   settings = { sleep_ms = 30000; }; },\n"
		   " { id = \"after\"; plugin = \"testplug\"; inputs = [\"sleepy\"]; }\n"
		   ");\n");
	c.j = f->j;
	c.delay_ms = 300;
	c.at = 0;
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
	rc = run(f);
	end = util_now_ms();
	pthread_join(th, NULL);
	assert_int_equal(rc, VG_ECANCELED);
	assert_string_equal(f->j->status, "failed");
	assert_mentions(f->j->message, "Cancel");
	if (end - c.at > 1000)
		fail_msg("the job ended %lld ms after the cancel", end - c.at);
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "sleepy"), 1);
	assert_int_equal(runs_of(&t, "after"), 0);
}

static void test_cancel_before_start(void **state)
{
	fixture *f = *state;
	timeline t;

	prepare(f, "stages = (\n"
		   " { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; }\n"
		   ");\n");
	job_cancel(f->j);
	assert_int_equal(run(f), VG_ECANCELED);
	read_timeline(f->j, &t);
	assert_int_equal(t.n, 0);
}

/* ---- progress and resume ----------------------------------------------- */

static void test_progress_monotonic_parallel(void **state)
{
	fixture *f = *state;
	json_t *o;
	char *path;

	/* "fast" ends at 50 first; "slow" ends later at 30: no step back. */
	prepare(f, "stages = (\n"
		   " { id = \"slow\"; plugin = \"testplug\"; inputs = [\"question\"]; progress = 30;\n"
		   "   settings = { sleep_ms = 300; }; },\n"
		   " { id = \"fast\"; plugin = \"testplug\"; inputs = [\"question\"]; progress = 50;\n"
		   "   settings = { sleep_ms = 50; }; },\n"
		   " { id = \"end\"; plugin = \"testplug\"; inputs = [\"slow\", \"fast\"];\n"
		   "   progress = 90; settings = { sleep_ms = 200; }; }\n"
		   ");\n");
	assert_int_equal(run(f), VG_OK);
	assert_true(f->n_progress > 3);
	assert_progress_monotonic(f);
	/* progress inside "end" moved between 50 and 90 */
	{
		int between = 0;
		for (int i = 0; i < f->n_progress; i++)
			between |= f->progress[i] > 50 && f->progress[i] < 90;
		assert_true(between);
	}
	path = util_path_join(f->j->dir, "job.json");
	o = json_load_file(path, 0, NULL);
	free(path);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "progress")), 100);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "completed");
	json_decref(o);
}

static void test_resume_runs_only_missing(void **state)
{
	fixture *f = *state;
	char err[512] = "", *dir, *out;
	timeline t;

	prepare(f, "stages = (\n"
		   " { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		   " { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"]; },\n"
		   " { id = \"c\"; plugin = \"testplug\"; inputs = [\"b\"]; }\n"
		   ");\n");
	assert_int_equal(run(f), VG_OK);
	read_timeline(f->j, &t);
	assert_int_equal(t.n, 3);
	/* c's output is lost (a crash before it was written, say) */
	out = util_path_join(f->j->dir, "stages/c/out.txt");
	assert_int_equal(unlink(out), 0);
	free(out);
	dir = xstrdup(f->j->dir);
	job_free(f->j);
	f->j = job_open(dir, err, sizeof(err));
	free(dir);
	if (!f->j)
		fail_msg("job_open: %s", err);
	assert_int_equal(run(f), VG_OK);
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "a"), 1);
	assert_int_equal(runs_of(&t, "b"), 1);
	assert_int_equal(runs_of(&t, "c"), 2);
	out = stage_output(f->j, "c");
	assert_string_equal(out, "[c b=[b a=[a question=" QUESTION "]]]");
	free(out);
	assert_string_equal(f->j->status, "completed");
}

static void test_resume_reruns_downstream(void **state)
{
	fixture *f = *state;
	char err[512] = "", *dir, *out;
	timeline t;

	prepare(f, "stages = (\n"
		   " { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		   " { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"]; },\n"
		   " { id = \"c\"; plugin = \"testplug\"; inputs = [\"b\"]; }\n"
		   ");\n");
	assert_int_equal(run(f), VG_OK);
	/* b's output is removed (a user regenerating it): c was made from the
	 * old b, so it must run again too; a must not. */
	out = util_path_join(f->j->dir, "stages/b/out.txt");
	assert_int_equal(unlink(out), 0);
	free(out);
	dir = xstrdup(f->j->dir);
	job_free(f->j);
	f->j = job_open(dir, err, sizeof(err));
	free(dir);
	if (!f->j)
		fail_msg("job_open: %s", err);
	assert_int_equal(run(f), VG_OK);
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "a"), 1);
	assert_int_equal(runs_of(&t, "b"), 2);
	assert_int_equal(runs_of(&t, "c"), 2);
}

static void test_resume_after_failure(void **state)
{
	fixture *f = *state;
	char err[512] = "", *dir;
	timeline t;
	pipeline *fixed;

	/* b fails; the pipeline is fixed; the job resumes without paying for
	 * a again. */
	prepare(f, "stages = (\n"
		   " { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		   " { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"];\n"
		   "   settings = { fail_times = 1; }; }\n"
		   ");\n");
	assert_int_not_equal(run(f), VG_OK);
	fixed = th_pipeline(f->reg, f->dir, "fixed.cfg",
			    "stages = (\n"
			    " { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
			    " { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"]; }\n"
			    ");\n", err, sizeof(err), NULL);
	assert_non_null(fixed);
	pipeline_free(f->p);
	f->p = fixed;
	dir = xstrdup(f->j->dir);
	job_free(f->j);
	f->j = job_open(dir, err, sizeof(err));
	free(dir);
	assert_non_null(f->j);
	assert_int_equal(run(f), VG_OK);
	read_timeline(f->j, &t);
	assert_int_equal(runs_of(&t, "a"), 1);
	assert_int_equal(runs_of(&t, "b"), 2);
	assert_string_equal(f->j->status, "completed");
	assert_string_equal(f->j->message, "Video generated successfully");
}

/* ---- the services behind outputs --------------------------------------- */

typedef struct svc_env {
	job *j;
	vg_job_info info;
	stage_run run;
} svc_env;

static void svc_env_init(svc_env *e, job *j)
{
	char *dir = util_path_join(j->dir, "stages/a");

	memset(e, 0, sizeof(*e));
	util_mkdir_p(dir, 0755);
	e->j = j;
	e->info.id = j->id;
	e->info.question = j->question;
	e->info.job_dir = j->dir;
	stage_run_init(&e->run, &(stage_params){ .id = "a", .dir = dir, .job = &e->info });
	e->run.job = j;
}

static void svc_env_free(svc_env *e)
{
	stage_run_clear(&e->run);
	free((char *)e->run.st.dir);
}

static void test_output_paths_recorded_under_job(void **state)
{
	fixture *f = *state;
	char err[512], *real, *link, *want, *abs;
	const vg_services *svc = services_table();
	svc_env e;
	job *j;

	/* The job root is reached through a symlink, as /tmp often is. */
	real = util_path_join(f->dir, "real");
	link = util_path_join(f->dir, "link");
	util_mkdir_p(real, 0755);
	assert_int_equal(symlink(real, link), 0);
	j = job_create(link, QUESTION, "m", "v", err, sizeof(err));
	assert_non_null(j);
	svc_env_init(&e, j);
	free(th_write(j->dir, "stages/b/out.txt", "B"));
	free(th_write(j->dir, "stages/a/mine.txt", "A"));

	/* "../b/out.txt" is recorded in normal form: a resume must accept it. */
	assert_int_equal(svc->output_file(&e.run.st, "text", "../b/out.txt"), VG_OK);
	want = util_path_join(j->dir, "stages/b/out.txt");
	assert_string_equal(e.run.out_path, want);
	free(want);

	/* An absolute path through the real folder is recorded under the
	 * job folder's own name (the runner cuts the job folder off it). */
	{
		char rel[256];
		snprintf(rel, sizeof(rel), "real/%s/stages/a/mine.txt", j->id);
		abs = util_path_join(f->dir, rel);
	}
	assert_int_equal(svc->output_file(&e.run.st, "text", abs), VG_OK);
	free(abs);
	want = util_path_join(j->dir, "stages/a/mine.txt");
	assert_string_equal(e.run.out_path, want);
	free(want);

	/* Outside the job folder: refused. */
	free(th_write(f->dir, "outside.txt", "x"));
	assert_int_equal(svc->output_file(&e.run.st, "text", "../../../outside.txt"), VG_EINVAL);
	assert_int_equal(svc->output_file(&e.run.st, "text", "/etc/passwd"), VG_EINVAL);
	assert_mentions(e.run.error, "outside");
	assert_int_equal(svc->output_file(&e.run.st, "text", "missing.txt"), VG_EINVAL);
	assert_int_equal(svc->output_file(&e.run.st, "text", "."), VG_EINVAL);

	/* output_write takes a plain file name only. */
	assert_int_equal(svc->output_write(&e.run.st, "text", "../x.txt", "x", 1), VG_EINVAL);
	assert_int_equal(svc->output_write(&e.run.st, "text", "a/x.txt", "x", 1), VG_EINVAL);
	assert_int_equal(svc->output_write(&e.run.st, "text", "result.json", "x", 1), VG_EINVAL);
	assert_int_equal(svc->output_write(&e.run.st, "text", "", "x", 1), VG_EINVAL);
	assert_int_equal(svc->output_write(&e.run.st, "", "x.txt", "x", 1), VG_EINVAL);
	assert_int_equal(svc->output_write(&e.run.st, "text", "x.txt", "xyz", 3), VG_OK);
	want = util_path_join(e.run.st.dir, "x.txt");
	assert_string_equal(e.run.out_path, want);
	assert_string_equal(e.run.out_kind, "text");
	abs = th_read(want);
	assert_string_equal(abs, "xyz");
	free(abs);
	free(want);

	svc_env_free(&e);
	job_free(j);
	free(real);
	free(link);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stages_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_stages_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_fan_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_fails_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_is_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_retry_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retries_run_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_failure_stops_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_must_be_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_without_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_loop_completes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repairs_exhausted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_repairs_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_script_error_without_repair_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cancel_is_prompt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_before_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_monotonic_parallel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_runs_only_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_completion_notes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_after_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_reruns_downstream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_paths_recorded_under_job, setup,
						teardown),
	};

	/* Stage failures are expected here; keep stderr to real errors. */
	log_set_level(VG_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
