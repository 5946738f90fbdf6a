/*
 * The greylisting check (docs/policy.md "Greylisting"; the BCP's
 * "greylisting done right"), one session's part: which recipients are
 * greylisted, their triplets, the questions to the store
 * (src/greylist/store.h) and the answer.  Called by policy.c only.
 *
 * The triplet is (client network, sender, recipient): the network cut
 * to greylist.network_v4 / network_v6 (/24, /64; common/netkey.h), the
 * addresses lower-cased, "" for the null sender.
 *
 * When the answer bites (BCP: callouts must get their true answer):
 *   - at DATA, after every RCPT: each recipient routing and the other
 *     checks accepted got its 250, and DATA asks the store about every
 *     one of them at once; one deferred triplet makes DATA 451 4.7.1.
 *     A callout (MAIL FROM:<>, RCPT, QUIT) never reaches DATA: it asks
 *     nothing and leaves no record.
 *   - at RCPT once the transaction holds an exempt recipient (policy.c:
 *     postmaster, abuse...): the greylisted RCPTs after it are asked at
 *     once and get their own 451, so the exempt mail goes through now.
 *     Recipients accepted before the exempt one stay for DATA (their
 *     250 was given); if one of them is deferred the whole message
 *     waits, exempt recipient included - a retry delivers it, and no
 *     greylisted recipient is let through by adding postmaster.
 *
 * Skipped: exempt recipients, a client whose verified FCrDNS name is in
 * or under greylist.allow_domains (authenticated clients and
 * relay_networks never get here: commands.c, session.c).
 *
 * The store answers on the loop, later; the waiter is woken from an
 * event of ours (never from inside the store's callback), and a store
 * that has not answered after GREY_WAIT_SECONDS counts as trouble.
 * Trouble (the store could not answer) is logged at most once a minute
 * and accepted, or with greylist.on_trouble = "tempfail" answered 451.
 * Every question out is cancelled when the transaction or the session
 * ends (policy_grey_end, policy_grey_free).
 *
 * Trusts: the addresses as the session parsed them (bounded by RFC 5321
 * limits); they reach the log only through log_safe.  Memory: one slot
 * per distinct recipient, at most max_recipients, allocated as they come.
 */
#include "policy/greylist.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/config.h"
#include "common/log.h"
#include "common/netkey.h"
#include "common/xmalloc.h"
#include "greylist/store.h"
#include "policy/check.h"

#define GREY_WAIT_SECONDS	10	/* a store that has not answered: trouble */
#define GREY_TROUBLE_LOG	60	/* seconds between "failing open" lines */

struct grey_rcpt {
	struct policy_grey *g;
	char rcpt[GREYLIST_ADDR_MAX];
	struct greylist_query *q;	/* out, NULL once answered or cancelled */
	bool answered;
	struct greylist_reply reply;
};

struct policy_grey {
	const struct config *cfg;
	struct greylist_store *store;
	char session[32];
	char ip[64];
	char net[GREYLIST_NET_MAX];
	bool exempt_seen;		/* an exempt RCPT in this transaction */
	struct grey_rcpt **at_data;	/* asked at DATA, one allocation each */
	size_t n_at_data;
	bool data_asked;
	struct grey_rcpt now;		/* asked at RCPT (after an exempt one) */
	struct event *wake;		/* runs the waiter's callback */
	struct event *deadline;		/* the store is too slow */
	policy_wake_cb cb;		/* NULL: nobody waits */
	void *arg;
};

/* One process, one line a minute, whatever the sessions. */
static time_t trouble_logged;

static void
lower_copy(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < dstlen; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ?
		    (char)(src[i] - 'A' + 'a') : src[i];
	dst[i] = '\0';
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct policy_grey *g = arg;
	policy_wake_cb cb = g->cb;

	(void)fd;
	(void)what;
	if (cb == NULL)
		return;
	g->cb = NULL;
	evtimer_del(g->deadline);
	cb(g->arg);
}

