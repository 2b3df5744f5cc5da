/*
 * vidgen's command line: dispatches to the commands (one cmd_*.c each) and
 * answers --help and --version.
 */
#include "cli.h"
#include "tpool.h"
#include "util.h"
#include "vidgen/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* pipelines/FILE next to an uninstalled executable if it is there, else
 * $(pipelinedir)/FILE (which may not exist). */
static char *pipeline_file(const char *file)
{
	char *exe = util_exe_dir(), *rel, *cand;

	if (exe) {
		rel = util_path_join("pipelines", file);
		cand = util_path_join(exe, rel);
		free(rel);
		free(exe);
		if (access(cand, R_OK) == 0)
			return cand;
		free(cand);
	}
	return util_path_join(VG_PIPELINEDIR, file);
}

char *cli_default_pipeline(const char *name)
{
	char file[128];

	snprintf(file, sizeof(file), "%s.cfg", name);
	return pipeline_file(file);
}

char *cli_pipeline_path(const char *arg, char *err, size_t errlen)
{
	size_t len;
	strbuf file = { 0 };
	char *path;

	if (!arg)
		return cli_default_pipeline("default");
	len = strlen(arg);
	if (len == 0) {
		util_errf(err, errlen, "the pipeline is an empty name");
		return NULL;
	}
	if (strchr(arg, '/') || access(arg, F_OK) == 0)
		return xstrdup(arg);
	sb_printf(&file, "%s%s", arg, len > 4 && !strcmp(arg + len - 4, ".cfg") ? "" : ".cfg");
	path = pipeline_file(file.buf);
	if (access(path, F_OK) != 0) {
		util_errf(err, errlen, "pipeline \"%s\": no such file here, and no %s in %s",
			  arg, file.buf, VG_PIPELINEDIR);
		free(path);
		path = NULL;
	}
	sb_free(&file);
	return path;
}

void cli_print_version(void)
{
	printf("vidgen %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, VIDGEN_ABI_MAJOR,
	       VIDGEN_ABI_MINOR);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vidgen COMMAND [OPTIONS]\n"
		"Turns a question into a narrated, animated explainer video.\n\n"
		"commands:\n"
		"  run      make one video in the foreground\n"
		"  serve    run the HTTP API and web page\n"
		"  worker   run jobs from a job store shared with API nodes\n"
		"  render   render your own Manim script with narration, sandboxed\n"
		"  check    validate pipeline files\n"
		"  hook     try a Lua hook on a text\n"
		"  plugins  list plugins, or document one's settings\n\n"
		"`vidgen COMMAND --help` tells more. Environment: VIDGEN_PLUGIN_PATH,\n"
		"TEMP_DIR, AWS_*, OPENAI_API_KEY. All of it: man vidgen, man vidgen-pipeline.\n");
}

int main(int argc, char **argv)
{
	static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
		{ "run", cmd_run }, { "check", cmd_check }, { "plugins", cmd_plugins },
		{ "render", cmd_render }, { "serve", cmd_serve }, { "worker", cmd_worker },
		{ "hook", cmd_hook },
	};

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		cli_print_version();
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			int rc = cmds[i].fn(argc - 1, argv + 1);
			/* The stage threads end before exit's handlers run:
			 * a library's own handler (OpenSSL's cleanup, set up
			 * when a stage first used it, so run before the
			 * pool's) would leave their thread-local data unfreed. */
			tpool_drain();
			return rc;
		}
	fprintf(stderr, "vidgen: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
