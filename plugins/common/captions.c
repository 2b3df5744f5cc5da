/*
 * Captions (captions.h): narration segments cut into cues of at most two
 * lines, and the cues written as WebVTT and SRT.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "captions.h"

/* Characters (UTF-8 code points) in the first len bytes of s. */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* Whitespace and the other control characters: the text is a model's. */
static int is_space(char c)
{
	return c == ' ' || (unsigned char)c < 0x20 || c == 0x7f;
}

typedef struct cue_list {
	caption_cue *v;
	size_t n, cap;
} cue_list;

static int cue_add(cue_list *l, char *text)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		caption_cue *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (caption_cue){ .text = text };
	return 0;
}

/* Appends one segment's cues (untimed) to l: the words in lines of at most
 * CAPTION_LINE_CHARS characters, CAPTION_MAX_LINES lines a cue. */
static int cut_text(cue_list *l, const char *text)
{
	char *buf = NULL;
	size_t len = 0, lines = 0, width = 0;
	FILE *f = NULL;

	for (const char *p = text;;) {
		while (*p && is_space(*p))
			p++;
		if (!*p)
			break;
		const char *w = p;
		while (*p && !is_space(*p))
			p++;
		size_t wlen = (size_t)(p - w), wchars = utf8_chars(w, wlen);
		if (f && width + 1 + wchars <= CAPTION_LINE_CHARS) {
			fputc(' ', f);
			width += 1 + wchars;
		} else if (f && lines < CAPTION_MAX_LINES) {
			fputc('\n', f);
			lines++;
			width = wchars;
		} else {
			if (f && (fclose(f) != 0 || cue_add(l, buf) < 0))
				goto fail;
			buf = NULL;
			if (!(f = open_memstream(&buf, &len)))
				goto fail;
			lines = 1;
			width = wchars;
		}
		fwrite(w, 1, wlen, f);
	}
	if (f && (fclose(f) != 0 || cue_add(l, buf) < 0))
		goto fail;
	return 0;
fail:
	free(buf);
	return -1;
}

caption_cue *captions_cut(const caption_seg *segs, size_t n_segs, size_t *n)
{
	cue_list l = { 0 };

	*n = 0;
	for (size_t i = 0; i < n_segs; i++) {
		const caption_seg *s = &segs[i];
		size_t first = l.n, total = 0, done = 0;
		if (!s->text || !(s->end > s->start))
			continue;
		if (cut_text(&l, s->text) < 0) {
			captions_free(l.v, l.n);
			return NULL;
		}
		for (size_t k = first; k < l.n; k++)
			total += utf8_chars(l.v[k].text, strlen(l.v[k].text));
		/* The span shared by length, so a cue stays up as long as it
		 * takes to say it. */
		for (size_t k = first; k < l.n; k++) {
			double span = s->end - s->start;
			l.v[k].start = s->start + span * (double)done / (double)total;
			done += utf8_chars(l.v[k].text, strlen(l.v[k].text));
			l.v[k].end = k + 1 == l.n ? s->end
						  : s->start + span * (double)done / (double)total;
		}
	}
	*n = l.n;
	return l.v;
}

void captions_free(caption_cue *cues, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(cues[i].text);
	free(cues);
}

/* HH:MM:SS<sep>mmm, rounded to the millisecond. */
static void put_time(FILE *f, double t, char sep)
{
	long long ms = t > 0 ? llround(t * 1000.0) : 0;
	fprintf(f, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60,
		ms / 1000 % 60, sep, ms % 1000);
}

/* Cue text: in WebVTT & < > are markup; in SRT a "-->" could pass for a
 * timing line, so its arrow is parted from the dashes ("-- >"). */
static void put_text(FILE *f, const char *s, int vtt)
{
	int dashes = 0;

	for (; *s; s++) {
		if (!vtt) {
			if (*s == '>' && dashes >= 2)
				fputc(' ', f);
			dashes = *s == '-' ? dashes + 1 : 0;
			fputc(*s, f);
		} else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else
			fputc(*s, f);
	}
}

static char *write_cues(const caption_cue *cues, size_t n, int vtt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (vtt)
		fputs("WEBVTT\n\n", f);
	for (size_t i = 0; i < n; i++) {
		if (!vtt)
			fprintf(f, "%zu\n", i + 1);
		put_time(f, cues[i].start, vtt ? '.' : ',');
		fputs(" --> ", f);
		put_time(f, cues[i].end, vtt ? '.' : ',');
		fputc('\n', f);
		put_text(f, cues[i].text, vtt);
		fputs("\n\n", f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *captions_vtt(const caption_cue *cues, size_t n)
{
	return write_cues(cues, n, 1);
}

char *captions_srt(const caption_cue *cues, size_t n)
{
	return write_cues(cues, n, 0);
}
