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
 * Hand-offs in batches, since each one costs system calls (issue 12: 7
 * futex wake-ups per message): jobs submitted in one pass of the loop
 * collect in a list of the loop's own and go to the FIFO together, under
 * one lock, from a zero-delay event; a sleeping thread is woken only
 * when no other is already on its way (waking) and work is left for it,
 * and each woken thread that leaves work behind wakes the next (so N
 * queued jobs still reach N threads); the eventfd is written only when
 * the finished FIFO goes from empty to not empty, as the loop takes the
 * whole FIFO each time it wakes.  A thread sleeps on a semaphore of its
 * own, not a condition variable: a wake-up is then one futex wake and
 * one wait, where glibc's condition variable adds a wake in the wait
 * and another at the next unlock of the mutex it hands back marked
 * contended.  Idle threads form a stack, so the same few stay busy.
 *
 * Invariants: every submitted job runs work() exactly once in a worker and
 * done() exactly once in the loop thread, in completion order.
 * workpool_free() drains every list, so no done() is ever lost.
 * pending counts jobs from submit until their done() returned.  waking
 * is set when a thread is taken off the idle stack to be posted, and
 * cleared by that thread when it is back under the lock; a thread
 * looks at the FIFO (under the lock) before it goes on the stack, so a
 * job in the FIFO never waits for a wake-up that is not coming.
 */
#include "common/workpool.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
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

struct worker {
	struct workpool *pool;
	pthread_t tid;
	sem_t wake;			/* posted: look at todo again */
	struct worker *next_idle;	/* on pool->idle_top */
};

