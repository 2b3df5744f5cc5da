/*
 * The PostgreSQL job store backend (store_impl.h), through libpq. The schema
 * is created and upgraded by numbered migrations, applied once under an
 * advisory lock; the writer thread's batches commit in one transaction each
 * on a connection of their own, sent in one round trip (pipeline mode);
 * reads go to a small pool of connections.
 * A lost connection is opened again on next use. The URL's password never
 * reaches a message.
 */
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_impl.h"
#include "util.h"

#define PG_READERS 4
/* The advisory lock migrations run under: "vidgen" in ASCII. */
#define PG_MIGRATION_LOCK "126943170078062"

/* Migration N is MIGRATIONS[N - 1]. Append only: a released one never
 * changes, since databases that applied it do not run it again. */
static const char *const MIGRATIONS[] = {
	/* 1: the jobs and their stages, as the SQLite store keeps them. */
	"CREATE TABLE jobs("
	" seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" id text NOT NULL UNIQUE,"
	" created_at text NOT NULL,"
	" question text NOT NULL, model text NOT NULL, voice text NOT NULL,"
	" status text NOT NULL, progress integer NOT NULL DEFAULT 0,"
	" message text, initial_explanation text, refined_explanation text,"
	" video_url text, s3_url text,"
	" finished boolean NOT NULL DEFAULT false);"
	"CREATE INDEX jobs_unfinished ON jobs(seq) WHERE NOT finished;"
	"CREATE TABLE stages("
	" job_id text NOT NULL, stage_id text NOT NULL, kind text, path text,"
	" ok boolean NOT NULL, duration_ms bigint NOT NULL,"
	" PRIMARY KEY(job_id, stage_id));",
	/* 2: leases for workers on many machines, the cancel a DELETE leaves
	 * for the worker running the job, and a wake-up when jobs arrive. */
	"ALTER TABLE jobs ADD COLUMN lease_owner text, ADD COLUMN lease_until timestamptz,"
	" ADD COLUMN attempts integer NOT NULL DEFAULT 0,"
	" ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;"
	"CREATE FUNCTION vidgen_jobs_queued() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN PERFORM pg_notify('vidgen_jobs', ''); RETURN NULL; END$$;"
	"CREATE TRIGGER jobs_queued AFTER INSERT ON jobs FOR EACH STATEMENT"
	" EXECUTE FUNCTION vidgen_jobs_queued();",
	/* 3: every node hears a job's new state (its /events streams) and a
	 * cancel (the worker running the job stops within a second). */
	"CREATE FUNCTION vidgen_job_changed() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN PERFORM pg_notify('vidgen_job', NEW.id); RETURN NULL; END$$;"
	"CREATE TRIGGER jobs_changed AFTER UPDATE ON jobs FOR EACH ROW WHEN"
	" ((OLD.status, OLD.progress, OLD.message, OLD.initial_explanation,"
	" OLD.refined_explanation, OLD.video_url, OLD.s3_url, OLD.finished) IS DISTINCT FROM"
	" (NEW.status, NEW.progress, NEW.message, NEW.initial_explanation,"
	" NEW.refined_explanation, NEW.video_url, NEW.s3_url, NEW.finished))"
	" EXECUTE FUNCTION vidgen_job_changed();"
	"CREATE FUNCTION vidgen_job_cancel() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN PERFORM pg_notify('vidgen_cancel', NEW.id); RETURN NULL; END$$;"
	"CREATE TRIGGER jobs_cancel AFTER UPDATE OF cancel_requested ON jobs FOR EACH ROW"
	" WHEN (NEW.cancel_requested AND NOT OLD.cancel_requested)"
	" EXECUTE FUNCTION vidgen_job_cancel();",
	/* 4: the usage object and the four media links of the VideoResponse
	 * (as the SQLite store's added columns), in the change notes too. */
	"ALTER TABLE jobs ADD COLUMN usage text, ADD COLUMN captions_url text,"
	" ADD COLUMN captions_srt_url text, ADD COLUMN poster_url text,"
	" ADD COLUMN thumbnail_url text;"
	"DROP TRIGGER jobs_changed ON jobs;"
	"CREATE TRIGGER jobs_changed AFTER UPDATE ON jobs FOR EACH ROW WHEN"
	" ((OLD.status, OLD.progress, OLD.message, OLD.initial_explanation,"
	" OLD.refined_explanation, OLD.video_url, OLD.s3_url, OLD.finished, OLD.usage,"
	" OLD.captions_url, OLD.captions_srt_url, OLD.poster_url, OLD.thumbnail_url)"
	" IS DISTINCT FROM"
	" (NEW.status, NEW.progress, NEW.message, NEW.initial_explanation,"
	" NEW.refined_explanation, NEW.video_url, NEW.s3_url, NEW.finished, NEW.usage,"
	" NEW.captions_url, NEW.captions_srt_url, NEW.poster_url, NEW.thumbnail_url))"
	" EXECUTE FUNCTION vidgen_job_changed();",
	/* 5: the same change notes, cheaper. A trigger's WHEN clause is read
	 * back from its stored text by every statement that updates jobs (a
	 * claim, a lease's renewal too): a fifth of an update's server time.
	 * The columns named after UPDATE OF are checked without it, so only an
	 * update of the record's state runs the function, whose comparison
	 * PL/pgSQL plans once a session. */
	"CREATE OR REPLACE FUNCTION vidgen_job_changed() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN"
	" IF (OLD.status, OLD.progress, OLD.message, OLD.initial_explanation,"
	" OLD.refined_explanation, OLD.video_url, OLD.s3_url, OLD.finished, OLD.usage,"
	" OLD.captions_url, OLD.captions_srt_url, OLD.poster_url, OLD.thumbnail_url)"
	" IS DISTINCT FROM"
	" (NEW.status, NEW.progress, NEW.message, NEW.initial_explanation,"
	" NEW.refined_explanation, NEW.video_url, NEW.s3_url, NEW.finished, NEW.usage,"
	" NEW.captions_url, NEW.captions_srt_url, NEW.poster_url, NEW.thumbnail_url) THEN"
	" PERFORM pg_notify('vidgen_job', NEW.id);"
	" END IF; RETURN NULL; END$$;"
	"DROP TRIGGER jobs_changed ON jobs;"
	"CREATE TRIGGER jobs_changed AFTER UPDATE OF status, progress, message,"
	" initial_explanation, refined_explanation, video_url, s3_url, finished, usage,"
	" captions_url, captions_srt_url, poster_url, thumbnail_url ON jobs FOR EACH ROW"
	" EXECUTE FUNCTION vidgen_job_changed();",
};
#define N_MIGRATIONS ((long long)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])))

