/*
 * s3: stores the video in S3 (or an S3-compatible store) as {video_id}.mp4
 * with the metadata of doc/cloud.md, made safe for S3's rules (ASCII, 2 KB in all),
 * the full texts in a {video_id}.json object beside it, the captions and
 * poster the render left ({video_id}.vtt, .srt, .jpg, .thumb.jpg) too, public
 * read through an ACL where the bucket allows ACLs, and multipart upload for
 * big files.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <jansson.h>

#include "vidgen/plugin.h"
#include "../common/aws_error.h"
#include "../common/aws_region.h"
#include "../common/companions.h"
#include "../common/s3_addr.h"
#include "../common/url.h"

#define S3_META_LIMIT 2048  /* S3: all user metadata keys + values, bytes */
#define S3_MAX_PARTS 10000
#define S3_MB (1024L * 1024L)

typedef struct s3_conf {
	const char *bucket;
	const char *region;
	const char *endpoint;   /* "" = AWS */
	int path_style;
	const char *acl;        /* "" or "public-read" */
	const char *public_url; /* "" = computed */
	long multipart_mb;
	long part_mb;
	int sidecar;
	const char *initial_from;
	const char *refined_from;
	long timeout_s;
	long attempts;
	int unsigned_payload;
} s3_conf;

static const vg_setting s3_settings[] = {
	VG_SETTING_STR("bucket", s3_conf, bucket, "loli", "bucket name (S3 naming rules)"),
	VG_SETTING_STR("region", s3_conf, region, "",
		       "AWS region; empty = AWS_REGION, else eu-west-3"),
	VG_SETTING_STR("endpoint", s3_conf, endpoint, "",
		       "S3-compatible endpoint URL (e.g. $S3_ENDPOINT_URL); empty = AWS"),
	VG_SETTING_BOOL("path_style", s3_conf, path_style, "false",
			"address objects as ENDPOINT/BUCKET/KEY instead of BUCKET.HOST/KEY"),
	VG_SETTING_CHOICE("acl", s3_conf, acl, "public-read", "public-read|none",
			  "canned ACL, or none; dropped (with a warning) when the bucket has "
			  "ACLs disabled"),
	VG_SETTING_STR("public_url", s3_conf, public_url, "",
		       "base of the returned URL (e.g. a CDN); empty = the bucket's own URL"),
	VG_SETTING_INT("multipart_threshold_mb", s3_conf, multipart_mb, "64", 0, 5120,
		       "files larger than this go up in parts (0: every file)"),
	VG_SETTING_INT("part_size_mb", s3_conf, part_mb, "16", 5, 512,
		       "size of each multipart part (S3 minimum 5)"),
	VG_SETTING_BOOL("sidecar", s3_conf, sidecar, "true",
			"also store the full texts as {video_id}.json"),
	VG_SETTING_STR("initial_from", s3_conf, initial_from, "explain",
		       "input stage whose text is the initial explanation"),
	VG_SETTING_STR("refined_from", s3_conf, refined_from, "refine",
		       "input stage whose text is the refined explanation"),
	VG_SETTING_INT("timeout", s3_conf, timeout_s, "600", 1, 7200,
		       "seconds allowed for one HTTP request"),
	VG_SETTING_INT("attempts", s3_conf, attempts, "4", 1, 10,
		       "HTTP tries on throttling and 5xx answers"),
	VG_SETTING_BOOL("unsigned_payload", s3_conf, unsigned_payload, "false",
			"sign UNSIGNED-PAYLOAD instead of hashing the file (TLS only)"),
	VG_SETTINGS_END
};

/* ---- helpers ------------------------------------------------------------ */

typedef struct strlist {
	char **v;
	size_t n, cap;
} strlist;

