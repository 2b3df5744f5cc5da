/*
 * `vidgen run`: drives one job in the foreground with a live progress bar;
 * the first Ctrl-C cancels the job cleanly, --resume continues a stopped one.
 */
#include "cli.h"
#include "job.h"
#include "log.h"
#include "pipeline.h"
#include "registry.h"
#include "runner.h"
#include "util.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The job a SIGINT cancels (the only global of the CLI). */
static job *volatile interrupted_job;

/* The first Ctrl-C cancels the job cleanly; a second one kills vidgen. */
static void on_sigint(int sig)
{
	if (interrupted_job)
		job_cancel(interrupted_job);
	signal(sig, SIG_DFL);
}

typedef struct run_view {
	int tty;
	int last_progress;
	char last_status[64];
} run_view;

/* On a terminal, a bar the log keeps on the last line (log_status_line);
 * otherwise a plain line "NN% status" at each change. */
static void draw(void *ud, job *j)
{
	run_view *v = ud;
	char bar[31], line[128];
	int fill = j->progress * 30 / 100;

	if (v->tty) {
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = '\0';
		snprintf(line, sizeof(line), "[%s] %3d%% %s", bar, j->progress, j->status);
		log_status_line(line);
		if (j->finished)
			log_status_line(NULL);
	} else if (j->progress != v->last_progress || strcmp(v->last_status, j->status)) {
		snprintf(line, sizeof(line), "%3d%% %s", j->progress, j->status);
		log_plain_line(line);
	}
	v->last_progress = j->progress;
	snprintf(v->last_status, sizeof(v->last_status), "%s", j->status);
}

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: vidgen run [-p PIPELINE] [-m MODEL] [-v VOICE] [-o OUTDIR] [--json]\n"
		"                  [--plugin-dir DIR] [--verbose] QUESTION...\n"
		"       vidgen run --resume JOBDIR [-p PIPELINE] [--json]\n"
		"Runs one job in the foreground and prints where the video is.\n"
		"  -p, --pipeline FILE  pipeline file, or NAME of an installed one (NAME.cfg);\n"
		"                       default: default.cfg\n"
		"  -m, --model NAME     model for the explanation (default: the pipeline's)\n"
		"  -v, --voice NAME     narration voice (default: the pipeline's)\n"
		"  -o, --out DIR        where job folders go (default: $TEMP_DIR or\n"
		"                       /tmp/manim_videos); refused when another user\n"
		"                       owns it or others may write to it\n"
		"      --json           print the final VideoResponse as JSON on stdout\n"
		"      --resume JOBDIR  continue a job that stopped; finished stages are kept\n"
		"      --plugin-dir DIR search DIR for plugins first\n"
		"      --verbose        log each stage's start and end\n"
		"Exit status: 0 video made, 1 job failed, 2 usage, 3 pipeline error.\n");
}

static char *join_args(int argc, char **argv)
{
	strbuf sb = { 0 };

	for (int i = 0; i < argc; i++)
		sb_printf(&sb, "%s%s", i ? " " : "", argv[i]);
	return sb_steal(&sb);
}

static const char *pick_model(const pipeline *p, const char *want)
{
	if (want)
		return want;
	if (p->default_model)
		return p->default_model;
	for (size_t i = 0; i < p->n_models; i++)
		if (p->models[i].selectable)
			return p->models[i].name;
	return "";
}

static int check_choice(const pipeline *p, const char *model, const char *voice)
{
	const model_def *md = pipeline_model(p, model);

	if (p->n_models && (!md || !md->selectable)) {
		strbuf sb = { 0 };
		for (size_t i = 0; i < p->n_models; i++)
			if (p->models[i].selectable)
				sb_printf(&sb, "%s%s", sb.len ? ", " : "", p->models[i].name);
		fprintf(stderr, "vidgen run: model \"%s\" is not offered by %s (choose one of: %s)\n",
			model, p->path, sb.buf ? sb.buf : "none");
		sb_free(&sb);
		return -1;
	}
	if (p->n_voices && !pipeline_has_voice(p, voice)) {
		fprintf(stderr, "vidgen run: voice \"%s\" is not offered by %s\n", voice, p->path);
		return -1;
	}
	return 0;
}

