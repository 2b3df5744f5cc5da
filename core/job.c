/*
 * Jobs: the VideoResponse state of one question, its status/progress walk,
 * cancellation, and its directory (job.json plus stages/<id>/result.json for
 * each finished stage) from which a job resumes after a crash.
 */
#include "job.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOB_FILE_MAX (16u << 20)

/* Every text field job.json keeps; the first four are those a stage's
 * `result` may fill (TEXT_RESULTS), the media ones come from the stores
 * (svc->output_link). */
static const char *const text_fields[] = {
	"initial_explanation", "refined_explanation", "video_url", "s3_url",
	"captions_url", "captions_srt_url", "poster_url", "thumbnail_url", NULL
};
#define TEXT_RESULTS 4

const job_media job_media_files[JOB_MEDIA_N] = {
	{ "captions_url", ".vtt", "text/vtt; charset=utf-8" },
	{ "captions_srt_url", ".srt", "application/x-subrip" },
	{ "poster_url", ".jpg", "image/jpeg" },
	{ "thumbnail_url", ".thumb.jpg", "image/jpeg" },
};

int job_field_valid(const char *name)
{
	for (int i = 0; i < TEXT_RESULTS; i++)
		if (!strcmp(text_fields[i], name))
			return 1;
	return 0;
}

static char **field_slot(job *j, const char *name)
{
	if (!strcmp(name, "initial_explanation")) return &j->initial_explanation;
	if (!strcmp(name, "refined_explanation")) return &j->refined_explanation;
	if (!strcmp(name, "video_url")) return &j->video_url;
	if (!strcmp(name, "s3_url")) return &j->s3_url;
	for (int i = 0; i < JOB_MEDIA_N; i++)
		if (!strcmp(name, job_media_files[i].field))
			return &j->media[i];
	return NULL;
}

/* fresh, if not NULL: 1 if the job's folder was made now, 0 if it was
 * there (a restart's). */
static job *job_alloc(const char *root, const char *id, const char *created_at,
		      const char *question, const char *model, const char *voice,
		      int *fresh, char *err, size_t errlen)
{
	job *j = xcalloc(1, sizeof(*j));
	char *abs_root = util_path_abs(root);

	if (!abs_root) {
		util_errf(err, errlen, "%s: cannot resolve path", root);
		free(j);
		return NULL;
	}
	snprintf(j->id, sizeof(j->id), "%s", id);
	snprintf(j->created_at, sizeof(j->created_at), "%s", created_at);
	j->question = xstrdup(question);
	j->model = xstrdup(model ? model : "");
	j->voice = xstrdup(voice ? voice : "");
	j->dir = util_path_join(abs_root, id);
	free(abs_root);
	pthread_mutex_init(&j->lock, NULL);
	j->status = xstrdup("queued");
	j->message = xstrdup("Video generation started");
	atomic_init(&j->cancel, 0);
	int made = mkdir(j->dir, 0755) == 0;
	if (fresh)
		*fresh = made;
	if (!made && util_mkdir_p(j->dir, 0755) < 0) {
		util_errf(err, errlen, "cannot create job directory %s: %s", j->dir, strerror(errno));
		job_free(j);
		return NULL;
	}
	return j;
}

job *job_create(const char *root, const char *question, const char *model,
		const char *voice, char *err, size_t errlen)
{
	char id[37], now[32];
	job *j;

	util_uuid4(id);
	util_now_iso8601(now);
	j = job_alloc(root, id, now, question, model, voice, NULL, err, errlen);
	if (!j)
		return NULL;
	if (job_save_locked(j) < 0) {
		util_errf(err, errlen, "cannot write %s/job.json: %s", j->dir, strerror(errno));
		job_free(j);
		return NULL;
	}
	return j;
}

