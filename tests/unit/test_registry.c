/*
 * Unit tests for core/registry.c: the search path; the built plugins load,
 * and the bad ones of tests/bad/ (ABI 99, no symbol, duplicate name, no run
 * callback, short descriptor, bad name, a settings table past its struct,
 * not an ELF file) are refused with the file and the reason, which
 * registry_find and pipeline_load pass on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"
#include "helpers.h"
#include "pipeline.h"
#include "util.h"

static char *bad(const char *name)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "tests/bad/.libs/%s.so", name);
	return util_path_join(th_builddir(), rel);
}

static void assert_mentions(const char *err, const char *needle)
{
	if (!strstr(err, needle))
		fail_msg("\"%s\" does not mention \"%s\"", err, needle);
}

static int ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);

	return a >= b && !strcmp(s + a - b, tail);
}

static void test_builtin_plugins_load(void **state)
{
	plugin_registry *reg = th_registry();
	char err[512] = "";
	const loaded_plugin *lp;

	(void)state;
	lp = registry_find(reg, "replay", err, sizeof(err));
	assert_non_null(lp);
	assert_non_null(lp->desc);
	assert_null(lp->error);
	assert_string_equal(lp->desc->name, "replay");
	assert_string_equal(lp->name, "replay");
	assert_int_equal(lp->desc->abi_major, VIDGEN_ABI_MAJOR);
	assert_true(ends_with(lp->path, "plugins/.libs/replay.so"));
	lp = registry_find(reg, "file", err, sizeof(err));
	assert_non_null(lp);
	assert_string_equal(lp->desc->kind, "store");
	lp = registry_find(reg, "testplug", err, sizeof(err));
	assert_non_null(lp);
	assert_true(ends_with(lp->path, "tests/.libs/testplug.so"));
	/* Nothing of the build tree refused (an installed copy, further on
	 * the path, would be refused as a duplicate, rightly). */
	for (size_t i = 0; i < reg->n; i++)
		if (reg->items[i].error && !strncmp(reg->items[i].path, th_builddir(),
						    strlen(th_builddir())))
			fail_msg("%s refused: %s", reg->items[i].path, reg->items[i].error);
	registry_free(reg);
}

static void test_unknown_name(void **state)
{
	plugin_registry *reg = th_registry();
	char err[2048] = "";

	(void)state;
	assert_null(registry_find(reg, "nosuch", err, sizeof(err)));
	assert_mentions(err, "unknown plugin \"nosuch\"");
	assert_mentions(err, "plugins/.libs"); /* where it looked */
	registry_free(reg);
}

static void test_wrong_abi(void **state)
{
	plugin_registry *reg = th_registry();
	char err[1024] = "", *path = bad("badabi");
	size_t n = reg->n;

	(void)state;
	assert_int_equal(registry_load_file(reg, path, err, sizeof(err)), -1);
	assert_mentions(err, path);
	assert_mentions(err, "99.3");  /* the plugin's version */
	{
		char ours[32];
		snprintf(ours, sizeof(ours), "speaks %d.%d", VIDGEN_ABI_MAJOR, VIDGEN_ABI_MINOR);
		assert_mentions(err, ours);
	}
	assert_int_equal(reg->n, n + 1);
	assert_null(reg->items[n].desc);
	assert_null(reg->items[n].handle);
	assert_string_equal(reg->items[n].error, err);
	/* A pipeline naming it learns why it cannot be used. */
	err[0] = '\0';
	assert_null(registry_find(reg, "badabi", err, sizeof(err)));
	assert_mentions(err, "plugin \"badabi\" cannot be used");
	assert_mentions(err, "99.3");
	assert_mentions(err, path);
	free(path);
	registry_free(reg);
}

static void test_no_symbol(void **state)
{
	plugin_registry *reg = th_registry();
	char err[1024] = "", *path = bad("nosym");

	(void)state;
	assert_int_equal(registry_load_file(reg, path, err, sizeof(err)), -1);
	assert_mentions(err, path);
	assert_mentions(err, "no `vidgen_plugin` symbol");
	err[0] = '\0';
	assert_null(registry_find(reg, "nosym", err, sizeof(err)));
	assert_mentions(err, "cannot be used");
	assert_mentions(err, "vidgen_plugin");
	free(path);
	registry_free(reg);
}

static void test_duplicate_name(void **state)
{
	plugin_registry *reg = th_registry();
	char err[1024] = "", *path = bad("dupname");
	const loaded_plugin *lp;

	(void)state;
	assert_int_equal(registry_load_file(reg, path, err, sizeof(err)), -1);
	assert_mentions(err, path);
	assert_mentions(err, "duplicate plugin name \"replay\"");
	assert_mentions(err, "plugins/.libs/replay.so"); /* the one kept */
	/* The first one stays usable. */
	lp = registry_find(reg, "replay", err, sizeof(err));
	assert_non_null(lp);
	assert_string_equal(lp->desc->version, "1.0.0");
	assert_true(ends_with(lp->path, "plugins/.libs/replay.so"));
	free(path);
	registry_free(reg);
}

