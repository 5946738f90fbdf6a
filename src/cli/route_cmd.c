/*
 * `decorum route [-f SENDER] [-a] ADDRESS`: where mail to ADDRESS goes
 * and why, computed by the same route_resolve() the daemon uses at RCPT
 * time and at delivery.
 *
 * Prints the decision, the reason (the whole decision path) and, for each
 * destination, the Maildir folder, the remote domain (relay, or what an
 * SRS address stands for: "returned", sent back as is) or a forward.
 * Forwards carry the sender route_forward_sender() gives, printed as a
 * "sender:" line: for SENDER (-f; -a: as submitted by an authenticated
 * user), or without -f for a foreign sender (a placeholder in the
 * reserved .invalid domain), as the usual case to know about.  An
 * address at the SRS domain gets an "srs:" line: what it stands for, or
 * why it is refused.  The SRS keys are read from srs.key_file when srs
 * is configured; a run that cannot read them (not root) says so on
 * stderr and shows what the daemon would do without them.  Exit 0 when mail
 * to ADDRESS would be taken (local, or remote: relayed for relay clients
 * and authenticated users), 1 when refused (unknown, unsupported, a
 * domain that is no valid name, tables unreadable), 2 on usage or config
 * errors.  Read-only: creates nothing.  A remote destination's domain is
 * printed, and resolved, in its A-label form, as delivery uses it.
 *
 * For remote destinations it then resolves the MX plan of each domain
 * with the daemon's own mx_lookup (dns.nameserver, delivery.smtp_port,
 * hostname for the self-MX cut) and prints it as `mx: ...` lines, after
 * the lines above (which scripts and tests read) and without changing the
 * exit code: DNS answers change, the routing decision does not.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/bounds.h"
#include "common/config.h"
#include "common/log.h"
#include "dns/mx.h"
#include "dns/resolver.h"
#include "route/domains.h"
#include "route/forward.h"
#include "route/reverse.h"
#include "route/route.h"
#include "route/transport.h"
#include "srs/srs.h"
#include "srs/srs_keyfile.h"

/* The whole MX plan of one domain, seconds; below the CLI's own
 * patience in scripts. */
#define ROUTE_MX_TIMEOUT	10
/* Distinct remote domains resolved for one address (alias fan-out). */
#define ROUTE_MX_DOMAINS_MAX	10

struct route_mx {
	struct event_base *base;
	struct mx_result *res;
};

static void
route_mx_done(void *arg, struct mx_result *res)
{
	struct route_mx *m = arg;

	m->res = res;
	event_base_loopbreak(m->base);
}

static void
route_mx_print_host(const struct mx_host *h)
{
	for (size_t k = 0; k < h->n_addrs; k++) {
		const struct sockaddr_storage *ss = &h->addrs[k];
		char ip[INET6_ADDRSTRLEN];
		unsigned port;

		if (ss->ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const void *)ss;

			inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
			port = ntohs(sin6->sin6_port);
		} else {
			const struct sockaddr_in *sin = (const void *)ss;

			inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
			port = ntohs(sin->sin_port);
		}
		printf("mx: %u %s [%s]:%u\n", h->pref, h->name, ip, port);
	}
}

static void
route_mx_print(const struct mx_result *res)
{
	if (res->status == DNS_TEMPFAIL) {
		printf("mx: temporary DNS failure: %s\n", res->error);
		return;
	}
	if (res->null_mx) {
		printf("mx: null MX: the domain accepts no mail (5.1.10)\n");
		return;
	}
	if (res->loops) {
		printf("mx: loops back to us (5.4.6): %s\n", res->error);
		return;
	}
	if (res->status == DNS_NOTFOUND) {
		printf("mx: not found (5.1.2): %s\n", res->error);
		return;
	}
	if (res->implicit)
		printf("mx: implicit (no MX records)\n");
	for (size_t i = 0; i < res->n_hosts; i++)
		route_mx_print_host(&res->hosts[i]);
}

