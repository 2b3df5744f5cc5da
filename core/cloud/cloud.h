/*
 * Cloud access (HTTP client, SigV4, AWS credentials) lives in a module of
 * its own, vgcloud.so, loaded the first time a job needs it: a daemon whose
 * pipeline never calls a remote service never maps libcurl or OpenSSL.
 */
#ifndef VG_CLOUD_H
#define VG_CLOUD_H

#include <stdint.h>
#include "aws.h"
#include "vidgen/plugin.h"

/* What vgcloud.so exports as `vidgen_cloud_api`. */
typedef struct cloud_api {
	uint32_t struct_size;
	void (*set_log_level)(int level);
	int (*http_do)(const vg_http_request *req, vg_http_response *resp,
		       int (*cancelled)(void *ud), void *ud, char *err, size_t errlen);
	void (*http_response_free)(vg_http_response *resp);
	int (*aws_credentials_resolve)(aws_credentials *out, char *err, size_t errlen);
	void (*aws_credentials_clear)(aws_credentials *c);
	void (*aws_region_resolve)(char *out, size_t outlen);
} cloud_api;

#define CLOUD_API_SYMBOL "vidgen_cloud_api"

/* Loads vgcloud.so once ($VIDGEN_CLOUD_MODULE, else .libs/ beside an
 * uninstalled executable, else the install directory) and returns its
 * table; NULL with the reason in err when it cannot be loaded. Thread-safe. */
const cloud_api *cloud_get(char *err, size_t errlen);

#endif
