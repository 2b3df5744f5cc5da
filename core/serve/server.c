/*
 * The HTTP daemon (server.h): request routing and input rules, the status
 * cache that keeps the status path off every lock a job or the store's
 * writer holds, the FIFO of jobs and its workers, server-sent events,
 * media with Range, the web page, /healthz, /metrics and retention.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifacts.h"
#include "clients.h"
#include "filecache.h"
#include "job.h"
#include "lease.h"
#include "listen.h"
#include "log.h"
#include "openapi.h"
#include "runner.h"
#include "server.h"
#include "status_cache.h"
#include "store.h"
#include "util.h"

#define PROMPT_MIN 10
#define PROMPT_MAX 10000
#define LIST_DEFAULT 20
#define LIST_MAX 100
#define SSE_KEEPALIVE_S 15
#define RETENTION_EVERY_S 3600
#define MSG_STARTED "Video generation started"
#define MSG_CANCELLED "Video generation cancelled"
/* A shared store's workers look for jobs whose lease ran out (their worker
 * died) this often; new jobs wake them at once (LISTEN/NOTIFY). */
#define CLAIM_POLL_MS 1000
#define SHARED_CACHE_ENTRIES 4096
/* Spelled out: their MHD names changed across versions. */
#define HTTP_UNPROCESSABLE 422
#define HTTP_TOO_LARGE 413
#define HTTP_URI_TOO_LONG 414
#define HTTP_HEADERS_TOO_LARGE 431
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
/* Re-homing (rehome_check): requests between two looks at the CPU a
 * keep-alive connection's packets arrive on, and looks in a row on another
 * CPU than its thread's before the connection is closed. */
#define REHOME_EVERY 256
#define REHOME_STRIKES 3
/* What one request may hold (doc/api.md, "Limits of a request"). The
 * connection's memory (CONN_MEMORY) holds the request line, the headers and
 * one record per query argument and header: within these limits it does not
 * run out, so the answer is ours (JSON), not libmicrohttpd's. It stays
 * 16 KB: libmicrohttpd zeroes all of it between two requests of a
 * keep-alive connection, a cost every status request pays. */
#define CONN_MEMORY (16 * 1024)
#define URI_MAX 4096
#define ARGS_MAX 64
#define HEADERS_MAX 100
/* A connection beyond its client's share is answered 429 at its first
 * request; one that sends none is closed after this many seconds. */
#define OVER_LIMIT_TIMEOUT_S 2
#define OWNER_BUCKETS 1024

typedef status_entry entry;

/* One open /events stream. Guarded by server.cache.lock. */
typedef struct sse_conn {
	struct server *srv;
	struct MHD_Connection *conn;
	entry *e;
	unsigned sent_version;
	int suspended;
	int done;          /* the terminal event was produced */
	int keepalive_due;
	char *out;         /* bytes produced, not yet handed to MHD */
	size_t out_len, out_off;
	client_id client;  /* whose share of streams this is */
	int shard;         /* the HTTP thread counting it; -1 none */
	struct sse_conn *next_in_entry;
	struct sse_conn *prev_all, *next_all;
} sse_conn;

/* Per-connection state, libmicrohttpd's socket context. */
typedef struct conn_ctx {
	unsigned requests;
	unsigned strikes;
	client_id addr;   /* the peer address's client */
	int counted;      /* addr's connection count includes this one */
	int refused;      /* 1 + the refusal its requests get; 0 = none */
} conn_ctx;

/* One HTTP thread: its daemon and the CPU it runs on (-1 = any). */
typedef struct http_shard {
	struct server *srv;
	struct MHD_Daemon *mhd;
	int cpu;
	atomic_int streams;   /* /events streams on this thread */
	int stream_cap;       /* at most half its connections */
} http_shard;

/* Why a request was refused its share (respond_refused); the names are
 * the answers' `error` and the /metrics reason label. */
enum refusal {
	REFUSE_CONNECTIONS,
	REFUSE_STREAMS,
	REFUSE_STREAMS_FULL,
	REFUSE_RATE,
	REFUSE_QUEUED,
	REFUSE_QUEUE_FULL,
	REFUSE_CLIENTS,
	REFUSE_N
};

/* Who queued a job still waiting, so that the worker taking it gives the
 * client its share back. Guarded by server.qlock. */
typedef struct owner {
	char id[37];
	client_id client;
	struct owner *next;
} owner;

/* The counters of one stage id, kept across reloads (a pipeline that drops
 * the stage leaves its totals). Appended under pipe_lock, never removed. */
/* What the jobs of this daemon used, by usage counter (usage.h). */
#define USAGE_TOTALS_MAX 32
typedef struct usage_totals {
	pthread_mutex_t lock;
	size_t n;
	struct {
		char name[33];
		double value;
	} v[USAGE_TOTALS_MAX];
	double cost;            /* estimated, in currency */
	char currency[4];       /* of the last priced run; "" = never priced */
} usage_totals;

typedef struct stage_stat {
	char *id;
	atomic_llong sum_ms;
	atomic_llong count;
	atomic_llong failures;
	struct stage_stat *next;
} stage_stat;

/* A loaded pipeline and what the daemon derives from it, shared by the
 * requests and the jobs that use it: a reload (SIGHUP) installs a new one
 * while the jobs running on the old one finish with it; the last reference
 * frees it (and the plugins' instances). */
typedef struct held_pipeline {
	atomic_int ref;
	pipeline *p;
	blob *config_json;   /* GET /api/v1/config */
	blob *openapi_json;  /* GET /api/v1/openapi.json */
	stage_stat **stats;  /* per stage of p */
	unsigned long generation;
	atomic_int *alive;   /* the server's count of held pipelines */
} held_pipeline;

struct server {
	/* The pipeline new jobs and requests use; swapped by server_reload. */
	pthread_mutex_t pipe_lock;
	held_pipeline *cur;
	stage_stat *stats, **stats_tail;
	atomic_ulong reloads_refused;
	atomic_int pipelines_alive;
	server_opts o;
	char *data_dir, *jobs_dir, *videos_dir, *web_dir;
	job_store *store;
	/* One libmicrohttpd daemon (one thread) per listening socket. */
	http_shard *shards;
	int n_shards;
	short *cpu_shard;   /* [LISTEN_MAX_CPUS]: the shard a CPU's connections
			     * are steered to, -1 = none; NULL = no steering */
	atomic_ulong rehomed; /* connections closed to move to their CPU */
	int port;

	status_cache cache;  /* its lock also guards sse_all and each sse_conn */
	sse_conn *sse_all;

	/* The queue is the store's unfinished jobs in seq order: q_cursor is
	 * the seq of the last one a worker claimed, qlen how many wait. */
	pthread_mutex_t qlock; /* taken before cache.lock when both are held */
	pthread_cond_t qcv;
	long long q_cursor;
	atomic_long qlen;
	atomic_int running;

	pthread_t *workers;
	int n_workers;
	/* A shared store (PostgreSQL): workers claim jobs under leases instead
	 * of following q_cursor; wakeups counts the store's notifications. */
	int shared;
	lease_table *leases;
	unsigned long wakeups;  /* guarded by qlock */
	atomic_ulong changes;   /* jobs changed anywhere (the store's notes) */
	atomic_int deaf;        /* the store's listener is not connected */
	atomic_int stopping;
	atomic_int pending_creates; /* suspended POSTs the store has not answered */

	pthread_t ticker;
	int ticker_started;
	pthread_mutex_t tick_lock;
	pthread_cond_t tick_cv;

	atomic_ulong http_codes[600];
	usage_totals usage;
	/* Fair share (doc/api.md, "Fair share"). */
	client_table *clients;
	atomic_int streams;          /* /events streams open */
	atomic_long admitted;        /* jobs queued or being stored */
	owner *owners[OWNER_BUCKETS];
	atomic_ulong refused[REFUSE_N];
	atomic_int cors_set;           /* origins configured (env or pipeline) */
};

/* ===================================================================
 * Blobs and JSON text.
 * =================================================================== */

static blob *config_blob(const pipeline *p);

/* ===================================================================
 * The loaded pipeline and its reloads.
 * =================================================================== */

/* The counters of stage id, made the first time a pipeline has it.
 * pipe_lock held. */
static stage_stat *stats_for_locked(server *s, const char *id)
{
	for (stage_stat *st = s->stats; st; st = st->next)
		if (strcmp(st->id, id) == 0)
			return st;
	stage_stat *st = xcalloc(1, sizeof(*st));
	st->id = xstrdup(id);
	*s->stats_tail = st;
	s->stats_tail = &st->next;
	return st;
}

/* Holds p (taken: freed on failure too), one reference. NULL with the
 * reason in err. */
static held_pipeline *held_new(server *s, pipeline *p, char *err, size_t errlen)
{
	size_t len = 0;
	char *doc = openapi_document(p, s->o.api_keys && s->o.api_keys[0], &len, err, errlen);

	if (!doc) {
		pipeline_free(p);
		return NULL;
	}
	held_pipeline *h = xcalloc(1, sizeof(*h));
	atomic_init(&h->ref, 1);
	h->p = p;
	h->config_json = config_blob(p);
	h->openapi_json = blob_new(doc, len);
	free(doc);
	h->stats = xcalloc(p->n_stages ? p->n_stages : 1, sizeof(*h->stats));
	pthread_mutex_lock(&s->pipe_lock);
	for (size_t i = 0; i < p->n_stages; i++)
		h->stats[i] = stats_for_locked(s, p->stages[i].id);
	pthread_mutex_unlock(&s->pipe_lock);
	h->alive = &s->pipelines_alive;
	atomic_fetch_add(h->alive, 1);
	return h;
}

/* Drops a reference; the last one frees the pipeline (plugins' fini). */
static void held_release(held_pipeline *h)
{
	if (!h || atomic_fetch_sub(&h->ref, 1) != 1)
		return;
	atomic_fetch_sub(h->alive, 1);
	pipeline_free(h->p);
	blob_unref(h->config_json);
	blob_unref(h->openapi_json);
	free(h->stats);
	free(h);
}

/* The pipeline in use now, referenced: give it back with held_release. */
/* Whether answers depend on Origin: VIDGEN_CORS_ORIGINS or the current
 * pipeline's cors_origins. Under pipe_lock, or before the threads start. */
static void cors_note(server *s)
{
	char **p = s->cur->p->cors_origins;
	atomic_store(&s->cors_set, s->o.cors_origins || (p && *p));
}

static held_pipeline *held_current(server *s)
{
	pthread_mutex_lock(&s->pipe_lock);
	held_pipeline *h = s->cur;
	atomic_fetch_add(&h->ref, 1);
	pthread_mutex_unlock(&s->pipe_lock);
	return h;
}

/* On a shared store, videos another machine cannot reach are refused: the
 * file plugin writes to a folder of this machine, which API nodes and
 * workers elsewhere see only if every node mounts it (VIDGEN_SHARED_DIR=1
 * declares so). Stage outputs kept nowhere shared are worth a warning. 0
 * ok. */
static int shared_pipeline_ok(const server *s, const pipeline *p, char *err, size_t errlen)
{
	const char *shared = getenv("VIDGEN_SHARED_DIR");

	if (!s->shared || (shared && strcmp(shared, "1") == 0))
		return 0;
	if (!p->artifacts)
		log_msg(VG_LOG_WARN, "serve: %s: the job store is shared, but stage outputs are "
			"not (no VIDGEN_ARTIFACTS, no VIDGEN_SHARED_DIR=1): a job taken over from "
			"a worker on another machine runs its completed stages again", p->path);
	for (size_t i = 0; i < p->n_stages; i++)
		if (strcmp(p->stages[i].plugin_name, "file") == 0) {
			util_errf(err, errlen, "%s:%d: stage \"%s\" keeps videos with the file "
				  "plugin, in a folder of this machine, but the job store is shared "
				  "with other machines: use the s3 plugin, or set "
				  "VIDGEN_SHARED_DIR=1 if every node mounts the same folder",
				  p->path, p->stages[i].line, p->stages[i].id);
			return -1;
		}
	return 0;
}

int server_reload(server *s, const char *path, const plugin_registry *reg,
		  char *err, size_t errlen)
{
	pipeline *p = pipeline_load(path, reg, err, errlen);
	if (p && shared_pipeline_ok(s, p, err, errlen) != 0) {
		pipeline_free(p);
		p = NULL;
	}
	held_pipeline *h = p ? held_new(s, p, err, errlen) : NULL;

	if (!h) {
		atomic_fetch_add(&s->reloads_refused, 1);
		return -1;
	}
	pthread_mutex_lock(&s->pipe_lock);
	held_pipeline *old = s->cur;
	h->generation = old->generation + 1;
	s->cur = h;
	cors_note(s);
	pthread_mutex_unlock(&s->pipe_lock);
	/* Jobs running on the old one keep it until they end. */
	held_release(old);
	return 0;
}

unsigned long server_generation(server *s)
{
	pthread_mutex_lock(&s->pipe_lock);
	unsigned long g = s->cur->generation;
	pthread_mutex_unlock(&s->pipe_lock);
	return g;
}

/* Appends s as a JSON string literal (or null). s is valid UTF-8: it was
 * checked at the edge or written by the core. */
void server_json_put_str(strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	if (!s) {
		sb_append(sb, "null", 4);
		return;
	}
	sb_append(sb, "\"", 1);
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sb_append(sb, run, (size_t)(s - run));
		switch (c) {
		case '"': sb_append(sb, "\\\"", 2); break;
		case '\\': sb_append(sb, "\\\\", 2); break;
		case '\n': sb_append(sb, "\\n", 2); break;
		case '\r': sb_append(sb, "\\r", 2); break;
		case '\t': sb_append(sb, "\\t", 2); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			sb_append(sb, u, 6);
		}
		}
		run = s + 1;
	}
	sb_append(sb, run, (size_t)(s - run));
	sb_append(sb, "\"", 1);
}

/* Bytes after which an absolute path may start, and bytes that end one
 * (":" too: "file.py:12" keeps its line number). */
static int path_may_open(char prev)
{
	return strchr(" \t\n\"'`([{<=,;:", prev) != NULL;
}

static int path_ends(char c)
{
	return !c || strchr(" \t\n\"'`)]}>,;:", c) != NULL;
}

void server_message_public(strbuf *sb, const char *m)
{
	const char *p = m, *run = m;

	while (*p) {
		if (*p != '/' || (p > m && !path_may_open(p[-1])) || p[1] == '/' ||
		    path_ends(p[1])) {
			p++;
			continue;
		}
		/* An absolute path: keep its last component only. */
		sb_append(sb, run, (size_t)(p - run));
		const char *base = p + 1;
		for (; !path_ends(*p); p++)
			if (*p == '/' && !path_ends(p[1]))
				base = p + 1;
		sb_append(sb, base, (size_t)(p - base));
		run = p;
	}
	sb_append(sb, run, (size_t)(p - run));
}

/* A job's message as the API shows it: no path of the host (the log and
 * the store keep the whole text). */
static void message_put(strbuf *sb, const char *m)
{
	if (!m || !strchr(m, '/')) {
		server_json_put_str(sb, m);
		return;
	}
	strbuf pub = { 0 };
	server_message_public(&pub, m);
	server_json_put_str(sb, pub.buf ? pub.buf : "");
	sb_free(&pub);
}

