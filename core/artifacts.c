/*
 * Shared artifacts in S3 (artifacts.h): a finished stage's files and its
 * record go up before the stage counts as done; a worker resuming a job
 * fetches the records and files it lacks.
 */
#include "artifacts.h"
#include "cloud/cloud.h"
#include "log.h"
#include "util.h"
#include "../plugins/common/aws_error.h"
#include "../plugins/common/s3_addr.h"
#include "../plugins/common/url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_MAX (1u << 20) /* a stage's record, as fetched */
#define REL_PARTS_MAX 8
#define NAME_MAX_LEN 128

struct artifacts {
	const cloud_api *cloud;
	char bucket[64];
	char *prefix;      /* "" or "a/b" (no slash at either end) */
	char *endpoint;    /* "" = AWS */
	int path_style;
	char region[40];
	vg_aws_sign_opts sign;
	int (*cancelled)(void *ud);
	void *ud;
};

/* One name of a key or path: [A-Za-z0-9_][A-Za-z0-9._-]*, n bytes. */
static int name_valid(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* 1 if s is 1..max_parts names joined by '/'. */
static int names_valid(const char *s, int max_parts)
{
	int parts = 0;

	for (;;) {
		size_t n = strcspn(s, "/");
		if (!name_valid(s, n) || ++parts > max_parts)
			return 0;
		if (!s[n])
			return 1;
		s += n + 1;
	}
}

int artifacts_rel_valid(const char *rel)
{
	return rel && names_valid(rel, REL_PARTS_MAX);
}

/* Splits "s3://BUCKET[/PREFIX]" into bucket and prefix (malloc'd, "" for
 * none, trailing slashes dropped). 0 ok. */
static int locator_split(const char *loc, char *bucket, size_t blen, char **prefix,
			 char *err, size_t errlen)
{
	const char *b, *slash;
	size_t n;

	if (!loc || strncmp(loc, "s3://", 5) != 0) {
		util_errf(err, errlen, "artifacts \"%s\": expected s3://BUCKET/PREFIX",
			  loc ? loc : "");
		return -1;
	}
	b = loc + 5;
	slash = strchr(b, '/');
	n = slash ? (size_t)(slash - b) : strlen(b);
	snprintf(bucket, blen, "%.*s", (int)n, b);
	if (n >= blen || !s3_bucket_valid(bucket)) {
		util_errf(err, errlen, "artifacts \"%s\": \"%.*s\" is not a valid S3 bucket name",
			  loc, (int)(n > 80 ? 80 : n), b);
		return -1;
	}
	*prefix = xstrdup(slash ? slash + 1 : "");
	n = strlen(*prefix);
	while (n && (*prefix)[n - 1] == '/')
		(*prefix)[--n] = '\0';
	if (n && (n > 512 || !names_valid(*prefix, 16))) {
		util_errf(err, errlen, "artifacts \"%s\": the prefix must be names of A-Z a-z "
			  "0-9 . _ - joined by /", loc);
		free(*prefix);
		*prefix = NULL;
		return -1;
	}
	return 0;
}

int artifacts_locator_check(const char *loc, char *err, size_t errlen)
{
	char bucket[64], *prefix = NULL;
	int rc = locator_split(loc, bucket, sizeof(bucket), &prefix, err, errlen);

	free(prefix);
	return rc;
}

artifacts *artifacts_open(const char *loc, char *err, size_t errlen)
{
	artifacts *a = xcalloc(1, sizeof(*a));
	const char *ep = getenv("S3_ENDPOINT_URL"), *ps = getenv("S3_PATH_STYLE");

	if (locator_split(loc, a->bucket, sizeof(a->bucket), &a->prefix, err, errlen) < 0)
		goto fail;
	a->endpoint = xstrdup(ep ? ep : "");
	if (*a->endpoint && !url_base_valid(a->endpoint)) {
		util_errf(err, errlen, "S3_ENDPOINT_URL: must be an http(s) URL without query");
		goto fail;
	}
	a->path_style = ps && (!strcmp(ps, "true") || !strcmp(ps, "1") || !strcmp(ps, "yes"));
	if (!(a->cloud = cloud_get(err, errlen)))
		goto fail;
	a->cloud->aws_region_resolve(a->region, sizeof(a->region));
	a->sign = (vg_aws_sign_opts)VG_AWS_SIGN_OPTS_INIT(.service = "s3", .region = a->region,
							  .s3_rules = 1);
	return a;
fail:
	artifacts_free(a);
	return NULL;
}

void artifacts_free(artifacts *a)
{
	if (!a)
		return;
	free(a->prefix);
	free(a->endpoint);
	free(a);
}

void artifacts_set_cancel(artifacts *a, int (*cancelled)(void *ud), void *ud)
{
	a->cancelled = cancelled;
	a->ud = ud;
}

/* PREFIX/JOB/REST (malloc'd). */
static char *job_key(const artifacts *a, const char *job_id, const char *rest)
{
	strbuf sb = { 0 };

	sb_printf(&sb, "%s%s%s/%s", a->prefix, *a->prefix ? "/" : "", job_id, rest);
	return sb_steal(&sb);
}

static char *marker_key(const artifacts *a, const char *job_id, const char *stage_id)
{
	strbuf sb = { 0 };
	char *k;

	sb_printf(&sb, "stages/%s.json", stage_id);
	k = job_key(a, job_id, sb.buf);
	sb_free(&sb);
	return k;
}

/* The error of an answer that is not the one hoped for: its status, S3's
 * code and message, and the object. body: the answer's text (NULL: none). */
static void answer_error(const artifacts *a, const char *what, const char *key,
			 const vg_http_response *r, const char *body, char *err, size_t errlen)
{
	char code[128], msg[301];

	aws_error_parse(r, body ? body : "", code, sizeof(code), msg, sizeof(msg),
			"no message");
	util_errf(err, errlen, "S3 refused to %s s3://%s/%s: HTTP %ld%s%s: %s", what, a->bucket,
		  key, r->status, *code ? " " : "", code, msg);
}

typedef struct s3_call {
	const char *method, *key, *query;
	const char *shown;        /* the key messages name, when not key */
	const char *header;       /* one more "Name: value" line, or NULL */
	const char *content_type;
	const void *body;
	size_t body_len;
	const char *body_path, *response_path;
} s3_call;

/* One request (retried by the HTTP client on transient failures). 0 when
 * an answer came (*resp filled: caller frees with the cloud's
 * http_response_free), -1 with the reason in err. */
static int s3_do(artifacts *a, const s3_call *c, const char *what, vg_http_response *resp,
		 char *err, size_t errlen)
{
	char *url = s3_object_url(a->endpoint, a->path_style, a->bucket, a->region, c->key);
	char ctype[96], herr[512] = "";
	const char *headers[3] = { NULL, NULL, NULL };
	size_t nh = 0;
	strbuf full = { 0 };
	int rc;

	if (!url) {
		util_errf(err, errlen, "out of memory");
		return -1;
	}
	sb_printf(&full, "%s%s%s", url, c->query ? "?" : "", c->query ? c->query : "");
	free(url);
	if (c->content_type) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", c->content_type);
		headers[nh++] = ctype;
	}
	if (c->header)
		headers[nh++] = c->header;
	vg_http_request req = VG_HTTP_REQUEST_INIT(.method = c->method, .url = full.buf,
						   .headers = headers, .body = c->body,
						   .body_len = c->body_len, .body_path = c->body_path,
						   .response_path = c->response_path,
						   .max_attempts = ARTIFACTS_ATTEMPTS, .aws = &a->sign);
	rc = a->cloud->http_do(&req, resp, a->cancelled, a->ud, herr, sizeof(herr));
	sb_free(&full);
	if (rc == VG_OK)
		return 0;
	a->cloud->http_response_free(resp);
	util_errf(err, errlen, "S3 could not %s s3://%s/%s: %s", what, a->bucket,
		  c->shown ? c->shown : c->key, herr);
	return -1;
}

