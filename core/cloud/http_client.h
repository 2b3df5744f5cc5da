/*
 * The HTTP client offered to plugins as svc->http (libcurl): timeouts, TLS
 * verification, proxies from the environment, bounded retries with
 * exponential backoff + jitter honouring Retry-After, cancellation, and
 * SigV4 signing when the request asks for it. Logs never carry secrets.
 */
#ifndef VG_HTTP_CLIENT_H
#define VG_HTTP_CLIENT_H

#include <stddef.h>
#include "vidgen/plugin.h"

#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define HTTP_DEFAULT_TIMEOUT_MS 300000L
#define HTTP_DEFAULT_MAX_ATTEMPTS 4
#define HTTP_MAX_ATTEMPTS 10
#define HTTP_MAX_BODY (64L * 1024 * 1024) /* in-memory responses */
#define HTTP_MAX_FILE (64L * 1024 * 1024) /* responses written to a file */
#define HTTP_RETRY_CAP_MS 20000L /* longest computed backoff */

/* One HTTP exchange, retried on 429, 5xx, throttling error bodies and
 * connection failures (at most req->max_attempts tries, default 4), waiting
 * base * 2^attempt with jitter (base 500 ms, env VIDGEN_HTTP_RETRY_BASE_MS
 * overrides it, for tests) or the server's Retry-After if longer.
 * cancelled(ud) is polled between attempts and during transfers (may be
 * NULL). When req->aws is set the request is signed with SigV4 using
 * aws_credentials_resolve() and the region req->aws->region, else
 * aws_region_resolve().
 *
 * Returns VG_OK whenever an answer arrived (whatever its status; the last
 * one after retries), else VG_ETIMEDOUT, VG_ECANCELED, VG_EINVAL (bad
 * request or no credentials) or VG_EHTTP, with the reason in err. The
 * caller frees resp with http_response_free (also after an error). */
int http_do(const vg_http_request *req, vg_http_response *resp,
	    int (*cancelled)(void *ud), void *ud, char *err, size_t errlen);

void http_response_free(vg_http_response *resp);

/* The wait before try attempt + 2 (attempt 0: after the first failure):
 * d = base_ms * 2^attempt, at most HTTP_RETRY_CAP_MS, then half of d fixed
 * and half from jitter (any number; the client passes random()): a value
 * in [d/2, d]. */
long http_backoff_ms(int attempt, long base_ms, long jitter);

/* The value of response header `name` (lower-case), or NULL. */
const char *http_response_header(const vg_http_response *resp, const char *name);

/* Copies a "Name: value" header line into out, replacing the value of
 * credential-bearing headers (Authorization, X-Amz-Security-Token,
 * X-Api-Key, Api-Key, Cookie, Proxy-Authorization) with "[redacted]". */
void http_header_redact(const char *line, char *out, size_t outlen);

/* Parses a Retry-After value (delta seconds or an HTTP date) into
 * milliseconds from now; -1 when absent or unparsable. */
long http_retry_after_ms(const char *value, long long now_unix);

#endif
