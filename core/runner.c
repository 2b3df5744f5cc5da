/*
 * The graph runner. The calling thread schedules: it starts every stage
 * whose inputs exist on its own thread, watches deadlines and cancellation,
 * and on each stage's end records its output (stages/<id>/result.json),
 * retries, repairs (re-running the on_error stage with the error as
 * feedback) or fails the job. Stage threads only run the plugin.
 */
#include "runner.h"
#include "artifacts.h"
#include "cloud/cloud.h"
#include "filecache.h"
#include "hooks.h"
#include "log.h"
#include "services.h"
#include "tpool.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INPUT_MAX (32u << 20) /* largest artifact handed to a plugin as text */
#define TICK_MS 200

enum { S_WAIT, S_RUNNING, S_FINISHED, S_DONE, S_FAILED };

typedef struct runner runner;

typedef struct exec {
	stage_run run;
	runner *r;
	size_t idx;
	int state;
	int rc;
	vg_artifact *inputs;
	char **input_data;
	vg_artifact previous;
	char *prev_path;         /* archived output of the last run (repairs) */
	char *prev_data;
	char *feedback;          /* error that asked for this repair run */
	char *note;              /* svc->note of the last successful run */
	char *dir;
	long long started_ms, deadline_ms;
	int timed_out;
	int runs;                /* runs started in this process */
	int retries_used;
	int repairs_used;        /* repairs this stage's failures asked for */
	int start_progress;
} exec;

struct runner {
	const pipeline *p;
	job *j;
	const runner_events *ev;
	vg_job_info info;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	exec *ex;
	int n_running;
	char *fail_msg;
	int fail_rc;
	char *question;          /* the question_hook's rewrite, or NULL */
	struct file_cache *cache; /* <data>/cache, shared with every job */
	artifacts *art;          /* the pipeline's shared artifacts, or NULL */
	char *art_error;         /* a marker that could not be withdrawn */
};

static const stage_def *def_of(const exec *e)
{
	return &e->r->p->stages[e->idx];
}

/* Saves the job (save: 0 for a stage's start, which changes only its
 * status and message, and for the last stage's end, which the job's end
 * follows: job.json keeps what a stage produced and the end) and tells the
 * listener; j->lock held. */
static void notify_locked(runner *r, int save)
{
	if (save && job_save_locked(r->j) < 0)
		log_msg(VG_LOG_WARN, "[%.8s] cannot save job.json: %s", r->j->id, strerror(errno));
	if (r->ev && r->ev->on_update)
		r->ev->on_update(r->ev->ud, r->j);
}

static void job_update(runner *r, const char *status, int progress, const char *message)
{
	pthread_mutex_lock(&r->j->lock);
	job_set_locked(r->j, status, progress, message);
	notify_locked(r, 1);
	pthread_mutex_unlock(&r->j->lock);
}

/* "generating_script" -> "Generating script" */
static char *status_words(const char *status)
{
	char *m = xstrdup(status);

	for (char *c = m; *c; c++)
		if (*c == '_' || *c == '-')
			*c = ' ';
	if (m[0] >= 'a' && m[0] <= 'z')
		m[0] = (char)(m[0] - 'a' + 'A');
	return m;
}

static void on_progress(stage_run *run, double f, const char *note)
{
	exec *e = run->ud;
	const stage_def *sd = def_of(e);
	int target = sd->progress, val;

	(void)note;
	if (target < 0 || target <= e->start_progress)
		return;
	val = e->start_progress + (int)(f * (target - e->start_progress));
	if (val >= target)
		val = target - 1; /* the stage's own end reaches target */
	pthread_mutex_lock(&e->r->j->lock);
	if (val > e->r->j->progress) {
		job_set_locked(e->r->j, NULL, val, NULL);
		if (e->r->ev && e->r->ev->on_update)
			e->r->ev->on_update(e->r->ev->ud, e->r->j);
	}
	pthread_mutex_unlock(&e->r->j->lock);
}

static int text_kind(const char *kind)
{
	return strcmp(kind, "video") && strcmp(kind, "audio") && strcmp(kind, "binary");
}

static void free_inputs(exec *e)
{
	const stage_def *sd = def_of(e);

	for (size_t k = 0; e->input_data && k < sd->n_inputs; k++)
		free(e->input_data[k]);
	free(e->input_data);
	free(e->inputs);
	free(e->prev_data);
	e->input_data = NULL;
	e->inputs = NULL;
	e->prev_data = NULL;
}

