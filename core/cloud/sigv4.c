/*
 * AWS Signature Version 4: builds the canonical request and string to sign,
 * derives the signing key with HMAC-SHA256 (OpenSSL) and produces the
 * Authorization header. See sigv4.h for the rules on paths (S3
 * single-encodes, every other service double-encodes).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

#include "sigv4.h"
#include "util.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_MAX_HEADERS 128
#define SIGV4_MAX_PARAMS 256

typedef struct kv {
	char *name;  /* header: lower-case name; query: encoded key */
	char *value; /* header: trimmed values joined by ','; query: encoded */
} kv;

static const char HEX[] = "0123456789ABCDEF";

static int is_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

char *sigv4_uri_encode(const char *s, size_t n, int keep_slash)
{
	char *out = malloc(n * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_unreserved(c) || (keep_slash && c == '/')) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = HEX[c >> 4];
			*o++ = HEX[c & 15];
		}
	}
	*o = '\0';
	return out;
}

char *sigv4_uri_decode(const char *s, size_t n, size_t *outlen)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n &&
		    (hi = util_hex_value((unsigned char)s[i + 1])) >= 0 &&
		    (lo = util_hex_value((unsigned char)s[i + 2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	if (outlen)
		*outlen = (size_t)(o - out);
	return out;
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++) {
		out[i * 2] = (char)tolower(HEX[md[i] >> 4]);
		out[i * 2 + 1] = (char)tolower(HEX[md[i] & 15]);
	}
	out[64] = '\0';
}

void sigv4_format_date(long long unix_seconds, char out[17])
{
	time_t t = (time_t)unix_seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hmac(const void *key, size_t keylen, const char *msg,
		 unsigned char out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
	     strlen(msg), out, &len);
}

/* Dot-segment removal and empty-segment collapse, as AWS normalises paths
 * for every service but S3. Returns malloc'd text. */
static char *path_normalize(const char *path)
{
	size_t n = strlen(path);
	char *copy = xstrdup(path);
	char **seg = xcalloc(n + 1, sizeof(*seg));
	size_t nseg = 0;
	strbuf sb = { 0 };
	int trailing = 0;

	for (char *save = NULL, *tok = strtok_r(copy, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		trailing = 0;
		if (strcmp(tok, ".") == 0) {
			trailing = 1;
		} else if (strcmp(tok, "..") == 0) {
			if (nseg)
				nseg--;
			trailing = 1;
		} else {
			seg[nseg++] = tok;
		}
	}
	if (n && path[n - 1] == '/')
		trailing = 1;
	sb_puts(&sb, "/");
	for (size_t i = 0; i < nseg; i++) {
		sb_puts(&sb, seg[i]);
		if (i + 1 < nseg || trailing)
			sb_puts(&sb, "/");
	}
	free(seg);
	free(copy);
	return sb_steal(&sb);
}

static int kv_cmp(const void *a, const void *b)
{
	const kv *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static void kv_free(kv *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

/* Trims and collapses runs of whitespace (including folded lines). */
static void header_value_append(strbuf *sb, const char *v)
{
	int space = 0, any = 0;

	for (; *v; v++) {
		if (isspace((unsigned char)*v)) {
			space = any;
			continue;
		}
		if (space)
			sb_append(sb, " ", 1);
		sb_append(sb, v, 1);
		space = 0;
		any = 1;
	}
}

/* An HTTP header name is a token (RFC 9110 5.1): no space or control
 * character, which would reach the Authorization header's SignedHeaders. */
static int token_name(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("!#$%&'*+-.^_`|~", s[i]))
			return 0;
	return 1;
}

/* Parses "Name:value" lines into sorted kv pairs, duplicates joined by ','.
 * extra (may be NULL) are more lines in the same form. */
static int headers_canonical(const char *const *headers, const char *const *extra,
			     kv **out, size_t *nout, char *err, size_t errlen)
{
	kv *v = xcalloc(SIGV4_MAX_HEADERS, sizeof(*v));
	size_t n = 0;
	const char *const *lists[2] = { headers, extra };

	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; lists[l] && lists[l][i]; i++) {
			const char *line = lists[l][i], *colon = strchr(line, ':');
			size_t k;
			char *name;
			strbuf sb = { 0 };

			if (!colon || colon == line || !token_name(line, (size_t)(colon - line))) {
				util_errf(err, errlen, "sigv4: malformed header line");
				kv_free(v, n);
				return -1;
			}
			name = xmalloc((size_t)(colon - line) + 1);
			for (k = 0; line + k < colon; k++)
				name[k] = (char)tolower((unsigned char)line[k]);
			name[k] = '\0';
			for (k = 0; k < n && strcmp(v[k].name, name); k++)
				;
			if (k < n) { /* repeated header: values joined in order */
				free(name);
				sb_puts(&sb, v[k].value);
				sb_puts(&sb, ",");
				header_value_append(&sb, colon + 1);
				free(v[k].value);
				v[k].value = sb_steal(&sb);
				continue;
			}
			if (n == SIGV4_MAX_HEADERS) {
				free(name);
				util_errf(err, errlen, "sigv4: too many headers");
				kv_free(v, n);
				return -1;
			}
			header_value_append(&sb, colon + 1);
			v[n].name = name;
			v[n].value = sb_steal(&sb);
			n++;
		}
	}
	qsort(v, n, sizeof(*v), kv_cmp);
	*out = v;
	*nout = n;
	return 0;
}

/* Splits a query into encoded key/value pairs (decoded first, so an
 * already-encoded query is not encoded twice). */
static int query_params(const char *query, kv **out, size_t *nout, char *err, size_t errlen)
{
	kv *v = xcalloc(SIGV4_MAX_PARAMS, sizeof(*v));
	size_t n = 0;
	const char *p = query ? query : "";

	while (*p) {
		const char *end = strchr(p, '&'), *eq;
		size_t len, dl;
		char *dec;

		if (!end)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (len) {
			if (n == SIGV4_MAX_PARAMS) {
				util_errf(err, errlen, "sigv4: too many query parameters");
				kv_free(v, n);
				return -1;
			}
			eq = memchr(p, '=', len);
			dec = sigv4_uri_decode(p, eq ? (size_t)(eq - p) : len, &dl);
			v[n].name = sigv4_uri_encode(dec, dl, 0);
			free(dec);
			if (eq) {
				dec = sigv4_uri_decode(eq + 1, (size_t)(end - eq - 1), &dl);
				v[n].value = sigv4_uri_encode(dec, dl, 0);
				free(dec);
			} else {
				v[n].value = xstrdup("");
			}
			if (!v[n].name || !v[n].value) {
				kv_free(v, n + 1);
				util_errf(err, errlen, "sigv4: out of memory");
				return -1;
			}
			n++;
		}
		p = *end ? end + 1 : end;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* The canonical request and signed-header list. hdr_extra: headers signed
 * in addition to the request's own. */
static int build_canonical(const sigv4_request *req, const sigv4_params *p,
			   const char *const *hdr_extra, const char *payload_hash,
			   char **canonical, char **signed_headers, char *err, size_t errlen)
{
	kv *h = NULL, *q = NULL;
	size_t nh = 0, nq = 0;
	char *path = NULL, *enc = NULL;
	strbuf sb = { 0 }, sh = { 0 };
	int rc = -1;

	if (headers_canonical(req->headers, hdr_extra, &h, &nh, err, errlen))
		goto out;
	if (query_params(req->query, &q, &nq, err, errlen))
		goto out;
	qsort(q, nq, sizeof(*q), kv_cmp);

	path = p->normalize_path ? path_normalize(req->path && *req->path ? req->path : "/")
				 : xstrdup(req->path && *req->path ? req->path : "/");
	enc = sigv4_uri_encode(path, strlen(path), 1);
	if (!enc) {
		util_errf(err, errlen, "sigv4: out of memory");
		goto out;
	}
	sb_printf(&sb, "%s\n%s\n", req->method, enc);
	for (size_t i = 0; i < nq; i++)
		sb_printf(&sb, "%s%s=%s", i ? "&" : "", q[i].name, q[i].value);
	sb_puts(&sb, "\n");
	for (size_t i = 0; i < nh; i++) {
		sb_printf(&sb, "%s:%s\n", h[i].name, h[i].value);
		sb_printf(&sh, "%s%s", i ? ";" : "", h[i].name);
	}
	sb_printf(&sb, "\n%s\n%s", sh.buf ? sh.buf : "", payload_hash);
	if (sb.oom || sh.oom) {
		util_errf(err, errlen, "sigv4: out of memory");
		goto out;
	}
	*canonical = sb_steal(&sb);
	*signed_headers = sb_steal(&sh);
	rc = 0;
out:
	sb_free(&sb);
	sb_free(&sh);
	free(path);
	free(enc);
	kv_free(h, nh);
	kv_free(q, nq);
	return rc;
}

/* Fills string_to_sign and signature from the canonical request. */
static void sign_canonical(const sigv4_params *p, const char *scope,
			   sigv4_result *r)
{
	char hash[65], date[9];
	unsigned char k[32], sig[32];
	size_t klen = strlen(p->secret_access_key) + 5;
	char *key = xmalloc(klen);
	strbuf sb = { 0 };

	sha256_hex(r->canonical_request, strlen(r->canonical_request), hash);
	sb_printf(&sb, "%s\n%s\n%s\n%s", SIGV4_ALGORITHM, p->amz_date, scope, hash);
	r->string_to_sign = sb_steal(&sb);

	memcpy(date, p->amz_date, 8);
	date[8] = '\0';
	snprintf(key, klen, "AWS4%s", p->secret_access_key);
	hmac(key, klen - 1, date, k);
	OPENSSL_cleanse(key, klen);
	free(key);
	hmac(k, 32, p->region, k);
	hmac(k, 32, p->service, k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, r->string_to_sign, sig);
	OPENSSL_cleanse(k, sizeof(k));
	for (int i = 0; i < 32; i++) {
		r->signature[i * 2] = (char)tolower(HEX[sig[i] >> 4]);
		r->signature[i * 2 + 1] = (char)tolower(HEX[sig[i] & 15]);
	}
	r->signature[64] = '\0';
}

static int check_params(const sigv4_request *req, const sigv4_params *p,
			char *err, size_t errlen)
{
	if (!req->method || !p->access_key_id || !p->secret_access_key ||
	    !p->region || !p->service || !p->amz_date || strlen(p->amz_date) != 16) {
		util_errf(err, errlen, "sigv4: missing method, credentials, region, service or date");
		return -1;
	}
	return 0;
}

static char *scope_of(const sigv4_params *p)
{
	strbuf sb = { 0 };

	sb_printf(&sb, "%.8s/%s/%s/aws4_request", p->amz_date, p->region, p->service);
	return sb_steal(&sb);
}

int sigv4_sign_headers(const sigv4_request *req, const sigv4_params *p,
		       sigv4_result *out, char *err, size_t errlen)
{
	char hash[65], *scope = NULL, *signed_headers = NULL;
	const char *payload, *extra[4];
	char *lines[4] = { 0 };
	size_t ne = 0, nl = 0;
	strbuf sb = { 0 };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (check_params(req, p, err, errlen))
		return -1;
	if (p->payload_hash) {
		payload = p->payload_hash;
	} else {
		sha256_hex(req->body ? req->body : "", req->body_len, hash);
		payload = hash;
	}
	sb_printf(&sb, "X-Amz-Date:%s", p->amz_date);
	lines[nl++] = sb_steal(&sb);
	if (p->session_token) {
		sb_printf(&sb, "X-Amz-Security-Token:%s", p->session_token);
		lines[nl++] = sb_steal(&sb);
	}
	if (p->sign_body) {
		sb_printf(&sb, "X-Amz-Content-Sha256:%s", payload);
		lines[nl++] = sb_steal(&sb);
	}
	for (size_t i = 0; i < nl; i++)
		if (!(p->omit_session_token && strncmp(lines[i], "X-Amz-Security-Token:", 21) == 0))
			extra[ne++] = lines[i];
	extra[ne] = NULL;
	if (build_canonical(req, p, extra, payload, &out->canonical_request,
			    &signed_headers, err, errlen))
		goto out;
	scope = scope_of(p);
	sign_canonical(p, scope, out);
	sb_printf(&sb, "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		  SIGV4_ALGORITHM, p->access_key_id, scope, signed_headers, out->signature);
	out->authorization = sb_steal(&sb);
	out->add_headers = xcalloc(nl + 2, sizeof(char *));
	for (size_t i = 0; i < nl; i++) {
		char *colon = strchr(lines[i], ':');
		sb_printf(&sb, "%.*s: %s", (int)(colon - lines[i]), lines[i], colon + 1);
		out->add_headers[i] = sb_steal(&sb);
	}
	sb_printf(&sb, "Authorization: %s", out->authorization);
	out->add_headers[nl] = sb_steal(&sb);
	rc = 0;
out:
	for (size_t i = 0; i < nl; i++)
		free(lines[i]);
	free(scope);
	free(signed_headers);
	if (rc)
		sigv4_result_free(out);
	return rc;
}

void sigv4_result_free(sigv4_result *r)
{
	if (!r)
		return;
	free(r->canonical_request);
	free(r->string_to_sign);
	free(r->authorization);
	for (size_t i = 0; r->add_headers && r->add_headers[i]; i++)
		free(r->add_headers[i]);
	free(r->add_headers);
	memset(r, 0, sizeof(*r));
}
