/*
 * The outbound scheduler (see outbound.h): destinations, their job
 * queues, and connection slots, each slot being one connection of a
 * destination that looks up the hosts, tries them in order and then
 * carries jobs over the connection it got.
 *
 * Host order: the MX plan of dns/mx.c (preference, random among equals,
 * IPv6 then IPv4 of each host); the next address on a connection
 * failure, a 4xx or 5xx greeting, a refused EHLO or a failed TLS setup
 * (RFC 5321 5.1, 4.5.4.1).  A broken TLS handshake under tls = "may" is
 * retried once in plaintext on the same address (RFC 7435: opportunistic
 * TLS must not make mail undeliverable).
 *
 * Everything runs on the qmgr's loop; every callback of smtp_client.c
 * and mx.c arrives from the loop, never re-entrantly, and job->done is
 * always called from a callback or a zero timer, never from submit.
 *
 * Each connection gets the transport's TLS policy, the client context of
 * its trust setting (the system store, or one per distinct tls_ca, all
 * made in outbound_new) and the source address of the destination's
 * family: the transport's own, else delivery.source_address for smtp
 * and relay (LMTP is local delivery; like Postfix's lmtp_bind_address
 * it has only its own).  A certificate that fails tls = "verify" is no
 * broken handshake: the next address, never plaintext.
 */
#include "queue/outbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "dns/mx.h"
#include "queue/attempt.h"
#include "tls/tls.h"

/* Connections one slot attempts before it gives up: bounds the time
 * a destination with many hosts and addresses can take (each attempt
 * up to delivery.connect_timeout plus the greeting), as Postfix's
 * smtp_mx_address_limit does. */
#define OUTBOUND_TRIES_MAX	10
/* Seconds between sweeps of unused destinations. */
#define OUTBOUND_SWEEP_INTERVAL	60

struct dest;

/* One connection slot of a destination: counted against its
 * destination_concurrency and max_connections from the MX lookup until
 * the connection is closed.  (Not the smtpd's struct session: that is
 * the other end of a connection, in another process.) */
struct conn_slot {
	struct outbound *ob;
	struct dest *d;
	struct mx_lookup *lookup;
	struct mx_result *plan;
	size_t host_i, addr_i;
	bool plaintext_retry;		/* this address again without TLS */
	unsigned tries;			/* connections attempted so far */
	unsigned round;			/* d->round when the slot started */
	bool ready;			/* conn set up: may carry jobs */
	struct smtp_conn *conn;
	struct outbound_job *job;	/* in progress, or NULL */
	unsigned carried;		/* jobs this connection has ended */
	struct event *idle_timer;
	struct event *unix_plan;	/* lmtp:unix: the plan, from the loop */
	bool idle;			/* on ob's idle list */
	struct conn_slot *idle_prev, *idle_next;
	struct deliver_result last_fail;
	struct conn_slot *next;		/* in d->slots */
};

struct dest {
	struct outbound *ob;
	char key[SMTP_DOMAIN_MAX + 64];
	const struct transport_conf *t;
	char nexthop[SMTP_DOMAIN_MAX + 1];
	struct outbound_job *head, *tail;	/* waiting jobs */
	size_t n_waiting;
	struct conn_slot *slots;
	unsigned n_slots, n_setup;	/* all / not yet ready */
	unsigned failures;		/* consecutive rounds unreachable */
	unsigned round;			/* rounds of attempts counted so far */
	int64_t down_until;
	struct deliver_result down_why;
	bool in_line;			/* on ob's line for a free slot */
	struct dest *line_prev, *line_next;
	struct dest *next;
};

/* The client context of one tls_ca (transports sharing it share it). */
struct outbound_ca {
	const char *path;		/* the transport's tls_ca */
	SSL_CTX *ctx;
};

