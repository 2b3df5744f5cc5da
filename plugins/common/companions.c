/*
 * The companion files of a video (companions.h).
 */
#include <stdio.h>
#include <string.h>

#include "companions.h"

const companion companions[] = {
	{ ".vtt", "text/vtt; charset=utf-8", "captions_url" },
	{ ".srt", "application/x-subrip", "captions_srt_url" },
	{ ".jpg", "image/jpeg", "poster_url" },
	{ ".thumb.jpg", "image/jpeg", "thumbnail_url" },
	{ NULL, NULL, NULL }
};

int companion_path(const char *video, const companion *c, char *out, size_t outlen)
{
	size_t n = strlen(video);
	if (n >= 4 && !strcmp(video + n - 4, ".mp4"))
		n -= 4;
	int w = snprintf(out, outlen, "%.*s%s", (int)n, video, c->suffix);
	return w < 0 || (size_t)w >= outlen ? -1 : 0;
}
