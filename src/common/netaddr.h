/*
 * Network addresses as the config and the logs write them.
 *
 *   "0.0.0.0:25", "127.0.0.1:2525", "[::1]:2525", "[::]:25"  listen addresses
 *   "127.0.0.0/8", "::1/128", "192.0.2.7"                      networks
 *
 * Pure parsing and matching, no I/O, no DNS: a host name where an address
 * is expected is an error.
 */
#ifndef DECORUM_COMMON_NETADDR_H
#define DECORUM_COMMON_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct netmask {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* network byte order */
	unsigned prefix;		/* bits */
};

/* "ADDR:PORT" or "[ADDR6]:PORT".  Returns 0, or -1 when malformed. */
int netaddr_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* "ADDR" or "ADDR/PREFIX".  Returns 0, or -1 when malformed. */
int netaddr_parse_mask(const char *s, struct netmask *m);
/* Does the address (AF_INET, AF_INET6, or IPv4-mapped IPv6) fall in m? */
bool netaddr_match(const struct netmask *m, const struct sockaddr *sa);
/* The IP alone, "192.0.2.1" or "2001:db8::1"; IPv4-mapped shown as IPv4. */
const char *netaddr_ip(const struct sockaddr *sa, char *out, size_t outlen);
/* The port of sa, host order. */
unsigned netaddr_port(const struct sockaddr *sa);

#endif
