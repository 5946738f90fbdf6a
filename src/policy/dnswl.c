/*
 * The "dnswl" check: DNS allow lists (BCP, Greylisting: "Whitelist
 * known real mailservers, e.g. using DNSWL").  Every list of
 * policy.dnswl is asked at connect, in parallel with the block lists
 * (dnslist_query.c).  A list that names the client at its min_level or
 * above (dnswl.org answers 127.0.X.Y, Y the trust level 0-3) makes it a
 * fact (policy_dnswl_done): the checks marked dnswl_exempt (the DNS
 * heuristics fcrdns and rdns_dynamic, later helo and greylisting) do
 * not apply their refusals to it.  The DNSBL still does: a client both
 * allowed and blocked is judged by its block lists.
 *
 * It never refuses.  A list that times out or fails lists nobody
 * (logged per session: event=dnslist-error), so a DNSWL that is down
 * only means the usual checks apply.  No lists: the fact is known at
 * once (policy.c), nothing is asked.
 */
#include "policy/dnswl.h"

#include <stdio.h>

#include "policy/dnslist_query.h"

bool
dnswl_judge(const struct dnslist_result *r, char *evidence, size_t len)
{
	char code[16];

	if (len > 0)
		evidence[0] = '\0';
	for (size_t i = 0; i < r->n && i < r->g->n_lists; i++) {
		const struct dnslist_conf *l = &r->g->lists[i];
		const struct dnslist_answer *a = &r->ans[i];

		for (size_t k = 0; k < a->n && k < DNSLIST_ADDRS_MAX; k++) {
			if (!dnslist_wl_counts(l, a->addr[k]))
				continue;
			if (len > 0)
				snprintf(evidence, len, "%s=%s level %u", l->zone,
				    dnslist_addr_text(a->addr[k], code, sizeof(code)),
				    a->addr[k] & 0xff);
			return true;
		}
	}
	return false;
}

static void
answered(void *arg, const struct dnslist_result *r)
{
	char evidence[VERDICT_EVIDENCE_MAX];
	bool hit = dnswl_judge(r, evidence, sizeof(evidence));

	policy_dnswl_done(arg, hit, evidence);
}

static bool
dnswl_decide(const struct policy_facts *f, const struct config *cfg,
    struct verdict *v)
{
	(void)f;
	if (cfg->policy.dnswl.n_lists != 0)
		return false;	/* start() answers */
	verdict_accept(v);
	return true;
}

static void *
dnswl_start(struct policy_slot *slot, const struct policy_facts *f,
    const struct policy_env *env)
{
	return dnslist_query_start(&env->cfg->policy.dnswl, f, env, true,
	    answered, slot);
}

static void
dnswl_cancel(void *state)
{
	dnslist_query_cancel(state);
}

const struct policy_check policy_check_dnswl = {
	.name = "dnswl",
	.id = POLICY_CHECK_DNSWL,
	.decide = dnswl_decide,
	.start = dnswl_start,
	.cancel = dnswl_cancel,
};