/* Fills the inputs from the question and the recorded outputs. */
static int prepare_inputs(exec *e, char *err, size_t errlen)
{
	const stage_def *sd = def_of(e);
	job *j = e->r->j;

	e->inputs = xcalloc(sd->n_inputs, sizeof(*e->inputs));
	e->input_data = xcalloc(sd->n_inputs, sizeof(char *));
	for (size_t k = 0; k < sd->n_inputs; k++) {
		vg_artifact *a = &e->inputs[k];
		size_t in = sd->input_idx[k];

		if (in == SIZE_MAX) {
			a->from = "question";
			a->kind = "text";
			a->data = e->r->info.question;
			a->len = strlen(e->r->info.question);
			continue;
		}
		a->from = e->r->p->stages[in].id;
		a->kind = j->stages[in].kind;
		a->path = j->stages[in].path;
		if (text_kind(a->kind)) {
			if (util_read_file(a->path, INPUT_MAX, &e->input_data[k], &a->len, err,
					   errlen) < 0)
				return -1;
			a->data = e->input_data[k];
		}
	}
	if (e->prev_path) {
		e->previous.from = sd->id;
		e->previous.kind = j->stages[e->idx].kind ? j->stages[e->idx].kind : "text";
		e->previous.path = e->prev_path;
		if (util_read_file(e->prev_path, INPUT_MAX, &e->prev_data, &e->previous.len,
				   NULL, 0) == 0)
			e->previous.data = e->prev_data;
	}
	return 0;
}

/* The read-only job table hooks see: the job, this stage's inputs, and the
 * text outputs of every other stage finished so far. */
typedef struct hook_ctx {
	hook_job_view view;
	hook_artifact arts[PIPELINE_MAX_STAGES + 1];
	char *owned[PIPELINE_MAX_STAGES]; /* texts read for this call */
	size_t n_owned;
} hook_ctx;

static int has_art(const hook_ctx *h, const char *stage)
{
	for (size_t i = 0; i < h->view.n_artifacts; i++)
		if (!strcmp(h->arts[i].stage, stage))
			return 1;
	return 0;
}

static void hook_ctx_init(const exec *e, hook_ctx *h)
{
	const vg_stage *st = &e->run.st;
	const pipeline *p = e->r->p;
	job *j = e->r->j;
	size_t n = 0;

	memset(h, 0, sizeof(*h));
	for (size_t k = 0; k < st->n_inputs; k++) {
		if (!st->inputs[k].data || n >= PIPELINE_MAX_STAGES)
			continue;
		h->arts[n].stage = st->inputs[k].from;
		h->arts[n].text = st->inputs[k].data;
		n++;
	}
	h->view.artifacts = h->arts;
	h->view.n_artifacts = n;
	for (size_t i = 0; i < p->n_stages && h->view.n_artifacts < PIPELINE_MAX_STAGES; i++) {
		char *path = NULL, *text = NULL;
		size_t len;

		if (i == e->idx || has_art(h, p->stages[i].id))
			continue;
		pthread_mutex_lock(&j->lock);
		if (j->stages[i].done && j->stages[i].path && text_kind(j->stages[i].kind))
			path = xstrdup(j->stages[i].path);
		pthread_mutex_unlock(&j->lock);
		if (path && util_read_file(path, INPUT_MAX, &text, &len, NULL, 0) == 0) {
			h->owned[h->n_owned++] = text;
			h->arts[h->view.n_artifacts].stage = p->stages[i].id;
			h->arts[h->view.n_artifacts].text = text;
			h->view.n_artifacts++;
		}
		free(path);
	}
	h->view.job_id = st->job->id;
	h->view.question = st->job->question;
	h->view.model = st->model;
	h->view.voice = st->job->voice;
	h->view.stage = st->id;
}

static void hook_ctx_free(hook_ctx *h)
{
	for (size_t i = 0; i < h->n_owned; i++)
		free(h->owned[i]);
}

/* `before`: rewrites the stage's first text input. */
static int run_before_hook(exec *e, const hook *h)
{
	vg_stage *st = &e->run.st;
	hook_ctx hc;
	char err[1024], *out = NULL;
	int rc;

	for (size_t k = 0; k < st->n_inputs; k++) {
		vg_artifact *a = &e->inputs[k];
		if (!a->data || !strcmp(a->kind, "narration"))
			continue;
		hook_ctx_init(e, &hc);
		rc = hook_call(h, a->data, &hc.view, &out, err, sizeof(err));
		hook_ctx_free(&hc);
		if (rc != 0) {
			st->svc->fail(st, "before hook %s: %s", hook_spec(h), err);
			return VG_EINVAL;
		}
		if (out) {
			free(e->input_data[k]);
			e->input_data[k] = out;
			a->data = out;
			a->len = strlen(out);
		}
		break;
	}
	return VG_OK;
}

/* `after`: rewrites the stage's text output in place (the plugin's own
 * text is kept beside it as <file>.orig). */
