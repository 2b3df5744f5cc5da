/*
 * Unit tests for core/proc.c (svc->spawn): exit codes, redirections, a
 * clean environment, rlimits, and timeouts/cancellation that kill the whole
 * process group.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "proc.h"
#include "util.h"

static char tmpdir[64];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_proc.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	util_rm_rf(tmpdir);
	return 0;
}

static char *tmp_path(const char *name)
{
	return util_path_join(tmpdir, name);
}

static char *slurp(const char *path)
{
	char *buf = NULL, err[128];
	size_t len;
	if (util_read_file(path, 1 << 20, &buf, &len, err, sizeof err) != 0)
		return NULL;
	return buf;
}

static int run_sh(const char *script, vg_proc *p, int *code)
{
	const char *argv[] = { "sh", "-c", script, NULL };
	p->argv = argv;
	return proc_run(p, NULL, NULL, code);
}

static void test_exit_codes(void **state)
{
	vg_proc p = { 0 };
	int code = -1;
	assert_int_equal(run_sh("exit 0", &p, &code), VG_OK);
	assert_int_equal(code, 0);
	assert_int_equal(run_sh("exit 3", &p, &code), VG_OK);
	assert_int_equal(code, 3);
	assert_int_equal(run_sh("kill -TERM $$", &p, &code), VG_OK);
	assert_int_equal(code, 128 + SIGTERM);
}

static void test_bad_program(void **state)
{
	const char *argv[] = { "vidgen-no-such-program", NULL };
	vg_proc p = { .argv = argv };
	int code = 0;
	assert_int_equal(proc_run(&p, NULL, NULL, &code), VG_EIO);
	vg_proc empty = { 0 };
	assert_int_equal(proc_run(&empty, NULL, NULL, &code), VG_EINVAL);
	/* A redirection that cannot be opened is a start failure too. */
	const char *argv2[] = { "true", NULL };
	vg_proc bad = { .argv = argv2, .stdin_path = "/nonexistent/in" };
	assert_int_equal(proc_run(&bad, NULL, NULL, &code), VG_EIO);
}

static void test_redirection_and_cwd(void **state)
{
	char *in = tmp_path("in.txt"), *out = tmp_path("out.txt");
	char *errp = tmp_path("err.txt");
	assert_int_equal(util_write_file_atomic(in, "from stdin\n", 11), 0);
	vg_proc p = { .stdin_path = in, .stdout_path = out,
		      .stderr_path = errp, .cwd = "/" };
	int code = -1;
	assert_int_equal(run_sh("cat; pwd; echo oops >&2", &p, &code), VG_OK);
	assert_int_equal(code, 0);
	char *s = slurp(out);
	assert_non_null(s);
	assert_string_equal(s, "from stdin\n/\n");
	free(s);
	s = slurp(errp);
	assert_non_null(s);
	assert_string_equal(s, "oops\n");
	free(s);
	free(in);
	free(out);
	free(errp);
}

static void test_shared_log(void **state)
{
	char *log = tmp_path("both.log");
	vg_proc p = { .stdout_path = log, .stderr_path = log };
	int code = -1;
	assert_int_equal(run_sh("echo one; echo two >&2; echo three", &p, &code), VG_OK);
	char *s = slurp(log);
	assert_non_null(s);
	assert_string_equal(s, "one\ntwo\nthree\n");
	free(s);
	free(log);
}

static void test_clean_environment(void **state)
{
	setenv("VIDGEN_TEST_SECRET", "hunter2", 1);
	char *out = tmp_path("env.txt");
	const char *env[] = { "ONLY=this", NULL };
	const char *argv[] = { "env", NULL };
	vg_proc p = { .argv = argv, .envp = env, .stdout_path = out };
	int code = -1;
	assert_int_equal(proc_run(&p, NULL, NULL, &code), VG_OK);
	assert_int_equal(code, 0);
	char *s = slurp(out);
	assert_non_null(s);
	assert_string_equal(s, "ONLY=this\n");
	free(s);
	/* envp NULL means an empty environment, not the parent's. */
	p.envp = NULL;
	assert_int_equal(proc_run(&p, NULL, NULL, &code), VG_OK);
	s = slurp(out);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	free(out);
}

