/*
 * A fork bomb ended at once. As root, each render runs under a private uid
 * of its own, so RLIMIT_NPROC holds a fork bomb at the process limit; but
 * held is not ended: the bomb spins there until the render's timeout. This
 * watch counts the uid's processes (in /proc) while the render runs and
 * kills them all once they reach a threshold no render comes near (a
 * render runs a handful: Python, ffmpeg, LaTeX, one set per slice).
 */
#ifndef VG_MANIM_BOMB_WATCH_H
#define VG_MANIM_BOMB_WATCH_H

#include <sys/types.h>

#include "poller.h"

typedef struct bomb_watch {
	poller poll;
	uid_t uid;
	long threshold;
	long fired;      /* processes counted when it fired; 0: never (read
			  * after the stop) */
} bomb_watch;

/* Starts watching uid's processes every 50 ms; threshold > 0. Returns 0,
 * or -1 (no watch; nothing to stop). */
int bomb_watch_start(bomb_watch *w, uid_t uid, long threshold);

/* Stops the watch; returns how many processes it counted when it fired
 * (it then killed them all), or 0 when it never fired. */
long bomb_watch_stop(bomb_watch *w);

/* How many processes uid has now (from /proc); with kill_them, each one
 * found is sent SIGKILL. */
long bomb_count(uid_t uid, int kill_them);

#endif
