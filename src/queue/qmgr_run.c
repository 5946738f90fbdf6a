/*
 * One message's way through the queue manager (qmgr_priv.h names the
 * files): loaded from the spool in an I/O worker, planned on the loop
 * (routing: the tables are the loop's), then carried out as two budgets
 * that never wait for each other: its local copies and status records
 * in the delivery workpool (attempt.c), its network copies in the
 * outbound scheduler (qmgr_outbound.c).  Whichever ends last goes on:
 * when both are in, a last run of the attempt records the network
 * results and finishes the message.
 *
 * When a destination has its share of the network budget out, or all
 * destinations together QMGR_OUTBOUND_MAX messages (qmgr_dest.c), a
 * message's copies for it are kept back (the message is "held"): its
 * local copies and its copies for other destinations still go, the
 * recipients waiting for room stay pending without a record, and the
 * message waits, due, in that destination's line (no memory but its id)
 * until room frees there.  So a remote backlog never stops local
 * delivery, bounces or mail for other destinations, and what waits is
 * bounded.  A held message still runs at its deadline: its delay warning
 * goes out, and at the end of queue.lifetime its held copies fail and it
 * bounces (the plan marks them, qmgr_outbound()).
 *
 * Loops (RFC 5321 6.3): the load also counts the Received: fields of the
 * message's header section; a message with more than max_hops + 1 (the
 * spool's copy has ours on top) fails its due recipients with 5.4.6 and
 * bounces once, by the rules of every bounce (never to <>; the report
 * carries none of those fields in its own header, so it cannot loop).
 * smtpd and sendmail refuse such mail before it is queued: this catches
 * what reached the spool some other way, or a max_hops lowered since.
 *
 * Forwarding loops (issue 10 item 5): the same load collects the
 * Delivered-To: values; a recipient whose mailbox, or whose own address
 * when it forwards, is named there fails with 5.4.6 "mail forwarding
 * loop" (one bounce, as above).  Forward destinations are planned as
 * such: the worker queues them as one forwarded copy (forward_copy.h)
 * from the sender chosen here (route_forward_sender), once per run.
 *
 * Trusts: nothing in the spool (a corrupt queue file is moved aside);
 * the worker objects are touched by the loop only after their done().
 */
#include "queue/qmgr_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/workpool.h"
#include "common/xmalloc.h"
#include "deliver/maildir.h"
#include "queue/attempt.h"
#include "queue/envelope.h"
#include "queue/spool.h"
#include "route/domains.h"
#include "route/forward.h"
#include "route/route.h"
#include "route/transport.h"
#include "smtp/delivered_to.h"
#include "smtp/hops.h"

/* The most of a message's data read to count its hops: a header section
 * longer than this is counted this far (RFC 5322 sets no limit). */
#define HOPS_SCAN_MAX	(1024 * 1024)

/* A load in an I/O worker: the queue file, the data's size, and the
 * data itself, open, for the attempt's first run. */
struct qload {
	struct qmgr *q;
	struct qmsg *m;
	char id[QUEUE_ID_MAX];
	bool remote;			/* counted in q->out_loading */
	struct qdest *dest;		/* expected to go out there (counted,
					 * a reference), or NULL */
	int rc, err_no;
	char err[256];
	struct queue_file qf;
	int64_t data_size;		/* -1: no data file */
	int data_fd;			/* the data read for its header, or -1 */
	int queue_fd;			/* the queue file, open to append, or -1 */
	unsigned hops;			/* Received: fields, ours included */
	struct delivered_to dt;		/* its Delivered-To: values */
};

/* -- planning (loop) ------------------------------------------------------ */

/* Whether another recipient of the message is the address itself: it
 * goes there once, as sent, and a forward to it would be a second copy
 * (issue 10 item 1).  Decided from the envelope alone, so every run of
 * the message decides the same, whatever became of that recipient. */
static bool
qmgr_also_recipient(const struct queue_file *qf, size_t n, const char *addr)
{
	for (size_t m = 0; m < qf->env.n_rcpts; m++)
		if (m != n && domains_same_address(qf->env.rcpts[m].addr, addr))
			return true;
	return false;
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
		if (rr->dests[i].forward &&
		    qmgr_also_recipient(qf, r->n, mailbox))
			continue;
		d = attempt_add_dest(r, rr->dests[i].local, rr->dests[i].domain);
		/* A forward goes in the forwarded copy, a new message
		 * that finds its own way (forward_copy.h). */
		d->forward = rr->dests[i].forward;
		if (d->forward)
			continue;
		t = transport_lookup(q->cfg, rr->dests[i].local,
		    rr->dests[i].domain, rr->dests[i].kind == ROUTE_LOCAL);
		if (t->kind != TRANSPORT_MAILDIR)
			d->t = t;
	}
}