static int sl_add(strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sl_add(strlist *l, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (l->n + 2 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return -1;
	l->v[l->n++] = s;
	l->v[l->n] = NULL;
	return 0;
}

static void sl_free(strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int s3_init(void *instance, char *err, size_t errlen)
{
	s3_conf *c = instance;

	if (strcmp(c->acl, "none") == 0)
		c->acl = ""; /* no ACL header at all */
	if (!s3_bucket_valid(c->bucket)) {
		snprintf(err, errlen, "bucket: \"%s\" is not a valid S3 bucket name", c->bucket);
		return VG_EINVAL;
	}
	if (aws_settings_check(c->region, NULL, err, errlen) != VG_OK)
		return VG_EINVAL;
	if ((*c->endpoint && !url_base_valid(c->endpoint)) ||
	    (*c->public_url && !url_base_valid(c->public_url))) {
		snprintf(err, errlen, "endpoint/public_url: must be an http(s) URL without query");
		return VG_EINVAL;
	}
	return VG_OK;
}

/* Object URL for key: virtual-hosted or path-style, AWS or endpoint. */
static char *object_url(const s3_conf *c, const char *region, const char *key)
{
	return s3_object_url(c->endpoint, c->path_style, c->bucket, region, key);
}

/* The URL users get: public_url, the AWS form of doc/cloud.md, or the object URL. */
static char *public_url(const s3_conf *c, const char *region, const char *key)
{
	char *u = NULL;
	size_t n = strlen(c->public_url);

	while (n && c->public_url[n - 1] == '/')
		n--;
	if (*c->public_url)
		return asprintf(&u, "%.*s/%s", (int)n, c->public_url, key) < 0 ? NULL : u;
	if (!*c->endpoint)
		return asprintf(&u, "https://%s.s3.%s.amazonaws.com/%s", c->bucket, region, key) < 0
			       ? NULL : u;
	return object_url(c, region, key);
}

/* ---- metadata ----------------------------------------------------------- */

/* S3 metadata travels in HTTP headers: printable ASCII only. Other bytes
 * (UTF-8, control characters) and '%' become %XX, runs of spaces fold to
 * one (S3 folds them when signing), and the text is cut at limit bytes
 * without splitting an escape, marking the cut with "...". */
static char *meta_encode(const char *s, size_t limit)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t cap = strlen(s) * 3 + 4, k = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			if (k && out[k - 1] != ' ')
				out[k++] = ' ';
		} else if (ch < 0x20 || ch > 0x7e || ch == '%') {
			out[k++] = '%';
			out[k++] = hex[ch >> 4];
			out[k++] = hex[ch & 15];
		} else {
			out[k++] = (char)ch;
		}
	}
	while (k && out[k - 1] == ' ')
		k--;
	out[k] = '\0';
	if (k > limit) {
		size_t cut = limit > 3 ? limit - 3 : 0;
		if (cut >= 1 && out[cut - 1] == '%')
			cut -= 1;
		else if (cut >= 2 && out[cut - 2] == '%')
			cut -= 2;
		while (cut && out[cut - 1] == ' ')
			cut--;
		memcpy(out + cut, "...", 4);
	}
	return out;
}

enum { M_QUESTION, M_INITIAL, M_REFINED, M_MODEL, M_VOICE, M_DATE, M_TEXTS, M_N };
static const char *const META_KEYS[M_N] = {
	"original-question", "initial-explanation", "refined-explanation",
	"model-used", "voice-used", "generation-date", "texts-object" };

/* Adds the x-amz-meta-* headers within S3_META_LIMIT: the short values
 * whole, then the three long texts sharing what is left (a text shorter
 * than its share gives the rest to the others). */
static int meta_headers(strlist *h, const char *const val[M_N])
{
	char *enc[M_N] = { 0 };
	size_t used = 0, left, share, want[3];
	int rc = -1, n_long = 3;

	for (int i = 0; i < M_N; i++) {
		used += strlen(META_KEYS[i]);
		if (i >= M_MODEL && val[i]) {
			if (!(enc[i] = meta_encode(val[i], 200)))
				goto out;
			used += strlen(enc[i]);
		}
	}
	left = used < S3_META_LIMIT ? S3_META_LIMIT - used : 0;
	for (int i = 0; i < 3; i++) {
		char *full = meta_encode(val[i] ? val[i] : "", (size_t)-1 / 2);
		if (!full)
			goto out;
		want[i] = strlen(full);
		free(full);
	}
	/* water-filling over the three long values */
	for (int round = 0; round < 3; round++) {
		share = n_long ? left / (size_t)n_long : 0;
		for (int i = 0; i < 3; i++)
			if (!enc[i] && want[i] <= share) {
				if (!(enc[i] = meta_encode(val[i] ? val[i] : "", share)))
					goto out;
				left -= strlen(enc[i]);
				n_long--;
			}
	}
	share = n_long ? left / (size_t)n_long : 0;
	for (int i = 0; i < 3; i++)
		if (!enc[i] && !(enc[i] = meta_encode(val[i] ? val[i] : "", share)))
			goto out;
	/* An empty value is left out: curl drops "Name: " lines, and a
	 * signed header that is not sent breaks the signature. */
	for (int i = 0; i < M_N; i++)
		if (enc[i] && *enc[i] && sl_add(h, "x-amz-meta-%s: %s", META_KEYS[i], enc[i]))
			goto out;
	rc = 0;
out:
	for (int i = 0; i < M_N; i++)
		free(enc[i]);
	return rc;
}

