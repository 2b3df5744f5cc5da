/* libFuzzer: extracting a script from a model's answer (the first fenced
 * block, plugins/common/prompt_file.c) and splitting a prompt file into
 * its [system] and [user] parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prompt_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *sys = NULL, *user = NULL;

	memcpy(s, data, size);
	s[size] = '\0';
	char *out = prompt_strip_fences(s);
	if (out == NULL || strlen(out) > strlen(s))
		abort(); /* the script is a part of the answer */
	free(out);
	if (prompt_split(s, &sys, &user) == 0) {
		free(sys);
		free(user);
	}
	free(s);
	return 0;
}
