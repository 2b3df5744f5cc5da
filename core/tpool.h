/*
 * Threads kept for reuse: a stage runs on a thread the process made for an
 * earlier stage if one is idle, else on a new one. A thread idle for
 * TPOOL_IDLE_MS ends. What it saves is a thread's start and end for each
 * stage (clone, a stack's mapping and its release), which a worker running
 * thousands of short jobs pays for each.
 */
#ifndef VIDGEN_TPOOL_H
#define VIDGEN_TPOOL_H

#define TPOOL_IDLE_MS 10000

/* Runs fn(arg) on an idle thread of the pool, or a new one. fn must not
 * expect to be joined: it tells whoever waits for it that it is done
 * (the runner: a state under its mutex). 0 started; -1 no thread could be
 * made (errno). */
int tpool_run(void (*fn)(void *), void *arg);

/* Threads made since the process started, and those idle now: for tests. */
void tpool_counts(unsigned long *made, unsigned *idle);

/* Ends the idle threads and waits (up to 2 s) for those still running to
 * end theirs, then joins them: their thread-local data (OpenSSL's) is
 * freed before the process ends. Called at exit; tpool_run works again
 * after it. */
void tpool_drain(void);

#endif
