/*
 * The fake services table of svc_mock.h. Each service records what the
 * plugin asked for; none reaches the network, and svc->spawn runs programs
 * through the engine's own proc_run unless the test hooks it.
 */
#include "svc_mock.h"
#include "filecache.h"
#include "proc.h"
#include "sentences.h"
#include "settings.h"
#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

mock_state mock;

static pthread_mutex_t progress_mu = PTHREAD_MUTEX_INITIALIZER;

/* Instances mock_defaults filled: their strings outlive each test. */
static plugin_inst kept[64];
static size_t n_kept;

static void release_kept(void)
{
	for (size_t i = 0; i < n_kept; i++)
		settings_release(&kept[i]);
	n_kept = 0;
}

void mock_reset(void)
{
	for (int i = 0; i < mock.n_req; i++) {
		free(mock.req[i].body);
		for (size_t k = 0; k < mock.req[i].n_headers; k++)
			free(mock.req[i].headers[k]);
	}
	free(mock.out_data);
	memset(&mock, 0, sizeof(mock));
}

void mock_answer_with(long status, const char *body, const char *header)
{
	mock_answer *a = &mock.answers[mock.n_answers++];

	a->status = status;
	a->body = body;
	a->headers[0] = header;
}

const char *mock_header(int i, const char *name)
{
	size_t n = strlen(name);

	for (size_t k = 0; k < mock.req[i].n_headers; k++) {
		const char *h = mock.req[i].headers[k];
		if (strncasecmp(h, name, n) == 0 && h[n] == ':')
			return h + n + 1 + (h[n + 1] == ' ');
	}
	return NULL;
}

/* ---- the services ----------------------------------------------------------- */

static void m_log(const vg_stage *st, int level, const char *fmt, ...)
{
	size_t n = strlen(mock.logs);
	va_list ap;

	(void)st, (void)level;
	va_start(ap, fmt);
	vsnprintf(mock.logs + n, sizeof(mock.logs) - n, fmt, ap);
	va_end(ap);
	n = strlen(mock.logs);
	if (n + 1 < sizeof(mock.logs))
		strcat(mock.logs, "\n");
}

static int m_output_write(const vg_stage *st, const char *kind, const char *name,
			  const void *data, size_t len)
{
	snprintf(mock.out_kind, sizeof(mock.out_kind), "%s", kind);
	snprintf(mock.out_name, sizeof(mock.out_name), "%s", name);
	free(mock.out_data);
	mock.out_data = xmalloc(len + 1);
	memcpy(mock.out_data, data, len);
	mock.out_data[len] = '\0';
	mock.out_len = len;
	snprintf(mock.out_path, sizeof(mock.out_path), "%s/%s", st->dir, name);
	if (mock.write_files && util_write_file_atomic(mock.out_path, data, len) != 0)
		return VG_EIO;
	return VG_OK;
}

static int m_output_file(const vg_stage *st, const char *kind, const char *path)
{
	(void)st;
	snprintf(mock.out_kind, sizeof(mock.out_kind), "%s", kind);
	snprintf(mock.out_path, sizeof(mock.out_path), "%s", path);
	return access(path, R_OK) == 0 ? VG_OK : VG_EIO;
}

static void m_progress(const vg_stage *st, double f, const char *note)
{
	(void)st;
	pthread_mutex_lock(&progress_mu);
	if (mock.n_progress < 64) {
		mock.progress[mock.n_progress] = f;
		snprintf(mock.progress_note[mock.n_progress], sizeof(mock.progress_note[0]), "%s",
			 note ? note : "");
		mock.n_progress++;
	}
	pthread_mutex_unlock(&progress_mu);
}

static int m_cancelled(const vg_stage *st)
{
	(void)st;
	return mock.cancelled;
}

static void m_fail(const vg_stage *st, const char *fmt, ...)
{
	va_list ap;

	(void)st;
	va_start(ap, fmt);
	vsnprintf(mock.fail, sizeof(mock.fail), fmt, ap);
	va_end(ap);
}

static void m_note(const vg_stage *st, const char *fmt, ...)
{
	va_list ap;

	(void)st;
	va_start(ap, fmt);
	vsnprintf(mock.note, sizeof(mock.note), fmt, ap);
	va_end(ap);
}

static int m_output_link(const vg_stage *st, const char *field, const char *url)
{
	(void)st;
	if (mock.n_links == 8)
		return VG_ENOMEM;
	snprintf(mock.links[mock.n_links][0], sizeof(mock.links[0][0]), "%s", field);
	snprintf(mock.links[mock.n_links][1], sizeof(mock.links[0][1]), "%s", url);
	mock.n_links++;
	return VG_OK;
}

