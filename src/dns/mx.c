/*
 * MX resolution: see mx.h.  Called by the outbound delivery (one lookup
 * per destination domain) and by `decorum route`.
 *
 * A small state machine over resolver queries: MX of the domain; then
 * AAAA and A of every host at once (at most MX_HOSTS_MAX hosts, so at
 * most 2 * MX_HOSTS_MAX queries in flight), all under one deadline.
 * When the MX query finds nothing (NXDOMAIN or NODATA: the resolver does
 * not tell them apart) the domain itself is the implicit MX (RFC 5321
 * 5.1); if it has no address either, the domain is DNS_NOTFOUND.
 *
 * Everything from the network is untrusted: rdata lengths are checked,
 * names decoded by fcrdns_wire_name (letters, digits, '-', '_' only),
 * records beyond the bounds ignored.  The callback always runs from the
 * loop (a zero timer when nothing could be started), never re-entrantly.
 * A temporary failure anywhere that leaves no usable host is
 * DNS_TEMPFAIL: the caller retries, it never bounces.
 */
#include "dns/mx.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "dns/fcrdns.h"

#define RR_A	1
#define RR_MX	15
#define RR_AAAA	28

/* How many MX records are read before ordering and the self-MX cut; the
 * plan keeps MX_HOSTS_MAX of them. */
#define MX_RECORDS_MAX	32

struct mx_query {
	struct mx_lookup *l;
	size_t host;
	int rrtype;
	int id;			/* resolver query id, -1 when answered */
	struct sockaddr_storage addrs[MX_ADDRS_MAX];
	size_t n_addrs;
};

struct mx_lookup {
	struct resolver *r;
	struct event *deadline;
	mx_cb cb;
	void *arg;
	unsigned port;
	char domain[SMTP_DOMAIN_MAX + 1];
	char ours[SMTP_DOMAIN_MAX + 1];
	int mx_query;		/* the MX query, -1 when answered */
	struct mx_query q[2 * MX_HOSTS_MAX];	/* AAAA, A per host */
	size_t n_q, pending;
	bool tempfail;		/* some address lookup failed temporarily */
	bool literal;		/* an IP address: the plan is ready */
	struct mx_result *res;
};

bool
mx_name_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

int
mx_rdata_parse(const unsigned char *p, size_t len, unsigned *pref,
    char *name, size_t namelen)
{
	size_t l;

	if (len < 3)
		return -1;
	*pref = (unsigned)p[0] << 8 | p[1];
	if (fcrdns_wire_name(p + 2, len - 2, name, namelen) < 0)
		return -1;
	l = strlen(name);
	if (l > 1 && name[l - 1] == '.')
		name[l - 1] = '\0';
	return 0;
}

void
mx_hosts_order(struct mx_host *hosts, size_t n, mx_random_fn rnd, void *ctx)
{
	/* Insertion sort: stable, and n is at most MX_RECORDS_MAX. */
	for (size_t i = 1; i < n; i++) {
		struct mx_host h = hosts[i];
		size_t j = i;

		for (; j > 0 && hosts[j - 1].pref > h.pref; j--)
			hosts[j] = hosts[j - 1];
		hosts[j] = h;
	}
	/* Fisher-Yates inside each run of equal preference. */
	for (size_t start = 0, end; start < n; start = end) {
		for (end = start + 1; end < n && hosts[end].pref == hosts[start].pref; end++)
			;
		for (size_t i = end - 1; i > start; i--) {
			size_t k = start + rnd(ctx, (unsigned)(i - start + 1));
			struct mx_host t = hosts[i];

			hosts[i] = hosts[k];
			hosts[k] = t;
		}
	}
}

bool
mx_hosts_cut_self(struct mx_host *hosts, size_t *n, const char *our_hostname)
{
	size_t keep = 0;
	bool found = false;
	unsigned ours = 0;

	if (our_hostname == NULL || our_hostname[0] == '\0')
		return false;
	for (size_t i = 0; i < *n; i++) {
		if (mx_name_equal(hosts[i].name, our_hostname) &&
		    (!found || hosts[i].pref < ours)) {
			ours = hosts[i].pref;
			found = true;
		}
	}
	if (!found)
		return false;
	for (size_t i = 0; i < *n; i++) {
		if (hosts[i].pref < ours)
			hosts[keep++] = hosts[i];
		else
			free(hosts[i].addrs);
	}
	*n = keep;
	return true;
}