#define JOB_COLUMNS "seq, id, created_at, question, model, voice, status, progress," \
	" message, initial_explanation, refined_explanation, video_url, s3_url, finished," \
	" cancel_requested, usage, captions_url, captions_srt_url, poster_url, thumbnail_url"
#define JOB_MEDIA_COL 16 /* the first of the four media columns */
/* A lease's end: $N milliseconds from now (the server's clock, the one
 * clock every node agrees on). */
#define LEASE_END(n) "clock_timestamp() + $" #n "::int * interval '1 millisecond'"

/* Every connection prepares these once (again after a reconnect). */
static const struct {
	const char *name, *sql;
} STATEMENTS[] = {
	{ "ins", "INSERT INTO jobs(id, created_at, question, model, voice, status, progress,"
		 " message) VALUES($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (id) DO NOTHING"
		 " RETURNING seq" },
	{ "upd", "UPDATE jobs SET status=$1, progress=greatest(progress, $2), message=$3,"
		 " initial_explanation=$4, refined_explanation=$5, video_url=$6, s3_url=$7,"
		 " finished=$8, usage=coalesce($10, usage), captions_url=$11,"
		 " captions_srt_url=$12, poster_url=$13, thumbnail_url=$14 WHERE id=$9" },
	{ "stage", "INSERT INTO stages(job_id, stage_id, kind, path, ok, duration_ms)"
		   " VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT (job_id, stage_id) DO UPDATE SET"
		   " kind=excluded.kind, path=excluded.path, ok=excluded.ok,"
		   " duration_ms=excluded.duration_ms" },
	/* A worker's: written only while the job is leased under $7, the job's
	 * row locked as an update locks it, so a claim by another worker (which
	 * takes that lock too) comes wholly before or after. */
	{ "stage_leased", "WITH j AS (SELECT 1 FROM jobs WHERE id=$1 AND lease_owner=$7"
			  " FOR NO KEY UPDATE) INSERT INTO stages(job_id, stage_id, kind, path,"
			  " ok, duration_ms) SELECT $1::text, $2::text, $3::text, $4::text,"
			  " $5::boolean, $6::bigint FROM j ON CONFLICT (job_id, stage_id) DO UPDATE"
			  " SET kind=excluded.kind, path=excluded.path, ok=excluded.ok,"
			  " duration_ms=excluded.duration_ms" },
	{ "get", "SELECT " JOB_COLUMNS " FROM jobs WHERE id = $1" },
	{ "list", "SELECT " JOB_COLUMNS " FROM jobs WHERE seq < $1 ORDER BY seq DESC LIMIT $2" },
	{ "next", "SELECT " JOB_COLUMNS " FROM jobs WHERE NOT finished AND seq > $1"
		  " ORDER BY seq LIMIT 1" },
	{ "upd_leased", "UPDATE jobs SET status=$1, progress=greatest(progress, $2), message=$3,"
			" initial_explanation=$4, refined_explanation=$5, video_url=$6,"
			" s3_url=$7, finished=$8, usage=coalesce($10, usage), captions_url=$11,"
			" captions_srt_url=$12, poster_url=$13, thumbnail_url=$14"
			" WHERE id=$9 AND lease_owner=$15" },
	{ "claim", "UPDATE jobs SET lease_owner=$1, lease_until=" LEASE_END(2) ","
		   " attempts=attempts + 1 WHERE seq = (SELECT seq FROM jobs WHERE NOT finished"
		   " AND (lease_until IS NULL OR lease_until < clock_timestamp())"
		   " ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING " JOB_COLUMNS },
	{ "renew", "UPDATE jobs SET lease_until=" LEASE_END(3) " WHERE id=$1 AND lease_owner=$2"
		   " AND NOT finished AND lease_until >= clock_timestamp()"
		   " RETURNING cancel_requested" },
	{ "release", "WITH u AS (UPDATE jobs SET lease_owner=NULL, lease_until=NULL"
		     " WHERE id=$1 AND lease_owner=$2 AND NOT finished RETURNING 1)"
		     " SELECT pg_notify('vidgen_jobs', '') FROM u" },
	{ "cancel_queued", "UPDATE jobs SET status='failed', message=$2, finished=true"
			   " WHERE id=$1 AND NOT finished AND (lease_until IS NULL"
			   " OR lease_until < clock_timestamp()) RETURNING " JOB_COLUMNS },
	{ "cancel_running", "UPDATE jobs SET cancel_requested=true WHERE id=$1 AND NOT finished"
			    " RETURNING " JOB_COLUMNS },
	{ "nunf", "SELECT count(*) FROM jobs WHERE NOT finished" },
	{ "nwait", "SELECT count(*) FROM jobs WHERE NOT finished"
		   " AND (lease_until IS NULL OR lease_until < clock_timestamp())" },
	{ "bystatus", "SELECT status, count(*) FROM jobs GROUP BY status" },
};

