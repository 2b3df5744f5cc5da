/*
 * polly: narration with Amazon Polly SynthesizeSpeech (POST /v1/speech,
 * SigV4-signed by svc->http). Splits the text into sentences exactly as the
 * espeak plugin does, synthesizes one MP3 per sentence (so no request
 * exceeds Polly's limit), measures each from its MPEG frames and writes
 * narration.json (doc/narration.md) like espeak.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <jansson.h>

#include "vidgen/plugin.h"
#include "../common/aws_error.h"
#include "../common/aws_region.h"
#include "../common/narration.h"

#define POLLY_MAX_TEXT (64 * 1024)   /* bytes of narration text accepted */
#define POLLY_MAX_SEGMENTS 400
#define POLLY_MAX_ERROR_BODY 8192

typedef struct polly_conf {
	const char *endpoint;  /* "" = https://polly.REGION.amazonaws.com */
	const char *region;
	const char *engine;
	const char *fallback;  /* engine when the voice lacks `engine`; "" = none */
	const char *language;
	const char *sample_rate; /* "" = Polly's default for the engine */
	long max_chars;
	long timeout_s;
	long attempts;
} polly_conf;

static const vg_setting polly_settings[] = {
	VG_SETTING_STR("endpoint", polly_conf, endpoint, "",
		       "Polly base URL; empty = https://polly.REGION.amazonaws.com"),
	VG_SETTING_STR("region", polly_conf, region, "",
		       "AWS region; empty = AWS_REGION, else eu-west-3"),
	VG_SETTING_CHOICE("engine", polly_conf, engine, "neural",
			  "neural|standard|generative|long-form", "Polly engine tried first"),
	VG_SETTING_CHOICE("fallback_engine", polly_conf, fallback, "standard", "|standard|neural",
			  "engine used where the voice or region lacks `engine`; empty = fail "
			  "instead"),
	VG_SETTING_STR("language", polly_conf, language, "en-US",
		       "LanguageCode sent with each request"),
	VG_SETTING_CHOICE("sample_rate", polly_conf, sample_rate, "", "|8000|16000|22050|24000",
			  "MP3 sample rate; empty = the engine's default"),
	VG_SETTING_INT("max_chars", polly_conf, max_chars, "2900", 100, 3000,
		       "longest text per request (Polly bills and limits 3000 characters)"),
	VG_SETTING_INT("timeout", polly_conf, timeout_s, "60", 1, 600,
		       "seconds allowed for one HTTP request"),
	VG_SETTING_INT("attempts", polly_conf, attempts, "4", 1, 10,
		       "HTTP tries on throttling and 5xx answers"),
	VG_SETTINGS_END
};

/* ---- segments: the core's sentences, cut to Polly's request limit ----- */

typedef struct seg_list {
	char **text;
	size_t n, cap;
} seg_list;

static void seg_list_free(seg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->text[i]);
	free(l->text);
	memset(l, 0, sizeof *l);
}

static int seg_list_add(seg_list *l, const char *s, size_t n)
{
	while (n && s[n - 1] == ' ')
		n--;
	while (n && *s == ' ')
		s++, n--;
	if (n == 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **t = realloc(l->text, cap * sizeof *t);
		if (!t)
			return -1;
		l->text = t;
		l->cap = cap;
	}
	char *c = malloc(n + 1);
	if (!c)
		return -1;
	memcpy(c, s, n);
	c[n] = 0;
	l->text[l->n++] = c;
	return 0;
}

/* Splits text into sentences by the core's rule (the same as every other
 * narration plugin's). Returns 0, or -1 with the reason through svc->fail. */
static int polly_split(const vg_stage *st, const char *text, size_t len, seg_list *out)
{
	size_t n = 0;
	char **s = narration_sentences(st, text, len, POLLY_MAX_SEGMENTS, &n);
	int rc = 0;

	if (!s)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = seg_list_add(out, s[i], strlen(s[i]));
	free(s);
	if (rc)
		st->svc->fail(st, "out of memory splitting the narration text");
	return rc;
}

/* Cuts segments longer than max bytes at the last space before the limit
 * (a sentence that long is rare, but Polly refuses it whole). */