struct outbound {
	struct event_base *base;
	const struct config *cfg;
	struct resolver *res;
	struct workpool *io;		/* reads message data ahead */
	SSL_CTX *tls_ctx;		/* the system store */
	struct outbound_ca *cas;	/* one per distinct tls_ca */
	size_t n_cas;
	struct dest *dests;
	unsigned n_slots;		/* all destinations */
	/* Destinations that want another connection, in turn: a free slot
	 * goes to the first (round robin; see outbound_grant()). */
	struct dest *line_head, *line_tail;
	/* Ready connections with no job, the longest idle first: they give
	 * their slot up when a destination waits for one. */
	struct conn_slot *idle_head, *idle_tail;
	/* Jobs of a backed-off destination, finished from the loop (never
	 * from inside outbound_submit) by later_ev. */
	struct outbound_job *later_head, *later_tail;
	struct event *later_ev;
	struct event *sweep;		/* forgets destinations nobody uses */
};

static const struct smtp_conn_ops slot_ops;
static void dest_kick(struct dest *d);
/* A zero timer: the callback runs from the loop, never from inside the
 * call that arms it. */
static const struct timeval at_once = { 0, 0 };
static void slot_try_next(struct conn_slot *s);
static void slot_start(struct outbound *ob, struct dest *d);

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

static void
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

static struct outbound_job *
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
static void
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
static void
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

/* -- sharing the slots: the line, idle connections ---------------------- */

/*
 * The total limit (delivery.max_connections) is shared by turns: a
 * destination that wants another connection queues up in ob's line, and
 * each free slot goes to the first in line, which goes to the back if it
 * wants more (round robin).  A connection that ends a message gives its
 * slot up, instead of taking its destination's next, when someone in line
 * has a better claim to it: no connection at all, or two fewer than its
 * destination has (so shares settle within one of each other, and then
 * connections are reused rather than churned); an idle connection gives
 * its slot up to anyone in line.  So one destination with a backlog, or a
 * slow one, cannot hold every slot while mail for others waits.  Without
 * contention a connection carries up to delivery.connection_reuse_limit
 * messages of its destination.
 */

/* d could use another connection: more of its jobs wait than its
 * connections in setup will take, and its own limit allows. */
static bool
dest_wants_slot(const struct dest *d)
{
	return d->n_waiting > d->n_setup &&
	    d->n_slots < d->ob->cfg->out_dest_concurrency;
}

static void
line_push(struct outbound *ob, struct dest *d)
{
	if (d->in_line)
		return;
	d->in_line = true;
	d->line_next = NULL;
	d->line_prev = ob->line_tail;
	if (ob->line_tail != NULL)
		ob->line_tail->line_next = d;
	else
		ob->line_head = d;
	ob->line_tail = d;
}

static void
line_remove(struct outbound *ob, struct dest *d)
{
	if (!d->in_line)
		return;
	if (d->line_prev != NULL)
		d->line_prev->line_next = d->line_next;
	else
		ob->line_head = d->line_next;
	if (d->line_next != NULL)
		d->line_next->line_prev = d->line_prev;
	else
		ob->line_tail = d->line_prev;
	d->in_line = false;
	d->line_prev = d->line_next = NULL;
}

/* The first in line that still wants a slot (the others leave it). */
static struct dest *
line_first(struct outbound *ob)
{
	while (ob->line_head != NULL && !dest_wants_slot(ob->line_head))
		line_remove(ob, ob->line_head);
	return ob->line_head;
}

/* Drops every destination that no longer wants a slot, so the sweep
 * can free them. */
static void
line_prune(struct outbound *ob)
{
	struct dest *d = ob->line_head, *next;

	for (; d != NULL; d = next) {
		next = d->line_next;
		if (!dest_wants_slot(d))
			line_remove(ob, d);
	}
}

/*
 * The total limit is reached and a destination other than d waits for a
 * slot; with fair set, only one with a better claim than d (none, or at
 * least two fewer connections than d has).
 */
static bool
others_in_line(struct outbound *ob, const struct dest *d, bool fair)
{
	if (ob->n_slots < ob->cfg->out_max_connections)
		return false;
	for (struct dest *e = line_first(ob); e != NULL; e = e->line_next)
		if (e != d && dest_wants_slot(e) && (!fair || e->n_slots == 0 ||
		    e->n_slots + 1 < d->n_slots))
			return true;
	return false;
}

