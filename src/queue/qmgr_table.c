/*
 * The queue manager's table of queued messages (qmgr_priv.h): every
 * message it knows, found by id in a hash table, and each in one of three
 * places by its state: the waiting ones in a min-heap by next try (the
 * next due is at the top), the held ones (due, but their network copies
 * wait for room) in their destination's FIFO (qmgr_dest.c) and in the
 * heap by their deadline, the busy ones (being worked on) nowhere.
 *
 * Why: the scheduler runs after every notification and every finished
 * attempt, and the start-up scan may bring tens of thousands of messages
 * at once.  Each operation here is O(1) or O(log n), so no pass over the
 * whole queue ever runs on the loop (the old array needed one per
 * schedule, and one per id added).
 * Pure code, loop thread only; unit-tested (tests/unit/queue/test_qtable.c).
 */
#include "queue/qmgr_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define QTABLE_BUCKETS_MIN	1024

void
qtable_init(struct qtable *t)
{
	memset(t, 0, sizeof(*t));
	t->n_buckets = QTABLE_BUCKETS_MIN;
	t->buckets = xcalloc(t->n_buckets, sizeof(*t->buckets));
}

void
qtable_free(struct qtable *t)
{
	struct qmsg *m, *next;

	for (size_t i = 0; i < t->n_buckets; i++) {
		for (m = t->buckets[i]; m != NULL; m = next) {
			next = m->hash_next;
			free(m);
		}
	}
	free(t->buckets);
	free(t->heap);
	memset(t, 0, sizeof(*t));
}