static int run_after_hook(exec *e, const hook *h)
{
	vg_stage *st = &e->run.st;
	hook_ctx hc;
	char err[1024], *text = NULL, *out = NULL, *orig;
	size_t len, n;
	int rc = VG_OK, hrc;

	if (!text_kind(e->run.out_kind) ||
	    util_read_file(e->run.out_path, INPUT_MAX, &text, &len, err, sizeof(err)) < 0)
		return VG_OK;
	hook_ctx_init(e, &hc);
	hrc = hook_call(h, text, &hc.view, &out, err, sizeof(err));
	hook_ctx_free(&hc);
	if (hrc != 0) {
		st->svc->fail(st, "after hook %s: %s", hook_spec(h), err);
		rc = VG_EINVAL;
		goto out;
	}
	if (!out)
		goto out;
	n = strlen(e->run.out_path) + 6;
	orig = xmalloc(n);
	snprintf(orig, n, "%s.orig", e->run.out_path);
	if (util_write_file_atomic(orig, text, len) < 0 ||
	    util_write_file_atomic(e->run.out_path, out, strlen(out)) < 0) {
		st->svc->fail(st, "after hook %s: cannot write the output: %s", hook_spec(h),
			      strerror(errno));
		rc = VG_EIO;
	}
	free(orig);
out:
	free(text);
	free(out);
	return rc;
}

/* Runs on a pool thread (tpool.c): after it has said S_FINISHED under the
 * runner's mutex it touches nothing of the runner's. */
static void stage_thread(void *arg)
{
	exec *e = arg;
	const stage_def *sd = def_of(e);
	int rc = VG_OK;

	if (sd->hook_before_ref)
		rc = run_before_hook(e, sd->hook_before_ref);
	if (rc == VG_OK)
		rc = sd->plugin->desc->run(sd->inst.data, &e->run.st);
	if (rc == VG_OK && !e->run.out_path) {
		free(e->run.error);
		e->run.error = xstrdup("the plugin finished without an output");
		rc = VG_EFAIL;
	}
	if (rc == VG_OK && sd->hook_after_ref)
		rc = run_after_hook(e, sd->hook_after_ref);
	pthread_mutex_lock(&e->r->mu);
	e->rc = rc;
	e->state = S_FINISHED;
	pthread_cond_broadcast(&e->r->cv);
	pthread_mutex_unlock(&e->r->mu);
}