static char *m_render(const vg_stage *st, const char *tmpl)
{
	(void)st;
	return xstrdup(tmpl);
}

static void join(char *out, size_t n, const char *const *v)
{
	out[0] = '\0';
	for (; v && *v; v++) {
		strncat(out, *v, n - strlen(out) - 2);
		strncat(out, "\n", n - strlen(out) - 1);
	}
}

static int m_spawn(const vg_stage *st, const vg_proc *p, int *code)
{
	vg_proc q = *p;

	if (p->struct_size != sizeof(vg_proc)) {
		m_fail(st, "mock: a vg_proc of %u bytes (not built with VG_PROC_INIT)",
		       p->struct_size);
		return VG_EINVAL;
	}
	mock.last_proc = *p;
	join(mock.last_argv, sizeof(mock.last_argv), p->argv);
	join(mock.last_env, sizeof(mock.last_env), p->envp);
	if (mock.spawn)
		return mock.spawn(st, p, code);
	if (!q.cwd)
		q.cwd = st->dir;
	return proc_run(&q, NULL, NULL, code);
}

static void write_response_file(const char *path, const char *body, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f) {
		fwrite(body, 1, len, f);
		fclose(f);
	}
}

static int m_http(const vg_stage *st, const vg_http_request *req, vg_http_response *resp,
		  char *err, size_t errlen)
{
	mock_request *r = &mock.req[mock.n_req++];
	mock_answer *a = mock.next < mock.n_answers ? &mock.answers[mock.next++] : NULL;
	size_t len;

	(void)st;
	memset(resp, 0, sizeof(*resp));
	if (req->struct_size != sizeof(*req) || (req->aws && req->aws->struct_size !=
						 sizeof(*req->aws))) {
		snprintf(err, errlen, "mock: a request not built with its *_INIT macro");
		return VG_EINVAL;
	}
	snprintf(r->method, sizeof(r->method), "%s", req->method);
	snprintf(r->url, sizeof(r->url), "%s", req->url);
	if (req->body) {
		r->body = xmalloc(req->body_len + 1);
		memcpy(r->body, req->body, req->body_len);
		r->body[req->body_len] = '\0';
	}
	for (size_t i = 0; req->headers && req->headers[i] && i < 32; i++)
		r->headers[r->n_headers++] = xstrdup(req->headers[i]);
	if (req->aws) {
		r->signed_aws = 1;
		snprintf(r->service, sizeof(r->service), "%s", req->aws->service);
		snprintf(r->region, sizeof(r->region), "%s",
			 req->aws->region ? req->aws->region : "");
		r->s3_rules = req->aws->s3_rules;
	}
	if (!a) {
		snprintf(err, errlen, "mock: no answer scripted");
		return VG_EHTTP;
	}
	if (a->rc != VG_OK) {
		snprintf(err, errlen, "mock transport error");
		return a->rc;
	}
	len = a->body_len ? a->body_len : (a->body ? strlen(a->body) : 0);
	resp->status = a->status;
	if (req->response_path) {
		write_response_file(req->response_path, a->body, len);
	} else {
		resp->body = xmalloc(len + 1);
		memcpy(resp->body, a->body ? a->body : "", len);
		resp->body[len] = '\0';
		resp->body_len = len;
	}
	resp->headers = xcalloc(5, sizeof(char *));
	for (int i = 0; i < 4 && a->headers[i]; i++)
		resp->headers[i] = xstrdup(a->headers[i]);
	return VG_OK;
}

static void m_http_free(vg_http_response *resp)
{
	free(resp->body);
	for (size_t i = 0; resp->headers && resp->headers[i]; i++)
		free(resp->headers[i]);
	free(resp->headers);
	memset(resp, 0, sizeof(*resp));
}

static const char *m_secret(const vg_stage *st, const char *name)
{
	(void)st;
	for (int i = 0; i < 4 && mock.secrets[i][0]; i++)
		if (strcmp(mock.secrets[i][0], name) == 0)
			return mock.secrets[i][1];
	return NULL;
}

/* The engine's own sentence rule. */
static char **m_split_sentences(const vg_stage *st, const char *text, size_t len, size_t *n)
{
	(void)st;
	return sentences_split(text, len, n);
}

static void m_aws_region(const vg_stage *st, char *out, size_t len)
{
	(void)st;
	snprintf(out, len, "eu-west-3");
}

static int m_usage(const vg_stage *st, const char *name, double value)
{
	(void)st;
	return stage_usage_add(&mock.usage, name, value) == 0 ? VG_OK : VG_EINVAL;
}

