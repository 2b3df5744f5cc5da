/*
 * url_base_valid and url_pct_encode (url.h): the base-URL rule and the
 * percent-encoder shared by the plugins and the engine's S3 artifacts.
 */
#include <ctype.h>
#include <string.h>

#include "url.h"

int url_base_valid(const char *u)
{
	if (strncmp(u, "https://", 8) && strncmp(u, "http://", 7))
		return 0;
	for (; *u; u++)
		if (isspace((unsigned char)*u) || *u == '?' || *u == '#')
			return 0;
	return 1;
}

int url_pct_encode(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;

	if (!outlen)
		return -1;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int keep = isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
		if (k + (keep ? 1 : 3) >= outlen) {
			out[0] = '\0';
			return -1;
		}
		if (keep) {
			out[k++] = (char)ch;
		} else {
			out[k++] = '%';
			out[k++] = hex[ch >> 4];
			out[k++] = hex[ch & 15];
		}
	}
	out[k] = '\0';
	return 0;
}
