/*
 * The local domain tables: a domain is local when <domains>/<domain>/
 * exists; its "users" file lists mailboxes (local:HASH or local:), its
 * "aliases" file maps local parts to targets (aliases(5) style) and its
 * optional "senders" file lists, in the aliases syntax, the extra
 * envelope senders a user may submit as ("local: addr, @domain").
 *
 * Files are re-read when they change (checked by mtime at most once a
 * second), so `decorum user add` takes effect without a reload.
 * Lookups are case-insensitive on both local part and domain.
 */
#ifndef DECORUM_ROUTE_DOMAINS_H
#define DECORUM_ROUTE_DOMAINS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/bounds.h"

struct domains;

struct domains *domains_open(const char *dir);
void domains_free(struct domains *d);

/* 1 local, 0 not local, -1 table unreadable (tempfail). */
int domains_is_local(struct domains *d, const char *domain);
/* 1 user exists, 0 no such user, -1 table unreadable.  When hash is not
 * NULL and the user exists, *hash points to its crypt(3) string ("" for a
 * mailbox without login), valid until the next call on d. */
int domains_user(struct domains *d, const char *local, const char *domain,
    const char **hash);

/*
 * Added for routing and check-config (issue 2).
 */

/* 1 alias exists: *targets is its n targets as written (valid until the
 * next call on d), 0 no such alias, -1 table unreadable. */
int domains_alias(struct domains *d, const char *local, const char *domain,
    char *const **targets, size_t *n);

/* Issue 3: 1 the user has a senders line: *addrs is its n entries as
 * written ("addr" or "@domain"; valid until the next call on d), 0 none,
 * -1 table unreadable. */
int domains_senders(struct domains *d, const char *local, const char *domain,
    char *const **addrs, size_t *n);

/* What an alias target is.  Only addresses are routed today; the others
 * are refused (RFC 5321 3.9.1 lets an alias expand to anything, but
 * running commands or writing files as root is a later issue). */
enum domains_target {
	DOMAINS_TARGET_ADDRESS,	/* local or local@domain */
	DOMAINS_TARGET_PIPE,	/* "|command" */
	DOMAINS_TARGET_FILE,	/* "/path" */
	DOMAINS_TARGET_INCLUDE,	/* ":include:/path" */
};
enum domains_target domains_target_kind(const char *target);

/*
 * Split "local@domain" (or a bare "local": domain "") into the local
 * part with any RFC 5321 4.1.2 quoting undone (case kept) and the domain
 * in lower case.  The last "@" separates, so "a@b"@c works.  Returns 0,
 * or -1 when malformed or too long.
 */
int domains_split_address(const char *addr,
    char local[SMTP_LOCAL_PART_MAX + 1], char domain[SMTP_DOMAIN_MAX + 1]);

/* Is s usable as a table key (users and aliases left of ':') and so as a
 * mailbox folder name?  Is s a domain name usable as a folder name? */
bool domains_valid_local(const char *s);
bool domains_valid_domain(const char *s);

/*
 * `decorum check-config`: read every domain folder under dir and call
 * report(arg, FILE, LINE, message) for each problem (LINE 0: the file as
 * a whole).  Alias targets in foreign domains are refused unless equal to
 * postmaster (may be NULL).  Returns the number of problems.
 */
typedef void domains_report_fn(void *arg, const char *file, int line,
    const char *message);
int domains_check(const char *dir, const char *postmaster,
    domains_report_fn *report, void *arg);

#endif