/* The VideoResponse of doc/api.md, fields in the order it gives. */
static void response_put(strbuf *sb, const store_job *r)
{
	sb_puts(sb, "{\"video_id\":");
	server_json_put_str(sb, r->id);
	sb_puts(sb, ",\"status\":");
	server_json_put_str(sb, r->status);
	sb_puts(sb, ",\"message\":");
	message_put(sb, r->message);
	sb_puts(sb, ",\"video_url\":");
	server_json_put_str(sb, r->video_url);
	sb_puts(sb, ",\"s3_url\":");
	server_json_put_str(sb, r->s3_url);
	sb_puts(sb, ",\"created_at\":");
	server_json_put_str(sb, r->created_at);
	sb_printf(sb, ",\"progress\":%d,\"original_question\":", r->progress);
	server_json_put_str(sb, r->question);
	sb_puts(sb, ",\"initial_explanation\":");
	server_json_put_str(sb, r->initial_explanation);
	sb_puts(sb, ",\"refined_explanation\":");
	server_json_put_str(sb, r->refined_explanation);
	/* Built by the engine (usage.h) from checked numbers: kept as text. */
	sb_puts(sb, ",\"usage\":");
	sb_puts(sb, r->usage ? r->usage : "null");
	for (int i = 0; i < JOB_MEDIA_N; i++) {
		sb_printf(sb, ",\"%s\":", job_media_files[i].field);
		server_json_put_str(sb, r->media[i]);
	}
	sb_puts(sb, "}");
}

static blob *response_blob(const store_job *r)
{
	strbuf sb = { 0 };
	response_put(&sb, r);
	blob *b = blob_new(sb.buf ? sb.buf : "", sb.len);
	sb_free(&sb);
	return b;
}

_Static_assert(sizeof(((store_job *)0)->media) / sizeof(char *) == JOB_MEDIA_N,
	       "the store keeps every job_media_files field");

/* A store_job view of a live job: borrows j's strings. j->lock held. */
static void job_view_locked(const job *j, store_job *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->id, j->id, sizeof(r->id));
	memcpy(r->created_at, j->created_at, sizeof(r->created_at));
	r->question = j->question;
	r->model = j->model;
	r->voice = j->voice;
	r->status = j->status;
	r->progress = j->progress;
	r->message = j->message;
	r->initial_explanation = j->initial_explanation;
	r->refined_explanation = j->refined_explanation;
	r->video_url = j->video_url;
	r->s3_url = j->s3_url;
	r->usage = j->usage_text;
	for (int i = 0; i < JOB_MEDIA_N; i++)
		r->media[i] = j->media[i];
	r->finished = j->finished;
}

/* ===================================================================
 * The status cache (status_cache.h) as the daemon uses it.
 * =================================================================== */

/* Wakes every /events stream suspended on e. */
static void sse_wake_locked(entry *e)
{
	for (sse_conn *c = e->listeners; c; c = c->next_in_entry)
		if (c->suspended) {
			c->suspended = 0;
			MHD_resume_connection(c->conn);
		}
}

/* Publishes a new state of a job: the writer of a state calls this after
 * the store has it (or has it queued), so readers never see it go back.
 * A worker serves no status (only /healthz and /metrics): it keeps no
 * answers, only the entries of the jobs it runs (their cancel flags). */
static void cache_publish(server *s, const store_job *r)
{
	if (s->o.role == SERVER_ROLE_WORKER)
		return;
	blob *b = response_blob(r);
	pthread_mutex_lock(&s->cache.lock);
	entry *e = status_cache_add(&s->cache, r->id, b, r->finished);
	status_cache_set(e, b);
	e->finished = r->finished;
	sse_wake_locked(e);
	status_cache_touch(&s->cache, e);
	pthread_mutex_unlock(&s->cache.lock);
	blob_unref(b);
}

/* The current VideoResponse of id, from the cache or the store. Returns a
 * blob the caller unrefs; NULL with *code 404 or 500. */
static blob *status_lookup(server *s, const char *id, int *code)
{
	pthread_mutex_lock(&s->cache.lock);
	entry *e = status_cache_find(&s->cache, id);
	/* On a shared store another node may be running the job: the cache
	 * answers unless the store said the job changed since (stale), or
	 * while this node runs it. */
	if (e && e->version && (!s->shared || e->claimed || (!e->stale && !atomic_load(&s->deaf)))) {
		blob *b = blob_ref(e->resp);
		status_cache_touch(&s->cache, e);
		pthread_mutex_unlock(&s->cache.lock);
		return b;
	}
	pthread_mutex_unlock(&s->cache.lock);

	store_job r;
	char err[256];
	unsigned long changes = atomic_load(&s->changes);
	int rc = store_get(s->store, id, &r, err, sizeof(err));
	if (rc != 0) {
		if (rc < 0)
			log_msg(VG_LOG_ERROR, "serve: %s", err);
		*code = rc == 1 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
		return NULL;
	}
	blob *b = response_blob(&r);
	pthread_mutex_lock(&s->cache.lock);
	/* A writer may have published meanwhile: its state wins. */
	e = status_cache_add(&s->cache, id, b, r.finished);
	if (s->shared && !e->claimed) { /* newer than what the cache had */
		status_cache_set(e, b);
		e->finished = r.finished;
		/* A change heard while reading may be newer than what was read. */
		e->stale = !r.finished && atomic_load(&s->changes) != changes;
		sse_wake_locked(e);
	}
	status_cache_fill(e, b, r.finished);
	blob *out = blob_ref(e->resp);
	status_cache_touch(&s->cache, e);
	pthread_mutex_unlock(&s->cache.lock);
	blob_unref(b);
	store_job_clear(&r);
	return out;
}

/* ===================================================================
 * The job queue and its workers.
 * =================================================================== */

/* A job was stored: wake a worker. */
static void queue_push(server *s)
{
	pthread_mutex_lock(&s->qlock);
	atomic_fetch_add(&s->qlen, 1);
	pthread_cond_signal(&s->qcv);
	pthread_mutex_unlock(&s->qlock);
}

/* Records who queued job id. qlock held. */
static void owner_add_locked(server *s, const char *id, client_id who)
{
	owner *o = xcalloc(1, sizeof(*o));
	memcpy(o->id, id, sizeof(o->id));
	o->client = who;
	unsigned h = util_hash(id) & (OWNER_BUCKETS - 1);
	o->next = s->owners[h];
	s->owners[h] = o;
}

/* Forgets who queued job id and returns it (0: nobody known). qlock held. */
static client_id owner_take_locked(server *s, const char *id)
{
	for (owner **pp = &s->owners[util_hash(id) & (OWNER_BUCKETS - 1)]; *pp;
	     pp = &(*pp)->next) {
		owner *o = *pp;
		if (memcmp(o->id, id, 36) == 0) {
			client_id who = o->client;
			*pp = o->next;
			free(o);
			return who;
		}
	}
	return 0;
}

/* Job id left the queue (a worker took it, or it was cancelled while it
 * waited): the queue and its client each have room for one more. qlock
 * held. */
static void queue_left_locked(server *s, const char *id)
{
	atomic_fetch_sub(&s->admitted, 1);
	client_id who = owner_take_locked(s, id);
	if (who)
		client_queued_done(s->clients, who, util_now_ms());
}

/* Admits a create of job id by who into the queue: the queue's cap, then
 * the client's share of it and its create tokens. -1 when admitted (undo
 * with create_undo if the job is not stored), else the refusal. */
static int create_admit(server *s, client_id who, const char *id, int *retry_s)
{
	*retry_s = 0;
	long before = atomic_fetch_add(&s->admitted, 1);
	if (s->o.max_queued > 0 && before >= s->o.max_queued) {
		atomic_fetch_sub(&s->admitted, 1);
		return REFUSE_QUEUE_FULL;
	}
	enum client_verdict v = who ? client_create_begin(s->clients, who, util_now_ms(), retry_s)
				    : CLIENT_OK;
	if (v != CLIENT_OK) {
		atomic_fetch_sub(&s->admitted, 1);
		return v == CLIENT_RATE_LIMITED ? REFUSE_RATE :
		       v == CLIENT_OVER_LIMIT ? REFUSE_QUEUED : REFUSE_CLIENTS;
	}
	if (who && s->o.client_queued > 0) {
		pthread_mutex_lock(&s->qlock);
		owner_add_locked(s, id, who);
		pthread_mutex_unlock(&s->qlock);
	}
	return -1;
}

/* The store did not take an admitted job: give back what create_admit took. */
static void create_undo(server *s, client_id who, const char *id)
{
	atomic_fetch_sub(&s->admitted, 1);
	if (!who)
		return;
	if (s->o.client_queued > 0) {
		pthread_mutex_lock(&s->qlock);
		owner_take_locked(s, id);
		pthread_mutex_unlock(&s->qlock);
	}
	client_create_undo(s->clients, who);
}

/* A monotonic clock in microseconds: a claim takes well under a millisecond. */
static long long claim_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The job a shared worker claimed together with its last job's end. */
typedef struct next_claim {
	store_job job;       /* have: claimed (the worker clears it) */
	long long claimed_ms; /* util_now_ms before the claim */
	int have;
} next_claim;

typedef struct run_ctx {
	server *s;
	entry *e;
	held_pipeline *h; /* the pipeline the job runs on */
	const char *lease; /* a shared job's lease token; "" for none */
	int lease_slot;    /* its slot in s->leases; -1 for none */
	next_claim *next;  /* a shared worker's: claim the next job with this
			    * one's end; NULL: no */
} run_ctx;

/* 1 if the job of rc may no longer write: the server is stopping (the job
 * resumes later), or its lease is lost (another worker may hold it). */
static int run_fenced(const run_ctx *rc)
{
	return atomic_load(&rc->s->stopping) ||
	       (rc->lease_slot >= 0 && lease_is_lost(rc->s->leases, rc->lease_slot));
}

static void on_update(void *ud, job *j)
{
	run_ctx *rc = ud;
	server *s = rc->s;
	store_job r;
	char err[256];

	/* A shutdown cancels running jobs only to stop them: that failure must
	 * not reach the store, the job continues at the next start. A lost
	 * lease stops the job the same way, and it writes nothing more. */
	if (run_fenced(rc)) {
		if (!atomic_load(&s->stopping))
			job_cancel(j); /* the lease is lost: stop at once */
		return;
	}
	job_view_locked(j, &r);
	memcpy(r.lease, rc->lease, sizeof(r.lease));
	store_update(s->store, &r, 0, err, sizeof(err));
	cache_publish(s, &r);
}

/* A shared job's stage output is recorded only while its lease holds. */
static int may_record(void *ud, job *j)
{
	run_ctx *rc = ud;

	(void)j;
	return rc->lease_slot < 0 || !lease_is_lost(rc->s->leases, rc->lease_slot);
}

static void on_stage(void *ud, job *j, const stage_def *st, int ok, long long duration_ms)
{
	run_ctx *rc = ud;
	server *s = rc->s;
	size_t idx = (size_t)(st - rc->h->p->stages);
	char *kind = NULL, *path = NULL;
	int last = ok;

	if (rc->lease_slot >= 0 && lease_is_lost(s->leases, rc->lease_slot))
		return;

	if (idx < rc->h->p->n_stages) {
		stage_stat *stat = rc->h->stats[idx];
		atomic_fetch_add(&stat->sum_ms, duration_ms);
		atomic_fetch_add(&stat->count, 1);
		if (!ok)
			atomic_fetch_add(&stat->failures, 1);
		pthread_mutex_lock(&j->lock);
		if (j->stages && idx < j->n_stages) {
			kind = j->stages[idx].kind ? xstrdup(j->stages[idx].kind) : NULL;
			path = j->stages[idx].path ? xstrdup(j->stages[idx].path) : NULL;
		}
		last = ok && job_stages_done_locked(j); /* the job's end comes next */
		pthread_mutex_unlock(&j->lock);
	}
	store_set_stage(s->store, j->id, st->id, kind, path, ok, duration_ms, rc->lease, last);
	free(kind);
	free(path);
}

/* Adds a stage run's usage (and its price) to the daemon's totals. */
static void on_usage(void *ud, const stage_def *st, const char *model, const char *counter,
		     double value)
{
	run_ctx *rc = ud;
	usage_totals *t = &rc->s->usage;
	const price_table *prices = &rc->h->p->prices;
	int priced;
	double cost = prices_cost(prices, st->id, model, counter, value, &priced);
	size_t i;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->n && strcmp(t->v[i].name, counter); i++)
		;
	if (i == t->n && t->n < USAGE_TOTALS_MAX) {
		snprintf(t->v[i].name, sizeof(t->v[i].name), "%s", counter);
		t->v[i].value = 0;
		t->n++;
	}
	if (i < t->n)
		t->v[i].value += value;
	if (priced) {
		t->cost += cost;
		memcpy(t->currency, prices->currency, sizeof(t->currency));
	}
	pthread_mutex_unlock(&t->lock);
}

/* Brings a restored job back to the state the store last had, so progress
 * never goes back across a restart. */
static void job_seed(job *j, const store_job *r)
{
	pthread_mutex_lock(&j->lock);
	job_set_locked(j, r->status, r->progress, r->message);
	if (r->initial_explanation)
		job_set_field_locked(j, "initial_explanation", r->initial_explanation);
	if (r->refined_explanation)
		job_set_field_locked(j, "refined_explanation", r->refined_explanation);
	if (r->video_url)
		job_set_field_locked(j, "video_url", r->video_url);
	if (r->s3_url)
		job_set_field_locked(j, "s3_url", r->s3_url);
	for (int i = 0; i < JOB_MEDIA_N; i++)
		if (r->media[i])
			job_set_field_locked(j, job_media_files[i].field, r->media[i]);
	pthread_mutex_unlock(&j->lock);
}

/* Writes a shared job's end r and, in the same batch (one round trip, one
 * commit), claims the worker's next job into rc->next, unless the worker
 * stops or is paused. Returns the end's status as store_update does. */
static int finish_and_claim(const run_ctx *rc, const store_job *r, char *err, size_t errlen)
{
	server *s = rc->s;
	char cerr[256];
	int claimed;

	if (atomic_load(&s->stopping) || s->o.paused)
		return store_update(s->store, r, 1, err, errlen);
	long long claimed_ms = util_now_ms(), t0 = claim_clock_us();
	int ret = store_update_claim(s->store, r, s->o.lease_ms, &rc->next->job, &claimed, err,
				     errlen, cerr, sizeof(cerr));
	if (claimed == 0) {
		lease_note_claim(s->leases, claim_clock_us() - t0);
		rc->next->claimed_ms = claimed_ms;
		rc->next->have = 1;
	} else if (claimed < 0) {
		log_msg(VG_LOG_ERROR, "serve: claim: %s", cerr);
	}
	return ret;
}

/* Writes how a run ended. A shared job's end is tried again every 500 ms
 * while the store cannot be reached (PostgreSQL restarting) and the lease
 * holds, so the job is not left for another worker to finish again. */
static int finish_write(const run_ctx *rc, const store_job *r, char *err, size_t errlen)
{
	int ret, logged = 0;

	ret = rc->next ? finish_and_claim(rc, r, err, errlen) :
		store_update(rc->s->store, r, 1, err, errlen);
	while (ret < 0 && rc->lease_slot >= 0 && !lease_is_lost(rc->s->leases, rc->lease_slot) &&
	       !atomic_load(&rc->s->stopping)) {
		if (!logged++)
			log_msg(VG_LOG_WARN, "serve: job %s: %s; trying again while its lease "
				"holds", r->id, err);
		usleep(500 * 1000);
		ret = store_update(rc->s->store, r, 1, err, errlen);
	}
	return ret;
}

/* Records how a run ended, unless a shutdown interrupted it (a shared job
 * is given back for another worker) or its lease was lost. */
static void job_finish(const run_ctx *rc, job *j, int cancel_requested)
{
	server *s = rc->s;
	store_job r;
	char err[256];

	if (rc->lease_slot >= 0 && lease_is_lost(s->leases, rc->lease_slot))
		return;
	pthread_mutex_lock(&j->lock);
	if (cancel_requested && !j->finished)
		job_set_locked(j, "failed", -1, MSG_CANCELLED);
	else if (cancel_requested && strcmp(j->status, "failed") == 0)
		job_set_locked(j, NULL, -1, MSG_CANCELLED);
	job_view_locked(j, &r);
	if (!r.finished && !atomic_load(&s->stopping)) {
		/* The runner returned without an end state: say so. */
		job_set_locked(j, "failed", -1, j->message ? j->message : "Video generation failed");
		job_view_locked(j, &r);
	}
	int interrupted = atomic_load(&s->stopping) && !cancel_requested &&
			  strcmp(r.status, "completed") != 0;
	memcpy(r.lease, rc->lease, sizeof(r.lease));
	if (!interrupted) {
		if (finish_write(rc, &r, err, sizeof(err)) != 0)
			log_msg(VG_LOG_ERROR, "serve: job %s: %s", j->id, err);
		cache_publish(s, &r);
	} else if (rc->lease[0] && store_release(s->store, r.id, rc->lease, err,
						 sizeof(err)) != 0) {
		log_msg(VG_LOG_WARN, "serve: job %s: %s (it waits for its lease to end)", j->id,
			err);
	}
	pthread_mutex_unlock(&j->lock);
}