static void fail_job(runner *r, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Withdraws stage idx's record from the shared artifacts: a worker taking
 * the job over must run it again, as this one will. A failure is kept in
 * r->art_error (the first one) for the caller to fail the job with. */
static void withdraw(runner *r, size_t idx)
{
	char err[1024];

	if (!r->art || r->art_error)
		return;
	if (artifacts_forget_stage(r->art, r->j->id, r->p->stages[idx].id, err,
				   sizeof(err)) < 0)
		r->art_error = xstrdup(err);
}

/* Moves a stage's recorded output aside (kept as <file>.attemptN) so a new
 * run starts clean and a crash mid-run does not look finished. Returns the
 * archived output path (malloc'd) or NULL. */
static char *archive_output(runner *r, size_t idx)
{
	job_stage_state *ss = &r->j->stages[idx];
	char *res = util_path_join(r->ex[idx].dir, "result.json");
	char *moved = NULL, buf[64];

	if (ss->path) {
		size_t n = strlen(ss->path) + sizeof(buf);
		moved = xmalloc(n);
		snprintf(moved, n, "%s.attempt%d", ss->path, ss->attempts);
		if (rename(ss->path, moved) < 0) {
			free(moved);
			moved = NULL;
		}
	}
	unlink(res);
	free(res);
	withdraw(r, idx);
	pthread_mutex_lock(&r->j->lock);
	ss->done = 0;
	free(ss->path);
	ss->path = NULL;
	pthread_mutex_unlock(&r->j->lock);
	return moved;
}

static int launch(runner *r, exec *e)
{
	const stage_def *sd = def_of(e);
	job_stage_state *ss = &r->j->stages[e->idx];
	const model_def *md;
	const char *model;
	char err[512];

	util_mkdir_p(e->dir, 0755);
	stage_run_clear(&e->run);
	free_inputs(e);
	memset(&e->previous, 0, sizeof(e->previous));
	if (prepare_inputs(e, err, sizeof(err)) < 0) {
		e->run.error = xstrdup(err);
		return -1;
	}
	model = sd->model ? sd->model : r->j->model;
	md = pipeline_model(r->p, model);
	stage_run_init(&e->run, &(stage_params){
		.id = sd->id, .dir = e->dir, .model = model,
		.model_id = md ? md->id : model, .job = &r->info,
		.inputs = e->inputs, .n_inputs = sd->n_inputs, .attempt = ss->attempts,
		.feedback = e->feedback, .previous = e->prev_path ? &e->previous : NULL,
		.last_repair = sd->repair_stage && e->repairs_used >= sd->max_repairs,
	});
	e->run.job = r->j;
	e->run.on_progress = on_progress;
	e->run.ud = e;
	e->run.cache = r->cache;

	pthread_mutex_lock(&r->j->lock);
	ss->attempts++;
	ss->started_ms = util_now_ms();
	e->start_progress = r->j->progress;
	if (sd->status) {
		char *words = status_words(sd->status);
		job_set_locked(r->j, sd->status, -1, words);
		free(words);
	} else if (!strcmp(r->j->status, "queued")) {
		job_set_locked(r->j, "running", -1, "Running");
	}
	notify_locked(r, 0);
	pthread_mutex_unlock(&r->j->lock);

	e->started_ms = util_now_ms();
	e->deadline_ms = sd->timeout_ms ? e->started_ms + sd->timeout_ms : 0;
	e->timed_out = 0;
	e->runs++;
	e->state = S_RUNNING;
	r->n_running++;
	log_msg(VG_LOG_DEBUG, "[%.8s %s] start (run %d)", r->j->id, sd->id, ss->attempts);
	if (tpool_run(stage_thread, e) != 0) {
		e->state = S_WAIT;
		r->n_running--;
		e->run.error = xstrdup("cannot start a thread for the stage");
		return -1;
	}
	return 0;
}

/* The files a stage's output is made of, relative to the job folder (a
 * JSON array): the output itself, a narration's audio segments (named
 * relative to the narration file), a video's captions and poster when the
 * render left them beside it. What another machine needs to go on. */
static json_t *output_files(const char *job_dir, const char *kind, const char *rel)
{
	json_t *files = json_array(), *nar, *seg;
	size_t dir_len = strrchr(rel, '/') ? (size_t)(strrchr(rel, '/') - rel) + 1 : 0, i;
	char *abs;
	struct stat sb;

	json_array_append_new(files, json_string(rel));
	if (!strcmp(kind, "narration")) {
		abs = util_path_join(job_dir, rel);
		nar = json_load_file(abs, 0, NULL);
		free(abs);
		json_array_foreach(json_object_get(nar, "segments"), i, seg) {
			const char *f = json_string_value(json_object_get(seg, "file"));
			strbuf sb2 = { 0 };
			if (!f)
				continue;
			sb_printf(&sb2, "%.*s%s", (int)dir_len, rel, f);
			json_array_append_new(files, json_string(sb2.buf));
			sb_free(&sb2);
		}
		json_decref(nar);
	}
	size_t n = strlen(rel);
	if (!strcmp(kind, "video") && n > 4 && !strcmp(rel + n - 4, ".mp4")) {
		for (int m = 0; m < JOB_MEDIA_N; m++) {
			strbuf sb2 = { 0 };
			sb_printf(&sb2, "%.*s%s", (int)(n - 4), rel, job_media_files[m].suffix);
			abs = util_path_join(job_dir, sb2.buf);
			if (lstat(abs, &sb) == 0 && S_ISREG(sb.st_mode))
				json_array_append_new(files, json_string(sb2.buf));
			free(abs);
			sb_free(&sb2);
		}
	}
	return files;
}

/* Records a finished stage's output; copies text into a response field.
 * -1 on a local failure, -2 when the shared artifacts could not take it
 * (err says why). */
static int record(runner *r, exec *e, char *err, size_t errlen)
{
	const stage_def *sd = def_of(e);
	job_stage_state *ss = &r->j->stages[e->idx];
	const char *rel = e->run.out_path + strlen(r->j->dir) + 1;
	char *res = util_path_join(e->dir, "result.json"), *text = NULL, *dump = NULL;
	int rc = -1;

	/* Checked before result.json marks the stage done: a resumed job
	 * would skip a stage whose output was refused. A NUL would cut the
	 * response field short. */
	if (sd->result) {
		size_t len;
		if (util_read_file(e->run.out_path, INPUT_MAX, &text, &len, err, errlen) < 0)
			goto out;
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' ||
				   text[len - 1] == '\r'))
			text[--len] = '\0';
		if (strlen(text) != len || !util_utf8_valid(text, len, NULL)) {
			util_errf(err, errlen, "stage output is not valid UTF-8 text (or holds a "
				  "NUL byte)");
			goto out;
		}
	}
	pthread_mutex_lock(&r->j->lock);
	json_t *u = ss->usage ? json_deep_copy(ss->usage) : json_object();
	pthread_mutex_unlock(&r->j->lock);
	json_t *o = json_pack("{s:s, s:s, s:i, s:I, s:o, s:o}", "kind", e->run.out_kind,
			      "path", rel, "attempts", ss->attempts, "duration_ms",
			      (json_int_t)(util_now_ms() - e->started_ms), "usage", u,
			      "files", output_files(r->j->dir, e->run.out_kind, rel));
	/* In S3 before result.json says "done": done implies shared. */
	if (r->art && artifacts_put_stage(r->art, r->j->dir, r->j->id, sd->id, o, err,
					  errlen) < 0) {
		json_decref(o);
		rc = -2;
		goto out;
	}
	dump = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (!dump || util_write_file_atomic(res, dump, strlen(dump)) < 0) {
		util_errf(err, errlen, "cannot write %s: %s", res, strerror(errno));
		goto out;
	}
	pthread_mutex_lock(&r->j->lock);
	free(ss->kind);
	free(ss->path);
	ss->kind = xstrdup(e->run.out_kind);
	ss->path = xstrdup(e->run.out_path);
	ss->done = 1;
	ss->ended_ms = util_now_ms();
	if (text)
		job_set_field_locked(r->j, sd->result, text);
	for (int i = 0; i < JOB_MEDIA_N; i++)
		if (e->run.links[i])
			job_set_field_locked(r->j, job_media_files[i].field, e->run.links[i]);
	job_set_locked(r->j, NULL, sd->progress, NULL);
	/* The last stage: job.json is saved once, at the job's end, which
	 * follows (a crash between them leaves result.json, which a resume
	 * reads). */
	notify_locked(r, !job_stages_done_locked(r->j));
	pthread_mutex_unlock(&r->j->lock);
	rc = 0;
