/*
 * A connection slot of the outbound scheduler: one connection of a
 * destination, counted against its destination_concurrency and
 * max_connections from the MX lookup until the connection is closed.
 * The slot looks up the hosts (or takes an lmtp:unix: socket as a
 * one-host plan), tries them in order, and then carries jobs of its
 * destination over the connection it got, idles, or ends.  Called by
 * outbound.c (slot_next for a waiting job, slot_release at the free,
 * slot_tls_ctx when it makes the CA contexts) and outbound_share.c
 * (slot_start for a granted slot, slot_free for an idle one given up);
 * it calls them back when a job or a slot ends, or no host could be
 * reached.
 *
 * Host order: the MX plan of dns/mx.c (preference, random among equals,
 * IPv6 then IPv4 of each host); the next address on a connection
 * failure, a 4xx or 5xx greeting, a refused EHLO or a failed TLS setup
 * (RFC 5321 5.1, 4.5.4.1).  A broken TLS handshake under tls = "may" is
 * retried once in plaintext on the same address (RFC 7435: opportunistic
 * TLS must not make mail undeliverable).
 *
 * Each connection gets the transport's TLS policy, the client context of
 * its trust setting (the system store, or one per distinct tls_ca, all
 * made in outbound_new) and the source address of the destination's
 * family: the transport's own, else delivery.source_address for smtp
 * and relay (LMTP is local delivery; like Postfix's lmtp_bind_address
 * it has only its own).  A certificate that fails tls = "verify" is no
 * broken handshake: the next address, never plaintext.
 *
 * It trusts the plan of dns/mx.c (bounded there) and the results of
 * smtp_client.c; whatever a server or DNS said reaches the logs through
 * log_safe() only.  A slot attempts at most OUTBOUND_TRIES_MAX
 * connections.  Whatever a slot started (its lookup, its timers, its
 * connection) is cancelled or freed with it, so no callback reaches a
 * freed slot.
 */
#include "queue/outbound_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "dns/mx.h"

/* Connections one slot attempts before it gives up: bounds the time
 * a destination with many hosts and addresses can take (each attempt
 * up to delivery.connect_timeout plus the greeting), as Postfix's
 * smtp_mx_address_limit does. */
#define OUTBOUND_TRIES_MAX	10

static void slot_try_next(struct conn_slot *s);

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
void
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
void
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

/* Ready connection: the next spare waiting job (not one a connection
 * in setup was opened for), or idle for a while (unless another
 * destination waits for the slot, or caching is off). */
void
slot_next(struct conn_slot *s)
{
	struct dest *d = s->d;
	struct outbound *ob = s->ob;
	struct timeval tv = { (time_t)ob->cfg->out_cache_time, 0 };

	s->job = dest_spare_job(d) ? dest_pop(d) : NULL;
	if (s->job != NULL) {
		idle_del(ob, s);
		evtimer_del(s->idle_timer);
		smtp_conn_send(s->conn, &s->job->msg);
		return;
	}
	if (ob->cfg->out_cache_time == 0 || line_others_waiting(ob, d, false)) {
		slot_close(s);
		return;
	}
	idle_add(ob, s);
	evtimer_add(s->idle_timer, &tv);
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
	    !line_others_waiting(s->ob, s->d, true)) {
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
SSL_CTX *
slot_tls_ctx(const struct outbound *ob, const struct transport_conf *t)
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
	p.tls_ctx = slot_tls_ctx(s->ob, t);
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

void
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
