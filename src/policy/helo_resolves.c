/*
 * The "helo.resolves" check (docs/policy.md, HELO/EHLO): the BCP's HELO
 * name "must resolve": it has A or AAAA records.  The lookup is the
 * HELO fact's (helo_fact.c), shared with helo.matches_ip.
 *
 *   an address, or an address literal    accept
 *   no A/AAAA (NXDOMAIN, NODATA)         550 5.7.1
 *   not a domain name (not looked up)    550 5.7.1
 *   DNS trouble, deadline, no resolver   450 4.7.1, never 5xx
 *
 * Pure: reads the facts, writes the verdict.
 */
#include "policy/check.h"
#include "policy/helo_syntax.h"

static bool
helo_resolves_decide(const struct policy_facts *f, const struct config *cfg,
    struct verdict *v)
{
	struct helo_parsed hp;

	(void)cfg;
	if (f->helo == NULL || !f->helo_dns_known)
		return false;
	verdict_accept(v);
	switch (helo_syntax_parse(f->helo, &hp)) {
	case HELO_FORM_LITERAL:
		return true;
	case HELO_FORM_BAD:
		verdict_refuse(v, 550, "5.7.1", "<%s>: Helo command rejected: "
		    "Host not found", f->helo);
		verdict_evidence(v, "%s is not a domain name: not looked up", f->helo);
		return true;
	default:
		break;
	}
	if (f->helo_resolves == DNS_OK) {
		return true;
	} else if (f->helo_resolves == DNS_TEMPFAIL) {
		verdict_refuse(v, 450, "4.7.1", "<%s>: Helo command rejected: "
		    "Host not found for now, try again later", f->helo);
		verdict_evidence(v, "DNS temporary failure or timeout for %s A/AAAA",
		    f->helo);
	} else {
		verdict_refuse(v, 550, "5.7.1", "<%s>: Helo command rejected: "
		    "Host not found", f->helo);
		verdict_evidence(v, "no A/AAAA for %s", f->helo);
	}
	return true;
}

const struct policy_check policy_check_helo_resolves = {
	.name = "helo.resolves",
	.id = POLICY_CHECK_HELO_RESOLVES,
	.decide = helo_resolves_decide,
	.helo = true,
	.dnswl_exempt = true,	/* a DNS heuristic (BCP) */
	.helo_dns = true,
};