static void
cancel_one(struct grey_rcpt *r)
{
	greylist_query_cancel(r->q);
	r->q = NULL;
}

/* Too slow: every question still out is trouble. */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct policy_grey *g = arg;
	struct timeval now = { 0, 0 };

	(void)fd;
	(void)what;
	for (size_t i = 0; i <= g->n_at_data; i++) {
		struct grey_rcpt *r = i < g->n_at_data ? g->at_data[i] : &g->now;

		if (r->q == NULL)
			continue;
		cancel_one(r);
		r->answered = true;
		r->reply.answer = GREYLIST_TROUBLE;
	}
	evtimer_add(g->wake, &now);
}

struct policy_grey *
policy_grey_new(const struct config *cfg, struct event_base *base,
    struct greylist_store *store, const struct policy_facts *f,
    const char *session)
{
	const struct netkey_prefixes prefixes = { cfg->greylist.prefix_v4,
	    cfg->greylist.prefix_v6 };
	struct policy_grey *g;
	struct netkey k;

	if (store == NULL || cfg->greylist.action == POLICY_OFF)
		return NULL;
	netkey_from((const struct sockaddr *)&f->addr, &prefixes, &k);
	if (k.family == 0)
		return NULL;
	g = xcalloc(1, sizeof(*g));
	g->cfg = cfg;
	g->store = store;
	snprintf(g->session, sizeof(g->session), "%s", session);
	snprintf(g->ip, sizeof(g->ip), "%s", f->ip);
	netkey_format(&k, g->net, sizeof(g->net));
	g->now.g = g;
	g->wake = evtimer_new(base, wake_cb, g);
	g->deadline = evtimer_new(base, deadline_cb, g);
	return g;
}

void
policy_grey_end(struct policy_grey *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n_at_data; i++) {
		cancel_one(g->at_data[i]);
		free(g->at_data[i]);
	}
	free(g->at_data);
	g->at_data = NULL;
	cancel_one(&g->now);
	memset(&g->now, 0, sizeof(g->now));
	g->now.g = g;
	g->n_at_data = 0;
	g->data_asked = false;
	g->exempt_seen = false;
	g->cb = NULL;
	evtimer_del(g->wake);
	evtimer_del(g->deadline);
}

void
policy_grey_free(struct policy_grey *g)
{
	if (g == NULL)
		return;
	policy_grey_end(g);
	event_free(g->wake);
	event_free(g->deadline);
	free(g);
}

/* BCP: a known good sender, by its verified name, is not delayed. */
static bool
allowed_domain(const struct config *cfg, const struct policy_facts *f)
{
	const char *name = f->rdns_known ? f->rdns_name : NULL;
	size_t len;

	if (name == NULL)
		return false;
	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < cfg->greylist.n_allow_domains; i++) {
		const char *d = cfg->greylist.allow_domains[i];
		size_t dl = strlen(d);

		if (len == dl && strncasecmp(name, d, dl) == 0)
			return true;
		if (len > dl && name[len - dl - 1] == '.' &&
		    strncasecmp(name + len - dl, d, dl) == 0)
			return true;
	}
	return false;
}

/*
 * Is the client spared greylisting?  The one place a client-level
 * exemption goes (a DNSWL hit, issue 9 item 5, joins allow_domains here).
 */
static bool
client_skipped(const struct policy_grey *g, const struct policy_facts *f)
{
	return allowed_domain(g->cfg, f);
}

static bool
all_answered(const struct policy_grey *g)
{
	for (size_t i = 0; i < g->n_at_data; i++)
		if (!g->at_data[i]->answered)
			return false;
	return true;
}

static void
answer_cb(void *arg, const struct greylist_reply *reply)
{
	struct grey_rcpt *r = arg;
	struct policy_grey *g = r->g;
	struct timeval now = { 0, 0 };

	r->q = NULL;
	r->answered = true;
	r->reply = *reply;
	if (g->cb != NULL && (r == &g->now || all_answered(g)))
		evtimer_add(g->wake, &now);
}

