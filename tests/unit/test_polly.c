/*
 * Tests for plugins/polly against a fake services table: sentence splitting
 * (the espeak plugin's rules), MP3 durations from MPEG frames, the
 * SynthesizeSpeech request, the neural -> standard fallback and
 * narration.json.
 */
/* The plugin first: cmocka defines a fail() macro. */
#include "../../plugins/polly/polly.c"
#include "svc_mock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/vg_test_polly.XXXXXX";

/* n silent frames: MPEG-2 Layer III 24 kHz 48 kbit/s (144 bytes, 24 ms)
 * or MPEG-1 Layer III 44.1 kHz 128 kbit/s (417/418 bytes, 26.12 ms). */
static size_t make_mp3(unsigned char *buf, int n, int mpeg1, int id3, int junk)
{
	size_t k = 0;

	if (id3) {
		memcpy(buf, "ID3\x04\x00\x00\x00\x00\x01\x00", 10); /* 128-byte tag */
		memset(buf + 10, 'T', 128);
		k = 138;
	}
	for (int i = 0; i < n; i++) {
		if (junk && i == n / 2)
			buf[k++] = 0x00, buf[k++] = 0x42;
		if (mpeg1) {
			memcpy(buf + k, "\xff\xfb\x90\x64", 4);
			memset(buf + k + 4, 0, 417 - 4);
			k += 417;
		} else {
			memcpy(buf + k, "\xff\xf3\x64\xc0", 4);
			memset(buf + k + 4, 0, 140);
			k += 144;
		}
	}
	return k;
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[256];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
	mock_reset();
	return 0;
}

static void test_split_like_espeak(void **state)
{
	const char *text = "Dr. Smith met Mr. Jones, e.g. at 3.14 o'clock on Monday!  Was it "
			   "raining? Yes.\n\nA new   paragraph without end";
	seg_list l = { 0 };
	vg_stage st;
	vg_job_info job;

	(void)state;
	mock_stage(&st, &job, "/tmp", "m", "m", NULL, 0);
	assert_int_equal(polly_split(&st, text, strlen(text), &l), 0);
	if (l.n != 4) {
		seg_list_free(&l);
		fail_msg("expected 4 segments");
	}
	assert_string_equal(l.text[0], "Dr. Smith met Mr. Jones, e.g. at 3.14 o'clock on Monday!");
	assert_string_equal(l.text[1], "Was it raining?");
	assert_string_equal(l.text[2], "Yes.");
	assert_string_equal(l.text[3], "A new paragraph without end");
	seg_list_free(&l);
}

static void test_cap_long_sentence(void **state)
{
	seg_list l = { 0 };
	char *s = malloc(260);

	(void)state;
	for (int i = 0; i < 250; i += 5)
		memcpy(s + i, "word ", 5);
	memcpy(s + 250, "end.", 5);
	assert_int_equal(seg_list_add(&l, s, strlen(s)), 0);
	assert_int_equal(polly_cap_segments(&l, 100), 0);
	assert_int_equal(l.n, 3);
	for (size_t i = 0; i < l.n; i++)
		assert_true(strlen(l.text[i]) <= 100);
	assert_string_equal(l.text[2] + strlen(l.text[2]) - 4, "end.");
	seg_list_free(&l);
	free(s);
}

static void test_mp3_duration(void **state)
{
	unsigned char *buf = malloc(200000);
	char path[256];
	double d = 0;
	FILE *f;
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/t.mp3", dir);
	n = make_mp3(buf, 100, 0, 1, 1);
	f = fopen(path, "wb");
	fwrite(buf, 1, n, f);
	fclose(f);
	assert_int_equal(mp3_duration(path, &d), 0);
	assert_float_equal(d, 2.4, 1e-9); /* 100 x 576 / 24000 */
	n = make_mp3(buf, 50, 1, 0, 0);
	f = fopen(path, "wb");
	fwrite(buf, 1, n, f);
	fclose(f);
	assert_int_equal(mp3_duration(path, &d), 0);
	assert_float_equal(d, 50 * 1152.0 / 44100, 1e-9);
	f = fopen(path, "wb");
	fputs("{\"message\":\"not audio\"}", f);
	fclose(f);
	assert_int_equal(mp3_duration(path, &d), -1);
	free(buf);
}

static int run_polly(polly_conf *c, const char *text)
{
	vg_artifact in = { .from = "explain", .kind = "text", .data = text, .len = strlen(text) };
	vg_stage st;
	vg_job_info job;
	char err[128];

	mock_defaults(&vidgen_plugin, c);
	c->endpoint = "http://127.0.0.1:9";
	assert_int_equal(polly_init(c, err, sizeof(err)), VG_OK);
	mock_stage(&st, &job, dir, "claude-4-sonnet", "m", &in, 1);
	job.voice = "Ruth";
	return polly_run(c, &st);
}

