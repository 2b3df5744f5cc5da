/*
 * What the narration plugins share (narration.h): the text input, its
 * sentences, and the narration.json writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vidgen/plugin.h"
#include "narration.h"
#include "usage_report.h"

int narration_cache_get(const vg_stage *st, const char *const *key, const char *path)
{
	if (VG_HAS(st->svc, vg_services, usage) && st->svc->cache_get &&
	    st->svc->cache_get(st, key, path) == VG_OK)
		return 1;
	/* A file an earlier run left at path may be a cache entry under a
	 * second name (a hit links it): the synthesis must make a new file,
	 * never write into that one. */
	unlink(path);
	return 0;
}

void narration_cache_put(const vg_stage *st, const char *const *key, const char *path)
{
	if (VG_HAS(st->svc, vg_services, usage) && st->svc->cache_put)
		st->svc->cache_put(st, key, path);
}

void narration_count_call(const vg_stage *st, const char *text, double chars)
{
	usage_report(st, "requests", 1);
	usage_report(st, "characters", chars >= 0 ? chars : (double)usage_characters(text));
}

const vg_artifact *narration_text(const vg_stage *st, const char *plugin,
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

char **narration_sentences(const vg_stage *st, const char *text, size_t len, size_t max,
			   size_t *n)
{
	const vg_services *svc = st->svc;
	char **out = svc->split_sentences(st, text, len, n);

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

static int put_string(FILE *f, const char *s)
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

int narration_write(vg_stage *st, char *const *text, size_t n, const double *dur,
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
		put_string(f, text[i]);
		fprintf(f, ",\"file\":\"seg%03zu.%s\",\"duration\":%.3f}", i, ext, dur[i]);
		total += dur[i];
	}
	fprintf(f, "],\n\"total_duration\":%.3f,\"voice\":", total);
	put_string(f, voice);
	fputs("}\n", f);
	if (fclose(f) == 0 && buf)
		rc = st->svc->output_write(st, "narration", "narration.json", buf, len);
	free(buf);
	return rc;
}
