/*
 * The base-URL rule and the percent-encoder plugins/common/url.c shares
 * (bedrock's model path, S3's upload ids and continuation tokens, the
 * shared artifacts' listings).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../plugins/common/url.h"

static void test_pct_encode(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(url_pct_encode("AZaz09-._~", out, sizeof(out)), 0);
	assert_string_equal(out, "AZaz09-._~");
	assert_int_equal(url_pct_encode("eu.anthropic.claude-v1:0/x y%+", out, sizeof(out)), 0);
	assert_string_equal(out, "eu.anthropic.claude-v1%3A0%2Fx%20y%25%2B");
	assert_int_equal(url_pct_encode("\xc3\xa9\x01\xff", out, sizeof(out)), 0);
	assert_string_equal(out, "%C3%A9%01%FF");
	assert_int_equal(url_pct_encode("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

/* What does not fit is refused, never cut: a cut id names another one. */
static void test_pct_encode_fits(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(url_pct_encode("abcdefg", out, 8), 0); /* 7 and the NUL */
	assert_string_equal(out, "abcdefg");
	assert_int_equal(url_pct_encode("abcdefgh", out, 8), -1);
	assert_string_equal(out, "");
	assert_int_equal(url_pct_encode("abcde:", out, 8), -1); /* %3A needs 3 */
	assert_string_equal(out, "");
	assert_int_equal(url_pct_encode("abcd:", out, 8), 0); /* 7 and the NUL */
	assert_string_equal(out, "abcd%3A");
	assert_int_equal(url_pct_encode("a", out, 1), -1);
	assert_int_equal(url_pct_encode("a", out, 0), -1);
}

static void test_base_valid(void **state)
{
	(void)state;
	assert_true(url_base_valid("https://s3.example.com"));
	assert_true(url_base_valid("http://127.0.0.1:9000/base"));
	assert_false(url_base_valid("ftp://x"));
	assert_false(url_base_valid("https://x/a b"));
	assert_false(url_base_valid("https://x/?q=1"));
	assert_false(url_base_valid("https://x/#f"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pct_encode),
		cmocka_unit_test(test_pct_encode_fits),
		cmocka_unit_test(test_base_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
