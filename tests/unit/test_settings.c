/*
 * Unit tests for core/settings.c, the one settings engine: ${VAR}
 * expansion, each type's parsing (a bool is true/false/1/0/yes/no and
 * nothing else), ranges, choices, paths, required settings and defaults,
 * errors with file:line and stage, init() failures, the load-time table
 * check, entries read at the stride their struct_size gives, and the
 * documentation `vidgen plugins NAME` prints.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"
#include "util.h"

/* ---- settings_expand ------------------------------------------------------- */

static void expect_expand(const char *in, const char *want)
{
	char err[256] = "";
	char *got = settings_expand(in, err, sizeof(err));

	if (!got)
		fail_msg("expanding \"%s\" failed: %s", in, err);
	assert_string_equal(got, want);
	free(got);
}

static void expect_expand_error(const char *in, const char *needle)
{
	char err[256] = "";
	char *got = settings_expand(in, err, sizeof(err));

	if (got)
		fail_msg("expanding \"%s\" gave \"%s\", expected an error", in, got);
	if (!strstr(err, needle))
		fail_msg("error for \"%s\" is \"%s\", expected it to mention \"%s\"", in, err,
			 needle);
}

static void test_expand_vars(void **state)
{
	(void)state;
	setenv("VG_T_SET", "value", 1);
	setenv("VG_T_EMPTY", "", 1);
	unsetenv("VG_T_UNSET");
	expect_expand("no refs", "no refs");
	expect_expand("", "");
	expect_expand("${VG_T_SET}", "value");
	expect_expand("a${VG_T_SET}b${VG_T_SET}c", "avaluebvaluec");
	expect_expand("${VG_T_UNSET:-fallback}", "fallback");
	expect_expand("${VG_T_SET:-fallback}", "value");
	expect_expand("${VG_T_EMPTY:-fallback}", "fallback"); /* :- covers empty too */
	expect_expand("${VG_T_EMPTY}", "");
	expect_expand("${VG_T_UNSET:-}", "");
	expect_expand("${VG_T_UNSET:-a b:c}", "a b:c");
	/* A value is not expanded again (no injection through the env). */
	setenv("VG_T_REF", "${VG_T_SET}", 1);
	expect_expand("${VG_T_REF}", "${VG_T_SET}");
	/* Defaults nest. */
	expect_expand("${VG_T_UNSET:-${VG_T_SET:-x}}", "value");
	expect_expand("${VG_T_UNSET:-${VG_T_UNSET:-x}}/y", "x/y");
	expect_expand("${VG_T_SET:-${VG_T_UNSET}}", "value"); /* unused default not checked */
	expect_expand_error("${VG_T_UNSET:-${VG_T_UNSET}}", "VG_T_UNSET");
	expect_expand_error("${VG_T_UNSET:-${VG_T_SET}", "unterminated");
}

static void test_expand_dollars(void **state)
{
	(void)state;
	setenv("VG_T_SET", "value", 1);
	expect_expand("$$", "$");
	expect_expand("$${VG_T_SET}", "${VG_T_SET}");
	expect_expand("cost: 5$", "cost: 5$");
	expect_expand("$VG_T_SET", "$VG_T_SET"); /* only ${...} is a reference */
	expect_expand("a$$$$b", "a$$b");
}

static void test_expand_errors(void **state)
{
	(void)state;
	unsetenv("VG_T_UNSET");
	expect_expand_error("${VG_T_UNSET}", "VG_T_UNSET");
	expect_expand_error("x ${VG_T_UNSET} y", "not set");
	expect_expand_error("${VG_T_SET", "unterminated");
	expect_expand_error("abc ${", "unterminated");
	expect_expand_error("${}", "bad variable");
	expect_expand_error("${1ABC}", "bad variable name");
	expect_expand_error("${A-B}", "bad variable name");
	expect_expand_error("${A B}", "bad variable name");
}

/* Defaults nest by recursion: a hostile file's thousands of levels are an
 * error, not a stack overflow. */
static void test_expand_deep_nesting(void **state)
{
	strbuf sb = { 0 };

	(void)state;
	unsetenv("VG_T_UNSET");
	for (int i = 0; i < 16; i++)
		sb_puts(&sb, "${VG_T_UNSET:-");
	sb_puts(&sb, "x");
	for (int i = 0; i < 16; i++)
		sb_puts(&sb, "}");
	expect_expand(sb.buf, "x");
	sb_free(&sb);
	for (int i = 0; i < 100000; i++)
		sb_puts(&sb, "${VG_T_UNSET:-");
	sb_puts(&sb, "x");
	for (int i = 0; i < 100000; i++)
		sb_puts(&sb, "}");
	expect_expand_error(sb.buf, "nested more than 16 deep");
	sb_free(&sb);
}

