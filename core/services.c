/*
 * The services table: what a plugin may ask of the core. Each function gets
 * the vg_stage, whose core pointer leads back to the stage_run that holds
 * the execution's state.
 */
#include "services.h"
#include "cloud/cloud.h"
#include "filecache.h"
#include "job.h"
#include "log.h"
#include "proc.h"
#include "sentences.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define USAGE_VALUE_MAX 1e12 /* no honest counter of one stage run is larger */

/* Guards every stage_usage: updates are rare and short, so one lock
 * serves all runs (and needs no set-up in the structs that hold them). */
static pthread_mutex_t usage_lock = PTHREAD_MUTEX_INITIALIZER;

static stage_run *run_of(const vg_stage *st)
{
	return (stage_run *)st->core;
}

int usage_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= STAGE_USAGE_NAME)
		return 0;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return 0;
	return 1;
}

int stage_usage_add(stage_usage *u, const char *name, double value)
{
	size_t i;
	int rc = 0;

	if (!usage_name_ok(name) || !isfinite(value) || value < 0 || value > USAGE_VALUE_MAX)
		return -1;
	pthread_mutex_lock(&usage_lock);
	for (i = 0; i < u->n && strcmp(u->v[i].name, name); i++)
		;
	if (i == u->n && u->n < STAGE_USAGE_MAX) {
		snprintf(u->v[i].name, sizeof(u->v[i].name), "%s", name);
		u->v[i].value = 0;
		u->n++;
	}
	if (i < u->n)
		u->v[i].value += value;
	else
		rc = -1;
	pthread_mutex_unlock(&usage_lock);
	return rc;
}

void stage_run_usage_copy(const stage_run *run, stage_usage *out)
{
	pthread_mutex_lock(&usage_lock);
	*out = run->usage;
	pthread_mutex_unlock(&usage_lock);
}

static void svc_log(const vg_stage *st, int level, const char *fmt, ...)
{
	char prefix[96];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "[%.8s %s] ", st->job ? st->job->id : "-",
		 st->id ? st->id : "-");
	va_start(ap, fmt);
	log_vmsg(level, prefix, fmt, ap);
	va_end(ap);
}

/* Replaces *dst with the formatted text. */
static void set_text(char **dst, const char *fmt, va_list ap)
{
	strbuf sb = { 0 };

	sb_vprintf(&sb, fmt, ap);
	free(*dst);
	*dst = sb_steal(&sb);
}

static void svc_fail(const vg_stage *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_text(&run_of(st)->error, fmt, ap);
	va_end(ap);
}

static void svc_note(const vg_stage *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_text(&run_of(st)->note, fmt, ap);
	va_end(ap);
}

static int set_output(stage_run *run, const char *kind, const char *abs)
{
	free(run->out_kind);
	free(run->out_path);
	run->out_kind = xstrdup(kind);
	run->out_path = xstrdup(abs);
	return VG_OK;
}

static int name_ok(const char *name)
{
	if (!name[0] || strlen(name) > 128 || !strcmp(name, ".") || !strcmp(name, "..") ||
	    !strcmp(name, "result.json"))
		return 0;
	for (const char *c = name; *c; c++)
		if (*c == '/' || (unsigned char)*c < 0x20)
			return 0;
	return 1;
}

static int svc_output_write(const vg_stage *st, const char *kind, const char *name,
			    const void *data, size_t len)
{
	stage_run *run = run_of(st);
	char *path;
	int rc;

	if (!kind || !kind[0] || !name || !name_ok(name)) {
		svc_fail(st, "plugin asked to write an output with a bad name");
		return VG_EINVAL;
	}
	path = util_path_join(st->dir, name);
	if (util_write_file_atomic(path, data, len) < 0) {
		svc_fail(st, "cannot write %s: %s", path, strerror(errno));
		free(path);
		return VG_EIO;
	}
	rc = set_output(run, kind, path);
	free(path);
	return rc;
}

