/*
 * The "dnsbl" check's judgement (dnsbl.c), pure, for unit tests: the
 * lists' answers weighed into a verdict.
 */
#ifndef DECORUM_POLICY_DNSBL_H
#define DECORUM_POLICY_DNSBL_H

#include <stddef.h>

#include "policy/dnslist.h"
#include "policy/verdict.h"

/*
 * Weigh r (list i of r->g answered r->ans[i], about the client r->ip):
 * the sum of the weights of the lists whose answer holds a code that counts
 * (dnslist_bl_counts).  At or above r->g->threshold: 554 5.7.1 "Service
 * unavailable; client [IP] blocked using LIST", LIST the heaviest list
 * that counted (the first of equal weight); otherwise accept.  Either
 * way the evidence names every list and code that counted, and the
 * sum.  Returns the sum.
 */
unsigned dnsbl_judge(const struct dnslist_result *r, struct verdict *v);

#endif