/* A request whose only good answer is 200 (204 too when ok204). */
static int s3_expect(artifacts *a, const s3_call *c, const char *what, int ok204, char *err,
		     size_t errlen)
{
	vg_http_response r = { 0 };
	int rc;

	if (s3_do(a, c, what, &r, err, errlen) < 0)
		return -1;
	rc = r.status == 200 || (ok204 && r.status == 204) ? 0 : -1;
	if (rc < 0)
		answer_error(a, what, c->key, &r, r.body, err, errlen);
	a->cloud->http_response_free(&r);
	return rc;
}

/* 16 random hex digits naming one upload of a stage: the random parts of
 * a version 4 UUID (its first 8 and last 8 digits). */
static void run_tag(char out[17])
{
	char uuid[37];

	util_uuid4(uuid);
	memcpy(out, uuid, 8);
	memcpy(out + 8, uuid + 28, 8);
	out[16] = '\0';
}

int artifacts_put_stage(artifacts *a, const char *job_dir, const char *job_id,
			const char *stage_id, json_t *record, char *err, size_t errlen)
{
	json_t *files = json_object_get(record, "files"), *f;
	char run[17], *key = NULL, *path = NULL, *dump = NULL;
	size_t i;
	int rc = -1;

	run_tag(run);
	json_array_foreach(files, i, f) {
		const char *rel = json_string_value(f);
		strbuf sb = { 0 };

		if (!artifacts_rel_valid(rel)) {
			util_errf(err, errlen, "stage %s: output file \"%s\" cannot be kept in S3 "
				  "(names of A-Z a-z 0-9 . _ - only)", stage_id, rel ? rel : "?");
			goto out;
		}
		sb_printf(&sb, "runs/%s/%s", run, rel);
		key = job_key(a, job_id, sb.buf);
		sb_free(&sb);
		path = util_path_join(job_dir, rel);
		if (s3_expect(a, &(s3_call){ .method = "PUT", .key = key,
				.content_type = "application/octet-stream", .body_path = path },
			      "store", 0, err, errlen) < 0)
			goto out;
		free(key);
		free(path);
		key = path = NULL;
	}
	json_object_set_new(record, "run", json_string(run));
	dump = json_dumps(record, JSON_INDENT(2));
	key = marker_key(a, job_id, stage_id);
	if (!dump)
		util_errf(err, errlen, "out of memory");
	else if (s3_expect(a, &(s3_call){ .method = "PUT", .key = key,
				.content_type = "application/json", .body = dump,
				.body_len = strlen(dump) }, "store", 0, err, errlen) == 0)
		rc = 0;
out:
	free(dump);
	free(key);
	free(path);
	return rc;
}

