/*
 * The hook server. A child forked from a multi-threaded process inherits
 * every lock another thread held at that moment, and nothing releases them
 * in the child: hook calls once forked the daemon itself and ran Lua in the
 * child, and one such child slept on an allocator futex forever, its daemon
 * long gone (issue 20). So no caller forks for a call. The first call starts
 * the server: this process's own executable, run again by posix_spawn
 * (which only execs) with a marker argv that hook_server_entry, a
 * constructor, recognises before main. The server has one thread and no
 * state inherited from the caller; it forks one worker per call, and a
 * worker forked from a one-threaded process may allocate freely.
 *
 * An exchange: the caller makes a socket pair, passes one end to the server
 * (SCM_RIGHTS over the server's SOCK_SEQPACKET socket) and writes its
 * request on the other; the worker that receives the end reads the request,
 * runs the call and writes the answer (hooks.c owns both formats).
 *
 * Lifetimes. The server leads a process group of its own. When the caller
 * dies, the kernel closes its end of the server's socket; the server reads
 * the end of it and kills its group, workers included. Workers also set
 * PR_SET_PDEATHSIG (then check getppid, in case the server died before), so
 * they die with the server whatever killed it; the server does the same
 * against the caller when the caller's main thread started it (the signal
 * follows the thread that forked, and other threads end).
 */
#include "hook_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVER_ARGV0 "vidgen-hooks"
#define SERVER_FD_ARG "--hook-server-fd="
#define SERVER_PARENT_ARG "--hook-server-parent="

extern char **environ;

static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static int server_fd = -1;     /* the caller's end of the server socket */
static pid_t server_pid = -1;

/* ------------------------------------------------------------------------
 * The server and its workers (in their own processes).
 * ------------------------------------------------------------------------ */

/* Receives one passed descriptor; -1 at the end of the socket (the caller
 * is gone) or on an error that will not pass. */
static int server_recv_fd(int sock)
{
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };

	for (;;) {
		ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int))) {
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
			return fd;
		}
		/* A message without a descriptor: nothing to serve. */
		m.msg_controllen = sizeof(ctl);
	}
}

/* Dies with parent (a pid): the kernel's signal when it ends, and a check
 * for an end that came before the signal was asked for. */
static void die_with(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(1);
}

static void __attribute__((noreturn)) server_main(int sock, pid_t parent)
{
	pid_t self = getpid();

	if (parent > 0)
		die_with(parent);
	/* Keep the standard descriptors (a worker's crash report goes to the
	 * caller's stderr) and the socket, nothing else the caller had open. */
	if (sock > 3)
		close_range(3, (unsigned)sock - 1, 0);
	close_range((unsigned)sock + 1, ~0U, 0);
	signal(SIGCHLD, SIG_IGN); /* the kernel reaps workers */
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = server_recv_fd(sock);
		if (fd < 0)
			break;
		pid_t pid = fork();
		if (pid == 0) {
			close(sock);
			die_with(self);
			hook_worker_main(fd);
		}
		/* A failed fork closes the caller's exchange unanswered. */
		close(fd);
	}
	if (getpgrp() == self)
		kill(0, SIGKILL); /* the workers, then the server itself */
	_exit(0);
}

/* Runs before main in every process that links the engine: a process
 * started as a hook server serves and never reaches main. */
static void __attribute__((constructor))
hook_server_entry(int argc, char **argv, char **envp)
{
	char *end;
	long fd, parent = 0;

	(void)envp;
	if (argc < 2 || argc > 3 || argv == NULL || strcmp(argv[0], SERVER_ARGV0) != 0 ||
	    strncmp(argv[1], SERVER_FD_ARG, strlen(SERVER_FD_ARG)) != 0)
		return;
	fd = strtol(argv[1] + strlen(SERVER_FD_ARG), &end, 10);
	if (*end || fd < 3 || fd > 1000)
		_exit(2);
	if (argc == 3) {
		if (strncmp(argv[2], SERVER_PARENT_ARG, strlen(SERVER_PARENT_ARG)) != 0)
			_exit(2);
		parent = strtol(argv[2] + strlen(SERVER_PARENT_ARG), &end, 10);
		if (*end || parent <= 0)
			_exit(2);
	}
	server_main((int)fd, (pid_t)parent);
}

/* ------------------------------------------------------------------------
 * The caller's side.
 * ------------------------------------------------------------------------ */

/* The executable to run again: its path (valgrind, for one, reports the
 * program it runs there), or /proc/self/exe when the file was replaced. */
static void self_exe(char *buf, size_t len)
{
	static const char deleted[] = " (deleted)";
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	size_t d = sizeof(deleted) - 1;

	if (n <= 0 || (size_t)n >= len - 1 ||
	    ((size_t)n >= d && memcmp(buf + n - d, deleted, d) == 0)) {
		snprintf(buf, len, "/proc/self/exe");
		return;
	}
	buf[n] = '\0';
}

