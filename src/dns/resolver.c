/*
 * libunbound behind the event loop: see resolver.h.
 *
 * libunbound's async mode (a worker thread) is used rather than its
 * event API, because the async mode hands callbacks a parsed ub_result;
 * the event API gives raw packets we would have to parse ourselves.
 *
 * Each query owns a small record so cancellation is explicit: after
 * resolver_cancel() the callback is never run and the record is freed.
 * Query ids are ours, not libunbound's, because a query answered from
 * the cache (dns_cache.c: positive answers, for their TTL) never reaches
 * libunbound: its answer is handed over later in the same loop pass, as
 * every callback runs after resolver_query has returned.  Each trip
 * through libunbound's thread costs some fifteen system calls (its pipe
 * is switched between blocking and not around every message).
 */
#include "dns/resolver.h"

#include <event2/event.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "dns/dns_cache.h"

struct pending {
	struct resolver *r;
	resolver_cb cb;
	void *arg;
	int id;			/* ours */
	int ub_id;		/* libunbound's, unless hit */
	struct dns_answer *hit;	/* answered from the cache */
	char *name;		/* hit: the name, for the ub_result */
	int rrtype;
	struct pending *next;
};

struct resolver {
	struct ub_ctx *ctx;
	struct event *ev;
	struct event *hits;		/* hands over cached answers */
	struct dns_cache *cache;
	struct pending *pending;	/* queries not yet answered */
	int next_id;
};

/* Milliseconds, monotonic (the vDSO: no system call). */
static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
pending_free(struct pending *p)
{
	free(p->hit);
	free(p->name);
	free(p);
}

/*
 * With a configured nameserver, every name goes to it (RFC 6761 6.2:
 * resolver libraries should send queries for special-use names to their
 * configured server, which is where a lab's .test zone or a LAN's
 * reverse zone lives).  libunbound otherwise answers these itself from
 * its built-in local zones (services/localzone.c): the names below, and
 * the RFC 6303 / AS112 set (10/8, 172.16/12, 192.168/16, fd00::/8,
 * home.arpa, ...), which "unblock-lan-zones" drops as a whole.  The
 * others are declared "transparent" zones with no data of ours: unbound
 * then enters no default content for them and resolves every name in
 * them the normal way, through the forwarder.  ("nodefault" would say
 * it better, but libunbound 1.17's parser keeps the type in the zone
 * name, and the zone stays.)  Set before the context is finalized
 * (first query, or any ub_ctx_zone_* call).
 */
static const char *special_use_zones[] = {
	"localhost.",
	"127.in-addr.arpa.",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"onion.",
	"test.",
	"invalid.",
};

static void
unlink_pending(struct resolver *r, struct pending *p)
{
	for (struct pending **pp = &r->pending; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static void
answer_cb(void *arg, int err, struct ub_result *res)
{
	struct pending *p = arg;
	enum dns_status st;

	unlink_pending(p->r, p);
	if (err != 0 || res == NULL)
		st = DNS_TEMPFAIL;
	else if (res->rcode == 3 /* NXDOMAIN */ || (res->rcode == 0 && !res->havedata))
		st = DNS_NOTFOUND;
	else if (res->rcode != 0 || res->bogus)
		st = DNS_TEMPFAIL;
	else
		st = DNS_OK;
	if (st == DNS_OK && res->qname != NULL)
		dns_cache_put(p->r->cache, res->qname, res->qtype, res->data,
		    res->len, res->ttl, now_ms());
	p->cb(p->arg, st, st == DNS_OK ? res : NULL);
	if (res != NULL)
		ub_resolve_free(res);
	pending_free(p);
}

/* The cached answers of this pass, each as the ub_result libunbound
 * would have given.  A callback may start or cancel queries: the list
 * is searched again after each. */
static void
hits_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *r = arg;
	struct pending *p;

	(void)fd;
	(void)what;
	for (;;) {
		struct ub_result res;

		for (p = r->pending; p != NULL && p->hit == NULL; p = p->next)
			;
		if (p == NULL)
			return;
		unlink_pending(r, p);
		memset(&res, 0, sizeof(res));
		res.qname = p->name;
		res.qtype = p->rrtype;
		res.qclass = 1;
		res.data = p->hit->data;
		res.len = p->hit->len;
		res.havedata = 1;
		res.ttl = p->hit->ttl;
		p->cb(p->arg, DNS_OK, &res);
		pending_free(p);
	}
}

static void
readable_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *r = arg;

	(void)fd;
	(void)what;
	if (ub_process(r->ctx) != 0)
		log_warn("event=dns-error reason=\"ub_process failed\"");
}

