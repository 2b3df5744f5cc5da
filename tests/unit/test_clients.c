/*
 * Unit tests of the fair-share client table (core/clients.c): per-client
 * connection, stream and queue shares, the create token bucket and its
 * refill, clients told apart by address and by API key, and the table's
 * bound under a flood of addresses (idle clients give their slot up).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "serve/clients.h"

static client_id addr4(const char *ip)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sa.sin_addr);
	return client_id_addr((struct sockaddr *)&sa);
}

static void test_ids(void **state)
{
	(void)state;
	assert_true(addr4("10.0.0.1") != 0);
	assert_true(addr4("10.0.0.1") == addr4("10.0.0.1"));
	assert_true(addr4("10.0.0.1") != addr4("10.0.0.2"));
	assert_true(client_id_key(0) != client_id_key(1));
	/* A key's client is never an address's: 0.0.0.0 and key 0 differ. */
	assert_true(client_id_key(0) != addr4("0.0.0.0"));

	struct sockaddr_in6 a = { 0 }, b = { 0 };
	a.sin6_family = b.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1:2::1", &a.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &b.sin6_addr);
	/* One /64, one host: one client. */
	assert_true(client_id_addr((struct sockaddr *)&a) == client_id_addr((struct sockaddr *)&b));
	inet_pton(AF_INET6, "2001:db8:1:3::1", &b.sin6_addr);
	assert_true(client_id_addr((struct sockaddr *)&a) != client_id_addr((struct sockaddr *)&b));
	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_true(client_id_addr(&un) == 0);
	assert_true(client_id_addr(NULL) == 0);
}

static void test_connections(void **state)
{
	client_limits l = { .connections = 3 };
	client_table *t = client_table_new(&l, 0);
	client_id a = addr4("192.0.2.1"), b = addr4("192.0.2.2");
	(void)state;

	for (int i = 0; i < 3; i++)
		assert_int_equal(client_conn_open(t, a, 0), CLIENT_OK);
	/* The fourth is over, and counted: closing it is paired as well. */
	assert_int_equal(client_conn_open(t, a, 0), CLIENT_OVER_LIMIT);
	assert_int_equal(client_conn_count(t, a), 4);
	/* Another address has its own share. */
	assert_int_equal(client_conn_open(t, b, 0), CLIENT_OK);
	client_conn_close(t, a, 1);
	client_conn_close(t, a, 1);
	assert_int_equal(client_conn_open(t, a, 2), CLIENT_OK);
	assert_int_equal(client_table_count(t), 2);
	for (int i = 0; i < 3; i++)
		client_conn_close(t, a, 3);
	client_conn_close(t, b, 3);
	/* Holding nothing and with no bucket to keep, they leave the table. */
	assert_int_equal(client_table_count(t), 0);
	assert_int_equal(client_conn_count(t, a), 0);
	/* A close that was never opened does not go negative. */
	client_conn_close(t, a, 4);
	assert_int_equal(client_conn_open(t, a, 5), CLIENT_OK);
	assert_int_equal(client_conn_count(t, a), 1);
	client_table_free(t);
}

static void test_streams(void **state)
{
	client_limits l = { .streams = 2 };
	client_table *t = client_table_new(&l, 0);
	client_id k = client_id_key(1);
	(void)state;

	assert_int_equal(client_stream_open(t, k, 0), CLIENT_OK);
	assert_int_equal(client_stream_open(t, k, 0), CLIENT_OK);
	/* Refused streams are not counted. */
	assert_int_equal(client_stream_open(t, k, 0), CLIENT_OVER_LIMIT);
	assert_int_equal(client_stream_open(t, k, 0), CLIENT_OVER_LIMIT);
	client_stream_close(t, k, 1);
	assert_int_equal(client_stream_open(t, k, 1), CLIENT_OK);
	assert_int_equal(client_stream_open(t, client_id_key(2), 1), CLIENT_OK);
	client_table_free(t);
}