/* ---- requests ----------------------------------------------------------- */

typedef struct s3_ctx {
	const s3_conf *c;
	vg_stage *st;
	char region[40];
	vg_aws_sign_opts sign;
	int acl_off;        /* the bucket refused ACLs once: stop sending them */
} s3_ctx;

static int s3_error(s3_ctx *x, const char *what, const vg_http_response *r)
{
	char code[128], msg[301];

	aws_error_parse(r, r->body, code, sizeof(code), msg, sizeof(msg), "");
	if (strcmp(code, "NoSuchBucket") == 0) {
		x->st->svc->fail(x->st, "S3 bucket \"%s\" does not exist (region %s)",
				 x->c->bucket, x->region);
		return VG_EINVAL;
	}
	if (strcmp(code, "PermanentRedirect") == 0 || strcmp(code, "AuthorizationHeaderMalformed") == 0) {
		x->st->svc->fail(x->st, "S3 bucket \"%s\" is not in region %s: set AWS_REGION "
				 "to the bucket's region (%s)", x->c->bucket, x->region, msg);
		return VG_EINVAL;
	}
	if (r->status == 403) {
		x->st->svc->fail(x->st, "S3 refused to %s in bucket \"%s\" (%s): %s; check the "
				 "credentials and that the IAM identity may call s3:PutObject%s",
				 what, x->c->bucket, *code ? code : "HTTP 403", msg,
				 *x->c->acl && !x->acl_off ? " and s3:PutObjectAcl" : "");
		return VG_EHTTP;
	}
	x->st->svc->fail(x->st, "S3 failed to %s (HTTP %ld %s): %s", what, r->status, code, msg);
	return r->status >= 500 || r->status == 429 ? VG_EFAIL : VG_EHTTP;
}

/* One request; *resp is filled on VG_OK (caller frees). */
static int s3_http(s3_ctx *x, const char *method, const char *url, const strlist *h,
		   const void *body, size_t body_len, const char *body_path,
		   vg_http_response *resp)
{
	vg_http_request req = VG_HTTP_REQUEST_INIT();
	char err[512] = "";
	int rc;

	req.method = method;
	req.url = url;
	req.headers = (const char *const *)h->v;
	req.body = body;
	req.body_len = body_len;
	req.body_path = body_path;
	req.timeout_ms = x->c->timeout_s * 1000;
	req.max_attempts = (int)x->c->attempts;
	req.aws = &x->sign;
	rc = x->st->svc->http(x->st, &req, resp, err, sizeof(err));
	if (rc == VG_ETIMEDOUT || rc == VG_EHTTP) {
		x->st->svc->fail(x->st, "S3: %s", err);
		return VG_EFAIL;
	}
	if (rc != VG_OK && rc != VG_ECANCELED)
		x->st->svc->fail(x->st, "%s", err);
	return rc;
}

/* A request that carries the ACL header when asked; when the bucket has
 * ACLs disabled it is sent again without, once. */
static int s3_send_acl(s3_ctx *x, const char *method, const char *url, strlist *h,
		       const void *body, size_t len, const char *path, vg_http_response *resp)
{
	char code[128], msg[301];
	int rc;

	if (*x->c->acl && !x->acl_off && sl_add(h, "x-amz-acl: %s", x->c->acl))
		return VG_ENOMEM;
	rc = s3_http(x, method, url, h, body, len, path, resp);
	if (rc != VG_OK || resp->status != 400 || !*x->c->acl || x->acl_off)
		return rc;
	aws_error_parse(resp, resp->body, code, sizeof(code), msg, sizeof(msg), "");
	if (strcmp(code, "AccessControlListNotSupported") != 0)
		return rc;
	x->acl_off = 1;
	x->st->svc->log(x->st, VG_LOG_WARN, "bucket \"%s\" has ACLs disabled (Object Ownership "
			"= bucket owner enforced); uploading without the %s ACL: a bucket policy "
			"must grant public s3:GetObject for the URL to be public",
			x->c->bucket, x->c->acl);
	free(h->v[--h->n]); /* drop x-amz-acl, the last header */
	h->v[h->n] = NULL;
	x->st->svc->http_free(resp);
	return s3_http(x, method, url, h, body, len, path, resp);
}

