/*
 * manim: renders a Manim script with its narration into an MP4. Static check
 * (python/vidgen_check.py), then the render under bubblewrap with rlimits and
 * a clean environment (python/vidgen_render.py), then an ffmpeg mux (H.264 +
 * AAC, faststart, never shorter than the narration). While it renders, a
 * thread follows the wrapper's progress file; afterwards its layout report
 * (text off screen, texts on top of each other) is logged or sent for repair.
 * See doc/render.md.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "vidgen/plugin.h"
#include "../common/captions.h"
#include "../common/companions.h"

#include "bomb_watch.h"
#include "poller.h"

#ifndef VG_DATADIR
#define VG_DATADIR "/usr/local/share/vidgen"
#endif
#ifndef VG_MANIM_SRCDIR
#define VG_MANIM_SRCDIR ""
#endif

#define MANIM_MAX_ARGS 320
#define MANIM_MAX_SEGMENTS 1000
#define MANIM_INNER "/tmp/job" /* the work directory, seen from inside */
#define MANIM_MSG_MAX 6000     /* bytes of an error shown to the repair model */
#define MANIM_LAYOUT_MAX 4000  /* bytes of the layout report read back */
#define MANIM_POLL_MS 100      /* how often the progress file is read */
/* Private render uids: above the ranges distributions hand out to users
 * (1000-60000) and systemd's dynamic users (61184-65519). */
#define MANIM_PRIVATE_UID 200000
#define MANIM_PRIVATE_UIDS 100000

typedef struct manim_conf {
	const char *quality;
	const char *draft_quality;
	long render_jobs;
	const char *sandbox;
	const char *venv;
	const char *scene;
	const char *user;
	const char *python_dir;
	const char *bwrap;
	long timeout_s;
	long cpu_seconds;
	long memory_mb;
	long file_size_mb;
	long max_processes;
	long tmp_mb;
	int check;
	const char *layout;
	const char *on_segment_failure;
	long stall_s;
	long per_second;
} manim_conf;

static const vg_setting manim_settings[] = {
	VG_SETTING_CHOICE("quality", manim_conf, quality, "480p15", "480p15|720p30|1080p60",
			  "the final video's preset: 480p15, 720p30, 1080p60"),
	VG_SETTING_CHOICE("sandbox", manim_conf, sandbox, "required", "required|best-effort",
			  "required: refuse to render without bubblewrap; best-effort: fall "
			  "back to limits and a clean environment"),
	VG_SETTING_INT("render_timeout", manim_conf, timeout_s, "300", 1, 7200,
		       "wall-clock seconds for the render, plus timeout_per_second for each "
		       "second of narration; the whole tree is killed"),
	VG_SETTING_INT("cpu", manim_conf, cpu_seconds, "600", 1, 86400,
		       "CPU seconds per render process (RLIMIT_CPU), plus timeout_per_second "
		       "for each second of narration"),
	VG_SETTING_INT("memory", manim_conf, memory_mb, "4096", 256, 1048576,
		       "address space per render process, MB (RLIMIT_AS)"),
	VG_SETTING_INT("file_size", manim_conf, file_size_mb, "2048", 1, 1048576,
		       "largest file a render may write, MB (RLIMIT_FSIZE)"),
	VG_SETTING_INT("processes", manim_conf, max_processes, "256", 8, 100000,
		       "processes of the render user (RLIMIT_NPROC)"),
	VG_SETTING_INT("tmp_size", manim_conf, tmp_mb, "1024", 16, 1048576,
		       "size of the sandbox's private /tmp, MB"),
	VG_SETTING_STR("venv", manim_conf, venv, "${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}",
		       "the Manim venv (its bin/python runs the render)"),
	VG_SETTING_STR("scene", manim_conf, scene, NULL,
		       "the one Scene subclass to render; default: all of them, in the "
		       "file's order, as consecutive parts of one video"),
	VG_SETTING_STR("user", manim_conf, user, "private",
		       "when vidgen runs as root, who the render runs as (root ignores the "
		       "process limit): \"private\" = an unused uid of its own per render, "
		       "or an account name; \"\" keeps root"),
	VG_SETTING_PATH("python_dir", manim_conf, python_dir, NULL,
			"where vidgen_narration.py and the checker live; default: found "
			"next to the plugin"),
	VG_SETTING_STR("bwrap", manim_conf, bwrap, "bwrap", "the bubblewrap executable"),
	VG_SETTING_BOOL("check", manim_conf, check, "true",
			"run the static check first (turn off only for trusted scripts; "
			"the sandbox still applies)"),
	VG_SETTING_CHOICE("layout", manim_conf, layout, "warn", "warn|repair|off",
			  "after each animation, look for text off screen and texts on top of "
			  "each other: warn = log them (and layout.txt), repair = send them "
			  "back for a repair, off = do not look"),
	VG_SETTING_CHOICE("on_segment_failure", manim_conf, on_segment_failure, "fallback",
			  "fallback|fail",
			  "a narration segment that still fails after the last repair: fallback "
			  "= its narration over a card with its text, the rest of the video "
			  "kept; fail = the job fails"),
	VG_SETTING_INT("stall_timeout", manim_conf, stall_s, "60", 0, 3600,
		       "stop a render that draws no frame and finishes no animation for this "
		       "many seconds (an endless loop) and send it for repair; 0 = never"),
	VG_SETTING_INT("timeout_per_second", manim_conf, per_second, "30", 0, 3600,
		       "seconds added to render_timeout and cpu for each second of "
		       "narration, so a long video at 1080p60 is never cut"),
	VG_SETTING_CHOICE("draft_quality", manim_conf, draft_quality, "480p15",
			  "480p15|720p30|1080p60",
			  "attempts render at this preset until one is clean, then one final "
			  "render at quality (one render only when it is not lower)"),
	VG_SETTING_INT("render_jobs", manim_conf, render_jobs, "0", 0, 64,
		       "render in this many slices of the animations at once, joined by "
		       "stream copy; 0 = one per CPU vidgen may use, 1 = one process"),
	VG_SETTINGS_END
};

/* Everything one render run needs, built in manim_run. */
typedef struct render_ctx {
	const manim_conf *c;
	vg_stage *st;
	char venv[PATH_MAX];
	char pyhome[PATH_MAX];   /* the interpreter's install prefix */
	char pydir[PATH_MAX];
	char work[PATH_MAX];     /* real path of the work directory */
	char cache[PATH_MAX];    /* the stage's Manim media folder, kept across
				  * attempts (partial movies, TeX) */
	int bind_cache;          /* the command being run sees the cache */
	const char *inner;       /* the work directory as the child sees it */
	char scene[256];
	int sandboxed;           /* bubblewrap in use */
	int drop;                /* run as uid/gid (vidgen is root) */
	uid_t uid;
	gid_t gid;
	int has_narration;
	double narration_s;
	long n_segments;         /* narration segments */
	long est_animations;     /* play( and wait( calls in the script text */
	const char *quality;     /* this render's preset (draft or final) */
	int final;               /* the final render after a clean draft */
	double span_lo, span_hi; /* this render's share of the stage's progress */
	const char *script;      /* the script's text (the input's) */
	size_t script_len;
	long limit_s;            /* wall-clock limit of this render */
	long cpu_s;              /* RLIMIT_CPU of this render */
	int n_fallbacks;         /* segments kept as fallback cards */
	char fallbacks[256];     /* their indices, "3, 5" */
	long bomb;               /* processes the fork-bomb watch killed in the
				  * last sandbox_run (0: none) */
} render_ctx;

/* ---- small helpers ----------------------------------------------------- */

typedef struct argv_b {
	const char *v[MANIM_MAX_ARGS + 1];
	int n;
	char *owned[MANIM_MAX_ARGS];
	int n_owned;
	int overflow;
} argv_b;

