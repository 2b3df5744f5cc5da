/*
 * Tests for core/cloud/http_client.c against a scripted loopback HTTP server
 * running in a thread: retries on 429/5xx with Retry-After, bounded attempts,
 * timeouts, cancellation, uploads and downloads through files, SigV4 headers,
 * header redaction and request validation.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "cloud/http_client.h"
#include "cloud/sigv4.h"
#include "util.h"

#define MAX_SCRIPT 16

/* One canned answer: raw response text, and a delay before sending it. */
typedef struct answer {
	const char *raw;
	int delay_ms;
} answer;

typedef struct server {
	int fd;
	int port;
	pthread_t thread;
	answer script[MAX_SCRIPT];
	int n_script;
	atomic_int served;
	char last_request[65536]; /* head + body of the last request */
	long long times[MAX_SCRIPT]; /* when each request arrived, ms */
} server;

/* Reads one request (head + Content-Length body) into buf. */
static void read_request(int c, char *buf, size_t cap)
{
	size_t len = 0;
	char *head_end = NULL;
	long clen = 0;

	while (len + 1 < cap) {
		ssize_t n = recv(c, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (!head_end && (head_end = strstr(buf, "\r\n\r\n"))) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");
			clen = cl && cl < head_end ? strtol(cl + 17, NULL, 10) : 0;
		}
		if (head_end && len >= (size_t)(head_end + 4 - buf) + (size_t)clen)
			break;
	}
	buf[len] = '\0';
}

static void *serve(void *ud)
{
	server *s = ud;

	while (s->served < s->n_script) {
		int c = accept(s->fd, NULL, NULL);
		answer *a;
		if (c < 0)
			break;
		a = &s->script[s->served];
		s->times[s->served] = util_now_ms();
		read_request(c, s->last_request, sizeof(s->last_request));
		/* Counted before answering: the client may check as soon as the
		 * answer arrives. */
		atomic_fetch_add(&s->served, 1);
		if (a->delay_ms)
			usleep((useconds_t)a->delay_ms * 1000);
		if (a->raw)
			(void)!send(c, a->raw, strlen(a->raw), MSG_NOSIGNAL);
		close(c);
	}
	return NULL;
}

static server *server_start(const answer *script, int n)
{
	server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	getsockname(s->fd, (struct sockaddr *)&sa, &sl);
	s->port = ntohs(sa.sin_port);
	memcpy(s->script, script, sizeof(answer) * (size_t)n);
	s->n_script = n;
	pthread_create(&s->thread, NULL, serve, s);
	return s;
}

static void server_stop(server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
	free(s);
}

static char *url_of(const server *s, const char *path)
{
	static char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
	return url;
}

#define OK_JSON "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: abc\r\n" \
	"Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}"

static int setup(void **state)
{
	(void)state;
	setenv("VIDGEN_HTTP_RETRY_BASE_MS", "20", 1);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	return 0;
}

static void test_get_ok_headers_lowercased(void **state)
{
	answer a[] = { { OK_JSON, 0 } };
	server *s = server_start(a, 1);
	const char *h[] = { "Accept: application/json", NULL };
	vg_http_request req = { .method = "GET", .url = url_of(s, "/x?y=1"), .headers = h };
	vg_http_response resp;
	char err[256] = "";

	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_OK);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "{\"ok\":true}");
	assert_int_equal(resp.body_len, 11);
	assert_string_equal(http_response_header(&resp, "x-request-id"), "abc");
	assert_non_null(strstr(s->last_request, "GET /x?y=1 HTTP/1.1"));
	assert_non_null(strstr(s->last_request, "Accept: application/json"));
	http_response_free(&resp);
	server_stop(s);
}

/* 429 with Retry-After: 1, then success: the second request comes about
 * a second later, and the caller sees only the success. */
static void test_429_then_success_honours_retry_after(void **state)
{
	answer a[] = {
		{ "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
		  "Connection: close\r\n\r\n", 0 },
		{ OK_JSON, 0 } };
	server *s = server_start(a, 2);
	const char *body = "{\"q\":1}";
	vg_http_request req = { .method = "POST", .url = url_of(s, "/p"), .body = body,
				.body_len = strlen(body) };
	vg_http_response resp;
	char err[256] = "";

	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_OK);
	assert_int_equal(resp.status, 200);
	assert_int_equal(s->served, 2);
	assert_true(s->times[1] - s->times[0] >= 900);
	assert_non_null(strstr(s->last_request, "{\"q\":1}"));
	http_response_free(&resp);
	server_stop(s);
}

/* 503 on every attempt: bounded, and the last answer is returned. */
static void test_5xx_bounded_attempts(void **state)
{
	const char *r503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n"
			   "Connection: close\r\n\r\nbusy";
	answer a[] = { { r503, 0 }, { r503, 0 }, { r503, 0 } };
	server *s = server_start(a, 3);
	vg_http_request req = { .method = "GET", .url = url_of(s, "/"), .max_attempts = 3 };
	vg_http_response resp;
	char err[256] = "";

	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_OK);
	assert_int_equal(resp.status, 503);
	assert_string_equal(resp.body, "busy");
	assert_int_equal(s->served, 3);
	http_response_free(&resp);
	server_stop(s);
}

