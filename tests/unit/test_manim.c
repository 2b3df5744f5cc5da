/*
 * Unit tests for the manim plugin against a small fake of the services
 * table: the sandbox command line and environment, narration staging, the
 * split between script errors (repairable) and infrastructure errors, and
 * the settings checks. Rendering itself is covered end to end (tests/e2e).
 */
/* The plugin first: cmocka defines a fail() macro that would rewrite its
 * svc->fail calls. */
#include "../../plugins/manim/manim.c"

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "proc.h"
#include "util.h"

static char fake_fail[8192];
static vg_proc last_proc;
static char last_argv[8192];
static char last_env[4096];

static void fake_log(const vg_stage *st, int level, const char *fmt, ...) {}
static void fake_failf(const vg_stage *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fake_fail, sizeof fake_fail, fmt, ap);
	va_end(ap);
}
static void fake_progress(const vg_stage *st, double f, const char *note) {}
static int fake_cancelled(const vg_stage *st) { return 0; }

static void join(char *out, size_t n, const char *const *v)
{
	out[0] = 0;
	for (; v && *v; v++) {
		strncat(out, *v, n - strlen(out) - 2);
		strncat(out, "\n", n - strlen(out) - 1);
	}
}

/* Records the command; runs it only when it is the static checker. */
static int fake_spawn(const vg_stage *st, const vg_proc *p, int *code)
{
	last_proc = *p;
	join(last_argv, sizeof last_argv, p->argv);
	join(last_env, sizeof last_env, p->envp);
	if (strstr(last_argv, "vidgen_check.py"))
		return proc_run(p, NULL, NULL, code);
	*code = 0;
	return VG_OK;
}
static const vg_services fake_svc = {
	.abi_minor = VIDGEN_ABI_MINOR, .struct_size = sizeof(vg_services),
	.log = fake_log, .progress = fake_progress, .cancelled = fake_cancelled,
	.fail = fake_failf, .spawn = fake_spawn,
};

static char tmpdir[64];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_manim.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	util_rm_rf(tmpdir);
	return 0;
}

static void conf_defaults(manim_conf *c)
{
	memset(c, 0, sizeof *c);
	for (const vg_setting *s = manim_settings; s->name; s++) {
		void *f = (char *)c + s->offset;
		if (!s->def)
			continue;
		if (s->type == VG_SET_STRING || s->type == VG_SET_PATH)
			*(const char **)f = s->def;
		else if (s->type == VG_SET_BOOL)
			*(int *)f = !strcmp(s->def, "true");
		else
			*(long *)f = atol(s->def);
	}
	c->python_dir = VG_MANIM_SRCDIR;
}

static void test_settings(void **state)
{
	manim_conf c;
	char err[256];
	conf_defaults(&c);
	assert_int_equal(manim_init(&c, err, sizeof err), VG_OK);
	c.scene = "Bad Name";
	assert_int_equal(manim_init(&c, err, sizeof err), VG_EINVAL);
	assert_non_null(strstr(err, "class name"));
	c.scene = "Good_1";
	c.user = "no-such-user-here";
	assert_int_equal(manim_init(&c, err, sizeof err), VG_EINVAL);
	assert_non_null(strstr(err, "no account"));
}

static void test_safe_name(void **state)
{
	assert_true(safe_name("seg000.wav"));
	assert_true(safe_name("a-b_c.mp3"));
	assert_false(safe_name("../x.wav"));
	assert_false(safe_name("a/b.wav"));
	assert_false(safe_name(".hidden"));
	assert_false(safe_name("-rf"));
	assert_false(safe_name("a b.wav"));
	assert_false(safe_name(""));
}

