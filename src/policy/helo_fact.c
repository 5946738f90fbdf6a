/*
 * The HELO/EHLO fact: see helo_fact.h.  Called by policy.c only, on the
 * session's loop.
 *
 * A name that is no FQDN (helo_syntax_parse) is not looked up: an
 * address literal needs no DNS, and a one-label or malformed name would
 * only cost a query that cannot succeed; nor is a name no check that is
 * on needs (helo.resolves and helo.matches_ip off, not our own name).
 * The lookup facts are then final at once (DNS_NOTFOUND).  No
 * resolver at all is DNS trouble (DNS_TEMPFAIL), as for FCrDNS.
 *
 * The name is the client's: kept as a bounded copy, never trusted.  The
 * lookup is bounded by dns.client_timeout and cancelled when the name
 * is replaced or the session ends, so its answer never reaches a freed
 * session.
 */
#include "policy/helo_fact.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/bounds.h"
#include "common/xmalloc.h"
#include "dns/hostaddr.h"
#include "dns/mx.h"
#include "policy/check.h"
#include "policy/helo_syntax.h"

struct helo_fact {
	char name[SMTP_DOMAIN_MAX + 1];
	bool set;
	struct hostaddr *lookup;	/* NULL when none is out */
	struct policy_facts *f;
	void (*arrived)(void *);
	void *arg;
	char addrs[HOSTADDR_TEXT_MAX][HOSTADDR_TEXT_LEN];
	const char *addr_ptrs[HOSTADDR_TEXT_MAX];
};

struct helo_fact *
helo_fact_new(void)
{
	return xcalloc(1, sizeof(struct helo_fact));
}

static void
clear(struct helo_fact *h, struct policy_facts *f)
{
	hostaddr_cancel(h->lookup);
	h->lookup = NULL;
	f->helo = NULL;
	f->helo_ours = f->helo_from_us = f->helo_dns_known = false;
	f->helo_resolves = f->helo_match = DNS_NOTFOUND;
	f->helo_addrs = NULL;
	f->n_helo_addrs = 0;
}

void
helo_fact_free(struct helo_fact *h, struct policy_facts *f)
{
	if (h == NULL)
		return;
	clear(h, f);
	free(h);
}

static bool
same_address(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return false;
}

static void
lookup_cb(void *arg, const struct hostaddr_result *res)
{
	struct helo_fact *h = arg;
	struct policy_facts *f = h->f;
	bool temp = res->a == DNS_TEMPFAIL || res->aaaa == DNS_TEMPFAIL;

	h->lookup = NULL;
	for (size_t i = 0; i < res->n_text; i++) {
		snprintf(h->addrs[i], sizeof(h->addrs[i]), "%s", res->text[i]);
		h->addr_ptrs[i] = h->addrs[i];
	}
	f->helo_addrs = h->addr_ptrs;
	f->n_helo_addrs = res->n_text;
	f->helo_resolves = res->n_all > 0 ? DNS_OK : temp ? DNS_TEMPFAIL :
	    DNS_NOTFOUND;
	/* A match is decided by the client's own family; trouble in the
	 * other one leaves nothing open. */
	f->helo_match = res->found ? DNS_OK : temp ? DNS_TEMPFAIL : DNS_NOTFOUND;
	f->helo_dns_known = true;
	h->arrived(h->arg);
}

bool
helo_fact_set(struct helo_fact *h, struct policy_facts *f,
    const struct policy_env *env, const char *name, bool local_domain,
    const struct sockaddr *server, bool dns, void (*arrived)(void *),
    void *arg)
{
	struct helo_parsed hp;

	if (h->set && strcasecmp(h->name, name) == 0)
		return true;
	clear(h, f);
	h->set = true;
	snprintf(h->name, sizeof(h->name), "%s", name);
	f->helo = h->name;
	f->helo_ours = local_domain || (env->cfg->hostname != NULL &&
	    mx_name_equal(name, env->cfg->hostname));
	f->helo_from_us = server != NULL && same_address(server, &f->addr);
	if (helo_syntax_parse(h->name, &hp) != HELO_FORM_NAME ||
	    (!dns && !f->helo_ours)) {
		f->helo_dns_known = true;
		return false;
	}
	if (env->resolver == NULL) {
		f->helo_resolves = f->helo_match = DNS_TEMPFAIL;
		f->helo_dns_known = true;
		return false;
	}
	h->f = f;
	h->arrived = arrived;
	h->arg = arg;
	h->lookup = hostaddr_start(env->resolver, env->base, h->name,
	    (const struct sockaddr *)&f->addr, env->cfg->dns_client_timeout,
	    lookup_cb, h);
	return false;
}
