/*
 * The envelope sender of a forwarded copy (docs/forwarding.md, "When
 * Decorum rewrites"): the Sender Rewriting Scheme applied where SPF at
 * the next hop would otherwise fail, and nowhere else.
 *
 * The original sender is kept when it is <> (RFC 5321 4.5.5: nothing
 * may bounce a bounce), when its domain is one of ours (we are allowed
 * to send for it), when the message came from an authenticated user of
 * ours (the user may send as it), when it already is an address in our
 * SRS domain, and when no srs group is configured.  Otherwise it becomes
 * SRS0 (SRS1 for an SRS0 address of another forwarder), stamped with
 * now's day: called once, when the forwarded copy is queued, whose
 * envelope keeps the result for every retry to every host.
 */
#ifndef DECORUM_ROUTE_FORWARD_H
#define DECORUM_ROUTE_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct config;
struct domains;

enum forward_sender {
	FORWARD_KEPT,		/* out holds the sender unchanged; why says why */
	FORWARD_SRS,		/* out holds the SRS address */
	FORWARD_TEMPFAIL,	/* a table could not be read: try later (why) */
};

/* Longest sender written into out, without the NUL. */
#define FORWARD_SENDER_MAX	254

/*
 * sender: the message's envelope sender ("" for <>).  authenticated:
 * the message was submitted by a user of ours (AUTH, or `sendmail` run
 * by a local account).  out: FORWARD_SENDER_MAX + 1 octets or more;
 * why: a short English reason for logs and `decorum route` (may be
 * NULL).  A sender SRS cannot rewrite (too long for 254 octets, no key)
 * is kept, with the reason: the copy still goes, as it would without
 * SRS.  Lookups in d only: runs on the caller's thread, no I/O of its
 * own.
 */
enum forward_sender route_forward_sender(const struct config *cfg,
    struct domains *d, const char *sender, bool authenticated, time_t now,
    char *out, size_t outlen, char *why, size_t whylen);

const char *forward_sender_name(enum forward_sender f);

#endif
