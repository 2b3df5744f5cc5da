/*
 * The pool of reusable threads (tpool.h). Each idle thread waits on a
 * condition of its own for work handed to it; the idle list is a stack, so
 * the most recently used (warm) thread is taken first and the others age
 * out after TPOOL_IDLE_MS.
 */
#include "tpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

typedef struct tthread {
	pthread_t th;
	pthread_cond_t cv;
	void (*fn)(void *); /* handed work, NULL while none */
	void *arg;
	struct tthread *next; /* in the idle stack, or the ended list */
} tthread;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gone = PTHREAD_COND_INITIALIZER; /* a thread ended */
static tthread *idle;
/* Threads that left their loop, to be joined: a thread's exit runs the
 * destructors of its thread-local data (OpenSSL's among them), which must
 * be done before the process ends or a leak checker counts them lost. */
static tthread *ended;
static unsigned n_idle, n_live;
static unsigned long n_made;
static int draining, exit_hook;

/* Takes t off the idle stack. mu held. */
static void idle_remove(tthread *t)
{
	for (tthread **p = &idle; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			n_idle--;
			return;
		}
}

static void *tthread_main(void *arg)
{
	tthread *t = arg;

	pthread_mutex_lock(&mu);
	for (;;) {
		void (*fn)(void *) = t->fn;
		void *fa = t->arg;
		t->fn = NULL;
		pthread_mutex_unlock(&mu);
		fn(fa);
		pthread_mutex_lock(&mu);
		if (draining)
			break;
		t->next = idle;
		idle = t;
		n_idle++;
		struct timespec ts;
		util_deadline_us(&ts, TPOOL_IDLE_MS * 1000LL);
		int rc = 0;
		while (!t->fn && !draining && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&t->cv, &mu, &ts);
		if (!t->fn) { /* aged out, or the pool drains */
			idle_remove(t);
			break;
		}
	}
	t->next = ended;
	ended = t;
	n_live--;
	pthread_cond_broadcast(&gone);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Joins the threads that ended and frees them. Called without mu. */
static void reap(void)
{
	pthread_mutex_lock(&mu);
	tthread *list = ended;
	ended = NULL;
	pthread_mutex_unlock(&mu);
	for (tthread *t = list, *next; t; t = next) {
		next = t->next;
		pthread_join(t->th, NULL);
		pthread_cond_destroy(&t->cv);
		free(t);
	}
}

int tpool_run(void (*fn)(void *), void *arg)
{
	tthread *t;
	int rc;

	reap();
	pthread_mutex_lock(&mu);
	if (!exit_hook) {
		exit_hook = 1;
		atexit(tpool_drain);
	}
	draining = 0;
	if ((t = idle) != NULL) {
		idle = t->next;
		n_idle--;
		t->fn = fn;
		t->arg = arg;
		pthread_cond_signal(&t->cv);
		pthread_mutex_unlock(&mu);
		return 0;
	}
	t = xcalloc(1, sizeof(*t));
	pthread_cond_init(&t->cv, NULL);
	t->fn = fn;
	t->arg = arg;
	rc = pthread_create(&t->th, NULL, tthread_main, t);
	if (rc != 0) {
		pthread_mutex_unlock(&mu);
		pthread_cond_destroy(&t->cv);
		free(t);
		errno = rc;
		return -1;
	}
	n_live++;
	n_made++;
	pthread_mutex_unlock(&mu);
	return 0;
}

void tpool_counts(unsigned long *made, unsigned *idle_now)
{
	pthread_mutex_lock(&mu);
	*made = n_made;
	*idle_now = n_idle;
	pthread_mutex_unlock(&mu);
}

void tpool_drain(void)
{
	struct timespec ts;

	pthread_mutex_lock(&mu);
	draining = 1;
	for (tthread *t = idle; t; t = t->next)
		pthread_cond_signal(&t->cv);
	util_deadline_us(&ts, 2000 * 1000LL);
	while (n_live > 0)
		if (pthread_cond_timedwait(&gone, &mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&mu);
	reap();
}