/* The pieces a file comes down in: the HTTP client keeps a download under
 * 64 MiB. VIDGEN_ARTIFACTS_CHUNK_KB makes them smaller (for tests). */
static long long chunk_bytes(void)
{
	const char *env = getenv("VIDGEN_ARTIFACTS_CHUNK_KB");
	long kb = env && *env ? strtol(env, NULL, 10) : 0;

	return kb > 0 && kb <= 32768 ? (long long)kb * 1024 : 32LL << 20;
}

/* TOTAL of a 206 answer's "content-range: bytes FIRST-LAST/TOTAL", or -1. */
static long long range_total(const vg_http_response *r)
{
	for (size_t i = 0; r->headers && r->headers[i]; i++) {
		const char *h = r->headers[i], *slash;
		char *end;
		long long t;

		if (strncmp(h, "content-range: bytes ", 21) || !(slash = strrchr(h, '/')))
			continue;
		t = strtoll(slash + 1, &end, 10);
		return end != slash + 1 && t >= 0 ? t : -1;
	}
	return -1;
}

/* Appends the file part to out. 0 ok; *n gets its size. */
static int append_part(FILE *out, const char *part, long long *n)
{
	char buf[65536];
	size_t got;
	FILE *in = fopen(part, "rb");
	int rc = 0;

	*n = 0;
	if (!in)
		return -1;
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (fwrite(buf, 1, got, out) != got)
			rc = -1;
		*n += (long long)got;
	}
	if (ferror(in))
		rc = -1;
	fclose(in);
	return rc;
}

