/*
 * The queue manager's message table (src/queue/qmgr_table.c): found by
 * id through growth, the waiting ones in due order (ties by id, i.e. by
 * arrival), the held ones first in, first out, drops from every state,
 * and a flush that makes everything due.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/qmgr_priv.h"

static void
make_id(char *out, size_t n, unsigned i)
{
	snprintf(out, n, "1xQ%08uAb", i);
}

static void
test_add_find_grow(void **state)
{
	struct qtable t;
	char id[QUEUE_ID_MAX];
	struct qmsg *m;
	bool added;
	unsigned i;

	(void)state;
	qtable_init(&t);
	for (i = 0; i < 20000; i++) {
		make_id(id, sizeof(id), i);
		m = qtable_add(&t, id, &added);
		assert_true(added);
		assert_string_equal(m->id, id);
		assert_int_equal(m->state, QMSG_WAITING);
		assert_int_equal(m->next_try, 0);
	}
	assert_int_equal(t.n, 20000);
	assert_true(t.n_buckets >= t.n);
	for (i = 0; i < 20000; i++) {
		make_id(id, sizeof(id), i);
		m = qtable_find(&t, id);
		assert_non_null(m);
		assert_string_equal(m->id, id);
		/* A second add finds the same one. */
		assert_ptr_equal(qtable_add(&t, id, &added), m);
		assert_false(added);
	}
	assert_int_equal(t.n, 20000);
	assert_null(qtable_find(&t, "nosuchid"));
	qtable_free(&t);
}

/* Waiting messages come out by next try, then by id. */
static void
test_due_order(void **state)
{
	static const int64_t when[] = { 50, 10, 30, 10, 0, 70, 30, 20 };
	static const unsigned want[] = { 4, 1, 3, 7, 2, 6, 0, 5 };
	struct qtable t;
	char id[QUEUE_ID_MAX];
	struct qmsg *m;
	bool added;
	unsigned i;

	(void)state;
	qtable_init(&t);
	for (i = 0; i < 8; i++) {
		make_id(id, sizeof(id), i);
		qtable_wait(&t, qtable_add(&t, id, &added), when[i]);
	}
	for (i = 0; i < 8; i++) {
		m = qtable_first(&t);
		make_id(id, sizeof(id), want[i]);
		assert_non_null(m);
		assert_string_equal(m->id, id);
		qtable_take(&t, m);
		assert_int_equal(m->state, QMSG_BUSY);
	}
	assert_null(qtable_first(&t));
	assert_int_equal(t.n, 8);	/* busy ones are still known */
	qtable_free(&t);
}

/* A waiting message moved later or earlier keeps the heap in order. */
static void
test_rewait(void **state)
{
	struct qtable t;
	char id[QUEUE_ID_MAX];
	struct qmsg *m, *mid;
	bool added;
	int64_t last = -1;
	unsigned i;

	(void)state;
	qtable_init(&t);
	for (i = 0; i < 1000; i++) {
		make_id(id, sizeof(id), i);
		qtable_wait(&t, qtable_add(&t, id, &added),
		    (int64_t)((i * 7919) % 1000) + 100);
	}
	make_id(id, sizeof(id), 500);
	mid = qtable_find(&t, id);
	qtable_wait(&t, mid, 1);
	assert_ptr_equal(qtable_first(&t), mid);
	qtable_wait(&t, mid, 5000);
	for (i = 0; i < 1000; i++) {
		m = qtable_first(&t);
		assert_true(m->next_try >= last);
		last = m->next_try;
		qtable_take(&t, m);
	}
	assert_int_equal(t.n_held, 0);
	assert_int_equal(last, 5000);
	qtable_free(&t);
}

