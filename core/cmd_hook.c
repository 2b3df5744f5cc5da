/*
 * `vidgen hook`: runs one Lua hook on a text file (or stdin) in the same
 * sandbox and limits a pipeline uses, so an operator can try a hook edit
 * without writing a pipeline or paying for a model call.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hooks.h"
#include "util.h"

#define HOOK_CMD_MAX_TEXT ((size_t)8 << 20)
#define HOOK_CMD_MAX_ARTIFACTS 16

static void hook_usage(FILE *out)
{
	fprintf(out,
		"usage: vidgen hook [OPTIONS] FILE.lua:FUNCTION [TEXT_FILE]\n"
		"Runs a hook once on TEXT_FILE (default: stdin) in the sandbox a\n"
		"pipeline uses, and prints the text it returns (the unchanged text\n"
		"when it returns nil) on stdout. See doc/hooks.md.\n"
		"  -q, --question TEXT     job.question (default: the text)\n"
		"  -s, --stage ID          job.stage (default: test)\n"
		"  -m, --model NAME        job.model\n"
		"  -v, --voice NAME        job.voice (default: Joanna)\n"
		"  -a, --artifact ID=FILE  job.artifacts[ID] = the file's text\n"
		"                          (up to %d)\n"
		"      --instructions N    instruction budget (default %ld)\n"
		"      --memory-mb N       memory cap in MiB (default %zu)\n"
		"  -h, --help              this text\n"
		"  -V, --version           print the version\n"
		"Exit status: 0 ok, 1 the hook failed, 2 usage, 3 the hook does not\n"
		"compile.\n", HOOK_CMD_MAX_ARTIFACTS, HOOK_DEFAULT_INSTRUCTIONS,
		HOOK_DEFAULT_MEMORY >> 20);
}

/* Reads all of fd (a pipe has no size to ask for) up to max bytes. */
static int read_fd(int fd, size_t max, char **out, char *err, size_t errlen)
{
	strbuf sb = { 0 };
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			util_errf(err, errlen, "cannot read stdin: %s",
				  strerror(errno));
			sb_free(&sb);
			return -1;
		}
		if (sb.len + (size_t)n > max) {
			util_errf(err, errlen, "stdin holds more than %zu bytes",
				  max);
			sb_free(&sb);
			return -1;
		}
		sb_append(&sb, buf, (size_t)n);
	}
	*out = sb_steal(&sb);
	if (*out == NULL) {
		util_errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Reads a text file (or stdin for NULL/"-") that must be UTF-8. */
static int read_text(const char *path, char **out, char *err, size_t errlen)
{
	size_t len = 0;

	if (path == NULL || !strcmp(path, "-")) {
		if (read_fd(0, HOOK_CMD_MAX_TEXT, out, err, errlen) != 0)
			return -1;
		len = strlen(*out);
	} else if (util_read_file(path, HOOK_CMD_MAX_TEXT, out, &len, err,
				  errlen) != 0) {
		return -1;
	}
	if (strlen(*out) != len || !util_utf8_valid(*out, len, NULL)) {
		util_errf(err, errlen, "%s is not UTF-8 text",
			  path ? path : "stdin");
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

typedef struct hook_cmd {
	hook_job_view view;
	hook_artifact arts[HOOK_CMD_MAX_ARTIFACTS];
	char *art_text[HOOK_CMD_MAX_ARTIFACTS];
	char *art_id[HOOK_CMD_MAX_ARTIFACTS];
	long long instructions;
	long memory_mb;
} hook_cmd;

/* -a ID=FILE */
static int add_artifact(hook_cmd *hc, const char *arg, char *err,
			size_t errlen)
{
	const char *eq = strchr(arg, '=');
	size_t n = hc->view.n_artifacts;

	if (eq == NULL || eq == arg) {
		util_errf(err, errlen, "--artifact wants ID=FILE, not \"%s\"",
			  arg);
		return -1;
	}
	if (n >= HOOK_CMD_MAX_ARTIFACTS) {
		util_errf(err, errlen, "at most %d artifacts",
			  HOOK_CMD_MAX_ARTIFACTS);
		return -1;
	}
	if (read_text(eq + 1, &hc->art_text[n], err, errlen) != 0)
		return -1;
	hc->art_id[n] = strndup(arg, (size_t)(eq - arg));
	if (hc->art_id[n] == NULL) {
		free(hc->art_text[n]);
		util_errf(err, errlen, "out of memory");
		return -1;
	}
	hc->arts[n].stage = hc->art_id[n];
	hc->arts[n].text = hc->art_text[n];
	hc->view.n_artifacts = n + 1;
	return 0;
}

static int parse_number(const char *s, long long min, long long max,
			long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out >= min &&
	       *out <= max ? 0 : -1;
}

/* Parses the options into hc; returns -1 to exit with *status. */
static int hook_parse(int argc, char **argv, hook_cmd *hc, int *status)
{
	static const struct option opts[] = {
		{ "question", required_argument, NULL, 'q' },
		{ "stage", required_argument, NULL, 's' },
		{ "model", required_argument, NULL, 'm' },
		{ "voice", required_argument, NULL, 'v' },
		{ "artifact", required_argument, NULL, 'a' },
		{ "instructions", required_argument, NULL, 'I' },
		{ "memory-mb", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char err[1024];
	long long n;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "q:s:m:v:a:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'q': hc->view.question = optarg; break;
		case 's': hc->view.stage = optarg; break;
		case 'm': hc->view.model = optarg; break;
		case 'v': hc->view.voice = optarg; break;
		case 'a':
			if (add_artifact(hc, optarg, err, sizeof(err)) == 0)
				break;
			fprintf(stderr, "vidgen hook: %s\n", err);
			*status = EXIT_USAGE;
			return -1;
		case 'I':
		case 'M':
			if (parse_number(optarg, 1, c == 'I' ? HOOK_MAX_INSTRUCTIONS
					 : (long long)(HOOK_MAX_MEMORY >> 20), &n)) {
				fprintf(stderr, "vidgen hook: bad number \"%s\"\n",
					optarg);
				*status = EXIT_USAGE;
				return -1;
			}
			if (c == 'I')
				hc->instructions = n;
			else
				hc->memory_mb = (long)n;
			break;
		case 'h': hook_usage(stdout); *status = EXIT_OK; return -1;
		case 'V': cli_print_version();
			*status = EXIT_OK;
			return -1;
		default: hook_usage(stderr); *status = EXIT_USAGE; return -1;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		hook_usage(stderr);
		*status = EXIT_USAGE;
		return -1;
	}
	return 0;
}

int cmd_hook(int argc, char **argv)
{
	hook_cmd hc;
	hook *h = NULL;
	char err[2048], *text = NULL, *out = NULL;
	int status = EXIT_USAGE;
	size_t i;

	memset(&hc, 0, sizeof(hc));
	hc.view.job_id = "00000000-0000-4000-8000-000000000000";
	hc.view.stage = "test";
	hc.view.voice = "Joanna";
	hc.view.artifacts = hc.arts;
	if (hook_parse(argc, argv, &hc, &status) != 0)
		goto out;
	h = hook_compile(argv[optind], NULL, err, sizeof(err));
	if (h == NULL) {
		fprintf(stderr, "%s\n", err);
		status = EXIT_CONFIG;
		goto out;
	}
	if (hook_set_limits(h, hc.instructions,
			    (size_t)hc.memory_mb << 20, err, sizeof(err))) {
		fprintf(stderr, "vidgen hook: %s\n", err);
		goto out;
	}
	if (read_text(argv[optind + 1], &text, err, sizeof(err)) != 0) {
		fprintf(stderr, "vidgen hook: %s\n", err);
		goto out;
	}
	if (hc.view.question == NULL)
		hc.view.question = text;
	if (hook_call(h, text, &hc.view, &out, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		status = EXIT_JOB_FAILED;
		goto out;
	}
	if (out == NULL)
		fprintf(stderr, "vidgen hook: %s returned nil: text kept\n",
			hook_spec(h));
	fputs(out ? out : text, stdout);
	status = fflush(stdout) == 0 ? EXIT_OK : EXIT_INTERNAL;
out:
	for (i = 0; i < hc.view.n_artifacts; i++) {
		free(hc.art_id[i]);
		free(hc.art_text[i]);
	}
	free(text);
	free(out);
	hook_free(h);
	return status;
}
