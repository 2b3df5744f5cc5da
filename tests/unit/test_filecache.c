/*
 * The file cache (core/filecache.c) and its SHA-256 (core/sha256.c): known
 * digests, keys, a round trip, misses, least recently used eviction under
 * the cap, and processes storing and reading the same entries at once
 * never seeing a partial file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "filecache.h"
#include "helpers.h"
#include "sha256.h"
#include "util.h"

static void test_sha256_vectors(void **state)
{
	char hex[65];
	char *million = malloc(1000000);

	(void)state;
	sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a', fed in uneven pieces */
	memset(million, 'a', 1000000);
	sha256_ctx c;
	unsigned char d[32];
	sha256_init(&c);
	for (size_t off = 0, step = 1; off < 1000000; off += step, step = step * 3 % 997 + 1)
		sha256_update(&c, million + off, off + step > 1000000 ? 1000000 - off : step);
	sha256_final(&c, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static void test_keys(void **state)
{
	char a[65], b[65], c[65], d[65];
	const char *k1[] = { "polly", "Joanna", "neural", "en-US", "mp3", "Hello.", NULL };
	const char *k2[] = { "polly", "Joanna", "neural", "en-US", "mp3", "Hello!", NULL };
	const char *k3[] = { "espeak", "Joanna", "neural", "en-US", "mp3", "Hello.", NULL };
	/* the same bytes cut differently is another key */
	const char *k4[] = { "pollyJ", "oanna", "neural", "en-US", "mp3", "Hello.", NULL };

	(void)state;
	file_cache_key(k1, a);
	file_cache_key(k2, b);
	file_cache_key(k3, c);
	file_cache_key(k4, d);
	assert_int_equal(strlen(a), 64);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	file_cache_key(k1, b);
	assert_string_equal(a, b);
}

/* Writes n bytes of pattern seed to path. */
static void write_pattern(const char *path, size_t n, int seed)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc((int)((i * 31 + (size_t)seed) & 0xff), f);
	assert_int_equal(fclose(f), 0);
}

/* 1 when path holds exactly n bytes of pattern seed. */
static int check_pattern(const char *path, size_t n, int seed)
{
	FILE *f = fopen(path, "rb");
	size_t i = 0;
	int ch;

	if (!f)
		return 0;
	while ((ch = fgetc(f)) != EOF) {
		if (i >= n || ch != (int)((i * 31 + (size_t)seed) & 0xff)) {
			fclose(f);
			return 0;
		}
		i++;
	}
	fclose(f);
	return i == n;
}

/* Bytes of the regular files under dir, one level of folders deep. */
static long long folder_bytes(const char *dir, int *files)
{
	DIR *d = opendir(dir), *sd;
	struct dirent *de, *se;
	struct stat sb;
	long long total = 0;
	char p[4096];

	*files = 0;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!(sd = opendir(p)))
			continue;
		while ((se = readdir(sd))) {
			char q[4400];
			snprintf(q, sizeof(q), "%s/%s", p, se->d_name);
			if (se->d_name[0] != '.' && stat(q, &sb) == 0 && S_ISREG(sb.st_mode)) {
				total += sb.st_size;
				(*files)++;
			}
		}
		closedir(sd);
	}
	closedir(d);
	return total;
}

static void test_round_trip_and_miss(void **state)
{
	char *dir = th_tmpdir(), *cdir = util_path_join(dir, "cache");
	char *src = util_path_join(dir, "src.bin"), *dst = util_path_join(dir, "dst.bin");
	const char *key[] = { "espeak", "en-us", "espeak-ng", "", "wav", "Hi.", NULL };
	const char *other[] = { "espeak", "en-us", "espeak-ng", "", "wav", "Ho.", NULL };
	file_cache_stats before, after;
	char err[256];
	file_cache *c = file_cache_open(cdir, 1 << 20);

	(void)state;
	assert_non_null(c);
	assert_ptr_equal(file_cache_open(cdir, 1 << 20), c);
	file_cache_stats_get(&before);
	assert_int_equal(file_cache_get(c, key, dst, err, sizeof(err)), 1);
	write_pattern(src, 5000, 7);
	assert_int_equal(file_cache_put(c, key, src, err, sizeof(err)), 0);
	assert_int_equal(file_cache_get(c, key, dst, err, sizeof(err)), 0);
	assert_true(check_pattern(dst, 5000, 7));
	assert_int_equal(file_cache_get(c, other, dst, err, sizeof(err)), 1);
	file_cache_stats_get(&after);
	assert_int_equal(after.hits - before.hits, 1);
	assert_int_equal(after.misses - before.misses, 2);
	assert_int_equal(after.stores - before.stores, 1);
	/* a cap of 0 turns the cache off */
	assert_ptr_equal(file_cache_open(cdir, 0), c);
	assert_int_equal(file_cache_get(c, key, dst, err, sizeof(err)), 1);
	assert_int_equal(file_cache_put(c, key, src, err, sizeof(err)), 1);
	file_cache_open(cdir, 1 << 20);
	free(cdir);
	free(src);
	free(dst);
	th_rmdir(dir);
}