typedef struct pg_conn {
	PGconn *c;
	int prepared; /* STATEMENTS are prepared on c */
} pg_conn;

typedef struct pg_store {
	char *url;          /* as given: never shown */
	char shown[512];    /* the URL without its password */
	char *secrets[2];   /* the password as written and decoded: scrubbed from messages */
	pg_conn w;          /* the writer thread's */
	pg_conn readers[PG_READERS];
	atomic_ullong round_trips; /* every connection's (store_counts) */
	store_pool pool;

	/* LISTEN vidgen_jobs: a thread and a connection of their own. */
	pthread_t listener;
	int listener_started;
	atomic_int listener_stop;
	int listen_changes; /* LISTEN vidgen_job too */
	void (*note)(void *ud, int what, const char *id);
	void *note_ud;
} pg_store;

/* ---------------------------------------------------------------------
 * Messages: one line, the password scrubbed.
 * --------------------------------------------------------------------- */

/* The password of url as written (between the user's ':' and '@') and as
 * libpq decodes it, either of which a libpq message might quote. */
static void secrets_find(pg_store *s, const char *url)
{
	const char *auth = strstr(url, "://");
	if (auth) {
		auth += 3;
		size_t hostpart = strcspn(auth, "/?");
		const char *at = NULL, *colon;
		for (const char *p = auth; p < auth + hostpart; p++)
			if (*p == '@')
				at = p;
		if (at && (colon = memchr(auth, ':', (size_t)(at - auth))) && at > colon + 1) {
			size_t n = (size_t)(at - colon - 1);
			s->secrets[0] = xmalloc(n + 1);
			memcpy(s->secrets[0], colon + 1, n);
			s->secrets[0][n] = '\0';
		}
	}
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
			s->secrets[1] = xstrdup(o->val);
	PQconninfoFree(opts);
}

/* err = prefix ": " msg, on one line, without any secret of s. */
static void pg_errf(const pg_store *s, char *err, size_t errlen, const char *prefix,
		    const char *msg)
{
	char line[512];
	size_t o = 0;

	if (!msg || !*msg)
		msg = "unknown error";
	while (*msg && o + 1 < sizeof(line)) {
		size_t skip = 0;
		for (int i = 0; i < 2 && !skip; i++)
			if (s->secrets[i] && strncmp(msg, s->secrets[i], strlen(s->secrets[i])) == 0)
				skip = strlen(s->secrets[i]);
		if (skip) {
			for (const char *r = "***"; *r && o + 1 < sizeof(line); r++)
				line[o++] = *r;
			msg += skip;
			continue;
		}
		char ch = *msg++;
		if (ch == '\n' || ch == '\t' || ch == '\r')
			ch = ' ';
		if (ch == ' ' && (o == 0 || line[o - 1] == ' '))
			continue;
		line[o++] = ch;
	}
	while (o && line[o - 1] == ' ')
		o--;
	line[o] = '\0';
	util_errf(err, errlen, "%s: %s", prefix, line);
}

static void notice_ignore(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* ---------------------------------------------------------------------
 * Connections.
 * --------------------------------------------------------------------- */

static int pg_connect(pg_store *s, pg_conn *pc, char *err, size_t errlen)
{
	/* dbname last: what the URL says wins over these defaults. */
	const char *const keys[] = { "connect_timeout", "fallback_application_name", "dbname",
				     NULL };
	const char *const vals[] = { "10", "vidgen", s->url, NULL };
	char prefix[600];

	pc->prepared = 0;
	pc->c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(pc->c) != CONNECTION_OK) {
		snprintf(prefix, sizeof(prefix), "%s: cannot connect to the job store", s->shown);
		pg_errf(s, err, errlen, prefix, pc->c ? PQerrorMessage(pc->c) : "out of memory");
		PQfinish(pc->c);
		pc->c = NULL;
		return -1;
	}
	PQsetNoticeProcessor(pc->c, notice_ignore, NULL);
	return 0;
}

static void pg_round_trip(pg_store *s)
{
	atomic_fetch_add_explicit(&s->round_trips, 1, memory_order_relaxed);
}

static unsigned long long pg_round_trips(void *impl)
{
	pg_store *s = impl;

	return atomic_load_explicit(&s->round_trips, memory_order_relaxed);
}

