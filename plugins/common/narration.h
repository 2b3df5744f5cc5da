/*
 * What the narration plugins (espeak, polly) share: the text input they
 * speak, its sentences by the core's rule, and the narration.json writer
 * (format: doc/narration.md). Static functions, like prompt_file.h.
 */
#ifndef VG_PLUGINS_NARRATION_H
#define VG_PLUGINS_NARRATION_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vidgen/plugin.h>

/* The text to speak: the first input of kind "text" (or without a kind, or
 * the question itself), at most max bytes. NULL with the reason through
 * svc->fail. */
static const vg_artifact *narration_text(const vg_stage *st, const char *plugin,
					 size_t max)
{
	for (size_t i = 0; i < st->n_inputs; i++) {
		const vg_artifact *a = &st->inputs[i];
		if (!a->data || (a->kind && strcmp(a->kind, "text") != 0 &&
				 (!a->from || strcmp(a->from, "question") != 0)))
			continue;
		if (a->len > max) {
			st->svc->fail(st, "narration text too long (%zu bytes, max %zu)",
				      a->len, max);
			return NULL;
		}
		return a;
	}
	st->svc->fail(st, "%s needs a text input", plugin);
	return NULL;
}

/* The sentences of text, cut by the core's one rule (svc->split_sentences,
 * ABI 1.1) so that every narration plugin gives a script the same segments.
 * Returns a block to free() (*n sentences, may be 0), or NULL with the
 * reason through svc->fail. */
static char **narration_sentences(const vg_stage *st, const char *plugin,
				  const char *text, size_t len, size_t max, size_t *n)
{
	const vg_services *svc = st->svc;
	size_t need = offsetof(vg_services, split_sentences) + sizeof svc->split_sentences;
	char **out;

	if (svc->abi_minor < 1 || svc->struct_size < need || !svc->split_sentences) {
		svc->fail(st, "%s needs vidgen ABI 1.1 (sentence splitting); this "
			  "core offers 1.%u", plugin, (unsigned)svc->abi_minor);
		return NULL;
	}
	out = svc->split_sentences(st, text, len, n);
	if (!out) {
		svc->fail(st, "narration text has too many sentences (or memory "
			  "ran out)");
	} else if (*n > max) {
		svc->fail(st, "narration text has %zu sentences (max %zu)", *n, max);
		free(out);
		out = NULL;
	}
	return out;
}

static int narration_put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	return fputc('"', f) == EOF ? -1 : 0;
}

/* Writes narration.json as the stage's "narration" output: segment i is
 * text[i], spoken in the file segNNN.<ext> for dur[i] seconds; voice is the
 * job's voice name. */
static int narration_write(vg_stage *st, char *const *text, size_t n, const double *dur,
			   const char *ext, const char *voice)
{
	char *buf = NULL;
	size_t len = 0;
	double total = 0;
	int rc = VG_ENOMEM;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return VG_ENOMEM;
	fputs("{\"segments\":[", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\n {\"index\":%zu,\"text\":", i ? "," : "", i);
		narration_put_string(f, text[i]);
		fprintf(f, ",\"file\":\"seg%03zu.%s\",\"duration\":%.3f}", i, ext, dur[i]);
		total += dur[i];
	}
	fprintf(f, "],\n\"total_duration\":%.3f,\"voice\":", total);
	narration_put_string(f, voice);
	fputs("}\n", f);
	if (fclose(f) == 0 && buf)
		rc = st->svc->output_write(st, "narration", "narration.json", buf, len);
	free(buf);
	return rc;
}

#endif
