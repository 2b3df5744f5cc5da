/*
 * espeak: offline narration with espeak-ng. Splits the first text input into
 * sentences (the core's shared rule), synthesizes one WAV per sentence,
 * measures each from its WAV header and writes narration.json (format:
 * doc/narration.md).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vidgen/plugin.h"
#include "../common/narration.h"

#define ESPEAK_MAX_TEXT (64 * 1024)  /* bytes of narration text accepted */
#define ESPEAK_MAX_SEGMENTS 1000 /* the core's own cap */

typedef struct espeak_conf {
	const char *voices;  /* "Joanna=en-us+f3,Matthew=en-us+m3,..." */
	const char *fallback; /* espeak voice for names not in the map */
	long speed;          /* words per minute */
	long timeout_s;      /* per sentence */
	const char *program;
} espeak_conf;

static const vg_setting espeak_settings[] = {
	VG_SETTING_STR("voices", espeak_conf, voices,
		       "Joanna=en-us+f3,Matthew=en-us+m3,Ruth=en-us+f4,Stephen=en-us+m7",
		       "job voice name to espeak-ng voice[+variant], comma separated"),
	VG_SETTING_STR("fallback_voice", espeak_conf, fallback, "en-us",
		       "espeak-ng voice for a voice not in the map"),
	VG_SETTING_INT("speed", espeak_conf, speed, "165", 80, 400,
		       "speaking rate, words per minute"),
	VG_SETTING_INT("timeout", espeak_conf, timeout_s, "30", 1, 600,
		       "seconds allowed per sentence"),
	VG_SETTING_STR("program", espeak_conf, program, "espeak-ng",
		       "the espeak-ng executable (looked up in PATH)"),
	VG_SETTINGS_END
};

/* An espeak voice name: letters, digits, '-', '_', one optional '+'
 * variant. Anything else could be read by espeak as an option or path. */
static int espeak_voice_ok(const char *v, size_t n)
{
	if (n == 0 || n > 40 || v[0] == '-' || v[0] == '+')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("-_+", v[i]))
			return 0;
	return 1;
}

/* Finds name in "A=x,B=y" into out. 1 found, 0 not, -1 malformed. */
static int espeak_map_voice(const char *map, const char *name, char *out,
			    size_t outlen)
{
	const char *p = map;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (!eq || eq == p)
			return -1;
		size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
		if (!espeak_voice_ok(eq + 1, vlen) || vlen >= outlen)
			return -1;
		if (name && strlen(name) == klen && strncmp(p, name, klen) == 0) {
			memcpy(out, eq + 1, vlen);
			out[vlen] = 0;
			return 1;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int espeak_init(void *instance, char *err, size_t errlen)
{
	espeak_conf *c = instance;
	char tmp[64];
	if (espeak_map_voice(c->voices, NULL, tmp, sizeof tmp) < 0) {
		snprintf(err, errlen, "voices: expected \"Name=voice[+variant],"
			 "...\" with voices made of letters, digits, - and _");
		return VG_EINVAL;
	}
	if (!espeak_voice_ok(c->fallback, strlen(c->fallback))) {
		snprintf(err, errlen, "fallback_voice: not a voice name");
		return VG_EINVAL;
	}
	return VG_OK;
}

/* ---- WAV duration ------------------------------------------------------ */

static unsigned long le32(const unsigned char *p)
{
	return (unsigned long)p[0] | (unsigned long)p[1] << 8 |
	       (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}

/* Seconds of audio in a PCM WAV file, from its fmt and data chunks (the
 * data size is capped by the real file size: a streaming writer may leave
 * a placeholder there). Returns 0 ok, -1 for a file that is not a WAV. */
static int wav_duration(const char *path, double *seconds)
{
	FILE *f = fopen(path, "rb");
	unsigned char h[12], ch[8], fmt[16];
	unsigned long byte_rate = 0;
	int rc = -1;
	if (!f)
		return -1;
	if (fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) ||
	    memcmp(h + 8, "WAVE", 4))
		goto out;
	while (fread(ch, 1, 8, f) == 8) {
		unsigned long size = le32(ch + 4);
		if (!memcmp(ch, "fmt ", 4)) {
			if (size < 16 || fread(fmt, 1, 16, f) != 16)
				goto out;
			byte_rate = le32(fmt + 8);
			if (fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR))
				goto out;
		} else if (!memcmp(ch, "data", 4)) {
			long pos = ftell(f);
			if (byte_rate == 0 || pos < 0 || fseek(f, 0, SEEK_END))
				goto out;
			long end = ftell(f);
			unsigned long avail = end > pos ? (unsigned long)(end - pos) : 0;
			if (size > avail)
				size = avail;
			*seconds = (double)size / (double)byte_rate;
			rc = 0;
			goto out;
		} else if (fseek(f, (long)(size + (size & 1)), SEEK_CUR)) {
			goto out;
		}
	}
out:
	fclose(f);
	return rc;
}

/* ---- the stage --------------------------------------------------------- */

/* Synthesizes sentence i into segNNN.wav; fills *dur. */
static int espeak_say(const espeak_conf *c, vg_stage *st, const char *voice,
		      size_t i, const char *text, double *dur)
{
	char txt[4096], wav[4096], speed[16], errf[4096];
	int code = -1, rc;
	snprintf(txt, sizeof txt, "%s/seg%03zu.txt", st->dir, i);
	snprintf(wav, sizeof wav, "%s/seg%03zu.wav", st->dir, i);
	snprintf(errf, sizeof errf, "%s/espeak.log", st->dir);
	snprintf(speed, sizeof speed, "%ld", c->speed);
	FILE *f = fopen(txt, "w");
	if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
		st->svc->fail(st, "cannot write %s", txt);
		return VG_EIO;
	}
	/* The text goes in a file, never in argv: a sentence starting with
	 * '-' must not read as an option. */
	const char *argv[] = { c->program, "-v", voice, "-s", speed, "-w", wav,
			       "-f", txt, NULL };
	static const char *const env[] = { "PATH=/usr/local/bin:/usr/bin:/bin",
					   "LANG=C.UTF-8", NULL };
	vg_proc p = VG_PROC_INIT(.argv = argv, .envp = env, .cwd = st->dir,
				 .stderr_path = errf, .timeout_ms = c->timeout_s * 1000);
	rc = st->svc->spawn(st, &p, &code);
	if (rc == VG_ECANCELED)
		return rc;
	if (rc != VG_OK || code != 0) {
		st->svc->fail(st, "%s failed on sentence %zu (%s)", c->program,
			      i, rc == VG_OK ? "exit status" :
			      rc == VG_ETIMEDOUT ? "timed out" : "could not start");
		return rc == VG_ETIMEDOUT ? VG_ETIMEDOUT : VG_EIO;
	}
	narration_count_call(st, text, -1);
	if (wav_duration(wav, dur) < 0) {
		st->svc->fail(st, "%s wrote no usable WAV for sentence %zu",
			      c->program, i);
		return VG_EIO;
	}
	return VG_OK;
}

