/*
 * The queue manager's outbound part: an attempt's SMTP, relay and LMTP
 * copies on the network (qmgr_priv.h names the files of the qmgr).
 *
 * qmgr.c plans an attempt and calls qmgr_outbound(): the copies become
 * one job per destination (all the message's recipients there, at most
 * OUTBOUND_RCPTS_MAX), each counted against its destination's share of
 * the network budget (qmgr_dest.c; a destination without room gets no
 * job: its copies are kept back), submitted to the outbound scheduler
 * (outbound.c), which reads the message data itself, ahead, in worker
 * threads (no file is held open while a job waits).  The jobs are a
 * flight on q->flights until the last one is done (qmgr_flight_landed());
 * the results stay in the jobs until qmgr_outbound_collect() copies them
 * into the attempt's dests, which happens only while no worker runs the
 * attempt (its local copies may be made meanwhile).  Loop thread only.
 */
#include "queue/qmgr_priv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/xmalloc.h"
#include "queue/attempt.h"
#include "queue/outbound.h"
#include "queue/spool.h"

/* One outbound job of an attempt, and where its results go. */
struct qjob {
	struct outbound_job job;
	struct qflight *f;
	struct smtp_client_rcpt *rcpts;
	struct attempt_dest **dests;
	size_t n;
	char key[SMTP_DOMAIN_MAX + 64];
	struct qdest *dest;		/* counted there until done */
};

/* An attempt's remote copies on the network. */
struct qflight {
	struct qrun *run;
	struct qjob *jobs;
	size_t n_jobs, left;
	struct qflight *prev, *next;
};

/* A flight that never started gives its room back. */
static void
qmgr_flight_unhook(struct qmgr *q, struct qflight *f)
{
	for (size_t i = 0; i < f->n_jobs; i++) {
		qdest_out_done(q, f->jobs[i].dest);
		qdest_unref(q, f->jobs[i].dest);
		f->jobs[i].dest = NULL;
	}
}

/* Frees a flight that is not (or no longer) on q->flights. */
static void
qmgr_flight_release(struct qflight *f)
{
	for (size_t i = 0; i < f->n_jobs; i++) {
		for (size_t k = 0; k < f->jobs[i].n; k++)
			free((char *)f->jobs[i].rcpts[k].addr);
		free(f->jobs[i].rcpts);
		free(f->jobs[i].dests);
		free(f->jobs[i].job.nexthop);
	}
	free(f->jobs);
	free(f);
}

static void
qmgr_flight_free(struct qflight *f)
{
	struct qmgr *q = f->run->q;

	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		q->flights = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	qmgr_flight_release(f);
}

/* One outbound job ended (its results are in j->rcpts and the job);
 * the last one lands the flight. */
static void
qmgr_job_done(void *arg, struct outbound_job *job)
{
	struct qjob *j = arg;
	struct qflight *f = j->f;

	struct qmgr *q = f->run->q;

	(void)job;
	qdest_out_done(q, j->dest);
	qdest_unref(q, j->dest);
	j->dest = NULL;
	if (--f->left > 0) {
		/* Room at j's destination for a message held there. */
		if (!q->stopping)
			qmgr_schedule(q);
		return;
	}
	q->out_flight--;
	qmgr_flight_landed(f->run);
}

bool
qmgr_outbound_landed(const struct qrun *run)
{
	return run->f != NULL && run->f->left == 0;
}

void
qmgr_outbound_collect(struct qrun *run)
{
	struct qflight *f = run->f;

	for (size_t i = 0; i < f->n_jobs; i++) {
		struct qjob *j = &f->jobs[i];

		for (size_t k = 0; k < j->n; k++) {
			struct attempt_dest *d = j->dests[k];

			d->done = true;
			d->res = j->rcpts[k].res;
			free(d->relay);
			d->relay = j->job.relay[0] != '\0' ?
			    xstrdup(j->job.relay) : NULL;
			snprintf(d->tls, sizeof(d->tls), "%s", j->job.tls);
		}
	}
	qmgr_flight_free(f);
	run->f = NULL;
	run->a->network_pending = false;
}

static const char *
qmgr_nexthop(const struct attempt_dest *d)
{
	return d->t->kind == TRANSPORT_SMTP ? d->domain : NULL;
}

/* The job of f for key with room for a recipient, or NULL. */
static struct qjob *
qmgr_job_find(struct qflight *f, const char *key, bool *any)
{
	*any = false;
	for (size_t i = 0; i < f->n_jobs; i++) {
		if (strcmp(f->jobs[i].key, key) != 0)
			continue;
		*any = true;
		if (f->jobs[i].n < OUTBOUND_RCPTS_MAX)
			return &f->jobs[i];
	}
	return NULL;
}

/* A new job of f for d's destination, counted there. */
static struct qjob *
qmgr_job_new(struct qflight *f, const struct attempt_dest *d,
    const char *key, struct qdest *qd)
{
	const char *nexthop = qmgr_nexthop(d);
	struct qjob *j;

	f->jobs = xreallocarray(f->jobs, f->n_jobs + 1, sizeof(*f->jobs));
	j = &f->jobs[f->n_jobs++];
	memset(j, 0, sizeof(*j));
	snprintf(j->key, sizeof(j->key), "%s", key);
	j->f = f;
	j->job.t = d->t;
	j->job.nexthop = nexthop != NULL ? xstrdup(nexthop) : NULL;
	j->rcpts = xcalloc(OUTBOUND_RCPTS_MAX, sizeof(*j->rcpts));
	j->dests = xcalloc(OUTBOUND_RCPTS_MAX, sizeof(*j->dests));
	j->dest = qd;
	qdest_ref(qd);
	qdest_out_add(qd);
	return j;
}

