/*
 * Throw-away PostgreSQL databases for the store tests, on the server
 * tests/pg_server.sh started (its URL in $VIDGEN_TEST_PG).
 */
#ifndef VG_TEST_PG_HELPERS_H
#define VG_TEST_PG_HELPERS_H

#include <stddef.h>

#include "serve/store.h"

/* $VIDGEN_TEST_PG, or NULL when the tests run without a server. */
const char *pgtest_server(void);
/* Makes a new empty database; its URL goes to url. 0 ok. */
int pgtest_createdb(char *url, size_t len);
/* Drops the database of url (its connections are closed first). */
void pgtest_dropdb(const char *url);
/* Runs sql on url; with out, copies the first column of the first row (""
 * if none). 0 ok. */
int pgtest_query(const char *url, const char *sql, char *out, size_t outlen);

/* Creates n queued jobs in s, committed when this returns (their ids in
 * order into ids, if given). 0 ok. */
int pgtest_add_jobs(job_store *s, int n, char (*ids)[37]);

/* Runs tests/pg_server.sh ARGS (of $top_srcdir); with out, its first line
 * of output. Its exit status. */
int pgtest_script(const char *args, char *out, size_t outlen);
/* cmocka group setup and teardown: a server of the group's own (started
 * with pg_server.sh, its URL put in $VIDGEN_TEST_PG) unless $VIDGEN_TEST_PG
 * names one already. */
int pgtest_group_setup(void **state);
int pgtest_group_teardown(void **state);

#endif