/* RFC 5321 6.3: smtpd's max_hops, plus the Received: we put on top. */
static unsigned
qmgr_hops_max(const struct qmgr *q)
{
	return q->cfg->max_hops < UINT_MAX ? q->cfg->max_hops + 1 : UINT_MAX;
}

/* A recipient routing did not place: its outcome, code and the reason
 * routing gave, behind what it means ("no such user: ..."). */
static void
qmgr_route_fail(struct attempt_rcpt *r, enum deliver_status route,
    const char *code, const char *what, const char *reason)
{
	r->route = route;
	snprintf(r->code, sizeof(r->code), "%s", code);
	if (snprintf(r->text, sizeof(r->text), "%s: %s", what, reason) >=
	    (int)sizeof(r->text))
		log_debug("event=truncated what=route-reason");
}

/* Whether addr is named in one of the message's Delivered-To: fields. */
static bool
qmgr_delivered_to(const struct delivered_to *dt, const char *addr)
{
	for (unsigned i = 0; i < dt->n; i++)
		if (domains_same_address(dt->values[i], addr))
			return true;
	return false;
}

/*
 * A forwarding loop (issue 10 item 5): a mailbox whose address the
 * message already names in a Delivered-To: field (Maildir delivery
 * writes one), or a forward from a recipient it names (the forwarded
 * copy writes one).  The address that loops goes in out; false if none.
 */
static bool
qmgr_loops(const struct queue_file *qf, size_t n,
    const struct route_result *rr, const struct delivered_to *dt,
    char *out, size_t outlen)
{
	char mailbox[SMTP_ADDRESS_MAX + 2];

	for (size_t i = 0; i < rr->n_dests && dt->n > 0; i++) {
		const struct route_dest *d = &rr->dests[i];

		if (d->forward) {
			snprintf(mailbox, sizeof(mailbox), "%s",
			    qf->env.rcpts[n].addr);
		} else if (d->kind == ROUTE_LOCAL) {
			snprintf(mailbox, sizeof(mailbox), "%s@%s", d->local,
			    d->domain);
		} else {
			continue;
		}
		if (qmgr_delivered_to(dt, mailbox)) {
			snprintf(out, outlen, "%s", mailbox);
			return true;
		}
	}
	return false;
}

/* Routing of one due recipient into the plan; a looping message's
 * recipients are not routed: they fail. */
static void
qmgr_route(struct qmgr *q, const struct qload *l, struct attempt *a, size_t n)
{
	const struct queue_file *qf = &l->qf;
	struct attempt_rcpt *r;
	struct route_result rr;
	char why[64], loop[SMTP_ADDRESS_MAX + 2];
	unsigned hops = l->hops;

	r = attempt_add_rcpt(a, n, qf->env.rcpts[n].addr, qf->st[n].attempts);
	if (hops > qmgr_hops_max(q)) {
		snprintf(why, sizeof(why), "%u Received: header fields", hops);
		qmgr_route_fail(r, DELIVER_PERMFAIL, "5.4.6", "Too many hops",
		    why);
		return;
	}
	memset(&rr, 0, sizeof(rr));
	/* An SRS recipient is judged as of the message's arrival, when the
	 * smtpd accepted it: a bounce accepted on an address's last valid
	 * day must not turn into "no such user" while it waits here (its
	 * sender is <>, so nobody would hear of it). */
	route_resolve_at(q->cfg, q->domains, qf->env.rcpts[n].addr,
	    (time_t)qf->env.created, &rr);
	switch (rr.kind) {
	case ROUTE_LOCAL:
	case ROUTE_REMOTE:
		if (qmgr_loops(qf, n, &rr, &l->dt, loop, sizeof(loop))) {
			/* RFC 3463 X.4.6; one bounce by the usual rules. */
			r->route = DELIVER_PERMFAIL;
			snprintf(r->code, sizeof(r->code), "5.4.6");
			if (snprintf(r->text, sizeof(r->text),
			    "mail forwarding loop for %s", loop) >=
			    (int)sizeof(r->text))
				log_debug("event=truncated what=loop-reason");
			break;
		}
		qmgr_add_dests(q, qf, r, &rr);
		break;
	case ROUTE_UNKNOWN:
		qmgr_route_fail(r, DELIVER_PERMFAIL, "5.1.1", "no such user",
		    rr.reason);
		break;
	case ROUTE_TEMPFAIL:
		qmgr_route_fail(r, DELIVER_TEMPFAIL, "4.3.0", "routing",
		    rr.reason);
		break;
	case ROUTE_INVALID:
		/* No DNS lookup can find such a domain (queued before it was
		 * refused at RCPT): say why, once, in the report. */
		qmgr_route_fail(r, DELIVER_PERMFAIL, "5.1.2",
		    "bad destination domain", rr.reason);
		break;
	case ROUTE_UNSUPPORTED:
	default:
		/* What routing cannot carry (yet): such mail waits, and
		 * expires after queue.lifetime. */
		qmgr_route_fail(r, DELIVER_TEMPFAIL, "4.4.0",
		    "cannot deliver yet", rr.reason);
		break;
	}
	route_result_free(&rr);
}

