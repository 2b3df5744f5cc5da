/* libFuzzer: the sentence splitter every narration plugin uses
 * (core/sentences.c). Checks what it promises: at most SENTENCES_MAX
 * sentences, none empty, none longer than the input, valid UTF-8 out of
 * valid UTF-8 in. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sentences.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	char **s = sentences_split((const char *)data, size, &n);
	int utf8 = util_utf8_valid((const char *)data, size, NULL);

	if (s == NULL)
		return 0;
	if (n > SENTENCES_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(s[i]);
		if (len == 0 || len > size)
			abort();
		if (utf8 && memchr(data, 0, size) == NULL && !util_utf8_valid(s[i], len, NULL))
			abort();
	}
	if (s[n] != NULL)
		abort();
	free(s);
	return 0;
}
