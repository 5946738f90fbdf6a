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

	ds->fsync_fn = fsync_fn != NULL ? fsync_fn : plain_fsync;
	ds->arg = arg;
	pthread_mutex_init(&ds->mu, NULL);
	return ds;
}

void
dirsync_free(struct dirsync *ds)
{
	if (ds == NULL)
		return;
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

/* One round as leader: the mutex is held on entry and on return. */
static void
lead(struct dirsync *ds, int fd, const struct dirsync_key *key)
{
	struct dirsync_waiter *batch, *w, *next;
	int err;

	batch = take_batch(ds, key);
	ds->busy = true;
	pthread_mutex_unlock(&ds->mu);
	err = ds->fsync_fn(fd, ds->arg) == 0 ? 0 : (errno != 0 ? errno : EIO);
	pthread_mutex_lock(&ds->mu);
	ds->count++;
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

int
dirsync_sync(struct dirsync *ds, int fd, const struct dirsync_key *key)
{
	struct dirsync_waiter me = { .key = *key }, **pp;

	pthread_cond_init(&me.cond, NULL);
	pthread_mutex_lock(&ds->mu);
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

void
dirsync_stats(struct dirsync *ds, unsigned *waiting, uint64_t *count)
{
	pthread_mutex_lock(&ds->mu);
	*waiting = ds->waiting;
	*count = ds->count;
	pthread_mutex_unlock(&ds->mu);
}
