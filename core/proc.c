/*
 * proc_run: the engine's one way to start a child process (svc->spawn).
 * fork + execve of a path resolved before the fork (no shell, nothing but
 * async-signal-safe calls in the child), a new session so the whole tree can
 * be killed as one process group, rlimits, and a wait loop that enforces a
 * wall-clock timeout and polls for cancellation.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

/* How often a running child is checked for cancellation. */
#define PROC_POLL_MS 50

/* Resolves argv0 against PATH like execvp would. Returns a malloc'd path or
 * NULL (errno set). Done in the parent: the child may only use
 * async-signal-safe calls when the engine is multithreaded. */
static char *proc_resolve(const char *argv0)
{
	if (strchr(argv0, '/'))
		return access(argv0, X_OK) == 0 ? xstrdup(argv0) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	int saved = ENOENT;
	while (*path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);
		char buf[PATH_MAX];
		const char *dir = n ? path : "."; /* empty entry: "." */
		size_t dn = n ? n : 1;
		if (dn + 1 + strlen(argv0) + 1 <= sizeof buf) {
			memcpy(buf, dir, dn);
			n = dn;
			buf[n] = '/';
			strcpy(buf + n + 1, argv0);
			struct stat sb;
			if (stat(buf, &sb) == 0 && S_ISREG(sb.st_mode) &&
			    access(buf, X_OK) == 0)
				return xstrdup(buf);
			if (errno == EACCES)
				saved = EACCES;
		}
		if (!end)
			break;
		path = end + 1;
	}
	errno = saved;
	return NULL;
}

static int proc_set_limit(int res, long value, long scale)
{
	if (value <= 0)
		return 0;
	rlim_t v = (rlim_t)value * (rlim_t)scale;
	struct rlimit rl = { v, v };
	if (res == RLIMIT_CPU) /* SIGXCPU first, SIGKILL a second later */
		rl.rlim_max = v + 1;
	return setrlimit(res, &rl);
}

/* Points fd at path (or /dev/null). Child side: async-signal-safe only. */
static int proc_redirect(int fd, const char *path, int for_write)
{
	int flags = for_write ? (O_WRONLY | O_CREAT | O_TRUNC) : O_RDONLY;
	int f = open(path ? path : "/dev/null", flags | O_CLOEXEC, 0644);
	if (f < 0)
		return -1;
	if (dup2(f, fd) < 0)
		return -1;
	close(f);
	return 0;
}

/* In the child: report errno through the pipe and exit. */
static void proc_child_fail(int errfd)
{
	int e = errno;
	ssize_t w = write(errfd, &e, sizeof e);
	(void)w;
	_exit(127);
}

static void proc_child(const vg_proc *p, const char *exe, int errfd)
{
	static char *const empty_env[] = { NULL };
	if (setsid() < 0)
		proc_child_fail(errfd);
	if (p->cwd && chdir(p->cwd) < 0)
		proc_child_fail(errfd);
	/* One file for both streams shares one descriptor (and offset), or
	 * the two writers would overwrite each other. */
	int same = p->stdout_path && p->stderr_path &&
		   strcmp(p->stdout_path, p->stderr_path) == 0;
	if (proc_redirect(0, p->stdin_path, 0) < 0 ||
	    proc_redirect(1, p->stdout_path, 1) < 0 ||
	    (same ? dup2(1, 2) : proc_redirect(2, p->stderr_path, 1)) < 0)
		proc_child_fail(errfd);
	if (proc_set_limit(RLIMIT_CPU, p->cpu_seconds, 1) < 0 ||
	    proc_set_limit(RLIMIT_AS, p->memory_mb, 1024L * 1024L) < 0 ||
	    proc_set_limit(RLIMIT_FSIZE, p->file_size_mb, 1024L * 1024L) < 0 ||
	    proc_set_limit(RLIMIT_NPROC, p->max_processes, 1) < 0)
		proc_child_fail(errfd);
	/* The engine's own descriptors (sockets, databases) stay out of the
	 * child: mark everything above stderr close-on-exec. */
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) < 0)
#endif
	{
		for (int fd = 3; fd < 4096; fd++)
			if (fd != errfd)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	/* Signals the engine ignores must not stay ignored in the child. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(exe, (char *const *)p->argv,
	       p->envp ? (char *const *)p->envp : empty_env);
	proc_child_fail(errfd);
}

static int proc_status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* Waits up to ms for pid to exit, without reaping it. 1 exited, 0 not yet,
 * -1 error. Uses a pidfd where the kernel has one, else a short sleep. */
static int proc_wait_exit(pid_t pid, int pidfd, long ms, int *status, struct rusage *ru)
{
	if (pidfd >= 0) {
		struct pollfd pf = { .fd = pidfd, .events = POLLIN };
		int r = poll(&pf, 1, (int)ms);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			return 0;
	}
	for (long waited = 0;; waited += 5) {
		pid_t r = wait4(pid, status, WNOHANG, ru);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited >= ms)
			return 0;
		struct timespec ts = { 0, 5 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

int proc_run(const vg_proc *p, int (*cancelled)(void *ud), void *ud,
	     int *exit_code)
{
	return proc_run_cpu(p, cancelled, ud, exit_code, NULL);
}

static double rusage_seconds(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

int proc_run_cpu(const vg_proc *p, int (*cancelled)(void *ud), void *ud,
		 int *exit_code, double *cpu_seconds)
{
	struct rusage ru;
	int rc = VG_EIO, pipefd[2] = { -1, -1 }, pidfd = -1, status = 0;
	char *exe = NULL;
	pid_t pid = -1;

	memset(&ru, 0, sizeof(ru));
	if (exit_code)
		*exit_code = -1;
	if (cpu_seconds)
		*cpu_seconds = 0;
	if (!p || !p->argv || !p->argv[0] || !p->argv[0][0])
		return VG_EINVAL;
	exe = proc_resolve(p->argv[0]);
	if (!exe)
		goto out;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		goto out;
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0)
		proc_child(p, exe, pipefd[1]);
	close(pipefd[1]);
	pipefd[1] = -1;

	/* Blocks until exec succeeded (EOF) or the child reported errno. */
	int child_errno = 0;
	ssize_t n;
	do
		n = read(pipefd[0], &child_errno, sizeof child_errno);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof child_errno) {
		waitpid(pid, &status, 0);
		errno = child_errno;
		rc = VG_EIO;
		goto out;
	}

#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	long long deadline = p->timeout_ms > 0 ? util_now_ms() + p->timeout_ms : 0;
	rc = VG_OK;
	for (;;) {
		long slice = PROC_POLL_MS;
		if (deadline) {
			long long left = deadline - util_now_ms();
			if (left <= 0) {
				rc = VG_ETIMEDOUT;
				break;
			}
			if (left < slice)
				slice = (long)left;
		}
		int r = proc_wait_exit(pid, pidfd, slice, &status, &ru);
		if (r == 1)
			goto reaped;
		if (r < 0) {
			rc = VG_EIO;
			break;
		}
		if (cancelled && cancelled(ud)) {
			rc = VG_ECANCELED;
			break;
		}
	}
	/* Timeout, cancellation or a wait error: the whole group goes. */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
reaped:
	/* Stragglers the child left in its group (background jobs) do not
	 * outlive the stage either. The group id cannot be reused while a
	 * member lives, so this never hits a stranger. */
	kill(-pid, SIGKILL);
	if (exit_code)
		*exit_code = proc_status_code(status);
	if (cpu_seconds)
		*cpu_seconds = rusage_seconds(&ru);
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pidfd >= 0)
		close(pidfd);
	free(exe);
	return rc;
}
