/*
 * Helpers shared by the engine's unit tests: scratch directories, files
 * written from strings, and a plugin registry on the build tree's plugins.
 */
#include "helpers.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

char *th_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl;

	if (!base || !base[0])
		base = "/tmp";
	tmpl = util_path_join(base, "vgtest.XXXXXX");
	if (!mkdtemp(tmpl)) {
		free(tmpl);
		fail_msg("mkdtemp in %s: %s", base, strerror(errno));
	}
	return tmpl;
}

void th_rmdir(char *dir)
{
	if (!dir)
		return;
	/* VIDGEN_KEEP_TMP=1 keeps the evidence of a failed test. */
	if (!getenv("VIDGEN_KEEP_TMP"))
		util_rm_rf(dir);
	free(dir);
}

char *th_write(const char *dir, const char *name, const char *text)
{
	char *path = util_path_join(dir, name), *slash;

	slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		if (util_mkdir_p(path, 0755) < 0)
			fail_msg("mkdir %s: %s", path, strerror(errno));
		*slash = '/';
	}
	if (util_write_file_atomic(path, text, strlen(text)) < 0)
		fail_msg("write %s: %s", path, strerror(errno));
	return path;
}

char *th_read(const char *path)
{
	char *data = NULL;
	size_t len;

	if (util_read_file(path, 64u << 20, &data, &len, NULL, 0) < 0)
		return NULL;
	return data;
}

const char *th_builddir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("top_builddir");
	ssize_t n;
	char *slash;

	if (dir[0])
		return dir;
	if (env && env[0]) {
		snprintf(dir, sizeof(dir), "%s", env);
		return dir;
	}
	/* Run by hand: the binary is <builddir>/tests/unit/test_x (or
	 * tests/unit/.libs/test_x when libtool wraps it). */
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0)
		fail_msg("cannot find the build tree: set top_builddir");
	dir[n] = '\0';
	for (int up = 0; up < 3; up++) {
		slash = strrchr(dir, '/');
		if (!slash)
			fail_msg("cannot find the build tree from %s", dir);
		*slash = '\0';
		/* tests/unit/.libs/test_x when libtool wraps it: one more level */
		if (up == 0 && (slash = strrchr(dir, '/')) && !strcmp(slash, "/.libs"))
			*slash = '\0';
	}
	return dir;
}

plugin_registry *th_registry(void)
{
	const char *env = getenv("VIDGEN_PLUGIN_PATH");

	if (!env || !env[0]) {
		char path[2 * PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/plugins/.libs:%s/tests/.libs", th_builddir(),
			 th_builddir());
		setenv("VIDGEN_PLUGIN_PATH", path, 1);
	}
	return registry_open(NULL);
}

pipeline *th_pipeline(const plugin_registry *reg, const char *dir, const char *name,
		      const char *text, char *err, size_t errlen, char **path_out)
{
	char *path = th_write(dir, name, text);
	pipeline *p = pipeline_load(path, reg, err, errlen);

	if (path_out)
		*path_out = path;
	else
		free(path);
	return p;
}

int th_count(const char *hay, const char *needle)
{
	int n = 0;
	size_t nl = strlen(needle);

	if (!hay || !nl)
		return 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + nl, needle))
		n++;
	return n;
}
