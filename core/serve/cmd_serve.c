/*
 * `vidgen serve` and `vidgen worker`: reads options and the settings of
 * doc/api.md from the environment, loads the pipeline, runs the daemon
 * (server.c) in its role until SIGTERM or SIGINT (SIGHUP reloads the
 * pipeline file), then stops it gracefully and exits 0. A worker runs jobs
 * from a shared store and answers only /healthz and /metrics.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "pipeline.h"
#include "registry.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "util.h"

static void serve_usage(FILE *f)
{
	fprintf(f,
		"usage: vidgen serve [-p PIPELINE] [-l HOST:PORT] [--db PATH|URL] [--data-dir DIR]\n"
		"                    [--plugin-dir DIR] [--web-dir DIR] [--paused]\n"
		"\n"
		"Runs the HTTP API (doc/api.md) and the web page.\n"
		"  -p, --pipeline FILE  pipeline file, or NAME of an installed one (NAME.cfg);\n"
		"                       default: default.cfg\n"
		"  -l, --listen H:P     IPv4 address and port (default 127.0.0.1:8000;\n"
		"                       port 0 picks a free one, printed on stdout)\n"
		"      --db PATH|URL    job store: a SQLite file, or a postgresql:// URL\n"
		"                       (default $VIDGEN_DB, else DATA_DIR/vidgen.db)\n"
		"      --data-dir DIR   job directories and videos (default $TEMP_DIR,\n"
		"                       else /tmp/manim_videos)\n"
		"      --plugin-dir DIR extra plugin directory, searched first\n"
		"      --web-dir DIR    the web page's files (index.html, app.js, ...)\n"
		"      --paused         store jobs but run none (benchmarks)\n"
		"      --no-workers     serve the API only; `vidgen worker`s run the jobs\n"
		"                       (needs a PostgreSQL store)\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version\n"
		"\n"
		"Environment: MAX_CONCURRENT_VIDEOS (2), VIDEO_RETENTION_DAYS (7; 0 keeps files),\n"
		"TEMP_DIR, VIDGEN_DB (as --db), VIDGEN_API_KEYS (comma-separated; then POST\n"
		"and DELETE need 'Authorization: Bearer KEY'), VIDGEN_CORS_ORIGINS\n"
		"(comma-separated or *),\n"
		"VIDGEN_HTTP_THREADS (one per CPU), VIDGEN_HTTP_AFFINITY (1: each HTTP thread\n"
		"pinned to a CPU, connections handed to their CPU's thread; 0: neither),\n"
		"VIDGEN_HTTP_IDLE_TIMEOUT (30 s), VIDGEN_PAUSE_JOBS=1 (as --paused).\n"
		"Fair share (a client is an address, or an API key; 0 turns a limit off):\n"
		"VIDGEN_HTTP_MAX_CONNECTIONS (4096), VIDGEN_HTTP_CONNECTIONS_PER_CLIENT (256),\n"
		"VIDGEN_HTTP_MAX_STREAMS (1024), VIDGEN_HTTP_STREAMS_PER_CLIENT (32),\n"
		"VIDGEN_MAX_QUEUED (200), VIDGEN_QUEUED_PER_CLIENT (10),\n"
		"VIDGEN_CREATE_RATE (2 a minute per client), VIDGEN_CREATE_BURST (5).\n"
		"VIDGEN_LEASE_MS (20000): a job's lease on a PostgreSQL store;\n"
		"VIDGEN_SHARED_DIR=1: every node mounts DATA_DIR (a file store is allowed);\n"
		"VIDGEN_ARTIFACTS=s3://BUCKET/PREFIX: stage outputs shared in S3.\n"
		"\n"
		"SIGHUP reloads the pipeline file (running jobs finish on the old one);\n"
		"SIGTERM or SIGINT stops the daemon.\n");
}

/* Reads an integer setting from the environment. 0 ok (also when unset),
 * -1 with a message when set but not an integer in [min, max]. */