static void
test_held_fifo(void **state)
{
	struct qtable t;
	struct qheld a = { 0 }, b = { 0 };
	char id[QUEUE_ID_MAX];
	struct qmsg *m[4];
	bool added;
	unsigned i;

	(void)state;
	qtable_init(&t);
	for (i = 0; i < 4; i++) {
		make_id(id, sizeof(id), 3 - i);
		m[i] = qtable_add(&t, id, &added);
	}
	/* Two lines; each message in the heap at its deadline too. */
	for (i = 0; i < 4; i++)
		qtable_hold(&t, m[i], i % 2 == 0 ? &a : &b, 1000 - i);
	assert_int_equal(t.n_held, 4);
	assert_int_equal(a.n, 2);
	assert_int_equal(b.n, 2);
	assert_ptr_equal(qtable_first(&t), m[3]);	/* deadline 997 */
	assert_int_equal(m[3]->next_try, 997);
	/* First in, first out in each line, whatever the ids. */
	assert_ptr_equal(a.head, m[0]);
	assert_ptr_equal(a.tail, m[2]);
	assert_ptr_equal(b.head, m[1]);
	qtable_take(&t, m[0]);
	assert_ptr_equal(a.head, m[2]);
	assert_int_equal(m[0]->state, QMSG_BUSY);
	/* Taken at its deadline (from the heap): out of its line too, the
	 * line closes up. */
	assert_ptr_equal(qtable_first(&t), m[3]);
	qtable_take(&t, m[3]);
	assert_ptr_equal(b.head, m[1]);
	assert_ptr_equal(b.tail, m[1]);
	assert_null(m[1]->held_next);
	/* Back to waiting from a line. */
	qtable_wait(&t, m[2], 9);
	assert_null(a.head);
	assert_null(a.tail);
	assert_int_equal(a.n, 0);
	assert_ptr_equal(qtable_first(&t), m[2]);
	assert_int_equal(m[2]->state, QMSG_WAITING);
	/* Held again after a busy spell: at the end of the line. */
	qtable_hold(&t, m[0], &b, 5);
	assert_ptr_equal(b.head, m[1]);
	assert_ptr_equal(b.tail, m[0]);
	assert_ptr_equal(m[0]->held_prev, m[1]);
	assert_int_equal(t.n_held, 2);
	assert_ptr_equal(qtable_first(&t), m[0]);
	qtable_free(&t);
}

/* Drop works from each place and keeps the others intact. */
static void
test_drop(void **state)
{
	struct qtable t;
	struct qheld h = { 0 };
	char id[QUEUE_ID_MAX];
	struct qmsg *m[6];
	bool added;
	unsigned i;

	(void)state;
	qtable_init(&t);
	for (i = 0; i < 6; i++) {
		make_id(id, sizeof(id), i);
		m[i] = qtable_add(&t, id, &added);
		qtable_wait(&t, m[i], 10 * i);
	}
	qtable_hold(&t, m[1], &h, 1000);
	qtable_hold(&t, m[2], &h, 1000);
	qtable_hold(&t, m[3], &h, 1000);
	qtable_take(&t, m[4]);
	qtable_drop(&t, m[3]);		/* the held tail */
	qtable_drop(&t, m[4]);		/* busy */
	qtable_drop(&t, m[0]);		/* the heap's top */
	make_id(id, sizeof(id), 3);
	assert_null(qtable_find(&t, id));
	assert_int_equal(t.n, 3);
	assert_ptr_equal(qtable_first(&t), m[5]);
	assert_ptr_equal(h.head, m[1]);
	qtable_take(&t, m[1]);
	assert_ptr_equal(h.head, m[2]);
	/* The tail was fixed: a new held one goes after m[2]. */
	qtable_hold(&t, m[5], &h, 1000);
	qtable_take(&t, m[2]);
	assert_ptr_equal(h.head, m[5]);
	assert_int_equal(h.n, 1);
	qtable_free(&t);
}

static void
test_flush(void **state)
{
	struct qtable t;
	struct qheld h = { 0 };
	char id[QUEUE_ID_MAX];
	struct qmsg *m;
	bool added;
	unsigned i;

	(void)state;
	qtable_init(&t);
	for (i = 0; i < 100; i++) {
		make_id(id, sizeof(id), i);
		qtable_wait(&t, qtable_add(&t, id, &added), 1000 - i);
	}
	make_id(id, sizeof(id), 42);
	qtable_hold(&t, qtable_find(&t, id), &h, 5000);
	qtable_flush(&t, 500);
	assert_true(qtable_find(&t, id)->flush);
	/* A held one keeps its deadline (it waits for room, not for a
	 * retry time). */
	assert_int_equal(qtable_find(&t, id)->next_try, 5000);
	/* Everything else due now, in arrival (id) order. */
	for (i = 0; i < 100; i++) {
		if (i == 42)
			continue;
		m = qtable_first(&t);
		make_id(id, sizeof(id), i);
		assert_string_equal(m->id, id);
		assert_int_equal(m->next_try, 500);
		assert_true(m->flush);
		qtable_take(&t, m);
	}
	qtable_free(&t);
}

