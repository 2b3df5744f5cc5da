/*
 * Cost of one Lua hook call as the daemon pays it: compile a small hook,
 * then time N calls from T threads while the process holds B MiB of touched
 * memory (a daemon's heap makes fork() dearer). Prints one line of figures.
 * Built by bench/hooks/run.sh (make bench/hooks/calls).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hooks.h"
#include "util.h"

struct bench_thread {
	const hook *h;
	int calls, failures;
};

static void *bench_main(void *arg)
{
	struct bench_thread *t = arg;
	char err[512], *out;

	for (int i = 0; i < t->calls; i++) {
		out = NULL;
		if (hook_call(t->h, "some text to rewrite", NULL, &out, err, sizeof(err)) != 0 ||
		    out == NULL || strcmp(out, "SOME TEXT TO REWRITE") != 0)
			t->failures++;
		free(out);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int calls = argc > 1 ? atoi(argv[1]) : 200;
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	size_t ballast_mb = argc > 3 ? (size_t)atol(argv[3]) : 0;
	const char *file = argc > 4 ? argv[4] : "/tmp/vidgen-bench-hook.lua";
	char err[512], spec[4200];
	struct bench_thread t[64];
	pthread_t tid[64];
	int failures = 0;

	if (calls < 1 || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: calls [CALLS] [THREADS<=64] [BALLAST_MB] [HOOK.lua]\n");
		return 2;
	}
	FILE *f = fopen(file, "w");
	if (f == NULL || fputs("function f(t) return t:upper() end\n", f) < 0 || fclose(f) != 0) {
		perror(file);
		return 1;
	}
	char *ballast = ballast_mb ? malloc(ballast_mb << 20) : NULL;
	if (ballast)
		memset(ballast, 1, ballast_mb << 20);
	snprintf(spec, sizeof(spec), "%s:f", file);
	hook *h = hook_compile(spec, NULL, err, sizeof(err));
	if (h == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* One warm-up call (a helper process may start on first use). */
	struct bench_thread warm = { h, 1, 0 };
	bench_main(&warm);
	long long t0 = util_now_ms();
	for (int i = 0; i < threads; i++) {
		t[i] = (struct bench_thread){ h, calls / threads, 0 };
		pthread_create(&tid[i], NULL, bench_main, &t[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		failures += t[i].failures;
	}
	long long ms = util_now_ms() - t0;
	int done = (calls / threads) * threads;
	printf("calls %d threads %d ballast_mb %zu: %.3f ms/call wall, %.0f calls/s, %d failed\n",
	       done, threads, ballast_mb, (double)ms / done, done * 1000.0 / (ms ? ms : 1),
	       failures + warm.failures);
	hook_free(h);
	free(ballast);
	return failures ? 1 : 0;
}
