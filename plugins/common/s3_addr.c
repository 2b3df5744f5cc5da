/*
 * s3_object_url and s3_bucket_valid (s3_addr.h): S3's addressing rules.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "s3_addr.h"

char *s3_object_url(const char *endpoint, int path_style, const char *bucket,
		    const char *region, const char *key)
{
	char *u = NULL;
	const char *e = endpoint, *host;
	size_t n = strlen(e);
	int rc;

	while (n && e[n - 1] == '/')
		n--;
	if (!*e && path_style)
		rc = asprintf(&u, "https://s3.%s.amazonaws.com/%s/%s", region, bucket, key);
	else if (!*e)
		rc = asprintf(&u, "https://%s.s3.%s.amazonaws.com/%s", bucket, region, key);
	else if (path_style)
		rc = asprintf(&u, "%.*s/%s/%s", (int)n, e, bucket, key);
	else if (!(host = strstr(e, "://")))
		return NULL;
	else
		rc = asprintf(&u, "%.*s%s.%.*s/%s", (int)(host + 3 - e), e, bucket,
			      (int)(n - (size_t)(host + 3 - e)), host + 3, key);
	return rc < 0 ? NULL : u;
}

int s3_bucket_valid(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
		return 0;
	for (; *b; b++)
		if (!islower((unsigned char)*b) && !isdigit((unsigned char)*b) && *b != '-' && *b != '.')
			return 0;
	return 1;
}