static void test_expand_file(void **state)
{
	char dir[] = "/tmp/vgexp.XXXXXX", path[128], ref[192];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	/* The trailing newline of a secret file is not part of the secret. */
	assert_int_equal(util_write_file_atomic(path, "s3cr3t\n", 7), 0);
	snprintf(ref, sizeof(ref), "key=${file:%s};", path);
	expect_expand(ref, "key=s3cr3t;");
	snprintf(ref, sizeof(ref), "${file:%s/missing}", dir);
	expect_expand_error(ref, "missing");
	util_rm_rf(dir);
}


/* ---- a plugin to fill ----------------------------------------------------- */

typedef struct demo_conf {
	const char *name;
	const char *mode;
	const char *dir;
	const char *key;
	long count;
	double ratio;
	int flag;
	int init_calls;
} demo_conf;

static int demo_init(void *instance, char *err, size_t errlen)
{
	demo_conf *c = instance;

	c->init_calls++;
	if (!strcmp(c->name, "refuse")) {
		snprintf(err, errlen, "name: \"refuse\" is refused");
		return VG_EINVAL;
	}
	return VG_OK;
}

static int demo_run(void *instance, vg_stage *st)
{
	(void)instance, (void)st;
	return VG_OK;
}

static const vg_setting demo_settings[] = {
	VG_SETTING_STR("name", demo_conf, name, "${VG_T_NAME:-anon}", "a name"),
	VG_SETTING_CHOICE("mode", demo_conf, mode, "fast", "fast|slow|", "speed"),
	VG_SETTING_PATH("dir", demo_conf, dir, "", "a folder"),
	VG_SETTING_REQUIRED("key", VG_SET_STRING, demo_conf, key, "the key"),
	VG_SETTING_INT("count", demo_conf, count, "3", 1, 10, "how many"),
	VG_SETTING_DOUBLE("ratio", demo_conf, ratio, "0.5", 0, 1, "how much"),
	VG_SETTING_BOOL("flag", demo_conf, flag, "false", "on or off"),
	VG_SETTINGS_END
};

static const vg_plugin demo = {
	VG_PLUGIN_HEADER,
	.name = "demo",
	.kind = "model",
	.version = "1.2.3",
	.description = "a plugin for the settings tests",
	.settings = demo_settings,
	.instance_size = sizeof(demo_conf),
	.init = demo_init,
	.run = demo_run,
};

static const settings_ctx file_ctx = {
	.file = "p.cfg", .stage = "s1", .stage_line = 7, .group_line = 9, .base_dir = "/base",
};

/* Applies "name=value" pairs (line 12 + index) to demo; returns the result
 * and leaves the instance in *pi and the error in err. */
static int apply(plugin_inst *pi, const char *const *pairs, char *err, size_t errlen)
{
	setting_value v[16];
	char names[16][32];
	size_t n = 0;

	for (; pairs && pairs[n]; n++) {
		const char *eq = strchr(pairs[n], '=');
		snprintf(names[n], sizeof(names[n]), "%.*s", (int)(eq - pairs[n]), pairs[n]);
		v[n] = (setting_value){ .name = names[n], .text = eq + 1, .expand = 1,
					.line = 12 + (int)n };
	}
	err[0] = '\0';
	return settings_apply(pi, &demo, v, n, &file_ctx, err, errlen);
}

#define APPLY(pi, err, ...) apply(pi, (const char *const[]){ __VA_ARGS__, NULL }, err, \
				  sizeof(err))

