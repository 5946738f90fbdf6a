/*
 * Client networks as keys: see netkey.h.
 *
 * Called by the listener (connection limits), the session and the AUTH
 * throttle, with a sockaddr from accept(); trusts it to be as long as
 * its family says.  Invariant: bytes past the prefix are zero, so equal
 * networks give equal keys byte for byte.
 */
#include "common/netkey.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0xff, 0xff };

/* Zero the bits of addr past prefix (len octets in all). */
static void
mask_bits(unsigned char *addr, size_t len, unsigned prefix)
{
	size_t full = prefix / 8;

	if (full >= len)
		return;
	if (prefix % 8 != 0) {
		addr[full] &= (unsigned char)(0xff << (8 - prefix % 8));
		full++;
	}
	memset(addr + full, 0, len - full);
}

void
netkey_from(const struct sockaddr *sa, const struct netkey_prefixes *p,
    struct netkey *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		k->family = 4;
		memcpy(k->addr, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const unsigned char *a =
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0) {
			k->family = 4;
			memcpy(k->addr, a + 12, 4);
		} else {
			k->family = 6;
			memcpy(k->addr, a, 16);
		}
	} else {
		return;
	}
	k->prefix = (unsigned char)(k->family == 4 ?
	    (p->v4 > 32 ? 32 : p->v4) : (p->v6 > 128 ? 128 : p->v6));
	mask_bits(k->addr, k->family == 4 ? 4 : 16, k->prefix);
}

bool
netkey_equal(const struct netkey *a, const struct netkey *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* FNV-1a over the key's bytes, seeded, with a final avalanche (the
 * low bits index the table). */
uint32_t
netkey_hash(const struct netkey *k, uint32_t seed)
{
	const unsigned char *b = (const unsigned char *)k;
	uint32_t h = 2166136261u ^ seed;

	for (size_t i = 0; i < sizeof(*k); i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

const char *
netkey_format(const struct netkey *k, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];
	bool whole = (k->family == 4 && k->prefix == 32) ||
	    (k->family == 6 && k->prefix == 128);

	if (outlen == 0)
		return out;
	out[0] = '\0';
	if (k->family == 0 || inet_ntop(k->family == 4 ? AF_INET : AF_INET6,
	    k->addr, ip, sizeof(ip)) == NULL)
		return out;
	if (whole)
		snprintf(out, outlen, "%s", ip);
	else
		snprintf(out, outlen, "%s/%u", ip, (unsigned)k->prefix);
	return out;
}
