/*
 * The Maildir delivery agent: one copy of a queued message into
 * <mailboxes>/<domain>/<local>/new/, created on demand (mode 0700), or,
 * for a request with a folder, into <local>/<folder>/new/ (Maildir++).
 */
#ifndef DECORUM_DELIVER_MAILDIR_H
#define DECORUM_DELIVER_MAILDIR_H

#include "deliver/agent.h"

extern const struct deliver_agent maildir_agent;

/* Blocking: call from a worker thread. */
void maildir_deliver(const struct deliver_request *req,
    struct deliver_result *res);

#endif
