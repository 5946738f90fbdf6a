/*
 * One session's policy: see policy.h.  Runs the checks of registry.c
 * whose action is not "off", keeps each one's verdict in a slot, and
 * weighs them at RCPT:
 *
 *   - an exempt recipient is accepted at once (BCP: postmaster and abuse
 *     stay reachable from a client that fails every check);
 *   - a check not decided yet makes the answer wait (policy_rcpt false,
 *     the callback later, from an event of our own so it never runs
 *     inside the caller's stack);
 *   - action "log" logs a refusal and accepts, "tempfail" turns it into
 *     4xx, "reject" sends the check's own verdict (which is already 4xx
 *     when DNS could not answer: never 5xx on a temporary error);
 *   - of the refusals that apply, a permanent one wins over a temporary
 *     one, then registry order decides;
 *   - a check marked dnswl_exempt does not refuse a client a DNSWL lists
 *     (and nothing is weighed before the DNSWL has answered).
 *
 * Greylisting is no such check (its verdict is per triplet and bites at
 * DATA): the last functions of this file forward to greylist.c.
 *
 * Trusts the facts to be what the session saw; the evidence strings may
 * hold DNS text and go to the log through log_safe only.  Memory per
 * session: the slots, the PTR names (at most FCRDNS_NAMES_MAX) and one
 * timer.
 */
#include "policy/policy.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/bounds.h"
#include "common/config.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "policy/check.h"
#include "policy/helo_fact.h"
#include "policy/greylist.h"

struct policy_slot {
	struct policy *p;
	const struct policy_check *check;
	enum policy_action action;
	bool done;		/* v holds the verdict */
	bool logged;		/* its refusal was logged */
	struct verdict v;
	void *state;		/* start()'s work, NULL when none is out */
};

struct policy {
	const struct config *cfg;
	struct policy_env env;
	char session[32];
	struct policy_facts facts;
	char *names[FCRDNS_NAMES_MAX];	/* owned copies of the PTR names */
	char *rdns_name;
	char dnswl_evidence[VERDICT_EVIDENCE_MAX];
	struct policy_slot *slots;
	size_t n_slots;
	struct event *wake;		/* runs the waiter's callback */
	policy_wake_cb wait_cb;		/* NULL: nobody waits */
	void *wait_arg;
	struct helo_fact *helo;		/* the HELO/EHLO name and its lookup */
	struct policy_grey *grey;	/* greylisting, NULL: off */
};

/* Run every undecided check that decides from facts. */
static void
decide_all(struct policy *p)
{
	for (size_t i = 0; i < p->n_slots; i++) {
		struct policy_slot *sl = &p->slots[i];

		if (sl->done || sl->check->decide == NULL)
			continue;
		if (sl->check->decide(&p->facts, p->cfg, &sl->v))
			sl->done = true;
	}
}

/* Every check has answered.  The DNSWL's answer is one of them; it is
 * named too, because a dnswl_exempt check's refusal must never be
 * applied before it is known. */
static bool
all_done(const struct policy *p)
{
	if (!p->facts.dnswl_known)
		return false;
	for (size_t i = 0; i < p->n_slots; i++)
		if (!p->slots[i].done)
			return false;
	return true;
}

/* Something was decided: a waiter whose answer is now complete is
 * woken from the loop, not from here. */
static void
maybe_wake(struct policy *p)
{
	struct timeval now = { 0, 0 };

	if (p->wait_cb != NULL && all_done(p))
		evtimer_add(p->wake, &now);
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct policy *p = arg;
	policy_wake_cb cb = p->wait_cb;

	(void)fd;
	(void)what;
	if (cb == NULL)
		return;
	p->wait_cb = NULL;
	cb(p->wait_arg);
}

static bool
dnswl_pending(const struct policy *p)
{
	for (size_t i = 0; i < p->n_slots; i++)
		if (p->slots[i].check->id == POLICY_CHECK_DNSWL && !p->slots[i].done)
			return true;
	return false;
}

struct policy *
policy_new(const struct config *cfg, struct event_base *base,
    struct resolver *resolver, const struct sockaddr *client, const char *session)
{
	struct policy *p = xcalloc(1, sizeof(*p));

