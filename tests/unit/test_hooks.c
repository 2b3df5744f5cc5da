/*
 * Unit tests for core/hooks.c: compiling specs, the sandbox (libraries,
 * read-only job table, instruction budget, memory cap), error positions,
 * thread safety, and the example hooks in lua/ on realistic inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "hook_server.h"
#include "hooks.h"
#include "util.h"
#include "vidgen/plugin.h"

#ifndef VG_TOP_SRCDIR
#define VG_TOP_SRCDIR "."
#endif

static char tmpdir[] = "/tmp/vg-test-hooks-XXXXXX";
static char err[1024];

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static void write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Writes name with src into the temp dir and compiles "name:func". */
static hook *compile_src(const char *name, const char *func, const char *src)
{
	char spec[256];

	write_file(name, src);
	snprintf(spec, sizeof(spec), "%s:%s", name, func);
	err[0] = '\0';
	return hook_compile(spec, tmpdir, err, sizeof(err));
}

/* Compiles "dir/file:func" from the source tree (lua/ or tests/e2e/hooks/). */
static hook *compile_tree(const char *spec)
{
	hook *h;

	err[0] = '\0';
	h = hook_compile(spec, VG_TOP_SRCDIR, err, sizeof(err));
	return h;
}

/* Runs h on text; returns the status and leaves the output in *out. */
static int call(const hook *h, const char *text, char **out)
{
	err[0] = '\0';
	return hook_call(h, text, NULL, out, err, sizeof(err));
}

/* Asserts that calling h fails with an error that starts with prefix and
 * contains needle. */
static void expect_fail(const hook *h, const char *text, const char *prefix,
			const char *needle)
{
	char *out = (char *)1;
	int rc = call(h, text, &out);

	if (rc == VG_OK || strncmp(err, prefix, strlen(prefix)) != 0 ||
	    (needle && !strstr(err, needle)))
		print_error("rc=%d err=\"%s\" (wanted \"%s...%s\")\n", rc, err,
			    prefix, needle ? needle : "");
	assert_int_equal(rc, VG_EINVAL);
	assert_null(out);
	assert_memory_equal(err, prefix, strlen(prefix));
	if (needle)
		assert_non_null(strstr(err, needle));
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return util_rm_rf(tmpdir);
}

/* ------------------------------------------------------------------------
 * Compiling
 * ------------------------------------------------------------------------ */