static void test_create_bucket(void **state)
{
	/* 6 a minute: a token every 10 s; 3 at once. */
	client_limits l = { .create_rate = 6, .create_burst = 3 };
	client_table *t = client_table_new(&l, 0);
	client_id a = addr4("198.51.100.7");
	int retry = -1;
	(void)state;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(client_create_begin(t, a, 1000, &retry), CLIENT_OK);
		assert_int_equal(retry, 0);
	}
	assert_int_equal(client_create_begin(t, a, 1000, &retry), CLIENT_RATE_LIMITED);
	assert_int_equal(retry, 10);
	/* 4 s later, 6 s to go. */
	assert_int_equal(client_create_begin(t, a, 5000, &retry), CLIENT_RATE_LIMITED);
	assert_int_equal(retry, 6);
	/* 10 s after the bucket ran dry, one token. */
	assert_int_equal(client_create_begin(t, a, 11000, &retry), CLIENT_OK);
	assert_int_equal(client_create_begin(t, a, 11000, &retry), CLIENT_RATE_LIMITED);
	/* Another client is not held back by this one. */
	assert_int_equal(client_create_begin(t, addr4("198.51.100.8"), 11000, &retry), CLIENT_OK);
	/* An undone create gives its token back. */
	client_create_undo(t, a);
	assert_int_equal(client_create_begin(t, a, 11000, &retry), CLIENT_OK);
	/* Idle for a long time: the bucket is full again, never fuller. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(client_create_begin(t, a, 10000000, &retry), CLIENT_OK);
	assert_int_equal(client_create_begin(t, a, 10000000, &retry), CLIENT_RATE_LIMITED);
	/* A client with part of its bucket spent stays in the table; once it
	 * would be full again it leaves at its next settle. */
	assert_true(client_table_count(t) >= 1);
	client_table_free(t);
}

static void test_queued_share(void **state)
{
	client_limits l = { .queued = 2 };
	client_table *t = client_table_new(&l, 0);
	client_id a = addr4("203.0.113.5");
	int retry;
	(void)state;

	assert_int_equal(client_create_begin(t, a, 0, &retry), CLIENT_OK);
	assert_int_equal(client_create_begin(t, a, 0, &retry), CLIENT_OK);
	assert_int_equal(client_create_begin(t, a, 0, &retry), CLIENT_OVER_LIMIT);
	assert_int_equal(client_table_count(t), 1);
	client_queued_done(t, a, 1);
	assert_int_equal(client_create_begin(t, a, 1, &retry), CLIENT_OK);
	assert_int_equal(client_create_begin(t, a, 1, &retry), CLIENT_OVER_LIMIT);
	client_create_undo(t, a);
	assert_int_equal(client_create_begin(t, a, 1, &retry), CLIENT_OK);
	client_queued_done(t, a, 2);
	client_queued_done(t, a, 2);
	assert_int_equal(client_table_count(t), 0);
	client_table_free(t);
}

/* A flood of addresses: the table never tracks more than its capacity,
 * idle clients give their slots up, and clients still holding
 * connections keep theirs. */
static void test_bounded(void **state)
{
	client_limits l = { .connections = 1, .create_rate = 1, .create_burst = 1 };
	client_table *t = client_table_new(&l, 64 * 4); /* 4 slots a stripe */
	int retry, full = 0;
	(void)state;

	/* Each spends its only token and so has state to keep. */
	for (unsigned i = 0; i < 5000; i++) {
		client_id id = addr4("10.0.0.0") + i;
		if (client_create_begin(t, id, i, &retry) != CLIENT_OK)
			full++;
	}
	assert_int_equal(full, 0); /* idle ones were evicted to make room */
	assert_true(client_table_count(t) <= 256);

	/* Clients holding a connection are never evicted: once every slot
	 * holds one, a new client is refused, not tracked. */
	size_t held = 0;
	for (unsigned i = 0; i < 5000; i++) {
		enum client_verdict v = client_conn_open(t, addr4("172.16.0.0") + i, 10000 + i);
		if (v == CLIENT_TABLE_FULL)
			full++;
		else
			held++;
	}
	assert_true(held <= 256 && held > 0);
	assert_true(full > 0);
	assert_true(client_table_count(t) <= 256);
	client_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_streams),
		cmocka_unit_test(test_create_bucket),
		cmocka_unit_test(test_queued_share),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
