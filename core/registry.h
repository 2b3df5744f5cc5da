/*
 * Plugin discovery and loading: dlopen of every *.so in the search path
 * (--plugin-dir, VIDGEN_PLUGIN_PATH, the install directory), ABI checks, and
 * a registry by name. A refused file is remembered with its reason, so
 * `vidgen plugins` can show it and a pipeline that names it gets the reason.
 */
#ifndef VG_REGISTRY_H
#define VG_REGISTRY_H

#include <stddef.h>
#include "vidgen/plugin.h"

typedef struct loaded_plugin {
	const vg_plugin *desc; /* NULL when refused */
	void *handle;          /* dlopen handle; NULL for built-ins/refused */
	char *path;            /* file it came from */
	char *name;            /* descriptor name, or the file's base name */
	char *error;           /* why it was refused, or NULL */
} loaded_plugin;

typedef struct plugin_registry {
	loaded_plugin *items;
	size_t n;
	char **dirs;
	size_t n_dirs;
} plugin_registry;

/* Builds the search path: extra_dir (may be NULL), then the entries of
 * VIDGEN_PLUGIN_PATH, then the build tree next to the executable (when run
 * uninstalled), then the install directory; scans them and loads every
 * plugin. Never fails for a bad plugin file (it is recorded as refused).
 * Caller frees with registry_free. */
plugin_registry *registry_open(const char *extra_dir);
void registry_free(plugin_registry *reg);

/* Loads one file into reg (used by the scan and by tests). Returns 0, or -1
 * when refused (the reason is recorded and copied into err). */
int registry_load_file(plugin_registry *reg, const char *path, char *err, size_t errlen);

/* Finds a usable plugin by name. NULL if none, with the reason in err
 * (refused file and why, or the directories searched). */
const loaded_plugin *registry_find(const plugin_registry *reg, const char *name,
				   char *err, size_t errlen);

#endif