static int has_line(const char *list, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = list; (p = strstr(p, line)); p++)
		if ((p == list || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static void test_sandbox_command(void **state)
{
	manim_conf c;
	conf_defaults(&c);
	render_ctx x = { .c = &c, .sandboxed = 1, .inner = MANIM_INNER,
			 .has_narration = 1 };
	vg_stage st = { .dir = tmpdir, .svc = &fake_svc };
	x.st = &st;
	snprintf(x.venv, sizeof x.venv, "/opt/venv");
	snprintf(x.pyhome, sizeof x.pyhome, "/root/.pyenv/versions/3.11");
	snprintf(x.pydir, sizeof x.pydir, "/usr/share/vidgen/python");
	snprintf(x.work, sizeof x.work, "%s", tmpdir);
	setenv("AWS_SECRET_ACCESS_KEY", "sekrit", 1);

	argv_b cmd = { .n = 0 };
	av_add(&cmd, "true");
	int code = -1;
	assert_int_equal(sandbox_run(&x, &cmd, "t.log", 1234, &code), VG_OK);
	assert_true(has_line(last_argv, "bwrap"));
	assert_true(has_line(last_argv, "--unshare-all"));
	assert_true(has_line(last_argv, "--die-with-parent"));
	assert_true(has_line(last_argv, "--clearenv"));
	assert_true(has_line(last_argv, "--new-session"));
	assert_non_null(strstr(last_argv, "--ro-bind\n/\n/\n"));
	assert_non_null(strstr(last_argv, "--tmpfs\n/tmp\n"));
	/* Parents under a hidden tree are made crossable before the bind. */
	assert_non_null(strstr(last_argv, "--perms\n0755\n--dir\n/root/.pyenv\n"));
	assert_non_null(strstr(last_argv, "--ro-bind\n/root/.pyenv/versions/3.11\n"));
	char bind[256];
	snprintf(bind, sizeof bind, "--bind\n%s\n/tmp/job\n", tmpdir);
	assert_non_null(strstr(last_argv, bind));
	assert_non_null(strstr(last_argv, "--setenv\nHOME\n/tmp\n"));
	assert_non_null(strstr(last_argv,
		"--setenv\nVIDGEN_NARRATION\n/tmp/job/narration/narration.json\n"));
	assert_null(strstr(last_argv, "sekrit"));
	assert_null(strstr(last_env, "sekrit"));
	assert_null(strstr(last_env, "AWS_"));
	assert_true(has_line(last_argv, "true"));
	assert_int_equal(last_proc.timeout_ms, 1234);
	assert_int_equal(last_proc.memory_mb, 4096);
	assert_int_equal(last_proc.max_processes, 256);
	assert_int_equal(last_proc.cpu_seconds, 600);

	/* The jobs folder is hidden, and a helper folder inside it comes
	 * back through parents made crossable. */
	snprintf(x.jobs, sizeof x.jobs, "%s", tmpdir);
	snprintf(x.pydir, sizeof x.pydir, "%s/py/helpers", tmpdir);
	assert_int_equal(sandbox_run(&x, &cmd, "t.log", 1234, &code), VG_OK);
	char hide[256], cross[256];
	snprintf(hide, sizeof hide, "--tmpfs\n%s\n", tmpdir);
	snprintf(cross, sizeof cross, "--dir\n%s/py\n--ro-bind\n%s/py/helpers\n",
		 tmpdir, tmpdir);
	assert_non_null(strstr(last_argv, hide));
	assert_non_null(strstr(last_argv, cross));
	assert_true(strstr(last_argv, hide) < strstr(last_argv, cross));
	x.jobs[0] = 0;

	/* As root with a render user: host user table, setpriv, no caps. */
	x.drop = 1;
	x.uid = 65534;
	x.gid = 65534;
	assert_int_equal(sandbox_run(&x, &cmd, "t.log", 1000, &code), VG_OK);
	assert_false(has_line(last_argv, "--unshare-all"));
	assert_true(has_line(last_argv, "--unshare-net"));
	assert_true(has_line(last_argv, "--unshare-pid"));
	assert_non_null(strstr(last_argv, "setpriv\n--reuid=65534\n--regid=65534\n"
				       "--clear-groups\n--inh-caps=-all\n--bounding-set=-all\n"));

	/* Best-effort (no bwrap): the command alone, still a clean env. */
	x.sandboxed = 0;
	x.drop = 0;
	assert_int_equal(sandbox_run(&x, &cmd, "t.log", 1000, &code), VG_OK);
	assert_string_equal(last_argv, "true\n");
	assert_non_null(strstr(last_env, "HOME=/tmp\n"));
	assert_null(strstr(last_env, "sekrit"));
	av_free(&cmd);
	unsetenv("AWS_SECRET_ACCESS_KEY");
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *p = util_path_join(dir, name);
	assert_int_equal(util_write_file_atomic(p, text, strlen(text)), 0);
	free(p);
}

static void test_narration_staging(void **state)
{
	manim_conf c;
	conf_defaults(&c);
	render_ctx x = { .c = &c };
	char nd[128], err[512], path[PATH_MAX + 64];
	snprintf(nd, sizeof nd, "%s/narrate", tmpdir);
	assert_int_equal(util_mkdir_p(nd, 0755), 0);
	write_file(nd, "seg000.wav", "RIFFxxxx");
	write_file(nd, "seg001.wav", "RIFFyyyy");
	write_file(nd, "narration.json",
		   "{\"segments\":[{\"index\":0,\"text\":\"a\",\"file\":\"seg000.wav\","
		   "\"duration\":1.5},{\"index\":1,\"text\":\"b\",\"file\":\"seg001.wav\","
		   "\"duration\":2.25}],\"total_duration\":3.75}");
	snprintf(path, sizeof path, "%s/narration.json", nd);
	vg_artifact nar = { .from = "narrate", .kind = "narration", .path = path };

	snprintf(x.work, sizeof x.work, "%s/w1", tmpdir);
	assert_int_equal(util_mkdir_p(x.work, 0755), 0);
	assert_int_equal(stage_narration(&x, &nar, err, sizeof err), VG_OK);
	assert_true(x.has_narration);
	assert_true(x.narration_s > 3.749 && x.narration_s < 3.751);
	char *list = NULL, e2[128];
	size_t len;
	snprintf(path, sizeof path, "%s/narration/concat.txt", x.work);
	assert_int_equal(util_read_file(path, 4096, &list, &len, e2, sizeof e2), 0);
	assert_string_equal(list, "file 'seg000.wav'\nfile 'seg001.wav'\n");
	free(list);
	snprintf(path, sizeof path, "%s/narration/seg001.wav", x.work);
	assert_int_equal(access(path, R_OK), 0);

	/* A file name that climbs out is refused. */
	write_file(nd, "narration.json",
		   "{\"segments\":[{\"file\":\"../../etc/passwd\",\"duration\":1}]}");
	snprintf(path, sizeof path, "%s/narration.json", nd);
	render_ctx y = { .c = &c };
	snprintf(y.work, sizeof y.work, "%s/w2", tmpdir);
	assert_int_equal(util_mkdir_p(y.work, 0755), 0);
	assert_int_equal(stage_narration(&y, &nar, err, sizeof err), VG_EINVAL);
	assert_non_null(strstr(err, "bad file"));
	/* So is a negative duration, and a file that is not JSON. */
	write_file(nd, "narration.json",
		   "{\"segments\":[{\"file\":\"seg000.wav\",\"duration\":-4}]}");
	snprintf(y.work, sizeof y.work, "%s/w3", tmpdir);
	assert_int_equal(util_mkdir_p(y.work, 0755), 0);
	assert_int_equal(stage_narration(&y, &nar, err, sizeof err), VG_EINVAL);
	write_file(nd, "narration.json", "not json");
	snprintf(y.work, sizeof y.work, "%s/w4", tmpdir);
	assert_int_equal(util_mkdir_p(y.work, 0755), 0);
	assert_int_equal(stage_narration(&y, &nar, err, sizeof err), VG_EINVAL);
}

static vg_stage make_stage(vg_job_info *job, const vg_artifact *in, size_t n)
{
	vg_stage st = { .struct_size = sizeof st, .id = "render", .dir = tmpdir,
			.job = job, .svc = &fake_svc, .n_inputs = n, .inputs = in };
	return st;
}

static void test_errors_classified(void **state)
{
	manim_conf c;
	conf_defaults(&c);
	c.user = ""; /* keep the test's own uid */
	vg_job_info job = { .id = "j", .voice = "Joanna", .job_dir = tmpdir };
	const char *bad = "import os\nfrom manim import *\nclass A(Scene):\n"
			  "    def construct(self):\n        eval('1')\n";
	vg_artifact in = { .from = "validate", .kind = "script", .data = bad,
			   .len = strlen(bad) };
	vg_stage st = make_stage(&job, &in, 1);

	/* No venv: an infrastructure error, not a script error. */
	c.venv = "/nonexistent/venv";
	fake_fail[0] = 0;
	assert_int_equal(manim_run(&c, &st), VG_EFAIL);
	assert_non_null(strstr(fake_fail, "no Manim venv at /nonexistent/venv"));

	/* No script input at all. */
	vg_stage none = make_stage(&job, NULL, 0);
	assert_int_equal(manim_run(&c, &none), VG_EINVAL);

	/* A script refused by the real checker: repairable, with lines. */
	c.venv = getenv("VIDGEN_MANIM_VENV") ? getenv("VIDGEN_MANIM_VENV")
					     : "/opt/vidgen/venv";
	char py[512];
	snprintf(py, sizeof py, "%s/bin/python", c.venv);
	if (access(py, X_OK) != 0 || access("/usr/bin/ffmpeg", X_OK) != 0)
		skip();
	fake_fail[0] = 0;
	assert_int_equal(manim_run(&c, &st), VG_ESCRIPT);
	assert_non_null(strstr(fake_fail, "static check"));
	assert_non_null(strstr(fake_fail, "line 1: import of 'os'"));
	assert_non_null(strstr(fake_fail, "line 5: 'eval' is not allowed"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_safe_name),
		cmocka_unit_test(test_sandbox_command),
		cmocka_unit_test(test_narration_staging),
		cmocka_unit_test(test_errors_classified),
	};
	return cmocka_run_group_tests_name("manim", tests, setup, teardown);
}