/* Records a job that cannot start (r) as failed, saying why. */
static void job_refuse(server *s, store_job *r, const char *why)
{
	char err[256];

	log_msg(VG_LOG_ERROR, "serve: job %s: %s", r->id, why);
	free(r->status);
	r->status = xstrdup("failed");
	free(r->message);
	r->message = xstrdup(why);
	r->finished = 1;
	store_update(s->store, r, 1, err, sizeof(err));
	cache_publish(s, r);
}

/* 0 when pipeline p still offers the job's model and voice as a create
 * would take them: a reload (or a restart with another file) since the job
 * was queued may have dropped them. */
static int job_fits(const pipeline *p, const store_job *r, char *err, size_t errlen)
{
	const model_def *m = pipeline_model(p, r->model);
	const char *dflt = p->default_voice ? p->default_voice : "Joanna";

	if (!m || !m->selectable) {
		util_errf(err, errlen, "The pipeline loaded now does not offer the model \"%s\" "
			  "this job asked for (it changed after the job was queued)", r->model);
		return -1;
	}
	if (!pipeline_has_voice(p, r->voice) && strcmp(r->voice, dflt) != 0) {
		util_errf(err, errlen, "The pipeline loaded now does not offer the voice \"%s\" "
			  "this job asked for (it changed after the job was queued)", r->voice);
		return -1;
	}
	return 0;
}

/* Runs the job read from the store (r, which this function clears) on the
 * pipeline loaded now; a reload while it runs does not touch it: the job
 * finishes on this one. next: a shared worker's, see run_ctx. */
static void job_execute(server *s, store_job *r, entry *e, int lease_slot, next_claim *next)
{
	char err[256], lease[37];
	job *j = NULL;
	int cancel_requested;
	held_pipeline *h = held_current(s);

	memcpy(lease, r->lease, sizeof(lease));
	if (s->o.role != SERVER_ROLE_WORKER) {
		blob *b = response_blob(r);
		pthread_mutex_lock(&s->cache.lock);
		status_cache_fill(e, b, r->finished);
		pthread_mutex_unlock(&s->cache.lock);
		blob_unref(b);
	}
	if (job_fits(h->p, r, err, sizeof(err)) != 0) {
		job_refuse(s, r, err);
		goto out;
	}
	j = job_restore(s->jobs_dir, r->id, r->created_at, r->question, r->model, r->voice,
			err, sizeof(err));
	if (!j) {
		job_refuse(s, r, err);
		goto out;
	}
	job_seed(j, r);

	/* server_stop cancels what it finds running under cache.lock after
	 * setting `stopping`: checking the flag here under the same lock means
	 * no job starts unseen by it. */
	pthread_mutex_lock(&s->cache.lock);
	e->running = j;
	if (e->cancel_requested || atomic_load(&s->stopping))
		job_cancel(j);
	pthread_mutex_unlock(&s->cache.lock);

	run_ctx ctx = { s, e, h, lease, lease_slot, next };
	runner_events ev = { on_update, on_stage, &ctx, on_usage, may_record };
	atomic_fetch_add(&s->running, 1);
	runner_run(h->p, j, &ev);
	atomic_fetch_sub(&s->running, 1);

	pthread_mutex_lock(&s->cache.lock);
	cancel_requested = e->cancel_requested;
	pthread_mutex_unlock(&s->cache.lock);
	job_finish(&ctx, j, cancel_requested);
out:
	pthread_mutex_lock(&s->cache.lock);
	e->running = NULL;
	e->claimed = 0;
	status_cache_unpin(&s->cache, e);
	pthread_mutex_unlock(&s->cache.lock);
	job_free(j);
	held_release(h); /* the last job of an old pipeline frees it */
	store_job_clear(r);
}

/* Takes the next queued job off the store. qlock held. 0 ok. */
static int queue_claim_locked(server *s, store_job *r)
{
	char err[256];
	int rc = store_next_unfinished(s->store, s->q_cursor, r, err, sizeof(err));
	if (rc != 0) {
		if (rc < 0)
			log_msg(VG_LOG_ERROR, "serve: %s", err);
		/* Nothing there: a create that raced ahead was already taken. */
		atomic_store(&s->qlen, 0);
		return -1;
	}
	s->q_cursor = r->seq;
	if (atomic_fetch_sub(&s->qlen, 1) <= 0)
		atomic_store(&s->qlen, 0);
	queue_left_locked(s, r->id);
	return 0;
}

/* The entry of a claimed job r, pinned, marked claimed (a placeholder of
 * version 0 if the cache did not have it: job_execute fills it). */
static entry *entry_claim(server *s, const store_job *r)
{
	pthread_mutex_lock(&s->cache.lock);
	entry *e = status_cache_find(&s->cache, r->id);
	if (!e) {
		blob *b = blob_new("{}", 2);
		e = status_cache_add(&s->cache, r->id, b, 0);
		blob_unref(b);
		e->version = 0;
	}
	e->claimed = 1;
	if (r->cancel_requested) /* asked while its last worker ran it */
		e->cancel_requested = 1;
	status_cache_pin(&s->cache, e);
	pthread_mutex_unlock(&s->cache.lock);
	return e;
}

static void *worker_main(void *arg)
{
	server *s = arg;

	for (;;) {
		store_job r;
		pthread_mutex_lock(&s->qlock);
		while (!atomic_load(&s->stopping) && (atomic_load(&s->qlen) <= 0 || s->o.paused))
			pthread_cond_wait(&s->qcv, &s->qlock);
		if (atomic_load(&s->stopping)) {
			pthread_mutex_unlock(&s->qlock);
			break;
		}
		if (queue_claim_locked(s, &r) != 0) {
			pthread_mutex_unlock(&s->qlock);
			continue;
		}
		/* Claimed under qlock: a DELETE sees the job either queued or
		 * claimed, never in between. */
		entry *e = entry_claim(s, &r);
		pthread_mutex_unlock(&s->qlock);

		job_execute(s, &r, e, -1, NULL);
	}
	return NULL;
}

/* A worker of a shared store: claims the oldest job nobody holds, under a
 * lease the lease table renews, runs it, and claims again (with the job's
 * end: next); with nothing to claim it sleeps until the store's LISTEN
 * wakes it (a job was created anywhere) or CLAIM_POLL_MS passes (a dead
 * worker's lease ran out). */
static void *shared_worker_main(void *arg)
{
	server *s = arg;
	unsigned long seen = 0;
	int idle = 0;
	next_claim next = { 0 };

	for (;;) {
		store_job r;
		char err[256];
		pthread_mutex_lock(&s->qlock);
		if (!next.have && !atomic_load(&s->stopping) &&
		    (s->o.paused || (idle && seen == s->wakeups))) {
			struct timespec ts;
			util_deadline_us(&ts, CLAIM_POLL_MS * 1000LL);
			pthread_cond_timedwait(&s->qcv, &s->qlock, &ts);
		}
		seen = s->wakeups;
		pthread_mutex_unlock(&s->qlock);
		if (atomic_load(&s->stopping)) {
			if (next.have && store_release(s->store, next.job.id, next.job.lease, err,
						       sizeof(err)) != 0)
				log_msg(VG_LOG_WARN, "serve: job %s: %s (it waits for its lease to "
					"end)", next.job.id, err);
			if (next.have)
				store_job_clear(&next.job);
			break;
		}
		long long claimed_ms;
		int rc = 0;
		if (next.have) { /* claimed with the last job's end */
			r = next.job;
			claimed_ms = next.claimed_ms;
			next.have = 0;
		} else if (s->o.paused) {
			continue;
		} else {
			long long t0 = claim_clock_us();
			claimed_ms = util_now_ms();
			rc = store_claim(s->store, s->o.lease_ms, &r, err, sizeof(err));
			if (rc == 0)
				lease_note_claim(s->leases, claim_clock_us() - t0);
		}
		idle = rc != 0;
		if (rc < 0)
			log_msg(VG_LOG_ERROR, "serve: claim: %s", err);
		if (rc != 0)
			continue;
		int slot = lease_hold(s->leases, r.id, r.lease, claimed_ms);
		if (slot < 0) { /* more claims than slots: cannot happen, give it back */
			store_release(s->store, r.id, r.lease, err, sizeof(err));
			store_job_clear(&r);
			continue;
		}
		pthread_mutex_lock(&s->qlock);
		if (atomic_fetch_sub(&s->qlen, 1) <= 0)
			atomic_store(&s->qlen, 0);
		queue_left_locked(s, r.id);
		pthread_mutex_unlock(&s->qlock);
		entry *e = entry_claim(s, &r);
		job_execute(s, &r, e, slot, &next);
		lease_drop(s->leases, slot);
	}
	return NULL;
}

/* A job this node does not run changed: its watched entry takes the
 * store's state, so /events streams here follow a job any node runs. */
static void shared_refresh_job(server *s, const char *id)
{
	store_job r;
	char err[256];

	pthread_mutex_lock(&s->cache.lock);
	entry *e = status_cache_find(&s->cache, id);
	int watched = e && !e->claimed && e->listeners;
	pthread_mutex_unlock(&s->cache.lock);
	if (!watched)
		return;
	if (store_get(s->store, id, &r, err, sizeof(err)) != 0)
		return;
	blob *b = response_blob(&r);
	pthread_mutex_lock(&s->cache.lock);
	e = status_cache_find(&s->cache, id);
	if (e && !e->claimed && !e->finished) {
		status_cache_set(e, b);
		e->finished = r.finished;
		e->stale = 0;
		sse_wake_locked(e);
	}
	pthread_mutex_unlock(&s->cache.lock);
	blob_unref(b);
	store_job_clear(&r);
}

static void mark_stale(entry *e, void *ud)
{
	(void)ud;
	if (!e->claimed && !e->finished)
		e->stale = 1;
}

/* What the shared store tells every node (store_listen): a job may be
 * claimable (wake the idle workers), a job changed (what the cache holds of
 * it is stale; refresh what streams here watch), a cancel was asked (stop
 * the job if it runs here), or the listener (re)connected (all is stale). */
static void on_store_note(void *ud, int what, const char *id)
{
	server *s = ud;

	if (what == STORE_NOTE_QUEUED || what == STORE_NOTE_RESYNC) {
		pthread_mutex_lock(&s->qlock);
		s->wakeups++;
		pthread_cond_broadcast(&s->qcv);
		pthread_mutex_unlock(&s->qlock);
		if (what == STORE_NOTE_RESYNC) { /* what changed meanwhile went unheard */
			atomic_store(&s->deaf, 0);
			atomic_fetch_add(&s->changes, 1);
			pthread_mutex_lock(&s->cache.lock);
			status_cache_each(&s->cache, mark_stale, NULL);
			pthread_mutex_unlock(&s->cache.lock);
		}
	} else if (what == STORE_NOTE_DEAF) {
		atomic_store(&s->deaf, 1);
		atomic_fetch_add(&s->changes, 1);
	} else if (what == STORE_NOTE_CHANGED) {
		atomic_fetch_add(&s->changes, 1);
		pthread_mutex_lock(&s->cache.lock);
		entry *e = status_cache_find(&s->cache, id);
		if (e)
			mark_stale(e, NULL);
		pthread_mutex_unlock(&s->cache.lock);
		shared_refresh_job(s, id);
	} else if (what == STORE_NOTE_CANCEL) {
		pthread_mutex_lock(&s->cache.lock);
		entry *e = status_cache_find(&s->cache, id);
		if (e && e->claimed) {
			e->cancel_requested = 1;
			if (e->running)
				job_cancel(e->running);
		}
		pthread_mutex_unlock(&s->cache.lock);
	}
}

/* The lease table's news about a job this process runs: lost, it stops
 * (and writes nothing: run_fenced); cancelled from another node, it stops
 * and is recorded as cancelled. */
static void on_lease_event(void *ud, const char *id, enum lease_event ev)
{
	server *s = ud;

	pthread_mutex_lock(&s->cache.lock);
	entry *e = status_cache_find(&s->cache, id);
	if (e && e->claimed) {
		if (ev == LEASE_CANCEL)
			e->cancel_requested = 1;
		if (e->running)
			job_cancel(e->running);
	}
	pthread_mutex_unlock(&s->cache.lock);
}

/* ===================================================================
 * HTTP plumbing.
 * =================================================================== */

enum { CREATE_NEW = 0, CREATE_PENDING, CREATE_DONE };

/* A POST request's state across handler calls. */
typedef struct req_ctx {
	strbuf body;
	int too_large;
	atomic_int state;   /* CREATE_*: set by the store's writer thread */
	int rc;
	store_job rec;      /* the job being created (owned) */
	client_id who;      /* whose share of the queue it takes */
	int admitted;       /* create_admit took a share not settled yet */
	struct server *srv;
	struct MHD_Connection *conn;
} req_ctx;

/* origins is NULL-terminated, or NULL. */
static void add_cors_from(const char *const *origins, const char *origin,
			  struct MHD_Response *r)
{
	for (const char *const *o = origins; o && *o; o++) {
		if (strcmp(*o, "*") == 0 || strcmp(*o, origin) == 0) {
			MHD_add_response_header(r, "Access-Control-Allow-Origin",
						strcmp(*o, "*") == 0 ? "*" : origin);
			return;
		}
	}
}

/* VIDGEN_CORS_ORIGINS (opts), else the loaded pipeline's cors_origins.
 * With origins configured, every answer's headers depend on Origin (an
 * allowed one gets Access-Control-Allow-Origin, another or none does not):
 * Vary: Origin on all of them, so that a cache never hands one origin's
 * answer to another. cors_set spares the pipeline lock when none are. */
static void add_cors(server *s, struct MHD_Connection *c, struct MHD_Response *r)
{
	if (!atomic_load_explicit(&s->cors_set, memory_order_relaxed))
		return;
	MHD_add_response_header(r, "Vary", "Origin");
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	if (!origin)
		return;
	if (s->o.cors_origins) {
		add_cors_from(s->o.cors_origins, origin, r);
		return;
	}
	held_pipeline *h = held_current(s);
	add_cors_from((const char *const *)h->p->cors_origins, origin, r);
	held_release(h);
}

/* The shard of the HTTP thread running this code; -1 elsewhere. */
static _Thread_local int tls_shard = -1;

/* Connections are steered to the thread of the CPU they were opened from
 * (listen.h). A client thread that later runs on another CPU keeps talking
 * to the old thread across CPUs; every REHOME_EVERY requests this looks at
 * where the connection's packets now arrive, and after REHOME_STRIKES looks
 * in a row on another steered CPU it closes the connection after this
 * answer: the client reconnects from its CPU and lands on that CPU's
 * thread. A client that stays put is never closed. */
static void rehome_check(server *s, struct MHD_Connection *c, struct MHD_Response *r)
{
	if (!s->cpu_shard || tls_shard < 0)
		return;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	conn_ctx *cc = ci ? ci->socket_context : NULL;
	if (!cc || ++cc->requests % REHOME_EVERY != 0)
		return;
	int cpu = -1;
	socklen_t len = sizeof(cpu);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len) != 0 ||
	    cpu < 0 || cpu >= LISTEN_MAX_CPUS || s->cpu_shard[cpu] < 0 ||
	    s->cpu_shard[cpu] == tls_shard) {
		cc->strikes = 0;
		return;
	}
	if (++cc->strikes < REHOME_STRIKES)
		return;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES)
		atomic_fetch_add_explicit(&s->rehomed, 1, memory_order_relaxed);
}