/* The ETag header of a part. */
static int part_etag(const vg_http_response *r, char *out, size_t outlen)
{
	for (size_t i = 0; r->headers && r->headers[i]; i++)
		if (strncmp(r->headers[i], "etag: ", 6) == 0) {
			snprintf(out, outlen, "%s", r->headers[i] + 6);
			return strpbrk(out, "<>&") ? -1 : 0;
		}
	return -1;
}

/* Starts a multipart upload with the object's headers (ACL fallback
 * included); fills the URL-encoded upload id. */
static int mp_create(s3_ctx *x, const char *url, strlist *h, char *id, size_t idlen)
{
	vg_http_response r = { 0 };
	char *u = NULL, raw[1024];
	const char *a = NULL, *b = NULL;
	int rc;

	if (asprintf(&u, "%s?uploads=", url) < 0)
		return VG_ENOMEM;
	rc = s3_send_acl(x, "POST", u, h, "", 0, NULL, &r);
	free(u);
	if (rc == VG_OK && r.status != 200)
		rc = s3_error(x, "start a multipart upload", &r);
	if (rc == VG_OK && (!(a = strstr(r.body, "<UploadId>")) || !(b = strstr(a, "</UploadId>")) ||
			    b - a - 10 <= 0 || b - a - 10 >= (long)sizeof(raw))) {
		x->st->svc->fail(x->st, "S3 answered a multipart start without an UploadId");
		rc = VG_EHTTP;
	}
	if (rc == VG_OK) {
		snprintf(raw, sizeof(raw), "%.*s", (int)(b - a - 10), a + 10);
		if (url_pct_encode(raw, id, idlen) != 0) {
			x->st->svc->fail(x->st, "S3 answered a multipart start with an UploadId "
					 "of %zu bytes, too long to send back", strlen(raw));
			rc = VG_EHTTP;
		}
	}
	x->st->svc->http_free(&r);
	return rc;
}