	p->cfg = cfg;
	snprintf(p->session, sizeof(p->session), "%s", session);
	p->env = (struct policy_env){ cfg, base, resolver, p->session };
	p->facts.dnswl_evidence = p->dnswl_evidence;
	memcpy(&p->facts.addr, client, client->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	netaddr_ip(client, p->facts.ip, sizeof(p->facts.ip));
	p->wake = evtimer_new(base, wake_cb, p);
	p->helo = helo_fact_new();
	p->slots = xcalloc(policy_n_checks, sizeof(*p->slots));
	for (size_t i = 0; i < policy_n_checks; i++) {
		const struct policy_check *c = policy_checks[i];
		struct policy_slot *sl = &p->slots[p->n_slots];

		if (cfg->policy.action[c->id] == POLICY_OFF)
			continue;
		sl->p = p;
		sl->check = c;
		sl->action = cfg->policy.action[c->id];
		p->n_slots++;
	}
	decide_all(p);
	/* No DNSWL lookup to wait for: no lists (or no such check). */
	p->facts.dnswl_known = !dnswl_pending(p);
	for (size_t i = 0; i < p->n_slots; i++) {
		struct policy_slot *sl = &p->slots[i];

		if (!sl->done && sl->check->start != NULL)
			sl->state = sl->check->start(sl, &p->facts, &p->env);
	}
	return p;
}

void
policy_check_done(struct policy_slot *sl, const struct verdict *v)
{
	sl->state = NULL;
	sl->v = *v;
	sl->done = true;
	maybe_wake(sl->p);
}

/* One line when a DNSWL exempts the client, naming the checks whose
 * refusals it voids (their own refusals are then not logged), and
 * greylisting when it is on. */
static void
log_dnswl(const struct policy *p)
{
	char ev[LOG_SAFE_SIZE(VERDICT_EVIDENCE_MAX)], exempt[256] = "";
	size_t len = 0;

	for (size_t i = 0; i < p->n_slots && len < sizeof(exempt); i++)
		if (p->slots[i].check->dnswl_exempt)
			len += (size_t)snprintf(exempt + len, sizeof(exempt) - len,
			    "%s%s", len == 0 ? "" : ",", p->slots[i].check->name);
	/* Greylisting too (greylist.c's client_skipped reads the fact). */
	if (p->grey != NULL && len < sizeof(exempt))
		snprintf(exempt + len, sizeof(exempt) - len, "%sgreylist",
		    len == 0 ? "" : ",");
	log_info("event=policy check=dnswl verdict=accept action=exempt "
	    "evidence=\"%s\"%s%s session=%s client=[%s]",
	    log_safe(p->dnswl_evidence, ev, sizeof(ev)),
	    len == 0 ? "" : " exempt=", exempt, p->session, p->facts.ip);
}

void
policy_dnswl_done(struct policy_slot *sl, bool hit, const char *evidence)
{
	struct policy *p = sl->p;
	struct verdict v;

	snprintf(p->dnswl_evidence, sizeof(p->dnswl_evidence), "%s", evidence);
	p->facts.dnswl_hit = hit;
	p->facts.dnswl_known = true;
	if (hit)
		log_dnswl(p);
	decide_all(p);
	verdict_accept(&v);
	policy_check_done(sl, &v);
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_slots; i++)
		if (p->slots[i].state != NULL && p->slots[i].check->cancel != NULL)
			p->slots[i].check->cancel(p->slots[i].state);
	helo_fact_free(p->helo, &p->facts);
	for (size_t i = 0; i < FCRDNS_NAMES_MAX; i++)
		free(p->names[i]);
	free(p->rdns_name);
	free(p->slots);
	event_free(p->wake);
	policy_grey_free(p->grey);
	free(p);
}

void
policy_client_name(struct policy *p, const struct fcrdns_result *res)
{
	struct policy_facts *f = &p->facts;

	if (f->rdns_known)
		return;
	f->rdns_known = true;
	/* No lookup at all (no resolver) is DNS trouble, not "no PTR". */
	f->rdns_status = res != NULL ? res->status : DNS_TEMPFAIL;
	for (size_t i = 0; res != NULL && i < res->n_ptr && i < FCRDNS_NAMES_MAX; i++) {
		p->names[i] = xstrdup(res->ptr[i]);
		f->ptr[f->n_ptr++] = p->names[i];
	}
	if (res != NULL && res->name != NULL)
		f->rdns_name = p->rdns_name = xstrdup(res->name);
	decide_all(p);
	maybe_wake(p);
}

/* The HELO/EHLO name's lookup ended (helo_fact.c, on the loop). */
static void
helo_arrived(void *arg)
{
	struct policy *p = arg;

	decide_all(p);
	maybe_wake(p);
}

void
policy_client_helo(struct policy *p, const char *name, bool local_domain,
    const struct sockaddr *server)
{
	bool judged = false, dns = false;

	for (size_t i = 0; i < p->n_slots; i++) {
		judged |= p->slots[i].check->helo;
		dns |= p->slots[i].check->helo_dns;
	}
	if (!judged || helo_fact_set(p->helo, &p->facts, &p->env, name,
	    local_domain, server, dns, helo_arrived, p))
		return;
	/* A new name: the helo.* verdicts start over, and are logged
	 * again when they refuse it. */
	for (size_t i = 0; i < p->n_slots; i++) {
		if (!p->slots[i].check->helo)
			continue;
		p->slots[i].done = false;
		p->slots[i].logged = false;
	}
	decide_all(p);
	maybe_wake(p);
}