void
mx_result_free(struct mx_result *res)
{
	if (res == NULL)
		return;
	for (size_t i = 0; i < res->n_hosts; i++)
		free(res->hosts[i].addrs);
	free(res->hosts);
	free(res);
}

static unsigned
random_below(void *ctx, unsigned n)
{
	(void)ctx;
	return arc4random_uniform(n);
}

static void
cancel_queries(struct mx_lookup *l)
{
	if (l->mx_query >= 0)
		resolver_cancel(l->r, l->mx_query);
	l->mx_query = -1;
	for (size_t i = 0; i < l->n_q; i++) {
		if (l->q[i].id >= 0)
			resolver_cancel(l->r, l->q[i].id);
		l->q[i].id = -1;
	}
}

void
mx_lookup_cancel(struct mx_lookup *l)
{
	if (l == NULL)
		return;
	cancel_queries(l);
	event_free(l->deadline);
	mx_result_free(l->res);
	free(l);
}

static void
finish(struct mx_lookup *l)
{
	struct mx_result *res = l->res;
	mx_cb cb = l->cb;
	void *arg = l->arg;
	char safe[LOG_SAFE_SIZE(sizeof(l->domain))];

	log_debug("event=mx-lookup domain=\"%s\" status=%d hosts=%zu implicit=%d "
	    "null_mx=%d loops=%d", log_safe(l->domain, safe, sizeof(safe)),
	    (int)res->status, res->n_hosts,
	    res->implicit, res->null_mx, res->loops);
	l->res = NULL;
	mx_lookup_cancel(l);
	cb(arg, res);
}

static void fail(struct mx_lookup *l, enum dns_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct mx_lookup *l, enum dns_status st, const char *fmt, ...)
{
	char *e = l->res->error;
	va_list ap;
	int n;

	l->res->status = st;
	va_start(ap, fmt);
	n = vsnprintf(e, sizeof(l->res->error), fmt, ap);
	va_end(ap);
	/* A long domain name may not fit: say so rather than cut silently. */
	if (n < 0 || (size_t)n >= sizeof(l->res->error))
		memcpy(e + sizeof(l->res->error) - 4, "...", 4);
	finish(l);
}

/* Move the addresses found into their hosts, drop hosts without any,
 * and report: called when every query is answered or on the deadline. */
static void
conclude(struct mx_lookup *l)
{
	struct mx_result *res = l->res;
	size_t keep = 0;

	cancel_queries(l);
	for (size_t i = 0; i < l->n_q; i++) {
		struct mx_query *q = &l->q[i];
		struct mx_host *h = &res->hosts[q->host];

		for (size_t k = 0; k < q->n_addrs && h->n_addrs < MX_ADDRS_MAX; k++) {
			if (h->addrs == NULL)
				h->addrs = xcalloc(MX_ADDRS_MAX, sizeof(*h->addrs));
			h->addrs[h->n_addrs++] = q->addrs[k];
		}
	}
	for (size_t i = 0; i < res->n_hosts; i++) {
		if (res->hosts[i].n_addrs > 0)
			res->hosts[keep++] = res->hosts[i];
		else
			free(res->hosts[i].addrs);
	}
	res->n_hosts = keep;
	if (keep > 0) {
		res->status = DNS_OK;
		finish(l);
	} else if (l->tempfail) {
		fail(l, DNS_TEMPFAIL, "no answer for the addresses of the "
		    "mail servers of %s (DNS server failure or timeout)", l->domain);
	} else {
		fail(l, DNS_NOTFOUND, res->implicit ? "%s: no such domain, or no "
		    "MX and no address" : "%s: no address for any of its MX hosts",
		    l->domain);
	}
}

