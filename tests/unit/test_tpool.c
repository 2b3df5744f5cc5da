/*
 * The pool of reusable threads (core/tpool.c): a thread that finished its
 * work takes the next; work handed over while every thread is busy gets a
 * thread of its own, so tasks that wait for each other all run; a drain
 * ends the idle threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "tpool.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int done, started, release;
static pthread_t ran_on[8];

/* Records its thread and says it is done. */
static void note(void *arg)
{
	int i = (int)(intptr_t)arg;

	pthread_mutex_lock(&mu);
	ran_on[i] = pthread_self();
	done++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Waits (up to 5 s) until done reaches n. 1 if it did. */
static int wait_done(int n)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&mu);
	while (done < n && rc == 0)
		rc = pthread_cond_timedwait(&cv, &mu, &ts);
	int ok = done >= n;
	pthread_mutex_unlock(&mu);
	return ok;
}

/* Runs until every one of three is running (or 5 s pass): they can all end
 * only if each has a thread. */
static void meet(void *arg)
{
	struct timespec ts;
	int rc = 0;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&mu);
	started++;
	pthread_cond_broadcast(&cv);
	while (started < 3 && !release && rc == 0)
		rc = pthread_cond_timedwait(&cv, &mu, &ts);
	if (started >= 3)
		done++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* The pool's idle threads once n of them are (or 5 s passed). */
static unsigned idle_after_wait(unsigned n)
{
	unsigned long made;
	unsigned idle = 0;

	for (int i = 0; i < 500; i++) {
		tpool_counts(&made, &idle);
		if (idle >= n)
			break;
		usleep(10 * 1000);
	}
	return idle;
}

static void test_reuse_and_busy(void **state)
{
	unsigned long made0, made;
	unsigned idle;

	(void)state;
	tpool_counts(&made0, &idle);
	assert_int_equal(tpool_run(note, (void *)0), 0);
	assert_true(wait_done(1));
	/* The thread is idle once note returned: wait for it to say so. */
	assert_int_equal(idle_after_wait(1), 1);
	assert_int_equal(tpool_run(note, (void *)1), 0);
	assert_true(wait_done(2));
	tpool_counts(&made, &idle);
	assert_int_equal(made, made0 + 1); /* the second ran on the first's thread */
	assert_true(pthread_equal(ran_on[0], ran_on[1]));

	/* Three that wait for each other: three threads, all of them run (the
	 * first on the idle one: wait until it is back in the pool). */
	assert_int_equal(idle_after_wait(1), 1);
	done = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(tpool_run(meet, NULL), 0);
	int all = wait_done(3);
	pthread_mutex_lock(&mu);
	release = 1; /* let them go even if they did not meet */
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	assert_true(all);
	tpool_counts(&made, &idle);
	assert_int_equal(made, made0 + 3);

	/* A drain ends the idle ones. */
	assert_int_equal(idle_after_wait(3), 3);
	tpool_drain();
	tpool_counts(&made, &idle);
	assert_int_equal(idle, 0);
	/* And the pool works after it. */
	done = 0;
	assert_int_equal(tpool_run(note, (void *)2), 0);
	assert_true(wait_done(1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse_and_busy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
