/*
 * DNS lists, the pure half: see dnslist.h.  Called by dnsbl.c, dnswl.c
 * and dnslist_query.c.  The zone comes from the config (validated: an
 * ASCII host name of at most DNSLIST_ZONE_MAX octets); the answers from
 * DNS, untrusted, but only as 32-bit numbers here.
 */
#include "policy/dnslist.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define LOOPBACK(a)	(((a) >> 24) == 127)

int
dnslist_name(const struct sockaddr *sa, const char *zone, char *out,
    size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *a;
	size_t o = 0;
	int n;

	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		a = in6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			a += 12;
		} else {
			if (outlen < 65)
				return -1;
			for (int i = 15; i >= 0; i--) {
				out[o++] = hex[a[i] & 15];
				out[o++] = '.';
				out[o++] = hex[a[i] >> 4];
				out[o++] = '.';
			}
			n = snprintf(out + o, outlen - o, "%s", zone);
			return n < 0 || (size_t)n >= outlen - o ? -1 : 0;
		}
	} else if (sa->sa_family == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else {
		return -1;
	}
	n = snprintf(out, outlen, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

bool
dnslist_refused(uint32_t a, bool allow)
{
	return (a >> 8) == 0x7fffffu || (allow && a == 0x7f0000ffu);
}

bool
dnslist_bl_counts(const struct dnslist_conf *l, uint32_t a)
{
	if (dnslist_refused(a, false))
		return false;
	if (l->codes.n == 0)
		return LOOPBACK(a);
	return iprange_match(&l->codes, a);
}

bool
dnslist_wl_counts(const struct dnslist_conf *l, uint32_t a)
{
	if (dnslist_refused(a, true) || (a >> 16) != 0x7f00u)
		return false;
	return (a & 0xff) >= l->min_level;
}

bool
dnslist_misconf_due(struct dnslist_misconf *t, const char *zone, time_t now)
{
	size_t oldest = 0;

	for (size_t i = 0; i < DNSLIST_MISCONF_SLOTS; i++) {
		if (t->slot[i].used && strcmp(t->slot[i].zone, zone) == 0) {
			if (now - t->slot[i].last < DNSLIST_MISCONF_INTERVAL)
				return false;
			t->slot[i].last = now;
			return true;
		}
		/* The first free slot, else the one logged longest ago. */
		if (t->slot[oldest].used && (!t->slot[i].used ||
		    t->slot[i].last < t->slot[oldest].last))
			oldest = i;
	}
	snprintf(t->slot[oldest].zone, sizeof(t->slot[oldest].zone), "%s", zone);
	t->slot[oldest].last = now;
	t->slot[oldest].used = true;
	return true;
}

const char *
dnslist_addr_text(uint32_t a, char *out, size_t outlen)
{
	snprintf(out, outlen, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff,
	    (a >> 8) & 0xff, a & 0xff);
	return out;
}
