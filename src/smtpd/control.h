/*
 * The smtpd's end of the master <-> smtpd control channel.  Today it
 * carries one message: new TLS key material after SIGHUP (the smtpd
 * cannot read key files itself once unprivileged).  Frames are those of
 * control_frame.h; the master's end is src/daemon/channel.c.  Each smtpd
 * the master starts gets a fresh socketpair, so a restarted smtpd never
 * reads what its predecessor left half-read.
 */
#ifndef DECORUM_SMTPD_CONTROL_H
#define DECORUM_SMTPD_CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct control;
struct server;

/* Watch fd (our end of the socketpair, owned from now on) on srv's loop:
 * key frames replace srv->tls for new connections. */
struct control *control_new(struct server *srv, int fd);
void control_free(struct control *c);
/* The sequence number of the last key frame applied (0: none yet). */
uint32_t control_seq(const struct control *c);

#endif
