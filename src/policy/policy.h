/*
 * The inbound policy of one SMTP session (docs/policy.md): the checks of
 * this folder, run for one client, weighed into one verdict per
 * recipient.  Called by src/smtpd only.
 *
 * The session creates the context when the client connects (unless it
 * skips every check: relay_networks), hands it the facts it learns
 * (policy_client_name once the FCrDNS lookup ends), and asks at each
 * RCPT that routing accepted.  An answer that is not ready yet (a
 * lookup still out) is promised: the callback runs later on the loop,
 * never from inside a policy_* call, and never after policy_wait_cancel
 * or policy_free.
 *
 * Every verdict that is not accept is logged once per session, when it
 * is first applied: event=policy check=NAME verdict=... action=...
 * evidence="..." session=ID client=[IP].
 */
#ifndef DECORUM_POLICY_POLICY_H
#define DECORUM_POLICY_POLICY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "policy/verdict.h"

struct config;
struct event_base;
struct fcrdns_result;
struct greylist_store;
struct policy;
struct resolver;

/* session: its id for the logs; resolver NULL: no DNS (every DNS check
 * then answers "try later"). */
struct policy *policy_new(const struct config *cfg, struct event_base *base,
    struct resolver *resolver, const struct sockaddr *client,
    const char *session);
/* Cancels what is pending (no callback runs after it).  NULL is fine. */
void policy_free(struct policy *p);

/* The session's FCrDNS lookup ended (res NULL: no lookup was made). */
void policy_client_name(struct policy *p, const struct fcrdns_result *res);

/*
 * The verdict for one recipient that routing accepted.  exempt: one of
 * the exempt mailboxes (policy_rcpt_exempt): accepted at once, whatever
 * the client-level verdicts say.  True with *v filled; false when a
 * check has not answered yet: then cb(arg) runs later on the loop, and
 * the caller asks again.
 */
typedef void (*policy_wake_cb)(void *arg);
bool policy_rcpt(struct policy *p, bool exempt, struct verdict *v,
    policy_wake_cb cb, void *arg);
/* The promised callback will not run.  Safe when none is promised. */
void policy_wait_cancel(struct policy *p);

/*
 * Is addr ("local@domain" or bare "postmaster", as routing took it) one
 * of the exempt mailboxes (policy.exempt, default postmaster, abuse,
 * security; BCP "Common Mailbox Names")?  local: routing found its
 * domain local; only local mailboxes are exempt.  The local part is
 * compared without case and without a +extension.  Pure.
 */
bool policy_rcpt_exempt(const struct config *cfg, const char *addr, bool local);

/*
 * Greylisting (greylist.c, docs/policy.md "Greylisting").  The session
 * hands over the smtpd's store once, after policy_new (NULL, or
 * greylist.action "off": no greylisting).  policy_rcpt_greylist comes
 * after policy_rcpt accepted a recipient (exempt as given to it);
 * sender is MAIL FROM's address, "" for <>.  It usually accepts at once
 * and keeps the recipient for DATA; after an exempt recipient in the
 * same transaction it asks now and may answer 451 for this recipient.
 * policy_data is DATA's answer: accept, or 451 4.7.1 with when to
 * retry.  Both may promise like policy_rcpt (false, cb later on the
 * loop, never after policy_tx_end or policy_free).  policy_tx_end:
 * the transaction ended (RSET, HELO, DATA done, the session gone);
 * what it asked is cancelled.
 */
void policy_set_greylist(struct policy *p, struct greylist_store *store);
bool policy_rcpt_greylist(struct policy *p, const char *sender,
    const char *rcpt, bool exempt, struct verdict *v, policy_wake_cb cb,
    void *arg);
bool policy_data(struct policy *p, const char *sender, struct verdict *v,
    policy_wake_cb cb, void *arg);
void policy_tx_end(struct policy *p);

#endif
