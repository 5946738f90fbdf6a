/*
 * Connection admission per client network: see admission.h.
 *
 * Called by the listener on every accepted connection (enter) and by the
 * session when it is freed (leave).  Trusts the sockaddr to be as long
 * as its family says; nothing else.
 *
 * Shape: a chained hash table of entries keyed by struct netkey (seeded
 * hash, so a client cannot aim its addresses at one chain), plus a list
 * of the idle entries (no connection, but a rate window or the minute
 * after a reported refusal still open) in the order they became idle.  Each enter first frees idle entries from
 * the head of that list whose window is over, so the work per connection
 * is constant amortized.
 * Invariants: an entry with conns > 0 is never freed or reused; an entry
 * is on the idle list exactly when conns == 0; with no rate limit an
 * idle entry is freed at once.
 * Limits: at most max_entries entries.  When the table is full the
 * oldest idle entry goes (its network's rate count is forgotten early);
 * the caller sizes max_entries above max_connections, so a busy entry is
 * never needed for room.
 */
#include "smtpd/admission.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/xmalloc.h"

#define BUCKETS_MIN	64u
#define BUCKETS_MAX	(1u << 20)

struct admission_client {
	LIST_ENTRY(admission_client) chain;	/* in its bucket */
	TAILQ_ENTRY(admission_client) idle;	/* when conns == 0 */
	struct netkey key;
	unsigned conns;
	unsigned rate_count;		/* connections in this window */
	uint64_t window_start;		/* ms; of the first counted one */
	bool reported;			/* a refusal was reported, at: */
	uint64_t reported_at;		/* ms */
};

LIST_HEAD(admission_chain, admission_client);
TAILQ_HEAD(admission_idle, admission_client);

struct admission {
	struct admission_limits lim;
	struct admission_chain *buckets;
	uint32_t mask;			/* n_buckets - 1 (a power of two) */
	size_t size;
	struct admission_idle idle;
};

struct admission *
admission_new(const struct admission_limits *l)
{
	struct admission *a = xcalloc(1, sizeof(*a));
	uint32_t n = BUCKETS_MIN;

	a->lim = *l;
	if (a->lim.max_entries == 0)
		a->lim.max_entries = 1;
	/* About two entries per chain at the most. */
	while (n < BUCKETS_MAX && n < a->lim.max_entries / 2)
		n <<= 1;
	a->buckets = xcalloc(n, sizeof(*a->buckets));
	for (uint32_t i = 0; i < n; i++)
		LIST_INIT(&a->buckets[i]);
	a->mask = n - 1;
	TAILQ_INIT(&a->idle);
	return a;
}

void
admission_free(struct admission *a)
{
	struct admission_client *c;

	if (a == NULL)
		return;
	for (uint32_t i = 0; i <= a->mask; i++)
		while ((c = LIST_FIRST(&a->buckets[i])) != NULL) {
			LIST_REMOVE(c, chain);
			free(c);
		}
	free(a->buckets);
	free(a);
}

static void
entry_free(struct admission *a, struct admission_client *c)
{
	LIST_REMOVE(c, chain);
	if (c->conns == 0)
		TAILQ_REMOVE(&a->idle, c, idle);
	free(c);
	a->size--;
}

static bool
window_over(const struct admission_client *c, uint64_t now)
{
	return now - c->window_start >= ADMISSION_RATE_WINDOW_MS;
}

/* An idle entry may go: its rate window and its last report are over
 * (or the report would come again sooner than a minute). */
static bool
stale(const struct admission_client *c, uint64_t now)
{
	return window_over(c, now) && (!c->reported ||
	    now - c->reported_at >= ADMISSION_RATE_WINDOW_MS);
}

/* A refusal: is it the network's first report in a minute? */
static bool
report_refusal(struct admission_client *c, uint64_t now)
{
	if (c->reported && now - c->reported_at < ADMISSION_RATE_WINDOW_MS)
		return false;
	c->reported = true;
	c->reported_at = now;
	return true;
}

/* Free the idle entries, oldest first, that are stale. */
static void
expire_idle(struct admission *a, uint64_t now)
{
	struct admission_client *c;

	while ((c = TAILQ_FIRST(&a->idle)) != NULL && stale(c, now))
		entry_free(a, c);
}

static struct admission_client *
lookup(struct admission *a, const struct netkey *k)
{
	struct admission_client *c;

	LIST_FOREACH(c, &a->buckets[netkey_hash(k, a->lim.seed) & a->mask], chain)
		if (netkey_equal(&c->key, k))
			return c;
	return NULL;
}

/* A new entry for k; NULL when the table is full of busy entries. */
static struct admission_client *
insert(struct admission *a, const struct netkey *k, uint64_t now)
{
	struct admission_client *c;

	if (a->size >= a->lim.max_entries) {
		if ((c = TAILQ_FIRST(&a->idle)) == NULL)
			return NULL;
		entry_free(a, c);
	}
	c = xcalloc(1, sizeof(*c));
	c->key = *k;
	c->window_start = now;
	LIST_INSERT_HEAD(&a->buckets[netkey_hash(k, a->lim.seed) & a->mask], c, chain);
	/* Idle until admission_enter counts its first connection. */
	TAILQ_INSERT_TAIL(&a->idle, c, idle);
	a->size++;
	return c;
}

enum admission_verdict
admission_enter(struct admission *a, const struct sockaddr *sa,
    uint64_t now, struct admission_client **client, bool *first)
{
	struct admission_client *c;
	struct netkey k;

	*client = NULL;
	if (first != NULL)
		*first = false;
	expire_idle(a, now);
	netkey_from(sa, &a->lim.prefixes, &k);
	if ((c = lookup(a, &k)) == NULL && (c = insert(a, &k, now)) == NULL)
		return ADMISSION_FULL;
	if (c->conns >= a->lim.max_per_network) {
		if (first != NULL)
			*first = report_refusal(c, now);
		return ADMISSION_CONCURRENCY;
	}
	if (a->lim.max_rate > 0) {
		if (window_over(c, now)) {
			c->window_start = now;
			c->rate_count = 0;
		}
		if (c->rate_count >= a->lim.max_rate) {
			if (first != NULL)
				*first = report_refusal(c, now);
			return ADMISSION_RATE;
		}
		c->rate_count++;
	}
	if (c->conns++ == 0)
		TAILQ_REMOVE(&a->idle, c, idle);
	*client = c;
	return ADMISSION_OK;
}

void
admission_leave(struct admission *a, struct admission_client *c, uint64_t now)
{
	if (c == NULL || c->conns == 0)
		return;
	if (--c->conns > 0)
		return;
	TAILQ_INSERT_TAIL(&a->idle, c, idle);
	/* Without a rate limit nothing outlives the last connection. */
	if (a->lim.max_rate == 0 || stale(c, now))
		entry_free(a, c);
}

const struct netkey *
admission_client_key(const struct admission_client *c)
{
	return &c->key;
}

unsigned
admission_connections(struct admission *a, const struct sockaddr *sa)
{
	struct admission_client *c;
	struct netkey k;

	netkey_from(sa, &a->lim.prefixes, &k);
	c = lookup(a, &k);
	return c != NULL ? c->conns : 0;
}

size_t
admission_size(const struct admission *a)
{
	return a->size;
}