/* Queues r with code; counts it for /metrics; destroys r. */
static enum MHD_Result respond(server *s, struct MHD_Connection *c, unsigned code,
			       struct MHD_Response *r)
{
	if (!r)
		return MHD_NO;
	add_cors(s, c, r);
	rehome_check(s, c, r);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	if (code < 600)
		atomic_fetch_add_explicit(&s->http_codes[code], 1, memory_order_relaxed);
	return ret;
}

/* A response sending b (whose reference it takes) as type; NULL if out of
 * memory. */
static struct MHD_Response *blob_response(blob *b, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
		b->len, b->data, blob_unref, b);
	if (!r) {
		blob_unref(b);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return r;
}

static enum MHD_Result respond_blob(server *s, struct MHD_Connection *c, unsigned code,
				    blob *b, const char *type)
{
	return respond(s, c, code, blob_response(b, type));
}

static enum MHD_Result respond_text(server *s, struct MHD_Connection *c, unsigned code,
				    const char *text, size_t len, const char *type)
{
	return respond_blob(s, c, code, blob_new(text, len), type);
}

/* Every error is JSON: {"detail": "...", "error": "...", "field": ...,
 * "rule": ...}. detail is what FastAPI-style clients read. Returns the
 * response (NULL if out of memory) for the caller to add headers to. */
static struct MHD_Response *error_response(const char *error, const char *field,
					   const char *rule, const char *detail)
{
	strbuf sb = { 0 };
	sb_puts(&sb, "{\"detail\":");
	server_json_put_str(&sb, detail);
	sb_puts(&sb, ",\"error\":");
	server_json_put_str(&sb, error);
	if (field) {
		sb_puts(&sb, ",\"field\":");
		server_json_put_str(&sb, field);
	}
	if (rule) {
		sb_puts(&sb, ",\"rule\":");
		server_json_put_str(&sb, rule);
	}
	sb_puts(&sb, "}");
	blob *b = blob_new(sb.buf ? sb.buf : "{}", sb.buf ? sb.len : 2);
	sb_free(&sb);
	return blob_response(b, "application/json");
}

static enum MHD_Result respond_error(server *s, struct MHD_Connection *c, unsigned code,
				     const char *error, const char *field, const char *rule,
				     const char *detail)
{
	return respond(s, c, code, error_response(error, field, rule, detail));
}

/* An error after which the connection is closed: the request's framing is
 * in doubt, so nothing after it on the connection can be trusted. */
static enum MHD_Result respond_error_close(server *s, struct MHD_Connection *c, unsigned code,
					   const char *error, const char *field,
					   const char *rule, const char *detail)
{
	struct MHD_Response *r = error_response(error, field, rule, detail);
	if (r)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	return respond(s, c, code, r);
}

/* The refusals of a client's share: status, error code, the setting that
 * sets the limit (NULL: more than one may), the Retry-After sent (0:
 * computed by the caller). */
static const struct refusal_def {
	unsigned code;
	const char *error;
	const char *setting;
	int retry_s;
	const char *detail;
} refusals[REFUSE_N] = {
	[REFUSE_CONNECTIONS] = { 429, "too_many_connections", "VIDGEN_HTTP_CONNECTIONS_PER_CLIENT",
				 5, "This client has too many connections open; close some" },
	[REFUSE_STREAMS] = { 429, "too_many_streams", "VIDGEN_HTTP_STREAMS_PER_CLIENT", 10,
			     "This client has too many /events streams open; close one or "
			     "poll the status instead" },
	/* The total or the HTTP thread's cap (VIDGEN_HTTP_MAX_CONNECTIONS). */
	[REFUSE_STREAMS_FULL] = { 503, "streams_full", NULL, 10,
				  "The server has no room for another /events stream; poll the "
				  "status instead" },
	[REFUSE_RATE] = { 429, "rate_limited", "VIDGEN_CREATE_RATE", 0,
			  "This client creates videos too fast" },
	[REFUSE_QUEUED] = { 429, "too_many_queued", "VIDGEN_QUEUED_PER_CLIENT", 30,
			    "This client has too many videos waiting; wait until one starts" },
	[REFUSE_QUEUE_FULL] = { 503, "queue_full", "VIDGEN_MAX_QUEUED", 60,
				"The queue is full" },
	[REFUSE_CLIENTS] = { 503, "too_many_clients", NULL, 5,
			     "The server is tracking too many clients" },
};

/* The setting behind a refusal. */
static int refusal_limit(const server *s, enum refusal why)
{
	switch (why) {
	case REFUSE_CONNECTIONS: return s->o.client_connections;
	case REFUSE_STREAMS: return s->o.client_streams;
	case REFUSE_RATE: return s->o.create_rate;
	case REFUSE_QUEUED: return s->o.client_queued;
	case REFUSE_QUEUE_FULL: return s->o.max_queued;
	default: return 0;
	}
}

/* Answers a refusal of the client's share: 429 (its own share) or 503 (the
 * server's), with Retry-After, counted in /metrics by reason. `rule` names
 * the setting and its value. */
static enum MHD_Result respond_refused(server *s, struct MHD_Connection *c, enum refusal why,
				       int retry_s)
{
	const struct refusal_def *d = &refusals[why];
	char detail[256], retry[24], rule[96];

	if (!retry_s)
		retry_s = d->retry_s;
	snprintf(detail, sizeof(detail), "%s; retry in %d s", d->detail, retry_s);
	snprintf(retry, sizeof(retry), "%d", retry_s);
	if (d->setting)
		snprintf(rule, sizeof(rule), "%s=%d", d->setting, refusal_limit(s, why));
	atomic_fetch_add_explicit(&s->refused[why], 1, memory_order_relaxed);
	struct MHD_Response *r = error_response(d->error, NULL, d->setting ? rule : NULL,
						detail);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	if (why == REFUSE_CONNECTIONS || why == REFUSE_CLIENTS)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	return respond(s, c, d->code, r);
}

static enum MHD_Result respond_405(server *s, struct MHD_Connection *c, const char *allow)
{
	char detail[128];
	snprintf(detail, sizeof(detail), "Method not allowed; use %s", allow);
	strbuf sb = { 0 };
	sb_puts(&sb, "{\"detail\":");
	server_json_put_str(&sb, detail);
	sb_puts(&sb, ",\"error\":\"method_not_allowed\"}");
	struct MHD_Response *r = MHD_create_response_from_buffer(sb.len, sb.buf,
								 MHD_RESPMEM_MUST_COPY);
	sb_free(&sb);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	return respond(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
}

static enum MHD_Result respond_not_found(server *s, struct MHD_Connection *c)
{
	return respond_error(s, c, MHD_HTTP_NOT_FOUND, "not_found", NULL, NULL, "Not found");
}

static enum MHD_Result respond_video_not_found(server *s, struct MHD_Connection *c)
{
	return respond_error(s, c, MHD_HTTP_NOT_FOUND, "not_found", "video_id", NULL,
			     "Video not found");
}

/* Constant-time comparison, so a key cannot be guessed byte by byte. */
static int key_equal(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	unsigned diff = (unsigned)(alen ^ blen);
	for (size_t i = 0; i < alen; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (blen ? blen : 1)];
	return diff == 0 && blen > 0;
}

static int keys_set(const server *s)
{
	return s->o.api_keys && s->o.api_keys[0];
}

/* The index of the API key the request carries (Authorization: Bearer),
 * or -1 for none or a wrong one. Every key is compared, in constant time. */
static int api_key_index(server *s, struct MHD_Connection *c)
{
	if (!keys_set(s))
		return -1;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return -1;
	const char *k = h + 7;
	while (*k == ' ')
		k++;
	size_t klen = strlen(k);
	int found = -1;
	for (int i = 0; s->o.api_keys[i]; i++)
		if (key_equal(k, klen, s->o.api_keys[i]))
			found = i;
	return found;
}

/* 1 when the request may create or cancel. */
static int authorized(server *s, struct MHD_Connection *c)
{
	return !keys_set(s) || api_key_index(s, c) >= 0;
}

static conn_ctx *conn_ctx_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* Whose share a request takes: its API key's when keys are set and it
 * carries a valid one, else its address's. */
static client_id request_client(server *s, struct MHD_Connection *c)
{
	int k = api_key_index(s, c);
	if (k >= 0)
		return client_id_key((unsigned)k);
	conn_ctx *cc = conn_ctx_of(c);
	return cc ? cc->addr : 0;
}

static enum MHD_Result respond_unauthorized(server *s, struct MHD_Connection *c)
{
	const char *body = "{\"detail\":\"Missing or invalid API key\",\"error\":\"unauthorized\","
			   "\"field\":\"Authorization\",\"rule\":\"Bearer <API key>\"}";
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	return respond(s, c, MHD_HTTP_UNAUTHORIZED, r);
}

/* ===================================================================
 * POST /api/v1/videos
 * =================================================================== */

/* A JSON type's name as a message says it. */
static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Checks the request body against pipeline p; fills question/model/voice
 * (borrowed from root and p) or answers the error itself and returns -1.
 * A field of the wrong JSON type, null included, is refused, never taken
 * for absent. */
static int create_validate(server *s, struct MHD_Connection *c, const pipeline *p,
			   json_t *root, const char **question, const char **model,
			   const char **voice, enum MHD_Result *ret)
{
	char detail[256];
	json_t *v;
	size_t nchars;

#define FIELD_ERR(field, rule, ...) do { \
		snprintf(detail, sizeof(detail), __VA_ARGS__); \
		*ret = respond_error(s, c, HTTP_UNPROCESSABLE, "validation_error", \
				     field, rule, detail); \
		return -1; } while (0)

	if (!json_is_object(root))
		FIELD_ERR("body", "type:object", "The request body must be a JSON object");
	v = json_object_get(root, "prompt");
	if (!v)
		FIELD_ERR("prompt", "required", "prompt is required");
	if (!json_is_string(v))
		FIELD_ERR("prompt", "type:string", "prompt must be a string (got %s)",
			  json_type_name(v));
	if (!util_utf8_valid(json_string_value(v), json_string_length(v), &nchars) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		FIELD_ERR("prompt", "utf8", "prompt must be valid UTF-8 text");
	if (nchars < PROMPT_MIN)
		FIELD_ERR("prompt", "min_length:10",
			  "prompt must be at least %d characters (got %zu)", PROMPT_MIN, nchars);
	if (nchars > PROMPT_MAX)
		FIELD_ERR("prompt", "max_length:10000",
			  "prompt must be at most %d characters (got %zu)", PROMPT_MAX, nchars);
	*question = json_string_value(v);

	v = json_object_get(root, "model");
	if (!v)
		FIELD_ERR("model", "required", "model is required; see GET /api/v1/config");
	if (!json_is_string(v))
		FIELD_ERR("model", "type:string", "model must be a string (got %s)",
			  json_type_name(v));
	const model_def *m = strlen(json_string_value(v)) == json_string_length(v) ?
		pipeline_model(p, json_string_value(v)) : NULL;
	if (!m || !m->selectable)
		FIELD_ERR("model", "enum:config.models",
			  "model must be one of the models of GET /api/v1/config");
	*model = m->name;

	v = json_object_get(root, "voice");
	if (!v) {
		*voice = p->default_voice ? p->default_voice : "Joanna";
		return 0;
	}
	if (!json_is_string(v))
		FIELD_ERR("voice", "type:string", "voice must be a string (got %s)",
			  json_type_name(v));
	if (strlen(json_string_value(v)) != json_string_length(v) ||
	    !pipeline_has_voice(p, json_string_value(v)))
		FIELD_ERR("voice", "enum:config.voices",
			  "voice must be one of the voices of GET /api/v1/config");
	*voice = json_string_value(v);
	return 0;
#undef FIELD_ERR
}

static int content_type_json(struct MHD_Connection *c)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	size_t n = strlen("application/json");
	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The store committed (or refused) a create: wake its connection. Runs on
 * the store's writer thread. */
static void create_done(void *ud, int rc, long long seq)
{
	req_ctx *rq = ud;
	server *s = rq->srv;

	rq->rc = rc;
	rq->rec.seq = seq;
	atomic_store(&rq->state, CREATE_DONE);
	MHD_resume_connection(rq->conn);
	atomic_fetch_sub(&s->pending_creates, 1);
}

/* Second half of a create, once the row is durable: publish, queue,
 * answer 202. */
static enum MHD_Result create_answer(server *s, struct MHD_Connection *c, req_ctx *rq)
{
	rq->admitted = 0;
	if (rq->rc != 0) {
		create_undo(s, rq->who, rq->rec.id);
		return respond_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", NULL,
				     NULL, "The job store cannot take the job; try again");
	}
	blob *b = response_blob(&rq->rec);
	pthread_mutex_lock(&s->cache.lock);
	entry *e = status_cache_add(&s->cache, rq->rec.id, b, 0);
	status_cache_touch(&s->cache, e);
	pthread_mutex_unlock(&s->cache.lock);
	queue_push(s);

	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
		b->len, b->data, blob_unref, b);
	if (!resp) {
		blob_unref(b);
		return MHD_NO;
	}
	char loc[96];
	snprintf(loc, sizeof(loc), "/api/v1/videos/%s/status", rq->rec.id);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
	return respond(s, c, MHD_HTTP_ACCEPTED, resp);
}

/* POST /api/v1/videos. The connection is suspended while the store commits,
 * so an HTTP thread serves other requests meanwhile and concurrent creates
 * share one commit. */
static enum MHD_Result handle_create(server *s, struct MHD_Connection *c, req_ctx *rq)
{
	enum MHD_Result ret = MHD_NO;
	const char *question, *model, *voice;
	json_error_t jerr;
	char err[256];

	if (atomic_load(&rq->state) == CREATE_DONE)
		return create_answer(s, c, rq);
	if (!authorized(s, c))
		return respond_unauthorized(s, c);
	if (!content_type_json(c))
		return respond_error(s, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
				     "Content-Type", "application/json",
				     "Content-Type must be application/json");
	if (rq->too_large) {
		snprintf(err, sizeof(err), "The request body is larger than %zu bytes",
			 s->o.body_limit);
		return respond_error(s, c, HTTP_TOO_LARGE, "body_too_large", "body",
				     "max_bytes", err);
	}
	/* Numbers as reals: an integer too big for 64 bits, in a field that is
	 * ignored, is still JSON (a number in a known field is a 422). \u0000
	 * in a string too: a field that holds one is refused by its own rule.
	 * (jansson refuses a NUL in a key: a 400.) */
	json_t *root = json_loadb(rq->body.buf ? rq->body.buf : "", rq->body.len,
				  JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
	if (!root) {
		snprintf(err, sizeof(err), "Malformed JSON at line %d column %d: %s",
			 jerr.line, jerr.column, jerr.text);
		return respond_error(s, c, MHD_HTTP_BAD_REQUEST, "malformed_json", "body", "json",
				     err);
	}
	held_pipeline *h = held_current(s);
	if (create_validate(s, c, h->p, root, &question, &model, &voice, &ret) != 0) {
		held_release(h);
		goto out;
	}
	client_id who = request_client(s, c);

	store_job r = { 0 };
	util_uuid4(r.id);
	util_now_iso8601(r.created_at);
	r.question = (char *)question;
	r.model = (char *)model;
	r.voice = (char *)voice;
	r.status = "queued";
	r.message = MSG_STARTED;
	store_job_copy(&rq->rec, &r);
	held_release(h); /* model and voice were the pipeline's strings */

	/* Counted before the stopping check: server_stop waits for these. */
	atomic_fetch_add(&s->pending_creates, 1);
	if (atomic_load(&s->stopping)) {
		atomic_fetch_sub(&s->pending_creates, 1);
		ret = respond_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down", NULL, NULL,
				    "The server is shutting down; try again");
		goto out;
	}
	int retry_s, why = create_admit(s, who, rq->rec.id, &retry_s);
	if (why >= 0) {
		atomic_fetch_sub(&s->pending_creates, 1);
		ret = respond_refused(s, c, (enum refusal)why, retry_s);
		goto out;
	}
	rq->who = who;
	rq->admitted = 1;
	rq->srv = s;
	rq->conn = c;
	atomic_store(&rq->state, CREATE_PENDING);
	MHD_suspend_connection(c);
	if (store_create_async(s->store, &rq->rec, create_done, rq) != 0) {
		rq->rc = -1;
		atomic_store(&rq->state, CREATE_DONE);
		MHD_resume_connection(c);
		atomic_fetch_sub(&s->pending_creates, 1);
	}
	ret = MHD_YES; /* answered by create_answer after the resume */
out:
	json_decref(root);
	return ret;
}

