/*
 * The entry point of vgcloud.so: the one exported symbol, a table of the
 * HTTP client, SigV4 signing and AWS credential functions (core/cloud/cloud.h).
 */
#include "cloud.h"
#include "http_client.h"
#include "log.h"

__attribute__((visibility("default"))) const cloud_api vidgen_cloud_api = {
	.struct_size = sizeof(cloud_api),
	.set_log_level = log_set_level,
	.http_do = http_do,
	.http_response_free = http_response_free,
	.aws_credentials_resolve = aws_credentials_resolve,
	.aws_credentials_clear = aws_credentials_clear,
	.aws_region_resolve = aws_region_resolve,
};
