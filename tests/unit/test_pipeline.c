/*
 * Unit tests for core/pipeline.c: pipeline files loaded with the real plugins
 * of the build tree (replay, testplug). Every error must name the file and
 * the line of the offending setting; valid files must parse every field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline.h"
#include "helpers.h"
#include "util.h"

static plugin_registry *reg;
static char *dir;

/* The replay plugin's instance, as declared in plugins/replay/replay.c. */
typedef struct replay_mirror {
	const char *dir;
	const char *answer;
	const char *kind;
	long delay_ms;
	const char *log;
} replay_mirror;

/* The test plugin's instance, as declared in tests/plugins/testplug.c. */
typedef struct testplug_mirror {
	long sleep_ms;
	long fail_times;
	long script_errors;
	int ignore_cancel;
	const char *text;
	const char *kind;
} testplug_mirror;

static int group_setup(void **state)
{
	char *a;

	(void)state;
	reg = th_registry();
	dir = th_tmpdir();
	a = th_write(dir, "answers/q/question.txt", "What?");
	free(a);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	registry_free(reg);
	th_rmdir(dir);
	return 0;
}

/* Loads text and checks it fails with "<file>:<line>: " and mentions each
 * of the (NULL-terminated) needles. */
static void expect_fail_at(const char *text, int line, ...)
{
	char err[2048] = "", prefix[512], *path = NULL;
	pipeline *p = th_pipeline(reg, dir, "p.cfg", text, err, sizeof(err), &path);
	const char *needle;
	va_list ap;

	if (p) {
		pipeline_free(p);
		fail_msg("this pipeline loaded, it should not:\n%s", text);
	}
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)))
		fail_msg("error \"%s\" does not start with \"%s\"", err, prefix);
	va_start(ap, line);
	while ((needle = va_arg(ap, const char *)))
		if (!strstr(err, needle))
			fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	va_end(ap);
	free(path);
}

#define FAILS_AT(text, line, ...) expect_fail_at(text, line, __VA_ARGS__, (const char *)NULL)

static pipeline *load_ok(const char *text)
{
	char err[2048] = "";
	pipeline *p = th_pipeline(reg, dir, "ok.cfg", text, err, sizeof(err), NULL);

	if (!p)
		fail_msg("pipeline failed to load: %s\n%s", err, text);
	return p;
}

/* ---- syntax and structure ------------------------------------------------- */

static void test_syntax_error_line(void **state)
{
	(void)state;
	FAILS_AT("name = \"x\";\n"
		 "stages = (\n"
		 "  { id = \"a\";\n"
		 "    plugin = ; }\n"
		 ");\n", 4, "syntax");
	/* An unterminated list is reported where the parser gave up. */
	FAILS_AT("name = \"x\";\n"
		 "voices = [\"a\", \"b\";\n", 2, "syntax");
}

static void test_missing_file(void **state)
{
	char err[512] = "", *path = util_path_join(dir, "nope.cfg");
	pipeline *p = pipeline_load(path, reg, err, sizeof(err));

	(void)state;
	assert_null(p);
	assert_non_null(strstr(err, path));
	free(path);
}

/* libconfig's @include would open anything (a directory made its scanner
 * exit the process, a FIFO hung it): refused where it stands. */
static void test_include_refused(void **state)
{
	char *sub = util_path_join(dir, "sub"), text[1024];

	(void)state;
	assert_int_equal(util_mkdir_p(sub, 0755), 0);
	snprintf(text, sizeof(text), "name = \"x\";\n\n  @include \"%s\"\n", sub);
	FAILS_AT(text, 3, "@include is not supported");
	free(sub);
}

/* A pipeline named on the command line that is not a regular file: an
 * error naming it, never a hang or an unbounded read. */
