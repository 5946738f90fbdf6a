/*
 * Password-guessing throttle, per client IP: see throttle.h.
 *
 * Called by the SMTP session on every AUTH outcome and on connect (is
 * this address blocked?).  Trusts the sockaddr to be as long as its
 * family says; nothing else.  Time is always passed in, so tests move it.
 *
 * Keys: an IPv4 address, or an IPv6 address; an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, what a dual-stack socket reports) is its IPv4 address,
 * so one client cannot get two budgets.  Other families (a local socket)
 * share one key.
 * Policy: failures count within THROTTLE_WINDOW from the first one; the
 * n-th failure asks for a delay of 2^(n-1) seconds, capped at
 * THROTTLE_DELAY_MAX; at max_failures (0: never) the address is blocked
 * until block_seconds later, and then starts afresh.  A success forgets it.
 * Limits: at most max_entries addresses; a new one evicts the entry with
 * the oldest activity, preferring entries that are not blocked, so a
 * flood of fresh addresses cannot unblock a guesser.  Lookups are a linear
 * scan: the table is small and AUTH failures are rare and slowed anyway.
 */
#include "auth/throttle.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

struct throttle_entry {
	bool used;
	unsigned char key[17];		/* family tag + up to 16 octets */
	unsigned failures;		/* within the current window */
	time_t window_start;		/* first failure of the window */
	time_t last;			/* last activity, for eviction */
	time_t blocked_until;		/* 0: not blocked */
};

struct auth_throttle {
	unsigned max_failures;
	unsigned block_seconds;
	size_t max_entries;
	struct throttle_entry *e;
};

struct auth_throttle *
auth_throttle_new(unsigned max_failures, unsigned block_seconds,
    unsigned max_entries)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));

	t->max_failures = max_failures;
	t->block_seconds = block_seconds;
	t->max_entries = max_entries > 0 ? max_entries : 1;
	t->e = xcalloc(t->max_entries, sizeof(*t->e));
	return t;
}

void
auth_throttle_free(struct auth_throttle *t)
{
	if (t == NULL)
		return;
	free(t->e);
	free(t);
}

/* The table key of an address: family tag, then the address octets. */
static void
throttle_key(const struct sockaddr *sa, unsigned char key[17])
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	memset(key, 0, 17);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		key[0] = 4;
		memcpy(key + 1, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		const unsigned char *a = s6->sin6_addr.s6_addr;

		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			key[0] = 4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a, 16);
		}
	}
	/* Anything else: key[0] == 0, one shared entry. */
}

static struct throttle_entry *
throttle_find(struct auth_throttle *t, const struct sockaddr *sa)
{
	unsigned char key[17];

	throttle_key(sa, key);
	for (size_t i = 0; i < t->max_entries; i++)
		if (t->e[i].used && memcmp(t->e[i].key, key, sizeof(key)) == 0)
			return &t->e[i];
	return NULL;
}

/* A free slot, or the stalest one (blocked entries last). */
static struct throttle_entry *
throttle_slot(struct auth_throttle *t, time_t now)
{
	struct throttle_entry *best = &t->e[0];

	for (size_t i = 0; i < t->max_entries; i++) {
		struct throttle_entry *e = &t->e[i];
		bool eb, bb;

		if (!e->used)
			return e;
		eb = e->blocked_until > now;
		bb = best->blocked_until > now;
		if ((bb && !eb) || (eb == bb && e->last < best->last))
			best = e;
	}
	return best;
}

bool
auth_throttle_blocked(struct auth_throttle *t, const struct sockaddr *sa,
    time_t now)
{
	struct throttle_entry *e = throttle_find(t, sa);

	if (e == NULL || e->blocked_until == 0)
		return false;
	if (now < e->blocked_until)
		return true;
	/* The block is over: the address starts afresh. */
	memset(e, 0, sizeof(*e));
	return false;
}

bool
auth_throttle_fail(struct auth_throttle *t, const struct sockaddr *sa,
    time_t now, unsigned *delay_seconds)
{
	struct throttle_entry *e = throttle_find(t, sa);
	unsigned delay;

	if (e != NULL && e->blocked_until != 0 && now >= e->blocked_until) {
		e->failures = 0;	/* the block is over: start afresh */
		e->blocked_until = 0;
	}
	if (e == NULL) {
		e = throttle_slot(t, now);
		memset(e, 0, sizeof(*e));
		e->used = true;
		throttle_key(sa, e->key);
	}
	if (e->failures > 0 && now - e->window_start >= THROTTLE_WINDOW &&
	    e->blocked_until == 0) {
		e->failures = 0;	/* the old failures are out of the window */
	}
	if (e->failures == 0)
		e->window_start = now;
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last = now;
	delay = e->failures > 5 ? THROTTLE_DELAY_MAX : 1u << (e->failures - 1);
	if (delay > THROTTLE_DELAY_MAX)
		delay = THROTTLE_DELAY_MAX;
	*delay_seconds = delay;
	if (t->max_failures > 0 && e->failures >= t->max_failures) {
		if (e->blocked_until <= now)
			e->blocked_until = now + (time_t)t->block_seconds;
		return true;
	}
	return false;
}

void
auth_throttle_success(struct auth_throttle *t, const struct sockaddr *sa)
{
	struct throttle_entry *e = throttle_find(t, sa);

	if (e != NULL)
		memset(e, 0, sizeof(*e));
}