/* ===================================================================
 * GET /api/v1/videos (list) and DELETE /api/v1/videos/{id} (cancel)
 * =================================================================== */

static int parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	if (!s || !*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A list cursor as next_cursor writes it: 1 to 18 digits, no leading zero
 * (doc/openapi.yaml's Cursor). 0 ok. */
static int parse_cursor(const char *v, long long *out)
{
	size_t n = strspn(v, "0123456789");
	if (n == 0 || n > 18 || v[n] || v[0] == '0')
		return -1;
	*out = strtoll(v, NULL, 10);
	return 0;
}

/* A read of the store failed: 500 store_error with a store of its own (a
 * fault of this machine); 503 store_unavailable with a shared one, which is
 * unreachable for a while (PostgreSQL restarting): the client tries again. */
static enum MHD_Result respond_store_read_error(server *s, struct MHD_Connection *c)
{
	if (s->shared)
		return respond_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", NULL,
				     NULL, "The job store cannot be reached; try again shortly");
	return respond_error(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", NULL, NULL,
			     "The job store cannot be read");
}

static enum MHD_Result handle_list(server *s, struct MHD_Connection *c)
{
	const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	const char *bs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "before");
	long long limit = LIST_DEFAULT, before = 0;
	store_job *v;
	size_t n;
	char err[256];

	if (ls && parse_ll(ls, 1, LIST_MAX, &limit) != 0)
		return respond_error(s, c, HTTP_UNPROCESSABLE, "validation_error",
				     "limit", "range:1..100",
				     "limit must be an integer from 1 to 100");
	if (bs && parse_cursor(bs, &before) != 0)
		return respond_error(s, c, HTTP_UNPROCESSABLE, "validation_error",
				     "before", "cursor",
				     "before must be a next_cursor value from a previous page");
	if (store_list(s->store, before, (int)limit, &v, &n, err, sizeof(err)) != 0) {
		log_msg(VG_LOG_ERROR, "serve: %s", err);
		return respond_store_read_error(s, c);
	}
	strbuf sb = { 0 };
	sb_puts(&sb, "{\"videos\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_puts(&sb, ",");
		response_put(&sb, &v[i]);
	}
	sb_puts(&sb, "],\"next_cursor\":");
	if (n == (size_t)limit && n > 0)
		sb_printf(&sb, "\"%lld\"", v[n - 1].seq);
	else
		sb_puts(&sb, "null");
	sb_puts(&sb, "}");
	store_jobs_free(v, n);
	enum MHD_Result ret = respond_text(s, c, MHD_HTTP_OK, sb.buf, sb.len, "application/json");
	sb_free(&sb);
	return ret;
}

/* Cancels a job still queued (r, read under qlock, which the caller holds
 * and this releases): no worker can claim it meanwhile. */
static enum MHD_Result cancel_queued(server *s, struct MHD_Connection *c, store_job *r)
{
	char err[256];

	free(r->status);
	r->status = xstrdup("failed");
	free(r->message);
	r->message = xstrdup(MSG_CANCELLED);
	r->finished = 1;
	if (store_update(s->store, r, 1, err, sizeof(err)) != 0) {
		pthread_mutex_unlock(&s->qlock);
		store_job_clear(r);
		return respond_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
				     NULL, NULL, "The job store cannot record the cancel");
	}
	if (atomic_fetch_sub(&s->qlen, 1) <= 0)
		atomic_store(&s->qlen, 0);
	queue_left_locked(s, r->id);
	pthread_mutex_unlock(&s->qlock);
	cache_publish(s, r);
	blob *b = response_blob(r);
	store_job_clear(r);
	return respond_blob(s, c, MHD_HTTP_OK, b, "application/json");
}

/* DELETE on a shared store, where any node may run the job. Running here:
 * it stops at once. Queued (or left by a dead worker): failed at once.
 * Held by another node's worker: recorded, and that worker stops at its
 * next lease renewal. */
static enum MHD_Result cancel_shared(server *s, struct MHD_Connection *c, const char *id)
{
	store_job r;
	char err[256];
	blob *b = NULL;

	pthread_mutex_lock(&s->cache.lock);
	entry *e = status_cache_find(&s->cache, id);
	if (e && e->claimed && !e->finished) {
		e->cancel_requested = 1;
		if (e->running)
			job_cancel(e->running);
		b = blob_ref(e->resp);
	}
	pthread_mutex_unlock(&s->cache.lock);
	if (b)
		return respond_blob(s, c, MHD_HTTP_ACCEPTED, b, "application/json");
	int rc = store_cancel(s->store, id, MSG_CANCELLED, &r, err, sizeof(err));
	if (rc == 1)
		return respond_video_not_found(s, c);
	if (rc == 3)
		return respond_error(s, c, MHD_HTTP_CONFLICT, "already_finished", "video_id",
				     "not_finished", "The job has already finished");
	if (rc < 0) {
		log_msg(VG_LOG_ERROR, "serve: cancel %s: %s", id, err);
		return respond_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
				     NULL, NULL, "The job store cannot record the cancel");
	}
	if (rc == 0) {
		pthread_mutex_lock(&s->qlock);
		if (atomic_fetch_sub(&s->qlen, 1) <= 0)
			atomic_store(&s->qlen, 0);
		queue_left_locked(s, r.id);
		pthread_mutex_unlock(&s->qlock);
		cache_publish(s, &r);
	}
	b = response_blob(&r);
	store_job_clear(&r);
	return respond_blob(s, c, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_ACCEPTED, b,
			    "application/json");
}

static enum MHD_Result handle_cancel(server *s, struct MHD_Connection *c, const char *id)
{
	store_job r;
	char err[256];

	if (!authorized(s, c))
		return respond_unauthorized(s, c);
	if (s->shared)
		return cancel_shared(s, c, id);
	/* Read under qlock: two DELETEs of one queued job must not both find
	 * it unfinished (both were answered 200 and the queue length dropped
	 * twice, leaving a queued job no worker woke for). */
	pthread_mutex_lock(&s->qlock);
	int rc = store_get(s->store, id, &r, err, sizeof(err));
	if (rc != 0 || r.finished) {
		pthread_mutex_unlock(&s->qlock);
		if (rc == 1)
			return respond_video_not_found(s, c);
		if (rc < 0)
			return respond_error(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error",
					     NULL, NULL, "The job store cannot be read");
		store_job_clear(&r);
		return respond_error(s, c, MHD_HTTP_CONFLICT, "already_finished", "video_id",
				     "not_finished", "The job has already finished");
	}
	if (r.seq > s->q_cursor)
		return cancel_queued(s, c, &r);
	pthread_mutex_lock(&s->cache.lock);
	entry *e = status_cache_find(&s->cache, id);
	blob *b = NULL;
	if (e && e->claimed && !e->finished) {
		e->cancel_requested = 1;
		if (e->running)
			job_cancel(e->running);
		b = blob_ref(e->resp);
	}
	pthread_mutex_unlock(&s->cache.lock);
	pthread_mutex_unlock(&s->qlock);
	store_job_clear(&r);
	if (!b)
		return respond_error(s, c, MHD_HTTP_CONFLICT, "already_finished", "video_id",
				     "not_finished", "The job has already finished");
	/* Running: it stops at its next checkpoint; /status shows the end. */
	return respond_blob(s, c, MHD_HTTP_ACCEPTED, b, "application/json");
}

/* ===================================================================
 * GET /api/v1/videos/{id}/events: server-sent events.
 * =================================================================== */

static void sse_emit(sse_conn *sc, const char *event, const blob *b, unsigned id)
{
	strbuf sb = { 0 };
	if (b)
		sb_printf(&sb, "id: %u\nevent: %s\ndata: %s\n\n", id, event, b->data);
	else
		sb_puts(&sb, ": keepalive\n\n");
	free(sc->out);
	sc->out_len = sb.len;
	sc->out_off = 0;
	sc->out = sb_steal(&sb);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	sse_conn *sc = cls;
	server *s = sc->srv;
	(void)pos;

	if (sc->out && sc->out_off < sc->out_len)
		goto copy;
	pthread_mutex_lock(&s->cache.lock);
	entry *e = sc->e;
	if (sc->done || atomic_load(&s->stopping)) {
		pthread_mutex_unlock(&s->cache.lock);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (e->version != sc->sent_version && e->version != 0) {
		/* The next state this stream has not sent, if the ring still has
		 * it; else (first event, or too far behind) the current one. */
		unsigned next = sc->sent_version + 1;
		const blob *b = sc->sent_version && next < e->version ?
				status_cache_state(e, next) : NULL;
		if (!b) {
			b = e->resp;
			next = e->version;
		}
		sc->sent_version = next;
		int last = next == e->version && e->finished;
		sse_emit(sc, last ? "end" : "status", b, next);
		if (last)
			sc->done = 1;
	} else if (sc->keepalive_due) {
		sc->keepalive_due = 0;
		sse_emit(sc, NULL, NULL, 0);
	} else {
		/* Nothing new: park the connection until a publish wakes it. */
		sc->suspended = 1;
		MHD_suspend_connection(sc->conn);
		pthread_mutex_unlock(&s->cache.lock);
		return 0;
	}
	pthread_mutex_unlock(&s->cache.lock);
copy:;
	size_t n = sc->out_len - sc->out_off;
	if (n > max)
		n = max;
	memcpy(buf, sc->out + sc->out_off, n);
	sc->out_off += n;
	return (ssize_t)n;
}

/* Admits one more /events stream for who on HTTP thread `shard` (-1 for
 * none): the total, the thread's own cap (half its connections, so that a
 * thread full of streams still answers other requests), then the
 * client's share. -1 when admitted (undo with stream_release), else the
 * refusal. */
static int stream_admit(server *s, int shard, client_id who)
{
	http_shard *sh = shard >= 0 ? &s->shards[shard] : NULL;

	if (atomic_fetch_add(&s->streams, 1) >= s->o.max_streams) {
		atomic_fetch_sub(&s->streams, 1);
		return REFUSE_STREAMS_FULL;
	}
	if (sh && atomic_fetch_add(&sh->streams, 1) >= sh->stream_cap) {
		atomic_fetch_sub(&sh->streams, 1);
		atomic_fetch_sub(&s->streams, 1);
		return REFUSE_STREAMS_FULL;
	}
	enum client_verdict v = who ? client_stream_open(s->clients, who, util_now_ms()) :
				CLIENT_OK;
	if (v == CLIENT_OK)
		return -1;
	if (sh)
		atomic_fetch_sub(&sh->streams, 1);
	atomic_fetch_sub(&s->streams, 1);
	return v == CLIENT_OVER_LIMIT ? REFUSE_STREAMS : REFUSE_CLIENTS;
}

static void stream_release(server *s, int shard, client_id who)
{
	if (who)
		client_stream_close(s->clients, who, util_now_ms());
	if (shard >= 0)
		atomic_fetch_sub(&s->shards[shard].streams, 1);
	atomic_fetch_sub(&s->streams, 1);
}

static void sse_free(void *cls)
{
	sse_conn *sc = cls;
	server *s = sc->srv;

	pthread_mutex_lock(&s->cache.lock);
	entry *e = sc->e;
	for (sse_conn **pp = &e->listeners; *pp; pp = &(*pp)->next_in_entry)
		if (*pp == sc) {
			*pp = sc->next_in_entry;
			break;
		}
	if (sc->prev_all)
		sc->prev_all->next_all = sc->next_all;
	else
		s->sse_all = sc->next_all;
	if (sc->next_all)
		sc->next_all->prev_all = sc->prev_all;
	if (!e->listeners)
		status_cache_unwatch(e);
	status_cache_unpin(&s->cache, e);
	pthread_mutex_unlock(&s->cache.lock);
	stream_release(s, sc->shard, sc->client);
	free(sc->out);
	free(sc);
}

static enum MHD_Result handle_events(server *s, struct MHD_Connection *c, const char *id)
{
	int code = 0;
	entry *e = NULL;
	client_id who = request_client(s, c);
	int shard = tls_shard, why = stream_admit(s, shard, who);

	if (why >= 0)
		return respond_refused(s, c, (enum refusal)why, 0);
	/* Load the job into the cache (or learn it does not exist), then pin
	 * its entry; retry once in case it was evicted in between. */
	for (int tries = 0; tries < 2 && !e; tries++) {
		blob *b = status_lookup(s, id, &code);
		if (!b) {
			stream_release(s, shard, who);
			return code == MHD_HTTP_NOT_FOUND ? respond_video_not_found(s, c) :
				respond_store_read_error(s, c);
		}
		blob_unref(b);
		pthread_mutex_lock(&s->cache.lock);
		e = status_cache_find(&s->cache, id);
		if (e && e->version) {
			status_cache_pin(&s->cache, e);
		} else {
			e = NULL;
		}
		pthread_mutex_unlock(&s->cache.lock);
	}
	if (!e) {
		stream_release(s, shard, who);
		return respond_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy", NULL, NULL,
				     "Try again");
	}

	sse_conn *sc = xcalloc(1, sizeof(*sc));
	sc->srv = s;
	sc->conn = c;
	sc->e = e;
	sc->client = who;
	sc->shard = shard;
	pthread_mutex_lock(&s->cache.lock);
	status_cache_watch(e);
	sc->next_in_entry = e->listeners;
	e->listeners = sc;
	sc->next_all = s->sse_all;
	if (s->sse_all)
		s->sse_all->prev_all = sc;
	s->sse_all = sc;
	pthread_mutex_unlock(&s->cache.lock);

	/* From here sse_free (run by MHD when the response goes) unlinks sc
	 * and unpins the entry. */
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
								   sse_read, sc, sse_free);
	if (!r) {
		sse_free(sc);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	return respond(s, c, MHD_HTTP_OK, r);
}

/* ===================================================================
 * Files: /media/{id}.mp4 with Range, the web page and its assets.
 * =================================================================== */

int server_parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 1;
	const char *p = h + 6;
	char *end;
	if (*p == '-') {
		if (!isdigit((unsigned char)p[1]))
			return 1;
		unsigned long long n = strtoull(p + 1, &end, 10);
		if (*end)
			return 1;
		if (n == 0 || size == 0)
			return -1;
		*first = n >= size ? 0 : size - n;
		*last = size - 1;
		return 0;
	}
	if (!isdigit((unsigned char)*p))
		return 1;
	unsigned long long a = strtoull(p, &end, 10);
	if (*end != '-')
		return 1;
	p = end + 1;
	unsigned long long b = size ? size - 1 : 0;
	if (*p) {
		if (!isdigit((unsigned char)*p))
			return 1;
		b = strtoull(p, &end, 10);
		if (*end || b < a)
			return 1;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = b;
	return 0;
}

static const char *mime_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".jpg", "image/jpeg" },
		{ ".ico", "image/x-icon" },
		{ ".woff2", "font/woff2" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".mp4", "video/mp4" },
		{ ".vtt", "text/vtt; charset=utf-8" },
		{ ".srt", "application/x-subrip" },
	};
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* Serves dir/name (name already validated as a flat file name). Opened
 * without blocking and checked to be a regular file before anything reads
 * it: opening a FIFO planted there would otherwise block this HTTP thread
 * until someone writes to it, and a device could be read forever. */
