/*
 * Mail to our SRS domain (docs/forwarding.md, "Bounces"): an SRS0 or
 * SRS1 address we made stands for the address it was made from, when
 * its hash verifies and (SRS0) its stamp is at most srs.max_age days
 * old; anything else there is refused, never relayed.  Used by
 * route_resolve(), so the RCPT check, the queue manager and `decorum
 * route` read such an address alike.
 */
#ifndef DECORUM_ROUTE_REVERSE_H
#define DECORUM_ROUTE_REVERSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct config;

enum route_srs {
	ROUTE_SRS_NONE,		/* no SRS0/SRS1 local part: not ours to reverse */
	ROUTE_SRS_OK,		/* out holds the original address */
	ROUTE_SRS_INVALID,	/* forged, expired, future, malformed (why) */
	ROUTE_SRS_NOKEY,	/* srs is on but the keys were not read (why) */
};

/* Is canon (a canonical domain, domains_canon) the srs group's domain? */
bool route_srs_domain(const struct config *cfg, const char *canon);

/*
 * local (unquoted, as domains_split_address gives it) at our SRS domain
 * canon, reversed as of now into out (outlen octets, SRS_ADDRESS_MAX + 1
 * or more).  The tag ("SRS0", "srs1", then '=', '+' or '-') is read in
 * any case, and so is the hash, as libsrs2 does.  why: a short English
 * reason ("hash does not verify"), may be NULL.  Pure: no I/O.
 */
enum route_srs route_srs_reverse(const struct config *cfg, const char *local,
    const char *canon, time_t now, char *out, size_t outlen, char *why,
    size_t whylen);

#endif