/* A 400 throttling body is retried; a plain 403 is not. */
static void test_throttling_body_retried_403_not(void **state)
{
	answer a[] = {
		{ "HTTP/1.1 400 Bad Request\r\nContent-Length: 39\r\nConnection: close\r\n\r\n"
		  "{\"__type\":\"ThrottlingException\",\"m\":1}\n", 0 },
		{ "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno", 0 },
		{ OK_JSON, 0 } };
	server *s = server_start(a, 3);
	vg_http_request req = { .method = "GET", .url = url_of(s, "/") };
	vg_http_response resp;
	char err[256] = "";

	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_OK);
	assert_int_equal(resp.status, 403);
	assert_int_equal(s->served, 2);
	http_response_free(&resp);
	/* let the server finish its script */
	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_OK);
	http_response_free(&resp);
	server_stop(s);
}

static void test_timeout(void **state)
{
	answer a[] = { { OK_JSON, 1500 } };
	server *s = server_start(a, 1);
	vg_http_request req = { .method = "GET", .url = url_of(s, "/slow"), .timeout_ms = 300 };
	vg_http_response resp;
	char err[256] = "";
	long long t0 = util_now_ms();

	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_ETIMEDOUT);
	assert_true(util_now_ms() - t0 < 1400); /* not retried after connecting */
	assert_non_null(strstr(err, "/slow"));
	assert_null(resp.body);
	http_response_free(&resp);
	server_stop(s);
}

static void test_connection_refused(void **state)
{
	vg_http_request req = { .method = "GET", .url = "http://127.0.0.1:1/none", .max_attempts = 2 };
	vg_http_response resp;
	char err[256] = "";

	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_EHTTP);
	assert_non_null(strstr(err, "127.0.0.1:1/none"));
	http_response_free(&resp);
}

static int cancel_after;
static int cancel_cb(void *ud)
{
	(void)ud;
	return --cancel_after < 0;
}

static void test_cancel_during_transfer(void **state)
{
	answer a[] = { { OK_JSON, 3000 } };
	server *s = server_start(a, 1);
	vg_http_request req = { .method = "GET", .url = url_of(s, "/c") };
	vg_http_response resp;
	char err[256] = "";
	long long t0 = util_now_ms();

	cancel_after = 3;
	assert_int_equal(http_do(&req, &resp, cancel_cb, NULL, err, sizeof(err)), VG_ECANCELED);
	assert_true(util_now_ms() - t0 < 2500);
	server_stop(s);
}

static void test_files_up_and_down(void **state)
{
	answer a[] = { { OK_JSON, 0 } };
	server *s = server_start(a, 1);
	char up[] = "/tmp/vg_http_up.XXXXXX", down[] = "/tmp/vg_http_down.XXXXXX";
	int fu = mkstemp(up), fd = mkstemp(down);
	char *text = NULL, err[256] = "";
	vg_http_request req = { .method = "PUT", .url = url_of(s, "/obj"), .body_path = up,
				.response_path = down };
	vg_http_response resp;

	assert_int_equal(write(fu, "file-body-123", 13), 13);
	close(fu);
	close(fd);
	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_OK);
	assert_int_equal(resp.status, 200);
	assert_null(resp.body);
	assert_non_null(strstr(s->last_request, "PUT /obj HTTP/1.1"));
	assert_non_null(strstr(s->last_request, "\r\n\r\nfile-body-123"));
	assert_null(strstr(s->last_request, "Expect:"));
	assert_int_equal(util_read_file(down, 1000, &text, NULL, err, sizeof(err)), 0);
	assert_string_equal(text, "{\"ok\":true}");
	free(text);
	http_response_free(&resp);
	unlink(up);
	unlink(down);
	server_stop(s);
}

/* Signed requests carry X-Amz-Date and an Authorization whose signature
 * verifies with the known secret; S3 rules add the payload hash. */
static void test_sigv4_signed(void **state)
{
	answer a[] = { { OK_JSON, 0 }, { OK_JSON, 0 } };
	server *s = server_start(a, 2);
	vg_aws_sign_opts o = { .service = "bedrock", .region = "eu-west-3" };
	const char *h[] = { "Content-Type: application/json", NULL };
	vg_http_request req = { .method = "POST", .url = url_of(s, "/model/a%3A0/converse"),
				.headers = h, .body = "{}", .body_len = 2, .aws = &o };
	vg_http_response resp;
	char err[256] = "";

	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "sekrit", 1);
	unsetenv("AWS_SESSION_TOKEN");
	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_OK);
	http_response_free(&resp);
	assert_non_null(strstr(s->last_request, "POST /model/a%3A0/converse HTTP/1.1"));
	assert_non_null(strstr(s->last_request, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
	assert_non_null(strstr(s->last_request, "/eu-west-3/bedrock/aws4_request, SignedHeaders="
			       "content-type;host;x-amz-date, Signature="));
	assert_null(strstr(s->last_request, "sekrit"));
	assert_null(strstr(s->last_request, "x-amz-content-sha256"));

	vg_aws_sign_opts o3 = { .service = "s3", .region = "eu-west-3", .s3_rules = 1 };
	req.aws = &o3;
	req.method = "PUT";
	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_OK);
	http_response_free(&resp);
	assert_non_null(strstr(s->last_request, "X-Amz-Content-Sha256: 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"));
	server_stop(s);
}

