/*
 * Unit tests for core/serve/status_cache.c without the daemon: ids found
 * and added once, the LRU bound on unpinned entries (pinned ones never go,
 * a read makes an entry recent), versions that move only on a new state,
 * placeholders filled once, the ring of past states for /events, and the
 * locking contract under threads: a blob referenced under the lock stays
 * valid after the writer has replaced it (ASan and valgrind check this).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/status_cache.h"

/* A 36-character id from a number. */
static const char *id_of(int n, char *buf)
{
	snprintf(buf, 37, "00000000-0000-4000-8000-%012d", n);
	return buf;
}

static status_entry *add(status_cache *c, int n, const char *text)
{
	char id[37];
	blob *b = blob_new(text, strlen(text));
	status_entry *e = status_cache_add(c, id_of(n, id), b, 0);

	blob_unref(b);
	return e;
}

static status_entry *find(status_cache *c, int n)
{
	char id[37];

	return status_cache_find(c, id_of(n, id));
}

static void test_blob(void **state)
{
	blob *b = blob_new("abc", 2);

	(void)state;
	assert_int_equal(b->len, 2);
	assert_string_equal(b->data, "ab");
	assert_ptr_equal(blob_ref(b), b);
	assert_int_equal(atomic_load(&b->ref), 2);
	blob_unref(b);
	blob_unref(b);
	blob_unref(NULL);
}

static void test_find_and_add(void **state)
{
	status_cache c;
	status_entry *e;

	(void)state;
	status_cache_init(&c, 10);
	assert_null(find(&c, 1));
	e = add(&c, 1, "{\"v\":1}");
	status_cache_touch(&c, e);
	assert_int_equal(e->version, 1);
	assert_string_equal(e->resp->data, "{\"v\":1}");
	/* A second add of the same id is the same entry, its state kept. */
	assert_ptr_equal(add(&c, 1, "{\"other\":1}"), e);
	assert_string_equal(e->resp->data, "{\"v\":1}");
	assert_ptr_equal(find(&c, 1), e);
	for (int i = 2; i < 200; i++)
		status_cache_pin(&c, add(&c, i, "{}"));
	for (int i = 1; i < 200; i++)
		assert_non_null(find(&c, i));
	assert_null(find(&c, 200));
	status_cache_destroy(&c);
}

static void test_lru_bound_and_pins(void **state)
{
	status_cache c;
	status_entry *e;

	(void)state;
	status_cache_init(&c, 3);
	for (int i = 1; i <= 3; i++)
		status_cache_touch(&c, add(&c, i, "{}"));
	/* A read makes 1 the most recent: 2 is the oldest now. */
	status_cache_touch(&c, find(&c, 1));
	status_cache_touch(&c, add(&c, 4, "{}"));
	assert_null(find(&c, 2));
	assert_non_null(find(&c, 1));
	assert_int_equal(c.n_lru, 3);
	/* A pinned entry is off the list and never evicted. */
	e = find(&c, 3);
	status_cache_pin(&c, e);
	assert_int_equal(c.n_lru, 2);
	for (int i = 5; i <= 8; i++)
		status_cache_touch(&c, add(&c, i, "{}"));
	assert_ptr_equal(find(&c, 3), e);
	assert_null(find(&c, 1));
	assert_null(find(&c, 4));
	assert_int_equal(c.n_lru, 3);
	/* Two pins need two unpins; then it is the most recent. */
	status_cache_pin(&c, e);
	status_cache_unpin(&c, e);
	assert_int_equal(e->pins, 1);
	assert_false(e->on_lru);
	status_cache_unpin(&c, e);
	assert_true(e->on_lru);
	assert_ptr_equal(c.lru_head, e);
	assert_int_equal(c.n_lru, 3);
	assert_null(find(&c, 5));
	status_cache_destroy(&c);
}

static void test_versions_and_placeholders(void **state)
{
	status_cache c;
	blob *b1 = blob_new("{\"s\":1}", 7), *b2 = blob_new("{\"s\":2}", 7);
	status_entry *e;

	(void)state;
	status_cache_init(&c, 10);
	e = add(&c, 1, "{}");
	status_cache_set(e, b1);
	assert_int_equal(e->version, 2);
	status_cache_set(e, b1); /* the same blob: no new state */
	assert_int_equal(e->version, 2);
	status_cache_set(e, b2);
	assert_int_equal(e->version, 3);
	assert_ptr_equal(e->resp, b2);
	/* fill gives a placeholder its first state, and nothing else. */
	status_cache_fill(e, b1, 1);
	assert_ptr_equal(e->resp, b2);
	e->version = 0;
	status_cache_fill(e, b1, 1);
	assert_int_equal(e->version, 1);
	assert_ptr_equal(e->resp, b1);
	assert_int_equal(e->finished, 1);
	status_cache_touch(&c, e);
	blob_unref(b1);
	blob_unref(b2);
	status_cache_destroy(&c);
}

