/*
 * Unit tests for sentences_split: the one sentence rule of every narration
 * plugin (espeak, polly), reached by plugins as svc->split_sentences.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sentences.h"
#include "services.h"

static void expect_split(const char *text, const char *const *want, size_t n)
{
	size_t got = 99;
	char **s = sentences_split(text, strlen(text), &got);

	assert_non_null(s);
	if (got != n)
		for (size_t i = 0; i < got; i++)
			fprintf(stderr, "got [%s]\n", s[i]);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(s[i], want[i]);
	assert_null(s[n]);
	free(s);
}

static void test_basic(void **state)
{
	const char *w[] = { "First one.", "Second one!", "Is it third?", "Last without stop" };
	(void)state;
	expect_split("  First   one.  Second\n one! Is it third?\tLast without stop ", w, 4);
}

static void test_abbrev_numbers(void **state)
{
	const char *w[] = {
		"Pi is about 3.14 and e.g. Euler's number is 2.718.",
		"Dr. Smith vs. Mr. Jones, i.e. a debate, etc. went on.",
		"Then J. Doe spoke."
	};
	(void)state;
	expect_split("Pi is about 3.14 and e.g. Euler's number is 2.718. "
		     "Dr. Smith vs. Mr. Jones, i.e. a debate, etc. went on. "
		     "Then J. Doe spoke.", w, 3);
}

/* Control characters, NUL included, are dropped: a NUL once left an empty
 * sentence (found by tests/fuzz/fuzz_sentences.c). */
static void test_control_characters(void **state)
{
	static const char text[] = "One\0\0 two. Three\x01\x7f.\0\0\0";
	static const char *const w[] = { "One two.", "Three." };
	size_t n = 0;
	char **s = sentences_split(text, sizeof text - 1, &n);

	(void)state;
	assert_non_null(s);
	assert_int_equal(n, 2);
	assert_string_equal(s[0], w[0]);
	assert_string_equal(s[1], w[1]);
	free(s);
}

static void test_quotes_paragraphs_markdown(void **state)
{
	const char *w[] = { "He said \"stop.\"", "Heading", "Bold text here (really!)", "End." };
	size_t n = 5;
	char **s;

	(void)state;
	expect_split("He said \"stop.\" \n\n## Heading\n\n**Bold** text here (really!) End.", w, 4);
	s = sentences_split(" \n\t \n ", 6, &n);
	assert_non_null(s);
	assert_int_equal(n, 0);
	assert_null(s[0]);
	free(s);
}

static void test_utf8_and_ellipsis(void **state)
{
	/* An ellipsis before a space ends a sentence; "…" (one character) does
	 * not. */
	const char *w[] = { "Café au lait… Wait...", "what?", "Ça va." };
	(void)state;
	expect_split("Café au lait… Wait... what? Ça va.", w, 3);
}

static void test_too_many(void **state)
{
	size_t len = (SENTENCES_MAX + 1) * 3, n = 7;
	char *text = malloc(len + 1);

	(void)state;
	for (size_t i = 0; i + 3 <= len; i += 3)
		memcpy(text + i, "O! ", 3);
	text[len] = '\0';
	assert_null(sentences_split(text, len, &n));
	assert_int_equal(n, 0);
	free(text);
}

static void test_service(void **state)
{
	const vg_services *svc = services_table();
	size_t n = 0;
	char **s;

	(void)state;
	assert_true(svc->struct_size > offsetof(vg_services, split_sentences));
	s = svc->split_sentences(NULL, "One. Two.", 9, &n);
	assert_non_null(s);
	assert_int_equal(n, 2);
	assert_string_equal(s[1], "Two.");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_abbrev_numbers),
		cmocka_unit_test(test_quotes_paragraphs_markdown),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_utf8_and_ellipsis),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_service),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
