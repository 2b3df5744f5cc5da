/*
 * The one rule for a base URL a plugin is configured with (openai's
 * base_url, s3's endpoint and public_url). Static functions, like
 * prompt_file.h.
 */
#ifndef VG_PLUGINS_URL_H
#define VG_PLUGINS_URL_H

#include <ctype.h>
#include <string.h>

/* 1 for an http:// or https:// URL that paths can be appended to: no
 * whitespace (it would split a request line), no query or fragment. */
static int url_base_valid(const char *u)
{
	if (strncmp(u, "https://", 8) && strncmp(u, "http://", 7))
		return 0;
	for (; *u; u++)
		if (isspace((unsigned char)*u) || *u == '?' || *u == '#')
			return 0;
	return 1;
}

#endif
