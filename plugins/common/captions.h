/*
 * Captions from a narration's segments (captions.c): each segment's text,
 * cut into cues of at most two lines of about 42 characters, timed inside
 * the segment's span of the video, written as WebVTT and SRT.
 */
#ifndef VG_PLUGINS_CAPTIONS_H
#define VG_PLUGINS_CAPTIONS_H

#include <stddef.h>

#define CAPTION_LINE_CHARS 42 /* a line's width, in characters (not bytes) */
#define CAPTION_MAX_LINES 2   /* lines a cue */

/* One spoken segment in the video's own timeline: seconds. */
typedef struct caption_seg {
	double start, end;
	const char *text; /* UTF-8; whitespace is collapsed */
} caption_seg;

/* One cue: its lines joined by '\n' (malloc'd). */
typedef struct caption_cue {
	double start, end;
	char *text;
} caption_cue;

/* Cuts the segments into cues, in order: each segment's words are laid into
 * lines of at most CAPTION_LINE_CHARS characters (a longer word has a line of
 * its own), every CAPTION_MAX_LINES lines make a cue, and the segment's span
 * is shared between its cues by their length. Segments with no text or an
 * empty span give no cue. Returns a malloc'd array (*n cues; free with
 * captions_free), NULL when out of memory (or *n = 0 and NULL for none). */
caption_cue *captions_cut(const caption_seg *segs, size_t n_segs, size_t *n);
void captions_free(caption_cue *cues, size_t n);

/* The cues as a WebVTT file ("WEBVTT", cue times HH:MM:SS.mmm, the text
 * escaped) or as SRT (numbered, HH:MM:SS,mmm). Return malloc'd text, NULL
 * when out of memory. */
char *captions_vtt(const caption_cue *cues, size_t n);
char *captions_srt(const caption_cue *cues, size_t n);

#endif
