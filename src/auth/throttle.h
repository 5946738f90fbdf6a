/*
 * Slowing down password guessing, per client IP.
 *
 * Each failed AUTH from an address makes the next reply to it wait longer
 * (1 s, 2 s, 4 s, ... capped at THROTTLE_DELAY_MAX); after max_failures
 * within THROTTLE_WINDOW the address is blocked for block_seconds: the
 * session gets 421 and new connections from it are refused.  A success
 * clears the address.  The table is bounded (max_entries); when full,
 * the stalest entry goes.  Time is passed in, so tests can move it.
 */
#ifndef DECORUM_AUTH_THROTTLE_H
#define DECORUM_AUTH_THROTTLE_H

#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#define THROTTLE_DELAY_MAX 16	/* seconds */
/* Failures older than this are forgotten (a short block_time must not
 * shrink it: the failure delays alone would then outlast it). */
#define THROTTLE_WINDOW 3600	/* seconds */

struct auth_throttle;

struct auth_throttle *auth_throttle_new(unsigned max_failures, unsigned block_seconds,
    unsigned max_entries);
void auth_throttle_free(struct auth_throttle *t);

/* Is the address blocked right now? */
bool auth_throttle_blocked(struct auth_throttle *t, const struct sockaddr *sa, time_t now);
/* Record a failure.  Returns true when the address is now blocked;
 * *delay_seconds is how long to wait before replying 535. */
bool auth_throttle_fail(struct auth_throttle *t, const struct sockaddr *sa, time_t now,
    unsigned *delay_seconds);
void auth_throttle_success(struct auth_throttle *t, const struct sockaddr *sa);

#endif