static void
log_refusal(struct policy *p, struct policy_slot *sl)
{
	char ev[LOG_SAFE_SIZE(VERDICT_EVIDENCE_MAX)];

	if (sl->logged)
		return;
	sl->logged = true;
	log_info("event=policy check=%s verdict=%s action=%s evidence=\"%s\" "
	    "session=%s client=[%s]", sl->check->name,
	    verdict_kind_name(sl->v.kind), config_policy_action_name(sl->action),
	    log_safe(sl->v.evidence, ev, sizeof(ev)), p->session, p->facts.ip);
}

/* BCP, Common Mailbox Names: "Point to (captcha-enabled) abuse contact
 * web form when refusing mail for postmaster and abuse" - when the
 * operator made no mailbox exempt, every refusal says where to go. */
static void
add_abuse_url(const struct config *cfg, struct verdict *v)
{
	size_t len = strlen(v->text);

	if (cfg->policy.n_exempt != 0 || cfg->policy.abuse_url == NULL)
		return;
	snprintf(v->text + len, sizeof(v->text) - len, "; report problems at %s",
	    cfg->policy.abuse_url);
}

bool
policy_rcpt(struct policy *p, bool exempt, struct verdict *v,
    policy_wake_cb cb, void *arg)
{
	const struct verdict *refusal = NULL;

	verdict_accept(v);
	if (exempt)
		return true;
	if (!all_done(p)) {
		p->wait_cb = cb;
		p->wait_arg = arg;
		return false;
	}
	for (size_t i = 0; i < p->n_slots; i++) {
		struct policy_slot *sl = &p->slots[i];

		if (sl->v.kind == VERDICT_ACCEPT)
			continue;
		/* BCP: DNSWL-listed clients skip the DNS heuristics and
		 * greylisting; the line of log_dnswl() said so. */
		if (sl->check->dnswl_exempt && p->facts.dnswl_hit)
			continue;
		log_refusal(p, sl);
		if (sl->action == POLICY_LOG)
			continue;
		if (sl->action == POLICY_TEMPFAIL)
			verdict_soften(&sl->v);
		if (refusal == NULL || (refusal->kind == VERDICT_TEMPFAIL &&
		    sl->v.kind == VERDICT_REJECT))
			refusal = &sl->v;
	}
	if (refusal != NULL) {
		*v = *refusal;
		add_abuse_url(p->cfg, v);
	}
	return true;
}

void
policy_wait_cancel(struct policy *p)
{
	if (p == NULL)
		return;
	p->wait_cb = NULL;
	evtimer_del(p->wake);
}

bool
policy_rcpt_exempt(const struct config *cfg, const char *addr, bool local)
{
	const char *at = strrchr(addr, '@');
	size_t len = at != NULL ? (size_t)(at - addr) : strlen(addr);
	const char *delim = cfg->recipient_delimiter;

	/* Bare "postmaster" (RFC 5321 4.5.1) is local by definition. */
	if (!local && at != NULL)
		return false;
	if (delim != NULL && *delim != '\0') {
		size_t cut = strcspn(addr, delim);

		if (cut < len && cut > 0)
			len = cut;
	}
	for (size_t i = 0; i < cfg->policy.n_exempt; i++) {
		const char *e = cfg->policy.exempt[i];

		if (strlen(e) == len && strncasecmp(e, addr, len) == 0)
			return true;
	}
	return false;
}

/* --- greylisting (greylist.c), per triplet, at DATA ------------------------ */

void
policy_set_greylist(struct policy *p, struct greylist_store *store)
{
	policy_grey_free(p->grey);
	p->grey = policy_grey_new(p->cfg, p->env.base, store, &p->facts, p->session);
}

bool
policy_rcpt_greylist(struct policy *p, const char *sender, const char *rcpt,
    bool exempt, struct verdict *v, policy_wake_cb cb, void *arg)
{
	return policy_grey_rcpt(p->grey, &p->facts, sender, rcpt, exempt, v, cb, arg);
}

bool
policy_data(struct policy *p, const char *sender, struct verdict *v,
    policy_wake_cb cb, void *arg)
{
	return policy_grey_data(p->grey, &p->facts, sender, v, cb, arg);
}

void
policy_tx_end(struct policy *p)
{
	if (p != NULL)
		policy_grey_end(p->grey);
}
