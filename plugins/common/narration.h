/*
 * What the narration plugins (espeak, polly) share: the text input they
 * speak, its sentences by the core's rule, and the narration.json writer
 * (format: doc/narration.md).
 */
#ifndef VG_PLUGINS_NARRATION_H
#define VG_PLUGINS_NARRATION_H

#include "vidgen/plugin.h"

/* The text to speak: the first input of kind "text" (or without a kind, or
 * the question itself), at most max bytes. NULL with the reason through
 * svc->fail. */
const vg_artifact *narration_text(const vg_stage *st, const char *plugin, size_t max);

/* The sentences of text, cut by the core's one rule (svc->split_sentences)
 * so that every narration plugin gives a script the same segments. Returns
 * a block to free() (*n sentences, may be 0; at most max), or NULL with the
 * reason through svc->fail. */
char **narration_sentences(const vg_stage *st, const char *text, size_t len, size_t max,
			   size_t *n);

/* Fetches a sentence's audio from the core's file cache into path (ABI
 * 2.2; a miss on an older core). key names everything the audio depends
 * on: { plugin, voice, engine, language, format, text, NULL } and any
 * setting that changes the sound. 1 when path now holds the cached file
 * (possibly as a second name of the cache's entry: never write into it),
 * 0 otherwise, with no file left at path (synthesize it, then
 * narration_cache_put). */
int narration_cache_get(const vg_stage *st, const char *const *key, const char *path);

/* Offers a freshly synthesized file to the cache (failures only logged by
 * the core: the narration does not depend on them). */
void narration_cache_put(const vg_stage *st, const char *const *key, const char *path);

/* Counts one TTS call on text: requests and characters (billed ones,
 * unless the service says otherwise: pass chars >= 0 to override). */
void narration_count_call(const vg_stage *st, const char *text, double chars);

/* Writes narration.json as the stage's "narration" output: segment i is
 * text[i], spoken in the file segNNN.<ext> for dur[i] seconds; voice is the
 * job's voice name. */
int narration_write(vg_stage *st, char *const *text, size_t n, const double *dur,
		    const char *ext, const char *voice);

#endif