static void test_spec_errors(void **state)
{
	char big[HOOK_MAX_SOURCE + 64];
	hook *h;

	(void)state;
	write_file("ok.lua", "function f(t) return t end\n");
	h = hook_compile("ok.lua", tmpdir, err, sizeof(err));
	assert_null(h);
	assert_non_null(strstr(err, "expected \"path/file.lua:function\""));
	assert_null(hook_compile("ok.lua:", tmpdir, err, sizeof(err)));
	assert_null(hook_compile(":f", tmpdir, err, sizeof(err)));
	assert_null(hook_compile("ok.lua:1f", tmpdir, err, sizeof(err)));
	assert_null(hook_compile("ok.lua:f.g", tmpdir, err, sizeof(err)));
	assert_null(hook_compile(NULL, tmpdir, err, sizeof(err)));

	assert_null(hook_compile("missing.lua:f", tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, "missing.lua"));
	assert_non_null(strstr(err, "No such file"));

	mkdir("/tmp/vg-test-hooks-dir.lua", 0700);
	assert_null(hook_compile("/tmp/vg-test-hooks-dir.lua:f", NULL, err,
				 sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));
	rmdir("/tmp/vg-test-hooks-dir.lua");

	memset(big, '-', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file("big.lua", big);
	assert_null(hook_compile("big.lua:f", tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, "at most"));

	/* Bytecode is refused: only text chunks load. */
	write_file("bin.lua", "\x1bLuaT\x00garbage");
	assert_null(hook_compile("bin.lua:f", tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, "binary chunk"));
}

static void test_compile_ok_and_spec(void **state)
{
	hook *h = compile_src("id.lua", "same", "function same(t) return t end\n");

	(void)state;
	assert_non_null(h);
	assert_string_equal(hook_spec(h), "id.lua:same");
	assert_null(hook_spec(NULL));
	hook_free(h);
	hook_free(NULL);
}

static void test_syntax_error_has_file_and_line(void **state)
{
	hook *h = compile_tree("tests/e2e/hooks/lua/syntax.lua:broken");

	(void)state;
	assert_null(h);
	assert_string_equal(err, "tests/e2e/hooks/lua/syntax.lua:6: 'end' "
			    "expected (to close 'if' at line 3) near 'return'");
}

static void test_missing_function(void **state)
{
	hook *h;

	(void)state;
	h = compile_src("nofn.lua", "nope", "function yes(t) return t end\n");
	assert_null(h);
	assert_non_null(strstr(err, "no function 'nope' in nofn.lua"));
	/* A global that is not a function is no hook either. */
	h = compile_src("notfn.lua", "x", "x = 3\n");
	assert_null(h);
	assert_non_null(strstr(err, "no function 'x'"));
}

static void test_toplevel_error_and_loop(void **state)
{
	hook *h;

	(void)state;
	h = compile_src("top.lua", "f", "function f(t) return t end\n"
			"local x = nil\nx.y = 1\n");
	assert_null(h);
	assert_memory_equal(err, "top.lua:3: attempt to index", 27);
	/* The top level runs under the budget too. */
	h = compile_src("toploop.lua", "f", "function f(t) return t end\n"
			"while true do end\n");
	assert_null(h);
	assert_non_null(strstr(err, "toploop.lua:2: instruction budget"));
}

/* ------------------------------------------------------------------------
 * Calling
 * ------------------------------------------------------------------------ */

static void test_return_values(void **state)
{
	hook *h;
	char *out = NULL;

	(void)state;
	h = compile_src("ret.lua", "upper",
			"function upper(t) return t:upper() end\n"
			"function keep(t) return nil end\n");
	assert_non_null(h);
	assert_int_equal(call(h, "héllo wörld", &out), VG_OK);
	assert_string_equal(out, "HéLLO WöRLD");
	free(out);
	/* Empty text is text. */
	assert_int_equal(call(h, "", &out), VG_OK);
	assert_string_equal(out, "");
	free(out);
	hook_free(h);

	h = compile_src("keep.lua", "keep", "function keep(t) end\n");
	assert_non_null(h);
	out = (char *)1;
	assert_int_equal(call(h, "unchanged", &out), VG_OK);
	assert_null(out);
	assert_int_equal(hook_call(h, NULL, NULL, &out, err, sizeof(err)),
			 VG_EINVAL);
	hook_free(h);
}

static void test_module_table(void **state)
{
	hook *h;
	char *out = NULL;

	(void)state;
	/* A field of the returned table wins over a global of that name. */
	h = compile_src("mod.lua", "f", "local M = {}\n"
			"function f(t) return 'global' end\n"
			"function M.f(t) return 'module:' .. t end\n"
			"return M\n");
	assert_non_null(h);
	assert_int_equal(call(h, "x", &out), VG_OK);
	assert_string_equal(out, "module:x");
	free(out);
	hook_free(h);
}

static void test_number_return(void **state)
{
	hook *h = compile_tree("tests/e2e/hooks/lua/number.lua:answer");

	(void)state;
	assert_non_null(h);
	expect_fail(h, "question", "tests/e2e/hooks/lua/number.lua:2: answer "
		    "returned a number; a hook returns a string or nil", NULL);
	hook_free(h);
}

static void test_other_bad_returns(void **state)
{
	hook *h;

	(void)state;
	h = compile_src("bad.lua", "tbl", "\nfunction tbl(t) return {} end\n"
			"function bin(t) return '\\xff\\xfe' end\n");
	assert_non_null(h);
	expect_fail(h, "x", "bad.lua:2: tbl returned a table", NULL);
	hook_free(h);
	h = hook_compile("bad.lua:bin", tmpdir, err, sizeof(err));
	assert_non_null(h);
	expect_fail(h, "x", "bad.lua:3: the returned text is not valid UTF-8",
		    NULL);
	hook_free(h);
	h = compile_src("nul.lua", "nul", "function nul(t) return 'a\\0b' end\n");
	assert_non_null(h);
	expect_fail(h, "x", "nul.lua:1: the returned text", "NUL");
	hook_free(h);
	h = compile_src("bool.lua", "bool", "function bool(t) return false end\n");
	assert_non_null(h);
	expect_fail(h, "x", "bool.lua:1: bool returned a boolean", NULL);
	hook_free(h);
}

static void test_runtime_errors_have_lines(void **state)
{
	hook *h;

	(void)state;
	h = compile_src("rt.lua", "f", "function f(t)\n"
			"  local n = nil\n"
			"  return n .. t\n"
			"end\n");
	assert_non_null(h);
	expect_fail(h, "x", "rt.lua:3: attempt to concatenate a nil value",
		    NULL);
	hook_free(h);

	/* error() with level 0 or a non-string value still gets a line. */
	h = compile_src("err0.lua", "f", "function f(t)\n"
			"  error('plain', 0)\nend\n");
	assert_non_null(h);
	expect_fail(h, "x", "err0.lua:2: plain", NULL);
	hook_free(h);
	h = compile_src("errt.lua", "f", "function f(t)\n\n"
			"  error({code = 1})\nend\n");
	assert_non_null(h);
	expect_fail(h, "x", "errt.lua:3: (error object is a table value)",
		    NULL);
	hook_free(h);
	/* An error object whose __tostring loops still ends, with the budget. */
	h = compile_src("errs.lua", "f", "function f(t)\n"
			"  error(setmetatable({}, {__tostring = function()\n"
			"    while true do end end}))\nend\n");
	assert_non_null(h);
	assert_int_equal(hook_set_limits(h, 50000, 0, err, sizeof(err)), VG_OK);
	expect_fail(h, "x", "errs.lua:", "instruction budget of 50000 exceeded");
	hook_free(h);
	/* A bad argument to a library function blames the calling line. */
	h = compile_src("arg.lua", "f", "function f(t)\n"
			"  return string.rep(t, 'many')\nend\n");
	assert_non_null(h);
	expect_fail(h, "x", "arg.lua:2: bad argument #2 to 'rep'", NULL);
	hook_free(h);
	/* Errors raised in a helper of another function blame the helper. */
	h = compile_src("deep.lua", "f", "local function helper(s)\n"
			"  return s.missing.field\nend\n"
			"function f(t) return helper(t) end\n");
	assert_non_null(h);
	expect_fail(h, "x", "deep.lua:2: attempt to index", NULL);
	hook_free(h);
}

/* ------------------------------------------------------------------------
 * The sandbox
 * ------------------------------------------------------------------------ */

static void test_sandbox_globals(void **state)
{
	static const char src[] =
		"function f(t)\n"
		"  local absent = {'io', 'os', 'package', 'require', 'load',\n"
		"    'loadfile', 'dofile', 'debug', 'rawset', 'loadstring',\n"
		"    'warn', 'module'}\n"
		"  local seen = {}\n"
		"  for _, name in ipairs(absent) do\n"
		"    if _G[name] ~= nil then seen[#seen + 1] = name end\n"
		"  end\n"
		"  if string.dump ~= nil then seen[#seen + 1] = 'string.dump' end\n"
		"  for _, lib in ipairs({'string', 'table', 'math', 'utf8',\n"
		"      'vidgen', 'pairs', 'pcall', 'tostring', 'print'}) do\n"
		"    if _G[lib] == nil then seen[#seen + 1] = 'no ' .. lib end\n"
		"  end\n"
		"  if utf8.len('héllo') ~= 5 then seen[#seen + 1] = 'utf8' end\n"
		"  if type(collectgarbage('count')) ~= 'number' then\n"
		"    seen[#seen + 1] = 'count' end\n"
		"  if pcall(collectgarbage, 'stop') then seen[#seen + 1] = 'stop' end\n"
		"  if pcall(collectgarbage, 'incremental', 1) then\n"
		"    seen[#seen + 1] = 'incremental' end\n"
		"  collectgarbage()\n"
		"  print('hello from', t)\n"
		"  return table.concat(seen, ',')\n"
		"end\n";
	hook *h = compile_src("globals.lua", "f", src);
	char *out = NULL;

	(void)state;
	assert_non_null(h);
	assert_int_equal(call(h, "test", &out), VG_OK);
	assert_string_equal(out, "");
	free(out);
	hook_free(h);
}

static void test_escapes_fail_with_lines(void **state)
{
	static const struct {
		const char *func;
		const char *prefix;
	} cases[] = {
		{ "os_execute", ":3: attempt to index a nil value (global 'os')" },
		{ "io_open", ":8: attempt to index a nil value (global 'io')" },
		{ "require_os", ":13: attempt to call a nil value (global "
		  "'require')" },
		{ "load_code", ":17: attempt to call a nil value (global 'load')" },
		{ "dump", ":21: attempt to call a nil value (field 'dump')" },
		{ "write_job", ":25: the job table is read-only" },
	};
	char spec[128], prefix[256];
	size_t i;
	hook *h;

	(void)state;
	unlink("/tmp/vidgen-hook-escaped");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(spec, sizeof(spec), "tests/e2e/hooks/lua/escape.lua:%s",
			 cases[i].func);
		snprintf(prefix, sizeof(prefix), "tests/e2e/hooks/lua/escape.lua%s",
			 cases[i].prefix);
		h = compile_tree(spec);
		assert_non_null(h);
		expect_fail(h, "question", prefix, NULL);
		hook_free(h);
	}
	assert_int_equal(access("/tmp/vidgen-hook-escaped", F_OK), -1);
}

