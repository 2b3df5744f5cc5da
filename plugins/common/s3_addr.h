/*
 * Where an S3 object lives: the one rule for building an object's URL (AWS
 * or an S3-compatible endpoint, virtual-hosted or path-style), shared by the
 * s3 plugin and the engine's shared artifacts (core/artifacts.c).
 */
#ifndef VG_PLUGINS_S3_ADDR_H
#define VG_PLUGINS_S3_ADDR_H

#include <stddef.h>

/* The URL of key in bucket: ENDPOINT/BUCKET/KEY (path_style) or
 * SCHEME://BUCKET.HOST/KEY for an endpoint ("" = AWS in region). key is
 * used as given: callers pass keys of URL-safe characters only. Returns a
 * malloc'd string (caller frees), NULL when out of memory. */
char *s3_object_url(const char *endpoint, int path_style, const char *bucket,
		    const char *region, const char *key);

/* 1 for a bucket name S3 accepts: 3-63 of a-z 0-9 . -, starting and
 * ending with a letter or digit. */
int s3_bucket_valid(const char *b);

#endif
