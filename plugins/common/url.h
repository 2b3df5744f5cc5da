/*
 * The one rule for a base URL a plugin is configured with (openai's
 * base_url, s3's endpoint and public_url, the AWS plugins' endpoint).
 */
#ifndef VG_PLUGINS_URL_H
#define VG_PLUGINS_URL_H

/* 1 for an http:// or https:// URL that paths can be appended to: no
 * whitespace (it would split a request line), no query or fragment. */
int url_base_valid(const char *u);

#endif
