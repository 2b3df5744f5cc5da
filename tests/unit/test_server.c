/*
 * Unit tests of the HTTP daemon's request-path helpers (core/serve/server.c):
 * Range parsing for /media, the web page's file-name rule, the JSON string
 * escaping every answer is built with, a job message's public form (no host
 * paths) and the data folder's ownership check. The daemon as a whole is
 * tested over real HTTP by tests/e2e/serve_*.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void public_is(const char *in, const char *want)
{
	strbuf sb = { 0 };
	server_message_public(&sb, in);
	assert_string_equal(sb.buf ? sb.buf : "", want);
	sb_free(&sb);
}

static void test_message_public(void **state)
{
	(void)state;
	public_is("", "");
	public_is("Video generation cancelled", "Video generation cancelled");
	public_is("Stage explain failed: no recorded answer in /work/x/tests/serve_answers (each "
		  "subfolder)", "Stage explain failed: no recorded answer in serve_answers (each "
		  "subfolder)");
	public_is("/tmp/manim_videos/3f0c/job.json: No such file",
		  "job.json: No such file");
	/* Quoted, in brackets, after '=' or ':'; a line number stays. */
	public_is("File \"/opt/vidgen/venv/lib/python3.11/manim/x.py\", line 3",
		  "File \"x.py\", line 3");
	public_is("open(/etc/vidgen/env) failed", "open(env) failed");
	public_is("path=/srv/a/b, mode=1", "path=b, mode=1");
	public_is("PATH=/usr/bin:/bin", "PATH=bin:bin");
	public_is("render: /tmp/a/scene.py:12: error", "render: scene.py:12: error");
	public_is("cannot write '/var/lib/vidgen/x/'", "cannot write 'x/'");
	/* Not paths: a URL, a fraction, "and/or", a lone slash. */
	public_is("PUT https://bucket.s3.amazonaws.com/key/v.mp4 failed: 403",
		  "PUT https://bucket.s3.amazonaws.com/key/v.mp4 failed: 403");
	public_is("1/2 done, and/or more", "1/2 done, and/or more");
	public_is("a / b", "a / b");
	public_is("//network/share", "//network/share");
	/* Several paths in one message, and UTF-8 around them. */
	public_is("copy /a/b.txt \xc3\xa9 /c/d/e.txt", "copy b.txt \xc3\xa9 e.txt");
}

static void test_data_dir_check(void **state)
{
	char dir[] = "/tmp/vg-test-data-XXXXXX", err[512], file[600];
	(void)state;

	assert_non_null(mkdtemp(dir));
	chmod(dir, 0700);
	assert_int_equal(util_data_dir_check(dir, err, sizeof(err)), 0);
	chmod(dir, 0755);
	assert_int_equal(util_data_dir_check(dir, err, sizeof(err)), 0);
	chmod(dir, 0775);
	assert_int_equal(util_data_dir_check(dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, dir));
	assert_non_null(strstr(err, "writable by its group"));
	chmod(dir, 01777); /* sticky, like /tmp: still others may plant files */
	assert_int_equal(util_data_dir_check(dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by others"));
	assert_non_null(strstr(err, "1777"));
	chmod(dir, 0700);
	if (geteuid() == 0) {
		assert_int_equal(chown(dir, 65534, 65534), 0);
		assert_int_equal(util_data_dir_check(dir, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "belongs to uid 65534"));
		assert_int_equal(chown(dir, 0, 0), 0);
	}
	snprintf(file, sizeof(file), "%s/f", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(util_data_dir_check(file, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
	unlink(file);

	/* Made by util_data_dir_make: 0755 whatever the umask. */
	snprintf(file, sizeof(file), "%s/new/videos", dir);
	mode_t old = umask(0);
	assert_int_equal(util_data_dir_make(file, err, sizeof(err)), 0);
	umask(old);
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	rmdir(file);
	snprintf(file, sizeof(file), "%s/new", dir);
	rmdir(file);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_forms),
		cmocka_unit_test(test_range_unsatisfiable),
		cmocka_unit_test(test_range_ignored),
		cmocka_unit_test(test_flat_names),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_message_public),
		cmocka_unit_test(test_data_dir_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
