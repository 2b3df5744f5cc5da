/*
 * The job store's contract (core/serve/store.h), kept by each backend:
 * create/get/update, progress that never goes back, newest-first pages, the
 * restart queue, stage records, concurrent group commits, and durability
 * across reopen. Run on SQLite, and again on PostgreSQL when $VIDGEN_TEST_PG
 * names a server (tests/pg_server.sh run; tests/unit/test_store_pg.sh): then
 * each test gets a new database of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_helpers.h"
#include "serve/store.h"
#include "util.h"

typedef struct fixture {
	char dir[64];
	char path[256]; /* the store's locator: a SQLite file or a database's URL */
	job_store *s;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[256];

	if (pgtest_server()) {
		if (pgtest_createdb(f->path, sizeof(f->path)) != 0)
			return -1;
	} else {
		snprintf(f->dir, sizeof(f->dir), "/tmp/vg_test_store.XXXXXX");
		if (!mkdtemp(f->dir))
			return -1;
		snprintf(f->path, sizeof(f->path), "%s/jobs.db", f->dir);
	}
	if (store_open(f->path, &f->s, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[300];

	store_close(f->s);
	if (pgtest_server()) {
		pgtest_dropdb(f->path);
		free(f);
		return 0;
	}
	/* The directory is ours alone (mkdtemp); remove its three files. */
	snprintf(cmd, sizeof(cmd), "%s", f->path);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s-wal", f->path);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s-shm", f->path);
	unlink(cmd);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A create that returns once the row is committed: store_create_async and
 * a wait for its callback, as the daemon's POST does. 0 ok, with rec->seq. */
typedef struct create_wait_ctx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, rc;
	long long seq;
} create_wait_ctx;

static void create_done(void *ud, int rc, long long seq)
{
	create_wait_ctx *w = ud;

	pthread_mutex_lock(&w->mu);
	w->done = 1;
	w->rc = rc;
	w->seq = seq;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int create_wait(job_store *s, store_job *rec, char *err, size_t errlen)
{
	create_wait_ctx w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };

	if (store_create_async(s, rec, create_done, &w) != 0) {
		snprintf(err, errlen, "job store: closing");
		return -1;
	}
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	if (w.rc != 0)
		snprintf(err, errlen, "job store: create refused");
	else
		rec->seq = w.seq;
	return w.rc;
}

static void make_job(store_job *r, const char *question)
{
	memset(r, 0, sizeof(*r));
	util_uuid4(r->id);
	util_now_iso8601(r->created_at);
	r->question = xstrdup(question);
	r->model = xstrdup("claude-4-sonnet");
	r->voice = xstrdup("Joanna");
	r->status = xstrdup("queued");
	r->message = xstrdup("Video generation started");
}

