/*
 * What the PostgreSQL job store (core/serve/store_pg.c) adds to the store's
 * contract (test_store.c runs that on both backends): migrations applied
 * once, also by opens racing on a new database; a database newer than the
 * binary refused; a URL's password in no message; a server restart survived.
 * Uses $VIDGEN_TEST_PG, or starts its own server with tests/pg_server.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_helpers.h"
#include "serve/store.h"
#include "util.h"

static char server_dir[64]; /* set when this test started the server */

/* The pg_server.sh of the source tree, with its arguments. */
static int pg_server(const char *args, char *out, size_t outlen)
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

static int group_setup(void **state)
{
	char url[256], args[128];

	(void)state;
	if (pgtest_server())
		return 0;
	snprintf(server_dir, sizeof(server_dir), "/tmp/vg-pg.XXXXXX");
	if (!mkdtemp(server_dir))
		return -1;
	snprintf(args, sizeof(args), "start %s", server_dir);
	if (pg_server(args, url, sizeof(url)) != 0 || !*url) {
		fprintf(stderr, "cannot start a PostgreSQL server in %s\n", server_dir);
		return -1;
	}
	setenv("VIDGEN_TEST_PG", url, 1);
	return 0;
}

static int group_teardown(void **state)
{
	char args[128];

	(void)state;
	if (server_dir[0]) {
		snprintf(args, sizeof(args), "kill %s", server_dir);
		pg_server(args, NULL, 0);
		snprintf(args, sizeof(args), "rm -rf %s", server_dir);
		if (system(args) != 0)
			return -1;
	}
	return 0;
}

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

/* The server restarts under an open store: reads and writes carry on, on
 * new connections, and nothing committed before is lost. */
static void test_server_restart(void **state)
{
	char url[256], host[200], args[300], err[512];
	job_store *s;
	store_job r, g;

	(void)state;
	assert_int_equal(pgtest_createdb(url, sizeof(url)), 0);
	if (store_open(url, &s, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	memset(&r, 0, sizeof(r));
	util_uuid4(r.id);
	util_now_iso8601(r.created_at);
	r.question = xstrdup("Does the store survive a restart?");
	r.model = xstrdup("m");
	r.voice = xstrdup("v");
	r.status = xstrdup("queued");
	assert_int_equal(store_create_async(s, &r, NULL, NULL), 0);
	assert_int_equal(store_flush(s), 0);
	server_host(host, sizeof(host));
	snprintf(args, sizeof(args), "kill %s", host);
	assert_int_equal(pg_server(args, NULL, 0), 0);
	snprintf(args, sizeof(args), "restart %s", host);
	assert_int_equal(pg_server(args, NULL, 0), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrations_once),
		cmocka_unit_test(test_concurrent_first_open),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_password_never_shown),
		cmocka_unit_test(test_server_restart),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
