/*
 * Unit tests for the espeak plugin: voice mapping, WAV durations, sentence
 * cutting through svc->split_sentences (the core's rule, checked here on the
 * cases narration depends on), and a whole run against the fake services
 * table (real espeak-ng through proc_run; skipped without it).
 */
/* The plugin first: cmocka defines a fail() macro that would rewrite its
 * svc->fail calls. */
#include "../../plugins/espeak/espeak.c"
#include "svc_mock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "util.h"

/* ---- splitting --------------------------------------------------------- */
static void expect_split(const char *text, const char *const *want, size_t n)
{
	vg_stage st = { .struct_size = sizeof st, .svc = &mock_svc };
	size_t got = 0;
	char **l = narration_sentences(&st, text, strlen(text), ESPEAK_MAX_SEGMENTS,
				       &got);
	assert_non_null(l);
	if (got != n)
		for (size_t i = 0; i < got; i++)
			fprintf(stderr, "got [%s]\n", l[i]);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l[i], want[i]);
	assert_null(l[n]);
	free(l);
}

static void test_split_basic(void **state)
{
	const char *w[] = { "First one.", "Second one!", "Is it third?",
			    "Last without stop" };
	expect_split("  First   one.  Second\n one! Is it third?\tLast without stop ",
		     w, 4);
}

static void test_split_abbrev_numbers(void **state)
{
	const char *w[] = {
		"Pi is about 3.14 and e.g. Euler's number is 2.718.",
		"Dr. Smith vs. Mr. Jones, i.e. a debate, etc. went on.",
		"Then J. Doe spoke."
	};
	expect_split("Pi is about 3.14 and e.g. Euler's number is 2.718. "
		     "Dr. Smith vs. Mr. Jones, i.e. a debate, etc. went on. "
		     "Then J. Doe spoke.", w, 3);
}

static void test_split_quotes_paragraphs_markdown(void **state)
{
	const char *w[] = { "He said \"stop.\"", "Heading",
			    "Bold text here (really!)", "End." };
	expect_split("He said \"stop.\" \n\n## Heading\n\n**Bold** text here "
		     "(really!) End.", w, 4);
	expect_split(" \n\t \n ", NULL, 0);
}

/* ---- voices ------------------------------------------------------------ */
static void test_voice_map(void **state)
{
	char v[64];
	const char *map = "Joanna=en-us+f3,Matthew=en-us+m3";
	assert_int_equal(espeak_map_voice(map, "Matthew", v, sizeof v), 1);
	assert_string_equal(v, "en-us+m3");
	assert_int_equal(espeak_map_voice(map, "Joan", v, sizeof v), 0);
	assert_int_equal(espeak_map_voice("Joanna=-x", "Joanna", v, sizeof v), -1);
	assert_int_equal(espeak_map_voice("Joanna=en us", NULL, v, sizeof v), -1);
	assert_int_equal(espeak_map_voice("Joanna", NULL, v, sizeof v), -1);
	espeak_conf c = { .voices = "A=../etc", .fallback = "en-us" };
	char err[128];
	assert_int_equal(espeak_init(&c, err, sizeof err), VG_EINVAL);
	c.voices = "A=en";
	assert_int_equal(espeak_init(&c, err, sizeof err), VG_OK);
}

/* ---- WAV --------------------------------------------------------------- */
static void put32(unsigned char *p, unsigned long v)
{
	p[0] = v & 0xff; p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff; p[3] = (v >> 24) & 0xff;
}

static void test_wav_duration(void **state)
{
	/* 22050 Hz mono 16-bit: byte rate 44100; 22050 bytes = 0.5 s. An
	 * extra LIST chunk must be skipped. */
	size_t n = 12 + 24 + 12 + 8 + 22050;
	unsigned char *w = calloc(1, n);
	memcpy(w, "RIFF", 4); put32(w + 4, (unsigned long)n - 8);
	memcpy(w + 8, "WAVE", 4);
	memcpy(w + 12, "fmt ", 4); put32(w + 16, 16);
	w[20] = 1; w[22] = 1; put32(w + 24, 22050); put32(w + 28, 44100);
	w[32] = 2; w[34] = 16;
	memcpy(w + 36, "LIST", 4); put32(w + 40, 4); memcpy(w + 44, "INFO", 4);
	memcpy(w + 48, "data", 4); put32(w + 52, 0x7fffffff); /* placeholder */
	char path[] = "/tmp/test_espeak_wavXXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, w, n), (ssize_t)n);
	close(fd);
	double d = 0;
	assert_int_equal(wav_duration(path, &d), 0);
	assert_true(d > 0.499 && d < 0.501);
	/* Not a WAV. */
	FILE *f = fopen(path, "w");
	fputs("hello, world", f);
	fclose(f);
	assert_int_equal(wav_duration(path, &d), -1);
	unlink(path);
	free(w);
}

