/*
 * The lookups of one group of DNS lists for one client (policy.dnsbl or
 * policy.dnswl): every list asked at once, in parallel, through the
 * session's resolver on its loop, all bounded by the group's timeout.
 * Used by the dnsbl and dnswl checks from their start().
 */
#ifndef DECORUM_POLICY_DNSLIST_QUERY_H
#define DECORUM_POLICY_DNSLIST_QUERY_H

#include "policy/check.h"
#include "policy/dnslist.h"

struct dnslist_query;

/*
 * Every list has answered, or the timeout came: r->ans[i] is list i's
 * answer (never DNSLIST_PENDING).  Runs on the loop, later, never from
 * inside dnslist_query_start; the query (and r) is freed once it
 * returns, and the callback must not cancel it.
 */
typedef void (*dnslist_done_cb)(void *arg, const struct dnslist_result *r);

/*
 * Ask each list of g about the client f->addr.  allow: g is the allow
 * lists (policy.dnswl; their error codes differ, dnslist_refused).
 * The log lines name the check and env->session: a list that fails or times
 * out (event=dnslist-error, per session: it counts as not listed), and
 * an answer in 127.255.255.0/24 (event=dnslist-misconfigured, at most
 * once a minute per zone, in a table of bounded size).  Without a
 * resolver every list is DNSLIST_TEMPFAIL.
 */
struct dnslist_query *dnslist_query_start(const struct dnslist_group *g,
    const struct policy_facts *f, const struct policy_env *env,
    bool allow, dnslist_done_cb cb, void *arg);
/* Stops every lookup; the callback never runs.  NULL is fine. */
void dnslist_query_cancel(struct dnslist_query *q);

#endif
