/*
 * The local domain tables: a domain is local when <domains>/<domain>/
 * exists; its "users" file lists mailboxes (local:HASH or local:) and its
 * "aliases" file maps local parts to targets (aliases(5) style).
 *
 * Files are re-read when they change (checked by mtime at most once a
 * second), so `decorum user add` takes effect without a reload.
 * Lookups are case-insensitive on both local part and domain.
 */
#ifndef DECORUM_ROUTE_DOMAINS_H
#define DECORUM_ROUTE_DOMAINS_H

#include <stdbool.h>

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

#endif