/* Makes pc usable: connected (again, if the server went away) and its
 * statements prepared. 0 ok. */
static int pg_ready(pg_store *s, pg_conn *pc, char *err, size_t errlen)
{
	if (pc->c && PQstatus(pc->c) != CONNECTION_OK) {
		PQfinish(pc->c);
		pc->c = NULL;
	}
	if (!pc->c && pg_connect(s, pc, err, errlen) != 0)
		return -1;
	for (size_t i = 0; !pc->prepared && i < sizeof(STATEMENTS) / sizeof(STATEMENTS[0]); i++) {
		PGresult *res = PQprepare(pc->c, STATEMENTS[i].name, STATEMENTS[i].sql, 0, NULL);
		pg_round_trip(s);
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok)
			pg_errf(s, err, errlen, "job store", PQerrorMessage(pc->c));
		PQclear(res);
		if (!ok)
			return -1;
	}
	pc->prepared = 1;
	return 0;
}

/* 1 if res failed because the connection is gone: libpq's own errors have
 * no SQLSTATE, and the server says 08xxx (connection exception) or 57P0x
 * (shut down, crashed, starting) when it drops us. libpq may still report
 * CONNECTION_OK right after the server closed the socket. */
static int pg_conn_lost(PGconn *c, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return PQstatus(c) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
	       strncmp(state, "57P0", 4) == 0;
}

/* Runs a prepared statement (or, with n < 0, the SQL text name) on pc.
 * retry: once more on a new connection if this one was lost (never inside a
 * transaction). The result on success (caller PQclears), else NULL. */
static PGresult *pg_call(pg_store *s, pg_conn *pc, const char *name, int n,
			 const char *const *vals, int retry, char *err, size_t errlen)
{
	for (int attempt = 0;; attempt++) {
		if (pg_ready(s, pc, err, errlen) != 0)
			return NULL;
		PGresult *res = n < 0 ? PQexec(pc->c, name) :
			PQexecPrepared(pc->c, name, n, vals, NULL, NULL, 0);
		pg_round_trip(s);
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
			return res;
		pg_errf(s, err, errlen, "job store", PQerrorMessage(pc->c));
		int lost = pg_conn_lost(pc->c, res);
		PQclear(res);
		if (lost) { /* opened again by the next pg_ready */
			PQfinish(pc->c);
			pc->c = NULL;
		}
		if (!retry || attempt > 0 || !lost)
			return NULL;
	}
}

/* ---------------------------------------------------------------------
 * The schema.
 * --------------------------------------------------------------------- */

/* Runs sql on the writer's connection as it is (no statement prepared:
 * the tables may not exist yet). The result or NULL. */
static PGresult *pg_sql(pg_store *s, const char *sql, int nargs, const char *const *args,
			const char *what, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(s->w.c, sql, nargs, NULL, args, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	pg_errf(s, err, errlen, what, PQerrorMessage(s->w.c));
	PQclear(res);
	return NULL;
}

/* Brings the schema to N_MIGRATIONS in one transaction under the advisory
 * lock, so opens racing on a new database apply each migration once. */
static int pg_migrate(pg_store *s, char *err, size_t errlen)
{
	static const char *const setup[] = {
		"BEGIN",
		"SELECT pg_advisory_xact_lock(" PG_MIGRATION_LOCK ")",
		"CREATE TABLE IF NOT EXISTS vidgen_schema(version integer PRIMARY KEY,"
		" applied_at timestamptz NOT NULL DEFAULT now())",
	};
	char what[600];
	PGresult *res;
	long long have;
	int ret = -1;

	snprintf(what, sizeof(what), "%s: job store schema", s->shown);
	for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]); i++) {
		if (!(res = pg_sql(s, setup[i], 0, NULL, what, err, errlen)))
			goto out;
		PQclear(res);
	}
	if (!(res = pg_sql(s, "SELECT coalesce(max(version), 0) FROM vidgen_schema", 0, NULL,
			   what, err, errlen)))
		goto out;
	have = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (have > N_MIGRATIONS) {
		util_errf(err, errlen, "%s: the job store's schema is version %lld, newer than "
			  "this vidgen knows (%lld): run a newer vidgen, or give another database",
			  s->shown, have, N_MIGRATIONS);
		goto out;
	}
	for (long long v = have + 1; v <= N_MIGRATIONS; v++) {
		char num[24];
		const char *arg[] = { num };
		snprintf(num, sizeof(num), "%lld", v);
		snprintf(what, sizeof(what), "%s: schema migration %lld", s->shown, v);
		/* PQexec: a migration may hold several statements. */
		res = PQexec(s->w.c, MIGRATIONS[v - 1]);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			pg_errf(s, err, errlen, what, PQerrorMessage(s->w.c));
			PQclear(res);
			goto out;
		}
		PQclear(res);
		if (!(res = pg_sql(s, "INSERT INTO vidgen_schema(version) VALUES($1)", 1, arg, what,
				   err, errlen)))
			goto out;
		PQclear(res);
	}
	if ((res = pg_sql(s, "COMMIT", 0, NULL, what, err, errlen))) {
		PQclear(res);
		ret = 0;
	}
out:
	if (ret != 0)
		PQclear(PQexec(s->w.c, "ROLLBACK"));
	return ret;
}