/* Sends the file in parts of part_mb; collects their ETags. */
static int mp_parts(s3_ctx *x, const char *url, const char *id, const char *path,
		    long nparts, strlist *etags)
{
	long part = x->c->part_mb * S3_MB;
	strlist h = { 0 };
	char *buf = malloc((size_t)part), *u = NULL, etag[256];
	FILE *f = fopen(path, "rb");
	int rc = VG_OK;

	if (!buf || !f || sl_add(&h, "Content-Type: application/octet-stream")) {
		x->st->svc->fail(x->st, "s3: cannot read the video for a multipart upload");
		rc = VG_EIO;
	}
	for (long i = 0; rc == VG_OK && i < nparts; i++) {
		vg_http_response r = { 0 };
		size_t n = fread(buf, 1, (size_t)part, f);
		if (n == 0 || asprintf(&u, "%s?partNumber=%ld&uploadId=%s", url, i + 1, id) < 0) {
			rc = VG_EIO;
			break;
		}
		rc = s3_http(x, "PUT", u, &h, buf, n, NULL, &r);
		free(u);
		if (rc == VG_OK && r.status != 200)
			rc = s3_error(x, "upload a part", &r);
		if (rc == VG_OK && part_etag(&r, etag, sizeof(etag))) {
			x->st->svc->fail(x->st, "S3 answered a part without an ETag");
			rc = VG_EHTTP;
		}
		x->st->svc->http_free(&r);
		if (rc == VG_OK && sl_add(etags, "%s", etag))
			rc = VG_ENOMEM;
		x->st->svc->progress(x->st, (double)(i + 1) / (double)(nparts + 1), NULL);
	}
	sl_free(&h);
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

/* Completes the upload (S3 may answer 200 with an <Error> body), or aborts
 * it so no parts linger in the bucket. */
static int mp_finish(s3_ctx *x, const char *url, const char *id, const strlist *etags,
		     int complete)
{
	vg_http_response r = { 0 };
	strlist h = { 0 };
	char *u = NULL, *xml = NULL;
	size_t xlen = 0;
	FILE *m;
	int rc;

	if (asprintf(&u, "%s?uploadId=%s", url, id) < 0)
		return VG_ENOMEM;
	if (!complete) {
		if (s3_http(x, "DELETE", u, &h, NULL, 0, NULL, &r) == VG_OK)
			x->st->svc->http_free(&r);
		free(u);
		return VG_OK;
	}
	if (!(m = open_memstream(&xml, &xlen))) {
		free(u);
		return VG_ENOMEM;
	}
	fputs("<CompleteMultipartUpload>", m);
	for (size_t i = 0; i < etags->n; i++)
		fprintf(m, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
			etags->v[i]);
	fputs("</CompleteMultipartUpload>", m);
	fclose(m);
	rc = s3_http(x, "POST", u, &h, xml, xlen, NULL, &r);
	if (rc == VG_OK && (r.status != 200 || strstr(r.body, "<Error>")))
		rc = s3_error(x, "complete the multipart upload", &r);
	x->st->svc->http_free(&r);
	free(xml);
	free(u);
	return rc;
}

static int s3_multipart(s3_ctx *x, const char *url, strlist *h, const char *path, long size)
{
	long part = x->c->part_mb * S3_MB, nparts = (size + part - 1) / part;
	char id[3200];
	strlist etags = { 0 };
	int rc;

	if (nparts > S3_MAX_PARTS) {
		x->st->svc->fail(x->st, "video too large for %ld MB parts", x->c->part_mb);
		return VG_EINVAL;
	}
	rc = mp_create(x, url, h, id, sizeof(id));
	if (rc != VG_OK)
		return rc;
	rc = mp_parts(x, url, id, path, nparts, &etags);
	if (rc == VG_OK)
		rc = mp_finish(x, url, id, &etags, 1);
	if (rc != VG_OK)
		mp_finish(x, url, id, &etags, 0);
	sl_free(&etags);
	return rc;
}

/* ---- the stage ---------------------------------------------------------- */

static const vg_artifact *input_from(const vg_stage *st, const char *from, const char *kind)
{
	for (size_t i = 0; i < st->n_inputs; i++) {
		const vg_artifact *a = &st->inputs[i];
		if (from && a->from && strcmp(a->from, from) == 0)
			return a;
		if (kind && a->kind && strcmp(a->kind, kind) == 0)
			return a;
	}
	return NULL;
}

static int valid_id(const char *id)
{
	if (!id || !*id || strlen(id) > 64)
		return 0;
	for (; *id; id++)
		if (!isalnum((unsigned char)*id) && *id != '-')
			return 0;
	return 1;
}

static char *sidecar_json(const vg_stage *st, const char *const val[M_N], const char *key)
{
	json_t *j = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s}",
			      "video_id", st->job->id, "original_question", val[M_QUESTION],
			      "initial_explanation", val[M_INITIAL],
			      "refined_explanation", val[M_REFINED], "model_used", val[M_MODEL],
			      "voice_used", val[M_VOICE], "generation_date", val[M_DATE],
			      "video_key", key);
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

	json_decref(j);
	return s;
}

/* Uploads the video: one PUT, or multipart above the threshold. */
static int put_video(s3_ctx *x, const char *key, const char *path, long size,
		     const char *const val[M_N])
{
	vg_http_response resp = { 0 };
	strlist h = { 0 };
	char *url = object_url(x->c, x->region, key);
	int rc = VG_ENOMEM;

	if (!url || sl_add(&h, "Content-Type: video/mp4") || meta_headers(&h, val))
		goto out;
	if (size > x->c->multipart_mb * S3_MB) {
		rc = s3_multipart(x, url, &h, path, size);
	} else {
		rc = s3_send_acl(x, "PUT", url, &h, NULL, 0, path, &resp);
		if (rc == VG_OK && resp.status != 200)
			rc = s3_error(x, "upload the video", &resp);
		x->st->svc->http_free(&resp);
	}
out:
	sl_free(&h);
	free(url);
	return rc;
}

/* Stores the full texts as {video_id}.json beside the video. */
static int put_sidecar(s3_ctx *x, const char *jkey, const char *key,
		       const char *const val[M_N])
{
	vg_http_response resp = { 0 };
	strlist h = { 0 };
	char *url = object_url(x->c, x->region, jkey), *side = sidecar_json(x->st, val, key);
	int rc = VG_ENOMEM;

	if (!url || !side || sl_add(&h, "Content-Type: application/json"))
		goto out;
	rc = s3_send_acl(x, "PUT", url, &h, side, strlen(side), NULL, &resp);
	if (rc == VG_OK && resp.status != 200)
		rc = s3_error(x, "store the texts object", &resp);
	x->st->svc->http_free(&resp);
out:
	sl_free(&h);
	free(url);
	free(side);
	return rc;
}

