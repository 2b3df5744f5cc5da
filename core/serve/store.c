/*
 * SQLite implementation of the job store (store.h): WAL mode, one writer
 * thread that commits queued writes in batches (group commit), and a small
 * pool of reader connections that never wait for the writer.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

#define STORE_READERS 3

enum { OP_CREATE = 1, OP_UPDATE, OP_STAGE, OP_FLUSH };

/* Someone waiting for an op to be committed. Lives on the caller's stack. */
typedef struct op_waiter {
	int done;
	int rc;
	long long seq;
	char err[256];
} op_waiter;

typedef struct store_op {
	int type;
	store_job rec;
	char *stage_id, *kind, *path;
	int ok;
	long long duration_ms;
	op_waiter *waiter; /* NULL: nobody waits; the writer frees the op */
	void (*done)(void *ud, int rc, long long seq); /* async create */
	void *done_ud;
	int rc;
	long long seq;
	struct store_op *next;
} store_op;

typedef struct reader {
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *get;
} reader;

struct job_store {
	sqlite3 *wdb; /* the writer's connection: writer thread only */
	sqlite3_stmt *ins, *upd, *stage;
	reader readers[STORE_READERS];
	atomic_uint next_reader;

	pthread_mutex_t qlock;
	pthread_cond_t qcv;   /* work arrived */
	pthread_cond_t donecv; /* a batch committed */
	store_op *head, *tail;
	int stop;
	pthread_t writer;
	int writer_started;

	/* Checkpoints run on their own connection and thread, so the writer
	 * never stops to copy the WAL back into the database. */
	sqlite3 *cdb;
	atomic_int wal_frames; /* WAL size after the last commit */
	pthread_t checkpointer;
	int checkpointer_started;
	pthread_cond_t ckcv;
};

#define CHECKPOINT_EVERY_MS 250
/* Past this many WAL frames (4 KB each) a checkpoint also makes the writer
 * start the WAL over, so a sustained burst cannot grow it without bound. */
