/*
 * core/artifacts.c: which locators and file paths the shared artifacts
 * accept (keys are built from them only). The transfers themselves run
 * against moto in tests/e2e/serve_artifacts.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "artifacts.h"

static void test_locators(void **state)
{
	static const char *const good[] = {
		"s3://loli", "s3://loli/", "s3://loli/jobs", "s3://my.bucket-1/a/b/c/",
		"s3://loli/prod_v2/artifacts", NULL };
	static const char *const bad[] = {
		"", "loli/x", "http://loli/x", "s3://", "s3://Lo", "s3://UPPER/x", "s3://ab/x",
		"s3://-loli/x", "s3://loli/../x", "s3://loli/a//b", "s3://loli/.hidden",
		"s3://loli/a b", "s3://loli/a?b", "s3://loli/a%2fb", "s3://loli/\xc3\xa9", NULL };
	char err[256];

	(void)state;
	for (int i = 0; good[i]; i++)
		assert_int_equal(artifacts_locator_check(good[i], err, sizeof(err)), 0);
	for (int i = 0; bad[i]; i++) {
		err[0] = '\0';
		assert_int_equal(artifacts_locator_check(bad[i], err, sizeof(err)), -1);
		assert_non_null(strstr(err, "artifacts"));
	}
	assert_int_equal(artifacts_locator_check(NULL, err, sizeof(err)), -1);
}

static void test_rel_paths(void **state)
{
	char long_name[200];

	(void)state;
	assert_true(artifacts_rel_valid("stages/narrate/seg000.wav"));
	assert_true(artifacts_rel_valid("stages/render/video.thumb.jpg"));
	assert_true(artifacts_rel_valid("a/b/c/d/e/f/g/h"));
	assert_false(artifacts_rel_valid("a/b/c/d/e/f/g/h/i"));
	assert_false(artifacts_rel_valid(NULL));
	assert_false(artifacts_rel_valid(""));
	assert_false(artifacts_rel_valid("/etc/passwd"));
	assert_false(artifacts_rel_valid("stages/../../x"));
	assert_false(artifacts_rel_valid("stages/./x"));
	assert_false(artifacts_rel_valid("stages//x"));
	assert_false(artifacts_rel_valid("stages/x/"));
	assert_false(artifacts_rel_valid("stages/.x"));
	assert_false(artifacts_rel_valid("stages/-x"));
	assert_false(artifacts_rel_valid("stages/a b"));
	assert_false(artifacts_rel_valid("stages/a\nb"));
	assert_false(artifacts_rel_valid("stages/a?x=1"));
	memset(long_name, 'a', 129);
	long_name[129] = '\0';
	assert_false(artifacts_rel_valid(long_name));
	long_name[128] = '\0';
	assert_true(artifacts_rel_valid(long_name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locators),
		cmocka_unit_test(test_rel_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
