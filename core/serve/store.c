/*
 * The job store interface (store.h) over its backends (store_impl.h): picks
 * SQLite or PostgreSQL from the locator, runs the one writer thread that
 * commits queued writes in batches (group commit) on either, and holds the
 * record helpers and the reader pool both use.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "util.h"

struct job_store {
	const store_backend *be;
	void *impl;

	pthread_mutex_t qlock;
	pthread_cond_t qcv;    /* work arrived */
	pthread_cond_t donecv; /* a batch committed */
	store_op *head, *tail;
	int stop;
	pthread_t writer;
	int writer_started;
	long long hold_us; /* see batch_hold_locked */
	atomic_ullong batches, writes, folded;
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

char *store_dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void store_job_copy(store_job *dst, const store_job *src)
{
	*dst = *src;
	dst->question = store_dup_or_null(src->question);
	dst->model = store_dup_or_null(src->model);
	dst->voice = store_dup_or_null(src->voice);
	dst->status = store_dup_or_null(src->status);
	dst->message = store_dup_or_null(src->message);
	dst->initial_explanation = store_dup_or_null(src->initial_explanation);
	dst->refined_explanation = store_dup_or_null(src->refined_explanation);
	dst->video_url = store_dup_or_null(src->video_url);
	dst->s3_url = store_dup_or_null(src->s3_url);
	dst->usage = store_dup_or_null(src->usage);
	for (int i = 0; i < 4; i++)
		dst->media[i] = store_dup_or_null(src->media[i]);
}

void store_jobs_free(store_job *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		store_job_clear(&v[i]);
	free(v);
}

int store_is_url(const char *locator)
{
	return strncmp(locator, "postgresql://", 13) == 0 ||
	       strncmp(locator, "postgres://", 11) == 0;
}

/* Copies src[0..n) into out at *o, as far as it fits. */
static void put(char *out, size_t outlen, size_t *o, const char *src, size_t n)
{
	for (size_t i = 0; i < n && *o + 1 < outlen; i++)
		out[(*o)++] = src[i];
	out[*o] = '\0';
}

const char *store_locator_show(const char *locator, char *out, size_t outlen)
{
	size_t o = 0;

	if (!outlen)
		return out;
	out[0] = '\0';
	if (!store_is_url(locator)) {
		put(out, outlen, &o, locator, strlen(locator));
		return out;
	}
	/* The user info is what lies between "://" and the last '@' before the
	 * host's end; a password is its part after the first ':'. */
	const char *auth = strstr(locator, "://") + 3;
	size_t hostpart = strcspn(auth, "/?");
	const char *at = NULL;
	for (const char *p = auth; p < auth + hostpart; p++)
		if (*p == '@')
			at = p;
	put(out, outlen, &o, locator, (size_t)(auth - locator));
	const char *rest = auth;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon) {
			put(out, outlen, &o, auth, (size_t)(colon - auth));
			put(out, outlen, &o, ":***", 4);
			rest = at;
		}
	}
	/* Query parameters: password=... becomes password=***. */
	while (*rest) {
		size_t n = strcspn(rest, "?&");
		put(out, outlen, &o, rest, n);
		rest += n;
		if (!*rest)
			break;
		put(out, outlen, &o, rest, 1);
		rest++;
		if (strncmp(rest, "password=", 9) == 0) {
			put(out, outlen, &o, "password=***", 12);
			rest += 9 + strcspn(rest + 9, "&");
		}
	}
	return out;
}

/* ---------------------------------------------------------------------
 * The reader pool.
 * --------------------------------------------------------------------- */

void store_pool_init(store_pool *p, int n)
{
	p->n = n < STORE_POOL_MAX ? n : STORE_POOL_MAX;
	for (int i = 0; i < p->n; i++)
		pthread_mutex_init(&p->locks[i], NULL);
	atomic_init(&p->next, 0);
}

void store_pool_destroy(store_pool *p)
{
	for (int i = 0; i < p->n; i++)
		pthread_mutex_destroy(&p->locks[i]);
	p->n = 0;
}

int store_pool_take(store_pool *p)
{
	unsigned start = atomic_fetch_add(&p->next, 1);
	for (int i = 0; i < p->n; i++) {
		int slot = (int)((start + (unsigned)i) % (unsigned)p->n);
		if (pthread_mutex_trylock(&p->locks[slot]) == 0)
			return slot;
	}
	int slot = (int)(start % (unsigned)p->n);
	pthread_mutex_lock(&p->locks[slot]);
	return slot;
}

