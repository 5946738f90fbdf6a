/*
 * The queue manager's side of batched removals (spool.h,
 * spool_remove_deferred): a timer, armed when an attempt leaves removals
 * waiting, hands one flush of them to an I/O thread.  The delay is what
 * gathers a batch; it is also the longest a crash can find a delivered
 * message still queued (then delivered again: docs/queue.md).
 */
#include <event2/event.h>

#include "common/workpool.h"
#include "queue/qmgr_priv.h"
#include "queue/spool.h"

static void
flush_work(void *p)
{
	struct qmgr *q = p;

	(void)spool_removals_flush(q->sp);	/* logs its own failure */
}

static void
flush_done(void *p)
{
	struct qmgr *q = p;

	q->gone_busy = false;
	if (!q->stopping)
		qmgr_removals_poke(q);
}

static void
on_gone_timer(evutil_socket_t fd, short what, void *p)
{
	struct qmgr *q = p;

	(void)fd;
	(void)what;
	q->gone_busy = true;
	workpool_submit(q->io, flush_work, flush_done, q);
}

void
qmgr_removals_open(struct qmgr *q)
{
	q->gone_ev = evtimer_new(q->base, on_gone_timer, q);
}

void
qmgr_removals_poke(struct qmgr *q)
{
	const struct timeval delay = { 0, QMGR_GONE_DELAY_MS * 1000 };

	if (q->gone_busy || evtimer_pending(q->gone_ev, NULL) ||
	    spool_removals_pending(q->sp) == 0)
		return;
	evtimer_add(q->gone_ev, &delay);
}

void
qmgr_removals_close(struct qmgr *q)
{
	event_free(q->gone_ev);
	q->gone_ev = NULL;
	(void)spool_removals_flush(q->sp);
}