out:
	free(text);
	free(dump);
	free(res);
	return rc;
}

/* 1 if stage d depends on stage a, directly or further up. */
static int depends_on(const pipeline *p, size_t d, size_t a)
{
	for (size_t k = 0; k < p->stages[d].n_inputs; k++) {
		size_t in = p->stages[d].input_idx[k];
		if (in != SIZE_MAX && (in == a || depends_on(p, in, a)))
			return 1;
	}
	return 0;
}

/* Sends the failure of e back to its on_error stage: that stage and every
 * finished stage after it run again. */
static void request_repair(runner *r, exec *e)
{
	const stage_def *sd = def_of(e);
	size_t target = sd->repair_idx;
	exec *t = &r->ex[target];

	e->repairs_used++;
	log_msg(VG_LOG_INFO, "[%.8s] %s failed; asking %s for a repair (%d of %d)", r->j->id,
		sd->id, r->p->stages[target].id, e->repairs_used, sd->max_repairs);
	free(t->feedback);
	t->feedback = xstrdup(stage_run_error(&e->run, e->rc));
	free(t->prev_path);
	t->prev_path = archive_output(r, target);
	t->state = S_WAIT;
	for (size_t i = 0; i < r->p->n_stages; i++) {
		if (i == target || !depends_on(r->p, i, target))
			continue;
		if (r->ex[i].state == S_DONE || r->ex[i].state == S_FAILED) {
			free(archive_output(r, i));
			r->ex[i].state = S_WAIT;
		}
	}
	if (r->art_error)
		fail_job(r, VG_EIO, "Stage %s must run again but its last output could not be "
			 "withdrawn: %s", r->p->stages[target].id, r->art_error);
}

static void fail_job(runner *r, int rc, const char *fmt, ...)
{
	strbuf sb = { 0 };
	va_list ap;

	if (r->fail_msg)
		return; /* the first failure is the one users need */
	va_start(ap, fmt);
	sb_vprintf(&sb, fmt, ap);
	va_end(ap);
	r->fail_msg = sb_steal(&sb);
	r->fail_rc = rc ? rc : VG_EFAIL;
	for (size_t i = 0; i < r->p->n_stages; i++)
		if (r->ex[i].state == S_RUNNING)
			atomic_store(&r->ex[i].run.stop, 1);
}

/* Adds a finished run's counters and wall time to its stage's usage, sets
 * the stage's attempts, rebuilds the job's `usage` object and tells the
 * listener what this run added. */
static void usage_merge(runner *r, exec *e, long long dur_ms)
{
	const stage_def *sd = def_of(e);
	job_stage_state *ss = &r->j->stages[e->idx];
	const char *model = usage_stage_model(r->p, e->idx, r->j->model);
	stage_usage u;

	stage_run_usage_copy(&e->run, &u);
	stage_usage_add(&u, "wall_seconds", (double)dur_ms / 1000.0);
	pthread_mutex_lock(&r->j->lock);
	if (!ss->usage)
		ss->usage = json_object();
	for (size_t i = 0; i < u.n; i++) {
		double cur = json_number_value(json_object_get(ss->usage, u.v[i].name));
		json_object_set_new(ss->usage, u.v[i].name, json_real(cur + u.v[i].value));
	}
	json_object_set_new(ss->usage, "attempts", json_real(ss->attempts));
	job_set_usage_locked(r->j, usage_build_locked(r->p, r->j));
	pthread_mutex_unlock(&r->j->lock);
	if (!r->ev || !r->ev->on_usage)
		return;
	for (size_t i = 0; i < u.n; i++)
		r->ev->on_usage(r->ev->ud, sd, model, u.v[i].name, u.v[i].value);
	r->ev->on_usage(r->ev->ud, sd, model, "attempts", 1);
}