void store_pool_give(store_pool *p, int slot)
{
	pthread_mutex_unlock(&p->locks[slot]);
}

/* ---------------------------------------------------------------------
 * The writer thread.
 * --------------------------------------------------------------------- */

static void op_free(store_op *op)
{
	store_job_clear(&op->rec);
	free(op->stage_id);
	free(op->kind);
	free(op->path);
	free(op);
}

/* Folds each update of a job into a later update of the same job (and
 * lease) in the batch: an update is the job's whole state, so the later
 * one alone is written, as one statement and one change notice. What the
 * later one lacks and the store would keep (a usage object, a higher
 * progress) it takes from the earlier one. */
static void batch_fold(store_op *batch)
{
	for (store_op *op = batch; op; op = op->next) {
		if (op->type != OP_UPDATE)
			continue;
		for (store_op *later = op->next; later; later = later->next) {
			if (later->type != OP_UPDATE || strcmp(later->rec.id, op->rec.id) != 0)
				continue;
			if (strcmp(later->rec.lease, op->rec.lease) != 0)
				break; /* another holder: both are written, in order */
			if (!later->rec.usage) {
				later->rec.usage = op->rec.usage;
				op->rec.usage = NULL;
			}
			if (later->rec.progress < op->rec.progress)
				later->rec.progress = op->rec.progress;
			op->folded = later;
			break;
		}
	}
}

/* The backends without a batch function: begin, exec each op, commit. */
static int batch_exec(job_store *s, store_op **ops, size_t n)
{
	char err[256] = "";

	if (s->be->begin(s->impl, err, sizeof(err)) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		ops[i]->err[0] = '\0';
		ops[i]->rc = s->be->exec(s->impl, ops[i], &ops[i]->seq, ops[i]->err,
					 sizeof(ops[i]->err));
	}
	if (s->be->commit(s->impl, err, sizeof(err)) == 0)
		return 0;
fail:
	for (size_t i = 0; i < n; i++) {
		ops[i]->rc = -1;
		snprintf(ops[i]->err, sizeof(ops[i]->err), "%s", err);
	}
	return -1;
}

/* Commits one batch; every op gets its own result, a folded update its
 * later one's. */
static void batch_run(job_store *s, store_op *batch)
{
	store_op *stack[64], **ops = stack;
	size_t n = 0, cap = sizeof(stack) / sizeof(stack[0]);
	int rc = 0;

	batch_fold(batch);
	for (store_op *op = batch; op; op = op->next) {
		if (op->folded)
			atomic_fetch_add_explicit(&s->folded, 1, memory_order_relaxed);
		if (op->folded || op->type == OP_FLUSH)
			continue;
		if (n == cap) {
			cap *= 2;
			store_op **more = xmalloc(cap * sizeof(*more));
			memcpy(more, ops, n * sizeof(*more));
			if (ops != stack)
				free(ops);
			ops = more;
		}
		ops[n++] = op;
	}
	char why[256] = "";

	if (n > 0) {
		rc = s->be->batch ? s->be->batch(s->impl, ops, n) : batch_exec(s, ops, n);
		atomic_fetch_add_explicit(&s->batches, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->writes, n, memory_order_relaxed);
	}
	if (rc != 0)
		memcpy(why, ops[0]->err, sizeof(why));
	if (ops != stack)
		free(ops);
	for (store_op *op = batch; op; op = op->next) {
		const store_op *as = op;
		while (as->folded)
			as = as->folded;
		if (op->type == OP_FLUSH) {
			op->rc = rc;
			memcpy(op->err, why, sizeof(op->err));
		} else if (as != op) {
			op->rc = as->rc;
			memcpy(op->err, as->err, sizeof(op->err));
		}
		if (op->waiter) {
			op->waiter->rc = op->rc;
			op->waiter->seq = op->seq;
			if (op->rc)
				memcpy(op->waiter->err, op->err, sizeof(op->waiter->err));
		}
	}
	/* Committed (or not): tell the asynchronous creators. */
	for (store_op *op = batch; op; op = op->next)
		if (op->done)
			op->done(op->done_ud, op->rc, op->seq);
}

/* 1 if every queued op is a write of a leased job that nobody waits for,
 * a state or the last stage row: a worker's progress, which may wait for
 * the job's end. qlock held. */
