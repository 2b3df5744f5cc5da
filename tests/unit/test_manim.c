/*
 * Unit tests for the manim plugin against the fake services table
 * (svc_mock.h): the sandbox command line and environment, narration staging, the
 * split between script errors (repairable) and infrastructure errors, the
 * settings checks, and (with a simulated render) live progress and the
 * layout modes. Rendering itself is covered end to end (tests/e2e).
 */
/* The plugin first: cmocka defines a fail() macro that would rewrite its
 * svc->fail calls. */
#include "../../plugins/manim/manim.c"
#include "svc_mock.h"

#include <pthread.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "proc.h"
#include "util.h"

static int has_line_start(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p++)
		if ((p == list || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

/* A simulated render (fake_render set): progress lines written over time,
 * garbage among them, then the files the wrapper leaves. */
static int fake_render;
static int fake_slow; /* pause after each progress line */
static const char *fake_layout; /* the wrapper's layout report */
static const char *fake_segments, *fake_seg_errors; /* its segment report */
static char render_argv[8192];

static void put(const char *dir, const char *name, const char *text, int append)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, append ? "a" : "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void simulate_render(const char *work)
{
	static const char *const lines[] = {
		"p 1 0 0.50\n", "garbage\n", "p 2 1 1.10\n",
		"p 99999999999 1 1.2\n", "p 3 2 nan\n", "p 3 2 2.05\n",
		"p -1 0 1\n", "p 5 3 3.10\n", "p 6 4 4.00\n", "p 7 4 4.0" };
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
		put(work, "progress.txt", lines[i], 1);
		if (fake_slow && lines[i][0] == 'p' && lines[i][2] != '-')
			usleep(400 * 1000); /* longer than the poll interval */
	}
	put(work, "scene.mp4", "not really a video", 0);
	put(work, "scene.mp4.probe.json", "{\"video_s\": 4.0, \"audio_s\": 4.0, "
	    "\"h264\": true, \"has_audio\": true}", 0);
	if (fake_layout)
		put(work, "layout.txt", fake_layout, 0);
	if (fake_segments)
		put(work, "segments.txt", fake_segments, 0);
	if (fake_seg_errors)
		put(work, "segment_errors.txt", fake_seg_errors, 0);
}

/* The spawn hook: the fake has recorded the command (mock.last_argv); the
 * static checker really runs, the render and the mux are simulated. */
static int manim_spawn(const vg_stage *st, const vg_proc *p, int *code)
{
	*code = 0;
	if (strstr(mock.last_argv, "vidgen_check.py"))
		return proc_run(p, NULL, NULL, code);
	if (fake_render && strstr(mock.last_argv, "vidgen_render.py")) {
		memcpy(render_argv, mock.last_argv, sizeof render_argv);
		simulate_render(p->cwd);
	} else if (fake_render && has_line_start(mock.last_argv, "ffmpeg")) {
		put(p->cwd, "video.mp4", "muxed", 0);
	}
	return VG_OK;
}

static char tmpdir[64];

static int setup(void **state)
{
	mock_reset();
	mock.spawn = manim_spawn;
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
	mock_defaults(&vidgen_plugin, c);
	c->python_dir = VG_MANIM_SRCDIR;
}

static void test_settings(void **state)
{
	manim_conf c;
	char err[256];
	plugin_inst *pi;
	conf_defaults(&c);
	assert_int_equal(manim_init(&c, err, sizeof err), VG_OK);
	/* Choices are the engine's: a pipeline or `vidgen render` gets the
	 * same refusal, before init() runs. */
	pi = mock_instance(&vidgen_plugin, (const char *[]){ "layout=rep", NULL });
	assert_null(pi);
	assert_non_null(strstr(mock.fail, "setting \"layout\" is \"rep\", must be one of "
			       "warn|repair|off"));
	assert_null(mock_instance(&vidgen_plugin, (const char *[]){ "quality=4k", NULL }));
	assert_non_null(strstr(mock.fail, "480p15|720p30|1080p60"));
	pi = mock_instance(&vidgen_plugin, (const char *[]){ "layout=repair",
							     "quality=1080p60", NULL });
	assert_non_null(pi);
	assert_string_equal(((manim_conf *)pi->data)->layout, "repair");
	mock_release(pi);
	/* The venv default is the table's, ${VIDGEN_MANIM_VENV:-...} expanded. */
	char *was = getenv("VIDGEN_MANIM_VENV") ? strdup(getenv("VIDGEN_MANIM_VENV")) : NULL;
	setenv("VIDGEN_MANIM_VENV", "/elsewhere/venv", 1);
	pi = mock_instance(&vidgen_plugin, NULL);
	assert_non_null(pi);
	assert_string_equal(((manim_conf *)pi->data)->venv, "/elsewhere/venv");
	mock_release(pi);
	unsetenv("VIDGEN_MANIM_VENV");
	pi = mock_instance(&vidgen_plugin, NULL);
	assert_string_equal(((manim_conf *)pi->data)->venv, "/opt/vidgen/venv");
	mock_release(pi);
	if (was)
		setenv("VIDGEN_MANIM_VENV", was, 1);
	free(was);
	assert_null(mock_instance(&vidgen_plugin, (const char *[]){ "venv=", NULL }));
	assert_non_null(strstr(mock.fail, "venv: empty"));
	/* What only init() can judge. */
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
	vg_stage st = { .dir = tmpdir, .svc = &mock_svc };
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
	assert_true(has_line(mock.last_argv, "bwrap"));
	assert_true(has_line(mock.last_argv, "--unshare-all"));
	assert_true(has_line(mock.last_argv, "--die-with-parent"));
	assert_true(has_line(mock.last_argv, "--clearenv"));
	assert_true(has_line(mock.last_argv, "--new-session"));
	/* An allowlist, not the host's root: /usr and a few files of /etc
	 * and /var, the interpreter, the venv, the helpers. */
	assert_null(strstr(mock.last_argv, "--ro-bind\n/\n/\n"));
	assert_non_null(strstr(mock.last_argv, "--ro-bind\n/usr\n/usr\n"));
	assert_non_null(strstr(mock.last_argv, "--ro-bind-try\n/etc/ld.so.cache\n"));
	assert_non_null(strstr(mock.last_argv, "--ro-bind-try\n/etc/fonts\n"));
	assert_null(strstr(mock.last_argv, "\n/etc\n/etc\n"));
	assert_null(strstr(mock.last_argv, "\n/var\n/var\n"));
	assert_null(strstr(mock.last_argv, "/home"));
	assert_non_null(strstr(mock.last_argv, "--tmpfs\n/tmp\n"));
	/* Parents are made crossable before the bind, once each. */
	const char *once = "--perms\n0755\n--dir\n/root/.pyenv\n";
	const char *pyenv = strstr(mock.last_argv, once);
	assert_non_null(pyenv);
	assert_null(strstr(pyenv + strlen(once), "--dir\n/root/.pyenv\n"));
	assert_non_null(strstr(mock.last_argv, "--dir\n/root\n"));
	assert_non_null(strstr(mock.last_argv, "--ro-bind\n/root/.pyenv/versions/3.11\n"));
	assert_non_null(strstr(mock.last_argv, "--ro-bind\n/opt/venv\n/opt/venv\n"));
	/* The helpers are under /usr, bound already. */
	assert_null(strstr(mock.last_argv, "--ro-bind\n/usr/share/vidgen/python\n"));
	char bind[256];
	snprintf(bind, sizeof bind, "--bind\n%s\n/tmp/job\n--remount-ro\n/\n", tmpdir);
	assert_non_null(strstr(mock.last_argv, bind));
	assert_non_null(strstr(mock.last_argv, "--setenv\nHOME\n/tmp\n"));
	assert_non_null(strstr(mock.last_argv,
		"--setenv\nVIDGEN_NARRATION\n/tmp/job/narration/narration.json\n"));
	assert_null(strstr(mock.last_argv, "sekrit"));
	assert_null(strstr(mock.last_env, "sekrit"));
	assert_null(strstr(mock.last_env, "AWS_"));
	assert_true(has_line(mock.last_argv, "true"));
	assert_int_equal(mock.last_proc.timeout_ms, 1234);
	assert_int_equal(mock.last_proc.memory_mb, 4096);
	assert_int_equal(mock.last_proc.max_processes, 256);
	assert_int_equal(mock.last_proc.cpu_seconds, 600);

	/* Helpers elsewhere are bound with their parents made crossable. */
	snprintf(x.pydir, sizeof x.pydir, "%s/py/helpers", tmpdir);
	assert_int_equal(sandbox_run(&x, &cmd, "t.log", 1234, &code), VG_OK);
	char cross[256];
	snprintf(cross, sizeof cross, "--dir\n%s/py\n--ro-bind\n%s/py/helpers\n",
		 tmpdir, tmpdir);
	assert_non_null(strstr(mock.last_argv, cross));

	/* As root with a render user: host user table, setpriv, no caps. */
	x.drop = 1;
	x.uid = 65534;
	x.gid = 65534;
	assert_int_equal(sandbox_run(&x, &cmd, "t.log", 1000, &code), VG_OK);
	assert_false(has_line(mock.last_argv, "--unshare-all"));
	assert_true(has_line(mock.last_argv, "--unshare-net"));
	assert_true(has_line(mock.last_argv, "--unshare-pid"));
	assert_non_null(strstr(mock.last_argv, "setpriv\n--reuid=65534\n--regid=65534\n"
				       "--clear-groups\n--inh-caps=-all\n--bounding-set=-all\n"));

	/* Best-effort (no bwrap): the command alone, still a clean env. */
	x.sandboxed = 0;
	x.drop = 0;
	assert_int_equal(sandbox_run(&x, &cmd, "t.log", 1000, &code), VG_OK);
	assert_string_equal(mock.last_argv, "true\n");
	assert_non_null(strstr(mock.last_env, "HOME=/tmp\n"));
	assert_null(strstr(mock.last_env, "sekrit"));
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
			.job = job, .svc = &mock_svc, .n_inputs = n, .inputs = in };
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
	mock.fail[0] = 0;
	assert_int_equal(manim_run(&c, &st), VG_EFAIL);
	assert_non_null(strstr(mock.fail, "no Manim venv at /nonexistent/venv"));

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
	mock.fail[0] = 0;
	assert_int_equal(manim_run(&c, &st), VG_ESCRIPT);
	assert_non_null(strstr(mock.fail, "static check"));
	assert_non_null(strstr(mock.fail, "line 1: import of 'os'"));
	assert_non_null(strstr(mock.fail, "line 5: 'eval' is not allowed"));
}