static void test_not_a_file(void **state)
{
	char err[512] = "", *fifo = util_path_join(dir, "fifo.cfg");
	pipeline *p;

	(void)state;
	p = pipeline_load(dir, reg, err, sizeof(err));
	assert_null(p);
	assert_non_null(strstr(err, "Is a directory"));
	p = pipeline_load("/dev/zero", reg, err, sizeof(err));
	assert_null(p);
	assert_non_null(strstr(err, "/dev/zero: larger than"));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10);
	p = pipeline_load(fifo, reg, err, sizeof(err));
	alarm(0);
	assert_null(p);
	assert_non_null(strstr(err, "fifo.cfg:"));
	unlink(fifo);
	free(fifo);
}

static void test_unknown_top_key(void **state)
{
	(void)state;
	FAILS_AT("name = \"x\";\n"
		 "stagez = ();\n", 2, "unknown top-level key \"stagez\"", "valid:", "stages");
}

static void test_no_stages(void **state)
{
	(void)state;
	FAILS_AT("name = \"x\";\nstages = ();\n", 2, "empty");
}

static void test_unknown_plugin(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\";\n"
		 "    plugin = \"nosuchplugin\";\n"
		 "    inputs = [\"question\"]; }\n"
		 ");\n", 3, "stage \"a\"", "unknown plugin \"nosuchplugin\"", "searched");
}

static void test_whole_numbers(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    retries = 1.7; }\n"
		 ");\n", 3, "\"retries\"", "whole number");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    progress = 20.9; }\n"
		 ");\n", 3, "\"progress\"", "whole number");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    timeout = 0.0004; }\n"
		 ");\n", 3, "stage \"a\"", "under a millisecond");
}

static void test_default_model_not_selectable(void **state)
{
	(void)state;
	FAILS_AT("models = ( { name = \"m1\"; id = \"p1\"; selectable = false; },\n"
		 "           { name = \"m2\"; id = \"p2\"; } );\n"
		 "default_model = \"m1\";\n"
		 "stages = ( { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; } );\n",
		 3, "default_model \"m1\"", "selectable = false");
}

static void test_unknown_input(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		 "  { id = \"b\"; plugin = \"testplug\";\n"
		 "    inputs = [\"a\", \"ghost\"]; }\n"
		 ");\n", 4, "stage \"b\"", "unknown input \"ghost\"");
}

static void test_self_input(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\";\n"
		 "    inputs = [\"a\"]; }\n"
		 ");\n", 3, "itself");
}

static void test_cycle(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"start\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"start\", \"c\"]; },\n"
		 "  { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"]; },\n"
		 "  { id = \"c\"; plugin = \"testplug\"; inputs = [\"b\"]; }\n"
		 ");\n", 3, "stage \"a\"", "cycle");
}

static void test_duplicate_id(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		 "  { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"]; },\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"b\"]; }\n"
		 ");\n", 4, "duplicate stage id \"a\"", "first at line 2");
}

static void test_bad_stage_id(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"question\"; plugin = \"testplug\"; inputs = [\"question\"]; }\n"
		 ");\n", 2, "question");
	FAILS_AT("stages = (\n\n"
		 "  { id = \"../x\"; plugin = \"testplug\"; inputs = [\"question\"]; }\n"
		 ");\n", 3, "../x");
}

static void test_unknown_stage_key(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    colour = \"red\"; }\n"
		 ");\n", 3, "unknown stage key \"colour\"", "valid:", "timeout", "on_error");
}

static void test_stage_value_errors(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    timeout = \"long\"; }\n"
		 ");\n", 3, "timeout", "number");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    retries = 11; }\n"
		 ");\n", 3, "retries", "0 to 10");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n\n"
		 "    progress = 101; }\n"
		 ");\n", 4, "progress");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    result = \"video_id\"; }\n"
		 ");\n", 3, "result \"video_id\"");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\";\n"
		 "    inputs = []; }\n"
		 ");\n", 3, "empty");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; }\n"
		 ");\n", 2, "no \"inputs\"");
}

/* ---- plugin settings -------------------------------------------------- */

static void test_setting_unknown(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    settings = {\n"
		 "      sleep_ms = 1;\n"
		 "      sleep = 5; }; }\n"
		 ");\n", 5, "plugin \"testplug\" has no setting \"sleep\"",
		 "valid: sleep_ms, fail_times, script_errors, ignore_cancel, text, kind");
}