static int polly_cap_segments(seg_list *l, size_t max)
{
	seg_list out = { 0 };

	for (size_t i = 0; i < l->n; i++) {
		const char *s = l->text[i];
		size_t n = strlen(s);
		while (n > max) {
			size_t cut = max;
			while (cut > max / 2 && s[cut] != ' ')
				cut--;
			if (s[cut] != ' ')
				cut = max;
			/* never split a UTF-8 sequence */
			while (cut > 1 && ((unsigned char)s[cut] & 0xC0) == 0x80)
				cut--;
			if (seg_list_add(&out, s, cut) < 0)
				goto oom;
			s += cut;
			n -= cut;
		}
		if (seg_list_add(&out, s, n) < 0)
			goto oom;
	}
	seg_list_free(l);
	*l = out;
	return out.n > POLLY_MAX_SEGMENTS ? -1 : 0;
oom:
	seg_list_free(&out);
	return -1;
}

/* ---- MP3 duration ------------------------------------------------------ */

/* Seconds of audio in an MPEG audio file: the sum of its frames' samples
 * (ID3v2 tag skipped, resync over junk). 0 ok, -1 when no frame found. */
static int mp3_duration(const char *path, double *seconds)
{
	static const int br_v1[16] = { 0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192,
				       224, 256, 320, 0 };
	static const int br_v2[16] = { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128,
				       144, 160, 0 };
	static const int sr_tab[3][3] = { { 44100, 48000, 32000 },   /* MPEG1 */
					  { 22050, 24000, 16000 },   /* MPEG2 */
					  { 11025, 12000, 8000 } };  /* MPEG2.5 */
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long size, pos = 0;
	double total = 0;
	long frames = 0;
	int rc = -1;

	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET))
		goto out;
	buf = malloc((size_t)size);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
		goto out;
	if (size > 10 && memcmp(buf, "ID3", 3) == 0) {
		pos = 10 + ((long)(buf[6] & 0x7f) << 21 | (long)(buf[7] & 0x7f) << 14 |
			    (long)(buf[8] & 0x7f) << 7 | (long)(buf[9] & 0x7f));
		if (buf[5] & 0x10)
			pos += 10;
	}
	while (pos + 4 <= size) {
		const unsigned char *h = buf + pos;
		int ver = (h[1] >> 3) & 3, layer = (h[1] >> 1) & 3;
		int bri = h[2] >> 4, sri = (h[2] >> 2) & 3, pad = (h[2] >> 1) & 1;
		int vi, br, sr;
		long len;

		if (h[0] != 0xFF || (h[1] & 0xE0) != 0xE0 || ver == 1 || layer != 1 ||
		    bri == 0 || bri == 15 || sri == 3) {
			pos++; /* not a Layer III frame header: resync */
			continue;
		}
		vi = ver == 3 ? 0 : ver == 2 ? 1 : 2;
		br = (vi == 0 ? br_v1 : br_v2)[bri] * 1000;
		sr = sr_tab[vi][sri];
		len = (vi == 0 ? 144L : 72L) * br / sr + pad;
		if (len < 4)
			break;
		total += (vi == 0 ? 1152.0 : 576.0) / sr;
		frames++;
		pos += len;
	}
	if (frames) {
		*seconds = total;
		rc = 0;
	}
out:
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

/* ---- the stage --------------------------------------------------------- */

static int polly_init(void *instance, char *err, size_t errlen)
{
	polly_conf *c = instance;
	int rc = aws_settings_check(c->region, c->endpoint, err, errlen);

	if (rc != VG_OK)
		return rc;
	for (const char *p = c->language; *p; p++)
		if (!isalpha((unsigned char)*p) && *p != '-') {
			snprintf(err, errlen, "language: not a language code");
			return VG_EINVAL;
		}
	return VG_OK;
}

