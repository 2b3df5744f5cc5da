/*
 * The fork-bomb watch of a render under a private uid (bomb_watch.h).
 */
#include "bomb_watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BOMB_POLL_MS 50
#define BOMB_KILL_ROUNDS 200

long bomb_count(uid_t uid, int kill_them)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	struct stat st;
	long n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		/* A process's /proc folder belongs to its effective uid. */
		if (fstatat(dirfd(d), e->d_name, &st, 0) != 0 || st.st_uid != uid)
			continue;
		n++;
		if (kill_them)
			kill((pid_t)strtol(e->d_name, NULL, 10), SIGKILL);
	}
	closedir(d);
	return n;
}

/* Kills every process of the uid, round after round, until none is left
 * (a process forked between a listing and the kills is caught next). */
static void bomb_kill_all(uid_t uid)
{
	struct timespec pause = { 0, 5 * 1000 * 1000 };

	for (int i = 0; i < BOMB_KILL_ROUNDS && bomb_count(uid, 1) > 0; i++)
		nanosleep(&pause, NULL);
}

static void *bomb_watch_main(void *arg)
{
	bomb_watch *w = arg;
	struct timespec t;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += BOMB_POLL_MS * 1000L * 1000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->mu, &t);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->mu);
		long n = bomb_count(w->uid, 0);
		if (n >= w->threshold) {
			bomb_kill_all(w->uid);
			pthread_mutex_lock(&w->mu);
			if (!w->fired)
				w->fired = n;
			continue;
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int bomb_watch_start(bomb_watch *w, uid_t uid, long threshold)
{
	memset(w, 0, sizeof *w);
	w->uid = uid;
	w->threshold = threshold;
	if (pthread_mutex_init(&w->mu, NULL) != 0)
		return -1;
	if (pthread_cond_init(&w->cv, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		return -1;
	}
	if (pthread_create(&w->thread, NULL, bomb_watch_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		return -1;
	}
	return 0;
}

long bomb_watch_stop(bomb_watch *w)
{
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	return w->fired;
}