static void
addr_cb(void *arg, enum dns_status st, struct ub_result *ub)
{
	struct mx_query *q = arg;
	struct mx_lookup *l = q->l;
	size_t want = q->rrtype == RR_A ? 4 : 16;

	q->id = -1;
	l->pending--;
	if (st == DNS_TEMPFAIL)
		l->tempfail = true;
	for (int i = 0; st == DNS_OK && ub->data[i] != NULL &&
	    q->n_addrs < MX_ADDRS_MAX; i++) {
		struct sockaddr_storage *ss = &q->addrs[q->n_addrs];

		if ((size_t)ub->len[i] != want)
			continue;
		memset(ss, 0, sizeof(*ss));
		if (q->rrtype == RR_A) {
			struct sockaddr_in *sin = (struct sockaddr_in *)ss;

			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)l->port);
			memcpy(&sin->sin_addr, ub->data[i], 4);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)l->port);
			memcpy(&sin6->sin6_addr, ub->data[i], 16);
		}
		q->n_addrs++;
	}
	if (l->pending == 0)
		conclude(l);
}

/* AAAA and A of every host, in flight together.  IPv6 first in each
 * host's list (RFC 6724 default preference); the client falls back.
 * Returns how many are pending: 0 means none could be started. */
static size_t
start_queries(struct mx_lookup *l)
{
	struct mx_result *res = l->res;

	for (size_t h = 0; h < res->n_hosts; h++) {
		for (int k = 0; k < 2; k++) {
			struct mx_query *q = &l->q[l->n_q++];

			q->l = l;
			q->host = h;
			q->rrtype = k == 0 ? RR_AAAA : RR_A;
			q->id = -1;
		}
	}
	/* Count first: an answer may not arrive before all are started,
	 * but pending must be right whatever the order. */
	l->pending = l->n_q;
	for (size_t i = 0; i < l->n_q; i++) {
		struct mx_query *q = &l->q[i];

		q->id = resolver_query(l->r, res->hosts[q->host].name, q->rrtype,
		    addr_cb, q);
		if (q->id < 0) {
			l->tempfail = true;
			l->pending--;
		}
	}
	return l->pending;
}

static void
start_addresses(struct mx_lookup *l)
{
	if (start_queries(l) == 0)
		conclude(l);
}

static void
implicit_mx(struct mx_lookup *l)
{
	struct mx_result *res = l->res;

	res->implicit = true;
	res->hosts = xcalloc(1, sizeof(*res->hosts));
	res->n_hosts = 1;
	snprintf(res->hosts[0].name, sizeof(res->hosts[0].name), "%s", l->domain);
	/* RFC 5321 5.1: the implicit MX counts as an MX of preference 0
	 * for the loop check as well. */
	if (mx_hosts_cut_self(res->hosts, &res->n_hosts, l->ours)) {
		res->loops = true;
		fail(l, DNS_OK, "mail for %s loops back to us: the domain has "
		    "no MX and is our own host name", l->domain);
		return;
	}
	start_addresses(l);
}

static void
mx_answer_cb(void *arg, enum dns_status st, struct ub_result *ub)
{
	struct mx_lookup *l = arg;
	struct mx_result *res = l->res;
	struct mx_host *hosts;
	size_t n = 0, n_records = 0;
	bool root = false;

	l->mx_query = -1;
	if (st == DNS_TEMPFAIL) {
		fail(l, DNS_TEMPFAIL, "no answer for the MX of %s (DNS server "
		    "failure or timeout)", l->domain);
		return;
	}
	if (st == DNS_NOTFOUND) {
		implicit_mx(l);
		return;
	}
	hosts = xcalloc(MX_RECORDS_MAX, sizeof(*hosts));
	for (int i = 0; ub->data[i] != NULL && n < MX_RECORDS_MAX; i++) {
		struct mx_host *h = &hosts[n];

		n_records++;
		if (mx_rdata_parse((const unsigned char *)ub->data[i],
		    (size_t)ub->len[i], &h->pref, h->name, sizeof(h->name)) < 0)
			continue;
		/* RFC 7505 3: "." is not a host; it only means something
		 * as the domain's single MX. */
		if (strcmp(h->name, ".") == 0) {
			root = true;
			continue;
		}
		n++;
	}
	res->hosts = hosts;
	res->n_hosts = n;
	if (root && n_records == 1) {
		res->null_mx = true;
		fail(l, DNS_OK, "%s accepts no mail: null MX (RFC 7505)", l->domain);
		return;
	}
	if (n == 0) {
		/* MX records that are all unusable: nowhere to go, and
		 * falling back to A would defeat the owner's intent. */
		fail(l, DNS_NOTFOUND, "%s: no usable MX record", l->domain);
		return;
	}
	mx_hosts_order(res->hosts, res->n_hosts, random_below, NULL);
	if (mx_hosts_cut_self(res->hosts, &res->n_hosts, l->ours) &&
	    res->n_hosts == 0) {
		res->loops = true;
		fail(l, DNS_OK, "mail for %s loops back to us: we are its best "
		    "MX (RFC 5321 5.1)", l->domain);
		return;
	}
	if (res->n_hosts > MX_HOSTS_MAX)
		res->n_hosts = MX_HOSTS_MAX;
	start_addresses(l);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mx_lookup *l = arg;

	(void)fd;
	(void)what;
	if (l->literal) {
		l->res->status = DNS_OK;
		finish(l);
		return;
	}
	if (l->mx_query >= 0 || l->n_q == 0) {
		fail(l, DNS_TEMPFAIL, "DNS lookup of the MX of %s timed out or "
		    "could not be started", l->domain);
		return;
	}
	/* Use what has been found so far; the rest counts as temporary. */
	l->tempfail = true;
	conclude(l);
}