static void
ask(struct policy_grey *g, struct grey_rcpt *r, const char *sender, time_t now)
{
	struct greylist_triplet t;

	memset(&t, 0, sizeof(t));
	snprintf(t.net, sizeof(t.net), "%s", g->net);
	lower_copy(t.sender, sizeof(t.sender), sender);
	snprintf(t.rcpt, sizeof(t.rcpt), "%s", r->rcpt);
	r->g = g;
	r->answered = false;
	r->q = greylist_store_check(g->store, &t, now, answer_cb, r);
}

static void
wait_for(struct policy_grey *g, policy_wake_cb cb, void *arg)
{
	struct timeval tv = { GREY_WAIT_SECONDS, 0 };

	g->cb = cb;
	g->arg = arg;
	if (!evtimer_pending(g->deadline, NULL))
		evtimer_add(g->deadline, &tv);
}

static void
log_answer(struct policy_grey *g, const char *sender, const struct grey_rcpt *r,
    time_t now)
{
	static const char *const names[] = { "pass", "defer", "trouble" };
	char s[LOG_SAFE_SIZE(GREYLIST_ADDR_MAX)], t[LOG_SAFE_SIZE(GREYLIST_ADDR_MAX)];
	char low[GREYLIST_ADDR_MAX];
	const struct greylist_reply *rp = &r->reply;

	/* As the triplet has it. */
	lower_copy(low, sizeof(low), sender);
	log_info("event=greylist session=%s client=[%s] net=%s sender=\"%s\" "
	    "rcpt=\"%s\" answer=%s retry_in=%lld net_allowed=%s", g->session,
	    g->ip, g->net, log_safe(low, s, sizeof(s)),
	    log_safe(r->rcpt, t, sizeof(t)), names[rp->answer],
	    rp->answer == GREYLIST_DEFER ? (long long)(rp->retry_at - now) : 0LL,
	    rp->net_allowed ? "yes" : "no");
}

static void
log_refusal(struct policy_grey *g, const struct verdict *v)
{
	char ev[LOG_SAFE_SIZE(VERDICT_EVIDENCE_MAX)];

	log_info("event=policy check=greylist verdict=%s action=%s evidence=\"%s\" "
	    "session=%s client=[%s]", verdict_kind_name(v->kind),
	    config_policy_action_name(g->cfg->greylist.action),
	    log_safe(v->evidence, ev, sizeof(ev)), g->session, g->ip);
}

static void
log_trouble(const struct policy_grey *g, bool tempfail, time_t now)
{
	if (trouble_logged != 0 && now - trouble_logged < GREY_TROUBLE_LOG)
		return;
	trouble_logged = now;
	log_warn("event=greylist-unavailable session=%s client=[%s] on_trouble=%s "
	    "effect=\"%s\"", g->session, g->ip, tempfail ? "tempfail" : "accept",
	    tempfail ? "mail deferred with 451" : "mail accepted without greylisting");
}

/*
 * The verdict from the answers of rs[0..n): a deferred triplet wins
 * (451 with the latest retry time, so a retry then passes them all),
 * then trouble (accept, or 451 with on_trouble = "tempfail").  prefix:
 * "<rcpt>: " at RCPT, "" at DATA.
 */
