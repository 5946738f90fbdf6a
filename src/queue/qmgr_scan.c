/*
 * The queue manager's look at queue/ (qmgr_priv.h): listings of the
 * folder, and the retry-time hints on the queue files.
 *
 * A listing (a "scan") is read by an I/O worker QSCAN_SLICE entries at a
 * time, the directory kept open between slices; the loop adds each
 * slice's new ids to the table QSCAN_BATCH a turn (a zero timer between
 * turns), then asks for the next slice.  So neither the loop nor the
 * memory grows with the queue: a queue of 100,000 costs the loop 200
 * short turns and holds at most one slice of names, and a message that
 * arrives meanwhile is notified, loaded and delivered between them.
 *
 * Lazy loading: a queue file is read only when its message is due.  The
 * qmgr sets each waiting message's queue file mtime to its next try (the
 * hint, qmgr_hint(), as Postfix does for its deferred queue), and the
 * start-up scan takes that mtime as the message's due time: a restart
 * with 100,000 deferred messages reads none of them until their time.
 * A freshly queued file's mtime is its arrival, in the past: due at
 * once, oldest first, but after the mail notified since the start (new
 * mail has next try 0).  The hint is never trusted beyond
 * queue.retry_max ahead, and the W records decide when the file is read,
 * so a lost or stale hint only reads a message earlier than needed.
 *
 * Periodic scans (every QMGR_SCAN_INTERVAL s) only catch messages whose
 * notification was lost: they read no mtime (a new id is due at once),
 * and nothing at all when queue/'s own mtime is what it was when the
 * last complete listing began (an idle queue of any size costs one
 * fstat a minute).  A folder changed less than QSCAN_SETTLE seconds
 * before a listing began is listed again next time, in case a coarse
 * file system clock hid a change within the same tick.
 *
 * The spool's cleanup (hourly, the first a minute after the start) is
 * started here too, as a job of its own beside a listing's first slice.
 *
 * Loop thread only, but for qscan_work() (an I/O worker, touching only
 * its qscan until done()).  Trusts nothing in queue/: names that are not
 * queue ids are skipped.
 */
#include "queue/qmgr_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/config.h"
#include "common/log.h"
#include "common/workpool.h"
#include "common/xmalloc.h"
#include "queue/queue_id.h"
#include "queue/spool.h"

/* Entries a worker reads per job (about 40 KiB of names and times). */
#define QSCAN_SLICE		1024
/* Ids added to the table per loop turn. */
#define QSCAN_BATCH		500
/* Seconds queue/'s mtime must be old before a listing is trusted to
 * cover every change up to it (above). */
#define QSCAN_SETTLE		2
#define QMGR_CLEANUP_INTERVAL	3600
/* The first cleanup waits this long after the start: with a big queue
 * the start-up listing has one I/O thread, and the loads of the mail
 * that comes in meanwhile need the other.  Garbage is 2 hours old before
 * it is taken anyway. */
#define QMGR_CLEANUP_FIRST	60

/* A zero timer: the loop serves what else is ready before it fires. */
static const struct timeval next_turn = { 0, 0 };

struct qscan_ent {
	char id[QUEUE_ID_MAX];
	int64_t mtime;		/* with stat; else 0 */
};

struct qscan {
	struct qmgr *q;
	DIR *dir;		/* the worker's, between slices */
	bool flush, stat;
	bool skipped;		/* queue/ unchanged: nothing read */
	bool eof;
	int64_t now;
	int64_t known_sec, known_nsec;	/* q->queue_seen_* at the start */
	int64_t seen_sec, seen_nsec;	/* queue/'s mtime at the start */
	struct qscan_ent ent[QSCAN_SLICE];
	size_t n, next;		/* next: the first not added yet */
	int rc, err_no;
};

/* -- the worker --------------------------------------------------------- */

