/*
 * What the PostgreSQL job store (core/serve/store_pg.c) adds to the store's
 * contract (test_store.c runs that on both backends): migrations applied
 * once, also by opens racing on a new database; a database newer than the
 * binary refused; a URL's password in no message; a server restart survived;
 * what sharing adds: claims under leases (never one job to two claimers),
 * leases renewed, lost and given back, updates fenced by the lease, cancels
 * from any node, and the LISTEN wake-up.
 * Uses $VIDGEN_TEST_PG, or starts its own server with tests/pg_server.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_helpers.h"
#include "serve/store.h"
#include "util.h"

/* The server's socket folder: the host= of its URL. */
static void server_host(char *out, size_t len)
{
	const char *h = strstr(pgtest_server(), "host=");
	assert_non_null(h);
	snprintf(out, len, "%.*s", (int)strcspn(h + 5, "&"), h + 5);
}

static void query(const char *url, const char *sql, char *out, size_t len)
{
	assert_int_equal(pgtest_query(url, sql, out, len), 0);
}

static void open_close(const char *url)
{
	job_store *s;
	char err[512];

	if (store_open(url, &s, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	store_close(s);
}

static void test_migrations_once(void **state)
{
	char url[256], n[32], top[32], again[32];

	(void)state;
	assert_int_equal(pgtest_createdb(url, sizeof(url)), 0);
	open_close(url);
	query(url, "SELECT count(*) FROM vidgen_schema", n, sizeof(n));
	query(url, "SELECT max(version) FROM vidgen_schema", top, sizeof(top));
	assert_true(atoi(n) >= 1);
	assert_string_equal(n, top); /* 1..N, each once */
	query(url, "SELECT count(*) FROM jobs", again, sizeof(again));
	assert_string_equal(again, "0");
	open_close(url);
	query(url, "SELECT count(*) FROM vidgen_schema", again, sizeof(again));
	assert_string_equal(again, n);
	pgtest_dropdb(url);
}

typedef struct opener {
	const char *url;
	int rc;
	char err[512];
} opener;

static void *open_one(void *p)
{
	opener *o = p;
	job_store *s = NULL;

	o->rc = store_open(o->url, &s, o->err, sizeof(o->err));
	store_close(s);
	return NULL;
}

/* Nodes starting together on a new database: each migration runs once. */
static void test_concurrent_first_open(void **state)
{
	enum { T = 6 };
	char url[256], n[32], top[32];
	pthread_t th[T];
	opener o[T];

	(void)state;
	assert_int_equal(pgtest_createdb(url, sizeof(url)), 0);
	for (int i = 0; i < T; i++) {
		o[i] = (opener){ url, -1, "" };
		pthread_create(&th[i], NULL, open_one, &o[i]);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		if (o[i].rc != 0)
			fail_msg("open %d: %s", i, o[i].err);
	}
	query(url, "SELECT count(*) FROM vidgen_schema", n, sizeof(n));
	query(url, "SELECT max(version) FROM vidgen_schema", top, sizeof(top));
	assert_string_equal(n, top);
	pgtest_dropdb(url);
}

static void test_newer_schema_refused(void **state)
{
	char url[256], n[32];
	job_store *s = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(pgtest_createdb(url, sizeof(url)), 0);
	open_close(url);
	query(url, "INSERT INTO vidgen_schema(version) VALUES(9999)", NULL, 0);
	assert_int_not_equal(store_open(url, &s, err, sizeof(err)), 0);
	assert_null(s);
	assert_non_null(strstr(err, "version 9999"));
	assert_non_null(strstr(err, "newer than this vidgen"));
	/* Refused without touching anything. */
	query(url, "SELECT count(*) FROM vidgen_schema WHERE version < 9999", n, sizeof(n));
	assert_true(atoi(n) >= 1);
	pgtest_dropdb(url);
}

/* Neither the error of a failed open nor the locator shown in logs holds
 * the password, in any of the forms a URL can carry it. */
static void test_password_never_shown(void **state)
{
	static const char *const urls[] = {
		"postgresql://vidgen:Sup3rS3cretPw@127.0.0.1:1/jobs",
		"postgres://vidgen:Sup3r%zzS3cretPw@127.0.0.1:1/jobs",
		"postgresql://vidgen@127.0.0.1:1/jobs?password=Sup3rS3cretPw&sslmode=disable",
		"postgresql://vidgen:Sup3rS3cretPw@127.0.0.1:99999/jobs",
	};
	char err[512], shown[512];

	(void)state;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		job_store *s = NULL;
		err[0] = '\0';
		assert_int_not_equal(store_open(urls[i], &s, err, sizeof(err)), 0);
		assert_null(s);
		assert_non_null(strstr(err, "127.0.0.1"));
		assert_null(strstr(err, "S3cret"));
		store_locator_show(urls[i], shown, sizeof(shown));
		assert_null(strstr(shown, "S3cret"));
		assert_non_null(strstr(shown, "***"));
		assert_non_null(strstr(shown, "vidgen"));
	}
	store_locator_show("postgresql://u:pw@db.example:5432/jobs?sslmode=require", shown,
			   sizeof(shown));
	assert_string_equal(shown, "postgresql://u:***@db.example:5432/jobs?sslmode=require");
	store_locator_show("/var/lib/vidgen/vidgen.db", shown, sizeof(shown));
	assert_string_equal(shown, "/var/lib/vidgen/vidgen.db");
	assert_true(store_is_url("postgres://h/db"));
	assert_false(store_is_url("postgresql.db"));
}

/* A new store on a new database, and n jobs in it. */
static job_store *store_with_jobs(char *url, size_t len, int n, char (*ids)[37])
{
	job_store *s;
	char err[512];

	assert_int_equal(pgtest_createdb(url, len), 0);
	if (store_open(url, &s, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(pgtest_add_jobs(s, n, ids), 0);
	return s;
}

/* The server restarts under an open store: reads and writes carry on, on
 * new connections, and nothing committed before is lost. */
static void test_server_restart(void **state)
{
	char url[256], host[200], args[300], err[512];
	job_store *s;
	char ids[1][37];
	store_job r, g;

	(void)state;
	s = store_with_jobs(url, sizeof(url), 1, ids);
	assert_int_equal(store_get(s, ids[0], &r, err, sizeof(err)), 0);
	server_host(host, sizeof(host));
	snprintf(args, sizeof(args), "kill %s", host);
	assert_int_equal(pgtest_script(args, NULL, 0), 0);
	snprintf(args, sizeof(args), "restart %s", host);
	assert_int_equal(pgtest_script(args, NULL, 0), 0);
	/* Every reader connection was cut: each is opened again on use. */
	for (int i = 0; i < 8; i++) {
		if (store_get(s, r.id, &g, err, sizeof(err)) != 0)
			fail_msg("get %d after the restart: %s", i, err);
		assert_string_equal(g.status, "queued");
		store_job_clear(&g);
	}
	free(r.status);
	r.status = xstrdup("completed");
	r.finished = 1;
	if (store_update(s, &r, 1, err, sizeof(err)) != 0) /* the writer reconnects */
		fail_msg("update after the restart: %s", err);
	long long n = -1;
	assert_int_equal(store_count_unfinished(s, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	store_close(s);
	store_job_clear(&r);
	pgtest_dropdb(url);
}

static void test_claim_oldest_then_none(void **state)
{
	char url[256], ids[2][37], err[512];
	store_job a, b, c;

	(void)state;
	job_store *s = store_with_jobs(url, sizeof(url), 2, ids);
	assert_true(store_is_shared(s));
	assert_int_equal(store_claim(s, 20000, &a, err, sizeof(err)), 0);
	assert_string_equal(a.id, ids[0]);
	assert_int_equal(strlen(a.lease), 36);
	assert_int_equal(store_claim(s, 20000, &b, err, sizeof(err)), 0);
	assert_string_equal(b.id, ids[1]);
	assert_string_not_equal(a.lease, b.lease);
	assert_int_equal(store_claim(s, 20000, &c, err, sizeof(err)), 1);
	long long waiting = -1, unfinished = -1;
	assert_int_equal(store_count_waiting(s, &waiting, err, sizeof(err)), 0);
	assert_int_equal(store_count_unfinished(s, &unfinished, err, sizeof(err)), 0);
	assert_int_equal(waiting, 0); /* both held */
	assert_int_equal(unfinished, 2);
	assert_int_equal(store_renew(s, a.id, a.lease, 20000, err, sizeof(err)), 0);
	assert_int_equal(store_renew(s, a.id, b.lease, 20000, err, sizeof(err)), 1);
	/* Given back: claimable at once, under a new token. */
	assert_int_equal(store_release(s, a.id, a.lease, err, sizeof(err)), 0);
	assert_int_equal(store_claim(s, 20000, &c, err, sizeof(err)), 0);
	assert_string_equal(c.id, a.id);
	assert_string_not_equal(c.lease, a.lease);
	store_job_clear(&a);
	store_job_clear(&b);
	store_job_clear(&c);
	store_close(s);
	pgtest_dropdb(url);
}

/* A lease that ran out is lost: renewing fails, another claim takes the
 * job, and the old holder's updates are not written. */
static void test_lease_expires_fences_writes(void **state)
{
	char url[256], ids[1][37], err[512];
	store_job old, again, g;

	(void)state;
	job_store *s = store_with_jobs(url, sizeof(url), 1, ids);
	assert_int_equal(store_claim(s, 300, &old, err, sizeof(err)), 0);
	assert_int_equal(store_claim(s, 300, &again, err, sizeof(err)), 1); /* still leased */
	usleep(500 * 1000);
	assert_int_equal(store_renew(s, old.id, old.lease, 20000, err, sizeof(err)), 1);
	assert_int_equal(store_claim(s, 20000, &again, err, sizeof(err)), 0);
	assert_string_equal(again.id, old.id);

	free(old.status);
	old.status = xstrdup("completed");
	old.finished = 1;
	assert_int_equal(store_update(s, &old, 1, err, sizeof(err)), 1); /* fenced */
	assert_int_equal(store_get(s, old.id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.status, "queued");
	assert_int_equal(g.finished, 0);
	store_job_clear(&g);
	free(again.status);
	again.status = xstrdup("generating_script");
	again.progress = 60;
	assert_int_equal(store_update(s, &again, 1, err, sizeof(err)), 0);
	assert_int_equal(store_get(s, old.id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.status, "generating_script");
	store_job_clear(&g);
	char attempts[16];
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT attempts FROM jobs WHERE id = '%s'", old.id);
	query(url, sql, attempts, sizeof(attempts));
	assert_string_equal(attempts, "2");
	store_job_clear(&old);
	store_job_clear(&again);
	store_close(s);
	pgtest_dropdb(url);
}

/* The stage row of "explain" for job id: 1 and its path in path, or 0. */
static int stage_path(const char *url, const char *id, char *path, size_t len)
{
	char sql[200], n[16];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM stages WHERE job_id = '%s'", id);
	query(url, sql, n, sizeof(n));
	if (atoi(n) == 0)
		return 0;
	snprintf(sql, sizeof(sql), "SELECT path FROM stages WHERE job_id = '%s'", id);
	query(url, sql, path, len);
	return 1;
}

/* A stage row of a worker whose lease was taken is not written; the new
 * holder's is, and so is one without a lease (a single node's). */
static void test_stage_rows_fenced(void **state)
{
	char url[256], ids[2][37], err[512], path[64];
	store_job old, again;

	(void)state;
	job_store *s = store_with_jobs(url, sizeof(url), 2, ids);
	assert_int_equal(store_claim(s, 300, &old, err, sizeof(err)), 0);
	assert_int_equal(store_set_stage(s, old.id, "explain", "text", "/w1/first", 1, 5,
					 old.lease, 0), 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(stage_path(url, old.id, path, sizeof(path)), 1);
	assert_string_equal(path, "/w1/first"); /* written while the lease holds */
	usleep(500 * 1000);
	assert_int_equal(store_claim(s, 20000, &again, err, sizeof(err)), 0);
	assert_string_equal(again.id, old.id);
	assert_int_equal(store_set_stage(s, old.id, "explain", "text", "/w1/late", 1, 5,
					 old.lease, 0), 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(stage_path(url, old.id, path, sizeof(path)), 1);
	assert_string_equal(path, "/w1/first"); /* the old holder wrote nothing */
	assert_int_equal(store_set_stage(s, again.id, "explain", "text", "/w2/new", 1, 5,
					 again.lease, 0), 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(stage_path(url, old.id, path, sizeof(path)), 1);
	assert_string_equal(path, "/w2/new");
	assert_int_equal(store_set_stage(s, ids[1], "explain", "text", "/single", 1, 5, NULL, 0),
			 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(stage_path(url, ids[1], path, sizeof(path)), 1);
	store_job_clear(&old);
	store_job_clear(&again);
	store_close(s);
	pgtest_dropdb(url);
}

/* One statement the server refuses in a batch (a message that is not
 * UTF-8) fails its own op only: the ops before and after it in the same
 * transaction are committed. */
static void test_batch_failure_alone(void **state)
{
	char url[256], ids[4][37], err[512];
	store_job g[4];

	(void)state;
	job_store *s = store_with_jobs(url, sizeof(url), 4, ids);
	/* The first update holds the writer 300 ms in the server, so the
	 * next three are queued meanwhile and go as one batch. */
	query(url, "CREATE FUNCTION vg_slow() RETURNS trigger LANGUAGE plpgsql AS"
	      " $$BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END$$;"
	      "CREATE TRIGGER vg_slow BEFORE UPDATE ON jobs FOR EACH ROW"
	      " WHEN (NEW.message = 'slow') EXECUTE FUNCTION vg_slow()", NULL, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(store_get(s, ids[i], &g[i], err, sizeof(err)), 0);
		free(g[i].status);
		g[i].status = xstrdup("generating_script");
		free(g[i].message);
		g[i].message = xstrdup(i == 0 ? "slow" : i == 2 ? "not \xff UTF-8" : "fine");
		assert_int_equal(store_update(s, &g[i], 0, err, sizeof(err)), 0);
		if (i == 0)
			usleep(100 * 1000); /* the writer took it */
	}
	assert_int_equal(store_flush(s), 0);
	for (int i = 0; i < 4; i++) {
		store_job now;
		assert_int_equal(store_get(s, ids[i], &now, err, sizeof(err)), 0);
		assert_string_equal(now.status, i == 2 ? "queued" : "generating_script");
		store_job_clear(&now);
		store_job_clear(&g[i]);
	}
	/* Waited for, the refused one says why. */
	assert_int_equal(store_get(s, ids[2], &g[2], err, sizeof(err)), 0);
	free(g[2].message);
	g[2].message = xstrdup("\xff");
	assert_int_equal(store_update(s, &g[2], 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "UTF8"));
	store_job_clear(&g[2]);
	store_close(s);
	pgtest_dropdb(url);
}

/* A worker's job end and its next claim share one batch: the end is
 * written under its lease, the next job claimed under a new one; once
 * nothing is left the claim says so; an end whose lease was taken is not
 * written, and the claim is made all the same. */
static void test_update_claim(void **state)
{
	char url[256], ids[2][37], err[512], cerr[512];
	store_job a, next, g;
	int claimed = -9;

	(void)state;
	job_store *s = store_with_jobs(url, sizeof(url), 2, ids);
	assert_int_equal(store_claim(s, 20000, &a, err, sizeof(err)), 0);
	free(a.status);
	a.status = xstrdup("completed");
	a.finished = 1;
	a.progress = 100;
	assert_int_equal(store_update_claim(s, &a, 20000, &next, &claimed, err, sizeof(err),
					    cerr, sizeof(cerr)), 0);
	assert_int_equal(claimed, 0);
	assert_string_equal(next.id, ids[1]);
	assert_int_equal(strlen(next.lease), 36);
	assert_string_not_equal(next.lease, a.lease);
	assert_int_equal(store_get(s, ids[0], &g, err, sizeof(err)), 0);
	assert_string_equal(g.status, "completed");
	store_job_clear(&g);
	/* The new lease is the job's: renewing it works. */
	assert_int_equal(store_renew(s, next.id, next.lease, 20000, err, sizeof(err)), 0);

	store_job none;
	free(next.status);
	next.status = xstrdup("completed");
	next.finished = 1;
	assert_int_equal(store_update_claim(s, &next, 20000, &none, &claimed, err, sizeof(err),
					    cerr, sizeof(cerr)), 0);
	assert_int_equal(claimed, 1); /* nothing left */

	/* An end under a lease no longer held: not written (1). */
	memcpy(a.lease, "00000000-0000-4000-8000-000000000000", 37);
	free(a.status);
	a.status = xstrdup("failed");
	assert_int_equal(store_update_claim(s, &a, 20000, &none, &claimed, err, sizeof(err),
					    cerr, sizeof(cerr)), 1);
	assert_int_equal(claimed, 1);
	assert_int_equal(store_get(s, ids[0], &g, err, sizeof(err)), 0);
	assert_string_equal(g.status, "completed");
	store_job_clear(&g);
	store_job_clear(&a);
	store_job_clear(&next);
	store_close(s);
	pgtest_dropdb(url);
}

/* Polls (up to 3 s) until job id's status is want. 1 seen. */
static int status_becomes(job_store *s, const char *id, const char *want)
{
	char err[512];
	store_job g;
	int seen = 0;

	for (int i = 0; i < 150 && !seen; i++) {
		if (i)
			usleep(20 * 1000);
		assert_int_equal(store_get(s, id, &g, err, sizeof(err)), 0);
		seen = strcmp(g.status, want) == 0;
		store_job_clear(&g);
	}
	return seen;
}

/* A worker's writes that nobody waits for (a leased job's states and its
 * last stage row) are held until the waited write that ends them, and go
 * with it in one batch, the earlier state folded into the end; an earlier
 * stage's row is not held; held alone, writes go when the hold ends; a
 * write without a lease (a single machine's daemon) is never held. */
static void test_held_writes(void **state)
{
	char url[256], ids[4][37], err[512], path[64];
	store_job a, b, m, g;
	store_counts c0, c1;

	(void)state;
	job_store *s = store_with_jobs(url, sizeof(url), 4, ids);
	store_set_hold(s, 10 * 1000 * 1000LL);
	assert_int_equal(store_claim(s, 20000, &a, err, sizeof(err)), 0);
	assert_string_equal(a.id, ids[0]);
	store_get_counts(s, &c0);
	free(a.status);
	a.status = xstrdup("generating_initial_explanation");
	a.progress = 20;
	assert_int_equal(store_update(s, &a, 0, err, sizeof(err)), 0);
	assert_int_equal(store_set_stage(s, a.id, "explain", "text", "/w/explain", 1, 5,
					 a.lease, 1), 0);
	usleep(200 * 1000);
	store_get_counts(s, &c1);
	assert_int_equal(c1.batches, c0.batches); /* held */
	assert_int_equal(store_get(s, a.id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.status, "queued");
	store_job_clear(&g);
	assert_int_equal(stage_path(url, a.id, path, sizeof(path)), 0);

	free(a.status);
	a.status = xstrdup("completed");
	a.progress = 100;
	a.finished = 1;
	assert_int_equal(store_update(s, &a, 1, err, sizeof(err)), 0);
	store_get_counts(s, &c1);
	assert_int_equal(c1.batches, c0.batches + 1);
	assert_int_equal(c1.folded, c0.folded + 1); /* the state went with the end */
	assert_int_equal(c1.writes, c0.writes + 2); /* the stage row and the end */
	assert_int_equal(store_get(s, a.id, &g, err, sizeof(err)), 0);
	assert_string_equal(g.status, "completed");
	store_job_clear(&g);
	assert_int_equal(stage_path(url, a.id, path, sizeof(path)), 1);
	assert_string_equal(path, "/w/explain");

	/* A stage row with stages still to run: at once, the state with it. */
	assert_int_equal(store_claim(s, 20000, &m, err, sizeof(err)), 0);
	free(m.status);
	m.status = xstrdup("refining");
	assert_int_equal(store_update(s, &m, 0, err, sizeof(err)), 0);
	assert_int_equal(store_set_stage(s, m.id, "explain", "text", "/w/first", 1, 5, m.lease,
					 0), 0);
	assert_true(status_becomes(s, m.id, "refining"));
	assert_int_equal(stage_path(url, m.id, path, sizeof(path)), 1);
	assert_string_equal(path, "/w/first");
	store_job_clear(&m);

	/* Held alone: written once the hold ends. */
	store_set_hold(s, 100 * 1000);
	assert_int_equal(store_claim(s, 20000, &b, err, sizeof(err)), 0);
	free(b.status);
	b.status = xstrdup("rendering");
	assert_int_equal(store_update(s, &b, 0, err, sizeof(err)), 0);
	assert_true(status_becomes(s, b.id, "rendering"));

	/* No lease: written at once, even under a long hold. */
	store_set_hold(s, 10 * 1000 * 1000LL);
	assert_int_equal(store_get(s, ids[3], &g, err, sizeof(err)), 0);
	free(g.status);
	g.status = xstrdup("narrating");
	assert_int_equal(store_update(s, &g, 0, err, sizeof(err)), 0);
	store_job_clear(&g);
	assert_true(status_becomes(s, ids[3], "narrating"));
	store_job_clear(&a);
	store_job_clear(&b);
	store_close(s);
	pgtest_dropdb(url);
}

typedef struct claimer {
	job_store *s;
	int n;
	char ids[64][37];
} claimer;

static void *claim_all(void *p)
{
	claimer *c = p;
	char err[512];
	store_job r;

	while (c->n < 64 && store_claim(c->s, 20000, &r, err, sizeof(err)) == 0) {
		memcpy(c->ids[c->n++], r.id, 37);
		store_job_clear(&r);
	}
	return NULL;
}

/* Claimers racing on two stores (two nodes) never get one job twice, and
 * every job is claimed. */
static void test_concurrent_claims_once(void **state)
{
	enum { T = 6, N = 60 };
	char url[256], ids[N][37], err[512];
	static claimer c[T];
	pthread_t th[T];
	job_store *other;

	(void)state;
	job_store *s = store_with_jobs(url, sizeof(url), N, ids);
	if (store_open(url, &other, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	for (int i = 0; i < T; i++) {
		c[i].s = i % 2 ? other : s;
		c[i].n = 0;
		pthread_create(&th[i], NULL, claim_all, &c[i]);
	}
	int total = 0;
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		total += c[i].n;
	}
	assert_int_equal(total, N);
	for (int k = 0; k < N; k++) {
		int seen = 0;
		for (int i = 0; i < T; i++)
			for (int j = 0; j < c[i].n; j++)
				seen += strcmp(c[i].ids[j], ids[k]) == 0;
		assert_int_equal(seen, 1);
	}
	store_close(other);
	store_close(s);
	pgtest_dropdb(url);
}

static void test_cancel_any_node(void **state)
{
	char url[256], ids[3][37], err[512];
	store_job r, held;

	(void)state;
	job_store *s = store_with_jobs(url, sizeof(url), 3, ids);
	assert_int_equal(store_claim(s, 20000, &held, err, sizeof(err)), 0); /* ids[0] */
	/* Queued: failed at once. */
	assert_int_equal(store_cancel(s, ids[1], "Video generation cancelled", &r, err,
				      sizeof(err)), 0);
	assert_string_equal(r.status, "failed");
	assert_string_equal(r.message, "Video generation cancelled");
	assert_int_equal(r.finished, 1);
	store_job_clear(&r);
	/* Held by a worker: recorded, and its next renewal says so. */
	assert_int_equal(store_cancel(s, ids[0], "Video generation cancelled", &r, err,
				      sizeof(err)), 2);
	assert_int_equal(r.finished, 0);
	store_job_clear(&r);
	assert_int_equal(store_renew(s, held.id, held.lease, 20000, err, sizeof(err)), 2);
	assert_int_equal(store_cancel(s, ids[1], "x", &r, err, sizeof(err)), 3);
	assert_int_equal(store_cancel(s, "00000000-0000-4000-8000-000000000000", "x", &r, err,
				      sizeof(err)), 1);
	/* The cancelled job is never claimed; the third one is. */
	store_job next;
	assert_int_equal(store_claim(s, 20000, &next, err, sizeof(err)), 0);
	assert_string_equal(next.id, ids[2]);
	store_job_clear(&next);
	store_job_clear(&held);
	store_close(s);
	pgtest_dropdb(url);
}

static atomic_int woken, changed, cancels;
static char changed_id[37];

static void on_note(void *ud, int what, const char *id)
{
	(void)ud;
	if (what == STORE_NOTE_QUEUED || what == STORE_NOTE_RESYNC || what == STORE_NOTE_DEAF) {
		atomic_fetch_add(&woken, 1);
	} else if (what == STORE_NOTE_CHANGED && id) {
		snprintf(changed_id, sizeof(changed_id), "%s", id);
		atomic_fetch_add(&changed, 1);
	} else if (what == STORE_NOTE_CANCEL) {
		atomic_fetch_add(&cancels, 1);
	}
}

/* Waits up to 3 s for *n to pass before. */
static int waited_past(atomic_int *n, int before)
{
	for (int i = 0; i < 150 && atomic_load(n) <= before; i++)
		usleep(20 * 1000);
	return atomic_load(n) > before;
}

/* Another node's create, update and cancel reach this node's listener. */
static void test_listen_notes(void **state)
{
	char url[256], err[512], ids[1][37];
	job_store *node;
	store_job r, held;

	(void)state;
	job_store *s = store_with_jobs(url, sizeof(url), 0, NULL);
	if (store_open(url, &node, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(store_listen(node, 1, on_note, NULL, err, sizeof(err)), 0);
	assert_true(waited_past(&woken, 0)); /* the wake-up a new listener owes */
	int before = atomic_load(&woken);
	assert_int_equal(pgtest_add_jobs(s, 1, ids), 0);
	assert_true(waited_past(&woken, before));

	int ch = atomic_load(&changed);
	assert_int_equal(store_claim(s, 20000, &held, err, sizeof(err)), 0);
	assert_int_equal(store_renew(s, held.id, held.lease, 20000, err, sizeof(err)), 0);
	usleep(300 * 1000);
	assert_int_equal(atomic_load(&changed), ch); /* leases are no news */
	assert_int_equal(store_update(s, &held, 1, err, sizeof(err)), 0); /* as it was */
	usleep(300 * 1000);
	assert_int_equal(atomic_load(&changed), ch); /* nor is a write that changes nothing */
	free(held.status);
	held.status = xstrdup("generating_initial_explanation");
	held.progress = 20;
	assert_int_equal(store_update(s, &held, 1, err, sizeof(err)), 0);
	assert_true(waited_past(&changed, ch));
	assert_string_equal(changed_id, ids[0]);

	int ca = atomic_load(&cancels);
	assert_int_equal(store_cancel(s, ids[0], "cancelled", &r, err, sizeof(err)), 2);
	store_job_clear(&r);
	assert_true(waited_past(&cancels, ca));
	store_close(node);

	/* A worker's listener (changes = 0) hears cancels, not changes. */
	if (store_open(url, &node, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	before = atomic_load(&woken);
	assert_int_equal(store_listen(node, 0, on_note, NULL, err, sizeof(err)), 0);
	assert_true(waited_past(&woken, before)); /* listening */
	ch = atomic_load(&changed);
	held.progress = 30;
	assert_int_equal(store_update(s, &held, 1, err, sizeof(err)), 0);
	ca = atomic_load(&cancels);
	query(url, "UPDATE jobs SET cancel_requested = false", NULL, 0);
	assert_int_equal(store_cancel(s, ids[0], "cancelled", &r, err, sizeof(err)), 2);
	store_job_clear(&r);
	assert_true(waited_past(&cancels, ca));
	assert_int_equal(atomic_load(&changed), ch);
	store_job_clear(&held);
	store_close(node);
	store_close(s);
	pgtest_dropdb(url);
}

static void test_sqlite_not_shared(void **state)
{
	char dir[] = "/tmp/vg_test_store_pg.XXXXXX", path[64], err[512];
	job_store *s;
	store_job r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	assert_false(store_is_shared(s));
	assert_int_equal(store_claim(s, 1000, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "PostgreSQL"));
	store_close(s);
	snprintf(err, sizeof(err), "rm -rf %s", dir);
	assert_int_equal(system(err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrations_once),
		cmocka_unit_test(test_concurrent_first_open),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_password_never_shown),
		cmocka_unit_test(test_server_restart),
		cmocka_unit_test(test_claim_oldest_then_none),
		cmocka_unit_test(test_lease_expires_fences_writes),
		cmocka_unit_test(test_stage_rows_fenced),
		cmocka_unit_test(test_batch_failure_alone),
		cmocka_unit_test(test_update_claim),
		cmocka_unit_test(test_held_writes),
		cmocka_unit_test(test_concurrent_claims_once),
		cmocka_unit_test(test_cancel_any_node),
		cmocka_unit_test(test_listen_notes),
		cmocka_unit_test(test_sqlite_not_shared),
	};
	return cmocka_run_group_tests(tests, pgtest_group_setup, pgtest_group_teardown);
}
