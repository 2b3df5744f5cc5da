/*
 * badabi: test-only plugins the loader must refuse. Built once per variant
 * under tests/bad/ (never on the plugin path): badabi (ABI major 99),
 * dupname (-DVG_BAD_DUPLICATE: a valid "replay" that duplicates the real
 * one), norun (-DVG_BAD_NORUN: no run callback), small (-DVG_BAD_SMALL: a
 * descriptor shorter than ABI 2.0's), badname (-DVG_BAD_NAME: a name that
 * could not be a file or setting name) and badtable (-DVG_BAD_TABLE: a
 * setting whose field lies outside the instance).
 */
#include "vidgen/plugin.h"

#ifndef VG_BAD_NORUN
static int bad_run(void *instance, vg_stage *st)
{
	(void)instance;
	st->svc->fail(st, "a refused plugin must never run");
	return VG_EFAIL;
}
#endif

#if defined(VG_BAD_DUPLICATE)
VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "replay",
	.kind = "model",
	.version = "6.6.6",
	.description = "test-only: a second plugin named replay",
	.run = bad_run,
};
#elif defined(VG_BAD_SMALL)
VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	.abi_major = VIDGEN_ABI_MAJOR,
	.abi_minor = VIDGEN_ABI_MINOR,
	.struct_size = 24,
	.name = "small",
	.run = bad_run,
};
#elif defined(VG_BAD_NAME)
VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "../Bad Name",
	.kind = "model",
	.version = "0.0.1",
	.run = bad_run,
};
#elif defined(VG_BAD_TABLE)
typedef struct badtable_conf { long n; } badtable_conf;
/* The entry claims a field 64 bytes in, past the 8-byte instance: a plugin
 * whose table and struct disagree is refused before anything is filled. */
static const vg_setting badtable_settings[] = {
	{ .struct_size = sizeof(vg_setting), .type = VG_SET_INT, .name = "n", .offset = 64,
	  .def = "1", .help = "a setting past the end of the instance" },
	VG_SETTINGS_END
};
VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "badtable",
	.kind = "model",
	.version = "0.0.1",
	.settings = badtable_settings,
	.instance_size = sizeof(badtable_conf),
	.run = bad_run,
};
#elif defined(VG_BAD_NORUN)
VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "norun",
	.kind = "model",
	.version = "0.0.1",
	.description = "test-only: no run callback",
};
#else
/* A future vidgen's plugin: the layout may differ, so only the version
 * fields may be read. */
VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	.abi_major = 99,
	.abi_minor = 3,
	.struct_size = sizeof(vg_plugin),
	.name = "badabi",
	.kind = "model",
	.version = "9.9.9",
	.description = "test-only: built for plugin ABI 99",
	.run = bad_run,
};
#endif
