/*
 * Sender ownership for authenticated submission (RFC 6409 8.1): which
 * envelope senders (and From: addresses) a logged-in user may use.
 *
 * A user login@domain owns: its own address; addresses of local aliases
 * whose expansion is exactly its own mailbox (so "info: alice" lets alice
 * send as info@); and the extra addresses listed for it in
 * <domains>/<domain>/senders ("local: addr, addr, @otherdomain.example"
 * — "@domain" means any address of that domain).  The null sender <> is
 * always allowed (DSNs).  Comparison is case-insensitive, and a domain
 * matches in its U-label and A-label forms alike; a +extension on the
 * sender's local part is ignored as routing ignores it.
 */
#ifndef DECORUM_ROUTE_SENDERS_H
#define DECORUM_ROUTE_SENDERS_H

struct config;
struct domains;

/* 1 owned, 0 not owned, -1 a table could not be read (451). */
int route_sender_owned(const struct config *cfg, struct domains *d,
    const char *login, const char *sender);

#endif