static int env_int(const char *name, long min, long max, int *out, char *err, size_t errlen)
{
	const char *v = getenv(name);
	char *end;

	if (!v || !*v)
		return 0;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max) {
		util_errf(err, errlen, "%s=\"%s\": must be an integer from %ld to %ld", name, v,
			  min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* Splits a comma-separated list into a NULL-terminated array (one malloc'd
 * block the caller frees), dropping empty items. NULL for an empty list. */
static char **split_list(const char *v)
{
	if (!v || !*v)
		return NULL;
	size_t n = 2, len = strlen(v);
	for (const char *p = v; *p; p++)
		n += *p == ',';
	char **arr = xcalloc(1, n * sizeof(char *) + len + 1);
	char *text = (char *)(arr + n);
	memcpy(text, v, len + 1);
	size_t k = 0;
	for (char *tok = strtok(text, ","); tok; tok = strtok(NULL, ",")) {
		while (*tok == ' ')
			tok++;
		char *e = tok + strlen(tok);
		while (e > tok && e[-1] == ' ')
			*--e = '\0';
		if (*tok)
			arr[k++] = tok;
	}
	if (!k) {
		free(arr);
		return NULL;
	}
	return arr;
}

static int parse_listen(const char *v, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(v, ':');
	char *end;

	if (!colon || colon == v || (size_t)(colon - v) >= hostlen)
		return -1;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = '\0';
	*port = (int)p;
	return 0;
}

static char *default_path(const char *rel, const char *installed)
{
	char *dir = util_exe_dir();
	struct stat st;
	if (dir) {
		char *p = util_path_join(dir, rel);
		free(dir);
		if (stat(p, &st) == 0)
			return p;
		free(p);
	}
	return xstrdup(installed);
}

static void worker_usage(FILE *f)
{
	fprintf(f,
		"usage: vidgen worker [-p PIPELINE] [-l HOST:PORT] [--db URL] [--data-dir DIR]\n"
		"                     [--plugin-dir DIR] [--paused]\n"
		"\n"
		"Runs jobs from a job store shared with `vidgen serve --no-workers` nodes\n"
		"(doc/deploy.md): claims the oldest queued job under a lease it renews, and\n"
		"continues jobs whose worker died from their last completed stage.\n"
		"  -p, --pipeline FILE  pipeline file, or NAME of an installed one (NAME.cfg);\n"
		"                       default: default.cfg\n"
		"  -l, --listen H:P     /healthz and /metrics only (default 127.0.0.1:8001;\n"
		"                       port 0 picks a free one, printed on stdout)\n"
		"      --db URL         the shared job store, postgresql://... (default\n"
		"                       $VIDGEN_DB)\n"
		"      --data-dir DIR   job folders, a cache of the shared store (default\n"
		"                       $TEMP_DIR, else /tmp/manim_videos)\n"
		"      --plugin-dir DIR extra plugin directory, searched first\n"
		"      --paused         claim no job\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version\n"
		"\n"
		"Environment: MAX_CONCURRENT_VIDEOS (2 jobs at once), VIDEO_RETENTION_DAYS (7),\n"
		"TEMP_DIR, VIDGEN_DB (as --db), VIDGEN_LEASE_MS (20000: a job's lease, renewed\n"
		"every quarter of it; a worker that cannot renew stops the job at three\n"
		"quarters), VIDGEN_SHARED_DIR=1 (every node mounts DATA_DIR: a pipeline\n"
		"storing videos with the file plugin is refused otherwise),\n"
		"VIDGEN_ARTIFACTS=s3://BUCKET/PREFIX (stage outputs kept in S3: a worker\n"
		"taking a job over fetches its completed stages; no shared folder needed).\n"
		"SIGTERM or SIGINT stops it, giving running jobs back.\n");
}

typedef struct serve_args {
	const char *pipeline;
	char host[256];
	int port;
	const char *db;
	const char *data_dir;
	const char *plugin_dir;
	const char *web_dir;
	int paused;
	int role;           /* SERVER_ROLE_*: the command, and --no-workers */
} serve_args;

/* 0 ok, 1 done (help/version printed), 2 usage error. a->role says which
 * command parses (serve: SERVER_ROLE_ALL, worker: SERVER_ROLE_WORKER). */
static int serve_parse(int argc, char **argv, serve_args *a)
{
	enum { O_DB = 256, O_DATA, O_PLUGIN, O_WEB, O_PAUSED, O_NO_WORKERS };
	int worker = a->role == SERVER_ROLE_WORKER;
	const char *me = worker ? "vidgen worker" : "vidgen serve";
	void (*usage)(FILE *) = worker ? worker_usage : serve_usage;
	static const struct option opts[] = {
		{ "pipeline", required_argument, NULL, 'p' },
		{ "listen", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, O_DB },
		{ "data-dir", required_argument, NULL, O_DATA },
		{ "plugin-dir", required_argument, NULL, O_PLUGIN },
		{ "web-dir", required_argument, NULL, O_WEB },
		{ "paused", no_argument, NULL, O_PAUSED },
		{ "no-workers", no_argument, NULL, O_NO_WORKERS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	snprintf(a->host, sizeof(a->host), "127.0.0.1");
	a->port = worker ? 8001 : 8000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:l:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'p': a->pipeline = optarg; break;
		case 'l':
			if (parse_listen(optarg, a->host, sizeof(a->host), &a->port) != 0) {
				fprintf(stderr, "%s: -l \"%s\": expected HOST:PORT\n", me,
					optarg);
				return 2;
			}
			break;
		case O_DB: a->db = optarg; break;
		case O_DATA: a->data_dir = optarg; break;
		case O_PLUGIN: a->plugin_dir = optarg; break;
		case O_WEB:
		case O_NO_WORKERS:
			if (worker) {
				fprintf(stderr, "%s: %s is an option of vidgen serve\n", me,
					c == O_WEB ? "--web-dir" : "--no-workers");
				return 2;
			}
			if (c == O_WEB)
				a->web_dir = optarg;
			else
				a->role = SERVER_ROLE_API;
			break;
		case O_PAUSED: a->paused = 1; break;
		case 'h': usage(stdout); return 1;
		case 'V': cli_print_version(); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", me, argv[optind]);
		return 2;
	}
	return 0;
}

/* Settings from the environment (doc/api.md, "Settings from the environment"). */
static int serve_env(server_opts *o, char *err, size_t errlen)
{
	int pause = 0;
	if (env_int("MAX_CONCURRENT_VIDEOS", 1, 64, &o->max_concurrent, err, errlen) ||
	    env_int("VIDEO_RETENTION_DAYS", 0, 36500, &o->retention_days, err, errlen) ||
	    env_int("VIDGEN_HTTP_THREADS", 1, 64, &o->http_threads, err, errlen) ||
	    env_int("VIDGEN_HTTP_AFFINITY", 0, 1, &o->http_affinity, err, errlen) ||
	    env_int("VIDGEN_HTTP_IDLE_TIMEOUT", 1, 3600, &o->idle_timeout_s, err, errlen) ||
	    env_int("VIDGEN_PAUSE_JOBS", 0, 1, &pause, err, errlen) ||
	    env_int("VIDGEN_HTTP_MAX_CONNECTIONS", 64, 1000000, &o->max_connections, err,
		    errlen) ||
	    env_int("VIDGEN_HTTP_CONNECTIONS_PER_CLIENT", 0, 1000000, &o->client_connections,
		    err, errlen) ||
	    env_int("VIDGEN_HTTP_MAX_STREAMS", 1, 1000000, &o->max_streams, err, errlen) ||
	    env_int("VIDGEN_HTTP_STREAMS_PER_CLIENT", 0, 1000000, &o->client_streams, err,
		    errlen) ||
	    env_int("VIDGEN_MAX_QUEUED", 0, 100000000, &o->max_queued, err, errlen) ||
	    env_int("VIDGEN_QUEUED_PER_CLIENT", 0, 100000000, &o->client_queued, err, errlen) ||
	    env_int("VIDGEN_CREATE_RATE", 0, 6000000, &o->create_rate, err, errlen) ||
	    env_int("VIDGEN_CREATE_BURST", 1, 1000000, &o->create_burst, err, errlen) ||
	    env_int("VIDGEN_LEASE_MS", 1000, 3600000, &o->lease_ms, err, errlen))
		return -1;
	if (pause)
		o->paused = 1;
	return 0;
}

/* What the options and the environment resolve to; all malloc'd. */
typedef struct serve_paths {
	char *data_dir, *db, *pipeline, *web_dir;
	char **keys, **origins;
} serve_paths;

static void serve_paths_resolve(const serve_args *a, serve_paths *sp)
{
	const char *tmp = getenv("TEMP_DIR");

	sp->data_dir = xstrdup(a->data_dir ? a->data_dir : tmp && *tmp ? tmp : "/tmp/manim_videos");
	/* The pipeline's ${TEMP_DIR} (the file store's directory) must name the
	 * directory this daemon serves videos from. */
	if (a->data_dir)
		setenv("TEMP_DIR", sp->data_dir, 1);
	/* The file store answers /media/<id>.mp4, which this daemon serves. */
	setenv("VIDGEN_MEDIA_URL", "/media/", 0);
	const char *db = a->db ? a->db : getenv("VIDGEN_DB");
	sp->db = db && *db ? xstrdup(db) : util_path_join(sp->data_dir, "vidgen.db");
	sp->web_dir = a->web_dir ? xstrdup(a->web_dir) : default_path("web", VG_DATADIR "/web");
	sp->keys = split_list(getenv("VIDGEN_API_KEYS"));
	/* Read once: no child process (renderers, narrators) inherits them. */
	unsetenv("VIDGEN_API_KEYS");
	sp->origins = split_list(getenv("VIDGEN_CORS_ORIGINS"));
}

static void serve_paths_free(serve_paths *sp)
{
	free(sp->data_dir);
	free(sp->db);
	free(sp->pipeline);
	free(sp->web_dir);
	free(sp->keys);
	free(sp->origins);
}

/* Lets the process hold a file descriptor per connection the daemon may
 * keep (plus room for the store, media and stages): raises the soft limit
 * towards the hard one, and lowers max_connections to what fits when even
 * the hard limit is too low, rather than fail accepting under load. */
static void serve_fd_budget(server_opts *o)
{
	const rlim_t spare = 256;
	rlim_t want = (rlim_t)o->max_connections + spare;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur >= want)
		return;
	long fit = rl.rlim_cur > spare + 64 ? (long)(rl.rlim_cur - spare) : 64;
	log_msg(VG_LOG_WARN, "serve: the open-file limit (%llu) holds %ld connections, not the %d "
		"of VIDGEN_HTTP_MAX_CONNECTIONS", (unsigned long long)rl.rlim_cur, fit,
		o->max_connections);
	o->max_connections = (int)fit;
}

/* Blocks SIGINT, SIGTERM and SIGHUP (every thread started after this
 * inherits the mask): the main thread takes them with sigwait, so what they
 * do runs as ordinary code, not in a signal handler. Ignores SIGPIPE. */
static void serve_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Waits for SIGTERM or SIGINT; each SIGHUP meanwhile reloads the pipeline
 * file. Returns the signal that ends the daemon. */
static int serve_wait(server *srv, const sigset_t *set, const char *path,
		      const plugin_registry *reg)
{
	char err[1024];
	int sig = 0;

	for (;;) {
		if (sigwait(set, &sig) != 0 || sig != SIGHUP)
			return sig;
		log_msg(VG_LOG_INFO, "serve: SIGHUP, reloading %s", path);
		if (server_reload(srv, path, reg, err, sizeof(err)) != 0)
			log_msg(VG_LOG_ERROR, "serve: reload refused, the pipeline loaded before "
				"stays: %s", err);
		else
			log_msg(VG_LOG_INFO, "serve: reloaded %s (generation %lu); running jobs "
				"finish on the pipeline they started with", path,
				server_generation(srv));
	}
}

/* Both commands: role is SERVER_ROLE_ALL (serve) or SERVER_ROLE_WORKER. */
static int serve_main(int argc, char **argv, int role)
{
	const char *me = role == SERVER_ROLE_WORKER ? "vidgen worker" : "vidgen serve";
	serve_args a = { .role = role };
	serve_paths sp = { 0 };
	server_opts o;
	char err[1024];
	plugin_registry *reg = NULL;
	pipeline *p = NULL;
	server *srv = NULL;
	sigset_t set;
	int ret = EXIT_CONFIG, rc, sig;

	rc = serve_parse(argc, argv, &a);
	if (rc)
		return rc == 1 ? EXIT_OK : EXIT_USAGE;
	server_opts_default(&o);
	if (serve_env(&o, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", me, err);
		return EXIT_USAGE;
	}
	o.paused |= a.paused;
	/* Set, but not one key in it (",", or "$A,$B" of unset variables):
	 * serving would leave the API open to anyone, so refuse to start. */
	const char *keys = getenv("VIDGEN_API_KEYS");
	int want_keys = keys && *keys;
	serve_paths_resolve(&a, &sp);
	if (want_keys && !sp.keys) {
		fprintf(stderr, "%s: VIDGEN_API_KEYS is set but holds no key (only "
			"commas and spaces); unset it to serve without keys\n", me);
		ret = EXIT_USAGE;
		goto out;
	}
	/* A long-running daemon with a small RSS budget: few malloc arenas,
	 * rather than one per thread that each keep freed memory. */
	mallopt(M_ARENA_MAX, 2);
	serve_signals(&set);
	serve_fd_budget(&o);

	if (util_data_dir_make(sp.data_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s (--data-dir or TEMP_DIR chooses the "
			"folder)\n", me, err);
		goto out;
	}
	sp.pipeline = cli_pipeline_path(a.pipeline, err, sizeof(err));
	if (!sp.pipeline) {
		fprintf(stderr, "%s: %s\n", me, err);
		goto out;
	}
	reg = registry_open(a.plugin_dir);
	p = pipeline_load(sp.pipeline, reg, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "%s: %s\n", me, err);
		goto out;
	}
	o.role = a.role;
	o.host = a.host;
	o.port = a.port;
	o.db_path = sp.db;
	o.data_dir = sp.data_dir;
	o.web_dir = sp.web_dir;
	o.api_keys = (const char *const *)sp.keys;
	/* VIDGEN_CORS_ORIGINS overrides the pipeline's cors_origins (unset, the
	 * server reads those of the pipeline loaded now). */
	o.cors_origins = (const char *const *)sp.origins;
	rc = server_start(p, &o, &srv, err, sizeof(err));
	p = NULL; /* the server's now */
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", me, err);
		goto out;
	}
	printf("listening on http://%s:%d\n", strcmp(a.host, "localhost") ? a.host : "127.0.0.1",
	       server_port(srv));
	fflush(stdout);
	char shown[512];
	log_msg(VG_LOG_INFO, "%s: pipeline %s, %d worker(s)%s, store %s", me + 7, sp.pipeline,
		o.role == SERVER_ROLE_API ? 0 : o.max_concurrent, o.paused ? " (paused)" : "",
		store_locator_show(sp.db, shown, sizeof(shown)));

	sig = serve_wait(srv, &set, sp.pipeline, reg);
	log_msg(VG_LOG_INFO, "%s: %s, stopping", me + 7, sig == SIGINT ? "SIGINT" : "SIGTERM");
	server_stop(srv);
	ret = EXIT_OK;
out:
	pipeline_free(p);
	registry_free(reg);
	serve_paths_free(&sp);
	return ret;
}

int cmd_serve(int argc, char **argv)
{
	return serve_main(argc, argv, SERVER_ROLE_ALL);
}

int cmd_worker(int argc, char **argv)
{
	return serve_main(argc, argv, SERVER_ROLE_WORKER);
}
