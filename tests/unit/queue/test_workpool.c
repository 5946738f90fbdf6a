/*
 * The worker pool: work() in a worker thread, done() in the loop thread,
 * every done() run (also by workpool_free), on a real event_base.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <event2/event.h>

#include "common/workpool.h"

enum { N_JOBS = 200 };

struct job_ctx {
	struct event_base *base;
	pthread_t loop;
	atomic_int worked;
	int done;
	int target;
	int wrong_thread;
};

struct item {
	struct job_ctx *ctx;
	int worked_here;
};

static void
job_work(void *p)
{
	struct item *it = p;

	if (pthread_equal(pthread_self(), it->ctx->loop))
		it->ctx->wrong_thread++;
	it->worked_here = 1;
	atomic_fetch_add(&it->ctx->worked, 1);
}

static void
job_done(void *p)
{
	struct item *it = p;

	if (!pthread_equal(pthread_self(), it->ctx->loop) || !it->worked_here)
		it->ctx->wrong_thread++;
	if (++it->ctx->done == it->ctx->target)
		event_base_loopbreak(it->ctx->base);
}

static void
test_threads(void **state)
{
	static struct item items[N_JOBS];
	struct job_ctx ctx;
	struct workpool *pool;
	int i;

	(void)state;
	memset(&ctx, 0, sizeof(ctx));
	ctx.base = event_base_new();
	ctx.loop = pthread_self();
	ctx.target = N_JOBS;
	pool = workpool_new(ctx.base, 4);
	for (i = 0; i < N_JOBS; i++) {
		items[i].ctx = &ctx;
		items[i].worked_here = 0;
		workpool_submit(pool, job_work, job_done, &items[i]);
	}
	assert_true(workpool_pending(pool) > 0);
	event_base_dispatch(ctx.base);
	assert_int_equal(ctx.done, N_JOBS);
	assert_int_equal(atomic_load(&ctx.worked), N_JOBS);
	assert_int_equal(workpool_pending(pool), 0);
	assert_int_equal(ctx.wrong_thread, 0);

	/* workpool_free waits for queued jobs and runs their done(). */
	ctx.target = -1;
	for (i = 0; i < N_JOBS; i++)
		workpool_submit(pool, job_work, job_done, &items[i]);
	workpool_free(pool);
	assert_int_equal(ctx.done, 2 * N_JOBS);
	assert_int_equal(ctx.wrong_thread, 0);
	event_base_free(ctx.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
