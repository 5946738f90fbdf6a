/*
 * Forward-confirmed reverse DNS of a client (BCP "Valid Reverse DNS",
 * RFC 1912 2.1): the PTR names of the client's IP, each looked up again
 * as A/AAAA; the first name whose addresses include the IP is the
 * client's verified name.  Used for the Received: header now, and by the
 * FCrDNS policy check later.
 */
#ifndef DECORUM_DNS_FCRDNS_H
#define DECORUM_DNS_FCRDNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "dns/resolver.h"

struct fcrdns;

/* st: DNS_OK with the verified name; DNS_NOTFOUND (no PTR, or no name
 * maps back); DNS_TEMPFAIL (DNS failure or the deadline passed). */
typedef void (*fcrdns_cb)(void *arg, enum dns_status st, const char *name);

struct fcrdns *fcrdns_start(struct resolver *r, struct event_base *base,
    const struct sockaddr *sa, unsigned timeout_seconds, fcrdns_cb cb, void *arg);
/* The callback will not run. */
void fcrdns_cancel(struct fcrdns *f);

/* Wire-format rdata name → "host.example." text; -1 if malformed.
 * Exposed for unit tests. */
int fcrdns_wire_name(const unsigned char *p, size_t len, char *out, size_t outlen);
/* "4.3.2.1.in-addr.arpa." / nibble ip6.arpa name for sa; -1 if unknown family. */
int fcrdns_reverse_name(const struct sockaddr *sa, char *out, size_t outlen);

#endif
