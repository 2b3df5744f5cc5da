/*
 * Unit tests for core/util.c (UTF-8, UUIDs, paths, files, strbuf, hex
 * digits, the write loop).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* ---- UTF-8 --------------------------------------------------------------- */

static int valid(const char *s, size_t *n)
{
	return util_utf8_valid(s, strlen(s), n);
}

static void test_utf8_valid_text(void **state)
{
	size_t n = 99;

	(void)state;
	assert_true(valid("", &n));
	assert_int_equal(n, 0);
	assert_true(valid("plain ascii", &n));
	assert_int_equal(n, 11);
	assert_true(valid("h\xc3\xa9llo", &n)); /* héllo */
	assert_int_equal(n, 5);
	assert_true(valid("\xe2\x82\xac", &n)); /* € */
	assert_int_equal(n, 1);
	assert_true(valid("\xf0\x9f\x98\x80!", &n)); /* 4-byte emoji + ! */
	assert_int_equal(n, 2);
	assert_true(valid("\xf4\x8f\xbf\xbf", &n)); /* U+10FFFF, the last */
	assert_int_equal(n, 1);
	assert_true(valid("\xed\x9f\xbf", NULL));   /* U+D7FF, just below surrogates */
	assert_true(valid("\xee\x80\x80", NULL));   /* U+E000, just above */
	/* A NUL inside the length is a valid code point. */
	assert_true(util_utf8_valid("a\0b", 3, &n));
	assert_int_equal(n, 3);
}

static void test_utf8_overlongs(void **state)
{
	(void)state;
	assert_false(valid("\xc0\xaf", NULL));         /* '/' in 2 bytes */
	assert_false(valid("\xc1\xbf", NULL));
	assert_false(valid("\xe0\x80\xaf", NULL));     /* '/' in 3 bytes */
	assert_false(valid("\xe0\x9f\xbf", NULL));     /* U+07FF in 3 bytes */
	assert_false(valid("\xf0\x80\x80\xaf", NULL)); /* '/' in 4 bytes */
	assert_false(valid("\xf0\x8f\xbf\xbf", NULL)); /* U+FFFF in 4 bytes */
	assert_true(valid("\xc2\x80", NULL));          /* U+0080: shortest form */
	assert_true(valid("\xe0\xa0\x80", NULL));      /* U+0800 */
	assert_true(valid("\xf0\x90\x80\x80", NULL));  /* U+10000 */
}

static void test_utf8_surrogates_and_range(void **state)
{
	(void)state;
	assert_false(valid("\xed\xa0\x80", NULL));  /* U+D800 */
	assert_false(valid("\xed\xbf\xbf", NULL));  /* U+DFFF */
	assert_false(valid("\xed\xa0\xbd\xed\xb8\x80", NULL)); /* CESU-8 pair */
	assert_false(valid("\xf4\x90\x80\x80", NULL));         /* U+110000 */
	assert_false(valid("\xf5\x80\x80\x80", NULL));
	assert_false(valid("\xf8\x88\x80\x80\x80", NULL));     /* 5-byte form */
	assert_false(valid("\xfe", NULL));
	assert_false(valid("\xff", NULL));
}

static void test_utf8_truncated_and_stray(void **state)
{
	(void)state;
	assert_false(valid("\xe2\x82", NULL));       /* € cut short */
	assert_false(valid("\xf0\x9f\x98", NULL));   /* emoji cut short */
	assert_false(valid("abc\xc3", NULL));        /* ends mid-sequence */
	assert_false(valid("\x80", NULL));           /* lone continuation */
	assert_false(valid("a\xbf" "b", NULL));
	assert_false(valid("\xc3" "A", NULL));       /* continuation not 10xxxxxx */
	assert_false(valid("\xe2\x28\xa1", NULL));
	/* The length bounds the check: a sequence cut by n is invalid even if
	 * the bytes continue in memory. */
	assert_false(util_utf8_valid("\xe2\x82\xac", 2, NULL));
	assert_true(util_utf8_valid("\xe2\x82\xac" "\xff", 3, NULL));
}

/* ---- UUIDs and time -------------------------------------------------------- */