static enum MHD_Result serve_file(server *s, struct MHD_Connection *c, const char *dir,
				  const char *name, int ranges)
{
	char path[4096];
	struct stat st;

	if (!dir || snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return respond_not_found(s, c);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return respond_not_found(s, c);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return respond_not_found(s, c);
	}
	/* A regular file: reads of it never block, O_NONBLOCK or not. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	uint64_t size = (uint64_t)st.st_size, first = 0, last = size ? size - 1 : 0;
	int rc = ranges ? server_parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"),
				      size, &first, &last) : 1;
	if (rc < 0) {
		close(fd);
		char cr[64];
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
		const char *body = "{\"detail\":\"Range not satisfiable\",\"error\":\"range\","
				   "\"field\":\"Range\",\"rule\":\"within the file size\"}";
		struct MHD_Response *r = MHD_create_response_from_buffer(
			strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		return respond(s, c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
	}
	uint64_t len = rc == 0 ? last - first + 1 : size;
	struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, rc == 0 ? first : 0);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, mime_type(name));
	if (ranges)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (rc == 0) {
		char cr[96];
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		return respond(s, c, MHD_HTTP_PARTIAL_CONTENT, r);
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
				ranges ? "public, max-age=86400" : "no-cache");
	return respond(s, c, MHD_HTTP_OK, r);
}

int server_flat_name_ok(const char *n)
{
	if (!*n || *n == '.' || strlen(n) > 255)
		return 0;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '.' && *n != '_' && *n != '-')
			return 0;
	return 1;
}

/* /media/{id}.mp4, and the captions and poster beside it ({id}.vtt, .srt,
 * .jpg, .thumb.jpg: job_media_files). */
static enum MHD_Result handle_media(server *s, struct MHD_Connection *c, const char *name)
{
	char id[37];
	int known = strlen(name) > 36 && strcmp(name + 36, ".mp4") == 0;
	for (int i = 0; i < JOB_MEDIA_N && !known && strlen(name) > 36; i++)
		known = strcmp(name + 36, job_media_files[i].suffix) == 0;
	if (!known)
		return respond_not_found(s, c);
	memcpy(id, name, 36);
	id[36] = '\0';
	if (!util_uuid_valid(id))
		return respond_not_found(s, c);
	return serve_file(s, c, s->videos_dir, name, 1);
}

/* ===================================================================
 * /metrics and /healthz
 * =================================================================== */

/* Appends a Prometheus label value: backslash, quote and newline escaped
 * (stage ids and statuses come from a pipeline file). */
static void label_put(strbuf *sb, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			sb_append(sb, "\\", 1);
		if (*v == '\n')
			sb_append(sb, "\\n", 2);
		else
			sb_append(sb, v, 1);
	}
}

static void metrics_status_cb(void *ud, const char *status, long long n)
{
	strbuf *sb = ud;
	sb_puts(sb, "vidgen_jobs{status=\"");
	label_put(sb, status);
	sb_printf(sb, "\"} %lld\n", n);
}

/* Every stage id a pipeline of this daemon has had, in the order first
 * seen: a reload that drops a stage keeps its totals. */
static void metrics_stages(server *s, strbuf *sb)
{
	sb_puts(sb, "# HELP vidgen_stage_duration_seconds Time spent in each pipeline stage.\n"
		"# TYPE vidgen_stage_duration_seconds summary\n");
	pthread_mutex_lock(&s->pipe_lock);
	for (stage_stat *st = s->stats; st; st = st->next) {
		sb_puts(sb, "vidgen_stage_duration_seconds_sum{stage=\"");
		label_put(sb, st->id);
		sb_printf(sb, "\"} %.3f\n", (double)atomic_load(&st->sum_ms) / 1000.0);
		sb_puts(sb, "vidgen_stage_duration_seconds_count{stage=\"");
		label_put(sb, st->id);
		sb_printf(sb, "\"} %lld\n", (long long)atomic_load(&st->count));
	}
	sb_puts(sb, "# HELP vidgen_stage_failures_total Stage runs that failed.\n"
		"# TYPE vidgen_stage_failures_total counter\n");
	for (stage_stat *st = s->stats; st; st = st->next) {
		sb_puts(sb, "vidgen_stage_failures_total{stage=\"");
		label_put(sb, st->id);
		sb_printf(sb, "\"} %lld\n", (long long)atomic_load(&st->failures));
	}
	pthread_mutex_unlock(&s->pipe_lock);
}

/* The pipeline generation (1 at start, +1 per reload that took). */
static void metrics_pipeline(server *s, strbuf *sb)
{
	unsigned long gen = server_generation(s);
	sb_printf(sb, "# HELP vidgen_pipeline_generation The loaded pipeline: 1 at start, one "
		  "more for each reload (SIGHUP) that took.\n"
		  "# TYPE vidgen_pipeline_generation gauge\nvidgen_pipeline_generation %lu\n"
		  "# HELP vidgen_pipeline_reloads_total Reloads (SIGHUP), by result.\n"
		  "# TYPE vidgen_pipeline_reloads_total counter\n"
		  "vidgen_pipeline_reloads_total{result=\"ok\"} %lu\n"
		  "vidgen_pipeline_reloads_total{result=\"refused\"} %lu\n"
		  "# HELP vidgen_pipelines_loaded Pipelines in memory: the current one and "
		  "older ones that running jobs still use.\n"
		  "# TYPE vidgen_pipelines_loaded gauge\nvidgen_pipelines_loaded %d\n",
		  gen, gen - 1, atomic_load(&s->reloads_refused),
		  atomic_load(&s->pipelines_alive));
}

/* What jobs used (usage.h) and the file cache's work. */
static void metrics_usage(server *s, strbuf *sb)
{
	usage_totals *t = &s->usage;
	file_cache_stats fc;

	sb_puts(sb, "# HELP vidgen_usage_total What the stages of jobs used, by counter "
		"(tokens, characters, requests, cache hits, seconds, attempts).\n"
		"# TYPE vidgen_usage_total counter\n");
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		sb_printf(sb, "vidgen_usage_total{counter=\"%s\"} %.3f\n", t->v[i].name,
			  t->v[i].value);
	if (t->currency[0])
		sb_printf(sb, "# HELP vidgen_cost_total Estimated cost of the jobs' usage by "
			  "the pipeline's prices.\n# TYPE vidgen_cost_total counter\n"
			  "vidgen_cost_total{currency=\"%s\"} %.9f\n", t->currency, t->cost);
	pthread_mutex_unlock(&t->lock);
	file_cache_stats_get(&fc);
	sb_printf(sb, "# HELP vidgen_cache_hits_total File cache (narration audio) lookups "
		  "that found the file.\n# TYPE vidgen_cache_hits_total counter\n"
		  "vidgen_cache_hits_total %llu\n"
		  "# HELP vidgen_cache_misses_total File cache lookups that did not.\n"
		  "# TYPE vidgen_cache_misses_total counter\nvidgen_cache_misses_total %llu\n"
		  "# HELP vidgen_cache_stores_total Files stored in the file cache.\n"
		  "# TYPE vidgen_cache_stores_total counter\nvidgen_cache_stores_total %llu\n"
		  "# HELP vidgen_cache_evictions_total Least recently used files evicted "
		  "over the cap.\n# TYPE vidgen_cache_evictions_total counter\n"
		  "vidgen_cache_evictions_total %llu\n"
		  "# HELP vidgen_cache_bytes Bytes in the file cache as last measured.\n"
		  "# TYPE vidgen_cache_bytes gauge\nvidgen_cache_bytes %lld\n",
		  fc.hits, fc.misses, fc.stores, fc.evictions, fc.bytes);
}

static enum MHD_Result handle_metrics(server *s, struct MHD_Connection *c)
{
	strbuf sb = { 0 };
	char err[256];

	sb_puts(&sb, "# HELP vidgen_http_requests_total HTTP requests answered, by status code.\n"
		"# TYPE vidgen_http_requests_total counter\n");
	for (int code = 100; code < 600; code++) {
		unsigned long n = atomic_load_explicit(&s->http_codes[code], memory_order_relaxed);
		if (n)
			sb_printf(&sb, "vidgen_http_requests_total{code=\"%d\"} %lu\n", code, n);
	}
	sb_printf(&sb, "# HELP vidgen_http_threads HTTP threads.\n"
		  "# TYPE vidgen_http_threads gauge\nvidgen_http_threads %d\n"
		  "# HELP vidgen_http_rehomed_connections_total Keep-alive connections closed "
		  "so that their client reconnects to the thread of its own CPU.\n"
		  "# TYPE vidgen_http_rehomed_connections_total counter\n"
		  "vidgen_http_rehomed_connections_total %lu\n", s->n_shards,
		  atomic_load_explicit(&s->rehomed, memory_order_relaxed));
	sb_puts(&sb, "# HELP vidgen_http_refused_total Requests and connections refused for "
		"fair share, by reason.\n# TYPE vidgen_http_refused_total counter\n");
	for (int i = 0; i < REFUSE_N; i++)
		sb_printf(&sb, "vidgen_http_refused_total{reason=\"%s\"} %lu\n", refusals[i].error,
			  atomic_load_explicit(&s->refused[i], memory_order_relaxed));
	sb_printf(&sb, "# HELP vidgen_http_streams Open /events streams.\n"
		  "# TYPE vidgen_http_streams gauge\nvidgen_http_streams %d\n"
		  "# HELP vidgen_http_clients Clients holding connections, streams, queued jobs "
		  "or part of their create budget.\n"
		  "# TYPE vidgen_http_clients gauge\nvidgen_http_clients %zu\n",
		  atomic_load(&s->streams), client_table_count(s->clients));
	sb_puts(&sb, "# HELP vidgen_jobs Jobs in the store, by status.\n# TYPE vidgen_jobs gauge\n");
	if (store_count_by_status(s->store, metrics_status_cb, &sb, err, sizeof(err)) != 0)
		log_msg(VG_LOG_ERROR, "serve: metrics: %s", err);
	long qlen = atomic_load(&s->qlen);
	long long waiting;
	/* A shared queue's length is the store's: every node adds and takes. */
	if (s->shared && store_count_waiting(s->store, &waiting, err, sizeof(err)) == 0)
		qlen = (long)waiting;
	sb_printf(&sb, "# HELP vidgen_queue_length Jobs waiting for a worker.\n"
		  "# TYPE vidgen_queue_length gauge\nvidgen_queue_length %ld\n", qlen);
	sb_printf(&sb, "# HELP vidgen_jobs_running Jobs a worker is running.\n"
		  "# TYPE vidgen_jobs_running gauge\nvidgen_jobs_running %d\n",
		  atomic_load(&s->running));
	sb_printf(&sb, "# HELP vidgen_workers Jobs that may run at once.\n"
		  "# TYPE vidgen_workers gauge\nvidgen_workers %d\n", s->o.max_concurrent);
	store_counts sc;
	store_get_counts(s->store, &sc);
	sb_printf(&sb, "# HELP vidgen_store_batches_total Transactions the job store's writer "
		  "committed.\n# TYPE vidgen_store_batches_total counter\n"
		  "vidgen_store_batches_total %llu\n"
		  "# HELP vidgen_store_writes_total Writes those transactions held.\n"
		  "# TYPE vidgen_store_writes_total counter\nvidgen_store_writes_total %llu\n"
		  "# HELP vidgen_store_folded_total Updates of a job written as a later one of "
		  "the same batch.\n# TYPE vidgen_store_folded_total counter\n"
		  "vidgen_store_folded_total %llu\n"
		  "# HELP vidgen_store_round_trips_total Exchanges with the store's server.\n"
		  "# TYPE vidgen_store_round_trips_total counter\n"
		  "vidgen_store_round_trips_total %llu\n",
		  sc.batches, sc.writes, sc.folded, sc.round_trips);
	if (s->leases) {
		long long n = 0;
		double p50 = lease_claim_quantile(s->leases, 0.5, &n);
		double p99 = lease_claim_quantile(s->leases, 0.99, &n);
		sb_printf(&sb, "# HELP vidgen_claim_seconds Time a worker took to claim a job from "
			  "the shared store (quantiles of the last %d claims).\n"
			  "# TYPE vidgen_claim_seconds summary\n"
			  "vidgen_claim_seconds{quantile=\"0.5\"} %.6f\n"
			  "vidgen_claim_seconds{quantile=\"0.99\"} %.6f\n"
			  "vidgen_claim_seconds_count %lld\n", LEASE_CLAIMS_KEPT, p50, p99, n);
	}
	metrics_stages(s, &sb);
	metrics_pipeline(s, &sb);
	metrics_usage(s, &sb);
	enum MHD_Result ret = respond_text(s, c, MHD_HTTP_OK, sb.buf ? sb.buf : "", sb.len,
					   "text/plain; version=0.0.4; charset=utf-8");
	sb_free(&sb);
	return ret;
}

static enum MHD_Result handle_healthz(server *s, struct MHD_Connection *c)
{
	char body[160], err[256];
	long qlen = atomic_load(&s->qlen);
	long long waiting;

	/* A worker does not count the store's queue each second (shared_refresh):
	 * it counts when asked, as /metrics does. */
	if (s->shared && s->o.role == SERVER_ROLE_WORKER &&
	    store_count_waiting(s->store, &waiting, err, sizeof(err)) == 0)
		qlen = (long)waiting;
	int n = snprintf(body, sizeof(body),
			 "{\"status\":\"ok\",\"queued\":%ld,\"running\":%d,\"workers\":%d}",
			 qlen, atomic_load(&s->running), s->o.max_concurrent);
	return respond_text(s, c, MHD_HTTP_OK, body, (size_t)n, "application/json");
}

/* ===================================================================
 * Routing.
 * =================================================================== */

