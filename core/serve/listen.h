/*
 * The daemon's listening sockets: one per HTTP thread on the same address
 * (SO_REUSEPORT), with a classic-BPF program that hands each new connection
 * to the socket whose thread is pinned to the CPU the connection arrived on.
 */
#ifndef VG_LISTEN_H
#define VG_LISTEN_H

#include <stddef.h>

#define LISTEN_MAX_CPUS 1024

typedef struct listen_group {
	int n;        /* sockets, one per HTTP thread */
	int *fds;     /* -1 once handed over or closed */
	int *cpus;    /* cpus[i]: the CPU socket i's thread should run on; -1 = any */
	int port;     /* the port bound (useful when 0 was asked for) */
	int steered;  /* 1 if the kernel took the steering program */
} listen_group;

/* The CPUs this process may run on, in increasing order, at most max.
 * Returns how many (at least 1: {0} if the affinity cannot be read). */
int listen_cpus(int *cpus, int max);

/* The socket (0..n-1) a connection arriving on cpu goes to, given the
 * CPUs this process may use (listen_cpus); -1 for another CPU (the kernel's
 * hash decides). */
int listen_cpu_socket(const int *cpus, int ncpus, int n, int cpu);

/* Builds into prog (room for max instructions; 2 * ncpus + 2 is enough) the
 * program that maps a connection arriving on CPU cpus[j] to socket j % n, and
 * any other CPU to the kernel's own hash. Returns the number of instructions,
 * or -1 if max is too small. prog is a struct sock_filter array. */
int listen_steer_prog(const int *cpus, int ncpus, int n, void *prog, int max);

/* Opens n listening sockets on host:port (IPv4 literal or "localhost"; port
 * 0 = ephemeral, the same for all). With pin and n > 1, socket i's thread
 * is meant to run on the i-th CPU this process may use (modulo their
 * number) and the steering program is attached; otherwise connections go
 * by the kernel's hash and cpus[] are -1. Returns 0, or -1 with the reason in err. */
int listen_open(listen_group *g, const char *host, int port, int n, int pin,
		char *err, size_t errlen);

/* Closes the sockets still held and frees g's arrays. */
void listen_close(listen_group *g);

/* Pins the calling thread to cpu (no-op for -1). Returns 0 or -1. */
int listen_pin_self(int cpu);

#endif
