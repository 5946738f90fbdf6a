/*
 * The master → smtpd control channel.  Today it carries one message:
 * new TLS key material after SIGHUP (the smtpd cannot read key files
 * itself once unprivileged).  Frames are a 4-byte big-endian length and
 * a payload of tls_keypairs_encode(); at most CONTROL_FRAME_MAX bytes.
 */
#ifndef DECORUM_SMTPD_CONTROL_H
#define DECORUM_SMTPD_CONTROL_H

#include <stddef.h>

#define CONTROL_FRAME_MAX (8 * 1024 * 1024)

struct control;
struct server;

struct control *control_new(struct server *srv, int fd);
void control_free(struct control *c);

/* Master side: write one frame, blocking (the master has no loop).
 * 0, or -1 when the smtpd is gone. */
int control_send(int fd, const void *payload, size_t len);

#endif
