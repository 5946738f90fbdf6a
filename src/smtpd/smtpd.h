/*
 * The SMTP service process: accepts connections on listeners the master
 * opened, runs one session per connection in a single libevent loop, and
 * hands accepted messages to the spool.  Runs unprivileged.
 */
#ifndef DECORUM_SMTPD_SMTPD_H
#define DECORUM_SMTPD_SMTPD_H

#include <stddef.h>

struct config;
struct tls_keypair;

struct smtpd_args {
	const struct config *cfg;
	const int *fds;			/* fds[i] listens for cfg->listen[i] */
	size_t n_fds;
	int notify_fd;			/* our end of the queue notification pair */
	int control_fd;			/* from the master: new TLS keys on reload */
	const struct tls_keypair *keys;	/* read by the master; NULL: no TLS */
	size_t n_keys;
};

/* Runs until SIGTERM and every session has ended; returns the exit status. */
int smtpd_main(const struct smtpd_args *args);

#endif
