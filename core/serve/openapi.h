/*
 * The OpenAPI document of the HTTP API (doc/openapi.yaml), embedded as JSON
 * by the build, and the copy a daemon serves: completed with what only the
 * running daemon knows (its pipeline's models and voices, its API keys).
 */
#ifndef VG_OPENAPI_H
#define VG_OPENAPI_H

#include <stddef.h>
#include "pipeline.h"

/* doc/openapi.yaml as JSON, NUL-terminated (core/openapi_spec.c, generated). */
extern const char openapi_spec_json[];
extern const size_t openapi_spec_json_len;

/* The document GET /api/v1/openapi.json answers for pipeline p: the
 * embedded one with VideoRequest's model and voice as enums of p's
 * selectable models and voices, voice's default, Config's lists as
 * constants, info.version the build's, and no security requirement when
 * keys_required is 0. Returns malloc'd JSON text (length in *len) the
 * caller frees, or NULL with the reason in err (an embedded document that
 * lacks the parts filled in). */
char *openapi_document(const pipeline *p, int keys_required, size_t *len,
		       char *err, size_t errlen);

#endif
