/*
 * `vidgen render`: renders a user's own Manim script, with narration, through
 * the same espeak and manim plugins (and so the same static check, sandbox
 * and mux) a pipeline uses. A throwaway job directory holds the two stages.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "proc.h"
#include "registry.h"
#include "services.h"
#include "settings.h"
#include "util.h"

#define RENDER_MAX_SCRIPT (512 * 1024)
#define RENDER_MAX_TEXT (64 * 1024)
#define RENDER_MAX_OVERRIDES 8

/* Runs one stage of the throwaway job; on success *out_path gets the
 * output file (caller frees). */
static int stage_exec(const plugin_inst *pi, const char *id, vg_job_info *job,
		      const vg_artifact *inputs, size_t n, char **out_path)
{
	stage_run run = { 0 };
	char *dir = util_path_join(job->job_dir, id);
	int rc;

	if (util_mkdir_p(dir, 0755) < 0) {
		fprintf(stderr, "vidgen render: cannot create %s: %s\n", dir, strerror(errno));
		free(dir);
		return VG_EIO;
	}
	stage_run_init(&run, &(stage_params){ .id = id, .dir = dir, .job = job,
					      .inputs = inputs, .n_inputs = n });
	rc = pi->pl->run(pi->data, &run.st);
	if (rc == VG_OK && !run.out_path)
		rc = VG_EFAIL;
	if (rc == VG_OK)
		*out_path = xstrdup(run.out_path);
	else
		fprintf(stderr, "vidgen render: %s failed: %s\n", id,
			stage_run_error(&run, rc));
	stage_run_clear(&run);
	free(dir);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vidgen render [-v VOICE] [--narration-file F] [-o OUT.mp4] SCRIPT.py\n"
		"  -v, --voice VOICE        narration voice (default Joanna)\n"
		"  -n, --narration-file F   text to narrate (sentences become segments)\n"
		"  -o, --output OUT.mp4     where to write the video (default SCRIPT.mp4)\n"
		"  -q, --quality Q          480p15 (default), 720p30 or 1080p60\n"
		"  -s, --scene NAME         the one Scene subclass to render (default: all,\n"
		"                           in the file's order, as parts of one video)\n"
		"  -j, --jobs K             render in K slices at once (0 = one per CPU, default)\n"
		"      --timeout SECONDS    wall-clock limit for the render\n"
		"      --best-effort        render even where bubblewrap cannot sandbox\n"
		"      --no-check           skip the static check (trusted scripts only;\n"
		"                           the sandbox still applies)\n"
		"      --keep               keep the work directory and print it\n"
		"      --layout MODE        warn (default): report text off screen or overlapping;\n"
		"                           repair: fail on them; off: no check\n"
		"      --plugin-dir DIR     look for plugins here first\n");
}

typedef struct render_opts {
	const char *voice, *narration, *output, *script, *plugin_dir;
	setting_value ov[RENDER_MAX_OVERRIDES]; /* manim settings from options */
	size_t n_ov;
	char timeout_s[32];
	int keep;
} render_opts;