static void test_eviction_keeps_cap(void **state)
{
	char *dir = th_tmpdir(), *cdir = util_path_join(dir, "lru");
	char *src = util_path_join(dir, "src.bin"), *dst = util_path_join(dir, "dst.bin");
	char text[32], err[256];
	const char *key[] = { "t", text, NULL };
	file_cache *c = file_cache_open(cdir, 10000);
	int files;

	(void)state;
	assert_non_null(c);
	write_pattern(src, 3000, 1);
	for (int i = 0; i < 12; i++) {
		snprintf(text, sizeof(text), "sentence %d", i);
		assert_int_equal(file_cache_put(c, key, src, err, sizeof(err)), 0);
		assert_true(folder_bytes(cdir, &files) <= 10000);
		if (i == 1) {
			/* sentence 0 is used again: it is now the most recent */
			struct timespec ts = { 0, 20 * 1000000L };
			nanosleep(&ts, NULL);
			snprintf(text, sizeof(text), "sentence 0");
			assert_int_equal(file_cache_get(c, key, dst, err, sizeof(err)), 0);
		}
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(folder_bytes(cdir, &files), 9000);
	assert_int_equal(files, 3);
	/* the three newest survive; 0 (touched at 1) and 1 went long ago */
	for (int i = 0; i < 12; i++) {
		snprintf(text, sizeof(text), "sentence %d", i);
		assert_int_equal(file_cache_get(c, key, dst, err, sizeof(err)), i >= 9 ? 0 : 1);
	}
	/* a file larger than the cap is not stored */
	write_pattern(src, 20000, 2);
	snprintf(text, sizeof(text), "big");
	assert_int_equal(file_cache_put(c, key, src, err, sizeof(err)), 1);
	free(cdir);
	free(src);
	free(dst);
	th_rmdir(dir);
}

/* A child: stores and reads the shared keys over and over, checking each
 * copy it gets whole. Exits 0 when every copy was whole. */
static void hammer(const char *dir, const char *cdir, int me)
{
	char src[4096], dst[4096], text[32], err[256];
	const char *key[] = { "pair", text, NULL };
	file_cache *c = file_cache_open(cdir, 1 << 24);
	int bad = 0;

	for (int round = 0; round < 40; round++) {
		int k = (round + me) % 4;
		size_t n = 200000 + (size_t)k * 7919;
		snprintf(text, sizeof(text), "shared %d", k);
		snprintf(src, sizeof(src), "%s/src-%d-%d", dir, me, round);
		snprintf(dst, sizeof(dst), "%s/dst-%d", dir, me);
		if (file_cache_get(c, key, dst, err, sizeof(err)) == 0) {
			if (!check_pattern(dst, n, k))
				bad++;
			continue;
		}
		write_pattern(src, n, k);
		file_cache_put(c, key, src, err, sizeof(err));
		unlink(src);
	}
	_exit(bad ? 1 : 0);
}

static void test_concurrent_writers_never_torn(void **state)
{
	char *dir = th_tmpdir(), *cdir = util_path_join(dir, "shared");
	pid_t kids[4];
	int status;

	(void)state;
	for (int i = 0; i < 4; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0)
			hammer(dir, cdir, i);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	free(cdir);
	th_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_round_trip_and_miss),
		cmocka_unit_test(test_eviction_keeps_cap),
		cmocka_unit_test(test_concurrent_writers_never_torn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
