/*
 * The outbound scheduler (see outbound.h): its public API, the jobs, and
 * the destinations with their queues of waiting jobs and their back-off.
 * The connection slots that carry the jobs are outbound_slot.c; how the
 * destinations share delivery.max_connections is outbound_share.c
 * (outbound_priv.h lists the files and their names).
 *
 * Called by the queue manager: qmgr.c makes and frees the scheduler and
 * flushes it, qmgr_outbound.c groups recipients by outbound_dest_key(),
 * submits the jobs and takes them back in job->done.  It trusts the jobs
 * it is given (a transport of the validated config, at most
 * OUTBOUND_RCPTS_MAX recipients).
 *
 * Everything runs on the qmgr's loop; every callback of smtp_client.c
 * and mx.c arrives from the loop, never re-entrantly, and job->done is
 * always called from a callback or a zero timer, never from submit.
 *
 * A destination lives while it has a slot, a waiting job, a place in
 * line or a back-off in force; once a minute the sweep frees the others.
 */
#include "queue/outbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/attempt.h"
#include "queue/outbound_priv.h"
#include "tls/tls.h"

/* Seconds between sweeps of unused destinations. */
#define OUTBOUND_SWEEP_INTERVAL	60

void
outbound_dest_key(const struct transport_conf *t, const char *nexthop,
    char *out, size_t outlen)
{
	switch (t->kind) {
	case TRANSPORT_SMTP:
		snprintf(out, outlen, "smtp:%s", nexthop != NULL ? nexthop : "");
		break;
	case TRANSPORT_LMTP:
		if (t->path != NULL)
			snprintf(out, outlen, "lmtp:unix:%s", t->path);
		else
			snprintf(out, outlen, "lmtp:[%s]:%u", t->host, t->port);
		break;
	case TRANSPORT_RELAY:
	case TRANSPORT_MAILDIR:
	default:
		snprintf(out, outlen, "%s", t->via);
		break;
	}
}

/* -- jobs --------------------------------------------------------------- */

void
job_finish(struct outbound_job *job)
{
	job->done(job->arg, job);
}

static void
job_fill(struct outbound_job *job, const struct deliver_result *res)
{
	for (size_t i = 0; i < job->msg.n_rcpts; i++)
		job->msg.rcpts[i].res = *res;
}

/* Finishes the jobs put aside by outbound_submit.  The event belongs to
 * ob, so after outbound_free none of them completes (as outbound.h says
 * of every job still queued). */
static void
job_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outbound *ob = arg;
	struct outbound_job *job;

	(void)fd;
	(void)what;
	while ((job = ob->later_head) != NULL) {
		ob->later_head = job->next;
		if (ob->later_head == NULL)
			ob->later_tail = NULL;
		job->next = NULL;
		job_finish(job);
	}
}

/* -- destinations ------------------------------------------------------- */

static struct dest *
dest_get(struct outbound *ob, const struct outbound_job *job)
{
	char key[sizeof(((struct dest *)0)->key)];
	struct dest *d;

	outbound_dest_key(job->t, job->nexthop, key, sizeof(key));
	for (d = ob->dests; d != NULL; d = d->next)
		if (strcmp(d->key, key) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->ob = ob;
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->t = job->t;
	snprintf(d->nexthop, sizeof(d->nexthop), "%s",
	    job->nexthop != NULL ? job->nexthop : "");
	d->next = ob->dests;
	ob->dests = d;
	return d;
}

struct outbound_job *
dest_pop(struct dest *d)
{
	struct outbound_job *job = d->head;

	if (job == NULL)
		return NULL;
	d->head = job->next;
	if (d->head == NULL)
		d->tail = NULL;
	d->n_waiting--;
	job->next = NULL;
	return job;
}

/* Every waiting job ends with res (the destination cannot be reached,
 * or its domain has no mail service at all). */
void
dest_fail_waiting(struct dest *d, const struct deliver_result *res)
{
	struct outbound_job *job;

	while ((job = dest_pop(d)) != NULL) {
		job_fill(job, res);
		job_finish(job);
	}
}

/*
 * No host of d could be reached by slot s: back d off as a whole.  A
 * failure counts once per round of attempts: the slots started before
 * the last back-off (parallel connections that fail together, or a slot
 * still trying its hosts when the back-off began) belong to a round
 * already counted and do not double the delay again.
 */
void
dest_down(struct outbound *ob, struct dest *d, const struct conn_slot *s,
    const struct deliver_result *res)
{
	int64_t delay;
	char key[LOG_SAFE_SIZE(sizeof(d->key))];

	if (s->round != d->round) {
		dest_fail_waiting(d, res);
		return;
	}
	d->round++;
	d->failures++;
	delay = attempt_backoff(d->failures, ob->cfg->retry_min,
	    ob->cfg->retry_max);
	d->down_until = (int64_t)time(NULL) + delay;
	d->down_why = *res;
	log_info("event=destination-down dest=\"%s\" failures=%u delay=%lld",
	    log_safe(d->key, key, sizeof(key)), d->failures, (long long)delay);
	dest_fail_waiting(d, res);
}

/*
 * A waiting job of d that no connection in setup is counted for.  Each
 * connection in setup was opened for one waiting job (dest_wants_slot),
 * so only the jobs beyond those may go to a ready connection: one that
 * ends its message while another is still in its handshake leaves that
 * one its job, or the new connection would carry nothing (EHLO,
 * STARTTLS, QUIT: issue 12).  Which job goes where does not matter,
 * only how many are kept.
 */
bool
dest_spare_job(const struct dest *d)
{
	return d->n_waiting > d->n_setup;
}

/* d could use another connection: more of its jobs wait than its
 * connections in setup will take, and its own limit allows. */
bool
dest_wants_slot(const struct dest *d)
{
	return dest_spare_job(d) &&
	    d->n_slots < d->ob->cfg->out_dest_concurrency;
}

/* Give the spare waiting jobs to idle connections; for the rest, get in
 * line for new ones (never more in setup than jobs waiting), and hand
 * out the free slots. */
void
dest_kick(struct dest *d)
{
	struct outbound *ob = d->ob;
	struct conn_slot *s;

	for (s = d->slots; s != NULL && dest_spare_job(d); s = s->next)
		if (s->ready && s->job == NULL)
			slot_next(s);
	if (dest_wants_slot(d))
		line_push(ob, d);
	line_grant(ob);
}

void
outbound_submit(struct outbound *ob, struct outbound_job *job)
{
	struct dest *d = dest_get(ob, job);
	int64_t now = time(NULL);

	job->next = NULL;
	job->relay[0] = '\0';
	snprintf(job->tls, sizeof(job->tls), "none");
	if (d->down_until > now) {
		/* Backed off: no connection until the destination's time. */
		job_fill(job, &d->down_why);
		if (ob->later_tail != NULL)
			ob->later_tail->next = job;
		else
			ob->later_head = job;
		ob->later_tail = job;
		evtimer_add(ob->later_ev, &at_once);
		return;
	}
	if (d->tail != NULL)
		d->tail->next = job;
	else
		d->head = job;
	d->tail = job;
	d->n_waiting++;
	dest_kick(d);
}

/* A destination with no connection, no waiting job and no back-off in
 * force holds nothing worth keeping: free it, so a host that mails many
 * domains does not grow without bound. */
static void
outbound_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outbound *ob = arg;
	int64_t now = time(NULL);
	struct dest **pp = &ob->dests, *d;

	(void)fd;
	(void)what;
	line_prune(ob);
	while ((d = *pp) != NULL) {
		if (d->slots == NULL && d->head == NULL && !d->in_line &&
		    d->down_until <= now) {
			*pp = d->next;
			free(d);
		} else {
			pp = &d->next;
		}
	}
}

