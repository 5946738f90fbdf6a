/*
 * The SMTP service process: accepts connections on listeners the master
 * opened, runs one session per connection in a single libevent loop, and
 * hands accepted messages to the spool.  Runs unprivileged.
 */
#ifndef DECORUM_SMTPD_SMTPD_H
#define DECORUM_SMTPD_SMTPD_H

#include <stddef.h>

struct config;

/* fds[i] is the listening socket of cfg->listen[i] (already listening).
 * notify_fd: the smtpd end of the queue notification socketpair.
 * Runs until SIGTERM and every session has ended; returns the exit status. */
int smtpd_main(const struct config *cfg, const int *fds, size_t n_fds, int notify_fd);

#endif