static int
configure(struct ub_ctx *ctx, const char *nameserver, char *err, size_t errlen)
{
	int rc;

	if ((rc = ub_ctx_async(ctx, 1)) != 0)
		goto fail;
	if (nameserver == NULL) {
		if ((rc = ub_ctx_resolvconf(ctx, NULL)) != 0 ||
		    (rc = ub_ctx_hosts(ctx, NULL)) != 0)
			goto fail;
		return 0;
	}
	/* insecure-lan-zones: the LAN zones are ordinary zones of the
	 * configured server, not answered from a DNSSEC view of them. */
	if ((rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0 ||
	    (rc = ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes")) != 0 ||
	    (rc = ub_ctx_set_option(ctx, "insecure-lan-zones:", "yes")) != 0 ||
	    (rc = ub_ctx_set_fwd(ctx, nameserver)) != 0)
		goto fail;
	for (size_t i = 0; i < sizeof(special_use_zones) / sizeof(*special_use_zones); i++) {
		char zone[128];

		snprintf(zone, sizeof(zone), "%s transparent", special_use_zones[i]);
		if ((rc = ub_ctx_set_option(ctx, "local-zone:", zone)) != 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s", ub_strerror(rc));
	return -1;
}

struct resolver *
resolver_new(struct event_base *base, const char *nameserver, char *err, size_t errlen)
{
	struct resolver *r = xcalloc(1, sizeof(*r));

	r->ctx = ub_ctx_create();
	if (r->ctx == NULL) {
		snprintf(err, errlen, "cannot create a libunbound context");
		free(r);
		return NULL;
	}
	if (configure(r->ctx, nameserver, err, errlen) < 0) {
		ub_ctx_delete(r->ctx);
		free(r);
		return NULL;
	}
	r->ev = event_new(base, ub_fd(r->ctx), EV_READ | EV_PERSIST, readable_cb, r);
	r->hits = event_new(base, -1, 0, hits_cb, r);
	if (r->ev == NULL || r->hits == NULL)
		panic("cannot create an event");
	event_add(r->ev, NULL);
	r->cache = dns_cache_new();
	return r;
}

int
resolver_query(struct resolver *r, const char *name, int rrtype,
    resolver_cb cb, void *arg)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	int rc;

	p->r = r;
	p->cb = cb;
	p->arg = arg;
	p->id = r->next_id;
	r->next_id = r->next_id == INT_MAX ? 0 : r->next_id + 1;
	p->hit = dns_cache_get(r->cache, name, rrtype, now_ms());
	if (p->hit != NULL) {
		p->name = xstrdup(name);
		p->rrtype = rrtype;
		event_active(r->hits, 0, 0);
		rc = 0;
	} else {
		rc = ub_resolve_async(r->ctx, name, rrtype, 1 /* IN */, p,
		    answer_cb, &p->ub_id);
	}
	if (rc != 0) {
		char safe[LOG_SAFE_SIZE(256)];	/* a name: 255 octets */

		/* The name may be a client's (a recipient's domain). */
		log_warn("event=dns-error name=\"%s\" reason=\"%s\"",
		    log_safe(name, safe, sizeof(safe)), ub_strerror(rc));
		pending_free(p);
		return -1;
	}
	p->next = r->pending;
	r->pending = p;
	return p->id;
}

void
resolver_cancel(struct resolver *r, int id)
{
	for (struct pending *p = r->pending; p != NULL; p = p->next) {
		if (p->id != id)
			continue;
		if (p->hit == NULL)
			ub_cancel(r->ctx, p->ub_id);
		unlink_pending(r, p);
		pending_free(p);
		return;
	}
}

void
resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	while (r->pending != NULL)
		resolver_cancel(r, r->pending->id);
	event_free(r->ev);
	event_free(r->hits);
	dns_cache_free(r->cache);
	ub_ctx_delete(r->ctx);
	free(r);
}
