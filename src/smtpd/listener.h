/*
 * One listening socket of the SMTP service.  See listener.c.
 */
#ifndef DECORUM_SMTPD_LISTENER_H
#define DECORUM_SMTPD_LISTENER_H

struct listen_conf;
struct listener;
struct server;

/* fd is already bound and listening (the master did it as root). */
struct listener *listener_new(struct server *srv, const struct listen_conf *lc, int fd);
void listener_free(struct listener *l);

#endif
