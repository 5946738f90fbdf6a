/*
 * The Redis greylist backend's URL (greylist.backend, docs/configuration.md):
 *
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
 *
 * HOST an IPv4 literal, an IPv6 literal in brackets ("[::1]") or a host
 * name (letters, digits, '-' and '.'); PORT 1-65535 (default 6379); DB
 * 0-65535 (default 0).  USER and PASSWORD are percent-decoded (RFC 3986
 * 2.1), so a password may hold '@', ':' or '/' written %40, %3A, %2F.
 * Nothing else is accepted: no query, no fragment, no path after DB.
 * Pure: no I/O, unit-tested (tests/unit/greylist).
 */
#ifndef DECORUM_COMMON_REDIS_URL_H
#define DECORUM_COMMON_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

#define REDIS_URL_HOST_MAX	256	/* a DNS name (RFC 1035 2.3.4) and NUL */
#define REDIS_URL_CRED_MAX	256	/* a user name or a password and NUL */
#define REDIS_URL_DB_MAX	65535u
#define REDIS_URL_PORT_DEFAULT	6379

struct redis_url {
	char host[REDIS_URL_HOST_MAX];	/* without brackets */
	unsigned port;
	unsigned db;
	char user[REDIS_URL_CRED_MAX];	/* "" : the default user */
	char password[REDIS_URL_CRED_MAX];
	bool has_password;
};

/* 0, or -1 with err saying what is wrong (never quoting the password). */
int redis_url_parse(const char *url, struct redis_url *u, char *err, size_t errlen);
/* Wipes the credentials. */
void redis_url_clear(struct redis_url *u);

#endif
