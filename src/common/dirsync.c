/*
 * Group commit of directory entries (dirsync.h).
 *
 * Called by the spool's commit (smtpd's workpool threads), the queue
 * manager's delivery threads (Maildir new/ folders, status records that
 * remove a message) and by nothing on an event loop.
 *
 * Each caller puts a waiter on its own stack into the queue and sleeps
 * (on a condition variable of its own, so a round wakes only the callers
 * it finished and the one that leads next, not every thread waiting)
 * until a leader marks it done.  A leader is a caller that found no
 * fsync running: it takes every queued waiter of its key out of the
 * queue (those all made their change before they queued, so before the
 * fsync starts), fsyncs, and hands each the result.  Waiters queued
 * while it ran stay queued: the fsync in flight may have started before
 * their change.  When it finishes, one of them leads the next round.
 * Only one fsync runs per struct dirsync at a time; for folders of
 * different keys that costs a little parallelism, never correctness.
 * Trusts: its callers' keys (fstat of the fd they pass).
 */
#include "common/dirsync.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xmalloc.h"

struct dirsync_waiter {
	struct dirsync_waiter *next;
	struct dirsync_key key;
	pthread_cond_t cond;	/* signalled: done, or time to lead */
	bool done;
	int err;
};

struct dirsync {
	int (*fsync_fn)(int, void *);
	void *arg;
	pthread_mutex_t mu;
	bool busy;			/* an fsync is in flight */
	struct dirsync_waiter *queue;	/* waiting for a round to start */
	unsigned waiting;
	uint64_t count;
	uint64_t started;		/* fsyncs begun (each one's number) */
	uint64_t done_ok, done_failed;	/* the last begun to end so */
	unsigned expected;		/* announced, not yet queued */
	long lead_wait_ns;		/* a leader's longest wait for them */
	pthread_cond_t arrived;		/* expected fell to 0 (monotonic) */
};

static int
plain_fsync(int fd, void *arg)
{
	(void)arg;
	return fsync(fd);
}

struct dirsync *
dirsync_new(int (*fsync_fn)(int fd, void *arg), void *arg)
{
	struct dirsync *ds = xcalloc(1, sizeof(*ds));
	pthread_condattr_t attr;

	ds->fsync_fn = fsync_fn != NULL ? fsync_fn : plain_fsync;
	ds->arg = arg;
	pthread_mutex_init(&ds->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ds->arrived, &attr);
	pthread_condattr_destroy(&attr);
	return ds;
}

void
dirsync_free(struct dirsync *ds)
{
	if (ds == NULL)
		return;
	pthread_cond_destroy(&ds->arrived);
	pthread_mutex_destroy(&ds->mu);
	free(ds);
}

int
dirsync_key_of(int fd, struct dirsync_key *key)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	key->dev = (uint64_t)st.st_dev;
	key->ino = (uint64_t)st.st_ino;
	return 0;
}

