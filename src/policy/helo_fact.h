/*
 * The HELO/EHLO name as a fact of the policy (check.h, struct
 * policy_facts): the name, whether it is ours, and its one A/AAAA
 * lookup, shared by helo.resolves, helo.matches_ip and helo.syntax's
 * own-name rule.  Internal to src/policy: policy.c owns one per session.
 */
#ifndef DECORUM_POLICY_HELO_FACT_H
#define DECORUM_POLICY_HELO_FACT_H

#include <stdbool.h>
#include <sys/socket.h>

struct helo_fact;
struct policy_env;
struct policy_facts;

struct helo_fact *helo_fact_new(void);
/* Cancels the lookup still out; clears the facts it set.  NULL is fine. */
void helo_fact_free(struct helo_fact *h, struct policy_facts *f);

/*
 * A HELO/EHLO name (as the session took it: at most SMTP_DOMAIN_MAX
 * octets; longer is cut and then fails the syntax).  local_domain: it is
 * one of our local domains; server: the address the client connected
 * to, NULL if unknown.  dns: a check needs the name's A/AAAA (without
 * it they are asked only for our own name).  Replaces the previous name: its lookup is
 * cancelled.  True when the name is the one already held (nothing
 * changed).  When a lookup starts, arrived(arg) runs later on the loop
 * once its facts are in f, never from inside this call.
 */
bool helo_fact_set(struct helo_fact *h, struct policy_facts *f,
    const struct policy_env *env, const char *name, bool local_domain,
    const struct sockaddr *server, bool dns, void (*arrived)(void *),
    void *arg);

#endif
