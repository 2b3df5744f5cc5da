/*
 * Sentence splitting for narration: the one rule every narration plugin
 * uses (through svc->split_sentences), so espeak and Polly cut the same
 * text into the same segments and scripts can rely on the count.
 */
#ifndef VG_SENTENCES_H
#define VG_SENTENCES_H

#include <stddef.h>

/* Most sentences one text may give. */
#define SENTENCES_MAX 1000

/* Splits text[0..len) into sentences: after . ! ? (with closing quotes or
 * brackets) followed by whitespace, except after abbreviations (e.g., i.e.,
 * Dr., etc., an initial "J.") and inside numbers (3.14); a blank line also
 * ends one. Markdown marks (* # ` _) and control characters (NUL included)
 * are dropped and whitespace collapses to
 * one space; empty sentences are dropped. Returns one malloc'd block (free
 * it with free()): a NULL-terminated array of the sentences, with *n set to
 * their count; NULL when there are more than SENTENCES_MAX or memory ran
 * out. */
char **sentences_split(const char *text, size_t len, size_t *n);

#endif