static void test_missing_credentials(void **state)
{
	vg_aws_sign_opts o = { .service = "polly" };
	vg_http_request req = { .method = "POST", .url = "http://127.0.0.1:1/v1/speech", .aws = &o };
	vg_http_response resp;
	char err[512] = "";

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_PROFILE", "vg-test-no-such-profile", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_EINVAL);
	assert_non_null(strstr(err, "no AWS credentials"));
	unsetenv("AWS_PROFILE");
}

static void test_invalid_requests(void **state)
{
	const char *bad[] = { "X-Evil: a\r\nInjected: b", NULL };
	vg_http_request req = { .method = "GET", .url = "http://127.0.0.1:1/", .headers = bad };
	vg_http_response resp;
	char err[256] = "";

	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_EINVAL);
	req.headers = NULL;
	req.method = "get me";
	assert_int_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_EINVAL);
	req.method = "GET";
	req.url = "file:///etc/passwd";
	assert_int_not_equal(http_do(&req, &resp, NULL, NULL, err, sizeof(err)), VG_OK);
	http_response_free(&resp);
}

static void test_redact_and_retry_after(void **state)
{
	char out[128];

	http_header_redact("Authorization: Bearer sk-123", out, sizeof(out));
	assert_string_equal(out, "Authorization: [redacted]");
	http_header_redact("x-amz-security-token:abc", out, sizeof(out));
	assert_string_equal(out, "x-amz-security-token: [redacted]");
	http_header_redact("Content-Type: text/plain", out, sizeof(out));
	assert_string_equal(out, "Content-Type: text/plain");
	assert_int_equal(http_retry_after_ms("3", 0), 3000);
	assert_int_equal(http_retry_after_ms("x", 0), -1);
	assert_int_equal(http_retry_after_ms(NULL, 0), -1);
	/* Thu, 01 Jan 1970 00:00:10 GMT is 10 s after the epoch */
	assert_int_equal(http_retry_after_ms("Thu, 01 Jan 1970 00:00:10 GMT", 4), 6000);
}

/* The backoff schedule: each wait within [d/2, d] for d = base * 2^n,
 * doubling, capped; a bounded window in all (what doc/deploy.md states for
 * the artifacts: 8 tries, 25.75 to 51.5 s at the default 500 ms base). */
static void test_backoff_schedule(void **state)
{
	long lo = 0, hi = 0;

	(void)state;
	for (int n = 0; n < 12; n++) {
		long d = 500L << n;
		if (d > HTTP_RETRY_CAP_MS)
			d = HTTP_RETRY_CAP_MS;
		assert_int_equal(http_backoff_ms(n, 500, 0), d / 2);
		assert_int_equal(http_backoff_ms(n, 500, d / 2), d);
		assert_int_equal(http_backoff_ms(n, 500, d / 2 + 1), d / 2);
		for (long j = 1; j < 2000000000L; j = j * 7 + 3) {
			long w = http_backoff_ms(n, 500, j);
			assert_true(w >= d / 2 && w <= d);
		}
		if (n > 0 && n < 6)
			assert_int_equal(http_backoff_ms(n, 500, 0), 2 * http_backoff_ms(n - 1, 500, 0));
	}
	for (int n = 0; n < 7; n++) { /* the 7 waits between 8 tries */
		lo += http_backoff_ms(n, 500, 0);
		hi += http_backoff_ms(n, 500, 1L << 30 | 9999);
	}
	assert_int_equal(lo, 25750);
	assert_true(hi <= 51500 && hi > lo);
	assert_int_equal(http_backoff_ms(40, 1000000, 0), HTTP_RETRY_CAP_MS / 2);
	assert_int_equal(http_backoff_ms(3, 0, 12345), 0);
	assert_int_equal(http_backoff_ms(3, -5, 12345), 0);
	assert_true(http_backoff_ms(0, 500, -7) >= 250 && http_backoff_ms(0, 500, -7) <= 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_ok_headers_lowercased),
		cmocka_unit_test(test_429_then_success_honours_retry_after),
		cmocka_unit_test(test_5xx_bounded_attempts),
		cmocka_unit_test(test_throttling_body_retried_403_not),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_cancel_during_transfer),
		cmocka_unit_test(test_files_up_and_down),
		cmocka_unit_test(test_sigv4_signed),
		cmocka_unit_test(test_missing_credentials),
		cmocka_unit_test(test_invalid_requests),
		cmocka_unit_test(test_redact_and_retry_after),
		cmocka_unit_test(test_backoff_schedule),
	};
	return cmocka_run_group_tests_name("http", tests, setup, NULL);
}