static void finish(runner *r, exec *e)
{
	const stage_def *sd = def_of(e);
	long long dur = util_now_ms() - e->started_ms;
	char err[1024];
	int rc = e->rc, ok, rec = 0;

	r->n_running--;
	usage_merge(r, e, dur);
	if (rc == VG_OK && r->ev && r->ev->may_record && !r->ev->may_record(r->ev->ud, r->j)) {
		job_cancel(r->j);
		rc = VG_ECANCELED;
	}
	if (rc == VG_OK && (rec = record(r, e, err, sizeof(err))) < 0) {
		free(e->run.error);
		e->run.error = xstrdup(err);
		rc = VG_EIO;
	}
	ok = rc == VG_OK;
	if (r->ev && r->ev->on_stage)
		r->ev->on_stage(r->ev->ud, r->j, sd, ok, dur);
	if (ok) {
		e->state = S_DONE;
		free(e->feedback);
		e->feedback = NULL;
		free(e->note);
		e->note = e->run.note ? xstrdup(e->run.note) : NULL;
		log_msg(VG_LOG_DEBUG, "[%.8s %s] done in %lld ms", r->j->id, sd->id, dur);
		return;
	}
	e->state = S_FAILED;
	if (r->fail_msg)
		return; /* already failing: this is a stage we stopped */
	if (job_cancelled(r->j)) {
		fail_job(r, VG_ECANCELED, "Cancelled by request");
		return;
	}
	if (rec == -2) {
		/* The HTTP client retried already: running the stage again
		 * would pay for it again. */
		fail_job(r, VG_EIO, "Stage %s finished but its output could not be kept: %s",
			 sd->id, err);
		return;
	}
	if (e->timed_out) {
		rc = VG_ETIMEDOUT;
		free(e->run.error);
		e->run.error = NULL;
		snprintf(err, sizeof(err), "timed out after %g s", sd->timeout_ms / 1000.0);
		e->run.error = xstrdup(err);
	}
	log_msg(VG_LOG_WARN, "[%.8s %s] failed: %s", r->j->id, sd->id, stage_run_error(&e->run, rc));
	if (rc == VG_ESCRIPT && sd->repair_stage) {
		if (e->repairs_used < sd->max_repairs) {
			request_repair(r, e);
			e->state = S_WAIT;
			return;
		}
		fail_job(r, rc, "Stage %s failed after %d repair%s: %s", sd->id, sd->max_repairs,
			 sd->max_repairs == 1 ? "" : "s", stage_run_error(&e->run, rc));
		return;
	}
	if ((rc == VG_EFAIL || rc == VG_ETIMEDOUT || rc == VG_EIO) &&
	    e->retries_used < sd->retries) {
		e->retries_used++;
		log_msg(VG_LOG_INFO, "[%.8s %s] retry %d of %d", r->j->id, sd->id,
			e->retries_used, sd->retries);
		e->state = S_WAIT;
		return;
	}
	fail_job(r, rc, "Stage %s failed: %s", sd->id, stage_run_error(&e->run, rc));
}

static int inputs_ready(const runner *r, size_t i)
{
	const stage_def *sd = &r->p->stages[i];

	for (size_t k = 0; k < sd->n_inputs; k++)
		if (sd->input_idx[k] != SIZE_MAX && r->ex[sd->input_idx[k]].state != S_DONE)
			return 0;
	return 1;
}

/* Starts what can start; returns how many stages are not done. */
static size_t schedule(runner *r)
{
	size_t left = 0;

	for (size_t i = 0; i < r->p->n_stages; i++) {
		exec *e = &r->ex[i];

		if (e->state != S_DONE)
			left++;
		if (e->state != S_WAIT || r->fail_msg || !inputs_ready(r, i))
			continue;
		if (r->j->stages[i].path) {
			/* A finished stage made stale on resume (runner_init): its
			 * output is archived and offered as `previous`. (Repairs and
			 * their downstream stages were archived already.) */
			free(e->prev_path);
			e->prev_path = archive_output(r, i);
		}
		if (r->art_error) {
			fail_job(r, VG_EIO, "Stage %s must run again but its last output could "
				 "not be withdrawn: %s", r->p->stages[i].id, r->art_error);
			continue;
		}
		if (launch(r, e) < 0)
			fail_job(r, VG_EIO, "Stage %s could not start: %s", r->p->stages[i].id,
				 stage_run_error(&e->run, VG_EIO));
	}
	return left;
}

