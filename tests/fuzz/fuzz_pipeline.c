/* libFuzzer: pipeline files (core/pipeline.c, libconfig, the stage graph,
 * each stage's settings) and ${...} expansion (core/settings.c). The input
 * is written as a pipeline file and loaded with no plugins registered; the
 * same bytes, as a string, are expanded. Either may fail, with a message;
 * nothing may crash, leak or hang. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline.h"
#include "registry.h"
#include "settings.h"

static char dir[] = "/tmp/vg_fuzz_pipeline.XXXXXX";
static char path[64];
static plugin_registry *reg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/p.cfg", dir);
	setenv("VIDGEN_FUZZ_VAR", "value", 1);
	unsetenv("VIDGEN_PLUGIN_PATH");
	reg = registry_open(dir);
	return reg ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024], *s;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	pipeline *p = pipeline_load(path, reg, err, sizeof(err));
	if (p == NULL && err[0] == '\0')
		abort(); /* a refusal says why */
	pipeline_free(p);
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	char *e = settings_expand(s, err, sizeof(err));
	free(e);
	free(s);
	return 0;
}