static void test_synthesize_and_fallback(void **state)
{
	static unsigned char mp3[20000];
	size_t n = make_mp3(mp3, 50, 0, 0, 0); /* 1.2 s */
	polly_conf c;
	json_t *req, *nar;

	(void)state;
	mock_reset();
	mock_answer_with(400, "{\"message\":\"This voice does not support the selected engine\"}",
			 "x-amzn-errortype: EngineNotSupportedException:http://internal/");
	mock_answer_with(200, (const char *)mp3, NULL);
	mock.answers[1].body_len = n;
	mock_answer_with(200, (const char *)mp3, NULL);
	mock.answers[2].body_len = n;
	assert_int_equal(run_polly(&c, "First sentence. Second one!"), VG_OK);
	assert_int_equal(mock.n_req, 3);
	assert_string_equal(mock.req[0].url, "http://127.0.0.1:9/v1/speech");
	assert_string_equal(mock.req[0].service, "polly");
	req = json_loads(mock.req[0].body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(req, "Engine")), "neural");
	assert_string_equal(json_string_value(json_object_get(req, "VoiceId")), "Ruth");
	assert_string_equal(json_string_value(json_object_get(req, "OutputFormat")), "mp3");
	assert_string_equal(json_string_value(json_object_get(req, "LanguageCode")), "en-US");
	assert_string_equal(json_string_value(json_object_get(req, "Text")), "First sentence.");
	json_decref(req);
	req = json_loads(mock.req[2].body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(req, "Engine")), "standard");
	assert_string_equal(json_string_value(json_object_get(req, "Text")), "Second one!");
	json_decref(req);
	assert_string_equal(mock.out_kind, "narration");
	assert_string_equal(mock.out_name, "narration.json");
	nar = json_loads(mock.out_data, 0, NULL);
	assert_non_null(nar);
	assert_int_equal(json_array_size(json_object_get(nar, "segments")), 2);
	json_t *s1 = json_array_get(json_object_get(nar, "segments"), 1);
	assert_string_equal(json_string_value(json_object_get(s1, "file")), "seg001.mp3");
	assert_float_equal(json_number_value(json_object_get(s1, "duration")), 1.2, 1e-6);
	assert_float_equal(json_number_value(json_object_get(nar, "total_duration")), 2.4, 1e-6);
	assert_string_equal(json_string_value(json_object_get(nar, "voice")), "Ruth");
	json_decref(nar);
}

/* Billed characters from x-amzn-RequestCharacters (else the text's own
 * count), and a second run served by the file cache: no request at all. */
static void test_usage_and_cache(void **state)
{
	static unsigned char mp3[20000];
	size_t n = make_mp3(mp3, 50, 0, 0, 0);
	polly_conf c;
	char *first = NULL;

	(void)state;
	mock_reset();
	snprintf(mock.cache_dir, sizeof(mock.cache_dir), "%s/cache", dir);
	mock_answer_with(200, (const char *)mp3, "x-amzn-requestcharacters: 99");
	mock.answers[0].body_len = n;
	mock_answer_with(200, (const char *)mp3, "x-amzn-requestcharacters: 1e9");
	mock.answers[1].body_len = n;
	assert_int_equal(run_polly(&c, "First sentence. Second one!"), VG_OK);
	assert_int_equal(mock.n_req, 2);
	/* 99 as billed; "1e9" is no count: the 11 characters of "Second one!" */
	assert_int_equal(mock_usage("characters"), 99 + 11);
	assert_int_equal(mock_usage("requests"), 2);
	assert_int_equal(mock.cache_puts, 2);
	first = strdup(mock.out_data);
	assert_non_null(first);

	mock_reset();
	snprintf(mock.cache_dir, sizeof(mock.cache_dir), "%s/cache", dir);
	assert_int_equal(run_polly(&c, "First sentence. Second one!"), VG_OK);
	assert_int_equal(mock.n_req, 0);
	assert_int_equal(mock.cache_hits, 2);
	assert_int_equal(mock_usage("characters"), 0);
	assert_string_equal(mock.out_data, first);

	/* another voice is another entry */
	mock_reset();
	snprintf(mock.cache_dir, sizeof(mock.cache_dir), "%s/cache", dir);
	mock_answer_with(200, (const char *)mp3, NULL);
	mock.answers[0].body_len = n;
	vg_artifact in = { .from = "explain", .kind = "text", .data = "First sentence.",
			   .len = 15 };
	vg_stage st;
	vg_job_info job;
	mock_stage(&st, &job, dir, "m", "m", &in, 1);
	job.voice = "Joanna";
	assert_int_equal(polly_run(&c, &st), VG_OK);
	assert_int_equal(mock.n_req, 1);
	free(first);
}

static void test_errors(void **state)
{
	polly_conf c;

	(void)state;
	mock_reset();
	mock_answer_with(403, "{\"message\":\"The security token included in the request is "
			 "invalid.\"}", "x-amzn-errortype: UnrecognizedClientException");
	assert_int_equal(run_polly(&c, "Hello there."), VG_EHTTP);
	assert_non_null(strstr(mock.fail, "polly:SynthesizeSpeech"));
	mock_reset();
	mock_answer_with(400, "{\"message\":\"bad text\"}", "x-amzn-errortype: ValidationException");
	assert_int_equal(run_polly(&c, "Hello there."), VG_EINVAL);
	assert_int_equal(mock.n_req, 1); /* not an engine problem: no fallback */
	mock_reset();
	assert_int_equal(run_polly(&c, "   \n  "), VG_EINVAL);
	assert_non_null(strstr(mock.fail, "empty"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_like_espeak),
		cmocka_unit_test(test_cap_long_sentence),
		cmocka_unit_test(test_mp3_duration),
		cmocka_unit_test(test_synthesize_and_fallback),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_usage_and_cache),
	};
	return cmocka_run_group_tests_name("polly", tests, setup, teardown);
}