/* Resolve and print the MX plan of domain on a loop of our own. */
static void
route_mx_domain(const struct config *cfg, const char *domain)
{
	struct route_mx m = { 0 };
	struct resolver *r;
	struct mx_lookup *l;
	char err[160];

	m.base = event_base_new();
	if (m.base == NULL) {
		printf("mx: cannot resolve: no event loop\n");
		return;
	}
	r = resolver_new(m.base, cfg->dns_nameserver, err, sizeof(err));
	if (r == NULL) {
		printf("mx: cannot resolve: %s\n", err);
		event_base_free(m.base);
		return;
	}
	l = mx_lookup_start(r, m.base, domain, cfg->hostname, cfg->smtp_port,
	    ROUTE_MX_TIMEOUT, route_mx_done, &m);
	event_base_dispatch(m.base);
	if (m.res == NULL) {
		/* The loop ran dry without an answer: cannot happen while
		 * the deadline timer is armed, but never leak on it. */
		mx_lookup_cancel(l);
		printf("mx: temporary DNS failure: no answer\n");
	} else {
		route_mx_print(m.res);
		mx_result_free(m.res);
	}
	resolver_free(r);
	event_base_free(m.base);
}

/* Each distinct remote domain of r once, in order. */
static void
route_mx_all(const struct config *cfg, const struct route_result *r)
{
	const char *seen[ROUTE_MX_DOMAINS_MAX];
	size_t n_seen = 0, n_remote = 0;

	for (size_t i = 0; i < r->n_dests; i++)
		if (r->dests[i].kind == ROUTE_REMOTE)
			n_remote++;
	for (size_t i = 0; i < r->n_dests && n_seen < ROUTE_MX_DOMAINS_MAX; i++) {
		const char *dom = r->dests[i].domain;
		bool dup = false;

		if (r->dests[i].kind != ROUTE_REMOTE ||
		    transport_lookup(cfg, r->dests[i].local, dom,
		    false)->kind != TRANSPORT_SMTP)
			continue;
		for (size_t k = 0; k < n_seen; k++)
			dup = dup || mx_name_equal(seen[k], dom);
		if (dup)
			continue;
		seen[n_seen++] = dom;
		if (n_remote > 1)
			printf("mx: domain %s\n", dom);
		fflush(stdout);
		route_mx_domain(cfg, dom);
	}
}

/* The sender the forwards carry: for -f SENDER, or for a foreign
 * sender when none was given. */
struct route_sender {
	const char *sender;	/* NULL: no -f */
	bool authenticated;	/* -a */
};

/* The domain's one word for a destination of r. */
static const char *
dest_label(const struct route_result *r, const struct route_dest *d)
{
	if (d->kind == ROUTE_LOCAL)
		return "mailbox";
	if (d->forward)
		return "forward";
	/* Remote inside an address of ours: what an SRS address stands
	 * for, returned as is. */
	return r->kind == ROUTE_LOCAL ? "returned" : "remote";
}

static void
route_print_sender(const struct config *cfg, struct domains *dm,
    const struct route_sender *rs)
{
	/* .invalid (RFC 2606) is never one of our domains. */
	const char *sender = rs->sender != NULL ? rs->sender :
	    "someone@sender.invalid";
	char out[FORWARD_SENDER_MAX + 1], why[160];
	enum forward_sender f;

	f = route_forward_sender(cfg, dm, sender, rs->authenticated,
	    time(NULL), out, sizeof(out), why, sizeof(why));
	printf("sender: <%s> %s: %s%s\n", out, forward_sender_name(f), why,
	    rs->sender == NULL ? " (for a foreign sender; -f SENDER for "
	    "yours)" : "");
}

/* addr at our SRS domain: what it stands for, or why it is refused. */
static void
route_print_srs(const struct config *cfg, const char *addr)
{
	char local[SMTP_LOCAL_PART_WIRE_MAX + 1], domain[SMTP_DOMAIN_MAX + 1];
	char canon[SMTP_DOMAIN_MAX + 1], orig[SRS_ADDRESS_MAX + 1], why[64];

	if (domains_split_address(addr, local, domain) < 0 ||
	    domains_canon(domain, canon) < 0 || !route_srs_domain(cfg, canon))
		return;
	switch (route_srs_reverse(cfg, local, canon, time(NULL), orig,
	    sizeof(orig), why, sizeof(why))) {
	case ROUTE_SRS_OK:
		printf("srs: stands for <%s>\n", orig);
		break;
	case ROUTE_SRS_NONE:
		break;
	default:
		printf("srs: refused: %s\n", why);
		break;
	}
}