/* Waits for the next stage end or tick; enforces deadlines. mu held. */
static void wait_tick(runner *r)
{
	long long now = util_now_ms(), wake = now + TICK_MS;
	struct timespec ts;

	for (size_t i = 0; i < r->p->n_stages; i++) {
		exec *e = &r->ex[i];
		if (e->state != S_RUNNING || !e->deadline_ms || e->timed_out)
			continue;
		if (now >= e->deadline_ms) {
			e->timed_out = 1;
			atomic_store(&e->run.stop, 1);
		} else if (e->deadline_ms < wake) {
			wake = e->deadline_ms;
		}
	}
	for (size_t i = 0; i < r->p->n_stages; i++)
		if (r->ex[i].state == S_FINISHED)
			return;
	clock_gettime(CLOCK_REALTIME, &ts);
	wake -= now;
	ts.tv_sec += wake / 1000;
	ts.tv_nsec += (wake % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

/* The file cache of the job's data folder (the folder holding the job's
 * own): <data>/cache, capped by the pipeline's cache_max_mb. */
static struct file_cache *runner_cache(const pipeline *p, const job *j)
{
	char *data = xstrdup(j->dir), *slash = strrchr(data, '/'), *dir;
	struct file_cache *c;

	if (slash)
		*slash = '\0';
	dir = util_path_join(data[0] ? data : "/", "cache");
	c = file_cache_open(dir, p->cache_max_bytes);
	free(dir);
	free(data);
	return c;
}

static void runner_init(runner *r, const pipeline *p, job *j, const runner_events *ev)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->j = j;
	r->ev = ev;
	r->info.id = j->id;
	r->info.question = j->question;
	r->info.model = j->model;
	r->info.voice = j->voice;
	r->info.job_dir = j->dir;
	r->info.created_at = j->created_at;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->cache = runner_cache(p, j);
	r->ex = xcalloc(p->n_stages, sizeof(*r->ex));
	for (size_t i = 0; i < p->n_stages; i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "stages/%s", p->stages[i].id);
		r->ex[i].r = r;
		r->ex[i].idx = i;
		r->ex[i].dir = util_path_join(j->dir, rel);
	}
}

/* Marks the stages recorded as done (once they are loaded). */
static void runner_mark_done(runner *r)
{
	const pipeline *p = r->p;

	for (size_t i = 0; i < p->n_stages; i++)
		r->ex[i].state = r->j->stages[i].done ? S_DONE : S_WAIT;
	/* A stage that must run again (its output was lost or removed) makes
	 * every stage after it stale too: they run again from the new output. */
	for (size_t k = 0; k < p->n_stages; k++) {
		size_t i = p->order[k];
		if (r->ex[i].state == S_DONE)
			continue;
		for (size_t d = 0; d < p->n_stages; d++)
			if (r->ex[d].state == S_DONE && depends_on(p, d, i))
				r->ex[d].state = S_WAIT;
	}
}

static void runner_destroy(runner *r)
{
	for (size_t i = 0; i < r->p->n_stages; i++) {
		exec *e = &r->ex[i];
		stage_run_clear(&e->run);
		free_inputs(e);
		free(e->prev_path);
		free(e->feedback);
		free(e->note);
		free(e->dir);
	}
	free(r->ex);
	artifacts_free(r->art);
	free(r->art_error);
	free(r->fail_msg);
	free(r->question);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
}

/* Checks, before any stage runs, what the plugins declared they need, so a
 * missing credential fails the job at once instead of after paid stages. */
static int preflight(const pipeline *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < p->n_stages; i++) {
		const vg_plugin *d = p->stages[i].plugin->desc;
		aws_credentials creds = { 0 };
		const cloud_api *cloud;
		int rc;

		if (!(d->needs & VG_NEEDS_AWS_CREDENTIALS))
			continue;
		cloud = cloud_get(err, errlen);
		if (!cloud)
			return -1;
		rc = cloud->aws_credentials_resolve(&creds, err, errlen);
		cloud->aws_credentials_clear(&creds);
		return rc;
	}
	return 0;
}

/* Runs the pipeline's question_hook once: every stage (inputs and the
 * {{question}} of prompts) then sees the rewrite, while the job keeps the
 * question as the user typed it. */
static int rewrite_question(runner *r, char *err, size_t errlen)
{
	hook_job_view view = { 0 };
	char herr[1024];
	char *out = NULL;

	if (!r->p->question_hook_ref)
		return 0;
	view.job_id = r->j->id;
	view.question = r->j->question;
	view.model = r->j->model;
	view.voice = r->j->voice;
	view.stage = "question";
	if (hook_call(r->p->question_hook_ref, r->j->question, &view, &out, herr,
		      sizeof(herr)) != 0) {
		util_errf(err, errlen, "question hook %s: %s", hook_spec(r->p->question_hook_ref),
			  herr);
		return -1;
	}
	if (out) {
		r->question = out;
		r->info.question = out;
	}
	return 0;
}