/* Uploads the render's captions and poster found beside the video as
 * {video_id}<suffix>, with their content types and the video's ACL, and
 * reports their public URLs to the core. */
static int put_companions(s3_ctx *x, const char *video)
{
	char from[4096], key[128];
	struct stat sb;
	int rc = VG_OK;

	for (const companion *c = companions; rc == VG_OK && c->suffix; c++) {
		if (companion_path(video, c, from, sizeof(from)) < 0 || lstat(from, &sb) < 0 ||
		    !S_ISREG(sb.st_mode) || sb.st_size > 64 * S3_MB)
			continue;
		snprintf(key, sizeof(key), "%s%s", x->st->job->id, c->suffix);
		vg_http_response resp = { 0 };
		strlist h = { 0 };
		char *url = object_url(x->c, x->region, key), *purl = NULL;
		rc = VG_ENOMEM;
		if (url && !sl_add(&h, "Content-Type: %s", c->content_type)) {
			rc = s3_send_acl(x, "PUT", url, &h, NULL, 0, from, &resp);
			if (rc == VG_OK && resp.status != 200)
				rc = s3_error(x, "upload the captions or poster", &resp);
			x->st->svc->http_free(&resp);
		}
		if (rc == VG_OK && VG_HAS(x->st->svc, vg_services, output_link)) {
			purl = public_url(x->c, x->region, key);
			rc = purl ? x->st->svc->output_link(x->st, c->field, purl) : VG_ENOMEM;
		}
		sl_free(&h);
		free(url);
		free(purl);
	}
	return rc;
}

static int s3_run(void *instance, vg_stage *st)
{
	const s3_conf *c = instance;
	const vg_artifact *video = input_from(st, NULL, "video");
	const vg_artifact *ini = input_from(st, c->initial_from, NULL);
	const vg_artifact *ref = input_from(st, c->refined_from, NULL);
	s3_ctx x = { .c = c, .st = st };
	char key[80], jkey[80], date[32], *purl = NULL;
	const char *val[M_N];
	struct stat sb;
	time_t now = time(NULL);
	int rc;

	aws_region_pick(st, c->region, x.region, sizeof(x.region));
	x.sign = (vg_aws_sign_opts)VG_AWS_SIGN_OPTS_INIT(.service = "s3", .region = x.region,
							 .s3_rules = 1,
							 .unsigned_payload = c->unsigned_payload);
	if (!st->job || !valid_id(st->job->id)) {
		st->svc->fail(st, "s3: the job has no usable id");
		return VG_EINVAL;
	}
	if (!video || !video->path || stat(video->path, &sb) != 0 || sb.st_size <= 0) {
		st->svc->fail(st, "s3: no video to upload among the stage's inputs");
		return VG_EINVAL;
	}
	snprintf(key, sizeof(key), "%s.mp4", st->job->id);
	snprintf(jkey, sizeof(jkey), "%s.json", st->job->id);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	val[M_QUESTION] = st->job->question;
	val[M_INITIAL] = ini ? ini->data : NULL;
	val[M_REFINED] = ref ? ref->data : NULL;
	val[M_MODEL] = st->job->model;
	val[M_VOICE] = st->job->voice;
	val[M_DATE] = date;
	val[M_TEXTS] = c->sidecar ? jkey : NULL;
	rc = put_video(&x, key, video->path, (long)sb.st_size, val);
	if (rc == VG_OK && c->sidecar)
		rc = put_sidecar(&x, jkey, key, val);
	if (rc == VG_OK)
		rc = put_companions(&x, video->path);
	if (rc != VG_OK)
		return rc;
	st->svc->log(st, VG_LOG_INFO, "stored %s (%lld bytes) in bucket %s", key,
		     (long long)sb.st_size, c->bucket);
	if (!(purl = public_url(c, x.region, key)))
		return VG_ENOMEM;
	rc = st->svc->output_write(st, "url", "url.txt", purl, strlen(purl));
	free(purl);
	return rc;
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "s3",
	.kind = "store",
	.version = "1.0.0",
	.description = "Amazon S3 (or S3-compatible) store: {video_id}.mp4 with metadata, "
		       "{video_id}.json with the full texts, public URL",
	.settings = s3_settings,
	.instance_size = sizeof(s3_conf),
	.init = s3_init,
	.run = s3_run,
	.needs = VG_NEEDS_AWS_CREDENTIALS,
};
