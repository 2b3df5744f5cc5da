/*
 * Unit tests of the HTTP daemon's request-path helpers (core/serve/server.c):
 * Range parsing for /media, the web page's file-name rule, and the JSON
 * string escaping every answer is built with. The daemon as a whole is
 * tested over real HTTP by tests/e2e/serve_*.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "serve/server.h"
#include "util.h"

static void test_range_forms(void **state)
{
	uint64_t a = 0, b = 0;
	(void)state;

	assert_int_equal(server_parse_range("bytes=0-99", 1000, &a, &b), 0);
	assert_true(a == 0 && b == 99);
	assert_int_equal(server_parse_range("bytes=900-", 1000, &a, &b), 0);
	assert_true(a == 900 && b == 999);
	assert_int_equal(server_parse_range("bytes=-10", 1000, &a, &b), 0);
	assert_true(a == 990 && b == 999);
	/* A suffix longer than the file is the whole file. */
	assert_int_equal(server_parse_range("bytes=-5000", 1000, &a, &b), 0);
	assert_true(a == 0 && b == 999);
	/* An end past the file is clamped to its last byte. */
	assert_int_equal(server_parse_range("bytes=10-5000", 1000, &a, &b), 0);
	assert_true(a == 10 && b == 999);
	assert_int_equal(server_parse_range("bytes=999-999", 1000, &a, &b), 0);
	assert_true(a == 999 && b == 999);
}

static void test_range_unsatisfiable(void **state)
{
	uint64_t a, b;
	(void)state;

	assert_int_equal(server_parse_range("bytes=1000-", 1000, &a, &b), -1);
	assert_int_equal(server_parse_range("bytes=5000-6000", 1000, &a, &b), -1);
	assert_int_equal(server_parse_range("bytes=-0", 1000, &a, &b), -1);
	assert_int_equal(server_parse_range("bytes=0-", 0, &a, &b), -1);
}

static void test_range_ignored(void **state)
{
	uint64_t a, b;
	(void)state;

	/* Absent, malformed or several ranges: serve the whole file (200). */
	const char *bad[] = { NULL, "", "bytes", "bytes=", "items=0-10", "bytes=a-b",
			      "bytes=10-5", "bytes=0-10,20-30", "bytes=--5", "bytes=5-x",
			      "bytes=-", "bytes= 1-2", "bytes=-5x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(server_parse_range(bad[i], 1000, &a, &b), 1);
}

static void test_flat_names(void **state)
{
	(void)state;
	assert_true(server_flat_name_ok("app.js"));
	assert_true(server_flat_name_ok("style-2_x.css"));
	assert_true(server_flat_name_ok("index.html"));
	assert_false(server_flat_name_ok(""));
	assert_false(server_flat_name_ok(".hidden"));
	assert_false(server_flat_name_ok(".."));
	assert_false(server_flat_name_ok("../etc/passwd"));
	assert_false(server_flat_name_ok("a/b.js"));
	assert_false(server_flat_name_ok("a\\b.js"));
	assert_false(server_flat_name_ok("a%2fb.js"));
	assert_false(server_flat_name_ok("a b.js"));
	assert_false(server_flat_name_ok("caf\xc3\xa9.js"));
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(server_flat_name_ok(longname));
}

/* Escapes s, then checks a JSON parser reads back exactly s. */
static void roundtrip(const char *s)
{
	strbuf sb = { 0 };
	sb_puts(&sb, "[");
	server_json_put_str(&sb, s);
	sb_puts(&sb, "]");
	json_error_t jerr;
	json_t *v = json_loads(sb.buf, 0, &jerr);
	assert_non_null(v);
	assert_true(json_is_string(json_array_get(v, 0)));
	assert_string_equal(json_string_value(json_array_get(v, 0)), s);
	json_decref(v);
	sb_free(&sb);
}

static void test_json_escaping(void **state)
{
	(void)state;
	roundtrip("");
	roundtrip("plain text");
	roundtrip("quote \" backslash \\ slash /");
	roundtrip("new\nline\r\ttab");
	roundtrip("\x01\x02\x1f control \x7f");
	roundtrip("a\xc2\xb2 + b\xc2\xb2 = c\xc2\xb2 \xe2\x80\x94 \xf0\x9f\x93\x90");
	roundtrip("</script><script>alert(1)</script>");

	strbuf sb = { 0 };
	server_json_put_str(&sb, NULL);
	assert_string_equal(sb.buf, "null");
	sb_free(&sb);
	server_json_put_str(&sb, "\x01\"");
	assert_string_equal(sb.buf, "\"\\u0001\\\"\"");
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_forms),
		cmocka_unit_test(test_range_unsatisfiable),
		cmocka_unit_test(test_range_ignored),
		cmocka_unit_test(test_flat_names),
		cmocka_unit_test(test_json_escaping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
