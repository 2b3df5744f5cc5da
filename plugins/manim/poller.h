/*
 * A thread that calls one function every period until stopped: the render
 * stage's progress reader and its fork-bomb watch.
 */
#ifndef VG_MANIM_POLLER_H
#define VG_MANIM_POLLER_H

#include <pthread.h>

typedef struct poller {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	long period_ms;
	void (*tick)(void *arg);  /* called without the lock held */
	void *arg;
} poller;

/* Starts calling tick(arg) every period_ms (the first call one period
 * from now). Returns 0, or -1: no thread, nothing to stop. */
int poller_start(poller *p, long period_ms, void (*tick)(void *), void *arg);

/* Stops the thread (a tick under way finishes first) and waits for it. */
void poller_stop(poller *p);

#endif
