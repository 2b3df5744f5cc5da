/*
 * Plugin settings: the one engine that fills a plugin's instance struct from
 * its settings table, whatever the values come from (a pipeline file, the
 * `vidgen render` command line, the table's own defaults). It expands
 * ${VAR} / ${VAR:-default} / ${file:PATH}, resolves paths, checks types,
 * ranges and choices, runs the plugin's init() and documents the table.
 */
#ifndef VG_SETTINGS_H
#define VG_SETTINGS_H

#include <stddef.h>
#include <stdio.h>
#include "vidgen/plugin.h"

/* One value given for a setting, as text. */
typedef struct setting_value {
	const char *name;
	const char *text;
	int expand; /* 1: ${...} expansion applies (a string from a file) */
	int line;   /* where it was written; 0 = not in a file */
} setting_value;

/* Where the values come from, for errors: "FILE:LINE: stage "ID": ...". */
typedef struct settings_ctx {
	const char *file;     /* NULL: errors carry no location */
	const char *stage;    /* NULL: errors name no stage */
	int stage_line;       /* cited for defaults and init() failures */
	int group_line;       /* cited for a missing required setting */
	const char *base_dir; /* relative VG_SET_PATH values resolve here */
} settings_ctx;

/* A plugin instance filled from its table. */
typedef struct plugin_inst {
	const vg_plugin *pl;
	void *data;     /* instance_size bytes; the plugin's struct */
	char **owned;   /* strings the struct points into */
	size_t n_owned;
	int inited;     /* init() succeeded: fini() is owed */
} plugin_inst;

/* The number of entries in pl's table, and a copy of entry i: entries are
 * read at the stride their struct_size gives, fields the plugin's header did
 * not have are zero. */
size_t settings_count(const vg_plugin *pl);
void settings_entry(const vg_plugin *pl, size_t i, vg_setting *out);

/* Checks a table when its plugin loads: sizes, names, types, each field
 * inside instance_size, defaults and choices that parse. Returns 0, or -1
 * with the reason in err. */
int settings_table_check(const vg_plugin *pl, char *err, size_t errlen);

/* Fills pi from the table: the given values, else each default; checks
 * them all, then runs init(). Unknown names, a missing required setting,
 * a bad value or a failed init() return -1 with the error in err. On either
 * result pi must be released with settings_release. */
int settings_apply(plugin_inst *pi, const vg_plugin *pl, const setting_value *v, size_t n,
		   const settings_ctx *ctx, char *err, size_t errlen);

/* settings_apply without init(): the values and defaults, checked. */
int settings_fill(plugin_inst *pi, const vg_plugin *pl, const setting_value *v, size_t n,
		  const settings_ctx *ctx, char *err, size_t errlen);

/* Runs fini() when init() ran, and frees the instance. */
void settings_release(plugin_inst *pi);

/* 0 when pl has a setting `name` (copied to *out when out is not NULL);
 * else -1 with "plugin "P" has no setting "N" (valid: ...)" in err. */
int settings_find(const vg_plugin *pl, const char *name, vg_setting *out, char *err,
		  size_t errlen);

/* Expands ${VAR}, ${VAR:-default} and ${file:PATH} in s. Returns a malloc'd
 * string, or NULL with the reason in err (unset variable without default,
 * unterminated reference). */
char *settings_expand(const char *s, char *err, size_t errlen);

/* "string", "integer", ... for errors and documentation. */
const char *settings_type_name(int type);

/* `vidgen plugins NAME`: the plugin and its table as text. */
void settings_print(const vg_plugin *pl, FILE *out);

#endif
