/*
 * The one rule for a base URL a plugin is configured with (openai's
 * base_url, s3's endpoint and public_url, the AWS plugins' endpoint), and
 * the one percent-encoder of a path segment or a query value.
 */
#ifndef VG_PLUGINS_URL_H
#define VG_PLUGINS_URL_H

#include <stddef.h>

/* 1 for an http:// or https:// URL that paths can be appended to: no
 * whitespace (it would split a request line), no query or fragment. */
int url_base_valid(const char *u);

/* Percent-encodes s into out (outlen bytes with the NUL): RFC 3986's
 * unreserved characters (A-Z a-z 0-9 - . _ ~) are kept, every other byte
 * becomes %XX. 0 done; -1 out is too small (out is then ""): an id or a
 * token cut short would name another one. */
int url_pct_encode(const char *s, char *out, size_t outlen);

#endif