/* Downloads key into path in ranges of chunk_bytes() (through path.tmp.PID,
 * renamed once whole). A server that ignores ranges answers 200 with the
 * whole object, which is taken as it is. */
static int fetch_file(artifacts *a, const char *key, const char *path, char *err,
		      size_t errlen)
{
	strbuf tmp = { 0 }, part = { 0 };
	char *dir = xstrdup(path), *slash = strrchr(dir, '/'), *body = NULL, range[96];
	long long off = 0, total = -1, chunk = chunk_bytes(), got;
	FILE *out = NULL;
	size_t len;
	int rc = -1, whole = 0;

	if (slash)
		*slash = '\0';
	util_mkdir_p(dir, 0755);
	free(dir);
	sb_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	sb_printf(&part, "%s.part", tmp.buf);
	while (!whole && (total < 0 || off < total)) {
		vg_http_response r = { 0 };
		int bad = 0;

		snprintf(range, sizeof(range), "Range: bytes=%lld-%lld", off, off + chunk - 1);
		if (s3_do(a, &(s3_call){ .method = "GET", .key = key, .response_path = part.buf,
					 .header = range }, "fetch", &r, err, errlen) < 0)
			goto out;
		if (r.status == 200 && off == 0) {
			whole = 1;
			bad = rename(part.buf, tmp.buf) < 0;
		} else if (r.status == 416 && off == 0) {
			whole = 1; /* an empty object */
			bad = !(out = fopen(tmp.buf, "wb"));
		} else if (r.status == 206 && (total = range_total(&r)) >= 0) {
			bad = (!out && !(out = fopen(tmp.buf, "wb"))) ||
			      append_part(out, part.buf, &got) < 0 || got == 0;
			off += bad ? 0 : got;
		} else {
			util_read_file(part.buf, 64 * 1024, &body, &len, NULL, 0);
			answer_error(a, "fetch", key, &r, body, err, errlen);
			a->cloud->http_response_free(&r);
			goto out;
		}
		a->cloud->http_response_free(&r);
		if (bad) {
			util_errf(err, errlen, "cannot write %s: %s", tmp.buf, strerror(errno));
			goto out;
		}
	}
	if (out && fclose(out) != 0) {
		out = NULL;
		util_errf(err, errlen, "cannot write %s: %s", tmp.buf, strerror(errno));
		goto out;
	}
	out = NULL;
	if (rename(tmp.buf, path) < 0)
		util_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	else
		rc = 0;
out:
	if (out)
		fclose(out);
	unlink(part.buf);
	unlink(tmp.buf);
	sb_free(&tmp);
	sb_free(&part);
	free(body);
	return rc;
}

/* The record's files, checked: "path" among them, each a valid relative
 * path. NULL (err set) when the record is not one of ours. */
static json_t *record_files(json_t *rec, const char *key, char *err, size_t errlen)
{
	json_t *files = json_object_get(rec, "files"), *f;
	const char *run = json_string_value(json_object_get(rec, "run"));
	const char *path = json_string_value(json_object_get(rec, "path"));
	int has_path = 0;
	size_t i;

	if (!json_is_array(files) || !run || strlen(run) != 16 || strspn(run, "0123456789abcdef")
	    != 16 || !json_is_string(json_object_get(rec, "kind")) || !artifacts_rel_valid(path))
		goto bad;
	json_array_foreach(files, i, f) {
		if (!artifacts_rel_valid(json_string_value(f)))
			goto bad;
		has_path |= !strcmp(json_string_value(f), path);
	}
	if (has_path)
		return files;
bad:
	util_errf(err, errlen, "s3 object %s is not a stage record of vidgen (run, kind, path, "
		  "files)", key);
	return NULL;
}

