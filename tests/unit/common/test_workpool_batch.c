/*
 * The worker pool's hand-offs in batches (src/common/workpool.c, issue
 * 12): many jobs, each work() and done() run exactly once and in that
 * order, done() on the loop's thread; a burst of jobs costs one
 * hand-over, at most one wake-up per thread and, when every job is
 * finished before the loop looks, one notification of the loop; a
 * done() that submits more work is served too, also by workpool_free.
 * No timing: the test waits for the pool's own count of finished jobs
 * and runs the loop one pass at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include <event2/event.h>

#include "common/workpool.h"

enum { THREADS = 4, BURST = 1000, ROUNDS = 20 };

struct bench {
	struct event_base *base;
	struct workpool *pool;
	pthread_t loop;
	pthread_mutex_t mu;
	unsigned done;
	unsigned misplaced;		/* a call in the wrong thread or order */
	unsigned resubmit;		/* done() submits this many more */
};

struct item {
	struct bench *b;
	atomic_uint works;
	unsigned dones;
};

static struct item items[BURST * 2];

static void
item_work(void *p)
{
	struct item *it = p;
	struct bench *b = it->b;

	atomic_fetch_add(&it->works, 1);
	pthread_mutex_lock(&b->mu);
	if (pthread_equal(pthread_self(), b->loop))
		b->misplaced++;
	pthread_mutex_unlock(&b->mu);
}

static void
item_done(void *p)
{
	struct item *it = p;
	struct bench *b = it->b;

	if (!pthread_equal(pthread_self(), b->loop) ||
	    atomic_load(&it->works) != it->dones + 1)
		b->misplaced++;
	it->dones++;
	b->done++;
	if (b->resubmit > 0) {
		b->resubmit--;
		workpool_submit(b->pool, item_work, item_done, &items[BURST +
		    b->resubmit]);
	}
}

static void
bench_init(struct bench *b)
{
	memset(b, 0, sizeof(*b));
	memset(items, 0, sizeof(items));
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		items[i].b = b;
	b->base = event_base_new();
	b->loop = pthread_self();
	pthread_mutex_init(&b->mu, NULL);
	b->pool = workpool_new(b->base, THREADS);
}

/* Until n jobs are on the finished list (work() returned is not
 * enough: the list is what wakes the loop). */
static void
bench_wait_finished(struct bench *b, unsigned n)
{
	struct workpool_stats st;

	for (workpool_stats(b->pool, &st); st.finished < n;
	    workpool_stats(b->pool, &st))
		sched_yield();
}

static void
bench_free(struct bench *b)
{
	workpool_free(b->pool);
	event_base_free(b->base);
	pthread_mutex_destroy(&b->mu);
}

/* The first n items: work() and done() once each, in that order, each
 * in its thread. */
static void
bench_check_each_once(const struct bench *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(atomic_load(&items[i].works), 1);
		assert_int_equal(items[i].dones, 1);
	}
	assert_int_equal(b->misplaced, 0);
}

/* A burst submitted in one pass: handed over once, each thread woken at
 * most once; every job finished before the loop looks: one wake-up of
 * the loop, which runs every done() in one pass. */
static void
test_burst_costs_one_handover(void **state)
{
	struct bench b;
	struct workpool_stats st;

	(void)state;
	bench_init(&b);
	for (unsigned i = 0; i < BURST; i++)
		workpool_submit(b.pool, item_work, item_done, &items[i]);
	workpool_stats(b.pool, &st);
	assert_int_equal(st.batches, 0);	/* not before the loop runs */
	assert_int_equal(workpool_pending(b.pool), BURST);
	event_base_loop(b.base, EVLOOP_ONCE);	/* the hand-over */
	bench_wait_finished(&b, BURST);
	event_base_loop(b.base, EVLOOP_ONCE);	/* the results */
	assert_int_equal(b.done, BURST);
	assert_int_equal(workpool_pending(b.pool), 0);
	workpool_stats(b.pool, &st);
	assert_int_equal(st.batches, 1);
	/* Threads not yet asleep need no wake-up. */
	assert_in_range(st.wakeups, 0, THREADS);
	assert_int_equal(st.notifications, 1);
	bench_check_each_once(&b, BURST);
	bench_free(&b);
}

/* Many rounds with the loop running in between: still every job once,
 * and never more hand-overs than rounds nor notifications than jobs. */
static void
test_rounds_every_job_once(void **state)
{
	struct bench b;
	struct workpool_stats st;
	unsigned per = BURST / ROUNDS;

	(void)state;
	bench_init(&b);
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned i = 0; i < per; i++)
			workpool_submit(b.pool, item_work, item_done,
			    &items[r * per + i]);
		while (b.done < (r + 1) * per)
			event_base_loop(b.base, EVLOOP_ONCE);
	}
	workpool_stats(b.pool, &st);
	assert_int_equal(st.batches, ROUNDS);
	assert_in_range(st.notifications, ROUNDS, BURST);
	assert_in_range(st.wakeups, 0, BURST);
	bench_check_each_once(&b, BURST);
	bench_free(&b);
}

/* workpool_submit_now: handed over at once, with the jobs of the pass
 * before it, while the loop has not run; done() still in the loop. */
static void
test_submit_now_hands_over_at_once(void **state)
{
	struct bench b;
	struct workpool_stats st;

	(void)state;
	bench_init(&b);
	workpool_submit(b.pool, item_work, item_done, &items[0]);
	workpool_submit_now(b.pool, item_work, item_done, &items[1]);
	workpool_stats(b.pool, &st);
	assert_int_equal(st.batches, 1);	/* before the loop ran */
	bench_wait_finished(&b, 2);		/* works without the loop */
	assert_int_equal(b.done, 0);
	while (b.done < 2)
		event_base_loop(b.base, EVLOOP_ONCE);
	workpool_stats(b.pool, &st);
	assert_int_equal(st.batches, 1);	/* the pass's hand-over: none */
	assert_int_equal(workpool_pending(b.pool), 0);
	bench_check_each_once(&b, 2);
	bench_free(&b);
}

/* done() that submits more, never dispatched by the test: workpool_free
 * hands the batches over itself and runs every done(). */
static void
test_free_drains_batches_and_resubmits(void **state)
{
	struct bench b;

	(void)state;
	bench_init(&b);
	b.resubmit = BURST;
	for (unsigned i = 0; i < BURST; i++)
		workpool_submit(b.pool, item_work, item_done, &items[i]);
	workpool_free(b.pool);
	assert_int_equal(b.done, 2 * BURST);
	bench_check_each_once(&b, 2 * BURST);
	b.pool = NULL;
	bench_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_costs_one_handover),
		cmocka_unit_test(test_rounds_every_job_once),
		cmocka_unit_test(test_submit_now_hands_over_at_once),
		cmocka_unit_test(test_free_drains_batches_and_resubmits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