static job *open_or_create(const pipeline *p, const char *resume, const char *out,
			   const char *question, const char *model, const char *voice)
{
	char err[1024];
	job *j;

	if (resume) {
		j = job_open(resume, err, sizeof(err));
		if (!j)
			fprintf(stderr, "vidgen run: cannot resume: %s\n", err);
		else if (j->finished && !strcmp(j->status, "completed"))
			fprintf(stderr, "vidgen run: job %s already completed\n", j->id);
		if (j) {
			/* A failed job runs again from its last finished stage. */
			pthread_mutex_lock(&j->lock);
			j->finished = 0;
			pthread_mutex_unlock(&j->lock);
		}
		return j;
	}
	if (check_choice(p, model, voice) < 0)
		return NULL;
	j = job_create(out, question, model, voice, err, sizeof(err));
	if (!j)
		fprintf(stderr, "vidgen run: %s\n", err);
	return j;
}

static double total_of(const json_t *totals, const char *name)
{
	return json_number_value(json_object_get(totals, name));
}

/* The closing summary of what the job used (its `usage` object), one line
 * on stderr: tokens, narration, the render's time, the estimated cost. */
static void print_usage(const job *j)
{
	const json_t *t = json_object_get(j->usage, "totals"), *cost, *s;
	strbuf sb = { 0 };
	size_t i;

	if (!t)
		return;
	if (json_object_get(t, "input_tokens") || json_object_get(t, "output_tokens"))
		sb_printf(&sb, "%.0f input + %.0f output tokens (%.0f reasoning), ",
			  total_of(t, "input_tokens"), total_of(t, "output_tokens"),
			  total_of(t, "reasoning_tokens"));
	if (json_object_get(t, "characters") || json_object_get(t, "cache_hits"))
		sb_printf(&sb, "%.0f characters narrated (%.0f of %.0f sentences from the "
			  "cache), ", total_of(t, "characters"), total_of(t, "cache_hits"),
			  total_of(t, "cache_hits") + total_of(t, "cache_misses"));
	json_array_foreach(json_object_get(j->usage, "stages"), i, s) {
		const json_t *c = json_object_get(s, "counters");
		if (json_object_get(c, "cpu_seconds") && !json_object_get(c, "characters"))
			sb_printf(&sb, "%s %.1f s wall / %.1f s CPU in %.0f attempt%s, ",
				  json_string_value(json_object_get(s, "stage")),
				  total_of(c, "wall_seconds"), total_of(c, "cpu_seconds"),
				  total_of(c, "attempts"), total_of(c, "attempts") == 1 ? "" : "s");
	}
	cost = json_object_get(j->usage, "cost");
	if (json_is_object(cost))
		sb_printf(&sb, "estimated cost %.4f %s", json_number_value(json_object_get(cost,
			  "total")), json_string_value(json_object_get(cost, "currency")));
	else
		sb_printf(&sb, "no price table");
	fprintf(stderr, "usage: %s\n", sb.buf);
	sb_free(&sb);
}