static void
idle_add(struct outbound *ob, struct conn_slot *s)
{
	if (s->idle)
		return;
	s->idle = true;
	s->idle_next = NULL;
	s->idle_prev = ob->idle_tail;
	if (ob->idle_tail != NULL)
		ob->idle_tail->idle_next = s;
	else
		ob->idle_head = s;
	ob->idle_tail = s;
}

static void
idle_del(struct outbound *ob, struct conn_slot *s)
{
	if (!s->idle)
		return;
	if (s->idle_prev != NULL)
		s->idle_prev->idle_next = s->idle_next;
	else
		ob->idle_head = s->idle_next;
	if (s->idle_next != NULL)
		s->idle_next->idle_prev = s->idle_prev;
	else
		ob->idle_tail = s->idle_prev;
	s->idle = false;
	s->idle_prev = s->idle_next = NULL;
}

/* -- connection slots --------------------------------------------------- */

static void
slot_unlink(struct conn_slot *s)
{
	struct dest *d = s->d;
	struct conn_slot **pp;

	for (pp = &d->slots; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	d->n_slots--;
	s->ob->n_slots--;
}

/* What s owns, its lookup and events first: nothing it started calls
 * back into it afterwards. */
static void
slot_release(struct conn_slot *s)
{
	mx_lookup_cancel(s->lookup);
	mx_result_free(s->plan);
	if (s->unix_plan != NULL)
		event_free(s->unix_plan);
	if (s->idle_timer != NULL)
		event_free(s->idle_timer);
	free(s);
}

/* Frees s (its connection already closed or freed); no slot goes
 * anywhere yet. */
static void
slot_free(struct conn_slot *s)
{
	idle_del(s->ob, s);
	slot_unlink(s);
	slot_release(s);
}

/* The slot is over (its connection already closed or freed): the jobs
 * of its destination and the line may use the free slot. */
static void
slot_end(struct conn_slot *s)
{
	struct dest *d = s->d;

	slot_free(s);
	dest_kick(d);
}

/* Closes a ready connection (QUIT when idle) and ends its slot. */
static void
slot_close(struct conn_slot *s)
{
	smtp_conn_close(s->conn);
	s->conn = NULL;
	slot_end(s);
}

static void
slot_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	slot_close(arg);
}

/* Ready connection: the next waiting job, or idle for a while (unless
 * another destination waits for the slot, or caching is off). */
static void
slot_next(struct conn_slot *s)
{
	struct dest *d = s->d;
	struct outbound *ob = s->ob;
	struct timeval tv = { (time_t)ob->cfg->out_cache_time, 0 };

	s->job = dest_pop(d);
	if (s->job != NULL) {
		idle_del(ob, s);
		evtimer_del(s->idle_timer);
		smtp_conn_send(s->conn, &s->job->msg);
		return;
	}
	if (ob->cfg->out_cache_time == 0 || others_in_line(ob, d, false)) {
		slot_close(s);
		return;
	}
	idle_add(ob, s);
	evtimer_add(s->idle_timer, &tv);
}

/*
 * Free slots go to the destinations in line, in turn: one each, and
 * back to the end of the line for one that wants more.  At the total
 * limit, the longest-idle connection gives its slot up for the first
 * in line; with none idle, the line waits for a slot to end.
 */
static void
outbound_grant(struct outbound *ob)
{
	struct dest *d;

	while ((d = line_first(ob)) != NULL) {
		if (ob->n_slots >= ob->cfg->out_max_connections) {
			if (ob->idle_head == NULL)
				return;
			/* An idle slot belongs to a destination with no
			 * waiting job: closing it starts nothing there. */
			smtp_conn_close(ob->idle_head->conn);
			ob->idle_head->conn = NULL;
			slot_free(ob->idle_head);
			continue;
		}
		line_remove(ob, d);
		slot_start(ob, d);
		if (dest_wants_slot(d))
			line_push(ob, d);
	}
}