static void
weigh(struct policy_grey *g, const char *sender, struct grey_rcpt *const *rs,
    size_t n, const char *prefix, struct verdict *v)
{
	time_t now = time(NULL), retry = 0;
	size_t deferred = 0, trouble = 0, first = n;

	verdict_accept(v);
	for (size_t i = 0; i < n; i++) {
		const struct greylist_reply *rp = &rs[i]->reply;

		log_answer(g, sender, rs[i], now);
		if (rp->answer == GREYLIST_DEFER) {
			if (first == n)
				first = i;
			deferred++;
			if (rp->retry_at > retry)
				retry = rp->retry_at;
		} else if (rp->answer == GREYLIST_TROUBLE) {
			trouble++;
		}
	}
	if (deferred > 0) {
		long long in = retry > now ? (long long)(retry - now) : 1;
		char s[GREYLIST_ADDR_MAX];

		lower_copy(s, sizeof(s), sender);
		/* RFC 6647 2.1: a temporary failure the client retries. */
		verdict_refuse(v, 451, "4.7.1", "%sGreylisted, try again in %lld "
		    "second%s", prefix, in, in == 1 ? "" : "s");
		verdict_evidence(v, "%zu of %zu triplets new or too early: net=%s "
		    "sender=<%s> rcpt=<%s>", deferred, n, g->net, s, rs[first]->rcpt);
		log_refusal(g, v);
		if (g->cfg->greylist.action == POLICY_LOG)
			verdict_accept(v);
		return;
	}
	if (trouble == 0)
		return;
	log_trouble(g, g->cfg->greylist.trouble_tempfail, now);
	if (g->cfg->greylist.trouble_tempfail)
		verdict_refuse(v, 451, "4.3.0", "%sGreylisting temporarily "
		    "unavailable, try again later", prefix);
}

/* Keep rcpt (lower case) for DATA, once. */
static void
keep_for_data(struct policy_grey *g, const char *rcpt)
{
	struct grey_rcpt *r;

	for (size_t i = 0; i < g->n_at_data; i++)
		if (strcmp(g->at_data[i]->rcpt, rcpt) == 0)
			return;
	/* The session refuses RCPTs past max_recipients (452) first. */
	if (g->n_at_data >= g->cfg->max_recipients)
		return;
	g->at_data = xreallocarray(g->at_data, g->n_at_data + 1,
	    sizeof(*g->at_data));
	r = xcalloc(1, sizeof(*r));
	r->g = g;
	snprintf(r->rcpt, sizeof(r->rcpt), "%s", rcpt);
	g->at_data[g->n_at_data++] = r;
}

bool
policy_grey_rcpt(struct policy_grey *g, const struct policy_facts *f,
    const char *sender, const char *rcpt, bool exempt, struct verdict *v,
    policy_wake_cb cb, void *arg)
{
	char low[GREYLIST_ADDR_MAX], prefix[GREYLIST_ADDR_MAX + 4];
	struct grey_rcpt *now_one;

	verdict_accept(v);
	if (g == NULL || client_skipped(g, f))
		return true;
	if (exempt) {
		g->exempt_seen = true;
		return true;
	}
	lower_copy(low, sizeof(low), rcpt);
	if (!g->exempt_seen) {
		keep_for_data(g, low);
		return true;
	}
	if (!(g->now.rcpt[0] != '\0' && strcmp(g->now.rcpt, low) == 0)) {
		cancel_one(&g->now);
		snprintf(g->now.rcpt, sizeof(g->now.rcpt), "%s", low);
		ask(g, &g->now, sender, time(NULL));
	}
	if (!g->now.answered) {
		wait_for(g, cb, arg);
		return false;
	}
	snprintf(prefix, sizeof(prefix), "<%s>: ", low);
	now_one = &g->now;
	weigh(g, sender, &now_one, 1, prefix, v);
	g->now.rcpt[0] = '\0';
	g->now.answered = false;
	return true;
}

bool
policy_grey_data(struct policy_grey *g, const struct policy_facts *f,
    const char *sender, struct verdict *v, policy_wake_cb cb, void *arg)
{
	verdict_accept(v);
	if (g == NULL || g->n_at_data == 0 || client_skipped(g, f))
		return true;
	if (!g->data_asked) {
		time_t now = time(NULL);

		g->data_asked = true;
		for (size_t i = 0; i < g->n_at_data; i++)
			ask(g, g->at_data[i], sender, now);
	}
	if (!all_answered(g)) {
		wait_for(g, cb, arg);
		return false;
	}
	weigh(g, sender, g->at_data, g->n_at_data, "", v);
	return true;
}