static int print_result(job *j, int as_json, int rc)
{
	pthread_mutex_lock(&j->lock);
	if (as_json) {
		json_t *o = job_response_locked(j);
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		puts(s ? s : "{}");
		free(s);
		json_decref(o);
	}
	print_usage(j);
	if (rc == VG_OK) {
		const char *where = j->s3_url ? j->s3_url : j->video_url;
		if (!as_json) {
			printf("video: %s\n", where ? where : "(the pipeline stores no video)");
			/* captions: URL, poster: URL, ... (the field without "_url") */
			for (int i = 0; i < JOB_MEDIA_N; i++)
				if (j->media[i])
					printf("%.*s: %s\n",
					       (int)strlen(job_media_files[i].field) - 4,
					       job_media_files[i].field, j->media[i]);
		}
		fprintf(stderr, "job folder: %s\n", j->dir);
	} else {
		fprintf(stderr, "vidgen run: job failed: %s\n", j->message);
		fprintf(stderr, "job folder kept: %s (continue with: vidgen run --resume %s)\n",
			j->dir, j->dir);
	}
	pthread_mutex_unlock(&j->lock);
	return rc == VG_OK ? EXIT_OK : EXIT_JOB_FAILED;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pipeline", required_argument, NULL, 'p' },
		{ "model", required_argument, NULL, 'm' },
		{ "voice", required_argument, NULL, 'v' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "resume", required_argument, NULL, 'r' },
		{ "plugin-dir", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 }
	};
	const char *model = NULL, *voice = NULL, *resume = NULL, *plugin_dir = NULL;
	const char *pipe_arg = NULL;
	const char *tmp = getenv("TEMP_DIR");
	char *pipe_path = NULL, *out = NULL, *question = NULL, err[2048];
	plugin_registry *reg = NULL;
	pipeline *p = NULL;
	job *j = NULL;
	int c, as_json = 0, status = EXIT_USAGE, rc;
	run_view view = { .tty = isatty(2), .last_progress = -1 };
	runner_events ev = { .on_update = draw, .ud = &view };

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:m:v:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pipe_arg = optarg; break;
		case 'm': model = optarg; break;
		case 'v': voice = optarg; break;
		case 'o': free(out); out = xstrdup(optarg); break;
		case 'j': as_json = 1; break;
		case 'r': resume = optarg; break;
		case 'P': plugin_dir = optarg; break;
		case 'V': log_set_level(VG_LOG_DEBUG); break;
		case 'h': run_usage(stdout); status = EXIT_OK; goto out;
		case 'E': cli_print_version(); status = EXIT_OK; goto out;
		default: run_usage(stderr); goto out;
		}
	}
	question = join_args(argc - optind, argv + optind);
	if (!resume && !question[0]) {
		fprintf(stderr, "vidgen run: no question given\n");
		run_usage(stderr);
		goto out;
	}
	if (!util_utf8_valid(question, strlen(question), NULL)) {
		fprintf(stderr, "vidgen run: the question is not valid UTF-8\n");
		goto out;
	}
	pipe_path = cli_pipeline_path(pipe_arg, err, sizeof(err));
	if (!pipe_path) {
		fprintf(stderr, "vidgen run: %s\n", err);
		status = EXIT_CONFIG;
		goto out;
	}
	if (!out)
		out = xstrdup(tmp && tmp[0] ? tmp : "/tmp/manim_videos");
	/* A jobs folder another user owns or may write to (the shared /tmp
	 * default made by someone else) could hand this run planted stages. */
	if (!resume && util_data_dir_make(out, err, sizeof(err)) != 0) {
		fprintf(stderr, "vidgen run: %s (-o chooses the folder)\n", err);
		status = EXIT_USAGE;
		goto out;
	}
	reg = registry_open(plugin_dir);
	p = pipeline_load(pipe_path, reg, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "vidgen run: %s\n", err);
		status = EXIT_CONFIG;
		goto out;
	}
	if (!voice)
		voice = p->default_voice ? p->default_voice : "Joanna";
	j = open_or_create(p, resume, out, question, pick_model(p, model), voice);
	if (!j) {
		status = EXIT_USAGE;
		goto out;
	}
	fprintf(stderr, "job %s: %s\n", j->id, j->question);
	interrupted_job = j;
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	rc = runner_run(p, j, &ev);
	interrupted_job = NULL;
	status = print_result(j, as_json, rc);
out:
	job_free(j);
	pipeline_free(p);
	registry_free(reg);
	free(pipe_path);
	free(out);
	free(question);
	return status;
}