static void test_job_table_read_only(void **state)
{
	static const char src[] =
		"function f(t, job)\n"
		"  local keys = {}\n"
		"  for k, v in pairs(job) do keys[#keys + 1] = k end\n"
		"  table.sort(keys)\n"
		"  local arts = {}\n"
		"  for k, v in pairs(job.artifacts) do arts[#arts + 1] = k .. '=' .. v end\n"
		"  table.sort(arts)\n"
		"  assert(getmetatable(job) == 'read-only')\n"
		"  assert(not pcall(setmetatable, job, {}))\n"
		"  assert(rawget(job, 'question') == nil)\n"
		"  local ok, e = pcall(function() job.artifacts.explain = 'x' end)\n"
		"  assert(not ok and e:find('read%-only'))\n"
		"  assert(job.artifacts.explain == 'An explanation.')\n"
		"  return table.concat({job.id, job.question, job.model, job.voice,\n"
		"    job.stage, table.concat(keys, ','), table.concat(arts, ';')}, '|')\n"
		"end\n"
		"function g(t, job) return tostring(job.question) end\n";
	static const hook_artifact arts[] = {
		{ "question", "Why is the sky blue?" },
		{ "explain", "An explanation." },
		{ NULL, "skipped" },
	};
	hook_job_view job = {
		.job_id = "0b7e7c32-0000-4000-8000-000000000001",
		.question = "Why is the sky blue?", .model = "claude-4-sonnet",
		.voice = "Joanna", .stage = "refine",
		.artifacts = arts, .n_artifacts = 3,
	};
	hook *h = compile_src("job.lua", "f", src);
	char *out = NULL;

	(void)state;
	assert_non_null(h);
	assert_int_equal(hook_call(h, "t", &job, &out, err, sizeof(err)), VG_OK);
	assert_string_equal(out, "0b7e7c32-0000-4000-8000-000000000001|"
			    "Why is the sky blue?|claude-4-sonnet|Joanna|refine|"
			    "artifacts,id,model,question,stage,voice|"
			    "explain=An explanation.;question=Why is the sky blue?");
	free(out);
	hook_free(h);
	/* Without a job view the table exists and its fields are nil. */
	h = compile_src("job.lua", "g", src);
	assert_non_null(h);
	assert_int_equal(call(h, "t", &out), VG_OK);
	assert_string_equal(out, "nil");
	free(out);
	hook_free(h);
}

