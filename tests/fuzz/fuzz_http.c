/* libFuzzer: the daemon's request path (core/serve/server.c) through a real
 * socket: method, path and query, headers and a body, as a client sends
 * them, to a server started once on a loopback port (jobs are stored, not
 * run). The input is split at '\n' into the request line's method, the
 * target, then header lines up to an empty one, then the body; the harness
 * adds Host, Content-Length and Connection: close so every request is
 * whole. The answer must be HTTP within 10 s and never a 500. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pipeline.h"
#include "registry.h"
#include "serve/server.h"
#include "util.h"

static char dir[] = "/tmp/vg_fuzz_http.XXXXXX";
/* The last requests sent, written out when one hangs (the hang may need
 * the ones before it). */
#define HISTORY 256
static char *history[HISTORY];
static size_t history_len[HISTORY], n_sent;

static void history_dump(void)
{
	char path[300];
	snprintf(path, sizeof path, "%s/hang-history.bin", dir);
	FILE *f = fopen(path, "wb");
	for (size_t i = n_sent > HISTORY ? n_sent - HISTORY : 0; f && i < n_sent; i++) {
		uint32_t n = (uint32_t)history_len[i % HISTORY];
		fwrite(&n, sizeof n, 1, f);
		fwrite(history[i % HISTORY], 1, n, f);
	}
	if (f)
		fclose(f);
	fprintf(stderr, "fuzz_http: the last %zu requests are in %s\n",
		n_sent > HISTORY ? (size_t)HISTORY : n_sent, path);
}
static int port;
/* Kept reachable: the server runs until the fuzzer exits. */
static plugin_registry *reg;
static pipeline *pl;
static server *srv;

static const char pipeline_text[] =
	"name = \"fuzz\";\n"
	"voices = [\"Joanna\", \"Ruth\"];\n"
	"default_voice = \"Joanna\";\n"
	"models = ( { name = \"claude-4-sonnet\"; id = \"testplug\"; } );\n"
	"stages = ( { id = \"explain\"; plugin = \"testplug\"; inputs = [\"question\"];\n"
	"  status = \"generating_initial_explanation\"; progress = 20;\n"
	"  result = \"initial_explanation\"; } );\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[256], db[256], data[256], err[1024];
	const char *plugdir = getenv("FUZZ_PLUGIN_DIR");
	server_opts o;

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir) || plugdir == NULL) {
		fprintf(stderr, "fuzz_http: FUZZ_PLUGIN_DIR (testplug.so) is not set\n");
		return -1;
	}
	snprintf(path, sizeof path, "%s/p.cfg", dir);
	snprintf(db, sizeof db, "%s/jobs.db", dir);
	snprintf(data, sizeof data, "%s/data", dir);
	FILE *f = fopen(path, "w");
	fputs(pipeline_text, f);
	fclose(f);
	unsetenv("VIDGEN_PLUGIN_PATH");
	reg = registry_open(plugdir);
	pl = reg ? pipeline_load(path, reg, err, sizeof err) : NULL;
	if (pl == NULL) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		return -1;
	}
	server_opts_default(&o);
	o.host = "127.0.0.1";
	o.port = 0;
	o.db_path = db;
	o.data_dir = data;
	o.paused = 1;
	o.http_threads = 2;
	o.create_rate = 0;
	o.client_queued = 0;
	o.max_queued = 0;
	/* A connection the server leaves waiting is closed after 3 s (see
	 * the note on stalls in exchange). */
	o.idle_timeout_s = 3;
	if (server_start(pl, &o, &srv, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		return -1;
	}
	port = server_port(srv);
	return 0;
}

/* Sends req and reads the answer's first line into line. */
static int exchange(const char *req, size_t len, char *line, size_t max)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = -1;
	size_t got = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	free(history[n_sent % HISTORY]);
	history[n_sent % HISTORY] = malloc(len);
	memcpy(history[n_sent % HISTORY], req, len);
	history_len[n_sent++ % HISTORY] = len;
	/* What is not the server's fault is tried again, for up to 5 s:
	 * libFuzzer's once-a-second timer signal interrupting the connect
	 * (EINTR: 1 run in 3 or 4 failed so), and at thousands of connections a
	 * second the loopback out of local ports for a moment (EADDRNOTAVAIL).
	 * Anything else (a refused connection: the server is gone) is a
	 * finding. */
	for (int tries = 0;; tries++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
			break;
		int e = errno;
		if (fd >= 0)
			close(fd);
		if ((e != EINTR && e != EADDRNOTAVAIL && e != EAGAIN && e != EMFILE && e != ENFILE) ||
		    tries >= 500) {
			fprintf(stderr, "fuzz_http: cannot connect to the server: %s\n", strerror(e));
			abort();
		}
		fprintf(stderr, "fuzz_http: connect retried: %s\n", strerror(e));
		usleep(10 * 1000);
	}
	if (util_write_all(fd, req, len) != 0) {
		close(fd);
		return -1; /* the server closed early: a refusal, fine */
	}
	shutdown(fd, SHUT_WR);
	long long end = util_now_ms() + 10000;
	while (got + 1 < max) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = end - util_now_ms();
		if (left <= 0) {
			history_dump();
			abort(); /* no answer in 10 s: a hang */
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		ssize_t n = read(fd, line + got, max - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	line[got] = '\0';
	/* Found by this harness, not understood yet: after some 30 000 requests
	 * in a few seconds, a request sometimes waits seconds for its answer
	 * (its connection sits in CLOSE-WAIT while both HTTP threads sleep in
	 * epoll_wait) until the idle timeout wakes its thread. Counted, not
	 * fatal (doc/reliability.md). */
	long long took = util_now_ms() - (end - 10000);
	if (took >= 1000)
		fprintf(stderr, "fuzz_http: stall: %s after %lld ms: %.*s\n",
			got ? "answered" : "closed unanswered", took,
			(int)strcspn(req, "\r\n"), req);
	/* Reset, not close: tens of thousands of connections a minute would
	 * otherwise fill the loopback's ports with TIME_WAIT. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strbuf req = { 0 };
	const char *p = (const char *)data, *end = p + size, *nl;
	char answer[256];

	/* Method and target: up to the first two newlines. */
	nl = memchr(p, '\n', (size_t)(end - p));
	sb_append(&req, p, nl ? (size_t)(nl - p) : (size_t)(end - p));
	p = nl ? nl + 1 : end;
	sb_append(&req, " ", 1);
	nl = memchr(p, '\n', (size_t)(end - p));
	sb_append(&req, p, nl ? (size_t)(nl - p) : (size_t)(end - p));
	p = nl ? nl + 1 : end;
	sb_puts(&req, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
	/* Header lines until an empty one. */
	while (p < end && *p != '\n') {
		nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n >= 14 && strncasecmp(p, "content-length", 14) == 0) {
			p = nl ? nl + 1 : end;
			continue; /* the harness says how long the body is */
		}
		sb_append(&req, p, n);
		sb_puts(&req, "\r\n");
		p = nl ? nl + 1 : end;
	}
	if (p < end)
		p++;
	sb_printf(&req, "Content-Length: %zu\r\n\r\n", (size_t)(end - p));
	sb_append(&req, p, (size_t)(end - p));
	if (exchange(req.buf, req.len, answer, sizeof answer) == 0 && answer[0]) {
		int status = 0;
		if (sscanf(answer, "HTTP/1.%*d %d", &status) != 1)
			abort(); /* not HTTP */
		if (status == 500)
			abort(); /* hostile input must get a 4xx, not an internal error */
	}
	sb_free(&req);
	return 0;
}
