/*
 * Forward-confirmed reverse DNS of a client (BCP "Valid Reverse DNS",
 * RFC 1912 2.1): the PTR names of the client's IP, each looked up again
 * as A/AAAA; the first name whose addresses include the IP is the
 * client's verified name.  One lookup per session serves both the
 * Received: header and the policy checks (src/policy: fcrdns,
 * rdns_dynamic), which need the PTR names even when none maps back.
 */
#ifndef DECORUM_DNS_FCRDNS_H
#define DECORUM_DNS_FCRDNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "dns/resolver.h"

struct fcrdns;

/* At most this many PTR names are tried (RFC 1912 2.1 expects one; a
 * client that publishes more gets no more queries than this). */
#define FCRDNS_NAMES_MAX 10

/*
 * What the lookup found, valid only during the callback.  status:
 * DNS_OK, name is the verified name; DNS_NOTFOUND, no PTR (n_ptr 0) or
 * no PTR name maps back to the client; DNS_TEMPFAIL, a DNS failure or
 * the deadline left the answer open (a name that might have matched
 * was not answered).  ptr: the PTR names that could be decoded, in the
 * order received, without the root dot; name is one of them.
 */
struct fcrdns_result {
	enum dns_status status;
	const char *name;
	const char *ptr[FCRDNS_NAMES_MAX];
	size_t n_ptr;
};

typedef void (*fcrdns_cb)(void *arg, const struct fcrdns_result *res);

struct fcrdns *fcrdns_start(struct resolver *r, struct event_base *base,
    const struct sockaddr *sa, unsigned timeout_seconds, fcrdns_cb cb, void *arg);
/* The callback will not run. */
/* sa: AF_INET, AF_INET6 (IPv4-mapped is looked up as IPv4).  The
 * callback always runs later on the loop, never from inside this call. */
void fcrdns_cancel(struct fcrdns *f);

/* Wire-format rdata name → "host.example." text; -1 if malformed.
 * Exposed for unit tests. */
int fcrdns_wire_name(const unsigned char *p, size_t len, char *out, size_t outlen);
/* "4.3.2.1.in-addr.arpa." / nibble ip6.arpa name for sa; -1 if unknown family. */
int fcrdns_reverse_name(const struct sockaddr *sa, char *out, size_t outlen);

#endif
