/*
 * The hook server: the process that runs Lua hook calls, each in a worker
 * child of its own, so that the caller (a daemon with many threads) never
 * forks itself for a call. See hook_server.c for why and how.
 */
#ifndef VG_HOOK_SERVER_H
#define VG_HOOK_SERVER_H

#include <stddef.h>

#include "util.h"

/* Runs one exchange with a fresh worker: sends req (req_len bytes), then
 * reads the worker's whole answer into ans until it closes its end, at most
 * max bytes, until deadline (util_now_ms). Starts the server on first use
 * and again if it died. Returns 0, or -1 with *timed_out set when the
 * deadline passed, or -1 with a message in err when no answer came. The
 * caller frees ans with sb_free. Thread-safe. */
int hook_server_call(const void *req, size_t req_len, strbuf *ans, size_t max,
		     long long deadline, int *timed_out, char *err, size_t errlen);

/* The server's process id, or -1 when none runs (tests use it). */
long hook_server_pid(void);

/* Defined by hooks.c: what a worker does with its end of the exchange (read
 * the request, run the call, write the answer). Never returns. */
void hook_worker_main(int fd) __attribute__((noreturn));

#endif