int artifacts_fetch_stage(artifacts *a, const char *job_dir, const char *job_id,
			  const char *stage_id, char *err, size_t errlen)
{
	vg_http_response r = { 0 };
	char *key = marker_key(a, job_id, stage_id), *res = NULL, *fkey = NULL, *path = NULL;
	json_t *rec = NULL, *files, *f;
	size_t i;
	int rc = -1;

	if (s3_do(a, &(s3_call){ .method = "GET", .key = key }, "fetch", &r, err, errlen) < 0)
		goto out;
	if (r.status == 404) {
		rc = 0;
		goto out;
	}
	if (r.status != 200) {
		answer_error(a, "fetch", key, &r, r.body, err, errlen);
		goto out;
	}
	rec = r.body_len <= RECORD_MAX ? json_loads(r.body, 0, NULL) : NULL;
	if (!(files = record_files(rec, key, err, errlen)))
		goto out;
	json_array_foreach(files, i, f) {
		const char *rel = json_string_value(f);
		strbuf sb = { 0 };

		sb_printf(&sb, "runs/%s/%s", json_string_value(json_object_get(rec, "run")), rel);
		fkey = job_key(a, job_id, sb.buf);
		sb_free(&sb);
		path = util_path_join(job_dir, rel);
		if (fetch_file(a, fkey, path, err, errlen) < 0)
			goto out;
		free(fkey);
		free(path);
		fkey = path = NULL;
	}
	{
		strbuf sb = { 0 };
		sb_printf(&sb, "stages/%s/result.json", stage_id);
		res = util_path_join(job_dir, sb.buf);
		sb_free(&sb);
	}
	if (util_write_file_atomic(res, r.body, r.body_len) < 0) {
		util_errf(err, errlen, "cannot write %s: %s", res, strerror(errno));
		goto out;
	}
	log_msg(VG_LOG_INFO, "[%.8s %s] fetched from s3://%s/%s (%zu files)", job_id, stage_id,
		a->bucket, key, json_array_size(files));
	rc = 1;
out:
	a->cloud->http_response_free(&r);
	json_decref(rec);
	free(key);
	free(fkey);
	free(path);
	free(res);
	return rc;
}

/* The text of the first <tag>...</tag> at or after *from, malloc'd (NULL
 * if none); *from moves past it. */
static char *xml_next(const char **from, const char *tag)
{
	char open[32], close[32];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if (!(a = strstr(*from, open)) || !(b = strstr(a, close)))
		return NULL;
	*from = b + strlen(close);
	a += strlen(open);
	return strndup(a, (size_t)(b - a));
}

/* Calls each(ud, key) for every key under prefix (ListObjectsV2, page after
 * page); only keys under prefix made of valid names reach it (the answer
 * comes from outside). 0 ok, -1 error. */
static int list_keys(artifacts *a, const char *prefix, int folders,
		     void (*each)(void *ud, const char *key), void *ud, char *err, size_t errlen)
{
	char *token = NULL, enc_prefix[1600], enc_token[3200];
	int rc = 0;

	if (url_pct_encode(prefix, enc_prefix, sizeof(enc_prefix)) != 0) {
		util_errf(err, errlen, "shared artifacts: the prefix %.200s is too long to list", prefix);
		return -1;
	}
	do {
		vg_http_response r = { 0 };
		strbuf q = { 0 };
		const char *p;
		char *k, *more;

		sb_printf(&q, "%slist-type=2&prefix=%s", folders ? "delimiter=%2F&" : "",
			  enc_prefix);
		if (token && url_pct_encode(token, enc_token, sizeof(enc_token)) != 0) {
			util_errf(err, errlen, "shared artifacts: S3 answered a listing of %s with a "
				  "continuation token of %zu bytes, too long to send back", prefix,
				  strlen(token));
			free(token);
			sb_free(&q);
			return -1;
		}
		if (token)
			sb_printf(&q, "&continuation-token=%s", enc_token);
		free(token);
		token = NULL;
		rc = s3_do(a, &(s3_call){ .method = "GET", .key = "", .query = q.buf,
					  .shown = prefix }, "list",
			   &r, err, errlen);
		sb_free(&q);
		if (rc < 0)
			break;
		if (r.status != 200) {
			answer_error(a, "list", prefix, &r, r.body, err, errlen);
			a->cloud->http_response_free(&r);
			rc = -1;
			break;
		}
		/* Folders: each <CommonPrefixes><Prefix>; the request's own
		 * <Prefix> is there too, and fails the check. */
		for (p = r.body; (k = xml_next(&p, folders ? "Prefix" : "Key")); free(k)) {
			size_t n = strlen(k);
			if (folders && n && k[n - 1] == '/')
				k[--n] = '\0';
			if (n > strlen(prefix) && !strncmp(k, prefix, strlen(prefix)) &&
			    names_valid(k, 64))
				each(ud, k);
		}
		p = r.body;
		more = xml_next(&p, "IsTruncated");
		if (more && !strcmp(more, "true")) {
			p = r.body;
			token = xml_next(&p, "NextContinuationToken");
		}
		free(more);
		a->cloud->http_response_free(&r);
	} while (token);
	free(token);
	return rc;
}

