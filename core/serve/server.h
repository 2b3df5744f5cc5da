/*
 * The HTTP daemon behind `vidgen serve` (libmicrohttpd): the API of
 * doc/api.md (the seed's paths and fields plus list/cancel/events/media/
 * healthz/metrics), a FIFO of jobs run by MAX_CONCURRENT_VIDEOS workers, and
 * the job store that survives restarts.
 */
#ifndef VG_SERVER_H
#define VG_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "pipeline.h"
#include "registry.h"
#include "util.h"

typedef struct server_opts {
	const char *host;         /* IPv4 literal or "localhost" */
	int port;                 /* 0 = ephemeral */
	const char *db_path;      /* job store: SQLite file or postgresql:// URL */
	const char *data_dir;     /* jobs/<id>/ and videos/<id>.mp4 live here */
	const char *web_dir;      /* index.html and assets; NULL = none */
	int max_concurrent;       /* worker threads (MAX_CONCURRENT_VIDEOS) */
	int retention_days;       /* VIDEO_RETENTION_DAYS; 0 = keep files */
	int paused;               /* 1: store jobs but run none (benchmarks) */
	int http_threads;         /* HTTP threads; 0 = one per CPU (at most 64) */
	int http_affinity;        /* 1: pin each to a CPU, steer connections */
	size_t body_limit;        /* largest request body accepted */
	int idle_timeout_s;       /* a connection silent this long is closed */
	/* Fair share (doc/api.md): a client is a remote address, or an API key
	 * for the requests that carry one. 0 turns a per-client limit or a
	 * queue cap off; the connection and stream totals are always on. */
	int max_connections;      /* all HTTP threads together */
	int max_streams;          /* /events streams in all */
	int client_connections;   /* open connections of one address */
	int client_streams;       /* /events streams of one client */
	int max_queued;           /* jobs waiting for a worker, in all */
	int client_queued;        /* ... created by one client */
	int create_rate;          /* creates one client earns per minute */
	int create_burst;         /* creates one client may make at once */
	size_t cache_entries;     /* finished jobs kept serialized in memory */
	long shutdown_grace_ms;   /* how long running stages get to stop */
	const char *const *api_keys;     /* NULL-terminated; NULL = open */
	const char *const *cors_origins; /* NULL-terminated; "*" = any; NULL =
					  * the pipeline's cors_origins */
	/* Roles (doc/deploy.md): API and workers (serve), the API alone
	 * (serve --no-workers), or workers alone (worker: HTTP answers only
	 * /healthz and /metrics). The last two need a shared store. */
	int role;                 /* SERVER_ROLE_* */
	int lease_ms;             /* a shared job's lease (VIDGEN_LEASE_MS) */
} server_opts;

enum { SERVER_ROLE_ALL = 0, SERVER_ROLE_API, SERVER_ROLE_WORKER };

typedef struct server server;

/* Fills o with the defaults (127.0.0.1:8000, 2 workers, 7 days, 64 KB, the
 * fair-share limits of doc/api.md). */
void server_opts_default(server_opts *o);

/* Opens the store, queues the unfinished jobs it holds (they continue
 * where they stopped), starts the workers and the HTTP listener. Takes p,
 * on failure too (the server frees it once no job uses it). Returns 0, or
 * -1 with the reason in err. */
int server_start(pipeline *p, const server_opts *o, server **out,
		 char *err, size_t errlen);

/* Loads the pipeline file path again (plugins' settings included) and,
 * when it loads, makes it the one new jobs and requests use; jobs running
 * on the old one finish on it, and no connection is touched. Refused, the
 * old one stays and err says why ("file:line: ..."). 0 or -1. Call it from
 * one thread at a time (cmd_serve's signal loop). */
int server_reload(server *s, const char *path, const plugin_registry *reg,
		  char *err, size_t errlen);

/* The loaded pipeline's generation: 1 at start, one more per reload. */
unsigned long server_generation(server *s);

/* The port actually bound (useful with port 0). */
int server_port(const server *s);

/* Graceful stop: stops accepting, lets running stages stop at their next
 * checkpoint (their jobs stay unfinished in the store and resume at the
 * next start), flushes the store, frees everything. */
void server_stop(server *s);

/* Helpers of the request path, exposed for the unit tests. */

/* Parses one "bytes=a-b" / "bytes=a-" / "bytes=-n" Range against size.
 * 0: serve first..last (inclusive); 1: no usable Range, serve everything
 * (absent, malformed or several ranges); -1: unsatisfiable (416). */
int server_parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last);

/* 1 if n is a flat file name the web page may ask for: [A-Za-z0-9._-]+,
 * not starting with '.', at most 255 bytes. */
int server_flat_name_ok(const char *n);

/* Appends s as a JSON string literal, or null for NULL. */
void server_json_put_str(strbuf *sb, const char *s);

/* Appends m with each absolute path in it cut to its last component
 * ("cannot open /srv/x/job.json" -> "cannot open job.json"): a job's
 * message is public, the host's layout is not. A path starts with '/' at
 * the start or after a space, quote, bracket, '=', ',', ';' or ':' (not
 * "//", a URL's) and ends at one of those or a closing bracket. */
void server_message_public(strbuf *sb, const char *m);

#endif