/* "Video generated successfully", then the stages' notes (svc->note) in
 * pipeline order: what the user should know about a video that was made
 * with a caveat. The caller frees it. */
static char *completion_message(const runner *r)
{
	strbuf sb = { 0 };

	sb_printf(&sb, "Video generated successfully");
	for (size_t i = 0; i < r->p->n_stages; i++)
		if (r->ex[i].note && r->ex[i].note[0])
			sb_printf(&sb, "; %s", r->ex[i].note);
	return sb_steal(&sb);
}

static int job_cancelled_cb(void *ud)
{
	return job_cancelled(ud);
}

/* Loads what the job's folder holds of stages done before, after fetching
 * from the shared artifacts the stages done elsewhere that it lacks. */
static int load_done_stages(runner *r, char *err, size_t errlen)
{
	const char *ids[PIPELINE_MAX_STAGES];
	int fetched = 0, rc, shared[PIPELINE_MAX_STAGES], missing = 0;

	for (size_t i = 0; i < r->p->n_stages; i++)
		ids[i] = r->p->stages[i].id;
	job_load_stage_results(r->j, ids, r->p->n_stages);
	for (size_t i = 0; i < r->p->n_stages; i++)
		missing |= !r->j->stages[i].done;
	if (!r->art || !missing)
		return 0;
	if (artifacts_stages_done(r->art, r->j->id, ids, r->p->n_stages, shared, err,
				  errlen) < 0)
		return -1;
	for (size_t i = 0; i < r->p->n_stages; i++) {
		if (r->j->stages[i].done || !shared[i])
			continue;
		rc = artifacts_fetch_stage(r->art, r->j->dir, r->j->id, ids[i], err, errlen);
		if (rc < 0)
			return -1;
		fetched += rc;
	}
	if (fetched)
		job_load_stage_results(r->j, ids, r->p->n_stages);
	return 0;
}

int runner_run(const pipeline *p, job *j, const runner_events *ev)
{
	char perr[1024];
	runner r;
	int rc, fresh, art_failed = 0;

	pthread_mutex_lock(&j->lock);
	fresh = !j->stages || j->n_stages != p->n_stages;
	if (fresh) {
		free(j->stages);
		j->n_stages = p->n_stages;
		j->stages = xcalloc(p->n_stages, sizeof(*j->stages));
	}
	pthread_mutex_unlock(&j->lock);
	runner_init(&r, p, j, ev);
	if (p->artifacts && !(r.art = artifacts_open(p->artifacts, perr, sizeof(perr))))
		art_failed = 1;
	if (r.art)
		artifacts_set_cancel(r.art, job_cancelled_cb, j);
	if (!art_failed && fresh && load_done_stages(&r, perr, sizeof(perr)) < 0)
		art_failed = 1;
	runner_mark_done(&r);
	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->n_stages; i++)
		if (j->stages[i].usage) {
			/* A resumed job: what its earlier runs used counts. */
			job_set_usage_locked(j, usage_build_locked(p, j));
			break;
		}
	pthread_mutex_unlock(&j->lock);
	if (art_failed)
		fail_job(&r, VG_EIO, "%s", perr);
	else if (preflight(p, perr, sizeof(perr)) < 0)
		fail_job(&r, VG_EINVAL, "%s", perr);
	else if (rewrite_question(&r, perr, sizeof(perr)) < 0)
		fail_job(&r, VG_EINVAL, "%s", perr);
	pthread_mutex_lock(&r.mu);
	for (;;) {
		size_t left;

		if (job_cancelled(j) && !r.fail_msg)
			fail_job(&r, VG_ECANCELED, "Cancelled by request");
		for (size_t i = 0; i < p->n_stages; i++)
			if (r.ex[i].state == S_FINISHED)
				finish(&r, &r.ex[i]);
		left = schedule(&r);
		if (r.n_running == 0 && (left == 0 || r.fail_msg))
			break;
		if (r.n_running == 0) {
			/* Nothing runs and nothing can start: a stage waits on
			 * one that failed without failing the job. */
			fail_job(&r, VG_EFAIL, "no stage can run (inputs missing)");
			break;
		}
		wait_tick(&r);
	}
	pthread_mutex_unlock(&r.mu);
	if (r.fail_msg) {
		job_update(&r, "failed", 100, r.fail_msg);
	} else {
		char *done = completion_message(&r);
		job_update(&r, "completed", 100, done);
		free(done);
	}
	rc = r.fail_msg ? r.fail_rc : VG_OK;
	runner_destroy(&r);
	return rc;
}