static bool
same_key(const struct dirsync_key *a, const struct dirsync_key *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

/* Takes the queued waiters of key out of the queue (mutex held). */
static struct dirsync_waiter *
take_batch(struct dirsync *ds, const struct dirsync_key *key)
{
	struct dirsync_waiter *batch = NULL, **pp = &ds->queue, *w;

	while ((w = *pp) != NULL) {
		if (!same_key(&w->key, key)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->next = batch;
		batch = w;
		ds->waiting--;
	}
	return batch;
}

/* Lets the announced callers still on their way join the round about
 * to start, for at most lead_wait_ns (mutex held; busy already set, so
 * they queue rather than lead). */
static void
await_expected(struct dirsync *ds)
{
	struct timespec until;

	if (ds->expected == 0 || ds->lead_wait_ns <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += ds->lead_wait_ns % 1000000000L;
	until.tv_sec += ds->lead_wait_ns / 1000000000L +
	    until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (ds->expected > 0)
		if (pthread_cond_timedwait(&ds->arrived, &ds->mu,
		    &until) != 0)
			break;		/* ETIMEDOUT: go with who is here */
}

/* One round as leader: the mutex is held on entry and on return. */
static void
lead(struct dirsync *ds, int fd, const struct dirsync_key *key)
{
	struct dirsync_waiter *batch, *w, *next;
	uint64_t gen;
	int err;

	ds->busy = true;
	await_expected(ds);
	batch = take_batch(ds, key);
	gen = ++ds->started;
	pthread_mutex_unlock(&ds->mu);
	err = ds->fsync_fn(fd, ds->arg) == 0 ? 0 : (errno != 0 ? errno : EIO);
	pthread_mutex_lock(&ds->mu);
	ds->count++;
	/* One fsync at a time: they end in the order they began. */
	if (err == 0)
		ds->done_ok = gen;
	else
		ds->done_failed = gen;
	/* next is read before done is set: a waiter marked done may return
	 * (and its stack go) as soon as the mutex is free. */
	for (w = batch; w != NULL; w = next) {
		next = w->next;
		w->err = err;
		w->done = true;
		pthread_cond_signal(&w->cond);
	}
	ds->busy = false;
	/* One queued caller leads the next round (a newcomer may beat it
	 * to it: it then waits again, and is woken when that round ends). */
	if (ds->queue != NULL)
		pthread_cond_signal(&ds->queue->cond);
}

/* An announced caller has come (or will not): mutex held. */
static void
arrive(struct dirsync *ds)
{
	if (ds->expected > 0 && --ds->expected == 0)
		pthread_cond_signal(&ds->arrived);
}

static int
sync_as(struct dirsync *ds, int fd, const struct dirsync_key *key,
    bool announced)
{
	struct dirsync_waiter me = { .key = *key }, **pp;

	pthread_cond_init(&me.cond, NULL);
	pthread_mutex_lock(&ds->mu);
	if (announced)
		arrive(ds);
	/* At the tail: the oldest caller is woken to lead first, so no
	 * folder's callers wait behind a stream of others'. */
	for (pp = &ds->queue; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = &me;
	ds->waiting++;
	while (!me.done) {
		if (!ds->busy)
			lead(ds, fd, key);
		else
			pthread_cond_wait(&me.cond, &ds->mu);
	}
	pthread_mutex_unlock(&ds->mu);
	pthread_cond_destroy(&me.cond);
	if (me.err != 0) {
		errno = me.err;
		return -1;
	}
	return 0;
}

int
dirsync_sync(struct dirsync *ds, int fd, const struct dirsync_key *key)
{
	return sync_as(ds, fd, key, false);
}

int
dirsync_sync_expected(struct dirsync *ds, int fd,
    const struct dirsync_key *key)
{
	return sync_as(ds, fd, key, true);
}

uint64_t
dirsync_mark(struct dirsync *ds)
{
	uint64_t mark;

	pthread_mutex_lock(&ds->mu);
	mark = ds->started;
	pthread_mutex_unlock(&ds->mu);
	return mark;
}

int
dirsync_sync_since(struct dirsync *ds, int fd, const struct dirsync_key *key,
    uint64_t mark)
{
	bool failed, covered;

	pthread_mutex_lock(&ds->mu);
	failed = ds->done_failed > mark;
	covered = ds->done_ok > mark;
	pthread_mutex_unlock(&ds->mu);
	if (failed) {
		errno = EIO;
		return -1;
	}
	return covered ? 0 : dirsync_sync(ds, fd, key);
}

void
dirsync_set_lead_wait(struct dirsync *ds, long lead_wait_ns)
{
	pthread_mutex_lock(&ds->mu);
	ds->lead_wait_ns = lead_wait_ns;
	pthread_mutex_unlock(&ds->mu);
}

void
dirsync_expect(struct dirsync *ds)
{
	pthread_mutex_lock(&ds->mu);
	ds->expected++;
	pthread_mutex_unlock(&ds->mu);
}

void
dirsync_unexpect(struct dirsync *ds)
{
	pthread_mutex_lock(&ds->mu);
	arrive(ds);
	pthread_mutex_unlock(&ds->mu);
}

void
dirsync_stats(struct dirsync *ds, unsigned *waiting, uint64_t *count)
{
	pthread_mutex_lock(&ds->mu);
	*waiting = ds->waiting;
	*count = ds->count;
	pthread_mutex_unlock(&ds->mu);
}
