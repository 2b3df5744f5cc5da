/*
 * Leases on shared jobs (lease.h): a table of the jobs this process runs
 * and the thread that renews them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lease.h"
#include "log.h"
#include "util.h"

typedef struct lease {
	int used;
	char id[37];
	char token[37];
	/* By this process's clock: when the last renewal started, plus the
	 * lease, less a quarter of it, so that a job stops (its stage's
	 * cancellation takes effect) before another worker can claim it. */
	long long ends_ms;
	atomic_int lost;
	int lost_told, cancel_told;
} lease;

struct lease_table {
	job_store *st;
	int lease_ms;
	void (*on_event)(void *ud, const char *id, enum lease_event ev);
	void *ud;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int stop;
	pthread_t thread;
	long long claims_us[LEASE_CLAIMS_KEPT]; /* a ring, under lock */
	long long claims;
	int n;
	lease slots[];
};

/* Marks l lost, saying why in the log the first time. */
static void lease_mark_lost(lease *l, const char *why)
{
	int was = 0;

	if (atomic_compare_exchange_strong(&l->lost, &was, 1))
		log_msg(VG_LOG_WARN, "worker: job %s: lease lost (%s); stopping it, writing "
			"nothing more of it", l->id, why);
}

/* Renews one lease (its id and token copied out under the lock). */
static void lease_renew(lease_table *t, int i)
{
	char id[37], token[37], err[256];
	long long started = util_now_ms();

	pthread_mutex_lock(&t->lock);
	lease *l = &t->slots[i];
	if (!l->used || l->lost_told) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	if (atomic_load(&l->lost)) {
		/* Found lost by the clock (lease_is_lost) before a renewal. */
		l->lost_told = 1;
		memcpy(id, l->id, sizeof(id));
		pthread_mutex_unlock(&t->lock);
		t->on_event(t->ud, id, LEASE_LOST);
		return;
	}
	memcpy(id, l->id, sizeof(id));
	memcpy(token, l->token, sizeof(token));
	pthread_mutex_unlock(&t->lock);

	int rc = store_renew(t->st, id, token, t->lease_ms, err, sizeof(err));
	enum lease_event ev = 0;
	pthread_mutex_lock(&t->lock);
	if (!l->used || strcmp(l->token, token) != 0) {
		pthread_mutex_unlock(&t->lock); /* dropped meanwhile */
		return;
	}
	if (rc == 0 || rc == 2) {
		l->ends_ms = started + t->lease_ms - t->lease_ms / 4;
		if (rc == 2 && !l->cancel_told) {
			l->cancel_told = 1;
			ev = LEASE_CANCEL;
		}
	} else if (rc == 1 || util_now_ms() >= l->ends_ms) {
		/* Lost for sure, or unknown past its end: another worker may
		 * hold it now. */
		lease_mark_lost(l, rc == 1 ? "claimed again or finished elsewhere" : err);
		l->lost_told = 1;
		ev = LEASE_LOST;
	}
	pthread_mutex_unlock(&t->lock);
	if (ev)
		t->on_event(t->ud, id, ev);
}

static void *renew_main(void *arg)
{
	lease_table *t = arg;
	long long every = t->lease_ms / 4;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		struct timespec ts;
		util_deadline_us(&ts, every * 1000);
		pthread_cond_timedwait(&t->cv, &t->lock, &ts);
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->lock);
		for (int i = 0; i < t->n; i++)
			lease_renew(t, i);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

lease_table *lease_table_new(job_store *st, int n, int lease_ms,
			     void (*on_event)(void *ud, const char *id, enum lease_event ev),
			     void *ud)
{
	lease_table *t = xcalloc(1, sizeof(*t) + (size_t)n * sizeof(lease));

	t->st = st;
	t->n = n;
	t->lease_ms = lease_ms;
	t->on_event = on_event;
	t->ud = ud;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cv, NULL);
	if (pthread_create(&t->thread, NULL, renew_main, t) != 0) {
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->cv);
		free(t);
		return NULL;
	}
	return t;
}

void lease_table_free(lease_table *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cv);
	free(t);
}

int lease_hold(lease_table *t, const char *id, const char *token, long long claimed_ms)
{
	int slot = -1;

	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < t->n && slot < 0; i++)
		if (!t->slots[i].used)
			slot = i;
	if (slot >= 0) {
		lease *l = &t->slots[slot];
		l->used = 1;
		snprintf(l->id, sizeof(l->id), "%s", id);
		snprintf(l->token, sizeof(l->token), "%s", token);
		l->ends_ms = claimed_ms + t->lease_ms - t->lease_ms / 4;
		atomic_store(&l->lost, 0);
		l->lost_told = 0;
		l->cancel_told = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return slot;
}

int lease_is_lost(lease_table *t, int slot)
{
	lease *l = &t->slots[slot];

	if (atomic_load(&l->lost))
		return 1;
	/* The renewal thread may be late: the clock alone decides too. */
	pthread_mutex_lock(&t->lock);
	int lost = util_now_ms() >= l->ends_ms;
	if (lost)
		lease_mark_lost(l, "not renewed in time");
	pthread_mutex_unlock(&t->lock);
	return lost;
}

void lease_note_claim(lease_table *t, long long us)
{
	pthread_mutex_lock(&t->lock);
	t->claims_us[t->claims++ % LEASE_CLAIMS_KEPT] = us;
	pthread_mutex_unlock(&t->lock);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

double lease_claim_quantile(lease_table *t, double q, long long *count)
{
	long long v[LEASE_CLAIMS_KEPT];

	pthread_mutex_lock(&t->lock);
	size_t n = t->claims < LEASE_CLAIMS_KEPT ? (size_t)t->claims : LEASE_CLAIMS_KEPT;
	memcpy(v, t->claims_us, n * sizeof(v[0]));
	*count = t->claims;
	pthread_mutex_unlock(&t->lock);
	if (!n)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_ll);
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return (double)v[i < n ? i : n - 1] / 1e6;
}

void lease_drop(lease_table *t, int slot)
{
	pthread_mutex_lock(&t->lock);
	t->slots[slot].used = 0;
	t->slots[slot].token[0] = '\0';
	pthread_mutex_unlock(&t->lock);
}
