/*
 * testplug: a plugin built only for tests. It sleeps (honouring
 * cancellation), fails on chosen attempts, asks for repairs, records when
 * it ran (to prove stages overlap) and echoes its inputs as its output.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vidgen/plugin.h"

typedef struct testplug_conf {
	long sleep_ms;
	long fail_times;    /* VG_EFAIL while attempt < fail_times */
	long script_errors; /* VG_ESCRIPT while attempt < script_errors */
	int ignore_cancel;
	const char *text;   /* output prefix */
	const char *kind;
	const char *note;   /* svc->note on every run ("" = none) */
} testplug_conf;

static const vg_setting testplug_settings[] = {
	VG_SETTING_INT("sleep_ms", testplug_conf, sleep_ms, "0", 0, 3600000,
		       "sleep this long, checking for cancellation"),
	VG_SETTING_INT("fail_times", testplug_conf, fail_times, "0", 0, 100,
		       "fail (retryable) on the first N attempts"),
	VG_SETTING_INT("script_errors", testplug_conf, script_errors, "0", 0, 100,
		       "return VG_ESCRIPT on the first N attempts"),
	VG_SETTING_BOOL("ignore_cancel", testplug_conf, ignore_cancel, "false",
			"keep sleeping when cancelled"),
	VG_SETTING_STR("text", testplug_conf, text, "", "text to put first in the output"),
	VG_SETTING_STR("kind", testplug_conf, kind, "text", "output artifact kind"),
	VG_SETTING_STR("note", testplug_conf, note, "",
		       "leave this note (svc->note) on every run, failed or not"),
	VG_SETTINGS_END
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void timeline(const vg_stage *st, long long start, long long end)
{
	char path[4096], line[256];
	int fd, n;

	snprintf(path, sizeof(path), "%s/timeline.txt", st->job->job_dir);
	n = snprintf(line, sizeof(line), "%s %lld %lld %d\n", st->id, start, end, st->attempt);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) < 0)
			st->svc->log(st, VG_LOG_WARN, "timeline write failed");
		close(fd);
	}
}

static int testplug_run(void *inst, vg_stage *st)
{
	const testplug_conf *t = inst;
	long long start = now_ms();
	char *out;
	size_t cap = 256, len;
	int rc;

	while (now_ms() - start < t->sleep_ms) {
		struct timespec ts = { 0, 10 * 1000000L };
		if (!t->ignore_cancel && st->svc->cancelled(st)) {
			timeline(st, start, now_ms());
			return VG_ECANCELED;
		}
		nanosleep(&ts, NULL);
		st->svc->progress(st, (double)(now_ms() - start) / (double)t->sleep_ms, NULL);
	}
	timeline(st, start, now_ms());
	if (*t->note)
		st->svc->note(st, "%s (run %d)", t->note, st->attempt);
	if (st->attempt < t->fail_times) {
		st->svc->fail(st, "planned failure on attempt %d", st->attempt);
		return VG_EFAIL;
	}
	if (st->attempt < t->script_errors) {
		st->svc->fail(st, "planned script error on attempt %d", st->attempt);
		return VG_ESCRIPT;
	}
	for (size_t i = 0; i < st->n_inputs; i++)
		cap += st->inputs[i].len + strlen(st->inputs[i].from) + 8;
	cap += strlen(t->text) + (st->feedback ? strlen(st->feedback) : 0) + strlen(st->id);
	out = malloc(cap);
	if (!out)
		return VG_ENOMEM;
	len = (size_t)snprintf(out, cap, "%s[%s", t->text, st->id);
	for (size_t i = 0; i < st->n_inputs; i++)
		len += (size_t)snprintf(out + len, cap - len, " %s=%s", st->inputs[i].from,
					st->inputs[i].data ? st->inputs[i].data : "?");
	if (st->feedback)
		len += (size_t)snprintf(out + len, cap - len, " feedback=%s", st->feedback);
	len += (size_t)snprintf(out + len, cap - len, "]");
	rc = st->svc->output_write(st, t->kind, "out.txt", out, len);
	free(out);
	return rc;
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "testplug",
	.kind = "model",
	.version = "0.0.1",
	.description = "test-only plugin: sleeps, fails, repairs, echoes",
	.settings = testplug_settings,
	.instance_size = sizeof(testplug_conf),
	.run = testplug_run,
};
