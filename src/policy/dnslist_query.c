/*
 * The lookups of one group of DNS lists: see dnslist_query.h.  Called by
 * dnsbl.c and dnswl.c from their start(), on the session's loop.
 *
 * One A query per list, all started at once; one timer for the group.
 * The first of "every list answered" and "the timer fired" ends the
 * query: lookups still out are cancelled (resolver_cancel: their late
 * answers never reach us), the callback runs, and the query frees
 * itself.  dnslist_query_cancel() (the session went away first) does
 * the same without the callback.  A list that cannot be asked (the
 * query did not start, no resolver) is DNSLIST_TEMPFAIL at once; when
 * no list is left to wait for, the timer fires at zero, so the callback
 * still comes from the loop, never from inside dnslist_query_start().
 *
 * Trusts the answers only as A records: at most DNSLIST_ADDRS_MAX of
 * them per list, four octets each (any other length is skipped).  The
 * table of zones whose misconfiguration was logged lately is fixed in
 * size (struct dnslist_misconf): at worst a line is logged more often,
 * never memory spent.
 */
#include "policy/dnslist_query.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>

#include "common/log.h"
#include "common/xmalloc.h"

struct dnslist_lookup {
	struct dnslist_query *q;
	size_t i;		/* the list's index */
	int id;			/* resolver query id, -1 when none is out */
};

struct dnslist_query {
	const struct dnslist_group *g;
	struct resolver *resolver;
	struct event *timer;
	bool allow;		/* the allow lists: dnswl */
	const char *check;	/* "dnsbl" or "dnswl", for the log */
	char session[32];
	char ip[64];
	dnslist_done_cb cb;
	void *arg;
	size_t left;		/* lists not answered yet */
	struct dnslist_answer ans[DNSLIST_MAX];
	struct dnslist_lookup lk[DNSLIST_MAX];
};

static struct dnslist_misconf misconf;	/* zones logged lately */

static time_t
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void
log_misconf(const struct dnslist_query *q, size_t i, uint32_t a)
{
	const char *zone = q->g->lists[i].zone;
	char safe[LOG_SAFE_SIZE(DNSLIST_ZONE_MAX)], code[16];

	if (!dnslist_misconf_due(&misconf, zone, now_seconds()))
		return;
	log_warn("event=dnslist-misconfigured check=%s list=\"%s\" code=%s "
	    "reason=\"an error code, not a listing: the list refuses our "
	    "queries (a public resolver? too many?) or is misconfigured\" "
	    "session=%s client=[%s]", q->check,
	    log_safe(zone, safe, sizeof(safe)),
	    dnslist_addr_text(a, code, sizeof(code)), q->session, q->ip);
}

static void
log_failure(const struct dnslist_query *q, size_t i)
{
	char safe[LOG_SAFE_SIZE(DNSLIST_ZONE_MAX)];

	log_info("event=dnslist-error check=%s list=\"%s\" status=%s "
	    "effect=\"not listed\" session=%s client=[%s]", q->check,
	    log_safe(q->g->lists[i].zone, safe, sizeof(safe)),
	    q->ans[i].status == DNSLIST_TIMEOUT ? "timeout" : "tempfail",
	    q->session, q->ip);
}

/* Cancel what is out, report, free. */
static void
finish(struct dnslist_query *q)
{
	struct dnslist_result r = { q->g, q->ip, q->ans, q->g->n_lists };

	for (size_t i = 0; i < q->g->n_lists; i++) {
		struct dnslist_lookup *lk = &q->lk[i];

		if (lk->id >= 0) {
			resolver_cancel(q->resolver, lk->id);
			lk->id = -1;
		}
		if (q->ans[i].status == DNSLIST_PENDING)
			q->ans[i].status = DNSLIST_TIMEOUT;
		if (q->ans[i].status == DNSLIST_TIMEOUT ||
		    q->ans[i].status == DNSLIST_TEMPFAIL)
			log_failure(q, i);
	}
	q->cb(q->arg, &r);
	dnslist_query_cancel(q);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg);
}

static void
record(struct dnslist_query *q, size_t i, enum dns_status st,
    const struct ub_result *res)
{
	struct dnslist_answer *a = &q->ans[i];

	/* DNS_OK with no usable A record is no listing either. */
	a->status = st == DNS_TEMPFAIL ? DNSLIST_TEMPFAIL : DNSLIST_NOT_LISTED;
	for (int k = 0; res != NULL && res->data[k] != NULL; k++) {
		const unsigned char *p = (const unsigned char *)res->data[k];
		uint32_t v;

		if (res->len[k] != 4 || a->n == DNSLIST_ADDRS_MAX)
			continue;
		v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (dnslist_refused(v, q->allow))
			log_misconf(q, i, v);
		a->addr[a->n++] = v;
		a->status = DNSLIST_LISTED;
	}
}

static void
answer_cb(void *arg, enum dns_status st, struct ub_result *res)
{
	struct dnslist_lookup *lk = arg;
	struct dnslist_query *q = lk->q;

	lk->id = -1;		/* the resolver is done with it */
	record(q, lk->i, st, res);
	if (--q->left == 0)
		finish(q);
}

struct dnslist_query *
dnslist_query_start(const struct dnslist_group *g, const struct policy_facts *f,
    const struct policy_env *env, bool allow, dnslist_done_cb cb, void *arg)
{
	struct dnslist_query *q = xcalloc(1, sizeof(*q));
	struct timeval tv = { 0, 0 };

	q->g = g;
	q->resolver = env->resolver;
	q->allow = allow;
	q->check = allow ? "dnswl" : "dnsbl";
	q->cb = cb;
	q->arg = arg;
	snprintf(q->session, sizeof(q->session), "%s", env->session);
	snprintf(q->ip, sizeof(q->ip), "%s", f->ip);
	q->timer = evtimer_new(env->base, timer_cb, q);
	for (size_t i = 0; i < g->n_lists && i < DNSLIST_MAX; i++) {
		char name[DNSLIST_NAME_MAX];

		q->lk[i] = (struct dnslist_lookup){ q, i, -1 };
		q->ans[i].status = DNSLIST_TEMPFAIL;
		if (env->resolver == NULL || dnslist_name((const struct sockaddr *)
		    &f->addr, g->lists[i].zone, name, sizeof(name)) < 0)
			continue;
		q->lk[i].id = resolver_query(env->resolver, name, 1 /* A */,
		    answer_cb, &q->lk[i]);
		if (q->lk[i].id >= 0) {
			q->ans[i].status = DNSLIST_PENDING;
			q->left++;
		}
	}
	if (q->left > 0)
		tv.tv_sec = g->timeout;
	evtimer_add(q->timer, &tv);
	return q;
}

void
dnslist_query_cancel(struct dnslist_query *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->g->n_lists && i < DNSLIST_MAX; i++)
		if (q->lk[i].id >= 0)
			resolver_cancel(q->resolver, q->lk[i].id);
	event_free(q->timer);
	free(q);
}
