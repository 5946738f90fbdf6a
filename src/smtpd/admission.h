/*
 * Admission control per client network (common/netkey.h): how many
 * connections a network holds at once (max_connections_per_ip) and how
 * many it may open per minute (max_connection_rate).
 *
 * Lookups are hashed on the network key, so the cost of a connection
 * does not grow with the number of sessions.  An entry lives while its
 * network has connections, and, with a rate limit, until the minute of
 * its first counted connection is over; the table holds at most
 * max_entries of them (the oldest idle entry makes room).
 *
 * Pure: time is passed in (milliseconds of a monotonic clock), so the
 * unit tests move it.
 */
#ifndef DECORUM_SMTPD_ADMISSION_H
#define DECORUM_SMTPD_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/netkey.h"

/* The window of max_connection_rate. */
#define ADMISSION_RATE_WINDOW_MS	60000u

struct admission;
struct admission_client;

struct admission_limits {
	unsigned max_per_network;	/* concurrent connections */
	unsigned max_rate;		/* connections per minute; 0: no limit */
	struct netkey_prefixes prefixes;
	size_t max_entries;		/* networks tracked at once */
	uint32_t seed;			/* of the hash (random per process) */
};

enum admission_verdict {
	ADMISSION_OK,
	ADMISSION_CONCURRENCY,		/* the network has max_per_network */
	ADMISSION_RATE,			/* max_rate within the minute */
	ADMISSION_FULL,			/* no entry free (every one busy) */
};

struct admission *admission_new(const struct admission_limits *l);
void admission_free(struct admission *a);

/*
 * A connection from sa wants in.  ADMISSION_OK counts it: *client is its
 * network's entry, to be given back once to admission_leave.  Otherwise
 * nothing is counted and *client is NULL; *first (may be NULL) is true
 * when an ADMISSION_CONCURRENCY or ADMISSION_RATE refusal is the
 * network's first in a minute, so the caller logs one line per network
 * per minute, however often it knocks.
 */
enum admission_verdict admission_enter(struct admission *a,
    const struct sockaddr *sa, uint64_t now_ms,
    struct admission_client **client, bool *first);
/* The connection counted by admission_enter has ended (NULL: nothing). */
void admission_leave(struct admission *a, struct admission_client *c,
    uint64_t now_ms);

/* The network of an entry, for logs. */
const struct netkey *admission_client_key(const struct admission_client *c);
/* Connections the network of sa holds now. */
unsigned admission_connections(struct admission *a, const struct sockaddr *sa);
/* Entries in the table (live networks and idle ones still in a window). */
size_t admission_size(const struct admission *a);

#endif
