/*
 * One SMTP session (RFC 5321): the state machine, the command table and
 * the transaction.  See session.c for the rules it enforces.
 */
#ifndef DECORUM_SMTPD_SESSION_H
#define DECORUM_SMTPD_SESSION_H

#include <sys/socket.h>

struct listen_conf;
struct server;
struct session;

/* Takes ownership of fd (connected, non-blocking).  Sends the greeting,
 * or with refusal != NULL a 421 saying so, then closes. */
void session_start(struct server *srv, const struct listen_conf *lc, int fd,
    const struct sockaddr *peer, socklen_t peerlen, const char *refusal);
/* SIGTERM: an idle session says 421 and closes now; a session inside a
 * transaction finishes it first. */
void session_shutdown(struct session *s);
/* Cut the connection now, at process exit. */
void session_abort(struct session *s);

#endif