/* Whether the plan has forward targets (not yet settled). */
static bool
qmgr_forwards(const struct attempt *a)
{
	for (size_t i = 0; i < a->n_rcpts; i++)
		for (size_t k = 0; a->rcpts[i].route == DELIVER_OK &&
		    k < a->rcpts[i].n_dests; k++)
			if (a->rcpts[i].dests[k].forward)
				return true;
	return false;
}

/*
 * The forwarded copy's sender, chosen here, once (the tables are the
 * loop's) and stored in the copy's envelope by the worker.  When a table
 * cannot be read there is none: the worker defers the forward targets
 * (4.3.0, with fwd_why) and the rest goes on.
 */
static void
qmgr_forward_sender(struct qmgr *q, const struct queue_file *qf,
    struct attempt *a, int64_t now)
{
	char out[FORWARD_SENDER_MAX + 1];
	enum forward_sender f;

	if (!qmgr_forwards(a))
		return;
	f = route_forward_sender(q->cfg, q->domains, qf->env.sender,
	    qf->env.authenticated, (time_t)now, out, sizeof(out), a->fwd_why,
	    sizeof(a->fwd_why));
	if (f == FORWARD_TEMPFAIL)
		return;
	a->fwd_sender = xstrdup(out);
	a->fwd_srs = f == FORWARD_SRS;
}