static int is_get(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static enum MHD_Result handle_options(server *s, struct MHD_Connection *c, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
								 MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	MHD_add_response_header(r, "Access-Control-Allow-Methods", allow);
	MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
	MHD_add_response_header(r, "Access-Control-Max-Age", "600");
	return respond(s, c, MHD_HTTP_NO_CONTENT, r);
}

/* /api/v1/videos/{id}[/status|/events] */
static enum MHD_Result route_video(server *s, struct MHD_Connection *c, const char *m,
				   const char *rest)
{
	char id[37];
	const char *slash = strchr(rest, '/');
	size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *sub = slash ? slash + 1 : "";
	int known_sub = !slash || strcmp(sub, "status") == 0 || strcmp(sub, "events") == 0;

	if (!known_sub)
		return respond_not_found(s, c);
	/* The id first: a path naming no job is not there for any method, a
	 * preflight included. Ids are matched in lower case (RFC 9562). */
	if (idlen != 36)
		return respond_video_not_found(s, c);
	for (size_t i = 0; i < 36; i++)
		id[i] = (char)tolower((unsigned char)rest[i]);
	id[36] = '\0';
	if (!util_uuid_valid(id))
		return respond_video_not_found(s, c);
	const char *allow = !slash ? "GET, DELETE, OPTIONS" : "GET, OPTIONS";
	if (strcmp(m, "OPTIONS") == 0)
		return handle_options(s, c, allow);
	if (!(is_get(m) || (!slash && strcmp(m, "DELETE") == 0)))
		return respond_405(s, c, allow);
	if (strcmp(m, "DELETE") == 0)
		return handle_cancel(s, c, id);
	if (strcmp(sub, "events") == 0)
		return handle_events(s, c, id);
	int code = 0;
	blob *b = status_lookup(s, id, &code);
	if (!b)
		return code == MHD_HTTP_NOT_FOUND ? respond_video_not_found(s, c) :
			respond_store_read_error(s, c);
	return respond_blob(s, c, MHD_HTTP_OK, b, "application/json");
}

static enum MHD_Result route(server *s, struct MHD_Connection *c, const char *url,
			     const char *m, req_ctx *rq)
{
	/* A worker's small port answers its health and metrics only. */
	if (s->o.role == SERVER_ROLE_WORKER && strcmp(url, "/healthz") != 0 &&
	    strcmp(url, "/metrics") != 0)
		return respond_not_found(s, c);
	if (strncmp(url, "/api/v1/videos/", 15) == 0)
		return route_video(s, c, m, url + 15);
	if (strcmp(url, "/api/v1/videos") == 0) {
		if (strcmp(m, "POST") == 0)
			return handle_create(s, c, rq);
		if (is_get(m))
			return handle_list(s, c);
		if (strcmp(m, "OPTIONS") == 0)
			return handle_options(s, c, "GET, POST, OPTIONS");
		return respond_405(s, c, "GET, POST, OPTIONS");
	}
	int config = strcmp(url, "/api/v1/config") == 0;
	if (config || strcmp(url, "/api/v1/openapi.json") == 0) {
		if (strcmp(m, "OPTIONS") == 0)
			return handle_options(s, c, "GET, OPTIONS");
		if (!is_get(m))
			return respond_405(s, c, "GET, OPTIONS");
		/* Both come from the pipeline loaded now. */
		held_pipeline *h = held_current(s);
		blob *b = blob_ref(config ? h->config_json : h->openapi_json);
		held_release(h);
		return respond_blob(s, c, MHD_HTTP_OK, b, "application/json");
	}
	int getonly = strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0 ||
		      strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0 ||
		      strncmp(url, "/assets/", 8) == 0 || strncmp(url, "/media/", 7) == 0;
	if (!getonly)
		return respond_not_found(s, c);
	if (!is_get(m))
		return respond_405(s, c, "GET, HEAD");
	if (strcmp(url, "/healthz") == 0)
		return handle_healthz(s, c);
	if (strcmp(url, "/metrics") == 0)
		return handle_metrics(s, c);
	if (strncmp(url, "/media/", 7) == 0)
		return handle_media(s, c, url + 7);
	if (strncmp(url, "/assets/", 8) == 0)
		return server_flat_name_ok(url + 8) ? serve_file(s, c, s->web_dir, url + 8, 0) :
			respond_not_found(s, c);
	return serve_file(s, c, s->web_dir, "index.html", 0);
}

/* What *con_cls holds until a request has a req_ctx (only creates get
 * one): set by on_uri when the request line is read, then by on_request. */
enum { MARK_NEW, MARK_URI_LONG, MARK_ARGS, MARK_HEADERS_SEEN, MARK_N };
static char request_marks[MARK_N];

static int request_mark(const void *p)
{
	for (int i = 0; i < MARK_N; i++)
		if (p == &request_marks[i])
			return 1;
	return 0;
}

/* Called by libmicrohttpd when it has read the request line, before it
 * splits the query into arguments, each taking a record of the
 * connection's memory: 0.9.75 left a request unanswered once they filled
 * it (about 230 arguments). A query beyond ARGS_MAX arguments, or a path
 * and query beyond URI_MAX bytes, is cut off here, in libmicrohttpd's own
 * buffer (it parses the query from the byte after the '?'), and
 * on_request answers 414. The return value becomes the request's *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)c;
	if (!uri)
		return &request_marks[MARK_NEW];
	char *q = strchr(uri, '?');
	size_t args = 0;
	for (const char *p = q; p && *p; p++)
		args += *p == '?' || *p == '&';
	size_t len = strlen(uri);
	if (len <= URI_MAX && args <= ARGS_MAX)
		return &request_marks[MARK_NEW];
	if (q && q[1])
		q[1] = '\0';
	return &request_marks[args > ARGS_MAX ? MARK_ARGS : MARK_URI_LONG];
}

/* What the framing checks need from a request's headers. */
typedef struct head_scan {
	unsigned n;
	int bad_name;            /* a name that is not an HTTP token */
	unsigned n_length, n_encoding;
	const char *length;      /* the first Content-Length */
	int lengths_differ;
	const char *encoding;    /* the last Transfer-Encoding */
} head_scan;

static int token_char(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static enum MHD_Result head_scan_one(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	head_scan *h = cls;
	(void)kind;

	h->n++;
	h->bad_name |= !*key;
	for (const char *k = key; *k && !h->bad_name; k++)
		h->bad_name = !token_char((unsigned char)*k);
	if (!value)
		value = "";
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (!h->n_length++)
			h->length = value;
		else if (strcmp(h->length, value) != 0)
			h->lengths_differ = 1;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		h->n_encoding++;
		h->encoding = value;
	}
	return MHD_YES;
}

/* Checks a request before it is routed: its connection's share, the size
 * limits, and framing a proxy in front could read another way than this
 * server does (request smuggling). 1 with *ret set when it answered. */
static int request_refuse(server *s, struct MHD_Connection *c, const void *mark,
			  enum MHD_Result *ret)
{
	conn_ctx *cc = conn_ctx_of(c);
	head_scan h = { 0 };
	char detail[160];

#define REFUSE(code, error, field, rule, ...) do { \
		snprintf(detail, sizeof(detail), __VA_ARGS__); \
		*ret = respond_error_close(s, c, code, error, field, rule, detail); \
		return 1; } while (0)

	if (cc && cc->refused) {
		*ret = respond_refused(s, c, (enum refusal)(cc->refused - 1), 0);
		return 1;
	}
	if (mark == &request_marks[MARK_URI_LONG])
		REFUSE(HTTP_URI_TOO_LONG, "uri_too_long", "uri", "max_bytes:" STRINGIFY(URI_MAX),
		       "The path and query are longer than %d bytes", URI_MAX);
	if (mark == &request_marks[MARK_ARGS])
		REFUSE(HTTP_URI_TOO_LONG, "uri_too_long", "query",
		       "max_arguments:" STRINGIFY(ARGS_MAX),
		       "The query has more than %d arguments", ARGS_MAX);
	MHD_get_connection_values(c, MHD_HEADER_KIND, head_scan_one, &h);
	if (h.n > HEADERS_MAX)
		REFUSE(HTTP_HEADERS_TOO_LARGE, "headers_too_large", "headers",
		       "max_count:" STRINGIFY(HEADERS_MAX), "The request has more than %d headers",
		       HEADERS_MAX);
	if (h.bad_name)
		REFUSE(MHD_HTTP_BAD_REQUEST, "malformed_request", "headers", "token",
		       "A header name is empty or holds a space or another byte names may not");
	if (h.lengths_differ)
		REFUSE(MHD_HTTP_BAD_REQUEST, "malformed_request", MHD_HTTP_HEADER_CONTENT_LENGTH,
		       "one_value", "Two different Content-Length headers");
	if (h.n_encoding && h.n_length)
		REFUSE(MHD_HTTP_BAD_REQUEST, "malformed_request", MHD_HTTP_HEADER_TRANSFER_ENCODING,
		       "not_with:Content-Length",
		       "Content-Length and Transfer-Encoding in one request");
	if (h.n_encoding > 1 || (h.n_encoding && strcasecmp(h.encoding, "chunked") != 0))
		REFUSE(MHD_HTTP_BAD_REQUEST, "malformed_request", MHD_HTTP_HEADER_TRANSFER_ENCODING,
		       "enum:chunked", "The only Transfer-Encoding taken is a single chunked");
	return 0;
#undef REFUSE
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	http_shard *sh = cls;
	server *s = sh->srv;
	static _Thread_local int pinned;
	int post = strcmp(method, "POST") == 0;
	req_ctx *rq;
	(void)version;

	if (!pinned) {
		/* This is the shard's own (only) thread. */
		if (listen_pin_self(sh->cpu) != 0)
			log_msg(VG_LOG_DEBUG, "serve: cannot pin an HTTP thread to CPU %d", sh->cpu);
		tls_shard = (int)(sh - s->shards);
		pinned = 1;
	}
	if (!*con_cls || (request_mark(*con_cls) &&
			  *con_cls != &request_marks[MARK_HEADERS_SEEN])) {
		/* First call: the headers are in. */
		enum MHD_Result ret;
		if (request_refuse(s, c, *con_cls, &ret))
			return ret;
		if (!post) {
			/* Answer on the second call: a response queued on the
			 * first one (before MHD has seen the whole request)
			 * closes the connection, which would cost every
			 * keep-alive client a new connection. */
			*con_cls = &request_marks[MARK_HEADERS_SEEN];
			return MHD_YES;
		}
		rq = xcalloc(1, sizeof(*rq));
		*con_cls = rq;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		long long n;
		if (cl && parse_ll(cl, 0, (long long)(~0ULL >> 1), &n) == 0 &&
		    (unsigned long long)n > s->o.body_limit) {
			rq->too_large = 1;
			return route(s, c, url, method, rq); /* refuse before reading */
		}
		return MHD_YES;
	}
	if (!post) {
		if (*upload_data_size) {
			*upload_data_size = 0; /* a body on GET/DELETE is ignored */
			return MHD_YES;
		}
		return route(s, c, url, method, NULL);
	}
	rq = *con_cls;
	if (*upload_data_size) {
		if (rq->body.len + *upload_data_size > s->o.body_limit)
			rq->too_large = 1;
		else
			sb_append(&rq->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return route(s, c, url, method, rq);
}

/* Closes at once a connection from an address that holds twice its share
 * already (the share is served, as many again are answered 429): a flood
 * of connections from one client cannot fill the daemon's table. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	server *s = cls;
	(void)len;
	if (s->o.client_connections <= 0)
		return MHD_YES;
	client_id who = client_id_addr(addr);
	if (!who || client_conn_count(s->clients, who) < 2 * s->o.client_connections)
		return MHD_YES;
	atomic_fetch_add_explicit(&s->refused[REFUSE_CONNECTIONS], 1, memory_order_relaxed);
	return MHD_NO;
}

/* Counts each connection for its address; one beyond the address's share
 * (or with no room left to track it) is answered 429 (503) at its first
 * request and closed, and closed sooner if it sends none. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	server *s = cls;
	conn_ctx *cc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		cc = xcalloc(1, sizeof(conn_ctx));
		*socket_context = cc;
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		cc->addr = ci ? client_id_addr(ci->client_addr) : 0;
		if (!cc->addr)
			return;
		enum client_verdict v = client_conn_open(s->clients, cc->addr, util_now_ms());
		cc->counted = v != CLIENT_TABLE_FULL;
		if (v == CLIENT_OK)
			return;
		cc->refused = 1 + (v == CLIENT_OVER_LIMIT ? REFUSE_CONNECTIONS : REFUSE_CLIENTS);
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
					  (unsigned)OVER_LIMIT_TIMEOUT_S);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (cc && cc->counted)
			client_conn_close(s->clients, cc->addr, util_now_ms());
		free(cc);
		*socket_context = NULL;
	}
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	req_ctx *rq = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	/* Only POST requests carry a req_ctx; others hold the marker. */
	if (rq && !request_mark(rq)) {
		/* A create the store refused whose client left before the
		 * answer: its share goes back all the same. */
		if (rq->admitted && atomic_load(&rq->state) == CREATE_DONE && rq->rc != 0)
			create_undo(rq->srv, rq->who, rq->rec.id);
		sb_free(&rq->body);
		store_job_clear(&rq->rec);
		free(rq);
		*con_cls = NULL;
	}
}

/* ===================================================================
 * Retention and the ticker thread.
 * =================================================================== */

/* Finished jobs created before a cutoff, found among the jobs the shared
 * artifacts hold. */
typedef struct old_jobs {
	server *s;
	time_t cutoff;
	char (*ids)[37];
	size_t n;
} old_jobs;

static void note_old_job(void *ud, const char *id)
{
	old_jobs *o = ud;
	store_job r;
	struct tm tm = { 0 };
	char err[256];
	int old;

	if (store_get(o->s->store, id, &r, err, sizeof(err)) != 0)
		return; /* unknown here (another store's?): the lifecycle rule's */
	old = r.finished && strptime(r.created_at, "%Y-%m-%dT%H:%M:%S", &tm) &&
	      timegm(&tm) < o->cutoff;
	store_job_clear(&r);
	if (!old)
		return;
	o->ids = xrealloc(o->ids, (o->n + 1) * sizeof(*o->ids));
	memcpy(o->ids[o->n++], id, 37);
}

/* Deletes the shared artifacts (the pipeline's, any node may) of finished
 * jobs created before cutoff: the local sweep cannot see them. */
static void retention_sweep_artifacts(server *s, time_t cutoff)
{
	held_pipeline *h = held_current(s);
	artifacts *a = NULL;
	old_jobs o = { s, cutoff, NULL, 0 };
	char err[1024];
	long n;

	if (h->p->artifacts && !(a = artifacts_open(h->p->artifacts, err, sizeof(err))))
		log_msg(VG_LOG_WARN, "serve: retention: %s", err);
	held_release(h);
	if (!a)
		return;
	if (artifacts_list_jobs(a, note_old_job, &o, err, sizeof(err)) < 0)
		log_msg(VG_LOG_WARN, "serve: retention: %s", err);
	for (size_t i = 0; i < o.n && !atomic_load(&s->stopping); i++) {
		if (artifacts_delete_job(a, o.ids[i], &n, err, sizeof(err)) < 0)
			log_msg(VG_LOG_WARN, "serve: retention: job %s: %s", o.ids[i], err);
		else
			log_msg(VG_LOG_INFO, "serve: retention removed the %ld shared artifacts "
				"of job %s", n, o.ids[i]);
	}
	free(o.ids);
	artifacts_free(a);
}

/* Removes local files older than the retention: videos/<id>.mp4 and the
 * job directories of finished jobs; and the shared artifacts of finished
 * jobs created before it. Job records stay. */
static void retention_sweep(server *s)
{
	if (s->o.retention_days <= 0)
		return;
	time_t cutoff = time(NULL) - (time_t)s->o.retention_days * 86400;
	struct dirent *d;
	struct stat st;
	char path[4096], err[256];
	DIR *dir = opendir(s->videos_dir);

	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] == '.' || snprintf(path, sizeof(path), "%s/%s", s->videos_dir,
						    d->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < cutoff &&
		    unlink(path) == 0)
			log_msg(VG_LOG_INFO, "serve: retention removed %s", path);
	}
	if (dir)
		closedir(dir);
	dir = opendir(s->jobs_dir);
	while (dir && (d = readdir(dir))) {
		store_job r;
		if (!util_uuid_valid(d->d_name) ||
		    snprintf(path, sizeof(path), "%s/%s", s->jobs_dir, d->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_mtime >= cutoff)
			continue;
		/* An unfinished job still needs its stages' outputs. */
		int rc = store_get(s->store, d->d_name, &r, err, sizeof(err));
		int finished = rc == 1 || (rc == 0 && r.finished);
		if (rc == 0)
			store_job_clear(&r);
		if (finished && util_rm_rf(path) == 0)
			log_msg(VG_LOG_INFO, "serve: retention removed %s", path);
	}
	if (dir)
		closedir(dir);
	retention_sweep_artifacts(s, cutoff);
}

/* Clients get back their share of the queue for their jobs another node's
 * worker took (a local claim gives it back at once). */
static void owners_refresh(server *s)
{
	char (*ids)[37] = NULL;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&s->qlock);
	for (size_t b = 0; b < OWNER_BUCKETS; b++)
		for (owner *o = s->owners[b]; o; o = o->next) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				ids = xrealloc(ids, cap * sizeof(*ids));
			}
			memcpy(ids[n++], o->id, 37);
		}
	pthread_mutex_unlock(&s->qlock);
	for (size_t i = 0; i < n; i++) {
		store_job r;
		char err[256];
		int rc = store_get(s->store, ids[i], &r, err, sizeof(err));
		if (rc < 0)
			break;
		int left = rc == 1 || r.finished || strcmp(r.status, "queued") != 0;
		if (rc == 0)
			store_job_clear(&r);
		if (!left)
			continue;
		pthread_mutex_lock(&s->qlock);
		client_id who = owner_take_locked(s, ids[i]);
		pthread_mutex_unlock(&s->qlock);
		if (who)
			client_queued_done(s->clients, who, util_now_ms());
	}
	free(ids);
}

/* A shared store's queue as this node counts it (qlen, the cap's count)
 * brought back to the store's: other nodes create and claim too. A worker
 * admits no creates and its /metrics counts for itself: it does not count
 * (a count reads every waiting job: 5-135 ms of the server's CPU each
 * second, from each worker, with 10,000 queued). */