static void test_fresh_state_per_call(void **state)
{
	hook *h = compile_src("state.lua", "f", "count = 0\n"
			      "function f(t)\n"
			      "  count = count + 1\n"
			      "  string.upper = nil\n"
			      "  return tostring(count)\n"
			      "end\n");
	char *out = NULL;
	int i;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < 3; i++) {
		assert_int_equal(call(h, "x", &out), VG_OK);
		assert_string_equal(out, "1");
		free(out);
	}
	hook_free(h);
}

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

static void test_endless_loop(void **state)
{
	hook *h = compile_tree("tests/e2e/hooks/lua/loop.lua:spin");
	char *out = NULL;
	long long t0;

	(void)state;
	assert_non_null(h);
	/* The default limits stop it within a few seconds: the instruction
	 * budget (about a second here), or on a machine busy enough to run it
	 * five times slower, the 5 s wall clock. Which one depends on the
	 * machine's load, so either is right here; valgrind runs Lua 30 times
	 * slower: trust the smaller budget below there. */
	if (!RUNNING_ON_VALGRIND) {
		t0 = util_now_ms();
		assert_int_equal(call(h, "x", &out), VG_EINVAL);
		assert_true(util_now_ms() - t0 < 10000);
		assert_true(strstr(err, "instruction budget of 100000000 exceeded") ||
			    strstr(err, "still running after 5 s"));
	}
	/* A smaller budget stops it sooner, and always first: 20 000
	 * instructions take well under a millisecond, the wall clock 2 s. */
	assert_int_equal(hook_set_limits(h, 20000, 0, err, sizeof(err)), VG_OK);
	expect_fail(h, "x", "tests/e2e/hooks/lua/loop.lua:", "budget of 20000");
	hook_free(h);

	/* The same hook object still works for a normal call afterwards. */
	h = compile_src("fine.lua", "f", "function f(t) return t .. '!' end\n");
	assert_non_null(h);
	assert_int_equal(call(h, "ok", &out), VG_OK);
	assert_string_equal(out, "ok!");
	free(out);
	hook_free(h);
}

static void test_pcall_cannot_swallow_budget(void **state)
{
	hook *h = compile_tree("tests/e2e/hooks/lua/swallow.lua:swallow");

	(void)state;
	assert_non_null(h);
	assert_int_equal(hook_set_limits(h, 100000, 0, err, sizeof(err)), VG_OK);
	expect_fail(h, "x", "tests/e2e/hooks/lua/swallow.lua:", "instruction "
		    "budget of 100000 exceeded");
	hook_free(h);
}

/* Pattern matching runs in C, where the instruction budget never looks: a
 * backtracking pattern ran for minutes. The call's process is stopped at
 * its wall-clock limit (2 s for the smallest budget), pcall or not, and
 * the next call works. */
static void test_library_call_past_budget(void **state)
{
	const char *aaa = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	hook *h = compile_src("redos.lua", "f",
			      "function f(t)\n"
			      "  if t == 'ok' then return 'fine' end\n"
			      "  while true do pcall(string.find, t, string.rep('a*', 30) .. 'b') end\n"
			      "end\n");
	char *out = NULL;
	long long t0;

	(void)state;
	assert_non_null(h);
	assert_int_equal(hook_set_limits(h, HOOK_MIN_INSTRUCTIONS, 0, err, sizeof(err)), VG_OK);
	t0 = util_now_ms();
	expect_fail(h, aaa, "hook \"redos.lua:f\": ", "still running after 2 s, stopped");
	assert_true(util_now_ms() - t0 >= HOOK_MIN_CALL_MS - 100);
	if (!RUNNING_ON_VALGRIND)
		assert_true(util_now_ms() - t0 < 10000);
	assert_int_equal(call(h, "ok", &out), VG_OK);
	assert_string_equal(out, "fine");
	free(out);
	/* The default limits end it after 5 s (the budget cannot, as no Lua
	 * instruction runs). */
	if (!RUNNING_ON_VALGRIND) {
		assert_int_equal(hook_set_limits(h, HOOK_DEFAULT_INSTRUCTIONS, 0, err,
						 sizeof(err)), VG_OK);
		t0 = util_now_ms();
		expect_fail(h, aaa, "hook \"redos.lua:f\": ", "still running after 5 s, stopped");
		assert_true(util_now_ms() - t0 >= 4900);
		assert_true(util_now_ms() - t0 < 10000);
	}
	hook_free(h);
}