static void test_create_get(void **state)
{
	fixture *f = *state;
	store_job r, g;
	char err[256];

	make_job(&r, "What is a prime number?");
	assert_int_equal(create_wait(f->s, &r, err, sizeof(err)), 0);
	assert_true(r.seq > 0);
	assert_int_equal(store_get(f->s, r.id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.id, r.id);
	assert_string_equal(g.created_at, r.created_at);
	assert_string_equal(g.question, "What is a prime number?");
	assert_string_equal(g.model, "claude-4-sonnet");
	assert_string_equal(g.voice, "Joanna");
	assert_string_equal(g.status, "queued");
	assert_string_equal(g.message, "Video generation started");
	assert_int_equal(g.progress, 0);
	assert_int_equal(g.finished, 0);
	assert_null(g.video_url);
	assert_null(g.s3_url);
	assert_null(g.initial_explanation);
	assert_int_equal(g.seq, r.seq);
	store_job_clear(&g);

	/* A duplicate id is refused and does not disturb the first row. */
	store_job dup;
	store_job_copy(&dup, &r);
	assert_int_not_equal(create_wait(f->s, &dup, err, sizeof(err)), 0);
	store_job_clear(&dup);
	store_job_clear(&r);
}

static void test_get_unknown(void **state)
{
	fixture *f = *state;
	store_job g;
	char err[256];

	assert_int_equal(store_get(f->s, "00000000-0000-4000-8000-000000000000", &g, err,
				   sizeof(err)), 1);
}

static void test_update_progress_monotonic(void **state)
{
	fixture *f = *state;
	store_job r, g;
	char err[256];

	make_job(&r, "Why is the sky blue at noon?");
	assert_int_equal(create_wait(f->s, &r, err, sizeof(err)), 0);

	free(r.status);
	r.status = xstrdup("refining_explanation");
	r.progress = 40;
	r.initial_explanation = xstrdup("Rayleigh scattering \xe2\x80\x94 short waves scatter.");
	assert_int_equal(store_update(f->s, &r, 1, err, sizeof(err)), 0);

	/* A lower progress is ignored; the rest is written. */
	free(r.status);
	r.status = xstrdup("generating_script");
	r.progress = 20;
	assert_int_equal(store_update(f->s, &r, 1, err, sizeof(err)), 0);
	assert_int_equal(store_get(f->s, r.id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.status, "generating_script");
	assert_int_equal(g.progress, 40);
	assert_string_equal(g.initial_explanation, r.initial_explanation);
	store_job_clear(&g);

	/* Unknown id reports 1 when waited for. */
	store_job other;
	make_job(&other, "never stored question");
	assert_int_equal(store_update(f->s, &other, 1, err, sizeof(err)), 1);
	store_job_clear(&other);
	store_job_clear(&r);
}

static void test_async_update_then_flush(void **state)
{
	fixture *f = *state;
	store_job r, g;
	char err[256];

	make_job(&r, "How do rainbows form?");
	assert_int_equal(create_wait(f->s, &r, err, sizeof(err)), 0);
	for (int p = 1; p <= 100; p++) {
		r.progress = p;
		assert_int_equal(store_update(f->s, &r, 0, err, sizeof(err)), 0);
	}
	free(r.status);
	r.status = xstrdup("completed");
	r.finished = 1;
	r.video_url = xstrdup("/media/x.mp4");
	assert_int_equal(store_update(f->s, &r, 0, err, sizeof(err)), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(store_get(f->s, r.id, &g, err, sizeof(err)), 0);
	assert_int_equal(g.progress, 100);
	assert_string_equal(g.status, "completed");
	assert_int_equal(g.finished, 1);
	assert_string_equal(g.video_url, "/media/x.mp4");
	store_job_clear(&g);
	store_job_clear(&r);
}

static void test_list_pages(void **state)
{
	fixture *f = *state;
	char ids[25][37];
	char err[256];
	store_job *v;
	size_t n;

	for (int i = 0; i < 25; i++) {
		store_job r;
		char q[64];
		snprintf(q, sizeof(q), "question number %d", i);
		make_job(&r, q);
		assert_int_equal(create_wait(f->s, &r, err, sizeof(err)), 0);
		memcpy(ids[i], r.id, 37);
		store_job_clear(&r);
	}
	/* Newest first, 10 a page, the cursor is the last seq seen. */
	long long before = 0;
	int seen = 0;
	for (int page = 0; page < 3; page++) {
		assert_int_equal(store_list(f->s, before, 10, &v, &n, err, sizeof(err)), 0);
		assert_int_equal(n, page < 2 ? 10 : 5);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(v[i].id, ids[24 - seen]);
			if (i)
				assert_true(v[i].seq < v[i - 1].seq);
			seen++;
		}
		before = v[n - 1].seq;
		store_jobs_free(v, n);
	}
	assert_int_equal(seen, 25);
	assert_int_equal(store_list(f->s, before, 10, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	store_jobs_free(v, n);
}

static void test_unfinished_and_counts(void **state)
{
	fixture *f = *state;
	store_job r[4], v[4];
	char err[256];
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		make_job(&r[i], "a question for the queue");
		assert_int_equal(create_wait(f->s, &r[i], err, sizeof(err)), 0);
	}
	free(r[1].status);
	r[1].status = xstrdup("failed");
	r[1].finished = 1;
	assert_int_equal(store_update(f->s, &r[1], 1, err, sizeof(err)), 0);
	free(r[2].status);
	r[2].status = xstrdup("rendering_video");
	assert_int_equal(store_update(f->s, &r[2], 1, err, sizeof(err)), 0);

	/* The restart queue: the unfinished ones, oldest first. */
	for (long long after = 0; store_next_unfinished(f->s, after, &v[n], err,
							 sizeof(err)) == 0; n++)
		after = v[n].seq;
	assert_int_equal(n, 3);
	assert_string_equal(v[0].id, r[0].id);
	assert_string_equal(v[1].id, r[2].id);
	assert_string_equal(v[1].status, "rendering_video");
	assert_string_equal(v[2].id, r[3].id);
	for (size_t i = 0; i < n; i++)
		store_job_clear(&v[i]);
	for (int i = 0; i < 4; i++)
		store_job_clear(&r[i]);
}

/* The queue lives in the store: next unfinished after a cursor, in order,
 * skipping finished jobs; the count follows. */
static void test_next_unfinished(void **state)
{
	fixture *f = *state;
	store_job r[3], g;
	char err[256];
	long long n = -1;

	for (int i = 0; i < 3; i++) {
		make_job(&r[i], "queued question text");
		assert_int_equal(create_wait(f->s, &r[i], err, sizeof(err)), 0);
	}
	assert_int_equal(store_count_unfinished(f->s, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	r[1].finished = 1;
	assert_int_equal(store_update(f->s, &r[1], 1, err, sizeof(err)), 0);
	assert_int_equal(store_count_unfinished(f->s, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);

	assert_int_equal(store_next_unfinished(f->s, 0, &g, err, sizeof(err)), 0);
	assert_string_equal(g.id, r[0].id);
	long long cursor = g.seq;
	store_job_clear(&g);
	assert_int_equal(store_next_unfinished(f->s, cursor, &g, err, sizeof(err)), 0);
	assert_string_equal(g.id, r[2].id); /* r[1] finished: skipped */
	assert_string_equal(g.question, "queued question text");
	cursor = g.seq;
	store_job_clear(&g);
	assert_int_equal(store_next_unfinished(f->s, cursor, &g, err, sizeof(err)), 1);
	for (int i = 0; i < 3; i++)
		store_job_clear(&r[i]);
}

/* store_create_async: the callback runs once the row is committed. */
typedef struct async_result {
	pthread_mutex_t lock;
	int calls, rc;
	long long seq;
} async_result;

static void async_done(void *ud, int rc, long long seq)
{
	async_result *a = ud;
	pthread_mutex_lock(&a->lock);
	a->calls++;
	a->rc = rc;
	a->seq = seq;
	pthread_mutex_unlock(&a->lock);
}

static void test_create_async(void **state)
{
	fixture *f = *state;
	async_result a = { PTHREAD_MUTEX_INITIALIZER, 0, -1, 0 };
	store_job r, g, dup;
	char err[256];

	make_job(&r, "an asynchronous question");
	assert_int_equal(store_create_async(f->s, &r, async_done, &a), 0);
	assert_int_equal(store_flush(f->s), 0); /* ordered after the create */
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.rc, 0);
	assert_true(a.seq > 0);
	assert_int_equal(store_get(f->s, r.id, &g, err, sizeof(err)), 0);
	assert_int_equal(g.seq, a.seq);
	store_job_clear(&g);
	/* A refused row reports rc -1 through the callback too. */
	store_job_copy(&dup, &r);
	assert_int_equal(store_create_async(f->s, &dup, async_done, &a), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(a.calls, 2);
	assert_int_equal(a.rc, -1);
	store_job_clear(&dup);
	store_job_clear(&r);
}

static long long count_of;
static const char *count_want;
static void count_cb(void *ud, const char *status, long long n)
{
	(void)ud;
	if (strcmp(status, count_want) == 0)
		count_of = n;
}

static void test_count_by_status(void **state)
{
	fixture *f = *state;
	char err[256];

	for (int i = 0; i < 3; i++) {
		store_job r;
		make_job(&r, "count this question");
		assert_int_equal(create_wait(f->s, &r, err, sizeof(err)), 0);
		store_job_clear(&r);
	}
	count_want = "queued";
	count_of = -1;
	assert_int_equal(store_count_by_status(f->s, count_cb, NULL, err, sizeof(err)), 0);
	assert_int_equal(count_of, 3);
}

/* A stage row as the database itself has it (the daemon only writes them):
 * 1 found (kind, path and ok filled), 0 not there. */
static int stage_row(const fixture *f, const char *id, const char *stage, char *kind,
		     char *path, int *ok)
{
	char sql[256], out[256];
	int found = 0;

	if (pgtest_server()) {
		snprintf(sql, sizeof(sql), "SELECT kind || '|' || path || '|' || ok::int FROM stages"
			 " WHERE job_id = '%s' AND stage_id = '%s'", id, stage);
		assert_int_equal(pgtest_query(f->path, sql, out, sizeof(out)), 0);
		if (!*out)
			return 0;
		char *bar1 = strchr(out, '|'), *bar2 = strrchr(out, '|');
		assert_true(bar1 && bar2 > bar1);
		snprintf(kind, 64, "%.*s", (int)(bar1 - out), out);
		snprintf(path, 256, "%.*s", (int)(bar2 - bar1 - 1), bar1 + 1);
		*ok = atoi(bar2 + 1);
		return 1;
	}
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT kind, path, ok FROM stages WHERE job_id = ?"
					    " AND stage_id = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, stage, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(kind, 64, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(path, 256, "%s", (const char *)sqlite3_column_text(st, 1));
		*ok = sqlite3_column_int(st, 2);
		found = 1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return found;
}

/* store_set_stage queues a row per stage. */
static void test_stages(void **state)
{
	fixture *f = *state;
	char id[37], kind[64], path[256];
	int ok = -1;

	util_uuid4(id);
	assert_int_equal(store_set_stage(f->s, id, "explain", "text", "/d/stages/explain/out.txt",
					 1, 1234, NULL, 0), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(stage_row(f, id, "explain", kind, path, &ok), 1);
	assert_string_equal(kind, "text");
	assert_string_equal(path, "/d/stages/explain/out.txt");
	assert_int_equal(ok, 1);
	assert_int_equal(stage_row(f, id, "render", kind, path, &ok), 0);
}

/* Many threads create at once: every create returns only once its row is
 * readable, and every row is there. */
typedef struct creator_arg {
	job_store *s;
	int n;
	char (*ids)[37];
	int failures;
} creator_arg;

static void *creator(void *p)
{
	creator_arg *a = p;
	char err[256];
	for (int i = 0; i < a->n; i++) {
		store_job r, g;
		make_job(&r, "concurrent question text");
		if (create_wait(a->s, &r, err, sizeof(err)) != 0 ||
		    store_get(a->s, r.id, &g, err, sizeof(err)) != 0)
			a->failures++;
		else
			store_job_clear(&g);
		memcpy(a->ids[i], r.id, 37);
		store_job_clear(&r);
	}
	return NULL;
}

static void test_concurrent_creates_durable(void **state)
{
	fixture *f = *state;
	enum { T = 8, N = 50 };
	static char ids[T][N][37];
	pthread_t th[T];
	creator_arg a[T];
	char err[256];

	for (int i = 0; i < T; i++) {
		a[i] = (creator_arg){ f->s, N, ids[i], 0 };
		pthread_create(&th[i], NULL, creator, &a[i]);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].failures, 0);
	}
	/* Reopen: everything answered is on disk. */
	store_close(f->s);
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	for (int i = 0; i < T; i++)
		for (int k = 0; k < N; k++) {
			store_job g;
			assert_int_equal(store_get(f->s, ids[i][k], &g, err, sizeof(err)), 0);
			store_job_clear(&g);
		}
}

/* The usage object survives a reopen, and an update without one keeps it. */
static void test_usage_kept(void **state)
{
	fixture *f = *state;
	store_job r, g;
	char err[256];
	const char *u = "{\"stages\":[],\"totals\":{\"input_tokens\":10},\"cost\":null}";

	make_job(&r, "What is usage?");
	assert_int_equal(create_wait(f->s, &r, err, sizeof(err)), 0);
	assert_int_equal(store_get(f->s, r.id, &g, err, sizeof(err)), 0);
	assert_null(g.usage);
	store_job_clear(&g);
	r.usage = xstrdup(u);
	assert_int_equal(store_update(f->s, &r, 1, err, sizeof(err)), 0);
	free(r.usage);
	r.usage = NULL;
	assert_int_equal(store_update(f->s, &r, 1, err, sizeof(err)), 0);
	store_close(f->s);
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_int_equal(store_get(f->s, r.id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.usage, u);
	store_job_clear(&g);
	store_job_clear(&r);
}

/* Updates of one job queued together are written as their last, which
 * takes what the earlier ones had and it lacks: the usage object, a higher
 * progress. The job ends in its last state. */
static void test_updates_folded(void **state)
{
	fixture *f = *state;
	store_job r, g;
	char err[256];
	const char *u = "{\"stages\":[],\"totals\":{\"input_tokens\":7},\"cost\":null}";

	make_job(&r, "What is folded?");
	assert_int_equal(create_wait(f->s, &r, err, sizeof(err)), 0);
	r.usage = xstrdup(u);
	r.progress = 60;
	free(r.status);
	r.status = xstrdup("generating_script");
	assert_int_equal(store_update(f->s, &r, 0, err, sizeof(err)), 0);
	free(r.usage);
	r.usage = NULL;
	r.progress = 40;
	free(r.status);
	r.status = xstrdup("validating_script");
	assert_int_equal(store_update(f->s, &r, 0, err, sizeof(err)), 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(store_get(f->s, r.id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.status, "validating_script");
	assert_int_equal(g.progress, 60);
	assert_string_equal(g.usage, u);
	store_job_clear(&g);
	store_job_clear(&r);
}

/* The URLs of the files beside the video (captions, poster) survive a
 * reopen. */
static void test_media_kept(void **state)
{
	fixture *f = *state;
	store_job r, g;
	char err[256];

	make_job(&r, "Where are the captions?");
	assert_int_equal(create_wait(f->s, &r, err, sizeof(err)), 0);
	r.media[0] = xstrdup("/media/x.vtt");
	r.media[2] = xstrdup("https://cdn.example/x.jpg");
	assert_int_equal(store_update(f->s, &r, 1, err, sizeof(err)), 0);
	store_close(f->s);
	assert_int_equal(store_open(f->path, &f->s, err, sizeof(err)), 0);
	assert_int_equal(store_get(f->s, r.id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.media[0], "/media/x.vtt");
	assert_null(g.media[1]);
	assert_string_equal(g.media[2], "https://cdn.example/x.jpg");
	assert_null(g.media[3]);
	store_job_clear(&g);
	store_job_clear(&r);
}

/* A store written before jobs had a usage column opens, keeps its rows and
 * takes usage from then on. */
static void test_old_store_migrated(void **state)
{
	char dir[] = "/tmp/vg_test_store_old.XXXXXX", path[96], err[256];
	sqlite3 *db;
	job_store *s;
	store_job g;
	const char *id = "3f0c8d9e-6a71-4c55-9a8e-0d3b5c1e2f40";

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"CREATE TABLE jobs(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
		" created_at TEXT NOT NULL, question TEXT NOT NULL, model TEXT NOT NULL,"
		" voice TEXT NOT NULL, status TEXT NOT NULL, progress INTEGER NOT NULL DEFAULT 0,"
		" message TEXT, initial_explanation TEXT, refined_explanation TEXT,"
		" video_url TEXT, s3_url TEXT, finished INTEGER NOT NULL DEFAULT 0);"
		"INSERT INTO jobs(id, created_at, question, model, voice, status, progress, finished)"
		" VALUES('3f0c8d9e-6a71-4c55-9a8e-0d3b5c1e2f40', '2026-11-27T10:17:36.306Z',"
		" 'Old?', 'm', 'Joanna', 'completed', 100, 1);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(store_get(s, id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.question, "Old?");
	assert_null(g.usage);
	for (int i = 0; i < 4; i++) /* nor captions nor poster */
		assert_null(g.media[i]);
	g.usage = xstrdup("{\"stages\":[],\"totals\":{},\"cost\":null}");
	assert_int_equal(store_update(s, &g, 1, err, sizeof(err)), 0);
	store_job_clear(&g);
	assert_int_equal(store_get(s, id, &g, err, sizeof(err)), 0);
	assert_non_null(g.usage);
	store_job_clear(&g);
	store_close(s);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_open_bad_path(void **state)
{
	(void)state;
	job_store *s = NULL;
	char err[256] = "";
	assert_int_not_equal(store_open("/nonexistent-dir/x/jobs.db", &s, err, sizeof(err)), 0);
	assert_null(s);
	assert_non_null(strstr(err, "/nonexistent-dir/x/jobs.db"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_progress_monotonic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_update_then_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unfinished_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_by_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_unfinished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_creates_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_updates_folded, setup, teardown),
		cmocka_unit_test(test_old_store_migrated),
		cmocka_unit_test_setup_teardown(test_media_kept, setup, teardown),
		cmocka_unit_test(test_open_bad_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