static struct attempt *
qmgr_attempt_new(struct qmgr *q, const char *id)
{
	struct attempt *a = attempt_new(id, q->sp);

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

static struct qrun *
qmgr_run_new(struct qmgr *q, struct qmsg *m, struct attempt *a)
{
	struct qrun *run = xcalloc(1, sizeof(*run));

	run->q = q;
	run->m = m;
	run->a = a;
	a->owner = run;
	return run;
}

/* Copies the workpool has to make or record: Maildir copies, routing
 * failures, network results already known; or nothing at all left (the
 * run only finishes the message). */
static bool
qmgr_local_work(const struct attempt *a)
{
	if (a->n_rcpts == 0)
		return true;
	for (size_t i = 0; i < a->n_rcpts; i++) {
		const struct attempt_rcpt *r = &a->rcpts[i];

		if (r->route != DELIVER_OK)
			return true;
		for (size_t k = 0; k < r->n_dests; k++)
			if (r->dests[k].t == NULL || r->dests[k].done)
				return true;
	}
	return false;
}

static bool
qmgr_network_copies(const struct attempt *a)
{
	for (size_t i = 0; i < a->n_rcpts; i++)
		for (size_t k = 0; a->rcpts[i].route == DELIVER_OK &&
		    k < a->rcpts[i].n_dests; k++)
			if (a->rcpts[i].dests[k].t != NULL)
				return true;
	return false;
}

/* Room for another message's network copies (loads of messages that
 * went out last time count: they probably will again). */
bool
qmgr_out_room(const struct qmgr *q)
{
	return q->out_flight + q->out_loading < QMGR_OUTBOUND_MAX;
}

/* What the plan knows of a message's age: when a held copy must run
 * anyway, and whether that is now. */
struct qdue {
	int64_t deadline;	/* the delay warning, else the lifetime's end */
	bool warn;		/* the delay warning is due */
	bool expired;		/* queue.lifetime is over */
};

static void
qmgr_due(const struct qmgr *q, const struct queue_file *qf, int64_t now,
    struct qdue *due)
{
	int64_t end = qf->env.created + (int64_t)q->cfg->queue_lifetime;
	int64_t warn = qf->env.created + (int64_t)q->cfg->delay_warning;
	bool warn_pending = q->cfg->delay_warning > 0 && qf->warned == 0;

	due->expired = now >= end;
	due->warn = warn_pending && now >= warn;
	due->deadline = warn_pending && warn > now && warn < end ? warn : end;
}

/*
 * The plan is made: its network copies go out where there is room (the
 * others are kept back and the message held, a flush remembered for its
 * next try; past its lifetime they fail instead), its local part goes to
 * the workpool unless there is none.  A held message whose delay warning
 * is due runs too: the run sends it.
 */
static void
qmgr_dispatch(struct qmgr *q, struct qrun *run, int64_t data_size,
    bool flush, const struct qdue *due)
{
	struct qmsg *m = run->m;
	bool out = false;

	m->remote = qmgr_network_copies(run->a);
	run->deadline = due->deadline;
	if (m->remote)
		out = qmgr_outbound(run, data_size, due->expired);
	if (run->held)
		m->flush = flush;
	if (qmgr_local_work(run->a) || (run->held && due->warn)) {
		qmgr_run(run);
		return;
	}
	/* No run before the network results: the load's descriptors are
	 * not kept open for the flight (that run opens the files again). */
	if (run->a->data_fd >= 0) {
		close(run->a->data_fd);
		run->a->data_fd = -1;
	}
	if (run->a->queue_fd >= 0) {
		close(run->a->queue_fd);
		run->a->queue_fd = -1;
	}
	if (out)
		return;			/* qmgr_flight_landed() goes on */
	/* Held, with nothing to do here: due, in its destination's line
	 * (qmgr_outbound() keeps nothing back without naming where). */
	if (run->hold_at == NULL)
		panic("qmgr: %s held for no destination", m->id);
	m->dest = run->hold_at;
	m->deadline = run->deadline;
	attempt_free(run->a);
	free(run);
	qdest_hold(q, m);
}

/* A loaded queue file into an attempt: its due recipients, routed. */
static void
qmgr_plan(struct qmgr *q, struct qload *l, int64_t now)
{
	struct qmsg *m = l->m;
	const struct queue_file *qf = &l->qf;
	struct attempt *a = qmgr_attempt_new(q, m->id);
	int64_t next = 0;
	bool flush = m->flush;
	struct qdue due;

	m->flush = false;
	free(a->sender);
	a->sender = xstrdup(qf->env.sender);
	a->created = qf->env.created;
	a->smtputf8 = qf->env.smtputf8;
	a->eightbit = qf->env.eight_bit;
	a->junk = qf->env.junk;
	a->folder = qf->env.junk ? q->cfg->scan.spam_folder : NULL;
	if (qf->env.client_ip != NULL)
		a->client_ip = xstrdup(qf->env.client_ip);
	if (qf->env.helo != NULL)
		a->helo = xstrdup(qf->env.helo);
	for (size_t i = 0; i < qf->env.n_rcpts; i++) {
		if (qf->st[i].state != RCPT_PENDING)
			continue;
		if (qf->st[i].next_try > now && !flush) {
			if (next == 0 || qf->st[i].next_try < next)
				next = qf->st[i].next_try;
			continue;
		}
		qmgr_route(q, l, a, i);
	}
	qmgr_forward_sender(q, qf, a, now);
	if (a->n_rcpts > 0 && l->hops > qmgr_hops_max(q))
		log_info("event=too-many-hops id=%s hops=%u max_hops=%u",
		    m->id, l->hops, q->cfg->max_hops);
	if (a->n_rcpts == 0 && next > 0) {
		/* Nothing due yet (e.g. after a restart): wait. */
		attempt_free(a);
		qtable_wait(&q->msgs, m, next);
		qmgr_hint(q, m->id, next);	/* not read again till then */
		return;
	}
	/* With no recipient left this only finishes the message (a crash
	 * came between the last status record and the removal). */
	qmgr_due(q, qf, now, &due);
	/* The attempt takes the file as loaded: its appends then need no
	 * look at the file's tail (attempt.h); and the data, open. */
	a->qf = l->qf;
	a->qf_valid = true;
	memset(&l->qf, 0, sizeof(l->qf));
	a->data_fd = l->data_fd;
	a->data_size = l->data_size;
	a->data_len = a->qf.data_len;
	l->data_fd = -1;
	a->queue_fd = l->queue_fd;
	l->queue_fd = -1;
	qmgr_dispatch(q, qmgr_run_new(q, m, a), l->data_size, flush, &due);
}

/* -- loading (I/O worker, then loop) -------------------------------------- */

/* The Received: fields and Delivered-To: values in the header section
 * of the data open as fd, size octets (blocking: an I/O worker's). */
static unsigned
qmgr_scan_fd(int fd, int64_t size, struct delivered_to *dt)
{
	char chunk[16384];
	struct hops h;
	int64_t total = 0;
	size_t want;
	ssize_t n;

	hops_init(&h);
	/* Both end at the same empty line. */
	while (!hops_done(&h) && total < HOPS_SCAN_MAX && total < size) {
		want = size - total < (int64_t)sizeof(chunk) ?
		    (size_t)(size - total) : sizeof(chunk);
		n = pread(fd, chunk, want, total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		hops_feed(&h, chunk, (size_t)n);
		delivered_to_feed(dt, chunk, (size_t)n);
		total += n;
	}
	return h.count;
}

/* qmgr_scan_fd() of a queued message's data (blocking: an I/O worker's;
 * it reads no config).  0 and none when the data cannot be read or is no
 * regular file (delivery finds that out and says so).  Format 2 (qf's
 * data_len >= 0): the queue file, open as queue_fd, holds the data.
 * Format 1: data/<id>, opened without waiting, so a FIFO planted in the
 * spool cannot hold the worker, and a load never waits on more than the
 * queue file.  *size and *data_fd: the data's size and a descriptor of
 * it, when it is a regular file (the attempt delivers from it: one open
 * of the data per message), left alone otherwise. */
static unsigned
qmgr_scan_header(struct spool *sp, const char *id,
    const struct queue_file *qf, int queue_fd, struct delivered_to *dt,
    int64_t *size, int *data_fd)
{
	struct stat st;
	unsigned hops;
	int fd;

	delivered_to_init(dt);
	if (qf->data_len >= 0)
		fd = dup(queue_fd);
	else
		fd = openat(spool_data_dir(sp, -1), id,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (qf->data_len >= 0) {
		st.st_size = qf->data_len;
	} else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	*size = (int64_t)st.st_size;
	hops = qmgr_scan_fd(fd, *size, dt);
	*data_fd = fd;
	delivered_to_end(dt);
	return hops;
}

static void
qmgr_load_work(void *p)
{
	struct qload *l = p;

	l->rc = spool_load_open(l->q->sp, l->id, &l->qf, l->err,
	    sizeof(l->err), &l->queue_fd);
	l->err_no = errno;
	if (l->rc == 0) {
		/* The data's size from the scan's own fstat when it could
		 * open the file, saving a stat; spool_data_size's otherwise. */
		l->data_size = -2;
		l->hops = qmgr_scan_header(l->q->sp, l->id, &l->qf,
		    l->queue_fd, &l->dt, &l->data_size, &l->data_fd);
		if (l->data_size == -2)
			l->data_size = spool_data_size(l->q->sp, l->id);
	}
}

static void
qmgr_load_done(void *p)
{
	struct qload *l = p;
	struct qmgr *q = l->q;
	struct qmsg *m = l->m;
	char safe[512];
	int64_t now = time(NULL);

	q->loading--;
	if (l->remote)
		q->out_loading--;
	if (l->dest != NULL) {
		qdest_out_done(q, l->dest);
		qdest_unref(q, l->dest);
	}
	if (q->stopping) {
		/* m stays busy; the table is freed at the end. */
	} else if (l->rc == -1 && l->err_no == ENOENT) {
		qtable_drop(&q->msgs, m);	/* delivered or deleted */
	} else if (l->rc == -1) {
		log_warn("event=spool-error id=%s op=load reason=\"%s\"", l->id,
		    log_safe(l->err, safe, sizeof(safe)));
		qtable_wait(&q->msgs, m, now + (int64_t)q->cfg->retry_min);
	} else if (l->rc == -2) {
		struct attempt *a = qmgr_attempt_new(q, m->id);

		log_error("event=corrupt id=%s reason=\"%s\" "
		    "action=moved-to-corrupt", l->id,
		    log_safe(l->err, safe, sizeof(safe)));
		a->corrupt = true;
		qmgr_run(qmgr_run_new(q, m, a));
	} else {
		qmgr_plan(q, l, now);
	}
	if (l->rc == 0)
		queue_file_free(&l->qf);
	if (l->data_fd >= 0)
		close(l->data_fd);	/* not planned: nothing unlinked them */
	if (l->queue_fd >= 0)
		close(l->queue_fd);
	free(l);
	if (!q->stopping)
		qmgr_schedule(q);
}

void
qmgr_load_start(struct qmgr *q, struct qmsg *m)
{
	struct qload *l = xcalloc(1, sizeof(*l));

	qtable_take(&q->msgs, m);
	l->q = q;
	l->m = m;
	snprintf(l->id, sizeof(l->id), "%s", m->id);
	l->remote = m->remote;
	/* A message held for a destination takes its room there now. */
	l->dest = m->dest;
	m->dest = NULL;
	if (l->dest != NULL)
		qdest_out_add(l->dest);
	l->data_size = -1;
	l->data_fd = -1;
	l->queue_fd = -1;
	q->loading++;
	if (l->remote)
		q->out_loading++;
	workpool_submit(q->io, qmgr_load_work, qmgr_load_done, l);
}

/* -- running (workpool, network) ------------------------------------------ */

/* The attempt is over: the message waits for its next try, or is gone. */
static void
qmgr_attempt_done(struct qrun *run)
{
	struct qmgr *q = run->q;
	struct attempt *a = run->a;
	struct qmsg *m = run->m;
	int64_t now = time(NULL);

	switch (a->outcome) {
	case ATTEMPT_PENDING:
		/* Copies kept back are due at once: the schedule holds the
		 * message in their destination's line until there is room. */
		if (run->held) {
			m->dest = run->hold_at;
			m->deadline = run->deadline;
			run->hold_at = NULL;
		}
		qtable_wait(&q->msgs, m, run->held ? now : a->next_try > 0 ?
		    a->next_try : now + (int64_t)q->cfg->retry_min);
		/* The next start-up scan leaves it unread till then. */
		if (!run->held && a->next_try > now)
			qmgr_hint(q, m->id, a->next_try);
		break;
	case ATTEMPT_ERROR:
		qtable_wait(&q->msgs, m, now + (int64_t)q->cfg->retry_min);
		break;
	default:
		qtable_drop(&q->msgs, m);
		break;
	}
	/* A report just queued is a new message: try it at once (a scan
	 * may have found it already, and even started it). */
	if (a->bounce_id[0] != '\0')
		qtable_wake(&q->msgs, a->bounce_id, now);
	if (a->forward_id[0] != '\0')
		qtable_wake(&q->msgs, a->forward_id, now);
	if (a->warning_id[0] != '\0')
		qtable_wake(&q->msgs, a->warning_id, now);
	if (run->hold_at != NULL)
		qdest_unref(q, run->hold_at);
	attempt_free(a);
	free(run);
	qmgr_removals_poke(q);
	if (!q->stopping)
		qmgr_schedule(q);
}

static void
qmgr_run_done(void *p)
{
	struct attempt *a = p;
	struct qrun *run = a->owner;
	struct qmgr *q = run->q;

	q->running--;
	run->in_pool = false;
	if (run->f != NULL) {
		if (!qmgr_outbound_landed(run))
			return;		/* qmgr_flight_landed() goes on */
		qmgr_outbound_collect(run);
		qmgr_run(run);		/* the network results' records */
		return;
	}
	qmgr_attempt_done(run);
}

void
qmgr_run(struct qrun *run)
{
	run->in_pool = true;
	run->q->running++;
	workpool_submit(run->q->pool, attempt_run, qmgr_run_done, run->a);
}

void
qmgr_flight_landed(struct qrun *run)
{
	struct qmgr *q = run->q;

	/* A run making the local copies goes on when it is done. */
	if (!run->in_pool) {
		qmgr_outbound_collect(run);
		qmgr_run(run);
	}
	/* Room for a held message. */
	if (!q->stopping)
		qmgr_schedule(q);
}
