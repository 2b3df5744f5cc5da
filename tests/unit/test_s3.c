/*
 * Tests for plugins/s3 against a fake services table: metadata made safe for
 * S3 (ASCII, 2 KB), object and public URLs in every addressing style, the
 * upload request, the ACL fallback and S3 error messages.
 */
/* The plugin first: cmocka defines a fail() macro. */
#include "../../plugins/s3/s3.c"
#include "svc_mock.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

static char video[] = "/tmp/vg_test_s3_video.XXXXXX";

static int setup(void **state)
{
	int fd = mkstemp(video);
	(void)state;
	if (fd < 0 || write(fd, "not really an mp4", 17) != 17)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(video);
	mock_reset();
	return 0;
}

static void test_meta_encode(void **state)
{
	char *e;

	(void)state;
	e = meta_encode("caf\xc3\xa9 50% \n\t  ok  ", 1000);
	assert_string_equal(e, "caf%C3%A9 50%25 ok");
	free(e);
	/* cut at 10 bytes: "abcdefg..." without splitting an escape */
	e = meta_encode("abcdefghijklmnop", 10);
	assert_string_equal(e, "abcdefg...");
	free(e);
	e = meta_encode("abcdef\xc3\xa9zzzzzz", 10); /* "abcdef%C3%A9..." */
	assert_int_equal(strlen(e) <= 10, 1);
	assert_null(strstr(e, "%C..."));
	assert_string_equal(e, "abcdef...");
	free(e);
}

static void test_meta_headers_fit_2kb(void **state)
{
	char *big = malloc(5001), *uni = malloc(3001);
	const char *val[M_N];
	strlist h = { 0 };
	size_t total = 0;

	(void)state;
	memset(big, 'x', 5000);
	big[5000] = '\0';
	for (int i = 0; i < 3000; i += 2)
		memcpy(uni + i, "\xc3\xa9", 2);
	uni[3000] = '\0';
	val[M_QUESTION] = "short question?";
	val[M_INITIAL] = big;
	val[M_REFINED] = uni;
	val[M_MODEL] = "claude-4-sonnet";
	val[M_VOICE] = "Joanna";
	val[M_DATE] = "2026-11-27T10:00:00Z";
	val[M_TEXTS] = "x.json";
	assert_int_equal(meta_headers(&h, val), 0);
	assert_int_equal(h.n, 7);
	for (size_t i = 0; i < h.n; i++) {
		const char *colon = strchr(h.v[i], ':');
		assert_true(strncmp(h.v[i], "x-amz-meta-", 11) == 0);
		total += (size_t)(colon - h.v[i] - 11) + strlen(colon + 2);
		for (const char *p = h.v[i]; *p; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
	}
	assert_true(total <= 2048);
	assert_true(total > 1900); /* the budget is used, not wasted */
	assert_string_equal(h.v[0], "x-amz-meta-original-question: short question?");
	sl_free(&h);
	free(big);
	free(uni);
}

static void test_urls(void **state)
{
	s3_conf c;
	char *u;

	(void)state;
	mock_defaults(&vidgen_plugin, &c);
	u = object_url(&c, "eu-west-3", "k.mp4");
	assert_string_equal(u, "https://loli.s3.eu-west-3.amazonaws.com/k.mp4");
	free(u);
	c.path_style = 1;
	u = object_url(&c, "eu-west-3", "k.mp4");
	assert_string_equal(u, "https://s3.eu-west-3.amazonaws.com/loli/k.mp4");
	free(u);
	u = public_url(&c, "eu-west-3", "k.mp4"); /* doc/cloud.md's form on AWS */
	assert_string_equal(u, "https://loli.s3.eu-west-3.amazonaws.com/k.mp4");
	free(u);
	c.endpoint = "http://127.0.0.1:9000/";
	u = object_url(&c, "eu-west-3", "k.mp4");
	assert_string_equal(u, "http://127.0.0.1:9000/loli/k.mp4");
	free(u);
	c.path_style = 0;
	c.endpoint = "https://minio.example";
	u = object_url(&c, "eu-west-3", "k.mp4");
	assert_string_equal(u, "https://loli.minio.example/k.mp4");
	free(u);
	c.public_url = "https://cdn.example/videos/";
	u = public_url(&c, "eu-west-3", "k.mp4");
	assert_string_equal(u, "https://cdn.example/videos/k.mp4");
	free(u);
}

static void test_init_validates(void **state)
{
	s3_conf c;
	char err[256];

	(void)state;
	mock_defaults(&vidgen_plugin, &c);
	assert_int_equal(s3_init(&c, err, sizeof(err)), VG_OK);
	c.bucket = "Bad_Bucket";
	assert_int_equal(s3_init(&c, err, sizeof(err)), VG_EINVAL);
	c.bucket = "loli";
	c.endpoint = "ftp://x";
	assert_int_equal(s3_init(&c, err, sizeof(err)), VG_EINVAL);
	c.endpoint = "";
	c.acl = "none";
	assert_int_equal(s3_init(&c, err, sizeof(err)), VG_OK);
	assert_string_equal(c.acl, "");
}

static void run_upload(s3_conf *c, int *rc)
{
	vg_artifact in[3] = {
		{ .from = "render", .kind = "video", .path = video },
		{ .from = "explain", .kind = "text", .data = "Initial \xc3\xa9xplanation.", .len = 22 },
		{ .from = "refine", .kind = "text", .data = "Refined.", .len = 8 },
	};
	vg_stage st;
	vg_job_info job;
	char err[128];

	mock_stage(&st, &job, "/tmp", "claude-4-sonnet", "m", in, 3);
	c->region = "eu-west-3";
	assert_int_equal(s3_init(c, err, sizeof(err)), VG_OK);
	*rc = s3_run(c, &st);
}

static void test_upload_requests(void **state)
{
	s3_conf c;
	int rc;
	json_t *side;

	(void)state;
	mock_reset();
	mock_answer_with(200, "", "etag: \"abc\"");
	mock_answer_with(200, "", "etag: \"def\"");
	mock_defaults(&vidgen_plugin, &c);
	run_upload(&c, &rc);
	assert_int_equal(rc, VG_OK);
	assert_int_equal(mock.n_req, 2);
	assert_string_equal(mock.req[0].method, "PUT");
	assert_string_equal(mock.req[0].url, "https://loli.s3.eu-west-3.amazonaws.com/"
			    "0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12.mp4");
	assert_true(mock.req[0].s3_rules);
	assert_string_equal(mock.req[0].service, "s3");
	assert_string_equal(mock_header(0, "Content-Type"), "video/mp4");
	assert_string_equal(mock_header(0, "x-amz-acl"), "public-read");
	assert_string_equal(mock_header(0, "x-amz-meta-initial-explanation"),
			    "Initial %C3%A9xplanation.");
	assert_string_equal(mock_header(0, "x-amz-meta-model-used"), "claude-4-sonnet");
	assert_non_null(mock_header(0, "x-amz-meta-generation-date"));
	assert_string_equal(mock.req[1].url, "https://loli.s3.eu-west-3.amazonaws.com/"
			    "0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12.json");
	side = json_loads(mock.req[1].body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(side, "initial_explanation")),
			    "Initial \xc3\xa9xplanation.");
	json_decref(side);
	assert_string_equal(mock.out_kind, "url");
	assert_string_equal(mock.out_data, "https://loli.s3.eu-west-3.amazonaws.com/"
			    "0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12.mp4");
}