static void
route_print(const struct config *cfg, struct domains *dm, const char *addr,
    const struct route_result *r, const struct route_sender *rs)
{
	bool forwards = false;

	printf("address: %s\n", addr);
	printf("decision: %s\n", route_kind_name(r->kind));
	printf("reason: %s\n", r->reason);
	route_print_srs(cfg, addr);
	for (size_t i = 0; i < r->n_dests; i++) {
		const struct route_dest *d = &r->dests[i];

		const struct transport_conf *t = transport_lookup(cfg,
		    d->local, d->domain, d->kind == ROUTE_LOCAL);

		forwards = forwards || d->forward;
		if (t->kind == TRANSPORT_MAILDIR)
			printf("mailbox: %s/%s/%s/\n", cfg->mailboxes,
			    d->domain, d->local);
		else if (t->kind == TRANSPORT_SMTP)
			printf("%s: %s@%s (SMTP to the MX of %s)\n",
			    dest_label(r, d), d->local, d->domain, d->domain);
		else
			printf("%s: %s@%s via %s (transports: %s)\n",
			    dest_label(r, d), d->local, d->domain, t->via,
			    t->match);
	}
	if (forwards)
		route_print_sender(cfg, dm, rs);
	if (r->kind == ROUTE_REMOTE)
		printf("relay: only for clients in relay_networks and "
		    "authenticated users\n");
}

/* The SRS keys as the daemon has them; a run that cannot read them (not
 * root) goes on without, and says what that changes. */
static bool
route_srs_keys(struct config *cfg, struct srs_keys *keys)
{
	char err[512], safe[600];

	if (!cfg->srs.enabled)
		return false;
	if (srs_keyfile_load(cfg->srs.key_file, keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "decorum: warning: %s: SRS addresses and "
		    "senders are shown as without the keys (run as root, as "
		    "the daemon reads them)\n", log_safe_text(err, safe,
		    sizeof(safe)));
		return false;
	}
	cfg->srs.keys = keys;
	return true;
}

static int
route_usage(void)
{
	fprintf(stderr, "usage: decorum [-c FILE] route [-f SENDER] [-a] "
	    "ADDRESS\n");
	return 2;
}

int
cmd_route(const char *config_path, int argc, char **argv)
{
	struct route_sender rs = { NULL, false };
	struct config cfg;
	struct config_error err;
	struct route_result r;
	struct srs_keys keys;
	struct domains *d;
	const char *addr;
	bool have_keys;
	int ch, rc;

	while ((ch = getopt(argc, argv, "af:")) != -1) {
		if (ch == 'a')
			rs.authenticated = true;
		else if (ch == 'f')
			rs.sender = optarg;
		else
			return route_usage();
	}
	if (argc - optind != 1 || argv[optind][0] == '\0')
		return route_usage();
	addr = argv[optind];
	if (rs.sender != NULL && strcmp(rs.sender, "<>") == 0)
		rs.sender = "";		/* the null sender, as written in SMTP */
	if (strlen(addr) > SMTP_ADDRESS_MAX + 2 || (rs.sender != NULL &&
	    strlen(rs.sender) > SMTP_ADDRESS_MAX + 2)) {
		fprintf(stderr, "decorum: address longer than %d octets\n",
		    SMTP_ADDRESS_MAX);
		return 1;
	}
	if (config_load_unprivileged(config_path, &cfg, &err) < 0) {
		config_error_print(&err);
		return 2;
	}
	log_set_level(LOG_LEVEL_WARN);
	have_keys = route_srs_keys(&cfg, &keys);
	d = domains_open(cfg.domains);
	route_resolve(&cfg, d, addr, &r);
	route_print(&cfg, d, addr, &r, &rs);
	route_mx_all(&cfg, &r);
	rc = r.kind == ROUTE_LOCAL || r.kind == ROUTE_REMOTE ? 0 : 1;
	route_result_free(&r);
	domains_free(d);
	if (have_keys)
		srs_keys_clear(&keys);
	config_free(&cfg);
	return rc;
}