static void test_parse_progress(void **state)
{
	long a = -1, s = -1;
	double t = -1;
	assert_int_equal(parse_progress("p 12 3 4.50", &a, &s, &t), 0);
	assert_int_equal(a, 12);
	assert_int_equal(s, 3);
	assert_true(t > 4.49 && t < 4.51);
	assert_int_equal(parse_progress("p 1 0 0.00\n", &a, &s, &t), 0);
	/* Clamped, not trusted. */
	assert_int_equal(parse_progress("p 1 999999999 1e300", &a, &s, &t), 0);
	assert_int_equal(s, MANIM_MAX_SEGMENTS);
	assert_true(t <= 86400);
	const char *bad[] = { "", "p", "p 1 2", "p 1 2 ", "q 1 2 3", "p -1 2 3",
			      "p 1 -2 3", "p 1 2 -3", "p 1 2 nan", "p 1 2 inf",
			      "p 1 2 3x", "p 1x 2 3", "p 1234567890 2 3",
			      "p  1 2 3", "p 1 2 3 4" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_not_equal(parse_progress(bad[i], &a, &s, &t), 0);
}

static void test_render_fraction(void **state)
{
	render_ctx x = { .n_segments = 4, .narration_s = 8.0, .est_animations = 9 };
	/* By segments, smoothed by time inside the next one only. */
	assert_true(fabs(render_fraction(&x, 3, 1, 0.5) - 0.25) < 1e-9);
	assert_true(fabs(render_fraction(&x, 3, 1, 3.0) - 0.375) < 1e-9);
	assert_true(fabs(render_fraction(&x, 3, 1, 7.0) - 0.5) < 1e-9);
	assert_true(render_fraction(&x, 3, 400, 1e5) <= 0.98);
	/* No segment done yet: scene time against the narration. */
	assert_true(fabs(render_fraction(&x, 1, 0, 2.0) - 0.25) < 1e-9);
	/* No narration: animations against the script's estimate. */
	render_ctx y = { .est_animations = 9 };
	assert_true(fabs(render_fraction(&y, 5, 0, 2.0) - 0.5) < 1e-9);
	assert_true(render_fraction(&y, 500, 0, 2.0) <= 0.98);
	assert_int_equal(count_calls("self.play(a)\nself.wait()\nplay(", 30), 3);
}

static const char *script_text =
	"from manim import *\nclass A(Scene):\n    def construct(self):\n"
	"        self.play(Write(Text('x')))\n";

/* A fake venv, a script and a narration of four segments (in[0], in[1]):
 * what manim_run needs to reach the (simulated) render. Skips the test
 * without ffmpeg. */
static void render_fixture(manim_conf *c, vg_artifact *in, char *narpath,
			   size_t n)
{
	char venv[128], nd[128];
	vg_artifact *nar = &in[1];
	if (access("/usr/bin/ffmpeg", X_OK) != 0 || access("/usr/bin/ffprobe", X_OK) != 0)
		skip();
	in[0] = (vg_artifact){ .from = "validate", .kind = "script",
			       .data = script_text, .len = strlen(script_text) };
	conf_defaults(c);
	c->user = "";
	c->check = 0;
	snprintf(venv, sizeof venv, "%s/venv/bin", tmpdir);
	assert_int_equal(util_mkdir_p(venv, 0755), 0);
	write_file(venv, "python", "#!/bin/sh\n");
	strcat(venv, "/python");
	assert_int_equal(chmod(venv, 0755), 0);
	static char venv_dir[128];
	snprintf(venv_dir, sizeof venv_dir, "%s/venv", tmpdir);
	c->venv = venv_dir;
	snprintf(nd, sizeof nd, "%s/narr", tmpdir);
	assert_int_equal(util_mkdir_p(nd, 0755), 0);
	char json[1024] = "{\"segments\":[";
	for (int i = 0; i < 4; i++) {
		char name[32], seg[128];
		snprintf(name, sizeof name, "seg%03d.wav", i);
		write_file(nd, name, "RIFF");
		snprintf(seg, sizeof seg, "%s{\"file\":\"%s\",\"duration\":1.0}",
			 i ? "," : "", name);
		strcat(json, seg);
	}
	strcat(json, "]}");
	write_file(nd, "narration.json", json);
	snprintf(narpath, n, "%s/narration.json", nd);
	*nar = (vg_artifact){ .from = "narrate", .kind = "narration", .path = narpath };
}

static void test_live_progress(void **state)
{
	manim_conf c;
	vg_artifact in[2];
	char narpath[256];
	render_fixture(&c, in, narpath, sizeof narpath);
	vg_job_info job = { .id = "j", .voice = "Joanna", .job_dir = tmpdir };
	vg_stage st = make_stage(&job, in, 2);
	mock.n_progress = 0;
	fake_render = fake_slow = 1;
	fake_layout = NULL;
	mock.fail[0] = 0;
	assert_int_equal(manim_run(&c, &st), VG_OK);
	fake_render = fake_slow = 0;
	/* The render's arguments name the layout and progress files. */
	assert_true(has_line(render_argv, "layout=/tmp/job/layout.txt"));
	assert_true(has_line(render_argv, "progress=/tmp/job/progress.txt"));
	assert_true(has_line(render_argv, "segments=fallback"));
	/* 0.05 (checked), the watcher's steps, 0.85 (rendered). */
	int during = 0;
	for (int i = 0; i < mock.n_progress; i++) {
		if (i > 0)
			assert_true(mock.progress[i] > mock.progress[i - 1]);
		if (mock.progress[i] > 0.05 && mock.progress[i] < 0.85) {
			during++;
			assert_non_null(strstr(mock.progress_note[i], "rendering"));
		}
	}
	assert_true(during >= 3);
	assert_true(fabs(mock.progress[0] - 0.05) < 1e-9);
	/* Segments 2 of 4 done: at least half the render span. */
	int seen_half = 0;
	for (int i = 0; i < mock.n_progress; i++)
		if (strstr(mock.progress_note[i], "segment 2 of 4") && mock.progress[i] >= 0.45 - 1e-9)
			seen_half = 1;
	assert_true(seen_half);
	/* A clean layout leaves no layout.txt. */
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/layout.txt", tmpdir);
	assert_int_not_equal(access(path, F_OK), 0);
}

static void test_layout_modes(void **state)
{
	manim_conf c;
	vg_artifact in[2];
	char narpath[256], path[PATH_MAX], *text = NULL, e2[128];
	size_t len;
	render_fixture(&c, in, narpath, sizeof narpath);
	vg_job_info job = { .id = "j", .voice = "Joanna", .job_dir = tmpdir };
	vg_stage st = make_stage(&job, in, 2);
	snprintf(path, sizeof path, "%s/layout.txt", tmpdir);
	fake_render = 1;
	fake_layout = "line 4: Text \"x\" extends past the right edge (x=7.6, "
		      "frame edge 7.1)\nline 9: Text \"a\x1b[2J\" overlaps "
		      "MathTex \"c^2\" (40% of the smaller)\nline 12: half a li";

	/* warn: the render succeeds, layout.txt holds the whole lines. */
	c.layout = "warn";
	assert_int_equal(manim_run(&c, &st), VG_OK);
	assert_int_equal(util_read_file(path, 8192, &text, &len, e2, sizeof e2), 0);
	assert_non_null(strstr(text, "line 4: Text \"x\" extends past the right edge"));
	assert_non_null(strstr(text, "line 9: Text"));
	assert_null(strstr(text, "\x1b"));      /* control characters dropped */
	assert_null(strstr(text, "half a li")); /* and the cut-off line */
	free(text);

	/* repair: a script error carrying the problems. */
	c.layout = "repair";
	mock.fail[0] = 0;
	assert_int_equal(manim_run(&c, &st), VG_ESCRIPT);
	assert_non_null(strstr(mock.fail, "off screen or on top of each other"));
	assert_non_null(strstr(mock.fail, "line 4: Text \"x\" extends past"));
	assert_non_null(strstr(mock.fail, "(40% of the smaller)"));

	/* A clean render in repair mode passes and clears the old report. */
	fake_layout = "";
	assert_int_equal(manim_run(&c, &st), VG_OK);
	assert_int_not_equal(access(path, F_OK), 0);

	/* off: the wrapper is not asked to look. */
	c.layout = "off";
	fake_layout = "line 1: ignored\n";
	assert_int_equal(manim_run(&c, &st), VG_OK);
	assert_false(has_line(render_argv, "layout=/tmp/job/layout.txt"));
	assert_non_null(strstr(render_argv, "/tmp/job/error.txt\nprogress="));
	assert_int_not_equal(access(path, F_OK), 0);
	fake_render = 0;
	fake_layout = NULL;
}

/* Segments that fell back: a script error listing them while repairs are
 * left, the video kept and the job's note naming them at the last one; the
 * wrapper's report is hostile text. */
static void test_segment_fallback(void **state)
{
	manim_conf c;
	vg_artifact in[2];
	char narpath[256];
	render_fixture(&c, in, narpath, sizeof narpath);
	vg_job_info job = { .id = "j", .voice = "Joanna", .job_dir = tmpdir };
	vg_stage st = make_stage(&job, in, 2);
	fake_render = 1;
	fake_layout = NULL;
	fake_segments = "0 0.000 1.000 rendered\n3 1.000 2.000 fallback\n"
			"garbage line\n-4 2 3 fallback\n2000 2 3 fallback\n"
			"5 2.000 3.000 fallback\n6 3.0 4.0 rendered\x1b[2J\n";
	fake_seg_errors = "segment 3 (script lines 13-23): NameError: x\n"
			  "segment 5 (script lines 30-31): TypeError: y\n";
	mock.fail[0] = mock.note[0] = 0;
	st.last_repair = 0;
	assert_int_equal(manim_run(&c, &st), VG_ESCRIPT);
	assert_non_null(strstr(mock.fail, "failed in some of its narration segments"));
	assert_non_null(strstr(mock.fail, "segment 3 (script lines 13-23): NameError: x"));
	assert_non_null(strstr(mock.fail, "segment 5 (script lines 30-31)"));
	assert_string_equal(mock.note, "");

	/* The last repair: the video is kept, the note names 3 and 5 only. */
	st.last_repair = 1;
	mock.fail[0] = 0;
	assert_int_equal(manim_run(&c, &st), VG_OK);
	assert_string_equal(mock.note, "narration segments 3, 5 could not be "
			    "rendered and show the narration over a card with their text");

	/* fail mode asks the wrapper to stop at the first failure. */
	c.on_segment_failure = "fail";
	fake_segments = fake_seg_errors = NULL;
	assert_int_equal(manim_run(&c, &st), VG_OK);
	assert_true(has_line(render_argv, "segments=fail"));
	fake_render = 0;
}

/* Where the captions put each segment: the wrapper's segments.txt (hostile:
 * bad lines, indices out of range, starts past the video or not numbers are
 * ignored; a segment with no line has no cue) when the scene has its own
 * soundtrack, else one after the other from 0; a segment never runs past
 * the next one's start nor the video's end. */
static void test_caption_segments(void **state)
{
	render_ctx x = { 0 };
	probe_info pi = { .has_audio = 1 };
	caption_seg segs[8];
	json_t *root = NULL;
	char path[PATH_MAX + 64];

	(void)state;
	snprintf(x.work, sizeof x.work, "%s/captions", tmpdir);
	snprintf(path, sizeof path, "%s/narration", x.work);
	assert_int_equal(mkdir(x.work, 0755) == 0 || errno == EEXIST, 1);
	assert_int_equal(mkdir(path, 0755) == 0 || errno == EEXIST, 1);
	snprintf(path, sizeof path, "%s/narration/narration.json", x.work);
	const char *nar = "{\"segments\":[{\"text\":\"Zero.\",\"duration\":2.0},"
			  "{\"text\":\"One.\",\"duration\":3.0},{\"text\":\"Two.\",\"duration\":1.0},"
			  "{\"text\":\"Three.\",\"duration\":-5},{\"text\":\"Four.\",\"duration\":4.0}]}";
	assert_int_equal(write_text(path, nar, strlen(nar)), 0);
	snprintf(path, sizeof path, "%s/segments.txt", x.work);
	const char *lines = "0 0.500 2.600 rendered 0.1\ngarbage\n1 2.000 5.000 fallback 0\n"
			    "2 nan 1 rendered 0\n7 1.0 2.0 rendered 0\n-1 1 2 x 0\n"
			    "4 99.0 100.0 rendered 0\n";
	assert_int_equal(write_text(path, lines, strlen(lines)), 0);
	size_t n = caption_segments(&x, &pi, 10.0, &root, segs, 8);
	assert_int_equal(n, 5);
	assert_string_equal(segs[0].text, "Zero.");
	assert_true(segs[0].start == 0.5 && segs[0].end == 2.0); /* cut at segment 1 */
	assert_true(segs[1].start == 2.0 && segs[1].end == 5.0);
	assert_false(segs[2].end > segs[2].start); /* no line: no cue */
	assert_false(segs[3].end > segs[3].start); /* no duration */
	assert_false(segs[4].end > segs[4].start); /* starts after the video */
	json_decref(root);

	/* The narration laid under the video: one after the other from 0, the
	 * last cut at the video's end. */
	pi.has_audio = 0;
	n = caption_segments(&x, &pi, 7.5, &root, segs, 8);
	assert_int_equal(n, 5);
	assert_true(segs[0].start == 0.0 && segs[0].end == 2.0);
	assert_true(segs[1].start == 2.0 && segs[1].end == 5.0);
	assert_true(segs[2].start == 5.0 && segs[2].end == 6.0);
	assert_false(segs[3].end > segs[3].start);
	assert_true(segs[4].start == 6.0 && segs[4].end == 7.5);
	json_decref(root);
}

/* The watchdog's report is faulthandler's dump, written next to the script:
 * the innermost frame of the script gives the line, segment.txt the block;
 * anything else (no dump, garbage, absurd numbers) is not a stall. */
static void test_stall_report(void **state)
{
	manim_conf c;
	conf_defaults(&c);
	c.stall_s = 7;
	render_ctx x = { .c = &c, .inner = "/tmp/job", .script =
			 "a = 1\nwhile True:\n\t  a += 1\x1b\n", .script_len = 29 };
	snprintf(x.work, sizeof x.work, "%s", tmpdir);
	char err[1024] = "";
	unlink(strcat(strcpy(err, tmpdir), "/stall.txt"));
	err[0] = 0;
	assert_int_equal(stall_report(&x, err, sizeof err), 0);
	put(tmpdir, "stall.txt", "Thread 0x1 (most recent call first):\n"
	    "  File \"/venv/manim/scene.py\", line 99 in play\n"
	    "  File \"/tmp/job/scene.py\", line 3 in construct\n"
	    "  File \"/tmp/job/scene.py\", line 1 in <module>\n", 0);
	put(tmpdir, "segment.txt", "segment 4\n", 0);
	assert_int_equal(stall_report(&x, err, sizeof err), 1);
	assert_string_equal(err, "no progress for 7 s in segment 4 (line 3): the render "
			    "was stopped (no frame drawn and no animation finished; an "
			    "endless loop, or a computation far too slow for a video?)\n"
			    "    a += 1 ");
	put(tmpdir, "segment.txt", "after 2\n", 0);
	assert_int_equal(stall_report(&x, err, sizeof err), 1);
	assert_non_null(strstr(err, "after segment 2 (line 3)"));
	put(tmpdir, "segment.txt", "segment 99999999\n", 0);
	put(tmpdir, "stall.txt", "most recent call first\n  File \"/tmp/job/scene.py\", "
	    "line 123456789 in x\n", 0);
	assert_int_equal(stall_report(&x, err, sizeof err), 1);
	assert_non_null(strstr(err, "before the first narration segment (line 0)"));
	put(tmpdir, "stall.txt", "Traceback: not a dump\n", 0);
	assert_int_equal(stall_report(&x, err, sizeof err), 0);

	/* The limits grow with the narration. */
	c.timeout_s = 300;
	c.cpu_seconds = 600;
	c.per_second = 30;
	x.narration_s = 300.0;
	render_limits(&x);
	assert_int_equal(x.limit_s, 9300);
	assert_int_equal(x.cpu_s, 9600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_safe_name),
		cmocka_unit_test(test_sandbox_command),
		cmocka_unit_test(test_narration_staging),
		cmocka_unit_test(test_errors_classified),
		cmocka_unit_test(test_parse_progress),
		cmocka_unit_test(test_render_fraction),
		cmocka_unit_test(test_live_progress),
		cmocka_unit_test(test_layout_modes),
		cmocka_unit_test(test_segment_fallback),
		cmocka_unit_test(test_stall_report),
		cmocka_unit_test(test_caption_segments),
	};
	return cmocka_run_group_tests_name("manim", tests, setup, teardown);
}
