/*
 * Fair share between the HTTP daemon's clients: a bounded table of clients
 * (a remote address, or an API key) holding what each one takes — open
 * connections, /events streams, queued jobs — and its create token bucket.
 */
#ifndef VG_CLIENTS_H
#define VG_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Who a request comes from: an address or an API key; 0 = nobody (not
 * counted anywhere). */
typedef uint64_t client_id;

/* Per-client limits; 0 turns one off. */
typedef struct client_limits {
	int connections;  /* open connections of one address */
	int streams;      /* open /events streams */
	int queued;       /* jobs waiting for a worker */
	int create_rate;  /* creates earned per minute (token bucket refill) */
	int create_burst; /* creates that may be made at once (bucket size) */
} client_limits;

enum client_verdict {
	CLIENT_OK = 0,
	CLIENT_OVER_LIMIT,    /* the client holds its share already */
	CLIENT_RATE_LIMITED,  /* no create token left; see retry_s */
	CLIENT_TABLE_FULL,    /* no room to track one more client */
};

typedef struct client_table client_table;

/* The client of an IPv4 or IPv6 peer address (IPv6 by its /64, which one
 * host holds whole); 0 for another family. */
client_id client_id_addr(const struct sockaddr *sa);
/* The client of the API key at index (in the configured list). */
client_id client_id_key(unsigned index);

/* A table tracking at most capacity clients (rounded up to its stripes;
 * 0 = the default, 16384), its memory allocated once. Free with
 * client_table_free. */
client_table *client_table_new(const client_limits *l, size_t capacity);
void client_table_free(client_table *t);

/* A connection from id opened: counted in every case but TABLE_FULL;
 * OVER_LIMIT when it is one more than the limit. Pair each counted one
 * with client_conn_close. */
enum client_verdict client_conn_open(client_table *t, client_id id, long long now_ms);
void client_conn_close(client_table *t, client_id id, long long now_ms);
/* The connections id has open (counted by client_conn_open). */
int client_conn_count(client_table *t, client_id id);

/* An /events stream: counted only when OK; pair with client_stream_close. */
enum client_verdict client_stream_open(client_table *t, client_id id, long long now_ms);
void client_stream_close(client_table *t, client_id id, long long now_ms);

/* A create: OK takes a token and, when queued jobs are limited, counts one
 * (undo both with client_create_undo if the job is not queued after all;
 * pair a counted job with client_queued_done); OVER_LIMIT when
 * the client has its share of the queue, RATE_LIMITED with *retry_s (the
 * seconds until the next token, at least 1). */
enum client_verdict client_create_begin(client_table *t, client_id id, long long now_ms,
					int *retry_s);
/* Gives back what client_create_begin took: the queued job and the token. */
void client_create_undo(client_table *t, client_id id);
/* One of id's queued jobs left the queue (a worker took it, or a cancel). */
void client_queued_done(client_table *t, client_id id, long long now_ms);

/* Clients tracked now. */
size_t client_table_count(client_table *t);

#endif
