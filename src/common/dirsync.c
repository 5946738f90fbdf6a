/*
 * Group commit of directory entries (dirsync.h).
 *
 * Called by the spool's commit (smtpd's workpool threads), the queue
 * manager's delivery threads (Maildir new/ folders, status records that
 * remove a message) and by nothing on an event loop.
 *
 * Each caller puts a waiter on its own stack into the queue and sleeps
 * on a semaphore of its own until it is posted, once, with its part:
 * done (with the fsync's result) or lead.  A leader is a caller that
 * found no fsync running: it takes every queued waiter of its key out of
 * the queue (those all made their change before they queued, so before
 * the fsync starts), fsyncs, and hands each the result.  Waiters queued
 * while it ran stay queued: the fsync in flight may have started before
 * their change.  When it finishes, the oldest of them is told to lead
 * the next round, and busy stays set for it, so no newcomer can take it
 * into a batch of its own before it wakes.
 *
 * A waiter told it is done returns without the mutex, and every post is
 * made after the leader let the mutex go: a woken waiter never sleeps
 * again on a lock its waker still holds (issue 12: with a condition
 * variable signalled under the mutex, each commit cost four futex calls
 * here, and a context switch for each).  That is safe because a waiter
 * gets exactly one post and leaves only after it: until then its stack,
 * which the leader still touches, stays.
 *
 * Only one fsync runs per struct dirsync at a time; for folders of
 * different keys that costs a little parallelism, never correctness.
 * Trusts: its callers' keys (fstat of the fd they pass).
 */
#include "common/dirsync.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xmalloc.h"

enum waiter_part { WAITING, DONE, LEAD };

struct dirsync_waiter {
	struct dirsync_waiter *next;
	struct dirsync_key key;
	sem_t wake;		/* posted once: part is DONE or LEAD */
	enum waiter_part part;
	int err;
};

struct dirsync {
	int (*fsync_fn)(int, void *);
	void *arg;
	pthread_mutex_t mu;
	bool busy;			/* a leader is at work or told to be */
	struct dirsync_waiter *queue;	/* waiting for a round to start */
	unsigned waiting;
	uint64_t count;
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

/* Sleeps until w is posted (its part set). */
static void
await_post(struct dirsync_waiter *w)
{
	while (sem_wait(&w->wake) != 0 && errno == EINTR)
		;
}

/* The end of w's wait: 0, or -1 with the errno of the fsync that
 * covered it. */
static int
waiter_result(struct dirsync_waiter *w)
{
	sem_destroy(&w->wake);
	if (w->err != 0) {
		errno = w->err;
		return -1;
	}
	return 0;
}

/* Posts each waiter of batch but self (done, with err), then next (to
 * lead), after the mutex is let go.  Each stays until its post, so
 * next pointers are read first and nothing is touched after. */
static void
release(struct dirsync_waiter *batch, const struct dirsync_waiter *self,
    struct dirsync_waiter *next_leader)
{
	struct dirsync_waiter *w, *next;

	for (w = batch; w != NULL; w = next) {
		next = w->next;
		if (w != self)
			sem_post(&w->wake);
	}
	if (next_leader != NULL)
		sem_post(&next_leader->wake);
}

/* One round as leader, whose waiter self is still queued: the mutex is
 * held and busy set on entry; both are let go on return. */
static void
lead(struct dirsync *ds, int fd, struct dirsync_waiter *self)
{
	struct dirsync_waiter *batch, *w, *next_leader;
	int err;

	await_expected(ds);
	batch = take_batch(ds, &self->key);
	pthread_mutex_unlock(&ds->mu);
	err = ds->fsync_fn(fd, ds->arg) == 0 ? 0 : (errno != 0 ? errno : EIO);
	pthread_mutex_lock(&ds->mu);
	ds->count++;
	for (w = batch; w != NULL; w = w->next) {
		w->err = err;
		w->part = DONE;
	}
	/* The oldest queued caller leads the next round; busy stays set
	 * for it, so it is in no other batch when it wakes. */
	next_leader = ds->queue;
	if (next_leader != NULL)
		next_leader->part = LEAD;
	else
		ds->busy = false;
	pthread_mutex_unlock(&ds->mu);
	release(batch, self, next_leader);
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
	struct dirsync_waiter me = { .key = *key, .part = WAITING }, **pp;

	sem_init(&me.wake, 0, 0);
	pthread_mutex_lock(&ds->mu);
	if (announced)
		arrive(ds);
	/* At the tail: the oldest caller is woken to lead first, so no
	 * folder's callers wait behind a stream of others'. */
	for (pp = &ds->queue; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = &me;
	ds->waiting++;
	if (!ds->busy) {
		ds->busy = true;
		lead(ds, fd, &me);
	} else {
		pthread_mutex_unlock(&ds->mu);
		await_post(&me);
		if (me.part == LEAD) {
			pthread_mutex_lock(&ds->mu);
			lead(ds, fd, &me);
		}
	}
	return waiter_result(&me);
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