/* ---------------------------------------------------------------------
 * The writer's side: one transaction a batch, sent as a pipeline (libpq's
 * pipeline mode): BEGIN, every op, COMMIT in one round trip.
 * --------------------------------------------------------------------- */

/* A batch goes to the server in pipelines of at most this many ops: their
 * answers must fit the socket's buffers while the rest is being sent. */
#define PG_PIPELINE_OPS 256
/* Tries of a batch the server rolled back for a reason of its own
 * (SQLSTATE class 40: a deadlock, a serialization failure). */
#define PG_BATCH_TRIES 3

/* The prepared statement of op and its n values in v; num and dur hold
 * its numbers. */
static const char *op_statement(const store_op *op, const char **v, int *n, char *num,
				char *dur)
{
	const store_job *r = &op->rec;

	switch (op->type) {
	case OP_CREATE:
		snprintf(num, 24, "%d", r->progress);
		*n = 8;
		v[0] = r->id, v[1] = r->created_at, v[2] = r->question, v[3] = r->model;
		v[4] = r->voice, v[5] = r->status, v[6] = num, v[7] = r->message;
		return "ins";
	case OP_UPDATE:
		snprintf(num, 24, "%d", r->progress);
		*n = r->lease[0] ? 15 : 14;
		v[0] = r->status, v[1] = num, v[2] = r->message, v[3] = r->initial_explanation;
		v[4] = r->refined_explanation, v[5] = r->video_url, v[6] = r->s3_url;
		v[7] = r->finished ? "t" : "f", v[8] = r->id, v[9] = r->usage;
		for (int i = 0; i < 4; i++)
			v[10 + i] = r->media[i];
		v[14] = r->lease;
		return r->lease[0] ? "upd_leased" : "upd";
	case OP_CLAIM:
		snprintf(num, 24, "%d", op->lease_ms);
		*n = 2;
		v[0] = r->lease, v[1] = num;
		return "claim";
	default: /* OP_STAGE */
		snprintf(dur, 24, "%lld", op->duration_ms);
		*n = r->lease[0] ? 7 : 6;
		v[0] = r->id, v[1] = op->stage_id, v[2] = op->kind, v[3] = op->path;
		v[4] = op->ok ? "t" : "f", v[5] = dur, v[6] = r->lease;
		return r->lease[0] ? "stage_leased" : "stage";
	}
}

static int op_send(PGconn *c, store_op *op)
{
	char num[24], dur[24];
	const char *v[15];
	int n;

	if (op->type == OP_CLAIM) { /* a new token each time it is sent */
		store_job_clear(op->out);
		util_uuid4(op->rec.lease);
	}
	const char *name = op_statement(op, v, &n, num, dur);

	op->rc = 0;
	op->err[0] = '\0';
	op->seq = 0;
	return PQsendQueryPrepared(c, name, n, v, NULL, NULL, 0);
}

static void row_to_job(const PGresult *res, int row, store_job *r);

/* What a statement that ran says of its op: a create's seq, or that it
 * wrote nothing (a duplicate id; an unknown job, or a lease not held). */
static void op_answer(store_op *op, PGresult *res)
{
	const char *id = op->rec.id;

	if (op->type == OP_CLAIM && PQntuples(res) == 1) {
		row_to_job(res, 0, op->out);
		memcpy(op->out->lease, op->rec.lease, sizeof(op->out->lease));
	} else if (op->type == OP_CLAIM) {
		op->rc = 1; /* nothing to claim */
	} else if (op->type == OP_CREATE && PQntuples(res) == 1) {
		op->seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	} else if (op->type == OP_CREATE) {
		op->rc = -1;
		util_errf(op->err, sizeof(op->err), "job store: a job %s exists already", id);
	} else if (strcmp(PQcmdTuples(res), "0") == 0) {
		op->rc = 1;
		if (op->rec.lease[0])
			util_errf(op->err, sizeof(op->err), "job store: job %s: not written, its "
				  "lease is no longer this worker's", id);
		else
			util_errf(op->err, sizeof(op->err), "job store: no job %s", id);
	}
}

/* The next answer of a pipeline, and the NULL that ends it. NULL if the
 * connection is gone. */
static PGresult *pipe_answer(PGconn *c)
{
	PGresult *res = PQgetResult(c), *more;

	while (res && (more = PQgetResult(c)) != NULL)
		PQclear(more);
	return res;
}

/* Sends a part of a pipeline: BEGIN first, ops[from..to), and either the
 * COMMIT and the sync (last) or a flush request. 1 sent. */
static int pipe_send(PGconn *c, store_op **ops, size_t from, size_t to, int last)
{
	int ok = from > 0 || PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);

	for (size_t k = from; ok && k < to; k++)
		ok = op_send(c, ops[k]);
	if (last)
		return ok && PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) &&
		       PQpipelineSync(c);
	return ok && PQsendFlushRequest(c) && PQflush(c) == 0;
}

/* Drops pc's connection if the server closed it (a restart: the socket
 * reads its end) so that pg_ready opens another before a batch is sent:
 * a batch is never sent twice, since it may have been committed before
 * its answer was lost. No round trip. */
