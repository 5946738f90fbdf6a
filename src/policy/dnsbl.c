/*
 * The "dnsbl" check: DNS block lists (RFC 5782), the BCP's
 * "DNS-based blocklists".  Every list of policy.dnsbl is asked at
 * connect, in parallel (dnslist_query.c); each list whose answer holds
 * one of its return codes adds its weight; a sum at or above the
 * threshold refuses:
 *
 *   554 5.7.1 Service unavailable; client [IP] blocked using LIST
 *
 * (554, as Postfix's reject_rbl_client: the refusal is about the
 * client, not the recipient; it is applied at RCPT all the same, so the
 * exempt mailboxes stay reachable).  A list that times out or fails is
 * not listing the client: a block list that is down must not stop mail
 * (logged per session: event=dnslist-error).  Answers in
 * 127.255.255.0/24 are never a listing (dnslist.h).  The check is not
 * dnswl_exempt: a DNSWL exempts from the DNS heuristics and from
 * greylisting, not from a block list that names the client.
 *
 * No lists: accept at once, nothing asked.  Trusts the answers only as
 * numbers; the evidence holds zones (config) and codes (made here).
 */
#include "policy/dnsbl.h"

#include <stdio.h>

#include "policy/dnslist_query.h"

/* One list's codes that count, "127.0.0.2,127.0.0.4", into out; how
 * many. */
static size_t
list_codes(const struct dnslist_conf *l, const struct dnslist_answer *a,
    char *out, size_t outlen)
{
	size_t n = 0, len = 0;
	char code[16];

	out[0] = '\0';
	for (size_t k = 0; k < a->n && k < DNSLIST_ADDRS_MAX; k++) {
		if (!dnslist_bl_counts(l, a->addr[k]))
			continue;
		if (len < outlen)
			len += (size_t)snprintf(out + len, outlen - len, "%s%s",
			    n == 0 ? "" : ",",
			    dnslist_addr_text(a->addr[k], code, sizeof(code)));
		n++;
	}
	return n;
}

unsigned
dnsbl_judge(const struct dnslist_result *r, struct verdict *v)
{
	const struct dnslist_conf *heaviest = NULL;
	char codes[DNSLIST_ADDRS_MAX * 16];
	unsigned sum = 0;

	verdict_accept(v);
	for (size_t i = 0; i < r->n && i < r->g->n_lists; i++) {
		const struct dnslist_conf *l = &r->g->lists[i];

		if (list_codes(l, &r->ans[i], codes, sizeof(codes)) == 0)
			continue;
		verdict_evidence_add(v, "%s%s=%s weight %u", heaviest == NULL ?
		    "" : "; ", l->zone, codes, l->weight);
		sum += l->weight;
		if (heaviest == NULL || l->weight > heaviest->weight)
			heaviest = l;
	}
	if (heaviest == NULL)
		return 0;
	verdict_evidence_add(v, "; total %u, threshold %u", sum, r->g->threshold);
	if (sum >= r->g->threshold)
		verdict_refuse(v, 554, "5.7.1", "Service unavailable; client [%s] "
		    "blocked using %s", r->ip, heaviest->zone);
	return sum;
}

static void
answered(void *arg, const struct dnslist_result *r)
{
	struct verdict v;

	dnsbl_judge(r, &v);
	policy_check_done(arg, &v);
}

static bool
dnsbl_decide(const struct policy_facts *f, const struct config *cfg,
    struct verdict *v)
{
	(void)f;
	if (cfg->policy.dnsbl.n_lists != 0)
		return false;	/* start() answers */
	verdict_accept(v);
	return true;
}

static void *
dnsbl_start(struct policy_slot *slot, const struct policy_facts *f,
    const struct policy_env *env)
{
	return dnslist_query_start(&env->cfg->policy.dnsbl, f, env, false,
	    answered, slot);
}

static void
dnsbl_cancel(void *state)
{
	dnslist_query_cancel(state);
}

const struct policy_check policy_check_dnsbl = {
	.name = "dnsbl",
	.id = POLICY_CHECK_DNSBL,
	.decide = dnsbl_decide,
	.start = dnsbl_start,
	.cancel = dnsbl_cancel,
};
