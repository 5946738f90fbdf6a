/*
 * Worker threads for the blocking calls an event loop must not make
 * (fsync, rename + directory fsync, Maildir writes): see workpool.h.
 *
 * Called by the smtpd loop (spool commits) and the queue manager
 * (deliveries).  Jobs go through a mutex-protected FIFO to N pthreads;
 * finished jobs go to a second FIFO and the loop is woken by writing to an
 * eventfd watched by a persistent libevent read event, so libevent itself
 * is only ever touched by the loop thread (no evthread_use_pthreads).
 *
 * Invariants: every submitted job runs work() exactly once in a worker and
 * done() exactly once in the loop thread, in completion order.
 * workpool_free() drains both queues, so no done() is ever lost.
 * pending counts jobs from submit until their done() returned.
 */
#include "common/workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"

#define WORKPOOL_THREADS_MAX 64

struct job {
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
	struct job *next;
};

struct jobq {
	struct job *head, *tail;
};

struct workpool {
	struct event_base *base;
	struct event *ev;
	int efd;
	pthread_t *threads;
	unsigned n_threads;
	pthread_mutex_t mu;
	pthread_cond_t cond;		/* signalled: todo grew or stopping */
	pthread_cond_t finished;	/* signalled: a job moved to done */
	struct jobq todo;		/* submitted, not yet started */
	struct jobq done;		/* work() returned, done() not yet run */
	unsigned pending;		/* loop thread only */
	bool stopping;
};

static void
jobq_push(struct jobq *q, struct job *j)
{
	j->next = NULL;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *
jobq_pop(struct jobq *q)
{
	struct job *j = q->head;

	if (j != NULL) {
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
	}
	return j;
}

static void
workpool_wake(struct workpool *pool)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: the loop is woken. */
	while (write(pool->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void *
workpool_thread(void *p)
{
	struct workpool *pool = p;
	struct job *j;

	pthread_mutex_lock(&pool->mu);
	for (;;) {
		while (pool->todo.head == NULL && !pool->stopping)
			pthread_cond_wait(&pool->cond, &pool->mu);
		j = jobq_pop(&pool->todo);
		if (j == NULL)
			break;		/* stopping and nothing left */
		pthread_mutex_unlock(&pool->mu);
		j->work(j->arg);
		pthread_mutex_lock(&pool->mu);
		jobq_push(&pool->done, j);
		pthread_cond_broadcast(&pool->finished);
		workpool_wake(pool);
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

/* Loop thread: run done() of every finished job, outside the lock. */
static void
workpool_run_done(struct workpool *pool)
{
	struct jobq q;
	struct job *j;

	pthread_mutex_lock(&pool->mu);
	q = pool->done;
	pool->done.head = pool->done.tail = NULL;
	pthread_mutex_unlock(&pool->mu);
	while ((j = jobq_pop(&q)) != NULL) {
		pool->pending--;
		if (j->done != NULL)
			j->done(j->arg);
		free(j);
	}
}

static void
workpool_on_wake(evutil_socket_t fd, short what, void *p)
{
	uint64_t n;

	(void)what;
	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	workpool_run_done(p);
}

struct workpool *
workpool_new(struct event_base *base, unsigned threads)
{
	struct workpool *pool;
	unsigned i;
	int rc;

	if (threads == 0)
		threads = 1;
	if (threads > WORKPOOL_THREADS_MAX)
		threads = WORKPOOL_THREADS_MAX;
	pool = xcalloc(1, sizeof(*pool));
	pool->base = base;
	pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->efd < 0)
		fatal("worker pool: eventfd: %s", strerror(errno));
	pool->ev = event_new(base, pool->efd, EV_READ | EV_PERSIST,
	    workpool_on_wake, pool);
	if (pool->ev == NULL || event_add(pool->ev, NULL) < 0)
		fatal("worker pool: cannot watch the eventfd");
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pthread_cond_init(&pool->finished, NULL);
	pool->threads = xcalloc(threads, sizeof(*pool->threads));
	for (i = 0; i < threads; i++) {
		rc = pthread_create(&pool->threads[i], NULL, workpool_thread, pool);
		if (rc != 0)
			fatal("worker pool: pthread_create: %s", strerror(rc));
	}
	pool->n_threads = threads;
	return pool;
}

void
workpool_submit(struct workpool *pool, void (*work)(void *arg),
    void (*done)(void *arg), void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->work = work;
	j->done = done;
	j->arg = arg;
	pool->pending++;
	pthread_mutex_lock(&pool->mu);
	jobq_push(&pool->todo, j);
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->mu);
}

unsigned
workpool_pending(const struct workpool *pool)
{
	return pool->pending;
}

void
workpool_free(struct workpool *pool)
{
	unsigned i;

	if (pool == NULL)
		return;
	/*
	 * done() callbacks may submit more work (e.g. a commit that chains a
	 * second step), so drain until nothing is pending before stopping the
	 * threads.
	 */
	while (pool->pending > 0) {
		pthread_mutex_lock(&pool->mu);
		while (pool->done.head == NULL)
			pthread_cond_wait(&pool->finished, &pool->mu);
		pthread_mutex_unlock(&pool->mu);
		workpool_run_done(pool);
	}
	pthread_mutex_lock(&pool->mu);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->mu);
	for (i = 0; i < pool->n_threads; i++)
		pthread_join(pool->threads[i], NULL);
	event_free(pool->ev);
	close(pool->efd);
	pthread_cond_destroy(&pool->finished);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->mu);
	free(pool->threads);
	free(pool);
}
