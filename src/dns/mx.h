/*
 * Where mail for a domain goes: the MX plan of RFC 5321 section 5.1,
 * resolved asynchronously on the event loop.
 *
 * MX records in preference order (random among equal preferences), each
 * host with its IPv6 and IPv4 addresses; the domain's own A/AAAA when it
 * has no MX (the implicit MX); RFC 7505 null MX; the self-MX cut (hosts
 * whose preference is >= ours are dropped, and nothing left means mail
 * would loop).  A DNS temporary failure is always DNS_TEMPFAIL: retry
 * later, never bounce.  Used by the outbound delivery and by
 * `decorum route`.
 */
#ifndef DECORUM_DNS_MX_H
#define DECORUM_DNS_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/bounds.h"
#include "dns/resolver.h"

struct event_base;

/* Bounds on what one lookup collects (untrusted data from the network). */
#define MX_HOSTS_MAX		10
#define MX_ADDRS_MAX		10	/* per host, IPv6 and IPv4 together */

struct mx_host {
	char name[SMTP_DOMAIN_MAX + 1];	/* without the trailing dot */
	unsigned pref;
	struct sockaddr_storage *addrs;	/* IPv6 first, then IPv4; port set */
	size_t n_addrs;
};

struct mx_result {
	enum dns_status status;	/* DNS_OK, DNS_NOTFOUND (no such domain / no
				 * address at all), DNS_TEMPFAIL */
	bool null_mx;		/* RFC 7505 "MX 0 ." → permanent failure 5.1.10 */
	bool implicit;		/* no MX: the domain's own A/AAAA (RFC 5321 5.1) */
	bool loops;		/* we are the best MX (or the only one): mail
				 * would loop, 5.4.6 */
	struct mx_host *hosts;	/* in the order to try: preference, random
				 * among equals; hosts with pref >= our own
				 * dropped (RFC 5321 5.1); each has >= 1 address */
	size_t n_hosts;
	char error[160];	/* why, for logs and bounces ("" when DNS_OK) */
};

/* res is owned by the callee: free it with mx_result_free.  Always runs
 * later in the loop thread, never inside mx_lookup_start. */
typedef void (*mx_cb)(void *arg, struct mx_result *res);

/*
 * Start resolving the MX plan of domain.  our_hostname (may be NULL)
 * names this host for the self-MX cut; port goes into every address
 * (delivery.smtp_port); timeout_seconds bounds the whole lookup (on the
 * deadline the hosts resolved so far are used, or DNS_TEMPFAIL).
 */
struct mx_lookup *mx_lookup_start(struct resolver *r, struct event_base *base,
    const char *domain, const char *our_hostname, unsigned port,
    unsigned timeout_seconds, mx_cb cb, void *arg);
/*
 * The same plan for one named host without an MX lookup (a relay given
 * as [HOST], an LMTP server): its AAAA and A records, or the address
 * itself when host is an IPv4 or IPv6 literal.  No self-MX cut.
 */
struct mx_lookup *mx_lookup_host_start(struct resolver *r,
    struct event_base *base, const char *host, unsigned port,
    unsigned timeout_seconds, mx_cb cb, void *arg);
/* cb will not run.  NULL is fine. */
void mx_lookup_cancel(struct mx_lookup *l);
/* NULL is fine. */
void mx_result_free(struct mx_result *res);

/* Pure helpers, exposed for unit tests. */

/* A random number in [0, n), n > 0. */
typedef unsigned (*mx_random_fn)(void *ctx, unsigned n);
/* Sort by preference, ascending; shuffle each run of equal preference
 * with rnd (RFC 5321 5.1: spread the load among equal MXs). */
void mx_hosts_order(struct mx_host *hosts, size_t n, mx_random_fn rnd, void *ctx);
/* RFC 5321 5.1: when our_hostname is among the hosts, drop every host
 * whose preference is >= its lowest preference for us.  Dropped hosts
 * are freed; *n is updated.  True when we were found (then *n == 0 means
 * mail would loop).  Call after mx_hosts_order. */
bool mx_hosts_cut_self(struct mx_host *hosts, size_t *n, const char *our_hostname);
/* Host names equal, ignoring case and a trailing dot. */
bool mx_name_equal(const char *a, const char *b);
/* MX rdata (RFC 1035 3.3.9: 16-bit preference, exchange name) → pref and
 * exchange without the trailing dot ("." for the root: RFC 7505 null MX).
 * -1 if malformed. */
int mx_rdata_parse(const unsigned char *p, size_t len, unsigned *pref,
    char *name, size_t namelen);

#endif