/* The captions and poster beside the video go up as {id}.vtt, ...
 * .thumb.jpg with their content types and the ACL, their public URLs to
 * the core; a companion the render did not leave is not sent. */
static void test_companions(void **state)
{
	char vtt[64], thumb[64];
	s3_conf c;
	int rc;

	(void)state;
	snprintf(vtt, sizeof(vtt), "%s.vtt", video);
	snprintf(thumb, sizeof(thumb), "%s.thumb.jpg", video);
	assert_int_equal(util_write_file_atomic(vtt, "WEBVTT\n\n", 8), 0);
	assert_int_equal(util_write_file_atomic(thumb, "jpeg", 4), 0);
	mock_reset();
	for (int i = 0; i < 4; i++)
		mock_answer_with(200, "", NULL);
	mock_defaults(&vidgen_plugin, &c);
	c.public_url = "https://cdn.example/v/";
	run_upload(&c, &rc);
	unlink(vtt);
	unlink(thumb);
	assert_int_equal(rc, VG_OK);
	assert_int_equal(mock.n_req, 4);
	assert_string_equal(mock.req[2].url, "https://loli.s3.eu-west-3.amazonaws.com/"
			    "0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12.vtt");
	assert_string_equal(mock_header(2, "Content-Type"), "text/vtt; charset=utf-8");
	assert_string_equal(mock_header(2, "x-amz-acl"), "public-read");
	assert_string_equal(mock.req[3].url, "https://loli.s3.eu-west-3.amazonaws.com/"
			    "0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12.thumb.jpg");
	assert_string_equal(mock_header(3, "Content-Type"), "image/jpeg");
	assert_string_equal(mock_header(3, "x-amz-acl"), "public-read");
	assert_int_equal(mock.n_links, 2);
	assert_string_equal(mock.links[0][0], "captions_url");
	assert_string_equal(mock.links[0][1], "https://cdn.example/v/"
			    "0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12.vtt");
	assert_string_equal(mock.links[1][0], "thumbnail_url");
	assert_string_equal(mock.links[1][1], "https://cdn.example/v/"
			    "0d3f6c2e-8a51-4b7e-9c1d-2f4a6b8c0e12.thumb.jpg");
}

static void test_acl_fallback(void **state)
{
	static const char *refused = "<?xml version=\"1.0\"?><Error><Code>"
		"AccessControlListNotSupported</Code><Message>The bucket does not allow ACLs"
		"</Message></Error>";
	s3_conf c;
	int rc;

	(void)state;
	mock_reset();
	mock_answer_with(400, refused, NULL);
	mock_answer_with(200, "", NULL);
	mock_answer_with(200, "", NULL);
	mock_defaults(&vidgen_plugin, &c);
	run_upload(&c, &rc);
	assert_int_equal(rc, VG_OK);
	assert_int_equal(mock.n_req, 3);
	assert_non_null(mock_header(0, "x-amz-acl"));
	assert_null(mock_header(1, "x-amz-acl"));
	assert_null(mock_header(2, "x-amz-acl")); /* the sidecar too */
	assert_non_null(strstr(mock.logs, "bucket policy must grant public"));
}

