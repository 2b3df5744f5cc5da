/*
 * Unit tests for core/serve/listen.c: the steering program's mapping, and
 * against the real kernel: one port for the whole group, each connection
 * queued on the socket of the CPU it was made from, pinning, and clear errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/listen.h"

/* Runs the three kinds of instruction listen_steer_prog emits, with cpu as
 * the CPU the packet arrived on. */
static uint32_t run_prog(const struct sock_filter *p, int len, uint32_t cpu)
{
	uint32_t a = 0;
	for (int pc = 0; pc < len; pc++) {
		const struct sock_filter *i = &p[pc];
		if (i->code == (BPF_LD | BPF_W | BPF_ABS)) {
			assert_int_equal(i->k, (uint32_t)(SKF_AD_OFF + SKF_AD_CPU));
			a = cpu;
		} else if (i->code == (BPF_JMP | BPF_JEQ | BPF_K)) {
			pc += a == i->k ? i->jt : i->jf;
		} else if (i->code == (BPF_RET | BPF_K)) {
			return i->k;
		} else {
			fail_msg("unexpected instruction %#x at %d", i->code, pc);
		}
	}
	fail_msg("the program ran off its end");
	return 0;
}

static void test_steer_prog_maps_cpus(void **state)
{
	(void)state;
	struct sock_filter p[32];
	const int cpus[] = { 2, 3, 5, 8 };

	int len = listen_steer_prog(cpus, 4, 2, p, 32);
	assert_int_equal(len, 10);
	assert_int_equal(run_prog(p, len, 2), 0);
	assert_int_equal(run_prog(p, len, 3), 1);
	assert_int_equal(run_prog(p, len, 5), 0);
	assert_int_equal(run_prog(p, len, 8), 1);
	/* A CPU the process may not use: past the group, the kernel's hash. */
	assert_int_equal(run_prog(p, len, 0), 0xffffffffu);
	assert_int_equal(run_prog(p, len, 4), 0xffffffffu);

	len = listen_steer_prog(cpus, 4, 4, p, 32);
	for (int j = 0; j < 4; j++)
		assert_int_equal(run_prog(p, len, (uint32_t)cpus[j]), (uint32_t)j);
}

static void test_cpu_socket(void **state)
{
	(void)state;
	const int cpus[] = { 2, 3, 5, 8 };

	assert_int_equal(listen_cpu_socket(cpus, 4, 2, 2), 0);
	assert_int_equal(listen_cpu_socket(cpus, 4, 2, 3), 1);
	assert_int_equal(listen_cpu_socket(cpus, 4, 2, 5), 0);
	assert_int_equal(listen_cpu_socket(cpus, 4, 3, 8), 0);
	assert_int_equal(listen_cpu_socket(cpus, 4, 2, 4), -1);
	assert_int_equal(listen_cpu_socket(cpus, 4, 0, 2), -1);
}

static void test_steer_prog_limits(void **state)
{
	(void)state;
	struct sock_filter p[8];
	const int cpus[] = { 0, 1, 2, 3 };

	assert_int_equal(listen_steer_prog(cpus, 4, 2, p, 9), -1); /* needs 10 */
	assert_int_equal(listen_steer_prog(cpus, 3, 2, p, 8), 8);
	assert_int_equal(listen_steer_prog(cpus, 2, 0, p, 8), -1);
}

static void test_cpus_are_the_affinity(void **state)
{
	(void)state;
	int cpus[LISTEN_MAX_CPUS];
	cpu_set_t set;

	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	int n = listen_cpus(cpus, LISTEN_MAX_CPUS);
	assert_int_equal(n, CPU_COUNT(&set));
	for (int i = 0; i < n; i++) {
		assert_true(CPU_ISSET(cpus[i], &set));
		if (i)
			assert_true(cpus[i] > cpus[i - 1]);
	}
	assert_int_equal(listen_cpus(cpus, 1), 1);
}

