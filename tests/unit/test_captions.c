/*
 * Unit tests for the captions of plugins/common/captions.c: a segment's text
 * in cues of at most two lines of 42 characters (counted in characters, not
 * bytes; a longer word alone on its line), the segment's span shared by the
 * cues' lengths with the first starting at the segment's start and the last
 * ending at its end, segments without a span or text skipped, control
 * characters taken for spaces, and the WebVTT (escaped) and SRT texts (no
 * "-->" in a cue's text).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../plugins/common/captions.h"

static size_t chars(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

static void test_short_segments(void **state)
{
	caption_seg segs[] = {
		{ 0.0, 2.5, "Hello there." },
		{ 2.5, 2.5, "No span: no cue." },
		{ 3.0, 4.0, NULL },
		{ 4.0, 5.25, "  Spaces   collapse\tinside. " },
	};
	size_t n = 0;
	caption_cue *c = captions_cut(segs, 4, &n);

	(void)state;
	assert_int_equal(n, 2);
	assert_string_equal(c[0].text, "Hello there.");
	assert_true(c[0].start == 0.0 && c[0].end == 2.5);
	assert_string_equal(c[1].text, "Spaces collapse inside.");
	assert_true(c[1].start == 4.0 && c[1].end == 5.25);
	char *vtt = captions_vtt(c, n), *srt = captions_srt(c, n);
	assert_string_equal(vtt, "WEBVTT\n\n"
			    "00:00:00.000 --> 00:00:02.500\nHello there.\n\n"
			    "00:00:04.000 --> 00:00:05.250\nSpaces collapse inside.\n\n");
	assert_string_equal(srt, "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
			    "2\n00:00:04,000 --> 00:00:05,250\nSpaces collapse inside.\n\n");
	free(vtt);
	free(srt);
	captions_free(c, n);
}

static void test_long_sentence(void **state)
{
	/* Accented letters count one character each. */
	const char *text = "Élégant mathematics shows that every triangle drawn inside "
			   "a semicircle on its diameter has a right angle opposite the "
			   "diameter, which Thales proved more than twenty five centuries "
			   "ago, long before algebra existed anywhere.";
	caption_seg seg = { 10.0, 22.0, text };
	size_t n = 0, total = 0, words = 0, want_words = 1;
	caption_cue *c = captions_cut(&seg, 1, &n);

	for (const char *p = text; *p; p++)
		want_words += *p == ' ';

	(void)state;
	assert_true(n >= 3);
	assert_true(c[0].start == 10.0);
	assert_true(c[n - 1].end == 22.0);
	for (size_t i = 0; i < n; i++) {
		const char *line = c[i].text;
		int lines = 0;
		assert_true(c[i].end > c[i].start);
		if (i)
			assert_true(c[i].start == c[i - 1].end);
		while (*line) {
			size_t len = strcspn(line, "\n");
			assert_true(chars(line, len) <= CAPTION_LINE_CHARS);
			assert_true(len > 0);
			lines++;
			line += len + (line[len] == '\n');
		}
		assert_true(lines >= 1 && lines <= CAPTION_MAX_LINES);
		/* Only the last cue may be shorter than two lines. */
		if (i + 1 < n)
			assert_int_equal(lines, 2);
		total += chars(c[i].text, strlen(c[i].text));
		for (const char *p = c[i].text; *p; p++)
			words += (*p == ' ' || *p == '\n');
		words++;
	}
	assert_int_equal(words, want_words);
	/* The text is all there: its characters less the spaces that became
	 * line breaks or cue breaks. */
	assert_int_equal(total + (n - 1), chars(text, strlen(text)));
	/* Time by length: the first cue's share of the span is its share of
	 * the characters. */
	double share = (c[0].end - c[0].start) / 12.0;
	double want = (double)chars(c[0].text, strlen(c[0].text)) / (double)(total);
	assert_true(share > want - 1e-9 && share < want + 1e-9);
	captions_free(c, n);
}

static void test_long_word_and_escapes(void **state)
{
	char word[80];
	memset(word, 'x', 60);
	word[60] = 0;
	char text[200];
	snprintf(text, sizeof text, "a<b & c>d\x1b\r\n%s end", word);
	caption_seg seg = { 3661.5, 3663.0, text };
	size_t n = 0;
	caption_cue *c = captions_cut(&seg, 1, &n);

	(void)state;
	char want[100];
	snprintf(want, sizeof want, "a<b & c>d\n%s", word);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].text, want);
	assert_string_equal(c[1].text, "end");
	char *vtt = captions_vtt(c, n), *srt = captions_srt(c, n);
	assert_non_null(strstr(vtt, "01:01:01.500 --> "));
	assert_non_null(strstr(vtt, "\na&lt;b &amp; c&gt;d\n"));
	assert_non_null(strstr(srt, "01:01:01,500 --> "));
	assert_non_null(strstr(srt, "\na<b & c>d\n"));
	free(vtt);
	free(srt);
	captions_free(c, n);

	/* A sentence that reads like a timing line stays text. */
	caption_seg fake = { 0, 1, "00:00:05,000 --> 00:00:09,000 x --->" };
	c = captions_cut(&fake, 1, &n);
	srt = captions_srt(c, n);
	vtt = captions_vtt(c, n);
	assert_non_null(strstr(srt, "\n00:00:05,000 -- > 00:00:09,000 x --- >\n"));
	assert_non_null(strstr(vtt, "\n00:00:05,000 --&gt; 00:00:09,000 x ---&gt;\n"));
	free(vtt);
	free(srt);
	captions_free(c, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_segments),
		cmocka_unit_test(test_long_sentence),
		cmocka_unit_test(test_long_word_and_escapes),
	};
	return cmocka_run_group_tests_name("captions", tests, NULL, NULL);
}