struct workpool {
	struct event_base *base;
	struct event *ev;
	int efd;
	struct worker *threads;
	unsigned n_threads;
	pthread_mutex_t mu;
	pthread_cond_t finished;	/* signalled: a job moved to done,
					 * while draining */
	struct jobq todo;		/* submitted, not yet started */
	struct jobq done;		/* work() returned, done() not yet run */
	struct worker *idle_top;	/* sleeping threads, a stack */
	bool waking;			/* one posted, not yet back */
	bool draining;			/* workpool_free waits on finished */
	bool stopping;
	struct workpool_stats stats;	/* under mu */
	/* Loop thread only. */
	struct jobq batch;		/* submitted in this pass of the loop */
	struct event *flush_ev;		/* hands batch over */
	unsigned pending;
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

/* Appends all of from to q; from ends empty. */
static void
jobq_splice(struct jobq *q, struct jobq *from)
{
	if (from->head == NULL)
		return;
	if (q->tail != NULL)
		q->tail->next = from->head;
	else
		q->head = from->head;
	q->tail = from->tail;
	from->head = from->tail = NULL;
}

static void
workpool_notify_loop(struct workpool *pool)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: the loop is woken. */
	while (write(pool->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/*
 * Under mu: the sleeping thread to post for the work in todo, taken off
 * the idle stack, or NULL: none asleep, nothing to do, or one on its way
 * already (it wakes the next itself if work is left).  The caller posts
 * after unlocking mu, so the thread does not wake to a held lock.
 */
static struct worker *
workpool_wake_one(struct workpool *pool)
{
	struct worker *w = pool->idle_top;

	if (pool->todo.head == NULL || w == NULL || pool->waking)
		return NULL;
	pool->idle_top = w->next_idle;
	pool->waking = true;
	pool->stats.wakeups++;
	return w;
}

static void
worker_post(struct worker *w)
{
	if (w != NULL)
		sem_post(&w->wake);
}

/* Under mu: the next job for self, sleeping while there is none; NULL
 * when stopping and nothing is left.  *next: a thread to post. */
static struct job *
workpool_take(struct workpool *pool, struct worker *self,
    struct worker **next)
{
	struct job *j;

	while (pool->todo.head == NULL && !pool->stopping) {
		self->next_idle = pool->idle_top;
		pool->idle_top = self;
		pthread_mutex_unlock(&pool->mu);
		while (sem_wait(&self->wake) != 0 && errno == EINTR)
			;
		pthread_mutex_lock(&pool->mu);
		pool->waking = false;
	}
	j = jobq_pop(&pool->todo);
	*next = workpool_wake_one(pool);
	return j;
}

static void *
workpool_thread(void *p)
{
	struct worker *self = p;
	struct workpool *pool = self->pool;
	struct worker *next;
	struct job *j;
	bool first;

	pthread_mutex_lock(&pool->mu);
	while ((j = workpool_take(pool, self, &next)) != NULL) {
		pthread_mutex_unlock(&pool->mu);
		worker_post(next);
		j->work(j->arg);
		pthread_mutex_lock(&pool->mu);
		/* The loop takes the whole list when it wakes: only the first
		 * job into an empty list needs to wake it. */
		first = pool->done.head == NULL;
		jobq_push(&pool->done, j);
		pool->stats.finished++;
		if (first)
			pool->stats.notifications++;
		if (pool->draining)
			pthread_cond_broadcast(&pool->finished);
		if (first) {
			pthread_mutex_unlock(&pool->mu);
			workpool_notify_loop(pool);
			pthread_mutex_lock(&pool->mu);
		}
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

/* Loop thread: the jobs submitted so far go to the threads. */
static void
workpool_flush(struct workpool *pool)
{
	struct worker *w;

	if (pool->batch.head == NULL)
		return;
	pthread_mutex_lock(&pool->mu);
	jobq_splice(&pool->todo, &pool->batch);
	pool->stats.batches++;
	w = workpool_wake_one(pool);
	pthread_mutex_unlock(&pool->mu);
	worker_post(w);
}

static void
workpool_on_flush(evutil_socket_t fd, short what, void *p)
{
	(void)fd;
	(void)what;
	workpool_flush(p);
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

/*
 * The pool's lock is held for a few list operations only, by the loop and
 * every thread: where the C library offers it, a waiter spins a moment
 * before it sleeps, which saves the futex wait and wake of most
 * collisions (issue 12).
 */
static void
workpool_mutex_init(pthread_mutex_t *mu)
{
#ifdef HAVE_PTHREAD_MUTEX_ADAPTIVE_NP
	pthread_mutexattr_t attr;

	if (pthread_mutexattr_init(&attr) == 0) {
		if (pthread_mutexattr_settype(&attr,
		    PTHREAD_MUTEX_ADAPTIVE_NP) == 0 &&
		    pthread_mutex_init(mu, &attr) == 0) {
			pthread_mutexattr_destroy(&attr);
			return;
		}
		pthread_mutexattr_destroy(&attr);
	}
#endif
	pthread_mutex_init(mu, NULL);
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
	pool->flush_ev = event_new(base, -1, 0, workpool_on_flush, pool);
	if (pool->flush_ev == NULL)
		fatal("worker pool: cannot make the hand-over event");
	workpool_mutex_init(&pool->mu);
	pthread_cond_init(&pool->finished, NULL);
	pool->threads = xcalloc(threads, sizeof(*pool->threads));
	for (i = 0; i < threads; i++) {
		pool->threads[i].pool = pool;
		if (sem_init(&pool->threads[i].wake, 0, 0) != 0)
			fatal("worker pool: sem_init: %s", strerror(errno));
		rc = pthread_create(&pool->threads[i].tid, NULL,
		    workpool_thread, &pool->threads[i]);
		if (rc != 0)
			fatal("worker pool: pthread_create: %s", strerror(rc));
	}
	pool->n_threads = threads;
	return pool;
}

/* Loop thread: a new job into this pass's batch. */
static void
workpool_batch_add(struct workpool *pool, void (*work)(void *arg),
    void (*done)(void *arg), void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->work = work;
	j->done = done;
	j->arg = arg;
	pool->pending++;
	jobq_push(&pool->batch, j);
}

void
workpool_submit(struct workpool *pool, void (*work)(void *arg),
    void (*done)(void *arg), void *arg)
{
	/* The first of a batch arms the hand-over: it runs in this pass of
	 * the loop, after the callbacks already due (libevent runs events
	 * made active while it works through its active list). */
	if (pool->batch.head == NULL)
		event_active(pool->flush_ev, EV_TIMEOUT, 0);
	workpool_batch_add(pool, work, done, arg);
}

void
workpool_submit_now(struct workpool *pool, void (*work)(void *arg),
    void (*done)(void *arg), void *arg)
{
	workpool_batch_add(pool, work, done, arg);
	workpool_flush(pool);
}

unsigned
workpool_pending(const struct workpool *pool)
{
	return pool->pending;
}

void
workpool_stats(struct workpool *pool, struct workpool_stats *out)
{
	pthread_mutex_lock(&pool->mu);
	*out = pool->stats;
	pthread_mutex_unlock(&pool->mu);
}

void
workpool_free(struct workpool *pool)
{
	struct worker *sleepers, *w, *next;
	unsigned i;

	if (pool == NULL)
		return;
	/*
	 * done() callbacks may submit more work (e.g. a commit that chains a
	 * second step), so drain until nothing is pending before stopping the
	 * threads.
	 */
	while (pool->pending > 0) {
		workpool_flush(pool);
		pthread_mutex_lock(&pool->mu);
		pool->draining = true;
		while (pool->done.head == NULL)
			pthread_cond_wait(&pool->finished, &pool->mu);
		pthread_mutex_unlock(&pool->mu);
		workpool_run_done(pool);
	}
	pthread_mutex_lock(&pool->mu);
	pool->stopping = true;
	sleepers = pool->idle_top;
	pool->idle_top = NULL;
	pthread_mutex_unlock(&pool->mu);
	/* The others see stopping before they would sleep. */
	for (w = sleepers; w != NULL; w = next) {
		next = w->next_idle;
		worker_post(w);
	}
	for (i = 0; i < pool->n_threads; i++) {
		pthread_join(pool->threads[i].tid, NULL);
		sem_destroy(&pool->threads[i].wake);
	}
	event_free(pool->flush_ev);
	event_free(pool->ev);
	close(pool->efd);
	pthread_cond_destroy(&pool->finished);
	pthread_mutex_destroy(&pool->mu);
	free(pool->threads);
	free(pool);
}
