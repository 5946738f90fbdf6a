/*
 * The queue manager's network budget, per destination (qmgr_priv.h names
 * the files of the qmgr).
 *
 * Two bounds on the messages with copies on the network: all of them
 * together (QMGR_OUTBOUND_MAX, what the outbound scheduler may hold in
 * memory), and those of one destination (QMGR_DEST_DEPTH times its
 * destination_concurrency: enough for every connection to have its next
 * message at hand, and no more).  A message whose destination is at its
 * bound is held in that destination's FIFO; a tarpit with thousands of
 * messages queued therefore takes its own share only, and a message for
 * any other destination goes at once (issue 8, item 10).  When the
 * global bound is what is full, the room that frees goes to the
 * destinations with held messages in turn (a ring of those with room of
 * their own), not to the one with the longest line.
 *
 * A destination lives while anything names it: a message held for it or
 * kept back from it last time (m->dest), a load expected to go out to
 * it, a job on the network.  Lookups by key are O(1) (a hash), the ring
 * O(1) per message: nothing walks the queue or the destinations.
 * Pure bookkeeping, loop thread only.
 */
#include "queue/qmgr_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define QDESTS_BUCKETS_MIN	256

void
qdests_init(struct qdests *ds, unsigned dest_concurrency)
{
	uint64_t cap = (uint64_t)dest_concurrency * QMGR_DEST_DEPTH;

	memset(ds, 0, sizeof(*ds));
	ds->n_buckets = QDESTS_BUCKETS_MIN;
	ds->buckets = xcalloc(ds->n_buckets, sizeof(*ds->buckets));
	ds->cap = cap == 0 ? 1 : cap > QMGR_OUTBOUND_MAX ? QMGR_OUTBOUND_MAX :
	    (unsigned)cap;
}

void
qdests_free(struct qdests *ds)
{
	struct qdest *d, *next;

	for (size_t i = 0; i < ds->n_buckets; i++) {
		for (d = ds->buckets[i]; d != NULL; d = next) {
			next = d->hash_next;
			free(d);
		}
	}
	free(ds->buckets);
	memset(ds, 0, sizeof(*ds));
}

static void
qdests_grow(struct qdests *ds)
{
	size_t nb = ds->n_buckets * 2, b;
	struct qdest **buckets = xcalloc(nb, sizeof(*buckets)), *d, *next;

	for (size_t i = 0; i < ds->n_buckets; i++) {
		for (d = ds->buckets[i]; d != NULL; d = next) {
			next = d->hash_next;
			b = hash_str(d->key) & (nb - 1);
			d->hash_next = buckets[b];
			buckets[b] = d;
		}
	}
	free(ds->buckets);
	ds->buckets = buckets;
	ds->n_buckets = nb;
}

struct qdest *
qdest_get(struct qmgr *q, const char *key)
{
	struct qdests *ds = &q->dests;
	struct qdest *d;
	size_t b = hash_str(key) & (ds->n_buckets - 1);

	for (d = ds->buckets[b]; d != NULL; d = d->hash_next)
		if (strcmp(d->key, key) == 0)
			return d;
	if (ds->n >= ds->n_buckets) {
		qdests_grow(ds);
		b = hash_str(key) & (ds->n_buckets - 1);
	}
	d = xcalloc(1, sizeof(*d));
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->hash_next = ds->buckets[b];
	ds->buckets[b] = d;
	ds->n++;
	return d;
}

/* Nothing names d, nothing is out to it, it is in no line: forgotten. */
static void
qdest_maybe_free(struct qmgr *q, struct qdest *d)
{
	struct qdests *ds = &q->dests;
	struct qdest **pp;

	if (d->refs > 0 || d->out > 0 || d->held.n > 0 || d->in_ring)
		return;
	pp = &ds->buckets[hash_str(d->key) & (ds->n_buckets - 1)];
	while (*pp != d)
		pp = &(*pp)->hash_next;
	*pp = d->hash_next;
	ds->n--;
	free(d);
}

void
qdest_ref(struct qdest *d)
{
	d->refs++;
}

void
qdest_unref(struct qmgr *q, struct qdest *d)
{
	if (d->refs == 0)
		panic("qdest: %s unreferenced twice", d->key);
	d->refs--;
	qdest_maybe_free(q, d);
}

bool
qdest_room(const struct qmgr *q, const struct qdest *d)
{
	return d->out < q->dests.cap && qmgr_out_room(q);
}

/* d has held messages and room of its own: in line for the global room
 * (at the end, unless it is in line already). */
static void
qdest_line_up(struct qmgr *q, struct qdest *d)
{
	struct qdests *ds = &q->dests;

	if (d->in_ring || d->held.n == 0 || d->out >= ds->cap)
		return;
	d->in_ring = true;
	d->ring_next = NULL;
	if (ds->ring_tail != NULL)
		ds->ring_tail->ring_next = d;
	else
		ds->ring_head = d;
	ds->ring_tail = d;
}

void
qdest_out_add(struct qdest *d)
{
	d->out++;
}

void
qdest_out_done(struct qmgr *q, struct qdest *d)
{
	if (d->out == 0)
		panic("qdest: %s: more done than out", d->key);
	d->out--;
	qdest_line_up(q, d);
	qdest_maybe_free(q, d);
}

void
qdest_hold(struct qmgr *q, struct qmsg *m)
{
	struct qdest *d = m->dest;

	qtable_hold(&q->msgs, m, &d->held, m->deadline);
	qdest_line_up(q, d);
}

struct qdest *
qdest_next(struct qmgr *q)
{
	struct qdests *ds = &q->dests;
	struct qdest *d;

	/* Those in line with no room or nothing held any more (a held
	 * message ran at its deadline) leave it here, each once. */
	while ((d = ds->ring_head) != NULL) {
		ds->ring_head = d->ring_next;
		if (ds->ring_head == NULL)
			ds->ring_tail = NULL;
		d->in_ring = false;
		d->ring_next = NULL;
		if (d->held.n > 0 && d->out < ds->cap) {
			/* Its turn; then the end of the line, if it still
			 * has room after the message now taken. */
			return d;
		}
		qdest_maybe_free(q, d);
	}
	return NULL;
}

void
qdest_tidy(struct qmgr *q, struct qdest *d)
{
	qdest_line_up(q, d);
	qdest_maybe_free(q, d);
}
