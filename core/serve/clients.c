/*
 * The client table (clients.h). Clients hash to one of STRIPES stripes, each
 * with its own lock and a fixed array of slots searched linearly: a lookup
 * happens when a connection opens or closes, a stream starts or ends, or a
 * job is created, never on a request of an open connection, so the status
 * path takes none of these locks. Memory is allocated once at start; a
 * client that holds nothing and has its whole bucket back leaves the table
 * at once, and when a stripe is full the idle client unused the longest
 * gives up its slot, so a flood from many addresses cannot grow it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "clients.h"
#include "util.h"

#define STRIPES 64
#define DEFAULT_CAPACITY 16384
#define KIND_ADDR4 (1ULL << 56)
#define KIND_KEY (2ULL << 56)
#define KIND_ADDR6 (3ULL << 56)

typedef struct client {
	client_id id;        /* 0: a free slot */
	int conns, streams, queued;
	double tokens;       /* create tokens, up to create_burst */
	long long refill_ms; /* when tokens was last brought up to date */
	long long used_ms;   /* last use: of the idle ones, the oldest goes first */
} client;

typedef struct stripe {
	pthread_mutex_t lock;
	unsigned hw;         /* slots [0, hw) have been used */
	unsigned live;       /* slots holding a client */
	client *slots;
} stripe;

struct client_table {
	client_limits l;
	uint64_t seed;       /* so that nobody can aim many clients at one stripe */
	unsigned per_stripe;
	client *mem;
	stripe stripes[STRIPES];
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

client_id client_id_addr(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return KIND_ADDR4 | ntohl(in->sin_addr.s_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		uint64_t prefix;
		memcpy(&prefix, in6->sin6_addr.s6_addr, sizeof(prefix));
		return KIND_ADDR6 | (mix64(prefix) & ((1ULL << 56) - 1));
	}
	return 0;
}

client_id client_id_key(unsigned index)
{
	return KIND_KEY | index;
}

client_table *client_table_new(const client_limits *l, size_t capacity)
{
	client_table *t = xcalloc(1, sizeof(*t));

	t->l = *l;
	if (t->l.create_rate > 0 && t->l.create_burst < 1)
		t->l.create_burst = 1;
	if (!capacity)
		capacity = DEFAULT_CAPACITY;
	t->per_stripe = (unsigned)((capacity + STRIPES - 1) / STRIPES);
	/* calloc'd: a slot costs resident memory only once it is used. */
	t->mem = xcalloc((size_t)t->per_stripe * STRIPES, sizeof(client));
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
		t->seed = (uint64_t)(uintptr_t)t ^ (uint64_t)util_now_ms();
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_init(&t->stripes[i].lock, NULL);
		t->stripes[i].slots = t->mem + (size_t)i * t->per_stripe;
	}
	return t;
}

void client_table_free(client_table *t)
{
	if (!t)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&t->stripes[i].lock);
	free(t->mem);
	free(t);
}

static stripe *stripe_of(client_table *t, client_id id)
{
	return &t->stripes[mix64(id ^ t->seed) >> 58];
}

static void refill(const client_limits *l, client *c, long long now)
{
	if (l->create_rate <= 0 || now <= c->refill_ms)
		return;
	c->tokens += (double)(now - c->refill_ms) * l->create_rate / 60000.0;
	if (c->tokens > l->create_burst)
		c->tokens = l->create_burst;
	c->refill_ms = now;
}

/* id's slot in st (lock held), or NULL. With add, a missing client gets a
 * free slot, a new one, or the slot of the idle client used longest ago. */
static client *slot_get(client_table *t, stripe *st, client_id id, int add, long long now)
{
	client *free_slot = NULL, *idle = NULL;

	for (unsigned i = 0; i < st->hw; i++) {
		client *c = &st->slots[i];
		if (c->id == id)
			return c;
		if (!add)
			continue;
		if (!c->id) {
			if (!free_slot)
				free_slot = c;
		} else if (!c->conns && !c->streams && !c->queued &&
			   (!idle || c->used_ms < idle->used_ms)) {
			idle = c;
		}
	}
	if (!add)
		return NULL;
	if (!free_slot && st->hw < t->per_stripe)
		free_slot = &st->slots[st->hw++];
	if (!free_slot)
		free_slot = idle; /* its bucket starts full again: the price of a bound */
	if (!free_slot)
		return NULL;
	if (!free_slot->id)
		st->live++;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->id = id;
	free_slot->tokens = t->l.create_burst;
	free_slot->refill_ms = now;
	return free_slot;
}

/* A client that holds nothing and would have a full bucket leaves. */
static void slot_settle(client_table *t, stripe *st, client *c, long long now)
{
	c->used_ms = now;
	if (c->conns || c->streams || c->queued)
		return;
	refill(&t->l, c, now);
	if (t->l.create_rate <= 0 || c->tokens >= t->l.create_burst) {
		c->id = 0;
		st->live--;
	}
}

