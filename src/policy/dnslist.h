/*
 * DNS lists (RFC 5782), the pure half shared by the "dnsbl" and "dnswl"
 * checks: the name a list is asked (the client's address reversed under
 * the list's zone), what one list answered, and which answers count.
 * No I/O: unit-tested (tests/unit/policy/test_dnslist.c); the lookups
 * themselves are dnslist_query.h.
 */
#ifndef DECORUM_POLICY_DNSLIST_H
#define DECORUM_POLICY_DNSLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "common/config.h"

/* A list's answer: at most this many A records are looked at. */
#define DNSLIST_ADDRS_MAX	8
/* "4.3.2.1." or 32 nibbles (64 octets) + the zone + NUL. */
#define DNSLIST_NAME_MAX	(64 + DNSLIST_ZONE_MAX + 2)

enum dnslist_status {
	DNSLIST_PENDING,	/* not answered yet */
	DNSLIST_LISTED,		/* A records: addr[0..n) */
	DNSLIST_NOT_LISTED,	/* NXDOMAIN or no A record */
	DNSLIST_TEMPFAIL,	/* SERVFAIL and kin, or no resolver */
	DNSLIST_TIMEOUT,	/* no answer by the group's timeout */
};

struct dnslist_answer {
	enum dnslist_status status;
	size_t n;
	uint32_t addr[DNSLIST_ADDRS_MAX];	/* host byte order */
};

/* What the lists of a group said about one client. */
struct dnslist_result {
	const struct dnslist_group *g;
	const char *ip;				/* the client, as logs show it */
	const struct dnslist_answer *ans;	/* ans[i]: list i's answer */
	size_t n;
};

/*
 * The name list l is asked about sa (RFC 5782 2.1, 2.4): "7.2.0.192.zone"
 * for 192.0.2.7, 32 nibbles least significant first for IPv6 (an
 * IPv4-mapped address is its IPv4 address).  0, or -1 for another
 * family or no room.
 */
int dnslist_name(const struct sockaddr *sa, const char *zone, char *out,
    size_t outlen);

/*
 * A list's error codes, never a listing: 127.255.255.0/24, "query
 * refused" and kin (Spamhaus answers 127.255.255.254 to public
 * resolvers), and for an allow list (allow true) also 127.0.0.255,
 * dnswl.org's "your queries are blocked" (its level octet would
 * otherwise read 255, the highest trust).
 */
bool dnslist_refused(uint32_t a, bool allow);

/* Does a DNSBL answer a count on list l: its codes, or any address of
 * 127.0.0.0/8 when none are configured; never one dnslist_refused(a, false). */
bool dnslist_bl_counts(const struct dnslist_conf *l, uint32_t a);

/* Does a DNSWL answer a list the client at l's min_level or above:
 * 127.0.X.Y (dnswl.org's form) with Y, the trust level, >= min_level;
 * never one dnslist_refused(a, true). */
bool dnslist_wl_counts(const struct dnslist_conf *l, uint32_t a);

/*
 * The zones whose error codes were logged lately, so a list answering
 * 127.255.255.x to every client is logged at most once a minute
 * (DNSLIST_MISCONF_INTERVAL).  Fixed size: when every slot is taken,
 * the one logged longest ago is reused, so a zone may be logged more
 * often, memory never grows.  Zeroed is empty.
 */
#define DNSLIST_MISCONF_SLOTS		(2 * DNSLIST_MAX)
#define DNSLIST_MISCONF_INTERVAL	60	/* seconds */

struct dnslist_misconf {
	struct {
		char zone[DNSLIST_ZONE_MAX + 1];
		time_t last;		/* when it was last logged */
		bool used;
	} slot[DNSLIST_MISCONF_SLOTS];
};

/* Should a misconfiguration of zone be logged at now (seconds of a
 * monotonic clock)?  If so, it is recorded as logged. */
bool dnslist_misconf_due(struct dnslist_misconf *t, const char *zone,
    time_t now);

/* "127.0.0.2" into out (at least 16 octets). */
const char *dnslist_addr_text(uint32_t a, char *out, size_t outlen);

#endif
