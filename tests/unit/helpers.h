/*
 * Helpers shared by the engine's unit tests: scratch directories, files
 * written from strings, and a plugin registry on the plugins of the build tree.
 */
#ifndef VG_TEST_HELPERS_H
#define VG_TEST_HELPERS_H

#include <stddef.h>
#include "pipeline.h"
#include "registry.h"

/* A fresh directory under $TMPDIR (or /tmp); malloc'd path, the caller
 * removes it with th_rmdir (which also frees the path). Fails the test
 * when it cannot be made. */
char *th_tmpdir(void);
void th_rmdir(char *dir);

/* Writes text to dir/name (creating parent folders); returns the malloc'd
 * path. Fails the test on error. */
char *th_write(const char *dir, const char *name, const char *text);

/* Reads a whole file into a malloc'd string, or NULL if it cannot. */
char *th_read(const char *path);

/* The top of the build tree: $top_builddir (set by `make check`), else found
 * from this executable's location (tests/unit/X). Static string. */
const char *th_builddir(void);

/* Makes sure VIDGEN_PLUGIN_PATH points at the built plugins (plugins/.libs
 * and tests/.libs, where testplug lives), then opens a registry. */
plugin_registry *th_registry(void);

/* Writes text as dir/name and loads it as a pipeline. Returns the pipeline
 * or NULL with the error in err. *path_out (optional) gets the file path
 * (malloc'd). */
pipeline *th_pipeline(const plugin_registry *reg, const char *dir, const char *name,
		      const char *text, char *err, size_t errlen, char **path_out);

/* Counts occurrences of needle in hay. */
int th_count(const char *hay, const char *needle);

#endif
