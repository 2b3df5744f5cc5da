/*
 * nosym: a test-only shared object with no `vidgen_plugin` symbol (a stray
 * library in a plugin folder); the loader must refuse it by name.
 */
#include "vidgen/plugin.h"

/* Looks like a plugin, under the wrong name. */
VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin_v2 = {
	VG_PLUGIN_HEADER,
	.name = "nosym",
	.kind = "model",
	.version = "0.0.1",
	.description = "test-only: exported under the wrong symbol",
};
