/*
 * Key names of the Redis greylist backend (redis_keys.h).  Pure; called
 * by store_redis.c for each check and by redis_admin.c.  The triplet
 * comes from the session, so its parts are client bytes: they only
 * ever reach the digest, each behind its length, never a key name.
 * The network is ours (common/netkey.c) but is checked anyway, since a
 * key name is what an operator reads with redis-cli.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "greylist/redis_keys.h"

/* Length (4 bytes, big-endian) then the bytes: an unambiguous encoding. */
static int
key_feed(EVP_MD_CTX *md, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	unsigned char len[4] = {
		(unsigned char)(n >> 24), (unsigned char)(n >> 16),
		(unsigned char)(n >> 8), (unsigned char)n,
	};

	if (n == max)
		return -1;	/* not terminated within its field */
	return EVP_DigestUpdate(md, len, sizeof(len)) == 1 &&
	    EVP_DigestUpdate(md, s, n) == 1 ? 0 : -1;
}

int
redis_key_triplet(const struct greylist_triplet *t, char *out, size_t outlen)
{
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned dlen = 0, i;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL &&
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    key_feed(md, t->net, sizeof(t->net)) == 0 &&
	    key_feed(md, t->sender, sizeof(t->sender)) == 0 &&
	    key_feed(md, t->rcpt, sizeof(t->rcpt)) == 0 &&
	    EVP_DigestFinal_ex(md, dig, &dlen) == 1;
	size_t used;

	EVP_MD_CTX_free(md);
	if (!ok || outlen < sizeof(REDIS_KEY_TRIPLET) + 2 * (size_t)dlen)
		return -1;
	used = (size_t)snprintf(out, outlen, "%s", REDIS_KEY_TRIPLET);
	for (i = 0; i < dlen; i++, used += 2)
		snprintf(out + used, outlen - used, "%02x", dig[i]);
	return 0;
}

int
redis_key_net(const char *net, char *out, size_t outlen)
{
	size_t i, n = strnlen(net, GREYLIST_NET_MAX);
	int w;

	if (n == 0 || n == GREYLIST_NET_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (strchr("0123456789abcdef.:/", net[i]) == NULL)
			return -1;
	w = snprintf(out, outlen, "%s%s", REDIS_KEY_NET, net);
	return w < 0 || (size_t)w >= outlen ? -1 : 0;
}
