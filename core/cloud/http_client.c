/*
 * svc->http: one libcurl exchange with bounded retries, backoff + jitter,
 * Retry-After, cancellation through the progress callback, and SigV4
 * signing (re-done on every attempt, since the signature carries the time).
 * Only scheme://host/path is ever logged: queries and headers may be secret.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "aws.h"
#include "http_client.h"
#include "log.h"
#include "sigv4.h"
#include "util.h"

#define HTTP_RETRY_BASE_MS 500L
#define HTTP_RETRY_AFTER_CAP_MS 60000L /* longest wait a server can ask */
#define HTTP_MAX_RESP_HEADERS 200
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

typedef struct xfer {
	strbuf body;
	FILE *out;              /* response_path, else NULL */
	size_t out_len;         /* bytes written to out */
	int too_big;
	char **headers;
	size_t n_headers;
	int (*cancelled)(void *);
	void *ud;
} xfer;

/* What the signer adds for one attempt. */
typedef struct signing {
	char **lines; /* "Name: value", NULL-terminated, owned */
} signing;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void headers_reset(xfer *x)
{
	for (size_t i = 0; i < x->n_headers; i++)
		free(x->headers[i]);
	x->n_headers = 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n, name_len;
	const char *colon;
	strbuf sb = { 0 };

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		headers_reset(x); /* a new response (after 100 Continue) */
		return len;
	}
	colon = memchr(data, ':', len);
	if (!colon || x->n_headers + 1 >= HTTP_MAX_RESP_HEADERS)
		return len;
	name_len = (size_t)(colon - data);
	for (size_t i = 0; i < name_len; i++) {
		char c = (char)tolower((unsigned char)data[i]);
		sb_append(&sb, &c, 1);
	}
	sb_puts(&sb, ": ");
	const char *v = colon + 1, *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	sb_append(&sb, v, (size_t)(end - v));
	x->headers[x->n_headers++] = sb_steal(&sb);
	x->headers[x->n_headers] = NULL;
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n;

	if (x->out) {
		/* A hostile server's endless body must not fill the disk (and
		 * the plugin that reads the file back, its memory). */
		if (x->out_len + len > (size_t)HTTP_MAX_FILE) {
			x->too_big = 1;
			return 0;
		}
		x->out_len += len;
		return fwrite(data, 1, len, x->out);
	}
	if (x->body.len + len > (size_t)HTTP_MAX_BODY) {
		x->too_big = 1;
		return 0;
	}
	sb_append(&x->body, data, len);
	return x->body.oom ? 0 : len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	xfer *x = ud;

	(void)a, (void)b, (void)c, (void)d;
	return x->cancelled && x->cancelled(x->ud) ? 1 : 0;
}

void http_header_redact(const char *line, char *out, size_t outlen)
{
	static const char *const secret[] = { "authorization", "proxy-authorization",
		"x-amz-security-token", "x-api-key", "api-key", "cookie", "set-cookie" };
	const char *colon = strchr(line, ':');
	size_t n = colon ? (size_t)(colon - line) : 0;

	for (size_t i = 0; colon && i < sizeof(secret) / sizeof(secret[0]); i++) {
		if (strlen(secret[i]) == n && strncasecmp(line, secret[i], n) == 0) {
			snprintf(out, outlen, "%.*s: [redacted]", (int)n, line);
			return;
		}
	}
	snprintf(out, outlen, "%s", line);
}

long http_retry_after_ms(const char *value, long long now_unix)
{
	char *end;
	long secs;
	struct tm tm;

	if (!value || !*value)
		return -1;
	errno = 0;
	secs = strtol(value, &end, 10);
	if (end != value && !*end && !errno)
		return secs < 0 ? -1 : (secs > 86400 ? 86400000L : secs * 1000L);
	memset(&tm, 0, sizeof(tm));
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end)
		return -1;
	long long when = (long long)timegm(&tm), d = when - now_unix;
	return d <= 0 ? 0 : (d > 86400 ? 86400000L : (long)d * 1000L);
}

const char *http_response_header(const vg_http_response *resp, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; resp->headers && resp->headers[i]; i++)
		if (strncasecmp(resp->headers[i], name, n) == 0 && resp->headers[i][n] == ':')
			return resp->headers[i] + n + 2;
	return NULL;
}

