/*
 * `vidgen plugins`: lists the plugins found and those refused (with why), as
 * text or JSON; with NAME, documents that plugin's settings table.
 */
#include "cli.h"
#include "registry.h"
#include "settings.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static int list_plugins(const plugin_registry *reg, int as_json)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < reg->n; i++) {
		const loaded_plugin *lp = &reg->items[i];
		const vg_plugin *d = lp->desc;
		json_t *o;

		if (!as_json) {
			if (d)
				printf("%-10s %-10s %-8s %s\n", d->name, d->kind ? d->kind : "-",
				       d->version ? d->version : "-", lp->path);
			else
				printf("%-10s %-10s %-8s %s\n  refused: %s\n", lp->name, "-", "-",
				       lp->path, lp->error);
			continue;
		}
		o = json_pack("{s:s, s:s}", "name", lp->name, "file", lp->path);
		if (d) {
			json_object_set_new(o, "kind", json_string(d->kind ? d->kind : ""));
			json_object_set_new(o, "version", json_string(d->version ? d->version : ""));
			json_object_set_new(o, "description",
					    json_string(d->description ? d->description : ""));
			json_object_set_new(o, "abi", json_sprintf("%u.%u", d->abi_major,
								    d->abi_minor));
		} else {
			json_object_set_new(o, "error", json_string(lp->error));
		}
		json_array_append_new(arr, o);
	}
	if (as_json) {
		char *s = json_dumps(arr, JSON_INDENT(2));
		puts(s ? s : "[]");
		free(s);
	} else if (reg->n == 0) {
		fprintf(stderr, "no plugins found (searched:");
		for (size_t i = 0; i < reg->n_dirs; i++)
			fprintf(stderr, " %s", reg->dirs[i]);
		fprintf(stderr, ")\n");
	}
	json_decref(arr);
	return EXIT_OK;
}

int cmd_plugins(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "plugin-dir", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 }
	};
	const char *plugin_dir = NULL;
	plugin_registry *reg;
	int c, as_json = 0, status = EXIT_OK;
	char err[1024];

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': as_json = 1; break;
		case 'P': plugin_dir = optarg; break;
		case 'h':
			printf("usage: vidgen plugins [--json] [--plugin-dir DIR] [NAME]\n"
			       "Lists the plugins found (name, kind, version, file) and those\n"
			       "refused, with why. With NAME, documents that plugin's settings.\n");
			return EXIT_OK;
		case 'E': cli_print_version(); return EXIT_OK;
		default: return EXIT_USAGE;
		}
	}
	reg = registry_open(plugin_dir);
	if (optind < argc) {
		const loaded_plugin *lp = registry_find(reg, argv[optind], err, sizeof(err));
		if (lp) {
			settings_print(lp->desc, stdout);
		} else {
			fprintf(stderr, "vidgen plugins: %s\n", err);
			status = EXIT_CONFIG;
		}
	} else {
		status = list_plugins(reg, as_json);
	}
	registry_free(reg);
	return status;
}
