/*
 * The files a render leaves beside its video (companions.c), which stores
 * keep beside the stored video: captions and the poster. A companion of
 * DIR/NAME.mp4 is DIR/NAME<suffix>; stored as {video_id}<suffix>.
 */
#ifndef VG_PLUGINS_COMPANIONS_H
#define VG_PLUGINS_COMPANIONS_H

#include <stddef.h>

typedef struct companion {
	const char *suffix;       /* ".vtt", ".srt", ".jpg", ".thumb.jpg" */
	const char *content_type; /* as served and stored */
	const char *field;        /* the job's field its URL goes to */
} companion;

/* The companions, ended by an entry whose suffix is NULL. */
extern const companion companions[];

/* The path of video's companion c (video ends in ".mp4"; otherwise c's
 * suffix is appended) into out. 0 ok, -1 when it does not fit. */
int companion_path(const char *video, const companion *c, char *out, size_t outlen);

#endif
