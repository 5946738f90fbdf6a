/*
 * A client's network, as the admission limits count clients: the
 * address cut to a prefix (IPv4 /32 and IPv6 /64 by default,
 * client_prefix_v4 / client_prefix_v6).  An end site gets at least a
 * /64 (RFC 6177), so counting IPv6 clients per address would give one
 * host 2^64 budgets.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
 * its IPv4 address.
 *
 * Pure: no I/O.  A key is plain bytes (zeroed past the prefix), so two
 * keys compare with memcmp and hash as bytes.
 */
#ifndef DECORUM_COMMON_NETKEY_H
#define DECORUM_COMMON_NETKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct netkey {
	unsigned char family;		/* 4, 6, or 0 for anything else */
	unsigned char prefix;		/* bits kept */
	unsigned char addr[16];		/* network byte order, masked */
};

/* The prefix lengths the keys are cut to. */
struct netkey_prefixes {
	unsigned v4;			/* 1..32 */
	unsigned v6;			/* 1..128 */
};

/* The key of sa's network.  A family other than AF_INET/AF_INET6 (a
 * local socket) gets family 0: every such client shares one key. */
void netkey_from(const struct sockaddr *sa, const struct netkey_prefixes *p,
    struct netkey *k);
bool netkey_equal(const struct netkey *a, const struct netkey *b);
/* A hash of the key, mixed with seed (random per process, so a client
 * cannot choose addresses that collide in our table). */
uint32_t netkey_hash(const struct netkey *k, uint32_t seed);
/* "192.0.2.7", "192.0.2.0/24", "2001:db8:1:2::/64" for logs; the empty
 * string for family 0.  Returns out. */
const char *netkey_format(const struct netkey *k, char *out, size_t outlen);

#endif