static void test_no_run_callback(void **state)
{
	plugin_registry *reg = th_registry();
	char err[1024] = "", *path = bad("norun");

	(void)state;
	assert_int_equal(registry_load_file(reg, path, err, sizeof(err)), -1);
	assert_mentions(err, path);
	assert_mentions(err, "no run callback");
	free(path);
	registry_free(reg);
}

static void test_short_descriptor(void **state)
{
	plugin_registry *reg = th_registry();
	char err[1024] = "", *path = bad("small");

	(void)state;
	assert_int_equal(registry_load_file(reg, path, err, sizeof(err)), -1);
	assert_mentions(err, path);
	assert_mentions(err, "descriptor is 24 bytes");
	free(path);
	registry_free(reg);
}

/* A settings table that writes past its instance struct is refused at load,
 * before any pipeline fills it. */
static void test_bad_table(void **state)
{
	plugin_registry *reg = th_registry();
	char err[1024] = "", *path = bad("badtable");

	(void)state;
	assert_int_equal(registry_load_file(reg, path, err, sizeof(err)), -1);
	assert_mentions(err, path);
	assert_mentions(err, "plugin \"badtable\": setting \"n\" fills bytes 64..72 of a "
			"8-byte instance");
	free(path);
	registry_free(reg);
}

static void test_bad_name(void **state)
{
	plugin_registry *reg = th_registry();
	char err[1024] = "", *path = bad("badname");

	(void)state;
	assert_int_equal(registry_load_file(reg, path, err, sizeof(err)), -1);
	assert_mentions(err, path);
	assert_mentions(err, "../Bad Name");
	assert_mentions(err, "a-z 0-9");
	/* listed under its file's name, not the one it claimed */
	assert_string_equal(reg->items[reg->n - 1].name, "badname");
	free(path);
	registry_free(reg);
}

/* The search path: --plugin-dir, then VIDGEN_PLUGIN_PATH in order (empty
 * and repeated entries ignored), then the install directory. */
static void test_search_path(void **state)
{
	char *saved = getenv("VIDGEN_PLUGIN_PATH") ? xstrdup(getenv("VIDGEN_PLUGIN_PATH")) : NULL;
	plugin_registry *reg;
	char err[2048] = "";

	(void)state;
	setenv("VIDGEN_PLUGIN_PATH", "/nonexistent/b::/nonexistent/c:/nonexistent/b:", 1);
	reg = registry_open("/nonexistent/a");
	assert_true(reg->n_dirs >= 4);
	assert_string_equal(reg->dirs[0], "/nonexistent/a");
	assert_string_equal(reg->dirs[1], "/nonexistent/b");
	assert_string_equal(reg->dirs[2], "/nonexistent/c");
	for (size_t i = 3; i < reg->n_dirs; i++)
		assert_string_not_equal(reg->dirs[i], "/nonexistent/b");
	/* the error for a missing plugin lists them */
	assert_null(registry_find(reg, "replay-x", err, sizeof(err)));
	assert_mentions(err, "/nonexistent/a:/nonexistent/b:/nonexistent/c");
	registry_free(reg);
	if (saved) {
		setenv("VIDGEN_PLUGIN_PATH", saved, 1);
		free(saved);
	} else {
		unsetenv("VIDGEN_PLUGIN_PATH");
	}
}

/* One folder named twice (a trailing slash, a symlink) is scanned once:
 * otherwise each of its plugins is refused as a duplicate of itself. */
static void test_same_dir_twice(void **state)
{
	char *saved = getenv("VIDGEN_PLUGIN_PATH") ? xstrdup(getenv("VIDGEN_PLUGIN_PATH")) : NULL;
	char *tmp = th_tmpdir(), *link = util_path_join(tmp, "plugins-link");
	char *libs = util_path_join(th_builddir(), "plugins/.libs"), path[8192];
	plugin_registry *reg;
	char err[1024], dup[1024] = "";
	int found;

	(void)state;
	assert_int_equal(symlink(libs, link), 0);
	snprintf(path, sizeof(path), "%s/:%s:%s", libs, link, libs);
	setenv("VIDGEN_PLUGIN_PATH", path, 1);
	reg = registry_open(NULL);
	/* the environment is put back before anything can fail */
	if (saved) {
		setenv("VIDGEN_PLUGIN_PATH", saved, 1);
		free(saved);
	} else {
		unsetenv("VIDGEN_PLUGIN_PATH");
	}
	found = registry_find(reg, "replay", err, sizeof(err)) != NULL;
	for (size_t i = 0; i < reg->n; i++)
		if (reg->items[i].error && strstr(reg->items[i].error, "duplicate"))
			snprintf(dup, sizeof(dup), "%s", reg->items[i].error);
	registry_free(reg);
	free(libs);
	free(link);
	th_rmdir(tmp);
	assert_true(found);
	if (dup[0])
		fail_msg("%s", dup);
}