/* ---- a whole run ------------------------------------------------------- */
static void test_run_real_espeak(void **state)
{
	if (access("/usr/bin/espeak-ng", X_OK) != 0)
		skip();
	char dir[] = "/tmp/test_espeak_runXXXXXX";
	assert_non_null(mkdtemp(dir));
	const char *text = "The square on the hypotenuse equals the sum of the "
			   "other two squares. -rf is not an option! Done.";
	vg_artifact in = { .from = "explain", .kind = "text", .data = text,
			   .len = strlen(text) };
	vg_job_info job = { .id = "x", .voice = "Matthew", .job_dir = dir };
	vg_stage st = { .struct_size = sizeof st, .id = "narrate", .dir = dir,
			.job = &job, .svc = &mock_svc, .n_inputs = 1,
			.inputs = &in };
	espeak_conf c;
	mock_defaults(&vidgen_plugin, &c);
	char err[256];
	assert_int_equal(espeak_init(&c, err, sizeof err), VG_OK);
	mock_reset();
	mock.write_files = 1;
	int rc = espeak_run(&c, &st);
	if (rc != VG_OK)
		fprintf(stderr, "fail: %s\n", mock.fail);
	assert_int_equal(rc, VG_OK);
	assert_string_equal(mock.out_kind, "narration");

	json_error_t jerr;
	json_t *root = json_load_file(mock.out_path, 0, &jerr);
	assert_non_null(root);
	json_t *segs = json_object_get(root, "segments");
	assert_int_equal(json_array_size(segs), 3);
	double total = 0;
	for (size_t i = 0; i < 3; i++) {
		json_t *s = json_array_get(segs, i);
		assert_int_equal(json_integer_value(json_object_get(s, "index")), i);
		double d = json_number_value(json_object_get(s, "duration"));
		assert_true(d > 0.2 && d < 15);
		total += d;
		char wav[512];
		snprintf(wav, sizeof wav, "%s/%s", dir,
			 json_string_value(json_object_get(s, "file")));
		assert_int_equal(access(wav, R_OK), 0);
	}
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(segs, 1), "text")), "-rf is not an option!");
	double t = json_number_value(json_object_get(root, "total_duration"));
	assert_true(t > total - 0.01 && t < total + 0.01);
	assert_string_equal(json_string_value(json_object_get(root, "voice")),
			    "Matthew");
	/* The longest sentence takes the longest. */
	assert_true(json_number_value(json_object_get(json_array_get(segs, 0),
		"duration")) > json_number_value(json_object_get(
		json_array_get(segs, 2), "duration")));
	json_decref(root);

	/* Empty text is refused with a message. */
	vg_artifact empty = { .from = "explain", .kind = "text", .data = "  ",
			      .len = 2 };
	st.inputs = &empty;
	assert_int_equal(espeak_run(&c, &st), VG_EINVAL);
	assert_non_null(strstr(mock.fail, "empty"));
	util_rm_rf(dir);
}

/* Reads a whole file into a malloc'd buffer; *n its size. */
static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	long len;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	rewind(f);
	b = malloc((size_t)len + 1);
	assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return b;
}

/* The cache through the real plugin: a second run in the same folder makes
 * no espeak-ng run; a later run of another sentence into the same segment
 * file leaves the cached audio of the first untouched (a hit links the
 * entry: synthesis must not write into it). */
static void test_cache_never_written_through(void **state)
{
	(void)state;
	if (access("/usr/bin/espeak-ng", X_OK) != 0)
		skip();
	char dir[] = "/tmp/test_espeak_cacheXXXXXX";
	assert_non_null(mkdtemp(dir));
	vg_artifact in = { .from = "explain", .kind = "text", .data = "One sentence here.",
			   .len = 18 };
	vg_job_info job = { .id = "x", .voice = "Joanna", .job_dir = dir };
	vg_stage st = { .struct_size = sizeof st, .id = "narrate", .dir = dir, .job = &job,
			.svc = &mock_svc, .n_inputs = 1, .inputs = &in };
	espeak_conf c;
	char err[256], seg[700], entry_copy[600];
	size_t n1, n2;

	mock_defaults(&vidgen_plugin, &c);
	assert_int_equal(espeak_init(&c, err, sizeof err), VG_OK);
	mock_reset();
	snprintf(mock.cache_dir, sizeof(mock.cache_dir), "%s/cache", dir);
	assert_int_equal(espeak_run(&c, &st), VG_OK);
	assert_int_equal(mock.cache_puts, 1);
	assert_int_equal(mock_usage("requests"), 1);
	snprintf(seg, sizeof seg, "%s/seg000.wav", dir);
	char *first = slurp(seg, &n1);

	mock_reset();
	snprintf(mock.cache_dir, sizeof(mock.cache_dir), "%s/cache", dir);
	mock.last_argv[0] = '\0';
	assert_int_equal(espeak_run(&c, &st), VG_OK);
	assert_int_equal(mock.cache_hits, 1);
	assert_int_equal(mock_usage("requests"), 0);
	assert_string_equal(mock.last_argv, ""); /* espeak-ng did not run */

	/* Another sentence into the same seg000.wav. */
	in.data = "A different and much longer sentence is spoken now.";
	in.len = strlen(in.data);
	mock_reset();
	snprintf(mock.cache_dir, sizeof(mock.cache_dir), "%s/cache", dir);
	assert_int_equal(espeak_run(&c, &st), VG_OK);
	assert_int_equal(mock_usage("requests"), 1);
	/* The first sentence, looked up again, is the audio it was. */
	in.data = "One sentence here.";
	in.len = 18;
	mock_reset();
	snprintf(mock.cache_dir, sizeof(mock.cache_dir), "%s/cache", dir);
	snprintf(entry_copy, sizeof entry_copy, "%s/again", dir);
	util_mkdir_p(entry_copy, 0755);
	st.dir = entry_copy;
	assert_int_equal(espeak_run(&c, &st), VG_OK);
	assert_int_equal(mock.cache_hits, 1);
	snprintf(seg, sizeof seg, "%s/seg000.wav", entry_copy);
	char *again = slurp(seg, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(first, again, n1);
	free(first);
	free(again);
	util_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_basic),
		cmocka_unit_test(test_split_abbrev_numbers),
		cmocka_unit_test(test_split_quotes_paragraphs_markdown),
		cmocka_unit_test(test_voice_map),
		cmocka_unit_test(test_wav_duration),
		cmocka_unit_test(test_run_real_espeak),
		cmocka_unit_test(test_cache_never_written_through),
	};
	return cmocka_run_group_tests_name("espeak", tests, NULL, NULL);
}
