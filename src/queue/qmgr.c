/*
 * The queue manager's loop: which message to try when (see qmgr.h).
 *
 * Started by decorumd's master in its own unprivileged process.  At start
 * an I/O worker removes crash garbage and lists queue/ (recovery); then
 * the loop takes new ids from smtpd's notifications (and from local
 * submission over <spool>/qmgr.sock), has queue/ listed again every
 * QMGR_SCAN_INTERVAL seconds (a lost notification only delays), and
 * starts a message when it is due (qmgr_run.c: load, plan, run).
 * The loop itself never touches a file: listings, cleanups and loads are
 * made by I/O workers (q->io), the message data sent out is read by
 * workers of its own (q->data_io: nothing else queues there, so a slow
 * cleanup cannot hold a connection's next chunk), deliveries and
 * status fsyncs made by delivery workers (q->pool), and only their
 * results are applied here, each in time independent of the queue's size
 * (qmgr_table.c), a scan's listing in batches across loop turns.
 * Per-recipient retry times live in the queue file itself ("W" records),
 * so they survive a restart.
 *
 * Budgets, kept apart so one cannot starve the other: q->pool_max loads
 * and runs in the workpools (the next message starts as one ends), and
 * the network's: QMGR_OUTBOUND_MAX messages with copies out in all, and
 * a share per destination (qmgr_dest.c).  A message's copies for a
 * destination without room are held back, in that destination's line,
 * but its local copies, its other destinations and every other message
 * still go.
 * Trusts: the config; nothing in the spool (ids are checked, a corrupt
 * queue file is moved aside to corrupt/, never deleted).  No error of a
 * single message ends the process; SIGTERM/SIGINT stop taking work, let
 * in-flight deliveries finish and exit 0.
 */
#include "queue/qmgr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/config.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/looplag.h"
#include "common/workpool.h"
#include "common/xmalloc.h"
#include "dns/resolver.h"
#include "queue/notify.h"
#include "queue/outbound.h"
#include "queue/qmgr_priv.h"
#include "queue/spool.h"
#include "route/domains.h"

#define QMGR_SCAN_INTERVAL	60

/* -- the schedule ---------------------------------------------------------- */

static void
qmgr_arm(struct qmgr *q, int64_t now)
{
	int64_t when = q->last_scan + QMGR_SCAN_INTERVAL;
	const struct qmsg *m = qtable_first(&q->msgs);
	struct timeval tv;

	if (m != NULL && m->next_try < when)
		when = m->next_try;
	if (when < now + 1)
		when = now + 1;
	/* Capped by work in progress: its done() reschedules, no need to
	 * spin; held messages wait for a flight to land. */
	tv.tv_sec = (time_t)(when - now);
	tv.tv_usec = 0;
	evtimer_add(q->timer, &tv);
}

/*
 * Starts what is due, as long as the workpools have room: first held
 * messages of the destinations that have room again, one destination
 * after the other (they were due before any in the heap), then the heap
 * in order of due time.  A due message whose copies were kept back last
 * time, with still no room at that destination, is held without a load;
 * a held one whose deadline came (its delay warning, or its lifetime's
 * end) is loaded whatever the room, so that it warns or bounces.  Each
 * message costs O(log n); nothing walks the queue.
 */
void
qmgr_schedule(struct qmgr *q)
{
	int64_t now = time(NULL);
	struct qdest *d;
	struct qmsg *m;

	if (now - q->last_scan >= QMGR_SCAN_INTERVAL)
		qmgr_scan_start(q, false);
	while (q->loading + q->running < q->pool_max && qmgr_out_room(q) &&
	    (d = qdest_next(q)) != NULL) {
		qmgr_load_start(q, d->held.head);
		qdest_tidy(q, d);
	}
	while (q->loading + q->running < q->pool_max &&
	    (m = qtable_first(&q->msgs)) != NULL && m->next_try <= now) {
		if (m->state == QMSG_WAITING && m->dest != NULL &&
		    !qdest_room(q, m->dest))
			qdest_hold(q, m);
		else
			qmgr_load_start(q, m);
	}
	qmgr_arm(q, now);
}

