/*
 * The dynamic-name heuristic of the "rdns_dynamic" check (BCP: "DNS
 * heuristics (like pattern-matching the DNS reverse name to disallow
 * DUL/DSL/Cable type of addresses)").  Pure, for unit tests and the
 * fuzzer (tests/fuzz/fuzz_rdns_dynamic.c).
 */
#ifndef DECORUM_POLICY_RDNS_DYNAMIC_H
#define DECORUM_POLICY_RDNS_DYNAMIC_H

#include <stdbool.h>
#include <stddef.h>

/* The longest name looked at; longer ones are judged on this prefix. */
#define RDNS_DYNAMIC_NAME_MAX	255

/*
 * Does name (a host name, any case, root dot or not) look like an
 * address pool's?  ip4: the client's IPv4 address (4 octets, network
 * order), or NULL for an IPv6 client (then only words count).  True
 * when:
 *   - the client's octets are in the name as separate numbers, all four
 *     in either order ("1-2-3-4", "4.3.2.1", "001002003004"), or the
 *     last three ("x2-3-4"), or the address in hex ("c0000207");
 *   - a label other than the last two holds a pool word as one token
 *     (tokens split at '-', '_' and where letters meet digits): dyn,
 *     dynamic, dsl, adsl, vdsl, xdsl, pool, dhcp, cable, ppp, pppoe,
 *     dialup, dialin, dial; or client, cpe, customer, broadband,
 *     subscriber, user in a label that also has a digit.
 * why (whylen > 0) says which, for the log.
 */
bool rdns_dynamic_match(const char *name, const unsigned char *ip4,
    char *why, size_t whylen);

#endif