static void test_setting_wrong_type(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    settings = {\n"
		 "      sleep_ms = \"soon\"; }; }\n"
		 ");\n", 4, "sleep_ms", "integer", "soon");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    settings = { kind = \"text\";\n"
		 "      text = 5; }; }\n"
		 ");\n", 4, "\"text\"", "string");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    settings = {\n"
		 "      ignore_cancel = 7; }; }\n"
		 ");\n", 4, "ignore_cancel", "boolean");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    settings = {\n"
		 "      sleep_ms = 1.5; }; }\n"
		 ");\n", 4, "sleep_ms", "integer");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    settings = \"sleep_ms=1\"; }\n"
		 ");\n", 3, "settings", "group");
}

static void test_setting_range(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"replay\"; inputs = [\"question\"];\n"
		 "    settings = { dir = \"answers\";\n"
		 "      delay_ms = 600001; }; }\n"
		 ");\n", 4, "delay_ms", "600001", "0 to 600000");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    settings = {\n"
		 "      fail_times = -1; }; }\n"
		 ");\n", 4, "fail_times", "-1");
	/* A range check applies to a value that came from ${VAR} too. */
	setenv("VG_T_DELAY", "999999", 1);
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"replay\"; inputs = [\"question\"];\n"
		 "    settings = { dir = \"answers\";\n"
		 "      delay_ms = \"${VG_T_DELAY}\"; }; }\n"
		 ");\n", 4, "delay_ms", "999999");
	unsetenv("VG_T_DELAY");
}

static void test_setting_choice(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"replay\"; inputs = [\"question\"];\n"
		 "    settings = { dir = \"answers\";\n"
		 "      kind = \"video\"; }; }\n"
		 ");\n", 4, "kind", "\"video\"", "text|script");
}

static void test_setting_required(void **state)
{
	(void)state;
	/* With a settings group, the error points at it... */
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"replay\"; inputs = [\"question\"];\n"
		 "    settings = {\n"
		 "      delay_ms = 1; }; }\n"
		 ");\n", 3, "needs setting \"dir\"");
	/* ...without one, at the stage. */
	FAILS_AT("stages = (\n"
		 "  { id = \"b\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		 "  { id = \"a\"; plugin = \"replay\"; inputs = [\"b\"]; }\n"
		 ");\n", 3, "stage \"a\"", "needs setting \"dir\"");
}

static void test_setting_unset_var(void **state)
{
	(void)state;
	unsetenv("VG_T_NOPE");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    settings = {\n"
		 "      text = \"${VG_T_NOPE}\"; }; }\n"
		 ");\n", 4, "VG_T_NOPE");
}

static void test_plugin_init_error(void **state)
{
	(void)state;
	/* replay's init() refuses a missing folder; the stage's line is given. */
	FAILS_AT("stages = (\n"
		 "  { id = \"b\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		 "  { id = \"a\"; plugin = \"replay\"; inputs = [\"b\"];\n"
		 "    settings = { dir = \"no-such-folder\"; }; }\n"
		 ");\n", 3, "stage \"a\"", "no-such-folder");
}

/* ---- repairs, models, voices ------------------------------------------- */

static void test_repair_not_ancestor(void **state)
{
	(void)state;
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		 "  { id = \"side\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		 "  { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"];\n"
		 "    on_error = { retry = \"side\"; max = 2; }; }\n"
		 ");\n", 5, "stage \"b\"", "on_error.retry \"side\"");
	/* A stage that comes later is not an ancestor either. */
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    on_error = { retry = \"b\"; }; },\n"
		 "  { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"]; }\n"
		 ");\n", 3, "on_error.retry \"b\"");
	FAILS_AT("stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		 "  { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\"];\n"
		 "    on_error = { retry = \"a\";\n"
		 "                 tries = 3; }; }\n"
		 ");\n", 5, "unknown on_error key \"tries\"");
}

