/*
 * Prompt files shared by the model plugins (bedrock, openai): an optional
 * [system] part then a [user] part, both templates for svc->render_template;
 * and the code-fence stripping of script answers.
 */
#ifndef VG_PLUGINS_PROMPT_FILE_H
#define VG_PLUGINS_PROMPT_FILE_H

#include "vidgen/plugin.h"

#define PROMPT_FILE_MAX (256 * 1024)

/* Splits a prompt file into its [system] and [user] parts (malloc'd; *system
 * NULL without a [system] part); a file without markers is all user
 * message. 0 ok, -1 out of memory. */
int prompt_split(const char *text, char **system, char **user);

/* Reads and splits the prompt file at path. VG_OK, or VG_EINVAL with the
 * reason in err. */
int prompt_load(const char *path, char **system, char **user, char *err, size_t errlen);

/* The body of the first fenced code block, else the whole answer
 * (malloc'd). */
char *prompt_strip_fences(const char *text);

/* Writes a model's answer as the stage's output of kind "text" or "script";
 * a script loses the Markdown fences models wrap code in. */
int prompt_answer_write(vg_stage *st, const char *kind, const char *text);

#endif
