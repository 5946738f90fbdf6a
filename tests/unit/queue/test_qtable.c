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
	assert_ptr_equal(qtable_held_first(&t), NULL);
	assert_int_equal(last, 5000);
	qtable_free(&t);
}

static void
test_held_fifo(void **state)
{
	struct qtable t;
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
	for (i = 0; i < 4; i++)
		qtable_hold(&t, m[i]);
	assert_null(qtable_first(&t));
	assert_int_equal(t.n_held, 4);
	/* First in, first out, whatever the ids. */
	for (i = 0; i < 4; i++) {
		assert_ptr_equal(qtable_held_first(&t), m[i]);
		assert_int_equal(m[i]->state, QMSG_HELD);
		qtable_take(&t, m[i]);
	}
	assert_null(qtable_held_first(&t));
	assert_int_equal(t.n_held, 0);
	/* Held again after a busy spell; and back to waiting. */
	qtable_hold(&t, m[2]);
	qtable_hold(&t, m[0]);
	qtable_wait(&t, m[2], 9);
	assert_ptr_equal(qtable_held_first(&t), m[0]);
	assert_ptr_equal(qtable_first(&t), m[2]);
	assert_int_equal(t.n_held, 1);
	qtable_free(&t);
}

/* Drop works from each place and keeps the others intact. */
static void
test_drop(void **state)
{
	struct qtable t;
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
	qtable_hold(&t, m[1]);
	qtable_hold(&t, m[2]);
	qtable_hold(&t, m[3]);
	qtable_take(&t, m[4]);
	qtable_drop(&t, m[3]);		/* the held tail */
	qtable_drop(&t, m[4]);		/* busy */
	qtable_drop(&t, m[0]);		/* the heap's top */
	make_id(id, sizeof(id), 3);
	assert_null(qtable_find(&t, id));
	assert_int_equal(t.n, 3);
	assert_ptr_equal(qtable_first(&t), m[5]);
	assert_ptr_equal(qtable_held_first(&t), m[1]);
	qtable_take(&t, m[1]);
	assert_ptr_equal(qtable_held_first(&t), m[2]);
	/* The tail was fixed: a new held one goes after m[2]. */
	qtable_hold(&t, m[5]);
	qtable_take(&t, m[2]);
	assert_ptr_equal(qtable_held_first(&t), m[5]);
	qtable_free(&t);
}

static void
test_flush(void **state)
{
	struct qtable t;
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
	qtable_hold(&t, qtable_find(&t, id));
	qtable_flush(&t);
	assert_true(qtable_find(&t, id)->flush);
	/* Everything due at 0, in arrival (id) order. */
	for (i = 0; i < 100; i++) {
		if (i == 42)
			continue;
		m = qtable_first(&t);
		make_id(id, sizeof(id), i);
		assert_string_equal(m->id, id);
		assert_int_equal(m->next_try, 0);
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
	struct qmsg *a, *b, *c, *d;
	bool added;

	(void)state;
	qtable_init(&t);
	a = qtable_add(&t, "aaa", &added);
	qtable_wait(&t, a, 100);
	b = qtable_add(&t, "bbb", &added);
	qtable_take(&t, b);
	c = qtable_add(&t, "ccc", &added);
	qtable_hold(&t, c);
	assert_ptr_equal(qtable_wake(&t, "aaa"), a);
	assert_int_equal(a->next_try, 0);
	assert_ptr_equal(qtable_wake(&t, "bbb"), b);
	assert_int_equal(b->state, QMSG_BUSY);
	assert_ptr_equal(qtable_wake(&t, "ccc"), c);
	assert_int_equal(c->state, QMSG_HELD);
	d = qtable_wake(&t, "ddd");
	assert_int_equal(d->state, QMSG_WAITING);
	assert_int_equal(t.n, 4);
	assert_int_equal(t.n_heap, 2);
	assert_int_equal(t.n_held, 1);
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
		cmocka_unit_test(test_wake),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