double mock_usage(const char *name)
{
	for (size_t i = 0; i < mock.usage.n; i++)
		if (!strcmp(mock.usage.v[i].name, name))
			return mock.usage.v[i].value;
	return 0;
}

static file_cache *mock_cache(void)
{
	return mock.cache_dir[0] ? file_cache_open(mock.cache_dir, 1LL << 30) : NULL;
}

static int m_cache_get(const vg_stage *st, const char *const *key, const char *path)
{
	char err[256];

	(void)st;
	if (!mock_cache() || file_cache_get(mock_cache(), key, path, err, sizeof(err)) != 0)
		return VG_ENOTSUP;
	mock.cache_hits++;
	return VG_OK;
}

static int m_cache_put(const vg_stage *st, const char *const *key, const char *path)
{
	char err[256];

	(void)st;
	if (!mock_cache() || file_cache_put(mock_cache(), key, path, err, sizeof(err)) != 0)
		return VG_ENOTSUP;
	mock.cache_puts++;
	return VG_OK;
}

const vg_services mock_svc = {
	.struct_size = sizeof(vg_services),
	.abi_minor = VIDGEN_ABI_MINOR,
	.log = m_log,
	.output_write = m_output_write,
	.output_file = m_output_file,
	.progress = m_progress,
	.cancelled = m_cancelled,
	.fail = m_fail,
	.render_template = m_render,
	.spawn = m_spawn,
	.http = m_http,
	.http_free = m_http_free,
	.secret = m_secret,
	.split_sentences = m_split_sentences,
	.aws_region = m_aws_region,
	.note = m_note,
	.cache_get = m_cache_get,
	.cache_put = m_cache_put,
	.usage = m_usage,
	.output_link = m_output_link,
};

/* ---- stages and instances --------------------------------------------------- */

void mock_stage(vg_stage *st, vg_job_info *job, const char *dir, const char *model,
		const char *model_id, const vg_artifact *inputs, size_t n)
{
	memset(st, 0, sizeof(*st));
	memset(job, 0, sizeof(*job));
	job->id = "0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12";
	job->question = "Explain the Pythagorean theorem with visual proof";
	job->model = "claude-4-sonnet";
	job->voice = "Joanna";
	job->job_dir = dir;
	job->created_at = "2026-11-27T10:00:00.000Z";
	st->struct_size = sizeof(*st);
	st->id = "stage";
	st->dir = dir;
	st->model = model;
	st->model_id = model_id;
	st->job = job;
	st->svc = &mock_svc;
	st->inputs = inputs;
	st->n_inputs = n;
}

/* "" for every required setting, so that the defaults alone fill. */
static size_t required_blanks(const vg_plugin *pl, setting_value *v, size_t max)
{
	size_t n = 0;
	vg_setting s;

	for (size_t i = 0, count = settings_count(pl); i < count && n < max; i++) {
		settings_entry(pl, i, &s);
		if (s.required)
			v[n++] = (setting_value){ .name = s.name, .text = "" };
	}
	return n;
}

void mock_defaults(const vg_plugin *pl, void *inst)
{
	setting_value v[16];
	size_t n = required_blanks(pl, v, 16);
	plugin_inst *pi;
	char err[1024];

	if (n_kept == 0)
		atexit(release_kept);
	if (n_kept == sizeof(kept) / sizeof(kept[0]))
		abort();
	pi = &kept[n_kept++];
	if (settings_fill(pi, pl, v, n, &(settings_ctx){ 0 }, err, sizeof(err)) < 0) {
		fprintf(stderr, "mock_defaults(%s): %s\n", pl->name, err);
		abort();
	}
	memcpy(inst, pi->data, pl->instance_size);
}

plugin_inst *mock_instance(const vg_plugin *pl, const char *const *values)
{
	setting_value v[32];
	char names[32][64];
	size_t n = 0;
	plugin_inst *pi = xcalloc(1, sizeof(*pi));

	for (; values && values[n] && n < 32; n++) {
		const char *eq = strchr(values[n], '=');
		size_t len = eq ? (size_t)(eq - values[n]) : strlen(values[n]);
		snprintf(names[n], sizeof(names[n]), "%.*s", (int)len, values[n]);
		v[n] = (setting_value){ .name = names[n], .text = eq ? eq + 1 : "" };
	}
	if (settings_apply(pi, pl, v, n, &(settings_ctx){ 0 }, mock.fail, sizeof(mock.fail)) < 0) {
		settings_release(pi);
		free(pi);
		return NULL;
	}
	return pi;
}

void mock_release(plugin_inst *pi)
{
	if (!pi)
		return;
	settings_release(pi);
	free(pi);
}