static void
qmgr_on_timer(evutil_socket_t fd, short what, void *p)
{
	(void)fd;
	(void)what;
	qmgr_schedule(p);
}

/* `decorum queue flush`: everything due now, retry times and
 * destination back-offs forgotten once.  A new scan also picks up
 * messages released from hold. */
static void
qmgr_flush(struct qmgr *q)
{
	log_info("event=flush queued=%zu", q->msgs.n);
	qtable_flush(&q->msgs, time(NULL));
	qmgr_scan_start(q, true);
	outbound_flush(q->outbound);
}

static void
qmgr_on_notify(evutil_socket_t fd, short what, void *p)
{
	struct qmgr *q = p;
	char id[QUEUE_ID_MAX];
	unsigned n = 0;

	(void)what;
	/* Bounded, so a flood of datagrams cannot starve the loop. */
	while (n++ < 256 && queue_notify_recv(fd, id, sizeof(id)) == 0) {
		if (strcmp(id, QUEUE_NOTIFY_FLUSH) == 0) {
			qmgr_flush(q);
			continue;
		}
		/* A new message is tried at once (a known one waiting too:
		 * `queue release` says it is back). */
		qtable_wake(&q->msgs, id, time(NULL));
	}
	qmgr_schedule(q);
}

/*
 * The second door for notifications: <spool>/qmgr.sock, for local
 * submission (the sendmail command), which has no socketpair from the
 * master.  Same datagrams as smtpd's.  Optional: when it cannot be made,
 * the periodic scan still finds the mail.  Mode 0600: it sits in the
 * spool, which is 0700 and the daemon account's, so only that account
 * reaches it anyway (root passes any mode, and the spool commands run as
 * root become that account first); the ids are checked like any other.
 * Bound under a temporary name and renamed into place, so the socket
 * never shows with the mode bind() gave it.
 */
static void
qmgr_sock_open(struct qmgr *q)
{
	struct sockaddr_un sun;
	char path[sizeof(sun.sun_path)];
	char safe[LOG_SAFE_SIZE(sizeof(sun.sun_path))];
	int fd;

	q->sock_fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(path, sizeof(path), "%s/%s", q->cfg->spool,
	    QMGR_SOCKET_NAME) >= (int)sizeof(path) ||
	    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s.new", path) >=
	    (int)sizeof(sun.sun_path)) {
		log_warn("event=socket-error reason=\"path too long\"");
		return;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("event=socket-error op=socket errno=%d", errno);
		return;
	}
	/* A stale socket of an earlier run would make bind fail. */
	if (unlink(sun.sun_path) < 0 && errno != ENOENT)
		log_warn("event=socket-error op=unlink errno=%d", errno);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(sun.sun_path, 0600) < 0 || rename(sun.sun_path, path) < 0) {
		log_warn("event=socket-error op=bind path=\"%s\" errno=%d",
		    log_safe(path, safe, sizeof(safe)), errno);
		unlink(sun.sun_path);
		close(fd);
		return;
	}
	q->sock_fd = fd;
	snprintf(q->sock_path, sizeof(q->sock_path), "%s", path);
	q->sock_ev = event_new(q->base, fd, EV_READ | EV_PERSIST,
	    qmgr_on_notify, q);
	event_add(q->sock_ev, NULL);
}

static void
qmgr_sock_close(struct qmgr *q)
{
	if (q->sock_fd < 0)
		return;
	event_free(q->sock_ev);
	close(q->sock_fd);
	unlink(q->sock_path);
	q->sock_fd = -1;
}

static void
qmgr_on_signal(evutil_socket_t sig, short what, void *p)
{
	struct qmgr *q = p;

	(void)what;
	log_info("event=stopping signal=%d running=%u out=%u", (int)sig,
	    q->running, q->out_flight);
	q->stopping = true;
	event_base_loopbreak(q->base);
}