static int port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* The index of the one socket of g with a connection waiting; -1 if none
 * or several. Accepts and closes it. */
static int accepted_on(listen_group *g)
{
	int found = -1;
	for (int tries = 0; tries < 200 && found < 0; tries++) {
		for (int i = 0; i < g->n; i++) {
			int c = accept4(g->fds[i], NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0) {
				close(c);
				if (found >= 0)
					return -1;
				found = i;
			}
		}
		if (found < 0)
			usleep(1000);
	}
	return found;
}

static void test_group_steers_by_cpu(void **state)
{
	(void)state;
	listen_group g;
	char err[256] = "";
	cpu_set_t saved;

	assert_int_equal(listen_open(&g, "127.0.0.1", 0, 3, 1, err, sizeof(err)), 0);
	assert_int_equal(g.n, 3);
	assert_true(g.port > 0);
	for (int i = 0; i < g.n; i++)
		assert_int_equal(port_of(g.fds[i]), g.port);
	assert_int_equal(g.steered, 1);

	int cpus[LISTEN_MAX_CPUS];
	int ncpus = listen_cpus(cpus, LISTEN_MAX_CPUS);
	for (int i = 0; i < g.n; i++)
		assert_int_equal(g.cpus[i], cpus[i % ncpus]);

	/* A connection made on the j-th CPU waits on socket j % n only. */
	assert_int_equal(sched_getaffinity(0, sizeof(saved), &saved), 0);
	for (int j = 0; j < ncpus && j < 4; j++) {
		assert_int_equal(listen_pin_self(cpus[j]), 0);
		assert_int_equal(sched_getcpu(), cpus[j]);
		for (int k = 0; k < 3; k++) {
			int c = connect_to(g.port);
			assert_int_equal(accepted_on(&g), j % g.n);
			close(c);
		}
	}
	assert_int_equal(sched_setaffinity(0, sizeof(saved), &saved), 0);
	listen_close(&g);
	assert_null(g.fds);
}

static void test_group_without_affinity(void **state)
{
	(void)state;
	listen_group g;
	char err[256] = "";

	assert_int_equal(listen_open(&g, "localhost", 0, 2, 0, err, sizeof(err)), 0);
	assert_int_equal(g.steered, 0);
	assert_int_equal(g.cpus[0], -1);
	assert_int_equal(g.cpus[1], -1);
	int c = connect_to(g.port);
	assert_true(accepted_on(&g) >= 0);
	close(c);
	listen_close(&g);
}

static void test_one_thread_is_not_pinned(void **state)
{
	(void)state;
	listen_group g;
	char err[256] = "";

	assert_int_equal(listen_open(&g, "127.0.0.1", 0, 1, 1, err, sizeof(err)), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.cpus[0], -1);
	assert_int_equal(g.steered, 0);
	int c = connect_to(g.port);
	assert_int_equal(accepted_on(&g), 0);
	close(c);
	listen_close(&g);
}

static void test_errors_name_the_address(void **state)
{
	(void)state;
	listen_group g;
	char err[256] = "";

	assert_int_equal(listen_open(&g, "example.org", 0, 2, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"example.org\" is not an IPv4 address"));
	assert_null(g.fds);

	/* A port another socket holds without SO_REUSEPORT. */
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(holder, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(holder, 1), 0);
	int port = port_of(holder);
	char want[64];
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%d: ", port);
	assert_int_equal(listen_open(&g, "127.0.0.1", port, 2, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, strerror(EADDRINUSE)));
	close(holder);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steer_prog_maps_cpus),
		cmocka_unit_test(test_cpu_socket),
		cmocka_unit_test(test_steer_prog_limits),
		cmocka_unit_test(test_cpus_are_the_affinity),
		cmocka_unit_test(test_group_steers_by_cpu),
		cmocka_unit_test(test_group_without_affinity),
		cmocka_unit_test(test_one_thread_is_not_pinned),
		cmocka_unit_test(test_errors_name_the_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
