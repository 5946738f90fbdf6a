/*
 * The queue manager's outbound part: an attempt's SMTP, relay and LMTP
 * copies on the network (qmgr_priv.h names the files of the qmgr).
 *
 * qmgr.c plans an attempt and calls qmgr_outbound(): the copies become
 * one job per destination (all the message's recipients there, at most
 * OUTBOUND_RCPTS_MAX), submitted to the outbound scheduler (outbound.c),
 * which reads the message data itself, ahead, in worker threads (no file
 * is held open while a job waits).  The jobs are a flight on q->flights
 * until the last one is done (qmgr_flight_landed()); the results stay in
 * the jobs until qmgr_outbound_collect() copies them into the attempt's
 * dests, which happens only while no worker runs the attempt (its local
 * copies may be made meanwhile).  Loop thread only.
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
};

/* An attempt's remote copies on the network. */
struct qflight {
	struct qrun *run;
	struct qjob *jobs;
	size_t n_jobs, left;
	struct qflight *prev, *next;
};

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

	(void)job;
	if (--f->left > 0)
		return;
	f->run->q->out_flight--;
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

static struct qjob *
qmgr_job_for(struct qflight *f, const struct attempt_dest *d)
{
	char key[sizeof(((struct qjob *)0)->key)];
	const char *nexthop = d->t->kind == TRANSPORT_SMTP ? d->domain : NULL;
	struct qjob *j;

	outbound_dest_key(d->t, nexthop, key, sizeof(key));
	for (size_t i = 0; i < f->n_jobs; i++) {
		j = &f->jobs[i];
		if (strcmp(j->key, key) == 0 && j->n < OUTBOUND_RCPTS_MAX)
			return j;
	}
	f->jobs = xreallocarray(f->jobs, f->n_jobs + 1, sizeof(*f->jobs));
	j = &f->jobs[f->n_jobs++];
	memset(j, 0, sizeof(*j));
	snprintf(j->key, sizeof(j->key), "%s", key);
	j->f = f;
	j->job.t = d->t;
	j->job.nexthop = nexthop != NULL ? xstrdup(nexthop) : NULL;
	j->rcpts = xcalloc(OUTBOUND_RCPTS_MAX, sizeof(*j->rcpts));
	j->dests = xcalloc(OUTBOUND_RCPTS_MAX, sizeof(*j->dests));
	return j;
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
qmgr_outbound(struct qrun *run, int64_t data_size)
{
	struct qmgr *q = run->q;
	struct attempt *a = run->a;
	struct qflight *f = xcalloc(1, sizeof(*f));
	char addr[SMTP_ADDRESS_MAX + 2];

	f->run = run;
	for (size_t i = 0; i < a->n_rcpts; i++) {
		struct attempt_rcpt *r = &a->rcpts[i];

		for (size_t k = 0; r->route == DELIVER_OK && k < r->n_dests; k++) {
			struct attempt_dest *d = &r->dests[k];
			struct qjob *j;

			if (d->t == NULL)
				continue;
			j = qmgr_job_for(f, d);
			snprintf(addr, sizeof(addr), "%s@%s", d->local, d->domain);
			j->rcpts[j->n].addr = xstrdup(addr);
			j->dests[j->n++] = d;
		}
	}
	if (f->n_jobs == 0 || data_size < 0) {
		qmgr_flight_no_data(f);
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
		j->job.msg.data_dir = spool_data_dir(q->sp);
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
