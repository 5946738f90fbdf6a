/*
 * The master process of decorumd: binds the listeners as root, starts the
 * unprivileged children (smtpd, qmgr), restarts a child that dies, and
 * relays SIGTERM for a graceful stop.
 */
#ifndef DECORUM_DAEMON_MASTER_H
#define DECORUM_DAEMON_MASTER_H

#include <stdbool.h>

struct config;

/* Returns the exit status of decorumd. */
int master_run(const struct config *cfg, bool foreground);

#endif