void
outbound_flush(struct outbound *ob)
{
	for (struct dest *d = ob->dests; d != NULL; d = d->next)
		d->down_until = 0;
}

/* One client context per distinct tls_ca of the transports table. */
static int
outbound_cas_new(struct outbound *ob, char *err, size_t errlen)
{
	const struct config *cfg = ob->cfg;
	char why[256];

	ob->cas = xcalloc(cfg->n_transports + 1, sizeof(*ob->cas));
	for (size_t i = 0; i < cfg->n_transports; i++) {
		const struct transport_conf *t = &cfg->transports[i];

		if (t->tls_ca == NULL || slot_tls_ctx(ob, t) != ob->tls_ctx)
			continue;
		ob->cas[ob->n_cas].ctx = tls_client_ctx_new(t->tls_ca_pem,
		    t->tls_ca_len, why, sizeof(why));
		if (ob->cas[ob->n_cas].ctx == NULL) {
			snprintf(err, errlen, "tls_ca %s: %s", t->tls_ca, why);
			return -1;
		}
		ob->cas[ob->n_cas++].path = t->tls_ca;
	}
	return 0;
}

static void
outbound_cas_free(struct outbound *ob)
{
	for (size_t i = 0; i < ob->n_cas; i++)
		SSL_CTX_free(ob->cas[i].ctx);
	free(ob->cas);
	SSL_CTX_free(ob->tls_ctx);
}

struct outbound *
outbound_new(struct event_base *base, const struct config *cfg,
    struct resolver *res, struct workpool *io, char *err, size_t errlen)
{
	struct outbound *ob = xcalloc(1, sizeof(*ob));

	ob->base = base;
	TAILQ_INIT(&ob->line);
	TAILQ_INIT(&ob->idle);
	ob->cfg = cfg;
	ob->res = res;
	ob->io = io;
	ob->tls_ctx = tls_client_ctx_new(NULL, 0, err, errlen);
	if (ob->tls_ctx == NULL || outbound_cas_new(ob, err, errlen) < 0) {
		outbound_cas_free(ob);
		free(ob);
		return NULL;
	}
	ob->later_ev = evtimer_new(base, job_later_cb, ob);
	ob->sweep = event_new(base, -1, EV_PERSIST, outbound_sweep_cb, ob);
	event_add(ob->sweep, &(struct timeval){ OUTBOUND_SWEEP_INTERVAL, 0 });
	return ob;
}

void
outbound_free(struct outbound *ob)
{
	struct dest *d, *dn;
	struct conn_slot *s, *sn;

	if (ob == NULL)
		return;
	for (d = ob->dests; d != NULL; d = dn) {
		dn = d->next;
		for (s = d->slots; s != NULL; s = sn) {
			sn = s->next;
			smtp_conn_close(s->conn);
			slot_release(s);
		}
		free(d);
	}
	event_free(ob->later_ev);
	event_free(ob->sweep);
	outbound_cas_free(ob);
	free(ob);
}