/* wake(): new ones due now, waiting ones moved up, busy and held ones
 * left where they are (never in two places at once). */
static void
test_wake(void **state)
{
	struct qtable t;
	struct qheld h = { 0 };
	struct qmsg *a, *b, *c, *d;
	bool added;

	(void)state;
	qtable_init(&t);
	a = qtable_add(&t, "aaa", &added);
	qtable_wait(&t, a, 100000);
	b = qtable_add(&t, "bbb", &added);
	qtable_take(&t, b);
	c = qtable_add(&t, "ccc", &added);
	qtable_hold(&t, c, &h, 500);
	assert_ptr_equal(qtable_wake(&t, "aaa", 1000), a);
	assert_int_equal(a->next_try, 1000 - QTABLE_NEW_LEAD);
	/* Woken again later: it keeps its earlier place. */
	assert_ptr_equal(qtable_wake(&t, "aaa", 2000), a);
	assert_int_equal(a->next_try, 1000 - QTABLE_NEW_LEAD);
	assert_ptr_equal(qtable_wake(&t, "bbb", 1000), b);
	assert_int_equal(b->state, QMSG_BUSY);
	assert_ptr_equal(qtable_wake(&t, "ccc", 1000), c);
	assert_int_equal(c->state, QMSG_HELD);
	d = qtable_wake(&t, "ddd", 1000);
	assert_int_equal(d->state, QMSG_WAITING);
	assert_int_equal(t.n, 4);
	assert_int_equal(t.n_heap, 3);		/* c at its deadline */
	assert_int_equal(c->next_try, 500);
	assert_int_equal(t.n_held, 1);
	qtable_free(&t);
}

/* A backlog due for longer than QTABLE_NEW_LEAD goes before new mail:
 * a stream of new mail delays it, never starves it. */
static void
test_backlog_not_starved(void **state)
{
	struct qtable t;
	struct qmsg *old, *fresh;
	bool added;

	(void)state;
	qtable_init(&t);
	old = qtable_add(&t, "aaa", &added);
	qtable_wait(&t, old, 1000);
	/* Due exactly QTABLE_NEW_LEAD before: the older id wins the tie. */
	fresh = qtable_wake(&t, "bbb", 1000 + QTABLE_NEW_LEAD);
	assert_ptr_equal(qtable_first(&t), old);
	qtable_take(&t, fresh);
	/* One second less: the new one first. */
	fresh = qtable_wake(&t, "ccc", 1000 + QTABLE_NEW_LEAD - 1);
	assert_ptr_equal(qtable_first(&t), fresh);
	qtable_take(&t, fresh);
	/* Later new mail: the backlog first. */
	fresh = qtable_wake(&t, "ddd", 5000);
	assert_ptr_equal(qtable_first(&t), old);
	qtable_free(&t);
}

/* Boundaries: an empty table, one message in and out, the growth of the
 * buckets exactly past one per message. */
static void
test_boundaries(void **state)
{
	struct qtable t;
	char id[QUEUE_ID_MAX];
	struct qmsg *m;
	bool added;
	unsigned i;

	(void)state;
	qtable_init(&t);
	assert_null(qtable_first(&t));
	assert_null(qtable_find(&t, "x"));
	qtable_flush(&t, 1000);			/* nothing to do */
	m = qtable_add(&t, "only", &added);
	assert_ptr_equal(qtable_first(&t), m);
	qtable_drop(&t, m);
	assert_null(qtable_first(&t));
	assert_null(qtable_find(&t, "only"));
	assert_int_equal(t.n, 0);
	assert_int_equal(t.n_heap, 0);
	for (i = 0; i < 1024; i++) {
		make_id(id, sizeof(id), i);
		qtable_add(&t, id, &added);
	}
	assert_int_equal(t.n_buckets, 1024);	/* one a message: no growth */
	make_id(id, sizeof(id), 1024);
	qtable_add(&t, id, &added);
	assert_int_equal(t.n_buckets, 2048);
	/* The last one in the heap leaves without a move. */
	m = t.heap[t.n_heap - 1];
	qtable_drop(&t, m);
	assert_int_equal(t.n_heap, 1024);
	qtable_free(&t);
}

