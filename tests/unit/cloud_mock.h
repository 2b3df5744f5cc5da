/*
 * A fake services table for unit-testing the cloud plugins without the
 * engine (collectd's plugin_mock idea): svc->http answers from a script of
 * canned responses and records each request; output, failure messages and
 * logs are kept for the test to inspect. Header-only: each test includes
 * one plugin's source, then this.
 */
#ifndef VG_CLOUD_MOCK_H
#define VG_CLOUD_MOCK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "vidgen/plugin.h"

#define MOCK_MAX 16

typedef struct mock_answer {
	long status;
	const char *body;       /* written to response_path when the request asks */
	size_t body_len;        /* 0 = strlen(body) */
	const char *headers[4]; /* "name: value", lower-case names */
	int rc;                 /* VG_OK, or a transport error to return */
} mock_answer;

typedef struct mock_request {
	char method[16];
	char url[2048];
	char *body;
	char *headers[32];
	size_t n_headers;
	int signed_aws;
	char service[32], region[32];
	int s3_rules;
} mock_request;

static struct {
	mock_answer answers[MOCK_MAX];
	int n_answers, next;
	mock_request req[MOCK_MAX];
	int n_req;
	char fail[2048];
	char out_kind[32], out_name[64];
	char *out_data;
	size_t out_len;
	char logs[4096];
	const char *secrets[4][2];
} mock;

__attribute__((unused)) static void mock_reset(void)
{
	for (int i = 0; i < mock.n_req; i++) {
		free(mock.req[i].body);
		for (size_t k = 0; k < mock.req[i].n_headers; k++)
			free(mock.req[i].headers[k]);
	}
	free(mock.out_data);
	memset(&mock, 0, sizeof(mock));
}

__attribute__((unused)) static void mock_answer_with(long status, const char *body, const char *header)
{
	mock_answer *a = &mock.answers[mock.n_answers++];
	a->status = status;
	a->body = body;
	a->headers[0] = header;
}

/* The value of request i's header name (case-insensitive), or NULL. */
__attribute__((unused)) static const char *mock_header(int i, const char *name)
{
	size_t n = strlen(name);
	for (size_t k = 0; k < mock.req[i].n_headers; k++)
		if (strncasecmp(mock.req[i].headers[k], name, n) == 0 &&
		    mock.req[i].headers[k][n] == ':')
			return mock.req[i].headers[k] + n + 1 + (mock.req[i].headers[k][n + 1] == ' ');
	return NULL;
}

static void m_log(const vg_stage *st, int level, const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(mock.logs);
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
	(void)st;
	snprintf(mock.out_kind, sizeof(mock.out_kind), "%s", kind);
	snprintf(mock.out_name, sizeof(mock.out_name), "%s", name);
	free(mock.out_data);
	mock.out_data = malloc(len + 1);
	memcpy(mock.out_data, data, len);
	mock.out_data[len] = '\0';
	mock.out_len = len;
	return VG_OK;
}

static void m_progress(const vg_stage *st, double f, const char *note)
{
	(void)st, (void)f, (void)note;
}

static int m_cancelled(const vg_stage *st)
{
	(void)st;
	return 0;
}

static void m_fail(const vg_stage *st, const char *fmt, ...)
{
	va_list ap;
	(void)st;
	va_start(ap, fmt);
	vsnprintf(mock.fail, sizeof(mock.fail), fmt, ap);
	va_end(ap);
}

static char *m_render(const vg_stage *st, const char *tmpl)
{
	(void)st;
	return strdup(tmpl);
}

static int m_http(const vg_stage *st, const vg_http_request *req, vg_http_response *resp,
		  char *err, size_t errlen)
{
	mock_request *r = &mock.req[mock.n_req++];
	mock_answer *a = mock.next < mock.n_answers ? &mock.answers[mock.next++] : NULL;

	(void)st;
	memset(resp, 0, sizeof(*resp));
	snprintf(r->method, sizeof(r->method), "%s", req->method);
	snprintf(r->url, sizeof(r->url), "%s", req->url);
	if (req->body) {
		r->body = malloc(req->body_len + 1);
		memcpy(r->body, req->body, req->body_len);
		r->body[req->body_len] = '\0';
	}
	for (size_t i = 0; req->headers && req->headers[i] && i < 32; i++)
		r->headers[r->n_headers++] = strdup(req->headers[i]);
	if (req->aws) {
		r->signed_aws = 1;
		snprintf(r->service, sizeof(r->service), "%s", req->aws->service);
		snprintf(r->region, sizeof(r->region), "%s", req->aws->region ? req->aws->region : "");
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
	size_t len = a->body_len ? a->body_len : (a->body ? strlen(a->body) : 0);
	resp->status = a->status;
	if (req->response_path) {
		FILE *f = fopen(req->response_path, "wb");
		if (f) {
			fwrite(a->body, 1, len, f);
			fclose(f);
		}
	} else {
		resp->body = malloc(len + 1);
		memcpy(resp->body, a->body ? a->body : "", len);
		resp->body[len] = '\0';
		resp->body_len = len;
	}
	resp->headers = calloc(5, sizeof(char *));
	for (int i = 0; i < 4 && a->headers[i]; i++)
		resp->headers[i] = strdup(a->headers[i]);
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

/* The real sentence rule (core/sentences.c is linked into the test). */
char **sentences_split(const char *text, size_t len, size_t *n);

static char **m_split_sentences(const vg_stage *st, const char *text, size_t len, size_t *n)
{
	(void)st;
	return sentences_split(text, len, n);
}

static const vg_services mock_svc = {
	.abi_minor = VIDGEN_ABI_MINOR,
	.struct_size = sizeof(vg_services),
	.log = m_log,
	.output_write = m_output_write,
	.progress = m_progress,
	.cancelled = m_cancelled,
	.fail = m_fail,
	.render_template = m_render,
	.http = m_http,
	.http_free = m_http_free,
	.secret = m_secret,
	.split_sentences = m_split_sentences,
};

/* Fills a stage for plugin tests; dir must exist. */
__attribute__((unused)) static void mock_stage(vg_stage *st, vg_job_info *job, const char *dir, const char *model,
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

/* Fills a plugin instance from its settings table defaults, as the core
 * does (strings point at the table's text). */
__attribute__((unused)) static void mock_defaults(const vg_plugin *pl, void *inst)
{
	for (const vg_setting *s = pl->settings; s && s->name; s++) {
		char *p = (char *)inst + s->offset;
		const char *d = s->def ? s->def : "";
		switch (s->type) {
		case VG_SET_INT:
			*(long *)(void *)p = strtol(d, NULL, 10);
			break;
		case VG_SET_BOOL:
			*(int *)(void *)p = strcmp(d, "1") == 0 || strcmp(d, "true") == 0;
			break;
		case VG_SET_DOUBLE:
			*(double *)(void *)p = strtod(d, NULL);
			break;
		default:
			*(const char **)(void *)p = d;
		}
	}
}

#endif
