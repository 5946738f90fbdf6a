/*
 * Password-guessing throttle, per client network: see throttle.h for the
 * policy.
 *
 * Called by the SMTP session around every password check (begin, end)
 * and by the listener on connect (blocked?).  Trusts the sockaddr to be
 * as long as its family says; nothing else.  Time is always passed in,
 * in milliseconds of a monotonic clock (auth_throttle_now reads it).
 *
 * Invariants of an entry: busy means one check is in flight and its
 * provisional failure is in `failures`; a busy entry is never evicted or
 * reset, so its auth_throttle_end always finds it.  No check starts
 * while the entry is blocked or before `next_check`.
 * Limits: at most max_entries networks.  Lookups go through a hash
 * index (seeded, chained through entry indices), because the listener
 * asks auth_throttle_blocked on every connection: a linear scan of a
 * full table cost 42 us per accept.  Choosing an entry to reuse is a
 * scan, but only when a new network starts a password check.
 */
#include "auth/throttle.h"

#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/netkey.h"
#include "common/xmalloc.h"

#define MS_PER_S	1000u

struct throttle_entry {
	uint32_t chain;			/* next entry index + 1 in its bucket */
	bool used;
	bool busy;			/* a check is in flight */
	struct netkey key;
	unsigned failures;		/* within the window, in-flight included */
	/* Milliseconds of the caller's monotonic clock. */
	uint64_t window_start;		/* first failure of the window */
	uint64_t last;			/* last activity, for eviction */
	uint64_t next_check;		/* no check before (a failure's delay) */
	uint64_t blocked_until;		/* 0: not blocked */
};

struct auth_throttle {
	unsigned max_failures;
	unsigned block_seconds;
	size_t max_entries;
	struct netkey_prefixes prefixes;
	struct throttle_entry *e;
	uint32_t *bucket;		/* first entry index + 1; 0: empty */
	uint32_t mask;			/* buckets - 1, a power of two */
	uint32_t seed;
};

struct auth_throttle *
auth_throttle_new(unsigned max_failures, unsigned block_seconds,
    unsigned max_entries, const struct netkey_prefixes *prefixes)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));
	static const struct netkey_prefixes fallback = { 32, 64 };

	t->prefixes = prefixes != NULL ? *prefixes : fallback;
	t->max_failures = max_failures;
	t->block_seconds = block_seconds;
	t->max_entries = max_entries > 0 ? max_entries : 1;
	t->e = xcalloc(t->max_entries, sizeof(*t->e));
	t->mask = 15;
	while (t->mask < t->max_entries - 1 && t->mask < (1u << 24) - 1)
		t->mask = t->mask << 1 | 1;
	t->bucket = xcalloc((size_t)t->mask + 1, sizeof(*t->bucket));
	/* Unknown to clients, so none can aim its networks at one chain. */
	t->seed = arc4random();
	return t;
}

uint64_t
auth_throttle_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * MS_PER_S + (uint64_t)ts.tv_nsec / 1000000u;
}

void
auth_throttle_free(struct auth_throttle *t)
{
	if (t == NULL)
		return;
	free(t->e);
	free(t->bucket);
	free(t);
}

static uint32_t *
bucket_of(struct auth_throttle *t, const struct netkey *k)
{
	return &t->bucket[netkey_hash(k, t->seed) & t->mask];
}

static struct throttle_entry *
throttle_find(struct auth_throttle *t, const struct sockaddr *sa)
{
	struct netkey key;

	netkey_from(sa, &t->prefixes, &key);
	for (uint32_t i = *bucket_of(t, &key); i != 0; i = t->e[i - 1].chain)
		if (netkey_equal(&t->e[i - 1].key, &key))
			return &t->e[i - 1];
	return NULL;
}

/* Take e out of its bucket's chain (its key is about to change). */
static void
throttle_unlink(struct auth_throttle *t, struct throttle_entry *e)
{
	uint32_t self = (uint32_t)(e - t->e) + 1;

	for (uint32_t *p = bucket_of(t, &e->key); *p != 0; p = &t->e[*p - 1].chain)
		if (*p == self) {
			*p = e->chain;
			return;
		}
}