static void pg_drop_if_closed(pg_conn *pc)
{
	/* A server going down may say why first: read that, then the end. */
	for (int i = 0; pc->c && i < 4; i++) {
		struct pollfd pfd = { PQsocket(pc->c), POLLIN, 0 };
		if (poll(&pfd, 1, 0) <= 0)
			return;
		if (!PQconsumeInput(pc->c) || PQstatus(pc->c) != CONNECTION_OK) {
			PQfinish(pc->c);
			pc->c = NULL;
		}
	}
}

/* One try at ops[0..n) in one transaction. 0 committed (each op's rc and
 * seq set); 1 ops[*bad] failed on its own (its rc and err set; nothing
 * committed); 2 the server rolled back for a reason of its own; -1 the
 * connection failed or the commit did (err). */
static int pg_pipeline(pg_store *s, store_op **ops, size_t n, size_t *bad, char *err,
		       size_t errlen)
{
	PGconn *c;
	PGresult *res;
	int ret = 0;

	pg_drop_if_closed(&s->w);
	if (pg_ready(s, &s->w, err, errlen) != 0)
		return -1;
	c = s->w.c;
	if (!PQenterPipelineMode(c))
		goto lost;
	for (size_t from = 0; ret == 0;) {
		size_t to = n - from > PG_PIPELINE_OPS ? from + PG_PIPELINE_OPS : n;
		int last = to == n;
		if (!pipe_send(c, ops, from, to, last))
			goto lost;
		pg_round_trip(s);
		size_t first = from == 0; /* BEGIN's answer comes first */
		size_t answers = first + (to - from) + (last ? 1 : 0); /* COMMIT's last */
		for (size_t a = 0; a < answers; a++) {
			size_t k = from + a - first;
			int is_op = a >= first && k < to;
			if (!(res = pipe_answer(c)))
				goto lost;
			ExecStatusType st = PQresultStatus(res);
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			if (st == PGRES_FATAL_ERROR && pg_conn_lost(c, res)) {
				PQclear(res);
				goto lost;
			}
			if (st == PGRES_FATAL_ERROR && ret == 0) {
				ret = state && strncmp(state, "40", 2) == 0 ? 2 : is_op ? 1 : -1;
				if (ret == 1) {
					*bad = k;
					ops[k]->rc = -1;
					pg_errf(s, ops[k]->err, sizeof(ops[k]->err), "job store",
						PQresultErrorMessage(res));
				} else {
					pg_errf(s, err, errlen, "job store: commit failed",
						PQresultErrorMessage(res));
				}
			} else if (is_op && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
				op_answer(ops[k], res);
			}
			PQclear(res);
		}
		if (last)
			break;
		if (ret != 0 && !PQpipelineSync(c))
			goto lost;
		from = to;
	}
	if (!(res = PQgetResult(c)) || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		PQclear(res);
		goto lost;
	}
	PQclear(res);
	if (!PQexitPipelineMode(c))
		goto lost;
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
	return ret;
lost:
	pg_errf(s, err, errlen, "job store", PQerrorMessage(c));
	PQfinish(c);
	s->w.c = NULL; /* opened again by the next pg_ready */
	return -1;
}

/* A batch in one transaction: an op the server refuses (bad data) fails
 * alone, the batch is sent again without it; a batch the server rolled
 * back for a reason of its own is sent again; a lost connection fails the
 * whole batch (the next opens a new one). */
static int pg_batch(void *impl, store_op **ops, size_t n)
{
	pg_store *s = impl;
	store_op **run = xmalloc(n * sizeof(*run));
	char err[256] = "";
	size_t m = n, bad = 0;
	int rc, tries = 0;

	memcpy(run, ops, n * sizeof(*run));
	for (;;) {
		rc = pg_pipeline(s, run, m, &bad, err, sizeof(err));
		if (rc == 1) {
			memmove(&run[bad], &run[bad + 1], (m - bad - 1) * sizeof(*run));
			if (--m == 0) {
				rc = 0;
				break;
			}
		} else if (rc != 2 || ++tries >= PG_BATCH_TRIES) {
			break;
		}
	}
	for (size_t i = 0; rc != 0 && i < m; i++) {
		run[i]->rc = -1;
		snprintf(run[i]->err, sizeof(run[i]->err), "%s", err);
		if (run[i]->type == OP_CLAIM)
			store_job_clear(run[i]->out); /* answered, then rolled back */
	}
	free(run);
	return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------
 * Opening and closing.
 * --------------------------------------------------------------------- */

static void pg_close(void *impl)
{
	pg_store *s = impl;

	if (s->listener_started) {
		atomic_store(&s->listener_stop, 1);
		pthread_join(s->listener, NULL);
	}
	PQfinish(s->w.c);
	for (int i = 0; i < PG_READERS; i++)
		PQfinish(s->readers[i].c);
	store_pool_destroy(&s->pool);
	free(s->secrets[0]);
	free(s->secrets[1]);
	free(s->url);
	free(s);
}

int store_pg_open(const char *url, void **impl, char *err, size_t errlen)
{
	pg_store *s = xcalloc(1, sizeof(*s));

	*impl = NULL;
	s->url = xstrdup(url);
	store_locator_show(url, s->shown, sizeof(s->shown));
	secrets_find(s, url);
	store_pool_init(&s->pool, PG_READERS);
	if (pg_connect(s, &s->w, err, errlen) != 0 || pg_migrate(s, err, errlen) != 0 ||
	    pg_ready(s, &s->w, err, errlen) != 0)
		goto fail;
	for (int i = 0; i < PG_READERS; i++)
		if (pg_ready(s, &s->readers[i], err, errlen) != 0)
			goto fail;
	*impl = s;
	return 0;
fail:
	pg_close(s);
	return -1;
}

/* ---------------------------------------------------------------------
 * Reads: a pool of connections.
 * --------------------------------------------------------------------- */

static char *val_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static void row_to_job(const PGresult *res, int row, store_job *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, row, 1));
	snprintf(r->created_at, sizeof(r->created_at), "%s", PQgetvalue(res, row, 2));
	r->question = val_or_null(res, row, 3);
	r->model = val_or_null(res, row, 4);
	r->voice = val_or_null(res, row, 5);
	r->status = val_or_null(res, row, 6);
	r->progress = atoi(PQgetvalue(res, row, 7));
	r->message = val_or_null(res, row, 8);
	r->initial_explanation = val_or_null(res, row, 9);
	r->refined_explanation = val_or_null(res, row, 10);
	r->video_url = val_or_null(res, row, 11);
	r->s3_url = val_or_null(res, row, 12);
	r->finished = PQgetvalue(res, row, 13)[0] == 't';
	r->cancel_requested = PQgetvalue(res, row, 14)[0] == 't';
	r->usage = val_or_null(res, row, 15);
	for (int i = 0; i < 4; i++)
		r->media[i] = val_or_null(res, row, JOB_MEDIA_COL + i);
}