typedef struct done_scan {
	const char *const *ids;
	size_t n;
	int *done;
	size_t base_len; /* of PREFIX/JOB/stages/ */
} done_scan;

static void note_marker(void *ud, const char *key)
{
	done_scan *d = ud;
	const char *name = key + d->base_len;
	size_t n = strlen(name);

	for (size_t i = 0; i < d->n; i++)
		if (n == strlen(d->ids[i]) + 5 && !strncmp(name, d->ids[i], n - 5) &&
		    !strcmp(name + n - 5, ".json"))
			d->done[i] = 1;
}

int artifacts_stages_done(artifacts *a, const char *job_id, const char *const *ids,
			  size_t n, int *done, char *err, size_t errlen)
{
	char *base = job_key(a, job_id, "stages/");
	done_scan d = { ids, n, done, strlen(base) };
	int rc;

	memset(done, 0, n * sizeof(*done));
	rc = list_keys(a, base, 0, note_marker, &d, err, errlen);
	free(base);
	return rc;
}

typedef struct key_list {
	char **v;
	size_t n;
} key_list;

static void keep_key(void *ud, const char *key)
{
	key_list *l = ud;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(key);
}

typedef struct job_scan {
	size_t base_len;
	void (*each)(void *ud, const char *job_id);
	void *ud;
} job_scan;

static void note_job(void *ud, const char *key)
{
	job_scan *js = ud;

	if (util_uuid_valid(key + js->base_len))
		js->each(js->ud, key + js->base_len);
}

int artifacts_list_jobs(artifacts *a, void (*each)(void *ud, const char *job_id), void *ud,
			char *err, size_t errlen)
{
	strbuf base = { 0 };
	int rc;

	sb_printf(&base, "%s%s", a->prefix, *a->prefix ? "/" : "");
	job_scan js = { base.len, each, ud };
	rc = list_keys(a, base.buf ? base.buf : "", 1, note_job, &js, err, errlen);
	sb_free(&base);
	return rc;
}

int artifacts_delete_job(artifacts *a, const char *job_id, long *n_deleted, char *err,
			 size_t errlen)
{
	char *base = job_key(a, job_id, "");
	key_list l = { 0 };
	int rc = list_keys(a, base, 0, keep_key, &l, err, errlen);

	*n_deleted = 0;
	/* The records first: a job half deleted is then one with no stage
	 * done, never one whose records name missing files. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; rc == 0 && i < l.n; i++) {
			int record = strncmp(l.v[i] + strlen(base), "runs/", 5) != 0;
			if (record != (pass == 0))
				continue;
			rc = s3_expect(a, &(s3_call){ .method = "DELETE", .key = l.v[i] }, "delete",
				       1, err, errlen);
			*n_deleted += rc == 0;
		}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	free(base);
	return rc;
}

int artifacts_forget_stage(artifacts *a, const char *job_id, const char *stage_id, char *err,
			   size_t errlen)
{
	char *key = marker_key(a, job_id, stage_id);
	vg_http_response r = { 0 };
	int rc = -1;

	if (s3_do(a, &(s3_call){ .method = "DELETE", .key = key }, "withdraw", &r, err,
		  errlen) < 0)
		goto out;
	if (r.status == 200 || r.status == 204 || r.status == 404)
		rc = 0;
	else
		answer_error(a, "withdraw", key, &r, r.body, err, errlen);
	a->cloud->http_response_free(&r);
out:
	free(key);
	return rc;
}