/*
 * After outbound_free: freed bufferevents may still have deferred
 * callbacks queued, each holding a reference (a TLS one just past its
 * handshake, say), and only the loop releases them.  One non-blocking
 * pass does, once nothing of ours can run in it any more: no timer, no
 * notification, no signal (a finished local delivery may still report;
 * with q->stopping it schedules nothing).
 */
static void
qmgr_settle(struct qmgr *q)
{
	evtimer_del(q->timer);
	evtimer_del(q->scan_ev);
	evtimer_del(q->gone_ev);
	if (q->notify_ev != NULL)
		event_del(q->notify_ev);
	if (q->sock_fd >= 0)
		event_del(q->sock_ev);
	event_del(q->sigterm);
	event_del(q->sigint);
	event_base_loop(q->base, EVLOOP_NONBLOCK);
}

/*
 * Upgrade check (docs/configuration.md, International domain names):
 * mail for a domain folder named in its U-label form used to go to
 * <mailboxes>/bücher.example/, and goes to <mailboxes>/xn--bcher-kva.example/
 * now, the canonical form.  While a folder with a non-ASCII name sits
 * directly under mailboxes, one warning at start names the first, where
 * its mail goes now and how many there are; nothing is moved (an IMAP
 * server may be reading it).  Start-up, before the loop: one listing of
 * mailboxes, at most QMGR_MAILBOXES_SCAN_MAX entries.
 */
#define QMGR_MAILBOXES_SCAN_MAX	100000

