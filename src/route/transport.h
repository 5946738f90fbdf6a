/*
 * Which transport carries mail to one destination: the lookup half of the
 * transports table (config_transport.c parses it).  Precedence: the exact
 * address, then the exact domain, then the longest ".parent" domain, then
 * "*" (remote destinations only: "*" never takes a local mailbox away
 * from its Maildir).  Without a match: maildir for local mailboxes, smtp
 * (MX lookup) for remote addresses.
 */
#ifndef DECORUM_ROUTE_TRANSPORT_H
#define DECORUM_ROUTE_TRANSPORT_H

#include <stdbool.h>

#include "common/config.h"

/* Never NULL.  local and domain as routing gave them (lower-case domain). */
const struct transport_conf *transport_lookup(const struct config *cfg,
    const char *local, const char *domain, bool is_local);

/* "maildir", "smtp", "relay", "lmtp": for logs. */
const char *transport_kind_name(enum transport_kind kind);

#endif
