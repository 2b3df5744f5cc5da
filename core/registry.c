/*
 * The plugin registry: discovery and loading. Every *.so in the search path
 * is opened with dlopen and its `vidgen_plugin` descriptor checked (symbol
 * present, ABI major, struct size, name, callbacks). Refused files stay in the registry
 * with their reason so users see why a plugin is missing.
 */
#include "registry.h"
#include "settings.h"
#include "util.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every field of ABI 2.0's descriptor, needs included: fields added in a
 * later 2.x are read only when VG_HAS says the plugin has them. */
#define VG_PLUGIN_MIN_SIZE (offsetof(vg_plugin, needs) + sizeof(uint32_t))

/* Folders are kept in resolved form: one folder named two ways (a trailing
 * slash, a symlink, the build tree found from /proc/self/exe) must be
 * scanned once, or each of its plugins is refused as its own duplicate. */
static void add_dir(plugin_registry *reg, const char *dir)
{
	char real[PATH_MAX];
	const char *key = realpath(dir, real) ? real : dir;

	for (size_t i = 0; i < reg->n_dirs; i++)
		if (!strcmp(reg->dirs[i], key))
			return;
	reg->dirs = xrealloc(reg->dirs, (reg->n_dirs + 1) * sizeof(*reg->dirs));
	reg->dirs[reg->n_dirs++] = xstrdup(key);
}

static loaded_plugin *add_item(plugin_registry *reg, const char *path)
{
	loaded_plugin *lp;

	reg->items = xrealloc(reg->items, (reg->n + 1) * sizeof(*reg->items));
	lp = &reg->items[reg->n++];
	memset(lp, 0, sizeof(*lp));
	lp->path = xstrdup(path);
	return lp;
}

static char *base_name_no_ext(const char *path)
{
	const char *b = strrchr(path, '/');
	char *n, *dot;

	n = xstrdup(b ? b + 1 : path);
	dot = strrchr(n, '.');
	if (dot && !strcmp(dot, ".so"))
		*dot = '\0';
	return n;
}

static int refuse(loaded_plugin *lp, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(loaded_plugin *lp, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lp->error = xstrdup(msg);
	lp->desc = NULL;
	if (lp->handle) {
		dlclose(lp->handle);
		lp->handle = NULL;
	}
	util_errf(err, errlen, "%s", msg);
	return -1;
}

/* Checks a descriptor; returns NULL if fine, else a static reason. */
static const char *check_desc(const vg_plugin *d, char *why, size_t len)
{
	char msg[400];

	if (d->abi_major != VIDGEN_ABI_MAJOR) {
		snprintf(why, len, "built for plugin ABI %u.%u, this vidgen speaks %d.%d "
			 "(rebuild the plugin against this vidgen's plugin.h%s)",
			 d->abi_major, d->abi_minor, VIDGEN_ABI_MAJOR, VIDGEN_ABI_MINOR,
			 d->abi_major < VIDGEN_ABI_MAJOR ? "; ABI 2.0 sizes vg_proc, "
			 "vg_http_request and settings entries: see \"Versions\" in "
			 "doc/plugins.md" : "");
		return why;
	}
	if (d->struct_size < VG_PLUGIN_MIN_SIZE) {
		snprintf(why, len, "descriptor is %u bytes, at least %zu expected",
			 d->struct_size, (size_t)VG_PLUGIN_MIN_SIZE);
		return why;
	}
	if (!d->name || !d->name[0] || strlen(d->name) > 64) {
		snprintf(why, len, "descriptor has no valid name");
		return why;
	}
	for (const char *c = d->name; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-')) {
			snprintf(why, len, "plugin name \"%s\" may use only a-z 0-9 _ -", d->name);
			return why;
		}
	}
	if (!d->run) {
		snprintf(why, len, "plugin \"%s\" has no run callback", d->name);
		return why;
	}
	if (settings_table_check(d, msg, sizeof(msg)) < 0) {
		snprintf(why, len, "plugin \"%s\": %s", d->name, msg);
		return why;
	}
	return NULL;
}