static void test_not_a_library(void **state)
{
	plugin_registry *reg = th_registry();
	char *dir = th_tmpdir(), *path = th_write(dir, "fake.so", "#!/bin/sh\necho hi\n");
	char err[2048] = "";

	(void)state;
	assert_int_equal(registry_load_file(reg, path, err, sizeof(err)), -1);
	assert_mentions(err, path);
	assert_mentions(err, "cannot load");
	assert_mentions(err, "ldd"); /* the usual cause is a missing library */
	err[0] = '\0';
	assert_null(registry_find(reg, "fake", err, sizeof(err)));
	assert_mentions(err, "cannot be used");
	free(path);
	th_rmdir(dir);
	registry_free(reg);
}

/* --plugin-dir comes first in the search path: a plugin there wins over
 * one of the same name further on, which is refused as the duplicate. */
static void test_scan_order_and_refusals(void **state)
{
	char *bad_dir = util_path_join(th_builddir(), "tests/bad/.libs");
	plugin_registry *reg;
	const loaded_plugin *lp;
	char err[1024] = "";
	int refused = 0;

	(void)state;
	reg = th_registry(); /* sets VIDGEN_PLUGIN_PATH if needed */
	registry_free(reg);
	reg = registry_open(bad_dir);
	assert_true(reg->n_dirs >= 2);
	{
		char real[PATH_MAX];
		assert_non_null(realpath(bad_dir, real)); /* dirs are kept resolved */
		assert_string_equal(reg->dirs[0], real);
	}
	lp = registry_find(reg, "replay", err, sizeof(err));
	assert_non_null(lp);
	assert_true(ends_with(lp->path, "tests/bad/.libs/dupname.so"));
	for (size_t i = 0; i < reg->n; i++) {
		const loaded_plugin *it = &reg->items[i];
		if (ends_with(it->path, "plugins/.libs/replay.so")) {
			assert_non_null(it->error);
			assert_mentions(it->error, "duplicate");
			assert_mentions(it->error, "dupname.so");
			refused++;
		}
		if (ends_with(it->path, "badabi.so") || ends_with(it->path, "nosym.so") ||
		    ends_with(it->path, "norun.so") || ends_with(it->path, "small.so") ||
		    ends_with(it->path, "badname.so") || ends_with(it->path, "badtable.so")) {
			assert_null(it->desc);
			assert_non_null(it->error);
			refused++;
		}
	}
	assert_int_equal(refused, 7);
	/* The rest of the normal plugins are there. */
	assert_non_null(registry_find(reg, "file", err, sizeof(err)));
	assert_non_null(registry_find(reg, "testplug", err, sizeof(err)));
	registry_free(reg);
	free(bad_dir);
}

static void test_pipeline_names_refused_plugin(void **state)
{
	plugin_registry *reg = th_registry();
	char *dir = th_tmpdir(), *path = bad("badabi"), *cfg = NULL;
	char err[2048] = "", prefix[512];
	pipeline *p;

	(void)state;
	registry_load_file(reg, path, NULL, 0);
	p = th_pipeline(reg, dir, "p.cfg",
			"stages = (\n"
			"  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
			"  { id = \"b\"; inputs = [\"a\"];\n"
			"    plugin = \"badabi\"; }\n"
			");\n", err, sizeof(err), &cfg);
	assert_null(p);
	snprintf(prefix, sizeof(prefix), "%s:4: ", cfg);
	assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
	assert_mentions(err, "cannot be used");
	assert_mentions(err, "99.3");
	free(cfg);
	free(path);
	th_rmdir(dir);
	registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_plugins_load),
		cmocka_unit_test(test_unknown_name),
		cmocka_unit_test(test_wrong_abi),
		cmocka_unit_test(test_no_symbol),
		cmocka_unit_test(test_duplicate_name),
		cmocka_unit_test(test_no_run_callback),
		cmocka_unit_test(test_short_descriptor),
		cmocka_unit_test(test_bad_name),
		cmocka_unit_test(test_search_path),
		cmocka_unit_test(test_same_dir_twice),
		cmocka_unit_test(test_not_a_library),
		cmocka_unit_test(test_scan_order_and_refusals),
		cmocka_unit_test(test_pipeline_names_refused_plugin),
		cmocka_unit_test(test_bad_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