static bool
qmgr_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static void
qmgr_check_mailbox_names(const struct config *cfg)
{
	char first[NAME_MAX + 1] = "", canon[SMTP_DOMAIN_MAX + 1];
	char sd[LOG_SAFE_SIZE(256)], sf[LOG_SAFE_SIZE(NAME_MAX + 1)];
	char sc[LOG_SAFE_SIZE(SMTP_DOMAIN_MAX + 1)];
	struct dirent *de;
	struct stat st;
	size_t n = 0, seen = 0;
	DIR *dp = opendir(cfg->mailboxes);

	if (dp == NULL)
		return;
	while (seen++ < QMGR_MAILBOXES_SCAN_MAX && (de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.' || qmgr_is_ascii(de->d_name) ||
		    fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (n++ == 0)
			snprintf(first, sizeof(first), "%s", de->d_name);
	}
	closedir(dp);
	if (n == 0)
		return;
	if (domains_canon(first, canon) < 0)
		snprintf(canon, sizeof(canon), "(no valid domain name)");
	log_warn("event=mailbox-folder-unicode dir=\"%s\" folder=\"%s\" "
	    "moved_to=\"%s\" folders=%zu hint=\"mail for such a domain now "
	    "goes to the folder of its A-label form: move the Maildirs there "
	    "(docs/configuration.md, International domain names)\"",
	    log_safe(cfg->mailboxes, sd, sizeof(sd)),
	    log_safe(first, sf, sizeof(sf)), log_safe(canon, sc, sizeof(sc)),
	    n);
}

/* Delivery threads for pool_max loads and runs at once: about half
 * (a load is short, and ends in the I/O pool). */
static unsigned
qmgr_threads(unsigned pool_max)
{
	unsigned n = (pool_max + 1) / 2;

	if (n < QMGR_THREADS_MIN)
		return QMGR_THREADS_MIN;
	return n > QMGR_THREADS_MAX ? QMGR_THREADS_MAX : n;
}

/* The resolver and the outbound scheduler: start-up only. */
static int
qmgr_outbound_open(struct qmgr *q)
{
	char err[512], safe[LOG_SAFE_SIZE(512)];

	q->resolver = resolver_new(q->base, q->cfg->dns_nameserver, err,
	    sizeof(err));
	if (q->resolver == NULL) {
		log_error("event=start-error reason=\"dns: %s\"",
		    log_safe(err, safe, sizeof(safe)));
		return -1;
	}
	q->outbound = outbound_new(q->base, q->cfg, q->resolver, q->data_io,
	    err, sizeof(err));
	if (q->outbound == NULL) {
		log_error("event=start-error reason=\"%s\"",
		    log_safe(err, safe, sizeof(safe)));
		resolver_free(q->resolver);
		return -1;
	}
	return 0;
}

int
qmgr_main(const struct config *cfg, int notify_fd)
{
	struct qmgr q;
	char err[512], safe[LOG_SAFE_SIZE(512)];

	memset(&q, 0, sizeof(q));
	q.cfg = cfg;
	log_set_role("qmgr");
	signal(SIGPIPE, SIG_IGN);
	q.sp = spool_open(cfg->spool, err, sizeof(err));
	if (q.sp == NULL) {
		log_error("event=start-error reason=\"spool: %s\"",
		    log_safe(err, safe, sizeof(safe)));
		return 1;
	}
	q.base = event_base_new();
	if (q.base == NULL)
		fatal("cannot create the event loop");
	q.io = workpool_new(q.base, QMGR_IO_THREADS);
	q.data_io = workpool_new(q.base, QMGR_DATA_THREADS);
	if (qmgr_outbound_open(&q) < 0) {
		workpool_free(q.data_io);
		workpool_free(q.io);
		event_base_free(q.base);
		spool_close(q.sp);
		return 1;
	}
	q.pool_max = cfg->local_concurrency;
	q.pool = workpool_new(q.base, qmgr_threads(q.pool_max));
	qtable_init(&q.msgs);
	qdests_init(&q.dests, cfg->out_dest_concurrency);
	qmgr_check_mailbox_names(cfg);
	/* Read now; re-read off the loop, in the pool, as files change. */
	q.domains = domains_open_live(cfg->domains, q.base, q.pool);
	q.timer = evtimer_new(q.base, qmgr_on_timer, &q);
	qmgr_scan_open(&q);
	qmgr_removals_open(&q);
	q.sigterm = evsignal_new(q.base, SIGTERM, qmgr_on_signal, &q);
	q.sigint = evsignal_new(q.base, SIGINT, qmgr_on_signal, &q);
	evsignal_add(q.sigterm, NULL);
	evsignal_add(q.sigint, NULL);
	if (notify_fd >= 0) {
		q.notify_ev = event_new(q.base, notify_fd, EV_READ | EV_PERSIST,
		    qmgr_on_notify, &q);
		event_add(q.notify_ev, NULL);
	}
	qmgr_sock_open(&q);
	/* log_level = "debug": how long any callback holds this loop. */
	if (cfg->debug)
		q.lag = looplag_new(q.base, "qmgr");

	/* Recovery: every committed message is ours again (the first scan
	 * logs event=started; the cleanup follows a minute later); retry
	 * times come from each message's status records. */
	q.last_cleanup = 0;
	qmgr_scan_start(&q, false);
	qmgr_schedule(&q);
	evloop_run(q.base);

	/* Stop taking work; local deliveries in flight finish and are
	 * recorded.  Outbound transactions are cut: their recipients stay
	 * pending in the spool and are tried again after the restart.
	 * Reads still in the I/O pools (loads, scans; data for connections
	 * just closed) free what they carry in their done(). */
	q.stopping = true;
	looplag_free(q.lag);
	q.lag = NULL;
	outbound_free(q.outbound);
	qmgr_settle(&q);
	qmgr_flights_free(&q);
	resolver_free(q.resolver);
	workpool_free(q.pool);
	workpool_free(q.data_io);
	workpool_free(q.io);
	qmgr_removals_close(&q);
	log_info("event=stopped queued=%zu", q.msgs.n);
	if (q.notify_ev != NULL)
		event_free(q.notify_ev);
	qmgr_sock_close(&q);
	event_free(q.sigint);
	event_free(q.sigterm);
	event_free(q.timer);
	event_free(q.scan_ev);
	qmgr_scan_close(&q);
	domains_free(q.domains);
	event_base_free(q.base);
	qtable_free(&q.msgs);
	qdests_free(&q.dests);
	spool_close(q.sp);
	return 0;
}
