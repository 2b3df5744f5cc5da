/*
 * Tests for core/cloud/sigv4.c: every case folder of the AWS SigV4 test suite
 * (header signing; vidgen does not presign), plus S3's single-encoding rules
 * checked against AWS's published S3 examples.
 *
 * Usage: test_sigv4 [VECTOR_DIR]; default $VG_SIGV4_VECTORS, else the
 * build-time VG_SIGV4_VECTORS ($(abs_top_srcdir)/tests/vectors/sigv4, the
 * copy kept in the repository with its licence notice).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>

#include "cloud/sigv4.h"
#include "util.h"

#ifndef VG_SIGV4_VECTORS
#error "VG_SIGV4_VECTORS (the vector folder) is set by core/cloud/local.mk"
#endif

#define MAX_CASES 512

typedef struct vector_case {
	char *dir;
	char *name;
} vector_case;

static int n_passed, n_failed;

/* Reads dir/name; returns malloc'd text or NULL. */
static char *slurp(const char *dir, const char *name)
{
	char path[4096], *buf = NULL, err[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (util_read_file(path, 1 << 20, &buf, NULL, err, sizeof(err)))
		return NULL;
	return buf;
}

/* A request.txt parsed: request line, headers (continuation lines folded
 * into the previous header), body. Strings point into text. */
typedef struct parsed_request {
	char *text;
	char method[16];
	char *path, *query, *body;
	char *headers[64];
	size_t n_headers;
} parsed_request;

static int parse_request(char *text, parsed_request *r)
{
	char *line = text, *next, *sp, *proto;
	strbuf fold = { 0 };

	memset(r, 0, sizeof(*r));
	r->text = text;
	next = strchr(line, '\n');
	if (!next)
		return -1;
	*next++ = '\0';
	sp = strchr(line, ' ');
	proto = strstr(line, " HTTP/");
	if (!sp || !proto || (size_t)(sp - line) >= sizeof(r->method))
		return -1;
	memcpy(r->method, line, (size_t)(sp - line));
	*proto = '\0';
	r->path = sp + 1;
	r->query = strchr(r->path, '?');
	if (r->query)
		*r->query++ = '\0';
	for (line = next; line && *line && *line != '\n'; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if ((*line == ' ' || *line == '\t') && r->n_headers) {
			/* A folded line: join it to the previous header. */
			sb_puts(&fold, r->headers[r->n_headers - 1]);
			sb_puts(&fold, " ");
			sb_puts(&fold, line);
			free(r->headers[r->n_headers - 1]);
			r->headers[r->n_headers - 1] = sb_steal(&fold);
			continue;
		}
		if (r->n_headers + 1 >= 64)
			return -1;
		r->headers[r->n_headers++] = xstrdup(line);
	}
	r->body = line && *line == '\n' ? line + 1 : (char *)"";
	return 0;
}

static void free_request(parsed_request *r)
{
	for (size_t i = 0; i < r->n_headers; i++)
		free(r->headers[i]);
	free(r->text);
}

/* Checks one expected file against a value; prints a diff-like note. */
static int expect_file(const char *dir, const char *file, const char *got)
{
	char *want = slurp(dir, file);
	int ok;

	if (!want) {
		fprintf(stderr, "# %s: missing %s\n", dir, file);
		return 0;
	}
	ok = got && strcmp(want, got) == 0;
	if (!ok)
		fprintf(stderr, "# %s/%s differs:\n# want: %s\n# got:  %s\n", dir, file,
			want, got ? got : "(null)");
	free(want);
	return ok;
}

/* The Authorization line of the expected signed request. */
static char *expected_signed(const char *dir, const char *file)
{
	char *text = slurp(dir, file), *out = NULL, *p;

	if (!text)
		return NULL;
	if ((p = strstr(text, "\nAuthorization:"))) {
		char *end = strchr(p + 1, '\n');
		out = strndup(p + 15, end ? (size_t)(end - p - 15) : strlen(p + 15));
	}
	free(text);
	return out;
}

static int run_vector(const char *dir)
{
	char *ctx_text = slurp(dir, "context.json"), *req_text = slurp(dir, "request.txt");
	json_t *ctx = NULL;
	parsed_request r;
	sigv4_request sr;
	sigv4_params p;
	sigv4_result res;
	char err[256], date[17], *want = NULL;
	int ok = 1, parsed = 0;

	memset(&p, 0, sizeof(p));
	if (!ctx_text || !req_text) {
		fprintf(stderr, "# %s: missing context.json or request.txt\n", dir);
		ok = 0;
		goto out;
	}
	ctx = json_loads(ctx_text, 0, NULL);
	if (!ctx || parse_request(req_text, &r)) {
		fprintf(stderr, "# %s: unparsable case\n", dir);
		ok = 0;
		goto out;
	}
	parsed = 1;
	req_text = NULL; /* owned by r now */
	json_t *cred = json_object_get(ctx, "credentials");
	p.access_key_id = json_string_value(json_object_get(cred, "access_key_id"));
	p.secret_access_key = json_string_value(json_object_get(cred, "secret_access_key"));
	p.session_token = json_string_value(json_object_get(cred, "token"));
	p.region = json_string_value(json_object_get(ctx, "region"));
	p.service = json_string_value(json_object_get(ctx, "service"));
	p.normalize_path = json_is_true(json_object_get(ctx, "normalize"));
	p.sign_body = json_is_true(json_object_get(ctx, "sign_body"));
	p.omit_session_token = json_is_true(json_object_get(ctx, "omit_session_token"));
	/* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
	const char *ts = json_string_value(json_object_get(ctx, "timestamp"));
	size_t k = 0;
	for (; ts && *ts && k < 16; ts++)
		if (*ts != '-' && *ts != ':')
			date[k++] = *ts;
	date[k] = '\0';
	p.amz_date = date;

	sr.method = r.method;
	sr.path = r.path;
	sr.query = r.query;
	r.headers[r.n_headers] = NULL;
	sr.headers = (const char *const *)r.headers;
	sr.body = r.body;
	sr.body_len = strlen(r.body);

	if (sigv4_sign_headers(&sr, &p, &res, err, sizeof(err))) {
		fprintf(stderr, "# %s: sign failed: %s\n", dir, err);
		ok = 0;
	} else {
		ok &= expect_file(dir, "header-canonical-request.txt", res.canonical_request);
		ok &= expect_file(dir, "header-string-to-sign.txt", res.string_to_sign);
		ok &= expect_file(dir, "header-signature.txt", res.signature);
		want = expected_signed(dir, "header-signed-request.txt");
		ok &= want && strcmp(want, res.authorization) == 0;
		free(want);
		sigv4_result_free(&res);
	}
out:
	if (parsed)
		free_request(&r);
	free(req_text);
	free(ctx_text);
	json_decref(ctx);
	return ok;
}

static void test_vector(void **state)
{
	vector_case *vc = *state;
	int ok = run_vector(vc->dir);

	if (ok)
		n_passed++;
	else
		n_failed++;
	assert_true(ok);
}

/* AWS's S3 documentation example "GET Object" (Range header): S3 rules,
 * signed payload hash header, no path normalisation. */
static void test_s3_get_object_example(void **state)
{
	const char *hdrs[] = { "Host: examplebucket.s3.amazonaws.com", "Range: bytes=0-9", NULL };
	sigv4_request r = { "GET", "/test.txt", NULL, hdrs, "", 0 };
	sigv4_params p = { 0 };
	sigv4_result res;
	char err[128];

	(void)state;
	p.access_key_id = "AKIAIOSFODNN7EXAMPLE";
	p.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	p.region = "us-east-1";
	p.service = "s3";
	p.amz_date = "20130524T000000Z";
	p.sign_body = 1;
	assert_int_equal(sigv4_sign_headers(&r, &p, &res, err, sizeof(err)), 0);
	assert_string_equal(res.signature,
			    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	assert_non_null(strstr(res.authorization,
			       "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"));
	sigv4_result_free(&res);
}

/* AWS's S3 example "PUT Object": '$' in the key is encoded once. */
static void test_s3_put_object_example(void **state)
{
	const char *hdrs[] = { "Host: examplebucket.s3.amazonaws.com",
			       "Date: Fri, 24 May 2013 00:00:00 GMT",
			       "x-amz-storage-class: REDUCED_REDUNDANCY", NULL };
	const char *body = "Welcome to Amazon S3.";
	sigv4_request r = { "PUT", "/test$file.text", NULL, hdrs, body, strlen(body) };
	sigv4_params p = { 0 };
	sigv4_result res;
	char err[128];

	(void)state;
	p.access_key_id = "AKIAIOSFODNN7EXAMPLE";
	p.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	p.region = "us-east-1";
	p.service = "s3";
	p.amz_date = "20130524T000000Z";
	p.sign_body = 1;
	assert_int_equal(sigv4_sign_headers(&r, &p, &res, err, sizeof(err)), 0);
	assert_non_null(strstr(res.canonical_request, "PUT\n/test%24file.text\n"));
	assert_string_equal(res.signature,
			    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	sigv4_result_free(&res);
}

static void test_uri_encode_decode(void **state)
{
	char *e, *d;
	size_t n;

	(void)state;
	e = sigv4_uri_encode("a b/c:d~", 8, 1);
	assert_string_equal(e, "a%20b/c%3Ad~");
	free(e);
	e = sigv4_uri_encode("a/b", 3, 0);
	assert_string_equal(e, "a%2Fb");
	free(e);
	d = sigv4_uri_decode("v1%3a0%2%zz+", 12, &n);
	assert_string_equal(d, "v1:0%2%zz+");
	assert_int_equal(n, strlen(d));
	free(d);
}

/* A bad header line is refused with a message, not signed. */
static void test_malformed_header(void **state)
{
	const char *hdrs[] = { "Host: h", "no colon here", NULL };
	sigv4_request r = { "GET", "/", NULL, hdrs, "", 0 };
	sigv4_params p = { 0 };
	sigv4_result res;
	char err[128] = "";

	(void)state;
	p.access_key_id = "A";
	p.secret_access_key = "B";
	p.region = "eu-west-3";
	p.service = "bedrock";
	p.amz_date = "20260101T000000Z";
	assert_int_equal(sigv4_sign_headers(&r, &p, &res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));
	/* A name that is not a token would reach SignedHeaders, and so the
	 * Authorization header, with a control character in it (found by
	 * tests/fuzz/fuzz_sigv4.c). */
	hdrs[1] = "\faknteet/key with space:x";
	err[0] = '\0';
	assert_int_equal(sigv4_sign_headers(&r, &p, &res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));
	hdrs[1] = "X-Amz-Target:a";
	assert_int_equal(sigv4_sign_headers(&r, &p, &res, err, sizeof(err)), 0);
	sigv4_result_free(&res);
	p.amz_date = "2026";
	hdrs[1] = NULL;
	assert_int_equal(sigv4_sign_headers(&r, &p, &res, err, sizeof(err)), -1);
}

static int case_cmp(const void *a, const void *b)
{
	return strcmp(((const vector_case *)a)->name, ((const vector_case *)b)->name);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("VG_SIGV4_VECTORS");
	static vector_case cases[MAX_CASES];
	static struct CMUnitTest tests[MAX_CASES + 8];
	size_t nc = 0, nt = 0;
	DIR *d;
	struct dirent *de;
	int rc;

	if (!dir || !*dir)
		dir = VG_SIGV4_VECTORS;
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "test_sigv4: cannot open vector directory %s\n", dir);
		return 1;
	}
	while ((de = readdir(d)) && nc < MAX_CASES) {
		char path[4096];
		struct stat sb;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
			continue;
		cases[nc].dir = xstrdup(path);
		cases[nc].name = xstrdup(de->d_name);
		nc++;
	}
	closedir(d);
	if (nc == 0) {
		fprintf(stderr, "test_sigv4: no case folders in %s\n", dir);
		return 1;
	}
	qsort(cases, nc, sizeof(cases[0]), case_cmp);
	for (size_t i = 0; i < nc; i++) {
		tests[nt].name = cases[i].name;
		tests[nt].test_func = test_vector;
		tests[nt].initial_state = &cases[i];
		nt++;
	}
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_s3_get_object_example);
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_s3_put_object_example);
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_uri_encode_decode);
	tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_malformed_header);
	rc = _cmocka_run_group_tests("sigv4", tests, nt, NULL, NULL);
	printf("%d passed, %d failed\n", n_passed, n_failed);
	for (size_t i = 0; i < nc; i++) {
		free(cases[i].dir);
		free(cases[i].name);
	}
	return rc || n_failed ? 1 : 0;
}