static void test_defaults_and_values(void **state)
{
	plugin_inst pi;
	demo_conf *c;
	char err[512];

	(void)state;
	unsetenv("VG_T_NAME");
	assert_int_equal(APPLY(&pi, err, "key=k1"), 0);
	c = pi.data;
	assert_string_equal(c->name, "anon");
	assert_string_equal(c->mode, "fast");
	assert_string_equal(c->dir, "");
	assert_string_equal(c->key, "k1");
	assert_int_equal(c->count, 3);
	assert_true(c->ratio > 0.49 && c->ratio < 0.51);
	assert_int_equal(c->flag, 0);
	assert_int_equal(c->init_calls, 1);
	assert_true(pi.inited);
	settings_release(&pi);
	assert_null(pi.data);

	setenv("VG_T_NAME", "from-env", 1);
	assert_int_equal(APPLY(&pi, err, "key=k", "dir=sub/x", "count=10", "flag=yes",
			       "mode=", "ratio=1", "name=${VG_T_NAME}!"), 0);
	c = pi.data;
	assert_string_equal(c->name, "from-env!");
	assert_string_equal(c->dir, "/base/sub/x");
	assert_string_equal(c->mode, "");
	assert_int_equal(c->count, 10);
	assert_int_equal(c->flag, 1);
	settings_release(&pi);
	unsetenv("VG_T_NAME");

	/* The last value given for a name wins (render's repeated options). */
	assert_int_equal(APPLY(&pi, err, "key=a", "count=2", "count=4"), 0);
	assert_int_equal(((demo_conf *)pi.data)->count, 4);
	settings_release(&pi);
}

/* Each error names the file, the line of the value (or of the stage or its
 * settings group), the stage and the setting. */