/* Reads Polly's JSON error from the response file; fills type/message. */
static void read_error(const char *path, const vg_http_response *r, char *type,
		       size_t tlen, char *msg, size_t mlen)
{
	FILE *f = fopen(path, "rb");
	char buf[POLLY_MAX_ERROR_BODY + 1];
	size_t n = f ? fread(buf, 1, POLLY_MAX_ERROR_BODY, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	aws_error_parse(r, buf, type, tlen, msg, mlen, "(no message)");
}

/* 1 when an error says the voice/region lacks the engine asked for. */
static int engine_unsupported(const char *type, const char *msg)
{
	return strcmp(type, "EngineNotSupportedException") == 0 ||
	       (strcmp(type, "ValidationException") == 0 && strcasestr(msg, "engine"));
}

typedef struct polly_call {
	const char *region;
	const char *voice;
	const char *engine;   /* may switch to the fallback */
} polly_call;

static int polly_error(vg_stage *st, const polly_call *pc, long status, const char *type,
		       const char *msg)
{
	if (status == 403 || strcmp(type, "UnrecognizedClientException") == 0) {
		st->svc->fail(st, "AWS refused Polly (HTTP %ld %s): %s; check the credentials "
			      "and that the IAM identity may call polly:SynthesizeSpeech",
			      status, type, msg);
		return VG_EHTTP;
	}
	if (status == 429 || strcmp(type, "ThrottlingException") == 0) {
		st->svc->fail(st, "Polly is throttling requests; try again later");
		return VG_EFAIL;
	}
	if (status >= 500) {
		st->svc->fail(st, "Polly failed (HTTP %ld %s): %s", status, type, msg);
		return VG_EFAIL;
	}
	st->svc->fail(st, "Polly refused voice %s with engine %s (HTTP %ld %s): %s",
		      pc->voice, pc->engine, status, type, msg);
	return VG_EINVAL;
}

/* The characters Polly billed, from its x-amzn-RequestCharacters header:
 * -1 when absent or not a plain count (then the text's own count is
 * reported). */
static double billed_characters(const vg_http_response *r)
{
	static const char name[] = "x-amzn-requestcharacters:";

	for (char **h = r->headers; h && *h; h++) {
		if (strncasecmp(*h, name, sizeof(name) - 1))
			continue;
		const char *v = *h + sizeof(name) - 1;
		v += strspn(v, " ");
		size_t n = strspn(v, "0123456789");
		if (n == 0 || n > 9 || v[n + strspn(v + n, " \r")] != '\0')
			return -1;
		return strtod(v, NULL);
	}
	return -1;
}

/* One SynthesizeSpeech request for text into path (MP3). */
static int polly_say(const polly_conf *c, vg_stage *st, polly_call *pc, const char *text,
		     const char *path)
{
	char url[1024], err[512] = "", type[128], msg[301];
	const char *hdrs[] = { "Content-Type: application/json", NULL };
	vg_aws_sign_opts sign = VG_AWS_SIGN_OPTS_INIT(.service = "polly", .region = pc->region);
	vg_http_request req = VG_HTTP_REQUEST_INIT();
	vg_http_response resp = { 0 };
	json_t *body;
	char *json = NULL;
	int rc;

	if (*c->endpoint)
		snprintf(url, sizeof(url), "%s/v1/speech", c->endpoint);
	else
		snprintf(url, sizeof(url), "https://polly.%s.amazonaws.com/v1/speech", pc->region);
	for (int tries = 0; tries < 2; tries++) {
		body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "Engine", pc->engine,
				 "LanguageCode", c->language, "OutputFormat", "mp3", "Text", text,
				 "TextType", "text", "VoiceId", pc->voice);
		if (*c->sample_rate)
			json_object_set_new(body, "SampleRate", json_string(c->sample_rate));
		json = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (!json)
			return VG_ENOMEM;
		req.method = "POST";
		req.url = url;
		req.headers = hdrs;
		req.body = json;
		req.body_len = strlen(json);
		req.response_path = path;
		req.timeout_ms = c->timeout_s * 1000;
		req.max_attempts = (int)c->attempts;
		req.aws = &sign;
		rc = st->svc->http(st, &req, &resp, err, sizeof(err));
		free(json);
		if (rc != VG_OK) {
			if (rc == VG_ETIMEDOUT || rc == VG_EHTTP)
				st->svc->fail(st, "Polly: %s", err);
			else if (rc != VG_ECANCELED)
				st->svc->fail(st, "%s", err);
			return rc == VG_ETIMEDOUT || rc == VG_EHTTP ? VG_EFAIL : rc;
		}
		if (resp.status == 200) {
			narration_count_call(st, text, billed_characters(&resp));
			st->svc->http_free(&resp);
			return VG_OK;
		}
		read_error(path, &resp, type, sizeof(type), msg, sizeof(msg));
		unlink(path);
		if (tries == 0 && *c->fallback && strcmp(c->fallback, pc->engine) != 0 &&
		    engine_unsupported(type, msg)) {
			st->svc->log(st, VG_LOG_WARN, "voice %s has no %s engine here; using %s",
				     pc->voice, pc->engine, c->fallback);
			pc->engine = c->fallback;
			st->svc->http_free(&resp);
			continue;
		}
		rc = polly_error(st, pc, resp.status, type, msg);
		st->svc->http_free(&resp);
		return rc;
	}
	return VG_EFAIL;
}

