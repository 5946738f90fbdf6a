/*
 * The positive DNS answers of one process, kept for their TTL, so that
 * a name asked again (the same client's FCrDNS on its next connection,
 * a DNS list entry, a HELO name) is answered on the loop without a trip
 * through libunbound's thread and its pipe (resolver.c).  libunbound
 * caches the same answers for the same time; this only saves the hop.
 *
 * Pure: no I/O, the clock is passed in (milliseconds, monotonic).  Used
 * by one thread.  Bounded: DNS_CACHE_SLOTS entries, direct-mapped (a new
 * name replaces whatever shared its slot), answers of at most
 * DNS_CACHE_RR records and DNS_CACHE_BYTES of rdata; larger ones, and
 * failures and negative answers, are never kept.
 */
#ifndef DECORUM_DNS_DNS_CACHE_H
#define DECORUM_DNS_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define DNS_CACHE_SLOTS	512
#define DNS_CACHE_RR	16
#define DNS_CACHE_BYTES	2048

struct dns_cache;

/* A copy of a kept answer, owned by the caller: data[] ends with NULL
 * (as libunbound's ub_result), ttl is what is left of it, at least 1. */
struct dns_answer {
	int ttl;
	int n;
	char *data[DNS_CACHE_RR + 1];
	int len[DNS_CACHE_RR + 1];
	char rdata[];
};

struct dns_cache *dns_cache_new(void);
void dns_cache_free(struct dns_cache *c);

/* Keep name/type's answer (data: NULL-terminated, as ub_result's) for
 * ttl seconds from now_ms; nothing is kept for ttl <= 0, no records, or
 * an answer over the limits. */
void dns_cache_put(struct dns_cache *c, const char *name, int type,
    char *const *data, const int *len, int ttl, uint64_t now_ms);
/* A copy of name/type's answer (free() it), or NULL when none is kept
 * or it expired (at now_ms >= the time it was kept + its ttl). */
struct dns_answer *dns_cache_get(struct dns_cache *c, const char *name,
    int type, uint64_t now_ms);

#endif
