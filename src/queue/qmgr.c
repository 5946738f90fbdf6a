/*
 * The queue manager's loop: which message to try when (see qmgr.h).
 *
 * Started by decorumd's master in its own unprivileged process.  At start
 * it removes crash garbage and scans queue/ (recovery); then it takes new
 * ids from smtpd's notifications (and from local submission over
 * <spool>/qmgr.sock), rescans every QMGR_SCAN_INTERVAL seconds
 * (a lost notification only delays), and runs a message when it is due.
 * A run is planned here, in the loop, because the routing tables belong to
 * this thread, and carried out in a workpool thread (attempt.c), because
 * deliveries and status fsyncs block; its SMTP, relay and LMTP copies go
 * to the network first (qmgr_outbound.c).  At most 2 x QMGR_THREADS messages
 * are in flight; per-recipient retry times live in the queue file itself
 * ("W" records), so they survive a restart.
 * Trusts: the config; nothing in the spool (ids are checked, a corrupt
 * queue file is moved aside to corrupt/, never deleted).  No error of a
 * single message ends the process; SIGTERM/SIGINT stop taking work, let
 * in-flight deliveries finish and exit 0.
 * Limits: messages are kept in an array searched linearly, fine for the
 * thousands a single host queues; a heap is the next step if it is not.
 */
#include "queue/qmgr.h"

#include <errno.h>
#include <inttypes.h>
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
#include "common/log.h"
#include "common/looplag.h"
#include "common/workpool.h"
#include "common/xmalloc.h"
#include "deliver/maildir.h"
#include "dns/resolver.h"
#include "queue/attempt.h"
#include "queue/envelope.h"
#include "queue/notify.h"
#include "queue/outbound.h"
#include "queue/qmgr_priv.h"
#include "queue/queue_id.h"
#include "queue/spool.h"
#include "route/domains.h"
#include "route/route.h"
#include "route/transport.h"

#define QMGR_THREADS		4
#define QMGR_IN_FLIGHT_MAX	(2 * QMGR_THREADS)
/* Messages waiting for the network (outbound jobs) at once. */
#define QMGR_OUTBOUND_MAX	1000
#define QMGR_SCAN_INTERVAL	60
#define QMGR_CLEANUP_INTERVAL	3600

struct qmsg {
	char id[QUEUE_ID_MAX];
	int64_t next_try;	/* 0: as soon as possible */
	bool in_flight;
	bool flush;		/* `queue flush`: ignore retry times once */
};

static void qmgr_schedule(struct qmgr *q);

static struct qmsg *
qmgr_find(struct qmgr *q, const char *id)
{
	size_t i;

	for (i = 0; i < q->n_msgs; i++)
		if (strcmp(q->msgs[i].id, id) == 0)
			return &q->msgs[i];
	return NULL;
}

static struct qmsg *
qmgr_add(struct qmgr *q, const char *id)
{
	struct qmsg *m = qmgr_find(q, id);

	if (m != NULL)
		return m;
	q->msgs = xreallocarray(q->msgs, q->n_msgs + 1, sizeof(*q->msgs));
	m = &q->msgs[q->n_msgs++];
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	return m;
}

static void
qmgr_drop(struct qmgr *q, struct qmsg *m)
{
	size_t i = (size_t)(m - q->msgs);

	q->msgs[i] = q->msgs[--q->n_msgs];
}

static void
qmgr_scan(struct qmgr *q)
{
	char **ids;
	size_t n, i;
	int64_t now = time(NULL);
	char safe[LOG_SAFE_SIZE(256)];

	q->last_scan = now;
	if (now - q->last_cleanup >= QMGR_CLEANUP_INTERVAL) {
		q->last_cleanup = now;
		spool_cleanup(q->sp, SPOOL_GARBAGE_AGE);
	}
	if (spool_list(q->sp, "queue", &ids, &n) < 0) {
		log_error("event=scan-error dir=\"%s/queue\" errno=%d",
		    log_safe(spool_dir(q->sp), safe, sizeof(safe)), errno);
		return;
	}
	for (i = 0; i < n; i++)
		qmgr_add(q, ids[i]);
	spool_list_free(ids, n);
}