job *job_restore(const char *root, const char *id, const char *created_at,
		 const char *question, const char *model, const char *voice,
		 char *err, size_t errlen)
{
	if (!util_uuid_valid(id)) {
		util_errf(err, errlen, "bad job id \"%s\"", id);
		return NULL;
	}
	int fresh = 0;
	job *j = job_alloc(root, id, created_at, question, model, voice, &fresh, err, errlen);
	/* A restart after a kill: what the killed process was writing. */
	if (j != NULL && !fresh)
		util_remove_stale_tmp(j->dir);
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

job *job_open(const char *dir, char *err, size_t errlen)
{
	char *path = util_path_join(dir, "job.json"), *abs, *slash;
	json_t *o = NULL;
	json_error_t je;
	job *j = NULL;
	const char *id, *q;

	o = json_load_file(path, 0, &je);
	if (!o) {
		util_errf(err, errlen, "%s:%d: %s", path, je.line, je.text);
		goto out;
	}
	id = jstr(o, "video_id");
	q = jstr(o, "original_question");
	if (!id || !q || !jstr(o, "created_at")) {
		util_errf(err, errlen, "%s: missing video_id, original_question or created_at", path);
		goto out;
	}
	abs = util_path_abs(dir);
	slash = strrchr(abs, '/');
	if (!slash || strcmp(slash + 1, id)) {
		util_errf(err, errlen, "%s: video_id %s does not match the directory name", path, id);
		free(abs);
		goto out;
	}
	*slash = '\0';
	j = job_restore(abs[0] ? abs : "/", id, jstr(o, "created_at"), q, jstr(o, "model"),
			jstr(o, "voice"), err, errlen);
	free(abs);
	if (!j)
		goto out;
	json_t *pr = json_object_get(o, "progress");
	job_set_locked(j, jstr(o, "status"), json_is_integer(pr) ? (int)json_integer_value(pr) : 0,
		       jstr(o, "message"));
	for (const char *const *f = text_fields; *f; f++)
		if (jstr(o, *f))
			job_set_field_locked(j, *f, jstr(o, *f));
	if (json_is_object(json_object_get(o, "usage")))
		job_set_usage_locked(j, json_incref(json_object_get(o, "usage")));
out:
	json_decref(o);
	free(path);
	return j;
}

void job_free(job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n_stages; i++) {
		free(j->stages[i].kind);
		free(j->stages[i].path);
		json_decref(j->stages[i].usage);
	}
	json_decref(j->usage);
	free(j->usage_text);
	free(j->stages);
	free(j->question);
	free(j->model);
	free(j->voice);
	free(j->dir);
	free(j->status);
	free(j->message);
	for (const char *const *f = text_fields; *f; f++)
		free(*field_slot(j, *f));
	pthread_mutex_destroy(&j->lock);
	free(j);
}

/* A copy of s in which each byte that does not start a valid UTF-8
 * sequence becomes U+FFFD. Messages come from plugins (a model's words, a
 * question cut at a byte count) and JSON cannot carry invalid text: jansson
 * would drop the whole field from the response. */
static char *utf8_copy(const char *s)
{
	size_t n = strlen(s), i = 0;
	strbuf sb = { 0 };
	char *r;

	if (util_utf8_valid(s, n, NULL))
		return xstrdup(s);
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

		if (i + len <= n && util_utf8_valid(s + i, len, NULL)) {
			sb_append(&sb, s + i, len);
			i += len;
		} else {
			sb_puts(&sb, "\xef\xbf\xbd");
			i++;
		}
	}
	r = sb_steal(&sb);
	return r ? r : xstrdup("");
}

static void set_str(char **slot, const char *v)
{
	if (!v || (*slot && !strcmp(*slot, v)))
		return;
	free(*slot);
	*slot = utf8_copy(v);
}

void job_set_locked(job *j, const char *status, int progress, const char *message)
{
	set_str(&j->status, status);
	set_str(&j->message, message);
	if (progress > 100)
		progress = 100;
	if (progress > j->progress)
		j->progress = progress;
	if (status && (!strcmp(status, "completed") || !strcmp(status, "failed")))
		j->finished = 1;
}