/* A lookup of name with nothing started yet; its deadline not armed. */
static struct mx_lookup *
lookup_new(struct resolver *r, struct event_base *base, const char *name,
    unsigned port, mx_cb cb, void *arg)
{
	struct mx_lookup *l = xcalloc(1, sizeof(*l));

	l->r = r;
	l->cb = cb;
	l->arg = arg;
	l->port = port;
	l->mx_query = -1;
	l->res = xcalloc(1, sizeof(*l->res));
	l->res->status = DNS_TEMPFAIL;
	snprintf(l->domain, sizeof(l->domain), "%s",
	    strlen(name) <= SMTP_DOMAIN_MAX ? name : "(too long)");
	l->deadline = evtimer_new(base, deadline_cb, l);
	return l;
}

struct mx_lookup *
mx_lookup_start(struct resolver *r, struct event_base *base, const char *domain,
    const char *our_hostname, unsigned port, unsigned timeout_seconds,
    mx_cb cb, void *arg)
{
	struct mx_lookup *l = lookup_new(r, base, domain, port, cb, arg);
	struct timeval tv = { (time_t)timeout_seconds, 0 };

	snprintf(l->ours, sizeof(l->ours), "%s", our_hostname != NULL ? our_hostname : "");
	if (strlen(domain) <= SMTP_DOMAIN_MAX)
		l->mx_query = resolver_query(r, domain, RR_MX, mx_answer_cb, l);
	if (l->mx_query < 0)
		tv.tv_sec = 0;	/* report from the loop all the same */
	evtimer_add(l->deadline, &tv);
	return l;
}

/* An IP literal as the whole plan, or -1 when host is not one. */
static int
literal_host(struct mx_lookup *l, const char *host)
{
	struct mx_host *h = &l->res->hosts[0];
	struct sockaddr_in6 *sin6;
	struct sockaddr_in *sin;

	h->addrs = xcalloc(1, sizeof(*h->addrs));
	sin = (struct sockaddr_in *)&h->addrs[0];
	sin6 = (struct sockaddr_in6 *)&h->addrs[0];
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)l->port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)l->port);
	} else {
		free(h->addrs);
		h->addrs = NULL;
		return -1;
	}
	h->n_addrs = 1;
	l->literal = true;
	return 0;
}

struct mx_lookup *
mx_lookup_host_start(struct resolver *r, struct event_base *base,
    const char *host, unsigned port, unsigned timeout_seconds, mx_cb cb,
    void *arg)
{
	struct mx_lookup *l = lookup_new(r, base, host, port, cb, arg);
	struct timeval tv = { (time_t)timeout_seconds, 0 };

	l->res->hosts = xcalloc(1, sizeof(*l->res->hosts));
	l->res->n_hosts = 1;
	snprintf(l->res->hosts[0].name, sizeof(l->res->hosts[0].name), "%s",
	    l->domain);
	if (literal_host(l, host) == 0) {
		tv.tv_sec = 0;	/* answered from the loop, like the rest */
	} else {
		/* The host's addresses under the deadline, as for an MX. */
		l->res->implicit = true;
		if (start_queries(l) == 0)
			tv.tv_sec = 0;	/* concluded by the deadline */
	}
	evtimer_add(l->deadline, &tv);
	return l;
}