static void test_model_not_listed(void **state)
{
	(void)state;
	FAILS_AT("models = ( { name = \"m1\"; id = \"p1\"; } );\n"
		 "stages = (\n"
		 "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
		 "    model = \"m2\"; }\n"
		 ");\n", 4, "model \"m2\"", "models");
	FAILS_AT("models = (\n"
		 "  { name = \"m1\"; id = \"p1\"; },\n"
		 "  { name = \"m1\"; id = \"p2\"; } );\n"
		 "stages = ( { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; } );\n",
		 3, "model \"m1\" is listed twice", "line 2");
	FAILS_AT("models = ( { name = \"m1\"; id = \"p1\"; } );\n"
		 "default_model = \"m9\";\n"
		 "stages = ( { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; } );\n",
		 2, "default_model \"m9\"");
	FAILS_AT("models = ( { name = \"m1\";\n"
		 "  id = \"\"; } );\n"
		 "stages = ( { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; } );\n",
		 1, "\"id\"");
}

static void test_voice_not_listed(void **state)
{
	(void)state;
	FAILS_AT("voices = [\"Joanna\", \"Matthew\"];\n"
		 "\n"
		 "default_voice = \"Brian\";\n"
		 "stages = ( { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; } );\n",
		 3, "default_voice \"Brian\"");
	FAILS_AT("voices = \"Joanna\";\n"
		 "stages = ( { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; } );\n",
		 1, "voices", "list");
}

/* The price table (`prices`, core/usage.c): every mistake named at its line. */
#define PRICE_HEAD "models = ( { name = \"m1\"; id = \"x\"; } );\n" \
	"stages = ( { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; } );\n"

static void test_prices_errors(void **state)
{
	(void)state;
	FAILS_AT(PRICE_HEAD "prices = {\n currency = \"usd\";\n rates = ();\n};\n", 4,
		 "currency", "three-letter");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; };\n", 3, "rates");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; tax = 1; rates = (); };\n", 3,
		 "unknown key \"tax\"");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { model = \"m1\";\n   input_tokens = 3.0;\n   output_tokns = 15.0; }\n); };\n",
		 6, "unknown counter \"output_tokns\"", "output_tokens");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { model = \"m2\"; input_tokens = 3.0; }\n); };\n", 4, "model \"m2\"");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { stage = \"zz\"; characters = 16.0; }\n); };\n", 4, "no stage \"zz\"");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { stage = \"a\";\n characters = -1.0; }\n); };\n", 5, "characters",
		 "from 0");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { stage = \"a\";\n characters = \"16\"; }\n); };\n", 5, "number");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { model = \"m1\"; stage = \"a\"; input_tokens = 1.0; }\n); };\n", 4,
		 "one model", "or");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { model = \"m1\";\n reasoning_tokens = 1.0; }\n); };\n", 5,
		 "reasoning_tokens", "output_tokens");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { model = \"m1\";\n cpu_seconds = 1.0; }\n); };\n", 5, "stage's rate");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { model = \"m1\"; input_tokens = 1.0; },\n"
		 " { model = \"m1\";\n input_tokens = 2.0; }\n); };\n", 6, "twice",
		 "line 4");
	FAILS_AT(PRICE_HEAD "prices = { currency = \"USD\"; rates = (\n"
		 " { model = \"m1\"; }\n); };\n", 4, "no price");
	FAILS_AT(PRICE_HEAD "\ncache_max_mb = 1.5;\n", 4, "cache_max_mb", "whole");
	FAILS_AT(PRICE_HEAD "cache_max_mb = -1;\n", 3, "cache_max_mb");
}

static void test_prices_valid(void **state)
{
	pipeline *p;

	(void)state;
	p = load_ok(PRICE_HEAD "cache_max_mb = 0;\nprices = { currency = \"EUR\"; rates = (\n"
		    " { model = \"m1\"; input_tokens = 3; output_tokens = 15.0; },\n"
		    " { stage = \"a\"; characters = 16.0; cpu_seconds = 0.36; }\n); };\n");
	assert_string_equal(p->prices.currency, "EUR");
	assert_int_equal(p->prices.n, 4);
	assert_int_equal(p->cache_max_bytes, 0);
	pipeline_free(p);
	p = load_ok(PRICE_HEAD);
	assert_string_equal(p->prices.currency, "");
	assert_int_equal(p->cache_max_bytes, (long long)PIPELINE_CACHE_MB_DEFAULT << 20);
	pipeline_free(p);
}