static void av_add(argv_b *a, const char *s)
{
	if (a->n >= MANIM_MAX_ARGS) {
		a->overflow = 1;
		return;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void av_addf(argv_b *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void av_addf(argv_b *a, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0 || a->n_owned >= MANIM_MAX_ARGS) {
		free(r < 0 ? NULL : s);
		a->overflow = 1;
		return;
	}
	a->owned[a->n_owned++] = s;
	av_add(a, s);
}

static void av_free(argv_b *a)
{
	for (int i = 0; i < a->n_owned; i++)
		free(a->owned[i]);
	a->n_owned = a->n = 0;
}

/* Reads at most max bytes of a file into buf (NUL-terminated); keeps the
 * tail when tail is set (tracebacks end with what matters). */
static void read_text(const char *path, char *buf, size_t max, int tail)
{
	buf[0] = 0;
	/* O_NONBLOCK: the render may have left a FIFO where a file should be. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat sb;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		if (tail && (size_t)sb.st_size >= max)
			lseek(fd, sb.st_size - (off_t)(max - 1), SEEK_SET);
		ssize_t n = read(fd, buf, max - 1);
		buf[n > 0 ? n : 0] = 0;
	}
	close(fd);
	/* Whatever the child wrote, the message is text. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')
			*p = ' ';
}

static int write_text(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		      0644);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	return close(fd);
}

static int copy_file(const char *from, const char *to, off_t max)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	struct stat sb;
	char buf[65536];
	if (in < 0 || fstat(in, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > max)
		goto out;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		goto out;
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0 || write(out, buf, (size_t)n) != n)
			goto out;
	}
	rc = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0)
		rc = -1;
	return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

/* 1 when name is a plain file name a narration may reference. */
static int safe_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", s[i]))
			return 0;
	return 1;
}

/* Searches the standard PATH for a program, for a clear early error. */
static int have_program(const char *name)
{
	static const char *const dirs[] = { "/usr/local/bin", "/usr/bin", "/bin", NULL };
	char p[PATH_MAX];
	if (strchr(name, '/'))
		return access(name, X_OK) == 0;
	for (int i = 0; dirs[i]; i++) {
		snprintf(p, sizeof p, "%s/%s", dirs[i], name);
		if (access(p, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* ---- init -------------------------------------------------------------- */

static int manim_init(void *instance, char *err, size_t errlen)
{
	manim_conf *c = instance;
	/* The engine has checked quality, sandbox and layout against their
	 * choices (the table lists them). */
	if (!*c->venv) {
		snprintf(err, errlen, "venv: empty (the default is "
			 "${VIDGEN_MANIM_VENV:-/opt/vidgen/venv})");
		return VG_EINVAL;
	}
	if (c->scene && *c->scene) {
		for (const char *p = c->scene; *p; p++)
			if (!(*p == '_' || (*p >= 'a' && *p <= 'z') ||
			      (*p >= 'A' && *p <= 'Z') ||
			      (p != c->scene && *p >= '0' && *p <= '9'))) {
				snprintf(err, errlen, "scene: \"%s\" is not a "
					 "Python class name", c->scene);
				return VG_EINVAL;
			}
	}
	if (c->user && *c->user && strcmp(c->user, "private") != 0 &&
	    !getpwnam(c->user)) {
		snprintf(err, errlen, "user: no account named \"%s\"", c->user);
		return VG_EINVAL;
	}
	return VG_OK;
}

/* ---- locating things --------------------------------------------------- */

static int locate(render_ctx *x, char *err, size_t errlen)
{
	const manim_conf *c = x->c;
	char py[PATH_MAX + 32], real[PATH_MAX];
	snprintf(x->venv, sizeof x->venv, "%s", c->venv);
	snprintf(py, sizeof py, "%s/bin/python", x->venv);
	if (access(py, X_OK) != 0 || !realpath(py, real)) {
		snprintf(err, errlen, "no Manim venv at %s (run scripts/install-deps.sh "
			 "or set VIDGEN_MANIM_VENV)", x->venv);
		return VG_EFAIL;
	}
	/* The venv's interpreter may live elsewhere (pyenv under /root): it is
	 * bound into the sandbox too. prefix = dirname(dirname(real)). */
	char *slash = strrchr(real, '/');
	if (slash)
		*slash = 0;
	slash = strrchr(real, '/');
	if (slash && slash != real)
		*slash = 0;
	snprintf(x->pyhome, sizeof x->pyhome, "%s", real);

	if (c->python_dir && *c->python_dir) {
		snprintf(x->pydir, sizeof x->pydir, "%s", c->python_dir);
	} else {
		/* Uninstalled (the .so sits in a libtool .libs folder): the
		 * helpers are in the source tree; else the data directory. */
		Dl_info info;
		int uninstalled = dladdr((const void *)&manim_settings, &info) &&
				  info.dli_fname && strstr(info.dli_fname, "/.libs/") &&
				  *VG_MANIM_SRCDIR;
		snprintf(x->pydir, sizeof x->pydir, "%s",
			 uninstalled ? VG_MANIM_SRCDIR : VG_DATADIR "/python");
	}
	snprintf(py, sizeof py, "%s/vidgen_render.py", x->pydir);
	if (access(py, R_OK) != 0) {
		snprintf(err, errlen, "vidgen's Python helpers are missing from %s",
			 x->pydir);
		return VG_EFAIL;
	}
	if (!have_program("ffmpeg") || !have_program("ffprobe")) {
		snprintf(err, errlen, "ffmpeg/ffprobe not found (install Debian's ffmpeg)");
		return VG_EFAIL;
	}
	return VG_OK;
}

/* ---- the work directory ------------------------------------------------ */

static const vg_artifact *find_input(const vg_stage *st, const char *kind)
{
	for (size_t i = 0; i < st->n_inputs; i++)
		if (st->inputs[i].kind && strcmp(st->inputs[i].kind, kind) == 0)
			return &st->inputs[i];
	return NULL;
}

/* Copies the narration JSON and the audio files it names into
 * work/narration, and writes concat.txt (ffmpeg's concat list) there.
 * Returns VG_OK, or VG_EINVAL for a narration that cannot be used. */
static int stage_narration(render_ctx *x, const vg_artifact *nar, char *err,
			   size_t errlen)
{
	char dir[PATH_MAX + 16], src[PATH_MAX * 2], dst[PATH_MAX * 2];
	json_error_t jerr;
	json_t *root = NULL;
	char *list = NULL;
	size_t list_len = 0;
	FILE *lf = NULL;
	int rc = VG_EINVAL;

	snprintf(dir, sizeof dir, "%s/narration", x->work);
	if (mkdir(dir, 0755) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return VG_EIO;
	}
	root = json_load_file(nar->path, JSON_REJECT_DUPLICATES, &jerr);
	json_t *segs = root ? json_object_get(root, "segments") : NULL;
	if (!json_is_array(segs) || json_array_size(segs) > MANIM_MAX_SEGMENTS) {
		snprintf(err, errlen, "narration %s is not a narration file (%s)",
			 nar->path, root ? "no segments" : jerr.text);
		goto out;
	}
	char base[PATH_MAX];
	snprintf(base, sizeof base, "%s", nar->path);
	char *slash = strrchr(base, '/');
	if (slash)
		*slash = 0;
	lf = open_memstream(&list, &list_len);
	if (!lf)
		goto out;
	size_t i;
	json_t *s;
	json_array_foreach(segs, i, s) {
		const char *file = json_string_value(json_object_get(s, "file"));
		double d = json_number_value(json_object_get(s, "duration"));
		if (!file || !safe_name(file) || !(d >= 0 && d < 3600)) {
			snprintf(err, errlen, "narration segment %zu: bad file or "
				 "duration", i);
			goto out;
		}
		snprintf(src, sizeof src, "%s/%s", base, file);
		snprintf(dst, sizeof dst, "%s/%s", dir, file);
		if (copy_file(src, dst, 256L << 20) != 0) {
			snprintf(err, errlen, "cannot copy narration audio %s", file);
			rc = VG_EIO;
			goto out;
		}
		fprintf(lf, "file '%s'\n", file);
		x->narration_s += d;
	}
	if (fclose(lf) != 0) {
		lf = NULL;
		goto out;
	}
	lf = NULL;
	snprintf(dst, sizeof dst, "%s/concat.txt", dir);
	snprintf(src, sizeof src, "%s/narration.json", dir);
	if (write_text(dst, list ? list : "", list_len) != 0 ||
	    copy_file(nar->path, src, 16L << 20) != 0) {
		snprintf(err, errlen, "cannot write the narration into %s", dir);
		rc = VG_EIO;
		goto out;
	}
	x->has_narration = json_array_size(segs) > 0;
	x->n_segments = (long)json_array_size(segs);
	rc = VG_OK;
out:
	if (lf)
		fclose(lf);
	free(list);
	json_decref(root);
	return rc;
}

/* Creates a fresh work directory for this attempt, owned by the render
 * user, holding scene.py and the narration. */
static int prepare_work(render_ctx *x, const vg_artifact *script,
			const vg_artifact *nar, char *err, size_t errlen)
{
	char tmpl[PATH_MAX], path[PATH_MAX + 16];
	snprintf(tmpl, sizeof tmpl, "%s/work%d.XXXXXX", x->st->dir, x->st->attempt);
	if (!mkdtemp(tmpl) || !realpath(tmpl, x->work)) {
		snprintf(err, errlen, "cannot create a work directory in %s: %s",
			 x->st->dir, strerror(errno));
		return VG_EIO;
	}
	snprintf(path, sizeof path, "%s/scene.py", x->work);
	if (write_text(path, script->data, script->len) != 0) {
		snprintf(err, errlen, "cannot write %s", path);
		return VG_EIO;
	}
	if (nar) {
		int rc = stage_narration(x, nar, err, errlen);
		if (rc != VG_OK)
			return rc;
	}
	if (chmod(x->work, 0755) != 0 ||
	    (x->drop && chown(x->work, x->uid, x->gid) != 0)) {
		snprintf(err, errlen, "cannot hand %s to the render user: %s",
			 x->work, strerror(errno));
		return VG_EIO;
	}
	return VG_OK;
}

/* ---- the sandbox ------------------------------------------------------- */

/* What of the host a render sees, read-only, at the same place: system
 * software and the few files under /etc and /var that the dynamic loader,
 * fontconfig, TeX and ghostscript read. Nothing else of the host exists in
 * the sandbox (the rest of /etc, /var, /srv, /opt, /home, the jobs), so a
 * script that opens a file by path finds only these, whatever user vidgen
 * runs as. Entries missing here are skipped. */
static const char *const sandbox_system[] = {
	"/usr",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/alternatives",                  /* Debian's links: libblas, ... */
	"/etc/fonts", "/var/cache/fontconfig", /* fontconfig and its cache */
	"/etc/texmf", "/var/lib/texmf",        /* TeX Live's config, formats */
	"/etc/ghostscript",                    /* dvisvgm's font maps */
	"/etc/localtime",
};

/* The top-level folders a merged /usr makes links (/bin -> usr/bin). */
static const char *const sandbox_top[] = {
	"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
};

/* Makes each missing parent of path (below /) a 0755 folder: bwrap would
 * create them 0700, which the render user (not the one running bwrap when
 * vidgen is root) could not cross. Parents already made are not repeated. */
static void sandbox_parents(argv_b *a, const char *path)
{
	for (const char *p = path + 1; (p = strchr(p, '/')); p++) {
		int len = (int)(p - path), seen = 0;
		for (int i = 1; i < a->n && !seen; i++)
			seen = !strcmp(a->v[i - 1], "--dir") &&
			       (int)strlen(a->v[i]) == len &&
			       !strncmp(a->v[i], path, (size_t)len);
		if (seen)
			continue;
		av_add(a, "--perms");
		av_add(a, "0755");
		av_add(a, "--dir");
		av_addf(a, "%.*s", len, path);
	}
}

/* Binds path read-only at the same place; nothing for "" or for what /usr
 * already holds. */
static void sandbox_ro_bind(argv_b *a, const char *path, int try)
{
	if (!*path || !strcmp(path, "/") || !strcmp(path, "/usr") ||
	    !strncmp(path, "/usr/", 5))
		return;
	sandbox_parents(a, path);
	av_add(a, try ? "--ro-bind-try" : "--ro-bind");
	av_add(a, path);
	av_add(a, path);
}

/* The allowlist: /usr, the top-level links (or folders) of the system, the
 * entries of sandbox_system, the interpreter, the venv and the helpers. */
static void sandbox_view(const render_ctx *x, argv_b *a)
{
	av_add(a, "--ro-bind");
	av_add(a, "/usr");
	av_add(a, "/usr");
	for (size_t i = 0; i < sizeof sandbox_top / sizeof *sandbox_top; i++) {
		char to[PATH_MAX];
		struct stat sb;
		ssize_t n;
		if (lstat(sandbox_top[i], &sb) != 0)
			continue;
		if (S_ISLNK(sb.st_mode) &&
		    (n = readlink(sandbox_top[i], to, sizeof to - 1)) > 0) {
			to[n] = 0;
			av_add(a, "--symlink");
			av_addf(a, "%s", to);
			av_add(a, sandbox_top[i]);
		} else if (S_ISDIR(sb.st_mode)) {
			sandbox_ro_bind(a, sandbox_top[i], 0);
		}
	}
	for (size_t i = 0; i < sizeof sandbox_system / sizeof *sandbox_system; i++)
		sandbox_ro_bind(a, sandbox_system[i], 1);
	const char *ours[] = { x->pyhome, x->venv, x->pydir };
	for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
		sandbox_ro_bind(a, ours[i], 0);
}

/* bwrap's --clearenv and one --setenv per variable of env. */
static void sandbox_setenv(argv_b *a, const argv_b *env)
{
	av_add(a, "--clearenv");
	for (int i = 0; i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		if (!eq)
			continue;
		av_add(a, "--setenv");
		av_addf(a, "%.*s", (int)(eq - env->v[i]), env->v[i]);
		av_add(a, eq + 1);
	}
}

/* Appends the sandbox (or, in best-effort mode, nothing but the uid drop)
 * in front of a command run inside the work directory. */
static void sandbox_prefix(const render_ctx *x, argv_b *a, const argv_b *env)
{
	if (x->sandboxed) {
		av_add(a, x->c->bwrap);
		if (x->drop) {
			/* Root is exempt from RLIMIT_NPROC, also inside a user
			 * namespace: keep the host's user table and switch to an
			 * unprivileged account in there instead (setpriv below). */
			const char *ns[] = { "--unshare-ipc", "--unshare-pid",
					     "--unshare-net", "--unshare-uts",
					     "--unshare-cgroup-try", "--cap-add",
					     "CAP_SETUID", "--cap-add", "CAP_SETGID" };
			for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
				av_add(a, ns[i]);
		} else {
			av_add(a, "--unshare-all");
		}
		const char *base[] = { "--die-with-parent", "--new-session",
				       "--dev", "/dev", "--proc", "/proc",
				       "--size" };
		for (size_t i = 0; i < sizeof base / sizeof *base; i++)
			av_add(a, base[i]);
		av_addf(a, "%ld", x->c->tmp_mb * 1024L * 1024L);
		av_add(a, "--tmpfs");
		av_add(a, "/tmp");
		sandbox_view(x, a);
		av_add(a, "--bind");
		av_add(a, x->work);
		av_add(a, MANIM_INNER);
		if (x->bind_cache && *x->cache) {
			av_add(a, "--bind");
			av_add(a, x->cache);
			av_add(a, MANIM_INNER "/media");
		}
		/* The root bwrap built (its folders and links) is read-only
		 * too; /tmp and the work directory stay writable. */
		av_add(a, "--remount-ro");
		av_add(a, "/");
		av_add(a, "--chdir");
		av_add(a, MANIM_INNER);
		/* The child's whole environment, spelled out: nothing of
		 * vidgen's own (credentials) crosses. */
		sandbox_setenv(a, env);
		av_add(a, "--");
	}
	if (x->drop && x->sandboxed) {
		av_add(a, "setpriv");
		av_addf(a, "--reuid=%u", (unsigned)x->uid);
		av_addf(a, "--regid=%u", (unsigned)x->gid);
		av_add(a, "--clear-groups");
		av_add(a, "--inh-caps=-all");
		av_add(a, "--bounding-set=-all");
		av_add(a, "--");
	}
}

/* The render's whole environment: nothing from vidgen's own. */
static void sandbox_env(const render_ctx *x, argv_b *e)
{
	av_addf(e, "PATH=%s/bin:/usr/local/bin:/usr/bin:/bin", x->venv);
	av_addf(e, "VIRTUAL_ENV=%s", x->venv);
	const char *fixed[] = { "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8",
				"LC_ALL=C.UTF-8", "MPLCONFIGDIR=/tmp/.mpl",
				"XDG_CACHE_HOME=/tmp/.cache",
				"XDG_CONFIG_HOME=/tmp/.config",
				"OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1",
				"PYTHONDONTWRITEBYTECODE=1", "PYTHONNOUSERSITE=1" };
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		av_add(e, fixed[i]);
	if (x->has_narration)
		av_addf(e, "VIDGEN_NARRATION=%s/narration/narration.json", x->inner);
}

/* Runs argv in the sandbox with the render limits. Output to log (a file
 * name in the work directory, opened by the engine). */
static int sandbox_run(render_ctx *x, const argv_b *cmd, const char *log,
		       long timeout_ms, int *code)
{
	argv_b a = { .n = 0 }, env = { .n = 0 };
	char logpath[PATH_MAX + 64];
	int rc;
	sandbox_env(x, &env);
	sandbox_prefix(x, &a, &env);
	for (int i = 0; i < cmd->n; i++)
		av_add(&a, cmd->v[i]);
	snprintf(logpath, sizeof logpath, "%s/%s", x->work, log);
	vg_proc p = VG_PROC_INIT(.argv = a.v, .envp = env.v, .cwd = x->work,
		      .stdout_path = logpath, .stderr_path = logpath,
		      .timeout_ms = timeout_ms,
		      .cpu_seconds = x->cpu_s ? x->cpu_s : x->c->cpu_seconds,
		      .memory_mb = x->c->memory_mb,
		      .file_size_mb = x->c->file_size_mb,
		      .max_processes = x->c->max_processes);
	/* A private uid is this render's alone: watch it for a fork bomb,
	 * which RLIMIT_NPROC only holds (bomb_watch.h); half the limit in
	 * processes is far past any render. */
	bomb_watch bw;
	long max = x->c->max_processes;
	int watching = x->drop && strcmp(x->c->user, "private") == 0 && max > 0 &&
		       bomb_watch_start(&bw, x->uid, max >= 16 ? max / 2 : max) == 0;
	/* Under bwrap the environment is set by --setenv; the vg_proc env is
	 * the same clean one, which the best-effort path uses directly. */
	rc = (a.overflow || env.overflow) ? VG_ENOMEM
					   : x->st->svc->spawn(x->st, &p, code);
	x->bomb = watching ? bomb_watch_stop(&bw) : 0;
	av_free(&a);
	av_free(&env);
	return rc;
}

/* Checks that bubblewrap can build the sandbox here; decides the fallback. */
static int sandbox_probe(render_ctx *x, char *err, size_t errlen)
{
	argv_b cmd = { .n = 0 };
	char out[512];
	int code = -1;
	x->sandboxed = 1;
	av_add(&cmd, "true");
	int rc = sandbox_run(x, &cmd, "probe.log", 20000, &code);
	if (rc == VG_OK && code == 0)
		return VG_OK;
	if (rc == VG_ECANCELED)
		return rc;
	char logp[PATH_MAX + 16];
	snprintf(logp, sizeof logp, "%s/probe.log", x->work);
	read_text(logp, out, sizeof out, 0);
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = 0;
	x->sandboxed = 0;
	if (strcmp(x->c->sandbox, "best-effort") != 0) {
		snprintf(err, errlen, "SANDBOX UNAVAILABLE: bubblewrap cannot create "
			 "its namespaces on this host (%s); refusing to run "
			 "generated code. Set sandbox = \"best-effort\" to render "
			 "with limits and a clean environment only",
			 *out ? out : rc == VG_EIO ? "bwrap not found" : "probe failed");
		return VG_EFAIL;
	}
	x->st->svc->log(x->st, VG_LOG_ERROR, "SANDBOX UNAVAILABLE: bubblewrap "
			"cannot create its namespaces here (%s); sandbox = "
			"best-effort, so this render has limits and a clean "
			"environment but NO filesystem or network isolation",
			*out ? out : "probe failed");
	/* Without bwrap the interpreter may not be reachable as another
	 * user (pyenv under /root): stay as we are. */
	x->drop = 0;
	x->inner = x->work;
	return VG_OK;
}

/* ---- check, render, mux ------------------------------------------------ */

/* The static check: parses the script, never runs it. */
static int run_check(render_ctx *x, char *err, size_t errlen)
{
	char py[PATH_MAX + 16], chk[PATH_MAX + 32], script[PATH_MAX + 16];
	char outp[PATH_MAX + 16], out[MANIM_MSG_MAX];
	int code = -1;
	snprintf(py, sizeof py, "%s/bin/python", x->venv);
	snprintf(chk, sizeof chk, "%s/vidgen_check.py", x->pydir);
	snprintf(script, sizeof script, "%s/scene.py", x->work);
	snprintf(outp, sizeof outp, "%s/check.log", x->work);
	const char *scene = x->c->scene && *x->c->scene ? x->c->scene : NULL;
	const char *argv[] = { py, "-E", "-s", "-B", chk, script, scene, NULL };
	const char *env[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL };
	vg_proc p = VG_PROC_INIT(.argv = argv, .envp = env, .cwd = x->work,
				 .stdout_path = outp, .stderr_path = outp,
				 .timeout_ms = 30000, .cpu_seconds = 20, .memory_mb = 2048);
	int rc = x->st->svc->spawn(x->st, &p, &code);
	if (rc == VG_ECANCELED)
		return rc;
	read_text(outp, out, sizeof out, 0);
	if (rc == VG_OK && code == 0) {
		char *nl = strchr(out, '\n');
		if (nl)
			*nl = 0;
		size_t n = strlen(out);
		if (n == 0 || n >= sizeof x->scene) {
			snprintf(err, errlen, "the static checker named no scene");
			return VG_EFAIL;
		}
		memcpy(x->scene, out, n + 1);
		return VG_OK;
	}
	if (rc == VG_OK && code == 1) {
		snprintf(err, errlen, "the script failed the static check:\n%s", out);
		return VG_ESCRIPT;
	}
	if (rc == VG_ETIMEDOUT || code == 128 + 24 || code == 128 + 9) {
		snprintf(err, errlen, "the script is too large or complex to check");
		return VG_ESCRIPT;
	}
	snprintf(err, errlen, "the static checker failed (exit %d): %.2000s", code, out);
	return VG_EFAIL;
}

/* ---- live progress ----------------------------------------------------- */

/* Parses one line of the wrapper's progress file, "p ANIMATIONS SEGMENTS
 * SECONDS" (written by code we do not trust): 0 when it is exactly that,
 * with every number clamped to a sane range. */
static int parse_progress(const char *line, long *anims, long *segs, double *t)
{
	char *end;
	if (line[0] != 'p' || line[1] != ' ')
		return -1;
	const char *p = line + 2;
	long v[2];
	for (int i = 0; i < 2; i++) {
		if (*p < '0' || *p > '9')
			return -1;
		errno = 0;
		v[i] = strtol(p, &end, 10);
		if (errno || *end != ' ' || end - p > 9)
			return -1;
		p = end + 1;
	}
	if (*p < '0' || *p > '9')
		return -1;
	double d = strtod(p, &end);
	if (end == p || (*end && *end != '\n') || !isfinite(d))
		return -1;
	*anims = v[0] > 1000000 ? 1000000 : v[0];
	*segs = v[1] > MANIM_MAX_SEGMENTS ? MANIM_MAX_SEGMENTS : v[1];
	*t = d < 0 ? 0 : d > 86400 ? 86400 : d;
	return 0;
}

/* How far the render is, in [0, 0.98]: by narration segments when the
 * script uses the helper (smoothed by scene time inside a segment), else by
 * scene time against the narration's length, else by animations against the
 * script's count of play()/wait() calls. */
static double render_fraction(const render_ctx *x, long anims, long segs,
			      double t)
{
	double f;
	if (x->n_segments > 0 && segs > 0) {
		double lo = (double)(segs < x->n_segments ? segs : x->n_segments) /
			    (double)x->n_segments;
		double hi = (double)(segs + 1) / (double)x->n_segments;
		double by_time = x->narration_s > 0 ? t / x->narration_s : 0;
		f = by_time > lo ? (by_time < hi ? by_time : hi) : lo;
	} else if (x->narration_s > 0) {
		f = t / x->narration_s;
	} else {
		f = (double)anims / (double)(x->est_animations + 1);
	}
	return f < 0 ? 0 : f > 0.98 ? 0.98 : f;
}

/* Counts play( and wait( in the script: the animation estimate. */
static long count_calls(const char *text, size_t len)
{
	static const char *const calls[] = { "play(", "wait(" };
	long n = 0;
	for (size_t c = 0; c < 2; c++) {
		size_t cl = strlen(calls[c]);
		for (const char *p = text, *e = text + len;
		     (p = memmem(p, (size_t)(e - p), calls[c], cl)); p += cl)
			n++;
	}
	return n;
}

typedef struct watcher {
	render_ctx *x;
	poller poll;
	double last;     /* the last stage fraction reported */
} watcher;

/* Reads the last complete line of the progress file and reports it when
 * the render moved on. The file is read from its tail, at most 256 bytes. */
static void watch_poll(void *arg)
{
	watcher *w = arg;
	render_ctx *x = w->x;
	char path[PATH_MAX + 32], buf[257], note[96];
	struct stat sb;
	snprintf(path, sizeof path, "%s/progress.txt", x->work);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = -1;
	off_t from = 0;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
		from = sb.st_size > 256 ? sb.st_size - 256 : 0;
		n = pread(fd, buf, 256, from);
	}
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	/* The last line that ends with a newline (the one after it may be
	 * half written). */
	char *end = strrchr(buf, '\n');
	if (!end)
		return;
	*end = 0;
	char *line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	if (line == buf && from > 0)
		return; /* no line start inside the window */
	long anims, segs;
	double t;
	if (parse_progress(line, &anims, &segs, &t) != 0)
		return;
	double f = x->span_lo + (x->span_hi - x->span_lo) *
		   render_fraction(x, anims, segs, t);
	if (f < w->last + 0.005)
		return;
	w->last = f;
	if (segs > 0 && x->n_segments > 0)
		snprintf(note, sizeof note, "rendering%s: narration segment %ld of "
			 "%ld done", x->final ? " the final" : "",
			 segs < x->n_segments ? segs : x->n_segments, x->n_segments);
	else
		snprintf(note, sizeof note, "rendering%s: %ld animation%s, %.1f s",
			 x->final ? " the final" : "", anims, anims == 1 ? "" : "s", t);
	x->st->svc->progress(x->st, f, note);
}

/* Starts the progress thread; 0 when it runs (without it the render
 * still goes on, with less progress shown). */
static int watch_start(watcher *w, render_ctx *x)
{
	w->x = x;
	w->last = x->span_lo;
	return poller_start(&w->poll, MANIM_POLL_MS, watch_poll, w);
}

static void watch_stop(watcher *w)
{
	poller_stop(&w->poll);
}

/* ---- the layout report ------------------------------------------------- */

/* 1 when segments that raise become fallback cards. */
static int fallback_mode(const manim_conf *c)
{
	return !c->on_segment_failure || strcmp(c->on_segment_failure, "fail") != 0;
}

static const char *layout_mode(const manim_conf *c)
{
	return c->layout && *c->layout ? c->layout : "warn";
}

/* Reads the wrapper's layout report (text off screen, overlapping texts),
 * keeps a copy as layout.txt in the stage directory and logs it; in repair
 * mode a report with problems makes the render a script error. */
static int check_layout(render_ctx *x, char *err, size_t errlen)
{
	char path[PATH_MAX + 32], rep[MANIM_LAYOUT_MAX];
	snprintf(path, sizeof path, "%s/layout.txt", x->work);
	read_text(path, rep, sizeof rep, 0);
	snprintf(path, sizeof path, "%s/layout.txt", x->st->dir);
	/* Only whole lines: a report cut short by the read limit loses its
	 * last, partial line. */
	char *nl = strrchr(rep, '\n');
	if (nl)
		nl[1] = 0;
	else
		rep[0] = 0;
	if (!*rep) {
		unlink(path); /* an earlier attempt's report no longer holds */
		return VG_OK;
	}
	if (write_text(path, rep, strlen(rep)) != 0)
		x->st->svc->log(x->st, VG_LOG_WARN, "cannot write %s", path);
	int n = 0;
	for (char *p = rep; *p; n++) {
		char *e = strchr(p, '\n');
		x->st->svc->log(x->st, VG_LOG_WARN, "layout: %.*s", (int)(e - p), p);
		p = e + 1;
	}
	if (strcmp(layout_mode(x->c), "repair") != 0)
		return VG_OK;
	if (x->st->last_repair) {
		/* Failing now would throw the video away with the job. */
		x->st->svc->log(x->st, VG_LOG_WARN, "layout: %d problem%s left after the last "
				"repair; keeping the video (see layout.txt)", n, n == 1 ? "" : "s");
		return VG_OK;
	}
	snprintf(err, errlen, "the script rendered, but its video has %d layout "
		 "problem%s: elements off screen or on top of each other (keep "
		 "every element inside the frame and texts apart; each line names "
		 "the play() or wait() after which it was seen):\n%s", n,
		 n == 1 ? "" : "s", rep);
	return VG_ESCRIPT;
}

/* Logs what the wrapper's stats.txt ("rendered N cached M", hostile) says
 * the render drew and what it took from the cache. */
static void log_cache_use(const render_ctx *x)
{
	char path[PATH_MAX + 32], text[128];
	long drawn, cached, slices = 1;
	double cpu = -1;
	snprintf(path, sizeof path, "%s/stats.txt", x->work);
	read_text(path, text, sizeof text, 0);
	int n = sscanf(text, "rendered %ld cached %ld slices %ld cpu %lf", &drawn, &cached,
		       &slices, &cpu);
	if (n < 2 || drawn < 0 || cached < 0 || drawn > 1000000 || cached > 1000000 ||
	    slices < 1 || slices > 64 || !(cpu < 1e7))
		return;
	x->st->svc->log(x->st, VG_LOG_INFO, "%s animations: %ld rendered, %ld from "
			"the cache, in %ld slice%s, %.1f CPU s", x->quality, drawn, cached,
			slices, slices == 1 ? "" : "s", cpu > 0 ? cpu : 0.0);
	/* bwrap's own pid namespace hides the render's processes from the
	 * CPU time svc->spawn counts: the wrapper's count is the render's.
	 * (Unsandboxed, the core counted it already.) */
	if (x->sandboxed && cpu > 0 && VG_HAS(x->st->svc, vg_services, usage))
		x->st->svc->usage(x->st, "cpu_seconds", cpu);
}

/* ---- failed segments ---------------------------------------------------- */

/* Reads the wrapper's segments.txt ("INDEX START END rendered|fallback" a
 * line, written next to the script: hostile) into the list of segments
 * that fell back, as text ("3, 5"). Returns how many; lines that are not
 * exactly that are ignored. */
static int read_fallbacks(const render_ctx *x, char *list, size_t listlen)
{
	char path[PATH_MAX + 32], *text = malloc(65536);
	int n = 0;
	size_t used = 0;
	list[0] = 0;
	if (!text)
		return 0;
	snprintf(path, sizeof path, "%s/segments.txt", x->work);
	read_text(path, text, 65536, 0);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		long idx;
		double a, b;
		char status[16];
		if (sscanf(line, "%ld %lf %lf %15s", &idx, &a, &b, status) != 4 ||
		    idx < 0 || idx >= MANIM_MAX_SEGMENTS || strcmp(status, "fallback"))
			continue;
		if (used + 16 < listlen)
			used += (size_t)snprintf(list + used, listlen - used, "%s%ld",
						 n ? ", " : "", idx);
		n++;
	}
	free(text);
	return n;
}

/* After a render that made its video: segments that raised were replaced
 * by fallback cards (segment_errors.txt says why). Before the last repair
 * that is a script error listing them, so the validation model fixes them
 * all at once; at the last one (or where no repair is left to ask for) the
 * video is kept and the job's message names them. */
static int check_segments(render_ctx *x, char *err, size_t errlen)
{
	char path[PATH_MAX + 32], list[256];
	char *rep = malloc(MANIM_MSG_MAX);
	int rc = VG_OK;
	if (!rep)
		return VG_ENOMEM;
	snprintf(path, sizeof path, "%s/segment_errors.txt", x->work);
	read_text(path, rep, MANIM_MSG_MAX, 0);
	int n = read_fallbacks(x, list, sizeof list);
	if (!*rep && n == 0)
		goto out;
	if (!x->st->last_repair) {
		snprintf(err, errlen, "the script failed in %s of its narration "
			 "segments (each one below: where, the error, the segment's "
			 "code); the rest of it rendered:\n%s",
			 n > 1 ? "some" : "one", rep);
		rc = VG_ESCRIPT;
		goto out;
	}
	x->st->svc->log(x->st, VG_LOG_WARN, "segments %s still failed after the "
			"last repair; they show their narration over a card with "
			"their text:\n%s", *list ? list : "?", rep);
	x->n_fallbacks = n;
	snprintf(x->fallbacks, sizeof x->fallbacks, "%s", list);
out:
	free(rep);
	return rc;
}

/* ---- the stall watchdog ------------------------------------------------- */

/* The wall-clock and CPU limits grow with the narration: an honest long
 * video at 1080p60 must never be cut; the stall watchdog, not the overall
 * limit, is what stops an endless loop early. */
static void render_limits(render_ctx *x)
{
	double extra = x->narration_s * (double)x->c->per_second;
	if (extra > 86400)
		extra = 86400;
	x->limit_s = x->c->timeout_s + (long)ceil(extra);
	x->cpu_s = x->c->cpu_seconds + (long)ceil(extra);
}

/* Copies line n of the script (without its indentation, at most 160
 * bytes) into out; "" when there is none. */
static void script_line(const render_ctx *x, long n, char *out, size_t outlen)
{
	const char *p = x->script, *e = x->script ? x->script + x->script_len : NULL;
	out[0] = 0;
	for (long i = 1; p && p < e && i < n; i++) {
		p = memchr(p, '\n', (size_t)(e - p));
		p = p ? p + 1 : NULL;
	}
	if (!p || p >= e || n < 1)
		return;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	const char *nl = memchr(p, '\n', (size_t)(e - p));
	size_t len = (size_t)((nl ? nl : e) - p);
	if (len > 160)
		len = 160;
	snprintf(out, outlen, "%.*s", (int)len, p);
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
}

/* When the wrapper's watchdog stopped the render (its stall.txt holds
 * every thread's stack, written by faulthandler inside the sandbox: hostile
 * text), writes "no progress for N s in segment i (line L)" with the line's
 * code into err and returns 1; 0 when it did not fire. */
static int stall_report(const render_ctx *x, char *err, size_t errlen)
{
	char path[PATH_MAX + 32], where[64], needle[PATH_MAX + 32], code[192];
	char *dump = malloc(16384);
	long line = 0, seg = -1;
	int after = 0;
	if (!dump)
		return 0;
	snprintf(path, sizeof path, "%s/stall.txt", x->work);
	read_text(path, dump, 16384, 0);
	if (!strstr(dump, "most recent call first")) {
		free(dump);
		return 0;
	}
	/* The first frame in the script is the innermost one of the thread
	 * running it (the only thread that does). */
	snprintf(needle, sizeof needle, "File \"%s/scene.py\", line ", x->inner);
	const char *hit = strstr(dump, needle);
	if (hit)
		line = strtol(hit + strlen(needle), NULL, 10);
	free(dump);
	snprintf(path, sizeof path, "%s/segment.txt", x->work);
	read_text(path, where, sizeof where, 0);
	if (sscanf(where, "segment %ld", &seg) == 1 && seg >= 0 && seg < MANIM_MAX_SEGMENTS)
		after = 0;
	else if (sscanf(where, "after %ld", &seg) == 1 && seg >= 0 && seg < MANIM_MAX_SEGMENTS)
		after = 1;
	else
		seg = -1;
	if (line < 0 || line > 1000000)
		line = 0;
	char at[96];
	if (seg < 0)
		snprintf(at, sizeof at, "before the first narration segment");
	else
		snprintf(at, sizeof at, "%s segment %ld", after ? "after" : "in", seg);
	script_line(x, line, code, sizeof code);
	snprintf(err, errlen, "no progress for %ld s %s (line %ld): the render was "
		 "stopped (no frame drawn and no animation finished; an endless "
		 "loop, or a computation far too slow for a video?)%s%s", x->c->stall_s,
		 at, line, *code ? "\n    " : "", code);
	return 1;
}

static int run_render(render_ctx *x, char *err, size_t errlen)
{
	argv_b cmd = { .n = 0 };
	char msg[MANIM_MSG_MAX], path[PATH_MAX + 32];
	int code = -1;
	av_addf(&cmd, "%s/bin/python", x->venv);
	av_add(&cmd, "-E");
	av_add(&cmd, "-s");
	av_add(&cmd, "-B");
	av_addf(&cmd, "%s/vidgen_render.py", x->pydir);
	av_addf(&cmd, "%s/scene.py", x->inner);
	av_add(&cmd, x->scene);
	av_add(&cmd, x->quality);
	av_addf(&cmd, "%s/scene.mp4", x->inner);
	av_addf(&cmd, "%s/error.txt", x->inner);
	/* The drafts were judged; the final is the same scene, larger. */
	if (strcmp(layout_mode(x->c), "off") != 0 && !x->final)
		av_addf(&cmd, "layout=%s/layout.txt", x->inner);
	av_addf(&cmd, "progress=%s/progress.txt", x->inner);
	av_addf(&cmd, "segments=%s", fallback_mode(x->c) ? "fallback" : "fail");
	av_addf(&cmd, "stall=%ld", x->c->stall_s);
	av_addf(&cmd, "media=%s", x->sandboxed ? MANIM_INNER "/media" : x->cache);
	av_addf(&cmd, "jobs=%ld", x->c->render_jobs);
	watcher w;
	int watching = watch_start(&w, x) == 0;
	x->bind_cache = 1;
	int rc = sandbox_run(x, &cmd, "render.log", x->limit_s * 1000, &code);
	x->bind_cache = 0;
	log_cache_use(x);
	if (watching)
		watch_stop(&w);
	av_free(&cmd);
	if (rc == VG_ECANCELED || rc == VG_ENOMEM)
		return rc;
	if (x->bomb) {
		snprintf(err, errlen, "the script started %ld processes at once (a fork "
			 "bomb?): all were killed; a render needs a handful", x->bomb);
		return VG_ESCRIPT;
	}
	if (rc == VG_ETIMEDOUT) {
		snprintf(err, errlen, "the render ran out of time after %ld s and "
			 "was killed (an endless loop, or far too many animations?)",
			 x->limit_s);
		return VG_ESCRIPT;
	}
	if (rc != VG_OK) {
		snprintf(err, errlen, "could not start the renderer");
		return VG_EIO;
	}
	snprintf(path, sizeof path, "%s/error.txt", x->work);
	read_text(path, msg, sizeof msg, 0);
	if (code == 0 && !*msg) {
		struct stat sb;
		snprintf(path, sizeof path, "%s/scene.mp4", x->work);
		if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
			int seg_rc = check_segments(x, err, errlen);
			if (seg_rc == VG_OK && strcmp(layout_mode(x->c), "off") != 0 &&
			    !x->final)
				seg_rc = check_layout(x, err, errlen);
			return seg_rc;
		}
		snprintf(err, errlen, "the render finished without a video");
		return VG_ESCRIPT;
	}
	if (code != 0 && !*msg && stall_report(x, err, errlen))
		return VG_ESCRIPT;
	int script_said = *msg != 0;
	if (!script_said) {
		snprintf(path, sizeof path, "%s/render.log", x->work);
		read_text(path, msg, 2000, 1);
	}
	if (!script_said && code < 128) {
		/* The wrapper reports every Python-level failure in error.txt;
		 * without one, the interpreter or the sandbox itself failed. */
		snprintf(err, errlen, "the renderer could not run (exit %d): %s",
			 code, msg);
		return VG_EFAIL;
	}
	if (code == 128 + 24 || code == 128 + 9)
		snprintf(err, errlen, "the render was killed (%s limit: %s); last "
			 "output:\n%s", code == 128 + 24 ? "CPU time" : "a",
			 code == 128 + 24 ? "too much computation" :
			 "memory, processes or file size", msg);
	else
		snprintf(err, errlen, "the script failed to render (exit %d):\n%s",
			 code, msg);
	return VG_ESCRIPT;
}

/* 0, 1, 2 for 480p15, 720p30, 1080p60. */
static int quality_rank(const char *q)
{
	return !strcmp(q, "1080p60") ? 2 : !strcmp(q, "720p30") ? 1 : 0;
}

/* The attempt renders at draft_quality; once that render is clean (no
 * failed segment, layout passed, or both kept at the last repair), one
 * final render at quality makes the video. The draft stays as draft.mp4
 * beside the logs. One render only when draft_quality is not lower. */
static int render_draft_and_final(render_ctx *x, char *err, size_t errlen)
{
	const manim_conf *c = x->c;
	const char *draft = c->draft_quality ? c->draft_quality : c->quality;
	int two = quality_rank(draft) < quality_rank(c->quality);
	char from[PATH_MAX + 32], to[PATH_MAX + 32];
	x->quality = two ? draft : c->quality;
	x->final = 0;
	x->span_lo = 0.05;
	x->span_hi = two ? 0.25 : 0.85;
	int rc = run_render(x, err, errlen);
	if (rc != VG_OK || !two)
		return rc;
	snprintf(from, sizeof from, "%s/scene.mp4", x->work);
	snprintf(to, sizeof to, "%s/draft.mp4", x->work);
	if (rename(from, to) != 0)
		x->st->svc->log(x->st, VG_LOG_WARN, "cannot keep the draft: %s",
				strerror(errno));
	/* What the draft's render left must not pass for the final's. */
	static const char *const stale[] = { "progress.txt", "scene.mp4.probe.json",
					     "stats.txt",
					     "segments.txt", "segment_errors.txt",
					     "segment.txt", "stall.txt" };
	for (size_t i = 0; i < sizeof stale / sizeof *stale; i++) {
		snprintf(from, sizeof from, "%s/%s", x->work, stale[i]);
		unlink(from);
	}
	x->st->svc->log(x->st, VG_LOG_INFO, "the draft at %s rendered cleanly; "
			"final render at %s", draft, c->quality);
	x->st->svc->progress(x->st, 0.25, "draft rendered");
	x->quality = c->quality;
	x->final = 1;
	x->span_lo = 0.25;
	x->span_hi = 0.85;
	return run_render(x, err, errlen);
}

typedef struct probe_info {
	int has_audio;
	int h264;
	int aac;         /* the soundtrack is AAC already: copied, not encoded */
	double video_s;  /* the video stream's own length */
	double audio_s;  /* the scene's soundtrack, if any */
} probe_info;

static double probe_duration(json_t *o)
{
	const char *d = json_string_value(json_object_get(o, "duration"));
	return d ? strtod(d, NULL) : 0;
}

/* Reads what the render wrapper measured (scene.mp4.probe.json); 0 when
 * it is there and sane. */
static int read_wrapper_probe(const render_ctx *x, probe_info *pi)
{
	char path[PATH_MAX + 32];
	struct stat sb;
	snprintf(path, sizeof path, "%s/scene.mp4.probe.json", x->work);
	if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > 4096)
		return -1;
	json_t *root = json_load_file(path, 0, NULL);
	double v = json_number_value(json_object_get(root, "video_s"));
	double a = json_number_value(json_object_get(root, "audio_s"));
	int ok = v > 0 && v < 86400 && a >= 0 && a < 86400;
	if (ok) {
		pi->video_s = v;
		pi->audio_s = a;
		pi->h264 = json_is_true(json_object_get(root, "h264"));
		pi->has_audio = json_is_true(json_object_get(root, "has_audio"));
		pi->aac = json_is_true(json_object_get(root, "aac"));
	}
	json_decref(root);
	return ok ? 0 : -1;
}

static int run_probe(render_ctx *x, probe_info *pi, char *err, size_t errlen)
{
	memset(pi, 0, sizeof *pi);
	if (read_wrapper_probe(x, pi) == 0)
		return VG_OK;
	argv_b cmd = { .n = 0 };
	char path[PATH_MAX + 16];
	int code = -1;
	const char *args[] = { "ffprobe", "-v", "error", "-show_entries",
			       "stream=codec_type,codec_name,duration:format=duration",
			       "-of", "json" };
	for (size_t i = 0; i < sizeof args / sizeof *args; i++)
		av_add(&cmd, args[i]);
	av_addf(&cmd, "%s/scene.mp4", x->inner);
	int rc = sandbox_run(x, &cmd, "probe.json", 60000, &code);
	av_free(&cmd);
	if (rc == VG_ECANCELED)
		return rc;
	memset(pi, 0, sizeof *pi);
	snprintf(path, sizeof path, "%s/probe.json", x->work);
	json_t *root = rc == VG_OK && code == 0 ? json_load_file(path, 0, NULL) : NULL;
	json_t *streams = json_object_get(root, "streams"), *s;
	size_t i;
	double format_s = probe_duration(json_object_get(root, "format"));
	json_array_foreach(streams, i, s) {
		const char *type = json_string_value(json_object_get(s, "codec_type"));
		const char *codec = json_string_value(json_object_get(s, "codec_name"));
		if (type && !strcmp(type, "video") && !pi->video_s) {
			pi->video_s = probe_duration(s);
			if (!(pi->video_s > 0))
				pi->video_s = format_s;
			pi->h264 = codec && !strcmp(codec, "h264");
		} else if (type && !strcmp(type, "audio") && !pi->has_audio) {
			pi->has_audio = 1;
			pi->audio_s = probe_duration(s);
			pi->aac = codec && !strcmp(codec, "aac");
		}
	}
	json_decref(root);
	if (!(pi->video_s > 0)) {
		snprintf(err, errlen, "the rendered scene is not a playable video");
		return VG_ESCRIPT;
	}
	return VG_OK;
}

/* H.264 + AAC + faststart; the scene's own soundtrack when the script used
 * the narration helper, else the narration laid under it; the last frame
 * held while narration remains. */
static int run_mux(render_ctx *x, const probe_info *pi, char *err, size_t errlen)
{
	argv_b cmd = { .n = 0 };
	char path[PATH_MAX + 16], msg[1500];
	int code = -1;
	/* The narration's own length is what must be heard: a soundtrack
	 * stream runs a little longer than its content (AAC padding). */
	double audio = x->narration_s;
	double fps = atof(strchr(x->quality, 'p') + 1);
	double pad = audio - pi->video_s;
	if (pad > 0.001 && fps > 0) /* whole frames, or tpad adds none */
		pad = ceil(pad * fps - 1e-6) / fps;
	double target = pi->video_s + (pad > 0.001 ? pad : 0);
	const char *head[] = { "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
			       "-y", "-i" };
	for (size_t i = 0; i < sizeof head / sizeof *head; i++)
		av_add(&cmd, head[i]);
	av_addf(&cmd, "%s/scene.mp4", x->inner);
	if (!pi->has_audio && x->has_narration) {
		av_add(&cmd, "-f"); av_add(&cmd, "concat");
		av_add(&cmd, "-safe"); av_add(&cmd, "0");
		av_add(&cmd, "-i");
		av_addf(&cmd, "%s/narration/concat.txt", x->inner);
	} else if (!pi->has_audio) {
		av_add(&cmd, "-f"); av_add(&cmd, "lavfi");
		av_add(&cmd, "-i"); av_add(&cmd, "anullsrc=r=44100:cl=stereo");
	}
	av_add(&cmd, "-map"); av_add(&cmd, "0:v:0");
	av_add(&cmd, "-map"); av_add(&cmd, pi->has_audio ? "0:a:0" : "1:a:0");
	if (pad > 0.001 || !pi->h264) {
		if (pad > 0.001) {
			av_add(&cmd, "-vf");
			av_addf(&cmd, "tpad=stop_mode=clone:stop_duration=%.3f", pad);
		}
		const char *enc[] = { "-c:v", "libx264", "-preset", "veryfast",
				      "-crf", "21", "-pix_fmt", "yuv420p" };
		for (size_t i = 0; i < sizeof enc / sizeof *enc; i++)
			av_add(&cmd, enc[i]);
	} else {
		av_add(&cmd, "-c:v"); av_add(&cmd, "copy");
	}
	/* The scene's own AAC soundtrack is kept as it is (a second encode
	 * costs 0.6 CPU s a half minute, and quality); a soundtrack that
	 * ends early is simply silence there. Any other is encoded. */
	static const char *const copy_audio[] = { "-c:a", "copy" };
	static const char *const encode_audio[] = { "-af", "apad", "-c:a", "aac",
						    "-b:a", "128k" };
	int copy = pi->has_audio && pi->aac;
	const char *const *sound = copy ? copy_audio : encode_audio;
	size_t n_audio = copy ? 2 : sizeof encode_audio / sizeof *encode_audio;
	for (size_t i = 0; i < n_audio; i++)
		av_add(&cmd, sound[i]);
	const char *tail[] = { "-movflags", "+faststart", "-t" };
	for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
		av_add(&cmd, tail[i]);
	av_addf(&cmd, "%.3f", target);
	av_addf(&cmd, "%s/video.mp4", x->inner);
	int rc = sandbox_run(x, &cmd, "mux.log", 600000, &code);
	av_free(&cmd);
	if (rc == VG_ECANCELED)
		return rc;
	if (rc != VG_OK || code != 0) {
		snprintf(path, sizeof path, "%s/mux.log", x->work);
		read_text(path, msg, sizeof msg, 1);
		snprintf(err, errlen, "ffmpeg could not mux the video (exit %d): %s",
			 code, msg);
		return VG_EIO;
	}
	x->st->svc->log(x->st, VG_LOG_INFO, "video %.2f s, narration %.2f s, "
			"output %.2f s (%s)", pi->video_s, x->narration_s, target,
			pi->has_audio ? "scene soundtrack" :
			x->has_narration ? "narration laid under" : "silent");
	return VG_OK;
}

/* ---- captions and poster ------------------------------------------------ */

/* Where each narration segment is heard in the muxed video. With the
 * narration helper (the scene has its own soundtrack) a segment starts
 * where the wrapper's segments.txt says its block started (fallback cards
 * included); without it the narration is laid under the video from 0, one
 * segment after the other. A segment lasts its audio, never past the next
 * one's start nor the video's end. Fills segs (text borrowed from root, the
 * narration JSON the caller frees); returns how many. */
static size_t caption_segments(const render_ctx *x, const probe_info *pi, double length,
			       json_t **root, caption_seg *segs, size_t max)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/narration/narration.json", x->work);
	*root = json_load_file(path, 0, NULL);
	json_t *arr = json_object_get(*root, "segments"), *s;
	size_t i, n = 0;
	double at = 0;
	json_array_foreach(arr, i, s) {
		if (n == max)
			break;
		double d = json_number_value(json_object_get(s, "duration"));
		segs[n] = (caption_seg){ .start = pi->has_audio ? NAN : at,
					 .end = d > 0 && d < 3600 ? d : 0,
					 .text = json_string_value(json_object_get(s, "text")) };
		at += segs[n++].end;
	}
	char *text = pi->has_audio ? malloc(65536) : NULL;
	if (text) {
		snprintf(path, sizeof path, "%s/segments.txt", x->work);
		read_text(path, text, 65536, 0);
		for (char *line = text, *next; *line; line = next) {
			next = strchr(line, '\n');
			next = next ? next + 1 : line + strlen(line);
			long idx;
			double a, b;
			if (sscanf(line, "%ld %lf %lf", &idx, &a, &b) == 3 && idx >= 0 &&
			    (size_t)idx < n && a >= 0 && a < length)
				segs[idx].start = a;
		}
		free(text);
	}
	for (i = 0; i < n; i++) {
		double end = segs[i].start + segs[i].end;
		for (size_t k = 0; k < n; k++)
			if (segs[k].start > segs[i].start && segs[k].start < end)
				end = segs[k].start;
		segs[i].end = end < length ? end : length; /* NaN: not heard, no cue */
	}
	return n;
}

/* video.vtt and video.srt beside video.mp4. 0 when written. */
static int write_captions(const render_ctx *x, const caption_seg *segs, size_t n)
{
	size_t n_cues = 0;
	caption_cue *cues = captions_cut(segs, n, &n_cues);
	char *vtt = cues ? captions_vtt(cues, n_cues) : NULL;
	char *srt = cues ? captions_srt(cues, n_cues) : NULL;
	char path[PATH_MAX + 32];
	int rc = -1;
	if (vtt && srt) {
		snprintf(path, sizeof path, "%s/video.vtt", x->work);
		rc = write_text(path, vtt, strlen(vtt));
		snprintf(path, sizeof path, "%s/video.srt", x->work);
		rc |= write_text(path, srt, strlen(srt));
	}
	captions_free(cues, n_cues);
	free(vtt);
	free(srt);
	return rc;
}

#define MANIM_POSTER_TRIES 4

/* One ffmpeg run: for each time in at, that frame as poster.K.jpg and, 320
 * wide, as thumb.K.jpg. */
static void poster_command(const render_ctx *x, const double *at, argv_b *cmd)
{
	const char *head[] = { "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y" };
	for (size_t i = 0; i < sizeof head / sizeof *head; i++)
		av_add(cmd, head[i]);
	for (int k = 0; k < MANIM_POSTER_TRIES; k++) {
		av_add(cmd, "-ss");
		av_addf(cmd, "%.3f", at[k]);
		av_add(cmd, "-i");
		av_addf(cmd, "%s/video.mp4", x->inner);
	}
	for (int k = 0; k < MANIM_POSTER_TRIES; k++) {
		for (int thumb = 0; thumb < 2; thumb++) {
			av_add(cmd, "-map"); av_addf(cmd, "%d:v:0", k);
			av_add(cmd, "-frames:v"); av_add(cmd, "1");
			if (thumb) {
				av_add(cmd, "-vf"); av_add(cmd, "scale=320:-2");
			}
			av_add(cmd, "-q:v"); av_add(cmd, thumb ? "5" : "3");
			av_addf(cmd, "%s/%s.%d.jpg", x->inner, thumb ? "thumb" : "poster", k);
		}
	}
}

/* Removes the candidates (thumbnails too), but keeps candidate best as
 * video.jpg and video.thumb.jpg. */
static void poster_keep(const render_ctx *x, int best)
{
	char from[PATH_MAX + 32], to[PATH_MAX + 32];
	for (int k = 0; k < MANIM_POSTER_TRIES; k++) {
		for (int thumb = 0; thumb < 2; thumb++) {
			snprintf(from, sizeof from, "%s/%s.%d.jpg", x->work,
				 thumb ? "thumb" : "poster", k);
			snprintf(to, sizeof to, "%s/video%s.jpg", x->work, thumb ? ".thumb" : "");
			if (k != best || rename(from, to) != 0)
				unlink(from);
		}
	}
}

/* The poster (video.jpg) and its thumbnail (video.thumb.jpg, 320 wide): of
 * a few frames late in the first segments (their animations drawn) and at
 * the middle, the one whose JPEG is largest: the most drawn on a plain
 * background, never the black first frame. Returns the chosen frame's time
 * (seconds), or -1 when none was made. */
static double make_poster(render_ctx *x, const caption_seg *segs, size_t n, double length)
{
	double at[MANIM_POSTER_TRIES];
	int k = 0;
	for (size_t i = 0; i < n && k < MANIM_POSTER_TRIES - 1; i++)
		if (segs[i].end > segs[i].start)
			at[k++] = segs[i].start + 0.85 * (segs[i].end - segs[i].start);
	while (k < MANIM_POSTER_TRIES)
		at[k] = length * (k + 1) / (MANIM_POSTER_TRIES + 1), k++;
	at[MANIM_POSTER_TRIES - 1] = length / 2;
	for (k = 0; k < MANIM_POSTER_TRIES; k++) {
		at[k] = at[k] < length - 0.1 ? at[k] : length - 0.1;
		at[k] = at[k] > 0 ? at[k] : 0;
	}
	poster_keep(x, -1); /* nothing the script left passes for a frame */
	argv_b cmd = { .n = 0 };
	poster_command(x, at, &cmd);
	int code = -1, best = -1;
	int rc = sandbox_run(x, &cmd, "poster.log", 120000, &code);
	av_free(&cmd);
	off_t size = 0;
	for (k = 0; k < MANIM_POSTER_TRIES && rc == VG_OK && code == 0; k++) {
		char path[PATH_MAX + 32];
		struct stat sb;
		snprintf(path, sizeof path, "%s/poster.%d.jpg", x->work, k);
		if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > size &&
		    sb.st_size < (16L << 20)) {
			size = sb.st_size;
			best = k;
		}
	}
	poster_keep(x, best);
	return best >= 0 ? at[best] : -1;
}