/* The output's path as the runner records it: normal form, under the job
 * folder's own name (the runner stores it relative to that folder, and a
 * resume refuses a recorded path with ".."). A path inside the job only
 * through a symlinked ancestor (say /tmp -> /private/tmp) is re-rooted.
 * Returns malloc'd text, or NULL when it is not inside the job. */
static char *output_path_in_job(const char *job_dir, const char *abs)
{
	char *norm = util_path_abs(abs), *jd = util_path_abs(job_dir), *r = NULL;
	char real_job[PATH_MAX], real_path[PATH_MAX];
	size_t jl, rl;

	if (!norm || !jd || !util_path_inside(norm, jd))
		goto out;
	jl = strlen(jd);
	if (!strncmp(norm, jd, jl) && norm[jl] == '/') {
		r = norm;
		norm = NULL;
		goto out;
	}
	if (!realpath(jd, real_job) || !realpath(norm, real_path))
		goto out;
	rl = strlen(real_job);
	if (strncmp(real_path, real_job, rl) || real_path[rl] != '/')
		goto out;
	r = util_path_join(jd, real_path + rl + 1);
out:
	free(norm);
	free(jd);
	return r;
}

static int svc_output_file(const vg_stage *st, const char *kind, const char *path)
{
	stage_run *run = run_of(st);
	char *abs = util_path_join(st->dir, path), *rec = NULL;
	struct stat sb;
	int rc = VG_EINVAL;

	if (!kind || !kind[0])
		goto out;
	rec = output_path_in_job(st->job->job_dir, abs);
	if (!rec) {
		svc_fail(st, "output %s lies outside the job directory", path);
		goto out;
	}
	if (stat(rec, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		svc_fail(st, "output %s is not a regular file", path);
		goto out;
	}
	rc = set_output(run, kind, rec);
out:
	free(rec);
	free(abs);
	return rc;
}

_Static_assert(sizeof(((stage_run *)0)->links) / sizeof(char *) == JOB_MEDIA_N,
	       "one link slot per job_media_files entry");

static int svc_output_link(const vg_stage *st, const char *field, const char *url)
{
	stage_run *run = run_of(st);
	size_t len = url ? strlen(url) : 0;

	for (int i = 0; field && i < JOB_MEDIA_N; i++) {
		if (strcmp(field, job_media_files[i].field))
			continue;
		if (!len || len > 2048 || !util_utf8_valid(url, len, NULL))
			break;
		free(run->links[i]);
		run->links[i] = xstrdup(url);
		return VG_OK;
	}
	svc_fail(st, "plugin bug: output_link(\"%s\") is not a companion field with a URL",
		 field ? field : "(null)");
	return VG_EINVAL;
}

static void svc_progress(const vg_stage *st, double fraction, const char *note)
{
	stage_run *run = run_of(st);

	if (!(fraction >= 0))
		fraction = 0;
	if (fraction > 1)
		fraction = 1;
	if (run->on_progress)
		run->on_progress(run, fraction, note);
}

static int svc_cancelled(const vg_stage *st)
{
	stage_run *run = run_of(st);

	return atomic_load(&run->stop) || (run->job && job_cancelled(run->job));
}

static int cancelled_cb(void *ud)
{
	return svc_cancelled(ud);
}

/* A struct a plugin filled, as this core reads it: its first struct_size
 * bytes, the rest zero (fields of a later minor that the plugin's header did
 * not have). -1 when struct_size does not cover ABI 2.0's fields: the plugin
 * built the struct without its *_INIT macro. */
static int copy_sized(void *dst, size_t dst_size, const void *src, size_t min_size)
{
	uint32_t n;

	memcpy(&n, src, sizeof(n));
	if (n < min_size)
		return -1;
	memset(dst, 0, dst_size);
	memcpy(dst, src, n < dst_size ? n : dst_size);
	return 0;
}

#define PROC_SIZE_2_0 (offsetof(vg_proc, max_processes) + sizeof(long))
#define HTTP_REQUEST_SIZE_2_0 (offsetof(vg_http_request, aws) + sizeof(void *))
#define AWS_SIGN_SIZE_2_0 (offsetof(vg_aws_sign_opts, unsigned_payload) + sizeof(int))

static int svc_spawn(const vg_stage *st, const vg_proc *proc, int *exit_code)
{
	vg_proc p;

	if (copy_sized(&p, sizeof(p), proc, PROC_SIZE_2_0) < 0) {
		svc_fail(st, "plugin bug: a vg_proc of %u bytes (build it with VG_PROC_INIT)",
			 proc->struct_size);
		return VG_EINVAL;
	}
	double cpu = 0;
	int rc;

	if (!p.cwd)
		p.cwd = st->dir;
	rc = proc_run_cpu(&p, cancelled_cb, (void *)st, exit_code, &cpu);
	if (cpu > 0)
		stage_usage_add(&run_of(st)->usage, "cpu_seconds", cpu);
	return rc;
}

static int svc_http(const vg_stage *st, const vg_http_request *req, vg_http_response *resp,
		    char *err, size_t errlen)
{
	const cloud_api *cloud;
	vg_http_request r;
	vg_aws_sign_opts aws;

	if (copy_sized(&r, sizeof(r), req, HTTP_REQUEST_SIZE_2_0) < 0 ||
	    (r.aws && copy_sized(&aws, sizeof(aws), r.aws, AWS_SIGN_SIZE_2_0) < 0)) {
		util_errf(err, errlen, "plugin bug: a vg_http_request or vg_aws_sign_opts "
			  "without its size (build them with VG_HTTP_REQUEST_INIT and "
			  "VG_AWS_SIGN_OPTS_INIT)");
		return VG_EINVAL;
	}
	if (r.aws)
		r.aws = &aws;
	cloud = cloud_get(err, errlen);
	if (!cloud)
		return VG_ENOTSUP;
	return cloud->http_do(&r, resp, cancelled_cb, (void *)st, err, errlen);
}

static void svc_http_free(vg_http_response *resp)
{
	const cloud_api *cloud = cloud_get(NULL, 0);

	if (cloud)
		cloud->http_response_free(resp);
}

static const char *svc_secret(const vg_stage *st, const char *name)
{
	stage_run *run = run_of(st);
	const char *v = getenv(name);
	char *val = NULL, fname[256];

	if (v && v[0]) {
		val = xstrdup(v);
	} else {
		snprintf(fname, sizeof(fname), "%s_FILE", name);
		v = getenv(fname);
		if (!v || !v[0])
			return NULL;
		size_t len;
		if (util_read_file(v, 65536, &val, &len, NULL, 0) < 0)
			return NULL;
		while (len > 0 && (val[len - 1] == '\n' || val[len - 1] == '\r'))
			val[--len] = '\0';
	}
	run->secrets = xrealloc(run->secrets, (run->n_secrets + 1) * sizeof(char *));
	run->secrets[run->n_secrets++] = val;
	return val;
}

/* ---- templates --------------------------------------------------------- */

static const vg_artifact *input_by(const vg_stage *st, const char *from, const char *kind)
{
	for (size_t i = 0; i < st->n_inputs; i++) {
		const vg_artifact *a = &st->inputs[i];
		if (from && !strcmp(a->from, from))
			return a;
		if (kind && !strcmp(a->kind, kind))
			return a;
	}
	return NULL;
}

static void narration_lines(const vg_stage *st, strbuf *out)
{
	const vg_artifact *a = input_by(st, NULL, "narration");
	json_t *o, *segs, *s;
	size_t i;

	if (!a || !a->data)
		return;
	o = json_loads(a->data, 0, NULL);
	segs = json_object_get(o, "segments");
	json_array_foreach(segs, i, s) {
		json_t *t = json_object_get(s, "text"), *d = json_object_get(s, "duration");
		sb_printf(out, "Segment %zu (%.2f s): %s\n", i, json_number_value(d),
			  json_is_string(t) ? json_string_value(t) : "");
	}
	json_decref(o);
}

static void expand_token(const vg_stage *st, const char *tok, size_t n, strbuf *out)
{
	const vg_artifact *a = NULL;

#define IS(lit) (n == sizeof(lit) - 1 && !strncmp(tok, lit, n))
	if (IS("question")) {
		/* The stage's question input, after its before hook, if it has one. */
		a = input_by(st, "question", NULL);
		sb_puts(out, a && a->data ? a->data : st->job->question);
	} else if (IS("model")) {
		sb_puts(out, st->model ? st->model : "");
	} else if (IS("voice")) {
		sb_puts(out, st->job->voice ? st->job->voice : "");
	} else if (IS("input")) {
		if (st->n_inputs && st->inputs[0].data)
			sb_puts(out, st->inputs[0].data);
	} else if (n > 6 && !strncmp(tok, "input:", 6)) {
		char id[80];
		snprintf(id, sizeof(id), "%.*s", (int)(n - 6), tok + 6);
		a = input_by(st, id, NULL);
		if (a && a->data)
			sb_puts(out, a->data);
	} else if (IS("feedback")) {
		sb_puts(out, st->feedback ? st->feedback : "");
	} else if (IS("previous")) {
		if (st->previous && st->previous->data)
			sb_puts(out, st->previous->data);
	} else if (IS("narration_segments")) {
		narration_lines(st, out);
	} else {
		/* Not ours (a template may quote code with braces): keep it. */
		sb_puts(out, "{{");
		sb_append(out, tok, n);
		sb_puts(out, "}}");
	}
#undef IS
}

static char *svc_render_template(const vg_stage *st, const char *tmpl)
{
	strbuf out = { 0 };
	const char *s = tmpl;

	while (*s) {
		const char *open = strstr(s, "{{"), *close;
		if (!open) {
			sb_puts(&out, s);
			break;
		}
		close = strstr(open + 2, "}}");
		if (!close) {
			sb_puts(&out, s);
			break;
		}
		sb_append(&out, s, (size_t)(open - s));
		expand_token(st, open + 2, (size_t)(close - open - 2), &out);
		s = close + 2;
	}
	return sb_steal(&out);
}

static char **svc_split_sentences(const vg_stage *st, const char *text, size_t len,
				  size_t *n)
{
	(void)st;
	return sentences_split(text, len, n);
}

static void svc_aws_region(const vg_stage *st, char *out, size_t len)
{
	const cloud_api *cloud = cloud_get(NULL, 0);

	(void)st;
	if (cloud)
		cloud->aws_region_resolve(out, len);
	else
		snprintf(out, len, "%s", AWS_DEFAULT_REGION);
}

/* ---- usage and the file cache ------------------------------------------ */

static int svc_usage(const vg_stage *st, const char *name, double value)
{
	if (stage_usage_add(&run_of(st)->usage, name, value) == 0)
		return VG_OK;
	svc_log(st, VG_LOG_WARN, "usage %s = %g refused (a-z0-9_ name, a value from 0 to "
		"1e12, at most %d counters)", usage_name_ok(name) ? name : "(bad name)", value,
		STAGE_USAGE_MAX);
	return VG_EINVAL;
}

/* Checks a plugin's cache call: a key of 1 to 32 strings, a path inside
 * the job folder. Returns the path made absolute (malloc'd), or NULL. */
static char *cache_args(const vg_stage *st, const char *const *key, const char *path)
{
	size_t n = 0;
	char *abs, *jd;

	while (key && key[n] && n < 33)
		n++;
	if (!key || n == 0 || n > 32 || key[n] || !path)
		return NULL;
	abs = util_path_join(st->dir, path);
	jd = st->job ? util_path_abs(st->job->job_dir) : NULL;
	char *norm = util_path_abs(abs);
	free(abs);
	if (!norm || !jd || !util_path_inside(norm, jd)) {
		free(norm);
		norm = NULL;
	}
	free(jd);
	return norm;
}

static int svc_cache_get(const vg_stage *st, const char *const *key, const char *path)
{
	stage_run *run = run_of(st);
	char err[512] = "", *abs = cache_args(st, key, path);
	int rc = 1;

	if (abs && run->cache)
		rc = file_cache_get(run->cache, key, abs, err, sizeof(err));
	if (rc < 0)
		svc_log(st, VG_LOG_WARN, "cache: %s", err);
	if (!abs)
		return VG_EINVAL;
	stage_usage_add(&run->usage, rc == 0 ? "cache_hits" : "cache_misses", 1);
	free(abs);
	return rc == 0 ? VG_OK : VG_ENOTSUP;
}

static int svc_cache_put(const vg_stage *st, const char *const *key, const char *path)
{
	stage_run *run = run_of(st);
	char err[512] = "", *abs = cache_args(st, key, path);
	int rc = 1;

	if (!abs)
		return VG_EINVAL;
	if (run->cache)
		rc = file_cache_put(run->cache, key, abs, err, sizeof(err));
	if (rc < 0)
		svc_log(st, VG_LOG_WARN, "cache: %s", err);
	free(abs);
	return rc == 0 ? VG_OK : rc > 0 ? VG_ENOTSUP : VG_EIO;
}

static const vg_services table = {
	.struct_size = sizeof(vg_services),
	.abi_minor = VIDGEN_ABI_MINOR,
	.log = svc_log,
	.output_write = svc_output_write,
	.output_file = svc_output_file,
	.progress = svc_progress,
	.cancelled = svc_cancelled,
	.fail = svc_fail,
	.render_template = svc_render_template,
	.spawn = svc_spawn,
	.http = svc_http,
	.http_free = svc_http_free,
	.secret = svc_secret,
	.split_sentences = svc_split_sentences,
	.aws_region = svc_aws_region,
	.note = svc_note,
	.cache_get = svc_cache_get,
	.cache_put = svc_cache_put,
	.usage = svc_usage,
	.output_link = svc_output_link,
};

const vg_services *services_table(void)
{
	return &table;
}

void stage_run_init(stage_run *run, const stage_params *sp)
{
	memset(&run->st, 0, sizeof(run->st));
	atomic_store(&run->stop, 0);
	run->st.struct_size = sizeof(vg_stage);
	run->st.id = sp->id;
	run->st.dir = sp->dir;
	run->st.model = sp->model;
	run->st.model_id = sp->model_id;
	run->st.job = sp->job;
	run->st.svc = services_table();
	run->st.n_inputs = sp->n_inputs;
	run->st.inputs = sp->inputs;
	run->st.attempt = sp->attempt;
	run->st.feedback = sp->feedback;
	run->st.previous = sp->previous;
	run->st.core = run;
	run->st.last_repair = sp->last_repair;
	memset(&run->usage, 0, sizeof(run->usage));
}

void stage_run_clear(stage_run *run)
{
	free(run->error);
	free(run->note);
	free(run->out_kind);
	free(run->out_path);
	for (size_t i = 0; i < run->n_secrets; i++) {
		/* Wipe: secrets must not linger in freed heap memory. */
		volatile char *p = run->secrets[i];
		while (*p)
			*p++ = '\0';
		free(run->secrets[i]);
	}
	free(run->secrets);
	for (int i = 0; i < JOB_MEDIA_N; i++) {
		free(run->links[i]);
		run->links[i] = NULL;
	}
	run->error = run->note = run->out_kind = run->out_path = NULL;
	run->secrets = NULL;
	run->n_secrets = 0;
}

const char *stage_run_error(const stage_run *run, int rc)
{
	if (run->error && run->error[0])
		return run->error;
	switch (rc) {
	case VG_EINVAL: return "invalid input or setting";
	case VG_ECANCELED: return "cancelled";
	case VG_ETIMEDOUT: return "timed out";
	case VG_ENOMEM: return "out of memory";
	case VG_EIO: return "input/output error";
	case VG_EHTTP: return "the remote service answered an error";
	case VG_ESCRIPT: return "the script could not be rendered";
	case VG_ENOTSUP: return "service not available";
	}
	return "failed";
}