static int polly_voice_ok(const char *v)
{
	if (!v || !*v || strlen(v) > 32)
		return 0;
	for (; *v; v++)
		if (!isalpha((unsigned char)*v))
			return 0;
	return 1;
}

/* Sentence i into path (MP3): from the file cache when the same text was
 * spoken before with the same voice, engines, language and format, else
 * by Polly, then cached. Fills *dur. */
static int polly_segment(const polly_conf *c, vg_stage *st, polly_call *pc, size_t i,
			 const char *text, const char *path, double *dur)
{
	char format[32];
	int rc;

	snprintf(format, sizeof(format), "mp3@%s", c->sample_rate);
	/* The engines asked for, not the one used: the same settings give
	 * the same sound, whichever engine Polly fell back to. */
	const char *key[] = { "polly", pc->voice, c->engine, c->language, format, text,
			      c->fallback, NULL };
	if (narration_cache_get(st, key, path)) {
		if (mp3_duration(path, dur) == 0)
			return VG_OK;
		st->svc->log(st, VG_LOG_WARN, "cached audio of sentence %zu unusable; "
			     "synthesizing it again", i);
		/* It may share its storage with the cache's entry: a new file,
		 * not a rewrite of this one. */
		unlink(path);
	}
	rc = polly_say(c, st, pc, text, path);
	if (rc != VG_OK)
		return rc;
	if (mp3_duration(path, dur) < 0) {
		st->svc->fail(st, "Polly returned no MP3 audio for sentence %zu", i);
		return VG_EFAIL;
	}
	narration_cache_put(st, key, path);
	return VG_OK;
}

static int polly_run(void *instance, vg_stage *st)
{
	const polly_conf *c = instance;
	const vg_artifact *in;
	seg_list segs = { 0 };
	double *dur = NULL;
	char region[40], path[4096];
	polly_call pc;
	int rc = VG_EINVAL;

	aws_region_pick(st, c->region, region, sizeof(region));
	pc.region = region;
	pc.voice = st->job && st->job->voice ? st->job->voice : "Joanna";
	pc.engine = c->engine;
	if (!polly_voice_ok(pc.voice)) {
		st->svc->fail(st, "voice \"%s\" is not a Polly voice name", pc.voice);
		goto out;
	}
	if (!(in = narration_text(st, "polly", POLLY_MAX_TEXT)) ||
	    polly_split(st, in->data, in->len, &segs) < 0)
		goto out;
	if (polly_cap_segments(&segs, (size_t)c->max_chars) < 0) {
		st->svc->fail(st, "narration text has too many sentences (max %d)",
			      POLLY_MAX_SEGMENTS);
		goto out;
	}
	if (segs.n == 0) {
		st->svc->fail(st, "narration text is empty");
		goto out;
	}
	rc = VG_ENOMEM;
	if (!(dur = calloc(segs.n, sizeof(*dur))))
		goto out;
	for (size_t i = 0; i < segs.n; i++) {
		if (st->svc->cancelled(st)) {
			rc = VG_ECANCELED;
			goto out;
		}
		snprintf(path, sizeof(path), "%s/seg%03zu.mp3", st->dir, i);
		rc = polly_segment(c, st, &pc, i, segs.text[i], path, &dur[i]);
		if (rc != VG_OK)
			goto out;
		st->svc->progress(st, (double)(i + 1) / (double)segs.n, NULL);
	}
	rc = narration_write(st, segs.text, segs.n, dur, "mp3", pc.voice);
	if (rc == VG_OK)
		st->svc->log(st, VG_LOG_INFO, "narrated %zu sentences with %s (%s)", segs.n,
			     pc.voice, pc.engine);
out:
	seg_list_free(&segs);
	free(dur);
	return rc;
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "polly",
	.kind = "narration",
	.version = "1.0.0",
	.description = "Amazon Polly narration: one MP3 per sentence and narration.json "
		       "with each sentence's duration",
	.settings = polly_settings,
	.instance_size = sizeof(polly_conf),
	.init = polly_init,
	.run = polly_run,
	.needs = VG_NEEDS_AWS_CREDENTIALS,
};
