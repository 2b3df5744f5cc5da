/*
 * The daemon's listening sockets (listen.h). Why one socket per thread and a
 * steering program: a thread that serves only the connections that arrive
 * on its own CPU never waits for another CPU's thread and never drags the
 * client onto its CPU; with a client on the same machine (the benchmark,
 * a reverse proxy) each client thread ends up paired with one HTTP thread
 * on one CPU, and the two take turns instead of queueing for CPUs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "util.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

#define BACKLOG 1024

int listen_cpus(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	if (max < 1)
		return 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE && n < max; c++)
			if (CPU_ISSET(c, &set))
				cpus[n++] = c;
	if (n == 0)
		cpus[n++] = 0;
	return n;
}

int listen_cpu_socket(const int *cpus, int ncpus, int n, int cpu)
{
	for (int j = 0; j < ncpus; j++)
		if (cpus[j] == cpu)
			return n > 0 ? j % n : -1;
	return -1;
}

int listen_steer_prog(const int *cpus, int ncpus, int n, void *prog, int max)
{
	struct sock_filter *p = prog;
	int k = 0;

	if (n < 1 || ncpus < 0 || max < 2 * ncpus + 2)
		return -1;
	p[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_CPU);
	for (int j = 0; j < ncpus; j++) {
		/* if (A == cpus[j]) return listen_cpu_socket(cpus[j]); */
		p[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						      (unsigned)cpus[j], 0, 1);
		p[k++] = (struct sock_filter)BPF_STMT(
			BPF_RET | BPF_K, (unsigned)listen_cpu_socket(cpus, ncpus, n, cpus[j]));
	}
	/* An index past the group: the kernel falls back to its hash. */
	p[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
	return k;
}

static int open_one(const struct sockaddr_in *sa, int reuseport, char *err, size_t errlen)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0) {
		util_errf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 || listen(fd, BACKLOG) != 0) {
		util_errf(err, errlen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Attaches the steering program to the group of fd. 0, or -1 if the kernel
 * refused it (the group then uses the kernel's hash). */
static int attach_steering(int fd, const int *cpus, int ncpus, int n)
{
	struct sock_filter *code = xcalloc((size_t)ncpus * 2 + 2, sizeof(*code));
	int len = listen_steer_prog(cpus, ncpus, n, code, ncpus * 2 + 2);
	struct sock_fprog fprog;
	memset(&fprog, 0, sizeof(fprog)); /* the padding goes to the kernel too */
	fprog.len = (unsigned short)len;
	fprog.filter = code;
	int rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof(fprog));

	if (rc != 0)
		log_msg(VG_LOG_DEBUG, "serve: no connection steering (%s)", strerror(errno));
	free(code);
	return rc == 0 ? 0 : -1;
}

int listen_open(listen_group *g, const char *host, int port, int n, int pin,
		char *err, size_t errlen)
{
	struct sockaddr_in sa = { 0 };
	int cpus[LISTEN_MAX_CPUS];
	int ncpus = listen_cpus(cpus, LISTEN_MAX_CPUS);
	char why[256];

	memset(g, 0, sizeof(*g));
	if (n < 1)
		n = 1;
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		util_errf(err, errlen, "listen address \"%s\" is not an IPv4 address", host);
		return -1;
	}
	g->n = n;
	g->fds = xcalloc((size_t)n, sizeof(*g->fds));
	g->cpus = xcalloc((size_t)n, sizeof(*g->cpus));
	for (int i = 0; i < n; i++) {
		g->fds[i] = -1;
		/* One thread alone gains nothing from a fixed CPU: let it go
		 * wherever the scheduler finds room. */
		g->cpus[i] = pin && n > 1 ? cpus[i % ncpus] : -1;
	}
	for (int i = 0; i < n; i++) {
		g->fds[i] = open_one(&sa, n > 1, why, sizeof(why));
		if (g->fds[i] < 0) {
			util_errf(err, errlen, "cannot listen on %s:%d: %s", host,
				  i ? g->port : port, why);
			listen_close(g);
			return -1;
		}
		if (i == 0) {
			struct sockaddr_in got;
			socklen_t len = sizeof(got);
			if (getsockname(g->fds[0], (struct sockaddr *)&got, &len) == 0)
				g->port = ntohs(got.sin_port);
			else
				g->port = port;
			sa.sin_port = htons((uint16_t)g->port);
			if (pin && n > 1)
				g->steered = attach_steering(g->fds[0], cpus, ncpus, n) == 0;
		}
	}
	return 0;
}

void listen_close(listen_group *g)
{
	for (int i = 0; g->fds && i < g->n; i++)
		if (g->fds[i] >= 0)
			close(g->fds[i]);
	free(g->fds);
	free(g->cpus);
	memset(g, 0, sizeof(*g));
}

int listen_pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0 ? 0 : -1;
}