/* A slot that never got a usable connection: nothing to reuse. */
static void
slot_give_up(struct conn_slot *s, const struct deliver_result *res,
    bool unreachable)
{
	struct dest *d = s->d;
	bool others_ready;

	d->n_setup--;
	/* While other connections of d work, a temporary failure of this
	 * one leaves the waiting jobs to them. */
	others_ready = d->n_slots - d->n_setup > 1;
	if (res->status != DELIVER_TEMPFAIL)
		dest_fail_waiting(d, res);
	else if (!others_ready && unreachable)
		dest_down(s->ob, d, s, res);
	else if (!others_ready)
		dest_fail_waiting(d, res);
	s->conn = NULL;
	mx_result_free(s->plan);
	s->plan = NULL;
	slot_end(s);
}

static void
slot_ready(void *arg, struct smtp_conn *c, const struct deliver_result *fail)
{
	struct conn_slot *s = arg;
	struct dest *d = s->d;
	char safe[2 * DELIVER_TEXT_MAX], key[LOG_SAFE_SIZE(sizeof(d->key))];
	char relay[LOG_SAFE_SIZE(SMTP_DOMAIN_MAX + 80)];	/* name[IPv6]:port */

	/* dest holds the recipient's domain, relay the MX host's name. */
	log_safe(d->key, key, sizeof(key));
	log_safe(smtp_conn_relay(c), relay, sizeof(relay));
	if (fail != NULL) {
		s->last_fail = *fail;
		s->conn = NULL;		/* freed by smtp_client.c */
		/* The reason may quote the server: quotes escaped. */
		log_info("event=connect-failed dest=\"%s\" relay=\"%s\" reason=\"%s\"",
		    key, relay, log_safe(fail->text, safe, sizeof(safe)));
		if (smtp_conn_tls_failed(c) && d->t->tls == TRANSPORT_TLS_MAY &&
		    !s->plaintext_retry) {
			s->plaintext_retry = true;
		} else {
			s->plaintext_retry = false;
			s->addr_i++;
		}
		slot_try_next(s);
		return;
	}
	d->n_setup--;
	s->ready = true;
	d->failures = 0;
	d->down_until = 0;
	log_debug("event=connected dest=\"%s\" relay=\"%s\" tls=%s", key,
	    relay, smtp_conn_tls(c));
	slot_next(s);
}

/*
 * A transaction ended.  The connection carries the next job of its
 * destination unless the server is leaving (not usable: a 421, a broken
 * reply), it has carried delivery.connection_reuse_limit messages, or
 * another destination in line has a better claim to its slot (then the
 * slot goes round).
 */
static void
slot_done(void *arg, struct smtp_conn *c, struct smtp_client_msg *m)
{
	struct conn_slot *s = arg;
	struct outbound_job *job = s->job;

	(void)m;
	s->job = NULL;
	s->carried++;
	snprintf(job->relay, sizeof(job->relay), "%s", smtp_conn_relay(c));
	snprintf(job->tls, sizeof(job->tls), "%s", smtp_conn_tls(c));
	job_finish(job);
	if (smtp_conn_usable(c) && s->carried < s->ob->cfg->out_reuse_limit &&
	    !others_in_line(s->ob, s->d, true)) {
		slot_next(s);
		return;
	}
	/* This destination just had its turn: to the end of the line. */
	line_remove(s->ob, s->d);
	slot_close(s);
}

static void
slot_lost(void *arg, struct smtp_conn *c)
{
	struct conn_slot *s = arg;

	(void)c;
	s->conn = NULL;		/* freed by smtp_client.c */
	slot_end(s);
}

static const struct smtp_conn_ops slot_ops = {
	slot_ready, slot_done, slot_lost,
};

/* The client context for t's trust setting. */
static SSL_CTX *
outbound_tls_ctx(const struct outbound *ob, const struct transport_conf *t)
{
	if (t->tls_ca != NULL)
		for (size_t i = 0; i < ob->n_cas; i++)
			if (strcmp(ob->cas[i].path, t->tls_ca) == 0)
				return ob->cas[i].ctx;
	return ob->tls_ctx;
}