/* The hook server, killed (or dead of anything), is started again by the
 * next call, which works; the new one is a one-threaded process of its own
 * group, not a fork of the caller. */
static void test_server_restart(void **state)
{
	hook *h = compile_src("up.lua", "f", "function f(t) return t:upper() end\n");
	char *out = NULL, path[64], *stat = NULL;
	size_t len;
	long pid;

	(void)state;
	assert_non_null(h);
	assert_int_equal(call(h, "one", &out), VG_OK);
	assert_string_equal(out, "ONE");
	free(out);
	pid = hook_server_pid();
	assert_true(pid > 0);
	assert_int_equal(getpgid((pid_t)pid), (pid_t)pid);
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	assert_int_equal(util_read_file(path, 1 << 16, &stat, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(stat, "\nThreads:\t1\n"));
	free(stat);
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	usleep(50000);
	assert_int_equal(call(h, "two", &out), VG_OK);
	assert_string_equal(out, "TWO");
	free(out);
	assert_true(hook_server_pid() > 0);
	assert_true(hook_server_pid() != pid);
	hook_free(h);
}

/* The shipped strip_fences on a script with 100 KB of spaces before its
 * last character: trimming with gsub("%s+$") retried from every space (30 s
 * in C, out of the budget's sight); the loop that replaced it is linear. */
static void test_strip_fences_long_spaces(void **state)
{
	hook *h = compile_tree("lua/script.lua:strip_fences");
	const char *head = "```python\nclass S(Scene):\n    pass";
	size_t hl = strlen(head), n = 100000, tail = 1000;
	char *in = malloc(hl + n + 1 + tail + 6), *out = NULL;
	long long t0;

	(void)state;
	assert_non_null(h);
	assert_non_null(in);
	memcpy(in, head, hl);
	memset(in + hl, ' ', n);
	in[hl + n] = 'x';
	memset(in + hl + n + 1, ' ', tail);
	strcpy(in + hl + n + 1 + tail, "\n```\n");
	t0 = util_now_ms();
	assert_int_equal(call(h, in, &out), VG_OK);
	if (!RUNNING_ON_VALGRIND)
		assert_true(util_now_ms() - t0 < 5000);
	/* The fence's body, its trailing spaces trimmed. */
	assert_int_equal(strlen(out), hl - 10 + n + 2);
	assert_memory_equal(out, head + 10, hl - 10);
	assert_string_equal(out + hl - 10 + n, "x\n");
	free(out);
	free(in);
	hook_free(h);
}

static void test_memory_bomb(void **state)
{
	hook *h = compile_tree("tests/e2e/hooks/lua/bomb.lua:bomb");

	(void)state;
	assert_non_null(h);
	expect_fail(h, "x", "tests/e2e/hooks/lua/bomb.lua:6: memory cap of 64 "
		    "MiB exceeded", NULL);
	assert_int_equal(hook_set_limits(h, 0, 4 << 20, err, sizeof(err)), VG_OK);
	expect_fail(h, "x", "tests/e2e/hooks/lua/bomb.lua:6: memory cap of 4 "
		    "MiB exceeded", NULL);
	hook_free(h);

	h = compile_tree("tests/e2e/hooks/lua/bomb.lua:one_huge");
	assert_non_null(h);
	expect_fail(h, "abc", "tests/e2e/hooks/lua/bomb.lua:13: memory cap of "
		    "64 MiB exceeded", NULL);
	hook_free(h);

	/* Doubling a string in a short loop: the exact line, no call to
	 * blame and too few instructions for a sample. */
	h = compile_src("double.lua", "f", "function f(t)\n"
			"  local s = t\n"
			"  for i = 1, 40 do\n"
			"    s = s .. s\n"
			"  end\n"
			"  return s\nend\n");
	assert_non_null(h);
	expect_fail(h, "x", "double.lua:4: memory cap of 64 MiB exceeded", NULL);
	hook_free(h);

	/* A table that grows in the VM, without calls, is caught too. */
	h = compile_src("grow.lua", "f", "function f(t)\n"
			"  local a = {}\n"
			"  for i = 1, math.maxinteger do a[i] = i end\n"
			"end\n");
	assert_non_null(h);
	assert_int_equal(hook_set_limits(h, 0, 8 << 20, err, sizeof(err)), VG_OK);
	expect_fail(h, "x", "grow.lua:3: memory cap of 8 MiB exceeded", NULL);
	hook_free(h);
}

static void test_input_larger_than_cap(void **state)
{
	hook *h = compile_src("id2.lua", "f", "function f(t) return t end\n");
	size_t n = (size_t)3 << 20;
	char *big = malloc(n + 1), *out = NULL;

	(void)state;
	assert_non_null(h);
	assert_non_null(big);
	memset(big, 'a', n);
	big[n] = '\0';
	assert_int_equal(hook_set_limits(h, 0, 2 << 20, err, sizeof(err)), VG_OK);
	expect_fail(h, big, "hook \"id2.lua:f\": memory cap of 2 MiB exceeded "
		    "before the hook ran (input of 3145728 bytes)", NULL);
	assert_int_equal(hook_set_limits(h, 0, 16 << 20, err, sizeof(err)),
			 VG_OK);
	assert_int_equal(call(h, big, &out), VG_OK);
	assert_int_equal(strlen(out), n);
	free(out);
	free(big);
	hook_free(h);
}

/* Lua runs finalizers with debug hooks off, out of the budget's reach: a
 * hook may not set one. */
static void test_no_finalizers(void **state)
{
	hook *h = compile_src("gc.lua", "f", "function f(t)\n"
			      "  setmetatable({}, {__gc = function()\n"
			      "    while true do end end})\n"
			      "  return t\nend\n"
			      "function g(t)\n"
			      "  local mt = {__index = {hi = 'hi'}}\n"
			      "  local o, keep = setmetatable({}, mt), setmetatable({}, mt)\n"
			      "  mt.__gc = function() while true do end end\n"
			      "  o = nil\n"
			      "  collectgarbage()\n"
			      "  return keep.hi\nend\n");
	char *out = NULL;

	(void)state;
	assert_non_null(h);
	expect_fail(h, "x", "gc.lua:2: __gc metamethods are not allowed", NULL);
	hook_free(h);
	/* A __gc added after setmetatable never marks the object. */
	h = hook_compile("gc.lua:g", tmpdir, err, sizeof(err));
	assert_non_null(h);
	assert_int_equal(call(h, "x", &out), VG_OK);
	assert_string_equal(out, "hi");
	free(out);
	hook_free(h);
}

static void test_set_limits_ranges(void **state)
{
	hook *h = compile_src("lim.lua", "f", "function f(t) return t end\n");

	(void)state;
	assert_non_null(h);
	assert_int_equal(hook_set_limits(h, 10, 0, err, sizeof(err)), VG_EINVAL);
	assert_non_null(strstr(err, "instruction budget must be between"));
	assert_int_equal(hook_set_limits(h, 0, 1024, err, sizeof(err)),
			 VG_EINVAL);
	assert_non_null(strstr(err, "memory cap must be between 1 and 1024 MiB"));
	assert_int_equal(hook_set_limits(h, 0, (size_t)2 << 30, err,
					 sizeof(err)), VG_EINVAL);
	assert_int_equal(hook_set_limits(h, 0, 0, err, sizeof(err)), VG_OK);
	hook_free(h);
}

/* print/vidgen.log go to the log, one line each, capped per call, with
 * control characters flattened. */
static void test_log_lines(void **state)
{
	char path[512], *text = NULL, *out = NULL;
	size_t len = 0, lines = 0, i;
	int saved, fd;
	hook *h;

	(void)state;
	h = compile_src("log.lua", "f", "function f(t)\n"
			"  vidgen.warn('fake\\nerror line')\n"
			"  for i = 1, 500 do vidgen.log('line ' .. i) end\n"
			"  return t\nend\n");
	assert_non_null(h);
	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	assert_int_equal(call(h, "x", &out), VG_OK);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	free(out);
	assert_int_equal(util_read_file(path, 1 << 20, &text, &len, err,
					sizeof(err)), 0);
	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	assert_int_equal(lines, 101); /* 100 lines + "dropped" */
	assert_non_null(strstr(text, "hook log.lua:f: fake error line"));
	assert_non_null(strstr(text, "further log lines from this call dropped"));
	assert_null(strstr(text, "line 101"));
	free(text);
	hook_free(h);
}

/* ------------------------------------------------------------------------
 * Threads: failures in some jobs do not disturb the others.
 * ------------------------------------------------------------------------ */

struct worker {
	const hook *ok, *loop, *bomb;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char e[512], text[64], want[64], *out;
	int i;

	for (i = 0; i < 40; i++) {
		snprintf(text, sizeof(text), "job %d", i);
		snprintf(want, sizeof(want), "JOB %d", i);
		out = NULL;
		if (hook_call(w->ok, text, NULL, &out, e, sizeof(e)) != VG_OK ||
		    !out || strcmp(out, want) != 0)
			w->failures++;
		free(out);
		if (i % 10 == 0) {
			if (hook_call(w->loop, text, NULL, &out, e,
				      sizeof(e)) == VG_OK ||
			    !strstr(e, "instruction budget"))
				w->failures++;
			if (hook_call(w->bomb, text, NULL, &out, e,
				      sizeof(e)) == VG_OK ||
			    !strstr(e, "memory cap"))
				w->failures++;
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct worker w[4];
	pthread_t t[4];
	hook *ok, *loop, *bomb;
	int i;

	(void)state;
	ok = compile_src("up.lua", "f", "function f(t) return t:upper() end\n");
	loop = compile_tree("tests/e2e/hooks/lua/loop.lua:spin");
	bomb = compile_tree("tests/e2e/hooks/lua/bomb.lua:bomb");
	assert_non_null(ok);
	assert_non_null(loop);
	assert_non_null(bomb);
	assert_int_equal(hook_set_limits(loop, 200000, 0, err, sizeof(err)), 0);
	assert_int_equal(hook_set_limits(bomb, 0, 4 << 20, err, sizeof(err)), 0);
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ ok, loop, bomb, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]),
				 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	hook_free(ok);
	hook_free(loop);
	hook_free(bomb);
}

/* ------------------------------------------------------------------------
 * The example hooks in lua/, on realistic inputs
 * ------------------------------------------------------------------------ */

/* Compiles spec from the tree, runs it on text; returns malloc'd output. */
static char *run_example(const char *spec, const char *text)
{
	hook *h = compile_tree(spec);
	char *out = NULL;

	if (h == NULL)
		print_error("compile %s: %s\n", spec, err);
	assert_non_null(h);
	if (call(h, text, &out) != VG_OK)
		print_error("%s: %s\n", spec, err);
	assert_string_equal(err, "");
	hook_free(h);
	return out;
}

static void test_example_audience(void **state)
{
	static const char q[] = "Explain the Pythagorean theorem with visual proof";
	char *out, *again;
	hook *h;

	(void)state;
	out = run_example("lua/audience.lua:for_kids", q);
	assert_non_null(out);
	assert_non_null(strstr(out, "10-year-old"));
	assert_non_null(strstr(out, "\n\nQuestion: Explain the Pythagorean"));
	/* Idempotent: a retried stage does not stack instructions. */
	h = compile_tree("lua/audience.lua:for_experts");
	assert_non_null(h);
	assert_int_equal(call(h, out, &again), VG_OK);
	assert_null(again);
	free(out);
	assert_int_equal(call(h, q, &out), VG_OK);
	assert_non_null(strstr(out, "university degree"));
	free(out);
	hook_free(h);
	out = run_example("lua/audience.lua:for_students", q);
	assert_non_null(strstr(out, "high-school student"));
	free(out);
}

static void test_example_strip_fences(void **state)
{
	static const char claude[] =
		"I'll create a Manim script that visualizes the Pythagorean "
		"theorem with a visual proof.\n\n"
		"```python\n"
		"from manim import *\n\n"
		"class PythagoreanProof(Scene):\n"
		"    def construct(self):\n"
		"        title = Text(\"Pythagorean Theorem\", font_size=48)\n"
		"        self.play(Write(title))\n"
		"        self.wait(1)\n"
		"```\n\n"
		"This script:\n"
		"1. Shows the title\n"
		"2. Waits one second\n\n"
		"Let me know if you'd like any changes!";
	static const char want[] =
		"from manim import *\n\n"
		"class PythagoreanProof(Scene):\n"
		"    def construct(self):\n"
		"        title = Text(\"Pythagorean Theorem\", font_size=48)\n"
		"        self.play(Write(title))\n"
		"        self.wait(1)\n";
	static const char two_blocks[] =
		"First install Manim:\n\n```bash\npip install manim\n```\n\n"
		"Then save this as scene.py:\n\n```py\n"
		"from manim import *\n\nclass Search(Scene):\n"
		"    def construct(self):\n        self.wait()\n```\n";
	static const char bare[] =
		"Here is the corrected script:\n\n"
		"from manim import *\n\nclass Fixed(Scene):\n"
		"    def construct(self):\n        self.wait(2)\n\n"
		"I fixed the indentation of construct.";
	static const char truncated[] =
		"```python\nfrom manim import *\n\nclass Cut(Scene):\n"
		"    def construct(self):\n        self.play(Create(Circle()))";
	char *out;

	(void)state;
	out = run_example("lua/script.lua:strip_fences", claude);
	assert_string_equal(out, want);
	free(out);
	/* Clean code is kept as it is. */
	assert_null(run_example("lua/script.lua:strip_fences", want));
	out = run_example("lua/script.lua:strip_fences", two_blocks);
	assert_string_equal(out, "from manim import *\n\nclass Search(Scene):\n"
			    "    def construct(self):\n        self.wait()\n");
	free(out);
	out = run_example("lua/script.lua:strip_fences", bare);
	assert_string_equal(out, "from manim import *\n\nclass Fixed(Scene):\n"
			    "    def construct(self):\n        self.wait(2)\n");
	free(out);
	out = run_example("lua/script.lua:strip_fences", truncated);
	assert_string_equal(out, "from manim import *\n\nclass Cut(Scene):\n"
			    "    def construct(self):\n"
			    "        self.play(Create(Circle()))\n");
	free(out);
	/* Windows line ends from some proxies. */
	out = run_example("lua/script.lua:strip_fences",
			  "Sure:\r\n```python\r\nfrom manim import *\r\n```\r\n");
	assert_string_equal(out, "from manim import *\n");
	free(out);
}

static void test_example_house_style(void **state)
{
	static const char script[] =
		"from manim import *\nimport numpy as np\n\n"
		"class Proof(Scene):\n"
		"    def construct(self):\n"
		"        title = Text(\"Pythagorean Theorem\", font_size=96)\n"
		"        note = Text(\"a, b: legs\", font_size = 12.5)\n"
		"        eq = MathTex(\"a^2+b^2=c^2\", font_size=48)\n"
		"        self.play(Write(title), Write(eq))\n";
	static const char want[] =
		"from manim import *\nimport numpy as np\n"
		"config.background_color = \"#1C1F26\"\n\n"
		"class Proof(Scene):\n"
		"    def construct(self):\n"
		"        title = Text(\"Pythagorean Theorem\", font_size=72)\n"
		"        note = Text(\"a, b: legs\", font_size = 24)\n"
		"        eq = MathTex(\"a^2+b^2=c^2\", font_size=48)\n"
		"        self.play(Write(title), Write(eq))\n";
	static const char own_bg[] =
		"from manim import *\nconfig.background_color = WHITE\n\n"
		"class S(Scene):\n    def construct(self):\n"
		"        self.camera.background_color = '#FFFFFF'\n";
	char *out;

	(void)state;
	out = run_example("lua/house_style.lua:house_style", script);
	assert_string_equal(out, want);
	/* Styled code is left alone. */
	assert_null(run_example("lua/house_style.lua:house_style", out));
	free(out);
	out = run_example("lua/house_style.lua:house_style",
			  "import manim\nconfig['background_color'] = '#000'\n");
	assert_string_equal(out, "import manim\n"
			    "config['background_color'] = \"#1C1F26\"\n");
	free(out);
	out = run_example("lua/house_style.lua:house_style", own_bg);
	assert_string_equal(out, "from manim import *\n"
			    "config.background_color = \"#1C1F26\"\n\n"
			    "class S(Scene):\n    def construct(self):\n"
			    "        self.camera.background_color = \"#1C1F26\"\n");
	free(out);
}

static void test_example_redact(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "Explain the Pythagorean theorem. Mail me at "
		  "john.doe+math@example.co.uk or call +1 (555) 123-4567.",
		  "Explain the Pythagorean theorem. Mail me at [email] or "
		  "call [phone]." },
		{ "Bonjour, je suis Ana (ana_p@uni-lyon.fr, 06 12 34 56 78): "
		  "comment marchent les dérivées ?",
		  "Bonjour, je suis Ana ([email], [phone]): comment marchent "
		  "les dérivées ?" },
		{ "Call 555.123.4567 or 555-123-4567 or (020) 7946 0958.",
		  "Call [phone] or [phone] or [phone]." },
		{ "Why is 1234567891 prime? What about 1 000 000 000, "
		  "3.14159265358979 and 2024-01-15?", NULL },
		{ "Explain binary search in 10 steps for arrays of 1,000,000 "
		  "items", NULL },
	};
	char *out;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = run_example("lua/redact.lua:redact", cases[i].in);
		if (cases[i].out == NULL) {
			assert_null(out);
		} else {
			assert_non_null(out);
			assert_string_equal(out, cases[i].out);
		}
		free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_compile_ok_and_spec),
		cmocka_unit_test(test_syntax_error_has_file_and_line),
		cmocka_unit_test(test_missing_function),
		cmocka_unit_test(test_toplevel_error_and_loop),
		cmocka_unit_test(test_return_values),
		cmocka_unit_test(test_module_table),
		cmocka_unit_test(test_number_return),
		cmocka_unit_test(test_other_bad_returns),
		cmocka_unit_test(test_runtime_errors_have_lines),
		cmocka_unit_test(test_sandbox_globals),
		cmocka_unit_test(test_escapes_fail_with_lines),
		cmocka_unit_test(test_job_table_read_only),
		cmocka_unit_test(test_fresh_state_per_call),
		cmocka_unit_test(test_endless_loop),
		cmocka_unit_test(test_pcall_cannot_swallow_budget),
		cmocka_unit_test(test_library_call_past_budget),
		cmocka_unit_test(test_strip_fences_long_spaces),
		cmocka_unit_test(test_memory_bomb),
		cmocka_unit_test(test_input_larger_than_cap),
		cmocka_unit_test(test_no_finalizers),
		cmocka_unit_test(test_set_limits_ranges),
		cmocka_unit_test(test_log_lines),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_server_restart),
		cmocka_unit_test(test_example_audience),
		cmocka_unit_test(test_example_strip_fences),
		cmocka_unit_test(test_example_house_style),
		cmocka_unit_test(test_example_redact),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
