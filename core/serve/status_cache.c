/*
 * The status cache (status_cache.h): an FNV-1a hash table of entries, an
 * intrusive LRU list of the unpinned ones, and per-entry rings of past
 * states. Callers hold cache->lock (the header's contract); nothing here
 * locks.
 */
#include "status_cache.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

blob *blob_new(const char *s, size_t len)
{
	blob *b = xmalloc(sizeof(*b) + len + 1);

	atomic_init(&b->ref, 1);
	b->len = len;
	memcpy(b->data, s, len);
	b->data[len] = '\0';
	return b;
}

blob *blob_ref(blob *b)
{
	atomic_fetch_add(&b->ref, 1);
	return b;
}

void blob_unref(void *p)
{
	blob *b = p;

	if (b && atomic_fetch_sub(&b->ref, 1) == 1)
		free(b);
}

static unsigned id_hash(const char *id)
{
	return util_hash(id) & (STATUS_CACHE_BUCKETS - 1);
}

void status_cache_init(status_cache *c, size_t max_unpinned)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->max_unpinned = max_unpinned;
}

static void entry_free(status_entry *e)
{
	status_cache_unwatch(e);
	blob_unref(e->resp);
	free(e);
}

void status_cache_destroy(status_cache *c)
{
	for (size_t b = 0; b < STATUS_CACHE_BUCKETS; b++)
		for (status_entry *e = c->buckets[b], *next; e; e = next) {
			next = e->hnext;
			entry_free(e);
		}
	pthread_mutex_destroy(&c->lock);
}

status_entry *status_cache_find(status_cache *c, const char *id)
{
	for (status_entry *e = c->buckets[id_hash(id)]; e; e = e->hnext)
		if (memcmp(e->id, id, 36) == 0)
			return e;
	return NULL;
}

static void lru_unlink(status_cache *c, status_entry *e)
{
	if (!e->on_lru)
		return;
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
	e->on_lru = 0;
	c->n_lru--;
}

static void lru_push_front(status_cache *c, status_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = e;
	else
		c->lru_tail = e;
	c->lru_head = e;
	e->on_lru = 1;
	c->n_lru++;
}

static void cache_remove(status_cache *c, status_entry *e)
{
	status_entry **pp = &c->buckets[id_hash(e->id)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(c, e);
	entry_free(e);
}

status_entry *status_cache_add(status_cache *c, const char *id, blob *resp, int finished)
{
	status_entry *e = status_cache_find(c, id);
	unsigned h;

	if (e)
		return e;
	e = xcalloc(1, sizeof(*e));
	memcpy(e->id, id, 36);
	e->resp = blob_ref(resp);
	e->finished = finished;
	e->version = 1;
	h = id_hash(id);
	e->hnext = c->buckets[h];
	c->buckets[h] = e;
	return e;
}

void status_cache_touch(status_cache *c, status_entry *e)
{
	if (e->pins > 0) {
		lru_unlink(c, e);
		return;
	}
	if (e->on_lru) {
		if (c->lru_head != e) {
			lru_unlink(c, e);
			lru_push_front(c, e);
		}
	} else {
		lru_push_front(c, e);
	}
	while (c->n_lru > c->max_unpinned && c->lru_tail && c->lru_tail != e)
		cache_remove(c, c->lru_tail);
}

void status_cache_pin(status_cache *c, status_entry *e)
{
	e->pins++;
	lru_unlink(c, e);
}

void status_cache_unpin(status_cache *c, status_entry *e)
{
	e->pins--;
	status_cache_touch(c, e);
}

/* Records e's current state in its ring (when it has one). */
static void ring_push(status_entry *e)
{
	struct status_ring_slot *slot;

	if (!e->ring)
		return;
	slot = &e->ring[e->version % STATUS_RING];
	blob_unref(slot->b);
	slot->b = blob_ref(e->resp);
	slot->version = e->version;
}

void status_cache_set(status_entry *e, blob *resp)
{
	if (e->resp == resp)
		return;
	blob_unref(e->resp);
	e->resp = blob_ref(resp);
	e->version++;
	ring_push(e);
}

void status_cache_fill(status_entry *e, blob *resp, int finished)
{
	if (e->version != 0)
		return;
	blob_unref(e->resp);
	e->resp = blob_ref(resp);
	e->finished = finished;
	e->version = 1;
}

void status_cache_watch(status_entry *e)
{
	if (e->ring)
		return;
	e->ring = xcalloc(STATUS_RING, sizeof(*e->ring));
	ring_push(e);
}

void status_cache_unwatch(status_entry *e)
{
	if (!e->ring)
		return;
	for (int i = 0; i < STATUS_RING; i++)
		blob_unref(e->ring[i].b);
	free(e->ring);
	e->ring = NULL;
}

const blob *status_cache_state(const status_entry *e, unsigned v)
{
	const struct status_ring_slot *slot;

	if (!e->ring)
		return NULL;
	slot = &e->ring[v % STATUS_RING];
	return slot->b && slot->version == v ? slot->b : NULL;
}

void status_cache_each(status_cache *c, void (*fn)(status_entry *e, void *ud), void *ud)
{
	for (size_t b = 0; b < STATUS_CACHE_BUCKETS; b++)
		for (status_entry *e = c->buckets[b]; e; e = e->hnext)
			fn(e, ud);
}