enum client_verdict client_conn_open(client_table *t, client_id id, long long now_ms)
{
	stripe *st = stripe_of(t, id);
	enum client_verdict v = CLIENT_OK;

	pthread_mutex_lock(&st->lock);
	client *c = slot_get(t, st, id, 1, now_ms);
	if (!c) {
		v = CLIENT_TABLE_FULL;
	} else {
		c->conns++;
		c->used_ms = now_ms;
		if (t->l.connections > 0 && c->conns > t->l.connections)
			v = CLIENT_OVER_LIMIT;
	}
	pthread_mutex_unlock(&st->lock);
	return v;
}

/* Gives back one of what id holds: the counter at offset `counter` of its
 * slot (never below 0). */
static void slot_release(client_table *t, client_id id, size_t counter, long long now)
{
	stripe *st = stripe_of(t, id);

	pthread_mutex_lock(&st->lock);
	client *c = slot_get(t, st, id, 0, now);
	int *n = c ? (int *)(void *)((char *)c + counter) : NULL;
	if (n && *n > 0) {
		(*n)--;
		slot_settle(t, st, c, now);
	}
	pthread_mutex_unlock(&st->lock);
}

void client_conn_close(client_table *t, client_id id, long long now_ms)
{
	slot_release(t, id, offsetof(client, conns), now_ms);
}

int client_conn_count(client_table *t, client_id id)
{
	stripe *st = stripe_of(t, id);

	pthread_mutex_lock(&st->lock);
	client *c = slot_get(t, st, id, 0, 0);
	int n = c ? c->conns : 0;
	pthread_mutex_unlock(&st->lock);
	return n;
}

enum client_verdict client_stream_open(client_table *t, client_id id, long long now_ms)
{
	stripe *st = stripe_of(t, id);
	enum client_verdict v = CLIENT_OK;

	pthread_mutex_lock(&st->lock);
	client *c = slot_get(t, st, id, 1, now_ms);
	if (!c)
		v = CLIENT_TABLE_FULL;
	else if (t->l.streams > 0 && c->streams >= t->l.streams)
		v = CLIENT_OVER_LIMIT;
	else
		c->streams++;
	if (c)
		slot_settle(t, st, c, now_ms);
	pthread_mutex_unlock(&st->lock);
	return v;
}

void client_stream_close(client_table *t, client_id id, long long now_ms)
{
	slot_release(t, id, offsetof(client, streams), now_ms);
}

enum client_verdict client_create_begin(client_table *t, client_id id, long long now_ms,
					int *retry_s)
{
	stripe *st = stripe_of(t, id);
	enum client_verdict v = CLIENT_OK;

	*retry_s = 0;
	pthread_mutex_lock(&st->lock);
	client *c = slot_get(t, st, id, 1, now_ms);
	if (!c) {
		v = CLIENT_TABLE_FULL;
		goto out;
	}
	refill(&t->l, c, now_ms);
	if (t->l.queued > 0 && c->queued >= t->l.queued) {
		v = CLIENT_OVER_LIMIT;
	} else if (t->l.create_rate > 0 && c->tokens < 1.0) {
		v = CLIENT_RATE_LIMITED;
		double s = (1.0 - c->tokens) * 60.0 / t->l.create_rate;
		*retry_s = (int)s + ((double)(int)s < s);
		if (*retry_s < 1)
			*retry_s = 1;
	} else {
		if (t->l.create_rate > 0)
			c->tokens -= 1.0;
		if (t->l.queued > 0)
			c->queued++;
	}
	slot_settle(t, st, c, now_ms);
out:
	pthread_mutex_unlock(&st->lock);
	return v;
}

void client_create_undo(client_table *t, client_id id)
{
	stripe *st = stripe_of(t, id);

	pthread_mutex_lock(&st->lock);
	client *c = slot_get(t, st, id, 0, 0);
	if (c) {
		if (t->l.queued > 0 && c->queued > 0)
			c->queued--;
		if (t->l.create_rate > 0 && (c->tokens += 1.0) > t->l.create_burst)
			c->tokens = t->l.create_burst;
		slot_settle(t, st, c, c->used_ms);
	}
	pthread_mutex_unlock(&st->lock);
}

void client_queued_done(client_table *t, client_id id, long long now_ms)
{
	slot_release(t, id, offsetof(client, queued), now_ms);
}

size_t client_table_count(client_table *t)
{
	size_t n = 0;
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_lock(&t->stripes[i].lock);
		n += t->stripes[i].live;
		pthread_mutex_unlock(&t->stripes[i].lock);
	}
	return n;
}