/* `artifacts`, else VIDGEN_ARTIFACTS: checked with the file's line, or the
 * variable's name; the file's wins; "" is none. */
static void test_artifacts(void **state)
{
	char err[2048] = "";
	pipeline *p;

	(void)state;
	unsetenv("VIDGEN_ARTIFACTS");
	FAILS_AT(PRICE_HEAD "artifacts = \"s3://Bad_Bucket/x\";\n", 3, "Bad_Bucket",
		 "bucket");
	FAILS_AT(PRICE_HEAD "\nartifacts = \"https://loli/x\";\n", 4, "s3://BUCKET/PREFIX");
	FAILS_AT(PRICE_HEAD "artifacts = \"s3://loli/../x\";\n", 3, "prefix");
	p = load_ok(PRICE_HEAD "artifacts = \"s3://loli/prod/v1/\";\n");
	assert_string_equal(p->artifacts, "s3://loli/prod/v1/");
	pipeline_free(p);
	p = load_ok(PRICE_HEAD);
	assert_null(p->artifacts);
	pipeline_free(p);
	setenv("VIDGEN_ARTIFACTS", "s3://from-env/jobs", 1);
	p = load_ok(PRICE_HEAD);
	assert_string_equal(p->artifacts, "s3://from-env/jobs");
	pipeline_free(p);
	p = load_ok(PRICE_HEAD "artifacts = \"s3://from-file\";\n");
	assert_string_equal(p->artifacts, "s3://from-file");
	pipeline_free(p);
	setenv("VIDGEN_ARTIFACTS", "s3://x/y", 1);
	p = th_pipeline(reg, dir, "env.cfg", PRICE_HEAD, err, sizeof(err), NULL);
	assert_null(p);
	assert_non_null(strstr(err, "VIDGEN_ARTIFACTS: artifacts \"s3://x/y\""));
	setenv("VIDGEN_ARTIFACTS", "", 1);
	p = load_ok(PRICE_HEAD "artifacts = \"\";\n");
	assert_null(p->artifacts);
	pipeline_free(p);
	unsetenv("VIDGEN_ARTIFACTS");
}

/* ---- valid files ------------------------------------------------------- */

static int pos_in_order(const pipeline *p, const char *id)
{
	int idx = pipeline_stage_index(p, id);

	for (size_t k = 0; k < p->n_stages; k++)
		if ((int)p->order[k] == idx)
			return (int)k;
	fail_msg("stage %s is not in the order", id);
	return -1;
}

