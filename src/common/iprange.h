/*
 * IPv4 address ranges written as text: "127.0.0.2-127.0.0.11, 127.0.0.20,
 * 127.0.1.0/24".  A DNS list's return codes are such addresses (RFC
 * 5782 2.1: a listing is an A record, conventionally in 127.0.0.0/8),
 * and the operator names the ones that count (policy.dnsbl lists'
 * `codes`).  In common/ because the config loader validates them and
 * src/policy matches them.
 *
 * Pure: no I/O, no allocation; unit-tested and fuzzed
 * (tests/fuzz/fuzz_iprange.c).
 */
#ifndef DECORUM_COMMON_IPRANGE_H
#define DECORUM_COMMON_IPRANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPRANGE_MAX		16	/* ranges in one set */
#define IPRANGE_TEXT_MAX	512	/* octets of the text form */

struct iprange {
	uint32_t lo, hi;		/* host byte order, inclusive */
};

struct iprange_set {
	size_t n;
	struct iprange r[IPRANGE_MAX];
};

/*
 * Parse s: items separated by commas (spaces around them allowed), each
 * an address "a.b.c.d", a range "a.b.c.d-e.f.g.h" (first <= last) or a
 * prefix "a.b.c.d/n" (n 0..32, no bits set past it).  Octets are
 * decimal 0..255 without leading zeros ("010" could mean 8 or 10).
 * 0 with out filled; -1 with err saying why.  At most IPRANGE_MAX items
 * and IPRANGE_TEXT_MAX octets.
 */
int iprange_parse(const char *s, struct iprange_set *out, char *err,
    size_t errlen);
/* Is a (host byte order) in one of the set's ranges? */
bool iprange_match(const struct iprange_set *set, uint32_t a);
/* Is every range of the set inside [lo, hi]? */
bool iprange_within(const struct iprange_set *set, uint32_t lo, uint32_t hi);

#endif
