/*
 * The local domain tables: a domain is local when <domains>/<domain>/
 * exists; its "users" file lists mailboxes (local:HASH or local:), its
 * "aliases" file maps local parts to targets (aliases(5) style) and its
 * optional "senders" file lists, in the aliases syntax, the extra
 * envelope senders a user may submit as ("local: addr, @domain").
 *
 * Lookups are case-insensitive on both local part and domain, and a
 * domain is the same in its U-label and A-label forms ("bücher.example",
 * "BÜCHER.example", "xn--bcher-kva.example"): the folder may be named in
 * either, and destinations carry the canonical, A-label form.
 *
 * Two ways to open the tables:
 *  - domains_open_live() for the daemons: every domain folder is read at
 *    start-up, then a timer on the event loop has a worker thread look for
 *    changes once a second and re-read what changed; the loop swaps the
 *    new tables in.  Lookups never touch the disk: they read an in-memory
 *    snapshot, in time independent of any file.
 *  - domains_open() for the CLI: each domain is read, in the caller's
 *    thread, on its first lookup, and not again.
 * Either way a table file is read only when it is whole: unchanged across
 * the read and not modified within the last DOMAINS_STILL_MS (a file
 * being written in place).  Until then the table read before stays; a
 * table never read whole answers -1 (try later), never "no such user".
 */
#ifndef DECORUM_ROUTE_DOMAINS_H
#define DECORUM_ROUTE_DOMAINS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/bounds.h"

struct config;
struct domains;

struct event_base;
struct workpool;

/* The CLI's tables: read on demand, in the caller's thread (blocking). */
struct domains *domains_open(const char *dir);
/*
 * The daemons' tables: reads every domain folder now (blocking: start-up
 * only; it waits up to about a second for a file just written), then
 * keeps them fresh with a timer on base and jobs in pool.  Lookups, and
 * the pointers they return, must stay on base's thread.  Free with
 * domains_free() after workpool_free(pool) and before
 * event_base_free(base).
 */
struct domains *domains_open_live(const char *dir, struct event_base *base,
    struct workpool *pool);
void domains_free(struct domains *d);

/* 1 local, 0 not local, -1 table unreadable (tempfail). */
int domains_is_local(struct domains *d, const char *domain);
/* 1 user exists, 0 no such user, -1 table unreadable.  When hash is not
 * NULL and the user exists, *hash points to its crypt(3) string ("" for a
 * mailbox without login).  Pointers returned by lookups stay valid until
 * the caller returns to the event loop (live tables are swapped only
 * between callbacks) or, in the CLI, until domains_free(). */
int domains_user(struct domains *d, const char *local, const char *domain,
    const char **hash);

/*
 * Added for routing and check-config (issue 2).
 */

/* 1 alias exists: *targets is its n targets as written (valid as above),
 * 0 no such alias, -1 table unreadable. */
int domains_alias(struct domains *d, const char *local, const char *domain,
    char *const **targets, size_t *n);

/* Issue 3: 1 the user has a senders line: *addrs is its n entries as
 * written ("addr" or "@domain"; valid as above), 0 none, -1 table
 * unreadable. */
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
 * or -1 when malformed or too long.  The local part may be as long as
 * one received on the wire (SRS addresses): whether it can name a
 * mailbox (SMTP_LOCAL_PART_MAX) is the caller's question.
 */
int domains_split_address(const char *addr,
    char local[SMTP_LOCAL_PART_WIRE_MAX + 1],
    char domain[SMTP_DOMAIN_MAX + 1]);

/* Is s usable as a table key (users and aliases left of ':') and so as a
 * mailbox folder name?  Is s a domain name usable as a folder name
 * (syntax only: LDH labels, or UTF-8 octets for U-labels)? */
bool domains_valid_domain(const char *s);
bool domains_valid_local(const char *s);

/* The longest U-label form of a name whose A-label form fits in
 * SMTP_DOMAIN_MAX: RFC 5890 puts the length limit on the A-label form,
 * and a U-label takes up to four octets per character where punycode
 * may take less than one ("xn--" and 30 letters can be 31 characters of
 * three octets each). */
#define DOMAINS_UNICODE_MAX	(4 * SMTP_DOMAIN_MAX)

/*
 * The canonical form of a domain name: lower case, every U-label turned
 * into its A-label (UTS #46 non-transitional mapping, then IDNA2008,
 * RFC 5891 5): "BÜCHER.example" and "xn--bcher-kva.example" both give
 * "xn--bcher-kva.example"; "Example.TEST" gives "example.test".  Returns
 * 0, or -1 (out "") when s is no valid domain name.  s may be up to
 * DOMAINS_UNICODE_MAX octets when it has U-labels, SMTP_DOMAIN_MAX when
 * it is plain ASCII.  Pure.
 */
int domains_canon(const char *s, char out[SMTP_DOMAIN_MAX + 1]);
/* The U-label form of a canonical name ("xn--bcher-kva.example" gives
 * "bücher.example"), for folder names and messages; a name with no
 * A-label as it is.  0, or -1 (out "").  Pure. */
int domains_unicode(const char *canon, char *out, size_t outlen);
/* Are a and b the same domain (case-insensitively, either form)? */
bool domains_same_domain(const char *a, const char *b);
/* Are a and b ("local@domain") the same address: the local parts equal
 * case-insensitively, quoting undone, and the same domain as above?
 * For the configured postmaster, which may be written in either form. */
bool domains_same_address(const char *a, const char *b);

/*
 * `decorum check-config`: read every domain folder under dir and call
 * report(arg, FILE, LINE, message) for each problem (LINE 0: the file as
 * a whole).  A folder's name must be a domain in lower case, in its
 * A-label or its U-label form, and two folders must not name the same
 * domain.  Alias targets in foreign domains (forwards) are allowed;
 * warn(arg, FILE, LINE, "warning: ...") is called, when not NULL, for
 * an alias with more than cfg->alias_fanout_warn of them (0: never) and
 * for every alias with one while cfg has no srs group.  Returns the
 * number of problems (warnings not counted).
 */
typedef void domains_report_fn(void *arg, const char *file, int line,
    const char *message);
int domains_check(const char *dir, const struct config *cfg,
    domains_report_fn *report, domains_report_fn *warn, void *arg);

#endif