static void test_valid_full(void **state)
{
	pipeline *p;
	const stage_def *st;
	const replay_mirror *rp;
	const testplug_mirror *tp;
	char *want;

	(void)state;
	setenv("VG_T_MODEL_ID", "anthropic.claude-sonnet-4", 1);
	unsetenv("VG_T_DELAY");
	/* Listed out of order: the loader must order them by their inputs. */
	p = load_ok("name = \"full\";\n"
		    "description = \"every field\";\n"
		    "voices = [\"Joanna\", \"Matthew\", \"Ruth\"];\n"
		    "default_voice = \"Matthew\";\n"
		    "models = (\n"
		    "  { name = \"claude-4-sonnet\"; id = \"${VG_T_MODEL_ID}\"; },\n"
		    "  { name = \"gpt-5\"; id = \"gpt-5\"; selectable = false; } );\n"
		    "default_model = \"claude-4-sonnet\";\n"
		    "stages = (\n"
		    "  { id = \"check\"; plugin = \"testplug\"; inputs = [\"refine\", \"narrate\"];\n"
		    "    status = \"validating_script\"; progress = 70; timeout = 2.5; retries = 3;\n"
		    "    on_error = { retry = \"explain\"; };\n"
		    "    settings = { sleep_ms = 15; fail_times = 2; ignore_cancel = true;\n"
		    "                 text = \"T\"; kind = \"script\"; }; },\n"
		    "  { id = \"refine\"; plugin = \"testplug\"; inputs = [\"explain\"];\n"
		    "    model = \"gpt-5\"; result = \"refined_explanation\"; progress = 40; },\n"
		    "  { id = \"narrate\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
		    "  { id = \"explain\"; plugin = \"replay\"; inputs = [\"question\"];\n"
		    "    status = \"generating_initial_explanation\"; progress = 20;\n"
		    "    result = \"initial_explanation\";\n"
		    "    settings = { dir = \"answers\"; delay_ms = \"${VG_T_DELAY:-250}\"; }; }\n"
		    ");\n");
	assert_string_equal(p->name, "full");
	assert_string_equal(p->description, "every field");
	assert_int_equal(p->n_voices, 3);
	assert_string_equal(p->voices[2], "Ruth");
	assert_string_equal(p->default_voice, "Matthew");
	assert_true(pipeline_has_voice(p, "Joanna"));
	assert_false(pipeline_has_voice(p, "joanna"));
	assert_int_equal(p->n_models, 2);
	assert_string_equal(pipeline_model(p, "claude-4-sonnet")->id, "anthropic.claude-sonnet-4");
	assert_int_equal(pipeline_model(p, "claude-4-sonnet")->selectable, 1);
	assert_int_equal(pipeline_model(p, "gpt-5")->selectable, 0);
	assert_int_equal(pipeline_model(p, "gpt-5")->line, 7);
	assert_null(pipeline_model(p, "claude-3-haiku"));
	assert_string_equal(p->default_model, "claude-4-sonnet");
	want = util_path_abs(dir); /* the file's own folder */
	assert_string_equal(p->dir, want);
	free(want);

	assert_int_equal(p->n_stages, 4);
	assert_int_equal(pipeline_stage_index(p, "explain"), 3);
	assert_int_equal(pipeline_stage_index(p, "nope"), -1);
	assert_true(pos_in_order(p, "explain") < pos_in_order(p, "refine"));
	assert_true(pos_in_order(p, "refine") < pos_in_order(p, "check"));
	assert_true(pos_in_order(p, "narrate") < pos_in_order(p, "check"));

	st = &p->stages[0];
	assert_string_equal(st->id, "check");
	assert_int_equal(st->line, 10);
	assert_int_equal(st->n_inputs, 2);
	assert_string_equal(st->inputs[0], "refine");
	assert_string_equal(st->inputs[1], "narrate");
	assert_int_equal(st->input_idx[0], 1);
	assert_int_equal(st->input_idx[1], 2);
	assert_string_equal(st->status, "validating_script");
	assert_int_equal(st->progress, 70);
	assert_int_equal(st->timeout_ms, 2500);
	assert_int_equal(st->retries, 3);
	assert_string_equal(st->repair_stage, "explain");
	assert_int_equal(st->repair_idx, 3);
	assert_int_equal(st->max_repairs, 2); /* the default */
	assert_null(st->model);
	tp = st->inst.data;
	assert_int_equal(tp->sleep_ms, 15);
	assert_int_equal(tp->fail_times, 2);
	assert_int_equal(tp->script_errors, 0); /* default "0" */
	assert_int_equal(tp->ignore_cancel, 1);
	assert_string_equal(tp->text, "T");
	assert_string_equal(tp->kind, "script");

	st = &p->stages[1];
	assert_string_equal(st->model, "gpt-5");
	assert_string_equal(st->result, "refined_explanation");
	assert_null(st->status);
	assert_int_equal(st->timeout_ms, 0);
	assert_int_equal(st->retries, 0);
	assert_null(st->repair_stage);

	st = &p->stages[2];
	assert_int_equal(st->progress, -1); /* none given */
	assert_int_equal(st->input_idx[0], SIZE_MAX); /* the question */
	tp = st->inst.data;
	assert_string_equal(tp->kind, "text"); /* defaults fill the instance */
	assert_string_equal(tp->text, "");

	st = &p->stages[3];
	assert_string_equal(st->plugin_name, "replay");
	assert_string_equal(st->plugin->desc->name, "replay");
	rp = st->inst.data;
	want = util_path_join(p->dir, "answers"); /* paths: against the file's folder */
	assert_string_equal(rp->dir, want);
	free(want);
	assert_int_equal(rp->delay_ms, 250);    /* ${VAR:-default} */
	assert_string_equal(rp->kind, "text");
	pipeline_free(p);
	unsetenv("VG_T_MODEL_ID");
}

