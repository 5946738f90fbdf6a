/*
 * Address parsing and matching: see netaddr.h.  inet_pton does the
 * strict parsing; we only split off ports, brackets and prefixes.
 */
#include "common/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static int
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || *out > max)
		return -1;
	return 0;
}

int
netaddr_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *port;
	unsigned long p;
	size_t hlen;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - s - 1);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		port = colon + 1;
	}
	if (parse_uint(port, 65535, &p) < 0 || p == 0)
		return -1;
	if (s[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*sin6);
	}
	return 0;
}

int
netaddr_parse_mask(const char *s, struct netmask *m)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long prefix;

	memset(m, 0, sizeof(*m));
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, m->addr) == 1) {
		m->family = AF_INET;
		prefix = 32;
	} else if (inet_pton(AF_INET6, host, m->addr) == 1) {
		m->family = AF_INET6;
		prefix = 128;
	} else {
		return -1;
	}
	if (slash != NULL && parse_uint(slash + 1, prefix, &prefix) < 0)
		return -1;
	m->prefix = (unsigned)prefix;
	return 0;
}

static bool
prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[bytes] ^ b[bytes]) & (0xff << (8 - rest))) == 0;
}

bool
netaddr_match(const struct netmask *m, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		return m->family == AF_INET &&
		    prefix_equal(m->addr, (const unsigned char *)&sin->sin_addr, m->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (m->family == AF_INET6)
			return prefix_equal(m->addr, a, m->prefix);
		if (m->family == AF_INET && memcmp(a, mapped, 12) == 0)
			return prefix_equal(m->addr, a + 12, m->prefix);
	}
	return false;
}

const char *
netaddr_ip(const struct sockaddr *sa, char *out, size_t outlen)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		if (inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    out, (socklen_t)outlen) != NULL)
			return out;
	} else if (sa->sa_family == AF_INET6) {
		const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, mapped, 12) == 0) {
			if (inet_ntop(AF_INET, a + 12, out, (socklen_t)outlen) != NULL)
				return out;
		} else if (inet_ntop(AF_INET6, a, out, (socklen_t)outlen) != NULL) {
			return out;
		}
	}
	snprintf(out, outlen, "unknown");
	return out;
}

unsigned
netaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}