/* 1 when pid is gone or a zombie (killed, waiting for its reaper). */
static int pid_dead(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static pid_t read_pid(const char *path)
{
	char *s = slurp(path);
	assert_non_null(s);
	pid_t pid = (pid_t)atoi(s);
	free(s);
	assert_true(pid > 1);
	return pid;
}

static void test_timeout_kills_group(void **state)
{
	char *pidf = tmp_path("bg.pid");
	char script[256];
	snprintf(script, sizeof script,
		 "sleep 30 & echo $! > %s; sleep 30", pidf);
	vg_proc p = { .timeout_ms = 300 };
	int code = -1;
	long long t0 = util_now_ms();
	assert_int_equal(run_sh(script, &p, &code), VG_ETIMEDOUT);
	long long took = util_now_ms() - t0;
	assert_true(took >= 250 && took < 3000);
	assert_int_equal(code, 128 + SIGKILL);
	pid_t bg = read_pid(pidf);
	int dead = 0;
	for (int i = 0; i < 100 && !(dead = pid_dead(bg)); i++)
		usleep(10000);
	assert_true(dead);
	free(pidf);
}

static void test_exit_kills_stragglers(void **state)
{
	char *pidf = tmp_path("straggler.pid");
	char script[256];
	snprintf(script, sizeof script, "sleep 30 & echo $! > %s", pidf);
	vg_proc p = { .timeout_ms = 5000 };
	int code = -1;
	assert_int_equal(run_sh(script, &p, &code), VG_OK);
	assert_int_equal(code, 0);
	pid_t bg = read_pid(pidf);
	int dead = 0;
	for (int i = 0; i < 100 && !(dead = pid_dead(bg)); i++)
		usleep(10000);
	assert_true(dead);
	free(pidf);
}

static long long cancel_at;

static int cancel_after(void *ud)
{
	(*(int *)ud)++;
	return util_now_ms() >= cancel_at;
}

static void test_cancellation(void **state)
{
	const char *argv[] = { "sleep", "30", NULL };
	vg_proc p = { .argv = argv };
	int code = -1, polls = 0;
	long long t0 = util_now_ms();
	cancel_at = t0 + 200;
	assert_int_equal(proc_run(&p, cancel_after, &polls, &code),
			 VG_ECANCELED);
	long long took = util_now_ms() - t0;
	assert_true(took >= 150 && took < 2000);
	assert_true(polls >= 2);
	assert_int_equal(code, 128 + SIGKILL);
}

static void test_cpu_limit(void **state)
{
	vg_proc p = { .cpu_seconds = 1, .timeout_ms = 20000 };
	int code = -1;
	long long t0 = util_now_ms();
	assert_int_equal(run_sh("while :; do :; done", &p, &code), VG_OK);
	assert_true(util_now_ms() - t0 < 10000);
	assert_true(code == 128 + SIGXCPU || code == 128 + SIGKILL);
}

static void test_file_size_limit(void **state)
{
	char *out = tmp_path("big.bin");
	const char *argv[] = { "head", "-c", "3000000", "/dev/zero", NULL };
	vg_proc p = { .argv = argv, .stdout_path = out, .file_size_mb = 1 };
	int code = -1;
	assert_int_equal(proc_run(&p, NULL, NULL, &code), VG_OK);
	assert_int_not_equal(code, 0);
	char *s = NULL, err[128];
	size_t len = 0;
	assert_int_equal(util_read_file(out, 10 << 20, &s, &len, err, sizeof err), 0);
	assert_true(len <= 1024 * 1024);
	free(s);
	free(out);
}

static void test_memory_limit(void **state)
{
	const char *argv[] = { "python3", "-c",
			       "x = bytearray(400 * 1024 * 1024)", NULL };
	vg_proc p = { .argv = argv, .memory_mb = 200, .timeout_ms = 20000 };
	int code = -1;
	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	argv[0] = "/usr/bin/python3";
	assert_int_equal(proc_run(&p, NULL, NULL, &code), VG_OK);
	assert_int_not_equal(code, 0);
	p.memory_mb = 0; /* the same program succeeds without the limit */
	assert_int_equal(proc_run(&p, NULL, NULL, &code), VG_OK);
	assert_int_equal(code, 0);
}

static void test_process_limit(void **state)
{
	/* RLIMIT_NPROC does not bind root; run the shell as nobody then. */
	const char *script = "i=0; while [ $i -lt 40 ]; do sleep 3 & "
			     "i=$((i+1)); done; wait";
	const char *as_root[] = { "setpriv", "--reuid=65534", "--regid=65534",
				  "--clear-groups", "sh", "-c", script, NULL };
	const char *plain[] = { "sh", "-c", script, NULL };
	vg_proc p = { .argv = geteuid() == 0 ? as_root : plain,
		      .max_processes = 8, .timeout_ms = 20000 };
	int code = -1;
	long long t0 = util_now_ms();
	assert_int_equal(proc_run(&p, NULL, NULL, &code), VG_OK);
	assert_int_not_equal(code, 0);
	assert_true(util_now_ms() - t0 < 2500); /* failed fast, not after sleeps */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_bad_program),
		cmocka_unit_test(test_redirection_and_cwd),
		cmocka_unit_test(test_shared_log),
		cmocka_unit_test(test_clean_environment),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_exit_kills_stragglers),
		cmocka_unit_test(test_cancellation),
		cmocka_unit_test(test_cpu_limit),
		cmocka_unit_test(test_file_size_limit),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_process_limit),
	};
	return cmocka_run_group_tests_name("proc", tests, setup, teardown);
}
