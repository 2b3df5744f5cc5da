/*
 * AWS Signature Version 4 (OpenSSL): canonical request, string to sign,
 * signature and Authorization header. Pure functions of
 * their inputs (no clock, no environment, no network), so the AWS test suite
 * runs against them directly.
 */
#ifndef VG_SIGV4_H
#define VG_SIGV4_H

#include <stddef.h>

/* What is signed. The path is the text the canonical URI encodes once: the
 * caller passes the path as sent for most services (so it ends up encoded
 * twice, as AWS requires) and the decoded path for S3 (encoded once). The
 * query is as sent (percent-decoded then re-encoded here), without '?'. */
typedef struct sigv4_request {
	const char *method;
	const char *path;          /* "/" when empty */
	const char *query;         /* NULL or "" = none */
	const char *const *headers; /* "Name:value" (or "Name: value"), NULL-
				    * terminated; must include Host */
	const void *body;          /* hashed when payload_hash is NULL */
	size_t body_len;
} sigv4_request;

typedef struct sigv4_params {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;  /* NULL = none */
	const char *region;
	const char *service;
	const char *amz_date;       /* "20150830T123600Z" (UTC) */
	int normalize_path;         /* remove dot segments and empty segments
				     * (every service but S3) */
	int sign_body;              /* add + sign x-amz-content-sha256 */
	int omit_session_token;     /* add the token after signing */
	const char *payload_hash;   /* hex SHA-256 or "UNSIGNED-PAYLOAD";
				     * NULL = hash body */
} sigv4_params;

/* Everything a signing produced; all strings malloc'd, freed by
 * sigv4_result_free. */
typedef struct sigv4_result {
	char *canonical_request;
	char *string_to_sign;
	char signature[65];
	char *authorization;  /* the Authorization value */
	char **add_headers;   /* "Name: value" lines to add to the request
			       * (X-Amz-Date, tokens, hash, Authorization),
			       * NULL-terminated */
} sigv4_result;

/* Signs with the Authorization header. 0 ok, -1 with reason in err. */
int sigv4_sign_headers(const sigv4_request *req, const sigv4_params *p,
		       sigv4_result *out, char *err, size_t errlen);

void sigv4_result_free(sigv4_result *r);

/* Appends the AWS URI encoding of s[0..n) to a malloc'd string: every byte
 * but A-Z a-z 0-9 - . _ ~ becomes %XY (upper-case hex); '/' is kept when
 * keep_slash. Returns NULL on OOM; caller frees. */
char *sigv4_uri_encode(const char *s, size_t n, int keep_slash);

/* Decodes %XY escapes of s[0..n) into a malloc'd string ('+' is kept).
 * *outlen gets the length. Returns NULL on OOM; caller frees. */
char *sigv4_uri_decode(const char *s, size_t n, size_t *outlen);

/* Formats a UTC time as "YYYYMMDDTHHMMSSZ" into out[17]. */
void sigv4_format_date(long long unix_seconds, char out[17]);

#endif
