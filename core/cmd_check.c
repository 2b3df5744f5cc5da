/*
 * `vidgen check`: loads pipeline files as a run would (graph, plugins, their
 * settings, hooks) and prints each file's first error as file:line.
 */
#include "cli.h"
#include "pipeline.h"
#include "registry.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "plugin-dir", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 }
	};
	const char *plugin_dir = NULL;
	plugin_registry *reg;
	int c, bad = 0;
	char err[2048];

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'P': plugin_dir = optarg; break;
		case 'h':
			printf("usage: vidgen check [--plugin-dir DIR] PIPELINE...\n"
			       "Validates pipeline files as a run would (graph, plugins, their\n"
			       "settings, hooks) and prints file:line errors. Exit 0 if all pass.\n"
			       "A PIPELINE is a file, or the NAME of an installed one (NAME.cfg).\n"
			       "      --plugin-dir DIR search DIR for plugins first\n");
			return EXIT_OK;
		case 'E': cli_print_version(); return EXIT_OK;
		default: return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: vidgen check [--plugin-dir DIR] PIPELINE...\n");
		return EXIT_USAGE;
	}
	reg = registry_open(plugin_dir);
	for (int i = optind; i < argc; i++) {
		char *path = cli_pipeline_path(argv[i], err, sizeof(err));
		pipeline *p = path ? pipeline_load(path, reg, err, sizeof(err)) : NULL;
		if (!p) {
			fprintf(stderr, "%s\n", err);
			bad++;
		} else {
			printf("%s: ok (%zu stages)\n", path, p->n_stages);
			pipeline_free(p);
		}
		free(path);
	}
	registry_free(reg);
	return bad ? EXIT_CONFIG : EXIT_OK;
}