static int parse_opts(int argc, char **argv, render_opts *o)
{
	static const struct option opts[] = {
		{ "voice", required_argument, NULL, 'v' },
		{ "narration-file", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "quality", required_argument, NULL, 'q' },
		{ "scene", required_argument, NULL, 's' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "best-effort", no_argument, NULL, 'B' },
		{ "no-check", no_argument, NULL, 'C' },
		{ "keep", no_argument, NULL, 'K' },
		{ "layout", required_argument, NULL, 'L' },
		{ "plugin-dir", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	o->voice = "Joanna";
	optind = 1;
	/* One render, at the quality asked for: there is no repair loop here
	 * to spend drafts on. */
	o->ov[o->n_ov++] = (setting_value){ .name = "draft_quality", .text = "1080p60" };
	while ((c = getopt_long(argc, argv, "v:n:o:q:s:j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'v': o->voice = optarg; break;
		case 'n': o->narration = optarg; break;
		case 'o': o->output = optarg; break;
		case 'q': o->ov[o->n_ov++] = (setting_value){ .name = "quality", .text = optarg }; break;
		case 's': o->ov[o->n_ov++] = (setting_value){ .name = "scene", .text = optarg }; break;
		case 'j': o->ov[o->n_ov++] = (setting_value){ .name = "render_jobs", .text = optarg }; break;
		case 'T': {
			char *end;
			long s = strtol(optarg, &end, 10);
			if (*end || s <= 0 || s > 7200) {
				fprintf(stderr, "vidgen render: --timeout takes 1..7200 seconds\n");
				return 2;
			}
			snprintf(o->timeout_s, sizeof o->timeout_s, "%ld", s);
			o->ov[o->n_ov++] = (setting_value){ .name = "render_timeout", .text = o->timeout_s };
			break;
		}
		case 'B': o->ov[o->n_ov++] = (setting_value){ .name = "sandbox", .text = "best-effort" }; break;
		case 'C': o->ov[o->n_ov++] = (setting_value){ .name = "check", .text = "false" }; break;
		case 'K': o->keep = 1; break;
		case 'L': o->ov[o->n_ov++] = (setting_value){ .name = "layout", .text = optarg }; break;
		case 'P': o->plugin_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'E': cli_print_version(); return 0;
		default: usage(stderr); return 2;
		}
		if (o->n_ov >= RENDER_MAX_OVERRIDES)
			return 2;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	o->script = argv[optind];
	return -1;
}

/* Where the video goes: -o, else the script's name with .mp4. */
static char *output_path(const render_opts *o)
{
	if (o->output)
		return util_path_abs(o->output);
	const char *base = strrchr(o->script, '/');
	base = base ? base + 1 : o->script;
	size_t n = strlen(base);
	if (n > 3 && !strcmp(base + n - 3, ".py"))
		n -= 3;
	char *name = xmalloc(n + 5);
	memcpy(name, base, n);
	strcpy(name + n, ".mp4");
	char *abs = util_path_abs(name);
	free(name);
	return abs;
}

/* Moves the finished video to its destination: a rename where the file
 * system allows, else a streamed copy to a temporary name and a rename. */
static int deliver(const char *from, const char *to)
{
	char tmp[4096], buf[65536];
	FILE *in = NULL, *out = NULL;
	int rc = -1;

	if (rename(from, to) == 0)
		return 0;
	snprintf(tmp, sizeof tmp, "%s.tmp", to);
	in = fopen(from, "rb");
	out = in ? fopen(tmp, "wb") : NULL;
	if (!in || !out)
		goto out;
	for (;;) {
		size_t n = fread(buf, 1, sizeof buf, in);
		if (n == 0)
			break;
		if (fwrite(buf, 1, n, out) != n)
			goto out;
	}
	if (ferror(in))
		goto out;
	rc = fclose(out);
	out = NULL;
	if (rc == 0)
		rc = rename(tmp, to);
out:
	if (rc != 0) {
		fprintf(stderr, "vidgen render: cannot write %s: %s\n", to, strerror(errno));
		unlink(tmp);
	}
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	return rc;
}

/* The render's captions and poster, found beside its video (NAME.vtt,
 * NAME.srt, NAME.jpg: job.h's job_media_files but the thumbnail), go beside
 * the output, ".mp4" replaced; a file the render did not leave is skipped. */
static int deliver_companions(const char *video, const char *out)
{
	static const char *const suffixes[] = { ".vtt", ".srt", ".jpg" };
	size_t vn = strlen(video), on = strlen(out);
	char from[4096], to[4096];
	int rc = 0;

	if (vn > 4 && !strcmp(video + vn - 4, ".mp4"))
		vn -= 4;
	if (on > 4 && !strcmp(out + on - 4, ".mp4"))
		on -= 4;

	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		snprintf(from, sizeof from, "%.*s%s", (int)vn, video, suffixes[i]);
		snprintf(to, sizeof to, "%.*s%s", (int)on, out, suffixes[i]);
		if (access(from, F_OK) == 0 && deliver(from, to) != 0)
			rc = -1;
	}
	return rc;
}

/* Reads a user file for an input artifact: bounded, UTF-8. */
static int read_input(const char *path, size_t max, const char *what, char **out,
		      size_t *len)
{
	char err[512];
	if (util_read_file(path, max, out, len, err, sizeof err) < 0) {
		fprintf(stderr, "vidgen render: %s: %s\n", what, err);
		return -1;
	}
	if (!util_utf8_valid(*out, *len, NULL)) {
		fprintf(stderr, "vidgen render: %s %s is not UTF-8 text\n", what, path);
		return -1;
	}
	return 0;
}

/* An instance of lp from its table's defaults and the given values; errors
 * read "vidgen render: PLUGIN: what is wrong". */
static int plugin_build(plugin_inst *pi, const loaded_plugin *lp, const setting_value *v,
			size_t n)
{
	char err[1024];

	if (settings_apply(pi, lp->desc, v, n, &(settings_ctx){ 0 }, err, sizeof err) == 0)
		return 0;
	fprintf(stderr, "vidgen render: %s: %s\n", lp->desc->name, err);
	return -1;
}

static int render_job(const render_opts *o, const plugin_inst *mp,
		      const loaded_plugin *espeak, vg_job_info *job, char **video)
{
	plugin_inst ep = { 0 };
	char *script = NULL, *text = NULL, *script_abs = NULL, *nar_path = NULL;
	char *nar_data = NULL, err[1024] = "";
	size_t script_len = 0, text_len = 0, nar_len = 0;
	vg_artifact in[2];
	size_t n_in = 1;
	int rc = VG_EINVAL;

	if (read_input(o->script, RENDER_MAX_SCRIPT, "script", &script, &script_len) < 0)
		goto out;
	if (o->narration) {
		if (read_input(o->narration, RENDER_MAX_TEXT, "narration file", &text,
			       &text_len) < 0 || plugin_build(&ep, espeak, NULL, 0) < 0)
			goto out;
		vg_artifact t = { .from = "narration-file", .kind = "text",
				  .data = text, .len = text_len };
		if ((rc = stage_exec(&ep, "narrate", job, &t, 1, &nar_path)) != VG_OK)
			goto out;
		rc = VG_EIO;
		if (util_read_file(nar_path, 16 << 20, &nar_data, &nar_len, err,
				   sizeof err) < 0) {
			fprintf(stderr, "vidgen render: %s\n", err);
			goto out;
		}
		in[1] = (vg_artifact){ .from = "narrate", .kind = "narration",
				       .path = nar_path, .data = nar_data, .len = nar_len };
		n_in = 2;
	}
	script_abs = util_path_abs(o->script);
	in[0] = (vg_artifact){ .from = "script", .kind = "script", .path = script_abs,
			       .data = script, .len = script_len };
	rc = stage_exec(mp, "render", job, in, n_in, video);
out:
	settings_release(&ep);
	free(script);
	free(text);
	free(script_abs);
	free(nar_path);
	free(nar_data);
	return rc;
}

int cmd_render(int argc, char **argv)
{
	render_opts o = { 0 };
	plugin_inst mp = { 0 };
	plugin_registry *reg = NULL;
	const loaded_plugin *espeak = NULL, *manim;
	char err[1024], root_tmpl[4096], id[37], created[32];
	char *video = NULL, *out = NULL;
	int rc, status = 1;

	rc = parse_opts(argc, argv, &o);
	if (rc >= 0)
		return rc;
	reg = registry_open(o.plugin_dir);
	manim = registry_find(reg, "manim", err, sizeof err);
	if (!manim || (o.narration && !(espeak = registry_find(reg, "espeak", err,
							       sizeof err)))) {
		fprintf(stderr, "vidgen render: %s\n", err);
		goto out;
	}
	/* Built before any work, so a bad option fails at once. */
	if (plugin_build(&mp, manim, o.ov, o.n_ov) < 0)
		goto out;
	const char *tmp = getenv("TMPDIR");
	snprintf(root_tmpl, sizeof root_tmpl, "%s/vidgen-render.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root_tmpl)) {
		fprintf(stderr, "vidgen render: cannot create a work directory in %s: %s\n",
			tmp && *tmp ? tmp : "/tmp", strerror(errno));
		goto out;
	}
	char *job_dir = util_path_abs(root_tmpl);
	util_uuid4(id);
	util_now_iso8601(created);
	vg_job_info job = { .id = id, .question = o.script, .model = "",
			    .voice = o.voice, .job_dir = job_dir, .created_at = created };
	out = output_path(&o);
	char *slash = strrchr(out, '/');
	*slash = 0; /* util_path_abs gives an absolute path: there is a '/' */
	int writable = access(slash == out ? "/" : out, W_OK) == 0;
	*slash = '/';
	if (!writable) {
		fprintf(stderr, "vidgen render: cannot write %s: %s\n", out, strerror(errno));
		util_rm_rf(job_dir);
		free(job_dir);
		goto out;
	}
	rc = render_job(&o, &mp, espeak, &job, &video);
	if (rc == VG_OK && deliver(video, out) == 0 && deliver_companions(video, out) == 0) {
		printf("%s\n", out);
		status = 0;
	}
	if (o.keep)
		fprintf(stderr, "vidgen render: work directory kept: %s\n", job_dir);
	else
		util_rm_rf(job_dir);
	if (status != 0 && !o.keep)
		fprintf(stderr, "vidgen render: (run with --keep to inspect the "
			"work directory)\n");
	free(job_dir);
out:
	settings_release(&mp);
	free(video);
	free(out);
	registry_free(reg);
	return status;
}
