/*
 * Password guessing, per client network: slowed, then stopped.
 *
 * The policy, written against a guesser who opens many connections at
 * once, uses many addresses of its network, and holds one valid account
 * of its own:
 *
 *  - The key is the client's network (common/netkey.h), the same one the
 *    connection limits count: by default an IPv4 address, or the /64 of
 *    an IPv6 address (an end site gets at least a /64, RFC 6177, so all
 *    of its addresses are free to an attacker); client_prefix_v4 and
 *    client_prefix_v6 change both.  An IPv4-mapped IPv6 address
 *    (::ffff:a.b.c.d) is its IPv4 address.
 *  - At most one password check per network at a time: auth_throttle_begin
 *    says GO to one and WAIT to the others until auth_throttle_end.  After
 *    a failure the network's next check also waits out that failure's
 *    delay, the n-th failure within THROTTLE_WINDOW waiting 2^(n-1) s, at
 *    most THROTTLE_DELAY_MAX: 1, 2, 4, 8 s for the failures before the
 *    fifth, which with the default max_failures = 5 blocks (16 s needs a
 *    higher max_failures).  Twenty connections guess no faster than one.
 *  - Time is a monotonic clock in milliseconds (auth_throttle_now), so a
 *    delay is exact (a 1 s delay is 1000 ms, not "until the next whole
 *    second"), and a step of the wall clock neither stalls waiting checks
 *    nor stretches a block.
 *  - A check counts as a failure from the moment it starts; its end takes
 *    that back only when the password was right.  The count never lags
 *    behind the guesses, whatever the client does meanwhile.
 *  - At max_failures failures within THROTTLE_WINDOW the network is
 *    blocked for block_seconds: begin says BLOCKED (the session answers
 *    421 without checking anything, on every connection, open or new)
 *    and auth_throttle_blocked() makes listeners refuse connections.
 *    When the block is over, the network starts afresh.
 *  - A success never clears a block (no check starts while blocked) and
 *    does not forget earlier failures: they expire with their window.
 *    Otherwise one valid login between guesses would reset the count:
 *    guess, guess, log in, guess, guess, ...
 *  - The table holds max_entries networks.  A new one takes a free entry,
 *    else the stalest idle one, else the stalest blocked one; an entry
 *    with a check in flight is never taken (with none left, begin says
 *    WAIT).
 *
 * What it does not stop: a guesser with many networks gets a budget in
 * each (an IPv6 /48 holds 65536 /64s), and by filling the table from them
 * can push out its own count before it becomes a block.  A limit per
 * larger prefix is not built; the table lives in memory, so a restart
 * of the smtpd process forgets it.
 *
 * Pure code but for auth_throttle_now(): time is passed in, so tests
 * move it.
 */
#ifndef DECORUM_AUTH_THROTTLE_H
#define DECORUM_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define THROTTLE_DELAY_MAX 16	/* seconds */
/* Failures older than this are forgotten (a short block_time must not
 * shrink it: the failure delays alone would then outlast it). */
#define THROTTLE_WINDOW 3600	/* seconds */

struct auth_throttle;
struct netkey_prefixes;

enum auth_throttle_turn {
	THROTTLE_GO,		/* check now, then call auth_throttle_end */
	THROTTLE_WAIT,		/* another check or a failure delay of the
				 * network runs: ask again later */
	THROTTLE_BLOCKED,	/* refuse without checking */
};

/* prefixes: how addresses group into networks (NULL: /32 and /64). */
struct auth_throttle *auth_throttle_new(unsigned max_failures, unsigned block_seconds,
    unsigned max_entries, const struct netkey_prefixes *prefixes);
void auth_throttle_free(struct auth_throttle *t);

/* Now, in milliseconds of CLOCK_MONOTONIC: the `now_ms` of the calls
 * below.  (The one clock read here; the policy takes time as given, so
 * tests move it.) */
uint64_t auth_throttle_now(void);

/* Is the address's network blocked right now? */
bool auth_throttle_blocked(struct auth_throttle *t, const struct sockaddr *sa,
    uint64_t now_ms);

/* A password check of this address wants to start.  GO counts it as a
 * failure until auth_throttle_end says otherwise; each GO needs exactly
 * one auth_throttle_end.  On WAIT, *wait_ms (may be NULL) is how long a
 * failure's delay still holds the network, or 0 when a check in flight
 * does (its end is the moment to ask again); 0 otherwise. */
enum auth_throttle_turn auth_throttle_begin(struct auth_throttle *t,
    const struct sockaddr *sa, uint64_t now_ms, uint64_t *wait_ms);

/* The check begun with GO is over; ok: the password was right.  On a
 * failure *delay_ms is how long to wait before 535 (the network's next
 * check waits as long); returns true when the network is now blocked
 * (answer 421 at once).  An end without a begin does nothing. */
bool auth_throttle_end(struct auth_throttle *t, const struct sockaddr *sa,
    uint64_t now_ms, bool ok, unsigned *delay_ms);

#endif
