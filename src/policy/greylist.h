/*
 * Greylisting for one session (greylist.c), for policy.c only: the
 * session reaches it through policy.h (policy_set_greylist,
 * policy_rcpt_greylist, policy_data, policy_tx_end).
 */
#ifndef DECORUM_POLICY_GREYLIST_H
#define DECORUM_POLICY_GREYLIST_H

#include <stdbool.h>
#include <sys/socket.h>

#include "policy/policy.h"
#include "policy/verdict.h"

struct config;
struct event_base;
struct greylist_store;
struct policy_facts;
struct policy_grey;

/* NULL when greylisting is off or the client has no network key. */
struct policy_grey *policy_grey_new(const struct config *cfg,
    struct event_base *base, struct greylist_store *store,
    const struct policy_facts *f, const char *session);
void policy_grey_free(struct policy_grey *g);
/* See policy_rcpt_greylist and policy_data in policy.h. */
bool policy_grey_rcpt(struct policy_grey *g, const struct policy_facts *f,
    const char *sender, const char *rcpt, bool exempt, struct verdict *v,
    policy_wake_cb cb, void *arg);
bool policy_grey_data(struct policy_grey *g, const struct policy_facts *f,
    const char *sender, struct verdict *v, policy_wake_cb cb, void *arg);
void policy_grey_end(struct policy_grey *g);

#endif
