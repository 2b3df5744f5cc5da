/*
 * Unit tests of a worker's lease table (core/serve/lease.c) on a real
 * PostgreSQL store (a server of the test's own, tests/pg_server.sh): a held
 * lease is renewed in the store, a lease another claim took is reported
 * lost (once), a cancel from another node is reported, the worker's own
 * clock ends a lease it cannot renew, and the claim latency's quantiles.
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
#include <unistd.h>

#include "pg_helpers.h"
#include "serve/lease.h"
#include "serve/store.h"
#include "util.h"

typedef struct events {
	pthread_mutex_t mu;
	int lost, cancel;
	char id[37];
} events;

static void on_event(void *ud, const char *id, enum lease_event ev)
{
	events *e = ud;

	pthread_mutex_lock(&e->mu);
	if (ev == LEASE_LOST)
		e->lost++;
	else if (ev == LEASE_CANCEL)
		e->cancel++;
	snprintf(e->id, sizeof(e->id), "%s", id);
	pthread_mutex_unlock(&e->mu);
}

static int count_of(events *e, int *field)
{
	pthread_mutex_lock(&e->mu);
	int n = *field;
	pthread_mutex_unlock(&e->mu);
	return n;
}

/* A store on a new database with one queued job, claimed for lease_ms. */
static job_store *store_claimed(char *url, size_t len, int lease_ms, store_job *claimed)
{
	job_store *s;
	char err[512];

	assert_int_equal(pgtest_createdb(url, len), 0);
	if (store_open(url, &s, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(pgtest_add_jobs(s, 1, NULL), 0);
	assert_int_equal(store_claim(s, lease_ms, claimed, err, sizeof(err)), 0);
	return s;
}

/* Renewed every quarter of the lease: the store never lets it run out,
 * and nobody else can claim the job. */
static void test_renewed(void **state)
{
	char url[256], err[512];
	events ev = { PTHREAD_MUTEX_INITIALIZER, 0, 0, "" };
	store_job held, other;

	(void)state;
	job_store *s = store_claimed(url, sizeof(url), 1200, &held);
	lease_table *t = lease_table_new(s, 2, 1200, on_event, &ev);
	assert_non_null(t);
	int slot = lease_hold(t, held.id, held.lease, util_now_ms());
	assert_true(slot >= 0);
	usleep(3000 * 1000); /* two and a half leases */
	assert_int_equal(store_claim(s, 1200, &other, err, sizeof(err)), 1);
	assert_false(lease_is_lost(t, slot));
	assert_int_equal(count_of(&ev, &ev.lost), 0);
	lease_drop(t, slot);
	lease_table_free(t);
	store_job_clear(&held);
	store_close(s);
	pgtest_dropdb(url);
}

/* Not renewed (dropped here), the lease runs out and another claim takes
 * the job; held again under the old token, the table reports it lost once
 * and fences it. */
static void test_lost_to_another_claim(void **state)
{
	char url[256], err[512];
	events ev = { PTHREAD_MUTEX_INITIALIZER, 0, 0, "" };
	store_job held, other;

	(void)state;
	job_store *s = store_claimed(url, sizeof(url), 1000, &held);
	usleep(1200 * 1000);
	assert_int_equal(store_claim(s, 20000, &other, err, sizeof(err)), 0);
	lease_table *t = lease_table_new(s, 1, 1000, on_event, &ev);
	int slot = lease_hold(t, held.id, held.lease, util_now_ms());
	for (int i = 0; i < 100 && count_of(&ev, &ev.lost) == 0; i++)
		usleep(20 * 1000);
	assert_int_equal(count_of(&ev, &ev.lost), 1);
	assert_string_equal(ev.id, held.id);
	assert_true(lease_is_lost(t, slot));
	usleep(600 * 1000); /* two more renewal rounds: still told once */
	assert_int_equal(count_of(&ev, &ev.lost), 1);
	lease_drop(t, slot);
	lease_table_free(t);
	store_job_clear(&held);
	store_job_clear(&other);
	store_close(s);
	pgtest_dropdb(url);
}

/* A cancel recorded by another node reaches the holder at a renewal. */
static void test_cancel_reported(void **state)
{
	char url[256], err[512];
	events ev = { PTHREAD_MUTEX_INITIALIZER, 0, 0, "" };
	store_job held, r;

	(void)state;
	job_store *s = store_claimed(url, sizeof(url), 1000, &held);
	lease_table *t = lease_table_new(s, 1, 1000, on_event, &ev);
	int slot = lease_hold(t, held.id, held.lease, util_now_ms());
	assert_int_equal(store_cancel(s, held.id, "cancelled", &r, err, sizeof(err)), 2);
	store_job_clear(&r);
	for (int i = 0; i < 100 && count_of(&ev, &ev.cancel) == 0; i++)
		usleep(20 * 1000);
	assert_int_equal(count_of(&ev, &ev.cancel), 1);
	assert_false(lease_is_lost(t, slot)); /* still ours: it records the cancel */
	lease_drop(t, slot);
	lease_table_free(t);
	store_job_clear(&held);
	store_close(s);
	pgtest_dropdb(url);
}

/* With no renewal at all (claimed long ago by the worker's clock), the
 * lease is lost at three quarters of it, whatever the store says. */
static void test_own_clock_ends_it(void **state)
{
	char url[256];
	events ev = { PTHREAD_MUTEX_INITIALIZER, 0, 0, "" };
	store_job held;

	(void)state;
	job_store *s = store_claimed(url, sizeof(url), 20000, &held);
	lease_table *t = lease_table_new(s, 1, 20000, on_event, &ev);
	int slot = lease_hold(t, held.id, held.lease, util_now_ms() - 15001);
	assert_true(lease_is_lost(t, slot));
	int fresh = lease_hold(t, held.id, held.lease, util_now_ms());
	assert_int_equal(fresh, -1); /* one slot, still taken */
	lease_drop(t, slot);
	fresh = lease_hold(t, held.id, held.lease, util_now_ms());
	assert_int_equal(fresh, 0);
	assert_false(lease_is_lost(t, fresh));
	lease_drop(t, fresh);
	lease_table_free(t);
	store_job_clear(&held);
	store_close(s);
	pgtest_dropdb(url);
}

static void test_claim_quantiles(void **state)
{
	char url[256];
	events ev = { PTHREAD_MUTEX_INITIALIZER, 0, 0, "" };
	store_job held;
	long long n = -1;

	(void)state;
	job_store *s = store_claimed(url, sizeof(url), 20000, &held);
	lease_table *t = lease_table_new(s, 1, 20000, on_event, &ev);
	assert_true(lease_claim_quantile(t, 0.5, &n) == 0.0);
	assert_int_equal(n, 0);
	for (int i = 1; i <= 100; i++)
		lease_note_claim(t, i * 1000); /* 1 ms .. 100 ms */
	double p50 = lease_claim_quantile(t, 0.5, &n), p99 = lease_claim_quantile(t, 0.99, &n);
	assert_int_equal(n, 100);
	assert_true(p50 >= 0.050 && p50 <= 0.051);
	assert_true(p99 >= 0.098 && p99 <= 0.100);
	for (int i = 0; i < LEASE_CLAIMS_KEPT; i++) /* the ring keeps the newest */
		lease_note_claim(t, 2000);
	assert_true(lease_claim_quantile(t, 0.99, &n) == 0.002);
	assert_int_equal(n, 100 + LEASE_CLAIMS_KEPT);
	lease_table_free(t);
	store_job_clear(&held);
	store_close(s);
	pgtest_dropdb(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_renewed),
		cmocka_unit_test(test_lost_to_another_claim),
		cmocka_unit_test(test_cancel_reported),
		cmocka_unit_test(test_own_clock_ends_it),
		cmocka_unit_test(test_claim_quantiles),
	};
	return cmocka_run_group_tests(tests, pgtest_group_setup, pgtest_group_teardown);
}
