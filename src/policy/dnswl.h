/*
 * The "dnswl" check's judgement (dnswl.c), pure, for unit tests.
 */
#ifndef DECORUM_POLICY_DNSWL_H
#define DECORUM_POLICY_DNSWL_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/dnslist.h"

/*
 * Does a list of r->g list the client r->ip at its min_level or above
 * (dnslist_wl_counts)?  evidence: the first such list and code, "zone=
 * 127.0.10.2 level 2", or "" when none does.
 */
bool dnswl_judge(const struct dnslist_result *r, char *evidence, size_t len);

#endif