/* The source address for a connection to sa, into p (none: len 0). */
static void
outbound_source(const struct outbound *ob, const struct transport_conf *t,
    const struct sockaddr *sa, struct smtp_conn_params *p)
{
	/* delivery.source_address is for mail leaving the host. */
	const struct source_address *all = t->kind == TRANSPORT_LMTP ? NULL :
	    &ob->cfg->out_source;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = t->source.v4.sin_family != 0 ?
		    &t->source.v4 : all != NULL && all->v4.sin_family != 0 ?
		    &all->v4 : NULL;

		if (v4 != NULL) {
			memcpy(&p->source, v4, sizeof(*v4));
			p->source_len = sizeof(*v4);
		}
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = t->source.v6.sin6_family != 0 ?
		    &t->source.v6 : all != NULL && all->v6.sin6_family != 0 ?
		    &all->v6 : NULL;

		if (v6 != NULL) {
			memcpy(&p->source, v6, sizeof(*v6));
			p->source_len = sizeof(*v6);
		}
	}
}

static void
slot_connect(struct conn_slot *s, const struct sockaddr *sa, socklen_t len,
    const char *name)
{
	const struct transport_conf *t = s->d->t;
	struct smtp_conn_params p;

	memset(&p, 0, sizeof(p));
	p.lmtp = t->kind == TRANSPORT_LMTP;
	p.helo = s->ob->cfg->hostname;
	p.tls = t->tls;
	p.no_tls = s->plaintext_retry;
	p.auth_user = t->auth_user;
	p.auth_password = t->auth_password;
	p.connect_timeout = s->ob->cfg->out_connect_timeout;
	p.timeout_greeting = s->ob->cfg->out_timeout_greeting;
	p.timeout_command = s->ob->cfg->out_timeout_command;
	p.timeout_data_init = s->ob->cfg->out_timeout_data_init;
	p.timeout_data_block = s->ob->cfg->out_timeout_data_block;
	p.timeout_data_end = s->ob->cfg->out_timeout_data_end;
	p.tls_ctx = outbound_tls_ctx(s->ob, t);
	outbound_source(s->ob, t, sa, &p);
	p.pool = s->ob->io;
	s->conn = smtp_conn_open(s->ob->base, &p, sa, len, name, &slot_ops, s);
}

static socklen_t
sockaddr_len(const struct sockaddr_storage *ss)
{
	switch (ss->ss_family) {
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	case AF_UNIX:
		return sizeof(struct sockaddr_un);
	default:
		return sizeof(struct sockaddr_in);
	}
}

/* The next address of the plan, or give up with the last failure. */
static void
slot_try_next(struct conn_slot *s)
{
	struct mx_result *plan = s->plan;
	const struct mx_host *h;

	while (s->host_i < plan->n_hosts &&
	    s->addr_i >= plan->hosts[s->host_i].n_addrs) {
		s->host_i++;
		s->addr_i = 0;
	}
	if (s->host_i == plan->n_hosts || s->tries == OUTBOUND_TRIES_MAX) {
		slot_give_up(s, &s->last_fail, true);
		return;
	}
	s->tries++;
	h = &plan->hosts[s->host_i];
	slot_connect(s, (const struct sockaddr *)&h->addrs[s->addr_i],
	    sockaddr_len(&h->addrs[s->addr_i]), h->name);
}

/* What a lookup that found no host means for the mail. */
static void
plan_failure(const struct conn_slot *s, const struct mx_result *plan,
    struct deliver_result *res)
{
	memset(res, 0, sizeof(*res));
	if (plan->null_mx) {
		res->status = DELIVER_PERMFAIL;
		snprintf(res->code, sizeof(res->code), "5.1.10");
	} else if (plan->loops) {
		res->status = DELIVER_PERMFAIL;
		snprintf(res->code, sizeof(res->code), "5.4.6");
	} else if (plan->status == DNS_NOTFOUND) {
		res->status = DELIVER_PERMFAIL;
		snprintf(res->code, sizeof(res->code), "5.1.2");
	} else {
		res->status = DELIVER_TEMPFAIL;
		snprintf(res->code, sizeof(res->code), "4.4.3");
	}
	snprintf(res->text, sizeof(res->text), "%s%s", plan->error[0] != '\0'
	    ? plan->error : "no mail server found for ", plan->error[0] != '\0'
	    ? "" : s->d->key);
}