int job_set_field_locked(job *j, const char *field, const char *value)
{
	char **slot = field_slot(j, field);

	if (!slot)
		return -1;
	set_str(slot, value);
	return 0;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *job_response_locked(const job *j)
{
	json_t *o = json_object();

	json_object_set_new(o, "video_id", json_string(j->id));
	json_object_set_new(o, "status", json_string(j->status));
	json_object_set_new(o, "message", str_or_null(j->message));
	json_object_set_new(o, "video_url", str_or_null(j->video_url));
	json_object_set_new(o, "s3_url", str_or_null(j->s3_url));
	json_object_set_new(o, "created_at", json_string(j->created_at));
	json_object_set_new(o, "progress", json_integer(j->progress));
	json_object_set_new(o, "original_question", json_string(j->question));
	json_object_set_new(o, "initial_explanation", str_or_null(j->initial_explanation));
	json_object_set_new(o, "refined_explanation", str_or_null(j->refined_explanation));
	json_object_set(o, "usage", j->usage ? j->usage : json_null());
	for (int i = 0; i < JOB_MEDIA_N; i++)
		json_object_set_new(o, job_media_files[i].field, str_or_null(j->media[i]));
	return o;
}

void job_set_usage_locked(job *j, json_t *u)
{
	json_decref(j->usage);
	free(j->usage_text);
	j->usage = u;
	j->usage_text = u ? json_dumps(u, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
}

int job_save_locked(job *j)
{
	json_t *o = job_response_locked(j);
	char *text, *path;
	int rc;

	json_object_set_new(o, "model", json_string(j->model));
	json_object_set_new(o, "voice", json_string(j->voice));
	/* Reals (the usage's seconds and cost) as the status response has
	 * them: ten significant digits. */
	text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	json_decref(o);
	if (!text)
		return -1;
	path = util_path_join(j->dir, "job.json");
	rc = util_write_file_atomic(path, text, strlen(text));
	free(path);
	free(text);
	return rc;
}

int job_stages_done_locked(const job *j)
{
	for (size_t k = 0; k < j->n_stages; k++)
		if (!j->stages[k].done)
			return 0;
	return 1;
}

void job_cancel(job *j)
{
	atomic_store(&j->cancel, 1);
}

int job_cancelled(const job *j)
{
	return atomic_load(&((job *)j)->cancel) != 0;
}

/* Takes the counters a result.json recorded: numbers from 0 to 1e12 under
 * names of a-z, 0-9 and _ (the file is ours, but a resume must not trust
 * an edited one blindly). */
static void job_stage_usage_load(job_stage_state *ss, json_t *u)
{
	const char *k;
	json_t *v;

	json_decref(ss->usage);
	ss->usage = NULL;
	if (!json_is_object(u))
		return;
	ss->usage = json_object();
	json_object_foreach(u, k, v) {
		double d = json_number_value(v);
		if (json_is_number(v) && d >= 0 && d <= 1e12 && strlen(k) <= 32 &&
		    strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(k))
			json_object_set_new(ss->usage, k, json_real(d));
	}
}

int job_load_stage_results(job *j, const char *const *stage_ids, size_t n)
{
	if (!j->stages) {
		j->n_stages = n;
		j->stages = xcalloc(n, sizeof(*j->stages));
	}
	for (size_t i = 0; i < n; i++) {
		job_stage_state *ss = &j->stages[i];
		char rel[256], *path;
		json_t *o;
		const char *kind, *file;
		struct stat sb;

		snprintf(rel, sizeof(rel), "stages/%s/result.json", stage_ids[i]);
		path = util_path_join(j->dir, rel);
		o = json_load_file(path, 0, NULL);
		free(path);
		if (!o)
			continue;
		kind = jstr(o, "kind");
		file = jstr(o, "path");
		if (kind && file && !strstr(file, "..") && file[0] != '/') {
			char *abs = util_path_join(j->dir, file);
			if (stat(abs, &sb) == 0) {
				set_str(&ss->kind, kind);
				free(ss->path);
				ss->path = abs;
				ss->done = 1;
				json_t *a = json_object_get(o, "attempts");
				ss->attempts = json_is_integer(a) ? (int)json_integer_value(a) : 1;
				job_stage_usage_load(ss, json_object_get(o, "usage"));
			} else {
				free(abs);
			}
		}
		json_decref(o);
	}
	return 0;
}
