/*
 * Throw-away PostgreSQL databases for the store tests (pg_helpers.h).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_helpers.h"
#include "util.h"

const char *pgtest_server(void)
{
	const char *u = getenv("VIDGEN_TEST_PG");
	return u && *u ? u : NULL;
}

/* url with its database (the path after the host part) replaced by db. */
static int url_with_db(const char *url, const char *db, char *out, size_t len)
{
	const char *auth = strstr(url, "://");
	if (!auth)
		return -1;
	auth += 3;
	const char *path = auth + strcspn(auth, "/?");
	const char *query = path + strcspn(path, "?");
	int n = snprintf(out, len, "%.*s/%s%s", (int)(path - url), url, db, query);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

int pgtest_query(const char *url, const char *sql, char *out, size_t outlen)
{
	PGconn *c = PQconnectdb(url);
	int rc = -1;

	if (PQstatus(c) == CONNECTION_OK) {
		PGresult *res = PQexec(c, sql);
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			rc = 0;
			if (out)
				snprintf(out, outlen, "%s", st == PGRES_TUPLES_OK &&
					 PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
		} else {
			fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(c));
		}
		PQclear(res);
	} else {
		fprintf(stderr, "pgtest: %s", PQerrorMessage(c));
	}
	PQfinish(c);
	return rc;
}

int pgtest_createdb(char *url, size_t len)
{
	static int n;
	char db[64], sql[128];

	snprintf(db, sizeof(db), "vg_test_%d_%d", (int)getpid(), __atomic_add_fetch(&n, 1,
		 __ATOMIC_SEQ_CST));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
	if (!pgtest_server() || url_with_db(pgtest_server(), db, url, len) != 0)
		return -1;
	return pgtest_query(pgtest_server(), sql, NULL, 0);
}

void pgtest_dropdb(const char *url)
{
	const char *p = strstr(url, "://");
	char db[64], sql[128];

	if (!p || !pgtest_server())
		return;
	p += 3;
	p += strcspn(p, "/?");
	if (*p == '/')
		p++;
	snprintf(db, sizeof(db), "%.*s", (int)strcspn(p, "?"), p);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	pgtest_query(pgtest_server(), sql, NULL, 0);
}

static char server_dir[64]; /* set when this process started the server */

int pgtest_script(const char *args, char *out, size_t outlen)
{
	const char *top = getenv("top_srcdir");
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "'%s/tests/pg_server.sh' %s", top ? top : ".", args);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	if (out && !fgets(out, (int)outlen, p))
		out[0] = '\0';
	int rc = pclose(p);
	if (out)
		out[strcspn(out, "\n")] = '\0';
	return rc;
}

int pgtest_group_setup(void **state)
{
	char url[256], args[128];

	(void)state;
	if (pgtest_server())
		return 0;
	snprintf(server_dir, sizeof(server_dir), "/tmp/vg-pg.XXXXXX");
	if (!mkdtemp(server_dir))
		return -1;
	snprintf(args, sizeof(args), "start %s", server_dir);
	if (pgtest_script(args, url, sizeof(url)) != 0 || !*url) {
		fprintf(stderr, "cannot start a PostgreSQL server in %s\n", server_dir);
		return -1;
	}
	setenv("VIDGEN_TEST_PG", url, 1);
	return 0;
}

int pgtest_group_teardown(void **state)
{
	char args[128];

	(void)state;
	if (server_dir[0]) {
		snprintf(args, sizeof(args), "kill %s", server_dir);
		pgtest_script(args, NULL, 0);
		snprintf(args, sizeof(args), "rm -rf %s", server_dir);
		if (system(args) != 0)
			return -1;
	}
	return 0;
}

int pgtest_add_jobs(job_store *s, int n, char (*ids)[37])
{
	for (int i = 0; i < n; i++) {
		store_job r;
		memset(&r, 0, sizeof(r));
		util_uuid4(r.id);
		util_now_iso8601(r.created_at);
		r.question = xstrdup("a question for the workers");
		r.model = xstrdup("m");
		r.voice = xstrdup("v");
		r.status = xstrdup("queued");
		int rc = store_create_async(s, &r, NULL, NULL);
		if (ids)
			memcpy(ids[i], r.id, 37);
		store_job_clear(&r);
		if (rc != 0)
			return -1;
	}
	return store_flush(s);
}