/* New mail goes before a backlog that came due less than
 * QTABLE_NEW_LEAD seconds before it, and before a flushed one; a flush
 * leaves it where it is. */
static void
test_new_mail_first(void **state)
{
	struct qtable t;
	char id[QUEUE_ID_MAX];
	struct qmsg *m, *fresh;
	bool added;
	unsigned i;

	(void)state;
	qtable_init(&t);
	for (i = 0; i < 100; i++) {
		make_id(id, sizeof(id), i);
		qtable_wait(&t, qtable_add(&t, id, &added),
		    i < 50 ? 1000 + i : 1000000 + i);
	}
	/* 1249 - QTABLE_NEW_LEAD: before 1000..1049 */
	fresh = qtable_wake(&t, "zzzNewest", 1249);	/* sorts last by id */
	assert_ptr_equal(qtable_first(&t), fresh);
	qtable_flush(&t, 1249);
	assert_ptr_equal(qtable_first(&t), fresh);
	assert_int_equal(fresh->next_try, 1249 - QTABLE_NEW_LEAD);
	qtable_take(&t, fresh);
	for (i = 0; i < 100; i++) {
		m = qtable_first(&t);
		make_id(id, sizeof(id), i);
		assert_string_equal(m->id, id);
		assert_int_equal(m->next_try, i < 50 ? 1000 + i : 1249);
		qtable_take(&t, m);
	}
	assert_null(qtable_first(&t));
	qtable_free(&t);
}

static bool
heap_ordered(const struct qtable *t)
{
	for (size_t i = 1; i < t->n_heap; i++) {
		const struct qmsg *c = t->heap[i], *p = t->heap[(i - 1) / 2];

		if (c->heap_i != i || c->next_try < p->next_try ||
		    (c->next_try == p->next_try && strcmp(c->id, p->id) < 0))
			return false;
	}
	return true;
}

/* Many mixed inserts, updates (duplicates of one time included) and
 * removals from anywhere keep the heap a heap and every index right. */
static void
test_mixed_ops(void **state)
{
	struct qtable t;
	char id[QUEUE_ID_MAX];
	struct qmsg *m;
	uint32_t x = 12345;
	bool added;
	int64_t last = -1;

	(void)state;
	qtable_init(&t);
	for (unsigned i = 0; i < 20000; i++) {
		x = x * 1103515245u + 12345u;
		make_id(id, sizeof(id), (x >> 8) % 3000);
		m = qtable_add(&t, id, &added);
		switch ((x >> 4) % 4) {
		case 0:
		case 1:
			qtable_wait(&t, m, (int64_t)((x >> 12) % 64));
			break;
		case 2:
			qtable_drop(&t, m);
			break;
		default:
			qtable_take(&t, m);
			qtable_wait(&t, m, 7);
			break;
		}
		if (i % 500 == 0)
			assert_true(heap_ordered(&t));
	}
	assert_true(heap_ordered(&t));
	assert_int_equal(t.n, t.n_heap);
	while ((m = qtable_first(&t)) != NULL) {
		assert_true(m->next_try >= last);
		last = m->next_try;
		qtable_drop(&t, m);
	}
	assert_int_equal(t.n, 0);
	qtable_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_grow),
		cmocka_unit_test(test_due_order),
		cmocka_unit_test(test_rewait),
		cmocka_unit_test(test_held_fifo),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_new_mail_first),
		cmocka_unit_test(test_backlog_not_starved),
		cmocka_unit_test(test_mixed_ops),
		cmocka_unit_test(test_wake),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
