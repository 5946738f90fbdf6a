/*
 * The "fcrdns" check: the BCP's "Valid Reverse DNS" (RFC 1912 2.1): the
 * client's IP has a PTR, one PTR name has an A/AAAA record equal to the
 * IP.  The lookup is the session's own (src/dns/fcrdns.c, made once at
 * connect for the Received: header too); this file only judges it.
 *
 *   verified                 accept
 *   no PTR, or no name maps  550 5.7.25 (RFC 7372: reverse DNS
 *                            validation failed)
 *   DNS trouble, deadline,   450 4.7.25: the same check, answered
 *   no resolver              "try later", never 5xx
 *
 * Pure: reads the facts, writes the verdict.
 */
#include <stdio.h>

#include "policy/check.h"

static void
list_names(const struct policy_facts *f, struct verdict *v)
{
	for (size_t i = 0; i < f->n_ptr; i++)
		verdict_evidence_add(v, "%s%s", i == 0 ? "" : " ", f->ptr[i]);
}

static bool
fcrdns_decide(const struct policy_facts *f, const struct config *cfg,
    struct verdict *v)
{
	(void)cfg;
	if (!f->rdns_known)
		return false;
	switch (f->rdns_status) {
	case DNS_OK:
		verdict_accept(v);
		break;
	case DNS_NOTFOUND:
		verdict_refuse(v, 550, "5.7.25",
		    "Reverse DNS validation failed for [%s]", f->ip);
		if (f->n_ptr == 0) {
			verdict_evidence(v, "no PTR for %s", f->ip);
		} else {
			verdict_evidence(v, "no A/AAAA equal to %s for PTR ", f->ip);
			list_names(f, v);
		}
		break;
	default:
		verdict_refuse(v, 450, "4.7.25",
		    "Reverse DNS lookup failed temporarily for [%s], try again later",
		    f->ip);
		verdict_evidence(v, "DNS temporary failure or timeout");
		if (f->n_ptr > 0) {
			verdict_evidence_add(v, " for PTR ");
			list_names(f, v);
		}
		break;
	}
	return true;
}

const struct policy_check policy_check_fcrdns = {
	.name = "fcrdns",
	.id = POLICY_CHECK_FCRDNS,
	.dnswl_exempt = true,	/* a DNS heuristic (BCP) */
	.decide = fcrdns_decide,
};
