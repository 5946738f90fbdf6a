/*
 * What a policy check is, for the files that implement one (one check
 * per file: fcrdns.c, rdns_dynamic.c; later helo, dnsbl, greylist) and
 * for policy.c, which runs them.  Not for the session: it sees
 * policy.h only.
 *
 * A check is a descriptor.  decide() is pure: it reads the facts the
 * session gathered about the client (its address, the FCrDNS lookup)
 * and returns false while a fact it needs is still missing; policy.c
 * calls it again whenever a fact arrives.  A check with lookups of its
 * own (a DNSBL) also has start(), called once when the session begins,
 * which starts them on env's loop and resolver and reports through
 * policy_check_done() on the loop, always later, never from inside
 * start() (its return value is the state cancel() gets); cancel() stops
 * them (the report must then never come), and is called when the
 * session goes away first.
 * A check never writes a reply and never sees the session.
 *
 * The DNSWL (dnswl.c) is a check whose answer is a fact: it never
 * refuses, it reports with policy_dnswl_done(), and a check marked
 * dnswl_exempt (a DNS heuristic, greylisting) does not apply its
 * refusal to a client a DNSWL lists (BCP: "Whitelist known real
 * mailservers, e.g. using DNSWL").
 */
#ifndef DECORUM_POLICY_CHECK_H
#define DECORUM_POLICY_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/config.h"
#include "dns/fcrdns.h"
#include "dns/resolver.h"
#include "policy/verdict.h"

struct event_base;
struct policy_slot;

/* What the loop, DNS and the config give a check. */
struct policy_env {
	const struct config *cfg;
	struct event_base *base;
	struct resolver *resolver;	/* NULL: no DNS at all */
	const char *session;		/* its id, for the logs */
};

/* What is known about the client so far. */
struct policy_facts {
	struct sockaddr_storage addr;	/* the client */
	char ip[64];			/* its address as logs show it */
	bool rdns_known;		/* the FCrDNS lookup has ended */
	enum dns_status rdns_status;	/* DNS_TEMPFAIL also for "no DNS" */
	const char *rdns_name;		/* the verified name, or NULL */
	const char *ptr[FCRDNS_NAMES_MAX];	/* every PTR name seen */
	size_t n_ptr;
	/* The HELO/EHLO name (policy_client_helo; helo_fact.c), NULL before
	 * one came.  Its A/AAAA lookup, when it is a name: helo_resolves is
	 * DNS_OK when it has an address, helo_match when the client's is
	 * among them (DNS_TEMPFAIL: DNS trouble left it open). */
	const char *helo;
	bool helo_ours;			/* our hostname or a local domain */
	bool helo_from_us;		/* the client is the address it reached */
	bool helo_dns_known;		/* the lookup ended, or none is made */
	enum dns_status helo_resolves;
	enum dns_status helo_match;
	const char *const *helo_addrs;	/* some of them, for the evidence */
	size_t n_helo_addrs;
	bool dnswl_known;		/* the DNSWL lookups have ended (or
					 * there are none) */
	bool dnswl_hit;			/* a DNSWL lists the client */
	const char *dnswl_evidence;	/* which list and code, or "" */
};

struct policy_check {
	const char *name;		/* check= in the log */
	enum policy_check_id id;	/* its action: cfg->policy.action[id] */
	bool dnswl_exempt;		/* a DNSWL hit makes its refusal void */
	bool (*decide)(const struct policy_facts *f, const struct config *cfg,
	    struct verdict *v);
	/* Optional: asynchronous work of the check's own. */
	void *(*start)(struct policy_slot *slot, const struct policy_facts *f,
	    const struct policy_env *env);
	void (*cancel)(void *state);
	/* Judges the HELO/EHLO name: decided anew when another comes;
	 * helo_dns: needs its A/AAAA lookup (none is made without one). */
	bool helo;
	bool helo_dns;
};

/* start()'s work is over: v is its verdict.  Runs on the loop. */
void policy_check_done(struct policy_slot *slot, const struct verdict *v);
/* The DNSWL's answer (dnswl.c): hit, with evidence (DNS-made text), is
 * now a fact every check sees; the slot is done with an accept. */
void policy_dnswl_done(struct policy_slot *slot, bool hit, const char *evidence);

/* The checks in the order their verdicts are weighed (registry.c). */
extern const struct policy_check *const policy_checks[];
extern const size_t policy_n_checks;

/* The checks themselves. */
extern const struct policy_check policy_check_fcrdns;
extern const struct policy_check policy_check_rdns_dynamic;
extern const struct policy_check policy_check_helo_syntax;
extern const struct policy_check policy_check_helo_resolves;
extern const struct policy_check policy_check_helo_matches_ip;
extern const struct policy_check policy_check_dnsbl;
extern const struct policy_check policy_check_dnswl;

#endif