/*
 * No room at d's destination.  Kept back: the recipient stays open, the
 * message is held there (the first such destination).  Past the queue
 * lifetime the copy fails instead, as a deferral that the run records
 * as the lifetime's end (5.4.7) and bounces.
 */
static void
qmgr_keep_back(struct qrun *run, struct attempt_dest *d, struct qdest *qd,
    bool expired)
{
	if (expired) {
		d->done = true;
		d->res.status = DELIVER_TEMPFAIL;
		snprintf(d->res.code, sizeof(d->res.code), "4.4.5");
		snprintf(d->res.text, sizeof(d->res.text), "held back: no room "
		    "on the network for %s (its own mail waiting)", qd->key);
		return;
	}
	run->held = true;
	if (run->hold_at == NULL) {
		run->hold_at = qd;
		qdest_ref(qd);
	}
}

/* Into a job of f if d's destination has room (or a job already). */
static void
qmgr_place(struct qrun *run, struct qflight *f, struct attempt_dest *d,
    bool expired)
{
	struct qmgr *q = run->q;
	char key[sizeof(((struct qjob *)0)->key)];
	char addr[SMTP_ADDRESS_MAX + 2];
	struct qdest *qd;
	struct qjob *j;
	bool any;

	outbound_dest_key(d->t, qmgr_nexthop(d), key, sizeof(key));
	j = qmgr_job_find(f, key, &any);
	if (j == NULL) {
		qd = qdest_get(q, key);
		/* A destination this message goes to already takes all of
		 * its recipients there (a second job past 100 of them). */
		if (!any && !qdest_room(q, qd)) {
			qmgr_keep_back(run, d, qd, expired);
			qdest_tidy(q, qd);
			return;
		}
		j = qmgr_job_new(f, d, key, qd);
	}
	snprintf(addr, sizeof(addr), "%s@%s", d->local, d->domain);
	j->rcpts[j->n].addr = xstrdup(addr);
	j->dests[j->n++] = d;
}

/* The data file is gone: no connection is made, and the worker records
 * a deferral for every outbound copy. */
static void
qmgr_flight_no_data(struct qflight *f)
{
	for (size_t i = 0; i < f->n_jobs; i++) {
		for (size_t k = 0; k < f->jobs[i].n; k++) {
			struct attempt_dest *d = f->jobs[i].dests[k];

			d->done = true;
			d->res.status = DELIVER_TEMPFAIL;
			snprintf(d->res.code, sizeof(d->res.code), "4.3.0");
			snprintf(d->res.text, sizeof(d->res.text),
			    "queued message data unreadable");
		}
	}
}

/*
 * Groups the attempt's outbound copies into jobs (one per destination,
 * at most OUTBOUND_RCPTS_MAX recipients each) and starts them.  false
 * when there are none, or the data is gone: the attempt's run records
 * what there is.
 */
bool
qmgr_outbound(struct qrun *run, int64_t data_size, bool expired)
{
	struct qmgr *q = run->q;
	struct attempt *a = run->a;
	struct qflight *f = xcalloc(1, sizeof(*f));

	f->run = run;
	for (size_t i = 0; i < a->n_rcpts; i++) {
		struct attempt_rcpt *r = &a->rcpts[i];

		for (size_t k = 0; r->route == DELIVER_OK && k < r->n_dests; k++)
			if (r->dests[k].t != NULL)
				qmgr_place(run, f, &r->dests[k], expired);
	}
	if (f->n_jobs == 0 || data_size < 0) {
		qmgr_flight_no_data(f);
		qmgr_flight_unhook(q, f);
		qmgr_flight_release(f);
		return false;
	}
	f->next = q->flights;
	if (q->flights != NULL)
		q->flights->prev = f;
	q->flights = f;
	f->left = f->n_jobs;
	run->f = f;
	a->network_pending = true;
	q->out_flight++;
	for (size_t i = 0; i < f->n_jobs; i++) {
		struct qjob *j = &f->jobs[i];

		j->job.msg.id = a->id;
		j->job.msg.sender = a->sender;
		j->job.msg.smtputf8 = a->smtputf8;
		j->job.msg.eightbit = a->eightbit;
		j->job.msg.data_dir = spool_data_dir(q->sp, a->data_len);
		j->job.msg.data_name = a->id;
		j->job.msg.data_size = data_size;
		j->job.msg.rcpts = j->rcpts;
		j->job.msg.n_rcpts = j->n;
		j->job.done = qmgr_job_done;
		j->job.arg = j;
	}
	/* Jobs complete from the loop only, so the array stays put. */
	for (size_t i = 0; i < f->n_jobs; i++)
		outbound_submit(q->outbound, &f->jobs[i].job);
	return true;
}

void
qmgr_flights_free(struct qmgr *q)
{
	struct qflight *f, *next;

	for (f = q->flights; f != NULL; f = next) {
		struct qrun *run = f->run;

		next = f->next;
		/* Landed, its results waiting for the local run: that run's
		 * done() records them (the pool is drained before exit), so
		 * copies the servers took are not sent again. */
		if (f->left == 0 && run->in_pool)
			continue;
		qmgr_flight_free(f);
		run->f = NULL;
		/* A run in the workpool ends it when its done() comes. */
		if (!run->in_pool) {
			attempt_free(run->a);
			free(run);
		}
	}
}