static void
slot_plan_cb(void *arg, struct mx_result *plan)
{
	struct conn_slot *s = arg;
	struct deliver_result res;

	s->lookup = NULL;
	s->plan = plan;
	if (plan->status != DNS_OK || plan->null_mx || plan->loops ||
	    plan->n_hosts == 0) {
		plan_failure(s, plan, &res);
		/* DNS trouble is not the hosts' fault: no back-off. */
		slot_give_up(s, &res, false);
		return;
	}
	memset(&s->last_fail, 0, sizeof(s->last_fail));
	s->last_fail.status = DELIVER_TEMPFAIL;
	snprintf(s->last_fail.code, sizeof(s->last_fail.code), "4.4.1");
	snprintf(s->last_fail.text, sizeof(s->last_fail.text),
	    "no host of %s could be reached", s->d->key);
	slot_try_next(s);
}

/* An LMTP socket path as a one-host plan, reported from the loop. */
static void
slot_unix_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_slot *s = arg;
	struct mx_result *plan = xcalloc(1, sizeof(*plan));
	struct sockaddr_un *sun;

	(void)fd;
	(void)what;
	plan->status = DNS_OK;
	plan->hosts = xcalloc(1, sizeof(*plan->hosts));
	plan->n_hosts = 1;
	snprintf(plan->hosts[0].name, sizeof(plan->hosts[0].name), "%s",
	    s->d->t->path);
	plan->hosts[0].addrs = xcalloc(1, sizeof(*plan->hosts[0].addrs));
	plan->hosts[0].n_addrs = 1;
	sun = (struct sockaddr_un *)&plan->hosts[0].addrs[0];
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", s->d->t->path);
	slot_plan_cb(s, plan);
}

static void
slot_start(struct outbound *ob, struct dest *d)
{
	struct conn_slot *s = xcalloc(1, sizeof(*s));
	const struct transport_conf *t = d->t;
	unsigned port = t->kind == TRANSPORT_SMTP ? ob->cfg->smtp_port : t->port;

	s->ob = ob;
	s->d = d;
	s->round = d->round;
	s->idle_timer = evtimer_new(ob->base, slot_idle_cb, s);
	s->next = d->slots;
	d->slots = s;
	d->n_slots++;
	d->n_setup++;
	ob->n_slots++;
	if (t->kind == TRANSPORT_LMTP && t->path != NULL) {
		s->unix_plan = evtimer_new(ob->base, slot_unix_cb, s);
		evtimer_add(s->unix_plan, &at_once);
	} else if (t->kind == TRANSPORT_SMTP || t->mx) {
		s->lookup = mx_lookup_start(ob->res, ob->base,
		    t->kind == TRANSPORT_SMTP ? d->nexthop : t->host,
		    ob->cfg->hostname, port, ob->cfg->dns_delivery_timeout,
		    slot_plan_cb, s);
	} else {
		s->lookup = mx_lookup_host_start(ob->res, ob->base, t->host,
		    port, ob->cfg->dns_delivery_timeout, slot_plan_cb, s);
	}
}

/* Give waiting jobs to idle connections; for the rest, get in line for
 * new ones (never more in setup than jobs waiting), and hand out the
 * free slots. */
static void
dest_kick(struct dest *d)
{
	struct outbound *ob = d->ob;
	struct conn_slot *s;

	for (s = d->slots; s != NULL && d->head != NULL; s = s->next)
		if (s->ready && s->job == NULL)
			slot_next(s);
	if (dest_wants_slot(d))
		line_push(ob, d);
	outbound_grant(ob);
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

		if (t->tls_ca == NULL || outbound_tls_ctx(ob, t) != ob->tls_ctx)
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