/* Runs a prepared read on a pooled connection. The result or NULL. */
static PGresult *pg_read(pg_store *s, const char *name, int n, const char *const *vals,
			 char *err, size_t errlen)
{
	int slot = store_pool_take(&s->pool);
	PGresult *res = pg_call(s, &s->readers[slot], name, n, vals, 1, err, errlen);
	store_pool_give(&s->pool, slot);
	return res;
}

/* Runs a prepared read of JOB_COLUMNS and collects the rows. */
static int pg_select_jobs(pg_store *s, const char *name, int n, const char *const *vals,
			  store_job **out, size_t *len, char *err, size_t errlen)
{
	PGresult *res = pg_read(s, name, n, vals, err, errlen);

	*out = NULL;
	*len = 0;
	if (!res)
		return -1;
	int rows = PQntuples(res);
	if (rows > 0) {
		*out = xcalloc((size_t)rows, sizeof(**out));
		for (int i = 0; i < rows; i++)
			row_to_job(res, i, &(*out)[i]);
	}
	*len = (size_t)rows;
	PQclear(res);
	return 0;
}

/* The one job a read of at most one row finds: 0 found (out filled), 1
 * none, -1 error. */
static int pg_select_one(pg_store *s, const char *name, const char *arg, store_job *out,
			 char *err, size_t errlen)
{
	const char *v[] = { arg };
	store_job *rows;
	size_t n;

	if (pg_select_jobs(s, name, 1, v, &rows, &n, err, errlen) != 0)
		return -1;
	if (n == 0)
		return 1;
	*out = rows[0];
	free(rows);
	return 0;
}

static int pg_get(void *impl, const char *id, store_job *out, char *err, size_t errlen)
{
	return pg_select_one(impl, "get", id, out, err, errlen);
}

static int pg_list(void *impl, long long before, int limit, store_job **out, size_t *n,
		   char *err, size_t errlen)
{
	char b[24], l[24];
	const char *v[] = { b, l };

	snprintf(b, sizeof(b), "%lld", before);
	snprintf(l, sizeof(l), "%d", limit);
	return pg_select_jobs(impl, "list", 2, v, out, n, err, errlen);
}

static int pg_next_unfinished(void *impl, long long after, store_job *out, char *err,
			      size_t errlen)
{
	char a[24];

	snprintf(a, sizeof(a), "%lld", after);
	return pg_select_one(impl, "next", a, out, err, errlen);
}