static void test_ring(void **state)
{
	status_cache c;
	status_entry *e;
	char text[32];

	(void)state;
	status_cache_init(&c, 10);
	e = add(&c, 1, "{\"n\":1}");
	status_cache_pin(&c, e);
	assert_null(status_cache_state(e, 1)); /* not watched: no ring */
	status_cache_watch(e);
	assert_string_equal(status_cache_state(e, 1)->data, "{\"n\":1}");
	for (int n = 2; n <= STATUS_RING + 10; n++) {
		snprintf(text, sizeof(text), "{\"n\":%d}", n);
		blob *b = blob_new(text, strlen(text));
		status_cache_set(e, b);
		blob_unref(b);
	}
	/* The last STATUS_RING states are there, the older ones are not. */
	assert_string_equal(status_cache_state(e, STATUS_RING + 10)->data, text);
	assert_string_equal(status_cache_state(e, 11)->data, "{\"n\":11}");
	assert_null(status_cache_state(e, 10));
	assert_null(status_cache_state(e, 1));
	status_cache_unwatch(e);
	assert_null(status_cache_state(e, STATUS_RING + 10));
	status_cache_unpin(&c, e);
	status_cache_destroy(&c);
}

static void count_one(status_entry *e, void *ud)
{
	(void)e;
	(*(int *)ud)++;
}

static void test_each(void **state)
{
	status_cache c;
	int n = 0;

	(void)state;
	status_cache_init(&c, 100);
	for (int i = 0; i < 50; i++)
		status_cache_touch(&c, add(&c, i, "{}"));
	status_cache_each(&c, count_one, &n);
	assert_int_equal(n, 50);
	status_cache_destroy(&c);
}

/* Writers publish new states under the lock while readers take a reference
 * under it and read the bytes after unlocking, as the status path does. */
#define ROUNDS 20000
static status_cache shared;

static void *writer(void *arg)
{
	int who = *(int *)arg;
	char text[64];

	for (int i = 0; i < ROUNDS; i++) {
		int n = snprintf(text, sizeof(text), "{\"writer\":%d,\"i\":%d}", who, i);
		blob *b = blob_new(text, (size_t)n);
		pthread_mutex_lock(&shared.lock);
		status_entry *e = status_cache_add(&shared, "00000000-0000-4000-8000-000000000001",
						   b, 0);
		status_cache_set(e, b);
		status_cache_touch(&shared, e);
		pthread_mutex_unlock(&shared.lock);
		blob_unref(b);
	}
	return NULL;
}

static void *reader(void *arg)
{
	long *seen = arg;

	for (int i = 0; i < ROUNDS; i++) {
		blob *b = NULL;
		pthread_mutex_lock(&shared.lock);
		status_entry *e = status_cache_find(&shared, "00000000-0000-4000-8000-000000000001");
		if (e)
			b = blob_ref(e->resp);
		pthread_mutex_unlock(&shared.lock);
		if (!b)
			continue;
		if (b->data[0] == '{' && b->data[b->len - 1] == '}')
			(*seen)++;
		blob_unref(b);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t w[2], r[2];
	int ids[2] = { 1, 2 };
	long seen[2] = { 0, 0 };
	status_entry *e;

	(void)state;
	status_cache_init(&shared, 4);
	for (int i = 0; i < 2; i++) {
		pthread_create(&w[i], NULL, writer, &ids[i]);
		pthread_create(&r[i], NULL, reader, &seen[i]);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(w[i], NULL);
		pthread_join(r[i], NULL);
	}
	e = status_cache_find(&shared, "00000000-0000-4000-8000-000000000001");
	assert_non_null(e);
	/* Every set was a new blob: the version counts them all. */
	assert_int_equal(e->version, 2 * ROUNDS);
	assert_true(seen[0] + seen[1] > 0);
	status_cache_destroy(&shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blob),
		cmocka_unit_test(test_find_and_add),
		cmocka_unit_test(test_lru_bound_and_pins),
		cmocka_unit_test(test_versions_and_placeholders),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_each),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests_name("status_cache", tests, NULL, NULL);
}