/* The mailboxes (local) or addresses (remote) routing gave, each with
 * the transport that carries it. */
static void
qmgr_add_dests(struct qmgr *q, const struct queue_file *qf,
    struct attempt_rcpt *r, const struct route_result *rr)
{
	const struct transport_conf *t;
	struct attempt_dest *d;
	char mailbox[SMTP_ADDRESS_MAX + 2];

	for (size_t i = 0; i < rr->n_dests; i++) {
		snprintf(mailbox, sizeof(mailbox), "%s@%s", rr->dests[i].local,
		    rr->dests[i].domain);
		/* Delivered before a crash or an earlier try: the mailbox
		 * (or remote server) has its copy already. */
		if (queue_file_is_delivered(qf, mailbox))
			continue;
		t = transport_lookup(q->cfg, rr->dests[i].local,
		    rr->dests[i].domain, rr->dests[i].kind == ROUTE_LOCAL);
		d = attempt_add_dest(r, rr->dests[i].local, rr->dests[i].domain);
		if (t->kind != TRANSPORT_MAILDIR)
			d->t = t;
	}
}

/* Routing of one due recipient into the plan (loop thread only). */
static void
qmgr_route(struct qmgr *q, const struct queue_file *qf, struct attempt *a,
    size_t n)
{
	struct attempt_rcpt *r;
	struct route_result rr;

	r = attempt_add_rcpt(a, n, qf->env.rcpts[n].addr, qf->st[n].attempts);
	memset(&rr, 0, sizeof(rr));
	route_resolve(q->cfg, q->domains, qf->env.rcpts[n].addr, &rr);
	switch (rr.kind) {
	case ROUTE_LOCAL:
	case ROUTE_REMOTE:
		qmgr_add_dests(q, qf, r, &rr);
		break;
	case ROUTE_UNKNOWN:
		r->route = DELIVER_PERMFAIL;
		snprintf(r->code, sizeof(r->code), "5.1.1");
		if (snprintf(r->text, sizeof(r->text), "no such user: %s",
		    rr.reason) >= (int)sizeof(r->text))
			log_debug("event=truncated what=route-reason");
		break;
	case ROUTE_TEMPFAIL:
		r->route = DELIVER_TEMPFAIL;
		snprintf(r->code, sizeof(r->code), "4.3.0");
		if (snprintf(r->text, sizeof(r->text), "routing: %s",
		    rr.reason) >= (int)sizeof(r->text))
			log_debug("event=truncated what=route-reason");
		break;
	case ROUTE_UNSUPPORTED:
	default:
		/* Forwarding to foreign domains needs SRS (a later issue):
		 * such mail waits, and expires after queue.lifetime. */
		r->route = DELIVER_TEMPFAIL;
		snprintf(r->code, sizeof(r->code), "4.4.0");
		if (snprintf(r->text, sizeof(r->text), "cannot deliver yet: "
		    "%s", rr.reason) >= (int)sizeof(r->text))
			log_debug("event=truncated what=route-reason");
		break;
	}
	route_result_free(&rr);
}

static void
qmgr_attempt_done(void *p)
{
	struct attempt *a = p;
	struct qmgr *q = a->owner;
	int64_t now = time(NULL);
	struct qmsg *m;

	q->in_flight--;
	m = qmgr_find(q, a->id);
	if (m != NULL) {
		m->in_flight = false;
		switch (a->outcome) {
		case ATTEMPT_PENDING:
			m->next_try = a->next_try > 0 ? a->next_try
			    : now + (int64_t)q->cfg->retry_min;
			break;
		case ATTEMPT_ERROR:
			m->next_try = now + (int64_t)q->cfg->retry_min;
			break;
		default:
			qmgr_drop(q, m);
			break;
		}
	}
	/* A report just queued is a new message: try it at once. */
	if (a->bounce_id[0] != '\0')
		qmgr_add(q, a->bounce_id)->next_try = 0;
	if (a->warning_id[0] != '\0')
		qmgr_add(q, a->warning_id)->next_try = 0;
	attempt_free(a);
	if (!q->stopping)
		qmgr_schedule(q);
}