static void test_s3_errors(void **state)
{
	s3_conf c;
	int rc;

	(void)state;
	mock_reset();
	mock_answer_with(404, "<Error><Code>NoSuchBucket</Code><Message>nope</Message></Error>",
			 NULL);
	mock_defaults(&vidgen_plugin, &c);
	run_upload(&c, &rc);
	assert_int_equal(rc, VG_EINVAL);
	assert_non_null(strstr(mock.fail, "\"loli\" does not exist"));
	mock_reset();
	mock_answer_with(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
			 "</Error>", NULL);
	run_upload(&c, &rc);
	assert_int_equal(rc, VG_EHTTP);
	assert_non_null(strstr(mock.fail, "s3:PutObject"));
	mock_reset();
	mock_answer_with(503, "<Error><Code>SlowDown</Code></Error>", NULL);
	run_upload(&c, &rc);
	assert_int_equal(rc, VG_EFAIL);
}

/* plugins/common/aws_error.h, shared with bedrock and polly: both the XML
 * (S3) and the JSON (Bedrock, Polly) forms of an AWS error answer. */
static void test_aws_error_parse(void **state)
{
	char *hdr[] = { "x-amzn-errortype: ThrottlingException:http://internal.amazon.com/",
			NULL };
	vg_http_response r = { .status = 400 };
	char type[32], msg[16];

	(void)state;
	aws_error_parse(&r, "<?xml version=\"1.0\"?>\n<Error><Code>NoSuchKey</Code>"
			"<Message>The key is gone for good</Message></Error>", type,
			sizeof(type), msg, sizeof(msg), "-");
	assert_string_equal(type, "NoSuchKey");
	assert_string_equal(msg, "The key is gone"); /* cut to fit */
	aws_error_parse(&r, "{\"__type\":\"com.amazon#ValidationException\","
			"\"Message\":\"bad\"}", type, sizeof(type), msg, sizeof(msg), "-");
	assert_string_equal(type, "ValidationException");
	assert_string_equal(msg, "bad");
	r.headers = hdr; /* the header wins over __type */
	aws_error_parse(&r, "{\"__type\":\"Other\",\"message\":\"slow down\"}", type,
			sizeof(type), msg, sizeof(msg), "-");
	assert_string_equal(type, "ThrottlingException");
	assert_string_equal(msg, "slow down");
	r.headers = NULL;
	aws_error_parse(&r, NULL, type, sizeof(type), msg, sizeof(msg), "(none)");
	assert_string_equal(type, "");
	assert_string_equal(msg, "(none)");
	aws_error_parse(&r, "<html>proxy error</html>", type, sizeof(type), msg, sizeof(msg),
			"(none)");
	assert_string_equal(type, "");
	assert_string_equal(msg, "(none)");
}

static void test_multipart(void **state)
{
	s3_conf c;
	int rc;

	(void)state;
	mock_reset();
	mock_answer_with(200, "<InitiateMultipartUploadResult><UploadId>up+id/1</UploadId>"
			 "</InitiateMultipartUploadResult>", NULL);
	mock_answer_with(200, "", "etag: \"p1\"");
	mock_answer_with(200, "<CompleteMultipartUploadResult/>", NULL);
	mock_answer_with(200, "", NULL);
	mock_defaults(&vidgen_plugin, &c);
	c.multipart_mb = 0;
	run_upload(&c, &rc);
	assert_int_equal(rc, VG_OK);
	assert_string_equal(mock.req[0].method, "POST");
	assert_non_null(strstr(mock.req[0].url, ".mp4?uploads="));
	assert_string_equal(mock_header(0, "Content-Type"), "video/mp4");
	assert_non_null(mock_header(0, "x-amz-meta-original-question"));
	assert_non_null(strstr(mock.req[1].url, "?partNumber=1&uploadId=up%2Bid%2F1"));
	assert_string_equal(mock.req[1].body, "not really an mp4");
	assert_non_null(strstr(mock.req[2].url, "?uploadId=up%2Bid%2F1"));
	assert_string_equal(mock.req[2].body, "<CompleteMultipartUpload><Part><PartNumber>1"
			    "</PartNumber><ETag>\"p1\"</ETag></Part></CompleteMultipartUpload>");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_encode),
		cmocka_unit_test(test_meta_headers_fit_2kb),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_init_validates),
		cmocka_unit_test(test_upload_requests),
		cmocka_unit_test(test_companions),
		cmocka_unit_test(test_acl_fallback),
		cmocka_unit_test(test_s3_errors),
		cmocka_unit_test(test_aws_error_parse),
		cmocka_unit_test(test_multipart),
	};
	return cmocka_run_group_tests_name("s3", tests, setup, teardown);
}