static void test_uuid_shape(void **state)
{
	char a[37], b[37];

	(void)state;
	util_uuid4(a);
	util_uuid4(b);
	assert_int_equal(strlen(a), 36);
	assert_true(util_uuid_valid(a));
	assert_string_not_equal(a, b);
	assert_int_equal(a[8], '-');
	assert_int_equal(a[13], '-');
	assert_int_equal(a[14], '4');                 /* version 4 */
	assert_non_null(strchr("89ab", a[19]));      /* RFC 4122 variant */
	for (int i = 0; i < 36; i++)
		assert_non_null(strchr("0123456789abcdef-", a[i]));

	assert_true(util_uuid_valid("123e4567-e89b-42d3-a456-426614174000"));
	assert_false(util_uuid_valid(NULL));
	assert_false(util_uuid_valid(""));
	assert_false(util_uuid_valid("123e4567-e89b-42d3-a456-42661417400"));   /* short */
	assert_false(util_uuid_valid("123e4567-e89b-42d3-a456-4266141740000")); /* long */
	assert_false(util_uuid_valid("123e4567e89b-42d3-a456-4266141740000"));  /* dash moved */
	assert_false(util_uuid_valid("123E4567-E89B-42D3-A456-426614174000"));  /* upper */
	assert_false(util_uuid_valid("123e4567-e89b-42d3-a456-42661417400g"));
	assert_false(util_uuid_valid("../../../../../../../../etc/passwd...."));
}

static void test_now_iso8601(void **state)
{
	char t[32];
	long long a, b;

	(void)state;
	util_now_iso8601(t);
	/* 2026-11-27T10:03:35.123Z */
	assert_int_equal(strlen(t), 24);
	assert_int_equal(t[4], '-');
	assert_int_equal(t[10], 'T');
	assert_int_equal(t[19], '.');
	assert_int_equal(t[23], 'Z');
	a = util_now_ms();
	usleep(20000);
	b = util_now_ms();
	assert_true(b - a >= 19);
}

/* ---- paths --------------------------------------------------------------- */