#define WAL_RESTART_FRAMES 4096

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS jobs("
	" seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" created_at TEXT NOT NULL,"
	" question TEXT NOT NULL, model TEXT NOT NULL, voice TEXT NOT NULL,"
	" status TEXT NOT NULL, progress INTEGER NOT NULL DEFAULT 0,"
	" message TEXT, initial_explanation TEXT, refined_explanation TEXT,"
	" video_url TEXT, s3_url TEXT,"
	" finished INTEGER NOT NULL DEFAULT 0, usage TEXT,"
	" captions_url TEXT, captions_srt_url TEXT, poster_url TEXT, thumbnail_url TEXT);"
	"CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs(seq) WHERE finished = 0;"
	"CREATE TABLE IF NOT EXISTS stages("
	" job_id TEXT NOT NULL, stage_id TEXT NOT NULL, kind TEXT, path TEXT,"
	" ok INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
	" PRIMARY KEY(job_id, stage_id)) WITHOUT ROWID;";

#define JOB_COLUMNS "seq, id, created_at, question, model, voice, status, progress," \
	" message, initial_explanation, refined_explanation, video_url, s3_url, finished, usage," \
	" captions_url, captions_srt_url, poster_url, thumbnail_url"
#define JOB_MEDIA_COL 15 /* the first of the four media columns */

/* Columns added after the first release, for a store made before them. */
static const char *const ADDED_COLUMNS[] = {
	"usage", "captions_url", "captions_srt_url", "poster_url", "thumbnail_url"
};

void store_job_clear(store_job *r)
{
	if (!r)
		return;
	free(r->question);
	free(r->model);
	free(r->voice);
	free(r->status);
	free(r->message);
	free(r->initial_explanation);
	free(r->refined_explanation);
	free(r->video_url);
	free(r->s3_url);
	free(r->usage);
	for (int i = 0; i < 4; i++)
		free(r->media[i]);
	memset(r, 0, sizeof(*r));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void store_job_copy(store_job *dst, const store_job *src)
{
	*dst = *src;
	dst->question = dup_or_null(src->question);
	dst->model = dup_or_null(src->model);
	dst->voice = dup_or_null(src->voice);
	dst->status = dup_or_null(src->status);
	dst->message = dup_or_null(src->message);
	dst->initial_explanation = dup_or_null(src->initial_explanation);
	dst->refined_explanation = dup_or_null(src->refined_explanation);
	dst->video_url = dup_or_null(src->video_url);
	dst->s3_url = dup_or_null(src->s3_url);
	dst->usage = dup_or_null(src->usage);
	for (int i = 0; i < 4; i++)
		dst->media[i] = dup_or_null(src->media[i]);
}

void store_jobs_free(store_job *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		store_job_clear(&v[i]);
	free(v);
}

static void op_free(store_op *op)
{
	store_job_clear(&op->rec);
	free(op->stage_id);
	free(op->kind);
	free(op->path);
	free(op);
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static void row_to_job(sqlite3_stmt *st, store_job *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = sqlite3_column_int64(st, 0);
	const unsigned char *t = sqlite3_column_text(st, 1);
	snprintf(r->id, sizeof(r->id), "%s", t ? (const char *)t : "");
	t = sqlite3_column_text(st, 2);
	snprintf(r->created_at, sizeof(r->created_at), "%s", t ? (const char *)t : "");
	r->question = col_text(st, 3);
	r->model = col_text(st, 4);
	r->voice = col_text(st, 5);
	r->status = col_text(st, 6);
	r->progress = sqlite3_column_int(st, 7);
	r->message = col_text(st, 8);
	r->initial_explanation = col_text(st, 9);
	r->refined_explanation = col_text(st, 10);
	r->video_url = col_text(st, 11);
	r->s3_url = col_text(st, 12);
	r->finished = sqlite3_column_int(st, 13);
	r->usage = col_text(st, 14);
	for (int i = 0; i < 4; i++)
		r->media[i] = col_text(st, JOB_MEDIA_COL + i);
}

/* ---------------------------------------------------------------------
 * The writer thread.
 * --------------------------------------------------------------------- */

/* Runs one op inside the open transaction. 0 ok, 1 unknown id, -1 error. */
static int op_exec(job_store *s, store_op *op, long long *seq, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	const store_job *r = &op->rec;
	int rc;

	switch (op->type) {
	case OP_CREATE:
		st = s->ins;
		bind_text(st, 1, r->id);
		bind_text(st, 2, r->created_at);
		bind_text(st, 3, r->question);
		bind_text(st, 4, r->model);
		bind_text(st, 5, r->voice);
		bind_text(st, 6, r->status);
		sqlite3_bind_int(st, 7, r->progress);
		bind_text(st, 8, r->message);
		break;
	case OP_UPDATE:
		st = s->upd;
		bind_text(st, 1, r->status);
		sqlite3_bind_int(st, 2, r->progress);
		bind_text(st, 3, r->message);
		bind_text(st, 4, r->initial_explanation);
		bind_text(st, 5, r->refined_explanation);
		bind_text(st, 6, r->video_url);
		bind_text(st, 7, r->s3_url);
		sqlite3_bind_int(st, 8, r->finished ? 1 : 0);
		bind_text(st, 9, r->id);
		bind_text(st, 10, r->usage);
		for (int i = 0; i < 4; i++)
			bind_text(st, 11 + i, r->media[i]);
		break;
	case OP_STAGE:
		st = s->stage;
		bind_text(st, 1, r->id);
		bind_text(st, 2, op->stage_id);
		bind_text(st, 3, op->kind);
		bind_text(st, 4, op->path);
		sqlite3_bind_int(st, 5, op->ok);
		sqlite3_bind_int64(st, 6, op->duration_ms);
		break;
	default:
		return 0;
	}
	rc = sqlite3_step(st);
	int ret = 0;
	if (rc != SQLITE_DONE) {
		util_errf(err, errlen, "job store: %s", sqlite3_errmsg(s->wdb));
		ret = -1;
	} else if (op->type == OP_CREATE) {
		*seq = sqlite3_last_insert_rowid(s->wdb);
	} else if (op->type == OP_UPDATE && sqlite3_changes(s->wdb) == 0) {
		util_errf(err, errlen, "job store: no job %s", r->id);
		ret = 1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

/* Commits one batch; every op gets its own result. */
static void batch_run(job_store *s, store_op *batch)
{
	char err[256] = "";
	int txn_ok = sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;

	for (store_op *op = batch; op; op = op->next) {
		op_waiter *w = op->waiter;
		long long seq = 0;
		int rc = txn_ok ? op_exec(s, op, &seq, err, sizeof(err)) : -1;
		if (!txn_ok)
			util_errf(err, sizeof(err), "job store: cannot begin: %s",
				  sqlite3_errmsg(s->wdb));
		op->rc = rc;
		op->seq = seq;
		if (w) {
			w->rc = rc;
			w->seq = seq;
			if (rc)
				snprintf(w->err, sizeof(w->err), "%s", err);
		}
	}
	if (txn_ok && sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		util_errf(err, sizeof(err), "job store: commit failed: %s", sqlite3_errmsg(s->wdb));
		sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
		for (store_op *op = batch; op; op = op->next) {
			op->rc = -1;
			if (op->waiter) {
				op->waiter->rc = -1;
				snprintf(op->waiter->err, sizeof(op->waiter->err), "%s", err);
			}
		}
	}
	/* Committed (or not): tell the asynchronous creators. */
	for (store_op *op = batch; op; op = op->next)
		if (op->done)
			op->done(op->done_ud, op->rc, op->seq);
}

static void *writer_main(void *arg)
{
	job_store *s = arg;

	pthread_mutex_lock(&s->qlock);
	for (;;) {
		while (!s->head && !s->stop)
			pthread_cond_wait(&s->qcv, &s->qlock);
		if (!s->head)
			break;
		store_op *batch = s->head;
		s->head = s->tail = NULL;
		pthread_mutex_unlock(&s->qlock);

		batch_run(s, batch);

		pthread_mutex_lock(&s->qlock);
		int waited = 0;
		for (store_op *op = batch; op; op = op->next)
			if (op->waiter) {
				op->waiter->done = 1;
				op->waiter = NULL;
				waited = 1;
			}
		if (waited)
			pthread_cond_broadcast(&s->donecv);
		pthread_mutex_unlock(&s->qlock);
		/* The waiters never touch the ops: free them here, unlocked, so
		 * submitters do not queue behind free(). */
		for (store_op *op = batch, *next; op; op = next) {
			next = op->next;
			op_free(op);
		}
		pthread_mutex_lock(&s->qlock);
	}
	pthread_mutex_unlock(&s->qlock);
	return NULL;
}

static int on_wal_commit(void *ud, sqlite3 *db, const char *name, int frames)
{
	job_store *s = ud;
	(void)db;
	(void)name;
	atomic_store(&s->wal_frames, frames);
	return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
	job_store *s = arg;

	pthread_mutex_lock(&s->qlock);
	while (!s->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += CHECKPOINT_EVERY_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->ckcv, &s->qlock, &ts);
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->qlock);
		/* PASSIVE: copies what no reader still needs, never blocks the
		 * writer; the writer restarts the WAL from the top once all of it
		 * is copied, which bounds the file. */
		int mode = atomic_load(&s->wal_frames) > WAL_RESTART_FRAMES ?
			SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE;
		sqlite3_wal_checkpoint_v2(s->cdb, NULL, mode, NULL, NULL);
		pthread_mutex_lock(&s->qlock);
	}
	pthread_mutex_unlock(&s->qlock);
	return NULL;
}

/* Queues op; with w, waits until it is committed and returns w->rc. */
static int op_submit(job_store *s, store_op *op, op_waiter *w)
{
	op->waiter = w;
	op->next = NULL;
	pthread_mutex_lock(&s->qlock);
	if (s->stop) {
		pthread_mutex_unlock(&s->qlock);
		if (w) {
			w->rc = -1;
			snprintf(w->err, sizeof(w->err), "job store: closing");
		}
		op_free(op);
		return -1;
	}
	if (s->tail)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
	pthread_cond_signal(&s->qcv);
	if (w) {
		while (!w->done)
			pthread_cond_wait(&s->donecv, &s->qlock);
	}
	pthread_mutex_unlock(&s->qlock);
	return w ? w->rc : 0;
}

/* ---------------------------------------------------------------------
 * Opening and closing.
 * --------------------------------------------------------------------- */

/* Waits for a lock in 100 us steps, up to 5 s. SQLite's own busy timeout
 * sleeps in steps of up to 100 ms, which is what a create would wait
 * whenever the checkpointer holds the lock for a moment. */
static int busy_wait(void *ud, int count)
{
	(void)ud;
	if (count >= 50000)
		return 0;
	usleep(100);
	return 1;
}

/* cache_kb bounds the connection's page cache: the daemon's RSS budget is
 * small and the OS page cache holds the file anyway. */
static int db_open(const char *path, sqlite3 **db, int cache_kb, char *err, size_t errlen)
{
	int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		util_errf(err, errlen, "%s: cannot open job store: %s", path,
			  *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	sqlite3_busy_handler(*db, busy_wait, NULL);
	/* No per-connection lookaside slab: a few small mallocs cost less
	 * resident memory than 120 KB for each of the store's connections. */
	sqlite3_db_config(*db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 0, 0);
	/* WAL: readers never wait for the writer. synchronous=NORMAL: a commit
	 * is in the WAL file (the OS's page cache) before it returns, so a
	 * process crash loses nothing committed; only a power loss could. */
	char *msg = NULL, pragmas[160];
	snprintf(pragmas, sizeof(pragmas), "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		 " PRAGMA cache_size=-%d;", cache_kb);
	if (sqlite3_exec(*db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		util_errf(err, errlen, "%s: %s", path, msg ? msg : "cannot set WAL mode");
		sqlite3_free(msg);
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		util_errf(err, errlen, "job store: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* Adds the columns a store made by an older vidgen lacks. */
static int schema_upgrade(sqlite3 *db, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(ADDED_COLUMNS) / sizeof(*ADDED_COLUMNS); i++) {
		char sql[128], *msg = NULL;
		snprintf(sql, sizeof(sql), "ALTER TABLE jobs ADD COLUMN %s TEXT", ADDED_COLUMNS[i]);
		if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK &&
		    (!msg || !strstr(msg, "duplicate column"))) {
			util_errf(err, errlen, "job store schema: %s", msg ? msg : "?");
			sqlite3_free(msg);
			return -1;
		}
		sqlite3_free(msg);
	}
	return 0;
}

static int writer_prepare(job_store *s, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(s->wdb, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
		util_errf(err, errlen, "job store schema: %s", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	if (schema_upgrade(s->wdb, err, errlen) < 0)
		return -1;
	if (prepare(s->wdb, "INSERT INTO jobs(id, created_at, question, model, voice,"
		    " status, progress, message) VALUES(?,?,?,?,?,?,?,?)", &s->ins, err, errlen) ||
	    prepare(s->wdb, "UPDATE jobs SET status=?1, progress=max(progress, ?2), message=?3,"
		    " initial_explanation=?4, refined_explanation=?5, video_url=?6, s3_url=?7,"
		    " finished=?8, usage=coalesce(?10, usage), captions_url=?11,"
		    " captions_srt_url=?12, poster_url=?13, thumbnail_url=?14 WHERE id=?9",
		    &s->upd, err, errlen) ||
	    prepare(s->wdb, "INSERT OR REPLACE INTO stages(job_id, stage_id, kind, path, ok,"
		    " duration_ms) VALUES(?,?,?,?,?,?)", &s->stage, err, errlen))
		return -1;
	return 0;
}

int store_open(const char *path, job_store **out, char *err, size_t errlen)
{
	job_store *s = xcalloc(1, sizeof(*s));
	int i;

	*out = NULL;
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qcv, NULL);
	pthread_cond_init(&s->donecv, NULL);
	pthread_cond_init(&s->ckcv, NULL);
	for (i = 0; i < STORE_READERS; i++)
		pthread_mutex_init(&s->readers[i].lock, NULL);

	if (db_open(path, &s->wdb, 256, err, errlen) || writer_prepare(s, err, errlen) ||
	    sqlite3_exec(s->wdb, "PRAGMA journal_size_limit=33554432", NULL, NULL,
			 NULL) != SQLITE_OK)
		goto fail;
	for (i = 0; i < STORE_READERS; i++) {
		reader *r = &s->readers[i];
		if (db_open(path, &r->db, 256, err, errlen) ||
		    prepare(r->db, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?", &r->get,
			    err, errlen))
			goto fail;
	}
	if (db_open(path, &s->cdb, 64, err, errlen))
		goto fail;
	/* Replaces the writer's own checkpoints (the hook turns them off). */
	sqlite3_wal_hook(s->wdb, on_wal_commit, s);
	if (pthread_create(&s->checkpointer, NULL, checkpointer_main, s) != 0) {
		util_errf(err, errlen, "job store: cannot start checkpoint thread");
		goto fail;
	}
	s->checkpointer_started = 1;
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
		util_errf(err, errlen, "job store: cannot start writer thread");
		goto fail;
	}
	s->writer_started = 1;
	*out = s;
	return 0;
fail:
	store_close(s);
	return -1;
}

void store_close(job_store *s)
{
	if (!s)
		return;
	if (s->writer_started) {
		pthread_mutex_lock(&s->qlock);
		s->stop = 1; /* the writer drains the queue before it exits */
		pthread_cond_signal(&s->qcv);
		pthread_mutex_unlock(&s->qlock);
		pthread_join(s->writer, NULL);
	}
	if (s->checkpointer_started) {
		pthread_mutex_lock(&s->qlock);
		s->stop = 1;
		pthread_cond_signal(&s->ckcv);
		pthread_mutex_unlock(&s->qlock);
		pthread_join(s->checkpointer, NULL);
	}
	sqlite3_close(s->cdb);
	for (int i = 0; i < STORE_READERS; i++) {
		sqlite3_finalize(s->readers[i].get);
		sqlite3_close(s->readers[i].db);
		pthread_mutex_destroy(&s->readers[i].lock);
	}
	sqlite3_finalize(s->ins);
	sqlite3_finalize(s->upd);
	sqlite3_finalize(s->stage);
	sqlite3_close(s->wdb);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qcv);
	pthread_cond_destroy(&s->donecv);
	pthread_cond_destroy(&s->ckcv);
	free(s);
}

/* ---------------------------------------------------------------------
 * Writes.
 * --------------------------------------------------------------------- */

int store_create_async(job_store *s, const store_job *rec,
		       void (*done)(void *ud, int rc, long long seq), void *ud)
{
	store_op *op = xcalloc(1, sizeof(*op));

	op->type = OP_CREATE;
	store_job_copy(&op->rec, rec);
	op->done = done;
	op->done_ud = ud;
	return op_submit(s, op, NULL);
}

int store_update(job_store *s, const store_job *rec, int wait, char *err, size_t errlen)
{
	store_op *op = xcalloc(1, sizeof(*op));
	op_waiter w = { 0 };

	op->type = OP_UPDATE;
	store_job_copy(&op->rec, rec);
	int rc = op_submit(s, op, wait ? &w : NULL);
	if (rc)
		util_errf(err, errlen, "%s", wait ? w.err : "job store: closing");
	return rc;
}

int store_set_stage(job_store *s, const char *job_id, const char *stage_id,
		    const char *kind, const char *path, int ok, long long duration_ms)
{
	store_op *op = xcalloc(1, sizeof(*op));

	op->type = OP_STAGE;
	snprintf(op->rec.id, sizeof(op->rec.id), "%s", job_id);
	op->stage_id = xstrdup(stage_id);
	op->kind = dup_or_null(kind);
	op->path = dup_or_null(path);
	op->ok = ok;
	op->duration_ms = duration_ms;
	return op_submit(s, op, NULL);
}

int store_flush(job_store *s)
{
	store_op *op = xcalloc(1, sizeof(*op));
	op_waiter w = { 0 };

	op->type = OP_FLUSH;
	return op_submit(s, op, &w);
}

/* ---------------------------------------------------------------------
 * Reads: a pool of connections, so status lookups never queue behind one.
 * --------------------------------------------------------------------- */

static reader *reader_take(job_store *s)
{
	unsigned start = atomic_fetch_add(&s->next_reader, 1);
	for (unsigned i = 0; i < STORE_READERS; i++) {
		reader *r = &s->readers[(start + i) % STORE_READERS];
		if (pthread_mutex_trylock(&r->lock) == 0)
			return r;
	}
	reader *r = &s->readers[start % STORE_READERS];
	pthread_mutex_lock(&r->lock);
	return r;
}

static void reader_give(reader *r)
{
	pthread_mutex_unlock(&r->lock);
}

int store_get(job_store *s, const char *id, store_job *out, char *err, size_t errlen)
{
	reader *r = reader_take(s);
	int ret;

	sqlite3_bind_text(r->get, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(r->get);
	if (rc == SQLITE_ROW) {
		row_to_job(r->get, out);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = 1;
	} else {
		util_errf(err, errlen, "job store: %s", sqlite3_errmsg(r->db));
		ret = -1;
	}
	sqlite3_reset(r->get);
	sqlite3_clear_bindings(r->get);
	reader_give(r);
	return ret;
}

/* Runs a SELECT of JOB_COLUMNS on a reader and collects the rows. */
static int select_jobs(job_store *s, const char *sql, long long a, long long b, int nargs,
		       store_job **out, size_t *n, char *err, size_t errlen)
{
	reader *r = reader_take(s);
	sqlite3_stmt *st = NULL;
	store_job *v = NULL;
	size_t cap = 0, len = 0;
	int ret = -1, rc;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
		util_errf(err, errlen, "job store: %s", sqlite3_errmsg(r->db));
		goto out;
	}
	if (nargs > 0)
		sqlite3_bind_int64(st, 1, a);
	if (nargs > 1)
		sqlite3_bind_int64(st, 2, b);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		row_to_job(st, &v[len++]);
	}
	if (rc != SQLITE_DONE) {
		util_errf(err, errlen, "job store: %s", sqlite3_errmsg(r->db));
		store_jobs_free(v, len);
		v = NULL;
		len = 0;
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	reader_give(r);
	*out = v;
	*n = len;
	return ret;
}

int store_list(job_store *s, long long before, int limit, store_job **out,
	       size_t *n, char *err, size_t errlen)
{
	if (before <= 0)
		before = (long long)(~0ULL >> 1);
	return select_jobs(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE seq < ?1"
			   " ORDER BY seq DESC LIMIT ?2", before, limit, 2, out, n, err, errlen);
}

int store_next_unfinished(job_store *s, long long after, store_job *out,
			  char *err, size_t errlen)
{
	store_job *v;
	size_t n;

	if (select_jobs(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE finished = 0 AND seq > ?1"
			" ORDER BY seq ASC LIMIT 1", after, 0, 1, &v, &n, err, errlen) != 0)
		return -1;
	if (n == 0) {
		free(v);
		return 1;
	}
	*out = v[0];
	free(v);
	return 0;
}

int store_count_unfinished(job_store *s, long long *n, char *err, size_t errlen)
{
	reader *r = reader_take(s);
	sqlite3_stmt *st = NULL;
	int ret = -1;

	if (sqlite3_prepare_v2(r->db, "SELECT count(*) FROM jobs WHERE finished = 0", -1, &st,
			       NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		*n = sqlite3_column_int64(st, 0);
		ret = 0;
	} else {
		util_errf(err, errlen, "job store: %s", sqlite3_errmsg(r->db));
	}
	sqlite3_finalize(st);
	reader_give(r);
	return ret;
}

int store_count_by_status(job_store *s, void (*cb)(void *ud, const char *status, long long n),
			  void *ud, char *err, size_t errlen)
{
	reader *r = reader_take(s);
	sqlite3_stmt *st = NULL;
	int ret = -1, rc;

	if (sqlite3_prepare_v2(r->db, "SELECT status, count(*) FROM jobs GROUP BY status",
			       -1, &st, NULL) != SQLITE_OK) {
		util_errf(err, errlen, "job store: %s", sqlite3_errmsg(r->db));
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(ud, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
	if (rc != SQLITE_DONE) {
		util_errf(err, errlen, "job store: %s", sqlite3_errmsg(r->db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	reader_give(r);
	return ret;
}
