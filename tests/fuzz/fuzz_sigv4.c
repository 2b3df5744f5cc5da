/* libFuzzer: the SigV4 canonical request builder (core/cloud/sigv4.c). The
 * input is split at NUL bytes into method, path, query, headers (one per
 * field after the third) and a body; signing must succeed or fail with a
 * reason, and what it signs must hold no raw control character. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/sigv4.h"

#define MAX_FIELDS 12

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *f[MAX_FIELDS] = { 0 }, err[256];
	const char *headers[MAX_FIELDS + 2];
	size_t nf = 0, nh = 0;
	sigv4_result r;

	if (buf == NULL || size < 1)
		goto out;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	for (char *p = buf; nf < MAX_FIELDS && p <= buf + size - 1;) {
		f[nf++] = p;
		p += strlen(p) + 1;
	}
	headers[nh++] = "Host:bedrock-runtime.eu-west-3.amazonaws.com";
	for (size_t i = 3; i + 1 < nf; i++)
		headers[nh++] = f[i];
	headers[nh] = NULL;
	sigv4_request req = {
		.method = f[0] && *f[0] ? f[0] : "GET", .path = nf > 1 ? f[1] : "/",
		.query = nf > 2 ? f[2] : NULL, .headers = headers,
		.body = nf > 3 ? f[nf - 1] : "", .body_len = nf > 3 ? strlen(f[nf - 1]) : 0,
	};
	sigv4_params p = {
		.access_key_id = "AKIDEXAMPLE", .secret_access_key = "secret",
		.session_token = (data[0] & 1) ? "token" : NULL, .region = "eu-west-3",
		.service = (data[0] & 2) ? "s3" : "bedrock", .amz_date = "20150830T123600Z",
		.normalize_path = !(data[0] & 2), .sign_body = (data[0] & 4) != 0,
		.omit_session_token = (data[0] & 8) != 0,
		.payload_hash = (data[0] & 16) ? "UNSIGNED-PAYLOAD" : NULL,
	};
	memset(&r, 0, sizeof(r));
	if (sigv4_sign_headers(&req, &p, &r, err, sizeof(err)) == 0) {
		if (strlen(r.signature) != 64 || r.authorization == NULL)
			abort();
		for (const char *c = r.authorization; *c; c++)
			if ((unsigned char)*c < 0x20)
				abort();
		sigv4_result_free(&r);
	}
	/* The encoder and decoder on the raw input. */
	char *e = sigv4_uri_encode((const char *)data, size, data[0] & 1);
	if (e != NULL) {
		size_t dl = 0;
		char *d = sigv4_uri_decode(e, strlen(e), &dl);
		if (d != NULL && (dl != size || memcmp(d, data, size) != 0))
			abort(); /* decode(encode(x)) must give x back */
		free(d);
		free(e);
	}
out:
	free(buf);
	return 0;
}
