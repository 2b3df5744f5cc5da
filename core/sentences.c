/*
 * Sentence splitting for narration (see sentences.h). Two passes over a
 * normalised copy: the first finds the cut points, the second lays the
 * sentences out after the pointer array in a single allocation.
 */
#include "sentences.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* 1 when the word ending at s[end] (the '.') does not end a sentence. */
static int is_abbrev(const char *s, size_t end)
{
	static const char *const abbrevs[] = {
		"e.g.", "i.e.", "dr.", "mr.", "mrs.", "ms.", "vs.", "etc.", "prof.", "st.",
		"jr.", "sr.", "fig.", "cf.", "approx.", "no.", "al.", "eq.", "resp.", NULL
	};
	size_t start = end, n;

	while (start > 0 && s[start - 1] != ' ' && s[start - 1] != '(' && s[start - 1] != '\n')
		start--;
	n = end - start + 1;
	for (int i = 0; abbrevs[i]; i++)
		if (strlen(abbrevs[i]) == n && strncasecmp(s + start, abbrevs[i], n) == 0)
			return 1;
	/* A single capital letter and a dot is an initial ("J. Smith"). */
	return n == 2 && isupper((unsigned char)s[start]);
}

/* Markdown marks that a voice should not read out, and control characters
 * (a NUL would end a sentence's string early, or leave it empty). */
static int skipped(char ch)
{
	return ch == '*' || ch == '#' || ch == '`' || ch == '_' ||
	       (unsigned char)ch < 0x20 || ch == 0x7f;
}

/* Normalises text into buf (same size or smaller) with '\n' marking each
 * sentence end; returns the new length. */
static size_t mark(const char *text, size_t len, char *buf)
{
	size_t n = 0, i = 0;

	while (i < len) {
		char ch = text[i];

		if (isspace((unsigned char)ch)) {
			int newlines = 0;
			while (i < len && isspace((unsigned char)text[i]))
				newlines += text[i++] == '\n';
			if (newlines >= 2) {
				if (n && buf[n - 1] == ' ')
					n--;
				if (n && buf[n - 1] != '\n')
					buf[n++] = '\n';
			} else if (n && buf[n - 1] != ' ' && buf[n - 1] != '\n') {
				buf[n++] = ' ';
			}
			continue;
		}
		i++;
		if (skipped(ch))
			continue;
		buf[n++] = ch;
		if (ch != '.' && ch != '!' && ch != '?')
			continue;
		while (i < len && strchr(".!?\"')]", text[i]))
			buf[n++] = text[i++];
		if (i < len && !isspace((unsigned char)text[i]))
			continue; /* 3.14, "a.b" */
		if (ch == '.' && is_abbrev(buf, n - 1))
			continue;
		buf[n++] = '\n';
		while (i < len && isspace((unsigned char)text[i]))
			i++;
	}
	return n;
}

char **sentences_split(const char *text, size_t len, size_t *n)
{
	char *buf = malloc(len + 2), **out = NULL, *dst;
	size_t blen, count = 0, k = 0;

	*n = 0;
	if (!buf)
		return NULL;
	blen = mark(text, len, buf);
	for (size_t i = 0; i < blen;) {
		size_t e = i;
		while (e < blen && buf[e] != '\n')
			e++;
		while (i < e && buf[i] == ' ')
			i++;
		if (e > i)
			count++;
		i = e + 1;
	}
	if (count > SENTENCES_MAX)
		goto out;
	out = malloc((count + 1) * sizeof(char *) + blen + 1);
	if (!out)
		goto out;
	dst = (char *)(out + count + 1);
	for (size_t i = 0; i < blen;) {
		size_t e = i, t;
		while (e < blen && buf[e] != '\n')
			e++;
		while (i < e && buf[i] == ' ')
			i++;
		t = e;
		while (t > i && buf[t - 1] == ' ')
			t--;
		if (t > i) {
			memcpy(dst, buf + i, t - i);
			dst[t - i] = '\0';
			out[k++] = dst;
			dst += t - i + 1;
		}
		i = e + 1;
	}
	out[k] = NULL;
	*n = k;
out:
	free(buf);
	return out;
}