void http_response_free(vg_http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	for (size_t i = 0; resp->headers && resp->headers[i]; i++)
		free(resp->headers[i]);
	free(resp->headers);
	memset(resp, 0, sizeof(*resp));
}

/* scheme://host/path of url for messages: no query, no user info. */
static void url_for_log(const char *url, char *out, size_t outlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
		curl_url_get(u, CURLUPART_HOST, &host, 0);
		curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
		curl_url_get(u, CURLUPART_PATH, &path, 0);
		snprintf(out, outlen, "%s://%s%s%s%s", scheme ? scheme : "?", host ? host : "?",
			 port ? ":" : "", port ? port : "", path ? path : "");
	} else {
		snprintf(out, outlen, "(unparsable URL)");
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
}

/* Hex SHA-256 of a file, for signing an upload. 0 ok. */
static int sha256_file(const char *path, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[65536], md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	FILE *f = fopen(path, "rb");
	size_t n;
	int rc = -1;

	if (!ctx || !f || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(ctx, buf, n);
	if (ferror(f) || !EVP_DigestFinal_ex(ctx, md, &mdlen))
		goto out;
	for (int i = 0; i < 32; i++) {
		out[i * 2] = hex[md[i] >> 4];
		out[i * 2 + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	rc = 0;
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int has_header(const char *const *h, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; h && h[i]; i++)
		if (strncasecmp(h[i], name, n) == 0 && h[i][n] == ':')
			return 1;
	return 0;
}

/* Signs req for this attempt; fills sg->lines. 0 ok, else a VG_* code. */
/* What SigV4 needs from the URL: the Host header line as curl will send
 * it (port only when not the scheme's default), the path as sent (decoded
 * for S3, which signs it encoded once), the query as sent. */
typedef struct url_parts {
	char *host_line, *path, *query;
} url_parts;

static void url_parts_free(url_parts *up)
{
	free(up->host_line);
	free(up->path);
	free(up->query);
}

static int url_parts_of(const char *url, int s3_rules, url_parts *up)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	strbuf sb = { 0 };
	int rc = -1;

	memset(up, 0, sizeof(*up));
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	sb_printf(&sb, "Host: %s%s%s", host, port ? ":" : "", port ? port : "");
	up->host_line = sb_steal(&sb);
	up->path = s3_rules ? sigv4_uri_decode(path, strlen(path), NULL) : xstrdup(path);
	up->query = query ? xstrdup(query) : NULL;
	rc = up->host_line && up->path ? 0 : -1;
out:
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

/* Signs req for this attempt; fills sg->lines. 0 ok, else a VG_* code. */
static int sign_request(const vg_http_request *req, signing *sg, char *err, size_t errlen)
{
	aws_credentials cred = { 0 };
	url_parts up = { 0 };
	char region[64], date[17], hash[65];
	const char **hdrs = NULL;
	size_t nh;
	sigv4_request sr = { 0 };
	sigv4_params p = { 0 };
	sigv4_result res = { 0 };
	int rc = VG_EINVAL;

	if (aws_credentials_resolve(&cred, err, errlen))
		goto out;
	if (url_parts_of(req->url, req->aws->s3_rules, &up)) {
		util_errf(err, errlen, "cannot sign: unparsable URL");
		goto out;
	}
	for (nh = 0; req->headers && req->headers[nh]; nh++)
		;
	hdrs = xcalloc(nh + 2, sizeof(*hdrs));
	for (size_t i = 0; i < nh; i++)
		hdrs[i] = req->headers[i];
	if (!has_header(req->headers, "Host"))
		hdrs[nh++] = up.host_line;
	if (req->aws->region && *req->aws->region)
		snprintf(region, sizeof(region), "%s", req->aws->region);
	else
		aws_region_resolve(region, sizeof(region));
	sigv4_format_date((long long)time(NULL), date);
	if (req->aws->s3_rules && req->aws->unsigned_payload) {
		p.payload_hash = "UNSIGNED-PAYLOAD";
	} else if (req->body_path) {
		if (sha256_file(req->body_path, hash)) {
			util_errf(err, errlen, "cannot read the upload file to sign it");
			rc = VG_EIO;
			goto out;
		}
		p.payload_hash = hash;
	}
	sr = (sigv4_request){ req->method, up.path, up.query, hdrs, req->body,
			      req->body ? req->body_len : 0 };
	p.access_key_id = cred.access_key_id;
	p.secret_access_key = cred.secret_access_key;
	p.session_token = cred.session_token;
	p.region = region;
	p.service = req->aws->service;
	p.amz_date = date;
	p.normalize_path = !req->aws->s3_rules;
	p.sign_body = req->aws->s3_rules;
	if (sigv4_sign_headers(&sr, &p, &res, err, errlen))
		goto out;
	sg->lines = res.add_headers;
	res.add_headers = NULL;
	rc = VG_OK;
out:
	sigv4_result_free(&res);
	aws_credentials_clear(&cred);
	url_parts_free(&up);
	free(hdrs);
	return rc;
}

static void signing_free(signing *sg)
{
	for (size_t i = 0; sg->lines && sg->lines[i]; i++)
		free(sg->lines[i]);
	free(sg->lines);
	sg->lines = NULL;
}

static int retryable_status(long status, const xfer *x)
{
	if (status == 429 || status == 500 || status == 502 || status == 503 || status == 504)
		return 1;
	if (status == 400 && x->body.buf)
		return strstr(x->body.buf, "ThrottlingException") ||
		       strstr(x->body.buf, "<Code>SlowDown</Code>") ||
		       strstr(x->body.buf, "RequestLimitExceeded") ||
		       strstr(x->body.buf, "TooManyRequestsException");
	return 0;
}

static int retryable_curl(CURLcode cc, double connect_time)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	case CURLE_OPERATION_TIMEDOUT:
		/* Only when no connection was made: a slow answer to a
		 * request the server took may be costly to repeat. */
		return connect_time <= 0.0;
	default:
		return 0;
	}
}

/* Sleeps ms, waking every 50 ms to check cancellation. 1 if cancelled. */
static int wait_ms(long ms, int (*cancelled)(void *), void *ud)
{
	while (ms > 0) {
		long step = ms < 50 ? ms : 50;
		struct timespec ts = { 0, step * 1000000L };
		if (cancelled && cancelled(ud))
			return 1;
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return cancelled && cancelled(ud);
}

long http_backoff_ms(int attempt, long base_ms, long jitter)
{
	long d;

	if (base_ms < 0)
		base_ms = 0;
	if (attempt < 0)
		attempt = 0;
	d = base_ms > HTTP_RETRY_CAP_MS ? HTTP_RETRY_CAP_MS
					: base_ms << (attempt < 10 ? attempt : 10);
	if (d > HTTP_RETRY_CAP_MS)
		d = HTTP_RETRY_CAP_MS;
	if (jitter < 0)
		jitter = -(jitter + 1);
	/* "Equal jitter": half fixed, half random, so retries of many jobs
	 * do not arrive together. */
	return d / 2 + (d > 1 ? jitter % (d / 2 + 1) : 0);
}

static long backoff_ms(int attempt)
{
	const char *env = getenv("VIDGEN_HTTP_RETRY_BASE_MS");
	long base = env && *env ? strtol(env, NULL, 10) : HTTP_RETRY_BASE_MS;

	return http_backoff_ms(attempt, base, random());
}

static int valid_request(const vg_http_request *req, char *err, size_t errlen)
{
	if (!req || !req->method || !req->url || !*req->method) {
		util_errf(err, errlen, "http: request without method or URL");
		return 0;
	}
	for (const char *m = req->method; *m; m++)
		if (!isupper((unsigned char)*m)) {
			util_errf(err, errlen, "http: invalid method");
			return 0;
		}
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		if (strpbrk(req->headers[i], "\r\n") || !strchr(req->headers[i], ':')) {
			util_errf(err, errlen, "http: invalid header line");
			return 0;
		}
	return 1;
}

/* Sets the method and body of one attempt. *upload gets the opened file
 * (closed by the caller). 0 ok. */
static int set_body(CURL *c, const vg_http_request *req, FILE **upload, char *err,
		    size_t errlen)
{
	struct stat sb;

	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->body_path) {
		*upload = fopen(req->body_path, "rb");
		if (!*upload || fstat(fileno(*upload), &sb) != 0) {
			util_errf(err, errlen, "http: cannot open the file to send");
			return -1;
		}
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, *upload);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)sb.st_size);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (req->body || strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(req->body ? req->body_len : 0));
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	return 0;
}