/* Opens the listing, or finds the folder unchanged since the last. */
static int
qscan_open(struct qscan *sc)
{
	struct stat st;
	int fd = openat(sc->q->queue_fd, ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	sc->seen_sec = st.st_mtim.tv_sec;
	sc->seen_nsec = st.st_mtim.tv_nsec;
	if (!sc->stat && sc->seen_sec == sc->known_sec &&
	    sc->seen_nsec == sc->known_nsec) {
		close(fd);
		sc->skipped = sc->eof = true;
		return 0;
	}
	if ((sc->dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	return 0;
}

/* The next slice of queue ids (with their mtimes on the first scan). */
static int
qscan_read(struct qscan *sc)
{
	struct dirent *de;
	struct stat st;

	sc->n = sc->next = 0;
	while (sc->n < QSCAN_SLICE) {
		errno = 0;
		if ((de = readdir(sc->dir)) == NULL) {
			sc->eof = true;
			return errno != 0 ? -1 : 0;
		}
		if (!queue_id_valid(de->d_name))
			continue;	/* ".", "..", a stray file */
		/* Valid: shorter than QUEUE_ID_MAX. */
		memcpy(sc->ent[sc->n].id, de->d_name, strlen(de->d_name) + 1);
		sc->ent[sc->n].mtime = 0;
		if (sc->stat && fstatat(dirfd(sc->dir), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0)
			sc->ent[sc->n].mtime = st.st_mtim.tv_sec;
		sc->n++;
	}
	return 0;
}

static void
qscan_work(void *p)
{
	struct qscan *sc = p;

	sc->rc = 0;
	if (sc->dir == NULL && !sc->eof)
		sc->rc = qscan_open(sc);
	if (sc->rc == 0 && !sc->eof)
		sc->rc = qscan_read(sc);
	if (sc->rc < 0)
		sc->eof = true;
	sc->err_no = errno;
	if (sc->eof && sc->dir != NULL) {
		closedir(sc->dir);
		sc->dir = NULL;
	}
}

static void
qscan_cleanup_work(void *p)
{
	spool_cleanup(p, SPOOL_GARBAGE_AGE);
}

static void
qscan_cleanup_done(void *p)
{
	(void)p;
}

/* -- the loop ----------------------------------------------------------- */

static void
qscan_free(struct qscan *sc)
{
	if (sc->dir != NULL)
		closedir(sc->dir);
	free(sc);
}

static void qscan_apply(evutil_socket_t fd, short what, void *p);
static void qscan_done(void *p);

void
qmgr_scan_open(struct qmgr *q)
{
	char path[PATH_MAX], safe[LOG_SAFE_SIZE(PATH_MAX)];

	q->queue_fd = -1;
	q->scan_ev = evtimer_new(q->base, qscan_apply, q);
	if (snprintf(path, sizeof(path), "%s/queue", spool_dir(q->sp)) >=
	    (int)sizeof(path))
		return;
	q->queue_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (q->queue_fd < 0)
		log_error("event=scan-error dir=\"%s\" errno=%d",
		    log_safe(path, safe, sizeof(safe)), errno);
}

void
qmgr_scan_close(struct qmgr *q)
{
	if (q->applying != NULL)
		qscan_free(q->applying);
	q->applying = NULL;
	if (q->queue_fd >= 0)
		close(q->queue_fd);
	q->queue_fd = -1;
}

/* The scan is complete: the next one may start. */
static void
qscan_finish(struct qmgr *q, struct qscan *sc)
{
	/* A change in the folder's last ticks may hide from its mtime. */
	if (sc->rc == 0 && !sc->skipped) {
		bool settled = sc->now - sc->seen_sec >= QSCAN_SETTLE;

		q->queue_seen_sec = settled ? sc->seen_sec : 0;
		q->queue_seen_nsec = settled ? sc->seen_nsec : 0;
	}
	qscan_free(sc);
	q->applying = NULL;
	q->scanning = false;
	if (!q->started) {
		q->started = true;
		log_info("event=started queued=%zu", q->msgs.n);
	}
	if (q->rescan) {
		q->rescan = false;
		qmgr_scan_start(q, q->rescan_flush);
	}
}

/* When a message a scan finds is due: new mail (a lost notification)
 * as new mail; at start-up, when its queue file's mtime says, within
 * queue.retry_max (a file without a hint: now, after new mail); after a
 * flush, now. */
static int64_t
qscan_due(const struct qmgr *q, const struct qscan *sc,
    const struct qscan_ent *e)
{
	int64_t latest = sc->now + (int64_t)q->cfg->retry_max;

	if (sc->flush)
		return sc->now;
	if (!sc->stat)
		return sc->now - QTABLE_NEW_LEAD;
	if (e->mtime < sc->now)
		return sc->now;
	return e->mtime < latest ? e->mtime : latest;
}

/*
 * Ids of the slice are added, QSCAN_BATCH a turn, each in O(log n); what
 * is due is started as it comes.  At the slice's end the worker reads
 * the next one.
 */
static void
qscan_apply(evutil_socket_t fd, short what, void *p)
{
	struct qmgr *q = p;
	struct qscan *sc = q->applying;
	size_t end = sc->next + QSCAN_BATCH;
	struct qmsg *m;
	bool added;

	(void)fd;
	(void)what;
	if (q->stopping)
		return;		/* qmgr_main frees it */
	for (; sc->next < sc->n && sc->next < end; sc->next++) {
		m = qtable_add(&q->msgs, sc->ent[sc->next].id, &added);
		if (!added)
			continue;
		m->flush = sc->flush;
		qtable_wait(&q->msgs, m, qscan_due(q, sc, &sc->ent[sc->next]));
	}
	if (sc->next < sc->n)
		evtimer_add(q->scan_ev, &next_turn);
	else if (!sc->eof) {
		q->applying = NULL;	/* the worker's until done() */
		workpool_submit(q->io, qscan_work, qscan_done, sc);
	}
	else
		qscan_finish(q, sc);
	qmgr_schedule(q);
}

static void
qscan_done(void *p)
{
	struct qscan *sc = p;
	struct qmgr *q = sc->q;
	char safe[LOG_SAFE_SIZE(256)];

	if (q->stopping) {
		qscan_free(sc);
		q->applying = NULL;
		q->scanning = false;
		return;
	}
	if (sc->rc < 0)
		log_error("event=scan-error dir=\"%s/queue\" errno=%d",
		    log_safe(spool_dir(q->sp), safe, sizeof(safe)), sc->err_no);
	q->applying = sc;
	qscan_apply(-1, 0, q);
}

void
qmgr_scan_start(struct qmgr *q, bool flush)
{
	struct qscan *sc;
	int64_t now = time(NULL);

	q->last_scan = now;
	if (q->scanning) {
		q->rescan = true;
		q->rescan_flush = q->rescan_flush || flush;
		return;
	}
	q->rescan_flush = false;
	sc = xcalloc(1, sizeof(*sc));
	sc->q = q;
	sc->flush = flush;
	sc->stat = !q->started;
	sc->now = now;
	sc->known_sec = q->queue_seen_sec;
	sc->known_nsec = q->queue_seen_nsec;
	/* A job of its own, beside the listing: it takes as long as data/
	 * is large, and the listing need not wait for it. */
	if (q->last_cleanup == 0)
		q->last_cleanup = now - QMGR_CLEANUP_INTERVAL +
		    QMGR_CLEANUP_FIRST;
	if (now - q->last_cleanup >= QMGR_CLEANUP_INTERVAL) {
		q->last_cleanup = now;
		workpool_submit(q->io, qscan_cleanup_work, qscan_cleanup_done,
		    q->sp);
	}
	q->scanning = true;
	workpool_submit(q->io, qscan_work, qscan_done, sc);
}

/* -- hints ---------------------------------------------------------------- */

struct qhint {
	int dfd;
	char id[QUEUE_ID_MAX];
	int64_t when;
};

static void
qhint_work(void *p)
{
	struct qhint *h = p;
	struct timespec ts[2] = {
		{ .tv_sec = 0, .tv_nsec = UTIME_OMIT },
		{ .tv_sec = (time_t)h->when, .tv_nsec = 0 },
	};

	/* ENOENT: delivered or deleted meanwhile; any other error costs
	 * only an early read after a restart. */
	if (utimensat(h->dfd, h->id, ts, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != ENOENT)
		log_debug("event=spool-error id=%s op=hint errno=%d", h->id,
		    errno);
}

static void
qhint_done(void *p)
{
	free(p);
}

void
qmgr_hint(struct qmgr *q, const char *id, int64_t next_try)
{
	struct qhint *h;

	if (q->queue_fd < 0 || q->stopping)
		return;
	h = xcalloc(1, sizeof(*h));
	h->dfd = q->queue_fd;
	snprintf(h->id, sizeof(h->id), "%s", id);
	h->when = next_try;
	workpool_submit(q->io, qhint_work, qhint_done, h);
}
