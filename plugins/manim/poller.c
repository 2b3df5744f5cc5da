/*
 * A thread that calls one function every period until stopped (poller.h).
 */
#include "poller.h"

#include <string.h>
#include <time.h>

static void *poller_main(void *arg)
{
	poller *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += p->period_ms / 1000;
		t.tv_nsec += p->period_ms % 1000 * 1000L * 1000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->cv, &p->mu, &t);
		if (p->stop)
			break;
		pthread_mutex_unlock(&p->mu);
		p->tick(p->arg);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int poller_start(poller *p, long period_ms, void (*tick)(void *), void *arg)
{
	memset(p, 0, sizeof *p);
	p->period_ms = period_ms;
	p->tick = tick;
	p->arg = arg;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		return -1;
	if (pthread_cond_init(&p->cv, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		return -1;
	}
	if (pthread_create(&p->thread, NULL, poller_main, p) != 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		return -1;
	}
	return 0;
}

void poller_stop(poller *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
}