static struct attempt *
qmgr_attempt_new(struct qmgr *q, const char *id)
{
	struct attempt *a = attempt_new(id, q->sp);

	a->owner = q;
	a->agent = &maildir_agent;
	a->hostname = q->cfg->hostname;
	a->mailboxes = q->cfg->mailboxes;
	a->retry_min = q->cfg->retry_min;
	a->retry_max = q->cfg->retry_max;
	a->lifetime = q->cfg->queue_lifetime;
	a->delay_warning = q->cfg->delay_warning;
	a->postmaster = q->cfg->postmaster;
	a->bounces = true;
	return a;
}

/* The worker part: local copies, status records, finishing. */
void
qmgr_run(struct qmgr *q, struct attempt *a)
{
	q->in_flight++;
	workpool_submit(q->pool, attempt_run, qmgr_attempt_done, a);
}


/*
 * Loads a due message and plans its attempt.  Returns false when the
 * message was dropped from the array (gone), true otherwise.
 */
static bool
qmgr_start(struct qmgr *q, struct qmsg *m, int64_t now)
{
	struct queue_file qf;
	struct attempt *a;
	char err[256], safe[512];
	int64_t next = 0;
	bool flush = m->flush;
	size_t i;
	int rc;

	m->flush = false;
	rc = spool_load(q->sp, "queue", m->id, &qf, err, sizeof(err));
	if (rc == -1 && errno == ENOENT) {
		qmgr_drop(q, m);	/* delivered or deleted */
		return false;
	}
	if (rc == -1) {
		log_warn("event=spool-error id=%s op=load reason=\"%s\"", m->id,
		    log_safe(err, safe, sizeof(safe)));
		m->next_try = now + (int64_t)q->cfg->retry_min;
		return true;
	}
	a = qmgr_attempt_new(q, m->id);
	m->in_flight = true;
	if (rc == -2) {
		log_error("event=corrupt id=%s reason=\"%s\" "
		    "action=moved-to-corrupt", m->id,
		    log_safe(err, safe, sizeof(safe)));
		a->corrupt = true;
		qmgr_run(q, a);
		return true;
	}
	free(a->sender);
	a->sender = xstrdup(qf.env.sender);
	a->created = qf.env.created;
	a->smtputf8 = qf.env.smtputf8;
	a->eightbit = qf.env.eight_bit;
	for (i = 0; i < qf.env.n_rcpts; i++) {
		if (qf.st[i].state != RCPT_PENDING)
			continue;
		if (qf.st[i].next_try > now && !flush) {
			if (next == 0 || qf.st[i].next_try < next)
				next = qf.st[i].next_try;
			continue;
		}
		qmgr_route(q, &qf, a, i);
	}
	queue_file_free(&qf);
	if (a->n_rcpts == 0 && next > 0) {
		/* Nothing due yet (e.g. after a restart): wait. */
		attempt_free(a);
		m->in_flight = false;
		m->next_try = next;
		return true;
	}
	/* With no recipient left this only finishes the message (a crash
	 * came between the last status record and the removal). */
	if (!qmgr_outbound(q, a, spool_data_size(q->sp, m->id)))
		qmgr_run(q, a);
	return true;
}

static void
qmgr_arm(struct qmgr *q, int64_t now)
{
	int64_t when = q->last_scan + QMGR_SCAN_INTERVAL;
	struct timeval tv;
	size_t i;

	for (i = 0; i < q->n_msgs; i++)
		if (!q->msgs[i].in_flight && q->msgs[i].next_try < when)
			when = q->msgs[i].next_try;
	if (when < now + 1)
		when = now + 1;
	/* Capped by in-flight work: done() reschedules, no need to spin. */
	tv.tv_sec = (time_t)(when - now);
	tv.tv_usec = 0;
	evtimer_add(q->timer, &tv);
}

