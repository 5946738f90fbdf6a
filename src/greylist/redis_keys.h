/*
 * The Redis backend's key names (docs/policy.md, "Greylisting with
 * Redis").  Every key starts with REDIS_KEY_PREFIX, so a Redis shared
 * with other applications can be searched (SCAN MATCH) and cleared.
 *
 *   decorum:gl:t:<64 hex>  a triplet: a hash with the fields first,
 *                          last, passed (store.h, greylist_record),
 *                          until (when it expires), net, sender, rcpt
 *   decorum:gl:n:<net>     a client network: a hash with the fields
 *                          passes (triplets passed from it), allowed
 *                          and until (store.h, greylist_net_record)
 *
 * The triplet's name is the SHA-256 of its three parts, each preceded
 * by its length, so no sender or recipient holding any separator can
 * name another triplet's key, and no client byte ever is a key name.
 * Pure (OpenSSL's digest only), unit-tested.
 */
#ifndef DECORUM_GREYLIST_REDIS_KEYS_H
#define DECORUM_GREYLIST_REDIS_KEYS_H

#include <stddef.h>

#include "greylist/store.h"

#define REDIS_KEY_PREFIX	"decorum:gl:"
#define REDIS_KEY_TRIPLET	REDIS_KEY_PREFIX "t:"
#define REDIS_KEY_NET		REDIS_KEY_PREFIX "n:"
/* Long enough for either kind of key and NUL. */
#define REDIS_KEY_MAX		(sizeof(REDIS_KEY_PREFIX) + 2 + 64 + GREYLIST_NET_MAX)

/* 0, or -1 when out is too small or the digest fails. */
int redis_key_triplet(const struct greylist_triplet *t, char *out, size_t outlen);
/* 0, or -1 when net is not a normalised network ("192.0.2.0/24",
 * "2001:db8::/64", or "192.0.2.7" for a /32: hex digits, '.', ':',
 * '/') or out is too small. */
int redis_key_net(const char *net, char *out, size_t outlen);

#endif