struct qmsg *
qtable_find(const struct qtable *t, const char *id)
{
	struct qmsg *m;

	for (m = t->buckets[hash_str(id) & (t->n_buckets - 1)]; m != NULL;
	    m = m->hash_next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

/* One bucket per message at most: twice the buckets, rehashed. */
static void
qtable_grow(struct qtable *t)
{
	size_t nb = t->n_buckets * 2, b;
	struct qmsg **buckets = xcalloc(nb, sizeof(*buckets)), *m, *next;

	for (size_t i = 0; i < t->n_buckets; i++) {
		for (m = t->buckets[i]; m != NULL; m = next) {
			next = m->hash_next;
			b = hash_str(m->id) & (nb - 1);
			m->hash_next = buckets[b];
			buckets[b] = m;
		}
	}
	free(t->buckets);
	t->buckets = buckets;
	t->n_buckets = nb;
}

/* -- the heap of waiting messages, by (next_try, id) -------------------- */

static bool
qtable_before(const struct qmsg *a, const struct qmsg *b)
{
	if (a->next_try != b->next_try)
		return a->next_try < b->next_try;
	return strcmp(a->id, b->id) < 0;	/* ids sort by arrival */
}

static void
heap_set(struct qtable *t, size_t i, struct qmsg *m)
{
	t->heap[i] = m;
	m->heap_i = i;
}

static void
heap_up(struct qtable *t, size_t i)
{
	struct qmsg *m = t->heap[i];

	while (i > 0 && qtable_before(m, t->heap[(i - 1) / 2])) {
		heap_set(t, i, t->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(t, i, m);
}

static void
heap_down(struct qtable *t, size_t i)
{
	struct qmsg *m = t->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= t->n_heap)
			break;
		if (c + 1 < t->n_heap && qtable_before(t->heap[c + 1], t->heap[c]))
			c++;
		if (!qtable_before(t->heap[c], m))
			break;
		heap_set(t, i, t->heap[c]);
		i = c;
	}
	heap_set(t, i, m);
}

static void
heap_push(struct qtable *t, struct qmsg *m)
{
	if (t->n_heap == t->heap_cap) {
		t->heap_cap = t->heap_cap > 0 ? 2 * t->heap_cap : 1024;
		t->heap = xreallocarray(t->heap, t->heap_cap, sizeof(*t->heap));
	}
	heap_set(t, t->n_heap++, m);
	heap_up(t, m->heap_i);
}

static void
heap_remove(struct qtable *t, struct qmsg *m)
{
	size_t i = m->heap_i;
	struct qmsg *last = t->heap[--t->n_heap];

	if (i == t->n_heap)
		return;
	heap_set(t, i, last);
	heap_down(t, i);
	heap_up(t, last->heap_i);
}

/* -- the FIFOs of held messages (doubly linked: any leaves in O(1)) ---- */

static void
held_remove(struct qtable *t, struct qmsg *m)
{
	struct qheld *h = m->held_in;

	if (m->held_prev != NULL)
		m->held_prev->held_next = m->held_next;
	else
		h->head = m->held_next;
	if (m->held_next != NULL)
		m->held_next->held_prev = m->held_prev;
	else
		h->tail = m->held_prev;
	m->held_prev = m->held_next = NULL;
	m->held_in = NULL;
	h->n--;
	t->n_held--;
}

/* Out of the heap (and the FIFO): the message becomes busy. */
static void
qtable_unplace(struct qtable *t, struct qmsg *m)
{
	if (m->state == QMSG_WAITING || m->state == QMSG_HELD)
		heap_remove(t, m);
	if (m->state == QMSG_HELD)
		held_remove(t, m);
	m->state = QMSG_BUSY;
}

/* -- the interface ------------------------------------------------------ */

struct qmsg *
qtable_add(struct qtable *t, const char *id, bool *added)
{
	struct qmsg *m = qtable_find(t, id);
	size_t b;

	*added = m == NULL;
	if (m != NULL)
		return m;
	if (t->n >= t->n_buckets)
		qtable_grow(t);
	m = xcalloc(1, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	b = hash_str(id) & (t->n_buckets - 1);
	m->hash_next = t->buckets[b];
	t->buckets[b] = m;
	t->n++;
	m->state = QMSG_WAITING;
	heap_push(t, m);
	return m;
}

void
qtable_drop(struct qtable *t, struct qmsg *m)
{
	struct qmsg **pp;

	qtable_unplace(t, m);
	pp = &t->buckets[hash_str(m->id) & (t->n_buckets - 1)];
	while (*pp != m)
		pp = &(*pp)->hash_next;
	*pp = m->hash_next;
	t->n--;
	free(m);
}

struct qmsg *
qtable_wake(struct qtable *t, const char *id, int64_t now)
{
	bool added;
	struct qmsg *m = qtable_add(t, id, &added);

	if (m->state == QMSG_WAITING &&
	    (added || m->next_try > now - QTABLE_NEW_LEAD))
		qtable_wait(t, m, now - QTABLE_NEW_LEAD);
	return m;
}

struct qmsg *
qtable_first(const struct qtable *t)
{
	return t->n_heap > 0 ? t->heap[0] : NULL;
}

void
qtable_wait(struct qtable *t, struct qmsg *m, int64_t next_try)
{
	if (m->state == QMSG_WAITING) {
		m->next_try = next_try;
		heap_down(t, m->heap_i);
		heap_up(t, m->heap_i);
		return;
	}
	qtable_unplace(t, m);
	m->next_try = next_try;
	m->state = QMSG_WAITING;
	heap_push(t, m);
}

void
qtable_take(struct qtable *t, struct qmsg *m)
{
	qtable_unplace(t, m);
}

void
qtable_hold(struct qtable *t, struct qmsg *m, struct qheld *fifo,
    int64_t deadline)
{
	qtable_unplace(t, m);
	m->state = QMSG_HELD;
	m->next_try = deadline;
	heap_push(t, m);
	m->held_in = fifo;
	m->held_next = NULL;
	m->held_prev = fifo->tail;
	if (fifo->tail != NULL)
		fifo->tail->held_next = m;
	else
		fifo->head = m;
	fifo->tail = m;
	fifo->n++;
	t->n_held++;
}

void
qtable_flush(struct qtable *t, int64_t now)
{
	for (size_t i = 0; i < t->n_heap; i++) {
		t->heap[i]->flush = true;
		/* New mail and what was due already keep their places. */
		if (t->heap[i]->state == QMSG_WAITING &&
		    t->heap[i]->next_try > now)
			t->heap[i]->next_try = now;
	}
	/* A bottom-up rebuild. */
	for (size_t i = t->n_heap / 2; i-- > 0; )
		heap_down(t, i);
}
