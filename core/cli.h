/*
 * The vidgen commands. Each takes the arguments after its name (argv[0] is
 * the command name) and returns the process exit status.
 */
#ifndef VG_CLI_H
#define VG_CLI_H

#include <stddef.h>

/* Exit statuses shared by all commands. */
enum {
	EXIT_OK = 0,
	EXIT_JOB_FAILED = 1, /* the job ran and failed */
	EXIT_USAGE = 2,      /* bad command line */
	EXIT_CONFIG = 3,     /* bad pipeline file or plugin */
	EXIT_INTERNAL = 4,
};

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_render(int argc, char **argv); /* core/cmd_render.c */
int cmd_serve(int argc, char **argv);  /* core/serve/cmd_serve.c */
int cmd_worker(int argc, char **argv); /* core/serve/cmd_serve.c */
int cmd_hook(int argc, char **argv);   /* core/cmd_hook.c */

/* Prints "vidgen VERSION (plugin ABI M.m)" on stdout: every --version. */
void cli_print_version(void);

/* The default pipeline: the installed one, or pipelines/NAME next to an
 * uninstalled executable. Returns a malloc'd path. */
char *cli_default_pipeline(const char *name);

/* The file a -p/PIPELINE argument names (doc/pipeline.md, "Finding a
 * pipeline file"): a path (it has a slash, or an existing file of that name)
 * as given; a bare NAME is NAME.cfg (NAME if it ends in .cfg) from
 * pipelines/ next to an uninstalled executable, then from $(pipelinedir).
 * NULL arg: the default pipeline. Returns a malloc'd path, or NULL with a
 * message naming what was tried in err. */
char *cli_pipeline_path(const char *arg, char *err, size_t errlen);

#endif