/* Sentence i into segNNN.wav: from the file cache when an identical
 * sentence was spoken before (same voice, program and speed), else by
 * espeak-ng, then cached. Fills *dur. */
static int espeak_segment(const espeak_conf *c, vg_stage *st, const char *voice,
			  size_t i, const char *text, double *dur)
{
	char wav[4096], speed[16];
	int rc;

	snprintf(wav, sizeof wav, "%s/seg%03zu.wav", st->dir, i);
	snprintf(speed, sizeof speed, "speed=%ld", c->speed);
	const char *key[] = { "espeak", voice, c->program, "", "wav", text, speed, NULL };
	if (narration_cache_get(st, key, wav)) {
		if (wav_duration(wav, dur) == 0)
			return VG_OK;
		st->svc->log(st, VG_LOG_WARN, "cached audio of sentence %zu unusable; "
			     "synthesizing it again", i);
		/* It may share its storage with the cache's entry: a new file,
		 * not a rewrite of this one. */
		unlink(wav);
	}
	rc = espeak_say(c, st, voice, i, text, dur);
	if (rc == VG_OK)
		narration_cache_put(st, key, wav);
	return rc;
}

static int espeak_run(void *instance, vg_stage *st)
{
	const espeak_conf *c = instance;
	char **segs = NULL;
	size_t n = 0;
	double *dur = NULL;
	char voice[64];
	int rc = VG_EINVAL;

	const vg_artifact *in = narration_text(st, "espeak", ESPEAK_MAX_TEXT);
	if (!in)
		goto out;
	const char *vname = st->job ? st->job->voice : NULL;
	if (espeak_map_voice(c->voices, vname, voice, sizeof voice) != 1)
		snprintf(voice, sizeof voice, "%s", c->fallback);
	if (!(segs = narration_sentences(st, in->data, in->len, ESPEAK_MAX_SEGMENTS,
					 &n)))
		goto out;
	if (n == 0) {
		st->svc->fail(st, "narration text is empty");
		goto out;
	}
	dur = calloc(n, sizeof *dur);
	rc = VG_ENOMEM;
	if (!dur)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (st->svc->cancelled(st)) {
			rc = VG_ECANCELED;
			goto out;
		}
		rc = espeak_segment(c, st, voice, i, segs[i], &dur[i]);
		if (rc != VG_OK)
			goto out;
		st->svc->progress(st, (double)(i + 1) / (double)n, NULL);
	}
	rc = narration_write(st, segs, n, dur, "wav",
			     st->job && st->job->voice ? st->job->voice : "");
	if (rc == VG_OK)
		st->svc->log(st, VG_LOG_INFO, "narrated %zu sentences with %s", n, voice);
out:
	free(segs);
	free(dur);
	return rc;
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "espeak",
	.kind = "narration",
	.version = "1.0.0",
	.description = "Offline narration with espeak-ng: one WAV per sentence "
		       "and narration.json with each sentence's duration",
	.settings = espeak_settings,
	.instance_size = sizeof(espeak_conf),
	.init = espeak_init,
	.run = espeak_run,
};
