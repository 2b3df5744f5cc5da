/*
 * The fork-bomb watch of a render under a private uid (bomb_watch.h).
 */
#include "bomb_watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
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

static void bomb_watch_tick(void *arg)
{
	bomb_watch *w = arg;
	long n = bomb_count(w->uid, 0);

	if (n >= w->threshold) {
		bomb_kill_all(w->uid);
		if (!w->fired)
			w->fired = n;
	}
}

int bomb_watch_start(bomb_watch *w, uid_t uid, long threshold)
{
	w->uid = uid;
	w->threshold = threshold;
	w->fired = 0;
	return poller_start(&w->poll, BOMB_POLL_MS, bomb_watch_tick, w);
}

long bomb_watch_stop(bomb_watch *w)
{
	poller_stop(&w->poll);
	return w->fired;
}