static int queue_holdable_locked(const job_store *s)
{
	for (const store_op *op = s->head; op; op = op->next)
		if (op->waiter || !op->rec.lease[0] ||
		    (op->type != OP_UPDATE && !(op->type == OP_STAGE && op->last)))
			return 0;
	return 1;
}

/* Holds back a worker's writes that nobody waits for, up to hold_us, until
 * a write that is waited for joins them (the job's end, with the next
 * claim): a short job's states, last stage row and end then take one round
 * trip and one commit, its earlier states folded into its end (batch_fold).
 * A long stage's state is written hold_us late. An earlier stage's row is
 * not held: it goes at once, with the states queued before it. Only leased
 * writes wait, and only in a worker (server.c sets hold_us to 0 in a node
 * that serves status: it shows each state as it queues it, and a crash
 * must not take one back). qlock held. */
static void batch_hold_locked(job_store *s)
{
	struct timespec ts;

	if (s->hold_us <= 0 || !queue_holdable_locked(s))
		return;
	util_deadline_us(&ts, s->hold_us);
	while (!s->stop && queue_holdable_locked(s))
		if (pthread_cond_timedwait(&s->qcv, &s->qlock, &ts) != 0)
			break;
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
		batch_hold_locked(s);
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

/* Queues the ops first..last (linked by next) at once; waits until those
 * with a waiter (w is first's, last_w last's; NULL: none) are committed.
 * Returns w->rc (0 without one). */
static int ops_submit(job_store *s, store_op *first, store_op *last, op_waiter *w,
		      op_waiter *last_w)
{
	first->waiter = w;
	if (last != first)
		last->waiter = last_w;
	last->next = NULL;
	pthread_mutex_lock(&s->qlock);
	if (s->stop) {
		pthread_mutex_unlock(&s->qlock);
		for (store_op *op = first, *next; op; op = next) {
			next = op->next;
			if (op->waiter) {
				op->waiter->rc = -1;
				snprintf(op->waiter->err, sizeof(op->waiter->err), "job store: closing");
			}
			op_free(op);
		}
		return -1;
	}
	if (s->tail)
		s->tail->next = first;
	else
		s->head = first;
	s->tail = last;
	pthread_cond_signal(&s->qcv);
	while ((w && !w->done) || (last_w && !last_w->done))
		pthread_cond_wait(&s->donecv, &s->qlock);
	pthread_mutex_unlock(&s->qlock);
	return w ? w->rc : 0;
}

/* Queues op; with w, waits until it is committed and returns w->rc. */
static int op_submit(job_store *s, store_op *op, op_waiter *w)
{
	return ops_submit(s, op, op, w, NULL);
}

/* ---------------------------------------------------------------------
 * Opening and closing.
 * --------------------------------------------------------------------- */

int store_open(const char *locator, job_store **out, char *err, size_t errlen)
{
	job_store *s = xcalloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qcv, NULL);
	pthread_cond_init(&s->donecv, NULL);
	s->hold_us = STORE_HOLD_US;
	if (store_is_url(locator)) {
		s->be = &store_pg_backend;
		rc = store_pg_open(locator, &s->impl, err, errlen);
	} else {
		s->be = &store_sqlite_backend;
		rc = store_sqlite_open(locator, &s->impl, err, errlen);
	}
	if (rc != 0)
		goto fail;
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
	if (s->impl)
		s->be->close(s->impl);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qcv);
	pthread_cond_destroy(&s->donecv);
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
		    const char *kind, const char *path, int ok, long long duration_ms,
		    const char *lease, int last)
{
	store_op *op = xcalloc(1, sizeof(*op));

	op->type = OP_STAGE;
	op->last = last;
	snprintf(op->rec.id, sizeof(op->rec.id), "%s", job_id);
	snprintf(op->rec.lease, sizeof(op->rec.lease), "%s", lease ? lease : "");
	op->stage_id = xstrdup(stage_id);
	op->kind = store_dup_or_null(kind);
	op->path = store_dup_or_null(path);
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

void store_set_hold(job_store *s, long long us)
{
	pthread_mutex_lock(&s->qlock);
	s->hold_us = us;
	pthread_cond_signal(&s->qcv);
	pthread_mutex_unlock(&s->qlock);
}

void store_get_counts(job_store *s, store_counts *out)
{
	out->batches = atomic_load_explicit(&s->batches, memory_order_relaxed);
	out->writes = atomic_load_explicit(&s->writes, memory_order_relaxed);
	out->folded = atomic_load_explicit(&s->folded, memory_order_relaxed);
	out->round_trips = s->be->round_trips ? s->be->round_trips(s->impl) : 0;
}

/* ---------------------------------------------------------------------
 * Reads: straight to the backend, which never waits for the writer.
 * --------------------------------------------------------------------- */

int store_get(job_store *s, const char *id, store_job *out, char *err, size_t errlen)
{
	return s->be->get(s->impl, id, out, err, errlen);
}

int store_list(job_store *s, long long before, int limit, store_job **out,
	       size_t *n, char *err, size_t errlen)
{
	if (before <= 0)
		before = (long long)(~0ULL >> 1);
	return s->be->list(s->impl, before, limit, out, n, err, errlen);
}

int store_next_unfinished(job_store *s, long long after, store_job *out,
			  char *err, size_t errlen)
{
	return s->be->next_unfinished(s->impl, after, out, err, errlen);
}

int store_count_unfinished(job_store *s, long long *n, char *err, size_t errlen)
{
	return s->be->count_unfinished(s->impl, n, err, errlen);
}

int store_count_by_status(job_store *s, void (*cb)(void *ud, const char *status, long long n),
			  void *ud, char *err, size_t errlen)
{
	return s->be->count_by_status(s->impl, cb, ud, err, errlen);
}

/* ---------------------------------------------------------------------
 * A shared store.
 * --------------------------------------------------------------------- */

int store_is_shared(job_store *s)
{
	return s->be->claim != NULL;
}

/* -1 with the reason when s is not shared. */
static int not_shared(job_store *s, char *err, size_t errlen)
{
	util_errf(err, errlen, "job store: the %s store is one process's own; API nodes and "
		  "workers share a PostgreSQL store (--db postgresql://...)", s->be->name);
	return -1;
}

int store_claim(job_store *s, int lease_ms, store_job *out, char *err, size_t errlen)
{
	if (!s->be->claim)
		return not_shared(s, err, errlen);
	return s->be->claim(s->impl, lease_ms, out, err, errlen);
}

int store_update_claim(job_store *s, const store_job *rec, int lease_ms, store_job *out,
		       int *claimed, char *err, size_t errlen, char *claim_err,
		       size_t claim_errlen)
{
	store_op *up, *cl;
	op_waiter w = { 0 }, cw = { 0 };

	if (!s->be->claim || !s->be->batch) {
		*claimed = not_shared(s, claim_err, claim_errlen);
		return store_update(s, rec, 1, err, errlen);
	}
	up = xcalloc(1, sizeof(*up));
	up->type = OP_UPDATE;
	store_job_copy(&up->rec, rec);
	cl = xcalloc(1, sizeof(*cl));
	cl->type = OP_CLAIM;
	cl->lease_ms = lease_ms;
	cl->out = out;
	memset(out, 0, sizeof(*out));
	up->next = cl; /* queued together: one batch */
	int rc = ops_submit(s, up, cl, &w, &cw);
	if (rc)
		util_errf(err, errlen, "%s", w.err);
	*claimed = cw.rc;
	if (cw.rc < 0)
		util_errf(claim_err, claim_errlen, "%s", cw.err);
	return rc;
}

int store_renew(job_store *s, const char *id, const char *lease, int lease_ms, char *err,
		size_t errlen)
{
	if (!s->be->renew)
		return not_shared(s, err, errlen);
	return s->be->renew(s->impl, id, lease, lease_ms, err, errlen);
}

int store_release(job_store *s, const char *id, const char *lease, char *err, size_t errlen)
{
	if (!s->be->release)
		return not_shared(s, err, errlen);
	return s->be->release(s->impl, id, lease, err, errlen);
}

int store_count_waiting(job_store *s, long long *n, char *err, size_t errlen)
{
	if (!s->be->count_waiting)
		return not_shared(s, err, errlen);
	return s->be->count_waiting(s->impl, n, err, errlen);
}

int store_cancel(job_store *s, const char *id, const char *message, store_job *out, char *err,
		 size_t errlen)
{
	if (!s->be->cancel)
		return not_shared(s, err, errlen);
	return s->be->cancel(s->impl, id, message, out, err, errlen);
}

int store_listen(job_store *s, int changes, void (*note)(void *ud, int what, const char *id),
		 void *ud, char *err, size_t errlen)
{
	if (!s->be->listen)
		return not_shared(s, err, errlen);
	return s->be->listen(s->impl, changes, note, ud, err, errlen);
}
