/*
 * Idle milter connections kept for the next message (docs/scanning.md,
 * "Connection reuse"): one pool per event loop, owned by whoever owns
 * the loop (the smtpd's server), keyed by the milter's address.
 *
 * A connection whose conversation ended cleanly is put here after an
 * SMFIC_QUIT_NC: the milter is back where it was right after the option
 * negotiation, and the next conversation starts with CONNECT, with the
 * options (and macro lists) agreed then.  An idle connection is watched:
 * EOF, an error or any octet from the milter closes it; so does
 * MILTER_POOL_IDLE_SECS without use (with a QUIT).  At most
 * MILTER_POOL_PER_ADDRESS wait per address; the excess is closed (QUIT).
 */
#ifndef DECORUM_SCAN_MILTER_POOL_H
#define DECORUM_SCAN_MILTER_POOL_H

#include <stdbool.h>

#include "scan/milter_proto.h"

struct bufferevent;
struct milter_pool;
struct scan_endpoint;

/* Idle connections kept per milter address: what a burst of parallel
 * messages needs again soon (with 16, a benchmark's 20 sessions closed
 * one conversation in seven), well under a milter's own worker limits
 * (rspamd and libmilter take hundreds), so an idle smtpd never holds
 * more than 64 of a milter's sessions (times SCAN_MILTERS_MAX). */
#define MILTER_POOL_PER_ADDRESS	64
/* Seconds an idle connection is kept: under the idle limits milters
 * set on their side (libmilter's is its 7210 s socket timeout,
 * rspamd's milter has none), and short enough that a quiet server
 * gives the milter its sessions back. */
#define MILTER_POOL_IDLE_SECS	30

/* The connections live on the loops of the bufferevents put here. */
struct milter_pool *milter_pool_new(void);
/* Closes every idle connection (QUIT) and frees p; NULL: nothing. */
void milter_pool_free(struct milter_pool *p);

/*
 * An idle connection to ep, most recently used first: its bufferevent
 * (callbacks and timeouts cleared, read and write enabled, nothing in
 * its input) and what was agreed on it; false when there is none (or p
 * is NULL).  The caller owns the bufferevent.
 */
bool milter_pool_take(struct milter_pool *p, const struct scan_endpoint *ep,
    struct bufferevent **bev, struct milter_agreed *agreed);
/*
 * Takes bev, whose conversation with ep ended cleanly (its last reply
 * read, nothing unread): sends SMFIC_QUIT_NC and keeps it idle, or,
 * over the cap, sends QUIT and closes it.  p NULL: QUIT and close.
 */
void milter_pool_put(struct milter_pool *p, const struct scan_endpoint *ep,
    struct bufferevent *bev, const struct milter_agreed *agreed);

/* Frees bev after sending (ABORT and) QUIT straight to its socket when
 * nothing is queued before them, without waiting: a milter that does
 * not read them sees the close, which means the same to libmilter. */
void milter_goodbye(struct bufferevent *bev, bool abort_first);

#endif
