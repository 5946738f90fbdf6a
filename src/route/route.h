/*
 * Routing: one function from (address, config, tables) to destinations,
 * shared by RCPT checks, delivery and `decorum route ADDRESS`.
 *
 * Rules, in order (docs/architecture.md has the full table):
 *  1. "postmaster" with no domain → the configured postmaster address.
 *  2. Our SRS domain (srs.domain): a valid SRS0/SRS1 address → what it
 *     stands for, routed as if asked, a remote one returned as is (not a
 *     forward), in a ROUTE_LOCAL result; a forged, expired or malformed
 *     one → ROUTE_UNKNOWN; other names → 6. (or 4.-6. when the SRS domain
 *     is also local), else ROUTE_UNKNOWN (reverse.h).
 *  3. A domain that is not local → ROUTE_REMOTE (relay decided by the caller).
 *  4. local part (minus a +extension) is a user → that mailbox.
 *  5. local part is an alias → its targets, local or foreign (a forward:
 *     route_dest.forward), expanded recursively (depth
 *     ALIAS_DEPTH_MAX, loops broken, duplicates dropped).
 *  6. postmaster, abuse, security → the configured postmaster address.
 *  7. otherwise ROUTE_UNKNOWN (550 5.1.1 at RCPT time).
 * A domain with no canonical form (not valid IDNA2008, RFC 5891) is
 * ROUTE_INVALID, with the reason: no DNS lookup could ever find it.
 */
#ifndef DECORUM_ROUTE_ROUTE_H
#define DECORUM_ROUTE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct config;
struct domains;

enum route_kind {
	ROUTE_LOCAL,		/* every destination is a local mailbox */
	ROUTE_REMOTE,		/* domain not local: relay (or refuse) */
	ROUTE_UNKNOWN,		/* no such user in a local domain */
	ROUTE_TEMPFAIL,		/* a table could not be read: try later */
	ROUTE_UNSUPPORTED,	/* e.g. an alias to a pipe, an expansion too big */
	ROUTE_INVALID,		/* the domain is no valid name (not IDNA2008):
				 * no DNS lookup can find it, refuse (5.1.2) */
};

struct route_dest {
	enum route_kind kind;	/* ROUTE_LOCAL or ROUTE_REMOTE */
	bool forward;		/* ROUTE_REMOTE reached through an address
				 * of ours (an alias, the postmaster living
				 * elsewhere): the queue manager sends it
				 * as a forwarded copy, with the sender
				 * route_forward_sender() gives */
	char *local;		/* mailbox local part, lower case */
	char *domain;		/* canonical (lower-case A-label form,
				 * domains_canon), local or remote; an
				 * address literal ("[192.0.2.1]") as
				 * written, lower case */
};

struct route_result {
	enum route_kind kind;
	char reason[512];	/* human-readable, e.g. "alias abuse -> admin@example.test: local user" */
	struct route_dest *dests;
	size_t n_dests;
};

/* addr: "local@domain" (local part possibly quoted) or "postmaster". */
void route_resolve(const struct config *cfg, struct domains *d,
    const char *addr, struct route_result *out);
/* The same as of now (an SRS address's stamp is judged against it):
 * route_resolve is route_resolve_at(..., time(NULL), ...). */
void route_resolve_at(const struct config *cfg, struct domains *d,
    const char *addr, time_t now, struct route_result *out);
void route_result_free(struct route_result *r);

/* "local"/"remote"/...: for logs and `decorum route`. */
const char *route_kind_name(enum route_kind kind);

#endif