static void expect_abs(const char *in, const char *want)
{
	char *got = util_path_abs(in);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_path_abs(void **state)
{
	char cwd[PATH_MAX], want[PATH_MAX + 16];

	(void)state;
	expect_abs("/a/b/c", "/a/b/c");
	expect_abs("/a//b///c/", "/a/b/c");
	expect_abs("/a/./b/.", "/a/b");
	expect_abs("/a/b/../c", "/a/c");
	expect_abs("/a/b/../../..", "/");
	expect_abs("/../../etc", "/etc");
	expect_abs("/", "/");
	expect_abs("/a/..b/c", "/a/..b/c"); /* "..b" is a name, not ".." */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/x", strcmp(cwd, "/") ? cwd : "");
	expect_abs("x", want);
	expect_abs("./y/../x", want);
}

static void test_path_join(void **state)
{
	char *s;

	(void)state;
	s = util_path_join("/a", "b");
	assert_string_equal(s, "/a/b");
	free(s);
	s = util_path_join("/a/", "b");
	assert_string_equal(s, "/a/b");
	free(s);
	s = util_path_join("/a", "/abs");
	assert_string_equal(s, "/abs");
	free(s);
	s = util_path_join("", "b");
	assert_string_equal(s, "b");
	free(s);
}

typedef struct tree {
	char root[64];    /* scratch */
	char in[128];     /* root/jail */
	char out[128];    /* root/outside */
} tree;

static int tree_setup(void **state)
{
	tree *t = calloc(1, sizeof(*t));
	char path[256];

	snprintf(t->root, sizeof(t->root), "/tmp/vgutil.XXXXXX");
	if (!mkdtemp(t->root))
		return -1;
	snprintf(t->in, sizeof(t->in), "%s/jail", t->root);
	snprintf(t->out, sizeof(t->out), "%s/outside", t->root);
	mkdir(t->in, 0755);
	mkdir(t->out, 0755);
	snprintf(path, sizeof(path), "%s/sub", t->in);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/secret", t->out);
	if (util_write_file_atomic(path, "s", 1) < 0)
		return -1;
	/* jail/escape -> ../outside, jail/inner -> sub */
	snprintf(path, sizeof(path), "%s/escape", t->in);
	if (symlink(t->out, path) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/inner", t->in);
	if (symlink("sub", path) < 0)
		return -1;
	/* jail/dangling -> outside/later, which does not exist (yet) */
	snprintf(path, sizeof(path), "%s/dangling", t->in);
	{
		char target[256];
		snprintf(target, sizeof(target), "%s/later", t->out);
		if (symlink(target, path) < 0)
			return -1;
	}
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	tree *t = *state;

	util_rm_rf(t->root);
	free(t);
	return 0;
}

static int inside(const tree *t, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", t->in, rel);
	return util_path_inside(path, t->in);
}

static void test_path_inside_lexical(void **state)
{
	tree *t = *state;
	char sibling[256];

	assert_true(inside(t, "sub"));
	assert_true(inside(t, "sub/new-file"));
	assert_true(inside(t, "a/b/../c"));
	assert_true(util_path_inside(t->in, t->in));
	assert_false(inside(t, ".."));
	assert_false(inside(t, "../outside/secret"));
	assert_false(inside(t, "sub/../../outside"));
	assert_false(inside(t, "../../../../etc/passwd"));
	/* "jail2" starts with "jail" but is not inside it */
	snprintf(sibling, sizeof(sibling), "%s2/x", t->in);
	assert_false(util_path_inside(sibling, t->in));
	/* a trailing slash on the directory does not matter */
	snprintf(sibling, sizeof(sibling), "%s/", t->in);
	assert_true(util_path_inside(t->in, sibling));
	assert_true(util_path_inside("/etc/passwd", "/"));
}

static void test_path_inside_symlinks(void **state)
{
	tree *t = *state;

	assert_true(inside(t, "inner"));            /* link to jail/sub */
	assert_true(inside(t, "inner/file"));
	assert_false(inside(t, "escape"));          /* link to ../outside */
	assert_false(inside(t, "escape/secret"));   /* existing file behind it */
	/* A file that does not exist yet, behind a link that leaves: the link
	 * must still be resolved (a plugin could create it next). */
	assert_false(inside(t, "escape/not-yet"));
	assert_false(inside(t, "escape/a/b/c"));
	/* A dangling link: whatever it points at may appear later. */
	assert_false(inside(t, "dangling"));
	assert_false(inside(t, "dangling/x"));
	assert_true(inside(t, "sub/later"));
}

/* ---- files and strbuf ---------------------------------------------------- */

static void test_files(void **state)
{
	char dir[] = "/tmp/vgfile.XXXXXX", path[128], err[256] = "", *data = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(util_mkdir_p(path, 0755), 0);
	assert_int_equal(util_mkdir_p(path, 0755), 0); /* exists: fine */
	snprintf(path, sizeof(path), "%s/a/x/y", dir); /* the parent missing */
	assert_int_equal(util_mkdir_p(path, 0755), 0);
	{
		struct stat sb;
		assert_int_equal(stat(path, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
	}
	snprintf(path, sizeof(path), "%s/a/x/y/f", dir);
	assert_int_equal(util_write_file_atomic(path, "", 0), 0);
	snprintf(path, sizeof(path), "%s/a/x/y/f/z/w", dir); /* a file in the way */
	assert_int_equal(util_mkdir_p(path, 0755), -1);
	snprintf(path, sizeof(path), "%s/a/x/y/f", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/a/b/c/f.txt", dir);
	assert_int_equal(util_write_file_atomic(path, "hello\n", 6), 0);
	assert_int_equal(util_read_file(path, 100, &data, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 6);
	assert_string_equal(data, "hello\n");
	free(data);
	data = NULL;
	/* too large: refused, naming the file */
	assert_int_equal(util_read_file(path, 3, &data, &len, err, sizeof(err)), -1);
	assert_null(data);
	assert_non_null(strstr(err, path));
	/* missing: the error names the file */
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(util_read_file(path, 100, &data, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	/* a directory: refused, saying so */
	assert_int_equal(util_read_file(dir, 100, &data, &len, err, sizeof(err)), -1);
	assert_null(data);
	assert_non_null(strstr(err, "Is a directory"));
	/* a FIFO nobody writes to: read as empty, not waited on forever */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);
	assert_int_equal(util_read_file(path, 100, &data, &len, err, sizeof(err)), 0);
	alarm(0);
	assert_int_equal(len, 0);
	free(data);
	data = NULL;
	assert_int_equal(util_rm_rf(dir), 0);
	assert_int_equal(access(dir, F_OK), -1);
}

static void test_rm_rf_does_not_follow_links(void **state)
{
	char dir[] = "/tmp/vgrm.XXXXXX", victim[128], keep[160], link[128], sub[128];

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* dir/victim/keep.txt must survive removing dir/tree, which links to it */
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(keep, sizeof(keep), "%s/keep.txt", victim);
	snprintf(sub, sizeof(sub), "%s/tree/sub", dir);
	snprintf(link, sizeof(link), "%s/tree/sub/link", dir);
	assert_int_equal(util_mkdir_p(victim, 0755), 0);
	assert_int_equal(util_mkdir_p(sub, 0755), 0);
	assert_int_equal(util_write_file_atomic(keep, "k", 1), 0);
	assert_int_equal(symlink(victim, link), 0);
	snprintf(sub, sizeof(sub), "%s/tree", dir);
	assert_int_equal(util_rm_rf(sub), 0);
	assert_int_equal(access(sub, F_OK), -1);
	assert_int_equal(access(keep, F_OK), 0);
	util_rm_rf(dir);
}

static void test_write_atomic_leaves_no_temp(void **state)
{
	char dir[] = "/tmp/vgat.XXXXXX", path[128], *data = NULL;
	size_t len;
	int n = 0;
	DIR *d;
	struct dirent *de;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(util_write_file_atomic(path, "one", 3), 0);
	assert_int_equal(util_write_file_atomic(path, "two!", 4), 0); /* replaces */
	assert_int_equal(util_read_file(path, 100, &data, &len, NULL, 0), 0);
	assert_string_equal(data, "two!");
	free(data);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	assert_int_equal(n, 1);
	/* into a folder that does not exist: an error, no crash */
	snprintf(path, sizeof(path), "%s/no/such/f", dir);
	assert_int_equal(util_write_file_atomic(path, "x", 1), -1);
	/* What a killed writer leaves (another pid's NAME.tmp.PID, below too)
	 * is swept; our own pid's, other names and the file itself stay. */
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(util_mkdir_p(path, 0755), 0);
	const char *make[] = { "f.tmp.1", "sub/job.json.tmp.999999", "f.tmp.x", "notes.tmp" };
	for (size_t i = 0; i < sizeof(make) / sizeof(*make); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, make[i]);
		assert_int_equal(util_write_file_atomic(path, "t", 1), 0);
	}
	snprintf(path, sizeof(path), "%s/f.tmp.%ld", dir, (long)getpid());
	assert_int_equal(util_write_file_atomic(path, "mine", 4), 0);
	assert_int_equal(util_remove_stale_tmp(dir), 2);
	snprintf(path, sizeof(path), "%s/sub/job.json.tmp.999999", dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/f.tmp.x", dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/f.tmp.%ld", dir, (long)getpid());
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(access(path, F_OK), 0);
	util_rm_rf(dir);
}

static void test_strbuf(void **state)
{
	strbuf sb = { 0 };
	char *s;

	(void)state;
	s = sb_steal(&sb);
	assert_string_equal(s, "");
	free(s);
	for (int i = 0; i < 1000; i++)
		sb_printf(&sb, "%d,", i);
	assert_int_equal(sb.len, strlen(sb.buf));
	assert_true(strncmp(sb.buf, "0,1,2,", 6) == 0);
	assert_non_null(strstr(sb.buf, ",999,"));
	sb_append(&sb, "xy", 1);
	assert_int_equal(sb.buf[sb.len - 1], 'x');
	s = sb_steal(&sb);
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	free(s);
}

static void test_hex_value(void **state)
{
	(void)state;
	assert_int_equal(util_hex_value('0'), 0);
	assert_int_equal(util_hex_value('9'), 9);
	assert_int_equal(util_hex_value('a'), 10);
	assert_int_equal(util_hex_value('F'), 15);
	assert_int_equal(util_hex_value('g'), -1);
	assert_int_equal(util_hex_value('%'), -1);
	assert_int_equal(util_hex_value(0), -1);
}

/* util_write_all: every byte through a pipe smaller than the data (the
 * reader drains it in a child), and a clear -1 on a bad descriptor. */
static void test_write_all(void **state)
{
	(void)state;
	int fds[2];
	size_t n = 1 << 20, got = 0;
	char *data = malloc(n), buf[4096];

	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7);
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		int wrc = util_write_all(fds[1], data, n);
		free(data); /* the child's copy: valgrind checks its exit too */
		_exit(wrc == 0 ? 0 : 1);
	}
	close(fds[1]);
	for (ssize_t r; (r = read(fds[0], buf, sizeof(buf))) > 0; got += (size_t)r)
		assert_memory_equal(buf, data + got, (size_t)r);
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(got, n);
	errno = 0;
	assert_int_equal(util_write_all(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	free(data);
}

/* A deadline us from now on the realtime clock, its nanoseconds carried
 * into seconds. */
static void test_deadline_us(void **state)
{
	static const long long us[] = { 0, 1, 999999, 1000000, 1500000, 61999999 };
	(void)state;
	for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
		struct timespec before, ts, after;
		clock_gettime(CLOCK_REALTIME, &before);
		util_deadline_us(&ts, us[i]);
		clock_gettime(CLOCK_REALTIME, &after);
		assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
		long long at = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		long long lo = (long long)before.tv_sec * 1000000 + before.tv_nsec / 1000 + us[i];
		long long hi = (long long)after.tv_sec * 1000000 + after.tv_nsec / 1000 + us[i];
		assert_true(at >= lo && at <= hi + 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid_text),
		cmocka_unit_test(test_utf8_overlongs),
		cmocka_unit_test(test_utf8_surrogates_and_range),
		cmocka_unit_test(test_utf8_truncated_and_stray),
		cmocka_unit_test(test_uuid_shape),
		cmocka_unit_test(test_now_iso8601),
		cmocka_unit_test(test_path_abs),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test_setup_teardown(test_path_inside_lexical, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_path_inside_symlinks, tree_setup, tree_teardown),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_rm_rf_does_not_follow_links),
		cmocka_unit_test(test_write_atomic_leaves_no_temp),
		cmocka_unit_test(test_strbuf),
		cmocka_unit_test(test_write_all),
		cmocka_unit_test(test_hex_value),
		cmocka_unit_test(test_deadline_us),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
