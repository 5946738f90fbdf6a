/*
 * The daemons' domain tables, kept fresh without the event loop ever
 * touching the disk (issue 8, item 7): see domains_open_live() in
 * domains.h.
 *
 * Called by smtpd and the qmgr, each with its own event loop and worker
 * pool.  At start-up, domains_open_live() reads every domain folder in the
 * caller's thread (blocking is allowed then) and, when a file was written
 * within the last DOMAINS_STILL_MS, waits once until it may be read.
 * From then on a timer on the loop starts one refresh job every
 * DOMAINS_REFRESH_MS; the job runs domains_snap_refresh() in a worker
 * thread (stat of every folder and file, reads and parses of what
 * changed), and its done() swaps the new snapshot in on the loop and
 * drops the old one there; the tables only it held are handed to the next
 * job, which frees them in its thread (freeing a 100,000-entry table is
 * work too).  Lookups run on the loop only, so nothing they returned can
 * be freed under them within a callback.
 * Freshness: a change is seen within DOMAINS_REFRESH_MS plus the job's
 * time; a file modified in place within DOMAINS_STILL_MS of a refresh is
 * taken by the first refresh after that (the timer is brought forward to
 * then).  A new domain folder is local within the same bounds.
 *
 * Invariants: at most one job in flight (the timer is armed again only by
 * done()); the job holds a reference to the snapshot it compares with,
 * which is d->snap throughout, so the only snapshot the loop may drop
 * meanwhile (in domains_free) survives the job; reference counts of
 * domains and tables change in the job or on the loop, never at the same
 * time; a table on the garbage list is reachable from no snapshot.  A job
 * whose owner was freed cleans up after itself in done().
 */
#include "route/domains_priv.h"

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "common/workpool.h"
#include "common/xmalloc.h"

#define DOMAINS_REFRESH_MS	1000
#define SETTLE_SLACK_MS		20

struct domains_job {
	struct domains *owner;		/* NULL once the owner is gone */
	char *dir;
	struct domains_snap *base;	/* a reference: alive while read */
	struct domains_snap *result;	/* NULL: nothing changed */
	struct domains_table *garbage;	/* unreachable tables to free */
	struct timespec settle_at;	/* {0, 0}: nothing waits */
	long long took_ms;
};

static long long
ms_of(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

bool
domains_refresh_now(struct domains *d, const struct timespec *now,
    struct timespec *settle_at)
{
	struct domains_snap *s;

	if (d->job != NULL)
		panic("domains_refresh_now with a refresh job in flight");
	s = domains_snap_refresh(d->dir, d->snap, now, settle_at);
	if (s == NULL)
		return false;
	domains_snap_unref(d->snap);
	d->snap = s;
	return true;
}

/* The next refresh: in DOMAINS_REFRESH_MS, or sooner when a file
 * becomes readable sooner. */
static void
live_arm(struct domains *d, const struct timespec *settle_at)
{
	long long delay = DOMAINS_REFRESH_MS;
	struct timeval tv;
	struct timespec now;

	if (settle_at->tv_sec != 0) {
		clock_gettime(CLOCK_REALTIME, &now);
		delay = ms_of(settle_at) - ms_of(&now) + SETTLE_SLACK_MS;
		if (delay > DOMAINS_REFRESH_MS)
			delay = DOMAINS_REFRESH_MS;
		if (delay < SETTLE_SLACK_MS)
			delay = SETTLE_SLACK_MS;
	}
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(d->timer, &tv);
}

/* Worker thread: no libevent, nothing of the loop's but the job. */
static void
live_work(void *arg)
{
	struct domains_job *j = arg;
	struct timespec now, t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The tables the loop let go of: nothing can reach them now. */
	domains_garbage_free(j->garbage);
	j->garbage = NULL;
	clock_gettime(CLOCK_REALTIME, &now);
	j->result = domains_snap_refresh(j->dir, j->base, &now, &j->settle_at);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	j->took_ms = ms_of(&t1) - ms_of(&t0);
}

/* The owner is gone (shutdown): everything goes now. */
static void
job_free(struct domains_job *j)
{
	domains_snap_unref(j->result);
	domains_snap_unref(j->base);
	domains_garbage_free(j->garbage);
	free(j->dir);
	free(j);
}

/* The loop: swap the new snapshot in; the old one goes now, when no
 * lookup can hold anything of it.  Its tables that nothing shares wait
 * for the next job to free them: a large one has many entries. */
static void
live_done(void *arg)
{
	struct domains_job *j = arg;
	struct domains *d = j->owner;
	struct domains_snap *old;

	if (d == NULL) {
		job_free(j);
		return;
	}
	d->job = NULL;
	if (j->result != NULL) {
		old = d->snap;
		d->snap = j->result;
		domains_snap_release(old, &d->garbage);
		log_debug("event=domains-refresh domains=%zu took_ms=%lld",
		    d->snap->n, j->took_ms);
	}
	domains_snap_release(j->base, &d->garbage);
	live_arm(d, &j->settle_at);
	free(j->dir);
	free(j);
}

static void
live_tick(evutil_socket_t fd, short what, void *arg)
{
	struct domains *d = arg;
	struct domains_job *j;

	(void)fd;
	(void)what;
	if (d->job != NULL)
		return;		/* cannot happen: done() arms the timer */
	j = xcalloc(1, sizeof(*j));
	j->owner = d;
	j->dir = xstrdup(d->dir);
	j->base = d->snap;
	d->snap->refs++;
	j->garbage = d->garbage;
	d->garbage = NULL;
	d->job = j;
	workpool_submit(d->pool, live_work, live_done, j);
}

struct domains *
domains_open_live(const char *dir, struct event_base *base,
    struct workpool *pool)
{
	struct domains *d = domains_open(dir);
	struct timespec now, settle = { 0, 0 };

	d->live = true;
	clock_gettime(CLOCK_REALTIME, &now);
	domains_refresh_now(d, &now, &settle);
	if (settle.tv_sec != 0) {
		/* A file was just written (the operator edited it as we
		 * started): better wait a second than answer 451. */
		domains_wait_until(&settle);
		settle.tv_sec = settle.tv_nsec = 0;
		clock_gettime(CLOCK_REALTIME, &now);
		domains_refresh_now(d, &now, &settle);
	}
	log_info("event=domains-loaded domains=%zu", d->snap->n);
	if (base != NULL && pool != NULL) {
		d->base = base;
		d->pool = pool;
		d->timer = evtimer_new(base, live_tick, d);
		if (d->timer == NULL)
			fatal("cannot create the domain tables' timer");
		live_arm(d, &settle);
	}
	return d;
}

void
domains_live_stop(struct domains *d)
{
	if (d->job != NULL) {
		d->job->owner = NULL;	/* done() frees it */
		d->job = NULL;
	}
	if (d->timer != NULL) {
		event_free(d->timer);
		d->timer = NULL;
	}
	domains_garbage_free(d->garbage);
	d->garbage = NULL;
}
