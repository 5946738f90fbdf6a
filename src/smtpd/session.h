/*
 * One SMTP session (RFC 5321): the state machine, the command table and
 * the transaction.  See session.c for the rules it enforces.
 */
#ifndef DECORUM_SMTPD_SESSION_H
#define DECORUM_SMTPD_SESSION_H

#include <sys/socket.h>

struct admission_client;
struct listen_conf;
struct server;
struct session;

/* Takes ownership of fd (connected, non-blocking) and of client (the
 * admission count, given back when the session ends).  Sends the
 * greeting (after greet_delay), or with refusal != NULL a 421 saying
 * so, then closes. */
void session_start(struct server *srv, const struct listen_conf *lc, int fd,
    const struct sockaddr *peer, socklen_t peerlen,
    struct admission_client *client, const char *refusal);
/* Stress began: a session waiting for a command or a handshake takes
 * the shorter timeout now. */
void session_stress(struct session *s);
/* SIGTERM: an idle session says 421 and closes now; a session inside a
 * transaction finishes it first. */
void session_shutdown(struct session *s);
/* Cut the connection now, at process exit. */
void session_abort(struct session *s);

#endif
