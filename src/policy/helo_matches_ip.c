/*
 * The "helo.matches_ip" check (docs/policy.md, HELO/EHLO): the BCP's
 * HELO name whose A/AAAA "include the client IP", or an address literal
 * equal to it.  RFC 5321 4.1.4 says a server "MUST NOT refuse to accept
 * a message" on a failed verification of the HELO name; the BCP asks
 * for it; the default follows the BCP and docs/policy.md shows the
 * one-line switch to "log".
 *
 *   the client's address among the name's     accept
 *   a literal equal to the client's address    accept
 *   neither (or not a name at all)             550 5.7.1
 *   DNS trouble for the client's family,       450 4.7.1, never 5xx
 *   the deadline, no resolver
 *
 * An IPv4 client on a dual-stack socket (::ffff:a.b.c.d) is the IPv4
 * address for both comparisons.  Pure: reads the facts, writes the
 * verdict.
 */
#include <netinet/in.h>
#include <string.h>

#include "policy/check.h"
#include "policy/helo_syntax.h"

/* The client's address in the form a literal has: family and octets. */
static int
client_addr(const struct policy_facts *f, unsigned char out[16])
{
	const struct in6_addr *a6;

	if (f->addr.ss_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)&f->addr)->sin_addr, 4);
		return AF_INET;
	}
	a6 = &((const struct sockaddr_in6 *)&f->addr)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		memcpy(out, a6->s6_addr + 12, 4);
		return AF_INET;
	}
	memcpy(out, a6->s6_addr, 16);
	return AF_INET6;
}

static bool
decide_literal(const struct policy_facts *f, const struct helo_parsed *hp,
    struct verdict *v)
{
	unsigned char mine[16];
	int family = client_addr(f, mine);

	if (family == hp->family && memcmp(mine, hp->addr,
	    family == AF_INET ? 4 : 16) == 0)
		return true;
	verdict_refuse(v, 550, "5.7.1", "<%s>: Helo command rejected: "
	    "the address literal is not your address [%s]", f->helo, f->ip);
	verdict_evidence(v, "literal %s is not the client %s", f->helo, f->ip);
	return true;
}

static bool
helo_matches_ip_decide(const struct policy_facts *f, const struct config *cfg,
    struct verdict *v)
{
	struct helo_parsed hp;

	(void)cfg;
	if (f->helo == NULL || !f->helo_dns_known)
		return false;
	verdict_accept(v);
	if (helo_syntax_parse(f->helo, &hp) == HELO_FORM_LITERAL)
		return decide_literal(f, &hp, v);
	if (f->helo_match == DNS_OK)
		return true;
	if (f->helo_match == DNS_TEMPFAIL) {
		verdict_refuse(v, 450, "4.7.1", "<%s>: Helo command rejected: "
		    "cannot check your address [%s] now, try again later",
		    f->helo, f->ip);
		verdict_evidence(v, "DNS temporary failure or timeout for %s A/AAAA",
		    f->helo);
		return true;
	}
	verdict_refuse(v, 550, "5.7.1", "<%s>: Helo command rejected: "
	    "the name does not resolve to your address [%s]", f->helo, f->ip);
	if (hp.form == HELO_FORM_BAD) {
		verdict_evidence(v, "%s is not a domain name: not looked up",
		    f->helo);
		return true;
	}
	verdict_evidence(v, "%s A/AAAA:", f->helo);
	for (size_t i = 0; i < f->n_helo_addrs; i++)
		verdict_evidence_add(v, " %s", f->helo_addrs[i]);
	if (f->n_helo_addrs == 0)
		verdict_evidence_add(v, " none");
	verdict_evidence_add(v, "; not %s", f->ip);
	return true;
}

const struct policy_check policy_check_helo_matches_ip = {
	.name = "helo.matches_ip",
	.id = POLICY_CHECK_HELO_MATCHES_IP,
	.decide = helo_matches_ip_decide,
	.helo = true,
	.dnswl_exempt = true,	/* a DNS heuristic (BCP) */
	.helo_dns = true,
};
