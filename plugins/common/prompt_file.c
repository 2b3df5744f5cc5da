/*
 * Prompt files (prompt_file.h): the [system]/[user] split, loading, and the
 * code-fence stripping of script answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vidgen/plugin.h"
#include "prompt_file.h"

/* Splits a prompt file into its [system] and [user] parts; a file without
 * markers is all user message. 0 ok. */
int prompt_split(const char *text, char **system, char **user)
{
	const char *s = strstr(text, "[system]\n"), *u = strstr(text, "[user]\n");

	*system = NULL;
	if (!u) {
		*user = strdup(text);
		return *user ? 0 : -1;
	}
	if (s && s < u) {
		s += 9;
		*system = strndup(s, (size_t)(u - s));
	}
	*user = strdup(u + 7);
	return *user ? 0 : -1;
}

int prompt_load(const char *path, char **system, char **user, char *err,
		size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;
	int rc = VG_EINVAL;

	if (!f) {
		snprintf(err, errlen, "prompt: cannot open %s", path);
		return VG_EINVAL;
	}
	buf = malloc(PROMPT_FILE_MAX + 1);
	if (!buf)
		goto out;
	n = fread(buf, 1, PROMPT_FILE_MAX + 1, f);
	if (n > PROMPT_FILE_MAX || n == 0) {
		snprintf(err, errlen, "prompt: %s is empty or larger than %d bytes", path,
			 PROMPT_FILE_MAX);
		goto out;
	}
	buf[n] = '\0';
	if (prompt_split(buf, system, user)) {
		snprintf(err, errlen, "prompt: out of memory");
		goto out;
	}
	rc = VG_OK;
out:
	free(buf);
	fclose(f);
	return rc;
}

/* The body of the first fenced code block, else the whole answer. */
char *prompt_strip_fences(const char *text)
{
	const char *open = strstr(text, "```"), *start, *close;

	if (!open)
		return strdup(text);
	start = strchr(open, '\n');
	if (!start)
		return strdup(text);
	start++;
	close = strstr(start, "\n```");
	return close ? strndup(start, (size_t)(close - start) + 1) : strdup(start);
}

/* Writes a model's answer as the stage's output of kind "text" or "script";
 * a script loses the Markdown fences models wrap code in. */
int prompt_answer_write(vg_stage *st, const char *kind, const char *text)
{
	int script = strcmp(kind, "script") == 0;
	char *out = script ? prompt_strip_fences(text) : strdup(text);
	int rc;

	if (!out)
		return VG_ENOMEM;
	rc = st->svc->output_write(st, kind, script ? "script.py" : "answer.txt", out,
				   strlen(out));
	free(out);
	return rc;
}
