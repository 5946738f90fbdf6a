/*
 * dnsprobe NAMESERVER IP: the daemon's own FCrDNS lookup (dns/fcrdns.c
 * through dns/resolver.c, configured as decorumd configures it) of any
 * address, printed as "verified NAME", "none" or "tempfail".
 *
 * For the integration tests only: a client of the smtpd is always on
 * loopback there, so the lookups of other addresses (10.0.0.5, a LAN
 * client, whose reverse zone libunbound would answer itself) are asked
 * through this.  Not installed.  Exit 0 with an answer, 2 on usage or
 * setup errors.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "dns/fcrdns.h"
#include "dns/resolver.h"

#define PROBE_TIMEOUT	5	/* seconds, as dns.client_timeout might be */

struct probe {
	struct event_base *base;
	enum dns_status st;
	char name[256];
};

static void
probe_done(void *arg, const struct fcrdns_result *res)
{
	struct probe *p = arg;

	p->st = res->status;
	if (res->name != NULL)
		snprintf(p->name, sizeof(p->name), "%s", res->name);
	event_base_loopbreak(p->base);
}

static int
probe_addr(const char *ip, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct probe p = { .st = DNS_TEMPFAIL };
	struct sockaddr_storage ss;
	struct resolver *r;
	struct fcrdns *f;
	char err[256];

	if (argc != 3 || probe_addr(argv[2], &ss) < 0) {
		fprintf(stderr, "usage: dnsprobe NAMESERVER IP\n");
		return 2;
	}
	log_init("dnsprobe", true);
	p.base = event_base_new();
	r = p.base != NULL ? resolver_new(p.base, argv[1], err, sizeof(err)) : NULL;
	if (r == NULL) {
		fprintf(stderr, "dnsprobe: no resolver\n");
		return 2;
	}
	f = fcrdns_start(r, p.base, (struct sockaddr *)&ss, PROBE_TIMEOUT, probe_done, &p);
	if (f != NULL)
		event_base_dispatch(p.base);
	if (p.st == DNS_OK)
		printf("verified %s\n", p.name);
	else
		printf("%s\n", p.st == DNS_NOTFOUND ? "none" : "tempfail");
	resolver_free(r);
	event_base_free(p.base);
	return 0;
}
