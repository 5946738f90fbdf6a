/*
 * The answer cache of resolver.c: see dns_cache.h.  Names compare as DNS
 * names do, without regard to ASCII case (RFC 4343); anything else in
 * them is compared as bytes.  An entry holds one allocation: the fixed
 * part and its rdata; a copy handed out is the same layout with its
 * pointers moved.
 */
#include "dns/dns_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"

/* A name as queried: at most 255 octets of wire form, 254 of text plus
 * the root dot. */
#define NAME_MAX_LEN	256

struct entry {
	char name[NAME_MAX_LEN];
	int type;
	uint64_t expires_ms;
	struct dns_answer *a;	/* ttl as kept */
};

struct dns_cache {
	struct entry slot[DNS_CACHE_SLOTS];
};

static size_t
slot_of(const char *name, int type)
{
	uint32_t h = 2166136261u ^ (uint32_t)type;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		unsigned char c = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + 32) : *p;

		h = (h ^ c) * 16777619u;
	}
	return h % DNS_CACHE_SLOTS;
}

struct dns_cache *
dns_cache_new(void)
{
	return xcalloc(1, sizeof(struct dns_cache));
}

void
dns_cache_free(struct dns_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < DNS_CACHE_SLOTS; i++)
		free(c->slot[i].a);
	free(c);
}

/* One allocation holding n records of the given lengths, pointers set. */
static struct dns_answer *
answer_new(int n, const int *len, size_t total)
{
	struct dns_answer *a = xmalloc(sizeof(*a) + total);
	size_t off = 0;

	a->n = n;
	for (int i = 0; i < n; i++) {
		a->data[i] = a->rdata + off;
		a->len[i] = len[i];
		off += (size_t)len[i];
	}
	a->data[n] = NULL;
	a->len[n] = 0;
	return a;
}

static size_t
answer_bytes(const struct dns_answer *a)
{
	size_t total = 0;

	for (int i = 0; i < a->n; i++)
		total += (size_t)a->len[i];
	return total;
}

void
dns_cache_put(struct dns_cache *c, const char *name, int type,
    char *const *data, const int *len, int ttl, uint64_t now_ms)
{
	size_t namelen = strlen(name), total = 0;
	struct entry *e;
	int n = 0;

	if (ttl <= 0 || data == NULL || namelen >= NAME_MAX_LEN)
		return;
	for (; data[n] != NULL; n++) {
		if (n == DNS_CACHE_RR || len[n] < 0 ||
		    (size_t)len[n] > DNS_CACHE_BYTES - total)
			return;
		total += (size_t)len[n];
	}
	if (n == 0)
		return;
	e = &c->slot[slot_of(name, type)];
	free(e->a);
	e->a = answer_new(n, len, total);
	for (int i = 0; i < n; i++)
		memcpy(e->a->data[i], data[i], (size_t)len[i]);
	e->a->ttl = ttl;
	memcpy(e->name, name, namelen + 1);
	e->type = type;
	e->expires_ms = now_ms + (uint64_t)ttl * 1000;
}

struct dns_answer *
dns_cache_get(struct dns_cache *c, const char *name, int type, uint64_t now_ms)
{
	struct entry *e = &c->slot[slot_of(name, type)];
	struct dns_answer *a;
	size_t total;

	if (e->a == NULL || e->type != type || strcasecmp(e->name, name) != 0)
		return NULL;
	if (now_ms >= e->expires_ms) {
		free(e->a);
		e->a = NULL;
		return NULL;
	}
	total = answer_bytes(e->a);
	a = answer_new(e->a->n, e->a->len, total);
	memcpy(a->rdata, e->a->rdata, total);
	/* Rounded up: an answer with 0.5 s left is still good for 1. */
	a->ttl = (int)((e->expires_ms - now_ms + 999) / 1000);
	return a;
}