/* The count a prepared read of one count(*) answers. 0 ok. */
static int pg_count(pg_store *s, const char *name, long long *n, char *err, size_t errlen)
{
	PGresult *res = pg_read(s, name, 0, NULL, err, errlen);

	if (!res)
		return -1;
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

static int pg_count_unfinished(void *impl, long long *n, char *err, size_t errlen)
{
	return pg_count(impl, "nunf", n, err, errlen);
}

static int pg_count_waiting(void *impl, long long *n, char *err, size_t errlen)
{
	return pg_count(impl, "nwait", n, err, errlen);
}

static int pg_count_by_status(void *impl, void (*cb)(void *ud, const char *status, long long n),
			      void *ud, char *err, size_t errlen)
{
	PGresult *res = pg_read(impl, "bystatus", 0, NULL, err, errlen);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		cb(ud, PQgetvalue(res, i, 0), strtoll(PQgetvalue(res, i, 1), NULL, 10));
	PQclear(res);
	return 0;
}

/* ---------------------------------------------------------------------
 * Sharing: claims, leases, cancels from any node, wake-ups.
 * --------------------------------------------------------------------- */

static int pg_claim(void *impl, int lease_ms, store_job *out, char *err, size_t errlen)
{
	char token[37], ms[24];
	const char *v[] = { token, ms };
	store_job *rows;
	size_t n;

	util_uuid4(token);
	snprintf(ms, sizeof(ms), "%d", lease_ms);
	if (pg_select_jobs(impl, "claim", 2, v, &rows, &n, err, errlen) != 0)
		return -1;
	if (n == 0)
		return 1;
	*out = rows[0];
	free(rows);
	memcpy(out->lease, token, sizeof(out->lease));
	return 0;
}

static int pg_renew(void *impl, const char *id, const char *lease, int lease_ms, char *err,
		    size_t errlen)
{
	char ms[24];
	const char *v[] = { id, lease, ms };

	snprintf(ms, sizeof(ms), "%d", lease_ms);
	PGresult *res = pg_read(impl, "renew", 3, v, err, errlen);
	if (!res)
		return -1;
	int rc = PQntuples(res) == 0 ? 1 : PQgetvalue(res, 0, 0)[0] == 't' ? 2 : 0;
	PQclear(res);
	return rc;
}

static int pg_release(void *impl, const char *id, const char *lease, char *err, size_t errlen)
{
	const char *v[] = { id, lease };
	PGresult *res = pg_read(impl, "release", 2, v, err, errlen);

	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

static int pg_cancel(void *impl, const char *id, const char *message, store_job *out,
		     char *err, size_t errlen)
{
	const char *v[] = { id, message };
	store_job *rows;
	size_t n;

	/* Queued (or left by a dead worker): failed here and now. Else the
	 * worker holding it sees the request at its next renewal. */
	if (pg_select_jobs(impl, "cancel_queued", 2, v, &rows, &n, err, errlen) != 0)
		return -1;
	if (n == 1) {
		*out = rows[0];
		free(rows);
		return 0;
	}
	if (pg_select_jobs(impl, "cancel_running", 1, v, &rows, &n, err, errlen) != 0)
		return -1;
	if (n == 1) {
		*out = rows[0];
		free(rows);
		return 2;
	}
	int rc = pg_get(impl, id, out, err, errlen);
	if (rc == 0) {
		store_job_clear(out);
		return 3;
	}
	return rc;
}

/* Sleeps ms in short steps, returning early once the listener is stopped. */
static void listener_nap(pg_store *s, int ms)
{
	for (int t = 0; t < ms && !atomic_load(&s->listener_stop); t += 50)
		usleep(50 * 1000);
}

static void *listener_main(void *arg)
{
	pg_store *s = arg;
	pg_conn pc = { 0 };
	char err[512];

	while (!atomic_load(&s->listener_stop)) {
		if (!pc.c) {
			if (pg_connect(s, &pc, err, sizeof(err)) != 0) {
				listener_nap(s, 1000);
				continue;
			}
			PGresult *res = PQexec(pc.c, s->listen_changes ?
					       "LISTEN vidgen_jobs; LISTEN vidgen_cancel;"
					       " LISTEN vidgen_job" :
					       "LISTEN vidgen_jobs; LISTEN vidgen_cancel");
			int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
			PQclear(res);
			if (!ok) {
				PQfinish(pc.c);
				pc.c = NULL;
				listener_nap(s, 1000);
				continue;
			}
			/* Jobs may have come and changed while nobody listened. */
			s->note(s->note_ud, STORE_NOTE_RESYNC, NULL);
		}
		struct pollfd pfd = { PQsocket(pc.c), POLLIN, 0 };
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (!PQconsumeInput(pc.c) || PQstatus(pc.c) != CONNECTION_OK) {
			PQfinish(pc.c);
			pc.c = NULL;
			s->note(s->note_ud, STORE_NOTE_DEAF, NULL);
			continue;
		}
		int queued = 0;
		for (PGnotify *nf; (nf = PQnotifies(pc.c)) != NULL; PQfreemem(nf)) {
			if (strcmp(nf->relname, "vidgen_jobs") == 0)
				queued = 1; /* one wake-up for a burst of creates */
			else if (util_uuid_valid(nf->extra))
				s->note(s->note_ud, strcmp(nf->relname, "vidgen_cancel") == 0 ?
					STORE_NOTE_CANCEL : STORE_NOTE_CHANGED, nf->extra);
		}
		if (queued)
			s->note(s->note_ud, STORE_NOTE_QUEUED, NULL);
	}
	PQfinish(pc.c);
	return NULL;
}

static int pg_listen(void *impl, int changes, void (*note)(void *ud, int what, const char *id),
		     void *ud, char *err, size_t errlen)
{
	pg_store *s = impl;

	if (s->listener_started)
		return 0;
	s->listen_changes = changes;
	s->note = note;
	s->note_ud = ud;
	if (pthread_create(&s->listener, NULL, listener_main, s) != 0) {
		util_errf(err, errlen, "job store: cannot start the LISTEN thread");
		return -1;
	}
	s->listener_started = 1;
	return 0;
}

const store_backend store_pg_backend = {
	.name = "postgresql",
	.batch = pg_batch,
	.get = pg_get,
	.list = pg_list,
	.next_unfinished = pg_next_unfinished,
	.count_unfinished = pg_count_unfinished,
	.count_by_status = pg_count_by_status,
	.claim = pg_claim,
	.renew = pg_renew,
	.release = pg_release,
	.count_waiting = pg_count_waiting,
	.cancel = pg_cancel,
	.listen = pg_listen,
	.round_trips = pg_round_trips,
	.close = pg_close,
};