/* The captions and the poster beside the muxed video.mp4, for the stores
 * to keep beside the video (plugins/common/companions.h). Names left by the
 * script in the work directory are removed first; a failure here costs the
 * companion, never the video. */
static void make_companions(render_ctx *x, const probe_info *pi)
{
	char path[PATH_MAX + 32];
	for (const companion *c = companions; c->suffix; c++) {
		snprintf(path, sizeof path, "%s/video%s", x->work, c->suffix);
		unlink(path);
	}
	double length = pi->video_s > x->narration_s ? pi->video_s : x->narration_s;
	caption_seg *segs = calloc(MANIM_MAX_SEGMENTS, sizeof *segs);
	json_t *root = NULL;
	size_t n = segs && x->has_narration
		? caption_segments(x, pi, length, &root, segs, MANIM_MAX_SEGMENTS) : 0;
	if (n && write_captions(x, segs, n) != 0)
		x->st->svc->log(x->st, VG_LOG_WARN, "cannot write the captions");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double at = segs ? make_poster(x, segs, n, length) : -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (at < 0)
		x->st->svc->log(x->st, VG_LOG_WARN, "cannot make the poster (poster.log)");
	else
		x->st->svc->log(x->st, VG_LOG_INFO, "poster: the frame at %.2f s, of %d "
				"(%.2f s)", at, MANIM_POSTER_TRIES, (double)(t1.tv_sec - t0.tv_sec) +
				(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	json_decref(root);
	free(segs);
}

/* lchown()s path and, for a folder, everything below it (links are not
 * followed; at most 16 levels, Manim's media tree has 6). 0 when all went. */
static int chown_tree(const char *path, uid_t uid, gid_t gid, int depth)
{
	struct stat sb;
	if (lstat(path, &sb) != 0 || lchown(path, uid, gid) != 0)
		return -1;
	if (!S_ISDIR(sb.st_mode))
		return 0;
	if (depth >= 16)
		return -1;
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int rc = 0;
	struct dirent *de;
	char sub[PATH_MAX];
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) >= sizeof sub)
			rc = -1;
		else
			rc = chown_tree(sub, uid, gid, depth + 1);
	}
	closedir(d);
	return rc;
}