/* Give entry e the key of sa, and link it in. */
static void
throttle_claim(struct auth_throttle *t, struct throttle_entry *e,
    const struct sockaddr *sa)
{
	uint32_t *head;

	if (e->used)
		throttle_unlink(t, e);
	memset(e, 0, sizeof(*e));
	e->used = true;
	netkey_from(sa, &t->prefixes, &e->key);
	head = bucket_of(t, &e->key);
	e->chain = *head;
	*head = (uint32_t)(e - t->e) + 1;
}

/* A block that is over: the network starts afresh (never while busy). */
static void
throttle_expire(struct throttle_entry *e, uint64_t now)
{
	if (e->blocked_until != 0 && now >= e->blocked_until && !e->busy) {
		e->failures = 0;
		e->blocked_until = 0;
		e->next_check = 0;
	}
}

/* Eviction rank: lower goes first.  Busy entries never go. */
static int
slot_rank(const struct throttle_entry *e, uint64_t now)
{
	if (!e->used)
		return 0;
	if (e->busy)
		return 3;
	return e->blocked_until > now ? 2 : 1;
}

/* A free entry, else the stalest idle, else the stalest blocked one;
 * NULL when every entry has a check in flight. */
static struct throttle_entry *
throttle_slot(struct auth_throttle *t, uint64_t now)
{
	struct throttle_entry *best = NULL;
	int best_rank = 3;

	for (size_t i = 0; i < t->max_entries; i++) {
		struct throttle_entry *e = &t->e[i];
		int rank = slot_rank(e, now);

		if (rank == 0)
			return e;
		if (rank < best_rank || (rank == best_rank && best != NULL &&
		    rank < 3 && e->last < best->last)) {
			best = e;
			best_rank = rank;
		}
	}
	return best;
}

bool
auth_throttle_blocked(struct auth_throttle *t, const struct sockaddr *sa,
    uint64_t now)
{
	struct throttle_entry *e = throttle_find(t, sa);

	if (e == NULL)
		return false;
	throttle_expire(e, now);
	return e->blocked_until != 0;
}

enum auth_throttle_turn
auth_throttle_begin(struct auth_throttle *t, const struct sockaddr *sa,
    uint64_t now, uint64_t *wait_ms)
{
	struct throttle_entry *e = throttle_find(t, sa);

	if (wait_ms != NULL)
		*wait_ms = 0;
	if (e != NULL) {
		throttle_expire(e, now);
		if (e->blocked_until != 0)
			return THROTTLE_BLOCKED;
		if (e->busy)
			return THROTTLE_WAIT;
		if (now < e->next_check) {
			if (wait_ms != NULL)
				*wait_ms = e->next_check - now;
			return THROTTLE_WAIT;
		}
	} else {
		e = throttle_slot(t, now);
		if (e == NULL)
			return THROTTLE_WAIT;
		throttle_claim(t, e, sa);
	}
	if (e->failures > 0 &&
	    now - e->window_start >= (uint64_t)THROTTLE_WINDOW * MS_PER_S)
		e->failures = 0;	/* the old failures are out of the window */
	if (e->failures == 0)
		e->window_start = now;
	/* Provisional: a failure until the check says otherwise. */
	if (e->failures < UINT_MAX)
		e->failures++;
	e->busy = true;
	e->last = now;
	return THROTTLE_GO;
}

bool
auth_throttle_end(struct auth_throttle *t, const struct sockaddr *sa,
    uint64_t now, bool ok, unsigned *delay_ms)
{
	struct throttle_entry *e = throttle_find(t, sa);
	unsigned delay;

	*delay_ms = 0;
	if (e == NULL || !e->busy)
		return false;
	e->busy = false;
	e->last = now;
	if (ok) {
		e->failures--;		/* only the provisional one */
		return false;
	}
	delay = e->failures > 5 ? THROTTLE_DELAY_MAX : 1u << (e->failures - 1);
	if (delay > THROTTLE_DELAY_MAX)
		delay = THROTTLE_DELAY_MAX;
	*delay_ms = delay * MS_PER_S;
	e->next_check = now + *delay_ms;
	if (t->max_failures > 0 && e->failures >= t->max_failures) {
		e->blocked_until = now + (uint64_t)t->block_seconds * MS_PER_S;
		return true;
	}
	return false;
}