static void expect_error(const char *const *pairs, const char *want)
{
	plugin_inst pi;
	char err[512];

	assert_int_equal(apply(&pi, pairs, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	settings_release(&pi);
}

#define EXPECT_ERROR(want, ...) expect_error((const char *const[]){ __VA_ARGS__, NULL }, want)

static void test_errors(void **state)
{
	(void)state;
	EXPECT_ERROR("p.cfg:13: stage \"s1\": setting \"flag\" must be true or false, got "
		     "\"maybe\"", "key=k", "flag=maybe");
	EXPECT_ERROR("p.cfg:13: stage \"s1\": setting \"count\" is 11, must be from 1 to 10",
		     "key=k", "count=11");
	EXPECT_ERROR("setting \"count\" must be an integer, got \"3x\"", "key=k", "count=3x");
	EXPECT_ERROR("setting \"ratio\" is 2, must be from 0 to 1", "key=k", "ratio=2");
	EXPECT_ERROR("setting \"ratio\" must be a number, got \"nan\"", "key=k", "ratio=nan");
	EXPECT_ERROR("p.cfg:13: stage \"s1\": setting \"mode\" is \"medium\", must be one of "
		     "fast|slow|", "key=k", "mode=medium");
	EXPECT_ERROR("p.cfg:9: stage \"s1\": plugin \"demo\" needs setting \"key\" (the key)",
		     "count=2");
	EXPECT_ERROR("p.cfg:13: stage \"s1\": plugin \"demo\" has no setting \"colour\" (valid: "
		     "name, mode, dir, key, count, ratio, flag)", "key=k", "colour=red");
	EXPECT_ERROR("p.cfg:12: stage \"s1\": setting \"key\": environment variable "
		     "VG_T_UNSET_9 is not set", "key=${VG_T_UNSET_9}");
	EXPECT_ERROR("p.cfg:7: stage \"s1\" (plugin \"demo\"): name: \"refuse\" is refused",
		     "key=k", "name=refuse");
}

/* `vidgen render` has no file: errors carry no location, and text values
 * (options) are not expanded. */
static void test_no_file(void **state)
{
	setting_value v[] = { { .name = "key", .text = "${HOME}" },
			      { .name = "flag", .text = "on" } };
	plugin_inst pi;
	char err[256];

	(void)state;
	assert_int_equal(settings_apply(&pi, &demo, v, 1, &(settings_ctx){ 0 }, err,
					sizeof(err)), 0);
	assert_string_equal(((demo_conf *)pi.data)->key, "${HOME}");
	settings_release(&pi);
	assert_int_equal(settings_apply(&pi, &demo, v, 2, &(settings_ctx){ 0 }, err,
					sizeof(err)), -1);
	assert_string_equal(err, "setting \"flag\" must be true or false, got \"on\"");
	settings_release(&pi);
}

/* settings_fill leaves init() out. */
static void test_fill_without_init(void **state)
{
	setting_value v[] = { { .name = "key", .text = "k" }, { .name = "name", .text = "refuse" } };
	plugin_inst pi;
	char err[256];

	(void)state;
	assert_int_equal(settings_fill(&pi, &demo, v, 2, &(settings_ctx){ 0 }, err, sizeof(err)),
			 0);
	assert_int_equal(((demo_conf *)pi.data)->init_calls, 0);
	assert_false(pi.inited);
	settings_release(&pi);
}

/* ---- the table ------------------------------------------------------------ */

/* A plugin built against a later 2.x plugin.h: its entries are longer. The
 * engine steps by struct_size and reads the fields it knows. */
typedef struct wide_setting {
	vg_setting s;
	const char *later_field;
	double more;
} wide_setting;

static void test_wider_entries(void **state)
{
	static wide_setting wide[3];
	vg_plugin pl = demo;
	vg_setting s;
	plugin_inst pi;
	setting_value v = { .name = "count", .text = "7" };
	char err[256];

	(void)state;
	wide[0].s = (vg_setting)VG_SETTING_INT("count", demo_conf, count, "2", 0, 9, "n");
	wide[1].s = (vg_setting)VG_SETTING_STR("name", demo_conf, name, "w", "a name");
	wide[0].s.struct_size = wide[1].s.struct_size = sizeof(wide_setting);
	wide[0].later_field = wide[1].later_field = "ignored";
	wide[2].s.struct_size = sizeof(wide_setting);
	pl.settings = &wide[0].s;
	pl.init = NULL;
	assert_int_equal(settings_table_check(&pl, err, sizeof(err)), 0);
	assert_int_equal(settings_count(&pl), 2);
	settings_entry(&pl, 1, &s);
	assert_string_equal(s.name, "name");
	assert_int_equal(settings_apply(&pi, &pl, &v, 1, &(settings_ctx){ 0 }, err, sizeof(err)),
			 0);
	assert_int_equal(((demo_conf *)pi.data)->count, 7);
	assert_string_equal(((demo_conf *)pi.data)->name, "w");
	settings_release(&pi);
}

static void expect_table_error(const vg_setting *tab, size_t instance_size, const char *want)
{
	vg_plugin pl = demo;
	char err[256] = "";

	pl.settings = tab;
	pl.instance_size = instance_size;
	assert_int_equal(settings_table_check(&pl, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("table error \"%s\" does not contain \"%s\"", err, want);
}

static void test_table_check(void **state)
{
	static const vg_setting small[] = { { .struct_size = 8, .name = "x" }, { 0 } };
	static const vg_setting outside[] = {
		VG_SETTING_INT("count", demo_conf, count, "1", 0, 0, "n"), VG_SETTINGS_END
	};
	static const vg_setting bad_default[] = {
		VG_SETTING_INT("count", demo_conf, count, "many", 0, 0, "n"), VG_SETTINGS_END
	};
	static const vg_setting bad_choice_default[] = {
		VG_SETTING_CHOICE("mode", demo_conf, mode, "medium", "fast|slow", "m"),
		VG_SETTINGS_END
	};
	static const vg_setting bad_type[] = {
		{ .struct_size = sizeof(vg_setting), .type = 42, .name = "odd" }, VG_SETTINGS_END
	};
	char err[256];

	(void)state;
	assert_int_equal(settings_table_check(&demo, err, sizeof(err)), 0);
	expect_table_error(small, sizeof(demo_conf), "settings entries are 8 bytes");
	expect_table_error(outside, offsetof(demo_conf, count), "fills bytes");
	expect_table_error(outside, 0, "instance_size 0");
	expect_table_error(bad_default, sizeof(demo_conf),
			   "default of setting \"count\" must be an integer");
	expect_table_error(bad_choice_default, sizeof(demo_conf), "must be one of fast|slow");
	expect_table_error(bad_type, sizeof(demo_conf), "unknown type 42");
}

static void test_find_and_print(void **state)
{
	vg_setting s;
	char err[256], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_int_equal(settings_find(&demo, "ratio", &s, err, sizeof(err)), 0);
	assert_int_equal(s.type, VG_SET_DOUBLE);
	assert_int_equal(settings_find(&demo, "nope", NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "plugin \"demo\" has no setting \"nope\" (valid: name, mode, "
			    "dir, key, count, ratio, flag)");
	settings_print(&demo, f);
	fclose(f);
	assert_non_null(strstr(text, "demo 1.2.3 (model): a plugin for the settings tests"));
	assert_non_null(strstr(text, "  count              integer  default \"3\" range 1..10\n"));
	assert_non_null(strstr(text, "  key                string   required\n"));
	assert_non_null(strstr(text, "one of fast|slow|"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_vars),
		cmocka_unit_test(test_expand_dollars),
		cmocka_unit_test(test_expand_errors),
		cmocka_unit_test(test_expand_deep_nesting),
		cmocka_unit_test(test_expand_file),
		cmocka_unit_test(test_defaults_and_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_no_file),
		cmocka_unit_test(test_fill_without_init),
		cmocka_unit_test(test_wider_entries),
		cmocka_unit_test(test_table_check),
		cmocka_unit_test(test_find_and_print),
	};
	return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