/* Makes the stage's media folder (stage/media), which Manim's partial
 * movie cache and TeX cache live in across the job's attempts, and an
 * empty mount point for it in the work directory. A root vidgen renders
 * each attempt as a new private uid: the folder is handed to it (lchown,
 * links not followed). Only this job's renders ever wrote there. */
static int prepare_cache(render_ctx *x, char *err, size_t errlen)
{
	char path[PATH_MAX + 16];
	struct stat sb;
	snprintf(path, sizeof path, "%s/media", x->st->dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		goto fail;
	if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode) || !realpath(path, x->cache))
		goto fail;
	if (x->drop && chown_tree(x->cache, x->uid, x->gid, 0) != 0)
		goto fail;
	snprintf(path, sizeof path, "%s/media", x->work);
	if (mkdir(path, 0755) != 0 || (x->drop && chown(path, x->uid, x->gid) != 0))
		goto fail;
	return VG_OK;
fail:
	snprintf(err, errlen, "cannot prepare the render cache %s: %s", path,
		 strerror(errno));
	return VG_EIO;
}

/* The cache is worth nothing once the stage has its video, or once no
 * repair is left to use it. */
static void drop_cache(const render_ctx *x)
{
	if (*x->cache)
		nftw(x->cache, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Drops what the render left besides the video (partial movie files, TeX
 * cache): only the video and the logs are kept. */
static void discard_scratch(const render_ctx *x)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/media", x->work);
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(path, sizeof path, "%s/scene.mp4", x->work);
	unlink(path);
}

/* The unprivileged identity a root vidgen renders as: a private uid per
 * render (RLIMIT_NPROC then counts this render's tasks alone, and two
 * renders cannot signal or write each other), else the `user` account. */
static int pick_render_user(const manim_conf *c, render_ctx *x, char *err,
			    size_t errlen)
{
	if (strcmp(c->user, "private") == 0) {
		unsigned r = 0;
		if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
			r = (unsigned)getpid() ^ (unsigned)time(NULL);
		x->uid = (uid_t)(MANIM_PRIVATE_UID + r % MANIM_PRIVATE_UIDS);
		x->gid = (gid_t)x->uid;
	} else {
		struct passwd *pw = getpwnam(c->user);
		if (!pw) {
			snprintf(err, errlen, "user: no account named \"%s\"", c->user);
			return VG_EINVAL;
		}
		x->uid = pw->pw_uid;
		x->gid = pw->pw_gid;
	}
	x->drop = 1;
	return VG_OK;
}

static int manim_run(void *instance, vg_stage *st)
{
	const manim_conf *c = instance;
	render_ctx *x = calloc(1, sizeof *x);
	char err[MANIM_MSG_MAX + 256] = "";
	probe_info pi;
	int rc = VG_ENOMEM;
	if (!x)
		goto out;
	x->c = c;
	x->st = st;
	x->inner = MANIM_INNER;
	const vg_artifact *script = find_input(st, "script");
	if (!script)
		script = find_input(st, "text");
	const vg_artifact *nar = find_input(st, "narration");
	rc = VG_EINVAL;
	if (!script || !script->data) {
		snprintf(err, sizeof err, "manim needs a script input");
		goto out;
	}
	x->est_animations = count_calls(script->data, script->len);
	if (nar && !nar->path) {
		snprintf(err, sizeof err, "the narration input has no file");
		goto out;
	}
	if (geteuid() == 0 && c->user && *c->user) {
		if ((rc = pick_render_user(c, x, err, sizeof err)) != VG_OK)
			goto out;
	}
	if ((rc = locate(x, err, sizeof err)) != VG_OK ||
	    (rc = prepare_work(x, script, nar, err, sizeof err)) != VG_OK ||
	    (rc = prepare_cache(x, err, sizeof err)) != VG_OK)
		goto out;
	x->script = script->data;
	x->script_len = script->len;
	render_limits(x);
	if (c->check && (rc = run_check(x, err, sizeof err)) != VG_OK)
		goto out;
	if (!c->check && !*x->scene)
		snprintf(x->scene, sizeof x->scene, "%s",
			 c->scene && *c->scene ? c->scene : "-");
	st->svc->progress(st, 0.05, "script checked");
	if ((rc = sandbox_probe(x, err, sizeof err)) != VG_OK)
		goto out;
	if ((rc = render_draft_and_final(x, err, sizeof err)) != VG_OK)
		goto out;
	st->svc->progress(st, 0.85, "rendered");
	if ((rc = run_probe(x, &pi, err, sizeof err)) != VG_OK ||
	    (rc = run_mux(x, &pi, err, sizeof err)) != VG_OK)
		goto out;
	make_companions(x, &pi);
	char video[PATH_MAX + 16];
	struct stat sb;
	snprintf(video, sizeof video, "%s/video.mp4", x->work);
	if (lstat(video, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, sizeof err, "the muxed video is missing");
		rc = VG_EIO;
		goto out;
	}
	rc = st->svc->output_file(st, "video", video);
	if (rc == VG_OK && x->n_fallbacks && VG_HAS(st->svc, vg_services, note))
		st->svc->note(st, "narration segment%s %s could not be rendered and "
			      "show%s the narration over a card with %s text",
			      x->n_fallbacks > 1 ? "s" : "", x->fallbacks,
			      x->n_fallbacks > 1 ? "" : "s",
			      x->n_fallbacks > 1 ? "their" : "its");
out:
	if (x && *x->work)
		discard_scratch(x); /* also after a failure: logs stay, media goes */
	if (x && (rc == VG_OK || st->last_repair))
		drop_cache(x);
	if (rc != VG_OK && rc != VG_ECANCELED && *err)
		st->svc->fail(st, "%s", err);
	free(x);
	return rc;
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "manim",
	.kind = "render",
	.version = "1.0.0",
	.description = "Renders a Manim script with its narration into an MP4 "
		       "(static check, bubblewrap sandbox, ffmpeg mux)",
	.settings = manim_settings,
	.instance_size = sizeof(manim_conf),
	.init = manim_init,
	.run = manim_run,
};
