/*
 * The leases a worker holds on the jobs it runs from a shared store
 * (store_claim): renewed by a thread of their own, and judged lost when the
 * store says so or when the worker's own clock passes the lease's end
 * without a renewal (the store unreachable), so a worker that lost a job
 * stops before writing anything more of it.
 */
#ifndef VG_LEASE_H
#define VG_LEASE_H

#include "store.h"

typedef struct lease_table lease_table;

enum lease_event {
	LEASE_LOST = 1,   /* stop the job now, write nothing more */
	LEASE_CANCEL,     /* a DELETE asked (from any node): cancel it */
};

/* Up to n leases of lease_ms each on store st, renewed every lease_ms / 4.
 * on_event(ud, job id, event) runs on the renewal thread, at most once per
 * event and lease. NULL if the thread cannot start. */
lease_table *lease_table_new(job_store *st, int n, int lease_ms,
			     void (*on_event)(void *ud, const char *id, enum lease_event ev),
			     void *ud);
/* Stops the renewal thread; the leases still held are left to run out. */
void lease_table_free(lease_table *t);

/* Starts holding job id's lease (token, from store_claim), claimed at
 * claimed_ms (util_now_ms before the claim). A slot number, -1 if full. */
int lease_hold(lease_table *t, const char *id, const char *token, long long claimed_ms);
/* 1 once the lease is lost: the job's writes must stop. */
int lease_is_lost(lease_table *t, int slot);
/* Stops renewing slot (the job ended, or is given back). */
void lease_drop(lease_table *t, int slot);

/* Records how long a successful claim took (microseconds). */
void lease_note_claim(lease_table *t, long long us);
/* The q-quantile (0..1) of the last LEASE_CLAIMS_KEPT claims' durations
 * in seconds, and how many claims there were in all; 0 claims: 0. */
#define LEASE_CLAIMS_KEPT 4096
double lease_claim_quantile(lease_table *t, double q, long long *count);

#endif
