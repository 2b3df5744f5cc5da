/*
 * url_base_valid (url.h): the base-URL rule shared by the plugins.
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