/* Starts the server; called with server_lock held. */
static int server_start(char *err, size_t errlen)
{
	char exe[4096], fdarg[64], parentarg[64];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int sv[2], rc;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		util_errf(err, errlen, "hook server: socketpair: %s", strerror(errno));
		return -1;
	}
	/* dup2 onto another number clears close-on-exec in the server only. */
	int target = sv[1] == 3 ? 4 : 3;
	self_exe(exe, sizeof(exe));
	snprintf(fdarg, sizeof(fdarg), "%s%d", SERVER_FD_ARG, target);
	snprintf(parentarg, sizeof(parentarg), "%s%ld", SERVER_PARENT_ARG, (long)getpid());
	char *argv[] = { SERVER_ARGV0, fdarg, gettid() == getpid() ? parentarg : NULL, NULL };
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], target);
	/* Not the caller's stdin and stdout (a shell reading them would wait
	 * for the server); stderr stays, for a worker's crash report. */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	rc = posix_spawn(&pid, exe, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(sv[1]);
	if (rc != 0) {
		util_errf(err, errlen, "hook server: cannot run %s: %s", exe, strerror(rc));
		close(sv[0]);
		return -1;
	}
	server_fd = sv[0];
	server_pid = pid;
	return 0;
}

/* Ends a server that stopped reading (or died); called with the lock. */
static void server_drop(void)
{
	if (server_fd < 0)
		return;
	close(server_fd);
	kill(server_pid, SIGKILL);
	while (waitpid(server_pid, NULL, 0) < 0 && errno == EINTR)
		;
	server_fd = -1;
	server_pid = -1;
}

/* Passes fd to the server by deadline: 0, 1 when the server is gone, -1
 * with *timed_out set. */
static int send_fd(int sock, int fd, long long deadline, int *timed_out)
{
	char byte = 0, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;

	memset(ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	for (;;) {
		if (sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return 1;
		long long left = deadline - util_now_ms();
		if (left <= 0) {
			*timed_out = 1;
			return -1;
		}
		struct pollfd p = { .fd = sock, .events = POLLOUT };
		poll(&p, 1, left > 1000 ? 1000 : (int)left);
	}
}

/* Hands fd to a worker, starting the server when none runs, and once more
 * when the one running is gone. */
static int server_pass(int fd, long long deadline, int *timed_out, char *err, size_t errlen)
{
	for (int attempt = 0;; attempt++) {
		pthread_mutex_lock(&server_lock);
		if (server_fd < 0 && server_start(err, errlen) != 0) {
			pthread_mutex_unlock(&server_lock);
			return -1;
		}
		int sock = server_fd;
		pthread_mutex_unlock(&server_lock);
		int rc = send_fd(sock, fd, deadline, timed_out);
		if (rc <= 0)
			return rc;
		pthread_mutex_lock(&server_lock);
		if (server_fd == sock)
			server_drop();
		pthread_mutex_unlock(&server_lock);
		if (attempt > 0) {
			util_errf(err, errlen, "hook server: it ended at once twice");
			return -1;
		}
	}
}

/* Writes req and reads the answer on the non-blocking fd until the worker
 * closes it, the answer passes max, or the deadline. */
static int exchange(int fd, const char *req, size_t req_len, strbuf *ans, size_t max,
		    long long deadline, int *timed_out)
{
	char buf[65536];
	size_t sent = 0;

	for (;;) {
		long long left = deadline - util_now_ms();
		if (left <= 0) {
			*timed_out = 1;
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < req_len ? POLLOUT : 0) };
		int r = poll(&p, 1, left > 1000 ? 1000 : (int)left);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		if (sent < req_len && (p.revents & (POLLOUT | POLLERR))) {
			ssize_t n = send(fd, req + sent, req_len - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				sent = req_len; /* the worker is gone: read what it said */
		}
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		if (ans->len + (size_t)n > max)
			return -1;
		sb_append(ans, buf, (size_t)n);
	}
}

int hook_server_call(const void *req, size_t req_len, strbuf *ans, size_t max,
		     long long deadline, int *timed_out, char *err, size_t errlen)
{
	int sv[2], rc;

	*timed_out = 0;
	/* Blocking for the worker, which shares nothing else with us. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		util_errf(err, errlen, "hook server: socketpair: %s", strerror(errno));
		return -1;
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0) {
		util_errf(err, errlen, "hook server: fcntl: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (server_pass(sv[1], deadline, timed_out, err, errlen) != 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	rc = exchange(sv[0], req, req_len, ans, max, deadline, timed_out);
	close(sv[0]);
	return rc;
}

long hook_server_pid(void)
{
	pthread_mutex_lock(&server_lock);
	long pid = server_pid;
	pthread_mutex_unlock(&server_lock);
	return pid;
}