int registry_load_file(plugin_registry *reg, const char *path, char *err, size_t errlen)
{
	loaded_plugin *lp = add_item(reg, path);
	const vg_plugin *d;
	char why[512];
	const char *bad;

	lp->name = base_name_no_ext(path);
	lp->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lp->handle)
		return refuse(lp, err, errlen, "%s: cannot load: %s (check its libraries "
			      "with `ldd %s`)", path, dlerror(), path);
	d = dlsym(lp->handle, VIDGEN_PLUGIN_SYMBOL);
	if (!d)
		return refuse(lp, err, errlen, "%s: not a vidgen plugin: no `%s` symbol",
			      path, VIDGEN_PLUGIN_SYMBOL);
	bad = check_desc(d, why, sizeof(why));
	if (bad)
		return refuse(lp, err, errlen, "%s: refused: %s", path, bad);
	free(lp->name);
	lp->name = xstrdup(d->name);
	for (size_t i = 0; i + 1 < reg->n; i++) {
		loaded_plugin *o = &reg->items[i];
		if (o->desc && !strcmp(o->name, d->name))
			return refuse(lp, err, errlen, "%s: refused: duplicate plugin name \"%s\" "
				      "(already loaded from %s)", path, d->name, o->path);
	}
	lp->desc = d;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_dir(plugin_registry *reg, const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (!dh)
		return;
	while ((de = readdir(dh))) {
		size_t l = strlen(de->d_name);
		if (l > 3 && !strcmp(de->d_name + l - 3, ".so")) {
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = util_path_join(dir, de->d_name);
		}
	}
	closedir(dh);
	/* Sorted, so which of two duplicates wins does not depend on readdir. */
	if (n > 1) /* qsort wants an array, and an empty folder has none */
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		registry_load_file(reg, names[i], NULL, 0);
		free(names[i]);
	}
	free(names);
}

/* The build tree's plugins/.libs next to an uninstalled executable. */
static void add_build_tree_dir(plugin_registry *reg)
{
	char *exe = util_exe_dir(), *cand;

	if (!exe)
		return;
	cand = util_path_join(exe, "plugins/.libs");
	if (access(cand, R_OK | X_OK) == 0)
		add_dir(reg, cand);
	free(cand);
	free(exe);
}

plugin_registry *registry_open(const char *extra_dir)
{
	plugin_registry *reg = xcalloc(1, sizeof(*reg));
	const char *env = getenv("VIDGEN_PLUGIN_PATH");

	if (extra_dir && extra_dir[0])
		add_dir(reg, extra_dir);
	if (env && env[0]) {
		char *copy = xstrdup(env), *save = NULL;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
			if (d[0])
				add_dir(reg, d);
		free(copy);
	}
	add_build_tree_dir(reg);
	add_dir(reg, VG_PLUGINDIR);
	for (size_t i = 0; i < reg->n_dirs; i++)
		scan_dir(reg, reg->dirs[i]);
	return reg;
}

void registry_free(plugin_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n; i++) {
		loaded_plugin *lp = &reg->items[i];
		/* Plugins stay mapped until exit: a plugin's thread-local or
		 * atexit state must not outlive its code. */
		free(lp->path);
		free(lp->name);
		free(lp->error);
	}
	for (size_t i = 0; i < reg->n_dirs; i++)
		free(reg->dirs[i]);
	free(reg->dirs);
	free(reg->items);
	free(reg);
}

const loaded_plugin *registry_find(const plugin_registry *reg, const char *name,
				   char *err, size_t errlen)
{
	const loaded_plugin *refused = NULL;
	strbuf sb = { 0 };

	for (size_t i = 0; i < reg->n; i++) {
		const loaded_plugin *lp = &reg->items[i];
		if (strcmp(lp->name, name))
			continue;
		if (lp->desc)
			return lp;
		if (!refused)
			refused = lp;
	}
	if (refused) {
		util_errf(err, errlen, "plugin \"%s\" cannot be used: %s", name, refused->error);
		return NULL;
	}
	for (size_t i = 0; i < reg->n_dirs; i++)
		sb_printf(&sb, "%s%s", i ? ":" : "", reg->dirs[i]);
	util_errf(err, errlen, "unknown plugin \"%s\" (searched %s; see `vidgen plugins`)",
		  name, sb.buf ? sb.buf : "nothing");
	sb_free(&sb);
	return NULL;
}
