/*
 * The string hash of the in-memory tables (the queue manager's messages
 * and destinations, the Maildir sweep's slots): FNV-1a, 64 bits.  Not a
 * defence against chosen collisions — the keys are ours (queue ids,
 * destinations the route made, mailbox paths), not a client's — but
 * cheap, and good enough spread for tables sized to their contents.
 */
#ifndef DECORUM_COMMON_HASH_H
#define DECORUM_COMMON_HASH_H

#include <stdint.h>

static inline uint64_t
hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a offset basis */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;		/* FNV-1a 64-bit prime */
	}
	return h;
}

#endif