static void
qmgr_schedule(struct qmgr *q)
{
	int64_t now = time(NULL);
	size_t i;

	if (now - q->last_scan >= QMGR_SCAN_INTERVAL)
		qmgr_scan(q);
	for (i = 0; i < q->n_msgs && q->in_flight < QMGR_IN_FLIGHT_MAX &&
	    q->out_flight < QMGR_OUTBOUND_MAX; ) {
		struct qmsg *m = &q->msgs[i];

		if (m->in_flight || m->next_try > now || qmgr_start(q, m, now))
			i++;
		/* else: m was dropped and slot i holds another message */
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
 * destination back-offs forgotten once.  The new scan also picks up
 * messages released from hold. */
static void
qmgr_flush(struct qmgr *q)
{
	log_info("event=flush queued=%zu", q->n_msgs);
	q->last_scan = 0;
	qmgr_scan(q);
	for (size_t i = 0; i < q->n_msgs; i++) {
		if (q->msgs[i].in_flight)
			continue;
		q->msgs[i].next_try = 0;
		q->msgs[i].flush = true;
	}
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
		struct qmsg *m;

		if (strcmp(id, QUEUE_NOTIFY_FLUSH) == 0) {
			qmgr_flush(q);
			continue;
		}
		m = qmgr_add(q, id);
		if (!m->in_flight)
			m->next_try = 0;	/* a new message is tried at once */
	}
	qmgr_schedule(q);
}

/*
 * The second door for notifications: <spool>/qmgr.sock, for local
 * submission (the sendmail command), which has no socketpair from the
 * master.  Same datagrams as smtpd's.  Optional: when it cannot be made,
 * the periodic scan still finds the mail.  Mode 0660: the spool's group
 * may notify; the ids are checked like any other.
 */
static void
qmgr_sock_open(struct qmgr *q)
{
	struct sockaddr_un sun;
	char safe[LOG_SAFE_SIZE(sizeof(sun.sun_path))];
	int fd;

	q->sock_fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
	    q->cfg->spool, QMGR_SOCKET_NAME) >= (int)sizeof(sun.sun_path)) {
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
	    chmod(sun.sun_path, 0660) < 0) {
		log_warn("event=socket-error op=bind path=\"%s\" errno=%d",
		    log_safe(sun.sun_path, safe, sizeof(safe)), errno);
		close(fd);
		return;
	}
	q->sock_fd = fd;
	snprintf(q->sock_path, sizeof(q->sock_path), "%s", sun.sun_path);
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
	log_info("event=stopping signal=%d in_flight=%u", (int)sig, q->in_flight);
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
	if (q->notify_ev != NULL)
		event_del(q->notify_ev);
	if (q->sock_fd >= 0)
		event_del(q->sock_ev);
	event_del(q->sigterm);
	event_del(q->sigint);
	event_base_loop(q->base, EVLOOP_NONBLOCK);
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
	q->outbound = outbound_new(q->base, q->cfg, q->resolver, err,
	    sizeof(err));
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
	if (qmgr_outbound_open(&q) < 0) {
		event_base_free(q.base);
		spool_close(q.sp);
		return 1;
	}
	q.pool = workpool_new(q.base, QMGR_THREADS);
	/* Read now; re-read off the loop, in the pool, as files change. */
	q.domains = domains_open_live(cfg->domains, q.base, q.pool);
	q.timer = evtimer_new(q.base, qmgr_on_timer, &q);
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

	/* Recovery: every committed message is ours again; retry times
	 * come from its status records. */
	q.last_cleanup = time(NULL);
	spool_cleanup(q.sp, SPOOL_GARBAGE_AGE);
	qmgr_scan(&q);
	log_info("event=started queued=%zu", q.n_msgs);
	qmgr_schedule(&q);
	event_base_dispatch(q.base);

	/* Stop taking work; local deliveries in flight finish and are
	 * recorded.  Outbound transactions are cut: their recipients stay
	 * pending in the spool and are tried again after the restart. */
	q.stopping = true;
	looplag_free(q.lag);
	q.lag = NULL;
	outbound_free(q.outbound);
	qmgr_settle(&q);
	qmgr_flights_free(&q);
	resolver_free(q.resolver);
	workpool_free(q.pool);
	log_info("event=stopped queued=%zu", q.n_msgs);
	if (q.notify_ev != NULL)
		event_free(q.notify_ev);
	qmgr_sock_close(&q);
	event_free(q.sigint);
	event_free(q.sigterm);
	event_free(q.timer);
	domains_free(q.domains);
	event_base_free(q.base);
	free(q.msgs);
	spool_close(q.sp);
	return 0;
}
