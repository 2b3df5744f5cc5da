/*
 * The SQLite job store backend (store_impl.h): WAL mode, batches from the
 * writer thread (store.c) committed in one transaction each, a checkpoint
 * thread of its own, and a small pool of reader connections that never wait
 * for the writer.
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

#include "store_impl.h"
#include "util.h"

#define STORE_READERS 3

typedef struct reader {
	sqlite3 *db;
	sqlite3_stmt *get;
} reader;

typedef struct sqlite_store {
	sqlite3 *wdb; /* the writer's connection: writer thread only */
	sqlite3_stmt *ins, *upd, *stage;
	reader readers[STORE_READERS];
	store_pool pool;

	/* Checkpoints run on their own connection and thread, so the writer
	 * never stops to copy the WAL back into the database. */
	sqlite3 *cdb;
	atomic_int wal_frames; /* WAL size after the last commit */
	pthread_t checkpointer;
	int checkpointer_started;
	pthread_mutex_t cklock;
	pthread_cond_t ckcv;
	int stop;
} sqlite_store;

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
 * The writer's side: one transaction a batch.
 * --------------------------------------------------------------------- */

static int sq_begin(void *impl, char *err, size_t errlen)
{
	sqlite_store *s = impl;

	if (sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		util_errf(err, errlen, "job store: cannot begin: %s", sqlite3_errmsg(s->wdb));
		return -1;
	}
	return 0;
}

/* Runs one op inside the open transaction. 0 ok, 1 unknown id, -1 error. */
static int sq_exec(void *impl, const store_op *op, long long *seq, char *err, size_t errlen)
{
	sqlite_store *s = impl;
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

static int sq_commit(void *impl, char *err, size_t errlen)
{
	sqlite_store *s = impl;

	if (sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		util_errf(err, errlen, "job store: commit failed: %s", sqlite3_errmsg(s->wdb));
		sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

static int on_wal_commit(void *ud, sqlite3 *db, const char *name, int frames)
{
	sqlite_store *s = ud;
	(void)db;
	(void)name;
	atomic_store(&s->wal_frames, frames);
	return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
	sqlite_store *s = arg;

	pthread_mutex_lock(&s->cklock);
	while (!s->stop) {
		struct timespec ts;
		util_deadline_us(&ts, CHECKPOINT_EVERY_MS * 1000LL);
		pthread_cond_timedwait(&s->ckcv, &s->cklock, &ts);
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->cklock);
		/* PASSIVE: copies what no reader still needs, never blocks the
		 * writer; the writer restarts the WAL from the top once all of it
		 * is copied, which bounds the file. */
		int mode = atomic_load(&s->wal_frames) > WAL_RESTART_FRAMES ?
			SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE;
		sqlite3_wal_checkpoint_v2(s->cdb, NULL, mode, NULL, NULL);
		pthread_mutex_lock(&s->cklock);
	}
	pthread_mutex_unlock(&s->cklock);
	return NULL;
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

static int writer_prepare(sqlite_store *s, char *err, size_t errlen)
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

static void sq_close(void *impl)
{
	sqlite_store *s = impl;

	if (s->checkpointer_started) {
		pthread_mutex_lock(&s->cklock);
		s->stop = 1;
		pthread_cond_signal(&s->ckcv);
		pthread_mutex_unlock(&s->cklock);
		pthread_join(s->checkpointer, NULL);
	}
	sqlite3_close(s->cdb);
	for (int i = 0; i < STORE_READERS; i++) {
		sqlite3_finalize(s->readers[i].get);
		sqlite3_close(s->readers[i].db);
	}
	store_pool_destroy(&s->pool);
	sqlite3_finalize(s->ins);
	sqlite3_finalize(s->upd);
	sqlite3_finalize(s->stage);
	sqlite3_close(s->wdb);
	pthread_mutex_destroy(&s->cklock);
	pthread_cond_destroy(&s->ckcv);
	free(s);
}

int store_sqlite_open(const char *path, void **impl, char *err, size_t errlen)
{
	sqlite_store *s = xcalloc(1, sizeof(*s));
	int i;

	*impl = NULL;
	pthread_mutex_init(&s->cklock, NULL);
	pthread_cond_init(&s->ckcv, NULL);
	store_pool_init(&s->pool, STORE_READERS);

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
	*impl = s;
	return 0;
fail:
	sq_close(s);
	return -1;
}

/* ---------------------------------------------------------------------
 * Reads: a pool of connections, so status lookups never queue behind one.
 * --------------------------------------------------------------------- */

static int sq_get(void *impl, const char *id, store_job *out, char *err, size_t errlen)
{
	sqlite_store *s = impl;
	int slot = store_pool_take(&s->pool);
	reader *r = &s->readers[slot];
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
	store_pool_give(&s->pool, slot);
	return ret;
}

/* Runs a SELECT of JOB_COLUMNS on a reader and collects the rows. */
static int select_jobs(sqlite_store *s, const char *sql, long long a, long long b, int nargs,
		       store_job **out, size_t *n, char *err, size_t errlen)
{
	int slot = store_pool_take(&s->pool);
	reader *r = &s->readers[slot];
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
	store_pool_give(&s->pool, slot);
	*out = v;
	*n = len;
	return ret;
}

static int sq_list(void *impl, long long before, int limit, store_job **out, size_t *n,
		   char *err, size_t errlen)
{
	return select_jobs(impl, "SELECT " JOB_COLUMNS " FROM jobs WHERE seq < ?1"
			   " ORDER BY seq DESC LIMIT ?2", before, limit, 2, out, n, err, errlen);
}

static int sq_next_unfinished(void *impl, long long after, store_job *out, char *err,
			      size_t errlen)
{
	store_job *v;
	size_t n;

	if (select_jobs(impl, "SELECT " JOB_COLUMNS " FROM jobs WHERE finished = 0 AND seq > ?1"
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

static int sq_count_unfinished(void *impl, long long *n, char *err, size_t errlen)
{
	sqlite_store *s = impl;
	int slot = store_pool_take(&s->pool);
	reader *r = &s->readers[slot];
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
	store_pool_give(&s->pool, slot);
	return ret;
}

static int sq_count_by_status(void *impl, void (*cb)(void *ud, const char *status, long long n),
			      void *ud, char *err, size_t errlen)
{
	sqlite_store *s = impl;
	int slot = store_pool_take(&s->pool);
	reader *r = &s->readers[slot];
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
	store_pool_give(&s->pool, slot);
	return ret;
}

const store_backend store_sqlite_backend = {
	.name = "sqlite",
	.begin = sq_begin,
	.exec = sq_exec,
	.commit = sq_commit,
	.get = sq_get,
	.list = sq_list,
	.next_unfinished = sq_next_unfinished,
	.count_unfinished = sq_count_unfinished,
	.count_by_status = sq_count_by_status,
	.close = sq_close,
};