static void shared_refresh(server *s)
{
	long long n = 0;
	char err[256];

	if (s->o.role != SERVER_ROLE_WORKER &&
	    store_count_waiting(s->store, &n, err, sizeof(err)) == 0) {
		atomic_store(&s->qlen, (long)n);
		atomic_store(&s->admitted, (long)n);
	}
	if (s->o.client_queued > 0)
		owners_refresh(s);
}

static void *ticker_main(void *arg)
{
	server *s = arg;
	long long last_sweep = 0, last_keepalive = util_now_ms();
	/* A shared store's counts are refreshed each second; the keepalives
	 * keep their own pace. */
	int wait_s = s->shared ? 1 : SSE_KEEPALIVE_S;

	pthread_mutex_lock(&s->tick_lock);
	while (!atomic_load(&s->stopping)) {
		long long now = util_now_ms();
		if (!last_sweep || now - last_sweep >= RETENTION_EVERY_S * 1000LL) {
			pthread_mutex_unlock(&s->tick_lock);
			retention_sweep(s);
			pthread_mutex_lock(&s->tick_lock);
			last_sweep = now;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_s;
		pthread_cond_timedwait(&s->tick_cv, &s->tick_lock, &ts);
		if (atomic_load(&s->stopping))
			break;
		if (s->shared) {
			pthread_mutex_unlock(&s->tick_lock);
			shared_refresh(s);
			pthread_mutex_lock(&s->tick_lock);
			if (util_now_ms() - last_keepalive < SSE_KEEPALIVE_S * 1000LL - 500)
				continue;
		}
		last_keepalive = util_now_ms();
		/* Keepalives let an idle /events stream notice a gone client. */
		pthread_mutex_lock(&s->cache.lock);
		for (sse_conn *c = s->sse_all; c; c = c->next_all)
			if (c->suspended) {
				c->keepalive_due = 1;
				c->suspended = 0;
				MHD_resume_connection(c->conn);
			}
		pthread_mutex_unlock(&s->cache.lock);
	}
	pthread_mutex_unlock(&s->tick_lock);
	return NULL;
}

/* ===================================================================
 * Start and stop.
 * =================================================================== */

void server_opts_default(server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 8000;
	o->max_concurrent = 2;
	o->retention_days = 7;
	o->http_threads = 0; /* one per CPU this process may use */
	o->http_affinity = 1;
	o->body_limit = 64 * 1024;
	o->idle_timeout_s = 30;
	o->cache_entries = 256;
	o->shutdown_grace_ms = 10000;
	o->max_connections = 4096;
	o->max_streams = 1024;
	o->client_connections = 256;
	o->client_streams = 32;
	o->max_queued = 200;
	o->client_queued = 10;
	o->create_rate = 2;
	o->create_burst = 5;
	o->lease_ms = 20000;
}

static blob *config_blob(const pipeline *p)
{
	strbuf sb = { 0 };
	sb_puts(&sb, "{\"models\":[");
	int first = 1;
	for (size_t i = 0; i < p->n_models; i++) {
		if (!p->models[i].selectable)
			continue;
		if (!first)
			sb_puts(&sb, ",");
		server_json_put_str(&sb, p->models[i].name);
		first = 0;
	}
	sb_puts(&sb, "],\"voices\":[");
	for (size_t i = 0; i < p->n_voices; i++) {
		if (i)
			sb_puts(&sb, ",");
		server_json_put_str(&sb, p->voices[i]);
	}
	sb_puts(&sb, "]}");
	blob *b = blob_new(sb.buf, sb.len);
	sb_free(&sb);
	return b;
}

/* On a shared store: workers claim under leases renewed by a table of
 * their own, woken by the store's LISTEN. The API alone or workers alone
 * need a shared store: with a store of its own nobody else would run or
 * see the jobs. */
static int shared_start(server *s, char *err, size_t errlen)
{
	s->shared = store_is_shared(s->store);
	if (!s->shared && s->o.role != SERVER_ROLE_ALL) {
		util_errf(err, errlen, "%s needs a store the API nodes and workers share: "
			  "--db postgresql://... (or VIDGEN_DB); a SQLite file is one process's "
			  "own", s->o.role == SERVER_ROLE_API ? "--no-workers" : "a worker");
		return -1;
	}
	if (!s->shared)
		return 0;
	/* Only a worker's writes wait for the job's end (store_set_hold): a
	 * node that serves status shows a state as soon as it is queued, and
	 * a crash must not take back what a client saw. */
	if (s->o.role != SERVER_ROLE_WORKER)
		store_set_hold(s->store, 0);
	if (s->o.lease_ms < 1000)
		s->o.lease_ms = 1000;
	if (s->o.role != SERVER_ROLE_API) {
		s->leases = lease_table_new(s->store, s->o.max_concurrent, s->o.lease_ms,
					    on_lease_event, s);
		if (!s->leases) {
			util_errf(err, errlen, "cannot start the lease thread");
			return -1;
		}
	}
	atomic_store(&s->deaf, 1); /* until the listener's first RESYNC */
	/* A worker serves no status: it needs no news of each job's changes. */
	return store_listen(s->store, s->o.role != SERVER_ROLE_WORKER, on_store_note, s, err,
			    errlen);
}

/* Every unfinished job of the store waits for a worker again, oldest
 * first: jobs a crash or a stop interrupted continue where they were. */
static int requeue_unfinished(server *s, char *err, size_t errlen)
{
	long long n = 0;

	if (store_count_unfinished(s->store, &n, err, errlen) != 0)
		return -1;
	atomic_store(&s->qlen, (long)n);
	atomic_store(&s->admitted, (long)n);
	if (n)
		log_msg(VG_LOG_INFO, "serve: %lld unfinished job(s) continue", n);
	return 0;
}

/* MHD's own unescaping of the path and query values, except that %00 stays
 * as written: a decoded NUL cut them short ("/api/v1/videos/ID%00/status"
 * answered as ID's status, "before=1%00" as before=1). */
static size_t url_unescape(void *cls, struct MHD_Connection *c, char *text)
{
	char *w = text;
	int hi, lo;

	(void)cls;
	(void)c;
	for (const char *r = text; *r; r++) {
		if (r[0] == '%' && (hi = util_hex_value((unsigned char)r[1])) >= 0 &&
		    (lo = util_hex_value((unsigned char)r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return (size_t)(w - text);
}

/* Starts one libmicrohttpd daemon per listening socket: each has a single
 * thread, pinned to its CPU on its first request (listen.h says why). */
static int mhd_start(server *s, char *err, size_t errlen)
{
	listen_group g;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
	unsigned limit = (unsigned)s->o.max_connections / (unsigned)s->o.http_threads;

	if (limit < 16)
		limit = 16;

	if (listen_open(&g, s->o.host, s->o.port, s->o.http_threads, s->o.http_affinity,
			err, errlen) != 0)
		return -1;
	s->port = g.port;
	s->shards = xcalloc((size_t)g.n, sizeof(*s->shards));
	for (int i = 0; i < g.n; i++) {
		http_shard *sh = &s->shards[i];
		sh->srv = s;
		sh->cpu = g.cpus[i];
		sh->stream_cap = (int)limit / 2;
		sh->mhd = MHD_start_daemon(flags, 0, on_accept, s, on_request, sh,
					   MHD_OPTION_LISTEN_SOCKET, (MHD_socket)g.fds[i],
					   MHD_OPTION_CONNECTION_LIMIT, limit,
					   /* Headers only: bodies stream through on_request. */
					   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
					   MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
					   /* Also bounds a request sent byte by byte
					    * or left half-sent; /events streams send a
					    * keepalive every SSE_KEEPALIVE_S. */
					   MHD_OPTION_CONNECTION_TIMEOUT,
					   (unsigned)s->o.idle_timeout_s,
					   MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
					   MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
					   MHD_OPTION_UNESCAPE_CALLBACK, url_unescape, NULL,
					   MHD_OPTION_END);
		if (!sh->mhd) {
			util_errf(err, errlen, "cannot serve on %s:%d: libmicrohttpd did not start",
				  s->o.host, s->port);
			listen_close(&g); /* the sockets not handed over yet */
			return -1;
		}
		g.fds[i] = -1; /* the daemon owns it now */
		s->n_shards = i + 1;
	}
	if (g.steered) {
		int cpus[LISTEN_MAX_CPUS];
		int ncpus = listen_cpus(cpus, LISTEN_MAX_CPUS);
		s->cpu_shard = xcalloc(LISTEN_MAX_CPUS, sizeof(*s->cpu_shard));
		for (int cpu = 0; cpu < LISTEN_MAX_CPUS; cpu++)
			s->cpu_shard[cpu] = (short)listen_cpu_socket(cpus, ncpus, g.n, cpu);
	}
	log_msg(VG_LOG_INFO, "serve: %d HTTP thread(s)%s", g.n,
		g.steered ? ", each pinned to a CPU, connections steered to their CPU's thread" : "");
	listen_close(&g);
	return 0;
}

int server_start(pipeline *p, const server_opts *o, server **out,
		 char *err, size_t errlen)
{
	server *s = xcalloc(1, sizeof(*s));

	*out = NULL;
	s->o = *o;
	if (s->o.max_concurrent < 1)
		s->o.max_concurrent = 1;
	if (s->o.idle_timeout_s < 1)
		s->o.idle_timeout_s = 30;
	if (s->o.http_threads < 1) {
		int cpus[LISTEN_MAX_CPUS];
		int n = listen_cpus(cpus, LISTEN_MAX_CPUS);
		s->o.http_threads = n < 64 ? n : 64;
	}
	pthread_mutex_init(&s->pipe_lock, NULL);
	pthread_mutex_init(&s->usage.lock, NULL);
	if (s->o.max_connections < 1)
		s->o.max_connections = 4096;
	if (s->o.max_streams < 1)
		s->o.max_streams = 1;
	client_limits cl = { s->o.client_connections, s->o.client_streams, s->o.client_queued,
			     s->o.create_rate, s->o.create_burst };
	s->clients = client_table_new(&cl, 0);
	/* A shared store is a round trip away: the cache holds a larger
	 * working set of answers (4096 of about 600 bytes) than a local file
	 * needs. */
	size_t entries = s->o.cache_entries;
	if (store_is_url(o->db_path) && entries < SHARED_CACHE_ENTRIES)
		entries = SHARED_CACHE_ENTRIES;
	status_cache_init(&s->cache, entries);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qcv, NULL);
	pthread_mutex_init(&s->tick_lock, NULL);
	pthread_cond_init(&s->tick_cv, NULL);
	s->stats_tail = &s->stats;
	s->cur = held_new(s, p, err, errlen);
	if (!s->cur)
		goto fail;
	s->cur->generation = 1;
	cors_note(s);

	s->data_dir = util_path_abs(o->data_dir);
	/* Job folders sit in the data directory, next to videos/: where the
	 * file store plugin puts finished videos by default. */
	s->jobs_dir = xstrdup(s->data_dir);
	s->videos_dir = util_path_join(s->data_dir, "videos");
	s->web_dir = o->web_dir ? util_path_abs(o->web_dir) : NULL;
	if (util_data_dir_make(s->data_dir, err, errlen) != 0 ||
	    util_data_dir_make(s->videos_dir, err, errlen) != 0)
		goto fail;
	if (store_open(o->db_path, &s->store, err, errlen) != 0 ||
	    requeue_unfinished(s, err, errlen) != 0 || shared_start(s, err, errlen) != 0 ||
	    shared_pipeline_ok(s, s->cur->p, err, errlen) != 0)
		goto fail;
	int n_workers = s->o.role == SERVER_ROLE_API ? 0 : s->o.max_concurrent;
	s->workers = xcalloc((size_t)s->o.max_concurrent, sizeof(pthread_t));
	for (int i = 0; i < n_workers; i++) {
		if (pthread_create(&s->workers[i], NULL, s->shared ? shared_worker_main : worker_main,
				   s) != 0) {
			util_errf(err, errlen, "cannot start worker threads");
			goto fail;
		}
		s->n_workers++;
	}
	if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0) {
		util_errf(err, errlen, "cannot start the ticker thread");
		goto fail;
	}
	s->ticker_started = 1;
	if (mhd_start(s, err, errlen) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	server_stop(s);
	return -1;
}

int server_port(const server *s)
{
	return s->port;
}

/* Waits for the workers up to the grace time. 1 if all returned. */
static int workers_join(server *s)
{
	struct timespec ts;
	util_deadline_us(&ts, s->o.shutdown_grace_ms * 1000LL);
	int all = 1;
	for (int i = 0; i < s->n_workers; i++)
		if (pthread_timedjoin_np(s->workers[i], NULL, &ts) != 0)
			all = 0;
	return all;
}

static void cancel_running(entry *e, void *ud)
{
	(void)ud;
	if (e->running)
		job_cancel(e->running);
}

/* Stops accepting, cancels running jobs (their failure is not recorded:
 * they resume at the next start), wakes every thread. */
static void server_signal_stop(server *s)
{
	for (int i = 0; i < s->n_shards; i++) {
		MHD_socket fd = MHD_quiesce_daemon(s->shards[i].mhd); /* stop accepting first */
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	atomic_store(&s->stopping, 1);
	pthread_mutex_lock(&s->qlock);
	pthread_cond_broadcast(&s->qcv);
	pthread_mutex_lock(&s->cache.lock);
	status_cache_each(&s->cache, cancel_running, NULL);
	pthread_mutex_unlock(&s->cache.lock);
	pthread_mutex_unlock(&s->qlock);
	pthread_mutex_lock(&s->tick_lock);
	pthread_cond_broadcast(&s->tick_cv);
	pthread_mutex_unlock(&s->tick_lock);
}

/* Ends the HTTP side once nothing is suspended any more. */
static void server_stop_http(server *s)
{
	if (!s->n_shards)
		return;
	/* Creates waiting for the store are resumed by its writer. */
	for (int i = 0; i < 10000 && atomic_load(&s->pending_creates) > 0; i++)
		usleep(1000);
	/* Suspended streams must be resumed before the daemon stops; they see
	 * `stopping` and end. */
	pthread_mutex_lock(&s->cache.lock);
	for (sse_conn *c = s->sse_all; c; c = c->next_all)
		if (c->suspended) {
			c->suspended = 0;
			MHD_resume_connection(c->conn);
		}
	pthread_mutex_unlock(&s->cache.lock);
	for (int i = 0; i < s->n_shards; i++)
		MHD_stop_daemon(s->shards[i].mhd);
	s->n_shards = 0;
}

static void server_free(server *s)
{
	lease_table_free(s->leases);
	store_close(s->store);
	status_cache_destroy(&s->cache);
	held_release(s->cur);
	for (stage_stat *st = s->stats, *next; st; st = next) {
		next = st->next;
		free(st->id);
		free(st);
	}
	for (size_t b = 0; b < OWNER_BUCKETS; b++)
		for (owner *o = s->owners[b], *next; o; o = next) {
			next = o->next;
			free(o);
		}
	client_table_free(s->clients);
	free(s->shards);
	free(s->cpu_shard);
	free(s->workers);
	free(s->data_dir);
	free(s->jobs_dir);
	free(s->videos_dir);
	free(s->web_dir);
	pthread_mutex_destroy(&s->pipe_lock);
	pthread_mutex_destroy(&s->usage.lock);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qcv);
	pthread_mutex_destroy(&s->tick_lock);
	pthread_cond_destroy(&s->tick_cv);
	free(s);
}

void server_stop(server *s)
{
	if (!s)
		return;
	server_signal_stop(s);
	int joined = workers_join(s);
	if (s->ticker_started)
		pthread_join(s->ticker, NULL);
	server_stop_http(s);
	if (!joined) {
		/* A stage ignores cancellation: leave its memory alone, save
		 * what the store has and let the process exit. */
		log_msg(VG_LOG_WARN, "serve: a running stage did not stop in time");
		store_flush(s->store);
		return;
	}
	server_free(s);
}