static void test_valid_minimal(void **state)
{
	pipeline *p;

	(void)state;
	p = load_ok("stages = ( { id = \"only\"; plugin = \"testplug\"; inputs = [\"question\"]; } );\n");
	assert_null(p->name);
	assert_int_equal(p->n_models, 0);
	assert_int_equal(p->n_voices, 0);
	assert_null(p->default_voice);
	assert_int_equal(p->n_stages, 1);
	assert_int_equal(p->order[0], 0);
	pipeline_free(p);
	/* voices without default_voice: the first one is the default */
	p = load_ok("voices = [\"Ruth\", \"Joanna\"];\n"
		    "stages = ( { id = \"only\"; plugin = \"testplug\"; inputs = [\"question\"]; } );\n");
	assert_string_equal(p->default_voice, "Ruth");
	pipeline_free(p);
}

static void test_valid_diamond_order(void **state)
{
	pipeline *p;

	(void)state;
	p = load_ok("stages = (\n"
		    "  { id = \"d\"; plugin = \"testplug\"; inputs = [\"b\", \"c\"]; },\n"
		    "  { id = \"c\"; plugin = \"testplug\"; inputs = [\"a\"]; },\n"
		    "  { id = \"b\"; plugin = \"testplug\"; inputs = [\"a\", \"question\"]; },\n"
		    "  { id = \"a\"; plugin = \"testplug\"; inputs = [\"question\"]; }\n"
		    ");\n");
	assert_int_equal(pos_in_order(p, "a"), 0);
	assert_int_equal(pos_in_order(p, "d"), 3);
	pipeline_free(p);
}

static void test_print_settings(void **state)
{
	char err[256];
	const loaded_plugin *lp = registry_find(reg, "replay", err, sizeof(err));
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(lp);
	f = open_memstream(&buf, &len);
	settings_print(lp->desc, f);
	fclose(f);
	assert_non_null(strstr(buf, "replay"));
	assert_non_null(strstr(buf, "dir"));
	assert_non_null(strstr(buf, "required"));
	assert_non_null(strstr(buf, "delay_ms"));
	assert_non_null(strstr(buf, "text|script"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax_error_line),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_include_refused),
		cmocka_unit_test(test_not_a_file),
		cmocka_unit_test(test_unknown_top_key),
		cmocka_unit_test(test_no_stages),
		cmocka_unit_test(test_unknown_plugin),
		cmocka_unit_test(test_unknown_input),
		cmocka_unit_test(test_self_input),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_duplicate_id),
		cmocka_unit_test(test_bad_stage_id),
		cmocka_unit_test(test_unknown_stage_key),
		cmocka_unit_test(test_stage_value_errors),
		cmocka_unit_test(test_setting_unknown),
		cmocka_unit_test(test_setting_wrong_type),
		cmocka_unit_test(test_setting_range),
		cmocka_unit_test(test_setting_choice),
		cmocka_unit_test(test_setting_required),
		cmocka_unit_test(test_setting_unset_var),
		cmocka_unit_test(test_plugin_init_error),
		cmocka_unit_test(test_repair_not_ancestor),
		cmocka_unit_test(test_whole_numbers),
		cmocka_unit_test(test_default_model_not_selectable),
		cmocka_unit_test(test_model_not_listed),
		cmocka_unit_test(test_voice_not_listed),
		cmocka_unit_test(test_prices_errors),
		cmocka_unit_test(test_prices_valid),
		cmocka_unit_test(test_artifacts),
		cmocka_unit_test(test_valid_full),
		cmocka_unit_test(test_valid_minimal),
		cmocka_unit_test(test_valid_diamond_order),
		cmocka_unit_test(test_print_settings),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
