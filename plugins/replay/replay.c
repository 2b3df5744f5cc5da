/*
 * replay: plays back recorded model answers, so a pipeline runs offline.
 * Answers live in DIR/<any-folder>/: question.txt names the question,
 * <answer>.txt is the answer for the stage (and <answer>.<attempt>.txt, when
 * present, for a retry or repair run). A `fallback` folder answers any other
 * question (API tests whose questions are generated).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vidgen/plugin.h"

#define MAX_ANSWER (8u << 20)

typedef struct replay_conf {
	const char *dir;    /* answers folder */
	const char *answer; /* file stem; "" = the stage id */
	const char *kind;   /* output artifact kind */
	long delay_ms;      /* simulated model latency */
	const char *log;    /* append one line per call here ("" = VIDGEN_REPLAY_LOG) */
	const char *fallback; /* subfolder for a question none matches ("" = fail) */
} replay_conf;

static const vg_setting replay_settings[] = {
	VG_SETTING_REQUIRED("dir", VG_SET_PATH, replay_conf, dir,
			    "folder of recorded answers: one subfolder per question"),
	VG_SETTING_STR("answer", replay_conf, answer, "",
		       "answer file stem to play (default: the stage id)"),
	VG_SETTING_CHOICE("kind", replay_conf, kind, "text", "text|script",
			  "artifact kind of the output"),
	VG_SETTING_INT("delay_ms", replay_conf, delay_ms, "0", 0, 600000,
		       "wait this long before answering, like a slow model"),
	VG_SETTING_PATH("log", replay_conf, log, "",
			"append \"stage<TAB>job<TAB>attempt\" per call (default: "
			"$VIDGEN_REPLAY_LOG)"),
	VG_SETTING_STR("fallback", replay_conf, fallback, "",
		       "subfolder whose answers are played for a question no question.txt "
		       "matches (default: none, the stage fails)"),
	VG_SETTINGS_END
};

static int replay_init(void *instance, char *err, size_t errlen)
{
	replay_conf *r = instance;
	struct stat sb;

	if (stat(r->dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "answers folder %s: %s", r->dir,
			 errno ? strerror(errno) : "not a folder");
		return VG_EINVAL;
	}
	for (const char *c = r->answer; *c; c++) {
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
			snprintf(err, errlen, "answer \"%s\" may use only letters, digits, _ and -",
				 r->answer);
			return VG_EINVAL;
		}
	}
	if (r->fallback[0]) {
		char path[4096];
		int bad = r->fallback[0] == '.' || strchr(r->fallback, '/') != NULL;
		snprintf(path, sizeof(path), "%s/%s", r->dir, r->fallback);
		if (bad || stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			snprintf(err, errlen, "fallback \"%s\": not a subfolder of %s", r->fallback,
				 r->dir);
			return VG_EINVAL;
		}
	}
	return VG_OK;
}

/* Lower-case letters and digits only, so matching ignores case, spacing
 * and punctuation. Writes at most n-1 bytes. */
static void normalize(const char *s, char *out, size_t n)
{
	size_t k = 0;

	for (; *s && k + 1 < n; s++)
		if (isalnum((unsigned char)*s))
			out[k++] = (char)tolower((unsigned char)*s);
	out[k] = '\0';
}

static char *read_small(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* Finds the subfolder whose question.txt matches; returns its name in out. */
static int find_question(const replay_conf *r, const char *question, char *out, size_t n)
{
	char got[16384], path[4096];
	DIR *d = opendir(r->dir);
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	char *w = malloc(strlen(question) + 1);
	if (!w) {
		closedir(d);
		return 0;
	}
	normalize(question, w, strlen(question) + 1);
	while (!found && (de = readdir(d))) {
		char *q;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/question.txt", r->dir, de->d_name);
		q = read_small(path, sizeof(got) - 1, NULL);
		if (!q)
			continue;
		normalize(q, got, sizeof(got));
		free(q);
		if (got[0] && !strcmp(got, w)) {
			snprintf(out, n, "%s", de->d_name);
			found = 1;
		}
	}
	free(w);
	closedir(d);
	return found;
}

static int wait_delay(const replay_conf *r, vg_stage *st)
{
	long left = r->delay_ms;

	while (left > 0) {
		long step = left > 50 ? 50 : left;
		struct timespec ts = { 0, step * 1000000L };
		if (st->svc->cancelled(st))
			return VG_ECANCELED;
		nanosleep(&ts, NULL);
		left -= step;
		st->svc->progress(st, 1.0 - (double)left / (double)r->delay_ms, NULL);
	}
	return st->svc->cancelled(st) ? VG_ECANCELED : VG_OK;
}

static void log_call(const replay_conf *r, const vg_stage *st)
{
	const char *path = r->log[0] ? r->log : getenv("VIDGEN_REPLAY_LOG");
	char line[512];
	int fd, n;

	if (!path || !path[0])
		return;
	n = snprintf(line, sizeof(line), "%s\t%s\t%d\n", st->id, st->job->id, st->attempt);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	/* One write per line with O_APPEND: concurrent jobs do not interleave. */
	if (write(fd, line, (size_t)n) < 0)
		st->svc->log(st, VG_LOG_WARN, "cannot append to the replay log");
	close(fd);
}

/* How many bytes of s to quote in a message: at most max, never cutting a
 * UTF-8 character in two (the message ends up in JSON). */
static int quote_len(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return (int)n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return (int)max;
}

static int replay_run(void *instance, vg_stage *st)
{
	const replay_conf *r = instance;
	const char *stem = r->answer[0] ? r->answer : st->id;
	char folder[256], path[4096];
	char *text = NULL;
	size_t len = 0;
	int rc;

	int found = find_question(r, st->job->question, folder, sizeof(folder));
	if (!found && r->fallback[0]) {
		snprintf(folder, sizeof(folder), "%s", r->fallback);
		found = 1;
	}
	if (!found) {
		int qlen = quote_len(st->job->question, 200);
		st->svc->fail(st, "no recorded answer for the question \"%.*s%s\" in %s "
			      "(each subfolder's question.txt is compared, ignoring case and "
			      "punctuation)", qlen, st->job->question,
			      st->job->question[qlen] ? "..." : "", r->dir);
		return VG_EINVAL;
	}
	log_call(r, st);
	rc = wait_delay(r, st);
	if (rc != VG_OK)
		return rc;
	if (st->attempt > 0) {
		snprintf(path, sizeof(path), "%s/%s/%s.%d.txt", r->dir, folder, stem, st->attempt);
		text = read_small(path, MAX_ANSWER, &len);
	}
	if (!text) {
		snprintf(path, sizeof(path), "%s/%s/%s.txt", r->dir, folder, stem);
		text = read_small(path, MAX_ANSWER, &len);
	}
	if (!text) {
		st->svc->fail(st, "no recorded answer %s.txt for stage \"%s\" in %s/%s", stem,
			      st->id, r->dir, folder);
		return VG_EINVAL;
	}
	st->svc->log(st, VG_LOG_DEBUG, "replaying %s", path);
	rc = st->svc->output_write(st, r->kind, strcmp(r->kind, "script") ? "output.txt"
				   : "script.py", text, len);
	free(text);
	return rc;
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "replay",
	.kind = "model",
	.version = "1.0.0",
	.description = "plays back recorded model answers (offline runs and tests)",
	.settings = replay_settings,
	.instance_size = sizeof(replay_conf),
	.init = replay_init,
	.run = replay_run,
};