static struct curl_slist *build_headers(const vg_http_request *req, const signing *sg)
{
	struct curl_slist *l = NULL;

	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		const char *h = req->headers[i], *v = strchr(h, ':') + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v) {
			l = curl_slist_append(l, h);
		} else {
			/* curl drops "Name:" lines; "Name;" sends the header empty,
			 * as it was signed. */
			char line[512];
			snprintf(line, sizeof(line), "%.*s;", (int)strcspn(h, ":"), h);
			l = curl_slist_append(l, line);
		}
	}
	for (size_t i = 0; sg->lines && sg->lines[i]; i++)
		l = curl_slist_append(l, sg->lines[i]);
	/* No 100-continue round trip: the signature would not cover it and
	 * small fakes need not implement it. */
	l = curl_slist_append(l, "Expect:");
	if (!has_header(req->headers, "Content-Type"))
		l = curl_slist_append(l, "Content-Type:");
	return l;
}

static void log_request_headers(const char *where, struct curl_slist *l)
{
	char line[512];

	if (log_get_level() < VG_LOG_DEBUG)
		return;
	for (; l; l = l->next) {
		http_header_redact(l->data, line, sizeof(line));
		log_msg(VG_LOG_DEBUG, "http: %s > %s", where, line);
	}
}

/* One attempt. Returns the CURLcode; fills x and *status. */
static CURLcode attempt_once(CURL *c, const vg_http_request *req, xfer *x,
			     struct curl_slist *hl, long *status, double *connect_time,
			     char *cerr, int *local_rc, char *err, size_t errlen)
{
	FILE *upload = NULL;
	CURLcode cc;

	curl_easy_reset(c);
	*local_rc = VG_OK;
	cerr[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* send the path we signed */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (getenv("AWS_CA_BUNDLE") && *getenv("AWS_CA_BUNDLE") && req->aws)
		curl_easy_setopt(c, CURLOPT_CAINFO, getenv("AWS_CA_BUNDLE"));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0 ?
			 req->connect_timeout_ms : HTTP_DEFAULT_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ?
			 req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vidgen/" PACKAGE_VERSION);
	if (set_body(c, req, &upload, err, errlen)) {
		*local_rc = VG_EIO;
		return CURLE_READ_ERROR;
	}
	cc = curl_easy_perform(c);
	if (upload)
		fclose(upload);
	*status = 0;
	*connect_time = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_getinfo(c, CURLINFO_CONNECT_TIME, connect_time);
	return cc;
}

static int xfer_begin(xfer *x, const vg_http_request *req, char *err, size_t errlen)
{
	sb_free(&x->body);
	headers_reset(x);
	x->too_big = 0;
	if (x->out)
		fclose(x->out);
	x->out = NULL;
	x->out_len = 0;
	if (req->response_path && !(x->out = fopen(req->response_path, "wb"))) {
		util_errf(err, errlen, "http: cannot write the response file");
		return -1;
	}
	return 0;
}

/* The wait before the next try: exponential backoff with jitter, or the
 * server's Retry-After when longer (capped). */
static long retry_delay(int attempt, CURLcode cc, const xfer *x)
{
	long wait = backoff_ms(attempt), ra;

	if (cc != CURLE_OK)
		return wait;
	ra = http_retry_after_ms(http_response_header(
		&(vg_http_response){ .headers = x->headers }, "retry-after"), (long long)time(NULL));
	if (ra > HTTP_RETRY_AFTER_CAP_MS)
		ra = HTTP_RETRY_AFTER_CAP_MS;
	return ra > wait ? ra : wait;
}

/* One try: signs (anew, the signature carries the time), sends, records
 * the answer in x. *local_rc is set when the request could not be made. */
static CURLcode attempt_signed(CURL *c, const vg_http_request *req, xfer *x,
			       const char *where, long *status, double *connect_time,
			       char *cerr, int *local_rc, char *err, size_t errlen)
{
	signing sg = { 0 };
	struct curl_slist *hl;
	CURLcode cc;

	*local_rc = VG_OK;
	if (req->aws && (*local_rc = sign_request(req, &sg, err, errlen)) != VG_OK)
		return CURLE_OK;
	if (xfer_begin(x, req, err, errlen)) {
		signing_free(&sg);
		*local_rc = VG_EIO;
		return CURLE_OK;
	}
	hl = build_headers(req, &sg);
	log_request_headers(where, hl);
	cc = attempt_once(c, req, x, hl, status, connect_time, cerr, local_rc, err, errlen);
	curl_slist_free_all(hl);
	signing_free(&sg);
	return cc;
}

/* Hands the last answer over to resp. */
static int response_take(xfer *x, const vg_http_request *req, long status,
			 vg_http_response *resp, char *err, size_t errlen)
{
	size_t len = x->body.len;

	resp->status = status;
	if (!req->response_path) {
		resp->body = sb_steal(&x->body);
		if (!resp->body) {
			util_errf(err, errlen, "http: out of memory");
			return VG_ENOMEM;
		}
		resp->body_len = len;
	}
	resp->headers = x->headers;
	x->headers = NULL;
	return VG_OK;
}

int http_do(const vg_http_request *req, vg_http_response *resp,
	    int (*cancelled)(void *ud), void *ud, char *err, size_t errlen)
{
	xfer x = { 0 };
	CURL *c = NULL;
	char where[512], cerr[CURL_ERROR_SIZE];
	int max, rc = VG_EHTTP, answered = 0;
	long status = 0;

	memset(resp, 0, sizeof(*resp));
	if (!valid_request(req, err, errlen))
		return VG_EINVAL;
	pthread_once(&curl_once, curl_init_once);
	max = req->max_attempts > 0 ? req->max_attempts : HTTP_DEFAULT_MAX_ATTEMPTS;
	if (max > HTTP_MAX_ATTEMPTS)
		max = HTTP_MAX_ATTEMPTS;
	url_for_log(req->url, where, sizeof(where));
	x.headers = xcalloc(HTTP_MAX_RESP_HEADERS, sizeof(char *));
	x.cancelled = cancelled;
	x.ud = ud;
	if (!(c = curl_easy_init())) {
		util_errf(err, errlen, "http: cannot initialise libcurl");
		goto out;
	}
	for (int attempt = 0; attempt < max; attempt++) {
		long long t0 = util_now_ms();
		double connect_time = 0;
		int local_rc, retry;
		long wait;
		CURLcode cc;

		if (cancelled && cancelled(ud))
			goto cancel;
		cc = attempt_signed(c, req, &x, where, &status, &connect_time, cerr, &local_rc,
				    err, errlen);
		if (local_rc != VG_OK) {
			rc = local_rc;
			goto out;
		}
		if (cc == CURLE_ABORTED_BY_CALLBACK)
			goto cancel;
		answered = cc == CURLE_OK;
		if (answered) {
			log_msg(VG_LOG_DEBUG, "http: %s %s -> %ld (%lld ms, attempt %d/%d)",
				req->method, where, status, util_now_ms() - t0, attempt + 1, max);
			retry = retryable_status(status, &x);
		} else {
			util_errf(err, errlen, "%s %s: %s%s%s", req->method, where,
				  x.too_big ? "response too large" : curl_easy_strerror(cc),
				  cerr[0] ? ": " : "", cerr);
			rc = cc == CURLE_OPERATION_TIMEDOUT ? VG_ETIMEDOUT : VG_EHTTP;
			retry = retryable_curl(cc, connect_time);
		}
		if (!retry || attempt + 1 == max)
			break;
		wait = retry_delay(attempt, cc, &x);
		if (answered)
			log_msg(VG_LOG_WARN, "http: %s %s answered %ld; retry %d/%d in %ld ms",
				req->method, where, status, attempt + 2, max, wait);
		else
			log_msg(VG_LOG_WARN, "http: %s %s failed (%s); retry %d/%d in %ld ms",
				req->method, where, curl_easy_strerror(cc), attempt + 2, max, wait);
		if (wait_ms(wait, cancelled, ud))
			goto cancel;
	}
	if (answered)
		rc = response_take(&x, req, status, resp, err, errlen);
	goto out;
cancel:
	util_errf(err, errlen, "cancelled");
	rc = VG_ECANCELED;
out:
	if (x.out && fclose(x.out) != 0 && rc == VG_OK) {
		util_errf(err, errlen, "http: cannot write the response file");
		rc = VG_EIO;
	}
	if (x.headers) {
		headers_reset(&x);
		free(x.headers);
	}
	sb_free(&x.body);
	if (c)
		curl_easy_cleanup(c);
	return rc;
}
